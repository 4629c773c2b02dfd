/*
 * smtp_data - the DATA stream encoder: turns message bytes, fed in chunks of any size, into
 * what may go on the wire between "354" and the final reply (RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6).
 *
 *  - Line endings are CRLF only: CRLF stays, and a bare CR or a bare LF each ends a line
 *    (CR CR LF is two line ends), so that no bare CR or LF ever reaches the provider and no
 *    "\n.\n"-style ending can smuggle a second message (SMTP smuggling).
 *  - A line that starts with '.' gets one more '.' (dot-stuffing).
 *  - A line longer than 998 octets is broken with CRLF after 998 octets (the continuation is
 *    dot-stuffed like any line).
 *  - smtp_data_finish() ends the last line if needed and appends ".\r\n", so the terminator is
 *    always CRLF.CRLF, also for an empty body or one without a final newline.
 * State carries over chunk boundaries (a CR at the end of one chunk and an LF at the start of
 * the next are one CRLF). Fed without an output buffer, the encoder only counts: a measuring pass
 * that gives, by the same code, the exact size of what an encoding pass sends (smtp_data_size).
 * Memory is the caller's output buffer only: thread-safe per encoder.
 */
#ifndef BYOSMTP_SMTP_DATA_H
#define BYOSMTP_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define SMTP_DATA_MAX_LINE 998 /* octets per line, CRLF not counted */

struct smtp_data_enc {
    size_t col;       /* octets written on the current output line */
    bool pending_cr;  /* the last input byte was a CR whose line end is not yet written */
    bool eightbit;    /* a byte >= 0x80 has been seen */
    uint64_t in_bytes; /* input octets consumed */
    uint64_t out_bytes; /* output octets produced */
};

/* smtp_data_init - start a message */
void smtp_data_init(struct smtp_data_enc *e);
/* smtp_data_feed - encode N bytes of IN, appending to OUT; with OUT NULL only count them (a
 * measuring pass: out_bytes and eightbit as if written) */
void smtp_data_feed(struct smtp_data_enc *e, const void *in, size_t n, struct buf *out);
/* smtp_data_finish - end the last line when needed and append the ".\r\n" terminator */
void smtp_data_finish(struct smtp_data_enc *e, struct buf *out);
/*
 * smtp_data_size - the octets of the message as encoded so far, with the CRLF that
 * smtp_data_finish() would add to end an unfinished last line, without the terminating ".\r\n":
 * after the whole message, exactly the DATA octets the server receives before the terminator
 * (dot-stuffing included), which is what SIZE declares (smtp_client.h).
 */
uint64_t smtp_data_size(const struct smtp_data_enc *e);

/* smtp_data_has_8bit - true when any of the N bytes of P is >= 0x80 */
bool smtp_data_has_8bit(const void *p, size_t n);

#endif
