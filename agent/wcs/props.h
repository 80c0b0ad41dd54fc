/*
 * props: a line-model editor for Java-style .properties files
 * (flashphoner.properties, wcs-core.properties).
 *
 * The file is held as a list of logical entries, each keeping its exact
 * physical bytes: comments, blank lines, continuation lines and the line
 * terminator ("\n", "\r\n", "\r", or none at the end of the file).  Parsing
 * then serialising an untouched file gives back the same bytes, whatever
 * they are.  Only the entries an edit touches are rewritten.
 *
 * Keys and values are read as java.util.Properties.load() reads them:
 * leading whitespace (space, tab, form feed) is skipped; a line whose first
 * other character is '#' or '!' is a comment; the key ends at the first
 * unescaped '=', ':' or whitespace; whitespace, then at most one '=' or
 * ':', then whitespace separate key and value; a line ending in an odd
 * number of backslashes continues on the next line, whose leading
 * whitespace is dropped; escapes \t \n \r \f and \uXXXX are decoded, any
 * other \x gives x.  The last occurrence of a key wins.
 *
 * Character set: bytes are taken as UTF-8 (as load(Reader) with a UTF-8
 * reader would).  Non-ASCII bytes pass through unchanged both ways; \uXXXX
 * escapes decode to UTF-8 (a surrogate pair to one 4-byte sequence, a lone
 * surrogate to '?', as Java's UTF-8 encoder does).  Values written by
 * props_set keep non-ASCII as UTF-8 bytes, not \uXXXX: a reader using
 * load(InputStream), which is ISO-8859-1, would see such a value mangled,
 * so prefer ASCII values.  A malformed \uXXXX makes Java's load() throw
 * for the whole file; here it only makes props_get of that value fail
 * with AGENT_ERR_PARSE (and an entry with such a key never matches).
 *
 * Keys given to props_get/set/remove/count are decoded keys (the Java
 * strings, as UTF-8), compared byte for byte with each entry's decoded key,
 * so "ip", "i\p" and "\u0069p" in the file are the same key.  A NULL key
 * makes props_get, props_set and props_remove return AGENT_ERR_INVAL and
 * props_count 0.
 *
 * props never logs: the caller knows the file name and reports errors.
 */
#ifndef AGENT_WCS_PROPS_H
#define AGENT_WCS_PROPS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/rc.h"

/* The largest input props_parse accepts, in bytes. */
#define PROPS_MAX_SIZE (4u * 1024u * 1024u)

/*
 * The most entries props_parse accepts: logical lines holding a key, and
 * runs of blank and comment lines between them (a real flashphoner.properties
 * has a few hundred).  It bounds the memory a large file of short lines takes.
 */
#define PROPS_MAX_ENTRIES 65536u

/* The comment line written once before the first key the agent appends. */
#define PROPS_MARKER "# --- set by wcs-agent ---"

struct props;

/*
 * Parses len bytes of data (need not be NUL-terminated; any bytes, NUL
 * included) into a new struct props, stored in *out; the data is copied,
 * so the caller keeps ownership of it.  Never fails on content, only on
 * size: AGENT_ERR_TOOBIG when len > PROPS_MAX_SIZE or the file has more
 * than PROPS_MAX_ENTRIES entries; AGENT_ERR_NOMEM.  *out is untouched on
 * failure.  Free the result with props_free().
 */
enum agent_rc props_parse(const char *data, size_t len, struct props **out);

/* Releases p; accepts NULL. */
void props_free(struct props *p);

/*
 * Appends the file's bytes to out (owned by the caller): the original
 * bytes for an untouched parse.  AGENT_ERR_TOOBIG when they do not fit in
 * out's max, AGENT_ERR_NOMEM; out is unchanged on failure.
 */
enum agent_rc props_serialise(const struct props *p, struct buf *out);

/*
 * Appends the effective (last occurrence's) decoded value of key to value
 * (owned by the caller).  The value may hold a NUL byte (from \u0000), so
 * use value->len.  Returns AGENT_ERR_ABSENT when no active line has the
 * key, AGENT_ERR_PARSE when that value holds a malformed \uXXXX escape,
 * AGENT_ERR_TOOBIG when it does not fit in value's max, AGENT_ERR_NOMEM;
 * value is unchanged on failure.
 */
enum agent_rc props_get(const struct props *p, const char *key, struct buf *value);

/* The number of active entries (logical lines) whose decoded key is key. */
size_t props_count(const struct props *p, const char *key);

/*
 * Sets key to value (both borrowed), so that exactly one active line holds
 * the key afterwards:
 * - when active lines for key exist, the last one is rewritten, unless its
 *   value already decodes to value: it keeps its leading whitespace, its
 *   key spelling and separator ("key = old" becomes "key = new") and its
 *   line terminator, and becomes one physical line; earlier active lines
 *   for key are deleted; commented-out lines are never touched;
 * - otherwise "key=value" is appended at the end of the file, after a
 *   PROPS_MARKER line that is added once (and reused by later appends);
 *   an unterminated last line first gets the file's dominant terminator,
 *   which the new lines use too, and a last line still continuing (ending
 *   in a backslash) is first closed by a blank line so that it cannot
 *   swallow the new lines.
 * The value is escaped so that Java reads it back exactly: backslash as
 * "\\", a leading space, tab or form feed as "\ ", "\t", "\f", a leading
 * '=' or ':' as "\=", "\:"; an appended key also gets '=', ':', '#', '!',
 * space, tab and form feed escaped.
 * Returns AGENT_ERR_INVAL (p unchanged) when key is empty or key or value
 * holds CR, LF or NUL (no injection of extra lines), AGENT_ERR_TOOBIG when
 * either is longer than PROPS_MAX_SIZE, AGENT_ERR_NOMEM (p may then hold
 * part of the edit but stays consistent).
 */
enum agent_rc props_set(struct props *p, const char *key, const char *value);

/* As props_set with explicit lengths, so a NUL inside is seen (and refused). */
enum agent_rc props_setn(struct props *p, const char *key, size_t key_len, const char *value,
                         size_t value_len);

/*
 * Deletes every active entry (with all its continuation lines) whose
 * decoded key is key; comments stay.  Returns AGENT_ERR_ABSENT when there
 * was none (p unchanged).
 */
enum agent_rc props_remove(struct props *p, const char *key);

/*
 * 1 when an edit since props_parse rewrote, deleted or added an entry (a
 * later edit may have restored the same bytes; compare them when it matters).
 */
int props_changed(const struct props *p);

#endif
