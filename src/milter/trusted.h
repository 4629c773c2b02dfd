/*
 * trusted - the networks whose clients may relay through a target without SMTP AUTH
 * (milter.trusted_networks): CIDR matching for IPv4 and IPv6.
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is matched as the IPv4 address it carries, so
 * a dual-stack MTA that reports v4 clients in v6 form gets the same answer. A client without an
 * address (hostaddr NULL, a unix-domain or unknown family) is never trusted.
 * A struct trusted is immutable after trusted_parse(): any number of threads may match at once.
 */
#ifndef BYOSMTP_TRUSTED_H
#define BYOSMTP_TRUSTED_H

#include <stdbool.h>
#include <sys/socket.h>

#include "store/conf.h"

struct trusted;

/*
 * trusted_parse - compile the CIDR strings of NETS ("192.0.2.0/24", "2001:db8::/32", or an
 * address alone for a single host). Returns 0 and *out, or -1 with *err naming the bad entry.
 */
int trusted_parse(const struct conf_strlist *nets, struct trusted **out, char **err);
void trusted_free(struct trusted *t);

/* trusted_match - is the client at SA (AF_INET or AF_INET6; NULL allowed) in one of the networks? */
bool trusted_match(const struct trusted *t, const struct sockaddr *sa);

/* trusted_match_text - the same for an address written as text; false when it does not parse */
bool trusted_match_text(const struct trusted *t, const char *addr);

#endif
