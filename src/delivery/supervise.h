/*
 * supervise - byosmtpd's delivery supervisor (doc/design.md, "The two processes"): a small process, forked from
 * byosmtpd's main thread before anything opens the LMDB environment, that forks the delivery
 * process (delivery_run), restarts it with a backoff (1 s doubling to 60 s while it keeps
 * dying young) when it exits or crashes, forwards SIGHUP (reload) to it, and on SIGTERM stops
 * it and exits. The supervisor itself never opens the store, the spool or the key, so each
 * delivery process starts as clean as the first one, whenever it is restarted.
 *
 * If byosmtpd dies (even by SIGKILL), the supervisor gets SIGTERM (PR_SET_PDEATHSIG) and
 * stops the delivery process; the delivery process likewise follows the supervisor.
 *
 * The functions are called from byosmtpd's main thread only.
 */
#ifndef BYOSMTP_SUPERVISE_H
#define BYOSMTP_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * supervise_start - fork the supervisor, which starts the delivery process at once.
 * CONF_FILE is byosmtp.conf (NULL: compiled-in defaults); TO_STDERR: whether the children log
 * on stderr too (byosmtpd -f, or log.stderr); FACILITY: the syslog facility name.
 * Call it before the store is opened and before any thread is started, while still root when
 * byosmtpd was started as root (the delivery process reads the master key, then becomes
 * milter.user). SIGNALLER is the uid byosmtpd will run as once it drops root (milter.user),
 * or (uid_t)-1 when it stays who it is: the supervisor takes it as its real uid and keeps an
 * effective uid of root, so that the unprivileged milter process may still signal it (kill(2)
 * lets a process signal one whose real uid is its own) to reload and to stop. In the child
 * this function never returns. Returns the supervisor's pid, or -1 with *err.
 */
pid_t supervise_start(const char *conf_file, bool to_stderr, const char *facility,
                      uid_t signaller, char **err);

/* supervise_reload - pass SIGHUP on to the delivery process (it re-reads byosmtp.conf) */
void supervise_reload(pid_t pid);

/*
 * supervise_stop - SIGTERM to the supervisor, which stops the delivery process after its
 * attempts in progress; wait up to TIMEOUT seconds, then SIGKILL both. 0 when it exited on
 * its own, -1 when it had to be killed.
 */
int supervise_stop(pid_t pid, int timeout);

#endif
