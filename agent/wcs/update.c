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

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"
#include "net/http.h"

/* The longest path this module builds. */
#define UPD_PATH_MAX 4096
/* The cap on a WCS.version file. */
#define VERSION_FILE_MAX 4096
/* The cap on install.sh's captured output. */
#define INSTALL_OUTPUT_MAX (1024u * 1024u)
/* The installer lines logged when it fails. */
#define INSTALL_TAIL_LINES 20
/* Read size for hashing files. */
#define HASH_CHUNK (64 * 1024)
/* Pause before a download attempt that resumes an interrupted one. */
#define RETRY_PAUSE_MS 1000
/* Progress lines are at least this far apart. */
#define PROGRESS_EVERY_MS 1000

#define MIB (1024.0 * 1024.0)

/* The files under cache_dir (update.h). */
struct paths {
    char tarball[UPD_PATH_MAX];
    char part[UPD_PATH_MAX];
    char ifrange[UPD_PATH_MAX];
    char fresh[UPD_PATH_MAX];
};

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

/*
 * The URL as it may be logged: scheme, host and path, without user info,
 * query or fragment (a presigned URL carries its signature in the query).
 */
static void
url_for_log(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://"), *host, *at, *end;
    size_t n;

    if (p == NULL) {
        snprintf(out, cap, "(malformed URL)");
        return;
    }
    host = p + 3;
    end = host + strcspn(host, "?#");
    at = memchr(host, '@', (size_t)(end - host));
    if (at != NULL && (size_t)(at - host) < strcspn(host, "/"))
        host = at + 1;
    n = (size_t)(p + 3 - url);
    snprintf(out, cap, "%.*s%.*s%s", (int)n, url, (int)(end - host), host,
             *end != '\0' ? "?..." : "");
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

/* unlink() that ignores a missing file and logs other failures. */
static void
remove_file(const char *path)
{
    if (unlink(path) == -1 && errno != ENOENT)
        log_err("update: cannot remove %s", path);
}

/* fsync of a folder, so a rename in it survives a power loss. */
static void
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd != -1) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Feeds the whole file at path into md.  AGENT_ERR_IO (logged) on failure. */
static enum agent_rc
hash_file(EVP_MD_CTX *md, const char *path)
{
    unsigned char *chunk;
    ssize_t n;
    int fd;
    enum agent_rc rc = AGENT_ERR_IO;

    chunk = malloc(HASH_CHUNK);
    if (chunk == NULL)
        return AGENT_ERR_NOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        log_err("update: cannot open %s", path);
        goto out;
    }
    for (;;) {
        n = read(fd, chunk, HASH_CHUNK);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            log_err("update: cannot read %s", path);
            goto out;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1)
            goto out;
    }
    rc = AGENT_OK;
out:
    if (fd != -1)
        close(fd);
    free(chunk);
    return rc;
}

/* The digest of md as 64 hex digits. */
static void
digest_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (EVP_DigestFinal_ex(md, d, &n) == 1 && n == 32)
        str_hex(d, n, out, 65);
}

/* SHA-256 of a whole file into out[65]. */
static enum agent_rc
sha256_file(const char *path, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    enum agent_rc rc;

    if (md == NULL)
        return AGENT_ERR_NOMEM;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return AGENT_ERR_NOMEM;
    }
    rc = hash_file(md, path);
    if (rc == AGENT_OK)
        digest_hex(md, out);
    EVP_MD_CTX_free(md);
    return rc;
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
        log_info("update: removing %s left by an earlier run", path);
        rm_tree(path);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- listing */

/* One entry of the tar listing. */
struct entry {
    char type;    /* '-', 'd', 'l', 'h' */
    int exec;     /* the owner's x bit */
    char *raw;    /* the stored name, unquoted */
    char *norm;   /* the name without "./", "//" and a trailing "/" ("" for the root) */
    char *target; /* the link target (l, h), unquoted */
};

struct listing {
    struct entry *v;
    size_t n, cap;
    char **links; /* sorted norm names of the symlinks */
    size_t nlinks;
    char **files; /* sorted norm names of the regular files and hard links */
    size_t nfiles;
};

static void
listing_free(struct listing *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].raw);
        free(l->v[i].norm);
        free(l->v[i].target);
    }
    free(l->v);
    free(l->links);
    free(l->files);
    memset(l, 0, sizeof(*l));
}

static void set_reason(char *reason, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_reason(char *reason, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (reason == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, cap, fmt, ap);
    va_end(ap);
}

/*
 * Parses the C-quoted string at *pp (GNU quotearg "c" style: \" \\ \a \b
 * \f \n \r \t \v \? and 1-3 octal digits) into a malloc'd string and moves
 * *pp past the closing quote.  NULL on a malformed string, an embedded NUL
 * or out of memory (*nomem set).
 */
static char *
unquote(const char **pp, const char *end, int *nomem)
{
    const char *p = *pp;
    struct buf b;
    char c;
    int i, v;

    if (p >= end || *p != '"')
        return NULL;
    p++;
    buf_init(&b, UPD_PATH_MAX);
    while (p < end && *p != '"') {
        c = *p++;
        if (c == '\\') {
            if (p >= end)
                goto bad;
            c = *p++;
            switch (c) {
            case '"':
            case '\\':
            case '?':
                break;
            case 'a':
                c = '\a';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'v':
                c = '\v';
                break;
            default:
                if (c < '0' || c > '7')
                    goto bad;
                v = c - '0';
                for (i = 1; i < 3 && p < end && *p >= '0' && *p <= '7'; i++)
                    v = v * 8 + (*p++ - '0');
                if (v == 0 || v > 255)
                    goto bad;
                c = (char)v;
                break;
            }
        } else if (c == '\0') {
            goto bad;
        }
        if (buf_putc(&b, c) != AGENT_OK)
            goto bad;
    }
    if (p >= end)
        goto bad;
    *pp = p + 1;
    if (b.data == NULL && buf_puts(&b, "") != AGENT_OK) {
        *nomem = 1;
        buf_cleanup(&b);
        return NULL;
    }
    {
        char *s = buf_detach(&b);

        if (s == NULL)
            *nomem = 1;
        return s;
    }
bad:
    buf_cleanup(&b);
    return NULL;
}

/*
 * The name without empty and "." components and without a trailing slash;
 * *dotdot = 1 when a component is "..".  NULL on out of memory.
 */
static char *
normalize(const char *name, int *dotdot)
{
    size_t n = strlen(name), i = 0, k, o = 0;
    char *out = malloc(n + 1);

    *dotdot = 0;
    if (out == NULL)
        return NULL;
    while (i < n) {
        while (i < n && name[i] == '/')
            i++;
        k = i;
        while (k < n && name[k] != '/')
            k++;
        if (k - i == 2 && name[i] == '.' && name[i + 1] == '.')
            *dotdot = 1;
        if (k > i && !(k - i == 1 && name[i] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, name + i, k - i);
            o += k - i;
        }
        i = k;
    }
    out[o] = '\0';
    return out;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
is_link(const struct listing *l, const char *norm)
{
    return l->nlinks > 0 && bsearch(&norm, l->links, l->nlinks, sizeof(char *), cmp_str) != NULL;
}

/* 1 when a proper prefix (a parent folder) of norm is a symlink of the archive. */
static int
below_link(const struct listing *l, const char *norm)
{
    char tmp[UPD_PATH_MAX];
    size_t n = strlen(norm), i;

    if (n >= sizeof(tmp))
        return 1;
    for (i = 0; i < n; i++) {
        if (norm[i] != '/')
            continue;
        memcpy(tmp, norm, i);
        tmp[i] = '\0';
        if (is_link(l, tmp))
            return 1;
    }
    return 0;
}

/*
 * Resolves a relative symlink target lexically from the link's folder.
 * Refused (0): a path that climbs above the archive root, or that goes on
 * through another symlink of the archive (a chain could then lead out even
 * though each link looks harmless on its own).
 */
static int
link_target_ok(const struct listing *l, const char *link_norm, const char *target)
{
    char path[UPD_PATH_MAX];
    size_t len, i = 0, k, n = strlen(target);
    char *slash;

    if (strlen(link_norm) >= sizeof(path))
        return 0;
    memcpy(path, link_norm, strlen(link_norm) + 1);
    slash = strrchr(path, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        path[0] = '\0';
    len = strlen(path);
    while (i < n) {
        while (i < n && target[i] == '/')
            i++;
        k = i;
        while (k < n && target[k] != '/')
            k++;
        if (k == i)
            break;
        if (k - i == 1 && target[i] == '.') {
            /* nothing */
        } else if (k - i == 2 && target[i] == '.' && target[i + 1] == '.') {
            if (len == 0)
                return 0;
            while (len > 0 && path[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            path[len] = '\0';
        } else {
            if (len + 1 + (k - i) >= sizeof(path))
                return 0;
            if (len > 0)
                path[len++] = '/';
            memcpy(path + len, target + i, k - i);
            len += k - i;
            path[len] = '\0';
            /* More components follow: this one must not be a symlink. */
            while (k < n && target[k] == '/')
                k++;
            if (k < n && is_link(l, path))
                return 0;
        }
        i = k;
    }
    return 1;
}

/* Parses one listing line into e (owned strings).  PARSE / INVAL / NOMEM. */
static enum agent_rc
parse_line(const char *line, size_t n, struct entry *e, char *reason, size_t cap)
{
    const char *p, *end = line + n;
    int nomem = 0;

    memset(e, 0, sizeof(*e));
    p = memchr(line, '"', n);
    if (n < 11 || line[10] != ' ' || p == NULL) {
        set_reason(reason, cap, "not a GNU tar listing line: %.80s", line);
        return AGENT_ERR_PARSE;
    }
    /* Contiguous and sparse files are regular files too. */
    e->type = line[0] == 'C' || line[0] == 'S' ? '-' : line[0];
    e->exec = line[3] == 'x' || line[3] == 's';
    e->raw = unquote(&p, end, &nomem);
    if (e->raw == NULL)
        goto bad;
    if (e->type == 'l' || e->type == 'h') {
        const char *sep = e->type == 'l' ? " -> " : " link to ";
        size_t sl = strlen(sep);

        if ((size_t)(end - p) < sl || memcmp(p, sep, sl) != 0)
            goto bad;
        p += sl;
        e->target = unquote(&p, end, &nomem);
        if (e->target == NULL)
            goto bad;
    }
    if (p != end)
        goto bad;
    return AGENT_OK;
bad:
    free(e->raw);
    free(e->target);
    memset(e, 0, sizeof(*e));
    if (nomem)
        return AGENT_ERR_NOMEM;
    set_reason(reason, cap, "not a GNU tar listing line: %.80s", line);
    return AGENT_ERR_PARSE;
}

static enum agent_rc
listing_add(struct listing *l, const struct entry *e)
{
    if (l->n == l->cap) {
        size_t nc = l->cap == 0 ? 64 : l->cap * 2;
        struct entry *nv = realloc(l->v, nc * sizeof(*nv));

        if (nv == NULL)
            return AGENT_ERR_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *e;
    return AGENT_OK;
}

/* The last entry whose normalised name is norm, or NULL. */
static const struct entry *
find_entry(const struct listing *l, const char *norm)
{
    size_t i;

    for (i = l->n; i > 0; i--) {
        if (strcmp(l->v[i - 1].norm, norm) == 0)
            return &l->v[i - 1];
    }
    return NULL;
}

/* 1 when every entry called norm is a regular file (and there is one). */
static int
only_files(const struct listing *l, const char *norm)
{
    size_t i;
    int seen = 0;

    for (i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].norm, norm) != 0)
            continue;
        if (l->v[i].type != '-')
            return 0;
        seen = 1;
    }
    return seen;
}

/* Checks every entry against the rules of update.h step 2. */
static enum agent_rc
check_entries(struct listing *l, char *reason, size_t cap)
{
    size_t i;
    int dd;

    l->links = calloc(l->n + 1, sizeof(char *));
    l->files = calloc(l->n + 1, sizeof(char *));
    if (l->links == NULL || l->files == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; i < l->n; i++) {
        if (l->v[i].type == 'l')
            l->links[l->nlinks++] = l->v[i].norm;
        else if (l->v[i].type == '-' || l->v[i].type == 'h')
            l->files[l->nfiles++] = l->v[i].norm;
    }
    qsort(l->links, l->nlinks, sizeof(char *), cmp_str);
    qsort(l->files, l->nfiles, sizeof(char *), cmp_str);

    for (i = 0; i < l->n; i++) {
        const struct entry *e = &l->v[i];

        if (e->raw[0] == '/') {
            set_reason(reason, cap, "absolute path in the tarball: %.120s", e->raw);
            return AGENT_ERR_INVAL;
        }
        if (strchr("-dlh", e->type) == NULL || e->type == '\0') {
            set_reason(reason, cap, "unsupported entry type '%c' in the tarball: %.120s", e->type,
                       e->raw);
            return AGENT_ERR_INVAL;
        }
        if (e->norm[0] == '\0' && e->type != 'd') {
            set_reason(reason, cap, "entry without a name in the tarball");
            return AGENT_ERR_INVAL;
        }
        if (below_link(l, e->norm)) {
            set_reason(reason, cap, "entry below a symlink in the tarball: %.120s", e->raw);
            return AGENT_ERR_INVAL;
        }
        if (e->type == 'l') {
            if (e->target[0] == '\0' || e->target[0] == '/') {
                set_reason(reason, cap,
                           "symlink to an absolute path in the tarball: %.80s -> %.80s", e->raw,
                           e->target);
                return AGENT_ERR_INVAL;
            }
            if (!link_target_ok(l, e->norm, e->target)) {
                set_reason(reason, cap, "symlink out of the tarball: %.80s -> %.80s", e->raw,
                           e->target);
                return AGENT_ERR_INVAL;
            }
        } else if (e->type == 'h') {
            char *t;
            int bad;

            t = normalize(e->target, &dd);
            if (t == NULL)
                return AGENT_ERR_NOMEM;
            /*
             * A hard link to a symlink is a copy of the symlink elsewhere,
             * where its relative target may point somewhere else: refused.
             */
            bad = e->target[0] == '/' || dd || t[0] == '\0' || below_link(l, t) || is_link(l, t);
            /*
             * The target must be a file of this archive.  GNU tar's listing
             * already drops a leading "/" from hard link targets, so an
             * absolute target shows up here as a relative name that no
             * member has.
             */
            if (!bad && (l->nfiles == 0 ||
                         bsearch(&t, l->files, l->nfiles, sizeof(char *), cmp_str) == NULL))
                bad = 1;
            free(t);
            if (bad) {
                set_reason(reason, cap, "hard link out of the tarball: %.80s -> %.80s", e->raw,
                           e->target);
                return AGENT_ERR_INVAL;
            }
        }
    }
    return AGENT_OK;
}

/* Finds the top folder, install.sh and WCS.version. */
static enum agent_rc
find_layout(const struct listing *l, struct wcs_update_layout *out, char *reason, size_t cap)
{
    static const char *const version_at[] = {"WCS.version", "conf/WCS.version",
                                             "server/conf/WCS.version"};
    char top[UPD_PATH_MAX], name[UPD_PATH_MAX];
    const struct entry *inst = NULL, *ver = NULL;
    size_t i, tl;

    top[0] = '\0';
    if (find_entry(l, "install.sh") == NULL) {
        /* Not at the root: every entry must sit in one top folder. */
        for (i = 0; i < l->n && l->v[i].norm[0] == '\0'; i++)
            ;
        if (i == l->n) {
            set_reason(reason, cap, "the tarball is empty");
            return AGENT_ERR_PARSE;
        }
        tl = strcspn(l->v[i].norm, "/");
        if (tl >= sizeof(top))
            return AGENT_ERR_PARSE;
        memcpy(top, l->v[i].norm, tl);
        top[tl] = '\0';
        for (i = 0; i < l->n; i++) {
            const char *nm = l->v[i].norm;

            if (nm[0] != '\0' &&
                !(strncmp(nm, top, tl) == 0 && (nm[tl] == '\0' || nm[tl] == '/'))) {
                set_reason(reason, cap, "no install.sh at the top of the tarball");
                return AGENT_ERR_PARSE;
            }
        }
    }
    if (snprintf(name, sizeof(name), "%s%sinstall.sh", top, top[0] != '\0' ? "/" : "") >=
        (int)sizeof(name))
        return AGENT_ERR_PARSE;
    inst = find_entry(l, name);
    if (inst == NULL) {
        set_reason(reason, cap, "no install.sh at the top of the tarball");
        return AGENT_ERR_PARSE;
    }
    if (inst->type != '-' || !inst->exec) {
        set_reason(reason, cap, "%.120s in the tarball is not an executable file", inst->raw);
        return AGENT_ERR_PARSE;
    }
    for (i = 0; i < sizeof(version_at) / sizeof(version_at[0]) && ver == NULL; i++) {
        if (snprintf(name, sizeof(name), "%s%s%s", top, top[0] != '\0' ? "/" : "", version_at[i]) >=
            (int)sizeof(name))
            return AGENT_ERR_PARSE;
        ver = find_entry(l, name);
    }
    if (ver == NULL) {
        set_reason(reason, cap, "no WCS.version at the top of the tarball");
        return AGENT_ERR_PARSE;
    }
    if (!only_files(l, ver->norm)) {
        set_reason(reason, cap, "%.120s in the tarball is not a regular file", ver->raw);
        return AGENT_ERR_PARSE;
    }
    out->top = str_dup(top);
    out->install_member = str_dup(inst->raw);
    out->version_member = str_dup(ver->raw);
    out->entries = l->n;
    if (out->top == NULL || out->install_member == NULL || out->version_member == NULL) {
        wcs_update_layout_free(out);
        return AGENT_ERR_NOMEM;
    }
    return AGENT_OK;
}

enum agent_rc
wcs_update_check_listing(const char *text, size_t len, struct wcs_update_layout *out, char *reason,
                         size_t cap)
{
    struct listing l;
    struct wcs_update_layout lay;
    const char *p = text, *end = text + len, *nl;
    enum agent_rc rc = AGENT_OK;
    struct entry e;
    size_t n;
    int dd;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    memset(&l, 0, sizeof(l));
    memset(&lay, 0, sizeof(lay));
    if (text == NULL || out == NULL)
        return AGENT_ERR_INVAL;
    while (p < end && rc == AGENT_OK) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0 && !(n >= 5 && memcmp(p, "tar: ", 5) == 0)) {
            char *line = str_ndup(p, n);

            if (line == NULL) {
                rc = AGENT_ERR_NOMEM;
                break;
            }
            if (strlen(line) != n) {
                set_reason(reason, cap, "NUL byte in the tar listing");
                rc = AGENT_ERR_PARSE;
            } else {
                rc = parse_line(line, n, &e, reason, cap);
            }
            free(line);
            if (rc == AGENT_OK) {
                e.norm = normalize(e.raw, &dd);
                if (e.norm == NULL) {
                    rc = AGENT_ERR_NOMEM;
                } else if (dd) {
                    set_reason(reason, cap, "'..' in a tarball path: %.120s", e.raw);
                    rc = AGENT_ERR_INVAL;
                } else if (strlen(e.raw) >= UPD_PATH_MAX) {
                    set_reason(reason, cap, "path longer than %d bytes in the tarball",
                               UPD_PATH_MAX - 1);
                    rc = AGENT_ERR_INVAL;
                }
                if (rc == AGENT_OK)
                    rc = listing_add(&l, &e);
                if (rc != AGENT_OK) {
                    free(e.raw);
                    free(e.norm);
                    free(e.target);
                }
            }
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    if (rc == AGENT_OK && l.n == 0) {
        set_reason(reason, cap, "the tarball is empty");
        rc = AGENT_ERR_PARSE;
    }
    if (rc == AGENT_OK)
        rc = check_entries(&l, reason, cap);
    if (rc == AGENT_OK)
        rc = find_layout(&l, &lay, reason, cap);
    listing_free(&l);
    if (rc == AGENT_OK)
        *out = lay;
    return rc;
}

void
wcs_update_layout_free(struct wcs_update_layout *l)
{
    if (l == NULL)
        return;
    free(l->top);
    free(l->install_member);
    free(l->version_member);
    memset(l, 0, sizeof(*l));
}

/* --------------------------------------------------------------- download */

enum sink_mode {
    SINK_UNDECIDED, /* no body byte yet */
    SINK_APPEND,    /* a 206 continuing .part: append to it */
    SINK_FRESH      /* anything else: the body goes to .new from byte 0 */
};

/* The streaming consumer of one download attempt. */
struct sink {
    const struct paths *P;
    struct http_response *resp; /* its headers are complete when the first byte arrives */
    EVP_MD_CTX *md;             /* covers the whole file, including what .part held */
    long long resume_from;      /* bytes in .part when the attempt started (0: none) */
    enum sink_mode mode;
    int fd;
    long long got;   /* body bytes written in this attempt */
    long long total; /* expected size of the whole file, -1 when unknown */
    int64_t started_ms, last_log_ms;
    void (*tick)(void *ctx); /* the caller's heartbeat, with the progress line */
    void *tick_ctx;
};

/* Parses "bytes A-B/T" (T may be "*": *t = -1). */
static int
parse_content_range(const char *s, long long *a, long long *b, long long *t)
{
    char *e;

    if (str_ncasecmp(s, "bytes ", 6) != 0)
        return 0;
    s += 6;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *a = strtoll(s, &e, 10);
    if (errno != 0 || *e != '-' || e[1] < '0' || e[1] > '9')
        return 0;
    *b = strtoll(e + 1, &e, 10);
    if (errno != 0 || *e != '/' || *b < *a)
        return 0;
    if (strcmp(e + 1, "*") == 0) {
        *t = -1;
        return 1;
    }
    if (e[1] < '0' || e[1] > '9')
        return 0;
    *t = strtoll(e + 1, &e, 10);
    return errno == 0 && *e == '\0' && *t > *b;
}

/* The Content-Length of the response, -1 when absent or malformed. */
static long long
content_length(const struct http_response *resp)
{
    char v[32];
    long long n;

    if (http_response_header(resp, "Content-Length", v, sizeof(v)) != AGENT_OK)
        return -1;
    if (str_to_ll(v, 0, LLONG_MAX, &n) != AGENT_OK)
        return -1;
    return n;
}

/* Chooses where the body goes, from the headers of the response. */
static int
sink_open(struct sink *s)
{
    char cr[128];
    long long a, b, t, cl;

    if (s->resume_from > 0 &&
        http_response_header(s->resp, "Content-Range", cr, sizeof(cr)) == AGENT_OK &&
        parse_content_range(cr, &a, &b, &t) && a == s->resume_from) {
        s->fd = open(s->P->part, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (s->fd == -1) {
            log_err("update: cannot open %s", s->P->part);
            return AGENT_ERR_IO;
        }
        s->mode = SINK_APPEND;
        s->total = t;
        return 0;
    }
    /* A full body: the hash starts over. */
    if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
        return AGENT_ERR_NOMEM;
    s->fd = open(s->P->fresh, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->fd == -1) {
        log_err("update: cannot create %s", s->P->fresh);
        return AGENT_ERR_IO;
    }
    s->mode = SINK_FRESH;
    cl = content_length(s->resp);
    s->total = cl;
    return 0;
}

static void
log_progress(struct sink *s)
{
    long long have = s->got + (s->mode == SINK_APPEND ? s->resume_from : 0);

    if (s->total > 0)
        log_info("update: downloaded %.1f MiB of %.1f MiB", (double)have / MIB,
                 (double)s->total / MIB);
    else
        log_info("update: downloaded %.1f MiB", (double)have / MIB);
}

static int
sink_write(void *ctx, const void *data, size_t len)
{
    struct sink *s = ctx;
    const char *p = data;
    size_t left = len;
    ssize_t w;
    int64_t now;
    int r;

    if (s->mode == SINK_UNDECIDED) {
        r = sink_open(s);
        if (r != 0)
            return r;
    }
    while (left > 0) {
        w = write(s->fd, p, left);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            log_err("update: cannot write %s", s->mode == SINK_APPEND ? s->P->part : s->P->fresh);
            return AGENT_ERR_IO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (EVP_DigestUpdate(s->md, data, len) != 1)
        return AGENT_ERR_NOMEM;
    s->got += (long long)len;
    now = clock_mono_ms();
    if (now - s->last_log_ms >= PROGRESS_EVERY_MS) {
        s->last_log_ms = now;
        log_progress(s);
        if (s->tick != NULL)
            s->tick(s->tick_ctx);
    }
    return 0;
}

/* Copies a response header into out[cap] when it is present, fits and is printable. */
static void
copy_validator(const struct http_response *resp, const char *name, char *out, size_t cap)
{
    size_t i;

    out[0] = '\0';
    if (http_response_header(resp, name, out, cap) != AGENT_OK) {
        out[0] = '\0';
        return;
    }
    for (i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e) {
            out[0] = '\0';
            return;
        }
    }
}

/* 1 when v may go into a request header (printable ASCII, not empty). */
static int
header_value_ok(const char *v)
{
    size_t i;

    if (v == NULL || v[0] == '\0' || strlen(v) > 255)
        return 0;
    for (i = 0; v[i] != '\0'; i++) {
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* The validator to resume this response's body with: a strong ETag, else Last-Modified. */
static void
resume_validator(const struct http_response *resp, char *out, size_t cap)
{
    copy_validator(resp, "ETag", out, cap);
    if (out[0] != '\0' && out[0] == '"')
        return;
    copy_validator(resp, "Last-Modified", out, cap);
}

/* Reads the small .ifrange file; "" when absent or unusable. */
static void
read_ifrange(const char *path, char *out, size_t cap)
{
    struct buf b;
    char *t;

    out[0] = '\0';
    buf_init(&b, 512);
    if (fileio_read(path, &b) == AGENT_OK && b.len > 0) {
        t = str_trim(b.data);
        if (header_value_ok(t))
            snprintf(out, cap, "%s", t);
    }
    buf_cleanup(&b);
}

/* The status classes of update.h: temporary (NET) or definite (HTTP). */
static enum agent_rc
status_rc(long status)
{
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return AGENT_ERR_NET;
    return AGENT_ERR_HTTP;
}

/*
 * Brings <cache>/wcs.tar.gz up to date (update.h step 1).  On success
 * res->sha256, res->etag, res->last_modified and res->downloaded are set.
 */
static enum agent_rc
download(const struct wcs_update_opts *o, const struct paths *P, unsigned flags,
         const char *want_sha, struct wcs_update_result *res)
{
    char logurl[512], ifr[256], h_range[64], h_ifr[300], h_inm[300], h_ims[300], got_sha[65];
    const char *hdrs[4];
    struct http_request req;
    struct http_response resp;
    struct sink s;
    long long part;
    int attempt, nh, conditional, have_cache;
    int64_t t0, tmo;
    enum agent_rc rc = AGENT_ERR_NET;
    const char *done_path;

    url_for_log(o->url, logurl, sizeof(logurl));
    memset(&s, 0, sizeof(s));
    s.fd = -1;
    s.md = EVP_MD_CTX_new();
    if (s.md == NULL)
        return AGENT_ERR_NOMEM;
    http_response_init(&resp, 1);

    have_cache = file_size(P->tarball) > 0;
    if (have_cache && want_sha != NULL) {
        /* A fixed build already downloaded: no request at all. */
        rc = sha256_file(P->tarball, got_sha);
        if (rc != AGENT_OK)
            goto out;
        if (strcmp(got_sha, want_sha) == 0) {
            log_info("update: %s already holds the wanted build (sha256 %.12s...)", P->tarball,
                     want_sha);
            memcpy(res->sha256, got_sha, sizeof(res->sha256));
            snprintf(res->etag, sizeof(res->etag), "%s", o->etag_in != NULL ? o->etag_in : "");
            snprintf(res->last_modified, sizeof(res->last_modified), "%s",
                     o->last_modified_in != NULL ? o->last_modified_in : "");
            rc = AGENT_OK;
            goto out;
        }
        log_info("update: %s does not match update.sha256; downloading again", P->tarball);
        remove_file(P->tarball);
        have_cache = 0;
    }

    for (attempt = 1;; attempt++) {
        if (deadline_expired(o->deadline)) {
            log_errx("update: download of %s: the run's deadline has passed", logurl);
            set_detail(res, "download: the run's deadline has passed");
            rc = AGENT_ERR_TIMEOUT;
            goto out;
        }
        remove_file(P->fresh);
        part = file_size(P->part);
        read_ifrange(P->ifrange, ifr, sizeof(ifr));
        if (part >= 0 && (part == 0 || ifr[0] == '\0')) {
            /* Nothing to resume from, or no validator to resume it safely. */
            remove_file(P->part);
            remove_file(P->ifrange);
            part = 0;
        }
        if (part < 0)
            part = 0;

        if (EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        nh = 0;
        conditional = 0;
        if (part > 0) {
            rc = hash_file(s.md, P->part);
            if (rc != AGENT_OK)
                goto out;
            snprintf(h_range, sizeof(h_range), "Range: bytes=%lld-", part);
            snprintf(h_ifr, sizeof(h_ifr), "If-Range: %s", ifr);
            hdrs[nh++] = h_range;
            hdrs[nh++] = h_ifr;
            log_info("update: resuming the download of %s at %.1f MiB", logurl, (double)part / MIB);
        } else if (have_cache &&
                   (header_value_ok(o->etag_in) || header_value_ok(o->last_modified_in))) {
            if (header_value_ok(o->etag_in)) {
                snprintf(h_inm, sizeof(h_inm), "If-None-Match: %s", o->etag_in);
                hdrs[nh++] = h_inm;
            }
            if (header_value_ok(o->last_modified_in)) {
                snprintf(h_ims, sizeof(h_ims), "If-Modified-Since: %s", o->last_modified_in);
                hdrs[nh++] = h_ims;
            }
            conditional = 1;
            log_info("update: checking %s for a newer tarball", logurl);
        } else {
            log_info("update: downloading %s", logurl);
        }
        hdrs[nh] = NULL;

        s.P = P;
        s.tick = o->tick;
        s.tick_ctx = o->tick_ctx;
        s.resp = &resp;
        s.resume_from = part;
        s.mode = SINK_UNDECIDED;
        s.fd = -1;
        s.got = 0;
        s.total = -1;
        s.started_ms = clock_mono_ms();
        s.last_log_ms = s.started_ms;

        tmo = o->download_timeout_ms > 0 ? o->download_timeout_ms : WCS_UPDATE_DOWNLOAD_TIMEOUT_MS;
        memset(&req, 0, sizeof(req));
        req.method = "GET";
        req.url = o->url;
        req.headers = hdrs;
        req.timeout_ms = deadline_cap_ms(o->deadline, tmo);
        req.connect_timeout_ms = deadline_cap_ms(o->deadline, 30000);
        req.flags = flags;
        req.sink = sink_write;
        req.sink_ctx = &s;
        req.low_speed_ms = WCS_UPDATE_LOW_SPEED_MS;
        http_response_reset(&resp);
        t0 = clock_mono_ms();
        rc = http_perform(&req, &resp);
        if (s.fd != -1) {
            if (rc == AGENT_OK && fsync(s.fd) == -1) {
                log_err("update: fsync %s", s.mode == SINK_APPEND ? P->part : P->fresh);
                rc = AGENT_ERR_IO;
            }
            if (close(s.fd) == -1 && rc == AGENT_OK) {
                log_err("update: close %s", s.mode == SINK_APPEND ? P->part : P->fresh);
                rc = AGENT_ERR_IO;
            }
            s.fd = -1;
        }

        if (rc != AGENT_OK) {
            int progress = s.got > 0;

            if (s.mode == SINK_FRESH && resp.status == 200 && s.got > 0) {
                /* Keep what came of a full body, when it can be resumed later. */
                resume_validator(&resp, ifr, sizeof(ifr));
                if (ifr[0] != '\0' && rename(P->fresh, P->part) == 0 &&
                    fileio_write_atomic(P->ifrange, ifr, strlen(ifr), 0600, FILEIO_QUIET) ==
                        AGENT_OK) {
                    log_debug("update: kept %.1f MiB for resuming", (double)s.got / MIB);
                } else {
                    remove_file(P->part);
                    remove_file(P->ifrange);
                }
            }
            remove_file(P->fresh);
            if (rc != AGENT_ERR_NET && rc != AGENT_ERR_TIMEOUT) {
                /* The sink and the fsync above logged their own failures. */
                if (resp.fail != HTTP_FAIL_ABORTED && resp.error[0] != '\0')
                    log_errx("update: download of %s: %s", logurl, resp.error);
                set_detail(res, "download failed: %s",
                           resp.error[0] != '\0' ? resp.error : agent_rc_str(rc));
                goto out;
            }
            if (progress && attempt < WCS_UPDATE_ATTEMPTS &&
                deadline_left_ms(o->deadline) > RETRY_PAUSE_MS) {
                log_warnx("update: download of %s interrupted after %.1f MiB (%s); resuming",
                          logurl, (double)s.got / MIB, resp.error);
                clock_sleep_ms(RETRY_PAUSE_MS);
                continue;
            }
            log_errx("update: download of %s failed: %s", logurl, resp.error);
            set_detail(res, "download failed: %s", resp.error);
            goto out;
        }

        if (resp.status == 416 && part > 0 && attempt < WCS_UPDATE_ATTEMPTS) {
            log_warnx("update: the server refused to resume (HTTP 416); starting over");
            remove_file(P->part);
            remove_file(P->ifrange);
            remove_file(P->fresh);
            continue;
        }
        if (resp.status == 304 && conditional) {
            remove_file(P->fresh);
            copy_validator(&resp, "ETag", res->etag, sizeof(res->etag));
            if (res->etag[0] == '\0')
                snprintf(res->etag, sizeof(res->etag), "%s", o->etag_in != NULL ? o->etag_in : "");
            copy_validator(&resp, "Last-Modified", res->last_modified, sizeof(res->last_modified));
            if (res->last_modified[0] == '\0')
                snprintf(res->last_modified, sizeof(res->last_modified), "%s",
                         o->last_modified_in != NULL ? o->last_modified_in : "");
            log_info("update: %s not modified (HTTP 304); using the cached tarball", logurl);
            rc = sha256_file(P->tarball, res->sha256);
            goto out;
        }
        if (!(resp.status == 200 && s.mode == SINK_FRESH) &&
            !(resp.status == 206 && s.mode == SINK_APPEND)) {
            remove_file(P->fresh);
            if (resp.status == 200) {
                log_errx("update: download of %s: empty body", logurl);
                set_detail(res, "download: empty body");
                rc = AGENT_ERR_PARSE;
            } else {
                rc = status_rc(resp.status);
                log_errx("update: download of %s: HTTP %ld", logurl, resp.status);
                set_detail(res, "download: HTTP %ld", resp.status);
            }
            goto out;
        }

        /* A complete file: check it, then make it the cached tarball. */
        done_path = s.mode == SINK_APPEND ? P->part : P->fresh;
        if (s.total >= 0 && s.got + (s.mode == SINK_APPEND ? part : 0) != s.total) {
            log_errx("update: download of %s: got %lld bytes, want %lld", logurl,
                     s.got + (s.mode == SINK_APPEND ? part : 0), s.total);
            set_detail(res, "download: incomplete body");
            remove_file(done_path);
            remove_file(P->ifrange);
            rc = AGENT_ERR_NET;
            goto out;
        }
        digest_hex(s.md, got_sha);
        if (want_sha != NULL && strcmp(got_sha, want_sha) != 0) {
            log_errx("update: checksum mismatch: got %s, want %s", got_sha, want_sha);
            set_detail(res, "checksum mismatch: got %s, want %s", got_sha, want_sha);
            remove_file(done_path);
            remove_file(P->ifrange);
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        if (rename(done_path, P->tarball) == -1) {
            log_err("update: cannot rename %s to %s", done_path, P->tarball);
            set_detail(res, "cannot store the download");
            rc = AGENT_ERR_IO;
            goto out;
        }
        sync_dir(o->cache_dir);
        /* A 200 that answered a resume attempt makes the old partial obsolete. */
        remove_file(P->part);
        remove_file(P->ifrange);
        copy_validator(&resp, "ETag", res->etag, sizeof(res->etag));
        if (res->etag[0] == '\0' && s.mode == SINK_APPEND && ifr[0] == '"')
            snprintf(res->etag, sizeof(res->etag), "%s", ifr);
        copy_validator(&resp, "Last-Modified", res->last_modified, sizeof(res->last_modified));
        memcpy(res->sha256, got_sha, sizeof(res->sha256));
        res->downloaded = 1;
        log_info("update: downloaded %s (%.1f MiB in %.1f s, sha256 %s)", logurl,
                 (double)(s.got + (s.mode == SINK_APPEND ? part : 0)) / MIB,
                 (double)(clock_mono_ms() - t0) / 1000.0, got_sha);
        rc = AGENT_OK;
        goto out;
    }
out:
    if (s.fd != -1)
        close(s.fd);
    EVP_MD_CTX_free(s.md);
    http_response_cleanup(&resp);
    return rc;
}

/* ------------------------------------------------------- unpack, install */

/* The last non-empty line of a child's output, cut and redacted, into out[cap]. */
static void
last_line(const struct buf *output, char *out, size_t cap)
{
    const char *s = buf_cstr(output), *e = s + output->len, *b;
    char tmp[160];
    char *red;

    out[0] = '\0';
    while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    b = e;
    while (b > s && b[-1] != '\n')
        b--;
    if (b == e)
        return;
    snprintf(tmp, sizeof(tmp), "%.*s", (int)(e - b), b);
    red = log_redact(tmp);
    snprintf(out, cap, "%s", red != NULL ? red : "(output not shown)");
    free(red);
}

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
 * Runs tar with argv.  AGENT_OK when it exited 0 (r holds its output; the
 * caller cleans r up in every case); otherwise logged, why[cap] set, and
 * AGENT_ERR_PARSE (tar failed: not a tar.gz), AGENT_ERR_TIMEOUT or
 * AGENT_ERR_IO (not started).
 */
static enum agent_rc
run_tar(const char *const *argv, const struct deadline *dl, size_t output_max,
        struct spawn_result *r, char *why, size_t cap)
{
    struct spawn_opts so;
    char line[160];
    enum agent_rc rc;

    memset(&so, 0, sizeof(so));
    so.argv = argv;
    so.timeout_ms = deadline_cap_ms(dl, WCS_UPDATE_TAR_TIMEOUT_MS);
    so.output_max = output_max;
    rc = spawn_run(&so, r);
    if (rc == AGENT_ERR_TIMEOUT) {
        snprintf(why, cap, "tar timed out after %lld ms", (long long)so.timeout_ms);
        log_errx("update: %s", why);
        return rc;
    }
    if (rc != AGENT_OK) {
        snprintf(why, cap, "tar could not be started");
        return rc;
    }
    if (!r->exited || r->exit_code != 0) {
        last_line(&r->output, line, sizeof(line));
        if (r->exited)
            snprintf(why, cap, "tar exit status %d: %s", r->exit_code, line);
        else
            snprintf(why, cap, "tar killed by signal %d", r->signal);
        log_errx("update: cannot unpack the tarball: %s", why);
        return AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

/* Lists and checks the tarball (update.h step 2). */
static enum agent_rc
inspect_tarball(const char *tarball, const struct deadline *dl, struct wcs_update_layout *lay,
                struct wcs_update_result *res)
{
    const char *argv[] = {
        "tar",    "--list",        "--verbose", "--numeric-owner", "--quoting-style=c",
        "--gzip", "--force-local", "--file",    tarball,           NULL};
    struct spawn_result r;
    char why[256];
    enum agent_rc rc;

    memset(&r, 0, sizeof(r));
    rc = run_tar(argv, dl, WCS_UPDATE_LISTING_MAX, &r, why, sizeof(why));
    if (rc != AGENT_OK) {
        set_detail(res, "cannot read the tarball: %s", why);
        goto out;
    }
    if (r.truncated) {
        log_errx("update: the tarball's listing is over %u bytes", WCS_UPDATE_LISTING_MAX);
        set_detail(res, "the tarball lists too many entries");
        rc = AGENT_ERR_TOOBIG;
        goto out;
    }
    rc = wcs_update_check_listing(r.output.data != NULL ? r.output.data : "", r.output.len, lay,
                                  why, sizeof(why));
    if (rc != AGENT_OK) {
        if (rc == AGENT_ERR_NOMEM)
            snprintf(why, sizeof(why), "out of memory");
        log_errx("update: tarball refused: %s", why);
        set_detail(res, "tarball refused: %s", why);
        goto out;
    }
    log_debug("update: the tarball holds %zu entries, top folder '%s'", lay->entries, lay->top);
out:
    spawn_result_cleanup(&r);
    return rc;
}

/* Extracts the whole tarball (member NULL) or one member into dir. */
static enum agent_rc
extract(const char *tarball, const char *dir, const char *member, const struct deadline *dl,
        struct wcs_update_result *res)
{
    const char *argv[16];
    struct spawn_result r;
    char why[256];
    enum agent_rc rc;
    int n = 0;

    argv[n++] = "tar";
    argv[n++] = "--extract";
    argv[n++] = "--gzip";
    argv[n++] = "--force-local";
    argv[n++] = "--file";
    argv[n++] = tarball;
    argv[n++] = "--directory";
    argv[n++] = dir;
    /* Owners from the archive would be arbitrary uids; the modes (exec bits) are kept. */
    argv[n++] = "--no-same-owner";
    if (member != NULL) {
        argv[n++] = "--no-unquote";
        argv[n++] = "--no-wildcards";
        argv[n++] = "--";
        argv[n++] = member;
    }
    argv[n] = NULL;
    memset(&r, 0, sizeof(r));
    rc = run_tar(argv, dl, 64 * 1024, &r, why, sizeof(why));
    if (rc != AGENT_OK)
        set_detail(res, "cannot unpack the tarball: %s", why);
    spawn_result_cleanup(&r);
    return rc;
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
    log_info("update: running ./install.sh -silent in %s", dir);
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
        last_line(&r.output, line, sizeof(line));
        log_info("update: install.sh finished%s%s", line[0] != '\0' ? ": " : "", line);
        goto out;
    }
    if (r.exited && r.exit_code == 1 && r.output.data != NULL &&
        strstr(r.output.data, "already installed") != NULL) {
        log_lines("install.sh", &r.output, LOG_LVL_DEBUG, 0);
        log_info("update: install.sh says this version is already installed");
        *already = 1;
        goto out;
    }
    log_lines("install.sh", &r.output, LOG_LVL_WARN, INSTALL_TAIL_LINES);
    last_line(&r.output, line, sizeof(line));
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
    struct paths P;
    struct wcs_update_layout lay;
    char want_sha[65], logurl[512], verfile[UPD_PATH_MAX], unpack[UPD_PATH_MAX], path[UPD_PATH_MAX],
        topdir[UPD_PATH_MAX];
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
        url_for_log(o->url, logurl, sizeof(logurl));
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
    if (!make_path(P.tarball, o->cache_dir, "wcs.tar.gz") ||
        !make_path(P.part, o->cache_dir, "wcs.tar.gz.part") ||
        !make_path(P.ifrange, o->cache_dir, "wcs.tar.gz.part.ifrange") ||
        !make_path(P.fresh, o->cache_dir, "wcs.tar.gz.new") ||
        !make_path(unpack, o->cache_dir, "unpack.XXXXXX") ||
        !make_path(verfile, o->wcs_home, "conf/WCS.version")) {
        log_errx("update: the download folder or wcs.home is too long");
        set_detail(res, "path too long");
        return AGENT_ERR_CONFIG;
    }
    url_for_log(o->url, logurl, sizeof(logurl));

    /* The installed version. */
    rc = read_version(verfile, res->previous_version, &present);
    if (rc != AGENT_OK) {
        set_detail(res, "cannot read the installed conf/WCS.version");
        return rc;
    }
    memcpy(res->installed_version, res->previous_version, sizeof(res->installed_version));

    if (o->dry_run) {
        /* No request: only a cached tarball can tell more. */
        if (file_size(P.tarball) <= 0 || sha256_file(P.tarball, res->sha256) != AGENT_OK ||
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
        rc = download(o, &P, flags, want, res);
        if (rc != AGENT_OK) {
            if (res->detail[0] == '\0')
                set_detail(res, "download failed: %s", agent_rc_str(rc));
            return rc;
        }
    }

    rc = inspect_tarball(P.tarball, o->deadline, &lay, res);
    if (rc != AGENT_OK)
        goto out;
    if (mkdtemp(unpack) == NULL) {
        log_err("update: cannot create a folder under %s", o->cache_dir);
        set_detail(res, "cannot create the unpack folder");
        rc = AGENT_ERR_IO;
        goto out;
    }
    unpacked = 1;

    /* The tarball's version, from its WCS.version alone. */
    rc = extract(P.tarball, unpack, lay.version_member, o->deadline, res);
    if (rc != AGENT_OK)
        goto out;
    {
        int dd;
        char *norm = normalize(lay.version_member, &dd);

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
        log_info("update: WCS %s already installed", res->installed_version);
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
    log_info("update: installing WCS %s (installed: %s)", res->tarball_version,
             res->installed_version[0] != '\0' ? res->installed_version : "none");
    rc = extract(P.tarball, unpack, NULL, o->deadline, res);
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
            log_info("update: reinstalled WCS %s", res->installed_version);
            set_detail(res, "reinstalled WCS %s", res->installed_version);
        } else {
            log_info("update: installed WCS %s (was %s)", res->installed_version,
                     res->previous_version[0] != '\0' ? res->previous_version : "none");
            set_detail(res, "installed WCS %s (was %s)", res->installed_version,
                       res->previous_version[0] != '\0' ? res->previous_version : "none");
        }
    }
    rc = AGENT_OK;
out:
    if (unpacked)
        rm_tree(unpack);
    wcs_update_layout_free(&lay);
    return rc;
}
