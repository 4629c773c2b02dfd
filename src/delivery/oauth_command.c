/*
 * oauth_command - an access token printed by the target's oauth_token_command (msmtp's
 * passwordeval): /bin/sh -c CMD, started with posix_spawn (the delivery process has threads), in
 * a process group of its own so that a timeout kills what it started too. Its standard output is
 * a secret: kept in wiped memory, never shown; its standard error explains a failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "delivery/oauth.h"
#include "util/util.h"

extern char **environ;

#define OUT_MAX (64 * 1024) /* a token is a few KiB at most */
#define ERR_MAX 4096

/* A child and what it printed. */
struct child {
    pid_t pid;
    int fd[2];        /* its standard output and error; -1 once closed */
    struct buf out, err;
};

/* now_mono - monotonic seconds */
static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* child_env - the environment with BYOSMTP_TARGET and BYOSMTP_USERNAME set to T's; caller frees */
static char **child_env(const struct target *t)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = xcalloc(n + 3, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "BYOSMTP_TARGET=", 15) != 0 &&
            strncmp(environ[i], "BYOSMTP_USERNAME=", 17) != 0)
            env[k++] = xstrdup(environ[i]);
    env[k++] = xasprintf("BYOSMTP_TARGET=%s", t->name);
    env[k++] = xasprintf("BYOSMTP_USERNAME=%s", t->username);
    return env;
}

/* env_free - free child_env()'s array */
static void env_free(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* spawn - start /bin/sh -c CMD with its output and error into pipes; 0, or -1 with *err */
static int spawn(const struct target *t, struct child *c, char **err)
{
    int out[2] = {-1, -1}, er[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    char *argv[] = {"/bin/sh", "-c", t->oauth_token_command, NULL};
    char **env;
    int rc;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        rc = errno;
        if (out[0] >= 0) {
            close(out[0]);
            close(out[1]);
        }
        return set_err(err, "oauth_token_command: cannot make a pipe: %s", strerror(rc));
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);    /* the delivery process blocks some signals */
    posix_spawnattr_setsigdefault(&at, &all);  /* and ignores SIGPIPE */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    env = child_env(t);
    rc = posix_spawn(&c->pid, "/bin/sh", &fa, &at, argv, env);
    env_free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(out[1]);
    close(er[1]);
    c->fd[0] = out[0];
    c->fd[1] = er[0];
    if (rc != 0) {
        close(out[0]);
        close(er[0]);
        c->fd[0] = c->fd[1] = -1;
        return set_err(err, "oauth_token_command: cannot run /bin/sh: %s", strerror(rc));
    }
    return 0;
}

/* drain - read what is there on pipe I of C; false once it is closed */
static bool drain(struct child *c, int i)
{
    char chunk[4096];
    struct buf *b = i == 0 ? &c->out : &c->err;
    size_t max = i == 0 ? OUT_MAX : ERR_MAX;
    ssize_t n = read(c->fd[i], chunk, sizeof(chunk));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        close(c->fd[i]);
        c->fd[i] = -1;
        wipe(chunk, sizeof(chunk));
        return false;
    }
    if (b->len < max)
        buf_append(b, chunk, (size_t)n < max - b->len ? (size_t)n : max - b->len);
    wipe(chunk, sizeof(chunk));
    return true;
}

/* collect - read both pipes until they close and the child exits, or DEADLINE (monotonic)
 * passes; returns its wait status, or -1 when it was killed for taking too long */
static int collect(struct child *c, double deadline)
{
    int status;

    while (c->fd[0] >= 0 || c->fd[1] >= 0) {
        struct pollfd p[2] = {{c->fd[0], POLLIN, 0}, {c->fd[1], POLLIN, 0}};
        double left = deadline - now_mono();

        if (left <= 0)
            break;
        if (poll(p, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            if (c->fd[i] >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                drain(c, i);
    }
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);

        if (r == c->pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_mono() >= deadline) {
            kill(-c->pid, SIGKILL);
            while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                ;
            status = -1;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0)
            close(c->fd[i]);
    return status;
}

/* first_line - the first line of B without its CR LF, as a new string (a secret) */
static char *first_line(const struct buf *b)
{
    size_t n = strcspn(b->data, "\r\n");

    return xstrndup(b->data, n);
}

/* failure - the message for a command that gave no token: WHAT, and its first line of error */
static enum oauth_result failure(struct child *c, const char *what, char **err)
{
    char *line = first_line(&c->err), *shown = text_line(line, 200);

    set_err(err, "oauth_token_command %s%s%s", what, *shown ? ": " : "", shown);
    free(line);
    free(shown);
    return OAUTH_FAILED;
}

enum oauth_result oauth_command_run(const struct oauth_env *env, const struct target *t,
                                    char **token, char **err)
{
    struct child c = {.pid = -1, .fd = {-1, -1}};
    int timeout = env->timeout > 0 ? env->timeout : 30;
    enum oauth_result rc = OAUTH_FAILED;
    char *what, *line;
    int status;

    *token = NULL;
    buf_init(&c.out);
    buf_init(&c.err);
    if (env->trace != NULL)
        env->trace(env->trace_ctx, "running oauth_token_command");
    if (spawn(t, &c, err) < 0)
        goto out;
    status = collect(&c, now_mono() + timeout);
    if (status == -1) {
        what = xasprintf("did not finish within %d s and was stopped", timeout);
        rc = failure(&c, what, err);
        free(what);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        what = WIFEXITED(status) ? xasprintf("exited with status %d", WEXITSTATUS(status))
                                 : xasprintf("was killed by signal %d", WTERMSIG(status));
        rc = failure(&c, what, err);
        free(what);
    } else if (!oauth_token_printable(line = first_line(&c.out))) {
        free_secret(line);
        rc = failure(&c, "printed no usable access token on its first line (printable ASCII, "
                         "no blank)", err);
    } else {
        *token = line;
        rc = OAUTH_OK;
    }
    if (env->trace != NULL)
        env->trace(env->trace_ctx, rc == OAUTH_OK ? "oauth_token_command printed an access "
                                                    "token (not shown)"
                                                  : err && *err ? *err : "failed");
out:
    buf_free_secret(&c.out);
    buf_free(&c.err);
    return rc;
}
