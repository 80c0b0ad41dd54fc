/*
 * Unit tests of core/safepath: which paths a root process may trust (issue 9
 * item 2).  Ownership cases need root to chown; they are skipped otherwise.
 */
/* nftw() */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/safepath.h"
#include "fixture.h"

static char pb[8][1024];
static int pi;

/* fx_dir/rel in one of eight rotating buffers. */
static const char *
at(const char *rel)
{
    char *p = pb[pi++ % 8];

    snprintf(p, sizeof(pb[0]), "%s/%s", fx_dir, rel);
    return p;
}

static void
touch(const char *path, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("x\n", f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_safepath", 0);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

/* Resolves path: the rc, and *real (freed by the caller) on success. */
static enum agent_rc
resolve(const char *path, char **real, char *why)
{
    *real = NULL;
    return safepath_resolve(path, real, why, 512);
}

static void
test_plain_and_links(void **state)
{
    char why[512], *real;

    (void)state;
    touch(at("file"), 0644);
    assert_int_equal(resolve(at("file"), &real, why), AGENT_OK);
    assert_string_equal(real, at("file"));
    free(real);

    /* A root-owned link in a root-only folder: the install symlink case. */
    assert_int_equal(mkdir(at("Server-5.2.1"), 0755), 0);
    assert_int_equal(mkdir(at("Server-5.2.1/conf"), 0755), 0);
    touch(at("Server-5.2.1/conf/p"), 0664);
    assert_int_equal(symlink("Server-5.2.1", at("Server")), 0);
    assert_int_equal(resolve(at("Server/conf/p"), &real, why), AGENT_OK);
    assert_string_equal(real, at("Server-5.2.1/conf/p"));
    free(real);
    /* An absolute target, "." and "..", repeated slashes. */
    assert_int_equal(symlink(at("Server-5.2.1/conf"), at("abs")), 0);
    assert_int_equal(resolve(at("abs/../conf/./p"), &real, why), AGENT_OK);
    assert_string_equal(real, at("Server-5.2.1/conf/p"));
    free(real);
    assert_int_equal(resolve(at("Server//conf/p"), &real, why), AGENT_OK);
    free(real);

    /* Absent, dangling, a loop, a folder, a relative path. */
    assert_int_equal(resolve(at("none"), &real, why), AGENT_ERR_ABSENT);
    assert_non_null(strstr(why, "none does not exist"));
    assert_int_equal(symlink("gone", at("dangling")), 0);
    assert_int_equal(resolve(at("dangling"), &real, why), AGENT_ERR_ABSENT);
    assert_int_equal(symlink("loop", at("loop")), 0);
    assert_int_equal(resolve(at("loop"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "too many symbolic links"));
    assert_int_equal(resolve(at("Server"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "not a regular file"));
    assert_int_equal(resolve(at("file/x"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "not a folder"));
    assert_int_equal(resolve("relative/path", &real, why), AGENT_ERR_INVAL);
    assert_null(real);
}

static void
test_ownership(void **state)
{
    char why[512], *real;

    (void)state;
    if (geteuid() != 0)
        skip();
    /* A group-writable folder of a group other than root's: files fine, links not. */
    assert_int_equal(mkdir(at("conf"), 0775), 0);
    assert_int_equal(chown(at("conf"), 0, 4242), 0);
    assert_int_equal(chmod(at("conf"), 0775), 0);
    touch(at("conf/p"), 0664);
    touch(at("target"), 0600);
    assert_int_equal(resolve(at("conf/p"), &real, why), AGENT_OK);
    free(real);
    assert_int_equal(symlink(at("target"), at("conf/l")), 0);
    assert_int_equal(resolve(at("conf/l"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "conf/l is a symbolic link in"));
    assert_non_null(strstr(why, "which group 4242 may write"));
    /* A link higher up, through the group-writable folder. */
    assert_int_equal(mkdir(at("conf/sub"), 0755), 0);
    touch(at("conf/sub/f"), 0644);
    assert_int_equal(symlink("sub", at("conf/lsub")), 0);
    assert_int_equal(resolve(at("conf/lsub/f"), &real, why), AGENT_ERR_INVAL);
    assert_int_equal(resolve(at("conf/sub/f"), &real, why), AGENT_OK);
    free(real);
    /* Group root may write: trusted. */
    assert_int_equal(chown(at("conf"), 0, 0), 0);
    assert_int_equal(resolve(at("conf/l"), &real, why), AGENT_OK);
    assert_string_equal(real, at("target"));
    free(real);

    /* World-writable: a link only with the sticky bit (the link's owner is then the only one). */
    assert_int_equal(chmod(at("conf"), 0777), 0);
    assert_int_equal(resolve(at("conf/l"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "which everyone may write"));
    assert_int_equal(chmod(at("conf"), 01777), 0);
    assert_int_equal(resolve(at("conf/l"), &real, why), AGENT_OK);
    free(real);
    assert_int_equal(chmod(at("conf"), 0755), 0);

    /* Owned by another user: a file, a link, a folder on the way. */
    assert_int_equal(chown(at("conf/p"), 65534, 0), 0);
    assert_int_equal(resolve(at("conf/p"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "conf/p is owned by user 65534, not root"));
    assert_int_equal(lchown(at("conf/l"), 65534, 0), 0);
    assert_int_equal(resolve(at("conf/l"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "owned by user 65534"));
    assert_int_equal(chown(at("conf"), 65534, 0), 0);
    assert_int_equal(resolve(at("conf/sub/f"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "conf is owned by user 65534"));
    assert_int_equal(chown(at("conf"), 0, 0), 0);

    /* A hard link in a folder others may write; the same file alone is fine. */
    assert_int_equal(chown(at("conf"), 0, 4242), 0);
    assert_int_equal(chmod(at("conf"), 0775), 0);
    assert_int_equal(link(at("target"), at("conf/hard")), 0);
    assert_int_equal(resolve(at("conf/hard"), &real, why), AGENT_ERR_INVAL);
    assert_non_null(strstr(why, "2 hard links"));
    assert_int_equal(unlink(at("target")), 0);
    assert_int_equal(resolve(at("conf/hard"), &real, why), AGENT_OK);
    free(real);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_and_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ownership, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
