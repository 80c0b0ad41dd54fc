#include "core/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/secmem.h"

enum agent_rc
str_copy(char *dst, size_t cap, const char *src)
{
    size_t n;

    if (cap == 0)
        return AGENT_ERR_TOOBIG;
    n = strlen(src);
    if (n >= cap) {
        dst[0] = '\0';
        return AGENT_ERR_TOOBIG;
    }
    memcpy(dst, src, n + 1);
    return AGENT_OK;
}

enum agent_rc
str_copyn(char *dst, size_t cap, const char *src, size_t n)
{
    if (cap == 0)
        return AGENT_ERR_TOOBIG;
    if (n >= cap) {
        dst[0] = '\0';
        return AGENT_ERR_TOOBIG;
    }
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return AGENT_OK;
}

char *
str_dup(const char *s)
{
    if (s == NULL)
        return NULL;
    return str_ndup(s, strlen(s));
}

char *
str_ndup(const char *s, size_t n)
{
    char *p;

    if (s == NULL || n == (size_t)-1)
        return NULL;
    p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * strtoll() alone accepts leading spaces, an empty digit run and trailing
 * junk; the checks before and after it refuse all three.
 */
enum agent_rc
str_to_ll(const char *s, long long min, long long max, long long *out)
{
    const char *d;
    char *end;
    long long v;

    if (s == NULL)
        return AGENT_ERR_INVAL;
    d = s;
    if (*d == '-' || *d == '+')
        d++;
    if (!is_digit(*d))
        return AGENT_ERR_INVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return AGENT_ERR_INVAL;
    if (v < min || v > max)
        return AGENT_ERR_INVAL;
    *out = v;
    return AGENT_OK;
}

enum agent_rc
str_to_int(const char *s, int min, int max, int *out)
{
    long long v;
    enum agent_rc rc;

    rc = str_to_ll(s, min, max, &v);
    if (rc != AGENT_OK)
        return rc;
    *out = (int)v;
    return AGENT_OK;
}

enum agent_rc
str_to_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t i;

    if (s == NULL)
        return AGENT_ERR_INVAL;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (str_casecmp(s, yes[i]) == 0) {
            *out = 1;
            return AGENT_OK;
        }
        if (str_casecmp(s, no[i]) == 0) {
            *out = 0;
            return AGENT_OK;
        }
    }
    return AGENT_ERR_INVAL;
}

int
str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
str_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

char *
str_trim(char *s)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        n--;
    s[n] = '\0';
    return s;
}

static int
lower(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 'a';
    return c;
}

int
str_casecmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    int d;

    for (;; p++, q++) {
        d = lower(*p) - lower(*q);
        if (d != 0 || *p == '\0')
            return d;
    }
}

int
str_ncasecmp(const char *a, const char *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    int d;

    for (; n > 0; n--, p++, q++) {
        d = lower(*p) - lower(*q);
        if (d != 0 || *p == '\0')
            return d;
    }
    return 0;
}

void
str_wipe(void *p, size_t n)
{
    secmem_wipe(p, n);
}

void
str_free_secret(char *s)
{
    if (s == NULL)
        return;
    str_wipe(s, strlen(s));
    free(s);
}

enum agent_rc
str_hex(const unsigned char *p, size_t n, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    if (cap == 0)
        return AGENT_ERR_TOOBIG;
    if (n > (cap - 1) / 2) {
        out[0] = '\0';
        return AGENT_ERR_TOOBIG;
    }
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
    return AGENT_OK;
}

/*
 * EVP_Digest() only fails on allocation failure inside OpenSSL; the output is
 * then an empty string rather than stale bytes, which never matches a real
 * digest.
 */
void
str_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    str_hex(md, mdlen, out, 65);
}

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes into a local buffer first so that out is unchanged on a parse
 * error.  After the first '=' only more '=' and whitespace may follow, and
 * a lone sextet at the end (which cannot encode a byte) is an error.
 */
enum agent_rc
str_base64_decode(const char *s, size_t n, struct buf *out)
{
    struct buf tmp;
    unsigned int acc = 0;
    int bits = 0, nsext = 0, pad = 0, v;
    size_t i;
    unsigned char c;
    enum agent_rc rc = AGENT_ERR_PARSE;

    buf_init(&tmp, out->max);
    tmp.secret = out->secret;
    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if (is_space((char)c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            goto out;
        v = b64_value(c);
        if (v < 0)
            goto out;
        nsext++;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            rc = buf_putc(&tmp, (char)((acc >> bits) & 0xff));
            if (rc != AGENT_OK)
                goto out;
            rc = AGENT_ERR_PARSE;
        }
    }
    if (nsext % 4 == 1 || pad > 2 || (pad > 0 && (nsext + pad) % 4 != 0))
        goto out;
    rc = buf_append(out, tmp.data == NULL ? "" : tmp.data, tmp.len);
out:
    acc = 0;
    buf_cleanup(&tmp);
    return rc;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum agent_rc
str_split_argv(const char *s, char ***out)
{
    char **argv;
    const char *p, *w;
    size_t n = 0, i = 0;

    if (s == NULL)
        return AGENT_ERR_INVAL;
    for (p = s; *p != '\0';) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        n++;
        while (*p != '\0' && !is_blank(*p))
            p++;
    }
    if (n == 0)
        return AGENT_ERR_INVAL;
    argv = calloc(n + 1, sizeof(*argv));
    if (argv == NULL)
        return AGENT_ERR_NOMEM;
    for (p = s; i < n;) {
        while (is_blank(*p))
            p++;
        w = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        argv[i] = str_ndup(w, (size_t)(p - w));
        if (argv[i] == NULL) {
            str_argv_free(argv);
            return AGENT_ERR_NOMEM;
        }
        i++;
    }
    argv[n] = NULL;
    *out = argv;
    return AGENT_OK;
}

void
str_argv_free(char **argv)
{
    size_t i;

    if (argv == NULL)
        return;
    for (i = 0; argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

static int
is_lhex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int
is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

int
str_is_instance_id(const char *s)
{
    size_t n = 0;

    if (s == NULL || strncmp(s, "i-", 2) != 0)
        return 0;
    for (s += 2; s[n] != '\0'; n++) {
        if (!is_lhex(s[n]))
            return 0;
    }
    return n == 8 || n == 17;
}

/*
 * Two letters, one or more "-word" parts, then "-digits":
 * eu-west-1, us-gov-west-1, ap-southeast-4, us-isob-east-1.
 */
int
str_is_region(const char *s)
{
    const char *p;
    size_t words = 0, digits = 0;

    if (s == NULL || !is_lower(s[0]) || !is_lower(s[1]) || s[2] != '-')
        return 0;
    p = s + 3;
    for (;;) {
        if (is_lower(*p)) {
            while (is_lower(*p))
                p++;
            if (*p != '-')
                return 0;
            p++;
            words++;
            continue;
        }
        break;
    }
    while (is_digit(*p)) {
        p++;
        digits++;
    }
    if (*p != '\0' || words == 0 || digits == 0 || digits > 3)
        return 0;
    return strlen(s) <= 32;
}

static int
is_partition(const char *p, size_t n)
{
    if (n == 3 && memcmp(p, "aws", 3) == 0)
        return 1;
    if (n == 6 && memcmp(p, "aws-cn", 6) == 0)
        return 1;
    if (n == 10 && memcmp(p, "aws-us-gov", 10) == 0)
        return 1;
    if (n >= 7 && memcmp(p, "aws-iso", 7) == 0) {
        size_t i;

        for (i = 7; i < n; i++) {
            if (!is_lower(p[i]) && p[i] != '-')
                return 0;
        }
        return 1;
    }
    return 0;
}

/*
 * arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE; region and account may be
 * empty, the resource is printable ASCII without spaces.
 */
int
str_is_arn(const char *s)
{
    const char *f[5];
    size_t len[5], i;
    const char *p, *c;

    if (s == NULL || strncmp(s, "arn:", 4) != 0)
        return 0;
    p = s + 4;
    for (i = 0; i < 4; i++) {
        c = strchr(p, ':');
        if (c == NULL)
            return 0;
        f[i] = p;
        len[i] = (size_t)(c - p);
        p = c + 1;
    }
    f[4] = p;
    len[4] = strlen(p);
    if (!is_partition(f[0], len[0]) || len[1] == 0 || len[4] == 0)
        return 0;
    for (i = 0; i < len[1]; i++) {
        if (!is_lower(f[1][i]) && !is_digit(f[1][i]) && f[1][i] != '-')
            return 0;
    }
    if (len[2] > 0) {
        char region[33];

        if (str_copyn(region, sizeof(region), f[2], len[2]) != AGENT_OK || !str_is_region(region))
            return 0;
    }
    /* The account: none (S3), 12 digits, or "aws" for AWS-managed resources. */
    if (!(len[3] == 3 && memcmp(f[3], "aws", 3) == 0)) {
        for (i = 0; i < len[3]; i++) {
            if (!is_digit(f[3][i]))
                return 0;
        }
        if (len[3] != 0 && len[3] != 12)
            return 0;
    }
    for (p = f[4]; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return 0;
    }
    return 1;
}

int
str_is_ipv4(const char *s)
{
    struct in_addr a;

    if (s == NULL)
        return 0;
    return inet_pton(AF_INET, s, &a) == 1;
}

int
str_is_graphic(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    }
    return 1;
}

int
str_is_text(const char *s, size_t max)
{
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
}

int
str_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
