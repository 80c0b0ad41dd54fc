/*
 * trust: the process's TLS trust store (an OpenSSL X509_STORE, returned as
 * void * so that no OpenSSL type leaves net/).
 *
 * From a bundle file (AWS_CA_BUNDLE, SSL_CERT_FILE): the file is parsed once
 * to index its certificates by subject, and none is kept; a verification
 * that asks for an issuer gets it parsed from its PEM block then (and the
 * store keeps it).  So a store over the whole system bundle costs one parse
 * of CPU and holds only the CAs the run's connections chain to.  From a
 * folder: OpenSSL's hashed-folder lookup, lazy as well.
 */
#ifndef AGENT_NET_TRUST_H
#define AGENT_NET_TRUST_H

/* A store from file (when not NULL) or the hashed folder dir; NULL when it cannot be made. */
void *trust_store_new(const char *file, const char *dir);

void trust_store_free(void *store);

/* Frees what the stores of this process shared; after the last trust_store_free(). */
void trust_global_cleanup(void);

#endif
