/*
 * fuzz - what the fuzz harnesses share (fuzz/README): the libFuzzer entry points, a check that
 * aborts (so libFuzzer, or the replay driver under make check, reports the input), the escapes
 * of the golden files, a line reader for "key: value" inputs, and a private scratch directory
 * for the parsers that read files.
 *
 * Each harness is one NAME.c defining LLVMFuzzerTestOneInput (and, when it needs set-up,
 * LLVMFuzzerInitialize); it is linked either with libFuzzer (make fuzz, clang) or with
 * replay.c (make check, any compiler), which runs it on every file of fuzz/corpus/NAME/.
 */
#ifndef BYOSMTP_FUZZ_H
#define BYOSMTP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_CHECK - a property that must hold whatever the input: abort with WHAT when it does not */
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, (what));                                                 \
    } while (0)

/* fuzz_fail - print FILE:LINE: WHAT on stderr and abort */
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/*
 * fuzz_unescape - a NUL-terminated copy of the N bytes at S with the golden files' escapes
 * {CR} {LF} {TAB} {NUL} made those bytes (tests/unit/testutil.h); *len its length. Caller frees.
 */
char *fuzz_unescape(const char *s, size_t n, size_t *len);

/*
 * fuzz_next_line - the next line of the N bytes at DATA from *POS (without its LF), as a
 * NUL-terminated copy (a NUL inside it cuts it); NULL at the end. Caller frees.
 */
char *fuzz_next_line(const uint8_t *data, size_t n, size_t *pos);

/*
 * fuzz_key_value - split LINE at its first ':' (one space after it skipped): *key is LINE,
 * *value what follows. False for a comment (#), an empty line or a line without ':'.
 */
bool fuzz_key_value(char *line, char **key, char **value);

/* fuzz_dir - a private directory made at the first call, removed with its files at exit */
const char *fuzz_dir(void);

/* fuzz_write_file - replace PATH by the N bytes at P (mode 0600); aborts when it cannot */
void fuzz_write_file(const char *path, const void *p, size_t n);

/*
 * fuzz_config_file - write the N bytes at DATA to the scratch file NAME for a libconfig parser
 * and return its path (caller frees), or NULL for an input holding "@include": libconfig would
 * read whatever file it names (/dev/zero included), which is the admin's choice, not input.
 */
char *fuzz_config_file(const char *name, const uint8_t *data, size_t n);

/*
 * fuzz_spool_file - the N bytes at DATA as a spool file (doc/spool.md): as they are when their
 * last 99 bytes start with "byosmtp-end: " (the trailer itself is fuzzed), otherwise followed by
 * the right trailer (length and SHA-256), so that the parser behind the trailer is reached.
 * *len is its length. Caller frees.
 */
char *fuzz_spool_file(const uint8_t *data, size_t n, size_t *len);

/* fuzz_utf8_valid - well-formed UTF-8 (Unicode 3.9, table 3-7): the harnesses' own oracle */
bool fuzz_utf8_valid(const unsigned char *s, size_t n);

#endif
