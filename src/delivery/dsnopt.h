/*
 * dsnopt - the DSN options of the original envelope (RFC 3461), as the copy keeps them: RET= and
 * ENVID= from the parameters of MAIL (spool "mail-params:"), NOTIFY= and ORCPT= from those of
 * each recipient's RCPT ("rcpt-params:"), and what they ask for: whether a recipient gets a
 * failure, delay or success notice, and whether a DSN returns the whole message.
 *
 * Without NOTIFY a recipient gets failure and delay notices, as Postfix does; NOTIFY=NEVER gets
 * none; otherwise exactly those listed. RET=FULL returns the message whole (up to
 * DSN_FULL_MAX), RET=HDRS and no RET its header section only. ENVID and ORCPT are xtext
 * (RFC 3461 4): they are decoded here; an invalid one is ignored.
 *
 * Pure functions on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_DSNOPT_H
#define BYOSMTP_DSNOPT_H

#include <stdbool.h>

/* NOTIFY= words, as bits; 0: NOTIFY was not given */
enum {
    DSNOPT_NEVER = 1,
    DSNOPT_SUCCESS = 2,
    DSNOPT_FAILURE = 4,
    DSNOPT_DELAY = 8,
};

enum dsnopt_ret { DSNOPT_RET_NONE, DSNOPT_RET_HDRS, DSNOPT_RET_FULL };

/* The per-message options (MAIL). */
struct dsnopt_msg {
    enum dsnopt_ret ret;
    char *envid; /* decoded; NULL when none */
};

/* The options of one recipient (RCPT). */
struct dsnopt_rcpt {
    unsigned notify; /* DSNOPT_* bits; 0 when not given */
    char *orcpt;     /* the ORCPT address, decoded, without its "rfc822;" type; NULL when none */
};

/* dsnopt_msg_parse - RET= and ENVID= out of MAIL's space-separated PARAMS (NULL is ""); free
 * with dsnopt_msg_free() */
void dsnopt_msg_parse(const char *params, struct dsnopt_msg *m);
void dsnopt_msg_free(struct dsnopt_msg *m);

/* dsnopt_rcpt_parse - NOTIFY= and ORCPT= out of RCPT's space-separated PARAMS (NULL is "");
 * free with dsnopt_rcpt_free() */
void dsnopt_rcpt_parse(const char *params, struct dsnopt_rcpt *r);
void dsnopt_rcpt_free(struct dsnopt_rcpt *r);

/* dsnopt_wants_failure, _delay, _success - does R ask for that notice? */
bool dsnopt_wants_failure(const struct dsnopt_rcpt *r);
bool dsnopt_wants_delay(const struct dsnopt_rcpt *r);
bool dsnopt_wants_success(const struct dsnopt_rcpt *r);

/*
 * dsnopt_notify_word - NOTIFY bits as sendmail -N takes them ("never", or "success,failure,
 * delay" in that order, the ones set); "" for 0 (not given). Writes into buf[32].
 */
const char *dsnopt_notify_word(unsigned notify, char buf[32]);

/* dsnopt_xtext_decode - RFC 3461 xtext ("+2B" is '+'), printable ASCII only; NULL when invalid */
char *dsnopt_xtext_decode(const char *s, size_t n);

#endif
