/*
 * util - memory that never returns NULL, a growable byte buffer, secret wiping.
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
/* buf_steal - hand the data to the caller (who frees it); the buffer needs buf_init() to be used again */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
/* buf_free_secret - wipe the whole allocation, then free */
void buf_free_secret(struct buf *b);

/* has_line_break - true when the n bytes of s hold CR, LF or NUL: never allowed in a header value */
bool has_line_break(const char *s, size_t n);

#endif
