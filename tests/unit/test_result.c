/*
 * run/result: the console line (appended, never created) and the cut of the
 * wcs-agent:result tag value; the state remembers the last tag written.
 */
#include <sys/stat.h>

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
#include "core/log.h"
#include "node/state.h"
#include "run/result.h"

static char dir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_result.XXXXXX");
    assert_non_null(mkdtemp(dir));
    log_init(-1, LOG_FMT_TEXT);
    return 0;
}

static int
teardown(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/console", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void
test_console(void **state)
{
    char path[128], text[256] = "";
    struct stat sb;
    FILE *f;
    size_t n;

    (void)state;
    snprintf(path, sizeof(path), "%s/console", dir);
    /* Never created. */
    assert_int_equal(result_write_console(path, "wcs-agent: failed at x: y"), AGENT_ERR_ABSENT);
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(result_write_console(NULL, "x"), AGENT_ERR_ABSENT);
    assert_int_equal(result_write_console("", "x"), AGENT_ERR_ABSENT);
    /* Appended to what is there. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("boot\n", f);
    fclose(f);
    assert_int_equal(result_write_console(path, "wcs-agent: failed at secrets: AccessDenied"),
                     AGENT_OK);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_string_equal(text, "boot\nwcs-agent: failed at secrets: AccessDenied\n");
    /* Unwritable: refused, not fatal. */
    if (geteuid() != 0) {
        chmod(path, 0400);
        assert_int_equal(result_write_console(path, "x"), AGENT_ERR_IO);
    }
    /* A folder is not a console. */
    assert_int_equal(result_write_console(dir, "x"), AGENT_ERR_IO);
}

static void
test_cut(void **state)
{
    char out[16];

    (void)state;
    result_cut(out, sizeof(out), 10, "short");
    assert_string_equal(out, "short");
    result_cut(out, sizeof(out), 10, "0123456789abc");
    assert_string_equal(out, "0123456789");
    /* "é" is two bytes: a cut inside it drops it whole. */
    result_cut(out, sizeof(out), 10, "012345678\xc3\xa9");
    assert_string_equal(out, "012345678");
    result_cut(out, sizeof(out), 11, "012345678\xc3\xa9z");
    assert_string_equal(out, "012345678\xc3\xa9");
    /* A three-byte character cut after its first or second byte. */
    result_cut(out, sizeof(out), 9, "0123456\xe2\x82\xac");
    assert_string_equal(out, "0123456");
    result_cut(out, sizeof(out), 8, "0123456\xe2\x82\xac");
    assert_string_equal(out, "0123456");
    /* Control bytes become spaces; max beyond the room is held to it. */
    result_cut(out, sizeof(out), 100,
               "a\nb\tc\x7f"
               "0123456789abcdef");
    assert_string_equal(out, "a b c 012345678");
}

static void
test_state_remembers_tag(void **state)
{
    struct state st, back;
    struct buf b;

    (void)state;
    state_init(&st);
    snprintf(st.instance_id, sizeof(st.instance_id), "i-0123456789abcdef0");
    buf_init(&b, STATE_MAX);
    assert_int_equal(state_to_json(&st, &b), AGENT_OK);
    assert_null(strstr(b.data, "result_tag"));
    snprintf(st.result_tag, sizeof(st.result_tag), "failed at configure: no such folder");
    buf_reset(&b);
    assert_int_equal(state_to_json(&st, &b), AGENT_OK);
    assert_non_null(strstr(b.data, "\"result_tag\":"));
    assert_int_equal(state_from_json(b.data, b.len, &back), AGENT_OK);
    assert_string_equal(back.result_tag, "failed at configure: no such folder");
    buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console, setup, teardown),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_state_remembers_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
