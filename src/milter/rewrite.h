/*
 * rewrite - the header block of one target's copy of a message (doc/design.md, "The milter side"; doc/rewrite.md): pure functions
 * from the original header fields and the target's settings to the rewritten header fields.
 *
 *  - every original From field is removed (several From fields, address lists: none survives)
 *    and one "From: from_name <from_address>" is written; the display name is an RFC 5322 atom
 *    sequence or quoted-string, or RFC 2047 encoded-words of at most 75 characters when it is not
 *    ASCII, never splitting a UTF-8 character; an empty from_name keeps the original author's
 *    display name (of the first original From mailbox);
 *  - "Original-From:" (RFC 5703) keeps the original From value, when original_from_header;
 *  - "Reply-To:" becomes the target's reply_to when set; otherwise, when reply_to_original and the
 *    message had no Reply-To, the original From value becomes Reply-To; otherwise the message's
 *    own Reply-To stays;
 *  - a "Received:" trace field naming byosmtpd, the host and the spool id is put first.
 * Header values arrive as libmilter gives them: folded lines may use "\n" or "\r\n" followed by
 * white space, with or without the leading space; output lines always end in CRLF.
 * doc/rewrite.md gives the rules with examples; tests/rewrite/ holds them as golden files.
 * Thread-safe: no state.
 */
#ifndef BYOSMTP_REWRITE_H
#define BYOSMTP_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/util.h"

struct rewrite_header {
    const char *name;  /* field name as received */
    const char *value; /* field body as received (see above) */
};

struct rewrite_params {
    const char *from_address; /* the target's from_address (validated) */
    const char *from_name;    /* the target's from_name; "" = keep the original display name */
    const char *reply_to;     /* the target's reply_to; "" = none */
    bool original_from_header; /* rewrite.original_from_header */
    bool reply_to_original;    /* rewrite.reply_to_original */
    const char *hostname;      /* for the Received: field ("by HOST (byosmtpd)") */
    const char *spool_id;      /* for the Received: field ("id SPOOLID") */
    const char *mta_queue_id;  /* the MTA's queue id, or NULL */
    time_t now;                /* the Received: field's date */
};

/*
 * rewrite_headers - write the rewritten header section (every field "Name: value\r\n", no
 * terminating empty line) for one target to OUT. Returns 0, or -1 with *err when the input
 * cannot be rewritten safely: a field name that is empty or not printable ASCII (see
 * rewrite_field_ok), or unusable parameters (no from_address, a host name or spool id that is not
 * a plain word); OUT is untouched then.
 *
 * Each value is taken as libmilter gives it, with or without SMFIP_HDR_LEADSPC: a value that
 * starts with a space or tab is written "Name:" + value, any other "Name: " + value, so the
 * caller needs to say nothing. Folds may be "\n" or "\r\n" and come out as CRLF; a bare CR
 * becomes a space; a line break not followed by white space gets a space (it cannot start a new
 * field); lines of only white space are dropped (they would end the header section); a line
 * longer than 998 characters is folded. Field names are written without obsolete white space
 * before the colon. Apart from that, fields other than From (and Reply-To when the target sets
 * reply_to) pass through unchanged and in order; From, Original-From and an added Reply-To take
 * the place of the first From field (or go last when there was none). Several From fields give
 * one Original-From, their values joined with ", ". The original From becomes Reply-To only when
 * it holds at least one address. Values are C strings, so a NUL cannot reach this function: a
 * caller that reads fields with a length checks them with rewrite_field_ok first.
 */
int rewrite_headers(const struct rewrite_params *p, const struct rewrite_header *in, size_t n,
                    struct buf *out, char **err);

/*
 * rewrite_display_name - append NAME (UTF-8) to OUT as an RFC 5322 phrase: atoms as they are,
 * a quoted-string (with \" and \\) when specials need it, RFC 2047 "=?UTF-8?B?...?=" encoded-words
 * of at most 75 characters each (72 in practice), separated by one space, when it is not ASCII,
 * when a word is longer than 75 characters, or when it holds "=?" (so no reader decodes it).
 * Invalid UTF-8 becomes U+FFFD; control characters (C0, DEL, C1, U+2028/9) become spaces; white
 * space runs become one space, trimmed. Appends nothing when no text is left.
 */
void rewrite_display_name(const char *name, struct buf *out);

/*
 * rewrite_field_ok - check one header field as received: NAME printable ASCII without ':'
 * (obsolete white space before the colon allowed), at most 200 characters; VALUE's VALUE_LEN
 * bytes without NUL. Returns 0, or -1 with *err (which never quotes the value).
 */
int rewrite_field_ok(const char *name, const char *value, size_t value_len, char **err);

/*
 * rewrite_is_ours - does a Received: field of this value show that byosmtpd on HOSTNAME relayed
 * the message already (a loop)? True for what rewrite_headers writes, "by HOSTNAME (byosmtpd) id
 * ID ...; DATE", folded or not, with or without the leading space, the host name compared
 * case-insensitively; false for another host's byosmtpd. Used on every Received: field of an
 * incoming message.
 */
bool rewrite_is_ours(const char *received_value, const char *hostname);

#endif
