#include "cmd/deregister.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aws/elb.h"
#include "aws/elbv2.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "core/str.h"
#include "node/balancer.h"
#include "node/ctx.h"

struct deregister_opts {
    int wait;          /* until the targets are `unused` and off the classic ELBs */
    int64_t timeout_s; /* with wait: at most this long (default 300) */
    int on_stop;       /* invoked by the unit's ExecStop: do nothing unless
                          register.deregister_on_stop is true */
};

static const char usage[] =
    "usage: wcs-agent deregister [--wait] [--timeout SECONDS] [--on-stop]\n"
    "remove this instance from its load balancers (one it is not in: 'not registered')\n"
    "\n"
    "options:\n"
    "  --wait                until the targets are unused\n"
    "  --timeout SECONDS     the longest wait (default 300)\n"
    "  --on-stop             only when register.deregister_on_stop is true (ExecStop)\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 deregistered or not registered, 1 a call failed, 64 usage error,\n"
    "  75 temporary failure, 78 configuration error\n";

#define DEREGISTER_POLL_MS 2000

/* 1 when every registration is gone (target `unused`, instance off the classic ELB). */
static enum agent_rc
all_gone(struct run_ctx *ctx, struct awsapi *api, int *gone, char *why, size_t cap)
{
    const struct agent_config *cfg = ctx->cfg;
    const char *id = ctx->disc.facts.instance_id;
    enum agent_rc rc;
    size_t i;

    *gone = 1;
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        struct elbv2_target_health h;

        rc = elbv2_describe_target_health(api, cfg->reg.target_group.items[i], id, cfg->reg.port,
                                          &h);
        if (rc != AGENT_OK)
            return rc;
        if (strcmp(h.state, "unused") != 0) {
            snprintf(why, cap, "%s: %s", cfg->reg.target_group.items[i], h.state);
            *gone = 0;
            return AGENT_OK;
        }
    }
    for (i = 0; i < cfg->reg.classic_elb.n; i++) {
        struct elb_instance_health h;

        rc = elb_describe_instance_health(api, cfg->reg.classic_elb.items[i], id, &h);
        if (rc == AGENT_ERR_ABSENT)
            continue;
        if (rc != AGENT_OK)
            return rc;
        /* An instance asked about by id is described even when no longer registered. */
        if (balancer_elb_not_registered(&h))
            continue;
        snprintf(why, cap, "%s: still listed (%s)", cfg->reg.classic_elb.items[i], h.state);
        *gone = 0;
        return AGENT_OK;
    }
    return AGENT_OK;
}

/*
 * Records the deregistration in state.json, so `status` says so; a run's
 * register step clears it.  Only when a state exists and no run holds the
 * lock (a failure here is logged, never the command's failure).
 */
static void
record_deregistered(const struct run_ctx *ctx)
{
    const char *dir = ctx->env->state_dir != NULL ? ctx->env->state_dir : ctx->cfg->agent.state_dir;
    struct state st;
    int fd = -1;

    if (state_load(dir, &st) != AGENT_OK)
        return; /* no run recorded here: nothing to note */
    if (state_lock(dir, &fd) != AGENT_OK) {
        log_info("deregister: not recorded in the state file (a run holds the lock, or no state)");
        return;
    }
    if (state_load(dir, &st) == AGENT_OK &&
        strcmp(st.instance_id, ctx->disc.facts.instance_id) == 0) {
        clock_rfc3339(clock_now(), st.deregistered);
        if (state_save(dir, &st) != AGENT_OK)
            log_warnx("deregister: could not record the deregistration in the state file");
    }
    close(fd);
}

static enum agent_rc
deregister_command(const struct run_env *env, const struct deregister_opts *o)
{
    struct run_ctx ctx;
    struct run_opts ro;
    struct awsapi *api;
    struct deadline dl;
    enum agent_rc rc;
    char why[400] = "";

    memset(&ctx, 0, sizeof(ctx));
    memset(&ro, 0, sizeof(ro));
    ctx.env = env;
    ctx.opts = &ro;
    rc = discover_load_config(env, NULL, &ctx.cfg);
    if (rc != AGENT_OK)
        return rc;
    deadline_in(&ctx.deadline, ctx.cfg->agent.deadline_s * 1000);
    rc = discover_facts(ctx.cfg, &ctx.deadline, &ctx.disc);
    if (rc == AGENT_OK) {
        struct agent_config *full = NULL;

        rc = discover_load_config(env, &ctx.disc, &full);
        if (rc == AGENT_OK) {
            config_free(ctx.cfg);
            ctx.cfg = full;
        }
    }
    if (rc != AGENT_OK)
        goto out;
    if (o->on_stop && !ctx.cfg->reg.deregister_on_stop) {
        log_info("deregister: register.deregister_on_stop is false: nothing to do");
        goto out;
    }
    if (ctx.cfg->reg.target_group.n == 0 && ctx.cfg->reg.classic_elb.n == 0) {
        log_info("deregister: no target group or classic ELB configured: nothing to do");
        goto out;
    }
    rc = balancer_deregister(&ctx, why, sizeof(why));
    if (rc != AGENT_OK)
        log_errx("deregister: %s", why);
    if (rc == AGENT_OK)
        rc = run_aws(&ctx, &api);
    if (rc == AGENT_OK)
        record_deregistered(&ctx);
    if (rc != AGENT_OK || !o->wait)
        goto out;
    deadline_in(&dl,
                deadline_cap_ms(&ctx.deadline, (o->timeout_s > 0 ? o->timeout_s : 300) * 1000));
    for (;;) {
        int gone = 0;

        rc = all_gone(&ctx, api, &gone, why, sizeof(why));
        if (rc != AGENT_OK || gone)
            break;
        if (deadline_left_ms(&dl) < DEREGISTER_POLL_MS) {
            log_errx("deregister: still registered when the wait ended: %s", why);
            rc = AGENT_ERR_TIMEOUT;
            break;
        }
        log_debug("deregister: waiting: %s", why);
        clock_sleep_ms(DEREGISTER_POLL_MS);
    }
    if (rc == AGENT_OK)
        log_info("deregister: every target is unused");
out:
    run_aws_cleanup(&ctx);
    discovery_cleanup(&ctx.disc);
    config_free(ctx.cfg);
    return rc;
}

int
cmd_deregister(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"on-stop", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct deregister_opts o = {0, 300, 0};
    long long t;
    int c;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.wait = 1;
            break;
        case 't':
            if (str_to_ll(optarg, 1, 86400, &t) != AGENT_OK)
                return cmd_usage_error("--timeout: not a number of seconds in 1..86400: %s",
                                       optarg);
            o.timeout_s = t;
            break;
        case 's':
            o.on_stop = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cmd_usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cmd_usage_error("%s: unexpected argument", argv[optind]);
    return agent_rc_exit_status(deregister_command(env, &o));
}
