/*
 * enqueue - the durable commit of a received message (doc/spool.md, "Commit"): one rewritten
 * copy per target written to incoming/ and fsynced, incoming/ fsynced, the copies' store
 * records and quota counts committed in one LMDB transaction (the commit point), the copies
 * renamed into queue/ and queue/ fsynced. A failure before the commit point leaves nothing of
 * the message in the spool or the store; a failed rename after it takes the commit back.
 *
 * Test hook: the environment variable BYOSMTPD_TEST_CRASH=POINT (tests/milter/crash.sh) makes
 * the process SIGKILL itself at POINT: "written" (every copy written), "fsync" (incoming/
 * synced), "commit" (store committed) or "publish" (copies in queue/, queue/ synced).
 *
 * Nothing here knows libmilter: the caller passes plain data and maps the result to its reply.
 * Thread-safety: enqueue_commit() may run in any number of threads at once (store and spool
 * handles are thread-safe); the reception file and the routing belong to the calling thread.
 */
#ifndef BYOSMTP_ENQUEUE_H
#define BYOSMTP_ENQUEUE_H

#include <time.h>

#include "milter/rcpt_route.h"
#include "spool/spool.h"
#include "store/conf.h"
#include "store/store.h"

/* The environment variable that names the crash point (tests only; unset in production). */
#define ENQUEUE_CRASH_ENV "BYOSMTPD_TEST_CRASH"

/* Where copies go and what every copy of this process shares. */
struct enqueue_dest {
    struct store *store;
    struct spool *spool;
    const char *hostname;    /* this host's name, for the Received: field */
    const char *crash_point; /* the test hook's POINT (getenv(ENQUEUE_CRASH_ENV)); NULL: none */
};

/* The envelope of the received message. */
struct enqueue_envelope {
    const char *sender;       /* MAIL FROM without <> ("" for the null sender) */
    const char *mail_params;  /* the ESMTP parameters of MAIL, space-separated; "" when none */
    const char *mta_queue_id; /* the MTA's queue id; NULL when unknown (logged as NOQUEUE) */
    time_t arrival;           /* now: the copies' arrival, Received: date and quota month */
};

/* The outcome for one target, once the message is committed. */
struct enqueue_copy {
    char id[SPOOL_ID_LEN + 1]; /* the spool id of the target's copy, now in queue/ */
};

/*
 * enqueue_commit - write and commit one copy per group of R: the header section of RCV
 * rewritten for the group's target (CONF's rewrite settings), RCV's body, ENV and the group's
 * bare recipients as the envelope (the envelope sender per CONF's rewrite.envelope_from).
 * Logs "QID: spooled id=... target=... rcpts=N from=<...>" per copy on success. Returns 0
 * with OUT[k] (one per group; OUT may be NULL) filled, or -1 with *why: nothing of the
 * message is then left queued or counted (unless the store could not take its commit back,
 * which is logged and left to recovery). RCV is read, never removed.
 */
int enqueue_commit(const struct enqueue_dest *d, const struct byosmtp_conf *conf,
                   struct spool_msg *rcv, const struct enqueue_envelope *env,
                   const struct rcpt_routing *r, struct enqueue_copy *out, char **why);

#endif
