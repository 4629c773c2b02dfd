/*
 * smtp_mode - the words of the security modes and AUTH mechanisms (see smtp_mode.h).
 */
#include "config.h"

#include <stddef.h>
#include <strings.h>

#include "smtp/smtp_mode.h"

static const char *const security_names[] = {"starttls", "tls", "none"};
static const char *const auth_names[] = {
    "auto", "plain", "login", "cram-md5", "xoauth2",
    "none",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* word_parse - the index of S in NAMES (any case), -1 when absent */
static int word_parse(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

const char *smtp_security_name(enum smtp_security s)
{
    return (unsigned)s < NELEM(security_names) ? security_names[s] : "unknown";
}

int smtp_security_parse(const char *s)
{
    return word_parse(security_names, NELEM(security_names), s);
}

const char *smtp_auth_name(enum smtp_auth a)
{
    return (unsigned)a < NELEM(auth_names) ? auth_names[a] : "unknown";
}

int smtp_auth_parse(const char *s)
{
    return word_parse(auth_names, NELEM(auth_names), s);
}
