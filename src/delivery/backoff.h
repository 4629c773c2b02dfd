/*
 * backoff - when to try a deferred message again, when to give up, and how long a throttled
 * target pauses (formulas and examples in doc/delivery-rules.md).
 *
 * Message retries follow Postfix's schedule: the delay after the n-th counted failure is
 * min_backoff * 2^(n-1), capped at max_backoff (defaults 300 s -> 600 -> 1200 -> 2400 -> 4000),
 * with an optional deterministic jitter; a message whose age has reached max_lifetime expires.
 * A throttling reply (class rate_limited) pauses the whole target instead: the pause starts at
 * THROTTLE_START seconds, doubles with each new throttling reply up to max_backoff, and is
 * forgotten on the next success. A throttled deferral never counts as a failed attempt.
 *
 * Pure functions on caller-owned values, no clock read here: thread-safe (a struct throttle is
 * the caller's, who locks it with the rest of its target state).
 */
#ifndef BYOSMTP_BACKOFF_H
#define BYOSMTP_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define THROTTLE_START 60 /* seconds: the first pause of a throttled target */

struct backoff_params {
    long min_backoff;        /* seconds; values below 1 count as 1 */
    long max_backoff;        /* seconds; values below min_backoff count as min_backoff */
    long max_lifetime;       /* seconds a message may stay; 0 = a single attempt */
    unsigned jitter_percent; /* 0 = exact schedule; else up to this share is added (max 100) */
};

/* The defaults of byosmtp.conf (delivery.retry), as Postfix's. */
#define BACKOFF_DEFAULTS ((struct backoff_params){300, 4000, 432000, 0})

enum backoff_result {
    BACKOFF_RETRY,   /* *next holds the time of the next attempt */
    BACKOFF_EXPIRED, /* the message is too old: bounce it (Action failed) */
};

/*
 * backoff_delay - the wait after the ATTEMPTS-th counted failure (attempts 0 counts as 1):
 * min(max_backoff, min_backoff * 2^(attempts-1)), plus the jitter: with jitter_percent J, a
 * value in [0, delay * J / 100] drawn from SEED and ATTEMPTS (same inputs, same result).
 */
long backoff_delay(const struct backoff_params *p, unsigned attempts, uint64_t seed);

/*
 * backoff_next - after a counted failure at NOW of a message that arrived at ARRIVAL and has
 * now failed ATTEMPTS times: BACKOFF_EXPIRED when now - arrival >= max_lifetime; else
 * BACKOFF_RETRY with *next = now + backoff_delay(), but never later than arrival +
 * max_lifetime, so that the last attempt happens when the lifetime ends, not up to
 * max_backoff after it.
 */
enum backoff_result backoff_next(const struct backoff_params *p, time_t arrival, unsigned attempts,
                                 time_t now, uint64_t seed, time_t *next);

/*
 * backoff_throttled - a message deferred at NOW because its target is paused until UNTIL:
 * BACKOFF_RETRY with *next = until (at the earliest now + 1), capped at arrival + max_lifetime
 * like backoff_next(); its attempt count is left alone. The lifetime still applies: a message
 * throttled past max_lifetime expires (BACKOFF_EXPIRED), so no queue grows without end.
 */
enum backoff_result backoff_throttled(const struct backoff_params *p, time_t arrival, time_t now,
                                      time_t until, time_t *next);

/*
 * backoff_second - the first whole second at or after T (unix seconds with a fraction): the
 * clock's time as a schedule's second, so that nothing scheduled from it ever starts early.
 */
time_t backoff_second(double t);

/* One target's throttle state; all zero (or throttle_clear()) = not throttled. */
struct throttle {
    time_t until; /* no new delivery to the target before this time */
    long pause;   /* the length of the current (last) pause, seconds; 0 = none since success */
};

/* throttle_clear - forget every pause: the target delivered successfully */
void throttle_clear(struct throttle *t);

/*
 * throttle_hit - a throttling reply at NOW: pause the target. The pause is START seconds
 * (THROTTLE_START in production) after a success, then doubles with each hit up to MAX (the
 * message max_backoff). A hit while a pause is running (replies on other connections of the same
 * burst) does not lengthen it. Returns t->until.
 */
time_t throttle_hit(struct throttle *t, time_t now, long start, long max);

/* throttle_active - is the target paused at NOW? */
bool throttle_active(const struct throttle *t, time_t now);

#endif
