/*
 * configure: the rendering and the writing of the configure step (design.md
 * §1, §3.2).
 *
 * From the effective config values (placeholders already expanded by
 * config/) and the discovered addresses, wcs_render_edits() computes the
 * list of edits for flashphoner.properties; wcs_configure_props() applies
 * such a list to the file with the props line-model editor, keeping
 * comments, order and unknown lines, and writes it only when its bytes
 * change, after writing "<file>.bak" (the previous bytes, same owner and
 * mode), replacing the file atomically and keeping its owner and mode.
 * wcs/heap.c edits wcs-core.properties the same way, with the writing
 * helpers at the end of this header.
 *
 * The CDN keys (wcs.md §5, verified in the Flashphoner CDN pages):
 *   cdn.role unset       nothing (every cdn_* key is left alone)
 *   off                  cdn_enabled=false
 *   origin|edge|transcoder
 *                        cdn_enabled=true, cdn_role=<role>, cdn_ip=<cdn.ip>,
 *                        cdn_point_of_entry=<cdn.point_of_entry> (required
 *                        for edge and transcoder; for an origin only when
 *                        given, and removed from the file when not given, so
 *                        that a stale entry from an image does not survive),
 *                        cdn_groups=<cdn.groups> when given (removed when
 *                        not given)
 * then every [properties] key: set verbatim, or removed when its value is "".
 *
 * This module never calls AWS and gets no secret: values are plain strings.
 * Values are logged only as key names; the diff holds values, so a caller
 * that prints it passes it through log_redact() first.
 */
#ifndef AGENT_WCS_CONFIGURE_H
#define AGENT_WCS_CONFIGURE_H

#include <sys/stat.h>

#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/rc.h"

/* The largest file wcs_configure_props() and wcs_configure_heap() (wcs/heap.h) read. */
#define WCS_CONF_MAX (4u * 1024u * 1024u)

/* The longest key and value accepted in an edit, in bytes. */
#define WCS_EDIT_KEY_MAX   256
#define WCS_EDIT_VALUE_MAX (64u * 1024u)

/* One edit of a properties file: value NULL removes the key. */
struct wcs_edit {
    char *key;   /* owned */
    char *value; /* owned; NULL: remove */
};

/* An ordered list of edits; a key appears at most once (a later set replaces it in place). */
struct wcs_edits {
    struct wcs_edit *items;
    size_t n;
    size_t cap;
};

/* Prepares e, holding nothing. */
void wcs_edits_init(struct wcs_edits *e);

/* Releases every edit; e may be reused after wcs_edits_init(). Accepts NULL. */
void wcs_edits_cleanup(struct wcs_edits *e);

/*
 * Adds "set key to value" (value NULL: remove key) to e; both are copied.
 * An edit of the same key already in e is replaced in its place.  Returns
 * AGENT_ERR_INVAL when key is empty, longer than WCS_EDIT_KEY_MAX or holds
 * CR, LF, NUL or '=' / ':' / whitespace, or value is longer than
 * WCS_EDIT_VALUE_MAX or holds CR or LF (no injected lines); AGENT_ERR_NOMEM.
 * Never logs; e unchanged on failure.
 */
enum agent_rc wcs_edits_set(struct wcs_edits *e, const char *key, const char *value);

/* The edit for key in e, or NULL. */
const struct wcs_edit *wcs_edits_find(const struct wcs_edits *e, const char *key);

/* What wcs_render_edits() renders from (all borrowed, placeholders expanded). */
struct wcs_render_input {
    enum config_cdn_role role;
    const char *cdn_ip;              /* cdn.ip: required for origin, edge and transcoder */
    const char *point_of_entry;      /* cdn.point_of_entry, NULL when not given */
    const char *groups;              /* cdn.groups, NULL when not given */
    const char *local_ipv4;          /* discovered private address, NULL when unknown */
    const char *public_ipv4;         /* discovered public address, NULL when none */
    const struct config_prop *props; /* [properties] keys; value "" means remove */
    size_t n_props;
};

/*
 * Fills in from cfg (borrowed: in points into cfg, which must outlive it) and
 * the two discovered addresses (NULL when unknown).
 */
void wcs_render_input_from_config(const struct agent_config *cfg, const char *local_ipv4,
                                  const char *public_ipv4, struct wcs_render_input *in);

/*
 * Computes the edits for flashphoner.properties (table at the top) and
 * appends them to out (initialised by the caller, who frees it).
 *
 * Refused, with a one-line reason in reason[cap] (may be NULL when cap is
 * 0) that is also logged:
 *   - edge or transcoder without point_of_entry;
 *   - a role other than off without cdn_ip;
 *   - point_of_entry equal (case-insensitively) to cdn_ip, local_ipv4 or
 *     public_ipv4 (a node must not join the CDN through itself), or, for an
 *     origin, a loopback or unspecified address (127.x, localhost, ::1,
 *     0.0.0.0);
 *   - a [properties] key that names a key the cdn block sets to a value
 *     (cdn_enabled, cdn_role, cdn_ip, cdn_point_of_entry, cdn_groups while
 *     cdn.role is set): use the cdn.* keys;  a [properties] key the cdn
 *     block would only remove wins over the removal;
 *   - a key or value wcs_edits_set() refuses.
 * Returns AGENT_OK; AGENT_ERR_CONFIG for the refusals above; AGENT_ERR_INVAL
 * when in or out is NULL; AGENT_ERR_NOMEM.  On failure out may hold some of
 * the edits: clean it up.
 */
enum agent_rc wcs_render_edits(const struct wcs_render_input *in, struct wcs_edits *out,
                               char *reason, size_t cap);

/*
 * Applies edits to the properties file at path (a symbolic link is followed
 * and its target edited): reads it (at most WCS_CONF_MAX bytes), parses it
 * with props, sets each edit (value NULL: removes the key; a key already
 * absent is no change), serialises it.  When the bytes differ: *changed = 1,
 * the unified diff (diff_unified, labelled with path) is appended to
 * diff when diff is not NULL, and unless dry_run "<path>.bak" is written
 * with the previous bytes (same owner, group and mode as path), then path
 * is replaced atomically keeping its owner, group and mode.  When they do
 * not differ: *changed = 0 and nothing is written (path keeps its mtime).
 * Each edited key is logged at debug level by name only.
 *
 * Returns AGENT_OK; AGENT_ERR_ABSENT when path does not exist;
 * AGENT_ERR_TOOBIG when it is larger than WCS_CONF_MAX; AGENT_ERR_INVAL for
 * a refused edit (props_set: CR, LF or NUL); AGENT_ERR_IO (read or write
 * failure); AGENT_ERR_NOMEM; every failure is logged once with the path.
 * *changed is written only on success; path is untouched on failure (the
 * .bak may already hold the previous bytes).
 */
enum agent_rc wcs_configure_props(const char *path, const struct wcs_edits *edits, int dry_run,
                                  struct buf *diff, int *changed);

/*
 * The writing helpers of wcs_configure_props(), shared with wcs/heap.c.
 *
 * wcs_configure_resolve: follows the symbolic links of path so that the file
 * they name is edited (the links stay); *real is malloc'd, *st its stat.
 * AGENT_ERR_ABSENT when it does not exist, AGENT_ERR_INVAL when not a
 * regular file or refused by core/safepath (a link in a folder others may
 * write, a component owned by another user), AGENT_ERR_IO, AGENT_ERR_NOMEM;
 * logged.
 *
 * wcs_configure_read: reads path (a symbolic link there is refused) into out (initialised here, at
 * most WCS_CONF_MAX bytes); fileio_read's codes, AGENT_ERR_ABSENT logged.
 *
 * wcs_configure_commit: compares old and new; when they differ appends the
 * diff (labelled with label, the path the caller was given) to diff when
 * not NULL and, unless dry_run, writes "<real>.bak" with the old bytes and
 * replaces real atomically, both keeping st's owner, group and mode.
 * *changed says whether they differed.
 */
enum agent_rc wcs_configure_resolve(const char *path, char **real, struct stat *st);
enum agent_rc wcs_configure_read(const char *path, struct buf *out);
enum agent_rc wcs_configure_commit(const char *label, const char *real, const struct stat *st,
                                   const struct buf *old, const struct buf *new, int dry_run,
                                   struct buf *diff, int *changed);

#endif
