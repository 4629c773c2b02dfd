/*
 * fallback - hand a copy back to the local MTA (see fallback.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/bounce.h"
#include "delivery/dsnopt.h"
#include "delivery/fallback.h"
#include "util/util.h"

/* fallback_argv - the command, the envelope sender, the DSN options, then the recipients */
char **fallback_argv(const char *command, const char *sender, const char *notify, const char *ret,
                     const char *envid, const char *const *rcpts, size_t n, char **err)
{
    char **argv = NULL, *copy = xstrdup(command ? command : ""), *save = NULL, *w;
    size_t k = 0;

    for (w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        argv = xrealloc(argv, (k + 1) * sizeof(*argv));
        argv[k++] = xstrdup(w);
    }
    free(copy);
    if (k == 0) {
        set_err(err, "delivery.fallback_command is empty: set it to the MTA's sendmail, e.g. "
                     "\"/usr/sbin/sendmail -i\"");
        return NULL;
    }
    argv = xrealloc(argv, (k + n + 10) * sizeof(*argv));
    argv[k++] = xstrdup("-f");
    argv[k++] = xstrdup(sender != NULL && *sender != '\0' ? sender : "<>");
    if (notify != NULL && *notify != '\0') {
        argv[k++] = xstrdup("-N");
        argv[k++] = xstrdup(notify);
    }
    if (ret != NULL && *ret != '\0') {
        argv[k++] = xstrdup("-R");
        argv[k++] = xstrdup(ret);
    }
    if (envid != NULL) {
        argv[k++] = xstrdup("-V");
        argv[k++] = xstrdup(envid);
    }
    argv[k++] = xstrdup("--");
    for (size_t i = 0; i < n; i++)
        argv[k++] = xstrdup(rcpts[i]);
    argv[k] = NULL;
    return argv;
}

/* What feed() writes: the trace field, the copy's header section, then its body. */
struct feed_ctx {
    struct spool_copy *c;
    const struct buf *headers;
};

/* feed - the message to the command, the body in chunks from the spool */
static int feed(int fd, void *ctx)
{
    struct feed_ctx *f = ctx;
    char *trace = xasprintf("%s: %s\r\n", FALLBACK_HEADER, f->c->env.id), chunk[65536];
    ssize_t n = 0;
    int rc = write_all(fd, trace, strlen(trace));

    free(trace);
    if (rc == 0)
        rc = write_all(fd, f->headers->data, f->headers->len);
    f->c->body_pos = 0;
    while (rc == 0 && (n = spool_copy_read_body(f->c, chunk, sizeof(chunk), NULL)) > 0)
        rc = write_all(fd, chunk, (size_t)n);
    if (rc == 0 && n < 0)
        rc = -1;
    f->c->body_pos = 0;
    return rc;
}

/* common_notify - the NOTIFY every one of the N recipients IDX of C gave, "" when they differ */
static const char *common_notify(const struct spool_copy *c, const size_t *idx, size_t n,
                                 char buf[32])
{
    unsigned notify = 0;

    for (size_t i = 0; i < n; i++) {
        struct dsnopt_rcpt r;

        dsnopt_rcpt_parse(c->env.rcpt_params ? c->env.rcpt_params[idx[i]] : "", &r);
        if (i > 0 && r.notify != notify)
            notify = 0, i = n;
        else
            notify = r.notify;
        dsnopt_rcpt_free(&r);
    }
    return dsnopt_notify_word(notify, buf);
}

/* fallback_send - the copy, marked, to the MTA's sendmail for the recipients IDX */
int fallback_send(const struct byosmtp_conf *conf, struct spool_copy *c, const size_t *idx,
                  size_t n, char **err)
{
    const char **rcpts = xcalloc(n + 1, sizeof(*rcpts));
    struct dsnopt_msg opt;
    struct buf headers;
    struct feed_ctx f = {c, &headers};
    char notify[32], **argv;
    int rc = -1;

    for (size_t i = 0; i < n; i++)
        rcpts[i] = c->env.rcpts[idx[i]];
    dsnopt_msg_parse(c->env.mail_params, &opt);
    buf_init(&headers);
    argv = fallback_argv(conf->delivery.fallback_command, c->env.sender,
                         common_notify(c, idx, n, notify),
                         opt.ret == DSNOPT_RET_FULL   ? "full"
                         : opt.ret == DSNOPT_RET_HDRS ? "hdrs"
                                                      : "",
                         opt.envid, rcpts, n, err);
    if (argv != NULL && spool_copy_read_headers(c, &headers, err) == 0)
        rc = bounce_run(argv, feed, &f, "fallback", err);
    bounce_argv_free(argv);
    buf_free(&headers);
    dsnopt_msg_free(&opt);
    free(rcpts);
    return rc;
}
