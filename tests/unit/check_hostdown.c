/* check_hostdown - each host's own backoff for failover, with a fake clock; and which failures
 * send a session on to the next host (smtp_trouble_next_host) */
#include "config.h"

#include "delivery/hostdown.h"
#include "smtp/smtp_trouble.h"
#include "testutil.h"

static const struct backoff_params P = {300, 1200, 0, 0};

START_TEST(order_and_backoff)
{
    const char *keys[] = {"a:25", "b:25", "c:25"};
    struct hostdown *h = hostdown_new();
    size_t order[3];

    /* nothing known: every host, in the list's order */
    ck_assert_uint_eq(hostdown_order(h, keys, 3, 1000, order), 3);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_uint_eq(order[2], 2);
    /* a fails: skipped for min_backoff, then tried first again */
    hostdown_failed(h, "a:25", 1000, &P);
    ck_assert_int_eq(hostdown_until(h, "a:25"), 1300);
    ck_assert_uint_eq(hostdown_order(h, keys, 3, 1299, order), 2);
    ck_assert_uint_eq(order[0], 1);
    ck_assert_uint_eq(order[1], 2);
    ck_assert_uint_eq(hostdown_order(h, keys, 3, 1300, order), 3);
    ck_assert_uint_eq(order[0], 0);
    /* its backoff doubles with each failure, up to max_backoff */
    hostdown_failed(h, "a:25", 1300, &P);
    ck_assert_int_eq(hostdown_until(h, "a:25"), 1900);
    hostdown_failed(h, "a:25", 1900, &P);
    ck_assert_int_eq(hostdown_until(h, "a:25"), 3100);
    hostdown_failed(h, "a:25", 3100, &P);
    ck_assert_int_eq(hostdown_until(h, "a:25"), 4300);
    /* every host down: the one back first, alone */
    hostdown_failed(h, "b:25", 3200, &P);
    hostdown_failed(h, "c:25", 3100, &P);
    ck_assert_uint_eq(hostdown_order(h, keys, 3, 3300, order), 1);
    ck_assert_uint_eq(order[0], 2);
    /* a success forgets the host's failures; the others keep theirs */
    hostdown_ok(h, "a:25");
    ck_assert_int_eq(hostdown_until(h, "a:25"), 0);
    ck_assert_int_eq(hostdown_until(h, "b:25"), 3500);
    hostdown_failed(h, "a:25", 5000, &P);
    ck_assert_int_eq(hostdown_until(h, "a:25"), 5300);
    hostdown_ok(h, "nowhere:25"); /* unknown: nothing happens */
    hostdown_free(h);
}
END_TEST

START_TEST(next_host_classes)
{
    static const enum smtp_class next[] = {SMTP_DNS, SMTP_CONNECTION_REFUSED, SMTP_TIMEOUT,
                                           SMTP_TLS_HANDSHAKE, SMTP_TLS_CERTIFICATE,
                                           SMTP_STARTTLS_UNAVAILABLE};
    static const enum smtp_class stay[] = {SMTP_OK, SMTP_STARTTLS_REQUIRED, SMTP_AUTH_UNAVAILABLE,
                                           SMTP_AUTH_FAILED, SMTP_SENDER_REJECTED,
                                           SMTP_RECIPIENT_REJECTED, SMTP_MESSAGE_REJECTED,
                                           SMTP_RATE_LIMITED, SMTP_TEMPORARY, SMTP_PROTOCOL};

    for (size_t i = 0; i < sizeof(next) / sizeof(*next); i++) {
        ck_assert_msg(smtp_trouble_next_host(next[i], SMTP_STAGE_CONNECT), "%s",
                      smtp_class_name(next[i]));
        ck_assert_msg(smtp_trouble_next_host(next[i], SMTP_STAGE_STARTTLS), "%s",
                      smtp_class_name(next[i]));
        /* from AUTH on, the host answered: its word stands */
        ck_assert_msg(!smtp_trouble_next_host(next[i], SMTP_STAGE_AUTH), "%s",
                      smtp_class_name(next[i]));
        ck_assert_msg(!smtp_trouble_next_host(next[i], SMTP_STAGE_DOT), "%s",
                      smtp_class_name(next[i]));
    }
    for (size_t i = 0; i < sizeof(stay) / sizeof(*stay); i++)
        ck_assert_msg(!smtp_trouble_next_host(stay[i], SMTP_STAGE_BANNER), "%s",
                      smtp_class_name(stay[i]));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdown");
    TCase *tc = tcase_create("hostdown");

    tcase_add_test(tc, order_and_backoff);
    tcase_add_test(tc, next_host_classes);
    suite_add_tcase(s, tc);
    return test_run(s);
}
