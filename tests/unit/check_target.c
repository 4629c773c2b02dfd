/*
 * check_target - the target module: single-value checks (addresses, hosts, names, rates,
 * header text), route keys, targets.conf parsing with its exact FILE:LINE errors, the dump
 * format's round trip, the store record's round trip, and that no error shows a password.
 */
#include "config.h"

#include "testutil.h"
#include "store/target.h"

/* A valid target's required settings, one macro each so a case can leave one out or vary it. */
#define NAME "name = \"acme\"; "
#define HOST "host = \"smtp.example.net\"; "
#define PORT "port = 587; "
#define USER "username = \"apikey\"; "
#define PASS "password = \"enc:v1:AAAAsecretBBBB\"; "
#define FROM "from_address = \"noreply@acme.example\"; "
#define REQ NAME HOST PORT USER PASS FROM
#define ONE(body) "targets = ( { " body "} );\n"

/* parse_text - write TEXT to a fresh targets.conf and parse it; returns rc, fills *err, *path */
static int parse_text(const char *text, struct target_set *set, char ***pwfiles, char **err,
                      char **dir, char **path)
{
    *dir = test_tmpdir();
    *path = test_write(*dir, "targets.conf", text, 0600);
    return target_set_parse_file(*path, set, pwfiles, err);
}

/* expect_error - TEXT must fail with exactly "PATH:LINE: MSG" */
static void expect_error(const char *text, int line, const char *msg)
{
    struct target_set set;
    char *err = NULL, *dir, *path, *want;
    char **pw = (char **)1;

    ck_assert_int_eq(parse_text(text, &set, &pw, &err, &dir, &path), -1);
    want = xasprintf("%s:%d: %s", path, line, msg);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(set.ntargets, 0);
    ck_assert_uint_eq(set.nroutes, 0);
    ck_assert_ptr_null(pw);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}

/* ---- single values ---- */

static const char *const good_addresses[] = {
    "user@example.com",
    "first.last@example.com",
    "user+tag@sub.example.co.uk",
    "x@localhost",
    "!#$%&'*+-/=?^_`{|}~@example.com",
    "\"a..b\"@example.com",
    "\"a@b\"@example.com",
    "\"quote\\\"inside\"@example.com",
    "\"\"@example.com",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[ipv6:::1]",
    "j\xc3\xbcrgen@m\xc3\xbcller.example", /* RFC 6531 */
    "user@xn--mller-kva.example",
    "user@a-b.example",
    "user@1a.example",
    "user@example.c0m",
};

START_TEST(address_valid)
{
    char *err = NULL;

    for (size_t i = 0; i < sizeof(good_addresses) / sizeof(*good_addresses); i++) {
        if (valid_address(good_addresses[i], &err) != 0)
            ck_abort_msg("'%s' rejected: %s", good_addresses[i], err);
    }
    ck_assert_ptr_null(err);
}
END_TEST

static const struct {
    const char *addr;
    const char *err;
} bad_addresses[] = {
    {"", "'' is not a valid address: the address is empty"},
    {"userexample.com", "'userexample.com' is not a valid address: there is no '@'; write "
                        "local-part@domain"},
    {"@example.com", "'@example.com' is not a valid address: the local part (before the '@') is "
                     "empty"},
    {"user@", "'user@' is not a valid address: the domain (after the '@') is empty"},
    {"us er@example.com", "'us er@example.com' is not a valid address: contains a space"},
    {"<user@example.com>", "'<user@example.com>' is not a valid address: contains an angle "
                           "bracket; give the bare address, without < >"},
    {"user@example.com\r\nBcc: x@y", "'user@example.com\\x0d\\x0aBcc: x@y' is not a valid "
                                     "address: contains a line break (CR or LF) or NUL"},
    {"user\t@example.com", "'user\\x09@example.com' is not a valid address: contains a control "
                           "character"},
    {".user@example.com", "'.user@example.com' is not a valid address: the local part may not "
                          "start or end with a dot"},
    {"user.@example.com", "'user.@example.com' is not a valid address: the local part may not "
                          "start or end with a dot"},
    {"a..b@example.com", "'a..b@example.com' is not a valid address: the local part has two "
                         "dots in a row (only allowed when quoted: \"a..b\"@example.com)"},
    {"a\"b@example.com", "'a\"b@example.com' is not a valid address: the local part contains "
                         "'\"', which is only allowed when it is quoted (\"...\"@example.com)"},
    {"a,b@example.com", "'a,b@example.com' is not a valid address: the local part contains ',', "
                        "which is only allowed when it is quoted (\"...\"@example.com)"},
    {"\"abc@example.com", "'\"abc@example.com' is not a valid address: the quoted local part has "
                          "no closing double quote"},
    {"\"a\"b\"@example.com", "'\"a\"b\"@example.com' is not a valid address: a double quote "
                             "inside the quoted local part must be escaped as \\\""},
    {"\"ab\\\"@example.com", "'\"ab\\x5c\"@example.com' is not a valid address: the quoted local "
                             "part ends with a lone backslash"},
    {"user@example..com", "'user@example..com' is not a valid address: the domain has an empty "
                          "label (two dots in a row, or a dot at the start)"},
    {"user@.example.com", "'user@.example.com' is not a valid address: the domain has an empty "
                          "label (two dots in a row, or a dot at the start)"},
    {"user@example.com.", "'user@example.com.' is not a valid address: the domain ends with a "
                          "dot; remove it"},
    {"user@-example.com", "'user@-example.com' is not a valid address: a label of the domain "
                          "starts or ends with '-'"},
    {"user@example-.com", "'user@example-.com' is not a valid address: a label of the domain "
                          "starts or ends with '-'"},
    {"user@exa_mple.com", "'user@exa_mple.com' is not a valid address: the domain contains '_'; "
                          "only letters, digits, '-' and '.' are allowed"},
    {"user@192.0.2.1", "'user@192.0.2.1' is not a valid address: the domain ends in a numeric "
                       "label; write an IP address as [192.0.2.1]"},
    {"user@[192.0.2.256]", "'user@[192.0.2.256]' is not a valid address: an address literal "
                           "must be [IPv4] or [IPv6:...], e.g. [192.0.2.1] or [IPv6:2001:db8::1]"},
    {"user@[2001:db8::1]", "'user@[2001:db8::1]' is not a valid address: an address literal "
                           "must be [IPv4] or [IPv6:...], e.g. [192.0.2.1] or [IPv6:2001:db8::1]"},
    {"user@[IPv6:2001:db8::g]", "'user@[IPv6:2001:db8::g]' is not a valid address: the address "
                                "literal does not hold a valid IPv6 address"},
    {"user@[192.0.2.1", "'user@[192.0.2.1' is not a valid address: the address literal has no "
                        "closing ']'"},
    {"j\xc3@example.com", "'j\xc3@example.com' is not a valid address: the local part is not "
                          "valid UTF-8"},
    {"j@\xed\xa0\x80.example", "'j@\xed\xa0\x80.example' is not a valid address: the domain is "
                               "not valid UTF-8"},
    {"j@\xc0\xaf.example", "'j@\xc0\xaf.example' is not a valid address: the domain is not "
                           "valid UTF-8"},
};

START_TEST(address_invalid)
{
    char *err = NULL;

    for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(*bad_addresses); i++) {
        if (valid_address(bad_addresses[i].addr, &err) != -1)
            ck_abort_msg("'%s' accepted", bad_addresses[i].addr);
        ck_assert_str_eq(err, bad_addresses[i].err);
    }
    free(err);
}
END_TEST

START_TEST(address_lengths)
{
    char local[70], addr[300], *err = NULL;
    size_t n;

    /* local part: 64 allowed, 65 not */
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(addr, sizeof(addr), "%s@example.com", local);
    ck_assert_int_eq(valid_address(addr, &err), 0);
    snprintf(addr, sizeof(addr), "a%s@example.com", local);
    ck_assert_int_eq(valid_address(addr, &err), -1);
    ck_assert(strstr(err, "the local part is 65 bytes long; at most 64 are allowed") != NULL);

    /* label: 63 allowed, 64 not */
    snprintf(addr, sizeof(addr), "u@%.63s.example",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    ck_assert_int_eq(valid_address(addr, &err), 0);
    snprintf(addr, sizeof(addr), "u@%.64s.example",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    ck_assert_int_eq(valid_address(addr, &err), -1);
    ck_assert(strstr(err, "a label of the domain is 64 bytes long; at most 63 are allowed") !=
              NULL);

    /* whole address: 254 allowed, 255 not (labels of 50 + dots) */
    strcpy(addr, "u@");
    while ((n = strlen(addr)) < 254 - 51)
        strcat(addr, "cccccccccccccccccccccccccccccccccccccccccccccccccc.");
    memset(addr + n, 'd', 254 - n);
    addr[254] = '\0';
    ck_assert_int_eq(valid_address(addr, &err), 0);
    addr[254] = 'd';
    addr[255] = '\0';
    ck_assert_int_eq(valid_address(addr, &err), -1);
    ck_assert(strstr(err, "the address is 255 bytes long; at most 254 are allowed") != NULL);
    free(err);
}
END_TEST

START_TEST(host_table)
{
    static const char *const good[] = {
        "smtp.sendgrid.net",
        "email-smtp.eu-west-1.amazonaws.com",
        "localhost",
        "127.0.0.1",
        "::1",
        "[::1]",
        "2001:db8::25",
        "[2001:db8::25]",
        "a-b.example",
        "MAIL.Example.COM",
    };
    static const struct {
        const char *host;
        const char *err;
    } bad[] = {
        {"", "'' is not a valid host: the host is empty"},
        {"smtp.example.com.", "'smtp.example.com.' is not a valid host: the host name ends with "
                              "a dot; remove it"},
        {"smtp..example.com", "'smtp..example.com' is not a valid host: the host name has an "
                              "empty label (two dots in a row, or a dot at the start)"},
        {"-smtp.example.com", "'-smtp.example.com' is not a valid host: a label of the host name "
                              "starts or ends with '-'"},
        {"smtp_1.example.com", "'smtp_1.example.com' is not a valid host: the host name contains "
                               "'_'; only letters, digits, '-' and '.' are allowed"},
        {"smtp.example.com:587", "'smtp.example.com:587' is not a valid host: give the port in "
                                 "the port setting, not after the host"},
        {"2001:db8::g", "'2001:db8::g' is not a valid host: the host is not a valid IPv6 "
                        "address"},
        {"256.1.1.1", "'256.1.1.1' is not a valid host: the host is not a valid IPv4 address"},
        {"1.2.3", "'1.2.3' is not a valid host: the host is not a valid IPv4 address"},
        {"[127.0.0.1]", "'[127.0.0.1]' is not a valid host: [...] must hold an IPv6 address, "
                        "e.g. [2001:db8::1]"},
        {"[::1", "'[::1' is not a valid host: [...] must hold an IPv6 address, e.g. "
                 "[2001:db8::1]"},
        {"smtp example", "'smtp example' is not a valid host: contains a space"},
        {"smtp\r\n.example", "'smtp\\x0d\\x0a.example' is not a valid host: contains a line "
                             "break (CR or LF) or NUL"},
        {"m\xc3\xbcller.example", "'m\xc3\xbcller.example' is not a valid host: the host name "
                                  "contains a non-ASCII character; write an internationalised "
                                  "name in its ASCII form (xn--...)"},
        {"example.123", "'example.123' is not a valid host: the host name ends in a numeric "
                        "label; write an IP address as [192.0.2.1]"},
    };
    char *err = NULL;

    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        if (valid_host(good[i], &err) != 0)
            ck_abort_msg("host '%s' rejected: %s", good[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (valid_host(bad[i].host, &err) != -1)
            ck_abort_msg("host '%s' accepted", bad[i].host);
        ck_assert_str_eq(err, bad[i].err);
    }
    free(err);
}
END_TEST

START_TEST(name_rate_header_checks)
{
    static const char *const good_names[] = {
        "acme", "a", "acme-eu.2", "x_y",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    static const char *const bad_names[] = {
        "",
        "Acme",
        "ac me",
        "acme/x",
        ".",
        "..",
        "caf\xc3\xa9",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    static const char *const good_rates[] = {"", "1/s", "14/s", "30/m", "1000000/m"};
    static const char *const bad_rates[] = {"0/s",  "14",        "14/h",  "/s",         "14/sec",
                                            "-1/s", "1000001/s", "14 /s", "99999999/s", "+5/s"};
    char big[1100], *err = NULL;

    for (size_t i = 0; i < sizeof(good_names) / sizeof(*good_names); i++)
        ck_assert_msg(valid_target_name(good_names[i], &err) == 0, "%s", good_names[i]);
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++)
        ck_assert_msg(valid_target_name(bad_names[i], &err) == -1, "%s", bad_names[i]);
    ck_assert_str_eq(err, "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is "
                          "not a valid target name: use [a-z0-9._-]{1,64} (lower-case letters, "
                          "digits, '.', '_' and '-'; not '.' or '..')");

    for (size_t i = 0; i < sizeof(good_rates) / sizeof(*good_rates); i++)
        ck_assert_msg(valid_rate(good_rates[i], &err) == 0, "%s", good_rates[i]);
    for (size_t i = 0; i < sizeof(bad_rates) / sizeof(*bad_rates); i++)
        ck_assert_msg(valid_rate(bad_rates[i], &err) == -1, "%s", bad_rates[i]);
    ck_assert_str_eq(err, "'+5/s' is not a valid rate: write N/s (per second) or N/m (per "
                          "minute) with N from 1 to 1000000, e.g. \"14/s\"");

    ck_assert_int_eq(valid_header_text("from_name", "Acme \"Billing\"\tDept", &err), 0);
    ck_assert_int_eq(valid_header_text("from_name", "Acme\r\nBcc: victim@example.com", &err), -1);
    ck_assert_str_eq(err, "from_name: contains a line break (CR or LF), which could inject a "
                          "mail header; remove it");
    ck_assert_int_eq(valid_header_text("from_name", "Acme\n", &err), -1);
    ck_assert_int_eq(valid_header_text("from_name", "Acme\r", &err), -1);
    memset(big, 'x', 998);
    big[998] = '\0';
    ck_assert_int_eq(valid_header_text("from_name", big, &err), 0);
    big[998] = 'x';
    big[999] = '\0';
    ck_assert_int_eq(valid_header_text("from_name", big, &err), -1);
    ck_assert_str_eq(err, "from_name: is 999 bytes long; at most 998 are allowed");
    free(err);
}
END_TEST

START_TEST(enum_names)
{
    ck_assert_int_eq(smtp_security_parse("starttls"), SMTP_SEC_STARTTLS);
    ck_assert_int_eq(smtp_security_parse("TLS"), SMTP_SEC_TLS);
    ck_assert_int_eq(smtp_security_parse("none"), SMTP_SEC_NONE);
    ck_assert_int_eq(smtp_security_parse("ssl"), -1);
    ck_assert_str_eq(smtp_security_name(SMTP_SEC_TLS), "tls");
    ck_assert_int_eq(smtp_auth_parse("cram-md5"), SMTP_AUTH_CRAM_MD5);
    ck_assert_int_eq(smtp_auth_parse("XOAUTH2"), SMTP_AUTH_XOAUTH2);
    ck_assert_int_eq(smtp_auth_parse("digest-md5"), -1);
    ck_assert_str_eq(smtp_auth_name(SMTP_AUTH_LOGIN), "login");
    ck_assert_str_eq(smtp_auth_name(SMTP_AUTH_AUTO), "auto");
}
END_TEST

/* ---- routes ---- */

START_TEST(route_normalise_table)
{
    static const struct {
        const char *in;
        const char *out;
    } good[] = {
        {"*", "*"},
        {"User+Detail@Example.COM", "User+Detail@example.com"},
        {"user@example.com", "user@example.com"},
        {"@Example.Com", "@example.com"},
        {".Example.Com", ".example.com"},
        {".com", ".com"},
        {"\"Odd@Local\"@EXAMPLE.org", "\"Odd@Local\"@example.org"},
        {"@[192.0.2.1]", "@[192.0.2.1]"},
        {"@[IPv6:2001:DB8::1]", "@[ipv6:2001:db8::1]"},
        {"@M\xc3\x9cLLER.example", "@m\xc3\x9cller.example"},
    };
    static const struct {
        const char *in;
        const char *err;
    } bad[] = {
        {"", "'': route match must be user@domain, @domain, .domain or *"},
        {"example.com", "'example.com': route match must be user@domain, @domain, .domain or * "
                        "(a whole domain is written @example.com, its subdomains .example.com)"},
        {"*@example.com", "'*@example.com': route match must be user@domain, @domain, .domain "
                          "or * (a whole domain is written @example.com)"},
        {"*.example.com", "'*.example.com': route match must be user@domain, @domain, .domain "
                          "or * (every subdomain is written .example.com)"},
        {"**", "'**': route match must be user@domain, @domain, .domain or * (a whole domain is "
               "written @example.com, its subdomains .example.com)"},
        {"@", "route match '@': the domain (after the '@') is empty"},
        {".", "route match '.': the domain (after the '@') is empty"},
        {"@exa mple.com", "route match '@exa mple.com': the domain contains ' '; only letters, "
                          "digits, '-' and '.' are allowed"},
        {"@example.com.", "route match '@example.com.': the domain ends with a dot; remove it"},
        {"..example.com", "route match '..example.com': the domain has an empty label (two dots "
                          "in a row, or a dot at the start)"},
        {".[192.0.2.1]", "route match '.[192.0.2.1]': an address literal has no subdomains; "
                         "write @[...] instead"},
        {"a..b@example.com", "route match 'a..b@example.com': the local part has two dots in a "
                             "row (only allowed when quoted: \"a..b\"@example.com)"},
        {"user@exam_ple.com", "route match 'user@exam_ple.com': the domain contains '_'; only "
                              "letters, digits, '-' and '.' are allowed"},
        {"<user@example.com>", "route match '<user@example.com>': contains an angle bracket; "
                               "give the bare address, without < >"},
        {"user@example.com\n", "route match 'user@example.com\\x0a': contains a line break (CR "
                               "or LF) or NUL"},
    };
    char *err = NULL, *out;

    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        out = route_normalise(good[i].in, &err);
        if (out == NULL)
            ck_abort_msg("'%s' rejected: %s", good[i].in, err);
        ck_assert_str_eq(out, good[i].out);
        free(out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        out = route_normalise(bad[i].in, &err);
        if (out != NULL)
            ck_abort_msg("'%s' accepted as '%s'", bad[i].in, out);
        ck_assert_str_eq(err, bad[i].err);
    }
    free(err);
}
END_TEST

/* expect_keys - route_candidates(RCPT) must give exactly the NULL-terminated list WANT */
static void expect_keys(const char *rcpt, size_t len, const char *const *want)
{
    char **keys;
    size_t n, i;

    ck_assert_int_eq(route_candidates(rcpt, len, &keys, &n), 0);
    for (i = 0; want[i] != NULL; i++) {
        ck_assert_msg(i < n, "'%s': only %zu keys, wanted '%s' next", rcpt, n, want[i]);
        ck_assert_msg(strcmp(keys[i], want[i]) == 0, "'%s': key %zu is '%s', wanted '%s'", rcpt, i,
                      keys[i], want[i]);
    }
    ck_assert_msg(i == n, "'%s': %zu keys, wanted %zu", rcpt, n, i);
    route_candidates_free(keys, n);
}

#define KEYS(rcpt, ...)                                                                            \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__, NULL};                                    \
        expect_keys(rcpt, strlen(rcpt), want_);                                                    \
    } while (0)

START_TEST(route_candidates_order)
{
    /* the full documented order (byosmtp-targets(5)), with every parent domain */
    KEYS("user+detail@a.b.example.com", "user+detail@a.b.example.com", "user@a.b.example.com",
         "@a.b.example.com", ".b.example.com", ".example.com", ".com", "*");
    /* ".example.com" is never a key for example.com itself */
    KEYS("user@example.com", "user@example.com", "@example.com", ".com", "*");
    KEYS("postmaster@localhost", "postmaster@localhost", "@localhost", "*");
    /* case folding: the domain only */
    KEYS("John.Doe+News@Mail.EXAMPLE.Com", "John.Doe+News@mail.example.com",
         "John.Doe@mail.example.com", "@mail.example.com", ".example.com", ".com", "*");
    /* several '+': split at the first */
    KEYS("a+b+c@example.com", "a+b+c@example.com", "a@example.com", "@example.com", ".com", "*");
    /* a leading '+' has no user part to fall back to */
    KEYS("+x@example.com", "+x@example.com", "@example.com", ".com", "*");
    /* quoted local part: split at the last '@', kept whole (no +detail rule) */
    KEYS("\"a@b+c\"@Example.COM", "\"a@b+c\"@example.com", "@example.com", ".com", "*");
    /* one trailing dot of the domain is dropped */
    KEYS("user@Example.com.", "user@example.com", "@example.com", ".com", "*");
    /* IP literals have no parent domains */
    KEYS("user@[192.0.2.1]", "user@[192.0.2.1]", "@[192.0.2.1]", "*");
    KEYS("user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]", "@[ipv6:2001:db8::1]", "*");
    /* one pair of angle brackets is tolerated */
    KEYS("<User+x@Example.com>", "User+x@example.com", "User@example.com", "@example.com", ".com",
         "*");
    /* no '@', or nothing after it: only the catch-all */
    KEYS("postmaster", "*");
    KEYS("user@", "*");
    KEYS("user@.", "*");
    /* UTF-8 bytes are left as written, ASCII folded */
    KEYS("j\xc3\xbcrgen@M\xc3\x9cLLER.Example", "j\xc3\xbcrgen@m\xc3\x9cller.example",
         "@m\xc3\x9cller.example", ".example", "*");
}
END_TEST

START_TEST(route_candidates_misses)
{
    char **keys = (char **)1;
    size_t n = 99;

    ck_assert_int_eq(route_candidates("", 0, &keys, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(keys);
    ck_assert_int_eq(route_candidates("<>", 2, &keys, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(route_candidates("user@exa\0mple.com", 17, &keys, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(keys);
    /* LEN is honoured: bytes after it are not part of the address */
    {
        static const char *const want[] = {"user@example.com", "@example.com", ".com", "*", NULL};

        expect_keys("user@example.comXYZ", 16, want);
    }
    ck_assert_str_eq(route_rule_name("*"), "catch-all");
    ck_assert_str_eq(route_rule_name("@example.com"), "domain");
    ck_assert_str_eq(route_rule_name(".example.com"), "subdomains");
    ck_assert_str_eq(route_rule_name("user@example.com"), "address");
}
END_TEST

/* ---- targets.conf ---- */

static const char full_file[] =
    "# two targets\n"
    "targets = (\n"
    "  { name = \"acme\"; host = \"smtp.sendgrid.net\"; port = 587; security = \"starttls\";\n"
    "    username = \"apikey\"; password = \"enc:v1:QUJDREVGR0g=\";\n"
    "    from_address = \"noreply@acme.example\"; from_name = \"Acme Billing\"; reply_to = \"\";\n"
    "    auth = \"auto\"; monthly_quota = 10000; rate = \"14/s\"; max_connections = 3;\n"
    "    verify_to = \"\"; tls_verify = true; },\n"
    "  { name = \"globex\"; host = \"email-smtp.eu-west-1.amazonaws.com\"; port = 465;\n"
    "    security = \"tls\"; username = \"AKIAEXAMPLE\"; password_file = \"secrets/globex\";\n"
    "    from_address = \"ops@globex.example\"; auth = \"LOGIN\"; tls_verify = false;\n"
    "    monthly_quota = 5000000000L; }\n"
    ");\n"
    "routes = (\n"
    "  { match = \"@Acme.Example\"; target = \"acme\"; },\n"
    "  { match = \".globex.example\"; target = \"globex\"; },\n"
    "  { match = \"*\"; target = \"acme\"; }\n"
    ");\n";

START_TEST(parse_full_file)
{
    struct target_set set;
    char **pw = NULL, *err = NULL, *dir, *path, *want;
    const struct target *a, *g;

    ck_assert_int_eq(parse_text(full_file, &set, &pw, &err, &dir, &path), 0);
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(set.ntargets, 2);
    ck_assert_uint_eq(set.nroutes, 3);

    a = target_set_find(&set, "acme");
    ck_assert_ptr_eq(a, &set.targets[0]);
    ck_assert_str_eq(a->host, "smtp.sendgrid.net");
    ck_assert_int_eq(a->port, 587);
    ck_assert_int_eq(a->security, SMTP_SEC_STARTTLS);
    ck_assert_str_eq(a->username, "apikey");
    ck_assert_str_eq(a->password_enc, "enc:v1:QUJDREVGR0g=");
    ck_assert_str_eq(a->from_address, "noreply@acme.example");
    ck_assert_str_eq(a->from_name, "Acme Billing");
    ck_assert_int_eq(a->auth, SMTP_AUTH_AUTO);
    ck_assert_uint_eq(a->monthly_quota, 10000);
    ck_assert_str_eq(a->rate, "14/s");
    ck_assert_int_eq(a->max_connections, 3);
    ck_assert(a->tls_verify);
    ck_assert_int_eq(a->line, 3);
    ck_assert_ptr_null(pw[0]);

    g = target_set_find(&set, "globex");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->security, SMTP_SEC_TLS);
    ck_assert_int_eq(g->auth, SMTP_AUTH_LOGIN);
    ck_assert(!g->tls_verify);
    ck_assert_uint_eq(g->monthly_quota, 5000000000ULL);
    ck_assert_str_eq(g->password_enc, ""); /* the caller reads and encrypts the file */
    ck_assert_str_eq(g->from_name, "");
    ck_assert_str_eq(g->rate, "");
    ck_assert_int_eq(g->line, 8);
    /* relative to the directory of targets.conf */
    want = xasprintf("%s/secrets/globex", dir);
    ck_assert_str_eq(pw[1], want);
    free(want);
    ck_assert_ptr_null(target_set_find(&set, "nope"));

    ck_assert_str_eq(set.routes[0].match, "@acme.example");
    ck_assert_str_eq(set.routes[0].target, "acme");
    ck_assert_int_eq(set.routes[0].line, 14);
    ck_assert_str_eq(set.routes[1].match, ".globex.example");
    ck_assert_str_eq(set.routes[2].match, "*");

    target_password_files_free(pw, set.ntargets);
    target_set_free(&set);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(parse_defaults_and_empty)
{
    struct target_set set;
    char **pw = NULL, *err = NULL, *dir, *path;
    const struct target *t;

    /* one minimal target: every optional setting at its default */
    ck_assert_int_eq(parse_text(ONE(REQ), &set, &pw, &err, &dir, &path), 0);
    ck_assert_uint_eq(set.ntargets, 1);
    t = &set.targets[0];
    ck_assert_int_eq(t->security, SMTP_SEC_STARTTLS);
    ck_assert_int_eq(t->auth, SMTP_AUTH_AUTO);
    ck_assert(t->tls_verify);
    ck_assert_uint_eq(t->monthly_quota, 0);
    ck_assert_int_eq(t->max_connections, 0);
    ck_assert_str_eq(t->from_name, "");
    ck_assert_str_eq(t->reply_to, "");
    ck_assert_str_eq(t->verify_to, "");
    ck_assert_str_eq(t->rate, "");
    ck_assert_int_eq(target_validate(t, &err), 0);
    target_password_files_free(pw, set.ntargets);
    target_set_free(&set);
    free(path);
    test_rmdir(dir);

    /* an empty file, comments only, and empty lists are all an empty set */
    static const char *const empties[] = {"", "# nothing yet\n", "targets = ();\nroutes = ();\n",
                                          "targets = [];\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
        ck_assert_int_eq(parse_text(empties[i], &set, &pw, &err, &dir, &path), 0);
        ck_assert_uint_eq(set.ntargets, 0);
        ck_assert_uint_eq(set.nroutes, 0);
        target_password_files_free(pw, set.ntargets);
        target_set_free(&set);
        free(path);
        test_rmdir(dir);
    }

    /* password_files may be NULL when the caller needs no paths */
    ck_assert_int_eq(parse_text(ONE(NAME HOST PORT USER FROM "password_file = \"/p\"; "), &set,
                                NULL, &err, &dir, &path),
                     0);
    ck_assert_uint_eq(set.ntargets, 1);
    target_set_free(&set);
    free(path);
    test_rmdir(dir);
    ck_assert_ptr_null(err);
}
END_TEST

START_TEST(parse_missing_file)
{
    struct target_set set;
    char *err = NULL;

    ck_assert_int_eq(target_set_parse_file("/nonexistent/targets.conf", &set, NULL, &err), -1);
    ck_assert_str_eq(err, "/nonexistent/targets.conf: cannot read: No such file or directory");
    free(err);
}
END_TEST

START_TEST(parse_errors_syntax_and_structure)
{
    expect_error("targets = (\n  { name = ; }\n);\n", 2, "syntax error");
    expect_error("targets = ( { " REQ "port = 25; } );\n", 1, "duplicate setting name");
    expect_error("targets = ();\nroute = ();\n", 2,
                 "unknown setting 'route' (this file holds only 'targets', 'routes' and "
                 "'sender_routes')");
    expect_error("targets = { " REQ "};\n", 1,
                 "targets: must be a list of groups: targets = ( { ... }, { ... } );");
    expect_error("targets = ( \"acme\" );\n", 1,
                 "targets: each entry must be a group { name = \"...\"; ... }");
    expect_error("targets = ();\nroutes = ( \"*\" );\n", 2,
                 "routes: each entry must be a group { match = \"...\"; target = \"...\"; }");
    expect_error("targets = (\n  {\n    " REQ "\n    hostname = \"x\";\n  }\n);\n", 4,
                 "unknown setting 'hostname' in a target (known: name, host, port, security, "
                 "username, password, password_file, from_address, from_name, reply_to, auth, "
                 "oauth_token_url, oauth_client_id, oauth_client_secret, oauth_refresh_token, "
                 "oauth_scope, oauth_token_command, "
                 "monthly_quota, rate, max_connections, verify_to, tls_verify, envelope_from, "
                 "allowed_senders, fallback_hosts, fallback, fallback_after)");
}
END_TEST

START_TEST(parse_errors_required)
{
    expect_error("targets = (\n  { " HOST PORT USER PASS FROM "}\n);\n", 2,
                 "a target without a name: every target needs name = \"...\";");
    expect_error(ONE(NAME PORT USER PASS FROM), 1,
                 "target 'acme': missing required setting 'host'");
    expect_error(ONE(NAME HOST USER PASS FROM), 1,
                 "target 'acme': missing required setting 'port'");
    expect_error(ONE(NAME HOST PORT PASS FROM), 1,
                 "target 'acme': missing required setting 'username'");
    expect_error(ONE(NAME HOST PORT USER PASS), 1,
                 "target 'acme': missing required setting 'from_address'");
    expect_error("targets = (\n  { " NAME HOST PORT USER FROM "}\n);\n", 2,
                 "target 'acme': missing password: set password = \"enc:v1:\xe2\x80\xa6\" (the "
                 "output of 'byosmtpctl encrypt acme') or password_file = \"PATH\"");
    expect_error("targets = ( { " REQ "\n password_file = \"/etc/byosmtp/secrets/acme\"; } );\n", 2,
                 "target 'acme': set either password or password_file, not both");
    expect_error(ONE(NAME HOST PORT USER FROM "password_file = \"\"; "), 1,
                 "password_file: is empty; give the path of a file that holds the password");
    expect_error(ONE(NAME HOST PORT "username = \"\"; " PASS FROM), 1,
                 "username: is required (the SMTP AUTH user name)");
    expect_error(ONE(NAME "host = \"\"; " PORT USER PASS FROM), 1, "host: is required");
    expect_error(ONE(NAME HOST PORT USER PASS "from_address = \"\"; "), 1,
                 "from_address: is required");
}
END_TEST

/* parse_ok - TEXT parses; the set is returned in *SET */
static void parse_ok(const char *text, struct target_set *set)
{
    char *dir = test_tmpdir(), *path = test_write(dir, "targets.conf", text, 0600), *err = NULL;

    ck_assert_msg(target_set_parse_file(path, set, NULL, &err) == 0, "%s", err);
    free(path);
    test_rmdir(dir);
}

START_TEST(parse_sender_routing)
{
    struct target_set set;

    /* auth none without credentials; allowed_senders normalised; both route tables */
    parse_ok("targets = (\n  { " NAME HOST PORT FROM "auth = \"none\"; security = \"tls\";\n"
             "    allowed_senders = [ \"@Cust.Example\", \"<>\", \"@cust.example\" ];\n"
             "    envelope_from = \"bounces@b.cust.example\"; }\n);\n"
             "routes = ( { match = \"@acme.example\"; target = \"acme\"; } );\n"
             "sender_routes = ( { match = \"@Cust.Example\"; target = \"acme\"; },\n"
             "  { match = \"*\"; target = \"acme\"; } );\n", &set);
    ck_assert_uint_eq(set.ntargets, 1);
    ck_assert_int_eq(set.targets[0].auth, SMTP_AUTH_NONE);
    ck_assert_str_eq(set.targets[0].username, "");
    ck_assert_str_eq(set.targets[0].password_enc, "");
    ck_assert_str_eq(set.targets[0].allowed_senders, "@cust.example\n<>");
    ck_assert_str_eq(set.targets[0].envelope_from, "bounces@b.cust.example");
    ck_assert_uint_eq(set.nroutes, 1);
    ck_assert_uint_eq(set.nsender_routes, 2);
    ck_assert_str_eq(set.sender_routes[0].match, "@cust.example");
    ck_assert_int_eq(set.sender_routes[0].line, 7);
    ck_assert_str_eq(set.sender_routes[1].match, "*");
    target_set_free(&set);
    ck_assert(route_matches_sender("@cust.example\n<>", "<A@cust.example>"));
    ck_assert(route_matches_sender("@cust.example\n<>", "<>"));
    ck_assert(!route_matches_sender("@cust.example", "<>"));
    ck_assert(!route_matches_sender("@cust.example", "<a@sub.cust.example>"));
    ck_assert(route_matches_sender(".cust.example", "a@sub.cust.example"));
    ck_assert(route_matches_sender("*", "x@y.example"));
    ck_assert(!route_matches_sender("*", ""));
}
END_TEST

START_TEST(parse_errors_sender_routing)
{
    expect_error(ONE(NAME HOST PORT FROM "auth = \"none\"; security = \"none\"; "), 1,
                 "auth: none (a relay that authorises by IP address) needs security starttls or "
                 "tls: without TLS a relay that trusts the address would take mail in clear text");
    expect_error(ONE(NAME HOST PORT USER FROM "auth = \"none\"; "), 1,
                 "username: auth none sends no credentials: remove the username (or choose an "
                 "AUTH mechanism such as auto)");
    expect_error(ONE(NAME HOST PORT PASS FROM "auth = \"none\"; "), 1,
                 "password: auth none sends no credentials: remove the password (or choose an "
                 "AUTH mechanism such as auto)");
    expect_error(ONE(NAME HOST PORT FROM "password_file = \"pw\"; auth = \"none\"; "), 1,
                 "password_file: auth none sends no credentials: remove the password_file (or "
                 "choose an AUTH mechanism such as auto)");
    expect_error(ONE(NAME HOST PORT FROM), 1, "target 'acme': missing required setting 'username'");
    expect_error(ONE(REQ "allowed_senders = \"@x.example\"; "), 1,
                 "allowed_senders: must be a list of strings: allowed_senders = [ "
                 "\"@example.com\", \"user@example.org\" ];");
    expect_error(ONE(REQ "allowed_senders = [ \"example.com\" ]; "), 1,
                 "allowed_senders: 'example.com': route match must be user@domain, @domain, "
                 ".domain or * (a whole domain is written @example.com, its subdomains "
                 ".example.com)");
    expect_error(ONE(REQ "envelope_from = \"not an address\"; "), 1,
                 "envelope_from: 'not an address' is not a valid address: contains a space");
    expect_error(ONE(REQ) "sender_routes = ( { match = \"@a.example\"; target = \"nope\"; } );\n",
                 2, "sender route '@a.example' names target 'nope', which is not defined in this "
                 "file");
    expect_error(ONE(REQ) "sender_routes = ( { match = \"@a.example\"; target = \"acme\"; },\n"
                 "  { match = \"@A.example\"; target = \"acme\"; } );\n",
                 3, "duplicate sender route '@a.example' (first defined at line 2)");
}
END_TEST

START_TEST(parse_errors_values)
{
    expect_error(ONE("name = \"Acme\"; " HOST PORT USER PASS FROM), 1,
                 "name: 'Acme' is not a valid target name: use [a-z0-9._-]{1,64} (lower-case "
                 "letters, digits, '.', '_' and '-'; not '.' or '..')");
    expect_error("targets = (\n  { " REQ "},\n  { " REQ "}\n);\n", 3,
                 "duplicate target 'acme' (first defined at line 2)");
    expect_error(ONE(NAME "host = \"smtp..example.net\"; " PORT USER PASS FROM), 1,
                 "host: 'smtp..example.net' is not a valid host: the host name has an empty "
                 "label (two dots in a row, or a dot at the start)");
    expect_error("targets = ( { " NAME HOST "\n  port = 70000; " USER PASS FROM "} );\n", 2,
                 "port: 70000 is out of range (1-65535)");
    expect_error(ONE(NAME HOST "port = 0; " USER PASS FROM), 1,
                 "port: 0 is out of range (1-65535)");
    expect_error(ONE(NAME HOST "port = 99999999999L; " USER PASS FROM), 1,
                 "port: 99999999999 is out of range (1-65535)");
    expect_error(ONE(NAME HOST "port = \"587\"; " USER PASS FROM), 1,
                 "port: must be a whole number, without quotes");
    expect_error(ONE(NAME HOST "port = 587.0; " USER PASS FROM), 1,
                 "port: must be a whole number, without quotes");
    expect_error(ONE(NAME "host = 42; " PORT USER PASS FROM), 1,
                 "host: must be a string in double quotes");
    expect_error(ONE(REQ "tls_verify = \"yes\"; "), 1,
                 "tls_verify: must be true or false, without quotes");
    expect_error(ONE(REQ "security = \"ssl\"; "), 1,
                 "security: unknown mode 'ssl' (allowed: starttls, tls, none)");
    expect_error(ONE(REQ "auth = \"digest-md5\"; "), 1,
                 "auth: unknown mechanism 'digest-md5' (allowed: auto, plain, login, cram-md5, "
                 "xoauth2, none)");
    expect_error(ONE(REQ "monthly_quota = -1; "), 1,
                 "monthly_quota: must not be negative (0 = unlimited; write numbers above "
                 "2147483647 with an L suffix, e.g. 3000000000L)");
    expect_error(ONE(REQ "monthly_quota = 3000000000; "), 1,
                 "monthly_quota: must not be negative (0 = unlimited; write numbers above "
                 "2147483647 with an L suffix, e.g. 3000000000L)");
    expect_error(ONE(REQ "max_connections = -2; "), 1,
                 "max_connections: -2 is out of range (0-1000; 0 = the delivery default)");
    expect_error(ONE(REQ "rate = \"14/h\"; "), 1,
                 "rate: '14/h' is not a valid rate: write N/s (per second) or N/m (per minute) "
                 "with N from 1 to 1000000, e.g. \"14/s\"");
    expect_error(ONE(NAME HOST PORT USER PASS "from_address = \"noreply\"; "), 1,
                 "from_address: 'noreply' is not a valid address: there is no '@'; write "
                 "local-part@domain");
    expect_error(ONE(REQ "reply_to = \"Billing <billing@acme.example>\"; "), 1,
                 "reply_to: 'Billing <billing@acme.example>' is not a valid address: contains a "
                 "space");
    expect_error(ONE(REQ "verify_to = \"ops@@acme.example\"; "), 1,
                 "verify_to: 'ops@@acme.example' is not a valid address: the local part "
                 "contains '@', which is only allowed when it is quoted (\"...\"@example.com)");
}
END_TEST

START_TEST(parse_errors_header_injection)
{
    /* every string that can reach a header or an SMTP line; CR or LF, escaped or literal */
    static const char *const cases[] = {
        ONE(REQ "from_name = \"Acme\\r\\nBcc: victim@example.com\"; "),
        ONE(REQ "from_name = \"Acme\nBcc: victim@example.com\"; "),
        ONE(NAME HOST PORT USER PASS "from_address = \"a@acme.example\\r\\nBcc: x@y\"; "),
        ONE(REQ "reply_to = \"a@acme.example\\nBcc: x@y\"; "),
        ONE(REQ "verify_to = \"a@acme.example\\r\"; "),
        ONE(NAME HOST PORT "username = \"apikey\\r\\nMAIL FROM:<x@y>\"; " PASS FROM),
        ONE(NAME "host = \"smtp.example.net\\r\\n\"; " PORT USER PASS FROM),
        ONE(REQ "rate = \"14/s\\n\"; "),
    };
    static const char *const what[] = {"from_name", "from_name", "from_address", "reply_to",
                                       "verify_to", "username",  "host",         "rate"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *msg = xasprintf("%s: contains a line break (CR or LF), which could inject a mail "
                              "header; remove it",
                              what[i]);

        expect_error(cases[i], 1, msg);
        free(msg);
    }
    /* the error points at the offending setting's own line, not at the target's brace */
    expect_error("targets = (\n  { " REQ "\n    from_name = \"Acme\\x0d\"; }\n);\n", 3,
                 "from_name: contains a line break (CR or LF), which could inject a mail header; "
                 "remove it");
}
END_TEST

START_TEST(parse_errors_routes)
{
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"@x.example\"; target = "
                 "\"nope\"; }\n);\n",
                 3, "route '@x.example' names target 'nope', which is not defined in this file");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"@acme.example\"; target = "
                 "\"acme\"; },\n  { match = \"@ACME.example\"; target = \"acme\"; }\n);\n",
                 4, "duplicate route '@acme.example' (first defined at line 3)");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"acme.example\"; target = "
                 "\"acme\"; }\n);\n",
                 3,
                 "'acme.example': route match must be user@domain, @domain, .domain or * (a "
                 "whole domain is written @example.com, its subdomains .example.com)");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"@acme.example\"; target = "
                 "\"acme\"; to = \"x\"; }\n);\n",
                 3, "unknown setting 'to' in a route (known: match, target)");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { target = \"acme\"; }\n);\n", 3,
                 "route without a match: write match = \"@example.com\"; (or user@domain, "
                 ".domain, *)");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"*\"; }\n);\n", 3,
                 "route without a target: write target = \"NAME\";");
    expect_error("targets = ( { " REQ "} );\nroutes = (\n  { match = \"*\"; target = 1; }\n);\n", 3,
                 "target: must be a string in double quotes");
    /* with no targets at all, any route is an error */
    expect_error("routes = ( { match = \"*\"; target = \"acme\"; } );\n", 1,
                 "route '*' names target 'acme', which is not defined in this file");
}
END_TEST

START_TEST(parse_route_before_target_ok)
{
    struct target_set set;
    char *err = NULL, *dir, *path;

    /* routes may come first in the file: targets are read before routes */
    ck_assert_int_eq(parse_text("routes = ( { match = \"*\"; target = \"acme\"; } );\n" ONE(REQ),
                                &set, NULL, &err, &dir, &path),
                     0);
    ck_assert_uint_eq(set.nroutes, 1);
    target_set_free(&set);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* ---- passwords never shown ---- */

START_TEST(password_never_in_errors)
{
    static const char *const values[] = {"hunter2-clear-text", "enc:v2:hunter2xyz",
                                         "ENC:V1:hunter2xyz", "enc:v1:hunter2\\r\\nxyz"};
    struct target_set set;
    struct target t;
    char *err = NULL, *dir, *path, *text;

    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
        text = xasprintf("targets = ( { " NAME HOST PORT USER FROM "password = \"%s\"; } );\n",
                         values[i]);
        ck_assert_int_eq(parse_text(text, &set, NULL, &err, &dir, &path), -1);
        ck_assert(strstr(err, "hunter2") == NULL);
        if (i < 3)
            ck_assert(strstr(err,
                             "password must be encrypted: run 'byosmtpctl encrypt acme' and "
                             "paste its enc:v1:\xe2\x80\xa6 output, or use password_file") != NULL);
        else
            ck_assert(strstr(err, ":1: password: contains a line break") != NULL);
        free(text);
        free(path);
        test_rmdir(dir);
    }
    /* with both settings, the message names them, not the value */
    ck_assert_int_eq(parse_text(ONE(NAME HOST PORT USER FROM "password = \"hunter2\"; "
                                                             "password_file = \"/x\"; "),
                                &set, NULL, &err, &dir, &path),
                     -1);
    ck_assert(strstr(err, "hunter2") == NULL);
    free(path);
    test_rmdir(dir);

    /* target_validate: the same message; the name placeholder when the name is bad too */
    target_init(&t);
    free(t.password_enc);
    t.password_enc = xstrdup("hunter2");
    free(t.name);
    t.name = xstrdup("Bad Name");
    ck_assert_int_eq(target_validate(&t, &err), -1);
    ck_assert(strstr(err, "hunter2") == NULL);
    free(t.name);
    t.name = xstrdup("acme");
    free(t.host);
    t.host = xstrdup("smtp.example.net");
    t.port = 587;
    free(t.username);
    t.username = xstrdup("u");
    ck_assert_int_eq(target_validate(&t, &err), -1);
    ck_assert_str_eq(err, "password must be encrypted: run 'byosmtpctl encrypt acme' and paste "
                          "its enc:v1:\xe2\x80\xa6 output, or use password_file");
    target_free(&t);
    free(err);
}
END_TEST

/* ---- target_validate, copy ---- */

/* sample_target - a complete, valid target with unusual but legal values */
static void sample_target(struct target *t)
{
    target_init(t);
    free(t->name);
    t->name = xstrdup("acme-eu.1");
    free(t->host);
    t->host = xstrdup("[2001:db8::25]");
    t->port = 465;
    t->security = SMTP_SEC_TLS;
    free(t->username);
    t->username = xstrdup("user\\with\"quotes\tand tab");
    free(t->password_enc);
    t->password_enc = xstrdup("enc:v1:AAAAbbbb+/==");
    t->auth = SMTP_AUTH_CRAM_MD5;
    free(t->from_address);
    t->from_address = xstrdup("\"billing dept\"@acme.example");
    free(t->from_name);
    t->from_name = xstrdup("J\xc3\xbcrgen \"JM\" M\\ller\t(Acme)\x01\f\x7f");
    free(t->reply_to);
    t->reply_to = xstrdup("replies@acme.example");
    t->monthly_quota = 5000000000ULL;
    free(t->rate);
    t->rate = xstrdup("30/m");
    t->max_connections = 3;
    free(t->verify_to);
    t->verify_to = xstrdup("postmaster@[192.0.2.1]");
    t->tls_verify = false;
}

START_TEST(validate_and_copy)
{
    struct target t, c;
    char *err = NULL;

    sample_target(&t);
    /* a space inside a quoted local part is refused (see addr.c) */
    ck_assert_int_eq(target_validate(&t, &err), -1);
    ck_assert_str_eq(err, "from_address: '\"billing dept\"@acme.example' is not a valid address: "
                          "contains a space");
    free(t.from_address);
    t.from_address = xstrdup("\"billing..dept\"@acme.example");
    ck_assert_int_eq(target_validate(&t, &err), 0);

    target_copy(&c, &t);
    ck_assert_ptr_ne(c.name, t.name);
    ck_assert_str_eq(c.name, t.name);
    ck_assert_str_eq(c.password_enc, t.password_enc);
    ck_assert_str_eq(c.from_name, t.from_name);
    ck_assert_uint_eq(c.monthly_quota, t.monthly_quota);
    ck_assert_int_eq(c.tls_verify, t.tls_verify);

    c.port = 0;
    ck_assert_int_eq(target_validate(&c, &err), -1);
    ck_assert_str_eq(err, "port: 0 is out of range (1-65535)");
    c.port = 25;
    c.security = (enum smtp_security)7;
    ck_assert_int_eq(target_validate(&c, &err), -1);
    ck_assert_str_eq(err, "security: unknown mode (allowed: starttls, tls, none)");
    c.security = SMTP_SEC_NONE;
    c.auth = (enum smtp_auth)9;
    ck_assert_int_eq(target_validate(&c, &err), -1);
    ck_assert_str_eq(err, "auth: unknown mechanism (allowed: auto, plain, login, cram-md5, "
                          "xoauth2, none)");
    c.auth = SMTP_AUTH_PLAIN;
    c.max_connections = 1001;
    ck_assert_int_eq(target_validate(&c, &err), -1);
    ck_assert_str_eq(err, "max_connections: 1001 is out of range (0-1000; 0 = the delivery "
                          "default)");
    c.max_connections = 0;
    free(c.from_name);
    c.from_name = xstrdup("Evil\r\nBcc: x@y");
    ck_assert_int_eq(target_validate(&c, &err), -1);
    ck_assert_str_eq(err, "from_name: contains a line break (CR or LF), which could inject a "
                          "mail header; remove it");
    target_free(&c);
    target_free(&t);
    free(err);
}
END_TEST

/* ---- dump format round trip ---- */

/* same_target - every field equal (line aside) */
static void same_target(const struct target *a, const struct target *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_str_eq(a->host, b->host);
    ck_assert_int_eq(a->port, b->port);
    ck_assert_int_eq(a->security, b->security);
    ck_assert_str_eq(a->username, b->username);
    ck_assert_str_eq(a->password_enc, b->password_enc);
    ck_assert_int_eq(a->auth, b->auth);
    ck_assert_str_eq(a->from_address, b->from_address);
    ck_assert_str_eq(a->from_name, b->from_name);
    ck_assert_str_eq(a->reply_to, b->reply_to);
    ck_assert_uint_eq(a->monthly_quota, b->monthly_quota);
    ck_assert_str_eq(a->rate, b->rate);
    ck_assert_int_eq(a->max_connections, b->max_connections);
    ck_assert_str_eq(a->verify_to, b->verify_to);
    ck_assert_int_eq(a->tls_verify, b->tls_verify);
}

/* print_to - target_set_print into a string */
static char *print_to(const struct target_set *set)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(fp);
    target_set_print(set, fp);
    ck_assert_int_eq(fclose(fp), 0);
    return text;
}

START_TEST(print_parse_round_trip)
{
    struct target_set set = {0}, back, again;
    struct route routes[3];
    char *err = NULL, *dir, *path, *dir2, *path2, *text1, *text2, *text3;

    set.targets = xcalloc(2, sizeof(*set.targets));
    set.ntargets = 2;
    sample_target(&set.targets[0]);
    free(set.targets[0].from_address);
    set.targets[0].from_address = xstrdup("\"billing..dept\"@acme.example");
    target_init(&set.targets[1]);
    free(set.targets[1].name);
    set.targets[1].name = xstrdup("plain");
    free(set.targets[1].host);
    set.targets[1].host = xstrdup("smtp.example.net");
    set.targets[1].port = 587;
    free(set.targets[1].username);
    set.targets[1].username = xstrdup("u");
    free(set.targets[1].password_enc);
    set.targets[1].password_enc = xstrdup("enc:v1:Zm9v");
    free(set.targets[1].from_address);
    set.targets[1].from_address = xstrdup("a@example.net");
    set.targets[1].monthly_quota = 2147483647;
    routes[0] = (struct route){.match = "\"q\\\"x\"@example.org", .target = "plain"};
    routes[1] = (struct route){.match = ".example.com", .target = "acme-eu.1"};
    routes[2] = (struct route){.match = "*", .target = "plain"};
    set.routes = routes;
    set.nroutes = 3;
    for (size_t i = 0; i < set.ntargets; i++)
        ck_assert_int_eq(target_validate(&set.targets[i], &err), 0);

    text1 = print_to(&set);
    ck_assert(strstr(text1, "monthly_quota = 5000000000L;") != NULL);
    ck_assert(strstr(text1, "monthly_quota = 2147483647;") != NULL);
    ck_assert(strstr(text1, "username = \"user\\\\with\\\"quotes\\tand tab\";") != NULL);
    ck_assert(strstr(text1,
                     "from_name = \"J\xc3\xbcrgen \\\"JM\\\" M\\\\ller\\t(Acme)\\x01\\f\\x7f\";") !=
              NULL);
    ck_assert_int_eq(parse_text(text1, &back, NULL, &err, &dir, &path), 0);
    ck_assert_uint_eq(back.ntargets, 2);
    ck_assert_uint_eq(back.nroutes, 3);
    for (size_t i = 0; i < set.ntargets; i++)
        same_target(&set.targets[i], &back.targets[i]);
    for (size_t i = 0; i < set.nroutes; i++) {
        ck_assert_str_eq(back.routes[i].match, set.routes[i].match);
        ck_assert_str_eq(back.routes[i].target, set.routes[i].target);
    }
    text2 = print_to(&back);
    ck_assert_str_eq(text2, text1);
    ck_assert_int_eq(parse_text(text2, &again, NULL, &err, &dir2, &path2), 0);
    text3 = print_to(&again);
    ck_assert_str_eq(text3, text2);

    /* the empty set round-trips too */
    set.routes = NULL;
    set.nroutes = 0;
    target_set_free(&set);
    target_set_free(&back);
    free(text2);
    text2 = print_to(&set);
    free(path);
    test_rmdir(dir);
    ck_assert_int_eq(parse_text(text2, &back, NULL, &err, &dir, &path), 0);
    ck_assert_uint_eq(back.ntargets, 0);
    ck_assert_uint_eq(back.nroutes, 0);
    free(text3);
    text3 = print_to(&back);
    ck_assert_str_eq(text3, text2);

    /* the full example file, read and printed, reads back the same */
    target_set_free(&back);
    free(path);
    test_rmdir(dir);
    free(text2);
    ck_assert_int_eq(parse_text(full_file, &back, NULL, &err, &dir, &path), 0);
    /* as "load" does for a password_file target */
    free(back.targets[1].password_enc);
    back.targets[1].password_enc = xstrdup("enc:v1:R0xPQkVY");
    text2 = print_to(&back);
    free(path);
    test_rmdir(dir);
    ck_assert_int_eq(parse_text(text2, &set, NULL, &err, &dir, &path), 0);
    free(text3);
    text3 = print_to(&set);
    ck_assert_str_eq(text3, text2);

    target_set_free(&set);
    target_set_free(&back);
    target_set_free(&again);
    free(text1);
    free(text2);
    free(text3);
    free(path);
    free(path2);
    test_rmdir(dir);
    test_rmdir(dir2);
    ck_assert_ptr_null(err);
}
END_TEST

/* ---- store record ---- */

START_TEST(encode_decode_round_trip)
{
    struct target t, back;
    char *rec, *err = NULL;
    size_t len;

    sample_target(&t);
    free(t.from_address);
    t.from_address = xstrdup("\"billing..dept\"@acme.example");
    rec = target_encode(&t, &len);
    ck_assert_uint_eq(len, strlen(rec));
    {
        static const char head[] = "v=1\nname=acme-eu.1\nhost=[2001:db8::25]\nport=465\n"
                                   "security=tls\n";

        ck_assert(strncmp(rec, head, strlen(head)) == 0);
    }
    ck_assert(strstr(rec, "\nusername=user\\\\with\"quotes\tand tab\n") != NULL);
    ck_assert(strstr(rec, "\nmonthly_quota=5000000000\n") != NULL);
    ck_assert(strstr(rec, "\ntls_verify=0\n") != NULL);
    ck_assert_int_eq(target_decode("acme-eu.1", rec, len, &back, &err), 0);
    same_target(&t, &back);
    ck_assert_int_eq(back.line, 0);
    target_free(&back);
    free(rec);

    /* a CR or LF (never valid, but encode is total) stays within its line */
    free(t.from_name);
    t.from_name = xstrdup("a\r\nb\\");
    rec = target_encode(&t, &len);
    ck_assert(strstr(rec, "\nfrom_name=a\\r\\nb\\\\\n") != NULL);
    /* ... and decode refuses it, since the decoded target is validated */
    ck_assert_int_eq(target_decode("acme-eu.1", rec, len, &back, &err), -1);
    ck_assert_str_eq(err, "corrupt store record for target 'acme-eu.1': from_name: contains a "
                          "line break (CR or LF), which could inject a mail header; remove it");
    ck_assert_ptr_null(back.name);
    free(rec);
    target_free(&t);
    free(err);
}
END_TEST

/* decode_error - REC (NUL-terminated) must fail to decode as "acme" with exactly WANT */
static void decode_error(const char *rec, size_t len, const char *want)
{
    struct target t;
    char *err = NULL;

    ck_assert_int_eq(target_decode("acme", rec, len, &t, &err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(t.name);
    ck_assert_ptr_null(t.password_enc);
    free(err);
}

#define GOODREC                                                                                    \
    "v=1\nname=acme\nhost=smtp.example.net\nport=587\nsecurity=starttls\nusername=apikey\n"        \
    "password=enc:v1:AAAAsecretBBBB\nfrom_address=noreply@acme.example\n"
#define DECODE_ERR(rec, want) decode_error(rec, strlen(rec), want)

START_TEST(decode_rejects_corruption)
{
    struct target t;
    char *err = NULL;

    /* the minimal record decodes, optional fields at their defaults */
    ck_assert_int_eq(target_decode("acme", GOODREC, strlen(GOODREC), &t, &err), 0);
    ck_assert(t.tls_verify);
    ck_assert_str_eq(t.rate, "");
    target_free(&t);

    DECODE_ERR("", "corrupt store record for target 'acme': it is empty");
    decode_error(NULL, 0, "corrupt store record for target 'acme': it is empty");
    DECODE_ERR("v=2\nname=acme\n", "store record for target 'acme' has version '2', which this "
                                   "byosmtp does not know (written by a newer version?)");
    DECODE_ERR("name=acme\nv=1\n", "corrupt store record for target 'acme': the first line is "
                                   "not the version (v=1)");
    DECODE_ERR("v=1\nname=acme\nhost=smtp.example.net\nport=587\nusername=apikey\n"
               "from_address=noreply@acme.example\n",
               "corrupt store record for target 'acme': field 'password' is missing");
    DECODE_ERR("v=1\nname=acme\nport=587\n",
               "corrupt store record for target 'acme': field 'host' is missing");
    DECODE_ERR(GOODREC "port=25\n",
               "corrupt store record for target 'acme': field 'port' appears twice");
    DECODE_ERR(GOODREC "colour=blue\n",
               "corrupt store record for target 'acme': unknown field 'colour'");
    DECODE_ERR(GOODREC "password_file=/x\n",
               "corrupt store record for target 'acme': unknown field 'password_file'");
    DECODE_ERR(GOODREC "tls_verify=yes\n",
               "corrupt store record for target 'acme': field 'tls_verify' has a corrupt value");
    DECODE_ERR(GOODREC "max_connections=-1\n",
               "corrupt store record for target 'acme': field 'max_connections' has a corrupt "
               "value");
    DECODE_ERR(GOODREC "monthly_quota=18446744073709551616\n",
               "corrupt store record for target 'acme': field 'monthly_quota' has a corrupt value");
    DECODE_ERR(GOODREC "auth=digest-md5\n",
               "corrupt store record for target 'acme': field 'auth' has a corrupt value");
    DECODE_ERR("v=1\nname=acme\nsecurity=ssl\n",
               "corrupt store record for target 'acme': field 'security' has a corrupt value");
    DECODE_ERR(GOODREC "from_name=a\\qb\n",
               "corrupt store record for target 'acme': field 'from_name' has a corrupt value");
    DECODE_ERR(GOODREC "rate", "corrupt store record for target 'acme': line 9 is cut short "
                               "(no newline)");
    DECODE_ERR(GOODREC "rate\n", "corrupt store record for target 'acme': line 9 has no '='");
    DECODE_ERR("v=1\nname=acme\nhost=smtp.example.net\nport=0\nusername=apikey\n"
               "password=enc:v1:AAAA\nfrom_address=noreply@acme.example\n",
               "corrupt store record for target 'acme': port: 0 is out of range (1-65535)");
    decode_error(GOODREC "\0", strlen(GOODREC) + 1,
                 "corrupt store record for target 'acme': it holds a NUL byte");
    /* the record under another key */
    ck_assert_int_eq(target_decode("other", GOODREC, strlen(GOODREC), &t, &err), -1);
    ck_assert_str_eq(err,
                     "corrupt store record for target 'other': it holds another target's name");
    /* a corrupt password field is never shown */
    DECODE_ERR("v=1\nname=acme\nhost=smtp.example.net\nport=587\nusername=apikey\n"
               "password=hunter2\\z\nfrom_address=noreply@acme.example\n",
               "corrupt store record for target 'acme': field 'password' has a corrupt value");
    DECODE_ERR("v=1\nname=acme\nhost=smtp.example.net\nport=587\nusername=apikey\n"
               "password=hunter2\nfrom_address=noreply@acme.example\n",
               "corrupt store record for target 'acme': password must be encrypted: run "
               "'byosmtpctl encrypt acme' and paste its enc:v1:\xe2\x80\xa6 output, or use "
               "password_file");
    free(err);
}
END_TEST

/* the example etc/targets.conf must load as shipped */
START_TEST(example_file_loads)
{
    const char *top = getenv("top_srcdir");
    struct target_set set;
    char *path, *err = NULL;

    path = xasprintf("%s/etc/targets.conf", top != NULL ? top : "../..");
    if (target_set_parse_file(path, &set, NULL, &err) != 0)
        ck_abort_msg("%s", err);
    target_set_free(&set);
    free(path);
}
END_TEST

/* fallback_hosts: what an entry may be, and the order target_hosts() gives */
START_TEST(fallback_host_list)
{
    static const char *const good[] = {"", "b.example:25", "b.example:25,[2001:db8::1]:587",
                                       "192.0.2.1:65535,c.example:1"};
    static const struct {
        const char *list, *err;
    } bad[] = {
        {"b.example", "'b.example' is not HOST:PORT: write e.g. \"smtp2.example.com:587\" or "
                      "\"[2001:db8::1]:587\", with a port from 1 to 65535"},
        {"b.example:0", NULL},
        {"b.example:65536", NULL},
        {"b.example:25x", NULL},
        {"2001:db8::1:25", NULL},
        {"[2001:db8::1]25", NULL},
        {":25", NULL},
        {"b.example:25,", "an empty entry: give each host as HOST:PORT"},
        {"b.example:25,,c.example:25", "an empty entry: give each host as HOST:PORT"},
        {"b.example:25,B.example:25", "'B.example:25' is given twice"},
        {"bad_host!:25", NULL},
        {"a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1", "more than 10 hosts"},
    };
    struct target t;
    struct target_host *h;
    char *err = NULL;
    size_t n;

    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        ck_assert_msg(valid_host_list(good[i], &err) == 0, "%s: %s", good[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ck_assert_msg(valid_host_list(bad[i].list, &err) == -1, "%s accepted", bad[i].list);
        if (bad[i].err != NULL)
            ck_assert_str_eq(err, bad[i].err);
    }
    target_init(&t);
    free(t.host);
    t.host = xstrdup("smtp.example");
    t.port = 587;
    n = target_hosts(&t, &h);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(h[0].host, "smtp.example");
    ck_assert_int_eq(h[0].port, 587);
    target_hosts_free(h, n);
    free(t.fallback_hosts);
    t.fallback_hosts = xstrdup("b.example:2525,[2001:db8::1]:465");
    n = target_hosts(&t, &h);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(h[1].host, "b.example");
    ck_assert_int_eq(h[1].port, 2525);
    ck_assert_str_eq(h[2].host, "2001:db8::1");
    ck_assert_int_eq(h[2].port, 465);
    target_hosts_free(h, n);
    ck_assert_str_eq(target_fallback_name(TARGET_FALLBACK_MTA), "mta");
    ck_assert_int_eq(target_fallback_parse("MTA"), TARGET_FALLBACK_MTA);
    ck_assert_int_eq(target_fallback_parse("none"), TARGET_FALLBACK_NONE);
    ck_assert_int_eq(target_fallback_parse("smtp"), -1);
    ck_assert_int_eq(t.fallback, TARGET_FALLBACK_NONE); /* the defaults */
    ck_assert_int_eq(t.fallback_after, 3600);
    target_free(&t);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("target");
    TCase *values = tcase_create("values");
    TCase *routes = tcase_create("routes");
    TCase *file = tcase_create("file");
    TCase *record = tcase_create("record");

    tcase_add_test(values, address_valid);
    tcase_add_test(values, address_invalid);
    tcase_add_test(values, address_lengths);
    tcase_add_test(values, host_table);
    tcase_add_test(values, name_rate_header_checks);
    tcase_add_test(values, enum_names);
    tcase_add_test(values, validate_and_copy);
    tcase_add_test(values, fallback_host_list);
    suite_add_tcase(s, values);

    tcase_add_test(routes, route_normalise_table);
    tcase_add_test(routes, route_candidates_order);
    tcase_add_test(routes, route_candidates_misses);
    suite_add_tcase(s, routes);

    tcase_add_test(file, parse_full_file);
    tcase_add_test(file, parse_defaults_and_empty);
    tcase_add_test(file, parse_missing_file);
    tcase_add_test(file, parse_errors_syntax_and_structure);
    tcase_add_test(file, parse_errors_required);
    tcase_add_test(file, parse_errors_values);
    tcase_add_test(file, parse_sender_routing);
    tcase_add_test(file, parse_errors_sender_routing);
    tcase_add_test(file, parse_errors_header_injection);
    tcase_add_test(file, parse_errors_routes);
    tcase_add_test(file, parse_route_before_target_ok);
    tcase_add_test(file, password_never_in_errors);
    tcase_add_test(file, print_parse_round_trip);
    tcase_add_test(file, example_file_loads);
    suite_add_tcase(s, file);

    tcase_add_test(record, encode_decode_round_trip);
    tcase_add_test(record, decode_rejects_corruption);
    suite_add_tcase(s, record);
    return test_run(s);
}
