/*
 * diff: a unified diff of two texts (Myers' O(ND) algorithm on hashed
 * lines), as `diff -u` prints it.  Pure: no I/O, no logging.  The configure
 * step prints it for --dry-run and logs it at debug level.
 */
#ifndef AGENT_CORE_DIFF_H
#define AGENT_CORE_DIFF_H

#include <stddef.h>

#include "core/buf.h"
#include "core/rc.h"

/* Lines of context around each hunk of diff_unified(). */
#define DIFF_CONTEXT 3

/*
 * Appends to out a unified diff (context DIFF_CONTEXT) from a[0..alen)
 * to b[0..blen), with the header "--- a/<label>\n+++ b/<label>\n" (leading
 * slashes of label dropped), "@@ -l,n +l,n @@" hunks and " ", "-", "+"
 * lines, and "\ No newline at end of file" after a last line without one.
 * Lines end at "\n" and keep their "\r".  Nothing is appended when the two
 * are equal.  Very different inputs (more than 1024 changed lines after the
 * common start and end) give one hunk that replaces the whole middle.
 * Returns AGENT_OK; AGENT_ERR_TOOBIG past out's max; AGENT_ERR_NOMEM; out
 * is unchanged on failure.
 */
enum agent_rc diff_unified(const char *label, const char *a, size_t alen, const char *b,
                           size_t blen, struct buf *out);

/* The number of lines of s[0..n): "\n"-terminated ones plus a last one without. */
size_t diff_count_lines(const char *s, size_t n);

#endif
