/*
 * ratelimit - pace the messages started towards one target to its `rate` ("14/s", "30/m",
 * "" = unlimited), and slow that pace down while the provider throttles us.
 *
 * A leaky bucket of depth one (GCRA without burst tolerance): messages start at least
 * unit / N apart (1000000/14 us for "14/s", 2 s for "30/m"), so no window of one unit ever
 * holds more than N starts, whatever the number of workers. Times are the caller's monotonic
 * clock in milliseconds; the spacing is kept in microseconds so "14/s" does not drift.
 *
 * Not thread-safe by itself: a struct ratelimit belongs to one target, and the caller holds
 * that target's lock around every call (the scheduler keeps it with max_connections and the
 * throttle state of backoff.h).
 */
#ifndef BYOSMTP_RATELIMIT_H
#define BYOSMTP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOW_START_US 1000000ull    /* an unlimited target slowed down: one per second */
#define RATELIMIT_MAX_INTERVAL_US 60000000ull /* slowing down stops at one message a minute */

struct ratelimit {
    uint64_t base_us;     /* spacing from the target's rate; 0 = unlimited */
    uint64_t interval_us; /* spacing now: base, or slower after ratelimit_slow_down() */
    int64_t last_us;      /* when the last message started */
    int64_t next_us;      /* earliest start of the next message */
    bool started;         /* a message has started since ratelimit_init() */
};

/*
 * ratelimit_init - set RL up for RATE (NULL or "" = unlimited). The syntax is valid_rate()'s
 * (target.h): N/s or N/m. Returns 0, or -1 with *err from valid_rate() (RL is then unlimited).
 */
int ratelimit_init(struct ratelimit *rl, const char *rate, char **err);

/*
 * ratelimit_take - may a message start at NOW_MS? Returns 0 and counts the start, or the
 * milliseconds to wait (>= 1; nothing is counted: ask again then).
 */
long ratelimit_take(struct ratelimit *rl, int64_t now_ms);

/*
 * ratelimit_slow_down - the provider throttled us: multiply the spacing by FACTOR (values below
 * 2 count as 2), up to RATELIMIT_MAX_INTERVAL_US; an unlimited target gets
 * RATELIMIT_SLOW_START_US first. The next start moves accordingly.
 */
void ratelimit_slow_down(struct ratelimit *rl, unsigned factor);

/* ratelimit_reset - back to the configured rate (after a success) */
void ratelimit_reset(struct ratelimit *rl);

/* ratelimit_interval_us - the spacing now, in microseconds; 0 = unlimited */
uint64_t ratelimit_interval_us(const struct ratelimit *rl);

#endif
