/*
 * target_set - targets.conf: reading it (libconfig) into a checked set of targets and routes,
 * and printing a set back in the same syntax (the dump format). Each target setting is read
 * and printed by its field's type (target_field.c), so a new field needs nothing here.
 *
 * Owns struct target_set and the password_file paths of a parse. Errors read "FILE:LINE: what
 * is wrong" and quote values through target_shown(); a password is never quoted.
 * Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/target_int.h"

/* The state of one parse: where errors point, and what has been read so far. */
struct parse {
    const char *file;
    char **err;
    struct target_set *set;
    char **pwfiles; /* one per target, parallel to set->targets */
    size_t tcap, rcap, scap;
};

/* The settings of the target being read: one per field, and a secret's file_key. */
struct seen {
    const config_setting_t *at[TARGET_FIELDS_MAX];
    const config_setting_t *file[TARGET_FIELDS_MAX];
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

/* field_lookup - the field whose key or file_key is KEY (*file tells which), or NULL */
static const struct target_field *field_lookup(const char *key, bool *file)
{
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        *file = f->file_key != NULL && strcmp(f->file_key, key) == 0;
        if (*file || strcmp(f->key, key) == 0)
            return f;
    }
    return NULL;
}

/* known_fields - "name, host, ..., password, password_file, ..." for the unknown-setting message */
static char *known_fields(void)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < target_nfields; i++) {
        buf_printf(&b, "%s%s", i > 0 ? ", " : "", target_fields[i].key);
        if (target_fields[i].file_key != NULL)
            buf_printf(&b, ", %s", target_fields[i].file_key);
    }
    return buf_steal(&b);
}

/* resolve_path - a relative PATH taken from the directory of FILE */
static char *resolve_path(const char *file, const char *path)
{
    const char *slash = strrchr(file, '/');

    if (path[0] == '/' || slash == NULL)
        return xstrdup(path);
    return xasprintf("%.*s/%s", (int)(slash - file), file, path);
}

/* read_file_key - a secret's file_key = "PATH": kept, relative to FILE's directory, in *pwfile */
static int read_file_key(struct parse *p, const config_setting_t *s, const struct target_field *f,
                         char **pwfile)
{
    const char *path;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return perr(p, s, "%s: must be a string in double quotes", f->file_key);
    path = config_setting_get_string(s);
    if (path[0] == '\0')
        return perr(p, s, "%s: is empty; give the path of a file that holds the %s", f->file_key,
                    f->key);
    if (has_line_break(path, strlen(path)))
        return perr(p, s, "%s: contains a line break (CR or LF)", f->file_key);
    free(*pwfile);
    *pwfile = resolve_path(p->file, path);
    return 0;
}

/* read_word - a TT_ENUM setting: one of its words, in any case */
static int read_word(struct parse *p, const config_setting_t *s, const struct target_field *f,
                     struct target *t)
{
    int k = f->words->parse(config_setting_get_string(s));
    char *val, *words;

    if (k >= 0) {
        target_field_set_number(t, f, k);
        return 0;
    }
    val = target_shown(config_setting_get_string(s));
    words = target_field_words(f, ", ");
    perr(p, s, "%s: unknown %s '%s' (allowed: %s)", f->key, f->words->what, val, words);
    free(words);
    free(val);
    return -1;
}

/* read_number - a TT_INT or TT_UINT64 setting, range-checked before the member can hold it */
static int read_number(struct parse *p, const config_setting_t *s, const struct target_field *f,
                       struct target *t)
{
    long long v = config_setting_get_int64(s);

    /* libconfig wraps an integer above 2^31-1 written without L into a negative one */
    if (f->type == TT_UINT64 && v < 0)
        return perr(p, s,
                    "%s: must not be negative (%s%swrite numbers above 2147483647 with an L "
                    "suffix, e.g. 3000000000L)",
                    f->key, f->note != NULL ? f->note : "", f->note != NULL ? "; " : "");
    if (f->type == TT_INT && (v < f->min || v > f->max)) {
        target_range_err(f, v, p->err);
        return perr_from(p, s);
    }
    target_field_set_number(t, f, v);
    return 0;
}

/* read_matches - a TT_MATCHES setting: a list of strings, each a route match (or "<>") */
static int read_matches(struct parse *p, const config_setting_t *s, const struct target_field *f,
                        struct target *t)
{
    int type = config_setting_type(s), n = config_setting_length(s);
    const char **items;
    char *joined, *why = NULL;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return perr(p, s, "%s: must be a list of strings: %s = [ \"@example.com\", "
                    "\"user@example.org\" ];", f->key, f->key);
    items = xcalloc((size_t)n + 1, sizeof(*items));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            free(items);
            return perr(p, s, "%s: must be a list of strings in double quotes", f->key);
        }
        items[i] = config_setting_get_string(e);
    }
    joined = route_match_list(items, (size_t)n, &why);
    free(items);
    if (joined == NULL) {
        perr(p, s, "%s: %s", f->key, why);
        free(why);
        return -1;
    }
    target_field_set_string(t, f, joined);
    free(joined);
    return 0;
}

/* read_hosts - a TT_HOSTLIST setting: an array of "HOST:PORT" strings, joined with commas */
static int read_hosts(struct parse *p, const config_setting_t *s, const struct target_field *f,
                      struct target *t)
{
    int type = config_setting_type(s), n = config_setting_length(s);
    struct buf b;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return perr(p, s, "%s: must be an array of strings: %s = [ \"HOST:PORT\", ... ];", f->key,
                    f->key);
    buf_init(&b);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);

        if (config_setting_type(e) != CONFIG_TYPE_STRING || v == NULL) {
            buf_free(&b);
            return perr(p, e, "%s: must be an array of strings: %s = [ \"HOST:PORT\", ... ];",
                        f->key, f->key);
        }
        if (v[0] == '\0' || strchr(v, ',') != NULL) {
            buf_free(&b);
            return perr(p, e, "%s: each entry is one HOST:PORT", f->key);
        }
        buf_printf(&b, "%s%s", i > 0 ? "," : "", v);
    }
    target_field_set_string(t, f, b.data != NULL ? b.data : "");
    buf_free(&b);
    return 0;
}

/*
 * read_value - type-check setting S of field F and store it in T. Conversions that the struct
 * cannot hold (unknown words, numbers out of range) are checked here; the rest by check_all().
 */
static int read_value(struct parse *p, const config_setting_t *s, const struct target_field *f,
                      struct target *t)
{
    int type = config_setting_type(s);

    switch (f->type) {
    case TT_INT:
    case TT_UINT64:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return perr(p, s, "%s: must be a whole number, without quotes", f->key);
        return read_number(p, s, f, t);
    case TT_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return perr(p, s, "%s: must be true or false, without quotes", f->key);
        target_field_set_number(t, f, config_setting_get_bool(s) != 0);
        return 0;
    case TT_MATCHES:
        return read_matches(p, s, f, t);
    case TT_HOSTLIST:
        return read_hosts(p, s, f, t);
    case TT_NAME:
    case TT_STRING:
    case TT_ADDRESS:
    case TT_SECRET:
    case TT_ENUM:
        break;
    }
    if (type != CONFIG_TYPE_STRING)
        return perr(p, s, "%s: must be a string in double quotes", f->key);
    if (f->type == TT_ENUM)
        return read_word(p, s, f, t);
    target_field_set_string(t, f, config_setting_get_string(s));
    return 0;
}

/* read_settings - every setting of group G into T, *pwfile and SEEN */
static int read_settings(struct parse *p, const config_setting_t *g, struct target *t,
                         char **pwfile, struct seen *seen)
{
    int n = config_setting_length(g);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        bool file = false;
        const struct target_field *f = field_lookup(config_setting_name(s), &file);
        char *known;

        if (f == NULL) {
            known = known_fields();
            perr(p, s, "unknown setting '%s' in a target (known: %s)", config_setting_name(s),
                 known);
            free(known);
            return -1;
        }
        if (file) {
            seen->file[f - target_fields] = s;
            if (read_file_key(p, s, f, pwfile) < 0)
                return -1;
        } else {
            seen->at[f - target_fields] = s;
            if (read_value(p, s, f, t) < 0)
                return -1;
        }
    }
    return 0;
}

/* check_presence - required settings there, and each secret given once: as itself or a file */
static int check_presence(struct parse *p, const config_setting_t *g, const struct target *t,
                          const struct seen *seen)
{
    for (size_t i = 0; i < target_nfields; i++)
        if (target_field_required(t, &target_fields[i]) && target_fields[i].type != TT_SECRET &&
            seen->at[i] == NULL)
            return perr(p, g, "target '%s': missing required setting '%s'", t->name,
                        target_fields[i].key);
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (f->type != TT_SECRET)
            continue;
        if (seen->at[i] != NULL && seen->file[i] != NULL)
            return perr(p, seen->file[i], "target '%s': set either %s or %s, not both", t->name,
                        f->key, f->file_key);
        if (target_field_required(t, f) && seen->at[i] == NULL && seen->file[i] == NULL)
            return perr(p, g,
                        "target '%s': missing %s: set %s = \"enc:v1:\xe2\x80\xa6\" (the output "
                        "of 'byosmtpctl encrypt %s') or %s = \"PATH\"",
                        t->name, f->key, f->key, t->name, f->file_key);
    }
    return 0;
}

/* check_auth - the rules of auth "none", at the line of the setting at fault (or the group) */
static int check_auth(struct parse *p, const config_setting_t *g, const struct target *t,
                      const struct seen *seen)
{
    const struct target_field *f = target_check_auth(t, p->err);
    const config_setting_t *at;

    if (f == NULL && t->auth == SMTP_AUTH_NONE)
        for (size_t i = 0; i < target_nfields; i++)
            if (target_fields[i].credential && seen->file[i] != NULL)
                return perr(p, seen->file[i], "%s: auth none sends no credentials: remove the "
                            "%s (or choose an AUTH mechanism such as auto)",
                            target_fields[i].file_key, target_fields[i].file_key);
    if (f == NULL)
        return 0;
    at = seen->at[f - target_fields] != NULL ? seen->at[f - target_fields]
                                              : seen->file[f - target_fields];
    return perr_from(p, at != NULL ? at : g);
}

/* check_target - the name first (and unique), then presence, then every field that was set */
static int check_target(struct parse *p, const config_setting_t *g, const struct target *t,
                        const struct seen *seen)
{
    const struct target_field *name = target_field_find("name");
    const config_setting_t *at_name = seen->at[name - target_fields];
    char *why = NULL;

    if (at_name == NULL)
        return perr(p, g, "a target without a name: every target needs name = \"...\";");
    if (target_check_field(t, name, p->err) < 0)
        return perr_from(p, at_name);
    for (size_t i = 0; i < p->set->ntargets; i++)
        if (strcmp(p->set->targets[i].name, t->name) == 0)
            return perr(p, at_name, "duplicate target '%s' (first defined at line %d)", t->name,
                        p->set->targets[i].line);
    if (check_presence(p, g, t, seen) < 0)
        return -1;
    /* absent optional fields hold their defaults, which are valid */
    for (size_t i = 0; i < target_nfields; i++)
        if (seen->at[i] != NULL && target_check_field(t, &target_fields[i], p->err) < 0)
            return perr_from(p, seen->at[i]);
    if (check_auth(p, g, t, seen) < 0)
        return -1;
    if (target_check_oauth(t, &why) < 0) {
        perr(p, g, "target '%s': %s", t->name, why);
        free(why);
        return -1;
    }
    return 0;
}

/* parse_target - one { ... } of the targets list, appended to the set */
static int parse_target(struct parse *p, const config_setting_t *g)
{
    struct seen seen = {{NULL}, {NULL}};
    struct target t;
    char *pwfile = NULL;

    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return perr(p, g, "targets: each entry must be a group { name = \"...\"; ... }");
    target_init(&t);
    t.line = (int)config_setting_source_line(g);
    if (read_settings(p, g, &t, &pwfile, &seen) < 0 || check_target(p, g, &t, &seen) < 0) {
        free(pwfile);
        target_free(&t);
        return -1;
    }
    if (p->set->ntargets == p->tcap) {
        p->tcap = p->tcap * 2 + 4;
        p->set->targets = xrealloc(p->set->targets, p->tcap * sizeof(*p->set->targets));
        p->pwfiles = xrealloc(p->pwfiles, p->tcap * sizeof(*p->pwfiles));
    }
    p->pwfiles[p->set->ntargets] = pwfile;
    p->set->targets[p->set->ntargets++] = t;
    return 0;
}

/* The two route tables of targets.conf: by recipient (routes) and by sender (sender_routes). */
struct route_table {
    const char *name, *what; /* "routes", "route"; "sender_routes", "sender route" */
    struct route **routes;
    size_t *n, *cap;
};

/* route_table_of - the recipient or the sender table of P's set */
static struct route_table route_table_of(struct parse *p, bool sender)
{
    if (sender)
        return (struct route_table){"sender_routes", "sender route", &p->set->sender_routes,
                                    &p->set->nsender_routes, &p->scap};
    return (struct route_table){"routes", "route", &p->set->routes, &p->set->nroutes, &p->rcap};
}

/* parse_route_in - one { match = "..."; target = "..."; } of table RT */
static int parse_route_in(struct parse *p, const config_setting_t *g, struct route_table rt)
{
    const config_setting_t *sm = NULL, *st = NULL;
    struct route r;
    char *v;
    int n = config_setting_length(g);

    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return perr(p, g,
                    "%s: each entry must be a group { match = \"...\"; target = "
                    "\"...\"; }", rt.name);
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
    for (size_t i = 0; i < *rt.n; i++)
        if (strcmp((*rt.routes)[i].match, r.match) == 0) {
            v = target_shown(r.match);
            perr(p, sm, "duplicate %s '%s' (first defined at line %d)", rt.what, v,
                 (*rt.routes)[i].line);
            free(v);
            free(r.match);
            return -1;
        }
    if (target_set_find(p->set, config_setting_get_string(st)) == NULL) {
        char *m = target_shown(r.match);

        v = target_shown(config_setting_get_string(st));
        perr(p, st, "%s '%s' names target '%s', which is not defined in this file", rt.what, m,
             v);
        free(m);
        free(v);
        free(r.match);
        return -1;
    }
    r.target = xstrdup(config_setting_get_string(st));

    if (*rt.n == *rt.cap) {
        *rt.cap = *rt.cap * 2 + 4;
        *rt.routes = xrealloc(*rt.routes, *rt.cap * sizeof(**rt.routes));
    }
    (*rt.routes)[(*rt.n)++] = r;
    return 0;
}

/* parse_route - one { match = "..."; target = "..."; } of the routes list */
static int parse_route(struct parse *p, const config_setting_t *g)
{
    return parse_route_in(p, g, route_table_of(p, false));
}

/* parse_sender_route - one { match = "..."; target = "..."; } of the sender_routes list */
static int parse_sender_route(struct parse *p, const config_setting_t *g)
{
    return parse_route_in(p, g, route_table_of(p, true));
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
    const config_setting_t *root, *targets = NULL, *routes = NULL, *sender_routes = NULL;
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
        } else if (strcmp(name, "sender_routes") == 0) {
            sender_routes = s;
        } else {
            perr(&p, s, "unknown setting '%s' (this file holds only 'targets', 'routes' and "
                 "'sender_routes')", name);
            goto out;
        }
    }
    /* all targets first, so a route may name a target defined after it */
    if (targets != NULL && parse_list(&p, targets, parse_target) < 0)
        goto out;
    if (routes != NULL && parse_list(&p, routes, parse_route) < 0)
        goto out;
    if (sender_routes != NULL && parse_list(&p, sender_routes, parse_sender_route) < 0)
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
    for (size_t i = 0; i < set->nsender_routes; i++) {
        free(set->sender_routes[i].match);
        free(set->sender_routes[i].target);
    }
    free(set->targets);
    free(set->routes);
    free(set->sender_routes);
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
    static const char special[] = "\\\"\n\r\t\f", letter[] = "\\\"nrtf";

    fputc('"', fp);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        const char *sp = strchr(special, c);

        if (sp != NULL)
            fprintf(fp, "\\%c", letter[sp - special]);
        else if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

/* print_setting - "    NAME = "VALUE";" */
static void print_setting(FILE *fp, const char *name, const char *value)
{
    fprintf(fp, "    %s = ", name);
    print_string(fp, value);
    fputs(";\n", fp);
}

/* print_matches - "    NAME = [ "M1", "M2" ];" from newline-separated MATCHES */
static void print_matches(FILE *fp, const char *name, const char *matches)
{
    fprintf(fp, "    %s = [", name);
    for (const char *p = matches; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        char *m = xstrndup(p, len);

        fputs(p == matches ? " " : ", ", fp);
        print_string(fp, m);
        free(m);
        p += len + (p[len] == '\n');
    }
    fputs(" ];\n", fp);
}

/* print_hosts - "    NAME = [ "HOST:PORT", ... ];" from the comma-separated LIST */
static void print_hosts(FILE *fp, const char *name, const char *list)
{
    char *copy = xstrdup(list), *save = NULL, *w;
    bool first = true;

    fprintf(fp, "    %s = [", name);
    for (w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
        fputs(first ? " " : ", ", fp);
        print_string(fp, w);
        first = false;
    }
    fputs(first ? "];\n" : " ];\n", fp);
    free(copy);
}

/* print_field - one setting of a target in targets.conf syntax */
static void print_field(FILE *fp, const struct target *t, const struct target_field *f)
{
    char buf[TARGET_TEXT_MAX];
    const char *v = target_field_text(t, f, buf);

    if (f->type == TT_INT || f->type == TT_UINT64)
        /* libconfig needs the L suffix above 2^31-1, or it wraps the number */
        fprintf(fp, "    %s = %s%s;\n", f->key, v,
                f->type == TT_UINT64 && target_field_u64(t, f) > INT_MAX ? "L" : "");
    else if (f->type == TT_BOOL)
        fprintf(fp, "    %s = %s;\n", f->key, target_field_int(t, f) ? "true" : "false");
    else if (f->type == TT_MATCHES)
        print_matches(fp, f->key, v);
    else if (f->type == TT_HOSTLIST)
        print_hosts(fp, f->key, v);
    else
        print_setting(fp, f->key, v);
}

/* print_routes - the route table NAME: "NAME = ( { match = ...; target = ...; }, ... );" */
static void print_routes(FILE *fp, const char *name, const struct route *r, size_t n)
{
    fprintf(fp, n > 0 ? "%s = (\n" : "%s = ( );\n", name);
    for (size_t i = 0; i < n; i++) {
        fputs("  { match = ", fp);
        print_string(fp, r[i].match);
        fputs("; target = ", fp);
        print_string(fp, r[i].target);
        fputs(i + 1 < n ? "; },\n" : "; }\n);\n", fp);
    }
}

/* target_set_print - write the set in targets.conf syntax (the dump format) */
void target_set_print(const struct target_set *set, FILE *fp)
{
    fputs("# byosmtp targets and routes; the format is described in byosmtp-targets(5)\n", fp);
    fputs(set->ntargets > 0 ? "targets = (\n" : "targets = ( );\n", fp);
    for (size_t i = 0; i < set->ntargets; i++) {
        fputs("  {\n", fp);
        for (size_t j = 0; j < target_nfields; j++)
            print_field(fp, &set->targets[i], &target_fields[j]);
        fputs(i + 1 < set->ntargets ? "  },\n" : "  }\n);\n", fp);
    }
    fputs("\n", fp);
    print_routes(fp, "routes", set->routes, set->nroutes);
    fputs("\n", fp);
    print_routes(fp, "sender_routes", set->sender_routes, set->nsender_routes);
}
