/*
 * fallback - a copy handed back to the local MTA (a target's fallback = "mta", byosmtp-targets(5)):
 * the copy as it was spooled for the provider (its rewritten header section and body), with the
 * trace field "X-Byosmtp-Fallback: SPOOLID" first, submitted by delivery.fallback_command
 * (default "/usr/sbin/sendmail -i") with "-f SENDER" (the original envelope sender), the DSN
 * options of the original envelope that sendmail(1) takes (-N when every recipient handed back
 * asked the same NOTIFY, -R, -V) and "-- RECIPIENT...". The MTA delivers it by its own route:
 * byosmtpd's milter sees the trace field on the MTA's local submission and leaves the message
 * alone (doc/admin-guide.md, "Fallback to the MTA").
 *
 * Thread-safety: fallback_send may run in several workers at once (fork/exec, no shared state).
 */
#ifndef BYOSMTP_FALLBACK_H
#define BYOSMTP_FALLBACK_H

#include <stddef.h>

#include "store/conf.h"
#include "spool/spool.h"

/* The trace field of a copy handed back, recognised by the milter (milter.c) */
#define FALLBACK_HEADER "X-Byosmtp-Fallback"

/*
 * fallback_argv - COMMAND split at blanks, then -f SENDER ("<>" for the null sender), -N NOTIFY
 * when not "", -R RET when not "", -V ENVID when not NULL, "--" and the N RCPTS. NULL with *err
 * when COMMAND is empty. Free with bounce_argv_free().
 */
char **fallback_argv(const char *command, const char *sender, const char *notify, const char *ret,
                     const char *envid, const char *const *rcpts, size_t n, char **err);

/*
 * fallback_send - hand copy C back to the local MTA for its recipients of indexes IDX[0..N-1]
 * (into c->env.rcpts), as CONF's fallback_command says. 0 once the command took it (exit 0),
 * or -1 with *err: the recipients stay queued, to be handed back again later.
 */
int fallback_send(const struct byosmtp_conf *conf, struct spool_copy *c, const size_t *idx,
                  size_t n, char **err);

#endif
