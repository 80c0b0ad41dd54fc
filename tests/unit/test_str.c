/* Unit tests of core/str: copies, numbers, validators, hex, sha256, base64, argv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"

static void
test_copy(void **state)
{
    char d[4];

    (void)state;
    assert_int_equal(str_copy(d, sizeof(d), "abc"), AGENT_OK);
    assert_string_equal(d, "abc");
    assert_int_equal(str_copy(d, sizeof(d), "abcd"), AGENT_ERR_TOOBIG);
    assert_string_equal(d, "");
    assert_int_equal(str_copy(d, sizeof(d), ""), AGENT_OK);
    assert_string_equal(d, "");
    assert_int_equal(str_copyn(d, sizeof(d), "abcdef", 3), AGENT_OK);
    assert_string_equal(d, "abc");
    assert_int_equal(str_copyn(d, sizeof(d), "abcdef", 4), AGENT_ERR_TOOBIG);
    assert_string_equal(d, "");
    assert_int_equal(str_copy(d, 0, "a"), AGENT_ERR_TOOBIG);
}

static void
test_dup(void **state)
{
    char *p;

    (void)state;
    assert_null(str_dup(NULL));
    p = str_dup("xyz");
    assert_string_equal(p, "xyz");
    free(p);
    p = str_ndup("xyzzy", 2);
    assert_string_equal(p, "xy");
    free(p);
    p = str_ndup("", 0);
    assert_string_equal(p, "");
    str_free_secret(p);
    str_free_secret(NULL);
}

struct ll_case {
    const char *s;
    long long min, max;
    enum agent_rc rc;
    long long v;
};

static void
test_to_ll(void **state)
{
    static const struct ll_case cases[] = {
        {"0", 0, 10, AGENT_OK, 0},
        {"10", 0, 10, AGENT_OK, 10},
        {"11", 0, 10, AGENT_ERR_INVAL, 0},
        {"-1", 0, 10, AGENT_ERR_INVAL, 0},
        {"-5", -10, 10, AGENT_OK, -5},
        {"+7", 0, 10, AGENT_OK, 7},
        {"007", 0, 10, AGENT_OK, 7},
        {"", 0, 10, AGENT_ERR_INVAL, 0},
        {" 1", 0, 10, AGENT_ERR_INVAL, 0},
        {"1 ", 0, 10, AGENT_ERR_INVAL, 0},
        {"1x", 0, 10, AGENT_ERR_INVAL, 0},
        {"0x10", 0, 100, AGENT_ERR_INVAL, 0},
        {"-", -10, 10, AGENT_ERR_INVAL, 0},
        {"+", -10, 10, AGENT_ERR_INVAL, 0},
        {"+-1", -10, 10, AGENT_ERR_INVAL, 0},
        {"--1", -10, 10, AGENT_ERR_INVAL, 0},
        {"1.5", 0, 10, AGENT_ERR_INVAL, 0},
        {"9223372036854775807", 0, INT64_MAX, AGENT_OK, INT64_MAX},
        {"9223372036854775808", 0, INT64_MAX, AGENT_ERR_INVAL, 0},
        {"-9223372036854775808", INT64_MIN, 0, AGENT_OK, INT64_MIN},
        {"-9223372036854775809", INT64_MIN, 0, AGENT_ERR_INVAL, 0},
        {"99999999999999999999999", INT64_MIN, INT64_MAX, AGENT_ERR_INVAL, 0},
    };
    size_t i;
    long long v;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 12345;
        assert_int_equal(str_to_ll(cases[i].s, cases[i].min, cases[i].max, &v), cases[i].rc);
        if (cases[i].rc == AGENT_OK)
            assert_true(v == cases[i].v);
        else
            assert_true(v == 12345); /* out unchanged */
    }
    assert_int_equal(str_to_ll(NULL, 0, 1, &v), AGENT_ERR_INVAL);
}

static void
test_to_int_bool(void **state)
{
    int v = 99;

    (void)state;
    assert_int_equal(str_to_int("65535", 1, 65535, &v), AGENT_OK);
    assert_int_equal(v, 65535);
    assert_int_equal(str_to_int("65536", 1, 65535, &v), AGENT_ERR_INVAL);
    assert_int_equal(str_to_int("4294967296", INT32_MIN, INT32_MAX, &v), AGENT_ERR_INVAL);
    assert_int_equal(v, 65535);

    assert_int_equal(str_to_bool("TRUE", &v), AGENT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(str_to_bool("off", &v), AGENT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(str_to_bool("Yes", &v), AGENT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(str_to_bool("0", &v), AGENT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(str_to_bool("2", &v), AGENT_ERR_INVAL);
    assert_int_equal(str_to_bool("", &v), AGENT_ERR_INVAL);
    assert_int_equal(str_to_bool("truex", &v), AGENT_ERR_INVAL);
    assert_int_equal(str_to_bool(" true", &v), AGENT_ERR_INVAL);
    assert_int_equal(v, 0);
}

static void
test_prefix_suffix_trim_case(void **state)
{
    char s[] = " \t hello world \r\n";
    char e[] = "   ";

    (void)state;
    assert_true(str_has_prefix("abcdef", "abc"));
    assert_true(str_has_prefix("abc", ""));
    assert_false(str_has_prefix("ab", "abc"));
    assert_true(str_has_suffix("abcdef", "def"));
    assert_false(str_has_suffix("ef", "def"));
    assert_true(str_has_suffix("x", ""));
    assert_string_equal(str_trim(s), "hello world");
    assert_string_equal(str_trim(e), "");
    assert_int_equal(str_casecmp("HeLLo", "hello"), 0);
    assert_true(str_casecmp("a", "b") < 0);
    assert_true(str_casecmp("abc", "ab") > 0);
    assert_int_equal(str_ncasecmp("HEADER: x", "header: y", 7), 0);
    assert_true(str_ncasecmp("HEADER: x", "header: y", 9) != 0);
    assert_int_equal(str_ncasecmp("ab", "AB", 10), 0);
}

static void
test_wipe(void **state)
{
    char s[] = "secret";

    (void)state;
    str_wipe(s, sizeof(s));
    assert_memory_equal(s, "\0\0\0\0\0\0\0", 7);
    str_wipe(NULL, 5);
}

static void
test_hex_sha256(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x01, 0xab, 0xff};
    char out[65];
    char small[8];

    (void)state;
    assert_int_equal(str_hex(bytes, 4, out, sizeof(out)), AGENT_OK);
    assert_string_equal(out, "0001abff");
    assert_int_equal(str_hex(bytes, 4, small, 9 - 1), AGENT_ERR_TOOBIG);
    assert_int_equal(str_hex(bytes, 0, small, 1), AGENT_OK);
    assert_string_equal(small, "");

    str_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    str_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct b64_case {
    const char *in;
    enum agent_rc rc;
    const char *out;
    size_t outlen;
};

static void
test_base64(void **state)
{
    static const struct b64_case cases[] = {
        {"", AGENT_OK, "", 0},
        {"Zg==", AGENT_OK, "f", 1},
        {"Zg", AGENT_OK, "f", 1},
        {"Zm8=", AGENT_OK, "fo", 2},
        {"Zm8", AGENT_OK, "fo", 2},
        {"Zm9v", AGENT_OK, "foo", 3},
        {"Zm9vYmFy", AGENT_OK, "foobar", 6},
        {"Zm9v\nYmFy\r\n", AGENT_OK, "foobar", 6},
        {" Zm 9v Ym Fy ", AGENT_OK, "foobar", 6},
        {"AP8=", AGENT_OK, "\x00\xff", 2},
        {"+/+/", AGENT_OK, "\xfb\xff\xbf", 3},
        {"Zm9v!", AGENT_ERR_PARSE, NULL, 0},
        {"Zm-v", AGENT_ERR_PARSE, NULL, 0},
        {"Zg=a", AGENT_ERR_PARSE, NULL, 0},
        {"Z", AGENT_ERR_PARSE, NULL, 0},
        {"Zm9vY", AGENT_ERR_PARSE, NULL, 0},
        {"Zg=", AGENT_ERR_PARSE, NULL, 0},
        {"Zg===", AGENT_ERR_PARSE, NULL, 0},
        {"Zm9v=", AGENT_ERR_PARSE, NULL, 0},
    };
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_init(&b, 100);
        assert_int_equal(buf_puts(&b, "pre:"), AGENT_OK);
        assert_int_equal(str_base64_decode(cases[i].in, strlen(cases[i].in), &b), cases[i].rc);
        if (cases[i].rc == AGENT_OK) {
            assert_int_equal(b.len, 4 + cases[i].outlen);
            assert_memory_equal(b.data + 4, cases[i].out, cases[i].outlen);
        } else {
            assert_string_equal(buf_cstr(&b), "pre:"); /* unchanged */
        }
        buf_cleanup(&b);
    }
    /* Length-bounded: the bytes after n are not read. */
    buf_init(&b, 100);
    assert_int_equal(str_base64_decode("Zm9v!!!", 4, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "foo");
    buf_cleanup(&b);
    /* Cap of the output buffer. */
    buf_init(&b, 5);
    assert_int_equal(str_base64_decode("Zm9vYmFy", 8, &b), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

static void
test_split_argv(void **state)
{
    char **argv = NULL;

    (void)state;
    assert_int_equal(str_split_argv("  /usr/bin/systemctl\trestart  webcallserver ", &argv),
                     AGENT_OK);
    assert_string_equal(argv[0], "/usr/bin/systemctl");
    assert_string_equal(argv[1], "restart");
    assert_string_equal(argv[2], "webcallserver");
    assert_null(argv[3]);
    str_argv_free(argv);

    /* No quoting: quotes and shell characters are plain bytes. */
    assert_int_equal(str_split_argv("echo \"a b\";rm", &argv), AGENT_OK);
    assert_string_equal(argv[0], "echo");
    assert_string_equal(argv[1], "\"a");
    assert_string_equal(argv[2], "b\";rm");
    assert_null(argv[3]);
    str_argv_free(argv);

    argv = NULL;
    assert_int_equal(str_split_argv("", &argv), AGENT_ERR_INVAL);
    assert_int_equal(str_split_argv(" \t ", &argv), AGENT_ERR_INVAL);
    assert_null(argv);
    str_argv_free(NULL);
}

struct valid_case {
    const char *s;
    int ok;
};

static void
check_table(int (*fn)(const char *), const struct valid_case *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (fn(c[i].s) != c[i].ok)
            fail_msg("\"%s\": expected %d", c[i].s, c[i].ok);
    }
}

static void
test_instance_id(void **state)
{
    static const struct valid_case c[] = {
        {"i-0123abcd", 1},
        {"i-0123456789abcdef0", 1},
        {"i-0123ABCD", 0},
        {"i-0123abc", 0},
        {"i-0123abcde", 0},
        {"i-0123456789abcdef", 0},
        {"i-0123456789abcdef01", 0},
        {"i-0123abcg", 0},
        {"x-0123abcd", 0},
        {"i-", 0},
        {"", 0},
        {"i-0123abcd ", 0},
    };

    (void)state;
    check_table(str_is_instance_id, c, sizeof(c) / sizeof(c[0]));
    assert_false(str_is_instance_id(NULL));
}

static void
test_region(void **state)
{
    static const struct valid_case c[] = {
        {"eu-west-1", 1},
        {"us-gov-west-1", 1},
        {"cn-north-1", 1},
        {"ap-southeast-4", 1},
        {"us-isob-east-1", 1},
        {"il-central-1", 1},
        {"eu-west", 0},
        {"euwest-1", 0},
        {"EU-west-1", 0},
        {"e-west-1", 0},
        {"eu-west-1a", 0},
        {"eu--1", 0},
        {"eu-west-", 0},
        {"eu-west-1 ", 0},
        {"eu-west-1\n", 0},
        {"-west-1", 0},
        {"", 0},
        {"eu-1", 0},
        {"eu-west-1/../x", 0},
    };

    (void)state;
    check_table(str_is_region, c, sizeof(c) / sizeof(c[0]));
    assert_false(str_is_region(NULL));
}

static void
test_arn(void **state)
{
    static const struct valid_case c[] = {
        {"arn:aws:secretsmanager:eu-west-1:123456789012:secret:wcs/licence-AbCdEf", 1},
        {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef", 1},
        {"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/wcs/x", 1},
        {"arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/x", 1},
        {"arn:aws-iso-b:ssm:us-isob-east-1:123456789012:parameter/x", 1},
        {"arn:aws:s3:::my-bucket/key", 1},
        {"arn:aws:iam::123456789012:role/wcs", 1},
        {"arn:aws:iam::aws:policy/ReadOnlyAccess", 1},
        {"arn:azure:ssm:eu-west-1:123456789012:parameter/x", 0},
        {"arn:aws::eu-west-1:123456789012:parameter/x", 0},
        {"arn:aws:ssm:eu-west-1:123456789012:", 0},
        {"arn:aws:ssm:eu-west-1:12345:parameter/x", 0},
        {"arn:aws:ssm:bad_region:123456789012:parameter/x", 0},
        {"arn:aws:ssm:eu-west-1:123456789012", 0},
        {"arn:aws:ssm:eu-west-1:123456789012:para meter", 0},
        {"arn:aws:ssm:eu-west-1:123456789012:x\n", 0},
        {"aws:ssm:eu-west-1:123456789012:parameter/x", 0},
        {"", 0},
    };

    (void)state;
    check_table(str_is_arn, c, sizeof(c) / sizeof(c[0]));
    assert_false(str_is_arn(NULL));
}

static void
test_ipv4(void **state)
{
    static const struct valid_case c[] = {
        {"10.0.0.1", 1},  {"255.255.255.255", 1}, {"0.0.0.0", 1},
        {"256.0.0.1", 0}, {"10.0.0", 0},          {"10.0.0.1.2", 0},
        {"::1", 0},       {" 10.0.0.1", 0},       {"10.0.0.1 ", 0},
        {"", 0},
    };

    (void)state;
    check_table(str_is_ipv4, c, sizeof(c) / sizeof(c[0]));
    assert_false(str_is_ipv4(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_to_ll),
        cmocka_unit_test(test_to_int_bool),
        cmocka_unit_test(test_prefix_suffix_trim_case),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_hex_sha256),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_split_argv),
        cmocka_unit_test(test_instance_id),
        cmocka_unit_test(test_region),
        cmocka_unit_test(test_arn),
        cmocka_unit_test(test_ipv4),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
