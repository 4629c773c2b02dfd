/*
 * spool - the spool directory itself: opening it (its three subdirectories and a probe write),
 * ids and exclusive file creation, syncing, listing and removing copies, and moving torn files
 * to corrupt/; with the helpers the other spool files share (spool_int.h). The reception file
 * is spool_msg.c, copies spool_copy.c, their trailer spool_trailer.c, their state
 * spool_state.c, and recovery spool_recover.c. The format is doc/spool.md.
 *
 * Durability: every rename or unlink that matters is followed by an fsync of the directory.
 * Thread-safety: see spool.h; nothing here keeps state outside the objects it returns.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/msg.h"
#include "spool/spool.h"
#include "spool/spool_int.h"

/* spool_pread_all - read exactly N bytes at OFF; 0, or -1 (errno set; 0 for a short file) */
int spool_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *c = p;

    while (n > 0) {
        ssize_t r = pread(fd, c, n, (off_t)off);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* spool_errtext - strerror, or "unexpected end of file" for a short read */
const char *spool_errtext(int e)
{
    return e == 0 ? "unexpected end of file" : strerror(e);
}

/* spool_sync_dir - make the entries of directory PATH durable; 0 or -1 with *err */
int spool_sync_dir(const char *path, char **err)
{
    if (fsync_dir(path) == 0)
        return 0;
    return set_err(err, "spool %s: fsync of the directory failed: %s", path, strerror(errno));
}

/* spool_dir_path - the directory DIR ("queue", "incoming", "corrupt") of SP, or NULL */
const char *spool_dir_path(struct spool *sp, const char *dir)
{
    if (strcmp(dir, "queue") == 0)
        return sp->queue;
    if (strcmp(dir, "incoming") == 0)
        return sp->incoming;
    if (strcmp(dir, "corrupt") == 0)
        return sp->corrupt;
    return NULL;
}

/* spool_parse_u64 - a decimal number that is the whole string; false otherwise */
bool spool_parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return true;
}

/* spool_one_line_ok - a value that can be one envelope line */
bool spool_one_line_ok(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

/* make_dir - create PATH (0700) when missing, give it to OWNER, check it is a directory */
static int make_dir(const char *path, bool create, uid_t owner, gid_t group, char **err)
{
    struct stat sb;

    if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
        return set_err(err, "spool %s: cannot create the directory: %s", path, strerror(errno));
    if (stat(path, &sb) < 0)
        return set_err(err, "spool %s: %s (set spool.path, or let byosmtpd create it)", path,
                       strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return set_err(err, "spool %s is not a directory: remove it or set spool.path", path);
    if (create && owner != (uid_t)-1 && (sb.st_uid != owner || sb.st_gid != group) &&
        chown(path, owner, group) < 0)
        return set_err(err, "spool %s: cannot give it to uid %lu: %s", path,
                       (unsigned long)owner, strerror(errno));
    return 0;
}

/* spool_valid_id - SPOOL_ID_LEN upper-case hex digits */
bool spool_valid_id(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return i == SPOOL_ID_LEN;
}

/* new_id - a fresh id: time first (so ids sort by arrival), then 24 random bits */
static void new_id(char out[SPOOL_ID_LEN + 1])
{
    struct timeval tv;
    unsigned char r[3] = {0, 0, 0};

    gettimeofday(&tv, NULL);
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* Uniqueness does not rest on this: files are created with O_EXCL and retried. */
        r[0] = (unsigned char)getpid();
        r[1] = (unsigned char)(tv.tv_usec >> 3);
    }
    snprintf(out, SPOOL_ID_LEN + 1, "%09llX%05lX%02X%02X%02X",
             (unsigned long long)tv.tv_sec & 0xFFFFFFFFFULL, (unsigned long)tv.tv_usec & 0xFFFFF,
             r[0], r[1], r[2]);
}

/* spool_create_new - create DIR/ID[SUFFIX] with a fresh id and O_EXCL; the fd, or -1 with *err */
int spool_create_new(const char *dir, const char *suffix, char id[SPOOL_ID_LEN + 1], char **path,
                     int mode, char **err)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd;

        new_id(id);
        *path = xasprintf("%s/%s%s", dir, id, suffix);
        fd = open(*path, mode | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST) {
            set_err(err, "spool %s: cannot create a file: %s", dir, strerror(errno));
            free(*path);
            *path = NULL;
            return -1;
        }
        free(*path);
    }
    *path = NULL;
    set_err(err, "spool %s: cannot find an unused file name", dir);
    return -1;
}

/* spool_open - use (and with CREATE, make) the spool at PATH, proven writable by a probe file */
int spool_open(const char *path, bool create, uid_t owner, gid_t group, struct spool **out,
               char **err)
{
    struct spool *sp = xcalloc(1, sizeof(*sp));
    char id[SPOOL_ID_LEN + 1], *probe = NULL;
    int fd;

    *out = NULL;
    sp->path = xstrdup(path);
    sp->incoming = xasprintf("%s/incoming", path);
    sp->queue = xasprintf("%s/queue", path);
    sp->corrupt = xasprintf("%s/corrupt", path);
    if (make_dir(sp->path, create, owner, group, err) < 0 ||
        make_dir(sp->incoming, create, owner, group, err) < 0 ||
        make_dir(sp->queue, create, owner, group, err) < 0 ||
        make_dir(sp->corrupt, create, owner, group, err) < 0)
        goto fail;
    /* A real write: as root, permission bits say nothing about a read-only or full filesystem. */
    fd = spool_create_new(sp->incoming, ".probe", id, &probe, O_WRONLY, err);
    if (fd < 0)
        goto fail;
    if (write_all(fd, "probe\n", 6) < 0 || fsync(fd) < 0) {
        set_err(err, "spool %s: cannot write: %s", sp->incoming, strerror(errno));
        close(fd);
        unlink(probe);
        free(probe);
        goto fail;
    }
    close(fd);
    unlink(probe);
    free(probe);
    *out = sp;
    return 0;
fail:
    spool_close(sp);
    return -1;
}

/* spool_close - free SP (NULL is fine); the files stay */
void spool_close(struct spool *sp)
{
    if (sp == NULL)
        return;
    free(sp->path);
    free(sp->incoming);
    free(sp->queue);
    free(sp->corrupt);
    free(sp);
}

/* spool_path - the spool directory SP was opened at */
const char *spool_path(const struct spool *sp)
{
    return sp->path;
}

/* ---- the directories: sync, list, remove, move aside ---- */

/* spool_sync_incoming - fsync incoming/ */
int spool_sync_incoming(struct spool *sp, char **err)
{
    return spool_sync_dir(sp->incoming, err);
}

/* spool_sync_queue - fsync queue/ */
int spool_sync_queue(struct spool *sp, char **err)
{
    return spool_sync_dir(sp->queue, err);
}

/* spool_list - the copy ids in queue/, sorted */
int spool_list(struct spool *sp, char ***ids, size_t *n, char **err)
{
    if (dir_list(sp->queue, spool_valid_id, ids, n) == 0)
        return 0;
    return set_err(err, "spool %s: cannot list: %s", sp->queue, strerror(errno));
}

/* spool_list_free - free what spool_list() returned */
void spool_list_free(char **ids, size_t n)
{
    dir_list_free(ids, n);
}

/*
 * spool_remove - remove queue/ID, then queue/ID.state, then fsync queue/. Once both are
 * unlinked the copy is gone: a failed fsync of queue/ is a warning, not a failure, so that the
 * caller goes on to drop the store record and count the outcome (only a crash before queue/
 * reaches the disk could bring the copy back, and recovery would queue it again: a duplicate
 * at worst, never a loss).
 */
int spool_remove(struct spool *sp, const char *id, char **err)
{
    char *p, *why = NULL;

    if (!spool_valid_id(id))
        return set_err(err, "spool: '%s' is not a copy id", id);
    /* The copy first: a crash in between leaves a state file alone, which recovery removes;
     * the other order would leave a copy without its state, to be sent again. */
    p = xasprintf("%s/%s", sp->queue, id);
    if (unlink(p) < 0 && errno != ENOENT) {
        set_err(err, "%s: cannot remove: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    p = xasprintf("%s/%s.state", sp->queue, id);
    if (unlink(p) < 0 && errno != ENOENT) {
        set_err(err, "%s: cannot remove: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    if (spool_sync_dir(sp->queue, &why) < 0) {
        msg_warn("%s: removed, but not yet durably: %s; should the system crash now, the copy "
                 "may come back and be sent again", id, why);
        free(why);
    }
    return 0;
}

/* spool_move_corrupt - move DIR/NAME to corrupt/ under a free name, never deleting anything */
int spool_move_corrupt(struct spool *sp, const char *dir, const char *name, const char *why,
                       char **err)
{
    const char *d = spool_dir_path(sp, dir);
    char *from, *to = NULL;
    int rc = -1;

    if (d == NULL || strchr(name, '/') != NULL)
        return set_err(err, "spool: cannot move '%s/%s' aside", dir, name);
    from = xasprintf("%s/%s", d, name);
    for (int i = 0; i < 1000; i++) {
        to = i == 0 ? xasprintf("%s/%s", sp->corrupt, name)
                    : xasprintf("%s/%s.%d", sp->corrupt, name, i);
        /* link() never replaces an existing file: nothing already in corrupt/ is lost. */
        if (link(from, to) == 0)
            break;
        if (errno != EEXIST) {
            set_err(err, "spool: cannot move %s to %s: %s", from, to, strerror(errno));
            goto out;
        }
        free(to);
        to = NULL;
    }
    if (to == NULL) {
        set_err(err, "spool: no free name in %s for %s", sp->corrupt, name);
        goto out;
    }
    if (spool_sync_dir(sp->corrupt, err) < 0)
        goto out;
    if (unlink(from) < 0) {
        set_err(err, "spool: cannot remove %s after copying it to %s: %s", from, to,
                strerror(errno));
        goto out;
    }
    if (spool_sync_dir(d, err) < 0)
        goto out;
    msg_error("spool: moved %s to %s: %s", from, to, why);
    rc = 0;
out:
    free(from);
    free(to);
    return rc;
}
