/*
 * seal: prepares the instance for "Create Image" (design.md §2): removes
 * what must not be baked into an AMI, so that instances launched from it
 * boot as first boots.
 */
#ifndef AGENT_CMD_SEAL_H
#define AGENT_CMD_SEAL_H

#include "node/env.h"

/*
 * Removes, under the run lock, <state_dir>/state.json, state.json.previous,
 * temporary files left by interrupted atomic writes, and the download cache
 * <state_dir>/download/, the .bak copies configure wrote beside
 * flashphoner.properties and wcs-core.properties, the keystore built from
 * the tls.* secrets (when tls.certificate or tls.private_key is set), then
 * the lock file itself.  Prints one line per removed path to stdout
 * ("removed PATH", for a WCS file "removed PATH (what it was)"), or
 * "nothing to remove".
 * Idempotent.  Returns the exit status: 0, that of AGENT_ERR_BUSY when a
 * run holds the lock, 64 for any argument.
 */
int cmd_seal(const struct run_env *env, int argc, char **argv);

#endif
