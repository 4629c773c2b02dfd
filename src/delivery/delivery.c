/*
 * delivery - the delivery process: start-up, recovery, the main loop (wake-ups, requests,
 * timers, signals) and the worker threads (see delivery.h).
 *
 * Threads: the main thread feeds the scheduler (new copies, requests, rescans), closes idle
 * sessions, writes the counters and handles signals (signalfd; every thread blocks them).
 * Workers take jobs from the scheduler under d.lock and deliver them without it.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "delivery/backoff.h"
#include "delivery/delivery.h"
#include "delivery/deliverydir.h"
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
            free(job.target);
            pthread_cond_broadcast(&d->cond);
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

        pthread_mutex_lock(&d->lock);
        added = sched_add(d->sched, id, c->env.target, st.next_attempt);
        if (added && count_accepted && rc == 0 && c->env.arrival >= started) {
            dstats_get(&d->stats, c->env.target)->accepted += c->env.nrcpts;
            d->stats_dirty = true;
        }
        pthread_cond_broadcast(&d->cond);
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

struct main_ctx {
    struct delivery *d;
    int64_t started;
    bool rescan;
};

/* on_wake - one inotify event */
static void on_wake(void *ctx, enum wake_event ev, const char *name)
{
    struct main_ctx *m = ctx;

    if (ev == WAKE_COPY && spool_valid_id(name))
        add_copy(m->d, name, true, m->started, NULL);
    else if (ev == WAKE_RESCAN)
        m->rescan = true;
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

/* refresh_targets - re-read the limits of every known target (changes apply at once) */
static void refresh_targets(struct delivery *d)
{
    const char **names;
    char **copy;
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = sched_targets(d->sched, &names);
    copy = xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(names[i]);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++) {
        struct target t;
        char *err = NULL;

        if (store_target_get(d->store, copy[i], &t, &err) > 0) {
            pthread_mutex_lock(&d->lock);
            sched_set_target(d->sched, t.name, t.max_connections, t.rate);
            pthread_mutex_unlock(&d->lock);
        }
        target_free(&t);
        free(err);
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
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++)
        worker_close_conn(conns[i]);
    free(conns);
}

/* write_stats - the counters file, when something changed */
static void write_stats(struct delivery *d)
{
    char *err = NULL;
    struct dstats copy = {0};

    pthread_mutex_lock(&d->lock);
    if (d->stats_dirty) {
        copy.since = d->stats.since;
        for (size_t i = 0; i < d->stats.n; i++) {
            struct dstats_target *t = dstats_get(&copy, d->stats.t[i].name);

            t->accepted = d->stats.t[i].accepted;
            t->delivered = d->stats.t[i].delivered;
            t->deferred = d->stats.t[i].deferred;
            t->bounced = d->stats.t[i].bounced;
        }
        d->stats_dirty = false;
    }
    pthread_mutex_unlock(&d->lock);
    if (copy.since == 0)
        return;
    if (deliverydir_stats_write(d->spool_path, &copy, &err) < 0) {
        msg_warn("counters: %s", err);
        free(err);
    }
    dstats_free(&copy);
}

/* become_user - drop root for NAME (milter.user) after the key is read; 0 or -1 */
static int become_user(const char *name)
{
    struct passwd *pw;

    if (geteuid() != 0 || name == NULL || *name == '\0')
        return 0;
    if ((pw = getpwnam(name)) == NULL) {
        msg_error("delivery: milter.user: no user '%s'", name);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        msg_error("delivery: cannot become user %s: %s", name, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        msg_error("delivery: could regain root after becoming %s: refusing to run", name);
        return -1;
    }
    return 0;
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

/* write_pid - delivery/pid, for admins and tests */
static void write_pid(const char *spool)
{
    char *p = deliverydir_path(spool, "pid");
    FILE *fp = fopen(p, "w");

    if (fp != NULL) {
        fprintf(fp, "%ld\n", (long)getpid());
        fclose(fp);
    }
    free(p);
}

int delivery_run(const char *conf_file, int64_t started)
{
    struct delivery d;
    struct main_ctx m = {.d = &d, .started = started};
    struct byosmtp_conf *conf = NULL;
    struct wake *wk = NULL;
    struct dstats old;
    pthread_t *threads = NULL;
    sigset_t sigs;
    char *err = NULL, *qdir = NULL, *rdir = NULL;
    int sfd = -1, lockfd = -1, nthreads = 0, status = 1, rc;
    double last_scan, last_idle = 0, last_refresh;

    memset(&d, 0, sizeof(d));
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.cond, NULL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    if (conf_file == NULL)
        conf = conf_defaults();
    else if (conf_load(conf_file, &conf, &err) < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    d.conf = conf;
    if ((rc = msg_level_parse(conf->log.level)) >= 0)
        msg_set_level((enum msg_level)rc);
    host_name(d.hostname, sizeof(d.hostname));
    if (*conf->delivery.helo_name)
        snprintf(d.hostname, sizeof(d.hostname), "%s", conf->delivery.helo_name);
    /* Only this process reads the key, then it gives up root like the milter process. */
    if (secret_key_load(conf->secrets.key_file, &d.key, &err) < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    if (become_user(conf->milter.user) < 0)
        goto out;
    if (spool_open(conf->spool.path, false, (uid_t)-1, (gid_t)-1, &d.spool, &err) < 0 ||
        deliverydir_make(conf->spool.path, &err) < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    d.spool_path = spool_path(d.spool);
    if ((rc = deliverydir_lock(d.spool_path, false, &lockfd, &err)) == 0) {
        msg_warn("delivery: another delivery process still runs on spool %s: waiting for it to "
                 "stop", d.spool_path);
        rc = deliverydir_lock(d.spool_path, true, &lockfd, &err);
    }
    if (rc < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    if (store_open(conf->store.path, conf->store.map_size, STORE_WRITE, &d.store, &err) < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    {
        struct tls_settings ts = {.ca_file = conf->delivery.tls_ca_file,
                                  .ca_path = conf->delivery.tls_ca_path,
                                  .min_version = conf->delivery.tls_min_version};

        if (tls_ctx_new(&ts, &d.tls, &err) < 0) {
            msg_error("delivery: %s", err);
            goto out;
        }
    }
    /* The counters run from byosmtpd's start: kept across a restart of this process only. */
    rc = deliverydir_stats_read(d.spool_path, &old, &err);
    if (rc > 0 && old.since == started) {
        d.stats = old;
    } else {
        if (rc < 0) {
            msg_warn("delivery: %s: counting from zero", err);
            free(err);
            err = NULL;
        } else if (rc > 0) {
            dstats_free(&old);
        }
        d.stats.since = started;
    }
    d.stats_dirty = true;
    write_pid(d.spool_path);

    {
        struct sched_config sc = sched_config_of(conf);

        d.sched = sched_new(&sc);
    }
    qdir = xasprintf("%s/queue", d.spool_path);
    rdir = deliverydir_path(d.spool_path, "requests");
    if (wake_open(qdir, rdir, &wk, &err) < 0) {
        msg_error("delivery: %s", err);
        goto out;
    }
    /* watch first, then scan: a copy published in between is seen by one or the other */
    recover(&d, started);
    deliverydir_requests_take(d.spool_path, on_request, &d);
    refresh_targets(&d);
    last_scan = last_refresh = time_now();

    nthreads = conf->delivery.workers > 0 ? conf->delivery.workers : 1;
    threads = xcalloc((size_t)nthreads, sizeof(*threads));
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker_main, &d) != 0) {
            msg_error("delivery: cannot start worker thread %d", i + 1);
            nthreads = i;
            break;
        }
    msg_info("delivery: started with %d worker%s, spool %s", nthreads, nthreads == 1 ? "" : "s",
             d.spool_path);

    for (;;) {
        struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = wake_fd(wk), .events = POLLIN}};
        struct signalfd_siginfo si;
        bool stop = false, hup = false;
        double now;

        if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
            msg_warn("delivery: poll: %s", strerror(errno));
        while (sfd >= 0 && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGHUP)
                hup = true;
            else
                stop = true;
        }
        if (stop)
            break;
        if (hup) {
            struct byosmtp_conf *nc = NULL;

            if (conf_file != NULL && conf_load(conf_file, &nc, &err) == 0) {
                struct sched_config sc = sched_config_of(nc);
                struct byosmtp_conf *prev;

                pthread_mutex_lock(&d.lock);
                prev = d.conf;
                d.conf = nc;
                sched_set_config(d.sched, &sc);
                pthread_mutex_unlock(&d.lock);
                conf_unref(prev);
                msg_info("delivery: configuration reloaded (delivery.workers applies after a "
                         "restart)");
            } else if (conf_file != NULL) {
                msg_error("delivery: reload refused, the running configuration stays: %s", err);
                free(err);
                err = NULL;
            }
        }
        m.rescan = false;
        wake_read(wk, on_wake, &m);
        deliverydir_requests_take(d.spool_path, on_request, &d);
        now = time_now();
        if (m.rescan || now - last_scan >= DELIVERY_RESCAN) {
            scan(&d, false, started, NULL);
            last_scan = now;
        }
        if (now - last_refresh >= 10) {
            refresh_targets(&d);
            last_refresh = now;
        }
        if (now - last_idle >= 1) {
            close_idle(&d, false);
            write_stats(&d);
            last_idle = now;
        }
    }
    msg_info("delivery: stopping after the attempts in progress");
    status = 0;
out:
    pthread_mutex_lock(&d.lock);
    d.stopping = true;
    pthread_cond_broadcast(&d.cond);
    pthread_mutex_unlock(&d.lock);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    if (d.sched != NULL) {
        d.stats_dirty = true;
        write_stats(&d);
        sched_free(d.sched, worker_close_conn);
    }
    if (d.spool_path != NULL && status == 0) {
        char *p = deliverydir_path(d.spool_path, "pid");

        unlink(p);
        free(p);
    }
    wake_close(wk);
    free(qdir);
    free(rdir);
    free(err);
    dstats_free(&d.stats);
    tls_ctx_free(d.tls);
    store_close(d.store);
    spool_close(d.spool);
    secret_key_free(d.key);
    if (lockfd >= 0)
        close(lockfd);
    if (sfd >= 0)
        close(sfd);
    conf_unref(d.conf);
    pthread_cond_destroy(&d.cond);
    pthread_mutex_destroy(&d.lock);
    if (status == 0)
        msg_info("delivery: stopped");
    return status;
}
