#include "node/asg.h"

#include "aws/imds.h"
#include "core/str.h"

enum agent_rc
node_find_asg(const struct run_ctx *ctx, struct awsapi *api, char *out, size_t cap)
{
    struct asg_instance inst;
    const char *tag;
    enum agent_rc rc;

    if (ctx->asg[0] != '\0')
        return str_copy(out, cap, ctx->asg);
    if (ctx->cfg->signal.asg != NULL && ctx->cfg->signal.asg[0] != '\0')
        return str_copy(out, cap, ctx->cfg->signal.asg);
    tag = imds_facts_tag(&ctx->disc.facts, "aws:autoscaling:groupName");
    if (tag != NULL)
        return str_copy(out, cap, tag);
    if (api == NULL)
        return AGENT_ERR_INVAL;
    rc = asg_describe_instance(api, ctx->disc.facts.instance_id, &inst);
    if (rc != AGENT_OK)
        return rc;
    if (inst.asg_name[0] == '\0')
        return AGENT_ERR_ABSENT;
    return str_copy(out, cap, inst.asg_name);
}

enum agent_rc
node_find_terminate_hook(const struct run_ctx *ctx, struct awsapi *api, const char *asg,
                         struct asg_lifecycle_hook *out)
{
    const char *name = ctx->cfg->signal.terminate_hook;

    if (name != NULL && name[0] != '\0')
        return asg_describe_lifecycle_hooks(api, asg, name, out);
    return asg_describe_hook_of(api, asg, ASG_TERMINATING, out);
}
