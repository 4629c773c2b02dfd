/*
 * cluster_redis - the one Redis connection of a process in cluster mode (doc/cluster.md), over
 * hiredis: connect and command timeouts from cluster.timeout_ms, AUTH from
 * cluster.password_file (read once, never logged), reconnection with a growing pause, and one
 * log line for each change between reachable and unreachable ("degraded").
 *
 * Only files of src/cluster/ include this header (it names hiredis types); the rest of the
 * program uses cluster/cluster.h. Built only with hiredis (configure --without-hiredis leaves
 * it out).
 *
 * Thread-safety: one mutex per connection; a command holds it for at most about two
 * cluster.timeout_ms (connect, then the command). While the pause after a failure runs, a
 * command fails at once, without touching the network. hiredis writes with write(2): the
 * program must ignore SIGPIPE (a Redis that went away would kill it).
 */
#ifndef BYOSMTP_CLUSTER_REDIS_H
#define BYOSMTP_CLUSTER_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/conf.h"

struct cluster_redis;

/*
 * cluster_redis_new - a connection to C's cluster.redis, not yet opened; reads
 * cluster.password_file. NULL with *err (the file unreadable or empty).
 */
struct cluster_redis *cluster_redis_new(const struct byosmtp_conf *c, char **err);
void cluster_redis_free(struct cluster_redis *r);

/*
 * cluster_redis_command - send one command (ARGC words of ARGV, lengths ARGVLEN or NULL for C
 * strings) and return its reply (freeReplyObject), connecting first when needed. NULL with *err
 * when Redis is unreachable (or the pause after a failure still runs); the connection is then
 * counted as degraded. An error reply of Redis (REDIS_REPLY_ERROR) is returned as a reply.
 */
redisReply *cluster_redis_command(struct cluster_redis *r, int argc, const char **argv,
                                  const size_t *argvlen, char **err);

/* cluster_redis_delivery - this is the delivery process's connection: its lines about Redis's
 * reachability say what the delivery side does meanwhile */
void cluster_redis_delivery(struct cluster_redis *r);

/* cluster_redis_degraded - true while the last attempt to reach Redis failed */
bool cluster_redis_degraded(struct cluster_redis *r);

/* cluster_redis_where - the address, as cluster.redis names it (for messages) */
const char *cluster_redis_where(const struct cluster_redis *r);

#endif
