/*
 * Fuzz target: the .properties line model.  Parse then serialise must give
 * back the input byte for byte.  Then a set of a key and value derived from
 * the input must read back (after serialising and parsing again) as that
 * value on exactly one active line, must leave another key's value alone,
 * must not change anything when repeated, and a remove must drop the key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "wcs/props.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_break(char c)
{
    return c == '\r' || c == '\n' || c == '\0';
}

/* Serialises p and parses the result again; aborts on any failure. */
static struct props *
reparse(const struct props *p)
{
    struct props *q = NULL;
    struct buf out;

    buf_init(&out, 2 * PROPS_MAX_SIZE);
    if (props_serialise(p, &out) != AGENT_OK)
        abort();
    if (props_parse(out.data, out.len, &q) != AGENT_OK)
        abort();
    buf_cleanup(&out);
    return q;
}

/*
 * The key text of the input's last line (after leading whitespace, up to
 * the first '=', ':' or space): often a key the file really has.
 */
static void
last_line_key(const char *d, size_t n, char *key, size_t cap)
{
    size_t end = n, start, i, k = 0;

    while (end > 0 && (d[end - 1] == '\n' || d[end - 1] == '\r'))
        end--;
    start = end;
    while (start > 0 && d[start - 1] != '\n' && d[start - 1] != '\r')
        start--;
    while (start < end && (d[start] == ' ' || d[start] == '\t' || d[start] == '\f'))
        start++;
    for (i = start; i < end && k + 1 < cap; i++) {
        if (d[i] == '=' || d[i] == ':' || d[i] == ' ' || is_break(d[i]))
            break;
        key[k++] = d[i];
    }
    key[k] = '\0';
}

/* Up to cap - 1 bytes of d from off, line breaks replaced by repl. */
static void
take(const char *d, size_t n, size_t off, char repl, char *out, size_t cap)
{
    size_t k = 0;

    for (; off < n && k + 1 < cap; off++)
        out[k++] = is_break(d[off]) ? repl : d[off];
    out[k] = '\0';
}

/* Reads key's value: the return code, and the bytes into v (reset first). */
static enum agent_rc
get(const struct props *p, const char *key, struct buf *v)
{
    buf_reset(v);
    return props_get(p, key, v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    struct props *p = NULL, *q = NULL, *r = NULL;
    struct buf out, v1, v2;
    char key[16], other[16], tmp[16], value[24];
    enum agent_rc rc_other;

    if (props_parse(d, size, &p) != AGENT_OK)
        return 0;
    buf_init(&out, 2 * PROPS_MAX_SIZE);
    buf_init(&v1, 2 * PROPS_MAX_SIZE);
    buf_init(&v2, 2 * PROPS_MAX_SIZE);
    if (props_serialise(p, &out) != AGENT_OK || out.len != size ||
        (size > 0 && memcmp(out.data, d, size) != 0) || props_changed(p))
        abort();

    /* A value with a line break or NUL is refused and changes nothing. */
    if (size > 0 && (memchr(d, '\n', size) != NULL || memchr(d, '\r', size) != NULL ||
                     memchr(d, '\0', size) != NULL)) {
        if (props_setn(p, "k", 1, d, size) != AGENT_ERR_INVAL || props_changed(p))
            abort();
    }

    /* The key: the last line's key, or a few bytes of the input. */
    last_line_key(d, size, other, sizeof(other));
    take(d, size, size / 3, 'x', key, 1 + (size % 9));
    if (size % 2 == 0 && other[0] != '\0') {
        memcpy(tmp, key, sizeof(key));
        memcpy(key, other, sizeof(key));
        memcpy(other, tmp, sizeof(key));
    }
    if (key[0] == '\0')
        memcpy(key, "k", 2);
    take(d, size, size / 2, '_', value, 1 + (size % 23));
    rc_other = get(p, other, &v2);

    if (props_set(p, key, value) != AGENT_OK)
        abort();
    q = reparse(p);
    if (get(q, key, &v1) != AGENT_OK || v1.len != strlen(value) ||
        memcmp(buf_cstr(&v1), value, v1.len) != 0 || props_count(q, key) != 1)
        abort();
    /* Another key reads as before. */
    if (strcmp(key, other) != 0) {
        if (get(q, other, &v1) != rc_other)
            abort();
        if (rc_other == AGENT_OK &&
            (v1.len != v2.len || memcmp(buf_cstr(&v1), buf_cstr(&v2), v1.len) != 0))
            abort();
    }

    /* Setting it again converges: nothing changes. */
    if (props_set(q, key, value) != AGENT_OK || props_changed(q))
        abort();

    /* Remove drops every active line for it. */
    if (props_remove(q, key) != AGENT_OK || props_count(q, key) != 0)
        abort();
    r = reparse(q);
    if (get(r, key, &v1) != AGENT_ERR_ABSENT)
        abort();

    buf_cleanup(&out);
    buf_cleanup(&v1);
    buf_cleanup(&v2);
    props_free(p);
    props_free(q);
    props_free(r);
    return 0;
}
