/*
 * msg - the one way the programs speak to the admin: syslog, stderr, or both.
 *
 * Lines are "PROGRAM: LEVEL: text" on stderr and "LEVEL: text" in syslog (Postfix style;
 * info lines carry no level word). A password or token is never passed to these functions.
 * Every function is thread-safe. Each process keeps one connection to the syslog daemon, made
 * by msg_open() and made again only after an error (msg.c says how).
 */
#ifndef BYOSMTP_MSG_H
#define BYOSMTP_MSG_H

#include "util/util.h"

enum msg_level { MSG_ERROR = 0, MSG_WARN = 1, MSG_INFO = 2, MSG_DEBUG = 3 };

/* msg_open - set the program name and where lines go; facility is a syslog facility name */
void msg_open(const char *progname, bool to_syslog, bool to_stderr, const char *facility);
/* msg_syslog_socket - the syslog socket msg_open() connects to: /dev/log, or PATH (tests) */
void msg_syslog_socket(const char *path);
/* msg_set_level - the least important level still logged (MSG_INFO until set) */
void msg_set_level(enum msg_level level);
/* msg_level_parse - "error", "warning", "info", "debug" → level; -1 when unknown */
int msg_level_parse(const char *name);
/* msg_facility_parse - "mail", "daemon", "local0".."local7", "user" → LOG_* value; -1 when unknown */
int msg_facility_parse(const char *name);

void msg_debug(const char *fmt, ...) BYO_PRINTF(1, 2);
void msg_info(const char *fmt, ...) BYO_PRINTF(1, 2);
void msg_warn(const char *fmt, ...) BYO_PRINTF(1, 2);
void msg_error(const char *fmt, ...) BYO_PRINTF(1, 2);
/* msg_fatal - log and exit(1) */
BYO_NORETURN void msg_fatal(const char *fmt, ...) BYO_PRINTF(1, 2);

#endif
