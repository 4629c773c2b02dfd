/*
 * deliverydir - the delivery process's lock, counters, in-flight and doubt marks and admin
 * requests (see deliverydir.h). The counters file is a few lines of text:
 *     byosmtp-stats: 1
 *     since: UNIX
 *     target NAME ACCEPTED DELIVERED DEFERRED BOUNCED DUPLICATES
 * (a file without DUPLICATES, from an older byosmtpd, reads as 0 of them). A doubt mark is one
 * recipient index a line.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "delivery/deliverydir.h"
#include "util/msg.h"
#include "spool/spool.h"

#define STATS_MAGIC "byosmtp-stats: 1"

char *deliverydir_path(const char *spool, const char *name)
{
    return *name ? xasprintf("%s/delivery/%s", spool, name) : xasprintf("%s/delivery", spool);
}

/* make_one - mkdir 0700 when missing; 0 or -1 with *err */
static int make_one(const char *path, char **err)
{
    struct stat sb;

    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return set_err(err, "%s: cannot create the directory: %s", path, strerror(errno));
    if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return set_err(err, "%s is not a directory: remove it", path);
    return 0;
}

int deliverydir_make(const char *spool, char **err)
{
    const char *names[] = {"", "inflight", "doubt", "requests"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *p = deliverydir_path(spool, names[i]);
        int rc = make_one(p, err);

        free(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int deliverydir_lock(const char *spool, bool wait, int *fd, char **err)
{
    char *p = deliverydir_path(spool, "lock");
    int f = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (f < 0) {
        set_err(err, "%s: cannot open: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    while (flock(f, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK) {
            close(f);
            free(p);
            return 0;
        }
        set_err(err, "%s: cannot lock: %s", p, strerror(errno));
        close(f);
        free(p);
        return -1;
    }
    free(p);
    *fd = f;
    return 1;
}

/* ---- counters ---- */

struct dstats_target *dstats_get(struct dstats *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    s->t = xrealloc(s->t, (s->n + 1) * sizeof(*s->t));
    s->t[s->n] = (struct dstats_target){.name = xstrdup(name)};
    return &s->t[s->n++];
}

void dstats_free(struct dstats *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->t[i].name);
    free(s->t);
    memset(s, 0, sizeof(*s));
}

/*
 * replace_file - write TEXT to PATH through PATH.tmp and rename (no fsync: counters and
 * requests only). With OWNER_OF, the file gets the owner of that path first: byosmtpctl run
 * as root leaves files that the delivery process (milter.user) can read.
 */
static int replace_file(const char *path, const char *text, const char *owner_of, char **err)
{
    struct stat sb;

    char *tmp = xasprintf("%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    int rc = -1;

    if (fp == NULL) {
        set_err(err, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    fputs(text, fp);
    if (owner_of != NULL && geteuid() == 0 && stat(owner_of, &sb) == 0 &&
        fchown(fileno(fp), sb.st_uid, sb.st_gid) < 0)
        msg_warn("%s: cannot give it to uid %lu: %s", tmp, (unsigned long)sb.st_uid,
                 strerror(errno));
    if (fclose(fp) != 0) {
        set_err(err, "%s: cannot write: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        set_err(err, "%s: cannot rename: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

int deliverydir_stats_write(const char *spool, const struct dstats *s, char **err)
{
    char *p = deliverydir_path(spool, "stats");
    struct buf b;
    int rc;

    buf_init(&b);
    buf_printf(&b, "%s\nsince: %lld\n", STATS_MAGIC, (long long)s->since);
    for (size_t i = 0; i < s->n; i++)
        buf_printf(&b,
                   "target %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                   " %" PRIu64 "\n",
                   s->t[i].name, s->t[i].accepted, s->t[i].delivered, s->t[i].deferred,
                   s->t[i].bounced, s->t[i].duplicates, s->t[i].fallback);
    rc = replace_file(p, b.data, NULL, err);
    buf_free(&b);
    free(p);
    return rc;
}

int deliverydir_stats_reset(const char *spool, int64_t since, char **err)
{
    struct dstats s = {.since = since};

    return deliverydir_stats_write(spool, &s, err);
}

int deliverydir_stats_read(const char *spool, struct dstats *s, char **err)
{
    char *p = deliverydir_path(spool, "stats");
    FILE *fp = fopen(p, "r");
    char line[512];
    int rc = -1;

    memset(s, 0, sizeof(*s));
    if (fp == NULL) {
        rc = errno == ENOENT ? 0 : set_err(err, "%s: cannot read: %s", p, strerror(errno));
        free(p);
        return rc;
    }
    if (fgets(line, sizeof(line), fp) == NULL || strncmp(line, STATS_MAGIC, strlen(STATS_MAGIC)) != 0) {
        set_err(err, "%s: not a byosmtp counters file", p);
        goto out;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char name[128];
        uint64_t a, d, f, b, x = 0, fb = 0;
        long long since;

        if (sscanf(line, "since: %lld", &since) == 1) {
            s->since = since;
        } else if (sscanf(line, "target %127s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                          " %" SCNu64 " %" SCNu64, name, &a, &d, &f, &b, &x, &fb) >= 5) {
            struct dstats_target *t = dstats_get(s, name);

            t->accepted = a, t->delivered = d, t->deferred = f, t->bounced = b;
            t->duplicates = x, t->fallback = fb;
        } else {
            set_err(err, "%s: malformed line: %s", p, line);
            dstats_free(s);
            goto out;
        }
    }
    rc = 1;
out:
    fclose(fp);
    free(p);
    return rc;
}

/* ---- requests ---- */

int deliverydir_request(const char *spool, const char *verb, const char *arg, char **name,
                        char **err)
{
    struct timeval tv;
    char *dir = deliverydir_path(spool, "requests"), *dst, *text;
    static unsigned counter;
    int rc;

    gettimeofday(&tv, NULL);
    dst = xasprintf("%s/%lld.%06ld.%ld.%u", dir, (long long)tv.tv_sec, (long)tv.tv_usec,
                    (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    text = xasprintf("%s %s\n", verb, arg ? arg : "");
    rc = replace_file(dst, text, dir, err);
    if (rc == 0 && name != NULL)
        *name = xstrdup(dst);
    free(text);
    free(dst);
    free(dir);
    return rc;
}

/* list_dir - the names in DIR that pass KEEP, sorted; 0 or -1 with *err */
static int list_dir(const char *dir, bool (*keep)(const char *), char ***names, size_t *n,
                    char **err)
{
    if (dir_list(dir, keep, names, n) == 0)
        return 0;
    return set_err(err, "%s: cannot list: %s", dir, strerror(errno));
}

/* is_request - a finished request (not a hidden or temporary file) */
static bool is_request(const char *name)
{
    size_t l = strlen(name);

    return name[0] != '.' && !(l > 4 && strcmp(name + l - 4, ".tmp") == 0);
}

size_t deliverydir_requests_take(const char *spool,
                                 void (*fn)(void *ctx, const char *verb, const char *arg),
                                 void *ctx)
{
    char *dir = deliverydir_path(spool, "requests"), **names, *err = NULL;
    size_t n, done = 0;

    if (list_dir(dir, is_request, &names, &n, &err) < 0) {
        msg_warn("delivery requests: %s", err);
        free(err);
        free(dir);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        FILE *fp = fopen(p, "r");
        char line[256] = "", *sp;

        if (fp != NULL) {
            if (fgets(line, sizeof(line), fp) == NULL)
                line[0] = '\0';
            fclose(fp);
        }
        line[strcspn(line, "\r\n")] = '\0';
        sp = strchr(line, ' ');
        if (sp != NULL)
            *sp++ = '\0';
        if (fp == NULL || sp == NULL)
            msg_warn("delivery request %s is malformed: ignored", p);
        else
            fn(ctx, line, sp);
        /* removed after it was acted on: byosmtpctl waits for this to say it is done */
        unlink(p);
        free(p);
        done++;
    }
    spool_list_free(names, n);
    free(dir);
    return done;
}

/* ---- recipients in doubt ---- */

/* doubt_path - SPOOL/delivery/doubt/ID; caller frees */
static char *doubt_path(const char *spool, const char *id)
{
    return xasprintf("%s/delivery/doubt/%s", spool, id);
}

int deliverydir_doubt_write(const char *spool, const char *id, const size_t *idx, size_t n,
                            char **err)
{
    char *p = doubt_path(spool, id);
    struct buf b;
    int rc = 0;

    if (n == 0) {
        if (unlink(p) < 0 && errno != ENOENT)
            rc = set_err(err, "%s: cannot remove: %s", p, strerror(errno));
        free(p);
        return rc;
    }
    buf_init(&b);
    for (size_t k = 0; k < n; k++)
        buf_printf(&b, "%zu\n", idx[k]);
    rc = replace_file(p, b.data, NULL, err);
    buf_free(&b);
    free(p);
    return rc;
}

int deliverydir_doubt_read(const char *spool, const char *id, size_t nrcpts, size_t **idx,
                           size_t *n, char **err)
{
    char *p = doubt_path(spool, id), line[64];
    FILE *fp = fopen(p, "r");
    size_t cap = 0;

    *idx = NULL;
    *n = 0;
    if (fp == NULL) {
        int rc = errno == ENOENT ? 0 : set_err(err, "%s: cannot read: %s", p, strerror(errno));

        free(p);
        return rc;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *end;
        unsigned long long v = strtoull(line, &end, 10);

        if (end == line || (*end != '\n' && *end != '\0') || v >= nrcpts)
            continue; /* not one of this copy's recipients */
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *idx = xrealloc(*idx, cap * sizeof(**idx));
        }
        (*idx)[(*n)++] = (size_t)v;
    }
    fclose(fp);
    free(p);
    return 0;
}

/* ---- in-flight marks ---- */

void deliverydir_inflight(const char *spool, const char *id, bool on)
{
    char *p = xasprintf("%s/delivery/inflight/%s", spool, id);

    if (on) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        if (fd >= 0)
            close(fd);
        else
            msg_warn("%s: cannot create the in-flight mark: %s", p, strerror(errno));
    } else if (unlink(p) < 0 && errno != ENOENT) {
        msg_warn("%s: cannot remove the in-flight mark: %s", p, strerror(errno));
    }
    free(p);
}

int deliverydir_inflight_left(const char *spool, char ***ids, size_t *n, char **err)
{
    char *dir = deliverydir_path(spool, "inflight");
    int rc = list_dir(dir, spool_valid_id, ids, n, err);

    if (rc == 0)
        for (size_t i = 0; i < *n; i++)
            deliverydir_inflight(spool, (*ids)[i], false);
    free(dir);
    return rc;
}
