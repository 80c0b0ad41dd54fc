/*
 * update: the engine of the update step (design.md §1, §3.2, §4; wcs.md §2).
 *
 * One call brings the installed WCS to the build served at update.url:
 *
 *   1. download <cache_dir>/wcs.tar.gz: a conditional GET (If-None-Match /
 *      If-Modified-Since from the state) when that file exists, a resumed
 *      GET (Range + If-Range) when <cache_dir>/wcs.tar.gz.part exists, a
 *      plain GET otherwise; the SHA-256 is computed while streaming and
 *      checked against update.sha256 when given; progress is logged at most
 *      once a second; the finished file replaces wcs.tar.gz by rename.  When
 *      update.sha256 is given and wcs.tar.gz already has that hash, nothing
 *      is requested at all.  The validators are sent (and a 304 believed)
 *      only when wcs.tar.gz came from this very update.url
 *      (wcs.tar.gz.source); a tarball over max_bytes is refused while it
 *      streams (net/download.h).
 *   2. list the tarball with `tar -tvzf` (GNU tar, argv only) and refuse any
 *      entry that is absolute, has a ".." component, is not a file, folder,
 *      symlink or hard link, sits below a symlink of the archive, or links
 *      out of the archive;
 *   3. read the tarball's WCS.version (<top>/WCS.version, else
 *      <top>/conf/WCS.version, else <top>/server/conf/WCS.version) and
 *      compare it with <wcs_home>/conf/WCS.version (whitespace trimmed);
 *      equal: nothing more is done (the step skips);
 *   4. otherwise unpack into a fresh folder <cache_dir>/unpack.XXXXXX with
 *      `tar -xzf FILE -C DIR --no-same-owner` (setuid and setgid bits, and
 *      the sticky bit of files, cleared after unpacking) and run `./install.sh -silent`
 *      there (cwd = the tarball's top folder, timeout, spawn's minimal
 *      environment, output captured), then confirm that
 *      <wcs_home>/conf/WCS.version now equals the tarball's version.  WCS
 *      5.2's installer exits 1 with "already installed" when the versions
 *      match: that counts as "not changed", not as a failure.
 *
 * The unpacked folder is removed in every case, and stale unpack.* folders
 * left by an interrupted run are removed first.  A failed download or
 * checksum never touches the installed WCS.  The URL is never logged with
 * its query (it may be presigned).  wcs/ never calls AWS.
 *
 * Files under cache_dir (created 0700 when missing):
 *   wcs.tar.gz              the last complete, verified tarball
 *   wcs.tar.gz.source       SHA-256 of the update.url wcs.tar.gz came from
 *   wcs.tar.gz.part         a partial download, resumable
 *   wcs.tar.gz.part.ifrange the If-Range validator of the partial download
 *   wcs.tar.gz.new          the body of the current response (scratch)
 *   unpack.XXXXXX/          the unpacked tarball during one call
 */
#ifndef AGENT_WCS_UPDATE_H
#define AGENT_WCS_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/rc.h"

/* Used when wcs_update_opts.download_timeout_ms is 0: one download attempt. */
#define WCS_UPDATE_DOWNLOAD_TIMEOUT_MS (30LL * 60 * 1000)
/* Used when wcs_update_opts.install_timeout_ms is 0. */
#define WCS_UPDATE_INSTALL_TIMEOUT_MS (20LL * 60 * 1000)
/* A download attempt slower than 1 byte/s for this long is abandoned (temporary failure). */
#define WCS_UPDATE_LOW_SPEED_MS 60000
/* Download attempts in one call; an attempt is repeated only when the last one made progress. */
#define WCS_UPDATE_ATTEMPTS 3

struct wcs_update_opts {
    const char *url;              /* update.url: https, or plain http to a loopback host only */
    const char *sha256;           /* update.sha256: NULL/"" or 64 hex digits (any case) */
    const char *wcs_home;         /* wcs.home: its conf/WCS.version is the installed version */
    const char *cache_dir;        /* <state_dir>/download */
    const char *etag_in;          /* state applied.download_etag for wcs.tar.gz, or NULL/"" */
    const char *last_modified_in; /* state applied.download_last_modified, or NULL/"" */
    int64_t download_timeout_ms;  /* per attempt; 0: WCS_UPDATE_DOWNLOAD_TIMEOUT_MS */
    int64_t install_timeout_ms;   /* install.sh; 0: WCS_UPDATE_INSTALL_TIMEOUT_MS */
    int64_t max_bytes;            /* update.max_bytes: the largest tarball; 0: no cap */
    int64_t max_unpacked_bytes;   /* update.max_unpacked_bytes: what it may unpack to; 0: no cap */
    const struct deadline *deadline; /* the run's deadline (caps every wait), or NULL */
    int force;   /* run install.sh even when the versions are equal (download stays conditional) */
    int dry_run; /* no request, no install: say what would happen (may read the cached tarball) */
    /* Optional: called about once a second while the download runs (lifecycle heartbeats). */
    void (*tick)(void *ctx);
    void *tick_ctx;
};

struct wcs_update_result {
    int changed;                /* 1: install.sh installed a new build (dry run: would) */
    int downloaded;             /* 1: bytes were transferred (0 after a 304 or a cache hit) */
    char etag[256];             /* validators of <cache_dir>/wcs.tar.gz, for the state; */
    char last_modified[64];     /*   "" when the server sent none */
    char sha256[65];            /* SHA-256 of the tarball used, lower-case hex */
    char previous_version[64];  /* conf/WCS.version before the call, "" when absent */
    char installed_version[64]; /* conf/WCS.version after the call, "" when absent */
    char tarball_version[64];   /* the tarball's WCS.version */
    char detail[256];           /* one line for the state: what was done, or why it failed */
};

/*
 * Runs the update described above.  o and its strings are borrowed; res is
 * cleared first and then filled as far as the call got, whatever the
 * return code: res->detail always holds a one-line summary (on failure the
 * reason), and res->etag / res->last_modified, when set, describe the file
 * now in <cache_dir>/wcs.tar.gz (the caller may store them in the state
 * even when the install failed afterwards).
 *
 * Returns AGENT_OK (installed, or already up to date: see res->changed);
 *   AGENT_ERR_CONFIG  a bad option (URL not https/loopback, malformed
 *                     sha256, missing wcs_home or cache_dir);
 *   AGENT_ERR_NET     network failure, HTTP 408, 429 or 5xx (temporary;
 *                     a partial download is kept for the next call);
 *   AGENT_ERR_TIMEOUT a download or child timed out, or the deadline passed;
 *   AGENT_ERR_HTTP    any other unexpected status (404, 403, ...; definite);
 *   AGENT_ERR_INVAL   checksum mismatch (the download is deleted), or a
 *                     tarball entry refused by the checks above;
 *   AGENT_ERR_TOOBIG  the tarball is over max_bytes (nothing of it kept),
 *                     or its listing adds up to more than max_unpacked_bytes
 *                     (nothing unpacked; the cached tarball is kept);
 *   AGENT_ERR_PARSE   not a readable tar.gz, no install.sh or WCS.version
 *                     at its top, a malformed version;
 *   AGENT_ERR_CHILD   install.sh failed, or finished without changing
 *                     conf/WCS.version to the tarball's version;
 *   AGENT_ERR_IO, AGENT_ERR_NOMEM.
 * Every failure is logged once, as "update: ...".
 */
enum agent_rc wcs_update(const struct wcs_update_opts *o, struct wcs_update_result *res);

#endif
