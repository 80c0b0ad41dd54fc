/* Unit tests of core/buf: capped growth, printf, secret wiping, detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/str.h"

/* 1 when the n bytes at p hold needle anywhere. */
static int
contains(const char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle), i;

    for (i = 0; i + m <= n; i++) {
        if (memcmp(p + i, needle, m) == 0)
            return 1;
    }
    return 0;
}

static void
test_empty(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_null(b.data);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    buf_cleanup(&b);
}

static void
test_append_and_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 5);
    assert_int_equal(buf_puts(&b, "abc"), AGENT_OK);
    assert_int_equal(buf_putc(&b, 'd'), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "abcd");
    /* The NUL does not count against max: exactly max bytes fit. */
    assert_int_equal(buf_putc(&b, 'e'), AGENT_OK);
    assert_int_equal(b.len, 5);
    assert_int_equal(buf_putc(&b, 'f'), AGENT_ERR_TOOBIG);
    assert_int_equal(buf_append(&b, "xy", 2), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "abcde");
    assert_int_equal(b.len, 5);
    assert_true(b.cap <= 6);
    assert_int_equal(buf_append(&b, NULL, 0), AGENT_OK);
    buf_cleanup(&b);
}

static void
test_zero_max(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_putc(&b, 'a'), AGENT_ERR_TOOBIG);
    assert_int_equal(buf_append(&b, "", 0), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "");
    buf_cleanup(&b);
}

static void
test_huge_append_overflow(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, SIZE_MAX - 1);
    assert_int_equal(buf_puts(&b, "ab"), AGENT_OK);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), AGENT_ERR_TOOBIG);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 2), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "ab");
    buf_cleanup(&b);
}

static void
test_growth(void **state)
{
    struct buf b;
    char expect[3001];
    int i;

    (void)state;
    buf_init(&b, 3000);
    for (i = 0; i < 3000; i++) {
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), AGENT_OK);
        expect[i] = (char)('a' + i % 26);
    }
    expect[3000] = '\0';
    assert_string_equal(buf_cstr(&b), expect);
    assert_int_equal(buf_putc(&b, 'x'), AGENT_ERR_TOOBIG);
    buf_cleanup(&b);
}

static void
test_printf(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "42-x");
    assert_int_equal(buf_printf(&b, "%s", "0123456789ab"), AGENT_OK);
    assert_int_equal(b.len, 16);
    /* Past max: TOOBIG and b unchanged. */
    assert_int_equal(buf_printf(&b, "%c", 'z'), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "42-x0123456789ab");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%s", "0123456789abcdefg"), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_printf(&b, "%s", ""), AGENT_OK);
    buf_cleanup(&b);
}

static void
test_reset_keeps_memory(void **state)
{
    struct buf b;
    char *p;

    (void)state;
    buf_init_secret(&b, 100);
    assert_int_equal(b.secret, 1);
    assert_int_equal(buf_puts(&b, "supersecret"), AGENT_OK);
    p = b.data;
    buf_reset(&b);
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    /* The old content is wiped, not only cut. */
    assert_false(contains(b.data, b.cap, "supersecret"));
    assert_int_equal(buf_puts(&b, "x"), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "x");
    buf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void
test_secret_growth(void **state)
{
    struct buf b;
    int i;

    (void)state;
    buf_init_secret(&b, 1 << 20);
    for (i = 0; i < 1000; i++)
        assert_int_equal(buf_puts(&b, "secret-"), AGENT_OK);
    assert_int_equal(b.len, 7000);
    assert_true(str_has_prefix(buf_cstr(&b), "secret-secret-"));
    buf_cleanup(&b);
}

static void
test_detach(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_puts(&b, "hello"), AGENT_OK);
    s = buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);

    /* Empty buffer: "" rather than NULL. */
    s = buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    buf_init_secret(&b, 100);
    assert_int_equal(buf_puts(&b, "pw"), AGENT_OK);
    s = buf_detach(&b);
    assert_string_equal(s, "pw");
    assert_null(b.data);
    str_free_secret(s);
    /* The buffer is reusable after detach. */
    assert_int_equal(buf_puts(&b, "again"), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "again");
    buf_cleanup(&b);
}

static void
test_binary(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "a\0b", 3), AGENT_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b\0", 4);
    buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_and_cap),
        cmocka_unit_test(test_zero_max),
        cmocka_unit_test(test_huge_append_overflow),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_secret_growth),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_binary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
