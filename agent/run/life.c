/*
 * life: the run's view of the instance's life (design.md §8.3, §8.5).
 */
#include "run/life.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "node/drain.h"
#include "wcs/stats.h"

/* restart_deferred: by restart.mode = defer, or because of another drain. */
#define LIFE_DEFERRED_BY_MODE  1
#define LIFE_DEFERRED_BY_DRAIN 2

/* The longest one read of the stats page may take when deciding a restart. */
#define LIFE_STATS_TIMEOUT_MS 2000

enum run_target
run_target(const struct run_ctx *ctx)
{
    const char *s = ctx->disc.have_facts ? ctx->disc.facts.lifecycle_state : NULL;

    if (s == NULL || s[0] == '\0')
        return RUN_TARGET_NONE;
    if (strcmp(s, "InService") == 0)
        return RUN_TARGET_IN_SERVICE;
    if (strncmp(s, "Warmed:", 7) == 0)
        return RUN_TARGET_WARM;
    if (strcmp(s, "Standby") == 0)
        return RUN_TARGET_STANDBY;
    return RUN_TARGET_OTHER;
}

unsigned
run_lifecycle_bit(const struct run_ctx *ctx)
{
    return run_target(ctx) == RUN_TARGET_WARM ? STATE_SIGNALLED_LIFECYCLE_WARM
                                              : STATE_SIGNALLED_LIFECYCLE;
}

enum agent_rc
life_licence(struct run_ctx *ctx, struct state_step *rec)
{
    if (run_target(ctx) == RUN_TARGET_WARM && !ctx->cfg->licence.activate_in_warm_pool &&
        ctx->cfg->licence.key != NULL) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "warm pool: activated when the instance enters service");
        if (ctx->opts->dry_run)
            run_plan("licence", "warm pool (%s): no activation until the instance enters service",
                     ctx->disc.facts.lifecycle_state);
        return AGENT_OK;
    }
    return step_licence(ctx, rec);
}

/* A drain holds the node out of service (draining, drained, timed out; not cancelled). */
static int
drain_active(const struct run_ctx *ctx)
{
    enum drain_state d = ctx->st.drain.state;

    return d == DRAIN_STATE_DRAINING || d == DRAIN_STATE_DRAINED || d == DRAIN_STATE_TIMED_OUT;
}

/*
 * The drain record of a drain the run does itself: the run holds the run
 * lock, so the record goes into its own state and is written at once.
 */
static enum agent_rc
life_save_drain(void *arg, const struct state_drain *rec)
{
    struct run_ctx *ctx = arg;

    ctx->st.drain = *rec;
    return state_save(ctx->state_dir, &ctx->st);
}

enum agent_rc
life_register(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    enum run_target t = run_target(ctx);
    char detail[300];
    enum agent_rc rc;

    if (cfg->reg.target_group.n == 0 && cfg->reg.classic_elb.n == 0)
        return step_register(ctx, rec);
    if (!ctx->restart_drained && drain_active(ctx) && t != RUN_TARGET_IN_SERVICE) {
        state_step_set_error(rec, "node is drained: run `wcs-agent undrain` first");
        return AGENT_ERR_INVAL;
    }
    if (t == RUN_TARGET_WARM || t == RUN_TARGET_STANDBY) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, t == RUN_TARGET_WARM
                                       ? "warm pool: registered when the instance enters service"
                                       : "instance is in Standby: not registered");
        if (ctx->opts->dry_run)
            run_plan("register", "%s: would not register", ctx->disc.facts.lifecycle_state);
        return AGENT_OK;
    }
    rc = step_register(ctx, rec);
    if (rc != AGENT_OK || !ctx->restart_drained)
        return rc;
    /* The drain-safe restart's last step: back in service (CDN state cleared, `cancelled`). */
    ctx->restart_drained = 0;
    rc = undrain_node(ctx, life_save_drain, ctx);
    if (rc != AGENT_OK) {
        state_step_set_error(rec, "registered, but the undrain after the restart failed (see the "
                                  "log); run `wcs-agent undrain`");
        return rc;
    }
    snprintf(detail, sizeof(detail), "%s; undrained after the restart", rec->detail);
    state_step_set_detail(rec, detail);
    return AGENT_OK;
}

int
life_may_carry_calls(const struct run_ctx *ctx)
{
    enum run_target t = run_target(ctx);

    if (t == RUN_TARGET_WARM || t == RUN_TARGET_STANDBY || drain_active(ctx))
        return 0;
    if (ctx->st.phase == STATE_PHASE_IN_SERVICE)
        return 1;
    /* A state file of 0.1 (no phase) whose node finished a run. */
    return ctx->st.phase == STATE_PHASE_NONE && ctx->st.ready.at[0] != '\0';
}

/* `connections` on the stats page now; -1 when the page does not say. */
static long long
live_connections(const struct run_ctx *ctx)
{
    struct stats s;
    const char *v;
    char why[128] = "", *end;
    long long n = -1;

    if (wcs_stats_fetch(ctx->cfg->ready.url, LIFE_STATS_TIMEOUT_MS, &s, why, sizeof(why)) ==
        AGENT_OK) {
        v = stats_get(&s, "connections");
        if (v != NULL && v[0] != '\0') {
            n = strtoll(v, &end, 10);
            if (*end != '\0' || n < 0)
                n = -1;
        }
    }
    if (n < 0)
        log_info("connections unknown (%s): WCS is restarted as if it carried none",
                 why[0] != '\0' ? why : "no connections field on the stats page");
    stats_cleanup(&s);
    return n;
}

/* A SIGTERM or SIGINT stops the wait (the run then records the interrupt). */
static void
life_drain_tick(void *arg, struct drain *d)
{
    (void)arg;
    if (interrupt_pending() != 0)
        drain_cancel(d);
}

/*
 * restart.mode = drain: design.md §8.2 steps 1-4 before the restart; ready,
 * register and the undrain follow in the pipeline (life_register).  The
 * wait is bounded by drain.timeout and by half the time the run has left.
 * A drain that is already running (watch, by hand) is not disturbed: the
 * restart is deferred to a later run.
 */
static enum agent_rc
life_drain_for_restart(struct run_ctx *ctx, unsigned reasons, long long n, int *go, char *detail,
                       size_t cap)
{
    struct drain_opts o;
    struct drain d;
    char why[128], note[160];
    int64_t left_s = deadline_left_ms(&ctx->deadline) / 2000;
    long long after;
    enum agent_rc rc;

    state_steps_str(reasons, why, sizeof(why));
    snprintf(note, sizeof(note), "restart: %s changed", why[0] != '\0' ? why : "--force");
    memset(&o, 0, sizeof(o));
    o.reason = DRAIN_REASON_MANUAL;
    o.note = note;
    o.timeout_s = ctx->cfg->drain.timeout_s < left_s ? ctx->cfg->drain.timeout_s : left_s;
    if (o.timeout_s < 1)
        o.timeout_s = 1;
    o.tick = life_drain_tick;
    o.save = life_save_drain;
    o.save_arg = ctx;
    log_info("draining before the restart: %lld live connection%s (restart.mode = drain)", n,
             n == 1 ? "" : "s");
    rc = drain_prepare(ctx, &o, &d);
    if (rc == AGENT_ERR_BUSY) {
        *go = 0;
        ctx->restart_deferred = LIFE_DEFERRED_BY_DRAIN;
        ctx->st.pending.restart |= reasons;
        snprintf(detail, cap, "restart deferred: a drain is already running (%s)", why);
        return AGENT_OK;
    }
    if (rc != AGENT_OK) {
        snprintf(detail, cap, "cannot drain before the restart: %s", agent_rc_str(rc));
        return rc;
    }
    ctx->restart_drained = 1;
    (void)life_save_drain(ctx, &d.rec); /* drained, timed_out or cancelled */
    after = state_counts_get(&d.rec.last_counts, "connections");
    if (d.rec.state == DRAIN_STATE_CANCELLED) {
        drain_cleanup(&d);
        if (interrupt_pending() != 0) {
            snprintf(detail, cap, "drain before the restart stopped by %s",
                     interrupt_name(interrupt_pending()));
            return AGENT_ERR_INTR;
        }
        /* `wcs-agent undrain` put the node back: the restart waits for a later run. */
        ctx->restart_drained = 0;
        *go = 0;
        ctx->restart_deferred = LIFE_DEFERRED_BY_DRAIN;
        ctx->st.pending.restart |= reasons;
        snprintf(detail, cap, "restart deferred: the drain before it was cancelled (%s)", why);
        return AGENT_OK;
    }
    if (d.rec.state == DRAIN_STATE_TIMED_OUT)
        log_warnx("drain before the restart timed out after %lld s: restarting WCS under %lld "
                  "live connection%s",
                  (long long)o.timeout_s, after, after == 1 ? "" : "s");
    snprintf(detail, cap, "%s for the restart (connections %lld -> %lld%s)",
             d.rec.state == DRAIN_STATE_DRAINED ? "drained" : "drain timed out", n, after,
             d.failed ? "; a drain step failed, see the log" : "");
    drain_cleanup(&d);
    return AGENT_OK;
}

enum agent_rc
life_before_restart(struct run_ctx *ctx, unsigned reasons, int *go, char *detail, size_t cap)
{
    const struct agent_config *cfg = ctx->cfg;
    char why[128];
    long long n;

    *go = 1;
    detail[0] = '\0';
    ctx->restart_calls = -1;
    if (!life_may_carry_calls(ctx))
        return AGENT_OK;
    n = live_connections(ctx);
    ctx->restart_calls = n;
    if (n <= 0)
        return AGENT_OK;
    state_steps_str(reasons, why, sizeof(why));
    if (why[0] == '\0')
        snprintf(why, sizeof(why), "%s", "--force");
    switch (cfg->restart.mode) {
    case CONFIG_RESTART_NOW:
        log_warnx("restarting WCS under %lld live connection%s (restart.mode = now; %s changed)", n,
                  n == 1 ? "" : "s", why);
        snprintf(detail, cap, "restart.mode = now, %lld connection%s", n, n == 1 ? "" : "s");
        return AGENT_OK;
    case CONFIG_RESTART_DEFER:
        *go = 0;
        ctx->restart_deferred = LIFE_DEFERRED_BY_MODE;
        ctx->st.pending.restart |= reasons;
        snprintf(detail, cap, "restart deferred (restart.mode = defer, %lld connection%s; %s)", n,
                 n == 1 ? "" : "s", why);
        return AGENT_OK;
    case CONFIG_RESTART_DRAIN:
    default:
        return life_drain_for_restart(ctx, reasons, n, go, detail, cap);
    }
}

void
life_finish(struct run_ctx *ctx)
{
    char why[128];

    switch (run_target(ctx)) {
    case RUN_TARGET_WARM:
        ctx->st.phase = STATE_PHASE_WARM;
        break;
    case RUN_TARGET_STANDBY:
        if (ctx->st.phase == STATE_PHASE_NONE)
            ctx->st.phase = STATE_PHASE_IN_SERVICE;
        break;
    default:
        ctx->st.phase = STATE_PHASE_IN_SERVICE;
        break;
    }
    if (ctx->restart_drained)
        log_warnx("the node is still drained after its restart (register did not run): run "
                  "`wcs-agent undrain` to put it back in service");
    if (ctx->restart_deferred) {
        state_steps_str(ctx->st.pending.restart, why, sizeof(why));
        log_warnx("WCS restart deferred: %lld live connection%s (%s); the files are applied, "
                  "the restart is pending (%s) and the next run does it",
                  ctx->restart_calls, ctx->restart_calls == 1 ? "" : "s",
                  ctx->restart_deferred == LIFE_DEFERRED_BY_MODE ? "restart.mode = defer"
                                                                 : "a drain is running or was "
                                                                   "cancelled",
                  why);
    }
}
