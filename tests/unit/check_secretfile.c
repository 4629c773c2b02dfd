/*
 * check_secretfile - a small secret read from a file: its trailing line breaks dropped, the
 * exact length limit (a CR LF after the longest secret is fine, one byte more is not), empty,
 * missing, a NUL byte in a text secret, binary bytes in one that is not text.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/secretfile.h"
#include "util/util.h"
#include "testutil.h"

/* put - write LEN bytes of DATA to DIR/NAME, mode 0600; the path (free it) */
static char *put(const char *dir, const char *name, const char *data, size_t len)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");

    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    return path;
}

/* try - secret_file_read of PATH with MAX 8 and TEXT: 0 and *out, or -1 and *err */
static int try(const char *path, bool text, char **out, size_t *len, char **err)
{
    *out = *err = NULL;
    return secret_file_read("x.secret_file", path, 8, text, "is empty: write one", out, len,
                            err);
}

START_TEST(test_line_breaks_and_limit)
{
    char *dir = test_tmpdir(), *p, *out, *err;
    size_t len;

    p = put(dir, "a", "pw\n", 3);
    ck_assert_int_eq(try(p, true, &out, &len, &err), 0);
    ck_assert_str_eq(out, "pw");
    ck_assert_uint_eq(len, 2);
    free_secret(out);
    free(p);
    /* the longest secret, then CR LF: accepted whole */
    p = put(dir, "b", "12345678\r\n", 10);
    ck_assert_int_eq(try(p, true, &out, &len, &err), 0);
    ck_assert_str_eq(out, "12345678");
    free_secret(out);
    free(p);
    /* one byte more */
    p = put(dir, "c", "123456789\n", 10);
    ck_assert_int_eq(try(p, true, &out, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "x.secret_file "));
    ck_assert_ptr_nonnull(strstr(err, "is longer than 8 bytes"));
    ck_assert_ptr_null(strstr(err, "123456789"));
    free(err);
    free(p);
    /* longer than what is read at once, ending in line breaks */
    p = put(dir, "d", "1234567890\n\n\n", 13);
    ck_assert_int_eq(try(p, true, &out, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is longer than 8 bytes"));
    free(err);
    free(p);
    /* two lines (an ACL user and its password) are the caller's to split */
    p = put(dir, "e", "u\npw\n", 5);
    ck_assert_int_eq(try(p, true, &out, &len, &err), 0);
    ck_assert_str_eq(out, "u\npw");
    free_secret(out);
    free(p);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_refused)
{
    char *dir = test_tmpdir(), *p, *out, *err;
    size_t len;

    p = put(dir, "empty", "\n", 1);
    ck_assert_int_eq(try(p, true, &out, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is empty: write one"));
    free(err);
    free(p);
    p = xasprintf("%s/missing", dir);
    ck_assert_int_eq(try(p, true, &out, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    free(err);
    free(p);
    p = put(dir, "nul", "ab\0cd", 5);
    ck_assert_int_eq(try(p, true, &out, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
    free(err);
    /* not text: any byte */
    ck_assert_int_eq(try(p, false, &out, &len, &err), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(out, "ab\0cd", 5), 0);
    free(out);
    free(p);
    test_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("secretfile");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_line_breaks_and_limit);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return test_run(s);
}
