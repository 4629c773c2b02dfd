/*
 * smtp_trouble - the one failure policy of the smarthost client (Postfix smtp_trouble.c).
 *
 * Every outcome of a delivery attempt — a local event (resolve failure, refused connection,
 * timeout, TLS error, missing STARTTLS or AUTH, lost connection, garbage from the server, a
 * message the provider cannot take) or a server reply (code, enhanced status and text at a
 * given stage) — is mapped here, and only here, to one of the stable error classes of
 * doc/design.md ("Error classes") with its hint, and to an action: done, retry, bounce, or throttle (defer and
 * slow the whole target down), and whether the session survives it. No other module decides
 * what a reply means.
 *
 * The stages are also the named states of the SMTP client (smtp_client.c), so that a trace and
 * a classification speak the same words. Pure functions over constant tables: thread-safe.
 */
#ifndef BYOSMTP_SMTP_TROUBLE_H
#define BYOSMTP_SMTP_TROUBLE_H

#include <stdbool.h>

#include "smtp/smtp_mode.h" /* the security mode matters to one rule: 530 under "none" */

/* Where an outcome happened: the client's states, in the order of a session. */
enum smtp_stage {
    SMTP_STAGE_RESOLVE,
    SMTP_STAGE_CONNECT,
    SMTP_STAGE_TLS,      /* a TLS handshake, implicit or after STARTTLS */
    SMTP_STAGE_BANNER,
    SMTP_STAGE_EHLO,
    SMTP_STAGE_HELO,
    SMTP_STAGE_STARTTLS,
    SMTP_STAGE_AUTH,
    SMTP_STAGE_READY,    /* authenticated, between messages */
    SMTP_STAGE_MAIL,
    SMTP_STAGE_RCPT,
    SMTP_STAGE_DATA,
    SMTP_STAGE_DOT,      /* the message and its terminator, up to the final reply */
    SMTP_STAGE_RSET,
    SMTP_STAGE_QUIT,
    SMTP_STAGE_CLOSED,
};

/* The error classes of doc/design.md ("Error classes"); SMTP_OK when there was no error. */
enum smtp_class {
    SMTP_OK = 0,
    SMTP_DNS,
    SMTP_CONNECTION_REFUSED,
    SMTP_TIMEOUT,
    SMTP_TLS_HANDSHAKE,
    SMTP_TLS_CERTIFICATE,
    SMTP_STARTTLS_UNAVAILABLE,
    SMTP_STARTTLS_REQUIRED,
    SMTP_AUTH_UNAVAILABLE,
    SMTP_AUTH_FAILED,
    SMTP_SENDER_REJECTED,
    SMTP_RECIPIENT_REJECTED,
    SMTP_MESSAGE_REJECTED,
    SMTP_RATE_LIMITED,
    SMTP_QUOTA_EXCEEDED,
    SMTP_TEMPORARY,
    SMTP_PROTOCOL,
    SMTP_OAUTH_REFRESH_FAILED, /* no access token: the token endpoint or command refused, or unreachable */
};

/* What the caller does about it. */
enum smtp_action {
    SMTP_DONE,     /* delivered (or nothing left to do) */
    SMTP_RETRY,    /* defer; try again with backoff */
    SMTP_BOUNCE,   /* permanent: send a DSN (for the recipients concerned) */
    SMTP_THROTTLE, /* defer, and slow every delivery to this target down */
};

/* Local outcomes that are not a server reply. */
enum smtp_event {
    SMTP_EV_DNS,             /* the host name does not resolve */
    SMTP_EV_REFUSED,         /* TCP connection refused, host or network unreachable */
    SMTP_EV_TIMEOUT,         /* connect, read or write timed out */
    SMTP_EV_TLS_HANDSHAKE,   /* TLS handshake failed (not a certificate problem) */
    SMTP_EV_TLS_CERTIFICATE, /* certificate untrusted, wrong name, expired */
    SMTP_EV_STARTTLS_MISSING, /* security starttls, and STARTTLS is not offered */
    SMTP_EV_AUTH_MISSING,    /* no usable AUTH mechanism offered */
    SMTP_EV_AUTH_AFTER_TLS,  /* security none: AUTH is withheld until STARTTLS (Postfix "encrypt") */
    SMTP_EV_LOST,            /* the server closed the connection, or a socket error */
    SMTP_EV_PROTOCOL,        /* malformed or unexpected reply, plaintext injection */
    SMTP_EV_TOO_BIG,         /* message larger than the server's SIZE */
    SMTP_EV_NO_8BITMIME,     /* 8-bit content, server without 8BITMIME */
    SMTP_EV_NO_SMTPUTF8,     /* non-ASCII address, server without SMTPUTF8 */
    SMTP_EV_LOCAL,           /* local failure: message source unreadable, bad parameters */
    SMTP_EV_QUOTA,           /* the target's local monthly quota is used up */
    SMTP_EV_NO_OUTCOME,      /* a recipient that no step of the transaction answered */
    SMTP_EV_NO_TARGET,       /* the copy's target was removed from the store */
    SMTP_EV_SECRET,          /* the target's password cannot be decrypted (master key) */
    SMTP_EV_OAUTH,           /* no OAuth2 access token: the endpoint or the command failed */
};


/*
 * What an outcome means: its class, what the caller does, and whether the session survives it.
 * A local event ends the session unless it only refuses a message (SMTP_EV_TOO_BIG,
 * SMTP_EV_NO_8BITMIME, SMTP_EV_NO_SMTPUTF8). A reply leaves it open unless it is a 421 (the
 * server is closing the connection), a refused STARTTLS (security starttls: nothing more may be
 * said in clear text) or a refused RSET (the server's state is unknown). smtp_trouble_unsent()
 * and smtp_trouble_abandoned() say it for an event by when it happened.
 */
struct smtp_verdict {
    enum smtp_class cls;
    enum smtp_action action;
    const char *status; /* for a local event that refuses the message: its RFC 3463 status, else NULL */
    bool keeps_session; /* the session can take another message after this outcome */
};

/* smtp_stage_name - "banner", "ehlo", "starttls", ... (for traces) */
const char *smtp_stage_name(enum smtp_stage stage);
/* smtp_class_name - the stable name of doc/design.md ("Error classes"), "ok" for SMTP_OK */
const char *smtp_class_name(enum smtp_class cls);
/* smtp_class_parse - the reverse; -1 when unknown */
int smtp_class_parse(const char *name);
/* smtp_class_hint - the admin's hint of doc/design.md ("Error classes"), "" for SMTP_OK */
const char *smtp_class_hint(enum smtp_class cls);
/* smtp_action_name - "done", "retry", "bounce", "throttle" */
const char *smtp_action_name(enum smtp_action action);

/* smtp_trouble_event - classify a local outcome */
struct smtp_verdict smtp_trouble_event(enum smtp_event ev);

/*
 * smtp_trouble_unsent - classify the local event EV that refused a message before any of its
 * commands was sent (an address that would break the command line, no recipient, a content
 * refusal): as smtp_trouble_event(EV), and the session survives, since nothing reached the wire.
 */
struct smtp_verdict smtp_trouble_unsent(enum smtp_event ev);

/*
 * smtp_trouble_abandoned - classify the local event EV that stopped a message's transfer after
 * the server's 354 to DATA (the message unreadable, 8-bit content found too late): as
 * smtp_trouble_event(EV), and the session ends, since the message is left unterminated.
 */
struct smtp_verdict smtp_trouble_abandoned(enum smtp_event ev);

/*
 * smtp_trouble_reply - classify the reply CODE (with ENHANCED status "x.y.z" or "" and the
 * reply TEXT, all lines, may be "") that the server gave at STAGE. A positive reply that the
 * stage expects (2xx; 3xx to DATA and AUTH; 220 to the banner and STARTTLS) is SMTP_OK/done;
 * any other positive or malformed code is a protocol error.
 */
struct smtp_verdict smtp_trouble_reply(enum smtp_stage stage, int code, const char *enhanced,
                                       const char *text, enum smtp_security security);

/*
 * smtp_trouble_reply_from - smtp_trouble_reply for a reply from HOST: a failure reply that is
 * one of the known quirks of the provider serving HOST (provider.c) is classified as the
 * quirk says; everything else by the general rules.
 */
struct smtp_verdict smtp_trouble_reply_from(const char *host, enum smtp_stage stage, int code,
                                            const char *enhanced, const char *text,
                                            enum smtp_security security);

/*
 * smtp_trouble_next_host - did a session that failed with CLS at STAGE fail at connection or
 * TLS level, so that the next of a target's hosts is tried (failover, byosmtp-targets(5)
 * fallback_hosts)? True for dns, connection_refused (a 5xx greeting included), timeout,
 * tls_handshake, tls_certificate and starttls_unavailable before AUTH; never for AUTH, MAIL,
 * RCPT or DATA, whose replies come from a host that answered.
 */
bool smtp_trouble_next_host(enum smtp_class cls, enum smtp_stage stage);

/* smtp_trouble_is_throttle - true when the reply is one of the throttling replies of doc/delivery-rules.md ("Throttling") */
bool smtp_trouble_is_throttle(int code, const char *enhanced, const char *text);

#endif
