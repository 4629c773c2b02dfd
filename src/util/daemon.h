/*
 * daemon - what each process of byosmtpd (the milter process, the delivery supervisor, the
 * delivery process) does the same way: its pid file, giving up root for milter.user, forking
 * a child that follows it, and taking signals.
 *
 * Signals have one mechanism here, a self-pipe: daemon_signals_catch() installs a handler
 * that notes the signal and writes a byte to a pipe; the signals stay blocked in the calling
 * thread, and in every thread it starts from then on, until the thread that waits calls
 * daemon_signals_listen(); that thread then sleeps in daemon_signals_wait().
 * A set blocked everywhere and read with signalfd or sigtimedwait would not do in the milter
 * process: libmilter's own signal thread sigwaits on SIGHUP, SIGTERM and SIGINT and stops the
 * milter on each. A signal blocked in every thread goes to that sigwait rather than to a
 * signalfd, and a sigtimedwait in the main thread would get it only while the main thread sits
 * in that call. A thread that keeps the signals unblocked, with a handler, gets them whatever
 * it is doing (Linux tries the main thread first), so libmilter's thread sees one only when
 * two arrive back to back.
 *
 * Thread-safety: one set of caught signals per process. daemon_signals_catch, _listen, _close
 * and daemon_fork are called from one thread (the main one); daemon_signals_wake is
 * async-signal-safe and may be called from any thread; daemon_signals_wait from the thread
 * that listens. The other functions work on their arguments only.
 */
#ifndef BYOSMTP_DAEMON_H
#define BYOSMTP_DAEMON_H

#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * daemon_pidfile_write - write this process's pid and a newline to PATH (created with mode
 * 0666 less the umask, or truncated). 0, or -1 with *err "PATH: cannot write the pid file:
 * REASON". The directory of PATH must exist.
 */
int daemon_pidfile_write(const char *path, char **err);

/* daemon_pidfile_remove - remove the pid file PATH; 0 (also when it is gone), or -1 with errno */
int daemon_pidfile_remove(const char *path);

/*
 * daemon_become - become the user PW for good: its supplementary groups (initgroups), its gid,
 * then its uid; then check that root cannot be regained. 0, or -1 with *err, either "cannot
 * become user NAME: REASON" or "could regain root after becoming NAME: refusing to run": the
 * caller must not go on then. Needs root (or that user's ids already).
 */
int daemon_become(const struct passwd *pw, char **err);

/*
 * daemon_signals_catch - from now on catch the N signals SIGS with a handler that notes each
 * one and writes to the self-pipe (SA_RESTART). They are blocked in the calling thread, and in
 * the threads it starts, until daemon_signals_listen(); a signal that arrives meanwhile waits,
 * pending. Called once per process (again after daemon_signals_close). 0, or -1 with *err.
 */
int daemon_signals_catch(const int *sigs, size_t n, char **err);

/*
 * daemon_signals_listen - unblock the caught signals in the calling thread, the one that calls
 * daemon_signals_wait; start the threads that must not take them before.
 */
void daemon_signals_listen(void);

/*
 * daemon_signals_wait - sleep up to TIMEOUT_MS milliseconds (-1: no limit) until a caught
 * signal arrives, daemon_signals_wake() is called, or FD (when >= 0) is readable; then set
 * *GOT to the caught signals that arrived since the last call (each is reported once, several
 * of the same kind as one). 0, or -1 with errno when poll failed (not for EINTR); *GOT is set
 * either way.
 */
int daemon_signals_wait(int fd, int timeout_ms, sigset_t *got);

/* daemon_signals_wake - make daemon_signals_wait return now (async-signal-safe, any thread) */
void daemon_signals_wake(void);

/*
 * daemon_signals_close - stop taking signals: the caught ones are blocked again in the calling
 * thread (any that arrives stays pending until the process exits) and the self-pipe is closed.
 */
void daemon_signals_close(void);

/*
 * daemon_fork - fork a child that gets SIGTERM when this process dies (PR_SET_PDEATHSIG; a
 * child whose parent is gone before that took effect exits at once). The caught signals are
 * blocked across the fork; in the child they get back their default action and are unblocked,
 * and the self-pipe is closed, so it starts with none of this process's signal handling.
 * Returns as fork(): the child's pid in the parent, 0 in the child, -1 with errno.
 */
pid_t daemon_fork(void);

#endif
