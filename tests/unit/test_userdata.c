/*
 * Unit tests of userdata: "#wcs-agent" text, gzip, MIME multi-part
 * (design.md §3.3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/userdata.h"

/* gzip-compresses len bytes into a malloc'd buffer (*outlen bytes). */
static unsigned char *
gzip(const void *data, size_t len, size_t *outlen)
{
    z_stream zs;
    size_t cap = compressBound((uLong)len) + 64;
    unsigned char *out = malloc(cap);

    assert_non_null(out);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static enum agent_rc
parse(const char *text, struct userdata *ud, char *err, size_t errcap)
{
    memset(ud, 0, sizeof(*ud));
    return userdata_parse(text, strlen(text), ud, err, errcap);
}

static void
test_kind_str(void **state)
{
    (void)state;
    assert_string_equal(userdata_kind_str(USERDATA_NONE), "none");
    assert_string_equal(userdata_kind_str(USERDATA_OVERLAY), "overlay");
    assert_string_equal(userdata_kind_str(USERDATA_MULTIPART_OVERLAY), "multipart-overlay");
    assert_string_equal(userdata_kind_str(USERDATA_OTHER), "other");
}

static void
test_plain_overlay(void **state)
{
    static const char text[] = "#wcs-agent\n[agent]\ndeadline = 5\n[imds]\nattempts = 0\n";
    struct userdata ud;
    char err[256];
    struct config_input in;
    struct config_diag d = {0};
    struct agent_config *cfg = NULL;

    (void)state;
    assert_int_equal(parse(text, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OVERLAY);
    assert_int_equal(ud.n, 1);
    assert_string_equal(ud.overlays[0].name, "user-data");
    assert_int_equal(ud.overlays[0].len, strlen(text));
    assert_memory_equal(ud.overlays[0].text, text, strlen(text));

    /* Through config: the line numbers are those of the user data. */
    memset(&in, 0, sizeof(in));
    in.overlays = ud.overlays;
    in.n_overlays = ud.n;
    assert_int_equal(config_load_string("cfg", "", 0, &in, &cfg, &d), AGENT_ERR_CONFIG);
    assert_int_equal(d.n, 1);
    assert_true(strncmp(d.lines[0], "user-data:5: imds.attempts: ", 28) == 0);
    config_diag_cleanup(&d);
    userdata_cleanup(&ud);
    assert_null(ud.overlays);

    /* CRLF, trailing blanks, and the marker alone are overlays too. */
    assert_int_equal(parse("#wcs-agent\r\n[agent]\r\ndeadline = 5\r\n", &ud, err, sizeof(err)),
                     AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OVERLAY);
    userdata_cleanup(&ud);
    assert_int_equal(parse("#wcs-agent \t\n", &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OVERLAY);
    userdata_cleanup(&ud);
    assert_int_equal(parse("#wcs-agent", &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OVERLAY);
    assert_int_equal(ud.n, 1);
    userdata_cleanup(&ud);
}

static void
test_other_and_none(void **state)
{
    static const char *const others[] = {
        "#!/bin/bash\nwcs-agent run\n",
        "#cloud-config\npackages: [jq]\n",
        "#wcs-agentx\n[agent]\n",
        " #wcs-agent\n",
        "[agent]\ndeadline = 5\n",
        /* A single-part MIME message is not multi-part. */
        "Content-Type: text/x-shellscript\n\n#!/bin/sh\n",
        /* Header-like first line but not MIME. */
        "Subject: hello\n\nbody\n",
    };
    struct userdata ud;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(parse(others[i], &ud, err, sizeof(err)), AGENT_OK);
        assert_int_equal(ud.kind, USERDATA_OTHER);
        assert_int_equal(ud.n, 0);
        userdata_cleanup(&ud);
    }
    memset(&ud, 0, sizeof(ud));
    assert_int_equal(userdata_parse("", 0, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_NONE);
    userdata_cleanup(&ud);
}

static void
test_gzip_overlay(void **state)
{
    static const char text[] = "#wcs-agent\n[cdn]\nrole = origin\n";
    unsigned char *gz, *two;
    size_t gzlen;
    struct userdata ud;
    char err[256];

    (void)state;
    gz = gzip(text, strlen(text), &gzlen);
    memset(&ud, 0, sizeof(ud));
    assert_int_equal(userdata_parse(gz, gzlen, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OVERLAY);
    assert_int_equal(ud.n, 1);
    assert_int_equal(ud.overlays[0].len, strlen(text));
    assert_memory_equal(ud.overlays[0].text, text, strlen(text));
    userdata_cleanup(&ud);

    /* Truncated gzip data is an error, not a shorter overlay. */
    assert_int_equal(userdata_parse(gz, gzlen - 6, &ud, err, sizeof(err)), AGENT_ERR_PARSE);
    assert_non_null(strstr(err, "gzip"));

    /* Garbage after the stream is refused; a second member is read. */
    two = malloc(gzlen * 2);
    assert_non_null(two);
    memcpy(two, gz, gzlen);
    memcpy(two + gzlen, "junk", 4);
    assert_int_equal(userdata_parse(two, gzlen + 4, &ud, err, sizeof(err)), AGENT_ERR_PARSE);
    assert_non_null(strstr(err, "trailing data"));
    memcpy(two + gzlen, gz, gzlen);
    assert_int_equal(userdata_parse(two, gzlen * 2, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.overlays[0].len, 2 * strlen(text));
    userdata_cleanup(&ud);
    free(two);
    free(gz);

    /* Corrupt deflate data. */
    {
        static const unsigned char bad[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff};
        assert_int_equal(userdata_parse(bad, sizeof(bad), &ud, err, sizeof(err)), AGENT_ERR_PARSE);
    }
}

static void
test_gzip_bomb(void **state)
{
    size_t n = USERDATA_MAX_INFLATED + 1, gzlen;
    char *zeros = calloc(1, n);
    unsigned char *gz;
    struct userdata ud;
    char err[256];

    (void)state;
    assert_non_null(zeros);
    gz = gzip(zeros, n, &gzlen);
    assert_true(gzlen < 2048); /* small in, large out */
    memset(&ud, 0, sizeof(ud));
    assert_int_equal(userdata_parse(gz, gzlen, &ud, err, sizeof(err)), AGENT_ERR_TOOBIG);
    assert_non_null(strstr(err, "decompresses to more than"));
    free(gz);
    /* Exactly at the cap is fine (and not for the agent). */
    gz = gzip(zeros, n - 1, &gzlen);
    assert_int_equal(userdata_parse(gz, gzlen, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OTHER);
    userdata_cleanup(&ud);
    free(gz);
    free(zeros);
}

/* cloud-init style: a shell part, a base64 agent part, a quoted-printable agent part. */
static const char mime3[] = "Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"\r\n"
                            "MIME-Version: 1.0\r\n"
                            "\r\n"
                            "preamble is ignored\r\n"
                            "--==BOUNDARY==\r\n"
                            "Content-Type: text/x-shellscript; charset=\"us-ascii\"\r\n"
                            "MIME-Version: 1.0\r\n"
                            "Content-Transfer-Encoding: 7bit\r\n"
                            "\r\n"
                            "#!/bin/bash\r\n"
                            "echo hi\r\n"
                            "--==BOUNDARY==\r\n"
                            "Content-Type: text/x-wcs-agent; charset=\"us-ascii\"\r\n"
                            "Content-Transfer-Encoding: base64\r\n"
                            "\r\n"
                            /* "[agent]\ndeadline = 77\n" */
                            "W2FnZW50XQpkZWFkbGlu\r\n"
                            "ZSA9IDc3Cg==\r\n"
                            "--==BOUNDARY==\r\n"
                            "content-type: TEXT/X-WCS-AGENT\r\n"
                            "content-transfer-encoding: Quoted-Printable\r\n"
                            "\r\n"
                            "[properties]\r\n"
                            "eq =3D a=3Db\r\n"
                            "long =3D one=\r\n"
                            "two=\r\n"
                            "\r\n"
                            "hand = written =ZZ\r\n"
                            "--==BOUNDARY==--\r\n"
                            "epilogue\r\n";

static void
test_mime_overlays(void **state)
{
    struct userdata ud;
    char err[256];
    struct config_input in;
    struct config_diag d = {0};
    struct agent_config *cfg = NULL;
    size_t i;

    (void)state;
    assert_int_equal(parse(mime3, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_MULTIPART_OVERLAY);
    assert_int_equal(ud.n, 2);
    assert_string_equal(ud.overlays[0].name, "user-data part 2");
    assert_int_equal(ud.overlays[0].len, strlen("[agent]\ndeadline = 77\n"));
    assert_memory_equal(ud.overlays[0].text, "[agent]\ndeadline = 77\n", ud.overlays[0].len);
    assert_string_equal(ud.overlays[1].name, "user-data part 3");
    assert_int_equal(ud.overlays[1].len,
                     strlen("[properties]\r\neq = a=b\r\nlong = onetwo\r\nhand = written =ZZ"));
    assert_memory_equal(ud.overlays[1].text,
                        "[properties]\r\neq = a=b\r\nlong = onetwo\r\nhand = written =ZZ",
                        ud.overlays[1].len);

    memset(&in, 0, sizeof(in));
    in.overlays = ud.overlays;
    in.n_overlays = ud.n;
    assert_int_equal(config_load_string("cfg", "", 0, &in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 77);
    for (i = 0; i < cfg->properties.n; i++) {
        if (strcmp(cfg->properties.items[i].key, "long") == 0)
            assert_string_equal(cfg->properties.items[i].value, "onetwo");
    }
    config_free(cfg);
    userdata_cleanup(&ud);

    /* The same document gzip-compressed. */
    {
        size_t gzlen;
        unsigned char *gz = gzip(mime3, strlen(mime3), &gzlen);
        assert_int_equal(userdata_parse(gz, gzlen, &ud, err, sizeof(err)), AGENT_OK);
        assert_int_equal(ud.kind, USERDATA_MULTIPART_OVERLAY);
        assert_int_equal(ud.n, 2);
        userdata_cleanup(&ud);
        free(gz);
    }
}

static void
test_mime_without_agent_part(void **state)
{
    static const char text[] = "MIME-Version: 1.0\n"
                               "Content-Type: multipart/mixed;\n"
                               "\tboundary=XyZ\n"
                               "\n"
                               "--XyZ\n"
                               "Content-Type: text/cloud-config\n"
                               "\n"
                               "#cloud-config\n"
                               "--XyZ\n"
                               "Content-Type: text/x-shellscript\n"
                               "Content-Transfer-Encoding: x-unknown\n"
                               "\n"
                               "#!/bin/sh\n"
                               "--XyZ--\n";
    struct userdata ud;
    char err[256];

    (void)state;
    assert_int_equal(parse(text, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_OTHER);
    assert_int_equal(ud.n, 0);
    userdata_cleanup(&ud);
}

struct bad_mime {
    const char *text;
    const char *want;
};

static void
test_mime_malformed(void **state)
{
    static const struct bad_mime cases[] = {
        /* truncated: no closing boundary */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-wcs-agent\n\n"
         "[agent]\n",
         "no closing boundary"},
        /* no delimiter at all */
        {"Content-Type: multipart/mixed; boundary=b\n\nhello\n", "no closing boundary"},
        /* no boundary parameter */
        {"Content-Type: multipart/mixed\n\n--b\n\n--b--\n", "no valid boundary"},
        {"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n", "no valid boundary"},
        /* the header block never ends */
        {"Content-Type: multipart/mixed; boundary=b\n", "does not end"},
        /* bad base64 in an agent part */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-wcs-agent\n"
         "Content-Transfer-Encoding: base64\n\n!!!notbase64\n--b--\n",
         "part 1: bad base64"},
        /* unknown transfer encoding in an agent part */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-wcs-agent\n"
         "Content-Transfer-Encoding: uuencode\n\nx\n--b--\n",
         "unknown Content-Transfer-Encoding"},
        /* a part whose headers are not headers */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nnot a header\n\nx\n--b--\n",
         "part 1: bad header line"},
    };
    struct userdata ud;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(cases[i].text, &ud, err, sizeof(err)), AGENT_ERR_PARSE);
        if (strstr(err, cases[i].want) == NULL)
            print_message("case %zu: got \"%s\", wanted \"%s\"\n", i, err, cases[i].want);
        assert_non_null(strstr(err, cases[i].want));
        /* On failure nothing is handed out. */
        assert_null(ud.overlays);
    }
}

/* Parts with LF line ends, an empty agent part, and 7bit by default. */
static void
test_mime_lf_and_empty(void **state)
{
    static const char text[] = "Content-Type: multipart/mixed; boundary=sep\n"
                               "\n"
                               "--sep\n"
                               "Content-Type: text/x-wcs-agent\n"
                               "\n"
                               "--sep\n"
                               "Content-Type: text/x-wcs-agent\n"
                               "\n"
                               "[agent]\n"
                               "deadline = 9\n"
                               "\n"
                               "--sep--";
    struct userdata ud;
    char err[256];

    (void)state;
    assert_int_equal(parse(text, &ud, err, sizeof(err)), AGENT_OK);
    assert_int_equal(ud.kind, USERDATA_MULTIPART_OVERLAY);
    assert_int_equal(ud.n, 2);
    assert_int_equal(ud.overlays[0].len, 0);
    assert_string_equal(ud.overlays[1].name, "user-data part 2");
    assert_int_equal(ud.overlays[1].len, strlen("[agent]\ndeadline = 9\n"));
    assert_memory_equal(ud.overlays[1].text, "[agent]\ndeadline = 9\n", ud.overlays[1].len);
    userdata_cleanup(&ud);
    userdata_cleanup(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_str),
        cmocka_unit_test(test_plain_overlay),
        cmocka_unit_test(test_other_and_none),
        cmocka_unit_test(test_gzip_overlay),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_mime_overlays),
        cmocka_unit_test(test_mime_without_agent_part),
        cmocka_unit_test(test_mime_malformed),
        cmocka_unit_test(test_mime_lf_and_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
