/*
 * rewrite - fuzz the header rewriter (src/milter/rewrite.h) with the golden files' format
 * (tests/rewrite/NAME.in, doc/rewrite.md): parameter lines "key: value", "--", then header
 * fields, continuation lines starting with white space, escapes {CR} {LF} {TAB} {NUL}.
 *
 * Whatever the input, the properties rewrite.h promises must hold: a field that
 * rewrite_field_ok refuses makes rewrite_headers refuse too, leaving OUT untouched; otherwise
 * every line ends in CRLF, CR and LF appear nowhere else, no line is longer than 998 characters
 * or only white space, every line is a field "Name:" or a continuation, exactly one From comes
 * out and it ends in from_address (when that is a valid mailbox, as a target's is), one
 * Reply-To when the target sets reply_to, and the Received field put first is one that
 * rewrite_is_ours recognises (for a spool id starting with a letter or digit, as the hex ids of
 * the spool do).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "milter/rewrite.h"
#include "util/addr.h"
#include "util/util.h"

#define MAX_FIELDS 512

/* An input: the parameters and the fields, every string owned here. */
struct input {
    struct rewrite_params p;
    struct rewrite_header h[MAX_FIELDS];
    size_t vlen[MAX_FIELDS]; /* a value's length; more than strlen when it holds a NUL */
    size_t n;
    char *strings[16];
    int nstrings;
    bool crlf, leadspc;
};

/* set_param - one parameter line KEY: V (V owned by IN) */
static void set_param(struct input *in, const char *key, char *v)
{
    if (in->nstrings == 16) {
        free(v);
        return;
    }
    in->strings[in->nstrings++] = v;
    if (strcmp(key, "from_address") == 0)
        in->p.from_address = v;
    else if (strcmp(key, "from_name") == 0)
        in->p.from_name = v;
    else if (strcmp(key, "reply_to") == 0)
        in->p.reply_to = v;
    else if (strcmp(key, "original_from_header") == 0)
        in->p.original_from_header = strcmp(v, "yes") == 0;
    else if (strcmp(key, "reply_to_original") == 0)
        in->p.reply_to_original = strcmp(v, "yes") == 0;
    else if (strcmp(key, "hostname") == 0)
        in->p.hostname = v;
    else if (strcmp(key, "spool_id") == 0)
        in->p.spool_id = v;
    else if (strcmp(key, "mta_queue_id") == 0)
        in->p.mta_queue_id = *v ? v : NULL;
    else if (strcmp(key, "now") == 0)
        in->p.now = (time_t)strtoll(v, NULL, 10);
    else if (strcmp(key, "leadspc") == 0)
        in->leadspc = strcmp(v, "yes") == 0;
    else if (strcmp(key, "line_end") == 0)
        in->crlf = strcmp(v, "crlf") == 0;
}

/* add_line - one line of the header part: a new field, or the continuation of the last one */
static void add_line(struct input *in, const char *line)
{
    size_t len, n = strlen(line);

    if ((line[0] == ' ' || line[0] == '\t') && in->n > 0) {
        size_t k = in->n - 1, mlen;
        char *more = fuzz_unescape(line, n, &mlen), *joined;
        const char *sep = in->crlf ? "\r\n" : "\n";

        joined = xmalloc(in->vlen[k] + strlen(sep) + mlen + 1);
        memcpy(joined, in->h[k].value, in->vlen[k]);
        memcpy(joined + in->vlen[k], sep, strlen(sep));
        memcpy(joined + in->vlen[k] + strlen(sep), more, mlen + 1);
        free((char *)in->h[k].value);
        free(more);
        in->h[k].value = joined;
        in->vlen[k] += strlen(sep) + mlen;
        return;
    }
    if (in->n == MAX_FIELDS)
        return;
    const char *colon = strchr(line, ':');
    size_t name_n = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;

    if (!in->leadspc && *v == ' ') /* libmilter without SMFIP_HDR_LEADSPC */
        v++;
    in->h[in->n].name = fuzz_unescape(line, name_n, NULL);
    in->h[in->n].value = fuzz_unescape(v, strlen(v), &len);
    in->vlen[in->n] = len;
    in->n++;
}

/* parse - the input's parameters (defaults as tests/unit/check_rewrite.c) and fields */
static void parse(const uint8_t *data, size_t size, struct input *in)
{
    bool params = true;
    size_t pos = 0;
    char *line;

    memset(in, 0, sizeof(*in));
    in->p = (struct rewrite_params){
        .from_address = "billing@acme.example",
        .from_name = "",
        .reply_to = "",
        .original_from_header = true,
        .reply_to_original = true,
        .hostname = "relay.example.net",
        .spool_id = "0123456789ABCDEF",
        .now = 1795000000,
    };
    while ((line = fuzz_next_line(data, size, &pos)) != NULL) {
        char *key, *v;

        if (params && strcmp(line, "--") == 0)
            params = false;
        else if (params && fuzz_key_value(line, &key, &v))
            set_param(in, key, fuzz_unescape(v, strlen(v), NULL));
        else if (!params)
            add_line(in, line);
        free(line);
    }
}

static void input_free(struct input *in)
{
    for (int i = 0; i < in->nstrings; i++)
        free(in->strings[i]);
    for (size_t i = 0; i < in->n; i++) {
        free((char *)in->h[i].name);
        free((char *)in->h[i].value);
    }
}

/* field_is - is the field of line L (name up to COLON) called WHAT, case-insensitively? */
static bool field_is(const char *l, const char *colon, const char *what)
{
    return (size_t)(colon - l) == strlen(what) && strncasecmp(l, what, strlen(what)) == 0;
}

/* unfolded - the value of the field starting at S (after its colon), folds removed */
static char *unfolded(const char *s)
{
    struct buf b;

    buf_init(&b);
    for (; *s; s++) {
        if (s[0] == '\r' && s[1] == '\n') {
            if (s[2] != ' ' && s[2] != '\t')
                break;
            s++;
            continue;
        }
        buf_putc(&b, *s);
    }
    return buf_steal(&b);
}

/* check_output - the properties of a successful rewrite (see the top of this file) */
static void check_output(const struct input *in, const struct buf *out)
{
    const char *s = out->data;
    size_t n = out->len, start = 0;
    int froms = 0, replies = 0;
    char *err = NULL;
    /* the target's from_address is a validated mailbox (at most 254 bytes): only then can the
     * From line be short enough never to need a break inside a word */
    bool mailbox = addr_check_mailbox(in->p.from_address, &err) == 0;

    free(err);

    FUZZ_CHECK(strlen(s) == n, "NUL in the output");
    FUZZ_CHECK(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n', "output does not end in CRLF");
    FUZZ_CHECK(strncmp(s, "Received: ", 10) == 0, "the first field is not our Received");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r')
            FUZZ_CHECK(i + 1 < n && s[i + 1] == '\n', "bare CR");
        if (s[i] == '\n')
            FUZZ_CHECK(i > 0 && s[i - 1] == '\r', "bare LF");
        if (s[i] != '\n')
            continue;
        const char *l = s + start;
        size_t len = i - 1 - start;

        FUZZ_CHECK(len <= 998, "a line longer than 998 characters");
        if (l[0] == ' ' || l[0] == '\t') {
            size_t k = 0;

            while (k < len && (l[k] == ' ' || l[k] == '\t'))
                k++;
            FUZZ_CHECK(k < len, "a line of only white space");
        } else {
            const char *colon = memchr(l, ':', len);

            FUZZ_CHECK(colon != NULL && colon > l, "a line that is no field");
            for (const char *c = l; c < colon; c++)
                FUZZ_CHECK(*c > 32 && *c < 127, "a field name outside printable ASCII");
            if (field_is(l, colon, "From") && mailbox) {
                char *v = unfolded(colon + 1);
                size_t al = strlen(in->p.from_address), e = strlen(v);

                if (e > 0 && v[e - 1] == '>') /* "Name <from_address>" */
                    e--;
                FUZZ_CHECK(e >= al && memcmp(v + e - al, in->p.from_address, al) == 0,
                           "From does not end in from_address");
                free(v);
            }
            froms += field_is(l, colon, "From");
            replies += field_is(l, colon, "Reply-To");
        }
        start = i + 1;
    }
    FUZZ_CHECK(froms == 1, "not exactly one From");
    FUZZ_CHECK(in->p.reply_to[0] == '\0' || replies == 1, "reply_to set, not exactly one Reply-To");

    /* the loop check knows an id by its first character: spool ids are hex */
    if (isalnum((unsigned char)in->p.spool_id[0])) {
        char *received = unfolded(s + 9);

        FUZZ_CHECK(rewrite_is_ours(received, in->p.hostname), "our Received is not recognised");
        free(received);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input *in = xmalloc(sizeof(*in));
    struct buf out;
    char *err = NULL;
    bool fields_ok = true, nul = false;

    parse(data, size, in);
    for (size_t i = 0; i < in->n; i++) {
        bool has_nul = strlen(in->h[i].value) != in->vlen[i];

        if (rewrite_field_ok(in->h[i].name, in->h[i].value, in->vlen[i], &err) < 0)
            fields_ok = false;
        else
            FUZZ_CHECK(!has_nul, "rewrite_field_ok takes a value holding NUL");
        nul = nul || has_nul;
        if (strncasecmp(in->h[i].name, "Received", 8) == 0)
            (void)rewrite_is_ours(in->h[i].value, in->p.hostname);
    }
    /* a value with a NUL cannot be a C string: the milter stops at rewrite_field_ok */
    if (!nul) {
        buf_init(&out);
        if (rewrite_headers(&in->p, in->h, in->n, &out, &err) == 0) {
            FUZZ_CHECK(fields_ok, "rewrite_headers takes a field that rewrite_field_ok refuses");
            check_output(in, &out);
        } else {
            FUZZ_CHECK(out.len == 0, "a refused rewrite wrote to OUT");
            FUZZ_CHECK(err != NULL && *err != '\0', "a refused rewrite without a message");
        }
        buf_free(&out);
    }
    free(err);
    input_free(in);
    free(in);
    return 0;
}
