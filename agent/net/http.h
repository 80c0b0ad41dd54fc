/*
 * http: the agent's only libcurl user.
 *
 * Policy, applied to every request: a per-request timeout and connect
 * timeout, a cap on the response body (enforced while receiving), a protocol
 * allow-list (https; plain http only when the request says HTTP_ALLOW_HTTP
 * and the host is loopback or the IMDS endpoint, checked on the address
 * before a socket is opened), TLS verification always on (AWS_CA_BUNDLE
 * replaces the trust store), no redirects unless HTTP_FOLLOW_REDIRECTS, no
 * proxy from the environment for IMDS.
 *
 * One process keeps one libcurl handle, so one kept-alive connection per
 * endpoint host serves the whole run (a connection the server closed is
 * replaced transparently), and builds one trust store, shared by every TLS
 * connection: AWS_CA_BUNDLE parsed once, or without it OpenSSL's hashed
 * certificate folder, looked up lazily.
 *
 * Tests replace the transport with http_set_transport(): no libcurl, no
 * network.
 */
#ifndef AGENT_NET_HTTP_H
#define AGENT_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

/*
 * Plain http allowed, but only to loopback hosts (127.0.0.0/8, ::1,
 * localhost) and the IMDS link-local addresses (169.254.169.254,
 * fd00:ec2::254).  Without it only https is allowed.
 */
#define HTTP_ALLOW_HTTP 0x1
/* Follow up to 5 redirects (never for signed requests). */
#define HTTP_FOLLOW_REDIRECTS 0x2
/* Do not use a proxy from the environment (IMDS). */
#define HTTP_NO_PROXY 0x4
/* The request's headers hold secrets: never write them to the trace log. */
#define HTTP_SECRET_HEADERS 0x8

/* How a request failed before any HTTP status arrived. */
enum http_fail {
    HTTP_FAIL_NONE,            /* a status was received */
    HTTP_FAIL_RESOLVE,         /* name resolution failed */
    HTTP_FAIL_REFUSED,         /* TCP connection refused */
    HTTP_FAIL_CONNECT_TIMEOUT, /* TCP connect did not finish in time */
    HTTP_FAIL_TIMEOUT,         /* connected, but no complete reply in time */
    HTTP_FAIL_TLS,             /* TLS handshake or verification failed */
    HTTP_FAIL_TOOBIG,          /* the body went past max_response */
    HTTP_FAIL_POLICY,          /* refused by the protocol or host policy, before sending */
    HTTP_FAIL_ABORTED,         /* the sink asked to stop */
    HTTP_FAIL_OTHER,           /* reset, protocol error, ... */
    HTTP_FAIL__MAX
};

/*
 * Called with each piece of the body when set (streaming downloads); return
 * 0 to go on, non-zero to abort the transfer (HTTP_FAIL_ABORTED).  The body
 * buffer of the response is then left empty.  When the non-zero value is an
 * enum agent_rc code, http_perform() returns it; otherwise AGENT_ERR_IO.
 */
typedef int (*http_sink_fn)(void *ctx, const void *data, size_t len);

struct http_request {
    const char *method;         /* "GET", "PUT", "POST", "HEAD" */
    const char *url;            /* absolute http(s) URL */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;           /* request body, or NULL */
    size_t body_len;
    int64_t timeout_ms;         /* whole request; required (> 0) */
    int64_t connect_timeout_ms; /* 0: same as timeout_ms */
    size_t max_response;        /* body cap in bytes; required (> 0) unless sink is set */
    unsigned flags;             /* HTTP_* above */
    http_sink_fn sink;          /* optional streaming body consumer */
    void *sink_ctx;
    int64_t low_speed_ms; /* optional: abort when under 1 byte/s for this long; 0 off */
    size_t recv_buffer;   /* optional: libcurl's receive buffer (a large download); 0 default */
};

struct http_response {
    long status;         /* HTTP status, 0 when none arrived */
    enum http_fail fail; /* why no status arrived */
    char error[256];     /* one-line description of a failure, "" on success */
    struct buf body;     /* the body (capped), unless a sink consumed it */
    struct buf headers;  /* raw header block of the final response, "Name: value\r\n" lines */
    int connected;       /* 1 when the TCP connection was established */
    int64_t elapsed_ms;  /* total time */
};

/*
 * Performs the request.  AGENT_OK when an HTTP status arrived (any status:
 * the caller judges it); otherwise resp->fail and resp->error say why, and
 * the code is AGENT_ERR_TIMEOUT (timeouts), AGENT_ERR_NET (resolve, refused,
 * reset, TLS handshake), AGENT_ERR_CONFIG (a certificate not trusted, a CA
 * bundle that cannot be loaded), AGENT_ERR_TOOBIG, AGENT_ERR_INVAL (policy), AGENT_ERR_INTR
 * (SIGTERM or SIGINT arrived: core/interrupt.h) or AGENT_ERR_NOMEM.
 * Nothing is logged except at trace level (headers redacted).  resp must be
 * initialised with http_response_init() and released with
 * http_response_cleanup().
 */
enum agent_rc http_perform(const struct http_request *req, struct http_response *resp);

/* Prepares resp with the body capped at max_body bytes. */
void http_response_init(struct http_response *resp, size_t max_body);

/* Empties resp for another attempt (keeps the body cap). */
void http_response_reset(struct http_response *resp);

void http_response_cleanup(struct http_response *resp);

/*
 * The value of the first header called name (case-insensitive) in the
 * response, copied into out[cap] with surrounding spaces removed.
 * AGENT_ERR_ABSENT when there is none, AGENT_ERR_TOOBIG when it does not fit.
 */
enum agent_rc http_response_header(const struct http_response *resp, const char *name, char *out,
                                   size_t cap);

/* "connection refused", "timed out after connecting", ... */
const char *http_fail_str(enum http_fail f);

/*
 * 1 when the URL's host is a loopback address (127.0.0.0/8, ::1, localhost).
 */
int http_url_is_loopback(const char *url);

/*
 * 1 when plain http may be used for url with HTTP_ALLOW_HTTP: an http URL
 * whose host is loopback or an IMDS address (169.254.169.254,
 * [fd00:ec2::254]).  0 for anything else, including https URLs.
 */
int http_url_plain_http_ok(const char *url);

/* The cap on the header block kept in http_response.headers. */
#define HTTP_MAX_HEADERS (64 * 1024)

/* The transport seam: tests install a function that answers requests. */
struct http_transport {
    enum agent_rc (*perform)(void *ctx, const struct http_request *req, struct http_response *resp);
    void *ctx;
};

/* Installs t (copied); NULL restores libcurl. */
void http_set_transport(const struct http_transport *t);

/* What the libcurl transport did in this process (trace log, tests, benchmarks). */
struct http_stats {
    unsigned long requests;    /* transfers performed */
    unsigned long connections; /* sockets opened */
    unsigned long reused;      /* transfers that needed no new connection */
    unsigned long trust_loads; /* trust stores built (at most 1) */
};

void http_get_stats(struct http_stats *out);

/* curl_global_init / cleanup; call once from main. */
/*
 * The process's trust store (an OpenSSL X509_STORE, opaque here), built on
 * first use as every TLS request of http_perform() uses it; for net/'s
 * other libcurl user (http_multi).  AGENT_OK and *out (owned by http, freed
 * by http_global_cleanup()); AGENT_ERR_CONFIG with resp's error filled when
 * the CA certificates cannot be loaded.
 */
enum agent_rc http_shared_trust_store(struct http_response *resp, void **out);

enum agent_rc http_global_init(void);

void http_global_cleanup(void);

/* "libcurl/7.88.1 OpenSSL/3.0.19 ..." for `version`. */
const char *http_library_version(void);

#endif
