/*
 * rewrite - the rewritten header section of one target's copy of a message (doc/design.md "The milter side",
 * doc/rewrite.md): From replaced, Original-From and Reply-To written, a Received trace field
 * put first, every other field passed through with its line ends made CRLF.
 *
 * Safety first: nothing written here can hold CR, LF or NUL other than as a CRLF followed by
 * white space (a fold), no line exceeds 998 characters, and exactly one From field comes out,
 * whatever the input holds. Display names are rebuilt from text (RFC 2047 decoded), never
 * copied, so no encoded control character or broken UTF-8 survives into the new From.
 * Pure functions on caller-owned data, no global mutable state: thread-safe (iconv handles are
 * opened and closed per call).
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "milter/rewrite.h"

#define LINE_SOFT 78       /* RFC 5322 2.1.1: SHOULD */
#define LINE_HARD 998      /* RFC 5322 2.1.1: MUST */
#define FIELD_NAME_MAX 200 /* far above any real field name, far below a line */
#define EW_CHUNK 45        /* bytes per encoded-word: 60 base64 characters, 72 in all (<= 75) */
#define EW_MAX 75          /* RFC 2047 2: an encoded-word is at most 75 characters */
#define CHARSET_MAX 40
#define RECEIVED_TAG "(byosmtpd)"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* What the original From fields tell: the first mailbox's display name, and the addresses. */
struct from_info {
    bool have_first;    /* the first mailbox has been seen */
    bool name_ok;       /* its display name could be read (may be empty) */
    struct buf name;    /* that display name as UTF-8 text (not yet cleaned) */
    unsigned addresses; /* mailboxes with an addr-spec (an '@') in all From fields */
};

/* A lexical token of a structured field body (RFC 5322 3.2). */
enum tok {
    TOK_END,
    TOK_ATOM,
    TOK_QUOTED,
    TOK_COMMENT,
    TOK_LITERAL,
    TOK_SPECIAL,
};

/* is_wsp - RFC 5322 WSP */
static bool is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* is_atext - RFC 5322 3.2.3 atext, ASCII only */
static bool is_atext(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* is_special - RFC 5322 3.2.3 specials */
static bool is_special(int c)
{
    return c != 0 && strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/* only_chars - true when S is not empty and every byte is alphanumeric or in EXTRA */
static bool only_chars(const char *s, const char *extra)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c) != NULL))
            return false;
    }
    return true;
}

/* utf8_next - decode the character at S (N > 0 bytes left): returns its length, and *CP, which
 * is U+FFFD for an invalid sequence (overlong, surrogate, out of range, truncated) of length 1 */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, c &= 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, c &= 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, c &= 0x07, min = 0x10000;
    else
        goto bad;
    if (len > n)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return len;
bad:
    *cp = 0xFFFD;
    return 1;
}

/* utf8_put - append code point CP as UTF-8 */
static void utf8_put(struct buf *out, uint32_t cp)
{
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    unsigned char b[4];

    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        b[i] = (unsigned char)(0x80 | (cp & 0x3F));
    b[0] = (unsigned char)(lead[n] | cp);
    buf_append(out, b, n);
}

/* base64_put - append the base64 encoding of N bytes at P */
static void base64_put(struct buf *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4];

        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = b64_alphabet[v >> 18 & 63];
        q[1] = b64_alphabet[v >> 12 & 63];
        q[2] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        buf_append(out, q, 4);
    }
}

/* fold_line - append the logical line T (N bytes, no CR or LF) and CRLF to OUT, folded before
 * white space so lines keep to SOFT characters where possible and never exceed LINE_HARD; never
 * folded before byte KEEP (so "Name: " stays whole). A run with no white space longer than
 * LINE_HARD is broken by inserting CRLF SP at a UTF-8 character boundary: the only case where
 * folding adds a character (a space) to the value. */
static void fold_line(struct buf *out, const char *t, size_t n, size_t soft, size_t keep)
{
    size_t start = 0, lead = 0, end = n;

    /* A fold must leave something other than white space on the new line. */
    while (end > 0 && is_wsp(t[end - 1]))
        end--;
    while (lead + n - start > soft) {
        size_t lo = start + 1 > keep ? start + 1 : keep;
        size_t soft_end = start + soft - lead, hard_end = start + LINE_HARD - lead, at = 0;

        for (size_t p = lo; p <= soft_end && p + 1 < end; p++)
            if (is_wsp(t[p]) && !is_wsp(t[p - 1]))
                at = p;
        for (size_t p = soft_end + 1 > lo ? soft_end + 1 : lo; !at && p <= hard_end && p + 1 < end;
             p++)
            if (is_wsp(t[p]) && !is_wsp(t[p - 1]))
                at = p;
        if (at) {
            buf_append(out, t + start, at - start);
            buf_puts(out, "\r\n");
            start = at;
            lead = 0;
            continue;
        }
        if (lead + n - start <= LINE_HARD)
            break;
        at = hard_end;
        while (at > start + 1 && ((unsigned char)t[at] & 0xC0) == 0x80)
            at--;
        buf_append(out, t + start, at - start);
        buf_puts(out, "\r\n ");
        start = at;
        lead = 1;
    }
    buf_append(out, t + start, n - start);
    buf_puts(out, "\r\n");
}

/* line_end - length of the line break at S: 2 for CRLF, 1 for LF, 0 for none */
static size_t line_end(const char *s)
{
    if (s[0] == '\n')
        return 1;
    return s[0] == '\r' && s[1] == '\n' ? 2 : 0;
}

/* normalise_value - append value V to OUT with every line break made CRLF followed by white
 * space: a bare CR becomes a space, a line that would not start with white space gets one (so a
 * value can never start a new field), and lines holding only white space are dropped (a blank
 * line would end the header section) */
static void normalise_value(const char *v, struct buf *out)
{
    size_t i = 0;

    while (v[i]) {
        size_t br = line_end(v + i), k;
        bool blank = true;

        if (br == 0) {
            buf_putc(out, v[i] == '\r' ? ' ' : v[i]);
            i++;
            continue;
        }
        i += br;
        for (k = i; v[k] && line_end(v + k) == 0; k++)
            if (!is_wsp(v[k]) && v[k] != '\r')
                blank = false;
        if (blank) {
            i = k;
            continue;
        }
        buf_puts(out, "\r\n");
        if (!is_wsp(v[i]))
            buf_putc(out, ' ');
    }
}

/* collapse - append V unfolded to OUT: CR, LF, tabs and other control characters become
 * spaces, runs of spaces one space, none at either end */
static void collapse(const char *v, struct buf *out)
{
    bool space = false;
    size_t start = out->len;

    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;

        if (c <= ' ' || c == 0x7F) {
            space = true;
            continue;
        }
        if (space && out->len > start)
            buf_putc(out, ' ');
        space = false;
        buf_putc(out, c);
    }
}

/* lex - read the next token of a structured value at *POS into TEXT (the unquoted content of a
 * quoted-string or comment, the atom, or the special character); never fails on bad input */
static enum tok lex(const char *s, size_t *pos, struct buf *text)
{
    size_t i = *pos;
    enum tok kind;

    buf_reset(text);
    while (s[i] == ' ')
        i++;
    if (s[i] == '\0') {
        *pos = i;
        return TOK_END;
    }
    if (s[i] == '(' || s[i] == '"' || s[i] == '[') {
        char open = s[i];
        int depth = 1;

        kind = open == '(' ? TOK_COMMENT : open == '"' ? TOK_QUOTED : TOK_LITERAL;
        for (i++; s[i] && depth > 0; i++) {
            if (s[i] == '\\' && s[i + 1] && open != '[') {
                buf_putc(text, s[++i]);
                continue;
            }
            if (open == '(' && s[i] == '(')
                depth++;
            else if ((open == '(' && s[i] == ')') || (open == '"' && s[i] == '"') ||
                     (open == '[' && s[i] == ']'))
                depth--;
            if (depth > 0)
                buf_putc(text, s[i]);
        }
    } else if (is_special((unsigned char)s[i])) {
        kind = TOK_SPECIAL;
        buf_putc(text, s[i++]);
    } else {
        kind = TOK_ATOM;
        while (s[i] && s[i] != ' ' && !is_special((unsigned char)s[i]))
            buf_putc(text, s[i++]);
    }
    *pos = i;
    return kind;
}

/* decode_b64 - decode base64 TEXT (N bytes, padding optional) into OUT; -1 on a bad character */
static int decode_b64(const char *t, size_t n, struct buf *out)
{
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n && t[i] != '='; i++) {
        const char *p = strchr(b64_alphabet, t[i]);

        if (t[i] == '\0' || p == NULL)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - b64_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (int)(acc >> bits & 0xFF));
        }
    }
    return 0;
}

/* hex_value - the value of hex digit C, or -1 */
static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* decode_q - decode RFC 2047 "Q" TEXT (N bytes) into OUT; -1 on a bad =XX */
static int decode_q(const char *t, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '_') {
            buf_putc(out, ' ');
        } else if (t[i] == '=') {
            if (i + 2 >= n || hex_value(t[i + 1]) < 0 || hex_value(t[i + 2]) < 0)
                return -1;
            buf_putc(out, hex_value(t[i + 1]) << 4 | hex_value(t[i + 2]));
            i += 2;
        } else {
            buf_putc(out, t[i]);
        }
    }
    return 0;
}

/* to_utf8 - append N bytes at P in CHARSET to OUT as UTF-8; -1 when iconv cannot */
static int to_utf8(const char *charset, const char *p, size_t n, struct buf *out)
{
    iconv_t cd;
    char chunk[256], *in = (char *)p;
    int rc = 0;

    if (strcasecmp(charset, "UTF-8") == 0 || strcasecmp(charset, "US-ASCII") == 0) {
        buf_append(out, p, n); /* invalid UTF-8 is replaced later, character by character */
        return 0;
    }
    cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return -1;
    while (n > 0) {
        char *o = chunk;
        size_t room = sizeof(chunk);

        if (iconv(cd, &in, &n, &o, &room) == (size_t)-1 && errno != E2BIG)
            rc = -1;
        buf_append(out, chunk, (size_t)(o - chunk));
        if (rc < 0)
            break;
    }
    iconv_close(cd);
    return rc;
}

/* decode_word - RFC 2047 decode W (N bytes) into OUT: 1 when it was an encoded-word and is
 * decoded, 0 when it is not an encoded-word (nothing appended), -1 when it is one but cannot be
 * decoded (unknown charset, bad encoding) */
static int decode_word(const char *w, size_t n, struct buf *out)
{
    const char *q1, *text;
    char charset[CHARSET_MAX + 1];
    size_t cs_len, text_len;
    struct buf raw;
    int rc;

    if (n < 8 || strncmp(w, "=?", 2) != 0 || strncmp(w + n - 2, "?=", 2) != 0)
        return 0;
    q1 = memchr(w + 2, '?', n - 4);
    if (q1 == NULL || q1 + 3 > w + n - 2 || q1[2] != '?')
        return 0;
    text = q1 + 3;
    text_len = (size_t)(w + n - 2 - text);
    if (memchr(text, '?', text_len) != NULL)
        return 0;
    cs_len = (size_t)(q1 - (w + 2));
    if (memchr(w + 2, '*', cs_len) != NULL) /* RFC 2231 language: "UTF-8*en" */
        cs_len = (size_t)((const char *)memchr(w + 2, '*', cs_len) - (w + 2));
    if (cs_len == 0 || cs_len > CHARSET_MAX)
        return -1;
    memcpy(charset, w + 2, cs_len);
    charset[cs_len] = '\0';
    /* only plain names reach iconv_open: no "//TRANSLIT" or paths */
    if (!only_chars(charset, "-_.:"))
        return -1;
    buf_init(&raw);
    if (q1[1] == 'B' || q1[1] == 'b')
        rc = decode_b64(text, text_len, &raw);
    else if (q1[1] == 'Q' || q1[1] == 'q')
        rc = decode_q(text, text_len, &raw);
    else
        rc = -1;
    if (rc == 0)
        rc = to_utf8(charset, raw.data, raw.len, out) == 0 ? 1 : -1;
    buf_free(&raw);
    return rc;
}

/* phrase_add - add the words of TEXT (an atom, or a quoted-string or comment content) to the
 * display name being built in NAME: words are joined by one space, except that white space
 * between two encoded-words is dropped (RFC 2047 6.2). Returns -1 on an undecodable one. */
static int phrase_add(struct buf *name, const char *text, bool *last_ew)
{
    size_t i = 0;

    while (text[i]) {
        size_t n = 0, mark;
        int rc;

        while (text[i] == ' ' || text[i] == '\t')
            i++;
        while (text[i + n] && text[i + n] != ' ' && text[i + n] != '\t')
            n++;
        if (n == 0)
            break;
        mark = name->len;
        if (name->len > 0)
            buf_putc(name, ' ');
        rc = decode_word(text + i, n, name);
        if (rc < 0)
            return -1;
        if (rc == 1 && *last_ew) { /* drop the space put between them */
            memmove(name->data + mark, name->data + mark + 1, name->len - mark - 1);
            name->len--;
            name->data[name->len] = '\0';
        }
        if (rc == 0)
            buf_append(name, text + i, n);
        *last_ew = rc == 1;
        i += n;
    }
    return 0;
}

/* from_parse - read one collapsed From value V (an address list, leniently: groups, comments,
 * "addr (Name)", malformed pieces) into INFO: count its addresses and, for the first mailbox of
 * all From fields, record the display name */
static void from_parse(const char *v, struct from_info *info)
{
    struct buf tok, phrase, comment;
    size_t pos = 0;
    bool last_ew = false, phrase_bad = false, elem_at = false, elem_done = false;
    enum tok kind;

    buf_init(&tok);
    buf_init(&phrase);
    buf_init(&comment);
    do {
        kind = lex(v, &pos, &tok);
        if (kind == TOK_ATOM || kind == TOK_QUOTED) {
            if (phrase_add(&phrase, tok.data, &last_ew) < 0)
                phrase_bad = true;
            continue;
        }
        if (kind == TOK_COMMENT) {
            buf_reset(&comment);
            buf_puts(&comment, tok.data);
            continue;
        }
        if (kind == TOK_SPECIAL && tok.data[0] == '@') {
            elem_at = true;
            continue;
        }
        if (kind == TOK_SPECIAL && tok.data[0] == '.') { /* obs-phrase: "John Q. Public" */
            buf_putc(&phrase, '.');
            last_ew = false;
            continue;
        }
        if (kind == TOK_SPECIAL && tok.data[0] == '<') {
            bool at = false;

            while ((kind = lex(v, &pos, &tok)) != TOK_END &&
                   !(kind == TOK_SPECIAL && tok.data[0] == '>'))
                if (kind == TOK_SPECIAL && tok.data[0] == '@')
                    at = true;
            info->addresses += at;
            if (!info->have_first) {
                info->have_first = true;
                info->name_ok = !phrase_bad;
                buf_puts(&info->name, phrase_bad ? "" : phrase.data);
            }
            elem_done = true;
            continue;
        }
        if (kind == TOK_LITERAL || (kind == TOK_SPECIAL && strchr(":;,", tok.data[0]) == NULL))
            continue;
        /* end of a list element: ',' ';' ':' or the end of the value */
        if (!elem_done && elem_at && !(kind == TOK_SPECIAL && tok.data[0] == ':')) {
            info->addresses++;
            if (!info->have_first) { /* addr-spec alone: an old-style "(Name)" comment names it */
                bool ew = false;

                info->have_first = true;
                buf_reset(&phrase);
                info->name_ok = phrase_add(&phrase, comment.data, &ew) == 0;
                buf_puts(&info->name, info->name_ok ? phrase.data : "");
            }
        }
        buf_reset(&phrase);
        buf_reset(&comment);
        last_ew = phrase_bad = elem_at = elem_done = false;
    } while (kind != TOK_END);
    buf_free(&tok);
    buf_free(&phrase);
    buf_free(&comment);
}

/* clean_name - append NAME to OUT as valid UTF-8 without control characters: invalid sequences
 * become U+FFFD, C0/C1 controls, DEL and line/paragraph separators become spaces, white space
 * runs one space, none at either end. Returns true when the result is all ASCII. */
static bool clean_name(const char *name, struct buf *out)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t n = strlen(name), i = 0;
    bool space = false, ascii = true;

    while (i < n) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);

        i += len;
        if (cp < 0x20 || cp == ' ' || (cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
            space = true;
            continue;
        }
        if (space && out->len > 0)
            buf_putc(out, ' ');
        space = false;
        utf8_put(out, cp);
        ascii = ascii && cp < 0x80;
    }
    return ascii;
}

void rewrite_display_name(const char *name, struct buf *out)
{
    struct buf t;
    bool ascii, atoms = true, encode = false;
    size_t word = 0;

    buf_init(&t);
    ascii = clean_name(name, &t);
    for (size_t i = 0; i <= t.len; i++) {
        if (i == t.len || t.data[i] == ' ') {
            encode = encode || word > EW_MAX; /* only encoded-words can fold a longer word */
            word = 0;
            continue;
        }
        word++;
        atoms = atoms && is_atext((unsigned char)t.data[i]);
    }
    /* text that looks like an encoded-word is encoded, so no reader decodes it as one */
    encode = encode || !ascii || strstr(t.data, "=?") != NULL;
    if (t.len == 0) {
        /* nothing */
    } else if (!encode && atoms) {
        buf_append(out, t.data, t.len);
    } else if (!encode) {
        buf_putc(out, '"');
        for (size_t i = 0; i < t.len; i++) {
            if (t.data[i] == '"' || t.data[i] == '\\')
                buf_putc(out, '\\');
            buf_putc(out, t.data[i]);
        }
        buf_putc(out, '"');
    } else {
        for (size_t i = 0; i < t.len;) {
            size_t j = i;

            /* whole characters only: t is valid UTF-8, so the lead byte gives the length */
            while (j < t.len) {
                unsigned char c = (unsigned char)t.data[j];
                size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;

                if (j + len - i > EW_CHUNK)
                    break;
                j += len;
            }
            if (i > 0)
                buf_putc(out, ' ');
            buf_puts(out, "=?UTF-8?B?");
            base64_put(out, (const unsigned char *)t.data + i, j - i);
            buf_puts(out, "?=");
            i = j;
        }
    }
    buf_free(&t);
}

/* name_len - the length of field name NAME without obsolete trailing white space */
static size_t name_len(const char *name)
{
    size_t n = strlen(name);

    while (n > 0 && is_wsp(name[n - 1]))
        n--;
    return n;
}

int rewrite_field_ok(const char *name, const char *value, size_t value_len, char **err)
{
    size_t n;

    if (name == NULL || value == NULL)
        return set_err(err, "header field without a name or value (internal error)");
    n = name_len(name);
    if (n == 0)
        return set_err(err, "a header field has an empty name: the message is malformed");
    if (n > FIELD_NAME_MAX)
        return set_err(err,
                       "a header field name is longer than %d characters: the message is "
                       "malformed",
                       FIELD_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 33 || (unsigned char)name[i] > 126 || name[i] == ':')
            return set_err(err, "a header field name holds a space, a colon or a character "
                                "outside printable ASCII (RFC 5322 2.2): the message is malformed");
    if (memchr(value, '\0', value_len) != NULL)
        return set_err(err, "header field %.*s holds a NUL byte: the message is malformed", (int)n,
                       name);
    return 0;
}

/* name_is - is field NAME (trailing white space ignored) WHAT, case-insensitively? */
static bool name_is(const char *name, const char *what)
{
    size_t n = name_len(name);

    return n == strlen(what) && strncasecmp(name, what, n) == 0;
}

/* put_field - append NAME: TEXT (TEXT one logical line) folded to LINE_SOFT */
static void put_field(struct buf *out, const char *name, const char *text)
{
    struct buf line;

    buf_init(&line);
    buf_printf(&line, "%s: %s", name, text);
    fold_line(out, line.data, line.len, LINE_SOFT, strlen(name) + 2);
    buf_free(&line);
}

/* pass_through - append a field as received, line ends made CRLF (normalise_value), one space
 * after the colon unless the value brings its own white space, lines longer than 998 folded */
static void pass_through(struct buf *out, const struct rewrite_header *h)
{
    struct buf f;
    size_t n = name_len(h->name), start = 0;

    buf_init(&f);
    buf_append(&f, h->name, n);
    buf_putc(&f, ':');
    if (h->value[0] != '\0' && !is_wsp(h->value[0]))
        buf_putc(&f, ' ');
    normalise_value(h->value, &f);
    for (size_t i = 0; i <= f.len; i++) {
        if (i < f.len && f.data[i] != '\r')
            continue; /* normalise_value leaves CR only in CRLF */
        fold_line(out, f.data + start, i - start, LINE_HARD, start == 0 ? n + 2 : 0);
        start = i + 2;
        i++;
    }
    buf_free(&f);
}

/* put_received - append our trace field (doc/rewrite.md); -1 when the date cannot be written */
static int put_received(struct buf *out, const struct rewrite_params *p, char **err)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    struct buf text;

    if (gmtime_r(&p->now, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1900)
        return set_err(err, "the time for the Received field is out of range (internal error)");
    buf_init(&text);
    buf_printf(&text, "by %s %s id %s", p->hostname, RECEIVED_TAG, p->spool_id);
    /* the MTA's queue id is informational: left out when it is not a plain word */
    if (p->mta_queue_id != NULL && only_chars(p->mta_queue_id, "-_.") &&
        strlen(p->mta_queue_id) < 64)
        buf_printf(&text, " (MTA queue id %s)", p->mta_queue_id);
    buf_putc(&text, ';');
    put_field(out, "Received", text.data);
    /* the date on a line of its own, as Postfix and Sendmail write it */
    buf_printf(out, "\t%s, %d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
               months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    buf_free(&text);
    return 0;
}

/* check_params - refuse parameters that could break the header section or the loop check */
static int check_params(const struct rewrite_params *p, char **err)
{
    if (p->from_address == NULL || p->from_address[0] == '\0' ||
        has_line_break(p->from_address, strlen(p->from_address)) || strchr(p->from_address, '>'))
        return set_err(err, "the target's from_address is empty or not a valid address: set it "
                            "with byosmtpctl target set");
    if (p->from_name == NULL || p->reply_to == NULL)
        return set_err(err, "from_name or reply_to missing (internal error)");
    if (has_line_break(p->reply_to, strlen(p->reply_to)))
        return set_err(err, "the target's reply_to holds a line break: set it with byosmtpctl "
                            "target set");
    if (!only_chars(p->hostname, "-._") || strlen(p->hostname) > 253)
        return set_err(err, "the host name for the Received field is empty or not a DNS name: "
                            "check the system host name");
    if (!only_chars(p->spool_id, "-._") || strlen(p->spool_id) > 64)
        return set_err(err, "the spool id is empty or not a plain word (internal error)");
    return 0;
}

int rewrite_headers(const struct rewrite_params *p, const struct rewrite_header *in, size_t n,
                    struct buf *out, char **err)
{
    struct from_info info = {.have_first = false};
    struct buf orig, from, name, one;
    const char *reply = NULL, *kept_name;
    bool has_reply_to = false, from_done = false, reply_done = false, reply_after_from;
    int rc = -1;

    if (check_params(p, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rewrite_field_ok(in[i].name, in[i].value, in[i].value ? strlen(in[i].value) : 0, err) <
            0)
            return -1;

    buf_init(&orig);
    buf_init(&from);
    buf_init(&name);
    buf_init(&one);
    buf_init(&info.name);
    /* what the original From fields say: joined into one value, one line */
    for (size_t i = 0; i < n; i++) {
        if (name_is(in[i].name, "Reply-To"))
            has_reply_to = true;
        if (!name_is(in[i].name, "From"))
            continue;
        buf_reset(&one);
        collapse(in[i].value, &one);
        if (one.len == 0)
            continue;
        if (orig.len > 0)
            buf_puts(&orig, ", ");
        buf_append(&orig, one.data, one.len);
        from_parse(one.data, &info);
    }

    kept_name = info.name_ok ? info.name.data : "";
    rewrite_display_name(p->from_name[0] ? p->from_name : kept_name, &name);
    if (name.len > 0)
        buf_printf(&from, "%s <%s>", name.data, p->from_address);
    else
        buf_puts(&from, p->from_address);
    if (p->reply_to[0] != '\0')
        reply = p->reply_to;
    else if (!has_reply_to && p->reply_to_original && info.addresses > 0)
        reply = orig.data;
    /* a target reply_to takes the place of the first Reply-To; any other comes after From */
    reply_after_from = reply != NULL && !(p->reply_to[0] != '\0' && has_reply_to);

    if (put_received(out, p, err) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (name_is(in[i].name, "From")) {
            if (from_done)
                continue;
            put_field(out, "From", from.data);
            if (p->original_from_header && orig.len > 0)
                put_field(out, "Original-From", orig.data);
            if (reply_after_from)
                put_field(out, "Reply-To", reply);
            from_done = true;
        } else if (name_is(in[i].name, "Reply-To") && p->reply_to[0] != '\0') {
            if (!reply_done)
                put_field(out, "Reply-To", reply);
            reply_done = true;
        } else {
            pass_through(out, &in[i]);
        }
    }
    if (!from_done) {
        put_field(out, "From", from.data);
        if (reply_after_from)
            put_field(out, "Reply-To", reply);
    }
    rc = 0;
done:
    buf_free(&orig);
    buf_free(&from);
    buf_free(&name);
    buf_free(&one);
    buf_free(&info.name);
    return rc;
}

bool rewrite_is_ours(const char *received_value, const char *hostname)
{
    struct buf v, want;
    bool ours;

    if (received_value == NULL || !only_chars(hostname, "-._"))
        return false;
    buf_init(&v);
    buf_init(&want);
    collapse(received_value, &v);
    buf_printf(&want, "by %s %s id ", hostname, RECEIVED_TAG);
    ours = v.len > want.len && strncasecmp(v.data, want.data, want.len) == 0 &&
           is_atext((unsigned char)v.data[want.len]) && strchr(v.data, ';') != NULL;
    buf_free(&v);
    buf_free(&want);
    return ours;
}
