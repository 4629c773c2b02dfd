/*
 * daemon - pid file, privilege drop, child forking and the self-pipe that carries signals
 * (see daemon.h). The signal state is per process: the pipe, the set caught, and one flag per
 * signal, set by the handler and taken by daemon_signals_wait.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/daemon.h"
#include "util/util.h"

static int sig_pipe[2] = {-1, -1};
static sigset_t sig_caught; /* the signals of daemon_signals_catch (zeroed: none) */
static atomic_int sig_arrived[NSIG];

int daemon_pidfile_write(const char *path, char **err)
{
    char line[32];
    int fd, n, rc;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return set_err(err, "%s: cannot write the pid file: %s", path, strerror(errno));
    n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    rc = write_all(fd, line, (size_t)n);
    if (close(fd) != 0)
        rc = -1;
    if (rc < 0)
        return set_err(err, "%s: cannot write the pid file: %s", path, strerror(errno));
    return 0;
}

int daemon_pidfile_remove(const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

int daemon_become(const struct passwd *pw, char **err)
{
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0)
        return set_err(err, "cannot become user %s: %s", pw->pw_name, strerror(errno));
    if (pw->pw_uid != 0 && setuid(0) == 0)
        return set_err(err, "could regain root after becoming %s: refusing to run", pw->pw_name);
    return 0;
}

/* on_signal - note SIG and wake the waiting thread (async-signal-safe) */
static void on_signal(int sig)
{
    if (sig > 0 && sig < NSIG)
        atomic_store(&sig_arrived[sig], 1);
    daemon_signals_wake();
}

int daemon_signals_catch(const int *sigs, size_t n, char **err)
{
    struct sigaction sa;

    if (sig_pipe[0] >= 0)
        return set_err(err, "signals are caught already");
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return set_err(err, "pipe: %s", strerror(errno));
    sigemptyset(&sig_caught);
    for (size_t i = 0; i < n; i++)
        sigaddset(&sig_caught, sigs[i]);
    pthread_sigmask(SIG_BLOCK, &sig_caught, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < n; i++)
        sigaction(sigs[i], &sa, NULL);
    return 0;
}

void daemon_signals_listen(void)
{
    pthread_sigmask(SIG_UNBLOCK, &sig_caught, NULL);
}

int daemon_signals_wait(int fd, int timeout_ms, sigset_t *got)
{
    struct pollfd pfd[2] = {{.fd = sig_pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    char drain[64];
    int rc, saved;

    rc = poll(pfd, fd >= 0 ? 2 : 1, timeout_ms);
    saved = errno;
    while (sig_pipe[0] >= 0 && read(sig_pipe[0], drain, sizeof(drain)) > 0)
        continue;
    sigemptyset(got);
    for (int s = 1; s < NSIG; s++)
        if (atomic_exchange(&sig_arrived[s], 0))
            sigaddset(got, s);
    if (rc < 0 && saved != EINTR) {
        errno = saved;
        return -1;
    }
    return 0;
}

void daemon_signals_wake(void)
{
    int saved = errno;
    char c = 0;

    if (sig_pipe[1] >= 0 && write(sig_pipe[1], &c, 1) < 0) {
        /* The pipe is full: the waiting thread is awake already. */
    }
    errno = saved;
}

/* close_pipe - close the self-pipe and forget it */
static void close_pipe(void)
{
    for (int i = 0; i < 2; i++) {
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
        sig_pipe[i] = -1;
    }
}

void daemon_signals_close(void)
{
    pthread_sigmask(SIG_BLOCK, &sig_caught, NULL);
    close_pipe();
}

pid_t daemon_fork(void)
{
    sigset_t old;
    pid_t parent = getpid(), pid;
    int saved;

    pthread_sigmask(SIG_BLOCK, &sig_caught, &old);
    pid = fork();
    saved = errno;
    if (pid != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = saved;
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before the line above */
        _exit(0);
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&sig_caught, s) == 1) {
            signal(s, SIG_DFL);
            atomic_store(&sig_arrived[s], 0);
        }
    close_pipe();
    pthread_sigmask(SIG_UNBLOCK, &sig_caught, NULL);
    sigemptyset(&sig_caught);
    return 0;
}
