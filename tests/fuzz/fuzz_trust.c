/*
 * Fuzz target for net/trust: trust_subject_hash on arbitrary PEM bytes.
 *
 * The input is copied into a buffer of its exact size (no NUL after it), so
 * a read past its length is caught by ASan.  Property (abort on violation):
 * when both trust_subject_hash and OpenSSL's own parser of the whole
 * certificate read the input, the hashes are the same.  (Either may refuse
 * what the other reads: OpenSSL refuses a bad key after the subject, the
 * index refuses BER; a certificate left out of the index fails closed.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/namehash.h"
#include "net/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct namehash *nh;
    char *copy = malloc(size > 0 ? size : 1);
    unsigned long h = 0;
    int ok;
    BIO *bio;
    X509 *x = NULL;

    if (nh == NULL)
        nh = namehash_new();
    if (copy == NULL || nh == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    ok = trust_subject_hash(nh, copy, size, &h);
    if (size > 0 && size < INT32_MAX && (bio = BIO_new_mem_buf(copy, (int)size)) != NULL) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    if (x != NULL) {
        if (ok && h != X509_subject_name_hash(x))
            abort();
        X509_free(x);
    }
    free(copy);
    return 0;
}
