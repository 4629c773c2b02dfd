/*
 * byosmtpd - the daemon: start-up checks, socket, daemon mode, privileges, signals, reload.
 *
 * Start-up order (each step needs the one before):
 *   1. options, byosmtp.conf, logging; the key file is checked (never read: only the delivery
 *      process holds the key), the spool is created or checked with a real write;
 *   2. the milter socket is opened (as root when started as root) and given to milter.user;
 *   3. daemon mode: the parent waits until the child reports "ready" or an error, so a failed
 *      start gives a non-zero exit status and the reason on stderr;
 *   4. the pid file is written, then privileges are dropped to milter.user;
 *   5. <- the delivery process is forked here (the delivery issue): before any LMDB handle;
 *   6. the store is opened, the spool recovered (spool_recover), and smfi_main runs.
 * Signals: libmilter's own signal thread sigwaits on SIGHUP, SIGTERM and SIGINT and stops the
 * milter on each (SIGHUP included). byosmtpd therefore runs smfi_main in a second thread that
 * blocks them (libmilter's threads inherit that mask) and keeps them unblocked, with handlers,
 * in the main thread only. A process-directed signal goes to a thread that does not block it,
 * and Linux tries the main thread first, so the main thread gets SIGHUP (reload) and SIGTERM
 * (graceful stop). Should libmilter's thread ever take one (signals arriving back to back),
 * smfi_main returns on its own; byosmtpd then stops gracefully as for SIGTERM and says so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "store/conf.h"
#include "milter/milter.h"
#include "util/msg.h"
#include "store/secret.h"
#include "spool/spool.h"
#include "store/store.h"
#include "delivery/supervise.h"


/* Seconds that open milter conversations get to finish after SIGTERM. */
#define STOP_GRACE 60

static const char usage[] =
    "usage: byosmtpd [-c FILE] [-f] [-R]\n"
    "  -c FILE  read FILE instead of " CONF_DEFAULT_FILE "\n"
    "  -f       stay in the foreground and log to stderr as well as syslog\n"
    "  -R       recover the spool (doc/spool.md), print what was done, and exit\n";

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_hup, got_term;
static atomic_bool milter_returned;

/* on_signal - note the signal and wake the main loop (async-signal-safe) */
static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_term = 1;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* The pipe is full: the main loop is awake already. */
    }
    errno = saved;
}

/* milter_thread - run libmilter's accept loop; tell the main loop when it returns */
static void *milter_thread(void *arg)
{
    int *rc = arg;
    char c = 0;

    *rc = smfi_main();
    atomic_store(&milter_returned, true);
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* as in on_signal */
    }
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

/* write_pid - the pid file; a failure is only a warning (the milter still works) */
static void write_pid(const char *path)
{
    FILE *fp;

    make_parent(path, (uid_t)-1, (gid_t)-1);
    fp = fopen(path, "w");
    if (fp == NULL) {
        msg_warn("%s: cannot write the pid file: %s", path, strerror(errno));
        return;
    }
    fprintf(fp, "%ld\n", (long)getpid());
    if (fclose(fp) != 0)
        msg_warn("%s: cannot write the pid file: %s", path, strerror(errno));
}

/* drop_privileges - become PW (groups, gid, uid), or fail */
static void drop_privileges(const struct passwd *pw)
{
    if (pw == NULL)
        return;
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0)
        msg_fatal("cannot become user %s: %s", pw->pw_name, strerror(errno));
    if (setuid(0) == 0 && pw->pw_uid != 0)
        msg_fatal("could regain root after becoming %s: refusing to run", pw->pw_name);
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

int main(int argc, char **argv)
{
    const char *conf_file = CONF_DEFAULT_FILE;
    bool explicit = false, foreground = false, recover_only = false;
    struct byosmtp_conf *conf;
    struct milter_snap *snap;
    struct spool *sp;
    struct store *st;
    struct passwd *pw = NULL;
    char *err = NULL, *pid_file = NULL, hostname[256];
    const char *sock;
    pid_t delivery_pid;
    time_t started;
    bool told_idle = false;
    pthread_t tid;
    sigset_t sigs;
    struct sigaction sa;
    int opt, level, milter_rc = 0;

    while ((opt = getopt(argc, argv, "c:fRh")) != -1) {
        switch (opt) {
        case 'c':
            conf_file = optarg;
            explicit = true;
            break;
        case 'f':
            foreground = true;
            break;
        case 'R':
            recover_only = true;
            break;
        case 'h':
            fputs(usage, stdout);
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
    msg_open("byosmtpd", false, true, NULL);
    if (load_conf(conf_file, explicit, &conf, &err) < 0)
        msg_fatal("%s", err);
    /* Until start-up is over, errors also go to stderr (through the parent in daemon mode). */
    msg_open("byosmtpd", !recover_only, true, conf->log.facility);
    level = msg_level_parse(conf->log.level);
    msg_set_level(level < 0 ? MSG_INFO : (enum msg_level)level);
    umask(077);

    if (secret_key_check(conf->secrets.key_file, &err) < 0)
        msg_fatal("%s", err);
    if (milter_snap_new(conf, &snap, &err) < 0)
        msg_fatal("%s", err);
    if (conf->milter.user[0] != '\0') {
        pw = getpwnam(conf->milter.user);
        if (pw == NULL)
            msg_fatal("milter.user: no user '%s' on this system: create it or set milter.user",
                      conf->milter.user);
        if (geteuid() != 0 && geteuid() != pw->pw_uid)
            msg_fatal("milter.user is '%s' but byosmtpd runs as uid %lu: start it as root (or "
                      "as that user)", conf->milter.user, (unsigned long)geteuid());
        if (geteuid() == pw->pw_uid)
            pw = NULL;
    }
    /* The store belongs to milter.user, like the spool: byosmtpctl (as root) keeps it so. */
    if (pw != NULL && access(conf->store.path, F_OK) == 0 &&
        store_give(conf->store.path, pw->pw_uid, pw->pw_gid, &err) < 0)
        msg_fatal("%s", err);
    if (spool_open(conf->spool.path, true, pw ? pw->pw_uid : (uid_t)-1,
                   pw ? pw->pw_gid : (gid_t)-1, &sp, &err) < 0)
        msg_fatal("%s", err);

    if (recover_only) {
        drop_privileges(pw);
        recover(conf, sp, true);
        spool_close(sp);
        milter_snap_unref(snap);
        conf_unref(conf);
        return 0;
    }

    /* The store must exist and open for this user; checked now, opened for good after fork. */
    host_name(hostname, sizeof(hostname));
    if (milter_init(hostname, snap, &err) < 0)
        msg_fatal("%s", err);
    sock = conf->milter.socket;
    if (socket_path(sock) != NULL)
        make_parent(socket_path(sock), pw ? pw->pw_uid : (uid_t)-1, pw ? pw->pw_gid : (gid_t)-1);
    if (smfi_setconn((char *)sock) == MI_FAILURE || smfi_settimeout(conf->milter.timeout) ==
                                                        MI_FAILURE)
        msg_fatal("milter.socket %s: libmilter does not accept it: write unix:/PATH, "
                  "inet:PORT@ADDRESS or inet6:PORT@ADDRESS", sock);
    /* The MTA's user must reach a unix socket: mode 0660, group of milter.user. */
    umask(0117);
    if (smfi_opensocket(true) == MI_FAILURE)
        msg_fatal("milter.socket %s: cannot listen (in use by another process, or its directory "
                  "is missing or not writable)", sock);
    umask(077);
    if (socket_path(sock) != NULL && pw != NULL &&
        chown(socket_path(sock), pw->pw_uid, pw->pw_gid) < 0)
        msg_fatal("%s: cannot give the socket to %s: %s", socket_path(sock), pw->pw_name,
                  strerror(errno));

    if (!foreground) {
        msg_open("byosmtpd", true, true, conf->log.facility);
        daemonize();
    }
    pid_file = xstrdup(conf->milter.pid_file);
    write_pid(pid_file);
    /*
     * The delivery process is forked here: before any LMDB handle exists (they must not cross a
     * fork) and while still root, so that it can read a root-only master key before it drops to
     * milter.user itself. The milter side never holds the key.
     */
    delivery_pid = supervise_start(explicit || access(conf_file, F_OK) == 0 ? conf_file : NULL,
                                   foreground || conf->log.to_stderr, conf->log.facility, &err);
    if (delivery_pid < 0)
        msg_fatal("%s", err);
    drop_privileges(pw);

    recover(conf, sp, false);
    if (store_open(conf->store.path, conf->store.map_size, STORE_WRITE, &st, &err) < 0)
        msg_fatal("%s", err);
    milter_attach(st, sp);

    if (pipe(sig_pipe) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&tid, NULL, milter_thread, &milter_rc) != 0)
        msg_fatal("cannot start the milter thread");
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

    msg_info("started: listening on %s, spool %s, store %s", sock, conf->spool.path,
             conf->store.path);
    msg_open("byosmtpd", true, foreground || conf->log.to_stderr, conf->log.facility);
    ready(foreground);

    started = time(NULL);
    for (;;) {
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
        char drain[64];

        /* An MTA that never connects is the commonest set-up mistake: say so, once. */
        if (!told_idle && conf->milter.idle_warning > 0 && milter_connections() == 0 &&
            time(NULL) - started >= conf->milter.idle_warning) {
            msg_warn("no MTA has connected to %s in the %d seconds since start: check that "
                     "Postfix's smtpd_milters (postconf smtpd_milters) or Sendmail's "
                     "INPUT_MAIL_FILTER names this socket", sock, conf->milter.idle_warning);
            told_idle = true;
        }

        if (poll(&pfd, 1, 1000) > 0)
            while (read(sig_pipe[0], drain, sizeof(drain)) > 0)
                continue;
        if (got_term)
            break;
        if (got_hup) {
            got_hup = 0;
            reload(conf_file, explicit, &conf);
            supervise_reload(delivery_pid);
        }
        if (atomic_load(&milter_returned)) {
            msg_warn("libmilter stopped listening by itself (a signal reached its own signal "
                     "thread, or its socket failed): stopping");
            break;
        }
    }
    msg_info("stopping: no new connections; waiting up to %d s for %u open ones", STOP_GRACE,
             milter_active());
    smfi_stop();
    pthread_join(tid, NULL);
    supervise_stop(delivery_pid, 70);
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
    store_close(st);
    spool_close(sp);
    conf_unref(conf);
    /* After dropping root the pid file's directory may not be ours: then it stays (harmless). */
    if (unlink(pid_file) < 0 && errno != ENOENT)
        msg_debug("%s: cannot remove the pid file: %s", pid_file, strerror(errno));
    free(pid_file);
    msg_info("stopped (smfi_main returned %d)", milter_rc);
    return 0;
}
