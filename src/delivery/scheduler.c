/*
 * scheduler - the in-memory queue and the per-target limits (see scheduler.h).
 *
 * Copies are kept in a hash table by id and in a list per target; targets in an array served
 * round-robin. Every job holds one connection slot of its target from sched_take() to
 * sched_done(): a reused idle connection (already counted) or a new one (counted at take), so
 * the count of open connections never exceeds the target's limit, whatever the workers do.
 */
#include "config.h"

#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/backoff.h"
#include "delivery/ratelimit.h"
#include "delivery/scheduler.h"
#include "util/util.h"

struct idle_conn {
    void *conn;
    double since;
    int messages;
};

struct starget;

struct item {
    char id[SPOOL_ID_LEN + 1];
    struct starget *t;
    double due;
    bool busy, del, flush;
    struct item *prev, *next; /* in the target's list */
    struct item *hnext;       /* in the hash chain */
};

struct starget {
    char *name;
    int max_connections; /* 0 = the default */
    char *rate;          /* as the target says it: "" or "N/s", "N/m" */
    struct ratelimit rl; /* the pace of message starts (ratelimit.h) */
    double last_start;   /* when the last job was handed out, whatever the pace; 0 = none yet */
    struct throttle th;  /* the pause after throttling replies (backoff.h) */
    int open;            /* connections open: in a worker's hands or idle */
    bool degraded;       /* failing or throttled: one connection only */
    struct item *head, *tail;
    size_t nitems;
    struct idle_conn *idle;
    size_t nidle, idle_cap;
};

struct sched {
    struct sched_config cfg;
    struct starget **targets;
    size_t ntargets, rr;
    struct item **hash;
    size_t nbuckets, nitems;
    int share_index, share_n; /* sched_set_share(); share_n 0: no cluster */
    bool share_degraded;
};

/* dmin - the smaller of two times (no libm for this) */
static double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* hash_id - FNV-1a of an id */
static size_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return (size_t)h;
}

/* lookup - the item of ID, or NULL */
static struct item *lookup(const struct sched *s, const char *id)
{
    struct item *it = s->hash[hash_id(id) % s->nbuckets];

    while (it != NULL && strcmp(it->id, id) != 0)
        it = it->hnext;
    return it;
}

/* rehash - double the table when it is full, so a lookup stays short */
static void rehash(struct sched *s)
{
    size_t nb = s->nbuckets * 2;
    struct item **h = xcalloc(nb, sizeof(*h));

    for (size_t b = 0; b < s->nbuckets; b++) {
        struct item *it = s->hash[b], *next;

        for (; it != NULL; it = next) {
            size_t k = hash_id(it->id) % nb;

            next = it->hnext;
            it->hnext = h[k];
            h[k] = it;
        }
    }
    free(s->hash);
    s->hash = h;
    s->nbuckets = nb;
}

struct sched *sched_new(const struct sched_config *cfg)
{
    struct sched *s = xcalloc(1, sizeof(*s));

    s->cfg = *cfg;
    s->nbuckets = 1024;
    s->hash = xcalloc(s->nbuckets, sizeof(*s->hash));
    return s;
}

void sched_set_config(struct sched *s, const struct sched_config *cfg)
{
    s->cfg = *cfg;
}

void sched_free(struct sched *s, void (*close_fn)(void *conn))
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntargets; i++) {
        struct starget *t = s->targets[i];
        struct item *it, *next;

        for (size_t k = 0; k < t->nidle; k++)
            if (close_fn != NULL)
                close_fn(t->idle[k].conn);
        for (it = t->head; it != NULL; it = next) {
            next = it->next;
            free(it);
        }
        free(t->idle);
        free(t->rate);
        free(t->name);
        free(t);
    }
    free(s->targets);
    free(s->hash);
    free(s);
}

/* find_target - the record of NAME, made when missing */
static struct starget *find_target(struct sched *s, const char *name)
{
    struct starget *t;

    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i]->name, name) == 0)
            return s->targets[i];
    t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->rate = xstrdup("");
    ratelimit_init(&t->rl, "", NULL);
    s->targets = xrealloc(s->targets, (s->ntargets + 1) * sizeof(*s->targets));
    s->targets[s->ntargets++] = t;
    return t;
}

bool sched_target_known(const struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i]->name, name) == 0)
            return true;
    return false;
}

int sched_target_open(const struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i]->name, name) == 0)
            return s->targets[i]->open;
    return 0;
}

void sched_set_target(struct sched *s, const char *name, int max_connections, const char *rate)
{
    struct starget *t = find_target(s, name);

    t->max_connections = max_connections > 0 ? max_connections : 0;
    if (rate == NULL)
        rate = "";
    if (strcmp(rate, t->rate) != 0) { /* a new pace; the same one keeps its state */
        free(t->rate);
        t->rate = xstrdup(rate);
        if (ratelimit_init(&t->rl, rate, NULL) < 0)
            ratelimit_init(&t->rl, "", NULL);
        /* The last start counts under the new pace: a rate changed in the store applies from
         * the message started last. */
        if (t->last_start > 0)
            ratelimit_take(&t->rl, (int64_t)(t->last_start * 1000));
    }
}

bool sched_add(struct sched *s, const char *id, const char *target, int64_t next_attempt)
{
    struct item *it;
    size_t b;

    if (strlen(id) > SPOOL_ID_LEN || lookup(s, id) != NULL)
        return false;
    it = xcalloc(1, sizeof(*it));
    strcpy(it->id, id);
    it->t = find_target(s, target);
    it->due = (double)next_attempt;
    it->prev = it->t->tail;
    if (it->t->tail != NULL)
        it->t->tail->next = it;
    else
        it->t->head = it;
    it->t->tail = it;
    it->t->nitems++;
    b = hash_id(id) % s->nbuckets;
    it->hnext = s->hash[b];
    s->hash[b] = it;
    if (++s->nitems > s->nbuckets)
        rehash(s);
    return true;
}

bool sched_has(const struct sched *s, const char *id)
{
    return lookup(s, id) != NULL;
}

size_t sched_count(const struct sched *s)
{
    return s->nitems;
}

size_t sched_targets(const struct sched *s, char ***names)
{
    *names = xcalloc(s->ntargets + 1, sizeof(**names));
    for (size_t i = 0; i < s->ntargets; i++)
        (*names)[i] = xstrdup(s->targets[i]->name);
    return s->ntargets;
}

/* forget - take IT out of its target's list and the hash table, and free it */
static void forget(struct sched *s, struct item *it)
{
    struct starget *t = it->t;
    struct item **pp = &s->hash[hash_id(it->id) % s->nbuckets];

    while (*pp != it)
        pp = &(*pp)->hnext;
    *pp = it->hnext;
    if (it->prev != NULL)
        it->prev->next = it->next;
    else
        t->head = it->next;
    if (it->next != NULL)
        it->next->prev = it->prev;
    else
        t->tail = it->prev;
    t->nitems--;
    s->nitems--;
    free(it);
}

/* limit - how many connections target T may have open now */
static int limit(const struct sched *s, const struct starget *t)
{
    int max = t->max_connections > 0 ? t->max_connections : s->cfg.default_max_connections;

    if (max < 1)
        max = 1;
    if (s->share_n > 0 && s->share_degraded && t->max_connections > 0) {
        /* this host's share of the cluster's connections while Redis is out of reach */
        int share = max / s->share_n + (s->share_index < max % s->share_n ? 1 : 0);

        return t->degraded && share > 1 ? 1 : share;
    }
    return t->degraded ? 1 : max;
}

/* share_wait - while Redis is out of reach, T's pace here is N times slower: the time before
 * its next start, or 0 */
static double share_wait(const struct sched *s, const struct starget *t, double now)
{
    double next;

    if (s->share_n <= 1 || !s->share_degraded || ratelimit_interval_us(&t->rl) == 0 ||
        t->last_start <= 0)
        return 0;
    next = t->last_start + (double)ratelimit_interval_us(&t->rl) * s->share_n / 1e6;
    return next > now ? next : 0;
}

void sched_set_share(struct sched *s, int index, int nhosts, bool degraded)
{
    s->share_index = index;
    s->share_n = nhosts;
    s->share_degraded = degraded;
}

bool sched_throttle_shared(struct sched *s, const char *name, double now, double until)
{
    struct starget *t = find_target(s, name);
    bool active = throttle_active(&t->th, (time_t)now);

    if (active && (double)t->th.until + 1 >= until)
        return false;
    if (!active)
        ratelimit_slow_down(&t->rl, 2);
    t->th.until = backoff_second(until);
    t->degraded = true;
    return true;
}

double sched_target_pause(const struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i]->name, name) == 0)
            return (double)s->targets[i]->th.until;
    return 0;
}

uint64_t sched_target_interval(const struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i]->name, name) == 0)
            return ratelimit_interval_us(&s->targets[i]->rl);
    return 0;
}

/* earliest - the waiting (not busy) copy of T that is due first; the oldest on a tie */
static struct item *earliest(const struct starget *t)
{
    struct item *best = NULL;

    for (struct item *it = t->head; it != NULL; it = it->next)
        if (!it->busy && (best == NULL || it->due < best->due))
            best = it;
    return best;
}

/* fresh_idle - the index of the most recently used idle connection still in time, or -1 */
static long fresh_idle(const struct sched *s, const struct starget *t, double now)
{
    for (size_t k = t->nidle; k > 0; k--)
        if (t->idle[k - 1].since + s->cfg.idle_timeout > now)
            return (long)(k - 1);
    return -1;
}

int sched_take(struct sched *s, double now, struct sched_job *job, double *wake_at)
{
    double wake = INFINITY;

    for (size_t k = 0; k < s->ntargets; k++) {
        size_t idx = (s->rr + k) % s->ntargets;
        struct starget *t = s->targets[idx];
        struct item *it = t->nitems ? earliest(t) : NULL;
        long reuse, wait_ms;
        double later;

        if (it == NULL)
            continue;
        if (it->due > now) {
            wake = dmin(wake, it->due);
            continue;
        }
        if (throttle_active(&t->th, (time_t)now)) {
            wake = dmin(wake, (double)t->th.until);
            continue;
        }
        reuse = fresh_idle(s, t, now);
        if (reuse < 0 && t->open >= limit(s, t))
            continue; /* every connection is busy: a sched_done() will wake the caller */
        if (reuse >= 0 && t->open - (int)t->nidle >= limit(s, t))
            continue; /* a share smaller than the connections kept from before */
        if ((later = share_wait(s, t, now)) > 0) {
            wake = dmin(wake, later);
            continue;
        }
        if ((wait_ms = ratelimit_take(&t->rl, (int64_t)(now * 1000))) > 0) {
            wake = dmin(wake, now + (double)wait_ms / 1000.0);
            continue;
        }
        memset(job, 0, sizeof(*job));
        if (reuse >= 0) {
            job->conn = t->idle[reuse].conn;
            job->conn_messages = t->idle[reuse].messages;
            t->idle[reuse] = t->idle[--t->nidle];
        } else {
            t->open++;
        }
        t->last_start = now;
        job->shared = s->share_n > 0 && !s->share_degraded;
        it->busy = true;
        it->flush = false;
        strcpy(job->id, it->id);
        job->target = xstrdup(t->name);
        s->rr = (idx + 1) % s->ntargets;
        *wake_at = now;
        return 1;
    }
    *wake_at = wake;
    return 0;
}

bool sched_done(struct sched *s, double now, const struct sched_job *job, const struct sched_result *r)
{
    struct item *it = lookup(s, job->id);
    struct starget *t = find_target(s, job->target);
    bool del;

    if (r->conn != NULL) {
        if (t->nidle == t->idle_cap) {
            t->idle_cap = t->idle_cap ? t->idle_cap * 2 : 4;
            t->idle = xrealloc(t->idle, t->idle_cap * sizeof(*t->idle));
        }
        t->idle[t->nidle++] = (struct idle_conn){r->conn, now, r->conn_messages};
    } else if (t->open > 0) {
        t->open--;
    }
    if (r->outcome == SCHED_POSTPONED) {
        /* nothing was tried: neither the target's state nor the copy's changes */
        if (it == NULL)
            return false;
        if (it->del) {
            forget(s, it);
            return true;
        }
        it->busy = false;
        it->due = it->flush ? 0 : r->retry_at;
        it->flush = false;
        return false;
    }
    if (r->delivered && r->outcome != SCHED_THROTTLED) {
        t->degraded = false;
        throttle_clear(&t->th);
        ratelimit_reset(&t->rl);
    } else if (r->conn_failed) {
        t->degraded = true;
    }
    if (r->outcome == SCHED_THROTTLED) {
        /* the whole target slows down: a pause, one connection, and a slower pace after it; a
         * reply during the pause (the same burst) changes nothing. The pause counts from the
         * next whole second, so it never ends before its length has passed. */
        if (!throttle_active(&t->th, (time_t)now)) {
            ratelimit_slow_down(&t->rl, 2);
            throttle_hit(&t->th, backoff_second(now), (long)s->cfg.throttle_min,
                         (long)s->cfg.throttle_max);
        }
        t->degraded = true;
    }
    if (it == NULL)
        return false;
    del = it->del;
    if (del || r->outcome == SCHED_FINISHED) {
        forget(s, it);
        return del;
    }
    it->busy = false;
    if (it->flush)
        it->due = 0;
    else if (r->outcome == SCHED_THROTTLED)
        it->due = (double)(r->next_attempt > (int64_t)t->th.until ? r->next_attempt
                                                                   : (int64_t)t->th.until);
    else
        it->due = (double)r->next_attempt;
    it->flush = false;
    return false;
}

size_t sched_flush(struct sched *s, const char *id, const char *target)
{
    size_t n = 0;

    for (size_t i = 0; i < s->ntargets; i++) {
        struct starget *t = s->targets[i];
        bool all = id == NULL && (target == NULL || strcmp(target, t->name) == 0);

        if (all) {
            throttle_clear(&t->th);
            ratelimit_reset(&t->rl);
        }
        for (struct item *it = t->head; it != NULL; it = it->next) {
            if (!all && (id == NULL || strcmp(id, it->id) != 0))
                continue;
            if (id != NULL)
                throttle_clear(&t->th);
            if (it->busy)
                it->flush = true;
            else
                it->due = 0;
            n++;
        }
    }
    return n;
}

int sched_request_delete(struct sched *s, const char *id)
{
    struct item *it = lookup(s, id);

    if (it == NULL)
        return 0;
    if (it->busy) {
        it->del = true;
        return 2;
    }
    forget(s, it);
    return 1;
}

size_t sched_expire_idle(struct sched *s, double now, bool force, void ***conns)
{
    size_t n = 0, cap = 0;

    *conns = NULL;
    for (size_t i = 0; i < s->ntargets; i++) {
        struct starget *t = s->targets[i];

        for (size_t k = 0; k < t->nidle;) {
            if (!force && t->idle[k].since + s->cfg.idle_timeout > now) {
                k++;
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                *conns = xrealloc(*conns, cap * sizeof(**conns));
            }
            (*conns)[n++] = t->idle[k].conn;
            t->idle[k] = t->idle[--t->nidle];
            t->open--;
        }
    }
    return n;
}
