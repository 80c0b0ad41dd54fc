/* Unit tests of aws/awsjson, the shared text helper of aws/awsxml and the text checks they use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "aws/awsjson.h"
#include "aws/awsxml.h"
#include "core/str.h"

static void
test_nul_escape(void **unused)
{
    static const struct {
        const char *json;
        int want;
    } rows[] = {
        {"{\"a\":\"x\\u0000y\"}", 1},   {"{\"a\":\"\\\\u0000\"}", 0}, {"{\"a\":\"\\u00001\"}", 1},
        {"{\"a\":\"\\u0001\"}", 0},     {"{\"a\":\"plain\"}", 0},     {"\\u0000", 1},
        {"{\"a\":\"\\\\\\u0000\"}", 1},
    };

    size_t i;
    (void)unused;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(awsjson_has_nul_escape(rows[i].json, strlen(rows[i].json)), rows[i].want);
    assert_int_equal(awsjson_has_nul_escape(NULL, 0), 0);
}

static void
test_only_space_after(void **unused)
{
    const char ok[] = "{\"a\":1} \r\n\t";
    const char bad[] = "{\"a\":1} x";
    const char nul[] = "{\"a\":1}\0 ";
    (void)unused;

    assert_int_equal(awsjson_only_space_after(ok, strlen(ok), ok + 7), 1);
    assert_int_equal(awsjson_only_space_after(bad, strlen(bad), bad + 7), 0);
    assert_int_equal(awsjson_only_space_after(nul, sizeof(nul) - 1, nul + 7), 0);
    assert_int_equal(awsjson_only_space_after(ok, strlen(ok), NULL), 0);
    assert_int_equal(awsjson_only_space_after(ok, strlen(ok), ok + strlen(ok) + 1), 0);
    assert_int_equal(awsjson_only_space_after(ok, strlen(ok), ok + strlen(ok)), 1);
}

static void
test_valid_text(void **unused)
{
    (void)unused;
    assert_int_equal(str_is_text("/wcs/licence", 2048), 1);
    assert_int_equal(str_is_text("", 2048), 0);
    assert_int_equal(str_is_text(NULL, 2048), 0);
    assert_int_equal(str_is_text("a\nb", 2048), 0);
    assert_int_equal(str_is_text("abcd", 3), 0);
    assert_int_equal(str_is_text("abc", 3), 1);
}

static void
test_body_and_wiped_delete(void **unused)
{
    char *body;
    cJSON *tree;
    (void)unused;

    body = awsjson_body("Name", "/wcs/\"x\"", "WithDecryption");
    assert_non_null(body);
    assert_string_equal(body, "{\"Name\":\"/wcs/\\\"x\\\"\",\"WithDecryption\":true}");
    cJSON_free(body);
    body = awsjson_body("SecretId", "app", NULL);
    assert_non_null(body);
    assert_string_equal(body, "{\"SecretId\":\"app\"}");
    cJSON_free(body);
    tree = cJSON_Parse("{\"SecretString\":\"s3cr3t\",\"n\":[1,{\"k\":\"v\"}]}");
    assert_non_null(tree);
    awsjson_delete_wiped(tree); /* ASan/valgrind see the frees; nothing to return */
    awsjson_delete_wiped(NULL);
}

static void
test_take_text(void **unused)
{
    char out[8];
    (void)unused;

    assert_int_equal(awsxml_take_text(out, sizeof(out), "  healthy\r\n"), AGENT_OK);
    assert_string_equal(out, "healthy");
    assert_int_equal(awsxml_take_text(out, sizeof(out), "\t\n"), AGENT_OK);
    assert_string_equal(out, "");
    assert_int_equal(awsxml_take_text(out, sizeof(out),
                                      "a\x01"
                                      "b"),
                     AGENT_ERR_PARSE);
    assert_int_equal(awsxml_take_text(out, sizeof(out), "12345678"), AGENT_ERR_TOOBIG);
    assert_int_equal(awsxml_take_text(out, sizeof(out), " 1234567 "), AGENT_OK);
    assert_string_equal(out, "1234567");
    assert_int_equal(awsxml_take_text(NULL, sizeof(out), "x"), AGENT_ERR_INVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_escape), cmocka_unit_test(test_only_space_after),
        cmocka_unit_test(test_valid_text), cmocka_unit_test(test_body_and_wiped_delete),
        cmocka_unit_test(test_take_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
