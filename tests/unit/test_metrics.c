/*
 * node/metrics: the metrics of design.md §8.4 from a stats page (pure), the
 * CPU share between two /proc/stat readings; net/http_multi's plain-http
 * policy for fleet's stats URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "net/http_multi.h"
#include "node/metrics.h"
#include "wcs/stats.h"

static void
sample_of(const char *page, struct metrics_sample *m)
{
    struct stats s;

    assert_int_equal(stats_parse(page, strlen(page), &s), AGENT_OK);
    metrics_from_stats(&s, m);
    stats_cleanup(&s);
}

static int
has(const struct metrics_sample *m, enum metric_id id)
{
    return (m->have & (1u << id)) != 0;
}

static void
test_from_stats(void **state)
{
    struct metrics_sample m;

    (void)state;
    sample_of("-----connections_stats-----\nconnections=37\nconnections_websocket=30\n"
              "ports_media_free=420\nstreams_webrtc_in=3\nstreams_rtsp_in=2\nstreams_rtmfp_in=1\n"
              "streams_webrtc_out=99\nstreams_viewers=11\nstreams_synchronization=5\n",
              &m);
    assert_true(has(&m, METRIC_CONNECTIONS));
    assert_true(m.value[METRIC_CONNECTIONS] == 37);
    assert_true(m.value[METRIC_CONNECTIONS_WEBSOCKET] == 30);
    assert_true(m.value[METRIC_PORTS_MEDIA_FREE] == 420);
    /* Only the *_in fields count: not _out, not synchronization. */
    assert_true(m.value[METRIC_STREAMS_IN] == 6);
    assert_true(m.value[METRIC_STREAMS_VIEWERS] == 11);
    /* Not from the page. */
    assert_false(has(&m, METRIC_CPU_LOAD));
    assert_false(has(&m, METRIC_DRAINING));
    assert_false(has(&m, METRIC_CERTIFICATE_DAYS_LEFT));

    /* A repeated name counts once, with its last value. */
    sample_of("streams_webrtc_in=3\nstreams_webrtc_in=4\n", &m);
    assert_true(m.value[METRIC_STREAMS_IN] == 4);

    /* Missing or malformed fields are left out, never sent as 0. */
    sample_of("connections=abc\nconnections_websocket=-1\nports_media_free=1e3\n"
              "streams_viewers=\nunrelated=5\n",
              &m);
    assert_int_equal(m.have, 0);
    sample_of("connections=12.5\n", &m);
    assert_true(m.value[METRIC_CONNECTIONS] == 12.5);
    assert_false(has(&m, METRIC_STREAMS_IN));
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(metrics_name(METRIC_CONNECTIONS), "Connections");
    assert_string_equal(metrics_name(METRIC_CERTIFICATE_DAYS_LEFT), "CertificateDaysLeft");
    assert_string_equal(metrics_unit(METRIC_CPU_LOAD), "Percent");
    assert_string_equal(metrics_unit(METRIC_DRAINING), "Count");
    assert_null(metrics_name(METRIC__MAX));
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_cpu(void **state)
{
    char path[] = "/tmp/test_metrics_stat.XXXXXX";
    struct metrics_cpu a, b;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    /* user nice system idle iowait irq softirq steal guest guest_nice */
    write_file(path, "cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4\n");
    assert_int_equal(metrics_cpu_read(path, &a), AGENT_OK);
    assert_true(a.total == 1000);
    assert_true(a.busy == 200);
    write_file(path, "cpu  400 0 100 900 100 0 0 0 50 0\n");
    assert_int_equal(metrics_cpu_read(path, &b), AGENT_OK);
    /* 300 busy of 500 more jiffies. */
    assert_true(metrics_cpu_percent(&a, &b) == 60.0);
    /* No time passed, or readings swapped: not comparable. */
    assert_true(metrics_cpu_percent(&a, &a) < 0);
    assert_true(metrics_cpu_percent(&b, &a) < 0);
    write_file(path, "intr 1 2 3\n");
    assert_int_equal(metrics_cpu_read(path, &a), AGENT_ERR_IO);
    assert_false(a.valid);
    unlink(path);
    assert_int_equal(metrics_cpu_read(path, &a), AGENT_ERR_IO);
}

static void
test_plain_http_policy(void **state)
{
    (void)state;
    assert_true(http_multi_plain_ok("http://127.0.0.2:8081/?action=stat"));
    assert_true(http_multi_plain_ok("http://10.0.1.5:8081/?action=stat"));
    assert_true(http_multi_plain_ok("http://172.16.0.1/"));
    assert_true(http_multi_plain_ok("http://172.31.255.255/"));
    assert_true(http_multi_plain_ok("http://192.168.1.1"));
    assert_true(http_multi_plain_ok("http://100.64.0.1:8081/"));
    assert_false(http_multi_plain_ok("http://172.32.0.1/"));
    assert_false(http_multi_plain_ok("http://100.128.0.1/"));
    assert_false(http_multi_plain_ok("http://8.8.8.8/"));
    assert_false(http_multi_plain_ok("http://example.com/"));
    assert_false(http_multi_plain_ok("http://user@10.0.0.1/"));
    assert_false(http_multi_plain_ok("https://10.0.0.1/"));
    assert_false(http_multi_plain_ok("ftp://10.0.0.1/"));
    assert_false(http_multi_plain_ok(NULL));
}

static void
test_multi_refuses_before_sending(void **state)
{
    struct http_multi_item it[2];
    size_t i;

    (void)state;
    memset(it, 0, sizeof(it));
    for (i = 0; i < 2; i++)
        http_response_init(&it[i].resp, 1024);
    it[0].url = "http://8.8.8.8/";
    it[0].timeout_ms = 100;
    it[1].url = "http://127.0.0.1:1/"; /* closed: refused at once */
    it[1].timeout_ms = 2000;
    assert_int_equal(http_multi_get(it, 2), AGENT_OK);
    assert_int_equal(it[0].rc, AGENT_ERR_INVAL);
    assert_int_equal(it[0].resp.fail, HTTP_FAIL_POLICY);
    assert_int_equal(it[1].rc, AGENT_ERR_NET);
    assert_int_equal(it[1].resp.fail, HTTP_FAIL_REFUSED);
    for (i = 0; i < 2; i++)
        http_response_cleanup(&it[i].resp);
    assert_int_equal(http_multi_get(NULL, 0), AGENT_OK);
    assert_int_equal(http_multi_get(NULL, 1), AGENT_ERR_INVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_stats),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_plain_http_policy),
        cmocka_unit_test(test_multi_refuses_before_sending),
    };

    log_init(-1, LOG_FMT_TEXT);
    if (http_global_init() != AGENT_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
