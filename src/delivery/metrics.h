/*
 * metrics - the delivery process's counters and their Prometheus text exposition (format
 * 0.0.4; byosmtp.conf(5), "metrics"; the names in doc/delivery-process.md, "Metrics").
 *
 * metrics_count() is the one place where a recipient outcome (the status of its log line)
 * becomes counters: the table in metrics.c maps each status to its counter, whether it is
 * final (observed in the latency histogram) and whether its class is counted. The counters
 * are struct dstats (deliverydir.h): the same numbers byosmtpctl stats prints, kept in
 * SPOOL/delivery/stats across restarts.
 *
 * metrics_render() is a pure function of a struct metrics_view; metrics_text() fills one
 * from the running process (counters under d->lock, queue, targets and quotas from the store)
 * for the listener (metrics_http.h) and the textfile.
 */
#ifndef BYOSMTP_METRICS_H
#define BYOSMTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/deliverydir.h"
#include "delivery/deliverylog.h"
#include "delivery/events.h"

struct delivery;

/* What is known of one target now (gauges). */
struct metrics_target {
    const char *name;
    uint64_t queue_messages;   /* copies in the queue */
    uint64_t queue_recipients; /* their recipients (pending or not) */
    double oldest_age;         /* seconds since the oldest copy arrived; 0 when none */
    int connections;           /* open to its provider (in use or idle) */
    bool has_target;           /* exists in the store: quota gauges are shown */
    uint64_t quota_used;       /* this month's accepted recipients */
    uint64_t quota_limit;      /* monthly_quota; 0 = none */
};

struct metrics_view {
    const struct dstats *stats;
    const struct metrics_target *t;
    size_t nt;
    struct events_sink_stats events[EVENTS_NSINKS];
    int events_on[EVENTS_NSINKS];
};

/*
 * metrics_count - one recipient outcome of TARGET in S: its status counter, its class (CLS,
 * not for "sent"), and for a final status LATENCY (seconds from acceptance) in the histogram.
 */
void metrics_count(struct dstats *s, const char *target, enum deliverylog_status status,
                   const char *cls, double latency);

/* metrics_render - the text exposition of V; caller frees */
char *metrics_render(const struct metrics_view *v);

/* metrics_text - metrics_render() of what the running process D knows now; caller frees */
char *metrics_text(struct delivery *d);

/* metrics_textfile_write - TEXT into PATH through PATH.tmp and rename (mode 0644); 0, -1 */
int metrics_textfile_write(const char *path, const char *text, char **err);

#endif
