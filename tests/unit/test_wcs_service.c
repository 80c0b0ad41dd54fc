/*
 * Unit tests of wcs/service: command expansion and splitting, and the
 * status, enable and restart commands run as small #!/bin/sh scripts (the
 * fake systemctl, written to a temporary folder at test time) that record
 * their calls: exit codes, reasons, signals, timeouts, missing programs.
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
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "fixture.h"
#include "wcs/service.h"

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_wcs_service", 1);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

/*
 * The fake systemctl: appends "$@" to calls, then behaves as the file
 * "$D/mode" says (active, inactive, fail, slow, signal).
 */
static const char *
fake_systemctl(void)
{
    static const char body[] =
        "echo \"$*\" >> \"$D/calls\"\n"
        "for a; do svc=$a; done\n"
        "mode=$(cat \"$D/mode\" 2>/dev/null || echo active)\n"
        "case \"$mode\" in\n"
        "active) exit 0 ;;\n"
        "inactive) echo inactive; exit 3 ;;\n"
        "fail) echo \"Job for $svc.service failed because the control process exited with error "
        "code.\" >&2\n"
        "      echo \"See 'journalctl -xeu $svc.service' for details.\" >&2; exit 1 ;;\n"
        "slow) exec sleep 20 ;;\n"
        "signal) kill -9 $$ ;;\n"
        "esac\n";
    const char *path = fx_path("systemctl");
    struct buf b;

    buf_init(&b, 1u << 16);
    assert_int_equal(buf_printf(&b, "#!/bin/sh\nD='%s'\n%s", fx_dir, body), AGENT_OK);
    assert_int_equal(fileio_write_atomic(path, b.data, b.len, 0755, 0), AGENT_OK);
    buf_cleanup(&b);
    return path;
}

/* "<fake systemctl> rest" as a malloc'd string. */
static char *
with_systemctl(const char *rest)
{
    struct buf b;
    char *s;

    buf_init(&b, 4096);
    assert_int_equal(buf_printf(&b, "%s %s", fake_systemctl(), rest), AGENT_OK);
    s = buf_detach(&b);
    assert_non_null(s);
    return s;
}

static void
set_mode(const char *mode)
{
    assert_int_equal(fileio_write_atomic(fx_path("mode"), mode, strlen(mode), 0644, 0), AGENT_OK);
}

static const char *
calls(void)
{
    static struct buf b;

    buf_cleanup(&b);
    buf_init(&b, 1u << 16);
    if (fileio_read(fx_path("calls"), &b) == AGENT_ERR_ABSENT)
        return "";
    return buf_cstr(&b);
}

static void
reset_calls(void)
{
    unlink(fx_path("calls"));
}

/* argv from a command line with {service}; free with str_argv_free. */
static char **
cmd(const char *line)
{
    char **argv = NULL;

    assert_int_equal(
        wcs_command_argv(line, "webcallserver", "/usr/local/FlashphonerWebCallServer", &argv),
        AGENT_OK);
    assert_non_null(argv);
    return argv;
}

static void
test_command_argv(void **state)
{
    static const struct {
        const char *in, *service, *home;
        const char *want; /* words joined with '|'; NULL: no command */
    } t[] = {
        {"systemctl restart {service}", "webcallserver", "/h", "systemctl|restart|webcallserver"},
        {"systemctl is-active --quiet {service}", "wcs", "/h", "systemctl|is-active|--quiet|wcs"},
        {"{wcs_home}/bin/webcallserver  restart\t{service}", "s", "/usr/local/F",
         "/usr/local/F/bin/webcallserver|restart|s"},
        {"a{service}b{service}", "x", NULL, "axbx"},
        {"left {service} {wcs_home}", NULL, NULL, "left|{service}|{wcs_home}"},
        {"{servic} {service", "x", "/h", "{servic}|{service"},
        {"", "x", "/h", NULL},
        {"  \t ", "x", "/h", NULL},
    };

    char **argv, joined[512];
    size_t i, j, off;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        argv = (char **)(uintptr_t)0x1;
        assert_int_equal(wcs_command_argv(t[i].in, t[i].service, t[i].home, &argv), AGENT_OK);
        if (t[i].want == NULL) {
            assert_null(argv);
            continue;
        }
        assert_non_null(argv);
        for (j = 0, off = 0, joined[0] = '\0'; argv[j] != NULL; j++)
            off +=
                (size_t)snprintf(joined + off, sizeof(joined) - off, "%s%s", j ? "|" : "", argv[j]);
        assert_string_equal(joined, t[i].want);
        str_argv_free(argv);
    }
    assert_int_equal(wcs_command_argv(NULL, "x", "/h", &argv), AGENT_ERR_INVAL);
    {
        char big[5000];

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(wcs_command_argv(big, "x", "/h", &argv), AGENT_ERR_TOOBIG);
    }
}

static void
test_is_active(void **state)
{
    char *line, **argv;
    int active = -1;
    int64_t t0;

    (void)state;
    line = with_systemctl("is-active --quiet {service}");
    argv = cmd(line);
    free(line);
    reset_calls();

    set_mode("active");
    assert_int_equal(wcs_service_is_active((const char *const *)argv, 0, &active), AGENT_OK);
    assert_int_equal(active, 1);
    set_mode("inactive");
    assert_int_equal(wcs_service_is_active((const char *const *)argv, 0, &active), AGENT_OK);
    assert_int_equal(active, 0);
    assert_string_equal(calls(), "is-active --quiet webcallserver\n"
                                 "is-active --quiet webcallserver\n");
    /* "not running" is an answer, not an error: nothing at error level. */
    assert_null(strstr(fx_logged(), "exit status 3"));

    set_mode("signal");
    active = -1;
    assert_int_equal(wcs_service_is_active((const char *const *)argv, 0, &active), AGENT_ERR_CHILD);
    assert_int_equal(active, -1);
    assert_non_null(strstr(fx_logged(), "killed by signal 9"));

    set_mode("slow");
    t0 = clock_mono_ms();
    assert_int_equal(wcs_service_is_active((const char *const *)argv, 300, &active),
                     AGENT_ERR_TIMEOUT);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_non_null(strstr(fx_logged(), "killed after 300 ms"));
    str_argv_free(argv);

    {
        const char *const missing[] = {"/nonexistent/systemctl", "is-active", NULL};

        assert_int_equal(wcs_service_is_active(missing, 0, &active), AGENT_ERR_IO);
        fx_logged();
    }
}

static void
test_enable(void **state)
{
    char *line, **argv = NULL, reason[256];

    (void)state;
    /* An empty enable command: nothing is run. */
    reset_calls();
    assert_int_equal(wcs_command_argv("", "webcallserver", NULL, &argv), AGENT_OK);
    assert_null(argv);
    snprintf(reason, sizeof(reason), "junk");
    assert_int_equal(wcs_service_enable(NULL, 0, reason, sizeof(reason)), AGENT_OK);
    assert_string_equal(reason, "");
    {
        const char *const none[] = {NULL};

        assert_int_equal(wcs_service_enable(none, 0, NULL, 0), AGENT_OK);
    }
    assert_string_equal(calls(), "");

    line = with_systemctl("enable --quiet {service}");
    argv = cmd(line);
    free(line);
    set_mode("active");
    assert_int_equal(wcs_service_enable((const char *const *)argv, 0, reason, sizeof(reason)),
                     AGENT_OK);
    assert_string_equal(calls(), "enable --quiet webcallserver\n");
    set_mode("fail");
    assert_int_equal(wcs_service_enable((const char *const *)argv, 0, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_string_equal(reason,
                        "exit status 1: See 'journalctl -xeu webcallserver.service' for details.");
    /* Every output line is logged; the failure once. */
    {
        const char *log = fx_logged();

        assert_non_null(strstr(log, "service: enable: Job for webcallserver.service failed"));
        assert_non_null(strstr(log, "service: enable: exit status 1: See"));
    }
    str_argv_free(argv);
}

static void
test_restart(void **state)
{
    char *line, **argv, reason[256];
    const char *log;
    int64_t t0;

    (void)state;
    line = with_systemctl("restart {service}");
    argv = cmd(line);
    free(line);
    reset_calls();

    set_mode("active");
    assert_int_equal(wcs_service_restart((const char *const *)argv, 10000, reason, sizeof(reason)),
                     AGENT_OK);
    assert_int_equal(wcs_service_restart((const char *const *)argv, 0, reason, sizeof(reason)),
                     AGENT_OK);
    assert_string_equal(calls(), "restart webcallserver\nrestart webcallserver\n");
    assert_non_null(strstr(fx_logged(), "WCS restarted"));

    set_mode("fail");
    assert_int_equal(wcs_service_restart((const char *const *)argv, 10000, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_string_equal(reason,
                        "exit status 1: See 'journalctl -xeu webcallserver.service' for details.");
    log = fx_logged();
    assert_non_null(strstr(log, "Job for webcallserver.service failed"));
    assert_null(strstr(log, "WCS restarted"));

    set_mode("slow");
    t0 = clock_mono_ms();
    assert_int_equal(wcs_service_restart((const char *const *)argv, 300, reason, sizeof(reason)),
                     AGENT_ERR_TIMEOUT);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_non_null(strstr(reason, "timed out after 300 ms"));
    fx_logged();
    str_argv_free(argv);

    {
        const char *const none[] = {NULL};

        assert_int_equal(wcs_service_restart(none, 1000, reason, sizeof(reason)), AGENT_ERR_INVAL);
        assert_string_equal(reason, "no command given");
        fx_logged();
    }
}

static void
test_run_command_output(void **state)
{
    const char *path = fx_path("noisy.sh");
    static const char body[] = "#!/bin/sh\nprintf 'one\\r\\n\\n  \\ntwo'\nexit 4\n";
    struct spawn_opts o = {0};
    const char *argv[] = {path, NULL};
    char reason[256];
    const char *log;
    int code = 0;

    (void)state;
    assert_int_equal(fileio_write_atomic(path, body, strlen(body), 0755, 0), AGENT_OK);
    o.argv = argv;
    o.timeout_ms = 5000;
    assert_int_equal(wcs_run_command("test", &o, 0, &code, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_int_equal(code, 4);
    assert_string_equal(reason, "exit status 4: two");
    log = fx_logged();
    assert_non_null(strstr(log, "test: one\n"));
    assert_non_null(strstr(log, "test: two\n"));
    /* With WCS_RUN_QUIET a non-zero exit is not an error line. */
    assert_int_equal(wcs_run_command("test", &o, WCS_RUN_QUIET, &code, reason, sizeof(reason)),
                     AGENT_ERR_CHILD);
    assert_null(strstr(fx_logged(), "exit status 4"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_argv),
        cmocka_unit_test(test_is_active),
        cmocka_unit_test(test_enable),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_run_command_output),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
