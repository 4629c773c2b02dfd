/*
 * conf - byosmtp.conf: one declarative table of every setting (name, type, default, bounds),
 * read with libconfig into an immutable, reference-counted snapshot.
 *
 * Every setting has a compiled-in default; an unknown key, a wrong type or a value out of bounds
 * is an error that reads "FILE:LINE: what is wrong". A snapshot is never changed after
 * conf_load() returns it: a reload builds a new one and swaps the pointer, and holders keep the
 * one they started with until they conf_unref() it. conf_ref/conf_unref are thread-safe.
 */
#ifndef BYOSMTP_CONF_H
#define BYOSMTP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The default configuration file, $(sysconfdir)/byosmtp/byosmtp.conf. */
#define CONF_DEFAULT_FILE BYOSMTP_CONFDIR "/byosmtp.conf"

enum conf_quota_action { QUOTA_TEMPFAIL, QUOTA_REJECT, QUOTA_PASSTHROUGH };
enum conf_envelope_from { ENVFROM_TARGET, ENVFROM_ORIGINAL };
enum conf_routing_order { ROUTING_RECIPIENT_FIRST, ROUTING_SENDER_FIRST };
enum conf_degraded_quota { DEGRADED_SHARE, DEGRADED_TEMPFAIL };

struct conf_strlist {
    char **items;
    size_t count;
};

struct byosmtp_conf {
    char *file; /* the file it was read from; "(defaults)" when none */

    struct {
        char *socket;                        /* "unix:/run/byosmtp/milter.sock" or "inet:PORT@ADDR" */
        struct conf_strlist trusted_networks; /* CIDR strings, validated at load */
        bool relay_authenticated;
        int timeout;           /* seconds libmilter waits on the MTA */
        char *user;            /* user to run as after start-up; "" = stay */
        char *pid_file;
        int max_headers;       /* header count limit per message */
        size_t max_header_size; /* bytes per header field */
        int idle_warning;      /* seconds without an MTA connection before a warning; 0 = off */
    } milter;
    struct {
        char *path;
        size_t map_size; /* bytes; written "1G", "512M", "65536" */
    } store;
    struct {
        char *path;
    } spool;
    struct {
        char *key_file;
    } secrets;
    struct {
        int workers;
        char *helo_name; /* "" = the host name */
        char *tls_ca_file;
        char *tls_ca_path;
        char *tls_min_version; /* "TLSv1.2" or "TLSv1.3" */
        int connect_timeout;
        int helo_timeout;
        int command_timeout;
        int data_timeout;
        int data_done_timeout;
        int conn_idle_timeout;     /* seconds an authenticated connection is kept for reuse */
        int conn_max_messages;     /* messages per connection before it is closed */
        struct {
            int min_backoff;
            int max_backoff;
            int max_lifetime;
        } retry;
        struct {
            bool enabled;
            char *command;
        } bounce;
        int delay_warning;      /* seconds before a "delayed" DSN; 0 = never */
        char *fallback_command; /* hands a copy back to the local MTA (fallback = mta) */
    } delivery;
    struct {
        bool original_from_header;
        bool reply_to_original;
        enum conf_envelope_from envelope_from;
    } rewrite;
    struct {
        enum conf_routing_order order; /* which route table is asked first for a recipient */
    } routing;
    struct {
        enum conf_quota_action action;
    } quota;
    struct {
        int attempts;
        int window;
    } verify;
    struct {
        char *level;    /* "error", "warning", "info", "debug" */
        char *facility; /* syslog facility name */
        bool to_stderr;
    } log;
    struct {
        char *command;             /* "" = none; one JSON object a line on its stdin */
        char *webhook_url;         /* "" = none; https:// only */
        char *webhook_secret_file; /* the HMAC-SHA256 key of the webhook's signature */
        int queue_limit;           /* events waiting per sink; beyond: dropped and counted */
    } events;
    struct {
        char *listen;   /* "" = none; "inet:PORT@ADDR" or "inet6:PORT@ADDR": GET /metrics */
        char *textfile; /* "" = none; the same text, replaced atomically */
    } metrics;
    struct {
        bool enabled;
        char *redis;         /* "unix:/PATH" or "inet:HOST:PORT"; needed when enabled */
        char *password_file; /* "" = no AUTH */
        char *prefix;        /* first part of every key */
        char *host;          /* this host's field; "" = the host name */
        struct conf_strlist hosts; /* every host of the cluster: N of the degraded share */
        int timeout_ms;      /* connect and command timeout */
        int sync_interval;   /* seconds between republications of the local counts */
        int lease_ttl;       /* seconds a connection lease lives */
        enum conf_degraded_quota degraded_quota;
    } cluster;
};

/*
 * conf_load - read FILE over the compiled-in defaults.
 * Returns 0 and sets *out (refcount 1), or -1 with *err = "FILE:LINE: what is wrong".
 * A missing FILE is an error ("FILE: cannot open: ..."); use conf_defaults() for none.
 */
int conf_load(const char *file, struct byosmtp_conf **out, char **err);

/* conf_defaults - a snapshot holding only the compiled-in defaults (refcount 1) */
struct byosmtp_conf *conf_defaults(void);

struct byosmtp_conf *conf_ref(struct byosmtp_conf *c);
void conf_unref(struct byosmtp_conf *c);

/*
 * conf_print - write every setting in byosmtp.conf syntax with its current value
 * (like "postconf"); with only_changed, only those that differ from the default.
 */
void conf_print(const struct byosmtp_conf *c, FILE *fp, bool only_changed);

/*
 * conf_setting_name - the dotted name of the Ith setting ("delivery.retry.min_backoff"), in the
 * order of byosmtp.conf(5); NULL past the last one. byosmtpctl config walks the table with it.
 */
const char *conf_setting_name(size_t i);
/* conf_format_value - setting NAME of C in byosmtp.conf syntax (caller frees); NULL: no such setting */
char *conf_format_value(const struct byosmtp_conf *c, const char *name);

#endif
