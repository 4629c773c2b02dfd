/*
 * delivery - the delivery process of byosmtpd (doc/design.md, "The two processes", "The delivery side"): started by the supervisor
 * (supervise.h) in a process of its own, before anything has opened the LMDB environment.
 *
 * It alone reads the master key (then, when started as root, becomes milter.user), opens the
 * store and the spool, recovers every spooled copy (torn or unreadable ones are moved to
 * corrupt/, never sent and never deleted; copies that were being sent when the previous
 * process died are logged as possible duplicates), and delivers: a scheduler (scheduler.h)
 * and delivery.workers threads (worker.h), woken at once by new copies (wake.h) and by
 * byosmtpctl requests (deliverydir.h), with a rescan of queue/ every DELIVERY_RESCAN seconds
 * as the safety net. Each recipient outcome is counted (metrics.h, served on metrics.listen
 * by metrics_http.h and written to metrics.textfile) and sent to the event sinks (events.h).
 * SIGHUP reloads byosmtp.conf (the number of workers, the event sinks and metrics.listen stay
 * until a restart); SIGTERM and SIGINT stop it after the attempts in progress.
 */
#ifndef BYOSMTP_DELIVERY_H
#define BYOSMTP_DELIVERY_H

#include <stdint.h>

#define DELIVERY_RESCAN 30 /* seconds between two scans of queue/ */

/*
 * delivery_run - run the delivery process until SIGTERM/SIGINT. CONF_FILE is byosmtp.conf
 * (NULL: the compiled-in defaults); STARTED is when byosmtpd started (copies that arrived
 * since are counted as accepted when found at start; a new counters file counts from then,
 * an existing one goes on, across restarts). Returns the process exit status: 0 after a stop, 1
 * when it cannot start (the reason is logged); the supervisor restarts it either way unless
 * byosmtpd is stopping.
 */
int delivery_run(const char *conf_file, int64_t started);

#endif
