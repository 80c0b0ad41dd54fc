/* The adaptive mode's client-side rate limiter (botocore's CUBIC token bucket). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "aws/ratelimit.h"

static void
test_off_until_throttled(void **state)
{
    struct ratelimit r;
    int i;

    (void)state;
    ratelimit_init(&r, 100.0);
    for (i = 0; i < 100; i++) {
        assert_true(ratelimit_acquire(&r, 100.0 + i * 0.01) == 0.0);
        ratelimit_update(&r, 100.0 + i * 0.01, 0);
    }
    assert_int_equal(r.enabled, 0);
}

static void
test_throttle_cuts_rate_then_grows(void **state)
{
    struct ratelimit r;
    double t = 0.0, rate_after_cut, w;
    int i;

    (void)state;
    ratelimit_init(&r, 0.0);
    /* 20 requests a second for 3 s: the measured rate settles near 20. */
    for (i = 0; i < 60; i++, t += 0.05)
        ratelimit_update(&r, t, 0);
    assert_true(r.measured_rate > 15.0 && r.measured_rate < 25.0);
    ratelimit_update(&r, t, 1);
    assert_int_equal(r.enabled, 1);
    rate_after_cut = r.fill_rate;
    /* Cut to 0.7 of the measured rate. */
    assert_true(fabs(rate_after_cut - 0.7 * r.last_max_rate) < 1e-9);
    /* Requests now wait for tokens: a burst of 3 at once must wait. */
    w = ratelimit_acquire(&r, t);
    w += ratelimit_acquire(&r, t);
    w += ratelimit_acquire(&r, t);
    assert_true(w > 0.0);
    /* Successes grow the rate back along the cubic curve towards last_max_rate. */
    for (i = 0; i < 40; i++) {
        t += 0.05;
        ratelimit_update(&r, t, 0);
    }
    assert_true(r.fill_rate > rate_after_cut);
    /* Never under 0.5 requests a second. */
    for (i = 0; i < 20; i++) {
        t += 2.0;
        ratelimit_update(&r, t, 1);
    }
    assert_true(r.fill_rate >= 0.5);
    assert_true(ratelimit_acquire(&r, t) <= 2.0 + 1e-9);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_until_throttled),
        cmocka_unit_test(test_throttle_cuts_rate_then_grows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
