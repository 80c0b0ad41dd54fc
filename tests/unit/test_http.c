/*
 * http: the protocol/host policy, the transport seam, header lookup, and
 * real libcurl transfers against a tiny loopback server run in a thread.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "net/http.h"

/* ---- the fake transport ---- */

struct fake {
    int calls;
    char method[16];
    char url[256];
    char header0[256];
    unsigned flags;
};

static struct fake fk;

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;

    f->calls++;
    snprintf(f->method, sizeof(f->method), "%s", req->method);
    snprintf(f->url, sizeof(f->url), "%s", req->url);
    f->header0[0] = '\0';
    if (req->headers != NULL && req->headers[0] != NULL)
        snprintf(f->header0, sizeof(f->header0), "%s", req->headers[0]);
    f->flags = req->flags;
    resp->status = 201;
    resp->connected = 1;
    assert_int_equal(buf_puts(&resp->body, "canned"), AGENT_OK);
    assert_int_equal(buf_puts(&resp->headers, "X-Reply: yes\r\n"), AGENT_OK);
    return AGENT_OK;
}

static int
setup_fake(void **state)
{
    struct http_transport t = {fake_perform, &fk};

    (void)state;
    memset(&fk, 0, sizeof(fk));
    http_set_transport(&t);
    return 0;
}

static int
teardown_fake(void **state)
{
    (void)state;
    http_set_transport(NULL);
    return 0;
}

static void
init_req(struct http_request *r, const char *method, const char *url, unsigned flags)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->url = url;
    r->timeout_ms = 2000;
    r->max_response = 1024;
    r->flags = flags;
}

/* ---- policy ---- */

struct policy_case {
    const char *url;
    unsigned flags;
    int allowed;
};

static const struct policy_case policy_cases[] = {
    {"http://example.com/", HTTP_ALLOW_HTTP, 0},
    {"http://example.com/", 0, 0},
    {"http://127.0.0.1:8081/?action=stat", 0, 0},
    {"http://127.0.0.1:8081/?action=stat", HTTP_ALLOW_HTTP, 1},
    {"http://127.5.6.7/", HTTP_ALLOW_HTTP, 1},
    {"http://localhost:99/x", HTTP_ALLOW_HTTP, 1},
    {"http://LOCALHOST/x", HTTP_ALLOW_HTTP, 1},
    {"http://[::1]:8080/", HTTP_ALLOW_HTTP, 1},
    {"http://169.254.169.254/latest/api/token", HTTP_ALLOW_HTTP, 1},
    {"http://[fd00:ec2::254]/latest/api/token", HTTP_ALLOW_HTTP, 1},
    {"http://169.254.169.253/", HTTP_ALLOW_HTTP, 0},
    {"http://128.0.0.1/", HTTP_ALLOW_HTTP, 0},
    {"http://127.0.0.1.nip.io/", HTTP_ALLOW_HTTP, 0},
    {"http://localhost.example.com/", HTTP_ALLOW_HTTP, 0},
    {"http://[fe80::1%25eth0]/", HTTP_ALLOW_HTTP, 0},
    {"http://10.0.0.1/", HTTP_ALLOW_HTTP, 0},
    {"https://example.com/", 0, 1},
    {"https://example.com/", HTTP_ALLOW_HTTP, 1},
    {"HTTPS://elasticloadbalancing.eu-west-1.amazonaws.com/", 0, 1},
    {"ftp://127.0.0.1/", HTTP_ALLOW_HTTP, 0},
    {"file:///etc/passwd", HTTP_ALLOW_HTTP, 0},
    {"gopher://127.0.0.1/", HTTP_ALLOW_HTTP, 0},
    {"127.0.0.1/no-scheme", HTTP_ALLOW_HTTP, 0},
    {"", HTTP_ALLOW_HTTP, 0},
};

static void
test_policy_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
        const struct policy_case *c = &policy_cases[i];
        struct http_request req;
        struct http_response resp;
        enum agent_rc rc;
        int before = fk.calls;

        init_req(&req, "GET", c->url, c->flags);
        http_response_init(&resp, 1024);
        rc = http_perform(&req, &resp);
        if (c->allowed) {
            if (rc != AGENT_OK)
                fail_msg("%s should be allowed: %s", c->url, resp.error);
            assert_int_equal(fk.calls, before + 1);
            assert_int_equal(resp.status, 201);
        } else {
            if (rc != AGENT_ERR_INVAL || resp.fail != HTTP_FAIL_POLICY)
                fail_msg("%s should be refused (rc %d fail %d)", c->url, rc, resp.fail);
            assert_int_equal(fk.calls, before);
            assert_true(resp.error[0] != '\0');
        }
        http_response_cleanup(&resp);
    }
}

static void
test_url_predicates(void **state)
{
    (void)state;
    assert_true(http_url_is_loopback("http://127.0.0.1:9/"));
    assert_true(http_url_is_loopback("https://localhost/"));
    assert_true(http_url_is_loopback("http://[::1]/"));
    assert_true(http_url_is_loopback("http://127.255.0.1/"));
    assert_false(http_url_is_loopback("http://169.254.169.254/"));
    assert_false(http_url_is_loopback("http://example.com/"));
    assert_false(http_url_is_loopback("not a url"));
    assert_false(http_url_is_loopback(NULL));

    assert_true(http_url_plain_http_ok("http://169.254.169.254"));
    assert_true(http_url_plain_http_ok("http://[fd00:ec2::254]"));
    assert_true(http_url_plain_http_ok("http://127.0.0.1:5055/"));
    assert_false(http_url_plain_http_ok("https://127.0.0.1/"));
    assert_false(http_url_plain_http_ok("http://192.168.1.1/"));
}

/* ---- the transport seam ---- */

static void
test_seam_called(void **state)
{
    const char *hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    struct http_request req;
    struct http_response resp;
    char v[16];

    (void)state;
    init_req(&req, "PUT", "http://169.254.169.254/latest/api/token",
             HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    req.headers = hdrs;
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(fk.calls, 1);
    assert_string_equal(fk.method, "PUT");
    assert_string_equal(fk.url, "http://169.254.169.254/latest/api/token");
    assert_string_equal(fk.header0, hdrs[0]);
    assert_int_equal(fk.flags, HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    assert_string_equal(buf_cstr(&resp.body), "canned");
    assert_int_equal(http_response_header(&resp, "x-reply", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "yes");
    assert_true(resp.elapsed_ms >= 0);

    /* A second perform on the same response starts from a clean slate. */
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_string_equal(buf_cstr(&resp.body), "canned");
    assert_int_equal(fk.calls, 2);
    http_response_cleanup(&resp);
}

static void
test_bad_requests(void **state)
{
    const char *inject[] = {"X-A: 1\r\nX-B: 2", NULL};
    const char *noname[] = {"no colon here", NULL};
    struct http_request req;
    struct http_response resp;

    (void)state;
    http_response_init(&resp, 1024);
    init_req(&req, "GET", "https://example.com/", 0);
    req.timeout_ms = 0;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);

    init_req(&req, "GET", "https://example.com/", 0);
    req.max_response = 0;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);

    init_req(&req, "GET", "https://example.com/", 0);
    req.headers = inject;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);

    init_req(&req, "GET", "https://example.com/", 0);
    req.headers = noname;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);

    init_req(&req, "get", "https://example.com/", 0);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);

    init_req(&req, "GET", NULL, 0);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 0);
    http_response_cleanup(&resp);
}

/* ---- header lookup ---- */

static void
test_header_lookup(void **state)
{
    struct http_response resp;
    char v[32], tiny[3];

    (void)state;
    http_response_init(&resp, 16);
    assert_int_equal(http_response_header(&resp, "X-Ttl", v, sizeof(v)), AGENT_ERR_ABSENT);
    assert_int_equal(buf_puts(&resp.headers, "Content-Type: text/plain\r\n"
                                             "X-Ttl-Long: nope\r\n"
                                             "X-Ttl:  21600 \t\r\n"
                                             "x-ttl: second\r\n"
                                             "Empty:\r\n"),
                     AGENT_OK);
    assert_int_equal(http_response_header(&resp, "X-TTL", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "21600");
    assert_int_equal(http_response_header(&resp, "content-type", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "text/plain");
    assert_int_equal(http_response_header(&resp, "Empty", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "");
    assert_int_equal(http_response_header(&resp, "X-T", v, sizeof(v)), AGENT_ERR_ABSENT);
    assert_int_equal(http_response_header(&resp, "Ttl", v, sizeof(v)), AGENT_ERR_ABSENT);
    assert_int_equal(http_response_header(&resp, "X-Ttl", tiny, sizeof(tiny)), AGENT_ERR_TOOBIG);
    http_response_cleanup(&resp);
}

static void
test_fail_str(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < HTTP_FAIL__MAX; i++)
        assert_non_null(http_fail_str((enum http_fail)i));
    assert_string_equal(http_fail_str(HTTP_FAIL_REFUSED), "connection refused");
    assert_string_equal(http_fail_str(HTTP_FAIL__MAX), "unknown failure");
    assert_non_null(strstr(http_library_version(), "libcurl"));
}

/* ---- a loopback server in a thread ---- */

#define MAX_CONN 4
#define MAX_REQ  8

struct server {
    int lfd;
    int port;
    int wake[2];                  /* written by the test to end a silent connection */
    const char *replies[MAX_REQ]; /* by request; NULL: read, never answer */
    size_t reply_len[MAX_REQ];
    int nconn;
    int per_conn;            /* requests answered on one connection (0: 1) */
    int accepted;            /* connections accepted */
    char req[MAX_REQ][4096]; /* what each request sent (head only) */
    pthread_t th;
};

static void
read_head(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;

    while (n + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};

        if (poll(&p, 1, 5000) <= 0)
            break;
        r = recv(fd, out + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        if (strstr(out, "\r\n\r\n") != NULL)
            break;
    }
    out[n] = '\0';
}

static void *
server_main(void *arg)
{
    struct server *s = arg;
    int i, k = 0, j, per = s->per_conn > 0 ? s->per_conn : 1;

    for (i = 0; i < s->nconn; i++) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        int fd;

        if (poll(&p, 1, 5000) <= 0)
            break;
        fd = accept(s->lfd, NULL, NULL);
        if (fd == -1)
            break;
        s->accepted++;
        for (j = 0; j < per && k < MAX_REQ; j++, k++) {
            read_head(fd, s->req[k], sizeof(s->req[k]));
            if (s->req[k][0] == '\0')
                break; /* the client closed the connection */
            if (s->replies[k] != NULL) {
                size_t off = 0, len = s->reply_len[k] ? s->reply_len[k] : strlen(s->replies[k]);

                while (off < len) {
                    ssize_t w = send(fd, s->replies[k] + off, len - off, MSG_NOSIGNAL);
                    if (w <= 0)
                        break;
                    off += (size_t)w;
                }
            } else {
                struct pollfd q = {s->wake[0], POLLIN, 0};

                poll(&q, 1, 10000);
            }
        }
        close(fd);
    }
    return NULL;
}

static void
server_listen(struct server *s, int nconn)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    s->nconn = nconn;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->wake), 0);
}

/* The replies are set before the thread starts, so it sees them. */
static void
server_run(struct server *s)
{
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void
server_start(struct server *s, int nconn)
{
    server_listen(s, nconn);
    server_run(s);
}

static void
server_stop(struct server *s)
{
    assert_int_equal(write(s->wake[1], "x", 1), 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
}

static void
url_for(char *out, size_t cap, const struct server *s, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", s->port, path);
}

static void
test_real_ok(void **state)
{
    const char *hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128], v[32];

    (void)state;
    memset(&s, 0, sizeof(s));
    s.replies[0] = "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nX-Test: value\r\nContent-Length: 5\r\n\r\nhello";
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/latest/api/token");
    init_req(&req, "PUT", url, HTTP_ALLOW_HTTP | HTTP_NO_PROXY | HTTP_SECRET_HEADERS);
    req.headers = hdrs;
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    server_stop(&s);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.fail, HTTP_FAIL_NONE);
    assert_int_equal(resp.connected, 1);
    assert_string_equal(buf_cstr(&resp.body), "hello");
    assert_int_equal(http_response_header(&resp, "X-Test", v, sizeof(v)), AGENT_OK);
    assert_string_equal(v, "value");
    /* Only the final response's header block is kept. */
    assert_int_equal(http_response_header(&resp, "X-Early", v, sizeof(v)), AGENT_ERR_ABSENT);
    assert_null(strstr(buf_cstr(&resp.headers), "HTTP/1.1"));
    /* What went on the wire. */
    assert_non_null(strstr(s.req[0], "PUT /latest/api/token HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[0], "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"));
    assert_non_null(strstr(s.req[0], "Content-Length: 0\r\n"));
    assert_null(strstr(s.req[0], "Expect:"));
    assert_null(strstr(s.req[0], "Content-Type:"));
    http_response_cleanup(&resp);
}

static void
test_real_toobig_content_length(void **state)
{
    static char big[4096 + 100];
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];
    int n;

    (void)state;
    memset(&s, 0, sizeof(s));
    n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n");
    memset(big + n, 'a', 4000);
    s.replies[0] = big;
    s.reply_len[0] = (size_t)n + 4000;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/big");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP);
    req.max_response = 1000;
    http_response_init(&resp, 1000);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_TOOBIG);
    assert_int_equal(resp.fail, HTTP_FAIL_TOOBIG);
    assert_true(resp.body.len <= 1000);
    server_stop(&s);
    http_response_cleanup(&resp);
}

/* Without a Content-Length only the write callback can enforce the cap. */
static void
test_real_toobig_streamed(void **state)
{
    static char big[8192];
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];
    int n;

    (void)state;
    memset(&s, 0, sizeof(s));
    n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    memset(big + n, 'b', 6000);
    s.replies[0] = big;
    s.reply_len[0] = (size_t)n + 6000;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/stream");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP);
    req.max_response = 5999;
    http_response_init(&resp, 1 << 20);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_TOOBIG);
    assert_int_equal(resp.fail, HTTP_FAIL_TOOBIG);
    assert_true(resp.body.len <= 5999);
    server_stop(&s);

    /* Exactly at the cap is fine. */
    memset(&s, 0, sizeof(s));
    s.replies[0] = big;
    s.reply_len[0] = (size_t)n + 6000;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/stream");
    req.url = url;
    req.max_response = 6000;
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(resp.body.len, 6000);
    server_stop(&s);
    http_response_cleanup(&resp);
}

static void
test_real_header_cap(void **state)
{
    static char big[HTTP_MAX_HEADERS + 8192];
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];
    size_t n;
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
    for (i = 0; n + 1100 < sizeof(big) - 64; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Pad-%d: ", i);
        memset(big + n, 'p', 1000);
        n += 1000;
        memcpy(big + n, "\r\n", 2);
        n += 2;
    }
    n += (size_t)snprintf(big + n, sizeof(big) - n, "Content-Length: 0\r\n\r\n");
    s.replies[0] = big;
    s.reply_len[0] = n;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/headers");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP);
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_TOOBIG);
    assert_int_equal(resp.fail, HTTP_FAIL_TOOBIG);
    assert_true(resp.headers.len <= HTTP_MAX_HEADERS);
    server_stop(&s);
    http_response_cleanup(&resp);
}

struct sink_state {
    size_t got;
    int stop_with;
};

static int
sink_fn(void *ctx, const void *data, size_t len)
{
    struct sink_state *ss = ctx;

    (void)data;
    ss->got += len;
    return ss->stop_with;
}

static void
test_real_sink(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    struct sink_state ss = {0, 0};
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];

    (void)state;
    memset(&s, 0, sizeof(s));
    s.replies[0] = reply;
    s.replies[1] = reply;
    server_start(&s, 2);
    url_for(url, sizeof(url), &s, "/dl");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP);
    req.max_response = 0;
    req.sink = sink_fn;
    req.sink_ctx = &ss;
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(ss.got, 10);
    assert_int_equal(resp.body.len, 0);

    ss.got = 0;
    ss.stop_with = AGENT_ERR_PARSE;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_PARSE);
    assert_int_equal(resp.fail, HTTP_FAIL_ABORTED);
    server_stop(&s);
    http_response_cleanup(&resp);
}

static void
test_real_redirects(void **state)
{
    char loc[256], second[300];
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];

    (void)state;
    memset(&s, 0, sizeof(s));
    server_listen(&s, 3);
    snprintf(loc, sizeof(loc),
             "HTTP/1.1 302 Found\r\nLocation: http://localhost:%d/second\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             s.port);
    snprintf(second, sizeof(second),
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    s.replies[0] = loc;
    s.replies[1] = loc;
    s.replies[2] = second;
    server_run(&s);

    /* Not followed without the flag. */
    url_for(url, sizeof(url), &s, "/first");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP);
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(resp.status, 302);

    /* Followed with it, to loopback. */
    req.flags |= HTTP_FOLLOW_REDIRECTS;
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(buf_cstr(&resp.body), "ok");
    server_stop(&s);

    /* A redirect to another protocol is refused by the allow-list. */
    memset(&s, 0, sizeof(s));
    s.replies[0] = "HTTP/1.1 301 Moved\r\nLocation: ftp://127.0.0.1/x\r\nContent-Length: 0\r\n\r\n";
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/first");
    req.url = url;
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);
    assert_int_equal(resp.fail, HTTP_FAIL_POLICY);
    server_stop(&s);
    http_response_cleanup(&resp);
}

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

static void
test_real_refused(void **state)
{
    struct http_request req;
    struct http_response resp;
    char url[128];

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/latest/api/token", closed_port());
    init_req(&req, "PUT", url, HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_NET);
    assert_int_equal(resp.fail, HTTP_FAIL_REFUSED);
    assert_int_equal(resp.status, 0);
    assert_int_equal(resp.connected, 0);
    assert_non_null(strstr(resp.error, "connection refused"));
    http_response_cleanup(&resp);
}

static void
test_real_timeout_after_connect(void **state)
{
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];

    (void)state;
    memset(&s, 0, sizeof(s));
    s.replies[0] = NULL;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/latest/api/token");
    init_req(&req, "PUT", url, HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    req.timeout_ms = 300;
    http_response_init(&resp, 1024);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_TIMEOUT);
    assert_int_equal(resp.fail, HTTP_FAIL_TIMEOUT);
    assert_int_equal(resp.connected, 1);
    assert_true(resp.elapsed_ms >= 250);
    assert_true(resp.elapsed_ms < 5000);
    server_stop(&s);
    http_response_cleanup(&resp);
}

/* The trace log names method, URL (without the query) and status, never header values. */
static void
test_trace_redacts(void **state)
{
    const char *hdrs[] = {"X-aws-ec2-metadata-token: SECRETTOKEN123", NULL};
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[160], logbuf[4096];
    FILE *tf = tmpfile();
    size_t n;

    (void)state;
    assert_non_null(tf);
    memset(&s, 0, sizeof(s));
    s.replies[0] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/path?X-Amz-Signature=QUERYSECRET");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP | HTTP_SECRET_HEADERS);
    req.headers = hdrs;
    http_response_init(&resp, 1024);
    log_init(3, LOG_FMT_TEXT);
    log_set_fd(fileno(tf));
    assert_int_equal(http_perform(&req, &resp), AGENT_OK);
    log_set_fd(-1);
    log_init(0, LOG_FMT_TEXT);
    server_stop(&s);
    assert_non_null(strstr(s.req[0], "X-aws-ec2-metadata-token: SECRETTOKEN123\r\n"));
    rewind(tf);
    n = fread(logbuf, 1, sizeof(logbuf) - 1, tf);
    logbuf[n] = '\0';
    fclose(tf);
    assert_non_null(strstr(logbuf, "http: GET http://127.0.0.1:"));
    assert_non_null(strstr(logbuf, "HTTP 200"));
    assert_null(strstr(logbuf, "SECRETTOKEN123"));
    assert_null(strstr(logbuf, "QUERYSECRET"));
    http_response_cleanup(&resp);
}

/* Consecutive requests to one host share one kept-alive connection. */
static void
test_real_keepalive_reuse(void **state)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct http_stats before, after;
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    for (i = 0; i < 3; i++)
        s.replies[i] = ok;
    s.per_conn = 3;
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/a");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    http_response_init(&resp, 1024);
    http_get_stats(&before);
    for (i = 0; i < 3; i++) {
        assert_int_equal(http_perform(&req, &resp), AGENT_OK);
        assert_string_equal(buf_cstr(&resp.body), "ok");
    }
    http_get_stats(&after);
    server_stop(&s);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(after.requests - before.requests, 3);
    assert_int_equal(after.connections - before.connections, 1);
    assert_int_equal(after.reused - before.reused, 2);
    assert_true(after.trust_loads <= 1);
    http_response_cleanup(&resp);
}

/* A server that closes a kept-alive connection: the next request reconnects. */
static void
test_real_server_closes(void **state)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    for (i = 0; i < 3; i++)
        s.replies[i] = ok;
    s.per_conn = 1; /* closes after each reply, without saying so */
    server_start(&s, 3);
    url_for(url, sizeof(url), &s, "/b");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP | HTTP_NO_PROXY);
    http_response_init(&resp, 1024);
    for (i = 0; i < 3; i++) {
        assert_int_equal(http_perform(&req, &resp), AGENT_OK);
        assert_int_equal(resp.status, 200);
        assert_string_equal(buf_cstr(&resp.body), "ok");
    }
    server_stop(&s);
    assert_int_equal(s.accepted, 3);
    http_response_cleanup(&resp);
}

/*
 * A loopback plain-http request redirected to another host over plain http
 * is refused before any socket is opened to it (192.0.2.1, TEST-NET-1: a
 * connection attempt would hang until the connect timeout).
 */
static void
test_real_redirect_off_loopback_refused_before_connect(void **state)
{
    struct http_stats before, after;
    struct server s;
    struct http_request req;
    struct http_response resp;
    char url[128];

    (void)state;
    memset(&s, 0, sizeof(s));
    s.replies[0] = "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1:9/x\r\n"
                   "Content-Length: 0\r\n\r\n";
    server_start(&s, 1);
    url_for(url, sizeof(url), &s, "/r");
    init_req(&req, "GET", url, HTTP_ALLOW_HTTP | HTTP_FOLLOW_REDIRECTS);
    req.timeout_ms = 20000;
    http_response_init(&resp, 1024);
    http_get_stats(&before);
    assert_int_equal(http_perform(&req, &resp), AGENT_ERR_INVAL);
    http_get_stats(&after);
    assert_int_equal(resp.fail, HTTP_FAIL_POLICY);
    assert_true(resp.elapsed_ms < 5000);
    /* The loopback connection only. */
    assert_int_equal(after.connections - before.connections, 1);
    server_stop(&s);
    http_response_cleanup(&resp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_table, setup_fake, teardown_fake),
        cmocka_unit_test(test_url_predicates),
        cmocka_unit_test_setup_teardown(test_seam_called, setup_fake, teardown_fake),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup_fake, teardown_fake),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_fail_str),
        cmocka_unit_test(test_real_ok),
        cmocka_unit_test(test_real_toobig_content_length),
        cmocka_unit_test(test_real_toobig_streamed),
        cmocka_unit_test(test_real_header_cap),
        cmocka_unit_test(test_real_sink),
        cmocka_unit_test(test_real_redirects),
        cmocka_unit_test(test_real_refused),
        cmocka_unit_test(test_real_timeout_after_connect),
        cmocka_unit_test(test_trace_redacts),
        cmocka_unit_test(test_real_keepalive_reuse),
        cmocka_unit_test(test_real_server_closes),
        cmocka_unit_test(test_real_redirect_off_loopback_refused_before_connect),
    };
    int rc;

    if (http_global_init() != AGENT_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_global_cleanup();
    return rc;
}
