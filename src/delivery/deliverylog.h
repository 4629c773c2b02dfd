/*
 * deliverylog - the one log line per recipient and delivery attempt, shaped like Postfix's
 * smtp(8) lines so that admins' grep habits and log tools keep working (doc/delivery-rules.md):
 *
 *   QUEUEID: to=<rcpt>, [orig_to=<orcpt>, ]relay=TARGET[host]:port, [conn_use=N, ]delay=D,
 *   delays=a/b/c/d, dsn=X.Y.Z, status=sent|deferred|bounced|expired|fallback (reply)
 *   [, possible duplicate: an earlier attempt got no reply to its final dot]
 *
 * QUEUEID is our spool id, followed by "_" and the MTA's queue id when it is known
 * ("0123456789ABCDEF0123_4XyZ1abc"): one word ([A-Za-z0-9_]), as the usual "\w+: to=<"
 * patterns expect, and grep finds a message by either id.
 *
 * The line is built only from the fields of struct deliverylog_entry, none of which is a
 * credential; the reply and addresses are made one printable line and cut.
 * Pure function on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_DELIVERYLOG_H
#define BYOSMTP_DELIVERYLOG_H

#include <stdbool.h>
#include <stdint.h>

#define DELIVERYLOG_REPLY_MAX 500 /* bytes of the reply text kept (then "...") */
#define DELIVERYLOG_ADDR_MAX 300  /* bytes of an address kept */

enum deliverylog_status {
    DELIVERYLOG_SENT,     /* the provider accepted the recipient */
    DELIVERYLOG_DEFERRED, /* will be retried */
    DELIVERYLOG_BOUNCED,  /* permanent failure: a DSN goes to the sender */
    DELIVERYLOG_EXPIRED,  /* gave up after max_lifetime: a DSN goes to the sender */
    DELIVERYLOG_FALLBACK, /* handed back to the local MTA (target fallback = "mta") */
    DELIVERYLOG_NSTATUS
};

/* Postfix's four delays, in milliseconds; delay= is their sum. */
struct deliverylog_delays {
    int64_t before_queue; /* a: milter acceptance to the committed spool copy */
    int64_t in_queue;     /* b: in our queue until this attempt began (retries included) */
    int64_t conn_setup;   /* c: connect, TLS, EHLO, AUTH; 0 on a reused connection */
    int64_t transmission; /* d: MAIL FROM to the end-of-data reply */
};

struct deliverylog_entry {
    const char *spool_id;     /* required */
    const char *mta_queue_id; /* NULL or "" when unknown */
    const char *rcpt;         /* required */
    const char *orig_rcpt;    /* NULL/"" or the same address (case-insensitively): not logged */
    const char *target;       /* target name */
    const char *host;         /* provider host; NULL/"" = no connection made: relay=none */
    int port;
    int conn_use; /* messages on this connection, this one included; <= 1: none */
    struct deliverylog_delays delays;
    const char *dsn; /* "2.0.0"; NULL/invalid: 2.0.0, 4.0.0 or 5.0.0 by status */
    enum deliverylog_status status;
    const char *reply; /* the provider's reply or a local reason; NULL = "" */
    bool possible_duplicate; /* sent, and an earlier attempt may have delivered it (status sent
                                only) */
};

/* deliverylog_status_name - "sent", "deferred", "bounced", "expired", "fallback" */
const char *deliverylog_status_name(enum deliverylog_status s);

/* deliverylog_line - the log line for E, without a trailing newline. Caller frees. */
char *deliverylog_line(const struct deliverylog_entry *e);

#endif
