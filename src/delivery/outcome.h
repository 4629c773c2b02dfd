/*
 * outcome - what one delivery attempt of a copy decides: given each pending recipient's result,
 * the copy's arrival, its counted attempts, the time and the retry settings, which recipients
 * are sent, which are lost for good (refused: bounced; deferred past retry.max_lifetime:
 * expired), which wait, when the next attempt is, whether it counts as a failed attempt, and
 * whether the target is throttled. The worker (worker.h) loads the copy, sends it, asks here,
 * and applies the answer: state file, DSN, log lines, counters.
 *
 * The rules, in the order they apply:
 *  - a recipient is sent only when the client returns it SMTP_RCPT_DELIVERED with class
 *    SMTP_OK; any other result that reads OK is a doubt, and a doubt defers
 *    (SMTP_EV_NO_OUTCOME). A session-wide result (no session, or no result per recipient)
 *    is every pending recipient's, by the same rule; so is a local event (smtp_trouble.h);
 *  - action bounce: bounced. Action throttle: deferred, the target throttled, no attempt
 *    counted. Any other action: deferred, and the attempt counts;
 *  - a deferred recipient of a copy whose lifetime is over expires (backoff.h);
 *  - the next attempt: backoff_next() after a counted failure; else, throttled only, the
 *    next second (the scheduler holds the copy until the target's pause ends), both capped at
 *    the end of the lifetime. Every time is counted from the attempt's time rounded up to a
 *    whole second (backoff_second()), so a retry never starts before its schedule;
 *  - with fallback to the MTA (params.fallback_mta), a recipient not sent is handed back to the
 *    local MTA instead (OUTCOME_FALLBACK) when the provider refused the credentials for good
 *    (auth_failed with a 5xx) or the sender (sender_rejected), when it would expire, or when
 *    it is deferred and the copy has waited fallback_after seconds since its arrival; any
 *    other refusal (a recipient or the message refused) still bounces. A hand-back that fails
 *    keeps its recipients deferred (outcome_fallback_failed());
 *  - a DSN that cannot be submitted keeps its recipients deferred (outcome_dsn_failed()); the
 *    attempt counts, and a copy whose lifetime is over is tried again after
 *    retry.min_backoff;
 *  - a recipient the provider had accepted at RCPT, in a session that sent the whole message
 *    and its final dot and then lost the connection or timed out waiting for the reply, may
 *    have been delivered (maybe_sent): it is deferred like any failure, and stays in doubt
 *    until it is done; when a later attempt delivers a recipient in doubt (outcome_doubt()),
 *    that delivery is a possible duplicate (outcome_duplicate()).
 *
 * Pure: no I/O, no clock (the time is a parameter), no logging; memory only. An outcome points
 * into the caller's strings (the smtp_result, an event's text), which must outlive it.
 * Thread-safety: an outcome belongs to one thread; the functions share nothing.
 */
#ifndef BYOSMTP_OUTCOME_H
#define BYOSMTP_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/backoff.h"
#include "delivery/dsn.h"
#include "smtp/smtp_client.h"
#include "spool/spool.h"

/* What becomes of one pending recipient. */
enum outcome_fate {
    OUTCOME_DEFERRED, /* stays pending, for the next attempt */
    OUTCOME_SENT,     /* the provider has it: marked sent before anything else */
    OUTCOME_BOUNCED,  /* refused for good (action bounce): a DSN, then marked bounced */
    OUTCOME_EXPIRED,  /* deferred when the lifetime is over: a DSN, then marked bounced */
    OUTCOME_FALLBACK, /* handed back to the local MTA, then marked fallback */
};

/* One pending recipient: its result in this attempt, and its fate. */
struct outcome_rcpt {
    size_t idx;              /* its index in the copy */
    enum smtp_class cls;     /* SMTP_OK exactly when sent */
    enum smtp_action action;
    int code;                /* the deciding reply code, 0 when none */
    char enhanced[16];       /* its enhanced status, "" when none */
    const char *reply;       /* the deciding reply, or what happened, one line; may be NULL */
    bool maybe_sent;         /* this attempt may have delivered it: no reply to the final dot */
    bool doubt;              /* an earlier attempt may have delivered it (outcome_doubt()) */
    enum outcome_fate fate;  /* set by outcome_decide() */
};

/* What the decision needs besides the results. */
struct outcome_params {
    int64_t arrival;             /* the copy's arrival, unix seconds */
    uint32_t attempts;           /* failed attempts counted so far (the copy's state) */
    double now;                  /* the time of this attempt, unix seconds with their fraction */
    struct backoff_params retry; /* delivery.retry */
    bool fallback_mta;           /* the target's fallback = mta */
    long fallback_after;         /* its fallback_after, seconds since the arrival */
};

struct outcome {
    struct outcome_rcpt *rcpt; /* the pending recipients, in the copy's order */
    size_t n;
    struct outcome_params p;   /* as given to outcome_decide() */
    /* the decision: outcome_decide(), then outcome_dsn_failed() */
    size_t nsent, nlost, ndeferred; /* lost: bounced or expired */
    size_t nfallback;          /* handed back to the local MTA */
    size_t nduplicate;         /* sent recipients that an earlier attempt may have delivered */
    bool throttled;            /* a recipient was throttled: the target pauses, the session ends */
    bool count_attempt;        /* deferred recipients remain and this attempt counts */
    int64_t next_attempt;      /* deferred recipients remain: their next attempt; else 0 */
};

/*
 * outcome_init - start the outcome of an attempt of a copy whose N recipients stand as STATES:
 * every RCPT_PENDING one, in order, deferred with no result yet. Returns how many (o->n).
 * Free with outcome_free().
 */
size_t outcome_init(struct outcome *o, const enum spool_rcpt_state *states, size_t n);
/* outcome_free - free what O holds (an all-zero outcome is fine) */
void outcome_free(struct outcome *o);

/*
 * outcome_doubt - the pending recipient whose index in the copy is IDX may have been delivered
 * by an earlier attempt (what outcome_in_doubt() said then). False when no pending recipient
 * has that index.
 */
bool outcome_doubt(struct outcome *o, size_t idx);

/*
 * outcome_results - the client's result RES for the pending recipients, sent in o->rcpt's
 * order: each recipient its own when RES has one per recipient (its reply, else RES's reply,
 * else RES's text), else RES's for all. Sent only as the rules above say; maybe_sent as they say.
 */
void outcome_results(struct outcome *o, const struct smtp_result *res);

/*
 * outcome_event - every pending recipient gets the class and action of local event EV
 * (smtp_trouble_event()), with TEXT saying what happened; no reply code, no enhanced status.
 */
void outcome_event(struct outcome *o, enum smtp_event ev, const char *text);

/* outcome_decide - each recipient's fate, the counts, throttle and next attempt, under P */
void outcome_decide(struct outcome *o, const struct outcome_params *p);

/*
 * outcome_dsn_failed - the DSN for the lost recipients could not be submitted: they stay
 * deferred (action retry, class and reply kept) and the decision is made again.
 */
void outcome_dsn_failed(struct outcome *o);

/*
 * outcome_fallback_failed - the hand-back to the MTA failed: the recipients of fate fallback
 * stay deferred (action retry, class and reply kept) and the decision is made again.
 */
void outcome_fallback_failed(struct outcome *o);

/* outcome_lost - is R lost for good (bounced or expired): a DSN, then marked bounced? */
bool outcome_lost(const struct outcome_rcpt *r);

/* outcome_in_doubt - is R deferred, and may this or an earlier attempt have delivered it? */
bool outcome_in_doubt(const struct outcome_rcpt *r);

/* outcome_duplicate - is R sent, and may an earlier attempt have delivered it already? */
bool outcome_duplicate(const struct outcome_rcpt *r);

/*
 * outcome_bounce_list - the DSN entries (Action failed) of the lost recipients, in order, into
 * DR (o->nlost entries): ADDRS[k] is o->rcpt[k]'s address, REMOTE_MTA the provider's host
 * (NULL when unknown). An expired recipient without an enhanced status gets 4.4.7. Returns
 * how many.
 */
size_t outcome_bounce_list(const struct outcome *o, const char *const *addrs,
                           const char *remote_mta, struct dsn_rcpt *dr);

/*
 * outcome_last_error - the state's last_error: "class: reply" (the class hint when there is no
 * reply) of the last deferred recipient, one printable line (caller frees); NULL when none is
 * deferred.
 */
char *outcome_last_error(const struct outcome *o);

#endif
