/*
 * cluster_quota - the shared monthly quota in Redis (cluster.h, doc/cluster.md "Quota"): the
 * reserve script, the claims of end of message and their give-back, the republication of this
 * host's counts from its store, and the per-host split that byosmtpctl quota shows.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "store/target.h"
#include "util/msg.h"
#include "util/util.h"

/*
 * The reserve script. KEYS[1] the quota hash; KEYS[2..] the presence key of every host of
 * cluster.hosts. ARGV: this host, n, limit, the hash's lifetime. Returns {verdict, total
 * before, this host's field before}: 1 reserved (n added to this host's field), 0 refused
 * (total + n > limit), -1 a host has not published its counts since Redis lost them (the total
 * would be short: nothing added).
 */
static const char reserve_lua[] =
    "local sum = 0\n"
    "local vals = redis.call('HVALS', KEYS[1])\n"
    "for i = 1, #vals do sum = sum + tonumber(vals[i]) end\n"
    "local own = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')\n"
    "for i = 2, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 0 then return {-1, sum, own} end\n"
    "end\n"
    "local n = tonumber(ARGV[2])\n"
    "if sum + n > tonumber(ARGV[3]) then return {0, sum, own} end\n"
    "redis.call('HINCRBY', KEYS[1], ARGV[1], n)\n"
    "redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))\n"
    "return {1, sum, own}\n";

/* parse_u64 - a decimal count of a Redis string; 0 when it is not one */
static uint64_t parse_u64(const char *s)
{
    char *end;
    unsigned long long v;

    if (!s || *s == '-')
        return 0;
    v = strtoull(s, &end, 10);
    return *end == '\0' ? (uint64_t)v : 0;
}

/* command - one command of up to 8 C-string words; the reply or NULL with *err */
static redisReply *command(struct cluster *cl, char **err, int argc, ...)
{
    const char *argv[8];
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc && i < 8; i++)
        argv[i] = va_arg(ap, const char *);
    va_end(ap);
    return cluster_redis_command(cl->redis, argc, argv, NULL, err);
}

int cluster_read_hash(struct cluster *cl, const char *key, uint64_t *total, uint64_t *own,
                      char **err)
{
    redisReply *rep = command(cl, err, 2, "HGETALL", key);

    *total = *own = 0;
    if (!rep)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY) {
        set_err(err, "HGETALL %s: unexpected reply", key);
        freeReplyObject(rep);
        return -1;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        uint64_t v = parse_u64(rep->element[i + 1]->str);

        *total += v;
        if (strcmp(rep->element[i]->str, cl->host) == 0)
            *own = v;
    }
    freeReplyObject(rep);
    return 0;
}

/* publish_target - this host's field of T's hash for MONTH := its store count; 0 or -1 */
static int publish_target(struct cluster *cl, const struct target *t, const char *month,
                          char **err)
{
    struct quota_record q;
    char *key, count[32], ttl[32];
    redisReply *rep;
    uint64_t total, own;
    int rc = -1;

    if (store_quota_get(cl->st, t->name, month, &q, err) < 0)
        return -1;
    key = cluster_quota_key(cl, t->name, month);
    snprintf(count, sizeof(count), "%" PRIu64, q.accepted);
    snprintf(ttl, sizeof(ttl), "%d", CLUSTER_QUOTA_TTL);
    if ((rep = command(cl, err, 4, "HSET", key, cl->host, count)) != NULL) {
        freeReplyObject(rep);
        if ((rep = command(cl, err, 3, "EXPIRE", key, ttl)) != NULL) {
            freeReplyObject(rep);
            if (cluster_read_hash(cl, key, &total, &own, err) == 0) {
                cluster_cache_put(cl, t->name, month, total, own);
                rc = 0;
            }
        }
    }
    free(key);
    return rc;
}

int cluster_publish(struct cluster *cl, char **err)
{
    struct target_set set;
    char month[8], now[32], *hkey;
    redisReply *rep;
    int rc = 0;

    if (!cl->st)
        return 0;
    /* a hung Redis costs the claims nothing: the lock below is taken only once it answered */
    if ((rep = command(cl, err, 1, "PING")) == NULL)
        return -1;
    freeReplyObject(rep);
    store_month((int64_t)time(NULL), month);
    /* no claim is between its reservation and its commit while the fields are rewritten */
    pthread_rwlock_wrlock(&cl->claims);
    if (store_get_all(cl->st, &set, err) < 0) {
        pthread_rwlock_unlock(&cl->claims);
        return -1;
    }
    for (size_t i = 0; i < set.ntargets && rc == 0; i++)
        if (set.targets[i].monthly_quota > 0)
            rc = publish_target(cl, &set.targets[i], month, err);
    pthread_mutex_lock(&cl->cache_lock);
    cluster_digest(&set, cl->digest);
    cl->ntargets = set.ntargets;
    if (rc == 0)
        cl->published = (long long)time(NULL);
    pthread_mutex_unlock(&cl->cache_lock);
    target_set_free(&set);
    if (rc == 0) {
        /* present only once every field is written: the reserve script checks it */
        hkey = cluster_host_key(cl, cl->host);
        snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
        if ((rep = command(cl, err, 4, "HSET", hkey, "published", now)) != NULL)
            freeReplyObject(rep);
        else
            rc = -1;
        free(hkey);
    }
    pthread_rwlock_unlock(&cl->claims);
    return rc;
}

/* run_reserve - the reserve script for claim C */
static redisReply *run_reserve(struct cluster *cl, const struct cluster_claim *c, char **err)
{
    size_t nk = 1 + cl->nhosts;
    char **keys = xcalloc(nk, sizeof(char *)), n[16], limit[32], ttl[32];
    const char *args[] = {cl->host, n, limit, ttl};
    redisReply *rep;

    keys[0] = cluster_quota_key(cl, c->target, c->month);
    for (size_t i = 0; i < cl->nhosts; i++)
        keys[1 + i] = cluster_host_key(cl, cl->hosts[i]);
    snprintf(n, sizeof(n), "%" PRIu32, c->n);
    snprintf(limit, sizeof(limit), "%" PRIu64, c->limit);
    snprintf(ttl, sizeof(ttl), "%d", CLUSTER_QUOTA_TTL);
    rep = cluster_eval(cl, reserve_lua, &cl->reserve_sha, nk, (const char *const *)keys, 4, args,
                       err);
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    free(keys);
    return rep;
}

/* degraded_claim - claim C while Redis does not give an exact answer: the share, or a wait */
static void degraded_claim(struct cluster *cl, struct cluster_claim *c)
{
    struct cluster_entry e;

    /* what this host commits now is not in Redis: republish once Redis answers */
    atomic_store(&cl->need_publish, true);
    if (cl->degraded_quota == DEGRADED_TEMPFAIL ||
        cluster_cache_get(cl, c->target, c->month, &e) != 1) {
        c->state = CLAIM_WAIT;
        return;
    }
    c->state = CLAIM_CAPPED;
    c->total = e.total;
    c->cap = e.own + (c->limit > e.total ? (c->limit - e.total) / cl->nhosts : 0);
}

/* claim_one - reserve copy C in Redis, or decide without it */
static void claim_one(struct cluster *cl, struct cluster_claim *c)
{
    char *err = NULL;
    redisReply *rep;
    long long verdict;

    c->state = CLAIM_NONE;
    if (c->limit == 0)
        return;
    rep = run_reserve(cl, c, &err);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
        if (rep)
            msg_warn("cluster: reserve script for target %s: %s", c->target,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        if (rep)
            freeReplyObject(rep);
        free(err);
        degraded_claim(cl, c);
        return;
    }
    verdict = rep->element[0]->integer;
    c->total = (uint64_t)rep->element[1]->integer;
    if (verdict == 1) {
        c->state = CLAIM_RESERVED;
        cluster_cache_put(cl, c->target, c->month, c->total + c->n,
                          (uint64_t)rep->element[2]->integer + c->n);
    } else if (verdict == 0) {
        c->state = CLAIM_REFUSED;
        cluster_cache_put(cl, c->target, c->month, c->total, (uint64_t)rep->element[2]->integer);
    } else {
        degraded_claim(cl, c); /* a host's counts are missing: not exact yet */
    }
    freeReplyObject(rep);
}

void cluster_claim(struct cluster *cl, struct cluster_claim *c, size_t n)
{
    pthread_rwlock_rdlock(&cl->claims);
    for (size_t i = 0; i < n; i++)
        claim_one(cl, &c[i]);
}

void cluster_claim_end(struct cluster *cl, const struct cluster_claim *c, size_t n,
                       const bool *kept)
{
    for (size_t i = 0; i < n; i++) {
        char *key, back[24], *err = NULL;
        redisReply *rep;

        if (c[i].state != CLAIM_RESERVED || (kept && kept[i]))
            continue;
        key = cluster_quota_key(cl, c[i].target, c[i].month);
        snprintf(back, sizeof(back), "-%" PRIu32, c[i].n);
        if ((rep = command(cl, &err, 4, "HINCRBY", key, cl->host, back)) != NULL) {
            freeReplyObject(rep);
        } else {
            /* the store stays right; the next republication puts Redis right */
            msg_warn("cluster: giving back %" PRIu32 " of target %s: %s; republishing",
                     c[i].n, c[i].target, err);
            atomic_store(&cl->need_publish, true);
            free(err);
        }
        free(key);
    }
    pthread_rwlock_unlock(&cl->claims);
}

/* by_host - order of parts */
static int by_host(const void *a, const void *b)
{
    return strcmp(((const struct cluster_part *)a)->host, ((const struct cluster_part *)b)->host);
}

int cluster_quota_split(struct cluster *cl, const char *target, const char *month,
                        struct cluster_part **parts, size_t *nparts, uint64_t *total, char **err)
{
    char *key = cluster_quota_key(cl, target, month);
    redisReply *rep = command(cl, err, 2, "HGETALL", key);

    free(key);
    *parts = NULL;
    *nparts = 0;
    *total = 0;
    if (!rep)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return set_err(err, "HGETALL: unexpected reply");
    }
    *parts = xcalloc(rep->elements / 2 + 1, sizeof(**parts));
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        struct cluster_part *p = &(*parts)[(*nparts)++];

        p->host = xstrdup(rep->element[i]->str);
        p->count = parse_u64(rep->element[i + 1]->str);
        *total += p->count;
    }
    qsort(*parts, *nparts, sizeof(**parts), by_host);
    freeReplyObject(rep);
    return 0;
}

void cluster_parts_free(struct cluster_part *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].host);
    free(p);
}
