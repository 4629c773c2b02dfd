/*
 * wake - inotify on the spool's queue/ and the delivery requests directory (see wake.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "util/msg.h"
#include "delivery/wake.h"

struct wake {
    int fd;
    int wd_queue, wd_requests;
};

int wake_open(const char *queue_dir, const char *request_dir, struct wake **out, char **err)
{
    struct wake *w;

    if (queue_dir == NULL || request_dir == NULL)
        return set_err(err, "wake: no directory to watch");
    w = xcalloc(1, sizeof(*w));
    w->wd_queue = w->wd_requests = -1;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        msg_warn("inotify is not available (%s): new messages are found by the periodic rescan "
                 "of %s only", strerror(errno), queue_dir);
    } else if ((w->wd_queue = inotify_add_watch(w->fd, queue_dir, IN_MOVED_TO)) < 0 ||
               (w->wd_requests = inotify_add_watch(w->fd, request_dir, IN_MOVED_TO)) < 0) {
        msg_warn("inotify cannot watch %s or %s (%s): new messages are found by the periodic "
                 "rescan only", queue_dir, request_dir, strerror(errno));
        close(w->fd);
        w->fd = -1;
    }
    *out = w;
    return 0;
}

void wake_close(struct wake *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

int wake_fd(const struct wake *w)
{
    return w->fd;
}

int wake_read(struct wake *w, void (*fn)(void *ctx, enum wake_event ev, const char *name), void *ctx)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int count = 0;

    if (w->fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)(void *)p;

            if (ev->mask & IN_Q_OVERFLOW)
                fn(ctx, WAKE_RESCAN, NULL);
            else if (ev->wd == w->wd_queue && ev->len > 0)
                fn(ctx, WAKE_COPY, ev->name);
            else if (ev->wd == w->wd_requests)
                fn(ctx, WAKE_REQUEST, NULL);
            count++;
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    return count;
}
