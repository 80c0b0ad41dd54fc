/*
 * watch: the long-running half (design.md §8.1), under
 * wcs-agent-watch.service: lifecycle, Spot and rebalance notices, drains.
 */
#ifndef AGENT_CMD_WATCH_H
#define AGENT_CMD_WATCH_H

#include "node/env.h"

/* wcs-agent watch: runs until SIGTERM (then drains within drain.stop_timeout) and returns 0. */
int cmd_watch(const struct run_env *env, int argc, char **argv);

#endif
