/*
 * byosmtpd - the daemon: start-up checks, socket, daemon mode, privileges, signals, reload.
 *
 * Start-up order (each step needs the one before; main() is this list):
 *   1. options, byosmtp.conf, logging; the key file is checked (never read: only the delivery
 *      process holds the key), the spool is created or checked with a real write;
 *   2. the milter socket is opened (as root when started as root) and given to milter.user;
 *   3. daemon mode: the parent waits until the child reports "ready" or an error, so a failed
 *      start gives a non-zero exit status and the reason on stderr;
 *   4. the pid file is written;
 *   5. the delivery supervisor is forked (supervise.h): before any LMDB handle, and while
 *      still root so that the delivery process can read a root-only key; then privileges are
 *      dropped to milter.user;
 *   6. the store is opened, the spool recovered (spool_recover), and smfi_main runs.
 * Signals (util/daemon.h): libmilter's own signal thread sigwaits on SIGHUP, SIGTERM and SIGINT
 * and stops the milter on each (SIGHUP included). byosmtpd therefore runs smfi_main in a second
 * thread that blocks them (libmilter's threads inherit that mask) and keeps them unblocked, with
 * daemon.h's handler, in the main thread only. A process-directed signal goes to a thread that
 * does not block it, and Linux tries the main thread first, so the main thread gets SIGHUP
 * (reload) and SIGTERM (graceful stop). Should libmilter's thread ever take one (signals
 * arriving back to back), smfi_main returns on its own; byosmtpd then stops gracefully as for
 * SIGTERM and says so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "store/conf.h"
#include "cluster/cluster.h"
#include "milter/milter.h"
#include "util/daemon.h"
#include "util/msg.h"
#include "store/secret.h"
#include "spool/spool.h"
#include "store/store.h"
#include "delivery/supervise.h"


/* Seconds that open milter conversations get to finish after SIGTERM. */
#define STOP_GRACE 60

static const char usage[] =
    "usage: byosmtpd [-c FILE] [-f] [-R]\n"
    "       byosmtpd --help | --version\n"
    "  -c FILE    read FILE instead of " CONF_DEFAULT_FILE "\n"
    "  -f         stay in the foreground and log to stderr as well as syslog\n"
    "  -R         recover the spool (doc/spool.md), print what was done, and exit\n"
    "  -h, --help print this and exit\n"
    "  --version  print the version and exit\n"
    "see byosmtpd(8)\n";

/* The command line. */
struct options {
    const char *conf_file;
    bool explicit;     /* -c given */
    bool foreground;   /* -f */
    bool recover_only; /* -R */
};

/* What main() builds up step by step; the main thread's alone. */
struct byosmtpd {
    struct options opt;
    struct byosmtp_conf *conf; /* the configuration in use (replaced on reload) */
    struct milter_snap *snap;  /* the first snapshot (milter_init takes it) */
    struct spool *sp;
    struct store *st;
    struct passwd *pw; /* milter.user to become, NULL: stay who we are */
    char *sock;        /* milter.socket as listened on (a reload does not change it) */
    char *pid_file;
    pid_t delivery_pid; /* the delivery supervisor */
    struct cluster *cluster; /* cluster mode (doc/cluster.md); NULL: off */
    pthread_t tid;      /* the thread of smfi_main */
    int milter_rc;      /* what smfi_main returned */
};

static atomic_bool milter_returned;

/* milter_thread - run libmilter's accept loop; tell the main loop when it returns */
static void *milter_thread(void *arg)
{
    int *rc = arg;

    *rc = smfi_main();
    atomic_store(&milter_returned, true);
    daemon_signals_wake();
    return NULL;
}

/* load_conf - byosmtp.conf from FILE (or the default file when it exists, else defaults) */
static int load_conf(const char *file, bool explicit, struct byosmtp_conf **out, char **err)
{
    if (!explicit && access(file, F_OK) != 0) {
        *out = conf_defaults();
        return 0;
    }
    return conf_load(file, out, err);
}

/* restart_only - warn about settings that a reload cannot change */
static void restart_only(const struct byosmtp_conf *a, const struct byosmtp_conf *b)
{
    static const char *const names[] = {"milter.socket", "milter.user", "milter.pid_file",
                                        "store.path",    "spool.path",  "secrets.key_file"};
    const char *va[] = {a->milter.socket, a->milter.user, a->milter.pid_file,
                        a->store.path,    a->spool.path,  a->secrets.key_file};
    const char *vb[] = {b->milter.socket, b->milter.user, b->milter.pid_file,
                        b->store.path,    b->spool.path,  b->secrets.key_file};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(va[i], vb[i]) != 0)
            msg_warn("reload: %s changed; it takes effect only when byosmtpd is restarted",
                     names[i]);
    if (a->cluster.enabled != b->cluster.enabled || strcmp(a->cluster.redis, b->cluster.redis) ||
        strcmp(a->cluster.host, b->cluster.host) || strcmp(a->cluster.prefix, b->cluster.prefix) ||
        strcmp(a->cluster.password_file, b->cluster.password_file) ||
        a->cluster.hosts.count != b->cluster.hosts.count ||
        a->cluster.timeout_ms != b->cluster.timeout_ms ||
        a->cluster.sync_interval != b->cluster.sync_interval ||
        a->cluster.degraded_quota != b->cluster.degraded_quota)
        msg_warn("reload: cluster settings changed; they take effect only when byosmtpd is "
                 "restarted");
    if (a->store.map_size != b->store.map_size)
        msg_warn("reload: store.map_size changed; it takes effect only when byosmtpd is "
                 "restarted");
    if (strcmp(a->log.level, b->log.level) != 0 || strcmp(a->log.facility, b->log.facility) != 0 ||
        a->log.to_stderr != b->log.to_stderr)
        msg_warn("reload: log settings changed; they take effect only when byosmtpd is "
                 "restarted");
}

/* reload - SIGHUP: a new snapshot for new connections; a bad file keeps the old one */
static void reload(const char *file, bool explicit, struct byosmtp_conf **cur)
{
    struct byosmtp_conf *conf;
    struct milter_snap *snap;
    char *err = NULL;

    if (load_conf(file, explicit, &conf, &err) < 0) {
        msg_error("reload: %s; keeping the configuration in use", err);
        free(err);
        return;
    }
    if (milter_snap_new(conf, &snap, &err) < 0) {
        msg_error("reload: %s; keeping the configuration in use", err);
        free(err);
        conf_unref(conf);
        return;
    }
    restart_only(*cur, conf);
    milter_set_snap(snap);
    conf_unref(*cur);
    *cur = conf;
    msg_info("reloaded %s: new connections use it; open ones keep the one they started with",
             conf->file);
}

/* socket_path - the file of a unix: socket, or NULL for inet */
static const char *socket_path(const char *sock)
{
    if (strncmp(sock, "unix:", 5) == 0)
        return sock + 5;
    if (strncmp(sock, "local:", 6) == 0)
        return sock + 6;
    return NULL;
}

/* make_parent - create the directory of PATH (0755) when missing, owned by UID:GID */
static void make_parent(const char *path, uid_t uid, gid_t gid)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');

    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) == 0 && uid != (uid_t)-1 && chown(dir, uid, gid) < 0)
            msg_warn("%s: cannot give it to uid %lu: %s", dir, (unsigned long)uid,
                     strerror(errno));
    }
    free(dir);
}

/* daemonize - fork; the parent waits for "ready" on a pipe and exits with the child's verdict */
static int daemonize(void)
{
    int p[2];
    pid_t pid;

    if (pipe(p) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid > 0) {
        char buf[4096];
        ssize_t n;
        bool ready = false;

        close(p[1]);
        /* Until ready the child's stderr is this pipe: relay what it says. */
        while ((n = read(p[0], buf, sizeof(buf))) > 0) {
            if (n >= 6 && memcmp(buf + n - 6, "READY\n", 6) == 0) {
                if (n > 6 && fwrite(buf, 1, (size_t)n - 6, stderr) == 0)
                    break;
                ready = true;
                break;
            }
            if (fwrite(buf, 1, (size_t)n, stderr) == 0)
                break;
        }
        _exit(ready ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        msg_fatal("setsid: %s", strerror(errno));
    if (chdir("/") < 0)
        msg_fatal("chdir /: %s", strerror(errno));
    int null = open("/dev/null", O_RDWR);

    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2)
            close(null);
    }
    dup2(p[1], 2);
    close(p[1]);
    return 0;
}

/* ready - daemon mode: tell the waiting parent, then stop writing to its pipe */
static void ready(bool foreground)
{
    if (foreground)
        return;
    if (write(2, "READY\n", 6) < 0) {
        /* The parent is gone; nothing to tell. */
    }
    int null = open("/dev/null", O_WRONLY);

    if (null >= 0) {
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
}

/* recover - open the store, recover the spool, close the store; exit on failure */
static void recover(const struct byosmtp_conf *conf, struct spool *sp, bool print)
{
    struct store *st;
    struct spool_recovery r;
    char *err = NULL;

    if (store_open(conf->store.path, conf->store.map_size, STORE_WRITE, &st, &err) < 0)
        msg_fatal("%s", err);
    if (spool_recover(sp, st, &r, &err) < 0)
        msg_fatal("recovery: %s", err);
    store_close(st);
    if (print)
        printf("queued %zu\nmoved-forward %zu\nremoved-unfinished %zu\ncorrupt %zu\n"
               "records-dropped %zu\nrecords-created %zu\n", r.queued, r.rolled_forward,
               r.discarded, r.corrupt, r.records_dropped, r.records_created);
}

/* parse_options - the command line into *O; -1 to go on, else the exit status (usage, -h) */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int opt;

    *o = (struct options){.conf_file = CONF_DEFAULT_FILE};
    while ((opt = getopt_long(argc, argv, "c:fRh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->conf_file = optarg;
            o->explicit = true;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'R':
            o->recover_only = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("byosmtpd %s\n", PACKAGE_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    return -1;
}

/* configure - read byosmtp.conf and set up logging; until start-up is over, also on stderr */
static void configure(struct byosmtpd *b)
{
    char *err = NULL;
    int level;

    msg_open("byosmtpd", false, true, NULL);
    if (load_conf(b->opt.conf_file, b->opt.explicit, &b->conf, &err) < 0)
        msg_fatal("%s", err);
    /* Until start-up is over, errors also go to stderr (through the parent in daemon mode). */
    msg_open("byosmtpd", !b->opt.recover_only, true, b->conf->log.facility);
    level = msg_level_parse(b->conf->log.level);
    msg_set_level(level < 0 ? MSG_INFO : (enum msg_level)level);
    umask(077);
}

/* find_user - milter.user, when byosmtpd must become it (NULL: it already is that user, or none) */
static struct passwd *find_user(const struct byosmtp_conf *conf)
{
    struct passwd *pw;

    if (conf->milter.user[0] == '\0')
        return NULL;
    pw = getpwnam(conf->milter.user);
    if (pw == NULL)
        msg_fatal("milter.user: no user '%s' on this system: create it or set milter.user",
                  conf->milter.user);
    if (geteuid() != 0 && geteuid() != pw->pw_uid)
        msg_fatal("milter.user is '%s' but byosmtpd runs as uid %lu: start it as root (or "
                  "as that user)", conf->milter.user, (unsigned long)geteuid());
    return geteuid() == pw->pw_uid ? NULL : pw;
}

/* check_setup - the key file, the first snapshot, milter.user, the store's owner, the spool */
static void check_setup(struct byosmtpd *b)
{
    const struct byosmtp_conf *conf = b->conf;
    struct passwd *pw;
    char *err = NULL;

    if (secret_key_check(conf->secrets.key_file, &err) < 0)
        msg_fatal("%s", err);
    if (milter_snap_new(b->conf, &b->snap, &err) < 0)
        msg_fatal("%s", err);
    pw = b->pw = find_user(conf);
    /* The store belongs to milter.user, like the spool: byosmtpctl (as root) keeps it so. */
    if (pw != NULL && access(conf->store.path, F_OK) == 0 &&
        store_give(conf->store.path, pw->pw_uid, pw->pw_gid, &err) < 0)
        msg_fatal("%s", err);
    if (spool_open(conf->spool.path, true, pw ? pw->pw_uid : (uid_t)-1,
                   pw ? pw->pw_gid : (gid_t)-1, &b->sp, &err) < 0)
        msg_fatal("%s", err);
}

/* drop_privileges - become PW (groups, gid, uid) when not NULL, or fail */
static void drop_privileges(const struct passwd *pw)
{
    char *err = NULL;

    if (pw != NULL && daemon_become(pw, &err) < 0)
        msg_fatal("%s", err);
}

/* recover_command - byosmtpd -R: recover the spool as milter.user, print what was done */
static int recover_command(struct byosmtpd *b)
{
    drop_privileges(b->pw);
    recover(b->conf, b->sp, true);
    spool_close(b->sp);
    milter_snap_unref(b->snap);
    conf_unref(b->conf);
    return 0;
}

/* open_socket - set up libmilter and listen on milter.socket, given to milter.user */
static void open_socket(struct byosmtpd *b)
{
    const struct passwd *pw = b->pw;
    const char *sock = b->conf->milter.socket, *path = socket_path(sock);
    char *err = NULL, hostname[256];

    /* The store must exist and open for this user; checked now, opened for good after fork. */
    host_name(hostname, sizeof(hostname));
    if (milter_init(hostname, b->snap, &err) < 0)
        msg_fatal("%s", err);
    if (path != NULL)
        make_parent(path, pw ? pw->pw_uid : (uid_t)-1, pw ? pw->pw_gid : (gid_t)-1);
    if (smfi_setconn((char *)sock) == MI_FAILURE ||
        smfi_settimeout(b->conf->milter.timeout) == MI_FAILURE)
        msg_fatal("milter.socket %s: libmilter does not accept it: write unix:/PATH, "
                  "inet:PORT@ADDRESS or inet6:PORT@ADDRESS", sock);
    /* The MTA's user must reach a unix socket: mode 0660, group of milter.user. */
    umask(0117);
    if (smfi_opensocket(true) == MI_FAILURE)
        msg_fatal("milter.socket %s: cannot listen (in use by another process, or its directory "
                  "is missing or not writable)", sock);
    umask(077);
    if (path != NULL && pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) < 0)
        msg_fatal("%s: cannot give the socket to %s: %s", path, pw->pw_name, strerror(errno));
    b->sock = xstrdup(sock);
}

/* write_pid - the pid file; a failure is only a warning (the milter still works) */
static void write_pid(struct byosmtpd *b)
{
    char *err = NULL;

    b->pid_file = xstrdup(b->conf->milter.pid_file);
    make_parent(b->pid_file, (uid_t)-1, (gid_t)-1);
    if (daemon_pidfile_write(b->pid_file, &err) < 0) {
        msg_warn("%s", err);
        free(err);
    }
}

/*
 * start_delivery - fork the delivery supervisor, then drop privileges. It comes here: before
 * any LMDB handle exists (they must not cross a fork) and while still root, so that it can read
 * a root-only master key before it drops to milter.user itself. The milter side never holds it.
 */
static void start_delivery(struct byosmtpd *b)
{
    const struct options *o = &b->opt;
    char *err = NULL;

    b->delivery_pid =
        supervise_start(o->explicit || access(o->conf_file, F_OK) == 0 ? o->conf_file : NULL,
                        o->foreground || b->conf->log.to_stderr, b->conf->log.facility,
                        b->pw != NULL ? b->pw->pw_uid : (uid_t)-1, &err);
    if (b->delivery_pid < 0)
        msg_fatal("%s", err);
    drop_privileges(b->pw);
}

/* open_store - recover the spool, open the store for good and give both to the milter */
static void open_store(struct byosmtpd *b)
{
    char *err = NULL;

    recover(b->conf, b->sp, false);
    if (store_open(b->conf->store.path, b->conf->store.map_size, STORE_WRITE, &b->st, &err) < 0)
        msg_fatal("%s", err);
    if (b->cluster && cluster_start(b->cluster, b->st, &err) < 0)
        msg_fatal("%s", err);
    milter_attach(b->st, b->sp, b->cluster);
}

/* open_cluster - cluster mode: read cluster.password_file while still root; no connection yet */
static void open_cluster(struct byosmtpd *b)
{
    char *err = NULL;

    b->cluster = cluster_new(b->conf, &err);
    if (!b->cluster && err)
        msg_fatal("%s", err);
}

/* start_milter - catch the signals, start smfi_main in a thread that blocks them, listen */
static void start_milter(struct byosmtpd *b)
{
    static const int sigs[] = {SIGHUP, SIGTERM, SIGINT};
    char *err = NULL;

    if (daemon_signals_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), &err) < 0)
        msg_fatal("%s", err);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&b->tid, NULL, milter_thread, &b->milter_rc) != 0)
        msg_fatal("cannot start the milter thread");
    daemon_signals_listen();
}

/* run - the main thread's loop: the idle warning, SIGHUP (reload), until a stop */
static void run(struct byosmtpd *b)
{
    time_t started = time(NULL);
    bool told_idle = false;

    for (;;) {
        int idle_warning = b->conf->milter.idle_warning;
        sigset_t got;

        /* An MTA that never connects is the commonest set-up mistake: say so, once. */
        if (!told_idle && idle_warning > 0 && milter_connections() == 0 &&
            time(NULL) - started >= idle_warning) {
            msg_warn("no MTA has connected to %s in the %d seconds since start: check that "
                     "Postfix's smtpd_milters (postconf smtpd_milters) or Sendmail's "
                     "INPUT_MAIL_FILTER names this socket", b->sock, idle_warning);
            told_idle = true;
        }

        daemon_signals_wait(-1, 1000, &got);
        if (sigismember(&got, SIGTERM) || sigismember(&got, SIGINT))
            break;
        if (sigismember(&got, SIGHUP)) {
            reload(b->opt.conf_file, b->opt.explicit, &b->conf);
            supervise_reload(b->delivery_pid);
        }
        if (atomic_load(&milter_returned)) {
            msg_warn("libmilter stopped listening by itself (a signal reached its own signal "
                     "thread, or its socket failed): stopping");
            break;
        }
    }
}

/* stop - no new connections, stop the delivery side, give open ones STOP_GRACE seconds */
static int stop(struct byosmtpd *b)
{
    msg_info("stopping: no new connections; waiting up to %d s for %u open ones", STOP_GRACE,
             milter_active());
    smfi_stop();
    pthread_join(b->tid, NULL);
    supervise_stop(b->delivery_pid, 70);
    for (int i = 0; i < STOP_GRACE * 10 && milter_active() > 0; i++) {
        struct timespec ts = {0, 100000000};

        nanosleep(&ts, NULL);
    }
    if (milter_active() > 0) {
        /* Their threads still use the store: exit without freeing it. The MTA tempfails them. */
        msg_warn("stopped with %u milter conversations still open: the MTA applies its "
                 "milter_default_action (tempfail) to them", milter_active());
        _exit(0);
    }
    milter_done();
    cluster_free(b->cluster);
    store_close(b->st);
    spool_close(b->sp);
    conf_unref(b->conf);
    /* After dropping root the pid file's directory may not be ours: then it stays (harmless). */
    if (daemon_pidfile_remove(b->pid_file) < 0)
        msg_debug("%s: cannot remove the pid file: %s", b->pid_file, strerror(errno));
    free(b->pid_file);
    free(b->sock);
    msg_info("stopped (smfi_main returned %d)", b->milter_rc);
    return 0;
}

int main(int argc, char **argv)
{
    struct byosmtpd b = {0};
    int rc = parse_options(argc, argv, &b.opt);

    if (rc >= 0)
        return rc;
    configure(&b);
    check_setup(&b);
    if (b.opt.recover_only)
        return recover_command(&b);
    open_socket(&b);
    if (!b.opt.foreground) {
        msg_open("byosmtpd", true, true, b.conf->log.facility);
        daemonize();
    }
    write_pid(&b);
    open_cluster(&b);
    start_delivery(&b);
    open_store(&b);
    start_milter(&b);
    msg_info("started: listening on %s, spool %s, store %s", b.sock, b.conf->spool.path,
             b.conf->store.path);
    msg_open("byosmtpd", true, b.opt.foreground || b.conf->log.to_stderr, b.conf->log.facility);
    ready(b.opt.foreground);
    run(&b);
    return stop(&b);
}
