#include "net/download.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/hashwriter.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

/* Read size for hashing files. */
#define HASH_CHUNK (64 * 1024)
/* libcurl's receive buffer: fewer, larger pieces (its default is 16 KiB). */
#define RECV_BUFFER (512 * 1024)
/* Pause before a download attempt that resumes an interrupted one. */
#define RETRY_PAUSE_MS 1000
/* Progress lines are at least this far apart. */
#define PROGRESS_EVERY_MS 1000
/* The connect timeout of each attempt. */
#define CONNECT_TIMEOUT_MS 30000

#define MIB (1024.0 * 1024.0)

/* The files in dir (download.h). */
struct paths {
    char file[DOWNLOAD_PATH_MAX];
    char part[DOWNLOAD_PATH_MAX];
    char ifrange[DOWNLOAD_PATH_MAX];
    char fresh[DOWNLOAD_PATH_MAX];
    char source[DOWNLOAD_PATH_MAX];
    char url_key[65]; /* SHA-256 of the URL, hex: what .source and .part.ifrange record */
};

static void set_detail(struct download_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_detail(struct download_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
}

/*
 * The URL as it may be logged: scheme, host and path, without user info,
 * query or fragment (a presigned URL carries its signature in the query).
 */
void
download_url_for_log(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://"), *host, *at, *end;
    size_t n;

    if (p == NULL) {
        snprintf(out, cap, "(malformed URL)");
        return;
    }
    host = p + 3;
    end = host + strcspn(host, "?#");
    at = memchr(host, '@', (size_t)(end - host));
    if (at != NULL && (size_t)(at - host) < strcspn(host, "/"))
        host = at + 1;
    n = (size_t)(p + 3 - url);
    snprintf(out, cap, "%.*s%.*s%s", (int)n, url, (int)(end - host), host,
             *end != '\0' ? "?..." : "");
}

/* Size of a regular file, -1 when absent or not a regular file. */
static long long
file_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
        return -1;
    return (long long)st.st_size;
}

/* unlink() that ignores a missing file and logs other failures. */
static void
remove_file(const char *what, const char *path)
{
    if (unlink(path) == -1 && errno != ENOENT)
        log_err("%s: cannot remove %s", what, path);
}

/* fsync of a folder, so a rename in it survives a power loss. */
static void
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd != -1) {
        (void)fsync(fd);
        close(fd);
    }
}

typedef enum agent_rc (*feed_fn)(void *ctx, const void *p, size_t n);

static enum agent_rc
feed_md(void *ctx, const void *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) == 1 ? AGENT_OK : AGENT_ERR_NOMEM;
}

static enum agent_rc
feed_hashwriter(void *ctx, const void *p, size_t n)
{
    return hashwriter_absorb(ctx, p, n);
}

/* Feeds the whole file at path to feed.  AGENT_ERR_IO (logged) on failure. */
static enum agent_rc
hash_file(const char *what, feed_fn feed, void *ctx, const char *path)
{
    unsigned char *chunk;
    ssize_t n;
    int fd;
    enum agent_rc rc = AGENT_ERR_IO;

    chunk = malloc(HASH_CHUNK);
    if (chunk == NULL)
        return AGENT_ERR_NOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        log_err("%s: cannot open %s", what, path);
        goto out;
    }
    for (;;) {
        n = read(fd, chunk, HASH_CHUNK);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            log_err("%s: cannot read %s", what, path);
            goto out;
        }
        if (n == 0)
            break;
        rc = feed(ctx, chunk, (size_t)n);
        if (rc != AGENT_OK)
            goto out;
        rc = AGENT_ERR_IO;
    }
    rc = AGENT_OK;
out:
    if (fd != -1)
        close(fd);
    free(chunk);
    return rc;
}

/* The digest of md as 64 hex digits. */
static void
digest_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (EVP_DigestFinal_ex(md, d, &n) == 1 && n == 32)
        str_hex(d, n, out, 65);
}

enum agent_rc
download_sha256_file(const char *what, const char *path, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    enum agent_rc rc;

    if (md == NULL)
        return AGENT_ERR_NOMEM;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return AGENT_ERR_NOMEM;
    }
    rc = hash_file(what, feed_md, md, path);
    if (rc == AGENT_OK)
        digest_hex(md, out);
    EVP_MD_CTX_free(md);
    return rc;
}

enum sink_mode {
    SINK_UNDECIDED, /* no body byte yet */
    SINK_APPEND,    /* a 206 continuing .part: append to it */
    SINK_FRESH      /* anything else: the body goes to .new from byte 0 */
};

/* The streaming consumer of one download attempt. */
struct sink {
    const char *what; /* the log prefix */
    const struct paths *P;
    struct http_response *resp; /* its headers are complete when the first byte arrives */
    struct hashwriter *hw;      /* writes to fd and hashes the whole file, .part included */
    long long resume_from;      /* bytes in .part when the attempt started (0: none) */
    enum sink_mode mode;
    int fd;
    long long got;       /* body bytes written in this attempt */
    long long total;     /* expected size of the whole file, -1 when unknown */
    long long max_bytes; /* > 0: the cap on the whole file */
    long long over;      /* > 0: the size that broke the cap (announced or reached) */
    int over_announced;  /* 1: over was announced by the headers, 0: received */
    int64_t started_ms, last_log_ms;
    void (*tick)(void *ctx); /* the caller's heartbeat, with the progress line */
    void *tick_ctx;
};

/* Parses "bytes A-B/T" (T may be "*": *t = -1). */
static int
parse_content_range(const char *s, long long *a, long long *b, long long *t)
{
    char *e;

    if (str_ncasecmp(s, "bytes ", 6) != 0)
        return 0;
    s += 6;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *a = strtoll(s, &e, 10);
    if (errno != 0 || *e != '-' || e[1] < '0' || e[1] > '9')
        return 0;
    *b = strtoll(e + 1, &e, 10);
    if (errno != 0 || *e != '/' || *b < *a)
        return 0;
    if (strcmp(e + 1, "*") == 0) {
        *t = -1;
        return 1;
    }
    if (e[1] < '0' || e[1] > '9')
        return 0;
    *t = strtoll(e + 1, &e, 10);
    return errno == 0 && *e == '\0' && *t > *b;
}

/* The Content-Length of the response, -1 when absent or malformed. */
static long long
content_length(const struct http_response *resp)
{
    char v[32];
    long long n;

    if (http_response_header(resp, "Content-Length", v, sizeof(v)) != AGENT_OK)
        return -1;
    if (str_to_ll(v, 0, LLONG_MAX, &n) != AGENT_OK)
        return -1;
    return n;
}

/* Chooses where the body goes, from the headers of the response. */
static int
sink_open(struct sink *s)
{
    char cr[128];
    long long a, b, t, cl;

    if (s->resume_from > 0 &&
        http_response_header(s->resp, "Content-Range", cr, sizeof(cr)) == AGENT_OK &&
        parse_content_range(cr, &a, &b, &t) && a == s->resume_from) {
        s->fd = open(s->P->part, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (s->fd == -1) {
            log_err("%s: cannot open %s", s->what, s->P->part);
            return AGENT_ERR_IO;
        }
        hashwriter_set_fd(s->hw, s->fd);
        s->mode = SINK_APPEND;
        s->total = t;
        return 0;
    }
    /* A full body: the hash starts over. */
    if (hashwriter_reset(s->hw) != AGENT_OK)
        return AGENT_ERR_NOMEM;
    s->fd = open(s->P->fresh, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->fd == -1) {
        log_err("%s: cannot create %s", s->what, s->P->fresh);
        return AGENT_ERR_IO;
    }
    hashwriter_set_fd(s->hw, s->fd);
    s->mode = SINK_FRESH;
    cl = content_length(s->resp);
    s->total = cl;
    return 0;
}

/* AGENT_ERR_TOOBIG (and s->over set) when the file announced or received is over the cap. */
static int
sink_check_cap(struct sink *s, size_t len)
{
    long long have = s->got + (long long)len + (s->mode == SINK_APPEND ? s->resume_from : 0);

    if (s->max_bytes <= 0)
        return 0;
    if (s->total > s->max_bytes) {
        s->over = s->total;
        s->over_announced = 1;
        return AGENT_ERR_TOOBIG;
    }
    if (have > s->max_bytes) {
        s->over = have;
        return AGENT_ERR_TOOBIG;
    }
    return 0;
}

static void
log_progress(struct sink *s)
{
    long long have = s->got + (s->mode == SINK_APPEND ? s->resume_from : 0);

    if (s->total > 0)
        log_debug("%s: downloaded %.1f MiB of %.1f MiB", s->what, (double)have / MIB,
                  (double)s->total / MIB);
    else
        log_debug("%s: downloaded %.1f MiB", s->what, (double)have / MIB);
}

static int
sink_write(void *ctx, const void *data, size_t len)
{
    struct sink *s = ctx;
    int64_t now;
    int r;

    if (s->mode == SINK_UNDECIDED) {
        r = sink_open(s);
        if (r != 0)
            return r;
    }
    r = sink_check_cap(s, len);
    if (r != 0)
        return r;
    /* Written and hashed by the writer thread while the next piece arrives. */
    r = hashwriter_write(s->hw, data, len);
    if (r == AGENT_ERR_IO)
        log_err("%s: cannot write %s", s->what, s->mode == SINK_APPEND ? s->P->part : s->P->fresh);
    if (r != AGENT_OK)
        return r;
    s->got += (long long)len;
    now = clock_mono_ms();
    if (now - s->last_log_ms >= PROGRESS_EVERY_MS) {
        s->last_log_ms = now;
        log_progress(s);
        if (s->tick != NULL)
            s->tick(s->tick_ctx);
    }
    return 0;
}

/* Copies a response header into out[cap] when it is present, fits and is printable. */
static void
copy_validator(const struct http_response *resp, const char *name, char *out, size_t cap)
{
    size_t i;

    out[0] = '\0';
    if (http_response_header(resp, name, out, cap) != AGENT_OK) {
        out[0] = '\0';
        return;
    }
    for (i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e) {
            out[0] = '\0';
            return;
        }
    }
}

/* 1 when v may go into a request header (printable ASCII, not empty). */
static int
header_value_ok(const char *v)
{
    size_t i;

    if (v == NULL || v[0] == '\0' || strlen(v) > 255)
        return 0;
    for (i = 0; v[i] != '\0'; i++) {
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* The validator to resume this response's body with: a strong ETag, else Last-Modified. */
static void
resume_validator(const struct http_response *resp, char *out, size_t cap)
{
    copy_validator(resp, "ETag", out, cap);
    if (out[0] != '\0' && out[0] == '"')
        return;
    copy_validator(resp, "Last-Modified", out, cap);
}

/*
 * Reads the small .ifrange file (the validator, then the SHA-256 of the URL
 * the partial download came from); "" when absent, unusable or from another
 * URL.
 */
static void
read_ifrange(const struct paths *P, char *out, size_t cap)
{
    struct buf b;
    char *nl, *t;

    out[0] = '\0';
    buf_init(&b, 512);
    if (fileio_read(P->ifrange, &b) == AGENT_OK && b.len > 0 &&
        memchr(b.data, '\0', b.len) == NULL) {
        nl = strchr(b.data, '\n');
        if (nl != NULL) {
            *nl = '\0';
            t = str_trim(b.data);
            if (header_value_ok(t) && strcmp(str_trim(nl + 1), P->url_key) == 0)
                snprintf(out, cap, "%s", t);
        }
    }
    buf_cleanup(&b);
}

/* Writes the .ifrange file for a partial download of this URL. */
static enum agent_rc
write_ifrange(const struct paths *P, const char *validator)
{
    char text[512];
    int n = snprintf(text, sizeof(text), "%s\n%s\n", validator, P->url_key);

    if (n < 0 || (size_t)n >= sizeof(text))
        return AGENT_ERR_TOOBIG;
    return fileio_write_atomic(P->ifrange, text, (size_t)n, 0600, FILEIO_QUIET);
}

/* 1 when the .source file beside the cached file names this URL. */
static int
source_matches(const struct paths *P)
{
    struct buf b;
    int ok = 0;

    buf_init(&b, 256);
    if (fileio_read(P->source, &b) == AGENT_OK && b.len > 0 && memchr(b.data, '\0', b.len) == NULL)
        ok = strcmp(str_trim(b.data), P->url_key) == 0;
    buf_cleanup(&b);
    return ok;
}

/* The status classes of update.h: temporary (NET) or definite (HTTP). */
static enum agent_rc
status_rc(long status)
{
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return AGENT_ERR_NET;
    return AGENT_ERR_HTTP;
}

/*
 * Brings P->file up to date (download.h).  On success
 * res->sha256, res->etag, res->last_modified and res->downloaded are set.
 */
static enum agent_rc
download(const struct download_opts *o, const struct paths *P, struct download_result *res)
{
    char logurl[512], ifr[256], h_range[64], h_ifr[300], h_inm[300], h_ims[300], got_sha[65];
    const char *hdrs[4];
    struct http_request req;
    struct http_response resp;
    struct sink s;
    long long part, cached;
    int attempt, nh, conditional, have_cache;
    int64_t t0, tmo;
    enum agent_rc rc = AGENT_ERR_NET, wrc;
    const char *done_path;

    download_url_for_log(o->url, logurl, sizeof(logurl));
    memset(&s, 0, sizeof(s));
    s.fd = -1;
    s.hw = hashwriter_new();
    if (s.hw == NULL) {
        log_errx("%s: cannot start the download's writer thread", o->what);
        return AGENT_ERR_NOMEM;
    }
    http_response_init(&resp, 1);

    cached = file_size(P->file);
    /* A file kept under a larger cap does not stand for a download under this one. */
    have_cache = cached > 0 && (o->max_bytes <= 0 || cached <= o->max_bytes);
    if (have_cache && o->want_sha256 != NULL) {
        /* A fixed build already downloaded: no request at all. */
        rc = download_sha256_file(o->what, P->file, got_sha);
        if (rc != AGENT_OK)
            goto out;
        if (strcmp(got_sha, o->want_sha256) == 0) {
            log_debug("%s: %s already holds the wanted build (sha256 %.12s...)", o->what, P->file,
                      o->want_sha256);
            memcpy(res->sha256, got_sha, sizeof(res->sha256));
            snprintf(res->etag, sizeof(res->etag), "%s", o->etag_in != NULL ? o->etag_in : "");
            snprintf(res->last_modified, sizeof(res->last_modified), "%s",
                     o->last_modified_in != NULL ? o->last_modified_in : "");
            rc = AGENT_OK;
            goto out;
        }
        log_debug("%s: %s does not match update.sha256; downloading again", o->what, P->file);
        remove_file(o->what, P->source);
        remove_file(o->what, P->file);
        have_cache = 0;
    }
    if (have_cache && !source_matches(P)) {
        /* Validators and a 304 speak for the URL they came with, not for this one. */
        log_debug("%s: %s came from another URL (or an older agent); not asking %s about it",
                  o->what, P->file, logurl);
        have_cache = 0;
    }

    for (attempt = 1;; attempt++) {
        if (deadline_expired(o->deadline)) {
            log_errx("%s: download of %s: the run's deadline has passed", o->what, logurl);
            set_detail(res, "download: the run's deadline has passed");
            rc = AGENT_ERR_TIMEOUT;
            goto out;
        }
        remove_file(o->what, P->fresh);
        part = file_size(P->part);
        read_ifrange(P, ifr, sizeof(ifr));
        if (part >= 0 && (part == 0 || ifr[0] == '\0')) {
            /* Nothing to resume from, or no validator to resume it safely. */
            remove_file(o->what, P->part);
            remove_file(o->what, P->ifrange);
            part = 0;
        }
        if (part < 0)
            part = 0;
        if (o->max_bytes > 0 && part > o->max_bytes) {
            /* Kept under a larger cap: not resumed under this one. */
            remove_file(o->what, P->part);
            remove_file(o->what, P->ifrange);
            part = 0;
        }

        if (hashwriter_reset(s.hw) != AGENT_OK) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        nh = 0;
        conditional = 0;
        if (part > 0) {
            rc = hash_file(o->what, feed_hashwriter, s.hw, P->part);
            if (rc != AGENT_OK)
                goto out;
            snprintf(h_range, sizeof(h_range), "Range: bytes=%lld-", part);
            snprintf(h_ifr, sizeof(h_ifr), "If-Range: %s", ifr);
            hdrs[nh++] = h_range;
            hdrs[nh++] = h_ifr;
            log_debug("%s: resuming the download of %s at %.1f MiB", o->what, logurl,
                      (double)part / MIB);
        } else if (have_cache &&
                   (header_value_ok(o->etag_in) || header_value_ok(o->last_modified_in))) {
            if (header_value_ok(o->etag_in)) {
                snprintf(h_inm, sizeof(h_inm), "If-None-Match: %s", o->etag_in);
                hdrs[nh++] = h_inm;
            }
            if (header_value_ok(o->last_modified_in)) {
                snprintf(h_ims, sizeof(h_ims), "If-Modified-Since: %s", o->last_modified_in);
                hdrs[nh++] = h_ims;
            }
            conditional = 1;
            log_debug("%s: checking %s for a newer tarball", o->what, logurl);
        } else {
            log_debug("%s: downloading %s", o->what, logurl);
        }
        hdrs[nh] = NULL;

        s.what = o->what;
        s.P = P;
        s.tick = o->tick;
        s.tick_ctx = o->tick_ctx;
        s.resp = &resp;
        s.resume_from = part;
        s.mode = SINK_UNDECIDED;
        s.fd = -1;
        s.got = 0;
        s.total = -1;
        s.max_bytes = o->max_bytes;
        s.over = 0;
        s.over_announced = 0;
        s.started_ms = clock_mono_ms();
        s.last_log_ms = s.started_ms;

        tmo = o->timeout_ms;
        memset(&req, 0, sizeof(req));
        req.method = "GET";
        req.url = o->url;
        req.headers = hdrs;
        req.timeout_ms = deadline_cap_ms(o->deadline, tmo);
        req.connect_timeout_ms = deadline_cap_ms(o->deadline, CONNECT_TIMEOUT_MS);
        req.flags = o->flags;
        req.sink = sink_write;
        req.sink_ctx = &s;
        req.low_speed_ms = o->low_speed_ms;
        req.recv_buffer = RECV_BUFFER;
        http_response_reset(&resp);
        t0 = clock_mono_ms();
        rc = http_perform(&req, &resp);
        if (s.fd != -1) {
            /* Every received byte written and hashed (a kept partial must hold them all). */
            wrc = hashwriter_drain(s.hw);
            if (wrc != AGENT_OK && rc != AGENT_ERR_IO && rc != AGENT_ERR_NOMEM) {
                if (wrc == AGENT_ERR_IO)
                    log_err("%s: cannot write %s", o->what,
                            s.mode == SINK_APPEND ? P->part : P->fresh);
                rc = wrc;
            }
            if (rc == AGENT_OK && fsync(s.fd) == -1) {
                log_err("%s: fsync %s", o->what, s.mode == SINK_APPEND ? P->part : P->fresh);
                rc = AGENT_ERR_IO;
            }
            if (close(s.fd) == -1 && rc == AGENT_OK) {
                log_err("%s: close %s", o->what, s.mode == SINK_APPEND ? P->part : P->fresh);
                rc = AGENT_ERR_IO;
            }
            s.fd = -1;
        }

        if (rc == AGENT_ERR_TOOBIG && s.over > 0) {
            const char *key = o->max_bytes_key != NULL ? o->max_bytes_key : "the size limit";

            /* Definite: nothing of it is kept, and no retry would fit. */
            remove_file(o->what, P->fresh);
            remove_file(o->what, P->part);
            remove_file(o->what, P->ifrange);
            if (s.over_announced)
                log_errx("%s: download of %s refused: the server announces %lld bytes, over "
                         "%s = %lld; raise %s to accept a larger file",
                         o->what, logurl, s.over, key, (long long)o->max_bytes, key);
            else
                log_errx("%s: download of %s stopped: more than %s = %lld bytes received; "
                         "raise %s to accept a larger file",
                         o->what, logurl, key, (long long)o->max_bytes, key);
            set_detail(res, "download over %s = %lld bytes", key, (long long)o->max_bytes);
            goto out;
        }
        if (rc != AGENT_OK) {
            int progress = s.got > 0;

            if (s.mode == SINK_FRESH && resp.status == 200 && s.got > 0) {
                /* Keep what came of a full body, when it can be resumed later. */
                resume_validator(&resp, ifr, sizeof(ifr));
                if (ifr[0] != '\0' && rename(P->fresh, P->part) == 0 &&
                    write_ifrange(P, ifr) == AGENT_OK) {
                    log_debug("%s: kept %.1f MiB for resuming", o->what, (double)s.got / MIB);
                } else {
                    remove_file(o->what, P->part);
                    remove_file(o->what, P->ifrange);
                }
            }
            remove_file(o->what, P->fresh);
            if (rc != AGENT_ERR_NET && rc != AGENT_ERR_TIMEOUT) {
                /* The sink and the fsync above logged their own failures. */
                if (resp.fail != HTTP_FAIL_ABORTED && resp.error[0] != '\0')
                    log_errx("%s: download of %s: %s", o->what, logurl, resp.error);
                set_detail(res, "download failed: %s",
                           resp.error[0] != '\0' ? resp.error : agent_rc_str(rc));
                goto out;
            }
            if (progress && attempt < o->attempts &&
                deadline_left_ms(o->deadline) > RETRY_PAUSE_MS) {
                log_warnx("%s: download of %s interrupted after %.1f MiB (%s); resuming", o->what,
                          logurl, (double)s.got / MIB, resp.error);
                clock_sleep_ms(RETRY_PAUSE_MS);
                continue;
            }
            log_errx("%s: download of %s failed: %s", o->what, logurl, resp.error);
            set_detail(res, "download failed: %s", resp.error);
            goto out;
        }

        if (resp.status == 416 && part > 0 && attempt < o->attempts) {
            log_warnx("%s: the server refused to resume (HTTP 416); starting over", o->what);
            remove_file(o->what, P->part);
            remove_file(o->what, P->ifrange);
            remove_file(o->what, P->fresh);
            continue;
        }
        if (resp.status == 304 && conditional) {
            remove_file(o->what, P->fresh);
            copy_validator(&resp, "ETag", res->etag, sizeof(res->etag));
            if (res->etag[0] == '\0')
                snprintf(res->etag, sizeof(res->etag), "%s", o->etag_in != NULL ? o->etag_in : "");
            copy_validator(&resp, "Last-Modified", res->last_modified, sizeof(res->last_modified));
            if (res->last_modified[0] == '\0')
                snprintf(res->last_modified, sizeof(res->last_modified), "%s",
                         o->last_modified_in != NULL ? o->last_modified_in : "");
            log_debug("%s: %s not modified (HTTP 304); using the cached tarball", o->what, logurl);
            rc = download_sha256_file(o->what, P->file, res->sha256);
            goto out;
        }
        if (!(resp.status == 200 && s.mode == SINK_FRESH) &&
            !(resp.status == 206 && s.mode == SINK_APPEND)) {
            remove_file(o->what, P->fresh);
            if (resp.status == 200) {
                log_errx("%s: download of %s: empty body", o->what, logurl);
                set_detail(res, "download: empty body");
                rc = AGENT_ERR_PARSE;
            } else {
                rc = status_rc(resp.status);
                log_errx("%s: download of %s: HTTP %ld", o->what, logurl, resp.status);
                set_detail(res, "download: HTTP %ld", resp.status);
            }
            goto out;
        }

        /* A complete file: check it, then make it the cached tarball. */
        done_path = s.mode == SINK_APPEND ? P->part : P->fresh;
        if (s.total >= 0 && s.got + (s.mode == SINK_APPEND ? part : 0) != s.total) {
            log_errx("%s: download of %s: got %lld bytes, want %lld", o->what, logurl,
                     s.got + (s.mode == SINK_APPEND ? part : 0), s.total);
            set_detail(res, "download: incomplete body");
            remove_file(o->what, done_path);
            remove_file(o->what, P->ifrange);
            rc = AGENT_ERR_NET;
            goto out;
        }
        hashwriter_digest(s.hw, got_sha);
        if (o->want_sha256 != NULL && strcmp(got_sha, o->want_sha256) != 0) {
            log_errx("%s: checksum mismatch: got %s, want %s", o->what, got_sha, o->want_sha256);
            set_detail(res, "checksum mismatch: got %s, want %s", got_sha, o->want_sha256);
            remove_file(o->what, done_path);
            remove_file(o->what, P->ifrange);
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        /*
         * The old .source goes first (and durably), so that a crash never
         * leaves the new file under the old URL's name; the new one is
         * written once the file is in place.
         */
        remove_file(o->what, P->source);
        sync_dir(o->dir);
        if (rename(done_path, P->file) == -1) {
            log_err("%s: cannot rename %s to %s", o->what, done_path, P->file);
            set_detail(res, "cannot store the download");
            rc = AGENT_ERR_IO;
            goto out;
        }
        sync_dir(o->dir);
        {
            char line[66];

            snprintf(line, sizeof(line), "%s\n", P->url_key);
            if (fileio_write_atomic(P->source, line, strlen(line), 0600, FILEIO_QUIET) != AGENT_OK)
                log_warnx("%s: cannot write %s; the next run downloads again", o->what, P->source);
        }
        /* A 200 that answered a resume attempt makes the old partial obsolete. */
        remove_file(o->what, P->part);
        remove_file(o->what, P->ifrange);
        copy_validator(&resp, "ETag", res->etag, sizeof(res->etag));
        if (res->etag[0] == '\0' && s.mode == SINK_APPEND && ifr[0] == '"')
            snprintf(res->etag, sizeof(res->etag), "%s", ifr);
        copy_validator(&resp, "Last-Modified", res->last_modified, sizeof(res->last_modified));
        memcpy(res->sha256, got_sha, sizeof(res->sha256));
        res->downloaded = 1;
        log_debug("%s: downloaded %s (%.1f MiB in %.1f s, sha256 %s)", o->what, logurl,
                  (double)(s.got + (s.mode == SINK_APPEND ? part : 0)) / MIB,
                  (double)(clock_mono_ms() - t0) / 1000.0, got_sha);
        rc = AGENT_OK;
        goto out;
    }
out:
    if (s.fd != -1) {
        (void)hashwriter_drain(s.hw);
        close(s.fd);
    }
    hashwriter_free(s.hw);
    http_response_cleanup(&resp);
    return rc;
}

static int
make_path(char *out, const char *dir, const char *name, const char *suffix)
{
    return snprintf(out, DOWNLOAD_PATH_MAX, "%s/%s%s", dir, name, suffix) < DOWNLOAD_PATH_MAX;
}

/* The paths of the files in dir and the URL's key; 0 when a path is too long. */
static int
make_paths(struct paths *P, const char *dir, const char *name, const char *url)
{
    str_sha256_hex(url, strlen(url), P->url_key);
    return make_path(P->file, dir, name, "") && make_path(P->part, dir, name, ".part") &&
           make_path(P->ifrange, dir, name, ".part.ifrange") &&
           make_path(P->fresh, dir, name, ".new") && make_path(P->source, dir, name, ".source");
}

int
download_cached_from(const char *dir, const char *name, const char *url)
{
    struct paths P;

    return make_paths(&P, dir, name, url) && file_size(P.file) > 0 && source_matches(&P);
}

enum agent_rc
download_file(const struct download_opts *o, struct download_result *res)
{
    struct paths P;

    if (!make_paths(&P, o->dir, o->name, o->url)) {
        log_errx("%s: the download folder is too long", o->what);
        set_detail(res, "path too long");
        return AGENT_ERR_CONFIG;
    }
    return download(o, &P, res);
}
