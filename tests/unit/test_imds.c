/*
 * imds: IMDSv2 client logic over the http transport seam (canned replies),
 * plus the identity and role-credential parsers.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/imds.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define EP "http://169.254.169.254"

/* ---- the fake IMDS ---- */

/* One canned reply: either a status (with body and header lines) or a transport failure. */
struct reply {
    const char *method; /* "PUT" or "GET" */
    const char *path;   /* the URL must end with it */
    long status;
    const char *body;
    const char *headers;
    enum agent_rc rc;
    enum http_fail fail;
    int connected;
};

struct route {
    const char *path;
    long status;
    const char *body;
};

#define MAX_QUEUE  32
#define MAX_ROUTES 48

struct fake {
    struct reply queue[MAX_QUEUE]; /* served first, in order */
    size_t nq, next;
    struct route routes[MAX_ROUTES]; /* then GETs by path; PUT always gets a token */
    size_t nr;
    char token[64]; /* the token most recently handed out */
    int token_serial;
    unsigned puts, gets;
    int bad_header; /* a GET without the current token, or a PUT without the TTL */
    char last_url[512];
};

static struct fake fk;

static void
q_status(const char *method, const char *path, long status, const char *body)
{
    struct reply *r = &fk.queue[fk.nq++];

    assert_true(fk.nq <= MAX_QUEUE);
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->status = status;
    r->body = body;
}

static void
q_fail(const char *method, const char *path, enum agent_rc rc, enum http_fail f, int connected)
{
    struct reply *r = &fk.queue[fk.nq++];

    assert_true(fk.nq <= MAX_QUEUE);
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->rc = rc;
    r->fail = f;
    r->connected = connected;
}

static void
route(const char *path, long status, const char *body)
{
    struct route *r = &fk.routes[fk.nr++];

    assert_true(fk.nr <= MAX_ROUTES);
    r->path = path;
    r->status = status;
    r->body = body;
}

static int
has_header_line(const struct http_request *req, const char *line)
{
    size_t i;

    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if (strcmp(req->headers[i], line) == 0)
            return 1;
    }
    return 0;
}

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;
    const char *path = NULL, *body = NULL, *headers = NULL;
    long status = 0;
    char expect[128];
    size_t i, ul = strlen(req->url);

    (void)ctx;
    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    assert_int_equal(req->flags & (HTTP_ALLOW_HTTP | HTTP_NO_PROXY | HTTP_SECRET_HEADERS),
                     HTTP_ALLOW_HTTP | HTTP_NO_PROXY | HTTP_SECRET_HEADERS);
    assert_true(req->timeout_ms > 0);
    assert_true(req->max_response > 0 && req->max_response <= IMDS_USER_DATA_FETCH_MAX);
    if (strstr(req->url, "/latest/user-data") == NULL)
        assert_true(req->max_response <= IMDS_MAX_RESPONSE);
    if (strcmp(req->method, "PUT") == 0) {
        f->puts++;
        if (!has_header_line(req, "X-aws-ec2-metadata-token-ttl-seconds: 21600"))
            f->bad_header++;
    } else {
        assert_string_equal(req->method, "GET");
        f->gets++;
        snprintf(expect, sizeof(expect), "X-aws-ec2-metadata-token: %s", f->token);
        if (f->token[0] == '\0' || !has_header_line(req, expect))
            f->bad_header++;
    }

    if (f->next < f->nq) {
        const struct reply *r = &f->queue[f->next++];

        assert_string_equal(req->method, r->method);
        path = r->path;
        if (ul < strlen(path) || strcmp(req->url + ul - strlen(path), path) != 0)
            fail_msg("expected a request for %s, got %s", path, req->url);
        if (r->rc != AGENT_OK) {
            resp->fail = r->fail;
            resp->connected = r->connected;
            return r->rc;
        }
        status = r->status;
        body = r->body;
        headers = r->headers;
    } else if (strcmp(req->method, "PUT") == 0) {
        status = 200;
    } else {
        status = 404;
        for (i = 0; i < f->nr; i++) {
            size_t pl = strlen(f->routes[i].path);

            if (ul >= pl && strcmp(req->url + ul - pl, f->routes[i].path) == 0 &&
                req->url[ul - pl - 1] == '/') {
                status = f->routes[i].status;
                body = f->routes[i].body;
                break;
            }
        }
    }
    /* A successful PUT hands out a new token (unless the canned body says otherwise). */
    if (strcmp(req->method, "PUT") == 0 && status == 200) {
        if (body == NULL) {
            snprintf(f->token, sizeof(f->token), "AQAEAtoken-%d==", ++f->token_serial);
            body = f->token;
        } else {
            snprintf(f->token, sizeof(f->token), "%s", body);
        }
    }
    resp->status = status;
    resp->connected = 1;
    if (body != NULL && strlen(body) > req->max_response) {
        resp->fail = HTTP_FAIL_TOOBIG;
        return AGENT_ERR_TOOBIG;
    }
    if (body != NULL)
        assert_int_equal(buf_puts(&resp->body, body), AGENT_OK);
    if (headers != NULL)
        assert_int_equal(buf_puts(&resp->headers, headers), AGENT_OK);
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

static int
setup(void **state)
{
    struct http_transport t = {fake_perform, &fk};

    (void)state;
    memset(&fk, 0, sizeof(fk));
    http_set_transport(&t);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    log_init(0, LOG_FMT_TEXT);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    if (cap_file != NULL)
        cap_end();
    http_set_transport(NULL);
    /* Every GET of every test carried the token current at the time; every PUT the TTL. */
    assert_int_equal(fk.bad_header, 0);
    return 0;
}

static struct imds_client *
client(int attempts)
{
    struct imds_opts o;
    struct imds_client *c = NULL;

    memset(&o, 0, sizeof(o));
    o.endpoint = EP;
    o.timeout_ms = 500;
    o.attempts = attempts;
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    assert_non_null(c);
    return c;
}

/* Fetches path into a fresh buffer; returns the code, the value in out[cap]. */
static enum agent_rc
get(struct imds_client *c, const char *path, char *out, size_t cap)
{
    struct buf b;
    enum agent_rc rc;

    buf_init(&b, IMDS_MAX_RESPONSE);
    rc = imds_get(c, path, &b);
    if (out != NULL)
        snprintf(out, cap, "%s", buf_cstr(&b));
    buf_cleanup(&b);
    return rc;
}

/* ---- token handling ---- */

static void
test_token_reuse(void **state)
{
    struct imds_client *c = client(3);
    unsigned puts, gets;
    char v[64];
    int i;

    (void)state;
    route("instance-id", 200, "i-0123456789abcdef0");
    for (i = 0; i < 6; i++) {
        assert_int_equal(get(c, "instance-id", v, sizeof(v)), AGENT_OK);
        assert_string_equal(v, "i-0123456789abcdef0");
    }
    imds_counters(c, &puts, &gets);
    assert_int_equal(puts, 1);
    assert_int_equal(gets, 6);
    assert_int_equal(fk.puts, 1);
    assert_int_equal(fk.bad_header, 0);
    assert_string_equal(fk.last_url, EP "/latest/meta-data/instance-id");
    imds_free(c);
}

static void
test_401_renews_token(void **state)
{
    struct imds_client *c = client(3);
    unsigned puts, gets;
    char v[64];

    (void)state;
    q_status("PUT", "/latest/api/token", 200, "first-token");
    q_status("GET", "/latest/meta-data/instance-type", 401, NULL);
    q_status("PUT", "/latest/api/token", 200, "second-token");
    q_status("GET", "/latest/meta-data/instance-type", 200, "m5.large");
    assert_int_equal(get(c, "instance-type", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "m5.large");
    imds_counters(c, &puts, &gets);
    assert_int_equal(puts, 2);
    assert_int_equal(gets, 2);
    /* Each GET carried the token current at the time. */
    assert_int_equal(fk.bad_header, 0);
    assert_string_equal(fk.token, "second-token");
    imds_free(c);
}

static void
test_401_twice_fails(void **state)
{
    struct imds_client *c = client(3);
    const char *log;

    (void)state;
    q_status("PUT", "/latest/api/token", 200, NULL);
    q_status("GET", "/mac", 401, NULL);
    q_status("PUT", "/latest/api/token", 200, NULL);
    q_status("GET", "/mac", 401, NULL);
    cap_start();
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_ERR_HTTP);
    log = cap_end();
    assert_non_null(strstr(log, "401"));
    assert_int_equal(fk.next, 4);
    imds_free(c);
}

static void
test_ttl_header_honoured(void **state)
{
    struct imds_client *c = client(3);
    unsigned puts;

    (void)state;
    fk.queue[0] = (struct reply){"PUT",
                                 "/latest/api/token",
                                 200,
                                 "short-token",
                                 "X-aws-ec2-metadata-token-ttl-seconds: 1\r\n",
                                 AGENT_OK,
                                 HTTP_FAIL_NONE,
                                 1};
    fk.nq = 1;
    route("mac", 200, "0e:49:61:0f:c3:11");
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_OK);
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_OK);
    imds_counters(c, &puts, NULL);
    assert_int_equal(puts, 1);
    /* A 1 s token is fetched again after half its life. */
    clock_sleep_ms(600);
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_OK);
    imds_counters(c, &puts, NULL);
    assert_int_equal(puts, 2);
    assert_int_equal(fk.bad_header, 0);
    imds_free(c);
}

static void
test_token_not_logged(void **state)
{
    struct imds_client *c = client(3);
    const char *log;

    (void)state;
    q_status("PUT", "/latest/api/token", 200, "VERYSECRETTOKENVALUE");
    route("instance-id", 200, "i-0123456789abcdef0");
    log_init(3, LOG_FMT_TEXT);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_OK);
    /* Even if someone logs it, redaction by value catches it. */
    log_errx("imds test: %s", "VERYSECRETTOKENVALUE");
    log = cap_end();
    log_init(0, LOG_FMT_TEXT);
    assert_non_null(strstr(log, "http: GET"));
    assert_null(strstr(log, "VERYSECRETTOKENVALUE"));
    imds_free(c);
}

/* ---- retries ---- */

static void
test_retry_5xx_429_then_ok(void **state)
{
    struct imds_client *c = client(5);
    unsigned puts, gets;
    char v[64];

    (void)state;
    q_status("PUT", "/latest/api/token", 503, NULL);
    q_status("PUT", "/latest/api/token", 200, NULL);
    q_status("GET", "/placement/region", 503, NULL);
    q_status("GET", "/placement/region", 429, NULL);
    q_status("GET", "/placement/region", 500, NULL);
    q_status("GET", "/placement/region", 200, "eu-west-1");
    assert_int_equal(get(c, "placement/region", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "eu-west-1");
    imds_counters(c, &puts, &gets);
    assert_int_equal(puts, 2);
    assert_int_equal(gets, 4);
    imds_free(c);
}

static void
test_retry_exhausted(void **state)
{
    struct imds_client *c = client(3);
    unsigned gets;
    const char *log;

    (void)state;
    q_status("PUT", "/latest/api/token", 200, NULL);
    q_fail("GET", "/instance-id", AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    q_fail("GET", "/instance-id", AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    q_fail("GET", "/instance-id", AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_TIMEOUT);
    log = cap_end();
    imds_counters(c, NULL, &gets);
    assert_int_equal(gets, 3);
    assert_non_null(strstr(log, "instance-id from " EP " timed out after connecting"));

    /* Refused three times: a network error naming the endpoint. */
    q_fail("GET", "/mac", AGENT_ERR_NET, HTTP_FAIL_REFUSED, 0);
    q_fail("GET", "/mac", AGENT_ERR_NET, HTTP_FAIL_REFUSED, 0);
    q_fail("GET", "/mac", AGENT_ERR_NET, HTTP_FAIL_REFUSED, 0);
    cap_start();
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_ERR_NET);
    log = cap_end();
    assert_non_null(
        strstr(log, "imds: connection to " EP " refused: no instance metadata service there"));

    /* 5xx to the end: temporary. */
    q_status("GET", "/mac", 502, NULL);
    q_status("GET", "/mac", 503, NULL);
    q_status("GET", "/mac", 504, NULL);
    cap_start();
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_ERR_NET);
    log = cap_end();
    assert_non_null(strstr(log, "imds: mac from " EP ": HTTP 504 after 3 attempts"));

    /* 429 to the end: throttled. */
    q_status("GET", "/mac", 429, NULL);
    q_status("GET", "/mac", 429, NULL);
    q_status("GET", "/mac", 429, NULL);
    cap_start();
    assert_int_equal(get(c, "mac", NULL, 0), AGENT_ERR_THROTTLE);
    log = cap_end();
    assert_non_null(strstr(log, "imds: mac from " EP ": throttled (HTTP 429) after 3 attempts"));
    assert_int_equal(fk.next, fk.nq);
    imds_free(c);
}

static void
test_deadline_stops_retries(void **state)
{
    struct imds_opts o;
    struct imds_client *c = NULL;
    struct deadline dl;
    int64_t t0;
    int i;

    (void)state;
    for (i = 0; i < MAX_QUEUE; i++)
        q_status("PUT", "/latest/api/token", 503, NULL);
    memset(&o, 0, sizeof(o));
    o.endpoint = EP;
    o.timeout_ms = 1000;
    o.attempts = 30;
    deadline_in(&dl, 150);
    o.deadline = &dl;
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    t0 = clock_mono_ms();
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_TIMEOUT);
    assert_non_null(strstr(cap_end(), "imds: token request to " EP ": "));
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_true(fk.next < 30);
    /* No GET without a token: no IMDSv1 fallback. */
    assert_int_equal(fk.gets, 0);
    imds_free(c);
}

/* ---- diagnosis lines ---- */

static void
test_put_timeout_hop_limit(void **state)
{
    struct imds_client *c = client(2);
    const char *log;

    (void)state;
    q_fail("PUT", "/latest/api/token", AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    q_fail("PUT", "/latest/api/token", AGENT_ERR_TIMEOUT, HTTP_FAIL_TIMEOUT, 1);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_TIMEOUT);
    log = cap_end();
    assert_non_null(strstr(log, "imds: token request to " EP " timed out after connecting: the "
                                "PUT response hop limit is probably too low (container?); set "
                                "HttpPutResponseHopLimit to 2"));
    /* Exactly one line, and no IMDSv1 GET afterwards. */
    assert_null(strchr(strchr(log, '\n') + 1, '\n'));
    assert_int_equal(fk.gets, 0);
    imds_free(c);
}

static void
test_put_connect_timeout(void **state)
{
    struct imds_client *c = client(1);
    const char *log;

    (void)state;
    q_fail("PUT", "/latest/api/token", AGENT_ERR_TIMEOUT, HTTP_FAIL_CONNECT_TIMEOUT, 0);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_TIMEOUT);
    log = cap_end();
    assert_non_null(strstr(log, "imds: connection to " EP ": no answer (not on EC2?)"));
    assert_null(strstr(log, "hop limit"));
    imds_free(c);
}

static void
test_403_disabled(void **state)
{
    struct imds_client *c = client(3);
    const char *log;

    (void)state;
    /* On the token PUT: no GET follows. */
    q_status("PUT", "/latest/api/token", 403, NULL);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_DISABLED);
    log = cap_end();
    assert_non_null(strstr(log, "imds: " EP " answered 403: instance metadata is disabled for "
                                "this instance (HttpEndpoint=disabled)"));
    assert_int_equal(fk.puts, 1);
    assert_int_equal(fk.gets, 0);

    /* On a GET. */
    q_status("PUT", "/latest/api/token", 200, NULL);
    q_status("GET", "/instance-id", 403, NULL);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_DISABLED);
    log = cap_end();
    assert_non_null(strstr(log, "answered 403"));
    assert_int_equal(fk.gets, 1);
    imds_free(c);
}

static void
test_put_400_terminal(void **state)
{
    struct imds_client *c = client(5);
    const char *log;

    (void)state;
    q_status("PUT", "/latest/api/token", 400, NULL);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_HTTP);
    log = cap_end();
    assert_non_null(strstr(log, "HTTP 400"));
    assert_int_equal(fk.puts, 1);
    assert_int_equal(fk.gets, 0);
    imds_free(c);
}

static void
test_404_absent_not_logged(void **state)
{
    struct imds_client *c = client(3);
    const char *log;

    (void)state;
    cap_start();
    assert_int_equal(get(c, "public-ipv4", NULL, 0), AGENT_ERR_ABSENT);
    assert_int_equal(get(c, "/latest/user-data", NULL, 0), AGENT_ERR_ABSENT);
    log = cap_end();
    assert_string_equal(log, "");
    assert_string_equal(fk.last_url, EP "/latest/user-data");
    imds_free(c);
}

static void
test_bad_paths(void **state)
{
    struct imds_client *c = client(1);

    (void)state;
    cap_start();
    assert_int_equal(get(c, "../../etc", NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(get(c, "tags/instance/a b", NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(get(c, "x?y=1", NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(get(c, "a/./b", NULL, 0), AGENT_ERR_INVAL);
    assert_int_equal(get(c, "x\ny", NULL, 0), AGENT_ERR_INVAL);
    cap_end();
    assert_int_equal(fk.puts + fk.gets, 0);
    imds_free(c);
}

/* ---- construction ---- */

static void
test_disabled_env(void **state)
{
    struct imds_opts o;
    struct imds_client *c = NULL;
    const char *log;

    (void)state;
    memset(&o, 0, sizeof(o));
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    cap_start();
    assert_int_equal(imds_new(&o, &c), AGENT_ERR_DISABLED);
    log = cap_end();
    assert_null(c);
    assert_non_null(strstr(log, "AWS_EC2_METADATA_DISABLED"));

    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    imds_free(c);
    unsetenv("AWS_EC2_METADATA_DISABLED");
}

static void
test_endpoint_choice(void **state)
{
    struct imds_opts o;
    struct imds_client *c = NULL;

    (void)state;
    memset(&o, 0, sizeof(o));
    route("instance-id", 200, "i-0123456789abcdef0");

    /* The environment, with its trailing '/' removed. */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:5055/", 1);
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_OK);
    assert_string_equal(fk.last_url, "http://127.0.0.1:5055/latest/meta-data/instance-id");
    imds_free(c);

    /* The option wins over the environment. */
    o.endpoint = "http://[fd00:ec2::254]/";
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_OK);
    assert_string_equal(fk.last_url, "http://[fd00:ec2::254]/latest/meta-data/instance-id");
    imds_free(c);

    /* The default. */
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    o.endpoint = NULL;
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_OK);
    assert_string_equal(fk.last_url, IMDS_DEFAULT_ENDPOINT "/latest/meta-data/instance-id");
    imds_free(c);

    /* Not an http URL to loopback or IMDS. */
    cap_start();
    o.endpoint = "https://169.254.169.254";
    assert_int_equal(imds_new(&o, &c), AGENT_ERR_CONFIG);
    o.endpoint = "http://10.0.0.1";
    assert_int_equal(imds_new(&o, &c), AGENT_ERR_CONFIG);
    o.endpoint = "http://user:pw@127.0.0.1";
    assert_int_equal(imds_new(&o, &c), AGENT_ERR_CONFIG);
    o.endpoint = "169.254.169.254";
    assert_int_equal(imds_new(&o, &c), AGENT_ERR_CONFIG);
    cap_end();
}

/* ---- discover ---- */

static const char identity_doc[] = "{\n"
                                   "  \"accountId\" : \"123456789012\",\n"
                                   "  \"architecture\" : \"x86_64\",\n"
                                   "  \"availabilityZone\" : \"eu-west-1a\",\n"
                                   "  \"billingProducts\" : null,\n"
                                   "  \"devpayProductCodes\" : null,\n"
                                   "  \"marketplaceProductCodes\" : null,\n"
                                   "  \"imageId\" : \"ami-0123456789abcdef0\",\n"
                                   "  \"instanceId\" : \"i-0123456789abcdef0\",\n"
                                   "  \"instanceType\" : \"m5.large\",\n"
                                   "  \"kernelId\" : null,\n"
                                   "  \"pendingTime\" : \"2026-11-26T10:00:00Z\",\n"
                                   "  \"privateIp\" : \"10.0.1.23\",\n"
                                   "  \"ramdiskId\" : null,\n"
                                   "  \"region\" : \"eu-west-1\",\n"
                                   "  \"version\" : \"2017-09-30\"\n"
                                   "}";

static void
full_routes(void)
{
    route("instance-id", 200, "i-0123456789abcdef0");
    route("instance-type", 200, "m5.large");
    route("placement/availability-zone", 200, "eu-west-1a");
    route("placement/region", 200, "eu-west-1");
    route("local-ipv4", 200, "10.0.1.23");
    route("public-ipv4", 200, "203.0.113.7");
    route("mac", 200, "0e:49:61:0f:c3:11");
    route("services/domain", 200, "amazonaws.com");
    route("autoscaling/target-lifecycle-state", 200, "InService");
    route("iam/security-credentials/", 200, "wcs-node-role");
    route("tags/instance", 200, "Name\naws:autoscaling:groupName\nwcs-role\n");
    route("tags/instance/Name", 200, "wcs edge 1");
    route("tags/instance/aws:autoscaling:groupName", 200, "wcs-asg");
    route("tags/instance/wcs-role", 200, "edge");
    route("latest/user-data", 200, "#wcs-agent\n[cdn]\nrole = edge\n");
    route("latest/dynamic/instance-identity/document", 200, identity_doc);
}

static void
test_discover_full(void **state)
{
    struct imds_client *c = client(3);
    struct imds_facts f;
    unsigned puts;

    (void)state;
    full_routes();
    memset(&f, 0, sizeof(f));
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    assert_string_equal(f.instance_id, "i-0123456789abcdef0");
    assert_string_equal(f.instance_type, "m5.large");
    assert_string_equal(f.availability_zone, "eu-west-1a");
    assert_string_equal(f.region, "eu-west-1");
    assert_string_equal(f.local_ipv4, "10.0.1.23");
    assert_string_equal(f.public_ipv4, "203.0.113.7");
    assert_string_equal(f.mac, "0e:49:61:0f:c3:11");
    assert_string_equal(f.partition_domain, "amazonaws.com");
    assert_string_equal(f.lifecycle_state, "InService");
    assert_string_equal(f.role, "wcs-node-role");
    assert_string_equal(f.account_id, "123456789012");
    assert_string_equal(f.image_id, "ami-0123456789abcdef0");
    assert_int_equal(f.tags_enabled, 1);
    assert_int_equal(f.n_tags, 3);
    assert_string_equal(imds_facts_tag(&f, "Name"), "wcs edge 1");
    assert_string_equal(imds_facts_tag(&f, "aws:autoscaling:groupName"), "wcs-asg");
    assert_string_equal(imds_facts_tag(&f, "wcs-role"), "edge");
    assert_null(imds_facts_tag(&f, "missing"));
    assert_int_equal(f.has_user_data, 1);
    assert_string_equal(buf_cstr(&f.user_data), "#wcs-agent\n[cdn]\nrole = edge\n");
    imds_counters(c, &puts, NULL);
    assert_int_equal(puts, 1);
    assert_int_equal(fk.bad_header, 0);
    imds_facts_cleanup(&f);
    assert_null(f.instance_id);
    imds_facts_cleanup(&f);
    imds_free(c);
}

static void
test_discover_optional_absent(void **state)
{
    struct imds_client *c = client(3);
    struct imds_facts f;

    (void)state;
    /* Only the required items, and a document without region or privateIp. */
    route("instance-id", 200, "i-0123456789abcdef0\n");
    route("instance-type", 200, "t3.micro");
    route("latest/dynamic/instance-identity/document", 200,
          "{\"region\":\"us-gov-west-1\",\"accountId\":null,\"imageId\":null,"
          "\"availabilityZone\":\"us-gov-west-1b\",\"privateIp\":null}");
    memset(&f, 0, sizeof(f));
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    assert_string_equal(f.instance_id, "i-0123456789abcdef0");
    assert_string_equal(f.region, "us-gov-west-1");
    assert_string_equal(f.availability_zone, "us-gov-west-1b");
    assert_null(f.public_ipv4);
    assert_null(f.local_ipv4);
    assert_null(f.lifecycle_state);
    assert_null(f.role);
    assert_null(f.account_id);
    assert_null(f.image_id);
    assert_null(f.partition_domain);
    assert_int_equal(f.tags_enabled, 0);
    assert_int_equal(f.n_tags, 0);
    assert_int_equal(f.has_user_data, 0);
    assert_int_equal(f.user_data.len, 0);
    imds_facts_cleanup(&f);
    imds_free(c);
}

static void
expect_discover_error(enum agent_rc want, const char *log_part)
{
    struct imds_client *c = client(2);
    struct imds_facts f;
    const char *log;

    memset(&f, 0, sizeof(f));
    cap_start();
    assert_int_equal(imds_discover(c, &f), want);
    log = cap_end();
    if (strstr(log, log_part) == NULL)
        fail_msg("log lacks \"%s\": %s", log_part, log);
    /* Nothing written on failure. */
    assert_null(f.instance_id);
    assert_null(f.tags);
    imds_free(c);
}

static void
test_discover_bad_instance_id(void **state)
{
    (void)state;
    route("instance-id", 200, "i-XYZ");
    full_routes();
    expect_discover_error(AGENT_ERR_PARSE, "imds: instance-id: malformed value");
}

static void
test_discover_bad_ipv4(void **state)
{
    (void)state;
    route("local-ipv4", 200, "10.0.1.300");
    full_routes();
    expect_discover_error(AGENT_ERR_PARSE, "imds: local-ipv4: malformed value");
}

static void
test_discover_bad_region(void **state)
{
    (void)state;
    route("placement/region", 200, "eu-west-1\nX-Injected: 1");
    full_routes();
    expect_discover_error(AGENT_ERR_PARSE, "imds: placement/region: malformed value");
}

static void
test_discover_bad_identity_json(void **state)
{
    (void)state;
    route("latest/dynamic/instance-identity/document", 200, "{\"accountId\": \"1234");
    full_routes();
    expect_discover_error(AGENT_ERR_PARSE, "imds: identity document: not valid JSON");
}

static void
test_discover_missing_required(void **state)
{
    (void)state;
    route("instance-type", 200, "m5.large");
    route("latest/dynamic/instance-identity/document", 200, identity_doc);
    expect_discover_error(AGENT_ERR_ABSENT, "imds: instance-id is absent");
}

/*
 * Issue 9 item 11: an unrelated tag with a bad key or a control character
 * in its value is skipped (named once at -v), not a failed discovery.
 */
static void
test_discover_skips_bad_tags(void **state)
{
    struct imds_client *c = client(2);
    struct imds_facts f;
    const char *log;

    (void)state;
    route("tags/instance", 200, "Name\n../../iam/security-credentials\nNote\nwcs-role\n");
    route("tags/instance/Name", 200, "wcs edge 1");
    route("tags/instance/Note", 200, "line1\nline2");
    route("tags/instance/wcs-role", 200, "edge");
    full_routes();
    memset(&f, 0, sizeof(f));
    log_init(1, LOG_FMT_TEXT);
    cap_start();
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    log = cap_end();
    log_init(0, LOG_FMT_TEXT);
    assert_int_equal(f.n_tags, 2);
    assert_string_equal(imds_facts_tag(&f, "Name"), "wcs edge 1");
    assert_string_equal(imds_facts_tag(&f, "wcs-role"), "edge");
    assert_null(imds_facts_tag(&f, "Note"));
    assert_int_equal(f.n_bad_tags, 2);
    assert_string_equal(f.bad_tags[0], "../../iam/security-credentials");
    assert_string_equal(f.bad_tags[1], "Note");
    if (strstr(log, "skipped 2 tags that cannot be used") == NULL ||
        strstr(log, "\"Note\"") == NULL)
        fail_msg("log lacks the skipped tags: %s", log);
    /* Once: one line names them all. */
    assert_null(strstr(strstr(log, "skipped") + 1, "skipped"));
    imds_facts_cleanup(&f);
    assert_null(f.bad_tags);
    imds_free(c);
}

/*
 * Issue 9 item 12: user data over the limit does not fail discovery: the
 * facts stand, with its size for the caller's one message; nothing logged.
 */
static void
test_discover_user_data_over_limit(void **state)
{
    struct imds_client *c = client(2);
    struct imds_facts f;
    size_t n = IMDS_MAX_USER_DATA + 10, big = IMDS_USER_DATA_FETCH_MAX + 1;
    char *body = malloc(big + 1);
    const char *log;

    (void)state;
    assert_non_null(body);
    memset(body, '#', big);
    body[n] = '\0';
    route("latest/user-data", 200, body);
    full_routes();
    memset(&f, 0, sizeof(f));
    cap_start();
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    log = cap_end();
    assert_string_equal(log, "");
    assert_string_equal(f.instance_id, "i-0123456789abcdef0");
    assert_int_equal(f.has_user_data, 1);
    assert_int_equal(f.user_data_over, n);
    assert_int_equal(f.user_data.len, 0);
    imds_facts_cleanup(&f);

    /* Larger than what is fetched: still the facts, and "more than". */
    body[n] = '#';
    body[big] = '\0';
    cap_start();
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    log = cap_end();
    assert_string_equal(log, "");
    assert_int_equal(f.user_data_over, IMDS_USER_DATA_FETCH_MAX + 1);
    imds_facts_cleanup(&f);
    imds_free(c);
    free(body);
}

/* At the default verbosity the skipped tags are not mentioned. */
static void
test_discover_bad_tags_quiet(void **state)
{
    struct imds_client *c = client(2);
    struct imds_facts f;
    const char *log;

    (void)state;
    route("tags/instance", 200, "Note\n");
    route("tags/instance/Note", 200, "a\x01b");
    full_routes();
    memset(&f, 0, sizeof(f));
    cap_start();
    assert_int_equal(imds_discover(c, &f), AGENT_OK);
    log = cap_end();
    assert_null(strstr(log, "Note"));
    assert_int_equal(f.n_tags, 0);
    assert_int_equal(f.n_bad_tags, 1);
    imds_facts_cleanup(&f);
    imds_free(c);
}

/* ---- parsers ---- */

static void
test_parse_identity(void **state)
{
    struct imds_facts f;

    (void)state;
    memset(&f, 0, sizeof(f));
    cap_start();
    /* Only NULL fields are filled. */
    f.region = str_dup("eu-central-1");
    assert_int_equal(imds_parse_identity(identity_doc, strlen(identity_doc), &f), AGENT_OK);
    assert_string_equal(f.region, "eu-central-1");
    assert_string_equal(f.account_id, "123456789012");
    assert_string_equal(f.local_ipv4, "10.0.1.23");
    imds_facts_cleanup(&f);

    /* Wrong types, bad values, trailing text, not an object: nothing written. */
    assert_int_equal(imds_parse_identity("{\"accountId\":123456789012}",
                                         strlen("{\"accountId\":123456789012}"), &f),
                     AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity("{\"region\":[\"eu-west-1\"]}",
                                         strlen("{\"region\":[\"eu-west-1\"]}"), &f),
                     AGENT_ERR_PARSE);
    assert_int_equal(
        imds_parse_identity("{\"instanceId\":\"i-1\"}", strlen("{\"instanceId\":\"i-1\"}"), &f),
        AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity("{\"accountId\":\"1\",\"region\":\"eu-west-1\"}",
                                         strlen("{\"accountId\":\"1\",\"region\":\"eu-west-1\"}"),
                                         &f),
                     AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity("{} {}", strlen("{} {}"), &f), AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity("[]", strlen("[]"), &f), AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity("", 0, &f), AGENT_ERR_PARSE);
    assert_int_equal(imds_parse_identity(NULL, 0, &f), AGENT_ERR_PARSE);
    assert_int_equal(
        imds_parse_identity("{\"region\":\"eu-west-1\"", strlen("{\"region\":\"eu-west-1\""), &f),
        AGENT_ERR_PARSE);
    assert_null(f.region);
    assert_null(f.account_id);
    /* A length shorter than the text: only the prefix counts. */
    assert_int_equal(imds_parse_identity("{\"region\":\"eu-west-1\"}garbage", 22, &f), AGENT_OK);
    assert_string_equal(f.region, "eu-west-1");
    cap_end();
    imds_facts_cleanup(&f);
}

static const char good_creds[] =
    "{\n"
    "  \"Code\" : \"Success\",\n"
    "  \"LastUpdated\" : \"2026-11-26T10:00:00Z\",\n"
    "  \"Type\" : \"AWS-HMAC\",\n"
    "  \"AccessKeyId\" : \"ASIAEXAMPLEKEYID1234\",\n"
    "  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n"
    "  \"Token\" : \"IQoJb3JpZ2luX2VjEXAMPLETOKEN==\",\n"
    "  \"Expiration\" : \"2026-11-26T16:00:00Z\"\n"
    "}";

static void
test_parse_role_creds(void **state)
{
    struct imds_role_creds rc;
    const char *log;
    time_t want;

    (void)state;
    memset(&rc, 0, sizeof(rc));
    assert_int_equal(imds_parse_role_creds(good_creds, strlen(good_creds), &rc), AGENT_OK);
    assert_string_equal(rc.access_key_id, "ASIAEXAMPLEKEYID1234");
    assert_string_equal(rc.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_string_equal(rc.token, "IQoJb3JpZ2luX2VjEXAMPLETOKEN==");
    assert_int_equal(clock_parse_rfc3339("2026-11-26T16:00:00Z", &want), AGENT_OK);
    assert_int_equal(rc.expiration, want);
    imds_role_creds_cleanup(&rc);
    assert_null(rc.token);

    /* Without Code it is fine. */
    {
        static const char nocode[] =
            "{\"AccessKeyId\":\"AKIAEXAMPLEKEYID1234\",\"SecretAccessKey\":\"s\","
            "\"Token\":\"t\",\"Expiration\":\"2026-11-26T16:00:00Z\"}";
        assert_int_equal(imds_parse_role_creds(nocode, strlen(nocode), &rc), AGENT_OK);
        imds_role_creds_cleanup(&rc);
    }

    cap_start();
    {
        static const char missing[] =
            "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAEXAMPLEKEYID1234\","
            "\"SecretAccessKey\":\"TOPSECRETVALUE\",\"Expiration\":\"2026-11-26T16:00:00Z\"}";
        static const char failed[] =
            "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\","
            "\"LastUpdated\":\"2026-11-26T10:00:00Z\"}";
        static const char badexp[] =
            "{\"AccessKeyId\":\"ASIAEXAMPLEKEYID1234\",\"SecretAccessKey\":\"TOPSECRETVALUE\","
            "\"Token\":\"t\",\"Expiration\":\"tomorrow\"}";
        static const char wrongtype[] =
            "{\"AccessKeyId\":\"ASIAEXAMPLEKEYID1234\",\"SecretAccessKey\":42,"
            "\"Token\":\"t\",\"Expiration\":\"2026-11-26T16:00:00Z\"}";
        static const char codenum[] =
            "{\"Code\":1,\"AccessKeyId\":\"ASIAEXAMPLEKEYID1234\",\"SecretAccessKey\":\"s\","
            "\"Token\":\"t\",\"Expiration\":\"2026-11-26T16:00:00Z\"}";
        static const char ctl[] =
            "{\"AccessKeyId\":\"ASIAEXAMPLEKEYID1234\",\"SecretAccessKey\":\"TOPSECRETVALUE\","
            "\"Token\":\"a\\r\\nX-Evil: 1\",\"Expiration\":\"2026-11-26T16:00:00Z\"}";

        assert_int_equal(imds_parse_role_creds(missing, strlen(missing), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds(failed, strlen(failed), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds(badexp, strlen(badexp), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds(wrongtype, strlen(wrongtype), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds(codenum, strlen(codenum), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds(ctl, strlen(ctl), &rc), AGENT_ERR_PARSE);
        assert_int_equal(imds_parse_role_creds("null", 4, &rc), AGENT_ERR_PARSE);
    }
    log = cap_end();
    assert_null(rc.access_key_id);
    assert_non_null(strstr(log, "Token is missing"));
    assert_non_null(strstr(log, "Code is AssumeRoleUnauthorizedAccess, not Success"));
    assert_non_null(strstr(log, "Expiration is not"));
    assert_null(strstr(log, "TOPSECRETVALUE"));
}

static void
test_role_credentials_client(void **state)
{
    struct imds_client *c = client(2);
    struct imds_role_creds rc;
    const char *log;
    char *red;

    (void)state;
    route("iam/security-credentials/wcs-node-role", 200, good_creds);
    memset(&rc, 0, sizeof(rc));
    assert_int_equal(imds_role_credentials(c, "wcs-node-role", &rc), AGENT_OK);
    assert_string_equal(rc.access_key_id, "ASIAEXAMPLEKEYID1234");
    assert_string_equal(fk.last_url, EP "/latest/meta-data/iam/security-credentials/wcs-node-role");
    /* The secret values are registered for redaction. */
    red = log_redact("key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_non_null(red);
    assert_null(strstr(red, "EXAMPLEKEY"));
    free(red);
    imds_role_creds_cleanup(&rc);

    cap_start();
    assert_int_equal(imds_role_credentials(c, "other-role", &rc), AGENT_ERR_ABSENT);
    assert_int_equal(imds_role_credentials(c, "../x", &rc), AGENT_ERR_INVAL);
    log = cap_end();
    assert_non_null(strstr(log, "iam/security-credentials/other-role is absent"));
    imds_free(c);
}

/* A loopback port with nothing listening. */
static int
closed_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The real libcurl path once: a closed loopback port gives the "refused" diagnosis. */
static void
test_real_refused(void **state)
{
    struct imds_opts o;
    struct imds_client *c = NULL;
    char ep[64], want[160];
    const char *log;

    (void)state;
    http_set_transport(NULL);
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
    snprintf(want, sizeof(want),
             "imds: connection to %s refused: no instance metadata service there", ep);
    memset(&o, 0, sizeof(o));
    o.endpoint = ep;
    o.timeout_ms = 1000;
    o.attempts = 2;
    assert_int_equal(imds_new(&o, &c), AGENT_OK);
    cap_start();
    assert_int_equal(get(c, "instance-id", NULL, 0), AGENT_ERR_NET);
    log = cap_end();
    assert_non_null(strstr(log, want));
    imds_free(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_token_reuse),
        T(test_401_renews_token),
        T(test_401_twice_fails),
        T(test_ttl_header_honoured),
        T(test_token_not_logged),
        T(test_retry_5xx_429_then_ok),
        T(test_retry_exhausted),
        T(test_deadline_stops_retries),
        T(test_put_timeout_hop_limit),
        T(test_put_connect_timeout),
        T(test_403_disabled),
        T(test_put_400_terminal),
        T(test_404_absent_not_logged),
        T(test_bad_paths),
        T(test_disabled_env),
        T(test_endpoint_choice),
        T(test_discover_full),
        T(test_discover_optional_absent),
        T(test_discover_bad_instance_id),
        T(test_discover_bad_ipv4),
        T(test_discover_bad_region),
        T(test_discover_bad_identity_json),
        T(test_discover_missing_required),
        T(test_discover_skips_bad_tags),
        T(test_discover_bad_tags_quiet),
        T(test_discover_user_data_over_limit),
        T(test_parse_identity),
        T(test_parse_role_creds),
        T(test_role_credentials_client),
        T(test_real_refused),
    };
#undef T
    int rc;

    if (http_global_init() != AGENT_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_global_cleanup();
    return rc;
}
