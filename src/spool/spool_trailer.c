/*
 * spool_trailer - the integrity trailer that ends every copy and every state file: one line
 * "byosmtp-end: LENGTH SHA256" covering every byte before it (doc/spool.md). A file whose
 * trailer is missing, malformed or does not match was torn by a crash, or damaged since.
 *
 * Thread-safety: reentrant; nothing here keeps state between calls.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

/* spool_trailer_format - the trailer line for LEN bytes with digest MD (32 bytes) into out */
void spool_trailer_format(uint64_t len, const unsigned char *md, char out[TRAILER_LEN + 1])
{
    int k = snprintf(out, TRAILER_LEN + 1, TRAILER_TAG "%020" PRIu64 " ", len);

    for (int i = 0; i < 32; i++)
        k += snprintf(out + k, TRAILER_LEN + 1 - (size_t)k, "%02x", md[i]);
    out[k++] = '\n';
    out[k] = '\0';
}

/*
 * spool_trailer_check - read the trailer of the SIZE-byte file FD; *len = bytes it covers and
 * want = its digest. SPOOL_CORRUPT with *err when missing or malformed, -1 on I/O error.
 */
int spool_trailer_check(int fd, const char *path, uint64_t size, uint64_t *len,
                        unsigned char want[32], char **err)
{
    char t[TRAILER_LEN + 1];
    uint64_t n;

    if (size < TRAILER_LEN) {
        set_err(err, "%s: torn: too short for its integrity trailer", path);
        return SPOOL_CORRUPT;
    }
    if (spool_pread_all(fd, t, TRAILER_LEN, size - TRAILER_LEN) < 0)
        return set_err(err, "%s: cannot read: %s", path, spool_errtext(errno));
    t[TRAILER_LEN] = '\0';
    if (strncmp(t, TRAILER_TAG, sizeof(TRAILER_TAG) - 1) != 0 || t[TRAILER_LEN - 1] != '\n' ||
        t[TRAILER_LEN - 66] != ' ') {
        set_err(err, "%s: torn: no integrity trailer at the end (an interrupted write)", path);
        return SPOOL_CORRUPT;
    }
    t[TRAILER_LEN - 66] = '\0';
    if (!spool_parse_u64(t + sizeof(TRAILER_TAG) - 1, &n) || n != size - TRAILER_LEN) {
        set_err(err, "%s: torn: the trailer covers a different length than the file has", path);
        return SPOOL_CORRUPT;
    }
    for (int i = 0; i < 32; i++) {
        unsigned v;

        if (sscanf(t + TRAILER_LEN - 65 + 2 * i, "%2x", &v) != 1) {
            set_err(err, "%s: torn: the trailer's checksum is not hex", path);
            return SPOOL_CORRUPT;
        }
        want[i] = (unsigned char)v;
    }
    *len = n;
    return 1;
}

/*
 * spool_trailer_hash - SHA-256 of the first LEN bytes of FD; the first bytes up to and including
 * the first empty line (at most ENVELOPE_MAX) go to HEAD when HEAD is not NULL. 1 when the
 * digest equals WANT, SPOOL_CORRUPT when not, -1 on I/O error.
 */
int spool_trailer_hash(int fd, const char *path, uint64_t len, const unsigned char want[32],
                       struct buf *head, char **err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned glen = 0;
    char *chunk = xmalloc(COPY_CHUNK);
    bool head_done = head == NULL;
    uint64_t off = 0;
    int rc = -1;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        set_err(err, "%s: cannot start SHA-256", path);
        goto out;
    }
    while (off < len) {
        size_t n = len - off > COPY_CHUNK ? COPY_CHUNK : (size_t)(len - off);

        if (spool_pread_all(fd, chunk, n, off) < 0) {
            set_err(err, "%s: cannot read: %s", path, spool_errtext(errno));
            goto out;
        }
        EVP_DigestUpdate(md, chunk, n);
        if (!head_done) {
            size_t start = head->len >= 1 ? head->len - 1 : 0;
            char *blank;

            buf_append(head, chunk, n);
            blank = memmem(head->data + start, head->len - start, "\n\n", 2);
            if (blank != NULL) {
                head->len = (size_t)(blank - head->data) + 2;
                head->data[head->len] = '\0';
                head_done = true;
            } else if (head->len > ENVELOPE_MAX) {
                set_err(err, "%s: the envelope is not terminated by an empty line", path);
                rc = SPOOL_CORRUPT;
                goto out;
            }
        }
        off += n;
    }
    if (EVP_DigestFinal_ex(md, got, &glen) != 1 || glen != 32) {
        set_err(err, "%s: SHA-256 failed", path);
        goto out;
    }
    if (memcmp(got, want, 32) != 0) {
        set_err(err, "%s: corrupt: the SHA-256 in the trailer does not match the content", path);
        rc = SPOOL_CORRUPT;
        goto out;
    }
    if (!head_done) {
        set_err(err, "%s: the envelope is not terminated by an empty line", path);
        rc = SPOOL_CORRUPT;
        goto out;
    }
    rc = 1;
out:
    EVP_MD_CTX_free(md);
    free(chunk);
    return rc;
}
