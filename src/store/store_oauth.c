/*
 * store_oauth - the one write the delivery process (and byosmtpctl verify) makes to a target:
 * a refresh token that the OAuth2 token endpoint rotated replaces the stored one, encrypted, in
 * one LMDB transaction, and only when the stored one is still the one that was used, so an
 * admin's newer token is never overwritten. The verification result stays: the account did not
 * change. Thread-safe as the store is (one write transaction at a time).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* store_oauth_rotate - replace NAME's oauth_refresh_token OLD_ENC by NEW_ENC (see store.h) */
int store_oauth_rotate(struct store *st, const char *name, const char *old_enc,
                       const char *new_enc, char **err)
{
    MDB_txn *txn;
    MDB_val key, data;
    struct target t;
    char *rec;
    size_t len;
    int rc;

    if (!store_key_ok(st, name, strlen(name)))
        return 0;
    key = store_val_str(name);
    rc = store_txn_get(st, 0, st->targets, &key, &txn, &data, "reading a target", err);
    if (rc < 0)
        return -1;
    if (rc == 0) { /* removed meanwhile */
        mdb_txn_abort(txn);
        return 0;
    }
    if (target_decode(name, data.mv_data, data.mv_size, &t, err) < 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    if (strcmp(t.oauth_refresh_token_enc, old_enc) != 0) {
        /* changed since it was read (byosmtpctl, or another rotation): that one stays */
        target_free(&t);
        mdb_txn_abort(txn);
        return 0;
    }
    target_field_set_string(&t, target_field_find("oauth_refresh_token"), new_enc);
    rec = target_encode(&t, &len);
    target_free(&t);
    data.mv_size = len;
    data.mv_data = rec;
    rc = mdb_put(txn, st->targets, &key, &data, 0);
    wipe(rec, len);
    free(rec);
    if (store_txn_end(st, txn, rc, "storing a rotated refresh token", err) < 0)
        return -1;
    return 1;
}
