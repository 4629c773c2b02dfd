/*
 * smtp_reply - fuzz what a provider's server says (src/smtp/smtp_reply.h): the input is a reply
 * as it comes off the wire, lines ending in CRLF or LF.
 *
 * The whole reply is parsed, and parsed again line by line as the client reads it; both must
 * agree. A parsed reply must hold a code 200-599 and an enhanced status that is "" or a
 * well-formed "c.sss.ddd" of the code's class; its log line (smtp_reply_line) must be printable
 * ASCII of at most 400 bytes starting with the code. The EHLO capability parser must give known
 * bits only and a printable mechanism list; the failure policy (smtp_trouble_reply_from) must
 * give a known class and action at every stage, for every provider's host; a 334 challenge goes
 * through the SASL base64 decoder and CRAM-MD5.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtp/provider.h"
#include "smtp/sasl.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_trouble.h"
#include "util/util.h"

/* enhanced_ok - "" or class.subject.detail with 1-3 digit parts, the class the code's */
static bool enhanced_ok(const char *e, int code)
{
    const char *p = e;

    if (*e == '\0')
        return true;
    if (e[0] - '0' != code / 100 || e[1] != '.')
        return false;
    p = e + 2;
    for (int part = 0; part < 2; part++) {
        size_t n = strspn(p, "0123456789");

        if (n < 1 || n > 3)
            return false;
        p += n;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* by_lines - feed TEXT line by line as smtp_chat_read_reply does; the result of the last feed */
static int by_lines(struct smtp_reply *r, const char *text, size_t len)
{
    size_t pos = 0;
    int rc = 0;
    char *err = NULL;

    smtp_reply_reset(r);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, llen = end - pos;

        if (llen > 0 && text[pos + llen - 1] == '\r')
            llen--;
        rc = smtp_reply_feed(r, text + pos, llen, &err);
        if (rc < 0)
            break;
        pos = nl ? end + 1 : len;
    }
    free(err);
    return rc;
}

/* check_line - the log line of a parsed reply */
static void check_line(const struct smtp_reply *r)
{
    char *line = smtp_reply_line(r), code[8];
    size_t n = strlen(line);

    snprintf(code, sizeof(code), "%03d", r->code);
    FUZZ_CHECK(n <= 400, "a reply line longer than 400 bytes");
    FUZZ_CHECK(strncmp(line, code, 3) == 0, "the reply line does not start with the code");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(line[i] >= 0x20 && line[i] < 0x7F, "the reply line is not printable ASCII");
    free(line);
}

/* check_caps - the capabilities read from the reply as if it answered EHLO */
static void check_caps(const struct smtp_reply *r)
{
    struct smtp_caps caps;
    size_t n;

    smtp_caps_parse(r, &caps);
    n = strnlen(caps.auth_list, sizeof(caps.auth_list));
    FUZZ_CHECK(n < sizeof(caps.auth_list), "the mechanism list is not terminated");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(caps.auth_list[i] > 0x20 - (caps.auth_list[i] == ' ') && caps.auth_list[i] < 0x7F,
                   "the mechanism list is not printable");
    FUZZ_CHECK((caps.flags & ~0x7Fu) == 0 && (caps.auth & ~0xFu) == 0, "unknown capability bits");
    FUZZ_CHECK(caps.auth == 0 || (caps.flags & SMTP_CAP_AUTH), "mechanisms without AUTH");
    FUZZ_CHECK(sasl_choose(caps.auth, SASL_NONE) == SASL_NONE ||
                   (sasl_mech_bit(sasl_choose(caps.auth, SASL_NONE)) & caps.auth),
               "sasl_choose picks a mechanism that is not offered");
}

/* check_verdicts - every stage, security and provider host classifies the reply */
static void check_verdicts(const struct smtp_reply *r)
{
    const char *hosts[16] = {"smtp.example.net"};
    size_t nhosts = 1;

    for (size_t i = 0; provider_at(i) != NULL && nhosts < 16; i++)
        hosts[nhosts++] = provider_at(i)->host_suffix;
    for (size_t h = 0; h < nhosts; h++)
        for (int st = SMTP_STAGE_RESOLVE; st <= SMTP_STAGE_CLOSED; st++)
            for (int sec = SMTP_SEC_STARTTLS; sec <= SMTP_SEC_NONE; sec++) {
                struct smtp_verdict v = smtp_trouble_reply_from(
                    hosts[h], (enum smtp_stage)st, r->code, r->enhanced, r->text.data,
                    (enum smtp_security)sec);

                FUZZ_CHECK(v.cls >= SMTP_OK && v.cls <= SMTP_PROTOCOL, "an unknown class");
                FUZZ_CHECK(v.action >= SMTP_DONE && v.action <= SMTP_THROTTLE, "an unknown action");
                FUZZ_CHECK((v.cls == SMTP_OK) == (v.action == SMTP_DONE), "ok is not done");
                FUZZ_CHECK(r->code < 400 || v.cls != SMTP_OK, "a failure reply classified ok");
                FUZZ_CHECK(smtp_class_name(v.cls) != NULL && smtp_class_hint(v.cls) != NULL,
                           "a class without name or hint");
            }
    (void)smtp_trouble_is_throttle(r->code, r->enhanced, r->text.data);
}

/* check_challenge - a 334 reply's text as an AUTH challenge */
static void check_challenge(const struct smtp_reply *r)
{
    struct buf a, b;
    char *err = NULL, *answer, *again;

    buf_init(&a);
    buf_init(&b);
    if (sasl_b64_decode(r->text.data, &a, &err) == 0) {
        again = sasl_b64_encode(a.data, a.len);
        FUZZ_CHECK(sasl_b64_decode(again, &b, &err) == 0 && b.len == a.len &&
                       memcmp(a.data, b.data, a.len) == 0,
                   "base64 does not survive decode, encode, decode");
        free(again);
    }
    answer = sasl_cram_md5("user", "secret", r->text.data, &err);
    free_secret(answer);
    free(err);
    buf_free(&a);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct smtp_reply whole, lines;
    char *err = NULL;
    int rc;

    smtp_reply_init(&whole);
    smtp_reply_init(&lines);
    rc = smtp_reply_parse(&whole, text, size, &err);
    FUZZ_CHECK(rc == 0 || (err != NULL && *err != '\0'), "a refused reply without a message");
    FUZZ_CHECK((rc == 0) == (by_lines(&lines, text, size) == 1),
               "line by line and whole disagree on the end of the reply");
    if (rc == 0) {
        FUZZ_CHECK(whole.done && whole.lines >= 1 && whole.lines <= SMTP_REPLY_MAX_LINES,
                   "a parsed reply that is not done");
        FUZZ_CHECK(whole.code >= 200 && whole.code <= 599, "a code outside 200-599");
        FUZZ_CHECK(enhanced_ok(whole.enhanced, whole.code), "a malformed enhanced status");
        FUZZ_CHECK(lines.code == whole.code && strcmp(lines.enhanced, whole.enhanced) == 0 &&
                       lines.text.len == whole.text.len &&
                       memcmp(lines.text.data, whole.text.data, whole.text.len) == 0,
                   "line by line and whole give different replies");
        check_line(&whole);
        check_caps(&whole);
        check_verdicts(&whole);
        if (whole.code == 334)
            check_challenge(&whole);
    }
    free(err);
    smtp_reply_free(&whole);
    smtp_reply_free(&lines);
    return 0;
}
