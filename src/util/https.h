/*
 * https - one HTTPS POST over libcurl, for the few places byosmtpd speaks HTTP: an OAuth2 token
 * endpoint (a form) and a delivery-event webhook (JSON). Never hand-written HTTP.
 *
 * Only https:// URLs are accepted (plain http is refused before any connection), the peer's
 * certificate and host name are always verified (against ca_path, the system's CAs by default,
 * and ca_file besides, like delivery.tls_ca_path and delivery.tls_ca_file for providers),
 * redirects are not followed, and the whole exchange is bounded by timeout_ms. The reply body is
 * kept (up to HTTPS_MAX_BODY bytes) for the caller to parse; the request body is never logged.
 *
 * https_init() once per process before any thread starts (curl_global_init); https_post is then
 * thread-safe (one easy handle per call).
 */
#ifndef BYOSMTP_HTTPS_H
#define BYOSMTP_HTTPS_H

#include <stddef.h>

#define HTTPS_MAX_BODY (1024 * 1024)

struct https_request {
    const char *url;          /* https://... */
    const char *content_type; /* e.g. "application/x-www-form-urlencoded" */
    const char *body;
    size_t body_len;
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; NULL = none */
    const char *ca_file; /* PEM bundle trusted besides CA_PATH; NULL or "" = none */
    const char *ca_path; /* hashed CA directory; NULL or "" = libcurl's default (the system's) */
    long timeout_ms;            /* whole exchange; <= 0 = 10000 */
};

struct https_response {
    long status; /* HTTP status; 0 when no reply came */
    char *body;  /* NUL-terminated, NULL when empty; caller frees with https_response_free */
    size_t body_len;
};

/* https_init - curl_global_init; call once in a process before its threads start */
void https_init(void);

/*
 * https_post - send R, fill RESP (zeroed first). Returns 0 when an HTTP reply came (any status),
 * -1 with *err ("cannot reach URL: ..." / "URL is not https") when none did.
 */
int https_post(const struct https_request *r, struct https_response *resp, char **err);

void https_response_free(struct https_response *resp);

/* url_encode - TEXT percent-encoded for a form value (RFC 3986 unreserved kept); caller frees */
char *url_encode(const char *text);

#endif
