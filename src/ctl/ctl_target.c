/*
 * ctl_target - "byosmtpctl target ..." and "byosmtpctl route ...": manage targets and routes
 * in the store one at a time. Every change is validated before it is written, and the
 * password is read from standard input or a file, encrypted at once, and never printed.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "util/msg.h"
#include "smtp/provider.h"

enum {
    OPT_HOST = 256, OPT_PORT, OPT_SECURITY, OPT_USERNAME, OPT_PASSWORD_STDIN, OPT_PASSWORD_FILE,
    OPT_FROM, OPT_FROM_NAME, OPT_REPLY_TO, OPT_QUOTA, OPT_RATE, OPT_MAX_CONN, OPT_VERIFY_TO,
    OPT_AUTH, OPT_NO_TLS_VERIFY, OPT_TLS_VERIFY, OPT_PROVIDER, OPT_REGION,
};

static const struct option target_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"security", required_argument, NULL, OPT_SECURITY},
    {"username", required_argument, NULL, OPT_USERNAME},
    {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"from", required_argument, NULL, OPT_FROM},
    {"from-name", required_argument, NULL, OPT_FROM_NAME},
    {"reply-to", required_argument, NULL, OPT_REPLY_TO},
    {"quota", required_argument, NULL, OPT_QUOTA},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"verify-to", required_argument, NULL, OPT_VERIFY_TO},
    {"auth", required_argument, NULL, OPT_AUTH},
    {"no-tls-verify", no_argument, NULL, OPT_NO_TLS_VERIFY},
    {"tls-verify", no_argument, NULL, OPT_TLS_VERIFY},
    {"provider", required_argument, NULL, OPT_PROVIDER},
    {"region", required_argument, NULL, OPT_REGION},
    {NULL, 0, NULL, 0},
};

#define TARGET_USAGE                                                                               \
    "byosmtpctl target add|set NAME [--provider P [--region R]] --host H --port P --username U "    \
    "(--password-stdin | "                                                                         \
    "--password-file F) --from ADDR [--security starttls|tls|none] [--from-name N] [--reply-to "   \
    "ADDR] [--quota N] [--rate N/s|N/m] [--max-connections N] [--verify-to ADDR] [--auth "         \
    "auto|plain|login|cram-md5|xoauth2] [--no-tls-verify | --tls-verify]"

/* parse_number - a whole number in [lo, hi] given to option OPT; -1 after printing why not */
static long long parse_number(const char *opt, const char *s, long long lo, long long hi)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        msg_error("--%s '%s': expected a whole number from %lld to %lld", opt, s, lo, hi);
        return -1;
    }
    return v;
}

/* set_string - replace a string field */
static void set_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/*
 * apply_preset - the first pass over the options: when --provider is given, fill T with the
 * preset's host, port, security, user name and limits, so that the options given explicitly,
 * applied afterwards, win whatever their order. Returns 0, or CTL_ERROR after printing why.
 */
static int apply_preset(struct target *t, int argc, char **argv)
{
    const struct provider *p = NULL;
    const char *region = NULL, *from = NULL;
    char *host, *err = NULL;
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", target_options, NULL)) != -1) {
        if (opt == OPT_PROVIDER && (p = provider_find(optarg)) == NULL) {
            msg_error("--provider '%s': unknown; 'byosmtpctl providers' lists the presets", optarg);
            return CTL_ERROR;
        }
        if (opt == OPT_REGION)
            region = optarg;
        if (opt == OPT_FROM)
            from = optarg;
    }
    if (p == NULL) {
        if (region != NULL) {
            msg_error("--region goes with --provider (e.g. --provider ses --region eu-west-1)");
            return CTL_ERROR;
        }
        return 0;
    }
    if ((host = provider_host(p, region, &err)) == NULL)
        return ctl_fail(err);
    set_string(&t->host, host);
    free(host);
    t->port = p->port;
    t->security = p->security;
    if (p->username != NULL)
        set_string(&t->username, p->username);
    else if (p->username_is_from && from != NULL)
        set_string(&t->username, from);
    if (p->max_connections)
        t->max_connections = p->max_connections;
    if (*p->rate)
        set_string(&t->rate, p->rate);
    return 0;
}

/*
 * apply_options - apply "target add/set" options to T. *pw_given tells whether a password came.
 * Returns 0, or CTL_USAGE / CTL_ERROR after printing the reason.
 */
static int apply_options(struct ctl *ctl, struct target *t, int argc, char **argv, bool *pw_given)
{
    char *password = NULL, *err = NULL;
    long long n;
    int opt, v;

    *pw_given = false;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", target_options, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            set_string(&t->host, optarg);
            break;
        case OPT_PORT:
            if ((n = parse_number("port", optarg, 1, 65535)) < 0)
                goto error;
            t->port = (int)n;
            break;
        case OPT_SECURITY:
            if ((v = smtp_security_parse(optarg)) < 0) {
                msg_error("--security '%s': expected starttls, tls or none", optarg);
                goto error;
            }
            t->security = (enum smtp_security)v;
            break;
        case OPT_USERNAME:
            set_string(&t->username, optarg);
            break;
        case OPT_PASSWORD_STDIN:
        case OPT_PASSWORD_FILE:
            if (password != NULL) {
                free_secret(password);
                return ctl_usage("give the password once: --password-stdin or --password-file F");
            }
            password = opt == OPT_PASSWORD_STDIN ? ctl_read_password("Password: ")
                                                 : ctl_read_password_file(optarg);
            if (password == NULL)
                goto error;
            break;
        case OPT_FROM:
            set_string(&t->from_address, optarg);
            break;
        case OPT_FROM_NAME:
            set_string(&t->from_name, optarg);
            break;
        case OPT_REPLY_TO:
            set_string(&t->reply_to, optarg);
            break;
        case OPT_QUOTA:
            if ((n = parse_number("quota", optarg, 0, 1000000000000LL)) < 0)
                goto error;
            t->monthly_quota = (uint64_t)n;
            break;
        case OPT_RATE:
            set_string(&t->rate, optarg);
            break;
        case OPT_MAX_CONN:
            if ((n = parse_number("max-connections", optarg, 0, 1000)) < 0)
                goto error;
            t->max_connections = (int)n;
            break;
        case OPT_VERIFY_TO:
            set_string(&t->verify_to, optarg);
            break;
        case OPT_AUTH:
            if ((v = smtp_auth_parse(optarg)) < 0) {
                msg_error("--auth '%s': expected auto, plain, login, cram-md5 or xoauth2", optarg);
                goto error;
            }
            t->auth = (enum smtp_auth)v;
            break;
        case OPT_NO_TLS_VERIFY:
            t->tls_verify = false;
            break;
        case OPT_TLS_VERIFY:
            t->tls_verify = true;
            break;
        case OPT_PROVIDER:
        case OPT_REGION:
            break; /* applied by apply_preset */
        default:
            free_secret(password);
            fprintf(stderr, "byosmtpctl: unknown option, or option without its value: '%s'\n",
                    argv[optind - 1]);
            return ctl_usage(TARGET_USAGE);
        }
    }
    if (optind < argc) {
        free_secret(password);
        return ctl_usage(TARGET_USAGE);
    }
    if (password != NULL) {
        struct secret_key *key = ctl_key(ctl);
        char *enc = NULL;

        if (key == NULL)
            goto error;
        if (secret_encrypt(key, t->name, password, strlen(password), &enc, &err) < 0) {
            free_secret(password);
            return ctl_fail(err);
        }
        free(t->password_enc);
        t->password_enc = enc;
        *pw_given = true;
    }
    free_secret(password);
    return 0;
error:
    free_secret(password);
    return CTL_ERROR;
}

/* target_add_set - "target add NAME ..." and "target set NAME ..." */
static int target_add_set(struct ctl *ctl, bool add, int argc, char **argv)
{
    struct store *st;
    struct target t;
    char *err = NULL;
    bool pw_given;
    int rc;

    if (argc < 2 || argv[1][0] == '-')
        return ctl_usage(TARGET_USAGE);
    if (valid_target_name(argv[1], &err) < 0)
        return ctl_fail(err);
    if ((st = ctl_store(ctl, add ? STORE_CREATE : STORE_WRITE)) == NULL)
        return CTL_ERROR;
    if (add) {
        target_init(&t);
        set_string(&t.name, argv[1]);
    } else if (ctl_target_get(st, argv[1], &t) != CTL_OK) {
        return CTL_ERROR;
    }
    if ((rc = apply_preset(&t, argc - 1, argv + 1)) != 0 ||
        (rc = apply_options(ctl, &t, argc - 1, argv + 1, &pw_given)) != 0) {
        target_free(&t);
        return rc;
    }
    if (add && !pw_given) {
        target_free(&t);
        return ctl_usage("target add needs the password: --password-stdin or --password-file F");
    }
    if (store_target_put(st, &t, !add, &err) < 0) {
        target_free(&t);
        return ctl_fail(err);
    }
    printf("target %s %s\n", t.name, add ? "added" : "changed");
    target_free(&t);
    return CTL_OK;
}

/* print_time - unix time T as "YYYY-MM-DD HH:MM:SS UTC" */
static void print_time(FILE *fp, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];

    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fputs(buf, fp);
}

/* show_target - every field, "(set)" for the password, the routes and the last verification */
static int show_target(struct ctl *ctl, const char *name)
{
    struct store *st = ctl_store(ctl, STORE_READ);
    struct target_set all;
    struct verify_result v;
    struct target t;
    char *err = NULL;
    int rc;

    if (st == NULL)
        return CTL_ERROR;
    if (ctl_target_get(st, name, &t) != CTL_OK)
        return CTL_ERROR;
    target_show(&t, stdout);
    target_free(&t);
    if (store_get_all(st, &all, &err) < 0)
        return ctl_fail(err);
    printf("routes =");
    for (size_t i = 0, n = 0; i < all.nroutes; i++)
        if (strcmp(all.routes[i].target, name) == 0)
            printf("%s %s", n++ ? "," : "", all.routes[i].match);
    printf("\n");
    target_set_free(&all);
    if ((rc = store_verify_get(st, name, &v, &err)) < 0)
        return ctl_fail(err);
    printf("verified = ");
    if (rc == 0) {
        printf("never (run 'byosmtpctl verify %s')\n", name);
    } else {
        print_time(stdout, v.time);
        printf(v.ok ? " ok" : " failed: %s", v.error_class);
        if (*v.tls)
            printf(", %s", v.tls);
        if (*v.auth_mech)
            printf(", AUTH %s", v.auth_mech);
        if (*v.reply)
            printf(", reply \"%s\"", v.reply);
        printf("\n");
        if (*v.cert_subject)
            printf("verified_certificate = %s\n", v.cert_subject);
        verify_result_free(&v);
    }
    return CTL_OK;
}

/* target_list - one line per target, no credentials */
static int target_list(struct ctl *ctl)
{
    struct store *st = ctl_store(ctl, STORE_READ);
    struct target_set all;
    char *err = NULL;

    if (st == NULL)
        return CTL_ERROR;
    if (store_get_all(st, &all, &err) < 0)
        return ctl_fail(err);
    printf("%-20s %-36s %-9s %-32s %s\n", "NAME", "HOST:PORT", "SECURITY", "FROM", "VERIFIED");
    for (size_t i = 0; i < all.ntargets; i++) {
        const struct target *t = &all.targets[i];
        struct verify_result v;
        char *hostport = xasprintf("%s:%d", t->host, t->port);
        int rc = store_verify_get(st, t->name, &v, &err);

        printf("%-20s %-36s %-9s %-32s %s\n", t->name, hostport, smtp_security_name(t->security),
               t->from_address, rc < 0 ? "?" : rc == 0 ? "never" : v.ok ? "ok" : v.error_class);
        free(hostport);
        if (rc > 0)
            verify_result_free(&v);
        free(err);
        err = NULL;
    }
    target_set_free(&all);
    return CTL_OK;
}

int ctl_cmd_target(struct ctl *ctl, int argc, char **argv)
{
    char *err = NULL;

    if (argc < 2)
        return ctl_usage("byosmtpctl target add|set|show|list|rm ...");
    if (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "set") == 0)
        return target_add_set(ctl, strcmp(argv[1], "add") == 0, argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0) {
        if (argc != 3)
            return ctl_usage("byosmtpctl target show NAME");
        return show_target(ctl, argv[2]);
    }
    if (strcmp(argv[1], "list") == 0) {
        if (argc != 2)
            return ctl_usage("byosmtpctl target list");
        return target_list(ctl);
    }
    if (strcmp(argv[1], "rm") == 0) {
        struct store *st;

        if (argc != 3)
            return ctl_usage("byosmtpctl target rm NAME");
        if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
            return CTL_ERROR;
        if (store_target_del(st, argv[2], &err) < 0)
            return ctl_fail(err);
        printf("target %s removed\n", argv[2]);
        return CTL_OK;
    }
    return ctl_usage("byosmtpctl target add|set|show|list|rm ...");
}

/* route_test - print which target ADDRESS goes to and the rule that matched; 1 when none */
static int route_test(struct ctl *ctl, const char *addr)
{
    struct store *st = ctl_store(ctl, STORE_READ);
    char *target = NULL, *rule = NULL, *err = NULL;
    int rc;

    if (st == NULL)
        return CTL_ERROR;
    rc = store_route_lookup(st, addr, strlen(addr), &target, &rule, &err);
    if (rc < 0)
        return ctl_fail(err);
    if (rc == 0) {
        printf("%s -> no route (not relayed: the MTA delivers it as usual)\n", addr);
        return CTL_ERROR;
    }
    printf("%s -> %s (matched %s)\n", addr, target, rule);
    free(target);
    free(rule);
    return CTL_OK;
}

int ctl_cmd_route(struct ctl *ctl, int argc, char **argv)
{
    struct store *st;
    char *err = NULL;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "add") == 0) {
        if (argc != 4)
            return ctl_usage("byosmtpctl route add MATCH TARGET");
        if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
            return CTL_ERROR;
        if (store_route_put(st, argv[2], argv[3], &err) < 0)
            return ctl_fail(err);
        printf("route %s -> %s added\n", argv[2], argv[3]);
        return CTL_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "rm") == 0) {
        if (argc != 3)
            return ctl_usage("byosmtpctl route rm MATCH");
        if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
            return CTL_ERROR;
        if ((rc = store_route_del(st, argv[2], &err)) < 0)
            return ctl_fail(err);
        if (rc == 0)
            return ctl_fail(xasprintf("route '%s' does not exist (see 'byosmtpctl route list')",
                                      argv[2]));
        printf("route %s removed\n", argv[2]);
        return CTL_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        struct target_set all;

        if (argc != 2)
            return ctl_usage("byosmtpctl route list");
        if ((st = ctl_store(ctl, STORE_READ)) == NULL)
            return CTL_ERROR;
        if (store_get_all(st, &all, &err) < 0)
            return ctl_fail(err);
        for (size_t i = 0; i < all.nroutes; i++)
            printf("%s -> %s\n", all.routes[i].match, all.routes[i].target);
        target_set_free(&all);
        return CTL_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "test") == 0) {
        if (argc != 3)
            return ctl_usage("byosmtpctl route test ADDRESS");
        return route_test(ctl, argv[2]);
    }
    return ctl_usage("byosmtpctl route add MATCH TARGET | rm MATCH | list | test ADDRESS");
}

int ctl_cmd_providers(struct ctl *ctl, int argc, char **argv)
{
    const struct provider *p;

    (void)ctl;
    if (argc != 1)
        return ctl_usage("byosmtpctl providers");
    for (size_t i = 0; (p = provider_at(i)) != NULL; i++) {
        char *host = strstr(p->host, "%s") ? provider_host(p, "REGION", NULL) : xstrdup(p->host);

        printf("%s (%s)\n", p->name, p->title);
        printf("  host = %s, port = %d, security = %s", host, p->port,
               smtp_security_name(p->security));
        free(host);
        if (p->max_connections)
            printf(", max_connections = %d", p->max_connections);
        if (*p->rate)
            printf(", rate = %s", p->rate);
        printf("\n  username = %s\n", p->username ? p->username
                                                   : p->username_is_from ? "(the from address)"
                                                                          : "(give --username)");
        printf("  credentials: %s\n  notes: %s\n", p->username_note, p->notes);
    }
    return CTL_OK;
}
