/* check_daemon - the pid file, the privilege drop, the self-pipe for signals and daemon_fork */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"
#include "util/daemon.h"

/* read_text - the first line of PATH (at most N-1 bytes) in BUF */
static void read_text(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");

    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(buf, (int)n, fp));
    fclose(fp);
}

/* child_status - wait for PID; its exit status, or -1 when it did not exit */
static int child_status(pid_t pid)
{
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* catch_two - catch SIGHUP and SIGUSR1 */
static void catch_two(void)
{
    static const int sigs[] = {SIGHUP, SIGUSR1};
    char *err = NULL;

    ck_assert_int_eq(daemon_signals_catch(sigs, 2, &err), 0);
    ck_assert_ptr_null(err);
}

START_TEST(pidfile_written_and_removed)
{
    char *dir = test_tmpdir(), *path, *bad, *err = NULL, line[64], want[64];

    path = malloc(4200);
    bad = malloc(4200);
    snprintf(path, 4200, "%s/x.pid", dir);
    snprintf(bad, 4200, "%s/missing/x.pid", dir);
    ck_assert_int_eq(daemon_pidfile_write(path, &err), 0);
    read_text(path, line, sizeof(line));
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    ck_assert_str_eq(line, want);
    /* a stale, longer file is replaced whole */
    free(test_write(dir, "x.pid", "1234567890123\nold\n", 0644));
    ck_assert_int_eq(daemon_pidfile_write(path, &err), 0);
    read_text(path, line, sizeof(line));
    ck_assert_str_eq(line, want);
    ck_assert_int_eq(daemon_pidfile_remove(path), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(daemon_pidfile_remove(path), 0); /* gone already: fine */
    ck_assert_int_eq(daemon_pidfile_write(bad, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "missing/x.pid: cannot write the pid file: "));
    free(err);
    free(path);
    free(bad);
    test_rmdir(dir);
}
END_TEST

START_TEST(become_drops_for_good)
{
    struct passwd *pw = getpwnam("nobody");
    char *err = NULL, root_name[] = "root";
    pid_t pid;

    ck_assert_ptr_nonnull(pw);
    if (geteuid() != 0) {
        /* not root: the switch fails and says who it could not become */
        ck_assert_int_eq(daemon_become(pw, &err), -1);
        ck_assert_ptr_nonnull(strstr(err, "cannot become user nobody: "));
        free(err);
        return;
    }
    pid = fork(); /* in a child: this process keeps root for the other tests */
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (daemon_become(pw, &err) < 0)
            _exit(1);
        if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
            getegid() != pw->pw_gid)
            _exit(2);
        if (setuid(0) == 0 || seteuid(0) == 0)
            _exit(3);
        /* once that user, becoming root again is what fails */
        _exit(daemon_become(&(struct passwd){.pw_name = root_name}, &err) == -1 &&
                      strstr(err, "cannot become user root: ") != NULL
                  ? 0
                  : 4);
    }
    ck_assert_int_eq(child_status(pid), 0);
}
END_TEST

START_TEST(signals_reported_once)
{
    sigset_t got;

    catch_two();
    daemon_signals_listen();
    ck_assert_int_eq(raise(SIGHUP), 0); /* the handler runs: the process is not killed */
    ck_assert_int_eq(raise(SIGHUP), 0);
    ck_assert_int_eq(daemon_signals_wait(-1, 5000, &got), 0);
    ck_assert(sigismember(&got, SIGHUP));
    ck_assert(!sigismember(&got, SIGUSR1));
    ck_assert_int_eq(daemon_signals_wait(-1, 0, &got), 0);
    ck_assert(!sigismember(&got, SIGHUP));
    kill(getpid(), SIGUSR1);
    ck_assert_int_eq(daemon_signals_wait(-1, 5000, &got), 0);
    ck_assert(sigismember(&got, SIGUSR1));
    daemon_signals_close();
}
END_TEST

START_TEST(signals_wait_until_listen)
{
    sigset_t got, mask;

    catch_two();
    kill(getpid(), SIGUSR1);
    ck_assert_int_eq(daemon_signals_wait(-1, 0, &got), 0);
    ck_assert(!sigismember(&got, SIGUSR1)); /* blocked: pending */
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    ck_assert(sigismember(&mask, SIGHUP));
    ck_assert(sigismember(&mask, SIGUSR1));
    daemon_signals_listen();
    ck_assert_int_eq(daemon_signals_wait(-1, 5000, &got), 0);
    ck_assert(sigismember(&got, SIGUSR1));
    /* closed: they are blocked again and stay pending */
    daemon_signals_close();
    kill(getpid(), SIGHUP);
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    ck_assert(sigismember(&mask, SIGHUP));
}
END_TEST

START_TEST(wait_wakes_on_wake_and_fd)
{
    sigset_t got;
    int p[2];
    time_t t0;

    catch_two();
    daemon_signals_listen();
    t0 = time(NULL);
    daemon_signals_wake();
    ck_assert_int_eq(daemon_signals_wait(-1, 10000, &got), 0);
    ck_assert(!sigismember(&got, SIGHUP) && !sigismember(&got, SIGUSR1));
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(daemon_signals_wait(p[0], 10000, &got), 0);
    ck_assert(time(NULL) - t0 < 5);
    /* without anything to wake it, the timeout */
    ck_assert_int_eq(daemon_signals_wait(-1, 50, &got), 0);
    close(p[0]);
    close(p[1]);
    daemon_signals_close();
}
END_TEST

START_TEST(fork_gives_a_clean_child)
{
    static const int term[] = {SIGTERM};
    struct sigaction sa;
    sigset_t got, mask;
    char *err = NULL;
    pid_t pid;

    catch_two();
    daemon_signals_listen();
    pid = daemon_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* default action, unblocked, and free to catch its own */
        sigaction(SIGHUP, NULL, &sa);
        pthread_sigmask(SIG_BLOCK, NULL, &mask);
        if (sa.sa_handler != SIG_DFL || sigismember(&mask, SIGHUP) || sigismember(&mask, SIGUSR1))
            _exit(1);
        if (daemon_signals_catch(term, 1, &err) < 0)
            _exit(2);
        daemon_signals_listen();
        kill(getpid(), SIGTERM);
        daemon_signals_wait(-1, 5000, &got);
        _exit(sigismember(&got, SIGTERM) ? 0 : 3);
    }
    ck_assert_int_eq(child_status(pid), 0);
    /* the parent still catches its own */
    kill(getpid(), SIGUSR1);
    ck_assert_int_eq(daemon_signals_wait(-1, 5000, &got), 0);
    ck_assert(sigismember(&got, SIGUSR1));
    daemon_signals_close();
}
END_TEST

START_TEST(fork_child_follows_its_parent)
{
    struct pollfd pfd = {.events = POLLIN};
    int p[2];
    pid_t mid;

    ck_assert_int_eq(pipe(p), 0);
    mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        pid_t child;

        signal(SIGTERM, SIG_DFL); /* not Check's handler, which would signal the test's group */
        child = daemon_fork();

        if (child == 0) {
            close(p[0]);
            if (write(p[1], "r", 1) != 1) /* running: the parent may die now */
                _exit(1);
            sleep(30); /* until SIGTERM, sent when its parent dies */
            _exit(0);
        }
        /* the parent dies as soon as its child runs */
        _exit(child > 0 && read(p[0], &(char){0}, 1) == 1 ? 0 : 1);
    }
    close(p[1]);
    ck_assert_int_eq(child_status(mid), 0);
    /* the grandchild's end of the pipe closes when SIGTERM kills it (long before 30 s) */
    pfd.fd = p[0];
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    close(p[0]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, pidfile_written_and_removed);
    tcase_add_test(tc, become_drops_for_good);
    tcase_add_test(tc, signals_reported_once);
    tcase_add_test(tc, signals_wait_until_listen);
    tcase_add_test(tc, wait_wakes_on_wake_and_fd);
    tcase_add_test(tc, fork_gives_a_clean_child);
    tcase_add_test(tc, fork_child_follows_its_parent);
    suite_add_tcase(s, tc);
    return test_run(s);
}
