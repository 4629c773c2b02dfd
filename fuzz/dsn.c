/*
 * dsn - fuzz DSN composition (dsn_build, src/delivery/dsn.h) from hostile provider replies and
 * hostile original headers. The input is the golden files' format (tests/dsn/NAME.in,
 * doc/delivery-rules.md): parameter lines, one "rcpt:" line opening each recipient, "--", then
 * the original header section; escapes {CR} {LF} {TAB} {NUL}. One key is added here: "reply:"
 * gives a recipient's raw reply as the provider sent it (lines separated by {CR}{LF}); it goes
 * through what delivery does with a reply (smtp_reply_parse, smtp_reply_line,
 * smtp_trouble_reply_from at RCPT) to fill the recipient's code, status, diagnostic, class, hint
 * and action; an unparsable reply becomes the diagnostic as it is.
 *
 * A DSN refused leaves OUT untouched and says why. A DSN built must be what tests/unit/check_dsn.c
 * checks of every DSN: CRLF lines of at most 998 octets and no NUL, only the expected top-level
 * fields, a multipart/report whose boundary opens every part and closes the message, a readable
 * part first, and a delivery-status part with Reporting-MTA, one Arrival-Date and, per
 * recipient, Final-Recipient, Action and Status.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/dsn.h"
#include "fuzz.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_trouble.h"
#include "util/util.h"

#define MAX_RCPTS 16
#define MAX_STRINGS 256

/* An input: the parameters, recipients and headers, every string owned here. */
struct input {
    struct dsn_params p;
    struct dsn_rcpt r[MAX_RCPTS];
    char *strings[MAX_STRINGS];
    int nstrings;
    struct buf headers;
};

/* keep - own S for the life of IN */
static char *keep(struct input *in, char *s)
{
    if (in->nstrings == MAX_STRINGS) {
        free(s);
        return NULL;
    }
    return in->strings[in->nstrings++] = s;
}

/* from_reply - what delivery makes of the raw reply V for recipient R */
static void from_reply(struct input *in, struct dsn_rcpt *r, const char *v, size_t len)
{
    struct smtp_reply reply;
    struct smtp_verdict verdict;
    char *err = NULL, *enhanced;

    smtp_reply_init(&reply);
    if (smtp_reply_parse(&reply, v, len, &err) == 0) {
        verdict = smtp_trouble_reply_from(r->remote_mta ? r->remote_mta : "", SMTP_STAGE_RCPT,
                                          reply.code, reply.enhanced, reply.text.data,
                                          SMTP_SEC_STARTTLS);
        enhanced = keep(in, xstrdup(reply.enhanced));
        r->reply_code = reply.code;
        r->status = enhanced && *enhanced ? enhanced : NULL;
        r->diagnostic = keep(in, smtp_reply_line(&reply));
        r->class_name = smtp_class_name(verdict.cls);
        r->class_hint = smtp_class_hint(verdict.cls);
        r->action = verdict.action == SMTP_BOUNCE ? DSN_FAILED : DSN_DELAYED;
    } else {
        r->diagnostic = v;
    }
    free(err);
    smtp_reply_free(&reply);
}

/* set_rcpt - one key of the current recipient R */
static void set_rcpt(struct input *in, struct dsn_rcpt *r, const char *key, char *v, size_t vlen)
{
    if (strcmp(key, "orcpt") == 0)
        r->orig_rcpt = v;
    else if (strcmp(key, "action") == 0)
        r->action = strcmp(v, "delayed") == 0 ? DSN_DELAYED : DSN_FAILED;
    else if (strcmp(key, "status") == 0)
        r->status = v;
    else if (strcmp(key, "code") == 0)
        r->reply_code = atoi(v);
    else if (strcmp(key, "remote_mta") == 0)
        r->remote_mta = v;
    else if (strcmp(key, "diagnostic") == 0)
        r->diagnostic = v;
    else if (strcmp(key, "class") == 0)
        r->class_name = v;
    else if (strcmp(key, "hint") == 0)
        r->class_hint = v;
    else if (strcmp(key, "retry_until") == 0)
        r->retry_until = (time_t)strtoll(v, NULL, 10);
    else if (strcmp(key, "reply") == 0)
        from_reply(in, r, v, vlen);
}

/* set_param - one parameter line KEY: V; R is the current recipient (NULL before the first) */
static struct dsn_rcpt *set_param(struct input *in, struct dsn_rcpt *r, const char *key,
                                  const char *raw)
{
    size_t vlen;
    char *v = keep(in, fuzz_unescape(raw, strlen(raw), &vlen));

    if (v == NULL)
        return r;
    if (strcmp(key, "reporting_mta") == 0)
        in->p.reporting_mta = v;
    else if (strcmp(key, "arrival") == 0)
        in->p.arrival = (time_t)strtoll(v, NULL, 10);
    else if (strcmp(key, "now") == 0)
        in->p.now = (time_t)strtoll(v, NULL, 10);
    else if (strcmp(key, "sender") == 0)
        in->p.sender = v;
    else if (strcmp(key, "size") == 0)
        in->p.message_size = strtoll(v, NULL, 10);
    else if (strcmp(key, "spool_id") == 0)
        in->p.spool_id = v;
    else if (strcmp(key, "mta_queue_id") == 0)
        in->p.mta_queue_id = v;
    else if (strcmp(key, "seed") == 0)
        in->p.boundary_seed = strtoull(v, NULL, 16);
    else if (strcmp(key, "rcpt") == 0 && in->p.nrcpts < MAX_RCPTS) {
        r = &in->r[in->p.nrcpts++];
        r->final_rcpt = v;
    } else if (r != NULL)
        set_rcpt(in, r, key, v, vlen);
    return r;
}

/* parse - DATA into IN */
static void parse(const uint8_t *data, size_t size, struct input *in)
{
    struct dsn_rcpt *r = NULL;
    bool params = true;
    size_t pos = 0;
    char *line;

    memset(in, 0, sizeof(*in));
    in->p.message_size = -1;
    in->p.rcpts = in->r;
    buf_init(&in->headers);
    while ((line = fuzz_next_line(data, size, &pos)) != NULL) {
        char *key, *v;

        if (!params) {
            size_t n;
            char *h = fuzz_unescape(line, strlen(line), &n);

            buf_append(&in->headers, h, n);
            buf_puts(&in->headers, "\r\n");
            free(h);
        } else if (strcmp(line, "--") == 0) {
            params = false;
        } else if (fuzz_key_value(line, &key, &v)) {
            r = set_param(in, r, key, v);
        }
        free(line);
    }
    in->p.headers = in->headers.len ? in->headers.data : NULL;
    in->p.headers_len = in->headers.len;
}

/* count - occurrences of S in the N bytes at P */
static int count(const char *p, size_t n, const char *s)
{
    int k = 0;
    size_t sl = strlen(s);

    for (const char *q = p; (q = memmem(q, n - (size_t)(q - p), s, sl)) != NULL; q += sl)
        k++;
    return k;
}

/* check_lines - CRLF lines of at most 998 octets, no NUL, the last one ended */
static void check_lines(const char *s, size_t n)
{
    size_t start = 0;

    FUZZ_CHECK(strlen(s) == n, "NUL in the DSN");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r')
            FUZZ_CHECK(i + 1 < n && s[i + 1] == '\n', "a bare CR in the DSN");
        if (s[i] == '\n') {
            FUZZ_CHECK(i > 0 && s[i - 1] == '\r', "a bare LF in the DSN");
            FUZZ_CHECK(i - 1 - start <= 998, "a DSN line longer than 998 octets");
            start = i + 1;
        }
    }
    FUZZ_CHECK(start == n, "the DSN's last line does not end in CRLF");
}

/* check_head - only the expected top-level fields, each required one present; its end */
static size_t check_head(const char *s)
{
    static const char *const fields[] = {
        "From: MAILER-DAEMON@", "To: ", "Subject: ", "Date: ", "Message-ID: <",
        "Auto-Submitted: auto-replied", "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Transfer-Encoding: 8bit"};
    const char *end = strstr(s, "\r\n\r\n");
    unsigned seen = 0;

    FUZZ_CHECK(end != NULL, "no end of the DSN's header section");
    for (const char *l = s; l < end + 2;) {
        const char *nl = strstr(l, "\r\n");
        bool known = l[0] == ' ' || l[0] == '\t';

        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]) && !known; f++)
            if (strncmp(l, fields[f], strlen(fields[f])) == 0) {
                known = true;
                seen |= 1u << f;
            }
        FUZZ_CHECK(known, "an unexpected field in the DSN's header section");
        l = nl + 2;
    }
    FUZZ_CHECK((seen & 0xFF) == 0xFF, "a required field of the DSN is missing");
    return (size_t)(end - s);
}

/* check_dsn - the properties of a DSN built for NRCPTS recipients (top of this file) */
static void check_dsn(const char *s, size_t n, int nrcpts)
{
    char boundary[128], delim[256];
    const char *b, *ds, *ds_end;
    size_t head_end, bl, dn;

    check_lines(s, n);
    head_end = check_head(s);
    b = strstr(s, "\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
                  "\tboundary=\"");
    FUZZ_CHECK(b != NULL && (size_t)(b - s) < head_end, "no boundary in the header section");
    b += strlen("\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
                "\tboundary=\"");
    bl = strcspn(b, "\"");
    FUZZ_CHECK(bl >= 1 && bl <= 70, "a boundary of a bad length");
    snprintf(boundary, sizeof(boundary), "%.*s", (int)bl, b);
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    FUZZ_CHECK(count(s, n, delim) == 3 || count(s, n, delim) == 4, "the boundary is not where the parts are");
    snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
    FUZZ_CHECK(n >= strlen(delim) && strcmp(s + n - strlen(delim), delim) == 0,
               "the DSN is not closed by its boundary");
    snprintf(delim, sizeof(delim),
             "\r\n--%s\r\nContent-Description: Notification\r\nContent-Type: text/plain", boundary);
    FUZZ_CHECK(strstr(s, delim) != NULL, "no readable first part");
    snprintf(delim, sizeof(delim),
             "\r\n--%s\r\nContent-Description: Delivery report\r\n"
             "Content-Type: message/delivery-status\r\n\r\n", boundary);
    ds = strstr(s, delim);
    FUZZ_CHECK(ds != NULL, "no delivery-status part");
    ds += strlen(delim);
    FUZZ_CHECK(strncmp(ds, "Reporting-MTA: dns;", 19) == 0, "no Reporting-MTA");
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    ds_end = strstr(ds, delim);
    FUZZ_CHECK(ds_end != NULL, "the delivery-status part is not ended by the boundary");
    dn = (size_t)(ds_end - ds);
    FUZZ_CHECK(count(ds, dn, "\r\nArrival-Date: ") == 1, "not one Arrival-Date");
    FUZZ_CHECK(count(ds, dn, "\r\n\r\nFinal-Recipient: ") == nrcpts &&
                   count(ds, dn, "\r\nAction: ") == nrcpts && count(ds, dn, "\r\nStatus: ") == nrcpts,
               "per-recipient fields do not match the recipients");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input *in = xmalloc(sizeof(*in));
    struct buf out;
    char *err = NULL;

    parse(data, size, in);
    buf_init(&out);
    buf_puts(&out, "kept");
    if (dsn_build(&in->p, &out, &err) == 0) {
        FUZZ_CHECK(dsn_needed(in->p.sender), "a DSN built for a sender that needs none");
        FUZZ_CHECK(strncmp(out.data, "kept", 4) == 0, "dsn_build does not append");
        check_dsn(out.data + 4, out.len - 4, (int)in->p.nrcpts);
    } else {
        FUZZ_CHECK(out.len == 4, "a refused DSN wrote to OUT");
        FUZZ_CHECK(err != NULL && *err != '\0', "a refused DSN without a message");
    }
    buf_free(&out);
    free(err);
    for (int i = 0; i < in->nstrings; i++)
        free(in->strings[i]);
    buf_free(&in->headers);
    free(in);
    return 0;
}
