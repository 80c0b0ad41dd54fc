#include "cmd/nodectx.h"

#include <string.h>

#include "core/log.h"
#include "node/discover.h"

enum agent_rc
nodectx_open(const struct run_env *env, struct run_ctx *ctx, struct run_opts *ro, int need_facts)
{
    struct agent_config *full = NULL;
    enum agent_rc rc;

    memset(ctx, 0, sizeof(*ctx));
    memset(ro, 0, sizeof(*ro));
    ctx->env = env;
    ctx->opts = ro;
    rc = discover_load_config(env, NULL, &ctx->cfg);
    if (rc != AGENT_OK)
        return rc;
    deadline_in(&ctx->deadline, ctx->cfg->agent.deadline_s * 1000);
    rc = discover_facts(ctx->cfg, &ctx->deadline, &ctx->disc);
    if (rc != AGENT_OK)
        return need_facts ? rc : AGENT_OK;
    rc = discover_load_config(env, &ctx->disc, &full);
    if (rc != AGENT_OK)
        return rc;
    config_free(ctx->cfg);
    ctx->cfg = full;
    return AGENT_OK;
}

void
nodectx_close(struct run_ctx *ctx)
{
    run_aws_cleanup(ctx);
    discovery_cleanup(&ctx->disc);
    config_free(ctx->cfg);
    ctx->cfg = NULL;
}

const char *
nodectx_state_dir(const struct run_ctx *ctx)
{
    return ctx->env->state_dir != NULL ? ctx->env->state_dir : ctx->cfg->agent.state_dir;
}
