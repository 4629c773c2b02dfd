/*
 * secretfile - a small secret read from a file (see secretfile.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/msg.h"
#include "util/secretfile.h"
#include "util/util.h"

/* wipe_if - when FAILED, wipe and free BUF of N bytes */
static void wipe_if(bool failed, char *buf, size_t n)
{
    if (!failed)
        return;
    wipe(buf, n);
    free(buf);
}

int secret_file_read(const char *setting, const char *path, size_t max, bool text,
                     const char *empty_hint, char **out, size_t *len, char **err)
{
    size_t cap = max + 2; /* the secret and a CR LF */
    char *buf = xmalloc(cap + 1), more;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    ssize_t k = 0;
    struct stat sb;
    const char *why = NULL;
    bool longer = false;

    if (fd < 0) {
        free(buf);
        return set_err(err, "%s %s: cannot open: %s", setting, path, strerror(errno));
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 0004))
        msg_warn("%s %s is readable by everyone: chmod 600 it", setting, path);
    while (n < cap && (k = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)k;
    if (n == cap && k > 0)
        longer = read(fd, &more, 1) > 0;
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (k < 0)
        why = "cannot read it";
    else if (n == 0)
        why = empty_hint;
    else if (text && memchr(buf, '\0', n) != NULL)
        why = "holds a NUL byte: it must be text";
    longer = longer || n > max;
    wipe_if(why != NULL || longer, buf, cap + 1);
    if (why != NULL)
        return set_err(err, "%s %s: %s", setting, path, why);
    if (longer)
        return set_err(err, "%s %s: is longer than %zu bytes", setting, path, max);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
