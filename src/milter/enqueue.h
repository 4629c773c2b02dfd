/*
 * enqueue - the durable commit of a received message (doc/spool.md, "Commit"): one rewritten
 * copy per target written to incoming/ and fsynced, incoming/ fsynced, the copies' store
 * records and quota counts committed in one LMDB transaction that checks each copy against its
 * target's monthly quota first (the commit point; doc/design.md, "Quota"), the copies renamed
 * into queue/ and queue/ fsynced. A failure before the commit point leaves nothing of the
 * message in the spool or the store; a failed rename after it takes the commit back. A copy
 * the quota has no room for is never committed: quota.action says what happens to the rest.
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

#include "cluster/cluster.h"
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
    struct cluster *cluster; /* cluster mode (doc/cluster.md): the shared quota; NULL: off */
};

/* The envelope of the received message. */
struct enqueue_envelope {
    const char *sender;       /* MAIL FROM without <> ("" for the null sender) */
    const char *mail_params;  /* the ESMTP parameters of MAIL, space-separated; "" when none */
    const char *mta_queue_id; /* the MTA's queue id; NULL when unknown (logged as NOQUEUE) */
    time_t arrival;           /* now: the copies' arrival, Received: date and quota month */
    size_t nrcpts;            /* every recipient the MTA has for the message, relayed or not;
                                 0 when not known (then a refusal is never ENQUEUE_REJECTED) */
};

/* The outcome for one target (one group of the routing as it was when enqueue_commit began). */
struct enqueue_copy {
    char id[SPOOL_ID_LEN + 1]; /* the spool id of the target's copy, now in queue/; "" if none */
    bool over_quota;           /* the target's monthly quota had no room for the copy */
};

/* What enqueue_commit returns; the milter's reply for each is in doc/design.md, "Quota". */
enum enqueue_result {
    ENQUEUE_REJECTED = -3,  /* over quota, quota.action reject, and no recipient of the message
                               left (every one over quota): nothing committed; answer 550 5.7.1 */
    ENQUEUE_DEFERRED = -2,  /* over quota, quota.action tempfail, or reject with recipients left:
                               nothing committed; answer 451 4.7.1 */
    ENQUEUE_FAILED = -1,    /* a spool or store failure: nothing committed; answer 451 4.3.0 */
    ENQUEUE_COMMITTED = 0,  /* every group left in the routing is committed */
};

/*
 * enqueue_commit - write and commit one copy per group of R: the header section of RCV
 * rewritten for the group's target (CONF's rewrite settings), RCV's body, ENV and the group's
 * bare recipients as the envelope (the envelope sender: enqueue_envelope_from()).
 * The commit checks each copy against its target's monthly_quota in the store transaction
 * that counts it; a copy that does not fit is refused whole (never committed, never counted):
 *  - quota.action passthrough: the copies that fit are committed, the refused groups are
 *    removed from R (their recipients stay with the MTA; R may be left empty): ENQUEUE_COMMITTED;
 *  - tempfail: nothing is committed: ENQUEUE_DEFERRED;
 *  - reject: nothing is committed: ENQUEUE_REJECTED when the refused groups hold all ENV->nrcpts
 *    recipients of the message, else ENQUEUE_DEFERRED (the retry meets the RCPT check).
 * Each refused recipient is logged with quota.action's word, and for a refusal *why says which
 * target. Logs "QID: spooled id=... target=... rcpts=N from=<...>" per committed copy. Returns
 * ENQUEUE_COMMITTED with R holding exactly the committed groups, a refusal above, or
 * ENQUEUE_FAILED with *why: nothing of the message is then left queued or counted (unless the
 * store could not take its commit back, which is logged and left to recovery). OUT (NULL, or
 * one per group of R on entry) says what became of each. RCV is read, never removed.
 */
int enqueue_commit(const struct enqueue_dest *d, const struct byosmtp_conf *conf,
                   struct spool_msg *rcv, const struct enqueue_envelope *env,
                   struct rcpt_routing *r, struct enqueue_copy *out, char **why);

/*
 * enqueue_envelope_from - the envelope sender towards the provider for target T's copies: T's
 * envelope_from when set, else T's from_address (rewrite.envelope_from = "target") or SENDER,
 * the original envelope sender without <> ("original"). Points into T, CONF or SENDER.
 */
char *enqueue_envelope_from(const struct byosmtp_conf *conf, const struct target *t,
                            const char *sender);

#endif
