/*
 * namehash: OpenSSL's hash of a distinguished name (X509_NAME_hash_ex, the
 * name `openssl x509 -subject_hash` prints and a hashed certificate folder
 * uses) computed from the name's DER.
 *
 * OpenSSL's own way decodes the name into objects, builds its canonical
 * form and digests it, with a digest fetched each time: most of what
 * indexing a CA bundle costs.  Here the canonical form (each value as a
 * UTF8String, ASCII lowercased, blanks trimmed and collapsed) is written
 * straight from the DER for the names nearly every CA has: single-valued
 * RDNs of ASCII Printable/UTF8/IA5/T61Strings.  Any other name
 * (non-ASCII text, multi-valued RDNs, other string types, BER) is handed to
 * OpenSSL, so the result is OpenSSL's in every case; tests and a fuzzer
 * compare the two.
 */
#ifndef AGENT_NET_NAMEHASH_H
#define AGENT_NET_NAMEHASH_H

#include <stddef.h>

/* A SHA-1 context kept across names (fetched once). */
struct namehash;

struct namehash *namehash_new(void);

/* The hash of the DER Name der[0..n) (all of it): 1 and *out; 0 when it is not a Name. */
int namehash_der(struct namehash *h, const unsigned char *der, size_t n, unsigned long *out);

/* How many names h hashed here (fast) and how many it handed to OpenSSL (slow). */
void namehash_stats(const struct namehash *h, size_t *fast, size_t *slow);

void namehash_free(struct namehash *h);

#endif
