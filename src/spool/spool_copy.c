/*
 * spool_copy - one target's copy of a message: the envelope, the rewritten message and the
 * integrity trailer (spool_trailer.c), written once into incoming/ID, fsynced, published by a
 * rename to queue/ID, and read back by delivery and recovery (doc/spool.md, "Copy file").
 *
 * Memory: message bytes are copied in chunks of COPY_CHUNK; only the envelope and the header
 * section are ever held whole. Thread-safety: a copy being written or read belongs to one
 * thread at a time.
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

#define SPOOL_MAGIC "byosmtp-spool: 1"

struct spool_copy_w {
    struct spool *sp;
    char id[SPOOL_ID_LEN + 1];
    char *in_path, *q_path;
    int fd; /* incoming/ID, open from spool_copy_new until spool_copy_write; else -1 */
    bool published;
};

/* ---- writing a copy ---- */

/* spool_envelope_free - free the fields of E and zero it */
void spool_envelope_free(struct spool_envelope *e)
{
    free(e->id);
    free(e->target);
    free(e->mta_queue_id);
    free(e->sender);
    free(e->envelope_from);
    free(e->mail_params);
    for (size_t i = 0; i < e->nrcpts; i++) {
        free(e->rcpts[i]);
        if (e->rcpt_params != NULL)
            free(e->rcpt_params[i]);
    }
    free(e->rcpts);
    free(e->rcpt_params);
    memset(e, 0, sizeof(*e));
}

/* spool_copy_new - a new copy: a fresh id and its empty file incoming/ID */
int spool_copy_new(struct spool *sp, struct spool_copy_w **out, char **err)
{
    struct spool_copy_w *w = xcalloc(1, sizeof(*w));
    int fd;

    *out = NULL;
    w->sp = sp;
    fd = spool_create_new(sp->incoming, "", w->id, &w->in_path, O_WRONLY, err);
    if (fd < 0) {
        free(w);
        return -1;
    }
    w->fd = fd; /* kept for spool_copy_write: one open per copy */
    w->q_path = xasprintf("%s/%s", sp->queue, w->id);
    *out = w;
    return 0;
}

/* spool_copy_id - the id of the copy being written */
const char *spool_copy_id(const struct spool_copy_w *w)
{
    return w->id;
}

/* hashed_write - write and feed the digest; 0 or -1 (errno) */
static int hashed_write(int fd, EVP_MD_CTX *md, const void *p, size_t n)
{
    if (EVP_DigestUpdate(md, p, n) != 1) {
        errno = EIO;
        return -1;
    }
    return write_all(fd, p, n);
}

/* envelope_text - the envelope block of a copy, ending in its empty line */
static void envelope_text(struct buf *b, const struct spool_envelope *e, uint64_t hsize,
                          uint64_t bsize)
{
    buf_printf(b, SPOOL_MAGIC "\nid: %s\ntarget: %s\nqueue-id: %s\narrival: %lld\n", e->id,
               e->target, e->mta_queue_id ? e->mta_queue_id : "", (long long)e->arrival);
    buf_printf(b, "sender: %s\nenvelope-from: %s\nmail-params: %s\n", e->sender,
               e->envelope_from, e->mail_params ? e->mail_params : "");
    for (size_t i = 0; i < e->nrcpts; i++) {
        buf_printf(b, "rcpt: %s\n", e->rcpts[i]);
        /* the line after a recipient's, only when its RCPT had parameters (doc/spool.md) */
        if (e->rcpt_params != NULL && e->rcpt_params[i] != NULL && e->rcpt_params[i][0] != '\0')
            buf_printf(b, "rcpt-params: %s\n", e->rcpt_params[i]);
    }
    buf_printf(b, "header-size: %" PRIu64 "\nbody-size: %" PRIu64 "\n\n", hsize, bsize);
}

/* spool_copy_write - envelope, header section, body and trailer into incoming/ID, fsynced */
int spool_copy_write(struct spool_copy_w *w, const struct spool_envelope *env, const char *headers,
                     size_t hlen, struct spool_msg *m, char **err)
{
    struct buf b;
    EVP_MD_CTX *md = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    char trailer[TRAILER_LEN + 1], *chunk = NULL;
    uint64_t total, left, off;
    int fd = -1, rc = -1;

    if (env->nrcpts == 0)
        return set_err(err, "spool copy %s: no recipients", w->id);
    if (!spool_one_line_ok(env->target) || !spool_one_line_ok(env->sender) ||
        !spool_one_line_ok(env->envelope_from) ||
        !spool_one_line_ok(env->mta_queue_id ? env->mta_queue_id : "") ||
        !spool_one_line_ok(env->mail_params ? env->mail_params : ""))
        return set_err(err, "spool copy %s: an envelope value holds a line break", w->id);
    for (size_t i = 0; i < env->nrcpts; i++)
        if (!spool_one_line_ok(env->rcpts[i]) ||
            (env->rcpt_params != NULL && env->rcpt_params[i] != NULL &&
             !spool_one_line_ok(env->rcpt_params[i])))
            return set_err(err, "spool copy %s: a recipient holds a line break", w->id);

    buf_init(&b);
    {
        struct spool_envelope e = *env;

        e.id = w->id;
        envelope_text(&b, &e, (uint64_t)hlen + 2, m->body_bytes);
    }
    if (m->pending.len > 0) {
        set_err(err, "spool %s: the header was not read back before the copy", m->path);
        goto out;
    }
    fd = w->fd;
    w->fd = -1;
    if (fd < 0) {
        set_err(err, "spool %s: the copy was already written", w->in_path);
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        set_err(err, "spool %s: cannot start SHA-256", w->in_path);
        goto out;
    }
    buf_append(&b, headers, hlen);
    buf_append(&b, "\r\n", 2);
    off = m->header_bytes;
    left = m->body_bytes;
    if (left <= COPY_CHUNK) {
        /* A message that fits one chunk goes out in one write, its trailer included. */
        size_t at = b.len;

        buf_reserve(&b, (size_t)left + TRAILER_LEN);
        if (left > 0 && spool_pread_all(m->fd, b.data + at, (size_t)left, off) < 0) {
            set_err(err, "spool %s: cannot read the message back: %s", m->path,
                    spool_errtext(errno));
            goto out;
        }
        b.len = at + (size_t)left;
        b.data[b.len] = '\0';
        left = 0;
        if (EVP_DigestUpdate(md, b.data, b.len) != 1)
            goto werr;
        total = b.len;
    } else {
        if (hashed_write(fd, md, b.data, b.len) < 0)
            goto werr;
        total = b.len;
        buf_reset(&b);
    }
    chunk = left > 0 ? xmalloc(COPY_CHUNK) : NULL;
    for (; left > 0;) {
        size_t n = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;

        if (spool_pread_all(m->fd, chunk, n, off) < 0) {
            set_err(err, "spool %s: cannot read the message back: %s", m->path,
                    spool_errtext(errno));
            goto out;
        }
        if (hashed_write(fd, md, chunk, n) < 0)
            goto werr;
        off += n;
        left -= n;
        total += n;
    }
    if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32) {
        set_err(err, "spool %s: SHA-256 failed", w->in_path);
        goto out;
    }
    spool_trailer_format(total, digest, trailer);
    buf_append(&b, trailer, TRAILER_LEN);
    if (write_all(fd, b.data, b.len) < 0)
        goto werr;
    if (fsync(fd) < 0) {
        set_err(err, "spool %s: fsync failed: %s", w->in_path, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        set_err(err, "spool %s: close failed: %s", w->in_path, strerror(errno));
        goto out;
    }
    fd = -1;
    rc = 0;
    goto out;
werr:
    set_err(err, "spool %s: write failed: %s", w->in_path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md);
    free(chunk);
    buf_free(&b);
    return rc;
}

/* spool_copy_publish - rename incoming/ID to queue/ID */
int spool_copy_publish(struct spool_copy_w *w, char **err)
{
    if (rename(w->in_path, w->q_path) < 0)
        return set_err(err, "spool: cannot move %s to %s: %s", w->in_path, w->q_path,
                       strerror(errno));
    w->published = true;
    return 0;
}

/* spool_copy_abandon - remove the copy's file wherever it is, and free the handle */
void spool_copy_abandon(struct spool_copy_w *w)
{
    if (w == NULL)
        return;
    unlink(w->published ? w->q_path : w->in_path);
    spool_copy_release(w);
}

/* spool_copy_release - free the handle, keeping the file */
void spool_copy_release(struct spool_copy_w *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->in_path);
    free(w->q_path);
    free(w);
}

/* ---- reading a copy back ---- */

/* parse_envelope - the envelope block HEAD into C; false with *err when it is not well-formed */
static bool parse_envelope(const char *path, const char *id, char *head, struct spool_copy *c,
                           char **err)
{
    struct spool_envelope *e = &c->env;
    char *line, *save = NULL;
    bool first = true, have_hs = false, have_bs = false, have_arrival = false;
    size_t cap = 0;

    for (line = strtok_r(head, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strstr(line, ": "), *v;
        uint64_t u;

        if (strchr(line, '\r') != NULL) { /* never written: values are one line */
            set_err(err, "%s: malformed envelope line", path);
            return false;
        }
        if (first) {
            if (strcmp(line, SPOOL_MAGIC) != 0) {
                set_err(err, "%s: not a byosmtp spool file of version 1", path);
                return false;
            }
            first = false;
            continue;
        }
        if (colon == NULL) {
            /* "key: " with an empty value has no room for the space after strtok; accept "key:" */
            size_t l = strlen(line);

            if (l > 0 && line[l - 1] == ':') {
                line[l - 1] = '\0';
                v = line + l;
            } else {
                set_err(err, "%s: malformed envelope line", path);
                return false;
            }
        } else {
            *colon = '\0';
            v = colon + 2;
        }
        if (strcmp(line, "id") == 0) {
            free(e->id);
            e->id = xstrdup(v);
        } else if (strcmp(line, "target") == 0) {
            free(e->target);
            e->target = xstrdup(v);
        } else if (strcmp(line, "queue-id") == 0) {
            free(e->mta_queue_id);
            e->mta_queue_id = xstrdup(v);
        } else if (strcmp(line, "arrival") == 0 && spool_parse_u64(v, &u) && u <= INT64_MAX) {
            e->arrival = (int64_t)u;
            have_arrival = true;
        } else if (strcmp(line, "sender") == 0) {
            free(e->sender);
            e->sender = xstrdup(v);
        } else if (strcmp(line, "envelope-from") == 0) {
            free(e->envelope_from);
            e->envelope_from = xstrdup(v);
        } else if (strcmp(line, "mail-params") == 0) {
            free(e->mail_params);
            e->mail_params = xstrdup(v);
        } else if (strcmp(line, "rcpt") == 0 && *v) {
            if (e->nrcpts == cap) {
                cap = cap ? cap * 2 : 8;
                e->rcpts = xrealloc(e->rcpts, cap * sizeof(*e->rcpts));
                e->rcpt_params = xrealloc(e->rcpt_params, cap * sizeof(*e->rcpt_params));
            }
            e->rcpt_params[e->nrcpts] = NULL;
            e->rcpts[e->nrcpts++] = xstrdup(v);
        } else if (strcmp(line, "rcpt-params") == 0 && e->nrcpts > 0) {
            /* the parameters of the recipient just read */
            free(e->rcpt_params[e->nrcpts - 1]);
            e->rcpt_params[e->nrcpts - 1] = xstrdup(v);
        } else if (strcmp(line, "header-size") == 0 && spool_parse_u64(v, &u)) {
            c->header_size = u;
            have_hs = true;
        } else if (strcmp(line, "body-size") == 0 && spool_parse_u64(v, &u)) {
            c->body_size = u;
            have_bs = true;
        }
        /* Other keys are ignored, so a later version may add lines a reader of this one skips. */
    }
    if (e->id == NULL || strcmp(e->id, id) != 0 || e->target == NULL || e->sender == NULL ||
        e->envelope_from == NULL || e->nrcpts == 0 || !have_hs || !have_bs || !have_arrival) {
        set_err(err, "%s: the envelope lacks a required line or names another id", path);
        return false;
    }
    if (e->mta_queue_id == NULL)
        e->mta_queue_id = xstrdup("");
    if (e->mail_params == NULL)
        e->mail_params = xstrdup("");
    for (size_t i = 0; i < e->nrcpts; i++)
        if (e->rcpt_params[i] == NULL)
            e->rcpt_params[i] = xstrdup("");
    return true;
}

/* spool_copy_open - open DIR/ID, check its trailer and parse its envelope */
int spool_copy_open(struct spool *sp, const char *dir, const char *id, struct spool_copy **out,
                    char **err)
{
    const char *d = spool_dir_path(sp, dir);
    struct spool_copy *c;
    struct stat sb;
    struct buf head;
    unsigned char want[32];
    uint64_t len;
    char *path;
    int fd, rc;

    *out = NULL;
    if (d == NULL || !spool_valid_id(id))
        return set_err(err, "spool: '%s' is not a copy id", id);
    path = xasprintf("%s/%s", d, id);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = errno == ENOENT ? 0 : set_err(err, "%s: cannot open: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        set_err(err, "%s: not a regular file", path);
        close(fd);
        free(path);
        return SPOOL_CORRUPT;
    }
    rc = spool_trailer_check(fd, path, (uint64_t)sb.st_size, &len, want, err);
    buf_init(&head);
    if (rc == 1)
        rc = spool_trailer_hash(fd, path, len, want, &head, err);
    c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    if (rc == 1 && !parse_envelope(path, id, head.data, c, err))
        rc = SPOOL_CORRUPT;
    if (rc == 1 && (c->header_size > len - head.len ||
                    c->body_size != len - head.len - c->header_size)) {
        set_err(err, "%s: the sizes in the envelope do not add up to the file", path);
        rc = SPOOL_CORRUPT;
    }
    c->msg_offset = head.len;
    buf_free(&head);
    free(path);
    if (rc != 1) {
        spool_copy_close(c);
        return rc;
    }
    *out = c;
    return 1;
}

/* spool_copy_read_headers - append the header section, its empty line included, to OUT */
int spool_copy_read_headers(struct spool_copy *c, struct buf *out, char **err)
{
    char *p;

    if (c->header_size > ENVELOPE_MAX * 4ULL)
        return set_err(err, "spool copy %s: header section too large", c->env.id);
    p = xmalloc(c->header_size + 1);
    if (c->header_size > 0 && spool_pread_all(c->fd, p, c->header_size, c->msg_offset) < 0) {
        free(p);
        return set_err(err, "spool copy %s: cannot read: %s", c->env.id, spool_errtext(errno));
    }
    buf_append(out, p, c->header_size);
    free(p);
    return 0;
}

/* spool_copy_read_body - the next at most N bytes of the body; 0 at its end */
ssize_t spool_copy_read_body(struct spool_copy *c, void *p, size_t n, char **err)
{
    uint64_t left = c->body_size - c->body_pos;

    if (left == 0)
        return 0;
    if (n > left)
        n = (size_t)left;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (spool_pread_all(c->fd, p, n, c->msg_offset + c->header_size + c->body_pos) < 0)
        return set_err(err, "spool copy %s: cannot read: %s", c->env.id, spool_errtext(errno));
    c->body_pos += n;
    return (ssize_t)n;
}

/* spool_copy_close - close the file and free (NULL is fine) */
void spool_copy_close(struct spool_copy *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    spool_envelope_free(&c->env);
    free(c);
}
