#include "net/http_multi.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "core/clock.h"
#include "core/str.h"

struct item_ctx {
    struct http_multi_item *it;
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
    int toobig;
    int64_t t0;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
    struct item_ctx *x = arg;
    size_t len = size * n;

    if (buf_append(&x->it->resp.body, p, len) != AGENT_OK) {
        x->toobig = 1;
        return 0;
    }
    return len;
}

int
http_multi_plain_ok(const char *url)
{
    char host[64];
    struct in_addr a;
    const char *p, *end;
    uint32_t ip;

    if (http_url_plain_http_ok(url))
        return 1;
    if (url == NULL || strncmp(url, "http://", 7) != 0)
        return 0;
    p = url + 7;
    end = p + strcspn(p, ":/?#");
    if (end == p || (size_t)(end - p) >= sizeof(host) || memchr(p, '@', (size_t)(end - p)))
        return 0;
    memcpy(host, p, (size_t)(end - p));
    host[end - p] = '\0';
    if (inet_pton(AF_INET, host, &a) != 1)
        return 0;
    ip = ntohl(a.s_addr);
    return (ip >> 24) == 10 || (ip >> 20) == ((172u << 4) | 1u) ||
           (ip >> 16) == ((192u << 8) | 168u) || (ip >> 22) == ((100u << 2) | 1u) ||
           (ip >> 24) == 127;
}

/* Gives a new TLS connection the process's trust store (as http_perform's do). */
static CURLcode
on_ssl_ctx(CURL *h, void *sslctx, void *userp)
{
    (void)h;
    SSL_CTX_set1_cert_store((SSL_CTX *)sslctx, (X509_STORE *)userp);
    return CURLE_OK;
}

/* The TLS options of one transfer: the shared store, else (another TLS backend) AWS_CA_BUNDLE. */
static enum agent_rc
set_trust(CURL *h, struct http_response *resp)
{
    const char *ca = getenv("AWS_CA_BUNDLE");
    void *store = NULL;
    enum agent_rc rc = http_shared_trust_store(resp, &store);

    if (rc != AGENT_OK)
        return rc;
    if (curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK) {
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, store);
        curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    } else if (ca != NULL && ca[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    }
    return AGENT_OK;
}

static void
finish(struct item_ctx *x, CURLcode cc)
{
    struct http_response *r = &x->it->resp;
    double connect = 0;
    long status = 0;

    r->elapsed_ms = clock_mono_ms() - x->t0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME, &connect);
    r->connected = connect > 0;
    if (cc == CURLE_OK) {
        r->status = status;
        r->fail = HTTP_FAIL_NONE;
        x->it->rc = AGENT_OK;
        return;
    }
    buf_reset(&r->body);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        r->fail = HTTP_FAIL_RESOLVE;
        x->it->rc = AGENT_ERR_NET;
        break;
    case CURLE_COULDNT_CONNECT:
        r->fail = HTTP_FAIL_REFUSED;
        x->it->rc = AGENT_ERR_NET;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        r->fail = r->connected ? HTTP_FAIL_TIMEOUT : HTTP_FAIL_CONNECT_TIMEOUT;
        x->it->rc = AGENT_ERR_TIMEOUT;
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        r->fail = HTTP_FAIL_TOOBIG;
        x->it->rc = AGENT_ERR_TOOBIG;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        r->fail = HTTP_FAIL_TLS;
        x->it->rc = AGENT_ERR_NET;
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        r->fail = HTTP_FAIL_POLICY;
        x->it->rc = AGENT_ERR_INVAL;
        break;
    default:
        r->fail = HTTP_FAIL_OTHER;
        x->it->rc = AGENT_ERR_NET;
        break;
    }
    if (x->toobig) {
        r->fail = HTTP_FAIL_TOOBIG;
        x->it->rc = AGENT_ERR_TOOBIG;
    }
    snprintf(r->error, sizeof(r->error), "%s", http_fail_str(r->fail));
}

enum agent_rc
http_multi_get(struct http_multi_item *items, size_t n)
{
    struct item_ctx *xs;
    CURLM *m;
    CURLMsg *msg;
    size_t i;
    int running = 0, left;
    enum agent_rc rc = AGENT_OK;

    if (n == 0)
        return AGENT_OK;
    if (items == NULL)
        return AGENT_ERR_INVAL;
    xs = calloc(n, sizeof(*xs));
    m = curl_multi_init();
    if (xs == NULL || m == NULL) {
        free(xs);
        if (m != NULL)
            curl_multi_cleanup(m);
        return AGENT_ERR_NOMEM;
    }
    for (i = 0; i < n; i++) {
        struct item_ctx *x = &xs[i];
        struct http_multi_item *it = &items[i];
        const char *protos;

        x->it = it;
        x->t0 = clock_mono_ms();
        it->rc = AGENT_ERR_INVAL;
        it->resp.status = 0;
        it->resp.fail = HTTP_FAIL_POLICY;
        snprintf(it->resp.error, sizeof(it->resp.error), "%s", http_fail_str(HTTP_FAIL_POLICY));
        if (it->url == NULL || it->timeout_ms <= 0)
            continue;
        if (strncmp(it->url, "https://", 8) == 0)
            protos = "https";
        else if (http_multi_plain_ok(it->url))
            protos = "http";
        else
            continue; /* refused by policy before anything is sent */
        x->h = curl_easy_init();
        if (x->h == NULL) {
            rc = AGENT_ERR_NOMEM;
            continue;
        }
        if (strcmp(protos, "https") == 0 && set_trust(x->h, &it->resp) != AGENT_OK) {
            it->rc = AGENT_ERR_CONFIG; /* no trust store: nothing to verify with */
            curl_easy_cleanup(x->h);
            x->h = NULL;
            continue;
        }
        curl_easy_setopt(x->h, CURLOPT_URL, it->url);
        curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, protos);
        curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)it->timeout_ms);
        curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, (long)it->timeout_ms);
        curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(x->h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(x->h, CURLOPT_USERAGENT, "wcs-agent/" AGENT_VERSION);
        curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        if (curl_multi_add_handle(m, x->h) != CURLM_OK) {
            curl_easy_cleanup(x->h);
            x->h = NULL;
            rc = AGENT_ERR_NOMEM;
        }
    }
    do {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            struct item_ctx *x = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x != NULL)
                finish(x, msg->data.result);
        }
        if (running > 0 && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
            break;
    } while (running > 0);
    for (i = 0; i < n; i++) {
        if (xs[i].h == NULL)
            continue;
        curl_multi_remove_handle(m, xs[i].h);
        curl_easy_cleanup(xs[i].h);
    }
    curl_multi_cleanup(m);
    free(xs);
    return rc;
}
