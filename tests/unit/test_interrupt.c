/*
 * Unit tests of core/interrupt and what honours it: clock_sleep_ms, spawn,
 * http_perform, the exit status; and the retry schedule of run/retry.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/interrupt.h"
#include "core/rc.h"
#include "core/spawn.h"
#include "net/http.h"
#include "run/retry.h"

static int
reset(void **state)
{
    (void)state;
    interrupt_raise_for_test(0);
    return 0;
}

static void
test_handler_records_and_acknowledges(void **state)
{
    (void)state;
    interrupt_install();
    assert_int_equal(interrupt_pending(), 0);
    raise(SIGTERM); /* the handler, not the default action, runs */
    assert_int_equal(interrupt_pending(), SIGTERM);
    assert_string_equal(interrupt_name(interrupt_pending()), "SIGTERM");
    interrupt_acknowledge();
    assert_int_equal(interrupt_pending(), 0);
    raise(SIGINT);
    assert_int_equal(interrupt_pending(), SIGINT);
    assert_string_equal(interrupt_name(SIGINT), "SIGINT");
}

static void
test_sleep_returns_early(void **state)
{
    int64_t t0;

    (void)state;
    t0 = clock_mono_ms();
    clock_sleep_ms(50);
    assert_true(clock_mono_ms() - t0 >= 50);
    interrupt_raise_for_test(SIGTERM);
    t0 = clock_mono_ms();
    clock_sleep_ms(10000);
    assert_true(clock_mono_ms() - t0 < 1000);
}

static void
test_spawn_stops_the_child(void **state)
{
    static const char *const argv[] = {"sleep", "30", NULL};
    struct spawn_opts o;
    struct spawn_result r;
    int64_t t0;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.argv = argv;
    o.timeout_ms = 60000;
    o.output_max = 1024;
    interrupt_raise_for_test(SIGTERM);
    t0 = clock_mono_ms();
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_INTR);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_false(r.timed_out);
    assert_int_equal(r.signal, SIGTERM);
    spawn_result_cleanup(&r);
}

static int transport_calls;

static enum agent_rc
count_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)ctx;
    (void)req;
    transport_calls++;
    resp->status = 200;
    return AGENT_OK;
}

static void
test_http_refuses_to_start(void **state)
{
    struct http_transport t = {count_perform, NULL};
    struct http_request req;
    struct http_response resp;

    (void)state;
    http_set_transport(&t);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = "http://127.0.0.1:9/x";
    req.timeout_ms = 1000;
    req.max_response = 1024;
    req.flags = HTTP_ALLOW_HTTP;
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(transport_calls, 1);
    interrupt_raise_for_test(SIGINT);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INTR);
    assert_int_equal(transport_calls, 1);
    http_response_cleanup(&resp);
    http_set_transport(NULL);
}

static void
test_exit_status_and_retry(void **state)
{
    (void)state;
    assert_int_equal(agent_rc_exit_status(AGENT_ERR_INTR), 75);
    assert_false(agent_rc_retryable(AGENT_ERR_INTR));
    assert_string_equal(agent_rc_str(AGENT_ERR_INTR), "interrupted");
}

static void
test_retry_schedule(void **state)
{
    uint64_t j = clock_jitter_seed(state);
    int n;
    int64_t d, prev = 0;

    (void)state;
    for (n = 1; n <= 12; n++) {
        int64_t full = n >= 6 ? 30000 : 1000LL << (n - 1);

        d = run_retry_delay_ms(n, &j);
        assert_true(d <= full);
        assert_true(d >= full - full / 4);
        if (n >= 6)
            assert_true(d >= 22500);
        prev = d;
    }
    assert_true(prev <= 30000);
    assert_int_equal(run_retry_reserve_ms(1800 * 1000), 30000);
    assert_int_equal(run_retry_reserve_ms(20 * 1000), 5000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_handler_records_and_acknowledges, reset),
        cmocka_unit_test_setup(test_sleep_returns_early, reset),
        cmocka_unit_test_setup(test_spawn_stops_the_child, reset),
        cmocka_unit_test_setup(test_http_refuses_to_start, reset),
        cmocka_unit_test_setup(test_exit_status_and_retry, reset),
        cmocka_unit_test_setup(test_retry_schedule, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
