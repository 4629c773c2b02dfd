/*
 * ctl_verify - "byosmtpctl verify TARGET [--to ADDR] [--no-send]" (doc/design.md, "Verification"; byosmtpctl(8)): connect to the
 * target's provider as delivery would, print each step as it happens, send a short test message
 * unless told not to, then print the result with its class and hint and store it on the target.
 * Attempts are rate-limited per target (verify.attempts per verify.window seconds), so a verify
 * button cannot be used to hammer a provider or guess a password.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "util/msg.h"
#include "smtp/smtp_client.h"
#include "delivery/oauth.h"
#include "delivery/target_smtp.h"
#include "util/https.h"

#define VERIFY_USAGE "byosmtpctl verify TARGET [--to ADDR] [--no-send]"

/* trace_step - print one step of the session at once, so a hanging step is visible */
static void trace_step(void *ctx, enum smtp_stage stage, const char *line)
{
    (void)ctx;
    printf("  %-8s %s\n", smtp_stage_name(stage), line);
    fflush(stdout);
}

/* trace_oauth - print one step of obtaining the OAuth2 access token (never the token) */
static void trace_oauth(void *ctx, const char *line)
{
    (void)ctx;
    printf("  %-8s %s\n", "oauth", line);
    fflush(stdout);
}

/* credential - what AUTH sends for T: the password, or an access token obtained as delivery
 * obtains it (the token step printed); CTL_OK with *secret, else the result is recorded */
static int credential(struct ctl *ctl, struct store *st, const struct target *t, char **secret,
                      struct smtp_result *res)
{
    struct oauth_env env = {.store = st, .key = ctl->key, .ca_file = ctl->conf->delivery.tls_ca_file,
                            .ca_path = ctl->conf->delivery.tls_ca_path,
                            .timeout = ctl->conf->delivery.connect_timeout,
                            .trace = trace_oauth};
    enum oauth_result rc;
    char *err = NULL;

    if (target_uses_oauth(t)) {
        https_init();
        printf("obtaining an OAuth2 access token for %s\n", t->username);
    }
    rc = oauth_credential(NULL, &env, t, false, secret, NULL, &err);
    if (rc == OAUTH_OK)
        return CTL_OK;
    res->cls = rc == OAUTH_SECRET ? SMTP_AUTH_FAILED : SMTP_OAUTH_REFRESH_FAILED;
    res->action = SMTP_RETRY;
    res->text = err;
    return CTL_ERROR;
}

/* rfc5322_date - the current time as an RFC 5322 date in UTC */
static void rfc5322_date(time_t now, char *buf, size_t n)
{
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* test_message - the short message verify sends: who, what and when, nothing secret */
static char *test_message(const struct target *t, const char *to, time_t now)
{
    char date[64], host[256];
    struct buf name, b;

    host_name(host, sizeof(host));
    rfc5322_date(now, date, sizeof(date));
    buf_init(&name);
    buf_init(&b);
    if (*t->from_name)
        buf_printf(&name, "\"%s\" ", t->from_name);
    buf_printf(&b,
               "From: %s<%s>\r\nTo: <%s>\r\nSubject: byosmtp verification of target %s\r\n"
               "Date: %s\r\nMessage-ID: <verify.%lld.%d.%s@%s>\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
               "This message was sent by 'byosmtpctl verify %s' on %s\r\n"
               "to check that mail for target %s can be relayed through %s:%d.\r\n"
               "No action is needed.\r\n",
               name.data, t->from_address, to, t->name, date, (long long)now, (int)getpid(),
               t->name, host, t->name, host, t->name, t->host, t->port);
    buf_free(&name);
    return buf_steal(&b);
}

/* refuse_rate - print when the next attempt is allowed */
static int refuse_rate(struct ctl *ctl, const char *name, int64_t now, int64_t next)
{
    char when[64];
    time_t tt = (time_t)next;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    msg_error("verify of target '%s' refused: %d attempts in the last %d seconds; the next attempt "
              "is allowed at %s (in %lld seconds); the limit is verify.attempts in byosmtp.conf",
              name, ctl->conf->verify.attempts, ctl->conf->verify.window, when,
              (long long)(next - now));
    return CTL_ERROR;
}

/* record - store what verify found on the target, and share it in cluster mode */
static void record(struct ctl *ctl, struct store *st, const struct target *t,
                   const struct smtp_result *res, time_t now)
{
    struct verify_result v = {.time = now, .ok = res->cls == SMTP_OK};
    char *tls = res->tls_version ? xasprintf("%s %s%s", res->tls_version,
                                             res->tls_cipher ? res->tls_cipher : "",
                                             res->tls_verified ? "" : " (certificate not verified)")
                                 : xstrdup("");
    char *err = NULL;

    v.error_class = (char *)(res->cls == SMTP_OK ? "" : smtp_class_name(res->cls));
    v.reply = res->reply ? res->reply : res->text ? res->text : "";
    v.tls = tls;
    v.cert_subject = res->tls_subject ? res->tls_subject : "";
    v.auth_mech = res->auth_mech ? res->auth_mech : t->auth == SMTP_AUTH_NONE ? "none" : "";
    if (store_verify_put(st, t->name, &v, &err) < 0) {
        msg_warn("the result was not stored: %s", err);
        free(err);
        err = NULL;
    }
    if (ctl_cluster(ctl) && cluster_verify_put(ctl_cluster(ctl), t->name, &v, &err) < 0) {
        msg_warn("the result was not shared with the other hosts: %s", err);
        free(err);
    }
    free(tls);
}

int ctl_verify_newest(struct ctl *ctl, struct store *st, const char *name,
                      struct verify_result *v, char **host, char **err)
{
    struct cluster *cl = ctl_cluster(ctl);
    struct verify_result shared;
    char *by = NULL, *cerr = NULL;
    int rc = store_verify_get(st, name, v, err), crc;

    *host = NULL;
    if (rc < 0 || !cl)
        return rc;
    crc = cluster_verify_get(cl, name, &shared, &by, &cerr);
    if (crc < 0) {
        free(cerr);
        return rc;
    }
    if (crc == 0)
        return rc;
    if ((rc == 0 || shared.time > v->time) && strcmp(by, cluster_host(cl)) != 0) {
        if (rc == 1)
            verify_result_free(v);
        *v = shared;
        *host = by;
        return 1;
    }
    verify_result_free(&shared);
    free(by);
    return rc;
}

/*
 * cluster_attempt - cluster mode: the attempt counted among every host's (Redis's clock);
 * CTL_OK to go on (also when Redis does not answer: this host's count still holds), or the
 * refusal printed
 */
static int cluster_attempt(struct ctl *ctl, const char *name, int64_t now)
{
    struct cluster *cl = ctl_cluster(ctl);
    int64_t next = 0;
    char *err = NULL;
    int rc;

    if (!cl)
        return CTL_OK;
    rc = cluster_verify_attempt(cl, name, ctl->conf->verify.attempts, ctl->conf->verify.window,
                                &next, &err);
    if (rc < 0) {
        msg_warn("cluster mode: %s: only this host's verify attempts are counted", err);
        free(err);
        return CTL_OK;
    }
    if (rc == 0) {
        rc = refuse_rate(ctl, name, now, next);
        msg_error("in cluster mode the attempts of every host of cluster.hosts count together "
                  "(doc/cluster.md)");
        return rc;
    }
    return CTL_OK;
}

/* password_usable - a password that does not decrypt is refused before it counts as an attempt
 * (auth none has none and needs no key; an OAuth2 target's secrets are read at its token step) */
static int password_usable(struct ctl *ctl, const struct target *t)
{
    struct secret_key *key;
    char *password = NULL, *err = NULL;
    size_t pwlen;

    if (t->auth == SMTP_AUTH_NONE)
        return CTL_OK;
    if ((key = ctl_key(ctl)) == NULL)
        return CTL_ERROR;
    if (!target_uses_oauth(t) &&
        secret_decrypt(key, t->name, t->password_enc, &password, &pwlen, &err) < 0) {
        msg_error("target '%s': %s", t->name, err);
        free(err);
        return CTL_ERROR;
    }
    free_secret(password);
    return CTL_OK;
}

int ctl_cmd_verify(struct ctl *ctl, int argc, char **argv)
{
    const char *name = NULL, *to = NULL;
    bool send = true;
    struct store *st;
    struct target t;
    struct smtp_params p;
    struct smtp_result res;
    struct smtp_client *client;
    char *password = NULL, *err = NULL;
    time_t now = time(NULL);
    int64_t next;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-send") == 0)
            send = false;
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return ctl_usage(VERIFY_USAGE);
    }
    if (name == NULL)
        return ctl_usage(VERIFY_USAGE);
    if (to != NULL && valid_address(to, &err) < 0) {
        msg_error("--to '%s': %s", to, err);
        free(err);
        return CTL_USAGE;
    }
    if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
        return CTL_ERROR;
    if (ctl_target_get(st, name, &t) != CTL_OK)
        return CTL_ERROR;
    if (password_usable(ctl, &t) != CTL_OK) {
        target_free(&t);
        return CTL_ERROR;
    }
    if (cluster_attempt(ctl, t.name, now) != CTL_OK) {
        target_free(&t);
        return CTL_ERROR;
    }
    rc = store_verify_attempt(st, t.name, now, ctl->conf->verify.attempts,
                              ctl->conf->verify.window, &next, &err);
    if (rc <= 0) {
        target_free(&t);
        return rc < 0 ? ctl_fail(err) : refuse_rate(ctl, name, now, next);
    }
    if (to == NULL)
        to = *t.verify_to ? t.verify_to : t.from_address;

    signal(SIGPIPE, SIG_IGN);
    if (t.auth == SMTP_AUTH_NONE)
        printf("verifying target %s: %s:%d, security %s, no AUTH (auth none: the relay must "
               "authorise this host by its IP address)%s\n", t.name, t.host, t.port,
               smtp_security_name(t.security), send ? "" : " (no test message)");
    else
        printf("verifying target %s: %s:%d, security %s, user %s%s\n", t.name, t.host, t.port,
               smtp_security_name(t.security), t.username, send ? "" : " (no test message)");
    smtp_result_init(&res);
    client = NULL;
    if (credential(ctl, st, &t, &password, &res) == CTL_OK) {
        target_smtp_params(&t, ctl->conf, password, &p);
        p.trace = trace_step;
        client = smtp_client_open(&p, &res);
        free_secret(password);
    }
    if (client != NULL && send) {
        char *message = test_message(&t, to, now);
        const char *rcpt[1] = {to};
        struct smtp_envelope env = {.sender = t.from_address, .rcpt = rcpt, .nrcpt = 1,
                                    .size = strlen(message), .body = SMTP_BODY_7BIT};
        struct smtp_source src = smtp_source_mem(message, strlen(message));
        struct smtp_result conn = res;

        /* keep the connection facts of open; the send fills its own result */
        smtp_result_init(&res);
        smtp_client_send(client, &env, &src, &res);
        res.tls_version = conn.tls_version, conn.tls_version = NULL;
        res.tls_cipher = conn.tls_cipher, conn.tls_cipher = NULL;
        res.tls_subject = conn.tls_subject, conn.tls_subject = NULL;
        res.tls_verified = conn.tls_verified;
        res.auth_mech = conn.auth_mech, conn.auth_mech = NULL;
        if (res.cls == SMTP_OK && res.nrcpt == 1 && res.rcpt[0].status != SMTP_RCPT_DELIVERED) {
            res.cls = res.rcpt[0].cls;
            res.action = res.rcpt[0].action;
        }
        smtp_result_free(&conn);
        free(message);
    }
    smtp_client_close(client);

    if (res.cls == SMTP_OK) {
        printf("result: ok%s%s%s%s\n", send ? ": test message accepted for " : "",
               send ? to : "", res.tls_verified || res.tls_version == NULL ? "" :
               " (certificate NOT verified: tls_verify = false)",
               t.auth == SMTP_AUTH_NONE ? " (no AUTH: auth none, authorised by IP address)" : "");
    } else {
        printf("result: failed: %s (%s)\n", smtp_class_name(res.cls), smtp_class_hint(res.cls));
        if (res.text)
            printf("  %s\n", res.text);
        if (res.reply)
            printf("  server said: %s\n", res.reply);
        else if (res.nrcpt == 1 && res.rcpt[0].reply)
            printf("  server said: %s\n", res.rcpt[0].reply);
    }
    record(ctl, st, &t, &res, now);
    rc = res.cls == SMTP_OK ? CTL_OK : CTL_ERROR;
    smtp_result_free(&res);
    target_free(&t);
    return rc;
}
