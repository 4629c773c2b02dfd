/*
 * cluster_int - what the files of src/cluster/ share: the cluster's state, the cache of the
 * shared counts, and the key names (doc/cluster.md, "Keys"). Not for use outside src/cluster/.
 */
#ifndef BYOSMTP_CLUSTER_INT_H
#define BYOSMTP_CLUSTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/cluster_redis.h"
#include "store/conf.h"
#include "store/store.h"
#include "store/target.h"

/* Seconds a quota hash lives after its last change: a month and some. */
#define CLUSTER_QUOTA_TTL (40 * 86400)

/* What is known of one target's month: the sum of the fields, and this host's field. */
struct cluster_entry {
    char *target;
    char month[8];   /* "YYYY-MM" */
    bool known;      /* read from Redis at least once */
    uint64_t total;  /* the sum of every host's field, as last read */
    uint64_t own;    /* this host's field, as last read */
};

/* A lease of one of this process's connections (cluster_limits.c). */
struct cluster_lease {
    char *target;
    char *member;        /* "HOST:PID:N" */
    int max_connections; /* as the last cluster_gate() saw it */
};

struct cluster {
    struct cluster_redis *redis;
    char *prefix;
    char *host;
    char **hosts;       /* cluster.hosts */
    size_t nhosts;
    int sync_interval;
    enum conf_degraded_quota degraded_quota;
    struct store *st;   /* set by cluster_start (byosmtpd); NULL in byosmtpctl */

    pthread_rwlock_t claims;   /* claims read-lock it, a republication write-locks it */
    pthread_mutex_t cache_lock;
    struct cluster_entry *cache;
    size_t ncache;
    char *reserve_sha;         /* the reserve script, once loaded; under cache_lock */
    char *gate_sha;            /* cluster_limits.c's scripts; under cache_lock */
    char *pause_sha;
    atomic_bool need_publish;  /* Redis lost this host's fields, or a give-back failed */
    char digest[65];           /* of the loaded targets (cluster_digest); under cache_lock */
    size_t ntargets;           /* how many; under cache_lock */
    long long published;       /* unix time of the last republication; under cache_lock */

    int lease_ttl;             /* cluster.lease_ttl, seconds */
    pthread_mutex_t lease_lock;
    struct cluster_lease *leases; /* held by this process's connections; under lease_lock */
    size_t nleases;
    unsigned long lease_seq;   /* the last lease's number; under lease_lock */
    time_t lease_renewed;      /* when every lease was last renewed; under lease_lock */

    pthread_t tid;
    bool running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

/* cluster_quota_key - "PREFIX:quota:TARGET:YYYYMM" of MONTH "YYYY-MM" (caller frees) */
char *cluster_quota_key(const struct cluster *cl, const char *target, const char *month);
/* cluster_host_key - "PREFIX:host:HOST" (caller frees) */
char *cluster_host_key(const struct cluster *cl, const char *host);

/* cluster_cache_put - record TOTAL and OWN for TARGET's MONTH (an entry made when new) */
void cluster_cache_put(struct cluster *cl, const char *target, const char *month, uint64_t total,
                       uint64_t own);
/* cluster_cache_get - 1 and *e (a copy; its target borrowed) when known, else 0 (and the entry
 * made, so that the refresh reads it) */
int cluster_cache_get(struct cluster *cl, const char *target, const char *month,
                      struct cluster_entry *e);

/*
 * cluster_eval - EVALSHA of SCRIPT (its SHA1 cached in *SHA under cache_lock; SCRIPT LOAD when
 * not yet, and again after Redis answered NOSCRIPT) with NKEYS KEYS and NARGS ARGS. The reply,
 * or NULL with *err when Redis does not answer.
 */
redisReply *cluster_eval(struct cluster *cl, const char *script, char **sha, size_t nkeys,
                         const char *const *keys, size_t nargs, const char *const *args,
                         char **err);

/* cluster_read_hash - HGETALL of KEY: the sum of the fields and HOST's field; 0 or -1 */
int cluster_read_hash(struct cluster *cl, const char *key, uint64_t *total, uint64_t *own,
                      char **err);

/* cluster_publish - write this host's fields from its store, then its presence key; 0 or -1 */
int cluster_publish(struct cluster *cl, char **err);

/* cluster_status_key - "PREFIX:status:HOST" (caller frees) */
char *cluster_status_key(const struct cluster *cl, const char *host);

/*
 * cluster_digest - SHA-256 (hex) over what SET holds that is not secret: each target's fields
 * except passwords, client secrets and refresh tokens (TT_SECRET), and both route tables. Two
 * hosts with the same targets.conf loaded have the same digest.
 */
void cluster_digest(const struct target_set *set, char out[65]);

/* cluster_heartbeat - write this host's status key: Redis time, clock offset, digest */
void cluster_heartbeat(struct cluster *cl);

#endif
