/*
 * common - the helpers every fuzz harness links (fuzz.h): failing checks, golden-file escapes,
 * line splitting, a scratch directory, whole-file writes (configuration files, spool files with
 * their trailer), and an independent UTF-8 oracle.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "util/util.h"

static char *scratch;

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
    abort();
}

char *fuzz_unescape(const char *s, size_t n, size_t *len)
{
    static const struct {
        const char *name;
        char byte;
    } esc[] = {{"{CR}", '\r'}, {"{LF}", '\n'}, {"{TAB}", '\t'}, {"{NUL}", '\0'}};
    char *out = xmalloc(n + 1);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        size_t e = 0;

        while (e < sizeof(esc) / sizeof(esc[0]) &&
               (n - i < strlen(esc[e].name) || memcmp(s + i, esc[e].name, strlen(esc[e].name)) != 0))
            e++;
        if (e < sizeof(esc) / sizeof(esc[0])) {
            out[k++] = esc[e].byte;
            i += strlen(esc[e].name) - 1;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    if (len != NULL)
        *len = k;
    return out;
}

char *fuzz_next_line(const uint8_t *data, size_t n, size_t *pos)
{
    const uint8_t *nl;
    size_t end;
    char *line;

    if (*pos >= n)
        return NULL;
    nl = memchr(data + *pos, '\n', n - *pos);
    end = nl ? (size_t)(nl - data) : n;
    line = xstrndup((const char *)data + *pos, end - *pos);
    *pos = nl ? end + 1 : n;
    return line;
}

bool fuzz_key_value(char *line, char **key, char **value)
{
    char *colon;

    if (line[0] == '#' || line[0] == '\0' || (colon = strchr(line, ':')) == NULL)
        return false;
    *colon = '\0';
    *key = line;
    *value = colon[1] == ' ' ? colon + 2 : colon + 1;
    return true;
}

/* remove_one - nftw callback: remove a file or an emptied directory */
static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* remove_scratch - atexit: the scratch directory and everything in it */
static void remove_scratch(void)
{
    if (scratch != NULL)
        nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(scratch);
    scratch = NULL;
}

const char *fuzz_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (scratch != NULL)
        return scratch;
    scratch = xasprintf("%s/byosmtp-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(scratch) == NULL) {
        fprintf(stderr, "fuzz: cannot make %s: %s\n", scratch, strerror(errno));
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

void fuzz_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write_all(fd, p, n) < 0 || close(fd) < 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

char *fuzz_config_file(const char *name, const uint8_t *data, size_t n)
{
    static const char inc[] = "@include";
    char *path;

    for (size_t i = 0; i + sizeof(inc) - 1 <= n; i++)
        if (strncasecmp((const char *)data + i, inc, sizeof(inc) - 1) == 0)
            return NULL;
    path = xasprintf("%s/%s", fuzz_dir(), name);
    fuzz_write_file(path, data, n);
    return path;
}

char *fuzz_spool_file(const uint8_t *data, size_t n, size_t *len)
{
    static const char tag[] = "byosmtp-end: ";
    const size_t tlen = 99;
    unsigned char md[32];
    unsigned mdlen = 0;
    char *out = xmalloc(n + tlen + 1);
    int k;

    memcpy(out, data, n);
    *len = n;
    if (n >= tlen && memcmp(data + n - tlen, tag, sizeof(tag) - 1) == 0)
        return out;
    if (EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        fuzz_fail(__FILE__, __LINE__, "SHA-256 failed");
    k = snprintf(out + n, tlen + 1, "%s%020zu ", tag, n);
    for (int i = 0; i < 32; i++)
        k += snprintf(out + n + k, tlen + 1 - (size_t)k, "%02x", md[i]);
    out[n + k] = '\n';
    *len = n + (size_t)k + 1;
    FUZZ_CHECK(*len == n + tlen, "a trailer of the wrong length");
    return out;
}

bool fuzz_utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i], lo = 0x80, hi = 0xBF;
        size_t len;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c == 0xE0)
            len = 3, lo = 0xA0;
        else if (c == 0xED)
            len = 3, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF)
            len = 3;
        else if (c == 0xF0)
            len = 4, lo = 0x90;
        else if (c == 0xF4)
            len = 4, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3)
            len = 4;
        else
            return false;
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}
