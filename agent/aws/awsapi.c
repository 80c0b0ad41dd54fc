/*
 * awsapi: one signed AWS call, end to end — the endpoint for a service, the
 * request in the Query, JSON or REST-XML protocol, SigV4 signing, the error
 * document of each protocol, and the retry policy (standard retries, the
 * adaptive rate limiter, persistence under the run's deadline, clock skew).
 * It stays one file on purpose (house rule: over ~900 lines only for one idea
 * that reads better whole): every part feeds the one attempt loop of
 * awsapi_call, and the protocols differ only in a few lines each; split, a
 * reader would follow one call across five files.  The service clients
 * (elbv2.c, autoscaling.c, ...) hold what each action sends and reads.
 */
#include "aws/awsapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws/ratelimit.h"
#include "aws/sigv4.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define DEFAULT_ATTEMPTS 3
/* A bound on the retries of throttling and 5xx under a deadline. */
#define PERSIST_ATTEMPTS_LIMIT 1000
#define MAX_ATTEMPTS_LIMIT     20
#define DEFAULT_TIMEOUT_MS     10000
#define QUOTA_MAX              500
#define RETRY_COST             5
#define TIMEOUT_COST           10
#define BASE_TRANSIENT_MS      50
#define BASE_THROTTLE_MS       1000
#define BACKOFF_CAP_MS         20000
#define SKEW_LIMIT_S           300
/* Throttling and 5xx are retried until this much more than a call's timeout is left. */
#define DEADLINE_RESERVE_MS 5000
#define URL_MAX             4096
#define HOST_MAX            300
#define BODY_MAX            (1024 * 1024)
#define HEADER_LINES_MAX    (64 * 1024)
#define ERROR_BODY_MIN      (64 * 1024)
#define S3_KEY_MAX          1024
#define MAX_LINES           12

struct awsapi {
    char region[64];
    char domain[128];
    struct creds_provider *creds;
    const struct deadline *deadline;
    int max_attempts;
    int64_t timeout_ms;
    int quota;
    uint64_t rng;
    struct ratelimit rl[AWS_SVC__MAX]; /* the adaptive mode's client-side rate limiters */
    struct aws_error last_error;       /* of the last call that failed with an HTTP status */
};

/* The services: signing name, endpoint prefix, endpoint variable. */
static const struct svc_info {
    const char *signing;
    const char *prefix;
    const char *env;
} services[AWS_SVC__MAX] = {
    [AWS_SVC_ELBV2] = {"elasticloadbalancing", "elasticloadbalancing",
                       "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"},
    [AWS_SVC_ELB] = {"elasticloadbalancing", "elasticloadbalancing",
                     "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING"},
    [AWS_SVC_AUTOSCALING] = {"autoscaling", "autoscaling", "AWS_ENDPOINT_URL_AUTO_SCALING"},
    [AWS_SVC_SSM] = {"ssm", "ssm", "AWS_ENDPOINT_URL_SSM"},
    [AWS_SVC_SECRETSMANAGER] = {"secretsmanager", "secretsmanager",
                                "AWS_ENDPOINT_URL_SECRETS_MANAGER"},
    [AWS_SVC_S3] = {"s3", "s3", "AWS_ENDPOINT_URL_S3"},
    [AWS_SVC_CLOUDFORMATION] = {"cloudformation", "cloudformation",
                                "AWS_ENDPOINT_URL_CLOUDFORMATION"},
    [AWS_SVC_CLOUDWATCH] = {"monitoring", "monitoring", "AWS_ENDPOINT_URL_CLOUDWATCH"},
    [AWS_SVC_EC2] = {"ec2", "ec2", "AWS_ENDPOINT_URL_EC2"},
};

/* The error codes of aws.md §6.5. */
static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    NULL,
};

static const char *const transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    NULL,
};

/* Errors that a clock far from AWS's causes. */
static const char *const skew_codes[] = {
    "RequestExpired",
    "RequestTimeTooSkewed",
    "RequestInTheFuture",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
    NULL,
};

/* Errors that say the session token is no longer good: fetch new credentials. */
static const char *const expired_codes[] = {
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    NULL,
};

static struct awsapi_hooks hooks;

static int
in_list(const char *const *list, const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0')
        return 0;
    for (i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

void
awsapi_set_hooks(const struct awsapi_hooks *h)
{
    if (h == NULL)
        memset(&hooks, 0, sizeof(hooks));
    else
        hooks = *h;
}

/* A value in [0, 1). */
static double
jitter(struct awsapi *api)
{
    double v;

    if (hooks.jitter != NULL) {
        v = hooks.jitter(hooks.ctx);
        if (!(v >= 0.0) || v >= 1.0)
            v = 0.0;
        return v;
    }
    return (double)(clock_jitter_next(&api->rng) >> 11) / 9007199254740992.0;
}

static void
sleep_ms(int64_t ms)
{
    if (hooks.sleep_ms != NULL)
        hooks.sleep_ms(hooks.ctx, ms);
    else
        clock_sleep_ms(ms);
}

const char *
awsapi_signing_name(enum aws_service svc)
{
    if ((int)svc < 0 || svc >= AWS_SVC__MAX)
        return "aws";
    return services[svc].signing;
}

int
awsapi_retry_quota(const struct awsapi *api)
{
    return api != NULL ? api->quota : 0;
}

/* A partition domain: "amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov". */
static int
valid_domain(const char *s)
{
    size_t n = 0;
    int dot = 0;

    for (; s[n] != '\0'; n++) {
        if (s[n] == '.')
            dot = 1;
        else if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
            return 0;
    }
    return dot && n >= 3 && n < 100 && s[0] != '.' && s[n - 1] != '.';
}

enum agent_rc
awsapi_new(const struct awsapi_opts *o, struct awsapi **out)
{
    struct awsapi *api;
    const char *env;
    int attempts = o != NULL ? o->max_attempts : 0;

    if (o == NULL || out == NULL || o->region == NULL || o->creds == NULL) {
        log_errx("awsapi: region and credentials are required");
        return AGENT_ERR_INVAL;
    }
    if (!str_is_region(o->region) || strlen(o->region) >= sizeof(api->region)) {
        log_errx("awsapi: malformed region");
        return AGENT_ERR_INVAL;
    }
    if (o->partition_domain != NULL && !valid_domain(o->partition_domain)) {
        log_errx("awsapi: malformed partition domain");
        return AGENT_ERR_INVAL;
    }
    if (attempts < 0 || attempts > MAX_ATTEMPTS_LIMIT || o->timeout_ms < 0) {
        log_errx("awsapi: attempts must be 1 to %d and the timeout positive", MAX_ATTEMPTS_LIMIT);
        return AGENT_ERR_INVAL;
    }
    if (attempts == 0) {
        env = getenv("AWS_MAX_ATTEMPTS");
        attempts = DEFAULT_ATTEMPTS;
        if (env != NULL && env[0] != '\0' &&
            str_to_int(env, 1, MAX_ATTEMPTS_LIMIT, &attempts) != AGENT_OK) {
            log_errx("environment: AWS_MAX_ATTEMPTS must be a whole number from 1 to %d",
                     MAX_ATTEMPTS_LIMIT);
            return AGENT_ERR_CONFIG;
        }
    }
    api = calloc(1, sizeof(*api));
    if (api == NULL)
        return AGENT_ERR_NOMEM;
    memcpy(api->region, o->region, strlen(o->region) + 1);
    if (str_copy(api->domain, sizeof(api->domain),
                 o->partition_domain != NULL ? o->partition_domain : "amazonaws.com") != AGENT_OK) {
        free(api);
        return AGENT_ERR_INVAL;
    }
    api->creds = o->creds;
    api->deadline = o->deadline;
    api->max_attempts = attempts;
    api->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    api->quota = QUOTA_MAX;
    api->rng = clock_jitter_seed(api);
    for (int i = 0; i < AWS_SVC__MAX; i++)
        ratelimit_init(&api->rl[i], (double)clock_mono_ms() / 1000.0);
    *out = api;
    return AGENT_OK;
}

void
awsapi_free(struct awsapi *api)
{
    free(api);
}

/* ---- endpoints ---- */

/* A base URL taken apart: scheme, authority as in the URL, Host header value, path. */
struct endpoint {
    char url[URL_MAX];   /* the base URL, no trailing '/' */
    char host[HOST_MAX]; /* the Host header: the authority without a default port */
    const char *path;    /* inside url: "" or "/prefix" */
    int https;
    int custom; /* from an environment variable */
};

/*
 * Checks an override URL (aws.md §6.3: scheme, host, optional port and
 * path) and fills e.  Returns a reason on failure, NULL on success.
 */
static const char *
parse_url(const char *v, struct endpoint *e)
{
    const char *auth, *end, *p, *colon;
    size_t n = strlen(v), alen;
    int port = 0;

    if (n == 0 || n >= sizeof(e->url))
        return "empty or too long";
    for (p = v; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return "holds a space, control or non-ASCII byte";
        if (*p == '?' || *p == '#' || *p == '@' || *p == '\\')
            return "may hold no query, fragment or user name";
    }
    if (str_ncasecmp(v, "https://", 8) == 0) {
        e->https = 1;
        auth = v + 8;
    } else if (str_ncasecmp(v, "http://", 7) == 0) {
        e->https = 0;
        auth = v + 7;
    } else {
        return "not an http(s) URL";
    }
    end = auth + strcspn(auth, "/");
    alen = (size_t)(end - auth);
    if (alen == 0)
        return "has no host";
    /* The port: after the last ':' outside an IPv6 literal's brackets. */
    colon = NULL;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);

        if (rb == NULL || rb == auth + 1)
            return "has a malformed IPv6 host";
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return "has a malformed IPv6 host";
            colon = rb + 1;
        }
    } else {
        colon = memchr(auth, ':', alen);
        if (colon == auth)
            return "has no host";
    }
    if (colon != NULL) {
        const char *d;

        if (colon + 1 == end || end - colon > 6)
            return "has a malformed port";
        for (d = colon + 1; d < end; d++) {
            if (*d < '0' || *d > '9')
                return "has a malformed port";
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return "has a malformed port";
    }
    /* The base keeps the path but no trailing '/'. */
    while (n > (size_t)(end - v) && v[n - 1] == '/')
        n--;
    memcpy(e->url, v, n);
    e->url[n] = '\0';
    e->path = e->url + (end - v);
    /* Host as libcurl would send it: without the scheme's default port. */
    if (colon != NULL && port == (e->https ? 443 : 80))
        alen = (size_t)(colon - auth);
    if (alen >= sizeof(e->host))
        return "host too long";
    memcpy(e->host, auth, alen);
    e->host[alen] = '\0';
    if (!e->https && !http_url_is_loopback(e->url))
        return "plain http is only allowed to a loopback address";
    return NULL;
}

static const char *
env_value(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

static enum agent_rc
resolve(const struct awsapi *api, enum aws_service svc, struct endpoint *e)
{
    const char *v = NULL, *name = NULL, *ign, *why;
    int ignore = 0;
    int n;

    memset(e, 0, sizeof(*e));
    if ((int)svc < 0 || svc >= AWS_SVC__MAX)
        return AGENT_ERR_INVAL;
    ign = env_value("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (ign != NULL && str_to_bool(ign, &ignore) != AGENT_OK) {
        log_errx("environment: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS must be true or false");
        return AGENT_ERR_CONFIG;
    }
    if (!ignore) {
        name = services[svc].env;
        v = env_value(name);
        if (v == NULL) {
            name = "AWS_ENDPOINT_URL";
            v = env_value(name);
        }
    }
    if (v != NULL) {
        why = parse_url(v, e);
        if (why != NULL) {
            log_errx("environment: %s: %s", name, why);
            return AGENT_ERR_CONFIG;
        }
        e->custom = 1;
        return AGENT_OK;
    }
    /* The standard endpoint; S3 in us-east-1 keeps its global name. */
    if (svc == AWS_SVC_S3 && strcmp(api->region, "us-east-1") == 0)
        n = snprintf(e->host, sizeof(e->host), "s3.%s", api->domain);
    else
        n = snprintf(e->host, sizeof(e->host), "%s.%s.%s", services[svc].prefix, api->region,
                     api->domain);
    if (n < 0 || (size_t)n >= sizeof(e->host))
        return AGENT_ERR_TOOBIG;
    snprintf(e->url, sizeof(e->url), "https://%s", e->host);
    e->path = e->url + strlen(e->url);
    e->https = 1;
    return AGENT_OK;
}

enum agent_rc
awsapi_endpoint(const struct awsapi *api, enum aws_service svc, char *out, size_t cap)
{
    struct endpoint e;
    enum agent_rc rc;

    if (api == NULL || out == NULL)
        return AGENT_ERR_INVAL;
    rc = resolve(api, svc, &e);
    if (rc != AGENT_OK)
        return rc;
    return str_copy(out, cap, e.url);
}

/* ---- errors ---- */

int
awsapi_retry_class(long http_status, const char *code, int transport_failed)
{
    if (transport_failed)
        return 1;
    if (in_list(throttling_codes, code) || http_status == 429)
        return 2;
    if (in_list(transient_codes, code))
        return 1;
    if (http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504)
        return 1;
    return 0;
}

static int
is_code_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

enum agent_rc
awsapi_parse_json_error(const char *json, size_t len, struct aws_error *err)
{
    const cJSON *type, *msg;
    const char *end = NULL, *code, *p;
    cJSON *root;
    size_t n, i;
    enum agent_rc rc = AGENT_ERR_PARSE;

    if (json == NULL || err == NULL)
        return AGENT_ERR_INVAL;
    if (len == 0 || len > AWSAPI_MAX_RESPONSE)
        return AGENT_ERR_PARSE;
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL)
        return AGENT_ERR_PARSE;
    /* Only white space may follow the object. */
    for (p = end; p != NULL && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            goto out;
    }
    if (!cJSON_IsObject(root))
        goto out;
    type = cJSON_GetObjectItemCaseSensitive(root, "__type");
    if (!cJSON_IsString(type) || type->valuestring == NULL)
        goto out;
    /* botocore's order: cut at the first ':', then keep what follows the last '#'. */
    code = type->valuestring;
    n = strcspn(code, ":");
    for (i = n; i > 0; i--) {
        if (code[i - 1] == '#')
            break;
    }
    code += i;
    n -= i;
    if (n == 0 || n >= sizeof(err->code))
        goto out;
    for (i = 0; i < n; i++) {
        if (!is_code_char(code[i]))
            goto out;
    }
    msg = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (!cJSON_IsString(msg))
        msg = cJSON_GetObjectItemCaseSensitive(root, "Message");
    memcpy(err->code, code, n);
    err->code[n] = '\0';
    awsxml_copy_message(err->message, sizeof(err->message),
                        cJSON_IsString(msg) ? msg->valuestring : "");
    rc = AGENT_OK;
out:
    cJSON_Delete(root);
    return rc;
}

/*
 * Parses an RFC 1123 date ("Wed, 27 Nov 2026 00:18:31 GMT"), the only form
 * AWS sends in Date.  AGENT_ERR_PARSE otherwise.
 */
static enum agent_rc
parse_http_date(const char *s, time_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    const char *p;
    int v[6], i, k;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    p = strchr(s, ',');
    if (p == NULL || p - s != 3 || p[1] != ' ')
        return AGENT_ERR_PARSE;
    p += 2;
    /* dd Mon yyyy hh:mm:ss GMT */
    for (k = 0, v[0] = 0; k < 2 && *p >= '0' && *p <= '9'; k++, p++)
        v[0] = v[0] * 10 + (*p - '0');
    if (k == 0 || *p != ' ')
        return AGENT_ERR_PARSE;
    p++;
    for (i = 0; i < 12; i++) {
        if (strncmp(p, months + 3 * i, 3) == 0)
            break;
    }
    if (i == 12 || p[3] != ' ')
        return AGENT_ERR_PARSE;
    tm.tm_mon = i;
    p += 4;
    for (k = 0, v[1] = 0; k < 4; k++, p++) {
        if (*p < '0' || *p > '9')
            return AGENT_ERR_PARSE;
        v[1] = v[1] * 10 + (*p - '0');
    }
    if (*p != ' ')
        return AGENT_ERR_PARSE;
    p++;
    for (i = 2; i < 5; i++) {
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
            return AGENT_ERR_PARSE;
        v[i] = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (i < 4) {
            if (*p != ':')
                return AGENT_ERR_PARSE;
            p++;
        }
    }
    if (strcmp(p, " GMT") != 0)
        return AGENT_ERR_PARSE;
    if (v[0] < 1 || v[0] > 31 || v[1] < 1970 || v[2] > 23 || v[3] > 59 || v[4] > 60)
        return AGENT_ERR_PARSE;
    tm.tm_mday = v[0];
    tm.tm_year = v[1] - 1900;
    tm.tm_hour = v[2];
    tm.tm_min = v[3];
    tm.tm_sec = v[4];
    t = timegm(&tm);
    if (t == (time_t)-1)
        return AGENT_ERR_PARSE;
    *out = t;
    return AGENT_OK;
}

/* ---- one call ---- */

enum body_kind {
    BODY_XML,  /* Query: XML replies and errors */
    BODY_JSON, /* JSON 1.1 */
    BODY_S3    /* S3: XML errors, any reply */
};

struct call {
    enum aws_service svc;
    const char *op; /* the action, for log lines */
    const char *method;
    char url[URL_MAX];
    char host[HOST_MAX];
    const char *path; /* inside url */
    const char *content_type;
    const char *target;
    const char *body;
    size_t body_len;
    enum body_kind kind;
    int idempotent;
    int (*expected)(const struct aws_error *err);
    struct buf *out;
};

/*
 * Signs and sends one attempt.  *creds_failed is set when no credentials
 * could be had (logged by creds).  The header lines live in a secret buffer:
 * they hold the session token and the signature.
 */
static enum agent_rc
send_once(struct awsapi *api, const struct call *c, int64_t timeout_ms, struct http_response *resp,
          int *creds_failed)
{
    const struct aws_creds *cr = NULL;
    struct sigv4_header sh[3];
    struct sigv4_request sreq;
    struct sigv4_params sp;
    struct sigv4_signed sig;
    struct http_request hreq;
    struct buf lines;
    size_t offs[MAX_LINES];
    const char *hl[MAX_LINES + 1];
    size_t nsh = 0, nl = 0, i;
    enum agent_rc rc;

    memset(&sig, 0, sizeof(sig));
    buf_init_secret(&lines, HEADER_LINES_MAX);
    *creds_failed = 0;
    rc = creds_get(api->creds, &cr);
    if (rc != AGENT_OK) {
        *creds_failed = 1;
        goto out;
    }
    sh[nsh].name = "Host";
    sh[nsh++].value = c->host;
    if (c->content_type != NULL) {
        sh[nsh].name = "Content-Type";
        sh[nsh++].value = c->content_type;
    }
    if (c->target != NULL) {
        sh[nsh].name = "X-Amz-Target";
        sh[nsh++].value = c->target;
    }
    memset(&sreq, 0, sizeof(sreq));
    sreq.method = c->method;
    sreq.path = c->path[0] != '\0' ? c->path : "/";
    sreq.headers = sh;
    sreq.n_headers = nsh;
    sreq.body = c->body;
    sreq.body_len = c->body_len;
    memset(&sp, 0, sizeof(sp));
    sp.access_key_id = cr->access_key_id;
    sp.secret_access_key = cr->secret_access_key;
    sp.session_token = cr->session_token;
    sp.region = api->region;
    sp.service = services[c->svc].signing;
    /* A fresh time per attempt: AWS refuses a request 15 minutes after X-Amz-Date. */
    sp.now = clock_now();
    sp.normalize_path = c->kind != BODY_S3;
    sp.sign_body_header = c->kind == BODY_S3;
    rc = sigv4_sign_headers(&sreq, &sp, &sig);
    if (rc != AGENT_OK)
        goto out;

    /* The Host line carries exactly what was signed; libcurl sends it as is. */
    for (i = 0; i < nsh; i++) {
        offs[nl++] = lines.len;
        rc = buf_printf(&lines, "%s: %s", sh[i].name, sh[i].value);
        if (rc == AGENT_OK)
            rc = buf_putc(&lines, '\0');
        if (rc != AGENT_OK)
            goto out;
    }
    for (i = 0; i < sig.n_headers && nl < MAX_LINES; i++) {
        offs[nl++] = lines.len;
        rc = buf_printf(&lines, "%s: %s", sig.headers[i].name, sig.headers[i].value);
        if (rc == AGENT_OK)
            rc = buf_putc(&lines, '\0');
        if (rc != AGENT_OK)
            goto out;
    }
    for (i = 0; i < nl; i++)
        hl[i] = lines.data + offs[i];
    hl[nl] = NULL;

    memset(&hreq, 0, sizeof(hreq));
    hreq.method = c->method;
    hreq.url = c->url;
    hreq.headers = hl;
    hreq.body = c->body_len > 0 ? c->body : NULL;
    hreq.body_len = c->body_len;
    hreq.timeout_ms = timeout_ms;
    hreq.max_response = resp->body.max;
    /* Signed requests never follow redirects; plain http only to loopback (checked above). */
    hreq.flags =
        HTTP_SECRET_HEADERS | (str_ncasecmp(c->url, "http://", 7) == 0 ? HTTP_ALLOW_HTTP : 0);
    rc = http_perform(&hreq, resp);
out:
    sigv4_signed_cleanup(&sig);
    buf_cleanup(&lines);
    return rc;
}

/* Fills e from a non-2xx reply; 1 when an error document was read. */
static int
read_error(const struct call *c, const struct http_response *resp, struct aws_error *e)
{
    const char *idh = c->kind == BODY_S3 ? "x-amz-request-id" : "x-amzn-RequestId";
    char rid[sizeof(e->request_id)];
    int parsed = 0;

    memset(e, 0, sizeof(*e));
    e->http_status = resp->status;
    if (resp->body.len > 0) {
        if (c->kind == BODY_JSON)
            parsed = awsapi_parse_json_error(resp->body.data, resp->body.len, e) == AGENT_OK;
        /*
         * XML for the Query protocol and S3; for a JSON service too when
         * its body is not JSON (front-end and moto authentication errors).
         */
        if (!parsed && (c->kind != BODY_JSON || resp->body.data[0] == '<'))
            parsed = awsxml_parse_error(resp->body.data, resp->body.len, e) == AGENT_OK;
    }
    if (!parsed) {
        memset(e, 0, sizeof(*e));
        e->http_status = resp->status;
        snprintf(e->code, sizeof(e->code), "%ld", resp->status);
        snprintf(e->message, sizeof(e->message), "HTTP %ld%s", resp->status,
                 resp->body.len > 0 ? " with an unreadable error body" : "");
    }
    if (e->request_id[0] == '\0' && http_response_header(resp, idh, rid, sizeof(rid)) == AGENT_OK) {
        size_t i;

        for (i = 0; rid[i] != '\0'; i++) {
            if ((unsigned char)rid[i] <= 0x20 || (unsigned char)rid[i] >= 0x7f)
                break;
        }
        if (rid[i] == '\0')
            memcpy(e->request_id, rid, sizeof(rid));
    }
    return parsed;
}

/*
 * When the reply's Date is more than SKEW_LIMIT_S away from the local clock,
 * says so (the signature errors it causes are otherwise baffling) and
 * returns 1.
 */
static int
report_skew(const struct call *c, const struct http_response *resp)
{
    char date[64];
    time_t server, local;
    long long d;

    if (http_response_header(resp, "Date", date, sizeof(date)) != AGENT_OK ||
        parse_http_date(date, &server) != AGENT_OK)
        return 0;
    local = clock_now();
    d = (long long)local - (long long)server;
    if (d <= SKEW_LIMIT_S && d >= -SKEW_LIMIT_S)
        return 0;
    log_errx("%s: %s: clock skew: local clock is %lld s %s AWS; sync the clock (chrony/NTP)",
             services[c->svc].signing, c->op, d < 0 ? -d : d, d < 0 ? "behind" : "ahead of");
    return 1;
}

static void
log_failure(const struct call *c, const struct aws_error *e)
{
    if (c->expected != NULL && c->expected(e)) {
        log_debug("%s: %s: %s: %s (handled by the caller)", services[c->svc].signing, c->op,
                  e->code, e->message);
        return;
    }
    if (e->request_id[0] != '\0')
        log_errx("%s: %s: %s: %s (request id %s)", services[c->svc].signing, c->op, e->code,
                 e->message[0] != '\0' ? e->message : "(no message)", e->request_id);
    else
        log_errx("%s: %s: %s: %s", services[c->svc].signing, c->op, e->code,
                 e->message[0] != '\0' ? e->message : "(no message)");
}

/* 1 when a transport failure happened before the request could have reached AWS. */
static int
failed_before_send(const struct http_response *resp)
{
    switch (resp->fail) {
    case HTTP_FAIL_RESOLVE:
    case HTTP_FAIL_REFUSED:
    case HTTP_FAIL_CONNECT_TIMEOUT:
    case HTTP_FAIL_TLS:
        return 1;
    default:
        return !resp->connected;
    }
}

/* 1 when a transport failure is worth another try at all. */
static int
transport_retryable(enum agent_rc rc, const struct http_response *resp)
{
    if (rc != AGENT_ERR_NET && rc != AGENT_ERR_TIMEOUT)
        return 0;
    switch (resp->fail) {
    case HTTP_FAIL_POLICY:
    case HTTP_FAIL_TOOBIG:
    case HTTP_FAIL_ABORTED:
        return 0;
    default:
        return 1;
    }
}

/* Full jitter: rand[0,1) * min(base * 2^(attempt-1), cap). */
static int64_t
backoff_ms(struct awsapi *api, int attempt, int throttled)
{
    int64_t ceiling = throttled ? BASE_THROTTLE_MS : BASE_TRANSIENT_MS;
    int i;

    for (i = 1; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
        ceiling *= 2;
    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    return (int64_t)(jitter(api) * (double)ceiling);
}

/*
 * The retry loop of the standard mode (aws.md §6.5) around send_once(), and
 * the one place that turns a reply into a result.
 */
static enum agent_rc
perform(struct awsapi *api, const struct call *c, struct aws_error *err)
{
    const char *svc = services[c->svc].signing;
    struct http_response resp;
    struct aws_error e;
    enum agent_rc rc = AGENT_ERR_TIMEOUT;
    size_t room = c->out->max > c->out->len ? c->out->max - c->out->len : 0;
    size_t cap = c->kind == BODY_S3 ? room : AWSAPI_MAX_RESPONSE;
    int attempt = 0, sent = 0, again = 0, refreshed = 0, last_cost = 0, cls = 0;
    int creds_failed, is_timeout, persist, waited = 0, logged = 0;
    int64_t left, delay;

    memset(&e, 0, sizeof(e));
    /* An S3 error document must fit even when the caller's cap is small. */
    if (cap < ERROR_BODY_MIN)
        cap = ERROR_BODY_MIN;
    http_response_init(&resp, cap);
    resp.body.secret = c->out->secret;
    for (;;) {
        if (deadline_expired(api->deadline)) {
            if (sent == 0) {
                log_errx("%s: %s: the run deadline has passed", svc, c->op);
                snprintf(e.message, sizeof(e.message), "the run deadline has passed");
                rc = AGENT_ERR_TIMEOUT;
                logged = 1;
            }
            break;
        }
        /* The adaptive mode: once throttled, requests wait for the service's bucket. */
        delay = 0;
        if (!waited && !hooks.adaptive_off)
            delay =
                (int64_t)(ratelimit_acquire(&api->rl[c->svc], (double)clock_mono_ms() / 1000.0) *
                          1000.0);
        waited = 0;
        if (delay > 0) {
            waited = 1;
            if (delay >= deadline_left_ms(api->deadline))
                delay = deadline_left_ms(api->deadline);
            log_debug("%s: %s: client-side rate limit: waiting %lld ms", svc, c->op,
                      (long long)delay);
            sleep_ms(delay);
            continue;
        }
        http_response_reset(&resp);
        rc = send_once(api, c, deadline_cap_ms(api->deadline, api->timeout_ms), &resp,
                       &creds_failed);
        if (creds_failed) {
            memset(&e, 0, sizeof(e));
            snprintf(e.message, sizeof(e.message), "no usable credentials");
            goto out;
        }
        sent++;
        /* The immediate retry with new credentials is not counted as an attempt. */
        if (!again)
            attempt++;
        again = 0;
        is_timeout = 0;
        if (rc == AGENT_OK && resp.status >= 200 && resp.status <= 299) {
            if (resp.body.len > room) {
                log_errx("%s: %s: reply of %zu bytes over the %zu byte cap", svc, c->op,
                         resp.body.len, room);
                rc = AGENT_ERR_TOOBIG;
                goto out;
            }
            rc = buf_append(c->out, resp.body.data, resp.body.len);
            if (rc != AGENT_OK)
                goto out;
            /* The quota gets back what the last retry took, or 1 for a first-try success. */
            api->quota += last_cost > 0 ? last_cost : 1;
            if (api->quota > QUOTA_MAX)
                api->quota = QUOTA_MAX;
            memset(&e, 0, sizeof(e));
            ratelimit_update(&api->rl[c->svc], (double)clock_mono_ms() / 1000.0, 0);
            goto out;
        }
        if (rc == AGENT_OK) {
            int parsed = read_error(c, &resp, &e);

            /* Role credentials rotated or revoked under us: fetch new ones, retry at once. */
            if (parsed && in_list(expired_codes, e.code) && !refreshed &&
                creds_source(api->creds) == CREDS_SOURCE_IMDS) {
                log_debug("%s: %s: %s: fetching new credentials", svc, c->op, e.code);
                creds_invalidate(api->creds);
                refreshed = 1;
                again = 1;
                continue;
            }
            /* A clock far off makes every signature fail: say so, retrying cannot help. */
            if ((in_list(skew_codes, e.code) || resp.status == 401 || resp.status == 403) &&
                report_skew(c, &resp)) {
                log_failure(c, &e);
                rc = AGENT_ERR_AWS;
                goto out;
            }
            cls = awsapi_retry_class(resp.status, parsed ? e.code : NULL, 0);
            ratelimit_update(&api->rl[c->svc], (double)clock_mono_ms() / 1000.0, cls == 2);
            rc = parsed || (c->kind == BODY_S3 && resp.body.len == 0) ? AGENT_ERR_AWS
                                                                      : AGENT_ERR_HTTP;
            /* A non-idempotent call is retried on throttling and 5xx only. */
            if (cls == 1 && !c->idempotent && !(resp.status >= 500 && resp.status <= 599))
                cls = 0;
        } else {
            memset(&e, 0, sizeof(e));
            snprintf(e.message, sizeof(e.message), "%s",
                     resp.error[0] != '\0' ? resp.error : agent_rc_str(rc));
            cls = transport_retryable(rc, &resp) ? 1 : 0;
            is_timeout = rc == AGENT_ERR_TIMEOUT;
            /* A request that may have reached AWS is not sent twice. */
            if (cls != 0 && !c->idempotent && !failed_before_send(&resp))
                cls = 0;
        }
        if (cls == 0)
            break;
        /*
         * Throttling and 5xx replies under a run deadline are retried past
         * max_attempts, for as long as the deadline leaves room for one more
         * call after the backoff: a busy account slows a boot down, it does
         * not fail it.
         */
        persist = resp.status != 0 && (cls == 2 || resp.status >= 500) && api->deadline != NULL &&
                  api->deadline->end_ms != 0;
        if (attempt >= api->max_attempts && !persist)
            break;
        if (attempt >= PERSIST_ATTEMPTS_LIMIT)
            break;
        last_cost = is_timeout ? TIMEOUT_COST : RETRY_COST;
        if (api->quota < last_cost && !persist) {
            log_debug("%s: %s: retry quota exhausted", svc, c->op);
            break;
        }
        delay = backoff_ms(api, attempt, cls == 2);
        left = deadline_left_ms(api->deadline);
        if (attempt >= api->max_attempts)
            left -= api->timeout_ms + DEADLINE_RESERVE_MS;
        if (delay >= left) {
            log_debug("%s: %s: a %lld ms backoff would pass the deadline; giving up", svc, c->op,
                      (long long)delay);
            break;
        }
        api->quota -= api->quota >= last_cost ? last_cost : api->quota;
        if (resp.status != 0 && attempt >= api->max_attempts)
            log_debug("%s: %s: attempt %d (the deadline allows more): %s (HTTP %ld); retrying in "
                      "%lld ms",
                      svc, c->op, attempt, e.code, resp.status, (long long)delay);
        else if (resp.status != 0)
            log_debug("%s: %s: attempt %d of %d: %s (HTTP %ld); retrying in %lld ms", svc, c->op,
                      attempt, api->max_attempts, e.code, resp.status, (long long)delay);
        else
            log_debug("%s: %s: attempt %d of %d: %s; retrying in %lld ms", svc, c->op, attempt,
                      api->max_attempts, e.message, (long long)delay);
        sleep_ms(delay);
    }
    /* The final failure: one line. */
    if (!logged) {
        if (resp.status != 0) {
            log_failure(c, &e);
            if (cls == 2)
                rc = AGENT_ERR_THROTTLE;
            else if (cls == 1 && resp.status >= 500)
                rc = AGENT_ERR_UNAVAIL;
        } else if (rc == AGENT_ERR_TOOBIG) {
            log_errx("%s: %s: reply over the %zu byte cap", svc, c->op, resp.body.max);
        } else if (c->expected != NULL && c->expected(&e)) {
            /* The caller reports this failure in its own words (e.g. the result tag). */
            log_debug("%s: %s: %s (after %d attempt%s)", svc, c->op, e.message, sent,
                      sent == 1 ? "" : "s");
        } else {
            log_errx("%s: %s: %s (after %d attempt%s)", svc, c->op, e.message, sent,
                     sent == 1 ? "" : "s");
        }
    }
out:
    if (err != NULL)
        *err = e;
    if (rc != AGENT_OK && e.http_status != 0)
        api->last_error = e;
    http_response_cleanup(&resp);
    return rc;
}

const struct aws_error *
awsapi_last_error(const struct awsapi *api)
{
    return api != NULL && api->last_error.http_status != 0 ? &api->last_error : NULL;
}

/* ---- the three protocols ---- */

/* Fills the URL, host and path of c for base e and wire path suffix (starting with '/'). */
static enum agent_rc
set_target(struct call *c, const struct endpoint *e, const char *host, const char *suffix)
{
    size_t base_path = strlen(e->path);
    int n;

    n = snprintf(c->url, sizeof(c->url), "%s%s", e->url, suffix);
    if (n < 0 || (size_t)n >= sizeof(c->url))
        return AGENT_ERR_TOOBIG;
    if (str_copy(c->host, sizeof(c->host), host) != AGENT_OK)
        return AGENT_ERR_TOOBIG;
    /* The wire path: the base's path and the suffix, inside the URL. */
    c->path = c->url + (strlen(e->url) - base_path);
    return AGENT_OK;
}

static int
valid_word(const char *s, const char *extra, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
              (s[n] >= '0' && s[n] <= '9') || (extra != NULL && strchr(extra, s[n]) != NULL)))
            return 0;
    }
    return n > 0 && n <= max;
}

/*
 * Form encoding as botocore sends it: the SigV4 encoding with a space as
 * '+' (application/x-www-form-urlencoded).  AWS reads both; moto checks the
 * signature over the form it re-encodes this way, so "%20" would not verify.
 */
static enum agent_rc
form_encode(const char *s, struct buf *b)
{
    size_t start = b->len, i, j;
    enum agent_rc rc = sigv4_uri_encode(s, strlen(s), 1, b);

    if (rc != AGENT_OK)
        return rc;
    for (i = j = start; i < b->len; i++, j++) {
        if (b->len - i >= 3 && memcmp(b->data + i, "%20", 3) == 0) {
            b->data[j] = '+';
            i += 2;
        } else {
            b->data[j] = b->data[i];
        }
    }
    b->len = j;
    b->data[j] = '\0';
    return AGENT_OK;
}

static enum agent_rc
append_pair(struct buf *b, const char *name, const char *value)
{
    enum agent_rc rc;

    if (b->len > 0) {
        rc = buf_putc(b, '&');
        if (rc != AGENT_OK)
            return rc;
    }
    rc = form_encode(name, b);
    if (rc == AGENT_OK)
        rc = buf_putc(b, '=');
    if (rc == AGENT_OK)
        rc = form_encode(value, b);
    return rc;
}

enum agent_rc
awsapi_query(struct awsapi *api, const struct aws_query *q, struct buf *reply,
             struct aws_error *err)
{
    struct endpoint e;
    struct call c;
    struct buf body;
    enum agent_rc rc;
    size_t i;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (api == NULL || q == NULL || reply == NULL || (int)q->svc < 0 || q->svc >= AWS_SVC__MAX ||
        !valid_word(q->action, NULL, 128) || !valid_word(q->version, "-", 32) ||
        (q->n_params > 0 && q->params == NULL)) {
        log_errx("awsapi: bad Query call arguments");
        return AGENT_ERR_INVAL;
    }
    for (i = 0; i < q->n_params; i++) {
        if (q->params[i].name == NULL || q->params[i].name[0] == '\0' ||
            q->params[i].value == NULL) {
            log_errx("%s: %s: parameter %zu has no name or value", services[q->svc].signing,
                     q->action, i + 1);
            return AGENT_ERR_INVAL;
        }
    }
    rc = resolve(api, q->svc, &e);
    if (rc != AGENT_OK)
        return rc;
    memset(&c, 0, sizeof(c));
    buf_init(&body, BODY_MAX);
    /* Action and Version first, as botocore writes them; the order is not signed anyway. */
    rc = append_pair(&body, "Action", q->action);
    if (rc == AGENT_OK)
        rc = append_pair(&body, "Version", q->version);
    for (i = 0; rc == AGENT_OK && i < q->n_params; i++)
        rc = append_pair(&body, q->params[i].name, q->params[i].value);
    if (rc != AGENT_OK) {
        log_errx("%s: %s: request body over %d bytes", services[q->svc].signing, q->action,
                 BODY_MAX);
        goto out;
    }
    rc = set_target(&c, &e, e.host, "/");
    if (rc != AGENT_OK)
        goto out;
    c.svc = q->svc;
    c.op = q->action;
    c.method = "POST";
    c.content_type = "application/x-www-form-urlencoded; charset=utf-8";
    c.body = buf_cstr(&body);
    c.body_len = body.len;
    c.kind = BODY_XML;
    c.idempotent = q->idempotent;
    c.expected = q->expected;
    c.out = reply;
    rc = perform(api, &c, err);
out:
    buf_cleanup(&body);
    return rc;
}

enum agent_rc
awsapi_json(struct awsapi *api, enum aws_service svc, const char *target, const char *body_json,
            int idempotent, struct buf *reply, struct aws_error *err)
{
    struct endpoint e;
    struct call c;
    const char *dot;
    enum agent_rc rc;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (api == NULL || reply == NULL || body_json == NULL || (int)svc < 0 || svc >= AWS_SVC__MAX ||
        !valid_word(target, "._", 128) || strlen(body_json) > BODY_MAX) {
        log_errx("awsapi: bad JSON call arguments");
        return AGENT_ERR_INVAL;
    }
    rc = resolve(api, svc, &e);
    if (rc != AGENT_OK)
        return rc;
    memset(&c, 0, sizeof(c));
    rc = set_target(&c, &e, e.host, "/");
    if (rc != AGENT_OK)
        return rc;
    dot = strrchr(target, '.');
    c.svc = svc;
    c.op = dot != NULL && dot[1] != '\0' ? dot + 1 : target;
    c.method = "POST";
    c.content_type = "application/x-amz-json-1.1";
    c.target = target;
    c.body = body_json;
    c.body_len = strlen(body_json);
    c.kind = BODY_JSON;
    c.idempotent = idempotent;
    c.out = reply;
    return perform(api, &c, err);
}

/* S3 bucket naming rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit. */
static int
valid_bucket(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63 || !valid_word(b, ".-", 63))
        return 0;
    if (b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
        return 0;
    for (; *b != '\0'; b++) {
        if (*b >= 'A' && *b <= 'Z')
            return 0;
    }
    return 1;
}

/*
 * Keys are sent as they are named, so libcurl must not rewrite the path:
 * it removes "." and ".." segments, which would change the object and
 * break the signature.  Such keys are refused.
 */
static int
valid_key(const char *k)
{
    const char *seg, *end;
    size_t n = strlen(k), len;

    if (n == 0 || n > S3_KEY_MAX)
        return 0;
    for (seg = k; *seg != '\0'; seg++) {
        if ((unsigned char)*seg < 0x20 || *seg == 0x7f)
            return 0;
    }
    for (seg = k;; seg = end + 1) {
        end = strchr(seg, '/');
        len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (end == NULL)
            break;
    }
    return 1;
}

enum agent_rc
awsapi_s3_get(struct awsapi *api, const char *bucket, const char *key, struct buf *out,
              struct aws_error *err)
{
    struct endpoint e;
    struct call c;
    struct buf path;
    char host[HOST_MAX];
    int n, virtual_host;
    enum agent_rc rc;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (api == NULL || bucket == NULL || key == NULL || out == NULL) {
        log_errx("awsapi: bad S3 call arguments");
        return AGENT_ERR_INVAL;
    }
    if (!valid_bucket(bucket)) {
        log_errx("s3: GetObject: malformed bucket name");
        return AGENT_ERR_INVAL;
    }
    if (!valid_key(key)) {
        log_errx("s3: GetObject: %s: the key must be 1 to %d bytes without control bytes or "
                 "\".\" and \"..\" segments",
                 bucket, S3_KEY_MAX);
        return AGENT_ERR_INVAL;
    }
    rc = resolve(api, AWS_SVC_S3, &e);
    if (rc != AGENT_OK)
        return rc;
    memset(&c, 0, sizeof(c));
    buf_init(&path, URL_MAX);
    /*
     * Virtual-hosted addressing, except for dotted names (the wildcard
     * certificate does not cover them) and custom endpoints (a local S3
     * serves one host), which use path-style.
     */
    virtual_host = !e.custom && strchr(bucket, '.') == NULL;
    if (virtual_host) {
        n = snprintf(host, sizeof(host), "%s.%s", bucket, e.host);
        if (n < 0 || (size_t)n >= sizeof(host)) {
            rc = AGENT_ERR_TOOBIG;
            goto out;
        }
        /* The URL names the bucket's host too, so libcurl connects there. */
        n = snprintf(e.url, sizeof(e.url), "https://%s", host);
        if (n < 0 || (size_t)n >= sizeof(e.url)) {
            rc = AGENT_ERR_TOOBIG;
            goto out;
        }
        e.path = e.url + strlen(e.url);
        rc = buf_putc(&path, '/');
    } else {
        rc = str_copy(host, sizeof(host), e.host);
        if (rc == AGENT_OK)
            rc = buf_printf(&path, "/%s/", bucket);
    }
    /* The key is encoded once, '/' kept: the S3 rule (aws.md §2.3), signed as sent. */
    if (rc == AGENT_OK)
        rc = sigv4_uri_encode(key, strlen(key), 0, &path);
    if (rc == AGENT_OK)
        rc = set_target(&c, &e, host, buf_cstr(&path));
    if (rc != AGENT_OK) {
        log_errx("s3: GetObject: %s: the URL is too long", bucket);
        goto out;
    }
    c.svc = AWS_SVC_S3;
    c.op = "GetObject";
    c.method = "GET";
    c.kind = BODY_S3;
    c.idempotent = 1;
    c.out = out;
    rc = perform(api, &c, err);
out:
    buf_cleanup(&path);
    return rc;
}
