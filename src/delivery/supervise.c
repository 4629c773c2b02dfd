/*
 * supervise - the delivery supervisor process (see supervise.h). It has no threads and takes
 * its signals like byosmtpd's other processes (util/daemon.h); daemon_fork gives each delivery
 * process default signal dispositions and nothing of the supervisor's: the simplest process
 * that can fork the delivery process again and again without carrying anything into it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "delivery/delivery.h"
#include "util/daemon.h"
#include "util/msg.h"
#include "delivery/supervise.h"

#define RESTART_MIN 1
#define RESTART_MAX 60
#define YOUNG 10 /* a delivery process that dies younger than this is restarted more slowly */
#define STOP_WAIT 60 /* seconds the supervisor waits for the delivery process to stop */

/* close_inherited - close every descriptor but 0, 1, 2: the milter's socket stays with byosmtpd */
static void close_inherited(void)
{
    long max = sysconf(_SC_OPEN_MAX);

    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close(fd);
}

/* start_delivery - fork the delivery process; its pid, or -1 */
static pid_t start_delivery(const char *conf_file, int64_t started)
{
    pid_t pid = daemon_fork();

    if (pid == 0)
        exit(delivery_run(conf_file, started)); /* exit(): the sanitizers check at exit */
    if (pid < 0)
        msg_error("supervisor: cannot fork the delivery process: %s", strerror(errno));
    else
        msg_info("supervisor: delivery process %ld started", (long)pid);
    return pid;
}

/* describe - "exit status N" / "signal N" */
static void describe(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "signal %d%s", WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(buf, n, "status %d", status);
}

/* supervisor - the supervisor's life: start, watch, restart, forward, stop */
static BYO_NORETURN void supervisor(const char *conf_file, int64_t started)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    pid_t child = -1;
    int delay = RESTART_MIN;
    time_t born = 0, restart_at = 0;
    bool stopping = false;
    char how[64], *err = NULL;

    /* the delivery process starts with default dispositions, whatever byosmtpd had set */
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    if (daemon_signals_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), &err) < 0)
        msg_fatal("supervisor: %s", err);
    daemon_signals_listen();

    for (;;) {
        sigset_t got;
        int status;
        pid_t w;

        if (child < 0 && !stopping && time(NULL) >= restart_at) {
            child = start_delivery(conf_file, started);
            born = time(NULL);
            if (child < 0)
                restart_at = time(NULL) + RESTART_MAX;
        }
        /* SIGCHLD only wakes the loop; a SIGHUP that came with a stop is passed on first */
        daemon_signals_wait(-1, 1000, &got);
        if (sigismember(&got, SIGHUP) && child > 0)
            kill(child, SIGHUP);
        if (sigismember(&got, SIGTERM) || sigismember(&got, SIGINT)) {
            stopping = true;
            if (child > 0)
                kill(child, SIGTERM);
        }
        while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
            if (w != child)
                continue;
            child = -1;
            if (stopping)
                break;
            describe(status, how, sizeof(how));
            delay = time(NULL) - born < YOUNG ? (delay * 2 > RESTART_MAX ? RESTART_MAX : delay * 2)
                                              : RESTART_MIN;
            restart_at = time(NULL) + (time(NULL) - born < YOUNG ? delay : 0);
            msg_error("supervisor: the delivery process exited unexpectedly (%s): restarting it "
                      "in %ld s", how, (long)(restart_at - time(NULL)));
        }
        if (stopping && child < 0)
            _exit(0);
        if (stopping && child > 0) {
            /* a stop that takes too long (a provider that never answers) is cut short */
            static time_t stop_started;

            if (stop_started == 0)
                stop_started = time(NULL);
            else if (time(NULL) - stop_started > STOP_WAIT) {
                msg_warn("supervisor: the delivery process did not stop in %d s: killing it",
                         STOP_WAIT);
                kill(child, SIGKILL);
            }
        }
    }
}

pid_t supervise_start(const char *conf_file, bool to_stderr, const char *facility,
                      uid_t signaller, char **err)
{
    int64_t started = (int64_t)time(NULL);
    pid_t pid;

    fflush(NULL);
    pid = daemon_fork(); /* byosmtpd catches no signal yet: nothing to reset */
    if (pid < 0)
        return set_err(err, "cannot fork the delivery supervisor: %s", strerror(errno));
    if (pid > 0)
        return pid;
    close_inherited();
    if (!to_stderr) {
        int fd = open("/dev/null", O_RDWR);

        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
    msg_open("byosmtpd", true, to_stderr, facility);
    /* real uid milter.user, effective and saved uid root: the milter process, once it has
     * dropped to milter.user, may signal us; we keep root to start the delivery process */
    if (signaller != (uid_t)-1 && geteuid() == 0 && setresuid(signaller, 0, 0) < 0)
        msg_fatal("supervisor: cannot take uid %lu as the real uid: %s", (unsigned long)signaller,
                  strerror(errno));
    supervisor(conf_file, started);
}

void supervise_reload(pid_t pid)
{
    if (pid > 0)
        kill(pid, SIGHUP);
}

int supervise_stop(pid_t pid, int timeout)
{
    int status;

    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    for (int i = 0; i < timeout * 10; i++) {
        struct timespec ts = {0, 100000000};
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid || (w < 0 && errno == ECHILD))
            return 0;
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
