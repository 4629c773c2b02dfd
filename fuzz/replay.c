/*
 * replay - run a fuzz harness on files instead of libFuzzer: every file named on the command
 * line, every file in a directory named there, or, without arguments, every file of
 * $top_srcdir/fuzz/corpus/NAME (NAME is FUZZ_NAME, given at compile time). make check runs each
 * harness this way with the ordinary compiler, so the seeds and every input that once crashed a
 * harness (kept in its corpus) are checked by every build, with or without sanitizers.
 * Exit 0 when every input ran; a property violated aborts (fuzz.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/util.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the harness's corpus"
#endif

/* A harness without set-up does not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* run_file - the harness on the bytes of PATH; false when PATH cannot be read */
static bool run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return false;
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(&b, chunk, n);
    fclose(fp);
    /* a copy of exactly the input's size, so that a read past its end is caught */
    uint8_t *data = xmalloc(b.len ? b.len : 1);

    memcpy(data, b.data, b.len);
    LLVMFuzzerTestOneInput(data, b.len);
    free(data);
    buf_free(&b);
    return true;
}

/* is_file - keep the names of dir_list that are not hidden */
static bool is_file(const char *name)
{
    return name[0] != '.';
}

/* run_path - a file, or every file of a directory (in name order); the number run, -1 on error */
static long run_path(const char *path)
{
    struct stat sb;
    char **names;
    size_t n;
    long done = 0;

    if (stat(path, &sb) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return run_file(path) ? 1 : -1;
    if (dir_list(path, is_file, &names, &n) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n && done >= 0; i++) {
        char *file = xasprintf("%s/%s", path, names[i]);

        done = run_file(file) ? done + 1 : -1;
        free(file);
    }
    dir_list_free(names, n);
    return done;
}

int main(int argc, char **argv)
{
    const char *top = getenv("top_srcdir");
    long total = 0;

    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc < 2) {
        char *dir = xasprintf("%s/fuzz/corpus/%s", top && *top ? top : ".", FUZZ_NAME);

        total = run_path(dir);
        free(dir);
    }
    for (int i = 1; i < argc && total >= 0; i++) {
        long n = run_path(argv[i]);

        total = n < 0 ? -1 : total + n;
    }
    if (total <= 0) {
        fprintf(stderr, "replay: %s: no input run\n", FUZZ_NAME);
        return 1;
    }
    printf("%s: %ld inputs\n", FUZZ_NAME, total);
    return 0;
}
