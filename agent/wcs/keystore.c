#include "wcs/keystore.h"

#include <sys/stat.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safepath.h"
#include "core/str.h"

#define SECS_PER_DAY 86400

/* Certificate names shown in messages; longer ones are cut with "...". */
#define NAME_CAP 256

/*
 * The parsed input.  certs[0] is the leaf, certs[1..n-1] its chain in the
 * order given; the first n_in_cert came from tls.certificate.
 */
struct material {
    X509 *certs[KEYSTORE_CERTS_MAX];
    int n;
    int n_in_cert;
    EVP_PKEY *key;
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void
material_free(struct material *m)
{
    int i;

    for (i = 0; i < m->n; i++)
        X509_free(m->certs[i]);
    m->n = 0;
    /* EVP_PKEY_free clears the key's private parts as it frees them. */
    EVP_PKEY_free(m->key);
    m->key = NULL;
}

/*
 * A certificate name as one printable line for messages.  The name comes
 * from the input, so control bytes become '?' (RFC 2253 printing already
 * escapes most of them) and a long name is cut with "...".
 */
static void
name_str(const X509_NAME *name, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    size_t i, w = 0;

    if (b == NULL || name == NULL || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        snprintf(out, cap, "(unreadable name)");
        BIO_free(b);
        return;
    }
    n = BIO_get_mem_data(b, &p);
    if (n <= 0 || p == NULL) {
        snprintf(out, cap, "(empty name)");
        BIO_free(b);
        return;
    }
    for (i = 0; i < (size_t)n && w + 1 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        out[w++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (i < (size_t)n && cap >= 4)
        memcpy(out + cap - 4, "...", 3);
    out[w] = '\0';
    BIO_free(b);
}

static void
subject_str(X509 *x, char *out, size_t cap)
{
    name_str(X509_get_subject_name(x), out, cap);
}

/* A PEM block name (from the input) made safe for a message. */
static void
block_name(const char *name, char *out, size_t cap)
{
    size_t i, w = 0;

    for (i = 0; name[i] != '\0' && w + 1 < cap && i < 40; i++) {
        unsigned char c = (unsigned char)name[i];
        out[w++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[w] = '\0';
}

static int
asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* Whole days from now to t, rounded down (so negative once t has passed). */
static int
days_until(time_t t, time_t now)
{
    long long d = (long long)t - (long long)now;
    long long days = d / SECS_PER_DAY;

    if (d < 0 && d % SECS_PER_DAY != 0)
        days--;
    if (days > INT_MAX)
        return INT_MAX;
    if (days < INT_MIN)
        return INT_MIN;
    return (int)days;
}

/* The one-line reason of the last OpenSSL error, for PEM damage. */
static const char *
ossl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());

    return r != NULL ? r : "unreadable";
}

/*
 * Reads one PEM block.  1 = a block, 0 = no more blocks, -1 = damage.  The
 * secure flag puts name, header and DER in OpenSSL's secure heap, which is
 * cleared when freed: the same reader serves the private key.
 */
static int
next_block(BIO *bio, char **name, char **header, unsigned char **der, long *len)
{
    unsigned long e;

    *name = NULL;
    *header = NULL;
    *der = NULL;
    *len = 0;
    ERR_clear_error();
    if (PEM_read_bio_ex(bio, name, header, der, len, PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) ==
        1)
        return 1;
    e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        return 0;
    return -1;
}

static void
block_free(char *name, char *header, unsigned char *der, long len)
{
    OPENSSL_secure_free(name);
    OPENSSL_secure_free(header);
    if (der != NULL)
        OPENSSL_secure_clear_free(der, (size_t)len);
}

static int
is_cert_block(const char *name)
{
    return strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0 ||
           strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
}

/*
 * Appends the certificates of one PEM input (src is its config key) to m.
 * Blocks of other types are skipped, as openssl(1) does; at least one
 * certificate is required.
 */
static enum agent_rc
read_certs(const char *src, const char *data, size_t len, struct material *m, char *err, size_t cap)
{
    BIO *bio;
    char *name, *header;
    unsigned char *der;
    long dlen;
    int block, r, found = 0;
    enum agent_rc rc = AGENT_ERR_PARSE;

    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        set_err(err, cap, "%s: out of memory", src);
        return AGENT_ERR_NOMEM;
    }
    for (block = 1;; block++) {
        const unsigned char *p;
        char bname[48];
        X509 *x;

        r = next_block(bio, &name, &header, &der, &dlen);
        if (r == 0)
            break;
        if (r < 0) {
            set_err(err, cap, "%s: PEM block %d is damaged (%s)", src, block, ossl_reason());
            goto out;
        }
        if (!is_cert_block(name)) {
            block_free(name, header, der, dlen);
            continue;
        }
        if (m->n == KEYSTORE_CERTS_MAX) {
            block_free(name, header, der, dlen);
            set_err(err, cap, "%s: more than %d certificates in tls.certificate and tls.chain", src,
                    KEYSTORE_CERTS_MAX);
            rc = AGENT_ERR_TOOBIG;
            goto out;
        }
        p = der;
        if (strcmp(name, PEM_STRING_X509_TRUSTED) == 0)
            x = d2i_X509_AUX(NULL, &p, dlen);
        else
            x = d2i_X509(NULL, &p, dlen);
        if (x == NULL || p != der + dlen) {
            X509_free(x);
            block_name(name, bname, sizeof(bname));
            block_free(name, header, der, dlen);
            set_err(err, cap, "%s: PEM block %d (%s) is not a valid X.509 certificate", src, block,
                    bname);
            goto out;
        }
        block_free(name, header, der, dlen);
        m->certs[m->n++] = x;
        found++;
    }
    if (found == 0) {
        set_err(err, cap, "%s holds no PEM certificate", src);
        goto out;
    }
    rc = AGENT_OK;
out:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/*
 * Reads the one private key of key_pem.  Other blocks (a certificate kept
 * in the same file) are skipped.  Messages never quote the key's bytes.
 */
static enum agent_rc
read_key(const char *data, size_t len, struct material *m, char *err, size_t cap)
{
    BIO *bio;
    char *name, *header;
    unsigned char *der;
    long dlen;
    int block, r, type;
    enum agent_rc rc = AGENT_ERR_PARSE;

    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        set_err(err, cap, "tls.private_key: out of memory");
        return AGENT_ERR_NOMEM;
    }
    for (block = 1;; block++) {
        const unsigned char *p;
        EVP_PKEY *k;
        size_t nl;

        r = next_block(bio, &name, &header, &der, &dlen);
        if (r == 0)
            break;
        if (r < 0) {
            set_err(err, cap, "tls.private_key: PEM block %d is damaged (%s)", block,
                    ossl_reason());
            goto out;
        }
        nl = strlen(name);
        if (nl < 11 || strcmp(name + nl - 11, "PRIVATE KEY") != 0) {
            block_free(name, header, der, dlen);
            continue;
        }
        if (strcmp(name, PEM_STRING_PKCS8) == 0 ||
            (header != NULL && strstr(header, "ENCRYPTED") != NULL)) {
            block_free(name, header, der, dlen);
            set_err(err, cap,
                    "tls.private_key is encrypted; give it without a passphrase "
                    "(e.g. openssl pkey -in KEY -out PLAIN)");
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        if (m->key != NULL) {
            block_free(name, header, der, dlen);
            set_err(err, cap, "tls.private_key holds more than one private key");
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        p = der;
        k = d2i_AutoPrivateKey_ex(NULL, &p, dlen, NULL, NULL);
        block_free(name, header, der, dlen);
        if (k == NULL) {
            set_err(err, cap, "tls.private_key: PEM block %d is not a valid private key", block);
            goto out;
        }
        m->key = k;
    }
    if (m->key == NULL) {
        set_err(err, cap, "tls.private_key holds no PEM private key");
        goto out;
    }
    /* Java 8 reads RSA and EC keys from PKCS#12; EdDSA and the rest only later, if at all. */
    type = EVP_PKEY_get_base_id(m->key);
    if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
        set_err(err, cap, "tls.private_key: a %s key; only RSA and EC keys are supported",
                OBJ_nid2sn(type) != NULL ? OBJ_nid2sn(type) : "unknown");
        rc = AGENT_ERR_INVAL;
        goto out;
    }
    rc = AGENT_OK;
out:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

static int
alias_ok(const char *a)
{
    size_t i, n = strlen(a);

    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++) {
        char c = a[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* SHA-256 of an object's DER; -1 when it cannot be encoded. */
static int
der_sha256(int (*i2d)(const void *, unsigned char **), const void *obj, char out[65])
{
    unsigned char *der = NULL;
    int n = i2d(obj, &der);

    if (n <= 0 || der == NULL)
        return -1;
    str_sha256_hex(der, (size_t)n, out);
    OPENSSL_free(der);
    return 0;
}

static int
i2d_cert(const void *x, unsigned char **out)
{
    return i2d_X509((const X509 *)x, out);
}

static int
i2d_pub(const void *k, unsigned char **out)
{
    return i2d_PUBKEY((const EVP_PKEY *)k, out);
}

static int
cmp_hex(const void *a, const void *b)
{
    return memcmp(a, b, 64);
}

/*
 * The chain's fingerprint: SHA-256 over the sorted hex fingerprints of the
 * certificates after the leaf.  Sorting makes it independent of the order
 * a keystore keeps them in (Java rebuilds the order from the issuers).
 */
static int
chain_sha256(X509 *const *certs, int n, char out[65])
{
    char fps[KEYSTORE_CERTS_MAX][65];
    char all[KEYSTORE_CERTS_MAX * 64];
    int i;

    if (n < 0 || n > KEYSTORE_CERTS_MAX)
        return -1;
    for (i = 0; i < n; i++) {
        if (der_sha256(i2d_cert, certs[i], fps[i]) != 0)
            return -1;
    }
    qsort(fps, (size_t)n, sizeof(fps[0]), cmp_hex);
    for (i = 0; i < n; i++)
        memcpy(all + 64 * i, fps[i], 64);
    str_sha256_hex(all, (size_t)n * 64, out);
    return 0;
}

static enum agent_rc
fill_info(const struct material *m, time_t not_after, time_t now, struct keystore_info *info,
          char *err, size_t cap)
{
    memset(info, 0, sizeof(*info));
    subject_str(m->certs[0], info->subject, sizeof(info->subject));
    clock_rfc3339(not_after, info->not_after);
    info->days_left = days_until(not_after, now);
    info->chain_len = (size_t)m->n;
    if (der_sha256(i2d_cert, m->certs[0], info->cert_sha256) != 0 ||
        der_sha256(i2d_pub, m->key, info->key_sha256) != 0 ||
        chain_sha256(m->certs + 1, m->n - 1, info->chain_sha256) != 0) {
        ERR_clear_error();
        set_err(err, cap, "tls.certificate: cannot encode the certificate or key");
        return AGENT_ERR_NOMEM;
    }
    return AGENT_OK;
}

/* Each certificate i+1 must have issued certificate i: names, then signature. */
static enum agent_rc
check_links(const struct material *m, char *err, size_t cap)
{
    char child[NAME_CAP], parent[NAME_CAP];
    const char *why = NULL;
    int i;

    for (i = 0; i + 1 < m->n; i++) {
        X509 *c = m->certs[i], *p = m->certs[i + 1];
        EVP_PKEY *pk;

        if (X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(p)) != 0) {
            why = "its subject differs from the issuer name of";
        } else {
            pk = X509_get0_pubkey(p);
            if (pk == NULL || X509_verify(c, pk) != 1)
                why = "its key does not verify the signature of";
        }
        if (why != NULL) {
            ERR_clear_error();
            subject_str(c, child, sizeof(child));
            subject_str(p, parent, sizeof(parent));
            set_err(err, cap,
                    "tls.chain: certificate %d (%s) did not issue certificate %d (%s): %s "
                    "certificate %d (give the leaf first, then each issuer in order)",
                    i + 2, parent, i + 1, child, why, i + 1);
            return AGENT_ERR_INVAL;
        }
    }
    return AGENT_OK;
}

/* Warnings that do not stop the step. */
static void
warn_soft(const struct material *m, const struct keystore_info *info, time_t now)
{
    char name[NAME_CAP], when[32];
    time_t t;
    int i;

    if (info->days_left < KEYSTORE_WARN_DAYS)
        log_warnx("keystore: tls.certificate (%s) expires on %s, in %d day%s", info->subject,
                  info->not_after, info->days_left, info->days_left == 1 ? "" : "s");
    for (i = 1; i < m->n; i++) {
        if (asn1_time(X509_get0_notAfter(m->certs[i]), &t) == 0 && t < now) {
            subject_str(m->certs[i], name, sizeof(name));
            clock_rfc3339(t, when);
            log_warnx("keystore: tls.chain: certificate %d (%s) expired on %s", i + 1, name, when);
        }
    }
    if (m->n == 1 &&
        X509_NAME_cmp(X509_get_issuer_name(m->certs[0]), X509_get_subject_name(m->certs[0])) != 0) {
        name_str(X509_get_issuer_name(m->certs[0]), name, sizeof(name));
        log_warnx("keystore: tls.certificate comes without a chain (issuer %s): clients that "
                  "lack the intermediate certificates will reject it; set tls.chain",
                  name);
    }
}

/*
 * Parses and checks the whole input into m (freed by the caller in every
 * case) and info.
 */
static enum agent_rc
load(const struct keystore_input *in, struct material *m, struct keystore_info *info, int warn,
     char *err, size_t cap)
{
    char name[NAME_CAP], when[32];
    time_t nb, na;
    size_t plen;
    enum agent_rc rc;

    if (in == NULL || in->cert_pem == NULL || in->key_pem == NULL || in->alias == NULL ||
        in->password == NULL || (in->chain_pem == NULL && in->chain_len > 0)) {
        set_err(err, cap, "keystore: missing input");
        return AGENT_ERR_INVAL;
    }
    if (!alias_ok(in->alias)) {
        set_err(err, cap, "tls.alias must be 1..64 of [A-Za-z0-9_.-]");
        return AGENT_ERR_INVAL;
    }
    plen = strlen(in->password);
    if (plen == 0 || plen > KEYSTORE_PASSWORD_MAX) {
        set_err(err, cap, "tls.keystore_password must be 1..%d bytes", KEYSTORE_PASSWORD_MAX);
        return AGENT_ERR_INVAL;
    }
    if (in->cert_len > KEYSTORE_PEM_MAX || in->chain_len > KEYSTORE_PEM_MAX ||
        in->key_len > KEYSTORE_PEM_MAX) {
        set_err(err, cap, "%s is larger than %u bytes",
                in->cert_len > KEYSTORE_PEM_MAX    ? "tls.certificate"
                : in->chain_len > KEYSTORE_PEM_MAX ? "tls.chain"
                                                   : "tls.private_key",
                KEYSTORE_PEM_MAX);
        return AGENT_ERR_TOOBIG;
    }

    rc = read_certs("tls.certificate", in->cert_pem, in->cert_len, m, err, cap);
    if (rc != AGENT_OK)
        return rc;
    m->n_in_cert = m->n;
    if (in->chain_len > 0) {
        rc = read_certs("tls.chain", in->chain_pem, in->chain_len, m, err, cap);
        if (rc != AGENT_OK)
            return rc;
    }
    rc = read_key(in->key_pem, in->key_len, m, err, cap);
    if (rc != AGENT_OK)
        return rc;

    if (X509_check_private_key(m->certs[0], m->key) != 1) {
        ERR_clear_error();
        subject_str(m->certs[0], name, sizeof(name));
        set_err(err, cap, "tls.private_key does not match tls.certificate (%s)", name);
        return AGENT_ERR_INVAL;
    }
    rc = check_links(m, err, cap);
    if (rc != AGENT_OK)
        return rc;

    subject_str(m->certs[0], name, sizeof(name));
    if (asn1_time(X509_get0_notBefore(m->certs[0]), &nb) != 0 ||
        asn1_time(X509_get0_notAfter(m->certs[0]), &na) != 0) {
        ERR_clear_error();
        set_err(err, cap, "tls.certificate (%s) has an unreadable validity period", name);
        return AGENT_ERR_PARSE;
    }
    if (in->now < nb) {
        clock_rfc3339(nb, when);
        set_err(err, cap, "tls.certificate (%s) is not valid until %s", name, when);
        return AGENT_ERR_INVAL;
    }
    if (in->now > na) {
        clock_rfc3339(na, when);
        set_err(err, cap, "tls.certificate (%s) expired on %s", name, when);
        return AGENT_ERR_INVAL;
    }

    rc = fill_info(m, na, in->now, info, err, cap);
    if (rc != AGENT_OK)
        return rc;
    if (warn)
        warn_soft(m, info, in->now);
    return AGENT_OK;
}

enum agent_rc
keystore_check(const struct keystore_input *in, struct keystore_info *out, char *err, size_t errcap)
{
    struct material m;
    struct keystore_info info;
    enum agent_rc rc;

    memset(&m, 0, sizeof(m));
    set_err(err, errcap, "%s", "");
    rc = load(in, &m, &info, 1, err, errcap);
    material_free(&m);
    ERR_clear_error();
    if (rc == AGENT_OK && out != NULL)
        *out = info;
    return rc;
}

enum agent_rc
keystore_build(const struct keystore_input *in, struct buf *p12_out)
{
    struct material m;
    struct keystore_info info;
    STACK_OF(X509) *ca = NULL;
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL;
    char err[512];
    int i, n = 0;
    enum agent_rc rc;

    memset(&m, 0, sizeof(m));
    if (p12_out == NULL) {
        log_errx("keystore: no output buffer");
        return AGENT_ERR_INVAL;
    }
    err[0] = '\0';
    rc = load(in, &m, &info, 0, err, sizeof(err));
    if (rc != AGENT_OK) {
        log_errx("keystore: %s", err);
        goto out;
    }

    rc = AGENT_ERR_NOMEM;
    ca = sk_X509_new_null();
    if (ca == NULL)
        goto fail;
    /* The stack borrows the certificates: freed with sk_X509_free only. */
    for (i = 1; i < m.n; i++) {
        if (sk_X509_push(ca, m.certs[i]) <= 0)
            goto fail;
    }
    /*
     * PBE-SHA1-3DES for both the key bag and the certificate bags: the
     * default provider has it (RC2-40 would need the legacy provider) and
     * every Java 8 reads it.  The MAC is added afterwards so that its
     * digest can be SHA-1 (mac_iter -1 = no MAC from PKCS12_create).
     */
    p12 = PKCS12_create(in->password, in->alias, m.key, m.certs[0], ca,
                        NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                        NID_pbe_WithSHA1And3_Key_TripleDES_CBC, KEYSTORE_PBE_ITER, -1, 0);
    if (p12 == NULL)
        goto fail;
    if (PKCS12_set_mac(p12, in->password, -1, NULL, 0, KEYSTORE_PBE_ITER, EVP_sha1()) != 1)
        goto fail;
    n = i2d_PKCS12(p12, &der);
    if (n <= 0 || der == NULL)
        goto fail;
    p12_out->secret = 1;
    rc = buf_append(p12_out, der, (size_t)n);
    if (rc == AGENT_ERR_TOOBIG)
        log_errx("keystore: the keystore (%d bytes) is larger than %zu bytes", n, p12_out->max);
    else if (rc != AGENT_OK)
        log_errx("keystore: out of memory");
    goto out;
fail:
    log_errx("keystore: cannot build the PKCS#12 keystore (%s)", ossl_reason());
out:
    if (der != NULL)
        OPENSSL_clear_free(der, (size_t)n);
    PKCS12_free(p12);
    sk_X509_free(ca);
    material_free(&m);
    str_wipe(&info, sizeof(info));
    ERR_clear_error();
    return rc;
}

enum agent_rc
keystore_matches(const char *p12, size_t len, const char *password, const char *alias,
                 const struct keystore_info *want, int *same)
{
    const unsigned char *p = (const unsigned char *)p12;
    X509 *certs[KEYSTORE_CERTS_MAX];
    STACK_OF(X509) *ca = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    PKCS12 *pk = NULL;
    unsigned char *a;
    char fp[65];
    int alen, n, i, match = 0;

    if ((p12 == NULL && len > 0) || password == NULL || alias == NULL || want == NULL ||
        same == NULL)
        return AGENT_ERR_INVAL;
    /* Anything not a PKCS#12 of ours (a JKS, an empty file, junk) is not the same. */
    if (len == 0 || len > 4 * KEYSTORE_P12_MAX)
        goto done;
    pk = d2i_PKCS12(NULL, &p, (long)len);
    if (pk == NULL || p != (const unsigned char *)p12 + len)
        goto done;
    if (PKCS12_parse(pk, password, &key, &cert, &ca) != 1 || key == NULL || cert == NULL)
        goto done;
    if (X509_check_private_key(cert, key) != 1)
        goto done;
    a = X509_alias_get0(cert, &alen);
    if (a == NULL || alen < 0 || (size_t)alen != strlen(alias) ||
        memcmp(a, alias, strlen(alias)) != 0)
        goto done;
    if (der_sha256(i2d_cert, cert, fp) != 0 || strcmp(fp, want->cert_sha256) != 0)
        goto done;
    if (der_sha256(i2d_pub, key, fp) != 0 || strcmp(fp, want->key_sha256) != 0)
        goto done;
    n = ca == NULL ? 0 : sk_X509_num(ca);
    if (n < 0 || n >= KEYSTORE_CERTS_MAX || (size_t)n + 1 != want->chain_len)
        goto done;
    for (i = 0; i < n; i++)
        certs[i] = sk_X509_value(ca, i);
    if (chain_sha256(certs, n, fp) != 0 || strcmp(fp, want->chain_sha256) != 0)
        goto done;
    match = 1;
done:
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(pk);
    ERR_clear_error();
    *same = match;
    return AGENT_OK;
}

/*
 * fileio_write_atomic_owner() leaves a (uid_t)-1 or (gid_t)-1 to the new
 * temporary file, which then has the agent's owner and group; the
 * existing keystore's are looked up here so that they are really kept.
 */
enum agent_rc
keystore_write(const char *path, const struct buf *p12, gid_t gid)
{
    struct stat st;
    uid_t uid = (uid_t)-1;
    char why[512], *real = NULL;
    enum agent_rc rc;

    if (path == NULL || path[0] == '\0' || p12 == NULL || p12->data == NULL || p12->len == 0) {
        log_errx("keystore: nothing to write%s%s", path != NULL ? " to " : "",
                 path != NULL ? path : "");
        return AGENT_ERR_INVAL;
    }
    /* An existing keystore is replaced only where nobody but root could have redirected it. */
    rc = safepath_resolve(path, &real, why, sizeof(why));
    free(real);
    if (rc != AGENT_OK && rc != AGENT_ERR_ABSENT) {
        log_errx("keystore: %s: refused: %s", path, why);
        return rc;
    }
    if (rc == AGENT_OK && stat(path, &st) == 0) {
        uid = st.st_uid;
        if (gid == (gid_t)-1)
            gid = st.st_gid;
    }
    return fileio_write_atomic_owner(path, p12->data, p12->len, KEYSTORE_MODE, uid, gid);
}
