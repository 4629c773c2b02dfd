/*
 * smtp_mode - the one definition of the two choices a target makes about its SMTP session:
 * the security mode (STARTTLS, TLS from the first byte, none) and the AUTH mechanism, with the
 * words targets.conf and byosmtpctl use for them. The target record (store/target.h), the
 * provider presets (provider.h) and the client (smtp_client.h) all use these enums, so no
 * layer translates one into another. Constant tables only: thread-safe.
 */
#ifndef BYOSMTP_SMTP_MODE_H
#define BYOSMTP_SMTP_MODE_H

/* The security mode; STARTTLS (never downgraded) is 0, the default. */
enum smtp_security { SMTP_SEC_STARTTLS, SMTP_SEC_TLS, SMTP_SEC_NONE };

/*
 * The AUTH mechanism wanted; AUTO takes the best offered: CRAM-MD5 > PLAIN > LOGIN. NONE sends no
 * AUTH at all (a relay that authorises this host by its IP address); it is allowed only over TLS.
 */
enum smtp_auth {
    SMTP_AUTH_AUTO,
    SMTP_AUTH_PLAIN,
    SMTP_AUTH_LOGIN,
    SMTP_AUTH_CRAM_MD5,
    SMTP_AUTH_XOAUTH2,
    SMTP_AUTH_NONE,
};

/* smtp_security_name - "starttls", "tls", "none" */
const char *smtp_security_name(enum smtp_security s);
/* smtp_security_parse - a security mode from its word, any case; -1 when unknown */
int smtp_security_parse(const char *s);
/* smtp_auth_name - "auto", "plain", "login", "cram-md5", "xoauth2", "none" */
const char *smtp_auth_name(enum smtp_auth a);
/* smtp_auth_parse - an AUTH mechanism from its word, any case; -1 when unknown */
int smtp_auth_parse(const char *s);

#endif
