/*
 * oauth - the XOAUTH2 access token of a target (byosmtp-targets(5), "OAuth2"; doc/design.md,
 * "OAuth2"): obtained with a refresh token grant from the target's oauth_token_url (one
 * verified HTTPS POST through util/https.h, the reply parsed by jansson), or printed by its
 * oauth_token_command; kept in memory only, in a cache per target, and obtained again before it
 * expires. A refresh token that the endpoint rotates is encrypted and stored in place of the old
 * one (store_oauth_rotate). For every other target the credential is its decrypted password,
 * so delivery and byosmtpctl verify ask here for what AUTH sends.
 *
 * No token, refresh token, client secret or reply body ever reaches a message, a trace line or
 * a log line: errors say what the endpoint or the command did, never what it returned.
 * Thread-safe: the cache has a lock for its list and one per target, held while that target's
 * token is obtained (other targets do not wait). https_init() must have been called.
 */
#ifndef BYOSMTP_OAUTH_H
#define BYOSMTP_OAUTH_H

#include <stdbool.h>

#include "store/secret.h"
#include "store/store.h"
#include "store/target.h"

struct oauth_cache;

/* Where the credential step finds what it needs. */
struct oauth_env {
    struct store *store;           /* where a rotated refresh token is stored; NULL: nowhere */
    const struct secret_key *key;  /* decrypts the secrets, encrypts a rotated refresh token */
    const char *ca_file;           /* delivery.tls_ca_file: trusted for the endpoint; "" = none */
    const char *ca_path;           /* delivery.tls_ca_path: trusted too ("" = the system's) */
    int timeout;                   /* seconds for the token request or the command */
    void (*trace)(void *ctx, const char *line); /* each step (byosmtpctl verify); NULL: none */
    void *trace_ctx;
};

/* What oauth_credential() returns. */
enum oauth_result {
    OAUTH_OK = 0,
    OAUTH_FAILED = -1, /* no token: the endpoint or command refused or failed (oauth_refresh_failed) */
    OAUTH_SECRET = -2, /* a stored secret does not decrypt (the master key): auth_failed */
};

/* oauth_cache_new - an empty cache; oauth_cache_free - wipe every token and free (NULL is fine) */
struct oauth_cache *oauth_cache_new(void);
void oauth_cache_free(struct oauth_cache *c);

/*
 * oauth_credential - what AUTH sends for target T as its password: for a target that uses OAuth2
 * (target_uses_oauth) an access token, for auth "none" nothing (*secret NULL: no AUTH is sent),
 * else the decrypted password. With CACHE (may be NULL:
 * always obtained afresh, as verify does) a token is reused while it has time left. RENEW: the
 * token this cache gave was refused by AUTH: obtain another one. *CACHED (may be NULL) says
 * whether the token came from the cache, i.e. whether a refusal is worth one renewal.
 * Returns OAUTH_OK with *secret (free_secret), or an error with *err (safe to log).
 */
enum oauth_result oauth_credential(struct oauth_cache *cache, const struct oauth_env *env,
                                   const struct target *t, bool renew, char **secret,
                                   bool *cached, char **err);

/*
 * oauth_command_run - T's oauth_token_command through /bin/sh -c, with BYOSMTP_TARGET and
 * BYOSMTP_USERNAME in its environment, standard input from /dev/null, within env->timeout
 * seconds (then killed): the first line it prints is the access token (*token, free_secret).
 * What it prints is never shown; a failure quotes the first line of its standard error.
 * OAUTH_OK, or OAUTH_FAILED with *err. Thread-safe (posix_spawn).
 */
enum oauth_result oauth_command_run(const struct oauth_env *env, const struct target *t,
                                    char **token, char **err);

/* What a token endpoint answered (oauth_parse_reply). */
struct oauth_reply {
    char *access_token;  /* a secret */
    long expires_in;     /* seconds; OAUTH_DEFAULT_LIFETIME when the reply gave none */
    char *refresh_token; /* a secret: the rotated refresh token, or NULL */
};

#define OAUTH_DEFAULT_LIFETIME 600L

/*
 * oauth_parse_reply - the reply of a token endpoint (RFC 6749 5.1, 5.2): HTTP STATUS and the
 * JSON BODY (LEN bytes). 0 with *r (free with oauth_reply_free) for a 200 with an access token
 * of type Bearer; -1 with *err for anything else: the endpoint's error code with what it means
 * for the admin ("invalid_grant: the refresh token was revoked or has expired"), its
 * description cut short, and never a value of the reply's secrets. Pure: thread-safe.
 */
int oauth_parse_reply(long status, const char *body, size_t len, struct oauth_reply *r,
                      char **err);
void oauth_reply_free(struct oauth_reply *r);

/* oauth_refresh_at - when a token that lives EXPIRES_IN seconds from NOW is obtained again:
 * 60 s before it expires, or after 80% of its life when that is shorter than 5 minutes */
double oauth_refresh_at(double now, long expires_in);

/* oauth_token_printable - S can travel as an XOAUTH2 bearer token: printable ASCII, no blank */
bool oauth_token_printable(const char *s);

#endif
