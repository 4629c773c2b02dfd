/* check_dsnopt - the DSN options of the original envelope: NOTIFY, ORCPT, RET, ENVID, xtext,
 * what each recipient asks for, sendmail's -N word; and fallback_argv */
#include "config.h"

#include "delivery/bounce.h"
#include "delivery/dsnopt.h"
#include "delivery/fallback.h"
#include "testutil.h"

START_TEST(notify_words)
{
    static const struct {
        const char *params;
        unsigned notify;
        bool failure, delay, success;
        const char *word;
    } cases[] = {
        {"", 0, true, true, false, ""},
        {NULL, 0, true, true, false, ""},
        {"NOTIFY=NEVER", DSNOPT_NEVER, false, false, false, "never"},
        {"notify=never", DSNOPT_NEVER, false, false, false, "never"},
        {"NOTIFY=SUCCESS", DSNOPT_SUCCESS, false, false, true, "success"},
        {"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b", DSNOPT_SUCCESS | DSNOPT_FAILURE, true, false,
         true, "success,failure"},
        {"ORCPT=rfc822;a@b NOTIFY=DELAY,FAILURE", DSNOPT_DELAY | DSNOPT_FAILURE, true, true, false,
         "failure,delay"},
        {"NOTIFY=FAILURE,DELAY,SUCCESS", DSNOPT_SUCCESS | DSNOPT_FAILURE | DSNOPT_DELAY, true, true,
         true, "success,failure,delay"},
        {"NOTIFY=NEVER,SUCCESS", 0, true, true, false, ""}, /* void: NEVER goes alone */
        {"XNOTIFY=NEVER", 0, true, true, false, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct dsnopt_rcpt r;
        char buf[32];

        dsnopt_rcpt_parse(cases[i].params, &r);
        ck_assert_msg(r.notify == cases[i].notify, "%zu: notify %u", i, r.notify);
        ck_assert_msg(dsnopt_wants_failure(&r) == cases[i].failure, "%zu: failure", i);
        ck_assert_msg(dsnopt_wants_delay(&r) == cases[i].delay, "%zu: delay", i);
        ck_assert_msg(dsnopt_wants_success(&r) == cases[i].success, "%zu: success", i);
        ck_assert_str_eq(dsnopt_notify_word(r.notify, buf), cases[i].word);
        dsnopt_rcpt_free(&r);
    }
}
END_TEST

START_TEST(orcpt_ret_envid)
{
    struct dsnopt_rcpt r;
    struct dsnopt_msg m;
    char *s;

    dsnopt_rcpt_parse("NOTIFY=SUCCESS ORCPT=rfc822;Bob+2Bx+3Dy@Example.COM", &r);
    ck_assert_str_eq(r.orcpt, "Bob+x=y@Example.COM");
    dsnopt_rcpt_free(&r);
    dsnopt_rcpt_parse("ORCPT=utf-8;bob@example.com", &r); /* only rfc822 is taken */
    ck_assert_ptr_null(r.orcpt);
    dsnopt_rcpt_parse("ORCPT=rfc822;bad+2", &r); /* broken xtext: ignored */
    ck_assert_ptr_null(r.orcpt);
    dsnopt_rcpt_parse("ORCPT=rfc822;", &r);
    ck_assert_ptr_null(r.orcpt);

    dsnopt_msg_parse("BODY=8BITMIME RET=FULL ENVID=QQ314159+2Border", &m);
    ck_assert_int_eq(m.ret, DSNOPT_RET_FULL);
    ck_assert_str_eq(m.envid, "QQ314159+order");
    dsnopt_msg_free(&m);
    dsnopt_msg_parse("ret=hdrs SIZE=100", &m);
    ck_assert_int_eq(m.ret, DSNOPT_RET_HDRS);
    ck_assert_ptr_null(m.envid);
    dsnopt_msg_parse("RET=ALL ENVID=a+0Ab", &m); /* unknown RET; ENVID with a line feed */
    ck_assert_int_eq(m.ret, DSNOPT_RET_NONE);
    ck_assert_ptr_null(m.envid);
    dsnopt_msg_parse(NULL, &m);
    ck_assert_int_eq(m.ret, DSNOPT_RET_NONE);

    s = dsnopt_xtext_decode("a+2Bb+3D", 8);
    ck_assert_str_eq(s, "a+b=");
    free(s);
    ck_assert_ptr_null(dsnopt_xtext_decode("a+2", 3));
    ck_assert_ptr_null(dsnopt_xtext_decode("a+2b", 4)); /* xtext hex is upper case */
    ck_assert_ptr_null(dsnopt_xtext_decode("a b", 3));
}
END_TEST

START_TEST(fallback_command_line)
{
    const char *rcpts[] = {"bob@acme.example", "-x@acme.example"};
    char *err = NULL, **argv, *line;
    struct buf b;

    argv = fallback_argv("/usr/sbin/sendmail  -i", "alice@example.com", "success,failure", "hdrs",
                         "env-1", rcpts, 2, &err);
    buf_init(&b);
    for (char **a = argv; *a; a++)
        buf_printf(&b, "%s%s", a == argv ? "" : "|", *a);
    line = buf_steal(&b);
    ck_assert_str_eq(line, "/usr/sbin/sendmail|-i|-f|alice@example.com|-N|success,failure|-R|hdrs|"
                           "-V|env-1|--|bob@acme.example|-x@acme.example");
    free(line);
    bounce_argv_free(argv);
    argv = fallback_argv("/usr/sbin/sendmail", "", "", "", NULL, rcpts, 1, &err);
    buf_init(&b);
    for (char **a = argv; *a; a++)
        buf_printf(&b, "%s%s", a == argv ? "" : "|", *a);
    line = buf_steal(&b);
    ck_assert_str_eq(line, "/usr/sbin/sendmail|-f|<>|--|bob@acme.example");
    free(line);
    bounce_argv_free(argv);
    ck_assert_ptr_null(fallback_argv(" ", "a@b", "", "", NULL, rcpts, 1, &err));
    ck_assert_ptr_nonnull(strstr(err, "delivery.fallback_command is empty"));
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dsnopt");
    TCase *tc = tcase_create("dsnopt");

    tcase_add_test(tc, notify_words);
    tcase_add_test(tc, orcpt_ret_envid);
    tcase_add_test(tc, fallback_command_line);
    suite_add_tcase(s, tc);
    return test_run(s);
}
