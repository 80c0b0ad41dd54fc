/*
 * Unit tests of secretref: the reference forms of design.md §3.4, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/secretref.h"

struct good_case {
    const char *value;
    enum secretref_kind kind;
    const char *name;
    const char *field;
    const char *bucket;
    const char *key;
};

struct bad_case {
    const char *value;
    const char *want; /* in the error text */
};

static void
expect_str(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void
test_good(void **state)
{
    static const struct good_case cases[] = {
        {"ssm:/wcs/licence", SECRETREF_SSM, "/wcs/licence", NULL, NULL, NULL},
        {"ssm:wcs.licence-key_1", SECRETREF_SSM, "wcs.licence-key_1", NULL, NULL, NULL},
        {"ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/wcs/licence", SECRETREF_SSM,
         "arn:aws:ssm:eu-west-1:123456789012:parameter/wcs/licence", NULL, NULL, NULL},
        {"secretsmanager:wcs/tls", SECRETREF_SECRETSMANAGER, "wcs/tls", NULL, NULL, NULL},
        {"secretsmanager:wcs/tls#private_key", SECRETREF_SECRETSMANAGER, "wcs/tls", "private_key",
         NULL, NULL},
        {"secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:wcs-AbCdEf#pw",
         SECRETREF_SECRETSMANAGER,
         "arn:aws:secretsmanager:us-east-1:123456789012:secret:wcs-AbCdEf", "pw", NULL, NULL},
        {"secretsmanager:a+b=c.d@e-f", SECRETREF_SECRETSMANAGER, "a+b=c.d@e-f", NULL, NULL, NULL},
        {"s3://my-bucket/certs/node.pem", SECRETREF_S3, NULL, NULL, "my-bucket", "certs/node.pem"},
        {"s3://a.b-c/k", SECRETREF_S3, NULL, NULL, "a.b-c", "k"},
        {"s3://abc/dir/with space.pem", SECRETREF_S3, NULL, NULL, "abc", "dir/with space.pem"},
        {"file:/etc/wcs-agent/licence", SECRETREF_FILE, "/etc/wcs-agent/licence", NULL, NULL, NULL},
        {"env:WCS_LICENCE", SECRETREF_ENV, "WCS_LICENCE", NULL, NULL, NULL},
        {"env:_x1", SECRETREF_ENV, "_x1", NULL, NULL, NULL},
        {"password", SECRETREF_LITERAL, "password", NULL, NULL, NULL},
        {"", SECRETREF_LITERAL, "", NULL, NULL, NULL},
        {"SSM:/upper/is/literal", SECRETREF_LITERAL, "SSM:/upper/is/literal", NULL, NULL, NULL},
        {"s3:/one-slash", SECRETREF_LITERAL, "s3:/one-slash", NULL, NULL, NULL},
        {"XXXX-YYYY-{ZZZZ}", SECRETREF_LITERAL, "XXXX-YYYY-{ZZZZ}", NULL, NULL, NULL},
    };
    size_t i;
    char err[256];

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct secretref r;
        enum agent_rc rc;

        memset(&r, 0x55, sizeof(r));
        rc = secretref_parse(cases[i].value, &r, err, sizeof(err));
        if (rc != AGENT_OK)
            print_message("case %zu \"%s\": %s\n", i, cases[i].value, err);
        assert_int_equal(rc, AGENT_OK);
        assert_int_equal(r.kind, cases[i].kind);
        expect_str(r.name, cases[i].name);
        expect_str(r.field, cases[i].field);
        expect_str(r.bucket, cases[i].bucket);
        expect_str(r.key, cases[i].key);
        assert_int_equal(secretref_is_reference(cases[i].value),
                         cases[i].kind != SECRETREF_LITERAL);
        secretref_cleanup(&r);
        assert_null(r.name);
    }
}

static void
test_bad(void **state)
{
    static const struct bad_case cases[] = {
        {"ssm:", "ssm: empty parameter name"},
        {"ssm:has space", "ssm: parameter name may hold only"},
        {"ssm:a:b", "ssm: parameter name may hold only"},
        {"ssm:arn:aws:s3:::bucket/x", "ssm: not an SSM parameter ARN"},
        {"secretsmanager:", "secretsmanager: empty secret id"},
        {"secretsmanager:#field", "secretsmanager: empty secret id"},
        {"secretsmanager:id#", "secretsmanager: empty field"},
        {"secretsmanager:id#a b", "secretsmanager: field must be"},
        {"secretsmanager:bad id", "secretsmanager: secret id may hold only"},
        {"secretsmanager:arn:aws:ssm:eu-west-1:123456789012:parameter/x",
         "not a Secrets Manager secret ARN"},
        {"s3://", "s3: expected s3://BUCKET/KEY"},
        {"s3://bucket", "s3: expected s3://BUCKET/KEY"},
        {"s3://bucket/", "s3: empty object key"},
        {"s3:///key", "s3: bucket name must be 3..63"},
        {"s3://ab/key", "s3: bucket name must be 3..63"},
        {"s3://Upper/key", "s3: bucket name may hold only"},
        {"s3://under_score/key", "s3: bucket name may hold only"},
        {"s3://-abc/key", "s3: bucket name must start and end"},
        {"s3://abc./key", "s3: bucket name must start and end"},
        {"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/k",
         "s3: bucket name must be 3..63"},
        {"s3://abc/a\tb", "s3: control character"},
        {"file:", "file: the path must be absolute"},
        {"file:relative/path", "file: the path must be absolute"},
        {"file:/a\x01", "file: control character"},
        {"env:", "env: the variable name"},
        {"env:1ABC", "env: the variable name"},
        {"env:A-B", "env: the variable name"},
    };
    size_t i;
    char err[256];

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct secretref r;

        memset(&r, 0, sizeof(r));
        err[0] = '\0';
        assert_int_equal(secretref_parse(cases[i].value, &r, err, sizeof(err)), AGENT_ERR_INVAL);
        if (strstr(err, cases[i].want) == NULL)
            print_message("case %zu \"%s\": got \"%s\", wanted \"%s\"\n", i, cases[i].value, err,
                          cases[i].want);
        assert_non_null(strstr(err, cases[i].want));
        /* out untouched on failure */
        assert_null(r.name);
        assert_int_equal(secretref_is_reference(cases[i].value), 1);
    }
}

static void
test_misc(void **state)
{
    (void)state;
    assert_int_equal(secretref_is_reference(NULL), 0);
    assert_string_equal(secretref_kind_str(SECRETREF_LITERAL), "literal");
    assert_string_equal(secretref_kind_str(SECRETREF_SSM), "ssm");
    assert_string_equal(secretref_kind_str(SECRETREF_SECRETSMANAGER), "secretsmanager");
    assert_string_equal(secretref_kind_str(SECRETREF_S3), "s3");
    assert_string_equal(secretref_kind_str(SECRETREF_FILE), "file");
    assert_string_equal(secretref_kind_str(SECRETREF_ENV), "env");
    secretref_cleanup(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_misc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
