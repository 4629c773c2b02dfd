/*
 * smtp_reply - parse SMTP server replies (RFC 5321 4.2): single and multi-line, the enhanced
 * status code of RFC 3463 / RFC 2034, and the EHLO capability list.
 *
 * A reply is fed one line at a time (without its CRLF); the parser says when the reply is
 * complete and rejects what is malformed: a code that is not three digits 2-5/0-5/0-9, a
 * separator other than ' ' or '-', lines of one reply with different codes, or more lines or
 * bytes than a sane server sends (memory stays bounded whatever the peer does).
 * Thread-safe: all state is in caller-owned structs.
 */
#ifndef BYOSMTP_SMTP_REPLY_H
#define BYOSMTP_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"

#define SMTP_REPLY_MAX_LINE 2048   /* bytes per line; RFC 5321 allows 512 */
#define SMTP_REPLY_MAX_LINES 256   /* lines per reply */

struct smtp_reply {
    int code;          /* 200..599; 0 until a first line is parsed */
    char enhanced[16]; /* "5.1.1" from the first line, "" when the server gave none */
    struct buf text;   /* the text of every line after "CODE[ -]", joined with '\n' */
    int lines;
    bool done;         /* the last line ("CODE " or "CODE") was seen */
};

/* smtp_reply_init - an empty reply (call smtp_reply_free when done) */
void smtp_reply_init(struct smtp_reply *r);
/* smtp_reply_reset - empty it again for the next reply, keeping its buffer */
void smtp_reply_reset(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);

/*
 * smtp_reply_feed - add one reply line of LEN bytes (no CR/LF).
 * Returns 1 when the reply is complete, 0 when more lines follow,
 * -1 with *err when the line is malformed (the reply is then unusable).
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len, char **err);

/*
 * smtp_reply_parse - parse a whole reply from TEXT (lines ending in CRLF or LF).
 * Returns 0 when it holds exactly one complete reply, -1 with *err otherwise. For tests and tools.
 */
int smtp_reply_parse(struct smtp_reply *r, const char *text, size_t len, char **err);

/*
 * smtp_reply_line - the reply as one printable line for logs, DSNs and results:
 * "550 5.1.1 <bob@example.com>: user unknown" — lines joined with "; ", control and
 * non-ASCII bytes shown as '?', cut at 400 bytes. Caller frees.
 */
char *smtp_reply_line(const struct smtp_reply *r);

/* EHLO capabilities (RFC 5321 4.1.1.1 and the extensions we use). */
enum {
    SMTP_CAP_STARTTLS = 1u << 0,
    SMTP_CAP_PIPELINING = 1u << 1,
    SMTP_CAP_SIZE = 1u << 2,
    SMTP_CAP_8BITMIME = 1u << 3,
    SMTP_CAP_SMTPUTF8 = 1u << 4,
    SMTP_CAP_ENHANCEDSTATUSCODES = 1u << 5,
    SMTP_CAP_AUTH = 1u << 6,
};

/* Bits of struct smtp_caps.auth, one per SASL mechanism we know. */
enum {
    SMTP_AUTH_MECH_PLAIN = 1u << 0,
    SMTP_AUTH_MECH_LOGIN = 1u << 1,
    SMTP_AUTH_MECH_CRAM_MD5 = 1u << 2,
    SMTP_AUTH_MECH_XOAUTH2 = 1u << 3,
};

struct smtp_caps {
    unsigned flags;       /* SMTP_CAP_* */
    unsigned auth;        /* SMTP_AUTH_MECH_* */
    unsigned long long size_limit; /* SIZE n; 0 = no limit announced */
    char auth_list[128];  /* the mechanisms as offered, e.g. "PLAIN LOGIN XOAUTH2" (for messages) */
};

/*
 * smtp_caps_parse - read the capabilities from a complete 250 reply to EHLO: every line but
 * the first is "KEYWORD [params]". "AUTH=LOGIN PLAIN" (pre-RFC 2554 servers) counts as AUTH.
 * Unknown keywords are ignored.
 */
void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps);

#endif
