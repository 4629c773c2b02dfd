/*
 * bounce - DSN composition (dsn.c) and submission through the local MTA's sendmail (see
 * bounce.h). The command gets the DSN on a pipe and must exit 0 within BOUNCE_TIMEOUT seconds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "delivery/bounce.h"
#include "util/msg.h"

#define BOUNCE_TIMEOUT 120

char **bounce_argv(const char *command, const char *sender, char **err)
{
    char **argv = NULL, *copy = xstrdup(command ? command : ""), *save = NULL, *w;
    size_t n = 0;

    for (w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        argv = xrealloc(argv, (n + 3) * sizeof(*argv));
        argv[n++] = xstrdup(w);
    }
    free(copy);
    if (n == 0) {
        set_err(err, "delivery.bounce.command is empty: set it to the MTA's sendmail, e.g. "
                     "\"/usr/sbin/sendmail -i -f <> --\"");
        return NULL;
    }
    argv[n++] = xstrdup(sender);
    argv[n] = NULL;
    return argv;
}

void bounce_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

/* run_command - run ARGV with TEXT on its standard input; 0, or -1 with *err */
static int run_command(char **argv, const char *text, size_t len, char **err)
{
    int pfd[2], status = 0, wrote;
    pid_t pid, w = 0;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return set_err(err, "bounce: pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return set_err(err, "bounce: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec: the parent has threads */
        int devnull = open("/dev/null", O_WRONLY);

        dup2(pfd[0], 0);
        if (devnull >= 0)
            dup2(devnull, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[0]);
    wrote = write_all(pfd[1], text, len);
    close(pfd[1]);
    for (int i = 0; i < BOUNCE_TIMEOUT * 10; i++) {
        struct timespec ts = {0, 100000000};

        w = waitpid(pid, &status, WNOHANG);
        if (w != 0 && !(w < 0 && errno == EINTR))
            break;
        nanosleep(&ts, NULL);
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return set_err(err, "bounce: %s did not finish within %d seconds", argv[0], BOUNCE_TIMEOUT);
    }
    if (w < 0)
        return set_err(err, "bounce: waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return set_err(err, "bounce: cannot run %s: check delivery.bounce.command", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return set_err(err, "bounce: %s failed (%s %d): the DSN will be tried again", argv[0],
                       WIFEXITED(status) ? "exit status" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (wrote < 0)
        return set_err(err, "bounce: %s did not read the whole DSN", argv[0]);
    return 0;
}

int bounce_send(const struct byosmtp_conf *conf, const char *hostname, struct spool_copy *c,
                const struct dsn_rcpt *rcpts, size_t n, char **err)
{
    struct buf headers, dsn;
    struct dsn_params p;
    char **argv;
    uint64_t seed = 0;
    int rc = -1;

    if (!conf->delivery.bounce.enabled || !dsn_needed(c->env.sender))
        return 0;
    if ((argv = bounce_argv(conf->delivery.bounce.command, c->env.sender, err)) == NULL)
        return -1;
    buf_init(&headers);
    buf_init(&dsn);
    if (spool_copy_read_headers(c, &headers, err) < 0)
        goto out;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    p = (struct dsn_params){
        .reporting_mta = hostname,
        .arrival = (time_t)c->env.arrival,
        .now = time(NULL),
        .sender = c->env.sender,
        .headers = headers.data,
        .headers_len = headers.len,
        .message_size = (int64_t)(c->header_size + c->body_size),
        .spool_id = c->env.id,
        .mta_queue_id = c->env.mta_queue_id,
        .rcpts = rcpts,
        .nrcpts = n,
        .boundary_seed = seed,
    };
    if (dsn_build(&p, &dsn, err) < 0)
        goto out;
    if (run_command(argv, dsn.data, dsn.len, err) < 0)
        goto out;
    rc = 1;
out:
    buf_free(&headers);
    buf_free(&dsn);
    bounce_argv_free(argv);
    return rc;
}
