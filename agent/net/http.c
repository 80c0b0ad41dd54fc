/*
 * One idea that reads better whole (about 900 lines): one HTTP request
 * through libcurl under the agent's policy (see http.h): the options, the
 * address check before connecting, the body cap while receiving, the
 * handle and trust store kept for the process, and the transport seam for
 * tests.  Split, each part would need the others' private state.
 */
#include "net/http.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/clock.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/str.h"
#include "net/trust.h"

/* The IMDS link-local addresses (aws.md §1.1). */
#define IMDS_IPV4 "169.254.169.254"
#define IMDS_IPV6 "fd00:ec2::254"

#define HTTP_MAX_REDIRS 5

/* Why our own callback stopped a transfer (CURLE_WRITE_ERROR is ambiguous). */
enum stop_cause {
    STOP_NONE,
    STOP_TOOBIG, /* body or header block over its cap */
    STOP_SINK,   /* the sink returned non-zero */
    STOP_NOMEM,
    STOP_POLICY, /* the prereq check refused the connected address */
    STOP_INTR    /* SIGTERM or SIGINT arrived (core/interrupt) */
};

/* State shared with the libcurl callbacks for one transfer. */
struct xfer {
    CURL *h;
    const struct http_request *req;
    struct http_response *resp;
    size_t cap;            /* body cap */
    enum stop_cause cause; /* set by a callback that stopped the transfer */
    int sink_rc;           /* the sink's return value */
    int allow_plain;       /* plain http allowed for this request */
    int refused_addr;      /* the open-socket check refused an address */
};

/*
 * Process-wide state of the libcurl transport.  One easy handle is kept
 * between requests (reset before each), so its connection cache keeps one
 * kept-alive connection per endpoint host for the whole run; one trust store
 * is built on the first https request and handed to every TLS connection.
 */
static CURL *reuse_handle;
static X509_STORE *trust;
static struct http_stats stats;

static struct http_transport transport;
static int have_transport;

static const char *const fail_names[HTTP_FAIL__MAX] = {
    [HTTP_FAIL_NONE] = "ok",
    [HTTP_FAIL_RESOLVE] = "could not resolve the host",
    [HTTP_FAIL_REFUSED] = "connection refused",
    [HTTP_FAIL_CONNECT_TIMEOUT] = "connect timed out",
    [HTTP_FAIL_TIMEOUT] = "timed out after connecting",
    [HTTP_FAIL_TLS] = "TLS failure",
    [HTTP_FAIL_TOOBIG] = "reply too big",
    [HTTP_FAIL_POLICY] = "refused by the protocol or host policy",
    [HTTP_FAIL_ABORTED] = "aborted by the receiver",
    [HTTP_FAIL_OTHER] = "transfer failed",
};

const char *
http_fail_str(enum http_fail f)
{
    if ((unsigned)f >= HTTP_FAIL__MAX)
        return "unknown failure";
    return fail_names[f];
}

void
http_response_init(struct http_response *resp, size_t max_body)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, max_body);
    buf_init(&resp->headers, HTTP_MAX_HEADERS);
}

void
http_response_reset(struct http_response *resp)
{
    resp->status = 0;
    resp->fail = HTTP_FAIL_NONE;
    resp->error[0] = '\0';
    buf_reset(&resp->body);
    buf_reset(&resp->headers);
    resp->connected = 0;
    resp->elapsed_ms = 0;
}

void
http_response_cleanup(struct http_response *resp)
{
    if (resp == NULL)
        return;
    buf_cleanup(&resp->body);
    buf_cleanup(&resp->headers);
}

enum agent_rc
http_response_header(const struct http_response *resp, const char *name, char *out, size_t cap)
{
    const char *p = resp->headers.data, *end, *eol, *v, *ve;
    size_t nlen = strlen(name);

    if (p == NULL || nlen == 0)
        return AGENT_ERR_ABSENT;
    end = p + resp->headers.len;
    for (; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) <= nlen || p[nlen] != ':' || str_ncasecmp(p, name, nlen) != 0)
            continue;
        /* Trim spaces, tabs and the CR of "\r\n" around the value. */
        v = p + nlen + 1;
        ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
            ve--;
        return str_copyn(out, cap, v, (size_t)(ve - v));
    }
    return AGENT_ERR_ABSENT;
}

/*
 * Classifies an address literal: 1 loopback, 2 an IMDS address, 0 other.
 * host may carry IPv6 brackets ("[::1]", as the URL API returns it).
 */
static int
classify_addr(const char *host)
{
    unsigned char a4[4], a6[16], imds6[16];
    char tmp[64];
    size_t n = strlen(host);

    if (inet_pton(AF_INET, host, a4) == 1) {
        if (a4[0] == 127)
            return 1;
        if (strcmp(host, IMDS_IPV4) == 0)
            return 2;
        return 0;
    }
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (str_copyn(tmp, sizeof(tmp), host + 1, n - 2) != AGENT_OK)
            return 0;
        host = tmp;
    }
    if (inet_pton(AF_INET6, host, a6) != 1)
        return 0;
    if (memcmp(a6, &in6addr_loopback, sizeof(a6)) == 0)
        return 1;
    if (inet_pton(AF_INET6, IMDS_IPV6, imds6) == 1 && memcmp(a6, imds6, sizeof(a6)) == 0)
        return 2;
    return 0;
}

/*
 * Parses url with the libcurl URL API (so that the host we judge is the host
 * libcurl connects to).  *https: 1 for https, 0 for http; *kind as
 * classify_addr, with "localhost" counted as loopback.  -1 when the URL is
 * not an absolute http(s) URL or carries an IPv6 zone id.
 */
static int
url_inspect(const char *url, CURLU **hout, int *https, int *kind)
{
    CURLU *h;
    char *scheme = NULL, *host = NULL, *zone = NULL;
    int ret = -1;

    if (url == NULL)
        return -1;
    h = curl_url();
    if (h == NULL)
        return -1;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone != NULL)
        goto out;
    if (str_casecmp(scheme, "https") == 0)
        *https = 1;
    else if (str_casecmp(scheme, "http") == 0)
        *https = 0;
    else
        goto out;
    if (str_casecmp(host, "localhost") == 0)
        *kind = 1;
    else
        *kind = classify_addr(host);
    ret = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(zone);
    if (ret == 0 && hout != NULL)
        *hout = h;
    else
        curl_url_cleanup(h);
    return ret;
}

int
http_url_is_loopback(const char *url)
{
    int https, kind;

    if (url_inspect(url, NULL, &https, &kind) != 0)
        return 0;
    return kind == 1;
}

int
http_url_plain_http_ok(const char *url)
{
    int https, kind;

    if (url_inspect(url, NULL, &https, &kind) != 0)
        return 0;
    return !https && kind != 0;
}

void
http_set_transport(const struct http_transport *t)
{
    if (t == NULL) {
        have_transport = 0;
        memset(&transport, 0, sizeof(transport));
        return;
    }
    transport = *t;
    have_transport = 1;
}

enum agent_rc
http_global_init(void)
{
    const curl_version_info_data *v;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_errx("http: libcurl initialisation failed");
        return AGENT_ERR_NOMEM;
    }
    /* CURLOPT_PROTOCOLS_STR, which the policy relies on, came in 7.85.0. */
    v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || v->version_num < 0x075500) {
        log_errx("http: libcurl %s is too old (7.85.0 or later needed)",
                 v != NULL ? v->version : "?");
        curl_global_cleanup();
        return AGENT_ERR_CONFIG;
    }
    return AGENT_OK;
}

void
http_global_cleanup(void)
{
    if (reuse_handle != NULL)
        curl_easy_cleanup(reuse_handle);
    reuse_handle = NULL;
    if (trust != NULL)
        trust_store_free(trust);
    trust = NULL;
    trust_global_cleanup();
    curl_global_cleanup();
}

void
http_get_stats(struct http_stats *out)
{
    *out = stats;
}

const char *
http_library_version(void)
{
    return curl_version();
}

/* The URL up to any query or fragment: presigned URLs carry secrets there. */
static int
url_loggable_len(const char *url)
{
    size_t n = strcspn(url, "?#");

    return n > 1024 ? 1024 : (int)n;
}

static void
set_error(struct http_response *resp, enum http_fail f, const char *detail)
{
    resp->fail = f;
    if (detail != NULL && detail[0] != '\0')
        snprintf(resp->error, sizeof(resp->error), "%s: %s", http_fail_str(f), detail);
    else
        snprintf(resp->error, sizeof(resp->error), "%s", http_fail_str(f));
}

/*
 * The trust store, built once (net/trust.c): AWS_CA_BUNDLE (indexed by one
 * parse; the CAs a connection needs are loaded when it asks), else a file
 * named by SSL_CERT_FILE, else OpenSSL's hashed certificate folder
 * (SSL_CERT_DIR or the built-in one), where certificates are looked up
 * lazily by issuer name, so the system bundle is never parsed.
 */
static enum agent_rc
trust_store(struct http_response *resp, X509_STORE **out)
{
    const char *file = getenv("AWS_CA_BUNDLE"), *dir = NULL, *what;
    X509_STORE *st;

    if (trust != NULL) {
        *out = trust;
        return AGENT_OK;
    }
    if (file == NULL || file[0] == '\0') {
        file = getenv(X509_get_default_cert_file_env());
        if (file == NULL || file[0] == '\0') {
            file = NULL;
            dir = getenv(X509_get_default_cert_dir_env());
            if (dir == NULL || dir[0] == '\0')
                dir = X509_get_default_cert_dir();
        }
    }
    what = file != NULL ? file : dir;
    st = trust_store_new(file, dir);
    if (st == NULL) {
        char detail[200];

        snprintf(detail, sizeof(detail), "cannot load the CA certificates from %.150s", what);
        set_error(resp, HTTP_FAIL_TLS, detail);
        return AGENT_ERR_CONFIG;
    }
    stats.trust_loads++;
    log_trace("http: trust store loaded from %s", what);
    trust = st;
    *out = trust;
    return AGENT_OK;
}

enum agent_rc
http_shared_trust_store(struct http_response *resp, void **out)
{
    X509_STORE *st = NULL;
    enum agent_rc rc = trust_store(resp, &st);

    *out = rc == AGENT_OK ? st : NULL;
    return rc;
}

/* Gives a new TLS connection the shared trust store (OpenSSL backend). */
static CURLcode
on_ssl_ctx(CURL *h, void *sslctx, void *userp)
{
    (void)h;
    SSL_CTX_set1_cert_store((SSL_CTX *)sslctx, (X509_STORE *)userp);
    return CURLE_OK;
}

/*
 * Checks what can be checked without I/O: a method made of capital letters,
 * a timeout, a body cap, header lines without CR or LF (header injection),
 * and the protocol/host policy.  Fills *allow_plain.
 */
static enum agent_rc
check_request(const struct http_request *req, struct http_response *resp, CURLU **uh,
              int *allow_plain)
{
    const char *m = req->method;
    size_t i;
    int https, kind;

    if (m == NULL || m[0] == '\0' || strlen(m) > 16) {
        set_error(resp, HTTP_FAIL_OTHER, "bad method");
        return AGENT_ERR_INVAL;
    }
    for (i = 0; m[i] != '\0'; i++) {
        if (m[i] < 'A' || m[i] > 'Z') {
            set_error(resp, HTTP_FAIL_OTHER, "bad method");
            return AGENT_ERR_INVAL;
        }
    }
    if (req->timeout_ms <= 0 || req->connect_timeout_ms < 0 || req->low_speed_ms < 0 ||
        (req->max_response == 0 && req->sink == NULL) ||
        (req->body == NULL && req->body_len != 0)) {
        set_error(resp, HTTP_FAIL_OTHER, "bad request parameters");
        return AGENT_ERR_INVAL;
    }
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if (strpbrk(req->headers[i], "\r\n") != NULL || strchr(req->headers[i], ':') == NULL) {
            set_error(resp, HTTP_FAIL_OTHER, "bad header line");
            return AGENT_ERR_INVAL;
        }
    }
    if (url_inspect(req->url, uh, &https, &kind) != 0) {
        set_error(resp, HTTP_FAIL_POLICY, "not an absolute http(s) URL");
        return AGENT_ERR_INVAL;
    }
    *allow_plain = (req->flags & HTTP_ALLOW_HTTP) != 0 && kind != 0;
    if (!https && !*allow_plain) {
        if (uh != NULL) {
            curl_url_cleanup(*uh);
            *uh = NULL;
        }
        set_error(resp, HTTP_FAIL_POLICY,
                  (req->flags & HTTP_ALLOW_HTTP) != 0
                      ? "plain http only to loopback or the IMDS address"
                      : "plain http not allowed");
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    enum agent_rc rc;
    int r;

    if (n == 0)
        return 0;
    if (x->req->sink != NULL) {
        r = x->req->sink(x->req->sink_ctx, data, n);
        if (r != 0) {
            x->cause = STOP_SINK;
            x->sink_rc = r;
            return 0;
        }
        return n;
    }
    if (n > x->cap || x->resp->body.len > x->cap - n) {
        x->cause = STOP_TOOBIG;
        return 0;
    }
    rc = buf_append(&x->resp->body, data, n);
    if (rc != AGENT_OK) {
        x->cause = rc == AGENT_ERR_TOOBIG ? STOP_TOOBIG : STOP_NOMEM;
        return 0;
    }
    return n;
}

/*
 * Keeps the header block of the last response only: a status line starts a
 * new block (redirects, 100 Continue).  The status line itself and the blank
 * line at the end are not kept.
 */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    enum agent_rc rc;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        buf_reset(&x->resp->headers);
        return n;
    }
    if (n <= 2 && (data[0] == '\r' || data[0] == '\n'))
        return n;
    rc = buf_append(&x->resp->headers, data, n);
    if (rc != AGENT_OK) {
        x->cause = rc == AGENT_ERR_TOOBIG ? STOP_TOOBIG : STOP_NOMEM;
        return 0;
    }
    return n;
}

/*
 * Runs once a connection is up, before the request is sent (also after each
 * redirect): marks the connection, and for plain http checks the address
 * actually connected to, so neither a redirect nor name resolution can take
 * a plain http request off loopback or the IMDS address.
 */
static int
on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    struct xfer *x = userp;
    char *scheme = NULL;

    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    x->resp->connected = 1;
    if (curl_easy_getinfo(x->h, CURLINFO_SCHEME, &scheme) != CURLE_OK || scheme == NULL) {
        x->cause = STOP_POLICY;
        return CURL_PREREQFUNC_ABORT;
    }
    if (str_casecmp(scheme, "https") == 0)
        return CURL_PREREQFUNC_OK;
    if (x->allow_plain && primary_ip != NULL && classify_addr(primary_ip) != 0)
        return CURL_PREREQFUNC_OK;
    x->cause = STOP_POLICY;
    return CURL_PREREQFUNC_ABORT;
}

/*
 * Runs before each new connection, with the address about to be connected:
 * a request that may use plain http never opens a socket to an address other
 * than loopback or the IMDS, unless the URL being fetched (after a redirect)
 * is https.  Refusing here keeps plain http off the network altogether.
 */
static curl_socket_t
on_opensocket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = userp;
    char ip[INET6_ADDRSTRLEN] = "";
    char *url = NULL;
    int ok = 1;

    (void)purpose;
    if (x->allow_plain) {
        if (curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL ||
            str_ncasecmp(url, "https://", 8) != 0) {
            if (a->family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&a->addr)->sin_addr, ip,
                          sizeof(ip));
            else if (a->family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr, ip,
                          sizeof(ip));
            ok = ip[0] != '\0' && classify_addr(ip) != 0;
        }
    }
    if (!ok) {
        x->refused_addr = 1;
        return CURL_SOCKET_BAD;
    }
    stats.connections++;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int
is_tls_error(CURLcode c)
{
    switch (c) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return 1;
    default:
        return 0;
    }
}

/* Stops the transfer when SIGTERM or SIGINT arrived. */
static int
on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct xfer *x = userp;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (interrupt_pending() == 0)
        return 0;
    x->cause = STOP_INTR;
    return 1;
}

/* Maps a libcurl failure to resp->fail / resp->error and an agent code. */
static enum agent_rc
map_failure(struct xfer *x, CURLcode c, const char *errbuf)
{
    struct http_response *resp = x->resp;
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);
    long os_errno = 0;
    curl_off_t ct = 0;

    if (c == CURLE_WRITE_ERROR || c == CURLE_ABORTED_BY_CALLBACK || x->cause != STOP_NONE) {
        switch (x->cause) {
        case STOP_TOOBIG:
            set_error(resp, HTTP_FAIL_TOOBIG, NULL);
            return AGENT_ERR_TOOBIG;
        case STOP_SINK:
            set_error(resp, HTTP_FAIL_ABORTED, NULL);
            if (x->sink_rc > 0 && x->sink_rc < AGENT_RC__MAX)
                return (enum agent_rc)x->sink_rc;
            return AGENT_ERR_IO;
        case STOP_NOMEM:
            set_error(resp, HTTP_FAIL_OTHER, "out of memory");
            return AGENT_ERR_NOMEM;
        case STOP_POLICY:
            set_error(resp, HTTP_FAIL_POLICY, "connected address not allowed for plain http");
            return AGENT_ERR_INVAL;
        case STOP_INTR:
            set_error(resp, HTTP_FAIL_ABORTED, "interrupted by a signal");
            return AGENT_ERR_INTR;
        case STOP_NONE:
            break;
        }
    }
    if (x->refused_addr && c == CURLE_COULDNT_CONNECT) {
        set_error(resp, HTTP_FAIL_POLICY, "address not allowed for plain http");
        return AGENT_ERR_INVAL;
    }
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        set_error(resp, HTTP_FAIL_RESOLVE, detail);
        return AGENT_ERR_NET;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(x->h, CURLINFO_OS_ERRNO, &os_errno);
        set_error(resp, os_errno == ECONNREFUSED ? HTTP_FAIL_REFUSED : HTTP_FAIL_OTHER, detail);
        return AGENT_ERR_NET;
    case CURLE_OPERATION_TIMEDOUT:
        /* The prereq callback marks a connection; the connect time is a second witness. */
        if (curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &ct) == CURLE_OK && ct > 0)
            resp->connected = 1;
        set_error(resp, resp->connected ? HTTP_FAIL_TIMEOUT : HTTP_FAIL_CONNECT_TIMEOUT, detail);
        return AGENT_ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        set_error(resp, HTTP_FAIL_TOOBIG, NULL);
        return AGENT_ERR_TOOBIG;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* A redirect to a protocol outside the allow-list. */
        set_error(resp, HTTP_FAIL_POLICY, detail);
        return AGENT_ERR_INVAL;
    case CURLE_TOO_MANY_REDIRECTS:
        set_error(resp, HTTP_FAIL_OTHER, detail);
        return AGENT_ERR_HTTP;
    case CURLE_OUT_OF_MEMORY:
        set_error(resp, HTTP_FAIL_OTHER, "out of memory");
        return AGENT_ERR_NOMEM;
    default:
        break;
    }
    if (is_tls_error(c)) {
        set_error(resp, HTTP_FAIL_TLS, detail);
        /* A certificate that is not trusted stays untrusted: not worth a retry. */
        if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE ||
            c == CURLE_SSL_ISSUER_ERROR || c == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
            return AGENT_ERR_CONFIG;
        return AGENT_ERR_NET;
    }
    set_error(resp, HTTP_FAIL_OTHER, detail);
    return AGENT_ERR_NET;
}

/* Wipes and frees a header list: the lines may hold tokens. */
static void
free_headers(struct curl_slist *l)
{
    struct curl_slist *p;

    for (p = l; p != NULL; p = p->next) {
        if (p->data != NULL)
            str_wipe(p->data, strlen(p->data));
    }
    curl_slist_free_all(l);
}

static int
has_header(const struct http_request *req, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if (str_ncasecmp(req->headers[i], name, n) == 0 && req->headers[i][n] == ':')
            return 1;
    }
    return 0;
}

/*
 * The request's header list.  libcurl's defaults that the caller did not ask
 * for are removed: "Expect: 100-continue" (an extra round trip) and the form
 * Content-Type that libcurl adds to any request with a body.
 */
static enum agent_rc
build_headers(const struct http_request *req, int with_body, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *t;
    size_t i;

    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        t = curl_slist_append(l, req->headers[i]);
        if (t == NULL)
            goto nomem;
        l = t;
    }
    if (!has_header(req, "Expect")) {
        t = curl_slist_append(l, "Expect:");
        if (t == NULL)
            goto nomem;
        l = t;
    }
    if (with_body && !has_header(req, "Content-Type")) {
        t = curl_slist_append(l, "Content-Type:");
        if (t == NULL)
            goto nomem;
        l = t;
    }
    *out = l;
    return AGENT_OK;
nomem:
    free_headers(l);
    return AGENT_ERR_NOMEM;
}

#define SETOPT(h, opt, val)                                  \
    do {                                                     \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
            goto setopt_failed;                              \
    } while (0)

static enum agent_rc
perform_curl(const struct http_request *req, struct http_response *resp, CURLU *uh, int allow_plain)
{
    struct xfer x;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    const char *protos = allow_plain ? "http,https" : "https";
    const char *m = req->method;
    X509_STORE *store = NULL;
    int with_body = 0;
    enum agent_rc rc;
    CURLcode c;
    long status = 0, nconn = 0;
    CURL *h;

    /* https is possible unless the request is plain http that cannot be redirected. */
    if (!allow_plain || str_ncasecmp(req->url, "https:", 6) == 0 ||
        (req->flags & HTTP_FOLLOW_REDIRECTS) != 0) {
        rc = trust_store(resp, &store);
        if (rc != AGENT_OK)
            return rc;
    }
    /* The kept handle, taken so that a nested request (from a sink) gets its own. */
    h = reuse_handle;
    reuse_handle = NULL;
    if (h != NULL)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    if (h == NULL) {
        set_error(resp, HTTP_FAIL_OTHER, "out of memory");
        return AGENT_ERR_NOMEM;
    }
    memset(&x, 0, sizeof(x));
    x.h = h;
    x.req = req;
    x.resp = resp;
    x.allow_plain = allow_plain;
    x.cap = req->max_response;
    if (x.cap == 0 || x.cap > resp->body.max)
        x.cap = resp->body.max;
    errbuf[0] = '\0';

    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
        with_body = 1;
    rc = build_headers(req, with_body, &hdrs);
    if (rc != AGENT_OK) {
        set_error(resp, HTTP_FAIL_OTHER, "out of memory");
        curl_easy_cleanup(h);
        return rc;
    }

    SETOPT(h, CURLOPT_CURLU, uh);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, protos);
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS,
           (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms : req->timeout_ms));
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (store != NULL) {
        /* libcurl loads nothing itself; the callback hands over the shared store. */
        if (curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK) {
            SETOPT(h, CURLOPT_SSL_CTX_DATA, store);
            SETOPT(h, CURLOPT_CAINFO, NULL);
            SETOPT(h, CURLOPT_CAPATH, NULL);
        } else if (getenv("AWS_CA_BUNDLE") != NULL && getenv("AWS_CA_BUNDLE")[0] != '\0') {
            /* A TLS backend other than OpenSSL: libcurl loads the bundle itself. */
            SETOPT(h, CURLOPT_CAINFO, getenv("AWS_CA_BUNDLE"));
        }
    }
    SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
    SETOPT(h, CURLOPT_OPENSOCKETDATA, &x);
    SETOPT(h, CURLOPT_MAXCONNECTS, 8L);
    if ((req->flags & HTTP_FOLLOW_REDIRECTS) != 0) {
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 1L);
        SETOPT(h, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRS);
    } else {
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    }
    if ((req->flags & HTTP_NO_PROXY) != 0)
        SETOPT(h, CURLOPT_NOPROXY, "*");
    SETOPT(h, CURLOPT_USERAGENT, "wcs-agent/" AGENT_VERSION);
    SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, &x);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, &x);
    SETOPT(h, CURLOPT_PREREQFUNCTION, on_prereq);
    SETOPT(h, CURLOPT_PREREQDATA, &x);
    SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(h, CURLOPT_XFERINFODATA, &x);
    SETOPT(h, CURLOPT_NOPROGRESS, 0L);
    /* Refuse early when Content-Length already says too much. */
    if (req->sink == NULL)
        SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.cap);
    if (req->recv_buffer > 0)
        SETOPT(h, CURLOPT_BUFFERSIZE, (long)req->recv_buffer);
    if (req->low_speed_ms > 0) {
        SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        SETOPT(h, CURLOPT_LOW_SPEED_TIME, (long)((req->low_speed_ms + 999) / 1000));
    }
    if (strcmp(m, "HEAD") == 0) {
        SETOPT(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0) {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(h, CURLOPT_POST, 1L);
        SETOPT(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(m, "POST") != 0)
            SETOPT(h, CURLOPT_CUSTOMREQUEST, m);
    }

    c = curl_easy_perform(h);
    stats.requests++;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn == 0 &&
        c == CURLE_OK)
        stats.reused++;
    resp->status = status;
    if (c == CURLE_OK && status > 0) {
        resp->connected = 1;
        resp->fail = HTTP_FAIL_NONE;
        rc = AGENT_OK;
    } else if (c == CURLE_OK) {
        set_error(resp, HTTP_FAIL_OTHER, "no HTTP status");
        rc = AGENT_ERR_NET;
    } else {
        rc = map_failure(&x, c, errbuf);
    }
    if (rc != AGENT_OK && req->sink != NULL)
        buf_reset(&resp->body);
    goto out;

setopt_failed:
    set_error(resp, HTTP_FAIL_OTHER, "libcurl refused an option");
    rc = AGENT_ERR_INVAL;
out:
    /* Keep the handle (and its connections) for the next request. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_CURLU, NULL);
    if (reuse_handle == NULL)
        reuse_handle = h;
    else
        curl_easy_cleanup(h);
    free_headers(hdrs);
    return rc;
}

enum agent_rc
http_perform(const struct http_request *req, struct http_response *resp)
{
    CURLU *uh = NULL;
    int64_t t0 = clock_mono_ms();
    int allow_plain = 0;
    enum agent_rc rc;
    int ulen;

    http_response_reset(resp);
    if (interrupt_pending() != 0) {
        set_error(resp, HTTP_FAIL_ABORTED, "interrupted by a signal");
        return AGENT_ERR_INTR;
    }
    rc = check_request(req, resp, &uh, &allow_plain);
    if (rc != AGENT_OK) {
        if (req->url != NULL)
            log_trace("http: %s %.*s: %s", req->method != NULL ? req->method : "?",
                      url_loggable_len(req->url), req->url, resp->error);
        return rc;
    }
    ulen = url_loggable_len(req->url);
    log_trace("http: %s %.*s", req->method, ulen, req->url);
    if (have_transport) {
        curl_url_cleanup(uh);
        rc = transport.perform(transport.ctx, req, resp);
        if (rc != AGENT_OK && resp->error[0] == '\0')
            set_error(resp, resp->fail == HTTP_FAIL_NONE ? HTTP_FAIL_OTHER : resp->fail, NULL);
    } else {
        rc = perform_curl(req, resp, uh, allow_plain);
        curl_url_cleanup(uh);
    }
    resp->elapsed_ms = clock_mono_ms() - t0;
    if (rc == AGENT_OK)
        log_trace("http: %s %.*s: HTTP %ld in %lld ms", req->method, ulen, req->url, resp->status,
                  (long long)resp->elapsed_ms);
    else
        log_trace("http: %s %.*s: %s", req->method, ulen, req->url, resp->error);
    return rc;
}
