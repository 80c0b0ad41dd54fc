/*
 * trust: the process's TLS trust store (an OpenSSL X509_STORE, returned as
 * void * so that no OpenSSL type leaves net/).
 *
 * From a bundle file (AWS_CA_BUNDLE, SSL_CERT_FILE): the file is read once,
 * through a 64 KiB window, to index its certificates by subject (only up to
 * each one's subject name, hashed by net/namehash), and none is kept; a
 * verification that asks for an issuer gets it parsed from its PEM block
 * then, read back alone (and the store keeps it).  So a store over the whole system bundle costs
 * one parse of CPU and holds only the CAs the run's connections chain to.  From a folder: OpenSSL's
 * hashed-folder lookup, lazy as well.
 */
#ifndef AGENT_NET_TRUST_H
#define AGENT_NET_TRUST_H

#include <stddef.h>

struct namehash;

/* A store from file (when not NULL) or the hashed folder dir; NULL when it cannot be made. */
void *trust_store_new(const char *file, const char *dir);

void trust_store_free(void *store);

/*
 * The OpenSSL subject-name hash (as `openssl x509 -subject_hash`) of the
 * certificate in the PEM block pem[0..n), read from its DER without parsing
 * the rest of the certificate (its public key above all), with h's digest
 * (NULL: OpenSSL's own name hashing).  1 and *out; 0 when the block is not
 * a well-formed certificate up to its subject.
 */
int trust_subject_hash(struct namehash *h, const char *pem, size_t n, unsigned long *out);

/* Frees what the stores of this process shared; after the last trust_store_free(). */
void trust_global_cleanup(void);

#endif
