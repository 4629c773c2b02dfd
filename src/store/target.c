/*
 * target - the target record: validation (DESIGN.md 4), targets.conf parsing and printing
 * (libconfig), and the store's record encoding. Route keys are in target_route.c.
 *
 * Owns struct target and struct target_set. The password is only ever the "enc:v1:..." string;
 * no message built here contains it, in any form. Values quoted in messages pass through
 * target_shown(), so a control character in the input never reaches a terminal or a log line.
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/addr.h"
#include "store/target_int.h"

#define HEADER_TEXT_MAX 998 /* RFC 5322 2.1.1: a line is at most 998 characters */
#define RATE_MAX 1000000
#define MAX_CONNECTIONS_MAX 1000
#define PASSWORD_PREFIX "enc:v1:"
#define RECORD_VERSION "1"


/* The settings of a target, in the order print and encode write them. */
enum field {
    F_NAME,
    F_HOST,
    F_PORT,
    F_SECURITY,
    F_USERNAME,
    F_PASSWORD,
    F_PASSWORD_FILE,
    F_FROM_ADDRESS,
    F_FROM_NAME,
    F_REPLY_TO,
    F_AUTH,
    F_MONTHLY_QUOTA,
    F_RATE,
    F_MAX_CONNECTIONS,
    F_VERIFY_TO,
    F_TLS_VERIFY,
    F_COUNT
};

enum field_type { FT_STRING, FT_INT, FT_BOOL };

static const struct field_info {
    const char *name;
    enum field_type type;
    bool required;
} fields[F_COUNT] = {
    [F_NAME] = {"name", FT_STRING, true},
    [F_HOST] = {"host", FT_STRING, true},
    [F_PORT] = {"port", FT_INT, true},
    [F_SECURITY] = {"security", FT_STRING, false},
    [F_USERNAME] = {"username", FT_STRING, true},
    [F_PASSWORD] = {"password", FT_STRING, false}, /* one of password, password_file */
    [F_PASSWORD_FILE] = {"password_file", FT_STRING, false},
    [F_FROM_ADDRESS] = {"from_address", FT_STRING, true},
    [F_FROM_NAME] = {"from_name", FT_STRING, false},
    [F_REPLY_TO] = {"reply_to", FT_STRING, false},
    [F_AUTH] = {"auth", FT_STRING, false},
    [F_MONTHLY_QUOTA] = {"monthly_quota", FT_INT, false},
    [F_RATE] = {"rate", FT_STRING, false},
    [F_MAX_CONNECTIONS] = {"max_connections", FT_INT, false},
    [F_VERIFY_TO] = {"verify_to", FT_STRING, false},
    [F_TLS_VERIFY] = {"tls_verify", FT_BOOL, false},
};

/* buf_take - the buffer's data for the caller to free; the buffer is left empty */
static char *buf_take(struct buf *b)
{
    char *p = b->data;

    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

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
    return buf_take(&b);
}

/* str - a field's string, "" for NULL (a target built by hand may leave optional ones unset) */
static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* target_init - every field at its default, strings allocated empty */
void target_init(struct target *t)
{
    memset(t, 0, sizeof(*t));
    t->name = xstrdup("");
    t->host = xstrdup("");
    t->port = 0;
    t->security = SMTP_SEC_STARTTLS;
    t->username = xstrdup("");
    t->password_enc = xstrdup("");
    t->auth = SMTP_AUTH_AUTO;
    t->from_address = xstrdup("");
    t->from_name = xstrdup("");
    t->reply_to = xstrdup("");
    t->rate = xstrdup("");
    t->verify_to = xstrdup("");
    t->tls_verify = true;
}

/* target_free - free the fields; the struct is left zeroed */
void target_free(struct target *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t->host);
    free(t->username);
    /* encrypted, but there is no reason to leave even that lying in freed memory */
    free_secret(t->password_enc);
    free(t->from_address);
    free(t->from_name);
    free(t->reply_to);
    free(t->rate);
    free(t->verify_to);
    memset(t, 0, sizeof(*t));
}

/* target_copy - a deep copy; NULL strings become "" */
void target_copy(struct target *dst, const struct target *src)
{
    *dst = *src;
    dst->name = xstrdup(str(src->name));
    dst->host = xstrdup(str(src->host));
    dst->username = xstrdup(str(src->username));
    dst->password_enc = xstrdup(str(src->password_enc));
    dst->from_address = xstrdup(str(src->from_address));
    dst->from_name = xstrdup(str(src->from_name));
    dst->reply_to = xstrdup(str(src->reply_to));
    dst->rate = xstrdup(str(src->rate));
    dst->verify_to = xstrdup(str(src->verify_to));
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

/* ---- whole targets ---- */

/* bad_port - the port range message, shared by the file and target_validate() */
static int bad_port(long long v, char **err)
{
    return set_err(err, "port: %lld is out of range (1-65535)", v);
}

/* bad_max_connections - the max_connections range message */
static int bad_max_connections(long long v, char **err)
{
    return set_err(err, "max_connections: %lld is out of range (0-%d; 0 = the delivery default)", v,
                   MAX_CONNECTIONS_MAX);
}

/* bad_password - the one message for a password that is not enc:v1:; never shows the value */
static int bad_password(const char *name, char **err)
{
    return set_err(err,
                   "password must be encrypted: run 'byosmtpctl encrypt %s' and paste its "
                   "enc:v1:\xe2\x80\xa6 output, or use password_file",
                   name != NULL && valid_target_name(name, NULL) == 0 ? name : "NAME");
}

/* wrap - replace *err by "FIELD: *err" */
static int wrap(const char *field, char **err)
{
    if (err != NULL && *err != NULL) {
        char *inner = *err;

        *err = xasprintf("%s: %s", field, inner);
        free(inner);
    }
    return -1;
}

/* check_address - an optional or required address field */
static int check_address(const char *field, const char *value, bool required, char **err)
{
    if (value[0] == '\0') {
        if (required)
            return set_err(err, "%s: is required", field);
        return 0;
    }
    if (valid_header_text(field, value, err) < 0)
        return -1;
    if (valid_address(value, err) < 0)
        return wrap(field, err);
    return 0;
}

/*
 * check_field - validate one field of T; 0, or -1 with *err "field: what is wrong".
 * Password errors never contain the password.
 */
static int check_field(const struct target *t, enum field f, char **err)
{
    const char *name = fields[f].name;

    switch (f) {
    case F_NAME:
        if (valid_target_name(str(t->name), err) < 0)
            return wrap(name, err);
        return 0;
    case F_HOST:
        if (str(t->host)[0] == '\0')
            return set_err(err, "host: is required");
        if (valid_header_text(name, t->host, err) < 0)
            return -1;
        if (valid_host(t->host, err) < 0)
            return wrap(name, err);
        return 0;
    case F_PORT:
        if (t->port < 1 || t->port > 65535)
            return bad_port(t->port, err);
        return 0;
    case F_SECURITY:
        if (smtp_security_parse(smtp_security_name(t->security)) < 0)
            return set_err(err, "security: unknown mode (allowed: starttls, tls, none)");
        return 0;
    case F_USERNAME:
        if (str(t->username)[0] == '\0')
            return set_err(err, "username: is required (the SMTP AUTH user name)");
        return valid_header_text(name, t->username, err);
    case F_PASSWORD:
        if (strncmp(str(t->password_enc), PASSWORD_PREFIX, strlen(PASSWORD_PREFIX)) != 0)
            return bad_password(t->name, err);
        return valid_header_text(name, t->password_enc, err);
    case F_FROM_ADDRESS:
        return check_address(name, str(t->from_address), true, err);
    case F_FROM_NAME:
        return valid_header_text(name, str(t->from_name), err);
    case F_REPLY_TO:
        return check_address(name, str(t->reply_to), false, err);
    case F_AUTH:
        if (smtp_auth_parse(smtp_auth_name(t->auth)) < 0)
            return set_err(err, "auth: unknown mechanism (allowed: auto, plain, login, "
                                "cram-md5, xoauth2)");
        return 0;
    case F_MONTHLY_QUOTA:
        if (t->monthly_quota > INT64_MAX)
            return set_err(err, "monthly_quota: %" PRIu64 " is too large (at most %" PRId64 ")",
                           t->monthly_quota, INT64_MAX);
        return 0;
    case F_RATE:
        if (valid_header_text(name, str(t->rate), err) < 0)
            return -1;
        if (valid_rate(str(t->rate), err) < 0)
            return wrap(name, err);
        return 0;
    case F_MAX_CONNECTIONS:
        if (t->max_connections < 0 || t->max_connections > MAX_CONNECTIONS_MAX)
            return bad_max_connections(t->max_connections, err);
        return 0;
    case F_VERIFY_TO:
        return check_address(name, str(t->verify_to), false, err);
    case F_PASSWORD_FILE:
    case F_TLS_VERIFY:
    case F_COUNT:
        break;
    }
    return 0;
}

/* target_validate - every field, in the order of the field table */
int target_validate(const struct target *t, char **err)
{
    for (enum field f = 0; f < F_COUNT; f++)
        if (check_field(t, f, err) < 0)
            return -1;
    return 0;
}

/* ---- targets.conf ---- */

/* The state of one parse: where errors point, and what has been read so far. */
struct parse {
    const char *file;
    char **err;
    struct target_set *set;
    char **pwfiles; /* one per target, parallel to set->targets */
    size_t tcap, rcap;
};

/* perr - "FILE:LINE: message" for setting S (the file may be an @include) */
static int perr(struct parse *p, const config_setting_t *s, const char *fmt, ...) BYO_PRINTF(3, 4);

static int perr(struct parse *p, const config_setting_t *s, const char *fmt, ...)
{
    const char *file = s != NULL ? config_setting_source_file(s) : NULL;
    int line = s != NULL ? (int)config_setting_source_line(s) : 0;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    set_err(p->err, "%s:%d: %s", file != NULL ? file : p->file, line, msg);
    free(msg);
    return -1;
}

/* perr_from - "FILE:LINE: " before a message already in *err */
static int perr_from(struct parse *p, const config_setting_t *s)
{
    char *inner;

    if (p->err == NULL)
        return -1;
    inner = *p->err;
    *p->err = NULL;
    perr(p, s, "%s", inner != NULL ? inner : "invalid value");
    free(inner);
    return -1;
}

/* field_lookup - the field called NAME, or -1 */
static int field_lookup(const char *name)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strcmp(fields[f].name, name) == 0)
            return f;
    return -1;
}

/* known_fields - "name, host, ..." for the unknown-setting message */
static char *known_fields(void)
{
    struct buf b;

    buf_init(&b);
    for (int f = 0; f < F_COUNT; f++)
        buf_printf(&b, "%s%s", f > 0 ? ", " : "", fields[f].name);
    return buf_take(&b);
}

/* resolve_path - a relative PATH taken from the directory of FILE */
static char *resolve_path(const char *file, const char *path)
{
    const char *slash = strrchr(file, '/');

    if (path[0] == '/' || slash == NULL)
        return xstrdup(path);
    return xasprintf("%.*s/%s", (int)(slash - file), file, path);
}

/* set_string - replace *dst by a copy of the setting's string */
static void set_string(char **dst, const config_setting_t *s, bool secret)
{
    if (secret)
        free_secret(*dst);
    else
        free(*dst);
    *dst = xstrdup(config_setting_get_string(s));
}

/*
 * read_value - type-check setting S of field F and store it in T (or *pwfile). Conversions that
 * the struct cannot hold (unknown names, numbers out of range) are checked here; the rest later.
 */
static int read_value(struct parse *p, const config_setting_t *s, enum field f, struct target *t,
                      char **pwfile)
{
    const char *name = fields[f].name;
    int type = config_setting_type(s);
    long long v = 0;
    char *val;
    int k;

    switch (fields[f].type) {
    case FT_STRING:
        if (type != CONFIG_TYPE_STRING)
            return perr(p, s, "%s: must be a string in double quotes", name);
        break;
    case FT_INT:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return perr(p, s, "%s: must be a whole number, without quotes", name);
        v = config_setting_get_int64(s);
        break;
    case FT_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return perr(p, s, "%s: must be true or false, without quotes", name);
        break;
    }

    switch (f) {
    case F_NAME:
        set_string(&t->name, s, false);
        break;
    case F_HOST:
        set_string(&t->host, s, false);
        break;
    case F_USERNAME:
        set_string(&t->username, s, false);
        break;
    case F_PASSWORD:
        set_string(&t->password_enc, s, true);
        break;
    case F_FROM_ADDRESS:
        set_string(&t->from_address, s, false);
        break;
    case F_FROM_NAME:
        set_string(&t->from_name, s, false);
        break;
    case F_REPLY_TO:
        set_string(&t->reply_to, s, false);
        break;
    case F_RATE:
        set_string(&t->rate, s, false);
        break;
    case F_VERIFY_TO:
        set_string(&t->verify_to, s, false);
        break;
    case F_PASSWORD_FILE: {
        const char *path = config_setting_get_string(s);

        if (path[0] == '\0')
            return perr(p, s,
                        "password_file: is empty; give the path of a file that holds "
                        "the password");
        if (has_line_break(path, strlen(path)))
            return perr(p, s, "password_file: contains a line break (CR or LF)");
        free(*pwfile);
        *pwfile = resolve_path(p->file, path);
        break;
    }
    case F_SECURITY:
    case F_AUTH:
        k = f == F_SECURITY ? smtp_security_parse(config_setting_get_string(s))
                            : smtp_auth_parse(config_setting_get_string(s));
        if (k < 0) {
            val = target_shown(config_setting_get_string(s));
            if (f == F_SECURITY)
                perr(p, s, "security: unknown mode '%s' (allowed: starttls, tls, none)", val);
            else
                perr(p, s,
                     "auth: unknown mechanism '%s' (allowed: auto, plain, login, "
                     "cram-md5, xoauth2)",
                     val);
            free(val);
            return -1;
        }
        if (f == F_SECURITY)
            t->security = (enum smtp_security)k;
        else
            t->auth = (enum smtp_auth)k;
        break;
    case F_PORT:
        if (v < 1 || v > 65535) {
            bad_port(v, p->err);
            return perr_from(p, s);
        }
        t->port = (int)v;
        break;
    case F_MONTHLY_QUOTA:
        /* libconfig wraps an integer above 2^31-1 written without L into a negative one */
        if (v < 0)
            return perr(p, s,
                        "monthly_quota: must not be negative (0 = unlimited; write numbers "
                        "above 2147483647 with an L suffix, e.g. 3000000000L)");
        t->monthly_quota = (uint64_t)v;
        break;
    case F_MAX_CONNECTIONS:
        if (v < 0 || v > MAX_CONNECTIONS_MAX) {
            bad_max_connections(v, p->err);
            return perr_from(p, s);
        }
        t->max_connections = (int)v;
        break;
    case F_TLS_VERIFY:
        t->tls_verify = config_setting_get_bool(s) != 0;
        break;
    case F_COUNT:
        break;
    }
    return 0;
}

/* parse_target - one { ... } of the targets list, appended to the set */
static int parse_target(struct parse *p, const config_setting_t *g)
{
    const config_setting_t *at[F_COUNT] = {NULL};
    struct target t;
    char *pwfile = NULL;
    int n = config_setting_length(g);

    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return perr(p, g, "targets: each entry must be a group { name = \"...\"; ... }");
    target_init(&t);
    t.line = (int)config_setting_source_line(g);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        int f = field_lookup(config_setting_name(s));

        if (f < 0) {
            char *known = known_fields();

            perr(p, s, "unknown setting '%s' in a target (known: %s)", config_setting_name(s),
                 known);
            free(known);
            goto fail;
        }
        at[f] = s;
        if (read_value(p, s, (enum field)f, &t, &pwfile) < 0)
            goto fail;
    }

    if (at[F_NAME] == NULL) {
        perr(p, g, "a target without a name: every target needs name = \"...\";");
        goto fail;
    }
    if (check_field(&t, F_NAME, p->err) < 0) {
        perr_from(p, at[F_NAME]);
        goto fail;
    }
    for (size_t i = 0; i < p->set->ntargets; i++)
        if (strcmp(p->set->targets[i].name, t.name) == 0) {
            perr(p, at[F_NAME], "duplicate target '%s' (first defined at line %d)", t.name,
                 p->set->targets[i].line);
            goto fail;
        }
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].required && at[f] == NULL) {
            perr(p, g, "target '%s': missing required setting '%s'", t.name, fields[f].name);
            goto fail;
        }
    if (at[F_PASSWORD] != NULL && at[F_PASSWORD_FILE] != NULL) {
        perr(p, at[F_PASSWORD_FILE],
             "target '%s': set either password or password_file, "
             "not both",
             t.name);
        goto fail;
    }
    if (at[F_PASSWORD] == NULL && at[F_PASSWORD_FILE] == NULL) {
        perr(p, g,
             "target '%s': missing password: set password = \"enc:v1:\xe2\x80\xa6\" (the "
             "output of 'byosmtpctl encrypt %s') or password_file = \"PATH\"",
             t.name, t.name);
        goto fail;
    }
    for (int f = 0; f < F_COUNT; f++) {
        /* absent optional fields hold their defaults, which are valid */
        if (at[f] != NULL && check_field(&t, (enum field)f, p->err) < 0) {
            perr_from(p, at[f]);
            goto fail;
        }
    }

    if (p->set->ntargets == p->tcap) {
        p->tcap = p->tcap * 2 + 4;
        p->set->targets = xrealloc(p->set->targets, p->tcap * sizeof(*p->set->targets));
        p->pwfiles = xrealloc(p->pwfiles, p->tcap * sizeof(*p->pwfiles));
    }
    p->pwfiles[p->set->ntargets] = pwfile;
    p->set->targets[p->set->ntargets++] = t;
    return 0;

fail:
    free(pwfile);
    target_free(&t);
    return -1;
}

/* parse_route - one { match = "..."; target = "..."; } of the routes list */
static int parse_route(struct parse *p, const config_setting_t *g)
{
    const config_setting_t *sm = NULL, *st = NULL;
    struct route r;
    char *v;
    int n = config_setting_length(g);

    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return perr(p, g,
                    "routes: each entry must be a group { match = \"...\"; target = "
                    "\"...\"; }");
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);

        if (strcmp(name, "match") == 0)
            sm = s;
        else if (strcmp(name, "target") == 0)
            st = s;
        else
            return perr(p, s, "unknown setting '%s' in a route (known: match, target)", name);
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
            return perr(p, s, "%s: must be a string in double quotes", name);
    }
    if (sm == NULL)
        return perr(p, g,
                    "route without a match: write match = \"@example.com\"; (or "
                    "user@domain, .domain, *)");
    if (st == NULL)
        return perr(p, g, "route without a target: write target = \"NAME\";");

    r.line = (int)config_setting_source_line(g);
    r.match = route_normalise(config_setting_get_string(sm), p->err);
    if (r.match == NULL)
        return perr_from(p, sm);
    for (size_t i = 0; i < p->set->nroutes; i++)
        if (strcmp(p->set->routes[i].match, r.match) == 0) {
            v = target_shown(r.match);
            perr(p, sm, "duplicate route '%s' (first defined at line %d)", v,
                 p->set->routes[i].line);
            free(v);
            free(r.match);
            return -1;
        }
    if (target_set_find(p->set, config_setting_get_string(st)) == NULL) {
        char *m = target_shown(r.match);

        v = target_shown(config_setting_get_string(st));
        perr(p, st, "route '%s' names target '%s', which is not defined in this file", m, v);
        free(m);
        free(v);
        free(r.match);
        return -1;
    }
    r.target = xstrdup(config_setting_get_string(st));

    if (p->set->nroutes == p->rcap) {
        p->rcap = p->rcap * 2 + 4;
        p->set->routes = xrealloc(p->set->routes, p->rcap * sizeof(*p->set->routes));
    }
    p->set->routes[p->set->nroutes++] = r;
    return 0;
}

/* parse_list - check that S is a list (or an empty array) of groups and parse each entry */
static int parse_list(struct parse *p, const config_setting_t *s,
                      int (*entry)(struct parse *, const config_setting_t *))
{
    int type = config_setting_type(s);
    int n = config_setting_length(s);

    if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0))
        return perr(p, s, "%s: must be a list of groups: %s = ( { ... }, { ... } );",
                    config_setting_name(s), config_setting_name(s));
    for (int i = 0; i < n; i++)
        if (entry(p, config_setting_get_elem(s, (unsigned)i)) < 0)
            return -1;
    return 0;
}

/* target_set_parse_file - read, check and compile targets.conf into a set */
int target_set_parse_file(const char *file, struct target_set *set, char ***password_files,
                          char **err)
{
    struct parse p = {.file = file, .err = err, .set = set};
    const config_setting_t *root, *targets = NULL, *routes = NULL;
    config_t cfg;
    int rc = -1;

    memset(set, 0, sizeof(*set));
    if (password_files != NULL)
        *password_files = NULL;
    config_init(&cfg);
    if (config_read_file(&cfg, file) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
            int e = errno;

            set_err(err, "%s: cannot read: %s", file, e != 0 ? strerror(e) : "I/O error");
        } else {
            set_err(err, "%s:%d: %s",
                    config_error_file(&cfg) != NULL ? config_error_file(&cfg) : file,
                    config_error_line(&cfg), config_error_text(&cfg));
        }
        goto out;
    }

    root = config_root_setting(&cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);

        if (strcmp(name, "targets") == 0) {
            targets = s;
        } else if (strcmp(name, "routes") == 0) {
            routes = s;
        } else {
            perr(&p, s, "unknown setting '%s' (this file holds only 'targets' and 'routes')", name);
            goto out;
        }
    }
    /* all targets first, so a route may name a target defined after it */
    if (targets != NULL && parse_list(&p, targets, parse_target) < 0)
        goto out;
    if (routes != NULL && parse_list(&p, routes, parse_route) < 0)
        goto out;
    rc = 0;

out:
    config_destroy(&cfg);
    if (rc < 0) {
        target_password_files_free(p.pwfiles, set->ntargets);
        target_set_free(set);
    } else if (password_files != NULL) {
        *password_files = p.pwfiles;
    } else {
        target_password_files_free(p.pwfiles, set->ntargets);
    }
    return rc;
}

/* target_set_free - free every target and route; the set is left empty */
void target_set_free(struct target_set *set)
{
    for (size_t i = 0; i < set->ntargets; i++)
        target_free(&set->targets[i]);
    for (size_t i = 0; i < set->nroutes; i++) {
        free(set->routes[i].match);
        free(set->routes[i].target);
    }
    free(set->targets);
    free(set->routes);
    memset(set, 0, sizeof(*set));
}

/* target_password_files_free - free the password_file paths of a parse */
void target_password_files_free(char **files, size_t n)
{
    if (files == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

/* target_set_find - look a target up by name */
const struct target *target_set_find(const struct target_set *set, const char *name)
{
    for (size_t i = 0; i < set->ntargets; i++)
        if (strcmp(set->targets[i].name, name) == 0)
            return &set->targets[i];
    return NULL;
}

/* print_string - a libconfig string literal, escaped as libconfig's own writer does */
static void print_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '\\':
            fputs("\\\\", fp);
            break;
        case '"':
            fputs("\\\"", fp);
            break;
        case '\n':
            fputs("\\n", fp);
            break;
        case '\r':
            fputs("\\r", fp);
            break;
        case '\t':
            fputs("\\t", fp);
            break;
        case '\f':
            fputs("\\f", fp);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(fp, "\\x%02x", c);
            else
                fputc(c, fp);
        }
    }
    fputc('"', fp);
}

/* print_setting - "    NAME = "VALUE";" */
static void print_setting(FILE *fp, const char *name, const char *value)
{
    fprintf(fp, "    %s = ", name);
    print_string(fp, str(value));
    fputs(";\n", fp);
}

/* target_set_print - write the set in targets.conf syntax (the dump format) */
void target_set_print(const struct target_set *set, FILE *fp)
{
    fputs("# byosmtp targets and routes; the format is described in byosmtp-targets(5)\n", fp);
    fputs(set->ntargets > 0 ? "targets = (\n" : "targets = ( );\n", fp);
    for (size_t i = 0; i < set->ntargets; i++) {
        const struct target *t = &set->targets[i];

        fputs("  {\n", fp);
        print_setting(fp, "name", t->name);
        print_setting(fp, "host", t->host);
        fprintf(fp, "    port = %d;\n", t->port);
        print_setting(fp, "security", smtp_security_name(t->security));
        print_setting(fp, "username", t->username);
        print_setting(fp, "password", t->password_enc);
        print_setting(fp, "from_address", t->from_address);
        print_setting(fp, "from_name", t->from_name);
        print_setting(fp, "reply_to", t->reply_to);
        print_setting(fp, "auth", smtp_auth_name(t->auth));
        /* libconfig needs the L suffix above 2^31-1, or it wraps the number */
        fprintf(fp, "    monthly_quota = %" PRIu64 "%s;\n", t->monthly_quota,
                t->monthly_quota > INT_MAX ? "L" : "");
        print_setting(fp, "rate", t->rate);
        fprintf(fp, "    max_connections = %d;\n", t->max_connections);
        print_setting(fp, "verify_to", t->verify_to);
        fprintf(fp, "    tls_verify = %s;\n", t->tls_verify ? "true" : "false");
        fputs(i + 1 < set->ntargets ? "  },\n" : "  }\n);\n", fp);
    }
    fputs("\n", fp);
    fputs(set->nroutes > 0 ? "routes = (\n" : "routes = ( );\n", fp);
    for (size_t i = 0; i < set->nroutes; i++) {
        fputs("  { match = ", fp);
        print_string(fp, set->routes[i].match);
        fputs("; target = ", fp);
        print_string(fp, set->routes[i].target);
        fputs(i + 1 < set->nroutes ? "; },\n" : "; }\n);\n", fp);
    }
}

/* ---- the store's record ---- */

/* put_value - "key=value\n", with \\, \r and \n escaped so that a record line is one line */
static void put_value(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, "%s=", key);
    for (const char *s = str(value); *s != '\0'; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else if (*s == '\r')
            buf_puts(b, "\\r");
        else
            buf_putc(b, *s);
    }
    buf_putc(b, '\n');
}

/* target_encode - the store record of a target */
char *target_encode(const struct target *t, size_t *len)
{
    struct buf b;
    char *out;

    buf_init(&b);
    buf_puts(&b, "v=" RECORD_VERSION "\n");
    put_value(&b, "name", t->name);
    put_value(&b, "host", t->host);
    buf_printf(&b, "port=%d\n", t->port);
    put_value(&b, "security", smtp_security_name(t->security));
    put_value(&b, "username", t->username);
    put_value(&b, "password", t->password_enc);
    put_value(&b, "from_address", t->from_address);
    put_value(&b, "from_name", t->from_name);
    put_value(&b, "reply_to", t->reply_to);
    put_value(&b, "auth", smtp_auth_name(t->auth));
    buf_printf(&b, "monthly_quota=%" PRIu64 "\n", t->monthly_quota);
    put_value(&b, "rate", t->rate);
    buf_printf(&b, "max_connections=%d\n", t->max_connections);
    put_value(&b, "verify_to", t->verify_to);
    buf_printf(&b, "tls_verify=%d\n", t->tls_verify ? 1 : 0);
    if (len != NULL)
        *len = b.len;
    /* the record holds the encrypted password: wipe the buffer's spare copy as well */
    out = xstrndup(b.data, b.len);
    buf_free_secret(&b);
    return out;
}

/* unescape - the value of a record line, or NULL when it holds an unknown escape */
static char *unescape(const char *s, size_t n)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            buf_putc(&b, s[i]);
            continue;
        }
        if (++i == n)
            goto bad;
        if (s[i] == '\\')
            buf_putc(&b, '\\');
        else if (s[i] == 'n')
            buf_putc(&b, '\n');
        else if (s[i] == 'r')
            buf_putc(&b, '\r');
        else
            goto bad;
    }
    return buf_take(&b);
bad:
    buf_free_secret(&b);
    return NULL;
}

/* parse_number - decimal digits only, within [0, max] */
static bool parse_number(const char *s, uint64_t max, uint64_t *out)
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

/* decode_field - store VALUE of field F in T; false when the value is corrupt */
static bool decode_field(struct target *t, enum field f, const char *value)
{
    uint64_t v;
    int k;

    switch (f) {
    case F_NAME:
        free(t->name);
        t->name = xstrdup(value);
        return true;
    case F_HOST:
        free(t->host);
        t->host = xstrdup(value);
        return true;
    case F_USERNAME:
        free(t->username);
        t->username = xstrdup(value);
        return true;
    case F_PASSWORD:
        free_secret(t->password_enc);
        t->password_enc = xstrdup(value);
        return true;
    case F_FROM_ADDRESS:
        free(t->from_address);
        t->from_address = xstrdup(value);
        return true;
    case F_FROM_NAME:
        free(t->from_name);
        t->from_name = xstrdup(value);
        return true;
    case F_REPLY_TO:
        free(t->reply_to);
        t->reply_to = xstrdup(value);
        return true;
    case F_RATE:
        free(t->rate);
        t->rate = xstrdup(value);
        return true;
    case F_VERIFY_TO:
        free(t->verify_to);
        t->verify_to = xstrdup(value);
        return true;
    case F_PORT:
        if (!parse_number(value, 65535, &v))
            return false;
        t->port = (int)v;
        return true;
    case F_MAX_CONNECTIONS:
        if (!parse_number(value, MAX_CONNECTIONS_MAX, &v))
            return false;
        t->max_connections = (int)v;
        return true;
    case F_MONTHLY_QUOTA:
        return parse_number(value, INT64_MAX, &t->monthly_quota);
    case F_SECURITY:
        if ((k = smtp_security_parse(value)) < 0)
            return false;
        t->security = (enum smtp_security)k;
        return true;
    case F_AUTH:
        if ((k = smtp_auth_parse(value)) < 0)
            return false;
        t->auth = (enum smtp_auth)k;
        return true;
    case F_TLS_VERIFY:
        if (strcmp(value, "1") != 0 && strcmp(value, "0") != 0)
            return false;
        t->tls_verify = value[0] == '1';
        return true;
    case F_PASSWORD_FILE:
    case F_COUNT:
        break;
    }
    return false;
}

/* target_decode - a target from its store record, validated */
int target_decode(const char *name, const char *rec, size_t len, struct target *t, char **err)
{
    bool seen[F_COUNT] = {false};
    char *shown_name = target_shown(name);
    char *why = NULL;
    size_t pos = 0;
    int lineno = 0;

    target_init(t);
    if (len == 0) {
        why = xstrdup("it is empty");
        goto fail;
    }
    if (memchr(rec, '\0', len) != NULL) {
        why = xstrdup("it holds a NUL byte");
        goto fail;
    }
    while (pos < len) {
        const char *line = rec + pos;
        const char *nl = memchr(line, '\n', len - pos);
        const char *eq;
        char *key, *value;
        int f;

        lineno++;
        if (nl == NULL) {
            why = xasprintf("line %d is cut short (no newline)", lineno);
            goto fail;
        }
        pos = (size_t)(nl - rec) + 1;
        eq = memchr(line, '=', (size_t)(nl - line));
        if (eq == NULL) {
            why = xasprintf("line %d has no '='", lineno);
            goto fail;
        }
        key = xstrndup(line, (size_t)(eq - line));
        if (lineno == 1) {
            bool is_v = strcmp(key, "v") == 0;

            free(key);
            if (!is_v) {
                why = xstrdup("the first line is not the version (v=1)");
                goto fail;
            }
            if ((size_t)(nl - eq - 1) != strlen(RECORD_VERSION) ||
                strncmp(eq + 1, RECORD_VERSION, strlen(RECORD_VERSION)) != 0) {
                char *ver = xstrndup(eq + 1, (size_t)(nl - eq - 1));
                char *sv = target_shown(ver);

                set_err(err,
                        "store record for target '%s' has version '%s', which this "
                        "byosmtp does not know (written by a newer version?)",
                        shown_name, sv);
                free(sv);
                free(ver);
                free(shown_name);
                target_free(t);
                return -1;
            }
            continue;
        }
        f = field_lookup(key);
        if (f < 0 || f == F_PASSWORD_FILE || seen[f]) {
            char *sk = target_shown(key);

            why = xasprintf(f < 0 || f == F_PASSWORD_FILE ? "unknown field '%s'"
                                                          : "field '%s' appears twice",
                            sk);
            free(sk);
            free(key);
            goto fail;
        }
        free(key);
        seen[f] = true;
        value = unescape(eq + 1, (size_t)(nl - eq - 1));
        if (value == NULL || !decode_field(t, (enum field)f, value)) {
            /* the value is not shown: it may be the password */
            why = xasprintf("field '%s' has a corrupt value", fields[f].name);
            free_secret(value);
            goto fail;
        }
        free_secret(value);
    }
    for (int f = 0; f < F_COUNT; f++)
        if ((fields[f].required || f == F_PASSWORD) && !seen[f]) {
            why = xasprintf("field '%s' is missing", fields[f].name);
            goto fail;
        }
    if (strcmp(t->name, name) != 0) {
        why = xstrdup("it holds another target's name");
        goto fail;
    }
    if (target_validate(t, &why) < 0)
        goto fail;
    free(shown_name);
    return 0;

fail:
    set_err(err, "corrupt store record for target '%s': %s", shown_name, why);
    free(why);
    free(shown_name);
    target_free(t);
    return -1;
}
