/* check_deliverylog - the Postfix-shaped delivery log line, field by field, as tables */
#include "config.h"

#include <regex.h>

#include "delivery/deliverylog.h"
#include "testutil.h"

/* entry - a sent message on a fresh connection; tests change what they exercise */
static struct deliverylog_entry entry(void)
{
    return (struct deliverylog_entry){
        .spool_id = "0123456789ABCDEF0123",
        .mta_queue_id = "4XyZ1abc",
        .rcpt = "bob@example.com",
        .target = "acme",
        .host = "smtp.provider.example",
        .port = 587,
        .delays = {110, 30, 230, 190},
        .dsn = "2.0.0",
        .status = DELIVERYLOG_SENT,
        .reply = "250 2.0.0 Ok: queued as 9F8E7D",
    };
}

START_TEST(whole_lines)
{
    struct {
        struct deliverylog_entry e;
        const char *want;
    } cases[] = {
        {entry(), "0123456789ABCDEF0123_4XyZ1abc: to=<bob@example.com>, "
                  "relay=acme[smtp.provider.example]:587, delay=0.56, delays=0.11/0.03/0.23/0.19, "
                  "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D)"},
        {entry(), "0123456789ABCDEF0123: to=<bob@example.com>, orig_to=<sales@example.org>, "
                  "relay=acme[smtp.provider.example]:587, conn_use=3, delay=1.2, "
                  "delays=0/1/0/0.2, dsn=4.2.0, status=deferred (450 4.2.0 Mailbox busy)"},
        {entry(), "0123456789ABCDEF0123_4XyZ1abc: to=<bob@example.com>, relay=none, delay=3600, "
                  "delays=0.01/3600/0/0, dsn=4.4.1, status=deferred (connect to "
                  "smtp.provider.example[192.0.2.1]:587: Connection refused)"},
        {entry(), "0123456789ABCDEF0123_4XyZ1abc: to=<bob@example.com>, "
                  "relay=acme[smtp.provider.example]:587, delay=0.56, delays=0.11/0.03/0.23/0.19, "
                  "dsn=5.0.0, status=bounced (550 User unknown)"},
        {entry(), "0123456789ABCDEF0123_4XyZ1abc: to=<bob@example.com>, "
                  "relay=acme[smtp.provider.example]:587, delay=432000, "
                  "delays=0/432000/0.3/0.2, dsn=4.0.0, status=expired (451 try later)"},
    };

    cases[1].e.mta_queue_id = NULL;
    cases[1].e.orig_rcpt = "sales@example.org";
    cases[1].e.conn_use = 3;
    cases[1].e.delays = (struct deliverylog_delays){2, 1000, 0, 200};
    cases[1].e.dsn = "4.2.0";
    cases[1].e.status = DELIVERYLOG_DEFERRED;
    cases[1].e.reply = "450 4.2.0 Mailbox busy";
    cases[2].e.host = NULL;
    cases[2].e.delays = (struct deliverylog_delays){10, 3600000, 0, 0};
    cases[2].e.dsn = "4.4.1";
    cases[2].e.status = DELIVERYLOG_DEFERRED;
    cases[2].e.reply = "connect to smtp.provider.example[192.0.2.1]:587: Connection refused";
    cases[3].e.dsn = ""; /* no enhanced code: derived from the status */
    cases[3].e.status = DELIVERYLOG_BOUNCED;
    cases[3].e.reply = "550 User unknown";
    cases[4].e.dsn = NULL;
    cases[4].e.status = DELIVERYLOG_EXPIRED;
    cases[4].e.delays = (struct deliverylog_delays){0, 431999500, 300, 200};
    cases[4].e.reply = "451 try later";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *line = deliverylog_line(&cases[i].e);

        ck_assert_msg(strcmp(line, cases[i].want) == 0, "case %zu:\n got  %s\n want %s", i, line,
                      cases[i].want);
        free(line);
    }
}
END_TEST

START_TEST(delay_format)
{
    /* Postfix's format: two significant digits below 10 s, whole seconds above, rounded */
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "0"},      {4, "0"},      {5, "0.01"},           {57, "0.06"},
        {100, "0.1"},  {570, "0.57"}, {994, "0.99"},         {995, "1"},
        {999, "1"},    {1000, "1"},   {1049, "1"},           {1050, "1.1"},
        {8400, "8.4"}, {9949, "9.9"}, {9960, "10"},          {12345, "12"},
        {12500, "13"}, {-5, "0"},     {432000000, "432000"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct deliverylog_entry e = entry();
        char *line, want[64];

        e.delays = (struct deliverylog_delays){0, cases[i].ms, 0, 0};
        line = deliverylog_line(&e);
        snprintf(want, sizeof(want), "/%s/0/0, ", cases[i].want);
        ck_assert_msg(strstr(line, want) != NULL, "%lld ms: %s", (long long)cases[i].ms, line);
        free(line);
    }
}
END_TEST

START_TEST(sanitised_fields)
{
    struct deliverylog_entry e = entry();
    char big[3000];
    char *line;

    e.rcpt = "bob@example.com>\r\nFAKE: to=<x";
    e.orig_rcpt = "j\xc3\xb6rg@example.com\x01";
    e.mta_queue_id = "4Xy Z:1\n";
    e.reply = "550-5.1.1 first\r\n550 5.1.1 second\r\n";
    line = deliverylog_line(&e);
    ck_assert_str_eq(line, "0123456789ABCDEF0123_4XyZ1: to=<bob@example.com>??FAKE: to=<x>, "
                           "orig_to=<j\xc3\xb6rg@example.com?>, "
                           "relay=acme[smtp.provider.example]:587, delay=0.56, "
                           "delays=0.11/0.03/0.23/0.19, dsn=2.0.0, "
                           "status=sent (550-5.1.1 first; 550 5.1.1 second)");
    free(line);

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    e = entry();
    e.reply = big;
    e.rcpt = big;
    line = deliverylog_line(&e);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_ptr_null(strchr(line, '\r'));
    ck_assert_msg(strlen(line) < 1000, "%zu bytes", strlen(line));
    ck_assert_ptr_nonnull(strstr(line, "xxx...)"));
    ck_assert_ptr_nonnull(strstr(line, "xxx...>"));
    free(line);

    e = entry(); /* the same address in another case is not an orig_to */
    e.orig_rcpt = "BOB@example.com";
    line = deliverylog_line(&e);
    ck_assert_ptr_null(strstr(line, "orig_to"));
    free(line);
}
END_TEST

START_TEST(matches_log_tools)
{
    /* the pattern shared by pflogsumm-style tools for smtp delivery lines */
    static const char pattern[] =
        "^([A-Za-z0-9_]+): to=<([^>]*)>, (orig_to=<[^>]*>, )?relay=([^,]+), (conn_use=[^,]+, )?"
        "delay=([^,]+), (delays=[^,]+, )?(dsn=[^,]+, )?status=([a-z]+) \\((.*)\\)$";
    regex_t re;
    regmatch_t m[11];
    struct deliverylog_entry e = entry();
    char *line;

    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    for (int status = DELIVERYLOG_SENT; status <= DELIVERYLOG_EXPIRED; status++) {
        e.status = (enum deliverylog_status)status;
        e.conn_use = status; /* with and without conn_use */
        e.orig_rcpt = status % 2 ? "alias@example.com" : NULL;
        line = deliverylog_line(&e);
        ck_assert_msg(regexec(&re, line, 11, m, 0) == 0, "no match: %s", line);
        ck_assert_int_eq((int)(m[9].rm_eo - m[9].rm_so),
                         (int)strlen(deliverylog_status_name(e.status)));
        ck_assert(strncmp(line + m[9].rm_so, deliverylog_status_name(e.status),
                          strlen(deliverylog_status_name(e.status))) == 0);
        ck_assert(strncmp(line + m[2].rm_so, "bob@example.com>", 16) == 0);
        free(line);
    }
    regfree(&re);
}
END_TEST

START_TEST(possible_duplicate)
{
    struct deliverylog_entry e = entry();
    char *line;

    /* delivered after an attempt whose final dot got no reply: said after the reply */
    e.possible_duplicate = true;
    line = deliverylog_line(&e);
    ck_assert_str_eq(line, "0123456789ABCDEF0123_4XyZ1abc: to=<bob@example.com>, "
                           "relay=acme[smtp.provider.example]:587, delay=0.56, "
                           "delays=0.11/0.03/0.23/0.19, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                           "queued as 9F8E7D), possible duplicate: an earlier attempt got no "
                           "reply to its final dot");
    free(line);
    /* only a sent recipient can be a duplicate */
    e.status = DELIVERYLOG_DEFERRED;
    e.dsn = "4.4.2";
    e.reply = "dot: timed out waiting for the server";
    line = deliverylog_line(&e);
    ck_assert_ptr_null(strstr(line, "duplicate"));
    free(line);
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(deliverylog_status_name(DELIVERYLOG_SENT), "sent");
    ck_assert_str_eq(deliverylog_status_name(DELIVERYLOG_DEFERRED), "deferred");
    ck_assert_str_eq(deliverylog_status_name(DELIVERYLOG_BOUNCED), "bounced");
    ck_assert_str_eq(deliverylog_status_name(DELIVERYLOG_EXPIRED), "expired");
    ck_assert_str_eq(deliverylog_status_name((enum deliverylog_status)42), "unknown");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("deliverylog");
    TCase *tc = tcase_create("deliverylog");

    tcase_add_test(tc, whole_lines);
    tcase_add_test(tc, delay_format);
    tcase_add_test(tc, sanitised_fields);
    tcase_add_test(tc, matches_log_tools);
    tcase_add_test(tc, possible_duplicate);
    tcase_add_test(tc, status_names);
    suite_add_tcase(s, tc);
    return test_run(s);
}
