/*
 * check_trusted - CIDR matching of client addresses (trusted.c): IPv4, IPv6, v4-mapped v6,
 * prefix boundaries, hosts without an address, and bad entries.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "testutil.h"
#include "milter/trusted.h"

/* make - a trusted list from literal strings */
static struct trusted *make(const char **nets, size_t n)
{
    struct conf_strlist l = {(char **)nets, n};
    struct trusted *t = NULL;
    char *err = NULL;

    ck_assert_int_eq(trusted_parse(&l, &t, &err), 0);
    ck_assert_ptr_null(err);
    return t;
}

START_TEST(test_v4)
{
    const char *nets[] = {"127.0.0.0/8", "192.0.2.128/25", "198.51.100.7"};
    struct trusted *t = make(nets, 3);

    ck_assert(trusted_match_text(t, "127.0.0.1"));
    ck_assert(trusted_match_text(t, "127.255.255.255"));
    ck_assert(!trusted_match_text(t, "128.0.0.1"));
    ck_assert(trusted_match_text(t, "192.0.2.128"));
    ck_assert(trusted_match_text(t, "192.0.2.255"));
    ck_assert(!trusted_match_text(t, "192.0.2.127"));
    ck_assert(trusted_match_text(t, "198.51.100.7"));
    ck_assert(!trusted_match_text(t, "198.51.100.8"));
    ck_assert(!trusted_match_text(t, "not an address"));
    trusted_free(t);
}
END_TEST

START_TEST(test_v6_and_mapped)
{
    const char *nets[] = {"::1/128", "2001:db8::/32", "10.0.0.0/8"};
    struct trusted *t = make(nets, 3);

    ck_assert(trusted_match_text(t, "::1"));
    ck_assert(!trusted_match_text(t, "::2"));
    ck_assert(trusted_match_text(t, "2001:db8:ffff::1"));
    ck_assert(!trusted_match_text(t, "2001:db9::1"));
    /* a v4 client reported in v6 form by a dual-stack MTA */
    ck_assert(trusted_match_text(t, "::ffff:10.1.2.3"));
    ck_assert(!trusted_match_text(t, "::ffff:11.1.2.3"));
    /* a v4 network does not match the v6 address that merely has the same low bits */
    ck_assert(!trusted_match_text(t, "::10.1.2.3"));
    trusted_free(t);
}
END_TEST

START_TEST(test_sockaddr)
{
    const char *nets[] = {"127.0.0.0/8", "::1/128"};
    struct trusted *t = make(nets, 2);
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    struct sockaddr_un su = {.sun_family = AF_UNIX};

    inet_pton(AF_INET, "127.0.0.2", &s4.sin_addr);
    ck_assert(trusted_match(t, (struct sockaddr *)&s4));
    inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
    ck_assert(!trusted_match(t, (struct sockaddr *)&s4));
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    ck_assert(trusted_match(t, (struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
    ck_assert(trusted_match(t, (struct sockaddr *)&s6));
    inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
    ck_assert(!trusted_match(t, (struct sockaddr *)&s6));
    ck_assert(!trusted_match(t, (struct sockaddr *)&su));
    ck_assert(!trusted_match(t, NULL));
    trusted_free(t);
}
END_TEST

START_TEST(test_odd_prefixes)
{
    const char *nets[] = {"0.0.0.0/0"};
    const char *none[] = {"192.0.2.0/23"};
    struct trusted *t = make(nets, 1), *u;
    struct conf_strlist empty = {NULL, 0};
    char *err = NULL;

    ck_assert(trusted_match_text(t, "203.0.113.9"));
    ck_assert(trusted_match_text(t, "::ffff:203.0.113.9"));
    ck_assert(!trusted_match_text(t, "2001:db8::1"));
    trusted_free(t);
    /* /23: the bit boundary inside a byte */
    t = make(none, 1);
    ck_assert(trusted_match_text(t, "192.0.3.255"));
    ck_assert(!trusted_match_text(t, "192.0.4.0"));
    trusted_free(t);
    /* an empty list trusts nobody */
    ck_assert_int_eq(trusted_parse(&empty, &u, &err), 0);
    ck_assert(!trusted_match_text(u, "127.0.0.1"));
    trusted_free(u);
}
END_TEST

START_TEST(test_bad)
{
    const char *bad[] = {"127.0.0.0/33", "::1/129", "example.com", "10.0.0.0/", "10.0.0.0/x"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct conf_strlist l = {(char **)&bad[i], 1};
        struct trusted *t = (struct trusted *)1;
        char *err = NULL;

        ck_assert_int_eq(trusted_parse(&l, &t, &err), -1);
        ck_assert_ptr_null(t);
        ck_assert_ptr_nonnull(strstr(err, bad[i]));
        free(err);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trusted");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_v4);
    tcase_add_test(tc, test_v6_and_mapped);
    tcase_add_test(tc, test_sockaddr);
    tcase_add_test(tc, test_odd_prefixes);
    tcase_add_test(tc, test_bad);
    suite_add_tcase(s, tc);
    return test_run(s);
}
