/*
 * Fuzz target for wcs/keystore: keystore_check on arbitrary certificate,
 * chain and key bytes.
 *
 * Input: byte 0 is a separator; the rest is split at its first two
 * occurrences into cert SEP chain SEP key.  With one occurrence there is
 * no chain (cert SEP key); with none everything is the certificate and the
 * key is empty.  Each part is copied into a buffer of its exact size (no
 * NUL after it), so a read past its length is caught by ASan.  The check
 * runs at a fixed time (2030-01-01) so that the committed seeds stay valid.
 *
 * Properties (abort on violation): a failure leaves one non-empty line in
 * err and does not touch the info; a success gives a NUL-terminated
 * subject and not_after, 64-digit fingerprints and 1..KEYSTORE_CERTS_MAX
 * certificates, and then keystore_build succeeds and keystore_matches
 * finds the built keystore the same (and not the same under another
 * password or alias).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "wcs/keystore.h"

#define FUZZ_NOW ((time_t)1893456000) /* 2030-01-01T00:00:00Z */

static char *
part(const uint8_t *p, size_t n)
{
    char *c = malloc(n > 0 ? n : 1);

    if (c == NULL)
        abort();
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

static int
hex64(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[64] == '\0';
}

/* The subject is for messages: one printable line. */
static int
printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

static void
check_built(const struct keystore_input *in, const struct keystore_info *info)
{
    struct buf p12;
    int same = -1;

    buf_init_secret(&p12, KEYSTORE_P12_MAX);
    if (keystore_build(in, &p12) != AGENT_OK || p12.len == 0)
        abort();
    if (keystore_matches(p12.data, p12.len, in->password, in->alias, info, &same) != AGENT_OK ||
        same != 1)
        abort();
    if (keystore_matches(p12.data, p12.len, "not-the-password", in->alias, info, &same) !=
            AGENT_OK ||
        same != 0)
        abort();
    if (keystore_matches(p12.data, p12.len, in->password, "other", info, &same) != AGENT_OK ||
        same != 0)
        abort();
    buf_cleanup(&p12);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    const uint8_t *rest, *s1, *s2 = NULL;
    size_t n, cert_n, chain_n = 0, key_n;
    char *cert, *chain = NULL, *key;
    struct keystore_input in;
    struct keystore_info info, before;
    char err[512];
    enum agent_rc rc;
    size_t el;

    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }
    if (size < 1)
        return 0;
    rest = data + 1;
    n = size - 1;
    s1 = memchr(rest, data[0], n);
    if (s1 == NULL) {
        cert_n = n;
        key_n = 0;
        cert = part(rest, cert_n);
        key = part(rest + n, 0);
    } else {
        cert_n = (size_t)(s1 - rest);
        s2 = memchr(s1 + 1, data[0], n - cert_n - 1);
        cert = part(rest, cert_n);
        if (s2 == NULL) {
            key_n = n - cert_n - 1;
            key = part(s1 + 1, key_n);
        } else {
            chain_n = (size_t)(s2 - (s1 + 1));
            chain = part(s1 + 1, chain_n);
            key_n = n - cert_n - 1 - chain_n - 1;
            key = part(s2 + 1, key_n);
        }
    }

    memset(&in, 0, sizeof(in));
    in.cert_pem = cert;
    in.cert_len = cert_n;
    in.chain_pem = chain;
    in.chain_len = chain_n;
    in.key_pem = key;
    in.key_len = key_n;
    in.alias = "wcs";
    in.password = "fuzz-password";
    in.now = FUZZ_NOW;

    memset(&info, 0x5a, sizeof(info));
    before = info;
    rc = keystore_check(&in, &info, err, sizeof(err));
    if (rc != AGENT_OK) {
        el = strnlen(err, sizeof(err));
        if (el == 0 || el == sizeof(err) || memchr(err, '\n', el) != NULL)
            abort();
        if (memcmp(&info, &before, sizeof(info)) != 0)
            abort();
    } else {
        if (memchr(info.subject, '\0', sizeof(info.subject)) == NULL || !printable(info.subject) ||
            strlen(info.not_after) != 20 || !hex64(info.cert_sha256) || !hex64(info.key_sha256) ||
            !hex64(info.chain_sha256) || info.chain_len < 1 ||
            info.chain_len > KEYSTORE_CERTS_MAX || info.days_left < 0)
            abort();
        check_built(&in, &info);
    }
    free(cert);
    free(chain);
    free(key);
    return 0;
}
