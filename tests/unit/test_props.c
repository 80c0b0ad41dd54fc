/*
 * Unit tests of wcs/props: the golden cases in tests/data/props (input,
 * edits, expected bytes), Java's reading rules (the table rows were checked
 * against java.util.Properties.load() of OpenJDK 17), refusal of CR, LF
 * and NUL, round-trips of odd inputs, and the end-of-file corner cases.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "wcs/props.h"

#define FILE_MAX (1024u * 1024u)

/* Serialises p into a fresh buffer the caller cleans up. */
static void
serialise(const struct props *p, struct buf *out)
{
    buf_init(out, 2 * PROPS_MAX_SIZE);
    assert_int_equal(props_serialise(p, out), AGENT_OK);
}

/* Fails with the first differing offset when a[alen] and b[blen] differ. */
static void
assert_bytes(const char *what, const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0;

    while (i < alen && i < blen && a[i] == b[i])
        i++;
    if (i == alen && i == blen)
        return;
    fail_msg("%s: bytes differ at offset %zu (lengths %zu and %zu)\n--- got ---\n%.*s\n"
             "--- want ---\n%.*s",
             what, i, alen, blen, (int)alen, a, (int)blen, b);
}

static void
assert_roundtrip(const char *what, const char *data, size_t len)
{
    struct props *p = NULL;
    struct buf out;

    assert_int_equal(props_parse(data, len, &p), AGENT_OK);
    serialise(p, &out);
    assert_bytes(what, out.data == NULL ? "" : out.data, out.len, data, len);
    assert_int_equal(props_changed(p), 0);
    buf_cleanup(&out);
    props_free(p);
}

/* Golden cases ---------------------------------------------------------- */

static const char *
data_dir(void)
{
    return getenv("TEST_DATA_DIR");
}

static void
read_case(const char *name, const char *ext, struct buf *out)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/props/%s.%s", data_dir(), name, ext);

    assert_true(n > 0 && (size_t)n < sizeof(path));
    buf_init(out, FILE_MAX);
    if (fileio_read(path, out) != AGENT_OK)
        fail_msg("cannot read %s", path);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case names (file names without ".in"), sorted; free with free_names. */
static char **
list_cases(size_t *count)
{
    char path[4096], **names = NULL;
    size_t n = 0;
    struct dirent *d;
    DIR *dir;

    assert_true((size_t)snprintf(path, sizeof(path), "%s/props", data_dir()) < sizeof(path));
    dir = opendir(path);
    if (dir == NULL)
        fail_msg("cannot open %s", path);
    while ((d = readdir(dir)) != NULL) {
        size_t len = strlen(d->d_name);
        if (len > 3 && strcmp(d->d_name + len - 3, ".in") == 0) {
            names = realloc(names, (n + 1) * sizeof(*names));
            assert_non_null(names);
            names[n] = strndup(d->d_name, len - 3);
            assert_non_null(names[n]);
            n++;
        }
    }
    closedir(dir);
    qsort(names, n, sizeof(*names), cmp_names);
    *count = n;
    return names;
}

static void
free_names(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * Applies the edits file to p: "set KEY=VALUE" (KEY up to the first '=')
 * or "remove KEY", one a line.  With verify set, also checks that every
 * set key then reads back its value on exactly one active line and every
 * removed key is gone.  With converged set, a remove of an absent key is
 * accepted (the second application of the same edits).
 */
static void
apply_edits(const char *name, struct props *p, const struct buf *edits, int converged)
{
    char *copy = strndup(edits->data == NULL ? "" : edits->data, edits->len);
    char *line = copy, *next;

    assert_non_null(copy);
    for (; line != NULL && *line != '\0'; line = next) {
        char *eq;
        enum agent_rc rc;
        struct buf v;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "set ", 4) == 0) {
            eq = strchr(line + 4, '=');
            if (eq == NULL)
                fail_msg("%s.edits: bad line '%s'", name, line);
            *eq = '\0';
            rc = props_set(p, line + 4, eq + 1);
            if (rc != AGENT_OK)
                fail_msg("%s: set %s: %s", name, line + 4, agent_rc_str(rc));
            assert_int_equal(props_count(p, line + 4), 1);
            buf_init(&v, FILE_MAX);
            assert_int_equal(props_get(p, line + 4, &v), AGENT_OK);
            assert_bytes(name, buf_cstr(&v), v.len, eq + 1, strlen(eq + 1));
            buf_cleanup(&v);
        } else if (strncmp(line, "remove ", 7) == 0) {
            rc = props_remove(p, line + 7);
            if (rc != AGENT_OK && !(converged && rc == AGENT_ERR_ABSENT))
                fail_msg("%s: remove %s: %s", name, line + 7, agent_rc_str(rc));
            assert_int_equal(props_count(p, line + 7), 0);
        } else if (*line != '\0') {
            fail_msg("%s.edits: bad line '%s'", name, line);
        }
    }
    free(copy);
}

static void
run_case(const char *name)
{
    struct buf in, edits, expected, out, out2;
    struct props *p = NULL, *q = NULL;
    int same;

    read_case(name, "in", &in);
    read_case(name, "edits", &edits);
    read_case(name, "expected", &expected);

    assert_int_equal(props_parse(in.data, in.len, &p), AGENT_OK);
    apply_edits(name, p, &edits, 0);
    serialise(p, &out);
    assert_bytes(name, buf_cstr(&out), out.len, buf_cstr(&expected), expected.len);
    same = in.len == expected.len && memcmp(buf_cstr(&in), buf_cstr(&expected), in.len) == 0;
    assert_int_equal(props_changed(p), !same);

    /* The same edits on the result change nothing: a rerun converges. */
    assert_int_equal(props_parse(out.data, out.len, &q), AGENT_OK);
    apply_edits(name, q, &edits, 1);
    assert_int_equal(props_changed(q), 0);
    serialise(q, &out2);
    assert_bytes(name, buf_cstr(&out2), out2.len, buf_cstr(&expected), expected.len);

    props_free(p);
    props_free(q);
    buf_cleanup(&in);
    buf_cleanup(&edits);
    buf_cleanup(&expected);
    buf_cleanup(&out);
    buf_cleanup(&out2);
}

static void
test_golden(void **state)
{
    size_t n, i;
    char **names = list_cases(&n);

    (void)state;
    assert_true(n >= 12);
    for (i = 0; i < n; i++)
        run_case(names[i]);
    free_names(names, n);
}

static void
test_golden_roundtrip(void **state)
{
    size_t n, i;
    char **names = list_cases(&n);

    (void)state;
    for (i = 0; i < n; i++) {
        struct buf in, expected;

        read_case(names[i], "in", &in);
        read_case(names[i], "expected", &expected);
        assert_roundtrip(names[i], buf_cstr(&in), in.len);
        assert_roundtrip(names[i], buf_cstr(&expected), expected.len);
        buf_cleanup(&in);
        buf_cleanup(&expected);
    }
    free_names(names, n);
}

/* Java's reading rules ---------------------------------------------------- */

struct get_case {
    const char *in;    /* file content */
    const char *key;   /* decoded key asked for */
    enum agent_rc rc;  /* expected result */
    const char *value; /* expected value when rc is AGENT_OK */
    size_t value_len;  /* its length (it may hold a NUL) */
};

#define V(s) AGENT_OK, s, sizeof(s) - 1
#define NONE AGENT_ERR_ABSENT, NULL, 0
#define BAD  AGENT_ERR_PARSE, NULL, 0

/* Every row agrees with OpenJDK 17 Properties.load() over a UTF-8 reader. */
static const struct get_case get_cases[] = {
    {"a=b", "a", V("b")},
    {"a = b", "a", V("b")},
    {"a:b", "a", V("b")},
    {"a b", "a", V("b")},
    {"a\t \f=  b", "a", V("b")},
    {"a==b", "a", V("=b")},
    {"a = = b", "a", V("= b")},
    {"a b = c", "a", V("b = c")},
    {"  \t a=b", "a", V("b")},
    {"#a=b", "a", NONE},
    {"!a=b", "a", NONE},
    {"a=b\na=c", "a", V("c")},
    {"a=b\\\n   c", "a", V("bc")},
    {"a=b\\\\\nc=d", "a", V("b\\")},
    {"a\\ b=c", "a b", V("c")},
    {"a\\=b=c", "a=b", V("c")},
    {"a\\:b:c", "a:b", V("c")},
    {"a=\\t\\n\\r\\f", "a", V("\t\n\r\f")},
    {"a=\\u0041\\u00e9\\u20ac", "a", V("A\xc3\xa9\xe2\x82\xac")},
    {"a=\\uD83D\\uDE00", "a", V("\xf0\x9f\x98\x80")},
    {"a=\\uD83Dx", "a", V("?x")},
    {"a=\\uDE00\\uD83D", "a", V("??")},
    {"a=\\u00", "a", BAD},
    {"a=\\uzzzz", "a", BAD},
    {"a=\\q\\\\", "a", V("q\\")},
    {"a=b   ", "a", V("b   ")},
    {"\\\n#x=y", "#x=y", NONE},
    {"\\\n#x=y", "#x", NONE},
    {"a=b\\", "a", V("b")},
    {"a=b\\\n\nc=d", "c", V("d")},
    {"\\\n", "", V("")},
    {"\\\r\n", "", NONE},
    {"\\", "", V("")},
    {"a", "a", V("")},
    {"a=\\u0000b", "a", V("\0b")},
    {"a=x\\\r\n  y", "a", V("xy")},
    {"a=x\\\r  y", "a", V("xy")},
    {"key\\\n  =v", "key", V("v")},
    {"a=\xc3\xa9", "a", V("\xc3\xa9")},
    {"\\u0061=1", "a", V("1")},
    {"a=1\r\nb=2\rc=3", "b", V("2")},
    {"a=1\r\nb=2\rc=3", "c", V("3")},
    {"a=b\\\n  # c", "a", V("b# c")},
    {"a=b\\\n\\\n  c", "a", V("bc")},
    {"\\\\\\\nb=c", "\\b", V("c")},
    {"a\\\\ b", "a\\", V("b")},
};

static void
test_get_table(void **state)
{
    size_t i;

    (void)state;
    assert_true(sizeof(get_cases) / sizeof(get_cases[0]) >= 20);
    for (i = 0; i < sizeof(get_cases) / sizeof(get_cases[0]); i++) {
        const struct get_case *c = &get_cases[i];
        struct props *p = NULL;
        struct buf v;
        enum agent_rc rc;

        assert_int_equal(props_parse(c->in, strlen(c->in), &p), AGENT_OK);
        buf_init(&v, 1024);
        rc = props_get(p, c->key, &v);
        if (rc != c->rc)
            fail_msg("row %zu: get '%s' gave %s, want %s", i, c->key, agent_rc_str(rc),
                     agent_rc_str(c->rc));
        if (rc == AGENT_OK)
            assert_bytes(c->in, buf_cstr(&v), v.len, c->value, c->value_len);
        else
            assert_int_equal(v.len, 0);
        if (rc == AGENT_ERR_ABSENT)
            assert_int_equal(props_count(p, c->key), 0);
        else
            assert_true(props_count(p, c->key) >= 1);
        buf_cleanup(&v);
        props_free(p);
    }
}

/* Edits ------------------------------------------------------------------- */

/* Parses in, runs one set, and checks the bytes that result. */
static void
check_set(const char *in, const char *key, const char *value, const char *want)
{
    struct props *p = NULL;
    struct buf out, v;

    assert_int_equal(props_parse(in, strlen(in), &p), AGENT_OK);
    assert_int_equal(props_set(p, key, value), AGENT_OK);
    serialise(p, &out);
    assert_bytes(in, buf_cstr(&out), out.len, want, strlen(want));
    props_free(p);
    /* And Java's view of the result: the value, on one active line. */
    assert_int_equal(props_parse(out.data, out.len, &p), AGENT_OK);
    buf_init(&v, 1024);
    assert_int_equal(props_get(p, key, &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), value);
    assert_int_equal(props_count(p, key), 1);
    buf_cleanup(&v);
    buf_cleanup(&out);
    props_free(p);
}

static void
test_refuse_line_breaks(void **state)
{
    static const char in[] = "a=1\n";
    struct props *p = NULL;
    struct buf out;

    (void)state;
    assert_int_equal(props_parse(in, strlen(in), &p), AGENT_OK);
    assert_int_equal(props_set(p, "a", "x\ny=2"), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, "a", "x\rz"), AGENT_ERR_INVAL);
    assert_int_equal(props_setn(p, "a", 1, "x\0y", 3), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, "b\nc", "1"), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, "b\r", "1"), AGENT_ERR_INVAL);
    assert_int_equal(props_setn(p, "b\0c", 3, "1", 1), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, "", "1"), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, NULL, "1"), AGENT_ERR_INVAL);
    assert_int_equal(props_set(p, "a", NULL), AGENT_ERR_INVAL);
    assert_int_equal(props_changed(p), 0);
    serialise(p, &out);
    assert_string_equal(buf_cstr(&out), in);
    buf_cleanup(&out);
    props_free(p);
}

static void
test_set_remove(void **state)
{
    static const char in[] = "a=1\n#a=0\nb=2\na = 3\n";
    struct props *p = NULL;
    struct buf out, v;

    (void)state;
    assert_int_equal(props_parse(in, strlen(in), &p), AGENT_OK);
    assert_int_equal(props_count(p, "a"), 2);
    buf_init(&v, 64);
    assert_int_equal(props_get(p, "a", &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), "3");
    /* Setting the effective value still drops the earlier duplicate. */
    assert_int_equal(props_set(p, "a", "3"), AGENT_OK);
    assert_int_equal(props_changed(p), 1);
    assert_int_equal(props_count(p, "a"), 1);
    serialise(p, &out);
    assert_string_equal(buf_cstr(&out), "#a=0\nb=2\na = 3\n");
    buf_cleanup(&out);
    assert_int_equal(props_remove(p, "nope"), AGENT_ERR_ABSENT);
    assert_int_equal(props_remove(p, "a"), AGENT_OK);
    assert_int_equal(props_remove(p, "a"), AGENT_ERR_ABSENT);
    buf_reset(&v);
    assert_int_equal(props_get(p, "a", &v), AGENT_ERR_ABSENT);
    assert_int_equal(props_count(p, "a"), 0);
    serialise(p, &out);
    assert_string_equal(buf_cstr(&out), "#a=0\nb=2\n");
    buf_cleanup(&out);
    buf_cleanup(&v);
    props_free(p);

    /* Nothing to change: not changed. */
    assert_int_equal(props_parse(in, strlen(in), &p), AGENT_OK);
    assert_int_equal(props_set(p, "b", "2"), AGENT_OK);
    assert_int_equal(props_changed(p), 0);
    props_free(p);

    /* A malformed value is replaced; a malformed key never matches. */
    check_set("a=\\u12\n", "a", "ok", "a=ok\n");
    check_set("\\u12=1\n", "u12", "2", "\\u12=1\n" PROPS_MARKER "\nu12=2\n");
}

static void
test_end_of_file(void **state)
{
    (void)state;
    /* Empty file: marker and line only. */
    check_set("", "k", "v", PROPS_MARKER "\nk=v\n");
    /* A continuing last line is closed by a blank line first. */
    check_set("a=b\\", "k", "v", "a=b\\\n\n" PROPS_MARKER "\nk=v\n");
    /* ...repeating its own "\r", which a "\n" would join into "\r\n". */
    check_set("x=y\na=b\\\r", "k", "v", "x=y\na=b\\\r\r" PROPS_MARKER "\nk=v\n");
    /* A lone backslash is Java's ("", ""): "=" keeps it. */
    check_set("\\", "k", "v", "\\\n=\n" PROPS_MARKER "\nk=v\n");
    check_set("\\\r\n", "k", "v", "\\\r\n\r\n" PROPS_MARKER "\r\nk=v\r\n");
    /* The dominant terminator is used for the new lines. */
    check_set("a=1\r\nb=2\r\nc=3\nd=4", "k", "v",
              "a=1\r\nb=2\r\nc=3\nd=4\r\n" PROPS_MARKER "\r\nk=v\r\n");
    /* A rewritten continuing last line keeps its missing terminator. */
    check_set("k=a\\", "k", "v", "k=v");
    /* A bare key with trailing whitespace keeps that separator. */
    check_set("k  ", "k", "v", "k  v");
    /* A separator split over lines becomes one line. */
    check_set("  k \\\n = old\n", "k", "new", "  k = new\n");
    /* A value starting with a separator after a whitespace separator. */
    check_set("k v\n", "k", "=x", "k \\=x\n");
    check_set("k v\n", "k", "\\", "k \\\\\n");
}

static void
test_roundtrip_odd(void **state)
{
    static const struct {
        const char *data;
        size_t len;
    } odd[] = {
        {"", 0},
        {"\r", 1},
        {"\n\r", 2},
        {"\r\n\r", 3},
        {"\\", 1},
        {"a\0b=c\0\n\0", 8},
        {"\xff\xfe=\x80\r\n", 6},
        {"a=b\\\r", 5},
        {"  \t\f", 4},
        {"#c\\\nk=v\\\n\\\n\\", 12},
        {"\\u=\\uXYZ\n", 9},
    };

    size_t i;

    (void)state;
    for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        assert_roundtrip("odd", odd[i].data, odd[i].len);
}

static void
test_caps(void **state)
{
    char *big = calloc(1, PROPS_MAX_SIZE + 1);
    struct props *p = NULL;
    struct buf out;
    size_t i;

    (void)state;
    assert_non_null(big);
    assert_int_equal(props_parse(big, PROPS_MAX_SIZE + 1, &p), AGENT_ERR_TOOBIG);
    assert_null(p);
    free(big);

    /* Past PROPS_MAX_ENTRIES keys: too big; runs of comments count as one. */
    big = malloc(4 * (PROPS_MAX_ENTRIES + 1));
    assert_non_null(big);
    for (i = 0; i < PROPS_MAX_ENTRIES + 1; i++)
        memcpy(big + 4 * i, "k=v\n", 4);
    assert_int_equal(props_parse(big, 4 * PROPS_MAX_ENTRIES, &p), AGENT_OK);
    props_free(p);
    p = NULL;
    assert_int_equal(props_parse(big, 4 * (PROPS_MAX_ENTRIES + 1), &p), AGENT_ERR_TOOBIG);
    assert_null(p);
    for (i = 0; i < PROPS_MAX_ENTRIES + 1; i++)
        memcpy(big + 4 * i, i % 2 ? "#cc\r" : "   \n", 4);
    assert_int_equal(props_parse(big, 4 * (PROPS_MAX_ENTRIES + 1), &p), AGENT_OK);
    assert_int_equal(props_set(p, "k", "v"), AGENT_OK);
    assert_int_equal(props_count(p, "k"), 1);
    props_free(p);
    free(big);

    /* Serialising into a buffer too small fails and leaves it unchanged. */
    assert_int_equal(props_parse("a=1\nb=2\n", 8, &p), AGENT_OK);
    buf_init(&out, 10);
    assert_int_equal(buf_puts(&out, "xyz"), AGENT_OK);
    assert_int_equal(props_serialise(p, &out), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&out), "xyz");
    buf_cleanup(&out);
    buf_init(&out, 4);
    assert_int_equal(props_get(p, "a", &out), AGENT_OK);
    assert_int_equal(buf_puts(&out, "zzz"), AGENT_OK);
    assert_int_equal(props_get(p, "b", &out), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&out), "1zzz");
    buf_cleanup(&out);
    props_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),        cmocka_unit_test(test_golden_roundtrip),
        cmocka_unit_test(test_get_table),     cmocka_unit_test(test_refuse_line_breaks),
        cmocka_unit_test(test_set_remove),    cmocka_unit_test(test_end_of_file),
        cmocka_unit_test(test_roundtrip_odd), cmocka_unit_test(test_caps),
    };

    if (data_dir() == NULL) {
        fprintf(stderr, "TEST_DATA_DIR is not set\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
