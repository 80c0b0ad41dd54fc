/*
 * awsxml: the expat walk (paths, namespace prefixes, leaves, caps, DTD and
 * entity refusal) and the error documents of the Query protocol, EC2 and S3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"

/* ---- a recorder of walk events ---- */

struct rec {
    char log[8192]; /* "S path\n" for starts, "L path=text\n" for leaves */
    size_t len;
    int stop_at_leaf; /* abort at the n-th leaf (1-based); 0 never */
    int leaves;
};

static void
rec_add(struct rec *r, const char *kind, const char *path, const char *text)
{
    int n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s %s%s%s\n", kind, path,
                     text != NULL ? "=" : "", text != NULL ? text : "");

    assert_true(n > 0 && (size_t)n < sizeof(r->log) - r->len);
    r->len += (size_t)n;
}

static int
on_start(void *ctx, const char *path)
{
    rec_add(ctx, "S", path, NULL);
    return 0;
}

static int
on_leaf(void *ctx, const char *path, const char *text)
{
    struct rec *r = ctx;

    rec_add(r, "L", path, text);
    r->leaves++;
    return r->stop_at_leaf != 0 && r->leaves >= r->stop_at_leaf;
}

static enum agent_rc
walk(const char *xml, struct rec *r)
{
    struct awsxml_handler h = {on_start, on_leaf, r};

    memset(r->log, 0, sizeof(r->log));
    r->len = 0;
    r->leaves = 0;
    return awsxml_walk(xml, strlen(xml), &h);
}

static int
setup(void **state)
{
    (void)state;
    log_init(-1, LOG_FMT_TEXT);
    return 0;
}

/* ---- walking ---- */

static void
test_walk_paths(void **state)
{
    static const char doc[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<DescribeTargetHealthResponse "
        "xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n"
        "  <DescribeTargetHealthResult>\n"
        "    <TargetHealthDescriptions>\n"
        "      <member>\n"
        "        <HealthCheckPort>8080</HealthCheckPort>\n"
        "        <TargetHealth><State>healthy</State></TargetHealth>\n"
        "        <Target><Id>i-0123456789abcdef0</Id><Port>8080</Port></Target>\n"
        "      </member>\n"
        "    </TargetHealthDescriptions>\n"
        "  </DescribeTargetHealthResult>\n"
        "  <ResponseMetadata><RequestId>4f2e-11</RequestId></ResponseMetadata>\n"
        "</DescribeTargetHealthResponse>\n";
    struct rec r;

    (void)state;
    r.stop_at_leaf = 0;
    assert_int_equal(walk(doc, &r), AGENT_OK);
    assert_string_equal(
        r.log,
        "S DescribeTargetHealthResponse\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/HealthCheckPort\n"
        "L DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/HealthCheckPort=8080\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/TargetHealth\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/TargetHealth/State\n"
        "L DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/TargetHealth/State=healthy\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/Target\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/Target/Id\n"
        "L DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/Target/Id=i-0123456789abcdef0\n"
        "S DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/Target/Port\n"
        "L DescribeTargetHealthResponse/DescribeTargetHealthResult/TargetHealthDescriptions/"
        "member/Target/Port=8080\n"
        "S DescribeTargetHealthResponse/ResponseMetadata\n"
        "S DescribeTargetHealthResponse/ResponseMetadata/RequestId\n"
        "L DescribeTargetHealthResponse/ResponseMetadata/RequestId=4f2e-11\n");
}

static void
test_leaves_and_text(void **state)
{
    struct rec r;

    (void)state;
    r.stop_at_leaf = 0;
    /* Empty elements are leaves with ""; elements with children are not leaves. */
    assert_int_equal(
        walk("<a>junk<b/><c> x &amp; y </c><d><e><![CDATA[<raw>]]></e></d>&lt;tail</a>", &r),
        AGENT_OK);
    assert_string_equal(r.log, "S a\nS a/b\nL a/b=\nS a/c\nL a/c= x & y \nS a/d\nS a/d/e\n"
                               "L a/d/e=<raw>\n");
    /* Attributes are ignored; a lone root is a leaf. */
    assert_int_equal(walk("<Root attr=\"1\">v&#x41;</Root>", &r), AGENT_OK);
    assert_string_equal(r.log, "S Root\nL Root=vA\n");
    /* Start handler may be NULL. */
    {
        struct awsxml_handler h = {NULL, on_leaf, &r};

        memset(r.log, 0, sizeof(r.log));
        r.len = 0;
        assert_int_equal(awsxml_walk("<a><b>1</b></a>", 15, &h), AGENT_OK);
        assert_string_equal(r.log, "L a/b=1\n");
    }
}

static void
test_namespace_prefixes(void **state)
{
    struct rec r;

    (void)state;
    r.stop_at_leaf = 0;
    assert_int_equal(walk("<p:Envelope xmlns:p=\"urn:x\" xmlns=\"urn:y\"><p:Body><Code>X</Code>"
                          "<q:Deep xmlns:q=\"urn:z\">1</q:Deep></p:Body></p:Envelope>",
                          &r),
                     AGENT_OK);
    assert_string_equal(r.log, "S Envelope\nS Envelope/Body\nS Envelope/Body/Code\n"
                               "L Envelope/Body/Code=X\nS Envelope/Body/Deep\n"
                               "L Envelope/Body/Deep=1\n");
}

static void
test_handler_abort(void **state)
{
    struct rec r;

    (void)state;
    r.stop_at_leaf = 1;
    assert_int_equal(walk("<a><b>1</b><c>2</c></a>", &r), AGENT_ERR_PARSE);
    /* Nothing after the abort was delivered. */
    assert_string_equal(r.log, "S a\nS a/b\nL a/b=1\n");
}

static void
test_dtd_and_entities_refused(void **state)
{
    static const char *const bad[] = {
        "<!DOCTYPE a><a/>",
        "<!DOCTYPE a [<!ENTITY e \"boom\">]><a>&e;</a>",
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<lolz>&lol3;</lolz>",
        "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a>x</a>",
        "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
        "<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/x\"> %p;]><a/>",
        /* An undeclared entity is an error without a DTD. */
        "<a>&undeclared;</a>",
    };
    struct rec r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.stop_at_leaf = 0;
        assert_int_equal(walk(bad[i], &r), AGENT_ERR_PARSE);
        /* The refusal comes before any element is seen. */
        assert_null(strstr(r.log, "L "));
    }
}

static void
test_malformed(void **state)
{
    static const char *const bad[] = {
        "", "   ", "<a>", "<a></b>", "<a><b></a></b>", "text only", "<a/><b/>", "<a x=1/>", "<1a/>",
    };
    struct rec r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.stop_at_leaf = 0;
        assert_int_equal(walk(bad[i], &r), AGENT_ERR_PARSE);
    }
    /* An embedded NUL byte is not XML. */
    {
        struct awsxml_handler h = {NULL, NULL, NULL};

        assert_int_equal(awsxml_walk("<a>x\0y</a>", 10, &h), AGENT_ERR_PARSE);
        assert_int_equal(awsxml_walk(NULL, 0, &h), AGENT_ERR_INVAL);
        assert_int_equal(awsxml_walk("<a/>", 4, NULL), AGENT_ERR_INVAL);
    }
}

static void
nested(struct buf *b, int depth)
{
    int i;

    buf_reset(b);
    for (i = 0; i < depth; i++)
        assert_int_equal(buf_puts(b, "<e>"), AGENT_OK);
    assert_int_equal(buf_puts(b, "x"), AGENT_OK);
    for (i = 0; i < depth; i++)
        assert_int_equal(buf_puts(b, "</e>"), AGENT_OK);
}

static void
test_depth_cap(void **state)
{
    struct awsxml_handler h = {NULL, NULL, NULL};
    struct buf b;

    (void)state;
    buf_init(&b, 1 << 20);
    nested(&b, AWSXML_MAX_DEPTH);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_OK);
    nested(&b, AWSXML_MAX_DEPTH + 1);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_ERR_PARSE);
    nested(&b, 5000);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_ERR_PARSE);
    buf_cleanup(&b);
}

static int
count_leaf(void *ctx, const char *path, const char *text)
{
    (void)path;
    *(size_t *)ctx = strlen(text);
    return 0;
}

static void
test_size_caps(void **state)
{
    size_t got = 0;
    struct awsxml_handler h = {NULL, count_leaf, &got};
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b, AWSXML_MAX_BYTES + 64);
    /* Text exactly at the cap passes; one byte more does not. */
    assert_int_equal(buf_puts(&b, "<a>"), AGENT_OK);
    for (i = 0; i < AWSXML_MAX_TEXT; i++)
        assert_int_equal(buf_putc(&b, 'x'), AGENT_OK);
    assert_int_equal(buf_puts(&b, "</a>"), AGENT_OK);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_OK);
    assert_int_equal(got, AWSXML_MAX_TEXT);
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "<a>"), AGENT_OK);
    for (i = 0; i < AWSXML_MAX_TEXT + 1; i++)
        assert_int_equal(buf_putc(&b, 'x'), AGENT_OK);
    assert_int_equal(buf_puts(&b, "</a>"), AGENT_OK);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_ERR_TOOBIG);

    /* A document over the byte cap is refused before parsing. */
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "<a>"), AGENT_OK);
    while (b.len < AWSXML_MAX_BYTES)
        assert_int_equal(buf_puts(&b, "<b>1</b>"), AGENT_OK);
    assert_int_equal(buf_puts(&b, "</a>"), AGENT_OK);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_ERR_TOOBIG);

    /* A very long element name makes the path too long. */
    buf_reset(&b);
    assert_int_equal(buf_putc(&b, '<'), AGENT_OK);
    for (i = 0; i < 5000; i++)
        assert_int_equal(buf_putc(&b, 'n'), AGENT_OK);
    assert_int_equal(buf_puts(&b, "/>"), AGENT_OK);
    assert_int_equal(awsxml_walk(b.data, b.len, &h), AGENT_ERR_TOOBIG);
    buf_cleanup(&b);
}

/* ---- error documents ---- */

static enum agent_rc
perr(const char *xml, struct aws_error *e)
{
    memset(e, 0, sizeof(*e));
    e->http_status = 418;
    return awsxml_parse_error(xml, strlen(xml), e);
}

static void
test_error_query(void **state)
{
    struct aws_error e;

    (void)state;
    assert_int_equal(
        perr("<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n"
             "  <Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
             "<Message>One or more target groups not found</Message></Error>\n"
             "  <RequestId>a4f8c3e1-58d6-4a3f-9b1e-0123456789ab</RequestId>\n"
             "</ErrorResponse>\n",
             &e),
        AGENT_OK);
    assert_string_equal(e.code, "TargetGroupNotFound");
    assert_string_equal(e.message, "One or more target groups not found");
    assert_string_equal(e.request_id, "a4f8c3e1-58d6-4a3f-9b1e-0123456789ab");
    assert_int_equal(e.http_status, 418);

    /* Throttling, no message, prefixed names. */
    assert_int_equal(perr("<x:ErrorResponse xmlns:x=\"urn:a\"><x:Error><x:Code>Throttling</x:Code>"
                          "</x:Error></x:ErrorResponse>",
                          &e),
                     AGENT_OK);
    assert_string_equal(e.code, "Throttling");
    assert_string_equal(e.message, "");
    assert_string_equal(e.request_id, "");

    /* The list form (botocore reads it; moto sends it for authentication errors). */
    assert_int_equal(perr("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors>"
                          "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
                          "signature we calculated does not match</Message><Type>Sender</Type>"
                          "</Error><Error><Code>Other</Code></Error></Errors></ErrorResponse>",
                          &e),
                     AGENT_OK);
    assert_string_equal(e.code, "SignatureDoesNotMatch");
    assert_string_equal(e.message, "The request signature we calculated does not match");
}

static void
test_error_ec2(void **state)
{
    struct aws_error e;

    (void)state;
    assert_int_equal(perr("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<Response><Errors><Error><Code>AuthFailure</Code>"
                          "<Message>AWS was not able to validate the provided access "
                          "credentials</Message></Error>"
                          "<Error><Code>Second</Code><Message>ignored</Message></Error></Errors>"
                          "<RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>",
                          &e),
                     AGENT_OK);
    assert_string_equal(e.code, "AuthFailure");
    assert_string_equal(e.message, "AWS was not able to validate the provided access credentials");
    assert_string_equal(e.request_id, "ea966190-f9aa-478e-9ede-example");
}

static void
test_error_s3(void **state)
{
    struct aws_error e;

    (void)state;
    assert_int_equal(perr("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<Error><Code>NoSuchKey</Code><Message>The specified key does not "
                          "exist.</Message><Key>agent/conf.ini</Key>"
                          "<RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>",
                          &e),
                     AGENT_OK);
    assert_string_equal(e.code, "NoSuchKey");
    assert_string_equal(e.message, "The specified key does not exist.");
    assert_string_equal(e.request_id, "4442587FB7D0A2F9");
}

static void
test_error_refused(void **state)
{
    static const char *const bad[] = {
        /* Not an error document. */
        "<RegisterTargetsResponse><RegisterTargetsResult/></RegisterTargetsResponse>",
        "<Foo><Error><Code>X</Code></Error></Foo>",
        /* No code, an empty code, a code with spaces or too long. */
        "<ErrorResponse><Error><Message>m</Message></Error></ErrorResponse>",
        "<Error><Code></Code></Error>",
        "<Error><Code>Bad Code</Code></Error>",
        "<Error><Code>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</Code>"
        "</Error>",
        /* Code at the wrong place. */
        "<ErrorResponse><Code>X</Code></ErrorResponse>",
        "<Response><Error><Code>X</Code></Error></Response>",
        /* Malformed. */
        "<Error><Code>X</Code>",
        "<!DOCTYPE Error><Error><Code>X</Code></Error>",
        "",
        "{\"__type\":\"X\"}",
    };
    struct aws_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(perr(bad[i], &e), AGENT_ERR_PARSE);
        /* Nothing written on failure. */
        assert_string_equal(e.code, "");
        assert_int_equal(e.http_status, 418);
    }
}

static void
test_error_message_cleaning(void **state)
{
    struct aws_error e;
    struct buf b;
    size_t i;

    (void)state;
    /* Control bytes become spaces, outer space is trimmed, a bad request id is dropped. */
    assert_int_equal(perr("<Error><Code>A.b-c_d:e#f</Code><Message>\n  line1\nline2&#9;x  \n"
                          "</Message><RequestId>has space</RequestId></Error>",
                          &e),
                     AGENT_OK);
    assert_string_equal(e.code, "A.b-c_d:e#f");
    assert_string_equal(e.message, "line1 line2 x");
    assert_string_equal(e.request_id, "");

    /* A long message is cut with "...". */
    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "<Error><Code>AccessDenied</Code><Message>"), AGENT_OK);
    for (i = 0; i < 400; i++)
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), AGENT_OK);
    assert_int_equal(buf_puts(&b, "</Message></Error>"), AGENT_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(awsxml_parse_error(b.data, b.len, &e), AGENT_OK);
    assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
    assert_string_equal(e.message + sizeof(e.message) - 4, "...");
    assert_int_equal(strncmp(e.message, "abcdefghijklmnopqrstuvwxyzabc", 29), 0);
    buf_cleanup(&b);
}

static void
test_copy_message(void **state)
{
    char m[8];

    (void)state;
    awsxml_copy_message(m, sizeof(m), "  ab\tc ");
    assert_string_equal(m, "ab c");
    awsxml_copy_message(m, sizeof(m), "1234567");
    assert_string_equal(m, "1234567");
    awsxml_copy_message(m, sizeof(m), "12345678");
    assert_string_equal(m, "1234...");
    awsxml_copy_message(m, sizeof(m), NULL);
    assert_string_equal(m, "");
}

static void
test_version(void **state)
{
    (void)state;
    assert_true(strncmp(awsxml_library_version(), "expat_", 6) == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_walk_paths, setup),
        cmocka_unit_test_setup(test_leaves_and_text, setup),
        cmocka_unit_test_setup(test_namespace_prefixes, setup),
        cmocka_unit_test_setup(test_handler_abort, setup),
        cmocka_unit_test_setup(test_dtd_and_entities_refused, setup),
        cmocka_unit_test_setup(test_malformed, setup),
        cmocka_unit_test_setup(test_depth_cap, setup),
        cmocka_unit_test_setup(test_size_caps, setup),
        cmocka_unit_test_setup(test_error_query, setup),
        cmocka_unit_test_setup(test_error_ec2, setup),
        cmocka_unit_test_setup(test_error_s3, setup),
        cmocka_unit_test_setup(test_error_refused, setup),
        cmocka_unit_test_setup(test_error_message_cleaning, setup),
        cmocka_unit_test_setup(test_copy_message, setup),
        cmocka_unit_test_setup(test_version, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
