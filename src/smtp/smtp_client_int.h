/*
 * smtp_client_int - the inside of the smarthost client, shared by its layers and by nothing else
 * (the public API is smtp_client.h). The layers, after Postfix's and Dovecot's SMTP clients:
 *
 *   smtp_chat.c     the wire: trace and trail, failures recorded into a result as smtp_trouble
 *                   says, a command out and a reply in (Postfix smtp_chat.c)
 *   smtp_connect.c  the connection: resolve and connect (net.h), implicit TLS or STARTTLS
 *                   (tls.h), the banner and EHLO/HELO; the connection facts
 *   smtp_auth.c     AUTH with a SASL mechanism (sasl.h)
 *   smtp_client.c   the session's life (open, RSET, QUIT, close), the mail transaction and the
 *                   message sources
 *
 * A failing function here has recorded its failure in the result it was given (class, action,
 * stage, reply, text) and returns -1; the verdict of smtp_trouble decides whether the session
 * survives it (c->usable).
 *
 * Thread-safety: a session belongs to one thread at a time; nothing here keeps other state.
 */
#ifndef BYOSMTP_SMTP_CLIENT_INT_H
#define BYOSMTP_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp/net.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_trouble.h"
#include "util/util.h"

/*
 * What the connection established, as against the outcome of one attempt over it: kept in the
 * session as the layers learn it, copied into the result by open.
 */
struct smtp_conn_info {
    char *peer;        /* "127.0.0.1:587", once connected */
    char *tls_version; /* NULL without TLS */
    char *tls_cipher;
    char *tls_subject;
    bool tls_verified;
    char *auth_mech;   /* "PLAIN", ..., once authenticated */
};

struct smtp_client {
    /* what open was asked for */
    char *host;
    int port;
    enum smtp_security security;
    char *helo_name;
    char *username;
    char *password; /* secret: wiped on close */
    enum smtp_auth auth;
    bool verify;
    char *log_name;
    struct smtp_timeouts to; /* milliseconds, but connect in seconds (net_connect) */
    smtp_trace_fn *trace;
    void *trace_ctx;

    /* the connection */
    struct tls_ctx *tls;     /* the one in use */
    struct tls_ctx *own_tls; /* made here, freed on close */
    struct transport *t;
    struct smtp_conn_info conn;
    struct smtp_caps caps;   /* from the last EHLO */

    /* the chat */
    struct buf in;  /* bytes read and not yet consumed from in_pos */
    size_t in_pos;
    struct smtp_reply reply; /* the last reply read */
    enum smtp_stage state;
    struct buf trail;
    bool usable;    /* the session can take another command; false once a verdict ended it */
};

/* ---- smtp_chat.c ---- */

/* smtp_chat_trace - give one step to the caller's trace callback, at the current state */
void smtp_chat_trace(struct smtp_client *c, const char *fmt, ...) BYO_PRINTF(2, 3);
/* smtp_chat_enter - move to STAGE, recording it in the trail (repeats of one stage once) */
void smtp_chat_enter(struct smtp_client *c, enum smtp_stage stage);

/*
 * smtp_chat_fail - record the verdict V on a local event in RES at the current state, TEXT
 * saying what happened (NULL: the class name); the session ends unless V says it survives.
 */
void smtp_chat_fail(struct smtp_client *c, struct smtp_result *res, struct smtp_verdict v,
                    const char *text);
/* smtp_chat_fail_event - smtp_chat_fail with the verdict on the local event EV */
void smtp_chat_fail_event(struct smtp_client *c, struct smtp_result *res, enum smtp_event ev,
                          const char *text);
/*
 * smtp_chat_fail_reply - record the failure that the last reply means at STAGE, WHAT naming the
 * command ("MAIL FROM"); the session ends when the verdict says so (a 421, ...).
 */
void smtp_chat_fail_reply(struct smtp_client *c, struct smtp_result *res, enum smtp_stage stage,
                          const char *what);
/* smtp_chat_reply_ok - the last reply is the positive answer STAGE waits for */
bool smtp_chat_reply_ok(struct smtp_client *c, enum smtp_stage stage);
/* smtp_chat_net_event - the smtp_event of a failed network or transport call */
enum smtp_event smtp_chat_net_event(enum net_status st);

/* smtp_chat_send - write N bytes within TIMEOUT_MS; 0, or -1 with RES */
int smtp_chat_send(struct smtp_client *c, const void *p, size_t n, int timeout_ms,
                   struct smtp_result *res);
/* smtp_chat_send_cmd - send LINE and CRLF within the command timeout, traced as SHOWN (NULL:
 * LINE itself; SHOWN hides what LINE holds of a credential); 0, or -1 with RES */
int smtp_chat_send_cmd(struct smtp_client *c, const char *line, const char *shown,
                       struct smtp_result *res);
/*
 * smtp_chat_read_reply - read a whole reply into c->reply within TIMEOUT_MS, tracing each line;
 * HIDE keeps the text of 334 lines (AUTH challenges) out of the trace. 0 when a reply was read
 * (any code), or -1 with RES (timeout, connection lost, malformed reply).
 */
int smtp_chat_read_reply(struct smtp_client *c, int timeout_ms, bool hide,
                         struct smtp_result *res);
/* smtp_chat_command - send LINE and read its reply; 0 when sent and answered (any code), -1
 * with RES */
int smtp_chat_command(struct smtp_client *c, const char *line, int timeout_ms,
                      struct smtp_result *res);

/* ---- smtp_connect.c ---- */

/*
 * smtp_connect_open - from the session's parameters to an EHLO'd connection: the TLS context
 * (P's shared one, or one made from P's settings), resolve and connect, TLS from the first byte
 * or after STARTTLS as the security mode says, the banner, EHLO (HELO for an RFC 821 server).
 * 0, or -1 with RES. The connection facts learnt so far are in c->conn either way.
 */
int smtp_connect_open(struct smtp_client *c, const struct smtp_params *p, struct smtp_result *res);
/* smtp_connect_info_result - copy the connection facts CI into RES (replacing its own) */
void smtp_connect_info_result(const struct smtp_conn_info *ci, struct smtp_result *res);
/* smtp_connect_info_free - free the strings of CI (not CI itself) and empty it */
void smtp_connect_info_free(struct smtp_conn_info *ci);

/* ---- smtp_auth.c ---- */

/*
 * smtp_auth_authenticate - AUTH with the configured mechanism, or the strongest one offered;
 * never over clear text unless security is none. 0 with c->conn.auth_mech, or -1 with RES.
 * The trace shows every step, never the credentials, a challenge or a response.
 */
int smtp_auth_authenticate(struct smtp_client *c, struct smtp_result *res);

#endif
