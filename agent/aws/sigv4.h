/*
 * sigv4: AWS Signature Version 4 (AWS4-HMAC-SHA256), pure (aws.md §2).
 *
 * No I/O, no clock, no globals: every input is an argument, the time too.
 * The output is byte-exact with the official vectors (shared/sigv4-test-suite)
 * and with botocore's SigV4Auth / S3SigV4Auth for the requests the agent sends.
 *
 * The model of a request is what goes on the wire:
 *   - path: the path of the request line as sent ("/", "/bucket/a%20b.txt");
 *     NULL or "" means "/".  It must start with '/', and hold no '?', '#' or
 *     control byte.
 *       normalize_path = 1 (every service but S3, botocore SigV4Auth): the
 *         canonical URI is UriEncode(RemoveDotSegments(path)) with '/' kept,
 *         so a "%" already on the wire is encoded again ("/a%20b" is signed
 *         as "/a%2520b"), exactly as AWS and botocore do.
 *       normalize_path = 0 (S3, botocore S3SigV4Auth): no dot-segment removal
 *         and no second encoding: the path is signed as sent, except that a
 *         byte that may not travel raw (anything but A-Z a-z 0-9 - . _ ~ and
 *         '/', and not part of a %XX triplet) is percent-encoded.  So an S3
 *         key must be sent as sigv4_uri_encode(key, encode_slash = 0), which
 *         is then signed verbatim (botocore's form), and a raw path from the
 *         vectors ("/example space/") is encoded once ("/example%20space/").
 *   - query: the query as sent, without '?'.  Each name and value is
 *     percent-decoded (a '%' not followed by two hex digits stays a '%'; '+'
 *     stays '+') and encoded again with UriEncode, as AWS does on receipt;
 *     pairs are sorted by encoded name, then encoded value; a name without
 *     '=' gets an empty value ("k" and "k=" both sign as "k="); empty pieces
 *     ("a=1&&b=2") are skipped.
 *   - headers: the headers that will be sent, Host included (required).
 *     Names are lower-cased; values trimmed, with inner runs of spaces and
 *     tabs collapsed to one space; repeated names are joined with ',' in the
 *     order given; then sorted by name.  Names must be HTTP tokens; values
 *     printable ASCII or tab (no CR, LF, other control byte or non-ASCII: a
 *     value that cannot be signed unambiguously is refused, not mangled).
 *     Hop-by-hop and proxy-rewritten headers are not signed (botocore's list:
 *     connection, expect, keep-alive, proxy-authenticate, proxy-authorization,
 *     te, trailer, transfer-encoding, upgrade, user-agent, x-amzn-trace-id).
 *     The headers this module adds (authorization, x-amz-date,
 *     x-amz-security-token, x-amz-content-sha256) must not be passed in.
 *
 * Errors: AGENT_ERR_INVAL for a malformed input (logged once, "sigv4: ...",
 * never with a key, token or header value), AGENT_ERR_TOOBIG past the caps
 * below or the caller's buffer max, AGENT_ERR_NOMEM.  Outputs are written
 * only on success: a struct buf output is appended to (initialised by the
 * caller), and left unchanged on failure.
 *
 * Secrets: the signing key and its intermediate keys are wiped; buffers that
 * may hold the session token are secret buffers.  Nothing here logs a key.
 */
#ifndef AGENT_AWS_SIGV4_H
#define AGENT_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/rc.h"

#define SIGV4_ALGORITHM         "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD  "UNSIGNED-PAYLOAD"
#define SIGV4_KEY_LEN           32            /* bytes of the signing key */
#define SIGV4_SIGNATURE_HEX_LEN 64            /* hex digits of a signature */
#define SIGV4_AMZ_DATE_LEN      16            /* "20150830T123600Z" */
#define SIGV4_MAX_CANONICAL     (1024 * 1024) /* cap on any text built here */
#define SIGV4_MAX_HEADERS       256           /* cap on sigv4_request.n_headers */
#define SIGV4_MAX_TOKEN         16384         /* cap on a session token */
#define SIGV4_MAX_PAYLOAD_HASH  128           /* cap on sigv4_request.payload_hash */
#define SIGV4_MAX_EXPIRES_S     604800        /* 7 days, the presign limit */
#define SIGV4_MAX_ADDED         4             /* headers sigv4_sign_headers adds */

struct sigv4_header {
    const char *name;  /* as sent, any case */
    const char *value; /* as sent */
};

/* A request to sign; every pointer is borrowed for the duration of the call. */
struct sigv4_request {
    const char *method;                 /* "GET", "POST": upper-case letters */
    const char *path;                   /* wire path, see the top of this file */
    const char *query;                  /* wire query without '?', or NULL */
    const struct sigv4_header *headers; /* n_headers entries, Host among them */
    size_t n_headers;
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    /*
     * NULL: the payload hash is hex SHA-256 of the body.  Otherwise used as
     * is (e.g. SIGV4_UNSIGNED_PAYLOAD); letters, digits and '-' only.
     */
    const char *payload_hash;
};

/* How to sign; borrowed for the duration of the call. */
struct sigv4_params {
    const char *access_key_id;     /* letters and digits, at most 128 */
    const char *secret_access_key; /* secret; 1 to 256 bytes */
    const char *session_token;     /* secret; NULL for long-term keys */
    const char *region;            /* "us-east-1": a-z 0-9 '-' */
    const char *service;           /* "s3", "elasticloadbalancing": a-z 0-9 '-' */
    time_t now;                    /* the signing time (UTC seconds) */
    int normalize_path;            /* 1 for every service but S3, 0 for S3 */
    /*
     * 1: header signing adds and signs x-amz-content-sha256 with the payload
     * hash (required by S3, and whenever payload_hash is UNSIGNED-PAYLOAD).
     * Ignored by query signing (the vectors do the same).
     */
    int sign_body_header;
    /*
     * 1: the session token is added (header or query) but left out of the
     * signature.  Only the vector post-sts-header-after uses it; AWS wants
     * the token signed, so the agent never sets it.
     */
    int omit_session_token;
    int64_t expires_s; /* query signing only: X-Amz-Expires, 1 .. SIGV4_MAX_EXPIRES_S */
};

enum sigv4_mode {
    SIGV4_MODE_HEADER, /* Authorization header */
    SIGV4_MODE_QUERY   /* presigned URL (X-Amz-* query parameters) */
};

/* A header added by sigv4_sign_headers(). */
struct sigv4_added_header {
    const char *name; /* static string, e.g. "Authorization" */
    char *value;      /* malloc'd, owned by the struct sigv4_signed */
};

/*
 * The result of header signing: the headers to add to the request, in this
 * order: X-Amz-Date, X-Amz-Security-Token (with a session token, also when
 * omit_session_token), X-Amz-Content-Sha256 (with sign_body_header),
 * Authorization.  Release with sigv4_signed_cleanup().
 */
struct sigv4_signed {
    struct sigv4_added_header headers[SIGV4_MAX_ADDED];
    size_t n_headers;
    char signature[SIGV4_SIGNATURE_HEX_LEN + 1]; /* lower-case hex */
};

/*
 * Signs req with the Authorization header.  On success fills *out (which
 * the caller then owns and releases with sigv4_signed_cleanup()); on
 * failure *out is zeroed.
 */
enum agent_rc sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_params *p,
                                 struct sigv4_signed *out);

/* Wipes and frees the values in s and zeroes it; accepts NULL and a zeroed s. */
void sigv4_signed_cleanup(struct sigv4_signed *s);

/*
 * Presigns req: appends to out the query parameters to add, in the order
 * X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders,
 * X-Amz-Expires, [X-Amz-Security-Token,] X-Amz-Signature, joined with '&'
 * and without a leading '&' or '?'.  The URL is then path '?' [query '&']
 * out.  With a session token out holds it: use a secret buffer.
 * AGENT_ERR_INVAL also when req->query already has one of these names.
 */
enum agent_rc sigv4_presign_query(const struct sigv4_request *req, const struct sigv4_params *p,
                                  struct buf *out);

/*
 * Appends the canonical request (no trailing newline) for mode to out.  It
 * holds the session token when one is signed: use a secret buffer then.
 */
enum agent_rc sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_params *p,
                                      enum sigv4_mode mode, struct buf *out);

/*
 * Appends the string to sign for canonical request creq (creq_len bytes):
 * algorithm, X-Amz-Date, credential scope, hex SHA-256 of creq.
 */
enum agent_rc sigv4_string_to_sign(const struct sigv4_params *p, const char *creq, size_t creq_len,
                                   struct buf *out);

/*
 * The signing key kSigning for p's secret, date (from p->now), region and
 * service.  key is secret: the caller wipes it (str_wipe) after use.
 */
enum agent_rc sigv4_signing_key(const struct sigv4_params *p, unsigned char key[SIGV4_KEY_LEN]);

/* Hex HMAC-SHA256 of the string to sign sts under the signing key, into out. */
enum agent_rc sigv4_signature(const struct sigv4_params *p, const char *sts, size_t sts_len,
                              char out[SIGV4_SIGNATURE_HEX_LEN + 1]);

/* "YYYYMMDDTHHMMSSZ" for now (UTC); AGENT_ERR_INVAL before 1970 or after 9999. */
enum agent_rc sigv4_amz_date(time_t now, char out[SIGV4_AMZ_DATE_LEN + 1]);

/*
 * UriEncode: appends s[0..n) to out with every byte but A-Z a-z 0-9 - . _ ~
 * (and '/' when encode_slash is 0) written as %XX (upper-case hex).
 */
enum agent_rc sigv4_uri_encode(const char *s, size_t n, int encode_slash, struct buf *out);

/*
 * Appends path[0..n) with "." and ".." segments removed and runs of '/'
 * collapsed (botocore's remove_dot_segments: a trailing '/' is kept only
 * when a segment remains, ".." above the root is dropped); "" gives "/".
 * Works on the raw bytes ("%2E" is not a dot).
 */
enum agent_rc sigv4_normalize_path(const char *path, size_t n, struct buf *out);

/*
 * Appends the canonical URI of the wire path (NULL or "" is "/") per
 * normalize, as described at the top of this file.  AGENT_ERR_INVAL for a
 * path not starting with '/' or holding '?', '#' or a control byte.
 */
enum agent_rc sigv4_canonical_uri(const char *path, int normalize, struct buf *out);

/*
 * Appends the canonical query of the wire query (NULL gives nothing), as
 * described at the top of this file.  AGENT_ERR_INVAL for '#' or a control
 * byte.
 */
enum agent_rc sigv4_canonical_query(const char *query, struct buf *out);

#endif
