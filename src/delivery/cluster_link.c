/*
 * cluster_link - the delivery process's thread of cluster mode (see cluster_link.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "delivery/cluster_link.h"
#include "util/msg.h"
#include "util/util.h"

struct cluster_link {
    struct delivery *d;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    bool degraded; /* as last given to the scheduler */
};

/* set_share - tell the scheduler whether Redis is reachable (waking the workers on a change) */
static void set_share(struct cluster_link *l, bool degraded)
{
    struct delivery *d = l->d;
    int index, n;

    cluster_share(d->cluster, &index, &n);
    pthread_mutex_lock(&d->lock);
    sched_set_share(d->sched, index, n, degraded);
    if (degraded != l->degraded)
        pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    l->degraded = degraded;
}

/* poll_pauses - the pauses hosts shared, into the scheduler (a target it does not know yet
 * included: its first copy waits too); one line for each new one */
static void poll_pauses(struct cluster_link *l)
{
    struct delivery *d = l->d;
    struct cluster_pause *p;
    char *err = NULL;
    size_t n;

    if (cluster_throttles(d->cluster, &p, &n, &err) < 0) {
        msg_debug("cluster: reading the shared pauses: %s", err);
        free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double now = time_now();
        bool news;

        pthread_mutex_lock(&d->lock);
        news = sched_throttle_shared(d->sched, p[i].target, now, now + (double)p[i].left_ms / 1000);
        pthread_mutex_unlock(&d->lock);
        if (news && strcmp(p[i].host, cluster_host(d->cluster)) != 0)
            msg_info("cluster: target %s paused for %ld s: %s was throttled (shared slow-down)",
                     p[i].target, (p[i].left_ms + 999) / 1000, p[i].host);
    }
    cluster_pauses_free(p, n);
}

/* link_main - once a second: renew the leases, read the pauses, follow Redis's reachability */
static void *link_main(void *arg)
{
    struct cluster_link *l = arg;

    pthread_mutex_lock(&l->lock);
    while (!l->stopping) {
        struct timespec until;

        pthread_mutex_unlock(&l->lock);
        cluster_leases_renew(l->d->cluster);
        poll_pauses(l);
        set_share(l, cluster_degraded(l->d->cluster));
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&l->lock);
        if (!l->stopping)
            pthread_cond_timedwait(&l->cond, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

struct cluster_link *cluster_link_start(struct delivery *d)
{
    struct cluster_link *l;
    char *err = NULL;

    if (d->cluster == NULL)
        return NULL;
    if (cluster_delivery_start(d->cluster, &err) < 0) {
        /* they expire by themselves after cluster.lease_ttl */
        msg_warn("cluster: the previous delivery process's leases were not freed: %s", err);
        free(err);
    }
    l = xcalloc(1, sizeof(*l));
    l->d = d;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->degraded = !cluster_degraded(d->cluster); /* so that set_share always wakes once */
    set_share(l, cluster_degraded(d->cluster));
    if (pthread_create(&l->tid, NULL, link_main, l) != 0) {
        msg_error("cluster: cannot start the delivery's cluster thread: %s", strerror(errno));
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->cond);
        free(l);
        return NULL;
    }
    return l;
}

void cluster_link_stop(struct cluster_link *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->tid, NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}

void cluster_link_throttled(struct delivery *d, const char *target)
{
    double pause;
    char *err = NULL;

    if (d->cluster == NULL)
        return;
    pthread_mutex_lock(&d->lock);
    pause = sched_target_pause(d->sched, target) - time_now();
    pthread_mutex_unlock(&d->lock);
    if (pause <= 0)
        return;
    if (cluster_throttle_put(d->cluster, target, (long)(pause * 1000), &err) < 0) {
        msg_warn("cluster: target %s: the pause after its throttling reply was not shared with "
                 "the other hosts: %s", target, err);
        free(err);
    }
}
