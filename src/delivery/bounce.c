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
#include "delivery/dsnopt.h"
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

/* bounce_run - run ARGV with what FEED writes on its standard input; 0, or -1 with *err */
int bounce_run(char **argv, bounce_feed_fn *feed, void *ctx, const char *what, char **err)
{
    int pfd[2], status = 0, wrote;
    pid_t pid, w = 0;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return set_err(err, "%s: pipe: %s", what, strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return set_err(err, "%s: fork: %s", what, strerror(errno));
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
    wrote = feed(pfd[1], ctx);
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
        return set_err(err, "%s: %s did not finish within %d seconds", what, argv[0],
                       BOUNCE_TIMEOUT);
    }
    if (w < 0)
        return set_err(err, "%s: waitpid: %s", what, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return set_err(err, "%s: cannot run %s: check delivery.%s", what, argv[0],
                       strcmp(what, "bounce") == 0 ? "bounce.command" : "fallback_command");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return set_err(err, "%s: %s failed (%s %d): %s will be tried again", what, argv[0],
                       WIFEXITED(status) ? "exit status" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                       strcmp(what, "bounce") == 0 ? "the DSN" : "it");
    if (wrote < 0)
        return set_err(err, "%s: %s did not read the whole message", what, argv[0]);
    return 0;
}

/* feed_buf - a struct buf to the command */
static int feed_buf(int fd, void *ctx)
{
    const struct buf *b = ctx;

    return write_all(fd, b->data, b->len);
}

/* read_body - the body of C into B when the sender asked for it (RET=FULL) and it is small
 * enough (DSN_FULL_MAX); true when B holds it */
static bool read_body(struct spool_copy *c, enum dsnopt_ret ret, struct buf *b)
{
    char chunk[8192];
    ssize_t n;

    if (ret != DSNOPT_RET_FULL || c->header_size + c->body_size > DSN_FULL_MAX)
        return false;
    c->body_pos = 0;
    while ((n = spool_copy_read_body(c, chunk, sizeof(chunk), NULL)) > 0)
        buf_append(b, chunk, (size_t)n);
    c->body_pos = 0;
    return n == 0;
}

int bounce_send(const struct byosmtp_conf *conf, const char *hostname, struct spool_copy *c,
                const struct dsn_rcpt *rcpts, size_t n, char **err)
{
    struct buf headers, dsn, body;
    struct dsn_params p;
    struct dsnopt_msg opt;
    char **argv;
    uint64_t seed = 0;
    int rc = -1;

    if (!conf->delivery.bounce.enabled || !dsn_needed(c->env.sender))
        return 0;
    if ((argv = bounce_argv(conf->delivery.bounce.command, c->env.sender, err)) == NULL)
        return -1;
    buf_init(&headers);
    buf_init(&dsn);
    buf_init(&body);
    dsnopt_msg_parse(c->env.mail_params, &opt);
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
        .envid = opt.envid,
        .rcpts = rcpts,
        .nrcpts = n,
        .boundary_seed = seed,
    };
    if (read_body(c, opt.ret, &body)) {
        p.body = body.data;
        p.body_len = body.len;
    }
    if (dsn_build(&p, &dsn, err) < 0)
        goto out;
    if (bounce_run(argv, feed_buf, &dsn, "bounce", err) < 0)
        goto out;
    rc = 1;
out:
    dsnopt_msg_free(&opt);
    buf_free(&headers);
    buf_free(&dsn);
    buf_free(&body);
    bounce_argv_free(argv);
    return rc;
}
