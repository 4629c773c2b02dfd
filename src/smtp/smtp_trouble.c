/*
 * smtp_trouble - the one place that decides what an outcome means: class, action, and whether
 * the session survives it.
 * Constant tables and pure functions: thread-safe.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp/provider.h"
#include "smtp/smtp_trouble.h"

static const char *const stage_names[] = {
    [SMTP_STAGE_RESOLVE] = "resolve", [SMTP_STAGE_CONNECT] = "connect",
    [SMTP_STAGE_TLS] = "tls",         [SMTP_STAGE_BANNER] = "banner",
    [SMTP_STAGE_EHLO] = "ehlo",       [SMTP_STAGE_HELO] = "helo",
    [SMTP_STAGE_STARTTLS] = "starttls", [SMTP_STAGE_AUTH] = "auth",
    [SMTP_STAGE_READY] = "ready",     [SMTP_STAGE_MAIL] = "mail",
    [SMTP_STAGE_RCPT] = "rcpt",       [SMTP_STAGE_DATA] = "data",
    [SMTP_STAGE_DOT] = "dot",         [SMTP_STAGE_RSET] = "rset",
    [SMTP_STAGE_QUIT] = "quit",       [SMTP_STAGE_CLOSED] = "closed",
};

static const struct {
    const char *name;
    const char *hint;
} classes[] = {
    [SMTP_OK] = {"ok", ""},
    [SMTP_DNS] = {"dns", "check the host name"},
    [SMTP_CONNECTION_REFUSED] = {"connection_refused",
                                 "wrong host or port; firewall blocking outbound SMTP"},
    [SMTP_TIMEOUT] = {"timeout", "port blocked, or server too slow"},
    [SMTP_TLS_HANDSHAKE] = {"tls_handshake",
                            "try STARTTLS instead of SSL/TLS, or check the port"},
    [SMTP_TLS_CERTIFICATE] = {"tls_certificate", "check the host name; tls_verify"},
    [SMTP_STARTTLS_UNAVAILABLE] = {"starttls_unavailable",
                                   "the server does not offer STARTTLS on this port"},
    [SMTP_STARTTLS_REQUIRED] = {"starttls_required", "use STARTTLS security, not None"},
    [SMTP_AUTH_UNAVAILABLE] = {"auth_unavailable", "server offers no AUTH on this connection"},
    [SMTP_AUTH_FAILED] = {"auth_failed",
                          "wrong username or password (SES: SMTP credentials, not IAM keys; "
                          "SendGrid: username apikey)"},
    [SMTP_SENDER_REJECTED] = {"sender_rejected", "From address not authorised on the provider"},
    [SMTP_RECIPIENT_REJECTED] = {"recipient_rejected",
                                 "provider requires verified domains, or address invalid"},
    [SMTP_MESSAGE_REJECTED] = {"message_rejected", "content refused by the provider"},
    [SMTP_RATE_LIMITED] = {"rate_limited",
                           "lower rate / max_connections, or upgrade the provider plan"},
    [SMTP_QUOTA_EXCEEDED] = {"quota_exceeded", "raise monthly_quota"},
    [SMTP_TEMPORARY] = {"temporary", "will retry"},
    [SMTP_PROTOCOL] = {"protocol", "the port does not speak SMTP"},
    [SMTP_OAUTH_REFRESH_FAILED] = {"oauth_refresh_failed",
                                   "re-consent and store the new refresh token, or check "
                                   "oauth_client_id and oauth_client_secret (Google revokes the "
                                   "refresh tokens of apps left in \"Testing\" after 7 days)"},
};

static const char *const action_names[] = {
    [SMTP_DONE] = "done", [SMTP_RETRY] = "retry", [SMTP_BOUNCE] = "bounce",
    [SMTP_THROTTLE] = "throttle",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *smtp_stage_name(enum smtp_stage stage)
{
    return (unsigned)stage < NELEM(stage_names) ? stage_names[stage] : "unknown";
}

const char *smtp_class_name(enum smtp_class cls)
{
    return (unsigned)cls < NELEM(classes) ? classes[cls].name : "unknown";
}

int smtp_class_parse(const char *name)
{
    for (unsigned i = 0; i < NELEM(classes); i++)
        if (strcmp(classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *smtp_class_hint(enum smtp_class cls)
{
    return (unsigned)cls < NELEM(classes) ? classes[cls].hint : "";
}

const char *smtp_action_name(enum smtp_action action)
{
    return (unsigned)action < NELEM(action_names) ? action_names[action] : "unknown";
}

/* verdict - build a verdict; it ends the session until a rule below says otherwise */
static struct smtp_verdict verdict(enum smtp_class cls, enum smtp_action action)
{
    struct smtp_verdict v = {.cls = cls, .action = action};

    return v;
}

/* refusal - the verdict on a message this provider can never take, with its STATUS; refusing
 * it locally leaves the session as it was */
static struct smtp_verdict refusal(const char *status)
{
    struct smtp_verdict v = verdict(SMTP_MESSAGE_REJECTED, SMTP_BOUNCE);

    v.status = status;
    v.keeps_session = true;
    return v;
}

struct smtp_verdict smtp_trouble_event(enum smtp_event ev)
{
    switch (ev) {
    case SMTP_EV_DNS:
        return verdict(SMTP_DNS, SMTP_RETRY);
    case SMTP_EV_REFUSED:
        return verdict(SMTP_CONNECTION_REFUSED, SMTP_RETRY);
    case SMTP_EV_TIMEOUT:
        return verdict(SMTP_TIMEOUT, SMTP_RETRY);
    case SMTP_EV_TLS_HANDSHAKE:
        return verdict(SMTP_TLS_HANDSHAKE, SMTP_RETRY);
    case SMTP_EV_TLS_CERTIFICATE:
        return verdict(SMTP_TLS_CERTIFICATE, SMTP_RETRY);
    case SMTP_EV_STARTTLS_MISSING:
        return verdict(SMTP_STARTTLS_UNAVAILABLE, SMTP_RETRY);
    case SMTP_EV_AUTH_MISSING:
        return verdict(SMTP_AUTH_UNAVAILABLE, SMTP_RETRY);
    case SMTP_EV_AUTH_AFTER_TLS:
        return verdict(SMTP_STARTTLS_REQUIRED, SMTP_RETRY);
    case SMTP_EV_LOST:
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    case SMTP_EV_PROTOCOL:
        return verdict(SMTP_PROTOCOL, SMTP_RETRY);
    /* The message can never pass this provider as it is: bounce rather than retry for days,
     * with the status Postfix gives the same refusals (RFC 3463, RFC 6531). */
    case SMTP_EV_TOO_BIG:
        return refusal("5.3.4");
    case SMTP_EV_NO_8BITMIME:
        return refusal("5.6.3");
    case SMTP_EV_NO_SMTPUTF8:
        return refusal("5.6.7");
    case SMTP_EV_LOCAL:
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    /* Nothing says the provider took the message for this recipient: when in doubt, defer. */
    case SMTP_EV_NO_OUTCOME:
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    case SMTP_EV_QUOTA:
        return verdict(SMTP_QUOTA_EXCEEDED, SMTP_RETRY);
    /* An admin's problems, never a provider's: defer until the admin adds the target again
     * (or deletes the message), or fixes the key; the password counts as auth_failed. */
    case SMTP_EV_NO_TARGET:
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    case SMTP_EV_SECRET:
        return verdict(SMTP_AUTH_FAILED, SMTP_RETRY);
    /* Like a refused password: an admin can mend it (consent again, fix the client), so the
     * mail waits for retry.max_lifetime instead of bouncing; an unreachable endpoint is
     * temporary anyway. */
    case SMTP_EV_OAUTH:
        return verdict(SMTP_OAUTH_REFRESH_FAILED, SMTP_RETRY);
    }
    return verdict(SMTP_PROTOCOL, SMTP_RETRY);
}

/* smtp_trouble_unsent - smtp_trouble_event, and nothing was sent: the session survives */
struct smtp_verdict smtp_trouble_unsent(enum smtp_event ev)
{
    struct smtp_verdict v = smtp_trouble_event(ev);

    v.keeps_session = true;
    return v;
}

/* smtp_trouble_abandoned - smtp_trouble_event, and the message is unterminated: the session ends */
struct smtp_verdict smtp_trouble_abandoned(enum smtp_event ev)
{
    struct smtp_verdict v = smtp_trouble_event(ev);

    v.keeps_session = false;
    return v;
}

/* has_word - true when TEXT holds WORD (case-insensitive) not preceded by a letter,
 * so "rate" matches "rate limit", "ratelimit" and "sending-rate" but not "generate" */
static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, word, n) == 0 && (p == text || !isalpha((unsigned char)p[-1])))
            return true;
    }
    return false;
}

/* smtp_trouble_next_host - a connection or TLS failure before AUTH: the next host is tried */
bool smtp_trouble_next_host(enum smtp_class cls, enum smtp_stage stage)
{
    if (stage >= SMTP_STAGE_AUTH)
        return false;
    switch (cls) {
    case SMTP_DNS:
    case SMTP_CONNECTION_REFUSED:
    case SMTP_TIMEOUT:
    case SMTP_TLS_HANDSHAKE:
    case SMTP_TLS_CERTIFICATE:
    case SMTP_STARTTLS_UNAVAILABLE:
        return true;
    default:
        return false;
    }
}

bool smtp_trouble_is_throttle(int code, const char *enhanced, const char *text)
{
    const char *enh = enhanced ? enhanced : "";
    const char *t = text ? text : "";

    if (code == 421 && strcmp(enh, "4.7.0") == 0)
        return true;
    if (code == 432 && strcmp(enh, "4.3.2") == 0)
        return true;
    if (code == 550 && strcmp(enh, "5.4.5") == 0) /* Gmail: daily sending limit */
        return true;
    if (code == 454 && has_word(t, "throttling"))   /* SES: 454 Throttling failure */
        return true;
    if ((code == 421 || code == 450 || code == 451 || code == 452 || code == 454) &&
        (has_word(t, "rate") || has_word(t, "throttl")))
        return true;
    return false;
}

/* mentions_tls - the text of a 530 speaks of STARTTLS/TLS (Postfix: "Must issue a STARTTLS command first") */
static bool mentions_tls(const char *text)
{
    return has_word(text, "starttls") || has_word(text, "tls") || has_word(text, "ssl");
}

/* positive_expected - the reply is the positive answer the stage waits for */
static bool positive_expected(enum smtp_stage stage, int code)
{
    int cls = code / 100;

    switch (stage) {
    case SMTP_STAGE_DATA:
        return cls == 3;
    case SMTP_STAGE_AUTH:
        return cls == 2 || code == 334;
    default:
        return cls == 2;
    }
}

/* reply_class - the class and action of a reply (smtp_trouble_reply before the session rule) */
static struct smtp_verdict reply_class(enum smtp_stage stage, int code, const char *enhanced,
                                       const char *text, enum smtp_security security)
{
    const char *enh = enhanced ? enhanced : "";
    const char *t = text ? text : "";
    int cls = code / 100;

    if (code < 200 || code > 599)
        return verdict(SMTP_PROTOCOL, SMTP_RETRY);
    if (cls == 2 || cls == 3)
        return positive_expected(stage, code) ? verdict(SMTP_OK, SMTP_DONE)
                                              : verdict(SMTP_PROTOCOL, SMTP_RETRY);

    /* Throttling wins over the stage: it is about the account, not this message. */
    if (smtp_trouble_is_throttle(code, enh, t))
        return verdict(SMTP_RATE_LIMITED, SMTP_THROTTLE);

    /* Credentials refused: defer, an admin may fix them (doc/design.md, "Error classes": auth_failed). */
    if (code == 535 || code == 534 || strcmp(enh, "5.7.8") == 0)
        return verdict(SMTP_AUTH_FAILED, SMTP_RETRY);
    if (code == 530) {
        if (security == SMTP_SEC_NONE || mentions_tls(t))
            return verdict(SMTP_STARTTLS_REQUIRED, SMTP_RETRY);
        return verdict(SMTP_AUTH_FAILED, SMTP_RETRY);
    }

    switch (stage) {
    case SMTP_STAGE_AUTH:
        if (code == 504 || code == 538)  /* mechanism unknown / needs encryption */
            return verdict(SMTP_AUTH_UNAVAILABLE, SMTP_RETRY);
        if (code == 454 || cls == 5)     /* 454 4.7.0 Temporary authentication failure */
            return verdict(SMTP_AUTH_FAILED, SMTP_RETRY);
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    case SMTP_STAGE_STARTTLS:
        return verdict(SMTP_STARTTLS_UNAVAILABLE, SMTP_RETRY);
    case SMTP_STAGE_MAIL:
        if (cls == 4)
            return verdict(SMTP_TEMPORARY, SMTP_RETRY);
        if (code == 552 || strcmp(enh, "5.3.4") == 0) /* message too big for the server */
            return verdict(SMTP_MESSAGE_REJECTED, SMTP_BOUNCE);
        return verdict(SMTP_SENDER_REJECTED, SMTP_BOUNCE);
    case SMTP_STAGE_RCPT:
        /* RFC 5321 4.5.3.1.10: 552 to RCPT means "too many recipients", a temporary condition. */
        if (cls == 4 || code == 552)
            return verdict(SMTP_TEMPORARY, SMTP_RETRY);
        return verdict(SMTP_RECIPIENT_REJECTED, SMTP_BOUNCE);
    case SMTP_STAGE_DATA:
    case SMTP_STAGE_DOT:
        if (cls == 4)
            return verdict(SMTP_TEMPORARY, SMTP_RETRY);
        return verdict(SMTP_MESSAGE_REJECTED, SMTP_BOUNCE);
    case SMTP_STAGE_BANNER:
        /* "554 no SMTP service here": this host refuses us; it is not about a message. */
        if (cls == 5)
            return verdict(SMTP_CONNECTION_REFUSED, SMTP_RETRY);
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    default:
        /* EHLO, HELO, RSET, QUIT: a session-level refusal never bounces a message. */
        if (cls == 5)
            return verdict(SMTP_PROTOCOL, SMTP_RETRY);
        return verdict(SMTP_TEMPORARY, SMTP_RETRY);
    }
}

/* reply_session - V for the reply CODE at STAGE, with whether the session survives it: not a 421
 * (the server is closing), nor a refused STARTTLS (security starttls: no more clear text) or RSET
 * (the server's state is unknown) */
static struct smtp_verdict reply_session(struct smtp_verdict v, enum smtp_stage stage, int code)
{
    bool refused = v.cls != SMTP_OK;

    v.keeps_session = code != 421 && !(refused && (stage == SMTP_STAGE_STARTTLS ||
                                                    stage == SMTP_STAGE_RSET));
    return v;
}

/* smtp_trouble_reply - the reply's class and action, and whether the session survives it */
struct smtp_verdict smtp_trouble_reply(enum smtp_stage stage, int code, const char *enhanced,
                                       const char *text, enum smtp_security security)
{
    return reply_session(reply_class(stage, code, enhanced, text, security), stage, code);
}

struct smtp_verdict smtp_trouble_reply_from(const char *host, enum smtp_stage stage, int code,
                                            const char *enhanced, const char *text,
                                            enum smtp_security security)
{
    if (code >= 400 && code <= 599) {
        const struct provider_quirk *q = provider_quirk_match(host, code, text);

        if (q != NULL)
            return reply_session(verdict(q->cls, q->action), stage, code);
    }
    return smtp_trouble_reply(stage, code, enhanced, text, security);
}
