/*
 * metrics_http - the exposition endpoint of metrics.listen: GET /metrics on one listening TCP
 * socket, answered by one thread, one connection at a time. It is not a web server: it reads
 * the request (at most 4 KiB, within 2 seconds), answers 200 with the text of the
 * callback for "GET /metrics" (and "GET /"), 404 for any other path, 405 for any other
 * method, and closes the connection.
 *
 * Thread-safety: start and stop from one thread; RENDER runs in the server's thread.
 */
#ifndef BYOSMTP_METRICS_HTTP_H
#define BYOSMTP_METRICS_HTTP_H

struct metrics_http;

/*
 * metrics_http_start - listen on SPEC ("inet:PORT@ADDR" or "inet6:PORT@ADDR") and answer with
 * RENDER(CTX) (a new string, freed here). 0 and *out, or -1 with *err.
 */
int metrics_http_start(const char *spec, char *(*render)(void *ctx), void *ctx,
                       struct metrics_http **out, char **err);

/* metrics_http_stop - close the socket and join the thread; NULL is fine */
void metrics_http_stop(struct metrics_http *h);

#endif
