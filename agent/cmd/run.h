/*
 * run, plan: the command-line side of the boot pipeline (run/steps.h):
 * their options, then steps_run().
 */
#ifndef AGENT_CMD_RUN_H
#define AGENT_CMD_RUN_H

#include "node/env.h"

/* wcs-agent run [--only S1,S2] [--skip S1,S2] [--force] [--dry-run]: steps_run's exit status. */
int cmd_run(const struct run_env *env, int argc, char **argv);

/* wcs-agent plan: the same as run --dry-run. */
int cmd_plan(const struct run_env *env, int argc, char **argv);

#endif
