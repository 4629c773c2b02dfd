/*
 * check_spool - the spool (spool.c, spool_recover.c) and the store's queue database
 * (store_queue.c): a copy written and read back (envelope, header section, body bytes, trailer),
 * torn and tampered copies, the mutable state (write-new-then-rename), listing and removal,
 * the commit/rollback of queue records with their quota counts, and recovery.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "spool/spool.h"
#include "spool/spool_int.h"
#include "store/store.h"
#include "testutil.h"

static char *dir;
static struct spool *sp;
static struct store *st;

static void setup(void)
{
    char *err = NULL, *store_path;

    dir = test_tmpdir();
    store_path = malloc(4200);
    snprintf(store_path, 4200, "%s/store", dir);
    ck_assert_int_eq(store_open(store_path, 16 << 20, STORE_CREATE, &st, &err), 0);
    snprintf(store_path, 4200, "%s/spool", dir);
    ck_assert_int_eq(spool_open(store_path, true, (uid_t)-1, (gid_t)-1, &sp, &err), 0);
    free(store_path);
}

static void teardown(void)
{
    spool_close(sp);
    store_close(st);
    test_rmdir(dir);
}

/* receive - a reception file holding two header fields and BODY */
static struct spool_msg *receive(const char *body, size_t blen)
{
    struct spool_msg *m;
    char *err = NULL;

    ck_assert_int_eq(spool_msg_begin(sp, &m, &err), 0);
    ck_assert_int_eq(spool_msg_header(m, "From", "a@client.example", &err), 0);
    ck_assert_int_eq(spool_msg_header(m, "Subject", " folded\n\tsubject", &err), 0);
    ck_assert_int_eq(spool_msg_body(m, body, blen, &err), 0);
    return m;
}

/* write_copy - a committed-looking copy in queue/ for target T with RCPTS; returns its id */
static char *write_copy(const char *t, char **rcpts, size_t n, const char *body, size_t blen)
{
    struct spool_msg *m = receive(body, blen);
    struct spool_copy_w *w;
    struct spool_envelope env = {.target = (char *)t, .mta_queue_id = "Q1", .arrival = 1700000000,
                                 .sender = "a@client.example", .envelope_from = "relay@t.test",
                                 .mail_params = "BODY=8BITMIME", .rcpts = rcpts, .nrcpts = n};
    const char *hdr = "From: Relay <relay@t.test>\r\nSubject: x\r\n";
    char *err = NULL, *id;

    ck_assert_int_eq(spool_copy_new(sp, &w, &err), 0);
    ck_assert_int_eq(spool_copy_write(w, &env, hdr, strlen(hdr), m, &err), 0);
    ck_assert_int_eq(spool_copy_publish(w, &err), 0);
    id = strdup(spool_copy_id(w));
    spool_copy_release(w);
    spool_msg_discard(m);
    return id;
}

START_TEST(test_headers_back)
{
    struct spool_msg *m = receive("body", 4);
    const char **names, **values;
    char *block, *err = NULL;
    size_t n;

    ck_assert_uint_eq(spool_msg_header_count(m), 2);
    ck_assert_int_eq(spool_msg_headers(m, &block, &names, &values, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "From");
    ck_assert_str_eq(values[1], " folded\n\tsubject");
    /* a header after the body is refused */
    ck_assert_int_eq(spool_msg_header(m, "X", "y", &err), -1);
    free(err);
    free(block);
    free(names);
    free(values);
    spool_msg_discard(m);
}
END_TEST

/* rcv_size - bytes of M's reception file on disk */
static off_t rcv_size(struct spool_msg *m)
{
    struct stat stt;

    ck_assert_int_eq(stat(m->path, &stt), 0);
    return stt.st_size;
}

/* Header fields are gathered in memory and written together: at spool_msg_flush (the end of the
 * header section), before the first body part, or before they are read back. */
START_TEST(test_headers_gathered)
{
    struct spool_msg *m;
    char *err = NULL;

    ck_assert_int_eq(spool_msg_begin(sp, &m, &err), 0);
    ck_assert_int_eq(spool_msg_header(m, "From", "a@client.example", &err), 0);
    ck_assert_int_eq(spool_msg_header(m, "To", "b@acme.example", &err), 0);
    ck_assert_int_eq(rcv_size(m), 0);
    ck_assert_int_eq(spool_msg_flush(m, &err), 0);
    ck_assert_int_eq(rcv_size(m), (off_t)(sizeof("From") + sizeof("a@client.example") +
                                          sizeof("To") + sizeof("b@acme.example")));
    ck_assert_int_eq(spool_msg_header(m, "Subject", "s", &err), 0);
    ck_assert_int_eq(spool_msg_body(m, "xy", 2, &err), 0); /* the third field goes first */
    ck_assert_int_eq(rcv_size(m), 40 + (off_t)sizeof("Subject") + (off_t)sizeof("s") + 2);
    spool_msg_discard(m);
}
END_TEST

/* A body larger than one chunk is streamed into the copy, and comes back whole. */
START_TEST(test_copy_large_body)
{
    size_t n = 3 * COPY_CHUNK + 5, total = 0;
    char *body = malloc(n), *got = malloc(n), *err = NULL;
    char *rcpts[] = {"bob@acme.example"};
    struct spool_copy *c;
    ssize_t k;

    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 23);
    char *id = write_copy("acme", rcpts, 1, body, n);
    ck_assert_int_eq(spool_copy_open(sp, "queue", id, &c, &err), 1);
    while ((k = spool_copy_read_body(c, got + total, n - total, &err)) > 0)
        total += (size_t)k;
    ck_assert_int_eq(k, 0);
    ck_assert_uint_eq(total, n);
    ck_assert_mem_eq(got, body, n);
    spool_copy_close(c);
    free(id);
    free(body);
    free(got);
}
END_TEST

START_TEST(test_copy_roundtrip)
{
    /* a body with NUL, bare CR and no final line break: bytes are kept as they are */
    static const char body[] = "line one\r\nwith\0nul and \r bare CR\r\nno final newline";
    char *rcpts[] = {"bob@acme.example", "carol@acme.example"};
    char *id = write_copy("acme", rcpts, 2, body, sizeof(body) - 1);
    struct spool_copy *c;
    struct buf h;
    char got[256], *err = NULL;
    ssize_t k, total = 0;

    ck_assert(spool_valid_id(id));
    ck_assert_int_eq(spool_copy_open(sp, "queue", id, &c, &err), 1);
    ck_assert_str_eq(c->env.id, id);
    ck_assert_str_eq(c->env.target, "acme");
    ck_assert_str_eq(c->env.mta_queue_id, "Q1");
    ck_assert_int_eq(c->env.arrival, 1700000000);
    ck_assert_str_eq(c->env.sender, "a@client.example");
    ck_assert_str_eq(c->env.envelope_from, "relay@t.test");
    ck_assert_str_eq(c->env.mail_params, "BODY=8BITMIME");
    ck_assert_uint_eq(c->env.nrcpts, 2);
    ck_assert_str_eq(c->env.rcpts[1], "carol@acme.example");
    buf_init(&h);
    ck_assert_int_eq(spool_copy_read_headers(c, &h, &err), 0);
    ck_assert_str_eq(h.data, "From: Relay <relay@t.test>\r\nSubject: x\r\n\r\n");
    buf_free(&h);
    /* small reads: the stream is continuous */
    while ((k = spool_copy_read_body(c, got + total, 7, &err)) > 0)
        total += k;
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(total, (ssize_t)sizeof(body) - 1);
    ck_assert_mem_eq(got, body, sizeof(body) - 1);
    spool_copy_close(c);
    ck_assert_int_eq(spool_copy_open(sp, "queue", "0123456789ABCDEF0123", &c, &err), 0);
    free(id);
}
END_TEST

START_TEST(test_rcpt_params)
{
    char *rcpts[] = {"bob@acme.example", "carol@acme.example", "dan@acme.example"};
    char *params[] = {"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@acme.example", "", NULL};
    char *old = write_copy("acme", rcpts, 3, "b", 1), *id, *err = NULL, *line = NULL, path[4300];
    struct spool_msg *m = receive("b", 1);
    struct spool_copy_w *w;
    struct spool_envelope env = {.target = "acme", .arrival = 1700000000,
                                 .sender = "a@client.example", .envelope_from = "relay@t.test",
                                 .mail_params = "RET=HDRS ENVID=e1", .rcpts = rcpts,
                                 .rcpt_params = params, .nrcpts = 3};
    struct spool_copy *c;
    size_t cap = 0, lines = 0;
    FILE *fp;

    /* a copy written without parameters (as before they existed) reads with "" for each */
    ck_assert_int_eq(spool_copy_open(sp, "queue", old, &c, &err), 1);
    ck_assert_ptr_nonnull(c->env.rcpt_params);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(c->env.rcpt_params[i], "");
    spool_copy_close(c);
    /* each recipient's own: the line after its rcpt: line, only when it has some */
    ck_assert_int_eq(spool_copy_new(sp, &w, &err), 0);
    ck_assert_int_eq(spool_copy_write(w, &env, "S: x\r\n", 6, m, &err), 0);
    ck_assert_int_eq(spool_copy_publish(w, &err), 0);
    id = strdup(spool_copy_id(w));
    spool_copy_release(w);
    spool_msg_discard(m);
    ck_assert_int_eq(spool_copy_open(sp, "queue", id, &c, &err), 1);
    ck_assert_str_eq(c->env.mail_params, "RET=HDRS ENVID=e1");
    ck_assert_str_eq(c->env.rcpt_params[0], params[0]);
    ck_assert_str_eq(c->env.rcpt_params[1], "");
    ck_assert_str_eq(c->env.rcpt_params[2], "");
    spool_copy_close(c);
    snprintf(path, sizeof(path), "%s/spool/queue/%s", dir, id);
    fp = fopen(path, "r");
    while (getline(&line, &cap, fp) > 0 && strcmp(line, "\n") != 0)
        if (strncmp(line, "rcpt-params: ", 13) == 0)
            lines++;
    fclose(fp);
    free(line);
    ck_assert_uint_eq(lines, 1);
    /* a line break in a parameter is refused */
    params[1] = "NOTIFY=NEVER\nX: y";
    m = receive("b", 1);
    ck_assert_int_eq(spool_copy_new(sp, &w, &err), 0);
    ck_assert_int_eq(spool_copy_write(w, &env, "", 0, m, &err), -1);
    free(err);
    spool_copy_abandon(w);
    spool_msg_discard(m);
    free(id);
    free(old);
}
END_TEST

START_TEST(test_state_fallback)
{
    char *rcpts[] = {"a@x.example", "b@x.example"};
    char *id = write_copy("acme", rcpts, 2, "b", 1), *err = NULL;
    enum spool_rcpt_state states[2] = {RCPT_FALLBACK, RCPT_PENDING};
    struct spool_state s = {.attempts = 1, .last_error = "", .rcpt = states, .nrcpts = 2}, r;

    ck_assert_int_eq(spool_state_write(sp, id, &s, &err), 0);
    ck_assert_int_eq(spool_state_read(sp, id, 2, &r, &err), 1);
    ck_assert_int_eq(r.rcpt[0], RCPT_FALLBACK);
    ck_assert(!r.delay_warned);
    spool_state_free(&r);
    s.delay_warned = true;
    ck_assert_int_eq(spool_state_write(sp, id, &s, &err), 0);
    ck_assert_int_eq(spool_state_read(sp, id, 2, &r, &err), 1);
    ck_assert(r.delay_warned);
    ck_assert_str_eq(spool_rcpt_state_name(r.rcpt[0]), "fallback");
    spool_state_free(&r);
    free(id);
}
END_TEST

/* damage - change the file of ID: truncate to LEN (when >= 0) or flip the byte at OFF */
static void damage(const char *id, long len, long off)
{
    char path[4300];
    int fd;

    snprintf(path, sizeof(path), "%s/spool/queue/%s", dir, id);
    if (len >= 0) {
        ck_assert_int_eq(truncate(path, len), 0);
        return;
    }
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char c;
    ck_assert_int_eq(pread(fd, &c, 1, off), 1);
    c ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

START_TEST(test_torn_and_tampered)
{
    char *rcpts[] = {"bob@acme.example"};
    char *a = write_copy("acme", rcpts, 1, "body\r\n", 6);
    char *b = write_copy("acme", rcpts, 1, "body\r\n", 6);
    char *c = write_copy("acme", rcpts, 1, "body\r\n", 6);
    struct spool_copy *cp;
    char *err = NULL;

    damage(a, 120, 0); /* torn: the end is missing */
    ck_assert_int_eq(spool_copy_open(sp, "queue", a, &cp, &err), SPOOL_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "torn"));
    free(err);
    err = NULL;
    damage(b, -1, 30); /* one byte changed */
    ck_assert_int_eq(spool_copy_open(sp, "queue", b, &cp, &err), SPOOL_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "SHA-256"));
    free(err);
    err = NULL;
    damage(c, 0, 0); /* empty */
    ck_assert_int_eq(spool_copy_open(sp, "queue", c, &cp, &err), SPOOL_CORRUPT);
    free(err);
    err = NULL;
    /* moved aside, never deleted, with a new name when taken */
    ck_assert_int_eq(spool_move_corrupt(sp, "queue", a, "test", &err), 0);
    char path[4300];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/spool/corrupt/%s", dir, a);
    ck_assert_int_eq(stat(path, &sb), 0);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_envelope_line_breaks)
{
    struct spool_msg *m = receive("b", 1);
    struct spool_copy_w *w;
    char *rcpts[] = {"bob@acme.example\r\nrcpt: evil@x"};
    struct spool_envelope env = {.target = "acme", .sender = "", .envelope_from = "",
                                 .rcpts = rcpts, .nrcpts = 1};
    char *err = NULL;

    ck_assert_int_eq(spool_copy_new(sp, &w, &err), 0);
    ck_assert_int_eq(spool_copy_write(w, &env, "", 0, m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "line break"));
    free(err);
    spool_copy_abandon(w);
    spool_msg_discard(m);
}
END_TEST

START_TEST(test_state)
{
    char *rcpts[] = {"a@x.example", "b@x.example", "c@x.example"};
    char *id = write_copy("acme", rcpts, 3, "b", 1);
    struct spool_state s, r;
    enum spool_rcpt_state states[3] = {RCPT_SENT, RCPT_PENDING, RCPT_BOUNCED};
    char *err = NULL, path[4300];
    FILE *fp;

    /* no state file: the initial state */
    ck_assert_int_eq(spool_state_read(sp, id, 3, &r, &err), 0);
    ck_assert_uint_eq(r.attempts, 0);
    ck_assert_int_eq(r.rcpt[2], RCPT_PENDING);
    spool_state_free(&r);
    s = (struct spool_state){.attempts = 2, .next_attempt = 1700000600,
                             .last_error = "temporary 451 4.3.0 try later", .rcpt = states,
                             .nrcpts = 3};
    ck_assert_int_eq(spool_state_write(sp, id, &s, &err), 0);
    ck_assert_int_eq(spool_state_read(sp, id, 3, &r, &err), 1);
    ck_assert_uint_eq(r.attempts, 2);
    ck_assert_int_eq(r.next_attempt, 1700000600);
    ck_assert_str_eq(r.last_error, "temporary 451 4.3.0 try later");
    ck_assert_int_eq(r.rcpt[0], RCPT_SENT);
    ck_assert_int_eq(r.rcpt[1], RCPT_PENDING);
    ck_assert_int_eq(r.rcpt[2], RCPT_BOUNCED);
    spool_state_free(&r);
    /* replaced again: the new one wins, no temporary file stays */
    states[1] = RCPT_SENT;
    s.attempts = 3;
    ck_assert_int_eq(spool_state_write(sp, id, &s, &err), 0);
    ck_assert_int_eq(spool_state_read(sp, id, 3, &r, &err), 1);
    ck_assert_uint_eq(r.attempts, 3);
    ck_assert_int_eq(r.rcpt[1], RCPT_SENT);
    spool_state_free(&r);
    snprintf(path, sizeof(path), "%s/spool/incoming/%s.state.tmp", dir, id);
    ck_assert_int_ne(access(path, F_OK), 0);
    /* a wrong recipient count or a torn file is SPOOL_CORRUPT, and reads as the initial state */
    ck_assert_int_eq(spool_state_read(sp, id, 4, &r, &err), SPOOL_CORRUPT);
    free(err);
    err = NULL;
    ck_assert_int_eq(r.attempts, 0);
    spool_state_free(&r);
    snprintf(path, sizeof(path), "%s/spool/queue/%s.state", dir, id);
    fp = fopen(path, "a");
    fputs("rcpt: sent\n", fp);
    fclose(fp);
    ck_assert_int_eq(spool_state_read(sp, id, 3, &r, &err), SPOOL_CORRUPT);
    free(err);
    spool_state_free(&r);
    /* a multi-line last error is refused */
    s.last_error = "two\nlines";
    err = NULL;
    ck_assert_int_eq(spool_state_write(sp, id, &s, &err), -1);
    free(err);
    free(id);
}
END_TEST

START_TEST(test_list_remove)
{
    char *rcpts[] = {"a@x.example"};
    char *a = write_copy("acme", rcpts, 1, "b", 1), *b = write_copy("acme", rcpts, 1, "b", 1);
    struct spool_state s = {.last_error = "", .rcpt = (enum spool_rcpt_state[]){RCPT_SENT},
                            .nrcpts = 1};
    char **ids, *err = NULL, path[4300];
    size_t n;

    ck_assert_int_eq(spool_state_write(sp, a, &s, &err), 0);
    ck_assert_int_eq(spool_list(sp, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 2); /* the state file is not a copy */
    ck_assert_int_lt(strcmp(ids[0], ids[1]), 0);
    spool_list_free(ids, n);
    ck_assert_int_eq(spool_remove(sp, a, &err), 0);
    snprintf(path, sizeof(path), "%s/spool/queue/%s.state", dir, a);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(spool_list(sp, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], b);
    spool_list_free(ids, n);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_queue_records)
{
    struct queue_record recs[2] = {
        {.id = "06B0000000000000AAAA", .target = "acme", .nrcpts = 2, .arrival = 1700000000,
         .month = "2023-11", .mta_queue_id = "Q1"},
        {.id = "06B0000000000000BBBB", .target = "beta", .nrcpts = 1, .arrival = 1700000000,
         .month = "2023-11", .mta_queue_id = ""},
    };
    struct quota_record q;
    struct queue_record r, *all;
    struct quota_record out = {0, 1, 1};
    size_t n;
    char *err = NULL;

    ck_assert_int_eq(store_queue_commit(st, recs, 2, &err), 0);
    ck_assert_int_eq(store_quota_get(st, "acme", "2023-11", &q, &err), 0);
    ck_assert_uint_eq(q.accepted, 2);
    /* the same id twice: refused, and nothing of the second commit stays */
    recs[1].id = "06B0000000000000CCCC";
    ck_assert_int_eq(store_queue_commit(st, recs, 2, &err), -1);
    free(err);
    err = NULL;
    ck_assert_int_eq(store_queue_get(st, "06B0000000000000CCCC", &r, &err), 0);
    ck_assert_int_eq(store_quota_get(st, "beta", "2023-11", &q, &err), 0);
    ck_assert_uint_eq(q.accepted, 1);
    ck_assert_int_eq(store_queue_get(st, "06B0000000000000AAAA", &r, &err), 1);
    ck_assert_str_eq(r.target, "acme");
    ck_assert_uint_eq(r.nrcpts, 2);
    ck_assert_str_eq(r.month, "2023-11");
    ck_assert_str_eq(r.mta_queue_id, "Q1");
    queue_record_free(&r);
    ck_assert_int_eq(store_queue_list(st, &all, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    queue_records_free(all, n);
    /* rollback takes records and counts back */
    recs[1].id = "06B0000000000000BBBB";
    ck_assert_int_eq(store_queue_rollback(st, &recs[1], 1, &err), 0);
    ck_assert_int_eq(store_queue_get(st, "06B0000000000000BBBB", &r, &err), 0);
    ck_assert_int_eq(store_quota_get(st, "beta", "2023-11", &q, &err), 0);
    ck_assert_uint_eq(q.accepted, 0);
    /* delivery finished: the record goes, the outcome is counted in the arrival month */
    ck_assert_int_eq(store_queue_del(st, "06B0000000000000AAAA", &out, &err), 1);
    ck_assert_int_eq(store_queue_del(st, "06B0000000000000AAAA", &out, &err), 0);
    ck_assert_int_eq(store_quota_get(st, "acme", "2023-11", &q, &err), 0);
    ck_assert_uint_eq(q.accepted, 2);
    ck_assert_uint_eq(q.delivered, 1);
    ck_assert_uint_eq(q.bounced, 1);
}
END_TEST

START_TEST(test_recover)
{
    char *rcpts[] = {"a@x.example"};
    char *kept = write_copy("acme", rcpts, 1, "b", 1);
    char *orphan = write_copy("acme", rcpts, 1, "b", 1);
    struct spool_msg *m = receive("b", 1);
    struct spool_copy_w *w1, *w2;
    struct spool_envelope env = {.target = "acme", .sender = "", .envelope_from = "",
                                 .rcpts = rcpts, .nrcpts = 1, .arrival = 1700000000};
    struct queue_record rec = {.target = "acme", .nrcpts = 1, .arrival = 1700000000,
                               .month = "2023-11", .mta_queue_id = ""};
    struct spool_recovery r;
    struct quota_record q;
    char *err = NULL, **ids;
    size_t n;

    /* kept: committed and in queue/; orphan: in queue/ without a record (re-created) */
    rec.id = kept;
    ck_assert_int_eq(store_queue_commit(st, &rec, 1, &err), 0);
    /* w1: committed but still in incoming/ (crash before the rename): moved forward */
    ck_assert_int_eq(spool_copy_new(sp, &w1, &err), 0);
    ck_assert_int_eq(spool_copy_write(w1, &env, "", 0, m, &err), 0);
    rec.id = (char *)spool_copy_id(w1);
    ck_assert_int_eq(store_queue_commit(st, &rec, 1, &err), 0);
    /* w2: written, never committed (crash before the commit): removed */
    ck_assert_int_eq(spool_copy_new(sp, &w2, &err), 0);
    ck_assert_int_eq(spool_copy_write(w2, &env, "", 0, m, &err), 0);
    /* a record whose file is gone (delivered): dropped */
    rec.id = "06B0000000000000DDDD";
    ck_assert_int_eq(store_queue_commit(st, &rec, 1, &err), 0);
    /* m: a reception file left over: removed */
    ck_assert_int_eq(spool_recover(sp, st, &r, &err), 0);
    ck_assert_uint_eq(r.rolled_forward, 1);
    ck_assert_uint_eq(r.discarded, 2);
    ck_assert_uint_eq(r.records_dropped, 1);
    ck_assert_uint_eq(r.records_created, 1);
    ck_assert_uint_eq(r.queued, 3);
    ck_assert_uint_eq(r.corrupt, 0);
    ck_assert_int_eq(spool_list(sp, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    spool_list_free(ids, n);
    /* the re-created record does not count the orphan again */
    ck_assert_int_eq(store_quota_get(st, "acme", "2023-11", &q, &err), 0);
    ck_assert_uint_eq(q.accepted, 3);
    spool_copy_release(w1);
    spool_copy_release(w2);
    spool_msg_discard(m); /* its file was removed by recovery already */
    free(kept);
    free(orphan);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_headers_back);
    tcase_add_test(tc, test_copy_roundtrip);
    tcase_add_test(tc, test_headers_gathered);
    tcase_add_test(tc, test_copy_large_body);
    tcase_add_test(tc, test_rcpt_params);
    tcase_add_test(tc, test_state_fallback);
    tcase_add_test(tc, test_torn_and_tampered);
    tcase_add_test(tc, test_envelope_line_breaks);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_list_remove);
    tcase_add_test(tc, test_queue_records);
    tcase_add_test(tc, test_recover);
    suite_add_tcase(s, tc);
    return test_run(s);
}
