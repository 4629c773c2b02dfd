/*
 * ctl_route - "byosmtpctl route ...": the two route tables, by recipient and by envelope sender
 * (--sender), one route at a time: add, rm, list (both tables), and test, which prints the
 * target an address would go to, the table and the rule that matched (byosmtpctl(8)).
 * byosmtpctl is single-threaded.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define ROUTE_USAGE                                                                                \
    "byosmtpctl route add [--sender] MATCH TARGET | rm [--sender] MATCH | list | test ADDRESS "   \
    "[--sender SENDER]"

/* lookup - one table's answer for ADDR: 1 with *target and *rule, 0 none, -1 after printing */
static int lookup(struct store *st, enum route_by by, const char *addr, char **target, char **rule)
{
    char *err = NULL;
    int rc = store_route_lookup_by(st, by, addr, strlen(addr), target, rule, &err);

    if (rc < 0)
        ctl_fail(err);
    return rc;
}

/*
 * route_test - the target of recipient ADDR (from SENDER when given), as byosmtpd decides it:
 * the table routing.order asks first, then the other; the target's allowed_senders when a
 * sender is given. Exit 1 when nothing matches or the sender is not allowed.
 */
static int route_test(struct ctl *ctl, const char *addr, const char *sender)
{
    struct store *st = ctl_store(ctl, STORE_READ);
    enum route_by first = ctl->conf->routing.order == ROUTING_SENDER_FIRST ? ROUTE_BY_SENDER
                                                                           : ROUTE_BY_RECIPIENT;
    enum route_by by = first;
    char *target = NULL, *rule = NULL;
    struct target t;
    int rc = 0;

    if (st == NULL)
        return CTL_ERROR;
    for (int i = 0; i < 2 && rc == 0; i++) {
        by = i == 0 ? first : first == ROUTE_BY_SENDER ? ROUTE_BY_RECIPIENT : ROUTE_BY_SENDER;
        if (by == ROUTE_BY_SENDER && sender == NULL)
            continue;
        rc = lookup(st, by, by == ROUTE_BY_SENDER ? sender : addr, &target, &rule);
    }
    if (rc < 0)
        return CTL_ERROR;
    if (rc == 0) {
        printf("%s -> no route (not relayed: the MTA delivers it as usual)\n", addr);
        return CTL_ERROR;
    }
    if (by == ROUTE_BY_SENDER)
        printf("%s -> %s (matched %s) in sender_routes by the sender %s, rule %s\n", addr, target,
               rule, sender, route_rule_name(rule));
    else
        printf("%s -> %s (matched %s) in routes, rule %s\n", addr, target, rule,
               route_rule_name(rule));
    rc = CTL_OK;
    if (sender != NULL && ctl_target_get(st, target, &t) == CTL_OK) {
        if (t.allowed_senders[0] != '\0' && !route_matches_sender(t.allowed_senders, sender)) {
            printf("  but sender %s is not in allowed_senders of target %s: not relayed (the MTA "
                   "delivers it as usual)\n", sender, target);
            rc = CTL_ERROR;
        }
        target_free(&t);
    }
    free(target);
    free(rule);
    return rc;
}

/* route_list - both tables, "MATCH -> TARGET" (sender routes as "--sender MATCH -> TARGET") */
static int route_list(struct ctl *ctl)
{
    struct store *st = ctl_store(ctl, STORE_READ);
    struct target_set all;
    char *err = NULL;

    if (st == NULL)
        return CTL_ERROR;
    if (store_get_all(st, &all, &err) < 0)
        return ctl_fail(err);
    for (size_t i = 0; i < all.nroutes; i++)
        printf("%s -> %s\n", all.routes[i].match, all.routes[i].target);
    for (size_t i = 0; i < all.nsender_routes; i++)
        printf("--sender %s -> %s\n", all.sender_routes[i].match, all.sender_routes[i].target);
    target_set_free(&all);
    return CTL_OK;
}

/* route_change - "route add [--sender] MATCH TARGET" (ADD) or "route rm [--sender] MATCH" */
static int route_change(struct ctl *ctl, bool add, int argc, char **argv)
{
    enum route_by by = ROUTE_BY_RECIPIENT;
    const char *prefix = "";
    struct store *st;
    char *err = NULL;
    int rc;

    if (argc >= 1 && strcmp(argv[0], "--sender") == 0) {
        by = ROUTE_BY_SENDER;
        prefix = "sender ";
        argc--, argv++;
    }
    if (argc != (add ? 2 : 1))
        return ctl_usage(add ? "byosmtpctl route add [--sender] MATCH TARGET"
                             : "byosmtpctl route rm [--sender] MATCH");
    if ((st = ctl_store(ctl, STORE_WRITE)) == NULL)
        return CTL_ERROR;
    if (add) {
        if (store_route_put_by(st, by, argv[0], argv[1], &err) < 0)
            return ctl_fail(err);
        printf("%sroute %s -> %s added\n", prefix, argv[0], argv[1]);
        return CTL_OK;
    }
    if ((rc = store_route_del_by(st, by, argv[0], &err)) < 0)
        return ctl_fail(err);
    if (rc == 0)
        return ctl_fail(xasprintf("%sroute '%s' does not exist (see 'byosmtpctl route list')",
                                  prefix, argv[0]));
    printf("%sroute %s removed\n", prefix, argv[0]);
    return CTL_OK;
}

int ctl_cmd_route(struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "rm") == 0))
        return route_change(ctl, strcmp(argv[1], "add") == 0, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        if (argc != 2)
            return ctl_usage("byosmtpctl route list");
        return route_list(ctl);
    }
    if (argc >= 2 && strcmp(argv[1], "test") == 0) {
        if (argc == 3 && argv[2][0] != '-')
            return route_test(ctl, argv[2], NULL);
        if (argc == 5 && argv[2][0] != '-' && strcmp(argv[3], "--sender") == 0)
            return route_test(ctl, argv[2], argv[4]);
        if (argc == 5 && strcmp(argv[2], "--sender") == 0 && argv[4][0] != '-')
            return route_test(ctl, argv[4], argv[3]);
        return ctl_usage("byosmtpctl route test ADDRESS [--sender SENDER]");
    }
    return ctl_usage(ROUTE_USAGE);
}
