#include "node/session.h"

#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"

enum agent_rc
session_open(const struct run_env *env, struct run_opts *ro, struct run_ctx *ctx, unsigned flags)
{
    struct agent_config *full = NULL;
    enum agent_rc rc;

    memset(ctx, 0, sizeof(*ctx));
    memset(ro, 0, sizeof(*ro));
    ctx->env = env;
    ctx->opts = ro;
    deadline_none(&ctx->deadline);
    rc = discover_load_config(env, NULL, &ctx->cfg);
    if (rc != AGENT_OK)
        return rc;
    if (flags & SESSION_DEADLINE)
        deadline_in(&ctx->deadline, ctx->cfg->agent.deadline_s * 1000);
    rc = str_copy(ctx->state_dir, sizeof(ctx->state_dir),
                  env->state_dir != NULL ? env->state_dir : ctx->cfg->agent.state_dir);
    if (rc != AGENT_OK) {
        log_errx("state folder path too long");
        return rc;
    }
    if (flags & SESSION_MKDIR) {
        rc = fileio_mkdir_p(ctx->state_dir, 0700);
        if (rc != AGENT_OK) {
            log_errx("cannot create the state folder %s", ctx->state_dir);
            return rc;
        }
    }
    rc = discover_facts(ctx->cfg, &ctx->deadline, &ctx->disc);
    if (rc != AGENT_OK)
        return (flags & SESSION_FACTS_OPTIONAL) ? AGENT_OK : rc;
    rc = discover_load_config(env, &ctx->disc, &full);
    if (rc != AGENT_OK)
        return rc;
    config_free(ctx->cfg);
    ctx->cfg = full;
    return AGENT_OK;
}

void
session_close(struct run_ctx *ctx)
{
    run_aws_cleanup(ctx);
    discovery_cleanup(&ctx->disc);
    config_free(ctx->cfg);
    ctx->cfg = NULL;
}
