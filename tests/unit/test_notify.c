/* Unit tests of run/notify: the sd_notify datagram. */
#include <sys/socket.h>
#include <sys/un.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/notify.h"

static int
bind_socket(const char *path, int abstract)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (abstract)
        sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
        0);
    return fd;
}

static void
test_unset(void **unused)
{
    (void)unused;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1"), AGENT_ERR_ABSENT);
}

static void
test_path_socket(void **unused)
{
    char path[64], got[64];
    ssize_t n;
    int fd;
    (void)unused;

    snprintf(path, sizeof(path), "/tmp/test_notify.%ld", (long)getpid());
    unlink(path);
    fd = bind_socket(path, 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("READY=1"), AGENT_OK);
    n = recv(fd, got, sizeof(got) - 1, 0);
    assert_int_equal(n, 7);
    got[n] = '\0';
    assert_string_equal(got, "READY=1");
    close(fd);
    unlink(path);
}

static void
test_abstract_socket(void **unused)
{
    char path[64], got[64];
    ssize_t n;
    int fd;
    (void)unused;

    snprintf(path, sizeof(path), "@test_notify.%ld", (long)getpid());
    fd = bind_socket(path, 1);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("STATUS=hello"), AGENT_OK);
    n = recv(fd, got, sizeof(got) - 1, 0);
    assert_true(n > 0);
    got[n] = '\0';
    assert_string_equal(got, "STATUS=hello");
    close(fd);
}

static void
test_bad_socket(void **unused)
{
    (void)unused;
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(notify_send("READY=1"), AGENT_ERR_IO);
    setenv("NOTIFY_SOCKET", "/nonexistent/dir/sock", 1);
    assert_int_equal(notify_send("READY=1"), AGENT_ERR_IO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_bad_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
