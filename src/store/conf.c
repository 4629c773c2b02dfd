/*
 * conf - byosmtp.conf: the table of every setting, the loader and the printer.
 *
 * conf_settings[] names every setting exactly once: dotted name, type, place in struct
 * byosmtp_conf, the default written as a user writes it in byosmtp.conf, bounds, and a
 * one-line description (the model is Postfix mail_params.h and OpenDKIM's configdef).
 * Defaults take the same road as the user's file: each default text is parsed by libconfig
 * and applied by conf_apply(), so a default can never bypass a check.
 * conf_load() walks every setting present in the file, so a misspelt key is an error
 * instead of being silently ignored; the first error wins and no partial snapshot escapes.
 *
 * Owns: each snapshot (struct conf_box wraps the public struct together with its refcount).
 * Thread-safety: every function is reentrant; a snapshot is never written after it is
 * returned, and conf_ref/conf_unref use an atomic counter.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "store/conf.h"
#include "store/conf_int.h"
#include "util/msg.h"
#include "util/util.h"

_Static_assert(sizeof(enum conf_quota_action) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum conf_envelope_from) == sizeof(int), "enums are stored as int");

static const char *const envelope_from_words[] = {"target", "original", NULL};
static const char *const quota_action_words[] = {"tempfail", "reject", "passthrough", NULL};
static const char *const tls_version_words[] = {"TLSv1.2", "TLSv1.3", NULL};

#define Q(s) "\"" s "\""
#define OFF(member) offsetof(struct byosmtp_conf, member)

/*
 * The order is the order of byosmtp.conf(5), etc/byosmtp.conf and conf_print(); the
 * members of a group must stay together so that conf_print() can nest them.
 */
const struct conf_setting conf_settings[] = {
    {"milter.socket", CT_STRING, OFF(milter.socket), Q("unix:" BYOSMTP_RUNDIR "/milter.sock"),
     .check = conf_check_socket,
     .desc = "where byosmtpd listens for the MTA: unix:/PATH, inet:PORT@ADDRESS or "
             "inet6:PORT@ADDRESS"},
    {"milter.trusted_networks", CT_NETLIST, OFF(milter.trusted_networks),
     "[ \"127.0.0.0/8\", \"::1/128\" ]",
     .desc = "clients in these networks may relay through a target without SMTP AUTH"},
    {"milter.relay_authenticated", CT_BOOL, OFF(milter.relay_authenticated), "true",
     .desc = "SMTP-AUTH-authenticated clients may relay from any address"},
    {"milter.timeout", CT_INT, OFF(milter.timeout), "7210", 1, 86400,
     .desc = "seconds byosmtpd waits for the next command from the MTA before it drops the "
             "connection"},
    {"milter.user", CT_STRING, OFF(milter.user), Q(""), .check = conf_check_user,
     .desc = "user to run as once the socket is open; \"\" keeps the starting user"},
    {"milter.pid_file", CT_STRING, OFF(milter.pid_file), Q(BYOSMTP_RUNDIR "/byosmtpd.pid"),
     .flags = CF_PATH, .desc = "file holding the process id of byosmtpd"},
    {"milter.max_headers", CT_INT, OFF(milter.max_headers), "1000", 1, 100000,
     .desc = "header fields per message beyond which the message is refused (552 5.3.4)"},
    {"milter.idle_warning", CT_INT, OFF(milter.idle_warning), "600", 0, 86400,
     .desc = "seconds after start without any MTA connection before byosmtpd warns; 0 = never"},
    {"milter.max_header_size", CT_SIZE, OFF(milter.max_header_size), Q("64K"), 1 * KB, 16 * MB,
     .desc = "largest header field, folded lines included, that byosmtpd accepts"},

    {"store.path", CT_STRING, OFF(store.path), Q(BYOSMTP_STATEDIR), .flags = CF_PATH,
     .desc = "directory of the LMDB store (targets, routes, quotas)"},
    {"store.map_size", CT_SIZE, OFF(store.map_size), Q("1G"), 1 * MB, 1 * TB,
     .desc = "largest size the store may grow to"},

    {"spool.path", CT_STRING, OFF(spool.path), Q(BYOSMTP_SPOOLDIR), .flags = CF_PATH,
     .desc = "directory of messages waiting for delivery"},

    {"secrets.key_file", CT_STRING, OFF(secrets.key_file), Q(BYOSMTP_CONFDIR "/master.key"),
     .flags = CF_PATH, .desc = "master key that encrypts the targets' passwords (mode 0600)"},

    {"delivery.workers", CT_INT, OFF(delivery.workers), "8", 1, 1024,
     .desc = "delivery threads, that is, provider connections open at once in all"},
    {"delivery.helo_name", CT_STRING, OFF(delivery.helo_name), Q(""), .check = conf_check_hostname,
     .desc = "name sent in EHLO to providers; \"\" uses the host name"},
    {"delivery.tls_ca_file", CT_STRING, OFF(delivery.tls_ca_file), Q(""),
     .flags = CF_PATH | CF_EMPTY, .desc = "PEM file of trusted CA certificates; \"\" for none"},
    {"delivery.tls_ca_path", CT_STRING, OFF(delivery.tls_ca_path), Q("/etc/ssl/certs"),
     .flags = CF_PATH | CF_EMPTY,
     .desc = "directory of trusted CA certificates (hashed, as c_rehash makes); \"\" for none"},
    {"delivery.tls_min_version", CT_STRING, OFF(delivery.tls_min_version), Q("TLSv1.2"),
     .words = tls_version_words, .desc = "oldest TLS protocol version spoken to providers"},
    {"delivery.connect_timeout", CT_INT, OFF(delivery.connect_timeout), "30", 1, 3600,
     .desc = "seconds to wait for the TCP connection (and TLS handshake) to a provider"},
    {"delivery.helo_timeout", CT_INT, OFF(delivery.helo_timeout), "300", 1, 3600,
     .desc = "seconds to wait for the greeting and for the replies to EHLO and STARTTLS"},
    {"delivery.command_timeout", CT_INT, OFF(delivery.command_timeout), "300", 1, 3600,
     .desc = "seconds to wait for the reply to AUTH, MAIL, RCPT, DATA and RSET"},
    {"delivery.data_timeout", CT_INT, OFF(delivery.data_timeout), "180", 1, 3600,
     .desc = "seconds a write of message content may stall"},
    {"delivery.data_done_timeout", CT_INT, OFF(delivery.data_done_timeout), "600", 1, 7200,
     .desc = "seconds to wait for the reply to the final \".\""},
    {"delivery.conn_idle_timeout", CT_INT, OFF(delivery.conn_idle_timeout), "10", 0, 3600,
     .desc = "seconds an idle authenticated connection is kept for the next message; 0 = "
             "no reuse"},
    {"delivery.conn_max_messages", CT_INT, OFF(delivery.conn_max_messages), "100", 1, 100000,
     .desc = "messages sent over one connection before it is closed"},
    {"delivery.retry.min_backoff", CT_INT, OFF(delivery.retry.min_backoff), "300", 1, 86400,
     .desc = "seconds before the first retry of a deferred message"},
    {"delivery.retry.max_backoff", CT_INT, OFF(delivery.retry.max_backoff), "4000", 1, 604800,
     .desc = "the retry interval doubles up to this many seconds"},
    {"delivery.retry.max_lifetime", CT_INT, OFF(delivery.retry.max_lifetime), "432000", 0, 31536000,
     .desc = "seconds after which a deferred message is bounced; 0 = at the first "
             "temporary failure"},
    {"delivery.bounce.enabled", CT_BOOL, OFF(delivery.bounce.enabled), "true",
     .desc = "send a delivery status notification to the sender of a failed message"},
    {"delivery.bounce.command", CT_STRING, OFF(delivery.bounce.command),
     Q("/usr/sbin/sendmail -i -f <> --"), .check = conf_check_command,
     .desc = "command that injects a bounce into the local MTA; the recipient is appended"},

    {"rewrite.original_from_header", CT_BOOL, OFF(rewrite.original_from_header), "true",
     .desc = "keep the original From in an Original-From: header (RFC 5703)"},
    {"rewrite.reply_to_original", CT_BOOL, OFF(rewrite.reply_to_original), "true",
     .desc = "make the original From the Reply-To when the message and the target have none"},
    {"rewrite.envelope_from", CT_ENUM, OFF(rewrite.envelope_from), Q("target"),
     .words = envelope_from_words,
     .desc = "envelope sender towards the provider: the target's from_address, or the "
             "original sender"},

    {"quota.action", CT_ENUM, OFF(quota.action), Q("tempfail"), .words = quota_action_words,
     .desc = "what RCPT gets once a target's monthly quota is used up"},

    {"verify.attempts", CT_INT, OFF(verify.attempts), "5", 1, 1000,
     .desc = "byosmtpctl verify runs allowed per target within verify.window"},
    {"verify.window", CT_INT, OFF(verify.window), "900", 1, 604800,
     .desc = "seconds of the window in which verify.attempts are counted"},

    {"log.level", CT_STRING, OFF(log.level), Q("info"), .check = conf_check_level,
     .desc = "least important messages logged: error, warning, info or debug"},
    {"log.facility", CT_STRING, OFF(log.facility), Q("mail"), .check = conf_check_facility,
     .desc = "syslog facility: mail, daemon, user or local0 to local7"},
    {"log.stderr", CT_BOOL, OFF(log.to_stderr), "false",
     .desc = "also write log lines to standard error"},
};

const size_t conf_nsettings = sizeof(conf_settings) / sizeof(conf_settings[0]);

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

/* conf_strlist_free - free the items of a list and empty it */
void conf_strlist_free(struct conf_strlist *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
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

/* conf_free - free a snapshot and everything it holds */
void conf_free(struct conf_box *box)
{
    struct byosmtp_conf *c = &box->c;

    for (size_t i = 0; i < conf_nsettings; i++) {
        const struct conf_setting *s = &conf_settings[i];

        if (s->type == CT_STRING)
            free(*(char **)conf_field(c, s));
        else if (s->type == CT_LIST || s->type == CT_NETLIST)
            conf_strlist_free(conf_field(c, s));
    }
    free(c->file);
    free(box);
}

/* conf_new - a snapshot holding the compiled-in defaults, each parsed like user input */
struct conf_box *conf_new(void)
{
    struct conf_box *box = xcalloc(1, sizeof(*box));
    char *err = NULL;

    atomic_init(&box->refs, 1);
    box->c.file = xstrdup("(defaults)");
    for (size_t i = 0; i < conf_nsettings; i++) {
        const struct conf_setting *s = &conf_settings[i];
        char *text = xasprintf("%s = %s;", conf_leaf_name(s->name), s->def);
        config_t cfg;
        config_setting_t *cs;

        config_init(&cfg);
        if (config_read_string(&cfg, text) != CONFIG_TRUE)
            msg_fatal("conf: compiled-in default of %s does not parse: %s", s->name,
                      config_error_text(&cfg));
        cs = config_setting_get_member(config_root_setting(&cfg), conf_leaf_name(s->name));
        if (!cs || conf_apply(s, &box->c, cs, "(defaults)", &err) < 0)
            msg_fatal("conf: compiled-in default of %s is invalid: %s", s->name,
                      err ? err : "missing");
        config_destroy(&cfg);
        free(text);
    }
    return box;
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
    return 0;
}

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

struct byosmtp_conf *conf_defaults(void)
{
    return &conf_new()->c;
}

/* box_of - the snapshot's wrapper, which holds the refcount */
static struct conf_box *box_of(struct byosmtp_conf *c)
{
    return (struct conf_box *)((char *)c - offsetof(struct conf_box, c));
}

struct byosmtp_conf *conf_ref(struct byosmtp_conf *c)
{
    if (c)
        atomic_fetch_add_explicit(&box_of(c)->refs, 1, memory_order_relaxed);
    return c;
}

void conf_unref(struct byosmtp_conf *c)
{
    struct conf_box *box;

    if (!c)
        return;
    box = box_of(c);
    /* release our writes, and acquire the others' before the last holder frees */
    if (atomic_fetch_sub_explicit(&box->refs, 1, memory_order_acq_rel) == 1)
        conf_free(box);
}
