/*
 * Unit tests of wcs/keystore.  All certificates and keys are made here at
 * test time with OpenSSL: a root CA, an intermediate, a leaf
 * (CN=wcs.example.com) signed by the intermediate, an unrelated key,
 * expired, not-yet-valid and soon-expiring leaves, and intermediates of
 * another CA for broken chains.  Times are relative to a fixed T0.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "wcs/keystore.h"

#define T0   ((time_t)1798761600) /* 2027-01-01T00:00:00Z */
#define DAY  86400L
#define PASS "s3cret-Pa55"

/* The test material, made once for the whole group. */
static struct {
    EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key, *rsa_key, *oroot_key, *ointer_key;
    X509 *root, *inter, *leaf, *expired, *notyet, *soon, *rsa_leaf;
    X509 *oroot, *ointer_same_name, *ointer_other_name;
    char *root_pem, *inter_pem, *leaf_pem, *expired_pem, *notyet_pem, *soon_pem, *rsa_leaf_pem;
    char *oroot_pem, *ointer_same_pem, *ointer_other_pem;
    char *key_pem, *key_trad_pem, *other_key_pem, *rsa_key_pem, *enc_p8_pem, *enc_trad_pem;
    char *chain_pem;     /* intermediate then root */
    char *fullchain_pem; /* leaf, intermediate, root */
} M;

static char dir[64];
static int log_fd = -1;
static char log_text[16384];
static long serial = 1;

/* ---- material ------------------------------------------------------------ */

static EVP_PKEY *
gen_ec(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    assert_non_null(k);
    return k;
}

static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long nb_days,
          long na_days, int ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_EXTENSION *ext;
    time_t t0 = T0;

    assert_non_null(x);
    assert_non_null(name);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"wcs-agent tests", -1, -1,
                                                0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name),
                     1);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), (int)nb_days, 0, &t0));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), (int)na_days, 0, &t0));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

static char *
bio_text(BIO *b)
{
    char *p = NULL, *s;
    long n = BIO_get_mem_data(b, &p);

    assert_true(n > 0);
    s = malloc((size_t)n + 1);
    assert_non_null(s);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *
cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());

    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    return bio_text(b);
}

/* how: 0 PKCS#8, 1 traditional, 2 encrypted PKCS#8, 3 encrypted traditional. */
static char *
key_pem(EVP_PKEY *k, int how)
{
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char pw[] = "pw";
    int ok = 0;

    switch (how) {
    case 0:
        ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    case 1:
        ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    case 2:
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), "pw", 2, NULL, NULL);
        break;
    default:
        ok = PEM_write_bio_PrivateKey_traditional(b, k, EVP_aes_256_cbc(), pw, 2, NULL, NULL);
        break;
    }
    assert_int_equal(ok, 1);
    return bio_text(b);
}

/* A malloc'd concatenation of up to three strings (NULLs skipped). */
static char *
cat3(const char *a, const char *b, const char *c)
{
    size_t na = a ? strlen(a) : 0, nb = b ? strlen(b) : 0, nc = c ? strlen(c) : 0;
    char *s = malloc(na + nb + nc + 1);

    assert_non_null(s);
    memcpy(s, a ? a : "", na);
    memcpy(s + na, b ? b : "", nb);
    memcpy(s + na + nb, c ? c : "", nc);
    s[na + nb + nc] = '\0';
    return s;
}

static int
group_setup(void **state)
{
    (void)state;
    M.root_key = gen_ec();
    M.inter_key = gen_ec();
    M.leaf_key = gen_ec();
    M.other_key = gen_ec();
    M.oroot_key = gen_ec();
    M.ointer_key = gen_ec();
    M.rsa_key = EVP_RSA_gen(2048);
    assert_non_null(M.rsa_key);

    M.root = make_cert("Test Root CA", M.root_key, NULL, NULL, -3650, 3650, 1);
    M.inter = make_cert("Test Intermediate", M.inter_key, M.root, M.root_key, -1000, 2000, 1);
    M.leaf = make_cert("wcs.example.com", M.leaf_key, M.inter, M.inter_key, -30, 365, 0);
    M.expired = make_cert("wcs.example.com", M.leaf_key, M.inter, M.inter_key, -400, -1, 0);
    M.notyet = make_cert("wcs.example.com", M.leaf_key, M.inter, M.inter_key, 2, 400, 0);
    M.soon = make_cert("wcs.example.com", M.leaf_key, M.inter, M.inter_key, -80, 10, 0);
    M.rsa_leaf = make_cert("rsa.example.com", M.rsa_key, M.inter, M.inter_key, -1, 100, 0);
    M.oroot = make_cert("Other Root CA", M.oroot_key, NULL, NULL, -3650, 3650, 1);
    /* Same subject as the real intermediate, but another key from another CA. */
    M.ointer_same_name =
        make_cert("Test Intermediate", M.ointer_key, M.oroot, M.oroot_key, -1000, 2000, 1);
    M.ointer_other_name =
        make_cert("Other Intermediate", M.ointer_key, M.oroot, M.oroot_key, -1000, 2000, 1);

    M.root_pem = cert_pem(M.root);
    M.inter_pem = cert_pem(M.inter);
    M.leaf_pem = cert_pem(M.leaf);
    M.expired_pem = cert_pem(M.expired);
    M.notyet_pem = cert_pem(M.notyet);
    M.soon_pem = cert_pem(M.soon);
    M.rsa_leaf_pem = cert_pem(M.rsa_leaf);
    M.oroot_pem = cert_pem(M.oroot);
    M.ointer_same_pem = cert_pem(M.ointer_same_name);
    M.ointer_other_pem = cert_pem(M.ointer_other_name);
    M.key_pem = key_pem(M.leaf_key, 0);
    M.key_trad_pem = key_pem(M.leaf_key, 1);
    M.other_key_pem = key_pem(M.other_key, 0);
    M.rsa_key_pem = key_pem(M.rsa_key, 0);
    M.enc_p8_pem = key_pem(M.leaf_key, 2);
    M.enc_trad_pem = key_pem(M.leaf_key, 3);
    M.chain_pem = cat3(M.inter_pem, M.root_pem, NULL);
    M.fullchain_pem = cat3(M.leaf_pem, M.inter_pem, M.root_pem);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(M.root_key);
    EVP_PKEY_free(M.inter_key);
    EVP_PKEY_free(M.leaf_key);
    EVP_PKEY_free(M.other_key);
    EVP_PKEY_free(M.rsa_key);
    EVP_PKEY_free(M.oroot_key);
    EVP_PKEY_free(M.ointer_key);
    X509_free(M.root);
    X509_free(M.inter);
    X509_free(M.leaf);
    X509_free(M.expired);
    X509_free(M.notyet);
    X509_free(M.soon);
    X509_free(M.rsa_leaf);
    X509_free(M.oroot);
    X509_free(M.ointer_same_name);
    X509_free(M.ointer_other_name);
    free(M.root_pem);
    free(M.inter_pem);
    free(M.leaf_pem);
    free(M.expired_pem);
    free(M.notyet_pem);
    free(M.soon_pem);
    free(M.rsa_leaf_pem);
    free(M.oroot_pem);
    free(M.ointer_same_pem);
    free(M.ointer_other_pem);
    free(M.key_pem);
    free(M.key_trad_pem);
    free(M.other_key_pem);
    free(M.rsa_key_pem);
    free(M.enc_p8_pem);
    free(M.enc_trad_pem);
    free(M.chain_pem);
    free(M.fullchain_pem);
    return 0;
}

/* ---- per-test folder and log capture -------------------------------------- */

static void
rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char sub[600];

    if (lstat(path, &st) == -1)
        return;
    if (S_ISDIR(st.st_mode)) {
        d = opendir(path);
        if (d != NULL) {
            for (e = readdir(d); e != NULL; e = readdir(d)) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int
setup(void **state)
{
    char lp[] = "/tmp/test_keystore_log.XXXXXX";

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_keystore.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    log_fd = mkstemp(lp);
    if (log_fd == -1)
        return -1;
    unlink(lp);
    log_init(0, LOG_FMT_TEXT);
    log_set_fd(log_fd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    log_set_fd(-1);
    close(log_fd);
    rm_rf(dir);
    return 0;
}

static const char *
logged(void)
{
    ssize_t n = pread(log_fd, log_text, sizeof(log_text) - 1, 0);

    assert_true(n >= 0);
    log_text[n] = '\0';
    assert_int_equal(ftruncate(log_fd, 0), 0);
    assert_true(lseek(log_fd, 0, SEEK_SET) == 0);
    return log_text;
}

static const char *
in_dir(const char *name)
{
    static char p[4][600];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static int
count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void
put_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd != -1);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* Reads a whole file into a malloc'd buffer; *n gets its size. */
static char *
get_bytes(const char *path, size_t *n)
{
    struct stat st;
    char *p;
    int fd = open(path, O_RDONLY);

    assert_true(fd != -1);
    assert_int_equal(fstat(fd, &st), 0);
    p = malloc((size_t)st.st_size + 1);
    assert_non_null(p);
    assert_int_equal(read(fd, p, (size_t)st.st_size), (ssize_t)st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return p;
}

/* ---- helpers -------------------------------------------------------------- */

static struct keystore_input
input(const char *cert, const char *chain, const char *key)
{
    struct keystore_input in;

    memset(&in, 0, sizeof(in));
    in.cert_pem = cert;
    in.cert_len = cert != NULL ? strlen(cert) : 0;
    in.chain_pem = chain;
    in.chain_len = chain != NULL ? strlen(chain) : 0;
    in.key_pem = key;
    in.key_len = key != NULL ? strlen(key) : 0;
    in.alias = "wcs";
    in.password = PASS;
    in.now = T0;
    return in;
}

/* SHA-256 hex computed here, independently of the module. */
static void
sha256_hex(const unsigned char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    int i;

    assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
cert_fp(X509 *x, char out[65])
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);

    assert_true(n > 0);
    sha256_hex(der, (size_t)n, out);
    OPENSSL_free(der);
}

static void
pub_fp(EVP_PKEY *k, char out[65])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    assert_true(n > 0);
    sha256_hex(der, (size_t)n, out);
    OPENSSL_free(der);
}

/* Runs keystore_check and expects rc with err containing each of the strings given. */
static void
expect_fail(const struct keystore_input *in, enum agent_rc want, const char *s1, const char *s2)
{
    struct keystore_info info, before;
    char err[512];

    memset(&info, 0xAA, sizeof(info));
    before = info;
    assert_int_equal(keystore_check(in, &info, err, sizeof(err)), want);
    assert_memory_equal(&info, &before, sizeof(info)); /* untouched on failure */
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    if (s1 != NULL && strstr(err, s1) == NULL)
        fail_msg("err \"%s\" lacks \"%s\"", err, s1);
    if (s2 != NULL && strstr(err, s2) == NULL)
        fail_msg("err \"%s\" lacks \"%s\"", err, s2);
}

/* ---- keystore_check ------------------------------------------------------- */

static void
test_check_ok(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct keystore_info info, info2;
    char err[256], fp[65], when[32];

    (void)state;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_string_equal(err, "");
    assert_string_equal(info.subject, "CN=wcs.example.com,O=wcs-agent tests");
    clock_rfc3339(T0 + 365 * DAY, when);
    assert_string_equal(info.not_after, when);
    assert_int_equal(info.days_left, 365);
    assert_int_equal(info.chain_len, 3);
    cert_fp(M.leaf, fp);
    assert_string_equal(info.cert_sha256, fp);
    pub_fp(M.leaf_key, fp);
    assert_string_equal(info.key_sha256, fp);
    assert_int_equal(strlen(info.chain_sha256), 64);
    assert_string_equal(logged(), ""); /* nothing to warn about */

    /* The chain in tls.certificate after the leaf gives the same result. */
    in = input(M.fullchain_pem, NULL, M.key_pem);
    assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
    assert_memory_equal(&info, &info2, sizeof(info));
    /* So does a split: intermediate in the certificate, root in tls.chain. */
    {
        char *c = cat3(M.leaf_pem, M.inter_pem, NULL);
        in = input(c, M.root_pem, M.key_pem);
        assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
        assert_memory_equal(&info, &info2, sizeof(info));
        free(c);
    }
    /* An empty chain_pem (length 0) is no chain; out may be NULL. */
    in = input(M.fullchain_pem, "", M.key_pem);
    assert_int_equal(keystore_check(&in, NULL, err, sizeof(err)), AGENT_OK);
    /* Traditional "EC PRIVATE KEY" and a key file that also holds the certificate. */
    in = input(M.leaf_pem, M.chain_pem, M.key_trad_pem);
    assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
    assert_string_equal(info2.key_sha256, info.key_sha256);
    {
        char *k = cat3(M.leaf_pem, M.key_pem, "trailing text\n");
        in = input(M.leaf_pem, M.chain_pem, k);
        assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
        free(k);
    }
    /* Text around and between PEM blocks, and CRLF line ends, are fine. */
    {
        char *c = cat3("subject=CN=wcs.example.com\r\n", M.leaf_pem, "\r\n# comment\r\n");
        in = input(c, M.chain_pem, M.key_pem);
        assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
        assert_string_equal(info2.cert_sha256, info.cert_sha256);
        free(c);
    }
    /* An RSA key and certificate. */
    in = input(M.rsa_leaf_pem, M.chain_pem, M.rsa_key_pem);
    assert_int_equal(keystore_check(&in, &info2, err, sizeof(err)), AGENT_OK);
    assert_string_equal(info2.subject, "CN=rsa.example.com,O=wcs-agent tests");
    pub_fp(M.rsa_key, fp);
    assert_string_equal(info2.key_sha256, fp);
    assert_int_equal(info2.days_left, 100);
    assert_string_equal(logged(), "");
}

static void
test_check_chain_fingerprint(void **state)
{
    struct keystore_input in;
    struct keystore_info a, b, c;
    char err[256];

    (void)state;
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    assert_int_equal(keystore_check(&in, &a, err, sizeof(err)), AGENT_OK);
    in = input(M.leaf_pem, M.inter_pem, M.key_pem);
    assert_int_equal(keystore_check(&in, &b, err, sizeof(err)), AGENT_OK);
    in = input(M.leaf_pem, NULL, M.key_pem);
    assert_int_equal(keystore_check(&in, &c, err, sizeof(err)), AGENT_OK);
    assert_int_equal(b.chain_len, 2);
    assert_int_equal(c.chain_len, 1);
    assert_string_equal(a.cert_sha256, c.cert_sha256);
    assert_string_not_equal(a.chain_sha256, b.chain_sha256);
    assert_string_not_equal(b.chain_sha256, c.chain_sha256);
    /* No chain: SHA-256 of "". */
    assert_string_equal(c.chain_sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* A leaf without its chain is accepted with a warning. */
    assert_non_null(strstr(logged(), "without a chain"));
}

static void
test_check_key_mismatch(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.other_key_pem);

    (void)state;
    expect_fail(&in, AGENT_ERR_INVAL,
                "tls.private_key does not match tls.certificate (CN=wcs.example.com,O=wcs-agent "
                "tests)",
                NULL);
    /* The RSA key with the EC certificate too. */
    in = input(M.leaf_pem, M.chain_pem, M.rsa_key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "does not match", NULL);
}

static void
test_check_validity(void **state)
{
    struct keystore_input in;
    struct keystore_info info;
    char err[256], when[32];
    const char *log;

    (void)state;
    in = input(M.expired_pem, M.chain_pem, M.key_pem);
    clock_rfc3339(T0 - DAY, when);
    expect_fail(&in, AGENT_ERR_INVAL, "tls.certificate (CN=wcs.example.com", "expired on");
    expect_fail(&in, AGENT_ERR_INVAL, when, NULL);

    in = input(M.notyet_pem, M.chain_pem, M.key_pem);
    clock_rfc3339(T0 + 2 * DAY, when);
    expect_fail(&in, AGENT_ERR_INVAL, "is not valid until", when);

    /* The same certificate is fine once now has moved on, and expired later still. */
    in.now = T0 + 3 * DAY;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 397);
    in.now = T0 + 2 * DAY; /* exactly notBefore */
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    in.now = T0 + 400 * DAY; /* exactly notAfter: still valid, 0 days left */
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 0);
    logged();
    in.now = T0 + 400 * DAY + 1;
    expect_fail(&in, AGENT_ERR_INVAL, "expired on", NULL);

    /* Ten days left: accepted, with a warning. */
    in = input(M.soon_pem, M.chain_pem, M.key_pem);
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 10);
    log = logged();
    assert_non_null(strstr(log, "expires on"));
    assert_non_null(strstr(log, "in 10 days"));
    assert_non_null(strstr(log, "CN=wcs.example.com"));
    /* Half a day later it is 9 whole days. */
    in.now = T0 + DAY / 2;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 9);
    logged();
    /* 21 days left: no warning; 20: a warning. */
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    in.now = T0 + (365 - 21) * DAY;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 21);
    assert_string_equal(logged(), "");
    in.now += 1;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(info.days_left, 20);
    assert_non_null(strstr(logged(), "in 20 days"));
}

static void
test_check_chain_broken(void **state)
{
    struct keystore_input in;
    char *c;

    (void)state;
    /* An intermediate of the same name from another CA: the signature fails. */
    in = input(M.leaf_pem, M.ointer_same_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL,
                "tls.chain: certificate 2 (CN=Test Intermediate,O=wcs-agent tests) did not issue "
                "certificate 1 (CN=wcs.example.com,O=wcs-agent tests)",
                "its key does not verify the signature of certificate 1");
    /* An intermediate of another name: the names do not link. */
    in = input(M.leaf_pem, M.ointer_other_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "certificate 2 (CN=Other Intermediate",
                "its subject differs from the issuer name of certificate 1");
    /* Wrong order: the root before the intermediate. */
    c = cat3(M.root_pem, M.inter_pem, NULL);
    in = input(M.leaf_pem, c, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "certificate 2 (CN=Test Root CA",
                "did not issue certificate 1");
    free(c);
    /* The right intermediate under the wrong root: link 3 -> 2 fails. */
    c = cat3(M.inter_pem, M.oroot_pem, NULL);
    in = input(M.leaf_pem, c, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "certificate 3 (CN=Other Root CA",
                "did not issue certificate 2 (CN=Test Intermediate");
    free(c);
    /* The leaf given twice (in the certificate and at the head of the chain). */
    in = input(M.leaf_pem, M.fullchain_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "certificate 2 (CN=wcs.example.com", NULL);
    /* The chain first, then the leaf: the key belongs to certificate 3, not 1. */
    c = cat3(M.inter_pem, M.leaf_pem, NULL);
    in = input(c, NULL, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "does not match tls.certificate (CN=Test Intermediate", NULL);
    free(c);
}

static void
test_check_bad_pem(void **state)
{
    struct keystore_input in;
    char *c, *k;
    size_t n;

    (void)state;
    in = input("hello, world\n", M.chain_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.certificate holds no PEM certificate", NULL);
    in = input("", NULL, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.certificate holds no PEM certificate", NULL);
    in = input(M.leaf_pem, "junk", M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.chain holds no PEM certificate", NULL);
    /* Only a key where the certificate should be. */
    in = input(M.key_pem, M.chain_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.certificate holds no PEM certificate", NULL);

    /* A block cut short (no END line). */
    n = strlen(M.leaf_pem) / 2;
    c = strndup(M.leaf_pem, n);
    assert_non_null(c);
    in = input(c, M.chain_pem, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.certificate: PEM block 1 is damaged", NULL);
    free(c);
    c = cat3(M.inter_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n", NULL);
    in = input(M.leaf_pem, c, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.chain: PEM block 2 is damaged", NULL);
    free(c);
    /* Good base64, bad DER; and DER with bytes after the certificate. */
    in = input("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", NULL, M.key_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "PEM block 1 (CERTIFICATE) is not a valid X.509 certificate",
                NULL);
    {
        unsigned char *der = NULL, *big;
        int dn = i2d_X509(M.leaf, &der);
        BIO *b = BIO_new(BIO_s_mem());

        big = malloc((size_t)dn + 2);
        assert_non_null(big);
        memcpy(big, der, (size_t)dn);
        big[dn] = 0;
        big[dn + 1] = 0;
        assert_true(PEM_write_bio(b, "CERTIFICATE", "", big, dn + 2) > 0);
        c = bio_text(b);
        in = input(c, NULL, M.key_pem);
        expect_fail(&in, AGENT_ERR_PARSE, "is not a valid X.509 certificate", NULL);
        free(c);
        free(big);
        OPENSSL_free(der);
    }

    /* Keys: none, damaged, junk DER, two, encrypted. */
    in = input(M.leaf_pem, M.chain_pem, M.leaf_pem);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.private_key holds no PEM private key", NULL);
    in = input(M.leaf_pem, M.chain_pem, "");
    expect_fail(&in, AGENT_ERR_PARSE, "tls.private_key holds no PEM private key", NULL);
    n = strlen(M.key_pem) - 30;
    k = strndup(M.key_pem, n);
    assert_non_null(k);
    in = input(M.leaf_pem, M.chain_pem, k);
    expect_fail(&in, AGENT_ERR_PARSE, "tls.private_key: PEM block 1 is damaged", NULL);
    free(k);
    in = input(M.leaf_pem, M.chain_pem,
               "-----BEGIN PRIVATE KEY-----\nQUJDRA==\n-----END PRIVATE KEY-----\n");
    expect_fail(&in, AGENT_ERR_PARSE, "tls.private_key: PEM block 1 is not a valid private key",
                NULL);
    k = cat3(M.key_pem, M.other_key_pem, NULL);
    in = input(M.leaf_pem, M.chain_pem, k);
    expect_fail(&in, AGENT_ERR_INVAL, "tls.private_key holds more than one private key", NULL);
    free(k);
    in = input(M.leaf_pem, M.chain_pem, M.enc_p8_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "tls.private_key is encrypted", NULL);
    in = input(M.leaf_pem, M.chain_pem, M.enc_trad_pem);
    expect_fail(&in, AGENT_ERR_INVAL, "tls.private_key is encrypted", NULL);
    /* An Ed25519 key is refused by type (Java 8 cannot read it from PKCS#12). */
    {
        EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        X509 *x;
        char *xp, *kp;

        assert_non_null(ed);
        x = make_cert("ed.example.com", ed, M.inter, M.inter_key, -1, 100, 0);
        xp = cert_pem(x);
        kp = key_pem(ed, 0);
        in = input(xp, M.chain_pem, kp);
        expect_fail(&in, AGENT_ERR_INVAL, "tls.private_key: a ED25519 key", "only RSA and EC");
        free(xp);
        free(kp);
        X509_free(x);
        EVP_PKEY_free(ed);
    }
}

/* No message ever quotes the key: check every key error against its base64 lines. */
static void
test_check_no_key_in_errors(void **state)
{
    char *cut = strndup(M.key_pem, strlen(M.key_pem) - 40);
    const char *certs[] = {M.leaf_pem, M.leaf_pem, M.leaf_pem, M.rsa_leaf_pem, M.leaf_pem};
    const char *keys[] = {M.other_key_pem, M.enc_p8_pem, M.enc_trad_pem, M.key_pem, cut};
    char err[1024], line[80];
    size_t i;

    (void)state;
    assert_non_null(cut);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *p = strchr(keys[i], '\n') + 1;
        const char *e;
        struct keystore_input in = input(certs[i], M.chain_pem, keys[i]);

        while (*p != '\0' && strchr(p, ':') != NULL && strchr(p, ':') < strchr(p, '\n'))
            p = strchr(p, '\n') + 1; /* skip Proc-Type / DEK-Info headers */
        if (*p == '\n')
            p++;
        e = strchr(p, '\n');
        assert_true(keystore_check(&in, NULL, err, sizeof(err)) != AGENT_OK);
        /* 16 bytes from the first base64 line of the key. */
        assert_true(e - p > 20);
        memcpy(line, p + 4, 16);
        line[16] = '\0';
        assert_null(strstr(err, line));
        assert_null(strstr(err, PASS));
    }
    assert_null(strstr(logged(), PASS));
    free(cut);
}

static void
test_check_limits_args(void **state)
{
    struct keystore_input in;
    char err[256], *big, *many;
    size_t i, n;

    (void)state;
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    in.cert_len = KEYSTORE_PEM_MAX + 1;
    expect_fail(&in, AGENT_ERR_TOOBIG, "tls.certificate is larger than", NULL);
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    in.key_len = KEYSTORE_PEM_MAX + 1;
    expect_fail(&in, AGENT_ERR_TOOBIG, "tls.private_key is larger than", NULL);
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    in.chain_len = KEYSTORE_PEM_MAX + 1;
    expect_fail(&in, AGENT_ERR_TOOBIG, "tls.chain is larger than", NULL);

    /* 17 certificates in all. */
    n = strlen(M.inter_pem);
    many = malloc(n * KEYSTORE_CERTS_MAX + 1);
    assert_non_null(many);
    for (i = 0; i < KEYSTORE_CERTS_MAX; i++)
        memcpy(many + i * n, M.inter_pem, n);
    many[n * KEYSTORE_CERTS_MAX] = '\0';
    in = input(M.leaf_pem, many, M.key_pem);
    expect_fail(&in, AGENT_ERR_TOOBIG, "more than 16 certificates", NULL);
    free(many);

    /* A big but allowed input made of padding passes the size check. */
    big = malloc(KEYSTORE_PEM_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', KEYSTORE_PEM_MAX);
    n = strlen(M.fullchain_pem);
    memcpy(big, M.fullchain_pem, n);
    big[KEYSTORE_PEM_MAX] = '\0';
    in = input(big, NULL, M.key_pem);
    assert_int_equal(keystore_check(&in, NULL, err, sizeof(err)), AGENT_OK);
    free(big);

    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    in.alias = "";
    expect_fail(&in, AGENT_ERR_INVAL, "tls.alias", NULL);
    in.alias = "bad alias";
    expect_fail(&in, AGENT_ERR_INVAL, "tls.alias", NULL);
    in.alias = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 65 */
    expect_fail(&in, AGENT_ERR_INVAL, "tls.alias", NULL);
    in.alias = "Wcs_1.test-2";
    assert_int_equal(keystore_check(&in, NULL, err, sizeof(err)), AGENT_OK);
    in.password = "";
    expect_fail(&in, AGENT_ERR_INVAL, "tls.keystore_password", NULL);
    in.password = NULL;
    expect_fail(&in, AGENT_ERR_INVAL, NULL, NULL);
    in = input(NULL, NULL, M.key_pem);
    expect_fail(&in, AGENT_ERR_INVAL, NULL, NULL);
    in = input(M.leaf_pem, NULL, NULL);
    expect_fail(&in, AGENT_ERR_INVAL, NULL, NULL);
    assert_int_equal(keystore_check(NULL, NULL, err, sizeof(err)), AGENT_ERR_INVAL);
    /* err may be NULL. */
    in = input(M.leaf_pem, M.chain_pem, M.other_key_pem);
    assert_int_equal(keystore_check(&in, NULL, NULL, 0), AGENT_ERR_INVAL);
    /* A small err is cut, not overrun. */
    memset(err, 'x', sizeof(err));
    assert_int_equal(keystore_check(&in, NULL, err, 10), AGENT_ERR_INVAL);
    assert_int_equal(strlen(err), 9);
    assert_int_equal(err[10], 'x');
}

/* ---- keystore_build ------------------------------------------------------- */

static PKCS12 *
p12_of(const struct buf *b)
{
    const unsigned char *p = (const unsigned char *)b->data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)b->len);

    assert_non_null(p12);
    assert_ptr_equal(p, (const unsigned char *)b->data + b->len);
    return p12;
}

static void
test_build_roundtrip(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    STACK_OF(X509) *ca = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    PKCS12 *p12;
    struct buf b;
    unsigned char *alias;
    int alen, i;

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b), AGENT_OK);
    assert_true(b.secret);
    assert_true(b.len > 500);
    assert_string_equal(logged(), "");

    p12 = p12_of(&b);
    assert_int_equal(PKCS12_parse(p12, PASS, &key, &cert, &ca), 1);
    assert_non_null(key);
    assert_non_null(cert);
    assert_int_equal(EVP_PKEY_eq(key, M.leaf_key), 1);
    assert_int_equal(X509_cmp(cert, M.leaf), 0);
    assert_non_null(ca);
    assert_int_equal(sk_X509_num(ca), 2);
    {
        int seen_inter = 0, seen_root = 0;
        for (i = 0; i < 2; i++) {
            seen_inter += X509_cmp(sk_X509_value(ca, i), M.inter) == 0;
            seen_root += X509_cmp(sk_X509_value(ca, i), M.root) == 0;
        }
        assert_int_equal(seen_inter, 1);
        assert_int_equal(seen_root, 1);
    }
    alias = X509_alias_get0(cert, &alen);
    assert_non_null(alias);
    assert_int_equal(alen, 3);
    assert_memory_equal(alias, "wcs", 3);
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    ca = NULL;
    cert = NULL;
    key = NULL;

    /* The wrong password opens nothing. */
    assert_int_equal(PKCS12_verify_mac(p12, "password", -1), 0);
    assert_int_equal(PKCS12_verify_mac(p12, PASS, -1), 1);
    assert_int_equal(PKCS12_parse(p12, "password", &key, &cert, &ca), 0);
    assert_null(key);
    PKCS12_free(p12);

    /* A second build differs in bytes (random salts) but holds the same. */
    {
        struct buf b2;
        struct keystore_info info;
        char err[256];
        int same = -1;

        buf_init_secret(&b2, KEYSTORE_P12_MAX);
        assert_int_equal(keystore_build(&in, &b2), AGENT_OK);
        assert_false(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
        assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
        assert_int_equal(keystore_matches(b2.data, b2.len, PASS, "wcs", &info, &same), AGENT_OK);
        assert_int_equal(same, 1);
        buf_cleanup(&b2);
    }
    buf_cleanup(&b);
}

/* The algorithms every Java 8 reads: PBE-SHA1-3DES for key and certificates, a SHA-1 MAC. */
static void
test_build_algorithms(void **state)
{
    struct keystore_input in = input(M.fullchain_pem, NULL, M.key_pem);
    const ASN1_OCTET_STRING *mac = NULL, *salt = NULL;
    const X509_ALGOR *macalg = NULL;
    const ASN1_INTEGER *iter = NULL;
    const ASN1_OBJECT *obj = NULL;
    STACK_OF(PKCS7) * safes;
    PKCS12 *p12;
    struct buf b;
    int i, j, keybags = 0, certbags = 0, encsafes = 0;

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b), AGENT_OK);
    p12 = p12_of(&b);

    PKCS12_get0_mac(&mac, &macalg, &salt, &iter, p12);
    assert_non_null(mac);
    assert_non_null(macalg);
    X509_ALGOR_get0(&obj, NULL, NULL, macalg);
    assert_int_equal(OBJ_obj2nid(obj), NID_sha1);
    assert_non_null(iter);
    assert_true(ASN1_INTEGER_get(iter) >= 2048);
    assert_int_equal(ASN1_INTEGER_get(iter), KEYSTORE_PBE_ITER);

    safes = PKCS12_unpack_authsafes(p12);
    assert_non_null(safes);
    for (i = 0; i < sk_PKCS7_num(safes); i++) {
        PKCS7 *p7 = sk_PKCS7_value(safes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        int nid = OBJ_obj2nid(p7->type);

        if (nid == NID_pkcs7_encrypted) {
            const X509_ALGOR *alg = p7->d.encrypted->enc_data->algorithm;
            X509_ALGOR_get0(&obj, NULL, NULL, alg);
            assert_int_equal(OBJ_obj2nid(obj), NID_pbe_WithSHA1And3_Key_TripleDES_CBC);
            encsafes++;
            bags = PKCS12_unpack_p7encdata(p7, PASS, -1);
        } else {
            assert_int_equal(nid, NID_pkcs7_data);
            bags = PKCS12_unpack_p7data(p7);
        }
        assert_non_null(bags);
        for (j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
            PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);

            if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
                const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
                const X509_ALGOR *alg = NULL;
                const ASN1_TYPE *fn;

                X509_SIG_get0(sig, &alg, NULL);
                X509_ALGOR_get0(&obj, NULL, NULL, alg);
                assert_int_equal(OBJ_obj2nid(obj), NID_pbe_WithSHA1And3_Key_TripleDES_CBC);
                fn = PKCS12_SAFEBAG_get0_attr(bag, NID_friendlyName);
                assert_non_null(fn);
                assert_non_null(PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID));
                keybags++;
            } else if (PKCS12_SAFEBAG_get_nid(bag) == NID_certBag) {
                certbags++;
            }
        }
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    assert_int_equal(keybags, 1);
    assert_int_equal(certbags, 3);
    assert_int_equal(encsafes, 1);
    PKCS12_free(p12);
    buf_cleanup(&b);
}

static void
test_build_failures(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.other_key_pem);
    struct buf b;
    const char *log;

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(buf_puts(&b, "pre"), AGENT_OK);
    assert_int_equal(keystore_build(&in, &b), AGENT_ERR_INVAL);
    assert_string_equal(buf_cstr(&b), "pre");
    log = logged();
    assert_non_null(strstr(log, "keystore: tls.private_key does not match"));
    assert_null(strstr(log, PASS));

    in = input(M.expired_pem, M.chain_pem, M.key_pem);
    assert_int_equal(keystore_build(&in, &b), AGENT_ERR_INVAL);
    assert_non_null(strstr(logged(), "expired on"));
    assert_string_equal(buf_cstr(&b), "pre");
    buf_cleanup(&b);

    /* Too small an output buffer: TOOBIG, unchanged. */
    in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    buf_init(&b, 100);
    assert_int_equal(keystore_build(&in, &b), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    assert_true(b.secret);
    assert_non_null(strstr(logged(), "larger than 100 bytes"));
    buf_cleanup(&b);
    assert_int_equal(keystore_build(&in, NULL), AGENT_ERR_INVAL);
    assert_int_equal(keystore_build(NULL, &b), AGENT_ERR_INVAL);
    logged();
}

/* ---- keystore_matches ----------------------------------------------------- */

static void
test_matches(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct keystore_info info, soon, leaf_only, rsa;
    struct buf b, b1;
    char err[256];
    int same;

    (void)state;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b), AGENT_OK);

    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 1);

    /* Another certificate for the same key. */
    in = input(M.soon_pem, M.chain_pem, M.key_pem);
    assert_int_equal(keystore_check(&in, &soon, err, sizeof(err)), AGENT_OK);
    assert_string_equal(soon.key_sha256, info.key_sha256);
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &soon, &same), AGENT_OK);
    assert_int_equal(same, 0);
    /* Another key and certificate. */
    in = input(M.rsa_leaf_pem, M.chain_pem, M.rsa_key_pem);
    assert_int_equal(keystore_check(&in, &rsa, err, sizeof(err)), AGENT_OK);
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &rsa, &same), AGENT_OK);
    assert_int_equal(same, 0);
    /* A key fingerprint that differs alone is enough. */
    {
        struct keystore_info k = info;
        k.key_sha256[0] = k.key_sha256[0] == '0' ? '1' : '0';
        same = -1;
        assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &k, &same), AGENT_OK);
        assert_int_equal(same, 0);
    }
    /* The same leaf and key without the chain: not the same keystore. */
    in = input(M.leaf_pem, NULL, M.key_pem);
    assert_int_equal(keystore_check(&in, &leaf_only, err, sizeof(err)), AGENT_OK);
    logged(); /* the warnings of the two checks above */
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &leaf_only, &same), AGENT_OK);
    assert_int_equal(same, 0);
    buf_init_secret(&b1, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b1), AGENT_OK);
    same = -1;
    assert_int_equal(keystore_matches(b1.data, b1.len, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);
    assert_int_equal(keystore_matches(b1.data, b1.len, PASS, "wcs", &leaf_only, &same), AGENT_OK);
    assert_int_equal(same, 1);
    buf_cleanup(&b1);

    /* Wrong password, other alias: not the same, and no error. */
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, "password", "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "selfsigned", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wc", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);

    /* Junk, truncated, trailing bytes, empty: not the same. */
    same = -1;
    assert_int_equal(keystore_matches("\xfe\xed\xfe\xed junk", 10, PASS, "wcs", &info, &same),
                     AGENT_OK);
    assert_int_equal(same, 0);
    same = -1;
    assert_int_equal(keystore_matches(b.data, b.len - 1, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);
    same = -1;
    assert_int_equal(buf_putc(&b, '\0'), AGENT_OK);
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);
    same = -1;
    assert_int_equal(keystore_matches(NULL, 0, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 0);

    /* Bad arguments. */
    assert_int_equal(keystore_matches(NULL, 5, PASS, "wcs", &info, &same), AGENT_ERR_INVAL);
    assert_int_equal(keystore_matches(b.data, b.len, NULL, "wcs", &info, &same), AGENT_ERR_INVAL);
    assert_int_equal(keystore_matches(b.data, b.len, PASS, NULL, &info, &same), AGENT_ERR_INVAL);
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", NULL, &same), AGENT_ERR_INVAL);
    assert_int_equal(keystore_matches(b.data, b.len, PASS, "wcs", &info, NULL), AGENT_ERR_INVAL);
    assert_string_equal(logged(), "");
    buf_cleanup(&b);
}

/* A keystore written by another tool (openssl's own defaults: AES-256, PBKDF2) is read too. */
static void
test_matches_foreign(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct keystore_info info;
    STACK_OF(X509) *ca = sk_X509_new_null();
    unsigned char *der = NULL;
    PKCS12 *p12;
    char err[256];
    int n, same = -1;

    (void)state;
    assert_int_equal(keystore_check(&in, &info, err, sizeof(err)), AGENT_OK);
    assert_non_null(ca);
    /* Reversed chain order: the fingerprint does not depend on it. */
    assert_true(sk_X509_push(ca, M.root) > 0);
    assert_true(sk_X509_push(ca, M.inter) > 0);
    p12 = PKCS12_create(PASS, "wcs", M.leaf_key, M.leaf, ca, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    n = i2d_PKCS12(p12, &der);
    assert_true(n > 0);
    assert_int_equal(keystore_matches((const char *)der, (size_t)n, PASS, "wcs", &info, &same),
                     AGENT_OK);
    assert_int_equal(same, 1);
    OPENSSL_free(der);
    PKCS12_free(p12);
    sk_X509_free(ca);
}

/* ---- keystore_write ------------------------------------------------------- */

static void
test_write(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct stat st;
    struct buf b;
    gid_t gid = geteuid() == 0 ? (gid_t)4242 : getgid();
    char *got;
    size_t n;

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b), AGENT_OK);
    assert_int_equal(keystore_write(in_dir("wss.jks"), &b, gid), AGENT_OK);
    assert_int_equal(stat(in_dir("wss.jks"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_uid, geteuid());
    got = get_bytes(in_dir("wss.jks"), &n);
    assert_int_equal(n, b.len);
    assert_memory_equal(got, b.data, n);
    free(got);
    assert_int_equal(count_entries(), 1);

    /* Replacing an existing file (mode 0644, another group): 0640 and the group asked for. */
    put_bytes(in_dir("old.jks"), "old keystore", 12);
    assert_int_equal(chmod(in_dir("old.jks"), 0644), 0);
    assert_int_equal(keystore_write(in_dir("old.jks"), &b, gid), AGENT_OK);
    assert_int_equal(stat(in_dir("old.jks"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, gid);
    got = get_bytes(in_dir("old.jks"), &n);
    assert_int_equal(n, b.len);
    assert_memory_equal(got, b.data, n);
    free(got);
    /* (gid_t)-1 keeps the group. */
    assert_int_equal(keystore_write(in_dir("old.jks"), &b, (gid_t)-1), AGENT_OK);
    assert_int_equal(stat(in_dir("old.jks"), &st), 0);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(count_entries(), 2);
    assert_string_equal(logged(), "");

    /* Issue 9 item 2: a keystore path another user could have redirected is refused. */
    if (geteuid() == 0) {
        assert_int_equal(symlink("old.jks", in_dir("link.jks")), 0);
        assert_int_equal(lchown(in_dir("link.jks"), 65534, 65534), 0);
        assert_int_equal(keystore_write(in_dir("link.jks"), &b, gid), AGENT_ERR_INVAL);
        assert_non_null(strstr(logged(), "link.jks is owned by user 65534"));
        assert_int_equal(unlink(in_dir("link.jks")), 0);
    }
    buf_cleanup(&b);
}

static void
assert_file_is(const char *path, const char *want)
{
    size_t n;
    char *got = get_bytes(path, &n);

    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    free(got);
}

static void
test_write_failure_keeps_file(void **state)
{
    struct keystore_input in = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct rlimit old, lim;
    struct buf b, empty;
    char name[300];
    void (*old_handler)(int);
    const char *old_ks = "existing keystore bytes";

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&in, &b), AGENT_OK);
    assert_true(b.len > 1024);

    /* The write itself fails (file size limit): the old file stays byte-identical. */
    put_bytes(in_dir("wss.jks"), old_ks, strlen(old_ks));
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    old_handler = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(keystore_write(in_dir("wss.jks"), &b, (gid_t)-1), AGENT_ERR_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_file_is(in_dir("wss.jks"), old_ks);
    assert_int_equal(count_entries(), 1); /* no temporary file left */
    assert_non_null(strstr(logged(), "wss.jks"));

    /* The temporary file cannot be created (name too long for it). */
    memset(name, 'k', 250);
    name[250] = '\0';
    put_bytes(in_dir(name), old_ks, strlen(old_ks));
    assert_int_equal(keystore_write(in_dir(name), &b, (gid_t)-1), AGENT_ERR_IO);
    assert_file_is(in_dir(name), old_ks);
    assert_int_equal(count_entries(), 2);
    logged();

    /* Nothing to write. */
    buf_init_secret(&empty, 10);
    assert_int_equal(keystore_write(in_dir("wss.jks"), &empty, (gid_t)-1), AGENT_ERR_INVAL);
    assert_int_equal(keystore_write(in_dir("wss.jks"), NULL, (gid_t)-1), AGENT_ERR_INVAL);
    assert_int_equal(keystore_write(NULL, &b, (gid_t)-1), AGENT_ERR_INVAL);
    assert_file_is(in_dir("wss.jks"), old_ks);
    assert_non_null(strstr(logged(), "nothing to write"));

    /* A folder that does not exist. */
    assert_int_equal(keystore_write(in_dir("no/such/wss.jks"), &b, (gid_t)-1), AGENT_ERR_IO);
    logged();
    buf_cleanup(&b);
}

/* The whole step as run/ will do it: a bad input after a good one changes nothing. */
static void
test_step_flow(void **state)
{
    struct keystore_input good = input(M.leaf_pem, M.chain_pem, M.key_pem);
    struct keystore_input bad = input(M.leaf_pem, M.chain_pem, M.other_key_pem);
    struct keystore_info info;
    struct buf b, cur;
    char err[256], *before, *after;
    size_t n1, n2;
    int same = -1;

    (void)state;
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_check(&good, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(keystore_build(&good, &b), AGENT_OK);
    assert_int_equal(keystore_write(in_dir("wss.jks"), &b, (gid_t)-1), AGENT_OK);
    buf_cleanup(&b);
    before = get_bytes(in_dir("wss.jks"), &n1);

    /* Rerun with the same input: matches, so nothing is written. */
    buf_init_secret(&cur, KEYSTORE_P12_MAX);
    assert_int_equal(buf_append(&cur, before, n1), AGENT_OK);
    assert_int_equal(keystore_check(&good, &info, err, sizeof(err)), AGENT_OK);
    assert_int_equal(keystore_matches(cur.data, cur.len, PASS, "wcs", &info, &same), AGENT_OK);
    assert_int_equal(same, 1);
    buf_cleanup(&cur);

    /* A bad input stops at the check. */
    assert_int_equal(keystore_check(&bad, &info, err, sizeof(err)), AGENT_ERR_INVAL);
    buf_init_secret(&b, KEYSTORE_P12_MAX);
    assert_int_equal(keystore_build(&bad, &b), AGENT_ERR_INVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(keystore_write(in_dir("wss.jks"), &b, (gid_t)-1), AGENT_ERR_INVAL);
    buf_cleanup(&b);
    after = get_bytes(in_dir("wss.jks"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    logged();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_chain_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_key_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_validity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_chain_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_bad_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_no_key_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_limits_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_algorithms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matches_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_keeps_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_flow, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
