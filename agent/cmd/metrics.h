/*
 * metrics: `wcs-agent metrics [--once]` publishes the metrics of design.md
 * §8.4 once, or every metrics.period until SIGTERM or SIGINT.
 */
#ifndef AGENT_CMD_METRICS_H
#define AGENT_CMD_METRICS_H

#include "node/env.h"

int cmd_metrics(const struct run_env *env, int argc, char **argv);

#endif
