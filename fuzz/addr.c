/*
 * addr - fuzz address syntax (src/util/addr.h), route keys (route_normalise and
 * route_candidates, src/store/target.h) and the forms an address takes in a DSN (dsn_address,
 * dsn_text_utf8, src/delivery/dsn.h). The input is one address; the functions that take a
 * length get exactly its bytes, in a buffer of that size, so a read past the end is caught.
 *
 * Properties: addr_utf8_valid agrees with an independent UTF-8 oracle; a valid mailbox is a
 * valid route (unless it starts with "*@" or "*.", which route_normalise refuses with a hint);
 * a route key normalises to itself and is found by a recipient it is written for; the
 * candidates of any recipient that is not empty (inside one pair of < >) and holds no NUL end
 * with the catch-all "*"; a DSN shows an address as printable ASCII of at most DSN_ADDR_MAX
 * bytes, and text as clean UTF-8 within its bound.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/dsn.h"
#include "fuzz.h"
#include "store/target.h"
#include "util/addr.h"
#include "util/util.h"

/* exact - a copy of the N bytes at P in a buffer of exactly N bytes (none for N = 0) */
static char *exact(const uint8_t *p, size_t n)
{
    char *c = xmalloc(n ? n : 1);

    memcpy(c, p, n);
    return c;
}

/* candidates_has - the route candidates of RCPT hold KEY; the last is "*" */
static bool candidates_has(const char *rcpt, const char *key)
{
    char **keys = NULL;
    size_t n = 0;
    bool found = false;

    route_candidates(rcpt, strlen(rcpt), &keys, &n);
    FUZZ_CHECK(n > 0 && strcmp(keys[n - 1], "*") == 0, "candidates that do not end with *");
    for (size_t i = 0; i < n; i++)
        found = found || strcmp(keys[i], key) == 0;
    route_candidates_free(keys, n);
    return found;
}

/* check_route - S as a route match: its key normalises to itself and is found */
static void check_route(const char *s, bool mailbox)
{
    char *err = NULL, *key = route_normalise(s, &err), *again, *rcpt;

    FUZZ_CHECK(key != NULL || (err != NULL && *err != '\0'), "a refused route without a message");
    FUZZ_CHECK(key != NULL || !mailbox || strncmp(s, "*@", 2) == 0 || strncmp(s, "*.", 2) == 0,
               "a valid mailbox is not a valid route");
    free(err);
    if (key == NULL)
        return;
    err = NULL;
    again = route_normalise(key, &err);
    FUZZ_CHECK(again != NULL && strcmp(again, key) == 0, "a route key does not normalise to itself");
    FUZZ_CHECK(route_rule_name(key) != NULL, "a route key without a rule");
    if (key[0] == '@')
        rcpt = xasprintf("someone%s", key);
    else if (key[0] == '.')
        rcpt = xasprintf("someone@host%s", key);
    else
        rcpt = xstrdup(strcmp(key, "*") == 0 ? "someone@example.com" : key);
    FUZZ_CHECK(candidates_has(rcpt, key), "a route is not found by a recipient it is written for");
    if (key[0] != '@' && key[0] != '.' && strcmp(key, "*") != 0) {
        char **keys = NULL;
        size_t n = 0;

        route_candidates(rcpt, strlen(rcpt), &keys, &n);
        FUZZ_CHECK(n > 0 && strcmp(keys[0], key) == 0, "an address route is not the first candidate");
        route_candidates_free(keys, n);
    }
    free(rcpt);
    free(again);
    free(err);
    free(key);
}

/* check_dsn_forms - the address and text as a DSN shows them */
static void check_dsn_forms(const char *s)
{
    static const size_t max[] = {4, 7, 64, DSN_ADDR_MAX};
    bool utf8 = false;
    char *a = dsn_address(s, &utf8);
    size_t n = strlen(a);

    FUZZ_CHECK(n <= DSN_ADDR_MAX, "a DSN address longer than DSN_ADDR_MAX");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(a[i] >= 0x20 && a[i] < 0x7F, "a DSN address that is not printable ASCII");
    free(a);
    for (size_t k = 0; k < sizeof(max) / sizeof(max[0]); k++) {
        char *t = dsn_text_utf8(s, max[k]);
        size_t tn = strlen(t);

        FUZZ_CHECK(tn <= max[k], "dsn_text_utf8 longer than its bound");
        FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)t, tn), "dsn_text_utf8 is not UTF-8");
        for (size_t i = 0; i < tn; i++)
            FUZZ_CHECK((unsigned char)t[i] >= 0x20 && t[i] != 0x7F &&
                           !((unsigned char)t[i] == 0xC2 && (unsigned char)t[i + 1] < 0xA0),
                       "a control character in dsn_text_utf8");
        free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size), *x = exact(data, size), *err = NULL;
    const char *at = strrchr(s, '@');
    char **keys = NULL;
    size_t nkeys = 0, inner;
    bool mailbox;

    FUZZ_CHECK(addr_utf8_valid(x, size) == fuzz_utf8_valid(data, size),
               "addr_utf8_valid disagrees with the oracle");
    (void)addr_check_local(x, size, &err);
    (void)addr_check_domain(x, size, &err);
    if (addr_check_host(s, &err) == 0)
        FUZZ_CHECK(strpbrk(s, " <>\r\n\t") == NULL, "a host with a space, bracket or control");
    mailbox = addr_check_mailbox(s, &err) == 0;
    if (mailbox) {
        FUZZ_CHECK(at != NULL && strlen(s) <= ADDR_MAX, "a mailbox without '@' or too long");
        FUZZ_CHECK(addr_check_local(s, (size_t)(at - s), &err) == 0 &&
                       addr_check_domain(at + 1, strlen(at + 1), &err) == 0,
                   "a mailbox whose parts are refused");
    }
    check_route(s, mailbox);

    route_candidates(x, size, &keys, &nkeys);
    inner = size >= 2 && data[0] == '<' && data[size - 1] == '>' ? size - 2 : size;
    if (inner > 0 && memchr(data, '\0', size) == NULL)
        FUZZ_CHECK(nkeys > 0 && strcmp(keys[nkeys - 1], "*") == 0,
                   "the candidates of a recipient do not end with *");
    else
        FUZZ_CHECK(nkeys == 0, "candidates for an empty recipient or one with NUL");
    route_candidates_free(keys, nkeys);

    check_dsn_forms(s);
    free(err);
    free(x);
    free(s);
    return 0;
}
