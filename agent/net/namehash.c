#include "net/namehash.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Longest name taken on the fast path (a CA's subject is some 100-300 bytes). */
#define FAST_MAX 4096

struct namehash {
    EVP_MD *sha1;
    EVP_MD_CTX *ctx;
    size_t fast, slow;
};

struct namehash *
namehash_new(void)
{
    struct namehash *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->sha1 == NULL || h->ctx == NULL) {
        namehash_free(h);
        return NULL;
    }
    return h;
}

void
namehash_stats(const struct namehash *h, size_t *fast, size_t *slow)
{
    *fast = h != NULL ? h->fast : 0;
    *slow = h != NULL ? h->slow : 0;
}

void
namehash_free(struct namehash *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->sha1);
    free(h);
}

/*
 * One DER element at *p (before end): its tag byte, contents [*c, *c + *len)
 * and *p past it.  0 when it is not DER this path takes: a multi-byte tag,
 * an indefinite or non-minimal length, or contents running past end.
 */
static int
elem(const unsigned char **p, const unsigned char *end, unsigned *tag, const unsigned char **c,
     size_t *len)
{
    const unsigned char *q = *p;
    size_t l, k;

    if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
        return 0;
    *tag = q[0];
    l = q[1];
    q += 2;
    if ((l & 0x80) != 0) {
        k = l & 0x7f;
        if (k == 0 || k > 2 || (size_t)(end - q) < k || q[0] == 0)
            return 0;
        for (l = 0; k > 0; k--)
            l = l << 8 | *q++;
        if (l < 0x80)
            return 0;
    }
    if ((size_t)(end - q) < l)
        return 0;
    *c = q;
    *len = l;
    *p = q + l;
    return 1;
}

/* The DER length octets of len (< 65536) at o: how many. */
static size_t
put_len(unsigned char *o, size_t len)
{
    if (len < 0x80) {
        o[0] = (unsigned char)len;
        return 1;
    }
    if (len < 0x100) {
        o[0] = 0x81;
        o[1] = (unsigned char)len;
        return 2;
    }
    o[0] = 0x82;
    o[1] = (unsigned char)(len >> 8);
    o[2] = (unsigned char)len;
    return 3;
}

static size_t
len_size(size_t len)
{
    return len < 0x80 ? 1 : len < 0x100 ? 2 : 3;
}

/* OpenSSL's test of an OBJECT IDENTIFIER's contents (c2i_ASN1_OBJECT). */
static int
oid_ok(const unsigned char *o, size_t n)
{
    size_t i;

    if (n == 0 || (o[n - 1] & 0x80) != 0)
        return 0;
    for (i = 0; i < n; i++)
        if (o[i] == 0x80 && (i == 0 || (o[i - 1] & 0x80) == 0))
            return 0;
    return 1;
}

/* The blanks OpenSSL's canonical form trims and collapses (ossl_isspace). */
static int
blank(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/*
 * The canonical text of an ASCII value v[0..n) written at out (NULL: only
 * counted): blanks trimmed at both ends, each inner run of them one space,
 * A-Z lowercased.  Its length; -1 when v holds what this path leaves to
 * OpenSSL (a control character or a byte past ASCII).
 */
static long
canon_text(const unsigned char *v, size_t n, unsigned char *out)
{
    size_t b = 0, e = n, i, k = 0;

    for (i = 0; i < n; i++)
        if (!blank(v[i]) && (v[i] < 0x20 || v[i] > 0x7e))
            return -1;
    while (b < e && blank(v[b]))
        b++;
    while (e > b && blank(v[e - 1]))
        e--;
    for (i = b; i < e; i++) {
        unsigned char ch = v[i];

        if (blank(ch)) {
            while (blank(v[i + 1]))
                i++;
            ch = ' ';
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        }
        if (out != NULL)
            out[k] = ch;
        k++;
    }
    return (long)k;
}

/*
 * The canonical encoding of the Name der[0..n) at out (room for n bytes:
 * it is never longer): each RDN as SET { SEQUENCE { type, UTF8String } },
 * one after the other without the outer SEQUENCE, as OpenSSL's
 * x509_name_canon() builds it.  Its length; -1 when the name is not one
 * this path takes.
 */
static long
canon_name(const unsigned char *der, size_t n, unsigned char *out)
{
    const unsigned char *p = der, *end = der + n, *c, *q, *qend;
    size_t len, k = 0;
    unsigned tag;

    if (!elem(&p, end, &tag, &c, &len) || tag != 0x30 || p != end || len == 0)
        return -1;
    q = c;
    qend = c + len;
    while (q < qend) {
        const unsigned char *s, *a, *aend, *oid, *val, *t;
        size_t slen, alen, olen, vlen, seq;
        long clen;

        if (!elem(&q, qend, &tag, &s, &slen) || tag != 0x31)
            return -1;
        t = s;
        /* One attribute per RDN: OpenSSL sorts the members of a larger SET. */
        if (!elem(&t, s + slen, &tag, &a, &alen) || tag != 0x30 || t != s + slen)
            return -1;
        t = a;
        aend = a + alen;
        oid = t;
        if (!elem(&t, aend, &tag, &c, &olen) || tag != 0x06 || !oid_ok(c, olen))
            return -1;
        olen = (size_t)(t - oid);
        /* PrintableString, UTF8String, IA5String, T61String (OpenSSL does
         * not decode a VisibleString in a name at all). */
        if (!elem(&t, aend, &tag, &val, &vlen) || t != aend ||
            (tag != 0x13 && tag != 0x0c && tag != 0x16 && tag != 0x14))
            return -1;
        clen = canon_text(val, vlen, NULL);
        if (clen < 0)
            return -1;
        seq = olen + 1 + len_size((size_t)clen) + (size_t)clen;
        out[k++] = 0x31;
        k += put_len(out + k, 1 + len_size(seq) + seq);
        out[k++] = 0x30;
        k += put_len(out + k, seq);
        memcpy(out + k, oid, olen);
        k += olen;
        out[k++] = 0x0c;
        k += put_len(out + k, (size_t)clen);
        k += (size_t)canon_text(val, vlen, out + k);
    }
    return (long)k;
}

/* OpenSSL's own way: the name decoded, its canonical form made and hashed by OpenSSL. */
static int
openssl_hash(const unsigned char *der, size_t n, unsigned long *out)
{
    const unsigned char *p = der;
    X509_NAME *nm;
    int ok = 0;

    if (n > LONG_MAX)
        return 0;
    nm = d2i_X509_NAME(NULL, &p, (long)n);
    if (nm != NULL && p == der + n) {
        unsigned long v = X509_NAME_hash_ex(nm, NULL, NULL, &ok);

        if (ok)
            *out = v;
    }
    X509_NAME_free(nm);
    return ok;
}

int
namehash_der(struct namehash *h, const unsigned char *der, size_t n, unsigned long *out)
{
    unsigned char canon[FAST_MAX], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long k = -1;

    if (h != NULL && n <= FAST_MAX)
        k = canon_name(der, n, canon);
    if (k < 0 || EVP_DigestInit_ex2(h->ctx, h->sha1, NULL) != 1 ||
        EVP_DigestUpdate(h->ctx, canon, (size_t)k) != 1 ||
        EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen < 4) {
        if (h != NULL)
            h->slow++;
        return openssl_hash(der, n, out);
    }
    h->fast++;
    *out = (unsigned long)md[0] | (unsigned long)md[1] << 8 | (unsigned long)md[2] << 16 |
           (unsigned long)md[3] << 24;
    return 1;
}
