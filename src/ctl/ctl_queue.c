/*
 * ctl_queue - "byosmtpctl queue [list] | show ID | flush [ID | --target T] | delete ID" and
 * "byosmtpctl stats" (byosmtpctl(8)).
 *
 * list and show read the spool directly (copies are written once; the state file is replaced
 * whole), so they work whether byosmtpd runs or not. flush and delete must not race the
 * delivery process, which may be sending that very copy: while it runs (it holds
 * delivery/lock) they are left as requests in delivery/requests/, which it acts on at once;
 * when it does not run, byosmtpctl takes the lock itself and changes the spool directly.
 * stats prints the counters the delivery process keeps in delivery/stats.
 *
 * Before byosmtpd has made the spool (a fresh install), there is no queue rather than an
 * error: like postqueue -p, list says it is empty, flush that there is nothing to flush, stats
 * that there are no counters, and an ID is not in the queue; each says in the same words why
 * (NO_SPOOL), and none of them makes the spool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "delivery/deliverydir.h"
#include "util/msg.h"
#include "spool/spool.h"

#define QUEUE_USAGE "byosmtpctl queue [list] | show ID | flush [ID | --target TARGET] | delete ID"
#define REQUEST_WAIT 10 /* seconds byosmtpctl waits for the delivery process to take a request */
#define NO_SPOOL "spool %s does not exist yet (byosmtpd creates it when it starts)"

/* spool_absent - byosmtpd has not made the spool yet: spool.path is missing, or is a directory
 * without queue/ (made by a package, say) */
static bool spool_absent(const struct ctl *ctl)
{
    struct stat sb;
    char *queue;
    bool absent;

    if (stat(ctl->conf->spool.path, &sb) < 0)
        return errno == ENOENT;
    if (!S_ISDIR(sb.st_mode))
        return false;
    queue = xasprintf("%s/queue", ctl->conf->spool.path);
    absent = stat(queue, &sb) < 0 && errno == ENOENT;
    free(queue);
    return absent;
}

/* not_queued - the error of an ID that cannot be in the queue, there being no spool yet */
static int not_queued(const struct ctl *ctl, const char *id)
{
    return ctl_fail(xasprintf("%s is not in the queue: " NO_SPOOL, id, ctl->conf->spool.path));
}

/* open_spool - the spool of the configuration; NULL after printing the error */
static struct spool *open_spool(struct ctl *ctl)
{
    struct spool *sp;
    char *err = NULL;

    if (spool_open(ctl->conf->spool.path, false, (uid_t)-1, (gid_t)-1, &sp, &err) < 0) {
        ctl_fail(err);
        return NULL;
    }
    return sp;
}

/* age_text - "45s", "12m", "3h", "2d" */
static void age_text(int64_t secs, char *buf, size_t n)
{
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        snprintf(buf, n, "%llds", (long long)secs);
    else if (secs < 7200)
        snprintf(buf, n, "%lldm", (long long)(secs / 60));
    else if (secs < 172800)
        snprintf(buf, n, "%lldh", (long long)(secs / 3600));
    else
        snprintf(buf, n, "%lldd", (long long)(secs / 86400));
}

/* time_text - a unix time as "YYYY-MM-DD HH:MM:SS UTC", or "now" for 0 */
static void time_text(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0) {
        snprintf(buf, n, "now");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* error_class - the class word of a state's last error ("rate_limited: 454 ..." -> "rate_limited") */
static void error_class(const char *last, char *buf, size_t n)
{
    size_t l = strcspn(last ? last : "", ":");

    if (last == NULL || *last == '\0')
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*s", (int)(l < n - 1 ? l : n - 1), last);
}

/* queue_list - one line per copy: id, target, age, recipients, last error class, next attempt */
static int queue_list(struct ctl *ctl)
{
    struct spool *sp;
    char **ids, *err = NULL;
    size_t n, shown = 0;
    int64_t now = (int64_t)time(NULL);

    if (spool_absent(ctl)) {
        printf("0 messages in the queue: " NO_SPOOL "\n", ctl->conf->spool.path);
        return CTL_OK;
    }
    if ((sp = open_spool(ctl)) == NULL)
        return CTL_ERROR;
    if (spool_list(sp, &ids, &n, &err) < 0) {
        spool_close(sp);
        return ctl_fail(err);
    }
    printf("%-20s %-20s %6s %-7s %-20s %s\n", "ID", "TARGET", "AGE", "RCPTS", "LAST ERROR",
           "NEXT ATTEMPT");
    for (size_t i = 0; i < n; i++) {
        struct spool_copy *c;
        struct spool_state st;
        char age[32], cls[32], next[48], rc_text[48];
        size_t pending = 0;
        int rc = spool_copy_open(sp, "queue", ids[i], &c, &err);

        if (rc == 0)
            continue; /* delivered while we listed */
        if (rc < 0) {
            printf("%-20s (unreadable: %s)\n", ids[i], err);
            free(err);
            err = NULL;
            shown++;
            continue;
        }
        if (spool_state_read(sp, ids[i], c->env.nrcpts, &st, &err) < 0) {
            printf("%-20s %-20s (state unreadable: %s)\n", ids[i], c->env.target, err);
            free(err);
            err = NULL;
            spool_copy_close(c);
            shown++;
            continue;
        }
        for (size_t k = 0; k < st.nrcpts; k++)
            pending += st.rcpt[k] == RCPT_PENDING;
        age_text(now - c->env.arrival, age, sizeof(age));
        error_class(st.last_error, cls, sizeof(cls));
        if (st.next_attempt <= now)
            snprintf(next, sizeof(next), "now");
        else {
            char in[32];

            age_text(st.next_attempt - now, in, sizeof(in));
            snprintf(next, sizeof(next), "in %s", in);
        }
        snprintf(rc_text, sizeof(rc_text), "%zu/%zu", pending, c->env.nrcpts);
        printf("%-20s %-20s %6s %-7s %-20s %s\n", ids[i], c->env.target, age, rc_text, cls, next);
        spool_state_free(&st);
        spool_copy_close(c);
        shown++;
    }
    printf("%zu message%s in the queue\n", shown, shown == 1 ? "" : "s");
    spool_list_free(ids, n);
    spool_close(sp);
    return CTL_OK;
}

/* queue_show - everything about one copy: envelope, recipients and their state, headers */
static int queue_show(struct ctl *ctl, const char *id)
{
    struct spool *sp;
    struct spool_copy *c;
    struct spool_state st;
    struct buf h;
    char *err = NULL, when[40];
    int rc;

    if (!spool_valid_id(id))
        return ctl_fail(xasprintf("'%s' is not a queue id: see 'byosmtpctl queue list'", id));
    if (spool_absent(ctl))
        return not_queued(ctl, id);
    if ((sp = open_spool(ctl)) == NULL)
        return CTL_ERROR;
    rc = spool_copy_open(sp, "queue", id, &c, &err);
    if (rc <= 0) {
        spool_close(sp);
        return ctl_fail(rc == 0 ? xasprintf("%s is not in the queue (delivered, bounced or "
                                            "deleted): see 'byosmtpctl queue list'", id)
                                : err);
    }
    if (spool_state_read(sp, id, c->env.nrcpts, &st, &err) < 0) {
        spool_copy_close(c);
        spool_close(sp);
        return ctl_fail(err);
    }
    time_text(c->env.arrival, when, sizeof(when));
    printf("id: %s\ntarget: %s\nmta_queue_id: %s\narrival: %s\nsender: <%s>\n"
           "envelope_from: <%s>\nsize: %llu\nattempts: %u\n", id, c->env.target,
           *c->env.mta_queue_id ? c->env.mta_queue_id : "-", when, c->env.sender,
           c->env.envelope_from, (unsigned long long)(c->header_size + c->body_size),
           (unsigned)st.attempts);
    time_text(st.next_attempt, when, sizeof(when));
    printf("next_attempt: %s\nlast_error: %s\n", when,
           st.last_error && *st.last_error ? st.last_error : "-");
    for (size_t k = 0; k < c->env.nrcpts; k++)
        printf("recipient: <%s> %s\n", c->env.rcpts[k], spool_rcpt_state_name(st.rcpt[k]));
    buf_init(&h);
    if (spool_copy_read_headers(c, &h, &err) == 0) {
        printf("\n");
        fwrite(h.data, 1, h.len, stdout);
    } else {
        msg_warn("%s", err);
        free(err);
    }
    buf_free(&h);
    spool_state_free(&st);
    spool_copy_close(c);
    spool_close(sp);
    return CTL_OK;
}

/* wait_taken - wait until the delivery process has removed the request file PATH */
static bool wait_taken(const char *path)
{
    for (int i = 0; i < REQUEST_WAIT * 10; i++) {
        struct timespec ts = {0, 100000000};

        if (access(path, F_OK) < 0 && errno == ENOENT)
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

/* request - hand VERB ARG to the running delivery process and wait for it to act */
static int request(struct ctl *ctl, const char *verb, const char *arg)
{
    char *path = NULL, *err = NULL;

    if (deliverydir_request(ctl->conf->spool.path, verb, arg, &path, &err) < 0)
        return ctl_fail(err);
    if (!wait_taken(path)) {
        msg_warn("the delivery process has not taken the request within %d s; it will when it "
                 "can (%s)", REQUEST_WAIT, path);
        free(path);
        return CTL_OK;
    }
    free(path);
    return CTL_OK;
}

/* offline_owner - give a file written by root back to the owner of the spool's queue/ */
static void offline_owner(const struct spool *sp, const char *id)
{
    char *q = xasprintf("%s/queue", spool_path(sp)), *f = xasprintf("%s/queue/%s.state",
                                                                      spool_path(sp), id);
    struct stat sb;

    if (geteuid() == 0 && stat(q, &sb) == 0 && chown(f, sb.st_uid, sb.st_gid) < 0)
        msg_warn("%s: cannot give it to uid %lu: %s", f, (unsigned long)sb.st_uid, strerror(errno));
    free(q);
    free(f);
}

/* offline_flush - no delivery process: make the copies due now in their state files */
static int offline_flush(struct ctl *ctl, struct spool *sp, const char *id, const char *target)
{
    char **ids, *err = NULL;
    size_t n, done = 0;

    (void)ctl;
    if (spool_list(sp, &ids, &n, &err) < 0)
        return ctl_fail(err);
    for (size_t i = 0; i < n; i++) {
        struct spool_copy *c;
        struct spool_state st;

        if (id != NULL && strcmp(id, ids[i]) != 0)
            continue;
        if (spool_copy_open(sp, "queue", ids[i], &c, &err) <= 0) {
            free(err);
            err = NULL;
            continue;
        }
        if ((target == NULL || strcmp(target, c->env.target) == 0) &&
            spool_state_read(sp, ids[i], c->env.nrcpts, &st, &err) >= 0) {
            st.next_attempt = 0;
            if (spool_state_write(sp, ids[i], &st, &err) == 0) {
                offline_owner(sp, ids[i]);
                done++;
            }
            spool_state_free(&st);
        }
        if (err != NULL)
            msg_warn("%s: %s", ids[i], err);
        free(err);
        err = NULL;
        spool_copy_close(c);
    }
    spool_list_free(ids, n);
    if (id != NULL && done == 0)
        return ctl_fail(xasprintf("%s is not in the queue: see 'byosmtpctl queue list'", id));
    printf("byosmtpd is not running: %zu message%s will be tried as soon as it starts\n", done,
           done == 1 ? "" : "s");
    return CTL_OK;
}

/* offline_delete - no delivery process: remove the copy and its record */
static int offline_delete(struct ctl *ctl, struct spool *sp, const char *id)
{
    struct store *st;
    struct queue_record rec;
    struct spool_state state;
    struct quota_record q = {0};
    char *err = NULL, *p = xasprintf("%s/queue/%s", spool_path(sp), id);
    int rc;

    if (access(p, F_OK) < 0) {
        free(p);
        return ctl_fail(xasprintf("%s is not in the queue: see 'byosmtpctl queue list'", id));
    }
    free(p);
    if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
        return CTL_ERROR;
    if ((rc = store_queue_get(st, id, &rec, &err)) > 0) {
        if (spool_state_read(sp, id, rec.nrcpts, &state, &err) >= 0) {
            for (size_t k = 0; k < state.nrcpts; k++) {
                q.delivered += state.rcpt[k] == RCPT_SENT;
                q.bounced += state.rcpt[k] == RCPT_BOUNCED;
            }
            spool_state_free(&state);
        }
        queue_record_free(&rec);
    }
    free(err);
    err = NULL;
    if (spool_remove(sp, id, &err) < 0 || store_queue_del(st, id, &q, &err) < 0)
        return ctl_fail(err);
    printf("%s: deleted\n", id);
    return CTL_OK;
}

/* queue_change - flush or delete, through the running daemon or directly */
static int queue_change(struct ctl *ctl, const char *verb, const char *id, const char *target)
{
    struct spool *sp;
    char *err = NULL;
    int fd = -1, rc;

    if (spool_absent(ctl)) { /* delete always names an ID */
        if (id != NULL)
            return not_queued(ctl, id);
        printf("nothing to flush: " NO_SPOOL "\n", ctl->conf->spool.path);
        return CTL_OK;
    }
    if ((sp = open_spool(ctl)) == NULL)
        return CTL_ERROR;
    if (deliverydir_make(spool_path(sp), &err) < 0 ||
        (rc = deliverydir_lock(spool_path(sp), false, &fd, &err)) < 0) {
        spool_close(sp);
        return ctl_fail(err);
    }
    if (rc == 0) { /* byosmtpd's delivery process runs: it does the change */
        if (strcmp(verb, "delete") == 0)
            rc = request(ctl, "delete", id);
        else if (id != NULL)
            rc = request(ctl, "flush", id);
        else if (target != NULL)
            rc = request(ctl, "flush-target", target);
        else
            rc = request(ctl, "flush-all", "");
        if (rc == CTL_OK)
            printf("%s%s%s: done by the running byosmtpd (see its log)\n", verb,
                   id || target ? " " : "", id ? id : target ? target : "");
    } else if (strcmp(verb, "delete") == 0) {
        rc = offline_delete(ctl, sp, id);
    } else {
        rc = offline_flush(ctl, sp, id, target);
    }
    if (fd >= 0)
        close(fd);
    spool_close(sp);
    return rc;
}

int ctl_cmd_queue(struct ctl *ctl, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";

    if (strcmp(sub, "list") == 0 && argc <= 2)
        return queue_list(ctl);
    if (strcmp(sub, "show") == 0 && argc == 3)
        return queue_show(ctl, argv[2]);
    if (strcmp(sub, "delete") == 0 && argc == 3) {
        if (!spool_valid_id(argv[2]))
            return ctl_fail(xasprintf("'%s' is not a queue id: see 'byosmtpctl queue list'",
                                      argv[2]));
        return queue_change(ctl, "delete", argv[2], NULL);
    }
    if (strcmp(sub, "flush") == 0 && argc == 2)
        return queue_change(ctl, "flush", NULL, NULL);
    if (strcmp(sub, "flush") == 0 && argc == 4 && strcmp(argv[2], "--target") == 0)
        return queue_change(ctl, "flush", NULL, argv[3]);
    if (strcmp(sub, "flush") == 0 && argc == 3) {
        if (!spool_valid_id(argv[2]))
            return ctl_fail(xasprintf("'%s' is not a queue id: see 'byosmtpctl queue list'",
                                      argv[2]));
        return queue_change(ctl, "flush", argv[2], NULL);
    }
    return ctl_usage(QUEUE_USAGE);
}

int ctl_cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    struct dstats s;
    struct dstats_target total = {.name = "total"};
    char *err = NULL, since[40];
    int rc;

    (void)argv;
    if (argc != 1)
        return ctl_usage("byosmtpctl stats");
    if (spool_absent(ctl)) {
        printf("no counters yet: " NO_SPOOL "\n", ctl->conf->spool.path);
        return CTL_OK;
    }
    rc = deliverydir_stats_read(ctl->conf->spool.path, &s, &err);
    if (rc < 0)
        return ctl_fail(err);
    if (rc == 0) {
        printf("no counters yet: byosmtpd's delivery process has not run on spool %s\n",
               ctl->conf->spool.path);
        return CTL_OK;
    }
    time_text(s.since, since, sizeof(since));
    printf("since %s\n%-24s %10s %10s %10s %10s\n", since, "TARGET", "ACCEPTED", "DELIVERED",
           "DEFERRED", "BOUNCED");
    for (size_t i = 0; i < s.n; i++) {
        printf("%-24s %10llu %10llu %10llu %10llu\n", s.t[i].name,
               (unsigned long long)s.t[i].accepted, (unsigned long long)s.t[i].delivered,
               (unsigned long long)s.t[i].deferred, (unsigned long long)s.t[i].bounced);
        total.accepted += s.t[i].accepted;
        total.delivered += s.t[i].delivered;
        total.deferred += s.t[i].deferred;
        total.bounced += s.t[i].bounced;
        total.duplicates += s.t[i].duplicates;
        total.fallback += s.t[i].fallback;
    }
    printf("%-24s %10llu %10llu %10llu %10llu\n", total.name, (unsigned long long)total.accepted,
           (unsigned long long)total.delivered, (unsigned long long)total.deferred,
           (unsigned long long)total.bounced);
    /* delivered after an attempt whose final dot got no reply (the log lines say which) */
    printf("possible duplicates: %llu", (unsigned long long)total.duplicates);
    for (size_t i = 0, shown = 0; i < s.n; i++)
        if (s.t[i].duplicates > 0)
            printf("%s%s %llu", shown++ ? ", " : " (", s.t[i].name,
                   (unsigned long long)s.t[i].duplicates);
    printf("%s\n", total.duplicates > 0 ? ")" : "");
    /* handed back to the local MTA by a target's fallback = mta: neither delivered nor bounced */
    printf("handed back to the MTA (fallback): %llu", (unsigned long long)total.fallback);
    for (size_t i = 0, shown = 0; i < s.n; i++)
        if (s.t[i].fallback > 0)
            printf("%s%s %llu", shown++ ? ", " : " (", s.t[i].name,
                   (unsigned long long)s.t[i].fallback);
    printf("%s\n", total.fallback > 0 ? ")" : "");
    dstats_free(&s);
    return CTL_OK;
}
