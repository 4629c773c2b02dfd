/*
 * milter - the libmilter callbacks of byosmtpd (doc/design.md, "The milter side"): who may relay, the route and
 * quota decision at RCPT, streaming the message to the spool, and the commit at end of message.
 *
 * The callbacks hold no policy of their own: trust is trusted.c, the route and quota decision
 * at RCPT is rcpt_route.c, the commit at end of message (rewriting, spool, store, crash points)
 * is enqueue.c; the callbacks translate libmilter calls and map results to replies. Each
 * connection has a struct connctx (with the configuration snapshot it started with) and each
 * message a struct msgctx, freed at eom, abort and close.
 * Thread-safety: libmilter runs one thread per connection. Shared state is only the store and
 * spool handles (thread-safe), the current snapshot pointer (swapped under a mutex, reference
 * counted) and an atomic count of open connections.
 */
#ifndef BYOSMTP_MILTER_H
#define BYOSMTP_MILTER_H

#include "store/conf.h"
#include "spool/spool.h"
#include "store/store.h"

/* A configuration snapshot with what the milter derives from it (the trusted networks). */
struct milter_snap;

/*
 * milter_snap_new - derive a snapshot from CONF (a reference is taken; the caller keeps its own).
 * Returns 0 and *out (refcount 1), or -1 with *err (a bad trusted network).
 */
int milter_snap_new(struct byosmtp_conf *conf, struct milter_snap **out, char **err);
void milter_snap_unref(struct milter_snap *s);
/* milter_snap_conf - the configuration of S (valid while S is held) */
const struct byosmtp_conf *milter_snap_conf(const struct milter_snap *s);

/*
 * milter_init - register the callbacks with libmilter (smfi_register; before smfi_opensocket)
 * and set this host's name (Received: and loop detection) and the first snapshot (ownership
 * passes). libmilter's largest command (smfi_setmaxdatasize) is sized from the snapshot's
 * milter.max_header_size plus 1 MiB, so that a header field over the limit reaches the callback
 * and gets its 552 instead of a dropped connection; it holds until smfi_main returns. The
 * environment variable BYOSMTPD_TEST_CRASH (tests only; doc/spool.md) is read here. Call once,
 * before any thread and before smfi_main. 0 or -1 with *err.
 */
struct cluster;

int milter_init(const char *hostname, struct milter_snap *snap, char **err);

/*
 * milter_attach - the store and spool the callbacks use, and the cluster (NULL: cluster mode
 * off, doc/cluster.md); before smfi_main(), after opening LMDB
 */
void milter_attach(struct store *st, struct spool *sp, struct cluster *cl);

/*
 * milter_set_snap - make S (ownership passes) the snapshot of new connections; old ones keep
 * theirs. libmilter's read limit stays as milter_init sized it: a warning says so when S's
 * milter.max_header_size reaches it (raised by 1 MiB or more since start).
 */
void milter_set_snap(struct milter_snap *s);

/* milter_active - connections open now (for a graceful stop) */
unsigned milter_active(void);
/* milter_connections - connections the MTA has opened since start */
unsigned long milter_connections(void);

/* milter_done - drop the current snapshot (after the last connection has closed) */
void milter_done(void);

#endif
