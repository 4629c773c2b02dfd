/* check_smtp_trouble - the classification table: every reply and event to its class and action */
#include "config.h"

#include "smtp/smtp_trouble.h"
#include "testutil.h"

static const struct {
    enum smtp_stage stage;
    int code;
    const char *enh;
    const char *text;
    enum smtp_security sec;
    const char *cls;
    enum smtp_action action;
} replies[] = {
    /* positive replies the stage expects */
    {SMTP_STAGE_BANNER, 220, "", "provider.test ESMTP", SMTP_SEC_STARTTLS, "ok", SMTP_DONE},
    {SMTP_STAGE_AUTH, 235, "2.7.0", "Authentication successful", SMTP_SEC_TLS, "ok", SMTP_DONE},
    {SMTP_STAGE_AUTH, 334, "", "VXNlcm5hbWU6", SMTP_SEC_TLS, "ok", SMTP_DONE},
    {SMTP_STAGE_DATA, 354, "", "End data with <CR><LF>.<CR><LF>", SMTP_SEC_TLS, "ok", SMTP_DONE},
    {SMTP_STAGE_DOT, 250, "2.0.0", "Ok: queued", SMTP_SEC_TLS, "ok", SMTP_DONE},
    {SMTP_STAGE_RCPT, 251, "", "User not local; will forward", SMTP_SEC_TLS, "ok", SMTP_DONE},
    /* positive replies at the wrong moment */
    {SMTP_STAGE_DATA, 250, "", "Ok", SMTP_SEC_TLS, "protocol", SMTP_RETRY},
    {SMTP_STAGE_MAIL, 354, "", "go ahead", SMTP_SEC_TLS, "protocol", SMTP_RETRY},
    {SMTP_STAGE_MAIL, 999, "", "garbage", SMTP_SEC_TLS, "protocol", SMTP_RETRY},
    {SMTP_STAGE_MAIL, 0, "", "", SMTP_SEC_TLS, "protocol", SMTP_RETRY},
    /* throttling (doc/delivery-rules.md), at any stage */
    {SMTP_STAGE_MAIL, 421, "4.7.0", "Try again later", SMTP_SEC_TLS, "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_BANNER, 421, "4.7.0", "Too many connections", SMTP_SEC_TLS, "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_DOT, 454, "", "Throttling failure: Maximum sending rate exceeded.", SMTP_SEC_TLS,
     "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_MAIL, 454, "4.7.0", "Throttling failure: Daily message quota exceeded.", SMTP_SEC_TLS,
     "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_MAIL, 432, "4.3.2", "System not accepting network messages", SMTP_SEC_TLS,
     "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_RCPT, 550, "5.4.5", "Daily user sending quota exceeded.", SMTP_SEC_TLS,
     "rate_limited", SMTP_THROTTLE},
    {SMTP_STAGE_DOT, 550, "5.4.5", "Daily sending quota exceeded", SMTP_SEC_TLS, "rate_limited",
     SMTP_THROTTLE},
    {SMTP_STAGE_MAIL, 451, "4.3.0", "Rate limit exceeded, slow down", SMTP_SEC_TLS, "rate_limited",
     SMTP_THROTTLE},
    {SMTP_STAGE_RCPT, 421, "4.4.2", "Message throttled; try later", SMTP_SEC_TLS, "rate_limited",
     SMTP_THROTTLE},
    {SMTP_STAGE_MAIL, 451, "4.7.28", "unusual sending-rate detected", SMTP_SEC_TLS, "rate_limited",
     SMTP_THROTTLE},
    /* "rate" inside another word is not throttling */
    {SMTP_STAGE_MAIL, 451, "4.3.0", "cannot generate a queue id", SMTP_SEC_TLS, "temporary",
     SMTP_RETRY},
    {SMTP_STAGE_MAIL, 421, "4.3.2", "Service shutting down", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    /* authentication: defer, never bounce */
    {SMTP_STAGE_AUTH, 535, "5.7.8", "Authentication credentials invalid", SMTP_SEC_TLS,
     "auth_failed", SMTP_RETRY},
    {SMTP_STAGE_AUTH, 535, "", "Authentication failed", SMTP_SEC_STARTTLS, "auth_failed", SMTP_RETRY},
    {SMTP_STAGE_AUTH, 534, "5.7.9", "Application-specific password required", SMTP_SEC_TLS,
     "auth_failed", SMTP_RETRY},
    {SMTP_STAGE_AUTH, 454, "4.7.0", "Temporary authentication failure", SMTP_SEC_TLS, "auth_failed",
     SMTP_RETRY},
    {SMTP_STAGE_AUTH, 504, "5.5.4", "Unrecognized authentication type", SMTP_SEC_TLS,
     "auth_unavailable", SMTP_RETRY},
    {SMTP_STAGE_AUTH, 538, "5.7.11", "Encryption required", SMTP_SEC_NONE, "auth_unavailable",
     SMTP_RETRY},
    {SMTP_STAGE_AUTH, 421, "4.3.2", "closing", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    /* STARTTLS required under none */
    {SMTP_STAGE_MAIL, 530, "5.7.0", "Must issue a STARTTLS command first", SMTP_SEC_NONE,
     "starttls_required", SMTP_RETRY},
    {SMTP_STAGE_AUTH, 530, "5.7.0", "Must issue a STARTTLS command first", SMTP_SEC_NONE,
     "starttls_required", SMTP_RETRY},
    {SMTP_STAGE_MAIL, 530, "5.7.0", "Authentication required", SMTP_SEC_TLS, "auth_failed",
     SMTP_RETRY},
    /* STARTTLS refused although offered */
    {SMTP_STAGE_STARTTLS, 454, "4.7.0", "TLS not available due to local problem", SMTP_SEC_STARTTLS,
     "starttls_unavailable", SMTP_RETRY},
    {SMTP_STAGE_STARTTLS, 502, "5.5.1", "not implemented", SMTP_SEC_STARTTLS,
     "starttls_unavailable", SMTP_RETRY},
    /* MAIL */
    {SMTP_STAGE_MAIL, 553, "5.7.1", "Sender address rejected: not owned by user", SMTP_SEC_TLS,
     "sender_rejected", SMTP_BOUNCE},
    {SMTP_STAGE_MAIL, 550, "", "From address not verified", SMTP_SEC_TLS, "sender_rejected",
     SMTP_BOUNCE},
    {SMTP_STAGE_MAIL, 552, "5.3.4", "Message size exceeds fixed limit", SMTP_SEC_TLS,
     "message_rejected", SMTP_BOUNCE},
    {SMTP_STAGE_MAIL, 451, "4.3.0", "Temporary lookup failure", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    /* RCPT */
    {SMTP_STAGE_RCPT, 550, "5.1.1", "User unknown", SMTP_SEC_TLS, "recipient_rejected", SMTP_BOUNCE},
    {SMTP_STAGE_RCPT, 554, "5.7.1", "Relay access denied", SMTP_SEC_TLS, "recipient_rejected",
     SMTP_BOUNCE},
    {SMTP_STAGE_RCPT, 450, "4.2.0", "Mailbox busy", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    {SMTP_STAGE_RCPT, 452, "4.5.3", "Too many recipients", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    {SMTP_STAGE_RCPT, 552, "", "Too many recipients", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    /* DATA and end of data */
    {SMTP_STAGE_DATA, 554, "5.5.1", "No valid recipients", SMTP_SEC_TLS, "message_rejected",
     SMTP_BOUNCE},
    {SMTP_STAGE_DOT, 554, "5.7.1", "Message rejected: spam", SMTP_SEC_TLS, "message_rejected",
     SMTP_BOUNCE},
    {SMTP_STAGE_DOT, 552, "5.3.4", "Message too big", SMTP_SEC_TLS, "message_rejected", SMTP_BOUNCE},
    {SMTP_STAGE_DOT, 451, "4.3.0", "Error: queue file write error", SMTP_SEC_TLS, "temporary",
     SMTP_RETRY},
    {SMTP_STAGE_DATA, 451, "", "try later", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    /* session stages never bounce */
    {SMTP_STAGE_BANNER, 554, "", "No SMTP service here", SMTP_SEC_TLS, "connection_refused",
     SMTP_RETRY},
    {SMTP_STAGE_BANNER, 421, "", "Service not available", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
    {SMTP_STAGE_EHLO, 550, "", "go away", SMTP_SEC_TLS, "protocol", SMTP_RETRY},
    {SMTP_STAGE_RSET, 451, "", "later", SMTP_SEC_TLS, "temporary", SMTP_RETRY},
};

START_TEST(reply_table)
{
    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        struct smtp_verdict v = smtp_trouble_reply(replies[i].stage, replies[i].code, replies[i].enh,
                                                   replies[i].text, replies[i].sec);

        ck_assert_msg(strcmp(smtp_class_name(v.cls), replies[i].cls) == 0 &&
                          v.action == replies[i].action,
                      "row %zu: %s %d %s \"%s\" gave %s/%s, wanted %s/%s", i,
                      smtp_stage_name(replies[i].stage), replies[i].code, replies[i].enh,
                      replies[i].text, smtp_class_name(v.cls), smtp_action_name(v.action),
                      replies[i].cls, smtp_action_name(replies[i].action));
    }
}
END_TEST

static const struct {
    enum smtp_event ev;
    const char *cls;
    enum smtp_action action;
    const char *status; /* the RFC 3463 status a refused message carries, or NULL */
} events[] = {
    {SMTP_EV_DNS, "dns", SMTP_RETRY, NULL},
    {SMTP_EV_REFUSED, "connection_refused", SMTP_RETRY, NULL},
    {SMTP_EV_TIMEOUT, "timeout", SMTP_RETRY, NULL},
    {SMTP_EV_TLS_HANDSHAKE, "tls_handshake", SMTP_RETRY, NULL},
    {SMTP_EV_TLS_CERTIFICATE, "tls_certificate", SMTP_RETRY, NULL},
    {SMTP_EV_STARTTLS_MISSING, "starttls_unavailable", SMTP_RETRY, NULL},
    {SMTP_EV_AUTH_MISSING, "auth_unavailable", SMTP_RETRY, NULL},
    {SMTP_EV_LOST, "temporary", SMTP_RETRY, NULL},
    {SMTP_EV_PROTOCOL, "protocol", SMTP_RETRY, NULL},
    {SMTP_EV_TOO_BIG, "message_rejected", SMTP_BOUNCE, "5.3.4"},
    {SMTP_EV_NO_8BITMIME, "message_rejected", SMTP_BOUNCE, "5.6.3"},
    {SMTP_EV_NO_SMTPUTF8, "message_rejected", SMTP_BOUNCE, "5.6.7"},
    {SMTP_EV_LOCAL, "temporary", SMTP_RETRY, NULL},
    {SMTP_EV_QUOTA, "quota_exceeded", SMTP_RETRY, NULL},
    {SMTP_EV_NO_OUTCOME, "temporary", SMTP_RETRY, NULL}, /* unanswered: defer, never "sent" */
    {SMTP_EV_NO_TARGET, "temporary", SMTP_RETRY, NULL},  /* the admin may add it again */
    {SMTP_EV_SECRET, "auth_failed", SMTP_RETRY, NULL},    /* undecryptable password: defer */
    {SMTP_EV_OAUTH, "oauth_refresh_failed", SMTP_RETRY, NULL}, /* no access token: defer */
};

START_TEST(event_table)
{
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        struct smtp_verdict v = smtp_trouble_event(events[i].ev);

        ck_assert_msg(strcmp(smtp_class_name(v.cls), events[i].cls) == 0 &&
                          v.action == events[i].action,
                      "event %zu gave %s/%s", i, smtp_class_name(v.cls),
                      smtp_action_name(v.action));
        ck_assert_msg(events[i].status ? v.status && strcmp(v.status, events[i].status) == 0
                                       : v.status == NULL,
                      "event %zu gave status %s", i, v.status ? v.status : "(none)");
    }
}
END_TEST

/* whether the session survives a reply: only a 421, a refused STARTTLS and a refused RSET end it */
static const struct {
    enum smtp_stage stage;
    int code;
    const char *enh;
    const char *text;
    bool keeps;
} reply_sessions[] = {
    {SMTP_STAGE_MAIL, 250, "2.1.0", "Ok", true},
    {SMTP_STAGE_BANNER, 554, "", "No SMTP service here", true},
    {SMTP_STAGE_AUTH, 535, "5.7.8", "Authentication credentials invalid", true},
    {SMTP_STAGE_MAIL, 553, "5.7.1", "Sender address rejected", true},
    {SMTP_STAGE_RCPT, 550, "5.1.1", "User unknown", true},
    {SMTP_STAGE_RCPT, 450, "4.2.0", "Mailbox busy", true},
    {SMTP_STAGE_DATA, 250, "", "Ok", true}, /* an unexpected positive reply */
    {SMTP_STAGE_DOT, 554, "5.7.1", "Message rejected: spam", true},
    {SMTP_STAGE_DOT, 454, "", "Throttling failure: Maximum sending rate exceeded.", true},
    {SMTP_STAGE_MAIL, 421, "4.3.2", "Service shutting down", false},
    {SMTP_STAGE_BANNER, 421, "4.7.0", "Too many connections", false},
    {SMTP_STAGE_RCPT, 421, "4.4.2", "Message throttled; try later", false},
    {SMTP_STAGE_STARTTLS, 220, "2.0.0", "Ready to start TLS", true},
    {SMTP_STAGE_STARTTLS, 454, "4.7.0", "TLS not available due to local problem", false},
    {SMTP_STAGE_STARTTLS, 502, "5.5.1", "not implemented", false},
    {SMTP_STAGE_RSET, 250, "2.0.0", "Ok", true},
    {SMTP_STAGE_RSET, 451, "", "later", false},
    {SMTP_STAGE_RSET, 354, "", "go ahead", false},
};

START_TEST(reply_session)
{
    for (size_t i = 0; i < sizeof(reply_sessions) / sizeof(reply_sessions[0]); i++) {
        struct smtp_verdict v = smtp_trouble_reply(reply_sessions[i].stage, reply_sessions[i].code,
                                                   reply_sessions[i].enh, reply_sessions[i].text,
                                                   SMTP_SEC_STARTTLS);

        ck_assert_msg(v.keeps_session == reply_sessions[i].keeps, "row %zu: %s %d %s the session",
                      i, smtp_stage_name(reply_sessions[i].stage), reply_sessions[i].code,
                      v.keeps_session ? "keeps" : "ends");
    }
}
END_TEST

START_TEST(quirk_session)
{
    /* a provider's quirk decides the class, not whether the session survives */
    struct smtp_verdict v = smtp_trouble_reply_from("smtp.sendgrid.net", SMTP_STAGE_DOT, 451,
                                                    "4.7.0", "Maximum credits exceeded",
                                                    SMTP_SEC_STARTTLS);

    ck_assert(v.cls == SMTP_RATE_LIMITED && v.keeps_session);
    v = smtp_trouble_reply_from("smtp.office365.com", SMTP_STAGE_MAIL, 421, "4.3.2",
                                "Server busy, try again later", SMTP_SEC_STARTTLS);
    ck_assert(v.cls == SMTP_RATE_LIMITED && !v.keeps_session);
}
END_TEST

START_TEST(event_session)
{
    static const enum smtp_event keeps[] = {SMTP_EV_TOO_BIG, SMTP_EV_NO_8BITMIME,
                                            SMTP_EV_NO_SMTPUTF8};
    static const enum smtp_event ends[] = {
        SMTP_EV_DNS,          SMTP_EV_REFUSED,          SMTP_EV_TIMEOUT,
        SMTP_EV_TLS_HANDSHAKE, SMTP_EV_TLS_CERTIFICATE, SMTP_EV_STARTTLS_MISSING,
        SMTP_EV_AUTH_MISSING, SMTP_EV_AUTH_AFTER_TLS,   SMTP_EV_LOST,
        SMTP_EV_PROTOCOL,     SMTP_EV_LOCAL,            SMTP_EV_QUOTA,
        SMTP_EV_NO_OUTCOME,
    };
    struct smtp_verdict v;

    /* a message refused locally leaves the session as it was; every other event ends it */
    for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++)
        ck_assert_msg(smtp_trouble_event(keeps[i]).keeps_session, "event %d ends it", keeps[i]);
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        ck_assert_msg(!smtp_trouble_event(ends[i]).keeps_session, "event %d keeps it", ends[i]);

    /* before anything of the message was sent, the session survives: same class and action */
    v = smtp_trouble_unsent(SMTP_EV_LOCAL);
    ck_assert(v.keeps_session && v.cls == SMTP_TEMPORARY && v.action == SMTP_RETRY &&
              v.status == NULL);
    v = smtp_trouble_unsent(SMTP_EV_NO_SMTPUTF8);
    ck_assert(v.keeps_session && v.cls == SMTP_MESSAGE_REJECTED && v.action == SMTP_BOUNCE);
    ck_assert_str_eq(v.status, "5.6.7");

    /* a transfer abandoned after 354 leaves the message unterminated: the session ends */
    v = smtp_trouble_abandoned(SMTP_EV_NO_8BITMIME);
    ck_assert(!v.keeps_session && v.cls == SMTP_MESSAGE_REJECTED && v.action == SMTP_BOUNCE);
    ck_assert_str_eq(v.status, "5.6.3");
    v = smtp_trouble_abandoned(SMTP_EV_LOCAL);
    ck_assert(!v.keeps_session && v.cls == SMTP_TEMPORARY && v.action == SMTP_RETRY);
}
END_TEST

START_TEST(names_and_hints)
{
    static const char *const names[] = {
        "dns", "connection_refused", "timeout", "tls_handshake", "tls_certificate",
        "starttls_unavailable", "starttls_required", "auth_unavailable", "auth_failed",
        "sender_rejected", "recipient_rejected", "message_rejected", "rate_limited",
        "quota_exceeded", "temporary", "protocol", "oauth_refresh_failed",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int cls = smtp_class_parse(names[i]);

        ck_assert_int_gt(cls, 0);
        ck_assert_str_eq(smtp_class_name(cls), names[i]);
        ck_assert_uint_gt(strlen(smtp_class_hint(cls)), 5);
    }
    ck_assert_int_eq(smtp_class_parse("ok"), SMTP_OK);
    ck_assert_int_eq(smtp_class_parse("nonsense"), -1);
    ck_assert_str_eq(smtp_class_hint(SMTP_TLS_HANDSHAKE),
                     "try STARTTLS instead of SSL/TLS, or check the port");
    ck_assert_str_eq(smtp_stage_name(SMTP_STAGE_STARTTLS), "starttls");
    ck_assert_str_eq(smtp_action_name(SMTP_THROTTLE), "throttle");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtp_trouble");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, reply_table);
    tcase_add_test(tc, event_table);
    tcase_add_test(tc, reply_session);
    tcase_add_test(tc, quirk_session);
    tcase_add_test(tc, event_session);
    tcase_add_test(tc, names_and_hints);
    suite_add_tcase(s, tc);
    return test_run(s);
}
