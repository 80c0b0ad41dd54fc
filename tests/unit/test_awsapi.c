/*
 * awsapi: endpoints, the requests of the Query, JSON and S3 protocols (the
 * signature recomputed with the sigv4 module), error parsing, the standard
 * retry mode (quota, backoff, deadline, idempotency), clock skew and
 * credential refresh, all over the http transport seam with a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/awsapi.h"
#include "aws/imds.h"
#include "aws/sigv4.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define T0       1440938160 /* 2015-08-30T12:36:00Z, the vectors' time */
#define AKID     "AKIDEXAMPLE"
#define AKID_ENV "AKIDEXAMPLE00000"
#define SKEY     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define STOK     "FQoGZXIvYXdzEXAMPLETOKEN+/="
#define IMDS_EP  "http://127.0.0.1:9"
#define LOCAL    "http://127.0.0.1:5000"
#define TG_ARN \
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- the fake transport: canned replies in order, every request recorded ---- */

struct canned {
    long status;
    const char *body;
    const char *headers; /* "Name: value\r\n" lines */
    enum agent_rc rc;    /* a transport failure when not AGENT_OK */
    enum http_fail fail;
    int connected;
};

struct seen {
    char method[8];
    char url[1024];
    char headers[8192]; /* the lines, each ending in '\n' */
    char body[4096];
    size_t body_len;
    unsigned flags;
    int64_t timeout_ms;
    size_t max_response;
};

#define MAX_Q 128

struct fake {
    struct canned q[MAX_Q];
    size_t nq, next;
    struct seen s[MAX_Q];
    size_t ns;
    /* IMDS, for role credentials */
    int imds_serial;
    time_t imds_exp;
    unsigned imds_creds_gets;
    /* the retry seams */
    double jitter;
    int64_t sleeps[MAX_Q];
    size_t nsleeps;
};

static struct fake fk;

static void
q_reply(long status, const char *body, const char *headers)
{
    struct canned *c = &fk.q[fk.nq++];

    assert_true(fk.nq <= MAX_Q);
    memset(c, 0, sizeof(*c));
    c->status = status;
    c->body = body;
    c->headers = headers;
}

static void
q_fail(enum agent_rc rc, enum http_fail f, int connected)
{
    struct canned *c = &fk.q[fk.nq++];

    assert_true(fk.nq <= MAX_Q);
    memset(c, 0, sizeof(*c));
    c->rc = rc;
    c->fail = f;
    c->connected = connected;
}

static enum agent_rc
imds_reply(struct fake *f, const struct http_request *req, struct http_response *resp)
{
    const char *path = req->url + strlen(IMDS_EP "/latest/");
    char exp[32];

    resp->connected = 1;
    resp->status = 200;
    if (strcmp(req->method, "PUT") == 0)
        return buf_puts(&resp->body, "imds-token");
    if (strcmp(path, "meta-data/iam/security-credentials/") == 0)
        return buf_puts(&resp->body, "node-role");
    assert_string_equal(path, "meta-data/iam/security-credentials/node-role");
    f->imds_creds_gets++;
    f->imds_serial++;
    clock_rfc3339(f->imds_exp, exp);
    return buf_printf(&resp->body,
                      "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAROLEKEY0000%d\","
                      "\"SecretAccessKey\":\"roleSecret%d\",\"Token\":\"roleToken%d\","
                      "\"Expiration\":\"%s\"}",
                      f->imds_serial, f->imds_serial, f->imds_serial, exp);
}

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;
    struct seen *s;
    const struct canned *c;
    size_t i, n;

    if (strncmp(req->url, IMDS_EP "/latest/", strlen(IMDS_EP "/latest/")) == 0)
        return imds_reply(f, req, resp);
    assert_true(f->ns < MAX_Q);
    s = &f->s[f->ns++];
    memset(s, 0, sizeof(*s));
    snprintf(s->method, sizeof(s->method), "%s", req->method);
    snprintf(s->url, sizeof(s->url), "%s", req->url);
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        n = strlen(s->headers);
        snprintf(s->headers + n, sizeof(s->headers) - n, "%s\n", req->headers[i]);
    }
    assert_true(req->body_len < sizeof(s->body));
    if (req->body_len > 0)
        memcpy(s->body, req->body, req->body_len);
    s->body_len = req->body_len;
    s->flags = req->flags;
    s->timeout_ms = req->timeout_ms;
    s->max_response = req->max_response;

    if (f->next >= f->nq)
        fail_msg("unexpected request %zu: %s %s", f->ns, req->method, req->url);
    c = &f->q[f->next++];
    if (c->rc != AGENT_OK) {
        resp->fail = c->fail;
        resp->connected = c->connected;
        snprintf(resp->error, sizeof(resp->error), "%s", http_fail_str(c->fail));
        return c->rc;
    }
    resp->status = c->status;
    resp->connected = 1;
    if (c->body != NULL) {
        if (strlen(c->body) > req->max_response) {
            resp->status = 0;
            resp->fail = HTTP_FAIL_TOOBIG;
            snprintf(resp->error, sizeof(resp->error), "%s", http_fail_str(HTTP_FAIL_TOOBIG));
            return AGENT_ERR_TOOBIG;
        }
        assert_int_equal(buf_puts(&resp->body, c->body), AGENT_OK);
    }
    if (c->headers != NULL)
        assert_int_equal(buf_puts(&resp->headers, c->headers), AGENT_OK);
    return AGENT_OK;
}

static void
fake_sleep(void *ctx, int64_t ms)
{
    struct fake *f = ctx;

    assert_true(f->nsleeps < MAX_Q);
    f->sleeps[f->nsleeps++] = ms;
}

static double
fake_jitter(void *ctx)
{
    return ((struct fake *)ctx)->jitter;
}

/* The value of header name in recorded request s, or NULL (copied into a static buffer). */
static const char *
hdr(const struct seen *s, const char *name)
{
    static char v[4096];
    const char *p = s->headers, *eol;
    size_t nl = strlen(name);

    while (*p != '\0') {
        eol = strchr(p, '\n');
        if (strncmp(p, name, nl) == 0 && p[nl] == ':' && p[nl + 1] == ' ') {
            snprintf(v, sizeof(v), "%.*s", (int)(eol - p - nl - 2), p + nl + 2);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* ---- log capture ---- */

static FILE *cap_file;
static char cap_text[32768];

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

/* ---- fixtures ---- */

static const char *const env_names[] = {
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
    "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING",
    "AWS_ENDPOINT_URL_AUTO_SCALING",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_MAX_ATTEMPTS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
};

static struct creds_provider *prov;
static struct imds_client *imds;

static int
setup(void **state)
{
    struct http_transport t = {fake_perform, &fk};
    struct awsapi_hooks h = {fake_sleep, fake_jitter, &fk, 1};
    size_t i;

    (void)state;
    memset(&fk, 0, sizeof(fk));
    fk.jitter = 0.5;
    fk.imds_exp = T0 + 6 * 3600;
    http_set_transport(&t);
    awsapi_set_hooks(&h);
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    clock_set_fake(T0);
    log_init(1, LOG_FMT_TEXT);
    prov = NULL;
    imds = NULL;
    return 0;
}

static int
teardown(void **state)
{
    size_t i;

    (void)state;
    if (cap_file != NULL)
        cap_end();
    creds_provider_free(prov);
    imds_free(imds);
    http_set_transport(NULL);
    awsapi_set_hooks(NULL);
    clock_set_fake(0);
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    log_redact_clear();
    return 0;
}

/* Environment credentials (token optional). */
static void
env_creds(const char *token)
{
    setenv("AWS_ACCESS_KEY_ID", AKID_ENV, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
    if (token != NULL)
        setenv("AWS_SESSION_TOKEN", token, 1);
    assert_int_equal(creds_provider_new(NULL, NULL, &prov), AGENT_OK);
}

/* IMDS role credentials through the fake. */
static void
imds_creds(void)
{
    struct imds_opts o;

    memset(&o, 0, sizeof(o));
    o.endpoint = IMDS_EP;
    o.timeout_ms = 500;
    o.attempts = 1;
    assert_int_equal(imds_new(&o, &imds), AGENT_OK);
    assert_int_equal(creds_provider_new(imds, NULL, &prov), AGENT_OK);
}

static struct awsapi *
api_new(const char *region, const char *domain, const struct deadline *d, int attempts)
{
    struct awsapi_opts o;
    struct awsapi *api = NULL;

    memset(&o, 0, sizeof(o));
    o.region = region;
    o.partition_domain = domain;
    o.creds = prov;
    o.deadline = d;
    o.max_attempts = attempts;
    assert_int_equal(awsapi_new(&o, &api), AGENT_OK);
    return api;
}

static const struct aws_param register_params[] = {
    {"TargetGroupArn", TG_ARN},
    {"Targets.member.1.Id", "i-0123456789abcdef0"},
    {"Targets.member.1.Port", "8080"},
};

static const struct aws_query register_q = {
    AWS_SVC_ELBV2, "RegisterTargets", "2015-12-01", register_params, 3, 1, NULL,
};

static enum agent_rc
call_register(struct awsapi *api, struct aws_error *err, char *reply, size_t cap)
{
    struct buf b;
    enum agent_rc rc;

    buf_init(&b, AWSAPI_MAX_RESPONSE);
    rc = awsapi_query(api, &register_q, &b, err);
    if (reply != NULL)
        snprintf(reply, cap, "%s", buf_cstr(&b));
    buf_cleanup(&b);
    return rc;
}

/*
 * Verifies the Authorization header of s: recomputes the canonical request
 * from the wire (method, path, the signed headers as sent, body) with the
 * sigv4 module and checks the signature, the scope and the signed list.
 */
static void
verify_signature(const struct seen *s, const char *akid, const char *secret, const char *token,
                 const char *region, const char *service, int s3, const char *signed_list)
{
    struct sigv4_header h[8];
    struct sigv4_request req;
    struct sigv4_params p;
    struct buf creq, sts;
    char expect[512], sig[SIGV4_SIGNATURE_HEX_LEN + 1], names[8][32];
    const char *auth, *path, *v, *np;
    char values[8][2048];
    size_t n = 0;

    auth = hdr(s, "Authorization");
    assert_non_null(auth);
    snprintf(expect, sizeof(expect),
             "AWS4-HMAC-SHA256 Credential=%s/20150830/%s/%s/aws4_request, SignedHeaders=%s, "
             "Signature=",
             akid, region, service, signed_list);
    assert_int_equal(strncmp(auth, expect, strlen(expect)), 0);
    snprintf(sig, sizeof(sig), "%s", auth + strlen(expect));

    /* The headers signed (all but the ones sigv4 adds), exactly as sent. */
    for (np = signed_list; *np != '\0';) {
        size_t l = strcspn(np, ";");
        static const char *const wire[] = {"Host", "Content-Type", "X-Amz-Target"};
        size_t k;

        snprintf(names[n], sizeof(names[n]), "%.*s", (int)l, np);
        for (k = 0; k < 3; k++) {
            if (str_casecmp(wire[k], names[n]) == 0) {
                v = hdr(s, wire[k]);
                assert_non_null(v);
                snprintf(values[n], sizeof(values[n]), "%s", v);
                h[n].name = wire[k];
                h[n].value = values[n];
                n++;
                break;
            }
        }
        np += l;
        if (*np == ';')
            np++;
    }
    path = strstr(s->url + strlen("https://"), "/");
    assert_non_null(path);
    memset(&req, 0, sizeof(req));
    req.method = s->method;
    req.path = path;
    req.headers = h;
    req.n_headers = n;
    req.body = s->body;
    req.body_len = s->body_len;
    memset(&p, 0, sizeof(p));
    p.access_key_id = akid;
    p.secret_access_key = secret;
    p.session_token = token;
    p.region = region;
    p.service = service;
    p.now = T0;
    p.normalize_path = !s3;
    p.sign_body_header = s3;
    buf_init(&creq, SIGV4_MAX_CANONICAL);
    buf_init(&sts, SIGV4_MAX_CANONICAL);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &creq), AGENT_OK);
    assert_int_equal(sigv4_string_to_sign(&p, creq.data, creq.len, &sts), AGENT_OK);
    {
        char want[SIGV4_SIGNATURE_HEX_LEN + 1];

        assert_int_equal(sigv4_signature(&p, sts.data, sts.len, want), AGENT_OK);
        assert_string_equal(sig, want);
    }
    buf_cleanup(&creq);
    buf_cleanup(&sts);
    assert_string_equal(hdr(s, "X-Amz-Date"), "20150830T123600Z");
    if (token != NULL)
        assert_string_equal(hdr(s, "X-Amz-Security-Token"), token);
    else
        assert_null(hdr(s, "X-Amz-Security-Token"));
}

/* ---- endpoints ---- */

static void
test_endpoint_defaults(void **state)
{
    static const struct {
        const char *region, *domain;
        enum aws_service svc;
        const char *url;
    } t[] = {
        {"eu-west-1", NULL, AWS_SVC_ELBV2, "https://elasticloadbalancing.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_ELB, "https://elasticloadbalancing.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_AUTOSCALING, "https://autoscaling.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_SSM, "https://ssm.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_SECRETSMANAGER,
         "https://secretsmanager.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_S3, "https://s3.eu-west-1.amazonaws.com"},
        {"eu-west-1", NULL, AWS_SVC_CLOUDFORMATION,
         "https://cloudformation.eu-west-1.amazonaws.com"},
        {"us-east-1", NULL, AWS_SVC_S3, "https://s3.amazonaws.com"},
        {"us-east-1", "amazonaws.com", AWS_SVC_SSM, "https://ssm.us-east-1.amazonaws.com"},
        {"cn-north-1", "amazonaws.com.cn", AWS_SVC_ELBV2,
         "https://elasticloadbalancing.cn-north-1.amazonaws.com.cn"},
        {"cn-north-1", "amazonaws.com.cn", AWS_SVC_S3, "https://s3.cn-north-1.amazonaws.com.cn"},
        {"us-gov-west-1", NULL, AWS_SVC_AUTOSCALING,
         "https://autoscaling.us-gov-west-1.amazonaws.com"},
    };

    char url[512];
    size_t i;

    (void)state;
    env_creds(NULL);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct awsapi *api = api_new(t[i].region, t[i].domain, NULL, 0);

        assert_int_equal(awsapi_endpoint(api, t[i].svc, url, sizeof(url)), AGENT_OK);
        assert_string_equal(url, t[i].url);
        awsapi_free(api);
    }
    assert_string_equal(awsapi_signing_name(AWS_SVC_ELBV2), "elasticloadbalancing");
    assert_string_equal(awsapi_signing_name(AWS_SVC_ELB), "elasticloadbalancing");
    assert_string_equal(awsapi_signing_name(AWS_SVC_AUTOSCALING), "autoscaling");
    assert_string_equal(awsapi_signing_name(AWS_SVC_SSM), "ssm");
    assert_string_equal(awsapi_signing_name(AWS_SVC_SECRETSMANAGER), "secretsmanager");
    assert_string_equal(awsapi_signing_name(AWS_SVC_S3), "s3");
    assert_string_equal(awsapi_signing_name(AWS_SVC_CLOUDFORMATION), "cloudformation");
    /* A small buffer fails instead of truncating. */
    {
        struct awsapi *api = api_new("eu-west-1", NULL, NULL, 0);

        assert_int_equal(awsapi_endpoint(api, AWS_SVC_SSM, url, 10), AGENT_ERR_TOOBIG);
        awsapi_free(api);
    }
}

static void
test_endpoint_overrides(void **state)
{
    static const struct {
        const char *var;
        enum aws_service svc;
    } per[] = {
        {"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", AWS_SVC_ELBV2},
        {"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING", AWS_SVC_ELB},
        {"AWS_ENDPOINT_URL_AUTO_SCALING", AWS_SVC_AUTOSCALING},
        {"AWS_ENDPOINT_URL_SSM", AWS_SVC_SSM},
        {"AWS_ENDPOINT_URL_SECRETS_MANAGER", AWS_SVC_SECRETSMANAGER},
        {"AWS_ENDPOINT_URL_S3", AWS_SVC_S3},
        {"AWS_ENDPOINT_URL_CLOUDFORMATION", AWS_SVC_CLOUDFORMATION},
    };
    struct awsapi *api;
    char url[512];
    size_t i;
    int s;

    (void)state;
    env_creds(NULL);
    api = api_new("eu-west-1", NULL, NULL, 0);
    /* The global override, trailing '/' dropped. */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/", 1);
    for (s = 0; s < AWS_SVC__MAX; s++) {
        assert_int_equal(awsapi_endpoint(api, (enum aws_service)s, url, sizeof(url)), AGENT_OK);
        assert_string_equal(url, "http://127.0.0.1:5000");
    }
    /* Each per-service variable beats it, for its service only. */
    for (i = 0; i < sizeof(per) / sizeof(per[0]); i++) {
        setenv(per[i].var, "https://localhost:8443/prefix//", 1);
        for (s = 0; s < AWS_SVC__MAX; s++) {
            assert_int_equal(awsapi_endpoint(api, (enum aws_service)s, url, sizeof(url)), AGENT_OK);
            assert_string_equal(url, s == (int)per[i].svc ? "https://localhost:8443/prefix"
                                                          : "http://127.0.0.1:5000");
        }
        unsetenv(per[i].var);
    }
    /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns all of them off. */
    setenv("AWS_ENDPOINT_URL_SSM", "http://[::1]:4566", 1);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    assert_int_equal(awsapi_endpoint(api, AWS_SVC_SSM, url, sizeof(url)), AGENT_OK);
    assert_string_equal(url, "https://ssm.eu-west-1.amazonaws.com");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
    assert_int_equal(awsapi_endpoint(api, AWS_SVC_SSM, url, sizeof(url)), AGENT_OK);
    assert_string_equal(url, "http://[::1]:4566");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "maybe", 1);
    cap_start();
    assert_int_equal(awsapi_endpoint(api, AWS_SVC_SSM, url, sizeof(url)), AGENT_ERR_CONFIG);
    assert_non_null(strstr(cap_end(), "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"));
    awsapi_free(api);
}

static void
test_endpoint_bad_overrides(void **state)
{
    static const char *const bad[] = {
        "ftp://127.0.0.1/",
        "127.0.0.1:5000",
        "http://example.com",     /* plain http off loopback */
        "http://169.254.169.254", /* not even to IMDS */
        "https://",               /* no host */
        "https:///path",          /* no host */
        "https://h:0",            /* bad ports */
        "https://h:99999",
        "https://h:",
        "https://h:8a",
        "https://h/a?x=1",    /* query */
        "https://h/#frag",    /* fragment */
        "https://user:pw@h/", /* user info */
        "https://h /",        /* space */
        "https://[::1",       /* broken IPv6 */
        "https://[::1]x",
    };
    struct awsapi *api;
    char url[512];
    const char *log;
    size_t i;

    (void)state;
    env_creds(NULL);
    api = api_new("eu-west-1", NULL, NULL, 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("AWS_ENDPOINT_URL_SSM", bad[i], 1);
        cap_start();
        assert_int_equal(awsapi_endpoint(api, AWS_SVC_SSM, url, sizeof(url)), AGENT_ERR_CONFIG);
        log = cap_end();
        assert_non_null(strstr(log, "environment: AWS_ENDPOINT_URL_SSM: "));
    }
    awsapi_free(api);
}

static void
test_new_checks(void **state)
{
    struct awsapi_opts o;
    struct awsapi *api = NULL;

    (void)state;
    env_creds(NULL);
    memset(&o, 0, sizeof(o));
    o.creds = prov;
    assert_int_equal(awsapi_new(&o, &api), AGENT_ERR_INVAL);
    o.region = "Not A Region";
    assert_int_equal(awsapi_new(&o, &api), AGENT_ERR_INVAL);
    o.region = "eu-west-1";
    o.partition_domain = "evil.com/x";
    assert_int_equal(awsapi_new(&o, &api), AGENT_ERR_INVAL);
    o.partition_domain = NULL;
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    assert_int_equal(awsapi_new(&o, &api), AGENT_ERR_CONFIG);
    setenv("AWS_MAX_ATTEMPTS", "five", 1);
    assert_int_equal(awsapi_new(&o, &api), AGENT_ERR_CONFIG);
    assert_null(api);
    /* AWS_MAX_ATTEMPTS is used when the options leave it at 0. */
    setenv("AWS_MAX_ATTEMPTS", "2", 1);
    assert_int_equal(awsapi_new(&o, &api), AGENT_OK);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    q_reply(503, NULL, NULL);
    q_reply(503, NULL, NULL);
    assert_int_equal(call_register(api, NULL, NULL, 0), AGENT_ERR_UNAVAIL);
    assert_int_equal(fk.ns, 2);
    awsapi_free(api);
}

/* ---- the requests ---- */

static void
test_query_request(void **state)
{
    static const char reply[] =
        "<RegisterTargetsResponse "
        "xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
        "<RegisterTargetsResult/><ResponseMetadata><RequestId>r-1</RequestId>"
        "</ResponseMetadata></RegisterTargetsResponse>";
    struct awsapi *api;
    struct aws_error err;
    char got[1024];
    const struct seen *s;

    (void)state;
    env_creds(STOK);
    setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(200, reply, "x-amzn-RequestId: r-1\r\n");
    assert_int_equal(call_register(api, &err, got, sizeof(got)), AGENT_OK);
    assert_string_equal(got, reply);
    assert_string_equal(err.code, "");
    assert_int_equal(fk.ns, 1);
    s = &fk.s[0];
    assert_string_equal(s->method, "POST");
    assert_string_equal(s->url, LOCAL "/");
    /* The exact body botocore sends (aws.md §3.1). */
    assert_string_equal(s->body,
                        "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn%3Aaws%3A"
                        "elasticloadbalancing%3Aeu-west-1%3A123456789012%3Atargetgroup%2Fweb%2F"
                        "0123456789abcdef&Targets.member.1.Id=i-0123456789abcdef0&"
                        "Targets.member.1.Port=8080");
    assert_int_equal(s->body_len, strlen(s->body));
    assert_string_equal(hdr(s, "Host"), "127.0.0.1:5000");
    assert_string_equal(hdr(s, "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
    verify_signature(s, AKID_ENV, SKEY, STOK, "eu-west-1", "elasticloadbalancing", 0,
                     "content-type;host;x-amz-date;x-amz-security-token");
    /* Plain http to loopback allowed, secret headers, never redirects. */
    assert_int_equal(s->flags, HTTP_ALLOW_HTTP | HTTP_SECRET_HEADERS);
    assert_int_equal(s->timeout_ms, 10000);
    assert_int_equal(s->max_response, AWSAPI_MAX_RESPONSE);
    assert_int_equal(awsapi_retry_quota(api), 500);
    awsapi_free(api);
}

static void
test_query_default_endpoint_and_encoding(void **state)
{
    static const struct aws_param params[] = {
        {"StackName", "my stack"},
        {"UniqueId", "a~b_c-d.e+f/g*h=i&j\xc3\xa9"},
        {"Empty", ""},
    };
    static const struct aws_query q = {
        AWS_SVC_CLOUDFORMATION, "SignalResource", "2010-05-15", params, 3, 0, NULL,
    };
    struct awsapi *api;
    struct buf b;
    const struct seen *s;

    (void)state;
    env_creds(NULL);
    api = api_new("eu-central-1", NULL, NULL, 0);
    q_reply(200, "<SignalResourceResponse/>", NULL);
    buf_init(&b, 1024);
    assert_int_equal(awsapi_query(api, &q, &b, NULL), AGENT_OK);
    buf_cleanup(&b);
    s = &fk.s[0];
    assert_string_equal(s->url, "https://cloudformation.eu-central-1.amazonaws.com/");
    assert_string_equal(hdr(s, "Host"), "cloudformation.eu-central-1.amazonaws.com");
    assert_string_equal(s->body, "Action=SignalResource&Version=2010-05-15&StackName=my+stack&"
                                 "UniqueId=a~b_c-d.e%2Bf%2Fg%2Ah%3Di%26j%C3%A9&Empty=");
    /* https only: no plain-http permission. */
    assert_int_equal(s->flags, HTTP_SECRET_HEADERS);
    verify_signature(s, AKID_ENV, SKEY, NULL, "eu-central-1", "cloudformation", 0,
                     "content-type;host;x-amz-date");
    awsapi_free(api);
}

static void
test_host_header_ports(void **state)
{
    static const struct {
        const char *url, *host, *wire;
    } t[] = {
        {"https://localhost:8443", "localhost:8443", "https://localhost:8443/"},
        {"https://Example.test:443/", "Example.test", "https://Example.test:443/"},
        {"http://127.0.0.1:80", "127.0.0.1", "http://127.0.0.1:80/"},
        {"http://[::1]:4566/base", "[::1]:4566", "http://[::1]:4566/base/"},
        {"http://localhost", "localhost", "http://localhost/"},
    };
    struct awsapi *api;
    size_t i;

    (void)state;
    env_creds(NULL);
    api = api_new("eu-west-1", NULL, NULL, 0);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        setenv("AWS_ENDPOINT_URL", t[i].url, 1);
        q_reply(200, "<R/>", NULL);
        assert_int_equal(call_register(api, NULL, NULL, 0), AGENT_OK);
        assert_string_equal(fk.s[i].url, t[i].wire);
        assert_string_equal(hdr(&fk.s[i], "Host"), t[i].host);
        verify_signature(&fk.s[i], AKID_ENV, SKEY, NULL, "eu-west-1", "elasticloadbalancing", 0,
                         "content-type;host;x-amz-date");
    }
    awsapi_free(api);
}

static void
test_json_request(void **state)
{
    static const char body[] = "{\"Name\":\"/app/db/password\",\"WithDecryption\":true}";
    static const char reply[] =
        "{\"Parameter\":{\"Name\":\"/app/db/password\",\"Type\":\"SecureString\","
        "\"Value\":\"s3cr3t-value\",\"Version\":1}}";
    struct awsapi *api;
    struct buf b;
    const struct seen *s;
    const char *log;

    (void)state;
    env_creds(STOK);
    setenv("AWS_ENDPOINT_URL_SSM", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(200, reply, NULL);
    buf_init_secret(&b, 64 * 1024);
    cap_start();
    assert_int_equal(awsapi_json(api, AWS_SVC_SSM, "AmazonSSM.GetParameter", body, 1, &b, NULL),
                     AGENT_OK);
    log = cap_end();
    assert_string_equal(buf_cstr(&b), reply);
    /* Nothing of the reply, the token or the signature is logged. */
    assert_null(strstr(log, "s3cr3t-value"));
    assert_null(strstr(log, STOK));
    assert_null(strstr(log, "Signature="));
    buf_cleanup(&b);
    s = &fk.s[0];
    assert_string_equal(s->url, LOCAL "/");
    assert_string_equal(s->body, body);
    assert_string_equal(hdr(s, "Content-Type"), "application/x-amz-json-1.1");
    assert_string_equal(hdr(s, "X-Amz-Target"), "AmazonSSM.GetParameter");
    verify_signature(s, AKID_ENV, SKEY, STOK, "eu-west-1", "ssm", 0,
                     "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");

    /* Secrets Manager: the default endpoint and target prefix. */
    unsetenv("AWS_ENDPOINT_URL_SSM");
    q_reply(200, "{}", NULL);
    buf_init_secret(&b, 1024);
    assert_int_equal(awsapi_json(api, AWS_SVC_SECRETSMANAGER, "secretsmanager.GetSecretValue",
                                 "{\"SecretId\":\"app/api-key\"}", 1, &b, NULL),
                     AGENT_OK);
    buf_cleanup(&b);
    assert_string_equal(fk.s[1].url, "https://secretsmanager.eu-west-1.amazonaws.com/");
    assert_string_equal(hdr(&fk.s[1], "X-Amz-Target"), "secretsmanager.GetSecretValue");
    awsapi_free(api);
}

static void
test_bad_arguments(void **state)
{
    static const struct aws_param np[] = {{"Name", NULL}};
    struct aws_query q = register_q;
    struct awsapi *api;
    struct buf b;

    (void)state;
    env_creds(NULL);
    api = api_new("eu-west-1", NULL, NULL, 0);
    buf_init(&b, 1024);
    q.action = "Bad Action";
    assert_int_equal(awsapi_query(api, &q, &b, NULL), AGENT_ERR_INVAL);
    q.action = "RegisterTargets";
    q.version = "2015/12/01";
    assert_int_equal(awsapi_query(api, &q, &b, NULL), AGENT_ERR_INVAL);
    q.version = "2015-12-01";
    q.params = np;
    q.n_params = 1;
    assert_int_equal(awsapi_query(api, &q, &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_json(api, AWS_SVC_SSM, "Amazon SSM", "{}", 1, &b, NULL),
                     AGENT_ERR_INVAL);
    assert_int_equal(awsapi_json(api, AWS_SVC_SSM, "AmazonSSM.GetParameter", NULL, 1, &b, NULL),
                     AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "Bad_Bucket", "k", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "ab", "k", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "a/../b", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "./b", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "a/..", &b, NULL), AGENT_ERR_INVAL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "a\nb", &b, NULL), AGENT_ERR_INVAL);
    /* Nothing was sent. */
    assert_int_equal(fk.ns, 0);
    buf_cleanup(&b);
    awsapi_free(api);
}

/* ---- S3 ---- */

static void
test_s3_virtual_host(void **state)
{
    struct awsapi *api;
    struct buf b;
    const struct seen *s;

    (void)state;
    env_creds(STOK);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(200, "object bytes", "x-amz-request-id: 4442587FB7D0A2F9\r\n");
    buf_init(&b, 1024);
    assert_int_equal(awsapi_s3_get(api, "my-bucket", "agent/conf ig+1.json", &b, NULL), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "object bytes");
    buf_cleanup(&b);
    s = &fk.s[0];
    assert_string_equal(s->method, "GET");
    assert_string_equal(s->url,
                        "https://my-bucket.s3.eu-west-1.amazonaws.com/agent/conf%20ig%2B1.json");
    assert_string_equal(hdr(s, "Host"), "my-bucket.s3.eu-west-1.amazonaws.com");
    assert_string_equal(hdr(s, "X-Amz-Content-Sha256"), EMPTY_SHA);
    assert_null(hdr(s, "Content-Type"));
    assert_int_equal(s->body_len, 0);
    verify_signature(s, AKID_ENV, SKEY, STOK, "eu-west-1", "s3", 1,
                     "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    assert_int_equal(s->flags, HTTP_SECRET_HEADERS);
    awsapi_free(api);
}

static void
test_s3_path_style(void **state)
{
    struct awsapi *api;
    struct buf b;

    (void)state;
    env_creds(NULL);
    /* us-east-1: the global name; a dotted bucket goes path-style. */
    api = api_new("us-east-1", NULL, NULL, 0);
    buf_init(&b, 1024);
    q_reply(200, "x", NULL);
    assert_int_equal(awsapi_s3_get(api, "my.dotted.bucket", "dir/a b/%41", &b, NULL), AGENT_OK);
    assert_string_equal(fk.s[0].url, "https://s3.amazonaws.com/my.dotted.bucket/dir/a%20b/%2541");
    assert_string_equal(hdr(&fk.s[0], "Host"), "s3.amazonaws.com");
    verify_signature(&fk.s[0], AKID_ENV, SKEY, NULL, "us-east-1", "s3", 1,
                     "host;x-amz-content-sha256;x-amz-date");
    q_reply(200, "x", NULL);
    assert_int_equal(awsapi_s3_get(api, "plain", "k", &b, NULL), AGENT_OK);
    assert_string_equal(fk.s[1].url, "https://plain.s3.amazonaws.com/k");
    /* A custom endpoint: path-style on its host, with any base path. */
    setenv("AWS_ENDPOINT_URL_S3", LOCAL "/s3base/", 1);
    q_reply(200, "x", NULL);
    assert_int_equal(awsapi_s3_get(api, "plain", "//lead/x~y", &b, NULL), AGENT_OK);
    assert_string_equal(fk.s[2].url, LOCAL "/s3base/plain///lead/x~y");
    assert_string_equal(hdr(&fk.s[2], "Host"), "127.0.0.1:5000");
    verify_signature(&fk.s[2], AKID_ENV, SKEY, NULL, "us-east-1", "s3", 1,
                     "host;x-amz-content-sha256;x-amz-date");
    assert_int_equal(fk.s[2].flags, HTTP_ALLOW_HTTP | HTTP_SECRET_HEADERS);
    /* Appended to what the buffer held. */
    assert_string_equal(buf_cstr(&b), "xxx");
    buf_cleanup(&b);
    awsapi_free(api);
}

static void
test_s3_errors_and_caps(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    struct buf b;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL_S3", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    buf_init_secret(&b, 8);
    /* NoSuchKey: XML error, not retried. */
    q_reply(404,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
            "<Message>The specified key does not exist.</Message><Key>k</Key>"
            "<RequestId>4442587FB7D0A2F9</RequestId><HostId>h=</HostId></Error>",
            NULL);
    cap_start();
    assert_int_equal(awsapi_s3_get(api, "bucket", "k", &b, &err), AGENT_ERR_AWS);
    log = cap_end();
    assert_non_null(strstr(log, "s3: GetObject: NoSuchKey: The specified key does not exist. "
                                "(request id 4442587FB7D0A2F9)"));
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.code, "NoSuchKey");
    assert_int_equal(fk.ns, 1);
    /* An error reply bigger than the caller's small cap is still read. */
    assert_true(fk.s[0].max_response >= 64 * 1024);
    /* A 403 with an empty body: the status is the code. */
    q_reply(403, NULL, "x-amz-request-id: RID403\r\n");
    assert_int_equal(awsapi_s3_get(api, "bucket", "k", &b, &err), AGENT_ERR_AWS);
    assert_string_equal(err.code, "403");
    assert_string_equal(err.request_id, "RID403");
    assert_int_equal(fk.ns, 2);
    /* An object over the caller's cap. */
    q_reply(200, "123456789", NULL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "k", &b, &err), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    q_reply(200, "12345678", NULL);
    assert_int_equal(awsapi_s3_get(api, "bucket", "k", &b, &err), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "12345678");
    buf_cleanup(&b);
    awsapi_free(api);
}

/* ---- errors ---- */

static void
test_query_error(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    const char *log;
    char got[64] = "untouched";

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    /* Info level: the failure line must be the only line. */
    log_init(0, LOG_FMT_TEXT);
    q_reply(400,
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
            "<Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
            "<Message>One or more target groups not found</Message></Error>"
            "<RequestId>req-77</RequestId></ErrorResponse>",
            "x-amzn-RequestId: other\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, got, sizeof(got)), AGENT_ERR_AWS);
    log = cap_end();
    assert_string_equal(log, "wcs-agent: elasticloadbalancing: RegisterTargets: "
                             "TargetGroupNotFound: One or more target groups not found "
                             "(request id req-77)\n");
    assert_string_equal(got, "");
    assert_int_equal(err.http_status, 400);
    assert_string_equal(err.code, "TargetGroupNotFound");
    assert_string_equal(err.message, "One or more target groups not found");
    assert_string_equal(err.request_id, "req-77");
    assert_int_equal(fk.ns, 1);

    /* No request id in the document: the header's. */
    q_reply(400, "<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>",
            "x-amzn-RequestId: hdr-req-1\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_non_null(strstr(log, "ValidationError: (no message) (request id hdr-req-1)"));
    assert_string_equal(err.request_id, "hdr-req-1");
    awsapi_free(api);
}

static void
test_json_errors(void **state)
{
    static const struct {
        long status;
        const char *body;
        const char *code, *message;
        enum agent_rc rc;
    } t[] = {
        {400, "{\"__type\":\"ParameterNotFound\",\"message\":\"\"}", "ParameterNotFound", "",
         AGENT_ERR_AWS},
        {400, "{\"__type\":\"com.amazonaws.ssm#ParameterNotFound\",\"Message\":\"gone\"}",
         "ParameterNotFound", "gone", AGENT_ERR_AWS},
        /* moto answers 404: the __type decides, not the status. */
        {404,
         "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Secrets Manager can't "
         "find the specified secret.\"}",
         "ResourceNotFoundException", "Secrets Manager can't find the specified secret.",
         AGENT_ERR_AWS},
        {403,
         "{\"__type\":\"com.amazon.coral.service#AccessDeniedException:http://internal."
         "amazon.com/coral/com.amazon.coral.service/\",\"Message\":\"User is not "
         "authorized\"}",
         "AccessDeniedException", "User is not authorized", AGENT_ERR_AWS},
        {400, "{\"message\":\"no type\"}", "400", "HTTP 400 with an unreadable error body",
         AGENT_ERR_HTTP},
        /* An XML error from a JSON service (moto's authentication errors). */
        {403,
         "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error>"
         "<Code>SignatureDoesNotMatch</Code><Message>bad signature</Message>"
         "<Type>Sender</Type></Error></Errors></ErrorResponse>",
         "SignatureDoesNotMatch", "bad signature", AGENT_ERR_AWS},
        {502, "<html><body>Bad Gateway</body></html>", "502",
         "HTTP 502 with an unreadable error body", AGENT_ERR_UNAVAIL},
    };
    struct awsapi *api;
    struct aws_error err;
    struct buf b;
    size_t i;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    buf_init_secret(&b, 1024);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        q_reply(t[i].status, t[i].body, "x-amzn-RequestId: jr-1\r\n");
        if (t[i].status >= 500) {
            q_reply(t[i].status, t[i].body, "x-amzn-RequestId: jr-1\r\n");
            q_reply(t[i].status, t[i].body, "x-amzn-RequestId: jr-1\r\n");
        }
        assert_int_equal(awsapi_json(api, AWS_SVC_SECRETSMANAGER, "secretsmanager.GetSecretValue",
                                     "{}", 1, &b, &err),
                         t[i].rc);
        assert_string_equal(err.code, t[i].code);
        assert_string_equal(err.message, t[i].message);
        assert_string_equal(err.request_id, "jr-1");
        assert_int_equal(err.http_status, t[i].status);
        /* None of them is retried, but the 5xx. */
        if (t[i].status < 500)
            assert_int_equal(fk.ns, i + 1);
    }
    assert_int_equal(fk.ns, sizeof(t) / sizeof(t[0]) + 2);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    awsapi_free(api);
}

static void
test_parse_json_error(void **state)
{
    static const struct {
        const char *doc, *code, *message;
    } ok[] = {
        {"{\"__type\":\"ThrottlingException\"}", "ThrottlingException", ""},
        {"  {\"__type\":\"a.b#C\",\"message\":7,\"Message\":\"m\"}\n", "C", "m"},
        {"{\"__type\":\"X:y#z\"}", "X", ""},
        {"{\"__type\":\"#Code\",\"message\":\"two\\nlines\"}", "Code", "two lines"},
    };

    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "{\"__type\":5}",
        "{\"__type\":\"\"}",
        "{\"__type\":\"a#\"}",
        "{\"__type\":\":x\"}",
        "{\"__type\":\"with space\"}",
        "{\"__type\":\"X\"} trailing",
        "null",
        "\"__type\"",
    };
    struct aws_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(awsapi_parse_json_error(ok[i].doc, strlen(ok[i].doc), &e), AGENT_OK);
        assert_string_equal(e.code, ok[i].code);
        assert_string_equal(e.message, ok[i].message);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(awsapi_parse_json_error(bad[i], strlen(bad[i]), &e), AGENT_ERR_PARSE);
        assert_string_equal(e.code, "");
    }
    /* A code longer than the field is refused, not cut. */
    {
        char doc[200];

        snprintf(doc, sizeof(doc), "{\"__type\":\"%070d\"}", 1);
        assert_int_equal(awsapi_parse_json_error(doc, strlen(doc), &e), AGENT_ERR_PARSE);
    }
}

static void
test_retry_class(void **state)
{
    (void)state;
    assert_int_equal(awsapi_retry_class(400, "Throttling", 0), 2);
    assert_int_equal(awsapi_retry_class(400, "ThrottlingException", 0), 2);
    assert_int_equal(awsapi_retry_class(503, "SlowDown", 0), 2);
    assert_int_equal(awsapi_retry_class(400, "RequestLimitExceeded", 0), 2);
    assert_int_equal(awsapi_retry_class(429, NULL, 0), 2);
    assert_int_equal(awsapi_retry_class(400, "RequestTimeout", 0), 1);
    assert_int_equal(awsapi_retry_class(400, "PriorRequestNotComplete", 0), 2);
    assert_int_equal(awsapi_retry_class(500, "InternalFailure", 0), 1);
    assert_int_equal(awsapi_retry_class(502, NULL, 0), 1);
    assert_int_equal(awsapi_retry_class(503, "ServiceUnavailable", 0), 1);
    assert_int_equal(awsapi_retry_class(504, "", 0), 1);
    assert_int_equal(awsapi_retry_class(0, NULL, 1), 1);
    assert_int_equal(awsapi_retry_class(501, NULL, 0), 0);
    assert_int_equal(awsapi_retry_class(403, "AccessDenied", 0), 0);
    assert_int_equal(awsapi_retry_class(400, "ValidationError", 0), 0);
    assert_int_equal(awsapi_retry_class(404, "NoSuchKey", 0), 0);
    assert_int_equal(awsapi_retry_class(400, "throttling", 0), 0);
}

/* ---- retries ---- */

#define THROTTLE_XML                                                                         \
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded" \
    "</Message></Error><RequestId>t-1</RequestId></ErrorResponse>"

static void
test_retry_throttling_then_success(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    struct buf b;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(200, "<ok/>", NULL);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    log = cap_end();
    assert_int_equal(fk.ns, 3);
    /* Throttling backs off from 1 s, full jitter (0.5 here), doubling. */
    assert_int_equal(fk.nsleeps, 2);
    assert_int_equal(fk.sleeps[0], 500);
    assert_int_equal(fk.sleeps[1], 1000);
    assert_non_null(strstr(log, "attempt 1 of 3: Throttling (HTTP 400); retrying in 500 ms"));
    assert_null(strstr(log, "rror"));
    /* Two retries took 10, the success gave back the last 5. */
    assert_int_equal(awsapi_retry_quota(api), 495);
    /* Each attempt is signed anew. */
    assert_non_null(hdr(&fk.s[2], "Authorization"));

    /* JSON: ThrottlingException, then success. */
    q_reply(400, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}", NULL);
    q_reply(200, "{}", NULL);
    buf_init(&b, 1024);
    assert_int_equal(awsapi_json(api, AWS_SVC_SSM, "AmazonSSM.GetParameter", "{}", 1, &b, &err),
                     AGENT_OK);
    buf_cleanup(&b);
    assert_int_equal(fk.ns, 5);
    assert_int_equal(fk.sleeps[2], 500);
    assert_int_equal(awsapi_retry_quota(api), 495);
    /* A first-try success gives back 1 (up to 500). */
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(awsapi_retry_quota(api), 496);
    awsapi_free(api);
}

static void
test_retry_throttling_exhausted(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(400, THROTTLE_XML, NULL);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_THROTTLE);
    log = cap_end();
    assert_int_equal(fk.ns, 3);
    assert_int_equal(fk.nsleeps, 2);
    assert_string_equal(err.code, "Throttling");
    assert_non_null(strstr(log, "wcs-agent: elasticloadbalancing: RegisterTargets: Throttling: "
                                "Rate exceeded (request id t-1)\n"));
    awsapi_free(api);
}

static void
test_retry_5xx_then_success(void **state)
{
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(503, "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>",
            NULL);
    q_reply(500, "<html>oops</html>", NULL);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(fk.ns, 3);
    /* Transient errors back off from 50 ms. */
    assert_int_equal(fk.sleeps[0], 25);
    assert_int_equal(fk.sleeps[1], 50);

    /* A connection refused, then success. */
    q_fail(AGENT_ERR_NET, HTTP_FAIL_REFUSED, 0);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(fk.ns, 5);
    awsapi_free(api);
}

static void
test_no_retry_access_denied(void **state)
{
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(403,
            "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:"
            "assumed-role/r/i-1 is not authorized</Message></Error></ErrorResponse>",
            "Date: Sun, 30 Aug 2015 12:36:10 GMT\r\n");
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    assert_int_equal(fk.ns, 1);
    assert_int_equal(fk.nsleeps, 0);
    assert_string_equal(err.code, "AccessDenied");
    awsapi_free(api);
}

static void
test_non_idempotent(void **state)
{
    static const struct aws_param p[] = {{"StackName", "s"}};
    static const struct aws_query q = {
        AWS_SVC_CLOUDFORMATION, "SignalResource", "2010-05-15", p, 1, 0, NULL,
    };
    struct awsapi *api;
    struct aws_error err;
    struct buf b;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    buf_init(&b, 1024);
    /* A timeout after the request went out: it may have been applied. */
    q_fail(AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    cap_start();
    assert_int_equal(awsapi_query(api, &q, &b, &err), AGENT_ERR_TIMEOUT);
    log = cap_end();
    assert_int_equal(fk.ns, 1);
    assert_non_null(strstr(log, "cloudformation: SignalResource: "));
    assert_non_null(strstr(log, "(after 1 attempt)"));
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.code, "");
    /* A reset after connecting: same. */
    q_fail(AGENT_ERR_NET, HTTP_FAIL_OTHER, 1);
    assert_int_equal(awsapi_query(api, &q, &b, &err), AGENT_ERR_NET);
    assert_int_equal(fk.ns, 2);
    /* A 400 RequestTimeout is retried only for idempotent calls. */
    q_reply(400, "<ErrorResponse><Error><Code>RequestTimeout</Code></Error></ErrorResponse>", NULL);
    assert_int_equal(awsapi_query(api, &q, &b, &err), AGENT_ERR_AWS);
    assert_int_equal(fk.ns, 3);
    /* Refused before sending, throttling and 5xx are retried. */
    q_fail(AGENT_ERR_NET, HTTP_FAIL_REFUSED, 0);
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(awsapi_query(api, &q, &b, &err), AGENT_OK);
    assert_int_equal(fk.ns, 6);
    q_reply(502, NULL, NULL);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(awsapi_query(api, &q, &b, &err), AGENT_OK);
    assert_int_equal(fk.ns, 8);
    buf_cleanup(&b);

    /* The idempotent call is retried after a timeout, at twice the quota cost. */
    q_fail(AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    q_fail(AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    q_fail(AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    {
        int before = awsapi_retry_quota(api);

        cap_start();
        assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_TIMEOUT);
        log = cap_end();
        assert_int_equal(awsapi_retry_quota(api), before - 20);
        assert_non_null(strstr(log, "(after 3 attempts)"));
    }
    assert_int_equal(fk.ns, 11);
    awsapi_free(api);
}

static void
test_policy_and_toobig_not_retried(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    struct buf b;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_fail(AGENT_ERR_INVAL, HTTP_FAIL_POLICY, 0);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(fk.ns, 1);
    q_fail(AGENT_ERR_TOOBIG, HTTP_FAIL_TOOBIG, 1);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_TOOBIG);
    assert_int_equal(fk.ns, 2);
    /* A reply bigger than the caller's buffer. */
    q_reply(200, "<a-long-reply/>", NULL);
    buf_init(&b, 4);
    assert_int_equal(awsapi_query(api, &register_q, &b, &err), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    awsapi_free(api);
}

static void
test_quota_exhaustion(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    int i;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    /* Each failing call takes 2 retries (10 tokens): 50 calls empty the bucket of 500. */
    for (i = 0; i < 50; i++) {
        q_reply(503, NULL, NULL);
        q_reply(503, NULL, NULL);
        q_reply(503, NULL, NULL);
        assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_UNAVAIL);
        assert_string_equal(err.code, "503");
        fk.nq = fk.next = fk.ns = fk.nsleeps = 0;
    }
    assert_int_equal(awsapi_retry_quota(api), 0);
    /* Now nothing is retried. */
    q_reply(503, NULL, NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_UNAVAIL);
    assert_int_equal(fk.ns, 1);
    /* Successes refill it. */
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(awsapi_retry_quota(api), 1);
    awsapi_free(api);
}

static void
test_backoff_never_past_deadline(void **state)
{
    struct deadline d;
    struct awsapi *api;
    struct aws_error err;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    /* 1.5 s left; a throttling backoff of 0.99 * 1 s fits, the next (0.99 * 2 s) does not. */
    deadline_in(&d, 1500);
    api = api_new("eu-west-1", NULL, &d, 5);
    fk.jitter = 0.99;
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(400, THROTTLE_XML, NULL);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_THROTTLE);
    log = cap_end();
    assert_int_equal(fk.ns, 2);
    assert_int_equal(fk.nsleeps, 1);
    assert_int_equal(fk.sleeps[0], 990);
    assert_non_null(strstr(log, "would pass the deadline"));
    /* Each attempt's timeout is capped by the deadline. */
    assert_true(fk.s[0].timeout_ms <= 1500);
    /* Only the retry that happened was charged. */
    assert_int_equal(awsapi_retry_quota(api), 495);

    /* An expired deadline: nothing is sent. */
    deadline_in(&d, 0);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_TIMEOUT);
    log = cap_end();
    assert_int_equal(fk.ns, 2);
    assert_non_null(strstr(log, "deadline has passed"));
    awsapi_free(api);
}

/*
 * Under a run deadline, throttling and 5xx are retried past max_attempts for
 * as long as the deadline leaves room for one more call after the backoff;
 * without one (or for other errors) max_attempts holds.
 */
static void
test_retry_until_deadline(void **state)
{
    struct deadline d;
    struct awsapi *api;
    struct aws_error err;
    const char *log;
    int i;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    deadline_in(&d, 3600 * 1000);
    api = api_new("eu-west-1", NULL, &d, 3);
    fk.jitter = 0.5;
    /* Ten throttles, then a 503, then success: eleven retries where 3 attempts would give up. */
    for (i = 0; i < 10; i++)
        q_reply(400, THROTTLE_XML, NULL);
    q_reply(503, NULL, NULL);
    q_reply(200, "<RegisterTargetsResponse/>", NULL);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    log = cap_end();
    assert_int_equal(fk.ns, 12);
    assert_int_equal(fk.nsleeps, 11);
    /* Full jitter over a capped exponential: 0.5 * min(1 s * 2^(n-1), 20 s). */
    assert_int_equal(fk.sleeps[0], 500);
    assert_int_equal(fk.sleeps[4], 8000);
    assert_int_equal(fk.sleeps[5], 10000);
    assert_int_equal(fk.sleeps[9], 10000);
    assert_non_null(strstr(log, "attempt 3 (the deadline allows more)"));
    awsapi_free(api);

    /* 503 for ever, 12 s left: retried while the backoff leaves a call's timeout (1 s) + 5 s. */
    fk.nq = fk.next = fk.ns = fk.nsleeps = 0;
    deadline_in(&d, 12000);
    {
        struct awsapi_opts o;

        memset(&o, 0, sizeof(o));
        o.region = "eu-west-1";
        o.creds = prov;
        o.deadline = &d;
        o.max_attempts = 3;
        o.timeout_ms = 1000;
        assert_int_equal(awsapi_new(&o, &api), AGENT_OK);
    }
    fk.jitter = 0.99;
    for (i = 0; i < 20; i++)
        q_reply(503, NULL, NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_UNAVAIL);
    /* Sleeps 0.99 * 50, 100, ..., 3200 ms; 6336 ms would leave under 6 s of the 12. */
    assert_int_equal(fk.nsleeps, 7);
    assert_int_equal(fk.sleeps[6], 3168);
    assert_int_equal(fk.ns, 8);
    /* 5xx is temporary: exit 75. */
    assert_int_equal(agent_rc_exit_status(AGENT_ERR_UNAVAIL), 75);
    awsapi_free(api);
}

/* The adaptive mode: after a throttle the next request waits for the service's bucket. */
static void
test_adaptive_rate_limit(void **state)
{
    struct awsapi_hooks h = {fake_sleep, fake_jitter, &fk, 0};
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    awsapi_set_hooks(&h);
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 3);
    fk.jitter = 0.0;
    q_reply(200, "<RegisterTargetsResponse/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(fk.nsleeps, 0); /* off until throttled */
    q_reply(400, THROTTLE_XML, NULL);
    q_reply(200, "<RegisterTargetsResponse/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    /* The backoff (0 with this jitter), then a wait for a token of a bucket at >= 0.5/s. */
    assert_true(fk.nsleeps >= 2);
    assert_int_equal(fk.sleeps[0], 0);
    assert_true(fk.sleeps[1] > 0 && fk.sleeps[1] <= 2000);
    awsapi_free(api);
}

static void
test_clock_skew(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    const char *log;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    /* AWS's clock 10 minutes after ours. */
    q_reply(403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Signature "
            "expired</Message></Error><RequestId>sk-1</RequestId></ErrorResponse>",
            "Content-Type: text/xml\r\nDate: Sun, 30 Aug 2015 12:46:00 GMT\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_int_equal(fk.ns, 1);
    assert_string_equal(err.code, "SignatureDoesNotMatch");
    assert_non_null(strstr(log, "clock skew: local clock is 600 s behind AWS; sync the clock "
                                "(chrony/NTP)"));
    assert_non_null(strstr(log, "SignatureDoesNotMatch: Signature expired (request id sk-1)"));
    /* Ours an hour ahead: RequestExpired. */
    q_reply(400, "<ErrorResponse><Error><Code>RequestExpired</Code></Error></ErrorResponse>",
            "Date: Sun, 30 Aug 2015 11:36:00 GMT\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_non_null(strstr(log, "local clock is 3600 s ahead of AWS"));
    /* Within 5 minutes: no skew message. */
    q_reply(403, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
            "Date: Sun, 30 Aug 2015 12:40:59 GMT\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_null(strstr(log, "clock skew"));
    /* A malformed Date says nothing either. */
    q_reply(403, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
            "Date: yesterday\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_null(strstr(log, "clock skew"));
    /* Skew with an unrelated error is not reported. */
    q_reply(400, "<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>",
            "Date: Sun, 30 Aug 2015 14:00:00 GMT\r\n");
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    log = cap_end();
    assert_null(strstr(log, "clock skew"));
    awsapi_free(api);
}

static void
test_expired_token_refresh(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    const char *log;

    (void)state;
    imds_creds();
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(403,
            "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token "
            "included in the request is expired</Message></Error></ErrorResponse>",
            NULL);
    q_reply(200, "<ok/>", NULL);
    cap_start();
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    log = cap_end();
    assert_int_equal(fk.ns, 2);
    assert_int_equal(fk.imds_creds_gets, 2);
    /* Immediately, with the new credentials, free of the quota. */
    assert_int_equal(fk.nsleeps, 0);
    assert_int_equal(awsapi_retry_quota(api), 500);
    verify_signature(&fk.s[0], "ASIAROLEKEY00001", "roleSecret1", "roleToken1", "eu-west-1",
                     "elasticloadbalancing", 0,
                     "content-type;host;x-amz-date;x-amz-security-token");
    verify_signature(&fk.s[1], "ASIAROLEKEY00002", "roleSecret2", "roleToken2", "eu-west-1",
                     "elasticloadbalancing", 0,
                     "content-type;host;x-amz-date;x-amz-security-token");
    /* The secret and the tokens are never logged. */
    assert_null(strstr(log, "roleSecret"));
    assert_null(strstr(log, "roleToken"));

    /* Only once per call: a second ExpiredToken is final. */
    q_reply(403, "<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error></ErrorResponse>",
            NULL);
    q_reply(403, "<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    assert_int_equal(fk.ns, 4);
    assert_int_equal(fk.imds_creds_gets, 3);
    assert_string_equal(err.code, "ExpiredToken");
    awsapi_free(api);
}

static void
test_expired_token_env_not_retried(void **state)
{
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    env_creds(STOK);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(403, "<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_AWS);
    assert_int_equal(fk.ns, 1);
    awsapi_free(api);
}

static void
test_credentials_refreshed_by_clock(void **state)
{
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    imds_creds();
    fk.imds_exp = T0 + 3600;
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    /* 56 minutes later (inside the 5 minute window) the next call fetches new ones. */
    fk.imds_exp = T0 + 7200;
    clock_set_fake(T0 + 3600 - 240);
    q_reply(200, "<ok/>", NULL);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_OK);
    assert_int_equal(fk.imds_creds_gets, 2);
    assert_non_null(strstr(hdr(&fk.s[1], "Authorization"), "Credential=ASIAROLEKEY00002/"));
    awsapi_free(api);
}

static void
test_no_credentials(void **state)
{
    struct awsapi *api;
    struct aws_error err;

    (void)state;
    assert_int_equal(creds_provider_new(NULL, NULL, &prov), AGENT_OK);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_ABSENT);
    assert_int_equal(fk.ns, 0);
    awsapi_free(api);
}

static void
test_redirect_not_followed(void **state)
{
    struct awsapi *api;
    struct aws_error err;
    struct buf b;

    (void)state;
    env_creds(NULL);
    setenv("AWS_ENDPOINT_URL", LOCAL, 1);
    api = api_new("eu-west-1", NULL, NULL, 0);
    q_reply(301, NULL, "Location: https://elsewhere.example/\r\n");
    assert_int_equal(call_register(api, &err, NULL, 0), AGENT_ERR_HTTP);
    assert_int_equal(fk.ns, 1);
    assert_int_equal(err.http_status, 301);
    assert_string_equal(err.code, "301");
    assert_int_equal(fk.s[0].flags & HTTP_FOLLOW_REDIRECTS, 0);
    /* S3's PermanentRedirect (wrong region) is an AWS error. */
    q_reply(301,
            "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to "
            "access must be addressed using the specified endpoint.</Message></Error>",
            "x-amz-bucket-region: eu-central-1\r\n");
    buf_init(&b, 1024);
    assert_int_equal(awsapi_s3_get(api, "bucket", "k", &b, &err), AGENT_ERR_AWS);
    assert_string_equal(err.code, "PermanentRedirect");
    assert_int_equal(fk.ns, 2);
    assert_int_equal(fk.s[1].flags & HTTP_FOLLOW_REDIRECTS, 0);
    buf_cleanup(&b);
    awsapi_free(api);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_endpoint_defaults),
        T(test_endpoint_overrides),
        T(test_endpoint_bad_overrides),
        T(test_new_checks),
        T(test_query_request),
        T(test_query_default_endpoint_and_encoding),
        T(test_host_header_ports),
        T(test_json_request),
        T(test_bad_arguments),
        T(test_s3_virtual_host),
        T(test_s3_path_style),
        T(test_s3_errors_and_caps),
        T(test_query_error),
        T(test_json_errors),
        T(test_parse_json_error),
        T(test_retry_class),
        T(test_retry_throttling_then_success),
        T(test_retry_throttling_exhausted),
        T(test_retry_5xx_then_success),
        T(test_no_retry_access_denied),
        T(test_non_idempotent),
        T(test_policy_and_toobig_not_retried),
        T(test_quota_exhaustion),
        T(test_backoff_never_past_deadline),
        T(test_retry_until_deadline),
        T(test_adaptive_rate_limit),
        T(test_clock_skew),
        T(test_expired_token_refresh),
        T(test_expired_token_env_not_retried),
        T(test_credentials_refreshed_by_clock),
        T(test_no_credentials),
        T(test_redirect_not_followed),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
