/*
 * smtp_reply - reply and EHLO capability parsing. Caller-owned state only: thread-safe.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_reply.h"

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->text);
}

void smtp_reply_reset(struct smtp_reply *r)
{
    r->code = 0;
    r->enhanced[0] = '\0';
    r->lines = 0;
    r->done = false;
    buf_reset(&r->text);
}

void smtp_reply_free(struct smtp_reply *r)
{
    buf_free(&r->text);
}

/* parse_enhanced - read "c.sss.ddd" at the start of TEXT (class must match the reply's);
 * returns its length, 0 when there is none */
static size_t parse_enhanced(const char *text, size_t len, int code_class)
{
    size_t i = 0;

    if (len < 5 || text[0] - '0' != code_class || text[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;

        while (i < len && isdigit((unsigned char)text[i]) && i - start < 3)
            i++;
        if (i == start || (i < len && isdigit((unsigned char)text[i])))
            return 0;
        if (part == 0) {
            if (i >= len || text[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && text[i] != ' ')
        return 0;
    return i;
}

int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len, char **err)
{
    int code;
    const char *text;
    size_t tlen;

    if (r->done)
        return set_err(err, "reply line after the end of the reply");
    if (len > SMTP_REPLY_MAX_LINE)
        return set_err(err, "reply line longer than %d bytes", SMTP_REPLY_MAX_LINE);
    if (r->lines >= SMTP_REPLY_MAX_LINES)
        return set_err(err, "reply longer than %d lines", SMTP_REPLY_MAX_LINES);
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
        !isdigit((unsigned char)line[2]))
        return set_err(err, "malformed reply line (no SMTP reply code)");
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return set_err(err, "malformed reply line (code not followed by space or hyphen)");
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->lines > 0 && code != r->code)
        return set_err(err, "multi-line reply changes its code from %d to %d", r->code, code);

    text = len > 4 ? line + 4 : "";
    tlen = len > 4 ? len - 4 : 0;
    if (r->lines == 0) {
        size_t n = parse_enhanced(text, tlen, code / 100);

        r->code = code;
        memcpy(r->enhanced, text, n);
        r->enhanced[n] = '\0';
    } else {
        buf_putc(&r->text, '\n');
    }
    buf_append(&r->text, text, tlen);
    r->lines++;
    if (len == 3 || line[3] == ' ')
        r->done = true;
    return r->done ? 1 : 0;
}

int smtp_reply_parse(struct smtp_reply *r, const char *text, size_t len, char **err)
{
    size_t pos = 0;

    smtp_reply_reset(r);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t llen = end - pos;

        if (llen > 0 && text[pos + llen - 1] == '\r')
            llen--;
        if (smtp_reply_feed(r, text + pos, llen, err) < 0)
            return -1;
        pos = nl ? end + 1 : len;
    }
    if (!r->done)
        return set_err(err, "incomplete reply");
    return 0;
}

char *smtp_reply_line(const struct smtp_reply *r)
{
    struct buf b;
    const size_t max = 400;

    char *text = text_line_n(r->text.data, r->text.len, max - 4);

    buf_init(&b);
    buf_printf(&b, "%03d", r->code);
    if (*text)
        buf_printf(&b, " %s", text);
    free(text);
    return buf_steal(&b);
}

/* list_has - the space-separated LIST holds the word W of N bytes (case-insensitive) */
static bool list_has(const char *list, const char *w, size_t n)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " ");

        if (len == n && strncasecmp(p, w, n) == 0)
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* add_auth_mechs - record the mechanisms of an AUTH line's parameter list */
static void add_auth_mechs(struct smtp_caps *caps, const char *p, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } mechs[] = {
        {"PLAIN", SMTP_AUTH_MECH_PLAIN},
        {"LOGIN", SMTP_AUTH_MECH_LOGIN},
        {"CRAM-MD5", SMTP_AUTH_MECH_CRAM_MD5},
        {"XOAUTH2", SMTP_AUTH_MECH_XOAUTH2},
    };
    size_t i = 0;

    caps->flags |= SMTP_CAP_AUTH;
    while (i < n) {
        size_t start, wlen;

        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        start = i;
        while (i < n && p[i] != ' ' && p[i] != '\t')
            i++;
        wlen = i - start;
        if (wlen == 0)
            continue;
        for (size_t m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
            if (strlen(mechs[m].name) == wlen && strncasecmp(p + start, mechs[m].name, wlen) == 0)
                caps->auth |= mechs[m].bit;
        }
        /* Keep the list as offered for messages, printable, bounded, each name once
         * (servers that send both "AUTH" and "AUTH=" lines repeat them). */
        if (!list_has(caps->auth_list, p + start, wlen) &&
            strlen(caps->auth_list) + wlen + 2 < sizeof(caps->auth_list)) {
            size_t at = strlen(caps->auth_list);

            if (at > 0)
                caps->auth_list[at++] = ' ';
            for (size_t k = 0; k < wlen; k++) {
                unsigned char c = (unsigned char)p[start + k];

                caps->auth_list[at++] = c > 0x20 && c < 0x7f ? (char)c : '?';
            }
            caps->auth_list[at] = '\0';
        }
    }
}

/* keyword_is - the line starts with KW followed by the end, a space or (when eq) '=' */
static bool keyword_is(const char *line, size_t len, const char *kw, bool eq)
{
    size_t n = strlen(kw);

    if (len < n || strncasecmp(line, kw, n) != 0)
        return false;
    return len == n || line[n] == ' ' || (eq && line[n] == '=');
}

void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
    const char *p = r->text.data;
    const char *end = p + r->text.len;
    bool first = true;

    memset(caps, 0, sizeof(*caps));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (!first) {
            if (keyword_is(p, len, "STARTTLS", false))
                caps->flags |= SMTP_CAP_STARTTLS;
            else if (keyword_is(p, len, "PIPELINING", false))
                caps->flags |= SMTP_CAP_PIPELINING;
            else if (keyword_is(p, len, "8BITMIME", false))
                caps->flags |= SMTP_CAP_8BITMIME;
            else if (keyword_is(p, len, "SMTPUTF8", false))
                caps->flags |= SMTP_CAP_SMTPUTF8;
            else if (keyword_is(p, len, "ENHANCEDSTATUSCODES", false))
                caps->flags |= SMTP_CAP_ENHANCEDSTATUSCODES;
            else if (keyword_is(p, len, "SIZE", false)) {
                caps->flags |= SMTP_CAP_SIZE;
                if (len > 5) {
                    char num[32];
                    size_t n = len - 5 < sizeof(num) - 1 ? len - 5 : sizeof(num) - 1;

                    memcpy(num, p + 5, n);
                    num[n] = '\0';
                    caps->size_limit = strtoull(num, NULL, 10);
                }
            } else if (keyword_is(p, len, "AUTH", true))
                add_auth_mechs(caps, p + 5 > p + len ? p + len : p + 5, len > 5 ? len - 5 : 0);
        }
        first = false;
        p = nl ? nl + 1 : end;
    }
}
