/*
 * status: the last or current run, from the state file (design.md §2, §4).
 */
#ifndef AGENT_CMD_STATUS_H
#define AGENT_CMD_STATUS_H

#include "node/env.h"

/*
 * wcs-agent status [--json] [--wait] [--timeout SECONDS]: prints the status
 * to stdout and returns the exit status of the contract: 0 the last run
 * succeeded, 1 it failed (or was interrupted), 3 no run recorded, 4 a run
 * is in progress; or that of an error that stopped it from reading the
 * state (configuration, unreadable file); 64 for a usage error.
 */
int cmd_status(const struct run_env *env, int argc, char **argv);

#endif
