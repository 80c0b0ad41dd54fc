/* Unit tests of core/spawn: real children (cat, env, pwd, sleep), no shell in the agent. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/spawn.h"

static int log_fd = -1;
static char log_text[8192];

static int
setup(void **state)
{
    char lp[] = "/tmp/test_spawn_log.XXXXXX";

    (void)state;
    log_fd = mkstemp(lp);
    if (log_fd == -1)
        return -1;
    unlink(lp);
    log_init(0, LOG_FMT_TEXT);
    log_set_fd(log_fd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    log_set_fd(-1);
    close(log_fd);
    return 0;
}

static const char *
logged(void)
{
    ssize_t n = pread(log_fd, log_text, sizeof(log_text) - 1, 0);

    assert_true(n >= 0);
    log_text[n] = '\0';
    assert_int_equal(ftruncate(log_fd, 0), 0);
    assert_true(lseek(log_fd, 0, SEEK_SET) == 0);
    return log_text;
}

/* No child of the test is left unreaped. */
static void
assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void
test_exit_codes(void **state)
{
    static const char *const t[] = {"true", NULL};
    static const char *const f[] = {"/bin/false", NULL};
    static const char *const ls[] = {"ls", "/nonexistent-folder-xyz", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    o.argv = t;
    o.output_max = 1024;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.signal, 0);
    assert_int_equal(r.timed_out, 0);
    assert_int_equal(r.output.len, 0);
    spawn_result_cleanup(&r);

    o.argv = f;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 1);
    spawn_result_cleanup(&r);

    /* stderr is captured with stdout. */
    o.argv = ls;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(buf_cstr(&r.output), "nonexistent-folder-xyz"));
    spawn_result_cleanup(&r);
    assert_no_children();
}

static void
test_stdin_feed(void **state)
{
    static const char *const cat[] = {"/bin/cat", NULL};
    static const char data[] = "hello\0binary\nworld";
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    o.argv = cat;
    o.stdin_data = data;
    o.stdin_len = sizeof(data) - 1;
    o.output_max = 1024;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.output.len, sizeof(data) - 1);
    assert_memory_equal(r.output.data, data, sizeof(data) - 1);
    spawn_result_cleanup(&r);

    /* Empty feed and no feed: cat sees end of file at once. */
    o.stdin_len = 0;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.output.len, 0);
    spawn_result_cleanup(&r);
    o.stdin_data = NULL;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.output.len, 0);
    spawn_result_cleanup(&r);
    assert_no_children();
}

static void
test_large_stdin(void **state)
{
    static const char *const cat[] = {"cat", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    size_t n = 3 << 20, i;
    char *data;

    (void)state;
    /* Far more than a pipe holds in both directions: needs the poll loop. */
    data = malloc(n);
    assert_non_null(data);
    for (i = 0; i < n; i++)
        data[i] = (char)(i * 7 + i / 251);
    o.argv = cat;
    o.stdin_data = data;
    o.stdin_len = n;
    o.output_max = n;
    o.timeout_ms = 20000;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.truncated, 0);
    assert_int_equal(r.output.len, n);
    assert_memory_equal(r.output.data, data, n);
    spawn_result_cleanup(&r);
    free(data);
}

static void
test_child_ignores_stdin(void **state)
{
    static const char *const t[] = {"/bin/true", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    struct sigaction sa;
    sigset_t pend, mask;
    size_t n = 1 << 20;
    char *data;

    (void)state;
    data = calloc(1, n);
    assert_non_null(data);
    o.argv = t;
    o.stdin_data = data;
    o.stdin_len = n;
    o.output_max = 100;
    /* EPIPE, not a SIGPIPE that would kill the test. */
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 0);
    spawn_result_cleanup(&r);
    free(data);
    /* The disposition, the mask and the pending set are as before. */
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
    assert_false(sigismember(&mask, SIGPIPE));
    assert_int_equal(sigpending(&pend), 0);
    assert_false(sigismember(&pend, SIGPIPE));
}

static void
test_output_cap(void **state)
{
    static const char *const head[] = {"head", "-c", "200000", "/dev/zero", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    o.argv = head;
    o.output_max = 1000;
    o.timeout_ms = 10000;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    /* The rest was drained, so the child was not blocked and exited 0. */
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(r.output.len, 1000);
    spawn_result_cleanup(&r);

    o.output_max = 200000;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.truncated, 0);
    assert_int_equal(r.output.len, 200000);
    spawn_result_cleanup(&r);
}

static void
test_timeout(void **state)
{
    static const char *const sl[] = {"sleep", "10", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    int64_t t0, el;

    (void)state;
    o.argv = sl;
    o.timeout_ms = 300;
    o.output_max = 100;
    t0 = clock_mono_ms();
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_TIMEOUT);
    el = clock_mono_ms() - t0;
    assert_true(el >= 300);
    assert_true(el < 2500);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.exited, 0);
    assert_int_equal(r.signal, SIGTERM);
    spawn_result_cleanup(&r);
    assert_non_null(strstr(logged(), "sleep"));
    assert_no_children();
}

static void
test_timeout_endless_output(void **state)
{
    /* A child that never stops writing still meets its timeout. */
    static const char *const yes[] = {"yes", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    int64_t t0, el;

    (void)state;
    o.argv = yes;
    o.timeout_ms = 300;
    o.output_max = 1000;
    t0 = clock_mono_ms();
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_TIMEOUT);
    el = clock_mono_ms() - t0;
    assert_true(el < 2500);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(r.output.len, 1000);
    assert_true(strncmp(buf_cstr(&r.output), "y\ny\n", 4) == 0);
    spawn_result_cleanup(&r);
    logged();
    assert_no_children();
}

static void
test_timeout_kill(void **state)
{
    /* A child that ignores SIGTERM (set up by a test-side shell) gets SIGKILL 2 s later. */
    static const char *const sh[] = {"/bin/sh", "-c", "trap '' TERM; sleep 10; exit 0", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    int64_t t0, el;

    (void)state;
    o.argv = sh;
    o.timeout_ms = 200;
    o.output_max = 100;
    t0 = clock_mono_ms();
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_TIMEOUT);
    el = clock_mono_ms() - t0;
    assert_true(el >= 2200);
    assert_true(el < 4000);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.signal, SIGKILL);
    spawn_result_cleanup(&r);
    logged();
    assert_no_children();
}

static void
test_missing_program(void **state)
{
    static const char *const a[] = {"no-such-program-xyz", NULL};
    static const char *const b[] = {"/nonexistent/prog", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    o.argv = a;
    o.output_max = 100;
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_IO);
    spawn_result_cleanup(&r);
    assert_non_null(strstr(logged(), "no-such-program-xyz"));
    o.argv = b;
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_IO);
    spawn_result_cleanup(&r);
    assert_non_null(strstr(logged(), "/nonexistent/prog"));
    o.argv = NULL;
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_INVAL);
    spawn_result_cleanup(&r);
    logged();
    assert_no_children();
}

static void
test_env_minimal(void **state)
{
    static const char *const env[] = {"/usr/bin/env", NULL};
    static const char *const custom[] = {"FOO=bar", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    setenv("HOME", "/root", 1);
    o.argv = env;
    o.output_max = 4096;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(buf_cstr(&r.output),
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                        "LANG=C\n");
    assert_null(strstr(buf_cstr(&r.output), "AWS_SECRET"));
    assert_null(strstr(buf_cstr(&r.output), "HOME="));
    spawn_result_cleanup(&r);

    o.env = custom;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_string_equal(buf_cstr(&r.output), "FOO=bar\n");
    spawn_result_cleanup(&r);
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

static void
test_cwd(void **state)
{
    static const char *const pwd[] = {"/bin/pwd", NULL};
    char dir[] = "/tmp/test_spawn.XXXXXX";
    char expect[64];
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    assert_non_null(mkdtemp(dir));
    o.argv = pwd;
    o.cwd = dir;
    o.output_max = 100;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    snprintf(expect, sizeof(expect), "%s\n", dir);
    assert_string_equal(buf_cstr(&r.output), expect);
    spawn_result_cleanup(&r);
    rmdir(dir);

    /* A missing folder: the child cannot start. */
    assert_int_equal(spawn_run(&o, &r), AGENT_ERR_IO);
    assert_non_null(strstr(logged(), dir));
    spawn_result_cleanup(&r);
}

static void
test_fds_closed(void **state)
{
    static const char *const ls[] = {"ls", "/proc/self/fd", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    int fd;

    (void)state;
    /* An inheritable descriptor of the parent does not reach the child. */
    fd = open("/dev/null", O_RDONLY);
    assert_true(fd != -1);
    assert_int_equal(dup2(fd, 57), 57);
    o.argv = ls;
    o.output_max = 1000;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(r.exit_code, 0);
    assert_null(strstr(buf_cstr(&r.output), "57"));
    assert_non_null(strstr(buf_cstr(&r.output), "0\n1\n2\n"));
    spawn_result_cleanup(&r);
    close(57);
    close(fd);
}

/* With fd 0 closed, the pipes must not land on 0/1/2 and break the child's stdio. */
static void
test_parent_stdin_closed(void **state)
{
    static const char *const cat[] = {"cat", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    int saved;

    (void)state;
    saved = dup(0);
    assert_true(saved != -1);
    close(0);
    o.argv = cat;
    o.stdin_data = "abc";
    o.stdin_len = 3;
    o.output_max = 100;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(buf_cstr(&r.output), "abc");
    spawn_result_cleanup(&r);
}

/* Reaps a child of spawn_start(), waiting up to 5 s. */
static void
reap(pid_t pid, struct spawn_result *r)
{
    int i, got = 0;

    for (i = 0; i < 500 && got == 0; i++) {
        got = spawn_reap(pid, r);
        if (got == 0)
            clock_sleep_ms(10);
    }
    assert_int_equal(got, 1);
}

/* spawn_start() with the test's stdout sent to a file: what the child wrote there. */
static const char *
start_into_file(const struct spawn_opts *o, struct spawn_result *r)
{
    static char text[512];
    char path[] = "/tmp/test_spawn_out.XXXXXX";
    int fd = mkstemp(path), saved;
    ssize_t n;
    pid_t pid;

    assert_true(fd != -1);
    unlink(path);
    fflush(stdout);
    saved = dup(1);
    assert_true(saved != -1);
    assert_int_equal(dup2(fd, 1), 1);
    assert_int_equal(spawn_start(o, &pid), AGENT_OK);
    assert_int_equal(dup2(saved, 1), 1);
    close(saved);
    reap(pid, r);
    n = pread(fd, text, sizeof(text) - 1, 0);
    assert_true(n >= 0);
    text[n] = '\0';
    close(fd);
    return text;
}

static void
test_start_shares_output_env_path(void **state)
{
    static const char *const echo[] = {"echo", "hello", NULL};
    static const char *const env[] = {"env", NULL};
    static const char *const named[] = {"shown-name", "by path", NULL};
    static const char *const vars[] = {"ONLY_THIS=1", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;

    (void)state;
    /* The child writes to the agent's own stdout; it exits 0. */
    o.argv = echo;
    assert_string_equal(start_into_file(&o, &r), "hello\n");
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.output.len, 0);
    spawn_result_cleanup(&r);

    /* Exactly the environment given. */
    o.argv = env;
    o.env = vars;
    assert_string_equal(start_into_file(&o, &r), "ONLY_THIS=1\n");
    spawn_result_cleanup(&r);

    /* path runs that file; argv[0] is only the name the child sees. */
    o.argv = named;
    o.env = NULL;
    o.path = "/bin/echo";
    assert_string_equal(start_into_file(&o, &r), "by path\n");
    spawn_result_cleanup(&r);
    assert_no_children();
}

static void
test_start_signal_and_exit_codes(void **state)
{
    static const char *const sleeper[] = {"sleep", "10", NULL};
    static const char *const f[] = {"/bin/false", NULL};
    static const char *const missing[] = {"/nonexistent/program-xyz", NULL};
    struct spawn_opts o = {0};
    struct spawn_result r;
    pid_t pid;

    (void)state;
    o.argv = sleeper;
    assert_int_equal(spawn_start(&o, &pid), AGENT_OK);
    assert_true(pid > 0);
    /* Running: not reaped, and asking again does not wait. */
    assert_int_equal(spawn_reap(pid, &r), 0);
    spawn_result_cleanup(&r);
    spawn_signal(pid, SIGTERM);
    reap(pid, &r);
    assert_int_equal(r.exited, 0);
    assert_int_equal(r.signal, SIGTERM);
    spawn_result_cleanup(&r);

    o.argv = f;
    assert_int_equal(spawn_start(&o, &pid), AGENT_OK);
    reap(pid, &r);
    assert_int_equal(r.exited, 1);
    assert_int_equal(r.exit_code, 1);
    spawn_result_cleanup(&r);

    /* posix_spawn reports a missing program at once. */
    o.argv = missing;
    assert_int_equal(spawn_start(&o, &pid), AGENT_ERR_IO);
    assert_int_equal(pid, -1);
    assert_non_null(strstr(logged(), "program-xyz"));
    assert_no_children();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_ignores_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_endless_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_minimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fds_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_stdin_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_shares_output_env_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_signal_and_exit_codes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
