/*
 * store_queue - the queue database: one record per committed spool copy, and the quota counts
 * that go with it (store.h, doc/spool.md).
 *
 * store_queue_commit_quota is the commit point of the milter's end of message: the records of
 * every copy of one message and the 'accepted' counts of their targets are written in one LMDB
 * write transaction, which first checks each copy against its target's monthly_quota (LMDB has
 * one writer at a time, so the check and the count cannot be raced). Thread-safe like the rest
 * of the store: one transaction per call.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/util.h"

void queue_record_free(struct queue_record *r)
{
    if (r == NULL)
        return;
    free(r->id);
    free(r->target);
    free(r->mta_queue_id);
    memset(r, 0, sizeof(*r));
}

void queue_records_free(struct queue_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        queue_record_free(&r[i]);
    free(r);
}

/* encode - the record's value (without its id, which is the key) */
static char *encode(const struct queue_record *r)
{
    return xasprintf("v=1\ntarget=%s\nrcpts=%" PRIu32 "\narrival=%lld\nmonth=%s\nqueue_id=%s\n",
                     r->target, r->nrcpts, (long long)r->arrival, r->month,
                     r->mta_queue_id ? r->mta_queue_id : "");
}

/* field - the value of "NAME=" in the LEN bytes of REC, as a new string, or NULL */
static char *field(const char *rec, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = rec, *end = rec + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=')
            return xstrndup(p + nl + 1, (size_t)(eol - p - (ptrdiff_t)nl - 1));
        p = eol + 1;
    }
    return NULL;
}

/* decode - parse a record; 0, or -1 when it is corrupt */
static int decode(const char *id, size_t idlen, const char *rec, size_t len, struct queue_record *r)
{
    char *v = field(rec, len, "v"), *n = field(rec, len, "rcpts"), *a = field(rec, len, "arrival");
    char *m = field(rec, len, "month"), *end;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->id = xstrndup(id, idlen);
    r->target = field(rec, len, "target");
    r->mta_queue_id = field(rec, len, "queue_id");
    if (v == NULL || strcmp(v, "1") != 0 || r->target == NULL || n == NULL || a == NULL ||
        m == NULL || strlen(m) != 7)
        goto out;
    errno = 0;
    unsigned long long nr = strtoull(n, &end, 10);

    if (errno || *end || nr > UINT32_MAX)
        goto out;
    r->nrcpts = (uint32_t)nr;
    r->arrival = strtoll(a, &end, 10);
    if (*end)
        goto out;
    memcpy(r->month, m, 8);
    if (r->mta_queue_id == NULL)
        r->mta_queue_id = xstrdup("");
    rc = 0;
out:
    free(v);
    free(n);
    free(a);
    free(m);
    if (rc < 0)
        queue_record_free(r);
    return rc;
}

/* quota_change - add (SIGN 1) or take back (SIGN -1) counts in TXN; 0 or an LMDB code */
static int quota_change(struct store *st, MDB_txn *txn, const char *target, const char *month,
                        const struct quota_record *d, int sign)
{
    char *k = store_quota_key(target, month);
    MDB_val key = store_val_str(k), data;
    struct quota_record q = {0, 0, 0};
    int rc;

    if (!store_key_ok(st, k, strlen(k))) {
        free(k);
        return MDB_BAD_VALSIZE;
    }
    rc = mdb_get(txn, st->quota, &key, &data);
    if (rc == 0 && data.mv_size == sizeof(q))
        memcpy(&q, data.mv_data, sizeof(q));
    else if (rc != 0 && rc != MDB_NOTFOUND) {
        free(k);
        return rc;
    }
    if (sign > 0) {
        q.accepted += d->accepted;
        q.delivered += d->delivered;
        q.bounced += d->bounced;
    } else {
        q.accepted = q.accepted > d->accepted ? q.accepted - d->accepted : 0;
        q.delivered = q.delivered > d->delivered ? q.delivered - d->delivered : 0;
        q.bounced = q.bounced > d->bounced ? q.bounced - d->bounced : 0;
    }
    data.mv_size = sizeof(q);
    data.mv_data = &q;
    rc = mdb_put(txn, st->quota, &key, &data, 0);
    free(k);
    return rc;
}

/* id_ok - an id the queue database can hold */
static bool id_ok(struct store *st, const char *id)
{
    return id != NULL && store_key_ok(st, id, strlen(id));
}

/* quota_limit - the monthly_quota of target NAME as TXN sees it (0: none, or no such target) */
static int quota_limit(struct store *st, MDB_txn *txn, const char *name, uint64_t *limit,
                       char **err)
{
    MDB_val key = store_val_str(name), data;
    struct target t;
    char *why = NULL;
    int rc;

    *limit = 0;
    if (!store_key_ok(st, name, strlen(name)))
        return 0;
    rc = mdb_get(txn, st->targets, &key, &data);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a target's quota", err);
    if (target_decode(name, data.mv_data, data.mv_size, &t, &why) < 0) {
        set_err(err, "store %s: the record of target %s is corrupt: %s", st->path, name, why);
        free(why);
        return -1;
    }
    *limit = t.monthly_quota;
    target_free(&t);
    return 0;
}

/* quota_accepted - the 'accepted' count of TARGET in MONTH as TXN sees it; 0 or -1 */
static int quota_accepted(struct store *st, MDB_txn *txn, const char *target, const char *month,
                          uint64_t *accepted, char **err)
{
    char *k = store_quota_key(target, month);
    MDB_val key = store_val_str(k), data;
    struct quota_record q = {0, 0, 0};
    int rc = 0;

    if (store_key_ok(st, k, strlen(k))) {
        rc = mdb_get(txn, st->quota, &key, &data);
        if (rc == 0 && data.mv_size == sizeof(q))
            memcpy(&q, data.mv_data, sizeof(q));
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    free(k);
    *accepted = q.accepted;
    return rc == 0 ? 0 : store_lmdb_err(st, rc, "reading a quota record", err);
}

/* earlier - the recipients of the copies before RECS[I] that go to its target and month */
static uint64_t earlier(const struct queue_record *recs, const struct queue_quota *q, size_t i)
{
    uint64_t n = 0;

    for (size_t j = 0; j < i; j++)
        if (!q[j].refused && strcmp(recs[j].target, recs[i].target) == 0 &&
            strcmp(recs[j].month, recs[i].month) == 0)
            n += recs[j].nrcpts;
    return n;
}

/*
 * check_copies - for each of the N copies of RECS in order: its id must be new, and whether its
 * target's monthly quota has room for it (the copies before it that fit included) goes into Q.
 * Returns the number of copies that do not fit, or -1 with *err.
 */
static int check_copies(struct store *st, MDB_txn *txn, const struct queue_record *recs,
                        size_t n, const uint64_t *cap, struct queue_quota *q, char **err)
{
    int refused = 0;

    for (size_t i = 0; i < n; i++) {
        MDB_val key = store_val_str(recs[i].id), data;
        int rc = mdb_get(txn, st->queue, &key, &data);

        memset(&q[i], 0, sizeof(q[i]));
        if (rc == 0)
            return set_err(err, "store %s: spool copy %s is recorded already", st->path,
                           recs[i].id);
        if (rc != MDB_NOTFOUND)
            return store_lmdb_err(st, rc, "reading a queue record", err);
        if (quota_limit(st, txn, recs[i].target, &q[i].limit, err) < 0 ||
            quota_accepted(st, txn, recs[i].target, recs[i].month, &q[i].accepted, err) < 0)
            return -1;
        q[i].accepted += earlier(recs, q, i);
        if ((q[i].limit > 0 && q[i].accepted + recs[i].nrcpts > q[i].limit) ||
            (cap && cap[i] > 0 && q[i].limit > 0 && q[i].accepted + recs[i].nrcpts > cap[i])) {
            q[i].refused = true;
            refused++;
        }
    }
    return refused;
}

/* put_copies - record and count the copies of RECS that Q does not refuse; 0 or an LMDB code */
static int put_copies(struct store *st, MDB_txn *txn, const struct queue_record *recs, size_t n,
                      const struct queue_quota *q)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *v;
        MDB_val key, data;
        struct quota_record d = {recs[i].nrcpts, 0, 0};

        if (q[i].refused)
            continue;
        v = encode(&recs[i]);
        key = store_val_str(recs[i].id);
        data = store_val_str(v);
        rc = mdb_put(txn, st->queue, &key, &data, MDB_NOOVERWRITE);
        free(v);
        if (rc == 0)
            rc = quota_change(st, txn, recs[i].target, recs[i].month, &d, 1);
    }
    return rc;
}

int store_queue_commit_quota(struct store *st, const struct queue_record *recs, size_t n,
                             bool all, struct queue_quota *q, char **err)
{
    return store_queue_commit_capped(st, recs, n, all, NULL, q, err);
}

int store_queue_commit_capped(struct store *st, const struct queue_record *recs, size_t n,
                              bool all, const uint64_t *cap, struct queue_quota *q, char **err)
{
    MDB_txn *txn;
    int refused;

    for (size_t i = 0; i < n; i++)
        if (!id_ok(st, recs[i].id) || recs[i].target == NULL)
            return set_err(err, "store %s: cannot record spool copy '%s'", st->path,
                           recs[i].id ? recs[i].id : "");
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    refused = check_copies(st, txn, recs, n, cap, q, err);
    if (refused < 0 || (refused > 0 && (all || (size_t)refused == n))) {
        mdb_txn_abort(txn); /* an error, or nothing to commit */
        return refused;
    }
    if (store_txn_end(st, txn, put_copies(st, txn, recs, n, q), "recording spooled copies",
                      err) < 0)
        return -1;
    return refused;
}

int store_queue_commit(struct store *st, const struct queue_record *recs, size_t n, char **err)
{
    struct queue_quota *q = xcalloc(n ? n : 1, sizeof(*q));
    int rc = store_queue_commit_quota(st, recs, n, true, q, err);

    for (size_t i = 0; rc > 0 && i < n; i++)
        if (q[i].refused)
            rc = set_err(err, "store %s: target %s has no room in its monthly quota for %" PRIu32
                         " more recipients (%" PRIu64 " of %" PRIu64 " in %s)", st->path,
                         recs[i].target, recs[i].nrcpts, q[i].accepted, q[i].limit,
                         recs[i].month);
    free(q);
    return rc;
}

int store_queue_rollback(struct store *st, const struct queue_record *recs, size_t n, char **err)
{
    MDB_txn *txn;
    int rc = 0;

    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val key, data;
        struct quota_record d = {recs[i].nrcpts, 0, 0};

        if (!id_ok(st, recs[i].id))
            continue;
        key = store_val_str(recs[i].id);
        rc = mdb_get(txn, st->queue, &key, &data);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = mdb_del(txn, st->queue, &key, NULL);
        if (rc == 0)
            rc = quota_change(st, txn, recs[i].target, recs[i].month, &d, -1);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "taking back spooled copies", err);
    }
    return store_txn_commit(st, txn, "taking back spooled copies", err);
}

int store_queue_get(struct store *st, const char *id, struct queue_record *r, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    int rc;

    memset(r, 0, sizeof(*r));
    if (!id_ok(st, id))
        return 0;
    key = store_val_str(id);
    rc = store_txn_get(st, MDB_RDONLY, st->queue, &key, &txn, &data, "reading a queue record", err);
    if (rc <= 0) {
        if (rc == 0)
            mdb_txn_abort(txn);
        return rc;
    }
    rc = decode(id, strlen(id), data.mv_data, data.mv_size, r);
    mdb_txn_abort(txn);
    if (rc < 0)
        return set_err(err, "store %s: the queue record of %s is corrupt", st->path, id);
    return 1;
}

int store_queue_list(struct store *st, struct queue_record **recs, size_t *n, char **err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val key, data;
    size_t cap = 0;
    int rc;

    *recs = NULL;
    *n = 0;
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0)
        return -1;
    if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "listing the queue", err);
    }
    while ((rc = mdb_cursor_get(cur, &key, &data, *n == 0 && cap == 0 ? MDB_FIRST : MDB_NEXT)) ==
           0) {
        struct queue_record r;

        if (cap == 0)
            cap = 16, *recs = xcalloc(cap, sizeof(**recs));
        if (decode(key.mv_data, key.mv_size, data.mv_data, data.mv_size, &r) < 0) {
            char *id = xstrndup(key.mv_data, key.mv_size);

            mdb_cursor_close(cur);
            mdb_txn_abort(txn);
            set_err(err, "store %s: the queue record of %s is corrupt", st->path, id);
            free(id);
            queue_records_free(*recs, *n);
            *recs = NULL;
            *n = 0;
            return -1;
        }
        if (*n == cap) {
            cap *= 2;
            *recs = xrealloc(*recs, cap * sizeof(**recs));
        }
        (*recs)[(*n)++] = r;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND) {
        queue_records_free(*recs, *n);
        *recs = NULL;
        *n = 0;
        return store_lmdb_err(st, rc, "listing the queue", err);
    }
    return 0;
}

int store_queue_put(struct store *st, const struct queue_record *r, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    char *v;
    int rc;

    if (!id_ok(st, r->id) || r->target == NULL)
        return set_err(err, "store %s: cannot record spool copy '%s'", st->path,
                       r->id ? r->id : "");
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    v = encode(r);
    key = store_val_str(r->id);
    data = store_val_str(v);
    rc = mdb_put(txn, st->queue, &key, &data, 0);
    free(v);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "writing a queue record", err);
    }
    return store_txn_commit(st, txn, "writing a queue record", err);
}

int store_queue_del(struct store *st, const char *id, const struct quota_record *outcome,
                    char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    struct queue_record r;
    int rc;

    if (!id_ok(st, id))
        return 0;
    key = store_val_str(id);
    rc = store_txn_get(st, 0, st->queue, &key, &txn, &data, "reading a queue record", err);
    if (rc <= 0) {
        if (rc == 0)
            mdb_txn_abort(txn);
        return rc;
    }
    rc = 0;
    if (outcome != NULL) {
        if (decode(id, strlen(id), data.mv_data, data.mv_size, &r) < 0) {
            mdb_txn_abort(txn);
            return set_err(err, "store %s: the queue record of %s is corrupt", st->path, id);
        }
        struct quota_record d = {0, outcome->delivered, outcome->bounced};

        rc = quota_change(st, txn, r.target, r.month, &d, 1);
        queue_record_free(&r);
    }
    if (rc == 0)
        rc = mdb_del(txn, st->queue, &key, NULL);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "removing a queue record", err);
    }
    return store_txn_commit(st, txn, "removing a queue record", err) < 0 ? -1 : 1;
}
