/*
 * cluster_none - cluster.h in a build without hiredis (configure --without-hiredis): byosmtp.conf
 * refuses cluster.enabled = true, so cluster_new() returns NULL and nothing else is reached.
 */
#include "config.h"

#include <stdlib.h>

#include "cluster/cluster.h"
#include "util/util.h"

struct cluster *cluster_new(const struct byosmtp_conf *c, char **err)
{
    *err = NULL;
    if (c->cluster.enabled)
        set_err(err, "cluster mode needs byosmtp built with hiredis (this one was configured "
                     "--without-hiredis): install libhiredis-dev and build again");
    return NULL;
}

int cluster_start(struct cluster *cl, struct store *st, char **err)
{
    (void)cl;
    (void)st;
    return set_err(err, "cluster mode is not built in");
}

void cluster_free(struct cluster *cl)
{
    (void)cl;
}

const char *cluster_host(const struct cluster *cl)
{
    (void)cl;
    return "";
}

bool cluster_degraded(struct cluster *cl)
{
    (void)cl;
    return false;
}

enum cluster_room cluster_quota_room(struct cluster *cl, const char *target, const char *month,
                                     uint64_t limit, uint64_t local, uint64_t n, uint64_t *total)
{
    (void)cl;
    (void)target;
    (void)month;
    if (total)
        *total = local;
    return limit == 0 || local + n <= limit ? CLUSTER_ROOM : CLUSTER_FULL;
}

void cluster_claim(struct cluster *cl, struct cluster_claim *c, size_t n)
{
    (void)cl;
    for (size_t i = 0; i < n; i++)
        c[i].state = CLAIM_NONE;
}

void cluster_claim_end(struct cluster *cl, const struct cluster_claim *c, size_t n,
                       const bool *kept)
{
    (void)cl;
    (void)c;
    (void)n;
    (void)kept;
}

int cluster_quota_split(struct cluster *cl, const char *target, const char *month,
                        struct cluster_part **parts, size_t *nparts, uint64_t *total, char **err)
{
    (void)cl;
    (void)target;
    (void)month;
    *parts = NULL;
    *nparts = 0;
    *total = 0;
    return set_err(err, "cluster mode is not built in");
}

void cluster_parts_free(struct cluster_part *p, size_t n)
{
    (void)n;
    free(p);
}

int cluster_status(struct cluster *cl, FILE *fp, char **err)
{
    (void)cl;
    (void)fp;
    return set_err(err, "cluster mode is not built in");
}

int cluster_verify_attempt(struct cluster *cl, const char *target, int max, int window,
                           int64_t *next, char **err)
{
    (void)cl;
    (void)target;
    (void)max;
    (void)window;
    *next = 0;
    return set_err(err, "cluster mode is not built in");
}

int cluster_verify_put(struct cluster *cl, const char *target, const struct verify_result *v,
                       char **err)
{
    (void)cl;
    (void)target;
    (void)v;
    return set_err(err, "cluster mode is not built in");
}

int cluster_verify_get(struct cluster *cl, const char *target, struct verify_result *v,
                       char **host, char **err)
{
    (void)cl;
    (void)target;
    (void)v;
    *host = NULL;
    return set_err(err, "cluster mode is not built in");
}

enum cluster_gate_verdict cluster_gate(struct cluster *cl, struct cluster_gate *g)
{
    (void)cl;
    g->reason = WAIT_NONE;
    g->wait = 0;
    return GATE_DOWN;
}

void cluster_lease_release(struct cluster *cl, const char *target, char *lease)
{
    (void)cl;
    (void)target;
    free(lease);
}

int cluster_delivery_start(struct cluster *cl, char **err)
{
    (void)cl;
    return set_err(err, "cluster mode is not built in");
}

void cluster_leases_renew(struct cluster *cl)
{
    (void)cl;
}

int cluster_throttle_put(struct cluster *cl, const char *target, long pause_ms, char **err)
{
    (void)cl;
    (void)target;
    (void)pause_ms;
    return set_err(err, "cluster mode is not built in");
}

int cluster_throttles(struct cluster *cl, struct cluster_pause **pauses, size_t *n, char **err)
{
    (void)cl;
    *pauses = NULL;
    *n = 0;
    return set_err(err, "cluster mode is not built in");
}

void cluster_pauses_free(struct cluster_pause *p, size_t n)
{
    (void)p;
    (void)n;
}

void cluster_share(const struct cluster *cl, int *index, int *nhosts)
{
    (void)cl;
    *index = 0;
    *nhosts = 1;
}
