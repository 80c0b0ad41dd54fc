#include "wcs/update.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"
#include "net/download.h"
#include "net/http.h"
#include "wcs/tarball.h"

/* The longest path this module builds. */
#define UPD_PATH_MAX 4096
/* The cached tarball's name under cache_dir. */
#define TARBALL_NAME "wcs.tar.gz"
/* The cap on a WCS.version file. */
#define VERSION_FILE_MAX 4096
/* The cap on install.sh's captured output. */
#define INSTALL_OUTPUT_MAX (1024u * 1024u)
/* The installer lines logged when it fails. */
#define INSTALL_TAIL_LINES 20

static void set_detail(struct wcs_update_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_detail(struct wcs_update_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
}

/* 1 when s is 1..63 characters of [A-Za-z0-9._+-] (the shape of "5.2.1234-abcdef"). */
static int
version_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= 64)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

/*
 * Reads a WCS.version file into out[64], trimmed.  *present = 0 when the
 * file does not exist (AGENT_OK).  AGENT_ERR_PARSE (logged) when it is
 * empty, too long or holds other characters.
 */
static enum agent_rc
read_version(const char *path, char out[64], int *present)
{
    struct buf b;
    enum agent_rc rc;
    char *t;

    out[0] = '\0';
    *present = 0;
    buf_init(&b, VERSION_FILE_MAX);
    rc = fileio_read(path, &b);
    if (rc == AGENT_ERR_ABSENT) {
        rc = AGENT_OK;
        goto out;
    }
    if (rc == AGENT_ERR_TOOBIG) {
        log_errx("update: %s: larger than %d bytes", path, VERSION_FILE_MAX);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    if (memchr(b.data, '\0', b.len) != NULL) {
        log_errx("update: %s: not a version string", path);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    t = str_trim(b.data);
    if (!version_ok(t)) {
        log_errx("update: %s: not a version string (want e.g. 5.2.1234-abcdef)", path);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    memcpy(out, t, strlen(t) + 1);
    *present = 1;
out:
    buf_cleanup(&b);
    return rc;
}

/* Size of a regular file, -1 when absent or not a regular file. */
static long long
file_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
        return -1;
    return (long long)st.st_size;
}

/*
 * Removes a folder and everything under it without following symlinks.
 * Folders are made writable first: an unpacked tree may hold read-only
 * folders, which would otherwise keep their entries when not root.
 */
static int
rm_tree_at(int parent, const char *name, int depth)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int fd, ok = 1;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return errno == ENOENT;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) == 0 || errno == ENOENT;
    if (depth > 256)
        return 0;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return 0;
    (void)fchmod(fd, 0700);
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return 0;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (e == NULL)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!rm_tree_at(dirfd(d), e->d_name, depth + 1))
            ok = 0;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
        ok = 0;
    return ok;
}

static void
rm_tree(const char *path)
{
    if (!rm_tree_at(AT_FDCWD, path, 0))
        log_warnx("update: could not remove all of %s", path);
}

/* Removes unpack.* folders that an interrupted run left in the cache. */
static void
remove_stale_unpacks(const char *cache_dir)
{
    char path[UPD_PATH_MAX];
    DIR *d;
    struct dirent *e;

    d = opendir(cache_dir);
    if (d == NULL)
        return;
    for (;;) {
        e = readdir(d);
        if (e == NULL)
            break;
        if (!str_has_prefix(e->d_name, "unpack."))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", cache_dir, e->d_name) >= (int)sizeof(path))
            continue;
        log_debug("update: removing %s left by an earlier run", path);
        rm_tree(path);
    }
    closedir(d);
}

/* ------------------------------------------------------- unpack, install */

/* Logs the output's lines from the last `tail` lines on (0: all) as "update: <what>: <line>". */
static void
log_lines(const char *what, const struct buf *output, enum log_level lvl, int tail)
{
    const char *s = buf_cstr(output), *end = s + output->len, *p = end, *nl;
    size_t n;
    int seen = 0;

    if (!log_enabled(lvl))
        return;
    if (tail > 0) {
        while (p > s) {
            if (p[-1] == '\n' && p != end && ++seen > tail)
                break;
            p--;
        }
    } else {
        p = s;
    }
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0) {
            char *line = str_ndup(p, n);

            if (line != NULL)
                log_msg(lvl, "update: %s: %s", what, line);
            free(line);
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/*
 * Runs ./install.sh -silent in dir.  *already = 1 when it exited 1 saying
 * "already installed" (WCS 5.2 does that when the versions match).
 */
static enum agent_rc
run_installer(const struct wcs_update_opts *o, const char *dir, int *already,
              struct wcs_update_result *res)
{
    const char *argv[] = {"./install.sh", "-silent", NULL};
    struct spawn_opts so;
    struct spawn_result r;
    char line[160];
    int64_t tmo;
    enum agent_rc rc;

    *already = 0;
    tmo = o->install_timeout_ms > 0 ? o->install_timeout_ms : WCS_UPDATE_INSTALL_TIMEOUT_MS;
    memset(&so, 0, sizeof(so));
    so.argv = argv;
    so.cwd = dir;
    so.timeout_ms = deadline_cap_ms(o->deadline, tmo);
    so.output_max = INSTALL_OUTPUT_MAX;
    log_debug("update: running ./install.sh -silent in %s", dir);
    rc = spawn_run(&so, &r);
    if (rc == AGENT_ERR_TIMEOUT) {
        log_lines("install.sh", &r.output, LOG_LVL_WARN, INSTALL_TAIL_LINES);
        log_errx("update: install.sh timed out after %lld ms", (long long)so.timeout_ms);
        set_detail(res, "install.sh timed out after %lld ms", (long long)so.timeout_ms);
        goto out;
    }
    if (rc != AGENT_OK) {
        set_detail(res, "install.sh could not be started");
        goto out;
    }
    if (r.exited && r.exit_code == 0) {
        log_lines("install.sh", &r.output, LOG_LVL_DEBUG, 0);
        spawn_last_line(&r.output, line, sizeof(line));
        log_debug("update: install.sh finished%s%s", line[0] != '\0' ? ": " : "", line);
        goto out;
    }
    if (r.exited && r.exit_code == 1 && r.output.data != NULL &&
        strstr(r.output.data, "already installed") != NULL) {
        log_lines("install.sh", &r.output, LOG_LVL_DEBUG, 0);
        log_debug("update: install.sh says this version is already installed");
        *already = 1;
        goto out;
    }
    log_lines("install.sh", &r.output, LOG_LVL_WARN, INSTALL_TAIL_LINES);
    spawn_last_line(&r.output, line, sizeof(line));
    if (r.exited)
        set_detail(res, "install.sh exit status %d%s%s", r.exit_code, line[0] != '\0' ? ": " : "",
                   line);
    else
        set_detail(res, "install.sh killed by signal %d", r.signal);
    log_errx("update: %s", res->detail);
    rc = AGENT_ERR_CHILD;
out:
    spawn_result_cleanup(&r);
    return rc;
}

/* Removes the cached tarball and the .source that vouches for it (logged). */
static void
discard_tarball(const char *cache_dir, const char *tarball)
{
    char source[UPD_PATH_MAX];

    if (snprintf(source, sizeof(source), "%s/%s.source", cache_dir, TARBALL_NAME) <
            (int)sizeof(source) &&
        unlink(source) == -1 && errno != ENOENT)
        log_err("update: cannot remove %s", source);
    if (unlink(tarball) == -1 && errno != ENOENT)
        log_err("update: cannot remove %s", tarball);
    else
        log_warnx("update: %s removed: it is not a readable WCS tarball", tarball);
}

/* Brings <cache_dir>/wcs.tar.gz up to date (update.h step 1) with net/download. */
static enum agent_rc
fetch(const struct wcs_update_opts *o, unsigned flags, const char *want_sha,
      struct wcs_update_result *res)
{
    struct download_opts d;
    struct download_result r;
    enum agent_rc rc;

    memset(&d, 0, sizeof(d));
    memset(&r, 0, sizeof(r));
    d.url = o->url;
    d.dir = o->cache_dir;
    d.name = TARBALL_NAME;
    d.want_sha256 = want_sha;
    d.etag_in = o->etag_in;
    d.last_modified_in = o->last_modified_in;
    d.flags = flags;
    d.timeout_ms =
        o->download_timeout_ms > 0 ? o->download_timeout_ms : WCS_UPDATE_DOWNLOAD_TIMEOUT_MS;
    d.low_speed_ms = WCS_UPDATE_LOW_SPEED_MS;
    d.max_bytes = o->max_bytes;
    d.max_bytes_key = "update.max_bytes";
    d.attempts = WCS_UPDATE_ATTEMPTS;
    d.deadline = o->deadline;
    d.what = "update";
    d.tick = o->tick;
    d.tick_ctx = o->tick_ctx;
    rc = download_file(&d, &r);
    res->downloaded = r.downloaded;
    memcpy(res->etag, r.etag, sizeof(res->etag));
    memcpy(res->last_modified, r.last_modified, sizeof(res->last_modified));
    memcpy(res->sha256, r.sha256, sizeof(res->sha256));
    memcpy(res->detail, r.detail, sizeof(res->detail));
    return rc;
}

/* 64 hex digits into lower case in out[65]; 0 when malformed. */
static int
normalize_sha(const char *in, char out[65])
{
    size_t i;

    if (strlen(in) != 64)
        return 0;
    for (i = 0; i < 64; i++) {
        char c = in[i];

        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        out[i] = c;
    }
    out[64] = '\0';
    return 1;
}

static int
make_path(char *out, const char *dir, const char *name)
{
    return snprintf(out, UPD_PATH_MAX, "%s/%s", dir, name) < UPD_PATH_MAX;
}

enum agent_rc
wcs_update(const struct wcs_update_opts *o, struct wcs_update_result *res)
{
    struct tarball_layout lay;
    char want_sha[65], logurl[512], tarball[UPD_PATH_MAX], verfile[UPD_PATH_MAX],
        unpack[UPD_PATH_MAX], path[UPD_PATH_MAX], topdir[UPD_PATH_MAX];
    const char *want = NULL;
    unsigned flags = HTTP_FOLLOW_REDIRECTS;
    int present, already = 0, unpacked = 0;
    enum agent_rc rc;

    memset(&lay, 0, sizeof(lay));
    if (res == NULL)
        return AGENT_ERR_INVAL;
    memset(res, 0, sizeof(*res));
    if (o == NULL || o->url == NULL || o->wcs_home == NULL || o->wcs_home[0] == '\0' ||
        o->cache_dir == NULL || o->cache_dir[0] == '\0') {
        log_errx("update: update.url, wcs.home and the download folder are required");
        set_detail(res, "update.url, wcs.home and the download folder are required");
        return AGENT_ERR_CONFIG;
    }
    /* config/ checks update.url already; the same rule again, as http applies it. */
    if (str_ncasecmp(o->url, "https://", 8) == 0) {
        /* fine */
    } else if (str_ncasecmp(o->url, "http://", 7) == 0 && http_url_is_loopback(o->url) &&
               http_url_plain_http_ok(o->url)) {
        flags |= HTTP_ALLOW_HTTP;
    } else {
        download_url_for_log(o->url, logurl, sizeof(logurl));
        log_errx("update: update.url %s: must be https (plain http only to a loopback host)",
                 logurl);
        set_detail(res, "update.url must be https");
        return AGENT_ERR_CONFIG;
    }
    if (o->sha256 != NULL && o->sha256[0] != '\0') {
        if (!normalize_sha(o->sha256, want_sha)) {
            log_errx("update: update.sha256: want 64 hex digits");
            set_detail(res, "update.sha256 is not 64 hex digits");
            return AGENT_ERR_CONFIG;
        }
        want = want_sha;
    }
    /* wcs.tar.gz.part.ifrange is the longest name net/download makes there. */
    if (!make_path(tarball, o->cache_dir, TARBALL_NAME) ||
        !make_path(path, o->cache_dir, TARBALL_NAME ".part.ifrange") ||
        !make_path(unpack, o->cache_dir, "unpack.XXXXXX") ||
        !make_path(verfile, o->wcs_home, "conf/WCS.version")) {
        log_errx("update: the download folder or wcs.home is too long");
        set_detail(res, "path too long");
        return AGENT_ERR_CONFIG;
    }
    download_url_for_log(o->url, logurl, sizeof(logurl));

    /* The installed version. */
    rc = read_version(verfile, res->previous_version, &present);
    if (rc != AGENT_OK) {
        set_detail(res, "cannot read the installed conf/WCS.version");
        return rc;
    }
    memcpy(res->installed_version, res->previous_version, sizeof(res->installed_version));

    if (o->dry_run) {
        /*
         * No request: only a cached tarball can tell more, when it is the
         * wanted build or, without update.sha256, came from this URL.
         */
        if (file_size(tarball) <= 0 ||
            (want == NULL && !download_cached_from(o->cache_dir, TARBALL_NAME, o->url)) ||
            download_sha256_file("update", tarball, res->sha256) != AGENT_OK ||
            (want != NULL && strcmp(res->sha256, want) != 0)) {
            res->sha256[0] = '\0';
            res->changed = 1;
            set_detail(res, "would download %s and install it unless it is WCS %s", logurl,
                       present ? res->previous_version : "(none installed)");
            return AGENT_OK;
        }
    } else {
        rc = fileio_mkdir_p(o->cache_dir, 0700);
        if (rc != AGENT_OK) {
            set_detail(res, "cannot create %s", o->cache_dir);
            return rc;
        }
        remove_stale_unpacks(o->cache_dir);
        rc = fetch(o, flags, want, res);
        if (rc != AGENT_OK) {
            if (res->detail[0] == '\0')
                set_detail(res, "download failed: %s", agent_rc_str(rc));
            return rc;
        }
    }

    rc = tarball_inspect(tarball, o->deadline, &lay, res->detail, sizeof(res->detail));
    if (rc == AGENT_ERR_PARSE && !o->dry_run) {
        /*
         * A tarball tar cannot read, or without install.sh and WCS.version,
         * would be answered 304 and fail every later run (a body cut short
         * that the server did not frame, a file damaged on disk): it goes,
         * with its .source, and a cached one is downloaded again at once.
         */
        int cached = !res->downloaded;

        discard_tarball(o->cache_dir, tarball);
        if (!cached)
            goto out;
        log_warnx("update: the cached %s could not be used; downloading it again", tarball);
        tarball_layout_free(&lay);
        res->detail[0] = '\0';
        rc = fetch(o, flags, want, res);
        if (rc == AGENT_OK)
            rc = tarball_inspect(tarball, o->deadline, &lay, res->detail, sizeof(res->detail));
        if (rc == AGENT_ERR_PARSE)
            discard_tarball(o->cache_dir, tarball);
    }
    if (rc != AGENT_OK)
        goto out;
    if (o->max_unpacked_bytes > 0 && lay.bytes > (unsigned long long)o->max_unpacked_bytes) {
        log_errx("update: %s refused: its files add up to %llu bytes, over "
                 "update.max_unpacked_bytes = %lld; raise update.max_unpacked_bytes to accept it",
                 logurl, lay.bytes, (long long)o->max_unpacked_bytes);
        set_detail(res, "the tarball unpacks to %llu bytes, over update.max_unpacked_bytes = %lld",
                   lay.bytes, (long long)o->max_unpacked_bytes);
        rc = AGENT_ERR_TOOBIG;
        goto out;
    }
    if (mkdtemp(unpack) == NULL) {
        log_err("update: cannot create a folder under %s", o->cache_dir);
        set_detail(res, "cannot create the unpack folder");
        rc = AGENT_ERR_IO;
        goto out;
    }
    unpacked = 1;

    /* The tarball's version, from its WCS.version alone. */
    rc = tarball_extract(tarball, unpack, lay.version_member, o->deadline, res->detail,
                         sizeof(res->detail));
    if (rc != AGENT_OK)
        goto out;
    {
        int dd;
        char *norm = tarball_normalize(lay.version_member, &dd);

        if (norm == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        int fits = snprintf(path, sizeof(path), "%s/%s", unpack, norm) < (int)sizeof(path);

        free(norm);
        if (!fits) {
            rc = AGENT_ERR_PARSE;
            goto out;
        }
    }
    rc = read_version(path, res->tarball_version, &present);
    if (rc == AGENT_OK && !present) {
        log_errx("update: %s was not unpacked", lay.version_member);
        rc = AGENT_ERR_PARSE;
    }
    if (rc != AGENT_OK) {
        set_detail(res, "the tarball's WCS.version is missing or malformed");
        goto out;
    }

    if (strcmp(res->tarball_version, res->installed_version) == 0 && !o->force) {
        log_debug("update: WCS %s already installed", res->installed_version);
        set_detail(res, "WCS %s already installed", res->installed_version);
        rc = AGENT_OK;
        goto out;
    }
    if (o->dry_run) {
        res->changed = 1;
        set_detail(res, "would install WCS %s (installed: %s)", res->tarball_version,
                   res->installed_version[0] != '\0' ? res->installed_version : "none");
        rc = AGENT_OK;
        goto out;
    }

    /* Install. */
    log_debug("update: installing WCS %s (installed: %s)", res->tarball_version,
              res->installed_version[0] != '\0' ? res->installed_version : "none");
    rc = tarball_extract(tarball, unpack, NULL, o->deadline, res->detail, sizeof(res->detail));
    if (rc != AGENT_OK)
        goto out;
    if (snprintf(topdir, sizeof(topdir), "%s%s%s", unpack, lay.top[0] != '\0' ? "/" : "",
                 lay.top) >= (int)sizeof(topdir)) {
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    rc = run_installer(o, topdir, &already, res);
    if (rc != AGENT_OK)
        goto out;
    rc = read_version(verfile, res->installed_version, &present);
    if (rc != AGENT_OK) {
        set_detail(res, "install.sh finished but conf/WCS.version is unreadable");
        goto out;
    }
    if (strcmp(res->installed_version, res->tarball_version) != 0) {
        log_errx("update: install.sh finished but %s is still %s (want %s)", verfile,
                 present ? res->installed_version : "absent", res->tarball_version);
        set_detail(res, "install.sh finished but conf/WCS.version is still %s",
                   present ? res->installed_version : "absent");
        rc = AGENT_ERR_CHILD;
        goto out;
    }
    if (already) {
        set_detail(res, "WCS %s already installed", res->installed_version);
    } else {
        res->changed = 1;
        if (strcmp(res->previous_version, res->installed_version) == 0) {
            log_debug("update: reinstalled WCS %s", res->installed_version);
            set_detail(res, "reinstalled WCS %s", res->installed_version);
        } else {
            log_debug("update: installed WCS %s (was %s)", res->installed_version,
                      res->previous_version[0] != '\0' ? res->previous_version : "none");
            set_detail(res, "installed WCS %s (was %s)", res->installed_version,
                       res->previous_version[0] != '\0' ? res->previous_version : "none");
        }
    }
    rc = AGENT_OK;
out:
    if (unpacked)
        rm_tree(unpack);
    tarball_layout_free(&lay);
    return rc;
}
