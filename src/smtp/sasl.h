/*
 * sasl - the client side of the SASL mechanisms byosmtp speaks to providers: PLAIN (RFC 4616),
 * LOGIN, CRAM-MD5 (RFC 2195, HMAC-MD5 through OpenSSL) and XOAUTH2 (Google/Microsoft), plus
 * the base64 they travel in and the choice of a mechanism among those a server offers.
 *
 * Every string these functions return that holds a credential, or is derived from one, is a
 * secret: free it with free_secret(). Nothing here logs. Thread-safe: no shared state.
 */
#ifndef BYOSMTP_SASL_H
#define BYOSMTP_SASL_H

#include <stddef.h>

#include "util/util.h"

enum sasl_mech { SASL_NONE = 0, SASL_PLAIN, SASL_LOGIN, SASL_CRAM_MD5, SASL_XOAUTH2 };

/* sasl_mech_name - the name as sent in AUTH: "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"; "none" */
const char *sasl_mech_name(enum sasl_mech mech);
/* sasl_mech_bit - the SMTP_AUTH_MECH_* bit of smtp_reply.h for MECH (0 for SASL_NONE) */
unsigned sasl_mech_bit(enum sasl_mech mech);

/*
 * sasl_choose - the mechanism to use, given the SMTP_AUTH_MECH_* bits a server OFFERED and the
 * WANTED one (SASL_NONE = auto). Auto picks the strongest offered: CRAM-MD5 > PLAIN > LOGIN
 * (CRAM-MD5 first because the password itself never crosses the wire); XOAUTH2 is used only
 * when asked for, since its secret is a token, not a password. Returns SASL_NONE when nothing
 * usable is offered.
 */
enum sasl_mech sasl_choose(unsigned offered, enum sasl_mech wanted);

/* sasl_b64_encode - base64 of N bytes (no line breaks); caller frees (free_secret for secrets) */
char *sasl_b64_encode(const void *p, size_t n);
/* sasl_b64_decode - decode TEXT into OUT (replacing it); returns 0, or -1 with *err when not base64 */
int sasl_b64_decode(const char *text, struct buf *out, char **err);

/* sasl_plain - the PLAIN initial response: base64("\0" USER "\0" PASS). A secret. */
char *sasl_plain(const char *user, const char *pass);
/* sasl_xoauth2 - the XOAUTH2 initial response: base64("user=" USER "\1auth=Bearer " TOKEN "\1\1"). A secret. */
char *sasl_xoauth2(const char *user, const char *token);
/*
 * sasl_cram_md5 - the answer to the base64 CHALLENGE: base64(USER " " hex(HMAC-MD5(PASS, challenge))).
 * Returns the answer (a secret), or NULL with *err when the challenge is not base64 or the
 * HMAC cannot be computed.
 */
char *sasl_cram_md5(const char *user, const char *pass, const char *challenge, char **err);

#endif
