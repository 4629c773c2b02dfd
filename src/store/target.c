/*
 * target - the target record: init, free, copy, "target show" and validation (byosmtp-targets(5)), each
 * one loop over the field table (target_field.c), and the single-value checks its rows use.
 *
 * Owns struct target. The password is only ever the "enc:v1:..." string; no message built here
 * contains it, in any form. Values quoted in messages pass through target_shown(), so a control
 * character in the input never reaches a terminal or a log line.
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/addr.h"
#include "store/secret.h"
#include "store/target_int.h"

#define HEADER_TEXT_MAX 998 /* RFC 5322 2.1.1: a line is at most 998 characters */
#define RATE_MAX 1000000

/* target_shown - a copy of S that is safe to put in a message: controls escaped, ~100 bytes */
char *target_shown(const char *s)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    for (i = 0; s[i] != '\0' && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f || c == '\\')
            buf_printf(&b, "\\x%02x", c);
        else
            buf_putc(&b, c);
    }
    if (s[i] != '\0')
        buf_puts(&b, "...");
    return buf_steal(&b);
}

/* target_init - every field at its default: the table's text, decoded as a record value is */
void target_init(struct target *t)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (f->def == NULL) {
            if (target_field_is_string(f))
                target_field_set_string(t, f, "");
        } else if (!target_field_decode(t, f, f->def)) {
            abort(); /* a default its own field refuses: check_target_field tests every row */
        }
    }
}

/* target_free - free the strings (a secret wiped first); the struct is left zeroed */
void target_free(struct target *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        char **p = target_field_at(t, f);

        if (f->type == TT_SECRET)
            free_secret(*p); /* encrypted, but not to be left lying in freed memory either */
        else if (target_field_is_string(f))
            free(*p);
    }
    memset(t, 0, sizeof(*t));
}

/* target_copy - a deep copy; NULL strings become "" */
void target_copy(struct target *dst, const struct target *src)
{
    *dst = *src;
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (target_field_is_string(f))
            *(char **)target_field_at(dst, f) = xstrdup(target_field_string(src, f));
    }
}

/* show_field - "key = value" for target_show() */
static void show_field(const struct target *t, const struct target_field *f, FILE *fp)
{
    char buf[TARGET_TEXT_MAX];
    const char *v;

    if (f->type == TT_SECRET)
        v = target_field_string(t, f)[0] != '\0' ? "(set)" : "(not set)";
    else if (f->type == TT_BOOL)
        v = target_field_int(t, f) ? "true" : "false";
    else
        v = target_field_text(t, f, buf);
    if (f->type == TT_MATCHES) {
        /* one line: the matches separated by ", " */
        fprintf(fp, "%s = ", f->key);
        for (; *v != '\0'; v++)
            if (*v == '\n')
                fputs(", ", fp);
            else
                fputc(*v, fp);
        fputc('\n', fp);
        return;
    }
    fprintf(fp, "%s = %s\n", f->key, v);
}

/* target_show - table order, each field followed by those shown after it */
void target_show(const struct target *t, FILE *fp)
{
    for (size_t i = 0; i < target_nfields; i++) {
        if (target_fields[i].show_after != NULL)
            continue;
        show_field(t, &target_fields[i], fp);
        for (size_t j = 0; j < target_nfields; j++)
            if (target_fields[j].show_after != NULL &&
                strcmp(target_fields[j].show_after, target_fields[i].key) == 0)
                show_field(t, &target_fields[j], fp);
    }
}

/* ---- single values ---- */

/* valid_target_name - [a-z0-9._-]{1,64}, and not "." or ".." */
int valid_target_name(const char *name, char **err)
{
    size_t n = strlen(name);
    char *v;

    if (n >= 1 && n <= TARGET_NAME_MAX &&
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n && strcmp(name, ".") != 0 &&
        strcmp(name, "..") != 0)
        return 0;
    v = target_shown(name);
    set_err(err,
            "'%s' is not a valid target name: use [a-z0-9._-]{1,64} (lower-case letters, "
            "digits, '.', '_' and '-'; not '.' or '..')",
            v);
    free(v);
    return -1;
}

/* valid_host - a host to connect to; the message quotes it safely */
int valid_host(const char *host, char **err)
{
    char *why = NULL;
    char *v;

    if (addr_check_host(host, &why) == 0)
        return 0;
    v = target_shown(host);
    set_err(err, "'%s' is not a valid host: %s", v, why);
    free(v);
    free(why);
    return -1;
}

/* valid_address - an RFC 5321 mailbox; the message quotes it safely */
int valid_address(const char *addr, char **err)
{
    char *why = NULL;
    char *v;

    if (addr_check_mailbox(addr, &why) == 0)
        return 0;
    v = target_shown(addr);
    set_err(err, "'%s' is not a valid address: %s", v, why);
    free(v);
    free(why);
    return -1;
}

/* valid_header_text - no CR, LF or NUL, at most 998 bytes; never quotes the value */
int valid_header_text(const char *what, const char *value, char **err)
{
    size_t n = strlen(value);

    /* The value is never echoed: this check also guards the password. */
    if (has_line_break(value, n))
        return set_err(err,
                       "%s: contains a line break (CR or LF), which could inject a mail "
                       "header; remove it",
                       what);
    if (n > HEADER_TEXT_MAX)
        return set_err(err, "%s: is %zu bytes long; at most %d are allowed", what, n,
                       HEADER_TEXT_MAX);
    return 0;
}

/* valid_rate - "" or N/s or N/m with 1 <= N <= 1000000 */
int valid_rate(const char *rate, char **err)
{
    size_t digits = strspn(rate, "0123456789");
    unsigned long v = 0;
    char *s;

    if (rate[0] == '\0')
        return 0;
    if (digits >= 1 && digits <= 7 && rate[digits] == '/' &&
        (strcmp(rate + digits + 1, "s") == 0 || strcmp(rate + digits + 1, "m") == 0)) {
        v = strtoul(rate, NULL, 10);
        if (v >= 1 && v <= RATE_MAX)
            return 0;
    }
    s = target_shown(rate);
    set_err(err,
            "'%s' is not a valid rate: write N/s (per second) or N/m (per minute) with N "
            "from 1 to %d, e.g. \"14/s\"",
            s, RATE_MAX);
    free(s);
    return -1;
}

/* ---- one field, whole targets ---- */

/* wrap - replace *err by "KEY: *err" */
static int wrap(const char *key, char **err)
{
    if (err != NULL && *err != NULL) {
        char *inner = *err;

        *err = xasprintf("%s: %s", key, inner);
        free(inner);
    }
    return -1;
}

/* target_range_err - the one range message, shared by targets.conf and validation */
int target_range_err(const struct target_field *f, long long v, char **err)
{
    return set_err(err, "%s: %lld is out of range (%lld-%lld%s%s)", f->key, v, f->min, f->max,
                   f->note != NULL ? "; " : "", f->note != NULL ? f->note : "");
}

/* check_string - TT_STRING, TT_ADDRESS and TT_HOSTLIST: required, header-safe, then the row's
 * own check */
static int check_string(const struct target *t, const struct target_field *f, char **err)
{
    const char *v = target_field_string(t, f);
    target_check_fn *check = f->type == TT_ADDRESS ? valid_address : f->check;

    if (v[0] == '\0') {
        if (!target_field_required(t, f))
            return 0;
        if (f->note != NULL)
            return set_err(err, "%s: is required (%s)", f->key, f->note);
        return set_err(err, "%s: is required", f->key);
    }
    if (valid_header_text(f->key, v, err) < 0)
        return -1;
    if (check != NULL && check(v, err) < 0)
        return wrap(f->key, err);
    return 0;
}

/* check_secret - the enc:v1: form only; the message never shows the value */
static int check_secret(const struct target *t, const struct target_field *f, char **err)
{
    const char *v = target_field_string(t, f);
    const char *name = t->name != NULL && valid_target_name(t->name, NULL) == 0 ? t->name : "NAME";

    if (v[0] == '\0' && !target_field_required(t, f))
        return 0;
    if (strncmp(v, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0 && f->file_key != NULL)
        return set_err(err,
                       "%s must be encrypted: run 'byosmtpctl encrypt %s' and paste its "
                       "enc:v1:\xe2\x80\xa6 output, or use %s",
                       f->key, name, f->file_key);
    if (strncmp(v, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
        return set_err(err,
                       "%s must be encrypted: run 'byosmtpctl encrypt %s' and paste its "
                       "enc:v1:\xe2\x80\xa6 output, or give it with 'byosmtpctl target set %s "
                       "--%s-file F'",
                       f->key, name, name, f->option);
    return valid_header_text(f->key, v, err);
}

/* check_matches - TT_MATCHES: each line a match in its stored form, or "<>", and no repeats */
static int check_matches(const struct target *t, const struct target_field *f, char **err)
{
    const char *v = target_field_string(t, f);

    for (const char *p = v; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        char *m = xstrndup(p, nl != NULL ? (size_t)(nl - p) : strlen(p));
        char *norm = strcmp(m, "<>") == 0 ? xstrdup(m) : route_normalise(m, err);
        bool ok = norm != NULL && strcmp(norm, m) == 0;
        int rc = 0;

        if (norm != NULL && !ok) {
            char *shown = target_shown(m);

            set_err(err, "'%s' is not in its stored form (write it as '%s')", shown, norm);
            free(shown);
        }
        if (!ok)
            rc = wrap(f->key, err);
        else if (nl != NULL && route_match_in_list(nl + 1, m))
            rc = set_err(err, "%s: '%s' is given twice", f->key, m);
        free(norm);
        free(m);
        if (rc < 0)
            return -1;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

/* target_check_auth - auth none: TLS only and no credentials; the field at fault, or NULL */
const struct target_field *target_check_auth(const struct target *t, char **err)
{
    if (t->auth != SMTP_AUTH_NONE)
        return NULL;
    if (t->security != SMTP_SEC_STARTTLS && t->security != SMTP_SEC_TLS) {
        set_err(err, "auth: none (a relay that authorises by IP address) needs security starttls "
                     "or tls: without TLS a relay that trusts the address would take mail in "
                     "clear text");
        return target_field_find("auth");
    }
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (f->credential && target_field_string(t, f)[0] != '\0') {
            set_err(err, "%s: auth none sends no credentials: remove the %s (or choose an AUTH "
                         "mechanism such as auto)", f->key, f->key);
            return f;
        }
    }
    return NULL;
}

/* target_check_field - validate one field by its type and row */
int target_check_field(const struct target *t, const struct target_field *f, char **err)
{
    long long v;
    char *words;

    switch (f->type) {
    case TT_NAME:
        if (valid_target_name(target_field_string(t, f), err) < 0)
            return wrap(f->key, err);
        return 0;
    case TT_STRING:
    case TT_ADDRESS:
    case TT_HOSTLIST:
        return check_string(t, f, err);
    case TT_SECRET:
        return check_secret(t, f, err);
    case TT_MATCHES:
        return check_matches(t, f, err);
    case TT_INT:
        v = target_field_int(t, f);
        return v < f->min || v > f->max ? target_range_err(f, v, err) : 0;
    case TT_UINT64:
        if (target_field_u64(t, f) > (uint64_t)f->max)
            return set_err(err, "%s: %" PRIu64 " is too large (at most %lld)", f->key,
                           target_field_u64(t, f), f->max);
        return 0;
    case TT_ENUM:
        v = target_field_int(t, f);
        if (f->words->parse(f->words->name((int)v)) == v)
            return 0;
        words = target_field_words(f, ", ");
        set_err(err, "%s: unknown %s (allowed: %s)", f->key, f->words->what, words);
        free(words);
        return -1;
    case TT_BOOL:
        break;
    }
    return 0;
}

/* target_validate - every field, in the order of the field table, then those that go together */
int target_validate(const struct target *t, char **err)
{
    for (size_t i = 0; i < target_nfields; i++)
        if (target_check_field(t, &target_fields[i], err) < 0)
            return -1;
    if (target_check_auth(t, err) != NULL)
        return -1;
    return target_check_oauth(t, err);
}

/* ---- OAuth2 ---- */

/* valid_oauth_url - https://HOST..., printable ASCII without blanks; never plain http */
int valid_oauth_url(const char *url, char **err)
{
    char *v;

    if (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/') {
        const char *p = url;

        while (*p > 0x20 && *p < 0x7f)
            p++;
        if (*p == '\0')
            return 0;
    }
    v = target_shown(url);
    set_err(err,
            "'%s' is not an https:// URL: the token endpoint is reached over HTTPS only, e.g. "
            "https://oauth2.googleapis.com/token",
            v);
    free(v);
    return -1;
}

/* target_uses_oauth - auth xoauth2 with a token endpoint or a token command */
bool target_uses_oauth(const struct target *t)
{
    return t->auth == SMTP_AUTH_XOAUTH2 &&
           ((t->oauth_token_url != NULL && *t->oauth_token_url) ||
            (t->oauth_token_command != NULL && *t->oauth_token_command));
}

/* is_set - a string field that holds a value */
static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

/* target_check_oauth - the OAuth2 fields together (see target.h) */
int target_check_oauth(const struct target *t, char **err)
{
    bool url = is_set(t->oauth_token_url), cmd = is_set(t->oauth_token_command);

    if (url && cmd)
        return set_err(err, "oauth_token_command: set either oauth_token_url (a refresh token "
                            "grant) or oauth_token_command, not both");
    if ((url || cmd) && t->auth != SMTP_AUTH_XOAUTH2)
        return set_err(err,
                       "%s: is used only with auth = \"xoauth2\" (byosmtpctl: --auth xoauth2); "
                       "or clear it (--%s \"\")",
                       url ? "oauth_token_url" : "oauth_token_command",
                       url ? "oauth-token-url" : "oauth-token-command");
    if (url && !is_set(t->oauth_client_id))
        return set_err(err, "oauth_client_id: is required with oauth_token_url (the OAuth2 "
                            "client id of the app registration)");
    if (url && !is_set(t->oauth_refresh_token_enc))
        return set_err(err,
                       "oauth_refresh_token: is required with oauth_token_url (byosmtpctl: "
                       "--oauth-refresh-token-file F; targets.conf: the output of 'byosmtpctl "
                       "encrypt %s')",
                       is_set(t->name) ? t->name : "NAME");
    return 0;
}
