/*
 * One idea that reads better whole (about 1,200 lines): the IMDSv2 client:
 * the token, the metadata and user-data reads with their retries and
 * failure diagnoses, and the parsers of the identity document and the role
 * credentials it returns.
 */
#include "aws/imds.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws/awsjson.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define STRINGIFY_(x)      #x
#define STRINGIFY(x)       STRINGIFY_(x)
#define TOKEN_PATH         "/latest/api/token"
#define TTL_HEADER         "X-aws-ec2-metadata-token-ttl-seconds"
#define TOKEN_HEADER       "X-aws-ec2-metadata-token"
#define TOKEN_MAX          4096
#define REFRESH_MARGIN_MS  60000
#define BACKOFF_BASE_MS    100
#define BACKOFF_CAP_MS     2000
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_ATTEMPTS   5
#define MAX_ATTEMPTS       100
#define MAX_TAGS           256
#define URL_MAX            4096
#define USER_DATA_PATH     "/latest/user-data"
#define IDENTITY_PATH      "/latest/dynamic/instance-identity/document"

struct imds_client {
    char *endpoint;                  /* base URL without a trailing '/' */
    int64_t timeout_ms;              /* per attempt */
    int attempts;                    /* per request */
    const struct deadline *deadline; /* borrowed from the caller's options */
    char *token;                     /* secret; NULL when none */
    int64_t token_refresh_ms;        /* monotonic time to fetch a new token */
    unsigned puts, gets;
    uint64_t rng;     /* xorshift64 state for the backoff jitter */
    int quiet_toobig; /* the caller reports a reply over its cap itself */
};

/* A validator for one fact: 1 when s is well formed. */
typedef int (*valid_fn)(const char *s);

static int
all_in(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);

    return n >= min && n <= max && strspn(s, set) == n;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

static int
valid_instance_type(const char *s)
{
    return all_in(s, LOWER_DIGITS ".-", 3, 64) && strchr(s, '.') != NULL;
}

static int
valid_az(const char *s)
{
    return all_in(s, LOWER_DIGITS "-", 4, 64);
}

static int
valid_mac(const char *s)
{
    size_t i;

    if (strlen(s) != 17)
        return 0;
    for (i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != ':' : strchr("0123456789abcdefABCDEF", s[i]) == NULL)
            return 0;
    }
    return 1;
}

static int
valid_domain(const char *s)
{
    return all_in(s, LOWER_DIGITS ".-", 1, 253);
}

static int
valid_lifecycle(const char *s)
{
    return all_in(s, UPPER "abcdefghijklmnopqrstuvwxyz:", 1, 64);
}

/* IAM role names: [\w+=,.@-]{1,64}. */
static int
valid_role(const char *s)
{
    return all_in(s, UPPER LOWER_DIGITS "_+=,.@-", 1, 64);
}

static int
valid_account(const char *s)
{
    return all_in(s, "0123456789", 12, 12);
}

static int
valid_image_id(const char *s)
{
    return str_has_prefix(s, "ami-") && all_in(s + 4, "0123456789abcdef", 8, 17);
}

static int
has_control(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 1;
    }
    return 0;
}

/*
 * A path accepted by imds_get: visible ASCII without '?', '#', '%' or '\',
 * and no "." or ".." segment (libcurl would fold them and leave IMDS).
 */
static int
valid_path(const char *p)
{
    const char *seg, *end;
    size_t n;

    if (!str_is_graphic(p, strlen(p)) || strpbrk(p, "?#%\\") != NULL || strlen(p) > 1024)
        return 0;
    for (seg = p; *seg != '\0'; seg = *end == '\0' ? end : end + 1) {
        end = strchr(seg, '/');
        if (end == NULL)
            end = seg + strlen(seg);
        n = (size_t)(end - seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    return 1;
}

/* Full jitter: a random delay in [0, min(cap, base * 2^(attempt-1))]. */
static int64_t
backoff_ms(struct imds_client *c, int attempt)
{
    int64_t ceiling = BACKOFF_BASE_MS;
    int i;

    for (i = 1; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
        ceiling *= 2;
    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    return (int64_t)(clock_jitter_next(&c->rng) % (uint64_t)(ceiling + 1));
}

static void
drop_token(struct imds_client *c)
{
    str_free_secret(c->token);
    c->token = NULL;
    c->token_refresh_ms = 0;
}

enum agent_rc
imds_new(const struct imds_opts *o, struct imds_client **out)
{
    const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
    const char *ep = o->endpoint;
    struct imds_client *c;
    size_t n;

    if (dis != NULL && str_casecmp(dis, "true") == 0) {
        log_errx("imds: AWS_EC2_METADATA_DISABLED is true: instance metadata is not used");
        return AGENT_ERR_DISABLED;
    }
    if (ep == NULL || ep[0] == '\0')
        ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (ep == NULL || ep[0] == '\0')
        ep = IMDS_DEFAULT_ENDPOINT;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return AGENT_ERR_NOMEM;
    c->endpoint = str_dup(ep);
    if (c->endpoint == NULL) {
        free(c);
        return AGENT_ERR_NOMEM;
    }
    n = strlen(c->endpoint);
    while (n > 0 && c->endpoint[n - 1] == '/')
        c->endpoint[--n] = '\0';
    /* No user:password@, query or fragment: the endpoint is logged and joined with paths. */
    if (n == 0 || n > 512 || !str_is_graphic(c->endpoint, n) ||
        str_ncasecmp(c->endpoint, "http://", 7) != 0 || strpbrk(c->endpoint, "@?#") != NULL) {
        log_errx("imds: endpoint \"%.80s\" is not an http:// URL", ep);
        goto config;
    }
    if (!http_url_plain_http_ok(c->endpoint)) {
        log_errx("imds: endpoint %s: plain http is allowed only to loopback or the IMDS "
                 "address (169.254.169.254, [fd00:ec2::254])",
                 c->endpoint);
        goto config;
    }
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->attempts = o->attempts > 0 ? o->attempts : DEFAULT_ATTEMPTS;
    if (c->attempts > MAX_ATTEMPTS)
        c->attempts = MAX_ATTEMPTS;
    c->deadline = o->deadline;
    c->rng = clock_jitter_seed(c);
    *out = c;
    return AGENT_OK;
config:
    free(c->endpoint);
    free(c);
    return AGENT_ERR_CONFIG;
}

void
imds_free(struct imds_client *c)
{
    if (c == NULL)
        return;
    drop_token(c);
    free(c->endpoint);
    free(c);
}

void
imds_counters(const struct imds_client *c, unsigned *token_puts, unsigned *gets)
{
    if (token_puts != NULL)
        *token_puts = c->puts;
    if (gets != NULL)
        *gets = c->gets;
}

static int
retryable_status(long s)
{
    return s == 429 || (s >= 500 && s <= 599);
}

/*
 * One line naming the endpoint for a request that failed after its retries,
 * and the code to return.  what is "token request to EP" or "PATH from EP".
 */
static enum agent_rc
diagnose(struct imds_client *c, int is_put, const char *what, const struct http_response *resp,
         enum agent_rc rc, int tries)
{
    const char *ep = c->endpoint;

    if (rc == AGENT_OK && resp->status == 429) {
        log_errx("imds: %s: throttled (HTTP 429) after %d attempts", what, tries);
        return AGENT_ERR_THROTTLE;
    }
    if (rc == AGENT_OK) {
        log_errx("imds: %s: HTTP %ld after %d attempts", what, resp->status, tries);
        return AGENT_ERR_NET;
    }
    switch (resp->fail) {
    case HTTP_FAIL_TIMEOUT:
        if (is_put)
            log_errx("imds: token request to %s timed out after connecting: the PUT response "
                     "hop limit is probably too low (container?); set HttpPutResponseHopLimit "
                     "to 2",
                     ep);
        else
            log_errx("imds: %s timed out after connecting", what);
        return AGENT_ERR_TIMEOUT;
    case HTTP_FAIL_CONNECT_TIMEOUT:
        log_errx("imds: connection to %s: no answer (not on EC2?)", ep);
        return AGENT_ERR_TIMEOUT;
    case HTTP_FAIL_REFUSED:
        log_errx("imds: connection to %s refused: no instance metadata service there", ep);
        return AGENT_ERR_NET;
    case HTTP_FAIL_RESOLVE:
        log_errx("imds: cannot resolve the host of %s", ep);
        return AGENT_ERR_NET;
    case HTTP_FAIL_TOOBIG:
        if (!c->quiet_toobig)
            log_errx("imds: %s: the reply is over the size cap", what);
        return AGENT_ERR_TOOBIG;
    default:
        log_errx("imds: %s: %s", what, resp->error[0] != '\0' ? resp->error : agent_rc_str(rc));
        return rc;
    }
}

/*
 * One request with the retry policy: connection errors, timeouts, 5xx and
 * 429 are retried up to c->attempts tries, with full-jitter backoff, never
 * sleeping past the deadline.  AGENT_OK when a status that is not retried
 * arrived (the caller judges it); otherwise the failure is logged here.
 */
static enum agent_rc
exchange(struct imds_client *c, struct http_request *req, struct http_response *resp,
         const char *path)
{
    int is_put = strcmp(req->method, "PUT") == 0;
    enum agent_rc rc = AGENT_ERR_TIMEOUT;
    char what[1200];
    int64_t delay;
    int attempt;

    if (is_put)
        snprintf(what, sizeof(what), "token request to %s", c->endpoint);
    else
        snprintf(what, sizeof(what), "%s from %s", path, c->endpoint);

    for (attempt = 1;; attempt++) {
        if (deadline_expired(c->deadline)) {
            log_errx("imds: %s: the run deadline has passed", what);
            return AGENT_ERR_TIMEOUT;
        }
        req->timeout_ms = deadline_cap_ms(c->deadline, c->timeout_ms);
        req->connect_timeout_ms = req->timeout_ms;
        if (is_put)
            c->puts++;
        else
            c->gets++;
        rc = http_perform(req, resp);
        if (rc == AGENT_OK && !retryable_status(resp->status))
            return AGENT_OK;
        if (rc != AGENT_OK && rc != AGENT_ERR_NET && rc != AGENT_ERR_TIMEOUT)
            break;
        if (attempt >= c->attempts)
            break;
        delay = backoff_ms(c, attempt);
        if (delay >= deadline_left_ms(c->deadline)) {
            log_errx("imds: %s: giving up after %d attempts: the run deadline is near", what,
                     attempt);
            return AGENT_ERR_TIMEOUT;
        }
        log_debug("imds: %s: %s, retrying in %lld ms", what,
                  rc == AGENT_OK ? "retryable status" : http_fail_str(resp->fail),
                  (long long)delay);
        clock_sleep_ms(delay);
    }
    return diagnose(c, is_put, what, resp, rc, attempt);
}

static enum agent_rc
disabled(const struct imds_client *c)
{
    log_errx("imds: %s answered 403: instance metadata is disabled for this instance "
             "(HttpEndpoint=disabled)",
             c->endpoint);
    return AGENT_ERR_DISABLED;
}

/* Fetches a token unless the current one is still good.  No IMDSv1 fallback. */
static enum agent_rc
ensure_token(struct imds_client *c)
{
    const char *const headers[] = {TTL_HEADER ": " STRINGIFY(IMDS_TOKEN_TTL_S), NULL};
    struct http_request req;
    struct http_response resp;
    struct buf url;
    char ttlv[32];
    long long ttl = IMDS_TOKEN_TTL_S, hv;
    int64_t t0 = clock_mono_ms(), margin;
    enum agent_rc rc;
    char *tok;
    size_t n;

    if (c->token != NULL && t0 < c->token_refresh_ms)
        return AGENT_OK;
    drop_token(c);

    buf_init(&url, URL_MAX);
    http_response_init(&resp, TOKEN_MAX);
    buf_init_secret(&resp.body, TOKEN_MAX);
    rc = buf_printf(&url, "%s%s", c->endpoint, TOKEN_PATH);
    if (rc != AGENT_OK)
        goto out;
    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = url.data;
    req.headers = headers;
    req.max_response = TOKEN_MAX;
    req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY | HTTP_SECRET_HEADERS;
    rc = exchange(c, &req, &resp, TOKEN_PATH);
    if (rc != AGENT_OK)
        goto out;

    switch (resp.status) {
    case 200:
        break;
    case 400:
        log_errx("imds: token request to %s rejected: HTTP 400 (bad TTL header)", c->endpoint);
        rc = AGENT_ERR_HTTP;
        goto out;
    case 403:
        rc = disabled(c);
        goto out;
    default:
        log_errx("imds: token request to %s: HTTP %ld: no IMDSv2 token there", c->endpoint,
                 resp.status);
        rc = AGENT_ERR_HTTP;
        goto out;
    }
    tok = resp.body.data;
    n = resp.body.len;
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        n--;
    if (n == 0 || !str_is_graphic(tok, n)) {
        log_errx("imds: token request to %s: the reply is not a token", c->endpoint);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    if (http_response_header(&resp, TTL_HEADER, ttlv, sizeof(ttlv)) == AGENT_OK) {
        if (str_to_ll(ttlv, 1, IMDS_TOKEN_TTL_S, &hv) == AGENT_OK)
            ttl = hv < ttl ? hv : ttl;
        else
            log_debug("imds: token request to %s: ignoring a bad TTL header", c->endpoint);
    }
    c->token = str_ndup(tok, n);
    if (c->token == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    rc = log_redact_add(c->token, n);
    if (rc != AGENT_OK) {
        drop_token(c);
        goto out;
    }
    /* Fetch again 60 s before expiry (half the TTL for very short ones), timed from the PUT. */
    margin = ttl * 1000 > 2 * REFRESH_MARGIN_MS ? REFRESH_MARGIN_MS : ttl * 1000 / 2;
    c->token_refresh_ms = t0 + ttl * 1000 - margin;
    log_debug("imds: token from %s, valid %lld s", c->endpoint, ttl);
out:
    buf_cleanup(&url);
    http_response_cleanup(&resp);
    return rc;
}

enum agent_rc
imds_get(struct imds_client *c, const char *path, struct buf *out)
{
    const char *headers[2] = {NULL, NULL};
    struct http_request req;
    struct http_response resp;
    struct buf url, hdr;
    size_t cap;
    int renewed = 0;
    enum agent_rc rc;

    if (!valid_path(path)) {
        log_errx("imds: bad metadata path \"%.80s\"", path);
        return AGENT_ERR_INVAL;
    }
    cap = IMDS_MAX_RESPONSE;
    if (strcmp(path, USER_DATA_PATH) == 0)
        cap = out->max > IMDS_USER_DATA_FETCH_MAX ? IMDS_USER_DATA_FETCH_MAX : out->max;
    buf_init(&url, URL_MAX);
    buf_init_secret(&hdr, TOKEN_MAX + 64);
    http_response_init(&resp, cap);
    if (out->secret)
        buf_init_secret(&resp.body, cap);
    rc = buf_printf(&url, "%s%s%s", c->endpoint, path[0] == '/' ? "" : "/latest/meta-data/", path);
    if (rc != AGENT_OK) {
        log_errx("imds: metadata path \"%.80s\" is too long", path);
        goto out;
    }
    for (;;) {
        rc = ensure_token(c);
        if (rc != AGENT_OK)
            goto out;
        buf_reset(&hdr);
        rc = buf_printf(&hdr, "%s: %s", TOKEN_HEADER, c->token);
        if (rc != AGENT_OK)
            goto out;
        headers[0] = hdr.data;
        memset(&req, 0, sizeof(req));
        req.method = "GET";
        req.url = url.data;
        req.headers = headers;
        req.max_response = cap;
        req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY | HTTP_SECRET_HEADERS;
        rc = exchange(c, &req, &resp, path);
        if (rc != AGENT_OK)
            goto out;
        if (resp.status != 401)
            break;
        if (renewed) {
            log_errx("imds: %s rejected a fresh token for %s (HTTP 401)", c->endpoint, path);
            rc = AGENT_ERR_HTTP;
            goto out;
        }
        /* The token expired or IMDS restarted: one new token, one more try. */
        log_debug("imds: %s from %s: HTTP 401, fetching a new token", path, c->endpoint);
        drop_token(c);
        renewed = 1;
    }
    switch (resp.status) {
    case 200:
        rc = buf_append(out, resp.body.data != NULL ? resp.body.data : "", resp.body.len);
        if (rc == AGENT_ERR_TOOBIG && !c->quiet_toobig)
            log_errx("imds: %s from %s: the value is over %zu bytes", path, c->endpoint, out->max);
        break;
    case 403:
        rc = disabled(c);
        break;
    case 404:
        rc = AGENT_ERR_ABSENT;
        break;
    default:
        log_errx("imds: %s from %s: HTTP %ld", path, c->endpoint, resp.status);
        rc = AGENT_ERR_HTTP;
        break;
    }
out:
    buf_cleanup(&url);
    buf_cleanup(&hdr);
    http_response_cleanup(&resp);
    return rc;
}

/*
 * A one-line fact: trailing CR/LF/space removed, no control characters, then
 * the validator.  *out is NULL when optional and absent (404).
 */
static enum agent_rc
get_fact(struct imds_client *c, const char *path, int optional, valid_fn valid, char **out)
{
    struct buf b;
    enum agent_rc rc;
    size_t n;

    *out = NULL;
    buf_init(&b, IMDS_MAX_RESPONSE);
    rc = imds_get(c, path, &b);
    if (rc == AGENT_ERR_ABSENT) {
        if (optional)
            rc = AGENT_OK;
        else
            log_errx("imds: %s is absent (404) from %s", path, c->endpoint);
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    n = b.len;
    while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' '))
        n--;
    if (n == 0 || has_control(b.data, n) || memchr(b.data, '\0', n) != NULL) {
        log_errx("imds: %s: malformed value (empty or control characters)", path);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    b.data[n] = '\0';
    if (valid != NULL && !valid(b.data)) {
        log_errx("imds: %s: malformed value \"%.64s\"", path, b.data);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    *out = str_ndup(b.data, n);
    if (*out == NULL)
        rc = AGENT_ERR_NOMEM;
out:
    buf_cleanup(&b);
    return rc;
}

/* The instance profile role: the first line of iam/security-credentials/. */
static enum agent_rc
get_role(struct imds_client *c, char **out)
{
    const char *path = "iam/security-credentials/";
    struct buf b;
    enum agent_rc rc;
    size_t n;

    *out = NULL;
    buf_init(&b, IMDS_MAX_RESPONSE);
    rc = imds_get(c, path, &b);
    if (rc == AGENT_ERR_ABSENT) {
        rc = AGENT_OK;
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    /* One profile per instance: the first line is the role. */
    n = strcspn(buf_cstr(&b), "\r\n");
    if (b.data != NULL)
        b.data[n] = '\0';
    if (n == 0 || !valid_role(buf_cstr(&b))) {
        log_errx("imds: %s: malformed role name", path);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    *out = str_ndup(b.data, n);
    if (*out == NULL)
        rc = AGENT_ERR_NOMEM;
out:
    buf_cleanup(&b);
    return rc;
}

static void
free_tags(struct imds_tag *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

/* A tag key that may be put in a path: no '/', no control characters, not "." or "..". */
static int
valid_tag_key(const char *k)
{
    return k[0] != '\0' && strcmp(k, ".") != 0 && strcmp(k, "..") != 0 && strchr(k, '/') == NULL &&
           str_is_graphic(k, strlen(k)) && strlen(k) <= 128;
}

/* Remembers the key of a tag that cannot be used, control bytes shown as '?'. */
static enum agent_rc
add_bad_tag(struct imds_facts *f, const char *key)
{
    char **nb, *k;
    size_t i;

    if (f->n_bad_tags == MAX_TAGS)
        return AGENT_OK;
    k = str_ndup(key, strnlen(key, 128));
    if (k == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; k[i] != '\0'; i++) {
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            k[i] = '?';
    }
    nb = realloc(f->bad_tags, (f->n_bad_tags + 1) * sizeof(*nb));
    if (nb == NULL) {
        free(k);
        return AGENT_ERR_NOMEM;
    }
    f->bad_tags = nb;
    f->bad_tags[f->n_bad_tags++] = k;
    return AGENT_OK;
}

/* Names the skipped tags once, at -v. */
static void
log_bad_tags(const struct imds_facts *f)
{
    struct buf b;
    size_t i;

    if (f->n_bad_tags == 0 || !log_enabled(LOG_LVL_DEBUG))
        return;
    buf_init(&b, 4096);
    for (i = 0; i < f->n_bad_tags; i++) {
        if (buf_printf(&b, "%s\"%s\"", i > 0 ? ", " : "", f->bad_tags[i]) != AGENT_OK)
            break;
    }
    log_debug("imds: tags/instance: skipped %zu tag%s that cannot be used (a control character "
              "or '/' in the key, or a control character in the value): %s",
              f->n_bad_tags, f->n_bad_tags == 1 ? "" : "s", buf_cstr(&b));
    buf_cleanup(&b);
}

/*
 * tags/instance: one key per line, then tags/instance/<key> each.  A tag
 * whose key cannot be put in a path, or whose value holds a control
 * character, is skipped and remembered in f->bad_tags: an unrelated tag
 * must not stop discovery; a config that uses it fails at the placeholder.
 */
static enum agent_rc
get_tags(struct imds_client *c, struct imds_facts *f)
{
    struct buf list, val, path;
    struct imds_tag *tags = NULL, *nt;
    size_t n = 0;
    enum agent_rc rc;
    char *line, *next;

    buf_init(&list, IMDS_MAX_RESPONSE);
    buf_init(&val, IMDS_MAX_RESPONSE);
    buf_init(&path, URL_MAX);
    rc = imds_get(c, "tags/instance", &list);
    if (rc == AGENT_ERR_ABSENT) {
        f->tags_enabled = 0;
        rc = AGENT_OK;
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    f->tags_enabled = 1;
    for (line = list.data; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '\0')
            continue;
        if (!valid_tag_key(line)) {
            rc = add_bad_tag(f, line);
            if (rc != AGENT_OK)
                goto out;
            continue;
        }
        if (n == MAX_TAGS) {
            log_errx("imds: tags/instance: more than %d tags", MAX_TAGS);
            rc = AGENT_ERR_TOOBIG;
            goto out;
        }
        buf_reset(&path);
        buf_reset(&val);
        rc = buf_printf(&path, "tags/instance/%s", line);
        if (rc != AGENT_OK)
            goto out;
        rc = imds_get(c, path.data, &val);
        if (rc == AGENT_ERR_ABSENT) {
            /* Removed between the listing and now. */
            rc = AGENT_OK;
            continue;
        }
        if (rc != AGENT_OK)
            goto out;
        if (has_control(buf_cstr(&val), val.len) || strlen(buf_cstr(&val)) != val.len) {
            rc = add_bad_tag(f, line);
            if (rc != AGENT_OK)
                goto out;
            continue;
        }
        nt = realloc(tags, (n + 1) * sizeof(*tags));
        if (nt == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        tags = nt;
        tags[n].key = str_dup(line);
        tags[n].value = str_dup(buf_cstr(&val));
        n++;
        if (tags[n - 1].key == NULL || tags[n - 1].value == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
    }
    f->tags = tags;
    f->n_tags = n;
    tags = NULL;
    n = 0;
    log_bad_tags(f);
out:
    free_tags(tags, n);
    buf_cleanup(&list);
    buf_cleanup(&val);
    buf_cleanup(&path);
    return rc;
}

enum agent_rc
imds_get_tags(struct imds_client *c, const char *const *keys, size_t n, struct imds_facts *f)
{
    struct buf val, path;
    struct imds_tag *tags = NULL, *nt;
    size_t i, got = 0, missing = 0;
    enum agent_rc rc = AGENT_OK;

    buf_init(&val, IMDS_MAX_RESPONSE);
    buf_init(&path, URL_MAX);
    f->tags_enabled = 1;
    for (i = 0; i < n && i < MAX_TAGS; i++) {
        if (!valid_tag_key(keys[i]) || imds_facts_tag(f, keys[i]) != NULL)
            continue;
        buf_reset(&path);
        buf_reset(&val);
        rc = buf_printf(&path, "tags/instance/%s", keys[i]);
        if (rc != AGENT_OK)
            goto out;
        rc = imds_get(c, path.data, &val);
        if (rc == AGENT_ERR_ABSENT) {
            missing++;
            rc = AGENT_OK;
            continue;
        }
        if (rc != AGENT_OK)
            goto out;
        if (has_control(buf_cstr(&val), val.len) || strlen(buf_cstr(&val)) != val.len) {
            /* The placeholder that names it says why (issue 9 item 11). */
            rc = add_bad_tag(f, keys[i]);
            if (rc != AGENT_OK)
                goto out;
            continue;
        }
        nt = realloc(tags, (got + 1) * sizeof(*tags));
        if (nt == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        tags = nt;
        tags[got].key = str_dup(keys[i]);
        tags[got].value = str_dup(buf_cstr(&val));
        got++;
        if (tags[got - 1].key == NULL || tags[got - 1].value == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
    }
    if (missing > 0 && got == 0) {
        /* None there: are tags in metadata enabled at all?  (For the error message.) */
        buf_reset(&val);
        rc = imds_get(c, "tags/instance", &val);
        if (rc == AGENT_ERR_ABSENT)
            f->tags_enabled = 0;
        if (rc == AGENT_OK || rc == AGENT_ERR_ABSENT)
            rc = AGENT_OK;
        else
            goto out;
    }
    free_tags(f->tags, f->n_tags);
    f->tags = tags;
    f->n_tags = got;
    tags = NULL;
    got = 0;
out:
    free_tags(tags, got);
    buf_cleanup(&val);
    buf_cleanup(&path);
    return rc;
}

void
imds_facts_cleanup(struct imds_facts *f)
{
    size_t i;

    if (f == NULL)
        return;
    free(f->instance_id);
    free(f->region);
    free(f->availability_zone);
    free(f->instance_type);
    free(f->local_ipv4);
    free(f->public_ipv4);
    free(f->mac);
    free(f->account_id);
    free(f->image_id);
    free(f->partition_domain);
    free(f->lifecycle_state);
    free(f->role);
    free_tags(f->tags, f->n_tags);
    for (i = 0; i < f->n_bad_tags; i++)
        free(f->bad_tags[i]);
    free(f->bad_tags);
    buf_cleanup(&f->user_data);
    memset(f, 0, sizeof(*f));
}

const char *
imds_facts_tag(const struct imds_facts *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->n_tags; i++) {
        if (strcmp(f->tags[i].key, key) == 0)
            return f->tags[i].value;
    }
    return NULL;
}

/* The table of one-line facts fetched by imds_discover, in order. */
struct fact_spec {
    const char *path;
    size_t off;
    int optional;
    valid_fn valid;
};

#define FACT(path, field, opt, fn)                        \
    {                                                     \
        path, offsetof(struct imds_facts, field), opt, fn \
    }

static const struct fact_spec fact_specs[] = {
    FACT("instance-id", instance_id, 0, str_is_instance_id),
    FACT("instance-type", instance_type, 0, valid_instance_type),
    /* The AZ and region may come from the identity document instead. */
    FACT("placement/availability-zone", availability_zone, 1, valid_az),
    FACT("placement/region", region, 1, str_is_region),
    /* 404 on IPv6-only instances; the identity document's privateIp then. */
    FACT("local-ipv4", local_ipv4, 1, str_is_ipv4),
    FACT("public-ipv4", public_ipv4, 1, str_is_ipv4),
    FACT("mac", mac, 1, valid_mac),
    FACT("services/domain", partition_domain, 1, valid_domain),
    FACT("autoscaling/target-lifecycle-state", lifecycle_state, 1, valid_lifecycle),
};

/* The facts the identity document does not hold, fetched by a lean discovery. */
static const struct fact_spec lean_specs[] = {
    FACT("public-ipv4", public_ipv4, 1, str_is_ipv4),
    FACT("autoscaling/target-lifecycle-state", lifecycle_state, 1, valid_lifecycle),
};

/* The DNS suffix of region's partition (what the SDKs derive from the region). */
static const char *
partition_domain_of(const char *region)
{
    static const struct {
        const char *prefix, *domain;
    } parts[] = {
        {"cn-", "amazonaws.com.cn"}, {"us-isob-", "sc2s.sgov.gov"},  {"us-isof-", "csp.hci.ic.gov"},
        {"us-iso-", "c2s.ic.gov"},   {"eu-isoe-", "cloud.adc-e.uk"},
    };

    size_t i;

    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (strncmp(region, parts[i].prefix, strlen(parts[i].prefix)) == 0)
            return parts[i].domain;
    }
    return "amazonaws.com";
}

enum agent_rc
imds_discover(struct imds_client *c, struct imds_facts *f)
{
    return imds_discover_lean(c, 0, f);
}

enum agent_rc
imds_discover_lean(struct imds_client *c, int lean, struct imds_facts *f)
{
    struct imds_facts t;
    struct buf doc;
    enum agent_rc rc;
    size_t i;

    memset(&t, 0, sizeof(t));
    buf_init_secret(&t.user_data, IMDS_USER_DATA_FETCH_MAX);
    buf_init(&doc, IMDS_MAX_RESPONSE);
    if (lean) {
        /* The identity document first: it holds most facts (one request instead of six). */
        rc = imds_get(c, IDENTITY_PATH, &doc);
        if (rc == AGENT_ERR_ABSENT)
            log_errx("imds: %s is absent (404) from %s", IDENTITY_PATH, c->endpoint);
        if (rc != AGENT_OK)
            goto out;
        rc = imds_parse_identity(buf_cstr(&doc), doc.len, &t);
        if (rc != AGENT_OK)
            goto out;
        if (t.instance_id == NULL || t.instance_type == NULL) {
            log_errx("imds: the identity document has no instanceId or instanceType");
            rc = AGENT_ERR_PARSE;
            goto out;
        }
        for (i = 0; i < sizeof(lean_specs) / sizeof(lean_specs[0]); i++) {
            const struct fact_spec *s = &lean_specs[i];

            rc = get_fact(c, s->path, s->optional, s->valid, (char **)((char *)&t + s->off));
            if (rc != AGENT_OK)
                goto out;
        }
        if (t.region != NULL) {
            t.partition_domain = str_dup(partition_domain_of(t.region));
            if (t.partition_domain == NULL) {
                rc = AGENT_ERR_NOMEM;
                goto out;
            }
        }
    } else {
        for (i = 0; i < sizeof(fact_specs) / sizeof(fact_specs[0]); i++) {
            const struct fact_spec *s = &fact_specs[i];

            rc = get_fact(c, s->path, s->optional, s->valid, (char **)((char *)&t + s->off));
            if (rc != AGENT_OK)
                goto out;
        }
    }
    rc = get_role(c, &t.role);
    if (rc != AGENT_OK)
        goto out;
    if (!lean) {
        rc = get_tags(c, &t);
        if (rc != AGENT_OK)
            goto out;
    }
    /*
     * User data over the limit is not a failure of discovery: the facts
     * stand, and the caller reports the size (one message, a config error).
     */
    c->quiet_toobig = 1;
    rc = imds_get(c, USER_DATA_PATH, &t.user_data);
    c->quiet_toobig = 0;
    if (rc == AGENT_OK && t.user_data.len > IMDS_MAX_USER_DATA)
        t.user_data_over = t.user_data.len;
    else if (rc == AGENT_ERR_TOOBIG)
        t.user_data_over = IMDS_USER_DATA_FETCH_MAX + 1;
    if (t.user_data_over > 0) {
        buf_cleanup(&t.user_data);
        rc = AGENT_OK;
    }
    if (rc == AGENT_OK) {
        t.has_user_data = 1;
    } else if (rc == AGENT_ERR_ABSENT) {
        buf_reset(&t.user_data);
        rc = AGENT_OK;
    } else {
        goto out;
    }
    if (!lean) {
        rc = imds_get(c, IDENTITY_PATH, &doc);
        if (rc == AGENT_ERR_ABSENT)
            log_errx("imds: %s is absent (404) from %s", IDENTITY_PATH, c->endpoint);
        if (rc != AGENT_OK)
            goto out;
        rc = imds_parse_identity(buf_cstr(&doc), doc.len, &t);
        if (rc != AGENT_OK)
            goto out;
    }
    if (t.region == NULL) {
        log_errx("imds: no region: placement/region is absent and the identity document has "
                 "none");
        rc = AGENT_ERR_ABSENT;
        goto out;
    }
    *f = t;
    memset(&t, 0, sizeof(t));
out:
    buf_cleanup(&doc);
    imds_facts_cleanup(&t);
    return rc;
}

/* The text after a cJSON parse: only whitespace may follow the value. */
static int
only_space(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return 0;
    }
    return 1;
}

static cJSON *
parse_object(const char *json, size_t len, const char *what)
{
    const char *end = NULL;
    cJSON *root;

    if (json == NULL || len == 0) {
        log_errx("imds: %s: empty document", what);
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        log_errx("imds: %s: not valid JSON", what);
        return NULL;
    }
    if (!cJSON_IsObject(root) || end == NULL || end < json || end > json + len ||
        !only_space(end, json + len)) {
        log_errx("imds: %s: not a single JSON object", what);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

struct doc_field {
    const char *name;
    size_t off;
    valid_fn valid;
};

#define DOCF(name, field, fn)                        \
    {                                                \
        name, offsetof(struct imds_facts, field), fn \
    }

static const struct doc_field doc_fields[] = {
    DOCF("accountId", account_id, valid_account),
    DOCF("imageId", image_id, valid_image_id),
    DOCF("region", region, str_is_region),
    DOCF("instanceId", instance_id, str_is_instance_id),
    DOCF("instanceType", instance_type, valid_instance_type),
    DOCF("availabilityZone", availability_zone, valid_az),
    DOCF("privateIp", local_ipv4, str_is_ipv4),
};

#define N_DOC_FIELDS (sizeof(doc_fields) / sizeof(doc_fields[0]))

enum agent_rc
imds_parse_identity(const char *json, size_t len, struct imds_facts *f)
{
    char *vals[N_DOC_FIELDS];
    const cJSON *it;
    enum agent_rc rc = AGENT_ERR_PARSE;
    cJSON *root;
    size_t i;

    memset(vals, 0, sizeof(vals));
    root = parse_object(json, len, "identity document");
    if (root == NULL)
        return AGENT_ERR_PARSE;
    for (i = 0; i < N_DOC_FIELDS; i++) {
        it = cJSON_GetObjectItemCaseSensitive(root, doc_fields[i].name);
        if (it == NULL || cJSON_IsNull(it))
            continue;
        if (!cJSON_IsString(it) || it->valuestring == NULL) {
            log_errx("imds: identity document: %s is not a string", doc_fields[i].name);
            goto out;
        }
        if (!doc_fields[i].valid(it->valuestring)) {
            log_errx("imds: identity document: %s is malformed", doc_fields[i].name);
            goto out;
        }
        vals[i] = str_dup(it->valuestring);
        if (vals[i] == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
    }
    /* Only now that every field is good: fill the facts still missing. */
    for (i = 0; i < N_DOC_FIELDS; i++) {
        char **dst = (char **)((char *)f + doc_fields[i].off);

        if (*dst == NULL) {
            *dst = vals[i];
            vals[i] = NULL;
        }
    }
    rc = AGENT_OK;
out:
    for (i = 0; i < N_DOC_FIELDS; i++)
        free(vals[i]);
    cJSON_Delete(root);
    return rc;
}

/* A required non-empty string of visible ASCII (it goes into headers). */
static const char *
cred_field(const cJSON *root, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);

    if (!cJSON_IsString(it) || it->valuestring == NULL || it->valuestring[0] == '\0') {
        log_errx("imds: role credentials: %s is missing or not a string", name);
        return NULL;
    }
    if (!str_is_graphic(it->valuestring, strlen(it->valuestring)) ||
        strlen(it->valuestring) > 8192) {
        log_errx("imds: role credentials: %s is malformed", name);
        return NULL;
    }
    return it->valuestring;
}

enum agent_rc
imds_parse_role_creds(const char *json, size_t len, struct imds_role_creds *out)
{
    struct imds_role_creds t;
    const char *akid, *secret, *token, *exp;
    const cJSON *code;
    enum agent_rc rc = AGENT_ERR_PARSE;
    cJSON *root;

    memset(&t, 0, sizeof(t));
    root = parse_object(json, len, "role credentials");
    if (root == NULL)
        return AGENT_ERR_PARSE;
    code = cJSON_GetObjectItemCaseSensitive(root, "Code");
    if (code != NULL) {
        if (!cJSON_IsString(code) || code->valuestring == NULL) {
            log_errx("imds: role credentials: Code is not a string");
            goto out;
        }
        if (strcmp(code->valuestring, "Success") != 0) {
            /* An IMDS error code such as AssumeRoleUnauthorizedAccess is not a secret. */
            if (all_in(code->valuestring, UPPER LOWER_DIGITS, 1, 64))
                log_errx("imds: role credentials: Code is %s, not Success", code->valuestring);
            else
                log_errx("imds: role credentials: Code is not Success");
            goto out;
        }
    }
    akid = cred_field(root, "AccessKeyId");
    secret = cred_field(root, "SecretAccessKey");
    token = cred_field(root, "Token");
    exp = cred_field(root, "Expiration");
    if (akid == NULL || secret == NULL || token == NULL || exp == NULL)
        goto out;
    if (!all_in(akid, UPPER "0123456789", 16, 128)) {
        log_errx("imds: role credentials: AccessKeyId is malformed");
        goto out;
    }
    if (clock_parse_rfc3339(exp, &t.expiration) != AGENT_OK) {
        log_errx("imds: role credentials: Expiration is not an RFC 3339 UTC time");
        goto out;
    }
    t.access_key_id = str_dup(akid);
    t.secret_access_key = str_dup(secret);
    t.token = str_dup(token);
    if (t.access_key_id == NULL || t.secret_access_key == NULL || t.token == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    *out = t;
    memset(&t, 0, sizeof(t));
    rc = AGENT_OK;
out:
    imds_role_creds_cleanup(&t);
    /* The tree holds the keys: wiped before it is freed. */
    awsjson_delete_wiped(root);
    return rc;
}

void
imds_role_creds_cleanup(struct imds_role_creds *rc)
{
    if (rc == NULL)
        return;
    str_free_secret(rc->access_key_id);
    str_free_secret(rc->secret_access_key);
    str_free_secret(rc->token);
    memset(rc, 0, sizeof(*rc));
}

enum agent_rc
imds_role_credentials(struct imds_client *c, const char *role, struct imds_role_creds *out)
{
    struct imds_role_creds t;
    struct buf path, doc;
    enum agent_rc rc;

    if (role == NULL || !valid_role(role)) {
        log_errx("imds: bad role name");
        return AGENT_ERR_INVAL;
    }
    memset(&t, 0, sizeof(t));
    buf_init(&path, URL_MAX);
    buf_init_secret(&doc, IMDS_MAX_RESPONSE);
    rc = buf_printf(&path, "iam/security-credentials/%s", role);
    if (rc != AGENT_OK)
        goto out;
    rc = imds_get(c, path.data, &doc);
    if (rc == AGENT_ERR_ABSENT)
        log_errx("imds: %s is absent (404): no credentials for this role", path.data);
    if (rc != AGENT_OK)
        goto out;
    rc = imds_parse_role_creds(buf_cstr(&doc), doc.len, &t);
    if (rc != AGENT_OK) {
        log_errx("imds: %s: unusable credentials document", path.data);
        goto out;
    }
    rc = log_redact_add(t.secret_access_key, strlen(t.secret_access_key));
    if (rc == AGENT_OK)
        rc = log_redact_add(t.token, strlen(t.token));
    if (rc != AGENT_OK)
        goto out;
    *out = t;
    memset(&t, 0, sizeof(t));
out:
    imds_role_creds_cleanup(&t);
    buf_cleanup(&path);
    buf_cleanup(&doc);
    return rc;
}
