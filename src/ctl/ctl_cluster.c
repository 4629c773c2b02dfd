/*
 * ctl_cluster - byosmtpctl cluster status: the hosts of cluster mode as Redis knows them
 * (doc/cluster.md): last seen, clock offset, counts published, targets and their digest.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "util/util.h"

int ctl_cmd_cluster(struct ctl *ctl, int argc, char **argv)
{
    struct cluster *cl;
    char *err = NULL;
    int rc;

    if (argc != 2 || strcmp(argv[1], "status") != 0)
        return ctl_usage("byosmtpctl cluster status");
    if (!ctl->conf->cluster.enabled)
        return ctl_fail(xasprintf("cluster mode is off (cluster.enabled = false in %s): see "
                                  "doc/cluster.md", ctl->conf->file));
    if ((cl = cluster_new(ctl->conf, &err)) == NULL)
        return ctl_fail(err);
    signal(SIGPIPE, SIG_IGN); /* a Redis that goes away must not kill us (cluster_redis.h) */
    rc = cluster_status(cl, stdout, &err);
    cluster_free(cl);
    if (rc < 0)
        return ctl_fail(xasprintf("%s (this host counts as degraded: see "
                                  "cluster.degraded_quota)", err));
    free(err);
    return rc == 0 ? CTL_OK : CTL_ERROR;
}
