/*
 * target_smtp - the mapping from a target and the delivery settings to smtp_params
 * (see target_smtp.h). Moved here from ctl_verify.c so delivery and verify share it.
 */
#include "config.h"

#include "delivery/target_smtp.h"

/* target_smtp_params - the client parameters for target T, as delivery uses them */
void target_smtp_params(const struct target *t, const struct byosmtp_conf *c, const char *password,
                        struct smtp_params *p)
{
    *p = (struct smtp_params){
        .host = t->host,
        .port = t->port,
        .security = t->security,
        .helo_name = c->delivery.helo_name,
        .username = t->username,
        .password = password,
        .auth = t->auth,
        .tls_skip_verify = !t->tls_verify,
        .tls_ca_file = c->delivery.tls_ca_file,
        .tls_ca_path = c->delivery.tls_ca_path,
        .tls_min_version = c->delivery.tls_min_version,
        .timeouts = {.connect = c->delivery.connect_timeout,
                     .helo = c->delivery.helo_timeout,
                     .command = c->delivery.command_timeout,
                     .data_xfer = c->delivery.data_timeout,
                     .data_done = c->delivery.data_done_timeout},
        .log_name = t->name,
    };
}
