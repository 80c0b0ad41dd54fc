/*
 * fixture: what several cmocka test files share: a temporary folder removed
 * with everything in it, and the agent's log captured in a file so a test
 * can read what was logged.  Header-only (static inline), included after
 * <cmocka.h> by the test files that use it.
 */
#ifndef TESTS_UNIT_FIXTURE_H
#define TESTS_UNIT_FIXTURE_H

#include <sys/stat.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

#endif
