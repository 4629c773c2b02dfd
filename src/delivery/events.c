/*
 * events - the delivery events of the sinks events.command and events.webhook_url (see
 * events.h): a bounded queue and a thread per sink; JSON by jansson, HTTPS by libcurl
 * (util/https.h), the signature by OpenSSL's HMAC.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "delivery/events.h"
#include "util/https.h"
#include "util/msg.h"
#include "util/secretfile.h"
#include "util/util.h"

#define EVENTS_SECRET_MAX 4096
#define EVENTS_REPLY_MAX 1000   /* bytes of a reply kept in an event */
#define EVENTS_STOP_GRACE 5     /* seconds for what is queued at stop */
#define WEBHOOK_RETRIES 6       /* after the first POST: 1, 2, 4, 8, 16, 32 s */
#define WEBHOOK_TIMEOUT_MS 10000
#define COMMAND_BACKOFF_MAX 60

extern char **environ;

struct sink {
    struct events *ev;
    enum events_sink kind;
    bool on;
    pthread_t thread;
    bool started;
    char **q; /* ring of JSON lines */
    size_t head, n;
    struct events_sink_stats st;
    /* command */
    pid_t pid;
    int fd;
    double spawned;
};

struct events {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    double stop_deadline;
    size_t limit;
    char *command;
    char *url;
    char *ca_file, *ca_path;
    unsigned char *key;
    size_t keylen;
    struct sink sink[EVENTS_NSINKS];
};

const char *events_sink_name(enum events_sink s)
{
    return s == EVENTS_COMMAND ? "command" : "webhook";
}

/* ---- the JSON of an event ---- */

/* jstr - S as a JSON string; bytes that are not UTF-8 become '?' (jansson takes UTF-8 only) */
static json_t *jstr(const char *s, size_t max)
{
    size_t n = strlen(s ? s : "");
    json_t *j;
    char *copy;

    if (n > max)
        n = max;
    if ((j = json_stringn(s ? s : "", n)) != NULL)
        return j;
    copy = xstrndup(s, n);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

char *events_json(const struct event *e)
{
    char when[80];
    time_t secs = (time_t)e->time;
    struct tm tm;
    json_t *o = json_object();
    char *text;
    int ms = (int)((e->time - (double)secs) * 1000);

    gmtime_r(&secs, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 ? 0 : ms % 1000);
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "event", json_string(deliverylog_status_name(e->status)));
    json_object_set_new(o, "id", jstr(e->id, 64));
    json_object_set_new(o, "mta_queue_id", jstr(e->mta_queue_id, 64));
    json_object_set_new(o, "target", jstr(e->target, 64));
    json_object_set_new(o, "recipient", jstr(e->recipient, 1000));
    json_object_set_new(o, "sender", jstr(e->sender, 1000));
    json_object_set_new(o, "dsn", jstr(e->dsn, 16));
    json_object_set_new(o, "class", jstr(e->cls, 64));
    json_object_set_new(o, "reply", jstr(e->reply, EVENTS_REPLY_MAX));
    json_object_set_new(o, "attempt", json_integer(e->attempt));
    json_object_set_new(o, "delay", json_real((double)(long long)(e->delay * 1000) / 1000));
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (text == NULL)
        msg_fatal("events: cannot make JSON (out of memory)");
    return text;
}

char *events_signature(const unsigned char *key, size_t keylen, const char *body, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    struct buf b;

    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)body, len, mac, &maclen);
    buf_init(&b);
    buf_puts(&b, "sha256=");
    for (unsigned i = 0; i < maclen; i++)
        buf_printf(&b, "%02x", mac[i]);
    return buf_steal(&b);
}

/* ---- the queue ---- */

/* push - LINE to sink S's queue, or dropped and counted when full; under ev->lock */
static void push(struct sink *s, const char *line)
{
    size_t limit = s->ev->limit;

    if (s->n >= limit) {
        s->st.dropped++;
        return;
    }
    s->q[(s->head + s->n) % limit] = xstrdup(line);
    s->n++;
}

/* pop - the oldest line of S (NULL when empty); under ev->lock */
static char *pop(struct sink *s)
{
    char *line;

    if (s->n == 0)
        return NULL;
    line = s->q[s->head];
    s->q[s->head] = NULL;
    s->head = (s->head + 1) % s->ev->limit;
    s->n--;
    return line;
}

/* next - wait for the next line of S; NULL when stopping and nothing is left (or time is up) */
static char *next(struct sink *s)
{
    struct events *ev = s->ev;
    char *line = NULL;

    pthread_mutex_lock(&ev->lock);
    while (s->n == 0 && !ev->stopping)
        pthread_cond_wait(&ev->cond, &ev->lock);
    if (!ev->stopping || time_now() < ev->stop_deadline)
        line = pop(s);
    pthread_mutex_unlock(&ev->lock);
    return line;
}

/* pause_for - wait SECS, less when stopping; false when stopping */
static bool pause_for(struct events *ev, double secs)
{
    double until = time_now() + secs;
    struct timespec ts = {.tv_sec = (time_t)until,
                          .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
    bool going;

    pthread_mutex_lock(&ev->lock);
    while (!ev->stopping && time_now() < until)
        if (pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) == ETIMEDOUT)
            break;
    going = !ev->stopping;
    pthread_mutex_unlock(&ev->lock);
    return going;
}

/* tally - one line of S ended: handed over (OK) or failed */
static void tally(struct sink *s, bool ok)
{
    pthread_mutex_lock(&s->ev->lock);
    if (ok)
        s->st.sent++;
    else
        s->st.failed++;
    pthread_mutex_unlock(&s->ev->lock);
}

/* ---- the command ---- */

/* spawn - start events.command with a pipe on its standard input; false (logged) when it cannot */
static bool spawn(struct sink *s)
{
    char *argv[] = {"sh", "-c", s->ev->command, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    int pfd[2], rc;

    if (pipe2(pfd, O_CLOEXEC) < 0) {
        msg_warn("events.command: pipe: %s", strerror(errno));
        return false;
    }
    sigemptyset(&none);
    sigfillset(&dfl);
    sigdelset(&dfl, SIGKILL);
    sigdelset(&dfl, SIGSTOP);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    posix_spawnattr_init(&at);
    /* the delivery process blocks and ignores signals (SIGPIPE): the command starts clean */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&s->pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pfd[0]);
    if (rc != 0) {
        msg_warn("events.command: cannot start /bin/sh: %s", strerror(rc));
        close(pfd[1]);
        return false;
    }
    fcntl(pfd[1], F_SETFL, O_NONBLOCK);
    s->fd = pfd[1];
    s->spawned = time_now();
    msg_info("events.command: started (pid %ld)", (long)s->pid);
    return true;
}

/* reap - close the command's input and collect it: it has WAIT seconds to exit, then SIGKILL */
static void reap(struct sink *s, double wait)
{
    int status = 0;
    double until = time_now() + wait;
    pid_t w;

    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->pid <= 0)
        return;
    while ((w = waitpid(s->pid, &status, WNOHANG)) == 0 && time_now() < until)
        usleep(20000);
    if (w == 0) {
        kill(s->pid, SIGKILL);
        w = waitpid(s->pid, &status, 0);
    }
    if (w == s->pid && WIFEXITED(status))
        msg_info("events.command: pid %ld exited with status %d", (long)s->pid,
                 WEXITSTATUS(status));
    else if (w == s->pid && WIFSIGNALED(status))
        msg_info("events.command: pid %ld killed by signal %d", (long)s->pid, WTERMSIG(status));
    s->pid = 0;
}

/* write_line - LINE and a newline to the command; 1 written, 0 the command is gone, -1 stopping */
static int write_line(struct sink *s, const char *line)
{
    size_t len = strlen(line), off = 0;
    char *text = xasprintf("%s\n", line);
    int rc = 1;

    len++;
    while (off < len) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        ssize_t w;

        if (poll(&p, 1, 1000) == 0) {
            pthread_mutex_lock(&s->ev->lock);
            if (s->ev->stopping && time_now() >= s->ev->stop_deadline)
                rc = -1;
            pthread_mutex_unlock(&s->ev->lock);
            if (rc < 0)
                break;
            continue;
        }
        w = write(s->fd, text + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            rc = 0; /* EPIPE: it stopped reading */
            break;
        }
    }
    free(text);
    return rc;
}

/* command_main - the command's thread: keep it running, write every event to it */
static void *command_main(void *arg)
{
    struct sink *s = arg;
    double backoff = 1;
    char *line;

    while ((line = next(s)) != NULL) {
        int rc = 0;

        while (rc == 0) {
            if (s->fd < 0 && !spawn(s)) {
                if (!pause_for(s->ev, backoff))
                    break;
                backoff = backoff * 2 > COMMAND_BACKOFF_MAX ? COMMAND_BACKOFF_MAX : backoff * 2;
                continue;
            }
            if ((rc = write_line(s, line)) != 0)
                break;
            /* it exited: started again, at once when it had run a while, else after a pause */
            msg_warn("events.command: the command stopped reading its input; starting it again");
            if (time_now() - s->spawned >= 10)
                backoff = 1;
            reap(s, 1);
            if (!pause_for(s->ev, backoff))
                break;
            backoff = backoff * 2 > COMMAND_BACKOFF_MAX ? COMMAND_BACKOFF_MAX : backoff * 2;
        }
        if (rc > 0)
            tally(s, true);
        else {
            pthread_mutex_lock(&s->ev->lock);
            s->st.dropped++;
            pthread_mutex_unlock(&s->ev->lock);
        }
        free(line);
    }
    reap(s, EVENTS_STOP_GRACE);
    return NULL;
}

/* ---- the webhook ---- */

/* post - one POST of LINE; 1 taken (2xx), 0 to retry, -1 refused for good */
static int post(struct sink *s, const char *line, char *sig)
{
    char *hdr = xasprintf("%s: %s", EVENTS_SIGNATURE_HEADER, sig);
    const char *headers[] = {hdr, NULL};
    struct https_request r = {.url = s->ev->url,
                              .content_type = "application/json",
                              .body = line,
                              .body_len = strlen(line),
                              .headers = headers,
                              .ca_file = s->ev->ca_file,
                              .ca_path = s->ev->ca_path,
                              .timeout_ms = WEBHOOK_TIMEOUT_MS};
    struct https_response resp;
    char *err = NULL;
    int rc;

    if (https_post(&r, &resp, &err) < 0) {
        msg_warn("events.webhook_url: %s", err);
        free(err);
        rc = 0;
    } else if (resp.status >= 200 && resp.status < 300) {
        rc = 1;
    } else {
        rc = resp.status == 408 || resp.status == 429 || resp.status >= 500 ? 0 : -1;
        msg_warn("events.webhook_url: HTTP status %ld%s", resp.status,
                 rc == 0 ? " (tried again)" : ": the event is dropped");
    }
    https_response_free(&resp);
    free(hdr);
    return rc;
}

/* webhook_main - the webhook's thread: POST every event, retried with backoff */
static void *webhook_main(void *arg)
{
    struct sink *s = arg;
    char *line;

    while ((line = next(s)) != NULL) {
        char *sig = events_signature(s->ev->key, s->ev->keylen, line, strlen(line));
        double backoff = 1;
        int rc = post(s, line, sig);

        for (int i = 0; rc == 0 && i < WEBHOOK_RETRIES && pause_for(s->ev, backoff); i++) {
            rc = post(s, line, sig);
            backoff *= 2;
        }
        if (rc == 0)
            msg_warn("events.webhook_url: an event was not taken after its retries (or at "
                     "stop): given up");
        tally(s, rc > 0);
        free(sig);
        free(line);
    }
    return NULL;
}

/* ---- set-up ---- */

/* read_secret - the HMAC key: the file's content without its trailing newlines */
static int read_secret(struct events *ev, const char *path, char **err)
{
    char *key;
    size_t len;

    if (secret_file_read("events.webhook_secret_file", path, EVENTS_SECRET_MAX, false,
                         "is empty: write a random key into it, e.g. with "
                         "'openssl rand -hex 32'",
                         &key, &len, err) < 0)
        return -1;
    ev->key = (unsigned char *)key;
    ev->keylen = len;
    return 0;
}

/* free_events - everything of EV (the threads are stopped) */
static void free_events(struct events *ev)
{
    for (int k = 0; k < EVENTS_NSINKS; k++) {
        struct sink *s = &ev->sink[k];
        char *line;

        while ((line = pop(s)) != NULL)
            free(line);
        free(s->q);
    }
    if (ev->key != NULL)
        wipe(ev->key, ev->keylen);
    free(ev->key);
    free(ev->command);
    free(ev->url);
    free(ev->ca_file);
    free(ev->ca_path);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

int events_new(const struct byosmtp_conf *conf, struct events **out, char **err)
{
    struct events *ev;

    *out = NULL;
    if (*conf->events.command == '\0' && *conf->events.webhook_url == '\0')
        return 0;
    if (*conf->events.webhook_url && *conf->events.webhook_secret_file == '\0')
        return set_err(err, "events.webhook_url is set but events.webhook_secret_file is not: "
                            "name a file holding the key that signs each event");
    ev = xcalloc(1, sizeof(*ev));
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    ev->limit = (size_t)conf->events.queue_limit;
    ev->command = xstrdup(conf->events.command);
    ev->url = xstrdup(conf->events.webhook_url);
    ev->ca_file = xstrdup(conf->delivery.tls_ca_file);
    ev->ca_path = xstrdup(conf->delivery.tls_ca_path);
    for (int k = 0; k < EVENTS_NSINKS; k++) {
        struct sink *s = &ev->sink[k];

        s->ev = ev;
        s->kind = (enum events_sink)k;
        s->fd = -1;
        s->on = k == EVENTS_COMMAND ? *ev->command != '\0' : *ev->url != '\0';
        s->q = s->on ? xcalloc(ev->limit, sizeof(*s->q)) : NULL;
    }
    if (*ev->url && read_secret(ev, conf->events.webhook_secret_file, err) < 0) {
        free_events(ev);
        return -1;
    }
    *out = ev;
    return 0;
}

void events_start(struct events *ev)
{
    if (ev == NULL)
        return;
    for (int k = 0; k < EVENTS_NSINKS; k++) {
        struct sink *s = &ev->sink[k];

        if (s->on && pthread_create(&s->thread, NULL,
                                    k == EVENTS_COMMAND ? command_main : webhook_main, s) == 0)
            s->started = true;
        else if (s->on)
            msg_error("events: cannot start the %s thread", events_sink_name(s->kind));
    }
}

void events_emit(struct events *ev, const struct event *e)
{
    char *line;

    if (ev == NULL)
        return;
    line = events_json(e);
    pthread_mutex_lock(&ev->lock);
    for (int k = 0; k < EVENTS_NSINKS; k++)
        if (ev->sink[k].on)
            push(&ev->sink[k], line);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    free(line);
}

void events_stats(struct events *ev, struct events_sink_stats out[EVENTS_NSINKS],
                  int configured[EVENTS_NSINKS])
{
    memset(out, 0, EVENTS_NSINKS * sizeof(*out));
    for (int k = 0; k < EVENTS_NSINKS; k++)
        configured[k] = 0;
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    for (int k = 0; k < EVENTS_NSINKS; k++) {
        out[k] = ev->sink[k].st;
        out[k].queued = ev->sink[k].n;
        configured[k] = ev->sink[k].on;
    }
    pthread_mutex_unlock(&ev->lock);
}

void events_stop(struct events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->stopping = true;
    ev->stop_deadline = time_now() + EVENTS_STOP_GRACE;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    for (int k = 0; k < EVENTS_NSINKS; k++) {
        struct sink *s = &ev->sink[k];

        if (s->started)
            pthread_join(s->thread, NULL);
        if (s->n > 0)
            msg_warn("events: %zu %s event%s not sent at stop: dropped", s->n,
                     events_sink_name(s->kind), s->n == 1 ? "" : "s");
    }
    free_events(ev);
}
