/*
 * props: a line-model editor for Java-style .properties files.
 *
 * The input is cut into logical lines the way java.util.Properties'
 * LineReader cuts it.  An entry is either an active line with its
 * continuation lines, or a run of lines that give no key (blank lines,
 * comments, Java's odd cases of empty continued lines); keeping such runs
 * as one entry bounds the entries a file needs (PROPS_MAX_ENTRIES).  Each
 * entry keeps its physical bytes; serialising concatenates them, so an
 * untouched file round-trips byte for byte.  An edit replaces one entry's
 * bytes and re-reads them, so the metadata always describes the bytes
 * actually held.
 *
 * Every entry starts in the reader's fresh state and ends in it again (or
 * at the end of the file), so deleting or rewriting an entry never changes
 * how its neighbours are read.  The one exception is the end of the file:
 * a last line ending in a backslash would swallow whatever is appended
 * after it, so an append first terminates such a line (see terminate_last).
 *
 * One idea that reads better whole (about 900 lines): the reader, the
 * entry model and the edits share the same line rules and would only be
 * understood together.
 */
#include "wcs/props.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

enum entry_kind {
    ENTRY_OTHER, /* a run of blank, comment, or continuation lines giving no key */
    ENTRY_ACTIVE /* a key and a value */
};

enum walk_kind {
    WALK_BLANK,
    WALK_COMMENT,
    WALK_LINE
};

struct entry {
    char *own;            /* malloc'd bytes after an edit, else NULL */
    const char *raw;      /* the physical bytes: a slice of props.orig, or own */
    size_t raw_len;       /* bytes in raw, terminators included */
    size_t lead;          /* leading whitespace of the first physical line */
    size_t term_off;      /* offset in raw of the last line's terminator */
    enum entry_kind kind; /* what Java reads from the entry */
    int dead;             /* deleted by an edit; not serialised */
    int dangling;         /* ends the file with a continuation backslash */
    char *logical;        /* ACTIVE: the joined logical line, as Java sees it */
    size_t logical_len;   /* bytes in logical */
    size_t key_end;       /* ACTIVE: end of the (escaped) key in logical */
    size_t value_start;   /* ACTIVE: start of the (escaped) value in logical */
    char *key;            /* ACTIVE: the decoded key, NULL when malformed */
    size_t key_len;       /* bytes in key */
};

struct props {
    char *orig;        /* a copy of the parsed input */
    struct entry *ent; /* the entries, in file order */
    size_t n;          /* entries used */
    size_t cap;        /* entries allocated */
    size_t n_lf;       /* terminators seen by props_parse, by kind */
    size_t n_crlf;
    size_t n_cr;
    int changed; /* an edit modified, deleted or added an entry */
};

/* One walk over the physical lines of an entry (see walk_entry). */
struct walk {
    enum walk_kind kind;
    size_t end;         /* offset just past the entry */
    size_t lead;        /* leading whitespace of the first physical line */
    size_t term_off;    /* offset of the last physical line's terminator */
    size_t logical_len; /* bytes of the joined logical line */
    int dangling;       /* the last line continues but the input ends */
};

static int
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/*
 * Finds the physical line starting at off: its content ends at *ce, the
 * next line starts at *nx.  "\r\n" is one terminator, as Java's reader
 * skips the '\n' after a '\r' (the next line being blank otherwise).
 */
static void
phys_line(const char *d, size_t len, size_t off, size_t *ce, size_t *nx)
{
    size_t i = off;

    while (i < len && d[i] != '\n' && d[i] != '\r')
        i++;
    *ce = i;
    if (i < len && d[i] == '\r' && i + 1 < len && d[i + 1] == '\n')
        *nx = i + 2;
    else if (i < len)
        *nx = i + 1;
    else
        *nx = i;
}

static size_t
skip_ws(const char *d, size_t i, size_t end)
{
    while (i < end && is_ws(d[i]))
        i++;
    return i;
}

static size_t
trailing_backslashes(const char *d, size_t start, size_t end)
{
    size_t n = 0;

    while (end > start && d[end - 1] == '\\') {
        end--;
        n++;
    }
    return n;
}

/*
 * Walks the entry starting at off (off < len) as LineReader.readLine()
 * would, and copies the logical line into out when out is not NULL (it
 * needs at most end - off bytes).  Java's rules reproduced here: leading
 * whitespace of each physical line is skipped; '#' or '!' first makes a
 * comment, which never continues; an odd run of trailing backslashes joins
 * the next physical line (the backslash dropped), a blank next line ends
 * the logical line, and while nothing has been collected yet a next line
 * starting with '#' or '!' is read as a comment.  The run parity restarts
 * on every physical line, as Java resets its flag after a continuation.
 */
static void
walk_entry(const char *d, size_t len, size_t off, char *out, struct walk *w)
{
    size_t ce, nx, i, lo = 0;

    phys_line(d, len, off, &ce, &nx);
    i = skip_ws(d, off, ce);
    w->lead = i - off;
    w->term_off = ce;
    w->end = nx;
    w->dangling = 0;
    w->logical_len = 0;
    if (i == ce) {
        w->kind = WALK_BLANK;
        return;
    }
    if (d[i] == '#' || d[i] == '!') {
        w->kind = WALK_COMMENT;
        return;
    }
    w->kind = WALK_LINE;
    for (;;) {
        size_t run = trailing_backslashes(d, i, ce);
        size_t seg = ce - i - (run & 1);

        if (out != NULL)
            memcpy(out + lo, d + i, seg);
        lo += seg;
        if ((run & 1) == 0)
            break;
        if (nx == len) {
            w->dangling = 1;
            break;
        }
        phys_line(d, len, nx, &ce, &nx);
        i = skip_ws(d, w->end, ce);
        w->term_off = ce;
        w->end = nx;
        if (i == ce)
            break;
        if (lo == 0 && (d[i] == '#' || d[i] == '!'))
            break;
    }
    w->logical_len = lo;
}

/*
 * Splits a logical line into key and value as Properties.load0() does: the
 * key ends at the first unescaped '=', ':' or whitespace; then whitespace,
 * at most one '=' or ':', and whitespace again are skipped.
 */
static void
split_key(const char *l, size_t n, size_t *key_end, size_t *value_start)
{
    size_t k = 0, v = n;
    int sep = 0, bs = 0;

    while (k < n) {
        char c = l[k];

        if ((c == '=' || c == ':') && !bs) {
            v = k + 1;
            sep = 1;
            break;
        }
        if (is_ws(c) && !bs) {
            v = k + 1;
            break;
        }
        bs = (c == '\\') ? !bs : 0;
        k++;
    }
    while (v < n) {
        char c = l[v];

        if (!is_ws(c)) {
            if (sep || (c != '=' && c != ':'))
                break;
            sep = 1;
        }
        v++;
    }
    *key_end = k;
    *value_start = v;
}

static size_t
put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Decodes escapes as Properties.loadConvert() does, writing UTF-8 to out
 * (which needs n bytes: no input sequence yields more bytes than it has).
 * Java builds UTF-16, so a \uD8xx\uDCxx pair is one code point, and a lone
 * surrogate becomes '?' as Java's UTF-8 encoder makes it.  Returns -1 on a
 * malformed \uXXXX (Java throws IllegalArgumentException), else 0.
 */
static int
unescape(const char *in, size_t n, char *out, size_t *out_len)
{
    size_t i = 0, o = 0;
    unsigned long high = 0;

    while (i < n) {
        char c = in[i++];
        unsigned long cu = 0;
        int k;

        if (c != '\\' || i == n || in[i] != 'u') {
            if (high != 0) {
                out[o++] = '?';
                high = 0;
            }
            /* Java's reader never leaves a lone backslash at the end. */
            if (c == '\\' && i == n)
                break;
            if (c == '\\') {
                c = in[i++];
                if (c == 't')
                    c = '\t';
                else if (c == 'r')
                    c = '\r';
                else if (c == 'n')
                    c = '\n';
                else if (c == 'f')
                    c = '\f';
            }
            out[o++] = c;
            continue;
        }
        i++;
        if (n - i < 4)
            return -1;
        for (k = 0; k < 4; k++) {
            int h = str_hex_value((unsigned char)in[i++]);
            if (h < 0)
                return -1;
            cu = (cu << 4) | (unsigned long)h;
        }
        if (cu >= 0xDC00 && cu <= 0xDFFF && high != 0) {
            o += put_utf8(out + o, 0x10000 + ((high - 0xD800) << 10) + (cu - 0xDC00));
            high = 0;
            continue;
        }
        if (high != 0) {
            out[o++] = '?';
            high = 0;
        }
        if (cu >= 0xD800 && cu <= 0xDBFF)
            high = cu;
        else if (cu >= 0xDC00 && cu <= 0xDFFF)
            out[o++] = '?';
        else
            o += put_utf8(out + o, cu);
    }
    if (high != 0)
        out[o++] = '?';
    *out_len = o;
    return 0;
}

/*
 * Decodes n escaped bytes into a malloc'd, NUL-terminated string.  Returns
 * AGENT_ERR_PARSE on a malformed escape, AGENT_ERR_NOMEM.
 */
static enum agent_rc
decode(const char *in, size_t n, char **out, size_t *out_len)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        return AGENT_ERR_NOMEM;
    if (unescape(in, n, s, out_len) != 0) {
        free(s);
        return AGENT_ERR_PARSE;
    }
    s[*out_len] = '\0';
    *out = s;
    return AGENT_OK;
}

/*
 * Escapes s for writing, so that Java reads back exactly s (which holds no
 * CR, LF or NUL).  A value needs only backslashes and what its start would
 * lose (whitespace, a second separator) escaped; a key also needs every
 * separator, whitespace and comment character escaped, as Java's store()
 * writes them.  Returns the length; writes to out unless it is NULL.
 */
static size_t
escape(const char *s, size_t n, int is_key, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char c = s[i], esc = 0;
        int strict = is_key || i == 0;

        if (c == '\\')
            esc = '\\';
        else if (c == ' ' && strict)
            esc = ' ';
        else if (c == '\t' && strict)
            esc = 't';
        else if (c == '\f' && strict)
            esc = 'f';
        else if ((c == '=' || c == ':') && strict)
            esc = c;
        else if ((c == '#' || c == '!') && is_key)
            esc = c;
        if (esc != 0) {
            if (out != NULL) {
                out[o] = '\\';
                out[o + 1] = esc;
            }
            o += 2;
        } else {
            if (out != NULL)
                out[o] = c;
            o++;
        }
    }
    return o;
}

static void
entry_clear(struct entry *e)
{
    free(e->own);
    free(e->logical);
    free(e->key);
    memset(e, 0, sizeof(*e));
}

/*
 * Reads the entry starting at off in d[len] into e (zeroed by the caller):
 * e->raw points into d.  Returns AGENT_ERR_NOMEM; e holds nothing to free
 * on failure.
 */
static enum agent_rc
entry_scan(const char *d, size_t len, size_t off, struct entry *e)
{
    struct walk w;
    enum agent_rc rc = AGENT_ERR_NOMEM;
    size_t term_len;

    walk_entry(d, len, off, NULL, &w);
    e->raw = d + off;
    e->raw_len = w.end - off;
    e->lead = w.lead;
    e->term_off = w.term_off - off;
    e->dangling = w.dangling;
    e->kind = ENTRY_OTHER;
    if (w.kind != WALK_LINE)
        return AGENT_OK;
    /*
     * An empty logical line gives no key, except at the very end of the
     * input after a backslash: there Java's reader hits the end before it
     * would skip the line, and load() puts ("", "").  After "\\\r\n" it
     * first skips the '\n' and then finds nothing, so that case gives none.
     */
    term_len = e->raw_len - e->term_off;
    if (w.logical_len == 0 && !(w.dangling && term_len != 2))
        return AGENT_OK;
    e->logical = malloc(w.logical_len + 1);
    if (e->logical == NULL)
        goto out;
    walk_entry(d, len, off, e->logical, &w);
    e->logical[w.logical_len] = '\0';
    e->logical_len = w.logical_len;
    split_key(e->logical, e->logical_len, &e->key_end, &e->value_start);
    rc = decode(e->logical, e->key_end, &e->key, &e->key_len);
    if (rc == AGENT_ERR_PARSE) {
        e->key = NULL;
        rc = AGENT_OK;
    }
    if (rc != AGENT_OK)
        goto out;
    e->kind = ENTRY_ACTIVE;
    rc = AGENT_OK;
out:
    if (rc != AGENT_OK) {
        free(e->logical);
        e->logical = NULL;
    }
    return rc;
}

/*
 * Appends entry b, read from the bytes just after a's, to the run of
 * other lines a (both ENTRY_OTHER, which own no memory).  Runs of blank
 * and comment lines are kept as one entry, so a file of many short lines
 * costs few entries.
 */
static void
entry_merge(struct entry *a, const struct entry *b)
{
    a->term_off = a->raw_len + b->term_off;
    a->raw_len += b->raw_len;
    a->dangling = b->dangling;
}

/*
 * Gives e the n bytes at bytes (ownership taken, freed on failure too) and
 * re-reads them.  The new bytes must form exactly one active entry or a
 * run of other lines (the callers build them so); AGENT_ERR_INVAL
 * otherwise, AGENT_ERR_NOMEM; e is unchanged on failure.
 */
static enum agent_rc
entry_replace(struct entry *e, char *bytes, size_t n)
{
    struct entry t, u;
    enum agent_rc rc;
    size_t off;

    memset(&t, 0, sizeof(t));
    rc = entry_scan(bytes, n, 0, &t);
    for (off = t.raw_len; rc == AGENT_OK && off < n; off += u.raw_len) {
        memset(&u, 0, sizeof(u));
        rc = entry_scan(bytes, n, off, &u);
        if (rc == AGENT_OK && (t.kind != ENTRY_OTHER || u.kind != ENTRY_OTHER)) {
            entry_clear(&u);
            rc = AGENT_ERR_INVAL;
        }
        if (rc == AGENT_OK)
            entry_merge(&t, &u);
    }
    if (rc != AGENT_OK) {
        entry_clear(&t);
        free(bytes);
        return rc;
    }
    t.own = bytes;
    entry_clear(e);
    *e = t;
    return AGENT_OK;
}

/* Makes room for one more entry; AGENT_ERR_NOMEM. */
static enum agent_rc
props_grow(struct props *p)
{
    struct entry *ent;
    size_t cap;

    if (p->n < p->cap)
        return AGENT_OK;
    cap = p->cap == 0 ? 64 : p->cap * 2;
    if (cap > SIZE_MAX / sizeof(*ent))
        return AGENT_ERR_NOMEM;
    ent = realloc(p->ent, cap * sizeof(*ent));
    if (ent == NULL)
        return AGENT_ERR_NOMEM;
    p->ent = ent;
    p->cap = cap;
    return AGENT_OK;
}

enum agent_rc
props_parse(const char *data, size_t len, struct props **out)
{
    struct props *p = NULL;
    struct entry t;
    enum agent_rc rc = AGENT_ERR_NOMEM;
    size_t off, i;

    if (len > PROPS_MAX_SIZE)
        return AGENT_ERR_TOOBIG;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto out;
    if (len > 0) {
        p->orig = malloc(len);
        if (p->orig == NULL)
            goto out;
        memcpy(p->orig, data, len);
    }
    for (i = 0; i < len; i++) {
        if (p->orig[i] == '\n') {
            p->n_lf++;
        } else if (p->orig[i] == '\r') {
            if (i + 1 < len && p->orig[i + 1] == '\n') {
                p->n_crlf++;
                i++;
            } else {
                p->n_cr++;
            }
        }
    }
    for (off = 0; off < len; off += t.raw_len) {
        memset(&t, 0, sizeof(t));
        rc = entry_scan(p->orig, len, off, &t);
        if (rc != AGENT_OK)
            goto out;
        if (p->n > 0 && t.kind == ENTRY_OTHER && p->ent[p->n - 1].kind == ENTRY_OTHER) {
            entry_merge(&p->ent[p->n - 1], &t);
            continue;
        }
        rc = p->n == PROPS_MAX_ENTRIES ? AGENT_ERR_TOOBIG : props_grow(p);
        if (rc != AGENT_OK) {
            entry_clear(&t);
            goto out;
        }
        p->ent[p->n++] = t;
    }
    *out = p;
    p = NULL;
    rc = AGENT_OK;
out:
    props_free(p);
    return rc;
}

void
props_free(struct props *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        entry_clear(&p->ent[i]);
    free(p->ent);
    free(p->orig);
    free(p);
}

enum agent_rc
props_serialise(const struct props *p, struct buf *out)
{
    size_t i, total = 0, o = 0;
    char *s;
    enum agent_rc rc;

    for (i = 0; i < p->n; i++) {
        if (!p->ent[i].dead)
            total += p->ent[i].raw_len;
    }
    if (total > out->max || out->len > out->max - total)
        return AGENT_ERR_TOOBIG;
    if (total == 0)
        return AGENT_OK;
    /* One append, so that out is unchanged when memory runs out. */
    s = malloc(total);
    if (s == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; i < p->n; i++) {
        if (!p->ent[i].dead) {
            memcpy(s + o, p->ent[i].raw, p->ent[i].raw_len);
            o += p->ent[i].raw_len;
        }
    }
    rc = buf_append(out, s, total);
    free(s);
    return rc;
}

static int
entry_has_key(const struct entry *e, const char *key, size_t key_len)
{
    return !e->dead && e->kind == ENTRY_ACTIVE && e->key != NULL && e->key_len == key_len &&
           memcmp(e->key, key, key_len) == 0;
}

/* The index of the last live active entry for key, or p->n when none. */
static size_t
find_last(const struct props *p, const char *key, size_t key_len)
{
    size_t i;

    for (i = p->n; i > 0; i--) {
        if (entry_has_key(&p->ent[i - 1], key, key_len))
            return i - 1;
    }
    return p->n;
}

enum agent_rc
props_get(const struct props *p, const char *key, struct buf *value)
{
    const struct entry *e;
    char *v = NULL;
    size_t i, v_len;
    enum agent_rc rc;

    if (key == NULL)
        return AGENT_ERR_INVAL;
    i = find_last(p, key, strlen(key));
    if (i == p->n)
        return AGENT_ERR_ABSENT;
    e = &p->ent[i];
    rc = decode(e->logical + e->value_start, e->logical_len - e->value_start, &v, &v_len);
    if (rc != AGENT_OK)
        return rc;
    rc = buf_append(value, v, v_len);
    free(v);
    return rc;
}

size_t
props_count(const struct props *p, const char *key)
{
    size_t i, n = 0, key_len;

    if (key == NULL)
        return 0;
    key_len = strlen(key);
    for (i = 0; i < p->n; i++) {
        if (entry_has_key(&p->ent[i], key, key_len))
            n++;
    }
    return n;
}

static int
has_line_break(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 1;
    }
    return 0;
}

/* 1 when e's value decodes to exactly value[value_len]. */
static int
value_equals(const struct entry *e, const char *value, size_t value_len)
{
    char *v = NULL;
    size_t v_len;
    int eq;

    if (decode(e->logical + e->value_start, e->logical_len - e->value_start, &v, &v_len) !=
        AGENT_OK)
        return 0;
    eq = v_len == value_len && memcmp(v, value, value_len) == 0;
    free(v);
    return eq;
}

/*
 * Rewrites active entry e as one physical line with a new value: its
 * leading whitespace, the logical line up to the value (key spelling and
 * separator, now on one line), the escaped value and the terminator of its
 * last physical line.  A line that was only a key gets '=' as separator.
 */
static enum agent_rc
rewrite_value(struct entry *e, const char *value, size_t value_len)
{
    size_t term_len = e->raw_len - e->term_off;
    size_t eq = e->value_start == e->key_end ? 1 : 0;
    size_t esc = escape(value, value_len, 0, NULL);
    size_t n = e->lead + e->value_start + eq + esc + term_len, o = 0;
    char *s = malloc(n);

    if (s == NULL)
        return AGENT_ERR_NOMEM;
    memcpy(s, e->raw, e->lead);
    o += e->lead;
    memcpy(s + o, e->logical, e->value_start);
    o += e->value_start;
    if (eq)
        s[o++] = '=';
    o += escape(value, value_len, 0, s + o);
    memcpy(s + o, e->raw + e->term_off, term_len);
    return entry_replace(e, s, n);
}

/* The terminator most lines of the parsed file used ("\n" on a tie or none). */
static const char *
dominant_term(const struct props *p)
{
    if (p->n_crlf > p->n_lf && p->n_crlf >= p->n_cr)
        return "\r\n";
    if (p->n_cr > p->n_lf && p->n_cr > p->n_crlf)
        return "\r";
    return "\n";
}

/*
 * Makes the last live entry end the file cleanly before lines are
 * appended: an unterminated last line gets the file's terminator, and a
 * last line still continuing (ending in a backslash) gets a line that
 * closes it without changing what Java reads: a blank line, or "=" when
 * the entry is the ("", "") Java makes of a lone backslash at the end.
 * The closing line repeats the entry's own terminator, so that a "\n"
 * never follows a "\r" and merges with it into one terminator.
 */
static enum agent_rc
terminate_last(struct props *p, const char *term)
{
    struct entry *e = NULL;
    const char *close;
    size_t i, t, c, add = 0, o;
    int close_eq;
    char *s;

    for (i = p->n; i > 0 && e == NULL; i--) {
        if (!p->ent[i - 1].dead)
            e = &p->ent[i - 1];
    }
    if (e == NULL)
        return AGENT_OK;
    t = e->term_off == e->raw_len ? strlen(term) : 0;
    close = t > 0 ? term : e->raw + e->term_off;
    c = t > 0 ? t : e->raw_len - e->term_off;
    close_eq = e->dangling && e->kind == ENTRY_ACTIVE && e->logical_len == 0;
    add = t + (e->dangling ? c + (size_t)close_eq : 0);
    if (add == 0)
        return AGENT_OK;
    s = malloc(e->raw_len + add);
    if (s == NULL)
        return AGENT_ERR_NOMEM;
    memcpy(s, e->raw, e->raw_len);
    o = e->raw_len;
    memcpy(s + o, term, t);
    o += t;
    if (e->dangling) {
        if (close_eq)
            s[o++] = '=';
        memcpy(s + o, close, c);
    }
    p->changed = 1;
    return entry_replace(e, s, e->raw_len + add);
}

/* Adds the n bytes at s (ownership taken) as a new last entry. */
static enum agent_rc
append_entry(struct props *p, char *s, size_t n)
{
    enum agent_rc rc = props_grow(p);

    if (rc != AGENT_OK) {
        free(s);
        return rc;
    }
    memset(&p->ent[p->n], 0, sizeof(p->ent[p->n]));
    rc = entry_replace(&p->ent[p->n], s, n);
    if (rc != AGENT_OK)
        return rc;
    p->n++;
    p->changed = 1;
    return AGENT_OK;
}

/* 1 when a live run of other lines holds a line that is exactly the marker. */
static int
has_marker(const struct props *p)
{
    size_t i, off, ce, nx, m = strlen(PROPS_MARKER);

    for (i = 0; i < p->n; i++) {
        const struct entry *e = &p->ent[i];

        if (e->dead || e->kind != ENTRY_OTHER)
            continue;
        for (off = 0; off < e->raw_len; off = nx) {
            phys_line(e->raw, e->raw_len, off, &ce, &nx);
            if (ce - off == m && memcmp(e->raw + off, PROPS_MARKER, m) == 0)
                return 1;
        }
    }
    return 0;
}

/* Appends "key=value" after the marker line (added when missing). */
static enum agent_rc
append_key(struct props *p, const char *key, size_t key_len, const char *value, size_t value_len)
{
    const char *term = dominant_term(p);
    size_t t = strlen(term), m = strlen(PROPS_MARKER), n, o;
    enum agent_rc rc;
    char *s;

    rc = terminate_last(p, term);
    if (rc != AGENT_OK)
        return rc;
    if (!has_marker(p)) {
        s = malloc(m + t);
        if (s == NULL)
            return AGENT_ERR_NOMEM;
        memcpy(s, PROPS_MARKER, m);
        memcpy(s + m, term, t);
        rc = append_entry(p, s, m + t);
        if (rc != AGENT_OK)
            return rc;
    }
    n = escape(key, key_len, 1, NULL) + 1 + escape(value, value_len, 0, NULL) + t;
    s = malloc(n);
    if (s == NULL)
        return AGENT_ERR_NOMEM;
    o = escape(key, key_len, 1, s);
    s[o++] = '=';
    o += escape(value, value_len, 0, s + o);
    memcpy(s + o, term, t);
    return append_entry(p, s, n);
}

enum agent_rc
props_setn(struct props *p, const char *key, size_t key_len, const char *value, size_t value_len)
{
    size_t last, i;
    enum agent_rc rc;

    if (key == NULL || value == NULL || key_len == 0 || has_line_break(key, key_len) ||
        has_line_break(value, value_len))
        return AGENT_ERR_INVAL;
    if (key_len > PROPS_MAX_SIZE || value_len > PROPS_MAX_SIZE)
        return AGENT_ERR_TOOBIG;
    last = find_last(p, key, key_len);
    if (last == p->n)
        return append_key(p, key, key_len, value, value_len);
    /* An equal value keeps its spelling, so a converged file stays as it is. */
    if (!value_equals(&p->ent[last], value, value_len)) {
        rc = rewrite_value(&p->ent[last], value, value_len);
        if (rc != AGENT_OK)
            return rc;
        p->changed = 1;
    }
    for (i = 0; i < last; i++) {
        if (entry_has_key(&p->ent[i], key, key_len)) {
            p->ent[i].dead = 1;
            p->changed = 1;
        }
    }
    return AGENT_OK;
}

enum agent_rc
props_set(struct props *p, const char *key, const char *value)
{
    if (key == NULL || value == NULL)
        return AGENT_ERR_INVAL;
    return props_setn(p, key, strlen(key), value, strlen(value));
}

enum agent_rc
props_remove(struct props *p, const char *key)
{
    size_t i, key_len, n = 0;

    if (key == NULL)
        return AGENT_ERR_INVAL;
    key_len = strlen(key);
    for (i = 0; i < p->n; i++) {
        if (entry_has_key(&p->ent[i], key, key_len)) {
            p->ent[i].dead = 1;
            n++;
        }
    }
    if (n == 0)
        return AGENT_ERR_ABSENT;
    p->changed = 1;
    return AGENT_OK;
}

int
props_changed(const struct props *p)
{
    return p->changed;
}
