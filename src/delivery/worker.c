/*
 * worker - one delivery attempt of one copy, and what follows from each recipient's outcome
 * (see worker.h for the order of the steps and why).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "delivery/backoff.h"
#include "delivery/bounce.h"
#include "delivery/deliverylog.h"
#include "delivery/dsn.h"
#include "util/msg.h"
#include "smtp/smtp_client.h"
#include "delivery/target_smtp.h"
#include "delivery/worker.h"


/* An open session, as the scheduler keeps it between messages. */
struct wconn {
    struct smtp_client *client;
    char *fingerprint; /* target_encode() of the target it was opened for */
};

/* The outcome of one pending recipient in this attempt. */
struct rout {
    size_t idx;              /* the recipient's index in the copy */
    enum smtp_class cls;
    enum smtp_action action;
    int code;
    char enhanced[16];
    const char *reply;       /* the provider's reply, or what happened; one line */
    bool expired;            /* deferred past retry.max_lifetime: bounced as expired */
};

struct byosmtp_conf *worker_conf(struct delivery *d)
{
    struct byosmtp_conf *c;

    pthread_mutex_lock(&d->lock);
    c = conf_ref(d->conf);
    pthread_mutex_unlock(&d->lock);
    return c;
}

void worker_close_conn(void *conn)
{
    struct wconn *w = conn;

    if (w == NULL)
        return;
    smtp_client_close(w->client);
    free(w->fingerprint);
    free(w);
}

/* count - add to the counters of TARGET */
static void count(struct delivery *d, const char *target, uint64_t delivered, uint64_t deferred,
                  uint64_t bounced)
{
    struct dstats_target *s;

    pthread_mutex_lock(&d->lock);
    s = dstats_get(&d->stats, target);
    s->delivered += delivered;
    s->deferred += deferred;
    s->bounced += bounced;
    d->stats_dirty = true;
    pthread_mutex_unlock(&d->lock);
}

/* move_aside - a copy (and its state) that cannot be read: to corrupt/, never sent, never deleted */
static void move_aside(struct delivery *d, const char *id, const char *why)
{
    char *state = xasprintf("%s.state", id), *path, *err = NULL;

    path = xasprintf("%s/queue/%s", d->spool_path, id);
    if (access(path, F_OK) == 0 && spool_move_corrupt(d->spool, "queue", id, why, &err) < 0) {
        msg_error("%s: %s", id, err);
        free(err);
        err = NULL;
    }
    free(path);
    path = xasprintf("%s/queue/%s", d->spool_path, state);
    if (access(path, F_OK) == 0 && spool_move_corrupt(d->spool, "queue", state, why, &err) < 0) {
        msg_error("%s: %s", id, err);
        free(err);
        err = NULL;
    }
    free(path);
    free(state);
    if (store_queue_del(d->store, id, NULL, &err) < 0) {
        msg_warn("%s: the queue record was not removed: %s", id, err);
        free(err);
    }
}

/* finish - every recipient is done: remove the copy, then record its outcome for the month */
static void finish(struct delivery *d, const char *id, const struct spool_state *st)
{
    struct quota_record q = {0};
    char *err = NULL;

    for (size_t i = 0; i < st->nrcpts; i++) {
        if (st->rcpt[i] == RCPT_SENT)
            q.delivered++;
        else if (st->rcpt[i] == RCPT_BOUNCED)
            q.bounced++;
    }
    if (spool_remove(d->spool, id, &err) < 0) {
        msg_error("%s: delivered, but the copy was not removed (it may be sent again): %s", id,
                  err);
        free(err);
        return;
    }
    if (store_queue_del(d->store, id, &q, &err) < 0) {
        msg_warn("%s: the outcome was not added to the quota record: %s", id, err);
        free(err);
    }
    msg_info("%s: removed", id);
}

void worker_remove_copy(struct delivery *d, const char *id)
{
    struct queue_record rec;
    struct spool_state st = {0};
    char *err = NULL;
    int rc = store_queue_get(d->store, id, &rec, &err);

    if (rc > 0 && spool_state_read(d->spool, id, rec.nrcpts, &st, &err) >= 0) {
        finish(d, id, &st);
    } else if (spool_remove(d->spool, id, &err) < 0 ||
               store_queue_del(d->store, id, NULL, &err) < 0) {
        msg_error("%s: queue delete: %s", id, err);
    }
    free(err);
    spool_state_free(&st);
    if (rc > 0)
        queue_record_free(&rec);
    msg_info("%s: deleted from the queue by the admin (byosmtpctl queue delete)", id);
}

/* log_rcpt - one Postfix-shaped line for one recipient's outcome */
static void log_rcpt(const struct spool_copy *c, const struct target *t, const char *rcpt,
                     int conn_use, double t_start, double t_conn, double t_done,
                     enum deliverylog_status status, const struct rout *o)
{
    char dsnbuf[16], *line;
    struct stat sb;
    double arrival = (double)c->env.arrival, queued;
    struct deliverylog_entry e;

    /* the envelope says seconds; the copy's mtime says when it was written, to the nanosecond */
    if (fstat(c->fd, &sb) == 0 && (double)sb.st_mtim.tv_sec >= arrival)
        arrival = (double)sb.st_mtim.tv_sec + (double)sb.st_mtim.tv_nsec / 1e9;
    queued = t_start - arrival;
    e = (struct deliverylog_entry){
        .spool_id = c->env.id,
        .mta_queue_id = c->env.mta_queue_id,
        .rcpt = rcpt,
        .target = t ? t->name : c->env.target,
        .host = t ? t->host : NULL,
        .port = t ? t->port : 0,
        .conn_use = conn_use,
        .delays = {.before_queue = 0,
                   .in_queue = queued > 0 ? (int64_t)(queued * 1000) : 0,
                   .conn_setup = (int64_t)((t_conn - t_start) * 1000),
                   .transmission = (int64_t)((t_done - t_conn) * 1000)},
        .status = status,
        .reply = o->reply ? o->reply : smtp_class_hint(o->cls),
    };

    if (o->cls == SMTP_OK)
        e.dsn = o->enhanced[0] == '2' ? o->enhanced : "2.0.0";
    else
        e.dsn = dsn_status(o->enhanced, o->code,
                           status == DELIVERYLOG_DEFERRED ? DSN_DELAYED : DSN_FAILED, dsnbuf);
    line = deliverylog_line(&e);
    msg_info("%s%s%s", line, o->cls != SMTP_OK ? ", class=" : "",
             o->cls != SMTP_OK ? smtp_class_name(o->cls) : "");
    free(line);
}

/* fill_from - the outcome of every pending recipient from one session-wide result */
static void fill_from(struct rout *o, size_t n, const struct smtp_result *res)
{
    for (size_t k = 0; k < n; k++) {
        o[k].cls = res->cls == SMTP_OK ? SMTP_TEMPORARY : res->cls;
        o[k].action = res->cls == SMTP_OK ? SMTP_RETRY : res->action;
        o[k].code = res->code;
        snprintf(o[k].enhanced, sizeof(o[k].enhanced), "%s", res->enhanced);
        o[k].reply = res->reply ? res->reply : res->text;
    }
}

/* open_session - a new authenticated session to T; NULL with RES on failure */
static struct wconn *open_session(struct delivery *d, const struct byosmtp_conf *conf,
                                  const struct target *t, const char *fingerprint,
                                  struct smtp_result *res, char **err)
{
    struct smtp_params p;
    struct smtp_client *client;
    struct wconn *w;
    char *password = NULL;
    size_t pwlen;

    if (secret_decrypt(d->key, t->name, t->password_enc, &password, &pwlen, err) < 0)
        return NULL;
    target_smtp_params(t, conf, password, &p);
    p.tls = d->tls;
    client = smtp_client_open(&p, res);
    free_secret(password);
    if (client == NULL)
        return NULL;
    w = xcalloc(1, sizeof(*w));
    w->client = client;
    w->fingerprint = xstrdup(fingerprint);
    return w;
}

void worker_attempt(struct delivery *d, const struct byosmtp_conf *conf, const struct sched_job *job,
                    struct sched_result *r)
{
    struct wconn *w = job->conn;
    struct spool_copy *c = NULL;
    struct spool_state st = {0};
    struct target t;
    struct smtp_result res;
    struct rout *o = NULL;
    struct dsn_rcpt *dr = NULL;
    const char **rcpts = NULL;
    char *err = NULL, *fingerprint = NULL, *last_error = NULL;
    bool have_target = false, have_state = false, throttled = false, retried = false;
    bool send_failed_conn = false;
    double t_start = time_now(), t_conn = t_start, t_done;
    size_t np = 0, nsent = 0, nbounced = 0, ndeferred = 0, nb = 0, flen;
    int64_t now = (int64_t)t_start;
    struct backoff_params bp;
    time_t next_retry = 0, next_throttled = 0;
    bool expire_retried = false, expire_throttled = false;
    int rc;

    memset(r, 0, sizeof(*r));
    r->conn_messages = job->conn_messages;
    smtp_result_init(&res);
    memset(&t, 0, sizeof(t)); /* store_target_get fills it; target_free is safe either way */

    rc = spool_copy_open(d->spool, "queue", job->id, &c, &err);
    if (rc == 0) { /* gone: delivered and removed, or deleted by the admin */
        r->outcome = SCHED_FINISHED;
        goto out;
    }
    if (rc == SPOOL_CORRUPT) {
        move_aside(d, job->id, err);
        r->outcome = SCHED_FINISHED;
        goto out;
    }
    if (rc < 0) {
        msg_warn("%s: cannot read the copy (tried again in %d s): %s", job->id,
                 conf->delivery.retry.min_backoff, err);
        r->outcome = SCHED_DEFERRED;
        r->next_attempt = now + conf->delivery.retry.min_backoff;
        goto out;
    }
    rc = spool_state_read(d->spool, job->id, c->env.nrcpts, &st, &err);
    if (rc == SPOOL_CORRUPT) {
        move_aside(d, job->id, err);
        r->outcome = SCHED_FINISHED;
        goto out;
    }
    if (rc < 0) {
        msg_warn("%s: cannot read the delivery state (tried again in %d s): %s", job->id,
                 conf->delivery.retry.min_backoff, err);
        r->outcome = SCHED_DEFERRED;
        r->next_attempt = now + conf->delivery.retry.min_backoff;
        goto out;
    }
    have_state = true;

    o = xcalloc(c->env.nrcpts + 1, sizeof(*o));
    rcpts = xcalloc(c->env.nrcpts + 1, sizeof(*rcpts));
    for (size_t i = 0; i < c->env.nrcpts; i++)
        if (st.rcpt[i] == RCPT_PENDING) {
            o[np].idx = i;
            rcpts[np++] = c->env.rcpts[i];
        }
    if (np == 0) { /* done before a crash, not yet removed */
        finish(d, job->id, &st);
        r->outcome = SCHED_FINISHED;
        goto out;
    }

    rc = store_target_get(d->store, c->env.target, &t, &err);
    if (rc <= 0) {
        char *why = rc == 0 ? xasprintf("target %s does not exist: add it again, or remove the "
                                        "message with 'byosmtpctl queue delete %s'",
                                        c->env.target, job->id)
                            : xasprintf("store: %s", err);

        smtp_result_free(&res);
        res.cls = SMTP_TEMPORARY;
        res.action = SMTP_RETRY;
        res.text = why;
        fill_from(o, np, &res);
        worker_close_conn(w);
        w = NULL;
        goto outcomes;
    }
    have_target = true;
    pthread_mutex_lock(&d->lock);
    sched_set_target(d->sched, t.name, t.max_connections, t.rate);
    pthread_mutex_unlock(&d->lock);

    /* A kept session is reused only for the target exactly as it was opened (host, account). */
    fingerprint = target_encode(&t, &flen);
    if (w != NULL && (strcmp(w->fingerprint, fingerprint) != 0 || !smtp_client_usable(w->client))) {
        worker_close_conn(w);
        w = NULL;
        r->conn_messages = 0;
    }
    deliverydir_inflight(d->spool_path, job->id, true);
    for (int tries = 0;; tries++) {
        struct smtp_envelope env = {.sender = c->env.envelope_from, .rcpt = rcpts, .nrcpt = np,
                                    .size = c->header_size + c->body_size,
                                    .body = SMTP_BODY_UNKNOWN};
        struct smtp_source src = smtp_source_fd(c->fd, (off_t)c->msg_offset,
                                                (off_t)(c->header_size + c->body_size));

        if (w == NULL) {
            r->opened = true;
            r->conn_messages = 0;
            w = open_session(d, conf, &t, fingerprint, &res, &err);
            t_conn = time_now();
            if (w == NULL) {
                if (err != NULL) { /* the password: an admin's problem, never a provider's */
                    res.cls = SMTP_AUTH_FAILED;
                    res.action = SMTP_RETRY;
                    free(res.text);
                    res.text = xasprintf("target %s: %s", t.name, err);
                }
                fill_from(o, np, &res);
                r->conn_failed = res.action != SMTP_THROTTLE;
                goto outcomes;
            }
            smtp_result_free(&res);
            smtp_result_init(&res);
        }
        smtp_client_send(w->client, &env, &src, &res);
        r->conn_messages++;
        /* A kept session the provider closed while it was idle fails before any recipient:
         * that is not the message's fault, so it goes once more on a new session. */
        if (tries == 0 && !r->opened && res.cls != SMTP_OK && res.action == SMTP_RETRY &&
            res.stage <= SMTP_STAGE_MAIL && !smtp_client_usable(w->client)) {
            msg_debug("%s: the kept session to %s was closed by the provider: opening another",
                      job->id, t.name);
            worker_close_conn(w);
            w = NULL;
            smtp_result_free(&res);
            smtp_result_init(&res);
            continue;
        }
        break;
    }
    if (res.nrcpt == np) {
        for (size_t k = 0; k < np; k++) {
            const struct smtp_rcpt_result *rr = &res.rcpt[k];

            /* sent only on the provider's 2xx to the final dot for this recipient; anything
             * else that reads OK is a doubt, and a doubt defers */
            bool sent = rr->status == SMTP_RCPT_DELIVERED && rr->cls == SMTP_OK;

            o[k].cls = sent ? SMTP_OK : rr->cls == SMTP_OK ? SMTP_TEMPORARY : rr->cls;
            o[k].action = sent ? SMTP_DONE : rr->cls == SMTP_OK ? SMTP_RETRY : rr->action;
            o[k].code = rr->code;
            snprintf(o[k].enhanced, sizeof(o[k].enhanced), "%s", rr->enhanced);
            o[k].reply = rr->reply ? rr->reply : res.reply ? res.reply : res.text;
        }
    } else {
        fill_from(o, np, &res);
    }
    send_failed_conn = !smtp_client_usable(w->client);

outcomes:
    t_done = time_now();
    bp = (struct backoff_params){conf->delivery.retry.min_backoff, conf->delivery.retry.max_backoff,
                                 conf->delivery.retry.max_lifetime, 0};
    for (size_t k = 0; k < np; k++) {
        if (o[k].cls == SMTP_OK) {
            st.rcpt[o[k].idx] = RCPT_SENT;
            nsent++;
            log_rcpt(c, have_target ? &t : NULL, rcpts[k], r->conn_messages, t_start, t_conn,
                     t_done, DELIVERYLOG_SENT, &o[k]);
        } else if (o[k].action == SMTP_BOUNCE) {
            nb++;
        } else if (o[k].action == SMTP_THROTTLE) {
            throttled = true;
        } else {
            retried = true;
        }
    }
    /* the schedule of backoff.h decides when the remaining recipients give up */
    if (retried && backoff_next(&bp, (time_t)c->env.arrival, st.attempts + 1, (time_t)now,
                                0, &next_retry) == BACKOFF_EXPIRED)
        expire_retried = true;
    if (throttled && backoff_throttled(&bp, (time_t)c->env.arrival, (time_t)now, (time_t)now + 1,
                                       &next_throttled) == BACKOFF_EXPIRED)
        expire_throttled = true;
    for (size_t k = 0; k < np; k++) {
        if (o[k].cls == SMTP_OK || o[k].action == SMTP_BOUNCE)
            continue;
        if ((o[k].action == SMTP_THROTTLE && expire_throttled) ||
            (o[k].action != SMTP_THROTTLE && expire_retried)) {
            o[k].expired = true;
            nb++;
        }
    }
    /* 1. the recipients just accepted, durable before any other step */
    if (nsent > 0 && nsent < np && spool_state_write(d->spool, job->id, &st, &err) < 0) {
        msg_error("%s: the recipients just delivered were not recorded (they may receive the "
                  "message again): %s", job->id, err);
        free(err);
        err = NULL;
    }
    /* 2. the recipients lost for good: a DSN, then they are marked */
    if (nb > 0) {
        size_t n = 0;

        dr = xcalloc(nb, sizeof(*dr));
        for (size_t k = 0; k < np; k++) {
            if (o[k].cls == SMTP_OK || !(o[k].action == SMTP_BOUNCE || o[k].expired))
                continue;
            dr[n++] = (struct dsn_rcpt){
                .final_rcpt = rcpts[k],
                .action = DSN_FAILED,
                .status = o[k].expired && o[k].enhanced[0] == '\0' ? "4.4.7" : o[k].enhanced,
                .reply_code = o[k].code,
                .remote_mta = have_target ? t.host : NULL,
                .diagnostic = o[k].reply,
                .class_name = smtp_class_name(o[k].cls),
                .class_hint = smtp_class_hint(o[k].cls),
            };
        }
        rc = bounce_send(conf, d->hostname, c, dr, n, &err);
        if (rc < 0) {
            msg_warn("%s: sender non-delivery notification not sent, the recipients stay in the "
                     "queue: %s", job->id, err);
            free(err);
            err = NULL;
            for (size_t k = 0; k < np; k++)
                if (o[k].cls != SMTP_OK && (o[k].action == SMTP_BOUNCE || o[k].expired)) {
                    o[k].action = SMTP_RETRY;
                    o[k].expired = false;
                    retried = true;
                }
        } else {
            for (size_t k = 0; k < np; k++) {
                if (o[k].cls == SMTP_OK || !(o[k].action == SMTP_BOUNCE || o[k].expired))
                    continue;
                st.rcpt[o[k].idx] = RCPT_BOUNCED;
                nbounced++;
                log_rcpt(c, have_target ? &t : NULL, rcpts[k], r->conn_messages, t_start, t_conn,
                         t_done, o[k].expired ? DELIVERYLOG_EXPIRED : DELIVERYLOG_BOUNCED, &o[k]);
            }
            if (rc > 0)
                msg_info("%s: sender non-delivery notification to <%s> for %zu recipient%s",
                         job->id, c->env.sender, nbounced, nbounced == 1 ? "" : "s");
            else
                msg_info("%s: no non-delivery notification: %s", job->id,
                         conf->delivery.bounce.enabled ? "null sender" : "delivery.bounce.enabled "
                                                                         "is false");
        }
    }
    /* 3. the copy: removed when nothing is left, else its next attempt */
    ndeferred = np - nsent - nbounced;
    if (ndeferred == 0) {
        finish(d, job->id, &st);
        r->outcome = SCHED_FINISHED;
    } else {
        const struct rout *last = NULL;

        for (size_t k = 0; k < np; k++)
            if (st.rcpt[o[k].idx] == RCPT_PENDING) {
                last = &o[k];
                log_rcpt(c, have_target ? &t : NULL, rcpts[k], r->conn_messages, t_start, t_conn,
                         t_done, DELIVERYLOG_DEFERRED, &o[k]);
            }
        if (retried) {
            if (backoff_next(&bp, (time_t)c->env.arrival, st.attempts + 1, (time_t)now, 0,
                             &next_retry) == BACKOFF_EXPIRED)
                next_retry = (time_t)now + bp.min_backoff; /* its DSN failed: again later */
            st.attempts++;
            st.next_attempt = next_retry;
        } else {
            st.next_attempt = next_throttled; /* the target's pause decides (scheduler) */
        }
        {
            char *e = xasprintf("%s: %s", smtp_class_name(last->cls),
                                last->reply ? last->reply : smtp_class_hint(last->cls));

            last_error = text_line(e, SIZE_MAX);
            free(e);
        }
        free(st.last_error);
        st.last_error = last_error;
        if (spool_state_write(d->spool, job->id, &st, &err) < 0) {
            msg_error("%s: the delivery state was not recorded: %s", job->id, err);
            free(err);
            err = NULL;
        }
        r->outcome = throttled ? SCHED_THROTTLED : SCHED_DEFERRED;
        r->next_attempt = st.next_attempt;
    }
    if (have_target)
        count(d, t.name, nsent, ndeferred, nbounced);
    else
        count(d, c->env.target, nsent, ndeferred, nbounced);
    r->delivered = nsent > 0;
    if (send_failed_conn && nsent == 0 && !throttled)
        r->conn_failed = true;
    deliverydir_inflight(d->spool_path, job->id, false);

out:
    /* the session goes back for reuse while it is healthy and has messages left */
    if (w != NULL && smtp_client_usable(w->client) && !throttled &&
        (conf->delivery.conn_max_messages <= 0 ||
         r->conn_messages < conf->delivery.conn_max_messages)) {
        r->conn = w;
    } else {
        worker_close_conn(w);
        r->conn = NULL;
    }
    free(err);
    free(fingerprint);
    free(o);
    free(rcpts);
    free(dr);
    smtp_result_free(&res);
    if (have_state)
        spool_state_free(&st);
    target_free(&t);
    spool_copy_close(c);
}
