/* check_smtp_sasl - SASL mechanisms against known answers, base64, and the choice of mechanism */
#include "config.h"

#include "smtp/sasl.h"
#include "smtp/smtp_reply.h"
#include "testutil.h"

START_TEST(plain_known_answer)
{
    char *r = sasl_plain("tim", "tanstaaftanstaaf");

    ck_assert_str_eq(r, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    free_secret(r);
}
END_TEST

START_TEST(cram_md5_rfc2195_example)
{
    char *err = NULL;
    char *r = sasl_cram_md5("tim", "tanstaaftanstaaf",
                            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", &err);
    struct buf dec;

    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    buf_init(&dec);
    ck_assert_int_eq(sasl_b64_decode(r, &dec, &err), 0);
    ck_assert_str_eq(dec.data, "tim b913a602c7eda7a495b4e6e7334d3890");
    buf_free(&dec);
    free_secret(r);
}
END_TEST

START_TEST(cram_md5_refuses_garbage_challenge)
{
    char *err = NULL;
    char *r = sasl_cram_md5("tim", "pw", "not base64!", &err);

    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(strstr(err, "pw"));
    free(err);
}
END_TEST

START_TEST(xoauth2_format)
{
    char *r = sasl_xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
    struct buf dec;
    char *err = NULL;

    ck_assert_str_eq(r, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
                        "YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
    buf_init(&dec);
    ck_assert_int_eq(sasl_b64_decode(r, &dec, &err), 0);
    ck_assert_uint_eq(dec.len, strlen("user=someuser@example.com\001auth=Bearer "
                                      "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001"));
    ck_assert(memcmp(dec.data + dec.len - 2, "\001\001", 2) == 0);
    buf_free(&dec);
    free_secret(r);
}
END_TEST

START_TEST(base64_round_trip_and_errors)
{
    struct buf b;
    char *err = NULL;
    char *e;

    buf_init(&b);
    for (size_t n = 0; n < 10; n++) {
        e = sasl_b64_encode("abcdefghij", n);
        ck_assert_int_eq(sasl_b64_decode(e, &b, &err), 0);
        ck_assert_uint_eq(b.len, n);
        ck_assert(memcmp(b.data, "abcdefghij", n) == 0);
        free(e);
    }
    ck_assert_int_eq(sasl_b64_decode("VXNlcm5hbWU6", &b, &err), 0);
    ck_assert_str_eq(b.data, "Username:");
    ck_assert_int_eq(sasl_b64_decode("abc", &b, &err), -1);
    free(err);
    err = NULL;
    ck_assert_int_eq(sasl_b64_decode("ab!d", &b, &err), -1);
    free(err);
    buf_free(&b);
}
END_TEST

START_TEST(choice_of_mechanism)
{
    unsigned all = SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN | SMTP_AUTH_MECH_CRAM_MD5 |
                   SMTP_AUTH_MECH_XOAUTH2;

    ck_assert_int_eq(sasl_choose(all, SASL_NONE), SASL_CRAM_MD5);
    ck_assert_int_eq(sasl_choose(SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN, SASL_NONE), SASL_PLAIN);
    ck_assert_int_eq(sasl_choose(SMTP_AUTH_MECH_LOGIN, SASL_NONE), SASL_LOGIN);
    /* XOAUTH2 only when asked for */
    ck_assert_int_eq(sasl_choose(SMTP_AUTH_MECH_XOAUTH2, SASL_NONE), SASL_NONE);
    ck_assert_int_eq(sasl_choose(all, SASL_XOAUTH2), SASL_XOAUTH2);
    /* an explicit mechanism the server does not offer is not replaced by another */
    ck_assert_int_eq(sasl_choose(SMTP_AUTH_MECH_PLAIN, SASL_CRAM_MD5), SASL_NONE);
    ck_assert_int_eq(sasl_choose(0, SASL_NONE), SASL_NONE);
    ck_assert_str_eq(sasl_mech_name(SASL_CRAM_MD5), "CRAM-MD5");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtp_sasl");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, plain_known_answer);
    tcase_add_test(tc, cram_md5_rfc2195_example);
    tcase_add_test(tc, cram_md5_refuses_garbage_challenge);
    tcase_add_test(tc, xoauth2_format);
    tcase_add_test(tc, base64_round_trip_and_errors);
    tcase_add_test(tc, choice_of_mechanism);
    suite_add_tcase(s, tc);
    return test_run(s);
}
