/*
 * check_rewrite - the header rewriter: golden files (tests/rewrite/NAME.in -> NAME.ref, format in
 * doc/rewrite.md), display names with an RFC 2047 decoder of our own, the loop check, field
 * checks, and a random-input loop for the properties that must hold whatever comes in.
 *
 * REWRITE_UPDATE=1 rewrites every NAME.ref from the actual output (review the diff before use).
 */
#include "config.h"

#include <stdint.h>
#include <strings.h>

#include "milter/rewrite.h"
#include "testutil.h"

/* ---- helpers ---- */

/* check_lines - assert the properties every rewrite output has: CR only in CRLF, LF only after
 * CR, no NUL, lines <= 998, continuation lines start with white space and hold more than that,
 * every other line is "Name:" with a printable name; returns the number of From fields */
static int check_lines(const char *s, size_t n, const char *what)
{
    size_t start = 0;
    int froms = 0;

    ck_assert_msg(strlen(s) == n, "%s: NUL in the output", what);
    ck_assert_msg(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n', "%s: output does not end in CRLF",
                  what);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r')
            ck_assert_msg(i + 1 < n && s[i + 1] == '\n', "%s: bare CR at %zu", what, i);
        if (s[i] == '\n')
            ck_assert_msg(i > 0 && s[i - 1] == '\r', "%s: bare LF at %zu", what, i);
        if (s[i] != '\n')
            continue;
        size_t len = i - 1 - start;
        const char *line = s + start;

        ck_assert_msg(len <= 998, "%s: line of %zu characters", what, len);
        if (line[0] == ' ' || line[0] == '\t') {
            size_t k = 0;

            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            ck_assert_msg(k < len, "%s: a line of only white space", what);
        } else {
            const char *colon = memchr(line, ':', len);

            ck_assert_msg(colon != NULL && colon > line, "%s: a line that is no field", what);
            for (const char *c = line; c < colon; c++)
                ck_assert_msg(*c > 32 && *c < 127, "%s: bad field name", what);
            if (colon - line == 4 && strncasecmp(line, "From", 4) == 0)
                froms++;
        }
        start = i + 1;
    }
    return froms;
}

/* b64_decode - decode base64 (with padding) into OUT; false on a bad character */
static bool b64_decode(const char *t, size_t n, struct buf *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 != 0)
        return false;
    for (size_t i = 0; i < n && t[i] != '='; i++) {
        const char *p = memchr(a, t[i], 64);

        if (p == NULL)
            return false;
        acc = acc << 6 | (uint32_t)(p - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (int)(acc >> bits & 0xFF));
        }
    }
    return true;
}

/* utf8_ok - is S (N bytes) well-formed UTF-8? (a test oracle independent of rewrite.c) */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80                    ? 1
                     : s[i] >= 0xC2 && s[i] <= 0xDF ? 2
                     : (s[i] & 0xF0) == 0xE0        ? 3
                     : s[i] >= 0xF0 && s[i] <= 0xF4 ? 4
                                                    : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* ew_decode_all - decode a phrase made only of "=?UTF-8?B?...?=" words separated by one space,
 * asserting each word is <= 75 characters and decodes to whole UTF-8 characters */
static char *ew_decode_all(const char *phrase)
{
    struct buf text, piece;
    const char *p = phrase;

    buf_init(&text);
    buf_init(&piece);
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);

        ck_assert_msg(n <= 75, "encoded-word of %zu characters", n);
        ck_assert_msg(n > 12 && strncmp(p, "=?UTF-8?B?", 10) == 0 &&
                          strncmp(p + n - 2, "?=", 2) == 0,
                      "not an encoded-word: %.*s", (int)n, p);
        buf_reset(&piece);
        ck_assert(b64_decode(p + 10, n - 12, &piece));
        ck_assert_msg(utf8_ok((unsigned char *)piece.data, piece.len),
                      "an encoded-word splits a UTF-8 character: %.*s", (int)n, p);
        buf_append(&text, piece.data, piece.len);
        p += n;
        if (*p == ' ')
            p++;
    }
    buf_free(&piece);
    return buf_steal(&text);
}

/* display - rewrite_display_name into a new string */
static char *display(const char *name)
{
    struct buf b;

    buf_init(&b);
    rewrite_display_name(name, &b);
    return buf_steal(&b);
}

/* default_params - the settings every test starts from */
static struct rewrite_params default_params(void)
{
    return (struct rewrite_params){
        .from_address = "billing@acme.example",
        .from_name = "",
        .reply_to = "",
        .original_from_header = true,
        .reply_to_original = true,
        .hostname = "relay.example.net",
        .spool_id = "0123456789ABCDEF",
        .mta_queue_id = NULL,
        .now = 1795000000,
    };
}

/* ---- golden files ---- */

/* A parsed NAME.in: strings are owned here. */
struct golden {
    struct rewrite_params p;
    char *strings[16];
    int nstrings;
    struct rewrite_header h[64];
    size_t n;
};

/* golden_parse - parse the text of a NAME.in file (see doc/rewrite.md) into G */
static void golden_parse(const char *file, char *text, struct golden *g)
{
    bool leadspc = false, crlf = false, in_params = true;
    char *line, *save = NULL;

    memset(g, 0, sizeof(*g));
    g->p = default_params();
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (in_params) {
            char *colon = strchr(line, ':'), *v;

            if (strcmp(line, "--") == 0) {
                in_params = false;
                continue;
            }
            if (line[0] == '#' || line[0] == '\0')
                continue;
            ck_assert_msg(colon != NULL, "%s: parameter line without ':'", file);
            *colon = '\0';
            v = colon[1] == ' ' ? colon + 2 : colon + 1;
            ck_assert(g->nstrings < 16);
            v = g->strings[g->nstrings++] = test_unescape(v, strlen(v), NULL);
            if (strcmp(line, "from_address") == 0)
                g->p.from_address = v;
            else if (strcmp(line, "from_name") == 0)
                g->p.from_name = v;
            else if (strcmp(line, "reply_to") == 0)
                g->p.reply_to = v;
            else if (strcmp(line, "original_from_header") == 0)
                g->p.original_from_header = strcmp(v, "yes") == 0;
            else if (strcmp(line, "reply_to_original") == 0)
                g->p.reply_to_original = strcmp(v, "yes") == 0;
            else if (strcmp(line, "hostname") == 0)
                g->p.hostname = v;
            else if (strcmp(line, "spool_id") == 0)
                g->p.spool_id = v;
            else if (strcmp(line, "mta_queue_id") == 0)
                g->p.mta_queue_id = *v ? v : NULL;
            else if (strcmp(line, "now") == 0)
                g->p.now = (time_t)strtoll(v, NULL, 10);
            else if (strcmp(line, "leadspc") == 0)
                leadspc = strcmp(v, "yes") == 0;
            else if (strcmp(line, "line_end") == 0)
                crlf = strcmp(v, "crlf") == 0;
            else
                ck_abort_msg("%s: unknown parameter %s", file, line);
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') { /* a continuation of the field before */
            ck_assert_msg(g->n > 0, "%s: continuation line first", file);
            char *prev = (char *)g->h[g->n - 1].value,
                 *more = test_unescape(line, strlen(line), NULL);
            char *joined = xasprintf("%s%s%s", prev, crlf ? "\r\n" : "\n", more);

            free(prev);
            free(more);
            g->h[g->n - 1].value = joined;
            continue;
        }
        char *colon = strchr(line, ':');

        ck_assert_msg(colon != NULL && g->n < 64, "%s: header line without ':'", file);
        g->h[g->n].name = test_unescape(line, (size_t)(colon - line), NULL);
        colon++;
        if (!leadspc && *colon == ' ') /* libmilter without SMFIP_HDR_LEADSPC */
            colon++;
        g->h[g->n].value = test_unescape(colon, strlen(colon), NULL);
        g->n++;
    }
}

/* golden_free - free what golden_parse allocated */
static void golden_free(struct golden *g)
{
    for (int i = 0; i < g->nstrings; i++)
        free(g->strings[i]);
    for (size_t i = 0; i < g->n; i++) {
        free((char *)g->h[i].name);
        free((char *)g->h[i].value);
    }
}

/* golden_output - the rewriter's output for one NAME.in (test_golden_walk), as NAME.ref holds it:
 * the header section with LF line ends, or "error: MESSAGE" when the rewrite is refused */
static char *golden_output(const char *name, char *in_text, const char *in_path, size_t *len)
{
    struct golden g;
    struct buf out;
    char *err = NULL;

    golden_parse(in_path, in_text, &g);
    buf_init(&out);
    if (rewrite_headers(&g.p, g.h, g.n, &out, &err) == 0) {
        ck_assert_msg(check_lines(out.data, out.len, name) == 1, "%s: not one From", name);
    } else {
        ck_assert_uint_eq(out.len, 0);
        buf_printf(&out, "error: %s\n", err);
    }
    free(err);
    golden_free(&g);
    *len = out.len;
    return buf_steal(&out);
}

START_TEST(golden_files)
{
    test_golden_walk("tests/rewrite", golden_output, "REWRITE_UPDATE", 20);
}
END_TEST

/* ---- display names ---- */

START_TEST(display_atoms_and_quoting)
{
    static const char *const cases[][2] = {
        {"Acme Billing", "Acme Billing"},
        {"  Acme \t Billing  ", "Acme Billing"},
        {"Doe, John", "\"Doe, John\""},
        {"John Q. Public", "\"John Q. Public\""},
        {"say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\""},
        {"a@b.example", "\"a@b.example\""},
        {"Acme\r\nBcc: x@evil.example", "\"Acme Bcc: x@evil.example\""},
        {"Tab\there\x7f", "Tab here"},
        {"", ""},
        {" \r\n\t ", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = display(cases[i][0]);

        ck_assert_msg(strcmp(got, cases[i][1]) == 0, "case %zu: got [%s], want [%s]", i, got,
                      cases[i][1]);
        free(got);
    }
}
END_TEST

START_TEST(display_encoded_words_round_trip)
{
    /* 2-, 3- and 4-byte characters after every prefix length, so a character meets the end of
     * each encoded-word at every offset */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};

    for (size_t c = 0; c < 3; c++) {
        for (size_t prefix = 0; prefix < 50; prefix++) {
            struct buf name;
            char *got, *text;

            buf_init(&name);
            for (size_t i = 0; i < prefix; i++)
                buf_putc(&name, 'a' + (int)(i % 26));
            for (size_t i = 0; i < 40; i++)
                buf_puts(&name, chars[c]);
            buf_puts(&name, " end");
            got = display(name.data);
            text = ew_decode_all(got);
            ck_assert_msg(strcmp(text, name.data) == 0, "round trip lost text for prefix %zu",
                          prefix);
            free(got);
            free(text);
            buf_free(&name);
        }
    }
}
END_TEST

START_TEST(display_replaces_invalid_and_controls)
{
    char *got = display("Caf\xc3\xa9 \xff\xc3 \xed\xa0\x80 \xc2\x85x\xe2\x80\xa8y");
    char *text = ew_decode_all(got);

    /* invalid bytes -> U+FFFD; NEL (C1) and LINE SEPARATOR -> space */
    ck_assert_str_eq(text,
                     "Caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                     "x y");
    free(got);
    free(text);

    /* an ASCII name that a reader could take for an encoded-word is encoded */
    got = display("=?utf-8?q?Boss?=");
    text = ew_decode_all(got);
    ck_assert_str_eq(text, "=?utf-8?q?Boss?=");
    free(got);
    free(text);

    /* a word too long to fold goes into encoded-words too */
    struct buf name;

    buf_init(&name);
    for (int i = 0; i < 200; i++)
        buf_putc(&name, 'x');
    got = display(name.data);
    text = ew_decode_all(got);
    ck_assert_str_eq(text, name.data);
    free(got);
    free(text);
    buf_free(&name);
}
END_TEST

/* ---- loop check ---- */

/* received_value - the value of the Received field rewrite_headers writes with P */
static char *received_value(const struct rewrite_params *p)
{
    struct rewrite_header h[] = {{"From", "a@b.example"}};
    struct buf out;
    char *err = NULL, *v, *end;

    buf_init(&out);
    ck_assert_int_eq(rewrite_headers(p, h, 1, &out, &err), 0);
    ck_assert(strncmp(out.data, "Received: ", 10) == 0);
    end = strstr(out.data, "\r\nFrom:");
    ck_assert_ptr_nonnull(end);
    v = xstrndup(out.data + 10, (size_t)(end - (out.data + 10)));
    buf_free(&out);
    return v;
}

START_TEST(is_ours_recognises_own_field)
{
    struct rewrite_params p = default_params();
    char *v, *lead, *lf;

    p.mta_queue_id = "4XyZ1abc";
    v = received_value(&p);
    ck_assert(rewrite_is_ours(v, "relay.example.net"));
    ck_assert(rewrite_is_ours(v, "RELAY.Example.NET"));
    ck_assert(!rewrite_is_ours(v, "other.example.net"));
    ck_assert(!rewrite_is_ours(v, "relay.example"));
    ck_assert(!rewrite_is_ours(v, ""));
    ck_assert(!rewrite_is_ours(v, NULL));
    lead = xasprintf(" %s", v); /* as with SMFIP_HDR_LEADSPC */
    ck_assert(rewrite_is_ours(lead, "relay.example.net"));
    lf = xstrdup(v); /* folded by libmilter with a bare LF */
    for (char *c = lf; (c = strstr(c, "\r\n")) != NULL; c++)
        memmove(c, c + 1, strlen(c));
    ck_assert(strchr(lf, '\n') != NULL);
    ck_assert(rewrite_is_ours(lf, "relay.example.net"));
    free(v);
    free(lead);
    free(lf);
}
END_TEST

START_TEST(is_ours_refuses_others)
{
    const char *host = "relay.example.net";

    ck_assert(!rewrite_is_ours("by other.example.net (byosmtpd) id ABC; Mon, 1 Jan 2024 00:00:00 "
                               "+0000",
                               host));
    ck_assert(!rewrite_is_ours("by relay.example.net (Postfix) id ABC; Mon, 1 Jan 2024", host));
    ck_assert(!rewrite_is_ours("by relay.example.net.evil.example (byosmtpd) id ABC; x", host));
    ck_assert(!rewrite_is_ours("from x by relay.example.net (byosmtpd) id ABC; x", host));
    ck_assert(!rewrite_is_ours("by relay.example.net (byosmtpd) id ; x", host));
    ck_assert(!rewrite_is_ours("", host));
    ck_assert(rewrite_is_ours("by relay.example.net (byosmtpd) id ABC; x", host));
}
END_TEST

/* ---- field checks and errors ---- */

START_TEST(field_checks)
{
    char *err = NULL;

    ck_assert_int_eq(rewrite_field_ok("Subject", "a\0b", 3, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "NUL"));
    ck_assert_int_eq(rewrite_field_ok("Sub ject", "x", 1, &err), -1);
    ck_assert_int_eq(rewrite_field_ok("Sub:ject", "x", 1, &err), -1);
    ck_assert_int_eq(rewrite_field_ok("", "x", 1, &err), -1);
    ck_assert_int_eq(rewrite_field_ok(" ", "x", 1, &err), -1);
    ck_assert_int_eq(rewrite_field_ok("Subj\xc3\xa9", "x", 1, &err), -1);
    ck_assert_int_eq(rewrite_field_ok("From ", "x", 1, &err), 0); /* obs: space before ':' */
    ck_assert_int_eq(rewrite_field_ok("Subject", "a\r\n b", 5, &err), 0);
    free(err);
}
END_TEST

START_TEST(bad_params_refused_output_untouched)
{
    struct rewrite_header h[] = {{"From", "a@b.example"}, {"Bad Name", "x"}};
    struct rewrite_params p = default_params();
    struct buf out;
    char *err = NULL;

    buf_init(&out);
    ck_assert_int_eq(rewrite_headers(&p, h, 2, &out, &err), -1);
    ck_assert_uint_eq(out.len, 0);
    p.hostname = "relay example";
    ck_assert_int_eq(rewrite_headers(&p, h, 1, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "host name"));
    p = default_params();
    p.from_address = "";
    ck_assert_int_eq(rewrite_headers(&p, h, 1, &out, &err), -1);
    p = default_params();
    p.spool_id = "a b";
    ck_assert_int_eq(rewrite_headers(&p, h, 1, &out, &err), -1);
    ck_assert_uint_eq(out.len, 0);
    free(err);
    buf_free(&out);
}
END_TEST

/* ---- random input ---- */

START_TEST(random_values_keep_properties)
{
    static const char *const names[] = {"From",    "from",     "FROM ",  "Reply-To",     "To",
                                        "Subject", "Received", "X-Test", "Original-From"};
    static const char frag[] = "\r\n\t <>\"(),@:;\\.=?";
    unsigned seed = 20260101;

    for (int iter = 0; iter < 3000; iter++) {
        struct rewrite_header h[8];
        char *vals[8];
        size_t n = (size_t)(rand_r(&seed) % 8);
        struct rewrite_params p = default_params();
        struct buf out;
        char *err = NULL;
        char name[80];

        for (size_t i = 0; i < n; i++) {
            size_t len = (size_t)(rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 3000 : 120));
            char *v = xmalloc(len + 1);

            for (size_t k = 0; k < len; k++) {
                int r = rand_r(&seed) % 4;

                v[k] = r == 0   ? frag[rand_r(&seed) % (sizeof(frag) - 1)]
                       : r == 1 ? (char)(1 + rand_r(&seed) % 255)
                                : (char)('a' + rand_r(&seed) % 26);
            }
            v[len] = '\0';
            vals[i] = v;
            h[i].name = names[rand_r(&seed) % (sizeof(names) / sizeof(names[0]))];
            h[i].value = v;
        }
        p.from_name = n > 0 && rand_r(&seed) % 2 ? vals[0] : "";
        p.reply_to = rand_r(&seed) % 3 == 0 ? "help@acme.example" : "";
        p.original_from_header = rand_r(&seed) % 2;
        p.reply_to_original = rand_r(&seed) % 2;
        buf_init(&out);
        ck_assert_msg(rewrite_headers(&p, h, n, &out, &err) == 0, "iteration %d: %s", iter, err);
        snprintf(name, sizeof(name), "random iteration %d", iter);
        ck_assert_msg(check_lines(out.data, out.len, name) == 1, "%s: not exactly one From", name);
        /* one Reply-To at most when we wrote one */
        if (p.reply_to[0]) {
            int replies = 0;

            for (const char *c = out.data; (c = strcasestr(c, "\nReply-To:")) != NULL; c++)
                replies++;
            ck_assert_int_eq(replies, 1);
        }
        buf_free(&out);
        for (size_t i = 0; i < n; i++)
            free(vals[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, golden_files);
    tcase_add_test(tc, display_atoms_and_quoting);
    tcase_add_test(tc, display_encoded_words_round_trip);
    tcase_add_test(tc, display_replaces_invalid_and_controls);
    tcase_add_test(tc, is_ours_recognises_own_field);
    tcase_add_test(tc, is_ours_refuses_others);
    tcase_add_test(tc, field_checks);
    tcase_add_test(tc, bad_params_refused_output_untouched);
    tcase_add_test(tc, random_values_keep_properties);
    suite_add_tcase(s, tc);
    return test_run(s);
}
