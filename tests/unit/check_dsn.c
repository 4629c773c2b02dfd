/*
 * check_dsn - delivery status notifications: golden files (tests/dsn/NAME.in -> NAME.ref,
 * format in doc/delivery-rules.md), a small checker of the fields every DSN must have, the helpers
 * (status derivation, one-line text, address forms), and random input that must never break
 * a line or the MIME structure.
 *
 * DSN_UPDATE=1 rewrites every NAME.ref from the actual output (review the diff before use).
 */
#include "config.h"

#include <stdint.h>

#include "delivery/dsn.h"
#include "testutil.h"

/* ---- the checker ---- */

/* count - occurrences of S in the N bytes at P */
static int count(const char *p, size_t n, const char *s)
{
    int k = 0;
    size_t sl = strlen(s);

    for (const char *q = p; (q = memmem(q, n - (size_t)(q - p), s, sl)) != NULL; q += sl)
        k++;
    return k;
}

/*
 * check_dsn - assert what every DSN must be: CRLF lines of at most 998 octets, no NUL; only
 * the expected top-level header fields; a multipart/report whose boundary opens every part and
 * closes the message; a delivery-status part with Reporting-MTA and, per recipient,
 * Final-Recipient, Action and Status; and a readable part first.
 */
static void check_dsn(const char *s, size_t n, int nrcpts, const char *what)
{
    static const char *const fields[] = {
        "From: MAILER-DAEMON@",
        "To: ",
        "Subject: ",
        "Date: ",
        "Message-ID: <",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Transfer-Encoding: 8bit"};
    size_t start = 0, head_end;
    const char *end, *b, *ds;
    char boundary[128], delim[256];
    int seen = 0;

    ck_assert_msg(strlen(s) == n, "%s: NUL in the output", what);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r')
            ck_assert_msg(i + 1 < n && s[i + 1] == '\n', "%s: bare CR at %zu", what, i);
        if (s[i] == '\n') {
            ck_assert_msg(i > 0 && s[i - 1] == '\r', "%s: bare LF at %zu", what, i);
            ck_assert_msg(i - 1 - start <= 998, "%s: line of %zu octets", what, i - 1 - start);
            start = i + 1;
        }
    }
    ck_assert_msg(start == n, "%s: the last line does not end in CRLF", what);

    end = strstr(s, "\r\n\r\n");
    ck_assert_msg(end != NULL, "%s: no end of header section", what);
    head_end = (size_t)(end - s) + 2;
    for (size_t i = 0; i < head_end;) {
        const char *nl = strstr(s + i, "\r\n");
        bool known = s[i] == ' ' || s[i] == '\t';

        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]) && !known; f++)
            if (strncmp(s + i, fields[f], strlen(fields[f])) == 0) {
                known = true;
                seen |= 1 << f;
            }
        ck_assert_msg(known, "%s: unexpected header line '%.*s'", what, (int)(nl - (s + i)), s + i);
        i = (size_t)(nl - s) + 2;
    }
    ck_assert_msg((seen & 0xFF) == 0xFF, "%s: a required header field is missing (%x)", what, seen);

    b = strstr(s, "boundary=\"");
    ck_assert_msg(b != NULL && b < end, "%s: no boundary", what);
    b += 10;
    ck_assert(strcspn(b, "\"") < sizeof(boundary));
    snprintf(boundary, sizeof(boundary), "%.*s", (int)strcspn(b, "\""), b);
    ck_assert_msg(strlen(boundary) >= 1 && strlen(boundary) <= 70, "%s: boundary length", what);
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    ck_assert_msg(count(s, n, delim) == 3 || count(s, n, delim) == 4, "%s: %d boundaries", what,
                  count(s, n, delim));
    snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
    ck_assert_msg(n >= strlen(delim) && strcmp(s + n - strlen(delim), delim) == 0,
                  "%s: not closed by the boundary", what);
    snprintf(delim, sizeof(delim),
             "\r\n--%s\r\nContent-Description: Notification\r\n"
             "Content-Type: text/plain",
             boundary);
    ck_assert_msg(strstr(s, delim) != NULL, "%s: no readable first part", what);

    ds = strstr(s, "Content-Type: message/delivery-status\r\n\r\n");
    ck_assert_msg(ds != NULL, "%s: no delivery-status part", what);
    ds += strlen("Content-Type: message/delivery-status\r\n\r\n");
    if (strncmp(ds, "Original-Envelope-Id: ", 22) == 0) /* first when the sender gave an ENVID */
        ds = strstr(ds, "\r\n") + 2;
    ck_assert_msg(strncmp(ds, "Reporting-MTA: dns; ", 20) == 0, "%s: no Reporting-MTA", what);
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    size_t dn = (size_t)(strstr(ds, delim) - ds);
    ck_assert_int_eq(count(ds, dn, "\r\nArrival-Date: "), 1);
    ck_assert_msg(count(ds, dn, "\r\n\r\nFinal-Recipient: ") == nrcpts &&
                      count(ds, dn, "\r\nAction: ") == nrcpts &&
                      count(ds, dn, "\r\nStatus: ") == nrcpts,
                  "%s: per-recipient fields do not match %d recipients", what, nrcpts);
}

/* ---- golden files ---- */

#define MAX_RCPTS 8

struct golden {
    struct dsn_params p;
    struct dsn_rcpt r[MAX_RCPTS];
    char *strings[128];
    int nstrings;
    struct buf headers;
};

/* golden_parse - parse the text of a NAME.in file (doc/delivery-rules.md) into G */
static void golden_parse(const char *file, char *text, struct golden *g)
{
    bool in_params = true;
    struct dsn_rcpt *r = NULL;
    char *line, *next;

    memset(g, 0, sizeof(*g));
    g->p.message_size = -1;
    g->p.rcpts = g->r;
    buf_init(&g->headers);
    /* line by line, keeping empty lines: the header section may end with one */
    for (line = text; *line; line = next) {
        char *colon, *v;
        size_t vlen;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);

        if (!in_params) {
            v = test_unescape(line, strlen(line), &vlen);
            buf_append(&g->headers, v, vlen);
            buf_puts(&g->headers, "\r\n");
            free(v);
            continue;
        }
        if (strcmp(line, "--") == 0) {
            in_params = false;
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        colon = strchr(line, ':');
        ck_assert_msg(colon != NULL, "%s: parameter line without ':'", file);
        *colon = '\0';
        ck_assert(g->nstrings < 128);
        v = colon[1] == ' ' ? colon + 2 : colon + 1;
        v = g->strings[g->nstrings++] = test_unescape(v, strlen(v), NULL);
        if (strcmp(line, "reporting_mta") == 0)
            g->p.reporting_mta = v;
        else if (strcmp(line, "arrival") == 0)
            g->p.arrival = (time_t)strtoll(v, NULL, 10);
        else if (strcmp(line, "now") == 0)
            g->p.now = (time_t)strtoll(v, NULL, 10);
        else if (strcmp(line, "sender") == 0)
            g->p.sender = v;
        else if (strcmp(line, "size") == 0)
            g->p.message_size = strtoll(v, NULL, 10);
        else if (strcmp(line, "spool_id") == 0)
            g->p.spool_id = v;
        else if (strcmp(line, "mta_queue_id") == 0)
            g->p.mta_queue_id = v;
        else if (strcmp(line, "seed") == 0)
            g->p.boundary_seed = strtoull(v, NULL, 16);
        else if (strcmp(line, "envid") == 0)
            g->p.envid = v;
        else if (strcmp(line, "body") == 0) {
            g->p.body = v;
            g->p.body_len = strlen(v);
        }
        else if (strcmp(line, "rcpt") == 0) {
            ck_assert_msg(g->p.nrcpts < MAX_RCPTS, "%s: too many recipients", file);
            r = &g->r[g->p.nrcpts++];
            r->final_rcpt = v;
        } else {
            ck_assert_msg(r != NULL, "%s: %s before the first rcpt", file, line);
            if (strcmp(line, "orcpt") == 0)
                r->orig_rcpt = v;
            else if (strcmp(line, "action") == 0)
                r->action = strcmp(v, "delayed") == 0   ? DSN_DELAYED
                            : strcmp(v, "relayed") == 0 ? DSN_RELAYED
                                                        : DSN_FAILED;
            else if (strcmp(line, "status") == 0)
                r->status = v;
            else if (strcmp(line, "code") == 0)
                r->reply_code = atoi(v);
            else if (strcmp(line, "remote_mta") == 0)
                r->remote_mta = v;
            else if (strcmp(line, "diagnostic") == 0)
                r->diagnostic = v;
            else if (strcmp(line, "class") == 0)
                r->class_name = v;
            else if (strcmp(line, "hint") == 0)
                r->class_hint = v;
            else if (strcmp(line, "retry_until") == 0)
                r->retry_until = (time_t)strtoll(v, NULL, 10);
            else
                ck_abort_msg("%s: unknown parameter %s", file, line);
        }
    }
    g->p.headers = g->headers.len ? g->headers.data : NULL;
    g->p.headers_len = g->headers.len;
}

/* golden_free - free what golden_parse allocated */
static void golden_free(struct golden *g)
{
    for (int i = 0; i < g->nstrings; i++)
        free(g->strings[i]);
    buf_free(&g->headers);
}

/* golden_output - the DSN built from one NAME.in (test_golden_walk), checked by check_dsn: every
 * line ends in CRLF, so NAME.ref holds it byte for byte with LF line ends */
static char *golden_output(const char *name, char *in_text, const char *in_path, size_t *len)
{
    struct golden g;
    struct buf out;
    char *err = NULL;

    golden_parse(in_path, in_text, &g);
    buf_init(&out);
    ck_assert_msg(dsn_build(&g.p, &out, &err) == 0, "%s: %s", name, err);
    check_dsn(out.data, out.len, (int)g.p.nrcpts, name);
    golden_free(&g);
    *len = out.len;
    return buf_steal(&out);
}

START_TEST(golden_files)
{
    test_golden_walk("tests/dsn", golden_output, "DSN_UPDATE", 6);
}
END_TEST

/* ---- helpers ---- */

/* base_params - one failed recipient, the values the unit tests start from */
static struct dsn_params base_params(struct dsn_rcpt *r)
{
    *r = (struct dsn_rcpt){
        .final_rcpt = "bob@example.com",
        .action = DSN_FAILED,
        .status = "5.1.1",
        .reply_code = 550,
        .remote_mta = "smtp.provider.example",
        .diagnostic = "550 5.1.1 <bob@example.com>: Recipient address rejected",
        .class_name = "recipient_rejected",
        .class_hint = "provider requires verified domains, or address invalid",
    };
    return (struct dsn_params){
        .reporting_mta = "relay.example.net",
        .arrival = 1795000000,
        .now = 1795003600,
        .sender = "alice@example.com",
        .headers = "From: alice@example.com\r\nSubject: hi\r\n",
        .headers_len = 39,
        .message_size = -1,
        .spool_id = "0123456789ABCDEF0123",
        .rcpts = r,
        .nrcpts = 1,
        .boundary_seed = 0x5EED,
    };
}

START_TEST(needed)
{
    ck_assert(dsn_needed("alice@example.com"));
    ck_assert(dsn_needed("\"odd user\"@example.com"));
    ck_assert(!dsn_needed(""));
    ck_assert(!dsn_needed("<>"));
    ck_assert(!dsn_needed(NULL));
    ck_assert(!dsn_needed("alice@example.com\r\nBcc: x@evil.example"));
    ck_assert(!dsn_needed("a\tb@example.com"));
}
END_TEST

START_TEST(status_derivation)
{
    static const struct {
        const char *status;
        int code;
        enum dsn_action action;
        const char *want;
    } cases[] = {
        {"5.1.1", 550, DSN_FAILED, "5.1.1"},
        {"4.7.28", 451, DSN_DELAYED, "4.7.28"},
        {"5.100.999", 550, DSN_FAILED, "5.100.999"},
        {"", 550, DSN_FAILED, "5.0.0"},
        {NULL, 554, DSN_FAILED, "5.0.0"},
        {"", 421, DSN_FAILED, "4.0.0"}, /* expired after a 4xx: Postfix reports 4.x.x too */
        {"", 0, DSN_FAILED, "5.0.0"},
        {"", 0, DSN_DELAYED, "4.0.0"},
        {"2.0.0", 250, DSN_FAILED, "5.0.0"}, /* a success code is no failure status */
        {"5.1", 550, DSN_FAILED, "5.0.0"},
        {"5.1.1x", 550, DSN_FAILED, "5.0.0"},
        {"5.1234.1", 450, DSN_FAILED, "4.0.0"},
        {"5.1.1\r\nX: y", 550, DSN_FAILED, "5.0.0"},
        /* a 5xx the action retries (535, a soft-bounced refusal) is delayed: 4.x.x, as Postfix */
        {"5.7.8", 535, DSN_DELAYED, "4.7.8"},
        {"5.100.999", 550, DSN_DELAYED, "4.100.999"},
        {"", 550, DSN_DELAYED, "4.0.0"},
        {NULL, 554, DSN_DELAYED, "4.0.0"},
        {"5.1", 550, DSN_DELAYED, "4.0.0"},
    };
    char buf[16];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(strcmp(dsn_status(cases[i].status, cases[i].code, cases[i].action, buf),
                             cases[i].want) == 0,
                      "case %zu: %s", i, buf);
}
END_TEST

START_TEST(one_printable_line)
{
    static const struct {
        const char *in;
        size_t max;
        const char *want;
    } cases[] = {
        {"550 5.1.1 User unknown", 100, "550 5.1.1 User unknown"},
        {"550-5.1.1 The account\r\n550 5.1.1 does not exist\r\n", 100,
         "550-5.1.1 The account; 550 5.1.1 does not exist"},
        {"a\nb\rc\r\n\r\nd", 100, "a; b; c; d"},
        {"  \r\n padded \t ", 100, "padded"},
        {"tab\there", 100, "tab here"},
        {"ctl\001\177 \xc3\xa9", 100, "ctl?? ??"},
        {"0123456789abcdef", 10, "0123456..."},
        {"0123456789", 10, "0123456789"},
        {"", 10, ""},
        {NULL, 10, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = text_line(cases[i].in, cases[i].max);

        ck_assert_msg(strcmp(s, cases[i].want) == 0, "case %zu: got '%s'", i, s);
        free(s);
    }
}
END_TEST

START_TEST(address_forms)
{
    static const struct {
        const char *in;
        bool utf8;
        const char *want;
    } cases[] = {
        {"bob@example.com", false, "bob@example.com"},
        {"\"john doe\"+tag=x@example.com", false, "\"john doe\"+tag=x@example.com"},
        {"bob@example.com\r\nBcc: evil@x", false, "bob@example.com??Bcc: evil@x"},
        {"j\xc3\xb6rg@example.com", true, "j\\x{F6}rg@example.com"},
        {"\xe7\x94\xa8\xe6\x88\xb7+a=b c\\d@\xe4\xbe\x8b.cn", true,
         "\\x{7528}\\x{6237}\\x{2B}a\\x{3D}b\\x{20}c\\x{5C}d@\\x{4F8B}.cn"},
        {"\xf0\x9f\x93\xa7@example.com", true, "\\x{1F4E7}@example.com"},
        {"bad\xff\xc3(utf8@\xc3\xa9.example", true,
         "bad?"
         "?(utf8@\\x{E9}.example" /* no trigraph */},
        {"", false, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool utf8 = !cases[i].utf8;
        char *s = dsn_address(cases[i].in, &utf8);

        ck_assert_msg(strcmp(s, cases[i].want) == 0 && utf8 == cases[i].utf8,
                      "case %zu: got '%s' (%s)", i, s, utf8 ? "utf-8" : "rfc822");
        free(s);
    }
}
END_TEST

START_TEST(address_cut)
{
    char long_addr[2100];
    bool utf8;
    char *s;

    memset(long_addr, 'a', 2000);
    strcpy(long_addr + 2000, "@example.com");
    s = dsn_address(long_addr, &utf8);
    ck_assert_uint_eq(strlen(s), DSN_ADDR_MAX);
    ck_assert_str_eq(s + DSN_ADDR_MAX - 3, "...");
    free(s);
    for (int i = 0; i < 1000; i++) /* two-byte characters: the cut must not split one */
        memcpy(long_addr + 2 * i, "\xc3\xa9", 2);
    long_addr[2000] = '\0';
    s = dsn_address(long_addr, &utf8);
    ck_assert(strlen(s) <= DSN_ADDR_MAX);
    ck_assert_str_eq(s + strlen(s) - 4, "}...");
    free(s);
}
END_TEST

START_TEST(refuses_bad_parameters)
{
    struct dsn_rcpt r;
    struct dsn_params p = base_params(&r);
    struct buf out;
    char *err = NULL;

    buf_init(&out);
    p.nrcpts = 0;
    ck_assert_int_eq(dsn_build(&p, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "at least one recipient"));
    p = base_params(&r);
    p.sender = "";
    ck_assert_int_eq(dsn_build(&p, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "null"));
    p = base_params(&r);
    p.reporting_mta = "relay.example.net\r\nBcc: x";
    ck_assert_int_eq(dsn_build(&p, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a host name"));
    p = base_params(&r);
    r.final_rcpt = "";
    ck_assert_int_eq(dsn_build(&p, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no address"));
    ck_assert_uint_eq(out.len, 0);
    free(err);
    buf_free(&out);
}
END_TEST

START_TEST(long_diagnostic_folded)
{
    struct dsn_rcpt r;
    struct dsn_params p = base_params(&r);
    struct buf out, diag;
    char *err = NULL;

    buf_init(&diag);
    buf_puts(&diag, "550 5.7.1 ");
    for (int i = 0; i < 100; i++)
        buf_puts(&diag, "word ");
    for (int i = 0; i < 3000; i++) /* and one word longer than any line */
        buf_putc(&diag, 'x');
    r.diagnostic = diag.data;
    buf_init(&out);
    ck_assert_int_eq(dsn_build(&p, &out, &err), 0);
    check_dsn(out.data, out.len, 1, "long diagnostic");
    /* folded, and cut to DSN_DIAG_MAX */
    ck_assert_ptr_nonnull(strstr(out.data, "Diagnostic-Code: smtp; 550 5.7.1 word word"));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n word"));
    ck_assert_ptr_nonnull(strstr(out.data, "xxx...\r\n"));
    buf_free(&out);
    buf_free(&diag);
}
END_TEST

START_TEST(boundary_never_in_content)
{
    struct dsn_rcpt r;
    struct dsn_params p = base_params(&r);
    struct buf out;
    char *err = NULL;

    r.diagnostic = "550 --=_byosmtp_0000000000005EED and =_byosmtp_0000000000005EED_1";
    buf_init(&out);
    ck_assert_int_eq(dsn_build(&p, &out, &err), 0);
    check_dsn(out.data, out.len, 1, "boundary collision");
    ck_assert_ptr_nonnull(strstr(out.data, "boundary=\"=_byosmtp_0000000000005EED_2\""));
    buf_free(&out);
}
END_TEST

START_TEST(header_section_normalised)
{
    static const char h[] = "Subject: a\nX-Bare: b\rX-Nul: c\0d\r\nX-Last: e\r\n\r\nbody line\r\n";
    struct dsn_rcpt r;
    struct dsn_params p = base_params(&r);
    struct buf out;
    char *err = NULL;

    p.headers = h;
    p.headers_len = sizeof(h) - 1;
    buf_init(&out);
    ck_assert_int_eq(dsn_build(&p, &out, &err), 0);
    check_dsn(out.data, out.len, 1, "header section");
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nSubject: a\r\nX-Bare: b\r\nX-Nul: c?d\r\n"
                                           "X-Last: e\r\n\r\n--"));
    ck_assert_ptr_null(strstr(out.data, "body line"));
    ck_assert_ptr_null(strstr(out.data, "8bit"));
    buf_free(&out);

    p.headers = NULL; /* no header section: no third part */
    p.headers_len = 0;
    buf_init(&out);
    ck_assert_int_eq(dsn_build(&p, &out, &err), 0);
    check_dsn(out.data, out.len, 1, "no header section");
    ck_assert_ptr_null(strstr(out.data, "text/rfc822-headers"));
    buf_free(&out);
}
END_TEST

/* next_random - xorshift64, so the random test is the same on every run */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* random_text - N random bytes, weighted towards CR, LF, space and the boundary prefix */
static char *random_text(uint64_t *seed, size_t n)
{
    static const char *const bits[] = {"\r",         "\n", " ",  "\r\n",
                                       "=_byosmtp_", "--", "\t", "\xc3\xa9"};
    struct buf b;

    buf_init(&b);
    while (b.len < n) {
        uint64_t v = next_random(seed);

        if (v % 4 == 0)
            buf_puts(&b, bits[(v >> 8) % 8]);
        else
            buf_putc(&b, (int)((v >> 16) % 255) + 1);
    }
    return buf_steal(&b);
}

START_TEST(random_input_keeps_structure)
{
    uint64_t seed = 0x1234567887654321ull;

    for (int round = 0; round < 300; round++) {
        struct dsn_rcpt r[3];
        struct dsn_params p = base_params(&r[0]);
        char *texts[16];
        int nt = 0;
        struct buf out;
        char *err = NULL;

        for (int i = 0; i < 3; i++) {
            r[i] = r[0];
            r[i].final_rcpt = texts[nt++] = random_text(&seed, 1 + next_random(&seed) % 300);
            r[i].orig_rcpt = texts[nt++] = random_text(&seed, next_random(&seed) % 100);
            r[i].diagnostic = texts[nt++] = random_text(&seed, next_random(&seed) % 2000);
            r[i].remote_mta = texts[nt++] = random_text(&seed, next_random(&seed) % 60);
            r[i].action = next_random(&seed) % 2 ? DSN_FAILED : DSN_DELAYED;
            r[i].reply_code = (int)(next_random(&seed) % 700);
        }
        p.rcpts = r;
        p.nrcpts = 3;
        p.sender = texts[nt++] = random_text(&seed, 1 + next_random(&seed) % 200);
        if (!dsn_needed(p.sender))
            p.sender = "alice@example.com";
        p.headers = texts[nt++] = random_text(&seed, 3000);
        p.headers_len = strlen(p.headers);
        p.boundary_seed = next_random(&seed);
        buf_init(&out);
        ck_assert_int_eq(dsn_build(&p, &out, &err), 0);
        check_dsn(out.data, out.len, 3, "random input");
        buf_free(&out);
        for (int i = 0; i < nt; i++)
            free(texts[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dsn");
    TCase *tc = tcase_create("dsn");

    tcase_add_test(tc, golden_files);
    tcase_add_test(tc, needed);
    tcase_add_test(tc, status_derivation);
    tcase_add_test(tc, one_printable_line);
    tcase_add_test(tc, address_forms);
    tcase_add_test(tc, address_cut);
    tcase_add_test(tc, refuses_bad_parameters);
    tcase_add_test(tc, long_diagnostic_folded);
    tcase_add_test(tc, boundary_never_in_content);
    tcase_add_test(tc, header_section_normalised);
    tcase_add_test(tc, random_input_keeps_structure);
    suite_add_tcase(s, tc);
    return test_run(s);
}
