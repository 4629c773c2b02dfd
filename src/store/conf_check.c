/*
 * conf_check - the checks of string values that the table of settings names (conf.c): a
 * milter socket, a log level, a syslog facility, a host name, a user name, a command, and
 * each network of a list. Each fills *why with "KEY = "VALUE" ..." and how to fix it.
 *
 * Thread-safety: reentrant; nothing here keeps state between calls.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "store/conf.h"
#include "store/conf_int.h"
#include "util/msg.h"
#include "util/util.h"

/* value_err - fill *why with "KEY = "VALUE" " followed by the formatted rest; returns -1 */
static int value_err(char **why, const char *key, const char *value, const char *fmt, ...)
    BYO_PRINTF(4, 5);
static int value_err(char **why, const char *key, const char *value, const char *fmt, ...)
{
    char *q = conf_quoted(value), *rest;
    va_list ap;

    va_start(ap, fmt);
    rest = xvasprintf(fmt, ap);
    va_end(ap);
    set_err(why, "%s = %s %s", key, q, rest);
    free(q);
    free(rest);
    return -1;
}

/* parse_port - "8891" → 8891; -1 unless a decimal number from 1 to 65535 */
static long parse_port(const char *s, size_t n)
{
    long port = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

/* is_host_name - letters, digits, '-' and '.', as a DNS name is written */
static bool is_host_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

/* conf_check_socket - unix:/PATH, inet:PORT@ADDRESS or inet6:PORT@ADDRESS, as libmilter wants */
int conf_check_socket(const char *key, const char *v, char **why)
{
    static const char form[] =
        "is not a milter socket: write unix:/PATH, inet:PORT@ADDRESS or inet6:PORT@ADDRESS, "
        "e.g. \"inet:8891@127.0.0.1\"";
    const char *rest, *at;
    unsigned char addr[16];
    bool v6;

    if (strncmp(v, "unix:", 5) == 0) {
        rest = v + 5;
        if (rest[0] != '/')
            return value_err(why, key, v, "needs an absolute path after unix:, e.g. %s",
                             "\"unix:/run/byosmtp/milter.sock\"");
        if (strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return value_err(why, key, v, "has a path longer than %zu bytes: choose a shorter one",
                             sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return 0;
    }
    if (strncmp(v, "inet:", 5) == 0)
        v6 = false, rest = v + 5;
    else if (strncmp(v, "inet6:", 6) == 0)
        v6 = true, rest = v + 6;
    else
        return value_err(why, key, v, "%s", form);
    at = strchr(rest, '@');
    if (!at || at[1] == '\0')
        return value_err(why, key, v, "%s", form);
    if (parse_port(rest, (size_t)(at - rest)) < 0)
        return value_err(why, key, v, "has no valid port: use a number from 1 to 65535, as in %s",
                         v6 ? "\"inet6:8891@::1\"" : "\"inet:8891@127.0.0.1\"");
    at++;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, at, addr) == 1)
        return 0;
    /* digits and dots alone are a (mistyped) IPv4 address, never a host name */
    if (is_host_name(at) && strspn(at, "0123456789.") != strlen(at))
        return 0;
    return value_err(why, key, v, "has no valid address after '@': write %s",
                     v6 ? "an IPv6 address, as in \"inet6:8891@::1\""
                        : "an IPv4 address or host name, as in \"inet:8891@127.0.0.1\"");
}

/* conf_check_level - a log level that msg_level_parse() knows */
int conf_check_level(const char *key, const char *v, char **why)
{
    if (msg_level_parse(v) >= 0)
        return 0;
    return value_err(why, key, v,
                     "is not a log level: use one of \"error\", \"warning\", \"info\", \"debug\"");
}

/* conf_check_facility - a syslog facility that msg_facility_parse() knows */
int conf_check_facility(const char *key, const char *v, char **why)
{
    if (msg_facility_parse(v) >= 0)
        return 0;
    return value_err(why, key, v,
                     "is not a syslog facility: use \"mail\", \"daemon\", \"user\" or "
                     "\"local0\" to \"local7\"");
}

/* conf_check_hostname - "" or a name fit for EHLO: a domain name or an address literal [..] */
int conf_check_hostname(const char *key, const char *v, char **why)
{
    size_t n = strlen(v);
    unsigned char addr[16];

    if (n == 0 || is_host_name(v))
        return 0;
    if (n > 2 && v[0] == '[' && v[n - 1] == ']') {
        char *inner = xstrndup(v + 1, n - 2);
        const char *a = strncmp(inner, "IPv6:", 5) == 0 ? inner + 5 : inner;
        bool ok = inet_pton(a == inner ? AF_INET : AF_INET6, a, addr) == 1;

        free(inner);
        if (ok)
            return 0;
    }
    return value_err(why, key, v,
                     "is not a host name: use letters, digits, '-' and '.' (e.g. "
                     "\"mail.example.com\"), an address literal such as \"[192.0.2.1]\", or "
                     "\"\" for the host name");
}

/* conf_check_user - "" or a user name as useradd(8) accepts it; existence is checked at start-up */
int conf_check_user(const char *key, const char *v, char **why)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.' || (*p == '$' && p[1] == '\0')))
            return value_err(why, key, v,
                             "is not a user name: use letters, digits, '_', '-' and '.', or "
                             "\"\" to keep the user byosmtpd starts as");
    if (v[0] == '-')
        return value_err(why, key, v, "is not a user name: it may not start with '-'");
    return 0;
}

/* conf_check_command - "" or a command line that starts with the absolute path of a program */
int conf_check_command(const char *key, const char *v, char **why)
{
    if (v[0] == '\0' || v[0] == '/')
        return 0;
    return value_err(why, key, v,
                     "must start with the absolute path of the program, e.g. "
                     "\"/usr/sbin/sendmail -i -f <> --\"");
}

/* conf_check_network - "ADDRESS/PREFIX" (or an address alone), no host bits set past the prefix */
int conf_check_network(const char *key, const char *v, char **why)
{
    const char *slash = strchr(v, '/');
    char *host = slash ? xstrndup(v, (size_t)(slash - v)) : xstrdup(v);
    unsigned char addr[16], masked[16];
    char text[INET6_ADDRSTRLEN];
    int family = strchr(host, ':') ? AF_INET6 : AF_INET;
    int bits = family == AF_INET6 ? 128 : 32, prefix = bits;
    int ok = inet_pton(family, host, addr) == 1;

    free(host);
    if (ok && slash) {
        const char *p = slash + 1;

        prefix = 0;
        if (*p == '\0' || strlen(p) > 3)
            ok = 0;
        for (; ok && *p; p++) {
            if (*p < '0' || *p > '9')
                ok = 0;
            else
                prefix = prefix * 10 + (*p - '0');
        }
        if (prefix > bits)
            ok = 0;
    }
    if (!ok) {
        char *q = conf_quoted(v);

        set_err(why,
                "%s: %s is not a network: write ADDRESS/PREFIX such as \"192.0.2.0/24\" or "
                "\"2001:db8::/32\"",
                key, q);
        free(q);
        return -1;
    }
    memcpy(masked, addr, (size_t)bits / 8);
    for (int i = 0; i < bits / 8; i++) {
        int keep = prefix - i * 8;

        masked[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    if (memcmp(masked, addr, (size_t)bits / 8) != 0) {
        char *q = conf_quoted(v);

        inet_ntop(family, masked, text, sizeof(text));
        set_err(why, "%s: %s has host bits set: write \"%s/%d\"", key, q, text, prefix);
        free(q);
        return -1;
    }
    return 0;
}

/* conf_check_https_url - "" or an https:// URL with a host and no white space or control bytes */
int conf_check_https_url(const char *key, const char *v, char **why)
{
    if (*v == '\0')
        return 0;
    if (strncmp(v, "https://", 8) != 0 || v[8] == '\0' || v[8] == '/')
        return value_err(why, key, v,
                         "is not an https URL: write \"https://HOST[:PORT]/PATH\" (plain http is "
                         "refused: events carry addresses)");
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return value_err(why, key, v, "holds white space or a control character: "
                                          "percent-encode it (%%20)");
    return 0;
}

/* conf_check_listen - "" or inet:PORT@ADDRESS / inet6:PORT@ADDRESS (a milter socket without unix:) */
int conf_check_listen(const char *key, const char *v, char **why)
{
    if (*v == '\0')
        return 0;
    if (strncmp(v, "unix:", 5) == 0)
        return value_err(why, key, v, "is a unix socket: Prometheus scrapes TCP; write "
                                      "inet:PORT@ADDRESS, e.g. \"inet:9466@127.0.0.1\"");
    if (strncmp(v, "inet:", 5) != 0 && strncmp(v, "inet6:", 6) != 0)
        return value_err(why, key, v, "is not a listening address: write inet:PORT@ADDRESS or "
                                      "inet6:PORT@ADDRESS, e.g. \"inet:9466@127.0.0.1\"");
    return conf_check_socket(key, v, why);
}

/* conf_check_redis - "" or unix:/PATH or inet:HOST:PORT (HOST a name, an IPv4 or [IPv6] address) */
int conf_check_redis(const char *key, const char *v, char **why)
{
    static const char form[] = "is not a Redis address: write \"unix:/run/redis/redis.sock\" or "
                               "\"inet:HOST:PORT\", e.g. \"inet:10.0.0.5:6379\"";
    const char *host, *colon;
    size_t hlen;

    if (*v == '\0')
        return 0;
    if (strncmp(v, "unix:", 5) == 0) {
        if (v[5] != '/')
            return value_err(why, key, v, "needs an absolute path after unix:, e.g. %s",
                             "\"unix:/run/redis/redis.sock\"");
        if (strlen(v + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return value_err(why, key, v, "is too long for a unix socket path: use a shorter "
                                          "path");
        return 0;
    }
    if (strncmp(v, "inet:", 5) != 0 || (colon = strrchr(v + 5, ':')) == NULL)
        return value_err(why, key, v, "%s", form);
    if (parse_port(colon + 1, strlen(colon + 1)) < 0)
        return value_err(why, key, v, "has no valid port: use a number from 1 to 65535, as in "
                                      "\"inet:10.0.0.5:6379\"");
    host = v + 5;
    hlen = (size_t)(colon - host);
    if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
        char *h = xstrndup(host + 1, hlen - 2);
        unsigned char addr[16];
        int ok = inet_pton(AF_INET6, h, addr);

        free(h);
        return ok == 1 ? 0 : value_err(why, key, v, "%s", form);
    } else {
        char *h = xstrndup(host, hlen);
        bool ok = is_host_name(h);

        free(h);
        return ok ? 0 : value_err(why, key, v, "%s", form);
    }
}

/*
 * conf_check_key_word - a part of a Redis key (cluster.prefix, a host name of the cluster):
 * 1 to 64 letters, digits, '-', '_' and '.'; cluster.host may also be "" (the host name)
 */
int conf_check_key_word(const char *key, const char *v, char **why)
{
    size_t n = strlen(v);

    if (n == 0 && strcmp(key, "cluster.host") == 0)
        return 0;
    if (n == 0 || n > 64)
        return value_err(why, key, v, "must be 1 to 64 characters: letters, digits, '-', '_' "
                                      "and '.', e.g. \"mx1\"");
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return value_err(why, key, v, "may hold only letters, digits, '-', '_' and '.' (it "
                                          "becomes part of Redis keys), e.g. \"mx1\"");
    return 0;
}
