#include "core/secmem.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <pthread.h>
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

/*
 * Single pages given back, wiped, kept for the next secmem_alloc() of one
 * page: a run holds a few dozen short-lived secrets (credentials, signing
 * keys, tokens), and a fresh mapping each costs three system calls, a page
 * fault and a TLB flush.  The pages stay MADV_DONTDUMP; at most POOL_MAX.
 */
#define POOL_MAX 16

static void *pool[POOL_MAX];
static size_t pooled;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

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
    if (len == pg) {
        p = NULL;
        pthread_mutex_lock(&pool_lock);
        if (pooled > 0)
            p = pool[--pooled];
        pthread_mutex_unlock(&pool_lock);
        if (p != NULL) {
            *got = len;
            return p;
        }
    }
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
    if (got == page_size()) {
        int kept = 0;

        pthread_mutex_lock(&pool_lock);
        if (pooled < POOL_MAX) {
            pool[pooled++] = p;
            kept = 1;
        }
        pthread_mutex_unlock(&pool_lock);
        if (kept)
            return;
    }
    munmap(p, got);
}
