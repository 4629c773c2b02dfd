/*
 * spool_state - the mutable delivery state of a copy, queue/ID.state: attempts, the time of the
 * next one, the last error and one state per recipient, ended by the integrity trailer. A copy
 * is never changed; its state file is replaced whole by write-new-then-rename (doc/spool.md).
 *
 * Thread-safety: reentrant; one thread at a time writes the state of a given copy.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

#define STATE_MAGIC "byosmtp-state: 1"
#define STATE_MAX (16u * 1024 * 1024)

static const char *const rcpt_state_names[] = {"pending", "sent", "bounced", "fallback"};
#define NSTATES 4

/* spool_rcpt_state_name - "pending", "sent", "bounced" or "fallback" */
const char *spool_rcpt_state_name(enum spool_rcpt_state s)
{
    return (unsigned)s < NSTATES ? rcpt_state_names[s] : "pending";
}

/* spool_state_free - free the fields of ST and zero it */
void spool_state_free(struct spool_state *st)
{
    free(st->last_error);
    free(st->rcpt);
    memset(st, 0, sizeof(*st));
}

/* state_initial - no attempts yet, every recipient pending */
static void state_initial(struct spool_state *st, size_t nrcpts)
{
    memset(st, 0, sizeof(*st));
    st->last_error = xstrdup("");
    st->rcpt = xcalloc(nrcpts ? nrcpts : 1, sizeof(*st->rcpt));
    st->nrcpts = nrcpts;
}

/* spool_state_read - queue/ID.state, checked against its trailer, the id and NRCPTS */
int spool_state_read(struct spool *sp, const char *id, size_t nrcpts, struct spool_state *st,
                     char **err)
{
    char *path = xasprintf("%s/%s.state", sp->queue, id), *text = NULL, *line, *save = NULL;
    unsigned char want[32];
    struct stat sb;
    struct buf head;
    uint64_t len, u;
    size_t i = 0;
    bool first = true, have_att = false, have_next = false;
    int fd, rc;

    state_initial(st, nrcpts);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = errno == ENOENT ? 0 : set_err(err, "%s: cannot open: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    buf_init(&head);
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > STATE_MAX) {
        set_err(err, "%s: not a state file", path);
        rc = SPOOL_CORRUPT;
        goto out;
    }
    rc = spool_trailer_check(fd, path, (uint64_t)sb.st_size, &len, want, err);
    if (rc == 1)
        rc = spool_trailer_hash(fd, path, len, want, NULL, err);
    if (rc != 1)
        goto out;
    text = xmalloc(len + 1);
    if (spool_pread_all(fd, text, len, 0) < 0) {
        rc = set_err(err, "%s: cannot read: %s", path, spool_errtext(errno));
        goto out;
    }
    text[len] = '\0';
    rc = SPOOL_CORRUPT;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strchr(line, '\r') != NULL) { /* never written: a state that could not be again */
            set_err(err, "%s: a line holds a carriage return", path);
            goto out;
        }
        if (first) {
            if (strcmp(line, STATE_MAGIC) != 0) {
                set_err(err, "%s: not a byosmtp state file of version 1", path);
                goto out;
            }
            first = false;
        } else if (strncmp(line, "id: ", 4) == 0) {
            if (strcmp(line + 4, id) != 0) {
                set_err(err, "%s: holds the state of another copy", path);
                goto out;
            }
        } else if (strncmp(line, "attempts: ", 10) == 0 && spool_parse_u64(line + 10, &u) &&
                   u <= UINT32_MAX) {
            st->attempts = (uint32_t)u;
            have_att = true;
        } else if (strncmp(line, "next-attempt: ", 14) == 0 && spool_parse_u64(line + 14, &u) &&
                   u <= INT64_MAX) {
            st->next_attempt = (int64_t)u;
            have_next = true;
        } else if (strcmp(line, "delay-warned: 1") == 0) {
            st->delay_warned = true;
        } else if (strncmp(line, "last-error:", 11) == 0) {
            free(st->last_error);
            st->last_error = xstrdup(line[11] == ' ' ? line + 12 : line + 11);
        } else if (strncmp(line, "rcpt: ", 6) == 0) {
            const char *v = line + 6;
            int s = -1;

            for (int k = 0; k < NSTATES; k++) {
                size_t l = strlen(rcpt_state_names[k]);

                if (strncmp(v, rcpt_state_names[k], l) == 0 && (v[l] == ' ' || v[l] == '\0'))
                    s = k;
            }
            if (s < 0 || i >= nrcpts) {
                set_err(err, "%s: a recipient line is malformed or there are too many", path);
                goto out;
            }
            st->rcpt[i++] = (enum spool_rcpt_state)s;
        }
    }
    if (first || !have_att || !have_next || i != nrcpts) {
        set_err(err, "%s: incomplete state (expected %zu recipients, found %zu)", path, nrcpts, i);
        goto out;
    }
    rc = 1;
out:
    if (rc != 1) {
        spool_state_free(st);
        state_initial(st, nrcpts);
    }
    free(text);
    buf_free(&head);
    close(fd);
    free(path);
    return rc;
}

/* spool_state_write - replace queue/ID.state by write-new-then-rename */
int spool_state_write(struct spool *sp, const char *id, const struct spool_state *st, char **err)
{
    char *tmp, *dst;
    struct buf b;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    char trailer[TRAILER_LEN + 1];
    int fd, rc = -1;

    if (!spool_valid_id(id))
        return set_err(err, "spool: '%s' is not a copy id", id);
    if (!spool_one_line_ok(st->last_error ? st->last_error : ""))
        return set_err(err, "spool copy %s: the last error must be one line", id);
    tmp = xasprintf("%s/%s.state.tmp", sp->incoming, id);
    dst = xasprintf("%s/%s.state", sp->queue, id);
    buf_init(&b);
    buf_printf(&b, STATE_MAGIC "\nid: %s\nattempts: %" PRIu32 "\nnext-attempt: %lld\n"
               "last-error: %s\n", id, st->attempts, (long long)st->next_attempt,
               st->last_error ? st->last_error : "");
    if (st->delay_warned) /* only when set: a reader of an earlier version skips the line */
        buf_puts(&b, "delay-warned: 1\n");
    for (size_t i = 0; i < st->nrcpts; i++)
        buf_printf(&b, "rcpt: %s\n", spool_rcpt_state_name(st->rcpt[i]));
    if (EVP_Digest(b.data, b.len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32) {
        set_err(err, "spool copy %s: SHA-256 failed", id);
        goto out;
    }
    spool_trailer_format(b.len, digest, trailer);
    buf_append(&b, trailer, TRAILER_LEN);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        set_err(err, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0) {
        set_err(err, "%s: cannot write: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) < 0 || rename(tmp, dst) < 0) {
        set_err(err, "%s: cannot replace: %s", dst, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = spool_sync_dir(sp->queue, err);
out:
    buf_free(&b);
    free(tmp);
    free(dst);
    return rc;
}
