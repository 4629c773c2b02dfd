/*
 * spool_state - fuzz the reader of delivery state files (spool_state_read, src/spool/spool.h;
 * doc/spool.md, "Delivery state"): the input is queue/ID.state of a scratch spool, given its
 * right trailer unless it brings one (fuzz_spool_file). The copy's recipient count is taken as
 * the number of lines starting with "rcpt:", so that well-formed inputs are common.
 *
 * A state that reads must hold one known state per recipient and a one-line last error, and
 * write back (spool_state_write) into a file that reads as the same state. A file that does not
 * read must be SPOOL_CORRUPT with a message, never an I/O error, and leave the initial state.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "spool/spool.h"
#include "util/util.h"

#define ID "0123456789ABCDEF0123"

static struct spool *sp;
static char *state_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *path, *err = NULL;

    (void)argc;
    (void)argv;
    path = xasprintf("%s/spool", fuzz_dir());
    if (spool_open(path, true, (uid_t)-1, (gid_t)-1, &sp, &err) < 0)
        fuzz_fail(__FILE__, __LINE__, err);
    state_path = xasprintf("%s/queue/" ID ".state", path);
    free(path);
    return 0;
}

/* rcpt_lines - the lines of DATA starting with "rcpt:" */
static size_t rcpt_lines(const uint8_t *data, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i + 5 <= size; i++)
        if ((i == 0 || data[i - 1] == '\n') && memcmp(data + i, "rcpt:", 5) == 0)
            n++;
    return n;
}

/* write_back - write ST and read it again: the same state */
static void write_back(const struct spool_state *st, size_t nrcpts)
{
    struct spool_state again;
    char *err = NULL;

    FUZZ_CHECK(spool_state_write(sp, ID, st, &err) == 0, "a state read cannot be written");
    FUZZ_CHECK(spool_state_read(sp, ID, nrcpts, &again, &err) == 1, "a state written does not read");
    FUZZ_CHECK(again.attempts == st->attempts && again.next_attempt == st->next_attempt &&
                   strcmp(again.last_error, st->last_error) == 0 && again.nrcpts == st->nrcpts &&
                   memcmp(again.rcpt, st->rcpt, nrcpts * sizeof(*st->rcpt)) == 0,
               "a state written reads back differently");
    spool_state_free(&again);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len, nrcpts = rcpt_lines(data, size);
    char *file = fuzz_spool_file(data, size, &len), *err = NULL;
    struct spool_state st;
    int rc;

    fuzz_write_file(state_path, file, len);
    rc = spool_state_read(sp, ID, nrcpts, &st, &err);
    FUZZ_CHECK(rc == 1 || rc == SPOOL_CORRUPT, "a state file that is neither valid nor corrupt");
    FUZZ_CHECK(st.nrcpts == nrcpts && st.last_error != NULL && st.rcpt != NULL,
               "a state without its recipients or last error");
    if (rc == 1) {
        FUZZ_CHECK(strpbrk(st.last_error, "\r\n") == NULL, "a last error of several lines");
        for (size_t i = 0; i < nrcpts; i++)
            FUZZ_CHECK(st.rcpt[i] == RCPT_PENDING || st.rcpt[i] == RCPT_SENT ||
                           st.rcpt[i] == RCPT_BOUNCED || st.rcpt[i] == RCPT_FALLBACK,
                       "an unknown recipient state");
        write_back(&st, nrcpts);
    } else {
        FUZZ_CHECK(err != NULL && *err != '\0', "a corrupt state without a message");
        FUZZ_CHECK(st.attempts == 0 && st.next_attempt == 0 && st.last_error[0] == '\0',
                   "a corrupt state file leaves more than the initial state");
        for (size_t i = 0; i < nrcpts; i++)
            FUZZ_CHECK(st.rcpt[i] == RCPT_PENDING, "a corrupt state leaves a recipient done");
    }
    spool_state_free(&st);
    free(err);
    free(file);
    return 0;
}
