/*
 * check_bounce - the bounce command line and the submission of a DSN: the sender is the last
 * argument, the DSN arrives on the command's standard input with the original headers, a
 * failing command is an error (the recipients stay queued), a null sender gets no DSN.
 */
#include "config.h"

#include <signal.h>

#include <stdlib.h>
#include <string.h>

#include "delivery/bounce.h"
#include "testutil.h"

START_TEST(test_argv)
{
    char *err = NULL, **a = bounce_argv("/usr/sbin/sendmail  -i -f <> --", "a@b.example", &err);

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a[0], "/usr/sbin/sendmail");
    ck_assert_str_eq(a[1], "-i");
    ck_assert_str_eq(a[2], "-f");
    ck_assert_str_eq(a[3], "<>");
    ck_assert_str_eq(a[4], "--");
    ck_assert_str_eq(a[5], "a@b.example");
    ck_assert_ptr_null(a[6]);
    bounce_argv_free(a);
    ck_assert_ptr_null(bounce_argv("  ", "a@b.example", &err));
    ck_assert_ptr_nonnull(strstr(err, "delivery.bounce.command"));
    free(err);
}
END_TEST

/* make_copy - a committed copy from SENDER to two recipients in a spool under DIR */
static struct spool_copy *make_copy(const char *dir, const char *sender, struct spool **sp)
{
    struct spool_msg *m;
    struct spool_copy_w *w;
    struct spool_copy *c;
    char *err = NULL, *rcpts[] = {"gone@p.example", "ok@p.example"}, id[SPOOL_ID_LEN + 1];
    const char *hdr = "From: x@y.example\r\nSubject: the original\r\n";
    struct spool_envelope env = {.target = "p", .mta_queue_id = "QID1", .arrival = 1700000000,
                                 .sender = (char *)sender, .envelope_from = "relay@p.test",
                                 .mail_params = "", .rcpts = rcpts, .nrcpts = 2};

    ck_assert_int_eq(spool_open(dir, true, (uid_t)-1, (gid_t)-1, sp, &err), 0);
    ck_assert_int_eq(spool_msg_begin(*sp, &m, &err), 0);
    ck_assert_int_eq(spool_msg_body(m, "body\r\n", 6, &err), 0);
    ck_assert_int_eq(spool_copy_new(*sp, &w, &err), 0);
    snprintf(id, sizeof(id), "%s", spool_copy_id(w));
    env.id = id;
    ck_assert_int_eq(spool_copy_write(w, &env, hdr, strlen(hdr), m, &err), 0);
    ck_assert_int_eq(spool_copy_publish(w, &err), 0);
    spool_copy_release(w);
    spool_msg_discard(m);
    ck_assert_int_eq(spool_copy_open(*sp, "queue", id, &c, &err), 1);
    return c;
}

START_TEST(test_send)
{
    char *dir = test_tmpdir(), *err = NULL, *script, *out, *cmd, *text;
    struct byosmtp_conf *conf = conf_defaults();
    struct spool *sp;
    struct spool_copy *c;
    struct dsn_rcpt r = {.final_rcpt = "gone@p.example", .action = DSN_FAILED, .status = "5.1.1",
                         .reply_code = 550, .diagnostic = "550 5.1.1 no such user"};

    /* as in the delivery process: a command that exits without reading must not kill us */
    signal(SIGPIPE, SIG_IGN);
    out = malloc(4096);
    snprintf(out, 4096, "%s/out", dir);
    text = malloc(4096);
    snprintf(text, 4096, "#!/bin/sh\necho \"args: $*\" >'%s'; cat >>'%s'\n", out, out);
    script = test_write(dir, "sendmail", text, 0755);
    free(text);
    cmd = malloc(4096);
    snprintf(cmd, 4096, "%s -i -f <> --", script);
    free(conf->delivery.bounce.command);
    conf->delivery.bounce.command = cmd;

    c = make_copy(dir, "alice@client.example", &sp);
    ck_assert_int_eq(bounce_send(conf, "mx.example", c, &r, 1, &err), 1);
    text = test_read_file(out, NULL);
    ck_assert_ptr_nonnull(strstr(text, "args: -i -f <> -- alice@client.example"));
    ck_assert_ptr_nonnull(strstr(text, "report-type=delivery-status"));
    ck_assert_ptr_nonnull(strstr(text, "Final-Recipient: rfc822;"));
    ck_assert_ptr_nonnull(strstr(text, "Diagnostic-Code: smtp; 550 5.1.1 no such user"));
    ck_assert_ptr_nonnull(strstr(text, "Subject: the original"));
    ck_assert_ptr_null(strstr(text, "ok@p.example"));
    free(text);

    /* a failing command is an error: the caller keeps the recipients */
    conf->delivery.bounce.command = xstrdup("/bin/false");
    free(cmd);
    ck_assert_int_eq(bounce_send(conf, "mx.example", c, &r, 1, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/bin/false"));
    free(err);
    err = NULL;
    /* disabled: no DSN and no error */
    conf->delivery.bounce.enabled = false;
    ck_assert_int_eq(bounce_send(conf, "mx.example", c, &r, 1, &err), 0);
    spool_copy_close(c);
    spool_close(sp);
    conf_unref(conf);
    free(script);
    free(out);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_null_sender)
{
    char *dir = test_tmpdir(), *err = NULL;
    struct byosmtp_conf *conf = conf_defaults();
    struct spool *sp;
    struct spool_copy *c = make_copy(dir, "", &sp);
    struct dsn_rcpt r = {.final_rcpt = "gone@p.example", .action = DSN_FAILED};

    free(conf->delivery.bounce.command);
    conf->delivery.bounce.command = xstrdup("/bin/false"); /* would fail if it ran */
    ck_assert_int_eq(bounce_send(conf, "mx.example", c, &r, 1, &err), 0);
    spool_copy_close(c);
    spool_close(sp);
    conf_unref(conf);
    test_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bounce");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_argv);
    tcase_add_test(tc, test_send);
    tcase_add_test(tc, test_null_sender);
    suite_add_tcase(s, tc);
    return test_run(s);
}
