/*
 * cluster - cluster mode (doc/cluster.md): several byosmtp hosts share each target's monthly
 * quota through Redis, exactly.
 *
 * One Redis hash per target and month, PREFIX:quota:TARGET:YYYYMM, holds one field per host:
 * that host's own 'accepted' count from its store. The cluster total is their sum. At end of
 * message a Lua script checks total + n <= limit and adds n to this host's field in one step
 * (cluster_claim), before the store commit; what the commit does not keep is given back
 * (cluster_claim_end). RCPT never waits on Redis: it reads a cached total
 * (cluster_quota_room) that a background thread refreshes every second and each claim updates.
 * The thread also republishes this host's fields from its store at start, every
 * cluster.sync_interval and whenever Redis lost them, so Redis needs no persistence.
 *
 * While Redis is unreachable (degraded), cluster.degraded_quota decides: "share" lets this host
 * reach (its own count + (limit - total) / N) as last known, N = the number of cluster.hosts;
 * "tempfail" answers 451 for targets with a monthly quota.
 *
 * Built only with hiredis; without it cluster_new() reports that cluster mode is not built (and
 * byosmtp.conf refuses cluster.enabled = true before that).
 *
 * Thread-safety: every function may be called from any thread once cluster_new() returned.
 * Claims may run concurrently; a republication waits for the claims under way (a read-write
 * lock), so that it never overwrites a reservation its commit has not yet counted.
 */
#ifndef BYOSMTP_CLUSTER_H
#define BYOSMTP_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/conf.h"
#include "store/store.h"

struct cluster;

/*
 * cluster_new - the cluster of configuration C: NULL with *err NULL when cluster.enabled is
 * false; else reads cluster.password_file (call it before privileges are dropped) and names
 * this host; nothing is sent yet. NULL with *err on an error.
 */
struct cluster *cluster_new(const struct byosmtp_conf *c, char **err);

/*
 * cluster_start - byosmtpd: publish this host's counts from ST (when Redis answers) and start
 * the background thread (refresh, republication). 0, or -1 with *err.
 */
int cluster_start(struct cluster *cl, struct store *st, char **err);

/* cluster_free - stop the thread, close the connection (NULL is fine) */
void cluster_free(struct cluster *cl);

/* cluster_host - this host's name in the cluster */
const char *cluster_host(const struct cluster *cl);

/* cluster_degraded - true while Redis is unreachable */
bool cluster_degraded(struct cluster *cl);

enum cluster_room {
    CLUSTER_ROOM, /* N more recipients fit, as far as is known */
    CLUSTER_FULL, /* they do not: over quota */
    CLUSTER_WAIT, /* degraded with degraded_quota = "tempfail": 451 */
};

/*
 * cluster_quota_room - RCPT: would N more recipients of TARGET fit in LIMIT for MONTH
 * ("YYYY-MM"), this host having accepted LOCAL already? Never sends anything to Redis: the
 * cached total of the other hosts plus LOCAL, or while degraded the share. *total (when not
 * NULL) gets the count the decision used.
 */
enum cluster_room cluster_quota_room(struct cluster *cl, const char *target, const char *month,
                                     uint64_t limit, uint64_t local, uint64_t n, uint64_t *total);

enum cluster_claim_state {
    CLAIM_NONE,     /* no monthly quota: nothing asked */
    CLAIM_RESERVED, /* Redis added n to this host's field: commit, or give it back */
    CLAIM_REFUSED,  /* total + n > limit: over quota */
    CLAIM_CAPPED,   /* degraded, "share": commit only when this host's count stays <= cap */
    CLAIM_WAIT,     /* degraded, "tempfail": do not commit; 451 */
};

/* One copy's claim at end of message. */
struct cluster_claim {
    const char *target; /* in */
    const char *month;  /* in: "YYYY-MM" */
    uint32_t n;         /* in: recipients */
    uint64_t limit;     /* in: the target's monthly_quota (0: none) */
    enum cluster_claim_state state; /* out */
    uint64_t total;     /* out: the cluster total before this claim (as known) */
    uint64_t cap;       /* out, CLAIM_CAPPED: the most this host's own count may reach */
};

/*
 * cluster_claim - end of message, before the store commit: claim each of the N copies of C in
 * order (a copy refused does not stop the others). Holds the claims' side of the lock until
 * cluster_claim_end(), which must follow.
 */
void cluster_claim(struct cluster *cl, struct cluster_claim *c, size_t n);

/*
 * cluster_claim_end - after the store commit: give back each CLAIM_RESERVED copy that KEPT[i]
 * says was not committed (KEPT NULL: none was); lets a republication run again.
 */
void cluster_claim_end(struct cluster *cl, const struct cluster_claim *c, size_t n,
                       const bool *kept);

/* One host's part of a cluster total. */
struct cluster_part {
    char *host;
    uint64_t count;
};

/*
 * cluster_quota_split - byosmtpctl quota: the fields of TARGET's hash for MONTH ("YYYY-MM"),
 * sorted by host, and their sum. 0 and *parts (cluster_parts_free), *nparts, *total; -1 with
 * *err when Redis is unreachable.
 */
int cluster_quota_split(struct cluster *cl, const char *target, const char *month,
                        struct cluster_part **parts, size_t *nparts, uint64_t *total, char **err);
void cluster_parts_free(struct cluster_part *p, size_t n);

/*
 * cluster_verify_attempt - byosmtpctl verify: count an attempt on TARGET in the cluster when
 * fewer than MAX fell in the last WINDOW seconds (Redis's clock): 1; else 0 with *next, when
 * the next one is allowed (unix time); -1 with *err when Redis does not answer.
 */
int cluster_verify_attempt(struct cluster *cl, const char *target, int max, int window,
                           int64_t *next, char **err);
/* cluster_verify_put - share V, TARGET's last verification result, with the other hosts */
int cluster_verify_put(struct cluster *cl, const char *target, const struct verify_result *v,
                       char **err);
/*
 * cluster_verify_get - the last result shared for TARGET: 1 with *v (verify_result_free) and
 * *host (the host that ran it; free), 0 none, -1 with *err
 */
int cluster_verify_get(struct cluster *cl, const char *target, struct verify_result *v,
                       char **host, char **err);

/*
 * The delivery side's shared limits (doc/cluster.md "Connections, pace and slow-down"):
 * max_connections through leases, rate through one pace on Redis's clock, and the pause after
 * a throttling reply, for every host of the cluster. Redis keys PREFIX:conns:TARGET (a sorted
 * set of leases scored by their expiry), PREFIX:rate:TARGET (the pace's next start) and
 * PREFIX:throttle:TARGET (the host throttled; it expires when the pause ends), with
 * PREFIX:throttled, the targets paused now.
 */

/* The room the shared pace keeps for the network's jitter, in percent of its spacing: "10/s"
 * starts one message every 105 ms on Redis's clock, at most 10 in any 1.05 s. */
#define CLUSTER_PACE_RESERVE_PCT 5u

/* The longest a worker sleeps for its turn in the shared pace; a later turn is asked again. */
#define CLUSTER_PACE_MAX_WAIT_US 1000000u

enum cluster_gate_verdict {
    GATE_GO,   /* start (after sleeping *wait seconds: the pace's turn) */
    GATE_WAIT, /* not now: ask again in *wait seconds */
    GATE_DOWN, /* Redis did not answer: decide without it (cluster_nhosts' share) */
};

enum cluster_wait_reason {
    WAIT_NONE,
    WAIT_CONNECTIONS, /* every lease of max_connections is held */
    WAIT_THROTTLED,   /* a host was throttled: the target pauses */
    WAIT_RATE,        /* the pace's next turn is further than CLUSTER_PACE_MAX_WAIT_US */
};

/* One start of a message towards a target, as cluster_gate() weighs it. */
struct cluster_gate {
    const char *target;     /* in */
    int max_connections;    /* in: > 0: the connection needs a lease */
    uint64_t interval_us;   /* in: this host's spacing of starts from the rate (0: no pace) */
    char *lease;            /* in/out: the connection's lease, NULL for a new connection */
    enum cluster_wait_reason reason; /* out */
    double wait;            /* out: seconds, see enum cluster_gate_verdict */
};

/*
 * cluster_gate - may a message start towards G->target now? Checks, in one script on Redis's
 * clock: the target's shared pause, a lease (a new one made in G->lease, or G->lease renewed)
 * when max_connections > 0, and the turn in the shared pace when interval_us > 0 (spaced
 * interval_us plus CLUSTER_PACE_RESERVE_PCT apart). A lease lost (expired
 * and taken by another host) is freed: G->lease is NULL on return, and the connection must be
 * closed. Thread-safe.
 */
enum cluster_gate_verdict cluster_gate(struct cluster *cl, struct cluster_gate *g);

/* cluster_lease_release - the connection of LEASE (made by cluster_gate) closed: give its slot
 * back (ZREM; when Redis does not answer the lease expires); frees LEASE (NULL is fine) */
void cluster_lease_release(struct cluster *cl, const char *target, char *lease);

/* cluster_delivery_start - CL is a delivery process's (its lines about Redis say what the
 * delivery side does), which starts: remove the leases this host left in Redis (a process
 * killed holds them until they expire). 0, or -1 with *err. */
int cluster_delivery_start(struct cluster *cl, char **err);

/* cluster_leases_renew - renew every lease held, when cluster.lease_ttl / 3 passed since the
 * last renewal (call it every second); one that was lost is logged and renewed at its next use */
void cluster_leases_renew(struct cluster *cl);

/* cluster_throttle_put - this host was throttled by TARGET's provider: share the pause of
 * PAUSE_MS milliseconds (a longer pause already shared stays). 0, or -1 with *err. */
int cluster_throttle_put(struct cluster *cl, const char *target, long pause_ms, char **err);

/* A pause shared by a host throttled by a target's provider. */
struct cluster_pause {
    char *target;
    char *host;   /* the host that was throttled */
    long left_ms; /* the pause left */
};

/*
 * cluster_throttles - every target paused now, whatever host knows it: *pauses
 * (cluster_pauses_free) and *n. 0, or -1 with *err.
 */
int cluster_throttles(struct cluster *cl, struct cluster_pause **pauses, size_t *n, char **err);
void cluster_pauses_free(struct cluster_pause *p, size_t n);

/* cluster_share - this host's place in cluster.hosts (0-based) and their number, for the
 * shares of rate and connections while Redis is unreachable */
void cluster_share(const struct cluster *cl, int *index, int *nhosts);

/*
 * cluster_status - byosmtpctl cluster status: Redis's address, and for each host of
 * cluster.hosts when it was last seen (by Redis's clock), its clock offset to Redis, its
 * counts published or not, its number of targets and their digest, written to FP; and whether
 * the digests agree. 0 (all seen and agreeing), 1 (a host not seen lately, or a drift), or -1
 * with *err when Redis does not answer.
 */
int cluster_status(struct cluster *cl, FILE *fp, char **err);

#endif
