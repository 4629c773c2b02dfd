/* check_util - the growable buffer, formatting and the header-value check */
#include "config.h"

#include "testutil.h"
#include "util/util.h"

START_TEST(buf_grows_and_stays_terminated)
{
    struct buf b;

    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    ck_assert_uint_eq(b.len, strlen(b.data));
    ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
    ck_assert(strcmp(b.data + b.len - 4, "999,") == 0);
    buf_reset(&b);
    ck_assert_str_eq(b.data, "");
    buf_append(&b, "a\0b", 3);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_int_eq(b.data[3], '\0');
    buf_free(&b);
}
END_TEST

START_TEST(set_err_replaces_message)
{
    char *err = NULL;

    ck_assert_int_eq(set_err(&err, "first %d", 1), -1);
    ck_assert_str_eq(err, "first 1");
    set_err(&err, "second");
    ck_assert_str_eq(err, "second");
    free(err);
    ck_assert_int_eq(set_err(NULL, "ignored"), -1);
}
END_TEST

START_TEST(line_breaks_detected)
{
    ck_assert(!has_line_break("Acme Mail", 9));
    ck_assert(has_line_break("Acme\r\nBcc: x", 12));
    ck_assert(has_line_break("Acme\n", 5));
    ck_assert(has_line_break("Acme\r", 5));
    ck_assert(has_line_break("Ac\0me", 5));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, buf_grows_and_stays_terminated);
    tcase_add_test(tc, set_err_replaces_message);
    tcase_add_test(tc, line_breaks_detected);
    suite_add_tcase(s, tc);
    return test_run(s);
}
