/*
 * worker - one delivery attempt of one spooled copy: load the copy, its state and its target;
 * open (or reuse) the target's authenticated session and send the copy to its pending
 * recipients; let outcome.h decide what becomes of each of them (sent, bounced, expired,
 * deferred, the next attempt, throttle: the rules live there, pure); and apply that decision
 * in the order that loses nothing:
 *   1. a recipient the provider accepted is marked "sent" in the copy's state file (fsynced)
 *      before anything else happens, so a retry of its siblings never sends it again;
 *   2. recipients refused for good (5xx), or still deferred after retry.max_lifetime, get a
 *      DSN (bounce.c), then are marked "bounced"; a DSN that cannot be submitted keeps them
 *      pending, to be tried again;
 *   3. when none is left the copy is removed and its outcome (delivered, bounced) added to the
 *      target's month (store_queue_del); otherwise the state gets the next attempt time
 *      (backoff.h: retry.min_backoff doubling up to retry.max_backoff; or, when throttled,
 *      the target's pause, which the scheduler applies).
 * In cluster mode a copy starts only when the cluster's limits allow it (cluster_gate: the
 * shared pause, a lease of max_connections, the shared pace); otherwise it goes back to the
 * scheduler untouched (SCHED_POSTPONED), nothing read from the provider and nothing counted.
 * Each recipient's outcome is logged Postfix-style (deliverylog.h). Throttling replies never
 * bounce a message and never count as a failed attempt; only retry.max_lifetime ends them.
 * Recipients that an attempt may have delivered without its reply (outcome.h: in doubt) are kept
 * in delivery/doubt/ID (deliverydir.h) until they are done; a later delivery of one is logged as a
 * possible duplicate and counted.
 *
 * struct delivery is what the workers of the delivery process share (delivery.c owns it).
 * Thread-safety: worker_attempt runs in many threads at once; it takes d->lock only to touch
 * the scheduler and the counters.
 */
#ifndef BYOSMTP_WORKER_H
#define BYOSMTP_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/conf.h"
#include "delivery/deliverydir.h"
#include "delivery/hostdown.h"
#include "delivery/scheduler.h"
#include "store/secret.h"
#include "spool/spool.h"
#include "store/store.h"

struct tls_ctx;
struct cluster;
struct events;
struct oauth_cache;

struct delivery {
    struct byosmtp_conf *conf; /* the current snapshot; replaced under lock on reload */
    struct store *store;
    struct spool *spool;
    const char *spool_path;
    struct secret_key *key;
    struct tls_ctx *tls;
    struct oauth_cache *oauth; /* the targets' OAuth2 access tokens (oauth.h; its own locks) */
    char hostname[256];
    pthread_mutex_t lock; /* guards sched, stats, conf (the pointer), stopping */
    pthread_cond_t cond;
    struct sched *sched;
    struct hostdown *hosts; /* each provider host's own backoff (failover) */
    struct dstats stats;    /* counted by metrics_count() */
    bool stats_dirty;
    struct events *events; /* events.h; NULL when no sink is configured */
    struct cluster *cluster; /* cluster mode's shared limits (cluster.h); NULL without */
    bool stopping;
};

/* worker_conf - the current configuration snapshot, referenced (conf_unref it after use) */
struct byosmtp_conf *worker_conf(struct delivery *d);

/*
 * worker_attempt - deliver JOB (taken from the scheduler) with configuration CONF and fill *R
 * for sched_done(). Never fails: every problem is an outcome of the copy (deferred, moved
 * aside when corrupt) and is logged.
 */
void worker_attempt(struct delivery *d, const struct byosmtp_conf *conf, const struct sched_job *job,
                    struct sched_result *r);

/* worker_close_conn - QUIT and free a connection handed out by the scheduler */
void worker_close_conn(void *conn);

/* worker_remove_copy - an admin's "queue delete": remove copy ID and its store record, logged */
void worker_remove_copy(struct delivery *d, const char *id);

#endif
