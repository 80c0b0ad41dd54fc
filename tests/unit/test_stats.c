/*
 * Unit tests of wcs/stats: the page parser (plain lines, HTML, junk, caps),
 * the condition grammar, the check reasons, and wcs_wait_ready() against a
 * small HTTP server thread on 127.0.0.1 (ready after a delay, refused
 * before it listens, never ready, no name=value lines, false conditions,
 * heartbeat, caller's deadline, refused URL, detection latency).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
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

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/http.h"
#include "wcs/stats.h"

static int log_fd = -1;

static int
setup(void **state)
{
    char lp[] = "/tmp/test_stats_log.XXXXXX";

    (void)state;
    log_fd = mkstemp(lp);
    if (log_fd == -1)
        return -1;
    unlink(lp);
    log_init(1, LOG_FMT_TEXT); /* the wait's lines are detail (-v) */
    log_set_fd(log_fd);
    return http_global_init() == AGENT_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    http_global_cleanup();
    log_set_fd(-1);
    close(log_fd);
    return 0;
}

static const char *
logged(void)
{
    static char text[65536];
    ssize_t n = pread(log_fd, text, sizeof(text) - 1, 0);

    assert_true(n >= 0);
    text[n] = '\0';
    assert_int_equal(ftruncate(log_fd, 0), 0);
    assert_true(lseek(log_fd, 0, SEEK_SET) == 0);
    return text;
}

/* Parsing --------------------------------------------------------------- */

/* The entries as "name=value;..." text. */
static void
entries_text(const struct stats *s, char *out, size_t cap)
{
    size_t i, off = 0;

    out[0] = '\0';
    for (i = 0; i < s->n; i++) {
        off += (size_t)snprintf(out + off, cap - off, "%s%s=%s", i ? ";" : "", s->items[i].name,
                                s->items[i].value);
        assert_true(off < cap);
    }
}

static void
test_parse_table(void **state)
{
    static const struct {
        const char *name;
        const char *body;
        size_t len; /* 0: strlen */
        const char *want;
    } t[] = {
        {"plain", "connections=0\nports_media_free=499\n", 0, "connections=0;ports_media_free=499"},
        {"blanks and CRLF", "  a = 1  \r\n\tb\t=\t2\r\n", 0, "a=1;b=2"},
        {"CR only", "a=1\rb=2", 0, "a=1;b=2"},
        {"empty value", "a=\nb= \n", 0, "a=;b="},
        {"value with '=' and spaces", "core_version=5.2.1234-abc x=y\n", 0,
         "core_version=5.2.1234-abc x=y"},
        {"section headers", "-----Connection Stats-----\n[port_stats]\na=1\n=====\n", 0, "a=1"},
        {"names", "bad name=1\n=5\na.b-c_D9=2\nä=3\na/b=4\n", 0, "a.b-c_D9=2"},
        {"HTML page",
         "<html><head><title>Stats</title></head><body>\n"
         "-----Connection Stats-----<br>\nconnections=5<br>ports_media_free=12<br>\n"
         "<p>streams_viewers=3</p></body></html>",
         0, "connections=5;ports_media_free=12;streams_viewers=3"},
        {"inline tags", "a=<b>1</b>\n<span>b</span>=2\n<td>c=3</td>\n", 0, "a=1;b=2;c=3"},
        {"block tag ends a line", "a=1<br/>b=2<div>c=3", 0, "a=1;b=2;c=3"},
        {"tag over lines", "<div\nclass='y=1'>b=2\n", 0, "b=2"},
        {"unclosed tag", "a=1\n<div class=x\nz=9", 0, "a=1"},
        {"duplicates kept in order", "a=1\na=2\n", 0, "a=1;a=2"},
        {"NUL separates", "a=1\0b=2", 7, "a=1;b=2"},
        {"script junk", "<script>var x = 1;</script>\nok=1\n", 0, "ok=1"},
        {"empty", "", 0, ""},
        {"only junk", "<html></html>\n\n  \n-----\n", 0, ""},
    };

    char got[4096];
    struct stats s;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t len = t[i].len != 0 ? t[i].len : strlen(t[i].body);

        assert_int_equal(stats_parse(t[i].body, len, &s), AGENT_OK);
        entries_text(&s, got, sizeof(got));
        if (strcmp(got, t[i].want) != 0)
            fail_msg("%s:\n got  %s\n want %s", t[i].name, got, t[i].want);
        stats_cleanup(&s);
    }
}

static void
test_parse_caps(void **state)
{
    struct buf b;
    struct stats s;
    char name[STATS_NAME_MAX + 2], value[STATS_VALUE_MAX + 2];
    int i;

    (void)state;
    buf_init(&b, 1u << 20);

    /* The longest name and value are kept; one byte more and the line is ignored. */
    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));
    buf_printf(&b, "%.*s=1\n", STATS_NAME_MAX, name);
    buf_printf(&b, "%.*s=1\n", STATS_NAME_MAX + 1, name);
    buf_printf(&b, "a=%.*s\n", STATS_VALUE_MAX, value);
    buf_printf(&b, "b=%.*s\n", STATS_VALUE_MAX + 1, value);
    for (i = 0; i < 5000; i++)
        buf_putc(&b, ' ');
    buf_puts(&b, "c=1\nd=2\n");
    assert_int_equal(stats_parse(b.data, b.len, &s), AGENT_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(strlen(s.items[0].name), STATS_NAME_MAX);
    assert_string_equal(s.items[1].name, "a");
    assert_int_equal(strlen(s.items[1].value), STATS_VALUE_MAX);
    /* The over-long blank line swallowed "c=1" with it. */
    assert_string_equal(s.items[2].name, "d");
    stats_cleanup(&s);

    /* STATS_MAX_ENTRIES fields are fine; one more is refused, not cut. */
    buf_reset(&b);
    for (i = 0; i < STATS_MAX_ENTRIES; i++)
        buf_printf(&b, "f%d=%d\n", i, i);
    assert_int_equal(stats_parse(b.data, b.len, &s), AGENT_OK);
    assert_int_equal(s.n, STATS_MAX_ENTRIES);
    assert_string_equal(stats_get(&s, "f4095"), "4095");
    stats_cleanup(&s);
    buf_puts(&b, "one=more");
    assert_int_equal(stats_parse(b.data, b.len, &s), AGENT_ERR_TOOBIG);
    stats_cleanup(&s);
    buf_cleanup(&b);

    assert_int_equal(stats_parse(NULL, 0, &s), AGENT_OK);
    assert_int_equal(s.n, 0);
    stats_cleanup(&s);
    stats_cleanup(NULL);
}

static void
test_get(void **state)
{
    static const char body[] = "a=1\nb=2\na=3\n";
    struct stats s;

    (void)state;
    assert_int_equal(stats_parse(body, strlen(body), &s), AGENT_OK);
    assert_string_equal(stats_get(&s, "a"), "3");
    assert_string_equal(stats_get(&s, "b"), "2");
    assert_null(stats_get(&s, "c"));
    assert_null(stats_get(&s, NULL));
    assert_null(stats_get(NULL, "a"));
    stats_cleanup(&s);
}

/* Conditions ------------------------------------------------------------ */

static void
test_require_parse(void **state)
{
    static const struct {
        const char *in;
        enum agent_rc rc;
        const char *name;
        enum stats_op op;
        long long v;
    } t[] = {
        {"ports_media_free", AGENT_OK, "ports_media_free", STATS_OP_PRESENT, 0},
        {"ports_media_free>0", AGENT_OK, "ports_media_free", STATS_OP_GT, 0},
        {"a>=5", AGENT_OK, "a", STATS_OP_GE, 5},
        {"a=-3", AGENT_OK, "a", STATS_OP_EQ, -3},
        {"a>-1", AGENT_OK, "a", STATS_OP_GT, -1},
        {"x.y_Z9=10", AGENT_OK, "x.y_Z9", STATS_OP_EQ, 10},
        {"a=9223372036854775807", AGENT_OK, "a", STATS_OP_EQ, 9223372036854775807LL},
        {"a=-9223372036854775808", AGENT_OK, "a", STATS_OP_EQ, -9223372036854775807LL - 1},
        {"a=007", AGENT_OK, "a", STATS_OP_EQ, 7},
        {"", AGENT_ERR_PARSE, NULL, 0, 0},
        {">0", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>=", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a=", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a<5", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a!=1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a==1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>=>1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a> 1", AGENT_ERR_PARSE, NULL, 0, 0},
        {" a>1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>1 ", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a >1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>1x", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>+1", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>-", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a>1.5", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a=99999999999999999999", AGENT_ERR_PARSE, NULL, 0, 0},
        {"a-b>1", AGENT_ERR_PARSE, NULL, 0, 0},
    };
    struct stats_cond c, keep;
    char name[STATS_NAME_MAX + 8], back[STATS_NAME_MAX + 32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        memset(&c, 0x5a, sizeof(c));
        keep = c;
        if (stats_require_parse(t[i].in, &c) != t[i].rc)
            fail_msg("\"%s\": wanted rc %d", t[i].in, t[i].rc);
        if (t[i].rc != AGENT_OK) {
            assert_memory_equal(&c, &keep, sizeof(c));
            continue;
        }
        assert_string_equal(c.name, t[i].name);
        assert_int_equal(c.op, t[i].op);
        assert_true(c.value == t[i].v);
        /* Written back, it parses to the same condition. */
        stats_cond_str(&c, back, sizeof(back));
        assert_int_equal(stats_require_parse(back, &keep), AGENT_OK);
        assert_string_equal(keep.name, c.name);
        assert_int_equal(keep.op, c.op);
        assert_true(keep.value == c.value);
    }
    memset(name, 'n', sizeof(name));
    name[STATS_NAME_MAX] = '\0';
    assert_int_equal(stats_require_parse(name, &c), AGENT_OK);
    name[STATS_NAME_MAX] = 'n';
    name[STATS_NAME_MAX + 1] = '\0';
    assert_int_equal(stats_require_parse(name, &c), AGENT_ERR_PARSE);
    assert_int_equal(stats_require_parse(NULL, &c), AGENT_ERR_PARSE);
}

static void
test_check(void **state)
{
    static const char body[] =
        "ports_media_free=0\ncore_version=5.2\nx=12.5\nweird=abc\n"
        "neg=-4\nnan=nan\nhex=0x10\nexp=1e3\nctl=a\x01"
        "b\nlong=123456789012345678901234567890123456789012345678901234567890"
        "123456789\nempty=\n";

    static const struct {
        const char *conds[3];
        int ok;
        const char *reason;
    } t[] = {
        {{NULL}, 1, ""},
        {{"core_version", NULL}, 1, ""},
        {{"ports_media_free>0", NULL}, 0, "ports_media_free=0, wanted >0"},
        {{"ports_media_free>=0", "ports_media_free=0", NULL}, 1, ""},
        {{"core_version", "core_java_threads", NULL}, 0, "field core_java_threads missing"},
        {{"x>12", NULL}, 1, ""},
        {{"x>=13", NULL}, 0, "x=12.5, wanted >=13"},
        {{"x=12", NULL}, 0, "x=12.5, wanted =12"},
        {{"weird>0", NULL}, 0, "weird=abc, wanted >0 (not a number)"},
        {{"weird", NULL}, 1, ""},
        {{"neg>-5", "neg=-4", NULL}, 1, ""},
        {{"neg>=0", NULL}, 0, "neg=-4, wanted >=0"},
        {{"nan>0", NULL}, 0, "nan=nan, wanted >0 (not a number)"},
        {{"hex=16", NULL}, 0, "hex=0x10, wanted =16 (not a number)"},
        {{"exp=1000", NULL}, 1, ""},
        {{"ctl>0", NULL}, 0, "ctl=a?b, wanted >0 (not a number)"},
        {{"empty=0", NULL}, 0, "empty=, wanted =0 (not a number)"},
        {{"long>0", NULL}, 1, ""},
        {{"core_version", "ports_media_free>0", "x>1"}, 0, "ports_media_free=0, wanted >0"},
    };
    struct stats s;
    struct stats_cond c[3];
    char reason[256];
    size_t i, n;

    (void)state;
    assert_int_equal(stats_parse(body, sizeof(body) - 1, &s), AGENT_OK);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (n = 0; n < 3 && t[i].conds[n] != NULL; n++)
            assert_int_equal(stats_require_parse(t[i].conds[n], &c[n]), AGENT_OK);
        snprintf(reason, sizeof(reason), "junk");
        if (stats_check(&s, c, n, reason, sizeof(reason)) != t[i].ok)
            fail_msg("case %zu: wanted %d (%s)", i, t[i].ok, reason);
        assert_string_equal(reason, t[i].reason);
    }
    /* A long value is cut in the reason. */
    assert_int_equal(stats_require_parse("long=1", &c[0]), AGENT_OK);
    assert_int_equal(stats_check(&s, c, 1, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "...,"));
    assert_true(strlen(reason) < 100);
    /* A small reason buffer is fine. */
    assert_int_equal(stats_check(&s, c, 1, reason, 5), 0);
    assert_int_equal(strlen(reason), 4);
    assert_int_equal(stats_check(&s, c, 1, NULL, 0), 0);
    stats_cleanup(&s);
}

/* wcs_wait_ready -------------------------------------------------------- */

struct srv {
    int lfd;
    int port;
    pthread_t th;
    volatile int stop;
    int64_t t0;             /* when the server "started" (monotonic ms) */
    int64_t listen_after;   /* bound but not listening until then: connection refused */
    int64_t ready_after;    /* 503 before */
    const char *body_ready; /* the page once ready */
    int requests;
    pthread_mutex_t mu;
};

static void
serve_one(struct srv *s, int fd)
{
    char req[4096], resp[8192];
    size_t got = 0;
    ssize_t n;
    struct pollfd p = {fd, POLLIN, 0};
    int ready, len;

    while (got < sizeof(req) - 1 && poll(&p, 1, 1000) > 0) {
        n = read(fd, req + got, sizeof(req) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    ready = clock_mono_ms() - s->t0 >= s->ready_after;
    if (ready)
        len = snprintf(resp, sizeof(resp),
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       strlen(s->body_ready), s->body_ready);
    else
        len = snprintf(resp, sizeof(resp),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 7\r\n"
                       "Connection: close\r\n\r\nstarting");
    pthread_mutex_lock(&s->mu);
    s->requests++;
    pthread_mutex_unlock(&s->mu);
    if (write(fd, resp, (size_t)len) < 0)
        return;
}

static void *
srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd p;
    int fd;

    if (s->listen_after > 0) {
        while (!s->stop && clock_mono_ms() - s->t0 < s->listen_after)
            clock_sleep_ms(5);
        if (listen(s->lfd, 16) != 0)
            return NULL;
    }
    while (!s->stop) {
        p.fd = s->lfd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 20) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(s, fd);
        close(fd);
    }
    return NULL;
}

static void
srv_start(struct srv *s, int64_t listen_after, int64_t ready_after, const char *body)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->listen_after = listen_after;
    s->ready_after = ready_after;
    s->body_ready = body;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    /* Listening before the first poll unless the test wants it refused for a while. */
    if (listen_after == 0)
        assert_int_equal(listen(s->lfd, 16), 0);
    s->t0 = clock_mono_ms();
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void
srv_stop(struct srv *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

static const char *
srv_url(const struct srv *s)
{
    static char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/?action=stat", s->port);
    return url;
}

static const char good_page[] = "-----Connection Stats-----\nconnections=0\n"
                                "ports_media_free=499\ncore_version=5.2.1234\n";

struct hb {
    int calls;
    int stop_after; /* 0: never */
};

static enum agent_rc
heartbeat(void *ctx)
{
    struct hb *h = ctx;

    h->calls++;
    if (h->stop_after > 0 && h->calls >= h->stop_after)
        return AGENT_ERR_AWS;
    return AGENT_OK;
}

static void
cond(struct stats_cond *c, const char *text)
{
    assert_int_equal(stats_require_parse(text, c), AGENT_OK);
}

static void
test_ready_after_delay(void **state)
{
    struct srv s;
    struct hb h = {0, 0};
    struct stats_cond c[2];
    char reason[256];
    int64_t t;

    (void)state;
    cond(&c[0], "ports_media_free>0");
    cond(&c[1], "core_version");
    srv_start(&s, 0, 600, good_page);
    t = clock_mono_ms();
    assert_int_equal(
        wcs_wait_ready(srv_url(&s), c, 2, 100, 5000, NULL, heartbeat, &h, reason, sizeof(reason)),
        AGENT_OK);
    t = clock_mono_ms() - s.t0;
    /* Seen within about one interval of turning ready. */
    assert_true(t >= 600);
    if (t > 600 + 100 + 300)
        fail_msg("ready seen %lld ms after start (ready at 600, interval 100)", (long long)t);
    assert_string_equal(reason, "");
    /* One poll per interval (not more), one heartbeat per poll. */
    assert_true(s.requests >= 5 && s.requests <= 9);
    assert_int_equal(h.calls, s.requests);
    assert_non_null(strstr(logged(), "not ready yet: HTTP 503"));
    srv_stop(&s);
}

static void
test_refused_then_ready(void **state)
{
    struct srv s;
    char reason[256];
    int64_t t;

    (void)state;
    srv_start(&s, 400, 0, good_page);
    assert_int_equal(
        wcs_wait_ready(srv_url(&s), NULL, 0, 50, 5000, NULL, NULL, NULL, reason, sizeof(reason)),
        AGENT_OK);
    t = clock_mono_ms() - s.t0;
    assert_true(t >= 400 && t < 400 + 50 + 300);
    assert_non_null(strstr(logged(), "not ready yet: connection refused"));
    srv_stop(&s);
}

static void
test_never_ready(void **state)
{
    static const struct {
        int64_t ready_after;
        const char *body;
        const char *cond;
        const char *reason;
    } t[] = {
        {1000000, good_page, NULL, "HTTP 503"},
        {0, "<html><body>starting</body></html>", NULL, "no name=value lines"},
        {0, good_page, "ports_media_free>500", "ports_media_free=499, wanted >500"},
        {0, good_page, "streams_viewers", "field streams_viewers missing"},
    };
    struct stats_cond c;
    char reason[256];
    struct srv s;
    int64_t t0, el;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].cond != NULL)
            cond(&c, t[i].cond);
        srv_start(&s, 0, t[i].ready_after, t[i].body);
        t0 = clock_mono_ms();
        assert_int_equal(wcs_wait_ready(srv_url(&s), &c, t[i].cond != NULL, 100, 500, NULL, NULL,
                                        NULL, reason, sizeof(reason)),
                         AGENT_ERR_TIMEOUT);
        el = clock_mono_ms() - t0;
        assert_string_equal(reason, t[i].reason);
        if (el < 450 || el > 500 + 500)
            fail_msg("case %zu: gave up after %lld ms (timeout 500)", i, (long long)el);
        assert_non_null(strstr(logged(), t[i].reason));
        srv_stop(&s);
    }
}

static void
test_closed_port(void **state)
{
    struct srv s;
    char url[64], reason[256];

    (void)state;
    /* A port that was free a moment ago, nothing listening. */
    srv_start(&s, 1000000, 0, good_page);
    snprintf(url, sizeof(url), "%s", srv_url(&s));
    assert_int_equal(
        wcs_wait_ready(url, NULL, 0, 50, 300, NULL, NULL, NULL, reason, sizeof(reason)),
        AGENT_ERR_TIMEOUT);
    assert_string_equal(reason, "connection refused");
    assert_int_equal(s.requests, 0);
    srv_stop(&s);
    logged();
}

static void
test_heartbeat_stops(void **state)
{
    struct srv s;
    struct hb h = {0, 3};
    char reason[256];

    (void)state;
    srv_start(&s, 0, 1000000, good_page);
    assert_int_equal(
        wcs_wait_ready(srv_url(&s), NULL, 0, 20, 5000, NULL, heartbeat, &h, reason, sizeof(reason)),
        AGENT_ERR_AWS);
    assert_int_equal(h.calls, 3);
    assert_int_equal(s.requests, 2);
    srv_stop(&s);
    logged();
}

static void
test_caller_deadline(void **state)
{
    struct srv s;
    struct deadline dl;
    char reason[256];
    int64_t t0, el;

    (void)state;
    srv_start(&s, 0, 1000000, good_page);
    deadline_in(&dl, 300);
    t0 = clock_mono_ms();
    assert_int_equal(
        wcs_wait_ready(srv_url(&s), NULL, 0, 50, 60000, &dl, NULL, NULL, reason, sizeof(reason)),
        AGENT_ERR_TIMEOUT);
    el = clock_mono_ms() - t0;
    assert_true(el >= 250 && el < 300 + 400);
    assert_string_equal(reason, "HTTP 503");
    srv_stop(&s);
    logged();
}

static void
test_bad_arguments(void **state)
{
    char reason[256];
    int64_t t0 = clock_mono_ms();

    (void)state;
    /* Plain http to a host that is not loopback: refused at once, no connection tried. */
    assert_int_equal(wcs_wait_ready("http://192.0.2.1:8081/?action=stat", NULL, 0, 50, 5000, NULL,
                                    NULL, NULL, reason, sizeof(reason)),
                     AGENT_ERR_INVAL);
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_true(reason[0] != '\0');
    assert_int_equal(wcs_wait_ready(NULL, NULL, 0, 50, 5000, NULL, NULL, NULL, reason, 0),
                     AGENT_ERR_INVAL);
    assert_int_equal(wcs_wait_ready("http://127.0.0.1:9/", NULL, 0, 0, 5000, NULL, NULL, NULL,
                                    reason, sizeof(reason)),
                     AGENT_ERR_INVAL);
    assert_int_equal(wcs_wait_ready("http://127.0.0.1:9/", NULL, 1, 50, 5000, NULL, NULL, NULL,
                                    reason, sizeof(reason)),
                     AGENT_ERR_INVAL);
    logged();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_caps),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_require_parse),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_ready_after_delay),
        cmocka_unit_test(test_refused_then_ready),
        cmocka_unit_test(test_never_ready),
        cmocka_unit_test(test_closed_port),
        cmocka_unit_test(test_heartbeat_stops),
        cmocka_unit_test(test_caller_deadline),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
