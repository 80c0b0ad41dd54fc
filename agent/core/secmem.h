/*
 * secmem: keeping secrets out of core dumps.
 *
 * secmem_harden_process() runs first thing in main(), before any secret is
 * loaded: the process is made non-dumpable (PR_SET_DUMPABLE 0, which also
 * closes /proc/PID/mem and ptrace to other users of the same uid) and its
 * core size limit is set to 0.  The memory that holds secret values (secret
 * bufs, the redaction registry) comes from secmem_alloc(): whole pages marked
 * MADV_DONTDUMP, wiped by secmem_free() and unmapped (a few single pages are
 * kept, wiped, for the next secret), so that even a dump forced some other
 * way leaves them out.
 */
#ifndef AGENT_CORE_SECMEM_H
#define AGENT_CORE_SECMEM_H

#include <stddef.h>

#include "core/rc.h"

/*
 * PR_SET_DUMPABLE 0 and RLIMIT_CORE 0 (soft; the hard limit is kept so a
 * child may raise its own).  AGENT_ERR_IO when either call fails (errno set).
 */
enum agent_rc secmem_harden_process(void);

/*
 * At least n bytes (n > 0) of zeroed, page-aligned memory excluded from core
 * dumps; *got receives the usable size (n rounded up to whole pages).  NULL
 * on failure.  Released only with secmem_free(p, *got).
 */
void *secmem_alloc(size_t n, size_t *got);

/*
 * Overwrites n bytes in a way the compiler cannot remove (OPENSSL_cleanse);
 * accepts NULL.  The wipe primitive of core/: buf and str use it, and it
 * uses neither, so there is no include circle.
 */
void secmem_wipe(void *p, size_t n);

/*
 * Wipes what secmem_alloc() returned (got bytes) and unmaps it, or keeps a
 * single page for reuse (still excluded from dumps); accepts NULL.
 */
void secmem_free(void *p, size_t got);

#endif
