/*
 * keystore: the engine of the tls step (design.md §1, §3.2).
 *
 * Takes the PEM certificate, chain and private key (already resolved from
 * their secret references by run/), checks them, and turns them into a
 * PKCS#12 keystore for WCS's WSS (8443) and HTTPS (8444) listeners
 * (wcs.md §4: conf/wss.jks).  The file keeps the name wss.jks: Java reads
 * a PKCS#12 file even when told it is a JKS (keystore.type.compat, default
 * true; tests/integ/test_keystore_keytool.py checks this with Java 17's
 * keytool; Java 8 builds since 8u60 should too: inferred, not checked).
 *
 * The usual sequence for the caller:
 *
 *   keystore_check(in, &info, err, sizeof(err))   refuse bad input (err)
 *   read the existing keystore; keystore_matches(..., &info, &same)
 *   same: skip; else keystore_build(in, &p12) then keystore_write(path, &p12, gid)
 *
 * A bad input fails in keystore_check, before anything is written, so the
 * existing keystore stays byte-identical; keystore_write replaces the file
 * atomically, so a failed write leaves it byte-identical too.
 *
 * The keystore is written with algorithms that every Java 8 build reads:
 * key and certificates encrypted with PBE-SHA1-3DES, a HMAC-SHA1 MAC, and
 * KEYSTORE_PBE_ITER iterations (OpenSSL 3's default, AES-256-CBC with
 * PBKDF2 and a SHA-256 MAC, is not read by Java 8 before 8u301).  The entry is
 * a PrivateKeyEntry named alias (friendlyName) holding the key, the leaf
 * and the chain.
 *
 * Secrets: key_pem, password and the PKCS#12 bytes.  This module never logs
 * them and puts none of them in a message; the key's PEM is decoded in
 * OpenSSL's secure heap (cleared when freed), the parsed key is released
 * with EVP_PKEY_free and the encoded keystore with OPENSSL_clear_free.
 * The caller keeps the buffers it passes in and wipes them itself.
 * OpenSSL is used only inside keystore.c.
 */
#ifndef AGENT_WCS_KEYSTORE_H
#define AGENT_WCS_KEYSTORE_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/rc.h"

/* The largest PEM input accepted for each of cert_pem, chain_pem and key_pem, in bytes. */
#define KEYSTORE_PEM_MAX (256u * 1024u)

/* The most certificates accepted in all, leaf included. */
#define KEYSTORE_CERTS_MAX 16

/* keystore_check warns when the leaf has fewer days left than this. */
#define KEYSTORE_WARN_DAYS 21

/* PBE and MAC iteration count written to the keystore. */
#define KEYSTORE_PBE_ITER 10000

/* A good max for the struct buf given to keystore_build. */
#define KEYSTORE_P12_MAX (1024u * 1024u)

/* Mode of the written keystore (owner root, group the WCS install's). */
#define KEYSTORE_MODE 0640

/* The longest password accepted, in bytes. */
#define KEYSTORE_PASSWORD_MAX 1024

struct keystore_input {
    const char *cert_pem; /* tls.certificate: the leaf first, then optionally its chain */
    size_t cert_len;
    const char *chain_pem; /* tls.chain: intermediates; NULL or chain_len 0 = none */
    size_t chain_len;
    const char *key_pem; /* tls.private_key (secret): one unencrypted PEM private key */
    size_t key_len;
    const char *alias;    /* tls.alias: 1..64 of [A-Za-z0-9_.-] */
    const char *password; /* tls.keystore_password (secret): 1..KEYSTORE_PASSWORD_MAX bytes */
    time_t now;           /* wall time the validity is checked against */
};

struct keystore_info {
    char subject[256];     /* leaf subject, RFC 2253 ("CN=wcs.example.com,O=..."), display
                              only: control bytes shown as '?', cut with "..." when long */
    char not_after[32];    /* leaf expiry, "2027-01-01T00:00:00Z" */
    int days_left;         /* whole days from now to not_after (floor; negative once expired) */
    size_t chain_len;      /* certificates in the entry's chain, leaf included */
    char cert_sha256[65];  /* SHA-256 of the leaf's DER, lower-case hex */
    char key_sha256[65];   /* SHA-256 of the public key's DER (SubjectPublicKeyInfo) */
    char chain_sha256[65]; /* SHA-256 over the sorted SHA-256 fingerprints of the
                              certificates after the leaf (of "" when there are none) */
};

/*
 * Parses and checks the input.  cert_pem holds the leaf first; any further
 * certificates in it, then those of chain_pem, form the chain in that
 * order, numbered from 1 (the leaf) in messages.  PEM blocks of other types
 * in cert_pem and chain_pem are skipped; key_pem must hold exactly one
 * private key (PKCS#8 "PRIVATE KEY" or traditional "RSA/EC PRIVATE KEY"),
 * not encrypted.
 *
 * Checks: the key matches the leaf; each certificate i+1 issued
 * certificate i (issuer name equals subject name, and the signature
 * verifies with i+1's public key); the leaf is valid at now (neither
 * expired nor not yet valid); alias and password are well formed.
 *
 * Warns (log_warnx) when the leaf has fewer than KEYSTORE_WARN_DAYS days
 * left, when a chain certificate has expired, and when a leaf that is not
 * self-issued comes without a chain.  Does not log errors: on failure err
 * (may be NULL when errcap is 0) gets one line naming the config key, e.g.
 *   "tls.private_key does not match tls.certificate (CN=wcs.example.com)"
 *   "tls.chain: certificate 2 (CN=X) did not issue certificate 1 (CN=Y): ..."
 *   "tls.certificate (CN=Y) expired on 2026-01-01T00:00:00Z"
 * and never any key or password bytes.
 *
 * Returns AGENT_OK and fills *out (may be NULL); AGENT_ERR_PARSE when a
 * PEM block or its DER cannot be read, or no certificate/key is found;
 * AGENT_ERR_INVAL when a check fails or an argument is NULL/malformed;
 * AGENT_ERR_TOOBIG when an input is over KEYSTORE_PEM_MAX or holds more
 * than KEYSTORE_CERTS_MAX certificates; AGENT_ERR_NOMEM.  *out is written
 * only on success.
 */
enum agent_rc keystore_check(const struct keystore_input *in, struct keystore_info *out, char *err,
                             size_t errcap);

/*
 * Checks the input again (as keystore_check, without the warnings; a
 * failure is logged here with its one-line reason) and appends the DER of
 * a PKCS#12 keystore to p12_out: one PrivateKeyEntry named in->alias
 * holding the key, the leaf and the chain, protected by in->password, with
 * the algorithms described at the top.  p12_out is marked secret (wiped
 * when released); create it with buf_init_secret(&b, KEYSTORE_P12_MAX).
 * The salts are random, so two builds of the same input differ: compare
 * keystores with keystore_matches, not byte for byte.
 *
 * Returns AGENT_OK; keystore_check's codes; AGENT_ERR_TOOBIG when the
 * keystore does not fit in p12_out's max; AGENT_ERR_NOMEM.  p12_out is
 * unchanged on failure.
 */
enum agent_rc keystore_build(const struct keystore_input *in, struct buf *p12_out);

/*
 * Tells whether the len bytes of an existing keystore p12 (borrowed; a
 * secret) hold, under alias, the same leaf certificate, key and chain as
 * want (from keystore_check), by the fingerprints: *same = 1 when they do,
 * 0 otherwise.  A keystore that is not PKCS#12 (a JKS, say), is damaged,
 * or cannot be opened with password is simply not the same: *same = 0 and
 * AGENT_OK.  Never logs.
 *
 * Returns AGENT_OK; AGENT_ERR_INVAL when an argument is NULL;
 * AGENT_ERR_NOMEM.  *same is written only on success.
 */
enum agent_rc keystore_matches(const char *p12, size_t len, const char *password, const char *alias,
                               const struct keystore_info *want, int *same);

/*
 * Writes p12 (from keystore_build) to path atomically (temporary file in
 * the same folder, fsync, rename, fsync of the folder) with mode
 * KEYSTORE_MODE.  An existing keystore's owner is kept (a new one belongs
 * to the agent, root); the group is gid, or with (gid_t)-1 the existing
 * keystore's (the agent's for a new one).  On any failure path is
 * untouched.
 *
 * Returns AGENT_OK; AGENT_ERR_INVAL (logged) for a NULL path or an empty
 * p12; fileio_write_atomic_owner's codes otherwise (logged with the path).
 */
enum agent_rc keystore_write(const char *path, const struct buf *p12, gid_t gid);

#endif
