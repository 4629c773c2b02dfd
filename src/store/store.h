/*
 * store - the LMDB environment that holds targets, routes, verification results and the
 * monthly quota records (doc/design.md, "The store"; doc/store.md).
 *
 * One environment, seven named databases:
 *   meta     "schema" -> "1"                       (STORE_SCHEMA)
 *   targets  NAME -> target_encode() record        ("v=1\nkey=value\n...")
 *   routes   MATCH -> NAME                          (MATCH as route_normalise() makes it)
 *   sender_routes MATCH -> NAME                     the same, by envelope sender; created when a
 *            store made before it is first opened for writing
 *   verify   NAME -> verification record ("v=1\n...") and NAME"\x01attempts" -> int64 times
 *   quota    NAME"/"YYYY-MM -> struct quota_record  (UTC calendar month)
 *   queue    SPOOLID -> "v=1\ntarget=NAME\nrcpts=N\narrival=UNIX\nmonth=YYYY-MM\nqueue_id=QID\n"
 *            one record per committed spool copy (store_queue.c, doc/spool.md): written in the
 *            same transaction that checks NAME's monthly_quota and adds its N recipients to
 *            quota NAME/month; the record, not the file, is the commit point of the milter's
 *            end of message
 * Every lookup is a short MDB_RDONLY transaction on an MDB_NOTLS environment, so any number of
 * threads may call the read functions at once on one handle. Writes are one transaction each;
 * a failed write (MDB_MAP_FULL included) is aborted and leaves the store as it was.
 * The handle must be opened after fork() and used only in the process that opened it.
 */
#ifndef BYOSMTP_STORE_H
#define BYOSMTP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/target.h"

#define STORE_SCHEMA 1

enum store_mode {
    STORE_READ,   /* the store must exist; only reads */
    STORE_WRITE,  /* the store must exist */
    STORE_CREATE, /* create the directory (mode 0700) and the databases when missing */
};

struct store;

struct quota_record {
    uint64_t accepted;  /* recipients accepted for relay: what counts against monthly_quota */
    uint64_t delivered;
    uint64_t bounced;
};

struct verify_result {
    int64_t time; /* unix seconds */
    bool ok;
    char *error_class;  /* "" when ok */
    char *reply;        /* the last server reply or the error, one line */
    char *tls;          /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" */
    char *cert_subject; /* "" when no TLS */
    char *auth_mech;    /* "PLAIN", ... or "" */
};

/*
 * store_open - open (or with STORE_CREATE create) the environment in directory PATH.
 * Returns 0 and *out, or -1 with *err, e.g. "store /var/lib/byosmtp is not initialised:
 * create it with 'byosmtpctl load FILE' or 'byosmtpctl target add'", a schema mismatch,
 * or LMDB's reason.
 */
int store_open(const char *path, size_t map_size, enum store_mode mode, struct store **out,
               char **err);
void store_close(struct store *st);
const char *store_path(const struct store *st);

/*
 * store_route_lookup_by - store_route_lookup in table BY: the recipient routes, or the sender
 * routes for envelope sender ADDR (the null sender, "<>" or "", matches no sender route)
 */
int store_route_lookup_by(struct store *st, enum route_by by, const char *addr, size_t len,
                          char **target, char **rule, char **err);

/*
 * store_route_lookup - find the target for recipient RCPT (LEN bytes; angle brackets allowed)
 * in the order of doc/design.md, "Targets and routes". Returns 1 and *target (and *rule, the match that hit, when rule is not
 * NULL; caller frees both), 0 when no route matches (including addresses LMDB cannot hold as a
 * key: empty, too long, containing NUL), or -1 with *err on a store error.
 */
int store_route_lookup(struct store *st, const char *rcpt, size_t len, char **target, char **rule,
                       char **err);

/*
 * store_target_get - 1 and *t filled (free with target_free), 0 when NAME does not exist, -1.
 * *t need not be initialised; on 0 and -1 it is left zeroed (target_free is still safe).
 */
int store_target_get(struct store *st, const char *name, struct target *t, char **err);

/* store_get_all - every target and route of both tables, in key order (the "dump" view); 0 or -1 */
int store_get_all(struct store *st, struct target_set *set, char **err);

/*
 * store_target_put - add (must_exist false: NAME must be new) or replace (must_exist true) a
 * target, validated first. A replaced target whose record changed loses its verification result.
 */
int store_target_put(struct store *st, const struct target *t, bool must_exist, char **err);

/*
 * store_oauth_rotate - the OAuth2 token endpoint returned a new refresh token for target NAME:
 * NEW_ENC ("enc:v1:...", encrypted for NAME) replaces the stored oauth_refresh_token when that
 * is still OLD_ENC, the one the request used, in one transaction; nothing else of the record
 * changes, and the verification result is kept. Returns 1 replaced, 0 not (the target is gone,
 * or its refresh token changed meanwhile: the newer one stays), -1 with *err.
 */
int store_oauth_rotate(struct store *st, const char *name, const char *old_enc,
                       const char *new_enc, char **err);

/* store_target_del - remove a target and its verification result; refused while routes (of
 * either table) name it */
int store_target_del(struct store *st, const char *name, char **err);

/* store_route_put - add or replace a route (MATCH as written; normalised here); TARGET must exist */
int store_route_put(struct store *st, const char *match, const char *target, char **err);

/* store_route_del - remove a route; 1 removed, 0 it did not exist, -1 error */
int store_route_del(struct store *st, const char *match, char **err);

/* store_route_put_by, store_route_del_by - the same in table BY (recipient or sender routes) */
int store_route_put_by(struct store *st, enum route_by by, const char *match, const char *target,
                       char **err);
int store_route_del_by(struct store *st, enum route_by by, const char *match, char **err);

/*
 * store_replace_all - replace every target and route with SET in one transaction ("load").
 * Validation is the caller's (target_set_parse_file); references are checked again here.
 * Verification results of removed or changed targets are dropped; quota records are kept.
 */
int store_replace_all(struct store *st, const struct target_set *set, char **err);

/* store_quota_get - the record of NAME for MONTH ("YYYY-MM"); a missing record reads as zeros */
int store_quota_get(struct store *st, const char *name, const char *month, struct quota_record *q,
                    char **err);

/* store_quota_add - add the given counts to NAME's record for MONTH, in one transaction */
int store_quota_add(struct store *st, const char *name, const char *month,
                    const struct quota_record *delta, char **err);

/* store_verify_get - 1 and *v (free with verify_result_free), 0 when never verified, -1 */
int store_verify_get(struct store *st, const char *name, struct verify_result *v, char **err);
int store_verify_put(struct store *st, const char *name, const struct verify_result *v, char **err);
void verify_result_free(struct verify_result *v);

/*
 * store_verify_attempt - rate limit for "byosmtpctl verify": when fewer than MAX attempts for NAME
 * fall in the last WINDOW seconds before NOW, record this one and return 1; otherwise return 0 and
 * set *next_allowed to the time the oldest counted attempt leaves the window. -1 on error.
 */
int store_verify_attempt(struct store *st, const char *name, int64_t now, int max, int window,
                         int64_t *next_allowed, char **err);

/*
 * store_give - make the store directory PATH and its files owned by UID:GID (byosmtpd, started as
 * root, gives the store to milter.user before it drops privileges). Missing files are fine.
 * Returns 0, or -1 with *err.
 */
int store_give(const char *path, uid_t uid, gid_t gid, char **err);

/* store_month - "YYYY-MM" of unix time T in UTC, into buf[8] */
void store_month(int64_t t, char buf[8]);

/* ==== queue database: committed spool copies (store_queue.c; doc/spool.md) ==== */

struct queue_record {
    char *id;           /* spool id */
    char *target;       /* target name */
    uint32_t nrcpts;    /* recipients of the copy: what was counted against the quota */
    int64_t arrival;    /* unix seconds */
    char month[8];      /* "YYYY-MM" (UTC) of arrival: the quota record that was charged */
    char *mta_queue_id; /* the MTA's queue id; "" when unknown */
};

void queue_record_free(struct queue_record *r);
void queue_records_free(struct queue_record *r, size_t n);

/* What the commit found for one copy (store_queue_commit_quota). */
struct queue_quota {
    bool refused;      /* the copy does not fit in its target's monthly_quota: not recorded,
                          not counted */
    uint64_t accepted; /* the 'accepted' count of its target's month before the copy (the
                          copies before it in the same call included) */
    uint64_t limit;    /* the target's monthly_quota (0: none, or the target does not exist) */
};

/*
 * store_queue_commit_quota - record the N copies of one message and add each copy's nrcpts to
 * the 'accepted' count of its target's month, in ONE transaction that first checks the quota,
 * copy by copy in order: a copy fits when its target has no monthly_quota, or when the month's
 * 'accepted' count (plus the copies before it that fit) plus its nrcpts stays within it. Q[i]
 * (N entries) says what was found for RECS[i]. A copy that does not fit is refused: with ALL,
 * one refused copy refuses the whole message and nothing is committed; without, the copies
 * that fit are committed and counted and the others are left out. Returns the number of copies
 * refused (0: every copy committed), or -1 with *err (the store unchanged; an id that exists
 * already and MDB_MAP_FULL included). The limit is the target's record in the same
 * transaction, so concurrent commits never pass it (LMDB has one writer at a time).
 */
int store_queue_commit_quota(struct store *st, const struct queue_record *recs, size_t n,
                             bool all, struct queue_quota *q, char **err);

/*
 * store_queue_commit_capped - store_queue_commit_quota with a further limit per copy: CAP[i]
 * (CAP NULL, or CAP[i] 0: none) bounds this host's own count of RECS[i]'s target and month
 * when the target has a monthly_quota (cluster mode while Redis is unreachable: this host's
 * share, doc/cluster.md). A copy over its cap is refused like one over the quota.
 */
int store_queue_commit_capped(struct store *st, const struct queue_record *recs, size_t n,
                              bool all, const uint64_t *cap, struct queue_quota *q, char **err);

/*
 * store_queue_commit - store_queue_commit_quota with ALL: every copy committed and counted (0),
 * or nothing (-1 with *err, a refusal for the quota included).
 */
int store_queue_commit(struct store *st, const struct queue_record *recs, size_t n, char **err);

/*
 * store_queue_rollback - undo store_queue_commit for RECS (after a failure that follows the
 * commit, before the MTA was answered): delete the records that exist and take their counts
 * back, in one transaction. 0 or -1.
 */
int store_queue_rollback(struct store *st, const struct queue_record *recs, size_t n, char **err);

/* store_queue_get - 1 and *r (free with queue_record_free), 0 when ID has no record, -1 */
int store_queue_get(struct store *st, const char *id, struct queue_record *r, char **err);

/* store_queue_list - every record in id order; 0 and *recs, *n (queue_records_free), or -1 */
int store_queue_list(struct store *st, struct queue_record **recs, size_t *n, char **err);

/* store_queue_put - add or replace one record without touching quota (recovery); 0 or -1 */
int store_queue_put(struct store *st, const struct queue_record *r, char **err);

/*
 * store_queue_del - remove the record of ID and, when OUTCOME is not NULL, add its delivered and
 * bounced counts to the record's target and month in the same transaction (the delivery side
 * calls this once the spool file is removed). 1 removed, 0 no such record, -1 error.
 */
int store_queue_del(struct store *st, const char *id, const struct quota_record *outcome,
                    char **err);

#endif
