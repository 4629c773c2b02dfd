/*
 * hostdown - each provider host's own backoff, for a target with fallback_hosts (failover,
 * byosmtp-targets(5)): a host that failed at connection or TLS level is skipped for a while,
 * min_backoff doubling with each further failure up to max_backoff (backoff_delay()), and is
 * forgotten at its next success. Hosts are keyed "host:port", so two targets at the same host
 * share what is known of it.
 *
 * Pure: no I/O, no clock (the time is a parameter). The table is the caller's, who locks it.
 */
#ifndef BYOSMTP_HOSTDOWN_H
#define BYOSMTP_HOSTDOWN_H

#include <stddef.h>
#include <time.h>

#include "delivery/backoff.h"

struct hostdown;

/* hostdown_new, hostdown_free - an empty table */
struct hostdown *hostdown_new(void);
void hostdown_free(struct hostdown *h);

/*
 * hostdown_order - of the N hosts KEYS[0..N-1], in the order a target lists them, the indexes
 * to try at NOW, into ORDER (N entries): every host not in its backoff, in the list's order;
 * when every one is in its backoff, the one whose backoff ends first, alone (a copy is never
 * held back by the host table: its own schedule decides when it is tried). Returns how many
 * (at least 1 when N >= 1).
 */
size_t hostdown_order(const struct hostdown *h, const char *const *keys, size_t n, time_t now,
                      size_t *order);

/* hostdown_failed - KEY failed at connection or TLS level at NOW: its backoff under P */
void hostdown_failed(struct hostdown *h, const char *key, time_t now,
                     const struct backoff_params *p);

/* hostdown_ok - KEY answered: forget its failures */
void hostdown_ok(struct hostdown *h, const char *key);

/* hostdown_until - the end of KEY's backoff, 0 when it is not in one (for logs and tests) */
time_t hostdown_until(const struct hostdown *h, const char *key);

#endif
