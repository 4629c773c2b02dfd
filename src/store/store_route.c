/*
 * store_route - the two route tables of the store: by recipient ("routes") and by envelope
 * sender ("sender_routes"), each MATCH -> target name with MATCH as route_normalise() makes
 * it. Lookups (one short read transaction, the keys of route_candidates() most specific
 * first), single changes, and what store.c's dump, load and target removal need of them.
 * A store made before the sender routes has no such database until it is first opened for
 * writing (store.c): read-only, such a store has no sender routes, and a lookup there misses.
 * Thread-safety: as store.c.
 */
#include "config.h"

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/util.h"

/* route_dbi - the database of table BY; false when the store has no sender routes yet */
static bool route_dbi(const struct store *st, enum route_by by, MDB_dbi *dbi)
{
    *dbi = by == ROUTE_BY_SENDER ? st->sender_routes : st->routes;
    return by != ROUTE_BY_SENDER || st->has_sender_routes;
}

int store_route_lookup(struct store *st, const char *rcpt, size_t len, char **target, char **rule,
                       char **err)
{
    return store_route_lookup_by(st, ROUTE_BY_RECIPIENT, rcpt, len, target, rule, err);
}

int store_route_lookup_by(struct store *st, enum route_by by, const char *rcpt, size_t len,
                          char **target, char **rule, char **err)
{
    char **keys = NULL;
    size_t nkeys = 0;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found = 0, rc;

    *target = NULL;
    if (rule)
        *rule = NULL;
    if (!route_dbi(st, by, &dbi))
        return 0;
    if (route_candidates(rcpt, len, &keys, &nkeys) < 0 || nkeys == 0) {
        route_candidates_free(keys, nkeys);
        return 0;
    }
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0) {
        route_candidates_free(keys, nkeys);
        return -1;
    }
    for (size_t i = 0; i < nkeys && found == 0; i++) {
        MDB_val key, data;

        if (!store_key_ok(st, keys[i], strlen(keys[i])))
            continue;
        key = store_val_str(keys[i]);
        rc = mdb_get(txn, dbi, &key, &data);
        if (rc == 0) {
            *target = xstrndup(data.mv_data, data.mv_size);
            if (rule)
                *rule = xstrdup(keys[i]);
            found = 1;
        } else if (rc != MDB_NOTFOUND) {
            store_lmdb_err(st, rc, "looking up a route", err);
            found = -1;
        }
    }
    mdb_txn_abort(txn);
    route_candidates_free(keys, nkeys);
    return found;
}

/* read_routes - every route CUR walks, appended to *R (*N of them) */
void store_read_routes(MDB_cursor *cur, struct route **r, size_t *n)
{
    MDB_val key, data;

    while (mdb_cursor_get(cur, &key, &data, MDB_NEXT) == 0) {
        struct route *e;

        *r = xrealloc(*r, (*n + 1) * sizeof(**r));
        e = &(*r)[(*n)++];
        e->match = xstrndup(key.mv_data, key.mv_size);
        e->target = xstrndup(data.mv_data, data.mv_size);
        e->line = 0;
    }
}

/* routes_naming_in - add to B the matches (PREFIX before each) of DBI's routes to TARGET; 0 or rc */
static int routes_naming_in(MDB_txn *txn, MDB_dbi dbi, const char *target, const char *prefix,
                            struct buf *b)
{
    MDB_cursor *cur;
    MDB_val key, data;
    size_t tlen = strlen(target);
    int rc = mdb_cursor_open(txn, dbi, &cur);

    if (rc != 0)
        return rc;
    while ((rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) == 0) {
        if (data.mv_size == tlen && memcmp(data.mv_data, target, tlen) == 0) {
            if (b->len)
                buf_puts(b, ", ");
            buf_puts(b, prefix);
            buf_append(b, key.mv_data, key.mv_size);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* routes_naming - the matches of every route (of both tables) that names TARGET, or NULL */
char *store_routes_naming(struct store *st, MDB_txn *txn, const char *target, int *rcp)
{
    struct buf b;

    buf_init(&b);
    *rcp = routes_naming_in(txn, st->routes, target, "", &b);
    if (*rcp == 0 && st->has_sender_routes)
        *rcp = routes_naming_in(txn, st->sender_routes, target, "--sender ", &b);
    if (*rcp != 0 || b.len == 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

int store_route_put(struct store *st, const char *match, const char *target, char **err)
{
    return store_route_put_by(st, ROUTE_BY_RECIPIENT, match, target, err);
}

int store_route_put_by(struct store *st, enum route_by by, const char *match, const char *target,
                       char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    MDB_dbi dbi;
    char *norm;
    int rc;

    if (!route_dbi(st, by, &dbi))
        return set_err(err, "store %s has no sender routes: open it for writing", st->path);
    if ((norm = route_normalise(match, err)) == NULL)
        return -1;
    if (!store_key_ok(st, norm, strlen(norm))) {
        free(norm);
        return set_err(err, "route match is too long for the store (at most %d bytes)",
                       mdb_env_get_maxkeysize(st->env));
    }
    if (store_txn_begin(st, 0, &txn, err) < 0) {
        free(norm);
        return -1;
    }
    key = store_val_str(target);
    rc = store_key_ok(st, target, strlen(target)) ? mdb_get(txn, st->targets, &key, &data) : MDB_NOTFOUND;
    if (rc != 0) {
        mdb_txn_abort(txn);
        free(norm);
        if (rc == MDB_NOTFOUND)
            return set_err(err, "target '%s' does not exist: add it first with 'byosmtpctl "
                           "target add %s ...'", target, target);
        return store_lmdb_err(st, rc, "reading a target", err);
    }
    key = store_val_str(norm);
    data = store_val_str(target);
    rc = mdb_put(txn, dbi, &key, &data, 0);
    free(norm);
    return store_txn_end(st, txn, rc, "writing a route", err);
}

/* route_del_key - remove the route of DBI stored under the normalised NORM; 1, 0 (none), -1 */
static int route_del_key(struct store *st, MDB_dbi dbi, const char *norm, char **err)
{
    MDB_txn *txn;
    MDB_val key = store_val_str(norm);
    int rc;

    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    rc = mdb_del(txn, dbi, &key, NULL);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return 0;
    }
    return store_txn_end(st, txn, rc, "removing a route", err) < 0 ? -1 : 1;
}

int store_route_del(struct store *st, const char *match, char **err)
{
    return store_route_del_by(st, ROUTE_BY_RECIPIENT, match, err);
}

int store_route_del_by(struct store *st, enum route_by by, const char *match, char **err)
{
    char *norm = route_normalise(match, err);
    MDB_dbi dbi;
    int rc = 0;

    if (norm == NULL)
        return -1;
    /* a longer one was never stored, nor anything in a table the store does not have */
    if (route_dbi(st, by, &dbi) && store_key_ok(st, norm, strlen(norm)))
        rc = route_del_key(st, dbi, norm, err);
    free(norm);
    return rc;
}

/* put_routes - write the N routes R into DBI inside TXN; 0, or -1 with *err */
int store_put_routes(struct store *st, MDB_txn *txn, MDB_dbi dbi, const struct route *r,
                      size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        MDB_val key = store_val_str(r[i].match), data = store_val_str(r[i].target);
        int rc;

        if (!store_key_ok(st, key.mv_data, key.mv_size))
            return set_err(err, "route match '%s' is too long for the store", r[i].match);
        if ((rc = mdb_put(txn, dbi, &key, &data, 0)) != 0)
            return store_lmdb_err(st, rc, "writing routes", err);
    }
    return 0;
}
