/* check_util - the growable buffer, formatting, the header-value check, and logging (msg):
 * one kept syslog connection, reconnection after an error, and every line on stderr */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "testutil.h"
#include "util/https.h"
#include "util/msg.h"
#include "util/util.h"

START_TEST(buf_grows_and_stays_terminated)
{
    struct buf b;

    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    ck_assert_uint_eq(b.len, strlen(b.data));
    ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
    ck_assert(strcmp(b.data + b.len - 4, "999,") == 0);
    buf_reset(&b);
    ck_assert_str_eq(b.data, "");
    buf_append(&b, "a\0b", 3);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_int_eq(b.data[3], '\0');
    buf_free(&b);
}
END_TEST

START_TEST(set_err_replaces_message)
{
    char *err = NULL;

    ck_assert_int_eq(set_err(&err, "first %d", 1), -1);
    ck_assert_str_eq(err, "first 1");
    set_err(&err, "second");
    ck_assert_str_eq(err, "second");
    free(err);
    ck_assert_int_eq(set_err(NULL, "ignored"), -1);
}
END_TEST

START_TEST(line_breaks_detected)
{
    ck_assert(!has_line_break("Acme Mail", 9));
    ck_assert(has_line_break("Acme\r\nBcc: x", 12));
    ck_assert(has_line_break("Acme\n", 5));
    ck_assert(has_line_break("Acme\r", 5));
    ck_assert(has_line_break("Ac\0me", 5));
}
END_TEST

/* listen_log - a datagram socket bound at DIR/log, as a syslog daemon has; *path gets its name */
static int listen_log(const char *dir, char **path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/log", dir);
    unlink(sa.sun_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (path != NULL)
        *path = strdup(sa.sun_path);
    return fd;
}

/* recv_line - the next datagram on FD as a string (caller frees); NULL when none is waiting */
static char *recv_line(int fd)
{
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n < 0) {
        ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    return strdup(buf);
}

/* other_sockets - the inodes of this process's sockets but SKIP, into INO[MAX]; how many */
static size_t other_sockets(ino_t skip, unsigned long *ino, size_t max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char link[300], target[64];
        ssize_t len;
        unsigned long i;

        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &i) == 1 && i != (unsigned long)skip && n < max)
            ino[n++] = i;
    }
    closedir(d);
    return n;
}

/* ms_since - milliseconds on the monotonic clock since *T0 */
static long ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(msg_syslog_keeps_one_socket)
{
    char *dir = test_tmpdir(), *path, *line, want[128];
    int lfd = listen_log(dir, &path);
    struct stat lsb;
    unsigned long before[8], after[8];

    ck_assert_int_eq(fstat(lfd, &lsb), 0);
    ck_assert_uint_eq(other_sockets(lsb.st_ino, before, 8), 0);
    msg_syslog_socket(path);
    msg_open("check_util", true, false, "local3");
    ck_assert_uint_eq(other_sockets(lsb.st_ino, before, 8), 1);

    msg_info("line %d", 0);
    line = recv_line(lfd);
    ck_assert_ptr_nonnull(line);
    /* syslog(3)'s format: <PRI>Mmm dd hh:mm:ss PROGRAM[PID]: text; local3.info is 19 * 8 + 6 */
    ck_assert_msg(strncmp(line, "<158>", 5) == 0 && line[8] == ' ' && line[11] == ' ' &&
                      line[14] == ':' && line[17] == ':' && line[20] == ' ',
                  "%s", line);
    snprintf(want, sizeof(want), " check_util[%ld]: line 0", (long)getpid());
    ck_assert_str_eq(line + 20, want);
    free(line);
    msg_warn("line %d", 1);
    line = recv_line(lfd);
    ck_assert_ptr_nonnull(line);
    ck_assert(strncmp(line, "<156>", 5) == 0);
    ck_assert_ptr_nonnull(strstr(line, "]: warning: line 1"));
    free(line);

    /* a hundred more lines: each arrives, and over the very same socket */
    for (int i = 2; i < 102; i++) {
        char tail[32];

        msg_info("line %d", i);
        line = recv_line(lfd);
        ck_assert_ptr_nonnull(line);
        snprintf(tail, sizeof(tail), "]: line %d", i);
        ck_assert_ptr_nonnull(strstr(line, tail));
        free(line);
    }
    ck_assert_uint_eq(other_sockets(lsb.st_ino, after, 8), 1);
    ck_assert_uint_eq(after[0], before[0]);

    msg_open("check_util", false, false, NULL);
    ck_assert_uint_eq(other_sockets(lsb.st_ino, after, 8), 0);
    close(lfd);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(msg_syslog_reconnects_after_restart)
{
    char *dir = test_tmpdir(), *path, *line;
    int lfd = listen_log(dir, &path);

    msg_syslog_socket(path);
    msg_open("check_util", true, false, "mail");
    msg_info("before the restart");
    line = recv_line(lfd);
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "before the restart"));
    free(line);

    /* the daemon restarts: a new socket at the same path; the next line reaches it */
    close(lfd);
    lfd = listen_log(dir, NULL);
    msg_info("after the restart");
    line = recv_line(lfd);
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "after the restart"));
    free(line);
    close(lfd);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(msg_syslog_absent_is_not_retried_per_line)
{
    char *dir = test_tmpdir(), *path = NULL, *line;
    struct timespec t0;
    unsigned long ino[8];
    int lfd;
    long waited;

    ck_assert_int_gt(asprintf(&path, "%s/log", dir), 0);
    msg_syslog_socket(path);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    msg_open("check_util", true, false, "mail"); /* nobody listens: the attempt fails */
    for (int i = 0; i < 50; i++)
        msg_info("lost line %d", i);
    ck_assert_uint_eq(other_sockets(0, ino, 8), 0); /* no socket is left open meanwhile */

    /* the daemon starts: within a second of the failed attempt no line tries again */
    lfd = listen_log(dir, NULL);
    msg_info("too early");
    line = recv_line(lfd);
    waited = ms_since(&t0);
    if (waited < 900)
        ck_assert_msg(line == NULL, "a line %ld ms after a failed attempt connected again: %s",
                      waited, line);
    free(line);
    /* about a second later a line connects again (given up to 5 s on a loaded machine) */
    line = NULL;
    for (int i = 0; i < 50 && line == NULL; i++) {
        struct timespec ts = {0, 100000000L};

        nanosleep(&ts, NULL);
        msg_info("in time");
        line = recv_line(lfd);
    }
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "in time"));
    free(line);
    close(lfd);
    free(path);
    test_rmdir(dir);
}
END_TEST

#define STDERR_THREADS 4
#define STDERR_LINES 500
#define STDERR_PAD "padding padding padding padding padding"

/* stderr_writer - STDERR_LINES warnings numbered by thread and line */
static void *stderr_writer(void *arg)
{
    long t = (long)(intptr_t)arg;

    for (int i = 0; i < STDERR_LINES; i++)
        msg_warn("thread %ld line %d " STDERR_PAD, t, i);
    return NULL;
}

START_TEST(msg_stderr_gets_every_line_whole)
{
    char *dir = test_tmpdir(), *path = NULL, *text, *p;
    pthread_t tid[STDERR_THREADS];
    int saved = dup(STDERR_FILENO), fd;
    size_t lines = 0;
    static bool seen[STDERR_THREADS][STDERR_LINES];

    /* stderr to a file; syslog on but unreachable: stderr still gets everything */
    ck_assert_int_gt(asprintf(&path, "%s/stderr", dir), 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    msg_syslog_socket("/nonexistent/byosmtp-test-log");
    msg_open("check_util", true, true, "mail");
    for (long t = 0; t < STDERR_THREADS; t++)
        ck_assert_int_eq(pthread_create(&tid[t], NULL, stderr_writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < STDERR_THREADS; t++)
        pthread_join(tid[t], NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);

    text = test_read_file(path, NULL);
    for (p = strtok(text, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        long t;
        int i, end = 0;
        int got =
            sscanf(p, "check_util: warning: thread %ld line %d " STDERR_PAD "%n", &t, &i, &end);

        ck_assert_msg(got == 2 && p[end] == '\0', "mixed or cut line: %s", p);
        ck_assert(t >= 0 && t < STDERR_THREADS && i >= 0 && i < STDERR_LINES && !seen[t][i]);
        seen[t][i] = true;
        lines++;
    }
    ck_assert_uint_eq(lines, STDERR_THREADS * STDERR_LINES);
    free(text);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* A form value keeps RFC 3986's unreserved characters and escapes everything else. */
START_TEST(url_encode_escapes_reserved)
{
    char *e = url_encode("a b+c/d=e&f~g.h_i-j\xc3\xa9");

    ck_assert_str_eq(e, "a%20b%2Bc%2Fd%3De%26f~g.h_i-j%C3%A9");
    free(e);
}
END_TEST

/* Plain http is refused before any connection is tried, with a line that says why. */
START_TEST(https_post_refuses_plain_http)
{
    struct https_response r;
    char *err = NULL;
    struct https_request q = {.url = "http://127.0.0.1:1/token", .body = "x", .body_len = 1};

    https_init();
    ck_assert_int_eq(https_post(&q, &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is not an https:// URL"));
    ck_assert_int_eq(r.status, 0);
    free(err);
    err = NULL;
    q.url = "https://127.0.0.1:1/token"; /* nothing listens on port 1 */
    ck_assert_int_eq(https_post(&q, &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot reach https://127.0.0.1:1/token"));
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, buf_grows_and_stays_terminated);
    tcase_add_test(tc, set_err_replaces_message);
    tcase_add_test(tc, line_breaks_detected);
    tcase_add_test(tc, msg_syslog_keeps_one_socket);
    tcase_add_test(tc, msg_syslog_reconnects_after_restart);
    tcase_add_test(tc, msg_syslog_absent_is_not_retried_per_line);
    tcase_add_test(tc, msg_stderr_gets_every_line_whole);
    tcase_add_test(tc, url_encode_escapes_reserved);
    tcase_add_test(tc, https_post_refuses_plain_http);
    suite_add_tcase(s, tc);
    return test_run(s);
}
