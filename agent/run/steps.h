/*
 * steps: the step table of design.md §1 and the pipeline that runs it.
 *
 * Every step is check -> act -> verify -> record: it returns AGENT_OK with
 * its record set to ok, changed or skipped (and a short detail), or an error
 * code with the record's error set.  The state file is written after every
 * step.  Steps that this build does not implement report `skipped` with the
 * detail "not available in this build", never `ok`.
 */
#ifndef AGENT_RUN_STEPS_H
#define AGENT_RUN_STEPS_H

#include "config/config.h"
#include "core/rc.h"
#include "node/env.h"
#include "node/state.h"

/*
 * Parses a comma-separated list of step names into a bitmask.
 * AGENT_ERR_USAGE (logged, naming the bad name and option) on an unknown name.
 */
enum agent_rc steps_parse_list(const char *list, const char *option, unsigned *mask);

/*
 * `run`: takes the lock, runs the pipeline, writes the state file, prints a
 * progress line per step and the summary line to stderr.  Returns the code
 * that decides the exit status (AGENT_ERR_CONFIG -> 78, temporary -> 75, ...).
 */
enum agent_rc steps_run(const struct run_env *env, const struct run_opts *opts);

/*
 * `plan` (`run --dry-run`): file diffs on stdout, everything else on
 * stderr; *pending is 1 when a step would change something (update,
 * configure, licence, tls, service), for --detailed-exitcode.
 */
enum agent_rc steps_plan(const struct run_env *env, const struct run_opts *opts, int *pending);

#endif
