/*
 * targets_conf - fuzz targets.conf reading (target_set_parse_file, src/store/target.h): the
 * input is the file. libconfig reads files, so it is written to a scratch file first; an input
 * holding "@include" is skipped (fuzz_config_file).
 *
 * A set that is read must be what the rest of byosmtp relies on: every target passes
 * target_validate; target_set_print writes a file that reads back into a set that prints the
 * same (the "byosmtpctl dump" round trip); every target's store record decodes into a target
 * whose record is the same bytes; every route and sender route names a target of the set and is
 * a normalised key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/target.h"
#include "util/util.h"

/* LeakSanitizer: libconfig 1.5 (Debian 12) leaks a string buffer when a file has a syntax error
 * after a string; its own test program shows the same leak, so it is suppressed, not ours */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

/* printed - the set in targets.conf syntax; *len its length. Caller frees. */
static char *printed(const struct target_set *set, size_t *len)
{
    char *text = NULL;
    FILE *fp = open_memstream(&text, len);

    FUZZ_CHECK(fp != NULL, "open_memstream");
    target_set_print(set, fp);
    FUZZ_CHECK(fclose(fp) == 0, "writing the printed set");
    return text;
}

/* check_records - every target's store record decodes to a target with the same record */
static void check_records(const struct target_set *set)
{
    for (size_t i = 0; i < set->ntargets; i++) {
        size_t len, len2;
        char *rec = target_encode(&set->targets[i], &len), *rec2, *err = NULL;
        struct target t;

        FUZZ_CHECK(target_decode(set->targets[i].name, rec, len, &t, &err) == 0,
                   "a target's store record does not decode");
        rec2 = target_encode(&t, &len2);
        FUZZ_CHECK(len == len2 && memcmp(rec, rec2, len) == 0,
                   "a decoded record encodes differently");
        target_free(&t);
        free(rec);
        free(rec2);
        free(err);
    }
}

/* check_set - the properties of a set that was read */
static void check_set(const struct target_set *set)
{
    char *err = NULL;

    for (size_t i = 0; i < set->ntargets; i++)
        FUZZ_CHECK(target_validate(&set->targets[i], &err) == 0, "a target read is not valid");
    for (size_t i = 0; i < set->nroutes + set->nsender_routes; i++) {
        const struct route *r = i < set->nroutes ? &set->routes[i]
                                                 : &set->sender_routes[i - set->nroutes];
        char *key = route_normalise(r->match, &err);

        FUZZ_CHECK(target_set_find(set, r->target) != NULL,
                   "a route names a target that is not in the set");
        FUZZ_CHECK(key != NULL && strcmp(key, r->match) == 0,
                   "a route match that is not its own key");
        free(key);
    }
    free(err);
    check_records(set);
}

/* round_trip - print SET, read the print back, print that: the same text */
static void round_trip(const struct target_set *set)
{
    struct target_set again;
    size_t len, len2;
    char *text = printed(set, &len), *text2, *path, *err = NULL;

    path = fuzz_config_file("dump.conf", (const uint8_t *)text, len);
    FUZZ_CHECK(path != NULL, "a printed set holds @include");
    if (target_set_parse_file(path, &again, NULL, &err) != 0) {
        fprintf(stderr, "%s\n--- printed:\n%s", err, text);
        FUZZ_CHECK(false, "a printed set does not read back");
    }
    text2 = printed(&again, &len2);
    FUZZ_CHECK(len == len2 && memcmp(text, text2, len) == 0, "a set read back prints differently");
    target_set_free(&again);
    free(text);
    free(text2);
    free(path);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_config_file("targets.conf", data, size), *err = NULL, **pwfiles = NULL;
    struct target_set set;

    if (path == NULL)
        return 0;
    if (target_set_parse_file(path, &set, &pwfiles, &err) == 0) {
        /* byosmtpctl load reads each password_file and stores its encrypted form */
        for (size_t i = 0; i < set.ntargets; i++)
            if (pwfiles[i] != NULL) {
                free(set.targets[i].password_enc);
                set.targets[i].password_enc = xstrdup("enc:v1:fuzz");
            }
        check_set(&set);
        round_trip(&set);
        target_password_files_free(pwfiles, set.ntargets);
        target_set_free(&set);
    } else {
        FUZZ_CHECK(err != NULL && *err != '\0', "a refused file without a message");
        FUZZ_CHECK(set.ntargets == 0 && set.nroutes == 0 && pwfiles == NULL,
                   "a refused file leaves a set or password files");
    }
    free(err);
    free(path);
    return 0;
}
