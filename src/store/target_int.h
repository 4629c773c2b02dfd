/*
 * target_int - what the files of the target module share and nobody else needs: one field's
 * value read generically, its check, its decoding from the record's syntax, and the one way a
 * value is quoted in a message. Functions on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_TARGET_INT_H
#define BYOSMTP_TARGET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "store/target.h"

/* The most rows target_fields[] may have: the size of the per-field arrays of a parse. */
#define TARGET_FIELDS_MAX 32

/* target_shown - a copy of S that is safe to put in a message: controls escaped, ~100 bytes */
char *target_shown(const char *s);

/* target_field_at - the member of T that F describes */
void *target_field_at(const struct target *t, const struct target_field *f);
/* target_field_string - the string of F (a string type); "" for NULL */
const char *target_field_string(const struct target *t, const struct target_field *f);
/* target_field_int - the value of F (TT_INT, TT_BOOL, TT_ENUM) */
long long target_field_int(const struct target *t, const struct target_field *f);
/* target_field_u64 - the value of F (TT_UINT64) */
uint64_t target_field_u64(const struct target *t, const struct target_field *f);
/* target_field_is_string - true for the types held as char * */
bool target_field_is_string(const struct target_field *f);
/*
 * target_field_decode - set F from TEXT in the record's syntax (the reverse of
 * target_field_text); false when TEXT is not a value of F's type.
 */
bool target_field_decode(struct target *t, const struct target_field *f, const char *text);

/* target_check_field - validate F of T; 0, or -1 with *err "key: what is wrong" */
int target_check_field(const struct target *t, const struct target_field *f, char **err);
/*
 * target_check_auth - the rules of auth "none": security starttls or tls, and no credential set.
 * NULL when T keeps them; else the field at fault, with *err "key: what is wrong".
 */
const struct target_field *target_check_auth(const struct target *t, char **err);
/* route_match_in_list - is MATCH one of the newline-separated MATCHES? */
bool route_match_in_list(const char *matches, const char *match);
/* target_range_err - "key: V is out of range (MIN-MAX; note)" for TT_INT field F; returns -1 */
int target_range_err(const struct target_field *f, long long v, char **err);

#endif
