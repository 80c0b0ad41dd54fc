/*
 * One idea that reads better whole (about 1,200 lines): AWS Signature
 * Version 4, pure, from the canonical request to the signature, with the
 * URI encoding and path canonicalisation it depends on.  Splitting it would
 * spread one algorithm over files that only make sense together.
 */
#include "aws/sigv4.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/str.h"

#define SCOPE_TERMINATOR "aws4_request"
#define MAX_ACCESS_KEY   128
#define MAX_SECRET       256
#define MAX_SCOPE_PART   64
#define MAX_METHOD       16

static const char hex_upper[] = "0123456789ABCDEF";

/*
 * Headers botocore never signs (SIGNED_HEADERS_BLACKLIST): hop-by-hop ones
 * and those a proxy or the HTTP library may rewrite.  Signing them would
 * make the signature depend on the transport.
 */
static const char *const unsigned_headers[] = {
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
};

/* Headers the signer itself adds; a caller passing one is a bug. */
static const char *const signer_headers[] = {
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
};

/* Query parameters presigning adds; the query must not have them already. */
static const char *const signer_query[] = {
    "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",           "X-Amz-Expires",
    "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Security-Token",
};

#define N_ITEMS(a) (sizeof(a) / sizeof((a)[0]))

static int
is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 3986 unreserved: the only bytes UriEncode leaves as they are. */
static int
is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int
is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* RFC 9110 tchar: what a header name may consist of. */
static int
is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* 1 when s[0..n) equals the C string lit. */
static int
span_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Byte-wise order of two spans, a shorter prefix first (Python's str order). */
static int
span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int d = memcmp(a, b, an < bn ? an : bn);

    if (d != 0)
        return d;
    if (an != bn)
        return an < bn ? -1 : 1;
    return 0;
}

/*
 * A scratch buffer as secret as the one it will be copied into, so a token
 * never passes through memory that is freed unwiped.
 */
static void
scratch_init(struct buf *tmp, const struct buf *like)
{
    if (like->secret)
        buf_init_secret(tmp, like->max);
    else
        buf_init(tmp, like->max);
}

/* Appends tmp to out in one step (out unchanged on failure) and frees tmp. */
static enum agent_rc
commit(struct buf *out, struct buf *tmp)
{
    enum agent_rc rc = AGENT_OK;

    if (tmp->len > 0)
        rc = buf_append(out, tmp->data, tmp->len);
    buf_cleanup(tmp);
    return rc;
}

static enum agent_rc
put_encoded(struct buf *b, unsigned char c, int encode_slash)
{
    char e[3];

    if (is_unreserved(c) || (c == '/' && !encode_slash))
        return buf_putc(b, (char)c);
    e[0] = '%';
    e[1] = hex_upper[c >> 4];
    e[2] = hex_upper[c & 0xf];
    return buf_append(b, e, 3);
}

/* The appenders below may leave b partly written on failure; callers build in scratch. */
static enum agent_rc
encode_append(struct buf *b, const char *s, size_t n, int encode_slash)
{
    enum agent_rc rc = AGENT_OK;
    size_t i;

    for (i = 0; i < n && rc == AGENT_OK; i++)
        rc = put_encoded(b, (unsigned char)s[i], encode_slash);
    return rc;
}

/* Percent-decodes s[0..n) and encodes each byte again (query names and values). */
static enum agent_rc
reencode_append(struct buf *b, const char *s, size_t n)
{
    enum agent_rc rc = AGENT_OK;
    size_t i = 0;

    while (i < n && rc == AGENT_OK) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (c == '%' && n - i >= 3) {
            hi = str_hex_value((unsigned char)s[i + 1]);
            lo = str_hex_value((unsigned char)s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                rc = put_encoded(b, (unsigned char)(hi * 16 + lo), 1);
                i += 3;
                continue;
            }
        }
        rc = put_encoded(b, c, 1);
        i++;
    }
    return rc;
}

/*
 * botocore's remove_dot_segments(): split on '/', drop empty and "."
 * segments, let ".." drop the previous one (never above the root), keep the
 * leading '/' and, when a segment is left, the trailing one.
 */
static enum agent_rc
normalize_append(struct buf *b, const char *path, size_t n)
{
    struct seg {
        const char *p;
        size_t n;
    } * segs;

    size_t nseg = 0, i = 0, k;
    enum agent_rc rc = AGENT_OK;

    if (n == 0)
        return buf_putc(b, '/');
    /* A kept segment takes at least one byte and one '/', so n / 2 + 1 suffice. */
    segs = malloc((n / 2 + 2) * sizeof(*segs));
    if (segs == NULL)
        return AGENT_ERR_NOMEM;
    while (i <= n) {
        size_t j = i;

        while (j < n && path[j] != '/')
            j++;
        if (j - i == 0 || span_is(path + i, j - i, ".")) {
            /* dropped */
        } else if (span_is(path + i, j - i, "..")) {
            if (nseg > 0)
                nseg--;
        } else {
            segs[nseg].p = path + i;
            segs[nseg].n = j - i;
            nseg++;
        }
        i = j + 1;
    }
    if (path[0] == '/')
        rc = buf_putc(b, '/');
    for (k = 0; k < nseg && rc == AGENT_OK; k++) {
        if (k > 0)
            rc = buf_putc(b, '/');
        if (rc == AGENT_OK)
            rc = buf_append(b, segs[k].p, segs[k].n);
    }
    if (rc == AGENT_OK && path[n - 1] == '/' && nseg > 0)
        rc = buf_putc(b, '/');
    free(segs);
    return rc;
}

static enum agent_rc
check_path(const char *path)
{
    const unsigned char *p;

    if (path == NULL || path[0] == '\0')
        return AGENT_OK;
    if (path[0] != '/') {
        log_errx("sigv4: request path does not start with '/'");
        return AGENT_ERR_INVAL;
    }
    for (p = (const unsigned char *)path; *p != '\0'; p++) {
        if (*p == '?' || *p == '#' || is_ctl(*p)) {
            log_errx("sigv4: request path holds '?', '#' or a control byte");
            return AGENT_ERR_INVAL;
        }
    }
    return AGENT_OK;
}

static enum agent_rc
check_query(const char *query)
{
    const unsigned char *p;

    if (query == NULL)
        return AGENT_OK;
    for (p = (const unsigned char *)query; *p != '\0'; p++) {
        if (*p == '#' || is_ctl(*p)) {
            log_errx("sigv4: request query holds '#' or a control byte");
            return AGENT_ERR_INVAL;
        }
    }
    return AGENT_OK;
}

static enum agent_rc
canonical_uri_append(struct buf *b, const char *path, int normalize)
{
    struct buf norm;
    enum agent_rc rc = AGENT_OK;
    size_t i, n;

    if (path == NULL || path[0] == '\0')
        return buf_putc(b, '/');
    n = strlen(path);
    if (normalize) {
        /* Encode after normalising: the wire's "%XX" is encoded a second time. */
        buf_init(&norm, SIGV4_MAX_CANONICAL);
        rc = normalize_append(&norm, path, n);
        if (rc == AGENT_OK)
            rc = encode_append(b, norm.data, norm.len, 0);
        buf_cleanup(&norm);
        return rc;
    }
    /* S3: as sent; only bytes that cannot travel raw get encoded. */
    i = 0;
    while (i < n && rc == AGENT_OK) {
        if (path[i] == '%' && n - i >= 3 && str_hex_value((unsigned char)path[i + 1]) >= 0 &&
            str_hex_value((unsigned char)path[i + 2]) >= 0) {
            rc = buf_append(b, path + i, 3);
            i += 3;
        } else {
            rc = put_encoded(b, (unsigned char)path[i], 0);
            i++;
        }
    }
    return rc;
}

/* One query parameter, encoded, as offsets into a shared buffer. */
struct qparam {
    size_t koff, klen, voff, vlen;
    const char *k, *v; /* set once the buffer stops moving */
};

static int
qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int d = span_cmp(x->k, x->klen, y->k, y->klen);

    return d != 0 ? d : span_cmp(x->v, x->vlen, y->v, y->vlen);
}

/* An already-encoded parameter added by presigning. */
struct qextra {
    const char *k;
    const char *v;
};

/*
 * The canonical query of query plus the extras (already encoded).  With
 * extras (presigning), a query already holding a signer's name is refused.
 */
static enum agent_rc
canonical_query_append(struct buf *b, const char *query, const struct qextra *extras,
                       size_t n_extras)
{
    struct qparam *params = NULL;
    struct buf enc;
    size_t count = 1, n = 0, i = 0, qn, k;
    enum agent_rc rc;

    qn = query == NULL ? 0 : strlen(query);
    for (k = 0; k < qn; k++)
        count += query[k] == '&';
    /* The buffer may hold the session token (an extra). */
    buf_init_secret(&enc, SIGV4_MAX_CANONICAL);
    params = calloc(count + n_extras, sizeof(*params));
    if (params == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    rc = AGENT_OK;
    while (i < qn && rc == AGENT_OK) {
        size_t j = i, eq;

        while (j < qn && query[j] != '&')
            j++;
        if (j > i) {
            eq = i;
            while (eq < j && query[eq] != '=')
                eq++;
            params[n].koff = enc.len;
            rc = reencode_append(&enc, query + i, eq - i);
            params[n].klen = enc.len - params[n].koff;
            params[n].voff = enc.len;
            if (rc == AGENT_OK && eq < j)
                rc = reencode_append(&enc, query + eq + 1, j - eq - 1);
            params[n].vlen = enc.len - params[n].voff;
            n++;
        }
        i = j + 1;
    }
    if (rc != AGENT_OK)
        goto out;
    if (n_extras > 0) {
        for (k = 0; k < n; k++) {
            size_t s;

            for (s = 0; s < N_ITEMS(signer_query); s++) {
                if (span_is(buf_cstr(&enc) + params[k].koff, params[k].klen, signer_query[s])) {
                    log_errx("sigv4: the query to presign already has %s", signer_query[s]);
                    rc = AGENT_ERR_INVAL;
                    goto out;
                }
            }
        }
    }
    for (k = 0; k < n_extras && rc == AGENT_OK; k++) {
        params[n].koff = enc.len;
        params[n].klen = strlen(extras[k].k);
        rc = buf_puts(&enc, extras[k].k);
        params[n].voff = enc.len;
        params[n].vlen = strlen(extras[k].v);
        if (rc == AGENT_OK)
            rc = buf_puts(&enc, extras[k].v);
        n++;
    }
    if (rc != AGENT_OK)
        goto out;
    for (k = 0; k < n; k++) {
        params[k].k = buf_cstr(&enc) + params[k].koff;
        params[k].v = buf_cstr(&enc) + params[k].voff;
    }
    qsort(params, n, sizeof(*params), qparam_cmp);
    for (k = 0; k < n && rc == AGENT_OK; k++) {
        if (k > 0)
            rc = buf_putc(b, '&');
        if (rc == AGENT_OK)
            rc = buf_append(b, params[k].k, params[k].klen);
        if (rc == AGENT_OK)
            rc = buf_putc(b, '=');
        if (rc == AGENT_OK)
            rc = buf_append(b, params[k].v, params[k].vlen);
    }
out:
    free(params);
    buf_cleanup(&enc);
    return rc;
}

/* One header to sign: lower-case name and trimmed value in a shared buffer. */
struct hentry {
    size_t noff, nlen, voff, vlen;
    size_t order; /* arrival order, so repeated names join as given */
    const char *n, *v;
};

static int
hentry_cmp(const void *a, const void *b)
{
    const struct hentry *x = a, *y = b;
    int d = span_cmp(x->n, x->nlen, y->n, y->nlen);

    if (d != 0)
        return d;
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

/* Trimall: no leading or trailing blanks, inner runs of blanks as one space. */
static enum agent_rc
trimall_append(struct buf *b, const char *v)
{
    enum agent_rc rc = AGENT_OK;
    const char *p = v;
    int pending = 0;

    while (is_blank((unsigned char)*p))
        p++;
    for (; *p != '\0' && rc == AGENT_OK; p++) {
        if (is_blank((unsigned char)*p)) {
            pending = 1;
            continue;
        }
        if (pending)
            rc = buf_putc(b, ' ');
        pending = 0;
        if (rc == AGENT_OK)
            rc = buf_putc(b, *p);
    }
    return rc;
}

/* 1 when name equals an entry of list, ignoring ASCII case. */
static int
in_list(const char *name, const char *const *list, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (str_casecmp(name, list[i]) == 0)
            return 1;
    }
    return 0;
}

static enum agent_rc
check_header(size_t i, const struct sigv4_header *h)
{
    const unsigned char *p;

    if (h->name == NULL || h->value == NULL || h->name[0] == '\0') {
        log_errx("sigv4: header %zu has no name or no value", i);
        return AGENT_ERR_INVAL;
    }
    for (p = (const unsigned char *)h->name; *p != '\0'; p++) {
        if (!is_tchar(*p)) {
            log_errx("sigv4: header %zu: the name is not an HTTP token", i);
            return AGENT_ERR_INVAL;
        }
    }
    for (p = (const unsigned char *)h->value; *p != '\0'; p++) {
        if ((is_ctl(*p) && *p != '\t') || *p >= 0x80) {
            /* The value is not logged: it may be a credential. */
            log_errx("sigv4: header %.64s: the value holds a control or non-ASCII byte", h->name);
            return AGENT_ERR_INVAL;
        }
    }
    return AGENT_OK;
}

/* An extra header the signer adds (name already lower-case). */
struct hextra {
    const char *name;
    const char *value;
};

/*
 * Appends the canonical header block ("name:value\n" per name) to block and
 * the signed header list ("host;x-amz-date") to signed_list.
 */
static enum agent_rc
canonical_headers_append(const struct sigv4_request *req, const struct hextra *extras,
                         size_t n_extras, struct buf *block, struct buf *signed_list)
{
    struct hentry *e = NULL;
    struct buf hb;
    size_t n = 0, i, k;
    int have_host = 0;
    enum agent_rc rc = AGENT_OK;

    if (req->n_headers > SIGV4_MAX_HEADERS) {
        log_errx("sigv4: more than %d headers to sign", SIGV4_MAX_HEADERS);
        return AGENT_ERR_TOOBIG;
    }
    if (req->n_headers > 0 && req->headers == NULL) {
        log_errx("sigv4: %zu headers announced but none given", req->n_headers);
        return AGENT_ERR_INVAL;
    }
    buf_init_secret(&hb, SIGV4_MAX_CANONICAL);
    e = calloc(req->n_headers + n_extras + 1, sizeof(*e));
    if (e == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < req->n_headers && rc == AGENT_OK; i++) {
        const struct sigv4_header *h = &req->headers[i];
        const char *c;

        rc = check_header(i, h);
        if (rc != AGENT_OK)
            goto out;
        if (in_list(h->name, signer_headers, N_ITEMS(signer_headers))) {
            log_errx("sigv4: header %s is added by the signer and must not be passed in", h->name);
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        /* Sent but not signed. */
        if (in_list(h->name, unsigned_headers, N_ITEMS(unsigned_headers)))
            continue;
        if (str_casecmp(h->name, "host") == 0)
            have_host = 1;
        e[n].noff = hb.len;
        for (c = h->name; *c != '\0' && rc == AGENT_OK; c++)
            rc = buf_putc(&hb, (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' : *c));
        e[n].nlen = hb.len - e[n].noff;
        e[n].voff = hb.len;
        rc = trimall_append(&hb, h->value);
        e[n].vlen = hb.len - e[n].voff;
        e[n].order = i;
        n++;
    }
    if (rc != AGENT_OK)
        goto out;
    if (!have_host) {
        log_errx("sigv4: the request has no Host header");
        rc = AGENT_ERR_INVAL;
        goto out;
    }
    for (k = 0; k < n_extras && rc == AGENT_OK; k++) {
        e[n].noff = hb.len;
        e[n].nlen = strlen(extras[k].name);
        rc = buf_puts(&hb, extras[k].name);
        e[n].voff = hb.len;
        if (rc == AGENT_OK)
            rc = trimall_append(&hb, extras[k].value);
        e[n].vlen = hb.len - e[n].voff;
        e[n].order = req->n_headers + k;
        n++;
    }
    if (rc != AGENT_OK)
        goto out;
    for (k = 0; k < n; k++) {
        e[k].n = buf_cstr(&hb) + e[k].noff;
        e[k].v = buf_cstr(&hb) + e[k].voff;
    }
    qsort(e, n, sizeof(*e), hentry_cmp);
    for (k = 0; k < n && rc == AGENT_OK; k++) {
        int first = k == 0 || span_cmp(e[k].n, e[k].nlen, e[k - 1].n, e[k - 1].nlen) != 0;
        int last = k + 1 == n || span_cmp(e[k].n, e[k].nlen, e[k + 1].n, e[k + 1].nlen) != 0;

        if (first) {
            if (k > 0)
                rc = buf_putc(signed_list, ';');
            if (rc == AGENT_OK)
                rc = buf_append(signed_list, e[k].n, e[k].nlen);
            if (rc == AGENT_OK)
                rc = buf_append(block, e[k].n, e[k].nlen);
            if (rc == AGENT_OK)
                rc = buf_putc(block, ':');
        } else {
            rc = buf_putc(block, ',');
        }
        if (rc == AGENT_OK)
            rc = buf_append(block, e[k].v, e[k].vlen);
        if (rc == AGENT_OK && last)
            rc = buf_putc(block, '\n');
    }
out:
    free(e);
    buf_cleanup(&hb);
    return rc;
}

static enum agent_rc
check_scope_part(const char *what, const char *s)
{
    size_t n = 0;

    if (s != NULL) {
        for (n = 0; s[n] != '\0'; n++) {
            unsigned char c = (unsigned char)s[n];

            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') ||
                n >= MAX_SCOPE_PART) {
                n = 0;
                break;
            }
        }
    }
    if (n == 0) {
        log_errx("sigv4: the %s is missing or not lower-case letters, digits and '-'", what);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

/* What the key derivation needs: secret, date, region, service. */
static enum agent_rc
check_scope(const struct sigv4_params *p)
{
    enum agent_rc rc;
    size_t n;

    if (p == NULL) {
        log_errx("sigv4: no signing parameters");
        return AGENT_ERR_INVAL;
    }
    n = p->secret_access_key == NULL ? 0 : strlen(p->secret_access_key);
    if (n == 0 || n > MAX_SECRET) {
        log_errx("sigv4: the secret access key is missing or longer than %d bytes", MAX_SECRET);
        return AGENT_ERR_INVAL;
    }
    rc = check_scope_part("region", p->region);
    if (rc == AGENT_OK)
        rc = check_scope_part("service", p->service);
    return rc;
}

static enum agent_rc
check_params(const struct sigv4_params *p, enum sigv4_mode mode)
{
    enum agent_rc rc = check_scope(p);
    size_t n;

    if (rc != AGENT_OK)
        return rc;
    for (n = 0; p->access_key_id != NULL && p->access_key_id[n] != '\0'; n++) {
        if (!is_alnum((unsigned char)p->access_key_id[n]) || n >= MAX_ACCESS_KEY) {
            n = 0;
            break;
        }
    }
    if (n == 0) {
        log_errx("sigv4: the access key id is missing or not 1-%d letters and digits",
                 MAX_ACCESS_KEY);
        return AGENT_ERR_INVAL;
    }
    if (p->session_token != NULL) {
        for (n = 0; p->session_token[n] != '\0'; n++) {
            unsigned char c = (unsigned char)p->session_token[n];

            if (c <= 0x20 || c >= 0x7f || n >= SIGV4_MAX_TOKEN) {
                n = 0;
                break;
            }
        }
        if (n == 0) {
            log_errx("sigv4: the session token is empty, longer than %d bytes or not "
                     "printable ASCII",
                     SIGV4_MAX_TOKEN);
            return AGENT_ERR_INVAL;
        }
    }
    if (mode == SIGV4_MODE_QUERY && (p->expires_s < 1 || p->expires_s > SIGV4_MAX_EXPIRES_S)) {
        log_errx("sigv4: presign expiry %" PRId64 " s is outside 1-%d", p->expires_s,
                 SIGV4_MAX_EXPIRES_S);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

static enum agent_rc
check_request(const struct sigv4_request *req)
{
    size_t n;
    enum agent_rc rc;

    if (req == NULL) {
        log_errx("sigv4: no request");
        return AGENT_ERR_INVAL;
    }
    for (n = 0; req->method != NULL && req->method[n] != '\0'; n++) {
        if (req->method[n] < 'A' || req->method[n] > 'Z' || n >= MAX_METHOD) {
            n = 0;
            break;
        }
    }
    if (n == 0) {
        log_errx("sigv4: the method is missing or not 1-%d upper-case letters", MAX_METHOD);
        return AGENT_ERR_INVAL;
    }
    if (req->body == NULL && req->body_len > 0) {
        log_errx("sigv4: a body of %zu bytes without data", req->body_len);
        return AGENT_ERR_INVAL;
    }
    if (req->payload_hash != NULL) {
        for (n = 0; req->payload_hash[n] != '\0'; n++) {
            unsigned char c = (unsigned char)req->payload_hash[n];

            if (!(is_alnum(c) || c == '-') || n >= SIGV4_MAX_PAYLOAD_HASH) {
                n = 0;
                break;
            }
        }
        if (n == 0) {
            log_errx("sigv4: the payload hash is empty, too long or not letters, digits and '-'");
            return AGENT_ERR_INVAL;
        }
    }
    rc = check_path(req->path);
    if (rc == AGENT_OK)
        rc = check_query(req->query);
    return rc;
}

static enum agent_rc
hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
            unsigned char out[SIGV4_KEY_LEN])
{
    unsigned int len = 0;

    if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)(n > 0 ? msg : ""), n, out,
             &len) == NULL ||
        len != SIGV4_KEY_LEN) {
        log_errx("sigv4: HMAC-SHA256 failed in OpenSSL");
        return AGENT_ERR_NOMEM;
    }
    return AGENT_OK;
}

/*
 * kDate = HMAC("AWS4" + secret, date), kRegion, kService, kSigning; every
 * intermediate key is wiped, and the output written only on success.
 */
static enum agent_rc
derive_key(const struct sigv4_params *p, const char *date8, unsigned char key[SIGV4_KEY_LEN])
{
    unsigned char k1[SIGV4_KEY_LEN], k2[SIGV4_KEY_LEN];
    struct buf seed;
    enum agent_rc rc;

    buf_init_secret(&seed, 4 + MAX_SECRET);
    rc = buf_puts(&seed, "AWS4");
    if (rc == AGENT_OK)
        rc = buf_puts(&seed, p->secret_access_key);
    if (rc == AGENT_OK)
        rc = hmac_sha256(seed.data, seed.len, date8, 8, k1);
    if (rc == AGENT_OK)
        rc = hmac_sha256(k1, sizeof(k1), p->region, strlen(p->region), k2);
    if (rc == AGENT_OK)
        rc = hmac_sha256(k2, sizeof(k2), p->service, strlen(p->service), k1);
    if (rc == AGENT_OK)
        rc = hmac_sha256(k1, sizeof(k1), SCOPE_TERMINATOR, strlen(SCOPE_TERMINATOR), k2);
    if (rc == AGENT_OK)
        memcpy(key, k2, SIGV4_KEY_LEN);
    str_wipe(k1, sizeof(k1));
    str_wipe(k2, sizeof(k2));
    buf_cleanup(&seed);
    return rc;
}

static enum agent_rc
sign_sts(const struct sigv4_params *p, const char *date8, const char *sts, size_t sts_len,
         char out[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    unsigned char key[SIGV4_KEY_LEN], mac[SIGV4_KEY_LEN];
    char hex[SIGV4_SIGNATURE_HEX_LEN + 1];
    enum agent_rc rc;

    rc = derive_key(p, date8, key);
    if (rc == AGENT_OK)
        rc = hmac_sha256(key, sizeof(key), sts, sts_len, mac);
    if (rc == AGENT_OK)
        rc = str_hex(mac, sizeof(mac), hex, sizeof(hex));
    if (rc == AGENT_OK)
        memcpy(out, hex, sizeof(hex));
    str_wipe(key, sizeof(key));
    str_wipe(mac, sizeof(mac));
    return rc;
}

/* Everything signing builds, kept for the outputs (Authorization, presigned query). */
struct canon {
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    char payload[SIGV4_MAX_PAYLOAD_HASH + 1];
    char expires[24];
    struct buf scope;          /* 20150830/us-east-1/service/aws4_request */
    struct buf signed_headers; /* host;x-amz-date */
    struct buf q_credential;   /* AKID%2F<scope>, encoded */
    struct buf q_signed;       /* host%3Bx-amz-date */
    struct buf q_token;        /* encoded token; secret */
    struct buf creq;           /* secret: may hold the token */
};

static void
canon_init(struct canon *c)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->scope, SIGV4_MAX_CANONICAL);
    buf_init(&c->signed_headers, SIGV4_MAX_CANONICAL);
    buf_init(&c->q_credential, SIGV4_MAX_CANONICAL);
    buf_init(&c->q_signed, SIGV4_MAX_CANONICAL);
    buf_init_secret(&c->q_token, SIGV4_MAX_CANONICAL);
    buf_init_secret(&c->creq, SIGV4_MAX_CANONICAL);
}

static void
canon_cleanup(struct canon *c)
{
    buf_cleanup(&c->scope);
    buf_cleanup(&c->signed_headers);
    buf_cleanup(&c->q_credential);
    buf_cleanup(&c->q_signed);
    buf_cleanup(&c->q_token);
    buf_cleanup(&c->creq);
}

static enum agent_rc
canon_query_extras(struct canon *c, const struct sigv4_params *p, struct qextra *x, size_t *n)
{
    enum agent_rc rc;

    rc = buf_puts(&c->q_credential, p->access_key_id);
    if (rc == AGENT_OK)
        rc = buf_puts(&c->q_credential, "%2F");
    if (rc == AGENT_OK)
        rc = encode_append(&c->q_credential, c->scope.data, c->scope.len, 1);
    if (rc == AGENT_OK)
        rc = encode_append(&c->q_signed, c->signed_headers.data, c->signed_headers.len, 1);
    if (rc == AGENT_OK && p->session_token != NULL)
        rc = encode_append(&c->q_token, p->session_token, strlen(p->session_token), 1);
    if (rc != AGENT_OK)
        return rc;
    *n = 0;
    x[(*n)++] = (struct qextra){"X-Amz-Algorithm", SIGV4_ALGORITHM};
    x[(*n)++] = (struct qextra){"X-Amz-Credential", buf_cstr(&c->q_credential)};
    x[(*n)++] = (struct qextra){"X-Amz-Date", c->amz_date};
    x[(*n)++] = (struct qextra){"X-Amz-Expires", c->expires};
    if (p->session_token != NULL && !p->omit_session_token)
        x[(*n)++] = (struct qextra){"X-Amz-Security-Token", buf_cstr(&c->q_token)};
    x[(*n)++] = (struct qextra){"X-Amz-SignedHeaders", buf_cstr(&c->q_signed)};
    return AGENT_OK;
}

/* Validates the inputs and builds the canonical request into c->creq. */
static enum agent_rc
canon_build(struct canon *c, const struct sigv4_request *req, const struct sigv4_params *p,
            enum sigv4_mode mode)
{
    struct hextra hx[3];
    struct qextra qx[6];
    struct buf block;
    size_t nhx = 0, nqx = 0;
    enum agent_rc rc;

    rc = check_params(p, mode);
    if (rc == AGENT_OK)
        rc = check_request(req);
    if (rc == AGENT_OK)
        rc = sigv4_amz_date(p->now, c->amz_date);
    if (rc != AGENT_OK)
        return rc;
    if (req->payload_hash != NULL)
        memcpy(c->payload, req->payload_hash, strlen(req->payload_hash) + 1);
    else
        str_sha256_hex(req->body_len > 0 ? req->body : "", req->body_len, c->payload);
    if (c->payload[0] == '\0') {
        log_errx("sigv4: SHA-256 of the body failed in OpenSSL");
        return AGENT_ERR_NOMEM;
    }
    (void)snprintf(c->expires, sizeof(c->expires), "%" PRId64, p->expires_s);
    rc = buf_printf(&c->scope, "%.8s/%s/%s/%s", c->amz_date, p->region, p->service,
                    SCOPE_TERMINATOR);
    if (rc != AGENT_OK)
        return rc;

    /* Header signing signs the headers it adds; presigning puts them in the query. */
    if (mode == SIGV4_MODE_HEADER) {
        hx[nhx++] = (struct hextra){"x-amz-date", c->amz_date};
        if (p->session_token != NULL && !p->omit_session_token)
            hx[nhx++] = (struct hextra){"x-amz-security-token", p->session_token};
        if (p->sign_body_header)
            hx[nhx++] = (struct hextra){"x-amz-content-sha256", c->payload};
    }
    buf_init_secret(&block, SIGV4_MAX_CANONICAL);
    rc = canonical_headers_append(req, hx, nhx, &block, &c->signed_headers);
    if (rc == AGENT_OK && mode == SIGV4_MODE_QUERY)
        rc = canon_query_extras(c, p, qx, &nqx);

    if (rc == AGENT_OK)
        rc = buf_puts(&c->creq, req->method);
    if (rc == AGENT_OK)
        rc = buf_putc(&c->creq, '\n');
    if (rc == AGENT_OK)
        rc = canonical_uri_append(&c->creq, req->path, p->normalize_path);
    if (rc == AGENT_OK)
        rc = buf_putc(&c->creq, '\n');
    if (rc == AGENT_OK)
        rc = canonical_query_append(&c->creq, req->query, qx, nqx);
    if (rc == AGENT_OK)
        rc = buf_putc(&c->creq, '\n');
    if (rc == AGENT_OK)
        rc = buf_append(&c->creq, block.data, block.len);
    if (rc == AGENT_OK)
        rc = buf_putc(&c->creq, '\n');
    if (rc == AGENT_OK)
        rc = buf_append(&c->creq, c->signed_headers.data, c->signed_headers.len);
    if (rc == AGENT_OK)
        rc = buf_putc(&c->creq, '\n');
    if (rc == AGENT_OK)
        rc = buf_puts(&c->creq, c->payload);
    buf_cleanup(&block);
    if (rc == AGENT_ERR_TOOBIG)
        log_errx("sigv4: the request is too big to sign (over %d bytes)", SIGV4_MAX_CANONICAL);
    else if (rc == AGENT_ERR_NOMEM)
        log_errx("sigv4: out of memory while signing");
    return rc;
}

static enum agent_rc
sts_append(struct buf *b, const char *amz_date, const struct buf *scope, const char *creq,
           size_t creq_len)
{
    char hash[65];

    str_sha256_hex(creq_len > 0 ? creq : "", creq_len, hash);
    if (hash[0] == '\0') {
        log_errx("sigv4: SHA-256 failed in OpenSSL");
        return AGENT_ERR_NOMEM;
    }
    return buf_printf(b, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amz_date, buf_cstr(scope), hash);
}

/* Builds, and signs: c->creq, the string to sign and the signature. */
static enum agent_rc
sign(struct canon *c, const struct sigv4_request *req, const struct sigv4_params *p,
     enum sigv4_mode mode, char sig[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    struct buf sts;
    enum agent_rc rc;

    rc = canon_build(c, req, p, mode);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&sts, SIGV4_MAX_CANONICAL);
    rc = sts_append(&sts, c->amz_date, &c->scope, c->creq.data, c->creq.len);
    if (rc == AGENT_OK)
        rc = sign_sts(p, c->amz_date, sts.data, sts.len, sig);
    buf_cleanup(&sts);
    return rc;
}

static enum agent_rc
add_header(struct sigv4_signed *s, const char *name, const char *value)
{
    char *v = str_dup(value);

    if (v == NULL)
        return AGENT_ERR_NOMEM;
    s->headers[s->n_headers].name = name;
    s->headers[s->n_headers].value = v;
    s->n_headers++;
    return AGENT_OK;
}

enum agent_rc
sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_params *p,
                   struct sigv4_signed *out)
{
    struct sigv4_signed res;
    struct canon c;
    struct buf auth;
    enum agent_rc rc;

    if (out == NULL) {
        log_errx("sigv4: no place for the signed headers");
        return AGENT_ERR_INVAL;
    }
    memset(&res, 0, sizeof(res));
    canon_init(&c);
    buf_init(&auth, SIGV4_MAX_CANONICAL);
    rc = sign(&c, req, p, SIGV4_MODE_HEADER, res.signature);
    if (rc == AGENT_OK)
        rc = buf_printf(&auth, "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                        SIGV4_ALGORITHM, p->access_key_id, buf_cstr(&c.scope),
                        buf_cstr(&c.signed_headers), res.signature);
    if (rc == AGENT_OK)
        rc = add_header(&res, "X-Amz-Date", c.amz_date);
    if (rc == AGENT_OK && p->session_token != NULL)
        rc = add_header(&res, "X-Amz-Security-Token", p->session_token);
    if (rc == AGENT_OK && p->sign_body_header)
        rc = add_header(&res, "X-Amz-Content-Sha256", c.payload);
    if (rc == AGENT_OK)
        rc = add_header(&res, "Authorization", buf_cstr(&auth));
    buf_cleanup(&auth);
    canon_cleanup(&c);
    if (rc != AGENT_OK) {
        if (rc == AGENT_ERR_NOMEM)
            log_errx("sigv4: out of memory while signing");
        sigv4_signed_cleanup(&res);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = res;
    return AGENT_OK;
}

void
sigv4_signed_cleanup(struct sigv4_signed *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n_headers && i < SIGV4_MAX_ADDED; i++)
        str_free_secret(s->headers[i].value);
    memset(s, 0, sizeof(*s));
}

enum agent_rc
sigv4_presign_query(const struct sigv4_request *req, const struct sigv4_params *p, struct buf *out)
{
    char sig[SIGV4_SIGNATURE_HEX_LEN + 1];
    struct canon c;
    struct buf tmp;
    enum agent_rc rc;

    canon_init(&c);
    scratch_init(&tmp, out);
    rc = sign(&c, req, p, SIGV4_MODE_QUERY, sig);
    /* The order of the vectors' query-signed-request.txt. */
    if (rc == AGENT_OK)
        rc = buf_printf(&tmp,
                        "X-Amz-Algorithm=%s&X-Amz-Credential=%s&X-Amz-Date=%s"
                        "&X-Amz-SignedHeaders=%s&X-Amz-Expires=%s",
                        SIGV4_ALGORITHM, buf_cstr(&c.q_credential), c.amz_date,
                        buf_cstr(&c.q_signed), c.expires);
    if (rc == AGENT_OK && p->session_token != NULL)
        rc = buf_printf(&tmp, "&X-Amz-Security-Token=%s", buf_cstr(&c.q_token));
    if (rc == AGENT_OK)
        rc = buf_printf(&tmp, "&X-Amz-Signature=%s", sig);
    if (rc == AGENT_OK) {
        rc = commit(out, &tmp);
    } else {
        buf_cleanup(&tmp);
    }
    canon_cleanup(&c);
    return rc;
}

enum agent_rc
sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_params *p,
                        enum sigv4_mode mode, struct buf *out)
{
    struct canon c;
    enum agent_rc rc;

    canon_init(&c);
    rc = canon_build(&c, req, p, mode);
    if (rc == AGENT_OK && c.creq.len > 0)
        rc = buf_append(out, c.creq.data, c.creq.len);
    canon_cleanup(&c);
    return rc;
}

enum agent_rc
sigv4_string_to_sign(const struct sigv4_params *p, const char *creq, size_t creq_len,
                     struct buf *out)
{
    char date[SIGV4_AMZ_DATE_LEN + 1];
    struct buf scope, tmp;
    enum agent_rc rc;

    if (creq == NULL && creq_len > 0)
        return AGENT_ERR_INVAL;
    rc = check_scope(p);
    if (rc == AGENT_OK)
        rc = sigv4_amz_date(p->now, date);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&scope, SIGV4_MAX_CANONICAL);
    scratch_init(&tmp, out);
    rc = buf_printf(&scope, "%.8s/%s/%s/%s", date, p->region, p->service, SCOPE_TERMINATOR);
    if (rc == AGENT_OK)
        rc = sts_append(&tmp, date, &scope, creq, creq_len);
    if (rc == AGENT_OK)
        rc = commit(out, &tmp);
    else
        buf_cleanup(&tmp);
    buf_cleanup(&scope);
    return rc;
}

enum agent_rc
sigv4_signing_key(const struct sigv4_params *p, unsigned char key[SIGV4_KEY_LEN])
{
    char date[SIGV4_AMZ_DATE_LEN + 1];
    enum agent_rc rc;

    rc = check_scope(p);
    if (rc == AGENT_OK)
        rc = sigv4_amz_date(p->now, date);
    if (rc == AGENT_OK)
        rc = derive_key(p, date, key);
    return rc;
}

enum agent_rc
sigv4_signature(const struct sigv4_params *p, const char *sts, size_t sts_len,
                char out[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    char date[SIGV4_AMZ_DATE_LEN + 1];
    enum agent_rc rc;

    if (sts == NULL && sts_len > 0)
        return AGENT_ERR_INVAL;
    rc = check_scope(p);
    if (rc == AGENT_OK)
        rc = sigv4_amz_date(p->now, date);
    if (rc == AGENT_OK)
        rc = sign_sts(p, date, sts_len > 0 ? sts : "", sts_len, out);
    return rc;
}

enum agent_rc
sigv4_amz_date(time_t now, char out[SIGV4_AMZ_DATE_LEN + 1])
{
    struct tm tm;

    if (now < 0 || gmtime_r(&now, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        log_errx("sigv4: the signing time is before 1970 or after 9999");
        return AGENT_ERR_INVAL;
    }
    if (strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_LEN) {
        log_errx("sigv4: the signing time cannot be formatted");
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

enum agent_rc
sigv4_uri_encode(const char *s, size_t n, int encode_slash, struct buf *out)
{
    struct buf tmp;
    enum agent_rc rc;

    if (s == NULL && n > 0)
        return AGENT_ERR_INVAL;
    scratch_init(&tmp, out);
    rc = encode_append(&tmp, s, n, encode_slash);
    if (rc == AGENT_OK)
        return commit(out, &tmp);
    buf_cleanup(&tmp);
    return rc;
}

enum agent_rc
sigv4_normalize_path(const char *path, size_t n, struct buf *out)
{
    struct buf tmp;
    enum agent_rc rc;

    if (path == NULL && n > 0)
        return AGENT_ERR_INVAL;
    scratch_init(&tmp, out);
    rc = normalize_append(&tmp, path, n);
    if (rc == AGENT_OK)
        return commit(out, &tmp);
    buf_cleanup(&tmp);
    return rc;
}

enum agent_rc
sigv4_canonical_uri(const char *path, int normalize, struct buf *out)
{
    struct buf tmp;
    enum agent_rc rc;

    rc = check_path(path);
    if (rc != AGENT_OK)
        return rc;
    scratch_init(&tmp, out);
    rc = canonical_uri_append(&tmp, path, normalize);
    if (rc == AGENT_OK)
        return commit(out, &tmp);
    buf_cleanup(&tmp);
    return rc;
}

enum agent_rc
sigv4_canonical_query(const char *query, struct buf *out)
{
    struct buf tmp;
    enum agent_rc rc;

    rc = check_query(query);
    if (rc != AGENT_OK)
        return rc;
    scratch_init(&tmp, out);
    rc = canonical_query_append(&tmp, query, NULL, 0);
    if (rc == AGENT_OK)
        return commit(out, &tmp);
    buf_cleanup(&tmp);
    return rc;
}
