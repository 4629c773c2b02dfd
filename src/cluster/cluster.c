/*
 * cluster - the cluster's life (cluster.h): configuration, the background thread that
 * republishes this host's counts and refreshes the cached totals, the cache, and the RCPT
 * decision from it. The end-of-message claims are in cluster_quota.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "store/target.h"
#include "util/msg.h"
#include "util/util.h"

/* Seconds between two refreshes of the cached totals. */
#define REFRESH_INTERVAL 1

char *cluster_quota_key(const struct cluster *cl, const char *target, const char *month)
{
    /* "2026-12" -> "202612" */
    return xasprintf("%s:quota:%s:%.4s%.2s", cl->prefix, target, month, month + 5);
}

char *cluster_host_key(const struct cluster *cl, const char *host)
{
    return xasprintf("%s:host:%s", cl->prefix, host);
}

char *cluster_status_key(const struct cluster *cl, const char *host)
{
    return xasprintf("%s:status:%s", cl->prefix, host);
}

/* find_entry - the cache entry of TARGET's MONTH, or NULL; under cache_lock */
static struct cluster_entry *find_entry(struct cluster *cl, const char *target, const char *month)
{
    for (size_t i = 0; i < cl->ncache; i++)
        if (strcmp(cl->cache[i].target, target) == 0 && strcmp(cl->cache[i].month, month) == 0)
            return &cl->cache[i];
    return NULL;
}

/* new_entry - a new, unknown entry; under cache_lock */
static struct cluster_entry *new_entry(struct cluster *cl, const char *target, const char *month)
{
    struct cluster_entry *e;

    cl->cache = xrealloc(cl->cache, (cl->ncache + 1) * sizeof(*cl->cache));
    e = &cl->cache[cl->ncache++];
    memset(e, 0, sizeof(*e));
    e->target = xstrdup(target);
    snprintf(e->month, sizeof(e->month), "%s", month);
    return e;
}

void cluster_cache_put(struct cluster *cl, const char *target, const char *month, uint64_t total,
                       uint64_t own)
{
    struct cluster_entry *e;

    pthread_mutex_lock(&cl->cache_lock);
    if ((e = find_entry(cl, target, month)) == NULL)
        e = new_entry(cl, target, month);
    e->known = true;
    e->total = total;
    e->own = own;
    pthread_mutex_unlock(&cl->cache_lock);
}

int cluster_cache_get(struct cluster *cl, const char *target, const char *month,
                      struct cluster_entry *out)
{
    struct cluster_entry *e;
    int rc = 0;

    pthread_mutex_lock(&cl->cache_lock);
    if ((e = find_entry(cl, target, month)) == NULL)
        e = new_entry(cl, target, month);
    if (e->known) {
        *out = *e;
        rc = 1;
    }
    pthread_mutex_unlock(&cl->cache_lock);
    return rc;
}

/* script_sha - SCRIPT's SHA1 from *SLOT, or loaded with SCRIPT LOAD when not yet (or FORCE) */
static char *script_sha(struct cluster *cl, const char *script, char **slot, bool force,
                        char **err)
{
    const char *argv[] = {"SCRIPT", "LOAD", script};
    char *sha = NULL;
    redisReply *rep;

    pthread_mutex_lock(&cl->cache_lock);
    if (*slot && !force)
        sha = xstrdup(*slot);
    pthread_mutex_unlock(&cl->cache_lock);
    if (sha)
        return sha;
    if ((rep = cluster_redis_command(cl->redis, 3, argv, NULL, err)) == NULL)
        return NULL;
    if (rep->type == REDIS_REPLY_STRING) {
        sha = xstrdup(rep->str);
        pthread_mutex_lock(&cl->cache_lock);
        free(*slot);
        *slot = xstrdup(sha);
        pthread_mutex_unlock(&cl->cache_lock);
    } else {
        set_err(err, "SCRIPT LOAD: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "no SHA1");
    }
    freeReplyObject(rep);
    return sha;
}

redisReply *cluster_eval(struct cluster *cl, const char *script, char **slot, size_t nkeys,
                         const char *const *keys, size_t nargs, const char *const *args,
                         char **err)
{
    const char **argv = xcalloc(3 + nkeys + nargs, sizeof(char *));
    char snkeys[24];
    redisReply *rep = NULL;

    snprintf(snkeys, sizeof(snkeys), "%zu", nkeys);
    argv[0] = "EVALSHA";
    argv[2] = snkeys;
    for (size_t i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (size_t i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    for (int attempt = 0; attempt < 2; attempt++) {
        char *sha = script_sha(cl, script, slot, attempt > 0, err);

        if (sha == NULL)
            break;
        argv[1] = sha;
        rep = cluster_redis_command(cl->redis, (int)(3 + nkeys + nargs), argv, NULL, err);
        free(sha);
        if (!rep || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8) != 0)
            break;
        freeReplyObject(rep); /* Redis restarted: load the script again */
        rep = NULL;
    }
    free(argv);
    return rep;
}

/* resolve_host - cluster.host, or the host name when it is "": it must be in cluster.hosts */
static int resolve_host(struct cluster *cl, const struct byosmtp_conf *c, char **err)
{
    char name[256];

    if (c->cluster.host[0] != '\0') {
        cl->host = xstrdup(c->cluster.host);
        return 0;
    }
    host_name(name, sizeof(name));
    for (size_t i = 0; i < c->cluster.hosts.count; i++)
        if (strcmp(c->cluster.hosts.items[i], name) == 0) {
            cl->host = xstrdup(name);
            return 0;
        }
    return set_err(err, "%s: cluster.host is \"\" and this host's name \"%s\" is not in "
                   "cluster.hosts: set cluster.host to this host's name in the list",
                   c->file, name);
}

struct cluster *cluster_new(const struct byosmtp_conf *c, char **err)
{
    struct cluster *cl;

    *err = NULL;
    if (!c->cluster.enabled)
        return NULL;
    cl = xcalloc(1, sizeof(*cl));
    {
        /* a republication must not wait for a gap in a steady stream of claims */
        pthread_rwlockattr_t at;

        pthread_rwlockattr_init(&at);
        pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&cl->claims, &at);
        pthread_rwlockattr_destroy(&at);
    }
    pthread_mutex_init(&cl->cache_lock, NULL);
    pthread_mutex_init(&cl->lease_lock, NULL);
    pthread_mutex_init(&cl->stop_lock, NULL);
    pthread_cond_init(&cl->stop_cond, NULL);
    cl->prefix = xstrdup(c->cluster.prefix);
    cl->sync_interval = c->cluster.sync_interval;
    cl->lease_ttl = c->cluster.lease_ttl;
    cl->degraded_quota = c->cluster.degraded_quota;
    cl->nhosts = c->cluster.hosts.count;
    cl->hosts = xcalloc(cl->nhosts + 1, sizeof(char *));
    for (size_t i = 0; i < cl->nhosts; i++)
        cl->hosts[i] = xstrdup(c->cluster.hosts.items[i]);
    atomic_init(&cl->need_publish, true);
    if (resolve_host(cl, c, err) < 0 || (cl->redis = cluster_redis_new(c, err)) == NULL) {
        cluster_free(cl);
        return NULL;
    }
    return cl;
}

/* refresh - reread every cached total; republish when Redis lost this host's presence key */
static void refresh(struct cluster *cl)
{
    char *hkey = cluster_host_key(cl, cl->host), *err = NULL;
    const char *argv[] = {"EXISTS", hkey};
    redisReply *rep = cluster_redis_command(cl->redis, 2, argv, NULL, &err);
    size_t n;

    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
        atomic_store(&cl->need_publish, true); /* restarted empty, or flushed */
    if (rep)
        freeReplyObject(rep);
    free(hkey);
    free(err);
    if (!rep)
        return;
    cluster_heartbeat(cl);
    pthread_mutex_lock(&cl->cache_lock);
    n = cl->ncache;
    pthread_mutex_unlock(&cl->cache_lock);
    for (size_t i = 0; i < n; i++) {
        char *target, *key, month[8];
        uint64_t total, own;

        pthread_mutex_lock(&cl->cache_lock);
        target = xstrdup(cl->cache[i].target);
        memcpy(month, cl->cache[i].month, sizeof(month));
        pthread_mutex_unlock(&cl->cache_lock);
        key = cluster_quota_key(cl, target, month);
        if (cluster_read_hash(cl, key, &total, &own, &err) == 0)
            cluster_cache_put(cl, target, month, total, own);
        free(err);
        err = NULL;
        free(key);
        free(target);
    }
}

/* thread_main - republish at start, every sync_interval and when needed; refresh every second */
static void *thread_main(void *arg)
{
    struct cluster *cl = arg;
    time_t last_publish = 0;

    pthread_mutex_lock(&cl->stop_lock);
    while (!cl->stopping) {
        struct timespec until;
        time_t now = time(NULL);

        pthread_mutex_unlock(&cl->stop_lock);
        if (atomic_load(&cl->need_publish) || now - last_publish >= cl->sync_interval) {
            char *err = NULL;

            if (cluster_publish(cl, &err) == 0) {
                last_publish = now;
                atomic_store(&cl->need_publish, false);
            } else {
                msg_debug("cluster: republishing this host's counts: %s", err);
                free(err);
            }
        }
        refresh(cl);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += REFRESH_INTERVAL;
        pthread_mutex_lock(&cl->stop_lock);
        if (!cl->stopping)
            pthread_cond_timedwait(&cl->stop_cond, &cl->stop_lock, &until);
    }
    pthread_mutex_unlock(&cl->stop_lock);
    return NULL;
}

int cluster_start(struct cluster *cl, struct store *st, char **err)
{
    cl->st = st;
    if (pthread_create(&cl->tid, NULL, thread_main, cl) != 0)
        return set_err(err, "cluster: cannot start its thread: %s", strerror(errno));
    cl->running = true;
    msg_info("cluster: host %s of %zu, Redis %s, cluster.degraded_quota = %s", cl->host,
             cl->nhosts, cluster_redis_where(cl->redis),
             cl->degraded_quota == DEGRADED_SHARE ? "share" : "tempfail");
    return 0;
}

void cluster_free(struct cluster *cl)
{
    if (!cl)
        return;
    if (cl->running) {
        pthread_mutex_lock(&cl->stop_lock);
        cl->stopping = true;
        pthread_cond_signal(&cl->stop_cond);
        pthread_mutex_unlock(&cl->stop_lock);
        pthread_join(cl->tid, NULL);
    }
    cluster_redis_free(cl->redis);
    for (size_t i = 0; i < cl->ncache; i++)
        free(cl->cache[i].target);
    free(cl->cache);
    for (size_t i = 0; i < cl->nhosts; i++)
        free(cl->hosts[i]);
    free(cl->hosts);
    free(cl->prefix);
    free(cl->host);
    free(cl->reserve_sha);
    free(cl->gate_sha);
    free(cl->pause_sha);
    for (size_t i = 0; i < cl->nleases; i++) {
        free(cl->leases[i].target);
        free(cl->leases[i].member);
    }
    free(cl->leases);
    pthread_mutex_destroy(&cl->lease_lock);
    pthread_rwlock_destroy(&cl->claims);
    pthread_mutex_destroy(&cl->cache_lock);
    pthread_mutex_destroy(&cl->stop_lock);
    pthread_cond_destroy(&cl->stop_cond);
    free(cl);
}

const char *cluster_host(const struct cluster *cl)
{
    return cl->host;
}

bool cluster_degraded(struct cluster *cl)
{
    return cluster_redis_degraded(cl->redis);
}

enum cluster_room cluster_quota_room(struct cluster *cl, const char *target, const char *month,
                                     uint64_t limit, uint64_t local, uint64_t n, uint64_t *total)
{
    struct cluster_entry e;
    uint64_t used = local;
    bool known = cluster_cache_get(cl, target, month, &e) == 1;

    if (limit == 0)
        return CLUSTER_ROOM;
    if (cluster_degraded(cl)) {
        uint64_t cap;

        if (cl->degraded_quota == DEGRADED_TEMPFAIL || !known)
            return CLUSTER_WAIT;
        cap = e.own + (limit > e.total ? (limit - e.total) / cl->nhosts : 0);
        if (total)
            *total = e.total - e.own + local;
        return local + n <= cap ? CLUSTER_ROOM : CLUSTER_FULL;
    }
    if (known && e.total >= e.own)
        used = e.total - e.own + local; /* the others' part as last read, and ours now */
    if (total)
        *total = used;
    return used + n <= limit ? CLUSTER_ROOM : CLUSTER_FULL;
}
