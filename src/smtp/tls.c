/*
 * tls - OpenSSL client contexts, the handshake and the TLS transport.
 * A context is shared read-only; a connection belongs to one thread.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "smtp/tls.h"
#include "util/util.h"

struct tls_ctx {
    SSL_CTX *ssl_ctx;
};

/* A TLS transport: the public part first, so a struct transport * is one of these. */
struct tls_transport {
    struct transport t;
    SSL *ssl;
};

/* ssl_errors - OpenSSL's error queue as one line (and cleared) */
static char *ssl_errors(void)
{
    struct buf b;
    unsigned long e;

    buf_init(&b);
    while ((e = ERR_get_error()) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        buf_printf(&b, "%s%s", b.len ? "; " : "", one);
    }
    if (b.len == 0)
        buf_puts(&b, "no detail from OpenSSL");
    return buf_steal(&b);
}

int tls_ctx_new(const struct tls_settings *s, struct tls_ctx **out, char **err)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    int minv = TLS1_2_VERSION;
    bool file = s->ca_file && *s->ca_file, path = s->ca_path && *s->ca_path;

    if (c == NULL) {
        char *e = ssl_errors();

        set_err(err, "TLS: cannot create a context: %s", e);
        free(e);
        return -1;
    }
    if (s->min_version && *s->min_version) {
        if (strcasecmp(s->min_version, "TLSv1.3") == 0)
            minv = TLS1_3_VERSION;
        else if (strcasecmp(s->min_version, "TLSv1.2") != 0) {
            SSL_CTX_free(c);
            return set_err(err, "tls_min_version \"%s\" is not supported: use \"TLSv1.2\" or \"TLSv1.3\"",
                           s->min_version);
        }
    }
    SSL_CTX_set_min_proto_version(c, minv);
    /* Servers often close after QUIT without close_notify: that is an end of stream, not an attack
     * on a protocol that has its own end marker. */
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (file || path) {
        if (SSL_CTX_load_verify_locations(c, file ? s->ca_file : NULL, path ? s->ca_path : NULL) != 1) {
            char *e = ssl_errors();

            set_err(err, "TLS: cannot load the CA %s %s: %s; check tls_ca_file / tls_ca_path",
                    file ? "file" : "path", file ? s->ca_file : s->ca_path, e);
            free(e);
            SSL_CTX_free(c);
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        char *e = ssl_errors();

        set_err(err, "TLS: cannot load the system CA store: %s", e);
        free(e);
        SSL_CTX_free(c);
        return -1;
    }
    *out = xcalloc(1, sizeof(**out));
    (*out)->ssl_ctx = c;
    return 0;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

void tls_info_free(struct tls_info *info)
{
    free(info->version);
    free(info->cipher);
    free(info->subject);
    free(info->issuer);
    free(info->verify_error);
    memset(info, 0, sizeof(*info));
}

/* name_string - an X509 name as one RFC 2253 line */
static char *name_string(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    char *s;

    if (bio == NULL)
        return xstrdup("?");
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    n = BIO_get_mem_data(bio, &data);
    s = xstrndup(data ? data : "", n > 0 ? (size_t)n : 0);
    BIO_free(bio);
    return s;
}

/* ssl_wait - wait as OpenSSL asks after an SSL_ERROR_WANT_*; NET_OK to retry */
static enum net_status ssl_wait(SSL *ssl, int fd, int rc, long long deadline, char **err,
                                const char *what)
{
    int e = SSL_get_error(ssl, rc);
    enum net_status st;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        st = net_wait(fd, POLLIN, deadline);
        break;
    case SSL_ERROR_WANT_WRITE:
        st = net_wait(fd, POLLOUT, deadline);
        break;
    case SSL_ERROR_ZERO_RETURN:
        set_err(err, "the server closed the connection during %s", what);
        return NET_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            ERR_clear_error();
            if (errno == 0 || errno == EPIPE || errno == ECONNRESET) {
                set_err(err, "the server closed the connection during %s", what);
                return NET_EOF;
            }
            set_err(err, "TLS %s: %s", what, strerror(errno));
            return NET_ERROR;
        }
        /* fall through */
    default: {
        char *detail = ssl_errors();

        set_err(err, "TLS %s failed: %s", what, detail);
        free(detail);
        return NET_TLS;
    }
    }
    if (st == NET_TIMEOUT)
        set_err(err, "TLS %s timed out", what);
    else if (st != NET_OK)
        set_err(err, "TLS %s: poll: %s", what, strerror(errno));
    return st;
}

/* tls_read - the transport's read */
static enum net_status tls_read(struct transport *t, void *buf, size_t n, size_t *got,
                                int timeout_ms, char **err)
{
    struct tls_transport *tt = (struct tls_transport *)t;
    long long deadline = net_now_ms() + timeout_ms;

    *got = 0;
    for (;;) {
        int rc;
        enum net_status st;

        ERR_clear_error();
        errno = 0;
        rc = SSL_read_ex(tt->ssl, buf, n, got);
        if (rc == 1)
            return NET_OK;
        st = ssl_wait(tt->ssl, t->fd, rc, deadline, err, "read");
        if (st == NET_TIMEOUT)
            set_err(err, "timed out waiting for the server (%d s)", timeout_ms / 1000);
        if (st != NET_OK)
            return st;
    }
}

/* tls_write - the transport's write: all N bytes */
static enum net_status tls_write(struct transport *t, const void *buf, size_t n, int timeout_ms,
                                 char **err)
{
    struct tls_transport *tt = (struct tls_transport *)t;
    long long deadline = net_now_ms() + timeout_ms;
    const char *p = buf;

    while (n > 0) {
        size_t w = 0;
        int rc;
        enum net_status st;

        ERR_clear_error();
        errno = 0;
        rc = SSL_write_ex(tt->ssl, p, n, &w);
        if (rc == 1) {
            p += w;
            n -= w;
            continue;
        }
        st = ssl_wait(tt->ssl, t->fd, rc, deadline, err, "write");
        if (st == NET_TIMEOUT)
            set_err(err, "timed out writing to the server (%d s)", timeout_ms / 1000);
        if (st != NET_OK)
            return st;
    }
    return NET_OK;
}

/* tls_close - one non-blocking close_notify, then free everything and close the socket */
static void tls_close(struct transport *t)
{
    struct tls_transport *tt = (struct tls_transport *)t;

    ERR_clear_error();
    SSL_shutdown(tt->ssl);
    SSL_free(tt->ssl);
    ERR_clear_error();
    if (t->fd >= 0)
        close(t->fd);
    free(tt);
}

enum net_status tls_start(struct tls_ctx *ctx, int fd, const char *host, bool verify,
                          int timeout_ms, struct transport **out, struct tls_info *info,
                          char **err)
{
    long long deadline = net_now_ms() + timeout_ms;
    char *name = net_strip_brackets(host);
    bool ip = net_is_ip_literal(name);
    enum net_status st = NET_TLS;
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    X509 *cert = NULL;
    long vr;

    memset(info, 0, sizeof(*info));
    *out = NULL;
    ERR_clear_error();
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        char *e = ssl_errors();

        set_err(err, "TLS: cannot set up the connection: %s", e);
        free(e);
        goto fail;
    }
    /* The name is checked even without verify, so the result can say what is wrong. */
    if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1) {
            set_err(err, "TLS: cannot verify against the address %s", name);
            goto fail;
        }
    } else if (SSL_set1_host(ssl, name) != 1 || SSL_set_tlsext_host_name(ssl, name) != 1) {
        set_err(err, "TLS: cannot set the server name %s", name);
        goto fail;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);

    for (;;) {
        int rc;

        ERR_clear_error();
        errno = 0;
        rc = SSL_connect(ssl);
        if (rc == 1)
            break;
        st = ssl_wait(ssl, fd, rc, deadline, err, "handshake");
        if (st == NET_OK)
            continue;
        vr = SSL_get_verify_result(ssl);
        if (verify && vr != X509_V_OK) {
            set_err(err, "TLS certificate of %s not accepted: %s", name,
                    X509_verify_cert_error_string(vr));
            st = NET_TLS_CERT;
        }
        goto fail;
    }

    info->version = xstrdup(SSL_get_version(ssl));
    info->cipher = xstrdup(SSL_get_cipher_name(ssl));
    cert = SSL_get1_peer_certificate(ssl);
    vr = SSL_get_verify_result(ssl);
    if (cert) {
        info->subject = name_string(X509_get_subject_name(cert));
        info->issuer = name_string(X509_get_issuer_name(cert));
        X509_free(cert);
    } else {
        info->subject = xstrdup("(no certificate)");
        info->issuer = xstrdup("");
        if (vr == X509_V_OK)
            vr = X509_V_ERR_UNSPECIFIED;
    }
    info->verified = vr == X509_V_OK;
    info->verify_error = xstrdup(vr == X509_V_OK ? "" : X509_verify_cert_error_string(vr));
    if (verify && !info->verified) {
        /* Cannot happen with SSL_VERIFY_PEER, but never trust a connection on an assumption. */
        set_err(err, "TLS certificate of %s not accepted: %s", name, info->verify_error);
        st = NET_TLS_CERT;
        goto fail;
    }

    {
        struct tls_transport *tt = xcalloc(1, sizeof(*tt));

        tt->t.read = tls_read;
        tt->t.write = tls_write;
        tt->t.close = tls_close;
        tt->t.fd = fd;
        tt->t.is_tls = true;
        tt->ssl = ssl;
        *out = &tt->t;
    }
    free(name);
    return NET_OK;

fail:
    if (st == NET_OK)
        st = NET_TLS;
    tls_info_free(info);
    SSL_free(ssl);
    ERR_clear_error();
    free(name);
    return st;
}
