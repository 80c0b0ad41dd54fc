/*
 * Fuzz target for net/namehash: namehash_der on arbitrary bytes taken as a
 * DER Name, against OpenSSL's own hash of the same bytes.
 *
 * The input is copied into a buffer of its exact size, so a read past its
 * length is caught by ASan.  Property (abort on violation): namehash_der
 * reads the input exactly when OpenSSL decodes it as one whole Name, and
 * then gives the same hash.  (Its fast path writes the canonical form
 * itself; whatever it does not take goes to OpenSSL, so the two must
 * never differ.)
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "net/namehash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct namehash *nh;
    unsigned char *copy = malloc(size > 0 ? size : 1);
    const unsigned char *p;
    unsigned long h = 0, want = 0;
    X509_NAME *nm = NULL;
    int ok, want_ok = 0;

    if (nh == NULL)
        nh = namehash_new();
    if (copy == NULL || nh == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    ok = namehash_der(nh, copy, size, &h);
    p = copy;
    if (size < LONG_MAX)
        nm = d2i_X509_NAME(NULL, &p, (long)size);
    if (nm != NULL && p == copy + size)
        want = X509_NAME_hash_ex(nm, NULL, NULL, &want_ok);
    if (ok != want_ok || (ok && h != want))
        abort();
    X509_NAME_free(nm);
    free(copy);
    return 0;
}
