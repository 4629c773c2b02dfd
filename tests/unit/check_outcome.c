/* check_outcome - an attempt's decision: sent, bounced, expired, deferred, and the next attempt */
#include "config.h"

#include "delivery/outcome.h"
#include "testutil.h"

/* One recipient's result as the client returns it. */
struct res1 {
    enum smtp_rcpt_status status;
    enum smtp_class cls;
    enum smtp_action action;
};

#define DLV {SMTP_RCPT_DELIVERED, SMTP_OK, SMTP_DONE}
#define R4 {SMTP_RCPT_FAILED, SMTP_TEMPORARY, SMTP_RETRY}
#define R5 {SMTP_RCPT_FAILED, SMTP_RECIPIENT_REJECTED, SMTP_BOUNCE}
#define THR {SMTP_RCPT_FAILED, SMTP_RATE_LIMITED, SMTP_THROTTLE}

#define ARRIVAL 1000
#define LIFE 432000 /* the default: the lifetime ends at 433000 */

static const struct {
    const char *states;   /* the copy's recipients: P pending, S sent, B bounced */
    struct res1 res[4];   /* one per pending recipient, in order */
    uint32_t attempts;
    int64_t now;
    long lifetime;
    const char *fates;    /* per pending recipient: S sent, B bounced, E expired, D deferred */
    bool throttled, count;
    int64_t next;         /* 0 when nothing is left */
} rows[] = {
    {"P", {DLV}, 0, 2000, LIFE, "S", false, false, 0},
    /* only DELIVERED with class OK is sent: anything else that reads OK defers */
    {"P", {{SMTP_RCPT_FAILED, SMTP_OK, SMTP_DONE}}, 0, 2000, LIFE, "D", false, true, 2300},
    {"P", {{SMTP_RCPT_ACCEPTED, SMTP_OK, SMTP_DONE}}, 0, 2000, LIFE, "D", false, true, 2300},
    {"P", {{SMTP_RCPT_UNTRIED, SMTP_OK, SMTP_DONE}}, 0, 2000, LIFE, "D", false, true, 2300},
    {"P", {{SMTP_RCPT_DELIVERED, SMTP_TEMPORARY, SMTP_RETRY}}, 0, 2000, LIFE, "D", false, true,
     2300},
    /* one of each; the retry schedule counts the failed attempts */
    {"PPP", {DLV, R5, R4}, 0, 2000, LIFE, "SBD", false, true, 2300},
    {"PPP", {DLV, R4, R4}, 3, 2000, LIFE, "SDD", false, true, 4400},
    {"PP", {R5, R5}, 0, 2000, LIFE, "BB", false, false, 0},
    /* the recipients already done are not pending */
    {"SPBP", {R4, DLV}, 0, 2000, LIFE, "DS", false, true, 2300},
    /* throttled: deferred, not counted, the scheduler holds the copy for the target's pause */
    {"PP", {THR, DLV}, 0, 2000, LIFE, "DS", true, false, 2001},
    {"PP", {THR, R4}, 2, 2000, LIFE, "DD", true, true, 3200},
    /* near the end of the lifetime, the last attempt is at its end */
    {"PP", {R4, R4}, 9, 432000, LIFE, "DD", false, true, 433000},
    {"P", {THR}, 0, 432999, LIFE, "D", true, false, 433000},
    /* the lifetime is over: whatever defers expires; a refusal stays a refusal */
    {"PPPP", {DLV, R5, R4, THR}, 4, 433000, LIFE, "SBEE", true, false, 0},
    {"P", {THR}, 0, 500000, LIFE, "E", true, false, 0},
    /* max_lifetime 0: a single attempt */
    {"P", {R4}, 0, ARRIVAL, 0, "E", false, false, 0},
};

/* result_of - the smtp_result of row I: one result per pending recipient (caller frees rcpt) */
static struct smtp_result result_of(size_t i, size_t n)
{
    struct smtp_result res;

    smtp_result_init(&res);
    res.rcpt = calloc(n + 1, sizeof(*res.rcpt));
    res.nrcpt = n;
    for (size_t k = 0; k < n; k++) {
        res.rcpt[k].status = rows[i].res[k].status;
        res.rcpt[k].cls = rows[i].res[k].cls;
        res.rcpt[k].action = rows[i].res[k].action;
    }
    return res;
}

/* states_of - the recipients' states of a row */
static size_t states_of(const char *s, enum spool_rcpt_state *st)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        st[i] = s[i] == 'S' ? RCPT_SENT : s[i] == 'B' ? RCPT_BOUNCED : RCPT_PENDING;
    return n;
}

/* fate_char - the letter of a fate in the table */
static char fate_char(enum outcome_fate f)
{
    return f == OUTCOME_SENT ? 'S' : f == OUTCOME_BOUNCED ? 'B' : f == OUTCOME_EXPIRED ? 'E' : 'D';
}

/* params - the default retry settings with LIFETIME, at NOW after ATTEMPTS */
static struct outcome_params params(uint32_t attempts, int64_t now, long lifetime)
{
    return (struct outcome_params){.arrival = ARRIVAL, .attempts = attempts, .now = now,
                                   .retry = {300, 4000, lifetime, 0}};
}

START_TEST(decision_table)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum spool_rcpt_state st[8];
        size_t n = states_of(rows[i].states, st), sent = 0, lost = 0, deferred = 0;
        struct outcome o;
        struct smtp_result res;
        struct outcome_params p = params(rows[i].attempts, rows[i].now, rows[i].lifetime);
        char fates[8] = "";

        n = outcome_init(&o, st, n);
        ck_assert_uint_eq(n, strlen(rows[i].fates));
        res = result_of(i, n);
        outcome_results(&o, &res);
        outcome_decide(&o, &p);
        for (size_t k = 0; k < n; k++) {
            fates[k] = fate_char(o.rcpt[k].fate);
            sent += fates[k] == 'S';
            lost += fates[k] == 'B' || fates[k] == 'E';
            deferred += fates[k] == 'D';
            ck_assert_int_eq(o.rcpt[k].cls == SMTP_OK, fates[k] == 'S');
            ck_assert_int_eq(st[o.rcpt[k].idx], RCPT_PENDING);
        }
        ck_assert_msg(strcmp(fates, rows[i].fates) == 0, "row %zu: %s, wanted %s", i, fates,
                      rows[i].fates);
        ck_assert_msg(o.nsent == sent && o.nlost == lost && o.ndeferred == deferred,
                      "row %zu: counts %zu %zu %zu", i, o.nsent, o.nlost, o.ndeferred);
        ck_assert_msg(o.throttled == rows[i].throttled, "row %zu: throttled", i);
        ck_assert_msg(o.count_attempt == rows[i].count, "row %zu: count_attempt", i);
        ck_assert_msg(o.next_attempt == rows[i].next, "row %zu: next %lld, wanted %lld", i,
                      (long long)o.next_attempt, (long long)rows[i].next);
        free(res.rcpt);
        outcome_free(&o);
    }
}
END_TEST

START_TEST(own_reply_then_the_session)
{
    enum spool_rcpt_state st[3] = {RCPT_PENDING, RCPT_PENDING, RCPT_PENDING};
    struct smtp_rcpt_result rr[3] = {
        {.status = SMTP_RCPT_FAILED, .cls = SMTP_RECIPIENT_REJECTED, .action = SMTP_BOUNCE,
         .code = 550, .enhanced = "5.1.1", .reply = (char *)"550 5.1.1 User unknown"},
        {.status = SMTP_RCPT_FAILED, .cls = SMTP_TEMPORARY, .action = SMTP_RETRY},
        {.status = SMTP_RCPT_DELIVERED, .cls = SMTP_OK, .action = SMTP_DONE, .code = 250,
         .enhanced = "2.0.0", .reply = (char *)"250 2.0.0 Ok"},
    };
    struct smtp_result res = {.cls = SMTP_OK, .action = SMTP_DONE, .nrcpt = 3, .rcpt = rr,
                              .text = (char *)"what happened"};
    struct outcome o;

    outcome_init(&o, st, 3);
    outcome_results(&o, &res);
    ck_assert_str_eq(o.rcpt[0].reply, "550 5.1.1 User unknown");
    ck_assert_str_eq(o.rcpt[0].enhanced, "5.1.1");
    ck_assert_int_eq(o.rcpt[0].code, 550);
    ck_assert_str_eq(o.rcpt[1].reply, "what happened"); /* no reply of its own, none for all */
    res.reply = (char *)"451 4.3.0 try later";
    outcome_results(&o, &res);
    ck_assert_str_eq(o.rcpt[1].reply, "451 4.3.0 try later");
    ck_assert_int_eq(o.rcpt[2].cls, SMTP_OK);
    ck_assert_int_eq(o.rcpt[2].action, SMTP_DONE);
    outcome_free(&o);
}
END_TEST

START_TEST(session_result_for_all)
{
    enum spool_rcpt_state st[2] = {RCPT_PENDING, RCPT_PENDING};
    struct smtp_result res = {.cls = SMTP_AUTH_FAILED, .action = SMTP_RETRY, .code = 535,
                              .enhanced = "5.7.8", .text = (char *)"authentication failed"};
    struct outcome o;

    outcome_init(&o, st, 2);
    outcome_results(&o, &res); /* no session: no result per recipient */
    for (size_t k = 0; k < 2; k++) {
        ck_assert_int_eq(o.rcpt[k].cls, SMTP_AUTH_FAILED);
        ck_assert_int_eq(o.rcpt[k].action, SMTP_RETRY);
        ck_assert_int_eq(o.rcpt[k].code, 535);
        ck_assert_str_eq(o.rcpt[k].enhanced, "5.7.8");
        ck_assert_str_eq(o.rcpt[k].reply, "authentication failed");
    }
    /* a session-wide OK without a result per recipient says nothing was delivered: defer */
    res = (struct smtp_result){.cls = SMTP_OK, .action = SMTP_DONE, .nrcpt = 1,
                               .reply = (char *)"250 Ok"};
    outcome_results(&o, &res);
    for (size_t k = 0; k < 2; k++) {
        ck_assert_int_eq(o.rcpt[k].cls, SMTP_TEMPORARY);
        ck_assert_int_eq(o.rcpt[k].action, SMTP_RETRY);
        ck_assert_str_eq(o.rcpt[k].reply, "250 Ok");
    }
    outcome_free(&o);
}
END_TEST

START_TEST(local_events)
{
    enum spool_rcpt_state st[1] = {RCPT_PENDING};
    struct outcome_params p = params(0, 2000, LIFE);
    struct outcome o;

    outcome_init(&o, st, 1);
    outcome_event(&o, SMTP_EV_NO_TARGET, "target t does not exist");
    outcome_decide(&o, &p);
    ck_assert_int_eq(o.rcpt[0].cls, SMTP_TEMPORARY);
    ck_assert_int_eq(o.rcpt[0].action, SMTP_RETRY);
    ck_assert_int_eq(o.rcpt[0].code, 0);
    ck_assert_str_eq(o.rcpt[0].enhanced, "");
    ck_assert_str_eq(o.rcpt[0].reply, "target t does not exist");
    ck_assert_int_eq(o.rcpt[0].fate, OUTCOME_DEFERRED);
    ck_assert(o.count_attempt);
    ck_assert_int_eq(o.next_attempt, 2300);
    outcome_event(&o, SMTP_EV_SECRET, "target t: cannot decrypt");
    outcome_decide(&o, &p);
    ck_assert_int_eq(o.rcpt[0].cls, SMTP_AUTH_FAILED);
    ck_assert_int_eq(o.rcpt[0].action, SMTP_RETRY);
    ck_assert_int_eq(o.rcpt[0].fate, OUTCOME_DEFERRED);
    outcome_free(&o);
}
END_TEST

/* decided - an outcome of RES1[0..N) (all pending) under P */
static void decided(struct outcome *o, const struct res1 *r, size_t n,
                    const struct outcome_params *p)
{
    enum spool_rcpt_state st[4] = {RCPT_PENDING, RCPT_PENDING, RCPT_PENDING, RCPT_PENDING};
    struct smtp_rcpt_result rr[4];
    struct smtp_result res = {.nrcpt = n, .rcpt = rr};

    for (size_t k = 0; k < n; k++)
        rr[k] = (struct smtp_rcpt_result){.status = r[k].status, .cls = r[k].cls,
                                          .action = r[k].action};
    outcome_init(o, st, n);
    outcome_results(o, &res);
    outcome_decide(o, p);
}

START_TEST(next_attempt_never_early)
{
    static const struct res1 r4[1] = {R4}, thr[1] = {THR};
    struct outcome_params p = params(0, 2000, LIFE);
    struct outcome o;

    /* an attempt at 2000.4: the retry is min_backoff after it, in whole seconds rounded up */
    p.now = 2000.4;
    decided(&o, r4, 1, &p);
    ck_assert(o.count_attempt);
    ck_assert_int_eq(o.next_attempt, 2301);
    ck_assert((double)o.next_attempt >= p.now + 300);
    outcome_free(&o);
    /* throttled only: the next second after the attempt, not the one it began in */
    decided(&o, thr, 1, &p);
    ck_assert(!o.count_attempt);
    ck_assert_int_eq(o.next_attempt, 2002);
    ck_assert((double)o.next_attempt >= p.now + 1);
    outcome_free(&o);
    /* a whole second stays as it is */
    p.now = 2000;
    decided(&o, r4, 1, &p);
    ck_assert_int_eq(o.next_attempt, 2300);
    outcome_free(&o);
}
END_TEST

/* lost_after_dot - the client's result of a session that sent the message and its final dot,
 * then got no reply (event EV); the recipients R, with reply codes CODES (0: no reply) */
static struct smtp_result lost_after_dot(enum smtp_event ev, const struct res1 *r,
                                         const int *codes, size_t n)
{
    struct smtp_verdict v = smtp_trouble_event(ev);
    struct smtp_result res;

    smtp_result_init(&res);
    res.cls = v.cls;
    res.action = v.action;
    res.stage = SMTP_STAGE_DOT;
    res.text = (char *)"dot: timed out waiting for the server";
    res.bytes = 1234; /* the terminator went out */
    res.nrcpt = n;
    res.rcpt = calloc(n + 1, sizeof(*res.rcpt));
    for (size_t k = 0; k < n; k++)
        res.rcpt[k] = (struct smtp_rcpt_result){.status = r[k].status, .cls = r[k].cls,
                                                .action = r[k].action, .code = codes[k]};
    return res;
}

START_TEST(maybe_sent_after_the_dot)
{
    static const struct res1 r[3] = {{SMTP_RCPT_FAILED, SMTP_TIMEOUT, SMTP_RETRY},
                                     {SMTP_RCPT_FAILED, SMTP_RECIPIENT_REJECTED, SMTP_BOUNCE},
                                     {SMTP_RCPT_FAILED, SMTP_TIMEOUT, SMTP_RETRY}};
    static const int codes[3] = {0, 550, 0};
    enum spool_rcpt_state st[4] = {RCPT_SENT, RCPT_PENDING, RCPT_PENDING, RCPT_PENDING};
    struct outcome_params p = params(0, 2000, LIFE);
    struct smtp_result res = lost_after_dot(SMTP_EV_TIMEOUT, r, codes, 3);
    struct outcome o;

    /* a timeout waiting for the final dot's reply: the recipients the provider had accepted
     * may have it; one it refused at RCPT may not */
    outcome_init(&o, st, 4);
    outcome_results(&o, &res);
    outcome_decide(&o, &p);
    ck_assert(o.rcpt[0].maybe_sent && !o.rcpt[1].maybe_sent && o.rcpt[2].maybe_sent);
    ck_assert(outcome_in_doubt(&o.rcpt[0]) && outcome_in_doubt(&o.rcpt[2]));
    ck_assert(!outcome_in_doubt(&o.rcpt[1])); /* bounced: nothing left to doubt */
    ck_assert_uint_eq(o.nduplicate, 0);
    outcome_free(&o);
    free(res.rcpt);

    /* a lost connection likewise; a message the provider never had the end of is no doubt */
    res = lost_after_dot(SMTP_EV_LOST, r, codes, 3);
    outcome_init(&o, st, 4);
    outcome_results(&o, &res);
    ck_assert(o.rcpt[0].maybe_sent && o.rcpt[2].maybe_sent);
    res.bytes = 0; /* the write of the body failed: the provider discards it */
    outcome_results(&o, &res);
    ck_assert(!o.rcpt[0].maybe_sent && !o.rcpt[2].maybe_sent);
    res.bytes = 1234;
    res.stage = SMTP_STAGE_DATA; /* before the message was sent */
    outcome_results(&o, &res);
    ck_assert(!o.rcpt[0].maybe_sent);
    outcome_free(&o);
    free(res.rcpt);

    /* a reply after the dot, even a 4xx, says the provider did not take it */
    res = lost_after_dot(SMTP_EV_TIMEOUT, r, codes, 3);
    res.rcpt[0] = (struct smtp_rcpt_result){.status = SMTP_RCPT_FAILED, .cls = SMTP_TEMPORARY,
                                            .action = SMTP_RETRY, .code = 451};
    outcome_init(&o, st, 4);
    outcome_results(&o, &res);
    ck_assert(!o.rcpt[0].maybe_sent);
    outcome_free(&o);
    free(res.rcpt);
}
END_TEST

START_TEST(duplicate_when_delivered_later)
{
    static const struct res1 r[3] = {DLV, DLV, R4};
    enum spool_rcpt_state st[3] = {RCPT_PENDING, RCPT_PENDING, RCPT_PENDING};
    struct outcome_params p = params(1, 2300, LIFE);
    struct smtp_rcpt_result rr[3];
    struct smtp_result res = {.nrcpt = 3, .rcpt = rr};
    struct outcome o;

    for (size_t k = 0; k < 3; k++)
        rr[k] = (struct smtp_rcpt_result){.status = r[k].status, .cls = r[k].cls,
                                          .action = r[k].action};
    /* recipients 0 and 2 (indexes in the copy) were in doubt after the last attempt */
    outcome_init(&o, st, 3);
    ck_assert(outcome_doubt(&o, 0));
    ck_assert(outcome_doubt(&o, 2));
    ck_assert(!outcome_doubt(&o, 7)); /* no such pending recipient */
    outcome_results(&o, &res);
    outcome_decide(&o, &p);
    ck_assert(outcome_duplicate(&o.rcpt[0])); /* delivered now: possibly twice */
    ck_assert(!outcome_duplicate(&o.rcpt[1]));
    ck_assert(!outcome_duplicate(&o.rcpt[2])); /* deferred again: still in doubt */
    ck_assert(outcome_in_doubt(&o.rcpt[2]));
    ck_assert(!outcome_in_doubt(&o.rcpt[0]) && !outcome_in_doubt(&o.rcpt[1]));
    ck_assert_uint_eq(o.nduplicate, 1);
    outcome_free(&o);
}
END_TEST

START_TEST(dsn_failed_keeps_them)
{
    static const struct res1 r[3] = {DLV, R5, R4};
    struct outcome_params p = params(1, 2000, LIFE);
    struct outcome o;

    /* a refusal whose DSN failed waits like a deferral: counted, on the schedule */
    decided(&o, r, 3, &p);
    ck_assert_uint_eq(o.nlost, 1);
    outcome_dsn_failed(&o);
    ck_assert_int_eq(o.rcpt[1].fate, OUTCOME_DEFERRED);
    ck_assert_int_eq(o.rcpt[1].action, SMTP_RETRY);
    ck_assert_int_eq(o.rcpt[1].cls, SMTP_RECIPIENT_REJECTED); /* why, kept for the log */
    ck_assert(o.nsent == 1 && o.nlost == 0 && o.ndeferred == 2);
    ck_assert(o.count_attempt);
    ck_assert_int_eq(o.next_attempt, 2600);
    outcome_free(&o);
}
END_TEST

START_TEST(dsn_failed_after_the_lifetime)
{
    static const struct res1 r[2] = {THR, R4};
    struct outcome_params p = params(7, 433000, LIFE);
    struct outcome o;

    decided(&o, r, 2, &p);
    ck_assert(o.nlost == 2 && o.ndeferred == 0 && o.next_attempt == 0);
    outcome_dsn_failed(&o);
    /* expired, but the DSN failed: again after min_backoff, counted; the target still throttled */
    ck_assert(o.nlost == 0 && o.ndeferred == 2);
    ck_assert(o.count_attempt);
    ck_assert(o.throttled);
    ck_assert_int_eq(o.next_attempt, 433300);
    outcome_free(&o);
}
END_TEST

/* fallback_case - one pending recipient per entry of CLS/ACTION/CODE, decided under P */
static void fallback_case(struct outcome *o, const struct res1 *r, const int *code, size_t n,
                          const struct outcome_params *p)
{
    enum spool_rcpt_state st[4] = {RCPT_PENDING, RCPT_PENDING, RCPT_PENDING, RCPT_PENDING};
    struct smtp_rcpt_result rr[4];
    struct smtp_result res = {.nrcpt = n, .rcpt = rr};

    for (size_t k = 0; k < n; k++)
        rr[k] = (struct smtp_rcpt_result){.status = r[k].status, .cls = r[k].cls,
                                          .action = r[k].action, .code = code[k]};
    outcome_init(o, st, n);
    outcome_results(o, &res);
    outcome_decide(o, p);
}

/* fates_of - the fates of O as letters, F for fallback */
static const char *fates_of(const struct outcome *o, char buf[8])
{
    for (size_t k = 0; k < o->n; k++)
        buf[k] = o->rcpt[k].fate == OUTCOME_FALLBACK ? 'F' : fate_char(o->rcpt[k].fate);
    buf[o->n] = '\0';
    return buf;
}

START_TEST(fallback_to_the_mta)
{
    static const struct res1 sender = {SMTP_RCPT_FAILED, SMTP_SENDER_REJECTED, SMTP_BOUNCE};
    static const struct res1 auth = {SMTP_RCPT_FAILED, SMTP_AUTH_FAILED, SMTP_RETRY};
    const struct res1 r1[4] = {DLV, R5, R4, sender}, r2[2] = {auth, auth}, r3[3] = {R4, THR, R5};
    const int c1[4] = {250, 550, 451, 553}, c2[2] = {535, 454}, c3[3] = {451, 421, 550};
    struct outcome_params p = params(1, 2000, LIFE);
    struct outcome o;
    char buf[8];

    /* without fallback: the sender refused bounces, AUTH waits */
    fallback_case(&o, r1, c1, 4, &p);
    ck_assert_str_eq(fates_of(&o, buf), "SBDB");
    outcome_free(&o);
    /* with it, before fallback_after: only the permanent refusals of the account go back to
     * the MTA at once (a 553 to MAIL, a 535 to AUTH); a refused recipient still bounces */
    p.fallback_mta = true;
    p.fallback_after = 3600;
    fallback_case(&o, r1, c1, 4, &p);
    ck_assert_str_eq(fates_of(&o, buf), "SBDF");
    ck_assert(o.nsent == 1 && o.nlost == 1 && o.ndeferred == 1 && o.nfallback == 1);
    outcome_free(&o);
    fallback_case(&o, r2, c2, 2, &p);
    ck_assert_str_eq(fates_of(&o, buf), "FD");
    outcome_free(&o);
    /* at fallback_after since the arrival: whatever waits (throttled too) goes back */
    p.now = ARRIVAL + 3599;
    fallback_case(&o, r3, c3, 3, &p);
    ck_assert_str_eq(fates_of(&o, buf), "DDB");
    outcome_free(&o);
    p.now = ARRIVAL + 3600;
    fallback_case(&o, r3, c3, 3, &p);
    ck_assert_str_eq(fates_of(&o, buf), "FFB");
    ck_assert(o.nfallback == 2 && o.ndeferred == 0 && o.next_attempt == 0);
    /* a hand-back the MTA refused: they wait again, counted, on the schedule */
    outcome_fallback_failed(&o);
    ck_assert_str_eq(fates_of(&o, buf), "DDB");
    ck_assert(o.nfallback == 0 && o.ndeferred == 2 && o.count_attempt);
    ck_assert_int_eq(o.rcpt[0].action, SMTP_RETRY);
    ck_assert_int_eq(o.rcpt[0].cls, SMTP_TEMPORARY);
    ck_assert_int_eq(o.next_attempt, ARRIVAL + 3600 + 600);
    outcome_free(&o);
    /* a fallback_after past the lifetime: what would expire goes back instead */
    p.fallback_after = 10000000;
    p.now = ARRIVAL + LIFE;
    fallback_case(&o, r3, c3, 3, &p);
    ck_assert_str_eq(fates_of(&o, buf), "FFB");
    outcome_free(&o);
}
END_TEST

START_TEST(bounce_list)
{
    static const struct res1 r[4] = {DLV, R5, R4, R4};
    static const char *const addrs[4] = {"a@example.com", "b@example.com", "c@example.com",
                                         "d@example.com"};
    struct outcome_params p = params(9, 433000, LIFE);
    struct outcome o;
    struct dsn_rcpt dr[4];
    size_t n;

    decided(&o, r, 4, &p);
    o.rcpt[1].code = 550;
    snprintf(o.rcpt[1].enhanced, sizeof(o.rcpt[1].enhanced), "5.1.1");
    o.rcpt[1].reply = "550 5.1.1 User unknown";
    snprintf(o.rcpt[3].enhanced, sizeof(o.rcpt[3].enhanced), "4.2.2");
    n = outcome_bounce_list(&o, addrs, "smtp.provider.test", dr);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(n, o.nlost);
    ck_assert_str_eq(dr[0].final_rcpt, "b@example.com");
    ck_assert_int_eq(dr[0].action, DSN_FAILED);
    ck_assert_str_eq(dr[0].status, "5.1.1");
    ck_assert_int_eq(dr[0].reply_code, 550);
    ck_assert_str_eq(dr[0].remote_mta, "smtp.provider.test");
    ck_assert_str_eq(dr[0].diagnostic, "550 5.1.1 User unknown");
    ck_assert_str_eq(dr[0].class_name, "recipient_rejected");
    ck_assert_str_eq(dr[0].class_hint, smtp_class_hint(SMTP_RECIPIENT_REJECTED));
    ck_assert_str_eq(dr[1].final_rcpt, "c@example.com");
    ck_assert_str_eq(dr[1].status, "4.4.7"); /* expired without a status of its own */
    ck_assert_str_eq(dr[1].class_name, "temporary");
    ck_assert_str_eq(dr[2].status, "4.2.2");  /* expired with the provider's status */
    n = outcome_bounce_list(&o, addrs, NULL, dr);
    ck_assert_ptr_null(dr[0].remote_mta);
    outcome_free(&o);
}
END_TEST

START_TEST(last_error)
{
    static const struct res1 r[3] = {R4, THR, DLV};
    struct outcome_params p = params(0, 2000, LIFE);
    struct outcome o;
    char *e;

    decided(&o, r, 3, &p);
    o.rcpt[1].reply = "421 4.7.0 slow down\r\nnow";
    e = outcome_last_error(&o); /* the last deferred one, on one line */
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(strpbrk(e, "\r\n"));
    ck_assert(strncmp(e, "rate_limited: 421 4.7.0 slow down", 33) == 0);
    free(e);
    o.rcpt[1].fate = OUTCOME_SENT;
    e = outcome_last_error(&o); /* no reply: the class hint */
    ck_assert_str_eq(e, "temporary: will retry");
    free(e);
    o.rcpt[0].fate = OUTCOME_BOUNCED;
    ck_assert_ptr_null(outcome_last_error(&o));
    outcome_free(&o);
    outcome_free(&o); /* twice is fine */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outcome");
    TCase *tc = tcase_create("outcome");

    tcase_add_test(tc, decision_table);
    tcase_add_test(tc, own_reply_then_the_session);
    tcase_add_test(tc, session_result_for_all);
    tcase_add_test(tc, local_events);
    tcase_add_test(tc, next_attempt_never_early);
    tcase_add_test(tc, maybe_sent_after_the_dot);
    tcase_add_test(tc, duplicate_when_delivered_later);
    tcase_add_test(tc, dsn_failed_keeps_them);
    tcase_add_test(tc, dsn_failed_after_the_lifetime);
    tcase_add_test(tc, fallback_to_the_mta);
    tcase_add_test(tc, bounce_list);
    tcase_add_test(tc, last_error);
    suite_add_tcase(s, tc);
    return test_run(s);
}
