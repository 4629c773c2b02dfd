/*
 * target_field - the table of a target's fields and one field's value: where it lives in
 * struct target, how it reads and writes in the store record's syntax, the words of an enum.
 *
 * Owns target_fields[], the one place a field is described; every other operation on a target
 * (target.c, target_set.c, target_codec.c, byosmtpctl's options) loops over it.
 * A constant table and functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/target_int.h"

#define PORT_MAX 65535
#define MAX_CONNECTIONS_MAX 1000
#define FALLBACK_AFTER_MAX 31536000 /* a year */
#define QUOTA_OPTION_MAX 1000000000000LL /* what byosmtpctl --quota takes */

_Static_assert(sizeof(enum smtp_security) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum smtp_auth) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum target_fallback) == sizeof(int), "enums are stored as int");

/* security_word - smtp_security_name() for an int */
static const char *security_word(int v)
{
    return smtp_security_name((enum smtp_security)v);
}

/* auth_word - smtp_auth_name() for an int */
static const char *auth_word(int v)
{
    return smtp_auth_name((enum smtp_auth)v);
}

/* fallback_word - target_fallback_name() for an int */
static const char *fallback_word(int v)
{
    return target_fallback_name((enum target_fallback)v);
}

static const struct target_words security_words = {"mode", security_word, smtp_security_parse};
static const struct target_words auth_words = {"mechanism", auth_word, smtp_auth_parse};
static const struct target_words fallback_words = {"fallback", fallback_word,
                                                   target_fallback_parse};

#define OFF(member) offsetof(struct target, member)

/* The order is that of targets.conf, the dump, the store record and validation. */
const struct target_field target_fields[] = {
    {"name", NULL, TT_NAME, OFF(name), .required = true},
    {"host", "host", TT_STRING, OFF(host), .required = true, .check = valid_host},
    {"port", "port", TT_INT, OFF(port), .required = true, .min = 1, .max = PORT_MAX},
    {"security", "security", TT_ENUM, OFF(security), .def = "starttls", .words = &security_words},
    {"username", "username", TT_STRING, OFF(username), .required = true,
     .note = "the SMTP AUTH user name", .credential = true},
    {"password", "password", TT_SECRET, OFF(password_enc), .required = true,
     .file_key = "password_file", .optional_when = target_uses_oauth, .credential = true},
    {"from_address", "from", TT_ADDRESS, OFF(from_address), .required = true},
    {"from_name", "from-name", TT_STRING, OFF(from_name), .required = false},
    {"reply_to", "reply-to", TT_ADDRESS, OFF(reply_to), .required = false},
    {"auth", "auth", TT_ENUM, OFF(auth), .def = "auto", .words = &auth_words,
     .show_after = "password"},
    /* OAuth2 (auth = "xoauth2"); target_check_oauth() checks them together */
    {"oauth_token_url", "oauth-token-url", TT_STRING, OFF(oauth_token_url),
     .check = valid_oauth_url, .show_after = "password"},
    {"oauth_client_id", "oauth-client-id", TT_STRING, OFF(oauth_client_id),
     .show_after = "password"},
    {"oauth_client_secret", "oauth-client-secret", TT_SECRET, OFF(oauth_client_secret_enc),
     .show_after = "password"},
    {"oauth_refresh_token", "oauth-refresh-token", TT_SECRET, OFF(oauth_refresh_token_enc),
     .show_after = "password"},
    {"oauth_scope", "oauth-scope", TT_STRING, OFF(oauth_scope), .show_after = "password"},
    {"oauth_token_command", "oauth-token-command", TT_STRING, OFF(oauth_token_command),
     .show_after = "password"},
    {"monthly_quota", "quota", TT_UINT64, OFF(monthly_quota), .max = INT64_MAX,
     .option_max = QUOTA_OPTION_MAX, .note = "0 = unlimited"},
    {"rate", "rate", TT_STRING, OFF(rate), .check = valid_rate},
    {"max_connections", "max-connections", TT_INT, OFF(max_connections), .max = MAX_CONNECTIONS_MAX,
     .note = "0 = the delivery default"},
    {"verify_to", "verify-to", TT_ADDRESS, OFF(verify_to), .required = false},
    {"tls_verify", "tls-verify", TT_BOOL, OFF(tls_verify), .def = "1"},
    {"envelope_from", "envelope-from", TT_ADDRESS, OFF(envelope_from), .required = false},
    {"allowed_senders", "allowed-sender", TT_MATCHES, OFF(allowed_senders), .required = false},
    {"fallback_hosts", "fallback-host", TT_HOSTLIST, OFF(fallback_hosts), .check = valid_host_list,
     .note = "HOST:PORT, tried in order when host fails at connection or TLS level"},
    {"fallback", "fallback", TT_ENUM, OFF(fallback), .def = "none", .words = &fallback_words},
    {"fallback_after", "fallback-after", TT_INT, OFF(fallback_after), .def = "3600",
     .max = FALLBACK_AFTER_MAX, .note = "seconds without success before fallback = mta"},
};

const size_t target_nfields = sizeof(target_fields) / sizeof(target_fields[0]);

_Static_assert(sizeof(target_fields) / sizeof(target_fields[0]) <= TARGET_FIELDS_MAX,
               "raise TARGET_FIELDS_MAX");

/* target_field_at - the member of T that F describes */
void *target_field_at(const struct target *t, const struct target_field *f)
{
    return (char *)t + f->offset;
}

/* target_field_find - look a field up by key */
const struct target_field *target_field_find(const char *key)
{
    for (size_t i = 0; i < target_nfields; i++)
        if (strcmp(target_fields[i].key, key) == 0)
            return &target_fields[i];
    return NULL;
}

/* target_field_is_string - the types held as char * */
bool target_field_is_string(const struct target_field *f)
{
    return f->type == TT_NAME || f->type == TT_STRING || f->type == TT_ADDRESS ||
           f->type == TT_SECRET || f->type == TT_MATCHES ||
           f->type == TT_HOSTLIST;
}

/* target_field_required - the row's word, except where T does without F (see target.h) */
bool target_field_required(const struct target *t, const struct target_field *f)
{
    if (!f->required)
        return false;
    if (f->optional_when != NULL && f->optional_when(t))
        return false;
    return !(f->credential && t->auth == SMTP_AUTH_NONE);
}

/* target_field_string - a string member, "" for NULL (a target built by hand may leave one) */
const char *target_field_string(const struct target *t, const struct target_field *f)
{
    const char *s = *(char **)target_field_at(t, f);

    return s != NULL ? s : "";
}

/* target_field_int - an int, bool or enum member as a number */
long long target_field_int(const struct target *t, const struct target_field *f)
{
    if (f->type == TT_BOOL)
        return *(bool *)target_field_at(t, f) ? 1 : 0;
    return *(int *)target_field_at(t, f);
}

/* target_field_u64 - a uint64_t member */
uint64_t target_field_u64(const struct target *t, const struct target_field *f)
{
    return *(uint64_t *)target_field_at(t, f);
}

/* target_field_set_string - replace a string member; a secret's old value is wiped */
void target_field_set_string(struct target *t, const struct target_field *f, const char *value)
{
    char **p = target_field_at(t, f);

    if (f->type == TT_SECRET)
        free_secret(*p);
    else
        free(*p);
    *p = xstrdup(value);
}

/* target_field_set_number - store V in a number, bool or enum member */
void target_field_set_number(struct target *t, const struct target_field *f, long long v)
{
    if (f->type == TT_UINT64)
        *(uint64_t *)target_field_at(t, f) = (uint64_t)v;
    else if (f->type == TT_BOOL)
        *(bool *)target_field_at(t, f) = v != 0;
    else
        *(int *)target_field_at(t, f) = (int)v;
}

/* target_field_text - the record's form of a value (see target.h) */
const char *target_field_text(const struct target *t, const struct target_field *f,
                              char buf[TARGET_TEXT_MAX])
{
    switch (f->type) {
    case TT_INT:
        snprintf(buf, TARGET_TEXT_MAX, "%lld", target_field_int(t, f));
        return buf;
    case TT_UINT64:
        snprintf(buf, TARGET_TEXT_MAX, "%" PRIu64, target_field_u64(t, f));
        return buf;
    case TT_BOOL:
        return target_field_int(t, f) ? "1" : "0";
    case TT_ENUM:
        return f->words->name((int)target_field_int(t, f));
    case TT_NAME:
    case TT_STRING:
    case TT_ADDRESS:
    case TT_SECRET:
    case TT_MATCHES:
    case TT_HOSTLIST:
        break;
    }
    return target_field_string(t, f);
}

/* parse_digits - decimal digits only (no sign, no blank), within [0, max] */
static bool parse_digits(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0' || strlen(s) > 20)
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* target_field_decode - a value from the record's syntax; the range's lower end is validation's */
bool target_field_decode(struct target *t, const struct target_field *f, const char *text)
{
    uint64_t v;
    int k;

    switch (f->type) {
    case TT_INT:
    case TT_UINT64:
        if (!parse_digits(text, (uint64_t)f->max, &v))
            return false;
        target_field_set_number(t, f, (long long)v);
        return true;
    case TT_BOOL:
        if (strcmp(text, "1") != 0 && strcmp(text, "0") != 0)
            return false;
        target_field_set_number(t, f, text[0] == '1');
        return true;
    case TT_ENUM:
        if ((k = f->words->parse(text)) < 0)
            return false;
        target_field_set_number(t, f, k);
        return true;
    case TT_NAME:
    case TT_STRING:
    case TT_ADDRESS:
    case TT_SECRET:
    case TT_MATCHES:
    case TT_HOSTLIST:
        break;
    }
    target_field_set_string(t, f, text);
    return true;
}

/* target_field_words - "starttls, tls, none" (LAST ", ") or "starttls, tls or none" (" or ") */
char *target_field_words(const struct target_field *f, const char *last)
{
    struct buf b;
    int n = 0;

    while (f->words->parse(f->words->name(n)) == n)
        n++;
    buf_init(&b);
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : last, f->words->name(i));
    return buf_steal(&b);
}
