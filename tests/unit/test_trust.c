/*
 * trust: the subject hash read from a certificate's DER (without parsing
 * its key) equals OpenSSL's own over every certificate of the system bundle
 * and over v1 and v3 certificates made here; malformed blocks are refused;
 * a store over an indexed bundle verifies a chain to a CA in it and refuses
 * one whose CA is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "net/namehash.h"
#include "net/trust.h"

#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* The digest context of the fast path, shared by the tests (its counts are checked). */
static struct namehash *nh;

static EVP_PKEY *
new_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    assert_non_null(k);
    return k;
}

/* A certificate for cn, issued by issuer (NULL: self-signed), version 1 or 3. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int version)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, version - 1), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"wcs-agent tests", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    if (issuer == NULL && version == 3) {
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");

        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    X509_NAME_free(n);
    return x;
}

static char *
to_pem(X509 *x, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p, *out;
    long n;

    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    n = BIO_get_mem_data(b, &p);
    out = malloc((size_t)n + 1);
    assert_non_null(out);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    BIO_free(b);
    return out;
}

static void
check_cert(X509 *x)
{
    size_t len;
    char *pem = to_pem(x, &len);
    unsigned long h = 0, h2 = 0;

    assert_int_equal(trust_subject_hash(nh, pem, len, &h), 1);
    assert_int_equal(h, X509_subject_name_hash(x));
    /* Without a digest context: OpenSSL's own name hashing, the same result. */
    assert_int_equal(trust_subject_hash(NULL, pem, len, &h2), 1);
    assert_int_equal(h2, h);
    free(pem);
}

static void
test_v1_and_v3(void **state)
{
    EVP_PKEY *k = new_key();
    X509 *v1 = make_cert("v1 root", k, NULL, NULL, 1);
    X509 *v3 = make_cert("v3 root", k, NULL, NULL, 3);

    (void)state;
    check_cert(v1);
    check_cert(v3);
    assert_int_not_equal(X509_subject_name_hash(v1), X509_subject_name_hash(v3));
    X509_free(v1);
    X509_free(v3);
    EVP_PKEY_free(k);
}

/* A subject past the first 768 bytes of DER (a long issuer before it): the whole block is decoded.
 */
static void
test_subject_past_the_prefix(void **state)
{
    EVP_PKEY *k = new_key();
    char cn[61];
    X509 *x;
    X509_NAME *n = X509_NAME_new();
    int i;

    (void)state;
    memset(cn, 'w', sizeof(cn) - 1);
    cn[sizeof(cn) - 1] = '\0';
    for (i = 0; i < 14; i++)
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    x = make_cert("long", k, NULL, NULL, 3);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    assert_true(i2d_X509_NAME(n, NULL) * 2 > 768);
    check_cert(x);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void
test_system_bundle(void **state)
{
    FILE *f = fopen(SYSTEM_BUNDLE, "r");
    X509 *x;
    int n = 0;
    size_t fast0, slow0, fast, slow;

    (void)state;
    if (f == NULL)
        skip();
    namehash_stats(nh, &fast0, &slow0);
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        check_cert(x);
        X509_free(x);
        n++;
    }
    fclose(f);
    namehash_stats(nh, &fast, &slow);
    printf("subject hashes equal OpenSSL's for %d certificates of %s (%zu hashed from the DER, "
           "%zu by OpenSSL)\n",
           n, SYSTEM_BUNDLE, fast - fast0, slow - slow0);
    assert_true(n > 50);
    /* The fast path is what was tested: nearly every CA's subject is plain ASCII. */
    assert_true((fast - fast0) * 10 >= (size_t)n * 8);
}

static void
test_malformed(void **state)
{
    EVP_PKEY *k = new_key();
    X509 *x = make_cert("root", k, NULL, NULL, 3);
    size_t len, i;
    char *pem = to_pem(x, &len);
    unsigned long h = 0;
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    size_t cap = 4 * (size_t)dlen + 200;
    char *b64 = malloc(cap);
    static const char *const labels[] = {"PRIVATE KEY", "CERTIFICATE REQUEST"};

    (void)state;
    assert_int_equal(trust_subject_hash(nh, pem, 0, &h), 0);
    assert_int_equal(trust_subject_hash(nh, pem, len / 2, &h), 0);
    assert_int_equal(trust_subject_hash(nh, "garbage", 7, &h), 0);
    /* The DER cut short at every length up to the subject's end: refused, never read past. */
    for (i = 1; i < (size_t)dlen; i += 7) {
        int n = snprintf(b64, cap, "-----BEGIN CERTIFICATE-----\n");

        n += EVP_EncodeBlock((unsigned char *)b64 + n, der, (int)i);
        n += snprintf(b64 + n, cap - (size_t)n, "\n-----END CERTIFICATE-----\n");
        if (trust_subject_hash(nh, b64, (size_t)n, &h) == 1)
            assert_int_equal(h, X509_subject_name_hash(x)); /* cut after the subject: fine */
    }
    for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        int n = snprintf(b64, cap, "-----BEGIN %s-----\n", labels[i]);

        n += EVP_EncodeBlock((unsigned char *)b64 + n, der, dlen);
        n += snprintf(b64 + n, cap - (size_t)n, "\n-----END %s-----\n", labels[i]);
        assert_int_equal(trust_subject_hash(nh, b64, (size_t)n, &h), 0);
    }
    /* Not a SEQUENCE at the top. */
    der[0] = 0x31;
    {
        int n = snprintf(b64, cap, "-----BEGIN CERTIFICATE-----\n");

        n += EVP_EncodeBlock((unsigned char *)b64 + n, der, dlen);
        n += snprintf(b64 + n, cap - (size_t)n, "\n-----END CERTIFICATE-----\n");
        assert_int_equal(trust_subject_hash(nh, b64, (size_t)n, &h), 0);
    }
    OPENSSL_free(der);
    free(b64);
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int
verify_with(const char *bundle, X509 *leaf)
{
    X509_STORE *st = trust_store_new(bundle, NULL);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok;

    assert_non_null(st);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
    ok = X509_verify_cert(ctx);
    if (ok != 1)
        printf("verify with %s: %s\n", bundle,
               X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    trust_store_free(st);
    return ok;
}

static void
write_bundle(const char *path, X509 **certs, size_t n)
{
    FILE *f = fopen(path, "w");
    size_t i;

    assert_non_null(f);
    for (i = 0; i < n; i++)
        assert_int_equal(PEM_write_X509(f, certs[i]), 1);
    fclose(f);
}

static void
test_store_verifies_through_the_index(void **state)
{
    EVP_PKEY *ka = new_key(), *kb = new_key(), *kl = new_key();
    X509 *ca = make_cert("ca a", ka, NULL, NULL, 3);
    X509 *other = make_cert("ca b", kb, NULL, NULL, 3);
    X509 *leaf = make_cert("leaf", kl, ca, ka, 3);
    X509 *with[] = {other, ca}, *without[] = {other};
    char dir[] = "/tmp/test_trust.XXXXXX", p1[64], p2[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(p1, sizeof(p1), "%s/with.pem", dir);
    snprintf(p2, sizeof(p2), "%s/without.pem", dir);
    write_bundle(p1, with, 2);
    write_bundle(p2, without, 1);
    assert_int_equal(verify_with(p1, leaf), 1);
    assert_int_not_equal(verify_with(p2, leaf), 1);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    X509_free(leaf);
    X509_free(other);
    X509_free(ca);
    EVP_PKEY_free(kl);
    EVP_PKEY_free(kb);
    EVP_PKEY_free(ka);
}

/* pad bytes of text that is not PEM (bundles may hold comments between blocks). */
static void
write_padding(FILE *f, size_t pad)
{
    size_t i;

    for (i = 0; i < pad; i++)
        assert_int_not_equal(fputc(i % 64 == 63 ? '\n' : '#', f), EOF);
}

/* A bundle of pad bytes of text, then (when system) the system bundle, then ca. */
static void
write_padded(const char *path, size_t pad, int system, X509 *ca)
{
    FILE *f = fopen(path, "w"), *s;
    char chunk[4096];
    size_t n;

    assert_non_null(f);
    write_padding(f, pad);
    if (system && (s = fopen(SYSTEM_BUNDLE, "r")) != NULL) {
        while ((n = fread(chunk, 1, sizeof(chunk), s)) > 0)
            assert_int_equal(fwrite(chunk, 1, n, f), n);
        fclose(s);
    }
    assert_int_equal(PEM_write_X509(f, ca), 1);
    fclose(f);
}

/*
 * The bundle is read through a 64 KiB window: a CA whose block straddles
 * the window's end, lies windows away, or is longer than the window (a
 * 100 KB comment extension) is indexed at its right offset and read back.
 */
static void
test_window_boundaries(void **state)
{
    EVP_PKEY *ka = new_key(), *kb = new_key(), *kl = new_key();
    X509 *ca = make_cert("ca a", ka, NULL, NULL, 3), *big = make_cert("ca big", kb, NULL, NULL, 3);
    X509 *leaf = make_cert("leaf", kl, ca, ka, 3), *bigleaf = make_cert("leaf", kl, big, kb, 3);
    char dir[] = "/tmp/test_trust.XXXXXX", path[64], *comment = malloc(100001);
    static const size_t pads[] = {0, 65536 - 30, 65536 - 300, 65536 - 1, 65536, 2 * 65536 + 17};
    X509_EXTENSION *e;
    size_t i;

    (void)state;
    assert_non_null(comment);
    memset(comment, 'c', 100000);
    comment[100000] = '\0';
    e = X509V3_EXT_conf_nid(NULL, NULL, NID_netscape_comment, comment);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(big, e, -1), 1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(big, kb, EVP_sha256()) > 0);
    assert_true(i2d_X509(big, NULL) > 65536);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bundle.pem", dir);
    for (i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        write_padded(path, pads[i], 0, ca);
        assert_int_equal(verify_with(path, leaf), 1);
        write_padded(path, pads[i], 0, big);
        assert_int_equal(verify_with(path, bigleaf), 1);
        assert_int_not_equal(verify_with(path, leaf), 1);
    }
    write_padded(path, 10, 1, ca);
    assert_int_equal(verify_with(path, leaf), 1);
    unlink(path);
    rmdir(dir);
    free(comment);
    X509_free(leaf);
    X509_free(bigleaf);
    X509_free(ca);
    X509_free(big);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    EVP_PKEY_free(kl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_and_v3),
        cmocka_unit_test(test_subject_past_the_prefix),
        cmocka_unit_test(test_system_bundle),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_store_verifies_through_the_index),
        cmocka_unit_test(test_window_boundaries),
    };
    int rc;

    nh = namehash_new();
    if (nh == NULL)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    namehash_free(nh);
    trust_global_cleanup();
    return rc;
}
