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

#include "cluster/cluster.h"
#include "milter/enqueue.h"
#include "milter/rewrite.h"
#include "util/msg.h"

/* A copy being committed. */
struct pending {
    struct spool_copy_w *w;
    struct queue_record rec;
    uint64_t limit; /* its target's monthly_quota (0: none), for the cluster's claim */
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
 * enqueue_envelope_from - the envelope sender of T's copies: T's own envelope_from when set, else
 * rewrite.envelope_from's choice of T's from_address or the original SENDER (without <>). It is
 * written into the copy at end of message, so a copy keeps the sender it was spooled with.
 */
char *enqueue_envelope_from(const struct byosmtp_conf *conf, const struct target *t,
                            const char *sender)
{
    if (t->envelope_from[0] != '\0')
        return t->envelope_from;
    return conf->rewrite.envelope_from == ENVFROM_TARGET ? t->from_address : (char *)sender;
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
        .envelope_from = enqueue_envelope_from(conf, &g->t, env->sender),
        .mail_params = (char *)env->mail_params,
        .rcpts = g->bare,
        .rcpt_params = g->params,
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
        p->limit = g->t.monthly_quota;
        rc = 0;
    }
    buf_free(&out);
    return rc;
}

/*
 * release_kept - forget the handles of the N copies of P that Q does not refuse, keeping their
 * files (published, or left for recovery to roll forward); refused ones stay to be abandoned
 */
static void release_kept(struct pending *p, const struct queue_quota *q, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!q[k].refused) {
            spool_copy_release(p[k].w);
            p[k].w = NULL;
        }
}

/*
 * commit_subset - the store commit of the N copies of RECS that CC (the cluster's claims) did
 * not refuse, each capped as CC says; Q gets what was found for every copy, those refused by
 * Redis included. Returns the number of copies refused, or -1 with *why.
 */
static int commit_subset(const struct enqueue_dest *d, const struct cluster_claim *cc,
                         const struct queue_record *recs, size_t n, bool all,
                         struct queue_quota *q, char **why)
{
    struct queue_record *sub = xcalloc(n ? n : 1, sizeof(*sub));
    struct queue_quota *sq = xcalloc(n ? n : 1, sizeof(*sq));
    uint64_t *cap = xcalloc(n ? n : 1, sizeof(*cap));
    size_t *at = xcalloc(n ? n : 1, sizeof(*at)), m = 0;
    int refused = 0, r;

    for (size_t k = 0; k < n; k++) {
        /* refused by Redis, or degraded with no share left for this host */
        if (cc[k].state == CLAIM_REFUSED || (cc[k].state == CLAIM_CAPPED && cc[k].cap == 0)) {
            q[k] = (struct queue_quota){true, cc[k].total, cc[k].limit};
            refused++;
            continue;
        }
        memset(&q[k], 0, sizeof(q[k]));
        cap[m] = cc[k].state == CLAIM_CAPPED ? cc[k].cap : 0;
        at[m] = k;
        sub[m++] = recs[k];
    }
    r = refused;
    if (m > 0 && (refused == 0 || !all)) {
        r = store_queue_commit_capped(d->store, sub, m, all, cap, sq, why);
        for (size_t j = 0; r >= 0 && j < m; j++)
            q[at[j]] = sq[j];
        if (r >= 0)
            r += refused;
    }
    free(at);
    free(cap);
    free(sq);
    free(sub);
    return r;
}

/*
 * cluster_commit - cluster mode: claim the N copies in Redis first (doc/cluster.md), then the
 * store commit of those not refused, then give back what the store did not keep. A copy whose
 * claim must wait (Redis unreachable, degraded_quota = "tempfail") fails the whole message
 * (-1 with *why: TEMPFAIL). Returns as store_queue_commit_quota.
 */
static int cluster_commit(const struct enqueue_dest *d, const struct pending *p,
                          const struct queue_record *recs, size_t n, bool all,
                          struct queue_quota *q, char **why)
{
    struct cluster_claim *cc = xcalloc(n ? n : 1, sizeof(*cc));
    bool *kept = xcalloc(n ? n : 1, sizeof(*kept)), wait = false;
    int refused = -1;

    for (size_t k = 0; k < n; k++)
        cc[k] = (struct cluster_claim){.target = recs[k].target, .month = recs[k].month,
                                       .n = recs[k].nrcpts, .limit = p[k].limit};
    cluster_claim(d->cluster, cc, n);
    for (size_t k = 0; k < n && !wait; k++)
        if (cc[k].state == CLAIM_WAIT) {
            *why = xasprintf("target %s has a monthly quota shared through Redis, which is "
                             "unreachable (cluster.degraded_quota = tempfail)", recs[k].target);
            wait = true;
        }
    if (!wait)
        refused = commit_subset(d, cc, recs, n, all, q, why);
    for (size_t k = 0; refused >= 0 && k < n; k++)
        kept[k] = !q[k].refused && (refused == 0 || !all);
    /* A rare spool failure after this takes the store records back but leaves the Redis
     * reservation: the cluster then counts a few too many (never too few) until this host
     * republishes its counts (cluster.sync_interval). */
    cluster_claim_end(d->cluster, cc, n, kept);
    free(kept);
    free(cc);
    return refused;
}

/*
 * commit_publish - the commit point: record the N copies of P with their quota counts in one
 * transaction that checks each against its target's quota into Q (ALL: one refused copy
 * refuses them all), then rename each committed one into queue/. A failed rename takes the
 * commit back; when even that fails, the records stay and the files are kept for recovery
 * (handles released). Returns the number of copies refused (nothing committed when ALL and it
 * is not 0), or -1 with *why.
 */
static int commit_publish(const struct enqueue_dest *d, const char *qid, struct pending *p,
                          size_t n, bool all, struct queue_quota *q, char **why)
{
    struct queue_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
    char *err = NULL;
    bool committed;
    int refused, rc = 0;

    for (size_t k = 0; k < n; k++)
        recs[k] = p[k].rec;
    refused = d->cluster ? cluster_commit(d, p, recs, n, all, q, why)
                         : store_queue_commit_quota(d->store, recs, n, all, q, why);
    committed = refused == 0 || (refused > 0 && !all && (size_t)refused < n);
    if (committed) {
        crash_here(d, "commit");
        for (size_t k = 0; k < n && rc == 0; k++)
            if (!q[k].refused)
                rc = spool_copy_publish(p[k].w, why);
        if (rc < 0) {
            /* Rare (the files were just made on this filesystem): take the commit back. */
            if (store_queue_rollback(d->store, recs, n, &err) < 0) {
                msg_error("%s: could not take back the store records after a spool failure: "
                          "%s; recovery will queue these copies at the next start, and the "
                          "MTA will retry too: a duplicate is possible", qid, err);
                free(err);
                release_kept(p, q, n); /* the records stay; recovery rolls the files forward */
            }
            refused = -1;
        }
    }
    free(recs);
    return refused;
}

/* log_refused - log each recipient of group G, refused with Q for MONTH, and what became of it */
static void log_refused(const char *qid, const struct rcpt_group *g, const struct queue_quota *q,
                        const char *month, const char *action)
{
    for (size_t i = 0; i < g->n; i++)
        msg_warn("%s: to=<%s>: target %s has used its monthly quota at end of message "
                 "(%llu of %llu in %s): %s (quota.action)", qid, g->bare[i], g->t.name,
                 (unsigned long long)q->accepted, (unsigned long long)q->limit, month, action);
}

/*
 * refusal - what end of message answers when quota.action is not passthrough and the commit
 * refused the copies of R that Q marks (nothing was committed): ENQUEUE_REJECTED when the
 * action is reject and no recipient of the message is left (every one refused, none kept by the
 * MTA), else ENQUEUE_DEFERRED; logs each refused recipient and sets *why
 */
static int refusal(const struct byosmtp_conf *conf, const char *qid,
                   const struct enqueue_envelope *env, const struct rcpt_routing *r,
                   const struct pending *p, const struct queue_quota *q, char **why)
{
    size_t nrefused = 0, first = 0;
    int rc = ENQUEUE_DEFERRED;
    const char *action = "deferred";

    for (size_t k = r->ngroups; k-- > 0;)
        if (q[k].refused) {
            nrefused += r->groups[k].n;
            first = k;
        }
    if (conf->quota.action == QUOTA_REJECT) {
        if (env->nrcpts > 0 && nrefused >= env->nrcpts) {
            rc = ENQUEUE_REJECTED;
            action = "rejected";
        } else {
            action = "deferred, as the message has other recipients";
        }
    }
    for (size_t k = 0; k < r->ngroups; k++)
        if (q[k].refused)
            log_refused(qid, &r->groups[k], &q[k], p[k].rec.month, action);
    *why = xasprintf("target %s has used its monthly quota (%llu of %llu in %s): nothing of "
                     "the message relayed (quota.action)", r->groups[first].t.name,
                     (unsigned long long)q[first].accepted,
                     (unsigned long long)q[first].limit, p[first].rec.month);
    return rc;
}

/*
 * keep_with_mta - quota.action passthrough: the groups of R that Q refused leave R (their
 * recipients stay with the MTA), each recipient logged
 */
static void keep_with_mta(const char *qid, struct rcpt_routing *r, const struct pending *p,
                          const struct queue_quota *q)
{
    for (size_t k = 0; k < r->ngroups; k++)
        if (q[k].refused)
            log_refused(qid, &r->groups[k], &q[k], p[k].rec.month, "left to the MTA");
    for (size_t k = r->ngroups; k-- > 0;)
        if (q[k].refused)
            rcpt_routing_drop(r, k);
}

/* enqueue_commit - write, fsync, commit (quota checked), publish (doc/spool.md, "Commit") */
int enqueue_commit(const struct enqueue_dest *d, const struct byosmtp_conf *conf,
                   struct spool_msg *rcv, const struct enqueue_envelope *env,
                   struct rcpt_routing *r, struct enqueue_copy *out, char **why)
{
    const char *qid = env->mta_queue_id ? env->mta_queue_id : "NOQUEUE";
    size_t n = r->ngroups;
    struct pending *p = xcalloc(n ? n : 1, sizeof(*p));
    struct queue_quota *q = xcalloc(n ? n : 1, sizeof(*q));
    bool all = conf->quota.action != QUOTA_PASSTHROUGH;
    struct fields f;
    char *err = NULL;
    int rc = ENQUEUE_FAILED, refused;

    if (out != NULL)
        memset(out, 0, n * sizeof(*out));
    if (read_fields(rcv, &f, why) < 0)
        goto out;
    for (size_t k = 0; k < n; k++)
        if (write_copy(d, conf, env, &r->groups[k], &f, rcv, &p[k], why) < 0)
            goto out;
    crash_here(d, "written");
    /* The copies' names in incoming/ must be durable before the record points at them. */
    if (spool_sync_incoming(d->spool, why) < 0)
        goto out;
    crash_here(d, "fsync");
    refused = commit_publish(d, qid, p, n, all, q, why);
    for (size_t k = 0; out != NULL && refused >= 0 && k < n; k++)
        out[k].over_quota = q[k].refused;
    if (refused < 0)
        goto out;
    if (refused > 0 && all) {
        rc = refusal(conf, qid, env, r, p, q, why);
        goto out;
    }
    if ((size_t)refused < n) {
        if (spool_sync_queue(d->spool, &err) < 0) {
            /* Committed already; a crash now is rolled forward from incoming/ by recovery. */
            msg_warn("%s: %s", qid, err);
            free(err);
        }
        crash_here(d, "publish");
    }
    for (size_t k = 0; k < n; k++) {
        if (q[k].refused)
            continue;
        msg_info("%s: spooled id=%s target=%s rcpts=%zu from=<%s>", qid, p[k].rec.id,
                 r->groups[k].t.name, r->groups[k].n, env->sender);
        if (out != NULL)
            snprintf(out[k].id, sizeof(out[k].id), "%s", p[k].rec.id);
    }
    release_kept(p, q, n);
    keep_with_mta(qid, r, p, q);
    rc = ENQUEUE_COMMITTED;
out:
    for (size_t k = 0; k < n; k++)
        spool_copy_abandon(p[k].w); /* NULL once released: kept */
    free(q);
    free(p);
    fields_free(&f);
    return rc;
}
