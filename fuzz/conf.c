/*
 * conf - fuzz byosmtp.conf loading (conf_load, src/store/conf.h): the input is the file, written
 * to a scratch file for libconfig; an input holding "@include" is skipped (fuzz_config_file).
 *
 * A file that loads must print (conf_print, as "byosmtpctl config" does) to a file that loads
 * into the same settings: the full print and the print of the changed settings only both read
 * back into a snapshot whose full print is the same text. A refused file gives a message.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/conf.h"
#include "util/util.h"

/* LeakSanitizer: libconfig 1.5 (Debian 12) leaks a string buffer when a file has a syntax error
 * after a string; its own test program shows the same leak, so it is suppressed, not ours */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

/* printed - conf_print of C; *len its length. Caller frees. */
static char *printed(const struct byosmtp_conf *c, bool only_changed, size_t *len)
{
    char *text = NULL;
    FILE *fp = open_memstream(&text, len);

    FUZZ_CHECK(fp != NULL, "open_memstream");
    conf_print(c, fp, only_changed);
    FUZZ_CHECK(fclose(fp) == 0, "writing the printed settings");
    return text;
}

/* reads_back - TEXT, loaded, prints in full as WANT */
static void reads_back(const char *text, size_t len, const char *want, size_t want_len)
{
    char *path = fuzz_config_file("printed.conf", (const uint8_t *)text, len), *err = NULL, *again;
    struct byosmtp_conf *c = NULL;
    size_t again_len;

    FUZZ_CHECK(path != NULL, "printed settings hold @include");
    if (conf_load(path, &c, &err) != 0) {
        fprintf(stderr, "%s\n--- printed:\n%s", err, text);
        FUZZ_CHECK(false, "printed settings do not load");
    }
    again = printed(c, false, &again_len);
    if (again_len != want_len || memcmp(again, want, want_len) != 0) {
        fprintf(stderr, "--- first:\n%s--- read back:\n%s", want, again);
        FUZZ_CHECK(false, "settings read back print differently");
    }
    conf_unref(c);
    free(again);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_config_file("byosmtp.conf", data, size), *err = NULL;
    struct byosmtp_conf *c = NULL;

    if (path == NULL)
        return 0;
    if (conf_load(path, &c, &err) == 0) {
        size_t full_len, changed_len;
        char *full = printed(c, false, &full_len), *changed = printed(c, true, &changed_len);

        reads_back(full, full_len, full, full_len);
        reads_back(changed, changed_len, full, full_len);
        free(full);
        free(changed);
        conf_unref(c);
    } else {
        FUZZ_CHECK(c == NULL && err != NULL && *err != '\0', "a refused file without a message");
    }
    free(err);
    free(path);
    return 0;
}
