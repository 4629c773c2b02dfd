/*
 * target_smtp - how a target (target.h) and the delivery settings (conf.h) become the
 * smarthost client's parameters (smtp_client.h): the one mapping of security mode, AUTH
 * mechanism, TLS and timeouts, shared by delivery and "byosmtpctl verify" so that verify
 * tests exactly what delivery does. Pure function on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_TARGET_SMTP_H
#define BYOSMTP_TARGET_SMTP_H

#include "store/conf.h"
#include "smtp/smtp_client.h"
#include "store/target.h"

/*
 * target_smtp_params - fill *P for a session with target T under configuration C, using the
 * clear PASSWORD (the client copies it; the caller wipes its own). Strings in *P point into T,
 * C and PASSWORD, which must outlive the smtp_client_open() call. The trace is left unset;
 * log_name is the target's name.
 */
void target_smtp_params(const struct target *t, const struct byosmtp_conf *c, const char *password,
                        struct smtp_params *p);

#endif
