#include "node/balancer.h"

#include <stdio.h>
#include <string.h>

#include "aws/elb.h"
#include "aws/elbv2.h"
#include "core/log.h"

int
balancer_configured(const struct agent_config *cfg)
{
    return cfg->reg.target_group.n > 0 || cfg->reg.classic_elb.n > 0;
}

/* why: "<Action> <target>: <AWS code: message | rc>". */
static void
failure(struct awsapi *api, enum agent_rc rc, const char *action, const char *target, char *why,
        size_t cap)
{
    const struct aws_error *e = api != NULL ? awsapi_last_error(api) : NULL;

    if (rc == AGENT_ERR_AWS && e != NULL && e->code[0] != '\0')
        snprintf(why, cap, "%s %s: %s: %s", action, target, e->code, e->message);
    else
        snprintf(why, cap, "%s %s: %s", action, target, agent_rc_str(rc));
}

/*
 * 1 when a classic ELB describes the instance as not registered: DescribeInstanceHealth
 * answers for an instance named in the request even after it left, with the state
 * Unknown or the description "Instance is not currently registered with the LoadBalancer."
 */
int
balancer_elb_not_registered(const struct elb_instance_health *h)
{
    return strcmp(h->state, "Unknown") == 0 ||
           strstr(h->description, "not currently registered") != NULL;
}

/*
 * Before a deregistration: *registered 0 when the balancer no longer has the
 * instance (target `unused`; off the classic ELB), so the call is skipped and
 * the log says "not registered".
 */
static enum agent_rc
is_registered(struct awsapi *api, const char *tg, const char *lb, const char *id, int port,
              int *registered)
{
    struct elbv2_target_health th;
    struct elb_instance_health eh;
    enum agent_rc rc;

    *registered = 1;
    if (tg != NULL) {
        rc = elbv2_describe_target_health(api, tg, id, port, &th);
        if (rc == AGENT_OK)
            *registered = strcmp(th.state, "unused") != 0;
        return rc;
    }
    rc = elb_describe_instance_health(api, lb, id, &eh);
    if (rc == AGENT_ERR_ABSENT) {
        *registered = 0;
        return AGENT_OK;
    }
    if (rc == AGENT_OK)
        *registered = !balancer_elb_not_registered(&eh);
    return rc;
}

static enum agent_rc
change(struct run_ctx *ctx, int add, char *why, size_t cap)
{
    const struct agent_config *cfg = ctx->cfg;
    const char *id = ctx->disc.facts.instance_id;
    struct awsapi *api = NULL;
    enum agent_rc rc;
    size_t i;

    why[0] = '\0';
    if (!balancer_configured(cfg))
        return AGENT_OK;
    rc = run_aws(ctx, &api);
    if (rc != AGENT_OK) {
        snprintf(why, cap, "no AWS client: %s", agent_rc_str(rc));
        return rc;
    }
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        const char *tg = cfg->reg.target_group.items[i];
        int registered = 1;

        if (!add && is_registered(api, tg, NULL, id, cfg->reg.port, &registered) == AGENT_OK &&
            !registered) {
            log_info("deregister: %s not registered with %s (port %d)", id, tg, cfg->reg.port);
            continue;
        }
        rc = add ? elbv2_register_targets(api, tg, id, cfg->reg.port)
                 : elbv2_deregister_targets(api, tg, id, cfg->reg.port);
        if (rc != AGENT_OK) {
            failure(api, rc, add ? "RegisterTargets" : "DeregisterTargets", tg, why, cap);
            return rc;
        }
        /* A run's register step has its progress line: the detail is for -v. */
        log_msg(add ? LOG_LVL_DEBUG : LOG_LVL_INFO, "%s: %s %s %s (port %d)",
                add ? "register" : "deregister", id, add ? "added to" : "removed from", tg,
                cfg->reg.port);
    }
    for (i = 0; i < cfg->reg.classic_elb.n; i++) {
        const char *lb = cfg->reg.classic_elb.items[i];
        int registered = 1;

        if (!add && is_registered(api, NULL, lb, id, 0, &registered) == AGENT_OK && !registered) {
            log_info("deregister: %s not registered with classic ELB %s", id, lb);
            continue;
        }

        rc = add ? elb_register_instance(api, lb, id) : elb_deregister_instance(api, lb, id);
        if (rc != AGENT_OK) {
            failure(api, rc,
                    add ? "RegisterInstancesWithLoadBalancer"
                        : "DeregisterInstancesFromLoadBalancer",
                    lb, why, cap);
            return rc;
        }
        log_msg(add ? LOG_LVL_DEBUG : LOG_LVL_INFO, "%s: %s %s classic ELB %s",
                add ? "register" : "deregister", id, add ? "added to" : "removed from", lb);
    }
    return AGENT_OK;
}

enum agent_rc
balancer_deregister(struct run_ctx *ctx, char *why, size_t cap)
{
    return change(ctx, 0, why, cap);
}

enum agent_rc
balancer_register(struct run_ctx *ctx, char *why, size_t cap)
{
    return change(ctx, 1, why, cap);
}
