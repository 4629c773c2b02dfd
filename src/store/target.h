/*
 * target - one customer SMTP account and the routes that point at it: the record, its
 * validation (byosmtp-targets(5)), targets.conf parsing and printing, and the store's record form.
 *
 * Every field of a target is one row of target_fields[]: its targets.conf key, its byosmtpctl
 * option, its type, its place in struct target, its default, whether it is required, its check
 * and where "target show" prints it. Initialising, freeing, copying, validating, reading
 * targets.conf, printing it, encoding and decoding the store record, "target show" and
 * byosmtpctl's options are each one loop over that table: a new field is a struct member, a row,
 * its documentation and its tests. The code is split by function prefix: target.c (target_*:
 * the record and its validation), target_field.c (target_field_*: the table and one field's
 * value), target_route.c (route_*), target_set.c (target_set_*: targets.conf) and
 * target_codec.c (target_encode, target_decode).
 *
 * Validation happens on input (targets.conf, byosmtpctl options) and is strict: every value
 * that may reach a header rejects CR, LF and NUL; addresses are RFC 5321 mailboxes; names are
 * [a-z0-9._-]{1,64}. The password is only ever held in its encrypted form "enc:v1:..." here.
 * Pure functions on caller-owned data, and a constant table: thread-safe.
 */
#ifndef BYOSMTP_TARGET_H
#define BYOSMTP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "smtp/smtp_mode.h"
#include "util/util.h"


#define TARGET_NAME_MAX 64
#define TARGET_FALLBACK_HOSTS_MAX 10 /* fallback_hosts: at most this many */

/* fallback: what becomes of a copy that its provider does not take (byosmtp-targets(5)) */
enum target_fallback {
    TARGET_FALLBACK_NONE, /* retried, then bounced */
    TARGET_FALLBACK_MTA,  /* handed back to the local MTA after fallback_after, or at once on a
                             permanent refusal of the credentials or the sender */
};

/* target_fallback_name - "none", "mta" */
const char *target_fallback_name(enum target_fallback f);
/* target_fallback_parse - the fallback of WORD, any case; -1 when unknown */
int target_fallback_parse(const char *word);

struct target;

/* One host of a target's list: the primary host, then each of fallback_hosts. */
struct target_host {
    char *host; /* as written, an IPv6 literal without its [] */
    int port;
};

/*
 * target_hosts - the hosts of T in the order they are tried: T's host and port first, then each
 * of its fallback_hosts. Returns how many (at least 1) and *out (free with target_hosts_free()).
 * An entry of fallback_hosts that does not parse is skipped (validation refuses it on input).
 */
size_t target_hosts(const struct target *t, struct target_host **out);
void target_hosts_free(struct target_host *h, size_t n);
/*
 * valid_host_port - one entry of fallback_hosts: "HOST:PORT", an IPv6 literal in brackets
 * ("[2001:db8::1]:587"), PORT 1-65535. 0, or -1 with *err.
 */
int valid_host_port(const char *s, char **err);
/* valid_host_list - "" or comma-separated valid_host_port() entries, at most
 * TARGET_FALLBACK_HOSTS_MAX, no entry twice. 0, or -1 with *err. */
int valid_host_list(const char *s, char **err);

struct target {
    char *name;
    char *host;
    int port;
    enum smtp_security security;
    char *username;
    char *password_enc; /* "enc:v1:..." only; never clear text */
    enum smtp_auth auth;
    /* OAuth2 for auth = "xoauth2" (byosmtp-targets(5), "OAuth2"): a refresh token grant at
     * oauth_token_url, or an access token printed by oauth_token_command; "" = not used */
    char *oauth_token_url;
    char *oauth_client_id;
    char *oauth_client_secret_enc; /* "enc:v1:..." only */
    char *oauth_refresh_token_enc; /* "enc:v1:..." only */
    char *oauth_scope;
    char *oauth_token_command;
    char *from_address;
    char *from_name;  /* "" = keep the original author's display name */
    char *reply_to;   /* "" = policy of rewrite.reply_to_original */
    uint64_t monthly_quota; /* 0 = unlimited */
    char *rate;       /* "" = unlimited, else "N/s" or "N/m" */
    int max_connections; /* 0 = the delivery default */
    char *verify_to;  /* "" = from_address */
    bool tls_verify;
    char *envelope_from;   /* "" = the policy of rewrite.envelope_from */
    char *allowed_senders; /* route matches, normalised, one per line; "" = any trusted sender */
    char *fallback_hosts; /* "" or "host:port,host:port": tried in order after host (failover) */
    enum target_fallback fallback; /* what becomes of a copy the provider does not take */
    int fallback_after;   /* seconds without success before TARGET_FALLBACK_MTA hands it back */
    int line;         /* line in targets.conf it came from, 0 when not from a file */
};

/* The two route tables: by recipient ("routes") and by envelope sender ("sender_routes"). */
enum route_by { ROUTE_BY_RECIPIENT, ROUTE_BY_SENDER };

struct route {
    char *match;  /* normalised: "user+d@example.com", "user@example.com", "@example.com", ".example.com", "*" */
    char *target;
    int line;
};

/* A parsed targets.conf. */
struct target_set {
    struct target *targets;
    size_t ntargets;
    struct route *routes;
    size_t nroutes;
    struct route *sender_routes; /* by envelope sender (MAIL FROM): the table sender_routes */
    size_t nsender_routes;
};


/* The kinds of field value: each fixes the member's C type and how every operation treats it. */
enum target_type {
    TT_NAME,    /* char *: the target's name, [a-z0-9._-]{1,64}; byosmtpctl's NAME argument */
    TT_STRING,  /* char *: text that may reach a header (no CR, LF, NUL; <= 998 bytes); .check */
    TT_ADDRESS, /* char *: a TT_STRING that is an RFC 5321 mailbox */
    TT_SECRET,  /* char *: "enc:v1:..." only; never shown, wiped when freed; byosmtpctl reads it
                   with --OPTION-stdin or --OPTION-file F and encrypts it */
    TT_INT,     /* int within [min, max] */
    TT_UINT64,  /* uint64_t within [0, max]; printed with an L suffix above 2^31-1 */
    TT_BOOL,    /* bool: true/false in targets.conf, 1/0 in the record; --OPTION, --no-OPTION */
    TT_ENUM,    /* an enum stored as int, written as one of the words of .words */
    TT_MATCHES, /* char *: route matches (route_normalise() form, or "<>" for the null sender),
                   one per line; a list of strings in targets.conf; --OPTION MATCH, repeatable,
                   and --no-OPTIONs to empty it */
    TT_HOSTLIST, /* char *: "" or "host:port,host:port" (the record's and show's form); in
                    targets.conf an array of strings; byosmtpctl's option is repeatable: each
                    one adds a host, the first given to "target set" replaces the list, and
                    an empty value empties it */
};

/* target_words - the words of a TT_ENUM field: VALUE is valid when parse(name(VALUE)) == VALUE */
struct target_words {
    const char *what;               /* what a value is, for messages: "mode", "mechanism" */
    const char *(*name)(int value); /* the word of VALUE */
    int (*parse)(const char *word); /* the value of WORD, in any case; -1 when unknown */
};

/* target_check_fn - a further check of a non-empty TT_STRING value; 0, or -1 with *err */
typedef int target_check_fn(const char *value, char **err);

/* One field of a target: one row of target_fields[]. */
struct target_field {
    const char *key;    /* in targets.conf, the store record and "target show" */
    const char *option; /* byosmtpctl --OPTION; NULL when it is not an option */
    enum target_type type;
    size_t offset;          /* of the member in struct target */
    const char *def;        /* the default, in the record's syntax; NULL: "" or 0 */
    bool required;          /* targets.conf and the record must set it; a string may not be "" */
    bool credential;        /* required only when the target authenticates (auth is not "none"),
                               and must then be empty: see target_field_required() */
    long long min, max;     /* TT_INT and TT_UINT64 (min 0 for both) */
    long long option_max;   /* byosmtpctl's own bound when it takes less than max; 0: max */
    const char *note;       /* said in parentheses after "is required" or a range */
    target_check_fn *check; /* TT_STRING: a further check of a non-empty value */
    const struct target_words *words; /* TT_ENUM */
    const char *file_key;   /* TT_SECRET: targets.conf may instead name a file that holds it */
    const char *show_after; /* "target show" prints it right after this key, not in table order */
    /* when not NULL: a required field that target T does not need when optional_when(T) holds */
    bool (*optional_when)(const struct target *t);
};

/*
 * target_fields - every field, in the order of targets.conf, the dump, the store record and
 * validation (the first error wins). One TT_NAME row ("name"), one TT_SECRET row ("password").
 */
extern const struct target_field target_fields[];
extern const size_t target_nfields;

/* target_field_find - the field whose key is KEY, or NULL */
const struct target_field *target_field_find(const char *key);
/* target_field_set_string - string field F (TT_NAME ... TT_SECRET) becomes a copy of VALUE */
void target_field_set_string(struct target *t, const struct target_field *f, const char *value);
/* target_field_set_number - F (TT_INT, TT_UINT64, TT_BOOL, TT_ENUM) becomes V, unchecked */
void target_field_set_number(struct target *t, const struct target_field *f, long long v);
/*
 * target_field_text - the value of F in the store record's syntax: a string as it is ("" for
 * NULL), a number in decimal (written into BUF), 1 or 0, an enum's word. Not a copy.
 */
#define TARGET_TEXT_MAX 24
const char *target_field_text(const struct target *t, const struct target_field *f,
                              char buf[TARGET_TEXT_MAX]);
/*
 * target_field_required - whether T must set F: F's row says so, except where T does without F:
 * the row's optional_when(T) (a password, for an OAuth2 target), or a credential (username,
 * password) when T's auth is "none" (where it must be empty)
 */
bool target_field_required(const struct target *t, const struct target_field *f);
/* target_field_words - the words of TT_ENUM field F joined by ", ", LAST before the last one */
char *target_field_words(const struct target_field *f, const char *last);

/* target_init - a target with every field at its default (strings "", tls_verify true) */
void target_init(struct target *t);
void target_free(struct target *t);       /* frees the fields, not t itself */
void target_copy(struct target *dst, const struct target *src);

/* Single-value checks; each returns 0, or -1 with *err saying what is wrong (no location prefix). */
int valid_target_name(const char *name, char **err);
int valid_host(const char *host, char **err);       /* DNS name or IP literal (v4, v6 with or without []) */
int valid_address(const char *addr, char **err);    /* RFC 5321 Mailbox: local-part@domain */
int valid_header_text(const char *what, const char *value, char **err); /* no CR, LF, NUL; <= 998 bytes */
int valid_rate(const char *rate, char **err);       /* "" or N/s or N/m, N >= 1 */
int valid_oauth_url(const char *url, char **err);   /* https://HOST[...], no blank */

/*
 * target_uses_oauth - T gets its XOAUTH2 access token from oauth_token_url or
 * oauth_token_command (auth = "xoauth2" and one of them set), so it needs no password
 */
bool target_uses_oauth(const struct target *t);
/*
 * target_check_oauth - the OAuth2 fields of T together: oauth_token_url or oauth_token_command,
 * not both, only with auth = "xoauth2"; oauth_token_url needs oauth_client_id and
 * oauth_refresh_token. Returns 0, or -1 with *err "field: what is wrong".
 */
int target_check_oauth(const struct target *t, char **err);

/*
 * target_show - "key = value" a line for every field, in the order of "target show": strings as
 * they are, numbers in decimal, true/false, enum words; a secret only as "(set)" or "(not set)".
 */
void target_show(const struct target *t, FILE *fp);

/*
 * target_validate - check a whole target (required fields present, every field valid).
 * Returns 0, or -1 with *err "field: what is wrong".
 */
int target_validate(const struct target *t, char **err);

/*
 * route_normalise - turn a route match as an admin writes it into the stored key
 * (domain part lower-cased; "*" kept). Returns a new string, or NULL with *err.
 */
char *route_normalise(const char *match, char **err);

/*
 * route_match_list - the TT_MATCHES value of a list of matches as an admin writes them: each
 * normalised (route_normalise(); "<>" kept: the null sender), duplicates dropped, joined by
 * newlines. Returns a new string, or NULL with *err naming the bad match.
 */
char *route_match_list(const char *const *matches, size_t n, char **err);

/*
 * route_matches_sender - does envelope sender SENDER (as received at MAIL, <> allowed) match one
 * of the newline-separated MATCHES? A match is tried with the keys of route_candidates(), so
 * "@example.com" matches every sender of that domain and "*" any sender; the null sender (<>)
 * matches only the entry "<>".
 */
bool route_matches_sender(const char *matches, const char *sender);

/*
 * route_candidates - the route keys to look up for recipient RCPT (LEN bytes; one pair of < >
 * is tolerated), most specific first, as doc/design.md ("Targets and routes") orders them: the address with its domain
 * lower-cased ("User+x@example.com"), the address without +detail (split at the first '+';
 * not for a quoted local part), "@example.com", ".parent" for each parent domain from the most
 * to the least specific (".b.example.com", ".example.com", ".com": a ".domain" key matches
 * subdomains only, never the domain itself), then "*". The address is split at its last '@',
 * and one trailing dot of the domain is dropped. Without '@', or with an empty domain, the only
 * key is "*"; an empty address or one holding NUL gives no keys (a miss: not ours).
 * Returns 0 with *keys (free with route_candidates_free()) and *n.
 */
int route_candidates(const char *rcpt, size_t len, char ***keys, size_t *n);
void route_candidates_free(char **keys, size_t n);

/* route_rule_name - the rule of a route key: "address", "domain", "subdomains", "catch-all" */
const char *route_rule_name(const char *key);

/*
 * target_set_parse_file - read targets.conf. Every target and route is validated, names must be
 * unique, and every route must name a target in the file. Passwords: "enc:v1:..." is kept as
 * written (its decryption is checked by the caller, which holds the key); password_file = "PATH"
 * is returned in *password_files[i] (NULL when not used) for the caller to read and encrypt.
 * Such a target has password_enc "" until the caller sets it. A relative password_file is taken
 * relative to the directory of FILE. password_files may be NULL when the caller needs no paths;
 * otherwise free the array with target_password_files_free(). An empty file is an empty set.
 * Returns 0, or -1 with *err "FILE:LINE: what is wrong" for the first error (the set is then
 * empty and *password_files NULL; nothing to free).
 */
int target_set_parse_file(const char *file, struct target_set *set, char ***password_files, char **err);
void target_set_free(struct target_set *set);
/* target_password_files_free - free target_set_parse_file()'s *password_files (N = ntargets) */
void target_password_files_free(char **files, size_t n);
/* target_set_find - the target called NAME in SET, or NULL */
const struct target *target_set_find(const struct target_set *set, const char *name);

/*
 * target_set_print - write targets.conf syntax that target_set_parse_file() reads back into
 * the same set (the "dump" format). Passwords are printed in their encrypted form.
 */
void target_set_print(const struct target_set *set, FILE *fp);

/*
 * target_encode - the store's record: "v=1" then "key=value\n" lines, in a fixed order
 * (backslash, CR and LF in a value are written \\ \r \n). NUL-terminated; *len without the NUL.
 */
char *target_encode(const struct target *t, size_t *len);
/*
 * target_decode - the reverse, for the record stored under NAME: returns 0 with *t filled (free
 * with target_free()), or -1 with *err for an unknown version, a missing field or a corrupt
 * value (*t is then left empty, nothing to free). The decoded target is validated in full.
 */
int target_decode(const char *name, const char *rec, size_t len, struct target *t, char **err);

#endif
