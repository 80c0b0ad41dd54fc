/*
 * version: the program's and its libraries' versions.
 */
#ifndef AGENT_CMD_VERSION_H
#define AGENT_CMD_VERSION_H

#include "node/env.h"

/* wcs-agent version: one line each for the agent, libcurl, cJSON, inih and expat; 0. */
int cmd_version(const struct run_env *env, int argc, char **argv);

#endif
