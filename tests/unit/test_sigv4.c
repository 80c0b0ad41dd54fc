/*
 * Unit tests of aws/sigv4: every case of the official SigV4 vectors (header
 * and query signing, byte-exact), then the helpers' edge cases.
 *
 * The vectors live in SIGV4_TEST_SUITE_DIR (not in the repository); without
 * them the whole test is skipped (exit 77).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/str.h"

#define MIN_CASES   38
#define MAX_FILE    (1024 * 1024)
#define MAX_HEADERS 64

static const char *suite_dir;

/* ---- small helpers ------------------------------------------------------ */

/* The whole file into a malloc'd NUL-terminated string; NULL when unreadable. */
static char *
read_all(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *data;
    size_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return NULL;
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    data = malloc(MAX_FILE + 1);
    if (data == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(data, 1, MAX_FILE, f);
    fclose(f);
    data[n] = '\0';
    if (len != NULL)
        *len = n;
    return data;
}

static char *
must_read(const char *dir, const char *name)
{
    char *s = read_all(dir, name, NULL);

    if (s == NULL)
        fail_msg("cannot read %s/%s", dir, name);
    return s;
}

/* A parsed request.txt. */
struct vreq {
    char *method;
    char *target; /* raw request target */
    char *path;
    char *query; /* NULL when the target has no '?' */
    struct sigv4_header headers[MAX_HEADERS];
    char *names[MAX_HEADERS];
    char *values[MAX_HEADERS];
    size_t n_headers;
    char *body;
    size_t body_len;
};

static void
vreq_free(struct vreq *r)
{
    size_t i;

    free(r->method);
    free(r->target);
    free(r->path);
    free(r->query);
    for (i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Length of the line at p (without the LF and a CR before it). */
static size_t
line_len(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n;

    if (nl == NULL) {
        *next = end;
        n = (size_t)(end - p);
    } else {
        *next = nl + 1;
        n = (size_t)(nl - p);
    }
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n;
}

static char *
concat3(const char *a, const char *b, size_t bn, const char *c, size_t cn)
{
    size_t an = strlen(a);
    char *s = malloc(an + bn + cn + 1);

    assert_non_null(s);
    memcpy(s, a, an);
    memcpy(s + an, b, bn);
    memcpy(s + an + bn, c, cn);
    s[an + bn + cn] = '\0';
    return s;
}

/*
 * request.txt: "METHOD SP target SP HTTP/1.1" (the target may hold spaces),
 * "Name:value" lines where a line starting with a blank continues the
 * previous value (obs-fold, joined with a space), a blank line, the body.
 */
static void
parse_request(const char *text, size_t len, struct vreq *r)
{
    const char *p = text, *end = text + len, *next, *sp1, *sp2, *q;
    size_t n;

    memset(r, 0, sizeof(*r));
    n = line_len(p, end, &next);
    sp1 = memchr(p, ' ', n);
    assert_non_null(sp1);
    sp2 = p + n;
    while (sp2 > sp1 && *(sp2 - 1) != ' ')
        sp2--;
    assert_true(sp2 - 1 > sp1);
    assert_true(n - (size_t)(sp2 - p) == 8 && memcmp(sp2, "HTTP/1.1", 8) == 0);
    r->method = str_ndup(p, (size_t)(sp1 - p));
    r->target = str_ndup(sp1 + 1, (size_t)(sp2 - 1 - (sp1 + 1)));
    assert_non_null(r->method);
    assert_non_null(r->target);
    q = strchr(r->target, '?');
    if (q == NULL) {
        r->path = str_dup(r->target);
    } else {
        r->path = str_ndup(r->target, (size_t)(q - r->target));
        r->query = str_dup(q + 1);
        assert_non_null(r->query);
    }
    assert_non_null(r->path);

    p = next;
    while (p < end) {
        const char *colon;

        n = line_len(p, end, &next);
        if (n == 0) {
            p = next;
            break;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            char *joined;

            assert_true(r->n_headers > 0);
            joined = concat3(r->values[r->n_headers - 1], " ", 1, p, n);
            free(r->values[r->n_headers - 1]);
            r->values[r->n_headers - 1] = joined;
        } else {
            assert_true(r->n_headers < MAX_HEADERS);
            colon = memchr(p, ':', n);
            assert_non_null(colon);
            r->names[r->n_headers] = str_ndup(p, (size_t)(colon - p));
            r->values[r->n_headers] = str_ndup(colon + 1, n - (size_t)(colon + 1 - p));
            assert_non_null(r->names[r->n_headers]);
            assert_non_null(r->values[r->n_headers]);
            r->n_headers++;
        }
        p = next;
    }
    r->body_len = (size_t)(end - p);
    r->body = malloc(r->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, p, r->body_len);
    r->body[r->body_len] = '\0';
    for (n = 0; n < r->n_headers; n++) {
        r->headers[n].name = r->names[n];
        r->headers[n].value = r->values[n];
    }
}

/* A parsed context.json. */
struct vctx {
    char *akid, *secret, *token, *region, *service;
    time_t now;
    int normalize, sign_body, omit_token;
    int64_t expires;
};

static void
vctx_free(struct vctx *c)
{
    free(c->akid);
    free(c->secret);
    free(c->token);
    free(c->region);
    free(c->service);
    memset(c, 0, sizeof(*c));
}

static char *
json_str(const cJSON *obj, const char *key, int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (it == NULL && !required)
        return NULL;
    if (!cJSON_IsString(it))
        fail_msg("context.json: %s is not a string", key);
    return str_dup(it->valuestring);
}

static int
json_bool(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (it == NULL)
        return 0;
    if (!cJSON_IsBool(it))
        fail_msg("context.json: %s is not a boolean", key);
    return cJSON_IsTrue(it);
}

static void
parse_context(const char *text, struct vctx *c)
{
    const cJSON *creds, *exp;
    cJSON *root;
    char *ts;
    struct tm tm;
    int consumed = 0;

    memset(c, 0, sizeof(*c));
    root = cJSON_Parse(text);
    assert_non_null(root);
    creds = cJSON_GetObjectItemCaseSensitive(root, "credentials");
    assert_true(cJSON_IsObject(creds));
    c->akid = json_str(creds, "access_key_id", 1);
    c->secret = json_str(creds, "secret_access_key", 1);
    c->token = json_str(creds, "token", 0);
    c->region = json_str(root, "region", 1);
    c->service = json_str(root, "service", 1);
    c->normalize = json_bool(root, "normalize");
    c->sign_body = json_bool(root, "sign_body");
    c->omit_token = json_bool(root, "omit_session_token");
    exp = cJSON_GetObjectItemCaseSensitive(root, "expiration_in_seconds");
    assert_true(cJSON_IsNumber(exp));
    c->expires = (int64_t)exp->valuedouble;
    ts = json_str(root, "timestamp", 1);
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed),
                     6);
    assert_int_equal((size_t)consumed, strlen(ts));
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    c->now = timegm(&tm);
    free(ts);
    cJSON_Delete(root);
}

static void
assert_text(const char *what, const char *got, size_t got_len, const char *want)
{
    if (got_len != strlen(want) || memcmp(got, want, got_len) != 0)
        fail_msg("%s differs:\n--- got ---\n%.*s\n--- want ---\n%s", what, (int)got_len, got, want);
}

/* 1 when text has a header line "name:value" (name in any case). */
static int
has_header_line(const char *text, const char *name, const char *value)
{
    const char *p = text;
    size_t nn = strlen(name), vn = strlen(value);

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl == NULL ? strlen(p) : (size_t)(nl - p);

        if (n == nn + 1 + vn && str_ncasecmp(p, name, nn) == 0 && p[nn] == ':' &&
            memcmp(p + nn + 1, value, vn) == 0)
            return 1;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

/* ---- the vectors -------------------------------------------------------- */

static void
sign_case(const char *dir, enum sigv4_mode mode, const struct vreq *r, const struct vctx *c)
{
    const char *prefix = mode == SIGV4_MODE_HEADER ? "header" : "query";
    struct sigv4_request req = {0};
    struct sigv4_params p = {0};
    char name[64], sig[SIGV4_SIGNATURE_HEX_LEN + 1];
    char *want;
    struct buf creq, sts;

    req.method = r->method;
    req.path = r->path;
    req.query = r->query;
    req.headers = r->headers;
    req.n_headers = r->n_headers;
    req.body = r->body;
    req.body_len = r->body_len;
    p.access_key_id = c->akid;
    p.secret_access_key = c->secret;
    p.session_token = c->token;
    p.region = c->region;
    p.service = c->service;
    p.now = c->now;
    p.normalize_path = c->normalize;
    p.sign_body_header = c->sign_body;
    p.omit_session_token = c->omit_token;
    p.expires_s = c->expires;

    buf_init_secret(&creq, SIGV4_MAX_CANONICAL);
    buf_init(&sts, SIGV4_MAX_CANONICAL);
    assert_int_equal(sigv4_canonical_request(&req, &p, mode, &creq), AGENT_OK);
    (void)snprintf(name, sizeof(name), "%s-canonical-request.txt", prefix);
    want = must_read(dir, name);
    assert_text(name, creq.data, creq.len, want);
    free(want);

    assert_int_equal(sigv4_string_to_sign(&p, creq.data, creq.len, &sts), AGENT_OK);
    (void)snprintf(name, sizeof(name), "%s-string-to-sign.txt", prefix);
    want = must_read(dir, name);
    assert_text(name, sts.data, sts.len, want);
    free(want);

    assert_int_equal(sigv4_signature(&p, sts.data, sts.len, sig), AGENT_OK);
    (void)snprintf(name, sizeof(name), "%s-signature.txt", prefix);
    want = must_read(dir, name);
    assert_text(name, sig, strlen(sig), want);

    /* The one-call signers give the same signature and the vectors' additions. */
    if (mode == SIGV4_MODE_HEADER) {
        struct sigv4_signed s;
        char *signed_req = must_read(dir, "header-signed-request.txt");
        size_t i;

        assert_int_equal(sigv4_sign_headers(&req, &p, &s), AGENT_OK);
        assert_string_equal(s.signature, want);
        for (i = 0; i < s.n_headers; i++) {
            if (!has_header_line(signed_req, s.headers[i].name, s.headers[i].value))
                fail_msg("header-signed-request.txt lacks %s:%s", s.headers[i].name,
                         s.headers[i].value);
        }
        assert_int_equal(s.n_headers, 2 + (c->token != NULL) + (c->sign_body != 0));
        sigv4_signed_cleanup(&s);
        assert_int_equal(s.n_headers, 0);
        free(signed_req);
    } else {
        struct buf q, line;
        char *signed_req = must_read(dir, "query-signed-request.txt");

        buf_init_secret(&q, SIGV4_MAX_CANONICAL);
        buf_init(&line, SIGV4_MAX_CANONICAL);
        assert_int_equal(sigv4_presign_query(&req, &p, &q), AGENT_OK);
        assert_int_equal(buf_printf(&line, "%s %s%c%s HTTP/1.1\n", r->method, r->target,
                                    r->query == NULL ? '?' : '&', q.data),
                         AGENT_OK);
        assert_true(str_has_prefix(signed_req, line.data));
        buf_cleanup(&q);
        buf_cleanup(&line);
        free(signed_req);
    }
    free(want);
    buf_cleanup(&creq);
    buf_cleanup(&sts);
}

static void
test_vector(void **state)
{
    const char *name = *state;
    char dir[4096];
    char *text, *ctx;
    size_t len;
    struct vreq r;
    struct vctx c;

    assert_true((size_t)snprintf(dir, sizeof(dir), "%s/v4/%s", suite_dir, name) < sizeof(dir));
    text = read_all(dir, "request.txt", &len);
    assert_non_null(text);
    ctx = must_read(dir, "context.json");
    parse_request(text, len, &r);
    parse_context(ctx, &c);
    sign_case(dir, SIGV4_MODE_HEADER, &r, &c);
    sign_case(dir, SIGV4_MODE_QUERY, &r, &c);
    vreq_free(&r);
    vctx_free(&c);
    free(text);
    free(ctx);
}

/* ---- helpers: UriEncode, path normalisation, canonical URI and query ---- */

static void
check_encode(const char *in, size_t n, int encode_slash, const char *want)
{
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(sigv4_uri_encode(in, n, encode_slash, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), want);
    buf_cleanup(&b);
}

static void
test_uri_encode(void **state)
{
    struct buf b;

    (void)state;
    check_encode("", 0, 1, "");
    check_encode("AZaz09-._~", 10, 1, "AZaz09-._~");
    check_encode(" ", 1, 1, "%20");
    check_encode("/a/b", 4, 0, "/a/b");
    check_encode("/a/b", 4, 1, "%2Fa%2Fb");
    check_encode("\xe1\x88\xb4", 3, 1, "%E1%88%B4");
    check_encode("+*%=&?#!$'(),;:@[]", 18, 1,
                 "%2B%2A%25%3D%26%3F%23%21%24%27%28%29%2C%3B%3A%40%5B%5D");
    check_encode("a\0b", 3, 1, "a%00b");
    check_encode("\xff\x7f", 2, 0, "%FF%7F");

    /* Appends, and leaves out untouched when the result does not fit. */
    buf_init(&b, 6);
    assert_int_equal(buf_puts(&b, "x"), AGENT_OK);
    assert_int_equal(sigv4_uri_encode("ab", 2, 1, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "xab");
    assert_int_equal(sigv4_uri_encode("  ", 2, 1, &b), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "xab");
    assert_int_equal(sigv4_uri_encode(NULL, 1, 1, &b), AGENT_ERR_INVAL);
    buf_cleanup(&b);
}

static void
check_normalize(const char *in, const char *want)
{
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(sigv4_normalize_path(in, strlen(in), &b), AGENT_OK);
    if (strcmp(buf_cstr(&b), want) != 0)
        fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, buf_cstr(&b), want);
    buf_cleanup(&b);
}

/* Expected values are botocore.utils.normalize_url_path()'s (checked with 1.43.11). */
static void
test_normalize_path(void **state)
{
    (void)state;
    check_normalize("", "/");
    check_normalize("/", "/");
    check_normalize("//", "/");
    check_normalize("/a/b/../c", "/a/c");
    check_normalize("/a/./b/", "/a/b/");
    check_normalize("/../a", "/a");
    check_normalize("/a/..", "/");
    check_normalize("/a/b/..", "/a");
    check_normalize("/a/.", "/a");
    check_normalize("/a//b///", "/a/b/");
    check_normalize("/.../a", "/.../a");
    check_normalize("/%2E%2E/a", "/%2E%2E/a");
    check_normalize("/a/b/../../..", "/");
    check_normalize("/a/b/./../c/", "/a/c/");
    check_normalize("//example//", "/example/");
    check_normalize("/example1/example2/../..", "/");
    check_normalize("a/b", "a/b");
    check_normalize(".", "");
    check_normalize("..", "");
    check_normalize("/..a/b..", "/..a/b..");
}

static void
check_uri(const char *in, int normalize, const char *want)
{
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(sigv4_canonical_uri(in, normalize, &b), AGENT_OK);
    if (strcmp(buf_cstr(&b), want) != 0)
        fail_msg("canonical_uri(\"%s\", %d) = \"%s\", want \"%s\"", in ? in : "(null)", normalize,
                 buf_cstr(&b), want);
    buf_cleanup(&b);
}

static void
check_uri_fails(const char *in)
{
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(sigv4_canonical_uri(in, 1, &b), AGENT_ERR_INVAL);
    assert_int_equal(sigv4_canonical_uri(in, 0, &b), AGENT_ERR_INVAL);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

static void
test_canonical_uri(void **state)
{
    (void)state;
    /* Every service but S3: normalise, then encode the wire form again. */
    check_uri(NULL, 1, "/");
    check_uri("", 1, "/");
    check_uri("/a%20b", 1, "/a%2520b");
    check_uri("/example space/", 1, "/example%20space/");
    check_uri("/a/../b c", 1, "/b%20c");
    check_uri("/~user/x+y", 1, "/~user/x%2By");
    check_uri("/\xe1\x88\xb4", 1, "/%E1%88%B4");
    /* S3: as sent; only bytes that may not travel raw are encoded. */
    check_uri(NULL, 0, "/");
    check_uri("/a%20b", 0, "/a%20b");
    check_uri("/a b", 0, "/a%20b");
    check_uri("/a%2fb", 0, "/a%2fb");
    check_uri("/a%2", 0, "/a%252");
    check_uri("/a%zz", 0, "/a%25zz");
    check_uri("/a/../b", 0, "/a/../b");
    check_uri("//x//", 0, "//x//");
    check_uri("/!*'()", 0, "/%21%2A%27%28%29");
    check_uri("/\xe1\x88\xb4%E1%88%B4", 0, "/%E1%88%B4%E1%88%B4");
    /* Not a wire path. */
    check_uri_fails("a");
    check_uri_fails("/a?b");
    check_uri_fails("/a#b");
    check_uri_fails("/a\tb");
    check_uri_fails("/a\r\nb");
    check_uri_fails("/\x7f");
}

static void
check_query(const char *in, const char *want)
{
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(sigv4_canonical_query(in, &b), AGENT_OK);
    if (strcmp(buf_cstr(&b), want) != 0)
        fail_msg("canonical_query(\"%s\") = \"%s\", want \"%s\"", in ? in : "(null)", buf_cstr(&b),
                 want);
    buf_cleanup(&b);
}

static void
test_canonical_query(void **state)
{
    struct buf b;

    (void)state;
    check_query(NULL, "");
    check_query("", "");
    check_query("b=2&a=1", "a=1&b=2");
    check_query("a=2&a=1&a=10", "a=1&a=10&a=2");
    /* By name first: "a" sorts before "a-" although '=' sorts after '-'. */
    check_query("a-=1&a=2", "a=2&a-=1");
    check_query("k", "k=");
    check_query("k=", "k=");
    check_query("=v", "=v");
    check_query("a=1&&b=2&", "a=1&b=2");
    check_query("a=b=c", "a=b%3Dc");
    check_query("%41=%7e", "A=~");
    check_query("a=%2f&b=%2F", "a=%2F&b=%2F");
    check_query("sp=a b&plus=a+b", "plus=a%2Bb&sp=a%20b");
    check_query("pct=100%&bad=%zz&short=%4", "bad=%25zz&pct=100%25&short=%254");
    check_query("\xe1\x88\xb4=bar", "%E1%88%B4=bar");
    check_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
                "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
    check_query("B=1&a=1", "B=1&a=1");

    buf_init(&b, 4096);
    assert_int_equal(sigv4_canonical_query("a#b", &b), AGENT_ERR_INVAL);
    assert_int_equal(sigv4_canonical_query("a=\nb", &b), AGENT_ERR_INVAL);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

/* ---- whole requests ----------------------------------------------------- */

static const struct sigv4_header base_headers[] = {
    {"Host", "example.amazonaws.com"},
};

static void
base_request(struct sigv4_request *req, struct sigv4_params *p)
{
    memset(req, 0, sizeof(*req));
    memset(p, 0, sizeof(*p));
    req->method = "GET";
    req->path = "/";
    req->headers = base_headers;
    req->n_headers = 1;
    p->access_key_id = "AKIDEXAMPLE";
    p->secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    p->region = "us-east-1";
    p->service = "service";
    p->now = 1440938160; /* 2015-08-30T12:36:00Z */
    p->normalize_path = 1;
    p->expires_s = 3600;
}

static void
test_signing_key(void **state)
{
    struct sigv4_request req;
    struct sigv4_params p;
    unsigned char key[SIGV4_KEY_LEN];
    char hex[2 * SIGV4_KEY_LEN + 1];

    (void)state;
    base_request(&req, &p);
    assert_int_equal(sigv4_signing_key(&p, key), AGENT_OK);
    assert_int_equal(str_hex(key, sizeof(key), hex, sizeof(hex)), AGENT_OK);
    assert_string_equal(hex, "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75");
    str_wipe(key, sizeof(key));
    /* A different day gives a different key. */
    p.now += 86400;
    assert_int_equal(sigv4_signing_key(&p, key), AGENT_OK);
    assert_int_equal(str_hex(key, sizeof(key), hex, sizeof(hex)), AGENT_OK);
    assert_string_not_equal(hex,
                            "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75");
    p.region = NULL;
    assert_int_equal(sigv4_signing_key(&p, key), AGENT_ERR_INVAL);
}

static void
test_amz_date(void **state)
{
    char d[SIGV4_AMZ_DATE_LEN + 1];

    (void)state;
    assert_int_equal(sigv4_amz_date(0, d), AGENT_OK);
    assert_string_equal(d, "19700101T000000Z");
    assert_int_equal(sigv4_amz_date(1440938160, d), AGENT_OK);
    assert_string_equal(d, "20150830T123600Z");
    assert_int_equal(sigv4_amz_date((time_t)253402300799LL, d), AGENT_OK);
    assert_string_equal(d, "99991231T235959Z");
    assert_int_equal(sigv4_amz_date((time_t)253402300800LL, d), AGENT_ERR_INVAL);
    assert_int_equal(sigv4_amz_date(-1, d), AGENT_ERR_INVAL);
}

/* The S3 API reference's GET Object example (sig-v4-header-based-auth). */
static void
test_s3_doc_example(void **state)
{
    static const struct sigv4_header h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
    };
    struct sigv4_request req;
    struct sigv4_params p;
    struct sigv4_signed s;

    (void)state;
    base_request(&req, &p);
    req.path = "/test.txt";
    req.headers = h;
    req.n_headers = 2;
    p.access_key_id = "AKIAIOSFODNN7EXAMPLE";
    p.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    p.service = "s3";
    p.now = 1369353600; /* 2013-05-24T00:00:00Z */
    p.normalize_path = 0;
    p.sign_body_header = 1;
    assert_int_equal(sigv4_sign_headers(&req, &p, &s), AGENT_OK);
    assert_int_equal(s.n_headers, 3);
    assert_string_equal(s.headers[0].name, "X-Amz-Date");
    assert_string_equal(s.headers[0].value, "20130524T000000Z");
    assert_string_equal(s.headers[1].name, "X-Amz-Content-Sha256");
    assert_string_equal(s.headers[1].value,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(s.headers[2].name, "Authorization");
    assert_string_equal(
        s.headers[2].value,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
        "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    sigv4_signed_cleanup(&s);
}

static void
test_header_canonicalisation(void **state)
{
    static const struct sigv4_header h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Mixed-Case", "  a \t b   c  "},
        {"User-Agent", "curl/7.88"},
        {"x-mixed-case", "d"},
        {"Content-Type", "application/x-amz-json-1.1"},
        {"Empty", ""},
        {"Only-Blanks", " \t "},
        {"Connection", "close"},
        {"X-Amzn-Trace-Id", "Root=1"},
        {"EXPECT", "100-continue"},
    };
    struct sigv4_request req;
    struct sigv4_params p;
    struct buf b;

    (void)state;
    base_request(&req, &p);
    req.headers = h;
    req.n_headers = sizeof(h) / sizeof(h[0]);
    req.method = "POST";
    req.body = "{}";
    req.body_len = 2;
    buf_init(&b, 4096);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b),
                        "POST\n/\n\n"
                        "content-type:application/x-amz-json-1.1\n"
                        "empty:\n"
                        "host:example.amazonaws.com\n"
                        "only-blanks:\n"
                        "x-amz-date:20150830T123600Z\n"
                        "x-mixed-case:a b c,d\n"
                        "\n"
                        "content-type;empty;host;only-blanks;x-amz-date;x-mixed-case\n"
                        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    buf_cleanup(&b);
}

static void
test_token_and_payload_options(void **state)
{
    struct sigv4_request req;
    struct sigv4_params p;
    struct sigv4_signed s;
    struct buf b;

    (void)state;
    base_request(&req, &p);
    p.session_token = "TOKEN/+=";
    req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    p.sign_body_header = 1;
    assert_int_equal(sigv4_sign_headers(&req, &p, &s), AGENT_OK);
    assert_int_equal(s.n_headers, 4);
    assert_string_equal(s.headers[1].name, "X-Amz-Security-Token");
    assert_string_equal(s.headers[1].value, "TOKEN/+=");
    assert_string_equal(s.headers[2].value, "UNSIGNED-PAYLOAD");
    assert_non_null(strstr(s.headers[3].value, "SignedHeaders=host;x-amz-content-sha256;"
                                               "x-amz-date;x-amz-security-token, "));
    sigv4_signed_cleanup(&s);

    /* omit_session_token: still sent, not signed. */
    p.omit_session_token = 1;
    assert_int_equal(sigv4_sign_headers(&req, &p, &s), AGENT_OK);
    assert_int_equal(s.n_headers, 4);
    assert_string_equal(s.headers[1].name, "X-Amz-Security-Token");
    assert_non_null(strstr(s.headers[3].value, "SignedHeaders=host;x-amz-content-sha256;"
                                               "x-amz-date, "));
    sigv4_signed_cleanup(&s);
    sigv4_signed_cleanup(NULL);

    /* Presigning: the token goes in the query, encoded; the payload line is as given. */
    p.omit_session_token = 0;
    buf_init_secret(&b, 4096);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_QUERY, &b), AGENT_OK);
    assert_non_null(strstr(buf_cstr(&b), "&X-Amz-Security-Token=TOKEN%2F%2B%3D&"));
    assert_true(str_has_suffix(buf_cstr(&b), "\nhost\nUNSIGNED-PAYLOAD"));
    buf_cleanup(&b);
}

static void
expect_inval(const struct sigv4_request *req, const struct sigv4_params *p)
{
    struct sigv4_signed s;
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(buf_puts(&b, "keep"), AGENT_OK);
    assert_int_equal(sigv4_canonical_request(req, p, SIGV4_MODE_HEADER, &b), AGENT_ERR_INVAL);
    assert_int_equal(sigv4_presign_query(req, p, &b), AGENT_ERR_INVAL);
    assert_string_equal(buf_cstr(&b), "keep");
    memset(&s, 0x5a, sizeof(s));
    assert_int_equal(sigv4_sign_headers(req, p, &s), AGENT_ERR_INVAL);
    assert_int_equal(s.n_headers, 0);
    assert_null(s.headers[0].value);
    buf_cleanup(&b);
}

static void
test_bad_inputs(void **state)
{
    static const struct sigv4_header no_host[] = {{"X-A", "1"}};
    static const struct sigv4_header bad_name[] = {{"Host", "h"}, {"X A", "1"}};
    static const struct sigv4_header crlf[] = {{"Host", "h"}, {"X-A", "1\r\nX-B: 2"}};
    static const struct sigv4_header utf8[] = {{"Host", "h"}, {"X-A", "caf\xc3\xa9"}};
    static const struct sigv4_header auth[] = {{"Host", "h"}, {"authorization", "x"}};
    static const struct sigv4_header date[] = {{"Host", "h"}, {"X-Amz-Date", "x"}};
    static const struct sigv4_header sha[] = {{"Host", "h"}, {"X-Amz-Content-SHA256", "x"}};
    static const struct sigv4_header null_value[] = {{"Host", NULL}};
    struct sigv4_request req;
    struct sigv4_params p;
    struct buf b;

    (void)state;
    base_request(&req, &p);
    req.headers = no_host;
    expect_inval(&req, &p);
    req.headers = bad_name;
    req.n_headers = 2;
    expect_inval(&req, &p);
    req.headers = crlf;
    expect_inval(&req, &p);
    req.headers = utf8;
    expect_inval(&req, &p);
    req.headers = auth;
    expect_inval(&req, &p);
    req.headers = date;
    expect_inval(&req, &p);
    req.headers = sha;
    expect_inval(&req, &p);
    req.headers = null_value;
    req.n_headers = 1;
    expect_inval(&req, &p);

    base_request(&req, &p);
    req.method = "get";
    expect_inval(&req, &p);
    req.method = NULL;
    expect_inval(&req, &p);
    base_request(&req, &p);
    req.path = "no-slash";
    expect_inval(&req, &p);
    req.path = "/a\nb";
    expect_inval(&req, &p);
    base_request(&req, &p);
    req.body_len = 3;
    expect_inval(&req, &p);
    base_request(&req, &p);
    req.payload_hash = "not a hash";
    expect_inval(&req, &p);
    req.payload_hash = "";
    expect_inval(&req, &p);

    base_request(&req, &p);
    p.access_key_id = "AKID/EXAMPLE";
    expect_inval(&req, &p);
    p.access_key_id = "";
    expect_inval(&req, &p);
    base_request(&req, &p);
    p.secret_access_key = "";
    expect_inval(&req, &p);
    base_request(&req, &p);
    p.region = "US-EAST-1";
    expect_inval(&req, &p);
    base_request(&req, &p);
    p.service = "a/b";
    expect_inval(&req, &p);
    base_request(&req, &p);
    p.session_token = "has space";
    expect_inval(&req, &p);
    p.session_token = "";
    expect_inval(&req, &p);
    base_request(&req, &p);
    p.now = -1;
    expect_inval(&req, &p);
    expect_inval(&req, NULL);
    expect_inval(NULL, &p);

    /* Presigning only: the expiry range, and X-Amz-* names already in the query. */
    base_request(&req, &p);
    buf_init(&b, 4096);
    p.expires_s = 0;
    assert_int_equal(sigv4_presign_query(&req, &p, &b), AGENT_ERR_INVAL);
    p.expires_s = SIGV4_MAX_EXPIRES_S + 1;
    assert_int_equal(sigv4_presign_query(&req, &p, &b), AGENT_ERR_INVAL);
    p.expires_s = SIGV4_MAX_EXPIRES_S;
    assert_int_equal(sigv4_presign_query(&req, &p, &b), AGENT_OK);
    buf_reset(&b);
    req.query = "a=1&X-Amz-Date=20150830T123600Z";
    assert_int_equal(sigv4_presign_query(&req, &p, &b), AGENT_ERR_INVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_OK);
    buf_cleanup(&b);
}

static void
test_caps(void **state)
{
    struct sigv4_header *many;
    struct sigv4_request req;
    struct sigv4_params p;
    struct buf b;
    char *big;
    size_t i;

    (void)state;
    base_request(&req, &p);
    /* The caller's buffer max: TOOBIG and the buffer untouched. */
    buf_init(&b, 100);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);

    many = calloc(SIGV4_MAX_HEADERS + 1, sizeof(*many));
    assert_non_null(many);
    for (i = 0; i <= SIGV4_MAX_HEADERS; i++) {
        many[i].name = "Host";
        many[i].value = "h";
    }
    req.headers = many;
    req.n_headers = SIGV4_MAX_HEADERS + 1;
    buf_init(&b, SIGV4_MAX_CANONICAL);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_ERR_TOOBIG);
    req.n_headers = SIGV4_MAX_HEADERS;
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_OK);
    buf_cleanup(&b);
    free(many);

    /* A path whose encoding passes the internal cap. */
    base_request(&req, &p);
    big = malloc(SIGV4_MAX_CANONICAL / 2 + 2);
    assert_non_null(big);
    big[0] = '/';
    memset(big + 1, ' ', SIGV4_MAX_CANONICAL / 2);
    big[SIGV4_MAX_CANONICAL / 2 + 1] = '\0';
    req.path = big;
    buf_init(&b, 4 * SIGV4_MAX_CANONICAL);
    assert_int_equal(sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &b), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    free(big);
}

/* ---- driver ------------------------------------------------------------- */

static int
is_case_dir(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int
main(void)
{
    static const struct CMUnitTest helpers[] = {
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_normalize_path),
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_amz_date),
        cmocka_unit_test(test_s3_doc_example),
        cmocka_unit_test(test_header_canonicalisation),
        cmocka_unit_test(test_token_and_payload_options),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_caps),
    };
    struct CMUnitTest *vectors;
    struct dirent **names;
    char v4[4096];
    struct stat st;
    int n, i, failed;

    suite_dir = getenv("SIGV4_TEST_SUITE_DIR");
    if (suite_dir == NULL || suite_dir[0] == '\0') {
        fprintf(stderr, "SIGV4_TEST_SUITE_DIR is not set: skipped\n");
        return 77;
    }
    if ((size_t)snprintf(v4, sizeof(v4), "%s/v4", suite_dir) >= sizeof(v4) || stat(v4, &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s is absent: skipped\n", v4);
        return 77;
    }
    n = scandir(v4, &names, is_case_dir, alphasort);
    if (n < MIN_CASES) {
        fprintf(stderr, "%s: %d cases, expected at least %d\n", v4, n, MIN_CASES);
        return 1;
    }
    vectors = calloc((size_t)n, sizeof(*vectors));
    if (vectors == NULL)
        return 1;
    for (i = 0; i < n; i++) {
        vectors[i].name = names[i]->d_name;
        vectors[i].test_func = test_vector;
        vectors[i].initial_state = names[i]->d_name;
    }
    printf("sigv4: %d vector cases in %s\n", n, v4);
    failed = _cmocka_run_group_tests("sigv4_vectors", vectors, (size_t)n, NULL, NULL);
    failed += cmocka_run_group_tests_name("sigv4_helpers", helpers, NULL, NULL);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(vectors);
    return failed == 0 ? 0 : 1;
}
