/*
 * cluster_redis - the Redis connection of cluster mode over hiredis (cluster_redis.h): address
 * parsing, connect with timeouts, AUTH, the pause after a failure, the log lines of the changes
 * between reachable and degraded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_redis.h"
#include "util/msg.h"
#include "util/secretfile.h"
#include "util/util.h"

#define PAUSE_MIN_MS 100   /* first pause after a failure */
#define PAUSE_MAX_MS 5000  /* the pause doubles up to this */
#define SECRET_MAX 1024    /* longest password file */

enum link_state { LINK_NEW, LINK_UP, LINK_DOWN };

struct cluster_redis {
    pthread_mutex_t lock;
    char *where;         /* cluster.redis as written */
    char *path;          /* unix socket, or NULL */
    char *host;          /* inet host, or NULL */
    int port;
    struct timeval tv;   /* cluster.timeout_ms */
    char *user, *pass;   /* AUTH; NULL: none (user NULL: the default user) */
    redisContext *ctx;   /* NULL when not connected */
    enum link_state state;
    long pause_ms;       /* the pause after the last failure */
    double retry_at;     /* monotonic seconds before which no connection is tried */
    const char *policy;  /* cluster.degraded_quota, for the log line */
    bool delivery;       /* the delivery process's connection (its own log lines) */
};

void cluster_redis_delivery(struct cluster_redis *r)
{
    r->delivery = true;
}

/* mono_now - monotonic seconds */
static double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * read_password - cluster.password_file: one line, the password (the default user), or two
 * lines, an ACL user name and its password; trailing line breaks dropped. 0 or -1 with *err.
 */
static int read_password(struct cluster_redis *r, const char *path, char **err)
{
    char *buf, *nl;
    size_t len;

    if (secret_file_read("cluster.password_file", path, SECRET_MAX - 1, true,
                         "is empty: write the Redis password into it (or set password_file = "
                         "\"\" for a server without one)",
                         &buf, &len, err) < 0)
        return -1;
    if ((nl = strchr(buf, '\n')) != NULL) {
        size_t ulen = (size_t)(nl - buf);

        if (ulen > 0 && buf[ulen - 1] == '\r')
            ulen--;
        r->user = xstrndup(buf, ulen);
        r->pass = xstrdup(nl + 1);
    } else {
        r->pass = xstrdup(buf);
    }
    free_secret(buf);
    return 0;
}

/* parse_where - cluster.redis (checked by the configuration) into path, or host and port */
static void parse_where(struct cluster_redis *r, const char *v)
{
    const char *colon;

    if (strncmp(v, "unix:", 5) == 0) {
        r->path = xstrdup(v + 5);
        return;
    }
    colon = strrchr(v + 5, ':');
    r->port = atoi(colon + 1);
    if (v[5] == '[')
        r->host = xstrndup(v + 6, (size_t)(colon - v - 7));
    else
        r->host = xstrndup(v + 5, (size_t)(colon - v - 5));
}

struct cluster_redis *cluster_redis_new(const struct byosmtp_conf *c, char **err)
{
    struct cluster_redis *r = xcalloc(1, sizeof(*r));

    pthread_mutex_init(&r->lock, NULL);
    r->where = xstrdup(c->cluster.redis);
    parse_where(r, c->cluster.redis);
    r->tv.tv_sec = c->cluster.timeout_ms / 1000;
    r->tv.tv_usec = (c->cluster.timeout_ms % 1000) * 1000;
    r->policy = c->cluster.degraded_quota == DEGRADED_SHARE ? "share" : "tempfail";
    r->state = LINK_NEW;
    if (c->cluster.password_file[0] != '\0' &&
        read_password(r, c->cluster.password_file, err) < 0) {
        cluster_redis_free(r);
        return NULL;
    }
    return r;
}

void cluster_redis_free(struct cluster_redis *r)
{
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    free(r->where);
    free(r->path);
    free(r->host);
    free(r->user);
    free_secret(r->pass);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* went_down - count a failure: close, pause, and log the change to degraded once */
static void went_down(struct cluster_redis *r, const char *why)
{
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->pause_ms = r->state == LINK_DOWN ? r->pause_ms * 2 : PAUSE_MIN_MS;
    if (r->pause_ms > PAUSE_MAX_MS)
        r->pause_ms = PAUSE_MAX_MS;
    r->retry_at = mono_now() + (double)r->pause_ms / 1000.0;
    if (r->state != LINK_DOWN && r->delivery)
        msg_warn("cluster: delivery: Redis %s is unreachable: %s; each target's max_connections "
                 "and rate are shared between the hosts until it answers again", r->where, why);
    else if (r->state != LINK_DOWN)
        msg_warn("cluster: Redis %s is unreachable: %s; degraded mode (cluster.degraded_quota = "
                 "%s) until it answers again", r->where, why, r->policy);
    r->state = LINK_DOWN;
}

/* authenticate - AUTH [USER] PASSWORD on a new connection; 0, or -1 with *why */
static int authenticate(struct cluster_redis *r, char **why)
{
    redisReply *rep;
    int rc = 0;

    if (!r->pass)
        return 0;
    if (r->user)
        rep = redisCommand(r->ctx, "AUTH %s %s", r->user, r->pass);
    else
        rep = redisCommand(r->ctx, "AUTH %s", r->pass);
    if (!rep)
        return set_err(why, "AUTH: %s", r->ctx->errstr);
    if (rep->type == REDIS_REPLY_ERROR) {
        /* Redis's text names neither the password nor the user's secret */
        *why = xasprintf("AUTH refused (%s): check cluster.password_file", rep->str);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

/* connect_now - open and authenticate the connection; 0, or -1 with *why */
static int connect_now(struct cluster_redis *r, char **why)
{
    if (r->path)
        r->ctx = redisConnectUnixWithTimeout(r->path, r->tv);
    else
        r->ctx = redisConnectWithTimeout(r->host, r->port, r->tv);
    if (!r->ctx)
        return set_err(why, "out of memory");
    if (r->ctx->err)
        return set_err(why, "cannot connect: %s", r->ctx->errstr);
    if (redisSetTimeout(r->ctx, r->tv) != REDIS_OK)
        return set_err(why, "cannot set the timeout: %s", r->ctx->errstr);
    if (authenticate(r, why) < 0)
        return -1;
    if (r->state == LINK_DOWN && r->delivery)
        msg_info("cluster: delivery: Redis %s answers again; shared limits resume", r->where);
    else if (r->state == LINK_DOWN)
        msg_info("cluster: Redis %s answers again; degraded mode ends", r->where);
    else if (r->state == LINK_NEW)
        msg_debug("cluster: connected to Redis %s", r->where);
    r->state = LINK_UP;
    return 0;
}

/* ready - a connection to send on, connecting when the pause allows; 0, or -1 with *err */
static int ready(struct cluster_redis *r, char **err)
{
    char *why = NULL;

    if (r->ctx)
        return 0;
    if (r->state == LINK_DOWN && mono_now() < r->retry_at)
        return set_err(err, "Redis %s is unreachable (degraded mode)", r->where);
    if (connect_now(r, &why) == 0)
        return 0;
    went_down(r, why);
    set_err(err, "Redis %s is unreachable: %s", r->where, why);
    free(why);
    return -1;
}

redisReply *cluster_redis_command(struct cluster_redis *r, int argc, const char **argv,
                                  const size_t *argvlen, char **err)
{
    redisReply *rep = NULL;

    pthread_mutex_lock(&r->lock);
    if (ready(r, err) == 0) {
        rep = redisCommandArgv(r->ctx, argc, argv, argvlen);
        if (!rep) {
            char *why = xasprintf("%s: %s", argv[0], r->ctx->errstr);

            went_down(r, why);
            set_err(err, "Redis %s is unreachable: %s", r->where, why);
            free(why);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rep;
}

bool cluster_redis_degraded(struct cluster_redis *r)
{
    bool down;

    pthread_mutex_lock(&r->lock);
    down = r->state == LINK_DOWN;
    pthread_mutex_unlock(&r->lock);
    return down;
}

const char *cluster_redis_where(const struct cluster_redis *r)
{
    return r->where;
}
