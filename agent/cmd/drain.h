/*
 * drain, undrain: the node out of service without cutting its calls, and
 * back (design.md §8.2), by hand.
 */
#ifndef AGENT_CMD_DRAIN_H
#define AGENT_CMD_DRAIN_H

#include "node/env.h"

/* wcs-agent drain [--timeout S] [--reason TEXT]: 0 drained or timed out, 1 a step failed. */
int cmd_drain(const struct run_env *env, int argc, char **argv);

/* wcs-agent undrain. */
int cmd_undrain(const struct run_env *env, int argc, char **argv);

#endif
