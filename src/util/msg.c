/*
 * msg - logging to syslog and/or stderr.
 *
 * Syslog is reached through a socket of our own to /dev/log, not through syslog(3): glibc's
 * syslog() keeps nothing when no daemon listens, and then opens a socket and connects again for
 * every line. Here each process opens one socket (datagram; stream when the daemon listens on a
 * stream socket, as syslog(3) also tries) and keeps it: a line is one send(). A send that fails
 * (the daemon restarted) connects again at once and sends the line again, once; while no daemon
 * listens, a new connection is tried at most once every MSG_RETRY seconds and the lines in
 * between reach stderr only (when it is on). The lines are those of syslog(3) with LOG_PID:
 * "<PRI>Mmm dd hh:mm:ss PROGRAM[PID]: text".
 *
 * Stderr gets every line whole, in one write when it can, retried on a short write, EINTR or
 * EAGAIN, whatever happens to syslog.
 *
 * Thread-safety: one mutex serialises the settings, the socket and both outputs, so lines of
 * different threads never mix. A child of fork() notices that the socket is its parent's (the
 * pid changed) and opens its own; a descriptor closed or reused behind our back (a child that
 * closes what it inherited) is recognised by its inode and never closed again by us.
 */
#include "config.h"

#include <errno.h>
#include <paths.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/msg.h"

#define MSG_RETRY 1 /* seconds between two attempts to reach a syslog daemon that is not there */

static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int msg_max = MSG_INFO;
/* Under msg_lock: */
static const char *msg_prog = "byosmtp";
static bool msg_syslog;
static bool msg_stderr = true;
static int msg_fac = LOG_MAIL;
static char log_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)] = _PATH_LOG;
static int log_fd = -1; /* the socket to the syslog daemon, or -1 */
static int log_type;    /* its type: SOCK_DGRAM or SOCK_STREAM */
static dev_t log_dev;   /* its identity, to know it is still ours */
static ino_t log_ino;
static pid_t log_pid;        /* the process that opened it */
static int64_t log_retry_at; /* no new connection before this (CLOCK_MONOTONIC milliseconds) */

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static const char *level_names[] = {"error", "warning", "info", "debug"};

/* msg_facility_parse - a facility name to its LOG_* value; -1 when unknown */
int msg_facility_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].value;
    return -1;
}

/* msg_level_parse - a level name to its value; -1 when unknown */
int msg_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* mono_ms - milliseconds on the monotonic clock */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* log_ours - log_fd is still the socket we opened (not closed or reused behind our back) */
static bool log_ours(void)
{
    struct stat sb;

    return log_fd >= 0 && fstat(log_fd, &sb) == 0 && sb.st_dev == log_dev && sb.st_ino == log_ino;
}

/* log_drop - forget the syslog socket, closing it when it is still ours */
static void log_drop(void)
{
    if (log_ours())
        close(log_fd);
    log_fd = -1;
}

/* log_connect - a new socket connected to log_path; 0, or -1 and no new try for MSG_RETRY s */
static int log_connect(void)
{
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat sb;

    log_drop();
    memcpy(sa.sun_path, log_path, sizeof(sa.sun_path));
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0), e;

        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && fstat(fd, &sb) == 0) {
            log_fd = fd;
            log_type = types[i];
            log_dev = sb.st_dev;
            log_ino = sb.st_ino;
            log_pid = getpid();
            return 0;
        }
        e = errno;
        close(fd);
        if (e != EPROTOTYPE) /* EPROTOTYPE: the daemon listens on a stream socket */
            break;
    }
    log_retry_at = mono_ms() + MSG_RETRY * 1000;
    return -1;
}

/* send_whole - send N bytes on the syslog socket; 0, or -1 */
static int send_whole(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(log_fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* log_send - LINE (N bytes, NUL-terminated) to the syslog daemon, connecting when needed */
static void log_send(const char *line, size_t n)
{
    if (log_fd >= 0 && log_pid != getpid())
        log_drop(); /* a child of fork(): the socket is the parent's; open one of our own */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (log_fd < 0 && attempt == 0 && mono_ms() < log_retry_at)
            return; /* no daemon listened a moment ago: do not try for every line */
        if (log_fd < 0 && log_connect() < 0)
            return;
        /* on a stream socket the NUL ends the line, as syslog(3) sends it */
        if (send_whole(line, n + (log_type == SOCK_STREAM)) == 0)
            return;
        log_drop(); /* the daemon restarted or went away: connect again at once, once */
    }
    log_retry_at = mono_ms() + MSG_RETRY * 1000; /* a fresh connection failed too */
}

/* stderr_write - the N bytes at P to stderr, whole: short writes, EINTR and EAGAIN retried */
static void stderr_write(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = STDERR_FILENO, .events = POLLOUT};

            poll(&pfd, 1, -1);
            continue;
        }
        if (w <= 0)
            return; /* closed or broken: nothing else can say it */
        p += w;
        n -= (size_t)w;
    }
}

/* msg_syslog_socket - the socket msg_open() connects to: /dev/log unless PATH names another */
void msg_syslog_socket(const char *path)
{
    pthread_mutex_lock(&msg_lock);
    snprintf(log_path, sizeof(log_path), "%s", path ? path : _PATH_LOG);
    log_drop();
    log_retry_at = 0;
    pthread_mutex_unlock(&msg_lock);
}

/* msg_open - the program name and where lines go; the syslog socket is connected now, unless
 * it is already or no daemon listened a moment ago */
void msg_open(const char *progname, bool to_syslog, bool to_stderr, const char *facility)
{
    int fac = facility ? msg_facility_parse(facility) : LOG_MAIL;

    pthread_mutex_lock(&msg_lock);
    msg_prog = progname;
    msg_stderr = to_stderr;
    msg_fac = fac < 0 ? LOG_MAIL : fac;
    msg_syslog = to_syslog;
    if (!to_syslog)
        log_drop();
    else if ((!log_ours() || log_pid != getpid()) && mono_ms() >= log_retry_at)
        log_connect();
    pthread_mutex_unlock(&msg_lock);
}

/* msg_set_level - the least important level still logged */
void msg_set_level(enum msg_level level)
{
    atomic_store(&msg_max, (int)level);
}

/* syslog_stamp - the RFC 3164 time stamp of now, "Mmm dd hh:mm:ss" in local time */
static void syslog_stamp(char *buf, size_t n)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    snprintf(buf, n, "%s %2d %02d:%02d:%02d", months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

/* msg_vlog - one line at LEVEL to syslog and/or stderr */
static void msg_vlog(enum msg_level level, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    const char *word = level == MSG_INFO ? "" : level_names[level];
    const char *sep = level == MSG_INFO ? "" : ": ";
    char *text, *line, stamp[32];

    if ((int)level > atomic_load(&msg_max))
        return;
    text = xvasprintf(fmt, ap);
    syslog_stamp(stamp, sizeof(stamp));
    pthread_mutex_lock(&msg_lock);
    /* stderr first: a syslog daemon that does not read (send blocks) never holds it back */
    if (msg_stderr) {
        line = xasprintf("%s: %s%s%s\n", msg_prog, word, sep, text);
        stderr_write(line, strlen(line));
        free(line);
    }
    if (msg_syslog) {
        line = xasprintf("<%d>%s %s[%ld]: %s%s%s", msg_fac | prio[level], stamp, msg_prog,
                         (long)getpid(), word, sep, text);
        log_send(line, strlen(line));
        free(line);
    }
    pthread_mutex_unlock(&msg_lock);
    free(text);
}

#define MSG_FN(fn, level)                                                                          \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        msg_vlog(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }
MSG_FN(msg_debug, MSG_DEBUG)
MSG_FN(msg_info, MSG_INFO)
MSG_FN(msg_warn, MSG_WARN)
MSG_FN(msg_error, MSG_ERROR)

/* msg_fatal - log at error level and exit(1) */
void msg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
