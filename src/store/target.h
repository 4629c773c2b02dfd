/*
 * target - one customer SMTP account and the routes that point at it: the record, its
 * validation (DESIGN.md §4), targets.conf parsing and printing, and the store's record form.
 *
 * Validation happens on input (targets.conf, byosmtpctl options) and is strict: every value
 * that may reach a header rejects CR, LF and NUL; addresses are RFC 5321 mailboxes; names are
 * [a-z0-9._-]{1,64}. The password is only ever held in its encrypted form "enc:v1:..." here.
 * Pure functions on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_TARGET_H
#define BYOSMTP_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "smtp/smtp_mode.h"
#include "util/util.h"


#define TARGET_NAME_MAX 64

struct target {
    char *name;
    char *host;
    int port;
    enum smtp_security security;
    char *username;
    char *password_enc; /* "enc:v1:..." only; never clear text */
    enum smtp_auth auth;
    char *from_address;
    char *from_name;  /* "" = keep the original author's display name */
    char *reply_to;   /* "" = policy of rewrite.reply_to_original */
    uint64_t monthly_quota; /* 0 = unlimited */
    char *rate;       /* "" = unlimited, else "N/s" or "N/m" */
    int max_connections; /* 0 = the delivery default */
    char *verify_to;  /* "" = from_address */
    bool tls_verify;
    int line;         /* line in targets.conf it came from, 0 when not from a file */
};

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
};


/* target_init - a target with every optional field at its default (strings "", tls_verify true) */
void target_init(struct target *t);
void target_free(struct target *t);       /* frees the fields, not t itself */
void target_copy(struct target *dst, const struct target *src);

/* Single-value checks; each returns 0, or -1 with *err saying what is wrong (no location prefix). */
int valid_target_name(const char *name, char **err);
int valid_host(const char *host, char **err);       /* DNS name or IP literal (v4, v6 with or without []) */
int valid_address(const char *addr, char **err);    /* RFC 5321 Mailbox: local-part@domain */
int valid_header_text(const char *what, const char *value, char **err); /* no CR, LF, NUL; <= 998 bytes */
int valid_rate(const char *rate, char **err);       /* "" or N/s or N/m, N >= 1 */

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
 * route_candidates - the route keys to look up for recipient RCPT (LEN bytes; one pair of < >
 * is tolerated), most specific first, as DESIGN.md 4 orders them: the address with its domain
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
