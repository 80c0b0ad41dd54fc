/*
 * Unit tests of wcs/licence: a fake activation command (a #!/bin/sh script
 * written to a temporary folder at test time) records its
 * /proc/PID/cmdline, /proc/PID/environ and stdin; the key must arrive on
 * stdin byte for byte and nowhere else, the output must be logged with the
 * key redacted, and failures, signals and timeouts must give short reasons.
 */
/* nftw() */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

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
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "fixture.h"
#include "wcs/licence.h"

static const char key[] = "WCS-LIC-7f3a9c21-SECRET";

static int
setup(void **state)
{
    (void)state;
    if (fx_setup("test_wcs_licence", 1) != 0)
        return -1;
    return log_redact_add(key, strlen(key)) == AGENT_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    log_redact_clear();
    fx_teardown();
    return 0;
}

/* Writes an executable script (the fake child; the agent itself never runs a shell). */
static const char *
script(const char *name, const char *body)
{
    const char *path = fx_path(name);
    struct buf b;

    buf_init(&b, 1u << 16);
    assert_int_equal(buf_printf(&b, "#!/bin/sh\nD='%s'\n%s", fx_dir, body), AGENT_OK);
    assert_int_equal(fileio_write_atomic(path, b.data, b.len, 0755, 0), AGENT_OK);
    buf_cleanup(&b);
    return path;
}

/* The bytes of a file, in b (initialised here). */
static void
slurp(const char *path, struct buf *b)
{
    buf_init(b, 1u << 20);
    assert_int_equal(fileio_read(path, b), AGENT_OK);
}

static int
contains(const struct buf *b, const void *needle, size_t n)
{
    size_t i;

    for (i = 0; n <= b->len && i + n <= b->len; i++) {
        if (memcmp(b->data + i, needle, n) == 0)
            return 1;
    }
    return 0;
}

static const char recorder[] = "cat /proc/$$/cmdline > \"$D/cmdline\"\n"
                               "cat /proc/$$/environ > \"$D/environ\"\n"
                               "cat > \"$D/stdin\"\n"
                               "echo \"activating licence $(cat \"$D/stdin\") for this node\"\n"
                               "echo\n"
                               "echo '  done  '\n"
                               "exit 0\n";

static void
test_key_on_stdin_only(void **state)
{
    const char *const argv[] = {script("activate.sh", recorder), "--node", "edge-1", NULL};
    struct buf b;
    char reason[256];
    const char *log;

    (void)state;
    snprintf(reason, sizeof(reason), "junk");
    assert_int_equal(wcs_licence_activate(argv, key, strlen(key), 10000, reason, sizeof(reason)),
                     AGENT_OK);
    assert_string_equal(reason, "");

    /* stdin: exactly the key, no newline added. */
    slurp(fx_path("stdin"), &b);
    assert_int_equal(b.len, strlen(key));
    assert_memory_equal(b.data, key, strlen(key));
    buf_cleanup(&b);

    /* argv: the command as configured, never the key. */
    slurp(fx_path("cmdline"), &b);
    assert_true(contains(&b, "--node\0edge-1\0", 14));
    assert_false(contains(&b, key, strlen(key)));
    assert_false(contains(&b, "SECRET", 6));
    buf_cleanup(&b);

    /* environment: only spawn's minimal one. */
    slurp(fx_path("environ"), &b);
    assert_false(contains(&b, key, strlen(key)));
    assert_false(contains(&b, "SECRET", 6));
    assert_true(contains(&b, "PATH=", 5));
    buf_cleanup(&b);

    /* The output is logged, line by line, with the key redacted. */
    log = fx_logged();
    assert_non_null(strstr(log, "licence: activating licence *** for this node"));
    assert_non_null(strstr(log, "licence: done"));
    assert_non_null(strstr(log, "licence: activated"));
    assert_null(strstr(log, key));
    assert_null(strstr(log, "SECRET"));
}

static void
test_binary_key(void **state)
{
    const char *const argv[] = {script("bin.sh", "cat > \"$D/stdin\"\n"), NULL};
    unsigned char k[WCS_LICENCE_KEY_MAX];
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(k); i++)
        k[i] = (unsigned char)(i * 7 + 1);
    k[10] = '\0';
    k[11] = '\n';
    assert_int_equal(wcs_licence_activate(argv, k, sizeof(k), 10000, NULL, 0), AGENT_OK);
    slurp(fx_path("stdin"), &b);
    assert_int_equal(b.len, sizeof(k));
    assert_memory_equal(b.data, k, sizeof(k));
    buf_cleanup(&b);
    assert_int_equal(wcs_licence_activate(argv, k, sizeof(k) + 1, 10000, NULL, 0), AGENT_ERR_INVAL);
    fx_logged();
}

static void
test_refused(void **state)
{
    const char *const bad[] = {
        script("bad.sh", "read k\necho \"checking...\"\necho \"ERROR: licence $k is not valid\" "
                         ">&2\necho\nexit 3\n"),
        NULL};
    const char *const silent[] = {script("silent.sh", "exit 1\n"), NULL};
    char reason[256];
    const char *log;

    (void)state;
    assert_int_equal(wcs_licence_activate(bad, key, strlen(key), 10000, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_string_equal(reason, "exit status 3: ERROR: licence *** is not valid");
    log = fx_logged();
    assert_non_null(strstr(log, "licence: checking..."));
    assert_non_null(strstr(log, "licence: exit status 3: ERROR: licence *** is not valid"));
    assert_null(strstr(log, key));

    assert_int_equal(wcs_licence_activate(silent, key, strlen(key), 10000, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_string_equal(reason, "exit status 1");
    fx_logged();
}

static void
test_signal_and_timeout(void **state)
{
    const char *const killed[] = {script("kill.sh", "echo bye\nkill -9 $$\n"), NULL};
    const char *const slow[] = {script("slow.sh", "cat >/dev/null\necho waiting\nexec sleep 20\n"),
                                NULL};
    char reason[256];
    int64_t t0;

    (void)state;
    assert_int_equal(wcs_licence_activate(killed, key, strlen(key), 10000, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_string_equal(reason, "killed by signal 9");
    t0 = clock_mono_ms();
    assert_int_equal(wcs_licence_activate(slow, key, strlen(key), 300, reason, sizeof(reason)),
                     AGENT_ERR_TIMEOUT);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_non_null(strstr(reason, "timed out after 300 ms"));
    assert_non_null(strstr(fx_logged(), "licence: waiting"));
}

static void
test_not_reading_stdin(void **state)
{
    const char *const argv[] = {script("noread.sh", "echo ok\nexit 0\n"), NULL};
    char big[WCS_LICENCE_KEY_MAX];

    (void)state;
    /* A child that never reads its stdin: no SIGPIPE for the agent, the exit status counts. */
    memset(big, 'k', sizeof(big));
    assert_int_equal(wcs_licence_activate(argv, big, sizeof(big), 10000, NULL, 0), AGENT_OK);
    fx_logged();
}

static void
test_bad_arguments(void **state)
{
    const char *const empty[] = {NULL};
    const char *const blank[] = {"", NULL};
    const char *const missing[] = {"/nonexistent/activation.sh", NULL};
    const char *const argv[] = {"/bin/true", NULL};
    char reason[128];

    (void)state;
    assert_int_equal(wcs_licence_activate(empty, key, strlen(key), 1000, reason, sizeof(reason)),
                     AGENT_ERR_INVAL);
    assert_string_equal(reason, "licence.command is empty");
    assert_int_equal(wcs_licence_activate(blank, key, strlen(key), 1000, NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(wcs_licence_activate(NULL, key, strlen(key), 1000, NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(wcs_licence_activate(argv, NULL, 5, 1000, NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(wcs_licence_activate(argv, key, 0, 1000, NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(wcs_licence_activate(missing, key, strlen(key), 1000, reason, sizeof(reason)),
                     AGENT_ERR_IO);
    assert_non_null(strstr(reason, "could not be started"));
    assert_null(strstr(fx_logged(), key));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_on_stdin_only), cmocka_unit_test(test_binary_key),
        cmocka_unit_test(test_refused),           cmocka_unit_test(test_signal_and_timeout),
        cmocka_unit_test(test_not_reading_stdin), cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
