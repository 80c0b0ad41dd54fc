/*
 * doctor: `wcs-agent doctor [--json]` (design.md §8.7), a read-only
 * diagnosis of this node's set-up.  Each check is one function in a table;
 * it answers ok, fail (with a one-line fix) or skip.  Nothing is written,
 * created or changed; AWS is asked with read-only calls and DryRun only.
 * Exit 0 when no check fails, 1 otherwise.
 */
#ifndef AGENT_CMD_DOCTOR_H
#define AGENT_CMD_DOCTOR_H

#include "node/env.h"

int cmd_doctor(const struct run_env *env, int argc, char **argv);

#endif
