/*
 * heap: the JVM heap of WCS (wcs.heap, design.md §3.2; wcs.md §2), set as
 * -Xms/-Xmx in wcs-core.properties by the configure step, written like
 * flashphoner.properties (wcs/configure.h: .bak, atomic, owner and mode
 * kept, diff).
 */
#ifndef AGENT_WCS_HEAP_H
#define AGENT_WCS_HEAP_H

#include <stddef.h>

#include "core/buf.h"
#include "core/rc.h"

/* The smallest heap wcs.heap = N% may give, in MiB (refused below). */
#define WCS_HEAP_MIN_MB 64

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

#endif
