/*
 * deliverydir - the delivery process's own files, in the directory "delivery" of the spool:
 *
 *   delivery/lock        held (flock) by the running delivery process: one per spool
 *   delivery/pid         its process id, for tests and admins
 *   delivery/stats       counters since byosmtpd started (rewritten whole, by rename)
 *   delivery/inflight/ID one empty file per copy that a worker is sending: what is left here at
 *                        start was being sent when the process died (a possible duplicate)
 *   delivery/doubt/ID    the recipients of copy ID that an attempt may have delivered without
 *                        its reply (the final dot unanswered), while they wait for a later one
 *   delivery/requests/N  one line from byosmtpctl for the running process ("flush ID",
 *                        "flush-target NAME", "flush-all", "delete ID"), taken and removed by it
 *
 * byosmtpctl reads the stats and writes requests; only the delivery process writes the rest.
 * Functions work on paths only and keep no state: thread-safe.
 */
#ifndef BYOSMTP_DELIVERYDIR_H
#define BYOSMTP_DELIVERYDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* deliverydir_path - SPOOL/delivery/NAME (NAME "" = the directory itself); caller frees */
char *deliverydir_path(const char *spool, const char *name);

/* deliverydir_make - create delivery/, inflight/, doubt/ and requests/ (mode 0700) when missing;
 * 0 or -1 */
int deliverydir_make(const char *spool, char **err);

/*
 * deliverydir_lock - take the lock of the delivery process on SPOOL. Returns 1 and *fd (keep it
 * open while running), 0 when another process holds it (with WAIT false), or -1 with *err.
 */
int deliverydir_lock(const char *spool, bool wait, int *fd, char **err);

/* ---- counters ---- */

struct dstats_target {
    char *name;
    uint64_t accepted;  /* recipients of copies that entered the queue */
    uint64_t delivered; /* recipients accepted by the provider */
    uint64_t deferred;  /* deferrals of a recipient (one per failed attempt) */
    uint64_t bounced;   /* recipients bounced (5xx or expired) */
    uint64_t duplicates; /* recipients delivered after an attempt that may have delivered them
                            already (no reply to its final dot): possible duplicates */
    uint64_t fallback;  /* recipients handed back to the local MTA (fallback = mta) */
};

struct dstats {
    int64_t since;     /* when byosmtpd started (unix seconds) */
    struct dstats_target *t;
    size_t n;
};

/* dstats_get - the counters of NAME in S, made (zero) when missing */
struct dstats_target *dstats_get(struct dstats *s, const char *name);
void dstats_free(struct dstats *s);

/* deliverydir_stats_reset - start counting afresh at SINCE (byosmtpd's start); 0 or -1 */
int deliverydir_stats_reset(const char *spool, int64_t since, char **err);
/* deliverydir_stats_write - replace the counters file with S (temporary file, rename); 0 or -1 */
int deliverydir_stats_write(const char *spool, const struct dstats *s, char **err);
/* deliverydir_stats_read - 1 and *s, 0 when there is no file (*s empty), -1 with *err */
int deliverydir_stats_read(const char *spool, struct dstats *s, char **err);

/* ---- requests from byosmtpctl ---- */

/*
 * deliverydir_request - leave the request "VERB ARG" for the delivery process (created under a
 * temporary name, then renamed: the process never sees half a line). *name gets the request's
 * path (to watch it disappear), when name is not NULL. 0 or -1 with *err.
 */
int deliverydir_request(const char *spool, const char *verb, const char *arg, char **name,
                        char **err);

/*
 * deliverydir_requests_take - call FN for each pending request (oldest first) with its verb
 * and argument, then remove it. Malformed requests are removed and logged. Returns the count.
 */
size_t deliverydir_requests_take(const char *spool,
                                 void (*fn)(void *ctx, const char *verb, const char *arg),
                                 void *ctx);

/* ---- recipients in doubt ---- */

/*
 * deliverydir_doubt_write - the recipients of copy ID that may have been delivered already
 * (outcome_in_doubt()), as their indexes IDX[0..N-1] in the copy's order: delivery/doubt/ID is
 * replaced whole (a temporary file, then rename), and removed when N is 0. A mark that is lost
 * loses only the log note of a later delivery. 0, or -1 with *err.
 */
int deliverydir_doubt_write(const char *spool, const char *id, const size_t *idx, size_t n,
                            char **err);

/*
 * deliverydir_doubt_read - the indexes recorded for copy ID, those below NRCPTS, in *idx (free
 * it) and *n (0 when there is no mark). 0, or -1 with *err (then *n is 0).
 */
int deliverydir_doubt_read(const char *spool, const char *id, size_t nrcpts, size_t **idx,
                           size_t *n, char **err);

/* ---- in-flight marks ---- */

/* deliverydir_inflight - mark (ON) or unmark copy ID as being sent; best effort */
void deliverydir_inflight(const char *spool, const char *id, bool on);
/*
 * deliverydir_inflight_left - the ids marked in flight (left by a process that died), each
 * unmarked as it is returned. 0 and *ids, *n (spool_list_free), or -1.
 */
int deliverydir_inflight_left(const char *spool, char ***ids, size_t *n, char **err);

#endif
