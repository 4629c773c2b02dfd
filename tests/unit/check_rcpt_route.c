/*
 * check_rcpt_route - the RCPT decision (rcpt_route.c) against a real LMDB store: a route hit, a
 * miss, an address with a line break, a target at its monthly quota (counting the message's own
 * recipients), and the store errors; and the grouping of a message's recipients by target
 * (one copy and one count for a recipient given twice; a group dropped when its copy is
 * refused at the commit); routes by sender, routing.order, a target's allowed_senders and the
 * null sender.
 */
#include "config.h"

#include <lmdb.h>

#include "milter/rcpt_route.h"
#include "store/store.h"
#include "testutil.h"

#define MONTH "2024-06"

/* A message from an ordinary sender, recipient routes first (the default of routing.order). */
static const struct rcpt_query QUERY = {.sender = "<s@client.example>",
                                        .order = ROUTING_RECIPIENT_FIRST, .month = MONTH};
static const struct rcpt_query JULY = {.sender = "<s@client.example>",
                                       .order = ROUTING_RECIPIENT_FIRST, .month = "2024-07"};

static char *dir;
static struct store *st;

/* add_target - a valid target NAME with MONTHLY_QUOTA, and the route @DOMAIN to it */
static void add_target(const char *name, uint64_t monthly_quota, const char *domain)
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
    t.from_address = xasprintf("noreply@%s", domain);
    t.monthly_quota = monthly_quota;
    ck_assert_msg(store_target_put(st, &t, false, &err) == 0, "%s", err);
    target_free(&t);
    snprintf(match, sizeof(match), "@%s", domain);
    ck_assert_msg(store_route_put(st, match, name, &err) == 0, "%s", err);
}

static void setup(void)
{
    char *err = NULL;

    dir = test_tmpdir();
    ck_assert_msg(store_open(dir, 16 << 20, STORE_CREATE, &st, &err) == 0, "%s", err);
    add_target("acme", 0, "acme.example");
    add_target("small", 2, "small.example");
}

static void teardown(void)
{
    store_close(st);
    test_rmdir(dir);
}

/*
 * poke - put KEY=VALUE (VALUE NULL: delete KEY) in database DB of the store behind the API's
 * back, with the store closed meanwhile (one LMDB environment per process at a time)
 */
static void poke(const char *db, const char *key, const char *value)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v = {value ? strlen(value) : 0, (void *)value};
    char *err = NULL;

    store_close(st);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 16 << 20), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    if (value != NULL)
        ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    else
        ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ck_assert_msg(store_open(dir, 16 << 20, STORE_WRITE, &st, &err) == 0, "%s", err);
}

/* starts - does S start with PREFIX? */
static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* decide - rcpt_route for RCPT with nothing routed yet */
static enum rcpt_verdict decide(const char *rcpt, struct rcpt_decision *d)
{
    struct rcpt_routing none = {0};

    return rcpt_route(st, &QUERY, rcpt, &none, d);
}

START_TEST(test_hit)
{
    struct rcpt_decision d;

    ck_assert_int_eq(decide("<Bob@acme.example>", &d), ROUTE_ROUTED);
    ck_assert_str_eq(d.t.name, "acme");
    ck_assert_str_eq(d.t.from_address, "noreply@acme.example");
    ck_assert_str_eq(d.bare, "Bob@acme.example");
    ck_assert_ptr_null(d.why);
    rcpt_decision_free(&d);
    /* a target with a quota and room in it */
    ck_assert_int_eq(decide("<carol@small.example>", &d), ROUTE_ROUTED);
    ck_assert_str_eq(d.t.name, "small");
    ck_assert_str_eq(d.bare, "carol@small.example");
    rcpt_decision_free(&d);
}
END_TEST

START_TEST(test_miss)
{
    struct rcpt_decision d;

    ck_assert_int_eq(decide("<bob@other.example>", &d), ROUTE_NOT_OURS);
    ck_assert_ptr_null(d.t.name);
    ck_assert_ptr_null(d.bare);
    ck_assert_ptr_null(d.why);
    rcpt_decision_free(&d);
    /* a line break never reaches the store, even where a route would match */
    ck_assert_int_eq(decide("<bob@acme.example\r\n>", &d), ROUTE_NOT_OURS);
    ck_assert_ptr_null(d.t.name);
    rcpt_decision_free(&d);
    ck_assert_int_eq(decide("<>", &d), ROUTE_NOT_OURS);
    rcpt_decision_free(&d);
}
END_TEST

START_TEST(test_over_quota)
{
    struct quota_record one = {.accepted = 1};
    struct rcpt_routing r = {0};
    struct rcpt_decision d;
    char *err = NULL;

    /* quota 2, one accepted this month: this message may route one more */
    ck_assert_int_eq(store_quota_add(st, "small", MONTH, &one, &err), 0);
    ck_assert_int_eq(rcpt_route(st, &QUERY, "<a@small.example>", &r, &d), ROUTE_ROUTED);
    ck_assert_ptr_nonnull(rcpt_routing_add(&r, "<a@small.example>", &d));
    rcpt_decision_free(&d);
    /* the message's own recipient counts: 1 accepted + 1 pending + this one > 2 */
    ck_assert_int_eq(rcpt_route(st, &QUERY, "<b@small.example>", &r, &d), ROUTE_OVER_QUOTA);
    ck_assert_str_eq(d.t.name, "small");
    ck_assert_str_eq(d.bare, "b@small.example");
    ck_assert_uint_eq(d.q.accepted, 1);
    ck_assert_uint_eq(d.t.monthly_quota, 2);
    rcpt_decision_free(&d);
    /* the same recipient again is counted as pending too (one more than the quota allows) */
    ck_assert_int_eq(rcpt_route(st, &QUERY, "<a@small.example>", &r, &d), ROUTE_OVER_QUOTA);
    rcpt_decision_free(&d);
    /* another month has its own record; a target without a quota is never over */
    ck_assert_int_eq(rcpt_route(st, &JULY, "<b@small.example>", &r, &d), ROUTE_ROUTED);
    rcpt_decision_free(&d);
    ck_assert_int_eq(rcpt_route(st, &QUERY, "<b@acme.example>", &r, &d), ROUTE_ROUTED);
    rcpt_decision_free(&d);
    rcpt_routing_free(&r);
}
END_TEST

START_TEST(test_error)
{
    struct rcpt_decision d;

    /* a target record that does not parse */
    poke("targets", "acme", "garbage");
    ck_assert_int_eq(decide("<bob@acme.example>", &d), ROUTE_ERROR);
    ck_assert_msg(starts(d.why, "target acme of <bob@acme.example>: "), "%s", d.why);
    ck_assert_ptr_null(d.t.name);
    rcpt_decision_free(&d);
    /* a route whose target is gone */
    poke("targets", "acme", NULL);
    ck_assert_int_eq(decide("<bob@acme.example>", &d), ROUTE_ERROR);
    ck_assert_str_eq(d.why, "route '@acme.example' names target acme, which does not exist");
    rcpt_decision_free(&d);
    /* a quota record that does not read */
    poke("quota", "small/" MONTH, "x");
    ck_assert_int_eq(decide("<bob@small.example>", &d), ROUTE_ERROR);
    ck_assert_msg(starts(d.why, "quota of target small: "), "%s", d.why);
    ck_assert_ptr_nonnull(strstr(d.why, "is corrupt"));
    rcpt_decision_free(&d);
}
END_TEST

/* set_allowed - give target NAME the allowed_senders MATCHES (newline-separated) */
static void set_allowed(const char *name, const char *matches)
{
    struct target t;
    char *err = NULL;

    ck_assert_int_eq(store_target_get(st, name, &t, &err), 1);
    free(t.allowed_senders);
    t.allowed_senders = xstrdup(matches);
    ck_assert_msg(store_target_put(st, &t, true, &err) == 0, "%s", err);
    target_free(&t);
}

/* route_from - rcpt_route for RCPT from SENDER with ORDER, nothing routed yet */
static enum rcpt_verdict route_from(const char *sender, enum conf_routing_order order,
                                    const char *rcpt, struct rcpt_decision *d)
{
    struct rcpt_routing none = {0};
    struct rcpt_query q = {.sender = sender, .order = order, .month = MONTH};

    return rcpt_route(st, &q, rcpt, &none, d);
}

/* expect - RCPT from SENDER under ORDER is VERDICT, by table BY's RULE to TARGET (NULL: none) */
static void expect(const char *sender, enum conf_routing_order order, const char *rcpt,
                   enum rcpt_verdict verdict, const char *target, enum route_by by,
                   const char *rule)
{
    struct rcpt_decision d;

    ck_assert_msg(route_from(sender, order, rcpt, &d) == verdict, "%s from %s", rcpt, sender);
    if (target == NULL) {
        ck_assert_ptr_null(d.t.name);
    } else {
        ck_assert_str_eq(d.t.name, target);
        ck_assert_msg(d.by == by, "%s from %s: table", rcpt, sender);
        ck_assert_str_eq(d.rule, rule);
    }
    rcpt_decision_free(&d);
}

START_TEST(test_sender_routes)
{
    const enum conf_routing_order rf = ROUTING_RECIPIENT_FIRST, sf = ROUTING_SENDER_FIRST;
    const enum route_by R = ROUTE_BY_RECIPIENT, S = ROUTE_BY_SENDER;
    char *err = NULL;

    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "@Cust.Example", "small", &err) == 0,
                  "%s", err);
    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "boss@ceo.example", "acme", &err) == 0,
                  "%s", err);
    /* a recipient without a recipient route goes by its sender's route */
    expect("<a@cust.example>", rf, "<x@nowhere.example>", ROUTE_ROUTED, "small", S, "@cust.example");
    expect("a@sub.cust.example", rf, "<x@nowhere.example>", ROUTE_NOT_OURS, NULL, R, NULL);
    expect("<boss@ceo.example>", rf, "<x@nowhere.example>", ROUTE_ROUTED, "acme", S,
           "boss@ceo.example");
    /* recipient-first: a recipient route wins; sender-first: the sender route wins */
    expect("<a@cust.example>", rf, "<x@acme.example>", ROUTE_ROUTED, "acme", R, "@acme.example");
    expect("<a@cust.example>", sf, "<x@acme.example>", ROUTE_ROUTED, "small", S, "@cust.example");
    /* sender-first falls back to the recipient routes */
    expect("<z@other.example>", sf, "<x@acme.example>", ROUTE_ROUTED, "acme", R, "@acme.example");
    /* the null sender has no sender route, not even "*": bounces are not taken by one */
    ck_assert_msg(store_route_put_by(st, ROUTE_BY_SENDER, "*", "acme", &err) == 0, "%s", err);
    expect("<>", sf, "<x@nowhere.example>", ROUTE_NOT_OURS, NULL, R, NULL);
    expect(NULL, sf, "<x@nowhere.example>", ROUTE_NOT_OURS, NULL, R, NULL);
    expect("<>", sf, "<x@small.example>", ROUTE_ROUTED, "small", R, "@small.example");
    expect("<any@where.example>", rf, "<x@nowhere.example>", ROUTE_ROUTED, "acme", S, "*");
    ck_assert_int_eq(store_route_del_by(st, ROUTE_BY_SENDER, "*", &err), 1);
}
END_TEST

START_TEST(test_allowed_senders)
{
    const enum conf_routing_order rf = ROUTING_RECIPIENT_FIRST;
    const enum route_by R = ROUTE_BY_RECIPIENT;

    set_allowed("acme", "@acme.example\nboss@partner.example");
    expect("<a@acme.example>", rf, "<x@acme.example>", ROUTE_ROUTED, "acme", R, "@acme.example");
    expect("<boss@partner.example>", rf, "<x@acme.example>", ROUTE_ROUTED, "acme", R,
           "@acme.example");
    /* another sender: the target is named, but the MTA keeps the recipient */
    expect("<other@partner.example>", rf, "<x@acme.example>", ROUTE_SENDER_REFUSED, "acme", R,
           "@acme.example");
    expect("<a@evil.example>", rf, "<x@acme.example>", ROUTE_SENDER_REFUSED, "acme", R,
           "@acme.example");
    /* the null sender only when "<>" is listed */
    expect("<>", rf, "<x@acme.example>", ROUTE_SENDER_REFUSED, "acme", R, "@acme.example");
    set_allowed("acme", "@acme.example\n<>");
    expect("<>", rf, "<x@acme.example>", ROUTE_ROUTED, "acme", R, "@acme.example");
    /* "*" allows every sender but the null one */
    set_allowed("acme", "*");
    expect("<a@evil.example>", rf, "<x@acme.example>", ROUTE_ROUTED, "acme", R, "@acme.example");
    expect("<>", rf, "<x@acme.example>", ROUTE_SENDER_REFUSED, "acme", R, "@acme.example");
    /* a target without allowed_senders takes any sender, the null one too */
    expect("<>", rf, "<x@small.example>", ROUTE_ROUTED, "small", R, "@small.example");
}
END_TEST

START_TEST(test_routing)
{
    struct rcpt_routing r = {0};
    struct rcpt_decision d;
    const struct rcpt_group *g;
    static const char *const rcpts[] = {"<a@acme.example>", "<b@small.example>",
                                        "<c@acme.example>", "a@acme.example"};

    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(rcpt_route(st, &QUERY, rcpts[i], &r, &d), ROUTE_ROUTED);
        g = rcpt_routing_add(&r, rcpts[i], &d);
        /* the fourth is the first without <>: the same recipient, not added again */
        if (i < 3)
            ck_assert_ptr_nonnull(g);
        else
            ck_assert_ptr_null(g);
        ck_assert_ptr_null(d.t.name); /* moved into R (or freed) */
        ck_assert_ptr_null(d.bare);
        rcpt_decision_free(&d);
    }
    ck_assert_uint_eq(r.ngroups, 2);
    ck_assert_str_eq(r.groups[0].t.name, "acme");
    ck_assert_uint_eq(r.groups[0].n, 2);
    ck_assert_str_eq(r.groups[0].exact[1], "<c@acme.example>");
    ck_assert_str_eq(r.groups[0].bare[1], "c@acme.example");
    ck_assert_str_eq(r.groups[1].t.name, "small");
    ck_assert_uint_eq(rcpt_routing_count(&r), 3);
    /* a group the commit refused leaves the routing; the next one moves up */
    rcpt_routing_drop(&r, 0);
    ck_assert_uint_eq(r.ngroups, 1);
    ck_assert_str_eq(r.groups[0].t.name, "small");
    ck_assert_str_eq(r.groups[0].exact[0], "<b@small.example>");
    ck_assert_uint_eq(rcpt_routing_count(&r), 1);
    rcpt_routing_free(&r);
    ck_assert_uint_eq(r.ngroups, 0);
    ck_assert_uint_eq(rcpt_routing_count(&r), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rcpt_route");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hit);
    tcase_add_test(tc, test_miss);
    tcase_add_test(tc, test_over_quota);
    tcase_add_test(tc, test_error);
    tcase_add_test(tc, test_routing);
    tcase_add_test(tc, test_sender_routes);
    tcase_add_test(tc, test_allowed_senders);
    suite_add_tcase(s, tc);
    return test_run(s);
}
