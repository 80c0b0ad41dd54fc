/*
 * buf: a growable byte buffer with a required maximum size (curl's dynbuf).
 *
 * The data is always NUL-terminated (the NUL is not counted in len and does
 * not count against max), so text can be used as a C string.  A buffer
 * marked secret is wiped whenever its memory is released or moved, and its
 * memory is kept out of core dumps (core/secmem).
 */
#ifndef AGENT_CORE_BUF_H
#define AGENT_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/rc.h"

struct buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len; /* bytes held, without the terminating NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the most len may reach; appends past it fail with TOOBIG */
    int secret; /* wipe on free and on reallocation */
};

/* Prepares b, holding nothing, growing to at most max bytes. */
void buf_init(struct buf *b, size_t max);

/* As buf_init, and every release of b's memory wipes it first. */
void buf_init_secret(struct buf *b, size_t max);

/* Appends n bytes.  AGENT_ERR_TOOBIG (b unchanged) past max; AGENT_ERR_NOMEM. */
enum agent_rc buf_append(struct buf *b, const void *p, size_t n);

/* Appends a C string. */
enum agent_rc buf_puts(struct buf *b, const char *s);

/* Appends one byte. */
enum agent_rc buf_putc(struct buf *b, char c);

/* Appends printf-formatted text; b unchanged on failure. */
enum agent_rc buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum agent_rc buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The content as a C string; "" for an empty buffer.  Borrowed. */
const char *buf_cstr(const struct buf *b);

/* Empties b, keeping its memory (wiped first when secret). */
void buf_reset(struct buf *b);

/* Releases b's memory (wiped first when secret); b may be reused after buf_init. */
void buf_cleanup(struct buf *b);

/*
 * Hands the content to the caller as a malloc'd NUL-terminated string (free
 * with free(), or str_free_secret() for a secret buffer) and empties b.
 * Returns NULL on out of memory.
 */
char *buf_detach(struct buf *b);

#endif
