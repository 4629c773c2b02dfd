/*
 * conf - byosmtp.conf: the table of every setting, and the snapshot (its defaults, refcount
 * and release). The loader is conf_load.c, the checks of string values conf_check.c, and the
 * printer conf_print.c; what they share is conf_int.h.
 *
 * conf_settings[] names every setting exactly once: dotted name, type, place in struct
 * byosmtp_conf, the default written as a user writes it in byosmtp.conf, bounds, and a
 * one-line description (the model is Postfix mail_params.h and OpenDKIM's configdef).
 * Defaults take the same road as the user's file: each default text is parsed by libconfig
 * and applied by conf_apply(), so a default can never bypass a check.
 *
 * Owns: each snapshot (struct conf_box wraps the public struct together with its refcount).
 * Thread-safety: every function is reentrant; a snapshot is never written after it is
 * returned, and conf_ref/conf_unref use an atomic counter.
 */
#include "config.h"

#include <libconfig.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "store/conf.h"
#include "store/conf_int.h"
#include "util/msg.h"
#include "util/util.h"

_Static_assert(sizeof(enum conf_quota_action) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum conf_envelope_from) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum conf_routing_order) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum conf_degraded_quota) == sizeof(int), "enums are stored as int");

static const char *const envelope_from_words[] = {"target", "original", NULL};
static const char *const routing_order_words[] = {"recipient-first", "sender-first", NULL};
static const char *const quota_action_words[] = {"tempfail", "reject", "passthrough", NULL};
static const char *const tls_version_words[] = {"TLSv1.2", "TLSv1.3", NULL};
static const char *const degraded_quota_words[] = {"share", "tempfail", NULL};

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

    /* 40: a target without max_connections gets half, 20, Postfix's
     * default_destination_concurrency_limit (delivery.c, sched_config_of) */
    {"delivery.workers", CT_INT, OFF(delivery.workers), "40", 1, 1024,
     .desc = "delivery threads, that is, provider connections open at once in all; a target "
             "without max_connections uses at most half"},
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
    {"delivery.conn_idle_timeout", CT_INT, OFF(delivery.conn_idle_timeout), "2", 0, 3600,
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
    {"delivery.delay_warning", CT_INT, OFF(delivery.delay_warning), "0", 0, 31536000,
     .desc = "seconds a message may wait before its sender gets one \"delayed\" notice; 0 = "
             "never (Postfix's delay_warning_time)"},
    {"delivery.fallback_command", CT_STRING, OFF(delivery.fallback_command),
     Q("/usr/sbin/sendmail -i"), .check = conf_check_command,
     .desc = "command that hands a copy back to the local MTA (a target's fallback = mta); "
             "-f SENDER, the DSN options and -- RECIPIENT... are appended"},

    {"rewrite.original_from_header", CT_BOOL, OFF(rewrite.original_from_header), "true",
     .desc = "keep the original From in an Original-From: header (RFC 5703)"},
    {"rewrite.reply_to_original", CT_BOOL, OFF(rewrite.reply_to_original), "true",
     .desc = "make the original From the Reply-To when the message and the target have none"},
    {"rewrite.envelope_from", CT_ENUM, OFF(rewrite.envelope_from), Q("target"),
     .words = envelope_from_words,
     .desc = "envelope sender towards the provider: the target's from_address, or the "
             "original sender"},

    {"routing.order", CT_ENUM, OFF(routing.order), Q("recipient-first"),
     .words = routing_order_words,
     .desc = "which route table decides a recipient first: recipient-first (a recipient route "
             "wins over a sender route) or sender-first"},

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

    {"events.command", CT_STRING, OFF(events.command), Q(""), .check = conf_check_command,
     .desc = "long-running command that reads one JSON object a line on its standard input, "
             "one per recipient outcome; \"\" for none"},
    {"events.webhook_url", CT_STRING, OFF(events.webhook_url), Q(""),
     .check = conf_check_https_url,
     .desc = "https:// URL that gets each event as a signed JSON POST; \"\" for none"},
    {"events.webhook_secret_file", CT_STRING, OFF(events.webhook_secret_file), Q(""),
     .flags = CF_PATH | CF_EMPTY,
     .desc = "file holding the key of the webhook's HMAC-SHA256 signature (mode 0600)"},
    {"events.queue_limit", CT_INT, OFF(events.queue_limit), "10000", 1, 10000000,
     .desc = "events waiting per sink; beyond that they are dropped and counted, never "
             "holding up delivery"},

    {"metrics.listen", CT_STRING, OFF(metrics.listen), Q(""), .check = conf_check_listen,
     .desc = "where Prometheus scrapes /metrics: inet:PORT@ADDRESS or inet6:PORT@ADDRESS; "
             "\"\" for none"},
    {"metrics.textfile", CT_STRING, OFF(metrics.textfile), Q(""), .flags = CF_PATH | CF_EMPTY,
     .desc = "file the same metrics are written to (node_exporter textfile collector); "
             "\"\" for none"},

    {"cluster.enabled", CT_BOOL, OFF(cluster.enabled), "false",
     .desc = "share monthly quotas with the other hosts of cluster.hosts through Redis "
             "(doc/cluster.md)"},
    {"cluster.redis", CT_STRING, OFF(cluster.redis), Q(""), .check = conf_check_redis,
     .desc = "the Redis server: unix:/PATH or inet:HOST:PORT (no TLS: a private network, a unix "
             "socket or a tunnel)"},
    {"cluster.password_file", CT_STRING, OFF(cluster.password_file), Q(""),
     .flags = CF_PATH | CF_EMPTY,
     .desc = "file holding the Redis password (AUTH), read once at start; \"\" for none"},
    {"cluster.prefix", CT_STRING, OFF(cluster.prefix), Q("byosmtp"), .check = conf_check_key_word,
     .desc = "first part of every Redis key, so that several clusters can share one server"},
    {"cluster.host", CT_STRING, OFF(cluster.host), Q(""), .check = conf_check_key_word,
     .desc = "this host's name in the cluster (its field in the shared counts); \"\" uses the "
             "host name"},
    {"cluster.hosts", CT_LIST, OFF(cluster.hosts), "[ ]", .check = conf_check_key_word,
     .desc = "the names of every host of the cluster, this one included: N for the share of a "
             "quota while Redis is unreachable"},
    {"cluster.timeout_ms", CT_INT, OFF(cluster.timeout_ms), "200", 10, 10000,
     .desc = "milliseconds a Redis connection or command may take before the host counts Redis "
             "as unreachable"},
    {"cluster.sync_interval", CT_INT, OFF(cluster.sync_interval), "60", 1, 3600,
     .desc = "seconds between two republications of this host's quota counts from its store"},
    {"cluster.lease_ttl", CT_INT, OFF(cluster.lease_ttl), "60", 5, 3600,
     .desc = "seconds a connection lease (a target's max_connections, shared by the hosts) "
             "lives unless renewed"},
    {"cluster.degraded_quota", CT_ENUM, OFF(cluster.degraded_quota), Q("share"),
     .words = degraded_quota_words,
     .desc = "while Redis is unreachable: share (each host may use 1/N of what was left) or "
             "tempfail (451 for recipients of targets with a monthly quota)"},
};

const size_t conf_nsettings = sizeof(conf_settings) / sizeof(conf_settings[0]);

/* conf_strlist_free - free the items of a list and empty it */
void conf_strlist_free(struct conf_strlist *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
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

/* conf_defaults - a snapshot of the compiled-in defaults alone (refcount 1) */
struct byosmtp_conf *conf_defaults(void)
{
    return &conf_new()->c;
}

/* box_of - the snapshot's wrapper, which holds the refcount */
static struct conf_box *box_of(struct byosmtp_conf *c)
{
    return (struct conf_box *)((char *)c - offsetof(struct conf_box, c));
}

/* conf_ref - one more holder of snapshot C; returns C */
struct byosmtp_conf *conf_ref(struct byosmtp_conf *c)
{
    if (c)
        atomic_fetch_add_explicit(&box_of(c)->refs, 1, memory_order_relaxed);
    return c;
}

/* conf_unref - one holder less; the last one frees the snapshot (NULL is fine) */
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
