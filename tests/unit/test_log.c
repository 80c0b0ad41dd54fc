/* Unit tests of core/log: text and JSON lines, journal prefixes, redaction, escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/log.h"

/* Lines are captured in an unlinked temporary file. */
static int cap_fd = -1;
static char cap_text[65536];

static int
setup(void **state)
{
    char path[] = "/tmp/test_log.XXXXXX";

    (void)state;
    cap_fd = mkstemp(path);
    if (cap_fd == -1)
        return -1;
    unlink(path);
    unsetenv("JOURNAL_STREAM");
    log_init(0, LOG_FMT_TEXT);
    log_set_step(NULL);
    log_set_fd(cap_fd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    log_set_fd(-1);
    log_set_step(NULL);
    log_redact_clear();
    clock_set_fake(0);
    unsetenv("JOURNAL_STREAM");
    close(cap_fd);
    cap_fd = -1;
    return 0;
}

/* Everything written since the last call. */
static const char *
captured(void)
{
    ssize_t n;

    n = pread(cap_fd, cap_text, sizeof(cap_text) - 1, 0);
    assert_true(n >= 0);
    cap_text[n] = '\0';
    assert_int_equal(ftruncate(cap_fd, 0), 0);
    assert_true(lseek(cap_fd, 0, SEEK_SET) == 0);
    return cap_text;
}

static int
count_char(const char *s, char c)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

static void
test_text(void **state)
{
    (void)state;
    log_info("hello %d", 5);
    assert_string_equal(captured(), "wcs-agent: hello 5\n");
    log_set_step("imds");
    log_errx("token request: HTTP %d", 403);
    assert_string_equal(captured(), "wcs-agent: imds: token request: HTTP 403\n");
    log_set_step(NULL);
    log_msg(LOG_LVL_WARN, "w");
    assert_string_equal(captured(), "wcs-agent: w\n");
}

static void
test_verbosity(void **state)
{
    (void)state;
    log_init(0, LOG_FMT_TEXT);
    log_debug("d");
    log_trace("t");
    assert_string_equal(captured(), "");
    log_warnx("w");
    assert_string_equal(captured(), "wcs-agent: w\n");
    assert_true(log_enabled(LOG_LVL_INFO));
    assert_false(log_enabled(LOG_LVL_DEBUG));

    log_init(1, LOG_FMT_TEXT);
    log_debug("d");
    log_trace("t");
    assert_string_equal(captured(), "wcs-agent: d\n");

    log_init(2, LOG_FMT_TEXT);
    log_trace("t");
    assert_string_equal(captured(), "wcs-agent: t\n");
    assert_true(log_enabled(LOG_LVL_TRACE));

    log_init(-1, LOG_FMT_TEXT);
    log_info("i");
    log_warnx("w");
    log_errx("e");
    assert_string_equal(captured(), "wcs-agent: e\n");
    assert_false(log_enabled(LOG_LVL_WARN));
    assert_true(log_enabled(LOG_LVL_ERR));
    /* What log_init() was given, for a child started with the same options. */
    assert_int_equal(log_get_verbosity(), -1);
    assert_int_equal(log_get_format(), LOG_FMT_TEXT);
    log_init(2, LOG_FMT_JSON);
    assert_int_equal(log_get_verbosity(), 2);
    assert_int_equal(log_get_format(), LOG_FMT_JSON);
    log_init(0, LOG_FMT_TEXT);
}

static void
test_journal_prefix(void **state)
{
    (void)state;
    setenv("JOURNAL_STREAM", "8:12345", 1);
    log_init(2, LOG_FMT_TEXT);
    log_errx("e");
    log_warnx("w");
    log_info("i");
    log_debug("d");
    log_trace("t");
    assert_string_equal(captured(),
                        "<3>wcs-agent: e\n<4>wcs-agent: w\n<6>wcs-agent: i\n<7>wcs-agent: d\n"
                        "<7>wcs-agent: t\n");
    /* Empty JOURNAL_STREAM: no prefix. */
    setenv("JOURNAL_STREAM", "", 1);
    log_init(0, LOG_FMT_TEXT);
    log_info("i");
    assert_string_equal(captured(), "wcs-agent: i\n");
}

static void
test_errno(void **state)
{
    (void)state;
    errno = ENOENT;
    log_err("open %s", "/x");
    assert_int_equal(errno, ENOENT);
    assert_string_equal(captured(), "wcs-agent: open /x: No such file or directory\n");
    errno = EACCES;
    log_info("x");
    log_debug("y");
    log_errx("z");
    assert_int_equal(errno, EACCES);
    captured();
}

static void
test_crlf_escaped(void **state)
{
    const char *s;

    (void)state;
    log_info("user said: %s", "ok\nwcs-agent: forged line\r\x1b[31m");
    s = captured();
    assert_string_equal(s, "wcs-agent: user said: ok\\nwcs-agent: forged line\\r\\x1b[31m\n");
    assert_int_equal(count_char(s, '\n'), 1);
}

static void
test_json(void **state)
{
    cJSON *j;
    const char *s;

    (void)state;
    clock_set_fake(1795738711);
    log_init(0, LOG_FMT_JSON);
    log_warnx("q\"b\\s\n\t\x01 caf\xc3\xa9 bad\xff end");
    s = captured();
    assert_string_equal(s, "{\"ts\":\"2026-11-27T00:18:31.000Z\",\"level\":\"warn\",\"step\":null,"
                           "\"msg\":\"q\\\"b\\\\s\\n\\t\\u0001 caf\xc3\xa9 bad\\ufffd end\"}\n");
    assert_int_equal(count_char(s, '\n'), 1);

    log_set_step("config");
    log_errx("x");
    s = captured();
    j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "step")->valuestring, "config");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, "x");
    cJSON_Delete(j);

    /* The real clock: milliseconds present. */
    clock_set_fake(0);
    log_info("m");
    s = captured();
    assert_int_equal(strlen("{\"ts\":\"2026-11-27T00:18:31.000Z\""), 32);
    assert_true(strncmp(s, "{\"ts\":\"", 7) == 0);
    assert_true(s[26] == '.' && s[30] == 'Z' && s[31] == '"');
    j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "info");
    cJSON_Delete(j);
}

static void
test_json_round_trip(void **state)
{
    static const char msg[] = "a\"b\\c\x7f\x1f/<>\r\n\b\f end";
    cJSON *j;

    (void)state;
    log_init(0, LOG_FMT_JSON);
    log_info("%s", msg);
    j = cJSON_Parse(captured());
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, msg);
    cJSON_Delete(j);
}

static void
test_redact(void **state)
{
    char *r;

    (void)state;
    assert_int_equal(log_redact_add("hunter2", 7), AGENT_OK);
    assert_int_equal(log_redact_add("", 0), AGENT_OK); /* ignored */
    log_info("pw=hunter2 and again hunter2.");
    assert_string_equal(captured(), "wcs-agent: pw=*** and again ***.\n");
    errno = ENOENT;
    log_err("file hunter2");
    assert_string_equal(captured(), "wcs-agent: file ***: No such file or directory\n");

    r = log_redact("hunter2hunter2 x");
    assert_string_equal(r, "*** x");
    free(r);

    log_redact_clear();
    log_info("hunter2");
    assert_string_equal(captured(), "wcs-agent: hunter2\n");
    r = log_redact("hunter2");
    assert_string_equal(r, "hunter2");
    free(r);
    assert_null(log_redact(NULL));
}

static void
test_redact_overlap(void **state)
{
    char *r;

    (void)state;
    /* Overlapping: neither tail nor head of either secret may survive. */
    assert_int_equal(log_redact_add("abcdef", 6), AGENT_OK);
    assert_int_equal(log_redact_add("defghi", 6), AGENT_OK);
    r = log_redact("x abcdefghi y defghiabcdef z");
    assert_string_equal(r, "x *** y *** z");
    free(r);
    log_redact_clear();

    /* Nested: the longer secret is covered whole, whichever came first. */
    assert_int_equal(log_redact_add("secret", 6), AGENT_OK);
    assert_int_equal(log_redact_add("mysecretvalue", 13), AGENT_OK);
    r = log_redact("[mysecretvalue] [secret]");
    assert_string_equal(r, "[***] [***]");
    free(r);
    log_redact_clear();

    /* Same value added twice, and a one-byte secret. */
    assert_int_equal(log_redact_add("Q", 1), AGENT_OK);
    assert_int_equal(log_redact_add("Q", 1), AGENT_OK);
    r = log_redact("aQbQQc");
    assert_string_equal(r, "a***b***c");
    free(r);
}

/* Issue 9 item 3: a secret's trimmed form and the lines of a multi-line one. */
static void
test_redact_variants(void **state)
{
    static const char pem[] = "-----BEGIN PRIVATE KEY-----\r\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\r\n"
                              "  c2hvcnQ=\r\n"
                              "ab==\r\n"
                              "-----END PRIVATE KEY-----\r\n";
    char *r;

    (void)state;
    /* A file: licence with a trailing newline, echoed back by a child without it. */
    assert_int_equal(log_redact_add("LIC-FILE-SECRET-777\n", 20), AGENT_OK);
    log_info("licence: Activating licence LIC-FILE-SECRET-777");
    assert_string_equal(captured(), "wcs-agent: licence: Activating licence ***\n");
    log_redact_clear();

    /* Blanks on both ends. */
    assert_int_equal(log_redact_add(" \tpa55word \r\n", 14), AGENT_OK);
    r = log_redact("[pa55word]");
    assert_string_equal(r, "[***]");
    free(r);
    log_redact_clear();

    /* Each line (trimmed) of LOG_REDACT_LINE_MIN bytes or more, logged alone. */
    assert_int_equal(log_redact_add(pem, strlen(pem)), AGENT_OK);
    log_info("key: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    assert_string_equal(captured(), "wcs-agent: key: ***\n");
    r = log_redact("x c2hvcnQ= y -----END PRIVATE KEY----- z");
    assert_string_equal(r, "x *** y *** z");
    free(r);
    /* A line shorter than the minimum is not redacted on its own (it would garble text). */
    r = log_redact("ab== stays");
    assert_string_equal(r, "ab== stays");
    free(r);
}

static void
test_redact_before_escape(void **state)
{
    (void)state;
    /* A secret with a quote and a newline is matched on the raw message. */
    assert_int_equal(log_redact_add("pa\"s\ns", 6), AGENT_OK);
    log_info("v=pa\"s\ns;");
    assert_string_equal(captured(), "wcs-agent: v=***;\n");
    log_init(0, LOG_FMT_JSON);
    clock_set_fake(1795738711);
    log_info("v=pa\"s\ns;");
    assert_string_equal(captured(), "{\"ts\":\"2026-11-27T00:18:31.000Z\",\"level\":\"info\","
                                    "\"step\":null,\"msg\":\"v=***;\"}\n");
}

static void
test_long_message(void **state)
{
    char *big;
    const char *s;
    size_t n;

    (void)state;
    big = malloc(40001);
    assert_non_null(big);
    memset(big, 'x', 40000);
    big[40000] = '\0';
    /* A secret across the cut point is still removed whole. */
    memcpy(big + 16370, "TOPSECRETVALUE", 14);
    assert_int_equal(log_redact_add("TOPSECRETVALUE", 14), AGENT_OK);
    log_info("%s", big);
    s = captured();
    n = strlen(s);
    assert_true(n < 17000);
    assert_null(strstr(s, "TOPSEC"));
    assert_true(strcmp(s + n - 15, "...[truncated]\n") == 0);
    assert_int_equal(count_char(s, '\n'), 1);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verbosity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_before_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
