/*
 * life: what `run` does differently for where the instance is in its life
 * (design.md §8.3, §8.5): the target lifecycle state at run time (a warm
 * pool, Standby, in service), each lifecycle action signalled once, the
 * restart a failed run left pending, and restart.mode on a node that is
 * carrying calls.
 */
#ifndef AGENT_RUN_LIFE_H
#define AGENT_RUN_LIFE_H

#include "core/rc.h"
#include "node/ctx.h"
#include "node/state.h"

/* The steps whose change a WCS restart applies (the pending.restart reasons). */
#define RUN_RESTART_STEPS \
    ((1u << STEP_UPDATE) | (1u << STEP_CONFIGURE) | (1u << STEP_LICENCE) | (1u << STEP_TLS))

/* Where the instance is going, from IMDS autoscaling/target-lifecycle-state. */
enum run_target {
    RUN_TARGET_NONE,       /* no target state (not in an Auto Scaling group, or not yet moved) */
    RUN_TARGET_IN_SERVICE, /* InService */
    RUN_TARGET_WARM,       /* Warmed:Running, Warmed:Stopped, Warmed:Hibernated, ... */
    RUN_TARGET_STANDBY,    /* Standby */
    RUN_TARGET_OTHER       /* Detached, Terminated */
};

enum run_target run_target(const struct run_ctx *ctx);

/* The ready.signalled bit of the launch action this run completes (warm or in-service). */
unsigned run_lifecycle_bit(const struct run_ctx *ctx);

/* licence, except in a warm pool (unless licence.activate_in_warm_pool). */
enum agent_rc life_licence(struct run_ctx *ctx, struct state_step *rec);

/* register, except in a warm pool or Standby. */
enum agent_rc life_register(struct run_ctx *ctx, struct state_step *rec);

/*
 * Whether the node may carry calls: it has been in service and nothing
 * keeps traffic away (not warm, not in Standby, not draining).  Before
 * that (a first boot) a restart needs no drain.
 */
int life_may_carry_calls(const struct run_ctx *ctx);

/*
 * Called by service before it restarts a WCS that is running.  When the node
 * carries calls (it has been in service, is not warm or in Standby, and the
 * stats page shows connections > 0), restart.mode decides: now (a warning
 * naming the count; *go = 1), defer (the reasons join pending.restart;
 * *go = 0; the run ends with a line saying so).  With mode drain the call
 * does design.md §8.2 steps 1-4 first.  detail[cap] gets what was decided
 * ("" when the node carried no calls).
 */
enum agent_rc life_before_restart(struct run_ctx *ctx, unsigned reasons, int *go, char *detail,
                                  size_t cap);

/*
 * The end of a run that did not fail: records the phase (warm or in-service;
 * unchanged in Standby) and prints the deferred-restart line when one was
 * deferred.
 */
void life_finish(struct run_ctx *ctx);

#endif
