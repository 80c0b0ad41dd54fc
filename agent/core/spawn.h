/*
 * spawn: runs a child with posix_spawn and an argv (never a shell), an
 * optional stdin feed, a timeout, captured output and a minimal environment.
 */
#ifndef AGENT_CORE_SPAWN_H
#define AGENT_CORE_SPAWN_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

struct spawn_opts {
    const char *const *argv; /* argv[0] is the program: a path, or a name looked up in PATH */
    const char *path;        /* the program file instead of argv[0] (/proc/self/exe); NULL: none */
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
 * Starts a child and returns at once, for a caller that must go on working
 * while it runs (watch's reconcile).  The child shares the agent's stdout
 * and stderr (its lines go where the agent's go); stdin is /dev/null, every
 * other descriptor is closed, signals are at their defaults and it leads its
 * own process group.  o->argv, o->path, o->env and o->cwd are used;
 * stdin_data, timeout_ms and output_max are not.  AGENT_ERR_IO (logged)
 * when it could not be started.
 */
enum agent_rc spawn_start(const struct spawn_opts *o, pid_t *pid);

/*
 * Reaps a child of spawn_start() if it has ended, without waiting: 1 with
 * r's exited, exit_code and signal set (r is zeroed first; its output stays
 * empty), 0 while it runs, -1 on an error of waitpid (logged; the child is
 * gone or not ours).
 */
int spawn_reap(pid_t pid, struct spawn_result *r);

/* Sends sig to a child of spawn_start() (its process group). */
void spawn_signal(pid_t pid, int sig);

/*
 * The last non-empty line of a child's output, cut to 159 bytes and
 * redacted (log_redact), into out[cap]; "" when there is none.
 */
void spawn_last_line(const struct buf *output, char *out, size_t cap);

#endif
