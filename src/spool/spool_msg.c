/*
 * spool_msg - the reception file incoming/ID.rcv of one message: header fields as
 * "name\0value\0" records, then the body, appended as the milter receives them (header records
 * gathered in memory and written together, up to SPOOL_MSG_BATCH bytes at a time); read back
 * when the message is complete and its copies are written (spool_copy.c).
 *
 * Thread-safety: a struct spool_msg belongs to the one milter connection that began it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

/* spool_msg_begin - create incoming/ID.rcv, open for reading and writing */
int spool_msg_begin(struct spool *sp, struct spool_msg **out, char **err)
{
    struct spool_msg *m = xcalloc(1, sizeof(*m));
    char id[SPOOL_ID_LEN + 1];

    *out = NULL;
    m->sp = sp;
    buf_init(&m->pending);
    m->fd = spool_create_new(sp->incoming, ".rcv", id, &m->path, O_RDWR, err);
    if (m->fd < 0) {
        buf_free(&m->pending);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* spool_msg_flush - write the header records held in memory */
int spool_msg_flush(struct spool_msg *m, char **err)
{
    if (m->pending.len == 0)
        return 0;
    if (write_all(m->fd, m->pending.data, m->pending.len) < 0)
        return set_err(err, "spool %s: write failed: %s", m->path, strerror(errno));
    buf_reset(&m->pending);
    return 0;
}

/* spool_msg_header - append one "name\0value\0" record; refused once the body has begun */
int spool_msg_header(struct spool_msg *m, const char *name, const char *value, char **err)
{
    size_t nl = strlen(name) + 1, vl = strlen(value) + 1;

    if (m->body_bytes > 0)
        return set_err(err, "spool %s: a header field arrived after the body", m->path);
    buf_append(&m->pending, name, nl);
    buf_append(&m->pending, value, vl);
    m->header_bytes += nl + vl;
    m->nheaders++;
    return m->pending.len >= SPOOL_MSG_BATCH ? spool_msg_flush(m, err) : 0;
}

/* spool_msg_body - append N bytes of the body */
int spool_msg_body(struct spool_msg *m, const void *p, size_t n, char **err)
{
    if (spool_msg_flush(m, err) < 0)
        return -1;
    if (write_all(m->fd, p, n) < 0)
        return set_err(err, "spool %s: write failed: %s", m->path, strerror(errno));
    m->body_bytes += n;
    return 0;
}

/* spool_msg_header_count - header fields written so far */
size_t spool_msg_header_count(const struct spool_msg *m)
{
    return m->nheaders;
}

/* spool_msg_headers - every header field read back into one block */
int spool_msg_headers(struct spool_msg *m, char **block, const char ***names, const char ***values,
                      size_t *n, char **err)
{
    char *b, *p, *end;
    const char **nv, **vv;
    size_t i = 0;

    if (spool_msg_flush(m, err) < 0)
        return -1;
    b = xmalloc(m->header_bytes + 1);
    nv = xcalloc(m->nheaders + 1, sizeof(*nv));
    vv = xcalloc(m->nheaders + 1, sizeof(*vv));

    if (m->header_bytes > 0 && spool_pread_all(m->fd, b, m->header_bytes, 0) < 0) {
        set_err(err, "spool %s: cannot read the header back: %s", m->path, spool_errtext(errno));
        free(b);
        free(nv);
        free(vv);
        return -1;
    }
    b[m->header_bytes] = '\0';
    p = b;
    end = b + m->header_bytes;
    while (p < end && i < m->nheaders) {
        nv[i] = p;
        p += strlen(p) + 1;
        vv[i] = p < end ? p : "";
        p += strlen(vv[i]) + 1;
        i++;
    }
    *block = b;
    *names = nv;
    *values = vv;
    *n = i;
    return 0;
}

/* spool_msg_discard - close and remove the reception file, and free (NULL is fine) */
void spool_msg_discard(struct spool_msg *m)
{
    if (m == NULL)
        return;
    if (m->fd >= 0)
        close(m->fd);
    if (m->path)
        unlink(m->path);
    free(m->path);
    buf_free(&m->pending);
    free(m);
}
