/*
 * target_host - a target's hosts in the order they are tried (its host, then fallback_hosts,
 * Postfix's smtp_fallback_relay and Exim's fallback_hosts), the check of a fallback_hosts list,
 * and the words of the fallback field.
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/target_int.h"

#define PORT_MAX 65535

/* target_fallback_name - the word of F; "?" past the last, which ends target_field_words() */
const char *target_fallback_name(enum target_fallback f)
{
    switch (f) {
    case TARGET_FALLBACK_NONE:
        return "none";
    case TARGET_FALLBACK_MTA:
        return "mta";
    }
    return "?";
}

/* target_fallback_parse - "none" or "mta", in any case */
int target_fallback_parse(const char *word)
{
    if (strcasecmp(word, "none") == 0)
        return TARGET_FALLBACK_NONE;
    if (strcasecmp(word, "mta") == 0)
        return TARGET_FALLBACK_MTA;
    return -1;
}

/* split_host_port - "host:port" or "[v6]:port" into a new *host (no []) and *port; false if not */
static bool split_host_port(const char *s, char **host, int *port)
{
    const char *colon, *h = s;
    size_t hlen;
    char *end;
    long p;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return false;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return false;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || colon[1] < '0' || colon[1] > '9' || strlen(colon + 1) > 5)
        return false;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p < 1 || p > PORT_MAX)
        return false;
    *host = xstrndup(h, hlen);
    *port = (int)p;
    return true;
}

/* valid_host_port - HOST:PORT with a valid host and a port 1-65535 */
int valid_host_port(const char *s, char **err)
{
    char *host = NULL, *v;
    int port, rc;

    if (!split_host_port(s, &host, &port)) {
        v = target_shown(s);
        set_err(err,
                "'%s' is not HOST:PORT: write e.g. \"smtp2.example.com:587\" or "
                "\"[2001:db8::1]:587\", with a port from 1 to %d",
                v, PORT_MAX);
        free(v);
        return -1;
    }
    rc = valid_host(host, err);
    free(host);
    return rc;
}

/* valid_host_list - "" or HOST:PORT,HOST:PORT..., no entry empty or given twice */
int valid_host_list(const char *s, char **err)
{
    char *copy = xstrdup(s), *save = NULL, *w, *seen[TARGET_FALLBACK_HOSTS_MAX];
    size_t n = 0;
    int rc = 0;

    if (s[0] != '\0' && (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,") != NULL))
        rc = set_err(err, "an empty entry: give each host as HOST:PORT");
    for (w = strtok_r(copy, ",", &save); rc == 0 && w != NULL; w = strtok_r(NULL, ",", &save)) {
        if (valid_host_port(w, err) < 0) {
            rc = -1;
        } else if (n == TARGET_FALLBACK_HOSTS_MAX) {
            rc = set_err(err, "more than %d hosts", TARGET_FALLBACK_HOSTS_MAX);
        } else {
            for (size_t i = 0; i < n && rc == 0; i++)
                if (strcasecmp(seen[i], w) == 0) {
                    char *v = target_shown(w);

                    rc = set_err(err, "'%s' is given twice", v);
                    free(v);
                }
            seen[n++] = w;
        }
    }
    free(copy);
    return rc;
}

/* target_hosts - the primary host, then each fallback host, in order */
size_t target_hosts(const struct target *t, struct target_host **out)
{
    const char *list = t->fallback_hosts != NULL ? t->fallback_hosts : "";
    char *copy = xstrdup(list), *save = NULL, *w;
    struct target_host *h = xcalloc(TARGET_FALLBACK_HOSTS_MAX + 2, sizeof(*h));
    size_t n = 0;

    h[n++] = (struct target_host){xstrdup(t->host != NULL ? t->host : ""), t->port};
    for (w = strtok_r(copy, ",", &save); w != NULL && n < TARGET_FALLBACK_HOSTS_MAX + 1;
         w = strtok_r(NULL, ",", &save))
        if (split_host_port(w, &h[n].host, &h[n].port))
            n++;
    free(copy);
    *out = h;
    return n;
}

/* target_hosts_free - the hosts of target_hosts() */
void target_hosts_free(struct target_host *h, size_t n)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(h[i].host);
    free(h);
}
