/*
 * smtp_client - the SMTP client state machine. It speaks only to a transport (net.h); TLS,
 * SASL, reply parsing, the DATA encoding and the failure policy live in their own modules.
 * A session is owned by one thread at a time.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/msg.h"
#include "smtp/net.h"
#include "smtp/sasl.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_reply.h"
#include "smtp/tls.h"
#include "util/util.h"

#define CHUNK 65536
#define QUIT_TIMEOUT_MAX 30

/* What the connection established, as against the outcome of one attempt over it: kept in the
 * session, copied into the result by open. */
struct smtp_conn_info {
    char *peer;        /* "127.0.0.1:587", once connected */
    char *tls_version; /* NULL without TLS */
    char *tls_cipher;
    char *tls_subject;
    bool tls_verified;
    char *auth_mech;   /* "PLAIN", ..., once authenticated */
};

struct smtp_client {
    char *host;
    int port;
    enum smtp_security security;
    char *helo_name;
    char *username;
    char *password; /* secret: wiped on close */
    enum smtp_auth auth;
    bool verify;
    char *log_name;
    struct smtp_timeouts to; /* milliseconds */
    smtp_trace_fn *trace;
    void *trace_ctx;

    struct tls_ctx *tls;     /* the one in use */
    struct tls_ctx *own_tls; /* made here, freed on close */
    struct transport *t;
    struct smtp_conn_info conn;

    struct buf in;  /* bytes read and not yet consumed from in_pos */
    size_t in_pos;
    struct smtp_reply reply;
    struct smtp_caps caps;
    enum smtp_stage state;
    struct buf trail;
    bool usable;
};

/* ---- small helpers ---- */

/* trace - give one step to the caller's trace callback */
static void trace(struct smtp_client *c, const char *fmt, ...) BYO_PRINTF(2, 3);
static void trace(struct smtp_client *c, const char *fmt, ...)
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

static void enter(struct smtp_client *c, enum smtp_stage stage);

/* net_trace - the net module's steps go to the same trace */
static void net_trace(void *ctx, const char *line)
{
    struct smtp_client *c = ctx;

    trace(c, "%s", line);
    if (strncmp(line, "resolved ", 9) == 0)
        enter(c, SMTP_STAGE_CONNECT);
}

/* enter - move to STAGE, recording it in the trail (repeats of one stage once) */
static void enter(struct smtp_client *c, enum smtp_stage stage)
{
    if (c->trail.len > 0 && c->state == stage)
        return;
    c->state = stage;
    buf_printf(&c->trail, "%s%s", c->trail.len ? " -> " : "", smtp_stage_name(stage));
}

void smtp_result_init(struct smtp_result *res)
{
    memset(res, 0, sizeof(*res));
}

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

/* conn_info_result - copy the connection facts CI into RES */
static void conn_info_result(const struct smtp_conn_info *ci, struct smtp_result *res)
{
    char **const to[] = {&res->peer, &res->tls_version, &res->tls_cipher, &res->tls_subject,
                         &res->auth_mech};
    const char *const from[] = {ci->peer, ci->tls_version, ci->tls_cipher, ci->tls_subject,
                                ci->auth_mech};

    for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
        free(*to[i]);
        *to[i] = from[i] ? xstrdup(from[i]) : NULL;
    }
    res->tls_verified = ci->tls_verified;
}

/* conn_info_free - free the strings of CI (not CI itself) */
static void conn_info_free(struct smtp_conn_info *ci)
{
    free(ci->peer);
    free(ci->tls_version);
    free(ci->tls_cipher);
    free(ci->tls_subject);
    free(ci->auth_mech);
    memset(ci, 0, sizeof(*ci));
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

/* fail - record the verdict V on a local event in RES, TEXT saying what happened (NULL: the
 * class); the session ends unless V says it survives */
static void fail(struct smtp_client *c, struct smtp_result *res, struct smtp_verdict v,
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

/* fail_event - record the local event EV in RES as its verdict says */
static void fail_event(struct smtp_client *c, struct smtp_result *res, enum smtp_event ev,
                       const char *text)
{
    fail(c, res, smtp_trouble_event(ev), text);
}

/* fail_reply - record the failure that the current reply means at STAGE, WHAT naming the command */
static void fail_reply(struct smtp_client *c, struct smtp_result *res, enum smtp_stage stage,
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

/* reply_ok - the current reply is the positive answer STAGE waits for */
static bool reply_ok(struct smtp_client *c, enum smtp_stage stage)
{
    return smtp_trouble_reply(stage, c->reply.code, c->reply.enhanced, c->reply.text.data,
                              c->security)
               .cls == SMTP_OK;
}

/* net_event - the smtp_event of a failed transport call */
static enum smtp_event net_event(enum net_status st)
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

/* send_raw - write N bytes within TIMEOUT_MS; on failure fills RES and returns -1 */
static int send_raw(struct smtp_client *c, const void *p, size_t n, int timeout_ms,
                    struct smtp_result *res)
{
    char *err = NULL;
    enum net_status st = c->t->write(c->t, p, n, timeout_ms, &err);

    if (st == NET_OK)
        return 0;
    {
        char *text = xasprintf("%s: %s", smtp_stage_name(c->state), err ? err : "write failed");

        fail_event(c, res, net_event(st), text);
        free(text);
    }
    free(err);
    return -1;
}

/* send_cmd - send LINE and CRLF, traced as SHOWN (NULL: LINE itself) */
static int send_cmd(struct smtp_client *c, const char *line, const char *shown,
                    struct smtp_result *res)
{
    struct buf b;
    int rc;

    buf_init(&b);
    buf_puts(&b, line);
    buf_puts(&b, "\r\n");
    trace(c, "-> %s", shown ? shown : line);
    rc = send_raw(c, b.data, b.len, c->to.command, res);
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
            fail_event(c, res, SMTP_EV_PROTOCOL, "the server sent a line longer than 2048 bytes");
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
            char *text = xasprintf("%s: %s", smtp_stage_name(c->state),
                                   err ? err : "read failed");

            fail_event(c, res, net_event(st) == SMTP_EV_TLS_HANDSHAKE ? SMTP_EV_LOST : net_event(st),
                       text);
            free(text);
            free(err);
            return -1;
        }
        buf_append(&c->in, chunk, got);
    }
}

/* read_reply - read a whole reply into c->reply within TIMEOUT_MS; HIDE keeps the text of 334
 * lines (AUTH challenges) out of the trace. 0, or -1 with RES (timeout, lost, malformed) */
static int read_reply(struct smtp_client *c, int timeout_ms, bool hide, struct smtp_result *res)
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
            trace(c, "<- 334 [challenge hidden]");
        } else {
            char *p = text_line_n(line, len, 510);

            trace(c, "<- %s", p);
            free(p);
        }
        rc = smtp_reply_feed(&c->reply, line, len, &err);
        if (rc < 0) {
            char *p = text_line_n(line, len, 80);
            char *text = xasprintf("%s: %s: \"%s\"", smtp_stage_name(c->state), err, p);

            fail_event(c, res, SMTP_EV_PROTOCOL, text);
            free(text);
            free(p);
            free(err);
            return -1;
        }
        if (rc == 1)
            return 0;
    }
}

/* command - send LINE and read its reply; 0 when sent and answered (any code), -1 with RES */
static int command(struct smtp_client *c, const char *line, int timeout_ms, struct smtp_result *res)
{
    if (send_cmd(c, line, NULL, res) < 0)
        return -1;
    return read_reply(c, timeout_ms, false, res);
}

/* ---- session set-up ---- */

/* start_tls - TLS handshake on the connection; replaces the plain transport */
static int start_tls(struct smtp_client *c, struct smtp_result *res)
{
    struct transport *tt = NULL;
    struct tls_info info;
    char *err = NULL;
    enum net_status st;

    enter(c, SMTP_STAGE_TLS);
    st = tls_start(c->tls, c->t->fd, c->host, c->verify, c->to.command, &tt, &info, &err);
    if (st != NET_OK) {
        /* A server that hangs up on our ClientHello failed the handshake, as far as we can tell. */
        fail_event(c, res, st == NET_EOF || st == NET_ERROR ? SMTP_EV_TLS_HANDSHAKE : net_event(st),
                   err ? err : "TLS handshake failed");
        trace(c, "%s", res->text);
        free(err);
        return -1;
    }
    /* The TLS transport owns the socket now. */
    c->t->fd = -1;
    c->t->close(c->t);
    c->t = tt;
    trace(c, "TLS %s, cipher %s, certificate %s, issuer %s (%s%s%s)", info.version, info.cipher,
          info.subject, info.issuer, info.verified ? "verified" : "NOT verified: ",
          info.verified ? "" : info.verify_error, info.verified ? "" : "; tls_verify = false");
    if (!info.verified)
        msg_warn("%s: TLS certificate of %s[%s] not verified (tls_verify = false): %s",
                 c->log_name, c->host, c->conn.peer, info.verify_error);
    free(c->conn.tls_version);
    free(c->conn.tls_cipher);
    free(c->conn.tls_subject);
    c->conn.tls_version = xstrdup(info.version);
    c->conn.tls_cipher = xstrdup(info.cipher);
    c->conn.tls_subject = xstrdup(info.subject);
    c->conn.tls_verified = info.verified;
    tls_info_free(&info);
    return 0;
}

/* ehlo - EHLO (HELO when EHLO is not understood); fills c->caps */
static int ehlo(struct smtp_client *c, struct smtp_result *res)
{
    char *line = xasprintf("EHLO %s", c->helo_name);
    int rc;

    enter(c, SMTP_STAGE_EHLO);
    memset(&c->caps, 0, sizeof(c->caps));
    rc = command(c, line, c->to.helo, res);
    free(line);
    if (rc < 0)
        return -1;
    if (reply_ok(c, SMTP_STAGE_EHLO)) {
        smtp_caps_parse(&c->reply, &c->caps);
        trace(c, "capabilities:%s%s%s%s%s%s%s%s", c->caps.flags & SMTP_CAP_STARTTLS ? " STARTTLS" : "",
              c->caps.flags & SMTP_CAP_PIPELINING ? " PIPELINING" : "",
              c->caps.flags & SMTP_CAP_SIZE ? " SIZE" : "",
              c->caps.flags & SMTP_CAP_8BITMIME ? " 8BITMIME" : "",
              c->caps.flags & SMTP_CAP_SMTPUTF8 ? " SMTPUTF8" : "",
              c->caps.flags & SMTP_CAP_ENHANCEDSTATUSCODES ? " ENHANCEDSTATUSCODES" : "",
              c->caps.flags & SMTP_CAP_AUTH ? " AUTH " : "", c->caps.auth_list);
        return 0;
    }
    if (c->reply.code == 500 || c->reply.code == 502) {
        /* An RFC 821 server: HELO, and no extensions at all. */
        enter(c, SMTP_STAGE_HELO);
        line = xasprintf("HELO %s", c->helo_name);
        rc = command(c, line, c->to.helo, res);
        free(line);
        if (rc < 0)
            return -1;
        if (reply_ok(c, SMTP_STAGE_HELO))
            return 0;
        fail_reply(c, res, SMTP_STAGE_HELO, "HELO");
        return -1;
    }
    fail_reply(c, res, SMTP_STAGE_EHLO, "EHLO");
    return -1;
}

/* starttls - STARTTLS, the injection check, the handshake, and EHLO again */
static int starttls(struct smtp_client *c, struct smtp_result *res)
{
    enter(c, SMTP_STAGE_STARTTLS);
    if (!(c->caps.flags & SMTP_CAP_STARTTLS)) {
        fail_event(c, res, SMTP_EV_STARTTLS_MISSING,
                   "the server does not offer STARTTLS, and security is starttls: nothing was "
                   "sent (no AUTH, no mail)");
        return -1;
    }
    if (command(c, "STARTTLS", c->to.command, res) < 0)
        return -1;
    if (!reply_ok(c, SMTP_STAGE_STARTTLS)) {
        fail_reply(c, res, SMTP_STAGE_STARTTLS, "STARTTLS");
        return -1;
    }
    /* CVE-2011-0411: whatever arrived after the 220 was sent in clear text by someone who hopes
     * we will take it for a reply inside TLS. A server never speaks first in TLS. */
    if (c->in_pos < c->in.len || net_pending(c->t->fd)) {
        char *text = xasprintf("the server sent %zu byte(s) after its 220 reply to STARTTLS, before "
                               "the TLS handshake (plaintext injection, CVE-2011-0411)",
                               c->in.len - c->in_pos);

        fail_event(c, res, SMTP_EV_PROTOCOL, text);
        free(text);
        return -1;
    }
    buf_reset(&c->in);
    c->in_pos = 0;
    if (start_tls(c, res) < 0)
        return -1;
    /* Forget everything learnt in clear text; ask again over TLS. */
    memset(&c->caps, 0, sizeof(c->caps));
    return ehlo(c, res);
}

/* auth_step - send LINE (traced as SHOWN) and read the reply, challenges hidden */
static int auth_step(struct smtp_client *c, const char *line, const char *shown,
                     struct smtp_result *res)
{
    if (send_cmd(c, line, shown, res) < 0)
        return -1;
    return read_reply(c, c->to.command, true, res);
}

/* auth_continue - the reply is 334: a challenge follows */
static bool auth_continue(struct smtp_client *c)
{
    return c->reply.code == 334;
}

/* authenticate - AUTH with the chosen mechanism; never over clear text unless security is none */
static int authenticate(struct smtp_client *c, struct smtp_result *res)
{
    static const enum sasl_mech wanted_mech[] = {
        [SMTP_AUTH_AUTO] = SASL_NONE,         [SMTP_AUTH_PLAIN] = SASL_PLAIN,
        [SMTP_AUTH_LOGIN] = SASL_LOGIN,       [SMTP_AUTH_CRAM_MD5] = SASL_CRAM_MD5,
        [SMTP_AUTH_XOAUTH2] = SASL_XOAUTH2,
    };
    enum sasl_mech wanted = (unsigned)c->auth < 5 ? wanted_mech[c->auth] : SASL_NONE;
    enum sasl_mech mech;
    char *secret = NULL, *line = NULL;
    int rc = -1;

    enter(c, SMTP_STAGE_AUTH);
    if (!c->t->is_tls && c->security != SMTP_SEC_NONE) {
        fail_event(c, res, SMTP_EV_AUTH_MISSING, "refusing to send credentials without TLS");
        return -1;
    }
    if ((!(c->caps.flags & SMTP_CAP_AUTH) || c->caps.auth_list[0] == '\0') && !c->t->is_tls &&
        (c->caps.flags & SMTP_CAP_STARTTLS)) {
        /* Servers that require TLS (Postfix's smtpd_tls_security_level = encrypt) offer AUTH only
         * after STARTTLS, so under security none the honest diagnosis is "STARTTLS required". */
        fail_event(c, res, SMTP_EV_AUTH_AFTER_TLS,
                   "the server offers AUTH only after STARTTLS, and security is none: nothing was "
                   "sent");
        return -1;
    }
    if (!(c->caps.flags & SMTP_CAP_AUTH) || c->caps.auth_list[0] == '\0') {
        fail_event(c, res, SMTP_EV_AUTH_MISSING,
                   "the server offers no AUTH on this connection; byosmtp never sends mail "
                   "without authenticating");
        return -1;
    }
    mech = sasl_choose(c->caps.auth, wanted);
    if (mech == SASL_NONE) {
        char *text = wanted != SASL_NONE
                         ? xasprintf("the server does not offer AUTH %s (it offers: %s)",
                                     sasl_mech_name(wanted), c->caps.auth_list)
                         : xasprintf("the server offers no AUTH mechanism byosmtp supports "
                                     "(it offers: %s)", c->caps.auth_list);

        fail_event(c, res, SMTP_EV_AUTH_MISSING, text);
        free(text);
        return -1;
    }
    trace(c, "AUTH mechanism %s (offered: %s)", sasl_mech_name(mech), c->caps.auth_list);

    switch (mech) {
    case SASL_PLAIN:
        secret = sasl_plain(c->username, c->password);
        line = xasprintf("AUTH PLAIN %s", secret);
        if (auth_step(c, line, "AUTH PLAIN [credentials hidden]", res) < 0)
            goto out;
        break;
    case SASL_XOAUTH2:
        secret = sasl_xoauth2(c->username, c->password);
        line = xasprintf("AUTH XOAUTH2 %s", secret);
        if (auth_step(c, line, "AUTH XOAUTH2 [credentials hidden]", res) < 0)
            goto out;
        /* A 334 carries an error report (base64 JSON): answer with an empty line to get the
         * final reply. */
        if (auth_continue(c) && auth_step(c, "", "[empty response]", res) < 0)
            goto out;
        break;
    case SASL_LOGIN:
        if (auth_step(c, "AUTH LOGIN", NULL, res) < 0)
            goto out;
        if (auth_continue(c)) {
            secret = sasl_b64_encode(c->username, strlen(c->username));
            if (auth_step(c, secret, "[username hidden]", res) < 0)
                goto out;
            free_secret(secret);
            secret = NULL;
        }
        if (auth_continue(c)) {
            secret = sasl_b64_encode(c->password, strlen(c->password));
            if (auth_step(c, secret, "[password hidden]", res) < 0)
                goto out;
        }
        break;
    case SASL_CRAM_MD5:
        if (auth_step(c, "AUTH CRAM-MD5", NULL, res) < 0)
            goto out;
        if (auth_continue(c)) {
            char *err = NULL;
            char *challenge = xstrdup(c->reply.text.data);

            secret = sasl_cram_md5(c->username, c->password, challenge, &err);
            free(challenge);
            if (secret == NULL) {
                char *text = xasprintf("AUTH CRAM-MD5: the server's challenge is unusable: %s", err);

                free(err);
                send_cmd(c, "*", NULL, res); /* cancel the exchange */
                fail_event(c, res, SMTP_EV_PROTOCOL, text);
                free(text);
                goto out;
            }
            if (auth_step(c, secret, "[response hidden]", res) < 0)
                goto out;
        }
        break;
    case SASL_NONE:
        goto out;
    }
    if (auth_continue(c)) {
        /* More challenges than the mechanism has: cancel, and call it a protocol error. */
        if (auth_step(c, "*", NULL, res) == 0)
            fail_event(c, res, SMTP_EV_PROTOCOL, "AUTH: the server asked for more than the "
                                                 "mechanism has to say");
        goto out;
    }
    if (!reply_ok(c, SMTP_STAGE_AUTH)) {
        char *what = xasprintf("AUTH %s as %s", sasl_mech_name(mech), c->username);

        fail_reply(c, res, SMTP_STAGE_AUTH, what);
        free(what);
        goto out;
    }
    free(c->conn.auth_mech);
    c->conn.auth_mech = xstrdup(sasl_mech_name(mech));
    rc = 0;
out:
    free_secret(line);
    free_secret(secret);
    return rc;
}

/* ms - seconds (0 = DEF) as milliseconds */
static int ms(int seconds, int def)
{
    int s = seconds > 0 ? seconds : def;

    return s > 2000000 ? 2000000000 : s * 1000;
}

struct smtp_client *smtp_client_open(const struct smtp_params *p, struct smtp_result *res)
{
    struct smtp_client *c = xcalloc(1, sizeof(*c));
    char *err = NULL;
    enum net_status st;
    int fd = -1;

    result_reset(res);
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

    if (c->host[0] == '\0' || c->port > 65535) {
        fail_event(c, res, SMTP_EV_LOCAL, "no valid host and port to connect to");
        goto fail;
    }
    if (c->username[0] == '\0') {
        fail_event(c, res, SMTP_EV_LOCAL, "no username: byosmtp never sends mail without AUTH");
        goto fail;
    }
    if (c->security != SMTP_SEC_NONE) {
        if (p->tls) {
            c->tls = p->tls;
        } else {
            struct tls_settings ts = {.ca_file = p->tls_ca_file, .ca_path = p->tls_ca_path,
                                      .min_version = p->tls_min_version};

            if (tls_ctx_new(&ts, &c->own_tls, &err) < 0) {
                fail_event(c, res, SMTP_EV_LOCAL, err);
                free(err);
                goto fail;
            }
            c->tls = c->own_tls;
        }
    }

    enter(c, SMTP_STAGE_RESOLVE);
    st = net_connect(c->host, c->port, c->to.connect, net_trace, c, &fd, &c->conn.peer, &err);
    if (st != NET_OK) {
        fail_event(c, res, net_event(st), err);
        free(err);
        goto fail;
    }
    c->t = net_transport_plain(fd);
    c->usable = true;

    if (c->security == SMTP_SEC_TLS && start_tls(c, res) < 0)
        goto fail;
    enter(c, SMTP_STAGE_BANNER);
    if (read_reply(c, c->to.helo, false, res) < 0)
        goto fail;
    if (!reply_ok(c, SMTP_STAGE_BANNER)) {
        fail_reply(c, res, SMTP_STAGE_BANNER, "greeting");
        goto fail;
    }
    if (ehlo(c, res) < 0)
        goto fail;
    if (c->security == SMTP_SEC_STARTTLS && starttls(c, res) < 0)
        goto fail;
    if (authenticate(c, res) < 0)
        goto fail;
    c->state = SMTP_STAGE_READY;
    res->stage = SMTP_STAGE_READY;
    conn_info_result(&c->conn, res);
    result_trail(c, res);
    return c;

fail:
    conn_info_result(&c->conn, res); /* what was established before the failure */
    result_trail(c, res);
    smtp_client_close(c);
    return NULL;
}

/* ---- messages ---- */

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

struct smtp_source smtp_source_fd(int fd, off_t offset, off_t length)
{
    struct smtp_source s = {.read = source_fd_read, .fd = fd, .offset = offset, .left = length};

    return s;
}

struct smtp_source smtp_source_mem(const void *p, size_t n)
{
    struct smtp_source s = {.read = source_mem_read, .fd = -1, .mem = p, .mem_len = n};

    return s;
}

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

/* rset_quietly - end a failed transaction so the session can be reused; a failed RSET ends it */
static void rset_quietly(struct smtp_client *c)
{
    struct smtp_result tmp;

    if (!c->usable)
        return;
    smtp_result_init(&tmp);
    enter(c, SMTP_STAGE_RSET);
    if (command(c, "RSET", c->to.command, &tmp) == 0 && !reply_ok(c, SMTP_STAGE_RSET))
        fail_reply(c, &tmp, SMTP_STAGE_RSET, "RSET");
    if (c->usable)
        c->state = SMTP_STAGE_READY;
    smtp_result_free(&tmp);
}

/* stream_body - DATA after 354: the message through the encoder, the terminator, the final reply.
 * 0 when the reply was read (any code), -1 with RES */
static int stream_body(struct smtp_client *c, const struct smtp_envelope *env,
                       struct smtp_source *src, struct smtp_result *res)
{
    struct smtp_data_enc enc;
    struct buf out;
    char *chunk = xmalloc(CHUNK);
    bool may_8bit = (c->caps.flags & SMTP_CAP_8BITMIME) || env->body == SMTP_BODY_8BIT;
    int rc = -1;

    enter(c, SMTP_STAGE_DOT);
    smtp_data_init(&enc);
    buf_init(&out);
    for (;;) {
        ssize_t n = src->read(src, chunk, CHUNK);

        if (n < 0) {
            char *text = xasprintf("cannot read the message: %s; the transfer was abandoned "
                                   "unterminated, so the provider discards it",
                                   strerror(errno));

            fail(c, res, smtp_trouble_abandoned(SMTP_EV_LOCAL), text);
            free(text);
            goto out;
        }
        if (n == 0)
            break;
        buf_reset(&out);
        smtp_data_feed(&enc, chunk, (size_t)n, &out);
        if (enc.eightbit && !may_8bit) {
            /* Too late to say BODY=8BITMIME: abandon the transfer unterminated. */
            fail(c, res, smtp_trouble_abandoned(SMTP_EV_NO_8BITMIME),
                 "the message has 8-bit content and the server does not offer 8BITMIME; "
                 "the transfer was abandoned");
            goto out;
        }
        if (send_raw(c, out.data, out.len, c->to.data_xfer, res) < 0)
            goto out;
    }
    buf_reset(&out);
    smtp_data_finish(&enc, &out);
    if (send_raw(c, out.data, out.len, c->to.data_xfer, res) < 0)
        goto out;
    res->bytes = enc.out_bytes;
    trace(c, "-> [message: %llu octets in, %llu octets sent, terminated by CRLF.CRLF]",
          (unsigned long long)enc.in_bytes, (unsigned long long)enc.out_bytes);
    rc = read_reply(c, c->to.data_done, false, res);
out:
    buf_free(&out);
    free(chunk);
    return rc;
}

/* check_envelope - refusals before MAIL: bad addresses, SMTPUTF8, 8BITMIME, SIZE; nothing is
 * sent for the message, so the session survives them */
static int check_envelope(struct smtp_client *c, const struct smtp_envelope *env, bool *utf8,
                          struct smtp_result *res)
{
    *utf8 = !is_ascii(env->sender);
    if (bad_address(env->sender)) {
        fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL),
             "the sender address holds CR, LF, < or >");
        return -1;
    }
    for (size_t i = 0; i < env->nrcpt; i++) {
        if (bad_address(env->rcpt[i]) || env->rcpt[i][0] == '\0') {
            fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL),
                 "a recipient address is empty or holds CR, LF, < or >");
            return -1;
        }
        if (!is_ascii(env->rcpt[i]))
            *utf8 = true;
    }
    if (*utf8 && !(c->caps.flags & SMTP_CAP_SMTPUTF8)) {
        fail(c, res, smtp_trouble_unsent(SMTP_EV_NO_SMTPUTF8),
             "an address is not ASCII and the server does not offer SMTPUTF8");
        return -1;
    }
    if (env->body == SMTP_BODY_8BIT && !(c->caps.flags & SMTP_CAP_8BITMIME)) {
        fail(c, res, smtp_trouble_unsent(SMTP_EV_NO_8BITMIME),
             "the message has 8-bit content and the server does not offer 8BITMIME");
        return -1;
    }
    if (c->caps.size_limit > 0 && env->size > c->caps.size_limit) {
        char *text = xasprintf("the message (%llu octets) is larger than the server accepts "
                               "(SIZE %llu)", env->size, c->caps.size_limit);

        fail(c, res, smtp_trouble_unsent(SMTP_EV_TOO_BIG), text);
        free(text);
        return -1;
    }
    return 0;
}

int smtp_client_send(struct smtp_client *c, const struct smtp_envelope *env, struct smtp_source *src,
                     struct smtp_result *res)
{
    bool pipelining = (c->caps.flags & SMTP_CAP_PIPELINING) != 0;
    bool utf8 = false, mail_ok = false, data_ok = false;
    size_t naccepted = 0;
    struct buf cmd, mail;
    int rc = -1;

    result_reset(res);
    res->nrcpt = env->nrcpt;
    res->rcpt = xcalloc(env->nrcpt ? env->nrcpt : 1, sizeof(*res->rcpt)); /* all UNTRIED */
    buf_reset(&c->trail);
    buf_init(&cmd);
    buf_init(&mail);

    if (!c->usable || c->t == NULL) {
        fail_event(c, res, SMTP_EV_LOST, "the connection to the server is closed");
        goto out;
    }
    if (env->nrcpt == 0) {
        fail(c, res, smtp_trouble_unsent(SMTP_EV_LOCAL), "a message needs at least one recipient");
        goto out;
    }
    if (check_envelope(c, env, &utf8, res) < 0)
        goto out;

    enter(c, SMTP_STAGE_MAIL);
    buf_printf(&mail, "MAIL FROM:<%s>", env->sender);
    if ((c->caps.flags & SMTP_CAP_SIZE) && env->size > 0)
        buf_printf(&mail, " SIZE=%llu", env->size);
    if ((c->caps.flags & SMTP_CAP_8BITMIME) && env->body != SMTP_BODY_7BIT)
        buf_puts(&mail, " BODY=8BITMIME");
    if (utf8)
        buf_puts(&mail, " SMTPUTF8");

    if (pipelining) {
        /* MAIL, every RCPT and DATA in one write; then the replies in order (RFC 2920). */
        buf_printf(&cmd, "%s\r\n", mail.data);
        trace(c, "-> %s", mail.data);
        for (size_t i = 0; i < env->nrcpt; i++) {
            buf_printf(&cmd, "RCPT TO:<%s>\r\n", env->rcpt[i]);
            trace(c, "-> RCPT TO:<%s>", env->rcpt[i]);
        }
        buf_puts(&cmd, "DATA\r\n");
        trace(c, "-> DATA");
        if (send_raw(c, cmd.data, cmd.len, c->to.command, res) < 0)
            goto fail_all;
    } else if (send_cmd(c, mail.data, NULL, res) < 0) {
        goto fail_all;
    }

    if (read_reply(c, c->to.command, false, res) < 0)
        goto fail_all;
    mail_ok = reply_ok(c, SMTP_STAGE_MAIL);
    if (!mail_ok) {
        fail_reply(c, res, SMTP_STAGE_MAIL, "MAIL FROM");
        if (!pipelining || !c->usable)
            goto fail_all;
    }

    for (size_t i = 0; i < env->nrcpt; i++) {
        enter(c, SMTP_STAGE_RCPT);
        if (!pipelining) {
            char *line = xasprintf("RCPT TO:<%s>", env->rcpt[i]);
            int r = send_cmd(c, line, NULL, res);

            free(line);
            if (r < 0)
                goto fail_all;
        }
        if (read_reply(c, c->to.command, false, res) < 0)
            goto fail_all;
        if (!mail_ok)
            continue; /* the RCPT replies after a refused MAIL say nothing about recipients */
        if (reply_ok(c, SMTP_STAGE_RCPT)) {
            char *line = smtp_reply_line(&c->reply);

            naccepted++;
            set_rcpt(&res->rcpt[i], SMTP_RCPT_ACCEPTED, SMTP_OK, SMTP_DONE, c->reply.code,
                     c->reply.enhanced, line);
            free(line);
        } else {
            struct smtp_result r1;
            char *what = xasprintf("RCPT TO:<%s>", env->rcpt[i]);

            smtp_result_init(&r1);
            fail_reply(c, &r1, SMTP_STAGE_RCPT, what);
            free(what);
            set_rcpt(&res->rcpt[i], SMTP_RCPT_FAILED, r1.cls, r1.action, r1.code, r1.enhanced,
                     r1.reply);
            /* The message's result, if no recipient is accepted, is the first refusal. */
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
            if (!c->usable)
                goto fail_all;
        }
    }

    if (!pipelining && naccepted > 0) {
        enter(c, SMTP_STAGE_DATA);
        if (send_cmd(c, "DATA", NULL, res) < 0)
            goto fail_all;
    }
    if (pipelining || naccepted > 0) {
        enter(c, SMTP_STAGE_DATA);
        if (read_reply(c, c->to.data_init, false, res) < 0)
            goto fail_all;
        data_ok = reply_ok(c, SMTP_STAGE_DATA);
    }
    if (!mail_ok || naccepted == 0) {
        if (data_ok) {
            /* A pipelining server that said 354 anyway: send an empty message's end and
             * let it refuse that. */
            struct smtp_result tmp;

            smtp_result_init(&tmp);
            if (send_cmd(c, ".", NULL, &tmp) == 0) /* a failure ends the session */
                read_reply(c, c->to.data_done, false, &tmp);
            smtp_result_free(&tmp);
        }
        if (!mail_ok)
            goto fail_all;
        rset_quietly(c);
        goto out;
    }
    if (!data_ok) {
        fail_reply(c, res, SMTP_STAGE_DATA, "DATA");
        goto fail_accepted;
    }

    /* The recipients refused so far have their own results; the message's is decided now. */
    res->cls = SMTP_OK;
    res->action = SMTP_DONE;
    free(res->reply);
    free(res->text);
    res->reply = res->text = NULL;
    res->code = 0;
    res->enhanced[0] = '\0';
    if (stream_body(c, env, src, res) < 0)
        goto fail_accepted;
    if (!reply_ok(c, SMTP_STAGE_DOT)) {
        fail_reply(c, res, SMTP_STAGE_DOT, "end of DATA");
        goto fail_accepted;
    }
    {
        char *line = smtp_reply_line(&c->reply);

        res->stage = SMTP_STAGE_DOT;
        res->code = c->reply.code;
        snprintf(res->enhanced, sizeof(res->enhanced), "%s", c->reply.enhanced);
        res->reply = line;
        for (size_t i = 0; i < env->nrcpt; i++)
            if (res->rcpt[i].status == SMTP_RCPT_ACCEPTED)
                set_rcpt(&res->rcpt[i], SMTP_RCPT_DELIVERED, SMTP_OK, SMTP_DONE, c->reply.code,
                         c->reply.enhanced, line);
    }
    c->state = SMTP_STAGE_READY;
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
    buf_free(&cmd);
    buf_free(&mail);
    return rc;
}

int smtp_client_rset(struct smtp_client *c, struct smtp_result *res)
{
    result_reset(res);
    buf_reset(&c->trail);
    if (!c->usable || c->t == NULL) {
        fail_event(c, res, SMTP_EV_LOST, "the connection to the server is closed");
        result_trail(c, res);
        return -1;
    }
    enter(c, SMTP_STAGE_RSET);
    if (command(c, "RSET", c->to.command, res) < 0) {
        result_trail(c, res);
        return -1;
    }
    if (!reply_ok(c, SMTP_STAGE_RSET)) {
        fail_reply(c, res, SMTP_STAGE_RSET, "RSET");
        result_trail(c, res);
        return -1;
    }
    c->state = SMTP_STAGE_READY;
    result_trail(c, res);
    return 0;
}

bool smtp_client_usable(const struct smtp_client *c)
{
    return c != NULL && c->usable && c->t != NULL;
}

void smtp_client_close(struct smtp_client *c)
{
    if (c == NULL)
        return;
    if (c->t && c->usable) {
        struct smtp_result tmp;
        int to = c->to.command < QUIT_TIMEOUT_MAX * 1000 ? c->to.command : QUIT_TIMEOUT_MAX * 1000;

        smtp_result_init(&tmp);
        enter(c, SMTP_STAGE_QUIT);
        if (send_cmd(c, "QUIT", NULL, &tmp) == 0)
            read_reply(c, to, false, &tmp);
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
    conn_info_free(&c->conn);
    buf_free(&c->in);
    buf_free(&c->trail);
    smtp_reply_free(&c->reply);
    free(c);
}
