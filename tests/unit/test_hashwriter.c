/*
 * Tests of core/hashwriter: the bytes written and the digest equal those of
 * the stream, whatever the sizes of the pieces; a prefix absorbed counts in
 * the digest and is not written; a write failure is returned (with its
 * errno) and the stream after it dropped; reset starts a new hash.
 */
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
#include "core/hashwriter.h"
#include "core/rc.h"
#include "core/str.h"

static char path[64];

static int
setup(void **state)
{
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/test_hashwriter.XXXXXX");
    fd = mkstemp(path);
    if (fd == -1)
        return -1;
    close(fd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* len bytes of a fixed pseudo-random stream. */
static unsigned char *
stream(size_t len)
{
    unsigned char *p = malloc(len);
    uint32_t x = 2463534242u;
    size_t i;

    assert_non_null(p);
    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* Writes data in pieces of the sizes in sizes[] (cycled) and checks the file and the digest. */
static void
write_in_pieces(const unsigned char *data, size_t len, const size_t *sizes, size_t nsizes)
{
    struct hashwriter *w = hashwriter_new();
    char got[65], want[65];
    struct buf b;
    size_t off = 0, k, i = 0;
    int fd;

    assert_non_null(w);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(hashwriter_reset(w), AGENT_OK);
    hashwriter_set_fd(w, fd);
    while (off < len) {
        k = sizes[i++ % nsizes];
        if (k > len - off)
            k = len - off;
        assert_int_equal(hashwriter_write(w, data + off, k), AGENT_OK);
        off += k;
    }
    assert_int_equal(hashwriter_drain(w), AGENT_OK);
    hashwriter_digest(w, got);
    close(fd);
    hashwriter_free(w);
    str_sha256_hex(data, len, want);
    assert_string_equal(got, want);
    buf_init(&b, 64u << 20);
    assert_int_equal(fileio_read(path, &b), AGENT_OK);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, data, len);
    buf_cleanup(&b);
}

static void
test_pieces(void **state)
{
    /* 9.5 slots: pieces smaller than, equal to, across and larger than a slot. */
    size_t len = HASHWRITER_SLOT_SIZE * 9 + HASHWRITER_SLOT_SIZE / 2;
    unsigned char *data = stream(len);
    static const size_t tiny[] = {1, 7, 4096, 16384};
    static const size_t slot[] = {HASHWRITER_SLOT_SIZE};
    static const size_t odd[] = {HASHWRITER_SLOT_SIZE - 1, HASHWRITER_SLOT_SIZE + 3, 100,
                                 3 * HASHWRITER_SLOT_SIZE};

    (void)state;
    write_in_pieces(data, len, tiny, 4);
    write_in_pieces(data, len, slot, 1);
    write_in_pieces(data, len, odd, 4);
    write_in_pieces(data, 1, slot, 1);
    free(data);
}

/* A resumed file: the part is absorbed (hashed, not written), the rest written after it. */
static void
test_absorb_then_write(void **state)
{
    size_t len = 3 * HASHWRITER_SLOT_SIZE + 5, part = HASHWRITER_SLOT_SIZE + 1;
    unsigned char *data = stream(len);
    struct hashwriter *w = hashwriter_new();
    char got[65], want[65];
    struct buf b;
    int fd;

    (void)state;
    assert_non_null(w);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    /* Something hashed before the reset does not count. */
    assert_int_equal(hashwriter_absorb(w, "noise", 5), AGENT_OK);
    assert_int_equal(hashwriter_reset(w), AGENT_OK);
    assert_int_equal(hashwriter_absorb(w, data, part), AGENT_OK);
    hashwriter_set_fd(w, fd);
    assert_int_equal(hashwriter_write(w, data + part, len - part), AGENT_OK);
    hashwriter_digest(w, got);
    close(fd);
    hashwriter_free(w);
    str_sha256_hex(data, len, want);
    assert_string_equal(got, want);
    buf_init(&b, 64u << 20);
    assert_int_equal(fileio_read(path, &b), AGENT_OK);
    assert_int_equal(b.len, len - part);
    assert_memory_equal(b.data, data + part, len - part);
    buf_cleanup(&b);
    free(data);
}

/* A write failure (ENOSPC from /dev/full) comes back with its errno; a new fd clears it. */
static void
test_write_failure(void **state)
{
    size_t len = 2 * HASHWRITER_SLOT_SIZE;
    unsigned char *data = stream(len);
    struct hashwriter *w = hashwriter_new();
    enum agent_rc rc;
    int full, fd;

    (void)state;
    full = open("/dev/full", O_WRONLY);
    if (full == -1) {
        hashwriter_free(w);
        free(data);
        skip();
    }
    assert_non_null(w);
    hashwriter_set_fd(w, full);
    rc = hashwriter_write(w, data, len);
    if (rc == AGENT_OK)
        rc = hashwriter_drain(w);
    assert_int_equal(rc, AGENT_ERR_IO);
    assert_int_equal(errno, ENOSPC);
    /* Kept until the next set_fd: a later write says so too. */
    assert_int_equal(hashwriter_drain(w), AGENT_ERR_IO);
    close(full);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    hashwriter_set_fd(w, fd);
    assert_int_equal(hashwriter_write(w, data, 10), AGENT_OK);
    assert_int_equal(hashwriter_drain(w), AGENT_OK);
    close(fd);
    hashwriter_free(w);
    free(data);
    hashwriter_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absorb_then_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
