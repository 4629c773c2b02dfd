/*
 * secretfile - a small secret read from the file a setting names (cluster.password_file,
 * events.webhook_secret_file): the whole content, its trailing line breaks dropped, refused
 * when empty or too long; a file readable by everyone is logged (chmod 600 it). The bytes read
 * are wiped from every buffer but the one handed out.
 *
 * Thread-safe (caller-owned memory only).
 */
#ifndef BYOSMTP_SECRETFILE_H
#define BYOSMTP_SECRETFILE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * secret_file_read - the secret in PATH, which setting SETTING names (for messages): *out
 * (NUL-terminated; free it with free_secret) and *len. At most MAX bytes; TEXT: a NUL byte is
 * refused too. EMPTY_HINT ends the message about an empty file ("write ... into it"). 0, or -1
 * with *err in one line.
 */
int secret_file_read(const char *setting, const char *path, size_t max, bool text,
                     const char *empty_hint, char **out, size_t *len, char **err);

#endif
