/* check_ratelimit - per-target pacing with a fake clock: parsing, spacing, slowing down, reset */
#include "config.h"

#include "delivery/ratelimit.h"
#include "testutil.h"

START_TEST(parse_rates)
{
    static const struct {
        const char *rate;
        int rc;
        uint64_t interval_us;
    } cases[] = {
        {"", 0, 0},           {NULL, 0, 0},         {"1/s", 0, 1000000},  {"14/s", 0, 71428},
        {"30/m", 0, 2000000}, {"1/m", 0, 60000000}, {"1000000/s", 0, 1},  {"1000000/m", 0, 60},
        {"0/s", -1, 0},       {"14/h", -1, 0},      {"14", -1, 0},        {"-1/s", -1, 0},
        {"14/s ", -1, 0},     {"x/s", -1, 0},       {"1000001/s", -1, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ratelimit rl;
        char *err = NULL;
        int rc = ratelimit_init(&rl, cases[i].rate, &err);

        ck_assert_msg(rc == cases[i].rc, "case %zu (%s): rc %d", i,
                      cases[i].rate ? cases[i].rate : "NULL", rc);
        ck_assert_msg(ratelimit_interval_us(&rl) == cases[i].interval_us, "case %zu: %llu", i,
                      (unsigned long long)ratelimit_interval_us(&rl));
        if (rc < 0) /* valid_rate()'s message, which says how to write a rate */
            ck_assert_msg(err && strstr(err, "N/s (per second) or N/m"), "case %zu: %s", i, err);
        free(err);
    }
}
END_TEST

START_TEST(unlimited_never_waits)
{
    struct ratelimit rl;

    ck_assert_int_eq(ratelimit_init(&rl, "", NULL), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(ratelimit_take(&rl, 5), 0);
}
END_TEST

START_TEST(spacing_per_minute)
{
    /* 30/m: one start every 2 s; a refused take counts nothing */
    static const struct {
        int64_t now_ms;
        long want;
    } steps[] = {
        {1000, 0},    {1000, 2000}, {1500, 1500}, {2999, 1},  {3000, 0},
        {3000, 2000}, {9000, 0},    {10999, 1},   {11000, 0}, {11001, 1999},
    };
    struct ratelimit rl;

    ck_assert_int_eq(ratelimit_init(&rl, "30/m", NULL), 0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        long got = ratelimit_take(&rl, steps[i].now_ms);

        ck_assert_msg(got == steps[i].want, "step %zu at %lld: %ld, wanted %ld", i,
                      (long long)steps[i].now_ms, got, steps[i].want);
    }
}
END_TEST

START_TEST(never_more_than_n_per_unit)
{
    /* many workers asking every millisecond for 10 s: at most 14 starts in any 1 s window */
    struct ratelimit rl;
    int64_t starts[200];
    int n = 0;

    ck_assert_int_eq(ratelimit_init(&rl, "14/s", NULL), 0);
    for (int64_t t = 0; t < 10000; t++)
        for (int worker = 0; worker < 8; worker++)
            if (ratelimit_take(&rl, t) == 0) {
                ck_assert(n < 200);
                starts[n++] = t;
            }
    ck_assert_msg(n >= 139 && n <= 141, "%d starts in 10 s at 14/s", n);
    for (int i = 0; i + 14 < n; i++)
        ck_assert_msg(starts[i + 14] - starts[i] >= 1000, "15 starts within 1 s at %lld",
                      (long long)starts[i]);
}
END_TEST

START_TEST(wait_is_exact_and_sufficient)
{
    /* sleeping exactly the returned time always succeeds */
    struct ratelimit rl;
    int64_t t = 0;

    ck_assert_int_eq(ratelimit_init(&rl, "14/s", NULL), 0);
    ck_assert_int_eq(ratelimit_take(&rl, t), 0);
    for (int i = 0; i < 100; i++) {
        long w = ratelimit_take(&rl, t);

        ck_assert(w >= 1 && w <= 72);
        t += w;
        ck_assert_int_eq(ratelimit_take(&rl, t), 0);
    }
    /* 100 more starts after the first, 71.428 ms apart, each rounded up to the millisecond */
    ck_assert_msg(t >= 7143 && t <= 7200, "t = %lld", (long long)t);
}
END_TEST

START_TEST(slow_down_and_reset)
{
    struct ratelimit rl;

    ck_assert_int_eq(ratelimit_init(&rl, "1/s", NULL), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 10000), 0);
    ratelimit_slow_down(&rl, 2);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 2000000);
    ck_assert_int_eq(ratelimit_take(&rl, 11000), 1000); /* the next start moved to 12000 */
    ck_assert_int_eq(ratelimit_take(&rl, 12000), 0);
    ratelimit_slow_down(&rl, 0); /* below 2 counts as 2 */
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 4000000);
    ck_assert_int_eq(ratelimit_take(&rl, 13000), 3000);
    for (int i = 0; i < 10; i++)
        ratelimit_slow_down(&rl, 4);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), RATELIMIT_MAX_INTERVAL_US);
    ck_assert_int_eq(ratelimit_take(&rl, 13000), 59000);
    ratelimit_reset(&rl);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 1000000);
    ck_assert_int_eq(ratelimit_take(&rl, 12500), 500); /* back to 1 s after the last start */
    ck_assert_int_eq(ratelimit_take(&rl, 13000), 0);
}
END_TEST

START_TEST(slow_down_unlimited)
{
    struct ratelimit rl;

    ck_assert_int_eq(ratelimit_init(&rl, "", NULL), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 100), 0);
    ratelimit_slow_down(&rl, 2);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), RATELIMIT_SLOW_START_US);
    /* no start was counted while unlimited, so the first one goes at once */
    ck_assert_int_eq(ratelimit_take(&rl, 200), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 700), 500);
    ratelimit_slow_down(&rl, 3);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 3000000);
    ck_assert_int_eq(ratelimit_take(&rl, 700), 2500);
    ratelimit_reset(&rl);
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 700), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 700), 0);
}
END_TEST

START_TEST(slow_limit_not_below_base)
{
    struct ratelimit rl;

    ck_assert_int_eq(ratelimit_init(&rl, "1/m", NULL), 0);
    ratelimit_slow_down(&rl, 2); /* already at the slowest: stays at the configured rate */
    ck_assert_uint_eq(ratelimit_interval_us(&rl), 60000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("ratelimit");

    tcase_add_test(tc, parse_rates);
    tcase_add_test(tc, unlimited_never_waits);
    tcase_add_test(tc, spacing_per_minute);
    tcase_add_test(tc, never_more_than_n_per_unit);
    tcase_add_test(tc, wait_is_exact_and_sufficient);
    tcase_add_test(tc, slow_down_and_reset);
    tcase_add_test(tc, slow_down_unlimited);
    tcase_add_test(tc, slow_limit_not_below_base);
    suite_add_tcase(s, tc);
    return test_run(s);
}
