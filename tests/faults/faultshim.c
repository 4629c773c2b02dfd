/*
 * faultshim - a test-only LD_PRELOAD library for tests/faults/: it makes fsync, fdatasync,
 * write, pwrite, writev and pwritev fail with a chosen errno, for the faults a test cannot
 * produce for real (EIO from a disk, ENOSPC on one file and not the next). Never installed,
 * never linked into byosmtpd.
 *
 * FAULTSHIM_CONTROL names the control file; each line is a rule (a # starts a comment):
 *
 *     CALL ERRNO PATTERN [count=N] [skip=K] [pid=P]
 *
 * CALL is fsync, fdatasync, write, pwrite, writev or pwritev (pwrite64 and pwritev64 count as
 * pwrite and pwritev). ERRNO is EIO, ENOSPC, EDQUOT, EROFS or EFBIG, or "none": the call is
 * logged and passes, to see which calls a path makes. PATTERN is matched against the file the
 * descriptor is open on, as /proc/self/fd/N names it ("/t/spool/incoming/0123...ABC.rcv",
 * "pipe:[4711]"): '*' matches any string, '?' any one character. Of the calls a rule
 * matches, the first K pass, the next N fail (N is 1 unless given; count=0: all of them), the
 * rest pass; pid=P limits the rule to one process. The first rule that fails a call decides;
 * only the first 32 lines count. Calls are counted per process, and from zero again whenever
 * the control file changes (its inode, size or time): a test changes the faults while
 * byosmtpd runs by replacing the file with mv. A missing or empty file costs one stat(2).
 *
 * Each failure made (or call seen, for "none") is appended to the file FAULTSHIM_LOG names, as
 *     faultshim: pid P: CALL PATH: ERRNO (rule L)
 * so that a test checks its fault happened where it meant it to.
 *
 * When it loads, the shim takes LD_PRELOAD out of the environment: the programs byosmtpd
 * executes (the bounce command) run without it, and without the ASan runtime that a sanitizer
 * build's test preloads before it; byosmtpd's forks keep it, being copies.
 *
 * No malloc and no locks: stack buffers and atomics only, so that a write() from a signal
 * handler (byosmtpd's handlers write to a pipe) passes through it safely.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_RULES 32
#define CONTROL_MAX 2048
#define PATH_BUF 1024

enum call { C_FSYNC, C_FDATASYNC, C_WRITE, C_PWRITE, C_WRITEV, C_PWRITEV };

static const char *const call_names[] = {"fsync",  "fdatasync", "write",
                                         "pwrite", "writev",    "pwritev"};

static const struct {
    const char *name;
    int value;
} errno_names[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},
                   {"EROFS", EROFS}, {"EFBIG", EFBIG},   {"none", 0}};

/* The wrapped calls' types, for the next definitions found with dlsym. */
typedef int (*sync_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev64_fn)(int, const struct iovec *, int, off64_t);

/* One rule of the control file, as parsed for one call. */
struct rule {
    enum call call;
    int err; /* 0: log only */
    const char *errname;
    const char *pattern;
    unsigned count, skip;
    long pid; /* 0: any process */
};

static char control_path[PATH_MAX];
static char log_path[PATH_MAX];
/* the control file's identity when the counters were last zeroed, and the calls each rule
 * (by line number) has matched since */
static _Atomic unsigned long long generation;
static _Atomic unsigned hits[MAX_RULES];

/* next - the next definition of NAME after this library (libc's, or the sanitizer's) */
static void *next(const char *name, void *_Atomic *slot)
{
    void *f = atomic_load(slot);

    if (f == NULL) {
        f = dlsym(RTLD_NEXT, name);
        atomic_store(slot, f);
    }
    return f;
}

/* real_write - the write(2) this library wraps; also writes its log */
static ssize_t real_write(int fd, const void *p, size_t n)
{
    static void *_Atomic slot;
    write_fn f = (write_fn)next("write", &slot);

    if (f == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return f(fd, p, n);
}

/* faultshim_init - remember where the control and the log are; LD_PRELOAD goes */
__attribute__((constructor)) static void faultshim_init(void)
{
    const char *c = getenv("FAULTSHIM_CONTROL"), *l = getenv("FAULTSHIM_LOG");

    if (c != NULL && strlen(c) < sizeof(control_path))
        strcpy(control_path, c);
    if (l != NULL && strlen(l) < sizeof(log_path))
        strcpy(log_path, l);
    unsetenv("LD_PRELOAD");
}

/* glob_match - PAT ('*' any string, '?' one character, others themselves) matches all of S */
static int glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *retry = NULL;

    while (*s) {
        if (*pat == '*') {
            star = pat++;
            retry = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++retry;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* parse_uint - the decimal number S into *V; 0, or -1 when it is not one */
static int parse_uint(const char *s, unsigned long *v)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return *end != '\0' || errno != 0 ? -1 : 0;
}

/* parse_option - one key=value word of a rule into R; 0, or -1 when it is not one */
static int parse_option(const char *w, struct rule *r)
{
    unsigned long v;

    if (strncmp(w, "count=", 6) == 0 && parse_uint(w + 6, &v) == 0 && v <= UINT_MAX)
        r->count = (unsigned)v;
    else if (strncmp(w, "skip=", 5) == 0 && parse_uint(w + 5, &v) == 0 && v <= UINT_MAX)
        r->skip = (unsigned)v;
    else if (strncmp(w, "pid=", 4) == 0 && parse_uint(w + 4, &v) == 0 && v > 0 && v <= LONG_MAX)
        r->pid = (long)v;
    else
        return -1;
    return 0;
}

/* parse_rule - LINE (changed in place) into R; 1, 0 for a blank or comment line, -1 when bad */
static int parse_rule(char *line, struct rule *r)
{
    char *words[8], *save = NULL, *w;
    size_t n = 0, i;

    if ((w = strchr(line, '#')) != NULL)
        *w = '\0';
    for (w = strtok_r(line, " \t\r", &save); w != NULL; w = strtok_r(NULL, " \t\r", &save)) {
        if (n == sizeof(words) / sizeof(words[0]))
            return -1;
        words[n++] = w;
    }
    if (n == 0)
        return 0;
    if (n < 3)
        return -1;
    memset(r, 0, sizeof(*r));
    r->count = 1;
    for (i = 0; i < sizeof(call_names) / sizeof(call_names[0]); i++)
        if (strcmp(words[0], call_names[i]) == 0)
            break;
    if (i == sizeof(call_names) / sizeof(call_names[0]))
        return -1;
    r->call = (enum call)i;
    for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
        if (strcmp(words[1], errno_names[i].name) == 0)
            break;
    if (i == sizeof(errno_names) / sizeof(errno_names[0]))
        return -1;
    r->err = errno_names[i].value;
    r->errname = errno_names[i].name;
    r->pattern = words[2];
    for (i = 3; i < n; i++)
        if (parse_option(words[i], r) < 0)
            return -1;
    return 1;
}

/* read_control - the control file into BUF (NUL-terminated); its length, or -1 */
static ssize_t read_control(char *buf, size_t size)
{
    int fd = open(control_path, O_RDONLY | O_CLOEXEC);
    ssize_t got = 0, r = 0;

    if (fd < 0)
        return -1;
    while ((size_t)got < size - 1 && (r = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
        got += r;
    close(fd);
    if (r < 0)
        return -1;
    buf[got] = '\0';
    return got;
}

/* new_generation - zero the counters when the control file SB is not the one they count for */
static void new_generation(const struct stat *sb)
{
    unsigned long long g = 1469598103934665603ULL;
    unsigned long long parts[] = {(unsigned long long)sb->st_dev, (unsigned long long)sb->st_ino,
                                  (unsigned long long)sb->st_size,
                                  (unsigned long long)sb->st_mtim.tv_sec,
                                  (unsigned long long)sb->st_mtim.tv_nsec};

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        g = (g ^ parts[i]) * 1099511628211ULL;
    if (atomic_exchange(&generation, g) != g)
        for (size_t i = 0; i < MAX_RULES; i++)
            atomic_store(&hits[i], 0);
}

/* log_line - one line about CALL on PATH by rule LINE to the log, when there is one */
static void log_line(enum call call, const char *path, const struct rule *r, int line)
{
    char buf[PATH_BUF + 128];
    int n, fd;

    if (log_path[0] == '\0')
        return;
    n = snprintf(buf, sizeof(buf), "faultshim: pid %ld: %s %s: %s (rule %d)\n", (long)getpid(),
                 call_names[call], path, r->errname, line);
    if (n <= 0)
        return;
    fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (real_write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
        perror("faultshim: cannot write its log");
    close(fd);
}

/* fd_path - the name of what FD is open on, into PATH; 0, or -1 */
static int fd_path(int fd, char *path, size_t size)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, size - 1);
    if (n < 0)
        return -1;
    path[n] = '\0';
    return 0;
}

/* rule_fires - whether rule R (line LINE) makes this CALL on FD fail; PATH is resolved once */
static int rule_fires(const struct rule *r, int line, enum call call, int fd, char *path,
                      size_t size)
{
    unsigned seen;

    if (r->call != call || (r->pid != 0 && r->pid != (long)getpid()))
        return 0;
    if (path[0] == '\0' && fd_path(fd, path, size) < 0)
        return 0;
    if (!glob_match(r->pattern, path))
        return 0;
    seen = atomic_fetch_add(&hits[line - 1], 1);
    if (seen < r->skip || (r->count != 0 && seen - r->skip >= r->count))
        return 0;
    log_line(call, path, r, line);
    return r->err != 0;
}

/* inject - the errno this CALL on FD is to fail with, or 0 to make the real call */
static int inject(enum call call, int fd)
{
    char text[CONTROL_MAX], path[PATH_BUF], *line, *save = NULL;
    struct stat sb;
    struct rule r;
    int saved = errno, e = 0, n = 0;

    if (control_path[0] == '\0' || stat(control_path, &sb) < 0 || sb.st_size == 0)
        goto out;
    new_generation(&sb);
    if (read_control(text, sizeof(text)) < 0)
        goto out;
    path[0] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL && e == 0;
         line = strtok_r(NULL, "\n", &save)) {
        int rc = parse_rule(line, &r);

        n++;
        if (rc < 0 && n <= MAX_RULES && atomic_fetch_add(&hits[n - 1], 1) == 0) {
            r = (struct rule){.call = call, .errname = "not a rule"};
            log_line(call, control_path, &r, n); /* once per control file */
        } else if (rc > 0 && n <= MAX_RULES && rule_fires(&r, n, call, fd, path, sizeof(path))) {
            e = r.err;
        }
    }
out:
    errno = saved;
    return e;
}

/* The wrapped calls: each asks inject(), then makes the real call (the next definition). */

/* fail - set errno to E (ENOSYS when the real call was not found) and return -1 */
static int fail(int e)
{
    errno = e != 0 ? e : ENOSYS;
    return -1;
}

/* fsync - fsync(2), or the failure a rule asks for */
int fsync(int fd)
{
    static void *_Atomic slot;
    sync_fn f = (sync_fn)next("fsync", &slot);
    int e = inject(C_FSYNC, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd);
}

/* fdatasync - fdatasync(2), or the failure a rule asks for */
int fdatasync(int fd)
{
    static void *_Atomic slot;
    sync_fn f = (sync_fn)next("fdatasync", &slot);
    int e = inject(C_FDATASYNC, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd);
}

/* write - write(2), or the failure a rule asks for */
ssize_t write(int fd, const void *p, size_t n)
{
    int e = inject(C_WRITE, fd);

    return e != 0 ? fail(e) : real_write(fd, p, n);
}

/* pwrite - pwrite(2), or the failure a rule asks for */
ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    static void *_Atomic slot;
    pwrite_fn f = (pwrite_fn)next("pwrite", &slot);
    int e = inject(C_PWRITE, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd, p, n, off);
}

/* pwrite64 - pwrite64(2), counted as pwrite */
ssize_t pwrite64(int fd, const void *p, size_t n, off64_t off)
{
    static void *_Atomic slot;
    pwrite64_fn f = (pwrite64_fn)next("pwrite64", &slot);
    int e = inject(C_PWRITE, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd, p, n, off);
}

/* writev - writev(2), or the failure a rule asks for */
ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    static void *_Atomic slot;
    writev_fn f = (writev_fn)next("writev", &slot);
    int e = inject(C_WRITEV, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd, iov, cnt);
}

/* pwritev - pwritev(2), or the failure a rule asks for */
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    static void *_Atomic slot;
    pwritev_fn f = (pwritev_fn)next("pwritev", &slot);
    int e = inject(C_PWRITEV, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd, iov, cnt, off);
}

/* pwritev64 - pwritev64(2), counted as pwritev */
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    static void *_Atomic slot;
    pwritev64_fn f = (pwritev64_fn)next("pwritev64", &slot);
    int e = inject(C_PWRITEV, fd);

    return e != 0 || f == NULL ? fail(e) : f(fd, iov, cnt, off);
}
