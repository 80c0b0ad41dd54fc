/*
 * creds: the environment, IMDS role credentials over the http transport
 * seam with a fake clock (refresh before Expiration, never past it), and
 * redaction of the secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/creds.h"
#include "aws/imds.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define EP              "http://127.0.0.1:9"
#define T0              1795000000 /* 2026-11-18T... */
#define ROLE            "wcs-node-role"
#define AKID            "AKIAIOSFODNN7EXAMPLE"
#define SKEY            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define STOK            "IQoJb3JpZ2luX2VjEXAMPLETOKEN/+="
#define IMDS_SECRET_FMT "imds/Secret+Key%d"
#define IMDS_TOKEN_FMT  "imdsSessionToken%d=="

/* ---- a fake IMDS ---- */

struct fake {
    int role_list_status; /* iam/security-credentials/ */
    int creds_status;     /* iam/security-credentials/ROLE */
    time_t expiration;    /* of the next credentials handed out */
    int serial;           /* bumped per credentials document */
    unsigned list_gets, creds_gets;
    char last_url[256];
};

static struct fake fk;

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;
    const char *path;
    char exp[32];

    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    assert_true(strncmp(req->url, EP "/latest/", strlen(EP "/latest/")) == 0);
    path = req->url + strlen(EP "/latest/");
    resp->connected = 1;
    if (strcmp(req->method, "PUT") == 0) {
        assert_string_equal(path, "api/token");
        resp->status = 200;
        return buf_puts(&resp->body, "imds-token");
    }
    if (strcmp(path, "meta-data/iam/security-credentials/") == 0) {
        f->list_gets++;
        resp->status = f->role_list_status;
        return f->role_list_status == 200 ? buf_puts(&resp->body, ROLE "\nsecond-line\n")
                                          : AGENT_OK;
    }
    if (strcmp(path, "meta-data/iam/security-credentials/" ROLE) == 0) {
        f->creds_gets++;
        resp->status = f->creds_status;
        if (f->creds_status != 200)
            return AGENT_OK;
        f->serial++;
        clock_rfc3339(f->expiration, exp);
        return buf_printf(&resp->body,
                          "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-18T00:00:00Z\","
                          "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDSEXAMPLE%04d\","
                          "\"SecretAccessKey\":\"" IMDS_SECRET_FMT "\","
                          "\"Token\":\"" IMDS_TOKEN_FMT "\",\"Expiration\":\"%s\"}",
                          f->serial, f->serial, f->serial, exp);
    }
    resp->status = 404;
    return AGENT_OK;
}

/* ---- log capture ---- */

static FILE *cap_file;
static char cap_text[16384];

static void
cap_start(void)
{
    cap_file = tmpfile();
    assert_non_null(cap_file);
    log_set_fd(fileno(cap_file));
}

static const char *
cap_end(void)
{
    size_t n;

    log_set_fd(-1);
    rewind(cap_file);
    n = fread(cap_text, 1, sizeof(cap_text) - 1, cap_file);
    cap_text[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return cap_text;
}

static void
clear_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_SECURITY_TOKEN");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
}

static int
setup(void **state)
{
    struct http_transport t = {fake_perform, &fk};

    (void)state;
    memset(&fk, 0, sizeof(fk));
    fk.role_list_status = 200;
    fk.creds_status = 200;
    fk.expiration = T0 + 6 * 3600;
    http_set_transport(&t);
    clear_env();
    clock_set_fake(T0);
    log_init(1, LOG_FMT_TEXT);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    if (cap_file != NULL)
        cap_end();
    http_set_transport(NULL);
    clock_set_fake(0);
    clear_env();
    log_redact_clear();
    return 0;
}

static struct imds_client *
imds(void)
{
    struct imds_opts o;
    struct imds_client *c = NULL;

    memset(&o, 0, sizeof(o));
    o.endpoint = EP;
    o.timeout_ms = 500;
    o.attempts = 1;
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    return c;
}

/* ---- the environment ---- */

static void
test_env_keys(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    assert_int_equal(creds_source(p), CREDS_SOURCE_NONE);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->access_key_id, AKID);
    assert_string_equal(c->secret_access_key, SKEY);
    assert_null(c->session_token);
    assert_int_equal(c->expiration, 0);
    assert_int_equal(creds_source(p), CREDS_SOURCE_ENV);
    /* The environment wins: IMDS is never asked. */
    assert_int_equal(fk.list_gets + fk.creds_gets, 0);
    /* Long-term keys do not expire: the same struct a day later. */
    clock_set_fake(T0 + 86400);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->access_key_id, AKID);
    creds_provider_free(p);
    imds_free(m);
}

static void
test_env_session_token(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    setenv("AWS_SESSION_TOKEN", STOK, 1);
    assert_int_equal(creds_provider_new(NULL, NULL, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->session_token, STOK);
    creds_provider_free(p);

    /* The legacy name of the token. */
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_SECURITY_TOKEN", "legacyToken", 1);
    assert_int_equal(creds_provider_new(NULL, NULL, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->session_token, "legacyToken");
    creds_provider_free(p);
}

static void
test_env_partial(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    const char *log;

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_CONFIG);
    log = cap_end();
    assert_non_null(
        strstr(log, "environment: AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY"));
    /* A half-set environment is an error, not a reason to fall back to IMDS. */
    assert_int_equal(fk.list_gets + fk.creds_gets, 0);
    assert_int_equal(creds_source(p), CREDS_SOURCE_NONE);

    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_CONFIG);
    log = cap_end();
    assert_non_null(
        strstr(log, "environment: AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID"));
    /* The secret never shows up in the message. */
    assert_null(strstr(log, SKEY));
    creds_provider_free(p);
    imds_free(m);
}

static void
test_env_malformed(void **state)
{
    static const char *const bad_akid[] = {"short", "akiaiosfodnn7example", "AKIA IOSFODNN7EXAM"};
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    const char *log;
    size_t i;

    (void)state;
    assert_int_equal(creds_provider_new(NULL, NULL, &p), AGENT_OK);
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    for (i = 0; i < sizeof(bad_akid) / sizeof(bad_akid[0]); i++) {
        setenv("AWS_ACCESS_KEY_ID", bad_akid[i], 1);
        cap_start();
        assert_int_equal(creds_get(p, &c), AGENT_ERR_CONFIG);
        log = cap_end();
        assert_non_null(strstr(log, "environment: AWS_ACCESS_KEY_ID is malformed"));
    }
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", "has space", 1);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_CONFIG);
    log = cap_end();
    assert_non_null(strstr(log, "environment: AWS_SECRET_ACCESS_KEY is malformed"));
    assert_null(strstr(log, "has space"));
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    setenv("AWS_SESSION_TOKEN", "tok\x01", 1);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_CONFIG);
    log = cap_end();
    assert_non_null(strstr(log, "environment: AWS_SESSION_TOKEN is malformed"));
    creds_provider_free(p);
}

static void
test_none(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    const char *log;

    (void)state;
    /* No environment keys and no IMDS. */
    assert_int_equal(creds_provider_new(NULL, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_ABSENT);
    log = cap_end();
    assert_non_null(strstr(log, "credentials: none"));
    creds_provider_free(p);

    /* No instance profile: IMDS has no iam/security-credentials/. */
    fk.role_list_status = 404;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_ERR_ABSENT);
    log = cap_end();
    assert_non_null(strstr(log, "no instance profile attached"));
    assert_int_equal(creds_source(p), CREDS_SOURCE_NONE);
    creds_provider_free(p);
    imds_free(m);

    /* A malformed role name is refused at once. */
    assert_int_equal(creds_provider_new(NULL, "bad role", &p), AGENT_ERR_INVAL);
}

/* ---- IMDS ---- */

static void
test_imds_discovers_role(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();

    (void)state;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(creds_source(p), CREDS_SOURCE_IMDS);
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0001");
    assert_string_equal(c->secret_access_key, "imds/Secret+Key1");
    assert_string_equal(c->session_token, "imdsSessionToken1==");
    assert_int_equal(c->expiration, T0 + 6 * 3600);
    assert_int_equal(fk.list_gets, 1);
    assert_int_equal(fk.creds_gets, 1);
    /* Cached: no further IMDS request while fresh. */
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(fk.creds_gets, 1);
    /* After creds_invalidate the credentials are fetched again (the role is cached). */
    creds_invalidate(p);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0002");
    assert_int_equal(fk.creds_gets, 2);
    assert_int_equal(fk.list_gets, 1);
    creds_provider_free(p);
    imds_free(m);
}

static void
test_imds_given_role(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();

    (void)state;
    assert_int_equal(creds_provider_new(m, ROLE, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(fk.list_gets, 0);
    assert_int_equal(fk.creds_gets, 1);
    assert_string_equal(fk.last_url, EP "/latest/meta-data/iam/security-credentials/" ROLE);
    creds_provider_free(p);
    imds_free(m);
}

static void
test_imds_refresh_before_expiration(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    time_t exp = T0 + 3600;

    (void)state;
    fk.expiration = exp;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0001");
    /* One second before the refresh window: still cached. */
    clock_set_fake(exp - CREDS_REFRESH_BEFORE_S - 1);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(fk.creds_gets, 1);
    /* Inside the window (5 minutes before Expiration): fetched again. */
    fk.expiration = exp + 3600;
    clock_set_fake(exp - CREDS_REFRESH_BEFORE_S);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(fk.creds_gets, 2);
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0002");
    assert_int_equal(c->expiration, exp + 3600);
    creds_provider_free(p);
    imds_free(m);
}

static void
test_imds_refresh_failure(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    time_t exp = T0 + 3600;
    const char *log;

    (void)state;
    fk.expiration = exp;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    /* IMDS fails inside the window: the still valid credentials are kept. */
    fk.creds_status = 404;
    clock_set_fake(exp - 60);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    log = cap_end();
    assert_non_null(strstr(log, "refresh failed"));
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0001");
    /* Never past Expiration. */
    clock_set_fake(exp);
    assert_int_not_equal(creds_get(p, &c), AGENT_OK);
    clock_set_fake(exp + 600);
    assert_int_not_equal(creds_get(p, &c), AGENT_OK);
    /* After invalidation the old ones are not used even while valid. */
    clock_set_fake(exp - 60);
    creds_invalidate(p);
    assert_int_not_equal(creds_get(p, &c), AGENT_OK);
    /* IMDS back: fresh credentials. */
    fk.creds_status = 200;
    fk.expiration = exp + 3600;
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_string_equal(c->access_key_id, "ASIAIMDSEXAMPLE0002");
    creds_provider_free(p);
    imds_free(m);
}

static void
test_imds_expired_refused(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    const char *log;

    (void)state;
    /* IMDS hands out credentials that already expired (a clock far ahead). */
    fk.expiration = T0 - 1;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_not_equal(creds_get(p, &c), AGENT_OK);
    log = cap_end();
    assert_non_null(strstr(log, "expired"));
    assert_int_equal(creds_source(p), CREDS_SOURCE_NONE);
    /* Credentials that expire in 2 minutes are usable (and fetched again each time). */
    fk.expiration = T0 + 120;
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    assert_int_equal(fk.creds_gets, 3);
    creds_provider_free(p);
    imds_free(m);
}

static void
test_secrets_redacted(void **state)
{
    struct creds_provider *p = NULL;
    const struct aws_creds *c = NULL;
    struct imds_client *m = imds();
    const char *log;

    (void)state;
    assert_int_equal(creds_provider_new(m, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    /* Whatever a careless caller logs, the secret and token never appear. */
    log_errx("test: secret=%s token=%s", c->secret_access_key, c->session_token);
    log_debug("test: %s%s", c->secret_access_key, c->session_token);
    log = cap_end();
    assert_non_null(strstr(log, "test: secret=*** token=***"));
    assert_null(strstr(log, "imds/Secret+Key1"));
    assert_null(strstr(log, "imdsSessionToken1"));
    creds_provider_free(p);
    imds_free(m);

    /* Environment secrets too. */
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    setenv("AWS_SESSION_TOKEN", STOK, 1);
    assert_int_equal(creds_provider_new(NULL, NULL, &p), AGENT_OK);
    cap_start();
    assert_int_equal(creds_get(p, &c), AGENT_OK);
    log_errx("test: %s / %s", SKEY, STOK);
    log = cap_end();
    assert_non_null(strstr(log, "test: *** / ***"));
    assert_null(strstr(log, SKEY));
    creds_provider_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_discovers_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_given_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_refresh_before_expiration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_refresh_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_expired_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_redacted, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
