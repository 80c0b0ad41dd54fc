/*
 * Unit tests of core/secmem: the process is made non-dumpable with a zero
 * core limit, and the memory of secret bufs and of the redaction registry is
 * marked MADV_DONTDUMP (the "dd" flag of /proc/self/smaps).
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/secmem.h"

/*
 * 1 when the mapping that holds address p carries the VmFlags flag (e.g.
 * "dd"), 0 when it does not, -1 when p is in no mapping.
 */
static int
mapping_has_flag(const void *p, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[1024];
    uintptr_t a = (uintptr_t)p, lo, hi;
    int inside = 0, res = -1;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long l, h;

        if (sscanf(line, "%lx-%lx ", &l, &h) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            lo = (uintptr_t)l;
            hi = (uintptr_t)h;
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];

            snprintf(want, sizeof(want), " %s", flag);
            res = strstr(line + 8, want) != NULL;
            break;
        }
    }
    fclose(f);
    return res;
}

static void
test_harden_process(void **state)
{
    struct rlimit rl;

    (void)state;
    assert_int_equal(secmem_harden_process(), AGENT_OK);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_true(rl.rlim_cur == 0);
}

static void
test_alloc_is_dontdump(void **state)
{
    size_t got = 0;
    char *p;

    (void)state;
    p = secmem_alloc(100, &got);
    assert_non_null(p);
    assert_true(got >= 100);
    assert_int_equal(p[0], 0);
    assert_int_equal(mapping_has_flag(p, "dd"), 1);
    secmem_free(p, got);
    assert_null(secmem_alloc(0, &got));
}

/* A single page given back is wiped and reused, still out of dumps; larger blocks are unmapped. */
static void
test_freed_page_is_wiped_and_reused(void **state)
{
    size_t got = 0, got2 = 0, big = 0, i;
    char *p, *q, *r;

    (void)state;
    p = secmem_alloc(64, &got);
    assert_non_null(p);
    memcpy(p, "AKIAEXAMPLESECRET", 17);
    secmem_free(p, got);
    q = secmem_alloc(32, &got2);
    assert_ptr_equal(q, p);
    assert_int_equal(got2, got);
    for (i = 0; i < got2; i++)
        assert_int_equal(q[i], 0);
    assert_int_equal(mapping_has_flag(q, "dd"), 1);
    secmem_free(q, got2);
    /* Two pages are not kept: the mapping is gone. */
    r = secmem_alloc(got + 1, &big);
    assert_non_null(r);
    assert_true(big > got);
    secmem_free(r, big);
    assert_int_equal(mapping_has_flag(r, "dd"), -1);
}

static void
test_secret_buf_is_dontdump(void **state)
{
    struct buf plain, secret;
    char big[20000];

    (void)state;
    memset(big, 'x', sizeof(big));
    buf_init(&plain, 1 << 20);
    buf_init_secret(&secret, 1 << 20);
    assert_int_equal(buf_append(&plain, big, sizeof(big)), AGENT_OK);
    assert_int_equal(buf_puts(&secret, "s3cret"), AGENT_OK);
    /* The detector itself: ordinary heap memory is dumped. */
    assert_int_equal(mapping_has_flag(plain.data, "dd"), 0);
    assert_int_equal(mapping_has_flag(secret.data, "dd"), 1);
    /* Growing moves the bytes to new pages, still kept out of dumps. */
    assert_int_equal(buf_append(&secret, big, sizeof(big)), AGENT_OK);
    assert_int_equal(mapping_has_flag(secret.data, "dd"), 1);
    assert_int_equal(memcmp(secret.data, "s3cretxxx", 9), 0);
    assert_int_equal(secret.len, 6 + sizeof(big));
    buf_cleanup(&secret);
    buf_cleanup(&plain);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_is_dontdump),
        cmocka_unit_test(test_freed_page_is_wiped_and_reused),
        cmocka_unit_test(test_secret_buf_is_dontdump),
        cmocka_unit_test(test_harden_process),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
