/*
 * dsn - RFC 3464 delivery status notifications (see dsn.h and doc/delivery-rules.md).
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery/dsn.h"

#define TEXT_WRAP 76  /* readable part: wrap column, as Postfix's bounce text */
#define FIELD_FOLD 78 /* header-like fields: fold at white space after this column */
#define LINE_MAX_OCTETS 998

/* ---- small text helpers ---- */

/* utf8_len - length of the UTF-8 sequence at S (N bytes left), 0 when invalid; *cp = code point */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, c = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, c = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates and values past Unicode are not UTF-8 */
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* cut - shorten B to at most MAX bytes, ending in "..." when it was longer */
static void cut(struct buf *b, size_t max)
{
    if (b->len <= max)
        return;
    b->len = max - 3;
    /* never end inside a UTF-8 sequence */
    while (b->len > 0 && ((unsigned char)b->data[b->len] & 0xC0) == 0x80)
        b->len--;
    b->data[b->len] = '\0';
    buf_puts(b, "...");
}

/* utc_tm - T broken down in UTC; a time gmtime_r cannot give, or outside the years 0 to 9999
 * (only a damaged copy holds one), is shown as the epoch rather than overflowing a field */
static void utc_tm(time_t t, struct tm *tm)
{
    if (gmtime_r(&t, tm) == NULL || tm->tm_year < -1900 || tm->tm_year > 9999 - 1900) {
        time_t epoch = 0;

        gmtime_r(&epoch, tm);
    }
}

/* put_date - append the RFC 5322 date of T in UTC, "Wed, 18 Nov 2026 11:06:40 +0000" */
static void put_date(struct buf *b, time_t t)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    /* names from our own tables: strftime's %a/%b would follow the locale */
    utc_tm(t, &tm);
    buf_printf(b, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
               months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* empty - NULL or "" */
static bool empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* dsn_text_utf8 - S with control bytes and invalid UTF-8 made '?', valid UTF-8 kept; cut at MAX */
char *dsn_text_utf8(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < n && b.len <= max;) {
        uint32_t cp;
        size_t len = utf8_len(u + i, n - i, &cp);

        if (len == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            buf_putc(&b, '?');
            i += len ? len : 1;
        } else {
            buf_append(&b, u + i, len);
            i += len;
        }
    }
    cut(&b, max);
    return buf_steal(&b);
}

/* ---- public helpers ---- */

/* dsn_address - an address as a DSN shows it: rfc822 as it is, or RFC 6533 utf-8 xtext */
char *dsn_address(const char *addr, bool *utf8)
{
    char *clean = dsn_text_utf8(addr ? addr : "", DSN_ADDR_MAX * 2);
    struct buf b;
    bool ascii = true;
    size_t whole = 0; /* xtext: the length after the last escape that fits before "..." */

    for (const char *p = clean; *p; p++)
        if ((unsigned char)*p >= 0x80)
            ascii = false;
    *utf8 = !ascii;
    if (ascii) {
        buf_init(&b);
        buf_puts(&b, clean);
        free(clean);
        cut(&b, DSN_ADDR_MAX);
        return buf_steal(&b);
    }
    /* RFC 6533 3: utf-8-addr-xtext, the 7-bit form required in message/delivery-status */
    buf_init(&b);
    for (const unsigned char *u = (const unsigned char *)clean, *end = u + strlen(clean);
         u < end;) {
        uint32_t cp;
        size_t len = utf8_len(u, (size_t)(end - u), &cp);

        if (cp >= 0x80 || cp == '\\' || cp == '+' || cp == '=' || cp == ' ')
            buf_printf(&b, "\\x{%02" PRIX32 "}", cp);
        else
            buf_putc(&b, (int)cp);
        if (b.len <= DSN_ADDR_MAX - 3)
            whole = b.len;
        u += len; /* clean_utf8 left only valid sequences */
    }
    free(clean);
    if (b.len > DSN_ADDR_MAX) { /* cut between escapes, never inside one */
        b.len = whole;
        b.data[b.len] = '\0';
        buf_puts(&b, "...");
    }
    return buf_steal(&b);
}

/* dsn_status - the enhanced status to report, derived when the provider gave none; a delayed
 * recipient's is always 4.x.x */
const char *dsn_status(const char *status, int reply_code, enum dsn_action action, char buf[16])
{
    const char *s = status ? status : "";
    size_t subject = 0, detail = 0;

    if (action == DSN_RELAYED) {
        strcpy(buf, "2.0.0");
        if (s[0] == '2' && s[1] == '.' && (subject = strspn(s + 2, "0123456789")) >= 1 &&
            subject <= 3 && s[2 + subject] == '.' &&
            (detail = strspn(s + 3 + subject, "0123456789")) >= 1 && detail <= 3 &&
            s[3 + subject + detail] == '\0')
            memcpy(buf, s, 3 + subject + detail + 1);
        return buf;
    }
    if (reply_code >= 500 && reply_code <= 599)
        strcpy(buf, "5.0.0");
    else if (reply_code >= 400 && reply_code <= 499)
        strcpy(buf, "4.0.0");
    else
        strcpy(buf, action == DSN_DELAYED ? "4.0.0" : "5.0.0");
    if ((s[0] == '4' || s[0] == '5') && s[1] == '.') {
        subject = strspn(s + 2, "0123456789");
        if (subject >= 1 && subject <= 3 && s[2 + subject] == '.') {
            detail = strspn(s + 3 + subject, "0123456789");
            if (detail >= 1 && detail <= 3 && s[3 + subject + detail] == '\0')
                memcpy(buf, s, 3 + subject + detail + 1);
        }
    }
    /* a refusal that is retried (a 5xx with action retry) is not final yet: 4.x.x, as Postfix
     * reports a soft-bounced 5xx */
    if (action == DSN_DELAYED)
        buf[0] = '4';
    return buf;
}

/* dsn_needed - false for the null sender (and any sender no DSN can reach) */
bool dsn_needed(const char *sender)
{
    if (sender == NULL || *sender == '\0' || strcmp(sender, "<>") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)sender; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return false;
    return true;
}

/* ---- wrapping ---- */

/*
 * put_wrapped - append TEXT, starting at column COL, breaking lines only at spaces once a
 * line would pass WIDTH. FIELD: header-style folding (CRLF, then the space that was there, so
 * unfolding gives the text back); otherwise a readable wrap with a four-space indent.
 * A word longer than a line stays whole: callers bound every word well below 998 octets.
 */
static void put_wrapped(struct buf *b, size_t col, const char *text, size_t width, bool field)
{
    const char *p = text;
    bool first = true;

    while (*p) {
        size_t sp = strspn(p, " "), wl = strcspn(p + sp, " ");

        if (wl == 0)
            break; /* trailing spaces */
        if (first) {
            /* leading spaces are dropped; the first word never moves */
        } else if (col + sp + wl > width) {
            buf_puts(b, "\r\n");
            if (field) {
                buf_append(b, p, sp);
                col = sp;
            } else {
                buf_puts(b, "    ");
                col = 4;
            }
        } else {
            buf_append(b, p, sp);
            col += sp;
        }
        buf_append(b, p + sp, wl);
        col += wl;
        p += sp + wl;
        first = false;
    }
}

/* put_field - append "NAME: VALUE" folded at white space, with its CRLF */
static void put_field(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, "%s: ", name);
    put_wrapped(b, strlen(name) + 2, value, FIELD_FOLD, true);
    buf_puts(b, "\r\n");
}

/* ---- the three parts ---- */

/* valid_host_name - [A-Za-z0-9.-], 1-253 bytes */
static bool valid_host_name(const char *h)
{
    size_t n = h ? strlen(h) : 0;

    return n >= 1 && n <= 253 &&
           strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-") == n;
}

/* id_chars - S with everything but letters and digits dropped, at most 64 bytes */
static char *id_chars(const char *s)
{
    struct buf b;

    buf_init(&b);
    for (; s && *s && b.len < 64; s++)
        if ((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
            buf_putc(&b, *s);
    return buf_steal(&b);
}

/* host_text - a remote host name or address literal as shown: anything outside
 * [A-Za-z0-9.-:[]] becomes '?', cut at 255 bytes */
static char *host_text(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]";
    struct buf b;

    buf_init(&b);
    for (; s && *s && b.len <= 255; s++)
        buf_putc(&b, strchr(ok, *s) ? *s : '?');
    cut(&b, 255);
    return buf_steal(&b);
}

/* rcpt_reason - the readable line for one recipient: "<addr>: host H said: REPLY (class: hint)" */
static char *rcpt_reason(const struct dsn_rcpt *r)
{
    bool utf8;
    char *addr = dsn_address(r->final_rcpt, &utf8);
    char *diag = text_line(r->diagnostic, DSN_DIAG_MAX);
    char *host = host_text(r->remote_mta);
    char *cls = text_line(r->class_name, 64);
    char *hint = text_line(r->class_hint, 200);
    struct buf b;

    buf_init(&b);
    buf_printf(&b, "<%s>:", addr);
    if (*host && *diag && r->reply_code > 0 && r->action == DSN_RELAYED)
        buf_printf(&b, " relayed to host %s, which said: %s", host, diag);
    else if (*host && *diag && r->reply_code > 0)
        buf_printf(&b, " host %s said: %s", host, diag);
    else if (*diag)
        buf_printf(&b, " %s", diag);
    else
        buf_puts(&b, r->action == DSN_DELAYED   ? " delivery delayed"
                     : r->action == DSN_RELAYED ? " relayed"
                                                : " delivery failed");
    if (*cls && *hint)
        buf_printf(&b, " (%s: %s)", cls, hint);
    else if (*cls)
        buf_printf(&b, " (%s)", cls);
    free(addr);
    free(diag);
    free(host);
    free(cls);
    free(hint);
    return buf_steal(&b);
}

/* put_reasons - one wrapped paragraph per recipient with ACTION */
static void put_reasons(struct buf *b, const struct dsn_params *p, enum dsn_action action)
{
    for (size_t i = 0; i < p->nrcpts; i++) {
        char *line;

        if (p->rcpts[i].action != action)
            continue;
        line = rcpt_reason(&p->rcpts[i]);
        put_wrapped(b, 0, line, TEXT_WRAP, false);
        buf_puts(b, "\r\n\r\n");
        free(line);
    }
}

/* notice_part - the readable text/plain part (CRLF lines, ends with a blank line) */
static void notice_part(struct buf *b, const struct dsn_params *p, size_t nfailed,
                        size_t nrelayed, bool headers)
{
    time_t until = 0;

    buf_printf(b, "This is the mail system at host %s.\r\n\r\n", p->reporting_mta);
    if (nrelayed > 0 && nfailed == 0) {
        buf_puts(b, "Your message was successfully relayed to the recipients below, as you\r\n"
                    "asked. It was handed to a system that is not asked for delivery\r\n"
                    "notifications: you will receive no further notice of its delivery.\r\n");
    } else if (nfailed > 0) {
        buf_puts(b, "I'm sorry to have to inform you that your message could not\r\n"
                    "be delivered to one or more recipients. The reasons are below.\r\n");
    } else {
        for (size_t i = 0; i < p->nrcpts; i++)
            if (p->rcpts[i].retry_until > until)
                until = p->rcpts[i].retry_until;
        buf_puts(b, "####################################################################\r\n"
                    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
                    "####################################################################\r\n"
                    "\r\n"
                    "Your message could not be delivered yet to the recipients below.\r\n");
        if (until > 0) {
            buf_puts(b, "It will be retried until ");
            put_date(b, until);
            buf_puts(b, ".\r\n");
        }
    }
    if (headers && p->body != NULL)
        buf_puts(b, "Your message is attached.\r\n");
    else if (headers)
        buf_puts(b, "The header section of your message is attached.\r\n");
    if (p->message_size >= 0 && p->body == NULL)
        buf_printf(b, "The message was %" PRId64 " bytes; its body is not returned.\r\n",
                   p->message_size);
    buf_puts(b, "\r\n"
                "For further assistance, please send mail to postmaster.\r\n"
                "If you do so, please include this problem report.\r\n"
                "\r\n"
                "                   The mail system\r\n"
                "\r\n");
    put_reasons(b, p, nrelayed > 0 && nfailed == 0 ? DSN_RELAYED : nfailed > 0 ? DSN_FAILED : DSN_DELAYED);
    if (nfailed > 0 && nfailed < p->nrcpts) {
        buf_puts(b, "Delivery to these recipients is delayed; it is still being retried:\r\n\r\n");
        put_reasons(b, p, DSN_DELAYED);
    }
}

/* put_address_field - "NAME: rfc822; ADDR" or "NAME: utf-8; XTEXT" */
static void put_address_field(struct buf *b, const char *name, const char *addr)
{
    bool utf8;
    char *a = dsn_address(addr, &utf8);
    char *v = xasprintf("%s; %s", utf8 ? "utf-8" : "rfc822", a);

    put_field(b, name, v);
    free(v);
    free(a);
}

/* status_part - the message/delivery-status fields (RFC 3464 2.2, 2.3) */
static void status_part(struct buf *b, const struct dsn_params *p)
{
    char *v;

    if (!empty(p->envid)) {
        v = text_line(p->envid, 100);
        put_field(b, "Original-Envelope-Id", v);
        free(v);
    }
    v = xasprintf("dns; %s", p->reporting_mta);
    put_field(b, "Reporting-MTA", v);
    free(v);
    if (!empty(p->spool_id)) {
        v = id_chars(p->spool_id);
        put_field(b, "X-Byosmtp-Spool-ID", v);
        free(v);
    }
    if (!empty(p->mta_queue_id)) {
        v = id_chars(p->mta_queue_id);
        put_field(b, "X-Byosmtp-MTA-Queue-ID", v);
        free(v);
    }
    put_address_field(b, "X-Byosmtp-Sender", p->sender);
    buf_puts(b, "Arrival-Date: ");
    put_date(b, p->arrival);
    buf_puts(b, "\r\n");

    for (size_t i = 0; i < p->nrcpts; i++) {
        const struct dsn_rcpt *r = &p->rcpts[i];
        char status[16];

        buf_puts(b, "\r\n");
        put_address_field(b, "Final-Recipient", r->final_rcpt);
        if (!empty(r->orig_rcpt))
            put_address_field(b, "Original-Recipient", r->orig_rcpt);
        put_field(b, "Action", r->action == DSN_DELAYED   ? "delayed"
                               : r->action == DSN_RELAYED ? "relayed"
                                                          : "failed");
        put_field(b, "Status", dsn_status(r->status, r->reply_code, r->action, status));
        if (!empty(r->remote_mta)) {
            char *host = host_text(r->remote_mta);

            v = xasprintf("dns; %s", host);
            put_field(b, "Remote-MTA", v);
            free(v);
            free(host);
        }
        if (!empty(r->diagnostic)) {
            char *diag = text_line(r->diagnostic, DSN_DIAG_MAX);

            /* "smtp" only for a reply the provider gave; a local reason is ours */
            v = xasprintf("%s; %s", r->reply_code > 0 ? "smtp" : "X-Byosmtp", diag);
            put_field(b, "Diagnostic-Code", v);
            free(v);
            free(diag);
        }
        if (r->action == DSN_DELAYED && r->retry_until > 0) {
            buf_puts(b, "Will-Retry-Until: ");
            put_date(b, r->retry_until);
            buf_puts(b, "\r\n");
        }
    }
    buf_puts(b, "\r\n");
}

/*
 * put_line - N octets of one line and its CRLF: NUL becomes '?', and past 998 octets the line is
 * broken (FOLD: folded, the next line beginning with a space). Returns true for 8-bit bytes.
 */
static bool put_line(struct buf *b, const char *p, size_t n, bool fold)
{
    bool eight = false;
    size_t col = 0;

    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)p[k];

        if (col >= LINE_MAX_OCTETS - 1) {
            buf_puts(b, fold ? "\r\n " : "\r\n");
            col = fold ? 1 : 0;
        }
        buf_putc(b, c == '\0' ? '?' : c);
        eight |= c >= 0x80;
        col++;
    }
    buf_puts(b, "\r\n");
    return eight;
}

/*
 * headers_part - the original header section with CRLF line ends: it stops at the first empty
 * line, a bare CR or LF ends a line, NUL becomes '?', and a line longer than 998 octets is
 * folded. Returns true when it holds 8-bit bytes.
 */
static bool headers_part(struct buf *b, const char *h, size_t n)
{
    bool eight = false;
    size_t i = 0;

    while (i < n) {
        size_t end = i;

        while (end < n && h[end] != '\r' && h[end] != '\n')
            end++;
        if (end == i)
            break; /* the empty line: end of the header section */
        eight |= put_line(b, h + i, end - i, true);
        /* CRLF, a bare CR or a bare LF ends the line */
        i = end + 1;
        if (end < n && h[end] == '\r' && i < n && h[i] == '\n')
            i++;
    }
    buf_puts(b, "\r\n");
    return eight;
}

/* body_part - the body after the header section, as headers_part() writes lines (every line,
 * empty ones included); true when it holds 8-bit bytes */
static bool body_part(struct buf *b, const char *h, size_t n)
{
    bool eight = false;
    size_t i = 0;

    while (i < n) {
        size_t end = i;

        while (end < n && h[end] != '\r' && h[end] != '\n')
            end++;
        eight |= put_line(b, h + i, end - i, false);
        i = end + 1;
        if (end < n && h[end] == '\r' && i < n && h[i] == '\n')
            i++;
    }
    return eight;
}

/* contains - does B hold S? */
static bool contains(const struct buf *b, const char *s)
{
    return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* ---- the message ---- */

/* dsn_build - the whole DSN message: headers, readable part, delivery-status, headers part */
int dsn_build(const struct dsn_params *p, struct buf *out, char **err)
{
    struct buf notice, status, headers;
    char *boundary, *to, *spool;
    bool eight = false, with_headers = p->headers != NULL && p->headers_len > 0;
    size_t nfailed = 0, nrelayed = 0;
    struct tm tm;

    if (!valid_host_name(p->reporting_mta))
        return set_err(err, "reporting MTA name '%s' is not a host name: set delivery.helo_name",
                       p->reporting_mta ? p->reporting_mta : "");
    if (!dsn_needed(p->sender))
        return set_err(err, "no DSN for a null or unusable sender: check dsn_needed() first");
    if (p->nrcpts == 0)
        return set_err(err, "a DSN needs at least one recipient");
    for (size_t i = 0; i < p->nrcpts; i++) {
        if (empty(p->rcpts[i].final_rcpt))
            return set_err(err, "DSN recipient %zu has no address", i + 1);
        nfailed += p->rcpts[i].action == DSN_FAILED;
        nrelayed += p->rcpts[i].action == DSN_RELAYED;
    }

    buf_init(&notice);
    buf_init(&status);
    buf_init(&headers);
    notice_part(&notice, p, nfailed, nrelayed, with_headers);
    status_part(&status, p);
    if (with_headers)
        eight = headers_part(&headers, p->headers, p->headers_len);
    if (with_headers && p->body != NULL)
        eight |= body_part(&headers, p->body, p->body_len);

    /* a boundary that no part holds; the seed makes it hard to guess, the loop makes it sure */
    boundary = xasprintf("=_byosmtp_%016" PRIX64, p->boundary_seed);
    for (unsigned k = 1;
         contains(&notice, boundary) || contains(&status, boundary) || contains(&headers, boundary);
         k++) {
        free(boundary);
        boundary = xasprintf("=_byosmtp_%016" PRIX64 "_%u", p->boundary_seed, k);
    }

    to = dsn_text_utf8(p->sender, DSN_ADDR_MAX);
    spool = id_chars(p->spool_id);
    utc_tm(p->now, &tm);
    buf_printf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", p->reporting_mta);
    buf_printf(out, "To: %s\r\n", to);
    buf_printf(out, "Subject: %s\r\n",
               nfailed > 0    ? "Undelivered Mail Returned to Sender"
               : nrelayed > 0 ? "Successful Mail Delivery Report"
                              : "Delayed Mail (still being retried)");
    buf_puts(out, "Date: ");
    put_date(out, p->now);
    buf_printf(out, "\r\nMessage-ID: <%04d%02d%02d%02d%02d%02d.%s%s%016" PRIX64 "@%s>\r\n",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               spool, *spool ? "." : "", p->boundary_seed, p->reporting_mta);
    buf_puts(out, "Auto-Submitted: auto-replied\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: multipart/report; report-type=delivery-status;\r\n");
    buf_printf(out, "\tboundary=\"%s\"\r\n", boundary);
    if (eight)
        buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
    buf_puts(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

    buf_printf(out,
               "--%s\r\nContent-Description: Notification\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
               boundary);
    buf_append(out, notice.data, notice.len);
    buf_printf(out,
               "--%s\r\nContent-Description: Delivery report\r\n"
               "Content-Type: message/delivery-status\r\n\r\n",
               boundary);
    buf_append(out, status.data, status.len);
    if (with_headers) {
        buf_printf(out, "--%s\r\nContent-Description: %s%s\r\nContent-Type: %s\r\n", boundary,
                   nrelayed > 0 && nfailed == 0 ? "Message" : "Undelivered Message",
                   p->body != NULL ? "" : " Headers",
                   p->body != NULL ? "message/rfc822" : "text/rfc822-headers");
        if (eight)
            buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
        buf_puts(out, "\r\n");
        buf_append(out, headers.data, headers.len);
    }
    buf_printf(out, "--%s--\r\n", boundary);

    free(spool);
    free(to);
    free(boundary);
    buf_free(&notice);
    buf_free(&status);
    buf_free(&headers);
    return 0;
}
