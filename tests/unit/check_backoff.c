/* check_backoff - the retry schedule, expiry, jitter and target throttling, as tables */
#include "config.h"

#include <limits.h>

#include "delivery/backoff.h"
#include "testutil.h"

START_TEST(delay_table)
{
    static const struct {
        long min, max;
        unsigned attempts;
        long want;
    } cases[] = {
        /* the defaults: 300 doubling to 4000 */
        {300, 4000, 0, 300},
        {300, 4000, 1, 300},
        {300, 4000, 2, 600},
        {300, 4000, 3, 1200},
        {300, 4000, 4, 2400},
        {300, 4000, 5, 4000},
        {300, 4000, 6, 4000},
        {300, 4000, 1000, 4000},
        {300, 4000, 4294967295u, 4000},
        /* test settings in seconds */
        {1, 8, 1, 1},
        {1, 8, 2, 2},
        {1, 8, 3, 4},
        {1, 8, 4, 8},
        {1, 8, 5, 8},
        /* nonsense settings are bounded, never zero or negative */
        {0, 0, 1, 1},
        {-5, 10, 2, 2},
        {100, 50, 3, 100},
        {LONG_MAX / 2 + 1, LONG_MAX, 3, LONG_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct backoff_params p = {cases[i].min, cases[i].max, 432000, 0};
        long got = backoff_delay(&p, cases[i].attempts, 42);

        ck_assert_msg(got == cases[i].want, "case %zu: %ld, wanted %ld", i, got, cases[i].want);
    }
}
END_TEST

START_TEST(next_table)
{
    static const struct {
        time_t arrival, now;
        unsigned attempts;
        enum backoff_result result;
        time_t next;
    } cases[] = {
        {1000, 1000, 1, BACKOFF_RETRY, 1300}, /* first failure on arrival */
        {1000, 1310, 2, BACKOFF_RETRY, 1910},     {1000, 1920, 3, BACKOFF_RETRY, 3120},
        {1000, 100000, 9, BACKOFF_RETRY, 104000}, /* capped at max_backoff */
        {1000, 431000, 9, BACKOFF_RETRY, 433000}, /* 4000 s later would pass the lifetime: */
        {1000, 430000, 9, BACKOFF_RETRY, 433000}, /* the last attempt is at its end */
        {1000, 433000, 10, BACKOFF_EXPIRED, 0},   /* that last attempt failed */
        {1000, 500000, 1, BACKOFF_EXPIRED, 0},
    };
    struct backoff_params p = BACKOFF_DEFAULTS;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t next = 0;
        enum backoff_result r =
            backoff_next(&p, cases[i].arrival, cases[i].attempts, cases[i].now, 7, &next);

        ck_assert_msg(r == cases[i].result, "case %zu: result %d", i, (int)r);
        if (r == BACKOFF_RETRY)
            ck_assert_msg(next == cases[i].next, "case %zu: next %lld, wanted %lld", i,
                          (long long)next, (long long)cases[i].next);
    }
}
END_TEST

START_TEST(zero_lifetime_is_one_attempt)
{
    struct backoff_params p = {300, 4000, 0, 0};
    time_t next = 0;

    ck_assert_int_eq(backoff_next(&p, 1000, 1, 1000, 0, &next), BACKOFF_EXPIRED);
}
END_TEST

START_TEST(jitter_is_deterministic_and_bounded)
{
    struct backoff_params p = {300, 4000, 432000, 10};
    bool spread = false;
    long first = backoff_delay(&p, 1, 0);

    for (uint64_t seed = 0; seed < 2000; seed++) {
        for (unsigned a = 1; a <= 8; a++) {
            long d = backoff_delay(&p, a, seed);
            struct backoff_params exact = p;
            long base;

            exact.jitter_percent = 0;
            base = backoff_delay(&exact, a, seed);
            ck_assert_msg(d >= base && d <= base + base / 10, "seed %llu attempt %u: %ld",
                          (unsigned long long)seed, a, d);
            ck_assert_int_eq(d, backoff_delay(&p, a, seed)); /* same inputs, same value */
        }
        spread |= backoff_delay(&p, 1, seed) != first;
    }
    ck_assert_msg(spread, "jitter never changed the delay");
    p.jitter_percent = 500; /* more than 100 counts as 100 */
    for (uint64_t seed = 0; seed < 100; seed++)
        ck_assert(backoff_delay(&p, 5, seed) <= 8000);
}
END_TEST

START_TEST(jitter_exact_values)
{
    /* pinned values of the documented formula (doc/delivery-rules.md), computed independently:
     * delay + splitmix64(seed ^ attempts << 32) % (delay * J / 100 + 1) */
    struct backoff_params p = {300, 4000, 432000, 10};

    ck_assert_int_eq(backoff_delay(&p, 1, 1), 325);
    ck_assert_int_eq(backoff_delay(&p, 1, 2), 323);
    ck_assert_int_eq(backoff_delay(&p, 5, 1), 4061);
    ck_assert_int_eq(backoff_delay(&p, 3, 0xDEADBEEF), 1217);
}
END_TEST

START_TEST(throttled_messages)
{
    struct backoff_params p = BACKOFF_DEFAULTS;
    time_t next = 0;

    ck_assert_int_eq(backoff_throttled(&p, 1000, 2000, 2060, &next), BACKOFF_RETRY);
    ck_assert_int_eq(next, 2060);
    ck_assert_int_eq(backoff_throttled(&p, 1000, 2000, 1500, &next), BACKOFF_RETRY);
    ck_assert_int_eq(next, 2001); /* a pause that is over: soon, never in the past */
    ck_assert_int_eq(backoff_throttled(&p, 1000, 432000, 440000, &next), BACKOFF_RETRY);
    ck_assert_int_eq(next, 433000); /* not past the lifetime */
    ck_assert_int_eq(backoff_throttled(&p, 1000, 433000, 440000, &next), BACKOFF_EXPIRED);
}
END_TEST

START_TEST(throttle_table)
{
    /* a sequence of events on one target: hit (1) or success (0) at a time, and the pause end */
    static const struct {
        int hit;
        time_t now;
        time_t until;
    } steps[] = {
        {1, 1000, 1060},                    /* first throttling reply: 60 s */
        {1, 1010, 1060},                    /* same burst, other connection: unchanged */
        {1, 1059, 1060},   {1, 1060, 1180}, /* throttled again once the pause ended: 120 s */
        {1, 1200, 1440},                    /* 240 */
        {1, 1500, 1980},                    /* 480 */
        {1, 2000, 2960},                    /* 960 */
        {1, 3000, 4920},                    /* 1920 */
        {1, 5000, 8840},                    /* 3840 */
        {1, 9000, 13000},                   /* capped at max_backoff 4000 */
        {1, 13000, 17000}, {0, 17500, 0},   /* a success forgets it all */
        {1, 18000, 18060},
    };
    struct throttle t = {0, 0};

    ck_assert(!throttle_active(&t, 0));
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].hit) {
            time_t u = throttle_hit(&t, steps[i].now, THROTTLE_START, 4000);

            ck_assert_msg(u == steps[i].until && t.until == u, "step %zu: until %lld, wanted %lld",
                          i, (long long)u, (long long)steps[i].until);
            ck_assert(throttle_active(&t, steps[i].now));
            ck_assert(!throttle_active(&t, u));
        } else {
            throttle_clear(&t);
            ck_assert(!throttle_active(&t, steps[i].now));
            ck_assert_int_eq(t.pause, 0);
        }
    }
}
END_TEST

START_TEST(throttle_bounds)
{
    struct throttle t = {0, 0};

    ck_assert_int_eq(throttle_hit(&t, 100, 0, 0), 101); /* nonsense settings: 1 s, never 0 */
    throttle_clear(&t);
    ck_assert_int_eq(throttle_hit(&t, 100, 60, 30), 160); /* max below start: start */
    ck_assert_int_eq(throttle_hit(&t, 200, 60, 30), 260);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("backoff");

    tcase_add_test(tc, delay_table);
    tcase_add_test(tc, next_table);
    tcase_add_test(tc, zero_lifetime_is_one_attempt);
    tcase_add_test(tc, jitter_is_deterministic_and_bounded);
    tcase_add_test(tc, jitter_exact_values);
    tcase_add_test(tc, throttled_messages);
    tcase_add_test(tc, throttle_table);
    tcase_add_test(tc, throttle_bounds);
    suite_add_tcase(s, tc);
    return test_run(s);
}
