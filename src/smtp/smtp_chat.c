/*
 * smtp_chat - the smarthost client's wire (Postfix smtp_chat.c): the trace and the trail of
 * states, failures recorded into a result as smtp_trouble's verdict says (which also decides
 * whether the session survives them), commands out and replies in over the session's transport.
 * Credentials pass through smtp_chat_send_cmd() but reach the trace only as the caller shows them.
 * Thread-safety: works on one session, which belongs to one thread at a time.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/net.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_trouble.h"
#include "util/util.h"

/* ---- trace and trail ---- */

/* smtp_chat_trace - give one step to the caller's trace callback */
void smtp_chat_trace(struct smtp_client *c, const char *fmt, ...)
{
    va_list ap;
    char *line;

    if (c->trace == NULL)
        return;
    va_start(ap, fmt);
    line = xvasprintf(fmt, ap);
    va_end(ap);
    c->trace(c->trace_ctx, c->state, line);
    free(line);
}

/* smtp_chat_enter - move to STAGE, recording it in the trail (repeats of one stage once) */
void smtp_chat_enter(struct smtp_client *c, enum smtp_stage stage)
{
    if (c->trail.len > 0 && c->state == stage)
        return;
    c->state = stage;
    buf_printf(&c->trail, "%s%s", c->trail.len ? " -> " : "", smtp_stage_name(stage));
}

/* ---- failures ---- */

/* smtp_chat_fail - record the verdict V on a local event in RES; the session ends unless V says
 * it survives */
void smtp_chat_fail(struct smtp_client *c, struct smtp_result *res, struct smtp_verdict v,
                    const char *text)
{
    res->cls = v.cls;
    res->action = v.action;
    res->stage = c->state;
    res->code = 0;
    snprintf(res->enhanced, sizeof(res->enhanced), "%s", v.status ? v.status : "");
    free(res->reply);
    res->reply = NULL;
    free(res->text);
    res->text = xstrdup(text ? text : smtp_class_name(v.cls));
    if (!v.keeps_session)
        c->usable = false;
}

/* smtp_chat_fail_event - record the local event EV in RES as its verdict says */
void smtp_chat_fail_event(struct smtp_client *c, struct smtp_result *res, enum smtp_event ev,
                          const char *text)
{
    smtp_chat_fail(c, res, smtp_trouble_event(ev), text);
}

/* smtp_chat_fail_reply - record the failure that the current reply means at STAGE, WHAT naming
 * the command */
void smtp_chat_fail_reply(struct smtp_client *c, struct smtp_result *res, enum smtp_stage stage,
                          const char *what)
{
    struct smtp_verdict v = smtp_trouble_reply_from(c->host, stage, c->reply.code,
                                                    c->reply.enhanced, c->reply.text.data,
                                                    c->security);
    char *line = smtp_reply_line(&c->reply);

    if (v.cls == SMTP_OK) { /* an unexpected positive reply: the session as the reply says */
        struct smtp_verdict protocol = smtp_trouble_event(SMTP_EV_PROTOCOL);

        v.cls = protocol.cls;
        v.action = protocol.action;
    }
    res->cls = v.cls;
    res->action = v.action;
    res->stage = stage;
    res->code = c->reply.code;
    snprintf(res->enhanced, sizeof(res->enhanced), "%s", c->reply.enhanced);
    free(res->reply);
    res->reply = line;
    free(res->text);
    res->text = xasprintf("%s: the server replied %s", what, line);
    if (!v.keeps_session)
        c->usable = false;
}

/* smtp_chat_reply_ok - the current reply is the positive answer STAGE waits for */
bool smtp_chat_reply_ok(struct smtp_client *c, enum smtp_stage stage)
{
    return smtp_trouble_reply(stage, c->reply.code, c->reply.enhanced, c->reply.text.data,
                              c->security)
               .cls == SMTP_OK;
}

/* smtp_chat_net_event - the smtp_event of a failed transport call */
enum smtp_event smtp_chat_net_event(enum net_status st)
{
    switch (st) {
    case NET_TIMEOUT:
        return SMTP_EV_TIMEOUT;
    case NET_DNS:
        return SMTP_EV_DNS;
    case NET_REFUSED:
        return SMTP_EV_REFUSED;
    case NET_TLS:
        return SMTP_EV_TLS_HANDSHAKE;
    case NET_TLS_CERT:
        return SMTP_EV_TLS_CERTIFICATE;
    default:
        return SMTP_EV_LOST;
    }
}

/* ---- the wire ---- */

/* smtp_chat_send - write N bytes within TIMEOUT_MS; on failure fills RES and returns -1 */
int smtp_chat_send(struct smtp_client *c, const void *p, size_t n, int timeout_ms,
                   struct smtp_result *res)
{
    char *err = NULL;
    enum net_status st = c->t->write(c->t, p, n, timeout_ms, &err);
    char *text;

    if (st == NET_OK)
        return 0;
    text = xasprintf("%s: %s", smtp_stage_name(c->state), err ? err : "write failed");
    smtp_chat_fail_event(c, res, smtp_chat_net_event(st), text);
    free(text);
    free(err);
    return -1;
}

/* smtp_chat_send_cmd - send LINE and CRLF, traced as SHOWN (NULL: LINE itself) */
int smtp_chat_send_cmd(struct smtp_client *c, const char *line, const char *shown,
                       struct smtp_result *res)
{
    struct buf b;
    int rc;

    buf_init(&b);
    buf_puts(&b, line);
    buf_puts(&b, "\r\n");
    smtp_chat_trace(c, "-> %s", shown ? shown : line);
    rc = smtp_chat_send(c, b.data, b.len, c->to.command, res);
    buf_free_secret(&b);
    return rc;
}

/* read_line - the next line from the server (without CR LF) before DEADLINE; 0 or -1 with RES */
static int read_line(struct smtp_client *c, long long deadline, const char **line, size_t *len,
                     struct smtp_result *res)
{
    for (;;) {
        char *avail = c->in.data + c->in_pos;
        size_t n = c->in.len - c->in_pos;
        char *nl = memchr(avail, '\n', n);
        char chunk[4096];
        size_t got = 0;
        char *err = NULL;
        enum net_status st;
        long long left;

        if (nl) {
            *line = avail;
            *len = (size_t)(nl - avail);
            if (*len > 0 && avail[*len - 1] == '\r')
                (*len)--;
            c->in_pos += (size_t)(nl - avail) + 1;
            return 0;
        }
        if (n > SMTP_REPLY_MAX_LINE + 2) {
            smtp_chat_fail_event(c, res, SMTP_EV_PROTOCOL,
                                 "the server sent a line longer than 2048 bytes");
            return -1;
        }
        if (c->in_pos > 0) { /* keep the partial line at the start */
            memmove(c->in.data, avail, n);
            c->in.len = n;
            c->in.data[n] = '\0';
            c->in_pos = 0;
        }
        left = deadline - net_now_ms();
        if (left <= 0) {
            st = NET_TIMEOUT;
            err = xstrdup("timed out waiting for the server");
        } else {
            st = c->t->read(c->t, chunk, sizeof(chunk), &got, (int)left, &err);
        }
        if (st != NET_OK) {
            enum smtp_event ev = smtp_chat_net_event(st);
            char *text = xasprintf("%s: %s", smtp_stage_name(c->state),
                                   err ? err : "read failed");

            /* a TLS record error while reading: the connection is lost, not a failed handshake */
            smtp_chat_fail_event(c, res, ev == SMTP_EV_TLS_HANDSHAKE ? SMTP_EV_LOST : ev, text);
            free(text);
            free(err);
            return -1;
        }
        buf_append(&c->in, chunk, got);
    }
}

/* smtp_chat_read_reply - read a whole reply into c->reply within TIMEOUT_MS; HIDE keeps the text
 * of 334 lines (AUTH challenges) out of the trace. 0, or -1 with RES (timeout, lost, malformed) */
int smtp_chat_read_reply(struct smtp_client *c, int timeout_ms, bool hide, struct smtp_result *res)
{
    long long deadline = net_now_ms() + timeout_ms;

    smtp_reply_reset(&c->reply);
    for (;;) {
        const char *line;
        size_t len;
        char *err = NULL;
        int rc;

        if (read_line(c, deadline, &line, &len, res) < 0)
            return -1;
        if (hide && len >= 3 && memcmp(line, "334", 3) == 0) {
            smtp_chat_trace(c, "<- 334 [challenge hidden]");
        } else {
            char *p = text_line_n(line, len, 510);

            smtp_chat_trace(c, "<- %s", p);
            free(p);
        }
        rc = smtp_reply_feed(&c->reply, line, len, &err);
        if (rc < 0) {
            char *p = text_line_n(line, len, 80);
            char *text = xasprintf("%s: %s: \"%s\"", smtp_stage_name(c->state), err, p);

            smtp_chat_fail_event(c, res, SMTP_EV_PROTOCOL, text);
            free(text);
            free(p);
            free(err);
            return -1;
        }
        if (rc == 1)
            return 0;
    }
}

/* smtp_chat_command - send LINE and read its reply; 0 when sent and answered (any code), -1
 * with RES */
int smtp_chat_command(struct smtp_client *c, const char *line, int timeout_ms,
                      struct smtp_result *res)
{
    if (smtp_chat_send_cmd(c, line, NULL, res) < 0)
        return -1;
    return smtp_chat_read_reply(c, timeout_ms, false, res);
}
