/*
 * https - one HTTPS POST over libcurl (see https.h).
 */
#include "config.h"

#include "util/https.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

void https_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    struct buf b;
    bool overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;

    if (s->b.len + len > HTTPS_MAX_BODY) {
        s->overflow = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    buf_append(&s->b, p, len);
    return len;
}

static bool is_https(const char *url)
{
    return url && strncasecmp(url, "https://", 8) == 0 && url[8] != '\0';
}

int https_post(const struct https_request *r, struct https_response *resp, char **err)
{
    memset(resp, 0, sizeof(*resp));
    if (!is_https(r->url))
        return set_err(err, "%s is not an https:// URL; only HTTPS is used",
                       r->url && *r->url ? r->url : "(empty URL)");

    CURL *c = curl_easy_init();
    if (!c)
        return set_err(err, "cannot reach %s: libcurl could not start a transfer", r->url);

    struct sink s = {.overflow = false};
    struct curl_slist *hdr = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";
    char *ct = xasprintf("Content-Type: %s", r->content_type ? r->content_type : "application/octet-stream");

    hdr = curl_slist_append(hdr, ct);
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    for (const char *const *h = r->headers; h && *h; h++)
        hdr = curl_slist_append(hdr, *h);
    buf_init(&s.b);

    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_file && *r->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
    if (r->ca_path && *r->ca_path)
        curl_easy_setopt(c, CURLOPT_CAPATH, r->ca_path);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);

    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (s.overflow) {
        ret = set_err(err, "%s: the reply is larger than %d bytes", r->url, HTTPS_MAX_BODY);
    } else if (rc != CURLE_OK) {
        ret = set_err(err, "cannot reach %s: %s", r->url, *ebuf ? ebuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body_len = s.b.len;
        resp->body = s.b.len ? buf_steal(&s.b) : NULL;
    }
    buf_free(&s.b);
    curl_slist_free_all(hdr);
    free(ct);
    curl_easy_cleanup(c);
    return ret;
}

void https_response_free(struct https_response *resp)
{
    if (resp->body) {
        wipe(resp->body, resp->body_len); /* a token reply holds secrets */
        free(resp->body);
    }
    memset(resp, 0, sizeof(*resp));
}

char *url_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    struct buf b;

    buf_init(&b);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_putc(&b, *p);
        } else {
            buf_putc(&b, '%');
            buf_putc(&b, hex[*p >> 4]);
            buf_putc(&b, hex[*p & 15]);
        }
    }
    return buf_steal(&b);
}
