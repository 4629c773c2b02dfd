/*
 * scheduler - the delivery side's in-memory queue: which spooled copy a worker takes next.
 *
 * It holds one entry per spooled copy (id, target, when it is due) and one record per target
 * (its connection limit, send pace (ratelimit.h), throttling pause (backoff.h), and the idle
 * authenticated connections kept for reuse). sched_take() hands out the next due copy whose target can take one more
 * message now: at most max_connections connections per target (open ones, in use or idle), at
 * most `rate` messages per second or minute, nothing while the target is paused after a
 * throttling reply, and only one connection while a target is failing or throttled. Targets
 * are served round-robin, so one slow or broken provider never keeps the workers from others.
 *
 * It knows nothing of sockets, files or threads: connections are opaque pointers that the
 * caller opens and closes (outside the lock), and times are given by the caller, which makes
 * the policy testable without a clock. Not thread-safe: the caller serialises every call with
 * one mutex (delivery.c).
 */
#ifndef BYOSMTP_SCHEDULER_H
#define BYOSMTP_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

struct sched;

struct sched_config {
    int default_max_connections; /* for a target whose max_connections is 0 */
    double idle_timeout;         /* seconds an idle connection is kept for reuse */
    int max_messages;            /* messages per connection before it is closed; 0 = no limit */
    double throttle_min;         /* first pause after a throttling reply, seconds (throttle_hit) */
    double throttle_max;         /* the pause doubles up to this */
};

/* What sched_take() hands to a worker. */
struct sched_job {
    char id[SPOOL_ID_LEN + 1];
    char *target;   /* the target's name (owned by the job) */
    void *conn;     /* an idle connection to reuse, or NULL: open a new one */
    int conn_messages; /* messages already sent on conn */
    bool shared;    /* cluster mode, Redis reachable when taken: ask cluster_gate() first */
};

/* How an attempt ended, for sched_done(). */
enum sched_outcome {
    SCHED_FINISHED, /* every recipient is done: forget the copy */
    SCHED_DEFERRED, /* some remain: due again at next_attempt */
    SCHED_THROTTLED, /* deferred, and the whole target pauses */
    SCHED_POSTPONED, /* not started (the cluster's limits): due again at retry_at, nothing counted */
};

struct sched_result {
    enum sched_outcome outcome;
    int64_t next_attempt;  /* SCHED_DEFERRED: unix seconds */
    double retry_at;       /* SCHED_POSTPONED: unix seconds with a fraction */
    void *conn;            /* the connection, still usable, to keep for reuse; or NULL */
    int conn_messages;     /* messages sent on it so far */
    bool opened;           /* the job had no connection and one was opened (kept or closed) */
    bool conn_failed;      /* no session could be opened, or it broke (the target is failing) */
    bool delivered;        /* the provider accepted at least one recipient (the target works) */
};

/* sched_new - an empty scheduler; free with sched_free() */
struct sched *sched_new(const struct sched_config *cfg);
/* sched_set_config - new settings (after a reload); applies to the next decisions */
void sched_set_config(struct sched *s, const struct sched_config *cfg);
/*
 * sched_free - free everything; the idle connections are handed to CLOSE (may be NULL when
 * there are none), one call each.
 */
void sched_free(struct sched *s, void (*close_fn)(void *conn));

/* sched_set_target - the limits of target NAME: max_connections (0 = default), RATE ("" none, "N/s", "N/m") */
void sched_set_target(struct sched *s, const char *name, int max_connections, const char *rate);

/*
 * sched_set_share - cluster mode (cluster.h): this host is INDEX of NHOSTS (0: no cluster).
 * While DEGRADED (Redis unreachable) each target with max_connections > 0 gets this host's
 * share of them (max / N, the first max % N hosts one more: their sum is max, and a share may
 * be 0), and a rate is paced N times slower here; jobs are handed out with shared = false.
 * Otherwise jobs are marked shared: the worker asks Redis (cluster_gate) before it starts.
 */
void sched_set_share(struct sched *s, int index, int nhosts, bool degraded);

/*
 * sched_throttle_shared - another host of the cluster was throttled by target NAME's provider:
 * pause it here too until UNTIL (unix seconds), slow its pace, one connection; true when that
 * is news (no pause as long was running), false when it changed nothing.
 */
bool sched_throttle_shared(struct sched *s, const char *name, double now, double until);

/* sched_target_pause - when target NAME's pause ends (unix seconds; 0 none) */
double sched_target_pause(const struct sched *s, const char *name);

/* sched_target_interval - target NAME's spacing of starts now, in us (0: no pace) */
uint64_t sched_target_interval(const struct sched *s, const char *name);

/*
 * sched_add - a copy to deliver (nothing happens when ID is known already). Returns true when
 * it was added.
 */
bool sched_add(struct sched *s, const char *id, const char *target, int64_t next_attempt);
/* sched_has - is ID in the queue (waiting or in a worker's hands)? */
bool sched_has(const struct sched *s, const char *id);
/* sched_count - copies in the queue */
size_t sched_count(const struct sched *s);
/* sched_target_known - has target NAME's record been made (sched_set_target, sched_add)? */
bool sched_target_known(const struct sched *s, const char *name);
/* sched_target_open - connections open to target NAME (in a worker's hands or idle) */
int sched_target_open(const struct sched *s, const char *name);
/* sched_targets - copies of the names of the targets known in *names (dir_list_free them);
 * how many */
size_t sched_targets(const struct sched *s, char ***names);

/*
 * sched_take - the next job at time NOW (seconds, fractional), or 0 when nothing can go now;
 * then *wake_at says when something may become possible (a large value when only a worker's
 * sched_done can change that). Returns 1 with *job (free job->target after sched_done()).
 */
int sched_take(struct sched *s, double now, struct sched_job *job, double *wake_at);

/*
 * sched_done - the worker's report on JOB at time NOW. Returns true when the copy was asked
 * to be deleted while the worker had it (sched_request_delete): the caller removes it now.
 */
bool sched_done(struct sched *s, double now, const struct sched_job *job, const struct sched_result *r);

/*
 * sched_flush - retry now: copy ID, or every copy of TARGET, or (both NULL) everything; a
 * target's pause is lifted. Returns how many copies were made due.
 */
size_t sched_flush(struct sched *s, const char *id, const char *target);

/*
 * sched_request_delete - forget copy ID: returns 1 when it was waiting (the caller removes its
 * files now), 2 when a worker has it (sched_done() will say so), 0 when unknown.
 */
int sched_request_delete(struct sched *s, const char *id);

/*
 * sched_expire_idle - take out the idle connections unused since before NOW - idle_timeout
 * (all of them with FORCE); *conns gets them for the caller to close outside the lock.
 * Returns the count (free(*conns) after).
 */
size_t sched_expire_idle(struct sched *s, double now, bool force, void ***conns);

#endif
