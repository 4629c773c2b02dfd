/*
 * wake - how the delivery process learns at once that the milter process has published a new
 * copy, or that byosmtpctl has left a request: inotify on the spool's queue/ directory
 * (IN_MOVED_TO: spool_copy_publish() renames a finished copy into it) and on
 * delivery/requests/. The milter side needs no call of its own: publishing is the signal.
 * A periodic rescan of queue/ by the caller stays the safety net (inotify can overflow, and a
 * file system may not support it: then wake_open still succeeds and only the rescan works).
 *
 * Thread-safety: one thread reads a struct wake; wake_open/wake_close are not concurrent.
 */
#ifndef BYOSMTP_WAKE_H
#define BYOSMTP_WAKE_H

#include <stdbool.h>

struct wake;

/* What woke the process. */
enum wake_event {
    WAKE_COPY,     /* NAME was moved into queue/: a new copy (or a state file) */
    WAKE_REQUEST,  /* a request arrived in delivery/requests/ */
    WAKE_RESCAN,   /* events were lost: rescan queue/ */
};

/*
 * wake_open - watch QUEUE_DIR and REQUEST_DIR. Returns 0 and *out; when inotify is not
 * available the handle has no descriptor (wake_fd -1) and a warning is logged. -1 with *err
 * only on a memory or argument error.
 */
int wake_open(const char *queue_dir, const char *request_dir, struct wake **out, char **err);
void wake_close(struct wake *w);

/* wake_fd - the descriptor to poll for input (POLLIN), or -1 when there is none */
int wake_fd(const struct wake *w);

/*
 * wake_read - read what is pending (without blocking) and call FN once per event: for
 * WAKE_COPY with the file name, else with NULL. Returns the number of events.
 */
int wake_read(struct wake *w, void (*fn)(void *ctx, enum wake_event ev, const char *name), void *ctx);

#endif
