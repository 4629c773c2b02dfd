/*
 * tls - TLS for the smarthost client; the only module that includes OpenSSL's SSL headers.
 *
 * A tls_ctx holds the trust store (a CA file and/or directory, or the system default store)
 * and the minimum protocol version (TLS 1.2 unless configured to 1.3). tls_start() runs the
 * client handshake on a connected socket and returns a transport (net.h) for the SMTP client.
 * Certificates are verified against the configured host name (SSL_set1_host) or IP literal
 * (X509_VERIFY_PARAM_set1_ip_asc); SNI is sent for names only. With verify false the
 * handshake accepts any certificate, and the result records it as unverified with the reason.
 *
 * Thread-safety: a tls_ctx is read-only after tls_ctx_new() and may be shared by threads
 * (OpenSSL's SSL_CTX is); it must outlive the connections made with it. A transport belongs
 * to one thread at a time. Writes can raise SIGPIPE: programs must ignore it.
 */
#ifndef BYOSMTP_TLS_H
#define BYOSMTP_TLS_H

#include <stdbool.h>

#include "smtp/net.h"

struct tls_ctx;

struct tls_settings {
    const char *ca_file;     /* PEM bundle; NULL or "" = none */
    const char *ca_path;     /* hashed directory (c_rehash); NULL or "" = none */
    const char *min_version; /* "TLSv1.2" (NULL or "" too) or "TLSv1.3" */
};

/* What the handshake established, for traces and the verify result. Strings are owned. */
struct tls_info {
    char *version;      /* "TLSv1.3" */
    char *cipher;       /* "TLS_AES_256_GCM_SHA384" */
    char *subject;      /* peer certificate subject, RFC 2253: "CN=smtp.example.com,O=..." */
    char *issuer;
    bool verified;      /* chain and name verified */
    char *verify_error; /* why not, when !verified ("" otherwise) */
};

/*
 * tls_ctx_new - a context from S. With neither a CA file nor a CA path the system default
 * store is used. Returns 0 and *out, or -1 with *err (unreadable CA file, unknown version).
 */
int tls_ctx_new(const struct tls_settings *s, struct tls_ctx **out, char **err);
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * tls_start - TLS client handshake on the connected non-blocking socket FD for HOST (the name
 * to verify; a name or an IP literal, brackets allowed), within TIMEOUT_MS.
 * Returns NET_OK with *out (a transport that now owns FD) and *info filled; or, leaving FD
 * open for the caller to close: NET_TLS_CERT (verification failed, VERIFY true), NET_TLS
 * (handshake failed), NET_TIMEOUT, NET_EOF (closed during the handshake), all with *err.
 */
enum net_status tls_start(struct tls_ctx *ctx, int fd, const char *host, bool verify,
                          int timeout_ms, struct transport **out, struct tls_info *info,
                          char **err);

/* tls_info_free - free the strings (not INFO itself); NULL fields are fine */
void tls_info_free(struct tls_info *info);

#endif
