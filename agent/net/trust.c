#include "net/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/log.h"
#include "net/namehash.h"

#define BUNDLE_MAX (16 * 1024 * 1024)
/* The bundle is read through a window this large (grown for a longer PEM block). */
#define WINDOW (64 * 1024)
/* Longest PEM block a lookup reads back. */
#define BLOCK_MAX (1024 * 1024)

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
 * One DER element at *p (before end) whose identifier octet is want (0x30
 * SEQUENCE, 0x02 INTEGER, 0xa0 [0]): its contents in [*c, *cend) and *p
 * past it.  0 when it is not there or malformed (an indefinite length
 * too).  clip: an element longer than what is left is taken as far as it
 * goes (the outer elements of a certificate of which only a prefix was
 * decoded).
 */
static int
der_elem(const unsigned char **p, const unsigned char *end, unsigned want, int clip,
         const unsigned char **c, const unsigned char **cend)
{
    const unsigned char *q = *p;
    size_t len, k;

    if (end - q < 2 || q[0] != want)
        return 0;
    len = q[1];
    q += 2;
    if ((len & 0x80) != 0) {
        k = len & 0x7f;
        if (k == 0 || k > 4 || (size_t)(end - q) < k)
            return 0;
        for (len = 0; k > 0; k--)
            len = len << 8 | *q++;
    }
    if (len > (size_t)(end - q) && !clip)
        return 0;
    *c = q;
    *cend = len > (size_t)(end - q) ? end : q + len;
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
    if (!der_elem(&p, end, 0x30, partial, &c, &cend))
        return 0;
    p = c;
    if (!der_elem(&p, cend, 0x30, partial, &c, &cend))
        return 0;
    p = c;
    end = cend;
    if (p < end && *p == 0xa0 && !der_elem(&p, end, 0xa0, 0, &c, &cend))
        return 0;
    if (!der_elem(&p, end, 0x02, 0, &c, &cend) || !der_elem(&p, end, 0x30, 0, &c, &cend) ||
        !der_elem(&p, end, 0x30, 0, &c, &cend) || !der_elem(&p, end, 0x30, 0, &c, &cend))
        return 0;
    *s = p;
    if (!der_elem(&p, end, 0x30, 0, &c, &cend))
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
    const char *p = NULL, *q;
    size_t i, k;

    for (i = 0; i < sizeof(heads) / sizeof(heads[0]) && p == NULL; i++) {
        k = strlen(heads[i]);
        if (n >= k && memcmp(pem, heads[i], k) == 0)
            p = pem + k;
    }
    if (p == NULL)
        return 0;
    *b = p;
    if ((size_t)(pem + n - p) < sizeof(end_mark) - 1)
        return 0;
    /* The END line, searched from the block's end, where it is. */
    for (q = pem + n - (sizeof(end_mark) - 1); q >= p; q--)
        if (*q == '-' && memcmp(q, end_mark, sizeof(end_mark) - 1) == 0) {
            *e = q;
            return 1;
        }
    return 0;
}

/* What a character is to base64: its value (0-63), SKIP (a blank), END ('-') or BAD. */
enum {
    SKIP = 64,
    BAD = 65,
    END = 66
};

/* Made from "A-Za-z0-9+/" (0-63), tab, newline, return and space (SKIP) and '-' (END). */
static const unsigned char b64_table[256] = {
    65, 65, 65, 65, 65, 65, 65, 65, 65, 64, 64, 65, 65, 64, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 64, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 62, 65, 66, 65, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 65, 65, 65, 65, 65, 65, 65, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 65, 65, 65, 65, 65,
    65, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
};

/*
 * Decodes the base64 of [*b, e) (blanks skipped) into out[0..cap), *b past
 * what was decoded: up to the padding, a '-' (the END line) or e, or as
 * far as cap holds whole groups.  The decoded length (0: nothing was left);
 * -1 on a character that is not base64 or a group cut short by the end.
 */
static long
b64_decode(const char **b, const char *e, unsigned char *out, size_t cap)
{
    const char *p = *b;
    unsigned long acc = 0;
    size_t k = 0;
    int got = 0;

    for (; p < e; p++) {
        unsigned v = b64_table[(unsigned char)*p];

        if (v < 64) {
            if (got == 0 && k + 3 > cap)
                break;
            acc = acc << 6 | v;
            if (++got == 4) {
                out[k] = (unsigned char)(acc >> 16);
                out[k + 1] = (unsigned char)(acc >> 8);
                out[k + 2] = (unsigned char)acc;
                k += 3;
                acc = 0;
                got = 0;
            }
        } else if (v == END) {
            break;
        } else if (v == BAD) {
            /* xx== is one byte, xxx= two; the padding ends the text. */
            if (*p != '=' || got < 2 || k + (size_t)got - 1 > cap)
                return -1;
            if (got == 2) {
                out[k++] = (unsigned char)(acc >> 4);
            } else {
                out[k++] = (unsigned char)(acc >> 10);
                out[k++] = (unsigned char)(acc >> 2);
            }
            *b = e;
            return (long)k;
        }
    }
    if (got != 0)
        return -1;
    *b = p;
    return (long)k;
}

/* Bytes of DER decoded first, then next: past the subject of nearly every CA. */
#define PREFIX_BYTES 384
#define PREFIX_MORE  768

int
trust_subject_hash(struct namehash *h, const char *pem, size_t n, unsigned long *out)
{
    unsigned char der[PREFIX_MORE], *full;
    const char *b, *e;
    const unsigned char *s, *send;
    long len, more;
    int ok = 0;

    if (!pem_body(pem, n, &b, &e))
        return 0;
    /* A prefix first, a longer one next: decoding the whole certificate
     * would cost four times more. */
    len = b64_decode(&b, e, der, PREFIX_BYTES);
    if (len > 0 && der_subject(der, (size_t)len, 1, &s, &send))
        return namehash_der(h, s, (size_t)(send - s), out);
    more = len > 0 ? b64_decode(&b, e, der + len, PREFIX_MORE - (size_t)len) : -1;
    if (more > 0 && der_subject(der, (size_t)(len + more), 1, &s, &send))
        return namehash_der(h, s, (size_t)(send - s), out);
    if (!pem_body(pem, n, &b, &e))
        return 0;
    full = malloc((size_t)(e - b) / 4 * 3 + 3);
    if (full != NULL) {
        len = b64_decode(&b, e, full, (size_t)(e - b) / 4 * 3 + 3);
        ok = len > 0 && der_subject(full, (size_t)len, 0, &s, &send) &&
             namehash_der(h, s, (size_t)(send - s), out);
    }
    free(full);
    return ok;
}

/* Reads n bytes at off of fd into p: 0, or -1 when they are not all there. */
static int
read_at(int fd, off_t off, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);

        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/*
 * The lookup: the certificates of the bundle whose subject is name, read
 * back from their PEM blocks (only those bytes) and added to the store
 * (which then answers from its cache).  Only the issuers a verification
 * asks for are ever kept.  A block that changed since the index was made
 * no longer parses or no longer has that subject, and is not taken.
 */
static int
by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name, X509_OBJECT *ret)
{
    struct index *ix = X509_LOOKUP_get_method_data(lu);
    unsigned long h;
    size_t i;
    int found = 0, fd;

    if (ix == NULL || type != X509_LU_X509 || name == NULL)
        return 0;
    h = name_hash(name);
    for (i = 0; i < ix->n && ix->e[i].hash != h; i++)
        ;
    if (i == ix->n)
        return 0;
    fd = open(ix->path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    for (; i < ix->n; i++) {
        char *blk;
        X509 *x = NULL;

        if (ix->e[i].hash != h || ix->e[i].len > BLOCK_MAX)
            continue;
        blk = malloc(ix->e[i].len);
        if (blk != NULL && read_at(fd, (off_t)ix->e[i].off, blk, ix->e[i].len) == 0)
            x = parse_block(blk, ix->e[i].len);
        free(blk);
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
    close(fd);
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

/* Adds the block at file offset off, n bytes, of text p to the index (when it is a certificate). */
static int
index_block(struct index *ix, struct namehash *h, const char *p, size_t off, size_t n)
{
    struct entry *ne;
    unsigned long hash;

    /* The subject's hash only: parsing each certificate whole would
     * decode its public key too, three quarters of a TLS run's CPU. */
    if (!trust_subject_hash(h, p, n, &hash))
        return 0;
    if (ix->n % 64 == 0) {
        ne = realloc(ix->e, (ix->n + 64) * sizeof(*ix->e));
        if (ne == NULL)
            return -1;
        ix->e = ne;
    }
    ix->e[ix->n].hash = hash;
    ix->e[ix->n].off = off;
    ix->e[ix->n].len = n;
    ix->n++;
    return 0;
}

/*
 * Parses the bundle once for its index, through a window of WINDOW bytes
 * (so neither the whole file nor its certificates are ever held).  -1 when
 * it cannot be read or holds no certificate.
 */
static int
build_index(const char *path, struct index *ix)
{
    struct namehash *h = namehash_new();
    char *w = NULL, *nw;
    size_t cap = WINDOW, have = 0, base = 0, fast, slow;
    int fd = -1, rc = -1, eof = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT)
            log_err("%s: open", path);
        goto out;
    }
    w = malloc(cap + 1);
    if (w == NULL || h == NULL)
        goto out;
    while (!eof) {
        size_t pos = 0, off, len, keep;
        const char *b;
        ssize_t r = read(fd, w + have, cap - have);

        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            log_err("%s: read", path);
            goto out;
        }
        eof = r == 0;
        have += (size_t)r;
        if (base + have > BUNDLE_MAX) {
            log_errx("%s: larger than %d bytes", path, BUNDLE_MAX);
            goto out;
        }
        w[have] = '\0';
        while (next_block(w, have, &pos, &off, &len))
            if (index_block(ix, h, w + off, base + off, len) != 0)
                goto out;
        /* Kept for the next read: a block begun but not ended, else a tail
         * that may hold the first characters of the next one's marker. */
        b = strstr(w + pos, pem_begin);
        if (b != NULL)
            keep = (size_t)(b - w);
        else
            keep = have - pos > sizeof(pem_begin) - 1 ? have - (sizeof(pem_begin) - 1) : pos;
        if (keep == 0 && have == cap) {
            nw = realloc(w, cap * 2 + 1);
            if (nw == NULL)
                goto out;
            w = nw;
            cap *= 2;
        }
        memmove(w, w + keep, have - keep);
        base += keep;
        have -= keep;
    }
    rc = ix->n > 0 ? 0 : -1;
    namehash_stats(h, &fast, &slow);
    log_trace("http: trust store: %zu certificates indexed in %s (%zu names hashed by OpenSSL)",
              ix->n, path, slow);
out:
    if (fd != -1)
        close(fd);
    free(w);
    namehash_free(h);
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
