/*
 * spawn: runs a child with posix_spawn and an argv (never a shell), an
 * optional stdin feed, a timeout, captured output and a minimal environment.
 */
#ifndef AGENT_CORE_SPAWN_H
#define AGENT_CORE_SPAWN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

struct spawn_opts {
    const char *const *argv; /* argv[0] is the program: a path, or a name looked up in PATH */
    const void
        *stdin_data; /* written to the child's stdin, which is then closed; NULL: /dev/null */
    size_t stdin_len;
    int64_t timeout_ms; /* the child is killed (TERM, then KILL after 2 s) past it; 0: none */
    size_t output_max;  /* cap on captured stdout+stderr (the rest is drained and dropped) */
    const char *cwd;    /* working folder of the child, or NULL */
    const char *const
        *env; /* NULL: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin and LANG=C
               */
};

struct spawn_result {
    int exited;        /* 1 when the child exited normally */
    int exit_code;     /* its exit status when exited */
    int signal;        /* the signal that ended it, otherwise 0 */
    int timed_out;     /* 1 when it was killed for the timeout */
    int truncated;     /* 1 when output went past output_max */
    struct buf output; /* stdout and stderr interleaved */
};

/*
 * Runs the child to completion.  AGENT_OK when it ran (whatever its exit
 * status: look at r); AGENT_ERR_IO when it could not be started (logged),
 * AGENT_ERR_TIMEOUT when it was killed for the timeout, AGENT_ERR_INTR when
 * it was stopped because SIGTERM or SIGINT arrived (interrupt.h; r filled).
 * r must be released with spawn_result_cleanup() in every case.
 */
enum agent_rc spawn_run(const struct spawn_opts *o, struct spawn_result *r);

void spawn_result_cleanup(struct spawn_result *r);

/*
 * The last non-empty line of a child's output, cut to 159 bytes and
 * redacted (log_redact), into out[cap]; "" when there is none.
 */
void spawn_last_line(const struct buf *output, char *out, size_t cap);

#endif
