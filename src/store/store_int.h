/*
 * store_int - what the store's own source files share (store.c, and the files that add a
 * database's functions, such as the queue records). Not for use outside src/store*.c.
 */
#ifndef BYOSMTP_STORE_INT_H
#define BYOSMTP_STORE_INT_H

#include <lmdb.h>

#include "store/store.h"

struct store {
    char *path;
    size_t map_size;
    MDB_env *env;
    MDB_dbi meta, targets, routes, verify, quota, queue;
    MDB_dbi sender_routes;
    bool has_sender_routes; /* false: a store made before sender routes, opened read-only */
};

/* store_lmdb_err - set *err to an LMDB error in admin words (MAP_FULL names the setting); -1 */
int store_lmdb_err(struct store *st, int rc, const char *doing, char **err);
/* store_txn_begin - begin a transaction, adopting a map another process has grown; 0 or -1 */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **txn, char **err);
/* store_txn_commit - commit, or report why not (the transaction is gone either way); 0 or -1 */
int store_txn_commit(struct store *st, MDB_txn *txn, const char *doing, char **err);
/* store_txn_end - commit when RC (the last LMDB call's result) is 0, else abort and report it */
int store_txn_end(struct store *st, MDB_txn *txn, int rc, const char *doing, char **err);
/* store_quota_key - the quota database's key for NAME in MONTH: "NAME/YYYY-MM" (caller frees) */
char *store_quota_key(const char *name, const char *month);
/* store_key_ok - can LMDB hold these N bytes as a key (not empty, no NUL, within the limit)? */
bool store_key_ok(struct store *st, const char *k, size_t n);
/* store_val_str - an MDB_val pointing at a C string (without its NUL) */
MDB_val store_val_str(const char *s);
/*
 * store_txn_get - begin a transaction (FLAGS as store_txn_begin) and look KEY up in DBI: 1 found
 * (DATA set) or 0 not found, the transaction open either way for the caller to end; -1 with
 * *err ("reading WHAT"), the transaction already ended.
 */
int store_txn_get(struct store *st, unsigned flags, MDB_dbi dbi, const MDB_val *key, MDB_txn **txn,
                  MDB_val *data, const char *what, char **err);

/* ---- store_route.c ---- */
/* store_read_routes - append every route the cursor CUR walks to *R (*N of them) */
void store_read_routes(MDB_cursor *cur, struct route **r, size_t *n);
/*
 * store_routes_naming - the matches of every route of both tables that names TARGET, joined
 * by ", " (a sender route as "--sender MATCH"), or NULL when none (*rcp 0) or on an LMDB error
 * (*rcp the error)
 */
char *store_routes_naming(struct store *st, MDB_txn *txn, const char *target, int *rcp);
/* store_put_routes - write the N routes R into DBI inside TXN; 0, or -1 with *err */
int store_put_routes(struct store *st, MDB_txn *txn, MDB_dbi dbi, const struct route *r,
                     size_t n, char **err);

#endif
