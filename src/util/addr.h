/*
 * addr - syntax of mail addresses and host names: RFC 5321 Mailbox (local-part@domain) with
 * RFC 6531 UTF-8, DNS host names and IP address literals.
 *
 * These are the building blocks of valid_address(), valid_host() and route_normalise() in
 * target.c, which add the value to the message. Messages here never quote the value itself, so
 * they are safe to show whatever the input holds. Pure functions: thread-safe.
 */
#ifndef BYOSMTP_ADDR_H
#define BYOSMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_MAX 254        /* RFC 5321 path (256) less the angle brackets */
#define ADDR_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 253 /* a DNS name written without its trailing dot */

/*
 * addr_check_local - check N bytes of a local part: a Dot-string (atext atoms joined by single
 * dots, UTF-8 allowed) or a Quoted-string. Returns 0, or -1 with *err.
 */
int addr_check_local(const char *s, size_t n, char **err);

/*
 * addr_check_domain - check N bytes of an address domain: a dot-separated host name (UTF-8
 * labels allowed) or an address literal [IPv4] / [IPv6:...]. Returns 0, or -1 with *err.
 */
int addr_check_domain(const char *s, size_t n, char **err);

/* addr_check_mailbox - check local-part@domain (split at the last '@'); 0, or -1 with *err */
int addr_check_mailbox(const char *s, char **err);

/*
 * addr_check_host - check a host to connect to: an ASCII DNS name without a trailing dot, an
 * IPv4 address, or an IPv6 address with or without [ ]. Returns 0, or -1 with *err.
 */
int addr_check_host(const char *s, char **err);

/* addr_utf8_valid - true when the N bytes of S are well-formed UTF-8 (no overlongs, no surrogates)
 */
bool addr_utf8_valid(const char *s, size_t n);

#endif
