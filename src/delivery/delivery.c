/*
 * delivery - the delivery process: start-up, recovery, the main loop (wake-ups, requests,
 * timers, signals) and the worker threads (see delivery.h).
 *
 * Threads: the main thread feeds the scheduler (new copies, requests, rescans), closes idle
 * sessions, writes the counters and takes the signals (util/daemon.h: they are blocked in
 * every other thread, and in the main thread too until its loop starts).
 * Workers take jobs from the scheduler under d.lock and deliver them without it.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "delivery/backoff.h"
#include "delivery/cluster_link.h"
#include "delivery/delivery.h"
#include "delivery/deliverydir.h"
#include "delivery/events.h"
#include "delivery/metrics.h"
#include "delivery/metrics_http.h"
#include "delivery/oauth.h"
#include "util/daemon.h"
#include "util/https.h"
#include "util/msg.h"
#include "smtp/tls.h"
#include "delivery/wake.h"
#include "delivery/worker.h"

/* dmin - the smaller of two times (no libm for this) */
static double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* sched_config_of - the scheduler's settings from byosmtp.conf */
static struct sched_config sched_config_of(const struct byosmtp_conf *c)
{
    int workers = c->delivery.workers > 0 ? c->delivery.workers : 1;
    /* THROTTLE_START, or less when retries are faster than that (test set-ups) */
    double tmin = c->delivery.retry.min_backoff < THROTTLE_START ? c->delivery.retry.min_backoff
                                                                 : THROTTLE_START;

    /* A target whose max_connections is 0 may use half the workers: one slow or broken
     * provider then never holds every worker, whatever else is queued. */
    return (struct sched_config){
        .default_max_connections = workers > 1 ? (workers + 1) / 2 : 1,
        .idle_timeout = c->delivery.conn_idle_timeout,
        .max_messages = c->delivery.conn_max_messages,
        .throttle_min = tmin < 1 ? 1 : tmin,
        .throttle_max = c->delivery.retry.max_backoff > 0 ? c->delivery.retry.max_backoff : 4000,
    };
}

/* worker_main - take a job, deliver it, report, until the process stops */
static void *worker_main(void *arg)
{
    struct delivery *d = arg;

    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        struct sched_job job;
        struct sched_result r;
        double wake_at, now = time_now();

        if (sched_take(d->sched, now, &job, &wake_at)) {
            struct byosmtp_conf *conf = conf_ref(d->conf);
            bool del;

            pthread_mutex_unlock(&d->lock);
            worker_attempt(d, conf, &job, &r);
            conf_unref(conf);
            pthread_mutex_lock(&d->lock);
            del = sched_done(d->sched, time_now(), &job, &r);
            if (r.outcome == SCHED_THROTTLED && d->cluster != NULL) {
                pthread_mutex_unlock(&d->lock);
                cluster_link_throttled(d, job.target); /* the other hosts pause too */
                pthread_mutex_lock(&d->lock);
            }
            free(job.target);
            /* One slot of the target is free again: one more worker may take a job. A broadcast
             * here woke every idle worker per message, each to find nothing and sleep again
             * (2 x delivery.workers futex calls per message; bench/RESULTS-2026-12-02.md). */
            pthread_cond_signal(&d->cond);
            if (del) {
                pthread_mutex_unlock(&d->lock);
                worker_remove_copy(d, job.id);
                pthread_mutex_lock(&d->lock);
            }
            continue;
        }
        {
            double until = dmin(wake_at, now + 5);
            struct timespec ts = {.tv_sec = (time_t)until,
                                  .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};

            pthread_cond_timedwait(&d->cond, &d->lock, &ts);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* learn_target - target NAME's limits from the store into the scheduler (changes apply at once) */
static void learn_target(struct delivery *d, const char *name)
{
    struct target t;
    char *err = NULL;

    if (store_target_get(d->store, name, &t, &err) > 0) {
        pthread_mutex_lock(&d->lock);
        sched_set_target(d->sched, t.name, t.max_connections, t.rate);
        pthread_mutex_unlock(&d->lock);
    }
    target_free(&t);
    free(err);
}

/* add_copy - schedule copy ID from queue/ when it is new; RECOVERY: at start (counted, logged) */
static void add_copy(struct delivery *d, const char *id, bool count_accepted, int64_t started,
                     size_t *moved)
{
    struct spool_copy *c = NULL;
    struct spool_state st;
    char *err = NULL;
    bool known;
    int rc;

    pthread_mutex_lock(&d->lock);
    known = sched_has(d->sched, id);
    pthread_mutex_unlock(&d->lock);
    if (known)
        return;
    rc = spool_copy_open(d->spool, "queue", id, &c, &err);
    if (rc == SPOOL_CORRUPT) {
        char *p = xasprintf("%s/queue/%s", d->spool_path, id);

        /* the milter process's recovery may be moving it at the same moment */
        if (access(p, F_OK) == 0 && spool_move_corrupt(d->spool, "queue", id, err, NULL) == 0 &&
            moved != NULL)
            (*moved)++;
        free(p);
    }
    if (rc <= 0) {
        if (rc == -1)
            msg_warn("%s: %s (tried again at the next scan)", id, err);
        free(err);
        return;
    }
    rc = spool_state_read(d->spool, id, c->env.nrcpts, &st, &err);
    if (rc == SPOOL_CORRUPT) {
        char *state = xasprintf("%s.state", id);

        /* Which recipients were done is unknown: the copy is kept aside with its state. */
        spool_move_corrupt(d->spool, "queue", state, err, NULL);
        spool_move_corrupt(d->spool, "queue", id, "its delivery state is unreadable", NULL);
        if (moved != NULL)
            (*moved)++;
        free(state);
    } else if (rc < 0) {
        msg_warn("%s: %s (tried again at the next scan)", id, err);
    } else {
        bool added;

        /* a target's first copy: its limits before any worker may take it */
        pthread_mutex_lock(&d->lock);
        known = sched_target_known(d->sched, c->env.target);
        pthread_mutex_unlock(&d->lock);
        if (!known)
            learn_target(d, c->env.target);
        pthread_mutex_lock(&d->lock);
        added = sched_add(d->sched, id, c->env.target, st.next_attempt);
        if (added && count_accepted && rc == 0 && c->env.arrival >= started) {
            dstats_get(&d->stats, c->env.target)->accepted += c->env.nrcpts;
            d->stats_dirty = true;
        }
        if (added)
            pthread_cond_signal(&d->cond); /* one new job: one worker */
        pthread_mutex_unlock(&d->lock);
        if (added)
            msg_debug("%s: queued for %s, %zu recipient%s, mta_queue_id=%s", id, c->env.target,
                      c->env.nrcpts, c->env.nrcpts == 1 ? "" : "s", c->env.mta_queue_id);
        spool_state_free(&st);
    }
    free(err);
    spool_copy_close(c);
}

/* scan - schedule every copy of queue/ not yet known */
static void scan(struct delivery *d, bool count_accepted, int64_t started, size_t *moved)
{
    char **ids, *err = NULL;
    size_t n;

    if (spool_list(d->spool, &ids, &n, &err) < 0) {
        msg_warn("%s", err);
        free(err);
        return;
    }
    for (size_t i = 0; i < n; i++)
        add_copy(d, ids[i], count_accepted, started, moved);
    spool_list_free(ids, n);
}

/* The delivery process as delivery_run builds it: the workers' shared part, the main thread's. */
struct run {
    struct delivery d;
    const char *conf_file; /* NULL: the compiled-in defaults */
    int64_t started;       /* when byosmtpd started */
    struct wake *wk;
    pthread_t *threads;
    int nthreads;
    int lockfd;  /* the spool's delivery lock, held while running */
    bool rescan;   /* events were lost: scan queue/ now */
    bool requests; /* a request arrived (or events were lost): read delivery/requests/ now */
    double last_scan, last_refresh, last_idle, last_requests, last_textfile;
    struct metrics_http *metrics; /* metrics.listen; NULL when not set */
    struct cluster_link *link;    /* cluster mode's thread; NULL without */
};

/* on_wake - one inotify event */
static void on_wake(void *ctx, enum wake_event ev, const char *name)
{
    struct run *r = ctx;

    if (ev == WAKE_COPY && spool_valid_id(name))
        add_copy(&r->d, name, true, r->started, NULL);
    else if (ev == WAKE_REQUEST)
        r->requests = true;
    else if (ev == WAKE_RESCAN)
        r->rescan = r->requests = true;
}

/* on_request - one request of byosmtpctl */
static void on_request(void *ctx, const char *verb, const char *arg)
{
    struct delivery *d = ctx;
    size_t n = 0;
    int rc = 0;

    pthread_mutex_lock(&d->lock);
    if (strcmp(verb, "flush") == 0 && spool_valid_id(arg))
        n = sched_flush(d->sched, arg, NULL);
    else if (strcmp(verb, "flush-target") == 0)
        n = sched_flush(d->sched, NULL, arg);
    else if (strcmp(verb, "flush-all") == 0)
        n = sched_flush(d->sched, NULL, NULL);
    else if (strcmp(verb, "delete") == 0 && spool_valid_id(arg))
        rc = sched_request_delete(d->sched, arg);
    else
        rc = -1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    if (rc < 0)
        msg_warn("unknown delivery request '%s %s': ignored", verb, arg);
    else if (strcmp(verb, "delete") == 0 && rc != 2)
        worker_remove_copy(d, arg); /* waiting, or not yet scheduled */
    else if (strcmp(verb, "delete") == 0)
        msg_info("%s: will be deleted when the attempt in progress ends", arg);
    else
        msg_info("flush (%s%s%s): %zu message%s made due now", verb, *arg ? " " : "", arg, n,
                 n == 1 ? "" : "s");
}

/* refresh_targets - re-read the limits of every known target */
static void refresh_targets(struct delivery *d)
{
    char **copy;
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = sched_targets(d->sched, &copy);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++) {
        learn_target(d, copy[i]);
        free(copy[i]);
    }
    free(copy);
}

/* close_idle - close the idle sessions past delivery.conn_idle_timeout (all with FORCE) */
static void close_idle(struct delivery *d, bool force)
{
    void **conns;
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = sched_expire_idle(d->sched, time_now(), force, &conns);
    if (n > 0)
        pthread_cond_broadcast(&d->cond); /* connection slots freed */
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++)
        worker_close_conn(conns[i]);
    free(conns);
}

/* write_stats - the counters file, when something changed; true when it did */
static bool write_stats(struct delivery *d)
{
    char *err = NULL;
    struct dstats copy = {0};

    pthread_mutex_lock(&d->lock);
    if (d->stats_dirty)
        dstats_copy(&copy, &d->stats);
    d->stats_dirty = false;
    pthread_mutex_unlock(&d->lock);
    if (copy.since == 0)
        return false;
    if (deliverydir_stats_write(d->spool_path, &copy, &err) < 0) {
        msg_warn("counters: %s", err);
        free(err);
    }
    dstats_free(&copy);
    return true;
}

/* render_metrics - metrics_http's callback */
static char *render_metrics(void *ctx)
{
    return metrics_text(ctx);
}

/* write_textfile - metrics.textfile, when set */
static void write_textfile(struct delivery *d, const char *path)
{
    char *text, *err = NULL;

    if (path == NULL || *path == '\0')
        return;
    text = metrics_text(d);
    if (metrics_textfile_write(path, text, &err) < 0) {
        msg_warn("%s", err);
        free(err);
    }
    free(text);
}

/* become_user - drop root for NAME (milter.user) after the key is read; 0, or -1 with *err */
static int become_user(const char *name, char **err)
{
    struct passwd *pw;

    if (geteuid() != 0 || name == NULL || *name == '\0')
        return 0;
    if ((pw = getpwnam(name)) == NULL)
        return set_err(err, "milter.user: no user '%s'", name);
    return daemon_become(pw, err);
}

/* recover - the start-up pass over queue/ and the marks of interrupted attempts */
static void recover(struct delivery *d, int64_t started)
{
    char **ids, *err = NULL;
    size_t n, moved = 0, dups = 0;

    if (deliverydir_inflight_left(d->spool_path, &ids, &n, &err) < 0) {
        msg_warn("recovery: %s", err);
        free(err);
        n = 0;
        ids = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char *p = xasprintf("%s/queue/%s", d->spool_path, ids[i]);

        if (access(p, F_OK) == 0) {
            msg_warn("%s: possible duplicate: the previous delivery process stopped while "
                     "sending this message; its pending recipients are sent again and may "
                     "receive it twice", ids[i]);
            dups++;
        }
        free(p);
    }
    spool_list_free(ids, n);
    scan(d, true, started, &moved);
    pthread_mutex_lock(&d->lock);
    n = sched_count(d->sched);
    pthread_mutex_unlock(&d->lock);
    msg_info("delivery: recovered %zu queued message%s, %zu moved to corrupt/, %zu possible "
             "duplicate%s", n, n == 1 ? "" : "s", moved, dups, dups == 1 ? "" : "s");
}

/* failed - log the start-up error ERR and free it; returns -1 */
static int failed(char *err)
{
    msg_error("delivery: %s", err);
    free(err);
    return -1;
}

/* load_settings - byosmtp.conf (or the defaults), the log level, the name given in HELO */
static int load_settings(struct run *r, char **err)
{
    struct delivery *d = &r->d;
    int level;

    if (r->conf_file == NULL)
        d->conf = conf_defaults();
    else if (conf_load(r->conf_file, &d->conf, err) < 0)
        return -1;
    if ((level = msg_level_parse(d->conf->log.level)) >= 0)
        msg_set_level((enum msg_level)level);
    host_name(d->hostname, sizeof(d->hostname));
    if (*d->conf->delivery.helo_name)
        snprintf(d->hostname, sizeof(d->hostname), "%s", d->conf->delivery.helo_name);
    return 0;
}

/* open_spool - the spool, its delivery/ directory, and the lock: one delivery process a spool */
static int open_spool(struct run *r, char **err)
{
    struct delivery *d = &r->d;
    int rc;

    if (spool_open(d->conf->spool.path, false, (uid_t)-1, (gid_t)-1, &d->spool, err) < 0 ||
        deliverydir_make(d->conf->spool.path, err) < 0)
        return -1;
    d->spool_path = spool_path(d->spool);
    if ((rc = deliverydir_lock(d->spool_path, false, &r->lockfd, err)) == 0) {
        msg_warn("delivery: another delivery process still runs on spool %s: waiting for it to "
                 "stop", d->spool_path);
        rc = deliverydir_lock(d->spool_path, true, &r->lockfd, err);
    }
    return rc < 0 ? -1 : 0;
}

/* open_tls - the TLS context of every connection, from delivery.tls_* */
static int open_tls(struct delivery *d, char **err)
{
    struct tls_settings ts = {.ca_file = d->conf->delivery.tls_ca_file,
                              .ca_path = d->conf->delivery.tls_ca_path,
                              .min_version = d->conf->delivery.tls_min_version};

    return tls_ctx_new(&ts, &d->tls, err);
}

/* restore_stats - the counters of SPOOL/delivery/stats: kept across restarts, of this process
 * and of byosmtpd (a new file counts from STARTED) */
static void restore_stats(struct delivery *d, int64_t started)
{
    struct dstats old;
    char *err = NULL;
    int rc = deliverydir_stats_read(d->spool_path, &old, &err);

    if (rc > 0 && old.since > 0) {
        d->stats = old;
    } else {
        if (rc < 0) {
            msg_warn("delivery: %s: counting from zero", err);
            free(err);
        } else if (rc > 0) {
            dstats_free(&old);
        }
        d->stats.since = started;
    }
    d->stats_dirty = true;
}

/* open_wake - watch queue/ and delivery/requests/ */
static int open_wake(struct run *r, char **err)
{
    char *qdir = xasprintf("%s/queue", r->d.spool_path);
    char *rdir = deliverydir_path(r->d.spool_path, "requests");
    int rc = wake_open(qdir, rdir, &r->wk, err);

    free(qdir);
    free(rdir);
    return rc;
}

/* open_cluster - cluster mode: its connection (cluster.password_file is read now, as root) */
static int open_cluster(struct delivery *d, char **err)
{
    d->cluster = cluster_new(d->conf, err);
    return d->cluster == NULL && *err != NULL ? -1 : 0;
}

/* start - everything the main loop needs, in order; 0, or -1 (logged) */
static int start(struct run *r)
{
    struct delivery *d = &r->d;
    struct sched_config sc;
    char *err = NULL, *pid;

    if (load_settings(r, &err) < 0)
        return failed(err);
    /* Only this process reads the key, then it gives up root like the milter process. */
    https_init(); /* libcurl, for token endpoints and the webhook: before any thread */
    /* the webhook's key, like the master key, is read before root is given up */
    if (secret_key_load(d->conf->secrets.key_file, &d->key, &err) < 0 ||
        events_new(d->conf, &d->events, &err) < 0 || open_cluster(d, &err) < 0 ||
        become_user(d->conf->milter.user, &err) < 0 || open_spool(r, &err) < 0 ||
        store_open(d->conf->store.path, d->conf->store.map_size, STORE_WRITE, &d->store,
                   &err) < 0 ||
        open_tls(d, &err) < 0)
        return failed(err);
    d->oauth = oauth_cache_new();
    restore_stats(d, r->started);
    if (*d->conf->metrics.listen &&
        metrics_http_start(d->conf->metrics.listen, render_metrics, d, &r->metrics, &err) < 0)
        return failed(err);
    /* delivery/pid, for admins and tests */
    pid = deliverydir_path(d->spool_path, "pid");
    daemon_pidfile_write(pid, NULL);
    free(pid);
    sc = sched_config_of(d->conf);
    d->sched = sched_new(&sc);
    d->hosts = hostdown_new();
    if (open_wake(r, &err) < 0)
        return failed(err);
    return 0;
}

/* start_workers - recover the queue, then start the delivery.workers threads */
static void start_workers(struct run *r)
{
    struct delivery *d = &r->d;
    int n = d->conf->delivery.workers > 0 ? d->conf->delivery.workers : 1;

    /* watch first, then scan: a copy published in between is seen by one or the other */
    recover(d, r->started);
    deliverydir_requests_take(d->spool_path, on_request, d);
    refresh_targets(d);
    r->last_scan = r->last_refresh = time_now();
    events_start(d->events);
    r->link = cluster_link_start(d);

    r->threads = xcalloc((size_t)n, sizeof(*r->threads));
    for (r->nthreads = 0; r->nthreads < n; r->nthreads++)
        if (pthread_create(&r->threads[r->nthreads], NULL, worker_main, d) != 0) {
            msg_error("delivery: cannot start worker thread %d", r->nthreads + 1);
            break;
        }
    msg_info("delivery: started with %d worker%s, spool %s", r->nthreads,
             r->nthreads == 1 ? "" : "s", d->spool_path);
}

/* reload - SIGHUP: byosmtp.conf again for the next attempts; a bad file keeps the running one */
static void reload(struct run *r)
{
    struct delivery *d = &r->d;
    struct byosmtp_conf *nc = NULL, *prev;
    struct sched_config sc;
    char *err = NULL;

    if (r->conf_file == NULL)
        return;
    if (conf_load(r->conf_file, &nc, &err) != 0) {
        msg_error("delivery: reload refused, the running configuration stays: %s", err);
        free(err);
        return;
    }
    sc = sched_config_of(nc);
    pthread_mutex_lock(&d->lock);
    prev = d->conf;
    d->conf = nc;
    sched_set_config(d->sched, &sc);
    pthread_mutex_unlock(&d->lock);
    if (strcmp(prev->events.command, nc->events.command) != 0 ||
        strcmp(prev->events.webhook_url, nc->events.webhook_url) != 0 ||
        strcmp(prev->events.webhook_secret_file, nc->events.webhook_secret_file) != 0 ||
        prev->events.queue_limit != nc->events.queue_limit ||
        strcmp(prev->metrics.listen, nc->metrics.listen) != 0)
        msg_warn("delivery: reload: the events settings and metrics.listen take effect only "
                 "when byosmtpd is restarted");
    conf_unref(prev);
    msg_info("delivery: configuration reloaded (delivery.workers applies after a restart)");
}

/* serve - the main loop: signals, new copies, requests, rescans, limits, idle sessions, counters */
static void serve(struct run *r)
{
    struct delivery *d = &r->d;

    for (;;) {
        sigset_t got;
        double now;

        if (daemon_signals_wait(wake_fd(r->wk), 1000, &got) < 0)
            msg_warn("delivery: poll: %s", strerror(errno));
        if (sigismember(&got, SIGTERM) || sigismember(&got, SIGINT))
            break;
        if (sigismember(&got, SIGHUP))
            reload(r);
        r->rescan = r->requests = false;
        wake_read(r->wk, on_wake, r);
        now = time_now();
        /* The requests directory is listed when inotify says a request came, and once a second
         * besides (no inotify, or a missed event): not after every new copy. */
        if (r->requests || now - r->last_requests >= 1) {
            deliverydir_requests_take(d->spool_path, on_request, d);
            r->last_requests = now;
        }
        if (r->rescan || now - r->last_scan >= DELIVERY_RESCAN) {
            scan(d, false, r->started, NULL);
            r->last_scan = now;
        }
        if (now - r->last_refresh >= 10) {
            refresh_targets(d);
            r->last_refresh = now;
        }
        if (now - r->last_idle >= 1) {
            close_idle(d, false);
            /* the textfile when the counters changed, and every 10 s for the gauges */
            if ((write_stats(d) || now - r->last_textfile >= 10)) {
                struct byosmtp_conf *c = worker_conf(d);

                write_textfile(d, c->metrics.textfile);
                conf_unref(c);
                r->last_textfile = now;
            }
            r->last_idle = now;
        }
    }
}

/* finish - stop the workers, write the counters, close everything; STATUS 0: a clean stop */
static void finish(struct run *r, int status)
{
    struct delivery *d = &r->d;

    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    free(r->threads);
    cluster_link_stop(r->link);
    metrics_http_stop(r->metrics);
    events_stop(d->events); /* the workers have stopped: no event comes any more */
    d->events = NULL;
    if (d->sched != NULL) {
        d->stats_dirty = true;
        write_stats(d);
        if (d->conf != NULL)
            write_textfile(d, d->conf->metrics.textfile);
        sched_free(d->sched, worker_close_conn); /* their leases given back */
        hostdown_free(d->hosts);
    }
    cluster_free(d->cluster);
    if (d->spool_path != NULL && status == 0) {
        char *p = deliverydir_path(d->spool_path, "pid");

        daemon_pidfile_remove(p);
        free(p);
    }
    wake_close(r->wk);
    dstats_free(&d->stats);
    tls_ctx_free(d->tls);
    oauth_cache_free(d->oauth);
    store_close(d->store);
    spool_close(d->spool);
    secret_key_free(d->key);
    if (r->lockfd >= 0)
        close(r->lockfd);
    daemon_signals_close();
    conf_unref(d->conf);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
}

int delivery_run(const char *conf_file, int64_t started)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct run r = {.conf_file = conf_file, .started = started, .lockfd = -1};
    char *err = NULL;
    int status = 1;

    pthread_mutex_init(&r.d.lock, NULL);
    pthread_cond_init(&r.d.cond, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Blocked until the main loop: the workers never take them, the loop reads them. */
    if (daemon_signals_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), &err) < 0) {
        failed(err);
    } else if (start(&r) == 0) {
        start_workers(&r);
        daemon_signals_listen();
        serve(&r);
        msg_info("delivery: stopping after the attempts in progress");
        status = 0;
    }
    finish(&r, status);
    if (status == 0)
        msg_info("delivery: stopped");
    return status;
}
