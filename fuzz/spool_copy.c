/*
 * spool_copy - fuzz the reader of spool copies (spool_copy_open and the reads after it,
 * src/spool/spool.h; the format is doc/spool.md): the input is the file queue/ID of a scratch
 * spool, given its right integrity trailer unless it brings one (fuzz_spool_file), so the
 * envelope parser behind the trailer is reached.
 *
 * A damaged or hostile file must be SPOOL_CORRUPT with a message (recovery then moves it to
 * corrupt/), never an I/O error (which would make recovery retry it for ever). A copy that opens
 * must hold its id, a target, a sender, an envelope sender and at least one recipient, none with
 * CR or LF, and an arrival that is not negative; its header section and body must read back in
 * exactly the sizes it declares.
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
static char *copy_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *path, *err = NULL;

    (void)argc;
    (void)argv;
    path = xasprintf("%s/spool", fuzz_dir());
    if (spool_open(path, true, (uid_t)-1, (gid_t)-1, &sp, &err) < 0)
        fuzz_fail(__FILE__, __LINE__, err);
    copy_path = xasprintf("%s/queue/" ID, path);
    free(path);
    return 0;
}

/* one_line - a value of the envelope: present, without CR or LF */
static bool one_line(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

/* check_copy - the envelope and the sizes of a copy that opened */
static void check_copy(struct spool_copy *c)
{
    const struct spool_envelope *e = &c->env;
    struct buf h;
    char chunk[777], *err = NULL;
    uint64_t body = 0;
    ssize_t n;

    FUZZ_CHECK(e->id != NULL && strcmp(e->id, ID) == 0, "a copy that names another id");
    FUZZ_CHECK(one_line(e->target) && one_line(e->sender) && one_line(e->envelope_from) &&
                   one_line(e->mta_queue_id) && one_line(e->mail_params),
               "an envelope value missing or holding a line break");
    FUZZ_CHECK(e->nrcpts > 0, "a copy without recipients");
    FUZZ_CHECK(e->arrival >= 0, "a negative arrival (a number too large for its type)");
    for (size_t i = 0; i < e->nrcpts; i++)
        FUZZ_CHECK(one_line(e->rcpts[i]) && e->rcpts[i][0] != '\0', "an empty recipient");
    buf_init(&h);
    FUZZ_CHECK(spool_copy_read_headers(c, &h, &err) == 0 && h.len == c->header_size,
               "a header section that does not read back in its declared size");
    buf_free(&h);
    while ((n = spool_copy_read_body(c, chunk, sizeof(chunk) - (body % 7), &err)) > 0)
        body += (uint64_t)n;
    FUZZ_CHECK(n == 0 && body == c->body_size, "a body of another size than declared");
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *file = fuzz_spool_file(data, size, &len), *err = NULL;
    struct spool_copy *c = NULL;
    int rc;

    fuzz_write_file(copy_path, file, len);
    rc = spool_copy_open(sp, "queue", ID, &c, &err);
    FUZZ_CHECK(rc == 1 || rc == SPOOL_CORRUPT, "a spool file that is neither valid nor corrupt");
    if (rc == 1) {
        check_copy(c);
        spool_copy_close(c);
    } else {
        FUZZ_CHECK(c == NULL && err != NULL && *err != '\0', "a corrupt copy without a message");
    }
    free(err);
    free(file);
    return 0;
}
