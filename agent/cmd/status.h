/*
 * status: the last or current run, from the state file (design.md §2, §4).
 */
#ifndef AGENT_CMD_STATUS_H
#define AGENT_CMD_STATUS_H

#include <stdint.h>

#include "core/rc.h"
#include "node/env.h"

struct status_opts {
    int json;          /* print the state document */
    int wait;          /* block until the run in progress ends */
    int64_t timeout_s; /* with wait: at most this long */
};

/*
 * Prints the status to stdout and sets *exit_status per the contract:
 * 0 the last run succeeded, 1 it failed (or was interrupted), 3 no run
 * recorded, 4 a run is in progress.  Returns AGENT_OK, or an error that
 * stopped it from reading the state (configuration, unreadable file).
 */
enum agent_rc status_command(const struct run_env *env, const struct status_opts *o,
                             int *exit_status);

#endif
