/*
 * fleet: `wcs-agent fleet [--json] [--watch]` (design.md §8.7): every target
 * of the configured target groups and classic ELBs with its health,
 * lifecycle state, wcs-agent:result tag and stats page (fetched in
 * parallel, 2 s each), then totals and the spread of connections.
 */
#ifndef AGENT_CMD_FLEET_H
#define AGENT_CMD_FLEET_H

#include "node/env.h"

int cmd_fleet(const struct run_env *env, int argc, char **argv);

#endif
