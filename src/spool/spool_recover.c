/*
 * spool_recover - make the spool and the store's queue records agree again after a crash at
 * any point of the milter's commit sequence or of delivery (doc/spool.md, "Recovery").
 *
 * The rule: a copy is accepted exactly when its store record exists (store_queue_commit is the
 * commit point). So a copy file without a record in incoming/ was never accepted (the MTA still
 * holds the message and retries) and is removed; a committed copy still in incoming/ is moved
 * forward to queue/; a torn or unreadable file is moved to corrupt/, never deleted.
 * Runs single-threaded at start, before the milter listens and before delivery starts.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/msg.h"
#include "spool/spool.h"
#include "store/store.h"

/* has_suffix - does NAME end in SUFFIX, with an id before it? */
static bool id_with_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    char id[SPOOL_ID_LEN + 1];

    if (n != SPOOL_ID_LEN + s || strcmp(name + SPOOL_ID_LEN, suffix) != 0)
        return false;
    memcpy(id, name, SPOOL_ID_LEN);
    id[SPOOL_ID_LEN] = '\0';
    return spool_valid_id(id);
}

/* list_dir - the names in PATH except . and .., sorted; 0 or -1 with *err */
static int list_dir(const char *path, char ***names, size_t *n, char **err)
{
    if (dir_list(path, NULL, names, n) == 0)
        return 0;
    return set_err(err, "spool %s: cannot list: %s", path, strerror(errno));
}

/* remove_file - unlink DIR/NAME; 0 or -1 with *err */
static int remove_file(const char *dir, const char *name, char **err)
{
    char *p = xasprintf("%s/%s", dir, name);
    int rc = 0;

    if (unlink(p) < 0 && errno != ENOENT)
        rc = set_err(err, "%s: cannot remove: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* recover_incoming - leftovers of receptions and of copies written before or after the commit */
static int recover_incoming(struct spool *sp, struct store *st, struct spool_recovery *r,
                            char **err)
{
    char *dir = xasprintf("%s/incoming", spool_path(sp)), *qdir = NULL, **names;
    size_t n;
    int rc = -1;

    if (list_dir(dir, &names, &n, err) < 0) {
        free(dir);
        return -1;
    }
    qdir = xasprintf("%s/queue", spool_path(sp));
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];

        if (id_with_suffix(name, ".rcv") || id_with_suffix(name, ".probe")) {
            /* A message still being received: the MTA had no answer, it keeps the message. */
            if (remove_file(dir, name, err) < 0)
                goto out;
            msg_info("recovery: removed unfinished reception incoming/%s", name);
            r->discarded++;
        } else if (id_with_suffix(name, ".state.tmp")) {
            /* An interrupted state update: the previous ID.state is still whole. */
            if (remove_file(dir, name, err) < 0)
                goto out;
        } else if (spool_valid_id(name)) {
            struct queue_record q;
            struct spool_copy *c = NULL;
            char *why = NULL;
            int got = store_queue_get(st, name, &q, err), ok;

            if (got < 0)
                goto out;
            if (got == 0) {
                if (remove_file(dir, name, err) < 0)
                    goto out;
                msg_info("recovery: removed uncommitted copy incoming/%s (the MTA was not "
                         "answered and keeps the message)", name);
                r->discarded++;
                continue;
            }
            queue_record_free(&q);
            ok = spool_copy_open(sp, "incoming", name, &c, &why);
            spool_copy_close(c);
            if (ok == SPOOL_CORRUPT) {
                if (spool_move_corrupt(sp, "incoming", name, why, err) < 0) {
                    free(why);
                    goto out;
                }
                free(why);
                r->corrupt++;
                continue;
            }
            if (ok < 0) {
                set_err(err, "%s", why);
                free(why);
                goto out;
            }
            free(why);
            char *from = xasprintf("%s/%s", dir, name), *to = xasprintf("%s/%s", qdir, name);

            if (rename(from, to) < 0) {
                set_err(err, "recovery: cannot move %s to %s: %s", from, to, strerror(errno));
                free(from);
                free(to);
                goto out;
            }
            free(from);
            free(to);
            if (spool_sync_queue(sp, err) < 0)
                goto out;
            msg_info("recovery: committed copy %s moved from incoming/ to queue/", name);
            r->rolled_forward++;
        } else {
            msg_warn("recovery: incoming/%s is not a spool file; left alone", name);
        }
    }
    rc = spool_sync_incoming(sp, err);
out:
    spool_list_free(names, n);
    free(dir);
    free(qdir);
    return rc;
}

/* recover_queue - check every copy and state file in queue/ */
static int recover_queue(struct spool *sp, struct store *st, struct spool_recovery *r, char **err)
{
    char *dir = xasprintf("%s/queue", spool_path(sp)), **names;
    size_t n;
    int rc = -1;

    if (list_dir(dir, &names, &n, err) < 0) {
        free(dir);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        struct spool_copy *c = NULL;
        struct spool_state sst;
        struct queue_record q;
        char *why = NULL;
        int ok, got;

        if (!spool_valid_id(name))
            continue;
        ok = spool_copy_open(sp, "queue", name, &c, &why);
        if (ok == SPOOL_CORRUPT) {
            int mv = spool_move_corrupt(sp, "queue", name, why, err);

            free(why);
            if (mv < 0)
                goto out;
            r->corrupt++;
            continue;
        }
        if (ok <= 0) {
            /* 0: removed meanwhile (nobody else runs now, so an I/O error really). */
            if (ok == 0)
                set_err(err, "recovery: queue/%s vanished while being read", name);
            else
                set_err(err, "%s", why);
            free(why);
            goto out;
        }
        free(why);
        why = NULL;
        got = store_queue_get(st, name, &q, err);
        if (got < 0) {
            spool_copy_close(c);
            goto out;
        }
        if (got == 0) {
            struct queue_record nq = {.id = (char *)name, .target = c->env.target,
                                      .nrcpts = (uint32_t)c->env.nrcpts,
                                      .arrival = c->env.arrival,
                                      .mta_queue_id = c->env.mta_queue_id};

            store_month(c->env.arrival, nq.month);
            if (store_queue_put(st, &nq, err) < 0) {
                spool_copy_close(c);
                goto out;
            }
            msg_warn("recovery: queue/%s had no store record (was the store replaced?): record "
                     "re-created; its recipients are not counted against the quota again", name);
            r->records_created++;
        } else {
            queue_record_free(&q);
        }
        ok = spool_state_read(sp, name, c->env.nrcpts, &sst, &why);
        spool_state_free(&sst);
        if (ok == SPOOL_CORRUPT) {
            char *sname = xasprintf("%s.state", name);
            int mv = spool_move_corrupt(sp, "queue", sname, why, err);

            free(sname);
            if (mv < 0) {
                free(why);
                spool_copy_close(c);
                goto out;
            }
            msg_warn("recovery: copy %s starts again with every recipient pending: recipients "
                     "already sent may receive it twice", name);
            r->corrupt++;
        } else if (ok < 0) {
            set_err(err, "%s", why);
            free(why);
            spool_copy_close(c);
            goto out;
        }
        free(why);
        spool_copy_close(c);
        r->queued++;
    }
    /* State files whose copy is gone: delivery finished between the two unlinks. */
    for (size_t i = 0; i < n; i++) {
        char *copy;
        struct stat sb;

        if (!id_with_suffix(names[i], ".state"))
            continue;
        copy = xasprintf("%s/%.*s", dir, SPOOL_ID_LEN, names[i]);
        if (stat(copy, &sb) < 0 && errno == ENOENT) {
            if (remove_file(dir, names[i], err) < 0) {
                free(copy);
                goto out;
            }
            msg_info("recovery: removed queue/%s: its copy was delivered and removed", names[i]);
        }
        free(copy);
    }
    rc = 0;
out:
    spool_list_free(names, n);
    free(dir);
    return rc;
}

/* recover_records - drop store records whose copy is gone (delivery finished, record not yet) */
static int recover_records(struct spool *sp, struct store *st, struct spool_recovery *r,
                           char **err)
{
    struct queue_record *recs;
    size_t n;
    int rc = 0;

    if (store_queue_list(st, &recs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = xasprintf("%s/queue/%s", spool_path(sp), recs[i].id);
        struct stat sb;

        if (stat(p, &sb) < 0 && errno == ENOENT) {
            if (store_queue_del(st, recs[i].id, NULL, err) < 0)
                rc = -1;
            else {
                msg_info("recovery: dropped the store record of %s (target %s): its spool file "
                         "is gone", recs[i].id, recs[i].target);
                r->records_dropped++;
            }
        }
        free(p);
    }
    queue_records_free(recs, n);
    return rc;
}

int spool_recover(struct spool *sp, struct store *st, struct spool_recovery *out, char **err)
{
    memset(out, 0, sizeof(*out));
    if (recover_incoming(sp, st, out, err) < 0 || recover_queue(sp, st, out, err) < 0 ||
        recover_records(sp, st, out, err) < 0)
        return -1;
    msg_info("recovery: %zu queued, %zu moved forward, %zu unfinished removed, %zu moved to "
             "corrupt/, %zu records dropped, %zu re-created", out->queued, out->rolled_forward,
             out->discarded, out->corrupt, out->records_dropped, out->records_created);
    return 0;
}
