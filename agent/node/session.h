/*
 * session: a run_ctx for a command that acts on the node outside the boot
 * pipeline (drain, undrain, watch): the configuration with the user-data
 * overlay, the instance facts, the state folder; no run deadline (a drain
 * may take hours, watch runs for days: each call has its own timeouts).
 */
#ifndef AGENT_NODE_SESSION_H
#define AGENT_NODE_SESSION_H

#include "core/rc.h"
#include "node/ctx.h"

/*
 * Fills *ctx (zeroed here; ro is borrowed and kept).  Configuration errors
 * are logged (AGENT_ERR_CONFIG); IMDS failures give their code.  Release
 * with session_close() in every case.
 */
enum agent_rc session_open(const struct run_env *env, struct run_opts *ro, struct run_ctx *ctx);

void session_close(struct run_ctx *ctx);

#endif
