/*
 * spool - the hand-off between the milter side and the delivery side (doc/design.md, "The spool contract"; doc/spool.md).
 *
 * Under spool.path:
 *   incoming/  ID.rcv          a message being received (headers, then body), one per transaction
 *              ID              a copy being written, not yet committed
 *              ID.state.tmp    a state file being replaced
 *   queue/     ID              a committed copy: envelope, rewritten message, integrity trailer
 *              ID.state        its mutable delivery state (absent: every recipient pending)
 *   corrupt/   NAME            a torn or unreadable file moved aside by recovery; never deleted
 * A copy file is written once and never changed; the mutable state lives in ID.state, replaced
 * whole by write-new-then-rename. Every file written here is fsynced, and so is its directory.
 * Files are mode 0600, directories 0700.
 *
 * Thread-safety: a struct spool is read-only after spool_open(); every other object here
 * (reception file, copy being written, copy being read) belongs to one thread at a time.
 */
#ifndef BYOSMTP_SPOOL_H
#define BYOSMTP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define SPOOL_ID_LEN 20  /* upper-case hex: seconds(9) microseconds(5) random(6) */
#define SPOOL_CORRUPT (-2) /* return value: the file is torn or not in the spool format */

struct spool;
struct store;

/*
 * spool_open - use the spool at PATH. With CREATE, the directory and its three subdirectories
 * are made when missing (mode 0700) and, when OWNER is not (uid_t)-1, given to OWNER:GROUP
 * (for a daemon that starts as root and then runs as milter.user). A probe file is written and
 * removed in incoming/, so an unwritable spool is found at start-up, root or not.
 * Returns 0 and *out, or -1 with *err.
 */
int spool_open(const char *path, bool create, uid_t owner, gid_t group, struct spool **out,
               char **err);
void spool_close(struct spool *sp);
const char *spool_path(const struct spool *sp);

/* spool_valid_id - is S a spool id (SPOOL_ID_LEN upper-case hex digits)? */
bool spool_valid_id(const char *s);

/* ---- receiving a message (milter side) ---- */

struct spool_msg;

/* spool_msg_begin - create incoming/ID.rcv for one message; 0 and *out, or -1 with *err */
int spool_msg_begin(struct spool *sp, struct spool_msg **out, char **err);
/* spool_msg_header - append one header field (all headers come before any body); 0 or -1 */
int spool_msg_header(struct spool_msg *m, const char *name, const char *value, char **err);
/* spool_msg_flush - write the header fields held in memory (spool_msg_header gathers them; the
 * body, spool_msg_headers and this write them); 0 or -1 */
int spool_msg_flush(struct spool_msg *m, char **err);
/* spool_msg_body - append N bytes of body (not NUL-terminated); 0 or -1 */
int spool_msg_body(struct spool_msg *m, const void *p, size_t n, char **err);
/* spool_msg_header_count - header fields written so far */
size_t spool_msg_header_count(const struct spool_msg *m);

/*
 * spool_msg_headers - read every header field back into memory (bounded by the milter's header
 * limits); *names and *values point into *block (free(*names), free(*values), free(*block)).
 */
int spool_msg_headers(struct spool_msg *m, char **block, const char ***names, const char ***values,
                      size_t *n, char **err);
/* spool_msg_discard - remove the reception file and free (NULL is fine) */
void spool_msg_discard(struct spool_msg *m);

/* ---- one target's copy ---- */

/* What a copy holds besides the message (doc/spool.md: "the envelope"). */
struct spool_envelope {
    char *id;            /* spool id (set by spool_copy_new / read back) */
    char *target;        /* target name */
    char *mta_queue_id;  /* the MTA's queue id ({i}); "" when unknown */
    int64_t arrival;     /* unix seconds, when the milter accepted it */
    char *sender;        /* original envelope sender, without <>; "" for the null sender */
    char *envelope_from; /* MAIL FROM towards the provider, without <>; "" for null */
    char *mail_params;   /* the ESMTP parameters of the original MAIL, space-separated; "" */
    char **rcpts;        /* recipients, without <> */
    char **rcpt_params;  /* per recipient, the ESMTP parameters of its RCPT (NOTIFY=, ORCPT=),
                            space-separated; "" none. NULL (writing): none for any; a copy read
                            back always has the array */
    size_t nrcpts;
};

void spool_envelope_free(struct spool_envelope *e);

struct spool_copy_w;

/* spool_copy_new - choose a new id and create incoming/ID exclusively; 0 and *out, or -1 */
int spool_copy_new(struct spool *sp, struct spool_copy_w **out, char **err);
const char *spool_copy_id(const struct spool_copy_w *w);

/*
 * spool_copy_write - write ENV (its id is the copy's), the header section HEADERS (HLEN bytes,
 * every field ending in CRLF, without the empty line, which is added here), the body of M,
 * and the integrity trailer; then fsync the file. Refuses envelope values with CR, LF or NUL.
 * 0, or -1 with *err (ENOSPC and EIO included).
 */
int spool_copy_write(struct spool_copy_w *w, const struct spool_envelope *env, const char *headers,
                     size_t hlen, struct spool_msg *m, char **err);

/* spool_sync_incoming / spool_sync_queue - fsync the directory; 0 or -1 with *err */
int spool_sync_incoming(struct spool *sp, char **err);
int spool_sync_queue(struct spool *sp, char **err);

/* spool_copy_publish - rename incoming/ID to queue/ID (atomic); 0 or -1 with *err */
int spool_copy_publish(struct spool_copy_w *w, char **err);

/* spool_copy_abandon - remove the copy's file wherever it is (incoming or queue), and free */
void spool_copy_abandon(struct spool_copy_w *w);
/* spool_copy_release - free the handle, keeping the file (after a successful publish) */
void spool_copy_release(struct spool_copy_w *w);

/* ---- reading a copy back (delivery side, recovery, tests) ---- */

struct spool_copy {
    struct spool_envelope env;
    uint64_t header_size; /* the header section, its empty line included */
    uint64_t body_size;
    int fd;
    uint64_t msg_offset; /* where the header section starts in the file */
    uint64_t body_pos;   /* bytes of the body already returned by spool_copy_read_body */
};

/*
 * spool_copy_open - open the copy at DIR/ID ("queue" or "incoming"), check its trailer (length
 * and SHA-256 of everything before it) and parse its envelope. Returns 1 and *out, 0 when there
 * is no such file, SPOOL_CORRUPT with *err saying what is wrong (torn, bad trailer, bad
 * envelope), or -1 with *err for an I/O error (try again later).
 */
int spool_copy_open(struct spool *sp, const char *dir, const char *id, struct spool_copy **out,
                    char **err);
/* spool_copy_read_headers - the header section (with its empty line) into OUT; 0 or -1 */
int spool_copy_read_headers(struct spool_copy *c, struct buf *out, char **err);
/* spool_copy_read_body - next at most N bytes of the body; returns the count, 0 at the end, -1 */
ssize_t spool_copy_read_body(struct spool_copy *c, void *p, size_t n, char **err);
void spool_copy_close(struct spool_copy *c);

/* spool_list - the ids in queue/ (copies, not state files), sorted (= by arrival); 0 or -1 */
int spool_list(struct spool *sp, char ***ids, size_t *n, char **err);
void spool_list_free(char **ids, size_t n);

/*
 * spool_remove - delivery finished: remove queue/ID, then queue/ID.state, then fsync queue/;
 * 0 once both are gone (a failed fsync is only logged as a warning), or -1 with *err
 */
int spool_remove(struct spool *sp, const char *id, char **err);

/*
 * spool_move_corrupt - move DIR/NAME to corrupt/NAME (a suffix .1, .2 ... when taken), fsync
 * both directories, and log it with WHY. Never deletes. 0 or -1 with *err.
 */
int spool_move_corrupt(struct spool *sp, const char *dir, const char *name, const char *why,
                       char **err);

/* ---- mutable delivery state of a copy (queue/ID.state) ---- */

/* FALLBACK: handed back to the local MTA (the target's fallback = mta) */
enum spool_rcpt_state { RCPT_PENDING = 0, RCPT_SENT = 1, RCPT_BOUNCED = 2, RCPT_FALLBACK = 3 };

const char *spool_rcpt_state_name(enum spool_rcpt_state s);

struct spool_state {
    uint32_t attempts;     /* delivery attempts made */
    int64_t next_attempt;  /* unix seconds; 0 = at once */
    char *last_error;      /* one line ("" none): error class and reply of the last attempt */
    bool delay_warned;     /* the "delayed" DSN (delivery.delay_warning) was sent */
    enum spool_rcpt_state *rcpt; /* one per recipient, in the copy's order */
    size_t nrcpts;
};

/*
 * spool_state_read - the state of copy ID with NRCPTS recipients. Returns 1 read, 0 when the
 * copy has no state file yet (*st is then the initial state: no attempts, next_attempt 0, every
 * recipient pending), SPOOL_CORRUPT (torn, wrong id or recipient count) or -1 (I/O) with *err.
 */
int spool_state_read(struct spool *sp, const char *id, size_t nrcpts, struct spool_state *st,
                     char **err);
/*
 * spool_state_write - replace the state of ID: write incoming/ID.state.tmp, fsync, rename over
 * queue/ID.state, fsync queue/. A crash leaves the old state or the new one, never a mix.
 * LAST_ERROR must be one line. 0 or -1 with *err.
 */
int spool_state_write(struct spool *sp, const char *id, const struct spool_state *st, char **err);
void spool_state_free(struct spool_state *st);

/* ---- recovery (spool_recover.c) ---- */

struct spool_recovery {
    size_t queued;          /* valid committed copies in queue/ */
    size_t rolled_forward;  /* committed copies found in incoming/ and moved to queue/ */
    size_t discarded;       /* uncommitted files removed from incoming/ (the MTA still has them) */
    size_t corrupt;         /* files moved to corrupt/ */
    size_t records_dropped; /* store records without a file (delivery had finished) */
    size_t records_created; /* queue files without a store record: record re-created */
};

/*
 * spool_recover - bring spool and store back to a consistent state after any crash (the rules
 * are in doc/spool.md, one per crash point). Run at start, before the milter accepts
 * connections and before delivery starts. Each action is logged. 0, or -1 with *err when the
 * spool or the store cannot be read (nothing is deleted then).
 */
int spool_recover(struct spool *sp, struct store *st, struct spool_recovery *out, char **err);

#endif
