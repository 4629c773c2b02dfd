/*
 * smtp_data - CRLF normalisation, dot-stuffing and line breaking for DATA, and the measure of
 * it (the SIZE to declare). Thread-safe per encoder.
 */
#include "config.h"

#include <string.h>

#include "smtp/smtp_data.h"

void smtp_data_init(struct smtp_data_enc *e)
{
    memset(e, 0, sizeof(*e));
}

/* put - N octets of P onto OUT, or only counted when OUT is NULL */
static void put(struct smtp_data_enc *e, struct buf *out, const void *p, size_t n)
{
    if (out)
        buf_append(out, p, n);
    e->out_bytes += n;
}

/* end_line - write CRLF and start a new line */
static void end_line(struct smtp_data_enc *e, struct buf *out)
{
    put(e, out, "\r\n", 2);
    e->col = 0;
}

void smtp_data_feed(struct smtp_data_enc *e, const void *in, size_t n, struct buf *out)
{
    const unsigned char *p = in;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t room, j;

        if (c == '\n') {
            /* CRLF, or a bare LF: either way one line end */
            end_line(e, out);
            e->pending_cr = false;
            i++;
            continue;
        }
        if (e->pending_cr) {
            /* the CR before this byte was bare: it ended its line */
            end_line(e, out);
            e->pending_cr = false;
        }
        if (c == '\r') {
            e->pending_cr = true;
            i++;
            continue;
        }
        if (e->col >= SMTP_DATA_MAX_LINE)
            end_line(e, out);
        if (e->col == 0 && c == '.') {
            put(e, out, ".", 1);
            e->col++;
        }
        /* Copy the run of ordinary bytes that still fits on this line in one go. */
        room = SMTP_DATA_MAX_LINE - e->col;
        for (j = i; j < n && j - i < room && p[j] != '\r' && p[j] != '\n'; j++)
            if (p[j] >= 0x80)
                e->eightbit = true;
        put(e, out, p + i, j - i);
        e->col += j - i;
        i = j;
    }
    e->in_bytes += n;
}

void smtp_data_finish(struct smtp_data_enc *e, struct buf *out)
{
    if (e->pending_cr || e->col > 0)
        end_line(e, out);
    e->pending_cr = false;
    put(e, out, ".\r\n", 3);
}

uint64_t smtp_data_size(const struct smtp_data_enc *e)
{
    return e->out_bytes + (e->pending_cr || e->col > 0 ? 2 : 0);
}

bool smtp_data_has_8bit(const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80)
            return true;
    return false;
}
