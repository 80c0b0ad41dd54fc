#include "core/secmem.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <unistd.h>

#include <openssl/crypto.h>

enum agent_rc
secmem_harden_process(void)
{
    struct rlimit rl;
    enum agent_rc rc = AGENT_OK;

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
        rc = AGENT_ERR_IO;
    if (getrlimit(RLIMIT_CORE, &rl) == -1) {
        rc = AGENT_ERR_IO;
    } else if (rl.rlim_cur != 0) {
        rl.rlim_cur = 0;
        if (setrlimit(RLIMIT_CORE, &rl) == -1)
            rc = AGENT_ERR_IO;
    }
    return rc;
}

static size_t
page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);

    return p > 0 ? (size_t)p : 4096u;
}

void *
secmem_alloc(size_t n, size_t *got)
{
    size_t pg = page_size(), len;
    void *p;

    if (n == 0 || n > ((size_t)-1) - pg)
        return NULL;
    len = (n + pg - 1) / pg * pg;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Without the advice the pages would be dumped: refuse them rather than hold a secret there. */
    if (madvise(p, len, MADV_DONTDUMP) == -1) {
        munmap(p, len);
        return NULL;
    }
    *got = len;
    return p;
}

void
secmem_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void
secmem_free(void *p, size_t got)
{
    if (p == NULL)
        return;
    secmem_wipe(p, got);
    munmap(p, got);
}
