/*
 * secret - the master key file and the enc:v1: form of target passwords (AES-256-GCM).
 *
 * Owns: the key file's creation and checks, the key bytes in memory (one locked, non-dumpable
 * page per key, wiped on free), and the encrypted text format
 *     enc:v1:BASE64( key_id[4] || nonce[12] || ciphertext || tag[16] )
 * with the target's name as associated data. Every failure is closed: no partial plaintext is
 * ever returned, intermediate buffers are wiped, and no message holds a password, a ciphertext
 * or key bytes.
 * Thread-safe: a loaded key is never written after secret_key_load returns, and each call uses
 * its own cipher context; OpenSSL's RAND_bytes is thread-safe.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/secret.h"
#include "util/util.h"

#define KEY_ID_LEN 4
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (KEY_ID_LEN + NONCE_LEN)
#define OVERHEAD (HEADER_LEN + TAG_LEN)
/* SMTP AUTH passwords and API keys are far shorter; the bound keeps every length an int for EVP. */
#define PASSWORD_MAX 4096

struct secret_key {
    unsigned char bytes[SECRET_KEY_LEN];
    unsigned char id[KEY_ID_LEN];
    size_t map_len; /* the whole mapping, so free can wipe and unmap it */
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* openssl_reason - the last OpenSSL error reason (never key material); clears the queue */
static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

/* read_all - read exactly N bytes; returns N, fewer at end of file, or -1 */
static ssize_t read_all(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* parent_dir - the directory that holds PATH (caller frees) */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* secret_key_generate - create PATH with 32 random bytes, mode 0600; never overwrites */
int secret_key_generate(const char *path, char **err)
{
    unsigned char key[SECRET_KEY_LEN];
    char *dir = parent_dir(path);
    int fd = -1, rc = -1, saved;

    /* The bytes come first: without good randomness no file is created at all. */
    if (RAND_bytes(key, sizeof(key)) != 1) {
        set_err(err, "%s: cannot get random bytes for the key (%s); no key was written", path,
                openssl_reason());
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            set_err(err,
                    "%s: exists already; remove it first if you really mean to replace the key "
                    "(every stored password must then be entered again)",
                    path);
        else if (errno == ENOENT)
            set_err(err, "%s: directory %s does not exist: create it first (mkdir -m 755 %s)", path,
                    dir, dir);
        else
            set_err(err, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    /* From here on a failure must not leave a partial or weak key behind. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, key, sizeof(key)) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlink(path);
        set_err(err, "%s: cannot write the key: %s; no key was written", path, strerror(saved));
        goto out;
    }
    if (close(fd) != 0) {
        saved = errno;
        unlink(path);
        set_err(err, "%s: cannot write the key: %s; no key was written", path, strerror(saved));
        goto out;
    }
    if (fsync_dir(dir) != 0) {
        saved = errno;
        unlink(path);
        set_err(err, "%s: cannot sync directory %s: %s; no key was written", path, dir,
                strerror(saved));
        goto out;
    }
    rc = 0;
out:
    wipe(key, sizeof(key));
    free(dir);
    return rc;
}

/* key_alloc - a zeroed key on its own page, locked in RAM (best effort), kept out of core dumps */
static struct secret_key *key_alloc(void)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = page > 0 && (size_t)page >= sizeof(struct secret_key) ? (size_t)page
                                                                       : sizeof(struct secret_key);
    struct secret_key *k;

    k = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (k == MAP_FAILED)
        return NULL;
    /* Both may fail (RLIMIT_MEMLOCK, old kernels): the key still works, it is only less guarded. */
    (void)mlock(k, len);
#ifdef MADV_DONTDUMP
    (void)madvise(k, len, MADV_DONTDUMP);
#endif
    k->map_len = len;
    return k;
}

/* secret_key_free - wipe and free (NULL is fine) */
void secret_key_free(struct secret_key *key)
{
    size_t len;

    if (key == NULL)
        return;
    len = key->map_len;
    wipe(key, len);
    (void)munlock(key, len);
    munmap(key, len);
}

/*
 * key_open_checked - open the key file and check what can be checked without reading it:
 * a regular file (not a link, FIFO or directory), no group or other bits, owned by root or
 * the effective user, exactly SECRET_KEY_LEN bytes. Returns the open descriptor, or -1 with *err.
 */
static int key_open_checked(const char *path, char **err)
{
    struct stat st;
    int fd;

    /* O_NONBLOCK: a FIFO put in the key's place must not hang the daemon; fstat rejects it. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return set_err(err,
                           "%s: no such file: create the master key with 'byosmtpctl key generate'",
                           path);
        if (errno == ELOOP)
            return set_err(err,
                           "%s: is a symbolic link; the master key must be a regular file: "
                           "replace the link with the file it points to",
                           path);
        if (errno == EACCES)
            return set_err(err,
                           "%s: cannot open the master key: %s (run as root or as the key's owner)",
                           path, strerror(errno));
        return set_err(err, "%s: cannot open the master key: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        set_err(err, "%s: cannot stat the master key: %s", path, strerror(errno));
        goto bad;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err,
                "%s: is a directory; the master key is a file of 32 bytes: "
                "set secrets.key_file to the file itself",
                path);
        goto bad;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, "%s: is not a regular file; the master key is a file of 32 bytes", path);
        goto bad;
    }
    if ((st.st_mode & 077) != 0) {
        unsigned mode = (unsigned)(st.st_mode & 07777);

        if ((st.st_mode & 044) != 0)
            set_err(err,
                    "%s: mode %04o lets group or others read the master key: run 'chmod 600 %s'",
                    path, mode, path);
        else
            set_err(err,
                    "%s: mode %04o gives group or others access to the master key: "
                    "run 'chmod 600 %s'",
                    path, mode, path);
        goto bad;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        set_err(err, "%s: owned by uid %lu; it must be owned by root or the user byosmtp runs as",
                path, (unsigned long)st.st_uid);
        goto bad;
    }
    if (st.st_size != SECRET_KEY_LEN) {
        set_err(err,
                "%s: is %lld bytes; a master key is exactly 32 bytes "
                "(create one with 'byosmtpctl key generate')",
                path, (long long)st.st_size);
        goto bad;
    }
    return fd;
bad:
    close(fd);
    return -1;
}

/* secret_key_check - the checks of secret_key_load, without reading the key */
int secret_key_check(const char *path, char **err)
{
    int fd = key_open_checked(path, err);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* secret_key_load - read and check the key file */
int secret_key_load(const char *path, struct secret_key **out, char **err)
{
    struct secret_key *key = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int fd, rc = -1;
    ssize_t got;

    *out = NULL;
    fd = key_open_checked(path, err);
    if (fd < 0)
        return -1;
    key = key_alloc();
    if (key == NULL) {
        set_err(err, "%s: cannot allocate memory for the master key: %s", path, strerror(errno));
        goto out;
    }
    got = read_all(fd, key->bytes, SECRET_KEY_LEN);
    if (got < 0) {
        set_err(err, "%s: cannot read the master key: %s", path, strerror(errno));
        goto out;
    }
    if (got != SECRET_KEY_LEN) {
        set_err(err, "%s: changed while it was being read; try again", path);
        goto out;
    }
    if (EVP_Digest(key->bytes, SECRET_KEY_LEN, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len < KEY_ID_LEN) {
        set_err(err, "%s: cannot hash the master key (%s)", path, openssl_reason());
        goto out;
    }
    memcpy(key->id, md, KEY_ID_LEN);
    *out = key;
    key = NULL;
    rc = 0;
out:
    wipe(md, sizeof(md));
    secret_key_free(key);
    close(fd);
    return rc;
}

/* b64_value - the 6-bit value of a base64 character, or -1 */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * b64_decode - strict standard base64: length a multiple of 4, only the alphabet, '=' only as
 * the last one or two characters, and zero padding bits, so every byte string has exactly one
 * accepted text. OUT (may be NULL to only check) must hold 3 * N / 4 bytes. Returns 0 or -1.
 */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t *out_len)
{
    size_t pad = 0, o = 0;

    if (n == 0 || n % 4 != 0)
        return -1;
    if (in[n - 1] == '=')
        pad = in[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t chars = (i + 4 == n) ? 4 - pad : 4;
        uint32_t group = 0;

        for (size_t j = 0; j < 4; j++) {
            if (j >= chars) {
                if (in[i + j] != '=')
                    return -1;
                v[j] = 0;
            } else if ((v[j] = b64_value((unsigned char)in[i + j])) < 0) {
                return -1;
            }
            group = (group << 6) | (uint32_t)v[j];
        }
        if ((pad == 1 && i + 4 == n && (v[2] & 0x3)) || (pad == 2 && i + 4 == n && (v[1] & 0xf)))
            return -1;
        for (size_t j = 0; j < chars - 1; j++) {
            if (out != NULL)
                out[o] = (unsigned char)(group >> (16 - 8 * j));
            o++;
        }
    }
    *out_len = o;
    return 0;
}

/* b64_encode - standard base64 of N bytes, padded, no line breaks (caller frees) */
static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    size_t o = 0, i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t g = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64_alphabet[g >> 18];
        out[o++] = b64_alphabet[(g >> 12) & 63];
        out[o++] = b64_alphabet[(g >> 6) & 63];
        out[o++] = b64_alphabet[g & 63];
    }
    if (i < n) {
        uint32_t g = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

        out[o++] = b64_alphabet[g >> 18];
        out[o++] = b64_alphabet[(g >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(g >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* check_name - the target name is the associated data, so it must be there */
static int check_name(const char *name, char **err)
{
    if (name == NULL || *name == '\0')
        return set_err(err, "no target name given: a password is encrypted for one target");
    if (strlen(name) > INT_MAX)
        return set_err(err, "the target name is too long");
    return 0;
}

/* secret_encrypt - encrypt LEN bytes of PLAIN for the target NAME */
int secret_encrypt(const struct secret_key *key, const char *name, const char *plain, size_t len,
                   char **out, char **err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    char *b64 = NULL;
    int n = 0, fin = 0, rc = -1;

    *out = NULL;
    if (check_name(name, err) != 0)
        return -1;
    if (plain == NULL || len == 0)
        return set_err(err, "the password is empty: give the target's SMTP password or API key");
    if (len > PASSWORD_MAX)
        return set_err(err, "the password is %zu bytes long; at most %d bytes are supported", len,
                       PASSWORD_MAX);
    if (memchr(plain, '\0', len) != NULL)
        return set_err(err, "the password contains a NUL byte, which SMTP AUTH cannot send: "
                            "give the password as plain text");

    raw_len = OVERHEAD + len;
    raw = xmalloc(raw_len);
    memcpy(raw, key->id, KEY_ID_LEN);
    if (RAND_bytes(raw + KEY_ID_LEN, NONCE_LEN) != 1) {
        set_err(err, "cannot get random bytes for the nonce (%s)", openssl_reason());
        goto out;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key->bytes, raw + KEY_ID_LEN) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)name, (int)strlen(name)) != 1 ||
        EVP_EncryptUpdate(ctx, raw + HEADER_LEN, &n, (const unsigned char *)plain, (int)len) != 1 ||
        n < 0 || (size_t)n > len || EVP_EncryptFinal_ex(ctx, raw + HEADER_LEN + n, &fin) != 1 ||
        (size_t)(n + fin) != len ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + HEADER_LEN + len) != 1) {
        set_err(err, "cannot encrypt the password (%s)", openssl_reason());
        goto out;
    }
    b64 = b64_encode(raw, raw_len);
    *out = xasprintf("%s%s", SECRET_PREFIX, b64);
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    wipe(raw, raw_len);
    free(raw);
    free(b64);
    return rc;
}

/* not_encrypted - the one message for every malformed text: what is expected and how to make it */
static int not_encrypted(const char *name, char **err)
{
    return set_err(err,
                   "not an encrypted password (expected enc:v1:...; make one with "
                   "'byosmtpctl encrypt %s')",
                   name);
}

/* secret_decrypt - decrypt TEXT that was encrypted for target NAME */
int secret_decrypt(const struct secret_key *key, const char *name, const char *text, char **out,
                   size_t *len, char **err)
{
    const size_t prefix_len = strlen(SECRET_PREFIX);
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *raw = NULL, tag[TAG_LEN];
    char *plain = NULL;
    size_t text_len, raw_cap = 0, raw_len = 0, ct_len = 0;
    int n = 0, fin = 0, rc = -1;

    *out = NULL;
    *len = 0;
    if (check_name(name, err) != 0)
        return -1;
    if (text == NULL || strncmp(text, SECRET_PREFIX, prefix_len) != 0)
        return not_encrypted(name, err);
    text_len = strlen(text + prefix_len);
    /* Longer than anything secret_encrypt makes: refuse before allocating for it. */
    if (text_len > 4 * ((OVERHEAD + PASSWORD_MAX + 2) / 3))
        return not_encrypted(name, err);
    raw_cap = text_len / 4 * 3 + 1;
    raw = xmalloc(raw_cap);
    if (b64_decode(text + prefix_len, text_len, raw, &raw_len) != 0 || raw_len < OVERHEAD ||
        raw_len > OVERHEAD + PASSWORD_MAX) {
        not_encrypted(name, err);
        goto out;
    }
    if (memcmp(raw, key->id, KEY_ID_LEN) != 0) {
        set_err(err,
                "password was encrypted with a different master key: use the key it was made "
                "with, or encrypt it again with 'byosmtpctl encrypt %s'",
                name);
        goto out;
    }
    ct_len = raw_len - OVERHEAD;
    memcpy(tag, raw + HEADER_LEN + ct_len, TAG_LEN);
    plain = xmalloc(ct_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key->bytes, raw + KEY_ID_LEN) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)name, (int)strlen(name)) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, raw + HEADER_LEN, (int)ct_len) != 1 ||
        n < 0 || (size_t)n > ct_len ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
        set_err(err, "cannot decrypt the password (%s)", openssl_reason());
        goto out;
    }
    /* Final verifies the tag; until it succeeds nothing in PLAIN may be trusted or returned. */
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &fin) != 1 ||
        (size_t)(n + fin) != ct_len) {
        ERR_clear_error();
        set_err(err,
                "password does not decrypt: it was changed, or it was encrypted for another target "
                "(encrypt it again with 'byosmtpctl encrypt %s')",
                name);
        goto out;
    }
    /* Authentic, but secret_encrypt never makes these: refuse rather than hand on a cut string. */
    if (ct_len == 0 || memchr(plain, '\0', ct_len) != NULL) {
        set_err(err,
                "password decrypts to an empty value or one with a NUL byte: "
                "encrypt it again with 'byosmtpctl encrypt %s'",
                name);
        goto out;
    }
    plain[ct_len] = '\0';
    *out = plain;
    *len = ct_len;
    plain = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (plain != NULL) {
        wipe(plain, ct_len + 1);
        free(plain);
    }
    wipe(tag, sizeof(tag));
    if (raw != NULL) {
        wipe(raw, raw_cap);
        free(raw);
    }
    return rc;
}

/* secret_is_encrypted - true when TEXT has the enc:v1: form (syntax only) */
int secret_is_encrypted(const char *text)
{
    const size_t prefix_len = strlen(SECRET_PREFIX);
    size_t text_len, raw_len = 0;

    if (text == NULL || strncmp(text, SECRET_PREFIX, prefix_len) != 0)
        return 0;
    text_len = strlen(text + prefix_len);
    if (text_len > 4 * ((OVERHEAD + PASSWORD_MAX + 2) / 3))
        return 0;
    if (b64_decode(text + prefix_len, text_len, NULL, &raw_len) != 0)
        return 0;
    return raw_len >= OVERHEAD && raw_len <= OVERHEAD + PASSWORD_MAX;
}
