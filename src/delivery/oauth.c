/*
 * oauth - the XOAUTH2 access token of a target (see oauth.h): the cache, the refresh token
 * grant, the reply's parsing and the storing of a rotated refresh token. The token command is
 * oauth_command.c.
 */
#include "config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "delivery/oauth.h"
#include "util/https.h"
#include "util/msg.h"
#include "util/util.h"

/* One target's token. Its fields change only under its lock. */
struct entry {
    char *name;
    char *fp;           /* what the token was obtained with (fingerprint()); another: not used */
    char *access;       /* the access token (a secret), or NULL */
    double refresh_at;  /* monotonic seconds: obtain a new one from then on */
    /* A rotated refresh token: USE_ENC (encrypted) is used in place of REPLACED_ENC, the one a
     * target read before the rotation holds; IN_STORE: USE_ENC is the store's now (otherwise
     * the store would not take it, and REPLACED_ENC still is). NULL, NULL: none. */
    char *replaced_enc;
    char *use_enc;
    bool in_store;
    pthread_mutex_t lock;
    struct entry *next;
};

struct oauth_cache {
    pthread_mutex_t lock; /* guards the list */
    struct entry *list;
};

/* mono - monotonic seconds: a token's life does not follow the wall clock's jumps */
static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct oauth_cache *oauth_cache_new(void)
{
    struct oauth_cache *c = xcalloc(1, sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void oauth_cache_free(struct oauth_cache *c)
{
    struct entry *e, *next;

    if (c == NULL)
        return;
    for (e = c->list; e != NULL; e = next) {
        next = e->next;
        free(e->name);
        free(e->fp);
        free_secret(e->access);
        free(e->replaced_enc);
        free(e->use_enc);
        pthread_mutex_destroy(&e->lock);
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* entry_of - NAME's entry, made when missing */
static struct entry *entry_of(struct oauth_cache *c, const char *name)
{
    struct entry *e;

    pthread_mutex_lock(&c->lock);
    for (e = c->list; e != NULL && strcmp(e->name, name) != 0; e = e->next)
        ;
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        e->name = xstrdup(name);
        pthread_mutex_init(&e->lock, NULL);
        e->next = c->list;
        c->list = e;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

/* fingerprint - every field a token depends on, with REFRESH_ENC as the refresh token */
static char *fingerprint(const struct target *t, const char *refresh_enc)
{
    return xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s", t->username, t->oauth_token_url,
                     t->oauth_client_id, t->oauth_client_secret_enc, refresh_enc,
                     t->oauth_scope, t->oauth_token_command);
}

/* trace - one step for verify */
static void trace(const struct oauth_env *env, const char *fmt, ...) BYO_PRINTF(2, 3);

static void trace(const struct oauth_env *env, const char *fmt, ...)
{
    va_list ap;
    char *line;

    if (env->trace == NULL)
        return;
    va_start(ap, fmt);
    line = xvasprintf(fmt, ap);
    va_end(ap);
    env->trace(env->trace_ctx, line);
    free(line);
}

double oauth_refresh_at(double now, long expires_in)
{
    double ahead = expires_in >= 300 ? 60 : (double)expires_in / 5;

    return now + (double)expires_in - ahead;
}

/* ---- the reply ---- */

void oauth_reply_free(struct oauth_reply *r)
{
    free_secret(r->access_token);
    free_secret(r->refresh_token);
    memset(r, 0, sizeof(*r));
}

/* error_meaning - what an RFC 6749 5.2 error code means for the admin */
static const char *error_meaning(const char *code)
{
    static const struct {
        const char *code, *meaning;
    } known[] = {
        {"invalid_grant", "the refresh token was revoked or has expired: consent again and store "
                          "the new refresh token (Google revokes the refresh tokens of apps left "
                          "in \"Testing\" after 7 days)"},
        {"invalid_client", "the endpoint does not accept the client: check oauth_client_id and "
                           "oauth_client_secret"},
        {"unauthorized_client", "the client may not use refresh tokens: check the app "
                                "registration"},
        {"invalid_scope", "the scope is not granted to this client: check oauth_scope"},
        {"invalid_request", "the endpoint refused the request: check oauth_token_url and "
                            "oauth_client_id"},
        {"unsupported_grant_type", "the endpoint does not take refresh tokens: check "
                                   "oauth_token_url"},
    };

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(code, known[i].code) == 0)
            return known[i].meaning;
    return "check the app registration, oauth_client_id and oauth_client_secret";
}

/* json_text - the string member KEY of OBJ, or NULL */
static const char *json_text(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* reply_error - the message for an endpoint's refusal: status, error code, meaning, description */
static int reply_error(long status, json_t *root, char **err)
{
    const char *code = root != NULL ? json_text(root, "error") : NULL;
    const char *desc = root != NULL ? json_text(root, "error_description") : NULL;
    char *scode, *sdesc;

    if (code == NULL) {
        if (status >= 500 || status == 429)
            return set_err(err, "the token endpoint answered HTTP %ld (it will be asked again)",
                           status);
        return set_err(err, "the token endpoint answered HTTP %ld without an OAuth2 error: check "
                            "oauth_token_url", status);
    }
    scode = text_line(code, 40);
    sdesc = desc != NULL ? text_line(desc, 160) : NULL;
    set_err(err, "the token endpoint answered HTTP %ld %s: %s%s%s%s", status, scode,
            error_meaning(code), sdesc ? " (\"" : "", sdesc ? sdesc : "", sdesc ? "\")" : "");
    free(scode);
    free(sdesc);
    return -1;
}

/* reply_lifetime - expires_in as a number or a string of digits; the default when absent */
static long reply_lifetime(json_t *root)
{
    json_t *v = json_object_get(root, "expires_in");
    long n = -1;

    if (json_is_integer(v))
        n = (long)json_integer_value(v);
    else if (json_is_string(v) && strspn(json_string_value(v), "0123456789") ==
                                      strlen(json_string_value(v)) &&
             *json_string_value(v) != '\0' && strlen(json_string_value(v)) < 10)
        n = atol(json_string_value(v));
    return n > 0 ? n : OAUTH_DEFAULT_LIFETIME;
}

/* oauth_token_printable - a token that can travel in an XOAUTH2 response: printable ASCII, no
 * blank */
bool oauth_token_printable(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

int oauth_parse_reply(long status, const char *body, size_t len, struct oauth_reply *r,
                      char **err)
{
    json_t *root = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *access, *type, *refresh;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }
    if (status != 200) {
        rc = reply_error(status, root, err);
        goto out;
    }
    if (root == NULL) {
        set_err(err, "the token endpoint answered HTTP 200 without a JSON object: check "
                     "oauth_token_url");
        goto out;
    }
    access = json_text(root, "access_token");
    type = json_text(root, "token_type");
    refresh = json_text(root, "refresh_token");
    if (access == NULL || !oauth_token_printable(access)) {
        set_err(err, "the token endpoint's reply holds no usable access_token: check "
                     "oauth_token_url");
    } else if (type != NULL && strcasecmp(type, "bearer") != 0) {
        char *st = text_line(type, 40);

        set_err(err, "the token endpoint gave a token of type '%s', not Bearer", st);
        free(st);
    } else {
        r->access_token = xstrdup(access);
        r->expires_in = reply_lifetime(root);
        if (refresh != NULL && oauth_token_printable(refresh))
            r->refresh_token = xstrdup(refresh);
        rc = 0;
    }
out:
    if (root != NULL) {
        /* the parsed strings held the tokens: wipe them before jansson frees them */
        const char *keys[] = {"access_token", "refresh_token", "id_token"};

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            json_t *v = json_object_get(root, keys[i]);

            if (json_is_string(v))
                wipe((char *)json_string_value(v), json_string_length(v));
        }
        json_decref(root);
    }
    return rc;
}

/* ---- the refresh token grant ---- */

/* form_add - "&NAME=VALUE" (url-encoded; no '&' first) to the form B */
static void form_add(struct buf *b, const char *name, const char *value)
{
    char *v = url_encode(value);

    buf_printf(b, "%s%s=%s", b->len > 0 ? "&" : "", name, v);
    free_secret(v);
}

/* decrypt - the secret ENC of field KEY of T; OAUTH_OK or OAUTH_SECRET with *err */
static enum oauth_result decrypt(const struct oauth_env *env, const struct target *t,
                                 const char *what, const char *enc, char **out, char **err)
{
    size_t len;
    char *why = NULL;

    if (secret_decrypt(env->key, t->name, enc, out, &len, &why) == 0)
        return OAUTH_OK;
    set_err(err, "%s: %s", what, why);
    free(why);
    return OAUTH_SECRET;
}

/*
 * grant - POST the refresh token REFRESH_ENC of T to its token endpoint; OAUTH_OK with *r, or
 * an error with *err
 */
static enum oauth_result grant(const struct oauth_env *env, const struct target *t,
                               const char *refresh_enc, struct oauth_reply *r, char **err)
{
    struct https_request req = {.url = t->oauth_token_url,
                                .content_type = "application/x-www-form-urlencoded",
                                .ca_file = env->ca_file,
                                .ca_path = env->ca_path,
                                .timeout_ms = (long)(env->timeout > 0 ? env->timeout : 30) * 1000};
    struct https_response resp;
    char *refresh = NULL, *secret = NULL, *why = NULL;
    struct buf form;
    enum oauth_result rc;

    if ((rc = decrypt(env, t, "oauth_refresh_token", refresh_enc, &refresh, err)) != OAUTH_OK)
        return rc;
    if (*t->oauth_client_secret_enc != '\0' &&
        (rc = decrypt(env, t, "oauth_client_secret", t->oauth_client_secret_enc, &secret,
                      err)) != OAUTH_OK) {
        free_secret(refresh);
        return rc;
    }
    buf_init(&form);
    form_add(&form, "grant_type", "refresh_token");
    form_add(&form, "refresh_token", refresh);
    form_add(&form, "client_id", t->oauth_client_id);
    if (secret != NULL)
        form_add(&form, "client_secret", secret);
    if (*t->oauth_scope != '\0')
        form_add(&form, "scope", t->oauth_scope);
    free_secret(refresh);
    free_secret(secret);
    req.body = form.data;
    req.body_len = form.len;
    trace(env, "POST %s (grant_type=refresh_token, client_id=%s%s%s%s)", t->oauth_token_url,
          t->oauth_client_id, *t->oauth_client_secret_enc ? ", client_secret" : "",
          *t->oauth_scope ? ", scope=" : "", t->oauth_scope);
    if (https_post(&req, &resp, &why) < 0) {
        buf_free_secret(&form);
        trace(env, "no reply: %s", why);
        set_err(err, "token endpoint: %s (it will be asked again)", why);
        free(why);
        return OAUTH_FAILED;
    }
    buf_free_secret(&form);
    rc = oauth_parse_reply(resp.status, resp.body, resp.body_len, r, &why) == 0 ? OAUTH_OK
                                                                                 : OAUTH_FAILED;
    https_response_free(&resp);
    if (rc != OAUTH_OK) {
        trace(env, "refused: %s", why);
        set_err(err, "%s", why);
        free(why);
        return rc;
    }
    trace(env, "HTTP 200: an access token for %ld s (not shown)%s", r->expires_in,
          r->refresh_token ? ", and a new refresh token" : "");
    return OAUTH_OK;
}

/*
 * keep_rotated - the endpoint sent a new refresh token PLAIN: encrypt it for T and store it in
 * place of USED_ENC. 1: stored, *enc the stored form; 2: the store did not take it, *enc to be
 * used instead until it does; 0: nothing to keep (the stored one was changed meanwhile, or the
 * new one cannot be encrypted: the old one stays in use).
 */
static int keep_rotated(const struct oauth_env *env, const struct target *t,
                        const char *used_enc, const char *plain, char **enc)
{
    char *err = NULL;
    int rc;

    *enc = NULL;
    if (secret_encrypt(env->key, t->name, plain, strlen(plain), enc, &err) < 0) {
        msg_warn("target %s: the rotated refresh token cannot be encrypted, the old one stays "
                 "in use: %s", t->name, err);
        free(err);
        return 0;
    }
    rc = env->store != NULL ? store_oauth_rotate(env->store, t->name, used_enc, *enc, &err) : -1;
    if (rc > 0) {
        msg_info("target %s: the token endpoint rotated the refresh token; the new one is "
                 "stored (encrypted)", t->name);
        trace(env, "the rotated refresh token is stored (encrypted)");
        return 1;
    }
    if (rc == 0) {
        msg_info("target %s: the token endpoint rotated the refresh token, but the stored one "
                 "was changed meanwhile: that one is kept", t->name);
        free(*enc);
        *enc = NULL;
        return 0;
    }
    msg_warn("target %s: the rotated refresh token was not stored, it is kept in memory until "
             "it can be: %s", t->name, err ? err : "no store");
    free(err);
    return 2;
}

/* forget_rotation - E no longer maps an old refresh token to a rotated one */
static void forget_rotation(struct entry *e)
{
    free(e->replaced_enc);
    free(e->use_enc);
    e->replaced_enc = e->use_enc = NULL;
    e->in_store = false;
}

/* current_enc - the refresh token to use for T: the rotated one when T was read before the
 * rotation (or the store would not take it), else T's */
static const char *current_enc(const struct entry *e, const struct target *t)
{
    if (e->replaced_enc != NULL && strcmp(e->replaced_enc, t->oauth_refresh_token_enc) == 0)
        return e->use_enc;
    return t->oauth_refresh_token_enc;
}

/* refresh - a new access token for T into E (under its lock), with refresh token CUR; OAUTH_OK
 * or an error with *err */
static enum oauth_result refresh(struct entry *e, const struct oauth_env *env,
                                 const struct target *t, const char *cur, char **err)
{
    /* what the store holds, as far as this process knows */
    char *stored = xstrdup(cur == e->use_enc && !e->in_store ? e->replaced_enc : cur);
    struct oauth_reply r;
    enum oauth_result rc = grant(env, t, cur, &r, err);
    char *enc = NULL;
    int kept;

    if (rc != OAUTH_OK) {
        free(stored);
        return rc;
    }
    free_secret(e->access);
    e->access = r.access_token;
    r.access_token = NULL;
    e->refresh_at = oauth_refresh_at(mono(), r.expires_in);
    msg_debug("target %s: OAuth2 access token obtained, valid for %ld s", t->name, r.expires_in);
    kept = r.refresh_token != NULL ? keep_rotated(env, t, stored, r.refresh_token, &enc) : -1;
    if (kept == 0) {
        /* an admin's newer refresh token is in the store: the next read of the target has it */
        forget_rotation(e);
    } else if (kept > 0) {
        /* targets read before, with the old one, use the new one too */
        forget_rotation(e);
        e->replaced_enc = stored;
        stored = NULL;
        e->use_enc = enc;
        e->in_store = kept == 1;
        free(e->fp);
        e->fp = fingerprint(t, enc);
    }
    free(stored);
    oauth_reply_free(&r);
    return OAUTH_OK;
}

/* ---- the credential ---- */

/* from_cache - T's token through its cache entry; see oauth_credential */
static enum oauth_result from_cache(struct oauth_cache *cache, const struct oauth_env *env,
                                    const struct target *t, bool renew, char **secret,
                                    bool *cached, char **err)
{
    struct entry *e = entry_of(cache, t->name);
    enum oauth_result rc = OAUTH_OK;
    const char *cur;
    char *fp;

    pthread_mutex_lock(&e->lock);
    cur = current_enc(e, t);
    fp = fingerprint(t, cur);
    if (e->fp == NULL || strcmp(e->fp, fp) != 0) {
        /* another account, client or refresh token: what was cached is not for it */
        free_secret(e->access);
        e->access = NULL;
        forget_rotation(e);
        cur = t->oauth_refresh_token_enc;
        free(fp);
        fp = fingerprint(t, cur);
        free(e->fp);
        e->fp = fp;
        fp = NULL;
    }
    *cached = !renew && e->access != NULL && mono() < e->refresh_at;
    if (!*cached)
        rc = refresh(e, env, t, cur, err);
    if (rc == OAUTH_OK)
        *secret = xstrdup(e->access);
    pthread_mutex_unlock(&e->lock);
    free(fp);
    return rc;
}

enum oauth_result oauth_credential(struct oauth_cache *cache, const struct oauth_env *env,
                                   const struct target *t, bool renew, char **secret,
                                   bool *cached, char **err)
{
    bool was_cached = false;
    enum oauth_result rc;
    struct oauth_reply r;

    *secret = NULL;
    if (t->auth == SMTP_AUTH_NONE)
        rc = OAUTH_OK; /* no AUTH: the relay authorises by IP address */
    else if (!target_uses_oauth(t))
        rc = decrypt(env, t, "password", t->password_enc, secret, err);
    else if (*t->oauth_token_command != '\0')
        rc = oauth_command_run(env, t, secret, err);
    else if (cache != NULL)
        rc = from_cache(cache, env, t, renew, secret, &was_cached, err);
    else if ((rc = grant(env, t, t->oauth_refresh_token_enc, &r, err)) == OAUTH_OK) {
        char *enc = NULL;

        if (r.refresh_token != NULL)
            keep_rotated(env, t, t->oauth_refresh_token_enc, r.refresh_token, &enc);
        free(enc);
        *secret = r.access_token;
        r.access_token = NULL;
        oauth_reply_free(&r);
    }
    if (cached != NULL)
        *cached = was_cached;
    return rc;
}
