/*
 * testutil - helpers shared by the Check unit tests: a private temporary directory per test,
 * writing and reading a file in one call, and the path of a file in the source tree.
 */
#ifndef BYOSMTP_TESTUTIL_H
#define BYOSMTP_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* test_tmpdir - a fresh directory under $TMPDIR (or /tmp); the caller removes it with test_rmdir */
static inline char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);

    snprintf(dir, 4096, "%s/byosmtp-test.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* test_rmdir - remove a test directory and everything in it */
static inline void test_rmdir(char *dir)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

/* test_write - create DIR/NAME holding TEXT with MODE; returns the path (caller frees) */
static inline char *test_write(const char *dir, const char *name, const char *text, mode_t mode)
{
    char *path = malloc(4096);
    FILE *fp;

    snprintf(path, 4096, "%s/%s", dir, name);
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

/* test_read_file - the whole file at PATH, NUL-terminated (caller frees); *len its size when len */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    size_t n = 0, cap = 8192, got;
    char *p = malloc(cap);

    ck_assert_msg(fp != NULL, "cannot open %s", path);
    ck_assert_ptr_nonnull(p);
    while ((got = fread(p + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            p = realloc(p, cap);
            ck_assert_ptr_nonnull(p);
        }
    }
    fclose(fp);
    p[n] = '\0';
    if (len != NULL)
        *len = n;
    return p;
}

/* test_srcdir_path - $top_srcdir/REL (caller frees); the harness exports top_srcdir */
static inline char *test_srcdir_path(const char *rel)
{
    const char *top = getenv("top_srcdir");
    char *path = malloc(4096);

    ck_assert_msg(top && *top, "top_srcdir is not set: run this test through 'make check'");
    snprintf(path, 4096, "%s/%s", top, rel);
    return path;
}

/* test_run - run one suite and exit with its result (automake: 0 pass, 1 fail) */
static inline int test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
