/*
 * cluster_limits - the delivery side's shared limits (cluster.h, doc/cluster.md "Connections,
 * pace and slow-down"): one script on Redis's clock decides each start (the shared pause, a
 * lease of max_connections, the turn in the shared pace); the leases this process holds are
 * renewed in the background and given back when their connection closes; a throttled host
 * shares its pause.
 *
 * Times in the scripts are Redis's (TIME), never a host's: hosts whose clocks disagree still
 * share one pace and one set of leases. Lua numbers are doubles: microseconds since 1970
 * (~1.8e15) are exact in them, and every one that goes back to Redis is formatted with %.0f
 * (Redis would write 1.8e+15 otherwise).
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "util/msg.h"
#include "util/util.h"

/*
 * The gate script. KEYS: the target's leases, its pace, its pause. ARGV: max_connections (0:
 * no lease), the lease, lease_ttl in ms, the pace's spacing in us (0: none), the longest wait
 * for a turn in us, "1" to renew the lease only (no pause, no pace). Returns {1, us to sleep
 * for the turn, 0}, or {0, us to wait before asking again, why: 1 leases, 2 pause, 3 pace}.
 * Nothing is written unless the start is allowed.
 */
static const char gate_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local now_ms = math.floor(now / 1000)\n"
    "local renew = ARGV[6] == '1'\n"
    "if not renew then\n"
    "  local pt = redis.call('PTTL', KEYS[3])\n"
    "  if pt > 0 then return {0, pt * 1000, 2} end\n"
    "end\n"
    "local max = tonumber(ARGV[1])\n"
    "if max > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now_ms))\n"
    "  if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and\n"
    "     redis.call('ZCARD', KEYS[1]) >= max then\n"
    "    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "    return {0, (tonumber(first[2]) - now_ms) * 1000, 1}\n"
    "  end\n"
    "end\n"
    "local wait = 0\n"
    "local interval = tonumber(ARGV[4])\n"
    "if not renew and interval > 0 then\n"
    "  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "  if tat < now then tat = now end\n"
    "  wait = tat - now\n"
    "  if wait > tonumber(ARGV[5]) then return {0, wait - tonumber(ARGV[5]), 3} end\n"
    "  redis.call('SET', KEYS[2], string.format('%.0f', tat + interval), 'PX',\n"
    "             string.format('%.0f', math.floor((tat + interval - now) / 1000) + 1000))\n"
    "end\n"
    "if max > 0 then\n"
    "  local ttl = tonumber(ARGV[3])\n"
    "  redis.call('ZADD', KEYS[1], string.format('%.0f', now_ms + ttl), ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl * 2)\n"
    "end\n"
    "return {1, wait, 0}\n";

/* The pause script. KEYS: the target's pause, the set of targets paused. ARGV: the host, the
 * pause in ms, the target. The pause's value is "END HOST", END its end in ms on Redis's
 * clock; the set scores each target paused by its END. A longer pause already there stays.
 * Returns the pause left before, in ms (<= 0: none). */
static const char pause_lua[] =
    "local t = redis.call('TIME')\n"
    "local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local pt = redis.call('PTTL', KEYS[1])\n"
    "local ms = tonumber(ARGV[2])\n"
    "if pt < ms then\n"
    "  local e = string.format('%.0f', now_ms + ms)\n"
    "  redis.call('SET', KEYS[1], e .. ' ' .. ARGV[1], 'PX', ARGV[2])\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now_ms))\n"
    "  redis.call('ZADD', KEYS[2], e, ARGV[3])\n"
    "  if redis.call('PTTL', KEYS[2]) < ms then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end\n"
    "end\n"
    "return pt\n";

/* target_key - "PREFIX:WHAT:TARGET" (caller frees) */
static char *target_key(const struct cluster *cl, const char *what, const char *target)
{
    return xasprintf("%s:%s:%s", cl->prefix, what, target);
}

/* find_lease - the index of MEMBER in the leases held, or -1; under lease_lock */
static long find_lease(const struct cluster *cl, const char *member)
{
    for (size_t i = 0; i < cl->nleases; i++)
        if (strcmp(cl->leases[i].member, member) == 0)
            return (long)i;
    return -1;
}

/* forget_lease - MEMBER is no longer held; under lease_lock */
static void forget_lease(struct cluster *cl, const char *member)
{
    long i = find_lease(cl, member);

    if (i < 0)
        return;
    free(cl->leases[i].target);
    free(cl->leases[i].member);
    cl->leases[i] = cl->leases[--cl->nleases];
}

/* hold_lease - MEMBER of TARGET is held (with the limit MAX seen last) */
static void hold_lease(struct cluster *cl, const char *target, const char *member, int max)
{
    long i;

    pthread_mutex_lock(&cl->lease_lock);
    if ((i = find_lease(cl, member)) < 0) {
        cl->leases = xrealloc(cl->leases, (cl->nleases + 1) * sizeof(*cl->leases));
        i = (long)cl->nleases++;
        cl->leases[i].target = xstrdup(target);
        cl->leases[i].member = xstrdup(member);
    }
    cl->leases[i].max_connections = max;
    pthread_mutex_unlock(&cl->lease_lock);
}

/* run_gate - the gate script for TARGET: the reply, or NULL with *err */
static redisReply *run_gate(struct cluster *cl, const char *target, int max, const char *member,
                            uint64_t interval_us, bool renew, char **err)
{
    char *keys[3] = {target_key(cl, "conns", target), target_key(cl, "rate", target),
                     target_key(cl, "throttle", target)};
    char smax[16], ttl[24], interval[32], maxwait[24];
    const char *args[] = {smax, member, ttl, interval, maxwait, renew ? "1" : "0"};
    redisReply *rep;

    snprintf(smax, sizeof(smax), "%d", max > 0 ? max : 0);
    snprintf(ttl, sizeof(ttl), "%ld", (long)cl->lease_ttl * 1000);
    snprintf(interval, sizeof(interval), "%" PRIu64, interval_us);
    snprintf(maxwait, sizeof(maxwait), "%u", CLUSTER_PACE_MAX_WAIT_US);
    rep = cluster_eval(cl, gate_lua, &cl->gate_sha, 3, (const char *const *)keys, 6, args, err);
    for (int i = 0; i < 3; i++)
        free(keys[i]);
    return rep;
}

/* new_member - a lease name of its own: "HOST:PID:N" */
static char *new_member(struct cluster *cl)
{
    unsigned long n;

    pthread_mutex_lock(&cl->lease_lock);
    n = ++cl->lease_seq;
    pthread_mutex_unlock(&cl->lease_lock);
    return xasprintf("%s:%ld:%lu", cl->host, (long)getpid(), n);
}

enum cluster_gate_verdict cluster_gate(struct cluster *cl, struct cluster_gate *g)
{
    bool fresh = g->max_connections > 0 && g->lease == NULL;
    char *member = fresh ? new_member(cl) : xstrdup(g->lease ? g->lease : ""), *err = NULL;
    uint64_t spacing = g->interval_us + g->interval_us * CLUSTER_PACE_RESERVE_PCT / 100;
    redisReply *rep;
    enum cluster_gate_verdict v = GATE_DOWN;

    g->reason = WAIT_NONE;
    g->wait = 0;
    rep = run_gate(cl, g->target, g->max_connections, member, spacing, false, &err);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3) {
        long long ok = rep->element[0]->integer, us = rep->element[1]->integer;

        g->wait = us > 0 ? (double)us / 1e6 : 0;
        if (ok == 1) {
            v = GATE_GO;
            if (g->max_connections > 0) {
                hold_lease(cl, g->target, member, g->max_connections);
                if (fresh)
                    g->lease = xstrdup(member);
            }
        } else {
            v = GATE_WAIT;
            g->reason = (enum cluster_wait_reason)rep->element[2]->integer;
            if (g->reason == WAIT_CONNECTIONS && g->lease != NULL) {
                /* expired while Redis was out of reach, and taken: this connection must go */
                msg_info("cluster: target %s: this host's connection lost its lease (all %d "
                         "taken): closing it", g->target, g->max_connections);
                cluster_lease_release(cl, g->target, g->lease);
                g->lease = NULL;
            }
        }
    } else if (rep) {
        msg_warn("cluster: gate script for target %s: %s", g->target,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    } else {
        msg_debug("cluster: gate for target %s: %s", g->target, err);
    }
    if (rep)
        freeReplyObject(rep);
    free(err);
    free(member);
    return v;
}

void cluster_lease_release(struct cluster *cl, const char *target, char *lease)
{
    char *key, *err = NULL;
    redisReply *rep;

    if (lease == NULL)
        return;
    pthread_mutex_lock(&cl->lease_lock);
    forget_lease(cl, lease);
    pthread_mutex_unlock(&cl->lease_lock);
    key = target_key(cl, "conns", target);
    {
        const char *argv[] = {"ZREM", key, lease};

        if ((rep = cluster_redis_command(cl->redis, 3, argv, NULL, &err)) != NULL)
            freeReplyObject(rep);
        else
            msg_debug("cluster: lease %s of target %s left to expire: %s", lease, target, err);
    }
    free(err);
    free(key);
    free(lease);
}

/* purge_key - remove the members of zset KEY named after this host; 0 or -1 */
static int purge_key(struct cluster *cl, const char *key, const char *mine, char **err)
{
    const char *argv[] = {"ZRANGE", key, "0", "-1"};
    redisReply *rep = cluster_redis_command(cl->redis, 4, argv, NULL, err);
    size_t len = strlen(mine), n = 0;

    if (!rep)
        return -1;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const char *m = rep->element[i]->str;
        const char *rm[] = {"ZREM", key, m};
        redisReply *r2;

        if (m == NULL || strncmp(m, mine, len) != 0)
            continue;
        if ((r2 = cluster_redis_command(cl->redis, 3, rm, NULL, err)) == NULL)
            break;
        freeReplyObject(r2);
        n++;
    }
    freeReplyObject(rep);
    if (n > 0)
        msg_info("cluster: %zu lease%s of the previous delivery process freed (%s)", n,
                 n == 1 ? "" : "s", key);
    return *err ? -1 : 0;
}

int cluster_delivery_start(struct cluster *cl, char **err)
{
    char *match = xasprintf("%s:conns:*", cl->prefix), *mine = xasprintf("%s:", cl->host);
    char cursor[32] = "0";
    int rc = 0;

    *err = NULL;
    cluster_redis_delivery(cl->redis);
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", "100"};
        redisReply *rep = cluster_redis_command(cl->redis, 6, argv, NULL, err);

        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            if (rep) {
                set_err(err, "SCAN: unexpected reply");
                freeReplyObject(rep);
            }
            rc = -1;
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; rc == 0 && i < rep->element[1]->elements; i++)
            rc = purge_key(cl, rep->element[1]->element[i]->str, mine, err);
        freeReplyObject(rep);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    free(match);
    free(mine);
    return rc;
}

void cluster_leases_renew(struct cluster *cl)
{
    struct cluster_lease *copy;
    size_t n;
    time_t now = time(NULL);

    pthread_mutex_lock(&cl->lease_lock);
    if (now - cl->lease_renewed < cl->lease_ttl / 3) {
        pthread_mutex_unlock(&cl->lease_lock);
        return;
    }
    cl->lease_renewed = now;
    n = cl->nleases;
    copy = xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++) {
        copy[i].target = xstrdup(cl->leases[i].target);
        copy[i].member = xstrdup(cl->leases[i].member);
        copy[i].max_connections = cl->leases[i].max_connections;
    }
    pthread_mutex_unlock(&cl->lease_lock);
    for (size_t i = 0; i < n; i++) {
        char *err = NULL;
        redisReply *rep = run_gate(cl, copy[i].target, copy[i].max_connections,
                                   copy[i].member, 0, true, &err);

        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
            rep->element[0]->integer != 1)
            msg_info("cluster: target %s: a lease of this host expired and its slot was taken; "
                     "its connection closes at its next use", copy[i].target);
        if (rep)
            freeReplyObject(rep);
        free(err);
        free(copy[i].target);
        free(copy[i].member);
    }
    free(copy);
}

int cluster_throttle_put(struct cluster *cl, const char *target, long pause_ms, char **err)
{
    char *key = target_key(cl, "throttle", target), *set = xasprintf("%s:throttled", cl->prefix),
         ms[24];
    const char *keys[] = {key, set}, *args[] = {cl->host, ms, target};
    redisReply *rep;
    int rc = 0;

    snprintf(ms, sizeof(ms), "%ld", pause_ms > 0 ? pause_ms : 1);
    rep = cluster_eval(cl, pause_lua, &cl->pause_sha, 2, keys, 3, args, err);
    free(key);
    free(set);
    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = set_err(err, "the pause script: %s", rep->str);
    freeReplyObject(rep);
    return rc;
}

/* redis_now_ms - Redis's clock (TIME), in ms; -1 with *err */
static long long redis_now_ms(struct cluster *cl, char **err)
{
    const char *argv[] = {"TIME"};
    redisReply *rep = cluster_redis_command(cl->redis, 1, argv, NULL, err);
    long long ms = -1;

    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        ms = atoll(rep->element[0]->str) * 1000 + atoll(rep->element[1]->str) / 1000;
    else
        set_err(err, "TIME: unexpected reply");
    freeReplyObject(rep);
    return ms;
}

/* paused_targets - the members of PREFIX:throttled whose pause ends after NOW_MS; the reply */
static redisReply *paused_targets(struct cluster *cl, long long now_ms, char **err)
{
    char *set = xasprintf("%s:throttled", cl->prefix), min[32];
    const char *argv[] = {"ZRANGEBYSCORE", set, min, "+inf"};
    redisReply *rep;

    snprintf(min, sizeof(min), "(%lld", now_ms);
    rep = cluster_redis_command(cl->redis, 4, argv, NULL, err);
    free(set);
    if (rep && rep->type != REDIS_REPLY_ARRAY) {
        set_err(err, "ZRANGEBYSCORE: unexpected reply");
        freeReplyObject(rep);
        rep = NULL;
    }
    return rep;
}

/* Read with TIME, ZRANGEBYSCORE and MGET, not a script: the scripts Redis counts are the
 * claims' and the gate's alone. */
int cluster_throttles(struct cluster *cl, struct cluster_pause **pauses, size_t *n, char **err)
{
    long long now;
    redisReply *set, *vals = NULL;
    const char **argv;
    size_t k;

    *pauses = NULL;
    *n = 0;
    if ((now = redis_now_ms(cl, err)) < 0 || (set = paused_targets(cl, now, err)) == NULL)
        return -1;
    k = set->elements;
    argv = xcalloc(k + 1, sizeof(char *));
    argv[0] = "MGET";
    for (size_t i = 0; i < k; i++)
        argv[1 + i] = target_key(cl, "throttle", set->element[i]->str);
    if (k > 0 && (vals = cluster_redis_command(cl->redis, (int)k + 1, argv, NULL, err)) != NULL &&
        (vals->type != REDIS_REPLY_ARRAY || vals->elements != k)) {
        freeReplyObject(vals);
        vals = NULL;
    }
    *pauses = xcalloc(k + 1, sizeof(**pauses));
    for (size_t i = 0; vals && i < k; i++) {
        const char *v = vals->element[i]->str, *sp;
        long long end;

        if (vals->element[i]->type != REDIS_REPLY_STRING || (sp = strchr(v, ' ')) == NULL ||
            (end = atoll(v)) <= now)
            continue; /* ended meanwhile */
        (*pauses)[*n].target = xstrdup(set->element[i]->str);
        (*pauses)[*n].host = xstrdup(sp + 1);
        (*pauses)[*n].left_ms = (long)(end - now);
        (*n)++;
    }
    if (vals)
        freeReplyObject(vals);
    freeReplyObject(set);
    for (size_t i = 0; i < k; i++)
        free((char *)argv[1 + i]);
    free(argv);
    return 0;
}

void cluster_pauses_free(struct cluster_pause *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].target);
        free(p[i].host);
    }
    free(p);
}

void cluster_share(const struct cluster *cl, int *index, int *nhosts)
{
    *index = 0;
    *nhosts = (int)cl->nhosts > 0 ? (int)cl->nhosts : 1;
    for (size_t i = 0; i < cl->nhosts; i++)
        if (strcmp(cl->hosts[i], cl->host) == 0)
            *index = (int)i;
}
