/*
 * smtp_auth - the smarthost client's AUTH (RFC 4954; Postfix smtp_sasl_proto.c): the checks that
 * keep credentials off a clear-text connection, the choice of a mechanism among those offered,
 * and the exchange of PLAIN, LOGIN, CRAM-MD5 or XOAUTH2 through sasl.h.
 * Every credential, and every string derived from one, is wiped after use (free_secret); the
 * trace shows each step with the credentials, challenges and responses hidden.
 * Thread-safety: works on one session, which belongs to one thread at a time.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp/sasl.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_reply.h"
#include "util/util.h"

/* auth_step - send LINE (traced as SHOWN) and read the reply, challenges hidden */
static int auth_step(struct smtp_client *c, const char *line, const char *shown,
                     struct smtp_result *res)
{
    if (smtp_chat_send_cmd(c, line, shown, res) < 0)
        return -1;
    return smtp_chat_read_reply(c, c->to.command, true, res);
}

/* auth_continue - the reply is 334: a challenge follows */
static bool auth_continue(struct smtp_client *c)
{
    return c->reply.code == 334;
}

/* auth_choose - the mechanism to use, once AUTH may be sent at all; SASL_NONE with RES when none */
static enum sasl_mech auth_choose(struct smtp_client *c, struct smtp_result *res)
{
    static const enum sasl_mech wanted_mech[] = {
        [SMTP_AUTH_AUTO] = SASL_NONE,         [SMTP_AUTH_PLAIN] = SASL_PLAIN,
        [SMTP_AUTH_LOGIN] = SASL_LOGIN,       [SMTP_AUTH_CRAM_MD5] = SASL_CRAM_MD5,
        [SMTP_AUTH_XOAUTH2] = SASL_XOAUTH2,
    };
    enum sasl_mech wanted = (unsigned)c->auth < sizeof(wanted_mech) / sizeof(wanted_mech[0])
                              ? wanted_mech[c->auth]
                              : SASL_NONE;
    bool offered = (c->caps.flags & SMTP_CAP_AUTH) && c->caps.auth_list[0] != '\0';
    enum sasl_mech mech;
    char *text;

    if (!c->t->is_tls && c->security != SMTP_SEC_NONE) {
        smtp_chat_fail_event(c, res, SMTP_EV_AUTH_MISSING,
                             "refusing to send credentials without TLS");
        return SASL_NONE;
    }
    if (!offered && !c->t->is_tls && (c->caps.flags & SMTP_CAP_STARTTLS)) {
        /* Servers that require TLS (Postfix's smtpd_tls_security_level = encrypt) offer AUTH only
         * after STARTTLS, so under security none the honest diagnosis is "STARTTLS required". */
        smtp_chat_fail_event(c, res, SMTP_EV_AUTH_AFTER_TLS,
                             "the server offers AUTH only after STARTTLS, and security is none: "
                             "nothing was sent");
        return SASL_NONE;
    }
    if (!offered) {
        smtp_chat_fail_event(c, res, SMTP_EV_AUTH_MISSING,
                             "the server offers no AUTH on this connection; byosmtp never sends "
                             "mail without authenticating");
        return SASL_NONE;
    }
    mech = sasl_choose(c->caps.auth, wanted);
    if (mech != SASL_NONE)
        return mech;
    text = wanted != SASL_NONE ? xasprintf("the server does not offer AUTH %s (it offers: %s)",
                                           sasl_mech_name(wanted), c->caps.auth_list)
                               : xasprintf("the server offers no AUTH mechanism byosmtp supports "
                                           "(it offers: %s)", c->caps.auth_list);
    smtp_chat_fail_event(c, res, SMTP_EV_AUTH_MISSING, text);
    free(text);
    return SASL_NONE;
}

/* auth_initial - PLAIN or XOAUTH2: the credentials in the AUTH command itself */
static int auth_initial(struct smtp_client *c, enum sasl_mech mech, struct smtp_result *res)
{
    char *secret = mech == SASL_XOAUTH2 ? sasl_xoauth2(c->username, c->password)
                                        : sasl_plain(c->username, c->password);
    char *line = xasprintf("AUTH %s %s", sasl_mech_name(mech), secret);
    char *shown = xasprintf("AUTH %s [credentials hidden]", sasl_mech_name(mech));
    int rc = auth_step(c, line, shown, res);

    /* XOAUTH2: a 334 carries an error report (base64 JSON): answer with an empty line to get the
     * final reply. */
    if (rc == 0 && mech == SASL_XOAUTH2 && auth_continue(c))
        rc = auth_step(c, "", "[empty response]", res);
    free(shown);
    free_secret(line);
    free_secret(secret);
    return rc;
}

/* auth_answer - answer a challenge with the base64 of VALUE, traced as SHOWN */
static int auth_answer(struct smtp_client *c, const char *value, const char *shown,
                       struct smtp_result *res)
{
    char *secret = sasl_b64_encode(value, strlen(value));
    int rc = auth_step(c, secret, shown, res);

    free_secret(secret);
    return rc;
}

/* auth_login - LOGIN: the username and the password, each asked for by a challenge */
static int auth_login(struct smtp_client *c, struct smtp_result *res)
{
    if (auth_step(c, "AUTH LOGIN", NULL, res) < 0)
        return -1;
    if (auth_continue(c) && auth_answer(c, c->username, "[username hidden]", res) < 0)
        return -1;
    if (auth_continue(c) && auth_answer(c, c->password, "[password hidden]", res) < 0)
        return -1;
    return 0;
}

/* auth_cram_md5 - CRAM-MD5: the answer to the server's challenge */
static int auth_cram_md5(struct smtp_client *c, struct smtp_result *res)
{
    char *err = NULL, *challenge, *secret, *text;
    int rc;

    if (auth_step(c, "AUTH CRAM-MD5", NULL, res) < 0)
        return -1;
    if (!auth_continue(c))
        return 0;
    challenge = xstrdup(c->reply.text.data);
    secret = sasl_cram_md5(c->username, c->password, challenge, &err);
    free(challenge);
    if (secret != NULL) {
        rc = auth_step(c, secret, "[response hidden]", res);
        free_secret(secret);
        return rc;
    }
    text = xasprintf("AUTH CRAM-MD5: the server's challenge is unusable: %s", err);
    free(err);
    smtp_chat_send_cmd(c, "*", NULL, res); /* cancel the exchange */
    smtp_chat_fail_event(c, res, SMTP_EV_PROTOCOL, text);
    free(text);
    return -1;
}

/* auth_exchange - MECH's exchange up to the server's last reply (read, not judged); 0, or -1
 * with RES */
static int auth_exchange(struct smtp_client *c, enum sasl_mech mech, struct smtp_result *res)
{
    switch (mech) {
    case SASL_PLAIN:
    case SASL_XOAUTH2:
        return auth_initial(c, mech, res);
    case SASL_LOGIN:
        return auth_login(c, res);
    case SASL_CRAM_MD5:
        return auth_cram_md5(c, res);
    case SASL_NONE:
        break;
    }
    return -1;
}

/* smtp_auth_authenticate - AUTH with the chosen mechanism; never over clear text unless
 * security is none */
int smtp_auth_authenticate(struct smtp_client *c, struct smtp_result *res)
{
    enum sasl_mech mech;
    char *what;

    if (c->auth == SMTP_AUTH_NONE) {
        /* auth none: the relay authorises this host by its address; mail only over TLS */
        if (!c->t->is_tls) {
            smtp_chat_enter(c, SMTP_STAGE_AUTH);
            smtp_chat_fail_event(c, res, SMTP_EV_LOCAL,
                                 "auth none needs TLS, and this session has none: nothing "
                                 "was sent");
            return -1;
        }
        smtp_chat_trace(c, "no AUTH: auth none (the relay authorises this host by its IP "
                           "address)");
        return 0;
    }
    smtp_chat_enter(c, SMTP_STAGE_AUTH);
    mech = auth_choose(c, res);
    if (mech == SASL_NONE)
        return -1;
    smtp_chat_trace(c, "AUTH mechanism %s (offered: %s)", sasl_mech_name(mech), c->caps.auth_list);
    if (auth_exchange(c, mech, res) < 0)
        return -1;
    if (auth_continue(c)) {
        /* More challenges than the mechanism has: cancel, and call it a protocol error. */
        if (auth_step(c, "*", NULL, res) == 0)
            smtp_chat_fail_event(c, res, SMTP_EV_PROTOCOL, "AUTH: the server asked for more than "
                                                           "the mechanism has to say");
        return -1;
    }
    if (!smtp_chat_reply_ok(c, SMTP_STAGE_AUTH)) {
        what = xasprintf("AUTH %s as %s", sasl_mech_name(mech), c->username);
        smtp_chat_fail_reply(c, res, SMTP_STAGE_AUTH, what);
        free(what);
        return -1;
    }
    free(c->conn.auth_mech);
    c->conn.auth_mech = xstrdup(sasl_mech_name(mech));
    return 0;
}
