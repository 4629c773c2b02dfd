/*
 * store - targets, routes, verification results and quota records in one LMDB environment.
 *
 * The handle is shared by all threads of the process that opened it: the MDB_env and the
 * database handles are read-only after store_open(), and every call runs its own short
 * transaction (MDB_NOTLS: a reader slot belongs to the transaction, not to the thread).
 */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/msg.h"
#include "util/util.h"


#define ATTEMPTS_SUFFIX "\x01" "attempts"
#define MAX_ATTEMPTS_KEPT 64

/* store_lmdb_err - an LMDB error in admin words; MAP_FULL says which setting to raise */
int store_lmdb_err(struct store *st, int rc, const char *doing, char **err)
{
    if (rc == MDB_MAP_FULL)
        return set_err(err, "store %s is full (store.map_size = %zu bytes) while %s: raise "
                       "store.map_size in byosmtp.conf; nothing was changed", st->path,
                       st->map_size, doing);
    if (rc == MDB_READERS_FULL)
        return set_err(err, "store %s: too many concurrent readers while %s: retry; if it "
                       "persists, stale processes hold the store (run mdb_stat -r %s)",
                       st->path, doing, st->path);
    /* After a failed write of its meta page LMDB refuses every later transaction of this
     * environment: only a new process can open it again. byosmtpd's supervisor (delivery) and
     * systemd's Restart= (milter) restart us; what was committed is on disk, and a copy whose
     * commit was cut short is put right by the recovery at start. */
    if (rc == MDB_PANIC)
        msg_fatal("store %s: LMDB cannot go on after a failed write (%s while %s); exiting so "
                  "that a restart opens the store again: check the disk and the kernel log",
                  st->path, mdb_strerror(rc), doing);
    return set_err(err, "store %s: %s while %s", st->path, mdb_strerror(rc), doing);
}

/* store_txn_begin - begin a transaction, adopting a map that another process has grown */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **txn, char **err)
{
    int rc = mdb_txn_begin(st->env, NULL, flags, txn);

    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(st->env, 0);
        rc = mdb_txn_begin(st->env, NULL, flags, txn);
    }
    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a transaction", err);
    return 0;
}

/* store_txn_commit - commit, or report why not (the transaction is gone either way) */
int store_txn_commit(struct store *st, MDB_txn *txn, const char *doing, char **err)
{
    int rc = mdb_txn_commit(txn);

    return rc == 0 ? 0 : store_lmdb_err(st, rc, doing, err);
}

/* store_txn_end - commit when RC (the last LMDB call's result) is 0, else abort and report */
int store_txn_end(struct store *st, MDB_txn *txn, int rc, const char *doing, char **err)
{
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, doing, err);
    }
    return store_txn_commit(st, txn, doing, err);
}

/* store_key_ok - can LMDB hold these bytes as a key? (never empty, no NUL, within the size limit) */
bool store_key_ok(struct store *st, const char *k, size_t n)
{
    return n > 0 && n <= (size_t)mdb_env_get_maxkeysize(st->env) && memchr(k, '\0', n) == NULL;
}

MDB_val store_val_str(const char *s)
{
    MDB_val v = {.mv_size = strlen(s), .mv_data = (void *)s};

    return v;
}

int store_txn_get(struct store *st, unsigned flags, MDB_dbi dbi, const MDB_val *key, MDB_txn **txn,
                  MDB_val *data, const char *what, char **err)
{
    MDB_val k = *key;
    int rc;

    if (store_txn_begin(st, flags, txn, err) < 0)
        return -1;
    rc = mdb_get(*txn, dbi, &k, data);
    if (rc == 0)
        return 1;
    if (rc == MDB_NOTFOUND)
        return 0;
    mdb_txn_abort(*txn);
    *txn = NULL;
    return store_lmdb_err(st, rc, what, err);
}

/* open_sender_routes - the sender routes, which a store made before them lacks: 0 then too */
static int open_sender_routes(struct store *st, MDB_txn *txn, unsigned dflags)
{
    int rc = mdb_dbi_open(txn, "sender_routes", dflags, &st->sender_routes);

    st->has_sender_routes = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* add_sender_routes - create the sender routes in a store made before them (schema 1 still) */
static int add_sender_routes(struct store *st, char **err)
{
    MDB_txn *txn;
    int rc;

    if (st->has_sender_routes)
        return 0;
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    if ((rc = open_sender_routes(st, txn, MDB_CREATE)) != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "adding the sender routes to the store", err);
    }
    return store_txn_commit(st, txn, "adding the sender routes to the store", err);
}

/* open_dbs - open (or create) the databases and check the schema version */
static int open_dbs(struct store *st, bool create, char **err)
{
    MDB_txn *txn;
    unsigned dflags = create ? MDB_CREATE : 0;
    MDB_val key = store_val_str("schema"), data;
    int rc;

    if (store_txn_begin(st, create ? 0 : MDB_RDONLY, &txn, err) < 0)
        return -1;
    if ((rc = mdb_dbi_open(txn, "meta", dflags, &st->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "targets", dflags, &st->targets)) != 0 ||
        (rc = mdb_dbi_open(txn, "routes", dflags, &st->routes)) != 0 ||
        (rc = mdb_dbi_open(txn, "verify", dflags, &st->verify)) != 0 ||
        (rc = mdb_dbi_open(txn, "quota", dflags, &st->quota)) != 0 ||
        (rc = mdb_dbi_open(txn, "queue", dflags, &st->queue)) != 0 ||
        (rc = open_sender_routes(st, txn, dflags)) != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return set_err(err, "store %s is not initialised: create it with 'byosmtpctl load "
                           "FILE' or 'byosmtpctl target add'", st->path);
        return store_lmdb_err(st, rc, "opening the databases", err);
    }
    rc = mdb_get(txn, st->meta, &key, &data);
    if (rc == MDB_NOTFOUND && create) {
        char version[16];

        snprintf(version, sizeof(version), "%d", STORE_SCHEMA);
        data = store_val_str(version);
        if ((rc = mdb_put(txn, st->meta, &key, &data, 0)) != 0) {
            mdb_txn_abort(txn);
            return store_lmdb_err(st, rc, "writing the schema version", err);
        }
        return store_txn_commit(st, txn, "creating the store", err);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return set_err(err, "store %s has no schema version: it was not made by byosmtpctl",
                           st->path);
        return store_lmdb_err(st, rc, "reading the schema version", err);
    }
    if (data.mv_size != 1 || ((char *)data.mv_data)[0] != '0' + STORE_SCHEMA) {
        char *found = xstrndup(data.mv_data, data.mv_size > 16 ? 16 : data.mv_size);

        mdb_txn_abort(txn);
        set_err(err, "store %s has schema version '%s'; this byosmtp reads version %d: use the "
                "byosmtp that wrote it, or rebuild the store with 'byosmtpctl load'", st->path,
                found, STORE_SCHEMA);
        free(found);
        return -1;
    }
    /* Committing, even read-only, is what keeps the database handles open after the transaction. */
    return store_txn_commit(st, txn, "opening the store", err);
}

int store_give(const char *path, uid_t uid, gid_t gid, char **err)
{
    static const char *const files[] = {"", "/data.mdb", "/lock.mdb"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *f = xasprintf("%s%s", path, files[i]);
        int rc = lchown(f, uid, gid);

        if (rc < 0 && errno != ENOENT) {
            set_err(err, "store %s: cannot give %s to uid %lu: %s", path, f, (unsigned long)uid,
                    strerror(errno));
            free(f);
            return -1;
        }
        free(f);
    }
    return 0;
}

int store_open(const char *path, size_t map_size, enum store_mode mode, struct store **out,
               char **err)
{
    struct store *st;
    struct stat sb;
    char datafile[4096];
    int rc;

    *out = NULL;
    if (mode == STORE_CREATE && mkdir(path, 0700) < 0 && errno != EEXIST)
        return set_err(err, "store %s: cannot create the directory: %s", path, strerror(errno));
    if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return set_err(err, "store %s is not initialised: create it with 'byosmtpctl load FILE' "
                       "or 'byosmtpctl target add' (or set store.path in byosmtp.conf)", path);
    snprintf(datafile, sizeof(datafile), "%s/data.mdb", path);
    if (mode != STORE_CREATE && stat(datafile, &sb) < 0)
        return set_err(err, "store %s is not initialised: create it with 'byosmtpctl load FILE' "
                       "or 'byosmtpctl target add'", path);

    st = xcalloc(1, sizeof(*st));
    st->path = xstrdup(path);
    st->map_size = map_size;
    if ((rc = mdb_env_create(&st->env)) != 0 || (rc = mdb_env_set_maxdbs(st->env, 16)) != 0 ||
        (rc = mdb_env_set_maxreaders(st->env, 1024)) != 0 ||
        (rc = mdb_env_set_mapsize(st->env, map_size)) != 0 ||
        (rc = mdb_env_open(st->env, path, MDB_NOTLS, 0600)) != 0) {
        if (rc == EACCES)
            set_err(err, "store %s: permission denied: run as the user that owns it (or root)",
                    path);
        else
            store_lmdb_err(st, rc, "opening the environment", err);
        store_close(st);
        return -1;
    }
    if (open_dbs(st, mode == STORE_CREATE, err) < 0 ||
        (mode != STORE_READ && add_sender_routes(st, err) < 0)) {
        store_close(st);
        return -1;
    }
    /* root (byosmtpctl) writing a store that belongs to byosmtpd's user: keep the files its own */
    if (mode != STORE_READ && geteuid() == 0 && stat(path, &sb) == 0 && sb.st_uid != 0 &&
        store_give(path, sb.st_uid, sb.st_gid, err) < 0) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    if (st->env)
        mdb_env_close(st->env);
    free(st->path);
    free(st);
}

const char *store_path(const struct store *st)
{
    return st->path;
}

/* get_target - read and decode one target inside TXN: 1, 0 or -1 */
static int get_target(struct store *st, MDB_txn *txn, const char *name, struct target *t,
                      char **err)
{
    MDB_val key, data;
    int rc;

    if (!store_key_ok(st, name, strlen(name)))
        return 0;
    key = store_val_str(name);
    rc = mdb_get(txn, st->targets, &key, &data);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a target", err);
    if (target_decode(name, data.mv_data, data.mv_size, t, err) < 0)
        return -1;
    return 1;
}

int store_target_get(struct store *st, const char *name, struct target *t, char **err)
{
    MDB_txn *txn;
    int rc;

    memset(t, 0, sizeof(*t));
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0)
        return -1;
    rc = get_target(st, txn, name, t, err);
    mdb_txn_abort(txn);
    return rc;
}

int store_get_all(struct store *st, struct target_set *set, char **err)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, ret = -1;

    memset(set, 0, sizeof(*set));
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0)
        return -1;
    if ((rc = mdb_cursor_open(txn, st->targets, &cur)) != 0) {
        store_lmdb_err(st, rc, "listing targets", err);
        goto out;
    }
    while ((rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) == 0) {
        char *name = xstrndup(key.mv_data, key.mv_size);
        struct target *t;

        set->targets = xrealloc(set->targets, (set->ntargets + 1) * sizeof(*set->targets));
        t = &set->targets[set->ntargets];
        rc = target_decode(name, data.mv_data, data.mv_size, t, err);
        free(name);
        if (rc < 0)
            goto out;
        set->ntargets++;
    }
    mdb_cursor_close(cur);
    if ((rc = mdb_cursor_open(txn, st->routes, &cur)) != 0) {
        cur = NULL;
        store_lmdb_err(st, rc, "listing routes", err);
        goto out;
    }
    store_read_routes(cur, &set->routes, &set->nroutes);
    mdb_cursor_close(cur);
    cur = NULL;
    if (st->has_sender_routes) {
        if ((rc = mdb_cursor_open(txn, st->sender_routes, &cur)) != 0) {
            cur = NULL;
            store_lmdb_err(st, rc, "listing sender routes", err);
            goto out;
        }
        store_read_routes(cur, &set->sender_routes, &set->nsender_routes);
    }
    ret = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (ret < 0)
        target_set_free(set);
    return ret;
}

/* put_target - write T's record inside TXN; drop its verification result if the record changed */
static int put_target(struct store *st, MDB_txn *txn, const struct target *t, char **err)
{
    size_t len;
    char *rec = target_encode(t, &len);
    MDB_val key = store_val_str(t->name), data, old;
    int rc;

    rc = mdb_get(txn, st->targets, &key, &old);
    if (rc == 0 && (old.mv_size != len || memcmp(old.mv_data, rec, len) != 0)) {
        rc = mdb_del(txn, st->verify, &key, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            free(rec);
            return store_lmdb_err(st, rc, "dropping a stale verification result", err);
        }
    }
    data.mv_size = len;
    data.mv_data = rec;
    rc = mdb_put(txn, st->targets, &key, &data, 0);
    wipe(rec, len);
    free(rec);
    if (rc != 0)
        return store_lmdb_err(st, rc, "writing a target", err);
    return 0;
}

int store_target_put(struct store *st, const struct target *t, bool must_exist, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    int rc;

    if (target_validate(t, err) < 0)
        return -1;
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    key = store_val_str(t->name);
    rc = mdb_get(txn, st->targets, &key, &data);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "reading a target", err);
    }
    if (must_exist && rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return set_err(err, "target '%s' does not exist: add it with 'byosmtpctl target add'",
                       t->name);
    }
    if (!must_exist && rc == 0) {
        mdb_txn_abort(txn);
        return set_err(err, "target '%s' exists already: change it with 'byosmtpctl target set "
                       "%s ...'", t->name, t->name);
    }
    if (put_target(st, txn, t, err) < 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    return store_txn_commit(st, txn, "writing a target", err);
}

/* drop_verify - forget NAME's verification result and attempt times */
static int drop_verify(struct store *st, MDB_txn *txn, const char *name)
{
    char *k = xasprintf("%s%s", name, ATTEMPTS_SUFFIX);
    MDB_val key = store_val_str(name);
    int rc = mdb_del(txn, st->verify, &key, NULL);

    if (rc == 0 || rc == MDB_NOTFOUND) {
        key = store_val_str(k);
        rc = store_key_ok(st, k, strlen(k)) ? mdb_del(txn, st->verify, &key, NULL) : 0;
    }
    free(k);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_target_del(struct store *st, const char *name, char **err)
{
    MDB_txn *txn;
    MDB_val key;
    char *used;
    int rc;

    if (!store_key_ok(st, name, strlen(name)))
        return set_err(err, "target '%s' does not exist (see 'byosmtpctl target list')", name);
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    used = store_routes_naming(st, txn, name, &rc);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "checking routes", err);
    }
    if (used != NULL) {
        mdb_txn_abort(txn);
        set_err(err, "target '%s' is still used by routes %s: remove them first with "
                "'byosmtpctl route rm [--sender] MATCH'", name, used);
        free(used);
        return -1;
    }
    key = store_val_str(name);
    rc = mdb_del(txn, st->targets, &key, NULL);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return set_err(err, "target '%s' does not exist (see 'byosmtpctl target list')", name);
    }
    if (rc == 0)
        rc = drop_verify(st, txn, name);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "removing a target", err);
    }
    return store_txn_commit(st, txn, "removing a target", err);
}

/* set_has_target - does SET define a target called NAME? */
static bool set_has_target(const struct target_set *set, const char *name, size_t len)
{
    for (size_t i = 0; i < set->ntargets; i++)
        if (strlen(set->targets[i].name) == len && memcmp(set->targets[i].name, name, len) == 0)
            return true;
    return false;
}

/* drop_missing - delete every key of DBI that SET does not define as a target (targets, verify) */
static int drop_missing(struct store *st, MDB_txn *txn, MDB_dbi dbi, const struct target_set *set)
{
    MDB_cursor *cur;
    MDB_val key, data;
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return rc;
    while ((rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) == 0) {
        size_t n = key.mv_size;
        const char *k = key.mv_data;
        const char *sep = memchr(k, '\x01', n);

        if (sep != NULL)
            n = (size_t)(sep - k);
        if (!set_has_target(set, k, n) && (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_replace_all(struct store *st, const struct target_set *set, char **err)
{
    MDB_txn *txn;
    int rc;

    for (size_t i = 0; i < set->nroutes; i++)
        if (!set_has_target(set, set->routes[i].target, strlen(set->routes[i].target)))
            return set_err(err, "route '%s' names target '%s', which is not defined",
                           set->routes[i].match, set->routes[i].target);
    for (size_t i = 0; i < set->nsender_routes; i++)
        if (!set_has_target(set, set->sender_routes[i].target,
                            strlen(set->sender_routes[i].target)))
            return set_err(err, "sender route '%s' names target '%s', which is not defined",
                           set->sender_routes[i].match, set->sender_routes[i].target);
    if (!st->has_sender_routes)
        return set_err(err, "store %s has no sender routes: open it for writing", st->path);
    if (store_txn_begin(st, 0, &txn, err) < 0)
        return -1;
    if ((rc = drop_missing(st, txn, st->targets, set)) != 0 ||
        (rc = drop_missing(st, txn, st->verify, set)) != 0 ||
        (rc = mdb_drop(txn, st->routes, 0)) != 0 ||
        (rc = mdb_drop(txn, st->sender_routes, 0)) != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(st, rc, "replacing targets and routes", err);
    }
    for (size_t i = 0; i < set->ntargets; i++) {
        if (!store_key_ok(st, set->targets[i].name, strlen(set->targets[i].name))) {
            mdb_txn_abort(txn);
            return set_err(err, "target name '%s' cannot be stored", set->targets[i].name);
        }
        if (put_target(st, txn, &set->targets[i], err) < 0) {
            mdb_txn_abort(txn);
            return -1;
        }
    }
    if (store_put_routes(st, txn, st->routes, set->routes, set->nroutes, err) < 0 ||
        store_put_routes(st, txn, st->sender_routes, set->sender_routes, set->nsender_routes, err) < 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    return store_txn_commit(st, txn, "replacing targets and routes", err);
}

/* store_quota_key - "NAME/YYYY-MM" */
char *store_quota_key(const char *name, const char *month)
{
    return xasprintf("%s/%s", name, month);
}

int store_quota_get(struct store *st, const char *name, const char *month, struct quota_record *q,
                    char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    char *k = store_quota_key(name, month);
    int rc;

    memset(q, 0, sizeof(*q));
    if (!store_key_ok(st, k, strlen(k))) {
        free(k);
        return 0;
    }
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0) {
        free(k);
        return -1;
    }
    key = store_val_str(k);
    rc = mdb_get(txn, st->quota, &key, &data);
    if (rc == 0 && data.mv_size == sizeof(*q))
        memcpy(q, data.mv_data, sizeof(*q));
    mdb_txn_abort(txn);
    free(k);
    if (rc == 0 && data.mv_size != sizeof(*q))
        return set_err(err, "store %s: the quota record of '%s' for %s is corrupt", st->path,
                       name, month);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_lmdb_err(st, rc, "reading a quota record", err);
    return 0;
}

int store_quota_add(struct store *st, const char *name, const char *month,
                    const struct quota_record *delta, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    struct quota_record q = {0, 0, 0};
    char *k = store_quota_key(name, month);
    int rc = -1;

    if (!store_key_ok(st, k, strlen(k))) {
        rc = set_err(err, "target name '%s' cannot be stored", name);
        goto out;
    }
    key = store_val_str(k);
    switch (store_txn_get(st, 0, st->quota, &key, &txn, &data, "reading a quota record", err)) {
    case -1:
        goto out;
    case 1:
        if (data.mv_size == sizeof(q))
            memcpy(&q, data.mv_data, sizeof(q));
        break;
    }
    q.accepted += delta->accepted;
    q.delivered += delta->delivered;
    q.bounced += delta->bounced;
    data.mv_size = sizeof(q);
    data.mv_data = &q;
    rc = store_txn_end(st, txn, mdb_put(txn, st->quota, &key, &data, 0), "writing a quota record",
                       err);
out:
    free(k);
    return rc;
}

void store_month(int64_t t, char buf[8])
{
    time_t tt = (time_t)t;
    struct tm tm;

    char tmp[32];

    gmtime_r(&tt, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    memcpy(buf, tmp, 7);
    buf[7] = '\0';
}

void verify_result_free(struct verify_result *v)
{
    free(v->error_class);
    free(v->reply);
    free(v->tls);
    free(v->cert_subject);
    free(v->auth_mech);
    memset(v, 0, sizeof(*v));
}

/* verify_field - the value of "KEY=" in a "v=1\nkey=value\n" record, as a new string ("" if none) */
static char *verify_field(const char *rec, size_t len, const char *keyname)
{
    size_t kl = strlen(keyname);
    const char *p = rec, *end = rec + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;

        if ((size_t)(eol - p) > kl && memcmp(p, keyname, kl) == 0 && p[kl] == '=')
            return xstrndup(p + kl + 1, (size_t)(eol - p - (ptrdiff_t)kl - 1));
        p = eol + 1;
    }
    return xstrdup("");
}

/* one_line - S with any CR or LF turned into a space, so a record line stays one line; unlike
 * text_line() it keeps UTF-8 (a certificate subject may hold it) and the exact spacing */
static char *one_line(const char *s)
{
    char *d = xstrdup(s ? s : "");

    for (char *p = d; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    return d;
}

int store_verify_put(struct store *st, const char *name, const struct verify_result *v,
                     char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    struct buf b;
    char *fields[5];
    int rc;

    if (!store_key_ok(st, name, strlen(name)))
        return set_err(err, "target '%s' does not exist", name);
    fields[0] = one_line(v->error_class);
    fields[1] = one_line(v->reply);
    fields[2] = one_line(v->tls);
    fields[3] = one_line(v->cert_subject);
    fields[4] = one_line(v->auth_mech);
    buf_init(&b);
    buf_printf(&b, "v=1\ntime=%lld\nok=%d\nclass=%s\nreply=%s\ntls=%s\ncert=%s\nauth=%s\n",
               (long long)v->time, v->ok ? 1 : 0, fields[0], fields[1], fields[2], fields[3],
               fields[4]);
    for (int i = 0; i < 5; i++)
        free(fields[i]);
    if (store_txn_begin(st, 0, &txn, err) < 0) {
        buf_free(&b);
        return -1;
    }
    key = store_val_str(name);
    data.mv_size = b.len;
    data.mv_data = b.data;
    rc = mdb_put(txn, st->verify, &key, &data, 0);
    buf_free(&b);
    return store_txn_end(st, txn, rc, "writing a verification result", err);
}

int store_verify_get(struct store *st, const char *name, struct verify_result *v, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    int rc;

    memset(v, 0, sizeof(*v));
    if (!store_key_ok(st, name, strlen(name)))
        return 0;
    if (store_txn_begin(st, MDB_RDONLY, &txn, err) < 0)
        return -1;
    key = store_val_str(name);
    rc = mdb_get(txn, st->verify, &key, &data);
    if (rc == 0) {
        const char *rec = data.mv_data;
        size_t len = data.mv_size;
        char *t = verify_field(rec, len, "time"), *ok = verify_field(rec, len, "ok");

        v->time = strtoll(t, NULL, 10);
        v->ok = strcmp(ok, "1") == 0;
        free(t);
        free(ok);
        v->error_class = verify_field(rec, len, "class");
        v->reply = verify_field(rec, len, "reply");
        v->tls = verify_field(rec, len, "tls");
        v->cert_subject = verify_field(rec, len, "cert");
        v->auth_mech = verify_field(rec, len, "auth");
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a verification result", err);
    return 1;
}

int store_verify_attempt(struct store *st, const char *name, int64_t now, int max, int window,
                         int64_t *next_allowed, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    int64_t kept[MAX_ATTEMPTS_KEPT];
    size_t nkept = 0;
    char *k = xasprintf("%s%s", name, ATTEMPTS_SUFFIX);
    int rc, allowed;

    *next_allowed = 0;
    if (max > MAX_ATTEMPTS_KEPT)
        max = MAX_ATTEMPTS_KEPT;
    if (!store_key_ok(st, k, strlen(k))) {
        free(k);
        return set_err(err, "target '%s' does not exist", name);
    }
    key = store_val_str(k);
    rc = store_txn_get(st, 0, st->verify, &key, &txn, &data, "reading verification attempts", err);
    if (rc < 0) {
        free(k);
        return -1;
    }
    if (rc == 1) {
        size_t n = data.mv_size / sizeof(int64_t);
        const unsigned char *p = data.mv_data;

        for (size_t i = 0; i < n && nkept < MAX_ATTEMPTS_KEPT; i++) {
            int64_t t;

            memcpy(&t, p + i * sizeof(t), sizeof(t));
            if (t > now - window && t <= now)
                kept[nkept++] = t;
        }
    }
    allowed = (int)nkept < max;
    if (!allowed) {
        int64_t oldest = kept[0];

        for (size_t i = 1; i < nkept; i++)
            if (kept[i] < oldest)
                oldest = kept[i];
        *next_allowed = oldest + window;
        mdb_txn_abort(txn);
        free(k);
        return 0;
    }
    kept[nkept++] = now;
    data.mv_size = nkept * sizeof(int64_t);
    data.mv_data = kept;
    rc = mdb_put(txn, st->verify, &key, &data, 0);
    free(k);
    return store_txn_end(st, txn, rc, "recording a verification attempt", err) < 0 ? -1 : 1;
}
