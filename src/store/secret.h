/*
 * secret - the master key and the encrypted form of target passwords.
 *
 * The key is 32 random bytes in a file of mode 0600 (no group or other bits), owned by
 * the reading user or root. A password is stored as
 *     enc:v1:BASE64( key_id[4] || nonce[12] || ciphertext || tag[16] )
 * AES-256-GCM, a fresh random nonce for every encryption, and the target's name as
 * associated data, so a ciphertext copied to another target does not decrypt.
 * key_id is the first 4 bytes of SHA-256(key): it tells "wrong master key" apart from tampering.
 * Every failure is closed (no partial plaintext) and its message never contains the password,
 * the ciphertext or the key. Key memory is wiped on free. Thread-safe: a loaded key is read-only.
 */
#ifndef BYOSMTP_SECRET_H
#define BYOSMTP_SECRET_H

#include <stddef.h>

#define SECRET_KEY_LEN 32
#define SECRET_PREFIX "enc:v1:"

struct secret_key;

/*
 * secret_key_generate - create PATH with 32 random bytes, mode 0600; never overwrites.
 * Returns 0, or -1 with *err (e.g. "PATH: exists already; remove it first if you really mean to
 * replace the key (every stored password must then be entered again)").
 */
int secret_key_generate(const char *path, char **err);

/*
 * secret_key_load - read and check the key file: a regular file, exactly 32 bytes, no group
 * or other permission bits. Returns 0 and *out, or -1 with *err naming the file and the fix
 * (e.g. "PATH: mode 0644 lets others read the master key: run 'chmod 600 PATH'").
 */
int secret_key_load(const char *path, struct secret_key **out, char **err);

/*
 * secret_key_check - the same checks as secret_key_load (regular file, mode, owner, size) without
 * reading the key, for a process that must not hold it (the milter side checks at start-up that
 * the delivery side will find a usable key). Returns 0, or -1 with *err as secret_key_load's.
 */
int secret_key_check(const char *path, char **err);

/* secret_key_free - wipe and free (NULL is fine) */
void secret_key_free(struct secret_key *key);

/*
 * secret_encrypt - encrypt LEN bytes of PLAIN for the target NAME.
 * Returns 0 and *out = "enc:v1:..." (caller frees), or -1 with *err.
 */
int secret_encrypt(const struct secret_key *key, const char *name, const char *plain, size_t len,
                   char **out, char **err);

/*
 * secret_decrypt - decrypt TEXT ("enc:v1:...") that was encrypted for target NAME.
 * Returns 0 with *out a NUL-terminated plaintext (free it with free_secret()) and *len,
 * or -1 with *err: malformed text, wrong master key, or "does not decrypt: tampered with
 * or encrypted for another target".
 */
int secret_decrypt(const struct secret_key *key, const char *name, const char *text, char **out,
                   size_t *len, char **err);

/* secret_is_encrypted - true when TEXT has the enc:v1: form (syntax only) */
int secret_is_encrypted(const char *text);

#endif
