/*
 * Tests of wcs/update: the real libcurl and GNU tar against a loopback HTTP
 * server running in a thread of this test (ETag / Last-Modified, 304,
 * Range / If-Range / 206 / 416, redirects, cut connections, slow bodies),
 * with fake WCS tarballs built by tar from a staging folder and a fake
 * install.sh that writes conf/WCS.version into a fake WCS home.  The
 * table of tar listings is in test_tarball.c.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "core/fileio.h"
#include "core/log.h"
#include "core/rc.h"
#include "core/spawn.h"
#include "core/str.h"
#include "net/http.h"
#include "wcs/tarball.h"
#include "wcs/update.h"

#define ETAG    "\"wcs-v1\""
#define LASTMOD "Wed, 21 Oct 2026 07:28:00 GMT"
#define MAXREQ  16

/* ------------------------------------------------------------ the server */

struct server {
    int lfd, port, wake[2];
    pthread_t th;
    pthread_mutex_t mu;
    /* what it serves at /wcs.tar.gz (set before requests are made) */
    const unsigned char *body;
    size_t len;
    int status_override; /* e.g. 503: every request gets it */
    size_t cut_after;    /* > 0: close after this many body bytes ... */
    int cut_count;       /* ... for this many responses (-1: all) */
    int slow_ms;         /* > 0: 16 KiB pieces this far apart */
    int chunked;         /* 1: a 200 goes chunked, without Content-Length */
    int inm_any_304;     /* 1: any If-None-Match gets a 304, as a careless server does */
    /* what it saw */
    int nreq;
    char req[MAXREQ][2048];
    int status[MAXREQ];
};

static struct server srv;

static void
send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    ssize_t w;

    while (n > 0) {
        w = send(fd, c, n, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

/* The value of header name in the request (copied into out), or NULL. */
static const char *
req_header(const char *req, const char *name, char *out, size_t cap)
{
    const char *p = req;
    size_t n = strlen(name);

    for (;;) {
        p = strstr(p, "\r\n");
        if (p == NULL)
            break;
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e;

            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            if (e == NULL)
                return NULL;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return out;
        }
    }
    return NULL;
}

static void
serve_one(struct server *s, int fd)
{
    char req[2048], hdr[512], v[256], path[256];
    size_t got = 0, from = 0, n;
    ssize_t r;
    int status = 200, idx;
    const char *inm, *ims, *range, *ifr;

    memset(req, 0, sizeof(req));
    while (got < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
        r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
    }
    if (sscanf(req, "GET %255s ", path) != 1)
        return;
    path[strcspn(path, "?")] = '\0';
    pthread_mutex_lock(&s->mu);
    idx = s->nreq < MAXREQ ? s->nreq++ : MAXREQ - 1;
    memcpy(s->req[idx], req, sizeof(req));
    pthread_mutex_unlock(&s->mu);

    if (strcmp(path, "/redirect") == 0) {
        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 302 Found\r\nLocation: /wcs.tar.gz\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n");
        s->status[idx] = 302;
        send_all(fd, hdr, n);
        return;
    }
    n = strlen(path);
    /* Any path ending in /wcs.tar.gz serves the file (a second URL for the same server). */
    if (n < 11 || strcmp(path + n - 11, "/wcs.tar.gz") != 0 || s->status_override != 0) {
        status = s->status_override != 0 ? s->status_override : 404;
        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 %d Nope\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                             "not here\n",
                             status);
        s->status[idx] = status;
        send_all(fd, hdr, n);
        return;
    }
    inm = req_header(req, "If-None-Match", v, sizeof(v));
    if (inm != NULL && (strcmp(inm, ETAG) == 0 || s->inm_any_304))
        status = 304;
    ims = inm == NULL ? req_header(req, "If-Modified-Since", v, sizeof(v)) : NULL;
    if (ims != NULL && strcmp(ims, LASTMOD) == 0)
        status = 304;
    if (status == 304) {
        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nConnection: close\r\n\r\n",
                             ETAG);
        s->status[idx] = 304;
        send_all(fd, hdr, n);
        return;
    }
    {
        char rv[64], iv[256];

        range = req_header(req, "Range", rv, sizeof(rv));
        ifr = req_header(req, "If-Range", iv, sizeof(iv));
        if (range != NULL && (ifr == NULL || strcmp(ifr, ETAG) == 0 || strcmp(ifr, LASTMOD) == 0)) {
            unsigned long long a;

            assert_int_equal(sscanf(range, "bytes=%llu-", &a), 1);
            if (a >= s->len) {
                n = (size_t)snprintf(hdr, sizeof(hdr),
                                     "HTTP/1.1 416 Range Not Satisfiable\r\n"
                                     "Content-Range: bytes */%zu\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n",
                                     s->len);
                s->status[idx] = 416;
                send_all(fd, hdr, n);
                return;
            }
            from = (size_t)a;
            status = 206;
        }
    }
    if (status == 206)
        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
                             "Content-Range: bytes %zu-%zu/%zu\r\nETag: %s\r\n"
                             "Last-Modified: %s\r\nConnection: close\r\n\r\n",
                             s->len - from, from, s->len - 1, s->len, ETAG, LASTMOD);
    else
        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nETag: %s\r\n"
                             "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n"
                             "Connection: close\r\n\r\n",
                             s->len, ETAG, LASTMOD);
    if (status == 200 && s->chunked) {
        size_t off = 0, piece;

        n = (size_t)snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: %s\r\n"
                             "Connection: close\r\n\r\n",
                             ETAG);
        s->status[idx] = status;
        send_all(fd, hdr, n);
        while (off < s->len) {
            piece = s->len - off < 16384 ? s->len - off : 16384;
            n = (size_t)snprintf(hdr, sizeof(hdr), "%zx\r\n", piece);
            send_all(fd, hdr, n);
            send_all(fd, s->body + off, piece);
            send_all(fd, "\r\n", 2);
            off += piece;
        }
        send_all(fd, "0\r\n\r\n", 5);
        return;
    }
    s->status[idx] = status;
    send_all(fd, hdr, n);
    {
        size_t todo = s->len - from;

        if (s->cut_after > 0 && s->cut_count != 0 && todo > s->cut_after) {
            todo = s->cut_after;
            if (s->cut_count > 0)
                s->cut_count--;
        }
        if (s->slow_ms > 0) {
            size_t off = 0, piece;

            while (off < todo) {
                piece = todo - off < 16384 ? todo - off : 16384;
                send_all(fd, s->body + from + off, piece);
                off += piece;
                clock_sleep_ms(s->slow_ms);
            }
        } else {
            send_all(fd, s->body + from, todo);
        }
    }
}

static void *
server_main(void *arg)
{
    struct server *s = arg;
    struct pollfd p[2];
    int fd;

    for (;;) {
        p[0].fd = s->lfd;
        p[0].events = POLLIN;
        p[1].fd = s->wake[0];
        p[1].events = POLLIN;
        if (poll(p, 2, -1) <= 0)
            continue;
        if (p[1].revents != 0)
            break;
        fd = accept(s->lfd, NULL, NULL);
        if (fd == -1)
            continue;
        serve_one(s, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static void
server_start(struct server *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->wake), 0);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
    assert_int_equal(write(s->wake[1], "x", 1), 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
}

static int
nreq(void)
{
    int n;

    pthread_mutex_lock(&srv.mu);
    n = srv.nreq;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* ------------------------------------------------------------- fixtures */

static char root[256], home[300], cache[300], verfile[340];
static struct buf tgz; /* the tarball the server serves */
static int log_fd = -1;
static struct buf log_text;

static void
run_ok(const char *const *argv, const char *cwd)
{
    struct spawn_opts o;
    struct spawn_result r;

    memset(&o, 0, sizeof(o));
    o.argv = argv;
    o.cwd = cwd;
    o.timeout_ms = 60000;
    o.output_max = 65536;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    if (!r.exited || r.exit_code != 0)
        fail_msg("%s failed: %s", argv[0], buf_cstr(&r.output));
    spawn_result_cleanup(&r);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static char *
read_text(const char *path)
{
    struct buf b;

    buf_init(&b, 1 << 20);
    if (fileio_read(path, &b) != AGENT_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    if (b.data == NULL)
        buf_puts(&b, "");
    return buf_detach(&b);
}

static int
count_lines(const char *path)
{
    char *t = read_text(path), *p;
    int n = 0;

    if (t == NULL)
        return 0;
    for (p = t; *p != '\0'; p++)
        n += *p == '\n';
    free(t);
    return n;
}

/* A digest of every name, type, mode and content under dir. */
static void
tree_digest_into(const char *dir, struct buf *acc)
{
    struct dirent **list = NULL;
    char path[1024], *t;
    struct stat st;
    int n, i;

    n = scandir(dir, &list, NULL, alphasort);
    assert_true(n >= 0);
    for (i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
            assert_int_equal(lstat(path, &st), 0);
            buf_printf(acc, "%s %o\n", path, (unsigned)st.st_mode);
            if (S_ISDIR(st.st_mode)) {
                tree_digest_into(path, acc);
            } else if (S_ISREG(st.st_mode)) {
                t = read_text(path);
                assert_non_null(t);
                buf_puts(acc, t);
                free(t);
            }
        }
        free(list[i]);
    }
    free(list);
}

static void
tree_digest(const char *dir, char out[65])
{
    struct buf acc;

    buf_init(&acc, 1 << 24);
    tree_digest_into(dir, &acc);
    str_sha256_hex(acc.data != NULL ? acc.data : "", acc.len, out);
    buf_cleanup(&acc);
}

static int
unpack_dirs_left(void)
{
    DIR *d = opendir(cache);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    for (;;) {
        e = readdir(d);
        if (e == NULL)
            break;
        n += strncmp(e->d_name, "unpack.", 7) == 0;
    }
    closedir(d);
    return n;
}

enum installer {
    INST_OK,       /* copies WCS.version into the home; "already installed" (exit 1) when equal */
    INST_FAIL,     /* exits 2 with a reason */
    INST_NOCHANGE, /* exits 0 without installing */
};

/*
 * Builds stage/<top>/{WCS.version, install.sh, server/lib/blob.bin} and
 * tars it into out with extra_args (NULL-terminated, may be NULL) added
 * after the top folder (hostile members), then loads it into tgz.
 */
static void
make_tarball(const char *version, enum installer kind, size_t blob, const char *const *extra,
             int dot_prefix)
{
    char stage[400], top[500], p[600], out[400], script[2048];
    const char *argv[16];
    unsigned char *data;
    size_t i;
    int n = 0, fd;

    snprintf(stage, sizeof(stage), "%s/stage", root);
    {
        const char *rm[] = {"rm", "-rf", stage, NULL};

        run_ok(rm, NULL);
    }
    assert_int_equal(mkdir(stage, 0755), 0);
    snprintf(top, sizeof(top), "%s/FlashphonerWebCallServer-%s", stage, version);
    assert_int_equal(mkdir(top, 0755), 0);
    snprintf(p, sizeof(p), "%s/WCS.version", top);
    {
        char v[128];

        snprintf(v, sizeof(v), "%s\n", version);
        write_file(p, v, 0644);
    }
    switch (kind) {
    case INST_OK:
        snprintf(script, sizeof(script),
                 "#!/bin/sh\n"
                 "[ \"$1\" = \"-silent\" ] || { echo \"usage: install.sh [-silent]\"; exit 1; }\n"
                 "H='%s'\n"
                 "if [ -f \"$H/conf/WCS.version\" ] && "
                 "[ \"$(cat ./WCS.version)\" = \"$(cat \"$H/conf/WCS.version\")\" ]; then\n"
                 "  echo \"WCS $(cat ./WCS.version) is already installed\"; exit 1\n"
                 "fi\n"
                 "[ -f ./server/lib/blob.bin ] || { echo 'not unpacked'; exit 3; }\n"
                 "mkdir -p \"$H/conf\" && cp ./WCS.version \"$H/conf/WCS.version\" && "
                 "echo run >> \"$H/install.log\"\n"
                 "echo \"Updated to $(cat ./WCS.version)\"\n",
                 home);
        break;
    case INST_FAIL:
        snprintf(script, sizeof(script),
                 "#!/bin/sh\necho 'checking the JVM'\necho 'Java 8 or later is required'\n"
                 "echo run >> '%s/install.log'\nexit 2\n",
                 home);
        break;
    case INST_NOCHANGE:
        snprintf(script, sizeof(script),
                 "#!/bin/sh\necho 'nothing to do'\necho run >> '%s/install.log'\nexit 0\n", home);
        break;
    }
    snprintf(p, sizeof(p), "%s/install.sh", top);
    write_file(p, script, 0755);
    snprintf(p, sizeof(p), "%s/server", top);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/server/lib", top);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/server/lib/blob.bin", top);
    data = malloc(blob + 1);
    assert_non_null(data);
    for (i = 0; i < blob; i++)
        data[i] = (unsigned char)(random() >> 7);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, blob), (ssize_t)blob);
    close(fd);
    free(data);

    snprintf(out, sizeof(out), "%s/out.tar.gz", root);
    snprintf(p, sizeof(p), "FlashphonerWebCallServer-%s", version);
    argv[n++] = "tar";
    argv[n++] = "-czPf";
    argv[n++] = out;
    argv[n++] = "-C";
    argv[n++] = stage;
    argv[n++] = dot_prefix ? "." : p;
    for (i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    run_ok(argv, NULL);
    buf_reset(&tgz);
    assert_int_equal(fileio_read(out, &tgz), AGENT_OK);
    srv.body = (const unsigned char *)tgz.data;
    srv.len = tgz.len;
}

static const char *logged(void);

static int
setup(void **state)
{
    char lp[300];
    const char *mk[] = {"mkdir", "-p", NULL, NULL};

    (void)state;
    snprintf(root, sizeof(root), "/tmp/test_update.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(home, sizeof(home), "%s/home", root);
    snprintf(cache, sizeof(cache), "%s/state/download", root);
    snprintf(verfile, sizeof(verfile), "%s/conf/WCS.version", home);
    snprintf(lp, sizeof(lp), "%s/home/conf", root);
    mk[2] = lp;
    run_ok(mk, NULL);
    write_file(verfile, "5.2.100-aaaa\n", 0644);
    snprintf(lp, sizeof(lp), "%s/home/conf/flashphoner.properties", root);
    write_file(lp, "ip=10.0.0.1\n", 0644);
    snprintf(lp, sizeof(lp), "%s/agent.log", root);
    log_fd = open(lp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (log_fd == -1)
        return -1;
    log_init(getenv("TEST_UPDATE_VERBOSE") != NULL ? 2 : 1, LOG_FMT_TEXT);
    log_set_fd(log_fd);
    buf_init(&tgz, 64u << 20);
    buf_init(&log_text, 1 << 20);
    memset(&srv, 0, sizeof(srv));
    server_start(&srv);
    return 0;
}

static int
teardown(void **state)
{
    const char *rm[] = {"rm", "-rf", root, NULL};

    (void)state;
    server_stop(&srv);
    log_set_fd(-1);
    if (getenv("TEST_UPDATE_VERBOSE") != NULL)
        fprintf(stderr, "%s", logged());
    close(log_fd);
    buf_cleanup(&tgz);
    buf_cleanup(&log_text);
    run_ok(rm, NULL);
    return 0;
}

static const char *
logged(void)
{
    char tmp[4096];
    ssize_t n;
    off_t off = 0;

    buf_reset(&log_text);
    for (;;) {
        n = pread(log_fd, tmp, sizeof(tmp), off);
        if (n <= 0)
            break;
        buf_append(&log_text, tmp, (size_t)n);
        off += n;
    }
    return buf_cstr(&log_text);
}

static int
count_substr(const char *s, const char *needle)
{
    int n = 0;

    for (;;) {
        s = strstr(s, needle);
        if (s == NULL)
            break;
        n++;
        s += strlen(needle);
    }
    return n;
}

static char url[128];

static void
opts_init(struct wcs_update_opts *o, const char *path)
{
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
    memset(o, 0, sizeof(*o));
    o->url = url;
    o->wcs_home = home;
    o->cache_dir = cache;
    o->download_timeout_ms = 30000;
    o->install_timeout_ms = 30000;
}

static void
path_in_cache(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", cache, name);
}

/* Writes wcs.tar.gz.part.ifrange as net/download does: the validator, then the URL's SHA-256. */
static void
write_ifrange(const char *validator, const char *for_url)
{
    char p[400], key[65], text[512];

    str_sha256_hex(for_url, strlen(for_url), key);
    snprintf(text, sizeof(text), "%s\n%s\n", validator, key);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part.ifrange");
    write_file(p, text, 0600);
}

static void
sha_of_tgz(char out[65])
{
    str_sha256_hex(tgz.data, tgz.len, out);
}

static void
assert_installed(const char *v)
{
    char *t = read_text(verfile);
    char want[128];

    assert_non_null(t);
    snprintf(want, sizeof(want), "%s\n", v);
    assert_string_equal(t, want);
    free(t);
}

static char install_log[400];

static int
installs(void)
{
    snprintf(install_log, sizeof(install_log), "%s/install.log", home);
    return count_lines(install_log);
}

/* ---------------------------------------------------------------- tests */

static void
test_first_download_install(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], p[400];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 200 * 1024, NULL, 0);
    sha_of_tgz(sha);
    opts_init(&o, "/wcs.tar.gz?X-Amz-Signature=SECRETSIG");
    o.sha256 = sha;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.downloaded, 1);
    assert_string_equal(r.previous_version, "5.2.100-aaaa");
    assert_string_equal(r.tarball_version, "5.2.200-bbbb");
    assert_string_equal(r.installed_version, "5.2.200-bbbb");
    assert_string_equal(r.etag, ETAG);
    assert_string_equal(r.last_modified, LASTMOD);
    assert_string_equal(r.sha256, sha);
    assert_string_equal(r.detail, "installed WCS 5.2.200-bbbb (was 5.2.100-aaaa)");
    assert_installed("5.2.200-bbbb");
    assert_int_equal(installs(), 1);
    /* One plain GET; the cache holds exactly the served bytes; no leftovers. */
    assert_int_equal(nreq(), 1);
    assert_null(strstr(srv.req[0], "Range:"));
    assert_null(strstr(srv.req[0], "If-None-Match:"));
    path_in_cache(p, sizeof(p), "wcs.tar.gz");
    {
        char got[65];
        struct buf b;

        buf_init(&b, 64u << 20);
        assert_int_equal(fileio_read(p, &b), AGENT_OK);
        str_sha256_hex(b.data, b.len, got);
        assert_string_equal(got, sha);
        buf_cleanup(&b);
    }
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_false(exists(p));
    path_in_cache(p, sizeof(p), "wcs.tar.gz.new");
    assert_false(exists(p));
    assert_int_equal(unpack_dirs_left(), 0);
    /* The query of the URL (a presigned URL's signature) is never logged. */
    assert_non_null(strstr(logged(), "update: installed WCS 5.2.200-bbbb"));
    assert_null(strstr(logged(), "SECRETSIG"));
    assert_non_null(strstr(logged(), "/wcs.tar.gz?..."));
}

/* A rerun with the validators from the state: 304, nothing downloaded, nothing installed. */
static void
test_304_rerun(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r1, r2;
    char v[300];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 64 * 1024, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r1), AGENT_OK);
    assert_int_equal(r1.changed, 1);
    assert_int_equal(installs(), 1);

    o.etag_in = r1.etag;
    o.last_modified_in = r1.last_modified;
    assert_int_equal(wcs_update(&o, &r2), AGENT_OK);
    assert_int_equal(r2.changed, 0);
    assert_int_equal(r2.downloaded, 0);
    assert_string_equal(r2.detail, "WCS 5.2.200-bbbb already installed");
    assert_string_equal(r2.etag, ETAG);
    assert_string_equal(r2.last_modified, LASTMOD);
    assert_string_equal(r2.sha256, r1.sha256);
    assert_int_equal(nreq(), 2);
    assert_non_null(req_header(srv.req[1], "If-None-Match", v, sizeof(v)));
    assert_string_equal(v, ETAG);
    assert_non_null(req_header(srv.req[1], "If-Modified-Since", v, sizeof(v)));
    assert_string_equal(v, LASTMOD);
    assert_int_equal(srv.status[1], 304);
    assert_int_equal(installs(), 1);
    assert_int_equal(unpack_dirs_left(), 0);

    /* Only Last-Modified in the state: still a conditional request. */
    o.etag_in = NULL;
    assert_int_equal(wcs_update(&o, &r2), AGENT_OK);
    assert_int_equal(r2.downloaded, 0);
    assert_int_equal(srv.status[2], 304);
    assert_null(strstr(srv.req[2], "If-None-Match"));

    /* No validators: a full download again, the same build, still no install. */
    o.last_modified_in = NULL;
    assert_int_equal(wcs_update(&o, &r2), AGENT_OK);
    assert_int_equal(r2.downloaded, 1);
    assert_int_equal(r2.changed, 0);
    assert_int_equal(srv.status[3], 200);
    assert_int_equal(installs(), 1);
}

/* update.sha256 given and the cached tarball has it: no request at all. */
static void
test_sha_cache_hit(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], p[400];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 32 * 1024, NULL, 0);
    sha_of_tgz(sha);
    opts_init(&o, "/wcs.tar.gz");
    o.sha256 = sha;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 1);
    /* Upper-case hex is accepted too. */
    for (size_t i = 0; i < 64; i++)
        sha[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 'a' + 'A' : sha[i]);
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 1);
    assert_int_equal(r.downloaded, 0);
    assert_int_equal(r.changed, 0);

    /* A cached file that does not match is fetched again. */
    path_in_cache(p, sizeof(p), "wcs.tar.gz");
    write_file(p, "garbage", 0600);
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 2);
    assert_int_equal(r.downloaded, 1);
    assert_null(strstr(srv.req[1], "If-None-Match"));
}

/* The first response is cut: the same call resumes with Range + If-Range. */
static void
test_resume_in_call(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], v[300];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 256 * 1024, NULL, 0);
    sha_of_tgz(sha);
    srv.cut_after = 65536;
    srv.cut_count = 1;
    opts_init(&o, "/wcs.tar.gz");
    o.sha256 = sha;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_string_equal(r.sha256, sha);
    assert_int_equal(nreq(), 2);
    assert_int_equal(srv.status[0], 200);
    assert_int_equal(srv.status[1], 206);
    assert_non_null(req_header(srv.req[1], "Range", v, sizeof(v)));
    assert_string_equal(v, "bytes=65536-");
    assert_non_null(req_header(srv.req[1], "If-Range", v, sizeof(v)));
    assert_string_equal(v, ETAG);
    assert_installed("5.2.200-bbbb");
    assert_non_null(strstr(logged(), "interrupted after 0.1 MiB"));
}

/* Every response is cut: the call fails (temporary) keeping the part; the next resumes it. */
static void
test_resume_across_calls(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], v[300], p[400], before[65], after[65];
    struct stat st;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 256 * 1024, NULL, 0);
    sha_of_tgz(sha);
    srv.cut_after = 32768;
    srv.cut_count = -1;
    opts_init(&o, "/wcs.tar.gz");
    o.sha256 = sha;
    tree_digest(home, before);
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_NET);
    assert_true(agent_rc_retryable(AGENT_ERR_NET));
    assert_int_equal(nreq(), WCS_UPDATE_ATTEMPTS);
    assert_non_null(strstr(r.detail, "download failed"));
    tree_digest(home, after);
    assert_string_equal(before, after);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, WCS_UPDATE_ATTEMPTS * 32768);
    path_in_cache(p, sizeof(p), "wcs.tar.gz");
    assert_false(exists(p));

    srv.cut_count = 0;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), WCS_UPDATE_ATTEMPTS + 1);
    assert_non_null(req_header(srv.req[WCS_UPDATE_ATTEMPTS], "Range", v, sizeof(v)));
    snprintf(p, sizeof(p), "bytes=%d-", WCS_UPDATE_ATTEMPTS * 32768);
    assert_string_equal(v, p);
    assert_int_equal(srv.status[WCS_UPDATE_ATTEMPTS], 206);
    assert_string_equal(r.sha256, sha);
    assert_int_equal(r.changed, 1);
    assert_installed("5.2.200-bbbb");
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_false(exists(p));
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part.ifrange");
    assert_false(exists(p));
}

/* A partial from another build (If-Range does not match): the 200 restarts from zero. */
static void
test_resume_validator_changed(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], p[400];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 64 * 1024, NULL, 0);
    sha_of_tgz(sha);
    assert_int_equal(fileio_mkdir_p(cache, 0700), AGENT_OK);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    write_file(p, "bytes of an older build", 0600);
    opts_init(&o, "/wcs.tar.gz");
    write_ifrange("\"older\"", url);
    o.sha256 = sha;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 1);
    assert_non_null(strstr(srv.req[0], "If-Range: \"older\""));
    assert_int_equal(srv.status[0], 200);
    assert_string_equal(r.sha256, sha);
    assert_installed("5.2.200-bbbb");
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_false(exists(p));
}

/* A partial longer than the file: 416, then a fresh download. */
static void
test_resume_416(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], p[400], *big;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 16 * 1024, NULL, 0);
    sha_of_tgz(sha);
    assert_int_equal(fileio_mkdir_p(cache, 0700), AGENT_OK);
    big = malloc(tgz.len + 100);
    assert_non_null(big);
    memset(big, 'x', tgz.len + 99);
    big[tgz.len + 99] = '\0';
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    write_file(p, big, 0600);
    free(big);
    opts_init(&o, "/wcs.tar.gz");
    write_ifrange(ETAG, url);
    o.sha256 = sha;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 2);
    assert_int_equal(srv.status[0], 416);
    assert_int_equal(srv.status[1], 200);
    assert_null(strstr(srv.req[1], "Range:"));
    assert_string_equal(r.sha256, sha);
}

/* A checksum mismatch: definite failure, the download deleted, the home untouched. */
static void
test_checksum_mismatch(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char sha[65], p[400], before[65], after[65], want[200];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 64 * 1024, NULL, 0);
    sha_of_tgz(sha);
    tree_digest(home, before);
    opts_init(&o, "/wcs.tar.gz");
    o.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_INVAL);
    assert_false(agent_rc_retryable(AGENT_ERR_INVAL));
    assert_int_equal(agent_rc_exit_status(AGENT_ERR_INVAL), 1);
    snprintf(want, sizeof(want), "checksum mismatch: got %s, want %s", sha, o.sha256);
    assert_string_equal(r.detail, want);
    assert_non_null(strstr(logged(), want));
    tree_digest(home, after);
    assert_string_equal(before, after);
    assert_int_equal(installs(), 0);
    path_in_cache(p, sizeof(p), "wcs.tar.gz");
    assert_false(exists(p));
    path_in_cache(p, sizeof(p), "wcs.tar.gz.new");
    assert_false(exists(p));
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_false(exists(p));
    assert_int_equal(unpack_dirs_left(), 0);
}

/* Hostile tarballs: refused before anything is extracted. */
static void
hostile(const char *const *extra, const char *want_detail)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char before[65], after[65], p[400];

    tree_digest(home, before);
    make_tarball("5.2.200-bbbb", INST_OK, 4096, extra, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_INVAL);
    assert_non_null(strstr(r.detail, want_detail));
    tree_digest(home, after);
    assert_string_equal(before, after);
    assert_int_equal(installs(), 0);
    assert_int_equal(unpack_dirs_left(), 0);
    snprintf(p, sizeof(p), "%s/state/evil.txt", root);
    assert_false(exists(p));
    path_in_cache(p, sizeof(p), "evil.txt");
    assert_false(exists(p));
}

static void
test_dotdot_entry(void **state)
{
    char evil[400], member[400];
    const char *extra[] = {member, NULL};

    (void)state;
    /* stage/../evil.txt = root/evil.txt, stored as "../evil.txt", then deleted. */
    snprintf(evil, sizeof(evil), "%s/evil.txt", root);
    write_file(evil, "pwned\n", 0644);
    snprintf(member, sizeof(member), "../evil.txt");
    hostile(extra, "'..' in a tarball path: ../evil.txt");
    unlink(evil);
    /* Deeper: FlashphonerWebCallServer-x/../../evil.txt (the same file, reached from inside). */
    write_file(evil, "pwned\n", 0644);
    snprintf(member, sizeof(member), "FlashphonerWebCallServer-5.2.200-bbbb/../../evil.txt");
    hostile(extra, "'..' in a tarball path: FlashphonerWebCallServer-5.2.200-bbbb/../../evil.txt");
    unlink(evil);
}

static void
test_absolute_entry(void **state)
{
    char abs[400];
    const char *extra[] = {abs, NULL};

    (void)state;
    snprintf(abs, sizeof(abs), "%s/abs-target.txt", root);
    write_file(abs, "pwned\n", 0644);
    /* make_tarball reads the file when tarring; remove it after, so extraction would recreate it.
     */
    {
        struct wcs_update_opts o;
        struct wcs_update_result r;

        make_tarball("5.2.200-bbbb", INST_OK, 4096, extra, 0);
        unlink(abs);
        opts_init(&o, "/wcs.tar.gz");
        assert_int_equal(wcs_update(&o, &r), AGENT_ERR_INVAL);
        assert_non_null(strstr(r.detail, "absolute path in the tarball"));
        assert_false(exists(abs));
        assert_int_equal(installs(), 0);
        assert_int_equal(unpack_dirs_left(), 0);
    }
}

static void
test_symlink_out(void **state)
{
    char link[400];

    (void)state;
    /* A symlink inside the top folder pointing at /etc. */
    make_tarball("5.2.200-bbbb", INST_OK, 4096, NULL, 0);
    snprintf(link, sizeof(link), "%s/stage/FlashphonerWebCallServer-5.2.200-bbbb/etc", root);
    assert_int_equal(symlink("/etc", link), 0);
    {
        char out[400], stage[400];
        const char *argv[] = {
            "tar", "-czf", out, "-C", stage, "FlashphonerWebCallServer-5.2.200-bbbb", NULL};

        snprintf(out, sizeof(out), "%s/out.tar.gz", root);
        snprintf(stage, sizeof(stage), "%s/stage", root);
        run_ok(argv, NULL);
        buf_reset(&tgz);
        assert_int_equal(fileio_read(out, &tgz), AGENT_OK);
        srv.body = (const unsigned char *)tgz.data;
        srv.len = tgz.len;
    }
    {
        struct wcs_update_opts o;
        struct wcs_update_result r;

        opts_init(&o, "/wcs.tar.gz");
        assert_int_equal(wcs_update(&o, &r), AGENT_ERR_INVAL);
        assert_non_null(strstr(r.detail, "symlink to an absolute path"));
        assert_int_equal(installs(), 0);
        assert_int_equal(unpack_dirs_left(), 0);
    }
}

/* The tarball has the installed version: skipped without running install.sh. */
static void
test_same_version_skip(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.100-aaaa", INST_OK, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 0);
    assert_int_equal(r.downloaded, 1);
    assert_string_equal(r.detail, "WCS 5.2.100-aaaa already installed");
    assert_int_equal(installs(), 0);
    assert_int_equal(unpack_dirs_left(), 0);

    /* --force runs the installer, which says "already installed" (exit 1): not a failure. */
    o.force = 1;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 0);
    assert_string_equal(r.detail, "WCS 5.2.100-aaaa already installed");
    assert_installed("5.2.100-aaaa");
    assert_non_null(strstr(logged(), "install.sh says this version is already installed"));
}

/* A "./"-prefixed archive (tar -C stage .) works the same. */
static void
test_dot_prefix_archive(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.300-cccc", INST_OK, 4096, NULL, 1);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_installed("5.2.300-cccc");
}

static void
test_install_fails(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_FAIL, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CHILD);
    assert_string_equal(r.detail, "install.sh exit status 2: Java 8 or later is required");
    assert_installed("5.2.100-aaaa");
    assert_int_equal(installs(), 1);
    assert_int_equal(unpack_dirs_left(), 0);
    /* The installer's output is in the log. */
    assert_non_null(strstr(logged(), "update: install.sh: checking the JVM"));
    /* The download stays cached, with its validators reported for the state. */
    assert_string_equal(r.etag, ETAG);
}

static void
test_install_no_change(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_NOCHANGE, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CHILD);
    assert_string_equal(r.detail, "install.sh finished but conf/WCS.version is still 5.2.100-aaaa");
    assert_int_equal(installs(), 1);
}

/* A fresh machine: no conf/WCS.version yet. */
static void
test_fresh_install(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    assert_int_equal(unlink(verfile), 0);
    make_tarball("5.2.200-bbbb", INST_OK, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_string_equal(r.previous_version, "");
    assert_string_equal(r.detail, "installed WCS 5.2.200-bbbb (was none)");
}

static void
test_http_errors(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 4096, NULL, 0);
    opts_init(&o, "/missing.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_HTTP);
    assert_string_equal(r.detail, "download: HTTP 404");
    assert_false(agent_rc_retryable(AGENT_ERR_HTTP));

    srv.status_override = 503;
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_NET);
    assert_string_equal(r.detail, "download: HTTP 503");
    srv.status_override = 403;
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_HTTP);
    srv.status_override = 0;
    assert_installed("5.2.100-aaaa");
    /* The error bodies never became the cached tarball. */
    {
        char p[400];

        path_in_cache(p, sizeof(p), "wcs.tar.gz");
        assert_false(exists(p));
        path_in_cache(p, sizeof(p), "wcs.tar.gz.new");
        assert_false(exists(p));
    }

    /* Nothing listening: temporary. */
    memset(&o, 0, sizeof(o));
    o.url = "http://127.0.0.1:9/wcs.tar.gz";
    o.wcs_home = home;
    o.cache_dir = cache;
    o.download_timeout_ms = 5000;
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_NET);

    /* A redirect to the tarball is followed. */
    opts_init(&o, "/redirect");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
}

static void
test_bad_options(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    opts_init(&o, "/wcs.tar.gz");
    o.url = "http://example.com/wcs.tar.gz";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    o.url = "ftp://127.0.0.1/wcs.tar.gz";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    o.url = "http://169.254.169.254/wcs.tar.gz";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    opts_init(&o, "/wcs.tar.gz");
    o.sha256 = "abc";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    o.sha256 = "g000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    o.sha256 = NULL;
    o.wcs_home = NULL;
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_CONFIG);
    assert_int_equal(nreq(), 0);
    /* A malformed installed version is named. */
    opts_init(&o, "/wcs.tar.gz");
    write_file(verfile, "5.2 <script>\n", 0644);
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_PARSE);
    assert_non_null(strstr(logged(), "conf/WCS.version: not a version string"));
    assert_int_equal(nreq(), 0);
}

static void
test_dry_run(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    o.dry_run = 1;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_non_null(strstr(r.detail, "would download http://127.0.0.1:"));
    assert_int_equal(nreq(), 0);
    assert_false(exists(cache));

    /* With a cached tarball it tells which version it would install. */
    o.dry_run = 0;
    make_tarball("5.2.100-aaaa", INST_OK, 4096, NULL, 0);
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    make_tarball("5.2.200-bbbb", INST_OK, 4096, NULL, 0);
    {
        char p[400], out[400];
        struct buf b;

        /* Put the 5.2.200 tarball in the cache by hand. */
        buf_init(&b, 64u << 20);
        snprintf(out, sizeof(out), "%s/out.tar.gz", root);
        assert_int_equal(fileio_read(out, &b), AGENT_OK);
        path_in_cache(p, sizeof(p), "wcs.tar.gz");
        assert_int_equal(fileio_write_atomic(p, b.data, b.len, 0600, 0), AGENT_OK);
        buf_cleanup(&b);
    }
    o.dry_run = 1;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_string_equal(r.detail, "would install WCS 5.2.200-bbbb (installed: 5.2.100-aaaa)");
    assert_int_equal(nreq(), 1);
    assert_installed("5.2.100-aaaa");
    assert_int_equal(installs(), 0);
    assert_int_equal(unpack_dirs_left(), 0);
}

/* Progress lines come at most once a second, not once per piece. */
static void
test_progress_lines(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    int n;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 384 * 1024, NULL, 0);
    srv.slow_ms = 100; /* about 24 pieces over 2.4 s */
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    n = count_substr(logged(), "update: downloaded 0.");
    assert_true(n >= 1);
    assert_true(n <= 3);
    assert_non_null(strstr(logged(), " MiB of 0.4 MiB"));
}

/* Stale unpack folders of an interrupted run are removed. */
static void
test_stale_unpack_removed(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char p[400];

    (void)state;
    path_in_cache(p, sizeof(p), "unpack.abc123/top/lib");
    assert_int_equal(fileio_mkdir_p(p, 0755), AGENT_OK);
    path_in_cache(p, sizeof(p), "unpack.abc123/top/lib/x.jar");
    write_file(p, "jar", 0444);
    path_in_cache(p, sizeof(p), "unpack.abc123/top/lib");
    assert_int_equal(chmod(p, 0555), 0);
    make_tarball("5.2.100-aaaa", INST_OK, 4096, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(unpack_dirs_left(), 0);
}

/* No file of the download is left in the cache. */
static void
assert_cache_empty_of_download(void)
{
    static const char *const names[] = {"wcs.tar.gz", "wcs.tar.gz.new", "wcs.tar.gz.part",
                                        "wcs.tar.gz.part.ifrange", "wcs.tar.gz.source"};
    char p[400];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        path_in_cache(p, sizeof(p), names[i]);
        if (exists(p))
            fail_msg("%s is left", p);
    }
}

/*
 * update.max_bytes: a tarball one byte over it is refused when the
 * Content-Length announces it and stopped while streaming when it comes
 * chunked; nothing is kept, nothing installed; exactly the limit passes.
 */
static void
test_max_bytes(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char want[400];
    int chunked;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 256 * 1024, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    o.max_bytes = (int64_t)tgz.len - 1;
    for (chunked = 0; chunked <= 1; chunked++) {
        srv.chunked = chunked;
        assert_int_equal(wcs_update(&o, &r), AGENT_ERR_TOOBIG);
        assert_int_equal(nreq(), chunked + 1);
        assert_int_equal(srv.status[chunked], 200);
        snprintf(want, sizeof(want), "download over update.max_bytes = %zu bytes", tgz.len - 1);
        assert_string_equal(r.detail, want);
        if (chunked)
            snprintf(want, sizeof(want),
                     "update: download of %s stopped: more than update.max_bytes = %zu bytes "
                     "received; raise update.max_bytes to accept a larger file\n",
                     url, tgz.len - 1);
        else
            snprintf(want, sizeof(want),
                     "update: download of %s refused: the server announces %zu bytes, over "
                     "update.max_bytes = %zu; raise update.max_bytes to accept a larger file\n",
                     url, tgz.len, tgz.len - 1);
        if (strstr(logged(), want) == NULL)
            fail_msg("no line '%s' in:\n%s", want, logged());
        assert_cache_empty_of_download();
        assert_int_equal(installs(), 0);
        assert_installed("5.2.100-aaaa");
        assert_int_equal(unpack_dirs_left(), 0);
    }
    assert_false(agent_rc_retryable(AGENT_ERR_TOOBIG));
    assert_int_equal(agent_rc_exit_status(AGENT_ERR_TOOBIG), 1);

    /* Exactly the limit is accepted, chunked too. */
    o.max_bytes = (int64_t)tgz.len;
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_installed("5.2.200-bbbb");
}

/* A resumed download counts the bytes it already has: a 206 whose total is over the cap stops. */
static void
test_max_bytes_resume(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char v[300], p[400];
    struct stat st;

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 256 * 1024, NULL, 0);
    srv.cut_after = 32768;
    srv.cut_count = -1;
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_NET);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, WCS_UPDATE_ATTEMPTS * 32768);

    srv.cut_count = 0;
    o.max_bytes = (int64_t)tgz.len - 1;
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_TOOBIG);
    assert_int_equal(nreq(), WCS_UPDATE_ATTEMPTS + 1);
    assert_non_null(req_header(srv.req[WCS_UPDATE_ATTEMPTS], "Range", v, sizeof(v)));
    assert_int_equal(srv.status[WCS_UPDATE_ATTEMPTS], 206);
    assert_cache_empty_of_download();
    assert_int_equal(installs(), 0);

    /* A partial larger than a lowered cap is not resumed: the plain GET is refused. */
    assert_int_equal(fileio_mkdir_p(cache, 0700), AGENT_OK);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    write_file(p, "0123456789", 0600);
    write_ifrange(ETAG, url);
    o.max_bytes = 5;
    assert_int_equal(wcs_update(&o, &r), AGENT_ERR_TOOBIG);
    assert_null(strstr(srv.req[WCS_UPDATE_ATTEMPTS + 1], "Range:"));
    assert_cache_empty_of_download();
}

/*
 * The cache belongs to its URL.  Regression: with update.url changed to a
 * server that answers 304 to any If-None-Match, the old URL's ETag was sent,
 * the 304 believed, the old tarball reused and "already installed" reported.
 */
static void
test_new_url_not_answered_from_cache(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r1, r2, r3;
    char v[300], url_a[128];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 32 * 1024, NULL, 0);
    opts_init(&o, "/wcs.tar.gz");
    memcpy(url_a, url, sizeof(url_a));
    assert_int_equal(wcs_update(&o, &r1), AGENT_OK);
    assert_int_equal(r1.changed, 1);
    assert_installed("5.2.200-bbbb");

    /* URL B, another build, a server that says 304 to any ETag; the state holds A's validators. */
    make_tarball("5.2.300-cccc", INST_OK, 32 * 1024, NULL, 0);
    srv.inm_any_304 = 1;
    opts_init(&o, "/b/wcs.tar.gz");
    o.etag_in = r1.etag;
    o.last_modified_in = r1.last_modified;
    assert_int_equal(wcs_update(&o, &r2), AGENT_OK);
    assert_int_equal(nreq(), 2);
    assert_null(req_header(srv.req[1], "If-None-Match", v, sizeof(v)));
    assert_null(req_header(srv.req[1], "If-Modified-Since", v, sizeof(v)));
    assert_int_equal(srv.status[1], 200);
    assert_int_equal(r2.downloaded, 1);
    assert_int_equal(r2.changed, 1);
    assert_string_equal(r2.detail, "installed WCS 5.2.300-cccc (was 5.2.200-bbbb)");
    assert_installed("5.2.300-cccc");

    /* B again with B's validators: a conditional request, and its 304 is believed. */
    o.etag_in = r2.etag;
    o.last_modified_in = r2.last_modified;
    assert_int_equal(wcs_update(&o, &r3), AGENT_OK);
    assert_int_equal(nreq(), 3);
    assert_non_null(req_header(srv.req[2], "If-None-Match", v, sizeof(v)));
    assert_int_equal(srv.status[2], 304);
    assert_int_equal(r3.downloaded, 0);
    assert_int_equal(r3.changed, 0);

    /* plan (dry run) for a URL C it has nothing from: "would download", not "installed". */
    opts_init(&o, "/c/wcs.tar.gz");
    o.dry_run = 1;
    assert_int_equal(wcs_update(&o, &r3), AGENT_OK);
    assert_int_equal(r3.changed, 1);
    assert_non_null(strstr(r3.detail, "would download"));
    assert_int_equal(nreq(), 3);

    /* Back to A with B's validators in the state: not sent to A. */
    o.dry_run = 0;
    o.url = url_a;
    o.etag_in = r2.etag;
    assert_int_equal(wcs_update(&o, &r3), AGENT_OK);
    assert_int_equal(nreq(), 4);
    assert_null(req_header(srv.req[3], "If-None-Match", v, sizeof(v)));
    assert_int_equal(r3.downloaded, 1);
}

/* A partial download is resumed only for the URL it came from. */
static void
test_part_of_another_url(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r;
    char p[400], other[160];

    (void)state;
    make_tarball("5.2.200-bbbb", INST_OK, 32 * 1024, NULL, 0);
    assert_int_equal(fileio_mkdir_p(cache, 0700), AGENT_OK);
    path_in_cache(p, sizeof(p), "wcs.tar.gz.part");
    write_file(p, "bytes of another URL's file", 0600);
    opts_init(&o, "/wcs.tar.gz");
    snprintf(other, sizeof(other), "http://127.0.0.1:%d/other/wcs.tar.gz", srv.port);
    write_ifrange(ETAG, other);
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(nreq(), 1);
    assert_null(strstr(srv.req[0], "Range:"));
    assert_int_equal(r.changed, 1);
    assert_installed("5.2.200-bbbb");
}

/* Mode of path, 07777 bits. */
static unsigned
mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

/* Unpacking clears setuid and setgid bits (and sticky on files) that the tarball holds. */
static void
test_setuid_stripped(void **state)
{
    char extra_dir[300], bin[500], p[600], out[400], unpack[400], detail[256];
    const char *extra[] = {"-C", extra_dir, "FlashphonerWebCallServer-5.2.200-bbbb/bin", NULL};
    const char *list[] = {"tar", "-tvzf", out, NULL};
    struct spawn_opts so;
    struct spawn_result sr;
    struct wcs_update_opts o;
    struct wcs_update_result r;

    (void)state;
    snprintf(extra_dir, sizeof(extra_dir), "%s/extra", root);
    snprintf(bin, sizeof(bin), "%s/FlashphonerWebCallServer-5.2.200-bbbb/bin", extra_dir);
    assert_int_equal(fileio_mkdir_p(bin, 0755), AGENT_OK);
    assert_int_equal(chmod(bin, 02755), 0);
    snprintf(p, sizeof(p), "%s/suid", bin);
    write_file(p, "#!/bin/sh\n", 04755);
    snprintf(p, sizeof(p), "%s/sgid", bin);
    write_file(p, "#!/bin/sh\n", 02711);
    snprintf(p, sizeof(p), "%s/sticky", bin);
    write_file(p, "data\n", 01644);
    make_tarball("5.2.200-bbbb", INST_OK, 4096, extra, 0);
    snprintf(out, sizeof(out), "%s/out.tar.gz", root);

    /* The archive does carry the bits (so this test can fail). */
    memset(&so, 0, sizeof(so));
    so.argv = list;
    so.timeout_ms = 60000;
    so.output_max = 65536;
    assert_int_equal(spawn_run(&so, &sr), AGENT_OK);
    assert_non_null(strstr(buf_cstr(&sr.output), "-rwsr-xr-x"));
    assert_non_null(strstr(buf_cstr(&sr.output), "drwxr-sr-x"));
    spawn_result_cleanup(&sr);

    snprintf(unpack, sizeof(unpack), "%s/unpack.test", root);
    assert_int_equal(mkdir(unpack, 0700), 0);
    assert_int_equal(tarball_extract(out, unpack, NULL, NULL, detail, sizeof(detail)), AGENT_OK);
    snprintf(bin, sizeof(bin), "%s/FlashphonerWebCallServer-5.2.200-bbbb/bin", unpack);
    assert_int_equal(mode_of(bin), 0755);
    snprintf(p, sizeof(p), "%s/suid", bin);
    assert_int_equal(mode_of(p), 0755);
    snprintf(p, sizeof(p), "%s/sgid", bin);
    assert_int_equal(mode_of(p), 0711);
    snprintf(p, sizeof(p), "%s/sticky", bin);
    assert_int_equal(mode_of(p), 0644);
    /* Other modes are kept. */
    snprintf(p, sizeof(p), "%s/FlashphonerWebCallServer-5.2.200-bbbb/install.sh", unpack);
    assert_int_equal(mode_of(p), 0755);

    /* The tarball installs through the update as well. */
    opts_init(&o, "/wcs.tar.gz");
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
}

/* ------------------------------------------- with tests/sim/wcs.py's fake WCS */

static const char SIM_PY[] =
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import wcs\n"
    "cmd, root, out = sys.argv[2], sys.argv[3], sys.argv[4]\n"
    "if cmd == 'tree':\n"
    "    t = wcs.make_install_tree(root, version='5.2.100')\n"
    "    r = wcs.make_installer_tarball(out, version='5.2.200', install_root=root)\n"
    "    print(t.home)\n"
    "    print(r['sha256'])\n"
    "    print(r['version'])\n"
    "else:\n"
    "    r = wcs.make_evil_tarball(out, cmd, version='5.2.300', target=sys.argv[5],\n"
    "                              install_root=root)\n"
    "    print(r['member'])\n";

/* Runs SIM_PY with args; its stdout lines into lines[n][300]. */
static void
run_sim(const char *cmd, const char *out, const char *target, char lines[][300], int n)
{
    char sim[400], simroot[400];
    const char *argv[] = {"python3", "-c", SIM_PY, sim, cmd, simroot, out, target, NULL};
    struct spawn_opts o;
    struct spawn_result r;
    const char *p;
    int i;

    snprintf(sim, sizeof(sim), "%s/tests/sim", getenv("AGENT_SOURCE_DIR"));
    snprintf(simroot, sizeof(simroot), "%s/sim", root);
    memset(&o, 0, sizeof(o));
    o.argv = argv;
    o.timeout_ms = 60000;
    o.output_max = 65536;
    assert_int_equal(spawn_run(&o, &r), AGENT_OK);
    if (!r.exited || r.exit_code != 0)
        fail_msg("wcs.py: %s", buf_cstr(&r.output));
    p = buf_cstr(&r.output);
    for (i = 0; i < n; i++) {
        size_t k = strcspn(p, "\n");

        assert_true(k < 300);
        memcpy(lines[i], p, k);
        lines[i][k] = '\0';
        p += k + (p[k] != '\0');
    }
    spawn_result_cleanup(&r);
}

static void
serve_file(const char *path)
{
    buf_reset(&tgz);
    assert_int_equal(fileio_read(path, &tgz), AGENT_OK);
    srv.body = (const unsigned char *)tgz.data;
    srv.len = tgz.len;
}

static void
test_sim_installer(void **state)
{
    struct wcs_update_opts o;
    struct wcs_update_result r, r2;
    char lines[3][300], simhome[300], out[400], props[400], *before, *after, p[400];
    static const char *const kinds[] = {"dotdot", "absolute", "symlink", "hardlink"};
    size_t i;

    (void)state;
    if (getenv("AGENT_SOURCE_DIR") == NULL)
        skip();
    snprintf(out, sizeof(out), "%s/sim.tar.gz", root);
    run_sim("tree", out, "", lines, 3);
    serve_file(out);
    opts_init(&o, "/wcs.tar.gz");
    memcpy(simhome, lines[0], sizeof(simhome));
    o.wcs_home = simhome;
    o.sha256 = lines[1];
    snprintf(props, sizeof(props), "%s/conf/flashphoner.properties", lines[0]);
    before = read_text(props);
    assert_non_null(before);
    assert_int_equal(wcs_update(&o, &r), AGENT_OK);
    assert_int_equal(r.changed, 1);
    assert_string_equal(r.installed_version, lines[2]);
    assert_non_null(
        strstr(logged(), "update: install.sh finished: Restart Web Call Server to apply"));
    /* The installer kept flashphoner.properties. */
    after = read_text(props);
    assert_non_null(after);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* The rerun: 304, nothing installed. */
    o.etag_in = r.etag;
    o.last_modified_in = r.last_modified;
    o.sha256 = NULL;
    assert_int_equal(wcs_update(&o, &r2), AGENT_OK);
    assert_int_equal(r2.changed, 0);
    assert_int_equal(r2.downloaded, 0);

    /* Every hostile tarball of wcs.py is refused; nothing lands outside. */
    snprintf(p, sizeof(p), "%s/escdir", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/secret.txt", root);
    write_file(p, "secret\n", 0600);
    o.etag_in = NULL;
    o.last_modified_in = NULL;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char target[400];

        if (strcmp(kinds[i], "symlink") == 0)
            snprintf(target, sizeof(target), "%s/escdir", root);
        else if (strcmp(kinds[i], "hardlink") == 0)
            snprintf(target, sizeof(target), "%s/secret.txt", root);
        else
            snprintf(target, sizeof(target), "%s/escaped.txt", root);
        run_sim(kinds[i], out, target, lines, 1);
        serve_file(out);
        assert_int_equal(wcs_update(&o, &r), AGENT_ERR_INVAL);
        assert_non_null(strstr(r.detail, "tarball refused"));
        assert_string_equal(r.previous_version, r2.installed_version);
        snprintf(p, sizeof(p), "%s/escaped.txt", root);
        assert_false(exists(p));
        snprintf(p, sizeof(p), "%s/escdir/wcs-sim-escaped.txt", root);
        assert_false(exists(p));
        path_in_cache(p, sizeof(p), "wcs-sim-escaped.txt");
        assert_false(exists(p));
        snprintf(p, sizeof(p), "%s/state/wcs-sim-escaped.txt", root);
        assert_false(exists(p));
        assert_int_equal(unpack_dirs_left(), 0);
    }
    /* The installed build is still 5.2.200. */
    {
        char *v;

        snprintf(p, sizeof(p), "%s/conf/WCS.version", o.wcs_home);
        v = read_text(p);
        assert_non_null(v);
        assert_non_null(strstr(v, "5.2.200-"));
        free(v);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_download_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_304_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha_cache_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_in_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_across_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_validator_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_416, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_version_skip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dot_prefix_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_no_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_unpack_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_bytes_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_url_not_answered_from_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_part_of_another_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setuid_stripped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_installer, setup, teardown),
    };
    int rc;

    if (http_global_init() != AGENT_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_global_cleanup();
    return rc;
}
