/*
 * dsnopt - the DSN options of the original envelope (see dsnopt.h).
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/dsnopt.h"
#include "util/util.h"

/* hexval - the value of hex digit C (upper case, as xtext writes it), -1 when not one */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* dsnopt_xtext_decode - "+XX" to its byte; every byte printable ASCII ('!' to '~') */
char *dsnopt_xtext_decode(const char *s, size_t n)
{
    char *out = xcalloc(n + 1, 1);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (c == '+') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        }
        if (c < 0x21 || c > 0x7E) {
            free(out);
            return NULL;
        }
        out[k++] = (char)c;
    }
    return out;
}

/* param - the value of KEY= in PARAMS (case-insensitive key), into *len; NULL when absent */
static const char *param(const char *params, const char *key, size_t *len)
{
    size_t klen = strlen(key);

    for (const char *p = params != NULL ? params : ""; *p != '\0';) {
        size_t wlen = strcspn(p, " ");

        if (wlen > klen && strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            *len = wlen - klen - 1;
            return p + klen + 1;
        }
        p += wlen;
        p += strspn(p, " ");
    }
    return NULL;
}

/* dsnopt_msg_parse - RET= and ENVID= */
void dsnopt_msg_parse(const char *params, struct dsnopt_msg *m)
{
    const char *v;
    size_t n;

    *m = (struct dsnopt_msg){DSNOPT_RET_NONE, NULL};
    if ((v = param(params, "RET", &n)) != NULL) {
        if (n == 4 && strncasecmp(v, "FULL", 4) == 0)
            m->ret = DSNOPT_RET_FULL;
        else if (n == 4 && strncasecmp(v, "HDRS", 4) == 0)
            m->ret = DSNOPT_RET_HDRS;
    }
    if ((v = param(params, "ENVID", &n)) != NULL && n > 0 && n <= 100)
        m->envid = dsnopt_xtext_decode(v, n);
}

void dsnopt_msg_free(struct dsnopt_msg *m)
{
    free(m->envid);
    m->envid = NULL;
}

/* dsnopt_rcpt_parse - NOTIFY= (comma-separated words) and ORCPT=TYPE;XTEXT */
void dsnopt_rcpt_parse(const char *params, struct dsnopt_rcpt *r)
{
    static const struct {
        const char *word;
        unsigned bit;
    } words[] = {{"NEVER", DSNOPT_NEVER},
                 {"SUCCESS", DSNOPT_SUCCESS},
                 {"FAILURE", DSNOPT_FAILURE},
                 {"DELAY", DSNOPT_DELAY}};
    const char *v, *semi;
    size_t n;

    *r = (struct dsnopt_rcpt){0, NULL};
    if ((v = param(params, "NOTIFY", &n)) != NULL) {
        for (size_t i = 0; i < n;) {
            size_t w = strcspn(v + i, ",");

            if (w > n - i)
                w = n - i;
            for (size_t k = 0; k < sizeof(words) / sizeof(*words); k++)
                if (strlen(words[k].word) == w && strncasecmp(v + i, words[k].word, w) == 0)
                    r->notify |= words[k].bit;
            i += w + 1;
        }
        /* NEVER goes alone (RFC 3461 4.1); with another word the parameter is void */
        if ((r->notify & DSNOPT_NEVER) && r->notify != DSNOPT_NEVER)
            r->notify = 0;
    }
    if ((v = param(params, "ORCPT", &n)) != NULL && (semi = memchr(v, ';', n)) != NULL &&
        (size_t)(semi - v) == 6 && strncasecmp(v, "rfc822", 6) == 0 && n - 7 > 0 && n <= 500)
        r->orcpt = dsnopt_xtext_decode(semi + 1, n - 7);
}

void dsnopt_rcpt_free(struct dsnopt_rcpt *r)
{
    free(r->orcpt);
    r->orcpt = NULL;
}

bool dsnopt_wants_failure(const struct dsnopt_rcpt *r)
{
    return r->notify == 0 || (r->notify & DSNOPT_FAILURE) != 0;
}

bool dsnopt_wants_delay(const struct dsnopt_rcpt *r)
{
    return r->notify == 0 || (r->notify & DSNOPT_DELAY) != 0;
}

bool dsnopt_wants_success(const struct dsnopt_rcpt *r)
{
    return (r->notify & DSNOPT_SUCCESS) != 0;
}

/* dsnopt_notify_word - "never", or the words set, for sendmail -N */
const char *dsnopt_notify_word(unsigned notify, char buf[32])
{
    buf[0] = '\0';
    if (notify & DSNOPT_NEVER) {
        strcpy(buf, "never");
        return buf;
    }
    if (notify & DSNOPT_SUCCESS)
        strcat(buf, "success");
    if (notify & DSNOPT_FAILURE)
        strcat(buf, buf[0] ? ",failure" : "failure");
    if (notify & DSNOPT_DELAY)
        strcat(buf, buf[0] ? ",delay" : "delay");
    return buf;
}
