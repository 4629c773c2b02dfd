/* check_metrics - recipient outcomes into counters (one row per status), the Prometheus text of
 * a view, the counters file round trip with classes and the histogram, and the JSON and
 * signature of an event */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/deliverydir.h"
#include "delivery/events.h"
#include "delivery/metrics.h"
#include "util/util.h"
#include "testutil.h"

/* has_line - TEXT has LINE as a whole line */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

START_TEST(each_status_its_counter)
{
    struct dstats s = {.since = 1700000000};
    struct dstats_target *t;

    metrics_count(&s, "acme", DELIVERYLOG_SENT, "", 0.2);
    metrics_count(&s, "acme", DELIVERYLOG_SENT, "", 7);
    metrics_count(&s, "acme", DELIVERYLOG_DEFERRED, "rate_limited", 1);
    metrics_count(&s, "acme", DELIVERYLOG_DEFERRED, "rate_limited", 2);
    metrics_count(&s, "acme", DELIVERYLOG_DEFERRED, "timeout", 3);
    metrics_count(&s, "acme", DELIVERYLOG_BOUNCED, "recipient_rejected", 4);
    metrics_count(&s, "acme", DELIVERYLOG_EXPIRED, "temporary", 500000);
    metrics_count(&s, "acme", DELIVERYLOG_FALLBACK, "auth_failed", 3600);
    metrics_count(&s, "acme", (enum deliverylog_status)99, "x", 1); /* unknown: nothing */
    t = dstats_get(&s, "acme");
    ck_assert_uint_eq(t->delivered, 2);
    ck_assert_uint_eq(t->deferred, 3);
    ck_assert_uint_eq(t->bounced, 1);
    ck_assert_uint_eq(t->expired, 1);
    ck_assert_uint_eq(t->fallback, 1);
    /* classes: failures only, one entry per status and class */
    ck_assert_uint_eq(t->ncls, 5);
    ck_assert_str_eq(t->cls[0].status, "deferred");
    ck_assert_str_eq(t->cls[0].cls, "rate_limited");
    ck_assert_uint_eq(t->cls[0].n, 2);
    /* latency: the final outcomes only (2 sent, bounced, expired, fallback) */
    ck_assert_uint_eq(t->lat_count, 5);
    ck_assert_uint_eq(t->lat_bucket[1], 1);  /* 0.2 s: le 0.25 */
    ck_assert_uint_eq(t->lat_bucket[6], 1);  /* 7 s: le 10 */
    ck_assert_uint_eq(t->lat_bucket[5], 1);  /* 4 s: le 5 */
    ck_assert_uint_eq(t->lat_bucket[11], 1); /* 3600 s: le 3600 */
    ck_assert_uint_eq(t->lat_bucket[2] + t->lat_bucket[13], 0); /* 500000 s: +Inf only */
    ck_assert(t->lat_sum > 503611 && t->lat_sum < 503612);
    dstats_free(&s);
}
END_TEST

START_TEST(exposition_text)
{
    struct dstats s = {.since = 1700000000};
    struct metrics_target gauges[] = {
        {.name = "acme", .queue_messages = 2, .queue_recipients = 5, .oldest_age = 90.5,
         .connections = 1, .has_target = true, .quota_used = 7, .quota_limit = 100},
        {.name = "gone", .queue_messages = 1, .queue_recipients = 1},
    };
    struct metrics_view v = {.stats = &s, .t = gauges, .nt = 2};
    char *text;

    metrics_count(&s, "acme", DELIVERYLOG_SENT, "", 0.05);
    metrics_count(&s, "acme", DELIVERYLOG_SENT, "", 20);
    metrics_count(&s, "acme", DELIVERYLOG_DEFERRED, "timeout", 1);
    dstats_get(&s, "acme")->accepted = 3;
    v.events_on[EVENTS_WEBHOOK] = 1;
    v.events[EVENTS_WEBHOOK] = (struct events_sink_stats){.sent = 4, .dropped = 2, .queued = 1};
    text = metrics_render(&v);
    ck_assert(has_line(text, "# TYPE byosmtp_recipients_total counter"));
    ck_assert(has_line(text, "byosmtp_recipients_total{target=\"acme\",outcome=\"sent\"} 2"));
    ck_assert(has_line(text, "byosmtp_recipients_total{target=\"acme\",outcome=\"deferred\"} 1"));
    ck_assert(has_line(text, "byosmtp_recipients_total{target=\"acme\",outcome=\"fallback\"} 0"));
    ck_assert(has_line(text, "byosmtp_recipient_failures_total{target=\"acme\",outcome="
                             "\"deferred\",class=\"timeout\"} 1"));
    ck_assert(has_line(text, "byosmtp_accepted_total{target=\"acme\"} 3"));
    /* the buckets are cumulative; +Inf is the count */
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_bucket{target=\"acme\",le=\"0.1\"} 1"));
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_bucket{target=\"acme\",le=\"10\"} 1"));
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_bucket{target=\"acme\",le=\"30\"} 2"));
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_bucket{target=\"acme\",le=\"+Inf\"} 2"));
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_count{target=\"acme\"} 2"));
    ck_assert(has_line(text, "byosmtp_delivery_latency_seconds_sum{target=\"acme\"} 20.050"));
    ck_assert(has_line(text, "byosmtp_queue_messages{target=\"acme\"} 2"));
    ck_assert(has_line(text, "byosmtp_queue_oldest_age_seconds{target=\"acme\"} 90.5"));
    ck_assert(has_line(text, "byosmtp_connections_open{target=\"acme\"} 1"));
    ck_assert(has_line(text, "byosmtp_quota_used{target=\"acme\"} 7"));
    ck_assert(has_line(text, "byosmtp_quota_limit{target=\"acme\"} 100"));
    /* a target no longer in the store: its queue, no quota */
    ck_assert(has_line(text, "byosmtp_queue_messages{target=\"gone\"} 1"));
    ck_assert_ptr_null(strstr(text, "byosmtp_quota_used{target=\"gone\"}"));
    /* only the configured sinks */
    ck_assert(has_line(text, "byosmtp_events_dropped_total{sink=\"webhook\"} 2"));
    ck_assert(has_line(text, "byosmtp_events_queued{sink=\"webhook\"} 1"));
    ck_assert_ptr_null(strstr(text, "sink=\"command\""));
    ck_assert(has_line(text, "byosmtp_counters_since_seconds 1700000000"));
    free(text);
    dstats_free(&s);
}
END_TEST

START_TEST(counters_file_round_trip)
{
    char *dir = test_tmpdir(), *err = NULL;
    struct dstats s = {.since = 1700000000}, back, copy;
    struct dstats_target *t;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    metrics_count(&s, "acme", DELIVERYLOG_SENT, "", 0.3);
    metrics_count(&s, "acme", DELIVERYLOG_BOUNCED, "sender_rejected", 12);
    metrics_count(&s, "acme", DELIVERYLOG_FALLBACK, "auth_failed", 4000);
    metrics_count(&s, "b.c", DELIVERYLOG_DEFERRED, "dns", 1);
    dstats_get(&s, "acme")->duplicates = 2;
    dstats_copy(&copy, &s);
    dstats_free(&s);
    ck_assert_int_eq(deliverydir_stats_write(dir, &copy, &err), 0);
    ck_assert_int_eq(deliverydir_stats_read(dir, &back, &err), 1);
    ck_assert_int_eq(back.since, 1700000000);
    ck_assert_uint_eq(back.n, 2);
    t = dstats_get(&back, "acme");
    ck_assert_uint_eq(t->delivered, 1);
    ck_assert_uint_eq(t->bounced, 1);
    ck_assert_uint_eq(t->fallback, 1);
    ck_assert_uint_eq(t->duplicates, 2);
    ck_assert_uint_eq(t->ncls, 2);
    ck_assert_str_eq(t->cls[1].status, "fallback");
    ck_assert_str_eq(t->cls[1].cls, "auth_failed");
    ck_assert_uint_eq(t->lat_count, 3);
    ck_assert_uint_eq(t->lat_bucket[2], 1);
    ck_assert_uint_eq(t->lat_bucket[7], 1);
    ck_assert_uint_eq(t->lat_bucket[12], 1);
    ck_assert(t->lat_sum > 4012.2 && t->lat_sum < 4012.4);
    ck_assert_uint_eq(dstats_get(&back, "b.c")->deferred, 1);
    dstats_free(&back);
    dstats_free(&copy);
    test_rmdir(dir);
}
END_TEST

START_TEST(older_counters_file)
{
    char *dir = test_tmpdir(), *err = NULL, *p;
    struct dstats back;
    FILE *fp;

    ck_assert_int_eq(deliverydir_make(dir, &err), 0);
    p = xasprintf("%s/delivery/stats", dir);
    fp = fopen(p, "w");
    fputs("byosmtp-stats: 1\nsince: 5\ntarget acme 3 2 1 1 0\n", fp);
    fclose(fp);
    ck_assert_int_eq(deliverydir_stats_read(dir, &back, &err), 1);
    ck_assert_uint_eq(back.t[0].accepted, 3);
    ck_assert_uint_eq(back.t[0].expired, 0);
    ck_assert_uint_eq(back.t[0].lat_count, 0);
    dstats_free(&back);
    fp = fopen(p, "w");
    fputs("byosmtp-stats: 1\nsince: 5\nlatency acme 1 2.0 1\n", fp); /* too few buckets */
    fclose(fp);
    ck_assert_int_eq(deliverydir_stats_read(dir, &back, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "malformed line"));
    free(err);
    free(p);
    test_rmdir(dir);
}
END_TEST

START_TEST(event_json)
{
    struct event e = {.time = 1764683096.25,
                      .status = DELIVERYLOG_BOUNCED,
                      .id = "0123456789ABCDEF0123",
                      .mta_queue_id = "4XyZ1abc",
                      .target = "acme",
                      .recipient = "bob@example.com",
                      .sender = "",
                      .dsn = "5.1.1",
                      .cls = "recipient_rejected",
                      .reply = "550 5.1.1 \"bob\" unknown\xff",
                      .attempt = 2,
                      .delay = 61.5004};
    char *text = events_json(&e);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    const char *key;
    json_t *val;
    const char *order[] = {"time", "event", "id", "mta_queue_id", "target", "recipient", "sender",
                           "dsn", "class", "reply", "attempt", "delay"};
    size_t i = 0;

    ck_assert_msg(o != NULL, "%s: %s", text, jerr.text);
    ck_assert_ptr_null(strchr(text, '\n'));
    ck_assert_msg(strstr(text, ",\"attempt\":2,\"delay\":61.5}") != NULL, "%s", text);
    json_object_foreach(o, key, val)
    {
        ck_assert_uint_lt(i, 12);
        ck_assert_str_eq(key, order[i++]);
    }
    ck_assert_uint_eq(i, 12);
    ck_assert_str_eq(json_string_value(json_object_get(o, "time")), "2025-12-02T13:44:56.250Z");
    ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "bounced");
    ck_assert_str_eq(json_string_value(json_object_get(o, "sender")), "");
    /* a byte that is not UTF-8 becomes '?'; quotes are escaped by jansson */
    ck_assert_str_eq(json_string_value(json_object_get(o, "reply")), "550 5.1.1 \"bob\" unknown?");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "attempt")), 2);
    ck_assert(json_real_value(json_object_get(o, "delay")) == 61.5);
    json_decref(o);
    free(text);
}
END_TEST

START_TEST(signature)
{
    /* RFC 4231, test case 2 */
    char *sig = events_signature((const unsigned char *)"Jefe", 4, "what do ya want for nothing?",
                                 28);

    ck_assert_str_eq(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    free(sig);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, each_status_its_counter);
    tcase_add_test(tc, exposition_text);
    tcase_add_test(tc, counters_file_round_trip);
    tcase_add_test(tc, older_counters_file);
    tcase_add_test(tc, event_json);
    tcase_add_test(tc, signature);
    suite_add_tcase(s, tc);
    return test_run(s);
}
