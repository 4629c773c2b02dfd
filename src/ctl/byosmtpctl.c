/*
 * byosmtpctl - the admin tool: reads byosmtp.conf, then runs one command against the store,
 * the master key or (later) the running daemon. Commands live in ctl_*.c; this file holds
 * the dispatcher and what they share.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "util/msg.h"

static const char usage_text[] =
    "usage: byosmtpctl [-c CONFIG] COMMAND [ARGS]\n"
    "       byosmtpctl --help | --version\n"
    "commands:\n"
    "  key generate                         create the master key (refuses to overwrite)\n"
    "  encrypt NAME                         read a secret on stdin, print enc:v1:... for target NAME\n"
    "  load FILE [--dry-run]                validate targets.conf and compile it into the store\n"
    "  dump                                 print the store as targets.conf\n"
    "  target add NAME [--provider P [--region R]] --host H --port P --username U\n"
    "             (--password-stdin | --password-file F)\n"
    "             --from ADDR [--security S] [--from-name N] [--reply-to ADDR] [--quota N]\n"
    "             [--rate R] [--max-connections N] [--verify-to ADDR] [--auth M] [--no-tls-verify]\n"
    "             OAuth2 (--auth xoauth2; then no password): --oauth-token-url URL\n"
    "             --oauth-client-id ID [--oauth-client-secret-file F] --oauth-refresh-token-file F\n"
    "             [--oauth-scope S] | --oauth-token-command CMD\n"
    "             [--envelope-from ADDR] [--allowed-sender MATCH]... [--no-allowed-senders]\n"
    "             (--auth none: no --username and no password)\n"
    "  target set NAME [the same options]   change only what is given\n"
    "  target show NAME | list | rm NAME\n"
    "  route add [--sender] MATCH TARGET | rm [--sender] MATCH | list\n"
    "  route test ADDRESS [--sender SENDER]  the target, the table and the rule that match\n"
    "  verify TARGET [--to ADDR] [--no-send]  test a target: connect, TLS, AUTH, a test message\n"
    "  quota [TARGET] [--month YYYY-MM]     used / limit per target\n"
    "  providers                            the provider presets for target add --provider\n"
    "  queue [list] | show ID | flush [ID | --target T] | delete ID\n"
    "  stats                                counters per target, kept across restarts\n"
    "  config [-n | -d] [NAME...]           the byosmtp.conf settings in effect, like postconf:\n"
    "                                       -n those the file sets, -d the defaults\n"
    "  cluster status                       cluster mode: the hosts as Redis knows them\n"
    "see byosmtpctl(8)\n";

struct cluster *ctl_cluster(struct ctl *ctl)
{
    char *err = NULL;

    if (!ctl->cluster_tried) {
        ctl->cluster_tried = true;
        ctl->cluster = cluster_new(ctl->conf, &err);
        if (err) {
            msg_warn("cluster mode: %s: this host's data only", err);
            free(err);
        }
        if (ctl->cluster)
            signal(SIGPIPE, SIG_IGN); /* a Redis that goes away must not kill us */
    }
    return ctl->cluster;
}

int ctl_usage(const char *text)
{
    fprintf(stderr, "byosmtpctl: usage: %s\n", text);
    return CTL_USAGE;
}

int ctl_fail(char *err)
{
    msg_error("%s", err ? err : "unknown error");
    free(err);
    return CTL_ERROR;
}

struct store *ctl_store(struct ctl *ctl, enum store_mode mode)
{
    char *err = NULL;

    if (ctl->store == NULL &&
        store_open(ctl->conf->store.path, ctl->conf->store.map_size, mode, &ctl->store, &err) < 0) {
        ctl_fail(err);
        return NULL;
    }
    return ctl->store;
}

struct secret_key *ctl_key(struct ctl *ctl)
{
    char *err = NULL;

    if (ctl->key == NULL && secret_key_load(ctl->conf->secrets.key_file, &ctl->key, &err) < 0) {
        ctl_fail(err);
        return NULL;
    }
    return ctl->key;
}

int ctl_target_get(struct store *st, const char *name, struct target *t)
{
    char *err = NULL;
    int rc = store_target_get(st, name, t, &err);

    if (rc > 0)
        return CTL_OK;
    target_free(t);
    if (rc == 0)
        return ctl_fail(xasprintf("target '%s' does not exist: see 'byosmtpctl target list', or "
                                  "add it with 'byosmtpctl target add %s ...'", name, name));
    return ctl_fail(err);
}

/* read_line - one line from FP into a wiped-on-free buffer, line ending removed */
static char *read_line(FILE *fp, const char *what)
{
    struct buf b;
    int c;

    buf_init(&b);
    while ((c = getc(fp)) != EOF && c != '\n') {
        if (c == '\0') {
            buf_free_secret(&b);
            msg_error("%s holds a NUL byte: a password is one line of text", what);
            return NULL;
        }
        buf_putc(&b, c);
    }
    if (b.len > 0 && b.data[b.len - 1] == '\r')
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        buf_free_secret(&b);
        msg_error("%s gave an empty password: give the password on the first line", what);
        return NULL;
    }
    return buf_steal(&b);
}

char *ctl_read_password(const char *prompt)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *pw;

    if (tty) {
        fprintf(stderr, "%s", prompt);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    pw = read_line(stdin, "standard input");
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return pw;
}

char *ctl_read_password_file(const char *file)
{
    FILE *fp = fopen(file, "r");
    char *pw;

    if (fp == NULL) {
        msg_error("%s: cannot read the password file: %s", file, strerror(errno));
        return NULL;
    }
    pw = read_line(fp, file);
    fclose(fp);
    return pw;
}

static const struct {
    const char *name;
    int (*fn)(struct ctl *, int, char **);
} commands[] = {
    {"key", ctl_cmd_key},       {"encrypt", ctl_cmd_encrypt}, {"load", ctl_cmd_load},
    {"dump", ctl_cmd_dump},     {"target", ctl_cmd_target},   {"route", ctl_cmd_route},
    {"quota", ctl_cmd_quota},   {"verify", ctl_cmd_verify},   {"providers", ctl_cmd_providers},
    {"queue", ctl_cmd_queue},   {"stats", ctl_cmd_stats},     {"config", ctl_cmd_config},
    {"cluster", ctl_cmd_cluster},
};

int main(int argc, char **argv)
{
    struct ctl ctl = {.conf_file = NULL};
    char *err = NULL;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int opt, status = -1;

    msg_open("byosmtpctl", false, true, NULL);
    while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ctl.conf_file = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CTL_OK;
        case 'V':
            printf("byosmtpctl %s\n", PACKAGE_VERSION);
            return CTL_OK;
        default:
            fputs(usage_text, stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return CTL_USAGE;
    }
    /* The default file may be absent on a fresh install: then the compiled-in defaults apply. */
    if (ctl.conf_file == NULL && access(CONF_DEFAULT_FILE, F_OK) != 0)
        ctl.conf = conf_defaults();
    else if (conf_load(ctl.conf_file ? ctl.conf_file : CONF_DEFAULT_FILE, &ctl.conf, &err) < 0)
        return ctl_fail(err);

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            char **sub = argv + optind;

            optind = 1; /* each command parses its own options, from its own argv[0] */
            status = commands[i].fn(&ctl, argc - (int)(sub - argv), sub);
            break;
        }
    }
    if (status < 0) {
        fprintf(stderr, "byosmtpctl: unknown command '%s': see 'byosmtpctl -h' or byosmtpctl(8)\n",
                argv[optind]);
        status = CTL_USAGE;
    }
    store_close(ctl.store);
    secret_key_free(ctl.key);
    cluster_free(ctl.cluster);
    conf_unref(ctl.conf);
    return status;
}
