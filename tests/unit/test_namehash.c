/*
 * namehash: the name hash computed from the DER equals OpenSSL's
 * X509_NAME_hash_ex for every kind of name; the names the fast path takes
 * (single-valued RDNs of ASCII Printable/UTF8/IA5/T61Strings) are
 * hashed there, with blanks and case canonicalized as OpenSSL does, and
 * every other name (non-ASCII, BMPString, NumericString, multi-valued RDNs,
 * control characters, BER, empty) is handed to OpenSSL; what OpenSSL
 * refuses is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "net/namehash.h"

static struct namehash *nh;

enum path {
    REFUSED,
    FAST,
    SLOW
};

/* Hashes der[0..n) both ways, checks they agree and says which path namehash took. */
static enum path
hash_both(const unsigned char *der, size_t n, unsigned long *out)
{
    const unsigned char *p = der;
    X509_NAME *nm = d2i_X509_NAME(NULL, &p, (long)n);
    unsigned long h = 0, want = 0;
    size_t f0, s0, f1, s1;
    int ok, want_ok = 0;

    if (nm != NULL && p == der + n)
        want = X509_NAME_hash_ex(nm, NULL, NULL, &want_ok);
    X509_NAME_free(nm);
    namehash_stats(nh, &f0, &s0);
    ok = namehash_der(nh, der, n, &h);
    namehash_stats(nh, &f1, &s1);
    assert_int_equal(ok, want_ok);
    if (!ok)
        return REFUSED;
    assert_int_equal(h, want);
    if (out != NULL)
        *out = h;
    assert_int_equal((f1 - f0) + (s1 - s0), 1);
    return f1 > f0 ? FAST : SLOW;
}

/* One entry per RDN: {nid, ASN.1 string type, value}; set 1 joins the previous RDN. */
struct ent {
    int nid, type;
    const char *value;
    int join;
};

static enum path
name_path(const struct ent *e, size_t n, unsigned long *out)
{
    X509_NAME *nm = X509_NAME_new();
    unsigned char *der = NULL;
    enum path r;
    size_t i;
    int len;

    assert_non_null(nm);
    for (i = 0; i < n; i++)
        assert_int_equal(
            X509_NAME_add_entry_by_NID(nm, e[i].nid, e[i].type, (const unsigned char *)e[i].value,
                                       (int)strlen(e[i].value), -1, e[i].join ? -1 : 0),
            1);
    len = i2d_X509_NAME(nm, &der);
    assert_true(len >= 2);
    r = hash_both(der, (size_t)len, out);
    OPENSSL_free(der);
    X509_NAME_free(nm);
    return r;
}

#define PATH(arr, out) name_path(arr, sizeof(arr) / sizeof(arr[0]), out)

static void
test_fast_path_string_types(void **state)
{
    static const struct ent printable[] = {
        {NID_countryName, V_ASN1_PRINTABLESTRING, "US", 0},
        {NID_organizationName, V_ASN1_PRINTABLESTRING, "Example Trust", 0},
        {NID_commonName, V_ASN1_PRINTABLESTRING, "Root CA 1", 0}};
    static const struct ent utf8[] = {{NID_commonName, V_ASN1_UTF8STRING, "Root CA 1", 0}};
    static const struct ent ia5[] = {
        {NID_pkcs9_emailAddress, V_ASN1_IA5STRING, "ca@example.com", 0}};
    static const struct ent t61[] = {{NID_commonName, V_ASN1_T61STRING, "T61 Root", 0}};

    (void)state;
    assert_int_equal(PATH(printable, NULL), FAST);
    assert_int_equal(PATH(utf8, NULL), FAST);
    assert_int_equal(PATH(ia5, NULL), FAST);
    assert_int_equal(PATH(t61, NULL), FAST);
}

/* Blanks trimmed and collapsed and case folded: names that differ only so hash the same. */
static void
test_canonical_blanks_and_case(void **state)
{
    static const struct ent a[] = {{NID_commonName, V_ASN1_UTF8STRING, "Example Root CA", 0}};
    static const struct ent b[] = {
        {NID_commonName, V_ASN1_PRINTABLESTRING, "  EXAMPLE \t\v\f\r\n root   ca \n", 0}};
    static const struct ent c[] = {{NID_commonName, V_ASN1_UTF8STRING, "Example RootCA", 0}};
    static const struct ent blank[] = {{NID_commonName, V_ASN1_UTF8STRING, " \t ", 0}};
    static const struct ent none[] = {{NID_commonName, V_ASN1_UTF8STRING, "", 0}};
    unsigned long ha, hb, hc, h1, h2;

    (void)state;
    assert_int_equal(PATH(a, &ha), FAST);
    assert_int_equal(PATH(b, &hb), FAST);
    assert_int_equal(PATH(c, &hc), FAST);
    assert_int_equal(ha, hb);
    assert_int_not_equal(ha, hc);
    assert_int_equal(PATH(blank, &h1), FAST);
    assert_int_equal(PATH(none, &h2), FAST);
    assert_int_equal(h1, h2);
}

/* Values and names long enough for two- and three-byte DER lengths. */
static void
test_long_lengths(void **state)
{
    char v200[201], v300[301], ou[61];
    struct ent one[1], many[14];
    size_t i;

    (void)state;
    memset(v200, 'a', 200);
    v200[200] = '\0';
    memset(v300, 'B', 300);
    v300[300] = '\0';
    memset(ou, 'o', 60);
    ou[60] = '\0';
    one[0] = (struct ent){NID_commonName, V_ASN1_UTF8STRING, v200, 0};
    assert_int_equal(name_path(one, 1, NULL), FAST);
    one[0] = (struct ent){NID_commonName, V_ASN1_PRINTABLESTRING, v300, 0};
    assert_int_equal(name_path(one, 1, NULL), FAST);
    for (i = 0; i < 14; i++)
        many[i] = (struct ent){NID_organizationalUnitName, V_ASN1_UTF8STRING, ou, 0};
    assert_int_equal(name_path(many, 14, NULL), FAST);
}

/* What the fast path leaves to OpenSSL: hashed by it, the same result. */
static void
test_handed_to_openssl(void **state)
{
    static const struct ent non_ascii[] = {
        {NID_commonName, V_ASN1_UTF8STRING, "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny", 0}};
    static const struct ent bmp[] = {{NID_commonName, V_ASN1_BMPSTRING, "\0B\0m\0p", 0}};
    static const struct ent numeric[] = {{NID_serialNumber, V_ASN1_NUMERICSTRING, "12345", 0}};
    static const struct ent multi[] = {{NID_organizationName, V_ASN1_UTF8STRING, "B Org", 0},
                                       {NID_commonName, V_ASN1_UTF8STRING, "A Name", 1}};
    static const struct ent control[] = {{NID_commonName, V_ASN1_PRINTABLESTRING, "a\x01z", 0}};
    static const struct ent del[] = {{NID_commonName, V_ASN1_IA5STRING, "a\x7fz", 0}};
    static const struct ent latin1[] = {{NID_commonName, V_ASN1_T61STRING, "caf\xe9", 0}};
    struct ent bmp1[1];
    unsigned char empty[] = {0x30, 0x00};

    (void)state;
    assert_int_equal(PATH(non_ascii, NULL), SLOW);
    bmp1[0] = bmp[0];
    {
        /* A BMPString holds NULs: added with its length, not strlen. */
        X509_NAME *nm = X509_NAME_new();
        unsigned char *der = NULL;
        int len;

        assert_int_equal(X509_NAME_add_entry_by_NID(nm, bmp1[0].nid, bmp1[0].type,
                                                    (const unsigned char *)bmp1[0].value, 6, -1, 0),
                         1);
        len = i2d_X509_NAME(nm, &der);
        assert_int_equal(hash_both(der, (size_t)len, NULL), SLOW);
        OPENSSL_free(der);
        X509_NAME_free(nm);
    }
    assert_int_equal(PATH(numeric, NULL), SLOW);
    assert_int_equal(PATH(multi, NULL), SLOW);
    assert_int_equal(PATH(control, NULL), SLOW);
    assert_int_equal(PATH(del, NULL), SLOW);
    assert_int_equal(PATH(latin1, NULL), SLOW);
    assert_int_equal(hash_both(empty, sizeof(empty), NULL), SLOW);
}

/* Hand-made DER: BER lengths go to OpenSSL; bad OIDs, VisibleStrings, trailing bytes and
 * cuts are refused. */
static void
test_raw_der(void **state)
{
    /* SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, PrintableString "ab" } } } */
    unsigned char good[] = {0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03,
                            0x55, 0x04, 0x03, 0x13, 0x02, 0x61, 0x62};
    unsigned char ber[] = {0x30, 0x81, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06,
                           0x03, 0x55, 0x04, 0x03, 0x13, 0x02, 0x61, 0x62};
    unsigned char oid80[] = {0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x04,
                             0x80, 0x55, 0x04, 0x03, 0x13, 0x02, 0x61, 0x62};
    unsigned char oidcut[] = {0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03,
                              0x55, 0x04, 0x83, 0x13, 0x02, 0x61, 0x62};
    /* A VisibleString value: OpenSSL refuses it in a name, so must namehash. */
    unsigned char visible[] = {0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03,
                               0x55, 0x04, 0x03, 0x1a, 0x02, 0x61, 0x62};
    unsigned char trailing[sizeof(good) + 1];
    unsigned long h1, h2;
    size_t i;

    (void)state;
    assert_int_equal(hash_both(good, sizeof(good), &h1), FAST);
    assert_int_not_equal(hash_both(ber, sizeof(ber), &h2), FAST);
    assert_int_equal(hash_both(oid80, sizeof(oid80), NULL), REFUSED);
    assert_int_equal(hash_both(oidcut, sizeof(oidcut), NULL), REFUSED);
    assert_int_equal(hash_both(visible, sizeof(visible), NULL), REFUSED);
    memcpy(trailing, good, sizeof(good));
    trailing[sizeof(good)] = 0;
    assert_int_equal(hash_both(trailing, sizeof(trailing), NULL), REFUSED);
    for (i = 0; i < sizeof(good); i++)
        assert_int_equal(hash_both(good, i, NULL), REFUSED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_path_string_types),
        cmocka_unit_test(test_canonical_blanks_and_case),
        cmocka_unit_test(test_long_lengths),
        cmocka_unit_test(test_handed_to_openssl),
        cmocka_unit_test(test_raw_der),
    };
    int rc;

    nh = namehash_new();
    if (nh == NULL)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    namehash_free(nh);
    return rc;
}
