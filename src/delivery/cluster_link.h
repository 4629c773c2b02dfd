/*
 * cluster_link - the delivery process's side of cluster mode (doc/cluster.md "Connections,
 * pace and slow-down"): at start, the leases a previous delivery process of this host left are
 * freed; then a thread, once a second, renews the leases this process holds, brings the pauses
 * that other hosts shared (after a throttling reply) into the scheduler, and tells the
 * scheduler whether Redis is reachable (sched_set_share: while it is not, this host keeps to
 * its share of each target's connections and pace). The workers ask cluster_gate() themselves
 * (worker.c) and share their own pauses through cluster_link_throttled().
 *
 * Thread-safety: cluster_link_throttled may be called from any worker, without d->lock.
 */
#ifndef BYOSMTP_CLUSTER_LINK_H
#define BYOSMTP_CLUSTER_LINK_H

#include "delivery/worker.h"

struct cluster_link;

/* cluster_link_start - D in cluster mode (d->cluster set): free the old leases, start the
 * thread; NULL (nothing to do) without cluster mode or when the thread cannot start (logged) */
struct cluster_link *cluster_link_start(struct delivery *d);

/* cluster_link_stop - stop the thread (NULL is fine) */
void cluster_link_stop(struct cluster_link *l);

/* cluster_link_throttled - this host was throttled by TARGET: share its pause (the scheduler's)
 * with the other hosts */
void cluster_link_throttled(struct delivery *d, const char *target);

#endif
