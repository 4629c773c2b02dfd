/*
 * check_enqueue - the commit at end of message (enqueue.c) against a real LMDB store and a real
 * spool in a temporary directory, without libmilter: each target's copy (envelope, rewritten
 * header section, body) in queue/ with its store record and quota count; nothing left behind
 * when the rewrite, the store commit (a full store) or the rename into queue/ fails; and each
 * crash point of the test hook leaving exactly what recovery expects there. And the quota
 * checked again in the commit's transaction: a message routed while its target had room, whose
 * room other commits took meanwhile, gets each quota.action's result (nothing committed, or only
 * the copies that fit with the others left to the MTA), and concurrent commits never pass it.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "milter/enqueue.h"
#include "milter/rcpt_route.h"
#include "spool/spool.h"
#include "store/conf.h"
#include "store/store.h"
#include "testutil.h"

#define ARRIVAL 1717243200 /* 2024-06-01 12:00:00 UTC */
#define MONTH "2024-06"

/* A message from an ordinary sender, recipient routes first (the default of routing.order). */
static const struct rcpt_query QUERY = {.sender = "<s@client.example>",
                                        .order = ROUTING_RECIPIENT_FIRST, .month = MONTH};
#define BODY "Hello.\r\n\r\nA second paragraph, no final line break."

static char *dir, store_dir[4200], spool_dir[4200];
static struct store *st;
static struct spool *sp;
static struct byosmtp_conf *conf;
static struct spool_msg *rcv;
static struct rcpt_routing routing;

/* add_target - a valid target NAME sending as FROM, and the route @DOMAIN to it */
static void add_target(const char *name, const char *from, const char *from_name,
                       const char *domain)
{
    struct target t;
    char *err = NULL, match[128];

    target_init(&t);
    free(t.name);
    t.name = xstrdup(name);
    free(t.host);
    t.host = xstrdup("smtp.example.net");
    t.port = 587;
    free(t.username);
    t.username = xstrdup("apikey");
    free(t.password_enc);
    t.password_enc = xstrdup("enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    free(t.from_address);
    t.from_address = xstrdup(from);
    free(t.from_name);
    t.from_name = xstrdup(from_name);
    ck_assert_msg(store_target_put(st, &t, false, &err) == 0, "%s", err);
    target_free(&t);
    snprintf(match, sizeof(match), "@%s", domain);
    ck_assert_msg(store_route_put(st, match, name, &err) == 0, "%s", err);
}

/* setup_map - store (MAP_SIZE bytes), spool, two targets, a received message, no recipient */
static void setup_map(size_t map_size)
{
    char *err = NULL;

    dir = test_tmpdir();
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
    ck_assert_msg(store_open(store_dir, map_size, STORE_CREATE, &st, &err) == 0, "%s", err);
    ck_assert_int_eq(spool_open(spool_dir, true, (uid_t)-1, (gid_t)-1, &sp, &err), 0);
    conf = conf_defaults();
    add_target("acme", "relay@acme.test", "Acme Relay", "acme.example");
    add_target("beta", "noreply@beta.test", "", "beta.example");
    ck_assert_int_eq(spool_msg_begin(sp, &rcv, &err), 0);
    ck_assert_int_eq(spool_msg_header(rcv, "From", " Alice <alice@client.example>", &err), 0);
    ck_assert_int_eq(spool_msg_header(rcv, "Subject", " hello", &err), 0);
    ck_assert_int_eq(spool_msg_body(rcv, BODY, strlen(BODY), &err), 0);
}

static void setup(void)
{
    setup_map(16 << 20);
}

static void setup_small(void)
{
    setup_map(256 << 10);
}

static void teardown(void)
{
    rcpt_routing_free(&routing);
    spool_msg_discard(rcv);
    conf_unref(conf);
    spool_close(sp);
    store_close(st);
    test_rmdir(dir);
}

/* route - route RCPT (it must be ours) into the message's routing */
static void route(const char *rcpt)
{
    struct rcpt_decision d;

    ck_assert_int_eq(rcpt_route(st, &QUERY, rcpt, &routing, &d), ROUTE_ROUTED);
    ck_assert_ptr_nonnull(rcpt_routing_add(&routing, rcpt, &d));
    rcpt_decision_free(&d);
}

/* route_three - bob and carol to acme, dave to beta */
static void route_three(void)
{
    route("<bob@acme.example>");
    route("<carol@acme.example>");
    route("<dave@beta.example>");
}

/* not_rcv - every name but a reception file's */
static bool not_rcv(const char *name)
{
    size_t n = strlen(name);

    return n < 4 || strcmp(name + n - 4, ".rcv") != 0;
}

/* files - the copies in spool subdirectory SUB (reception files left out) */
static size_t files(const char *sub)
{
    char path[4300], **names;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", spool_dir, sub);
    ck_assert_int_eq(dir_list(path, not_rcv, &names, &n), 0);
    dir_list_free(names, n);
    return n;
}

/* records - the store's queue records */
static size_t records(void)
{
    struct queue_record *recs;
    size_t n;
    char *err = NULL;

    ck_assert_msg(store_queue_list(st, &recs, &n, &err) == 0, "%s", err);
    queue_records_free(recs, n);
    return n;
}

/* accepted - the 'accepted' count of target NAME for MONTH */
static uint64_t accepted(const char *name)
{
    struct quota_record q;
    char *err = NULL;

    ck_assert_msg(store_quota_get(st, name, MONTH, &q, &err) == 0, "%s", err);
    return q.accepted;
}

/*
 * commit_n - enqueue_commit of the routed message from alice, queue id Q1, to this spool, with
 * NRCPTS recipients in all (0: not known)
 */
static int commit_n(const char *hostname, const char *crash_point, size_t nrcpts,
                    struct enqueue_copy *out, char **why)
{
    struct enqueue_dest d = {.store = st, .spool = sp, .hostname = hostname,
                             .crash_point = crash_point};
    struct enqueue_envelope env = {.sender = "alice@client.example",
                                   .mail_params = "BODY=8BITMIME", .mta_queue_id = "Q1",
                                   .arrival = ARRIVAL, .nrcpts = nrcpts};

    return enqueue_commit(&d, conf, rcv, &env, &routing, out, why);
}

/* commit - commit_n with the number of recipients not known */
static int commit(const char *hostname, const char *crash_point, struct enqueue_copy *out,
                  char **why)
{
    return commit_n(hostname, crash_point, 0, out, why);
}

/* nothing_left - nothing of the message is queued, counted or left in incoming/ */
static void nothing_left(void)
{
    ck_assert_uint_eq(files("queue"), 0);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(records(), 0);
    ck_assert_uint_eq(accepted("acme"), 0);
    ck_assert_uint_eq(accepted("beta"), 0);
}

/* expect_copy - the copy ID in queue/ and its record: TARGET, ENVFROM, NRCPTS, FROM header */
static void expect_copy(const char *id, const char *target, const char *envfrom,
                        const char *rcpt0, size_t nrcpts, const char *from_header)
{
    struct spool_copy *c;
    struct queue_record rec;
    struct buf h;
    char *err = NULL, body[256], received[128];
    ssize_t n;

    ck_assert_msg(spool_copy_open(sp, "queue", id, &c, &err) == 1, "%s: %s", id, err);
    ck_assert_str_eq(c->env.target, target);
    ck_assert_str_eq(c->env.sender, "alice@client.example");
    ck_assert_str_eq(c->env.envelope_from, envfrom);
    ck_assert_str_eq(c->env.mail_params, "BODY=8BITMIME");
    ck_assert_str_eq(c->env.mta_queue_id, "Q1");
    ck_assert_int_eq(c->env.arrival, ARRIVAL);
    ck_assert_uint_eq(c->env.nrcpts, nrcpts);
    ck_assert_str_eq(c->env.rcpts[0], rcpt0);
    buf_init(&h);
    ck_assert_int_eq(spool_copy_read_headers(c, &h, &err), 0);
    snprintf(received, sizeof(received), "Received: by mx.test.example (byosmtpd) id %s", id);
    ck_assert_msg(strncmp(h.data, received, strlen(received)) == 0, "%s", h.data);
    ck_assert_msg(strstr(h.data, from_header) != NULL, "%s", h.data);
    ck_assert_ptr_nonnull(strstr(h.data, "\r\nOriginal-From: Alice <alice@client.example>\r\n"));
    ck_assert_ptr_nonnull(strstr(h.data, "\r\nSubject: hello\r\n\r\n"));
    buf_free(&h);
    n = spool_copy_read_body(c, body, sizeof(body), &err);
    ck_assert_int_eq(n, (ssize_t)strlen(BODY));
    ck_assert_mem_eq(body, BODY, strlen(BODY));
    spool_copy_close(c);
    ck_assert_int_eq(store_queue_get(st, id, &rec, &err), 1);
    ck_assert_str_eq(rec.target, target);
    ck_assert_uint_eq(rec.nrcpts, nrcpts);
    ck_assert_int_eq(rec.arrival, ARRIVAL);
    ck_assert_str_eq(rec.month, MONTH);
    ck_assert_str_eq(rec.mta_queue_id, "Q1");
    queue_record_free(&rec);
}

START_TEST(test_commit)
{
    struct enqueue_copy out[2];
    char *why = NULL;

    route_three();
    ck_assert_msg(commit("mx.test.example", NULL, out, &why) == 0, "%s", why);
    ck_assert(spool_valid_id(out[0].id));
    ck_assert(spool_valid_id(out[1].id));
    ck_assert_str_ne(out[0].id, out[1].id);
    expect_copy(out[0].id, "acme", "relay@acme.test", "bob@acme.example", 2,
                "\r\nFrom: Acme Relay <relay@acme.test>\r\n");
    expect_copy(out[1].id, "beta", "noreply@beta.test", "dave@beta.example", 1,
                "\r\nFrom: Alice <noreply@beta.test>\r\n");
    ck_assert_uint_eq(files("queue"), 2);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(records(), 2);
    /* the quota counts recipients, in the arrival month */
    ck_assert_uint_eq(accepted("acme"), 2);
    ck_assert_uint_eq(accepted("beta"), 1);
}
END_TEST

START_TEST(test_original_sender)
{
    struct enqueue_dest d = {.store = st, .spool = sp, .hostname = "mx.test.example"};
    struct enqueue_envelope env = {.sender = "", .mail_params = "", .arrival = ARRIVAL};
    struct enqueue_copy out[1];
    struct spool_copy *c;
    struct queue_record rec;
    char *why = NULL;

    /* rewrite.envelope_from = original, the null sender, no MTA queue id */
    conf->rewrite.envelope_from = ENVFROM_ORIGINAL;
    route("<bob@acme.example>");
    ck_assert_msg(enqueue_commit(&d, conf, rcv, &env, &routing, out, &why) == 0, "%s", why);
    ck_assert_int_eq(spool_copy_open(sp, "queue", out[0].id, &c, &why), 1);
    ck_assert_str_eq(c->env.sender, "");
    ck_assert_str_eq(c->env.envelope_from, "");
    ck_assert_str_eq(c->env.mta_queue_id, "");
    spool_copy_close(c);
    ck_assert_int_eq(store_queue_get(st, out[0].id, &rec, &why), 1);
    ck_assert_str_eq(rec.mta_queue_id, "");
    queue_record_free(&rec);
    ck_assert_uint_eq(accepted("acme"), 1);
}
END_TEST

START_TEST(test_target_envelope_from)
{
    struct enqueue_dest d = {.store = st, .spool = sp, .hostname = "mx.test.example"};
    struct enqueue_envelope env = {.sender = "alice@client.example", .mail_params = "",
                                   .arrival = ARRIVAL};
    struct enqueue_copy out[1];
    struct spool_copy *c;
    struct target t;
    char *why = NULL;

    /* a target's envelope_from wins over rewrite.envelope_from, either way */
    target_init(&t);
    free(t.from_address);
    t.from_address = xstrdup("noreply@acme.example");
    ck_assert_str_eq(enqueue_envelope_from(conf, &t, "alice@client.example"),
                     "noreply@acme.example");
    conf->rewrite.envelope_from = ENVFROM_ORIGINAL;
    ck_assert_str_eq(enqueue_envelope_from(conf, &t, "alice@client.example"),
                     "alice@client.example");
    free(t.envelope_from);
    t.envelope_from = xstrdup("bounces@mail.acme.example");
    ck_assert_str_eq(enqueue_envelope_from(conf, &t, "alice@client.example"),
                     "bounces@mail.acme.example");
    conf->rewrite.envelope_from = ENVFROM_TARGET;
    ck_assert_str_eq(enqueue_envelope_from(conf, &t, ""), "bounces@mail.acme.example");
    target_free(&t);

    /* and it is what the spooled copy carries */
    ck_assert_int_eq(store_target_get(st, "acme", &t, &why), 1);
    free(t.envelope_from);
    t.envelope_from = xstrdup("bounces@mail.acme.example");
    ck_assert_msg(store_target_put(st, &t, true, &why) == 0, "%s", why);
    target_free(&t);
    route("<bob@acme.example>");
    ck_assert_msg(enqueue_commit(&d, conf, rcv, &env, &routing, out, &why) == 0, "%s", why);
    ck_assert_int_eq(spool_copy_open(sp, "queue", out[0].id, &c, &why), 1);
    ck_assert_str_eq(c->env.sender, "alice@client.example");
    ck_assert_str_eq(c->env.envelope_from, "bounces@mail.acme.example");
    spool_copy_close(c);
}
END_TEST

START_TEST(test_rewrite_fails)
{
    char *why = NULL;

    /* a host name that cannot go into a Received: field: the first copy cannot be made */
    route_three();
    ck_assert_int_eq(commit("bad host", NULL, NULL, &why), -1);
    ck_assert_msg(strstr(why, "rewriting the header for target acme: ") == why, "%s", why);
    free(why);
    nothing_left();
}
END_TEST

START_TEST(test_publish_fails)
{
    char queue[4300], real[4300];
    char *why = NULL;
    FILE *fp;

    /* queue/ is a file: copies written and committed, the rename fails, the commit taken back */
    snprintf(queue, sizeof(queue), "%s/queue", spool_dir);
    snprintf(real, sizeof(real), "%s/queue.real", spool_dir);
    ck_assert_int_eq(rename(queue, real), 0);
    fp = fopen(queue, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    route_three();
    ck_assert_int_eq(commit("mx.test.example", NULL, NULL, &why), -1);
    ck_assert_msg(strstr(why, "cannot move") != NULL, "%s", why);
    free(why);
    ck_assert_int_eq(unlink(queue), 0);
    ck_assert_int_eq(rename(real, queue), 0);
    nothing_left();
}
END_TEST

START_TEST(test_store_full)
{
    struct quota_record one = {.accepted = 1};
    char *why = NULL, name[32];
    int i = 0;

    /* fill the small store until not even a quota record fits, then commit: MDB_MAP_FULL */
    route_three();
    do
        snprintf(name, sizeof(name), "fill%06d", i++);
    while (store_quota_add(st, name, MONTH, &one, &why) == 0);
    ck_assert_msg(strstr(why, "is full") != NULL, "%s", why);
    free(why);
    why = NULL;
    ck_assert_int_eq(commit("mx.test.example", NULL, NULL, &why), -1);
    ck_assert_msg(strstr(why, "is full") != NULL, "%s", why);
    free(why);
    nothing_left();
}
END_TEST

/* set_quota - target NAME gets monthly_quota LIMIT */
static void set_quota(const char *name, uint64_t limit)
{
    struct target t;
    char *err = NULL;

    ck_assert_int_eq(store_target_get(st, name, &t, &err), 1);
    t.monthly_quota = limit;
    ck_assert_msg(store_target_put(st, &t, true, &err) == 0, "%s", err);
    target_free(&t);
}

/* count - add N to the 'accepted' count of NAME, as a concurrent commit would */
static void count(const char *name, uint64_t n)
{
    struct quota_record d = {n, 0, 0};
    char *err = NULL;

    ck_assert_msg(store_quota_add(st, name, MONTH, &d, &err) == 0, "%s", err);
}

/*
 * route_three_then_fill - bob, carol (acme, quota 3) and dave (beta, quota BETA) routed while
 * both had room; then other commits take acme to 2 of 3 and beta to BETA_USED, so acme's copy
 * of 2 recipients no longer fits
 */
static void route_three_then_fill(uint64_t beta, uint64_t beta_used)
{
    set_quota("acme", 3);
    set_quota("beta", beta);
    route_three();
    count("acme", 2);
    count("beta", beta_used);
}

/* nothing_committed - no copy queued or left in incoming/, no record, counts as filled */
static void nothing_committed(uint64_t beta_used)
{
    ck_assert_uint_eq(files("queue"), 0);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(records(), 0);
    ck_assert_uint_eq(accepted("acme"), 2);
    ck_assert_uint_eq(accepted("beta"), beta_used);
    ck_assert_uint_eq(routing.ngroups, 2);
}

START_TEST(test_quota_tempfail)
{
    struct enqueue_copy out[2];
    char *why = NULL;

    /* acme is over, beta has room: nothing is committed, the message is deferred */
    conf->quota.action = QUOTA_TEMPFAIL;
    route_three_then_fill(0, 0);
    ck_assert_int_eq(commit_n("mx.test.example", NULL, 3, out, &why), ENQUEUE_DEFERRED);
    ck_assert_msg(strstr(why, "target acme has used its monthly quota (2 of 3 in " MONTH ")") ==
                  why, "%s", why);
    free(why);
    ck_assert(out[0].over_quota && !out[1].over_quota);
    ck_assert_str_eq(out[0].id, "");
    ck_assert_str_eq(out[1].id, "");
    nothing_committed(0);
}
END_TEST

START_TEST(test_quota_reject_mixed)
{
    char *why = NULL;

    /* reject, acme over and beta with room: the message has recipients left, so 451 */
    conf->quota.action = QUOTA_REJECT;
    route_three_then_fill(0, 0);
    ck_assert_int_eq(commit_n("mx.test.example", NULL, 3, NULL, &why), ENQUEUE_DEFERRED);
    free(why);
    nothing_committed(0);
}
END_TEST

START_TEST(test_quota_reject_all)
{
    struct enqueue_copy out[2];
    char *why = NULL;

    /* reject, both over: 550 when the three are all the message has, else 451 */
    conf->quota.action = QUOTA_REJECT;
    route_three_then_fill(1, 1);
    ck_assert_int_eq(commit_n("mx.test.example", NULL, 3, out, &why), ENQUEUE_REJECTED);
    ck_assert(out[0].over_quota && out[1].over_quota);
    free(why);
    why = NULL;
    ck_assert_int_eq(commit_n("mx.test.example", NULL, 4, NULL, &why), ENQUEUE_DEFERRED);
    free(why);
    why = NULL;
    ck_assert_int_eq(commit("mx.test.example", NULL, NULL, &why), ENQUEUE_DEFERRED);
    free(why);
    nothing_committed(1);
}
END_TEST

START_TEST(test_quota_passthrough)
{
    struct enqueue_copy out[2];
    char *why = NULL;

    /* acme's copy is refused and its group leaves the routing; beta's copy is committed */
    conf->quota.action = QUOTA_PASSTHROUGH;
    route_three_then_fill(0, 0);
    ck_assert_msg(commit_n("mx.test.example", NULL, 3, out, &why) == ENQUEUE_COMMITTED, "%s",
                  why);
    ck_assert(out[0].over_quota && !out[1].over_quota);
    ck_assert_str_eq(out[0].id, "");
    expect_copy(out[1].id, "beta", "noreply@beta.test", "dave@beta.example", 1,
                "\r\nFrom: Alice <noreply@beta.test>\r\n");
    ck_assert_uint_eq(files("queue"), 1);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(records(), 1);
    ck_assert_uint_eq(accepted("acme"), 2);
    ck_assert_uint_eq(accepted("beta"), 1);
    ck_assert_uint_eq(routing.ngroups, 1);
    ck_assert_str_eq(routing.groups[0].t.name, "beta");
    /* the next message: dave alone, beta now full too: every recipient stays with the MTA */
    rcpt_routing_free(&routing);
    route("<dave@beta.example>");
    set_quota("beta", 1);
    ck_assert_int_eq(commit_n("mx.test.example", NULL, 1, out, &why), ENQUEUE_COMMITTED);
    ck_assert(out[0].over_quota);
    ck_assert_uint_eq(routing.ngroups, 0);
    ck_assert_uint_eq(files("queue"), 1);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(records(), 1);
}
END_TEST

/* One message of test_quota_concurrent: its own reception file and routing. */
struct racer {
    struct spool_msg *rcv;
    struct rcpt_routing r;
    int rc;
};

/* race_thread - commit the racers of ARG (every 8th of 80 from its first) one after another */
static void *race_thread(void *arg)
{
    struct racer *x = arg;
    struct enqueue_dest d = {.store = st, .spool = sp, .hostname = "mx.test.example"};
    struct enqueue_envelope env = {.sender = "alice@client.example", .mail_params = "",
                                   .mta_queue_id = "QR", .arrival = ARRIVAL, .nrcpts = 1};

    for (size_t i = 0; i < 80; i += 8) {
        char *why = NULL;

        x[i].rc = enqueue_commit(&d, conf, x[i].rcv, &env, &x[i].r, NULL, &why);
        free(why);
    }
    return NULL;
}

START_TEST(test_quota_concurrent)
{
    static struct racer x[80];
    pthread_t th[8];
    size_t ok = 0, deferred = 0;
    char *err = NULL;

    /* 80 messages routed while acme had room (quota 50), then committed by 8 threads at once */
    conf->quota.action = QUOTA_TEMPFAIL;
    set_quota("acme", 50);
    for (size_t i = 0; i < 80; i++) {
        struct rcpt_decision d;

        ck_assert_int_eq(spool_msg_begin(sp, &x[i].rcv, &err), 0);
        ck_assert_int_eq(spool_msg_header(x[i].rcv, "From", " a@client.example", &err), 0);
        ck_assert_int_eq(spool_msg_body(x[i].rcv, BODY, strlen(BODY), &err), 0);
        ck_assert_int_eq(rcpt_route(st, &QUERY, "<bob@acme.example>", &x[i].r, &d),
                         ROUTE_ROUTED);
        ck_assert_ptr_nonnull(rcpt_routing_add(&x[i].r, "<bob@acme.example>", &d));
        rcpt_decision_free(&d);
    }
    for (size_t t = 0; t < 8; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, race_thread, &x[t]), 0);
    for (size_t t = 0; t < 8; t++)
        pthread_join(th[t], NULL);
    for (size_t i = 0; i < 80; i++) {
        ok += x[i].rc == ENQUEUE_COMMITTED;
        deferred += x[i].rc == ENQUEUE_DEFERRED;
        rcpt_routing_free(&x[i].r);
        spool_msg_discard(x[i].rcv);
    }
    ck_assert_uint_eq(ok, 50);
    ck_assert_uint_eq(deferred, 30);
    ck_assert_uint_eq(accepted("acme"), 50);
    ck_assert_uint_eq(records(), 50);
    ck_assert_uint_eq(files("queue"), 50);
    ck_assert_uint_eq(files("incoming"), 0);
}
END_TEST

static const char *const crash_points[] = {"written", "fsync", "commit", "publish"};

/*
 * test_crash - a child process commits with the crash point set and must die by SIGKILL there;
 * what it leaves is what doc/spool.md says recovery finds at that point, and recovery puts it
 * right (the same sequence tests/milter/crash.sh runs through byosmtpd)
 */
START_TEST(test_crash)
{
    const char *point = crash_points[_i];
    bool committed = _i >= 2, published = _i == 3;
    struct spool_recovery rec;
    char *err = NULL;
    int status;
    pid_t pid;

    route_three();
    store_close(st); /* the child opens its own: an LMDB handle does not cross fork() */
    st = NULL;
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *why = NULL;

        if (store_open(store_dir, 16 << 20, STORE_WRITE, &st, &why) < 0)
            _exit(2);
        commit("mx.test.example", point, NULL, &why);
        _exit(3); /* not killed: the crash point was missed */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: status %d", point,
                  status);
    ck_assert_msg(store_open(store_dir, 16 << 20, STORE_WRITE, &st, &err) == 0, "%s", err);
    ck_assert_uint_eq(files("incoming"), published ? 0 : 2);
    ck_assert_uint_eq(files("queue"), published ? 2 : 0);
    ck_assert_uint_eq(records(), committed ? 2 : 0);
    ck_assert_uint_eq(accepted("acme"), committed ? 2 : 0);
    ck_assert_uint_eq(accepted("beta"), committed ? 1 : 0);
    /* the reception file is the MTA's copy until it is answered: recovery removes it */
    ck_assert_msg(spool_recover(sp, st, &rec, &err) == 0, "%s", err);
    ck_assert_uint_eq(rec.discarded, committed ? 1 : 3);
    ck_assert_uint_eq(rec.rolled_forward, committed && !published ? 2 : 0);
    ck_assert_uint_eq(rec.queued, committed ? 2 : 0);
    ck_assert_uint_eq(rec.corrupt, 0);
    ck_assert_uint_eq(files("incoming"), 0);
    ck_assert_uint_eq(files("queue"), committed ? 2 : 0);
    ck_assert_uint_eq(records(), committed ? 2 : 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("enqueue");
    TCase *tc = tcase_create("core");
    TCase *full = tcase_create("full store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_commit);
    tcase_add_test(tc, test_original_sender);
    tcase_add_test(tc, test_target_envelope_from);
    tcase_add_test(tc, test_rewrite_fails);
    tcase_add_test(tc, test_publish_fails);
    tcase_add_loop_test(tc, test_crash, 0, 4);
    tcase_add_test(tc, test_quota_tempfail);
    tcase_add_test(tc, test_quota_reject_mixed);
    tcase_add_test(tc, test_quota_reject_all);
    tcase_add_test(tc, test_quota_passthrough);
    tcase_add_test(tc, test_quota_concurrent);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(full, setup_small, teardown);
    tcase_add_test(full, test_store_full);
    suite_add_tcase(s, full);
    return test_run(s);
}
