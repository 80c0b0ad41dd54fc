#include "net/trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        X509 *x = parse_block(text.data + off, len);

        if (x == NULL)
            continue;
        ne = realloc(ix->e, (ix->n + 1) * sizeof(*ix->e));
        if (ne == NULL) {
            X509_free(x);
            goto out;
        }
        ix->e = ne;
        ix->e[ix->n].hash = name_hash(X509_get_subject_name(x));
        ix->e[ix->n].off = off;
        ix->e[ix->n].len = len;
        ix->n++;
        X509_free(x);
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
