/* check_smtp_reply - reply parsing (single, multi-line, enhanced codes, malformed) and EHLO capabilities */
#include "config.h"

#include "smtp/smtp_reply.h"
#include "testutil.h"

/* parse - parse TEXT as one reply; returns parse's result, err freed */
static int parse(struct smtp_reply *r, const char *text)
{
    char *err = NULL;
    int rc = smtp_reply_parse(r, text, strlen(text), &err);

    ck_assert(rc == 0 ? err == NULL : err != NULL);
    free(err);
    return rc;
}

START_TEST(single_line_with_enhanced_code)
{
    struct smtp_reply r;

    smtp_reply_init(&r);
    ck_assert_int_eq(parse(&r, "550 5.1.1 <bob@example.com>: Recipient address rejected\r\n"), 0);
    ck_assert_int_eq(r.code, 550);
    ck_assert_str_eq(r.enhanced, "5.1.1");
    ck_assert_str_eq(r.text.data, "5.1.1 <bob@example.com>: Recipient address rejected");
    ck_assert_int_eq(r.lines, 1);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(multi_line_reply)
{
    struct smtp_reply r;
    char *line;

    smtp_reply_init(&r);
    ck_assert_int_eq(parse(&r, "421-4.7.0 Try again later, closing connection.\r\n"
                               "421-4.7.0 (throttled)\r\n"
                               "421 4.7.0 see https://support.example/\r\n"),
                     0);
    ck_assert_int_eq(r.code, 421);
    ck_assert_str_eq(r.enhanced, "4.7.0");
    ck_assert_int_eq(r.lines, 3);
    ck_assert_ptr_nonnull(strstr(r.text.data, "(throttled)"));
    line = smtp_reply_line(&r);
    ck_assert_str_eq(line, "421 4.7.0 Try again later, closing connection.; 4.7.0 (throttled); "
                           "4.7.0 see https://support.example/");
    free(line);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(feed_reports_completion)
{
    struct smtp_reply r;
    char *err = NULL;

    smtp_reply_init(&r);
    ck_assert_int_eq(smtp_reply_feed(&r, "250-first", 9, &err), 0);
    ck_assert_int_eq(smtp_reply_feed(&r, "250-second", 10, &err), 0);
    ck_assert_int_eq(smtp_reply_feed(&r, "250 last", 8, &err), 1);
    ck_assert(r.done);
    /* a bare code is a complete last line */
    smtp_reply_reset(&r);
    ck_assert_int_eq(smtp_reply_feed(&r, "354", 3, &err), 1);
    ck_assert_int_eq(r.code, 354);
    ck_assert_str_eq(r.enhanced, "");
    ck_assert_ptr_null(err);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(enhanced_code_only_when_well_formed)
{
    struct smtp_reply r;

    smtp_reply_init(&r);
    ck_assert_int_eq(parse(&r, "250 2.0.0 Ok: queued as 4ABC\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "2.0.0");
    /* class must match the reply code */
    ck_assert_int_eq(parse(&r, "550 4.1.1 odd\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "");
    /* a version number is not a status code */
    ck_assert_int_eq(parse(&r, "220 mail.example ESMTP 5.1.10x\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "");
    ck_assert_int_eq(parse(&r, "454 4.7.0 Temporary authentication failure\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "4.7.0");
    ck_assert_int_eq(parse(&r, "432 4.3.2 System not accepting network messages\n"), 0);
    ck_assert_str_eq(r.enhanced, "4.3.2");
    ck_assert_int_eq(parse(&r, "550 5.4.5 Daily user sending quota exceeded.\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "5.4.5");
    ck_assert_int_eq(parse(&r, "454 Throttling failure: Maximum sending rate exceeded.\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "");
    ck_assert_int_eq(parse(&r, "250 2.100.999\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "2.100.999");
    ck_assert_int_eq(parse(&r, "250 2.1000.9 too many digits\r\n"), 0);
    ck_assert_str_eq(r.enhanced, "");
    smtp_reply_free(&r);
}
END_TEST

START_TEST(malformed_replies_are_refused)
{
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH_9.2p1\r\n",      /* not SMTP at all */
        "HTTP/1.1 400 Bad Request\r\n",
        "25 short\r\n",                   /* two digits */
        "2500 four digits\r\n",
        "150 preliminary\r\n",            /* first digit 1 is not SMTP */
        "650 bad class\r\n",
        "260 bad second digit\r\n",
        "250_underscore\r\n",             /* wrong separator */
        "250-first\r\n251 second\r\n",    /* code changes */
        "250-no end\r\n",                 /* incomplete */
        "",
    };
    struct smtp_reply r;

    smtp_reply_init(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(&r, bad[i]) == -1, "accepted \"%s\"", bad[i]);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(limits_bound_memory)
{
    struct smtp_reply r;
    char *err = NULL;
    char *longline = malloc(SMTP_REPLY_MAX_LINE + 10);

    smtp_reply_init(&r);
    memset(longline, 'x', SMTP_REPLY_MAX_LINE + 9);
    memcpy(longline, "250 ", 4);
    ck_assert_int_eq(smtp_reply_feed(&r, longline, SMTP_REPLY_MAX_LINE + 9, &err), -1);
    ck_assert_ptr_nonnull(err);
    free(err);
    err = NULL;
    smtp_reply_reset(&r);
    for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
        ck_assert_int_eq(smtp_reply_feed(&r, "250-more", 8, &err), 0);
    ck_assert_int_eq(smtp_reply_feed(&r, "250-more", 8, &err), -1);
    free(err);
    free(longline);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(reply_line_is_printable)
{
    struct smtp_reply r;
    char *line;

    smtp_reply_init(&r);
    ck_assert_int_eq(parse(&r, "550 bad\x01\xff text\r\n"), 0);
    line = smtp_reply_line(&r);
    ck_assert_str_eq(line, "550 bad?? text");
    free(line);
    smtp_reply_free(&r);
}
END_TEST

START_TEST(ehlo_capabilities)
{
    struct smtp_reply r;
    struct smtp_caps caps;

    smtp_reply_init(&r);
    ck_assert_int_eq(parse(&r, "250-provider.test Hello\r\n"
                               "250-PIPELINING\r\n"
                               "250-SIZE 10240000\r\n"
                               "250-STARTTLS\r\n"
                               "250-auth plain LOGIN cram-md5 XOAUTH2 GSSAPI\r\n"
                               "250-ENHANCEDSTATUSCODES\r\n"
                               "250-8BITMIME\r\n"
                               "250 SMTPUTF8\r\n"),
                     0);
    smtp_caps_parse(&r, &caps);
    ck_assert_uint_eq(caps.flags, SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_STARTTLS |
                                      SMTP_CAP_AUTH | SMTP_CAP_ENHANCEDSTATUSCODES |
                                      SMTP_CAP_8BITMIME | SMTP_CAP_SMTPUTF8);
    ck_assert_uint_eq(caps.size_limit, 10240000);
    ck_assert_uint_eq(caps.auth, SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN |
                                     SMTP_AUTH_MECH_CRAM_MD5 | SMTP_AUTH_MECH_XOAUTH2);
    ck_assert_str_eq(caps.auth_list, "plain LOGIN cram-md5 XOAUTH2 GSSAPI");

    /* the greeting line is not a capability, and legacy AUTH=LOGIN counts */
    ck_assert_int_eq(parse(&r, "250-STARTTLS greets you\r\n250-AUTH=LOGIN\r\n250 SIZE\r\n"), 0);
    smtp_caps_parse(&r, &caps);
    ck_assert_uint_eq(caps.flags, SMTP_CAP_AUTH | SMTP_CAP_SIZE);
    ck_assert_uint_eq(caps.auth, SMTP_AUTH_MECH_LOGIN);
    ck_assert_uint_eq(caps.size_limit, 0);

    /* "AUTH" and legacy "AUTH=" lines together: each mechanism listed once */
    ck_assert_int_eq(parse(&r, "250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 AUTH=LOGIN PLAIN\r\n"), 0);
    smtp_caps_parse(&r, &caps);
    ck_assert_str_eq(caps.auth_list, "PLAIN LOGIN");

    /* a one-line EHLO reply has no capabilities; keywords must match whole */
    ck_assert_int_eq(parse(&r, "250-mx\r\n250-STARTTLSX\r\n250 AUTHX PLAIN\r\n"), 0);
    smtp_caps_parse(&r, &caps);
    ck_assert_uint_eq(caps.flags, 0);
    ck_assert_uint_eq(caps.auth, 0);
    smtp_reply_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtp_reply");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, single_line_with_enhanced_code);
    tcase_add_test(tc, multi_line_reply);
    tcase_add_test(tc, feed_reports_completion);
    tcase_add_test(tc, enhanced_code_only_when_well_formed);
    tcase_add_test(tc, malformed_replies_are_refused);
    tcase_add_test(tc, limits_bound_memory);
    tcase_add_test(tc, reply_line_is_printable);
    tcase_add_test(tc, ehlo_capabilities);
    suite_add_tcase(s, tc);
    return test_run(s);
}
