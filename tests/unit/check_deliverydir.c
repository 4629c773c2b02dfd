/*
 * check_deliverydir - the delivery process's files: the lock excludes a second holder, the
 * counters read back as written, requests are taken in order and removed, in-flight marks
 * left behind are reported once.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery/deliverydir.h"
#include "spool/spool.h"
#include "testutil.h"

START_TEST(test_lock)
{
    char *dir = test_tmpdir(), *err = NULL;
    int fd1 = -1, fd2 = -1;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    ck_assert_int_eq(deliverydir_lock(dir, false, &fd1, &err), 1);
    ck_assert_int_eq(deliverydir_lock(dir, false, &fd2, &err), 0);
    close(fd1);
    ck_assert_int_eq(deliverydir_lock(dir, false, &fd2, &err), 1);
    close(fd2);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_stats)
{
    char *dir = test_tmpdir(), *err = NULL;
    struct dstats s = {.since = 1700000000}, r;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    ck_assert_int_eq(deliverydir_stats_read(dir, &r, &err), 0);
    dstats_get(&s, "acme")->accepted = 5;
    dstats_get(&s, "acme")->delivered = 4;
    dstats_get(&s, "beta")->deferred = 7;
    dstats_get(&s, "beta")->bounced = 2;
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(deliverydir_stats_write(dir, &s, &err), 0);
    ck_assert_int_eq(deliverydir_stats_read(dir, &r, &err), 1);
    ck_assert_int_eq(r.since, 1700000000);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(dstats_get(&r, "acme")->accepted, 5);
    ck_assert_uint_eq(dstats_get(&r, "acme")->delivered, 4);
    ck_assert_uint_eq(dstats_get(&r, "beta")->deferred, 7);
    ck_assert_uint_eq(dstats_get(&r, "beta")->bounced, 2);
    dstats_free(&r);
    ck_assert_int_eq(deliverydir_stats_reset(dir, 1800000000, &err), 0);
    ck_assert_int_eq(deliverydir_stats_read(dir, &r, &err), 1);
    ck_assert_int_eq(r.since, 1800000000);
    ck_assert_uint_eq(r.n, 0);
    dstats_free(&r);
    dstats_free(&s);
    test_rmdir(dir);
}
END_TEST

static char seen[256];
static void collect(void *ctx, const char *verb, const char *arg)
{
    (void)ctx;
    strcat(seen, verb);
    strcat(seen, "=");
    strcat(seen, arg);
    strcat(seen, ";");
}

START_TEST(test_requests)
{
    char *dir = test_tmpdir(), *err = NULL, *name = NULL;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    ck_assert_int_eq(deliverydir_request(dir, "flush", "0123456789ABCDEF0123", &name, &err), 0);
    ck_assert_int_eq(access(name, F_OK), 0);
    ck_assert_int_eq(deliverydir_request(dir, "flush-target", "acme", NULL, &err), 0);
    ck_assert_int_eq(deliverydir_request(dir, "flush-all", "", NULL, &err), 0);
    seen[0] = '\0';
    ck_assert_uint_eq(deliverydir_requests_take(dir, collect, NULL), 3);
    ck_assert_str_eq(seen, "flush=0123456789ABCDEF0123;flush-target=acme;flush-all=;");
    ck_assert_int_ne(access(name, F_OK), 0); /* taken: byosmtpctl sees it gone */
    ck_assert_uint_eq(deliverydir_requests_take(dir, collect, NULL), 0);
    free(name);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_inflight)
{
    char *dir = test_tmpdir(), *err = NULL, **ids;
    size_t n;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    deliverydir_inflight(dir, "0123456789ABCDEF0001", true);
    deliverydir_inflight(dir, "0123456789ABCDEF0002", true);
    deliverydir_inflight(dir, "0123456789ABCDEF0001", false);
    ck_assert_int_eq(deliverydir_inflight_left(dir, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], "0123456789ABCDEF0002");
    spool_list_free(ids, n);
    ck_assert_int_eq(deliverydir_inflight_left(dir, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 0); /* reported once */
    spool_list_free(ids, n);
    test_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("deliverydir");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_lock);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_requests);
    tcase_add_test(tc, test_inflight);
    suite_add_tcase(s, tc);
    return test_run(s);
}
