/*
 * events - delivery events (byosmtp.conf(5), "events"): one JSON object per recipient outcome
 * (sent, deferred, bounced, expired, fallback), handed to up to two sinks:
 *
 *   command      events.command, a long-running child (/bin/sh -c) that reads one JSON object
 *                a line on its standard input; started again (after 1 s, doubling up to 60 s)
 *                when it exits
 *   webhook      events.webhook_url, one HTTPS POST per event (util/https.h), the body signed
 *                with HMAC-SHA256 under the key of events.webhook_secret_file in the header
 *                "X-Byosmtp-Signature: sha256=HEX"; retried after a failure (no reply, 408,
 *                429 or 5xx) after 1, 2, 4, 8, 16 and 32 s, then given up (counted as failed)
 *
 * Each sink has its own thread and its own queue of at most events.queue_limit events:
 * events_emit() never waits for a sink. An event that finds its sink's queue full is dropped
 * and counted. Events are notifications, not the record (the log line and the spool state
 * are): what is queued when the delivery process stops is given a few seconds, then dropped
 * and counted.
 *
 * An event carries ids, addresses, the target's name, the status, class and reply: never a
 * password, a token, the HMAC key or message content.
 *
 * Thread-safety: events_emit() and events_stats() may be called from any thread between
 * events_start() and events_stop().
 */
#ifndef BYOSMTP_EVENTS_H
#define BYOSMTP_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/deliverylog.h"
#include "store/conf.h"

#define EVENTS_SIGNATURE_HEADER "X-Byosmtp-Signature"

enum events_sink { EVENTS_COMMAND, EVENTS_WEBHOOK, EVENTS_NSINKS };

/* One recipient outcome, as the worker knows it (the strings are the caller's). */
struct event {
    double time;                   /* when it happened (unix seconds) */
    enum deliverylog_status status;
    const char *id;                /* spool id */
    const char *mta_queue_id;      /* "" when unknown */
    const char *target;
    const char *recipient;
    const char *sender;            /* the original envelope sender; "" for the null sender */
    const char *dsn;               /* "2.0.0", "4.4.1", ... */
    const char *cls;               /* error class (doc/design.md, "Error classes"); "" when sent */
    const char *reply;             /* the provider's reply or the local reason */
    int attempt;                   /* 1 for the first attempt */
    double delay;                  /* seconds from acceptance to this outcome */
};

struct events_sink_stats {
    uint64_t sent;    /* handed over: written to the command, or answered 2xx by the webhook */
    uint64_t dropped; /* not queued (queue full) or left at stop */
    uint64_t failed;  /* the webhook refused it for good, or every retry failed */
    uint64_t queued;  /* waiting now */
};

struct events;

/*
 * events_new - the sinks that CONF's events group configures; *out is NULL when none is. Reads
 * events.webhook_secret_file now (before the process gives up root). 0, or -1 with *err.
 * CA_FILE: the PEM bundle that verifies the webhook's certificate (delivery.tls_ca_file;
 * "" = the system store).
 */
int events_new(const struct byosmtp_conf *conf, struct events **out, char **err);

/* events_start - start the sink threads (after the process became milter.user) */
void events_start(struct events *ev);

/* events_emit - queue E for every sink; never blocks on a sink. EV NULL: nothing. */
void events_emit(struct events *ev, const struct event *e);

/* events_json - E as one line of JSON (no newline); caller frees */
char *events_json(const struct event *e);

/* events_signature - "sha256=" and the hex HMAC-SHA256 of BODY under KEY; caller frees */
char *events_signature(const unsigned char *key, size_t keylen, const char *body, size_t len);

/* events_stats - the counters of each sink; false for a sink that is not configured */
void events_stats(struct events *ev, struct events_sink_stats out[EVENTS_NSINKS],
                  int configured[EVENTS_NSINKS]);

/* events_sink_name - "command", "webhook" */
const char *events_sink_name(enum events_sink s);

/* events_stop - stop the sinks (a few seconds for what is queued) and free EV; NULL is fine */
void events_stop(struct events *ev);

#endif
