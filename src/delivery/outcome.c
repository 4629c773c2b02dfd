/*
 * outcome - the decision of one delivery attempt (see outcome.h for the rules).
 * Pure functions on caller-owned values: thread-safe.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "delivery/outcome.h"
#include "util/util.h"

/* outcome_init - the pending recipients, deferred with no result yet */
size_t outcome_init(struct outcome *o, const enum spool_rcpt_state *states, size_t n)
{
    *o = (struct outcome){0};
    o->rcpt = xcalloc(n + 1, sizeof(*o->rcpt));
    for (size_t i = 0; i < n; i++)
        if (states[i] == RCPT_PENDING)
            o->rcpt[o->n++] = (struct outcome_rcpt){.idx = i, .fate = OUTCOME_DEFERRED};
    return o->n;
}

/* outcome_free - free the recipients */
void outcome_free(struct outcome *o)
{
    free(o->rcpt);
    o->rcpt = NULL;
    o->n = 0;
}

/* set - one recipient's result: the verdict CLS/ACTION, unless it reads OK without SENT */
static void set(struct outcome_rcpt *r, bool sent, enum smtp_class cls, enum smtp_action action,
                int code, const char *enhanced, const char *reply)
{
    if (cls == SMTP_OK && !sent) { /* a doubt defers */
        struct smtp_verdict v = smtp_trouble_event(SMTP_EV_NO_OUTCOME);

        cls = v.cls;
        action = v.action;
    }
    r->cls = cls;
    r->action = cls == SMTP_OK ? SMTP_DONE : action;
    r->code = code;
    snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced ? enhanced : "");
    r->reply = reply;
}

/* outcome_doubt - the recipient of copy index IDX may have been delivered before */
bool outcome_doubt(struct outcome *o, size_t idx)
{
    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].idx == idx) {
            o->rcpt[k].doubt = true;
            return true;
        }
    return false;
}

/*
 * maybe_sent - may the provider have taken the message for RR: RES sent the whole message and
 * its terminator (bytes counts it), then lost the connection or timed out before any reply,
 * and RR was accepted at RCPT (its failure is the message's, without a reply code)
 */
static bool maybe_sent(const struct smtp_result *res, const struct smtp_rcpt_result *rr)
{
    return res->stage == SMTP_STAGE_DOT && res->bytes > 0 && res->code == 0 &&
           rr->status == SMTP_RCPT_FAILED && rr->code == 0 &&
           (rr->cls == smtp_trouble_event(SMTP_EV_TIMEOUT).cls ||
            rr->cls == smtp_trouble_event(SMTP_EV_LOST).cls);
}

/* outcome_results - each recipient's own result, or the session's for all */
void outcome_results(struct outcome *o, const struct smtp_result *res)
{
    const char *fallback = res->reply ? res->reply : res->text;

    for (size_t k = 0; k < o->n; k++) {
        if (res->nrcpt == o->n) {
            const struct smtp_rcpt_result *rr = &res->rcpt[k];

            /* sent only on the provider's 2xx to the final dot for this recipient */
            set(&o->rcpt[k], rr->status == SMTP_RCPT_DELIVERED, rr->cls, rr->action, rr->code,
                rr->enhanced, rr->reply ? rr->reply : fallback);
            o->rcpt[k].maybe_sent = maybe_sent(res, rr);
        } else {
            set(&o->rcpt[k], false, res->cls, res->action, res->code, res->enhanced, fallback);
            o->rcpt[k].maybe_sent = false;
        }
    }
}

/* outcome_event - the verdict of a local event for every recipient */
void outcome_event(struct outcome *o, enum smtp_event ev, const char *text)
{
    struct smtp_verdict v = smtp_trouble_event(ev);

    for (size_t k = 0; k < o->n; k++) {
        set(&o->rcpt[k], false, v.cls, v.action, 0, "", text);
        o->rcpt[k].maybe_sent = false;
    }
}

/* outcome_lost - refused, or expired: the recipient gets a DSN */
bool outcome_lost(const struct outcome_rcpt *r)
{
    return r->fate == OUTCOME_BOUNCED || r->fate == OUTCOME_EXPIRED;
}

/* outcome_in_doubt - deferred, and possibly delivered already */
bool outcome_in_doubt(const struct outcome_rcpt *r)
{
    return r->fate == OUTCOME_DEFERRED && (r->doubt || r->maybe_sent);
}

/* outcome_duplicate - sent now, and possibly delivered before */
bool outcome_duplicate(const struct outcome_rcpt *r)
{
    return r->fate == OUTCOME_SENT && r->doubt;
}

/*
 * retry_at - the schedule of backoff.h for a recipient deferred in this attempt: after a counted
 * failure (COUNTED), else after a throttled one (the target's pause decides, in the scheduler).
 * Counted from the attempt's time rounded up to a whole second: never before the schedule.
 */
static enum backoff_result retry_at(const struct outcome_params *p, bool counted, time_t *next)
{
    time_t now = backoff_second(p->now);

    if (counted)
        return backoff_next(&p->retry, (time_t)p->arrival, p->attempts + 1, now, 0, next);
    return backoff_throttled(&p->retry, (time_t)p->arrival, now, now + 1, next);
}

/* schedule - count the fates, and when recipients remain, their next attempt */
static void schedule(struct outcome *o)
{
    const struct outcome_params *p = &o->p;
    time_t next = 0;

    o->nsent = o->nlost = o->ndeferred = o->nduplicate = o->nfallback = 0;
    o->count_attempt = false;
    o->next_attempt = 0;
    for (size_t k = 0; k < o->n; k++) {
        o->nsent += o->rcpt[k].fate == OUTCOME_SENT;
        o->nduplicate += outcome_duplicate(&o->rcpt[k]);
        o->nlost += outcome_lost(&o->rcpt[k]);
        o->nfallback += o->rcpt[k].fate == OUTCOME_FALLBACK;
        if (o->rcpt[k].fate == OUTCOME_DEFERRED) {
            o->ndeferred++;
            o->count_attempt |= o->rcpt[k].action != SMTP_THROTTLE;
        }
    }
    if (o->ndeferred == 0)
        return;
    if (retry_at(p, o->count_attempt, &next) == BACKOFF_EXPIRED)
        /* recipients left when the lifetime is over: their DSN failed, again later */
        next = backoff_second(p->now) + p->retry.min_backoff;
    o->next_attempt = (int64_t)next;
}

/* fallback_due - is R, not sent, handed back to the MTA under P (see outcome.h) */
static bool fallback_due(const struct outcome_rcpt *r, const struct outcome_params *p)
{
    if (r->fate == OUTCOME_SENT)
        return false;
    if (r->cls == SMTP_SENDER_REJECTED || (r->cls == SMTP_AUTH_FAILED && r->code >= 500))
        return true; /* the provider will not take it from this account: no use waiting */
    if (r->fate == OUTCOME_EXPIRED)
        return true;
    return r->fate == OUTCOME_DEFERRED && p->now - (double)p->arrival >= (double)p->fallback_after;
}

/* outcome_decide - sent, bounced, deferred; then expiry by the schedule of backoff.h */
void outcome_decide(struct outcome *o, const struct outcome_params *p)
{
    bool retried = false, expire_retried = false, expire_throttled = false;
    time_t next = 0;

    o->p = *p;
    o->throttled = false;
    for (size_t k = 0; k < o->n; k++) {
        struct outcome_rcpt *r = &o->rcpt[k];

        if (r->cls == SMTP_OK)
            r->fate = OUTCOME_SENT;
        else if (r->action == SMTP_BOUNCE)
            r->fate = OUTCOME_BOUNCED;
        else
            r->fate = OUTCOME_DEFERRED;
        if (r->fate == OUTCOME_DEFERRED && r->action == SMTP_THROTTLE)
            o->throttled = true;
        else if (r->fate == OUTCOME_DEFERRED)
            retried = true;
    }
    expire_retried = retried && retry_at(p, true, &next) == BACKOFF_EXPIRED;
    expire_throttled = o->throttled && retry_at(p, false, &next) == BACKOFF_EXPIRED;
    for (size_t k = 0; k < o->n; k++) {
        struct outcome_rcpt *r = &o->rcpt[k];

        if (r->fate == OUTCOME_DEFERRED &&
            (r->action == SMTP_THROTTLE ? expire_throttled : expire_retried))
            r->fate = OUTCOME_EXPIRED;
        if (p->fallback_mta && fallback_due(r, p))
            r->fate = OUTCOME_FALLBACK;
    }
    schedule(o);
}

/* outcome_fallback_failed - the recipients handed back stay, to be tried again */
void outcome_fallback_failed(struct outcome *o)
{
    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_FALLBACK) {
            o->rcpt[k].action = SMTP_RETRY;
            o->rcpt[k].fate = OUTCOME_DEFERRED;
        }
    schedule(o);
}

/* outcome_dsn_failed - the lost recipients stay, to be tried again */
void outcome_dsn_failed(struct outcome *o)
{
    for (size_t k = 0; k < o->n; k++)
        if (outcome_lost(&o->rcpt[k])) {
            o->rcpt[k].action = SMTP_RETRY;
            o->rcpt[k].fate = OUTCOME_DEFERRED;
        }
    schedule(o);
}

/* outcome_bounce_list - one DSN entry per lost recipient */
size_t outcome_bounce_list(const struct outcome *o, const char *const *addrs,
                           const char *remote_mta, struct dsn_rcpt *dr)
{
    size_t n = 0;

    for (size_t k = 0; k < o->n; k++) {
        const struct outcome_rcpt *r = &o->rcpt[k];
        bool expired = r->fate == OUTCOME_EXPIRED;

        if (!outcome_lost(r))
            continue;
        dr[n++] = (struct dsn_rcpt){
            .final_rcpt = addrs[k],
            .action = DSN_FAILED,
            .status = expired && r->enhanced[0] == '\0' ? "4.4.7" : r->enhanced,
            .reply_code = r->code,
            .remote_mta = remote_mta,
            .diagnostic = r->reply,
            .class_name = smtp_class_name(r->cls),
            .class_hint = smtp_class_hint(r->cls),
        };
    }
    return n;
}

/* outcome_last_error - "class: reply" of the last deferred recipient */
char *outcome_last_error(const struct outcome *o)
{
    const struct outcome_rcpt *last = NULL;
    char *e, *line;

    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_DEFERRED)
            last = &o->rcpt[k];
    if (last == NULL)
        return NULL;
    e = xasprintf("%s: %s", smtp_class_name(last->cls),
                  last->reply ? last->reply : smtp_class_hint(last->cls));
    line = text_line(e, SIZE_MAX);
    free(e);
    return line;
}
