/*
 * Unit tests of core/diff: fixed cases, and random ones applied back and
 * checked for a minimal edit count.
 */
/* nftw() */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/diff.h"
#include "core/fileio.h"
#include "core/log.h"
#include "fixture.h"

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_diff", 1);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

/* Diff ------------------------------------------------------------------ */

static void
test_diff_cases(void **state)
{
    static const struct {
        const char *a, *b, *want;
    } t[] = {
        {"a\n", "a\n", ""},
        {"", "x\n", "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+x\n"},
        {"x\n", "", "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-x\n"},
        {"a\nb\nc\n", "a\nB\nc\n", "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
        {"a\nb", "a\nb\n",
         "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
        {"a\r\nb\r\n", "a\r\nc\r\n", "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"},
        /* Two hunks: more than 2 x 3 equal lines between the changes. */
        {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n",
         "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n"
         "-10\n+Y\n"},
        /* One hunk: exactly 6 equal lines between them. */
        {"1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n",
         "--- a/f\n+++ b/f\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"},
        {"a\nb\nc\nd\n", "a\nc\nd\ne\n", "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n a\n-b\n c\n d\n+e\n"},
    };
    struct buf out;
    size_t i;

    (void)state;
    buf_init(&out, 1u << 16);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_reset(&out);
        assert_int_equal(diff_unified("/f", t[i].a, strlen(t[i].a), t[i].b, strlen(t[i].b), &out),
                         AGENT_OK);
        if (strcmp(buf_cstr(&out), t[i].want) != 0)
            fail_msg("case %zu:\n--- got ---\n%s\n--- want ---\n%s", i, buf_cstr(&out), t[i].want);
    }
    /* Over the cap: TOOBIG, out unchanged. */
    buf_cleanup(&out);
    buf_init(&out, 10);
    assert_int_equal(buf_puts(&out, "keep"), AGENT_OK);
    assert_int_equal(diff_unified("f", "a\n", 2, "b\n", 2, &out), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&out), "keep");
    buf_cleanup(&out);
}

/* Applies a unified diff of this module to a; the result in out.  0 on success. */
static int
apply_diff(const char *a, const char *diff, struct buf *out)
{
    const char *p = diff, *ap = a, *nl;
    unsigned long os, oc, ns, nc;
    size_t copied = 0;

    if (*diff == '\0') {
        buf_puts(out, a);
        return 0;
    }
    p = strchr(p, '\n') + 1;
    p = strchr(p, '\n') + 1;
    while (*p != '\0') {
        if (sscanf(p, "@@ -%lu,%lu +%lu,%lu @@", &os, &oc, &ns, &nc) != 4) {
            oc = 1;
            if (sscanf(p, "@@ -%lu +%lu,%lu @@", &os, &ns, &nc) != 3 &&
                sscanf(p, "@@ -%lu,%lu +%lu @@", &os, &oc, &ns) != 3 &&
                sscanf(p, "@@ -%lu +%lu @@", &os, &ns) != 2)
                return -1;
        }
        if (oc != 0)
            os--;
        /* Copy the old lines before the hunk. */
        while (copied < os) {
            nl = strchr(ap, '\n');
            nl = nl != NULL ? nl + 1 : ap + strlen(ap);
            buf_append(out, ap, (size_t)(nl - ap));
            ap = nl;
            copied++;
        }
        p = strchr(p, '\n') + 1;
        while (*p == ' ' || *p == '-' || *p == '+') {
            char tag = *p++;
            size_t n;
            int nonl;

            nl = strchr(p, '\n');
            n = (size_t)(nl - p) + 1;
            nonl = strncmp(nl + 1, "\\ No newline", 12) == 0;
            if (nonl)
                n--;
            if (tag != '+') {
                if (strncmp(ap, p, n) != 0)
                    return -2;
                ap += n;
                copied++;
            }
            if (tag != '-')
                buf_append(out, p, n);
            p = nl + 1;
            if (nonl)
                p = strchr(p, '\n') + 1;
        }
    }
    buf_puts(out, ap);
    return 0;
}

/* The number of lines that differ in a minimal edit: n + m - 2 LCS. */
static size_t
min_changes(char **la, size_t n, char **lb, size_t m)
{
    size_t *row = calloc((n + 1) * (m + 1), sizeof(size_t)), i, j, r;

    assert_non_null(row);
    for (i = 1; i <= n; i++) {
        for (j = 1; j <= m; j++) {
            if (strcmp(la[i - 1], lb[j - 1]) == 0)
                row[i * (m + 1) + j] = row[(i - 1) * (m + 1) + j - 1] + 1;
            else
                row[i * (m + 1) + j] = row[(i - 1) * (m + 1) + j] > row[i * (m + 1) + j - 1]
                                           ? row[(i - 1) * (m + 1) + j]
                                           : row[i * (m + 1) + j - 1];
        }
    }
    r = n + m - 2 * row[n * (m + 1) + m];
    free(row);
    return r;
}

static void
test_diff_random(void **state)
{
    static const char *const words[] = {"a\n", "b\n", "c\n", "d\n", "e\n"};
    char *la[40], *lb[40];
    struct buf a, b, d, back;
    size_t n, m, i, changes;
    const char *p;
    int round;

    (void)state;
    srand(12345);
    buf_init(&a, 1u << 16);
    buf_init(&b, 1u << 16);
    buf_init(&d, 1u << 20);
    buf_init(&back, 1u << 16);
    for (round = 0; round < 2000; round++) {
        buf_reset(&a);
        buf_reset(&b);
        buf_reset(&d);
        buf_reset(&back);
        n = (size_t)(rand() % 30);
        m = (size_t)(rand() % 30);
        for (i = 0; i < n; i++) {
            la[i] = (char *)(uintptr_t)words[rand() % 5];
            buf_puts(&a, la[i]);
        }
        /* b: often a mutation of a, sometimes unrelated. */
        for (i = 0; i < m; i++) {
            lb[i] = (char *)(uintptr_t)((i < n && rand() % 4 != 0) ? la[i] : words[rand() % 5]);
            buf_puts(&b, lb[i]);
        }
        if (round % 7 == 0 && b.len > 0)
            b.data[--b.len] = '\0'; /* no newline at the end */
        assert_int_equal(diff_unified("f", buf_cstr(&a), a.len, buf_cstr(&b), b.len, &d), AGENT_OK);
        if (apply_diff(buf_cstr(&a), buf_cstr(&d), &back) != 0 ||
            strcmp(buf_cstr(&back), buf_cstr(&b)) != 0)
            fail_msg("round %d: the diff does not apply:\n%s\n--- a ---\n%s--- b ---\n%s", round,
                     buf_cstr(&d), buf_cstr(&a), buf_cstr(&b));
        /* Minimal: as many -/+ lines as n + m - 2 LCS (the lines compared with newlines). */
        if (round % 7 != 0) {
            changes = 0;
            for (p = buf_cstr(&d); *p != '\0'; p = strchr(p, '\n') + 1) {
                if ((*p == '-' && strncmp(p, "---", 3) != 0) ||
                    (*p == '+' && strncmp(p, "+++", 3) != 0))
                    changes++;
            }
            assert_int_equal(changes, min_changes(la, n, lb, m));
        }
    }
    buf_cleanup(&a);
    buf_cleanup(&b);
    buf_cleanup(&d);
    buf_cleanup(&back);
}

static void
test_diff_large(void **state)
{
    struct buf a, b, d, back;
    int i;

    (void)state;
    /* 3000 lines all different: past the search limit, one hunk replaces the middle. */
    buf_init(&a, 1u << 20);
    buf_init(&b, 1u << 20);
    buf_init(&d, 1u << 22);
    buf_init(&back, 1u << 20);
    buf_puts(&a, "head\n");
    buf_puts(&b, "head\n");
    for (i = 0; i < 3000; i++) {
        buf_printf(&a, "old %d\n", i);
        buf_printf(&b, "new %d\n", i);
    }
    buf_puts(&a, "tail\n");
    buf_puts(&b, "tail\n");
    assert_int_equal(diff_unified("f", a.data, a.len, b.data, b.len, &d), AGENT_OK);
    assert_non_null(strstr(d.data, "@@ -1,3002 +1,3002 @@\n head\n-old 0\n"));
    assert_int_equal(apply_diff(a.data, d.data, &back), 0);
    assert_string_equal(back.data, b.data);
    buf_cleanup(&a);
    buf_cleanup(&b);
    buf_cleanup(&d);
    buf_cleanup(&back);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_cases),
        cmocka_unit_test(test_diff_random),
        cmocka_unit_test(test_diff_large),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
