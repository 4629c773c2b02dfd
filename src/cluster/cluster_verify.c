/*
 * cluster_verify - byosmtpctl verify across the hosts (cluster.h, doc/cluster.md "Verify"):
 * the attempt limit counted in Redis on Redis's clock, and the last result of each target
 * shared so that "target show" on any host shows a verify run on another.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "util/util.h"

/* Seconds a shared verification result is kept. */
#define VERIFY_TTL (90 * 86400)

/*
 * The attempt script: KEYS[1] the target's sorted set of attempts, scored by Redis's TIME;
 * ARGV max, window, a member naming this attempt. Returns {1, 0} and counts it, or {0, the
 * time the oldest counted attempt leaves the window}.
 */
static const char attempt_lua[] =
    "local now = tonumber(redis.call('TIME')[1])\n"
    "local window = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then\n"
    "  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "  return {0, tonumber(oldest[2]) + window}\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], now, ARGV[3])\n"
    "redis.call('EXPIRE', KEYS[1], window)\n"
    "return {1, 0}\n";

int cluster_verify_attempt(struct cluster *cl, const char *target, int max, int window,
                           int64_t *next, char **err)
{
    char *key = xasprintf("%s:verify:%s:attempts", cl->prefix, target), smax[16], swin[16],
         member[96];
    const char *argv[] = {"EVAL", attempt_lua, "1", key, smax, swin, member};
    struct timeval tv;
    redisReply *rep;
    int rc = -1;

    gettimeofday(&tv, NULL);
    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(swin, sizeof(swin), "%d", window);
    snprintf(member, sizeof(member), "%s:%ld:%lld.%06ld", cl->host, (long)getpid(),
             (long long)tv.tv_sec, (long)tv.tv_usec);
    rep = cluster_redis_command(cl->redis, 7, argv, NULL, err);
    free(key);
    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        rc = rep->element[0]->integer == 1;
        *next = rep->element[1]->integer;
    } else {
        set_err(err, "the verify attempt script: %s",
                rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}

int cluster_verify_put(struct cluster *cl, const char *target, const struct verify_result *v,
                       char **err)
{
    char *key = xasprintf("%s:verify:%s", cl->prefix, target), t[24], ttl[24];
    const char *argv[] = {"HSET", key, "time", t, "ok", v->ok ? "1" : "0",
                          "error_class", v->error_class, "reply", v->reply, "tls", v->tls,
                          "cert_subject", v->cert_subject, "auth_mech", v->auth_mech,
                          "host", cl->host};
    const char *exp[] = {"EXPIRE", key, ttl};
    redisReply *rep;
    int rc = -1;

    snprintf(t, sizeof(t), "%" PRId64, v->time);
    snprintf(ttl, sizeof(ttl), "%d", VERIFY_TTL);
    if ((rep = cluster_redis_command(cl->redis, 18, argv, NULL, err)) != NULL) {
        freeReplyObject(rep);
        if ((rep = cluster_redis_command(cl->redis, 3, exp, NULL, err)) != NULL) {
            freeReplyObject(rep);
            rc = 0;
        }
    }
    free(key);
    return rc;
}

/* dup_field - a copy of NAME's value in an HGETALL reply, "" when absent */
static char *dup_field(const redisReply *rep, const char *name)
{
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (strcmp(rep->element[i]->str, name) == 0)
            return xstrdup(rep->element[i + 1]->str);
    return xstrdup("");
}

int cluster_verify_get(struct cluster *cl, const char *target, struct verify_result *v,
                       char **host, char **err)
{
    char *key = xasprintf("%s:verify:%s", cl->prefix, target), *t, *ok;
    const char *argv[] = {"HGETALL", key};
    redisReply *rep = cluster_redis_command(cl->redis, 2, argv, NULL, err);

    free(key);
    if (!rep)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        freeReplyObject(rep);
        return 0;
    }
    memset(v, 0, sizeof(*v));
    t = dup_field(rep, "time");
    ok = dup_field(rep, "ok");
    v->time = (int64_t)atoll(t);
    v->ok = strcmp(ok, "1") == 0;
    v->error_class = dup_field(rep, "error_class");
    v->reply = dup_field(rep, "reply");
    v->tls = dup_field(rep, "tls");
    v->cert_subject = dup_field(rep, "cert_subject");
    v->auth_mech = dup_field(rep, "auth_mech");
    *host = dup_field(rep, "host");
    free(t);
    free(ok);
    freeReplyObject(rep);
    return 1;
}
