/*
 * fixture: what several cmocka test files share: a temporary folder removed
 * with everything in it, and the agent's log captured in a file so a test
 * can read what was logged; small file helpers.  Header-only (static inline), included after
 * <cmocka.h> by the test files that use it.
 */
#ifndef TESTS_UNIT_FIXTURE_H
#define TESTS_UNIT_FIXTURE_H

#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"

static char fx_dir[256];
static int fx_log_fd = -1;

static inline int
fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Creates /tmp/<name>.XXXXXX and sends the log (at verbosity) to a temporary file. */
static inline int
fx_setup(const char *name, int verbosity)
{
    char lp[256];

    snprintf(fx_dir, sizeof(fx_dir), "/tmp/%s.XXXXXX", name);
    if (mkdtemp(fx_dir) == NULL)
        return -1;
    snprintf(lp, sizeof(lp), "/tmp/%s_log.XXXXXX", name);
    fx_log_fd = mkstemp(lp);
    if (fx_log_fd == -1)
        return -1;
    unlink(lp);
    log_init(verbosity, LOG_FMT_TEXT);
    log_set_fd(fx_log_fd);
    return 0;
}

/* Restores the log and removes the folder with everything in it. */
static inline void
fx_teardown(void)
{
    log_set_fd(-1);
    close(fx_log_fd);
    fx_log_fd = -1;
    nftw(fx_dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What was logged since the last call (and forgets it). */
static inline const char *
fx_logged(void)
{
    static char text[65536];
    ssize_t n = pread(fx_log_fd, text, sizeof(text) - 1, 0);

    assert_true(n >= 0);
    text[n] = '\0';
    assert_int_equal(ftruncate(fx_log_fd, 0), 0);
    assert_true(lseek(fx_log_fd, 0, SEEK_SET) == 0);
    return text;
}

/* fx_dir/name (four results may be in use at once). */
static inline const char *
fx_path(const char *name)
{
    static char p[4][512];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", fx_dir, name);
    return p[i];
}

static inline void
fx_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* The file's bytes (a static buffer, reused by the next call), or NULL when it does not exist. */
static inline const char *
fx_read_text(const char *path)
{
    static struct buf b;

    buf_cleanup(&b);
    buf_init(&b, 8u * 1024u * 1024u);
    if (fileio_read(path, &b) == AGENT_ERR_ABSENT)
        return NULL;
    return buf_cstr(&b);
}

static inline void
fx_assert_text(const char *got, const char *want)
{
    if (got == NULL)
        fail_msg("no file, wanted:\n%s", want);
    if (strcmp(got, want) != 0)
        fail_msg("--- got ---\n%s\n--- want ---\n%s\n", got, want);
}

/* The diff with "PATH" standing for the file's path without its leading '/'. */
static inline void
fx_assert_diff(const struct buf *diff, const char *tmpl, const char *path)
{
    struct buf want;
    const char *p;

    buf_init(&want, 1u << 20);
    while (*path == '/')
        path++;
    for (p = tmpl; *p != '\0';) {
        if (strncmp(p, "PATH", 4) == 0) {
            buf_puts(&want, path);
            p += 4;
        } else {
            buf_putc(&want, *p++);
        }
    }
    fx_assert_text(buf_cstr(diff), buf_cstr(&want));
    buf_cleanup(&want);
}

#endif
