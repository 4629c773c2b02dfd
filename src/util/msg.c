/*
 * msg - logging to syslog and/or stderr. The settings are written once at start-up,
 * before any thread exists, and only read afterwards.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util/msg.h"

static const char *msg_prog = "byosmtp";
static bool msg_syslog;
static bool msg_stderr = true;
static enum msg_level msg_max = MSG_INFO;

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static const char *level_names[] = {"error", "warning", "info", "debug"};

int msg_facility_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].value;
    return -1;
}

int msg_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void msg_open(const char *progname, bool to_syslog, bool to_stderr, const char *facility)
{
    int fac = facility ? msg_facility_parse(facility) : LOG_MAIL;

    msg_prog = progname;
    msg_stderr = to_stderr;
    if (msg_syslog)
        closelog();
    msg_syslog = to_syslog;
    if (to_syslog)
        openlog(progname, LOG_PID | LOG_NDELAY, fac < 0 ? LOG_MAIL : fac);
}

void msg_set_level(enum msg_level level)
{
    msg_max = level;
}

static void msg_vlog(enum msg_level level, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char *text;

    if (level > msg_max)
        return;
    text = xvasprintf(fmt, ap);
    if (msg_syslog) {
        if (level == MSG_INFO)
            syslog(prio[level], "%s", text);
        else
            syslog(prio[level], "%s: %s", level_names[level], text);
    }
    if (msg_stderr) {
        if (level == MSG_INFO)
            fprintf(stderr, "%s: %s\n", msg_prog, text);
        else
            fprintf(stderr, "%s: %s: %s\n", msg_prog, level_names[level], text);
    }
    free(text);
}

#define MSG_FN(fn, level)                                                                          \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        msg_vlog(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }
MSG_FN(msg_debug, MSG_DEBUG)
MSG_FN(msg_info, MSG_INFO)
MSG_FN(msg_warn, MSG_WARN)
MSG_FN(msg_error, MSG_ERROR)

void msg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(MSG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
