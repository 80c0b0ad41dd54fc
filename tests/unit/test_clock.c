/* Unit tests of core/clock: RFC 3339, the fake clock, deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"

static void
test_rfc3339_format(void **state)
{
    char out[32];

    (void)state;
    clock_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    clock_rfc3339(1795738711, out);
    assert_string_equal(out, "2026-11-27T00:18:31Z");
    clock_rfc3339_ms(1795738711042LL, out);
    assert_string_equal(out, "2026-11-27T00:18:31.042Z");
    clock_rfc3339_ms(999, out);
    assert_string_equal(out, "1970-01-01T00:00:00.999Z");
}

struct parse_case {
    const char *s;
    enum agent_rc rc;
    time_t t;
};

static void
test_rfc3339_parse(void **state)
{
    static const struct parse_case cases[] = {
        {"2026-11-27T00:18:31Z", AGENT_OK, 1795738711},
        {"2026-11-27T00:18:31.123Z", AGENT_OK, 1795738711},
        {"2026-11-27T00:18:31.5Z", AGENT_OK, 1795738711},
        {"1970-01-01T00:00:00Z", AGENT_OK, 0},
        {"2024-02-29T12:00:00Z", AGENT_OK, 1709208000},
        {"2023-02-29T12:00:00Z", AGENT_ERR_PARSE, 0},
        {"2026-13-01T00:00:00Z", AGENT_ERR_PARSE, 0},
        {"2026-11-31T00:00:00Z", AGENT_ERR_PARSE, 0},
        {"2026-11-27T24:00:00Z", AGENT_ERR_PARSE, 0},
        {"2026-11-27T00:60:00Z", AGENT_ERR_PARSE, 0},
        {"2026-11-27 00:18:31Z", AGENT_ERR_PARSE, 0},
        {"2026-11-27T00:18:31", AGENT_ERR_PARSE, 0},
        {"2026-11-27T00:18:31+00:00", AGENT_ERR_PARSE, 0},
        {"2026-11-27T00:18:31.Z", AGENT_ERR_PARSE, 0},
        {"2026-11-27T00:18:31Zx", AGENT_ERR_PARSE, 0},
        {"2026-1-27T00:18:31Z", AGENT_ERR_PARSE, 0},
        {" 2026-11-27T00:18:31Z", AGENT_ERR_PARSE, 0},
        {"", AGENT_ERR_PARSE, 0},
    };
    size_t i;
    time_t t;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = 777;
        if (clock_parse_rfc3339(cases[i].s, &t) != cases[i].rc)
            fail_msg("\"%s\": expected rc %d", cases[i].s, cases[i].rc);
        if (cases[i].rc == AGENT_OK)
            assert_true(t == cases[i].t);
        else
            assert_true(t == 777);
    }
    assert_int_equal(clock_parse_rfc3339(NULL, &t), AGENT_ERR_PARSE);
}

static void
test_round_trip(void **state)
{
    char out[32];
    time_t t;

    (void)state;
    clock_rfc3339(1700000000, out);
    assert_int_equal(clock_parse_rfc3339(out, &t), AGENT_OK);
    assert_true(t == 1700000000);
}

static void
test_fake(void **state)
{
    time_t real;

    (void)state;
    clock_set_fake(1000);
    assert_true(clock_now() == 1000);
    assert_true(clock_now_ms() == 1000000);
    clock_set_fake(0);
    real = clock_now();
    assert_true(real > 1600000000);
    assert_true(clock_now_ms() / 1000 >= real);
}

static void
test_mono_sleep(void **state)
{
    int64_t a, b;

    (void)state;
    a = clock_mono_ms();
    clock_sleep_ms(50);
    b = clock_mono_ms();
    assert_true(b - a >= 50);
    assert_true(b - a < 1000);
    clock_sleep_ms(0);
    clock_sleep_ms(-5);
}

static void
test_deadline(void **state)
{
    struct deadline d;
    int64_t left;

    (void)state;
    deadline_none(&d);
    assert_true(deadline_left_ms(&d) == INT64_MAX);
    assert_false(deadline_expired(&d));
    assert_true(deadline_cap_ms(&d, 500) == 500);
    assert_true(deadline_left_ms(NULL) == INT64_MAX);
    assert_false(deadline_expired(NULL));

    deadline_in(&d, 10000);
    left = deadline_left_ms(&d);
    assert_true(left > 9000 && left <= 10000);
    assert_false(deadline_expired(&d));
    assert_true(deadline_cap_ms(&d, 100) == 100);
    left = deadline_cap_ms(&d, 20000);
    assert_true(left > 9000 && left <= 10000);

    deadline_in(&d, 0);
    assert_true(deadline_expired(&d));
    assert_true(deadline_left_ms(&d) == 0);
    assert_true(deadline_cap_ms(&d, 100) == 0);
    deadline_in(&d, -5);
    assert_true(deadline_expired(&d));

    deadline_in(&d, 30);
    clock_sleep_ms(40);
    assert_true(deadline_expired(&d));

    deadline_in(&d, INT64_MAX);
    assert_false(deadline_expired(&d));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_format), cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_fake),
        cmocka_unit_test(test_mono_sleep),     cmocka_unit_test(test_deadline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
