/*
 * testutil - helpers shared by the Check unit tests: a private temporary directory per test,
 * writing and reading a file in one call, the path of a file in the source tree, and the golden
 * files (tests/AREA/NAME.in -> NAME.ref): their escapes and the one walker over them.
 */
#ifndef BYOSMTP_TESTUTIL_H
#define BYOSMTP_TESTUTIL_H

#include <check.h>
#include <dirent.h>
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

/* test_unescape - a copy of the N bytes at S with the golden files' escapes {CR} {LF} {TAB} {NUL}
 * made those bytes (caller frees; NUL-terminated); *len its length when len */
static inline char *test_unescape(const char *s, size_t n, size_t *len)
{
    static const struct {
        const char *name;
        char byte;
    } esc[] = {{"{CR}", '\r'}, {"{LF}", '\n'}, {"{TAB}", '\t'}, {"{NUL}", '\0'}};
    char *out = malloc(n + 1);
    size_t k = 0;

    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++) {
        size_t e = 0;

        while (e < sizeof(esc) / sizeof(esc[0]) &&
               strncmp(s + i, esc[e].name, strlen(esc[e].name)) != 0)
            e++;
        if (e < sizeof(esc) / sizeof(esc[0])) {
            out[k++] = esc[e].byte;
            i += strlen(esc[e].name) - 1;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    if (len != NULL)
        *len = k;
    return out;
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

/* test_report_diff - print on stderr where ACTUAL differs from EXPECTED, the text of REF (a path
 * under the source tree), as one hunk of whole lines in unified-diff style */
static inline void test_report_diff(const char *ref, const char *expected, const char *actual)
{
    size_t ne = strlen(expected), na = strlen(actual), pre = 0, suf = 0, line_start = 0;

    while (pre < ne && pre < na && expected[pre] == actual[pre])
        pre++;
    for (size_t i = 0; i < pre; i++)
        if (expected[i] == '\n')
            line_start = i + 1;
    while (suf < ne - line_start && suf < na - line_start &&
           expected[ne - 1 - suf] == actual[na - 1 - suf])
        suf++;
    while (suf > 0 && expected[ne - suf] != '\n') /* keep whole lines */
        suf--;
    fprintf(stderr, "--- %s\n+++ actual output\n@@ ", ref);
    for (size_t i = 0, nl = 1; i <= line_start; i++)
        if (i == line_start)
            fprintf(stderr, "line %zu @@\n", nl);
        else if (expected[i] == '\n')
            nl++;
    for (const char *side = "-+", *text = expected; *side; side++, text = actual) {
        size_t end = (*side == '-' ? ne : na) - suf;

        for (size_t i = line_start; i < end;) {
            const char *nl = memchr(text + i, '\n', end - i);
            size_t len = nl ? (size_t)(nl - (text + i)) : end - i;

            fprintf(stderr, "%c%.*s\n", *side, (int)len, text + i);
            i += len + 1;
        }
    }
}

/* test_golden_fn - the output for one golden file: NAME is the file name without ".in", IN_TEXT
 * the text of NAME.in (the function may change it in place), IN_PATH its path; returns the output
 * (caller frees, NUL-terminated) and its size in *LEN */
typedef char *(*test_golden_fn)(const char *name, char *in_text, const char *in_path, size_t *len);

/* test_golden_walk - every REL/NAME.in of the source tree through FN, the output with its CRs
 * taken out (the .ref files keep LF line ends) compared byte for byte with REL/NAME.ref, and a
 * diff on stderr for each that differs. With the environment variable UPDATE_VAR set, NAME.ref is
 * first rewritten from the output (review the diff before use). Fails when fewer than MIN_CASES
 * golden files are found, or when any differs. */
static inline void test_golden_walk(const char *rel, test_golden_fn fn, const char *update_var,
                                    int min_cases)
{
    char *dir = test_srcdir_path(rel);
    DIR *d = opendir(dir);
    struct dirent *e;
    int cases = 0, failed = 0;

    ck_assert_msg(d != NULL, "cannot open %s (is top_srcdir set?)", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), raw_len, out_len = 0, ref_len;
        char name[256], in_path[4096], ref_path[4096], ref_name[4096], *in_text, *out, *ref;

        if (len < 4 || strcmp(e->d_name + len - 3, ".in") != 0)
            continue;
        ck_assert_msg(len - 3 < sizeof(name), "golden file name too long: %s", e->d_name);
        snprintf(name, sizeof(name), "%.*s", (int)(len - 3), e->d_name);
        snprintf(in_path, sizeof(in_path), "%s/%s.in", dir, name);
        snprintf(ref_path, sizeof(ref_path), "%s/%s.ref", dir, name);
        snprintf(ref_name, sizeof(ref_name), "%s/%s.ref", rel, name);
        in_text = test_read_file(in_path, NULL);
        out = fn(name, in_text, in_path, &raw_len);
        for (size_t i = 0; i < raw_len; i++) /* the .ref files keep LF line ends */
            if (out[i] != '\r')
                out[out_len++] = out[i];
        out[out_len] = '\0';
        if (getenv(update_var) != NULL) {
            FILE *fp = fopen(ref_path, "wb");

            ck_assert_msg(fp != NULL, "cannot write %s", ref_path);
            ck_assert_uint_eq(fwrite(out, 1, out_len, fp), out_len);
            ck_assert_int_eq(fclose(fp), 0);
        }
        ref = test_read_file(ref_path, &ref_len);
        if (ref_len != out_len || memcmp(ref, out, out_len) != 0) {
            test_report_diff(ref_name, ref, out);
            failed++;
        }
        cases++;
        free(ref);
        free(out);
        free(in_text);
    }
    closedir(d);
    free(dir);
    ck_assert_msg(cases >= min_cases, "only %d golden files found in %s", cases, rel);
    ck_assert_msg(failed == 0, "%d of %d golden files in %s differ (diffs on stderr)", failed,
                  cases, rel);
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
