/*
 * service: the WCS service commands of the service step (design.md §1,
 * §3.2): wcs.status_command, wcs.enable_command and wcs.restart_command,
 * each an argv run through spawn (posix_spawn, no shell, minimal
 * environment, timeout, captured output).
 *
 * wcs_command_argv() turns a command string into that argv: {service} and
 * {wcs_home} are replaced (config/ has usually expanded them already; a
 * leftover is replaced here), then the string is split on spaces and tabs.
 */
#ifndef AGENT_WCS_SERVICE_H
#define AGENT_WCS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "core/spawn.h"

/* The most output of a service command that is kept. */
#define WCS_SERVICE_OUTPUT_MAX (64u * 1024u)

/* The timeout of the status and enable commands (the restart's is the caller's). */
#define WCS_SERVICE_QUICK_TIMEOUT_MS 30000

/*
 * Expands "{service}" to service and "{wcs_home}" to wcs_home (either may be
 * NULL: that placeholder is then left as it is) in cmd, and splits the
 * result into a NULL-terminated argv stored in *out (free with
 * str_argv_free()).  An empty or blank cmd gives *out = NULL and AGENT_OK
 * (the enable command may be empty: skip it).  Returns AGENT_OK;
 * AGENT_ERR_INVAL for cmd NULL; AGENT_ERR_TOOBIG when the expansion is over
 * 4096 bytes; AGENT_ERR_NOMEM.  Never logs.
 */
enum agent_rc wcs_command_argv(const char *cmd, const char *service, const char *wcs_home,
                               char ***out);

/*
 * Runs the status command (argv, borrowed) with timeout_ms (0:
 * WCS_SERVICE_QUICK_TIMEOUT_MS).  *active = 1 when it exited 0 (WCS is
 * running), 0 when it exited non-zero (systemctl is-active: 3 = inactive).
 * Returns AGENT_OK; AGENT_ERR_INVAL for an empty argv; AGENT_ERR_IO when it
 * could not be started; AGENT_ERR_TIMEOUT; AGENT_ERR_CHILD when it was
 * killed by a signal.  Errors are logged once.
 */
enum agent_rc wcs_service_is_active(const char *const *argv, int64_t timeout_ms, int *active);

/*
 * Runs the enable command (argv, borrowed; NULL or empty: nothing is run,
 * AGENT_OK) with timeout_ms (0: WCS_SERVICE_QUICK_TIMEOUT_MS).  Returns
 * AGENT_OK when it exited 0; AGENT_ERR_CHILD (non-zero exit or signal; the
 * output is logged, reason set); AGENT_ERR_TIMEOUT; AGENT_ERR_IO.
 * reason[cap] (may be NULL when cap is 0) gets a short redacted reason on
 * failure ("exit status 1: <last output line>", "killed by signal 9",
 * "<argv[0]> timed out after N ms", "<argv[0]> could not be started"), ""
 * on success.
 */
enum agent_rc wcs_service_enable(const char *const *argv, int64_t timeout_ms, char *reason,
                                 size_t cap);

/*
 * Runs the restart command (argv, borrowed, not empty) with timeout_ms (> 0,
 * 0: no timeout).  Returns and fills reason as wcs_service_enable();
 * AGENT_ERR_INVAL for an empty argv.
 */
enum agent_rc wcs_service_restart(const char *const *argv, int64_t timeout_ms, char *reason,
                                  size_t cap);

/* wcs_run_command flag: output at debug level; a non-zero exit is not logged as a failure. */
#define WCS_RUN_QUIET 0x1

/*
 * The common runner of this module and licence.c: runs o->argv with
 * o->stdin_data/stdin_len, o->timeout_ms and o->cwd (output_max and env are
 * set here: WCS_SERVICE_OUTPUT_MAX and spawn's minimal environment), logs
 * each non-empty output line as "<what>: <line>" (redacted) at info level,
 * or at warning level when the command failed, or at debug level with
 * WCS_RUN_QUIET, and fills reason[cap] as above.  *exit_code (may be NULL)
 * gets the exit status, or -1 when the child did not exit normally.
 * Returns AGENT_OK (exit 0); AGENT_ERR_CHILD (non-zero exit or signal);
 * AGENT_ERR_TIMEOUT; AGENT_ERR_IO (not started); AGENT_ERR_INVAL (empty
 * argv).  A failure is logged once: a non-zero exit or a signal as
 * "<what>: <reason>" (a non-zero exit not at all with WCS_RUN_QUIET), a
 * start failure or a timeout by spawn.
 */
enum agent_rc wcs_run_command(const char *what, const struct spawn_opts *o, unsigned flags,
                              int *exit_code, char *reason, size_t cap);

#endif
