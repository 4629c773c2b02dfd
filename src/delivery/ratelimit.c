/*
 * ratelimit - per-target pacing (see ratelimit.h, doc/delivery-rules.md).
 * Caller-owned state, the caller locks: no global state here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/ratelimit.h"
#include "store/target.h"

/* ratelimit_init - the spacing of RATE, validated by valid_rate() */
int ratelimit_init(struct ratelimit *rl, const char *rate, char **err)
{
    char *unit;
    unsigned long n;

    memset(rl, 0, sizeof(*rl));
    if (rate == NULL || *rate == '\0')
        return 0;
    if (valid_rate(rate, err) < 0) /* the one definition of the syntax */
        return -1;
    n = strtoul(rate, &unit, 10);
    rl->base_us = (strcmp(unit, "/m") == 0 ? 60000000ull : 1000000ull) / n;
    if (rl->base_us == 0) /* more than a million a second: as good as unlimited, but paced */
        rl->base_us = 1;
    rl->interval_us = rl->base_us;
    return 0;
}

/* ratelimit_take - start a message now, or say how long to wait */
long ratelimit_take(struct ratelimit *rl, int64_t now_ms)
{
    int64_t now_us = now_ms * 1000;

    if (rl->interval_us == 0)
        return 0;
    if (rl->started && now_us < rl->next_us)
        return (long)((rl->next_us - now_us + 999) / 1000); /* round up: never early */
    rl->started = true;
    rl->last_us = now_us;
    rl->next_us = now_us + (int64_t)rl->interval_us;
    return 0;
}

/* respace - the next start follows from the last one and the spacing now */
static void respace(struct ratelimit *rl)
{
    if (rl->started)
        rl->next_us = rl->last_us + (int64_t)rl->interval_us;
}

/* ratelimit_slow_down - widen the spacing while the provider throttles */
void ratelimit_slow_down(struct ratelimit *rl, unsigned factor)
{
    if (factor < 2)
        factor = 2;
    if (rl->interval_us == 0)
        rl->interval_us = RATELIMIT_SLOW_START_US;
    else if (rl->interval_us >= RATELIMIT_MAX_INTERVAL_US / factor)
        rl->interval_us = RATELIMIT_MAX_INTERVAL_US;
    else
        rl->interval_us *= factor;
    if (rl->interval_us < rl->base_us) /* never faster than configured */
        rl->interval_us = rl->base_us;
    respace(rl);
}

/* ratelimit_reset - the configured spacing again */
void ratelimit_reset(struct ratelimit *rl)
{
    rl->interval_us = rl->base_us;
    respace(rl);
}

/* ratelimit_interval_us - the spacing now */
uint64_t ratelimit_interval_us(const struct ratelimit *rl)
{
    return rl->interval_us;
}
