/*
 * session: a run_ctx for a command that acts on the node outside the boot
 * pipeline (drain, undrain, watch, metrics, fleet, doctor): the
 * configuration with the user-data overlay, the instance facts, the state
 * folder's path.  By default no run deadline (a drain may take hours, watch
 * runs for days: each call has its own timeouts) and IMDS is required.
 */
#ifndef AGENT_NODE_SESSION_H
#define AGENT_NODE_SESSION_H

#include "core/rc.h"
#include "node/ctx.h"

enum session_flags {
    SESSION_MKDIR = 1,          /* create the state folder (commands that write state) */
    SESSION_FACTS_OPTIONAL = 2, /* IMDS unreachable is no error: ctx->disc.have_facts stays 0 */
    SESSION_DEADLINE = 4,       /* agent.deadline bounds the session (commands that end) */
};

/*
 * Fills *ctx (zeroed here; ro is zeroed, borrowed and kept), with
 * ctx->state_dir set (--state-dir, else agent.state_dir) and created only
 * with SESSION_MKDIR.  Configuration errors are logged (AGENT_ERR_CONFIG);
 * IMDS failures give their code (unless SESSION_FACTS_OPTIONAL).  Release
 * with session_close() in every case.
 */
enum agent_rc session_open(const struct run_env *env, struct run_opts *ro, struct run_ctx *ctx,
                           unsigned flags);

void session_close(struct run_ctx *ctx);

#endif
