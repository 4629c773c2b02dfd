/*
 * conf_print - a snapshot written back in byosmtp.conf syntax, nested by group (like
 * "postconf", or "postconf -n" for the settings that differ from the default); and the syntax
 * of one value, which the loader and the checks use to quote a value in an error message.
 *
 * Thread-safety: reentrant; a snapshot is only read.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store/conf.h"
#include "store/conf_int.h"
#include "util/util.h"

/* conf_quote - append S as a libconfig string literal; control bytes become \xNN */
void conf_quote(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(b, "\\x%02x", *p);
        } else {
            buf_putc(b, *p);
        }
    }
    buf_putc(b, '"');
}

/* conf_quoted - S as a new libconfig string literal (caller frees) */
char *conf_quoted(const char *s)
{
    struct buf b;

    buf_init(&b);
    conf_quote(&b, s);
    return buf_steal(&b);
}

/* conf_format_size - write N bytes with the largest unit that divides it: 1073741824 → "1G" */
void conf_format_size(struct buf *b, unsigned long long n)
{
    static const struct {
        char unit;
        unsigned long long bytes;
    } units[] = {{'T', TB}, {'G', GB}, {'M', MB}, {'K', KB}};

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (n != 0 && n % units[i].bytes == 0) {
            buf_printf(b, "%llu%c", n / units[i].bytes, units[i].unit);
            return;
        }
    }
    buf_printf(b, "%llu", n);
}

/* same_value - true when setting S holds the same value in A and B */
static bool same_value(const struct conf_setting *s, const struct byosmtp_conf *a,
                       const struct byosmtp_conf *b)
{
    const struct conf_strlist *la, *lb;

    switch (s->type) {
    case CT_INT:
    case CT_ENUM:
        return *(int *)conf_field(a, s) == *(int *)conf_field(b, s);
    case CT_BOOL:
        return *(bool *)conf_field(a, s) == *(bool *)conf_field(b, s);
    case CT_SIZE:
        return *(size_t *)conf_field(a, s) == *(size_t *)conf_field(b, s);
    case CT_STRING:
        return strcmp(*(char **)conf_field(a, s), *(char **)conf_field(b, s)) == 0;
    case CT_LIST:
    case CT_NETLIST:
        la = conf_field(a, s);
        lb = conf_field(b, s);
        if (la->count != lb->count)
            return false;
        for (size_t i = 0; i < la->count; i++)
            if (strcmp(la->items[i], lb->items[i]) != 0)
                return false;
        return true;
    }
    return false;
}

/* format_value - append setting S of C in byosmtp.conf syntax */
static void format_value(struct buf *b, const struct conf_setting *s, const struct byosmtp_conf *c)
{
    const struct conf_strlist *l;

    switch (s->type) {
    case CT_INT:
        buf_printf(b, "%d", *(int *)conf_field(c, s));
        break;
    case CT_BOOL:
        buf_puts(b, *(bool *)conf_field(c, s) ? "true" : "false");
        break;
    case CT_STRING:
        conf_quote(b, *(char **)conf_field(c, s));
        break;
    case CT_ENUM:
        conf_quote(b, s->words[*(int *)conf_field(c, s)]);
        break;
    case CT_SIZE:
        buf_putc(b, '"');
        conf_format_size(b, *(size_t *)conf_field(c, s));
        buf_putc(b, '"');
        break;
    case CT_LIST:
    case CT_NETLIST:
        l = conf_field(c, s);
        buf_puts(b, "[");
        for (size_t i = 0; i < l->count; i++) {
            buf_puts(b, i > 0 ? ", " : " ");
            conf_quote(b, l->items[i]);
        }
        buf_puts(b, " ]");
        break;
    }
}

/* group_depth - number of components of a group's dotted name ("" → 0) */
static int group_depth(const char *g, size_t len)
{
    int d = len > 0;

    for (size_t i = 0; i < len; i++)
        d += g[i] == '.';
    return d;
}

/* common_groups - length of the longest leading run of whole components shared by A and B */
static size_t common_groups(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, last = 0;

    while (i < alen && i < blen && a[i] == b[i]) {
        i++;
        if ((i == alen || a[i] == '.') && (i == blen || b[i] == '.'))
            last = i;
    }
    return last;
}

/* conf_print - every setting in nested byosmtp.conf syntax (a file cannot use dotted names) */
void conf_print(const struct byosmtp_conf *c, FILE *fp, bool only_changed)
{
    struct byosmtp_conf *defaults = only_changed ? conf_defaults() : NULL;
    const char *cur = "";
    size_t curlen = 0;
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < conf_nsettings; i++) {
        const struct conf_setting *s = &conf_settings[i];
        const char *leaf = conf_leaf_name(s->name);
        size_t glen = leaf > s->name ? (size_t)(leaf - s->name - 1) : 0;
        size_t keep;
        int depth;

        if (defaults && same_value(s, c, defaults))
            continue;
        /* close the groups we leave, then open the ones we enter */
        keep = common_groups(cur, curlen, s->name, glen);
        for (depth = group_depth(cur, curlen); depth > group_depth(cur, keep); depth--)
            buf_printf(&b, "%*s};\n", (depth - 1) * 4, "");
        if (!only_changed && keep == 0 && glen > 0 && b.len > 0)
            buf_putc(&b, '\n'); /* a blank line between top-level groups */
        for (size_t pos = keep; pos < glen;) {
            size_t start = pos == 0 ? 0 : pos + 1;
            const char *dot = memchr(s->name + start, '.', glen - start);
            size_t end = dot ? (size_t)(dot - s->name) : glen;

            buf_printf(&b, "%*s%.*s = {\n", group_depth(s->name, start == 0 ? 0 : start - 1) * 4,
                       "", (int)(end - start), s->name + start);
            pos = end;
        }
        cur = s->name;
        curlen = glen;
        /* the full listing documents itself; the changed ones stay terse, as postconf -n */
        if (!only_changed)
            buf_printf(&b, "%*s# %s\n", group_depth(cur, curlen) * 4, "", s->desc);
        buf_printf(&b, "%*s%s = ", group_depth(cur, curlen) * 4, "", leaf);
        format_value(&b, s, c);
        buf_puts(&b, ";\n");
    }
    for (int depth = group_depth(cur, curlen); depth > 0; depth--)
        buf_printf(&b, "%*s};\n", (depth - 1) * 4, "");
    fputs(b.data, fp);
    buf_free(&b);
    conf_unref(defaults);
}

/* conf_setting_name - the dotted name of the Ith setting of the table; NULL past the last */
const char *conf_setting_name(size_t i)
{
    return i < conf_nsettings ? conf_settings[i].name : NULL;
}

/* conf_format_value - setting NAME of C in byosmtp.conf syntax (caller frees); NULL: unknown */
char *conf_format_value(const struct byosmtp_conf *c, const char *name)
{
    struct buf b;

    for (size_t i = 0; i < conf_nsettings; i++) {
        if (strcmp(conf_settings[i].name, name) == 0) {
            buf_init(&b);
            format_value(&b, &conf_settings[i], c);
            return buf_steal(&b);
        }
    }
    return NULL;
}
