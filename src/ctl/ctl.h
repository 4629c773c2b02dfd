/*
 * ctl - what the byosmtpctl commands share: the configuration, the store and key opened on
 * demand, password input, and the exit-status convention (0 success, 1 error, 2 usage).
 * byosmtpctl is single-threaded.
 */
#ifndef BYOSMTP_CTL_H
#define BYOSMTP_CTL_H

#include <stdbool.h>

#include "store/conf.h"
#include "store/secret.h"
#include "store/store.h"

enum { CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2 };

struct cluster;

struct ctl {
    const char *conf_file;
    struct byosmtp_conf *conf;
    struct store *store;
    struct secret_key *key;
    struct cluster *cluster; /* cluster mode, made on first use (ctl_cluster) */
    bool cluster_tried;
};

/* ctl_cluster - cluster mode's connection, made on first use; NULL when it is off or cannot be
 * made (a warning printed then) */
struct cluster *ctl_cluster(struct ctl *ctl);

/*
 * ctl_verify_newest - NAME's last verification result: this host's, or in cluster mode the one
 * another host shared when it is newer (*host its name, to free; NULL when it is this host's).
 * As store_verify_get: 1 with *v, 0 never verified, -1 with *err.
 */
int ctl_verify_newest(struct ctl *ctl, struct store *st, const char *name,
                      struct verify_result *v, char **host, char **err);

/* ctl_store - the store, opened on first use with MODE; NULL after printing the error */
struct store *ctl_store(struct ctl *ctl, enum store_mode mode);
/* ctl_key - the master key, loaded on first use; NULL after printing the error */
struct secret_key *ctl_key(struct ctl *ctl);

/* ctl_target_get - NAME's target into *t; CTL_OK, or CTL_ERROR after printing why (missing, store) */
int ctl_target_get(struct store *st, const char *name, struct target *t);

/*
 * ctl_read_password - one line from standard input (no echo when it is a terminal), without its
 * line ending. Returns a string to free with free_secret(), or NULL after printing the error.
 */
char *ctl_read_password(const char *prompt);
/* ctl_read_password_file - the first line of FILE, the same way */
char *ctl_read_password_file(const char *file);

/* ctl_usage - print "usage: ..." on stderr and return CTL_USAGE */
int ctl_usage(const char *text);
/* ctl_fail - print the error (and free it) and return CTL_ERROR */
int ctl_fail(char *err);

int ctl_cmd_key(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_encrypt(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_load(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_dump(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_target(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_route(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_quota(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_verify(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_providers(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_queue(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_stats(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_config(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_cluster(struct ctl *ctl, int argc, char **argv);

#endif
