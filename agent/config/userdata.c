#include "config/userdata.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "core/buf.h"
#include "core/str.h"

#define MARKER           "#wcs-agent"
#define AGENT_MEDIA      "text/x-wcs-agent"
#define BOUNDARY_MAX     70 /* RFC 2046 §5.1.1 */
#define HEADER_VALUE_MAX 1024

/* A view of bytes that are not NUL-terminated. */
struct span {
    const char *p;
    size_t n;
};

const char *
userdata_kind_str(enum userdata_kind kind)
{
    switch (kind) {
    case USERDATA_NONE:
        return "none";
    case USERDATA_OVERLAY:
        return "overlay";
    case USERDATA_MULTIPART_OVERLAY:
        return "multipart-overlay";
    case USERDATA_OTHER:
        return "other";
    }
    return "other";
}

void
userdata_cleanup(struct userdata *ud)
{
    size_t i;

    if (ud == NULL)
        return;
    for (i = 0; i < ud->n_storage; i++)
        str_free_secret(ud->storage[i]);
    free(ud->storage);
    free(ud->overlays);
    memset(ud, 0, sizeof(*ud));
}

/* Takes ownership of s (wiped on failure and on cleanup). */
static enum agent_rc
keep(struct userdata *ud, char *s)
{
    char **n;

    if (s == NULL)
        return AGENT_ERR_NOMEM;
    n = realloc(ud->storage, (ud->n_storage + 1) * sizeof(*n));
    if (n == NULL) {
        str_free_secret(s);
        return AGENT_ERR_NOMEM;
    }
    ud->storage = n;
    ud->storage[ud->n_storage++] = s;
    return AGENT_OK;
}

/* Adds an overlay named name whose text is a copy of len bytes at text. */
static enum agent_rc
add_overlay(struct userdata *ud, const char *name, const char *text, size_t len)
{
    struct config_overlay *o;
    enum agent_rc rc;
    char *nm, *tx;

    rc = keep(ud, str_dup(name));
    if (rc != AGENT_OK)
        return rc;
    nm = ud->storage[ud->n_storage - 1];
    rc = keep(ud, str_ndup(len > 0 ? text : "", len));
    if (rc != AGENT_OK)
        return rc;
    tx = ud->storage[ud->n_storage - 1];
    o = realloc(ud->overlays, (ud->n + 1) * sizeof(*o));
    if (o == NULL)
        return AGENT_ERR_NOMEM;
    ud->overlays = o;
    ud->overlays[ud->n].name = nm;
    ud->overlays[ud->n].text = tx;
    ud->overlays[ud->n].len = len;
    ud->n++;
    return AGENT_OK;
}

/*
 * Inflates gzip data (possibly several members) into out, at most out->max
 * bytes: a small bomb must not be able to take the memory.
 */
static enum agent_rc
gunzip(const unsigned char *data, size_t len, struct buf *out, char *err, size_t errcap)
{
    z_stream zs;
    unsigned char chunk[16384];
    enum agent_rc rc = AGENT_ERR_PARSE;
    int zr, inited = 0;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        snprintf(err, errcap, "gzip: cannot start the decompressor");
        return AGENT_ERR_NOMEM;
    }
    inited = 1;
    /* zlib counts in uInt; user data is far below 4 GiB (IMDS caps it at 16 KiB). */
    if (len > (size_t)UINT32_MAX) {
        rc = AGENT_ERR_TOOBIG;
        snprintf(err, errcap, "gzip: input too large");
        goto out;
    }
    zs.next_in = data;
    zs.avail_in = (uInt)len;
    for (;;) {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && zs.avail_in > 0)) {
            snprintf(err, errcap, "gzip: corrupt or truncated data%s%s", zs.msg != NULL ? ": " : "",
                     zs.msg != NULL ? zs.msg : "");
            goto out;
        }
        if (sizeof(chunk) - zs.avail_out > 0) {
            rc = buf_append(out, chunk, sizeof(chunk) - zs.avail_out);
            if (rc == AGENT_ERR_TOOBIG) {
                snprintf(err, errcap,
                         "gzip: decompresses to more than %u bytes, over the %u KiB limit",
                         (unsigned)out->max, (unsigned)out->max / 1024);
                goto out;
            }
            if (rc != AGENT_OK)
                goto out;
            rc = AGENT_ERR_PARSE;
        }
        if (zr == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;
            /* Another member (gzip -c a b > c); anything else after the stream is refused. */
            if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) {
                snprintf(err, errcap, "gzip: trailing data after the compressed stream");
                goto out;
            }
            if (inflateReset(&zs) != Z_OK)
                goto out;
            continue;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            snprintf(err, errcap, "gzip: truncated data");
            goto out;
        }
    }
    rc = AGENT_OK;
out:
    str_wipe(chunk, sizeof(chunk));
    if (inited)
        inflateEnd(&zs);
    return rc;
}

/* The line at *pos (without its LF or CRLF); advances *pos past it.  0 at the end. */
static int
next_line(const char *p, size_t len, size_t *pos, struct span *line)
{
    size_t start = *pos, end;

    if (start >= len)
        return 0;
    end = start;
    while (end < len && p[end] != '\n')
        end++;
    *pos = end < len ? end + 1 : end;
    if (end > start && p[end - 1] == '\r')
        end--;
    line->p = p + start;
    line->n = end - start;
    return 1;
}

static int
is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* 1 when line is "NAME:..." with an RFC 822 style field name. */
static int
is_header_line(struct span line)
{
    size_t i = 0;

    while (i < line.n && is_token_char(line.p[i]))
        i++;
    return i > 0 && i < line.n && line.p[i] == ':';
}

static int
span_ieq(struct span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.n == n && str_ncasecmp(s.p, lit, n) == 0;
}

static struct span
span_trim(struct span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* The headers this module looks at, unfolded into bounded copies. */
struct headers {
    char content_type[HEADER_VALUE_MAX];
    char encoding[HEADER_VALUE_MAX];
    int have_type;
    int have_encoding;
};

/* Appends a folded continuation or a first value to dst, refusing overflow. */
static int
header_append(char *dst, size_t cap, struct span v)
{
    size_t have = strlen(dst);

    if (have + v.n + 2 > cap)
        return -1;
    if (have > 0)
        dst[have++] = ' ';
    memcpy(dst + have, v.p, v.n);
    dst[have + v.n] = '\0';
    return 0;
}

/*
 * Reads a header block at *pos up to and including the empty line.  -1 when
 * the block does not end or a line is not a header; the reason goes to err.
 */
static int
read_headers(const char *p, size_t len, size_t *pos, struct headers *h, int eof_ends,
             const char *what, char *err, size_t errcap)
{
    struct span line, name, value;
    char *current = NULL;

    memset(h, 0, sizeof(*h));
    while (next_line(p, len, pos, &line)) {
        if (line.n == 0)
            return 0;
        if (line.p[0] == ' ' || line.p[0] == '\t') {
            /* A folded continuation of the previous field. */
            if (current != NULL && header_append(current, HEADER_VALUE_MAX, span_trim(line)) != 0)
                goto toolong;
            continue;
        }
        if (!is_header_line(line)) {
            snprintf(err, errcap, "%s: bad header line", what);
            return -1;
        }
        name.p = line.p;
        name.n = (size_t)((const char *)memchr(line.p, ':', line.n) - line.p);
        value.p = line.p + name.n + 1;
        value.n = line.n - name.n - 1;
        value = span_trim(value);
        current = NULL;
        if (span_ieq(name, "Content-Type")) {
            h->content_type[0] = '\0';
            h->have_type = 1;
            current = h->content_type;
        } else if (span_ieq(name, "Content-Transfer-Encoding")) {
            h->encoding[0] = '\0';
            h->have_encoding = 1;
            current = h->encoding;
        }
        if (current != NULL && header_append(current, HEADER_VALUE_MAX, value) != 0)
            goto toolong;
    }
    /* In a part, the CRLF before the delimiter ends the headers of a part without a body. */
    if (eof_ends)
        return 0;
    snprintf(err, errcap, "%s: the header block does not end (no empty line)", what);
    return -1;
toolong:
    snprintf(err, errcap, "%s: header longer than %d bytes", what, HEADER_VALUE_MAX);
    return -1;
}

/* 1 when the media type of a Content-Type value (before ';') equals type, any case. */
static int
media_is(const char *ct, const char *type)
{
    struct span s;

    s.p = ct;
    s.n = strcspn(ct, ";");
    return span_ieq(span_trim(s), type);
}

static int
media_has_prefix(const char *ct, const char *prefix)
{
    return str_ncasecmp(ct, prefix, strlen(prefix)) == 0;
}

/*
 * The boundary parameter of a Content-Type value into out[cap]: a token or a
 * quoted string (backslash escapes).  -1 when absent or malformed.
 */
static int
get_boundary(const char *ct, char *out, size_t cap)
{
    const char *p = strchr(ct, ';');
    size_t n = 0;

    while (p != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (str_ncasecmp(p, "boundary", 8) == 0) {
            const char *q = p + 8;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=') {
                q++;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (*q == '"') {
                    for (q++; *q != '"'; q++) {
                        if (*q == '\0')
                            return -1;
                        if (*q == '\\' && q[1] != '\0')
                            q++;
                        if (n + 1 >= cap)
                            return -1;
                        out[n++] = *q;
                    }
                } else {
                    while (*q != '\0' && *q != ';' && *q != ' ' && *q != '\t') {
                        if (n + 1 >= cap)
                            return -1;
                        out[n++] = *q++;
                    }
                }
                out[n] = '\0';
                return n > 0 ? 0 : -1;
            }
        }
        p = strchr(p, ';');
    }
    return -1;
}

/*
 * Quoted-printable (RFC 2045 §6.7): "=XX" is a byte, "=" at the end of a
 * line (blanks allowed after it) is a soft line break.  Any other "=" is
 * kept as it is, as §6.7 note (1) advises and as cloud-init's Python does,
 * so a hand-written "key = value" survives.
 */
static enum agent_rc
qp_decode(const char *p, size_t n, struct buf *out)
{
    size_t i = 0, j;
    enum agent_rc rc;
    int hi, lo;

    while (i < n) {
        if (p[i] != '=') {
            rc = buf_putc(out, p[i]);
            if (rc != AGENT_OK)
                return rc;
            i++;
            continue;
        }
        j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j == n) {
            i = j; /* a soft break at the very end */
            continue;
        }
        if (p[j] == '\n' || (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')) {
            i = j + (p[j] == '\r' ? 2 : 1);
            continue;
        }
        hi = i + 1 < n ? str_hex_value((unsigned char)p[i + 1]) : -1;
        lo = i + 2 < n ? str_hex_value((unsigned char)p[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            rc = buf_putc(out, '=');
            i++;
        } else {
            rc = buf_putc(out, (char)(hi * 16 + lo));
            i += 3;
        }
        if (rc != AGENT_OK)
            return rc;
    }
    return AGENT_OK;
}

/* Decodes one text/x-wcs-agent part and adds it as overlay "user-data part N". */
static enum agent_rc
add_agent_part(struct userdata *ud, const struct headers *h, const char *body, size_t n,
               unsigned partno, char *err, size_t errcap)
{
    char name[64];
    struct buf dec;
    enum agent_rc rc;
    const char *enc = h->have_encoding ? h->encoding : "7bit";

    snprintf(name, sizeof(name), "user-data part %u", partno);
    buf_init_secret(&dec, USERDATA_MAX_INFLATED);
    if (str_casecmp(enc, "base64") == 0) {
        rc = str_base64_decode(body, n, &dec);
        if (rc == AGENT_ERR_PARSE)
            snprintf(err, errcap, "part %u: bad base64", partno);
    } else if (str_casecmp(enc, "quoted-printable") == 0) {
        rc = qp_decode(body, n, &dec);
    } else if (str_casecmp(enc, "7bit") == 0 || str_casecmp(enc, "8bit") == 0 ||
               str_casecmp(enc, "binary") == 0) {
        rc = buf_append(&dec, body, n);
    } else {
        rc = AGENT_ERR_PARSE;
        snprintf(err, errcap, "part %u: unknown Content-Transfer-Encoding \"%.40s\"", partno, enc);
    }
    if (rc == AGENT_ERR_TOOBIG)
        snprintf(err, errcap, "part %u: larger than %d bytes", partno, USERDATA_MAX_INFLATED);
    if (rc == AGENT_OK)
        rc = add_overlay(ud, name, buf_cstr(&dec), dec.len);
    buf_cleanup(&dec);
    return rc;
}

/*
 * Is line a delimiter of boundary b?  Returns 1 for "--b", 2 for the close
 * "--b--" (transport padding of blanks allowed after either), 0 otherwise.
 */
static int
delimiter(struct span line, const char *b, size_t blen)
{
    size_t i;

    if (line.n < blen + 2 || line.p[0] != '-' || line.p[1] != '-' ||
        memcmp(line.p + 2, b, blen) != 0)
        return 0;
    i = blen + 2;
    if (i + 2 <= line.n && line.p[i] == '-' && line.p[i + 1] == '-') {
        i += 2;
        while (i < line.n && (line.p[i] == ' ' || line.p[i] == '\t'))
            i++;
        return i == line.n ? 2 : 0;
    }
    while (i < line.n && (line.p[i] == ' ' || line.p[i] == '\t'))
        i++;
    return i == line.n ? 1 : 0;
}

/* One part: its header block, then the body up to end (exclusive). */
static enum agent_rc
do_part(struct userdata *ud, const char *p, size_t start, size_t end, unsigned partno, char *err,
        size_t errcap)
{
    struct headers h;
    size_t pos = start;
    char what[32];

    snprintf(what, sizeof(what), "part %u", partno);
    if (read_headers(p, end, &pos, &h, 1, what, err, errcap) != 0)
        return AGENT_ERR_PARSE;
    if (!h.have_type || !media_is(h.content_type, AGENT_MEDIA))
        return AGENT_OK; /* for cloud-init */
    return add_agent_part(ud, &h, p + pos, end - pos, partno, err, errcap);
}

/*
 * A MIME multi-part document.  The CRLF (or LF) before a delimiter line
 * belongs to the delimiter (RFC 2046 §5.1.1), so a part ends before it.
 */
static enum agent_rc
do_multipart(struct userdata *ud, const char *p, size_t len, size_t body, const char *boundary,
             char *err, size_t errcap)
{
    struct span line;
    size_t pos = body, line_start, part_start = 0, blen = strlen(boundary), end;
    unsigned partno = 0;
    int in_part = 0, d;
    enum agent_rc rc;

    for (;;) {
        line_start = pos;
        if (!next_line(p, len, &pos, &line))
            break;
        d = delimiter(line, boundary, blen);
        if (d == 0)
            continue;
        if (in_part) {
            end = line_start;
            if (end > part_start && p[end - 1] == '\n')
                end--;
            if (end > part_start && p[end - 1] == '\r')
                end--;
            rc = do_part(ud, p, part_start, end, partno, err, errcap);
            if (rc != AGENT_OK)
                return rc;
        }
        if (d == 2) {
            ud->kind = ud->n > 0 ? USERDATA_MULTIPART_OVERLAY : USERDATA_OTHER;
            return AGENT_OK;
        }
        in_part = 1;
        partno++;
        part_start = pos;
    }
    snprintf(err, errcap, "multipart: no closing boundary \"--%.70s--\"", boundary);
    return AGENT_ERR_PARSE;
}

/* 1 when text starts with the "#wcs-agent" line. */
static int
has_marker(const char *p, size_t len)
{
    size_t i = sizeof(MARKER) - 1;

    if (len < i || memcmp(p, MARKER, i) != 0)
        return 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i == len || p[i] == '\n' || (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n');
}

static enum agent_rc
classify(const char *p, size_t len, struct userdata *ud, char *err, size_t errcap)
{
    struct span first;
    struct headers h;
    size_t pos = 0;
    char boundary[BOUNDARY_MAX + 1];

    if (len == 0) {
        ud->kind = USERDATA_NONE;
        return AGENT_OK;
    }
    if (has_marker(p, len)) {
        ud->kind = USERDATA_OVERLAY;
        return add_overlay(ud, "user-data", p, len);
    }
    next_line(p, len, &pos, &first);
    if (!is_header_line(first) || !(str_ncasecmp(first.p, "Content-Type:", 13) == 0 ||
                                    str_ncasecmp(first.p, "MIME-Version:", 13) == 0)) {
        ud->kind = USERDATA_OTHER;
        return AGENT_OK;
    }
    /* From here the text claims to be MIME. */
    pos = 0;
    if (read_headers(p, len, &pos, &h, 0, "multipart", err, errcap) != 0) {
        /* A header block that never ends is not MIME we can trust: only fail for multipart. */
        if (!h.have_type || !media_has_prefix(h.content_type, "multipart/")) {
            ud->kind = USERDATA_OTHER;
            return AGENT_OK;
        }
        return AGENT_ERR_PARSE;
    }
    if (!h.have_type || !media_has_prefix(h.content_type, "multipart/")) {
        ud->kind = USERDATA_OTHER;
        return AGENT_OK;
    }
    if (get_boundary(h.content_type, boundary, sizeof(boundary)) != 0) {
        snprintf(err, errcap, "multipart: no valid boundary parameter (1..%d characters)",
                 BOUNDARY_MAX);
        return AGENT_ERR_PARSE;
    }
    return do_multipart(ud, p, len, pos, boundary, err, errcap);
}

enum agent_rc
userdata_parse(const void *data, size_t len, struct userdata *out, char *err, size_t errcap)
{
    struct userdata ud;
    struct buf plain;
    enum agent_rc rc;
    const unsigned char *b = data;
    char dummy[1];

    if (err == NULL || errcap == 0) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    err[0] = '\0';
    memset(&ud, 0, sizeof(ud));
    buf_init_secret(&plain, USERDATA_MAX_INFLATED);
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        rc = gunzip(b, len, &plain, err, errcap);
        if (rc != AGENT_OK)
            goto out;
        rc = classify(buf_cstr(&plain), plain.len, &ud, err, errcap);
    } else {
        rc = classify((const char *)data, len, &ud, err, errcap);
    }
    if (rc == AGENT_ERR_NOMEM && err[0] == '\0')
        snprintf(err, errcap, "out of memory");
out:
    buf_cleanup(&plain);
    if (rc != AGENT_OK) {
        userdata_cleanup(&ud);
        return rc;
    }
    *out = ud;
    return AGENT_OK;
}
