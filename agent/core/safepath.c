#include "core/safepath.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/str.h"

/* Links followed in one walk (Linux's own limit). */
#define SAFEPATH_MAX_LINKS 40

static int
trusted_uid(uid_t u)
{
    return u == 0 || u == geteuid();
}

static int
trusted_gid(gid_t g)
{
    return g == 0 || g == getegid();
}

static enum agent_rc say(enum agent_rc rc, char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum agent_rc
say(enum agent_rc rc, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (cap > 0) {
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/*
 * Who other than root and the agent may change the entries of folder st:
 * writes "user N", "group N" or "everyone" into who; 0 when nobody.
 */
static int
writable_by_others(const struct stat *st, char *who, size_t cap)
{
    if (!trusted_uid(st->st_uid)) {
        snprintf(who, cap, "user %u", (unsigned)st->st_uid);
        return 1;
    }
    if ((st->st_mode & S_IWOTH) != 0) {
        snprintf(who, cap, "everyone");
        return 1;
    }
    if ((st->st_mode & S_IWGRP) != 0 && !trusted_gid(st->st_gid)) {
        snprintf(who, cap, "group %u", (unsigned)st->st_gid);
        return 1;
    }
    return 0;
}

/* Cuts the last component off the absolute path dir ("/" stays "/"). */
static void
to_parent(char *dir)
{
    char *slash = strrchr(dir, '/');

    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
}

enum agent_rc
safepath_resolve(const char *path, char **real, char *why, size_t cap)
{
    char dir[PATH_MAX], rest[PATH_MAX], cand[PATH_MAX], target[PATH_MAX], who[32];
    struct stat dst, st;
    size_t links = 0;
    char *p;

    if (cap > 0)
        why[0] = '\0';
    if (path == NULL || path[0] != '/')
        return say(AGENT_ERR_INVAL, why, cap, "%s: not an absolute path", path ? path : "(none)");
    if (str_copy(rest, sizeof(rest), path) != AGENT_OK)
        return say(AGENT_ERR_INVAL, why, cap, "%s: path too long", path);
    (void)str_copy(dir, sizeof(dir), "/");
    if (lstat(dir, &dst) == -1)
        return say(AGENT_ERR_IO, why, cap, "/: %s", strerror(errno));
    if (!trusted_uid(dst.st_uid))
        return say(AGENT_ERR_INVAL, why, cap, "/ is owned by user %u", (unsigned)dst.st_uid);
    p = rest;
    for (;;) {
        char *name, *end;
        int last;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        name = p;
        end = strchr(p, '/');
        if (end != NULL) {
            *end = '\0';
            p = end + 1;
        } else {
            p += strlen(p);
        }
        while (*p == '/')
            p++;
        last = *p == '\0';
        if (strcmp(name, ".") == 0 && !last)
            continue;
        if (strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
            if (strcmp(name, "..") == 0)
                to_parent(dir);
            if (lstat(dir, &dst) == -1)
                return say(AGENT_ERR_IO, why, cap, "%s: %s", dir, strerror(errno));
            if (last)
                return say(AGENT_ERR_INVAL, why, cap, "%s: not a regular file", path);
            continue;
        }
        if (snprintf(cand, sizeof(cand), "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name) >=
            (int)sizeof(cand))
            return say(AGENT_ERR_INVAL, why, cap, "%s: path too long", path);
        if (lstat(cand, &st) == -1) {
            if (errno == ENOENT)
                return say(AGENT_ERR_ABSENT, why, cap, "%s does not exist", cand);
            return say(AGENT_ERR_IO, why, cap, "%s: %s", cand, strerror(errno));
        }
        if (!trusted_uid(st.st_uid))
            return say(AGENT_ERR_INVAL, why, cap, "%s is owned by user %u, not root", cand,
                       (unsigned)st.st_uid);
        if (S_ISLNK(st.st_mode)) {
            ssize_t n;

            if ((dst.st_mode & S_ISVTX) == 0 && writable_by_others(&dst, who, sizeof(who)))
                return say(AGENT_ERR_INVAL, why, cap,
                           "%s is a symbolic link in %s, which %s may write", cand, dir, who);
            if (++links > SAFEPATH_MAX_LINKS)
                return say(AGENT_ERR_INVAL, why, cap, "%s: too many symbolic links", path);
            n = readlink(cand, target, sizeof(target) - 1);
            if (n == -1)
                return say(AGENT_ERR_IO, why, cap, "%s: %s", cand, strerror(errno));
            target[n] = '\0';
            /* The link's target, then what was left of the path after it. */
            n = snprintf(cand, sizeof(cand), "%s/%s", target, p);
            if (n < 0 || (size_t)n >= sizeof(cand))
                return say(AGENT_ERR_INVAL, why, cap, "%s: path too long", path);
            (void)str_copy(rest, sizeof(rest), cand);
            p = rest;
            if (target[0] == '/') {
                (void)str_copy(dir, sizeof(dir), "/");
                if (lstat(dir, &dst) == -1)
                    return say(AGENT_ERR_IO, why, cap, "/: %s", strerror(errno));
            }
            continue;
        }
        if (!last) {
            if (!S_ISDIR(st.st_mode))
                return say(AGENT_ERR_INVAL, why, cap, "%s is not a folder", cand);
            (void)str_copy(dir, sizeof(dir), cand);
            dst = st;
            continue;
        }
        if (!S_ISREG(st.st_mode))
            return say(AGENT_ERR_INVAL, why, cap, "%s is not a regular file", cand);
        if (st.st_nlink > 1 && writable_by_others(&dst, who, sizeof(who)))
            return say(AGENT_ERR_INVAL, why, cap,
                       "%s has %lu hard links and sits in %s, which %s may write", cand,
                       (unsigned long)st.st_nlink, dir, who);
        *real = str_dup(cand);
        return *real != NULL ? AGENT_OK : AGENT_ERR_NOMEM;
    }
    return say(AGENT_ERR_INVAL, why, cap, "%s: not a regular file", path);
}
