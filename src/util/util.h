/*
 * util - memory that never returns NULL, a growable byte buffer, secret wiping, printable text,
 * and the few system calls every module wraps the same way (whole writes, directory fsync and
 * listing, the clock, the host name).
 *
 * Allocation failure is fatal (Postfix mymalloc): callers never test for NULL.
 * struct buf is the one growable string type of the project (Postfix VSTRING);
 * its data is always NUL-terminated so it can be used as a C string.
 * Thread-safe: everything here works on caller-owned memory only.
 */
#ifndef BYOSMTP_UTIL_H
#define BYOSMTP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define BYO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BYO_NORETURN __attribute__((noreturn))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - format into a new string */
char *xasprintf(const char *fmt, ...) BYO_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) BYO_PRINTF(1, 0);

/* wipe - clear memory that held a secret; the compiler may not elide it */
void wipe(void *p, size_t n);
/* free_secret - wipe a NUL-terminated secret and free it (NULL is fine) */
void free_secret(char *s);

/* set_err - replace *err (when err is not NULL) with a formatted message; returns -1 */
int set_err(char **err, const char *fmt, ...) BYO_PRINTF(2, 3);

struct buf {
    char *data; /* always NUL-terminated */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_printf(struct buf *b, const char *fmt, ...) BYO_PRINTF(2, 3);
/* buf_reserve - room for N more bytes after len (and the NUL), for a caller filling data directly */
void buf_reserve(struct buf *b, size_t n);
/* buf_steal - hand the data to the caller (who frees it); the buffer needs buf_init() to be used again */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
/* buf_free_secret - wipe the whole allocation, then free */
void buf_free_secret(struct buf *b);

/* has_line_break - true when the n bytes of s hold CR, LF or NUL: never allowed in a header value */
bool has_line_break(const char *s, size_t n);

/*
 * text_line - TEXT (NULL is "") as one printable ASCII line of at most MAX bytes (MAX >= 4), the
 * one way the programs make outside text safe for a log line, a record or a DSN field: each run
 * of CR and LF becomes "; ", a tab a space, any other byte outside printable ASCII '?'; leading
 * blanks and a trailing "; " are dropped; a longer line is cut and ends in "...". Caller frees.
 */
char *text_line(const char *text, size_t max);
/* text_line_n - text_line() of the N bytes at S (which may hold NUL) */
char *text_line_n(const char *s, size_t n, size_t max);

/* write_all - write N bytes to FD, retrying short writes and EINTR; 0, or -1 with errno */
int write_all(int fd, const void *p, size_t n);
/* fsync_dir - make the entries of directory PATH durable; 0, or -1 with errno */
int fsync_dir(const char *path);
/*
 * dir_list - the names in directory PATH that KEEP accepts (NULL: every name but "." and ".."),
 * sorted by strcmp; 0, or -1 with errno. Free them with dir_list_free().
 */
int dir_list(const char *path, bool (*keep)(const char *name), char ***names, size_t *n);
void dir_list_free(char **names, size_t n);

/* time_now - the time of day (CLOCK_REALTIME) in seconds, with its fraction */
double time_now(void);
/* host_name - this host's name in BUF (N bytes), "localhost" when it has none */
void host_name(char *buf, size_t n);

#endif
