/*
 * provider - the provider presets and their reply quirks. Facts come from each provider's
 * public SMTP documentation; when a provider changes a host or a limit, this table changes.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/provider.h"
#include "util/util.h"

static const struct provider_quirk ses_quirks[] = {
    /* SES refuses an unverified identity at end of data; it is the sender (or, in the sandbox,
     * a recipient) that must be verified, not the content that is wrong. */
    {554, "address is not verified", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    {454, "daily message quota exceeded", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk sendgrid_quirks[] = {
    {550, "verified sender identity", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    {550, "unauthenticated senders not allowed", SMTP_AUTH_FAILED, SMTP_RETRY},
    {451, "maximum credits exceeded", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk postmark_quirks[] = {
    {0, "not a sender signature", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    {0, "pending approval", SMTP_SENDER_REJECTED, SMTP_RETRY},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk mailgun_quirks[] = {
    {0, "free accounts are for test purposes only", SMTP_RECIPIENT_REJECTED, SMTP_BOUNCE},
    {0, "is not allowed to send", SMTP_SENDER_REJECTED, SMTP_RETRY},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk office365_quirks[] = {
    /* "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException" and
     * "550 5.7.60 Client does not have permissions to send as this sender" */
    {0, "sendasdenied", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    {0, "send as this sender", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    /* "554 5.2.0 ... MessageSubmissionExceededException / sending limit exceeded" */
    {0, "submissionexceeded", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, "sending limit", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, "server busy", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk gmail_quirks[] = {
    {0, "daily user sending limit", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, "daily user sending quota", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, "unusual rate", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

static const struct provider_quirk resend_quirks[] = {
    {0, "domain is not verified", SMTP_SENDER_REJECTED, SMTP_BOUNCE},
    {0, "too many requests", SMTP_RATE_LIMITED, SMTP_THROTTLE},
    {0, NULL, SMTP_OK, SMTP_DONE},
};

/* the last three members of a preset that is not OAuth2 */
#define NO_OAUTH SMTP_AUTH_AUTO, NULL, NULL

static const struct provider providers[] = {
    {"ses", "Amazon SES", "email-smtp.%s.amazonaws.com", 587, SMTP_SEC_STARTTLS, NULL, false,
     "the SMTP user name and password from the SES console (SMTP settings); they are not IAM "
     "access keys",
     0, "14/s", ".amazonaws.com",
     "needs --region (e.g. us-east-1, eu-west-1); the from address or its domain must be a "
     "verified identity; in the sandbox recipients must be verified too; 465 with security tls "
     "also works",
     ses_quirks, NO_OAUTH},
    {"sendgrid", "SendGrid", "smtp.sendgrid.net", 587, SMTP_SEC_STARTTLS, "apikey", false,
     "the user name is the word apikey; the password is an API key with Mail Send permission", 0,
     "", ".sendgrid.net",
     "the from address must be a verified Sender Identity or on an authenticated domain",
     sendgrid_quirks, NO_OAUTH},
    {"postmark", "Postmark", "smtp.postmarkapp.com", 587, SMTP_SEC_STARTTLS, NULL, false,
     "user name and password are both the Server API token", 0, "", ".postmarkapp.com",
     "the from address must be a confirmed Sender Signature or on a verified domain",
     postmark_quirks, NO_OAUTH},
    {"mailgun", "Mailgun", "smtp.mailgun.org", 587, SMTP_SEC_STARTTLS, NULL, false,
     "the domain's SMTP login (e.g. postmaster@mg.example.com) and its SMTP password", 0, "",
     ".mailgun.org",
     "for a domain in the EU region give --host smtp.eu.mailgun.org; sandbox domains deliver "
     "only to authorised recipients",
     mailgun_quirks, NO_OAUTH},
    {"office365", "Microsoft 365 / Office 365", "smtp.office365.com", 587, SMTP_SEC_STARTTLS, NULL, true,
     "the mailbox's address and password; SMTP AUTH must be enabled for the mailbox", 3, "30/m",
     ".office365.com",
     "at most 3 concurrent connections and 30 messages a minute per mailbox; sending as "
     "another address needs the Send As permission",
     office365_quirks, NO_OAUTH},
    {"gmail", "Gmail / Google Workspace", "smtp.gmail.com", 587, SMTP_SEC_STARTTLS, NULL, true,
     "the full Gmail address and an app password (the account password does not work with "
     "2-step verification)",
     0, "", ".gmail.com",
     "a daily sending limit applies (about 500 for Gmail, 2000 for Workspace); Gmail sets From "
     "to the account unless the address is a configured alias",
     gmail_quirks, NO_OAUTH},
    /* OAuth2 (XOAUTH2): both providers are retiring password AUTH. The refresh token comes
     * from the admin's consent to an OAuth2 client registered with the provider. */
    {"gmail-oauth", "Gmail / Google Workspace, OAuth2", "smtp.gmail.com", 587, SMTP_SEC_STARTTLS,
     NULL, true,
     "the full Gmail address; no password: an OAuth2 client id and secret (Google Cloud "
     "console, OAuth client) and a refresh token obtained by consenting to the scope "
     "https://mail.google.com/",
     0, "", ".gmail.com",
     "give --oauth-client-id, --oauth-client-secret-file and --oauth-refresh-token-file; an app "
     "left in \"Testing\" has its refresh tokens revoked after 7 days: publish it (or use an "
     "internal Workspace app)",
     gmail_quirks, SMTP_AUTH_XOAUTH2, "https://oauth2.googleapis.com/token",
     "https://mail.google.com/"},
    {"office365-oauth", "Microsoft 365 / Office 365, OAuth2", "smtp.office365.com", 587,
     SMTP_SEC_STARTTLS, NULL, true,
     "the mailbox's address; no password: an Entra ID app registration's client id (and secret "
     "for a confidential client) and a refresh token obtained by consenting to SMTP.Send",
     3, "30/m", ".office365.com",
     "the token URL uses the tenant 'common'; a single-tenant app gives --oauth-token-url "
     "https://login.microsoftonline.com/TENANT-ID/oauth2/v2.0/token; SMTP AUTH must be enabled "
     "for the mailbox; Microsoft rotates the refresh token, and byosmtp stores each new one",
     office365_quirks, SMTP_AUTH_XOAUTH2,
     "https://login.microsoftonline.com/common/oauth2/v2.0/token",
     "https://outlook.office.com/SMTP.Send offline_access"},
    {"resend", "Resend", "smtp.resend.com", 587, SMTP_SEC_STARTTLS, "resend", false,
     "the user name is the word resend; the password is an API key", 0, "", ".resend.com",
     "the from address must be on a verified domain", resend_quirks, NO_OAUTH},
};

#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

const struct provider *provider_find(const char *name)
{
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (strcmp(providers[i].name, name) == 0)
            return &providers[i];
    return NULL;
}

const struct provider *provider_at(size_t i)
{
    return i < NPROVIDERS ? &providers[i] : NULL;
}

/* ends_with_ci - does S end with SUFFIX, ignoring case? */
static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

const struct provider *provider_by_host(const char *host)
{
    if (host == NULL)
        return NULL;
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (ends_with_ci(host, providers[i].host_suffix))
            return &providers[i];
    return NULL;
}

char *provider_host(const struct provider *p, const char *region, char **err)
{
    const char *slot = strstr(p->host, "%s");
    struct buf b;

    if (slot == NULL) {
        if (region != NULL && *region) {
            set_err(err, "--region: %s has a single host (%s); leave --region out", p->title,
                    p->host);
            return NULL;
        }
        return xstrdup(p->host);
    }
    if (region == NULL || *region == '\0') {
        set_err(err, "%s needs --region (e.g. us-east-1): its host is %s", p->title, p->host);
        return NULL;
    }
    for (const char *c = region; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-') {
            set_err(err, "--region '%s': letters, digits and '-' only (e.g. eu-west-1)", region);
            return NULL;
        }
    }
    buf_init(&b);
    buf_append(&b, p->host, (size_t)(slot - p->host));
    buf_puts(&b, region);
    buf_puts(&b, slot + 2);
    return buf_steal(&b);
}

const struct provider_quirk *provider_quirk_match(const char *host, int code, const char *text)
{
    const struct provider *p = provider_by_host(host);

    if (p == NULL || text == NULL)
        return NULL;
    for (const struct provider_quirk *q = p->quirks; q->text != NULL; q++) {
        if (q->code != 0 && q->code != code)
            continue;
        if (strcasestr(text, q->text) != NULL)
            return q;
    }
    return NULL;
}
