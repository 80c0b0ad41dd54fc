#include "wcs/configure.h"

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

#include "core/diff.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safepath.h"
#include "core/str.h"
#include "wcs/props.h"

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
 * Refuses a path that someone other than root could redirect (core/safepath:
 * a link in the group-writable conf/ folder, a component owned by another
 * user); the links of a trusted path are followed.
 */
enum agent_rc
wcs_configure_resolve(const char *path, char **real, struct stat *st)
{
    char why[512];
    enum agent_rc rc;

    rc = safepath_resolve(path, real, why, sizeof(why));
    if (rc == AGENT_ERR_ABSENT) {
        log_errx("configure: %s: not found (is WCS installed at wcs.home?): %s", path, why);
        return rc;
    }
    if (rc == AGENT_ERR_INVAL) {
        log_errx("configure: %s: refused: %s; make it a root-owned file", path, why);
        return rc;
    }
    if (rc != AGENT_OK) {
        log_errx("configure: %s: %s", path, why[0] != '\0' ? why : agent_rc_str(rc));
        return rc;
    }
    if (stat(*real, st) == -1) {
        log_err("configure: %s: stat", *real);
        free(*real);
        *real = NULL;
        return AGENT_ERR_IO;
    }
    return AGENT_OK;
}

enum agent_rc
wcs_configure_read(const char *path, struct buf *out)
{
    enum agent_rc rc;

    buf_init(out, WCS_CONF_MAX);
    rc = fileio_read_regular(path, out);
    if (rc == AGENT_ERR_ABSENT)
        log_errx("configure: %s: not found", path);
    return rc;
}

/* The common end of both configure functions: compare, diff, back up, replace. */
enum agent_rc
wcs_configure_commit(const char *label, const char *real, const struct stat *st,
                     const struct buf *old, const struct buf *new, int dry_run, struct buf *diff,
                     int *changed)
{
    enum agent_rc rc;
    struct buf bak;

    if (old->len == new->len && (old->len == 0 || memcmp(old->data, new->data, old->len) == 0)) {
        *changed = 0;
        return AGENT_OK;
    }
    if (diff != NULL) {
        rc = diff_unified(label, old->data, old->len, new->data, new->len, diff);
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
        log_debug("configure: %s updated (previous version in %s.bak)", real, real);
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
    rc = wcs_configure_resolve(path, &real, &st);
    if (rc != AGENT_OK)
        goto out;
    rc = wcs_configure_read(real, &old);
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
    rc = wcs_configure_commit(path, real, &st, &old, &new, dry_run, diff, changed);
out:
    props_free(p);
    buf_cleanup(&old);
    buf_cleanup(&new);
    free(real);
    return rc;
}
