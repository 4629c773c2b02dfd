/* check_conf - byosmtp.conf: defaults, overrides, every error class, refcounts, printing, and
 * that the shipped etc/byosmtp.conf and doc/byosmtp.conf.5 name every setting */
#include "config.h"

#include <libconfig.h>
#include <pthread.h>

#include "store/conf.h"
#include "testutil.h"
#include "util/util.h"

/* load_text - write TEXT to DIR/byosmtp.conf and load it; *path gets the file name */
static int load_text(const char *dir, const char *text, struct byosmtp_conf **c, char **err,
                     char **path)
{
    *path = test_write(dir, "byosmtp.conf", text, 0644);
    return conf_load(*path, c, err);
}

/* print_to_string - conf_print() into a new string */
static char *print_to_string(const struct byosmtp_conf *c, bool only_changed)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(fp);
    conf_print(c, fp, only_changed);
    ck_assert_int_eq(fclose(fp), 0);
    return text;
}

static void assert_list(const struct conf_strlist *l, size_t n, const char *const *want)
{
    ck_assert_uint_eq(l->count, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(l->items[i], want[i]);
}

/* assert_defaults - every setting holds the value byosmtp.conf(5) gives it */
static void assert_defaults(const struct byosmtp_conf *c)
{
    static const char *const nets[] = {"127.0.0.0/8", "::1/128"};

    ck_assert_str_eq(c->milter.socket, "unix:" BYOSMTP_RUNDIR "/milter.sock");
    assert_list(&c->milter.trusted_networks, 2, nets);
    ck_assert(c->milter.relay_authenticated);
    ck_assert_int_eq(c->milter.timeout, 7210);
    ck_assert_str_eq(c->milter.user, "");
    ck_assert_str_eq(c->milter.pid_file, BYOSMTP_RUNDIR "/byosmtpd.pid");
    ck_assert_int_eq(c->milter.max_headers, 1000);
    ck_assert_uint_eq(c->milter.max_header_size, 65536);
    ck_assert_int_eq(c->milter.idle_warning, 600);
    ck_assert_str_eq(c->store.path, BYOSMTP_STATEDIR);
    ck_assert_uint_eq(c->store.map_size, 1024UL * 1024 * 1024);
    ck_assert_str_eq(c->spool.path, BYOSMTP_SPOOLDIR);
    ck_assert_str_eq(c->secrets.key_file, BYOSMTP_CONFDIR "/master.key");
    ck_assert_int_eq(c->delivery.workers, 40);
    ck_assert_str_eq(c->delivery.helo_name, "");
    ck_assert_str_eq(c->delivery.tls_ca_file, "");
    ck_assert_str_eq(c->delivery.tls_ca_path, "/etc/ssl/certs");
    ck_assert_str_eq(c->delivery.tls_min_version, "TLSv1.2");
    ck_assert_int_eq(c->delivery.connect_timeout, 30);
    ck_assert_int_eq(c->delivery.helo_timeout, 300);
    ck_assert_int_eq(c->delivery.command_timeout, 300);
    ck_assert_int_eq(c->delivery.data_timeout, 180);
    ck_assert_int_eq(c->delivery.data_done_timeout, 600);
    ck_assert_int_eq(c->delivery.conn_idle_timeout, 2);
    ck_assert_int_eq(c->delivery.conn_max_messages, 100);
    ck_assert_int_eq(c->delivery.retry.min_backoff, 300);
    ck_assert_int_eq(c->delivery.retry.max_backoff, 4000);
    ck_assert_int_eq(c->delivery.retry.max_lifetime, 432000);
    ck_assert(c->delivery.bounce.enabled);
    ck_assert_str_eq(c->delivery.bounce.command, "/usr/sbin/sendmail -i -f <> --");
    ck_assert(c->rewrite.original_from_header);
    ck_assert(c->rewrite.reply_to_original);
    ck_assert_int_eq(c->rewrite.envelope_from, ENVFROM_TARGET);
    ck_assert_int_eq(c->quota.action, QUOTA_TEMPFAIL);
    ck_assert_int_eq(c->verify.attempts, 5);
    ck_assert_int_eq(c->verify.window, 900);
    ck_assert_str_eq(c->log.level, "info");
    ck_assert_str_eq(c->log.facility, "mail");
    ck_assert(!c->log.to_stderr);
    ck_assert(!c->cluster.enabled);
    ck_assert_str_eq(c->cluster.redis, "");
    ck_assert_str_eq(c->cluster.password_file, "");
    ck_assert_str_eq(c->cluster.prefix, "byosmtp");
    ck_assert_str_eq(c->cluster.host, "");
    ck_assert_uint_eq(c->cluster.hosts.count, 0);
    ck_assert_int_eq(c->cluster.timeout_ms, 200);
    ck_assert_int_eq(c->cluster.sync_interval, 60);
    ck_assert_int_eq(c->cluster.lease_ttl, 60);
    ck_assert_int_eq(c->cluster.degraded_quota, DEGRADED_SHARE);
}

/* assert_same - A and B hold the same value in every setting */
static void assert_same(const struct byosmtp_conf *a, const struct byosmtp_conf *b)
{
#define SAME_STR(f) ck_assert_str_eq(a->f, b->f)
#define SAME_INT(f) ck_assert_int_eq(a->f, b->f)
    SAME_STR(milter.socket);
    ck_assert_uint_eq(a->milter.trusted_networks.count, b->milter.trusted_networks.count);
    for (size_t i = 0; i < a->milter.trusted_networks.count; i++)
        SAME_STR(milter.trusted_networks.items[i]);
    SAME_INT(milter.relay_authenticated);
    SAME_INT(milter.timeout);
    SAME_STR(milter.user);
    SAME_STR(milter.pid_file);
    SAME_INT(milter.max_headers);
    SAME_INT(milter.idle_warning);
    ck_assert_uint_eq(a->milter.max_header_size, b->milter.max_header_size);
    SAME_STR(store.path);
    ck_assert_uint_eq(a->store.map_size, b->store.map_size);
    SAME_STR(spool.path);
    SAME_STR(secrets.key_file);
    SAME_INT(delivery.workers);
    SAME_STR(delivery.helo_name);
    SAME_STR(delivery.tls_ca_file);
    SAME_STR(delivery.tls_ca_path);
    SAME_STR(delivery.tls_min_version);
    SAME_INT(delivery.connect_timeout);
    SAME_INT(delivery.helo_timeout);
    SAME_INT(delivery.command_timeout);
    SAME_INT(delivery.data_timeout);
    SAME_INT(delivery.data_done_timeout);
    SAME_INT(delivery.conn_idle_timeout);
    SAME_INT(delivery.conn_max_messages);
    SAME_INT(delivery.retry.min_backoff);
    SAME_INT(delivery.retry.max_backoff);
    SAME_INT(delivery.retry.max_lifetime);
    SAME_INT(delivery.bounce.enabled);
    SAME_STR(delivery.bounce.command);
    SAME_INT(rewrite.original_from_header);
    SAME_INT(rewrite.reply_to_original);
    SAME_INT(rewrite.envelope_from);
    SAME_INT(quota.action);
    SAME_INT(verify.attempts);
    SAME_INT(verify.window);
    SAME_STR(log.level);
    SAME_STR(log.facility);
    SAME_INT(log.to_stderr);
#undef SAME_STR
#undef SAME_INT
}

/* A file that changes every setting away from its default. */
static const char full_file[] =
    "# every setting, none at its default\n"
    "milter = {\n"
    "    socket = \"inet:8891@127.0.0.1\";\n"
    "    trusted_networks = [ \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\" ];\n"
    "    relay_authenticated = false;\n"
    "    timeout = 60;\n"
    "    user = \"byosmtp\";\n"
    "    pid_file = \"/tmp/byosmtpd-test.pid\";\n"
    "    max_headers = 500;\n"
    "    max_header_size = \"128K\";\n"
    "};\n"
    "store = { path = \"/srv/byosmtp/store\"; map_size = \"2G\"; };\n"
    "spool = { path = \"/srv/byosmtp/spool\"; };\n"
    "secrets = { key_file = \"/srv/byosmtp/master.key\"; };\n"
    "delivery = {\n"
    "    workers = 32; helo_name = \"relay.example.com\";\n"
    "    tls_ca_file = \"/etc/ssl/ca.pem\"; tls_ca_path = \"\"; tls_min_version = \"TLSv1.3\";\n"
    "    connect_timeout = 10; helo_timeout = 60; command_timeout = 120; data_timeout = 90;\n"
    "    data_done_timeout = 300; conn_idle_timeout = 0; conn_max_messages = 1;\n"
    "    retry = { min_backoff = 60; max_backoff = 600L; max_lifetime = 86400; };\n"
    "    bounce = { enabled = false; command = \"\"; };\n"
    "};\n"
    "rewrite = { original_from_header = false; reply_to_original = false;\n"
    "            envelope_from = \"original\"; };\n"
    "quota = { action = \"passthrough\"; };\n"
    "verify = { attempts = 3; window = 3600; };\n"
    "log = { level = \"debug\"; facility = \"local3\"; stderr = true; };\n";

START_TEST(defaults_match_design)
{
    struct byosmtp_conf *c = conf_defaults();

    assert_defaults(c);
    ck_assert_str_eq(c->file, "(defaults)");
    conf_unref(c);
}
END_TEST

START_TEST(empty_file_gives_defaults)
{
    char *dir = test_tmpdir(), *path, *err = NULL;
    struct byosmtp_conf *c;

    ck_assert_int_eq(load_text(dir, "# nothing set\nmilter = { };\n", &c, &err, &path), 0);
    ck_assert_ptr_null(err);
    assert_defaults(c);
    ck_assert_str_eq(c->file, path);
    conf_unref(c);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* a cluster group loads with hiredis; a build --without-hiredis refuses enabled = true */
START_TEST(cluster_group)
{
    static const char *const hosts[] = {"mx1", "mx2", "mx3"};
    static const char text[] =
        "cluster = { enabled = true; redis = \"inet:[2001:db8::5]:6379\";\n"
        "  password_file = \"/etc/byosmtp/redis.pw\"; prefix = \"eu.byo\"; host = \"mx2\";\n"
        "  hosts = [ \"mx1\", \"mx2\", \"mx3\" ]; timeout_ms = 150; sync_interval = 5;\n"
        "  lease_ttl = 30; degraded_quota = \"tempfail\"; };\n";
    char *dir = test_tmpdir(), *path, *err = NULL;
    struct byosmtp_conf *c = NULL;

#ifdef HAVE_HIREDIS
    ck_assert_msg(load_text(dir, text, &c, &err, &path) == 0, "%s", err);
    ck_assert(c->cluster.enabled);
    ck_assert_str_eq(c->cluster.redis, "inet:[2001:db8::5]:6379");
    ck_assert_str_eq(c->cluster.password_file, "/etc/byosmtp/redis.pw");
    ck_assert_str_eq(c->cluster.prefix, "eu.byo");
    ck_assert_str_eq(c->cluster.host, "mx2");
    assert_list(&c->cluster.hosts, 3, hosts);
    ck_assert_int_eq(c->cluster.timeout_ms, 150);
    ck_assert_int_eq(c->cluster.sync_interval, 5);
    ck_assert_int_eq(c->cluster.lease_ttl, 30);
    ck_assert_int_eq(c->cluster.degraded_quota, DEGRADED_TEMPFAIL);
    conf_unref(c);
#else
    char *want;

    (void)hosts;
    ck_assert_int_eq(load_text(dir, text, &c, &err, &path), -1);
    want = xasprintf("%s:1: cluster.enabled is true but this byosmtp was built without hiredis "
                     "(configure --without-hiredis): install libhiredis-dev and build again, or "
                     "set enabled = false", path);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
#endif
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(full_file_overrides_every_setting)
{
    static const char *const nets[] = {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"};
    char *dir = test_tmpdir(), *path, *err = NULL;
    struct byosmtp_conf *c;

    ck_assert_int_eq(load_text(dir, full_file, &c, &err, &path), 0);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(c->milter.socket, "inet:8891@127.0.0.1");
    assert_list(&c->milter.trusted_networks, 3, nets);
    ck_assert(!c->milter.relay_authenticated);
    ck_assert_int_eq(c->milter.timeout, 60);
    ck_assert_str_eq(c->milter.user, "byosmtp");
    ck_assert_str_eq(c->milter.pid_file, "/tmp/byosmtpd-test.pid");
    ck_assert_int_eq(c->milter.max_headers, 500);
    ck_assert_uint_eq(c->milter.max_header_size, 131072);
    ck_assert_str_eq(c->store.path, "/srv/byosmtp/store");
    ck_assert_uint_eq(c->store.map_size, 2UL * 1024 * 1024 * 1024);
    ck_assert_str_eq(c->spool.path, "/srv/byosmtp/spool");
    ck_assert_str_eq(c->secrets.key_file, "/srv/byosmtp/master.key");
    ck_assert_int_eq(c->delivery.workers, 32);
    ck_assert_str_eq(c->delivery.helo_name, "relay.example.com");
    ck_assert_str_eq(c->delivery.tls_ca_file, "/etc/ssl/ca.pem");
    ck_assert_str_eq(c->delivery.tls_ca_path, "");
    ck_assert_str_eq(c->delivery.tls_min_version, "TLSv1.3");
    ck_assert_int_eq(c->delivery.connect_timeout, 10);
    ck_assert_int_eq(c->delivery.helo_timeout, 60);
    ck_assert_int_eq(c->delivery.command_timeout, 120);
    ck_assert_int_eq(c->delivery.data_timeout, 90);
    ck_assert_int_eq(c->delivery.data_done_timeout, 300);
    ck_assert_int_eq(c->delivery.conn_idle_timeout, 0);
    ck_assert_int_eq(c->delivery.conn_max_messages, 1);
    ck_assert_int_eq(c->delivery.retry.min_backoff, 60);
    ck_assert_int_eq(c->delivery.retry.max_backoff, 600);
    ck_assert_int_eq(c->delivery.retry.max_lifetime, 86400);
    ck_assert(!c->delivery.bounce.enabled);
    ck_assert_str_eq(c->delivery.bounce.command, "");
    ck_assert(!c->rewrite.original_from_header);
    ck_assert(!c->rewrite.reply_to_original);
    ck_assert_int_eq(c->rewrite.envelope_from, ENVFROM_ORIGINAL);
    ck_assert_int_eq(c->quota.action, QUOTA_PASSTHROUGH);
    ck_assert_int_eq(c->verify.attempts, 3);
    ck_assert_int_eq(c->verify.window, 3600);
    ck_assert_str_eq(c->log.level, "debug");
    ck_assert_str_eq(c->log.facility, "local3");
    ck_assert(c->log.to_stderr);
    conf_unref(c);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(numbers_in_every_spelling)
{
    char *dir = test_tmpdir(), *path, *err = NULL;
    struct byosmtp_conf *c;

    ck_assert_int_eq(load_text(dir,
                               "delivery = { workers = 0x10; retry = { max_lifetime = 600L; }; };\n"
                               "store = { map_size = 67108864; };\n"
                               "milter = { max_header_size = \"2k\"; socket = \"inet6:8891@::1\"; "
                               "trusted_networks = ( \"::1\" ); };\n",
                               &c, &err, &path),
                     0);
    ck_assert_int_eq(c->delivery.workers, 16);
    ck_assert_int_eq(c->delivery.retry.max_lifetime, 600);
    ck_assert_uint_eq(c->store.map_size, 64UL * 1024 * 1024);
    ck_assert_uint_eq(c->milter.max_header_size, 2048);
    ck_assert_str_eq(c->milter.socket, "inet6:8891@::1");
    ck_assert_uint_eq(c->milter.trusted_networks.count, 1);
    conf_unref(c);
    free(path);
    test_rmdir(dir);
}
END_TEST

static const struct {
    const char *text; /* the file */
    int line;         /* where the error is reported */
    const char *msg;  /* what follows "FILE:LINE: " */
} bad[] = {
    /* syntax: libconfig's own words */
    {"delivery = {\n  workers = ;\n};\n", 2, "syntax error"},
    /* unknown keys and groups */
    {"delivery = {\n  foo = 1;\n};\n", 2,
     "unknown setting 'delivery.foo': see byosmtp.conf(5) for the settings that exist"},
    {"\n\nbogus = { a = 1; };\n", 3,
     "unknown setting 'bogus': see byosmtp.conf(5) for the settings that exist"},
    {"delivery = { retry = {\n jitter = 5; }; };\n", 2,
     "unknown setting 'delivery.retry.jitter': see byosmtp.conf(5) for the settings that exist"},
    {"delivery = 3;\n", 1,
     "'delivery' is a group of settings, not a value: write delivery = { ... };"},
    /* types */
    {"delivery = { workers = \"8\"; };\n", 1,
     "delivery.workers must be an integer, e.g. workers = 40;"},
    {"delivery = { workers = 1.5; };\n", 1,
     "delivery.workers must be an integer, e.g. workers = 40;"},
    {"milter = { relay_authenticated = \"yes\"; };\n", 1,
     "milter.relay_authenticated must be true or false (without quotes)"},
    {"milter = { socket = 5; };\n", 1,
     "milter.socket must be a quoted string, e.g. socket = \"unix:" BYOSMTP_RUNDIR
     "/milter.sock\";"},
    {"delivery = { retry = { min_backoff = { }; }; };\n", 1,
     "delivery.retry.min_backoff must be an integer, e.g. min_backoff = 300;"},
    {"milter = { trusted_networks = \"127.0.0.0/8\"; };\n", 1,
     "milter.trusted_networks must be a list of quoted strings, e.g. trusted_networks = "
     "[ \"127.0.0.0/8\", \"::1/128\" ];"},
    {"milter = { trusted_networks = (\n \"10.0.0.0/8\",\n 5 ); };\n", 3,
     "milter.trusted_networks must be a list of quoted strings, e.g. trusted_networks = "
     "[ \"127.0.0.0/8\", \"::1/128\" ];"},
    /* bounds */
    {"delivery = { workers = 0; };\n", 1,
     "delivery.workers = 0 is out of range: use a value from 1 to 1024"},
    {"delivery = { retry = { max_lifetime = 99999999999L; }; };\n", 1,
     "delivery.retry.max_lifetime = 99999999999 is out of range: use a value from 0 to 31536000"},
    {"verify = { window = -1; };\n", 1,
     "verify.window = -1 is out of range: use a value from 1 to 604800"},
    /* enums */
    {"rewrite = { envelope_from = \"sender\"; };\n", 1,
     "rewrite.envelope_from = \"sender\" is not allowed: use one of \"target\", \"original\""},
    {"quota = { action = \"drop\"; };\n", 1,
     "quota.action = \"drop\" is not allowed: use one of \"tempfail\", \"reject\", "
     "\"passthrough\""},
    {"delivery = { tls_min_version = \"TLSv1.1\"; };\n", 1,
     "delivery.tls_min_version = \"TLSv1.1\" is not allowed: use one of \"TLSv1.2\", \"TLSv1.3\""},
    /* sizes */
    {"store = { map_size = \"1X\"; };\n", 1,
     "store.map_size = \"1X\" is not a size: write a number of bytes with an optional K, M, G or T "
     "suffix, e.g. map_size = \"1G\";"},
    {"store = { map_size = \"\"; };\n", 1,
     "store.map_size = \"\" is not a size: write a number of bytes with an optional K, M, G or T "
     "suffix, e.g. map_size = \"1G\";"},
    {"store = { map_size = \"512K\"; };\n", 1,
     "store.map_size = \"512K\" is out of range: use a size from 1M to 1T"},
    {"store = { map_size = \"99999999999999999999999\"; };\n", 1,
     "store.map_size = \"99999999999999999999999\" is not a size: write a number of bytes with an "
     "optional K, M, G or T suffix, e.g. map_size = \"1G\";"},
    {"store = { map_size = -5; };\n", 1,
     "store.map_size = -5 is out of range: use a size from 1M to 1T"},
    {"store = { map_size = true; };\n", 1,
     "store.map_size must be a size such as \"1G\", \"512M\", \"64K\" or 65536"},
    {"milter = { max_header_size = 100; };\n", 1,
     "milter.max_header_size = 100 is out of range: use a size from 1K to 16M"},
    /* networks */
    {"milter = { trusted_networks = [ \"10.0.0.0/33\" ]; };\n", 1,
     "milter.trusted_networks: \"10.0.0.0/33\" is not a network: write ADDRESS/PREFIX such as "
     "\"192.0.2.0/24\" or \"2001:db8::/32\""},
    {"milter = { trusted_networks = [ \"localhost\" ]; };\n", 1,
     "milter.trusted_networks: \"localhost\" is not a network: write ADDRESS/PREFIX such as "
     "\"192.0.2.0/24\" or \"2001:db8::/32\""},
    {"milter = { trusted_networks = [ \"::1/128\",\n  \"127.0.0.1/8\" ]; };\n", 2,
     "milter.trusted_networks: \"127.0.0.1/8\" has host bits set: write \"127.0.0.0/8\""},
    {"milter = { trusted_networks = [ \"2001:db8::1/32\" ]; };\n", 1,
     "milter.trusted_networks: \"2001:db8::1/32\" has host bits set: write \"2001:db8::/32\""},
    {"milter = { trusted_networks = [ \"10.0.0.0/8\\t\" ]; };\n", 1,
     "milter.trusted_networks must not contain control characters such as line breaks or tabs"},
    /* log */
    {"log = { level = \"verbose\"; };\n", 1,
     "log.level = \"verbose\" is not a log level: use one of \"error\", \"warning\", \"info\", "
     "\"debug\""},
    {"log = { facility = \"mial\"; };\n", 1,
     "log.facility = \"mial\" is not a syslog facility: use \"mail\", \"daemon\", \"user\" or "
     "\"local0\" to \"local7\""},
    /* milter socket */
    {"milter = { socket = \"tcp:8891\"; };\n", 1,
     "milter.socket = \"tcp:8891\" is not a milter socket: write unix:/PATH, inet:PORT@ADDRESS or "
     "inet6:PORT@ADDRESS, e.g. \"inet:8891@127.0.0.1\""},
    {"milter = { socket = \"inet:8891\"; };\n", 1,
     "milter.socket = \"inet:8891\" is not a milter socket: write unix:/PATH, inet:PORT@ADDRESS or "
     "inet6:PORT@ADDRESS, e.g. \"inet:8891@127.0.0.1\""},
    {"milter = { socket = \"inet:99999@127.0.0.1\"; };\n", 1,
     "milter.socket = \"inet:99999@127.0.0.1\" has no valid port: use a number from 1 to 65535, as "
     "in \"inet:8891@127.0.0.1\""},
    {"milter = { socket = \"inet:8891@::1\"; };\n", 1,
     "milter.socket = \"inet:8891@::1\" has no valid address after '@': write an IPv4 address or "
     "host name, as in \"inet:8891@127.0.0.1\""},
    {"milter = { socket = \"inet6:8891@127.0.0.1\"; };\n", 1,
     "milter.socket = \"inet6:8891@127.0.0.1\" has no valid address after '@': write an IPv6 "
     "address, as in \"inet6:8891@::1\""},
    {"milter = { socket = \"unix:run/milter.sock\"; };\n", 1,
     "milter.socket = \"unix:run/milter.sock\" needs an absolute path after unix:, e.g. "
     "\"unix:/run/byosmtp/milter.sock\""},
    /* strings */
    {"store = { path = \"var/lib/byosmtp\"; };\n", 1,
     "store.path = \"var/lib/byosmtp\" must be an absolute path (starting with /)"},
    {"delivery = { tls_ca_file = \"ca.pem\"; };\n", 1,
     "delivery.tls_ca_file = \"ca.pem\" must be an absolute path (starting with /), or \"\" for "
     "none"},
    {"delivery = { helo_name = \"a\\nb\"; };\n", 1,
     "delivery.helo_name must not contain control characters such as line breaks or tabs"},
    {"delivery = { helo_name = \"relay example\"; };\n", 1,
     "delivery.helo_name = \"relay example\" is not a host name: use letters, digits, '-' and '.' "
     "(e.g. \"mail.example.com\"), an address literal such as \"[192.0.2.1]\", or \"\" for the "
     "host name"},
    {"milter = { user = \"root:root\"; };\n", 1,
     "milter.user = \"root:root\" is not a user name: use letters, digits, '_', '-' and '.', or "
     "\"\" to keep the user byosmtpd starts as"},
    {"delivery = { bounce = { command = \"sendmail -i\"; }; };\n", 1,
     "delivery.bounce.command = \"sendmail -i\" must start with the absolute path of the program, "
     "e.g. \"/usr/sbin/sendmail -i -f <> --\""},
    {"events = { webhook_url = \"http://hooks.example/x\"; };\n", 1,
     "events.webhook_url = \"http://hooks.example/x\" is not an https URL: write "
     "\"https://HOST[:PORT]/PATH\" (plain http is refused: events carry addresses)"},
    {"events = { command = \"logger -t ev\"; };\n", 1,
     "events.command = \"logger -t ev\" must start with the absolute path of the program, e.g. "
     "\"/usr/sbin/sendmail -i -f <> --\""},
    {"events = { queue_limit = 0; };\n", 1,
     "events.queue_limit = 0 is out of range: use a value from 1 to 10000000"},
    {"metrics = { listen = \"unix:/run/m.sock\"; };\n", 1,
     "metrics.listen = \"unix:/run/m.sock\" is a unix socket: Prometheus scrapes TCP; write "
     "inet:PORT@ADDRESS, e.g. \"inet:9466@127.0.0.1\""},
    {"metrics = { listen = \"inet:99999@127.0.0.1\"; };\n", 1,
     "metrics.listen = \"inet:99999@127.0.0.1\" has no valid port: use a number from 1 to 65535, "
     "as in \"inet:8891@127.0.0.1\""},
    {"metrics = { listen = \"9466\"; };\n", 1,
     "metrics.listen = \"9466\" is not a listening address: write inet:PORT@ADDRESS or "
     "inet6:PORT@ADDRESS, e.g. \"inet:9466@127.0.0.1\""},
    {"metrics = { textfile = \"byosmtp.prom\"; };\n", 1,
     "metrics.textfile = \"byosmtp.prom\" must be an absolute path (starting with /), or \"\" for "
     "none"},
    {"cluster = { redis = \"redis:6379\"; };\n", 1,
     "cluster.redis = \"redis:6379\" is not a Redis address: write "
     "\"unix:/run/redis/redis.sock\" or \"inet:HOST:PORT\", e.g. \"inet:10.0.0.5:6379\""},
    {"cluster = { redis = \"inet:10.0.0.5:0\"; };\n", 1,
     "cluster.redis = \"inet:10.0.0.5:0\" has no valid port: use a number from 1 to 65535, as "
     "in \"inet:10.0.0.5:6379\""},
    {"cluster = { redis = \"unix:redis.sock\"; };\n", 1,
     "cluster.redis = \"unix:redis.sock\" needs an absolute path after unix:, e.g. "
     "\"unix:/run/redis/redis.sock\""},
    {"cluster = { prefix = \"by smtp\"; };\n", 1,
     "cluster.prefix = \"by smtp\" may hold only letters, digits, '-', '_' and '.' (it becomes "
     "part of Redis keys), e.g. \"mx1\""},
    {"cluster = { hosts = [ \"mx1\", \"mx:2\" ]; };\n", 1,
     "cluster.hosts = \"mx:2\" may hold only letters, digits, '-', '_' and '.' (it becomes "
     "part of Redis keys), e.g. \"mx1\""},
    {"cluster = { degraded_quota = \"open\"; };\n", 1,
     "cluster.degraded_quota = \"open\" is not allowed: use one of \"share\", \"tempfail\""},
    {"cluster = { timeout_ms = 5; };\n", 1,
     "cluster.timeout_ms = 5 is out of range: use a value from 10 to 10000"},
    {"cluster = {\n enabled = true; hosts = [ \"mx1\" ]; };\n", 2,
     "cluster.redis is empty while cluster.enabled is true: name the Redis server, e.g. "
     "\"unix:/run/redis/redis.sock\" or \"inet:10.0.0.5:6379\""},
    {"cluster = { redis = \"unix:/run/r.sock\";\n enabled = true; };\n", 2,
     "cluster.hosts is empty while cluster.enabled is true: list every host of the cluster, this "
     "one included, e.g. [ \"mx1\", \"mx2\" ]"},
    {"cluster = { enabled = true; redis = \"unix:/run/r.sock\";\n hosts = [ \"a\", \"a\" ]; };\n",
     2, "cluster.hosts names \"a\" twice: list each host once"},
    {"cluster = { enabled = true; redis = \"unix:/run/r.sock\"; hosts = [ \"a\" ];\n"
     " host = \"b\"; };\n",
     2, "cluster.host \"b\" is not in cluster.hosts: add it to the list, or correct the name"},
    /* rules between settings */
    {"delivery = { retry = { min_backoff = 600;\n max_backoff = 500; }; };\n", 2,
     "delivery.retry.min_backoff (600) is greater than delivery.retry.max_backoff (500): lower "
     "min_backoff or raise max_backoff"},
    {"\ndelivery = { retry = { min_backoff = 5000; }; };\n", 2,
     "delivery.retry.min_backoff (5000) is greater than delivery.retry.max_backoff (4000): lower "
     "min_backoff or raise max_backoff"},
    {"delivery = { bounce = {\n command = \"\"; }; };\n", 2,
     "delivery.bounce.command is empty while delivery.bounce.enabled is true: set the command, or "
     "set enabled = false"},
    {"store = { path = \"/srv/b\"; };\nspool = { path = \"/srv/b\"; };\n", 2,
     "store.path and spool.path are both \"/srv/b\": give each its own directory"},
    {"events = {\n webhook_url = \"https://hooks.example/x\"; };\n", 2,
     "events.webhook_url is set but events.webhook_secret_file is not: name a file (mode 0600) "
     "holding the key that signs each event"},
    /* the first error wins */
    {"log = { level = \"loud\"; };\nbogus = 1;\n", 1,
     "log.level = \"loud\" is not a log level: use one of \"error\", \"warning\", \"info\", "
     "\"debug\""},
};

START_TEST(each_error_names_file_line_and_fix)
{
    char *dir = test_tmpdir(), *path, *err = NULL, *want;
    struct byosmtp_conf *c = (struct byosmtp_conf *)1;

    ck_assert_int_eq(load_text(dir, bad[_i].text, &c, &err, &path), -1);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(err);
    want = xasprintf("%s:%d: %s", path, bad[_i].line, bad[_i].msg);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(missing_file_is_an_error)
{
    char *dir = test_tmpdir(), *path = xasprintf("%s/absent.conf", dir), *err = NULL, *want;
    struct byosmtp_conf *c = (struct byosmtp_conf *)1;

    ck_assert_int_eq(conf_load(path, &c, &err), -1);
    ck_assert_ptr_null(c);
    want = xasprintf("%s: cannot open: No such file or directory", path);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(include_is_read_next_to_the_file)
{
    char *dir = test_tmpdir(), *path, *inc, *err = NULL, *want;
    struct byosmtp_conf *c;

    inc = test_write(dir, "log.conf", "log = { level = \"debug\"; };\n", 0644);
    ck_assert_int_eq(load_text(dir, "@include \"log.conf\"\n", &c, &err, &path), 0);
    ck_assert_str_eq(c->log.level, "debug");
    conf_unref(c);
    free(path);
    free(inc);

    /* an error in the included file names that file */
    inc = test_write(dir, "log.conf", "\nlog = { lvl = \"debug\"; };\n", 0644);
    ck_assert_int_eq(load_text(dir, "@include \"log.conf\"\n", &c, &err, &path), -1);
    want = xasprintf("%s:2: unknown setting 'log.lvl': see byosmtp.conf(5) for the settings that "
                     "exist",
                     inc);
    ck_assert_str_eq(err, want);
    free(want);
    free(err);
    free(path);
    free(inc);
    test_rmdir(dir);
}
END_TEST

static void *ref_unref_many(void *arg)
{
    struct byosmtp_conf *c = arg;

    for (int i = 0; i < 100000; i++)
        conf_unref(conf_ref(c));
    return NULL;
}

START_TEST(refcount_keeps_snapshot_until_last_unref)
{
    struct byosmtp_conf *c = conf_defaults(), *held;
    pthread_t t[4];

    held = conf_ref(c);
    ck_assert_ptr_eq(held, c);
    conf_unref(c);
    /* still alive: the second reference holds it (ASan would report a use after free) */
    ck_assert_str_eq(held->log.level, "info");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, ref_unref_many, held), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_str_eq(held->milter.socket, "unix:" BYOSMTP_RUNDIR "/milter.sock");
    conf_unref(held); /* the last one frees: LeakSanitizer checks nothing is left */
    ck_assert_ptr_null(conf_ref(NULL));
    conf_unref(NULL);
}
END_TEST

START_TEST(print_then_load_gives_same_values)
{
    char *dir = test_tmpdir(), *path, *path2, *err = NULL, *text;
    struct byosmtp_conf *c, *again, *d = conf_defaults();

    /* every setting changed, and a string that needs escapes */
    ck_assert_int_eq(load_text(dir,
                               "delivery = { bounce = { command = \"/usr/bin/x \\\"q\\\" \\\\ y\"; "
                               "}; };\n",
                               &c, &err, &path),
                     0);
    ck_assert_str_eq(c->delivery.bounce.command, "/usr/bin/x \"q\" \\ y");
    text = print_to_string(c, false);
    path2 = test_write(dir, "printed.conf", text, 0644);
    ck_assert_msg(conf_load(path2, &again, &err) == 0, "%s", err);
    assert_same(c, again);
    conf_unref(again);
    conf_unref(c);
    free(text);
    free(path);

    ck_assert_int_eq(load_text(dir, full_file, &c, &err, &path), 0);
    text = print_to_string(c, false);
    free(test_write(dir, "printed.conf", text, 0644));
    ck_assert_msg(conf_load(path2, &again, &err) == 0, "%s", err);
    assert_same(c, again);
    conf_unref(again);
    free(text);

    /* only_changed of a file that changes everything prints everything, and loads the same */
    text = print_to_string(c, true);
    free(test_write(dir, "printed.conf", text, 0644));
    ck_assert_msg(conf_load(path2, &again, &err) == 0, "%s", err);
    assert_same(c, again);
    conf_unref(again);
    free(text);

    /* the defaults print and load as the defaults */
    text = print_to_string(d, false);
    free(test_write(dir, "printed.conf", text, 0644));
    ck_assert_msg(conf_load(path2, &again, &err) == 0, "%s", err);
    assert_defaults(again);
    conf_unref(again);
    free(text);

    conf_unref(c);
    conf_unref(d);
    free(path);
    free(path2);
    test_rmdir(dir);
}
END_TEST

START_TEST(print_only_changed_is_like_postconf_n)
{
    char *dir = test_tmpdir(), *path, *err = NULL, *text;
    struct byosmtp_conf *c = conf_defaults();

    text = print_to_string(c, true);
    ck_assert_str_eq(text, "");
    free(text);
    conf_unref(c);

    ck_assert_int_eq(load_text(dir,
                               "log = { stderr = true; level = \"info\"; };\n"
                               "delivery = { retry = { max_backoff = 8000; }; workers = 2; };\n"
                               "store = { map_size = 1048576; };\n",
                               &c, &err, &path),
                     0);
    text = print_to_string(c, true);
    ck_assert_str_eq(text, "store = {\n"
                           "    map_size = \"1M\";\n"
                           "};\n"
                           "delivery = {\n"
                           "    workers = 2;\n"
                           "    retry = {\n"
                           "        max_backoff = 8000;\n"
                           "    };\n"
                           "};\n"
                           "log = {\n"
                           "    stderr = true;\n"
                           "};\n");
    free(text);
    text = print_to_string(c, false);
    ck_assert_ptr_nonnull(strstr(text, "\n    retry = {\n"
                                       "        # seconds before the first retry of a deferred "
                                       "message\n"
                                       "        min_backoff = 300;\n"
                                       "        # the retry interval doubles up to this many "
                                       "seconds\n"
                                       "        max_backoff = 8000;\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n};\n\nstore = {\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "    trusted_networks = [ \"127.0.0.0/8\", \"::1/128\" ];\n"));
    free(text);
    conf_unref(c);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* replace_all - TEXT with every FROM replaced by TO (caller frees) */
static char *replace_all(const char *text, const char *from, const char *to)
{
    struct buf b;
    const char *p;

    buf_init(&b);
    while ((p = strstr(text, from)) != NULL) {
        buf_append(&b, text, (size_t)(p - text));
        buf_puts(&b, to);
        text = p + strlen(from);
    }
    buf_puts(&b, text);
    return buf_steal(&b);
}

/*
 * uncommented_etc - etc/byosmtp.conf with every commented-out setting ("#key = ...", the '#'
 * followed by a letter) enabled, and the standard directories it shows mapped to this build's
 */
static char *uncommented_etc(int *settings)
{
    static const char *const dirs[][2] = {
        {"\"/run/byosmtp", "\"" BYOSMTP_RUNDIR},
        {"\"unix:/run/byosmtp", "\"unix:" BYOSMTP_RUNDIR},
        {"\"/var/lib/byosmtp", "\"" BYOSMTP_STATEDIR},
        {"\"/var/spool/byosmtp", "\"" BYOSMTP_SPOOLDIR},
        {"\"/etc/byosmtp", "\"" BYOSMTP_CONFDIR},
    };
    char *file = test_srcdir_path("etc/byosmtp.conf"), *text = test_read_file(file, NULL), *line, *next;
    struct buf b;

    *settings = 0;
    buf_init(&b);
    for (line = text; *line; line = next) {
        size_t indent = strspn(line, " \t");

        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (line[indent] == '#' && line[indent + 1] >= 'a' && line[indent + 1] <= 'z') {
            buf_append(&b, line, indent);
            buf_append(&b, line + indent + 1, (size_t)(next - line) - indent - 1);
            (*settings)++;
        } else {
            buf_append(&b, line, (size_t)(next - line));
        }
    }
    free(text);
    free(file);
    text = buf_steal(&b);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *r = replace_all(text, dirs[i][0], dirs[i][1]);

        free(text);
        text = r;
    }
    return text;
}

START_TEST(shipped_file_holds_the_defaults)
{
    char *dir = test_tmpdir(), *path, *err = NULL, *text, *file;
    struct byosmtp_conf *c;
    int settings;

    /* as shipped (all commented out) */
    file = test_srcdir_path("etc/byosmtp.conf");
    ck_assert_msg(conf_load(file, &c, &err) == 0, "%s", err);
    assert_defaults(c);
    conf_unref(c);
    free(file);

    /* with every setting uncommented */
    text = uncommented_etc(&settings);
    ck_assert_msg(load_text(dir, text, &c, &err, &path) == 0, "%s", err);
    assert_defaults(c);
    ck_assert_int_gt(settings, 0);
    conf_unref(c);
    free(text);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* collect_keys - the dotted names of every value under GROUP, appended to KEYS */
static void collect_keys(const config_setting_t *group, const char *prefix, char ***keys, int *n)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char *name = *prefix ? xasprintf("%s.%s", prefix, config_setting_name(s))
                             : xstrdup(config_setting_name(s));

        if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
            collect_keys(s, name, keys, n);
            free(name);
        } else {
            *keys = xrealloc(*keys, sizeof(char *) * (size_t)(*n + 1));
            (*keys)[(*n)++] = name;
        }
    }
}

START_TEST(every_setting_is_shipped_and_documented)
{
    struct byosmtp_conf *d = conf_defaults();
    char *printed = print_to_string(d, false), *etc = NULL, *man_file, *man;
    char **keys = NULL;
    int n = 0, settings;
    config_t all, shipped;

    /* conf_print writes every setting of the table: that is the list to look for */
    config_init(&all);
    ck_assert_msg(config_read_string(&all, printed) == CONFIG_TRUE, "%s", config_error_text(&all));
    collect_keys(config_root_setting(&all), "", &keys, &n);
    ck_assert_int_eq(n, 58);

    etc = uncommented_etc(&settings);
    ck_assert_int_eq(settings, n); /* each setting shown once */
    config_init(&shipped);
    ck_assert_msg(config_read_string(&shipped, etc) == CONFIG_TRUE, "%s",
                  config_error_text(&shipped));
    man_file = test_srcdir_path("doc/byosmtp.conf.5");
    man = test_read_file(man_file, NULL);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(config_lookup(&shipped, keys[i]) != NULL, "%s is missing in etc/byosmtp.conf",
                      keys[i]);
        ck_assert_msg(strstr(man, keys[i]) != NULL, "%s is missing in doc/byosmtp.conf.5", keys[i]);
        free(keys[i]);
    }
    free(keys);
    free(man);
    free(man_file);
    free(etc);
    free(printed);
    config_destroy(&shipped);
    config_destroy(&all);
    conf_unref(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, defaults_match_design);
    tcase_add_test(tc, empty_file_gives_defaults);
    tcase_add_test(tc, full_file_overrides_every_setting);
    tcase_add_test(tc, cluster_group);
    tcase_add_test(tc, numbers_in_every_spelling);
    tcase_add_loop_test(tc, each_error_names_file_line_and_fix, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, missing_file_is_an_error);
    tcase_add_test(tc, include_is_read_next_to_the_file);
    tcase_add_test(tc, refcount_keeps_snapshot_until_last_unref);
    tcase_add_test(tc, print_then_load_gives_same_values);
    tcase_add_test(tc, print_only_changed_is_like_postconf_n);
    tcase_add_test(tc, shipped_file_holds_the_defaults);
    tcase_add_test(tc, every_setting_is_shipped_and_documented);
    suite_add_tcase(s, tc);
    return test_run(s);
}
