/*
 * worker - one delivery attempt of one copy in four steps: load (copy, state, target), send
 * (session, smtp_client_send), decide (outcome.h, pure) and apply (state file, DSN, log lines,
 * counters); see worker.h for the order of the effects and why. An attempt is one thread's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "delivery/bounce.h"
#include "delivery/deliverylog.h"
#include "delivery/dsn.h"
#include "delivery/events.h"
#include "delivery/metrics.h"
#include "delivery/oauth.h"
#include "delivery/dsnopt.h"
#include "delivery/fallback.h"
#include "delivery/outcome.h"
#include "cluster/cluster.h"
#include "util/msg.h"
#include "util/util.h"
#include "smtp/smtp_client.h"
#include "delivery/target_smtp.h"
#include "delivery/worker.h"


/* An open session, as the scheduler keeps it between messages. */
struct wconn {
    struct smtp_client *client;
    char *fingerprint; /* target_encode() of the target it was opened for */
    char *host;        /* the host it is connected to: the target's, or a fallback host */
    int port;
    struct cluster *cl; /* cluster mode: */
    char *target;       /* the target of ... */
    char *lease;        /* ... this connection's lease (cluster_gate), or NULL */
};

/* One attempt of one copy: what load finds, send adds, decide settles and apply uses. */
struct attempt {
    struct delivery *d;
    const struct byosmtp_conf *conf;
    const char *id;
    struct sched_result *r;
    struct wconn *w;         /* the session: the job's kept one, or one send opened */
    struct spool_copy *c;
    struct spool_state st;
    bool have_state;
    struct target t;         /* store_target_get fills it; target_free is safe either way */
    bool have_target;
    const char **rcpts;      /* the pending recipients' addresses, in o.rcpt's order */
    struct dsnopt_rcpt *dsn; /* their NOTIFY= and ORCPT=, in the same order */
    struct outcome o;        /* the pending recipients' results and fates */
    struct smtp_result res;  /* the client's result; o's replies point into it */
    char *why;               /* what happened when it was not the provider; o points to it */
    char *host;              /* the host of the log line: the session's, or the last one tried */
    int port;
    bool conn_broken;        /* the session was no longer usable after the send */
    bool shared;             /* cluster mode and Redis reachable: ask cluster_gate() */
    char *lease;             /* a lease for the session about to be opened (cluster_gate) */
    double t_start, t_conn, t_done;
};

/* worker_conf - the configuration snapshot, referenced under the lock */
struct byosmtp_conf *worker_conf(struct delivery *d)
{
    struct byosmtp_conf *c;

    pthread_mutex_lock(&d->lock);
    c = conf_ref(d->conf);
    pthread_mutex_unlock(&d->lock);
    return c;
}

/* worker_close_conn - QUIT and free a kept session */
void worker_close_conn(void *conn)
{
    struct wconn *w = conn;

    if (w == NULL)
        return;
    smtp_client_close(w->client);
    if (w->lease != NULL)
        cluster_lease_release(w->cl, w->target, w->lease);
    free(w->target);
    free(w->fingerprint);
    free(w->host);
    free(w);
}

/* count - add the possible duplicates of outcome O to the counters of TARGET (each
 * recipient's outcome is counted by report()) */
static void count(struct delivery *d, const char *target, const struct outcome *o)
{
    if (o->nduplicate == 0)
        return;
    pthread_mutex_lock(&d->lock);
    dstats_get(&d->stats, target)->duplicates += o->nduplicate;
    d->stats_dirty = true;
    pthread_mutex_unlock(&d->lock);
}

/* forget_doubt - copy ID is done: its recipients in doubt (if any) with it */
static void forget_doubt(struct delivery *d, const char *id)
{
    char *err = NULL;

    if (deliverydir_doubt_write(d->spool_path, id, NULL, 0, &err) < 0) {
        msg_warn("%s: %s", id, err);
        free(err);
    }
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
    forget_doubt(d, id);
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
    forget_doubt(d, id);
    if (store_queue_del(d->store, id, &q, &err) < 0) {
        msg_warn("%s: the outcome was not added to the quota record: %s", id, err);
        free(err);
    }
    msg_info("%s: removed", id);
}

/* worker_remove_copy - the admin's queue delete: the copy, its state and its record */
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


/* report - the outcome of log line E, whose class is CLS ("" when sent), LATENCY seconds after
 * acceptance: counted (metrics.h) and made an event (events.h); the one hook of both */
static void report(const struct attempt *a, const struct deliverylog_entry *e, const char *cls,
                   double latency)
{
    struct event ev = {
        .time = time_now(),
        .status = e->status,
        .id = e->spool_id,
        .mta_queue_id = e->mta_queue_id,
        .target = e->target,
        .recipient = e->rcpt,
        .sender = a->c->env.sender,
        .dsn = e->dsn,
        .cls = cls,
        .reply = e->reply,
        .attempt = a->st.attempts + 1,
        .delay = latency,
    };

    pthread_mutex_lock(&a->d->lock);
    metrics_count(&a->d->stats, e->target, e->status, cls, latency);
    a->d->stats_dirty = true;
    pthread_mutex_unlock(&a->d->lock);
    events_emit(a->d->events, &ev);
}

/* log_rcpt - one Postfix-shaped line for the outcome of pending recipient K */
static void log_rcpt(const struct attempt *a, size_t k)
{
    static const enum deliverylog_status status_of[] = {
        [OUTCOME_DEFERRED] = DELIVERYLOG_DEFERRED, [OUTCOME_SENT] = DELIVERYLOG_SENT,
        [OUTCOME_BOUNCED] = DELIVERYLOG_BOUNCED,   [OUTCOME_EXPIRED] = DELIVERYLOG_EXPIRED,
        [OUTCOME_FALLBACK] = DELIVERYLOG_FALLBACK,
    };
    const struct outcome_rcpt *o = &a->o.rcpt[k];
    const struct spool_copy *c = a->c;
    const struct target *t = a->have_target ? &a->t : NULL;
    enum deliverylog_status status = status_of[o->fate];
    char dsnbuf[16], *line, *reply = NULL;
    struct stat sb;
    double arrival = (double)c->env.arrival, queued;
    struct deliverylog_entry e;

    /* the envelope says seconds; the copy's mtime says when it was written, to the nanosecond */
    if (fstat(c->fd, &sb) == 0 && (double)sb.st_mtim.tv_sec >= arrival)
        arrival = (double)sb.st_mtim.tv_sec + (double)sb.st_mtim.tv_nsec / 1e9;
    queued = a->t_start - arrival;
    e = (struct deliverylog_entry){
        .spool_id = c->env.id,
        .mta_queue_id = c->env.mta_queue_id,
        .rcpt = a->rcpts[k],
        .orig_rcpt = a->dsn[k].orcpt,
        .target = t ? t->name : c->env.target,
        .host = a->host,
        .port = a->port,
        .conn_use = a->r->conn_messages,
        .delays = {.before_queue = 0,
                   .in_queue = queued > 0 ? (int64_t)(queued * 1000) : 0,
                   .conn_setup = (int64_t)((a->t_conn - a->t_start) * 1000),
                   .transmission = (int64_t)((a->t_done - a->t_conn) * 1000)},
        .status = status,
        .reply = o->reply ? o->reply : smtp_class_hint(o->cls),
        .possible_duplicate = outcome_duplicate(o),
    };

    if (o->cls == SMTP_OK)
        e.dsn = o->enhanced[0] == '2' ? o->enhanced : "2.0.0";
    else
        e.dsn = dsn_status(o->enhanced, o->code,
                           status == DELIVERYLOG_DEFERRED || status == DELIVERYLOG_FALLBACK
                               ? DSN_DELAYED
                               : DSN_FAILED,
                           dsnbuf);
    if (status == DELIVERYLOG_FALLBACK) /* why, then the provider's last word */
        e.reply = reply = xasprintf("handed back to the local MTA after %lld s (fallback = "
                                    "mta): %s", (long long)(a->t_start - (double)c->env.arrival),
                                    e.reply);
    line = deliverylog_line(&e);
    free(reply);
    msg_info("%s%s%s", line, o->cls != SMTP_OK ? ", class=" : "",
             o->cls != SMTP_OK ? smtp_class_name(o->cls) : "");
    free(line);
    report(a, &e, o->cls != SMTP_OK ? smtp_class_name(o->cls) : "", time_now() - arrival);
}

/*
 * open_session - a new authenticated session to T at host H; NULL with RES on failure, or with
 * *ev and *err when there was no credential (SMTP_EV_SECRET: a secret does not decrypt;
 * SMTP_EV_OAUTH: no access token). RENEW: the cached access token was refused, get another;
 * *cached: the token came from the cache.
 */
static struct wconn *open_session(struct delivery *d, const struct byosmtp_conf *conf,
                                  const struct target *t, const struct target_host *h,
                                  const char *fingerprint, bool renew, bool *cached,
                                  struct smtp_result *res, enum smtp_event *ev, char **err)
{
    struct oauth_env env = {.store = d->store, .key = d->key,
                            .ca_file = conf->delivery.tls_ca_file,
                            .ca_path = conf->delivery.tls_ca_path,
                            .timeout = conf->delivery.connect_timeout};
    struct smtp_params p;
    struct smtp_client *client;
    struct wconn *w;
    char *password = NULL;
    enum oauth_result rc;

    rc = oauth_credential(d->oauth, &env, t, renew, &password, cached, err);
    if (rc != OAUTH_OK) {
        *ev = rc == OAUTH_SECRET ? SMTP_EV_SECRET : SMTP_EV_OAUTH;
        return NULL;
    }
    target_smtp_params(t, conf, password, &p);
    p.host = h->host;
    p.port = h->port;
    p.tls = d->tls;
    client = smtp_client_open(&p, res);
    free_secret(password);
    if (client == NULL)
        return NULL;
    w = xcalloc(1, sizeof(*w));
    w->client = client;
    w->fingerprint = xstrdup(fingerprint);
    w->host = xstrdup(h->host);
    w->port = h->port;
    w->cl = d->cluster;
    w->target = xstrdup(t->name);
    return w;
}

/* unreadable - the copy or its state (WHAT) cannot be read: aside when corrupt, else later */
static bool unreadable(struct attempt *a, int rc, const char *what, char *err)
{
    int later = a->conf->delivery.retry.min_backoff;

    if (rc == SPOOL_CORRUPT) {
        move_aside(a->d, a->id, err);
        a->r->outcome = SCHED_FINISHED;
    } else {
        msg_warn("%s: cannot read %s (tried again in %d s): %s", a->id, what, later, err);
        a->r->outcome = SCHED_DEFERRED;
        a->r->next_attempt = (int64_t)backoff_second(a->t_start) + later;
    }
    free(err);
    return false;
}

/* load_doubt - the pending recipients an earlier attempt may have delivered (delivery/doubt/ID) */
static void load_doubt(struct attempt *a)
{
    size_t *idx, n;
    char *err = NULL;

    if (deliverydir_doubt_read(a->d->spool_path, a->id, a->c->env.nrcpts, &idx, &n, &err) < 0) {
        msg_warn("%s: %s (a delivery that repeats an earlier one is not noted)", a->id, err);
        free(err);
    }
    for (size_t i = 0; i < n; i++)
        outcome_doubt(&a->o, idx[i]);
    free(idx);
}

/* save_doubt - the recipients left that this or an earlier attempt may have delivered, for the
 * next attempt's log line (delivery/doubt/ID; removed when there is none) */
static void save_doubt(struct attempt *a)
{
    size_t *idx = xcalloc(a->o.n + 1, sizeof(*idx)), n = 0;
    char *err = NULL;

    for (size_t k = 0; k < a->o.n; k++)
        if (outcome_in_doubt(&a->o.rcpt[k]))
            idx[n++] = a->o.rcpt[k].idx;
    if (deliverydir_doubt_write(a->d->spool_path, a->id, idx, n, &err) < 0) {
        msg_warn("%s: the recipients that may have been delivered were not recorded: %s", a->id,
                 err);
        free(err);
    }
    free(idx);
}

/* load - the copy, its state and its pending recipients; false when there is nothing to send
 * (a->r says why) */
static bool load(struct attempt *a)
{
    char *err = NULL;
    int rc = spool_copy_open(a->d->spool, "queue", a->id, &a->c, &err);

    if (rc == 0) { /* gone: delivered and removed, or deleted by the admin */
        free(err);
        a->r->outcome = SCHED_FINISHED;
        return false;
    }
    if (rc < 0)
        return unreadable(a, rc, "the copy", err);
    rc = spool_state_read(a->d->spool, a->id, a->c->env.nrcpts, &a->st, &err);
    if (rc < 0)
        return unreadable(a, rc, "the delivery state", err);
    a->have_state = true;
    if (outcome_init(&a->o, a->st.rcpt, a->c->env.nrcpts) == 0) {
        /* done before a crash, not yet removed */
        finish(a->d, a->id, &a->st);
        a->r->outcome = SCHED_FINISHED;
        return false;
    }
    a->rcpts = xcalloc(a->o.n + 1, sizeof(*a->rcpts));
    a->dsn = xcalloc(a->o.n + 1, sizeof(*a->dsn));
    for (size_t k = 0; k < a->o.n; k++) {
        a->rcpts[k] = a->c->env.rcpts[a->o.rcpt[k].idx];
        dsnopt_rcpt_parse(a->c->env.rcpt_params[a->o.rcpt[k].idx], &a->dsn[k]);
    }
    load_doubt(a);
    return true;
}

/* load_target - the copy's target; false, every recipient deferred, when it cannot be had */
static bool load_target(struct attempt *a)
{
    char *err = NULL;
    int rc = store_target_get(a->d->store, a->c->env.target, &a->t, &err);

    if (rc > 0) {
        a->have_target = true;
        return true;
    }
    if (rc == 0) {
        a->why = xasprintf("target %s does not exist: add it again, or remove the message with "
                           "'byosmtpctl queue delete %s'", a->c->env.target, a->id);
        outcome_event(&a->o, SMTP_EV_NO_TARGET, a->why);
    } else {
        a->why = xasprintf("store: %s", err);
        outcome_event(&a->o, SMTP_EV_LOCAL, a->why);
    }
    free(err);
    worker_close_conn(a->w);
    a->w = NULL;
    return false;
}

/* set_host - the host of the log line */
static void set_host(struct attempt *a, const char *host, int port)
{
    free(a->host);
    a->host = xstrdup(host);
    a->port = port;
}

/*
 * open_failover - a session to the first of the target's hosts that answers: its host, then
 * each of fallback_hosts, skipping those in their own backoff (hostdown.h), on to the next only
 * after a failure at connection or TLS level; NULL with a->res (or *ev and *err: no credential)
 * of the last one tried. RENEW and *CACHED as for open_session.
 */
static struct wconn *open_failover(struct attempt *a, const char *fingerprint, bool renew,
                                   bool *cached, enum smtp_event *ev, char **err)
{
    struct target_host *h;
    size_t n = target_hosts(&a->t, &h), *order = xcalloc(n, sizeof(*order)), k;
    const char **keys = xcalloc(n, sizeof(*keys));
    struct backoff_params bp = {a->conf->delivery.retry.min_backoff,
                                a->conf->delivery.retry.max_backoff, 0, 0};
    struct wconn *w = NULL;

    for (size_t i = 0; i < n; i++)
        keys[i] = xasprintf("%s:%d", h[i].host, h[i].port);
    pthread_mutex_lock(&a->d->lock);
    k = hostdown_order(a->d->hosts, keys, n, (time_t)time_now(), order);
    pthread_mutex_unlock(&a->d->lock);
    for (size_t j = 0; j < k && w == NULL; j++) {
        const struct target_host *host = &h[order[j]];

        smtp_result_free(&a->res);
        smtp_result_init(&a->res);
        set_host(a, host->host, host->port);
        w = open_session(a->d, a->conf, &a->t, host, fingerprint, renew, cached, &a->res, ev,
                         err);
        if (w == NULL && (*err != NULL || !smtp_trouble_next_host(a->res.cls, a->res.stage)))
            break;
        pthread_mutex_lock(&a->d->lock);
        if (w != NULL)
            hostdown_ok(a->d->hosts, keys[order[j]]);
        else
            hostdown_failed(a->d->hosts, keys[order[j]], (time_t)time_now(), &bp);
        pthread_mutex_unlock(&a->d->lock);
        if (w == NULL && n > 1)
            msg_info("%s: relay=%s[%s]:%d failed (%s: %s)%s", a->id, a->t.name, host->host,
                     host->port, smtp_class_name(a->res.cls),
                     a->res.reply ? a->res.reply : a->res.text ? a->res.text : "",
                     j + 1 < k ? ": trying the next host" : "");
    }
    for (size_t i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
    free(order);
    target_hosts_free(h, n);
    return w;
}

/* connect_target - a new session to the target; false, with every recipient's outcome, when none.
 * An OAuth2 access token from the cache that AUTH refuses is renewed once. */
static bool connect_target(struct attempt *a, const char *fingerprint)
{
    enum smtp_event ev = SMTP_EV_LOCAL;
    bool cached = false;
    char *err = NULL;

    a->r->opened = true;
    a->r->conn_messages = 0;
    a->w = open_failover(a, fingerprint, false, &cached, &ev, &err);
    if (a->w == NULL && err == NULL && cached && a->res.cls == SMTP_AUTH_FAILED) {
        msg_info("%s: target %s refused the cached OAuth2 access token: obtaining a new one",
                 a->id, a->t.name);
        a->w = open_failover(a, fingerprint, true, &cached, &ev, &err);
    }
    a->t_conn = time_now();
    if (a->w != NULL) {
        a->w->lease = a->lease;
        a->lease = NULL;
        smtp_result_free(&a->res);
        smtp_result_init(&a->res);
        return true;
    }
    if (err != NULL) { /* the credential: an admin's problem, never a provider's */
        a->why = xasprintf("target %s: %s", a->t.name, err);
        free(err);
        outcome_event(&a->o, ev, a->why);
    } else {
        outcome_results(&a->o, &a->res);
    }
    /* every recipient has the session's outcome; a throttled target is not a failing one */
    a->r->conn_failed = a->o.rcpt[0].action != SMTP_THROTTLE;
    return false;
}

/* transmit - one smtp_client_send() on the session; false when a kept session turned out
 * closed by the provider (FIRST try only): then it goes again on a new session */
static bool transmit(struct attempt *a, bool first)
{
    const struct spool_copy *c = a->c;
    struct smtp_envelope env = {.sender = c->env.envelope_from, .rcpt = a->rcpts,
                                .nrcpt = a->o.n, .size = c->header_size + c->body_size,
                                .body = SMTP_BODY_UNKNOWN};
    struct smtp_source src = smtp_source_fd(c->fd, (off_t)c->msg_offset,
                                            (off_t)(c->header_size + c->body_size));

    smtp_client_send(a->w->client, &env, &src, &a->res);
    a->r->conn_messages++;
    /* A kept session the provider closed while it was idle fails before any recipient:
     * that is not the message's fault, so it goes once more on a new session. */
    if (first && !a->r->opened && a->res.cls != SMTP_OK && a->res.action == SMTP_RETRY &&
        a->res.stage <= SMTP_STAGE_MAIL && !smtp_client_usable(a->w->client)) {
        msg_debug("%s: the kept session to %s was closed by the provider: opening another",
                  a->id, a->t.name);
        a->lease = a->w->lease; /* its slot goes to the next session */
        a->w->lease = NULL;
        worker_close_conn(a->w);
        a->w = NULL;
        smtp_result_free(&a->res);
        smtp_result_init(&a->res);
        return false;
    }
    outcome_results(&a->o, &a->res);
    a->conn_broken = !smtp_client_usable(a->w->client);
    return true;
}

/* nap - sleep SECONDS (a turn in the cluster's pace) */
static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * gate - cluster mode: may the copy start now (cluster_gate)? Asked in two steps, so that the
 * turn in the shared pace is taken as close to MAIL FROM as can be (a new session's TLS and
 * AUTH would otherwise come between the turn and the provider): before a new session is opened
 * (CONNECTED false: the shared pause, and a lease for max_connections), and on the session
 * (CONNECTED true: the turn in the pace, and a kept session's lease renewed). true: go (after
 * the turn). false: postponed, a->r says until when; a kept session whose lease was lost is
 * closed. A target without max_connections and rate asks nothing here: a shared pause reaches
 * the scheduler through the delivery's cluster thread (cluster_link.c).
 */
static bool gate(struct attempt *a, bool connected)
{
    struct cluster_gate g = {.target = a->t.name, .max_connections = a->t.max_connections};
    enum cluster_gate_verdict v;
    uint64_t interval;

    if (!a->shared || a->d->cluster == NULL)
        return true;
    pthread_mutex_lock(&a->d->lock);
    interval = sched_target_interval(a->d->sched, a->t.name);
    pthread_mutex_unlock(&a->d->lock);
    if (g.max_connections <= 0 && interval == 0)
        return true;
    if (connected && interval == 0 && a->r->opened)
        return true; /* the lease was just taken */
    if (connected)
        g.interval_us = interval;
    if (a->w != NULL) { /* the kept session's lease, renewed (or lost) */
        g.lease = a->w->lease;
        a->w->lease = NULL;
    }
    v = cluster_gate(a->d->cluster, &g);
    if (a->w != NULL)
        a->w->lease = g.lease;
    else
        a->lease = g.lease;
    if (v == GATE_GO) {
        if (g.wait > 0)
            nap(g.wait);
        return true;
    }
    a->r->outcome = SCHED_POSTPONED;
    if (v == GATE_DOWN) {
        /* Redis went out of reach since the job was taken: again, under this host's share */
        int index, n;

        cluster_share(a->d->cluster, &index, &n);
        pthread_mutex_lock(&a->d->lock);
        sched_set_share(a->d->sched, index, n, true);
        pthread_mutex_unlock(&a->d->lock);
        a->r->retry_at = time_now();
        return false;
    }
    msg_debug("%s: target %s: waiting %.3f s for the cluster (%s)", a->id, a->t.name, g.wait,
              g.reason == WAIT_CONNECTIONS ? "every connection lease is held"
              : g.reason == WAIT_THROTTLED ? "paused after a throttling reply"
                                           : "the shared pace");
    /* a slot taken by a host that stopped frees when its lease expires; others sooner */
    a->r->retry_at = time_now() + (g.wait < 0.05 ? 0.05 : g.wait > 5 ? 5 : g.wait);
    if (a->w != NULL && a->w->lease == NULL && g.max_connections > 0) {
        worker_close_conn(a->w); /* its lease was lost: it may not stay open */
        a->w = NULL;
        a->r->conn_messages = 0;
    }
    return false;
}

/* send_copy - the copy to its pending recipients, on the kept session when it still fits the
 * target, else on a new one; every recipient's result goes into a->o */
static void send_copy(struct attempt *a)
{
    size_t flen;
    char *fingerprint;

    pthread_mutex_lock(&a->d->lock);
    sched_set_target(a->d->sched, a->t.name, a->t.max_connections, a->t.rate);
    pthread_mutex_unlock(&a->d->lock);

    /* A kept session is reused only for the target exactly as it was opened (host, account). */
    fingerprint = target_encode(&a->t, &flen);
    if (a->w != NULL &&
        (strcmp(a->w->fingerprint, fingerprint) != 0 || !smtp_client_usable(a->w->client))) {
        worker_close_conn(a->w);
        a->w = NULL;
        a->r->conn_messages = 0;
    }
    if (a->w == NULL && !gate(a, false)) {
        free(fingerprint);
        return;
    }
    deliverydir_inflight(a->d->spool_path, a->id, true);
    if (a->w != NULL)
        set_host(a, a->w->host, a->w->port);
    for (bool first = true;; first = false) {
        if (a->w == NULL && !connect_target(a, fingerprint))
            break;
        if (first && !gate(a, true)) { /* not its turn yet: the session is kept for it */
            deliverydir_inflight(a->d->spool_path, a->id, false);
            break;
        }
        if (transmit(a, first))
            break;
    }
    free(fingerprint);
}

/* decide - settle every pending recipient (outcome.h), as of the attempt's start */
static void decide(struct attempt *a)
{
    const struct byosmtp_conf *conf = a->conf;
    struct outcome_params p = {
        .arrival = a->c->env.arrival,
        .attempts = a->st.attempts,
        .now = a->t_start,
        .retry = {conf->delivery.retry.min_backoff, conf->delivery.retry.max_backoff,
                  conf->delivery.retry.max_lifetime, 0},
        .fallback_mta = a->have_target && a->t.fallback == TARGET_FALLBACK_MTA,
        .fallback_after = a->have_target ? a->t.fallback_after : 0,
    };

    a->t_done = time_now();
    outcome_decide(&a->o, &p);
}

/* dsn_rcpt_of - the DSN entry of pending recipient K with ACTION, from its result */
static struct dsn_rcpt dsn_rcpt_of(const struct attempt *a, size_t k, enum dsn_action action)
{
    const struct outcome_rcpt *r = &a->o.rcpt[k];

    return (struct dsn_rcpt){
        .final_rcpt = a->rcpts[k],
        .orig_rcpt = a->dsn[k].orcpt,
        .action = action,
        .status = r->enhanced,
        .reply_code = r->code,
        .remote_mta = a->host,
        .diagnostic = r->reply,
        .class_name = action == DSN_RELAYED ? NULL : smtp_class_name(r->cls),
        .class_hint = action == DSN_RELAYED ? NULL : smtp_class_hint(r->cls),
    };
}

/* notify_success - a success notice (Action relayed) to the sender for the recipients just sent
 * that asked for one (NOTIFY=SUCCESS); the recipients are sent already, so a notice that cannot
 * be submitted is only logged */
static void notify_success(struct attempt *a)
{
    struct dsn_rcpt *dr = xcalloc(a->o.n + 1, sizeof(*dr));
    size_t n = 0;
    char *err = NULL;
    int rc;

    for (size_t k = 0; k < a->o.n; k++)
        if (a->o.rcpt[k].fate == OUTCOME_SENT && dsnopt_wants_success(&a->dsn[k]))
            dr[n++] = dsn_rcpt_of(a, k, DSN_RELAYED);
    if (n > 0 && (rc = bounce_send(a->conf, a->d->hostname, a->c, dr, n, &err)) < 0) {
        msg_warn("%s: sender success notification not sent: %s", a->id, err);
        free(err);
    } else if (n > 0 && rc > 0) {
        msg_info("%s: sender success notification to <%s> for %zu recipient%s", a->id,
                 a->c->env.sender, n, n == 1 ? "" : "s");
    }
    free(dr);
}

/* hand_back - the recipients of fate fallback to the local MTA, then marked and logged; when
 * the MTA does not take them they stay pending (outcome_fallback_failed) */
static void hand_back(struct attempt *a)
{
    struct outcome *o = &a->o;
    size_t *idx = xcalloc(o->nfallback + 1, sizeof(*idx)), n = 0;
    char *err = NULL;

    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_FALLBACK)
            idx[n++] = o->rcpt[k].idx;
    if (fallback_send(a->conf, a->c, idx, n, &err) < 0) {
        msg_warn("%s: not handed back to the local MTA, the recipients stay in the queue: %s",
                 a->id, err);
        free(err);
        outcome_fallback_failed(o);
    } else {
        for (size_t k = 0; k < o->n; k++)
            if (o->rcpt[k].fate == OUTCOME_FALLBACK) {
                a->st.rcpt[o->rcpt[k].idx] = RCPT_FALLBACK;
                log_rcpt(a, k);
            }
        msg_info("%s: handed back to the local MTA (%s: %s) for %zu recipient%s", a->id,
                 FALLBACK_HEADER, a->id, n, n == 1 ? "" : "s");
    }
    free(idx);
}

/* bounce - a DSN for the recipients lost for good (those whose NOTIFY asks for it), then they
 * are marked bounced; when it cannot be submitted they stay pending */
static void bounce(struct attempt *a)
{
    struct outcome *o = &a->o;
    struct dsn_rcpt *dr = xcalloc(o->nlost, sizeof(*dr));
    size_t n = outcome_bounce_list(o, a->rcpts, a->host, dr), m = 0, j = 0;
    char *err = NULL;
    int rc = 0;

    /* outcome_bounce_list lists the lost recipients in o->rcpt's order */
    for (size_t k = 0; k < o->n && j < n; k++)
        if (outcome_lost(&o->rcpt[k])) {
            dr[j].orig_rcpt = a->dsn[k].orcpt;
            if (dsnopt_wants_failure(&a->dsn[k]))
                dr[m++] = dr[j];
            j++;
        }
    if (m > 0)
        rc = bounce_send(a->conf, a->d->hostname, a->c, dr, m, &err);
    free(dr);
    if (rc < 0) {
        msg_warn("%s: sender non-delivery notification not sent, the recipients stay in the "
                 "queue: %s", a->id, err);
        free(err);
        outcome_dsn_failed(o);
        return;
    }
    for (size_t k = 0; k < o->n; k++)
        if (outcome_lost(&o->rcpt[k])) {
            a->st.rcpt[o->rcpt[k].idx] = RCPT_BOUNCED;
            log_rcpt(a, k);
        }
    if (rc > 0)
        msg_info("%s: sender non-delivery notification to <%s> for %zu recipient%s", a->id,
                 a->c->env.sender, m, m == 1 ? "" : "s");
    else if (m > 0)
        msg_info("%s: no non-delivery notification: %s", a->id,
                 a->conf->delivery.bounce.enabled ? "null sender"
                                                  : "delivery.bounce.enabled is false");
    if (m < o->nlost)
        msg_info("%s: no non-delivery notification for %zu recipient%s: not asked for (NOTIFY)",
                 a->id, o->nlost - m, o->nlost - m == 1 ? "" : "s");
}

/*
 * warn_delay - one "delayed" notice per copy (delivery.delay_warning, Postfix's
 * delay_warning_time) once the copy has waited that long, for the recipients still deferred
 * that ask for it (no NOTIFY, or NOTIFY with DELAY); st.delay_warned says it was done. A
 * notice that cannot be submitted is tried again at the next attempt.
 */
static void warn_delay(struct attempt *a)
{
    struct outcome *o = &a->o;
    int after = a->conf->delivery.delay_warning;
    struct dsn_rcpt *dr;
    size_t n = 0;
    char *err = NULL;
    int rc = 0;

    if (after <= 0 || a->st.delay_warned || a->t_start - (double)a->c->env.arrival < after)
        return;
    dr = xcalloc(o->n + 1, sizeof(*dr));
    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_DEFERRED && dsnopt_wants_delay(&a->dsn[k])) {
            dr[n] = dsn_rcpt_of(a, k, DSN_DELAYED);
            dr[n++].retry_until = (time_t)(a->c->env.arrival + a->conf->delivery.retry.max_lifetime);
        }
    if (n > 0)
        rc = bounce_send(a->conf, a->d->hostname, a->c, dr, n, &err);
    free(dr);
    if (rc < 0) {
        msg_warn("%s: sender delay notification not sent (tried again next time): %s", a->id,
                 err);
        free(err);
        return;
    }
    a->st.delay_warned = true;
    if (rc > 0)
        msg_info("%s: sender delay notification to <%s> for %zu recipient%s", a->id,
                 a->c->env.sender, n, n == 1 ? "" : "s");
}

/* defer - the recipients left: logged, and their next attempt and why in the state file */
static void defer(struct attempt *a)
{
    struct outcome *o = &a->o;
    char *err = NULL;

    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_DEFERRED)
            log_rcpt(a, k);
    warn_delay(a);
    save_doubt(a);
    if (o->count_attempt)
        a->st.attempts++;
    a->st.next_attempt = o->next_attempt;
    free(a->st.last_error);
    a->st.last_error = outcome_last_error(o);
    if (spool_state_write(a->d->spool, a->id, &a->st, &err) < 0) {
        msg_error("%s: the delivery state was not recorded: %s", a->id, err);
        free(err);
    }
    a->r->outcome = o->throttled ? SCHED_THROTTLED : SCHED_DEFERRED;
    a->r->next_attempt = a->st.next_attempt;
}

/* apply - act on the decision in the order that loses nothing (worker.h), then count */
static void apply(struct attempt *a)
{
    struct outcome *o = &a->o;
    char *err = NULL;

    for (size_t k = 0; k < o->n; k++)
        if (o->rcpt[k].fate == OUTCOME_SENT) {
            a->st.rcpt[o->rcpt[k].idx] = RCPT_SENT;
            log_rcpt(a, k);
        }
    /* 1. the recipients just accepted, durable before any other step */
    if (o->nsent > 0 && o->nsent < o->n &&
        spool_state_write(a->d->spool, a->id, &a->st, &err) < 0) {
        msg_error("%s: the recipients just delivered were not recorded (they may receive the "
                  "message again): %s", a->id, err);
        free(err);
    }
    if (o->nsent > 0)
        notify_success(a);
    /* 2. the recipients handed back to the local MTA (fallback = mta), then marked */
    if (o->nfallback > 0)
        hand_back(a);
    /* 3. the recipients lost for good: a DSN, then they are marked */
    if (o->nlost > 0)
        bounce(a);
    /* 4. the copy: removed when nothing is left, else its next attempt */
    if (o->ndeferred == 0) {
        finish(a->d, a->id, &a->st);
        a->r->outcome = SCHED_FINISHED;
    } else {
        defer(a);
    }
    count(a->d, a->have_target ? a->t.name : a->c->env.target, o);
    a->r->delivered = o->nsent > 0;
    if (a->conn_broken && o->nsent == 0 && !o->throttled)
        a->r->conn_failed = true;
    deliverydir_inflight(a->d->spool_path, a->id, false);
}

/* release - the session back for reuse while it is healthy and has messages left; the rest freed */
static void release(struct attempt *a)
{
    int max = a->conf->delivery.conn_max_messages;

    if (a->w != NULL && smtp_client_usable(a->w->client) && !a->o.throttled &&
        (max <= 0 || a->r->conn_messages < max)) {
        a->r->conn = a->w;
    } else {
        worker_close_conn(a->w);
        a->r->conn = NULL;
    }
    if (a->lease != NULL) /* taken for a session that was not opened */
        cluster_lease_release(a->d->cluster, a->t.name, a->lease);
    free(a->why);
    free(a->host);
    free(a->rcpts);
    for (size_t k = 0; a->dsn != NULL && k < a->o.n; k++)
        dsnopt_rcpt_free(&a->dsn[k]);
    free(a->dsn);
    outcome_free(&a->o);
    smtp_result_free(&a->res);
    if (a->have_state)
        spool_state_free(&a->st);
    target_free(&a->t);
    spool_copy_close(a->c);
}

/* worker_attempt - load, send, decide, apply; the session kept or closed */
void worker_attempt(struct delivery *d, const struct byosmtp_conf *conf, const struct sched_job *job,
                    struct sched_result *r)
{
    struct attempt a = {.d = d, .conf = conf, .id = job->id, .r = r, .w = job->conn};

    a.t_start = a.t_conn = time_now();
    memset(r, 0, sizeof(*r));
    r->conn_messages = job->conn_messages;
    smtp_result_init(&a.res);
    a.shared = job->shared;
    if (load(&a)) {
        if (load_target(&a))
            send_copy(&a);
        if (r->outcome != SCHED_POSTPONED) {
            decide(&a);
            apply(&a);
        }
    }
    release(&a);
}
