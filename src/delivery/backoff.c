/*
 * backoff - retry schedule, expiry and target throttling (see backoff.h, doc/delivery-rules.md).
 * Pure functions: thread-safe.
 */
#include "config.h"

#include "delivery/backoff.h"

/* mix64 - splitmix64's finaliser: a well-spread 64-bit value from X, for the jitter */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* bounds - the effective min and max backoff (min >= 1, max >= min) */
static void bounds(const struct backoff_params *p, long *min, long *max)
{
    *min = p->min_backoff < 1 ? 1 : p->min_backoff;
    *max = p->max_backoff < *min ? *min : p->max_backoff;
}

/* backoff_delay - min_backoff doubled per failure, capped, plus the seeded jitter */
long backoff_delay(const struct backoff_params *p, unsigned attempts, uint64_t seed)
{
    long min, max, delay;
    unsigned pct = p->jitter_percent > 100 ? 100 : p->jitter_percent;

    bounds(p, &min, &max);
    delay = min;
    /* double once per failure after the first; stop at the cap, so nothing overflows */
    for (unsigned n = 1; n < attempts && delay < max; n++)
        delay = delay > max / 2 ? max : delay * 2;
    if (delay > max)
        delay = max;
    if (pct > 0) {
        /* spread retries of many messages that failed together; never earlier than the schedule */
        uint64_t span = (uint64_t)delay * pct / 100 + 1;

        delay += (long)(mix64(seed ^ ((uint64_t)attempts << 32)) % span);
    }
    return delay;
}

/* lifetime_end - the time a message arriving at ARRIVAL expires */
static time_t lifetime_end(const struct backoff_params *p, time_t arrival)
{
    return arrival + (p->max_lifetime < 0 ? 0 : p->max_lifetime);
}

/* backoff_next - the next attempt after a counted failure, or expiry */
enum backoff_result backoff_next(const struct backoff_params *p, time_t arrival, unsigned attempts,
                                 time_t now, uint64_t seed, time_t *next)
{
    time_t end = lifetime_end(p, arrival);

    long delay;

    if (now >= end)
        return BACKOFF_EXPIRED;
    delay = backoff_delay(p, attempts, seed);
    *next = delay >= end - now ? end : now + delay; /* compared first: no overflow */
    return BACKOFF_RETRY;
}

/* backoff_throttled - the next attempt of a message whose target is paused, or expiry */
enum backoff_result backoff_throttled(const struct backoff_params *p, time_t arrival, time_t now,
                                      time_t until, time_t *next)
{
    time_t end = lifetime_end(p, arrival);

    if (now >= end)
        return BACKOFF_EXPIRED;
    *next = until > now ? until : now + 1;
    if (*next > end)
        *next = end;
    return BACKOFF_RETRY;
}

/* backoff_second - T rounded up to a whole second (no libm for this) */
time_t backoff_second(double t)
{
    time_t s = (time_t)t;

    return (double)s < t ? s + 1 : s;
}

/* throttle_clear - a success: no pause, and the next one starts short again */
void throttle_clear(struct throttle *t)
{
    t->until = 0;
    t->pause = 0;
}

/* throttle_hit - a throttling reply: start or lengthen the target's pause */
time_t throttle_hit(struct throttle *t, time_t now, long start, long max)
{
    if (start < 1)
        start = 1;
    if (max < start)
        max = start;
    if (now < t->until)
        return t->until; /* the same burst: one pause for all of it */
    if (t->pause == 0)
        t->pause = start;
    else
        t->pause = t->pause > max / 2 ? max : t->pause * 2;
    if (t->pause > max)
        t->pause = max;
    t->until = now + t->pause;
    return t->until;
}

/* throttle_active - is the target paused at NOW? */
bool throttle_active(const struct throttle *t, time_t now)
{
    return now < t->until;
}
