/*
 * net - TCP for the smarthost client: resolve a host (IPv4 and IPv6, getaddrinfo), connect to
 * each address in turn with a timeout, and the transport abstraction the SMTP client talks to
 * (read/write with timeouts and close; plain here, TLS in tls.c).
 *
 * Sockets are non-blocking and every wait is a poll() with a deadline, so no call blocks longer
 * than its timeout. Nagle is off (TCP_NODELAY): a write goes out at once, so a caller that wants
 * bytes in one segment (or one TLS record) gives them in one write. Writes use MSG_NOSIGNAL;
 * the TLS layer writes through OpenSSL, so a program using TLS transports must ignore SIGPIPE
 * (byosmtpd and byosmtpctl do).
 * Thread-safe: no shared state; a transport belongs to one thread at a time.
 */
#ifndef BYOSMTP_NET_H
#define BYOSMTP_NET_H

#include <stdbool.h>
#include <stddef.h>

/* Outcomes of network and transport calls. */
enum net_status {
    NET_OK = 0,
    NET_EOF,        /* the peer closed the connection */
    NET_TIMEOUT,    /* the deadline passed */
    NET_DNS,        /* the host name does not resolve */
    NET_REFUSED,    /* connection refused, host or network unreachable */
    NET_ERROR,      /* any other socket error */
    NET_TLS,        /* TLS handshake or record error */
    NET_TLS_CERT,   /* certificate verification failed */
};

/* net_trace_fn - told each step ("resolved ...", "connected to ...") as it happens */
typedef void net_trace_fn(void *ctx, const char *line);

/*
 * net_connect - resolve HOST (a name, an IPv4 literal, or an IPv6 literal with or without
 * brackets) and connect to PORT, trying each address in the resolver's order; TIMEOUT seconds
 * per address. On success returns NET_OK, *fd (non-blocking, close-on-exec, TCP_NODELAY) and
 * *peer ("127.0.0.1:25", "[::1]:25"; caller frees). Otherwise returns NET_DNS, NET_REFUSED,
 * NET_TIMEOUT or NET_ERROR (the failure of the last address tried) with *err.
 */
enum net_status net_connect(const char *host, int port, int timeout, net_trace_fn *trace,
                            void *trace_ctx, int *fd, char **peer, char **err);

/* net_is_ip_literal - true when HOST is an IPv4 or IPv6 address (brackets allowed) */
bool net_is_ip_literal(const char *host);
/* net_strip_brackets - HOST without the brackets of "[::1]"; caller frees */
char *net_strip_brackets(const char *host);

/*
 * A transport: the SMTP client's only view of the connection. Timeouts are in milliseconds
 * for one call. read returns NET_OK with *got > 0, or NET_EOF / NET_TIMEOUT / NET_ERROR /
 * NET_TLS with *err; write sends all N bytes or fails the same way. close frees the transport
 * (after which the struct must not be used) and closes the socket.
 */
struct transport {
    enum net_status (*read)(struct transport *t, void *buf, size_t n, size_t *got, int timeout_ms,
                            char **err);
    enum net_status (*write)(struct transport *t, const void *buf, size_t n, int timeout_ms,
                             char **err);
    void (*close)(struct transport *t);
    int fd;
    bool is_tls;
};

/* net_transport_plain - a transport for the connected socket FD (which it then owns) */
struct transport *net_transport_plain(int fd);

/* net_wait - poll FD for EVENTS (POLLIN/POLLOUT) until the absolute DEADLINE_MS (net_now_ms);
 * returns NET_OK, NET_TIMEOUT or NET_ERROR */
enum net_status net_wait(int fd, short events, long long deadline_ms);
/* net_now_ms - a monotonic clock in milliseconds */
long long net_now_ms(void);

/* net_pending - true when bytes are waiting to be read on FD right now (no waiting) */
bool net_pending(int fd);

#endif
