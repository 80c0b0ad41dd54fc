/*
 * Unit tests of wcs/heap: the heap in wcs-core.properties (sizes, shares of
 * MemTotal, keep, token and section handling) and MemTotal parsing.
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
#include "core/fileio.h"
#include "core/log.h"
#include "fixture.h"
#include "wcs/heap.h"

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_heap", 1);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

/* Heap ------------------------------------------------------------------ */

static void
test_heap_value(void **state)
{
    static const struct {
        const char *heap;
        long mem_kb;
        enum agent_rc rc;
        const char *want;
    } t[] = {
        {"keep", 0, AGENT_ERR_ABSENT, NULL},
        {"4g", 0, AGENT_OK, "4g"},
        {"4G", 0, AGENT_OK, "4g"},
        {"512M", 0, AGENT_OK, "512m"},
        {"1048576k", 0, AGENT_OK, "1048576k"},
        {"2147483648", 0, AGENT_OK, "2147483648"},
        {"50%", 16318412, AGENT_OK, "7967m"},   /* 16318412 kB * 50% = 7967.98 MiB */
        {"100%", 16318412, AGENT_OK, "15935m"}, /* 15935.95 MiB, rounded down */
        {"1%", 16318412, AGENT_OK, "159m"},
        {"25%", 1048576, AGENT_OK, "256m"},
        {"6%", 1048576, AGENT_ERR_CONFIG, NULL}, /* 61 MiB < WCS_HEAP_MIN_MB */
        {"7%", 1048576, AGENT_OK, "71m"},
        {"50%", 0, AGENT_ERR_CONFIG, NULL},
        {"0%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"101%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"-4g", 0, AGENT_ERR_CONFIG, NULL},
        {"+4g", 0, AGENT_ERR_CONFIG, NULL},
        {"4t", 0, AGENT_ERR_CONFIG, NULL},
        {"4 g", 0, AGENT_ERR_CONFIG, NULL},
        {"g", 0, AGENT_ERR_CONFIG, NULL},
        {"0g", 0, AGENT_ERR_CONFIG, NULL},
        {"", 0, AGENT_ERR_CONFIG, NULL},
        {"Keep", 0, AGENT_ERR_CONFIG, NULL},
        {"12345678901234567890123456789012g", 0, AGENT_ERR_CONFIG, NULL},
    };

    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum agent_rc rc = wcs_heap_value(t[i].heap, t[i].mem_kb, out, sizeof(out));

        if (rc != t[i].rc)
            fail_msg("\"%s\": rc %d, wanted %d", t[i].heap, rc, t[i].rc);
        if (rc == AGENT_OK)
            assert_string_equal(out, t[i].want);
    }
    assert_int_equal(wcs_heap_value("4g", 0, out, 2), AGENT_ERR_TOOBIG);
}

/* The S5 sample (wcs.md §2), shortened. */
static const char core_in[] = "### SERVER OPTIONS ###\n"
                              "# Set this property to false to disable session debug\n"
                              "-DsessionDebugEnabled=false\n"
                              "\n"
                              "### JVM OPTIONS ###\n"
                              "-Xmx1024M\n"
                              "#-Xcheck:jni\n"
                              "#-Xmx8g\n"
                              "-XX:+UseConcMarkSweepGC\n"
                              "-Djava.net.preferIPv4Stack=true\n";

static const char core_want[] = "### SERVER OPTIONS ###\n"
                                "# Set this property to false to disable session debug\n"
                                "-DsessionDebugEnabled=false\n"
                                "\n"
                                "### JVM OPTIONS ###\n"
                                "-Xms7967m\n"
                                "-Xmx7967m\n"
                                "#-Xcheck:jni\n"
                                "#-Xmx8g\n"
                                "-XX:+UseConcMarkSweepGC\n"
                                "-Djava.net.preferIPv4Stack=true\n";

static void
test_configure_heap(void **state)
{
    const char *path = fx_path("wcs-core.properties"), *bak = fx_path("wcs-core.properties.bak");
    struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    struct buf diff;
    struct stat st;
    int changed = -1;

    (void)state;
    fx_write_file(path, core_in, 0664);
    buf_init(&diff, 1u << 20);
    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 1, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_assert_diff(
        &diff,
        "--- a/PATH\n+++ b/PATH\n@@ -3,7 +3,8 @@\n -DsessionDebugEnabled=false\n \n "
        "### JVM OPTIONS ###\n--Xmx1024M\n+-Xms7967m\n+-Xmx7967m\n #-Xcheck:jni\n #-Xmx8g\n "
        "-XX:+UseConcMarkSweepGC\n",
        path);
    fx_assert_text(fx_read_text(path), core_in);

    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_assert_text(fx_read_text(path), core_want);
    fx_assert_text(fx_read_text(bak), core_in);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0664);

    /* Again: converged, untouched. */
    assert_int_equal(utimensat(AT_FDCWD, path, old_times, 0), 0);
    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1000000000);

    /* keep: nothing read or written, even for a missing file. */
    changed = -1;
    assert_int_equal(wcs_configure_heap(fx_path("nope"), "keep", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    changed = -1;
    assert_int_equal(wcs_configure_heap(path, "keep", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);

    /* A new size replaces the pair in place. */
    assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_non_null(
        strstr(fx_read_text(path), "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n#-Xcheck:jni\n"));

    /* Bad values are configuration errors naming wcs.heap; a missing file is ABSENT. */
    fx_logged();
    assert_int_equal(wcs_configure_heap(path, "200%", 16318412, 0, NULL, &changed),
                     AGENT_ERR_CONFIG);
    assert_non_null(strstr(fx_logged(), "wcs.heap = 200%"));
    assert_int_equal(wcs_configure_heap(fx_path("nope"), "4g", 0, 0, NULL, &changed),
                     AGENT_ERR_ABSENT);
    fx_logged();
    buf_cleanup(&diff);
}

static void
test_heap_layouts(void **state)
{
    static const struct {
        const char *name, *in, *want;
    } t[] = {
        {"several tokens on one line",
         "### JVM OPTIONS ###\n-server -Xms512m -Xmx1g -XX:+UseG1GC\n-Xmx2g\n",
         "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-server -XX:+UseG1GC\n"},
        {"indented and lone tokens", "### JVM OPTIONS ###\n  -Xms1g\n\t-Xmx1g  \n-Dx=1\n",
         "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-Dx=1\n"},
        {"no heap yet: after the JVM header",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Db=2\n",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-Db=2\n"},
        {"JVM header last, unterminated", "-Db=2\n### JVM OPTIONS ###",
         "-Db=2\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"no headers: at the end", "-Db=2\n# comment", "-Db=2\n# comment\n-Xms4g\n-Xmx4g\n"},
        {"only a server part: a JVM header first", "### SERVER OPTIONS ###\n-Da=1\n",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"server part options stay",
         "### SERVER OPTIONS ###\n-Xmx9g\n### JVM OPTIONS ###\n-Xmx1g\n",
         "### SERVER OPTIONS ###\n-Xmx9g\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"JVM options before any header count", "-Xmx1g\n### SERVER OPTIONS ###\n-Da=1\n",
         "-Xms4g\n-Xmx4g\n### SERVER OPTIONS ###\n-Da=1\n"},
        {"comments stay", "#-Xmx1g\n # -Xms1g\n", "#-Xmx1g\n # -Xms1g\n-Xms4g\n-Xmx4g\n"},
        {"CRLF file", "### JVM OPTIONS ###\r\n-Xmx1g\r\n-Da=1\r\n",
         "### JVM OPTIONS ###\r\n-Xms4g\r\n-Xmx4g\r\n-Da=1\r\n"},
        {"empty file", "", "-Xms4g\n-Xmx4g\n"},
        {"-XX:MaxHeapSize is not -Xmx", "-XX:MaxHeapSize=1g\n",
         "-XX:MaxHeapSize=1g\n-Xms4g\n-Xmx4g\n"},
    };

    const char *path = fx_path("layout.properties");
    size_t i;
    int changed;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fx_write_file(path, t[i].in, 0644);
        changed = -1;
        assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
        assert_int_equal(changed, 1);
        if (strcmp(fx_read_text(path), t[i].want) != 0)
            fail_msg("%s:\n--- got ---\n%s\n--- want ---\n%s", t[i].name, fx_read_text(path),
                     t[i].want);
        /* Idempotent. */
        assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
        if (changed != 0)
            fail_msg("%s: not idempotent:\n%s", t[i].name, fx_read_text(path));
    }
}

static void
test_meminfo(void **state)
{
    const char *path = fx_path("meminfo");
    long kb = 0;

    (void)state;
    fx_write_file(path, "MemFree:  100 kB\nMemTotal:       16318412 kB\nBuffers: 5 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_OK);
    assert_int_equal(kb, 16318412);
    fx_write_file(path, "MemTotal: 2048 kB", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_OK);
    assert_int_equal(kb, 2048);
    kb = 5;
    fx_write_file(path, "MemFree: 100 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_ABSENT);
    fx_write_file(path, "MemTotal: lots kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    fx_write_file(path, "MemTotal: 100 MB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    fx_write_file(path, "MemTotal: -100 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    assert_int_equal(kb, 5);
    assert_int_equal(wcs_meminfo_total_kb(fx_path("nomeminfo"), &kb), AGENT_ERR_ABSENT);
    assert_non_null(strstr(fx_logged(), "cannot size wcs.heap"));
    /* The real one, when there is one. */
    if (access("/proc/meminfo", R_OK) == 0) {
        assert_int_equal(wcs_meminfo_total_kb(NULL, &kb), AGENT_OK);
        assert_true(kb > 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_value),
        cmocka_unit_test(test_configure_heap),
        cmocka_unit_test(test_heap_layouts),
        cmocka_unit_test(test_meminfo),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
