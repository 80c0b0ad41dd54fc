#include "net/trust.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"

#define BUNDLE_MAX (16 * 1024 * 1024)

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

/* One certificate of the bundle: where its PEM block is and its subject's hash. */
struct entry {
    unsigned long hash;
    size_t off, len;
};

/* The lookup's data: the bundle's path and its index (no certificate kept). */
struct index {
    char *path;
    struct entry *e;
    size_t n;
};

static X509_LOOKUP_METHOD *bundle_method;

/* The next PEM certificate block of text[*pos..len): *off, *blen; 0 when none is left. */
static int
next_block(const char *text, size_t len, size_t *pos, size_t *off, size_t *blen)
{
    const char *b, *e;

    if (*pos >= len)
        return 0;
    b = strstr(text + *pos, pem_begin);
    if (b == NULL)
        return 0;
    e = strstr(b, pem_end);
    if (e == NULL)
        return 0;
    e += sizeof(pem_end) - 1;
    *off = (size_t)(b - text);
    *blen = (size_t)(e - b);
    *pos = (size_t)(e - text);
    return 1;
}

static X509 *
parse_block(const char *p, size_t n)
{
    BIO *bio = BIO_new_mem_buf(p, (int)n);
    X509 *x = NULL;

    if (bio != NULL) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    return x;
}

static unsigned long
name_hash(const X509_NAME *name)
{
    int ok = 0;
    unsigned long h = X509_NAME_hash_ex(name, NULL, NULL, &ok);

    return ok ? h : 0;
}

/*
 * One DER element at *p (before end) with tag want (a V_ASN1_* universal
 * tag, or 0x80 | n for the context tag [n]): its contents in [*c, *cend)
 * and *p past it.  0 when it is not there, malformed or not DER.  clip: an
 * element longer than what is left is taken as far as it goes (the outer
 * elements of a certificate of which only a prefix was decoded).
 */
static int
der_elem(const unsigned char **p, const unsigned char *end, int want, int clip,
         const unsigned char **c, const unsigned char **cend)
{
    const unsigned char *q = *p;
    long len;
    int tag, cls, r;

    if (q >= end || end - q > INT32_MAX)
        return 0;
    r = ASN1_get_object(&q, &len, &tag, &cls, (long)(end - q));
    if ((r & 0x01) != 0) /* an indefinite length: not DER */
        return 0;
    if ((r & 0x80) != 0) { /* only "too long" goes on, and only when clipping */
        int too_long = ERR_GET_REASON(ERR_peek_last_error()) == ASN1_R_TOO_LONG;

        ERR_clear_error();
        if (!clip || !too_long)
            return 0;
    }
    if ((want & 0x80) != 0 ? (cls != V_ASN1_CONTEXT_SPECIFIC || tag != (want & 0x7f))
                           : (cls != V_ASN1_UNIVERSAL || tag != want))
        return 0;
    if (len < 0 || (len > end - q && !clip))
        return 0;
    *c = q;
    *cend = len > end - q ? end : q + len;
    *p = *cend;
    return 1;
}

/* The subject Name of the DER certificate der[0..n) (or a prefix of it: partial): [*s, *send). */
static int
der_subject(const unsigned char *der, size_t n, int partial, const unsigned char **s,
            const unsigned char **send)
{
    const unsigned char *p = der, *end = der + n, *c, *cend;

    /* Certificate ::= SEQUENCE { tbsCertificate ::= SEQUENCE { version [0] OPTIONAL,
     *   serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE, validity SEQUENCE,
     *   subject SEQUENCE, ... }, ... } */
    if (!der_elem(&p, end, V_ASN1_SEQUENCE, partial, &c, &cend))
        return 0;
    p = c;
    if (!der_elem(&p, cend, V_ASN1_SEQUENCE, partial, &c, &cend))
        return 0;
    p = c;
    end = cend;
    if (p < end && *p == 0xa0 && !der_elem(&p, end, 0x80 | 0, 0, &c, &cend))
        return 0;
    if (!der_elem(&p, end, V_ASN1_INTEGER, 0, &c, &cend) ||
        !der_elem(&p, end, V_ASN1_SEQUENCE, 0, &c, &cend) ||
        !der_elem(&p, end, V_ASN1_SEQUENCE, 0, &c, &cend) ||
        !der_elem(&p, end, V_ASN1_SEQUENCE, 0, &c, &cend))
        return 0;
    *s = p;
    if (!der_elem(&p, end, V_ASN1_SEQUENCE, 0, &c, &cend))
        return 0;
    *send = p;
    return 1;
}

/* The base64 text of a certificate's PEM block pem[0..n): [*b, *e); 0 when it is not one. */
static int
pem_body(const char *pem, size_t n, const char **b, const char **e)
{
    static const char *const heads[] = {"-----BEGIN CERTIFICATE-----",
                                        "-----BEGIN TRUSTED CERTIFICATE-----",
                                        "-----BEGIN X509 CERTIFICATE-----"};
    static const char end_mark[] = "-----END ";
    const char *p = NULL;
    size_t i, k;

    for (i = 0; i < sizeof(heads) / sizeof(heads[0]) && p == NULL; i++) {
        k = strlen(heads[i]);
        if (n >= k && memcmp(pem, heads[i], k) == 0)
            p = pem + k;
    }
    if (p == NULL)
        return 0;
    *b = p;
    for (; (size_t)(p - pem) + sizeof(end_mark) - 1 <= n; p++)
        if (*p == '-' && memcmp(p, end_mark, sizeof(end_mark) - 1) == 0) {
            *e = p;
            return 1;
        }
    return 0;
}

/*
 * Decodes the base64 of [b, e) (line breaks and blanks skipped) into out:
 * at most max characters of it when max > 0 (a multiple of 4), else all.
 * The decoded length, or -1 on a character that is not base64.
 */
static long
b64_decode(const char *b, const char *e, size_t max, unsigned char *out, char *tmp)
{
    size_t n = 0, pad = 0;
    int len;

    for (; b < e && (max == 0 || n < max); b++) {
        unsigned char ch = (unsigned char)*b;

        if (ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t')
            continue;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/' || ch == '='))
            return -1;
        tmp[n++] = (char)ch;
    }
    if (n == 0 || n % 4 != 0 || n > INT32_MAX)
        return -1;
    while (pad < 2 && tmp[n - 1 - pad] == '=')
        pad++;
    len = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)n);
    return len < 0 ? -1 : (long)len - (long)pad;
}

/* The hash of the Name at der[0..n) (all of it); 0 when it is not one. */
static int
name_der_hash(const unsigned char *der, long n, unsigned long *out)
{
    const unsigned char *p = der;
    X509_NAME *nm = d2i_X509_NAME(NULL, &p, n);
    int ok = nm != NULL && p == der + n;

    if (ok)
        *out = name_hash(nm);
    X509_NAME_free(nm);
    return ok;
}

/* Base64 characters decoded first: 768 bytes of DER, past the subject of nearly every CA. */
#define PREFIX_CHARS 1024

int
trust_subject_hash(const char *pem, size_t n, unsigned long *out)
{
    char tmp[PREFIX_CHARS], *all = NULL;
    unsigned char der[PREFIX_CHARS / 4 * 3], *full = NULL;
    const char *b, *e;
    const unsigned char *s, *send;
    long len;
    int ok = 0;

    if (!pem_body(pem, n, &b, &e))
        return 0;
    /* A prefix first: decoding the whole certificate would cost four times more. */
    len = b64_decode(b, e, PREFIX_CHARS, der, tmp);
    if (len > 0 && der_subject(der, (size_t)len, 1, &s, &send))
        return name_der_hash(s, (long)(send - s), out);
    all = malloc((size_t)(e - b) + 1);
    full = malloc((size_t)(e - b) / 4 * 3 + 3);
    if (all != NULL && full != NULL) {
        len = b64_decode(b, e, 0, full, all);
        ok = len > 0 && der_subject(full, (size_t)len, 0, &s, &send) &&
             name_der_hash(s, (long)(send - s), out);
    }
    free(all);
    free(full);
    return ok;
}

/*
 * The lookup: the certificates of the bundle whose subject is name, parsed
 * from their PEM blocks and added to the store (which then answers from its
 * cache).  Only the issuers a verification asks for are ever kept.
 */
static int
by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name, X509_OBJECT *ret)
{
    struct index *ix = X509_LOOKUP_get_method_data(lu);
    unsigned long h;
    struct buf text;
    size_t i;
    int found = 0;

    if (ix == NULL || type != X509_LU_X509 || name == NULL)
        return 0;
    h = name_hash(name);
    for (i = 0; i < ix->n && ix->e[i].hash != h; i++)
        ;
    if (i == ix->n)
        return 0;
    buf_init(&text, BUNDLE_MAX);
    if (fileio_read(ix->path, &text) != AGENT_OK || text.data == NULL)
        goto out;
    for (; i < ix->n; i++) {
        X509 *x;

        if (ix->e[i].hash != h || ix->e[i].off + ix->e[i].len > text.len)
            continue;
        x = parse_block(text.data + ix->e[i].off, ix->e[i].len);
        if (x == NULL)
            continue;
        if (X509_NAME_cmp(X509_get_subject_name(x), name) == 0 &&
            X509_STORE_add_cert(X509_LOOKUP_get_store(lu), x) == 1 && !found &&
            X509_OBJECT_set1_X509(ret, x) == 1) {
            /*
             * A by-subject lookup lends ret the store's certificate, as
             * OpenSSL's own by_dir does: X509_STORE_CTX_get_by_subject takes
             * its own reference and never releases ret's.  So the reference
             * set1 took is given back; the store keeps the certificate.
             */
            found = 1;
            X509_free(x);
        }
        X509_free(x);
    }
out:
    buf_cleanup(&text);
    return found;
}

static void
free_index(X509_LOOKUP *lu)
{
    struct index *ix = X509_LOOKUP_get_method_data(lu);

    if (ix != NULL) {
        free(ix->path);
        free(ix->e);
        free(ix);
    }
    X509_LOOKUP_set_method_data(lu, NULL);
}

/* Parses the bundle once for its index.  -1 when it cannot be read or holds no certificate. */
static int
build_index(const char *path, struct index *ix)
{
    struct buf text;
    size_t pos = 0, off, len;
    struct entry *ne;
    int rc = -1;

    buf_init(&text, BUNDLE_MAX);
    if (fileio_read(path, &text) != AGENT_OK || text.data == NULL)
        goto out;
    while (next_block(text.data, text.len, &pos, &off, &len)) {
        unsigned long h;

        /* The subject's hash only: parsing each certificate whole would
         * decode its public key too, three quarters of a TLS run's CPU. */
        if (!trust_subject_hash(text.data + off, len, &h))
            continue;
        ne = realloc(ix->e, (ix->n + 1) * sizeof(*ix->e));
        if (ne == NULL)
            goto out;
        ix->e = ne;
        ix->e[ix->n].hash = h;
        ix->e[ix->n].off = off;
        ix->e[ix->n].len = len;
        ix->n++;
    }
    rc = ix->n > 0 ? 0 : -1;
out:
    buf_cleanup(&text);
    return rc;
}

static X509_STORE *
bundle_store(const char *path)
{
    struct index *ix = calloc(1, sizeof(*ix));
    X509_STORE *st = NULL;
    X509_LOOKUP *lu;

    if (ix == NULL)
        return NULL;
    ix->path = strdup(path);
    if (ix->path == NULL || build_index(path, ix) != 0)
        goto fail;
    if (bundle_method == NULL) {
        bundle_method = X509_LOOKUP_meth_new("wcs-agent indexed bundle");
        if (bundle_method == NULL ||
            X509_LOOKUP_meth_set_get_by_subject(bundle_method, by_subject) != 1 ||
            X509_LOOKUP_meth_set_free(bundle_method, free_index) != 1)
            goto fail;
    }
    st = X509_STORE_new();
    if (st == NULL)
        goto fail;
    lu = X509_STORE_add_lookup(st, bundle_method);
    if (lu == NULL || X509_LOOKUP_set_method_data(lu, ix) != 1)
        goto fail;
    log_trace("http: trust store: %zu certificates indexed in %s", ix->n, path);
    return st;
fail:
    X509_STORE_free(st);
    if (ix != NULL) {
        free(ix->path);
        free(ix->e);
        free(ix);
    }
    return NULL;
}

void *
trust_store_new(const char *file, const char *dir)
{
    X509_STORE *st;

    if (file != NULL)
        return bundle_store(file);
    st = X509_STORE_new();
    if (st != NULL && X509_STORE_load_path(st, dir) != 1) {
        X509_STORE_free(st);
        st = NULL;
    }
    return st;
}

void
trust_store_free(void *store)
{
    X509_STORE_free(store);
}

void
trust_global_cleanup(void)
{
    X509_LOOKUP_meth_free(bundle_method);
    bundle_method = NULL;
}
