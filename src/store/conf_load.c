/*
 * conf_load - byosmtp.conf read with libconfig over the compiled-in defaults: every value takes
 * one road, conf_apply(), which checks its type, bounds, words and form (conf_check.c) before it
 * enters the snapshot; the defaults of conf.c take that road too. conf_load() walks every
 * setting present in the file, so a misspelt key is an error instead of being silently ignored;
 * rules that bind several settings are checked once the whole file is read. The first error
 * wins ("FILE:LINE: what is wrong") and no partial snapshot escapes.
 *
 * Thread-safety: reentrant; the snapshot being built belongs to the caller until returned.
 */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/conf.h"
#include "store/conf_int.h"
#include "util/util.h"

/* size_text - N as a new string in size syntax, without quotes (caller frees) */
static char *size_text(unsigned long long n)
{
    struct buf b;

    buf_init(&b);
    conf_format_size(&b, n);
    return buf_steal(&b);
}

/* parse_size - "64K" → 65536: digits, then an optional K, M, G or T (powers of 1024) */
static int parse_size(const char *s, unsigned long long *out)
{
    unsigned long long n = 0, mult = 1;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
            return -1;
        n = n * 10 + (unsigned)(*p - '0');
    }
    switch (*p) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = KB;
        break;
    case 'm':
    case 'M':
        mult = MB;
        break;
    case 'g':
    case 'G':
        mult = GB;
        break;
    case 't':
    case 'T':
        mult = TB;
        break;
    default:
        return -1;
    }
    if (*p != '\0' && p[1] != '\0')
        return -1;
    if (n > ULLONG_MAX / mult)
        return -1;
    *out = n * mult;
    return 0;
}

/* word_list - "\"a\", \"b\", \"c\"" for an error message (caller frees) */
static char *word_list(const char *const *words)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; words[i]; i++) {
        if (i > 0)
            buf_puts(&b, ", ");
        conf_quote(&b, words[i]);
    }
    return buf_steal(&b);
}

/* source_name - the path of a file libconfig read: an @include'd file is named as written, and
 * was read next to FILE (conf_load sets the include directory), so put FILE's directory first */
static char *source_name(const char *f, const char *file)
{
    const char *slash = strrchr(file, '/');

    if (!f)
        f = file;
    if (f[0] != '/' && strcmp(f, file) != 0 && slash)
        return xasprintf("%.*s/%s", (int)(slash - file), file, f);
    return xstrdup(f);
}

/* where - "FILE:LINE" of a setting read by libconfig (caller frees) */
static char *where(const config_setting_t *cs, const char *file)
{
    char *name = source_name(config_setting_source_file(cs), file);
    char *loc = xasprintf("%s:%u", name, (unsigned)config_setting_source_line(cs));

    free(name);
    return loc;
}

/* loc_err - set *err to "FILE:LINE: " and the formatted text; returns -1 */
static int loc_err(char **err, const config_setting_t *cs, const char *file, const char *fmt, ...)
    BYO_PRINTF(4, 5);
static int loc_err(char **err, const config_setting_t *cs, const char *file, const char *fmt, ...)
{
    char *loc = where(cs, file), *text;
    va_list ap;

    va_start(ap, fmt);
    text = xvasprintf(fmt, ap);
    va_end(ap);
    set_err(err, "%s: %s", loc, text);
    free(loc);
    free(text);
    return -1;
}

/* get_integer - the value of an int or int64 setting; -1 for any other type */
static int get_integer(const config_setting_t *cs, long long *v)
{
    switch (config_setting_type(cs)) {
    case CONFIG_TYPE_INT:
        *v = config_setting_get_int(cs);
        return 0;
    case CONFIG_TYPE_INT64:
        *v = config_setting_get_int64(cs);
        return 0;
    default:
        return -1;
    }
}

/* has_control - true when S holds a control character: never wanted in any setting */
static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* word_index - the position of V in a NULL-terminated word list; -1 when absent */
static int word_index(const char *const *words, const char *v)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(v, words[i]) == 0)
            return i;
    return -1;
}

/* apply_list - set a list setting from a libconfig array or list of strings */
static int apply_list(const struct conf_setting *s, struct byosmtp_conf *c,
                      const config_setting_t *cs, const char *file, char **err)
{
    int type = config_setting_type(cs);
    int n = config_setting_length(cs);
    struct conf_strlist list = {NULL, 0};
    char *why = NULL;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return loc_err(err, cs, file, "%s must be a list of quoted strings, e.g. %s = %s;", s->name,
                       conf_leaf_name(s->name), s->def);
    list.items = xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        const char *v = config_setting_get_string(e);

        if (config_setting_type(e) != CONFIG_TYPE_STRING || !v) {
            loc_err(err, e, file, "%s must be a list of quoted strings, e.g. %s = %s;", s->name,
                    conf_leaf_name(s->name), s->def);
            goto fail;
        }
        if (has_control(v)) {
            loc_err(err, e, file,
                    "%s must not contain control characters such as line breaks or tabs", s->name);
            goto fail;
        }
        if (s->type == CT_NETLIST && conf_check_network(s->name, v, &why) < 0) {
            loc_err(err, e, file, "%s", why);
            goto fail;
        }
        if (s->type == CT_LIST && s->check && s->check(s->name, v, &why) < 0) {
            loc_err(err, e, file, "%s", why);
            goto fail;
        }
        list.items[list.count++] = xstrdup(v);
    }
    conf_strlist_free(conf_field(c, s));
    *(struct conf_strlist *)conf_field(c, s) = list;
    return 0;
fail:
    free(why);
    conf_strlist_free(&list);
    return -1;
}

/* apply_string - set a string setting (CT_STRING) or an enum (CT_ENUM) after its checks */
static int apply_string(const struct conf_setting *s, struct byosmtp_conf *c,
                        const config_setting_t *cs, const char *file, char **err)
{
    const char *v = config_setting_get_string(cs);
    char *why = NULL, *q;
    int word = -1, r;

    if (config_setting_type(cs) != CONFIG_TYPE_STRING || !v)
        return loc_err(err, cs, file, "%s must be a quoted string, e.g. %s = %s;", s->name,
                       conf_leaf_name(s->name), s->def);
    if (has_control(v))
        return loc_err(err, cs, file,
                       "%s must not contain control characters such as line breaks or tabs",
                       s->name);
    if (s->words && (word = word_index(s->words, v)) < 0) {
        char *list = word_list(s->words);

        q = conf_quoted(v);
        r = loc_err(err, cs, file, "%s = %s is not allowed: use one of %s", s->name, q, list);
        free(q);
        free(list);
        return r;
    }
    if ((s->flags & CF_PATH) && v[0] != '/' && !(v[0] == '\0' && (s->flags & CF_EMPTY))) {
        q = conf_quoted(v);
        r = loc_err(err, cs, file, "%s = %s must be an absolute path (starting with /)%s", s->name,
                    q, (s->flags & CF_EMPTY) ? ", or \"\" for none" : "");
        free(q);
        return r;
    }
    if (s->check && s->check(s->name, v, &why) < 0) {
        loc_err(err, cs, file, "%s", why);
        free(why);
        return -1;
    }
    if (s->type == CT_ENUM) {
        *(int *)conf_field(c, s) = word;
    } else {
        free(*(char **)conf_field(c, s));
        *(char **)conf_field(c, s) = xstrdup(v);
    }
    return 0;
}

/* apply_size - set a size setting from "1G"-style text or a plain integer */
static int apply_size(const struct conf_setting *s, struct byosmtp_conf *c,
                      const config_setting_t *cs, const char *file, char **err)
{
    unsigned long long n;
    long long i;
    const char *v;
    char *q, *lo, *hi;
    bool negative = false;
    int r;

    if (get_integer(cs, &i) == 0) {
        negative = i < 0;
        n = negative ? 0 : (unsigned long long)i;
        q = xasprintf("%lld", i);
    } else if (config_setting_type(cs) == CONFIG_TYPE_STRING) {
        v = config_setting_get_string(cs);
        q = conf_quoted(v);
        if (parse_size(v, &n) < 0) {
            r = loc_err(err, cs, file,
                        "%s = %s is not a size: write a number of bytes with an optional K, M, "
                        "G or T suffix, e.g. %s = %s;",
                        s->name, q, conf_leaf_name(s->name), s->def);
            free(q);
            return r;
        }
    } else {
        return loc_err(err, cs, file,
                       "%s must be a size such as \"1G\", \"512M\", \"64K\" or 65536", s->name);
    }
    if (negative || n < (unsigned long long)s->min || n > (unsigned long long)s->max ||
        n > SIZE_MAX) {
        lo = size_text((unsigned long long)s->min);
        hi = size_text((unsigned long long)s->max);
        r = loc_err(err, cs, file, "%s = %s is out of range: use a size from %s to %s", s->name, q,
                    lo, hi);
        free(lo);
        free(hi);
        free(q);
        return r;
    }
    free(q);
    *(size_t *)conf_field(c, s) = (size_t)n;
    return 0;
}

/* conf_apply - check one value read by libconfig and store it in C; the one road for all values */
int conf_apply(const struct conf_setting *s, struct byosmtp_conf *c, const config_setting_t *cs,
               const char *file, char **err)
{
    long long i;

    switch (s->type) {
    case CT_INT:
        if (get_integer(cs, &i) < 0)
            return loc_err(err, cs, file, "%s must be an integer, e.g. %s = %s;", s->name,
                           conf_leaf_name(s->name), s->def);
        if (i < s->min || i > s->max)
            return loc_err(err, cs, file,
                           "%s = %lld is out of range: use a value from %lld to %lld", s->name, i,
                           s->min, s->max);
        *(int *)conf_field(c, s) = (int)i;
        return 0;
    case CT_BOOL:
        if (config_setting_type(cs) != CONFIG_TYPE_BOOL)
            return loc_err(err, cs, file, "%s must be true or false (without quotes)", s->name);
        *(bool *)conf_field(c, s) = config_setting_get_bool(cs) != 0;
        return 0;
    case CT_STRING:
    case CT_ENUM:
        return apply_string(s, c, cs, file, err);
    case CT_SIZE:
        return apply_size(s, c, cs, file, err);
    case CT_LIST:
    case CT_NETLIST:
        return apply_list(s, c, cs, file, err);
    }
    return set_err(err, "%s: internal error: unknown type of %s", file, s->name);
}

/* find_setting - the table entry of a dotted name; NULL when there is none */
static const struct conf_setting *find_setting(const char *name)
{
    for (size_t i = 0; i < conf_nsettings; i++)
        if (strcmp(conf_settings[i].name, name) == 0)
            return &conf_settings[i];
    return NULL;
}

/* is_group - true when NAME is a group of the table ("delivery", "delivery.retry") */
static bool is_group(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < conf_nsettings; i++)
        if (strncmp(conf_settings[i].name, name, n) == 0 && conf_settings[i].name[n] == '.')
            return true;
    return false;
}

struct conf_load {
    const char *file;
    struct byosmtp_conf *c;
    const config_setting_t **seen; /* where each setting was read; NULL = default */
};

/* walk - apply every setting of a group of the file; PATH holds the group's dotted name */
static int walk(struct conf_load *ld, const config_setting_t *group, struct buf *path, char **err)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *cs = config_setting_get_elem(group, (unsigned)i);
        size_t mark = path->len;
        const struct conf_setting *s;
        int r = 0;

        if (mark > 0)
            buf_putc(path, '.');
        buf_puts(path, config_setting_name(cs));
        if ((s = find_setting(path->data)) != NULL) {
            r = conf_apply(s, ld->c, cs, ld->file, err);
            ld->seen[s - conf_settings] = cs;
        } else if (is_group(path->data)) {
            if (config_setting_type(cs) == CONFIG_TYPE_GROUP)
                r = walk(ld, cs, path, err);
            else
                r = loc_err(err, cs, ld->file,
                            "'%s' is a group of settings, not a value: write %s = { ... };",
                            path->data, config_setting_name(cs));
        } else {
            r = loc_err(err, cs, ld->file,
                        "unknown setting '%s': see byosmtp.conf(5) for the settings that exist",
                        path->data);
        }
        path->len = mark;
        path->data[mark] = '\0';
        if (r < 0)
            return -1;
    }
    return 0;
}

/* cross_err - report a rule that binds settings A and B at whichever of them the file set last */
static int cross_err(struct conf_load *ld, const char *a, const char *b, char **err,
                     const char *fmt, ...) BYO_PRINTF(5, 6);
static int cross_err(struct conf_load *ld, const char *a, const char *b, char **err,
                     const char *fmt, ...)
{
    const config_setting_t *ca = ld->seen[find_setting(a) - conf_settings];
    const config_setting_t *cb = ld->seen[find_setting(b) - conf_settings];
    const config_setting_t *at = ca;
    char *text;
    va_list ap;

    if (!at || (cb && config_setting_source_line(cb) > config_setting_source_line(ca)))
        at = cb;
    va_start(ap, fmt);
    text = xvasprintf(fmt, ap);
    va_end(ap);
    if (at)
        loc_err(err, at, ld->file, "%s", text);
    else
        set_err(err, "%s: %s", ld->file, text);
    free(text);
    return -1;
}

/* listed - true when WORD is an item of L */
static bool listed(const struct conf_strlist *l, const char *word)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i], word) == 0)
            return true;
    return false;
}

/* cross_check_cluster - the rules of the cluster group (doc/cluster.md) */
static int cross_check_cluster(struct conf_load *ld, char **err)
{
    const struct byosmtp_conf *c = ld->c;

    if (!c->cluster.enabled)
        return 0;
    if (c->cluster.redis[0] == '\0')
        return cross_err(ld, "cluster.enabled", "cluster.redis", err,
                         "cluster.redis is empty while cluster.enabled is true: name the Redis "
                         "server, e.g. \"unix:/run/redis/redis.sock\" or \"inet:10.0.0.5:6379\"");
    if (c->cluster.hosts.count == 0)
        return cross_err(ld, "cluster.enabled", "cluster.hosts", err,
                         "cluster.hosts is empty while cluster.enabled is true: list every host "
                         "of the cluster, this one included, e.g. [ \"mx1\", \"mx2\" ]");
    for (size_t i = 0; i < c->cluster.hosts.count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->cluster.hosts.items[i], c->cluster.hosts.items[j]) == 0)
                return cross_err(ld, "cluster.hosts", "cluster.hosts", err,
                                 "cluster.hosts names \"%s\" twice: list each host once",
                                 c->cluster.hosts.items[i]);
    if (c->cluster.host[0] != '\0' && !listed(&c->cluster.hosts, c->cluster.host))
        return cross_err(ld, "cluster.host", "cluster.hosts", err,
                         "cluster.host \"%s\" is not in cluster.hosts: add it to the list, or "
                         "correct the name", c->cluster.host);
#ifndef HAVE_HIREDIS
    if (c->cluster.enabled)
        return cross_err(ld, "cluster.enabled", "cluster.enabled", err,
                         "cluster.enabled is true but this byosmtp was built without hiredis "
                         "(configure --without-hiredis): install libhiredis-dev and build "
                         "again, or set enabled = false");
#endif
    return 0;
}

/* cross_check - rules that bind several settings, checked once the whole file is read */
static int cross_check(struct conf_load *ld, char **err)
{
    const struct byosmtp_conf *c = ld->c;

    if (c->delivery.retry.min_backoff > c->delivery.retry.max_backoff)
        return cross_err(ld, "delivery.retry.min_backoff", "delivery.retry.max_backoff", err,
                         "delivery.retry.min_backoff (%d) is greater than "
                         "delivery.retry.max_backoff (%d): lower min_backoff or raise max_backoff",
                         c->delivery.retry.min_backoff, c->delivery.retry.max_backoff);
    if (c->delivery.bounce.enabled && c->delivery.bounce.command[0] == '\0')
        return cross_err(ld, "delivery.bounce.enabled", "delivery.bounce.command", err,
                         "delivery.bounce.command is empty while delivery.bounce.enabled is "
                         "true: set the command, or set enabled = false");
    if (strcmp(c->store.path, c->spool.path) == 0)
        return cross_err(ld, "store.path", "spool.path", err,
                         "store.path and spool.path are both \"%s\": give each its own directory",
                         c->store.path);
    if (c->events.webhook_url[0] != '\0' && c->events.webhook_secret_file[0] == '\0')
        return cross_err(ld, "events.webhook_url", "events.webhook_secret_file", err,
                         "events.webhook_url is set but events.webhook_secret_file is not: name "
                         "a file (mode 0600) holding the key that signs each event");
    return cross_check_cluster(ld, err);
}

/* conf_load - FILE over the compiled-in defaults into a new snapshot; 0, or -1 with *err */
int conf_load(const char *file, struct byosmtp_conf **out, char **err)
{
    struct conf_load ld = {.file = file};
    struct conf_box *box;
    struct buf path;
    config_t cfg;
    char *dir, *slash;
    FILE *fp;
    int r = -1;

    *out = NULL;
    /* libconfig says only "file I/O error"; open it first to tell the admin why */
    if ((fp = fopen(file, "r")) == NULL)
        return set_err(err, "%s: cannot open: %s", file, strerror(errno));
    fclose(fp);

    box = conf_new();
    ld.c = &box->c;
    ld.seen = xcalloc(conf_nsettings, sizeof(*ld.seen));
    buf_init(&path);
    config_init(&cfg);
    /* @include "x.conf" is read relative to the including file, not the working directory */
    dir = xstrdup(file);
    slash = strrchr(dir, '/');
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        config_set_include_dir(&cfg, dir);
    }
    if (config_read_file(&cfg, file) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO && !config_error_file(&cfg))
            set_err(err, "%s: cannot read: %s", file, config_error_text(&cfg));
        else {
            char *name = source_name(config_error_file(&cfg), file);

            set_err(err, "%s:%d: %s", name, config_error_line(&cfg), config_error_text(&cfg));
            free(name);
        }
        goto out;
    }
    if (walk(&ld, config_root_setting(&cfg), &path, err) < 0 || cross_check(&ld, err) < 0)
        goto out;
    free(box->c.file);
    box->c.file = xstrdup(file);
    *out = &box->c;
    box = NULL;
    r = 0;
out:
    config_destroy(&cfg);
    free(dir);
    free(ld.seen);
    buf_free(&path);
    if (box)
        conf_free(box);
    return r;
}
