/* Unit tests of core/fileio, inside a mkdtemp() folder. */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"

static char dir[64];
static int log_fd = -1;
static char log_text[8192];

static void
rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char sub[512];

    if (lstat(path, &st) == -1)
        return;
    if (S_ISDIR(st.st_mode)) {
        d = opendir(path);
        if (d != NULL) {
            for (e = readdir(d); e != NULL; e = readdir(d)) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int
setup(void **state)
{
    char lp[] = "/tmp/test_fileio_log.XXXXXX";

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_fileio.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    log_fd = mkstemp(lp);
    if (log_fd == -1)
        return -1;
    unlink(lp);
    log_init(0, LOG_FMT_TEXT);
    log_set_fd(log_fd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    log_set_fd(-1);
    close(log_fd);
    rm_rf(dir);
    return 0;
}

static const char *
logged(void)
{
    ssize_t n = pread(log_fd, log_text, sizeof(log_text) - 1, 0);

    assert_true(n >= 0);
    log_text[n] = '\0';
    assert_int_equal(ftruncate(log_fd, 0), 0);
    assert_true(lseek(log_fd, 0, SEEK_SET) == 0);
    return log_text;
}

static const char *
in_dir(const char *name)
{
    static char p[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd != -1);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int
count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void
test_read(void **state)
{
    struct buf b;

    (void)state;
    put_file(in_dir("f"), "hello\nworld\n", 0644);
    buf_init(&b, 100);
    assert_int_equal(fileio_read(in_dir("f"), &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "hello\nworld\n");
    buf_cleanup(&b);

    /* Exactly at the cap is fine, one byte under is TOOBIG and out unchanged. */
    buf_init(&b, 12);
    assert_int_equal(fileio_read(in_dir("f"), &b), AGENT_OK);
    buf_cleanup(&b);
    buf_init(&b, 13);
    assert_int_equal(buf_puts(&b, "pre"), AGENT_OK);
    assert_int_equal(fileio_read(in_dir("f"), &b), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "pre");
    assert_non_null(strstr(logged(), in_dir("f")));
    buf_cleanup(&b);

    /* Missing: ABSENT and nothing logged. */
    buf_init(&b, 100);
    assert_int_equal(fileio_read(in_dir("missing"), &b), AGENT_ERR_ABSENT);
    assert_string_equal(logged(), "");
    /* A folder: IO, logged with the path. */
    assert_int_equal(fileio_read(dir, &b), AGENT_ERR_IO);
    assert_non_null(strstr(logged(), dir));
    buf_cleanup(&b);
}

static void
test_read_large(void **state)
{
    struct buf b;
    char *big;
    size_t n = 100000, i;
    int fd;

    (void)state;
    big = malloc(n);
    assert_non_null(big);
    for (i = 0; i < n; i++)
        big[i] = (char)('a' + i % 23);
    fd = open(in_dir("big"), O_WRONLY | O_CREAT, 0600);
    assert_int_equal(write(fd, big, n), (ssize_t)n);
    close(fd);
    buf_init_secret(&b, n);
    assert_int_equal(fileio_read(in_dir("big"), &b), AGENT_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, big, n);
    buf_cleanup(&b);
    buf_init(&b, n - 1);
    assert_int_equal(fileio_read(in_dir("big"), &b), AGENT_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    free(big);
}

static void
test_write_new(void **state)
{
    struct stat st;
    struct buf b;
    mode_t old;

    (void)state;
    old = umask(077);
    assert_int_equal(fileio_write_atomic(in_dir("new"), "abc", 3, 0644, 0), AGENT_OK);
    umask(old);
    assert_int_equal(stat(in_dir("new"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644); /* umask not applied */
    buf_init(&b, 100);
    assert_int_equal(fileio_read(in_dir("new"), &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "abc");
    buf_cleanup(&b);
    assert_int_equal(count_entries(), 1); /* no temporary file left */

    /* KEEP_MODE on a new file uses mode. */
    assert_int_equal(fileio_write_atomic(in_dir("new2"), "", 0, 0600, FILEIO_KEEP_MODE), AGENT_OK);
    assert_int_equal(stat(in_dir("new2"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 0);
    assert_string_equal(logged(), "");
}

static void
test_write_keeps_mode_owner(void **state)
{
    struct stat before, after;
    struct buf b;

    (void)state;
    put_file(in_dir("p"), "old", 0604);
    if (geteuid() == 0)
        assert_int_equal(chown(in_dir("p"), 1234, 5678), 0);
    assert_int_equal(stat(in_dir("p"), &before), 0);
    assert_int_equal(fileio_write_atomic(in_dir("p"), "new content", 11, 0600, FILEIO_KEEP_MODE),
                     AGENT_OK);
    assert_int_equal(stat(in_dir("p"), &after), 0);
    assert_int_equal(after.st_mode & 07777, 0604);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(after.st_gid, before.st_gid);
    assert_true(after.st_ino != before.st_ino); /* replaced, not rewritten in place */
    buf_init(&b, 100);
    assert_int_equal(fileio_read(in_dir("p"), &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "new content");
    buf_cleanup(&b);

    /* Without KEEP_MODE the given mode wins. */
    assert_int_equal(fileio_write_atomic(in_dir("p"), "x", 1, 0640, 0), AGENT_OK);
    assert_int_equal(stat(in_dir("p"), &after), 0);
    assert_int_equal(after.st_mode & 07777, 0640);
    assert_int_equal(count_entries(), 1);
}

static void
test_write_owner(void **state)
{
    struct stat st;

    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(fileio_write_atomic_owner(in_dir("ks"), "k", 1, 0640, 4321, (gid_t)-1),
                     AGENT_OK);
    assert_int_equal(stat(in_dir("ks"), &st), 0);
    assert_int_equal(st.st_uid, 4321);
    assert_int_equal(st.st_gid, getegid());
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(fileio_write_atomic_owner(in_dir("ks"), "k2", 2, 0600, (uid_t)-1, 99),
                     AGENT_OK);
    assert_int_equal(stat(in_dir("ks"), &st), 0);
    assert_int_equal(st.st_uid, 4321); /* -1 keeps the replaced file's owner */
    assert_int_equal(st.st_gid, 99);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_write_failure(void **state)
{
    struct stat st;
    const char *s;

    (void)state;
    /* The parent folder does not exist. */
    assert_int_equal(fileio_write_atomic(in_dir("nodir/f"), "x", 1, 0600, 0), AGENT_ERR_IO);
    s = logged();
    assert_non_null(strstr(s, in_dir("nodir/f")));
    assert_int_equal(count_entries(), 0);

    /* A folder where the file should be: rename fails, folder intact, temp removed. */
    assert_int_equal(mkdir(in_dir("d"), 0755), 0);
    put_file(in_dir("d/inner"), "keep", 0600);
    assert_int_equal(fileio_write_atomic(in_dir("d"), "x", 1, 0600, 0), AGENT_ERR_IO);
    assert_non_null(strstr(logged(), in_dir("d")));
    assert_int_equal(stat(in_dir("d"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(stat(in_dir("d/inner"), &st), 0);
    assert_int_equal(count_entries(), 1);

    /* QUIET: same failure, nothing logged. */
    assert_int_equal(fileio_write_atomic(in_dir("d"), "x", 1, 0600, FILEIO_QUIET), AGENT_ERR_IO);
    assert_string_equal(logged(), "");
    assert_int_equal(count_entries(), 1);

    /* Bad arguments. */
    assert_int_equal(fileio_write_atomic("", "x", 1, 0600, FILEIO_QUIET), AGENT_ERR_INVAL);
    assert_int_equal(fileio_write_atomic(in_dir("x/"), "x", 1, 0600, FILEIO_QUIET),
                     AGENT_ERR_INVAL);
}

static void
test_failure_keeps_original(void **state)
{
    struct buf b;

    (void)state;
    /* A file in place of the folder makes the write fail; the original stays. */
    put_file(in_dir("orig"), "original", 0600);
    assert_int_equal(fileio_write_atomic(in_dir("orig/sub"), "x", 1, 0600, FILEIO_QUIET),
                     AGENT_ERR_IO);
    buf_init(&b, 100);
    assert_int_equal(fileio_read(in_dir("orig"), &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "original");
    buf_cleanup(&b);
}

static void
test_same_content(void **state)
{
    (void)state;
    put_file(in_dir("s"), "same", 0600);
    assert_true(fileio_same_content(in_dir("s"), "same", 4));
    assert_false(fileio_same_content(in_dir("s"), "sama", 4));
    assert_false(fileio_same_content(in_dir("s"), "same!", 5));
    assert_false(fileio_same_content(in_dir("s"), "sam", 3));
    assert_false(fileio_same_content(in_dir("none"), "", 0));
    put_file(in_dir("e"), "", 0600);
    assert_true(fileio_same_content(in_dir("e"), "", 0));
    assert_false(fileio_same_content(dir, "", 0));
}

static void
test_read_private(void **state)
{
    struct buf b;
    const char *s;

    (void)state;
    buf_init_secret(&b, 100);
    put_file(in_dir("ok"), "secret", 0600);
    assert_int_equal(fileio_read_private(in_dir("ok"), (gid_t)-1, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "secret");
    buf_reset(&b);
    put_file(in_dir("ro"), "r", 0644);
    assert_int_equal(fileio_read_private(in_dir("ro"), (gid_t)-1, &b), AGENT_OK);
    buf_reset(&b);

    put_file(in_dir("ww"), "w", 0666);
    assert_int_equal(fileio_read_private(in_dir("ww"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    s = logged();
    assert_non_null(strstr(s, in_dir("ww")));
    assert_non_null(strstr(s, "group- or world-writable"));
    assert_int_equal(b.len, 0);

    put_file(in_dir("gw"), "g", 0620);
    assert_int_equal(fileio_read_private(in_dir("gw"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    s = logged();
    assert_non_null(strstr(s, in_dir("gw")));
    assert_non_null(strstr(s, "group- or world-writable"));

    assert_int_equal(symlink(in_dir("ok"), in_dir("link")), 0);
    assert_int_equal(fileio_read_private(in_dir("link"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    assert_non_null(strstr(logged(), in_dir("link")));

    assert_int_equal(fileio_read_private(dir, (gid_t)-1, &b), AGENT_ERR_INVAL);
    assert_non_null(strstr(logged(), dir));

    assert_int_equal(mkfifo(in_dir("fifo"), 0600), 0);
    assert_int_equal(fileio_read_private(in_dir("fifo"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    logged();

    assert_int_equal(fileio_read_private(in_dir("none"), (gid_t)-1, &b), AGENT_ERR_ABSENT);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

/* Issue 9 item 2: a file: secret owned by another user, or under a folder another user owns. */
static void
test_read_private_owner(void **state)
{
    struct buf b;
    const char *s;

    (void)state;
    if (geteuid() != 0)
        skip();
    buf_init_secret(&b, 100);
    put_file(in_dir("theirs"), "their secret", 0600);
    assert_int_equal(chown(in_dir("theirs"), 65534, 65534), 0);
    assert_int_equal(fileio_read_private(in_dir("theirs"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    s = logged();
    assert_non_null(strstr(s, in_dir("theirs")));
    assert_non_null(strstr(s, "owned by user 65534"));
    assert_int_equal(b.len, 0);

    assert_int_equal(mkdir(in_dir("sub"), 0755), 0);
    put_file(in_dir("sub/mine"), "root secret", 0600);
    assert_int_equal(fileio_read_private(in_dir("sub/mine"), (gid_t)-1, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "root secret");
    buf_reset(&b);
    assert_int_equal(chown(in_dir("sub"), 65534, 65534), 0);
    assert_int_equal(fileio_read_private(in_dir("sub/mine"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    s = logged();
    assert_non_null(strstr(s, "sub is owned by user 65534"));
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

/*
 * Issue 9 item 2: a file: secret that a group other than root's, the
 * agent's or the WCS group may read (/etc/shadow is root:shadow 0640)
 * belongs to that group's service and is refused; group root, the WCS group,
 * no group read, or read by everyone (nothing secret then) is accepted.
 */
static void
test_read_private_group(void **state)
{
    const gid_t other = 65534, wcs = 4242;
    struct buf b;
    const char *s;

    (void)state;
    if (geteuid() != 0 || getegid() == other || getegid() == wcs)
        skip();
    buf_init_secret(&b, 100);
    put_file(in_dir("shadow"), "root:$6$hash", 0640);
    assert_int_equal(chown(in_dir("shadow"), 0, other), 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), (gid_t)-1, &b), AGENT_ERR_INVAL);
    s = logged();
    assert_non_null(strstr(s, in_dir("shadow")));
    assert_non_null(strstr(s, "(65534) may read it (mode 0640)"));
    assert_int_equal(b.len, 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), wcs, &b), AGENT_ERR_INVAL);
    logged();
    assert_int_equal(b.len, 0);
    /* The same group named as the WCS group. */
    assert_int_equal(fileio_read_private(in_dir("shadow"), other, &b), AGENT_OK);
    assert_string_equal(buf_cstr(&b), "root:$6$hash");
    buf_reset(&b);
    /* Group root, and the WCS group. */
    assert_int_equal(chown(in_dir("shadow"), 0, 0), 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), (gid_t)-1, &b), AGENT_OK);
    buf_reset(&b);
    assert_int_equal(chown(in_dir("shadow"), 0, wcs), 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), wcs, &b), AGENT_OK);
    buf_reset(&b);
    /* Another group without read, or a file everyone may read. */
    assert_int_equal(chown(in_dir("shadow"), 0, other), 0);
    assert_int_equal(chmod(in_dir("shadow"), 0600), 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), (gid_t)-1, &b), AGENT_OK);
    buf_reset(&b);
    assert_int_equal(chmod(in_dir("shadow"), 0644), 0);
    assert_int_equal(fileio_read_private(in_dir("shadow"), (gid_t)-1, &b), AGENT_OK);
    buf_cleanup(&b);
}

static void
test_mkdir_p(void **state)
{
    struct stat st;
    mode_t old;

    (void)state;
    old = umask(077);
    assert_int_equal(fileio_mkdir_p(in_dir("a/b//c/"), 0750), AGENT_OK);
    umask(old);
    assert_int_equal(stat(in_dir("a/b/c"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(stat(in_dir("a"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    /* Existing folders are fine and keep their mode. */
    assert_int_equal(chmod(in_dir("a"), 0700), 0);
    assert_int_equal(fileio_mkdir_p(in_dir("a/b/c"), 0755), AGENT_OK);
    assert_int_equal(stat(in_dir("a"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Through a file: IO, logged. */
    put_file(in_dir("file"), "x", 0600);
    assert_int_equal(fileio_mkdir_p(in_dir("file/sub"), 0755), AGENT_ERR_IO);
    assert_non_null(strstr(logged(), in_dir("file")));
    assert_int_equal(fileio_mkdir_p(in_dir("file"), 0755), AGENT_ERR_IO);
    logged();
    assert_int_equal(fileio_mkdir_p("", 0755), AGENT_ERR_INVAL);
    logged();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_keeps_mode_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_keeps_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_private_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_private_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
