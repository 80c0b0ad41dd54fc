#include "wcs/cdn.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "wcs/props.h"

static size_t count_lines(const char *s, size_t n);

/* Myers' diff gives up past this many changed lines (memory grows with its square). */
#define DIFF_MAX_D 1024

/* Headers of wcs-core.properties, as bin/setenv.sh compares them (whole line). */
#define CORE_SERVER_HEADER "### SERVER OPTIONS ###"
#define CORE_JVM_HEADER    "### JVM OPTIONS ###"

/* ---- edit lists ---- */

void
wcs_edits_init(struct wcs_edits *e)
{
    memset(e, 0, sizeof(*e));
}

void
wcs_edits_cleanup(struct wcs_edits *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < e->n; i++) {
        free(e->items[i].key);
        free(e->items[i].value);
    }
    free(e->items);
    memset(e, 0, sizeof(*e));
}

const struct wcs_edit *
wcs_edits_find(const struct wcs_edits *e, const char *key)
{
    size_t i;

    if (e == NULL || key == NULL)
        return NULL;
    for (i = 0; i < e->n; i++) {
        if (strcmp(e->items[i].key, key) == 0)
            return &e->items[i];
    }
    return NULL;
}

/* A key written as is: no separator, blank or comment start that would need escaping. */
static int
key_ok(const char *key)
{
    size_t n = strlen(key);
    const char *p;

    if (n == 0 || n > WCS_EDIT_KEY_MAX || key[0] == '#' || key[0] == '!')
        return 0;
    for (p = key; *p != '\0'; p++) {
        if (*p == '=' || *p == ':' || *p == '\\' || isspace((unsigned char)*p) ||
            iscntrl((unsigned char)*p))
            return 0;
    }
    return 1;
}

static int
value_ok(const char *value)
{
    if (strlen(value) > WCS_EDIT_VALUE_MAX)
        return 0;
    return strchr(value, '\n') == NULL && strchr(value, '\r') == NULL;
}

enum agent_rc
wcs_edits_set(struct wcs_edits *e, const char *key, const char *value)
{
    struct wcs_edit *grown;
    char *k = NULL, *v = NULL;
    size_t i, cap;

    if (e == NULL || key == NULL || !key_ok(key) || (value != NULL && !value_ok(value)))
        return AGENT_ERR_INVAL;
    if (value != NULL) {
        v = str_dup(value);
        if (v == NULL)
            return AGENT_ERR_NOMEM;
    }
    for (i = 0; i < e->n; i++) {
        if (strcmp(e->items[i].key, key) == 0) {
            free(e->items[i].value);
            e->items[i].value = v;
            return AGENT_OK;
        }
    }
    k = str_dup(key);
    if (k == NULL) {
        free(v);
        return AGENT_ERR_NOMEM;
    }
    if (e->n == e->cap) {
        cap = e->cap == 0 ? 8 : e->cap * 2;
        grown = realloc(e->items, cap * sizeof(*grown));
        if (grown == NULL) {
            free(k);
            free(v);
            return AGENT_ERR_NOMEM;
        }
        e->items = grown;
        e->cap = cap;
    }
    e->items[e->n].key = k;
    e->items[e->n].value = v;
    e->n++;
    return AGENT_OK;
}

/* ---- rendering ---- */

void
wcs_render_input_from_config(const struct agent_config *cfg, const char *local_ipv4,
                             const char *public_ipv4, struct wcs_render_input *in)
{
    memset(in, 0, sizeof(*in));
    in->role = cfg->cdn.role;
    in->cdn_ip = cfg->cdn.ip;
    in->point_of_entry = cfg->cdn.point_of_entry;
    in->groups = cfg->cdn.groups;
    in->local_ipv4 = local_ipv4;
    in->public_ipv4 = public_ipv4;
    in->props = cfg->properties.items;
    in->n_props = cfg->properties.n;
}

/* Logs the refusal and copies it to reason. */
static enum agent_rc refuse(enum agent_rc rc, char *reason, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum agent_rc
refuse(enum agent_rc rc, char *reason, size_t cap, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_errx("configure: %s", line);
    if (reason != NULL && cap > 0)
        snprintf(reason, cap, "%s", line);
    return rc;
}

static int
blank(const char *s)
{
    if (s == NULL)
        return 1;
    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* Case-insensitive equality, ignoring surrounding blanks and IPv6 brackets. */
static int
same_address(const char *a, const char *b)
{
    size_t la, lb;

    if (a == NULL || b == NULL)
        return 0;
    while (isspace((unsigned char)*a) || *a == '[')
        a++;
    while (isspace((unsigned char)*b) || *b == '[')
        b++;
    la = strlen(a);
    lb = strlen(b);
    while (la > 0 && (isspace((unsigned char)a[la - 1]) || a[la - 1] == ']'))
        la--;
    while (lb > 0 && (isspace((unsigned char)b[lb - 1]) || b[lb - 1] == ']'))
        lb--;
    return la == lb && la > 0 && str_ncasecmp(a, b, la) == 0;
}

/* Loopback and unspecified addresses: a node reaching them reaches itself. */
static int
is_self_address(const char *s)
{
    static const char *const names[] = {
        "localhost", "localhost.localdomain", "::1", "::", "0.0.0.0", "ip6-localhost"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (same_address(s, names[i]))
            return 1;
    }
    while (isspace((unsigned char)*s))
        s++;
    return str_has_prefix(s, "127.") && str_is_ipv4(s);
}

/* The cdn_* keys the cdn block writes when cdn.role is set. */
static const char *const cdn_keys[] = {"cdn_enabled", "cdn_role", "cdn_ip", "cdn_point_of_entry",
                                       "cdn_groups"};

static int
is_cdn_key(const char *k)
{
    size_t i;

    for (i = 0; i < sizeof(cdn_keys) / sizeof(cdn_keys[0]); i++) {
        if (strcmp(k, cdn_keys[i]) == 0)
            return 1;
    }
    return 0;
}

static enum agent_rc
add_edit(struct wcs_edits *out, const char *source, const char *key, const char *value,
         char *reason, size_t cap)
{
    enum agent_rc rc = wcs_edits_set(out, key, value);

    if (rc == AGENT_ERR_INVAL) {
        if (!key_ok(key))
            return refuse(AGENT_ERR_CONFIG, reason, cap,
                          "%s: \"%.80s\" is not a usable flashphoner.properties key", source, key);
        return refuse(AGENT_ERR_CONFIG, reason, cap,
                      "%s: the value holds a line break or is longer than %u bytes", source,
                      (unsigned)WCS_EDIT_VALUE_MAX);
    }
    return rc;
}

static enum agent_rc
render_cdn(const struct wcs_render_input *in, struct wcs_edits *out, char *reason, size_t cap)
{
    const char *role = config_cdn_role_str(in->role);
    const char *poe = blank(in->point_of_entry) ? NULL : in->point_of_entry;
    enum agent_rc rc;

    if (in->role == CONFIG_CDN_UNSET)
        return AGENT_OK;
    if (in->role == CONFIG_CDN_OFF)
        return add_edit(out, "cdn.role", "cdn_enabled", "false", reason, cap);

    if (blank(in->cdn_ip))
        return refuse(AGENT_ERR_CONFIG, reason, cap, "cdn.ip is empty but cdn.role = %s needs it",
                      role);
    if (poe == NULL && in->role != CONFIG_CDN_ORIGIN)
        return refuse(AGENT_ERR_CONFIG, reason, cap,
                      "cdn.point_of_entry is required when cdn.role = %s", role);
    if (poe != NULL) {
        const char *what = NULL;

        if (same_address(poe, in->cdn_ip))
            what = "cdn.ip";
        else if (same_address(poe, in->local_ipv4))
            what = "its private address";
        else if (same_address(poe, in->public_ipv4))
            what = "its public address";
        else if (in->role == CONFIG_CDN_ORIGIN && is_self_address(poe))
            what = "a loopback address";
        if (what != NULL)
            return refuse(AGENT_ERR_CONFIG, reason, cap,
                          "cdn.point_of_entry %.80s is this node's own address (%s); a CDN %s "
                          "must not join the CDN through itself",
                          poe, what, role);
    }

    rc = add_edit(out, "cdn.role", "cdn_enabled", "true", reason, cap);
    if (rc == AGENT_OK)
        rc = add_edit(out, "cdn.role", "cdn_role", role, reason, cap);
    if (rc == AGENT_OK)
        rc = add_edit(out, "cdn.ip", "cdn_ip", in->cdn_ip, reason, cap);
    /* Not given: removed, so that an entry left in the image does not survive. */
    if (rc == AGENT_OK)
        rc = add_edit(out, "cdn.point_of_entry", "cdn_point_of_entry", poe, reason, cap);
    if (rc == AGENT_OK)
        rc = add_edit(out, "cdn.groups", "cdn_groups", blank(in->groups) ? NULL : in->groups,
                      reason, cap);
    return rc;
}

enum agent_rc
wcs_render_edits(const struct wcs_render_input *in, struct wcs_edits *out, char *reason, size_t cap)
{
    const struct wcs_edit *prev;
    char source[WCS_EDIT_KEY_MAX + 16];
    enum agent_rc rc;
    size_t i;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    if (in == NULL || out == NULL)
        return AGENT_ERR_INVAL;
    rc = render_cdn(in, out, reason, cap);
    if (rc != AGENT_OK)
        return rc;

    for (i = 0; i < in->n_props; i++) {
        const char *k = in->props[i].key, *v = in->props[i].value;

        if (k == NULL)
            continue;
        snprintf(source, sizeof(source), "properties.%.*s", WCS_EDIT_KEY_MAX, k);
        prev = wcs_edits_find(out, k);
        if (prev != NULL && prev->value != NULL && in->role != CONFIG_CDN_UNSET && is_cdn_key(k))
            return refuse(AGENT_ERR_CONFIG, reason, cap,
                          "%s conflicts with cdn.role = %s, which sets %s itself; use the cdn.* "
                          "keys or leave cdn.role empty",
                          source, config_cdn_role_str(in->role), k);
        rc = add_edit(out, source, k, v == NULL || v[0] == '\0' ? NULL : v, reason, cap);
        if (rc != AGENT_OK)
            return rc;
    }
    return AGENT_OK;
}

/* ---- writing ---- */

/*
 * Resolves a symbolic link so that the file it names is edited (the link
 * stays).  *real is malloc'd.  AGENT_ERR_ABSENT when it does not exist.
 */
static enum agent_rc
resolve_path(const char *path, char **real, struct stat *st)
{
    char *r;

    if (lstat(path, st) == -1) {
        if (errno == ENOENT) {
            log_errx("configure: %s: not found (is WCS installed at wcs.home?)", path);
            return AGENT_ERR_ABSENT;
        }
        log_err("configure: %s: lstat", path);
        return AGENT_ERR_IO;
    }
    if (S_ISLNK(st->st_mode)) {
        r = realpath(path, NULL);
        if (r == NULL) {
            if (errno == ENOENT) {
                log_errx("configure: %s: a dangling symbolic link", path);
                return AGENT_ERR_ABSENT;
            }
            log_err("configure: %s: realpath", path);
            return AGENT_ERR_IO;
        }
        if (stat(r, st) == -1) {
            log_err("configure: %s: stat", r);
            free(r);
            return AGENT_ERR_IO;
        }
    } else {
        r = str_dup(path);
        if (r == NULL)
            return AGENT_ERR_NOMEM;
    }
    if (!S_ISREG(st->st_mode)) {
        log_errx("configure: %s: not a regular file", path);
        free(r);
        return AGENT_ERR_INVAL;
    }
    *real = r;
    return AGENT_OK;
}

static enum agent_rc
read_conf(const char *path, struct buf *out)
{
    enum agent_rc rc;

    buf_init(out, WCS_CONF_MAX);
    rc = fileio_read(path, out);
    if (rc == AGENT_ERR_ABSENT)
        log_errx("configure: %s: not found", path);
    return rc;
}

/*
 * The common end of both configure functions: compare, diff, back up,
 * replace.  label is the path the caller was given (for the diff).
 */
static enum agent_rc
commit_file(const char *label, const char *real, const struct stat *st, const struct buf *old,
            const struct buf *new, int dry_run, struct buf *diff, int *changed)
{
    enum agent_rc rc;
    struct buf bak;

    if (old->len == new->len && (old->len == 0 || memcmp(old->data, new->data, old->len) == 0)) {
        *changed = 0;
        return AGENT_OK;
    }
    if (diff != NULL) {
        rc = wcs_diff_unified(label, old->data, old->len, new->data, new->len, diff);
        if (rc != AGENT_OK) {
            log_errx("configure: %s: diff: %s", label, agent_rc_str(rc));
            return rc;
        }
    }
    if (!dry_run) {
        buf_init(&bak, PATH_MAX + 8);
        rc = buf_printf(&bak, "%s.bak", real);
        if (rc != AGENT_OK) {
            log_errx("configure: %s: path too long", real);
            buf_cleanup(&bak);
            return rc;
        }
        rc = fileio_write_atomic_owner(bak.data, old->data, old->len, st->st_mode & 07777,
                                       st->st_uid, st->st_gid);
        buf_cleanup(&bak);
        if (rc != AGENT_OK)
            return rc;
        rc = fileio_write_atomic(real, new->data, new->len, st->st_mode & 07777, FILEIO_KEEP_MODE);
        if (rc != AGENT_OK)
            return rc;
        log_info("configure: %s updated (previous version in %s.bak)", real, real);
    }
    *changed = 1;
    return AGENT_OK;
}

enum agent_rc
wcs_configure_props(const char *path, const struct wcs_edits *edits, int dry_run, struct buf *diff,
                    int *changed)
{
    struct props *p = NULL;
    struct stat st;
    struct buf old, new;
    char *real = NULL;
    enum agent_rc rc;
    size_t i;

    buf_init(&old, WCS_CONF_MAX);
    buf_init(&new, WCS_CONF_MAX + 64u * 1024u);
    if (path == NULL || edits == NULL || changed == NULL)
        return AGENT_ERR_INVAL;
    rc = resolve_path(path, &real, &st);
    if (rc != AGENT_OK)
        goto out;
    rc = read_conf(real, &old);
    if (rc != AGENT_OK)
        goto out;
    rc = props_parse(old.data != NULL ? old.data : "", old.len, &p);
    if (rc != AGENT_OK) {
        log_errx("configure: %s: %s", real, agent_rc_str(rc));
        goto out;
    }
    for (i = 0; i < edits->n; i++) {
        const struct wcs_edit *e = &edits->items[i];

        if (e->value == NULL) {
            rc = props_remove(p, e->key);
            if (rc == AGENT_ERR_ABSENT)
                rc = AGENT_OK;
            else if (rc == AGENT_OK)
                log_debug("configure: %s: remove %s", real, e->key);
        } else {
            rc = props_set(p, e->key, e->value);
            if (rc == AGENT_OK)
                log_debug("configure: %s: set %s", real, e->key);
        }
        if (rc != AGENT_OK) {
            log_errx("configure: %s: cannot set %s: %s", real, e->key, agent_rc_str(rc));
            goto out;
        }
    }
    rc = props_serialise(p, &new);
    if (rc != AGENT_OK) {
        log_errx("configure: %s: %s", real, agent_rc_str(rc));
        goto out;
    }
    rc = commit_file(path, real, &st, &old, &new, dry_run, diff, changed);
out:
    props_free(p);
    buf_cleanup(&old);
    buf_cleanup(&new);
    free(real);
    return rc;
}

/* ---- heap ---- */

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
    lines = calloc(count_lines(data, len) + 1, sizeof(*lines));
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
    rc = resolve_path(core_props_path, &real, &st);
    if (rc != AGENT_OK)
        goto out;
    rc = read_conf(real, &old);
    if (rc != AGENT_OK)
        goto out;
    rc = render_heap(old.data != NULL ? old.data : "", old.len, size, &new);
    if (rc != AGENT_OK) {
        log_errx("configure: %s: %s", real, agent_rc_str(rc));
        goto out;
    }
    rc = commit_file(core_props_path, real, &st, &old, &new, dry_run, diff, changed);
    if (rc == AGENT_OK && *changed)
        log_debug("configure: %s: heap -Xms%s -Xmx%s", real, size, size);
out:
    buf_cleanup(&old);
    buf_cleanup(&new);
    free(real);
    return rc;
}

/* ---- unified diff ---- */

struct dline {
    const char *p;
    size_t len; /* with the "\n" when there is one */
    uint64_t h;
};

enum dop {
    OP_EQ,
    OP_DEL,
    OP_INS
};

static uint64_t
fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t
count_lines(const char *s, size_t n)
{
    size_t i, c = 0;

    for (i = 0; i < n; i++)
        c += s[i] == '\n';
    return c + (n > 0 && s[n - 1] != '\n');
}

static struct dline *
to_lines(const char *s, size_t n, size_t *count)
{
    struct dline *l;
    size_t i = 0, k = 0, st;

    *count = count_lines(s, n);
    l = calloc(*count + 1, sizeof(*l));
    if (l == NULL)
        return NULL;
    while (i < n) {
        st = i;
        while (i < n && s[i] != '\n')
            i++;
        if (i < n)
            i++;
        l[k].p = s + st;
        l[k].len = i - st;
        l[k].h = fnv1a(l[k].p, l[k].len);
        k++;
    }
    return l;
}

static int
line_eq(const struct dline *a, const struct dline *b)
{
    return a->h == b->h && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * Myers' O(ND) diff of a[0..n) and b[0..m) into ops (n + m entries at
 * most), with the V array of each round kept for the walk back (2d+1
 * entries for round d).  Returns the number of ops, or (size_t)-1 when more
 * than DIFF_MAX_D lines differ (or on out of memory: *nomem = 1).
 */
static size_t
myers(const struct dline *a, size_t n, const struct dline *b, size_t m, unsigned char *ops,
      int *nomem)
{
    long N = (long)n, M = (long)m, maxd = N + M, d, k, x, y, dd;
    long *v, **trace = NULL;
    size_t nops = 0, i;
    long found = -1;

    *nomem = 0;
    if (maxd > DIFF_MAX_D)
        maxd = DIFF_MAX_D;
    v = calloc((size_t)(2 * maxd + 3), sizeof(*v));
    trace = calloc((size_t)maxd + 1, sizeof(*trace));
    if (v == NULL || trace == NULL) {
        *nomem = 1;
        goto out;
    }
#define V(k) v[(k) + maxd + 1]
    for (d = 0; d <= maxd && found < 0; d++) {
        for (k = -d; k <= d; k += 2) {
            if (k == -d || (k != d && V(k - 1) < V(k + 1)))
                x = V(k + 1);
            else
                x = V(k - 1) + 1;
            y = x - k;
            while (x < N && y < M && line_eq(&a[x], &b[y])) {
                x++;
                y++;
            }
            V(k) = x;
            if (x >= N && y >= M) {
                found = d;
                break;
            }
        }
        trace[d] = malloc((size_t)(2 * d + 1) * sizeof(long));
        if (trace[d] == NULL) {
            *nomem = 1;
            goto out;
        }
        for (k = -d; k <= d; k++)
            trace[d][k + d] = V(k);
    }
#undef V
    if (found < 0)
        goto out;

    /* Walk back from (N, M), writing the ops from the end. */
    x = N;
    y = M;
    nops = (size_t)(N + M); /* an upper bound; compacted below */
    i = nops;
    for (dd = found; dd > 0; dd--) {
        const long *pv = trace[dd - 1];
        long pk, px, py, mx, my;

        /* The previous round's values sit at pv[k + (dd - 1)]. */
        k = x - y;
        if (k == -dd || (k != dd && pv[k - 1 + (dd - 1)] < pv[k + 1 + (dd - 1)]))
            pk = k + 1;
        else
            pk = k - 1;
        px = pv[pk + (dd - 1)];
        py = px - pk;
        /* (mx, my): where the move of this round ended and the snake began. */
        mx = pk == k + 1 ? px : px + 1;
        my = pk == k + 1 ? py + 1 : py;
        while (x > mx && y > my) {
            ops[--i] = OP_EQ;
            x--;
            y--;
        }
        ops[--i] = pk == k + 1 ? OP_INS : OP_DEL;
        x = px;
        y = py;
    }
    while (x > 0 && y > 0) {
        ops[--i] = OP_EQ;
        x--;
        y--;
    }
    memmove(ops, ops + i, nops - i);
    nops -= i;
out:
    if (trace != NULL) {
        for (d = 0; d <= maxd; d++)
            free(trace[d]);
    }
    free(trace);
    free(v);
    if (found < 0)
        return (size_t)-1;
    return nops;
}

static enum agent_rc
put_line(struct buf *out, char tag, const struct dline *l)
{
    enum agent_rc rc = buf_putc(out, tag);

    if (rc == AGENT_OK)
        rc = buf_append(out, l->p, l->len);
    if (rc == AGENT_OK && (l->len == 0 || l->p[l->len - 1] != '\n'))
        rc = buf_puts(out, "\n\\ No newline at end of file\n");
    return rc;
}

/* Hunk ranges: "l,n" with GNU diff's conventions (",1" left out; empty: the line before). */
static enum agent_rc
put_range(struct buf *out, char sign, size_t start, size_t count)
{
    if (count == 1)
        return buf_printf(out, "%c%zu", sign, start + 1);
    if (count == 0)
        return buf_printf(out, "%c%zu,0", sign, start);
    return buf_printf(out, "%c%zu,%zu", sign, start + 1, count);
}

static enum agent_rc
emit_hunks(const unsigned char *ops, size_t nops, const struct dline *a, const struct dline *b,
           struct buf *out)
{
    size_t i = 0, hs, he, j, ai, bi, a0, b0, ac, bc, last_change;
    size_t *apos = NULL, *bpos = NULL;
    enum agent_rc rc = AGENT_OK;

    /* Line positions before each op. */
    apos = calloc(nops + 1, sizeof(*apos));
    bpos = calloc(nops + 1, sizeof(*bpos));
    if (apos == NULL || bpos == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    for (j = 0, ai = 0, bi = 0; j < nops; j++) {
        apos[j] = ai;
        bpos[j] = bi;
        ai += ops[j] != OP_INS;
        bi += ops[j] != OP_DEL;
    }
    apos[nops] = ai;
    bpos[nops] = bi;

    while (i < nops && rc == AGENT_OK) {
        while (i < nops && ops[i] == OP_EQ)
            i++;
        if (i == nops)
            break;
        /* A hunk: changes joined while fewer than 2*context equal lines separate them. */
        hs = i > WCS_DIFF_CONTEXT ? i - WCS_DIFF_CONTEXT : 0;
        last_change = i;
        j = i;
        while (j < nops) {
            if (ops[j] != OP_EQ) {
                last_change = j;
                j++;
                continue;
            }
            if (j - last_change > 2 * WCS_DIFF_CONTEXT)
                break;
            j++;
        }
        he = last_change + 1 + WCS_DIFF_CONTEXT;
        if (he > nops)
            he = nops;
        a0 = apos[hs];
        b0 = bpos[hs];
        ac = apos[he] - a0;
        bc = bpos[he] - b0;
        rc = buf_puts(out, "@@ ");
        if (rc == AGENT_OK)
            rc = put_range(out, '-', a0, ac);
        if (rc == AGENT_OK)
            rc = buf_putc(out, ' ');
        if (rc == AGENT_OK)
            rc = put_range(out, '+', b0, bc);
        if (rc == AGENT_OK)
            rc = buf_puts(out, " @@\n");
        for (j = hs; j < he && rc == AGENT_OK; j++) {
            if (ops[j] == OP_EQ)
                rc = put_line(out, ' ', &a[apos[j]]);
            else if (ops[j] == OP_DEL)
                rc = put_line(out, '-', &a[apos[j]]);
            else
                rc = put_line(out, '+', &b[bpos[j]]);
        }
        i = he;
    }
out:
    free(apos);
    free(bpos);
    return rc;
}

/*
 * Within each run of changed lines, the removed lines come first, then the
 * added ones (as GNU diff prints them); any order is a valid edit, this one
 * reads best.
 */
static void
normalise_runs(unsigned char *ops, size_t n)
{
    size_t i = 0, s, dels, j;

    while (i < n) {
        if (ops[i] == OP_EQ) {
            i++;
            continue;
        }
        s = i;
        dels = 0;
        while (i < n && ops[i] != OP_EQ)
            dels += ops[i++] == OP_DEL;
        for (j = s; j < i; j++)
            ops[j] = j - s < dels ? OP_DEL : OP_INS;
    }
}

enum agent_rc
wcs_diff_unified(const char *label, const char *a, size_t alen, const char *b, size_t blen,
                 struct buf *out)
{
    struct dline *la = NULL, *lb = NULL;
    unsigned char *ops = NULL;
    size_t na, nb, pre = 0, suf = 0, nops, j, mid;
    size_t start_len = out->len;
    int nomem = 0;
    enum agent_rc rc = AGENT_OK;

    if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
        return AGENT_OK;
    if (label == NULL)
        label = "file";
    while (*label == '/')
        label++;
    la = to_lines(alen > 0 ? a : "", alen, &na);
    lb = to_lines(blen > 0 ? b : "", blen, &nb);
    ops = malloc(na + nb + 1);
    if (la == NULL || lb == NULL || ops == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    /* The common start and end need no search. */
    while (pre < na && pre < nb && line_eq(&la[pre], &lb[pre]))
        pre++;
    while (suf < na - pre && suf < nb - pre && line_eq(&la[na - 1 - suf], &lb[nb - 1 - suf]))
        suf++;
    for (j = 0; j < pre; j++)
        ops[j] = OP_EQ;
    mid = myers(la + pre, na - pre - suf, lb + pre, nb - pre - suf, ops + pre, &nomem);
    if (nomem) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    if (mid == (size_t)-1) {
        /* Too different: the whole middle goes, the new middle comes. */
        mid = 0;
        for (j = 0; j < na - pre - suf; j++)
            ops[pre + mid++] = OP_DEL;
        for (j = 0; j < nb - pre - suf; j++)
            ops[pre + mid++] = OP_INS;
    }
    nops = pre + mid;
    for (j = 0; j < suf; j++)
        ops[nops++] = OP_EQ;
    normalise_runs(ops, nops);

    rc = buf_printf(out, "--- a/%s\n+++ b/%s\n", label, label);
    if (rc == AGENT_OK)
        rc = emit_hunks(ops, nops, la, lb, out);
out:
    if (rc != AGENT_OK && out->data != NULL) {
        out->len = start_len;
        out->data[start_len] = '\0';
    }
    free(la);
    free(lb);
    free(ops);
    return rc;
}
