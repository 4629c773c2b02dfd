/*
 * net - resolve, connect with a timeout, and the plain transport. No shared state: thread-safe.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp/net.h"
#include "util/util.h"

long long net_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum net_status net_wait(int fd, short events, long long deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        long long left = deadline_ms - net_now_ms();
        int rc;

        if (left <= 0)
            return NET_TIMEOUT;
        rc = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
        if (rc > 0)
            return NET_OK; /* readable, writable, or an error the next call will report */
        if (rc == 0)
            return NET_TIMEOUT;
        if (errno != EINTR)
            return NET_ERROR;
    }
}

bool net_pending(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    return n > 0;
}

char *net_strip_brackets(const char *host)
{
    size_t n = strlen(host);

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return xstrndup(host + 1, n - 2);
    return xstrdup(host);
}

bool net_is_ip_literal(const char *host)
{
    char *h = net_strip_brackets(host);
    unsigned char addr[sizeof(struct in6_addr)];
    bool ip = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;

    free(h);
    return ip;
}

/* format_addr - "1.2.3.4:25" or "[::1]:25" */
static char *format_addr(const struct sockaddr *sa, bool with_port)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        return with_port ? xasprintf("%s:%d", host, port) : xstrdup(host);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        return with_port ? xasprintf("[%s]:%d", host, port) : xstrdup(host);
    }
    return xstrdup("?");
}

/* connect_one - connect to one address within TIMEOUT seconds */
static enum net_status connect_one(const struct addrinfo *ai, int timeout, int *fdp, char **err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    char *where = format_addr(ai->ai_addr, true);
    enum net_status st = NET_OK;
    int soerr = 0;
    socklen_t slen = sizeof(soerr);

    if (fd < 0) {
        set_err(err, "socket for %s: %s", where, strerror(errno));
        free(where);
        return NET_ERROR;
    }
    /* No Nagle: the client writes whole groups (a pipelined MAIL/RCPT/DATA, the end of a message
     * with its CRLF.CRLF) and waits for the replies, so a held-back segment only waits for the
     * server's delayed ACK (~40 ms per message). A failure costs speed only: ignored. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            soerr = errno;
        } else {
            st = net_wait(fd, POLLOUT, net_now_ms() + (long long)timeout * 1000);
            if (st == NET_TIMEOUT) {
                set_err(err, "connect to %s: timed out after %d s", where, timeout);
                goto out;
            }
            if (st != NET_OK || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
                soerr = errno ? errno : EIO;
        }
    }
    if (soerr != 0) {
        set_err(err, "connect to %s: %s", where, strerror(soerr));
        st = (soerr == ECONNREFUSED || soerr == EHOSTUNREACH || soerr == ENETUNREACH ||
              soerr == EADDRNOTAVAIL || soerr == ECONNRESET)
                 ? NET_REFUSED
                 : NET_ERROR;
        goto out;
    }
    st = NET_OK;
out:
    free(where);
    if (st != NET_OK)
        close(fd);
    else
        *fdp = fd;
    return st;
}

enum net_status net_connect(const char *host, int port, int timeout, net_trace_fn *trace,
                            void *trace_ctx, int *fd, char **peer, char **err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    char portstr[16];
    char *name = net_strip_brackets(host);
    enum net_status st = NET_DNS;
    struct buf list;
    int rc;

    *fd = -1;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (net_is_ip_literal(name))
        hints.ai_flags |= AI_NUMERICHOST;
    rc = getaddrinfo(name, portstr, &hints, &res);
    if (rc == EAI_ADDRFAMILY || (rc != 0 && (hints.ai_flags & AI_ADDRCONFIG))) {
        /* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on a host whose only interface is loopback. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        rc = getaddrinfo(name, portstr, &hints, &res);
    }
    if (rc != 0) {
        set_err(err, "%s does not resolve: %s", name, rc == EAI_SYSTEM ? strerror(errno)
                                                                     : gai_strerror(rc));
        free(name);
        return NET_DNS;
    }
    buf_init(&list);
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char *a = format_addr(ai->ai_addr, false);

        buf_printf(&list, "%s%s", list.len ? " " : "", a);
        free(a);
    }
    if (trace) {
        char *line = xasprintf("resolved %s: %s", name, list.data);

        trace(trace_ctx, line);
        free(line);
    }
    buf_free(&list);

    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char *where = format_addr(ai->ai_addr, true);

        st = connect_one(ai, timeout, fd, err);
        if (trace) {
            char *line = st == NET_OK ? xasprintf("connected to %s", where)
                                      : xasprintf("%s", err && *err ? *err : "connect failed");

            trace(trace_ctx, line);
            free(line);
        }
        if (st == NET_OK) {
            *peer = where;
            break;
        }
        free(where);
    }
    freeaddrinfo(res);
    free(name);
    return st;
}

/* plain_read - read what is there, waiting up to TIMEOUT_MS */
static enum net_status plain_read(struct transport *t, void *buf, size_t n, size_t *got,
                                  int timeout_ms, char **err)
{
    long long deadline = net_now_ms() + timeout_ms;

    *got = 0;
    for (;;) {
        ssize_t r = recv(t->fd, buf, n, 0);
        enum net_status st;

        if (r > 0) {
            *got = (size_t)r;
            return NET_OK;
        }
        if (r == 0) {
            set_err(err, "the server closed the connection");
            return NET_EOF;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            set_err(err, "read: %s", strerror(errno));
            return NET_ERROR;
        }
        st = net_wait(t->fd, POLLIN, deadline);
        if (st == NET_TIMEOUT) {
            set_err(err, "timed out waiting for the server (%d s)", timeout_ms / 1000);
            return st;
        }
        if (st != NET_OK) {
            set_err(err, "poll: %s", strerror(errno));
            return st;
        }
    }
}

/* plain_write - write all N bytes before TIMEOUT_MS */
static enum net_status plain_write(struct transport *t, const void *buf, size_t n, int timeout_ms,
                                   char **err)
{
    long long deadline = net_now_ms() + timeout_ms;
    const char *p = buf;

    while (n > 0) {
        ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL);
        enum net_status st;

        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            set_err(err, "write: %s", strerror(errno));
            return errno == EPIPE || errno == ECONNRESET ? NET_EOF : NET_ERROR;
        }
        st = net_wait(t->fd, POLLOUT, deadline);
        if (st == NET_TIMEOUT) {
            set_err(err, "timed out writing to the server (%d s)", timeout_ms / 1000);
            return st;
        }
        if (st != NET_OK) {
            set_err(err, "poll: %s", strerror(errno));
            return st;
        }
    }
    return NET_OK;
}

/* plain_close - close the socket and free the transport */
static void plain_close(struct transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

struct transport *net_transport_plain(int fd)
{
    struct transport *t = xcalloc(1, sizeof(*t));

    t->read = plain_read;
    t->write = plain_write;
    t->close = plain_close;
    t->fd = fd;
    t->is_tls = false;
    return t;
}
