/*
 * smtp_client - the smarthost client's public face and the session's life: open (the session
 * from its parameters, then smtp_connect.c and smtp_auth.c), the mail transaction (MAIL, RCPT,
 * DATA, pipelined when offered, with every recipient settled on every way out), RSET, QUIT and
 * close, the results and the message sources. The wire is smtp_chat.c; the failure policy,
 * including whether the session survives a failure, is smtp_trouble.c.
 * Thread-safety: a session is owned by one thread at a time; sessions are independent.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_reply.h"
#include "smtp/tls.h"
#include "util/util.h"

#define CHUNK 65536
#define QUIT_TIMEOUT_MAX 30

/* ---- results ---- */

/* smtp_result_init - an empty result */
void smtp_result_init(struct smtp_result *res)
{
    memset(res, 0, sizeof(*res));
}

/* smtp_result_free - free what RES holds and empty it */
void smtp_result_free(struct smtp_result *res)
{
    free(res->reply);
    free(res->text);
    free(res->trail);
    free(res->peer);
    free(res->tls_version);
    free(res->tls_cipher);
    free(res->tls_subject);
    free(res->auth_mech);
    for (size_t i = 0; i < res->nrcpt; i++)
        free(res->rcpt[i].reply);
    free(res->rcpt);
    smtp_result_init(res);
}

/* result_reset - free what RES holds and start it over */
static void result_reset(struct smtp_result *res)
{
    smtp_result_free(res);
    res->cls = SMTP_OK;
    res->action = SMTP_DONE;
}

/* result_trail - copy the trail into RES */
static void result_trail(struct smtp_client *c, struct smtp_result *res)
{
    free(res->trail);
    res->trail = xstrdup(c->trail.data);
}

/* ---- the session ---- */

/* ms - seconds (0 = DEF) as milliseconds */
static int ms(int seconds, int def)
{
    int s = seconds > 0 ? seconds : def;

    return s > 2000000 ? 2000000000 : s * 1000;
}

/* client_new - a session that holds its own copy of P, not connected yet */
static struct smtp_client *client_new(const struct smtp_params *p)
{
    struct smtp_client *c = xcalloc(1, sizeof(*c));

    c->host = xstrdup(p->host ? p->host : "");
    c->security = p->security;
    c->port = p->port > 0 ? p->port
              : p->security == SMTP_SEC_TLS ? 465
              : p->security == SMTP_SEC_NONE ? 25
                                              : 587;
    if (p->helo_name && *p->helo_name) {
        c->helo_name = xstrdup(p->helo_name);
    } else {
        char name[256];

        host_name(name, sizeof(name));
        c->helo_name = xstrdup(name);
    }
    c->username = xstrdup(p->username ? p->username : "");
    c->password = xstrdup(p->password ? p->password : "");
    c->auth = p->auth;
    c->verify = !p->tls_skip_verify;
    c->log_name = xstrdup(p->log_name && *p->log_name ? p->log_name : c->host);
    c->to.connect = p->timeouts.connect > 0 ? p->timeouts.connect : 30; /* seconds: net_connect */
    c->to.helo = ms(p->timeouts.helo, 300);
    c->to.command = ms(p->timeouts.command, 300);
    c->to.data_init = ms(p->timeouts.data_init, 120);
    c->to.data_xfer = ms(p->timeouts.data_xfer, 180);
    c->to.data_done = ms(p->timeouts.data_done, 600);
    c->trace = p->trace;
    c->trace_ctx = p->trace_ctx;
    buf_init(&c->in);
    buf_init(&c->trail);
    smtp_reply_init(&c->reply);
    c->state = SMTP_STAGE_RESOLVE;
    return c;
}

/* check_params - refuse what no session can be opened with; 0, or -1 with RES */
static int check_params(struct smtp_client *c, struct smtp_result *res)
{
    if (c->host[0] == '\0' || c->port > 65535) {
        smtp_chat_fail_event(c, res, SMTP_EV_LOCAL, "no valid host and port to connect to");
        return -1;
    }
    if (c->auth == SMTP_AUTH_NONE) {
        /* a relay that authorises by IP address: no credentials, but never in clear text */
        if (c->security == SMTP_SEC_NONE) {
            smtp_chat_fail_event(c, res, SMTP_EV_LOCAL,
                                 "auth none needs security starttls or tls: nothing was sent");
            return -1;
        }
        return 0;
    }
    if (c->username[0] == '\0') {
        smtp_chat_fail_event(c, res, SMTP_EV_LOCAL,
                             "no username: byosmtp never sends mail without AUTH");
        return -1;
    }
    return 0;
}

/* smtp_client_open - the session from P, connected, EHLO'd and authenticated */
struct smtp_client *smtp_client_open(const struct smtp_params *p, struct smtp_result *res)
{
    struct smtp_client *c;

    result_reset(res);
    c = client_new(p);
    if (check_params(c, res) < 0 || smtp_connect_open(c, p, res) < 0 ||
        smtp_auth_authenticate(c, res) < 0) {
        smtp_connect_info_result(&c->conn, res); /* what was established before the failure */
        result_trail(c, res);
        smtp_client_close(c);
        return NULL;
    }
    c->state = SMTP_STAGE_READY;
    res->stage = SMTP_STAGE_READY;
    smtp_connect_info_result(&c->conn, res);
    result_trail(c, res);
    return c;
}

/* ---- message sources ---- */

/* source_fd_read - the read callback of smtp_source_fd(): pread() from the offset */
static ssize_t source_fd_read(struct smtp_source *s, void *buf, size_t n)
{
    ssize_t r;

    if (s->left == 0)
        return 0;
    if (s->left > 0 && (off_t)n > s->left)
        n = (size_t)s->left;
    do
        r = pread(s->fd, buf, n, s->offset);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        s->offset += r;
        if (s->left > 0)
            s->left -= r;
    } else if (r == 0 && s->left > 0) {
        errno = EIO; /* the file is shorter than promised: never send a truncated message */
        return -1;
    }
    return r;
}

/* source_mem_read - the read callback of smtp_source_mem() */
static ssize_t source_mem_read(struct smtp_source *s, void *buf, size_t n)
{
    size_t left = s->mem_len - (size_t)s->offset;

    if (n > left)
        n = left;
    memcpy(buf, s->mem + s->offset, n);
    s->offset += (off_t)n;
    return (ssize_t)n;
}

/* smtp_source_fd - a source reading LENGTH bytes of FD from OFFSET */
struct smtp_source smtp_source_fd(int fd, off_t offset, off_t length)
{
    struct smtp_source s = {.read = source_fd_read, .fd = fd, .offset = offset, .left = length};

    return s;
}

/* smtp_source_mem - a source reading the N bytes at P */
struct smtp_source smtp_source_mem(const void *p, size_t n)
{
    struct smtp_source s = {.read = source_mem_read, .fd = -1, .mem = p, .mem_len = n};

    return s;
}

/* source_measure - when SRC can be read twice (smtp_source_fd and smtp_source_mem keep all
 * their state in the struct, so a copy reads it again), the DATA octets its message becomes
 * (smtp_data_size) by a counting pass over a copy. 1 measured, 0 a caller-made source, -1 with
 * errno when it cannot be read */
static int source_measure(const struct smtp_source *src, unsigned long long *size)
{
    struct smtp_source copy = *src;
    struct smtp_data_enc enc;
    char *chunk;
    ssize_t n;
    int saved;

    if (src->read != source_fd_read && src->read != source_mem_read)
        return 0;
    chunk = xmalloc(CHUNK);
    smtp_data_init(&enc);
    while ((n = copy.read(&copy, chunk, CHUNK)) > 0)
        smtp_data_feed(&enc, chunk, (size_t)n, NULL);
    saved = errno;
    free(chunk);
    errno = saved;
    *size = smtp_data_size(&enc);
    return n < 0 ? -1 : 1;
}

/* ---- recipients ---- */

/* set_rcpt - record an outcome for one recipient */
static void set_rcpt(struct smtp_rcpt_result *r, enum smtp_rcpt_status status, enum smtp_class cls,
                     enum smtp_action action, int code, const char *enhanced, const char *reply)
{
    r->status = status;
    r->cls = cls;
    r->action = action;
    r->code = code;
    snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced ? enhanced : "");
    free(r->reply);
    r->reply = reply ? xstrdup(reply) : NULL;
}

/* smtp_rcpt_status_name - the name of STATUS */
const char *smtp_rcpt_status_name(enum smtp_rcpt_status status)
{
    static const char *const names[] = {"untried", "accepted", "delivered", "failed"};

    return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}

/* rcpt_open - the recipient has no final outcome yet */
static bool rcpt_open(const struct smtp_rcpt_result *r)
{
    return r->status == SMTP_RCPT_UNTRIED || r->status == SMTP_RCPT_ACCEPTED;
}

/*
 * rcpt_settle - give every recipient without a final outcome the message's failure in RES.
 * This runs on every way out of smtp_client_send(): a recipient is delivered only where the
 * final dot's 2xx said so, and one that no step answered (RES says OK, which no path should
 * leave) fails as temporary, so that it is deferred rather than taken for sent.
 */
static void rcpt_settle(struct smtp_result *res)
{
    struct smtp_verdict none = smtp_trouble_event(SMTP_EV_NO_OUTCOME);

    for (size_t i = 0; i < res->nrcpt; i++) {
        struct smtp_rcpt_result *r = &res->rcpt[i];

        if (!rcpt_open(r))
            continue;
        if (res->cls != SMTP_OK)
            set_rcpt(r, SMTP_RCPT_FAILED, res->cls, res->action, res->code, res->enhanced,
                     res->reply);
        else
            set_rcpt(r, SMTP_RCPT_FAILED, none.cls, none.action, 0, "",
                     "the transaction ended without an answer for this recipient");
    }
}

/* rcpt_refused - the current reply refused the recipient RCPT: record it in R; while no
 * recipient is accepted (NACCEPTED 0), the first refusal is also the message's result in RES */
static void rcpt_refused(struct smtp_client *c, const char *rcpt, struct smtp_rcpt_result *r,
                         size_t naccepted, struct smtp_result *res)
{
    struct smtp_result r1;
    char *what = xasprintf("RCPT TO:<%s>", rcpt);

    smtp_result_init(&r1);
    smtp_chat_fail_reply(c, &r1, SMTP_STAGE_RCPT, what);
    free(what);
    set_rcpt(r, SMTP_RCPT_FAILED, r1.cls, r1.action, r1.code, r1.enhanced, r1.reply);
    if (naccepted == 0 && res->cls == SMTP_OK) {
        res->cls = r1.cls;
        res->action = r1.action;
        res->stage = r1.stage;
        res->code = r1.code;
        memcpy(res->enhanced, r1.enhanced, sizeof(res->enhanced));
        res->reply = r1.reply ? xstrdup(r1.reply) : NULL;
        res->text = r1.text ? xstrdup(r1.text) : NULL;
    }
    smtp_result_free(&r1);
}

/* ---- the transaction ---- */

/* is_ascii - no byte >= 0x80 */
static bool is_ascii(const char *s)
{
    return !smtp_data_has_8bit(s, strlen(s));
}

/* bad_address - an address that would break the command line it goes into */
static bool bad_address(const char *s)
{
    return strpbrk(s, "\r\n<>") != NULL || strlen(s) > 512;
}

/* What MAIL says beyond the sender, decided before it is sent. */
struct mail_args {
    bool utf8;               /* SMTPUTF8 */
    bool size_exact;         /* SIZE=size; else size is only a lower bound, not declared */
    unsigned long long size; /* the DATA octets before the terminator (smtp_client.h, SIZE) */
};

/* message_size - the size to declare and to check against the server's SIZE, when it offers
 * SIZE: measured from SRC, or ENV's (a lower bound) for a source that can be read only once.
 * 0, or -1 with RES when the message cannot be read (nothing is sent: the session survives) */
static int message_size(struct smtp_client *c, const struct smtp_envelope *env,
                        const struct smtp_source *src, struct mail_args *m,
                        struct smtp_result *res)
{
    int r;

    m->size = env->size;
    m->size_exact = false;
    if (!(c->caps.flags & SMTP_CAP_SIZE))
        return 0;
    r = source_measure(src, &m->size);
    if (r < 0) {
        char *text = xasprintf("cannot read the message: %s", strerror(errno));

        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL), text);
        free(text);
        return -1;
    }
    m->size_exact = r == 1; /* else env->size stays: a lower bound, the encoder only adds */
    return 0;
}

/* check_envelope - refusals before MAIL: bad addresses, SMTPUTF8, 8BITMIME, SIZE (with the size
 * in M, which it fills); nothing is sent for the message, so the session survives them */
static int check_envelope(struct smtp_client *c, const struct smtp_envelope *env,
                          const struct smtp_source *src, struct mail_args *m,
                          struct smtp_result *res)
{
    m->utf8 = !is_ascii(env->sender);
    if (bad_address(env->sender)) {
        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL),
                       "the sender address holds CR, LF, < or >");
        return -1;
    }
    for (size_t i = 0; i < env->nrcpt; i++) {
        if (bad_address(env->rcpt[i]) || env->rcpt[i][0] == '\0') {
            smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL),
                           "a recipient address is empty or holds CR, LF, < or >");
            return -1;
        }
        if (!is_ascii(env->rcpt[i]))
            m->utf8 = true;
    }
    if (m->utf8 && !(c->caps.flags & SMTP_CAP_SMTPUTF8)) {
        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_NO_SMTPUTF8),
                       "an address is not ASCII and the server does not offer SMTPUTF8");
        return -1;
    }
    if (env->body == SMTP_BODY_8BIT && !(c->caps.flags & SMTP_CAP_8BITMIME)) {
        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_NO_8BITMIME),
                       "the message has 8-bit content and the server does not offer 8BITMIME");
        return -1;
    }
    if (message_size(c, env, src, m, res) < 0)
        return -1;
    if (c->caps.size_limit > 0 && m->size > c->caps.size_limit) {
        char *text = xasprintf("the message (%llu octets) is larger than the server accepts "
                               "(SIZE %llu)", m->size, c->caps.size_limit);

        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_TOO_BIG), text);
        free(text);
        return -1;
    }
    return 0;
}

/* send_mail - MAIL FROM for ENV (SIZE, BODY=8BITMIME, SMTPUTF8 as M says, offered and needed);
 * with PIPELINING every RCPT and DATA go in the same write. 0, or -1 with RES */
static int send_mail(struct smtp_client *c, const struct smtp_envelope *env,
                     const struct mail_args *m, bool pipelining, struct smtp_result *res)
{
    struct buf mail, cmd;
    int rc;

    smtp_chat_enter(c, SMTP_STAGE_MAIL);
    buf_init(&mail);
    buf_printf(&mail, "MAIL FROM:<%s>", env->sender);
    if ((c->caps.flags & SMTP_CAP_SIZE) && m->size_exact)
        buf_printf(&mail, " SIZE=%llu", m->size);
    if ((c->caps.flags & SMTP_CAP_8BITMIME) && env->body != SMTP_BODY_7BIT)
        buf_puts(&mail, " BODY=8BITMIME");
    if (m->utf8)
        buf_puts(&mail, " SMTPUTF8");
    if (!pipelining) {
        rc = smtp_chat_send_cmd(c, mail.data, NULL, res);
        buf_free(&mail);
        return rc;
    }
    /* MAIL, every RCPT and DATA in one write; then the replies in order (RFC 2920). */
    buf_init(&cmd);
    buf_printf(&cmd, "%s\r\n", mail.data);
    smtp_chat_trace(c, "-> %s", mail.data);
    for (size_t i = 0; i < env->nrcpt; i++) {
        buf_printf(&cmd, "RCPT TO:<%s>\r\n", env->rcpt[i]);
        smtp_chat_trace(c, "-> RCPT TO:<%s>", env->rcpt[i]);
    }
    buf_puts(&cmd, "DATA\r\n");
    smtp_chat_trace(c, "-> DATA");
    rc = smtp_chat_send(c, cmd.data, cmd.len, c->to.command, res);
    buf_free(&cmd);
    buf_free(&mail);
    return rc;
}

/*
 * read_rcpts - each recipient's RCPT (already written when PIPELINING) and its reply, recorded
 * when MAIL_OK (the RCPT replies after a refused MAIL say nothing about recipients); *NACCEPTED
 * counts the 2xx. 0, or -1 with RES when the session cannot go on.
 */
static int read_rcpts(struct smtp_client *c, const struct smtp_envelope *env, bool pipelining,
                      bool mail_ok, size_t *naccepted, struct smtp_result *res)
{
    for (size_t i = 0; i < env->nrcpt; i++) {
        smtp_chat_enter(c, SMTP_STAGE_RCPT);
        if (!pipelining) {
            char *line = xasprintf("RCPT TO:<%s>", env->rcpt[i]);
            int r = smtp_chat_send_cmd(c, line, NULL, res);

            free(line);
            if (r < 0)
                return -1;
        }
        if (smtp_chat_read_reply(c, c->to.command, false, res) < 0)
            return -1;
        if (!mail_ok)
            continue;
        if (smtp_chat_reply_ok(c, SMTP_STAGE_RCPT)) {
            char *line = smtp_reply_line(&c->reply);

            (*naccepted)++;
            set_rcpt(&res->rcpt[i], SMTP_RCPT_ACCEPTED, SMTP_OK, SMTP_DONE, c->reply.code,
                     c->reply.enhanced, line);
            free(line);
        } else {
            rcpt_refused(c, env->rcpt[i], &res->rcpt[i], *naccepted, res);
            if (!c->usable)
                return -1;
        }
    }
    return 0;
}

/* rset_quietly - end a failed transaction so the session can be reused; a failed RSET ends it */
static void rset_quietly(struct smtp_client *c)
{
    struct smtp_result tmp;

    if (!c->usable)
        return;
    smtp_result_init(&tmp);
    smtp_chat_enter(c, SMTP_STAGE_RSET);
    if (smtp_chat_command(c, "RSET", c->to.command, &tmp) == 0 &&
        !smtp_chat_reply_ok(c, SMTP_STAGE_RSET))
        smtp_chat_fail_reply(c, &tmp, SMTP_STAGE_RSET, "RSET");
    if (c->usable)
        c->state = SMTP_STAGE_READY;
    smtp_result_free(&tmp);
}

/* end_empty - a pipelining server said 354 with no recipient accepted: send an empty message's
 * end and let it refuse that (a failure to do so ends the session) */
static void end_empty(struct smtp_client *c)
{
    struct smtp_result tmp;

    smtp_result_init(&tmp);
    if (smtp_chat_send_cmd(c, ".", NULL, &tmp) == 0)
        smtp_chat_read_reply(c, c->to.data_done, false, &tmp);
    smtp_result_free(&tmp);
}

/*
 * stream_body - DATA after 354: the message through the encoder, the terminator, the final reply.
 * Encoded bytes are held until more of the message follows (and written once CHUNK of them are
 * held), so the end of the message and its CRLF.CRLF go out in one write: the terminator is never
 * a TLS record or a TCP segment of its own. 0 when the reply was read (any code), -1 with RES
 */
static int stream_body(struct smtp_client *c, const struct smtp_envelope *env,
                       struct smtp_source *src, struct smtp_result *res)
{
    struct smtp_data_enc enc;
    struct buf out;
    char *chunk = xmalloc(CHUNK);
    bool may_8bit = (c->caps.flags & SMTP_CAP_8BITMIME) || env->body == SMTP_BODY_8BIT;
    int rc = -1;

    smtp_chat_enter(c, SMTP_STAGE_DOT);
    smtp_data_init(&enc);
    buf_init(&out);
    for (;;) {
        ssize_t n = src->read(src, chunk, CHUNK);

        if (n < 0) {
            char *text = xasprintf("cannot read the message: %s; the transfer was abandoned "
                                   "unterminated, so the provider discards it",
                                   strerror(errno));

            smtp_chat_fail(c, res, smtp_trouble_abandoned(SMTP_EV_LOCAL), text);
            free(text);
            goto out;
        }
        if (n == 0)
            break;
        if (out.len >= CHUNK) {
            if (smtp_chat_send(c, out.data, out.len, c->to.data_xfer, res) < 0)
                goto out;
            buf_reset(&out);
        }
        smtp_data_feed(&enc, chunk, (size_t)n, &out);
        if (enc.eightbit && !may_8bit) {
            /* Too late to say BODY=8BITMIME: abandon the transfer unterminated. */
            smtp_chat_fail(c, res, smtp_trouble_abandoned(SMTP_EV_NO_8BITMIME),
                           "the message has 8-bit content and the server does not offer "
                           "8BITMIME; the transfer was abandoned");
            goto out;
        }
    }
    smtp_data_finish(&enc, &out);
    if (smtp_chat_send(c, out.data, out.len, c->to.data_xfer, res) < 0)
        goto out;
    res->bytes = enc.out_bytes;
    smtp_chat_trace(c, "-> [message: %llu octets in, %llu octets sent, terminated by CRLF.CRLF]",
                    (unsigned long long)enc.in_bytes, (unsigned long long)enc.out_bytes);
    rc = smtp_chat_read_reply(c, c->to.data_done, false, res);
out:
    buf_free(&out);
    free(chunk);
    return rc;
}

/* send_message - after DATA's 354: the message and its final reply, whose 2xx delivers every
 * accepted recipient. 0, or -1 with RES */
static int send_message(struct smtp_client *c, const struct smtp_envelope *env,
                        struct smtp_source *src, struct smtp_result *res)
{
    char *line;

    /* The recipients refused so far have their own results; the message's is decided now. */
    res->cls = SMTP_OK;
    res->action = SMTP_DONE;
    free(res->reply);
    free(res->text);
    res->reply = res->text = NULL;
    res->code = 0;
    res->enhanced[0] = '\0';
    if (stream_body(c, env, src, res) < 0)
        return -1;
    if (!smtp_chat_reply_ok(c, SMTP_STAGE_DOT)) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_DOT, "end of DATA");
        return -1;
    }
    line = smtp_reply_line(&c->reply);
    res->stage = SMTP_STAGE_DOT;
    res->code = c->reply.code;
    snprintf(res->enhanced, sizeof(res->enhanced), "%s", c->reply.enhanced);
    res->reply = line;
    for (size_t i = 0; i < env->nrcpt; i++)
        if (res->rcpt[i].status == SMTP_RCPT_ACCEPTED)
            set_rcpt(&res->rcpt[i], SMTP_RCPT_DELIVERED, SMTP_OK, SMTP_DONE, c->reply.code,
                     c->reply.enhanced, line);
    c->state = SMTP_STAGE_READY;
    return 0;
}

/* smtp_client_send - one message: MAIL, RCPT..., DATA, the message; each recipient settled */
int smtp_client_send(struct smtp_client *c, const struct smtp_envelope *env, struct smtp_source *src,
                     struct smtp_result *res)
{
    bool pipelining = (c->caps.flags & SMTP_CAP_PIPELINING) != 0;
    struct mail_args m = {0};
    bool mail_ok = false, data_ok = false;
    size_t naccepted = 0;
    int rc = -1;

    result_reset(res);
    res->nrcpt = env->nrcpt;
    res->rcpt = xcalloc(env->nrcpt ? env->nrcpt : 1, sizeof(*res->rcpt)); /* all UNTRIED */
    buf_reset(&c->trail);

    if (!c->usable || c->t == NULL) {
        smtp_chat_fail_event(c, res, SMTP_EV_LOST, "the connection to the server is closed");
        goto out;
    }
    if (env->nrcpt == 0) {
        smtp_chat_fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL),
                       "a message needs at least one recipient");
        goto out;
    }
    if (check_envelope(c, env, src, &m, res) < 0)
        goto out;

    if (send_mail(c, env, &m, pipelining, res) < 0 ||
        smtp_chat_read_reply(c, c->to.command, false, res) < 0)
        goto fail_all;
    mail_ok = smtp_chat_reply_ok(c, SMTP_STAGE_MAIL);
    if (!mail_ok) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_MAIL, "MAIL FROM");
        if (!pipelining || !c->usable)
            goto fail_all;
    }
    if (read_rcpts(c, env, pipelining, mail_ok, &naccepted, res) < 0)
        goto fail_all;

    if (!pipelining && naccepted > 0) {
        smtp_chat_enter(c, SMTP_STAGE_DATA);
        if (smtp_chat_send_cmd(c, "DATA", NULL, res) < 0)
            goto fail_all;
    }
    if (pipelining || naccepted > 0) {
        smtp_chat_enter(c, SMTP_STAGE_DATA);
        if (smtp_chat_read_reply(c, c->to.data_init, false, res) < 0)
            goto fail_all;
        data_ok = smtp_chat_reply_ok(c, SMTP_STAGE_DATA);
    }
    if (!mail_ok || naccepted == 0) {
        if (data_ok)
            end_empty(c);
        if (!mail_ok)
            goto fail_all;
        rset_quietly(c);
        goto out;
    }
    if (!data_ok) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_DATA, "DATA");
        goto fail_accepted;
    }
    if (send_message(c, env, src, res) < 0)
        goto fail_accepted;
    rc = 0;
    goto out;

fail_accepted:
    /* The message failed after RCPT: every accepted recipient shares the message's outcome
     * (rcpt_settle below). */
    if (c->usable && res->stage == SMTP_STAGE_DATA)
        rset_quietly(c);
    if (c->usable)
        c->state = SMTP_STAGE_READY;
    goto out;

fail_all:
    rset_quietly(c);
out:
    rcpt_settle(res);
    result_trail(c, res);
    return rc;
}

/* ---- between messages, and the end ---- */

/* smtp_client_rset - RSET; a refusal ends the session */
int smtp_client_rset(struct smtp_client *c, struct smtp_result *res)
{
    result_reset(res);
    buf_reset(&c->trail);
    if (!c->usable || c->t == NULL) {
        smtp_chat_fail_event(c, res, SMTP_EV_LOST, "the connection to the server is closed");
        result_trail(c, res);
        return -1;
    }
    smtp_chat_enter(c, SMTP_STAGE_RSET);
    if (smtp_chat_command(c, "RSET", c->to.command, res) < 0) {
        result_trail(c, res);
        return -1;
    }
    if (!smtp_chat_reply_ok(c, SMTP_STAGE_RSET)) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_RSET, "RSET");
        result_trail(c, res);
        return -1;
    }
    c->state = SMTP_STAGE_READY;
    result_trail(c, res);
    return 0;
}

/* smtp_client_usable - connected, and no verdict has ended the session */
bool smtp_client_usable(const struct smtp_client *c)
{
    return c != NULL && c->usable && c->t != NULL;
}

/* smtp_client_close - QUIT when usable, close, wipe the password, free */
void smtp_client_close(struct smtp_client *c)
{
    if (c == NULL)
        return;
    if (c->t && c->usable) {
        struct smtp_result tmp;
        int to = c->to.command < QUIT_TIMEOUT_MAX * 1000 ? c->to.command : QUIT_TIMEOUT_MAX * 1000;

        smtp_result_init(&tmp);
        smtp_chat_enter(c, SMTP_STAGE_QUIT);
        if (smtp_chat_send_cmd(c, "QUIT", NULL, &tmp) == 0)
            smtp_chat_read_reply(c, to, false, &tmp);
        smtp_result_free(&tmp);
    }
    if (c->t)
        c->t->close(c->t);
    c->state = SMTP_STAGE_CLOSED;
    tls_ctx_free(c->own_tls);
    free(c->host);
    free(c->helo_name);
    free(c->username);
    free_secret(c->password);
    free(c->log_name);
    smtp_connect_info_free(&c->conn);
    buf_free(&c->in);
    buf_free(&c->trail);
    smtp_reply_free(&c->reply);
    free(c);
}
