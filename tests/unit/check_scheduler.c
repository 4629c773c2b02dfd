/*
 * check_scheduler - the delivery scheduler's policy without threads or sockets: due times,
 * per-target connection limits, round-robin between targets, connection reuse and idle
 * expiry, rate pacing, throttling pauses, flush and delete; in cluster mode the shares kept
 * while Redis is out of reach, the copies postponed by the cluster, and the pauses shared.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/scheduler.h"
#include "testutil.h"

static const struct sched_config cfg = {.default_max_connections = 2, .idle_timeout = 10,
                                        .max_messages = 100, .throttle_min = 5,
                                        .throttle_max = 40};

/* done - report JOB with outcome O; the connection is kept when KEEP */
static bool done(struct sched *s, double now, struct sched_job *job, enum sched_outcome o,
                 int64_t next, void *keep)
{
    struct sched_result r = {.outcome = o, .next_attempt = next, .conn = keep,
                             .conn_messages = 1, .delivered = o == SCHED_FINISHED};
    bool del = sched_done(s, now, job, &r);

    free(job->target);
    job->target = NULL;
    return del;
}

START_TEST(test_due_and_order)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    ck_assert(sched_add(s, "A1", "a", 100));
    ck_assert(sched_add(s, "A2", "a", 50));
    ck_assert(!sched_add(s, "A2", "a", 0)); /* known already */
    ck_assert_uint_eq(sched_count(s), 2);
    ck_assert_int_eq(sched_take(s, 10, &j, &wake), 0);
    ck_assert(wake == 50);
    ck_assert_int_eq(sched_take(s, 60, &j, &wake), 1);
    ck_assert_str_eq(j.id, "A2"); /* the one due first */
    ck_assert_ptr_null(j.conn);
    done(s, 61, &j, SCHED_FINISHED, 0, NULL);
    ck_assert(!sched_has(s, "A2"));
    ck_assert_int_eq(sched_take(s, 60, &j, &wake), 0);
    ck_assert(wake == 100);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_connection_limit)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j1, j2, j3;
    double wake;

    for (int i = 0; i < 5; i++) {
        char id[16];

        snprintf(id, sizeof(id), "X%d", i);
        sched_add(s, id, "x", 0);
    }
    ck_assert_int_eq(sched_take(s, 1, &j1, &wake), 1);
    ck_assert_int_eq(sched_take(s, 1, &j2, &wake), 1);
    /* default_max_connections 2: a third must wait for a sched_done */
    ck_assert_int_eq(sched_take(s, 1, &j3, &wake), 0);
    sched_set_target(s, "x", 3, "");
    ck_assert_int_eq(sched_take(s, 1, &j3, &wake), 1);
    done(s, 2, &j1, SCHED_FINISHED, 0, NULL);
    done(s, 2, &j2, SCHED_FINISHED, 0, NULL);
    done(s, 2, &j3, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_round_robin)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j[4];
    double wake;

    sched_set_target(s, "slow", 1, "");
    sched_add(s, "S1", "slow", 0);
    sched_add(s, "S2", "slow", 0);
    sched_add(s, "F1", "fast", 0);
    sched_add(s, "F2", "fast", 0);
    ck_assert_int_eq(sched_take(s, 1, &j[0], &wake), 1);
    ck_assert_int_eq(sched_take(s, 1, &j[1], &wake), 1);
    ck_assert_str_ne(j[0].target, j[1].target); /* targets take turns */
    ck_assert_int_eq(sched_take(s, 1, &j[2], &wake), 1);
    /* slow is at its one connection: the fourth worker still gets fast's second copy */
    ck_assert_str_eq(j[2].target, "fast");
    ck_assert_int_eq(sched_take(s, 1, &j[3], &wake), 0);
    for (int i = 0; i < 3; i++)
        done(s, 2, &j[i], SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

static int closed;
static void close_counter(void *conn)
{
    (void)conn;
    closed++;
}

START_TEST(test_reuse_and_idle)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;
    int conn = 42;
    void **conns;

    sched_set_target(s, "r", 1, "");
    sched_add(s, "R1", "r", 0);
    sched_add(s, "R2", "r", 0);
    sched_add(s, "R3", "r", 0);
    ck_assert_int_eq(sched_take(s, 1, &j, &wake), 1);
    ck_assert_ptr_null(j.conn);
    done(s, 2, &j, SCHED_FINISHED, 0, &conn);
    ck_assert_int_eq(sched_take(s, 3, &j, &wake), 1);
    ck_assert_ptr_eq(j.conn, &conn); /* the kept session is handed out again */
    ck_assert_int_eq(j.conn_messages, 1);
    done(s, 4, &j, SCHED_FINISHED, 0, &conn);
    /* idle past the timeout: expired, and the slot is free again */
    ck_assert_uint_eq(sched_expire_idle(s, 10, false, &conns), 0);
    free(conns);
    ck_assert_uint_eq(sched_expire_idle(s, 15, false, &conns), 1);
    ck_assert_ptr_eq(conns[0], &conn);
    free(conns);
    ck_assert_int_eq(sched_take(s, 16, &j, &wake), 1);
    ck_assert_ptr_null(j.conn);
    done(s, 17, &j, SCHED_DEFERRED, 100, &conn);
    closed = 0;
    sched_free(s, close_counter);
    ck_assert_int_eq(closed, 1);
}
END_TEST

START_TEST(test_rate)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j1, j2;
    double wake;

    sched_set_target(s, "p", 5, "2/s");
    sched_add(s, "P1", "p", 0);
    sched_add(s, "P2", "p", 0);
    ck_assert_int_eq(sched_take(s, 100.0, &j1, &wake), 1);
    /* 2/s: the next start no sooner than 0.5 s later */
    ck_assert_int_eq(sched_take(s, 100.1, &j2, &wake), 0);
    ck_assert(wake > 100.1 && wake <= 100.51);
    ck_assert_int_eq(sched_take(s, 100.5, &j2, &wake), 1);
    done(s, 101, &j1, SCHED_FINISHED, 0, NULL);
    done(s, 101, &j2, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_rate_learned_after_a_start)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j1, j2;
    double wake;

    /* the target's limits are learned by the worker of its first message (sched_set_target
     * after sched_take): that first start counts under the rate learned */
    sched_add(s, "Q1", "q", 0);
    sched_add(s, "Q2", "q", 0);
    ck_assert_int_eq(sched_take(s, 100.0, &j1, &wake), 1);
    sched_set_target(s, "q", 5, "2/s");
    ck_assert_int_eq(sched_take(s, 100.1, &j2, &wake), 0);
    ck_assert(wake > 100.1 && wake <= 100.51);
    ck_assert_int_eq(sched_take(s, 100.5, &j2, &wake), 1);
    /* a new rate counts from the last start too */
    done(s, 101, &j1, SCHED_DEFERRED, 0, NULL);
    sched_set_target(s, "q", 5, "1/s");
    ck_assert_int_eq(sched_take(s, 101.0, &j1, &wake), 0);
    ck_assert(wake > 101.0 && wake <= 101.51);
    ck_assert_int_eq(sched_take(s, 101.5, &j1, &wake), 1);
    done(s, 102, &j1, SCHED_FINISHED, 0, NULL);
    done(s, 102, &j2, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_throttle)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    sched_add(s, "T1", "t", 0);
    sched_add(s, "T2", "t", 0);
    sched_add(s, "U1", "u", 0);
    ck_assert_int_eq(sched_take(s, 1000, &j, &wake), 1);
    ck_assert_str_eq(j.target, "t");
    done(s, 1000, &j, SCHED_THROTTLED, 1000, NULL);
    /* the whole target pauses (throttle_min 5 s); another target does not */
    ck_assert_int_eq(sched_take(s, 1001, &j, &wake), 1);
    ck_assert_str_eq(j.target, "u");
    done(s, 1001, &j, SCHED_FINISHED, 0, NULL);
    ck_assert_int_eq(sched_take(s, 1002, &j, &wake), 0);
    ck_assert(wake == 1005);
    ck_assert_int_eq(sched_take(s, 1005, &j, &wake), 1);
    ck_assert_str_eq(j.target, "t");
    done(s, 1005, &j, SCHED_THROTTLED, 1005, NULL);
    /* the second pause is twice as long */
    ck_assert_int_eq(sched_take(s, 1014, &j, &wake), 0);
    ck_assert(wake == 1015);
    /* flush lifts the pause */
    ck_assert_uint_eq(sched_flush(s, NULL, "t"), 2);
    ck_assert_int_eq(sched_take(s, 1014, &j, &wake), 1);
    done(s, 1014, &j, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_throttle_never_early)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    sched_add(s, "V1", "v", 0);
    ck_assert_int_eq(sched_take(s, 1000.6, &j, &wake), 1);
    done(s, 1000.6, &j, SCHED_THROTTLED, 1001, NULL);
    /* a pause of throttle_min (5 s) from 1000.6: nothing before 1005.6, whole seconds up */
    ck_assert_int_eq(sched_take(s, 1005.2, &j, &wake), 0);
    ck_assert(wake >= 1005.6);
    ck_assert(wake == 1006);
    ck_assert_int_eq(sched_take(s, 1006, &j, &wake), 1);
    done(s, 1006, &j, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_flush_and_delete)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    sched_add(s, "D1", "d", 5000);
    sched_add(s, "D2", "d", 5000);
    ck_assert_int_eq(sched_take(s, 10, &j, &wake), 0);
    ck_assert_uint_eq(sched_flush(s, "D2", NULL), 1);
    ck_assert_int_eq(sched_take(s, 10, &j, &wake), 1);
    ck_assert_str_eq(j.id, "D2");
    /* deleted while a worker has it: sched_done says so */
    ck_assert_int_eq(sched_request_delete(s, "D2"), 2);
    ck_assert(done(s, 11, &j, SCHED_DEFERRED, 9000, NULL));
    ck_assert(!sched_has(s, "D2"));
    ck_assert_int_eq(sched_request_delete(s, "D1"), 1);
    ck_assert(!sched_has(s, "D1"));
    ck_assert_int_eq(sched_request_delete(s, "D1"), 0);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_failing_target_one_connection)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j1, j2;
    struct sched_result r = {.outcome = SCHED_DEFERRED, .next_attempt = 0, .conn_failed = true};
    double wake;

    sched_add(s, "B1", "b", 0);
    sched_add(s, "B2", "b", 0);
    sched_add(s, "B3", "b", 0);
    ck_assert_int_eq(sched_take(s, 1, &j1, &wake), 1);
    sched_done(s, 1, &j1, &r);
    free(j1.target);
    ck_assert_int_eq(sched_take(s, 2, &j1, &wake), 1);
    /* a failing target gets one connection at a time */
    ck_assert_int_eq(sched_take(s, 2, &j2, &wake), 0);
    done(s, 3, &j1, SCHED_FINISHED, 0, NULL); /* delivered: back to its limit */
    ck_assert_int_eq(sched_take(s, 3, &j1, &wake), 1);
    ck_assert_int_eq(sched_take(s, 3, &j2, &wake), 1);
    done(s, 4, &j1, SCHED_FINISHED, 0, NULL);
    done(s, 4, &j2, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

/* take_all - take every job possible at NOW into J (up to MAX); how many */
static int take_all(struct sched *s, double now, struct sched_job *j, int max)
{
    double wake;
    int n = 0;

    while (n < max && sched_take(s, now, &j[n], &wake) == 1)
        n++;
    return n;
}

/* fill - copies PREFIX0.. of TARGET, N of them, due at once */
static void fill(struct sched *s, const char *prefix, const char *target, int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];

        snprintf(id, sizeof(id), "%s%d", prefix, i);
        sched_add(s, id, target, 0);
    }
}

START_TEST(test_share_connections)
{
    struct sched_job j[16];
    /* max_connections 5 over 3 hosts: 2, 2, 1 (sum 5); max 2 over 3: 1, 1, 0 */
    const int want5[3] = {2, 2, 1}, want2[3] = {1, 1, 0};

    for (int host = 0; host < 3; host++) {
        struct sched *s = sched_new(&cfg);
        int n, five = 0, two = 0, dflt = 0;

        sched_set_target(s, "five", 5, "");
        sched_set_target(s, "two", 2, "");
        sched_set_target(s, "dflt", 0, "");
        fill(s, "F", "five", 8);
        fill(s, "T", "two", 8);
        fill(s, "D", "dflt", 8);
        sched_set_share(s, host, 3, true);
        n = take_all(s, 1, j, 16);
        for (int k = 0; k < n; k++) {
            five += strcmp(j[k].target, "five") == 0;
            two += strcmp(j[k].target, "two") == 0;
            dflt += strcmp(j[k].target, "dflt") == 0;
            ck_assert(!j[k].shared); /* Redis out of reach: the share, no lease asked */
        }
        ck_assert_int_eq(five, want5[host]);
        ck_assert_int_eq(two, want2[host]);
        ck_assert_int_eq(dflt, 2); /* no max_connections: the host's own default */
        for (int k = 0; k < n; k++)
            done(s, 2, &j[k], SCHED_FINISHED, 0, NULL);
        /* Redis answers: the whole limit here, and each job asks the cluster */
        sched_set_share(s, host, 3, false);
        n = take_all(s, 3, j, 16);
        ck_assert_int_eq(n, 5 + 2 + 2);
        for (int k = 0; k < n; k++) {
            ck_assert(j[k].shared);
            done(s, 4, &j[k], SCHED_FINISHED, 0, NULL);
        }
        sched_free(s, NULL);
    }
}
END_TEST

START_TEST(test_share_kept_connections)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j[4];
    int conns[2];

    sched_set_target(s, "two", 2, "");
    fill(s, "T", "two", 4);
    ck_assert_int_eq(take_all(s, 1, j, 4), 2);
    done(s, 2, &j[0], SCHED_FINISHED, 0, &conns[0]); /* both kept idle */
    done(s, 2, &j[1], SCHED_FINISHED, 0, &conns[1]);
    /* host 2 of 3 has a share of 0 of max 2: its kept connections may not be used */
    sched_set_share(s, 2, 3, true);
    ck_assert_int_eq(take_all(s, 3, j, 4), 0);
    /* host 0's share is 1: one of them */
    sched_set_share(s, 0, 3, true);
    ck_assert_int_eq(take_all(s, 3, j, 4), 1);
    ck_assert_ptr_nonnull(j[0].conn);
    done(s, 4, &j[0], SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_share_rate)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    sched_set_target(s, "r", 10, "2/s");
    fill(s, "R", "r", 4);
    /* "2/s" over 3 hosts with Redis out of reach: one start every 1.5 s here */
    sched_set_share(s, 0, 3, true);
    ck_assert_int_eq(sched_take(s, 10, &j, &wake), 1);
    done(s, 10, &j, SCHED_FINISHED, 0, NULL);
    ck_assert_int_eq(sched_take(s, 10.5, &j, &wake), 0);
    ck_assert_int_eq(sched_take(s, 11.4, &j, &wake), 0);
    ck_assert(wake > 11.49 && wake < 11.51);
    ck_assert_int_eq(sched_take(s, 11.5, &j, &wake), 1);
    done(s, 11.5, &j, SCHED_FINISHED, 0, NULL);
    /* Redis answers: the host's own pace (the shared one is the cluster's) */
    sched_set_share(s, 0, 3, false);
    ck_assert_int_eq(sched_take(s, 12.0, &j, &wake), 1);
    done(s, 12, &j, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_postponed)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    struct sched_result r = {.outcome = SCHED_POSTPONED, .retry_at = 20.25};
    double wake;
    int conn;

    sched_set_target(s, "p", 1, "");
    sched_add(s, "P1", "p", 0);
    sched_add(s, "P2", "p", 0);
    ck_assert_int_eq(sched_take(s, 20, &j, &wake), 1);
    ck_assert_str_eq(j.id, "P1");
    r.conn = &conn;
    ck_assert(!sched_done(s, 20, &j, &r));
    free(j.target);
    /* P1 is due at 20.25, nothing else changed; the kept connection serves P2 now */
    ck_assert(sched_has(s, "P1"));
    ck_assert_int_eq(sched_take(s, 20.1, &j, &wake), 1);
    ck_assert_str_eq(j.id, "P2");
    ck_assert_ptr_eq(j.conn, &conn);
    done(s, 20.1, &j, SCHED_FINISHED, 0, NULL);
    ck_assert_int_eq(sched_take(s, 20.2, &j, &wake), 0);
    ck_assert(wake > 20.24 && wake < 20.26);
    ck_assert_int_eq(sched_take(s, 20.25, &j, &wake), 1);
    ck_assert_str_eq(j.id, "P1");
    done(s, 21, &j, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

START_TEST(test_throttle_shared)
{
    struct sched *s = sched_new(&cfg);
    struct sched_job j;
    double wake;

    sched_add(s, "S1", "t", 0);
    /* another host was throttled: nothing starts here until the shared pause ends */
    ck_assert(sched_throttle_shared(s, "t", 100, 106.2));
    ck_assert(sched_target_pause(s, "t") >= 106.2);
    ck_assert(!sched_throttle_shared(s, "t", 101, 106)); /* the same pause: no news */
    ck_assert_int_eq(sched_take(s, 106, &j, &wake), 0);
    ck_assert(wake >= 106.2);
    ck_assert(sched_throttle_shared(s, "t", 102, 120)); /* a longer one is */
    ck_assert_int_eq(sched_take(s, 110, &j, &wake), 0);
    ck_assert_int_eq(sched_take(s, 120, &j, &wake), 1);
    done(s, 121, &j, SCHED_FINISHED, 0, NULL);
    sched_free(s, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_due_and_order);
    tcase_add_test(tc, test_connection_limit);
    tcase_add_test(tc, test_round_robin);
    tcase_add_test(tc, test_reuse_and_idle);
    tcase_add_test(tc, test_rate);
    tcase_add_test(tc, test_rate_learned_after_a_start);
    tcase_add_test(tc, test_throttle);
    tcase_add_test(tc, test_throttle_never_early);
    tcase_add_test(tc, test_flush_and_delete);
    tcase_add_test(tc, test_failing_target_one_connection);
    tcase_add_test(tc, test_share_connections);
    tcase_add_test(tc, test_share_kept_connections);
    tcase_add_test(tc, test_share_rate);
    tcase_add_test(tc, test_postponed);
    tcase_add_test(tc, test_throttle_shared);
    suite_add_tcase(s, tc);
    return test_run(s);
}
