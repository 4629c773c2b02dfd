/*
 * dsn - compose an RFC 3464 delivery status notification (a bounce or a delay warning) for the
 * original envelope sender, ready to be written to the local MTA's `sendmail -i -f <> -- SENDER`.
 *
 * The message is multipart/report; report-type=delivery-status with three parts: a readable
 * text/plain notice (Postfix-like wording), the message/delivery-status fields, and the original
 * header section as text/rfc822-headers. Every line ends in CRLF and is at most 998 octets;
 * every input that reaches the output (addresses, provider replies, host names, header bytes)
 * is sanitised so that no CR, LF or NUL from an input can start a line of its own.
 * The format and every choice made here are described in doc/delivery-rules.md.
 *
 * Pure functions on caller-owned data, no I/O: thread-safe.
 */
#ifndef BYOSMTP_DSN_H
#define BYOSMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

#define DSN_DIAG_MAX 900 /* bytes of a provider reply kept in a DSN (then "...") */
#define DSN_ADDR_MAX 500 /* bytes of an address as shown in a DSN (then "...") */

enum dsn_action {
    DSN_FAILED,  /* given up: the recipient is bounced */
    DSN_DELAYED, /* still being retried: a warning only */
    DSN_RELAYED, /* the provider took it (NOTIFY=SUCCESS): relayed to a system that is not
                    asked for DSNs, so no further notice is to be expected (RFC 3464 2.3.3) */
};

#define DSN_FULL_MAX 50000 /* RET=FULL: a message up to this size is returned whole (Postfix's
                              bounce_size_limit); a larger one as its header section only */

/* One recipient of the report. Strings may be NULL where marked optional. */
struct dsn_rcpt {
    const char *final_rcpt; /* required: the address we tried to deliver to */
    const char *orig_rcpt;  /* optional: the address as the client gave it, when different */
    enum dsn_action action;
    const char *status;     /* optional enhanced status "5.1.1"; derived when absent or invalid */
    int reply_code;         /* the provider's reply code; 0 when there was no reply */
    const char *remote_mta; /* optional: the provider host that answered */
    const char *diagnostic; /* optional: the provider's reply (or a local reason), one line */
    const char *class_name; /* optional: error class (doc/design.md, "Error classes"), "recipient_rejected" */
    const char *class_hint; /* optional: its hint, shown in the readable part */
    time_t retry_until;     /* DSN_DELAYED: when retrying stops; 0 = not said */
};

struct dsn_params {
    const char *reporting_mta; /* required: our host name, [A-Za-z0-9.-], 1-253 bytes */
    time_t arrival;            /* when the milter accepted the message */
    time_t now;                /* Date of the DSN */
    const char *sender;        /* the original envelope sender (To: of the DSN), without <> */
    const char *headers;       /* the original header section (CRLF lines); may be NULL */
    size_t headers_len;        /* bytes of headers; may hold NUL, bare CR or LF */
    int64_t message_size;      /* bytes of the original message; < 0 when unknown */
    const char *spool_id;      /* optional: our spool id */
    const char *mta_queue_id;  /* optional: the MTA's queue id */
    const char *envid;         /* optional: the ENVID of the original MAIL, xtext-decoded
                                  (Original-Envelope-Id) */
    const char *body;          /* optional (RET=FULL): the body, returned with the header section
                                  as message/rfc822; NULL: the header section only */
    size_t body_len;
    const struct dsn_rcpt *rcpts;
    size_t nrcpts;          /* at least one */
    uint64_t boundary_seed; /* makes the MIME boundary and Message-ID; random in production */
};

/*
 * dsn_needed - must a DSN be sent for a message from SENDER at all? False for the null
 * sender ("" or "<>", which also covers every DSN we send ourselves) and for NULL; also false
 * for a sender holding a control character (CR, LF, ...), which no mailbox can have.
 */
bool dsn_needed(const char *sender);

/*
 * dsn_build - compose the whole DSN message (headers and body) into OUT (appended).
 * Returns 0, or -1 with *err when the parameters are unusable: no recipient, a recipient
 * without final_rcpt, or reporting_mta not a host name. Nothing is appended on error.
 */
int dsn_build(const struct dsn_params *p, struct buf *out, char **err);

/*
 * dsn_status - the enhanced status to report: STATUS when it is a valid "4.x.y"/"5.x.y" code,
 * else "5.0.0" or "4.0.0" from REPLY_CODE (5xx or 4xx), else from ACTION (failed 5.0.0,
 * delayed 4.0.0). For ACTION delayed the class is always 4: a 5xx that is retried (535 5.7.8
 * with action retry) reports 4.7.8, as Postfix does for a soft-bounced 5xx. For ACTION
 * relayed: STATUS when it is a valid "2.x.y", else "2.0.0". Writes into buf[16] and returns it.
 */
const char *dsn_status(const char *status, int reply_code, enum dsn_action action, char buf[16]);

/*
 * dsn_text_utf8 - S (NULL = "") with every control byte (C0, DEL, C1) and every byte that is not
 * part of valid UTF-8 made '?', valid UTF-8 kept; cut at MAX bytes (>= 4) with "...", never
 * inside a character. For addresses in the To: field and in log lines. Caller frees.
 */
char *dsn_text_utf8(const char *s, size_t max);

/*
 * dsn_address - ADDR as shown in a DSN: control bytes become '?'; an address that is then
 * printable ASCII is returned as it is with *utf8 false ("rfc822" address type); otherwise
 * the RFC 6533 utf-8-addr-xtext form with *utf8 true ("utf-8" type): each non-ASCII character,
 * '\', '+', '=' and space written \x{HEX} (an invalid UTF-8 byte becomes '?'). At most
 * DSN_ADDR_MAX bytes. Caller frees.
 */
char *dsn_address(const char *addr, bool *utf8);

#endif
