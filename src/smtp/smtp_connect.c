/*
 * smtp_connect - the smarthost client's connection (Postfix smtp_connect.c and smtp_proto.c's
 * greeting): the TLS context, resolve and connect through net.h, TLS from the first byte or
 * after STARTTLS through tls.h (with the CVE-2011-0411 injection check), the banner, EHLO or
 * HELO, and the connection facts (struct smtp_conn_info) it establishes on the way.
 * Thread-safety: works on one session, which belongs to one thread at a time; a shared tls_ctx
 * is only read.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp/net.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_reply.h"
#include "smtp/tls.h"
#include "util/msg.h"
#include "util/util.h"

/* net_trace - the net module's steps go to the same trace */
static void net_trace(void *ctx, const char *line)
{
    struct smtp_client *c = ctx;

    smtp_chat_trace(c, "%s", line);
    if (strncmp(line, "resolved ", 9) == 0)
        smtp_chat_enter(c, SMTP_STAGE_CONNECT);
}

/* tls_context - the TLS context for the session: P's shared one, or one made from P's settings */
static int tls_context(struct smtp_client *c, const struct smtp_params *p, struct smtp_result *res)
{
    struct tls_settings ts = {.ca_file = p->tls_ca_file, .ca_path = p->tls_ca_path,
                              .min_version = p->tls_min_version};
    char *err = NULL;

    if (p->tls) {
        c->tls = p->tls;
        return 0;
    }
    if (tls_ctx_new(&ts, &c->own_tls, &err) < 0) {
        smtp_chat_fail_event(c, res, SMTP_EV_LOCAL, err);
        free(err);
        return -1;
    }
    c->tls = c->own_tls;
    return 0;
}

/* start_tls - TLS handshake on the connection; replaces the plain transport */
static int start_tls(struct smtp_client *c, struct smtp_result *res)
{
    struct transport *tt = NULL;
    struct tls_info info;
    char *err = NULL;
    enum net_status st;

    smtp_chat_enter(c, SMTP_STAGE_TLS);
    st = tls_start(c->tls, c->t->fd, c->host, c->verify, c->to.command, &tt, &info, &err);
    if (st != NET_OK) {
        /* A server that hangs up on our ClientHello failed the handshake, as far as we can tell. */
        enum smtp_event ev = st == NET_EOF || st == NET_ERROR ? SMTP_EV_TLS_HANDSHAKE
                                                              : smtp_chat_net_event(st);

        smtp_chat_fail_event(c, res, ev, err ? err : "TLS handshake failed");
        smtp_chat_trace(c, "%s", res->text);
        free(err);
        return -1;
    }
    /* The TLS transport owns the socket now. */
    c->t->fd = -1;
    c->t->close(c->t);
    c->t = tt;
    smtp_chat_trace(c, "TLS %s, cipher %s, certificate %s, issuer %s (%s%s%s)", info.version,
                    info.cipher, info.subject, info.issuer,
                    info.verified ? "verified" : "NOT verified: ",
                    info.verified ? "" : info.verify_error,
                    info.verified ? "" : "; tls_verify = false");
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
    unsigned f;
    int rc;

    smtp_chat_enter(c, SMTP_STAGE_EHLO);
    memset(&c->caps, 0, sizeof(c->caps));
    rc = smtp_chat_command(c, line, c->to.helo, res);
    free(line);
    if (rc < 0)
        return -1;
    if (smtp_chat_reply_ok(c, SMTP_STAGE_EHLO)) {
        smtp_caps_parse(&c->reply, &c->caps);
        f = c->caps.flags;
        smtp_chat_trace(c, "capabilities:%s%s%s%s%s%s%s%s",
                        f & SMTP_CAP_STARTTLS ? " STARTTLS" : "",
                        f & SMTP_CAP_PIPELINING ? " PIPELINING" : "",
                        f & SMTP_CAP_SIZE ? " SIZE" : "", f & SMTP_CAP_8BITMIME ? " 8BITMIME" : "",
                        f & SMTP_CAP_SMTPUTF8 ? " SMTPUTF8" : "",
                        f & SMTP_CAP_ENHANCEDSTATUSCODES ? " ENHANCEDSTATUSCODES" : "",
                        f & SMTP_CAP_AUTH ? " AUTH " : "", c->caps.auth_list);
        return 0;
    }
    if (c->reply.code == 500 || c->reply.code == 502) {
        /* An RFC 821 server: HELO, and no extensions at all. */
        smtp_chat_enter(c, SMTP_STAGE_HELO);
        line = xasprintf("HELO %s", c->helo_name);
        rc = smtp_chat_command(c, line, c->to.helo, res);
        free(line);
        if (rc < 0)
            return -1;
        if (smtp_chat_reply_ok(c, SMTP_STAGE_HELO))
            return 0;
        smtp_chat_fail_reply(c, res, SMTP_STAGE_HELO, "HELO");
        return -1;
    }
    smtp_chat_fail_reply(c, res, SMTP_STAGE_EHLO, "EHLO");
    return -1;
}

/* starttls - STARTTLS, the injection check, the handshake, and EHLO again */
static int starttls(struct smtp_client *c, struct smtp_result *res)
{
    smtp_chat_enter(c, SMTP_STAGE_STARTTLS);
    if (!(c->caps.flags & SMTP_CAP_STARTTLS)) {
        smtp_chat_fail_event(c, res, SMTP_EV_STARTTLS_MISSING,
                             "the server does not offer STARTTLS, and security is starttls: "
                             "nothing was sent (no AUTH, no mail)");
        return -1;
    }
    if (smtp_chat_command(c, "STARTTLS", c->to.command, res) < 0)
        return -1;
    if (!smtp_chat_reply_ok(c, SMTP_STAGE_STARTTLS)) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_STARTTLS, "STARTTLS"); /* ends the session */
        return -1;
    }
    /* CVE-2011-0411: whatever arrived after the 220 was sent in clear text by someone who hopes
     * we will take it for a reply inside TLS. A server never speaks first in TLS. */
    if (c->in_pos < c->in.len || net_pending(c->t->fd)) {
        char *text = xasprintf("the server sent %zu byte(s) after its 220 reply to STARTTLS, "
                               "before the TLS handshake (plaintext injection, CVE-2011-0411)",
                               c->in.len - c->in_pos);

        smtp_chat_fail_event(c, res, SMTP_EV_PROTOCOL, text);
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

/* smtp_connect_open - TLS context, connect, TLS, banner, EHLO, STARTTLS as security says */
int smtp_connect_open(struct smtp_client *c, const struct smtp_params *p, struct smtp_result *res)
{
    char *err = NULL;
    enum net_status st;
    int fd = -1;

    if (c->security != SMTP_SEC_NONE && tls_context(c, p, res) < 0)
        return -1;
    smtp_chat_enter(c, SMTP_STAGE_RESOLVE);
    st = net_connect(c->host, c->port, c->to.connect, net_trace, c, &fd, &c->conn.peer, &err);
    if (st != NET_OK) {
        smtp_chat_fail_event(c, res, smtp_chat_net_event(st), err);
        free(err);
        return -1;
    }
    c->t = net_transport_plain(fd);
    c->usable = true;

    if (c->security == SMTP_SEC_TLS && start_tls(c, res) < 0)
        return -1;
    smtp_chat_enter(c, SMTP_STAGE_BANNER);
    if (smtp_chat_read_reply(c, c->to.helo, false, res) < 0)
        return -1;
    if (!smtp_chat_reply_ok(c, SMTP_STAGE_BANNER)) {
        smtp_chat_fail_reply(c, res, SMTP_STAGE_BANNER, "greeting");
        return -1;
    }
    if (ehlo(c, res) < 0)
        return -1;
    if (c->security == SMTP_SEC_STARTTLS && starttls(c, res) < 0)
        return -1;
    return 0;
}

/* smtp_connect_info_result - copy the connection facts CI into RES */
void smtp_connect_info_result(const struct smtp_conn_info *ci, struct smtp_result *res)
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

/* smtp_connect_info_free - free the strings of CI (not CI itself) */
void smtp_connect_info_free(struct smtp_conn_info *ci)
{
    free(ci->peer);
    free(ci->tls_version);
    free(ci->tls_cipher);
    free(ci->tls_subject);
    free(ci->auth_mech);
    memset(ci, 0, sizeof(*ci));
}
