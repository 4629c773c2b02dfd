/*
 * milter - the libmilter callbacks of byosmtpd: connect/MAIL decide who may relay, RCPT maps
 * the route and quota decision (rcpt_route.c) to a reply, DATA/header/body stream the message
 * to a reception file, and end of message has enqueue.c write and commit one rewritten copy
 * per target (doc/spool.md), then removes the relayed recipients from the MTA's envelope.
 *
 * Contexts: struct connctx lives from connect to close and holds the snapshot the connection
 * started with; struct msgctx lives from MAIL to eom/abort/close. Replies: a store or spool
 * failure is TEMPFAIL with a reason in the log, never a silent pass; a header beyond the limits
 * is a 552; a recipient over its target's quota gets quota.action.
 *
 * Protocol steps (cb_negotiate): HELO and unknown commands are not asked for; header fields and
 * body chunks get no reply (SMFIP_NR_HDR, SMFIP_NR_BODY), so the MTA streams them without a
 * round trip each. What those steps decide (a 552, a spool failure) is kept in the msgctx as a
 * struct refusal and answered at the next step that replies: EOH for header fields, end of
 * message for the body. The SMTP client sees the same reply either way: an MTA answers the
 * message only after its final dot.
 * Thread-safety: see milter.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libmilter/mfapi.h>

#include "delivery/fallback.h"
#include "milter/enqueue.h"
#include "milter/milter.h"
#include "milter/rcpt_route.h"
#include "milter/rewrite.h"
#include "milter/trusted.h"
#include "spool/spool.h"
#include "store/store.h"
#include "util/msg.h"

struct milter_snap {
    atomic_int refs;
    struct byosmtp_conf *conf;
    struct trusted *trusted;
};

/* A reply decided in a step that sends none (header field, body chunk), given at EOH or EOM. */
struct refusal {
    sfsistat status; /* SMFIS_REJECT or SMFIS_TEMPFAIL */
    const char *code, *xcode, *text;
};

static const struct refusal REFUSE_TEMPFAIL = {
    SMFIS_TEMPFAIL, "451", "4.3.0",
    "byosmtpd: temporary failure queueing for relay, try again later"};
static const struct refusal REFUSE_HEADER_COUNT = {SMFIS_REJECT, "552", "5.3.4",
                                                   "message header has too many fields"};
static const struct refusal REFUSE_HEADER_SIZE = {SMFIS_REJECT, "552", "5.3.4",
                                                  "message header field too long"};
static const struct refusal REFUSE_MALFORMED = {SMFIS_REJECT, "554", "5.6.0",
                                                "malformed message header field"};

/*
 * Bytes libmilter reads in one command beyond milter.max_header_size: a header field up to this
 * much over the limit still reaches cb_header and gets the 552 (libmilter drops the connection
 * on a larger command). The command's own overhead (two NULs in place of the colon) is within.
 */
#define HEADER_READ_SLACK ((size_t)1024 * 1024)

struct msgctx {
    char *sender;      /* as received at MAIL */
    char *mail_params; /* ESMTP parameters of MAIL, space-separated */
    char *qid;         /* the MTA's {i}, once known */
    bool authenticated;
    size_t nrcpts;     /* recipients the MTA keeps for this message (relayed or not) */
    struct rcpt_routing routing; /* the relayed ones, per target */
    struct spool_msg *rcv;
    bool loop;
    char *fallback;    /* the X-Byosmtp-Fallback value of a copy handed back, on a local
                          submission: left to the MTA (doc/admin-guide.md) */
    const struct refusal *refusal; /* decided in a step without reply; NULL: none */
};

struct connctx {
    struct milter_snap *snap;
    bool trusted;
    bool local;   /* not an SMTP client: the MTA's own submission (sendmail(1)): Postfix's
                     non_smtpd_milters connect from port 0, Sendmail's without an address */
    char *client; /* "host[addr]" for the log */
    struct msgctx *msg;
};

/* Set in milter_init and milter_attach, before smfi_main starts any thread; read-only after. */
static char g_hostname[256];
static struct enqueue_dest g_dest = {.hostname = g_hostname};
/* The snapshot for new connections: swapped under g_snap_lock. */
static pthread_mutex_t g_snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct milter_snap *g_snap;
static atomic_uint g_active;
static atomic_ulong g_connections; /* since start: tells whether the MTA talks to us at all */
/* Set in milter_init: the largest command libmilter reads (smfi_setmaxdatasize), for good. */
static size_t g_read_limit;

int milter_snap_new(struct byosmtp_conf *conf, struct milter_snap **out, char **err)
{
    struct milter_snap *s = xcalloc(1, sizeof(*s));

    *out = NULL;
    if (trusted_parse(&conf->milter.trusted_networks, &s->trusted, err) < 0) {
        free(s);
        return -1;
    }
    s->conf = conf_ref(conf);
    atomic_init(&s->refs, 1);
    *out = s;
    return 0;
}

void milter_snap_unref(struct milter_snap *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    trusted_free(s->trusted);
    conf_unref(s->conf);
    free(s);
}

const struct byosmtp_conf *milter_snap_conf(const struct milter_snap *s)
{
    return s->conf;
}

void milter_set_snap(struct milter_snap *s)
{
    struct milter_snap *old;

    /* A field of max_header_size bytes is a command of one byte more (NULs for the colon). */
    if (s != NULL && g_read_limit != 0 && s->conf->milter.max_header_size >= g_read_limit)
        msg_warn("milter.max_header_size (%zu) is not below what libmilter reads since start "
                 "(%zu bytes a command): a larger header field ends the milter connection until "
                 "byosmtpd is restarted", s->conf->milter.max_header_size, g_read_limit);
    pthread_mutex_lock(&g_snap_lock);
    old = g_snap;
    g_snap = s;
    pthread_mutex_unlock(&g_snap_lock);
    milter_snap_unref(old);
}

/* snap_get - a reference to the current snapshot */
static struct milter_snap *snap_get(void)
{
    struct milter_snap *s;

    pthread_mutex_lock(&g_snap_lock);
    s = g_snap;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&g_snap_lock);
    return s;
}

unsigned milter_active(void)
{
    return atomic_load(&g_active);
}

unsigned long milter_connections(void)
{
    return atomic_load(&g_connections);
}

void milter_done(void)
{
    milter_set_snap(NULL);
}

/* qid_of - the MTA queue id for log lines, fetching {i} when not yet known */
static const char *qid_of(SMFICTX *ctx, struct msgctx *m)
{
    if (m != NULL && m->qid == NULL) {
        const char *i = smfi_getsymval(ctx, "{i}");

        if (i != NULL && *i != '\0')
            m->qid = xstrdup(i);
    }
    return m != NULL && m->qid != NULL ? m->qid : "NOQUEUE";
}

/* msg_free - per-message state: the reception file goes with it */
static void msgctx_free(struct msgctx *m)
{
    if (m == NULL)
        return;
    free(m->sender);
    free(m->mail_params);
    free(m->fallback);
    free(m->qid);
    rcpt_routing_free(&m->routing);
    spool_msg_discard(m->rcv);
    free(m);
}

/* conn_of - the connection context */
static struct connctx *conn_of(SMFICTX *ctx)
{
    return smfi_getpriv(ctx);
}

/* end_message - the message is over (eom, abort): free its state, keep the connection's */
static void end_message(struct connctx *c)
{
    if (c != NULL) {
        msgctx_free(c->msg);
        c->msg = NULL;
    }
}

/* reply - set the SMTP reply that goes with a REJECT or TEMPFAIL */
static void reply(SMFICTX *ctx, const char *code, const char *xcode, const char *text)
{
    if (smfi_setreply(ctx, (char *)code, (char *)xcode, (char *)text) != MI_SUCCESS)
        msg_warn("could not set the reply %s %s %s", code, xcode, text);
}

/* log_tempfail - the log line of a 451 4.3.0, with WHY */
static void log_tempfail(const char *qid, const char *why)
{
    msg_error("%s: temporary failure: %s; answered 451 4.3.0 (the MTA keeps the message)", qid,
              why);
}

/* tempfail - log WHY and answer 451 4.3.0 */
static sfsistat tempfail(SMFICTX *ctx, const char *qid, const char *why)
{
    log_tempfail(qid, why);
    reply(ctx, REFUSE_TEMPFAIL.code, REFUSE_TEMPFAIL.xcode, REFUSE_TEMPFAIL.text);
    return SMFIS_TEMPFAIL;
}

/*
 * refuse_later - a step without reply refuses M with R: kept for EOH or EOM; the reception file
 * goes at once (nothing more is written). The first refusal stands.
 */
static void refuse_later(struct msgctx *m, const struct refusal *r)
{
    if (m->refusal != NULL)
        return;
    m->refusal = r;
    spool_msg_discard(m->rcv);
    m->rcv = NULL;
}

/* tempfail_later - log WHY now; M is answered 451 4.3.0 at EOH or EOM */
static void tempfail_later(struct msgctx *m, const char *qid, const char *why)
{
    log_tempfail(qid, why);
    refuse_later(m, &REFUSE_TEMPFAIL);
}

/* refused - give the refusal kept for the message of C (at EOH or EOM) and end the message */
static sfsistat refused(SMFICTX *ctx, struct connctx *c)
{
    const struct refusal *r = c->msg->refusal;

    reply(ctx, r->code, r->xcode, r->text);
    end_message(c);
    return r->status;
}

/*
 * cb_negotiate - the right to remove recipients (required), and the protocol: no HELO and no
 * unknown commands (no callback), no reply to header fields and body chunks, header values with
 * their leading space, each when the MTA offers it. libmilter offers every SMFIP_NR_* itself and
 * answers "continue" on the callback's behalf to an MTA without it, so cb_header and cb_body
 * return SMFIS_NOREPLY whatever the MTA.
 */
static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3, unsigned long *pf0,
                             unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    (void)ctx, (void)f2, (void)f3;
    if ((f0 & SMFIF_DELRCPT) == 0) {
        msg_error("the MTA does not allow milters to remove recipients (actions 0x%lx): "
                  "byosmtpd cannot work with it", f0);
        return SMFIS_REJECT;
    }
    *pf0 = SMFIF_DELRCPT;
    *pf1 = (f1 & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_HDR_LEADSPC)) | SMFIP_NR_HDR |
           SMFIP_NR_BODY;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

/*
 * local_submission - is the "connection" the MTA's own submission of a message (sendmail(1) on
 * this host) rather than an SMTP client: Postfix's non_smtpd_milters connect it from port 0
 * (no TCP connection has one), Sendmail without an address
 */
static bool local_submission(const _SOCK_ADDR *hostaddr)
{
    const struct sockaddr *sa = (const struct sockaddr *)hostaddr;

    if (sa == NULL || sa->sa_family == AF_UNSPEC || sa->sa_family == AF_UNIX)
        return true;
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)sa)->sin_port == 0;
    if (sa->sa_family == AF_INET6)
        return ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port == 0;
    return false;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    struct connctx *c = xcalloc(1, sizeof(*c));
    char addr[64] = "unknown";
    const struct byosmtp_conf *conf;

    c->snap = snap_get();
    conf = c->snap->conf;
    if (hostaddr != NULL) {
        const struct sockaddr *sa = (const struct sockaddr *)hostaddr;

        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
                      sizeof(addr));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      addr, sizeof(addr));
    }
    c->trusted = trusted_match(c->snap->trusted, (const struct sockaddr *)hostaddr);
    c->local = local_submission(hostaddr);
    c->client = xasprintf("%s[%s]%s", hostname ? hostname : "unknown", addr,
                          c->local ? " (local submission)" : "");
    atomic_fetch_add(&g_active, 1);
    atomic_fetch_add(&g_connections, 1);
    smfi_setpriv(ctx, c);
    if (!c->trusted && !conf->milter.relay_authenticated) {
        msg_debug("connect from %s: not in trusted_networks; passed through", c->client);
        return SMFIS_ACCEPT;
    }
    msg_debug("connect from %s: %s", c->client,
              c->trusted ? "trusted" : "may relay after SMTP AUTH");
    return SMFIS_CONTINUE;
}

/* join_args - the ESMTP parameters of MAIL or RCPT (ARGV up to its NULL), space-separated */
static char *join_args(char **argv)
{
    struct buf b;

    buf_init(&b);
    for (int i = 0; argv[i] != NULL; i++) {
        if (b.len)
            buf_putc(&b, ' ');
        buf_puts(&b, argv[i]);
    }
    return buf_steal(&b);
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m;
    const char *auth;

    if (c == NULL)
        return SMFIS_ACCEPT;
    end_message(c);
    auth = smfi_getsymval(ctx, "{auth_authen}");
    m = xcalloc(1, sizeof(*m));
    m->authenticated = auth != NULL && *auth != '\0';
    if (!c->trusted && !(m->authenticated && c->snap->conf->milter.relay_authenticated)) {
        msg_debug("%s: client %s neither trusted nor authenticated: passed through",
                  qid_of(ctx, m), c->client);
        msgctx_free(m);
        return SMFIS_ACCEPT;
    }
    m->sender = xstrdup(argv[0] ? argv[0] : "<>");
    m->mail_params = join_args(argv[0] ? argv + 1 : argv);
    if (has_line_break(m->sender, strlen(m->sender)) ||
        has_line_break(m->mail_params, strlen(m->mail_params))) {
        msg_warn("%s: sender holds a line break: passed through", qid_of(ctx, m));
        msgctx_free(m);
        return SMFIS_ACCEPT;
    }
    c->msg = m;
    return SMFIS_CONTINUE;
}

/* over_quota - log a recipient over its target's monthly quota and answer per quota.action */
static sfsistat over_quota(SMFICTX *ctx, const struct byosmtp_conf *conf, struct msgctx *m,
                           const char *qid, const char *month, const struct rcpt_decision *d)
{
    const char *action = conf->quota.action == QUOTA_REJECT     ? "rejected"
                         : conf->quota.action == QUOTA_TEMPFAIL ? "deferred"
                                                                : "left to the MTA";

    msg_warn("%s: to=<%s>: target %s has used its monthly quota (%llu of %llu in %s): "
             "%s (quota.action)", qid, d->bare, d->t.name, (unsigned long long)d->q.accepted,
             (unsigned long long)d->t.monthly_quota, month, action);
    if (conf->quota.action == QUOTA_REJECT) {
        reply(ctx, "550", "5.7.1", "monthly relay quota exhausted");
        return SMFIS_REJECT;
    }
    if (conf->quota.action == QUOTA_TEMPFAIL) {
        reply(ctx, "451", "4.7.1", "monthly relay quota exhausted, try again later");
        return SMFIS_TEMPFAIL;
    }
    m->nrcpts++; /* QUOTA_PASSTHROUGH */
    return SMFIS_CONTINUE;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;
    struct rcpt_decision d;
    struct rcpt_query q;
    const struct rcpt_group *g;
    const char *qid, *rcpt = argv[0];
    char month[8];
    sfsistat r = SMFIS_CONTINUE;

    if (m == NULL || rcpt == NULL)
        return SMFIS_CONTINUE;
    qid = qid_of(ctx, m);
    store_month((int64_t)time(NULL), month);
    q = (struct rcpt_query){.sender = m->sender, .order = c->snap->conf->routing.order,
                            .month = month, .cluster = g_dest.cluster};
    switch (rcpt_route(g_dest.store, &q, rcpt, &m->routing, &d)) {
    case ROUTE_NOT_OURS:
        m->nrcpts++;
        break;
    case ROUTE_SENDER_REFUSED:
        msg_warn("%s: from=%s to=<%s>: the sender is not in allowed_senders of target %s "
                 "(%s %s): left to the MTA", qid, m->sender, d.bare, d.t.name,
                 d.by == ROUTE_BY_SENDER ? "sender route" : "route", d.rule);
        m->nrcpts++;
        break;
    case ROUTE_ERROR:
        r = tempfail(ctx, qid, d.why);
        break;
    case ROUTE_OVER_QUOTA:
        r = over_quota(ctx, c->snap->conf, m, qid, month, &d);
        break;
    case ROUTE_ROUTED:
        /* NOTIFY= and ORCPT= go with the copy, for its DSNs (doc/delivery-rules.md) */
        d.params = join_args(argv + 1);
        if (has_line_break(d.params, strlen(d.params))) {
            free(d.params);
            d.params = NULL;
        }
        /* NULL: the same recipient twice: one copy, one count, and it is already removed. */
        g = rcpt_routing_add(&m->routing, rcpt, &d);
        if (g != NULL) {
            m->nrcpts++;
            msg_debug("%s: to=<%s>: routed to target %s by %s %s", qid, g->bare[g->n - 1],
                      g->t.name, d.by == ROUTE_BY_SENDER ? "sender route" : "route", d.rule);
        }
        break;
    }
    rcpt_decision_free(&d);
    return r;
}

/* start_reception - open the reception file once the message is known to be ours */
static int start_reception(SMFICTX *ctx, struct msgctx *m)
{
    char *err = NULL;

    if (m->rcv != NULL)
        return 0;
    if (spool_msg_begin(g_dest.spool, &m->rcv, &err) < 0) {
        msg_error("%s: %s", qid_of(ctx, m), err);
        free(err);
        return -1;
    }
    return 0;
}

static sfsistat cb_data(SMFICTX *ctx)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;

    if (m == NULL)
        return SMFIS_CONTINUE;
    if (m->routing.ngroups == 0) {
        end_message(c);
        return SMFIS_ACCEPT; /* no routed recipient: not ours, untouched */
    }
    if (start_reception(ctx, m) < 0)
        return tempfail(ctx, qid_of(ctx, m), "cannot create the reception file in the spool");
    return SMFIS_CONTINUE;
}

/*
 * fallback_field - a copy handed back by the delivery process (fallback = mta) carries
 * FALLBACK_HEADER; only the MTA's local submission is believed, so that no SMTP client can
 * send mail past its route by writing the field itself (doc/admin-guide.md)
 */
static void fallback_field(const struct connctx *c, struct msgctx *m, const char *qid,
                           const char *value)
{
    if (c->local && m->fallback == NULL) {
        m->fallback = text_line(value, 64);
        return;
    }
    if (!c->local)
        msg_warn("%s: %s: field from client %s ignored: only a copy byosmtpd hands back to the "
                 "MTA on this host carries it; the message is routed as usual",
                 qid, FALLBACK_HEADER, c->client);
}

/*
 * cb_header - one header field to the reception file, within the limits. No reply
 * (SMFIP_NR_HDR): a refusal is kept for cb_eoh, which also passes through a message that is not
 * ours.
 */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;
    const struct byosmtp_conf *conf;
    const char *qid;
    char *err = NULL;
    size_t size;

    if (m == NULL || m->routing.ngroups == 0 || m->refusal != NULL)
        return SMFIS_NOREPLY;
    conf = c->snap->conf;
    qid = qid_of(ctx, m);
    if (start_reception(ctx, m) < 0) {
        tempfail_later(m, qid, "cannot create the reception file in the spool");
        return SMFIS_NOREPLY;
    }
    if (spool_msg_header_count(m->rcv) + 1 > (size_t)conf->milter.max_headers) {
        msg_warn("%s: more than %d header fields (milter.max_headers): rejected with 552", qid,
                 conf->milter.max_headers);
        refuse_later(m, &REFUSE_HEADER_COUNT);
        return SMFIS_NOREPLY;
    }
    size = strlen(name) + 1 + strlen(value);
    if (size > conf->milter.max_header_size) {
        msg_warn("%s: header field %.64s is %zu bytes, over milter.max_header_size (%zu): "
                 "rejected with 552", qid, name, size, conf->milter.max_header_size);
        refuse_later(m, &REFUSE_HEADER_SIZE);
        return SMFIS_NOREPLY;
    }
    if (rewrite_field_ok(name, value, strlen(value), &err) < 0) {
        msg_warn("%s: malformed header field: %s: rejected with 554", qid, err);
        free(err);
        refuse_later(m, &REFUSE_MALFORMED);
        return SMFIS_NOREPLY;
    }
    if (strcasecmp(name, "Received") == 0 && rewrite_is_ours(value, g_hostname))
        m->loop = true;
    if (strcasecmp(name, FALLBACK_HEADER) == 0)
        fallback_field(c, m, qid, value);
    if (spool_msg_header(m->rcv, name, value, &err) < 0) {
        tempfail_later(m, qid, err);
        free(err);
    }
    return SMFIS_NOREPLY;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;
    char *err = NULL;

    if (m == NULL)
        return SMFIS_CONTINUE;
    if (m->refusal != NULL)
        return refused(ctx, c);
    if (m->fallback != NULL) {
        msg_info("%s: a copy handed back to the MTA by byosmtpd (%s: %s): left to the MTA, "
                 "not routed again", qid_of(ctx, m), FALLBACK_HEADER, m->fallback);
        end_message(c);
        return SMFIS_ACCEPT;
    }
    if (m->loop) {
        msg_warn("%s: the message already carries byosmtpd's own Received: header from %s "
                 "(a mail loop): not relayed again, passed through untouched",
                 qid_of(ctx, m), g_hostname);
        end_message(c);
        return SMFIS_ACCEPT;
    }
    if (m->routing.ngroups == 0) {
        end_message(c);
        return SMFIS_ACCEPT;
    }
    if (start_reception(ctx, m) < 0)
        return tempfail(ctx, qid_of(ctx, m), "cannot create the reception file in the spool");
    if (spool_msg_flush(m->rcv, &err) < 0) { /* the header section, in one write */
        sfsistat s = tempfail(ctx, qid_of(ctx, m), err);

        free(err);
        return s;
    }
    return SMFIS_CONTINUE;
}

/*
 * cb_body - one body chunk to the reception file. No reply (SMFIP_NR_BODY): a failure is kept
 * for cb_eom. (libmilter would skip xxfi_eom after SMFIS_NOREPLY from a chunk that came inside
 * the end-of-message command; Postfix, Sendmail and miltertest send that command empty.)
 */
static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;
    char *err = NULL;

    if (m == NULL || m->routing.ngroups == 0 || m->refusal != NULL)
        return SMFIS_NOREPLY;
    if (start_reception(ctx, m) < 0) {
        tempfail_later(m, qid_of(ctx, m), "cannot create the reception file in the spool");
        return SMFIS_NOREPLY;
    }
    /* chunk is LEN bytes, not NUL-terminated. */
    if (spool_msg_body(m->rcv, chunk, len, &err) < 0) {
        tempfail_later(m, qid_of(ctx, m), err);
        free(err);
    }
    return SMFIS_NOREPLY;
}

/* commit - hand the message to enqueue_commit (doc/spool.md, "Commit"); an enqueue_result */
static int commit(struct connctx *c, struct msgctx *m, char **why)
{
    char *sender = rcpt_bare(m->sender);
    struct enqueue_envelope env = {
        .sender = sender,
        .mail_params = m->mail_params,
        .mta_queue_id = m->qid,
        .arrival = time(NULL),
        .nrcpts = m->nrcpts,
    };
    int rc = enqueue_commit(&g_dest, c->snap->conf, m->rcv, &env, &m->routing, NULL, why);

    free(sender);
    return rc;
}

/* quota_refused - the reply to a message the commit found over quota (enqueue logged each one) */
static sfsistat quota_refused(SMFICTX *ctx, int rc)
{
    if (rc == ENQUEUE_REJECTED) {
        reply(ctx, "550", "5.7.1", "monthly relay quota exhausted");
        return SMFIS_REJECT;
    }
    reply(ctx, "451", "4.7.1", "monthly relay quota exhausted, try again later");
    return SMFIS_TEMPFAIL;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    struct connctx *c = conn_of(ctx);
    struct msgctx *m = c ? c->msg : NULL;
    char *why = NULL;
    const char *qid;
    size_t relayed;
    sfsistat r;
    int rc;

    if (m == NULL || m->routing.ngroups == 0) {
        end_message(c);
        return SMFIS_CONTINUE;
    }
    if (m->refusal != NULL)
        return refused(ctx, c);
    qid = qid_of(ctx, m);
    if (m->rcv == NULL && start_reception(ctx, m) < 0) {
        end_message(c);
        return tempfail(ctx, qid, "cannot create the reception file in the spool");
    }
    if ((rc = commit(c, m, &why)) < 0) {
        r = rc == ENQUEUE_FAILED ? tempfail(ctx, qid, why ? why : "cannot spool the message")
                                 : quota_refused(ctx, rc);
        free(why);
        end_message(c);
        return r;
    }
    relayed = rcpt_routing_count(&m->routing);
    if (relayed >= m->nrcpts) {
        /* No recipient remains for the MTA: removing them all would leave it an empty envelope. */
        msg_info("%s: all %zu recipients relayed: discarded from the MTA", qid, relayed);
        r = SMFIS_DISCARD;
    } else {
        for (size_t k = 0; k < m->routing.ngroups; k++) {
            const struct rcpt_group *g = &m->routing.groups[k];

            for (size_t i = 0; i < g->n; i++)
                if (smfi_delrcpt(ctx, g->exact[i]) != MI_SUCCESS)
                    msg_error("%s: could not remove recipient %s from the MTA's copy: it may be "
                              "delivered twice", qid, g->exact[i]);
        }
        msg_info("%s: %zu of %zu recipients relayed; the others stay with the MTA", qid, relayed,
                 m->nrcpts);
        r = SMFIS_CONTINUE;
    }
    end_message(c);
    return r;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    end_message(conn_of(ctx));
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct connctx *c = conn_of(ctx);

    if (c == NULL)
        return SMFIS_CONTINUE;
    end_message(c);
    milter_snap_unref(c->snap);
    free(c->client);
    free(c);
    smfi_setpriv(ctx, NULL);
    atomic_fetch_sub(&g_active, 1);
    return SMFIS_CONTINUE;
}

void milter_attach(struct store *st, struct spool *sp, struct cluster *cl)
{
    g_dest.store = st;
    g_dest.spool = sp;
    g_dest.cluster = cl;
}

int milter_init(const char *hostname, struct milter_snap *snap, char **err)
{
    static struct smfiDesc desc = {
        .xxfi_name = "byosmtpd",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = SMFIF_DELRCPT,
        .xxfi_negotiate = cb_negotiate,
        /* No xxfi_helo, xxfi_unknown: cb_negotiate asks the MTA not to send those steps. */
        .xxfi_connect = cb_connect,
        .xxfi_envfrom = cb_envfrom,
        .xxfi_envrcpt = cb_envrcpt,
        .xxfi_data = cb_data,
        /* No reply from these two (SMFIP_NR_HDR, SMFIP_NR_BODY)... */
        .xxfi_header = cb_header,
        .xxfi_body = cb_body,
        /* ...whose refusals are answered at the end of the header section or of the message. */
        .xxfi_eoh = cb_eoh,
        .xxfi_eom = cb_eom,
        .xxfi_abort = cb_abort,
        .xxfi_close = cb_close,
    };

    snprintf(g_hostname, sizeof(g_hostname), "%s", hostname);
    g_dest.crash_point = getenv(ENQUEUE_CRASH_ENV);
    /* libmilter's default (64K) would drop a larger header field before cb_header sees it. */
    g_read_limit = snap->conf->milter.max_header_size + HEADER_READ_SLACK;
    smfi_setmaxdatasize(g_read_limit);
    milter_set_snap(snap);
    if (smfi_register(desc) == MI_FAILURE)
        return set_err(err, "libmilter refused to register the callbacks");
    return 0;
}
