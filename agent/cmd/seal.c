#include "cmd/seal.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "config/placeholders.h"
#include "core/log.h"
#include "core/safepath.h"
#include "core/str.h"
#include "node/discover.h"
#include "node/state.h"

static const char usage[] =
    "usage: wcs-agent seal\n"
    "prepare the instance for Create Image\n"
    "\n"
    "options:\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 sealed, 1 something could not be removed, 64 usage error, 78 configuration error\n";

/* Removes a tree below dfd/name without following symbolic links. */
static enum agent_rc
remove_tree(int dfd, const char *name, const char *shown)
{
    struct stat sb;
    enum agent_rc rc = AGENT_OK;
    DIR *dir;
    struct dirent *e;
    int fd;

    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? AGENT_OK : AGENT_ERR_IO;
    if (!S_ISDIR(sb.st_mode)) {
        if (unlinkat(dfd, name, 0) != 0) {
            log_err("seal: remove %s", shown);
            return AGENT_ERR_IO;
        }
        return AGENT_OK;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        log_err("seal: open %s", shown);
        return AGENT_ERR_IO;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        log_err("seal: read %s", shown);
        close(fd);
        return AGENT_ERR_IO;
    }
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (remove_tree(dirfd(dir), e->d_name, shown) != AGENT_OK)
            rc = AGENT_ERR_IO;
    }
    closedir(dir);
    if (rc == AGENT_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0) {
        log_err("seal: remove %s", shown);
        rc = AGENT_ERR_IO;
    }
    return rc;
}

/* Removes dir/name when present and reports it. */
static enum agent_rc
seal_one(int dfd, const char *dir, const char *name, int *n_removed)
{
    char shown[4096];
    struct stat sb;
    enum agent_rc rc;

    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return AGENT_OK;
    snprintf(shown, sizeof(shown), "%s/%s%s", dir, name, S_ISDIR(sb.st_mode) ? "/" : "");
    rc = remove_tree(dfd, name, shown);
    if (rc == AGENT_OK) {
        printf("removed %s\n", shown);
        (*n_removed)++;
    }
    return rc;
}

/*
 * Removes the file at path (a file the agent rendered or backed up) when
 * present, saying what it was.  A path that someone other than root could
 * have redirected is left alone (core/safepath) and reported.
 */
static enum agent_rc
seal_file(const char *path, const char *what, int *n_removed)
{
    char why[512], *real = NULL;
    enum agent_rc rc;

    rc = safepath_resolve(path, &real, why, sizeof(why));
    if (rc == AGENT_ERR_ABSENT)
        return AGENT_OK;
    if (rc != AGENT_OK) {
        log_errx("seal: %s: not removed: %s", path, why);
        return rc;
    }
    if (unlink(real) != 0) {
        log_err("seal: remove %s", real);
        free(real);
        return AGENT_ERR_IO;
    }
    printf("removed %s (%s)\n", real, what);
    (*n_removed)++;
    free(real);
    return AGENT_OK;
}

/* cfg's value with {wcs_home} and {service} expanded into out (other placeholders: an error). */
static enum agent_rc
expand_home(const struct agent_config *cfg, const char *value, char *out, size_t cap)
{
    struct config_facts none;
    struct buf b;
    char err[256];
    enum agent_rc rc;

    memset(&none, 0, sizeof(none));
    buf_init(&b, cap - 1);
    rc = placeholders_expand(value, &none, cfg->wcs.home, cfg->wcs.service, &b, err, sizeof(err));
    if (rc == AGENT_OK)
        rc = str_copy(out, cap, buf_cstr(&b));
    else
        log_errx("seal: %s: %s", value, err);
    buf_cleanup(&b);
    return rc;
}

/*
 * What the agent wrote into the WCS tree that an image must not carry: the
 * keystore it built from the tls.* secrets (the next run builds it again),
 * and the .bak copies configure left beside the files it edited.
 */
static enum agent_rc
seal_wcs_files(const struct agent_config *cfg, int *n_removed)
{
    static const char *const baks[] = {"conf/flashphoner.properties.bak",
                                       "conf/wcs-core.properties.bak"};
    char path[4096];
    enum agent_rc rc = AGENT_OK, rc2;
    size_t i;

    for (i = 0; i < sizeof(baks) / sizeof(baks[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", cfg->wcs.home, baks[i]) >= (int)sizeof(path))
            continue;
        rc2 = seal_file(path, "a backup written by configure", n_removed);
        rc = rc != AGENT_OK ? rc : rc2;
    }
    if (cfg->tls.certificate != NULL || cfg->tls.private_key != NULL) {
        rc2 = expand_home(cfg, cfg->tls.keystore, path, sizeof(path));
        if (rc2 == AGENT_OK)
            rc2 = seal_file(path, "the keystore built from the tls.* secrets", n_removed);
        rc = rc != AGENT_OK ? rc : rc2;
    }
    return rc;
}

static enum agent_rc
seal_command(const struct run_env *env)
{
    struct agent_config *cfg = NULL;
    char dir[4096];
    enum agent_rc rc, rc2;
    DIR *d = NULL;
    struct dirent *e;
    int lock_fd = -1, dfd = -1, n_removed = 0, had_lock;
    struct stat sb;

    rc = discover_load_config(env, NULL, &cfg);
    if (rc != AGENT_OK)
        return rc;
    rc = str_copy(dir, sizeof(dir), env->state_dir != NULL ? env->state_dir : cfg->agent.state_dir);
    if (rc != AGENT_OK) {
        config_free(cfg);
        return rc;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd == -1) {
        if (errno != ENOENT) {
            log_err("seal: open %s", dir);
            config_free(cfg);
            return AGENT_ERR_IO;
        }
        rc = seal_wcs_files(cfg, &n_removed);
        if (rc == AGENT_OK && n_removed == 0)
            printf("nothing to remove (%s does not exist)\n", dir);
        fflush(stdout);
        config_free(cfg);
        return rc;
    }
    /* Holding the lock keeps a run from starting while its files go away. */
    had_lock = fstatat(dfd, STATE_LOCK, &sb, AT_SYMLINK_NOFOLLOW) == 0;
    rc = state_lock(dir, &lock_fd);
    if (rc != AGENT_OK)
        goto out;
    rc = seal_one(dfd, dir, STATE_FILE, &n_removed);
    rc2 = seal_one(dfd, dir, STATE_FILE ".previous", &n_removed);
    rc = rc != AGENT_OK ? rc : rc2;
    rc2 = seal_one(dfd, dir, "download", &n_removed);
    rc = rc != AGENT_OK ? rc : rc2;
    rc2 = seal_wcs_files(cfg, &n_removed);
    rc = rc != AGENT_OK ? rc : rc2;
    /* Temporary files of interrupted atomic writes: ".<name>.XXXXXX". */
    d = opendir(dir);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rc2 = seal_one(dfd, dir, e->d_name, &n_removed);
            rc = rc != AGENT_OK ? rc : rc2;
        }
    }
    if (d != NULL)
        closedir(d);
    /* The lock file goes last; one that only this command created is not reported. */
    if (rc == AGENT_OK && had_lock) {
        rc = seal_one(dfd, dir, STATE_LOCK, &n_removed);
    } else if (rc == AGENT_OK && unlinkat(dfd, STATE_LOCK, 0) != 0) {
        log_err("seal: remove %s/%s", dir, STATE_LOCK);
        rc = AGENT_ERR_IO;
    }
    if (rc == AGENT_OK && n_removed == 0)
        printf("nothing to remove in %s\n", dir);
out:
    fflush(stdout);
    config_free(cfg);
    if (lock_fd != -1)
        close(lock_fd);
    close(dfd);
    return rc;
}

int
cmd_seal(const struct run_env *env, int argc, char **argv)
{
    int status = cmd_no_options(argc, argv, usage);

    if (status != 0)
        return status < 0 ? 0 : status;
    return agent_rc_exit_status(seal_command(env));
}
