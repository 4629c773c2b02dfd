/*
 * smtp_client - the smarthost client: one authenticated SMTP session with a customer's
 * provider, over which any number of messages are submitted (doc/design.md, "The delivery side").
 *
 * smtp_client_open() resolves and connects (net.c), speaks TLS from the first byte or after
 * STARTTLS as the security mode says (tls.c), reads the banner, sends EHLO, and authenticates
 * (sasl.c); it returns a ready session or NULL. smtp_client_send() submits one message to
 * several recipients (MAIL, RCPT..., DATA in one write when the server offers PIPELINING; the
 * body streamed through the smtp_data encoder in bounded chunks, its end and the CRLF.CRLF in
 * one write) and reports each recipient.
 * The session stays open for the next message while smtp_client_usable() says so.
 * smtp_client_close() says QUIT and frees everything, wiping the password.
 *
 * Inside, the client is layered behind smtp_client_int.h: smtp_chat.c (the wire), smtp_connect.c
 * (connection, TLS, EHLO), smtp_auth.c (AUTH) and smtp_client.c (the session and the transaction).
 *
 * Every failure is classified by smtp_trouble.c into a class of doc/design.md ("Error classes") and an action.
 * The client never sends credentials over a connection without TLS unless security is none,
 * never sends mail without a successful AUTH (except with SMTP_AUTH_NONE, a relay that authorises
 * by IP address, and then only over TLS), and never sends AUTH or mail when security is
 * starttls and the server does not offer it.
 *
 * The trace callback is told every step as it happens (resolved addresses, connection, TLS
 * version/cipher/certificate, each command and reply line); it never receives the password,
 * the token, or the base64 of an AUTH exchange. Log lines (msg.h) are written only for an
 * unverified TLS certificate (tls_verify = false), every time.
 *
 * Thread-safety: a session belongs to one thread at a time; sessions are independent. A
 * shared tls_ctx (params.tls) may be used by many sessions at once. Programs must ignore
 * SIGPIPE (OpenSSL writes with write(2)).
 */
#ifndef BYOSMTP_SMTP_CLIENT_H
#define BYOSMTP_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "smtp/smtp_mode.h"
#include "smtp/smtp_trouble.h"

struct tls_ctx;
struct smtp_client;


/* Timeouts in seconds; 0 takes the default (Postfix's). */
struct smtp_timeouts {
    int connect;   /* TCP connect, per address (30) */
    int helo;      /* banner, EHLO/HELO (300) */
    int command;   /* STARTTLS, TLS handshake, AUTH, MAIL, RCPT, RSET, QUIT (300) */
    int data_init; /* DATA up to its 354 (120) */
    int data_xfer; /* each write of the message body (180) */
    int data_done; /* the final reply after CRLF.CRLF (600) */
};

/* smtp_trace_fn - one step of the session as it happens (a printable line without CRLF) */
typedef void smtp_trace_fn(void *ctx, enum smtp_stage stage, const char *line);

struct smtp_params {
    const char *host;            /* name or IP literal ("[::1]" allowed) */
    int port;                    /* 0 = 587 (starttls), 465 (tls), 25 (none) */
    enum smtp_security security; /* SMTP_SEC_STARTTLS is 0: the default */
    const char *helo_name;       /* EHLO name; NULL or "" = this host's name */
    const char *username;        /* required unless auth is SMTP_AUTH_NONE */
    const char *password;        /* clear password or XOAUTH2 token; copied, wiped on close */
    enum smtp_auth auth;         /* SMTP_AUTH_AUTO: CRAM-MD5 > PLAIN > LOGIN */
    bool tls_skip_verify;        /* true only when the target says tls_verify = false */
    struct tls_ctx *tls;         /* shared TLS context; NULL = make one from the next three */
    const char *tls_ca_file;     /* NULL/"" and no tls_ca_path: the system default store */
    const char *tls_ca_path;
    const char *tls_min_version; /* "TLSv1.2" (default) or "TLSv1.3" */
    struct smtp_timeouts timeouts;
    smtp_trace_fn *trace;        /* NULL = no trace */
    void *trace_ctx;
    const char *log_name;        /* names the target in log lines; NULL = host */
};

/*
 * Where one recipient stands. The zero value is SMTP_RCPT_UNTRIED, so that a result no step
 * filled in can never read as delivered: only SMTP_RCPT_DELIVERED means the provider answered
 * 2xx to its RCPT and to the final dot. smtp_client_send() returns every recipient either
 * DELIVERED or FAILED; the other two states exist only while it runs.
 */
enum smtp_rcpt_status {
    SMTP_RCPT_UNTRIED = 0, /* nothing known yet */
    SMTP_RCPT_ACCEPTED,    /* RCPT got 2xx; the message itself not yet */
    SMTP_RCPT_DELIVERED,   /* RCPT and the final dot got 2xx: the provider has it */
    SMTP_RCPT_FAILED,      /* not delivered: cls and action say why and what to do */
};

/* smtp_rcpt_status_name - "untried", "accepted", "delivered", "failed" */
const char *smtp_rcpt_status_name(enum smtp_rcpt_status status);

/* The outcome for one recipient of smtp_client_send(), in the order of envelope.rcpt. */
struct smtp_rcpt_result {
    enum smtp_rcpt_status status;
    enum smtp_class cls; /* SMTP_OK exactly when status is SMTP_RCPT_DELIVERED */
    enum smtp_action action;
    int code;            /* the deciding reply (RCPT's, or the message's), 0 when none */
    char enhanced[16];
    char *reply;         /* that reply as one line ("550 5.1.1 ..."); NULL when no reply
                            decided (then the result's text says what happened) */
};

/*
 * A result, filled by open, send and rset. Free it with smtp_result_free() (then it may be
 * filled again). The connection facts (peer, tls_*, auth_mech) are filled by open.
 */
struct smtp_result {
    enum smtp_class cls;     /* SMTP_OK on success */
    enum smtp_action action; /* SMTP_DONE on success */
    enum smtp_stage stage;   /* where it ended (or failed) */
    int code;                /* the deciding reply code, 0 when the outcome was not a reply */
    char enhanced[16];       /* its enhanced status, "" when none */
    char *reply;             /* the deciding reply as one printable line, NULL when none */
    char *text;              /* what happened, one line for the admin; NULL on success */
    char *trail;             /* the states passed: "connect -> banner -> ehlo -> starttls -> tls -> ehlo -> auth" */
    /* the connection (open) */
    char *peer;              /* "127.0.0.1:587" */
    char *tls_version;       /* NULL without TLS */
    char *tls_cipher;
    char *tls_subject;
    bool tls_verified;
    char *auth_mech;         /* "PLAIN", ... */
    /* the message (send) */
    size_t nrcpt;
    struct smtp_rcpt_result *rcpt;
    unsigned long long bytes; /* octets of DATA written, terminator included */
};

void smtp_result_init(struct smtp_result *res);
void smtp_result_free(struct smtp_result *res);

/* What is known about a message's content before it is sent. */
enum smtp_body { SMTP_BODY_UNKNOWN, SMTP_BODY_7BIT, SMTP_BODY_8BIT };

struct smtp_envelope {
    const char *sender;       /* without <>; "" = the null sender */
    const char *const *rcpt;  /* without <> */
    size_t nrcpt;
    unsigned long long size;  /* message octets as stored, 0 = unknown; used only for a
                                 caller-made source (see SIZE below) */
    enum smtp_body body;      /* UNKNOWN: BODY=8BITMIME when offered; else 8-bit content aborts */
};

/*
 * SIZE (RFC 1870). When the server offers SIZE, MAIL declares exactly the octets the DATA
 * encoder (smtp_data.h) sends before the terminating ".CRLF": the message with each bare CR or
 * LF made CRLF, a CRLF after every 998 octets of a line and at the end of an unfinished last
 * line, and the dot-stuffing dots (which RFC 1870 leaves out, so the figure is never below the
 * RFC's). The client measures it before MAIL with a counting pass of the encoder over the
 * source: a second read of the message, no second encoding, no allocation beyond one chunk.
 * That is the cheapest correct figure: env.size alone bounds the wire size only by twice itself
 * plus 2 (every octet a bare LF), which would over-declare and refuse messages that fit, and any
 * tighter bound needs the same pass over the bytes (line ends, leading dots, long lines) that
 * gives the exact count. The same figure decides the refusal before MAIL of a message larger
 * than the server's SIZE. A caller-made source can be read only once: for it no SIZE is
 * declared, and env.size (a lower bound of what is sent, as the encoder only adds octets)
 * decides that refusal. A source must give the same bytes on both reads.
 */

/*
 * The message: a read callback that fills BUF with up to N bytes and returns how many,
 * 0 at the end, -1 on error (errno set). smtp_source_fd() and smtp_source_mem() make the
 * two usual ones, which keep all their state in the struct (the client reads a copy to measure
 * the message, see SIZE above); a caller-made source sets .read and .ctx, and is read once.
 */
struct smtp_source {
    ssize_t (*read)(struct smtp_source *src, void *buf, size_t n);
    void *ctx;
    int fd;            /* smtp_source_fd: read with pread() from offset, left bytes */
    off_t offset;
    off_t left;        /* -1 = to the end of the file */
    const char *mem;   /* smtp_source_mem */
    size_t mem_len;
};

/* smtp_source_fd - LENGTH bytes (-1: to the end) of FD from OFFSET; pread(), FD's offset untouched */
struct smtp_source smtp_source_fd(int fd, off_t offset, off_t length);
/* smtp_source_mem - the N bytes at P (which must stay valid during the send) */
struct smtp_source smtp_source_mem(const void *p, size_t n);

/*
 * smtp_client_open - connect, TLS, banner, EHLO, AUTH as P says.
 * Returns the ready session (RES: cls SMTP_OK, connection facts, trail), or NULL with RES
 * giving the class, action, stage, reply and text of the failure.
 */
struct smtp_client *smtp_client_open(const struct smtp_params *p, struct smtp_result *res);

/*
 * smtp_client_send - submit one message from SRC to ENV's recipients.
 * Returns 0 when the provider accepted it for at least one recipient (RES cls SMTP_OK; see
 * res->rcpt[i] for each recipient, some may have been refused); -1 when it accepted it for
 * none (RES holds the deciding failure; every res->rcpt[i] holds its own). Whatever path the
 * send takes, every res->rcpt[i] comes back SMTP_RCPT_DELIVERED or SMTP_RCPT_FAILED with the
 * class and action that apply; a recipient that nothing answered fails as temporary/retry.
 * The message is
 * refused before MAIL when it is larger than the server's SIZE (see SIZE above), 8-bit for a
 * server without 8BITMIME, or has a non-ASCII address for one without SMTPUTF8
 * (message_rejected, bounce). A message that cannot be measured is refused before MAIL
 * (temporary, retry; the session survives); one that cannot be read to its end while it is sent
 * is never terminated: the connection is dropped.
 */
int smtp_client_send(struct smtp_client *c, const struct smtp_envelope *env, struct smtp_source *src,
                     struct smtp_result *res);

/* smtp_client_rset - RSET (e.g. to check an idle session before reuse); 0, or -1 with RES */
int smtp_client_rset(struct smtp_client *c, struct smtp_result *res);

/* smtp_client_usable - the session can take another message */
bool smtp_client_usable(const struct smtp_client *c);

/* smtp_client_close - QUIT when the session is usable, close, wipe the password, free (NULL is fine) */
void smtp_client_close(struct smtp_client *c);

#endif
