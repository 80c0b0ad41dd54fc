/*
 * licence: the engine of the licence step (design.md §1, §3.2).
 *
 * Runs the activation command (licence.command, default
 * {wcs_home}/bin/activation.sh; how WCS activates a licence is unconfirmed,
 * wcs.md §3) with the licence key on its stdin and nowhere else: not in its
 * argv, not in its environment (the child gets spawn's minimal PATH and
 * LANG).  The child's output is captured and logged line by line through
 * the redaction registry, so the caller registers the key with
 * log_redact_add() before calling.  The key is a secret: this module never
 * copies it outside the child's stdin pipe.
 */
#ifndef AGENT_WCS_LICENCE_H
#define AGENT_WCS_LICENCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"

/* The most output of the activation command that is kept (the rest is dropped). */
#define WCS_LICENCE_OUTPUT_MAX (64u * 1024u)

/* The largest key accepted, in bytes. */
#define WCS_LICENCE_KEY_MAX (64u * 1024u)

/*
 * Runs argv (NULL-terminated, borrowed: licence.command split with
 * str_split_argv after the caller expanded {wcs_home}) with key[0..len)
 * written to its stdin exactly as given (no newline added), then stdin
 * closed.  Output lines are logged at info level as "licence: <line>"
 * (secrets redacted).  Exit status 0 means activated.
 *
 * reason[cap] (may be NULL when cap is 0) gets a short redacted reason on
 * failure: "exit status 2: <last non-empty output line>", "exit status 2"
 * without output, "killed by signal 9", "<argv[0]> timed out after 60000
 * ms", "<argv[0]> could not be started"; "" on success.
 *
 * Returns AGENT_OK when the command exited 0; AGENT_ERR_CHILD when it
 * exited non-zero or was killed by a signal; AGENT_ERR_TIMEOUT when it was
 * killed for timeout_ms (> 0; 0 means no timeout); AGENT_ERR_IO when it
 * could not be started (logged by spawn); AGENT_ERR_INVAL when argv is
 * empty, key is NULL, len is 0 or over WCS_LICENCE_KEY_MAX.  Failures are
 * logged once.
 */
enum agent_rc wcs_licence_activate(const char *const *argv, const void *key, size_t len,
                                   int64_t timeout_ms, char *reason, size_t cap);

#endif
