/* check_provider - provider presets and the reply quirks the classifier takes from them */
#include "config.h"

#include "smtp/provider.h"
#include "store/target.h"
#include "testutil.h"

/* expect - classify a failure reply from HOST at STAGE, and compare class and action */
static void expect(const char *host, enum smtp_stage stage, int code, const char *enh,
                   const char *text, enum smtp_class cls, enum smtp_action action)
{
    struct smtp_verdict v = smtp_trouble_reply_from(host, stage, code, enh, text, SMTP_SEC_STARTTLS);

    ck_assert_msg(v.cls == cls && v.action == action, "%s %d %s: got %s/%s, want %s/%s", host, code,
                  text, smtp_class_name(v.cls), smtp_action_name(v.action), smtp_class_name(cls),
                  smtp_action_name(action));
}

START_TEST(quirks_by_provider_host)
{
    /* SES: an unverified identity is a sender problem, not the content */
    expect("email-smtp.eu-west-1.amazonaws.com", SMTP_STAGE_DOT, 554, "",
           "Message rejected: Email address is not verified. The following identities failed",
           SMTP_SENDER_REJECTED, SMTP_BOUNCE);
    /* the same reply from an unknown host: the general rule for end of data */
    expect("smtp.example.net", SMTP_STAGE_DOT, 554, "",
           "Message rejected: Email address is not verified.", SMTP_MESSAGE_REJECTED, SMTP_BOUNCE);
    expect("smtp.office365.com", SMTP_STAGE_DOT, 554, "5.2.0",
           "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
           SMTP_SENDER_REJECTED, SMTP_BOUNCE);
    expect("SMTP.Office365.COM", SMTP_STAGE_DOT, 550, "5.7.60",
           "SMTP; Client does not have permissions to send as this sender", SMTP_SENDER_REJECTED,
           SMTP_BOUNCE);
    expect("smtp.sendgrid.net", SMTP_STAGE_DOT, 550, "",
           "The from address does not match a verified Sender Identity", SMTP_SENDER_REJECTED,
           SMTP_BOUNCE);
    expect("smtp.sendgrid.net", SMTP_STAGE_MAIL, 451, "",
           "Authentication failed: Maximum credits exceeded", SMTP_RATE_LIMITED, SMTP_THROTTLE);
    expect("smtp.gmail.com", SMTP_STAGE_DOT, 550, "5.4.5", "Daily user sending limit exceeded.",
           SMTP_RATE_LIMITED, SMTP_THROTTLE);
    /* a quirk never turns a success into a failure, nor applies to another provider */
    expect("smtp.postmarkapp.com", SMTP_STAGE_RCPT, 550, "5.1.1", "no such user",
           SMTP_RECIPIENT_REJECTED, SMTP_BOUNCE);
    ck_assert(smtp_trouble_reply_from("smtp.sendgrid.net", SMTP_STAGE_DOT, 250, "2.0.0",
                                      "verified sender identity ok", SMTP_SEC_STARTTLS)
                  .cls == SMTP_OK);
}
END_TEST

START_TEST(presets_and_hosts)
{
    const struct provider *p;
    char *err = NULL, *h;
    size_t n = 0;

    while (provider_at(n) != NULL)
        n++;
    ck_assert_uint_eq(n, 9);
    ck_assert_ptr_null(provider_find("nosuch"));
    p = provider_find("ses");
    ck_assert_ptr_null(provider_host(p, NULL, &err));
    ck_assert_str_eq(err, "Amazon SES needs --region (e.g. us-east-1): its host is "
                          "email-smtp.%s.amazonaws.com");
    h = provider_host(p, "us-east-1", &err);
    ck_assert_str_eq(h, "email-smtp.us-east-1.amazonaws.com");
    free(h);
    ck_assert_ptr_null(provider_host(p, "us east", &err));
    ck_assert_ptr_null(provider_host(provider_find("sendgrid"), "eu", &err));
    ck_assert_str_eq(provider_find("sendgrid")->username, "apikey");
    ck_assert_int_eq(provider_find("office365")->max_connections, 3);
    ck_assert_ptr_eq(provider_by_host("email-smtp.us-east-1.AMAZONAWS.com"), p);
    ck_assert_ptr_null(provider_by_host("amazonaws.com.evil.example"));
    for (size_t i = 0; i < n; i++) {
        p = provider_at(i);
        ck_assert_msg(valid_host(strstr(p->host, "%s") ? "email-smtp.x.amazonaws.com" : p->host,
                                 &err) == 0, "%s", p->name);
        ck_assert_ptr_nonnull(p->quirks);
    }
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("provider");
    TCase *tc = tcase_create("provider");

    tcase_add_test(tc, quirks_by_provider_host);
    tcase_add_test(tc, presets_and_hosts);
    suite_add_tcase(s, tc);
    return test_run(s);
}
