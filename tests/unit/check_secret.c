/* check_secret - the master key file checks and the enc:v1: password format, tampering included */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>

#include "testutil.h"
#include "store/secret.h"
#include "util/util.h"

#define PREFIX_LEN (sizeof(SECRET_PREFIX) - 1)
#define HEADER 16 /* key id 4 + nonce 12 */
#define TAG 16

static const char *const utf8_password = "p\xc3\xa4ssw\xc3\xb6rd \xe2\x80\x93 \xf0\x9f\x94\x91";

/* new_key - generate and load a key in DIR/NAME; the caller frees both */
static struct secret_key *new_key(const char *dir, const char *name, char **path_out)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct secret_key *key = NULL;
    char *err = NULL;

    ck_assert_msg(secret_key_generate(path, &err) == 0, "generate: %s", err);
    ck_assert_msg(secret_key_load(path, &key, &err) == 0, "load: %s", err);
    ck_assert_ptr_nonnull(key);
    if (path_out != NULL)
        *path_out = path;
    else
        free(path);
    return key;
}

/* write_bytes - create PATH with N bytes and MODE */
static void write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* decode - the raw bytes of an enc:v1: text, through OpenSSL's decoder as an independent check */
static unsigned char *decode(const char *text, size_t *len)
{
    const char *b64 = text + PREFIX_LEN;
    size_t n = strlen(b64), pad = 0;
    unsigned char *raw = xmalloc(n);
    int got;

    ck_assert(strncmp(text, SECRET_PREFIX, PREFIX_LEN) == 0);
    got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    ck_assert_int_ge(got, 0);
    if (n >= 1 && b64[n - 1] == '=')
        pad++;
    if (n >= 2 && b64[n - 2] == '=')
        pad++;
    *len = (size_t)got - pad;
    return raw;
}

/* encode - an enc:v1: text around N raw bytes (caller frees) */
static char *encode(const unsigned char *raw, size_t n)
{
    char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
    char *text;

    ck_assert_int_ge(EVP_EncodeBlock((unsigned char *)b64, raw, (int)n), 0);
    text = xasprintf("%s%s", SECRET_PREFIX, b64);
    free(b64);
    return text;
}

/* expect_fail - decrypting TEXT for NAME fails with a message holding WANT and nothing secret */
static void expect_fail(const struct secret_key *key, const char *name, const char *text,
                        const char *plain, const char *want)
{
    char *out = (char *)"untouched", *err = NULL;
    size_t len = 99;

    ck_assert_int_eq(secret_decrypt(key, name, text, &out, &len, &err), -1);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, want) != NULL, "got \"%s\", want \"%s\"", err, want);
    ck_assert_msg(strstr(err, plain) == NULL, "password in message: %s", err);
    if (strlen(text) > PREFIX_LEN + 4) {
        char head[12];

        /* Neither the whole text nor any recognisable start of its base64 may be echoed. */
        snprintf(head, sizeof(head), "%.8s", text + PREFIX_LEN);
        ck_assert_msg(strstr(err, head) == NULL, "ciphertext in message: %s", err);
        ck_assert_msg(strstr(err, text) == NULL, "ciphertext in message: %s", err);
    }
    free(err);
}

/* round_trip - encrypt N bytes of P for NAME and get them back exactly */
static void round_trip(const struct secret_key *key, const char *name, const char *p, size_t n)
{
    char *text = NULL, *out = NULL, *err = NULL;
    size_t len = 0;

    ck_assert_msg(secret_encrypt(key, name, p, n, &text, &err) == 0, "encrypt %zu: %s", n, err);
    ck_assert(strncmp(text, SECRET_PREFIX, PREFIX_LEN) == 0);
    ck_assert_uint_eq(strlen(text), PREFIX_LEN + 4 * ((HEADER + n + TAG + 2) / 3));
    ck_assert(secret_is_encrypted(text));
    ck_assert_msg(secret_decrypt(key, name, text, &out, &len, &err) == 0, "decrypt %zu: %s", n,
                  err);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(out, p, n) == 0);
    ck_assert_int_eq(out[n], '\0');
    free_secret(out);
    free(text);
}

START_TEST(generate_makes_private_32_byte_file)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL;
    mode_t old = umask(0);
    struct stat st;

    /* umask 0 would give 0666 to a careless creat(): the key must still come out 0600. */
    ck_assert_msg(secret_key_generate(path, &err) == 0, "%s", err);
    umask(old);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, SECRET_KEY_LEN);
    ck_assert_ptr_null(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(generate_gives_different_keys)
{
    char *dir = test_tmpdir(), *a = xasprintf("%s/a.key", dir), *b = xasprintf("%s/b.key", dir);
    unsigned char *ka, *kb;
    size_t la, lb;

    ck_assert_int_eq(secret_key_generate(a, NULL), 0);
    ck_assert_int_eq(secret_key_generate(b, NULL), 0);
    ka = (unsigned char *)test_read_file(a, &la);
    kb = (unsigned char *)test_read_file(b, &lb);
    ck_assert_uint_eq(la, SECRET_KEY_LEN);
    ck_assert_uint_eq(lb, SECRET_KEY_LEN);
    ck_assert(memcmp(ka, kb, SECRET_KEY_LEN) != 0);
    free(ka);
    free(kb);
    free(a);
    free(b);
    test_rmdir(dir);
}
END_TEST

START_TEST(generate_refuses_to_overwrite)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL, *want;
    unsigned char *before, *after, *other;
    size_t lb, la, lo;
    char *plainfile;

    ck_assert_int_eq(secret_key_generate(path, &err), 0);
    before = (unsigned char *)test_read_file(path, &lb);
    ck_assert_int_eq(secret_key_generate(path, &err), -1);
    want = xasprintf("%s: exists already; remove it first if you really mean to replace the key "
                     "(every stored password must then be entered again)",
                     path);
    ck_assert_str_eq(err, want);
    after = (unsigned char *)test_read_file(path, &la);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(before, after, lb) == 0);

    /* Any file in the way is kept as it is, whatever it holds. */
    plainfile = test_write(dir, "notes", "keep me\n", 0644);
    ck_assert_int_eq(secret_key_generate(plainfile, &err), -1);
    other = (unsigned char *)test_read_file(plainfile, &lo);
    ck_assert_uint_eq(lo, 8);
    ck_assert(memcmp(other, "keep me\n", 8) == 0);

    free(other);
    free(plainfile);
    free(before);
    free(after);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(generate_does_not_follow_symlink)
{
    char *dir = test_tmpdir(), *target = xasprintf("%s/elsewhere", dir);
    char *link = xasprintf("%s/master.key", dir), *err = NULL;
    struct stat st;

    /* A dangling link in the key's place must not make the key appear somewhere else. */
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(secret_key_generate(link, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "exists already"));
    ck_assert_int_eq(lstat(target, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    free(err);
    free(target);
    free(link);
    test_rmdir(dir);
}
END_TEST

START_TEST(generate_reports_missing_directory)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/nodir/master.key", dir), *err = NULL, *want;
    struct stat st;

    ck_assert_int_eq(secret_key_generate(path, &err), -1);
    want =
        xasprintf("%s: directory %s/nodir does not exist: create it first (mkdir -m 755 %s/nodir)",
                  path, dir, dir);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(stat(path, &st), -1);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_group_or_other_modes)
{
    static const mode_t modes[] = {0640, 0604, 0644};
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL, *want;
    struct secret_key *key = (struct secret_key *)&key; /* not NULL: load must clear it */

    ck_assert_int_eq(secret_key_generate(path, NULL), 0);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        ck_assert_int_eq(chmod(path, modes[i]), 0);
        ck_assert_int_eq(secret_key_load(path, &key, &err), -1);
        ck_assert_ptr_null(key);
        want = xasprintf("%s: mode %04o lets group or others read the master key: "
                         "run 'chmod 600 %s'",
                         path, (unsigned)modes[i], path);
        ck_assert_str_eq(err, want);
        free(want);
    }
    /* Write-only or execute bits for others are refused too, with a message that fits. */
    ck_assert_int_eq(chmod(path, 0620), 0);
    ck_assert_int_eq(secret_key_load(path, &key, &err), -1);
    want = xasprintf("%s: mode 0620 gives group or others access to the master key: "
                     "run 'chmod 600 %s'",
                     path, path);
    ck_assert_str_eq(err, want);
    free(want);
    /* Read-only for the owner is fine. */
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_msg(secret_key_load(path, &key, &err) == 0, "%s", err);
    ck_assert_ptr_nonnull(key);
    secret_key_free(key);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_wrong_size)
{
    static const size_t sizes[] = {0, 16, 31, 33, 64};
    unsigned char bytes[64];
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL, *want;
    struct secret_key *key = NULL;

    memset(bytes, 0x5a, sizeof(bytes));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        write_bytes(path, bytes, sizes[i], 0600);
        ck_assert_int_eq(secret_key_load(path, &key, &err), -1);
        ck_assert_ptr_null(key);
        want = xasprintf("%s: is %zu bytes; a master key is exactly 32 bytes "
                         "(create one with 'byosmtpctl key generate')",
                         path, sizes[i]);
        ck_assert_str_eq(err, want);
        free(want);
        ck_assert_int_eq(unlink(path), 0);
    }
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_missing_file)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL, *want;
    struct secret_key *key = NULL;

    ck_assert_int_eq(secret_key_load(path, &key, &err), -1);
    ck_assert_ptr_null(key);
    want =
        xasprintf("%s: no such file: create the master key with 'byosmtpctl key generate'", path);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_symlink)
{
    char *dir = test_tmpdir(), *real = xasprintf("%s/real.key", dir);
    char *link = xasprintf("%s/master.key", dir), *err = NULL;
    struct secret_key *key = NULL;

    ck_assert_int_eq(secret_key_generate(real, NULL), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(secret_key_load(link, &key, &err), -1);
    ck_assert_ptr_null(key);
    ck_assert_msg(strstr(err, ": is a symbolic link; the master key must be a regular file") !=
                      NULL,
                  "%s", err);
    /* The real file behind it loads: the refusal is about the link only. */
    ck_assert_int_eq(secret_key_load(real, &key, &err), 0);
    secret_key_free(key);
    free(err);
    free(real);
    free(link);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_directory_and_fifo)
{
    char *dir = test_tmpdir(), *sub = xasprintf("%s/master.key", dir);
    char *fifo = xasprintf("%s/fifo.key", dir), *err = NULL, *want;
    struct secret_key *key = NULL;

    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(secret_key_load(sub, &key, &err), -1);
    ck_assert_ptr_null(key);
    want = xasprintf("%s: is a directory; the master key is a file of 32 bytes: "
                     "set secrets.key_file to the file itself",
                     sub);
    ck_assert_str_eq(err, want);
    free(want);

    /* A FIFO would block a plain open(); it must be refused at once. */
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(secret_key_load(fifo, &key, &err), -1);
    ck_assert_ptr_null(key);
    want = xasprintf("%s: is not a regular file; the master key is a file of 32 bytes", fifo);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
    free(sub);
    free(fifo);
    test_rmdir(dir);
}
END_TEST

START_TEST(load_refuses_foreign_owner)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/master.key", dir), *err = NULL, *want;
    struct secret_key *key = NULL;
    const uid_t stranger = 54321;

    ck_assert_int_eq(secret_key_generate(path, NULL), 0);
    if (chown(path, stranger, (gid_t)-1) != 0) {
        /* Only root can give a file away; as another user the owner is always ourselves. */
        ck_assert_int_ne(geteuid(), 0);
        ck_assert_int_eq(secret_key_load(path, &key, &err), 0);
        secret_key_free(key);
    } else {
        ck_assert_int_eq(secret_key_load(path, &key, &err), -1);
        ck_assert_ptr_null(key);
        want = xasprintf("%s: owned by uid %u; it must be owned by root or the user byosmtp "
                         "runs as",
                         path, (unsigned)stranger);
        ck_assert_str_eq(err, want);
        free(want);
    }
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(key_free_accepts_null)
{
    secret_key_free(NULL);
}
END_TEST

START_TEST(round_trip_lengths)
{
    static const size_t lengths[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1000, 4095, 4096};
    char *dir = test_tmpdir(), *p = xmalloc(4096);
    struct secret_key *key = new_key(dir, "master.key", NULL);

    /* Every byte value except NUL, so the cipher and base64 see the whole range. */
    for (size_t i = 0; i < 4096; i++)
        p[i] = (char)(1 + i % 255);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
        round_trip(key, "sendgrid", p, lengths[i]);
    round_trip(key, "office365.eu-west", utf8_password, strlen(utf8_password));
    round_trip(key, "x", "a", 1);
    secret_key_free(key);
    free(p);
    test_rmdir(dir);
}
END_TEST

START_TEST(round_trip_survives_reload)
{
    char *dir = test_tmpdir(), *path = NULL, *text = NULL, *out = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", &path), *again = NULL;
    size_t len = 0;

    ck_assert_int_eq(secret_encrypt(key, "ses", "hunter2hunter2", 14, &text, &err), 0);
    secret_key_free(key);
    ck_assert_int_eq(secret_key_load(path, &again, &err), 0);
    ck_assert_msg(secret_decrypt(again, "ses", text, &out, &len, &err) == 0, "%s", err);
    ck_assert_str_eq(out, "hunter2hunter2");
    free_secret(out);
    secret_key_free(again);
    free(text);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(encrypt_uses_fresh_nonce)
{
    char *dir = test_tmpdir(), *a = NULL, *b = NULL, *out = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    unsigned char *ra, *rb;
    size_t la, lb, len = 0;

    ck_assert_int_eq(secret_encrypt(key, "t", "same password", 13, &a, &err), 0);
    ck_assert_int_eq(secret_encrypt(key, "t", "same password", 13, &b, &err), 0);
    ck_assert_str_ne(a, b);
    ra = decode(a, &la);
    rb = decode(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(ra, rb, 4) == 0);          /* same key id */
    ck_assert(memcmp(ra + 4, rb + 4, 12) != 0); /* different nonce */
    ck_assert_int_eq(secret_decrypt(key, "t", a, &out, &len, &err), 0);
    ck_assert_str_eq(out, "same password");
    free_secret(out);
    ck_assert_int_eq(secret_decrypt(key, "t", b, &out, &len, &err), 0);
    ck_assert_str_eq(out, "same password");
    free_secret(out);
    free(ra);
    free(rb);
    free(a);
    free(b);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(encrypted_text_hides_plaintext)
{
    const char *pw = "correct horse battery staple";
    char *dir = test_tmpdir(), *text = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    unsigned char *raw;
    size_t n;

    ck_assert_int_eq(secret_encrypt(key, "gmail", pw, strlen(pw), &text, &err), 0);
    ck_assert(strstr(text, pw) == NULL);
    ck_assert(strstr(text, "correct") == NULL);
    raw = decode(text, &n);
    ck_assert_uint_eq(n, HEADER + strlen(pw) + TAG);
    ck_assert(memmem(raw, n, pw, strlen(pw)) == NULL);
    ck_assert(memmem(raw, n, "horse", 5) == NULL);
    free(raw);
    free(text);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(encrypt_refuses_bad_input)
{
    char *dir = test_tmpdir(), *text = (char *)"untouched", *err = NULL, *big = xmalloc(4097);
    struct secret_key *key = new_key(dir, "master.key", NULL);

    memset(big, 'k', 4097);
    ck_assert_int_eq(secret_encrypt(key, "t", "", 0, &text, &err), -1);
    ck_assert_ptr_null(text);
    ck_assert_str_eq(err, "the password is empty: give the target's SMTP password or API key");
    ck_assert_int_eq(secret_encrypt(key, "t", "abc\0def", 7, &text, &err), -1);
    ck_assert_ptr_null(text);
    ck_assert_str_eq(err, "the password contains a NUL byte, which SMTP AUTH cannot send: "
                          "give the password as plain text");
    ck_assert_int_eq(secret_encrypt(key, "t", big, 4097, &text, &err), -1);
    ck_assert_ptr_null(text);
    ck_assert_str_eq(err, "the password is 4097 bytes long; at most 4096 bytes are supported");
    ck_assert_int_eq(secret_encrypt(key, "", "secretpw", 8, &text, &err), -1);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err, "no target name given"));
    ck_assert(strstr(err, "secretpw") == NULL);
    free(err);
    free(big);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(tamper_each_region_fails_closed)
{
    const char *pw = "s3cret-Passw0rd!xyz"; /* 19 bytes */
    const size_t pwlen = strlen(pw);
    char *dir = test_tmpdir(), *text = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    unsigned char *raw;
    size_t n;
    struct {
        size_t offset;
        const char *want;
    } cases[] = {
        {0, "password was encrypted with a different master key"},
        {3, "password was encrypted with a different master key"},
        {4, "password does not decrypt: it was changed, or it was encrypted for another target"},
        {15, "password does not decrypt: it was changed"},
        {16, "password does not decrypt: it was changed"},
        {16 + 9, "password does not decrypt: it was changed"},
        {16 + 18, "password does not decrypt: it was changed"},
        {16 + 19, "password does not decrypt: it was changed"},
        {16 + 19 + 15, "password does not decrypt: it was changed"},
    };

    ck_assert_int_eq(secret_encrypt(key, "mailgun", pw, pwlen, &text, &err), 0);
    raw = decode(text, &n);
    ck_assert_uint_eq(n, HEADER + pwlen + TAG);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            char *bad;

            raw[cases[i].offset] ^= (unsigned char)(1u << bit);
            bad = encode(raw, n);
            ck_assert_str_ne(bad, text);
            expect_fail(key, "mailgun", bad, pw, cases[i].want);
            raw[cases[i].offset] ^= (unsigned char)(1u << bit);
            free(bad);
        }
    }
    free(raw);
    free(text);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(truncated_or_extended_fails_closed)
{
    const char *pw = "twenty-byte-password";
    const char *changed = "password does not decrypt: it was changed";
    const char *malformed = "not an encrypted password (expected enc:v1:...; make one with "
                            "'byosmtpctl encrypt postmark')";
    char *dir = test_tmpdir(), *text = NULL, *err = NULL, *bad;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    unsigned char *raw, *longer;
    size_t n;

    ck_assert_int_eq(secret_encrypt(key, "postmark", pw, strlen(pw), &text, &err), 0);
    raw = decode(text, &n);
    ck_assert_uint_eq(n, 52);

    bad = encode(raw, n - 1); /* tag one byte short */
    expect_fail(key, "postmark", bad, pw, changed);
    free(bad);
    bad = encode(raw, n - 16); /* tag gone: still long enough to parse, so the tag check fails */
    expect_fail(key, "postmark", bad, pw, changed);
    free(bad);
    bad = encode(raw, 31); /* shorter than key id + nonce + tag */
    expect_fail(key, "postmark", bad, pw, malformed);
    free(bad);

    longer = xmalloc(n + 1);
    memcpy(longer, raw, n);
    longer[n] = 0;
    bad = encode(longer, n + 1); /* one byte appended */
    expect_fail(key, "postmark", bad, pw, changed);
    free(bad);
    free(longer);

    /* Base64 text cut or extended by one character no longer parses. */
    bad = xasprintf("%sA", text);
    expect_fail(key, "postmark", bad, pw, malformed);
    free(bad);
    bad = xstrndup(text, strlen(text) - 1);
    expect_fail(key, "postmark", bad, pw, malformed);
    free(bad);

    free(raw);
    free(text);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(other_target_or_key_fails_closed)
{
    const char *pw = "per-target-secret";
    char *dir = test_tmpdir(), *text = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    struct secret_key *other = new_key(dir, "other.key", NULL);

    ck_assert_int_eq(secret_encrypt(key, "a", pw, strlen(pw), &text, &err), 0);
    expect_fail(key, "b", text, pw,
                "password does not decrypt: it was changed, or it was encrypted for another "
                "target (encrypt it again with 'byosmtpctl encrypt b')");
    expect_fail(key, "aa", text, pw, "password does not decrypt");
    expect_fail(other, "a", text, pw,
                "password was encrypted with a different master key: use the key it was made "
                "with, or encrypt it again with 'byosmtpctl encrypt a'");
    free(text);
    secret_key_free(key);
    secret_key_free(other);
    test_rmdir(dir);
}
END_TEST

START_TEST(malformed_text_fails_closed)
{
    const char *pw = "ab";   /* 2 bytes: 34 raw bytes, so the base64 ends in "==" */
    const char *pw3 = "abc"; /* 35 raw bytes: one '=' */
    const char *want = "not an encrypted password (expected enc:v1:...; make one with "
                       "'byosmtpctl encrypt t')";
    char *dir = test_tmpdir(), *text = NULL, *text3 = NULL, *err = NULL, *bad;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    size_t n;

    ck_assert_int_eq(secret_encrypt(key, "t", pw, 2, &text, &err), 0);
    ck_assert_int_eq(secret_encrypt(key, "t", pw3, 3, &text3, &err), 0);
    n = strlen(text);
    ck_assert(text[n - 1] == '=' && text[n - 2] == '=' && text[n - 3] != '=');
    ck_assert(text3[strlen(text3) - 1] == '=' && text3[strlen(text3) - 2] != '=');

    /* Wrong or missing prefix. */
    expect_fail(key, "t", "", pw, want);
    expect_fail(key, "t", "enc:v1:", pw, want);
    expect_fail(key, "t", "hunter2", pw, want);
    bad = xasprintf("enc:v2:%s", text + PREFIX_LEN);
    expect_fail(key, "t", bad, pw, want);
    ck_assert(!secret_is_encrypted(bad));
    free(bad);
    bad = xasprintf("ENC:V1:%s", text + PREFIX_LEN);
    expect_fail(key, "t", bad, pw, want);
    free(bad);
    bad = xasprintf(" %s", text);
    expect_fail(key, "t", bad, pw, want);
    free(bad);

    /* Whitespace anywhere. */
    bad = xasprintf("%s\n", text);
    expect_fail(key, "t", bad, pw, want);
    ck_assert(!secret_is_encrypted(bad));
    free(bad);
    bad = xstrdup(text);
    bad[PREFIX_LEN + 10] = ' ';
    expect_fail(key, "t", bad, pw, want);
    free(bad);

    /* Characters outside the standard alphabet (URL-safe ones included). */
    bad = xstrdup(text);
    bad[PREFIX_LEN + 5] = '-';
    expect_fail(key, "t", bad, pw, want);
    bad[PREFIX_LEN + 5] = '_';
    expect_fail(key, "t", bad, pw, want);
    bad[PREFIX_LEN + 5] = '*';
    expect_fail(key, "t", bad, pw, want);
    bad[PREFIX_LEN + 5] = '=';
    expect_fail(key, "t", bad, pw, want);
    free(bad);

    /* Padding: missing, extra, or non-zero bits under it. */
    bad = xstrndup(text, n - 2);
    expect_fail(key, "t", bad, pw, want);
    free(bad);
    bad = xasprintf("%s==", text);
    expect_fail(key, "t", bad, pw, want);
    free(bad);
    bad = xstrdup(text);
    ck_assert(strchr("AQgw", text[n - 3]) != NULL); /* canonical: the low 4 bits are zero */
    bad[n - 3] = (char)(bad[n - 3] + 1);            /* A->B, Q->R, g->h, w->x: one bit set */
    expect_fail(key, "t", bad, pw, want);
    ck_assert(!secret_is_encrypted(bad));
    free(bad);
    bad = xstrdup(text3);
    ck_assert(strchr("AEIMQUYcgkosw048", bad[strlen(bad) - 2]) != NULL); /* low 2 bits zero */
    bad[strlen(bad) - 2] = (char)(bad[strlen(bad) - 2] + 1);
    expect_fail(key, "t", bad, pw3, want);
    free(bad);
    bad = xstrdup(text3);
    bad[strlen(bad) - 1] = 'A'; /* padding replaced by data: parses, 36 bytes, tag fails */
    expect_fail(key, "t", bad, pw3, "password does not decrypt: it was changed");
    free(bad);

    ck_assert(secret_is_encrypted(text));
    ck_assert(secret_is_encrypted(text3));
    ck_assert(!secret_is_encrypted(NULL));
    ck_assert(!secret_is_encrypted(""));
    ck_assert(!secret_is_encrypted("enc:v1:"));
    ck_assert(!secret_is_encrypted("enc:v1:QUJD")); /* valid base64, too short */
    free(text);
    free(text3);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

START_TEST(decrypt_refuses_missing_name)
{
    char *dir = test_tmpdir(), *text = NULL, *out = NULL, *err = NULL;
    struct secret_key *key = new_key(dir, "master.key", NULL);
    size_t len = 0;

    ck_assert_int_eq(secret_encrypt(key, "t", "pw", 2, &text, &err), 0);
    ck_assert_int_eq(secret_decrypt(key, "", text, &out, &len, &err), -1);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err, "no target name given"));
    ck_assert_int_eq(secret_decrypt(key, NULL, text, &out, &len, &err), -1);
    ck_assert_ptr_null(out);
    free(err);
    free(text);
    secret_key_free(key);
    test_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("secret");
    TCase *file = tcase_create("key file");
    TCase *format = tcase_create("format");

    tcase_add_test(file, generate_makes_private_32_byte_file);
    tcase_add_test(file, generate_gives_different_keys);
    tcase_add_test(file, generate_refuses_to_overwrite);
    tcase_add_test(file, generate_does_not_follow_symlink);
    tcase_add_test(file, generate_reports_missing_directory);
    tcase_add_test(file, load_refuses_group_or_other_modes);
    tcase_add_test(file, load_refuses_wrong_size);
    tcase_add_test(file, load_refuses_missing_file);
    tcase_add_test(file, load_refuses_symlink);
    tcase_add_test(file, load_refuses_directory_and_fifo);
    tcase_add_test(file, load_refuses_foreign_owner);
    tcase_add_test(file, key_free_accepts_null);
    suite_add_tcase(s, file);

    tcase_add_test(format, round_trip_lengths);
    tcase_add_test(format, round_trip_survives_reload);
    tcase_add_test(format, encrypt_uses_fresh_nonce);
    tcase_add_test(format, encrypted_text_hides_plaintext);
    tcase_add_test(format, encrypt_refuses_bad_input);
    tcase_add_test(format, tamper_each_region_fails_closed);
    tcase_add_test(format, truncated_or_extended_fails_closed);
    tcase_add_test(format, other_target_or_key_fails_closed);
    tcase_add_test(format, malformed_text_fails_closed);
    tcase_add_test(format, decrypt_refuses_missing_name);
    suite_add_tcase(s, format);
    return test_run(s);
}
