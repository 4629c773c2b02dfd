/*
 * ctl_load - the byosmtpctl commands that move whole sets of data: "key generate", "encrypt",
 * "load" (targets.conf into the store, all or nothing), "dump" (the store as targets.conf)
 * and "quota" (the month's counts per target).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "util/msg.h"

int ctl_cmd_key(struct ctl *ctl, int argc, char **argv)
{
    char *err = NULL;

    if (argc != 2 || strcmp(argv[1], "generate") != 0)
        return ctl_usage("byosmtpctl key generate");
    if (secret_key_generate(ctl->conf->secrets.key_file, &err) < 0)
        return ctl_fail(err);
    printf("master key written to %s (mode 0600); keep a copy in a safe place: without it the "
           "stored passwords cannot be used\n", ctl->conf->secrets.key_file);
    return CTL_OK;
}

int ctl_cmd_encrypt(struct ctl *ctl, int argc, char **argv)
{
    struct secret_key *key;
    char *password, *enc = NULL, *err = NULL;
    int rc;

    if (argc != 2)
        return ctl_usage("byosmtpctl encrypt NAME   (the password is read from standard input; "
                         "NAME is the target it is for)");
    if (valid_target_name(argv[1], &err) < 0)
        return ctl_fail(err);
    if ((key = ctl_key(ctl)) == NULL)
        return CTL_ERROR;
    if ((password = ctl_read_password("Password: ")) == NULL)
        return CTL_ERROR;
    rc = secret_encrypt(key, argv[1], password, strlen(password), &enc, &err);
    free_secret(password);
    if (rc < 0)
        return ctl_fail(err);
    printf("%s\n", enc);
    free(enc);
    return CTL_OK;
}

/* check_secrets - every other secret of T (OAuth2) decrypts for T: NULL, or the field that does
 * not, with *err */
static const struct target_field *check_secrets(const struct secret_key *key,
                                                const struct target *t, char **err)
{
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        const char *enc;
        char *plain = NULL;
        size_t len;

        if (f->type != TT_SECRET || f->file_key != NULL)
            continue;
        enc = *(char *const *)((const char *)t + f->offset);
        if (enc == NULL || *enc == '\0')
            continue;
        if (secret_decrypt(key, t->name, enc, &plain, &len, err) < 0)
            return f;
        free_secret(plain);
    }
    return NULL;
}

/*
 * seal_passwords - make every target of SET hold secrets that decrypt with the master key:
 * password_file entries are read and encrypted, enc:v1 values are test-decrypted (a target
 * without a password, OAuth2, has none to check).
 */
static int seal_passwords(struct ctl *ctl, const char *file, struct target_set *set,
                          char **pwfiles)
{
    struct secret_key *key = ctl_key(ctl);

    if (key == NULL)
        return -1;
    for (size_t i = 0; i < set->ntargets; i++) {
        struct target *t = &set->targets[i];
        const struct target_field *bad;
        char *plain = NULL, *err = NULL;
        size_t len;
        int rc = 0;

        if (t->auth == SMTP_AUTH_NONE && t->password_enc[0] == '\0')
            continue; /* a relay that authorises by IP address: no password at all */
        if (pwfiles && pwfiles[i]) {
            if ((plain = ctl_read_password_file(pwfiles[i])) == NULL)
                return -1;
            free(t->password_enc);
            t->password_enc = NULL;
            rc = secret_encrypt(key, t->name, plain, strlen(plain), &t->password_enc, &err);
        } else if (*t->password_enc != '\0' || !target_uses_oauth(t)) {
            rc = secret_decrypt(key, t->name, t->password_enc, &plain, &len, &err);
        }
        free_secret(plain);
        if (rc < 0) {
            msg_error("%s:%d: password of target '%s': %s", file, t->line, t->name, err);
            free(err);
            return -1;
        }
        if ((bad = check_secrets(key, t, &err)) != NULL) {
            msg_error("%s:%d: %s of target '%s': %s", file, t->line, bad->key, t->name, err);
            free(err);
            return -1;
        }
    }
    return 0;
}

/* sender_count - ", N sender routes" when SET has any, else "" (in BUF) */
static const char *sender_count(const struct target_set *set, char *buf, size_t n)
{
    buf[0] = '\0';
    if (set->nsender_routes > 0)
        snprintf(buf, n, ", %zu sender route%s", set->nsender_routes,
                 set->nsender_routes == 1 ? "" : "s");
    return buf;
}

int ctl_cmd_load(struct ctl *ctl, int argc, char **argv)
{
    char count[64];
    struct target_set set;
    struct store *st;
    char **pwfiles = NULL, *err = NULL;
    bool dry_run = false;
    const char *file = NULL;
    int status = CTL_ERROR;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0)
            dry_run = true;
        else if (file == NULL && argv[i][0] != '-')
            file = argv[i];
        else
            return ctl_usage("byosmtpctl load FILE [--dry-run]");
    }
    if (file == NULL)
        return ctl_usage("byosmtpctl load FILE [--dry-run]");
    memset(&set, 0, sizeof(set));
    if (target_set_parse_file(file, &set, &pwfiles, &err) < 0)
        return ctl_fail(err);
    if (seal_passwords(ctl, file, &set, pwfiles) < 0)
        goto out;
    if (dry_run) {
        printf("%s: %zu targets, %zu routes%s: valid (dry run: the store was not changed)\n",
               file, set.ntargets, set.nroutes, sender_count(&set, count, sizeof(count)));
        status = CTL_OK;
        goto out;
    }
    if ((st = ctl_store(ctl, STORE_CREATE)) == NULL)
        goto out;
    if (store_replace_all(st, &set, &err) < 0) {
        msg_error("%s: %s", file, err);
        free(err);
        goto out;
    }
    printf("%s: loaded %zu targets, %zu routes%s into %s\n", file, set.ntargets, set.nroutes,
           sender_count(&set, count, sizeof(count)), store_path(st));
    status = CTL_OK;
out:
    if (pwfiles) {
        for (size_t i = 0; i < set.ntargets; i++)
            free(pwfiles[i]);
        free(pwfiles);
    }
    target_set_free(&set);
    return status;
}

int ctl_cmd_dump(struct ctl *ctl, int argc, char **argv)
{
    struct target_set set;
    struct store *st;
    char *err = NULL;

    if (argc != 1)
        return ctl_usage("byosmtpctl dump");
    if ((st = ctl_store(ctl, STORE_READ)) == NULL)
        return CTL_ERROR;
    if (store_get_all(st, &set, &err) < 0)
        return ctl_fail(err);
    target_set_print(&set, stdout);
    target_set_free(&set);
    return CTL_OK;
}

/* valid_month - "YYYY-MM" with a month from 01 to 12 */
static bool valid_month(const char *m)
{
    return strlen(m) == 7 && m[4] == '-' && strspn(m, "0123456789-") == 7 &&
           strchr(m + 5, '-') == NULL && strchr(m, '-') == m + 4 &&
           atoi(m + 5) >= 1 && atoi(m + 5) <= 12;
}

/*
 * cluster_split - cluster mode: the cluster total of T for MONTH into *used, and one line per
 * host after the row (PARTS); -1 with a warning when Redis does not answer (USED stays local)
 */
static int cluster_split(struct cluster *cl, const struct target *t, const char *month,
                         uint64_t *used, struct cluster_part **parts, size_t *nparts)
{
    char *err = NULL;

    *parts = NULL;
    *nparts = 0;
    if (!cl || t->monthly_quota == 0)
        return 0;
    if (cluster_quota_split(cl, t->name, month, parts, nparts, used, &err) < 0) {
        msg_warn("target %s: %s: USED is this host's count only", t->name, err);
        free(err);
        return -1;
    }
    return 0;
}

int ctl_cmd_quota(struct ctl *ctl, int argc, char **argv)
{
    struct target_set set;
    struct store *st;
    struct cluster *cl;
    const char *only = NULL;
    char month[8], *err = NULL;
    size_t shown = 0;
    int rc = CTL_OK;

    store_month((int64_t)time(NULL), month);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--month") == 0 && i + 1 < argc) {
            if (!valid_month(argv[++i])) {
                msg_error("--month '%s': expected YYYY-MM, e.g. %s", argv[i], month);
                return CTL_USAGE;
            }
            memcpy(month, argv[i], 8);
        } else if (only == NULL && argv[i][0] != '-') {
            only = argv[i];
        } else {
            return ctl_usage("byosmtpctl quota [TARGET] [--month YYYY-MM]");
        }
    }
    if ((st = ctl_store(ctl, STORE_READ)) == NULL)
        return CTL_ERROR;
    cl = ctl_cluster(ctl); /* NULL when off, or after a warning: this host's counts */
    if (!cl && ctl->conf->cluster.enabled)
        rc = CTL_ERROR;
    if (store_get_all(st, &set, &err) < 0)
        return ctl_fail(err);
    printf("%-20s %-7s %12s %12s %10s %10s\n", "TARGET", "MONTH", "USED", "LIMIT", "DELIVERED",
           "BOUNCED");
    for (size_t i = 0; i < set.ntargets; i++) {
        const struct target *t = &set.targets[i];
        struct quota_record q;
        struct cluster_part *parts;
        size_t nparts;
        uint64_t used;
        char limit[32];

        if (only && strcmp(only, t->name) != 0)
            continue;
        if (store_quota_get(st, t->name, month, &q, &err) < 0) {
            target_set_free(&set);
            return ctl_fail(err);
        }
        used = q.accepted;
        if (cluster_split(cl, t, month, &used, &parts, &nparts) < 0)
            rc = CTL_ERROR;
        if (t->monthly_quota)
            snprintf(limit, sizeof(limit), "%llu", (unsigned long long)t->monthly_quota);
        else
            snprintf(limit, sizeof(limit), "unlimited");
        printf("%-20s %-7s %12llu %12s %10llu %10llu\n", t->name, month,
               (unsigned long long)used, limit, (unsigned long long)q.delivered,
               (unsigned long long)q.bounced);
        for (size_t k = 0; k < nparts; k++)
            printf("  host %-15s %12llu%s\n", parts[k].host, (unsigned long long)parts[k].count,
                   strcmp(parts[k].host, cluster_host(cl)) == 0 ? "  (this host)" : "");
        cluster_parts_free(parts, nparts);
        shown++;
    }
    target_set_free(&set);
    if (only && shown == 0)
        return ctl_fail(xasprintf("target '%s' does not exist (see 'byosmtpctl target list')",
                                  only));
    return rc;
}
