/*
 * addr - syntax checks for mail addresses (RFC 5321 Mailbox, RFC 6531 UTF-8) and host names.
 *
 * Stricter than the RFCs in one way on purpose: no space, no angle bracket and no control
 * character anywhere, not even inside a quoted local part, because these addresses end up in
 * headers and on SMTP command lines that other software parses. Thread-safe (no state).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/addr.h"
#include "util/util.h"

/* is_alnum - ASCII letter or digit (locale-independent, unlike isalnum) */
static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* is_atext - RFC 5322 atext, plus any byte of a UTF-8 sequence (RFC 6531) */
static bool is_atext(unsigned char c)
{
    return is_alnum(c) || c >= 0x80 || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* check_forbidden - the characters refused everywhere in an address or host */
static int check_forbidden(const char *s, size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r' || c == '\n' || c == '\0')
            return set_err(err, "contains a line break (CR or LF) or NUL");
        if (c < 0x20 || c == 0x7f)
            return set_err(err, "contains a control character");
        if (c == ' ')
            return set_err(err, "contains a space");
        if (c == '<' || c == '>')
            return set_err(err, "contains an angle bracket; give the bare address, without < >");
    }
    return 0;
}

/* addr_utf8_valid - well-formed UTF-8: no overlongs, surrogates or stray bytes */
bool addr_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t extra;
        unsigned long cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte first, overlong lead byte, or beyond U+10FFFF */
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

/* addr_check_local - a Dot-string or Quoted-string local part */
int addr_check_local(const char *s, size_t n, char **err)
{
    if (n == 0)
        return set_err(err, "the local part (before the '@') is empty");
    if (n > ADDR_LOCAL_MAX)
        return set_err(err, "the local part is %zu bytes long; at most %d are allowed", n,
                       ADDR_LOCAL_MAX);
    if (check_forbidden(s, n, err) < 0)
        return -1;
    if (!addr_utf8_valid(s, n))
        return set_err(err, "the local part is not valid UTF-8");

    if (s[0] == '"') {
        /* Quoted-string: qtextSMTP and quoted-pairSMTP between the quotes */
        if (n < 2 || s[n - 1] != '"')
            return set_err(err, "the quoted local part has no closing double quote");
        for (size_t i = 1; i < n - 1; i++) {
            if (s[i] == '\\') {
                if (i + 1 >= n - 1)
                    return set_err(err, "the quoted local part ends with a lone backslash");
                i++;
            } else if (s[i] == '"') {
                return set_err(err, "a double quote inside the quoted local part must be "
                                    "escaped as \\\"");
            }
        }
        return 0;
    }

    if (s[0] == '.' || s[n - 1] == '.')
        return set_err(err, "the local part may not start or end with a dot");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (s[i + 1] == '.')
                return set_err(err, "the local part has two dots in a row (only allowed when "
                                    "quoted: \"a..b\"@example.com)");
        } else if (!is_atext(c)) {
            return set_err(err,
                           "the local part contains '%c', which is only allowed when it "
                           "is quoted (\"...\"@example.com)",
                           c);
        }
    }
    return 0;
}

/*
 * check_labels - a dot-separated DNS name of N bytes; utf8 allows non-ASCII labels (address
 * domains, RFC 6531) where a host to connect to must be ASCII. WHAT names it in messages.
 */
static int check_labels(const char *s, size_t n, bool utf8, const char *what, char **err)
{
    size_t start = 0;
    bool numeric = true;

    if (n == 0)
        return set_err(err, "the %s is empty", what);
    if (n > ADDR_DOMAIN_MAX)
        return set_err(err, "the %s is %zu bytes long; at most %d are allowed", what, n,
                       ADDR_DOMAIN_MAX);
    if (s[n - 1] == '.')
        return set_err(err, "the %s ends with a dot; remove it", what);
    if (utf8 && !addr_utf8_valid(s, n))
        return set_err(err, "the %s is not valid UTF-8", what);

    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : '.';

        if (c == '.') {
            size_t len = i - start;

            if (len == 0)
                return set_err(err,
                               "the %s has an empty label (two dots in a row, or a dot at "
                               "the start)",
                               what);
            if (len > 63)
                return set_err(err,
                               "a label of the %s is %zu bytes long; at most 63 are "
                               "allowed",
                               what, len);
            if (s[start] == '-' || s[i - 1] == '-')
                return set_err(err, "a label of the %s starts or ends with '-'", what);
            start = i + 1;
            if (i < n)
                numeric = true;
            continue;
        }
        if (c >= 0x80) {
            if (!utf8)
                return set_err(err,
                               "the %s contains a non-ASCII character; write an "
                               "internationalised name in its ASCII form (xn--...)",
                               what);
            numeric = false;
        } else if (c == '-' || is_alnum(c)) {
            if (!(c >= '0' && c <= '9'))
                numeric = false;
        } else if (c < 0x20 || c == 0x7f) {
            return set_err(err, "the %s contains a control character", what);
        } else {
            return set_err(err,
                           "the %s contains '%c'; only letters, digits, '-' and '.' are "
                           "allowed",
                           what, c);
        }
    }
    /* No top-level domain is all digits (RFC 3696 2): this is a mistyped IP address. */
    if (numeric)
        return set_err(err,
                       "the %s ends in a numeric label; write an IP address as "
                       "[192.0.2.1]",
                       what);
    return 0;
}

/* check_ip - inet_pton on N bytes (copied, since the input is not NUL-terminated there) */
static bool check_ip(int af, const char *s, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char out[16];

    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(af, tmp, out) == 1;
}

/* addr_check_domain - a host name (UTF-8 labels allowed) or an address literal */
int addr_check_domain(const char *s, size_t n, char **err)
{
    if (n == 0)
        return set_err(err, "the domain (after the '@') is empty");
    if (s[0] != '[')
        return check_labels(s, n, true, "domain", err);

    if (n < 2 || s[n - 1] != ']')
        return set_err(err, "the address literal has no closing ']'");
    if (n - 2 >= 5 && strncasecmp(s + 1, "IPv6:", 5) == 0) {
        if (!check_ip(AF_INET6, s + 6, n - 7))
            return set_err(err, "the address literal does not hold a valid IPv6 address");
        return 0;
    }
    if (!check_ip(AF_INET, s + 1, n - 2))
        return set_err(err, "an address literal must be [IPv4] or [IPv6:...], "
                            "e.g. [192.0.2.1] or [IPv6:2001:db8::1]");
    return 0;
}

/* addr_check_mailbox - local-part@domain, split at the last '@' */
int addr_check_mailbox(const char *s, char **err)
{
    size_t n = strlen(s);
    const char *at;

    if (n == 0)
        return set_err(err, "the address is empty");
    if (n > ADDR_MAX)
        return set_err(err, "the address is %zu bytes long; at most %d are allowed", n, ADDR_MAX);
    if (check_forbidden(s, n, err) < 0)
        return -1;
    at = strrchr(s, '@');
    if (at == NULL)
        return set_err(err, "there is no '@'; write local-part@domain");
    if (addr_check_local(s, (size_t)(at - s), err) < 0)
        return -1;
    return addr_check_domain(at + 1, strlen(at + 1), err);
}

/* addr_check_host - a DNS name (ASCII), an IPv4 address, or an IPv6 address with or without [ ] */
int addr_check_host(const char *s, char **err)
{
    size_t n = strlen(s);

    if (n == 0)
        return set_err(err, "the host is empty");
    if (check_forbidden(s, n, err) < 0)
        return -1;
    if (s[0] == '[') {
        if (n < 2 || s[n - 1] != ']' || !check_ip(AF_INET6, s + 1, n - 2))
            return set_err(err, "[...] must hold an IPv6 address, e.g. [2001:db8::1]");
        return 0;
    }
    if (strchr(s, ':') != NULL) {
        if (strchr(s, ':') == strrchr(s, ':'))
            return set_err(err, "give the port in the port setting, not after the host");
        if (!check_ip(AF_INET6, s, n))
            return set_err(err, "the host is not a valid IPv6 address");
        return 0;
    }
    if (strspn(s, "0123456789.") == n) {
        if (!check_ip(AF_INET, s, n))
            return set_err(err, "the host is not a valid IPv4 address");
        return 0;
    }
    return check_labels(s, n, false, "host name", err);
}
