#include "wcs/heap.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diff.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "wcs/configure.h"

/* Headers of wcs-core.properties, as bin/setenv.sh compares them (whole line). */
#define CORE_SERVER_HEADER "### SERVER OPTIONS ###"
#define CORE_JVM_HEADER    "### JVM OPTIONS ###"

enum agent_rc
wcs_meminfo_total_kb(const char *path, long *out_kb)
{
    struct buf b;
    const char *p, *line;
    char *end;
    long long v;
    enum agent_rc rc;

    if (path == NULL)
        path = "/proc/meminfo";
    buf_init(&b, 256u * 1024u);
    rc = fileio_read(path, &b);
    if (rc == AGENT_ERR_ABSENT)
        log_errx("configure: %s: not found; cannot size wcs.heap", path);
    if (rc != AGENT_OK)
        goto out;
    rc = AGENT_ERR_ABSENT;
    for (line = buf_cstr(&b); line != NULL && *line != '\0';) {
        if (str_has_prefix(line, "MemTotal:")) {
            p = line + strlen("MemTotal:");
            while (*p == ' ' || *p == '\t')
                p++;
            errno = 0;
            v = strtoll(p, &end, 10);
            if (end == p || errno != 0 || v <= 0 || v > LONG_MAX) {
                rc = AGENT_ERR_PARSE;
                break;
            }
            while (*end == ' ' || *end == '\t')
                end++;
            if (strncmp(end, "kB", 2) != 0 || (end[2] != '\n' && end[2] != '\0')) {
                rc = AGENT_ERR_PARSE;
                break;
            }
            *out_kb = (long)v;
            rc = AGENT_OK;
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    if (rc == AGENT_ERR_ABSENT)
        log_errx("configure: %s: no MemTotal line; cannot size wcs.heap", path);
    else if (rc == AGENT_ERR_PARSE)
        log_errx("configure: %s: malformed MemTotal line; cannot size wcs.heap", path);
out:
    buf_cleanup(&b);
    return rc;
}

enum agent_rc
wcs_heap_value(const char *heap, long mem_total_kb, char *out, size_t cap)
{
    char num[32];
    size_t n;
    long long x, mb;
    int i;

    if (heap == NULL)
        return AGENT_ERR_CONFIG;
    if (strcmp(heap, "keep") == 0)
        return AGENT_ERR_ABSENT;
    n = strlen(heap);
    if (n == 0 || n >= sizeof(num))
        return AGENT_ERR_CONFIG;
    memcpy(num, heap, n + 1);
    for (i = 0; i < (int)n - 1; i++) {
        if (!isdigit((unsigned char)num[i]))
            return AGENT_ERR_CONFIG;
    }
    if (num[n - 1] == '%') {
        num[n - 1] = '\0';
        if (n < 2 || str_to_ll(num, 1, 100, &x) != AGENT_OK || mem_total_kb <= 0 ||
            (long long)mem_total_kb > LLONG_MAX / 100)
            return AGENT_ERR_CONFIG;
        /* Rounded down once, at the end. */
        mb = (long long)mem_total_kb * x / (100 * 1024);
        if (mb < WCS_HEAP_MIN_MB)
            return AGENT_ERR_CONFIG;
        if ((size_t)snprintf(out, cap, "%lldm", mb) >= cap)
            return AGENT_ERR_TOOBIG;
        return AGENT_OK;
    }
    if (strchr("kKmMgG", num[n - 1]) != NULL) {
        char unit = (char)tolower((unsigned char)num[n - 1]);

        num[n - 1] = '\0';
        if (n < 2 || str_to_ll(num, 1, 1LL << 40, &x) != AGENT_OK)
            return AGENT_ERR_CONFIG;
        if ((size_t)snprintf(out, cap, "%lld%c", x, unit) >= cap)
            return AGENT_ERR_TOOBIG;
        return AGENT_OK;
    }
    if (!isdigit((unsigned char)num[n - 1]) || str_to_ll(num, 1, 1LL << 50, &x) != AGENT_OK)
        return AGENT_ERR_CONFIG;
    if ((size_t)snprintf(out, cap, "%lld", x) >= cap)
        return AGENT_ERR_TOOBIG;
    return AGENT_OK;
}

/* One physical line of wcs-core.properties: [start, start+len) with terminator tlen bytes. */
struct core_line {
    const char *start;
    size_t len;  /* without the terminator */
    size_t tlen; /* 0, 1 ("\n") or 2 ("\r\n") */
};

static int
is_heap_token(const char *t, size_t n)
{
    return n >= 4 && (strncmp(t, "-Xms", 4) == 0 || strncmp(t, "-Xmx", 4) == 0);
}

/* The line without leading and trailing blanks equals s. */
static int
line_is(const struct core_line *l, const char *s)
{
    const char *p = l->start, *e = l->start + l->len;

    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    return (size_t)(e - p) == strlen(s) && memcmp(p, s, (size_t)(e - p)) == 0;
}

static size_t
split_lines(const char *data, size_t len, struct core_line *lines)
{
    size_t n = 0, i = 0, s;

    while (i < len) {
        s = i;
        while (i < len && data[i] != '\n')
            i++;
        lines[n].start = data + s;
        lines[n].len = i - s;
        lines[n].tlen = 0;
        if (i < len) {
            lines[n].tlen = 1;
            i++;
            if (lines[n].len > 0 && data[s + lines[n].len - 1] == '\r') {
                lines[n].len--;
                lines[n].tlen = 2;
            }
        }
        n++;
    }
    return n;
}

/*
 * Appends line l without its -Xms/-Xmx tokens.  Returns 1 when it had such
 * tokens (*empty = 1 when no token is left), 0 when the line is kept as is.
 */
static int
strip_heap_tokens(const struct core_line *l, struct buf *kept, int *empty)
{
    const char *p = l->start, *e = l->start + l->len, *t;
    int found = 0, words = 0;

    buf_reset(kept);
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= e)
            break;
        t = p;
        while (p < e && *p != ' ' && *p != '\t')
            p++;
        if (is_heap_token(t, (size_t)(p - t))) {
            found = 1;
            continue;
        }
        if (words > 0)
            buf_putc(kept, ' ');
        buf_append(kept, t, (size_t)(p - t));
        words++;
    }
    *empty = words == 0;
    return found;
}

static enum agent_rc
render_heap(const char *data, size_t len, const char *size, struct buf *out)
{
    struct core_line *lines = NULL;
    struct buf kept;
    const char *nl;
    size_t n, i, crlf = 0, anchor_after = SIZE_MAX, jvm_header = SIZE_MAX;
    int server = 0, inserted = 0, empty, only_server = 0;
    enum agent_rc rc = AGENT_OK;

    buf_init(&kept, WCS_CONF_MAX);
    /* One entry per physical line (count_lines is the diff's). */
    lines = calloc(diff_count_lines(data, len) + 1, sizeof(*lines));
    if (lines == NULL)
        return AGENT_ERR_NOMEM;
    n = split_lines(data, len, lines);
    for (i = 0; i < n; i++)
        crlf += lines[i].tlen == 2;
    nl = crlf * 2 > n ? "\r\n" : "\n";

    for (i = 0; i < n && rc == AGENT_OK; i++) {
        const struct core_line *l = &lines[i];
        const char *p = l->start;

        if (line_is(l, CORE_SERVER_HEADER)) {
            server = 1;
        } else if (line_is(l, CORE_JVM_HEADER)) {
            server = 0;
            if (jvm_header == SIZE_MAX)
                jvm_header = i;
        }
        while (p < l->start + l->len && (*p == ' ' || *p == '\t'))
            p++;
        if (!server && p < l->start + l->len && *p == '-' && strip_heap_tokens(l, &kept, &empty)) {
            if (!inserted) {
                rc = buf_printf(out, "-Xms%s%s-Xmx%s%s", size, nl, size, nl);
                inserted = 1;
            }
            if (!empty && rc == AGENT_OK) {
                rc = buf_append(out, kept.data, kept.len);
                if (rc == AGENT_OK)
                    rc = buf_append(out, l->start + l->len, l->tlen);
            }
            continue;
        }
        rc = buf_append(out, l->start, l->len + l->tlen);
        if (rc == AGENT_OK && i == jvm_header && !inserted)
            anchor_after = out->len;
    }
    only_server = server;
    if (rc != AGENT_OK || inserted)
        goto out;

    /* No heap option yet: after the JVM header, else at the end. */
    if (anchor_after == SIZE_MAX && n > 0 && lines[n - 1].tlen == 0)
        rc = buf_puts(out, nl);
    if (rc == AGENT_OK && anchor_after != SIZE_MAX) {
        struct buf tail;

        /* The header is the unterminated last line: end it first. */
        if (lines[jvm_header].tlen == 0) {
            rc = buf_puts(out, nl);
            anchor_after = out->len;
        }
        buf_init(&tail, WCS_CONF_MAX + 1024);
        if (rc == AGENT_OK)
            rc = buf_append(&tail, out->data + anchor_after, out->len - anchor_after);
        if (rc == AGENT_OK) {
            out->len = anchor_after;
            out->data[out->len] = '\0';
            rc = buf_printf(out, "-Xms%s%s-Xmx%s%s", size, nl, size, nl);
        }
        if (rc == AGENT_OK)
            rc = buf_append(out, tail.data, tail.len);
        buf_cleanup(&tail);
    } else if (rc == AGENT_OK) {
        if (only_server)
            rc = buf_printf(out, "%s%s", CORE_JVM_HEADER, nl);
        if (rc == AGENT_OK)
            rc = buf_printf(out, "-Xms%s%s-Xmx%s%s", size, nl, size, nl);
    }
out:
    buf_cleanup(&kept);
    free(lines);
    return rc;
}

enum agent_rc
wcs_configure_heap(const char *core_props_path, const char *heap, long mem_total_kb, int dry_run,
                   struct buf *diff, int *changed)
{
    struct stat st;
    struct buf old, new;
    char size[64], *real = NULL;
    enum agent_rc rc;

    if (core_props_path == NULL || heap == NULL || changed == NULL)
        return AGENT_ERR_INVAL;
    rc = wcs_heap_value(heap, mem_total_kb, size, sizeof(size));
    if (rc == AGENT_ERR_ABSENT) {
        *changed = 0;
        return AGENT_OK;
    }
    if (rc != AGENT_OK) {
        if (strchr(heap, '%') != NULL && mem_total_kb > 0)
            log_errx("configure: wcs.heap = %.40s: must be keep, N[kmg] or 1..100%% giving at "
                     "least %d MiB of the %ld MiB of RAM",
                     heap, WCS_HEAP_MIN_MB, mem_total_kb / 1024);
        else
            log_errx("configure: wcs.heap = %.40s: must be keep, N[kmg] or 1..100%% (with the "
                     "RAM size known)",
                     heap);
        return AGENT_ERR_CONFIG;
    }
    buf_init(&old, WCS_CONF_MAX);
    buf_init(&new, WCS_CONF_MAX + 1024);
    rc = wcs_configure_resolve(core_props_path, &real, &st);
    if (rc != AGENT_OK)
        goto out;
    rc = wcs_configure_read(real, &old);
    if (rc != AGENT_OK)
        goto out;
    rc = render_heap(old.data != NULL ? old.data : "", old.len, size, &new);
    if (rc != AGENT_OK) {
        log_errx("configure: %s: %s", real, agent_rc_str(rc));
        goto out;
    }
    rc = wcs_configure_commit(core_props_path, real, &st, &old, &new, dry_run, diff, changed);
    if (rc == AGENT_OK && *changed)
        log_debug("configure: %s: heap -Xms%s -Xmx%s", real, size, size);
out:
    buf_cleanup(&old);
    buf_cleanup(&new);
    free(real);
    return rc;
}
