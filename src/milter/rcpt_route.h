/*
 * rcpt_route - the decision at RCPT (doc/design.md, "Targets and routes", "The milter side") and the recipients a message has routed
 * so far, one group per target.
 *
 * rcpt_route() answers one recipient: not ours (no route, or an address with a line break),
 * routed to a target, over that target's monthly quota, or an error of the store. It knows
 * nothing of libmilter: byosmtpd's RCPT callback maps the answer to its reply, and end of
 * message hands the groups to enqueue_commit().
 * Thread-safety: rcpt_route() only reads the store (thread-safe); a struct rcpt_routing
 * belongs to one message, so to one thread at a time.
 */
#ifndef BYOSMTP_RCPT_ROUTE_H
#define BYOSMTP_RCPT_ROUTE_H

#include <stddef.h>

#include "cluster/cluster.h"
#include "store/conf.h"
#include "store/store.h"
#include "store/target.h"

/* One target of a message and the recipients routed to it, in the order of their RCPT. */
struct rcpt_group {
    struct target t;
    char **exact; /* recipients as received at RCPT (what the MTA knows them as) */
    char **bare;  /* the same without <> (for the spool) */
    char **params; /* the ESMTP parameters of its RCPT (NOTIFY=, ORCPT=), space-separated; "" */
    size_t n;
};

/* The recipients a message has routed so far. Zeroed is empty. */
struct rcpt_routing {
    struct rcpt_group *groups; /* one per target, in the order of their first recipient */
    size_t ngroups;
};

enum rcpt_verdict {
    ROUTE_NOT_OURS,   /* no route, or the address holds a line break: the MTA keeps it */
    ROUTE_ROUTED,     /* a route names a target with room in its monthly quota */
    ROUTE_OVER_QUOTA, /* a route names a target whose quota this recipient would exceed */
    ROUTE_ERROR,      /* the store could not answer, or the route names no existing target */
    ROUTE_SENDER_REFUSED, /* a route names a target whose allowed_senders do not hold the
                             envelope sender: the MTA keeps the recipient (and it is logged) */
};

/* What rcpt_route() found besides the verdict. Free with rcpt_decision_free. */
struct rcpt_decision {
    struct target t;       /* ROUTED, OVER_QUOTA, SENDER_REFUSED: the target (zeroed otherwise) */
    char *bare;            /* ROUTED, OVER_QUOTA, SENDER_REFUSED: the recipient without <> */
    enum route_by by;      /* ... and the table whose route named the target */
    char *rule;            /* ... and the match of that route */
    struct quota_record q; /* OVER_QUOTA: the target's record for the month */
    char *why;             /* ERROR: what failed, for the log */
    char *params;          /* the caller's: RCPT's ESMTP parameters, which rcpt_routing_add()
                              takes over (NULL: none) */
};

/* What is known of the message when a recipient comes. */
struct rcpt_query {
    const char *sender; /* the envelope sender as received at MAIL ("<>", "" or NULL: null) */
    enum conf_routing_order order; /* routing.order: which table is asked first */
    const char *month;  /* "YYYY-MM" of the quota record to check */
    struct cluster *cluster; /* cluster mode: the cached cluster total counts too; NULL: off */
};

/*
 * rcpt_route - decide for recipient RCPT (as received at RCPT, <> allowed) of a message that
 * has routed SO_FAR already (doc/design.md, "Targets and routes"). The target is named by the
 * recipient routes or the sender routes (Q->sender; the null sender has no sender route),
 * whichever Q->order asks first; a target with allowed_senders takes the recipient only when
 * Q->sender matches one of them (ROUTE_SENDER_REFUSED otherwise; the null sender only with
 * "<>"). A target with a monthly_quota is over it when its 'accepted' count for Q->month, plus
 * the recipients SO_FAR holds for it, plus this one, exceeds the quota. *out is always set
 * (rcpt_decision_free it whatever the verdict).
 */
enum rcpt_verdict rcpt_route(struct store *st, const struct rcpt_query *q, const char *rcpt,
                             const struct rcpt_routing *so_far, struct rcpt_decision *out);
void rcpt_decision_free(struct rcpt_decision *d);

/*
 * rcpt_routing_add - add the recipient of a ROUTE_ROUTED decision D (EXACT as received) to R:
 * D's target and bare address are moved into R, D is left zeroed. Returns the group the
 * recipient joined, or NULL when that group holds the same address already (one copy, one
 * count: nothing is added).
 */
const struct rcpt_group *rcpt_routing_add(struct rcpt_routing *r, const char *exact,
                                          struct rcpt_decision *d);
/* rcpt_routing_drop - remove group K of R (freed; the groups after it move up one) */
void rcpt_routing_drop(struct rcpt_routing *r, size_t k);
/* rcpt_routing_count - the recipients R holds, all groups together */
size_t rcpt_routing_count(const struct rcpt_routing *r);
/* rcpt_routing_free - free every group of R and leave it empty */
void rcpt_routing_free(struct rcpt_routing *r);

/* rcpt_bare - an envelope address without one pair of <> and surrounding blanks; caller frees */
char *rcpt_bare(const char *addr);

#endif
