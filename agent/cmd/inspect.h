/*
 * inspect: the read-only commands `metadata` and `check-config`.
 */
#ifndef AGENT_CMD_INSPECT_H
#define AGENT_CMD_INSPECT_H

#include "core/rc.h"
#include "node/env.h"

/*
 * `metadata [--json] [PATH]`: the discovered facts (aligned "name: value"
 * lines, or one JSON object), or with PATH the raw IMDS value.  Prints to
 * stdout only.  AGENT_ERR_ABSENT when PATH does not exist.
 */
enum agent_rc inspect_metadata(const struct run_env *env, int json, const char *path);

/*
 * `check-config`: every layer, every error (then AGENT_ERR_CONFIG), and the
 * effective config with secrets masked on stdout.  When IMDS cannot be
 * reached, the files alone are checked and a line says that the user-data
 * layer was not checked.  Reads no secret value, calls nothing mutating.
 */
enum agent_rc inspect_check_config(const struct run_env *env);

#endif
