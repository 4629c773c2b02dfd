/*
 * check_store - the LMDB store: route lookup order, keys LMDB cannot hold, MAP_FULL,
 * load's all-or-nothing replace, quota and verification records, many reader threads, and the
 * commit of queue records that checks the monthly quota in its own transaction (copy by copy,
 * all or nothing or the copies that fit; exact with many committing threads); the sender routes
 * beside the recipient routes, and a store made before them.
 */
#include "config.h"

#include <lmdb.h>
#include <pthread.h>

#include "store/store.h"
#include "testutil.h"

static char *dir;
static struct store *st;

static void setup(void)
{
    char *err = NULL;

    dir = test_tmpdir();
    ck_assert_msg(store_open(dir, 16 << 20, STORE_CREATE, &st, &err) == 0, "%s", err);
}

static void teardown(void)
{
    store_close(st);
    test_rmdir(dir);
}

/* make_target - a valid target called NAME */
static void make_target(struct target *t, const char *name)
{
    target_init(t);
    free(t->name);
    t->name = xstrdup(name);
    free(t->host);
    t->host = xstrdup("smtp.example.net");
    t->port = 587;
    free(t->username);
    t->username = xstrdup("apikey");
    free(t->password_enc);
    t->password_enc = xstrdup("enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    free(t->from_address);
    t->from_address = xstrdup("noreply@example.com");
}

static void add_target(const char *name)
{
    struct target t;
    char *err = NULL;

    make_target(&t, name);
    ck_assert_msg(store_target_put(st, &t, false, &err) == 0, "%s", err);
    target_free(&t);
}

static void add_route(const char *match, const char *target)
{
    char *err = NULL;

    ck_assert_msg(store_route_put(st, match, target, &err) == 0, "%s", err);
}

/* expect - look RCPT up and compare the target and rule (NULL target: a miss) */
static void expect(const char *rcpt, const char *target, const char *rule)
{
    char *t = NULL, *r = NULL, *err = NULL;
    int rc = store_route_lookup(st, rcpt, strlen(rcpt), &t, &r, &err);

    ck_assert_msg(rc >= 0, "%s: %s", rcpt, err);
    if (target == NULL) {
        ck_assert_msg(rc == 0, "%s: expected no route, got %s via %s", rcpt, t, r);
    } else {
        ck_assert_msg(rc == 1, "%s: expected %s, got no route", rcpt, target);
        ck_assert_str_eq(t, target);
        ck_assert_str_eq(r, rule);
    }
    free(t);
    free(r);
}

START_TEST(lookup_order_each_rule)
{
    add_target("detail");
    add_target("user");
    add_target("domain");
    add_target("parent");
    add_target("star");
    expect("anyone@nowhere.example", NULL, NULL);
    add_route("*", "star");
    expect("anyone@nowhere.example", "star", "*");
    add_route(".example.com", "parent");
    expect("a@sub.example.com", "parent", ".example.com");
    expect("a@deep.sub.example.com", "parent", ".example.com");
    expect("a@example.com", "star", "*"); /* .example.com is subdomains only */
    add_route("@example.com", "domain");
    expect("a@example.com", "domain", "@example.com");
    expect("a@sub.example.com", "parent", ".example.com");
    add_route("user@example.com", "user");
    expect("user@example.com", "user", "user@example.com");
    expect("user+tag@example.com", "user", "user@example.com");
    expect("other@example.com", "domain", "@example.com");
    add_route("user+billing@example.com", "detail");
    expect("user+billing@example.com", "detail", "user+billing@example.com");
    expect("user+other@example.com", "user", "user@example.com");
}
END_TEST

START_TEST(lookup_case_rules)
{
    add_target("t");
    add_target("u");
    add_route("@Example.COM", "t"); /* stored with the domain lower-cased */
    add_route("Bob@example.com", "u");
    expect("x@EXAMPLE.com", "t", "@example.com");
    expect("Bob@EXAMPLE.COM", "u", "Bob@example.com");
    expect("bob@example.com", "t", "@example.com"); /* local part compared as written */
    expect("<Bob@example.com>", "u", "Bob@example.com");
}
END_TEST

START_TEST(unstorable_keys_are_misses)
{
    char longaddr[2000];
    char *t = NULL, *err = NULL;

    add_target("t");
    add_route("*", "t");
    memset(longaddr, 'a', sizeof(longaddr));
    memcpy(longaddr + 1000, "@example.com", 13);
    /* The full address is too long for an LMDB key: that candidate is skipped, "*" still hits. */
    expect(longaddr, "t", "*");
    ck_assert_int_eq(store_route_lookup(st, "a\0b@example.com", 15, &t, NULL, &err), 0);
    ck_assert_int_eq(store_route_lookup(st, "", 0, &t, NULL, &err), 0);
    ck_assert_ptr_null(t);
}
END_TEST

/* expect_sender - look SENDER up in the sender routes (NULL target: a miss) */
static void expect_sender(struct store *s, const char *sender, const char *target, const char *rule)
{
    char *t = NULL, *r = NULL, *err = NULL;
    int rc = store_route_lookup_by(s, ROUTE_BY_SENDER, sender, strlen(sender), &t, &r, &err);

    ck_assert_msg(rc >= 0, "%s: %s", sender, err);
    ck_assert_msg(rc == (target != NULL), "%s: %s", sender, t != NULL ? t : "no route");
    if (target != NULL) {
        ck_assert_str_eq(t, target);
        ck_assert_str_eq(r, rule);
    }
    free(t);
    free(r);
}

START_TEST(sender_routes_are_their_own_table)
{
    struct target_set all;
    char *err = NULL;

    add_target("a");
    add_target("b");
    add_route("@a.example", "a");
    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "@A.example", "b", &err) == 0, "%s", err);
    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "*", "a", &err) == 0, "%s", err);
    /* the same match names different targets in the two tables */
    expect("x@a.example", "a", "@a.example");
    expect_sender(st, "<x@a.example>", "b", "@a.example");
    expect_sender(st, "x@other.example", "a", "*");
    expect_sender(st, "<>", NULL, NULL); /* the null sender has no sender route */
    expect_sender(st, "", NULL, NULL);
    ck_assert_int_eq(store_get_all(st, &all, &err), 0);
    ck_assert_uint_eq(all.nroutes, 1);
    ck_assert_uint_eq(all.nsender_routes, 2);
    ck_assert_str_eq(all.sender_routes[0].match, "*");
    ck_assert_str_eq(all.sender_routes[1].match, "@a.example");
    ck_assert_str_eq(all.sender_routes[1].target, "b");
    target_set_free(&all);
    /* a target named only by a sender route cannot be removed either */
    ck_assert_int_eq(store_target_del(st, "b", &err), -1);
    ck_assert_str_eq(err, "target 'b' is still used by routes --sender @a.example: remove them "
                          "first with 'byosmtpctl route rm [--sender] MATCH'");
    free(err);
    err = NULL;
    ck_assert_int_eq(store_route_del_by(st, ROUTE_BY_RECIPIENT, "*", &err), 0);
    ck_assert_int_eq(store_route_del_by(st, ROUTE_BY_SENDER, "@a.example", &err), 1);
    ck_assert_int_eq(store_target_del(st, "b", &err), 0);
    expect("x@a.example", "a", "@a.example");
    expect_sender(st, "x@a.example", "a", "*");
}
END_TEST

START_TEST(store_without_sender_routes)
{
    struct store *old = NULL;
    struct target_set all;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char *err = NULL;

    /* a store made before the sender routes: the database is not there */
    add_target("a");
    add_route("@a.example", "a");
    store_close(st);
    st = NULL;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "sender_routes", 0, &dbi), 0);
    ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    /* read-only: it opens, has no sender routes, and the recipient routes work */
    ck_assert_msg(store_open(dir, 16 << 20, STORE_READ, &old, &err) == 0, "%s", err);
    expect_sender(old, "x@a.example", NULL, NULL);
    ck_assert_int_eq(store_get_all(old, &all, &err), 0);
    ck_assert_uint_eq(all.nroutes, 1);
    ck_assert_uint_eq(all.nsender_routes, 0);
    target_set_free(&all);
    store_close(old);
    /* opened for writing, it gains them */
    ck_assert_msg(store_open(dir, 16 << 20, STORE_WRITE, &st, &err) == 0, "%s", err);
    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "@a.example", "a", &err) == 0, "%s", err);
    expect_sender(st, "x@a.example", "a", "@a.example");
    expect("x@a.example", "a", "@a.example");
}
END_TEST

START_TEST(route_needs_existing_target)
{
    char *err = NULL;

    ck_assert_int_eq(store_route_put(st, "@example.com", "missing", &err), -1);
    ck_assert_str_eq(err, "target 'missing' does not exist: add it first with 'byosmtpctl target "
                          "add missing ...'");
    free(err);
}
END_TEST

START_TEST(target_in_use_cannot_be_removed)
{
    char *err = NULL;

    add_target("t");
    add_route("@example.com", "t");
    ck_assert_int_eq(store_target_del(st, "t", &err), -1);
    ck_assert_str_eq(err, "target 't' is still used by routes @example.com: remove them first "
                          "with 'byosmtpctl route rm [--sender] MATCH'");
    ck_assert_int_eq(store_route_del(st, "@EXAMPLE.com", &err), 1);
    ck_assert_int_eq(store_target_del(st, "t", &err), 0);
    free(err);
}
END_TEST

START_TEST(map_full_is_clear_and_harmless)
{
    struct store *small;
    char *err = NULL, *sdir = test_tmpdir();
    struct target t;
    int i, rc = 0;

    ck_assert_msg(store_open(sdir, 256 << 10, STORE_CREATE, &small, &err) == 0, "%s", err);
    make_target(&t, "first");
    ck_assert(store_target_put(small, &t, false, &err) == 0);
    target_free(&t);
    for (i = 0; i < 100000 && rc == 0; i++) {
        char name[32];

        snprintf(name, sizeof(name), "t%06d", i);
        make_target(&t, name);
        rc = store_target_put(small, &t, false, &err);
        target_free(&t);
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "is full (store.map_size = 262144 bytes)") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "raise store.map_size in byosmtp.conf") != NULL, "%s", err);
    /* the store is still usable: earlier writes are there and reads work */
    ck_assert_int_eq(store_target_get(small, "first", &t, &err), 1);
    target_free(&t);
    ck_assert(store_route_put(small, "*", "first", &err) == 0 || strstr(err, "is full"));
    store_close(small);
    free(err);
    test_rmdir(sdir);
}
END_TEST

START_TEST(replace_all_is_atomic)
{
    struct target_set set = {0};
    struct target t;
    char *err = NULL;

    add_target("old");
    add_route("@old.example", "old");
    set.targets = xcalloc(1, sizeof(*set.targets));
    make_target(&set.targets[0], "new");
    set.ntargets = 1;
    set.routes = xcalloc(1, sizeof(*set.routes));
    set.routes[0].match = xstrdup("@new.example");
    set.routes[0].target = xstrdup("missing");
    set.nroutes = 1;
    ck_assert_int_eq(store_replace_all(st, &set, &err), -1);
    expect("a@old.example", "old", "@old.example"); /* nothing changed */
    free(set.routes[0].target);
    set.routes[0].target = xstrdup("new");
    ck_assert_msg(store_replace_all(st, &set, &err) == 0, "%s", err);
    expect("a@old.example", NULL, NULL);
    expect("a@new.example", "new", "@new.example");
    ck_assert_int_eq(store_target_get(st, "old", &t, &err), 0);
    target_free(&t);
    target_set_free(&set);
    free(err);
}
END_TEST

START_TEST(quota_records_add_up)
{
    struct quota_record q, d1 = {3, 0, 0}, d2 = {0, 2, 1};
    char *err = NULL, month[8];

    add_target("t");
    ck_assert(store_quota_get(st, "t", "2026-11", &q, &err) == 0);
    ck_assert_uint_eq(q.accepted, 0);
    ck_assert(store_quota_add(st, "t", "2026-11", &d1, &err) == 0);
    ck_assert(store_quota_add(st, "t", "2026-11", &d2, &err) == 0);
    ck_assert(store_quota_get(st, "t", "2026-11", &q, &err) == 0);
    ck_assert_uint_eq(q.accepted, 3);
    ck_assert_uint_eq(q.delivered, 2);
    ck_assert_uint_eq(q.bounced, 1);
    ck_assert(store_quota_get(st, "t", "2026-12", &q, &err) == 0);
    ck_assert_uint_eq(q.accepted, 0);
    store_month(1796083200, month); /* 2026-12-01T00:00:00Z */
    ck_assert_str_eq(month, "2026-12");
    store_month(1796083199, month);
    ck_assert_str_eq(month, "2026-11");
}
END_TEST

/* quota_target - a target NAME with monthly_quota LIMIT and ACCEPTED counted in MONTH */
static void quota_target(const char *name, uint64_t limit, uint64_t accepted, const char *month)
{
    struct target t;
    struct quota_record d = {accepted, 0, 0};
    char *err = NULL;

    make_target(&t, name);
    t.monthly_quota = limit;
    ck_assert_msg(store_target_put(st, &t, false, &err) == 0, "%s", err);
    target_free(&t);
    ck_assert_msg(store_quota_add(st, name, month, &d, &err) == 0, "%s", err);
}

/* accepted_of - the 'accepted' count of NAME in MONTH */
static uint64_t accepted_of(const char *name, const char *month)
{
    struct quota_record q;
    char *err = NULL;

    ck_assert_msg(store_quota_get(st, name, month, &q, &err) == 0, "%s", err);
    return q.accepted;
}

/* recorded - whether the queue database has a record for ID */
static bool recorded(const char *id)
{
    struct queue_record r;
    char *err = NULL;
    int rc = store_queue_get(st, id, &r, &err);

    ck_assert_int_ge(rc, 0);
    queue_record_free(&r);
    return rc == 1;
}

START_TEST(queue_commit_checks_quota)
{
    struct queue_record recs[4] = {
        {.id = "06B0000000000000AAAA", .target = "t", .nrcpts = 1, .month = "2026-11"},
        {.id = "06B0000000000000BBBB", .target = "free", .nrcpts = 9, .month = "2026-11"},
        {.id = "06B0000000000000CCCC", .target = "t", .nrcpts = 2, .month = "2026-11"},
        {.id = "06B0000000000000DDDD", .target = "t", .nrcpts = 1, .month = "2026-11"},
    };
    struct queue_quota q[4];
    char *err = NULL;

    /* t: 3 of 5 used; "free" has no target record, so no quota */
    quota_target("t", 5, 3, "2026-11");
    /* the copies that fit, in order: 3+1 fits, 4+2 does not, 4+1 fits */
    ck_assert_int_eq(store_queue_commit_quota(st, recs, 4, false, q, &err), 1);
    ck_assert(!q[0].refused && !q[1].refused && q[2].refused && !q[3].refused);
    ck_assert_uint_eq(q[0].accepted, 3);
    ck_assert_uint_eq(q[2].accepted, 4);
    ck_assert_uint_eq(q[2].limit, 5);
    ck_assert_uint_eq(q[1].limit, 0);
    ck_assert(recorded(recs[0].id) && recorded(recs[1].id) && recorded(recs[3].id));
    ck_assert(!recorded(recs[2].id));
    ck_assert_uint_eq(accepted_of("t", "2026-11"), 5);
    ck_assert_uint_eq(accepted_of("free", "2026-11"), 9);
    /* all or nothing: t is full, so the copy for "free" is not committed either */
    recs[0].id = "06B0000000000000EEEE";
    recs[1].id = "06B0000000000000FFFF";
    ck_assert_int_eq(store_queue_commit_quota(st, recs, 2, true, q, &err), 1);
    ck_assert(q[0].refused && !q[1].refused);
    ck_assert(!recorded(recs[0].id) && !recorded(recs[1].id));
    ck_assert_uint_eq(accepted_of("free", "2026-11"), 9);
    /* store_queue_commit refuses the same with a reason */
    ck_assert_int_eq(store_queue_commit(st, recs, 2, &err), -1);
    ck_assert_msg(strstr(err, "target t has no room in its monthly quota for 1 more recipients "
                              "(5 of 5 in 2026-11)") != NULL, "%s", err);
    free(err);
    err = NULL;
    /* another month has room; a copy refused alone commits nothing */
    ck_assert_int_eq(store_queue_commit_quota(st, &recs[2], 1, false, q, &err), 1);
    recs[0].month[6] = '2';
    ck_assert_int_eq(store_queue_commit_quota(st, recs, 1, true, q, &err), 0);
    ck_assert_uint_eq(accepted_of("t", "2026-12"), 1);
}
END_TEST

/* the cap of cluster mode's degraded share: a further bound on this host's count, inside the
 * same transaction, only for targets with a quota */
START_TEST(queue_commit_capped)
{
    struct queue_record recs[2] = {
        {.id = "06B0000000000000C001", .target = "t", .nrcpts = 2, .month = "2026-11"},
        {.id = "06B0000000000000C002", .target = "free", .nrcpts = 5, .month = "2026-11"},
    };
    uint64_t cap[2] = {4, 1};
    struct queue_quota q[2];
    char *err = NULL;

    quota_target("t", 10, 3, "2026-11");
    /* 3 + 2 > cap 4 (the quota of 10 has room); "free" has no quota: its cap does not apply */
    ck_assert_int_eq(store_queue_commit_capped(st, recs, 2, false, cap, q, &err), 1);
    ck_assert(q[0].refused && !q[1].refused);
    ck_assert(!recorded(recs[0].id) && recorded(recs[1].id));
    ck_assert_uint_eq(accepted_of("t", "2026-11"), 3);
    /* within the cap: committed; a cap of 0 means none */
    cap[0] = 5;
    recs[1].id = "06B0000000000000C003";
    ck_assert_int_eq(store_queue_commit_capped(st, recs, 1, true, cap, q, &err), 0);
    ck_assert_uint_eq(accepted_of("t", "2026-11"), 5);
    cap[0] = 0;
    recs[0].id = "06B0000000000000C004";
    ck_assert_int_eq(store_queue_commit_capped(st, recs, 1, true, cap, q, &err), 0);
    ck_assert_uint_eq(accepted_of("t", "2026-11"), 7);
}
END_TEST

/* commit_thread - 25 single-recipient copies for target t, one commit each; how many fit */
static void *commit_thread(void *arg)
{
    long fit = 0;

    for (int i = 0; i < 25; i++) {
        char id[32], *err = NULL;
        struct queue_record r = {.id = id, .target = "t", .nrcpts = 1, .month = "2026-11"};
        struct queue_quota q;
        int rc;

        snprintf(id, sizeof(id), "06B00000000%03ld%06d", (long)(intptr_t)arg, i);
        rc = store_queue_commit_quota(st, &r, 1, true, &q, &err);
        if (rc == 0)
            fit++;
        else if (rc < 0)
            free(err);
    }
    return (void *)fit;
}

START_TEST(queue_commit_quota_is_exact_under_concurrency)
{
    pthread_t th[8];
    long fit = 0;

    /* 200 single-recipient commits from 8 threads against a quota of 50 */
    quota_target("t", 50, 0, "2026-11");
    for (long i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, commit_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 8; i++) {
        void *n;

        pthread_join(th[i], &n);
        fit += (long)n;
    }
    ck_assert_int_eq(fit, 50);
    ck_assert_uint_eq(accepted_of("t", "2026-11"), 50);
}
END_TEST

START_TEST(verify_result_and_rate_limit)
{
    struct verify_result v = {.time = 1000, .ok = false, .error_class = "auth_failed",
                              .reply = "535 5.7.8 bad\r\ncredentials", .tls = "TLSv1.3 X",
                              .cert_subject = "CN=localhost", .auth_mech = "PLAIN"};
    struct verify_result got;
    struct target t;
    char *err = NULL;
    int64_t next;

    add_target("t");
    ck_assert_int_eq(store_verify_get(st, "t", &got, &err), 0);
    ck_assert(store_verify_put(st, "t", &v, &err) == 0);
    ck_assert_int_eq(store_verify_get(st, "t", &got, &err), 1);
    ck_assert_int_eq(got.time, 1000);
    ck_assert(!got.ok);
    ck_assert_str_eq(got.error_class, "auth_failed");
    ck_assert_str_eq(got.reply, "535 5.7.8 bad  credentials");
    ck_assert_str_eq(got.auth_mech, "PLAIN");
    verify_result_free(&got);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(store_verify_attempt(st, "t", 2000 + i, 5, 900, &next, &err), 1);
    ck_assert_int_eq(store_verify_attempt(st, "t", 2010, 5, 900, &next, &err), 0);
    ck_assert_int_eq(next, 2900);
    ck_assert_int_eq(store_verify_attempt(st, "t", 2900, 5, 900, &next, &err), 1);
    /* a changed target loses its verification result */
    make_target(&t, "t");
    free(t.host);
    t.host = xstrdup("smtp.other.example");
    ck_assert(store_target_put(st, &t, true, &err) == 0);
    target_free(&t);
    ck_assert_int_eq(store_verify_get(st, "t", &got, &err), 0);
}
END_TEST

static void *lookup_thread(void *arg)
{
    long bad = 0;

    for (int i = 0; i < 2000; i++) {
        char *t = NULL, *err = NULL;

        if (store_route_lookup(st, "user@example.com", 16, &t, NULL, &err) != 1 ||
            strcmp(t, "t") != 0)
            bad++;
        free(t);
        free(err);
    }
    return (void *)bad;
}

START_TEST(many_threads_read_at_once)
{
    pthread_t th[64];

    add_target("t");
    add_route("@example.com", "t");
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_thread, NULL), 0);
    for (int i = 0; i < 64; i++) {
        void *bad;

        pthread_join(th[i], &bad);
        ck_assert_int_eq((long)bad, 0);
    }
}
END_TEST

START_TEST(missing_store_is_explained)
{
    struct store *none;
    char *err = NULL, *path = xasprintf("%s/nothing", dir);

    ck_assert_int_eq(store_open(path, 1 << 20, STORE_READ, &none, &err), -1);
    ck_assert_msg(strstr(err, "is not initialised: create it with 'byosmtpctl load FILE'"), "%s",
                  err);
    free(err);
    free(path);
}
END_TEST

START_TEST(root_keeps_the_owner_of_the_store)
{
    struct store *other;
    struct stat sb;
    char *err = NULL, *sdir = test_tmpdir(), *data = xasprintf("%s/data.mdb", sdir);

    if (geteuid() != 0) {
        /* only root can give files away; as another user the rule does not apply */
        free(data);
        test_rmdir(sdir);
        return;
    }
    ck_assert_int_eq(chown(sdir, 65534, 65534), 0);
    ck_assert_msg(store_open(sdir, 1 << 20, STORE_CREATE, &other, &err) == 0, "%s", err);
    store_close(other);
    ck_assert_int_eq(stat(data, &sb), 0);
    ck_assert_int_eq(sb.st_uid, 65534);
    ck_assert_int_eq(sb.st_gid, 65534);
    /* and store_give hands a root-made store to a user */
    ck_assert_int_eq(store_give(sdir, 0, 0, &err), 0);
    ck_assert_int_eq(stat(data, &sb), 0);
    ck_assert_int_eq(sb.st_uid, 0);
    free(data);
    test_rmdir(sdir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lookup_order_each_rule);
    tcase_add_test(tc, lookup_case_rules);
    tcase_add_test(tc, unstorable_keys_are_misses);
    tcase_add_test(tc, route_needs_existing_target);
    tcase_add_test(tc, sender_routes_are_their_own_table);
    tcase_add_test(tc, store_without_sender_routes);
    tcase_add_test(tc, target_in_use_cannot_be_removed);
    tcase_add_test(tc, map_full_is_clear_and_harmless);
    tcase_add_test(tc, replace_all_is_atomic);
    tcase_add_test(tc, quota_records_add_up);
    tcase_add_test(tc, queue_commit_checks_quota);
    tcase_add_test(tc, queue_commit_quota_is_exact_under_concurrency);
    tcase_add_test(tc, queue_commit_capped);
    tcase_add_test(tc, verify_result_and_rate_limit);
    tcase_add_test(tc, many_threads_read_at_once);
    tcase_add_test(tc, missing_store_is_explained);
    tcase_add_test(tc, root_keeps_the_owner_of_the_store);
    suite_add_tcase(s, tc);
    return test_run(s);
}
