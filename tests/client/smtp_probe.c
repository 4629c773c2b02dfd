/*
 * smtp_probe - a test driver for the smarthost client: open a session with the parameters on
 * the command line, submit COUNT copies of a message, print the trace as it happens and the
 * result class of every step. Used by the tests/client/ shell integration tests. The message is
 * a file or a built-in one; --read-once gives it through a caller-made source, which the client
 * cannot read twice (so it cannot measure it for SIZE); --size sets the envelope's size.
 *
 * The password is read from a file (--password-file) or the environment (SMTP_PROBE_PASSWORD),
 * never from the command line. Exit status: 0 when every message was accepted for every
 * recipient (or, with --no-send, the session opened), 1 otherwise, 2 on usage errors.
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp_client.h"
#include "util/util.h"

/* print_trace - the trace callback: one line per step */
static void print_trace(void *ctx, enum smtp_stage stage, const char *line)
{
    (void)ctx;
    printf("trace[%s]: %s\n", smtp_stage_name(stage), line);
    fflush(stdout);
}

/* print_result - the result lines the shell tests grep */
static void print_result(const char *what, const struct smtp_result *r, const struct smtp_envelope *env)
{
    printf("%s: %s action=%s stage=%s code=%d enhanced=%s\n", what, smtp_class_name(r->cls),
           smtp_action_name(r->action), smtp_stage_name(r->stage), r->code,
           r->enhanced[0] ? r->enhanced : "-");
    if (r->text)
        printf("%s-text: %s\n", what, r->text);
    if (r->cls != SMTP_OK)
        printf("%s-hint: %s\n", what, smtp_class_hint(r->cls));
    if (r->trail)
        printf("%s-trail: %s\n", what, r->trail);
    if (r->tls_version)
        printf("%s-tls: %s %s subject=%s verified=%s\n", what, r->tls_version, r->tls_cipher,
               r->tls_subject, r->tls_verified ? "yes" : "no");
    if (r->auth_mech)
        printf("%s-auth: %s\n", what, r->auth_mech);
    for (size_t i = 0; env && i < r->nrcpt; i++)
        printf("rcpt <%s>: %s action=%s status=%s code=%d enhanced=%s reply=%s\n", env->rcpt[i],
               smtp_class_name(r->rcpt[i].cls), smtp_action_name(r->rcpt[i].action),
               smtp_rcpt_status_name(r->rcpt[i].status), r->rcpt[i].code,
               r->rcpt[i].enhanced[0] ? r->rcpt[i].enhanced : "-",
               r->rcpt[i].reply ? r->rcpt[i].reply : "-");
    fflush(stdout);
}

/* read_once - the read callback of a caller-made source over the fd or memory source in CTX: a
 * message the client can read only once, as from a pipe (--read-once) */
static ssize_t read_once(struct smtp_source *s, void *buf, size_t n)
{
    struct smtp_source *inner = s->ctx;

    return inner->read(inner, buf, n);
}

/* read_secret - the first line of FILE */
static char *read_secret(const char *file)
{
    FILE *fp = fopen(file, "r");
    char line[1024];
    char *s;

    if (fp == NULL || fgets(line, sizeof(line), fp) == NULL) {
        fprintf(stderr, "smtp_probe: cannot read %s\n", file);
        exit(2);
    }
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    s = xstrdup(line);
    wipe(line, sizeof(line));
    return s;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: smtp_probe --host H --port P [--security starttls|tls|none] --user U\n"
            "       [--password-file F] [--auth auto|plain|login|cram-md5|xoauth2|none] [--ca-file F]\n"
            "       [--no-verify] [--tls-min V] [--helo NAME] [--from ADDR] [--to ADDR]...\n"
            "       [--message FILE] [--body 7bit|8bit|unknown] [--size N] [--count N]\n"
            "       [--read-once] [--timeout S] [--connect-timeout S] [--no-send]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'H'},        {"port", 1, 0, 'P'},      {"security", 1, 0, 's'},
        {"user", 1, 0, 'u'},        {"password-file", 1, 0, 'p'}, {"auth", 1, 0, 'a'},
        {"ca-file", 1, 0, 'c'},     {"no-verify", 0, 0, 'k'}, {"tls-min", 1, 0, 'V'},
        {"helo", 1, 0, 'e'},        {"from", 1, 0, 'f'},      {"to", 1, 0, 't'},
        {"message", 1, 0, 'm'},     {"body", 1, 0, 'b'},      {"size", 1, 0, 'z'},
        {"count", 1, 0, 'n'},       {"timeout", 1, 0, 'T'},   {"connect-timeout", 1, 0, 'C'},
        {"no-send", 0, 0, 'x'},     {"read-once", 0, 0, 'o'}, {0, 0, 0, 0},
    };
    struct smtp_params p = {.security = SMTP_SEC_STARTTLS, .helo_name = "probe.test",
                            .trace = print_trace};
    const char *rcpt[64];
    struct smtp_envelope env = {.sender = "sender@example.com", .rcpt = rcpt};
    const char *message = NULL;
    char *password = NULL;
    int count = 1, opt, status = 0;
    bool no_send = false, once = false;
    struct smtp_client *c;
    struct smtp_result res;

    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': p.host = optarg; break;
        case 'P': p.port = atoi(optarg); break;
        case 's':
            if (strcmp(optarg, "starttls") == 0) p.security = SMTP_SEC_STARTTLS;
            else if (strcmp(optarg, "tls") == 0) p.security = SMTP_SEC_TLS;
            else if (strcmp(optarg, "none") == 0) p.security = SMTP_SEC_NONE;
            else usage();
            break;
        case 'u': p.username = optarg; break;
        case 'p': password = read_secret(optarg); break;
        case 'a':
            if (strcmp(optarg, "auto") == 0) p.auth = SMTP_AUTH_AUTO;
            else if (strcmp(optarg, "plain") == 0) p.auth = SMTP_AUTH_PLAIN;
            else if (strcmp(optarg, "login") == 0) p.auth = SMTP_AUTH_LOGIN;
            else if (strcmp(optarg, "cram-md5") == 0) p.auth = SMTP_AUTH_CRAM_MD5;
            else if (strcmp(optarg, "xoauth2") == 0) p.auth = SMTP_AUTH_XOAUTH2;
            else if (strcmp(optarg, "none") == 0) p.auth = SMTP_AUTH_NONE;
            else usage();
            break;
        case 'c': p.tls_ca_file = optarg; break;
        case 'k': p.tls_skip_verify = true; break;
        case 'V': p.tls_min_version = optarg; break;
        case 'e': p.helo_name = optarg; break;
        case 'f': env.sender = optarg; break;
        case 't':
            if (env.nrcpt >= sizeof(rcpt) / sizeof(rcpt[0])) usage();
            rcpt[env.nrcpt++] = optarg;
            break;
        case 'm': message = optarg; break;
        case 'b':
            if (strcmp(optarg, "7bit") == 0) env.body = SMTP_BODY_7BIT;
            else if (strcmp(optarg, "8bit") == 0) env.body = SMTP_BODY_8BIT;
            else if (strcmp(optarg, "unknown") == 0) env.body = SMTP_BODY_UNKNOWN;
            else usage();
            break;
        case 'z': env.size = strtoull(optarg, NULL, 10); break;
        case 'n': count = atoi(optarg); break;
        case 'T':
            p.timeouts.helo = p.timeouts.command = p.timeouts.data_init = p.timeouts.data_xfer =
                p.timeouts.data_done = atoi(optarg);
            break;
        case 'C': p.timeouts.connect = atoi(optarg); break;
        case 'x': no_send = true; break;
        case 'o': once = true; break;
        default: usage();
        }
    }
    if (optind != argc || p.host == NULL || p.username == NULL)
        usage();
    if (password == NULL) {
        const char *env_pw = getenv("SMTP_PROBE_PASSWORD");

        password = xstrdup(env_pw ? env_pw : "");
    }
    p.password = password;
    if (env.nrcpt == 0)
        rcpt[env.nrcpt++] = "rcpt@example.com";

    smtp_result_init(&res);
    c = smtp_client_open(&p, &res);
    free_secret(password);
    print_result("open", &res, NULL);
    smtp_result_free(&res);
    if (c == NULL)
        return 1;
    for (int i = 0; !no_send && i < count; i++) {
        static const char dflt[] = "From: <sender@example.com>\r\nTo: <rcpt@example.com>\r\n"
                                   "Subject: smtp_probe\r\n\r\nHello from smtp_probe.\r\n";
        struct smtp_source src, inner;
        int fd = -1;
        char what[32];

        if (message) {
            fd = open(message, O_RDONLY);
            if (fd < 0) {
                perror(message);
                return 2;
            }
            src = smtp_source_fd(fd, 0, -1);
        } else {
            src = smtp_source_mem(dflt, sizeof(dflt) - 1);
        }
        if (once) {
            inner = src;
            src = (struct smtp_source){.read = read_once, .ctx = &inner, .fd = -1};
        }
        snprintf(what, sizeof(what), "send%d", i + 1);
        if (smtp_client_send(c, &env, &src, &res) < 0)
            status = 1;
        for (size_t r = 0; r < res.nrcpt; r++)
            if (res.rcpt[r].status != SMTP_RCPT_DELIVERED)
                status = 1;
        print_result(what, &res, &env);
        smtp_result_free(&res);
        if (fd >= 0)
            close(fd);
        if (!smtp_client_usable(c)) {
            printf("%s: connection no longer usable\n", what);
            if (i + 1 < count)
                status = 1;
            break;
        }
    }
    smtp_client_close(c);
    return status;
}
