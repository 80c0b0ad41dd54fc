/*
 * download: a conditional, resumable, hashing download of one file over
 * http (net/http), for the update step (design.md §3.2, §4; wcs.md §2).
 *
 * One call brings <dir>/<name> up to date with the file served at a URL:
 *
 *   - a conditional GET (If-None-Match / If-Modified-Since from the
 *     caller's stored validators) when the file exists, a resumed GET
 *     (Range + If-Range) when <name>.part exists, a plain GET otherwise;
 *   - the SHA-256 is computed while streaming and checked against the
 *     wanted one when given; when the file already has that hash nothing is
 *     requested at all;
 *   - progress is logged at most once a second (and the caller's tick
 *     called); an attempt that made progress is resumed, up to attempts;
 *   - the finished file replaces <name> by rename, and the folder is synced;
 *   - the cache belongs to one URL: the stored validators are sent, and a
 *     304 accepted, only when <name> came from this very URL (<name>.source
 *     holds the SHA-256 of that URL); a partial download is resumed only
 *     for the URL it came from.  With want_sha256 the cached file is used
 *     whatever URL it came from (its content is what is wanted);
 *   - max_bytes caps the file: a Content-Length or Content-Range total over
 *     it is refused before the body is stored, and a body that grows past it
 *     is stopped there; the partial file is removed.
 *
 * Files in dir:
 *   <name>               the last complete, verified file
 *   <name>.source        SHA-256 of the URL <name> came from (hex, one line)
 *   <name>.part          a partial download, resumable
 *   <name>.part.ifrange  the If-Range validator of the partial download, then
 *                        the SHA-256 of its URL (one line each)
 *   <name>.new           the body of the current response (scratch)
 *
 * The URL is never logged with its query (it may be presigned).  Every log
 * line starts with the caller's prefix ("update: ..."), so the messages read
 * as the step's own.
 */
#ifndef AGENT_NET_DOWNLOAD_H
#define AGENT_NET_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/rc.h"

/* The longest path this module builds. */
#define DOWNLOAD_PATH_MAX 4096

struct download_opts {
    const char *url;                 /* https, or plain http with HTTP_ALLOW_HTTP in flags */
    const char *dir;                 /* the folder of the file (exists) */
    const char *name;                /* the file's name in dir */
    const char *want_sha256;         /* NULL, or 64 lower-case hex digits */
    const char *etag_in;             /* the stored ETag of the file in dir, or NULL/"" */
    const char *last_modified_in;    /* the stored Last-Modified, or NULL/"" */
    unsigned flags;                  /* HTTP_* flags of every request */
    int64_t timeout_ms;              /* per attempt */
    int64_t low_speed_ms;            /* an attempt slower than 1 byte/s this long is abandoned */
    int attempts;                    /* attempts in one call (repeated only after progress) */
    const struct deadline *deadline; /* caps every wait, or NULL */
    int64_t max_bytes;               /* > 0: the largest file accepted; 0: no cap */
    const char *max_bytes_key;       /* the setting that raises it, named in the error */
    const char *what;                /* the log prefix, e.g. "update" */
    void (*tick)(void *ctx);         /* optional: called about once a second while receiving */
    void *tick_ctx;
};

struct download_result {
    int downloaded;         /* 1: bytes were transferred (0 after a 304 or a cache hit) */
    char etag[256];         /* validators of the file now in dir, for the caller to store; */
    char last_modified[64]; /*   "" when the server sent none */
    char sha256[65];        /* SHA-256 of the file, lower-case hex */
    char detail[256];       /* on failure: one line saying why */
};

/*
 * Brings <dir>/<name> up to date as described above.  o and its strings are
 * borrowed; res is filled as far as the call got (the caller clears it).
 * Returns AGENT_OK (res->sha256, etag, last_modified, downloaded set);
 *   AGENT_ERR_NET     network failure, HTTP 408, 429 or 5xx, an incomplete
 *                     body (temporary; a partial download is kept);
 *   AGENT_ERR_TIMEOUT an attempt timed out, or the deadline passed;
 *   AGENT_ERR_HTTP    any other unexpected status (definite);
 *   AGENT_ERR_INVAL   checksum mismatch (the download is deleted);
 *   AGENT_ERR_PARSE   a 200 with an empty body;
 *   AGENT_ERR_TOOBIG  the file is over max_bytes (definite; nothing kept);
 *   AGENT_ERR_CONFIG  a path over DOWNLOAD_PATH_MAX;
 *   AGENT_ERR_IO, AGENT_ERR_NOMEM.
 * Every failure is logged once, as "<what>: ...".
 */
enum agent_rc download_file(const struct download_opts *o, struct download_result *res);

/*
 * 1 when <dir>/<name> exists and came from url (its .source matches), so
 * that it may stand for what url serves; 0 otherwise.
 */
int download_cached_from(const char *dir, const char *name, const char *url);

/* SHA-256 of the whole file at path into out[65]; AGENT_ERR_IO logged as "<what>: ...". */
enum agent_rc download_sha256_file(const char *what, const char *path, char out[65]);

/*
 * The URL as it may be logged, into out[cap]: scheme, host and path,
 * without user info, query or fragment ("?..." marks a dropped query).
 */
void download_url_for_log(const char *url, char *out, size_t cap);

#endif
