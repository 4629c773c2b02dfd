/*
 * target_route - route keys: a route match as an admin writes it turned into its stored key,
 * and the keys a recipient is looked up under, most specific first (doc/design.md, "Targets and routes").
 *
 * Owns nothing beyond the key strings it returns. Values quoted in messages pass through
 * target_shown(). Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "store/target_int.h"

/* lower_ascii - lower-case the ASCII letters of N bytes in place (UTF-8 bytes left as written) */
static void lower_ascii(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

/* route_match_in - is the key K (N bytes) one of the newline-separated MATCHES? */
static bool route_match_in(const char *matches, const char *k, size_t n)
{
    for (const char *p = matches; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (len == n && memcmp(p, k, n) == 0)
            return true;
        p += len + (nl != NULL);
    }
    return false;
}

/* route_match_in_list - is MATCH one of MATCHES? */
bool route_match_in_list(const char *matches, const char *match)
{
    return route_match_in(matches, match, strlen(match));
}

/* route_err - "route match 'M': WHY" */
static char *route_err(char **err, const char *match, const char *why)
{
    char *v = target_shown(match);

    set_err(err, "route match '%s': %s", v, why);
    free(v);
    return NULL;
}

/* route_normalise - check a route match and give its stored key */
char *route_normalise(const char *match, char **err)
{
    const char *at = strrchr(match, '@');
    char *why = NULL;
    char *out;
    size_t n = strlen(match);

    if (strcmp(match, "*") == 0)
        return xstrdup("*");

    if (match[0] == '.' || (at != NULL && at == match)) {
        /* ".example.com" (subdomains) or "@example.com" (the domain); no literal after '.' */
        const char *dom = match + 1;

        if (match[0] == '.' && dom[0] == '[') {
            route_err(err, match, "an address literal has no subdomains; write @[...] instead");
            return NULL;
        }
        if (addr_check_domain(dom, strlen(dom), &why) < 0) {
            route_err(err, match, why);
            free(why);
            return NULL;
        }
        out = xstrdup(match);
        lower_ascii(out + 1, n - 1);
        return out;
    }

    if (at == NULL || strncmp(match, "*@", 2) == 0 || strncmp(match, "*.", 2) == 0) {
        char *v = target_shown(match);
        const char *hint = "";

        if (strncmp(match, "*@", 2) == 0)
            hint = " (a whole domain is written @example.com)";
        else if (strncmp(match, "*.", 2) == 0)
            hint = " (every subdomain is written .example.com)";
        else if (n > 0)
            hint = " (a whole domain is written @example.com, its subdomains .example.com)";
        set_err(err, "'%s': route match must be user@domain, @domain, .domain or *%s", v, hint);
        free(v);
        return NULL;
    }

    if (addr_check_mailbox(match, &why) < 0) {
        route_err(err, match, why);
        free(why);
        return NULL;
    }
    out = xstrdup(match);
    lower_ascii(out + (at - match) + 1, n - (size_t)(at - match) - 1);
    return out;
}

/* keys_push - append a new key of N bytes (plus an optional suffix) to the candidate list */
static void keys_push(char ***keys, size_t *n, size_t *cap, const char *p, size_t len,
                      const char *suffix)
{
    size_t slen = suffix != NULL ? strlen(suffix) : 0;
    char *k = xmalloc(len + slen + 1);

    if (*n == *cap) {
        *cap = *cap * 2 + 4;
        *keys = xrealloc(*keys, *cap * sizeof(**keys));
    }
    memcpy(k, p, len);
    if (slen > 0)
        memcpy(k + len, suffix, slen);
    k[len + slen] = '\0';
    (*keys)[(*n)++] = k;
}

/* route_candidates - the lookup keys for a recipient, most specific first */
int route_candidates(const char *rcpt, size_t len, char ***keys, size_t *n)
{
    size_t cap = 0, at = len, llen, dlen;
    char *dom;
    const char *plus;

    *keys = NULL;
    *n = 0;
    if (len >= 2 && rcpt[0] == '<' && rcpt[len - 1] == '>') {
        rcpt++;
        len -= 2;
    }
    if (len == 0 || memchr(rcpt, '\0', len) != NULL)
        return 0;

    for (size_t i = len; i > 0; i--)
        if (rcpt[i - 1] == '@') {
            at = i - 1;
            break;
        }
    dlen = at < len ? len - at - 1 : 0;
    if (dlen > 0 && rcpt[len - 1] == '.')
        dlen--; /* "user@example.com." names the same domain */
    if (dlen == 0) {
        keys_push(keys, n, &cap, "*", 1, NULL);
        return 0;
    }

    /* "@domain", lower-cased once; every key below is built from it */
    llen = at;
    dom = xmalloc(dlen + 2);
    dom[0] = '@';
    memcpy(dom + 1, rcpt + at + 1, dlen);
    dom[dlen + 1] = '\0';
    lower_ascii(dom + 1, dlen);

    if (llen > 0) {
        keys_push(keys, n, &cap, rcpt, llen, dom);
        /* user+detail: split at the first '+'; a quoted local part is kept whole */
        plus = memchr(rcpt, '+', llen);
        if (rcpt[0] != '"' && plus != NULL && plus > rcpt)
            keys_push(keys, n, &cap, rcpt, (size_t)(plus - rcpt), dom);
    }
    keys_push(keys, n, &cap, dom, dlen + 1, NULL);
    if (dom[1] != '[') {
        /* parents, most specific first; ".com" also when the domain is "example.com" */
        for (size_t i = 2; i < dlen; i++)
            if (dom[i] == '.')
                keys_push(keys, n, &cap, dom + i, dlen + 1 - i, NULL);
    }
    keys_push(keys, n, &cap, "*", 1, NULL);
    free(dom);
    return 0;
}

/* route_candidates_free - free the keys of route_candidates() */
void route_candidates_free(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* route_rule_name - name the rule a key stands for, for "route test" */
const char *route_rule_name(const char *key)
{
    if (strcmp(key, "*") == 0)
        return "catch-all";
    if (key[0] == '@')
        return "domain";
    if (key[0] == '.')
        return "subdomains";
    return "address";
}

/* route_match_list - normalise MATCHES (n of them) into one TT_MATCHES value */
char *route_match_list(const char *const *matches, size_t n, char **err)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        char *norm = strcmp(matches[i], "<>") == 0 ? xstrdup("<>") : route_normalise(matches[i], err);
        bool dup = false;

        if (norm == NULL) {
            buf_free(&b);
            return NULL;
        }
        for (size_t j = 0; j < i && !dup; j++) {
            char *other = strcmp(matches[j], "<>") == 0 ? xstrdup("<>")
                                                        : route_normalise(matches[j], NULL);

            dup = other != NULL && strcmp(other, norm) == 0;
            free(other);
        }
        if (!dup)
            buf_printf(&b, "%s%s", b.len > 0 ? "\n" : "", norm);
        free(norm);
    }
    return buf_steal(&b);
}

/* route_matches_sender - is SENDER one of MATCHES, by the keys of route_candidates()? */
bool route_matches_sender(const char *matches, const char *sender)
{
    char *bare = NULL;
    char **keys = NULL;
    size_t nkeys = 0, n = strlen(sender);
    bool hit = false;

    while (n > 0 && sender[0] == ' ')
        sender++, n--;
    while (n > 0 && sender[n - 1] == ' ')
        n--;
    if (n >= 2 && sender[0] == '<' && sender[n - 1] == '>')
        sender++, n -= 2;
    if (n == 0) /* the null sender: only "<>" names it */
        return route_match_in(matches, "<>", 2);
    bare = xstrndup(sender, n);
    route_candidates(bare, n, &keys, &nkeys);
    for (size_t i = 0; i < nkeys && !hit; i++)
        hit = route_match_in(matches, keys[i], strlen(keys[i]));
    route_candidates_free(keys, nkeys);
    free(bare);
    return hit;
}
