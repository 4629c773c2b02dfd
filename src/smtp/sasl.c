/*
 * sasl - SASL client mechanisms and base64. No shared state: thread-safe.
 */
#include "config.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "smtp/sasl.h"
#include "smtp/smtp_reply.h"

const char *sasl_mech_name(enum sasl_mech mech)
{
    switch (mech) {
    case SASL_PLAIN:
        return "PLAIN";
    case SASL_LOGIN:
        return "LOGIN";
    case SASL_CRAM_MD5:
        return "CRAM-MD5";
    case SASL_XOAUTH2:
        return "XOAUTH2";
    case SASL_NONE:
        break;
    }
    return "none";
}

unsigned sasl_mech_bit(enum sasl_mech mech)
{
    switch (mech) {
    case SASL_PLAIN:
        return SMTP_AUTH_MECH_PLAIN;
    case SASL_LOGIN:
        return SMTP_AUTH_MECH_LOGIN;
    case SASL_CRAM_MD5:
        return SMTP_AUTH_MECH_CRAM_MD5;
    case SASL_XOAUTH2:
        return SMTP_AUTH_MECH_XOAUTH2;
    case SASL_NONE:
        break;
    }
    return 0;
}

enum sasl_mech sasl_choose(unsigned offered, enum sasl_mech wanted)
{
    static const enum sasl_mech order[] = {SASL_CRAM_MD5, SASL_PLAIN, SASL_LOGIN};

    if (wanted != SASL_NONE)
        return (offered & sasl_mech_bit(wanted)) ? wanted : SASL_NONE;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (offered & sasl_mech_bit(order[i]))
            return order[i];
    return SASL_NONE;
}

char *sasl_b64_encode(const void *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *out = xmalloc(cap);

    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

int sasl_b64_decode(const char *text, struct buf *out, char **err)
{
    size_t len = strlen(text);
    size_t pad = 0;
    unsigned char *tmp;
    int n;

    buf_reset(out);
    if (len == 0)
        return 0;
    if (len % 4 != 0)
        return set_err(err, "malformed base64 (length %zu is not a multiple of 4)", len);
    /* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
    if (text[len - 1] == '=')
        pad++;
    if (len > 1 && text[len - 2] == '=')
        pad++;
    tmp = xmalloc(len / 4 * 3 + 1);
    n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
    if (n < 0 || (size_t)n < pad) {
        free(tmp);
        return set_err(err, "malformed base64");
    }
    buf_append(out, tmp, (size_t)n - pad);
    wipe(tmp, len / 4 * 3 + 1);
    free(tmp);
    return 0;
}

char *sasl_plain(const char *user, const char *pass)
{
    struct buf b;
    char *out;

    buf_init(&b);
    buf_putc(&b, '\0');
    buf_puts(&b, user);
    buf_putc(&b, '\0');
    buf_puts(&b, pass);
    out = sasl_b64_encode(b.data, b.len);
    buf_free_secret(&b);
    return out;
}

char *sasl_xoauth2(const char *user, const char *token)
{
    struct buf b;
    char *out;

    buf_init(&b);
    buf_printf(&b, "user=%s\001auth=Bearer %s\001\001", user, token);
    out = sasl_b64_encode(b.data, b.len);
    buf_free_secret(&b);
    return out;
}

char *sasl_cram_md5(const char *user, const char *pass, const char *challenge, char **err)
{
    static const char hex[] = "0123456789abcdef";
    struct buf chal, resp;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char *out;

    buf_init(&chal);
    if (sasl_b64_decode(challenge, &chal, err) < 0) {
        buf_free(&chal);
        return NULL;
    }
    if (HMAC(EVP_md5(), pass, (int)strlen(pass), (const unsigned char *)chal.data, chal.len, mac,
             &maclen) == NULL) {
        buf_free(&chal);
        set_err(err, "CRAM-MD5: HMAC-MD5 is not available in this OpenSSL");
        return NULL;
    }
    buf_free(&chal);
    buf_init(&resp);
    buf_puts(&resp, user);
    buf_putc(&resp, ' ');
    for (unsigned i = 0; i < maclen; i++) {
        buf_putc(&resp, hex[mac[i] >> 4]);
        buf_putc(&resp, hex[mac[i] & 15]);
    }
    wipe(mac, sizeof(mac));
    out = sasl_b64_encode(resp.data, resp.len);
    buf_free_secret(&resp);
    return out;
}
