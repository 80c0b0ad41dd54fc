/*
 * metadata: the read-only command `metadata`: what IMDSv2 says about this
 * instance.
 */
#ifndef AGENT_CMD_METADATA_H
#define AGENT_CMD_METADATA_H

#include "node/env.h"

/*
 * wcs-agent metadata [--json] [PATH]: the discovered facts (aligned
 * "name: value" lines, or one JSON object), or with PATH the raw IMDS
 * value.  Prints to stdout only; user data is classified, never printed.
 * Returns the exit status (that of AGENT_ERR_ABSENT when PATH does not
 * exist; 64 for a usage error).
 */
int cmd_metadata(const struct run_env *env, int argc, char **argv);

#endif
