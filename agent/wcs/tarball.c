#include "wcs/tarball.h"

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
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"

/* The longest name this module handles. */
#define TARBALL_PATH_MAX 4096

/* ---------------------------------------------------------------- listing */

/* One entry of the tar listing. */
struct entry {
    char type;               /* '-', 'd', 'l', 'h' */
    int exec;                /* the owner's x bit */
    char *raw;               /* the stored name, unquoted */
    char *norm;              /* the name without "./", "//" and a trailing "/" ("" for the root) */
    char *target;            /* the link target (l, h), unquoted */
    unsigned long long size; /* bytes a regular file unpacks to */
};

struct listing {
    struct entry *v;
    size_t n, cap;
    unsigned long long bytes; /* the regular files' sizes added up (saturating) */
    char **links;             /* sorted norm names of the symlinks */
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
    buf_init(&b, TARBALL_PATH_MAX);
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

char *
tarball_normalize(const char *name, int *dotdot)
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
    char tmp[TARBALL_PATH_MAX];
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
    char path[TARBALL_PATH_MAX];
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

/*
 * The size field of a listing line, from p (after the mode) to end (the
 * name's quote): "UID/GID SIZE DATE TIME ".  0 when it is not there.
 */
static int
parse_size(const char *p, const char *end, unsigned long long *out)
{
    unsigned long long v = 0;
    int digits = 0;

    while (p < end && *p != ' ') /* the owner */
        p++;
    while (p < end && *p == ' ')
        p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (ULLONG_MAX - 9) / 10)
            return 0;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    if (digits == 0 || p >= end || *p != ' ')
        return 0;
    *out = v;
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
    if (e->type == '-' && !parse_size(line + 11, p, &e->size)) {
        set_reason(reason, cap, "not a GNU tar listing line: %.80s", line);
        return AGENT_ERR_PARSE;
    }
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
    l->bytes = e->size > ULLONG_MAX - l->bytes ? ULLONG_MAX : l->bytes + e->size;
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

            t = tarball_normalize(e->target, &dd);
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
find_layout(const struct listing *l, struct tarball_layout *out, char *reason, size_t cap)
{
    static const char *const version_at[] = {"WCS.version", "conf/WCS.version",
                                             "server/conf/WCS.version"};
    char top[TARBALL_PATH_MAX], name[TARBALL_PATH_MAX];
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
    out->bytes = l->bytes;
    if (out->top == NULL || out->install_member == NULL || out->version_member == NULL) {
        tarball_layout_free(out);
        return AGENT_ERR_NOMEM;
    }
    return AGENT_OK;
}

enum agent_rc
tarball_check_listing(const char *text, size_t len, struct tarball_layout *out, char *reason,
                      size_t cap)
{
    struct listing l;
    struct tarball_layout lay;
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
                e.norm = tarball_normalize(e.raw, &dd);
                if (e.norm == NULL) {
                    rc = AGENT_ERR_NOMEM;
                } else if (dd) {
                    set_reason(reason, cap, "'..' in a tarball path: %.120s", e.raw);
                    rc = AGENT_ERR_INVAL;
                } else if (strlen(e.raw) >= TARBALL_PATH_MAX) {
                    set_reason(reason, cap, "path longer than %d bytes in the tarball",
                               TARBALL_PATH_MAX - 1);
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
tarball_layout_free(struct tarball_layout *l)
{
    if (l == NULL)
        return;
    free(l->top);
    free(l->install_member);
    free(l->version_member);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------- tar runs */

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
    so.timeout_ms = deadline_cap_ms(dl, TARBALL_TAR_TIMEOUT_MS);
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
        spawn_last_line(&r->output, line, sizeof(line));
        if (r->exited)
            snprintf(why, cap, "tar exit status %d: %s", r->exit_code, line);
        else
            snprintf(why, cap, "tar killed by signal %d", r->signal);
        log_errx("update: cannot unpack the tarball: %s", why);
        return AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

enum agent_rc
tarball_inspect(const char *tarball, const struct deadline *dl, struct tarball_layout *lay,
                char *detail, size_t cap)
{
    const char *argv[] = {
        "tar",    "--list",        "--verbose", "--numeric-owner", "--quoting-style=c",
        "--gzip", "--force-local", "--file",    tarball,           NULL};
    struct spawn_result r;
    char why[256];
    enum agent_rc rc;

    memset(&r, 0, sizeof(r));
    rc = run_tar(argv, dl, TARBALL_LISTING_MAX, &r, why, sizeof(why));
    if (rc != AGENT_OK) {
        snprintf(detail, cap, "cannot read the tarball: %s", why);
        goto out;
    }
    if (r.truncated) {
        log_errx("update: the tarball's listing is over %u bytes", TARBALL_LISTING_MAX);
        snprintf(detail, cap, "the tarball lists too many entries");
        rc = AGENT_ERR_TOOBIG;
        goto out;
    }
    rc = tarball_check_listing(r.output.data != NULL ? r.output.data : "", r.output.len, lay, why,
                               sizeof(why));
    if (rc != AGENT_OK) {
        if (rc == AGENT_ERR_NOMEM)
            snprintf(why, sizeof(why), "out of memory");
        log_errx("update: tarball refused: %s", why);
        snprintf(detail, cap, "tarball refused: %s", why);
        goto out;
    }
    log_debug("update: the tarball holds %zu entries, top folder '%s'", lay->entries, lay->top);
out:
    spawn_result_cleanup(&r);
    return rc;
}

/*
 * Clears the setuid and setgid bits of everything under the folder name
 * (in the folder parent), and the sticky bit of what is not a folder;
 * symlinks are not followed.  The tree is the agent's own (a 0700 folder
 * that tar has finished with), so nothing changes under the walk.  0 when
 * a mode could not be read or changed.
 */
static int
strip_special_at(int parent, const char *name, int depth)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    mode_t mode, want;
    int fd, ok = 1;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return 0;
    if (S_ISLNK(st.st_mode))
        return 1;
    mode = st.st_mode & 07777;
    want = mode & ~(mode_t)(S_ISUID | S_ISGID);
    if (!S_ISDIR(st.st_mode))
        want &= ~(mode_t)S_ISVTX;
    if (want != mode && fchmodat(parent, name, want, 0) == -1)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return 1;
    if (depth > 256)
        return 0;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return 0;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return 0;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                ok = 0;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!strip_special_at(dirfd(d), e->d_name, depth + 1))
            ok = 0;
    }
    closedir(d);
    return ok;
}

enum agent_rc
tarball_extract(const char *tarball, const char *dir, const char *member, const struct deadline *dl,
                char *detail, size_t cap)
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
        snprintf(detail, cap, "cannot unpack the tarball: %s", why);
    spawn_result_cleanup(&r);
    /*
     * Root's tar keeps setuid and setgid bits, and --no-same-owner makes
     * such a file root's: the tarball must not hand out privileges.
     */
    if (rc == AGENT_OK && !strip_special_at(AT_FDCWD, dir, 0)) {
        log_err("update: cannot clear the setuid and setgid bits under %s", dir);
        snprintf(detail, cap, "cannot clear the setuid and setgid bits of the unpacked tarball");
        rc = AGENT_ERR_IO;
    }
    return rc;
}
