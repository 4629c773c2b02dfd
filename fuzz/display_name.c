/*
 * display_name - fuzz the display name writer of the header rewriter (rewrite_display_name,
 * src/milter/rewrite.h) and its RFC 2047 round trip. The input is the name's bytes (a NUL ends
 * it, as in a C string).
 *
 * The written phrase E must be printable ASCII in one of three forms: atoms, a quoted-string,
 * or "=?UTF-8?B?...?=" encoded-words of at most 75 characters separated by one space, each
 * decoding to whole UTF-8 characters. Its text D, decoded here independently of rewrite.c, must
 * be valid UTF-8 without control characters, line or paragraph separators, or white space at
 * either end or twice in a row. Writing D again must give E; and a From field "E <address>"
 * rewritten with an empty from_name (the original display name kept) must come out as
 * "E <from_address>": the rewriter's decoder and encoder agree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "milter/rewrite.h"
#include "util/util.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* atext - RFC 5322 atext (ASCII) */
static bool atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* b64_decode - strict base64 (padded, length a multiple of 4) of N bytes at T into OUT */
static bool b64_decode(const char *t, size_t n, struct buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t i;

    if (n % 4 != 0)
        return false;
    for (i = 0; i < n && t[i] != '='; i++) {
        const char *p = memchr(b64, t[i], 64);

        if (p == NULL)
            return false;
        acc = acc << 6 | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (int)(acc >> bits & 0xFF));
        }
    }
    for (; i < n; i++)
        if (t[i] != '=')
            return false;
    return true;
}

/* decode_words - the text of E made of encoded-words, checking their form */
static void decode_words(const char *e, struct buf *text)
{
    struct buf piece;

    buf_init(&piece);
    for (const char *p = e; *p;) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);

        FUZZ_CHECK(n <= 75, "an encoded-word longer than 75 characters");
        FUZZ_CHECK(n > 12 && strncmp(p, "=?UTF-8?B?", 10) == 0 && strncmp(p + n - 2, "?=", 2) == 0,
                   "a word of an encoded phrase is no encoded-word");
        buf_reset(&piece);
        FUZZ_CHECK(b64_decode(p + 10, n - 12, &piece), "an encoded-word is not base64");
        FUZZ_CHECK(piece.len > 0, "an empty encoded-word");
        FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)piece.data, piece.len),
                   "an encoded-word splits a UTF-8 character");
        buf_append(text, piece.data, piece.len);
        p += n;
        if (*p == ' ') {
            p++;
            FUZZ_CHECK(*p != '\0' && *p != ' ', "white space around encoded-words");
        }
    }
    buf_free(&piece);
}

/* decode - the text D of the phrase E, checking the form of E */
static void decode(const char *e, struct buf *text)
{
    size_t n = strlen(e);

    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(e[i] >= 0x20 && e[i] < 0x7F, "the phrase is not printable ASCII");
    if (strncmp(e, "=?", 2) == 0) {
        decode_words(e, text);
    } else if (e[0] == '"') {
        FUZZ_CHECK(n >= 2 && e[n - 1] == '"', "a quoted-string without its closing quote");
        for (size_t i = 1; i < n - 1; i++) {
            if (e[i] == '\\') {
                i++;
                FUZZ_CHECK(i < n - 1 && (e[i] == '"' || e[i] == '\\'), "a needless quoted-pair");
            } else {
                FUZZ_CHECK(e[i] != '"', "an unescaped quote in a quoted-string");
            }
            buf_putc(text, e[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(atext(e[i]) || e[i] == ' ', "an atom phrase holds a special");
        FUZZ_CHECK(strstr(e, "=?") == NULL, "an atom phrase that looks like an encoded-word");
        buf_puts(text, e);
    }
}

/* check_text - D is clean: valid UTF-8, no controls, single inner spaces only */
static void check_text(const struct buf *d)
{
    const unsigned char *s = (const unsigned char *)d->data;

    FUZZ_CHECK(strlen(d->data) == d->len, "NUL in the decoded name");
    FUZZ_CHECK(fuzz_utf8_valid(s, d->len), "the decoded name is not UTF-8");
    FUZZ_CHECK(d->len > 0 && s[0] != ' ' && s[d->len - 1] != ' ', "a space at an end");
    FUZZ_CHECK(strstr(d->data, "  ") == NULL, "two spaces in a row");
    for (size_t i = 0; i < d->len; i++) {
        FUZZ_CHECK(s[i] >= 0x20 && s[i] != 0x7F, "a C0 control or DEL in the name");
        FUZZ_CHECK(!(s[i] == 0xC2 && s[i + 1] < 0xA0), "a C1 control in the name");
        FUZZ_CHECK(!(s[i] == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)),
                   "a line or paragraph separator in the name");
    }
}

/* round_trip - a From field "E <bob@example.com>", rewritten keeping its display name */
static void round_trip(const char *e)
{
    struct rewrite_params p = {
        .from_address = "billing@acme.example",
        .from_name = "",
        .reply_to = "",
        .hostname = "relay.example.net",
        .spool_id = "0123456789ABCDEF",
        .now = 1795000000,
    };
    char *value = xasprintf("%s <bob@example.com>", e), *want = xasprintf("%s <%s>", e, p.from_address);
    struct rewrite_header h = {"From", value};
    struct buf out, got;
    char *err = NULL;
    const char *f;

    buf_init(&out);
    buf_init(&got);
    FUZZ_CHECK(rewrite_headers(&p, &h, 1, &out, &err) == 0, "a From with our own phrase is refused");
    f = strstr(out.data, "\r\nFrom: ");
    FUZZ_CHECK(f != NULL, "no From written");
    for (f += 8; *f && !(f[0] == '\r' && f[1] == '\n' && f[2] != ' ' && f[2] != '\t'); f++)
        if (*f != '\r' && *f != '\n')
            buf_putc(&got, *f);
    FUZZ_CHECK(strcmp(got.data, want) == 0, "the display name does not survive a rewrite");
    buf_free(&got);
    buf_free(&out);
    free(value);
    free(want);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = xstrndup((const char *)data, size);
    struct buf e, d, again;

    buf_init(&e);
    buf_init(&d);
    buf_init(&again);
    rewrite_display_name(name, &e);
    FUZZ_CHECK(strlen(e.data) == e.len, "NUL in the phrase");
    if (e.len > 0) {
        decode(e.data, &d);
        check_text(&d);
        rewrite_display_name(d.data, &again);
        FUZZ_CHECK(strcmp(again.data, e.data) == 0, "writing the decoded name gives another phrase");
        round_trip(e.data);
    }
    buf_free(&e);
    buf_free(&d);
    buf_free(&again);
    free(name);
    return 0;
}
