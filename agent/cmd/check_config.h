/*
 * check_config: the read-only command `check-config`.
 */
#ifndef AGENT_CMD_CHECK_CONFIG_H
#define AGENT_CMD_CHECK_CONFIG_H

#include "node/env.h"

/*
 * wcs-agent check-config: every layer, every error (exit status 78), and
 * the effective config with secrets masked on stdout.  When IMDS cannot be
 * reached, the files alone are checked and a line says that the user-data
 * layer was not checked.  Reads no secret value, calls nothing mutating.
 */
int cmd_check_config(const struct run_env *env, int argc, char **argv);

#endif
