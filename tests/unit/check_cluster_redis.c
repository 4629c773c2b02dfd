/*
 * check_cluster_redis - the Redis connection of cluster mode against a real redis-server on a
 * unix socket that each test starts (and stops, by its pid): AUTH from the password file
 * (default user and ACL user), a refused password, Redis stopped, hung (SIGSTOP) and started
 * again: every command returns within about two timeouts, degraded is set and cleared, and
 * each change is logged once, never with the password.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_redis.h"
#include "store/conf.h"
#include "testutil.h"
#include "util/msg.h"
#include "util/util.h"

#define PASSWORD "s3cret-Redis-pw"
#define TIMEOUT_MS 200

struct redis_srv {
    char *dir, *sock, *log;
    pid_t pid;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* srv_start - redis-server on DIR/redis.sock, no TCP, no persistence, with PASSWORD */
static void srv_start(struct redis_srv *s)
{
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        char *conf = xasprintf("%s/redis.conf", s->dir);
        FILE *fp = fopen(conf, "w");

        fprintf(fp, "port 0\nunixsocket %s\nunixsocketperm 700\nsave \"\"\nappendonly no\n"
                    "dir %s\nrequirepass %s\nuser acl1 on >acl1-pw ~* +@all\n",
                s->sock, s->dir, PASSWORD);
        fclose(fp);
        if (freopen(s->log, "a", stdout) == NULL)
            _exit(126);
        execlp("redis-server", "redis-server", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && access(s->sock, F_OK) != 0; i++)
        usleep(20000);
    ck_assert_msg(access(s->sock, F_OK) == 0, "redis-server did not start (see %s)", s->log);
}

static void srv_stop(struct redis_srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    unlink(s->sock);
}

/* setup - a directory, a server, stderr captured in DIR/stderr, and a configuration */
static struct byosmtp_conf *setup(struct redis_srv *s, const char *pwtext)
{
    struct byosmtp_conf *c = conf_defaults();
    char *pw, *errfile;

    s->dir = test_tmpdir();
    s->sock = xasprintf("%s/redis.sock", s->dir);
    s->log = xasprintf("%s/redis.log", s->dir);
    srv_start(s);
    errfile = xasprintf("%s/stderr", s->dir);
    ck_assert_ptr_nonnull(freopen(errfile, "w", stderr));
    free(errfile);
    msg_open("check_cluster_redis", false, true, "mail");
    msg_set_level(MSG_DEBUG); /* the first connection is logged at debug level */
    free(c->cluster.redis);
    c->cluster.redis = xasprintf("unix:%s", s->sock);
    c->cluster.timeout_ms = TIMEOUT_MS;
    if (pwtext) {
        pw = test_write(s->dir, "redis.pw", pwtext, 0600);
        free(c->cluster.password_file);
        c->cluster.password_file = pw;
    }
    return c;
}

static void teardown(struct redis_srv *s, struct byosmtp_conf *c)
{
    srv_stop(s);
    conf_unref(c);
    test_rmdir(s->dir);
    free(s->sock);
    free(s->log);
}

/* ping - PING; true when PONG came back; *took its seconds */
static bool ping(struct cluster_redis *r, double *took)
{
    const char *argv[] = {"PING"};
    char *err = NULL;
    double t0 = now_s();
    redisReply *rep = cluster_redis_command(r, 1, argv, NULL, &err);
    bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;

    if (took)
        *took = now_s() - t0;
    if (rep)
        freeReplyObject(rep);
    if (err) {
        ck_assert_ptr_null(strstr(err, PASSWORD));
        free(err);
    }
    return ok;
}

/* count_lines - lines of the captured stderr holding WHAT; fails on any line with the password */
static int count_lines(const struct redis_srv *s, const char *what)
{
    char *path = xasprintf("%s/stderr", s->dir), *text, *p;
    int n = 0;

    fflush(stderr);
    text = test_read_file(path, NULL);
    ck_assert_msg(strstr(text, PASSWORD) == NULL && strstr(text, "acl1-pw") == NULL,
                  "a password in the log: %s", text);
    for (p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    free(text);
    free(path);
    return n;
}

/* ping_until - PING until it answers (the pause after a failure ends), at most 10 s */
static bool ping_until(struct cluster_redis *r)
{
    for (int i = 0; i < 200; i++) {
        if (ping(r, NULL))
            return true;
        usleep(50000);
    }
    return false;
}

START_TEST(auth_default_and_acl_user)
{
    struct redis_srv s = {0};
    struct byosmtp_conf *c = setup(&s, PASSWORD "\n");
    char *err = NULL;
    struct cluster_redis *r = cluster_redis_new(c, &err);

    ck_assert_msg(r != NULL, "%s", err);
    ck_assert(ping(r, NULL));
    ck_assert(!cluster_redis_degraded(r));
    ck_assert_int_eq(count_lines(&s, "connected to Redis"), 1);
    cluster_redis_free(r);

    /* two lines: an ACL user and its password */
    free(test_write(s.dir, "redis.pw", "acl1\nacl1-pw\n", 0600));
    r = cluster_redis_new(c, &err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert(ping(r, NULL));
    cluster_redis_free(r);
    teardown(&s, c);
}
END_TEST

START_TEST(wrong_password_is_degraded_and_says_so)
{
    struct redis_srv s = {0};
    struct byosmtp_conf *c = setup(&s, "not-the-password\n");
    char *err = NULL;
    struct cluster_redis *r = cluster_redis_new(c, &err);

    ck_assert_msg(r != NULL, "%s", err);
    ck_assert(!ping(r, NULL));
    ck_assert(cluster_redis_degraded(r));
    ck_assert_int_eq(count_lines(&s, "AUTH refused"), 1);
    ck_assert_int_eq(count_lines(&s, "check cluster.password_file"), 1);
    ck_assert_int_eq(count_lines(&s, "not-the-password"), 0);
    cluster_redis_free(r);
    teardown(&s, c);
}
END_TEST

START_TEST(password_file_errors)
{
    struct redis_srv s = {0};
    struct byosmtp_conf *c = setup(&s, "\n");
    char *err = NULL;

    ck_assert_ptr_null(cluster_redis_new(c, &err));
    ck_assert_ptr_nonnull(strstr(err, "is empty: write the Redis password into it"));
    free(err);
    err = NULL;
    free(c->cluster.password_file);
    c->cluster.password_file = xasprintf("%s/none", s.dir);
    ck_assert_ptr_null(cluster_redis_new(c, &err));
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    free(err);
    teardown(&s, c);
}
END_TEST

START_TEST(stopped_hung_and_restarted)
{
    struct redis_srv s = {0};
    struct byosmtp_conf *c = setup(&s, PASSWORD);
    char *err = NULL;
    struct cluster_redis *r = cluster_redis_new(c, &err);
    double took;

    ck_assert(ping(r, NULL));

    /* stopped: fails fast, degraded, one line however many commands fail */
    srv_stop(&s);
    for (int i = 0; i < 20; i++) {
        ck_assert(!ping(r, &took));
        ck_assert_msg(took < 2.0 * TIMEOUT_MS / 1000.0, "a command took %.3f s", took);
        usleep(30000);
    }
    ck_assert(cluster_redis_degraded(r));
    ck_assert_int_eq(count_lines(&s, "degraded mode (cluster.degraded_quota = share)"), 1);

    /* started again (empty): the connection comes back, one line */
    srv_start(&s);
    ck_assert(ping_until(r));
    ck_assert(!cluster_redis_degraded(r));
    ck_assert_int_eq(count_lines(&s, "answers again; degraded mode ends"), 1);

    /* hung: the command times out within two timeouts */
    kill(s.pid, SIGSTOP);
    ck_assert(!ping(r, &took));
    ck_assert_msg(took < 2.0 * TIMEOUT_MS / 1000.0, "a command to a hung Redis took %.3f s",
                  took);
    ck_assert(cluster_redis_degraded(r));
    for (int i = 0; i < 10; i++) {
        ck_assert(!ping(r, &took));
        ck_assert_msg(took < 2.0 * TIMEOUT_MS / 1000.0, "a reconnect took %.3f s", took);
        usleep(50000);
    }
    ck_assert_int_eq(count_lines(&s, "degraded mode (cluster.degraded_quota"), 2);
    kill(s.pid, SIGCONT);
    ck_assert(ping_until(r));
    ck_assert_int_eq(count_lines(&s, "answers again; degraded mode ends"), 2);
    cluster_redis_free(r);
    teardown(&s, c);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("cluster_redis");
    TCase *tc = tcase_create("redis");
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN); /* as the daemons do (cluster_redis.h) */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, auth_default_and_acl_user);
    tcase_add_test(tc, wrong_password_is_degraded_and_says_so);
    tcase_add_test(tc, password_file_errors);
    tcase_add_test(tc, stopped_hung_and_restarted);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
