#include "core/fileio.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/safepath.h"
#include "core/str.h"

/* Read chunk; wiped after use because the file may be a secret. */
#define FILEIO_CHUNK 8192

/*
 * Reads fd to its end and appends to out.  On failure out is put back to
 * its former length (the added bytes wiped when out is secret).
 */
static enum agent_rc
read_fd(int fd, const char *path, struct buf *out, int quiet)
{
    char chunk[FILEIO_CHUNK];
    size_t start = out->len;
    ssize_t n;
    enum agent_rc rc;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (!quiet)
                log_err("%s: read", path);
            rc = AGENT_ERR_IO;
            goto fail;
        }
        if (n == 0)
            break;
        rc = buf_append(out, chunk, (size_t)n);
        if (rc == AGENT_ERR_TOOBIG) {
            if (!quiet)
                log_errx("%s: larger than %zu bytes", path, out->max);
            goto fail;
        }
        if (rc != AGENT_OK) {
            if (!quiet)
                log_errx("%s: out of memory", path);
            goto fail;
        }
    }
    str_wipe(chunk, sizeof(chunk));
    return AGENT_OK;
fail:
    str_wipe(chunk, sizeof(chunk));
    if (out->data != NULL) {
        if (out->secret)
            str_wipe(out->data + start, out->len - start);
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

enum agent_rc
fileio_read(const char *path, struct buf *out)
{
    enum agent_rc rc;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno == ENOENT)
            return AGENT_ERR_ABSENT;
        log_err("%s: open", path);
        return AGENT_ERR_IO;
    }
    rc = read_fd(fd, path, out, 0);
    close(fd);
    return rc;
}

/*
 * Opens path for reading as a regular file, refusing a symbolic link
 * (O_NOFOLLOW) without blocking on a FIFO (O_NONBLOCK): *fd and its fstat
 * in *st.  AGENT_ERR_ABSENT (not logged) when there is no such file;
 * other failures are logged.
 */
static enum agent_rc
open_regular(const char *path, int *fd, struct stat *st)
{
    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (*fd == -1) {
        if (errno == ENOENT)
            return AGENT_ERR_ABSENT;
        if (errno == ELOOP) {
            log_errx("%s: is a symbolic link; refusing to read it", path);
            return AGENT_ERR_INVAL;
        }
        log_err("%s: open", path);
        return AGENT_ERR_IO;
    }
    if (fstat(*fd, st) == -1) {
        log_err("%s: fstat", path);
        close(*fd);
        return AGENT_ERR_IO;
    }
    if (!S_ISREG(st->st_mode)) {
        log_errx("%s: not a regular file; refusing to read it", path);
        close(*fd);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

enum agent_rc
fileio_read_regular(const char *path, struct buf *out)
{
    struct stat st;
    enum agent_rc rc;
    int fd;

    rc = open_regular(path, &fd, &st);
    if (rc != AGENT_OK)
        return rc;
    rc = read_fd(fd, path, out, 0);
    close(fd);
    return rc;
}

/*
 * 1 when the file's group may read it and everyone may not, and that group
 * is none the agent trusts: then the file belongs to that group's service.
 */
static int
foreign_group_reads(const struct stat *st, gid_t reader_gid)
{
    if ((st->st_mode & S_IRGRP) == 0 || (st->st_mode & S_IROTH) != 0)
        return 0;
    return st->st_gid != 0 && st->st_gid != getegid() &&
           (reader_gid == (gid_t)-1 || st->st_gid != reader_gid);
}

/*
 * Why a file of status st may not hold a secret (1 and why[cap]: the
 * reason, its fix, "refusing to read it"), or 0: not group- or
 * world-writable, owned by root or the agent's user, and readable by no
 * group but root's, the agent's or reader_gid.
 */
static int
private_problem(const struct stat *st, gid_t reader_gid, char *why, size_t cap)
{
    if ((st->st_mode & 022) != 0) {
        snprintf(why, cap, "group- or world-writable (mode %04o); refusing to read it",
                 (unsigned)(st->st_mode & 07777));
        return 1;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(why, cap, "owned by user %u, not root; refusing to read it", (unsigned)st->st_uid);
        return 1;
    }
    if (foreign_group_reads(st, reader_gid)) {
        struct group *gr = getgrgid(st->st_gid);

        snprintf(why, cap,
                 "group %s (%u) may read it (mode %04o), a file of that group's service; "
                 "refusing to read it (a secret file is readable only by root, or by group root "
                 "or the WCS group: chmod g-r or chgrp)",
                 gr != NULL ? gr->gr_name : "?", (unsigned)st->st_gid,
                 (unsigned)(st->st_mode & 07777));
        return 1;
    }
    return 0;
}

enum agent_rc
fileio_check_private(const char *path, gid_t reader_gid, char *why, size_t cap)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        snprintf(why, cap, "%s", strerror(errno));
        return errno == ENOENT ? AGENT_ERR_ABSENT : AGENT_ERR_IO;
    }
    return private_problem(&st, reader_gid, why, cap) ? AGENT_ERR_INVAL : AGENT_OK;
}

/*
 * The checks run on the open descriptor (OpenSMTPD's secure_file()), so the
 * file checked is the file read; O_NOFOLLOW refuses a symbolic link and
 * O_NONBLOCK keeps a FIFO from blocking the open.  The folders above it are
 * walked by safepath, and the file it reached must be the one opened.
 */
enum agent_rc
fileio_read_private(const char *path, gid_t reader_gid, struct buf *out)
{
    struct stat st, rst;
    enum agent_rc rc;
    char why[512], *real = NULL;
    int fd;

    rc = open_regular(path, &fd, &st);
    if (rc != AGENT_OK)
        return rc;
    if (private_problem(&st, reader_gid, why, sizeof(why))) {
        log_errx("%s: %s", path, why);
        close(fd);
        return AGENT_ERR_INVAL;
    }
    rc = safepath_resolve(path, &real, why, sizeof(why));
    if (rc == AGENT_OK &&
        (lstat(real, &rst) == -1 || rst.st_dev != st.st_dev || rst.st_ino != st.st_ino)) {
        snprintf(why, sizeof(why), "%s changed while it was checked", path);
        rc = AGENT_ERR_INVAL;
    }
    free(real);
    if (rc != AGENT_OK) {
        log_errx("%s: refusing to read it: %s", path, why);
        close(fd);
        return rc == AGENT_ERR_NOMEM ? rc : AGENT_ERR_INVAL;
    }
    rc = read_fd(fd, path, out, 0);
    close(fd);
    return rc;
}

/* Splits path into its folder ("." when none) and a malloc'd copy of both. */
static enum agent_rc
split_path(const char *path, char **dir, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        *dir = str_dup(".");
        *base = path;
    } else if (slash == path) {
        *dir = str_dup("/");
        *base = slash + 1;
    } else {
        *dir = str_ndup(path, (size_t)(slash - path));
        *base = slash + 1;
    }
    if (*dir == NULL)
        return AGENT_ERR_NOMEM;
    return AGENT_OK;
}

static int
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    ssize_t w;

    while (len > 0) {
        w = write(fd, p, len);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * The redis rewriteConfigOverwriteFile() sequence.  owner != 0 applies
 * uid/gid ((uid_t)-1 / (gid_t)-1 keep the current one); with KEEP_MODE
 * the existing file's owner, group and mode win over both.
 */
static enum agent_rc
write_atomic(const char *path, const void *data, size_t len, mode_t mode, int flags, int owner,
             uid_t uid, gid_t gid)
{
    struct stat st;
    struct buf tmp;
    const char *base, *what = NULL;
    char *dir = NULL;
    int fd = -1, dfd, saved, quiet = (flags & FILEIO_QUIET) != 0;
    int created = 0;
    enum agent_rc rc;

    buf_init(&tmp, 4096);
    if (path == NULL || path[0] == '\0' || (len > 0 && data == NULL)) {
        if (!quiet)
            log_errx("fileio: invalid arguments for an atomic write");
        return AGENT_ERR_INVAL;
    }
    rc = split_path(path, &dir, &base);
    if (rc != AGENT_OK)
        goto out;
    if (base[0] == '\0') {
        if (!quiet)
            log_errx("%s: not a file name", path);
        rc = AGENT_ERR_INVAL;
        goto out;
    }

    if (flags & FILEIO_KEEP_MODE) {
        if (stat(path, &st) == 0) {
            mode = st.st_mode & 07777;
            owner = 1;
            uid = st.st_uid;
            gid = st.st_gid;
        } else if (errno != ENOENT) {
            what = "stat";
            rc = AGENT_ERR_IO;
            goto fail;
        }
    } else if (owner && (uid == (uid_t)-1 || gid == (gid_t)-1) && stat(path, &st) == 0) {
        /* -1 keeps the owner or group of the file being replaced (fileio.h). */
        if (uid == (uid_t)-1)
            uid = st.st_uid;
        if (gid == (gid_t)-1)
            gid = st.st_gid;
    }

    if (buf_printf(&tmp, "%s/.%s.XXXXXX", dir, base) != AGENT_OK) {
        if (!quiet)
            log_errx("%s: path too long", path);
        rc = AGENT_ERR_TOOBIG;
        goto out;
    }
    fd = mkstemp(tmp.data);
    if (fd == -1) {
        what = "create temporary file";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    created = 1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
        what = "fcntl";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    if (write_all(fd, data, len) == -1) {
        what = "write";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    /* fchown() first: it may clear set-id bits that fchmod() then restores. */
    if (owner && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) == -1) {
        what = "fchown";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    if (fchmod(fd, mode & 07777) == -1) {
        what = "fchmod";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    if (fsync(fd) == -1) {
        what = "fsync";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    if (close(fd) == -1) {
        fd = -1;
        what = "close";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    fd = -1;
    if (rename(tmp.data, path) == -1) {
        what = "rename";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    created = 0;

    /*
     * The folder's fsync makes the rename itself durable.  The file is in
     * place by now, so a failure here is reported but nothing is undone;
     * EINVAL means the file system does not sync folders.
     */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        what = "open folder";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    if (fsync(dfd) == -1 && errno != EINVAL) {
        saved = errno;
        close(dfd);
        errno = saved;
        what = "fsync folder";
        rc = AGENT_ERR_IO;
        goto fail;
    }
    close(dfd);
    rc = AGENT_OK;
    goto out;

fail:
    saved = errno;
    if (fd != -1)
        close(fd);
    fd = -1;
    if (created)
        unlink(tmp.data);
    errno = saved;
    if (!quiet)
        log_err("%s: atomic write: %s", path, what);
    errno = saved;
out:
    free(dir);
    buf_cleanup(&tmp);
    return rc;
}

enum agent_rc
fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int flags)
{
    return write_atomic(path, data, len, mode, flags, 0, (uid_t)-1, (gid_t)-1);
}

enum agent_rc
fileio_write_atomic_owner(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                          gid_t gid)
{
    return write_atomic(path, data, len, mode, 0, 1, uid, gid);
}

int
fileio_same_content(const char *path, const void *data, size_t len)
{
    char chunk[FILEIO_CHUNK];
    const char *p = data;
    struct stat st;
    size_t off = 0;
    ssize_t n;
    int fd, same = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1)
        return 0;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len)
        goto out;
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n == -1) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (n == 0)
            break;
        if ((size_t)n > len - off || memcmp(chunk, p + off, (size_t)n) != 0)
            goto out;
        off += (size_t)n;
    }
    same = off == len;
out:
    str_wipe(chunk, sizeof(chunk));
    close(fd);
    return same;
}

/* Creates one folder; 1 when it was created, 0 when it already existed, -1 on error. */
static int
mkdir_one(const char *p, mode_t mode)
{
    struct stat st;

    if (mkdir(p, mode) == 0) {
        /* mkdir() applies the umask; the header promises mode itself. */
        if (chmod(p, mode) == -1)
            return -1;
        return 1;
    }
    if (errno != EEXIST)
        return -1;
    if (stat(p, &st) == -1)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

enum agent_rc
fileio_mkdir_p(const char *path, mode_t mode)
{
    char *p, *s;

    if (path == NULL || path[0] == '\0') {
        log_errx("fileio: empty folder name");
        return AGENT_ERR_INVAL;
    }
    p = str_dup(path);
    if (p == NULL)
        return AGENT_ERR_NOMEM;
    for (s = p + 1; *s != '\0'; s++) {
        if (*s != '/' || s[-1] == '/')
            continue;
        *s = '\0';
        if (mkdir_one(p, mode) == -1) {
            log_err("%s: mkdir", p);
            free(p);
            return AGENT_ERR_IO;
        }
        *s = '/';
    }
    if (mkdir_one(p, mode) == -1) {
        log_err("%s: mkdir", p);
        free(p);
        return AGENT_ERR_IO;
    }
    free(p);
    return AGENT_OK;
}

/* Whether name is ".<base>.XXXXXX": a temporary file of an atomic write of base. */
static int
is_temp_of(const char *name, const char *base, size_t blen)
{
    size_t i;

    if (name[0] != '.' || strncmp(name + 1, base, blen) != 0 || name[1 + blen] != '.')
        return 0;
    name += blen + 2;
    for (i = 0; i < 6; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return name[6] == '\0';
}

/*
 * Removes the temporary files an interrupted atomic write of path left
 * beside it (a run killed between the write and the rename), so that the
 * next run converges without strays.  Only call it where no other writer
 * of these names is at work (the run lock); a failure is logged, not fatal.
 */
void
fileio_remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    struct dirent *e;
    struct stat sb;
    size_t blen;
    DIR *d;

    if (slash == NULL || slash[1] == '\0')
        return;
    blen = strlen(slash + 1);
    if (str_copyn(dir, sizeof(dir), path, slash == path ? 1 : (size_t)(slash - path)) != AGENT_OK)
        return;
    d = opendir(dir);
    if (d == NULL)
        return;
    for (;;) {
        e = readdir(d);
        if (e == NULL)
            break;
        if (!is_temp_of(e->d_name, slash + 1, blen))
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            log_debug("removed %s/%s, left by an interrupted run", dir, e->d_name);
        else
            log_err("cannot remove %s/%s", dir, e->d_name);
    }
    closedir(d);
}
