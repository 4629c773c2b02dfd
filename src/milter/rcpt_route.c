/*
 * rcpt_route - one recipient's route and quota decision, and a message's recipients grouped by
 * target. The store is the only source: the route lookups (recipient and sender routes, in the
 * order of routing.order), the target's record and, for a target with a monthly quota, its
 * quota record of the month (each a short read transaction).
 * Thread-safety: see rcpt_route.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "milter/rcpt_route.h"
#include "util/util.h"

/* rcpt_bare - ADDR without one pair of <> and surrounding blanks, as a new string */
char *rcpt_bare(const char *addr)
{
    size_t n;

    while (*addr == ' ')
        addr++;
    n = strlen(addr);
    while (n > 0 && addr[n - 1] == ' ')
        n--;
    if (n >= 2 && addr[0] == '<' && addr[n - 1] == '>')
        return xstrndup(addr + 1, n - 2);
    return xstrndup(addr, n);
}

/* pending - the recipients SO_FAR holds for target NAME */
static size_t pending(const struct rcpt_routing *so_far, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < so_far->ngroups; i++)
        if (strcmp(so_far->groups[i].t.name, name) == 0)
            n = so_far->groups[i].n;
    return n;
}

/* find_target - the target a route of table BY names for ADDR: 1 and out->t, 0 none, -1 why */
static int find_target(struct store *st, enum route_by by, const char *addr,
                       struct rcpt_decision *out)
{
    const char *table = by == ROUTE_BY_SENDER ? "sender route" : "route";
    char *target = NULL, *err = NULL;
    int rc;

    rc = store_route_lookup_by(st, by, addr, strlen(addr), &target, &out->rule, &err);
    if (rc < 0) {
        out->why = xasprintf("%s lookup for %s: %s", table, addr, err);
        free(err);
        return -1;
    }
    if (rc == 0)
        return 0;
    out->by = by;
    rc = store_target_get(st, target, &out->t, &err);
    if (rc < 0)
        out->why = xasprintf("target %s of %s: %s", target, addr, err);
    else if (rc == 0)
        out->why = xasprintf("%s '%s' names target %s, which does not exist", table, out->rule,
                             target);
    free(err);
    free(target);
    return rc > 0 ? 1 : -1;
}

/* route_target - the target of RCPT: the table Q->order names first, then the other */
static int route_target(struct store *st, const struct rcpt_query *q, const char *rcpt,
                        struct rcpt_decision *out)
{
    enum route_by first = q->order == ROUTING_SENDER_FIRST ? ROUTE_BY_SENDER : ROUTE_BY_RECIPIENT;
    const char *sender = q->sender != NULL ? q->sender : "";
    int rc = 0;

    for (int i = 0; i < 2 && rc == 0; i++) {
        enum route_by by = i == 0 ? first : first == ROUTE_BY_SENDER ? ROUTE_BY_RECIPIENT
                                                                     : ROUTE_BY_SENDER;

        rc = find_target(st, by, by == ROUTE_BY_SENDER ? sender : rcpt, out);
    }
    return rc;
}

/*
 * cluster_room - cluster mode: the cached cluster total (never a call to Redis) decides too;
 * over quota with the total in OUT->q.accepted, or an error (TEMPFAIL) while Redis is
 * unreachable and cluster.degraded_quota is "tempfail"
 */
static enum rcpt_verdict cluster_room(const struct rcpt_query *q,
                                      const struct rcpt_routing *so_far, struct rcpt_decision *out)
{
    uint64_t later = pending(so_far, out->t.name), total = 0;

    switch (cluster_quota_room(q->cluster, out->t.name, q->month, out->t.monthly_quota,
                               out->q.accepted + later, 1, &total)) {
    case CLUSTER_ROOM:
        return ROUTE_ROUTED;
    case CLUSTER_FULL:
        out->q.accepted = total > later ? total - later : 0;
        return ROUTE_OVER_QUOTA;
    case CLUSTER_WAIT:
        break;
    }
    out->why = xasprintf("target %s has a monthly quota shared through Redis, which is "
                         "unreachable (cluster.degraded_quota = tempfail)", out->t.name);
    return ROUTE_ERROR;
}

/* rcpt_route - route lookup, the target's allowed senders, then its month's quota record */
enum rcpt_verdict rcpt_route(struct store *st, const struct rcpt_query *q, const char *rcpt,
                             const struct rcpt_routing *so_far, struct rcpt_decision *out)
{
    char *err = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (has_line_break(rcpt, strlen(rcpt)))
        return ROUTE_NOT_OURS;
    rc = route_target(st, q, rcpt, out);
    if (rc <= 0)
        return rc < 0 ? ROUTE_ERROR : ROUTE_NOT_OURS;
    out->bare = rcpt_bare(rcpt);
    if (out->t.allowed_senders[0] != '\0' &&
        !route_matches_sender(out->t.allowed_senders, q->sender != NULL ? q->sender : ""))
        return ROUTE_SENDER_REFUSED;
    if (out->t.monthly_quota == 0)
        return ROUTE_ROUTED;
    if (store_quota_get(st, out->t.name, q->month, &out->q, &err) < 0) {
        out->why = xasprintf("quota of target %s: %s", out->t.name, err);
        free(err);
        return ROUTE_ERROR;
    }
    if (out->q.accepted + pending(so_far, out->t.name) + 1 > out->t.monthly_quota)
        return ROUTE_OVER_QUOTA;
    return q->cluster ? cluster_room(q, so_far, out) : ROUTE_ROUTED;
}

/* rcpt_decision_free - free what D holds and zero it */
void rcpt_decision_free(struct rcpt_decision *d)
{
    target_free(&d->t);
    free(d->bare);
    free(d->rule);
    free(d->why);
    free(d->params);
    memset(d, 0, sizeof(*d));
}

/* group_for - the group of D's target in R, created (the target moved in) when new */
static struct rcpt_group *group_for(struct rcpt_routing *r, struct rcpt_decision *d)
{
    struct rcpt_group *g;

    for (size_t i = 0; i < r->ngroups; i++)
        if (strcmp(r->groups[i].t.name, d->t.name) == 0) {
            target_free(&d->t);
            return &r->groups[i];
        }
    r->groups = xrealloc(r->groups, (r->ngroups + 1) * sizeof(*r->groups));
    g = &r->groups[r->ngroups++];
    memset(g, 0, sizeof(*g));
    g->t = d->t;
    memset(&d->t, 0, sizeof(d->t));
    return g;
}

/* rcpt_routing_add - add D's recipient to its target's group unless it is there already */
const struct rcpt_group *rcpt_routing_add(struct rcpt_routing *r, const char *exact,
                                          struct rcpt_decision *d)
{
    struct rcpt_group *g = group_for(r, d);

    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->bare[i], d->bare) == 0) {
            free(d->bare);
            d->bare = NULL;
            return NULL;
        }
    g->exact = xrealloc(g->exact, (g->n + 1) * sizeof(*g->exact));
    g->bare = xrealloc(g->bare, (g->n + 1) * sizeof(*g->bare));
    g->params = xrealloc(g->params, (g->n + 1) * sizeof(*g->params));
    g->exact[g->n] = xstrdup(exact);
    g->bare[g->n] = d->bare;
    g->params[g->n] = d->params != NULL ? d->params : xstrdup("");
    d->bare = NULL;
    d->params = NULL;
    g->n++;
    return g;
}

/* rcpt_routing_count - the recipients of every group */
size_t rcpt_routing_count(const struct rcpt_routing *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->ngroups; i++)
        n += r->groups[i].n;
    return n;
}

/* group_free - free what group G holds */
static void group_free(struct rcpt_group *g)
{
    for (size_t k = 0; k < g->n; k++) {
        free(g->exact[k]);
        free(g->bare[k]);
        free(g->params[k]);
    }
    free(g->exact);
    free(g->bare);
    free(g->params);
    target_free(&g->t);
}

/* rcpt_routing_drop - free group K and close the gap */
void rcpt_routing_drop(struct rcpt_routing *r, size_t k)
{
    group_free(&r->groups[k]);
    memmove(&r->groups[k], &r->groups[k + 1], (r->ngroups - k - 1) * sizeof(*r->groups));
    r->ngroups--;
}

/* rcpt_routing_free - free the groups and leave R empty */
void rcpt_routing_free(struct rcpt_routing *r)
{
    for (size_t i = 0; i < r->ngroups; i++)
        group_free(&r->groups[i]);
    free(r->groups);
    r->groups = NULL;
    r->ngroups = 0;
}
