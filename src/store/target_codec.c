/*
 * target_codec - the store's record of a target: "v=1", then one "key=value" line per field of
 * the table in its order, each value in the field's record syntax (target_field_text) with \\,
 * CR and LF escaped; and its decoding, which refuses anything it does not fully understand and
 * validates the result.
 *
 * The record holds the encrypted password: buffers that held it are wiped, and no message
 * shows a value that may be it. Pure functions on caller-owned data: thread-safe.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/target_int.h"

#define RECORD_VERSION "1"

/* put_value - "key=value\n", with \\, \r and \n escaped so that a record line is one line */
static void put_value(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, "%s=", key);
    for (const char *s = value; *s != '\0'; s++) {
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
    char buf[TARGET_TEXT_MAX];
    struct buf b;
    char *out;

    buf_init(&b);
    buf_puts(&b, "v=" RECORD_VERSION "\n");
    for (size_t i = 0; i < target_nfields; i++)
        put_value(&b, target_fields[i].key, target_field_text(t, &target_fields[i], buf));
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
    return buf_steal(&b);
bad:
    buf_free_secret(&b);
    return NULL;
}

/*
 * check_version - the first line (LINE to NL) must be "v=1": 0; -1 with *why when it is not a
 * version line; 1 with *why the version it names (shown safely) when that is another one
 */
static int check_version(const char *line, const char *nl, char **why)
{
    const char *eq = memchr(line, '=', (size_t)(nl - line));
    size_t n;
    char *ver;

    if (eq == NULL) {
        *why = xstrdup("line 1 has no '='");
        return -1;
    }
    if (eq - line != 1 || line[0] != 'v') {
        *why = xstrdup("the first line is not the version (v=1)");
        return -1;
    }
    n = (size_t)(nl - eq - 1);
    if (n == strlen(RECORD_VERSION) && strncmp(eq + 1, RECORD_VERSION, n) == 0)
        return 0;
    ver = xstrndup(eq + 1, n);
    *why = target_shown(ver);
    free(ver);
    return 1;
}

/* decode_line - line LINENO, "key=value" from LINE to NL, into T and SEEN; NULL or why corrupt */
static char *decode_line(struct target *t, const char *line, const char *nl, int lineno, bool *seen)
{
    const char *eq = memchr(line, '=', (size_t)(nl - line));
    const struct target_field *f;
    char *key, *value, *why = NULL;

    if (eq == NULL)
        return xasprintf("line %d has no '='", lineno);
    key = xstrndup(line, (size_t)(eq - line));
    f = target_field_find(key);
    if (f == NULL || seen[f - target_fields]) {
        char *sk = target_shown(key);

        why = xasprintf(f == NULL ? "unknown field '%s'" : "field '%s' appears twice", sk);
        free(sk);
        free(key);
        return why;
    }
    free(key);
    seen[f - target_fields] = true;
    value = unescape(eq + 1, (size_t)(nl - eq - 1));
    if (value == NULL || !target_field_decode(t, f, value))
        /* the value is not shown: it may be the password */
        why = xasprintf("field '%s' has a corrupt value", f->key);
    free_secret(value);
    return why;
}

/* check_complete - required fields there, the record's own NAME, a valid target; NULL or why */
static char *check_complete(const struct target *t, const char *name, const bool *seen)
{
    char *why = NULL;

    for (size_t i = 0; i < target_nfields; i++)
        if (target_field_required(t, &target_fields[i]) && !seen[i])
            return xasprintf("field '%s' is missing", target_fields[i].key);
    if (strcmp(t->name, name) != 0)
        return xstrdup("it holds another target's name");
    if (target_validate(t, &why) < 0)
        return why;
    return NULL;
}

/* target_decode - a target from its store record, validated */
int target_decode(const char *name, const char *rec, size_t len, struct target *t, char **err)
{
    bool seen[TARGET_FIELDS_MAX] = {false};
    char *shown_name = target_shown(name);
    char *why = NULL;
    size_t pos = 0;
    int lineno = 0, rc = 0;

    target_init(t);
    if (len == 0)
        why = xstrdup("it is empty");
    else if (memchr(rec, '\0', len) != NULL)
        why = xstrdup("it holds a NUL byte");
    while (why == NULL && pos < len) {
        const char *line = rec + pos;
        const char *nl = memchr(line, '\n', len - pos);

        if (nl == NULL) {
            why = xasprintf("line %d is cut short (no newline)", ++lineno);
            break;
        }
        pos = (size_t)(nl - rec) + 1;
        if (++lineno == 1)
            rc = check_version(line, nl, &why);
        else
            why = decode_line(t, line, nl, lineno, seen);
    }
    if (why == NULL)
        why = check_complete(t, name, seen);
    if (why == NULL) {
        free(shown_name);
        return 0;
    }
    if (rc > 0)
        set_err(err,
                "store record for target '%s' has version '%s', which this byosmtp does not "
                "know (written by a newer version?)",
                shown_name, why);
    else
        set_err(err, "corrupt store record for target '%s': %s", shown_name, why);
    free(shown_name);
    free(why);
    target_free(t);
    return -1;
}
