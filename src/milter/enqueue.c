/*
 * enqueue - write every target's copy of a received message and commit them together
 * (doc/spool.md, "Commit"): the order of the steps below is what recovery relies on, and each
 * crash point of the test hook sits between two of them.
 * Thread-safety: see enqueue.h; no state of its own.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "milter/enqueue.h"
#include "milter/rewrite.h"
#include "util/msg.h"

/* A copy being committed. */
struct pending {
    struct spool_copy_w *w;
    struct queue_record rec;
};

/* The original header fields, read back from the reception file. */
struct fields {
    char *block;
    const char **names, **values;
    struct rewrite_header *hdrs;
    size_t n;
};

/*
 * crash_here - test hook (BYOSMTPD_TEST_CRASH=NAME): die by SIGKILL at the named point of the
 * commit sequence, so the crash tests stop byosmtpd exactly there. Unset in production.
 */
static void crash_here(const struct enqueue_dest *d, const char *point)
{
    if (d->crash_point != NULL && strcmp(d->crash_point, point) == 0) {
        msg_warn("test hook: killing byosmtpd at '%s'", point);
        raise(SIGKILL);
    }
}

/* read_fields - the header fields of RCV, as rewrite_headers takes them; 0 or -1 with *why */
static int read_fields(struct spool_msg *rcv, struct fields *f, char **why)
{
    memset(f, 0, sizeof(*f));
    if (spool_msg_headers(rcv, &f->block, &f->names, &f->values, &f->n, why) < 0)
        return -1;
    f->hdrs = xcalloc(f->n ? f->n : 1, sizeof(*f->hdrs));
    for (size_t i = 0; i < f->n; i++) {
        f->hdrs[i].name = f->names[i];
        f->hdrs[i].value = f->values[i];
    }
    return 0;
}

/* fields_free - free what read_fields made */
static void fields_free(struct fields *f)
{
    free(f->hdrs);
    free(f->names);
    free(f->values);
    free(f->block);
}

/*
 * write_copy - create incoming/ID for group G and write its copy (rewritten header section,
 * envelope, body of RCV), fsynced; P gets the handle and the store record to commit.
 * 0, or -1 with *why (P->w, when set, is for the caller to abandon).
 */
static int write_copy(const struct enqueue_dest *d, const struct byosmtp_conf *conf,
                      const struct enqueue_envelope *env, const struct rcpt_group *g,
                      const struct fields *f, struct spool_msg *rcv, struct pending *p,
                      char **why)
{
    const char *qid = env->mta_queue_id ? env->mta_queue_id : "";
    struct buf out;
    char *err = NULL;
    struct rewrite_params rp = {
        .from_address = g->t.from_address,
        .from_name = g->t.from_name,
        .reply_to = g->t.reply_to,
        .original_from_header = conf->rewrite.original_from_header,
        .reply_to_original = conf->rewrite.reply_to_original,
        .hostname = d->hostname,
        .mta_queue_id = env->mta_queue_id,
        .now = env->arrival,
    };
    struct spool_envelope senv = {
        .target = g->t.name,
        .mta_queue_id = (char *)qid,
        .arrival = (int64_t)env->arrival,
        .sender = (char *)env->sender,
        .envelope_from = conf->rewrite.envelope_from == ENVFROM_TARGET ? g->t.from_address
                                                                       : (char *)env->sender,
        .mail_params = (char *)env->mail_params,
        .rcpts = g->bare,
        .nrcpts = g->n,
    };
    int rc = -1;

    if (spool_copy_new(d->spool, &p->w, why) < 0)
        return -1;
    rp.spool_id = spool_copy_id(p->w);
    buf_init(&out);
    if (rewrite_headers(&rp, f->hdrs, f->n, &out, &err) < 0) {
        *why = xasprintf("rewriting the header for target %s: %s", g->t.name, err);
        free(err);
    } else if (spool_copy_write(p->w, &senv, out.data, out.len, rcv, why) == 0) {
        p->rec.id = (char *)spool_copy_id(p->w);
        p->rec.target = g->t.name;
        p->rec.nrcpts = (uint32_t)g->n;
        p->rec.arrival = (int64_t)env->arrival;
        p->rec.mta_queue_id = (char *)qid;
        store_month((int64_t)env->arrival, p->rec.month);
        rc = 0;
    }
    buf_free(&out);
    return rc;
}

/*
 * release_all - forget the N handles of P, keeping their files (published, or left for
 * recovery to roll forward)
 */
static void release_all(struct pending *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        spool_copy_release(p[k].w);
        p[k].w = NULL;
    }
}

/*
 * commit_publish - the commit point: record the N copies of P with their quota counts in one
 * transaction, then rename each into queue/. A failed rename takes the commit back; when even
 * that fails, the records stay and the files are kept for recovery (handles released). 0, or
 * -1 with *why.
 */
static int commit_publish(const struct enqueue_dest *d, const char *qid, struct pending *p,
                          size_t n, char **why)
{
    struct queue_record *recs = xcalloc(n, sizeof(*recs));
    char *err = NULL;
    bool committed = false;
    int rc;

    for (size_t k = 0; k < n; k++)
        recs[k] = p[k].rec;
    rc = store_queue_commit(d->store, recs, n, why);
    if (rc == 0) {
        committed = true;
        crash_here(d, "commit");
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = spool_copy_publish(p[k].w, why);
        if (rc < 0) {
            /* Rare (the files were just made on this filesystem): take the commit back. */
            if (store_queue_rollback(d->store, recs, n, &err) < 0) {
                msg_error("%s: could not take back the store records after a spool failure: "
                          "%s; recovery will queue these copies at the next start, and the "
                          "MTA will retry too: a duplicate is possible", qid, err);
                free(err);
            } else {
                committed = false;
            }
        }
    }
    free(recs);
    if (rc < 0 && committed)
        release_all(p, n); /* the records stay; recovery rolls the files forward */
    return rc;
}

/* enqueue_commit - write, fsync, commit, publish (doc/spool.md, "Commit") */
int enqueue_commit(const struct enqueue_dest *d, const struct byosmtp_conf *conf,
                   struct spool_msg *rcv, const struct enqueue_envelope *env,
                   const struct rcpt_routing *r, struct enqueue_copy *out, char **why)
{
    const char *qid = env->mta_queue_id ? env->mta_queue_id : "NOQUEUE";
    struct pending *p = xcalloc(r->ngroups ? r->ngroups : 1, sizeof(*p));
    struct fields f;
    char *err = NULL;
    int rc = -1;

    if (read_fields(rcv, &f, why) < 0)
        goto out;
    for (size_t k = 0; k < r->ngroups; k++)
        if (write_copy(d, conf, env, &r->groups[k], &f, rcv, &p[k], why) < 0)
            goto out;
    crash_here(d, "written");
    /* The copies' names in incoming/ must be durable before the record points at them. */
    if (spool_sync_incoming(d->spool, why) < 0)
        goto out;
    crash_here(d, "fsync");
    if (commit_publish(d, qid, p, r->ngroups, why) < 0)
        goto out;
    if (spool_sync_queue(d->spool, &err) < 0) {
        /* Committed already; a crash now is rolled forward from incoming/ by recovery. */
        msg_warn("%s: %s", qid, err);
        free(err);
    }
    crash_here(d, "publish");
    for (size_t k = 0; k < r->ngroups; k++) {
        msg_info("%s: spooled id=%s target=%s rcpts=%zu from=<%s>", qid, p[k].rec.id,
                 r->groups[k].t.name, r->groups[k].n, env->sender);
        if (out != NULL)
            snprintf(out[k].id, sizeof(out[k].id), "%s", p[k].rec.id);
    }
    release_all(p, r->ngroups);
    rc = 0;
out:
    for (size_t k = 0; k < r->ngroups; k++)
        spool_copy_abandon(p[k].w); /* NULL once released: kept */
    free(p);
    fields_free(&f);
    return rc;
}
