/*
 * provider - presets for the SMTP providers customers bring (doc/design.md, "Targets and routes"): the host, port,
 * security and user-name convention of each, the notes an admin needs to get credentials right,
 * and each provider's known reply quirks, which the failure classifier (smtp_trouble.c)
 * consults before its general rules. Constant tables: thread-safe.
 */
#ifndef BYOSMTP_PROVIDER_H
#define BYOSMTP_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp/smtp_trouble.h"
#include "smtp/smtp_mode.h"

/* A reply a provider gives that the general rules would classify wrongly or vaguely. */
struct provider_quirk {
    int code;             /* the reply code, 0 = any */
    const char *text;     /* a case-insensitive substring of the reply text */
    enum smtp_class cls;
    enum smtp_action action;
};

struct provider {
    const char *name;       /* "ses", "sendgrid", ... as given to --provider */
    const char *title;      /* "Amazon SES" */
    const char *host;       /* the host; "%s" stands for the region where one is needed */
    int port;
    enum smtp_security security;
    const char *username;   /* the fixed user name, or NULL: the admin gives it */
    bool username_is_from;  /* no fixed name: the from address is the user name by default */
    const char *username_note; /* what the user name and the password are for this provider */
    int max_connections;    /* 0 = the delivery default */
    const char *rate;       /* "" = none known */
    const char *host_suffix; /* recognises the provider from a target's host */
    const char *notes;
    const struct provider_quirk *quirks; /* ends with a quirk whose text is NULL */
    enum smtp_auth auth;         /* the mechanism the preset sets; AUTO leaves the default */
    const char *oauth_token_url; /* OAuth2 presets: the token endpoint, else NULL */
    const char *oauth_scope;     /* OAuth2 presets: the scope asked for, else NULL */
};

/* provider_find - the preset called NAME, or NULL */
const struct provider *provider_find(const char *name);
/* provider_by_host - the preset whose host_suffix ends HOST (case-insensitive), or NULL */
const struct provider *provider_by_host(const char *host);
/* provider_at - the I-th preset (in the order "byosmtpctl providers" lists them), NULL past the end */
const struct provider *provider_at(size_t i);

/*
 * provider_host - P's host for REGION. Returns a new string, or NULL with *err when the provider
 * needs a region and none was given (or one that needs none got one), or the region is malformed.
 */
char *provider_host(const struct provider *p, const char *region, char **err);

/*
 * provider_quirk_match - the quirk of the provider serving HOST that matches reply CODE and TEXT,
 * or NULL when none does (or HOST is no known provider's).
 */
const struct provider_quirk *provider_quirk_match(const char *host, int code, const char *text);

#endif
