/*
 * hostdown - per-host backoff for failover (see hostdown.h). A small array: a target lists at
 * most 11 hosts, and the delivery process serves a handful of targets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/hostdown.h"
#include "util/util.h"

struct hostdown_entry {
    char *key;
    unsigned failures;
    time_t until;
};

struct hostdown {
    struct hostdown_entry *e;
    size_t n, cap;
};

struct hostdown *hostdown_new(void)
{
    return xcalloc(1, sizeof(struct hostdown));
}

void hostdown_free(struct hostdown *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].key);
    free(h->e);
    free(h);
}

/* find - the entry of KEY, or NULL */
static struct hostdown_entry *find(const struct hostdown *h, const char *key)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].key, key) == 0)
            return &h->e[i];
    return NULL;
}

/* hostdown_until - the end of KEY's backoff */
time_t hostdown_until(const struct hostdown *h, const char *key)
{
    const struct hostdown_entry *e = find(h, key);

    return e != NULL ? e->until : 0;
}

/* hostdown_order - the hosts out of their backoff in order, else the one back first */
size_t hostdown_order(const struct hostdown *h, const char *const *keys, size_t n, time_t now,
                      size_t *order)
{
    size_t k = 0, first = 0;

    for (size_t i = 0; i < n; i++) {
        time_t until = hostdown_until(h, keys[i]);

        if (until <= now)
            order[k++] = i;
        else if (hostdown_until(h, keys[first]) > until)
            first = i;
    }
    if (k == 0 && n > 0)
        order[k++] = first;
    return k;
}

/* hostdown_failed - one more failure: the backoff of the n-th failure */
void hostdown_failed(struct hostdown *h, const char *key, time_t now,
                     const struct backoff_params *p)
{
    struct hostdown_entry *e = find(h, key);

    if (e == NULL) {
        if (h->n == h->cap) {
            h->cap = h->cap * 2 + 4;
            h->e = xrealloc(h->e, h->cap * sizeof(*h->e));
        }
        e = &h->e[h->n++];
        *e = (struct hostdown_entry){xstrdup(key), 0, 0};
    }
    if (e->failures < 64)
        e->failures++;
    e->until = now + backoff_delay(p, e->failures, 0);
}

/* hostdown_ok - the entry removed */
void hostdown_ok(struct hostdown *h, const char *key)
{
    struct hostdown_entry *e = find(h, key);

    if (e == NULL)
        return;
    free(e->key);
    *e = h->e[--h->n];
}
