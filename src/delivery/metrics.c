/*
 * metrics - counting recipient outcomes, and the Prometheus text exposition of the counters
 * and of the queue, connections and quotas (see metrics.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery/metrics.h"
#include "delivery/worker.h"
#include "util/msg.h"
#include "util/util.h"

/* What each log-line status counts: one row per status (a new status is a new row). */
static const struct status_row {
    size_t counter;  /* offsetof(struct dstats_target, ...) */
    bool final;      /* the recipient is done: its latency is observed */
    bool has_class;  /* a failure: counted by class too */
} status_rows[DELIVERYLOG_NSTATUS] = {
    [DELIVERYLOG_SENT] = {offsetof(struct dstats_target, delivered), true, false},
    [DELIVERYLOG_DEFERRED] = {offsetof(struct dstats_target, deferred), false, true},
    [DELIVERYLOG_BOUNCED] = {offsetof(struct dstats_target, bounced), true, true},
    [DELIVERYLOG_EXPIRED] = {offsetof(struct dstats_target, expired), true, true},
    [DELIVERYLOG_FALLBACK] = {offsetof(struct dstats_target, fallback), true, true},
};

void metrics_count(struct dstats *s, const char *target, enum deliverylog_status status,
                   const char *cls, double latency)
{
    struct dstats_target *t = dstats_get(s, target);
    const struct status_row *row;

    if ((unsigned)status >= DELIVERYLOG_NSTATUS)
        return;
    row = &status_rows[status];
    (*(uint64_t *)((char *)t + row->counter))++;
    if (row->has_class && cls != NULL && *cls)
        dstats_class_add(t, deliverylog_status_name(status), cls, 1);
    if (row->final)
        dstats_latency_add(t, latency);
}

/* ---- the exposition ---- */

/* label - append NAME="VALUE" with \, " and newline escaped */
static void label(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, "%s=\"", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            buf_putc(b, '\\');
        if (*p == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

/* family - the HELP and TYPE lines of metric NAME */
static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* outcomes - byosmtp_recipients_total and byosmtp_recipient_failures_total */
static void outcomes(struct buf *b, const struct dstats *s)
{
    family(b, "byosmtp_recipients_total", "counter",
           "Recipient outcomes by target and outcome (deferred: one per failed attempt).");
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < DELIVERYLOG_NSTATUS; k++) {
            const struct dstats_target *t = &s->t[i];

            buf_puts(b, "byosmtp_recipients_total{");
            label(b, "target", t->name);
            buf_putc(b, ',');
            label(b, "outcome", deliverylog_status_name((enum deliverylog_status)k));
            buf_printf(b, "} %llu\n",
                       (unsigned long long)*(const uint64_t *)((const char *)t +
                                                              status_rows[k].counter));
        }
    family(b, "byosmtp_recipient_failures_total", "counter",
           "Recipient outcomes other than sent, by target, outcome and error class.");
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->t[i].ncls; k++) {
            buf_puts(b, "byosmtp_recipient_failures_total{");
            label(b, "target", s->t[i].name);
            buf_putc(b, ',');
            label(b, "outcome", s->t[i].cls[k].status);
            buf_putc(b, ',');
            label(b, "class", s->t[i].cls[k].cls);
            buf_printf(b, "} %llu\n", (unsigned long long)s->t[i].cls[k].n);
        }
}

/* per_target - a counter of every target of S, at offset OFF of struct dstats_target */
static void per_target(struct buf *b, const struct dstats *s, const char *name, size_t off,
                       const char *help)
{
    family(b, name, "counter", help);
    for (size_t i = 0; i < s->n; i++) {
        buf_printf(b, "%s{", name);
        label(b, "target", s->t[i].name);
        buf_printf(b, "} %llu\n",
                   (unsigned long long)*(const uint64_t *)((const char *)&s->t[i] + off));
    }
}

/* latency - the histogram byosmtp_delivery_latency_seconds */
static void latency(struct buf *b, const struct dstats *s)
{
    static const char name[] = "byosmtp_delivery_latency_seconds";

    family(b, name, "histogram",
           "Seconds from acceptance to a recipient's final outcome (sent, bounced, expired, "
           "fallback).");
    for (size_t i = 0; i < s->n; i++) {
        const struct dstats_target *t = &s->t[i];
        uint64_t cum = 0;

        for (size_t k = 0; k <= DSTATS_NBUCKETS; k++) {
            buf_printf(b, "%s_bucket{", name);
            label(b, "target", t->name);
            if (k < DSTATS_NBUCKETS) {
                cum += t->lat_bucket[k];
                buf_printf(b, ",le=\"%g\"} %llu\n", dstats_bucket_le[k], (unsigned long long)cum);
            } else {
                buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)t->lat_count);
            }
        }
        buf_printf(b, "%s_sum{", name);
        label(b, "target", t->name);
        buf_printf(b, "} %.3f\n%s_count{", t->lat_sum, name);
        label(b, "target", t->name);
        buf_printf(b, "} %llu\n", (unsigned long long)t->lat_count);
    }
}

/* gauge - one gauge of every target of V: VALUE(t) */
static void gauge(struct buf *b, const struct metrics_view *v, const char *name, const char *help,
                  bool quota_only, double (*value)(const struct metrics_target *))
{
    family(b, name, "gauge", help);
    for (size_t i = 0; i < v->nt; i++) {
        if (quota_only && !v->t[i].has_target)
            continue;
        buf_printf(b, "%s{", name);
        label(b, "target", v->t[i].name);
        buf_printf(b, "} %.17g\n", value(&v->t[i]));
    }
}

static double g_qmsgs(const struct metrics_target *t) { return (double)t->queue_messages; }
static double g_qrcpts(const struct metrics_target *t) { return (double)t->queue_recipients; }
static double g_qage(const struct metrics_target *t) { return t->oldest_age; }
static double g_conns(const struct metrics_target *t) { return t->connections; }
static double g_used(const struct metrics_target *t) { return (double)t->quota_used; }
static double g_limit(const struct metrics_target *t) { return (double)t->quota_limit; }

/* events - the sinks' counters */
static void events(struct buf *b, const struct metrics_view *v)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
        {"byosmtp_events_sent_total", "counter", "Events handed to the sink.",
         offsetof(struct events_sink_stats, sent)},
        {"byosmtp_events_dropped_total", "counter",
         "Events dropped because the sink's queue was full (events.queue_limit) or at stop.",
         offsetof(struct events_sink_stats, dropped)},
        {"byosmtp_events_failed_total", "counter",
         "Events the webhook refused, or that failed after every retry.",
         offsetof(struct events_sink_stats, failed)},
        {"byosmtp_events_queued", "gauge", "Events waiting for the sink.",
         offsetof(struct events_sink_stats, queued)},
    };

    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        family(b, rows[r].name, rows[r].type, rows[r].help);
        for (int k = 0; k < EVENTS_NSINKS; k++) {
            if (!v->events_on[k])
                continue;
            buf_printf(b, "%s{", rows[r].name);
            label(b, "sink", events_sink_name((enum events_sink)k));
            buf_printf(b, "} %llu\n",
                       (unsigned long long)*(const uint64_t *)((const char *)&v->events[k] +
                                                              rows[r].off));
        }
    }
}

char *metrics_render(const struct metrics_view *v)
{
    struct buf b;

    buf_init(&b);
    family(&b, "byosmtp_counters_since_seconds", "gauge",
           "When the counters began (unix time); they are kept across restarts.");
    buf_printf(&b, "byosmtp_counters_since_seconds %lld\n", (long long)v->stats->since);
    per_target(&b, v->stats, "byosmtp_accepted_total",
               offsetof(struct dstats_target, accepted),
               "Recipients of copies that entered the queue.");
    outcomes(&b, v->stats);
    per_target(&b, v->stats, "byosmtp_possible_duplicates_total",
               offsetof(struct dstats_target, duplicates),
               "Recipients delivered after an attempt whose final dot got no reply.");
    latency(&b, v->stats);
    gauge(&b, v, "byosmtp_queue_messages", "Copies in the queue.", false, g_qmsgs);
    gauge(&b, v, "byosmtp_queue_recipients", "Recipients of the copies in the queue.", false,
          g_qrcpts);
    gauge(&b, v, "byosmtp_queue_oldest_age_seconds",
          "Seconds since the oldest copy in the queue arrived (0: none).", false, g_qage);
    gauge(&b, v, "byosmtp_connections_open", "Connections open to the provider.", false,
          g_conns);
    gauge(&b, v, "byosmtp_quota_used", "Recipients counted against this month's quota.", true,
          g_used);
    gauge(&b, v, "byosmtp_quota_limit", "The target's monthly_quota (0: no limit).", true,
          g_limit);
    events(&b, v);
    return buf_steal(&b);
}

/* ---- the running process ---- */

/* view_target - the entry of NAME in *T (N of them), made when missing */
static struct metrics_target *view_target(struct metrics_target **t, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*t)[i].name, name) == 0)
            return &(*t)[i];
    *t = xrealloc(*t, (*n + 1) * sizeof(**t));
    (*t)[*n] = (struct metrics_target){.name = name};
    return &(*t)[(*n)++];
}

/* store_part - the targets and their quotas, and the queue, from the store */
static void store_part(struct delivery *d, double now, struct target_set *set,
                       struct queue_record **recs, size_t *nrecs, struct metrics_target **t,
                       size_t *nt)
{
    char *err = NULL, month[8];

    store_month((int64_t)now, month);
    if (store_get_all(d->store, set, &err) < 0) {
        msg_warn("metrics: %s", err);
        free(err);
        err = NULL;
    }
    for (size_t i = 0; i < set->ntargets; i++) {
        struct metrics_target *m = view_target(t, nt, set->targets[i].name);
        struct quota_record q = {0};

        m->has_target = true;
        m->quota_limit = set->targets[i].monthly_quota;
        if (store_quota_get(d->store, m->name, month, &q, &err) == 0) {
            m->quota_used = q.accepted;
        } else {
            msg_warn("metrics: %s", err);
            free(err);
            err = NULL;
        }
    }
    if (store_queue_list(d->store, recs, nrecs, &err) < 0) {
        msg_warn("metrics: %s", err);
        free(err);
    }
    for (size_t i = 0; i < *nrecs; i++) {
        struct metrics_target *m = view_target(t, nt, (*recs)[i].target);
        double age = now - (double)(*recs)[i].arrival;

        m->queue_messages++;
        m->queue_recipients += (*recs)[i].nrcpts;
        if (age > m->oldest_age)
            m->oldest_age = age;
    }
}

char *metrics_text(struct delivery *d)
{
    struct target_set set = {0};
    struct queue_record *recs = NULL;
    struct metrics_target *t = NULL;
    size_t nrecs = 0, nt = 0;
    struct dstats stats;
    struct metrics_view v = {0};
    char *text;

    store_part(d, time_now(), &set, &recs, &nrecs, &t, &nt);
    pthread_mutex_lock(&d->lock);
    dstats_copy(&stats, &d->stats);
    for (size_t i = 0; i < nt; i++)
        t[i].connections = sched_target_open(d->sched, t[i].name);
    pthread_mutex_unlock(&d->lock);
    events_stats(d->events, v.events, v.events_on);
    v.stats = &stats;
    v.t = t;
    v.nt = nt;
    text = metrics_render(&v);
    dstats_free(&stats);
    free(t);
    queue_records_free(recs, nrecs);
    target_set_free(&set);
    return text;
}

int metrics_textfile_write(const char *path, const char *text, char **err)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text), off = 0;
    int rc = -1;

    if (fd < 0) {
        set_err(err, "metrics.textfile: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    fchmod(fd, 0644);
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            set_err(err, "metrics.textfile: cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && off == len) {
        set_err(err, "metrics.textfile: cannot write %s: %s", tmp, strerror(errno));
        off = 0;
    }
    if (off == len && rename(tmp, path) == 0)
        rc = 0;
    else if (off == len)
        set_err(err, "metrics.textfile: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}
