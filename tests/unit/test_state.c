/* Unit tests of run/state: the state document, the lock, setting aside. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
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
#include "node/state.h"

static char dir[64];

static int
setup(void **unused)
{
    (void)unused;
    snprintf(dir, sizeof(dir), "/tmp/test_state.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **unused)
{
    char path[128];
    (void)unused;
    snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.previous", dir, STATE_FILE);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", dir, STATE_LOCK);
    unlink(path);
    rmdir(dir);
    log_redact_clear();
    return 0;
}

static void
fill(struct state *st)
{
    state_init(st);
    snprintf(st->instance_id, sizeof(st->instance_id), "i-0123456789abcdef0");
    snprintf(st->run.id, sizeof(st->run.id), "abc123");
    snprintf(st->run.started, sizeof(st->run.started), "2026-11-27T00:00:00Z");
    snprintf(st->run.finished, sizeof(st->run.finished), "2026-11-27T00:00:02Z");
    st->run.result = RUN_RESULT_FAILED;
    st->run.exit_code = 1;
    st->steps[STEP_DISCOVER].result = STEP_RESULT_OK;
    st->steps[STEP_DISCOVER].duration_ms = 12;
    st->steps[STEP_DISCOVER].attempts = 1;
    snprintf(st->steps[STEP_DISCOVER].started, 32, "2026-11-27T00:00:00Z");
    state_step_set_detail(&st->steps[STEP_DISCOVER], "i-0123 \"quoted\" \\ detail");
    st->steps[STEP_CONFIGURE].result = STEP_RESULT_FAILED;
    state_step_set_error(&st->steps[STEP_CONFIGURE], "cannot write");
    st->steps[STEP_SIGNAL].result = STEP_RESULT_SKIPPED;
    snprintf(st->applied.config_sha256, 65, "%064d", 7);
    snprintf(st->applied.download_etag, 256, "\"etag-1\"");
    snprintf(st->ready.at, 32, "2026-11-27T00:00:02Z");
    st->ready.signalled = STATE_SIGNALLED_LIFECYCLE | STATE_SIGNALLED_SYSTEMD;
    st->phase = STATE_PHASE_IN_SERVICE;
    st->pending.restart = (1u << STEP_CONFIGURE) | (1u << STEP_TLS);
}

static void
test_roundtrip(void **unused)
{
    struct state a, b;
    (void)unused;

    fill(&a);
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    assert_int_equal(state_load(dir, &b), AGENT_OK);
    assert_memory_equal(&a, &b, sizeof(a));
}

/* The drain object (design.md §4): round trip, null finished while draining, refusals. */
static void
test_drain_object(void **unused)
{
    struct state a, b;
    struct buf j;
    (void)unused;

    fill(&a);
    buf_init(&j, STATE_MAX);
    assert_int_equal(state_to_json(&a, &j), AGENT_OK);
    assert_null(strstr(j.data, "\"drain\""));
    buf_reset(&j);
    a.drain.state = DRAIN_STATE_DRAINING;
    snprintf(a.drain.reason, sizeof(a.drain.reason), "scale-in");
    snprintf(a.drain.started, sizeof(a.drain.started), "2026-12-07T08:00:00Z");
    a.drain.start_counts.n = 2;
    snprintf(a.drain.start_counts.item[0].name, STATE_COUNT_NAME, "connections");
    a.drain.start_counts.item[0].value = 37;
    snprintf(a.drain.start_counts.item[1].name, STATE_COUNT_NAME, "connections_websocket");
    a.drain.start_counts.item[1].value = 30;
    a.drain.last_counts = a.drain.start_counts;
    a.drain.last_counts.item[0].value = 2;
    assert_int_equal(state_to_json(&a, &j), AGENT_OK);
    assert_non_null(strstr(j.data, "\"state\":\t\"draining\""));
    assert_non_null(strstr(j.data, "\"finished\":\tnull"));
    assert_non_null(strstr(j.data, "\"connections_websocket\":\t30"));
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    assert_int_equal(state_load(dir, &b), AGENT_OK);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(state_counts_get(&b.drain.last_counts, "connections"), 2);
    assert_int_equal(state_counts_get(&b.drain.last_counts, "streams_viewers"), -1);
    a.drain.state = DRAIN_STATE_TIMED_OUT;
    snprintf(a.drain.finished, sizeof(a.drain.finished), "2026-12-07T09:00:00Z");
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    assert_int_equal(state_load(dir, &b), AGENT_OK);
    assert_string_equal(state_drain_str(b.drain.state), "timed_out");
    assert_string_equal(b.drain.finished, "2026-12-07T09:00:00Z");
    {
        static const char *const bad[] = {
            "{\"version\":1,\"drain\":{\"state\":\"resting\"}}",
            "{\"version\":1,\"drain\":{\"state\":\"drained\",\"start_counts\":[1]}}",
            "{\"version\":1,\"drain\":{\"state\":\"drained\",\"last_counts\":{\"c\":\"x\"}}}",
            "{\"version\":1,\"drain\":\"drained\"}",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            assert_int_equal(state_from_json(bad[i], strlen(bad[i]), &b), AGENT_ERR_PARSE);
    }
    buf_cleanup(&j);
}

/* The reconcile object (design.md §8.1): absent until the first, round trip, redaction, refusals.
 */
static void
test_reconcile_object(void **unused)
{
    static const char secret[] = "s3cr3t-reconcile-value";
    struct state a, b;
    struct buf j;
    (void)unused;

    fill(&a);
    buf_init(&j, STATE_MAX);
    assert_int_equal(state_to_json(&a, &j), AGENT_OK);
    assert_null(strstr(j.data, "\"reconcile\""));
    buf_reset(&j);
    a.reconcile.result = RECONCILE_CHANGED;
    snprintf(a.reconcile.at, sizeof(a.reconcile.at), "2026-12-07T21:00:00Z");
    snprintf(a.reconcile.run_id, sizeof(a.reconcile.run_id), "0123abcd");
    snprintf(a.reconcile.detail, sizeof(a.reconcile.detail), "changed: tls, service; service: %s",
             "restarted");
    assert_int_equal(state_to_json(&a, &j), AGENT_OK);
    assert_non_null(strstr(j.data, "\"result\":\t\"changed\""));
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    assert_int_equal(state_load(dir, &b), AGENT_OK);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_string_equal(state_reconcile_str(b.reconcile.result), "changed");
    /* A failure without a run of its own: no run_id; a secret in the cause is redacted. */
    a.reconcile.result = RECONCILE_FAILED;
    a.reconcile.run_id[0] = '\0';
    snprintf(a.reconcile.detail, sizeof(a.reconcile.detail), "secrets: bad value %s", secret);
    assert_int_equal(log_redact_add(secret, strlen(secret)), AGENT_OK);
    buf_reset(&j);
    assert_int_equal(state_to_json(&a, &j), AGENT_OK);
    assert_null(strstr(j.data, secret));
    assert_null(strstr(j.data, "\"run_id\""));
    assert_int_equal(state_from_json(j.data, j.len, &b), AGENT_OK);
    assert_int_equal(b.reconcile.result, RECONCILE_FAILED);
    assert_string_equal(b.reconcile.detail, "secrets: bad value ***");
    assert_string_equal(state_reconcile_str(RECONCILE_NONE), "");
    assert_string_equal(state_reconcile_str(RECONCILE_OK), "ok");
    {
        static const char *const bad[] = {
            "{\"version\":1,\"reconcile\":{\"result\":\"maybe\"}}",
            "{\"version\":1,\"reconcile\":{\"result\":\"ok\",\"at\":5}}",
            "{\"version\":1,\"reconcile\":\"ok\"}",
            "{\"version\":1,\"reconcile\":{}}",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            assert_int_equal(state_from_json(bad[i], strlen(bad[i]), &b), AGENT_ERR_PARSE);
    }
    buf_cleanup(&j);
}

static void
test_lock_wait(void **unused)
{
    int fd = -1, fd2 = -1, status;
    pid_t pid;
    int64_t t0;
    (void)unused;

    /* Free: taken at once. */
    assert_int_equal(state_lock_wait(dir, 1000, &fd), AGENT_OK);
    close(fd);
    /* Held by another process for 300 ms: waited for. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int cfd = -1;

        if (state_lock_quiet(dir, &cfd) != AGENT_OK)
            _exit(1);
        usleep(300 * 1000);
        _exit(0);
    }
    usleep(100 * 1000);
    t0 = clock_mono_ms();
    assert_int_equal(state_lock_wait(dir, 100, &fd2), AGENT_ERR_BUSY);
    assert_true(clock_mono_ms() - t0 >= 100);
    assert_int_equal(state_lock_wait(dir, 3000, &fd2), AGENT_OK);
    close(fd2);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_file_mode_and_fields(void **unused)
{
    struct state a;
    struct stat sb;
    struct buf b;
    char path[128];
    (void)unused;

    fill(&a);
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    buf_init(&b, STATE_MAX);
    assert_int_equal(fileio_read(path, &b), AGENT_OK);
    assert_non_null(strstr(b.data, "\"version\":\t1"));
    assert_non_null(strstr(b.data, "\"result\":\t\"failed\""));
    assert_non_null(strstr(b.data, "\"name\":\t\"signal\""));
    assert_non_null(strstr(b.data, "\"signalled\":\t[\"lifecycle:in-service\", \"systemd\"]"));
    assert_non_null(strstr(b.data, "\"phase\":\t\"in-service\""));
    assert_non_null(strstr(b.data, "\"restart\":\t[\"configure\", \"tls\"]"));
    assert_non_null(strstr(b.data, "\"error\":\t\"cannot write\""));
    buf_cleanup(&b);
}

/* 0.2: each lifecycle action once; 0.1's "lifecycle" reads as the in-service one. */
static void
test_phase_signalled_pending(void **unused)
{
    static const char old[] = "{\"version\":1,\"ready\":{\"at\":null,\"signalled\":"
                              "[\"lifecycle\",\"cloudformation\"]}}";
    static const char warm[] =
        "{\"version\":1,\"ready\":{\"signalled\":[\"lifecycle:warm\",\"systemd\"]},"
        "\"phase\":\"warm\",\"pending\":{\"restart\":[\"tls\",\"update\",\"tls\"]}}";
    static const char empty[] = "{\"version\":1,\"pending\":{\"restart\":[]},\"phase\":\"\"}";
    struct state st, back;
    struct buf b;
    char text[64];
    (void)unused;

    assert_int_equal(state_from_json(old, strlen(old), &st), AGENT_OK);
    assert_int_equal(st.ready.signalled,
                     STATE_SIGNALLED_LIFECYCLE | STATE_SIGNALLED_CLOUDFORMATION);
    assert_int_equal(st.phase, STATE_PHASE_NONE);
    assert_int_equal(st.pending.restart, 0);
    buf_init(&b, STATE_MAX);
    assert_int_equal(state_to_json(&st, &b), AGENT_OK);
    assert_non_null(strstr(b.data, "[\"lifecycle:in-service\", \"cloudformation\"]"));
    assert_null(strstr(b.data, "\"phase\""));
    assert_null(strstr(b.data, "\"restart\""));
    buf_cleanup(&b);

    assert_int_equal(state_from_json(warm, strlen(warm), &st), AGENT_OK);
    assert_int_equal(st.ready.signalled, STATE_SIGNALLED_LIFECYCLE_WARM | STATE_SIGNALLED_SYSTEMD);
    assert_int_equal(st.phase, STATE_PHASE_WARM);
    assert_int_equal(st.pending.restart, (1u << STEP_TLS) | (1u << STEP_UPDATE));
    state_steps_str(st.pending.restart, text, sizeof(text));
    assert_string_equal(text, "update, tls");
    buf_init(&b, STATE_MAX);
    assert_int_equal(state_to_json(&st, &b), AGENT_OK);
    assert_non_null(strstr(b.data, "[\"lifecycle:warm\", \"systemd\"]"));
    assert_non_null(strstr(b.data, "\"phase\":\t\"warm\""));
    assert_non_null(strstr(b.data, "\"restart\":\t[\"update\", \"tls\"]"));
    assert_int_equal(state_from_json(b.data, b.len, &back), AGENT_OK);
    assert_memory_equal(&st, &back, sizeof(st));
    buf_cleanup(&b);

    assert_int_equal(state_from_json(empty, strlen(empty), &st), AGENT_OK);
    assert_int_equal(st.pending.restart, 0);
    assert_int_equal(st.phase, STATE_PHASE_NONE);
    state_steps_str(0, text, sizeof(text));
    assert_string_equal(text, "");
    state_steps_str((1u << STEP_CONFIGURE) | (1u << STEP_LICENCE), text, 12);
    assert_string_equal(text, "configure");
    assert_string_equal(state_phase_str(STATE_PHASE_IN_SERVICE), "in-service");
}

static void
test_missing_and_corrupt(void **unused)
{
    struct state st;
    char path[128];
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "{\"version\":2}",
        "{\"version\":1,\"steps\":[{\"name\":\"nope\"}]}",
        "{\"version\":1,\"run\":{\"result\":\"bogus\"}}",
        "{\"version\":1,\"instance_id\":\"i-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"version\":1,\"steps\":[{\"name\":\"discover\",\"result\":\"ok\",\"duration_ms\":-5}]}",
        "{\"version\":1,\"phase\":\"cold\"}",
        "{\"version\":1,\"phase\":3}",
        "{\"version\":1,\"pending\":[]}",
        "{\"version\":1,\"pending\":{\"restart\":\"tls\"}}",
        "{\"version\":1,\"pending\":{\"restart\":[\"ready\"]}}",
        "{\"version\":1,\"pending\":{\"restart\":[\"bogus\"]}}",
        "{\"version\":1,\"pending\":{\"restart\":[7]}}",
    };
    size_t i;
    (void)unused;

    assert_int_equal(state_load(dir, &st), AGENT_ERR_ABSENT);
    snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fileio_write_atomic(path, bad[i], strlen(bad[i]), 0600, 0), AGENT_OK);
        assert_int_equal(state_load(dir, &st), AGENT_ERR_PARSE);
    }
}

static void
test_redaction(void **unused)
{
    struct state a;
    struct buf b;
    (void)unused;

    fill(&a);
    state_step_set_error(&a.steps[STEP_LICENCE], "activation said: key LIC-SECRET-42 rejected");
    assert_int_equal(log_redact_add("LIC-SECRET-42", 13), AGENT_OK);
    buf_init(&b, STATE_MAX);
    assert_int_equal(state_to_json(&a, &b), AGENT_OK);
    assert_null(strstr(b.data, "LIC-SECRET-42"));
    assert_non_null(strstr(b.data, "key *** rejected"));
    buf_cleanup(&b);
}

static void
test_set_aside(void **unused)
{
    struct state a, b;
    char path[128];
    (void)unused;

    fill(&a);
    assert_int_equal(state_set_aside(dir), AGENT_OK); /* nothing to move */
    assert_int_equal(state_save(dir, &a), AGENT_OK);
    assert_int_equal(state_set_aside(dir), AGENT_OK);
    assert_int_equal(state_load(dir, &b), AGENT_ERR_ABSENT);
    snprintf(path, sizeof(path), "%s/%s.previous", dir, STATE_FILE);
    assert_int_equal(access(path, F_OK), 0);
}

static void
test_lock(void **unused)
{
    int fd = -1, fd2 = -1, status;
    pid_t pid;
    (void)unused;

    assert_int_equal(state_lock_held(dir), 0);
    assert_int_equal(state_lock(dir, &fd), AGENT_OK);
    /* flock is per open file description: a second open in this process conflicts too. */
    assert_int_equal(state_lock(dir, &fd2), AGENT_ERR_BUSY);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(state_lock_held(dir) == 1 ? 0 : 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    assert_int_equal(state_lock_held(dir), 0);
    assert_int_equal(state_lock(dir, &fd2), AGENT_OK);
    close(fd2);
}

static void
test_names(void **unused)
{
    int i;
    (void)unused;

    for (i = 0; i < STEP__MAX; i++)
        assert_int_equal(state_step_by_name(state_step_name((enum step_id)i)), i);
    assert_int_equal(state_step_by_name("bogus"), STEP__MAX);
    assert_null(state_step_name(STEP__MAX));
    assert_string_equal(state_step_name(STEP_LICENCE), "licence");
}

static void
test_text_truncation(void **unused)
{
    struct state_step s;
    char longtext[600];
    (void)unused;

    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    state_step_set_detail(&s, longtext);
    assert_int_equal(strlen(s.detail), sizeof(s.detail) - 1);
    assert_string_equal(s.detail + sizeof(s.detail) - 4, "...");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_corrupt, setup, teardown),
        cmocka_unit_test(test_phase_signalled_pending),
        cmocka_unit_test_setup_teardown(test_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_text_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
