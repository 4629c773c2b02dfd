/*
 * ctl_target - "byosmtpctl target ..." and "byosmtpctl route ...": manage targets and routes
 * in the store one at a time. The options of "target add|set" are built from the field table
 * (store/target.h), each applied by its field's type. Every change is validated before it is
 * written, and the password is read from standard input or a file, encrypted at once, and never
 * printed. byosmtpctl is single-threaded.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "util/msg.h"
#include "smtp/provider.h"

/*
 * The options of "target add|set": each field's own, built from the field table (store/target.h),
 * then --provider and --region. An option's getopt value tells its field and its form.
 */
enum { OPT_PROVIDER = 256, OPT_REGION, OPT_FIELD = 512 };
#define TARGET_FIELDS_GIVEN 64 /* at least the rows of the field table */
enum form {
    FORM_VALUE, /* --OPTION VALUE */
    FORM_ON,    /* --OPTION of a TT_BOOL */
    FORM_OFF,   /* --no-OPTION of a TT_BOOL */
    FORM_STDIN, /* --OPTION-stdin of a TT_SECRET */
    FORM_FILE,  /* --OPTION-file F of a TT_SECRET */
    FORMS
};

#define TARGET_USAGE                                                                               \
    "byosmtpctl target add|set NAME [--provider P [--region R]] --host H --port P --username U "    \
    "(--password-stdin | "                                                                         \
    "--password-file F) --from ADDR [--security starttls|tls|none] [--from-name N] [--reply-to "   \
    "ADDR] [--quota N] [--rate N/s|N/m] [--max-connections N] [--verify-to ADDR] [--auth "         \
    "auto|plain|login|cram-md5|xoauth2] [--no-tls-verify | --tls-verify] [--oauth-token-url URL "  \
    "--oauth-client-id ID [--oauth-client-secret-file F] --oauth-refresh-token-file F "          \
    "[--oauth-scope S] | --oauth-token-command CMD] [--fallback-host HOST:PORT ...] [--fallback "   \
    "none|mta] [--fallback-after SECONDS]" TARGET_USAGE_ROUTING
/* auth none (no username, no password), the envelope sender, who may send through it */
#define TARGET_USAGE_ROUTING                                                                       \
    " [--auth none] [--envelope-from ADDR] [--allowed-sender MATCH]... [--no-allowed-senders]"

/* option_add - append option --PREFIX OPT SUFFIX (one word) to O */
static void option_add(struct option *o, size_t *n, const char *prefix, const char *opt,
                       const char *suffix, int has_arg, int val)
{
    o[(*n)++] = (struct option){xasprintf("%s%s%s", prefix, opt, suffix), has_arg, NULL, val};
}

/* options_build - the getopt table of "target add|set"; free it with options_free() */
static struct option *options_build(void)
{
    struct option *o = xcalloc(2 * target_nfields + 3, sizeof(*o));
    size_t n = 0;

    if (target_nfields > TARGET_FIELDS_GIVEN)
        abort(); /* raise TARGET_FIELDS_GIVEN */
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        int val = OPT_FIELD + (int)i * FORMS;

        if (f->option == NULL)
            continue;
        if (f->type == TT_BOOL) {
            option_add(o, &n, "", f->option, "", no_argument, val + FORM_ON);
            option_add(o, &n, "no-", f->option, "", no_argument, val + FORM_OFF);
        } else if (f->type == TT_MATCHES) {
            /* --allowed-sender MATCH (repeatable), --no-allowed-senders (empty the list) */
            option_add(o, &n, "", f->option, "", required_argument, val + FORM_VALUE);
            option_add(o, &n, "no-", f->option, "s", no_argument, val + FORM_OFF);
        } else if (f->type == TT_SECRET) {
            option_add(o, &n, "", f->option, "-stdin", no_argument, val + FORM_STDIN);
            option_add(o, &n, "", f->option, "-file", required_argument, val + FORM_FILE);
        } else {
            option_add(o, &n, "", f->option, "", required_argument, val + FORM_VALUE);
        }
    }
    option_add(o, &n, "", "provider", "", required_argument, OPT_PROVIDER);
    option_add(o, &n, "", "region", "", required_argument, OPT_REGION);
    return o;
}

/* options_free - free a table of options_build() */
static void options_free(struct option *o)
{
    for (size_t i = 0; o[i].name != NULL; i++)
        free((char *)o[i].name);
    free(o);
}

/* option_field - the field of getopt value OPT (>= OPT_FIELD), and its form in *form */
static const struct target_field *option_field(int opt, enum form *form)
{
    *form = (enum form)((opt - OPT_FIELD) % FORMS);
    return &target_fields[(opt - OPT_FIELD) / FORMS];
}

/* option_val - the getopt value of field KEY's option in FORM */
static int option_val(const char *key, enum form form)
{
    return OPT_FIELD + (int)(target_field_find(key) - target_fields) * FORMS + (int)form;
}

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
static int apply_preset(struct target *t, int argc, char **argv, const struct option *options)
{
    const struct provider *p = NULL;
    const char *region = NULL, *from = NULL;
    int from_opt = option_val("from_address", FORM_VALUE);
    char *host, *err = NULL;
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_PROVIDER && (p = provider_find(optarg)) == NULL) {
            msg_error("--provider '%s': unknown; 'byosmtpctl providers' lists the presets", optarg);
            return CTL_ERROR;
        }
        if (opt == OPT_REGION)
            region = optarg;
        if (opt == from_opt)
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
    if (p->auth != SMTP_AUTH_AUTO)
        t->auth = p->auth;
    if (p->oauth_token_url != NULL)
        set_string(&t->oauth_token_url, p->oauth_token_url);
    if (p->oauth_scope != NULL)
        set_string(&t->oauth_scope, p->oauth_scope);
    return 0;
}

/*
 * apply_match - "--allowed-sender MATCH": MATCH added to the list of field F (the first one of a
 * command replaces the stored list: see apply_option); 0, or -1 after printing why
 */
static int apply_match(struct target *t, const struct target_field *f, const char *value)
{
    char buf[TARGET_TEXT_MAX];
    const char *cur = target_field_text(t, f, buf);
    char *list = xasprintf("%s%s%s", cur, cur[0] != '\0' ? "\n" : "", value);
    const char **items = xcalloc(strlen(list) + 1, sizeof(*items));
    char *joined, *err = NULL;
    size_t n = 0;

    for (char *p = list; p != NULL; n++) {
        items[n] = p;
        if ((p = strchr(p, '\n')) != NULL)
            *p++ = '\0';
    }
    joined = route_match_list(items, n, &err);
    free(items);
    free(list);
    if (joined == NULL) {
        msg_error("--%s '%s': %s", f->option, value, err);
        free(err);
        return -1;
    }
    target_field_set_string(t, f, joined);
    free(joined);
    return 0;
}

/*
 * add_host - "--fallback-host HOST:PORT" (repeatable) adds to the list; the first one of this
 * command finds it emptied (apply_option: it replaces the stored list), "" adds nothing
 */
static int add_host(struct target *t, const struct target_field *f, const char *value)
{
    char buf[TARGET_TEXT_MAX], *err = NULL, *list;
    const char *old = target_field_text(t, f, buf);

    if (value[0] != '\0' && valid_host_port(value, &err) < 0) {
        msg_error("--%s: %s", f->option, err);
        free(err);
        return -1;
    }
    list = xasprintf("%s%s%s", old, old[0] != '\0' && value[0] != '\0' ? "," : "", value);
    target_field_set_string(t, f, list);
    free(list);
    return 0;
}

/* apply_value - "--OPTION VALUE" to field F of T; 0, or -1 after printing why */
static int apply_value(struct target *t, const struct target_field *f, const char *value)
{
    long long n;
    char *words;

    switch (f->type) {
    case TT_INT:
    case TT_UINT64:
        n = parse_number(f->option, value, f->min, f->option_max ? f->option_max : f->max);
        if (n < 0)
            return -1;
        target_field_set_number(t, f, n);
        return 0;
    case TT_ENUM:
        if ((n = f->words->parse(value)) < 0) {
            words = target_field_words(f, " or ");
            msg_error("--%s '%s': expected %s", f->option, value, words);
            free(words);
            return -1;
        }
        target_field_set_number(t, f, n);
        return 0;
    case TT_MATCHES:
        return apply_match(t, f, value);
    case TT_HOSTLIST:
        return add_host(t, f, value);
    case TT_NAME:
    case TT_STRING:
    case TT_ADDRESS:
    case TT_SECRET: /* a secret and a bool have their own forms: never FORM_VALUE */
    case TT_BOOL:
        break;
    }
    target_field_set_string(t, f, value);
    return 0;
}

/* The secrets read from options (one per TT_SECRET field), waiting to be encrypted once the
 * target's name is settled; standard input can give only one of them. */
struct secret_input {
    char **plain;         /* target_nfields entries; NULL: not given */
    bool stdin_used;
};

/* read_secret - "--OPTION-stdin" or "--OPTION-file F": each at most once, standard input once;
 * CTL_OK, or the exit status */
static int read_secret(struct secret_input *in, const struct target_field *f, enum form form,
                       const char *file)
{
    char **plain = &in->plain[f - target_fields];
    char *prompt, *why = NULL;
    int rc;

    if (*plain != NULL)
        why = xasprintf("give the %s once: --%s-stdin or --%s-file F", f->key, f->option,
                        f->option);
    else if (form == FORM_STDIN && in->stdin_used)
        why = xasprintf("standard input can give only one secret: give the %s with --%s-file F",
                        f->key, f->option);
    if (why != NULL) {
        rc = ctl_usage(why);
        free(why);
        return rc;
    }
    if (form == FORM_FILE) {
        *plain = ctl_read_password_file(file);
    } else {
        in->stdin_used = true;
        prompt = xasprintf("%c%s: ", toupper((unsigned char)f->key[0]), f->key + 1);
        *plain = ctl_read_password(prompt);
        free(prompt);
    }
    return *plain != NULL ? CTL_OK : CTL_ERROR;
}

/* seal_secrets - encrypt each secret read, for T's name, into its field; CTL_OK or CTL_ERROR */
static int seal_secrets(struct ctl *ctl, struct target *t, const struct secret_input *in)
{
    struct secret_key *key = NULL;
    char *enc = NULL, *err = NULL;

    for (size_t i = 0; i < target_nfields; i++) {
        if (in->plain[i] == NULL)
            continue;
        if (key == NULL && (key = ctl_key(ctl)) == NULL)
            return CTL_ERROR;
        if (secret_encrypt(key, t->name, in->plain[i], strlen(in->plain[i]), &enc, &err) < 0)
            return ctl_fail(err);
        target_field_set_string(t, &target_fields[i], enc);
        free(enc);
        enc = NULL;
    }
    return CTL_OK;
}

/* What one "target add|set" command has given so far, beyond the target itself. */
struct given {
    struct secret_input secret;
    bool field[TARGET_FIELDS_GIVEN]; /* by row of the field table */
};

/* apply_option - getopt's OPT (with optarg) to T; CTL_OK, or the exit status after printing why */
static int apply_option(struct target *t, int opt, struct given *g, char **argv)
{
    const struct target_field *f;
    enum form form;
    bool first;

    if (opt == OPT_PROVIDER || opt == OPT_REGION)
        return CTL_OK; /* applied by apply_preset */
    if (opt < OPT_FIELD) {
        fprintf(stderr, "byosmtpctl: unknown option, or option without its value: '%s'\n",
                argv[optind - 1]);
        return ctl_usage(TARGET_USAGE);
    }
    f = option_field(opt, &form);
    first = !g->field[f - target_fields];
    g->field[f - target_fields] = true;
    if ((f->type == TT_MATCHES || f->type == TT_HOSTLIST) && (form == FORM_OFF || first))
        target_field_set_string(t, f, ""); /* the list given replaces the stored one */
    if (f->type == TT_MATCHES && form == FORM_OFF)
        return CTL_OK;
    switch (form) {
    case FORM_ON:
    case FORM_OFF:
        target_field_set_number(t, f, form == FORM_ON);
        return CTL_OK;
    case FORM_STDIN:
    case FORM_FILE:
        return read_secret(&g->secret, f, form, optarg);
    case FORM_VALUE:
    case FORMS:
        break;
    }
    return apply_value(t, f, optarg) < 0 ? CTL_ERROR : CTL_OK;
}

/*
 * drop_credentials - under auth none, the stored username and password that this command did not
 * give are removed (a relay that authorises by IP address gets none); given ones are left for
 * validation to refuse
 */
static void drop_credentials(struct target *t, const struct given *g)
{
    bool dropped = false;

    if (t->auth != SMTP_AUTH_NONE)
        return;
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        char buf[TARGET_TEXT_MAX];

        if (!f->credential || g->field[i] || target_field_text(t, f, buf)[0] == '\0')
            continue;
        target_field_set_string(t, f, "");
        dropped = true;
    }
    if (dropped)
        printf("auth none: target %s has no username and no password (a relay that authorises "
               "by IP address gets none): removed\n", t->name);
}

/*
 * apply_options - apply "target add/set" options to T. GIVEN[i] (target_nfields entries) tells
 * whether the secret of field i came. Returns 0, or CTL_USAGE / CTL_ERROR after printing why.
 */
static int apply_options(struct ctl *ctl, struct target *t, int argc, char **argv,
                         const struct option *options, bool *given)
{
    struct given g = {{xcalloc(target_nfields, sizeof(char *)), false}, {false}};
    int opt, rc = CTL_OK;

    optind = 0;
    opterr = 0;
    while (rc == CTL_OK && (opt = getopt_long(argc, argv, "", options, NULL)) != -1)
        rc = apply_option(t, opt, &g, argv);
    if (rc == CTL_OK && optind < argc)
        rc = ctl_usage(TARGET_USAGE);
    if (rc == CTL_OK)
        drop_credentials(t, &g);
    if (rc == CTL_OK)
        rc = seal_secrets(ctl, t, &g.secret);
    for (size_t i = 0; i < target_nfields; i++) {
        given[i] = rc == CTL_OK && g.secret.plain[i] != NULL;
        free_secret(g.secret.plain[i]);
    }
    free(g.secret.plain);
    return rc;
}

/* missing_secret - a secret that T needs and "target add" was not given, or NULL */
static const struct target_field *missing_secret(const struct target *t, const bool *given)
{
    for (size_t i = 0; i < target_nfields; i++)
        if (target_fields[i].type == TT_SECRET && target_field_required(t, &target_fields[i]) &&
            !given[i])
            return &target_fields[i];
    return NULL;
}

/* target_add_set - "target add NAME ..." and "target set NAME ..." */
static int target_add_set(struct ctl *ctl, bool add, int argc, char **argv)
{
    const struct target_field *secret;
    struct option *options;
    struct store *st;
    struct target t;
    char *err = NULL;
    bool *given;
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
    options = options_build();
    given = xcalloc(target_nfields, sizeof(bool));
    if ((rc = apply_preset(&t, argc - 1, argv + 1, options)) == 0)
        rc = apply_options(ctl, &t, argc - 1, argv + 1, options, given);
    options_free(options);
    if (rc == 0 && add && (secret = missing_secret(&t, given)) != NULL) {
        err = xasprintf("target add needs the %s: --%s-stdin or --%s-file F", secret->key,
                        secret->option, secret->option);
        rc = ctl_usage(err);
        free(err);
        err = NULL;
    }
    if (rc == 0 && store_target_put(st, &t, !add, &err) < 0)
        rc = ctl_fail(err);
    if (rc == 0)
        printf("target %s %s\n", t.name, add ? "added" : "changed");
    target_free(&t);
    free(given);
    return rc;
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
    char *err = NULL, *by = NULL;
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
    printf("\nsender_routes =");
    for (size_t i = 0, n = 0; i < all.nsender_routes; i++)
        if (strcmp(all.sender_routes[i].target, name) == 0)
            printf("%s %s", n++ ? "," : "", all.sender_routes[i].match);
    printf("\n");
    target_set_free(&all);
    if ((rc = ctl_verify_newest(ctl, st, name, &v, &by, &err)) < 0)
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
        if (by)
            printf(" (on host %s)", by);
        printf("\n");
        if (*v.cert_subject)
            printf("verified_certificate = %s\n", v.cert_subject);
        verify_result_free(&v);
    }
    free(by);
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
        char *by = NULL;
        int rc = ctl_verify_newest(ctl, st, t->name, &v, &by, &err);

        printf("%-20s %-36s %-9s %-32s %s\n", t->name, hostport, smtp_security_name(t->security),
               t->from_address, rc < 0 ? "?" : rc == 0 ? "never" : v.ok ? "ok" : v.error_class);
        free(hostport);
        free(by);
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
        if (p->auth != SMTP_AUTH_AUTO)
            printf("  auth = %s", smtp_auth_name(p->auth));
        if (p->oauth_token_url != NULL)
            printf(", oauth_token_url = %s,\n  oauth_scope = %s", p->oauth_token_url,
                   p->oauth_scope);
        if (p->auth != SMTP_AUTH_AUTO)
            printf("\n");
        printf("  credentials: %s\n  notes: %s\n", p->username_note, p->notes);
    }
    return CTL_OK;
}
