/*
 * deliverylog - Postfix-shaped delivery log lines (see deliverylog.h, doc/delivery-rules.md).
 * Pure function on caller-owned data: thread-safe.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/deliverylog.h"
#include "delivery/dsn.h"
#include "util/util.h"

static const char *const status_names[] = {
    [DELIVERYLOG_SENT] = "sent",
    [DELIVERYLOG_DEFERRED] = "deferred",
    [DELIVERYLOG_BOUNCED] = "bounced",
    [DELIVERYLOG_EXPIRED] = "expired",
    [DELIVERYLOG_FALLBACK] = "fallback",
};

/* deliverylog_status_name - the status word of the log line */
const char *deliverylog_status_name(enum deliverylog_status s)
{
    return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s]
                                                                        : "unknown";
}

/* put_id - append the letters and digits of S (at most 64): ids never carry anything else */
static void put_id(struct buf *b, const char *s)
{
    for (size_t n = 0; s && *s && n < 64; s++)
        if ((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
            buf_putc(b, *s);
            n++;
        }
}

/* put_text - append S as one line (control bytes '?'; UTF-8 kept when VALID_UTF8) */
static void put_text(struct buf *b, const char *s, size_t max, bool utf8)
{
    char *t = utf8 ? dsn_text_utf8(s, max) : text_line(s, max);

    buf_puts(b, t);
    free(t);
}

/*
 * put_delay - append MS milliseconds as Postfix formats delays: two significant digits below
 * 10 s, whole seconds from there ("0.57", "8.4", "12", "0" for less than 5 ms), rounded half up.
 */
static void put_delay(struct buf *b, int64_t ms)
{
    int64_t sec, us, res;

    if (ms < 0) /* a clock that went back: Postfix shows 0 as well */
        ms = 0;
    sec = ms / 1000;
    us = ms % 1000 * 1000;
    res = sec >= 10 ? 1000000 : sec >= 1 ? 100000 : 10000; /* the last digit shown, in us */
    us += res / 2;
    if (us >= 1000000) {
        sec++;
        us -= 1000000;
    }
    buf_printf(b, "%lld", (long long)sec);
    if (us >= res) {
        buf_putc(b, '.');
        for (int64_t digit = 100000; us >= res && digit > 0; digit /= 10) {
            buf_putc(b, (int)('0' + us / digit));
            us %= digit;
        }
    }
}

/* valid_dsn - "c.s.d" with class 2, 4 or 5 and one to three digits in the others */
static bool valid_dsn(const char *s)
{
    size_t a, d;

    if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    a = strspn(s + 2, "0123456789");
    if (a < 1 || a > 3 || s[2 + a] != '.')
        return false;
    d = strspn(s + 3 + a, "0123456789");
    return d >= 1 && d <= 3 && s[3 + a + d] == '\0';
}

/* deliverylog_line - the whole line for one recipient and attempt */
char *deliverylog_line(const struct deliverylog_entry *e)
{
    const struct deliverylog_delays *d = &e->delays;
    struct buf b;

    buf_init(&b);
    put_id(&b, e->spool_id);
    if (e->mta_queue_id && *e->mta_queue_id) {
        buf_putc(&b, '_');
        put_id(&b, e->mta_queue_id);
    }
    buf_puts(&b, ": to=<");
    put_text(&b, e->rcpt, DELIVERYLOG_ADDR_MAX, true);
    buf_putc(&b, '>');
    if (e->orig_rcpt && *e->orig_rcpt &&
        (e->rcpt == NULL || strcasecmp(e->orig_rcpt, e->rcpt) != 0)) {
        buf_puts(&b, ", orig_to=<");
        put_text(&b, e->orig_rcpt, DELIVERYLOG_ADDR_MAX, true);
        buf_putc(&b, '>');
    }
    buf_puts(&b, ", relay=");
    if (e->host && *e->host) {
        put_text(&b, e->target, 80, false);
        buf_putc(&b, '[');
        put_text(&b, e->host, 255, false);
        buf_printf(&b, "]:%d", e->port);
    } else {
        buf_puts(&b, "none");
    }
    if (e->conn_use > 1)
        buf_printf(&b, ", conn_use=%d", e->conn_use);
    buf_puts(&b, ", delay=");
    put_delay(&b, d->before_queue + d->in_queue + d->conn_setup + d->transmission);
    buf_puts(&b, ", delays=");
    put_delay(&b, d->before_queue);
    buf_putc(&b, '/');
    put_delay(&b, d->in_queue);
    buf_putc(&b, '/');
    put_delay(&b, d->conn_setup);
    buf_putc(&b, '/');
    put_delay(&b, d->transmission);
    buf_puts(&b, ", dsn=");
    if (valid_dsn(e->dsn))
        buf_puts(&b, e->dsn);
    else
        buf_puts(&b, e->status == DELIVERYLOG_SENT      ? "2.0.0"
                     : e->status == DELIVERYLOG_BOUNCED ? "5.0.0"
                                                        : "4.0.0");
    buf_printf(&b, ", status=%s (", deliverylog_status_name(e->status));
    put_text(&b, e->reply, DELIVERYLOG_REPLY_MAX, false);
    buf_putc(&b, ')');
    if (e->possible_duplicate && e->status == DELIVERYLOG_SENT)
        buf_puts(&b, ", possible duplicate: an earlier attempt got no reply to its final dot");
    return buf_steal(&b);
}
