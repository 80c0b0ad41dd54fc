/*
 * cdn: the rendering half of the configure step (design.md §1, §3.2).
 *
 * From the effective config values (placeholders already expanded by
 * config/) and the discovered addresses, wcs_render_edits() computes the
 * list of edits for flashphoner.properties; wcs_configure_props() applies
 * such a list to the file with the props line-model editor, keeping
 * comments, order and unknown lines, and writes it only when its bytes
 * change.  wcs_configure_heap() sets -Xms/-Xmx in wcs-core.properties for
 * wcs.heap.  Both write "<file>.bak" (the previous bytes, same owner and
 * mode) before replacing the file atomically, keeping its owner and mode.
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
#ifndef AGENT_WCS_CDN_H
#define AGENT_WCS_CDN_H

#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/rc.h"

/* The largest file wcs_configure_props() and wcs_configure_heap() read. */
#define WCS_CONF_MAX (4u * 1024u * 1024u)

/* The longest key and value accepted in an edit, in bytes. */
#define WCS_EDIT_KEY_MAX   256
#define WCS_EDIT_VALUE_MAX (64u * 1024u)

/* Lines of context around each hunk of wcs_diff_unified(). */
#define WCS_DIFF_CONTEXT 3

/* The smallest heap wcs.heap = N% may give, in MiB (refused below). */
#define WCS_HEAP_MIN_MB 64

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
 * the unified diff (wcs_diff_unified, labelled with path) is appended to
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
 * Reads MemTotal (kB) from a /proc/meminfo-style file (path NULL:
 * /proc/meminfo) into *out_kb.  Returns AGENT_OK; AGENT_ERR_ABSENT (logged)
 * when the file or its MemTotal line is missing; AGENT_ERR_PARSE (logged)
 * for a malformed MemTotal line; AGENT_ERR_IO.
 */
enum agent_rc wcs_meminfo_total_kb(const char *path, long *out_kb);

/*
 * Turns a wcs.heap value into the JVM size written after -Xms/-Xmx, into
 * out[cap]:
 *   "4g", "512M", "1048576"  the number and unit as given, unit lower-cased
 *                            (k, m, g; none = bytes, as Java reads it)
 *   "50%"                    that share of mem_total_kb, rounded down to
 *                            whole MiB: "8011m"; at least WCS_HEAP_MIN_MB
 * Returns AGENT_OK; AGENT_ERR_ABSENT for "keep" (nothing to set);
 * AGENT_ERR_CONFIG for a malformed value, a share outside 1..100, a share
 * of an unknown memory size (mem_total_kb <= 0) or under WCS_HEAP_MIN_MB;
 * AGENT_ERR_TOOBIG when out is too small.  Never logs.
 */
enum agent_rc wcs_heap_value(const char *heap, long mem_total_kb, char *out, size_t cap);

/*
 * Sets the heap in wcs-core.properties (core_props_path), the file WCS's
 * bin/setenv.sh reads (wcs.md §2): lines that start with '-' (after
 * leading blanks) are options, those between "### SERVER OPTIONS ###" and
 * "### JVM OPTIONS ###" go to the server, all others to the JVM; '#'
 * starts a comment.  For heap = "keep" nothing is read or written
 * (*changed = 0).  Otherwise, in the JVM part, every option token that
 * starts with -Xms or -Xmx is removed (a line left without tokens is
 * deleted, comments stay), and the two lines "-Xms<size>" and
 * "-Xmx<size>" (the same size, from wcs_heap_value) are put where the first
 * removed token was, else right after the "### JVM OPTIONS ###" line, else
 * at the end (after a new "### JVM OPTIONS ###" line when the file has a
 * SERVER OPTIONS part that runs to its end).  New lines use the file's line
 * terminator ("\r\n" when most lines have it, else "\n").  Writing, dry_run,
 * diff and *changed work as in wcs_configure_props().
 *
 * Returns AGENT_OK; wcs_heap_value's AGENT_ERR_CONFIG (logged, naming
 * wcs.heap); AGENT_ERR_ABSENT, AGENT_ERR_TOOBIG, AGENT_ERR_IO,
 * AGENT_ERR_NOMEM as wcs_configure_props().
 */
enum agent_rc wcs_configure_heap(const char *core_props_path, const char *heap, long mem_total_kb,
                                 int dry_run, struct buf *diff, int *changed);

/*
 * Appends to out a unified diff (context WCS_DIFF_CONTEXT) from a[0..alen)
 * to b[0..blen), with the header "--- a/<label>\n+++ b/<label>\n" (leading
 * slashes of label dropped), "@@ -l,n +l,n @@" hunks and " ", "-", "+"
 * lines, and "\ No newline at end of file" after a last line without one.
 * Lines end at "\n" and keep their "\r".  Nothing is appended when the two
 * are equal.  Very different inputs (more than 1024 changed lines after the
 * common start and end) give one hunk that replaces the whole middle.
 * Returns AGENT_OK; AGENT_ERR_TOOBIG past out's max; AGENT_ERR_NOMEM; out
 * is unchanged on failure.
 */
enum agent_rc wcs_diff_unified(const char *label, const char *a, size_t alen, const char *b,
                               size_t blen, struct buf *out);

#endif
