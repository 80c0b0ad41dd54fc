/*
 * log: the agent's only writer of diagnostics (stderr).
 *
 * Text lines look like "wcs-agent: imds: token request: HTTP 403"; with
 * JOURNAL_STREAM set each line starts with a "<N>" syslog priority; the JSON
 * format writes one object per line with ts, level, step and msg.
 *
 * Every line passes through the redaction registry first: any registered
 * secret value that occurs in it is replaced by "***" (redaction by value).
 * Logging never changes errno.
 */
#ifndef AGENT_CORE_LOG_H
#define AGENT_CORE_LOG_H

#include <stddef.h>

#include "core/rc.h"

enum log_level {
    LOG_LVL_ERR,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG,
    LOG_LVL_TRACE,
    LOG_LVL__MAX
};

enum log_format {
    LOG_FMT_TEXT,
    LOG_FMT_JSON
};

/*
 * verbosity: -1 quiet (errors only), 0 default (info), 1 debug, 2+ trace.
 * Reads JOURNAL_STREAM to decide on the <N> prefix.
 */
void log_init(int verbosity, enum log_format fmt);

/* What log_init() was given (a child of the agent is started with the same options). */
int log_get_verbosity(void);

enum log_format log_get_format(void);

/* Sends the lines to fd instead of stderr (tests); -1 restores stderr. */
void log_set_fd(int fd);

/* The step that later lines belong to (a static string), or NULL. */
void log_set_step(const char *step);

/* The step set with log_set_step(), or NULL. */
const char *log_get_step(void);

/* 1 when a message at this level would be written. */
int log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Error with ": strerror(errno)" appended. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The shortest line of a multi-line secret that is redacted on its own. */
#define LOG_REDACT_LINE_MIN 8

/*
 * The last error-level message (redacted, without prefix or step), "" when
 * none was logged since log_last_error_clear(): the innermost cause of a
 * failure that an outer step describes in its own words (design.md §8.6).
 */
const char *log_last_error(void);

void log_last_error_clear(void);

/*
 * Registers a secret value (copied; wiped when removed) so that it never
 * appears in a log line or anything passed through log_redact().  Its
 * variants are registered too: the value without leading and trailing
 * blanks (space, tab, CR, LF: a file's trailing newline), and, for a
 * multi-line value, every line of at least LOG_REDACT_LINE_MIN bytes
 * (trimmed), because a child's output is logged line by line.  Values of
 * fewer than 1 byte are ignored.  Returns AGENT_ERR_NOMEM on failure.
 */
enum agent_rc log_redact_add(const void *value, size_t len);

/* Forgets (and wipes) every registered value. */
void log_redact_clear(void);

/*
 * The progress line of a finished step, at info level (the step is the one
 * set with log_set_step): text "STEP: RESULT (N ms): DETAIL"; in JSON, msg
 * is RESULT and "result", "duration_ms" and "detail" are fields of their
 * own.  detail is redacted like every message.
 */
void log_step_progress(const char *result, long long duration_ms, const char *detail);

/*
 * A malloc'd copy of s with every registered secret replaced by "***";
 * NULL on out of memory.  Used for the state file and child output.
 */
char *log_redact(const char *s);

#endif
