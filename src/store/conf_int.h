/*
 * conf_int - what the files of byosmtp.conf share: the shape of the table of settings
 * (conf.c), the snapshot's wrapper, the value checks the table names (conf_check.c), the one
 * road by which a value enters a snapshot (conf_load.c) and the byosmtp.conf syntax of values
 * (conf_print.c). Not for use outside src/store/conf*.c.
 */
#ifndef BYOSMTP_CONF_INT_H
#define BYOSMTP_CONF_INT_H

#include <libconfig.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "store/conf.h"
#include "util/util.h"

enum conf_type {
    CT_INT,     /* int; an integer, 300 or 300L */
    CT_BOOL,    /* bool; true or false */
    CT_STRING,  /* char *; a quoted string */
    CT_SIZE,    /* size_t; "1G", "512M", "64K", "65536" or an integer */
    CT_ENUM,    /* int (a C enum); one of words[], stored as its index */
    CT_LIST,    /* struct conf_strlist; [ "a", "b" ] */
    CT_NETLIST, /* struct conf_strlist of CIDR networks */
};

/* flags for CT_STRING */
#define CF_PATH 0x01  /* an absolute path */
#define CF_EMPTY 0x02 /* with CF_PATH: "" is allowed too */

#define KB 1024LL
#define MB (1024LL * KB)
#define GB (1024LL * MB)
#define TB (1024LL * GB)

/* conf_check_fn - extra validation of a string value; fills *why ("KEY = VALUE ...: how to fix") */
typedef int conf_check_fn(const char *key, const char *value, char **why);

struct conf_setting {
    const char *name; /* dotted: "delivery.retry.min_backoff" */
    enum conf_type type;
    size_t offset;            /* into struct byosmtp_conf */
    const char *def;          /* the default, in byosmtp.conf syntax */
    long long min, max;       /* CT_INT and CT_SIZE */
    const char *const *words; /* CT_ENUM, or the only values a CT_STRING may take */
    conf_check_fn *check;     /* CT_STRING, and each element of a CT_LIST */
    unsigned flags;
    const char *desc;
};

struct conf_box {
    atomic_uint refs;
    struct byosmtp_conf c;
};

/* ---- the table and the snapshot (conf.c) ---- */

/* conf_settings - every setting, in the order of byosmtp.conf(5); conf_nsettings of them */
extern const struct conf_setting conf_settings[];
extern const size_t conf_nsettings;

/* conf_field - the place of setting S in snapshot C */
static inline void *conf_field(const struct byosmtp_conf *c, const struct conf_setting *s)
{
    return (char *)c + s->offset;
}

/* conf_leaf_name - the last component of a dotted name: "min_backoff" */
static inline const char *conf_leaf_name(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot ? dot + 1 : name;
}

/* conf_new - a snapshot holding the compiled-in defaults, each parsed like user input */
struct conf_box *conf_new(void);
/* conf_free - free a snapshot and everything it holds */
void conf_free(struct conf_box *box);
/* conf_strlist_free - free the items of a list and empty it */
void conf_strlist_free(struct conf_strlist *l);

/* ---- the checks of string values the table names (conf_check.c) ---- */

conf_check_fn conf_check_socket, conf_check_level, conf_check_facility, conf_check_hostname,
    conf_check_user, conf_check_command, conf_check_network, conf_check_https_url,
    conf_check_listen, conf_check_redis, conf_check_key_word;

/* ---- reading a value (conf_load.c) ---- */

/*
 * conf_apply - check one value read by libconfig from FILE and store it in C; the one road for
 * all values, defaults included. 0, or -1 with *err = "FILE:LINE: what is wrong".
 */
int conf_apply(const struct conf_setting *s, struct byosmtp_conf *c, const config_setting_t *cs,
               const char *file, char **err);

/* ---- writing a value in byosmtp.conf syntax (conf_print.c) ---- */

/* conf_quote - append S as a libconfig string literal; control bytes become \xNN */
void conf_quote(struct buf *b, const char *s);
/* conf_quoted - S as a new libconfig string literal (caller frees) */
char *conf_quoted(const char *s);
/* conf_format_size - write N bytes with the largest unit that divides it: 1073741824 → "1G" */
void conf_format_size(struct buf *b, unsigned long long n);

#endif
