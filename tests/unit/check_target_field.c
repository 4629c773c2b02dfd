/*
 * check_target_field - the field table of a target and the generic code it drives, row by row
 * and without naming a field where the table can say it: the table's own consistency, every
 * row's values round-tripping through the store record and through targets.conf, "target show"
 * (each key once, in its place, a secret never), and each row's required, range and word
 * errors. A new row is covered by these tests as soon as it exists.
 */
#include "config.h"

#include <limits.h>

#include "testutil.h"
#include "store/target_int.h"

#define BASE_NAME "acme"

/* ---- sample values ---- */

/* Strings a TT_STRING row may take: each row uses those its own check accepts. */
static const char *const string_pool[] = {
    "smtp.example.net",
    "[2001:db8::25]",
    "14/s",
    "1000000/m",
    "Acme Billing",
    "with \"quotes\", a back\\slash, a\ttab and J\xc3\xbcrgen",
    "https://oauth2.example.net/token",
};

/* samples - valid values of F in the record's syntax (at most MAX); returns how many */
static size_t samples(const struct target_field *f, char out[][64], size_t max)
{
    size_t n = 0;

#define ADD(...) (n < max ? (void)snprintf(out[n++], 64, __VA_ARGS__) : (void)0)
    switch (f->type) {
    case TT_NAME:
        ADD(BASE_NAME);
        ADD("a-b.c_9");
        break;
    case TT_SECRET:
        ADD("enc:v1:QUJDREVG");
        ADD("enc:v1:a+b/c==");
        break;
    case TT_ADDRESS:
        ADD("someone@example.org");
        ADD("\"odd..local\"@[192.0.2.1]");
        break;
    case TT_STRING:
        for (size_t i = 0; i < sizeof(string_pool) / sizeof(*string_pool); i++)
            if (f->check == NULL || f->check(string_pool[i], NULL) == 0)
                ADD("%s", string_pool[i]);
        break;
    case TT_INT:
        ADD("%lld", f->min);
        ADD("%lld", f->max);
        ADD("%lld", (f->min + f->max) / 2);
        break;
    case TT_UINT64:
        ADD("%lld", f->min);
        ADD("%d", INT_MAX);
        ADD("%lld", (long long)INT_MAX + 1); /* printed with an L suffix */
        ADD("%lld", f->max);
        break;
    case TT_BOOL:
        ADD("1");
        ADD("0");
        break;
    case TT_ENUM:
        for (int v = 0; f->words->parse(f->words->name(v)) == v; v++)
            ADD("%s", f->words->name(v));
        break;
    case TT_MATCHES:
        ADD("@example.com");
        ADD("*\n<>\nUser+x@example.org\n.sub.example\n@[192.0.2.1]");
        break;
    case TT_HOSTLIST:
        ADD("smtp2.example.net:587");
        ADD("a.example.net:25,[2001:db8::25]:465,192.0.2.7:2525");
        break;
    }
    if (!f->required && f->type != TT_NAME && target_field_is_string(f))
        ADD("%s", "");
#undef ADD
    return n;
}

/* base_target - a valid target: every required field at its first sample, the rest defaults */
static void base_target(struct target *t)
{
    char v[8][64];
    char *err = NULL;

    target_init(t);
    for (size_t i = 0; i < target_nfields; i++)
        if (target_fields[i].required) {
            ck_assert_uint_gt(samples(&target_fields[i], v, 8), 0);
            ck_assert(target_field_decode(t, &target_fields[i], v[0]));
        }
    if (target_validate(t, &err) != 0)
        ck_abort_msg("the base target is not valid: %s", err);
}

/* no_credentials - T without the fields auth none refuses (username, password) */
static void no_credentials(struct target *t)
{
    for (size_t i = 0; i < target_nfields; i++)
        if (target_fields[i].credential)
            target_field_set_string(t, &target_fields[i], "");
}

/* same_fields - every field of A and B holds the same value (read from the members themselves) */
static void same_fields(const struct target *a, const struct target *b, const char *how)
{
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (target_field_is_string(f))
            ck_assert_msg(strcmp(target_field_string(a, f), target_field_string(b, f)) == 0,
                          "%s: field '%s' is '%s', not '%s'", how, f->key,
                          target_field_string(b, f), target_field_string(a, f));
        else if (f->type == TT_UINT64)
            ck_assert_msg(target_field_u64(a, f) == target_field_u64(b, f), "%s: field '%s'", how,
                          f->key);
        else
            ck_assert_msg(target_field_int(a, f) == target_field_int(b, f), "%s: field '%s'", how,
                          f->key);
    }
}

/* show_text - target_show() into a string */
static char *show_text(const struct target *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(fp);
    target_show(t, fp);
    ck_assert_int_eq(fclose(fp), 0);
    return text;
}

/* conf_text - the dump format of a set holding only T */
static char *conf_text(const struct target *t)
{
    struct target_set set = {.targets = (struct target *)t, .ntargets = 1};
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(fp);
    target_set_print(&set, fp);
    ck_assert_int_eq(fclose(fp), 0);
    return text;
}

/* parse_conf - parse TEXT as targets.conf; 0 with *set, or -1 with *err */
static int parse_conf(const char *text, struct target_set *set, char **err)
{
    char *dir = test_tmpdir();
    char *path = test_write(dir, "targets.conf", text, 0600);
    int rc = target_set_parse_file(path, set, NULL, err);

    if (rc < 0) {
        /* drop the "PATH:" so that callers compare the rest */
        char *rest = xstrdup(*err + strlen(path) + 1);

        free(*err);
        *err = rest;
    }
    free(path);
    test_rmdir(dir);
    return rc;
}

/* without_line - TEXT without the lines that start with PREFIX (caller frees) */
static char *without_line(const char *text, const char *prefix)
{
    struct buf b;

    buf_init(&b);
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);

        if (strncmp(p, prefix, strlen(prefix)) != 0)
            buf_append(&b, p, n);
        p += n;
    }
    return buf_steal(&b);
}

/* ---- the table ---- */

START_TEST(table_is_consistent)
{
    size_t names = 0, secrets = 0;

    ck_assert_uint_gt(target_nfields, 0);
    ck_assert_uint_le(target_nfields, TARGET_FIELDS_MAX);
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        bool number = f->type == TT_INT || f->type == TT_UINT64;

        ck_assert_ptr_nonnull(f->key);
        ck_assert_ptr_eq(target_field_find(f->key), f);
        ck_assert_msg(f->offset < sizeof(struct target), "%s: offset", f->key);
        ck_assert_msg((f->words != NULL) == (f->type == TT_ENUM), "%s: words", f->key);
        ck_assert_msg(f->check == NULL || f->type == TT_STRING || f->type == TT_HOSTLIST,
                      "%s: check", f->key);
        ck_assert_msg(f->file_key == NULL || f->type == TT_SECRET, "%s: file_key", f->key);
        ck_assert_msg(number || (f->min == 0 && f->max == 0 && f->option_max == 0), "%s: range",
                      f->key);
        ck_assert_msg(!number || (f->min >= 0 && f->min <= f->max), "%s: range", f->key);
        ck_assert_msg(f->option_max == 0 || (f->option_max >= f->min && f->option_max <= f->max),
                      "%s: option_max", f->key);
        if (f->type == TT_ENUM) {
            char *words = target_field_words(f, ", ");

            ck_assert_msg(strchr(words, ',') != NULL, "%s: fewer than two words", f->key);
            ck_assert_ptr_nonnull(f->words->what);
            free(words);
        }
        if (f->show_after != NULL) {
            const struct target_field *anchor = target_field_find(f->show_after);

            ck_assert_msg(anchor != NULL && anchor != f && anchor->show_after == NULL,
                          "%s: show_after '%s'", f->key, f->show_after);
        }
        for (size_t j = 0; j < i; j++) {
            ck_assert_msg(target_fields[j].offset != f->offset, "%s: offset taken", f->key);
            ck_assert(target_fields[j].file_key == NULL ||
                      strcmp(target_fields[j].file_key, f->key) != 0);
            ck_assert_msg(f->option == NULL || target_fields[j].option == NULL ||
                              strcmp(target_fields[j].option, f->option) != 0,
                          "option --%s twice", f->option);
        }
        names += f->type == TT_NAME;
        secrets += f->type == TT_SECRET && f->file_key != NULL;
    }
    /* the struct's name, byosmtpctl's NAME argument, the one password_files per target */
    ck_assert_uint_eq(names, 1);
    ck_assert_uint_eq(target_field_find("name")->type, TT_NAME);
    ck_assert_ptr_null(target_field_find("name")->option);
    ck_assert_uint_eq(secrets, 1);
}
END_TEST

START_TEST(defaults_are_valid)
{
    struct target t, scratch;
    char *err = NULL;

    /* every default decodes (target_init aborts otherwise) and every optional one is valid */
    base_target(&t);
    target_init(&scratch);
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (f->def != NULL)
            ck_assert_msg(target_field_decode(&scratch, f, f->def), "%s: default '%s'", f->key,
                          f->def);
        if (!f->required && target_check_field(&t, f, &err) != 0)
            ck_abort_msg("%s: the default is not valid: %s", f->key, err);
    }
    ck_assert_int_eq(target_validate(&t, &err), 0);
    target_free(&scratch);
    target_free(&t);
}
END_TEST

START_TEST(enum_words)
{
    const struct target_field *f = target_field_find("security");
    char *w;

    ck_assert_ptr_nonnull(f);
    w = target_field_words(f, " or ");
    ck_assert_str_eq(w, "starttls, tls or none");
    free(w);
    w = target_field_words(f, ", ");
    ck_assert_str_eq(w, "starttls, tls, none");
    free(w);
}
END_TEST

/* ---- every row, every sample ---- */

/*
 * oauth_fit - T made an OAuth2 target in which F's sample VALUE is valid (target_check_oauth):
 * auth xoauth2 and, for a value of a token endpoint's field, the endpoint's other required fields
 */
static void oauth_fit(struct target *t, const struct target_field *f, const char *value)
{
    static const char *const need[][2] = {
        {"oauth_token_url", "https://oauth2.example.net/token"},
        {"oauth_client_id", "client-1"},
        {"oauth_refresh_token", "enc:v1:QUJD"},
    };

    t->auth = SMTP_AUTH_XOAUTH2;
    if (*value == '\0' || strcmp(f->key, "oauth_token_command") == 0)
        return;
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
        if (strcmp(f->key, need[i][0]) != 0)
            target_field_set_string(t, target_field_find(need[i][0]), need[i][1]);
}

/* round_trip - T through the record and through targets.conf reads back the same */
static void round_trip(const struct target *t, const char *what)
{
    struct target back;
    struct target_set set;
    char *rec, *text, *err = NULL;
    size_t len;

    rec = target_encode(t, &len);
    if (target_decode(t->name, rec, len, &back, &err) != 0)
        ck_abort_msg("%s: decode: %s", what, err);
    same_fields(t, &back, what);
    target_free(&back);
    free(rec);

    text = conf_text(t);
    if (parse_conf(text, &set, &err) != 0)
        ck_abort_msg("%s: targets.conf: %s\n%s", what, err, text);
    ck_assert_uint_eq(set.ntargets, 1);
    same_fields(t, &set.targets[0], what);
    target_set_free(&set);
    free(text);
}

START_TEST(every_row_round_trips)
{
    char v[8][64], what[640];
    char *err = NULL;

    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        size_t n = samples(f, v, 8);

        ck_assert_msg(n > 0, "%s: no sample value (add one to string_pool)", f->key);
        for (size_t k = 0; k < n; k++) {
            struct target t;

            snprintf(what, sizeof(what), "%s = '%s'", f->key, v[k]);
            base_target(&t);
            ck_assert_msg(target_field_decode(&t, f, v[k]), "%s: does not decode", what);
            if (strncmp(f->key, "oauth_", 6) == 0)
                oauth_fit(&t, f, v[k]);
            if (t.auth == SMTP_AUTH_NONE)
                no_credentials(&t);
            if (target_validate(&t, &err) != 0)
                ck_abort_msg("%s: not valid: %s", what, err);
            round_trip(&t, what);
            target_free(&t);
        }
    }
}
END_TEST

/* expected_show - the value "target show" prints for F of T */
static const char *expected_show(const struct target *t, const struct target_field *f,
                                 char buf[TARGET_TEXT_MAX])
{
    if (f->type == TT_SECRET)
        return target_field_string(t, f)[0] != '\0' ? "(set)" : "(not set)";
    if (f->type == TT_BOOL)
        return target_field_int(t, f) ? "true" : "false";
    if (f->type == TT_MATCHES) {
        /* the matches on one line, separated by ", " (BUF is too small for them) */
        static char joined[512];
        size_t n = 0;

        for (const char *p = target_field_text(t, f, buf); *p != '\0' && n + 3 < sizeof(joined);
             p++)
            n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s", *p == '\n' ? ", " :
                                  (char[2]){*p, '\0'});
        joined[n] = '\0';
        return joined;
    }
    return target_field_text(t, f, buf);
}

START_TEST(show_has_every_key_once_in_place)
{
    struct target t;
    char buf[TARGET_TEXT_MAX];
    char *shown, *text, *line;
    const char *prev = NULL;

    base_target(&t);
    shown = show_text(&t);
    text = xasprintf("\n%s", shown); /* every line starts after a newline */
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        char *at;

        line = xasprintf("\n%s = %s\n", f->key, expected_show(&t, f, buf));
        at = strstr(text, line);
        ck_assert_msg(at != NULL, "show lacks '%s': %s", line + 1, shown);
        ck_assert_msg(strstr(at + 1, line) == NULL, "show has '%s' twice", line + 1);
        if (f->show_after != NULL) {
            /* right after its anchor's line, or after the row before it with the same anchor */
            const char *pred = f->show_after;
            char *anchor, *a;

            for (size_t j = 0; j < i; j++)
                if (target_fields[j].show_after != NULL &&
                    strcmp(target_fields[j].show_after, f->show_after) == 0)
                    pred = target_fields[j].key;
            anchor = xasprintf("\n%s = ", pred);
            a = strstr(text, anchor);

            ck_assert_ptr_nonnull(a);
            ck_assert_ptr_eq(strchr(a + 1, '\n'), at);
            free(anchor);
        } else {
            /* the rows without show_after keep the table's order */
            ck_assert_msg(prev == NULL || prev < at, "'%s' out of order", f->key);
            prev = at;
        }
        free(line);
    }
    /* and nothing else */
    {
        size_t lines = 0;

        for (const char *p = shown; *p != '\0'; p++)
            lines += *p == '\n';
        ck_assert_uint_eq(lines, target_nfields);
    }
    free(text);
    free(shown);
    target_free(&t);
}
END_TEST

START_TEST(secret_never_shown)
{
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        struct target t;
        char *text, *line;

        if (f->type != TT_SECRET)
            continue;
        base_target(&t);
        target_field_set_string(&t, f, "enc:v1:VGhlU2VjcmV0TWFya2Vy");
        text = show_text(&t);
        ck_assert_msg(strstr(text, "VGhlU2VjcmV0TWFya2Vy") == NULL, "%s shown: %s", f->key, text);
        ck_assert_msg(strstr(text, "enc:v1:") == NULL, "%s shown: %s", f->key, text);
        line = xasprintf("\n%s = (set)\n", f->key);
        ck_assert_msg(strstr(text, line) != NULL, "%s: no '(set)' in %s", f->key, text);
        free(line);
        free(text);

        target_field_set_string(&t, f, "");
        text = show_text(&t);
        line = xasprintf("\n%s = (not set)\n", f->key);
        ck_assert_msg(strstr(text, line) != NULL, "%s: no '(not set)' in %s", f->key, text);
        free(line);
        free(text);
        target_free(&t);
    }
}
END_TEST

/* ---- every row's errors ---- */

START_TEST(required_rows_are_required)
{
    struct target t, back;
    struct target_set set;
    char *rec, *text, *cut, *prefix, *want, *err = NULL;
    size_t len;

    base_target(&t);
    rec = target_encode(&t, &len);
    text = conf_text(&t);
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        if (!f->required)
            continue;
        /* the record */
        prefix = xasprintf("%s=", f->key);
        cut = without_line(rec, prefix);
        ck_assert_int_eq(target_decode(BASE_NAME, cut, strlen(cut), &back, &err), -1);
        want = xasprintf("corrupt store record for target '" BASE_NAME "': field '%s' is missing",
                         f->key);
        ck_assert_str_eq(err, want);
        free(want);
        free(cut);
        free(prefix);
        /* targets.conf */
        prefix = xasprintf("    %s = ", f->key);
        cut = without_line(text, prefix);
        ck_assert_int_eq(parse_conf(cut, &set, &err), -1);
        if (f->type == TT_NAME)
            want = xstrdup("a target without a name: every target needs name = \"...\";");
        else if (f->type == TT_SECRET)
            want = xasprintf("target '" BASE_NAME "': missing %s: set %s = \"enc:v1:\xe2\x80\xa6\" "
                             "(the output of 'byosmtpctl encrypt " BASE_NAME "') or %s = \"PATH\"",
                             f->key, f->key, f->file_key);
        else
            want = xasprintf("target '" BASE_NAME "': missing required setting '%s'", f->key);
        ck_assert_str_eq(strchr(err, ' ') + 1, want);
        free(want);
        free(cut);
        free(prefix);
    }
    free(rec);
    free(text);
    free(err);
    target_free(&t);
}
END_TEST

START_TEST(optional_rows_may_be_missing_from_a_record)
{
    struct target t, back, def;
    char *rec, *cut, *prefix, *err = NULL;
    size_t len;

    /* a record written before an optional field existed decodes, the field at its default */
    base_target(&t);
    target_init(&def);
    rec = target_encode(&t, &len);
    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];
        char a[TARGET_TEXT_MAX], b[TARGET_TEXT_MAX];

        if (f->required)
            continue;
        prefix = xasprintf("%s=", f->key);
        cut = without_line(rec, prefix);
        if (target_decode(BASE_NAME, cut, strlen(cut), &back, &err) != 0)
            ck_abort_msg("%s missing: %s", f->key, err);
        ck_assert_str_eq(target_field_text(&back, f, a), target_field_text(&def, f, b));
        target_free(&back);
        free(cut);
        free(prefix);
    }
    free(rec);
    target_free(&def);
    target_free(&t);
}
END_TEST

/* conf_error - the message of the base target's targets.conf with SETTING added */
static char *conf_error(const char *key, const char *setting)
{
    struct target t;
    struct target_set set;
    char *text, *cut, *prefix, *err = NULL;
    char *msg;

    base_target(&t);
    text = conf_text(&t);
    prefix = xasprintf("    %s = ", key);
    cut = without_line(text, prefix);
    free(text);
    text = xasprintf("%.*s%s\n%s", (int)(strstr(cut, "  {\n") + 4 - cut), cut, setting,
                     strstr(cut, "  {\n") + 4);
    ck_assert_int_eq(parse_conf(text, &set, &err), -1);
    msg = xstrdup(strchr(err, ' ') + 1);
    free(err);
    free(text);
    free(cut);
    free(prefix);
    target_free(&t);
    return msg;
}

START_TEST(rows_refuse_bad_values)
{
    struct target t;
    char *setting, *want, *got, *err = NULL;

    for (size_t i = 0; i < target_nfields; i++) {
        const struct target_field *f = &target_fields[i];

        want = NULL;
        if (f->type == TT_INT) {
            setting = xasprintf("%s = %lld;", f->key, f->max + 1);
            want = xasprintf("%s: %lld is out of range (%lld-%lld%s%s)", f->key, f->max + 1, f->min,
                             f->max, f->note != NULL ? "; " : "", f->note != NULL ? f->note : "");
            /* validation says the same of the struct */
            base_target(&t);
            target_field_set_number(&t, f, f->max + 1);
            ck_assert_int_eq(target_validate(&t, &err), -1);
            ck_assert_str_eq(err, want);
            target_free(&t);
        } else if (f->type == TT_UINT64) {
            setting = xasprintf("%s = -1;", f->key);
        } else if (f->type == TT_ENUM) {
            char *words = target_field_words(f, ", ");

            setting = xasprintf("%s = \"no-such-word\";", f->key);
            want = xasprintf("%s: unknown %s 'no-such-word' (allowed: %s)", f->key, f->words->what,
                             words);
            free(words);
        } else if (f->type == TT_BOOL) {
            setting = xasprintf("%s = \"true\";", f->key);
            want = xasprintf("%s: must be true or false, without quotes", f->key);
        } else if (f->type == TT_MATCHES) {
            setting = xasprintf("%s = \"@example.com\";", f->key);
            want = xasprintf("%s: must be a list of strings: %s = [ \"@example.com\", "
                             "\"user@example.org\" ];", f->key, f->key);
        } else if (f->type == TT_HOSTLIST) {
            setting = xasprintf("%s = \"a.example:25\";", f->key);
            want = xasprintf("%s: must be an array of strings: %s = [ \"HOST:PORT\", ... ];",
                             f->key, f->key);
        } else {
            setting = xasprintf("%s = 1;", f->key);
            want = xasprintf("%s: must be a string in double quotes", f->key);
        }
        got = conf_error(f->key, setting);
        if (want != NULL)
            ck_assert_str_eq(got, want);
        else
            ck_assert_msg(strncmp(got, f->key, strlen(f->key)) == 0 &&
                              strstr(got, ": must not be negative (") != NULL,
                          "%s", got);
        free(got);
        free(want);
        free(setting);
    }
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("target_field");
    TCase *table = tcase_create("table");
    TCase *rows = tcase_create("rows");

    tcase_add_test(table, table_is_consistent);
    tcase_add_test(table, defaults_are_valid);
    tcase_add_test(table, enum_words);
    suite_add_tcase(s, table);

    tcase_add_test(rows, every_row_round_trips);
    tcase_add_test(rows, show_has_every_key_once_in_place);
    tcase_add_test(rows, secret_never_shown);
    tcase_add_test(rows, required_rows_are_required);
    tcase_add_test(rows, optional_rows_may_be_missing_from_a_record);
    tcase_add_test(rows, rows_refuse_bad_values);
    suite_add_tcase(s, rows);
    return test_run(s);
}
