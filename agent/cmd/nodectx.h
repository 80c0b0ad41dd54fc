/*
 * nodectx: what the commands beyond run share to reach this node: the
 * configuration with user data, the instance's facts and the AWS client.
 * Reads only: no file is created, no lock taken.
 */
#ifndef AGENT_CMD_NODECTX_H
#define AGENT_CMD_NODECTX_H

#include "core/rc.h"
#include "node/ctx.h"

/*
 * Fills ctx (zeroed here; ro is the options it points at): phase-1 config,
 * then with IMDS the facts and the full config.  need_facts 0: IMDS being
 * unreachable is not an error (ctx->disc.have_facts stays 0).
 */
enum agent_rc nodectx_open(const struct run_env *env, struct run_ctx *ctx, struct run_opts *ro,
                           int need_facts);

void nodectx_close(struct run_ctx *ctx);

/* The state folder: --state-dir or agent.state_dir. */
const char *nodectx_state_dir(const struct run_ctx *ctx);

#endif
