/*
 * check_oauth - the pure parts of OAuth2 (delivery/oauth.h, store/target.h): a token endpoint's
 * reply (success, each refusal with its meaning, malformed replies; never a secret in an error),
 * when a token is obtained again, the OAuth2 fields of a target checked together, the class
 * oauth_refresh_failed, and the two presets.
 */
#include "config.h"

#include "testutil.h"
#include "delivery/oauth.h"
#include "smtp/provider.h"
#include "smtp/smtp_trouble.h"
#include "store/target.h"

/* parse - oauth_parse_reply of BODY with STATUS */
static int parse(long status, const char *body, struct oauth_reply *r, char **err)
{
    return oauth_parse_reply(status, body, body ? strlen(body) : 0, r, err);
}

START_TEST(reply_ok)
{
    struct oauth_reply r;
    char *err = NULL;

    ck_assert_int_eq(parse(200, "{\"access_token\":\"ya29.A0-tok_en\",\"token_type\":\"Bearer\","
                                "\"expires_in\":3599,\"scope\":\"https://mail.google.com/\"}",
                           &r, &err), 0);
    ck_assert_str_eq(r.access_token, "ya29.A0-tok_en");
    ck_assert_int_eq(r.expires_in, 3599);
    ck_assert_ptr_null(r.refresh_token);
    oauth_reply_free(&r);
    /* Microsoft: a rotated refresh token, expires_in as a number; token_type in any case */
    ck_assert_int_eq(parse(200, "{\"token_type\":\"bearer\",\"expires_in\":\"4000\","
                                "\"access_token\":\"eyJ0.x.y\",\"refresh_token\":\"0.AR-new\"}",
                           &r, &err), 0);
    ck_assert_str_eq(r.refresh_token, "0.AR-new");
    ck_assert_int_eq(r.expires_in, 4000);
    oauth_reply_free(&r);
    /* no expires_in: the default lifetime */
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\"}", &r, &err), 0);
    ck_assert_int_eq(r.expires_in, OAUTH_DEFAULT_LIFETIME);
    oauth_reply_free(&r);
    ck_assert_ptr_null(err);
}
END_TEST

/* refused - the reply is refused with exactly WANT, which never holds SECRET */
static void refused(long status, const char *body, const char *want)
{
    struct oauth_reply r;
    char *err = NULL;

    ck_assert_int_eq(parse(status, body, &r, &err), -1);
    ck_assert_ptr_null(r.access_token);
    ck_assert_str_eq(err, want);
    free(err);
}

START_TEST(reply_refused)
{
    refused(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or "
                 "revoked.\"}",
            "the token endpoint answered HTTP 400 invalid_grant: the refresh token was revoked "
            "or has expired: consent again and store the new refresh token (Google revokes the "
            "refresh tokens of apps left in \"Testing\" after 7 days) (\"Token has been expired "
            "or revoked.\")");
    refused(401, "{\"error\":\"invalid_client\"}",
            "the token endpoint answered HTTP 401 invalid_client: the endpoint does not accept "
            "the client: check oauth_client_id and oauth_client_secret");
    refused(400, "{\"error\":\"invalid_scope\",\"error_description\":\"line\\r\\nbreak\"}",
            "the token endpoint answered HTTP 400 invalid_scope: the scope is not granted to "
            "this client: check oauth_scope (\"line; break\")");
    refused(503, "<html>busy</html>",
            "the token endpoint answered HTTP 503 (it will be asked again)");
    refused(503, NULL, "the token endpoint answered HTTP 503 (it will be asked again)");
    refused(404, "{}", "the token endpoint answered HTTP 404 without an OAuth2 error: check "
                       "oauth_token_url");
    refused(200, "not json", "the token endpoint answered HTTP 200 without a JSON object: check "
                             "oauth_token_url");
    refused(200, "[\"access_token\"]", "the token endpoint answered HTTP 200 without a JSON "
                                       "object: check oauth_token_url");
    refused(200, "{\"expires_in\":3600}",
            "the token endpoint's reply holds no usable access_token: check oauth_token_url");
    refused(200, "{\"access_token\":\"two words\"}",
            "the token endpoint's reply holds no usable access_token: check oauth_token_url");
    refused(200, "{\"access_token\":\"SECRET-TOKEN\",\"token_type\":\"mac\"}",
            "the token endpoint gave a token of type 'mac', not Bearer");
}
END_TEST

START_TEST(refresh_ahead)
{
    /* 60 s before expiry for an hour's token; after 80% of a short one */
    ck_assert(oauth_refresh_at(1000, 3600) == 1000 + 3540);
    ck_assert(oauth_refresh_at(1000, 300) == 1000 + 240);
    ck_assert(oauth_refresh_at(0, 5) == 4);
    ck_assert(oauth_refresh_at(0, 100) == 80);
}
END_TEST

/* oauth_target - a valid refresh-token target */
static void oauth_target(struct target *t)
{
    target_init(t);
    target_field_set_string(t, target_field_find("name"), "gm");
    target_field_set_string(t, target_field_find("host"), "smtp.gmail.com");
    t->port = 587;
    target_field_set_string(t, target_field_find("username"), "me@example.com");
    target_field_set_string(t, target_field_find("from_address"), "me@example.com");
    t->auth = SMTP_AUTH_XOAUTH2;
    target_field_set_string(t, target_field_find("oauth_token_url"),
                            "https://oauth2.googleapis.com/token");
    target_field_set_string(t, target_field_find("oauth_client_id"), "123.apps");
    target_field_set_string(t, target_field_find("oauth_refresh_token"), "enc:v1:QUJD");
}

/* invalid - T is refused with WANT */
static void invalid(struct target *t, const char *want)
{
    char *err = NULL;

    ck_assert_int_eq(target_validate(t, &err), -1);
    ck_assert_str_eq(err, want);
    free(err);
}

START_TEST(fields_together)
{
    struct target t;
    char *err = NULL;

    oauth_target(&t);
    /* no password needed */
    ck_assert(target_uses_oauth(&t));
    ck_assert_int_eq(target_validate(&t, &err), 0);
    ck_assert(!target_field_required(&t, target_field_find("password")));
    target_field_set_string(&t, target_field_find("oauth_token_url"),
                            "http://oauth2.googleapis.com/token");
    invalid(&t, "oauth_token_url: 'http://oauth2.googleapis.com/token' is not an https:// URL: "
                "the token endpoint is reached over HTTPS only, e.g. "
                "https://oauth2.googleapis.com/token");
    target_field_set_string(&t, target_field_find("oauth_token_url"), "https://a b/token");
    ck_assert_int_eq(target_validate(&t, &err), -1);
    free(err);
    err = NULL;
    target_field_set_string(&t, target_field_find("oauth_token_url"), "https://x.example/t");
    target_field_set_string(&t, target_field_find("oauth_token_command"), "get-token");
    invalid(&t, "oauth_token_command: set either oauth_token_url (a refresh token grant) or "
                "oauth_token_command, not both");
    target_field_set_string(&t, target_field_find("oauth_token_command"), "");
    t.auth = SMTP_AUTH_PLAIN;
    invalid(&t, "password must be encrypted: run 'byosmtpctl encrypt gm' and paste its "
                "enc:v1:\xe2\x80\xa6 output, or use password_file");
    target_field_set_string(&t, target_field_find("password"), "enc:v1:QUJD");
    invalid(&t, "oauth_token_url: is used only with auth = \"xoauth2\" (byosmtpctl: --auth "
                "xoauth2); or clear it (--oauth-token-url \"\")");
    t.auth = SMTP_AUTH_XOAUTH2;
    target_field_set_string(&t, target_field_find("oauth_client_id"), "");
    invalid(&t, "oauth_client_id: is required with oauth_token_url (the OAuth2 client id of the "
                "app registration)");
    target_field_set_string(&t, target_field_find("oauth_client_id"), "c");
    target_field_set_string(&t, target_field_find("oauth_refresh_token"), "");
    invalid(&t, "oauth_refresh_token: is required with oauth_token_url (byosmtpctl: "
                "--oauth-refresh-token-file F; targets.conf: the output of 'byosmtpctl encrypt "
                "gm')");
    target_field_set_string(&t, target_field_find("oauth_refresh_token"), "clear-text");
    invalid(&t, "oauth_refresh_token must be encrypted: run 'byosmtpctl encrypt gm' and paste its "
                "enc:v1:\xe2\x80\xa6 output, or give it with 'byosmtpctl target set gm "
                "--oauth-refresh-token-file F'");
    /* a token command alone needs no endpoint fields */
    target_field_set_string(&t, target_field_find("oauth_refresh_token"), "");
    target_field_set_string(&t, target_field_find("oauth_token_url"), "");
    target_field_set_string(&t, target_field_find("password"), "");
    target_field_set_string(&t, target_field_find("oauth_token_command"), "oama access me");
    ck_assert_int_eq(target_validate(&t, &err), 0);
    target_free(&t);
}
END_TEST

START_TEST(class_and_presets)
{
    struct smtp_verdict v = smtp_trouble_event(SMTP_EV_OAUTH);
    const struct provider *g = provider_find("gmail-oauth"), *m = provider_find("office365-oauth");

    /* like a refused password: deferred until an admin mends it, never bounced */
    ck_assert_int_eq(v.cls, SMTP_OAUTH_REFRESH_FAILED);
    ck_assert_int_eq(v.action, SMTP_RETRY);
    ck_assert_str_eq(smtp_class_name(v.cls), "oauth_refresh_failed");
    ck_assert_int_eq(smtp_class_parse("oauth_refresh_failed"), SMTP_OAUTH_REFRESH_FAILED);
    ck_assert_ptr_nonnull(strstr(smtp_class_hint(v.cls), "re-consent"));
    ck_assert_ptr_nonnull(strstr(smtp_class_hint(v.cls), "\"Testing\" after 7 days"));
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->auth, SMTP_AUTH_XOAUTH2);
    ck_assert_str_eq(g->oauth_token_url, "https://oauth2.googleapis.com/token");
    ck_assert_str_eq(g->oauth_scope, "https://mail.google.com/");
    ck_assert_str_eq(g->host, "smtp.gmail.com");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->oauth_token_url,
                     "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    ck_assert_str_eq(m->oauth_scope, "https://outlook.office.com/SMTP.Send offline_access");
    ck_assert_int_eq(m->max_connections, 3);
    ck_assert_int_eq(valid_oauth_url(g->oauth_token_url, NULL), 0);
    ck_assert_int_eq(valid_oauth_url(m->oauth_token_url, NULL), 0);
    /* the plain presets are unchanged, and the hosts' quirks stay those of the first preset */
    ck_assert_int_eq(provider_find("gmail")->auth, SMTP_AUTH_AUTO);
    ck_assert_ptr_eq(provider_by_host("smtp.gmail.com"), provider_find("gmail"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oauth");
    TCase *tc = tcase_create("oauth");

    tcase_add_test(tc, reply_ok);
    tcase_add_test(tc, reply_refused);
    tcase_add_test(tc, refresh_ahead);
    tcase_add_test(tc, fields_together);
    tcase_add_test(tc, class_and_presets);
    suite_add_tcase(s, tc);
    return test_run(s);
}
