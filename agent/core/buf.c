#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

/* The first allocation; later ones double, clipped to max + 1. */
#define BUF_MIN_CAP 64

void
buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->secret = 0;
}

void
buf_init_secret(struct buf *b, size_t max)
{
    buf_init(b, max);
    b->secret = 1;
}

/*
 * Makes room for extra more bytes plus the NUL.  A secret buffer never uses
 * realloc(): the old block would be freed without being wiped, so the bytes
 * are moved by hand and the old block wiped before it is released.  Its
 * memory comes from secmem (whole pages kept out of core dumps), so its cap
 * is the page-rounded size.
 */
static enum agent_rc
buf_reserve(struct buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return AGENT_ERR_TOOBIG;
    need = b->len + extra + 1;
    if (b->data != NULL && need <= b->cap)
        return AGENT_OK;

    ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    /* Never allocate more than the buffer may ever hold. */
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    if (ncap < need)
        ncap = need;

    if (b->secret) {
        p = secmem_alloc(ncap, &ncap);
        if (p == NULL)
            return AGENT_ERR_NOMEM;
        if (b->data != NULL) {
            memcpy(p, b->data, b->len + 1);
            secmem_free(b->data, b->cap);
        } else {
            p[0] = '\0';
        }
    } else {
        p = realloc(b->data, ncap);
        if (p == NULL)
            return AGENT_ERR_NOMEM;
        if (b->data == NULL)
            p[0] = '\0';
    }
    b->data = p;
    b->cap = ncap;
    return AGENT_OK;
}

enum agent_rc
buf_append(struct buf *b, const void *p, size_t n)
{
    enum agent_rc rc;

    rc = buf_reserve(b, n);
    if (rc != AGENT_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AGENT_OK;
}

enum agent_rc
buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum agent_rc
buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

enum agent_rc
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    enum agent_rc rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * The first vsnprintf() measures, the second writes into reserved space;
 * b's length only moves once both have succeeded.
 */
enum agent_rc
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, m;
    enum agent_rc rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return AGENT_ERR_INVAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc != AGENT_OK)
        return rc;
    va_copy(ap2, ap);
    m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (m != n) {
        b->data[b->len] = '\0';
        return AGENT_ERR_INVAL;
    }
    b->len += (size_t)n;
    return AGENT_OK;
}

const char *
buf_cstr(const struct buf *b)
{
    if (b->data == NULL)
        return "";
    return b->data;
}

void
buf_reset(struct buf *b)
{
    if (b->data == NULL)
        return;
    if (b->secret)
        secmem_wipe(b->data, b->cap);
    b->len = 0;
    b->data[0] = '\0';
}

void
buf_cleanup(struct buf *b)
{
    if (b->data != NULL) {
        if (b->secret)
            secmem_free(b->data, b->cap);
        else
            free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/*
 * A plain buffer hands its block over.  A secret one is copied into an
 * exact-size block so the spare capacity is wiped with the old block; an
 * empty buffer also gets a fresh "" rather than NULL.
 */
char *
buf_detach(struct buf *b)
{
    char *p;

    if (b->data != NULL && !b->secret) {
        p = b->data;
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        return p;
    }
    p = malloc(b->len + 1);
    if (p == NULL)
        return NULL;
    if (b->len > 0)
        memcpy(p, b->data, b->len);
    p[b->len] = '\0';
    buf_cleanup(b);
    return p;
}
