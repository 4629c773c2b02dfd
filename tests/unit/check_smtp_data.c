/* check_smtp_data - the DATA encoder: CRLF only, dot-stuffing, long lines, terminator, chunking,
 * and its measure (the SIZE that MAIL declares) */
#include "config.h"

#include "smtp/smtp_data.h"
#include "testutil.h"

/* encode_split - encode N bytes of IN fed as chunks that end at each position in CUTS
 * (ascending); returns the output (caller frees) and its length. A measuring pass over the same
 * chunks (no output) must find exactly the octets sent before the terminator. */
static char *encode_split(const char *in, size_t n, const size_t *cuts, size_t ncuts, size_t *outlen)
{
    struct smtp_data_enc e, m;
    struct buf out;
    size_t pos = 0;

    smtp_data_init(&e);
    smtp_data_init(&m);
    buf_init(&out);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;

        smtp_data_feed(&e, in + pos, end - pos, &out);
        smtp_data_feed(&m, in + pos, end - pos, NULL);
        ck_assert_uint_eq(smtp_data_size(&m), smtp_data_size(&e));
        pos = end;
    }
    smtp_data_finish(&e, &out);
    ck_assert_uint_eq(e.out_bytes, out.len);
    ck_assert_uint_eq(e.in_bytes, n);
    ck_assert_uint_eq(smtp_data_size(&m), out.len - 3);
    ck_assert_int_eq(m.eightbit, e.eightbit);
    *outlen = out.len;
    return buf_steal(&out);
}

/* encode - encode N bytes of IN in one chunk (and measure it, as encode_split does) */
static char *encode(const char *in, size_t n, size_t *outlen)
{
    return encode_split(in, n, NULL, 0, outlen);
}

/* expect - encoding IN gives exactly WANT */
static void expect(const char *in, size_t n, const char *want)
{
    size_t len;
    char *out = encode(in, n, &len);

    ck_assert_msg(len == strlen(want) && memcmp(out, want, len) == 0,
                  "encoding gave %zu bytes \"%s\", wanted \"%s\"", len, out, want);
    free(out);
}

/* assert_wire_clean - only CRLF line ends, no line over 998 octets, exactly one CRLF.CRLF at the end */
static void assert_wire_clean(const char *p, size_t n)
{
    size_t col = 0;

    ck_assert_uint_ge(n, 3);
    ck_assert(memcmp(p + n - 3, ".\r\n", 3) == 0);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            ck_assert_msg(i + 1 < n && p[i + 1] == '\n', "bare CR at %zu", i);
            i++;
            col = 0;
            continue;
        }
        ck_assert_msg(p[i] != '\n', "bare LF at %zu", i);
        col++;
        ck_assert_msg(col <= SMTP_DATA_MAX_LINE, "line longer than 998 at %zu", i);
    }
    /* the terminator: a line that is exactly "." appears only at the end */
    for (size_t i = 0; i + 5 <= n; i++)
        if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
            ck_assert_msg(i + 5 == n, "CRLF.CRLF inside the message at %zu", i);
    ck_assert(!(n > 3 && p[0] == '.' && p[1] == '\r'));
}

START_TEST(smuggling_endings_are_normalised)
{
    static const char *const variants[] = {
        "a\n.\nb",   "a\r.\rb",   "a\r.\nb", "a\n.\r\nb", "a\r\n.\nb",
        "a\r\n.\rb", "a\n.\rb",   "a\r.\r\nb",
    };

    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        size_t len;
        char *out = encode(variants[i], strlen(variants[i]), &len);

        ck_assert_msg(len == strlen("a\r\n..\r\nb\r\n.\r\n") &&
                          memcmp(out, "a\r\n..\r\nb\r\n.\r\n", len) == 0,
                      "variant %zu encoded as \"%s\"", i, out);
        assert_wire_clean(out, len);
        free(out);
    }
}
END_TEST

START_TEST(real_crlf_dot_crlf_inside_is_stuffed)
{
    expect("a\r\n.\r\nMAIL FROM:<x@y>\r\n", 23, "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n");
}
END_TEST

START_TEST(lone_dot_line_and_leading_dots)
{
    expect(".\r\n", 3, "..\r\n.\r\n");
    expect(".", 1, "..\r\n.\r\n");
    expect("..x\n", 4, "...x\r\n.\r\n");
    expect("x.\n.y", 5, "x.\r\n..y\r\n.\r\n");
}
END_TEST

START_TEST(bare_cr_runs)
{
    expect("a\r\r\nb", 5, "a\r\n\r\nb\r\n.\r\n");
    expect("\r", 1, "\r\n.\r\n");
    expect("\n", 1, "\r\n.\r\n");
    expect("\r\r", 2, "\r\n\r\n.\r\n");
    expect("\n\r", 2, "\r\n\r\n.\r\n");
}
END_TEST

START_TEST(empty_body_and_no_final_newline)
{
    expect("", 0, ".\r\n");
    expect("abc", 3, "abc\r\n.\r\n");
    expect("abc\r\n", 5, "abc\r\n.\r\n");
}
END_TEST

/* line_of - N octets of 'x' followed by END */
static char *line_of(size_t n, const char *end)
{
    char *p = malloc(n + strlen(end) + 1);

    memset(p, 'x', n);
    strcpy(p + n, end);
    return p;
}

START_TEST(long_lines_are_broken_at_998)
{
    size_t len;
    char *in, *out;

    in = line_of(998, "\r\n");
    out = encode(in, strlen(in), &len);
    ck_assert_uint_eq(len, 998 + 2 + 3);
    ck_assert(memcmp(out, in, 1000) == 0);
    free(in);
    free(out);

    in = line_of(999, "\r\n");
    out = encode(in, strlen(in), &len);
    ck_assert_uint_eq(len, 998 + 2 + 1 + 2 + 3);
    ck_assert(memcmp(out + 998, "\r\nx\r\n.\r\n", 8) == 0);
    assert_wire_clean(out, len);
    free(in);
    free(out);

    in = line_of(2000, "");
    out = encode(in, strlen(in), &len);
    ck_assert_uint_eq(len, 998 + 2 + 998 + 2 + 4 + 2 + 3);
    ck_assert(memcmp(out + 998, "\r\n", 2) == 0);
    ck_assert(memcmp(out + 1998, "\r\n", 2) == 0);
    ck_assert(memcmp(out + 2000, "xxxx\r\n.\r\n", 9) == 0);
    assert_wire_clean(out, len);
    free(in);
    free(out);

    /* a dot-stuffed line of 998 input octets is 999 on the wire: broken too */
    in = line_of(998, "\n");
    in[0] = '.';
    out = encode(in, strlen(in), &len);
    assert_wire_clean(out, len);
    ck_assert(memcmp(out, "..", 2) == 0);
    ck_assert(memcmp(out + 998, "\r\nx\r\n.\r\n", 8) == 0);
    free(in);
    free(out);

    /* the continuation of a broken line that starts with '.' is stuffed */
    in = line_of(1000, "\n");
    in[998] = '.';
    out = encode(in, strlen(in), &len);
    assert_wire_clean(out, len);
    ck_assert(memcmp(out + 998, "\r\n..x\r\n.\r\n", 10) == 0);
    free(in);
    free(out);
}
END_TEST

static const char tricky[] = "a\r\n.\r\n\r.\r\n.\n\r\r\n..\rb\n\r.\r\r\nc.\r\nd\r";

START_TEST(chunk_boundaries_at_every_position)
{
    size_t n = sizeof(tricky) - 1, wantlen;
    char *want = encode(tricky, n, &wantlen);

    assert_wire_clean(want, wantlen);
    /* one cut at each position, then two cuts at every pair of positions */
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j}, len;
            char *out = encode_split(tricky, n, cuts, 2, &len);

            ck_assert_msg(len == wantlen && memcmp(out, want, len) == 0,
                          "cuts at %zu,%zu changed the output", i, j);
            free(out);
        }
    }
    /* and one byte at a time */
    {
        size_t cuts[sizeof(tricky)], len;
        char *out;

        for (size_t i = 0; i < n; i++)
            cuts[i] = i + 1;
        out = encode_split(tricky, n, cuts, n - 1, &len);
        ck_assert(len == wantlen && memcmp(out, want, len) == 0);
        free(out);
    }
    free(want);
}
END_TEST

START_TEST(cr_lf_split_across_chunks_is_one_line_end)
{
    size_t cuts[1] = {2}, len;
    char *out = encode_split("a\r\nb", 4, cuts, 1, &len);

    ck_assert_uint_eq(len, strlen("a\r\nb\r\n.\r\n"));
    ck_assert(memcmp(out, "a\r\nb\r\n.\r\n", len) == 0);
    free(out);
}
END_TEST

/* unstuff - what a receiving server keeps: lines split on CRLF, one leading dot removed, the
 * terminator dropped; returns the content with CRLF line ends */
static char *unstuff(const char *p, size_t n, size_t *outlen)
{
    struct buf b;
    size_t i = 0;

    buf_init(&b);
    while (i < n) {
        const char *eol = strstr(p + i, "\r\n");
        size_t llen = (size_t)(eol - (p + i));

        if (llen == 1 && p[i] == '.' && i + 3 == n)
            break;
        buf_append(&b, p + i + (p[i] == '.' ? 1 : 0), llen - (p[i] == '.' ? 1 : 0));
        buf_append(&b, "\r\n", 2);
        i += llen + 2;
    }
    *outlen = b.len;
    return buf_steal(&b);
}

START_TEST(random_input_round_trips)
{
    static const char alphabet[] = "\r\n.ab\x80";
    unsigned seed = 12345;

    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(round * 7 % 3000), len, back_len;
        char *in = malloc(n + 1), *out, *back;
        struct buf norm;

        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly letters, so that long lines happen too */
            in[i] = (seed >> 16) % 10 < 6 ? 'x' : alphabet[(seed >> 8) % 6];
        }
        out = encode(in, n, &len);
        assert_wire_clean(out, len);
        /* the content a server keeps equals the input with every line end made CRLF and
         * long lines broken: compare after removing the breaks we know we made */
        back = unstuff(out, len, &back_len);
        buf_init(&norm);
        for (size_t i = 0; i < n; i++) {
            if (in[i] == '\r') {
                buf_puts(&norm, "\r\n");
                if (i + 1 < n && in[i + 1] == '\n')
                    i++;
            } else if (in[i] == '\n') {
                buf_puts(&norm, "\r\n");
            } else {
                buf_putc(&norm, in[i]);
            }
        }
        if (norm.len > 0 && (norm.len < 2 || memcmp(norm.data + norm.len - 2, "\r\n", 2) != 0))
            buf_puts(&norm, "\r\n");
        /* remove the line breaks the encoder inserted: equal lengths of content apart from them */
        {
            size_t a = 0, b = 0;

            while (a < norm.len && b < back_len) {
                if (norm.data[a] == back[b]) {
                    a++;
                    b++;
                } else {
                    ck_assert_msg(back[b] == '\r' && b + 1 < back_len && back[b + 1] == '\n',
                                  "round %d: content differs at %zu", round, a);
                    b += 2;
                }
            }
            ck_assert_uint_eq(a, norm.len);
            ck_assert_uint_eq(b, back_len);
        }
        buf_free(&norm);
        free(back);
        free(out);
        free(in);
    }
}
END_TEST

/* size_of - the measure of the N bytes of IN */
static uint64_t size_of(const char *in, size_t n)
{
    struct smtp_data_enc m;

    smtp_data_init(&m);
    smtp_data_feed(&m, in, n, NULL);
    return smtp_data_size(&m);
}

START_TEST(size_counts_every_octet_the_encoder_adds)
{
    char *line = line_of(2000, "");

    ck_assert_uint_eq(size_of("", 0), 0);
    ck_assert_uint_eq(size_of("a\r\nb\r\n", 6), 6);       /* CRLF only: as stored */
    ck_assert_uint_eq(size_of("a\nb\n", 4), 6);           /* a bare LF becomes CRLF */
    ck_assert_uint_eq(size_of("a\rb", 3), 6);             /* a bare CR too; the last line ends */
    ck_assert_uint_eq(size_of(".a\r\n.\r\n", 7), 9);      /* each leading dot is doubled */
    ck_assert_uint_eq(size_of("last", 4), 6);             /* an unterminated line gets its CRLF */
    ck_assert_uint_eq(size_of(line, 2000), 2000 + 3 * 2); /* 998 + 998 + 4, each with CRLF */
    free(line);
}
END_TEST

START_TEST(eightbit_is_noticed)
{
    struct smtp_data_enc e;
    struct buf out;

    smtp_data_init(&e);
    buf_init(&out);
    smtp_data_feed(&e, "plain ascii\r\n", 13, &out);
    ck_assert(!e.eightbit);
    smtp_data_feed(&e, "caf\xc3\xa9\r\n", 7, &out);
    ck_assert(e.eightbit);
    buf_free(&out);
    ck_assert(smtp_data_has_8bit("\xff", 1));
    ck_assert(!smtp_data_has_8bit("abc", 3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtp_data");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, smuggling_endings_are_normalised);
    tcase_add_test(tc, real_crlf_dot_crlf_inside_is_stuffed);
    tcase_add_test(tc, lone_dot_line_and_leading_dots);
    tcase_add_test(tc, bare_cr_runs);
    tcase_add_test(tc, empty_body_and_no_final_newline);
    tcase_add_test(tc, long_lines_are_broken_at_998);
    tcase_add_test(tc, chunk_boundaries_at_every_position);
    tcase_add_test(tc, cr_lf_split_across_chunks_is_one_line_end);
    tcase_add_test(tc, random_input_round_trips);
    tcase_add_test(tc, size_counts_every_octet_the_encoder_adds);
    tcase_add_test(tc, eightbit_is_noticed);
    suite_add_tcase(s, tc);
    return test_run(s);
}
