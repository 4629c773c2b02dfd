/*
 * bounce - turn the recipients that a copy lost (a 5xx from the provider, or the end of
 * retry.max_lifetime) into an RFC 3464 DSN (dsn.h) to the original envelope sender, and submit
 * it with a null sender through the local MTA: delivery.bounce.command (default
 * "/usr/sbin/sendmail -i -f <> --"), with the sender appended as the last argument, the DSN on
 * its standard input. Never for a null sender (dsn_needed).
 *
 * Thread-safety: bounce_send may run in several workers at once (fork/exec per DSN, no
 * shared state). The process must ignore SIGPIPE: a command that exits without reading its
 * input gives EPIPE (an error: the recipients stay queued), not a signal.
 */
#ifndef BYOSMTP_BOUNCE_H
#define BYOSMTP_BOUNCE_H

#include <stddef.h>

#include "store/conf.h"
#include "delivery/dsn.h"
#include "spool/spool.h"

/*
 * bounce_argv - split COMMAND at blanks (no quoting: a path with blanks needs a wrapper script)
 * and append SENDER. Returns a NULL-terminated vector (free with bounce_argv_free), or NULL
 * with *err when COMMAND is empty.
 */
char **bounce_argv(const char *command, const char *sender, char **err);
void bounce_argv_free(char **argv);

/* bounce_feed_fn - write the command's standard input to FD; 0, or -1 (errno) */
typedef int bounce_feed_fn(int fd, void *ctx);

/*
 * bounce_run - run ARGV (ARGV[0] an absolute path) with what FEED writes on its standard input
 * (its standard output to /dev/null); it must exit 0 within 120 seconds. WHAT names the job in
 * messages ("bounce", "fallback"). 0, or -1 with *err (cannot run, exit status, signal,
 * timeout, input not read whole).
 */
int bounce_run(char **argv, bounce_feed_fn *feed, void *ctx, const char *what, char **err);

/*
 * bounce_send - compose the DSN for the N recipients RCPTS of copy C (its headers are read
 * from the spool) as HOSTNAME (Reporting-MTA) and submit it with CONF's bounce command. The
 * ENVID and RET of the original MAIL (the copy's mail_params) are honoured: Original-Envelope-Id,
 * and with RET=FULL the whole message when it is at most DSN_FULL_MAX bytes. A DSN of any action
 * (failed, delayed, relayed: RCPTS say).
 * Returns 1 when a DSN was submitted, 0 when none is due (null sender, or bounces disabled),
 * -1 with *err when it could not be built or the command failed (exit status, signal,
 * timeout): the caller keeps the recipients to try again.
 */
int bounce_send(const struct byosmtp_conf *conf, const char *hostname, struct spool_copy *c,
                const struct dsn_rcpt *rcpts, size_t n, char **err);

#endif
