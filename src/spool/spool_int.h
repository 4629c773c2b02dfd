/*
 * spool_int - what the spool's own source files share: the layout of struct spool and of a
 * reception file, the trailer's format, and the helpers for reading, naming and syncing files.
 * Not for use outside src/spool/spool*.c.
 */
#ifndef BYOSMTP_SPOOL_INT_H
#define BYOSMTP_SPOOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "util/util.h"

#define COPY_CHUNK 65536
#define TRAILER_TAG "byosmtp-end: "
/* "byosmtp-end: " 20 digits, a space, 64 hex digits, LF */
#define TRAILER_LEN (sizeof(TRAILER_TAG) - 1 + 20 + 1 + 64 + 1)
#define ENVELOPE_MAX (16u * 1024 * 1024)

struct spool {
    char *path;
    char *incoming, *queue, *corrupt;
};

struct spool_msg {
    struct spool *sp;
    char *path;
    int fd;
    uint64_t header_bytes; /* "name\0value\0" records at the start of the file */
    uint64_t body_bytes;   /* the body follows them */
    size_t nheaders;
    struct buf pending; /* header records not yet written: flushed at SPOOL_MSG_BATCH bytes, before
                           the body and before they are read back (one write for most headers) */
};
#define SPOOL_MSG_BATCH 65536

/* spool_pread_all - read exactly N bytes at OFF; 0, or -1 (errno set; 0 for a short file) */
int spool_pread_all(int fd, void *p, size_t n, uint64_t off);
/* spool_errtext - strerror, or "unexpected end of file" for a short read */
const char *spool_errtext(int e);
/* spool_sync_dir - make the entries of directory PATH durable; 0 or -1 with *err */
int spool_sync_dir(const char *path, char **err);
/*
 * spool_create_new - create DIR/ID SUFFIX with a fresh id, O_EXCL and open MODE (O_WRONLY or
 * O_RDWR); the fd with *path (caller frees), or -1 with *err
 */
int spool_create_new(const char *dir, const char *suffix, char id[SPOOL_ID_LEN + 1], char **path,
                     int mode, char **err);
/* spool_dir_path - the directory DIR ("queue", "incoming", "corrupt") of SP, or NULL */
const char *spool_dir_path(struct spool *sp, const char *dir);
/* spool_parse_u64 - a decimal number that is the whole string; false otherwise */
bool spool_parse_u64(const char *s, uint64_t *v);
/* spool_one_line_ok - a value that can be one line of a spool file */
bool spool_one_line_ok(const char *s);

/* ---- the integrity trailer of copies and state files (spool_trailer.c) ---- */

/* spool_trailer_format - the trailer line for LEN bytes with digest MD (32 bytes) into OUT */
void spool_trailer_format(uint64_t len, const unsigned char *md, char out[TRAILER_LEN + 1]);
/*
 * spool_trailer_check - read the trailer of the SIZE-byte file FD; *len = bytes it covers and
 * want = its digest. 1, SPOOL_CORRUPT with *err when missing or malformed, -1 on I/O error.
 */
int spool_trailer_check(int fd, const char *path, uint64_t size, uint64_t *len,
                        unsigned char want[32], char **err);
/*
 * spool_trailer_hash - SHA-256 of the first LEN bytes of FD; the first bytes up to and including
 * the first empty line (at most ENVELOPE_MAX) go to HEAD when HEAD is not NULL. 1 when the
 * digest equals WANT, SPOOL_CORRUPT when not, -1 on I/O error.
 */
int spool_trailer_hash(int fd, const char *path, uint64_t len, const unsigned char want[32],
                       struct buf *head, char **err);

#endif
