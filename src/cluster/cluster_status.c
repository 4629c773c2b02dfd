/*
 * cluster_status - what each host tells the others about itself (cluster.h, doc/cluster.md
 * "byosmtpctl cluster status"): the digest of its loaded targets, its heartbeat with its clock
 * offset to Redis, and the table byosmtpctl prints from them.
 */
#include "config.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "store/target.h"
#include "util/util.h"

/* A host not seen for this many seconds is reported as not seen lately. */
#define STALE_AFTER 5
/* Seconds a status key lives without a heartbeat. */
#define STATUS_TTL 86400

/* digest_put - "KEY=VALUE\n" into the digest (the value's length first: no ambiguity) */
static void digest_put(EVP_MD_CTX *md, const char *key, const char *value)
{
    char len[24];

    snprintf(len, sizeof(len), "%zu:", strlen(value));
    EVP_DigestUpdate(md, key, strlen(key));
    EVP_DigestUpdate(md, "=", 1);
    EVP_DigestUpdate(md, len, strlen(len));
    EVP_DigestUpdate(md, value, strlen(value));
    EVP_DigestUpdate(md, "\n", 1);
}

void cluster_digest(const struct target_set *set, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hlen = 0;

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < set->ntargets; i++) {
        for (size_t k = 0; k < target_nfields; k++) {
            const struct target_field *f = &target_fields[k];
            char buf[TARGET_TEXT_MAX];

            if (f->type == TT_SECRET)
                continue; /* never a password, secret or token, not even encrypted */
            digest_put(md, f->key, target_field_text(&set->targets[i], f, buf));
        }
        EVP_DigestUpdate(md, "\n", 1);
    }
    for (size_t i = 0; i < set->nroutes; i++)
        digest_put(md, set->routes[i].match, set->routes[i].target);
    EVP_DigestUpdate(md, "\n", 1);
    for (size_t i = 0; i < set->nsender_routes; i++)
        digest_put(md, set->sender_routes[i].match, set->sender_routes[i].target);
    EVP_DigestFinal_ex(md, h, &hlen);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < hlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* now_ms - the host's wall clock in milliseconds */
static long long now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* redis_time - TIME in milliseconds, and the host's clock at the middle of the exchange */
static int redis_time(struct cluster *cl, long long *redis_ms, long long *local_ms, char **err)
{
    const char *argv[] = {"TIME"};
    long long t0 = now_ms(), t1;
    redisReply *rep = cluster_redis_command(cl->redis, 1, argv, NULL, err);
    int rc = -1;

    t1 = now_ms();
    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        *redis_ms = atoll(rep->element[0]->str) * 1000 + atoll(rep->element[1]->str) / 1000;
        *local_ms = (t0 + t1) / 2;
        rc = 0;
    } else {
        set_err(err, "TIME: unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}

void cluster_heartbeat(struct cluster *cl)
{
    long long rms, lms, published;
    char *key, *err = NULL, seen[24], off[24], n[24], pub[24], digest[65];
    size_t ntargets;
    redisReply *rep;

    if (redis_time(cl, &rms, &lms, &err) < 0) {
        free(err);
        return;
    }
    pthread_mutex_lock(&cl->cache_lock);
    memcpy(digest, cl->digest, sizeof(digest));
    ntargets = cl->ntargets;
    published = cl->published;
    pthread_mutex_unlock(&cl->cache_lock);
    snprintf(seen, sizeof(seen), "%lld", rms / 1000);
    snprintf(off, sizeof(off), "%lld", lms - rms);
    snprintf(n, sizeof(n), "%zu", ntargets);
    snprintf(pub, sizeof(pub), "%lld", published);
    key = cluster_status_key(cl, cl->host);
    {
        const char *argv[] = {"HSET", key, "seen", seen, "clock_offset_ms", off,
                              "targets", n, "digest", digest, "published", pub};
        char ttl[24];
        const char *exp[] = {"EXPIRE", key, ttl};

        snprintf(ttl, sizeof(ttl), "%d", STATUS_TTL);
        if ((rep = cluster_redis_command(cl->redis, 12, argv, NULL, &err)) != NULL) {
            freeReplyObject(rep);
            if ((rep = cluster_redis_command(cl->redis, 3, exp, NULL, &err)) != NULL)
                freeReplyObject(rep);
        }
    }
    free(err);
    free(key);
}

/* field - the value of NAME in an HGETALL reply, or NULL */
static const char *field(const redisReply *rep, const char *name)
{
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (strcmp(rep->element[i]->str, name) == 0)
            return rep->element[i + 1]->str;
    return NULL;
}

/* exists - 1 when KEY exists, 0 when not, -1 */
static int exists(struct cluster *cl, const char *key, char **err)
{
    const char *argv[] = {"EXISTS", key};
    redisReply *rep = cluster_redis_command(cl->redis, 2, argv, NULL, err);
    int rc;

    if (!rep)
        return -1;
    rc = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return rc;
}

/* host_row - one host's line; 1 when it was not seen lately; *digest its digest (or kept) */
static int host_row(struct cluster *cl, FILE *fp, const char *host, long long now_s,
                    char *first_digest, bool *drift, char **err)
{
    char *skey = cluster_status_key(cl, host), *hkey = cluster_host_key(cl, host);
    const char *argv[] = {"HGETALL", skey};
    redisReply *rep = cluster_redis_command(cl->redis, 2, argv, NULL, err);
    int published = rep ? exists(cl, hkey, err) : -1, rc = 0;
    const char *seen, *off, *n, *digest;
    char ago[32];

    free(skey);
    free(hkey);
    if (!rep || published < 0) {
        if (rep)
            freeReplyObject(rep);
        return -1;
    }
    seen = field(rep, "seen");
    off = field(rep, "clock_offset_ms");
    n = field(rep, "targets");
    digest = field(rep, "digest");
    if (!seen) {
        snprintf(ago, sizeof(ago), "never");
        rc = 1;
    } else {
        long long a = now_s - atoll(seen);

        snprintf(ago, sizeof(ago), "%llds ago", a < 0 ? 0 : a);
        rc = a > STALE_AFTER;
    }
    if (digest && digest[0]) {
        if (!first_digest[0])
            snprintf(first_digest, 65, "%s", digest);
        else if (strcmp(first_digest, digest) != 0)
            *drift = true;
    }
    fprintf(fp, "%-16s %-12s %9s %-9s %7s  %.16s  %s%s\n", host, ago, off ? off : "-",
            published ? "yes" : "no", n ? n : "-", digest && digest[0] ? digest : "-",
            rc ? "NOT SEEN LATELY (stopped, or cut off from Redis)" : "up",
            strcmp(host, cl->host) == 0 ? " (this host)" : "");
    freeReplyObject(rep);
    return rc;
}

int cluster_status(struct cluster *cl, FILE *fp, char **err)
{
    long long rms, lms;
    char first[65] = "";
    bool drift = false;
    int stale = 0;

    if (redis_time(cl, &rms, &lms, err) < 0)
        return -1;
    fprintf(fp, "Redis %s answers; prefix %s; this host %s; clock offset %+lld ms\n",
            cluster_redis_where(cl->redis), cl->prefix, cl->host, lms - rms);
    fprintf(fp, "%-16s %-12s %9s %-9s %7s  %-16s  %s\n", "HOST", "LAST SEEN", "CLOCK ms",
            "COUNTS", "TARGETS", "DIGEST", "STATE");
    for (size_t i = 0; i < cl->nhosts; i++) {
        int r = host_row(cl, fp, cl->hosts[i], rms / 1000, first, &drift, err);

        if (r < 0)
            return -1;
        stale += r;
    }
    if (drift)
        fprintf(fp, "targets DIFFER between hosts: load the same targets.conf on every host "
                    "(byosmtpctl load)\n");
    else
        fprintf(fp, "targets: the same on every host that reported\n");
    return stale || drift ? 1 : 0;
}
