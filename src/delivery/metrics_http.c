/*
 * metrics_http - GET /metrics on metrics.listen (see metrics_http.h). libcurl is a client
 * library; this is the one small responder of the exposition format, bounded in request size
 * and time.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "delivery/metrics_http.h"
#include "util/msg.h"
#include "util/util.h"

#define REQUEST_MAX 4096
#define REQUEST_TIMEOUT_MS 2000

struct metrics_http {
    int fd;
    pthread_t thread;
    atomic_bool stopping;
    char *(*render)(void *ctx);
    void *ctx;
};

/* send_all - write everything or give up (the peer's problem); SO_SNDTIMEO bounds it */
static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

/* reply - one response with BODY, then the connection is closed */
static void reply(int fd, const char *status, const char *type, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));

    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* read_request - the request's head (up to its blank line) into BUF, and its first line
 * NUL-terminated there; false when it did not come whole within the limits. The whole head is
 * read so that closing the connection never discards unread bytes (which would reset it). */
static bool read_request(int fd, char *buf, size_t size)
{
    size_t len = 0;
    double until = time_now() + REQUEST_TIMEOUT_MS / 1000.0;

    while (len + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((until - time_now()) * 1000);
        ssize_t r;

        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        if ((r = recv(fd, buf + len, size - 1 - len, 0)) <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) {
            buf[strcspn(buf, "\r\n")] = '\0';
            return true;
        }
    }
    return false;
}

/* serve_one - answer one connection */
static void serve_one(struct metrics_http *h, int fd)
{
    char req[REQUEST_MAX + 1], method[16], path[REQUEST_MAX];
    struct timeval tv = {.tv_sec = 10};

    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!read_request(fd, req, sizeof(req))) {
        reply(fd, "400 Bad Request", "text/plain", "a request of at most 4 KiB was expected\n");
        return;
    }
    if (sscanf(req, "%15s %4095s", method, path) != 2) {
        reply(fd, "400 Bad Request", "text/plain", "a request line was expected\n");
    } else if (strcmp(method, "GET") != 0) {
        reply(fd, "405 Method Not Allowed", "text/plain", "only GET /metrics\n");
    } else if (strcmp(path, "/metrics") != 0 && strncmp(path, "/metrics?", 9) != 0 &&
               strcmp(path, "/") != 0) {
        reply(fd, "404 Not Found", "text/plain", "not found: the metrics are at /metrics\n");
    } else {
        char *text = h->render(h->ctx);

        reply(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text);
        free(text);
    }
}

/* linger - after the reply: read and discard what the client still sends (a body), until it
 * closes, for at most 500 ms and 64 KiB, so that the close does not reset the connection
 * before the client read the reply */
static void linger(int fd)
{
    char junk[4096];
    size_t total = 0;
    double until = time_now() + 0.5;

    shutdown(fd, SHUT_WR);
    while (total < 64 * 1024) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((until - time_now()) * 1000);
        ssize_t r;

        if (left <= 0 || poll(&p, 1, left) <= 0 || (r = recv(fd, junk, sizeof(junk), 0)) <= 0)
            return;
        total += (size_t)r;
    }
}

/* serve - the server's thread: accept, answer, close, until stopped */
static void *serve(void *arg)
{
    struct metrics_http *h = arg;

    while (!atomic_load(&h->stopping)) {
        struct pollfd p = {.fd = h->fd, .events = POLLIN};
        int c;

        if (poll(&p, 1, 500) <= 0)
            continue;
        if ((c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        serve_one(h, c);
        linger(c);
        close(c);
    }
    return NULL;
}

/* open_listener - a listening socket for SPEC; the fd, or -1 with *err */
static int open_listener(const char *spec, char **err)
{
    bool v6 = strncmp(spec, "inet6:", 6) == 0;
    const char *rest = spec + (v6 ? 6 : 5), *at = strchr(rest, '@');
    struct addrinfo hints = {.ai_family = v6 ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    char *port;
    int fd = -1, one = 1, rc;

    if ((!v6 && strncmp(spec, "inet:", 5) != 0) || at == NULL)
        return set_err(err, "metrics.listen = \"%s\": write inet:PORT@ADDRESS, e.g. "
                            "\"inet:9466@127.0.0.1\"", spec);
    port = xstrndup(rest, (size_t)(at - rest));
    rc = getaddrinfo(at + 1, port, &hints, &ai);
    free(port);
    if (rc != 0)
        return set_err(err, "metrics.listen = \"%s\": %s", spec, gai_strerror(rc));
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
        set_err(err, "metrics.listen = \"%s\": cannot listen: %s (is the port in use?)", spec,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int metrics_http_start(const char *spec, char *(*render)(void *ctx), void *ctx,
                       struct metrics_http **out, char **err)
{
    struct metrics_http *h;
    int fd = open_listener(spec, err);

    *out = NULL;
    if (fd < 0)
        return -1;
    h = xcalloc(1, sizeof(*h));
    h->fd = fd;
    h->render = render;
    h->ctx = ctx;
    if (pthread_create(&h->thread, NULL, serve, h) != 0) {
        close(fd);
        free(h);
        return set_err(err, "metrics.listen: cannot start its thread");
    }
    *out = h;
    return 0;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stopping, true);
    pthread_join(h->thread, NULL);
    close(h->fd);
    free(h);
}
