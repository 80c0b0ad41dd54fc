#include "run/steps.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/str.h"
#include "node/ctx.h"
#include "node/discover.h"
#include "run/life.h"
#include "run/result.h"
#include "run/retry.h"

static enum agent_rc step_discover(struct run_ctx *ctx, struct state_step *rec);

/* The pipeline, in order.  NULL: not available in this build. */
static const step_fn step_table[STEP__MAX] = {
    [STEP_DISCOVER] = step_discover, [STEP_SECRETS] = step_secrets,
    [STEP_UPDATE] = step_update,     [STEP_CONFIGURE] = step_configure,
    [STEP_LICENCE] = life_licence,   [STEP_TLS] = step_tls,
    [STEP_SERVICE] = step_service,   [STEP_READY] = step_ready,
    [STEP_REGISTER] = life_register, [STEP_SIGNAL] = step_signal,
};

enum agent_rc
steps_parse_list(const char *list, const char *option, unsigned *mask)
{
    const char *p = list, *comma;
    char name[32];
    unsigned m = 0;

    while (*p != '\0') {
        size_t n;
        enum step_id id;

        comma = strchr(p, ',');
        n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || str_copyn(name, sizeof(name), p, n) != AGENT_OK ||
            (id = state_step_by_name(name)) == STEP__MAX) {
            log_errx("%s: unknown step '%.*s' (steps: discover, secrets, update, configure, "
                     "licence, tls, service, ready, register, signal)",
                     option, (int)(n > 40 ? 40 : n), p);
            return AGENT_ERR_USAGE;
        }
        m |= 1u << id;
        p += n;
        if (*p == ',')
            p++;
    }
    if (m == 0) {
        log_errx("%s: no step named", option);
        return AGENT_ERR_USAGE;
    }
    *mask = m;
    return AGENT_OK;
}

/*
 * discover, first half: the instance's facts from IMDSv2, then the
 * configuration again with the user-data overlays and placeholders.  It runs
 * under the lock but before the state file is touched: it only reads, and a
 * configuration error found here must leave the state as it was.
 */
static enum agent_rc
discover_phase(struct run_ctx *ctx)
{
    struct agent_config *full = NULL;
    enum agent_rc rc;

    clock_rfc3339(clock_now(), ctx->disc_started);
    ctx->disc_t0 = clock_mono_ms();
    rc = discover_facts(ctx->cfg, &ctx->deadline, &ctx->disc);
    if (rc != AGENT_OK) {
        snprintf(ctx->disc_error, sizeof(ctx->disc_error), "%s",
                 rc == AGENT_ERR_CONFIG ? "user data is malformed"
                                        : "instance metadata unavailable");
        goto out;
    }
    rc = discover_load_config_why(ctx->env, &ctx->disc, &full, ctx->disc_error,
                                  sizeof(ctx->disc_error));
    if (rc != AGENT_OK) {
        if (ctx->disc_error[0] == '\0')
            snprintf(ctx->disc_error, sizeof(ctx->disc_error), "%s",
                     "configuration error (with user data and instance facts)");
        goto out;
    }
    if (strcmp(full->agent.state_dir, ctx->cfg->agent.state_dir) != 0 &&
        ctx->env->state_dir == NULL)
        log_warnx("agent.state_dir from user data is not applied: the state folder (%s) is "
                  "chosen before user data is read",
                  ctx->state_dir);
    config_free(ctx->cfg);
    ctx->cfg = full;
out:
    ctx->disc_ms = clock_mono_ms() - ctx->disc_t0;
    ctx->disc_rc = rc;
    return rc;
}

/* discover, second half: the record of the first half. */
static enum agent_rc
step_discover(struct run_ctx *ctx, struct state_step *rec)
{
    enum agent_rc rc;
    char summary[256];

    snprintf(rec->started, sizeof(rec->started), "%s", ctx->disc_started);
    if (ctx->disc.have_facts) {
        rc =
            str_copy(ctx->st.instance_id, sizeof(ctx->st.instance_id), ctx->disc.facts.instance_id);
        if (rc != AGENT_OK)
            return rc;
    }
    if (ctx->disc_rc != AGENT_OK) {
        state_step_set_error(rec, ctx->disc_error);
        return ctx->disc_rc;
    }
    discover_summary(&ctx->disc, summary, sizeof(summary));
    state_step_set_detail(rec, summary);
    rec->result = STEP_RESULT_OK;
    return AGENT_OK;
}

static void
new_run_id(char out[40])
{
    unsigned char r[16];
    size_t got = 0;

    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* No entropy source: fall back to time and pid, unique enough for an id. */
            snprintf(out, 40, "%lld-%ld", (long long)clock_now(), (long)getpid());
            return;
        }
        got += (size_t)n;
    }
    str_hex(r, sizeof(r), out, 40);
}

/*
 * Whether the run's result goes to the console and the wcs-agent:result tag.
 * A run stopped by a signal on a node already in service (watch's reconcile
 * stopped for a scale-in or a stop, a hand run interrupted) says nothing
 * about the node, and its "failed at" would overwrite the tag of a healthy
 * node that is being drained; a boot stopped so is reported.
 */
static int
result_worth_publishing(const struct run_ctx *ctx, enum step_id failed_at, enum agent_rc failed_rc)
{
    return failed_at == STEP__MAX || failed_rc != AGENT_ERR_INTR ||
           ctx->st.phase != STATE_PHASE_IN_SERVICE;
}

static int
selected(const struct run_opts *o, enum step_id id)
{
    unsigned bit = 1u << id;

    if (id == STEP_DISCOVER)
        return 1;
    if (o->only != 0 && (o->only & bit) == 0)
        return 0;
    return (o->skip & bit) == 0;
}

/* The state file is the run's record: a run that cannot write it fails. */
static enum agent_rc
save_state(struct run_ctx *ctx)
{
    return state_save(ctx->state_dir, &ctx->st);
}

static void
print_progress(const struct state_step *rec)
{
    const char *text = rec->result == STEP_RESULT_FAILED ? rec->error : rec->detail;

    /* The step's name is the line's step field (the "discover: " prefix in text). */
    log_step_progress(state_step_result_str(rec->result), (long long)rec->duration_ms, text);
}

static enum agent_rc
prepare_state_dir(const char *dir)
{
    if (dir[0] != '/') {
        log_errx("state folder must be an absolute path: %s", dir);
        return AGENT_ERR_CONFIG;
    }
    return fileio_mkdir_p(dir, 0700);
}

/*
 * The dry run: every step in its plan mode, printing to stdout what it would
 * change and call.  No lock, no state write, no mutating call; the state is
 * only read (what is already applied).
 */
static enum agent_rc
plan_run(struct run_ctx *ctx)
{
    enum agent_rc rc;
    int i;

    log_set_step(state_step_name(STEP_DISCOVER));
    rc = discover_phase(ctx);
    log_set_step(NULL);
    if (rc != AGENT_OK)
        return rc;
    if (state_load(ctx->state_dir, &ctx->st) != AGENT_OK ||
        strcmp(ctx->st.instance_id, ctx->disc.facts.instance_id) != 0)
        state_init(&ctx->st);
    log_info("plan for %s (nothing is changed; file diffs on stdout)", ctx->disc.facts.instance_id);
    for (i = STEP_SECRETS; i < STEP__MAX; i++) {
        struct state_step rec;

        memset(&rec, 0, sizeof(rec));
        if (!selected(ctx->opts, (enum step_id)i)) {
            run_plan(state_step_name((enum step_id)i), "not selected");
            continue;
        }
        if (step_table[i] == NULL) {
            run_plan(state_step_name((enum step_id)i), "not available in this build");
            continue;
        }
        log_set_step(state_step_name((enum step_id)i));
        rc = step_table[i](ctx, &rec);
        log_set_step(NULL);
        if (rc != AGENT_OK) {
            run_plan(state_step_name((enum step_id)i), "would fail: %s",
                     rec.error[0] != '\0' ? rec.error : agent_rc_str(rc));
            fflush(stdout);
            return rc;
        }
        if (rec.result == STEP_RESULT_CHANGED)
            ctx->changed |= 1u << i;
        if (rec.result != STEP_RESULT_SKIPPED || i == STEP_SECRETS)
            run_plan(state_step_name((enum step_id)i), "%s: %s",
                     rec.result == STEP_RESULT_CHANGED ? "would change" : "no change", rec.detail);
    }
    fflush(stdout);
    return AGENT_OK;
}

/* 1 when cfg names a launch hook or a CloudFormation resource that waits for a signal. */
static int
names_signal_target(const struct agent_config *cfg)
{
    return cfg->signal.lifecycle_hook != NULL ||
           (cfg->signal.cfn_stack != NULL && cfg->signal.cfn_resource != NULL);
}

/*
 * The state folder cannot be created, locked or written (a non-root user, a
 * read-only file system): nothing can be recorded, but a hook or stack
 * waiting for this instance still learns of the failure.  Returns state_rc.
 */
static enum agent_rc
signal_without_state(struct run_ctx *ctx, enum agent_rc state_rc)
{
    struct state_step rec;
    char cause[512];

    if (geteuid() != 0)
        log_errx("cannot use the state folder %s as uid %ld: run as root (or give --state-dir "
                 "and wcs.home you can write)",
                 ctx->state_dir, (long)geteuid());
    else
        log_errx("cannot use the state folder %s (read-only file system?); set --state-dir to a "
                 "writable folder",
                 ctx->state_dir);
    if (!names_signal_target(ctx->cfg))
        return state_rc;
    log_set_step(state_step_name(STEP_DISCOVER));
    discover_phase(ctx);
    log_set_step(NULL);
    if (!ctx->disc.have_facts)
        return state_rc;
    snprintf(cause, sizeof(cause), "cannot write the state folder %.400s", ctx->state_dir);
    state_init(&ctx->st);
    memset(&rec, 0, sizeof(rec));
    ctx->failed = 1;
    snprintf(ctx->failure, sizeof(ctx->failure), "%s", cause);
    interrupt_acknowledge();
    log_set_step(state_step_name(STEP_SIGNAL));
    if (step_signal(ctx, &rec) == AGENT_OK)
        log_info("%s", rec.detail);
    log_set_step(NULL);
    log_errx("failed: %s", cause);
    return state_rc;
}

static enum agent_rc run_pipeline(const struct run_env *env, const struct run_opts *opts,
                                  int *pending);

enum agent_rc
steps_run(const struct run_env *env, const struct run_opts *opts)
{
    return run_pipeline(env, opts, NULL);
}

enum agent_rc
steps_plan(const struct run_env *env, const struct run_opts *opts, int *pending)
{
    struct run_opts o = *opts;

    o.dry_run = 1;
    *pending = 0;
    return run_pipeline(env, &o, pending);
}

static enum agent_rc
run_pipeline(const struct run_env *env, const struct run_opts *opts, int *pending)
{
    struct run_ctx ctx;
    enum agent_rc rc, failed_rc = AGENT_OK;
    enum step_id failed_at = STEP__MAX;
    int lock_fd = -1, i, n_changed = 0, n_ok = 0, n_skipped = 0, published = 0;
    int64_t t0 = clock_mono_ms();
    char failure[256] = "";

    memset(&ctx, 0, sizeof(ctx));
    ctx.env = env;
    ctx.opts = opts;
    rc = discover_load_config(env, NULL, &ctx.cfg);
    if (rc != AGENT_OK)
        return rc;
    rc = str_copy(ctx.state_dir, sizeof(ctx.state_dir),
                  env->state_dir != NULL ? env->state_dir : ctx.cfg->agent.state_dir);
    if (rc != AGENT_OK) {
        log_errx("state folder path too long");
        goto out;
    }
    deadline_in(&ctx.deadline, ctx.cfg->agent.deadline_s * 1000);
    if (opts->dry_run) {
        rc = plan_run(&ctx);
        if (pending != NULL)
            *pending = ctx.changed != 0;
        goto out;
    }
    /* From here SIGTERM and SIGINT stop the step in progress; failure is still signalled. */
    interrupt_install();
    rc = prepare_state_dir(ctx.state_dir);
    if (rc == AGENT_OK)
        rc = state_lock(ctx.state_dir, &lock_fd);
    if (rc == AGENT_ERR_BUSY)
        goto out;
    if (rc != AGENT_OK) {
        rc = signal_without_state(&ctx, rc);
        goto out;
    }
    {
        char state_path[4096 + sizeof(STATE_FILE) + 1];

        snprintf(state_path, sizeof(state_path), "%s/%s", ctx.state_dir, STATE_FILE);
        fileio_remove_stale_temps(state_path);
    }
    /*
     * A configuration error in user data stops the run before the state is
     * written, unless the layers below name a hook or stack waiting for this
     * instance: then the run records the error and signals failure (exit 78).
     */
    log_set_step(state_step_name(STEP_DISCOVER));
    rc = discover_phase(&ctx);
    log_set_step(NULL);
    if (rc == AGENT_ERR_CONFIG && !(ctx.disc.have_facts && names_signal_target(ctx.cfg)))
        goto out;

    rc = state_load(ctx.state_dir, &ctx.st);
    if (rc == AGENT_ERR_PARSE) {
        log_warnx("state: the unreadable state file is set aside as %s.previous", STATE_FILE);
        state_set_aside(ctx.state_dir);
        state_init(&ctx.st);
    } else if (rc != AGENT_OK) {
        state_init(&ctx.st);
    }
    /* A state file left by another instance (an AMI baked without `seal`) goes aside as it is. */
    if (ctx.disc.have_facts && ctx.st.instance_id[0] != '\0' &&
        strcmp(ctx.st.instance_id, ctx.disc.facts.instance_id) != 0) {
        log_warnx("state file belongs to %s, this is %s (image baked without `wcs-agent "
                  "seal`?): set aside as %s.previous, treating this as a first boot",
                  ctx.st.instance_id, ctx.disc.facts.instance_id, STATE_FILE);
        rc = state_set_aside(ctx.state_dir);
        if (rc != AGENT_OK)
            goto out;
        state_init(&ctx.st);
    }
    new_run_id(ctx.st.run.id);
    clock_rfc3339(clock_now(), ctx.st.run.started);
    ctx.st.run.finished[0] = '\0';
    ctx.st.run.result = RUN_RESULT_RUNNING;
    ctx.st.run.exit_code = 0;
    for (i = 0; i < STEP__MAX; i++)
        memset(&ctx.st.steps[i], 0, sizeof(ctx.st.steps[i]));
    rc = save_state(&ctx);
    if (rc != AGENT_OK)
        goto out;

    for (i = 0; i < STEP__MAX; i++) {
        struct state_step *rec = &ctx.st.steps[i];
        int64_t s0 = clock_mono_ms();

        memset(rec, 0, sizeof(*rec));
        if (failed_at != STEP__MAX && i == STEP_SIGNAL && selected(opts, STEP_SIGNAL)) {
            /* Failure mode: the hook and CloudFormation learn of the failure at once. */
            ctx.failed = 1;
            snprintf(ctx.failure, sizeof(ctx.failure), "%s: %s", state_step_name(failed_at),
                     ctx.st.steps[failed_at].error);
            interrupt_acknowledge(); /* a SIGTERM that stopped the run does not stop this */
            /* The reason outlives the node: console and tag before ABANDON/FAILURE (§8.6). */
            if (result_worth_publishing(&ctx, failed_at, failed_rc))
                result_publish(&ctx, failed_at, (double)(clock_mono_ms() - t0) / 1000.0);
            published = 1;
            clock_rfc3339(clock_now(), rec->started);
            rec->attempts = 1;
            log_set_step(state_step_name(STEP_SIGNAL));
            rc = step_signal(&ctx, rec);
            log_set_step(NULL);
            rec->duration_ms = clock_mono_ms() - s0;
            if (rc != AGENT_OK) {
                rec->result = STEP_RESULT_FAILED;
                if (rec->error[0] == '\0')
                    state_step_set_error(rec, agent_rc_str(rc));
            }
        } else if (failed_at != STEP__MAX) {
            rec->result = STEP_RESULT_SKIPPED;
            state_step_set_detail(rec, "not run: an earlier step failed");
        } else if (!selected(opts, (enum step_id)i)) {
            rec->result = STEP_RESULT_SKIPPED;
            state_step_set_detail(rec, opts->only != 0 ? "not selected (--only)"
                                                       : "not selected (--skip)");
        } else if (step_table[i] == NULL) {
            rec->result = STEP_RESULT_SKIPPED;
            state_step_set_detail(rec, "not available in this build");
        } else if (interrupt_pending() != 0) {
            run_record_interrupt(rec);
            failed_rc = AGENT_ERR_INTR;
            failed_at = (enum step_id)i;
        } else if (deadline_expired(&ctx.deadline)) {
            rec->result = STEP_RESULT_FAILED;
            state_step_set_error(rec, "run deadline (agent.deadline) passed");
            failed_rc = AGENT_ERR_TIMEOUT;
            failed_at = (enum step_id)i;
        } else {
            if (i != STEP_DISCOVER)
                clock_rfc3339(clock_now(), rec->started);
            if (i != STEP_DISCOVER)
                log_last_error_clear();
            log_set_step(state_step_name((enum step_id)i));
            rc = run_step_retrying(&ctx, (enum step_id)i, step_table[i], rec);
            log_set_step(NULL);
            rec->duration_ms = clock_mono_ms() - s0;
            if (i == STEP_DISCOVER)
                rec->duration_ms += ctx.disc_ms;
            if (rc != AGENT_OK && interrupt_pending() != 0) {
                run_record_interrupt(rec);
                rc = AGENT_ERR_INTR;
            }
            if (rc != AGENT_OK) {
                rec->result = STEP_RESULT_FAILED;
                /* No words of its own: the innermost cause the step logged (§8.6). */
                if (rec->error[0] == '\0')
                    state_step_set_error(rec, log_last_error()[0] != '\0' ? log_last_error()
                                                                          : agent_rc_str(rc));
                failed_rc = rc;
                failed_at = (enum step_id)i;
            } else if (rec->result == STEP_RESULT_CHANGED) {
                ctx.changed |= 1u << i;
                /* Owed until WCS restarts, even if a later step fails (design.md §8.3). */
                ctx.st.pending.restart |= (1u << i) & RUN_RESTART_STEPS;
            }
        }
        switch (rec->result) {
        case STEP_RESULT_CHANGED:
            n_changed++;
            break;
        case STEP_RESULT_OK:
            n_ok++;
            break;
        case STEP_RESULT_SKIPPED:
            n_skipped++;
            break;
        default:
            break;
        }
        log_set_step(state_step_name((enum step_id)i));
        print_progress(rec);
        log_set_step(NULL);
        /*
         * Written after a step that changed something or failed (what a run
         * killed next must know), not after one that found nothing to do:
         * the end of the run writes the whole record anyway.
         */
        if (rec->result != STEP_RESULT_CHANGED && rec->result != STEP_RESULT_FAILED)
            continue;
        rc = save_state(&ctx);
        if (rc != AGENT_OK && failed_at == STEP__MAX) {
            failed_rc = rc;
            failed_at = (enum step_id)i;
            rec->result = STEP_RESULT_FAILED;
            state_step_set_error(rec, "cannot write the state file");
        }
    }

    if (!published && result_worth_publishing(&ctx, failed_at, failed_rc))
        result_publish(&ctx, failed_at, (double)(clock_mono_ms() - t0) / 1000.0);
    clock_rfc3339(clock_now(), ctx.st.run.finished);
    if (failed_at != STEP__MAX) {
        ctx.st.run.result = RUN_RESULT_FAILED;
        ctx.st.run.exit_code = agent_rc_exit_status(failed_rc);
        snprintf(failure, sizeof(failure), "%s", ctx.st.steps[failed_at].error);
        log_errx("failed at %s: %s", state_step_name(failed_at), failure);
        rc = failed_rc;
    } else {
        ctx.st.run.result = RUN_RESULT_OK;
        ctx.st.run.exit_code = 0;
        /* "ready" only when the ready step saw WCS answer; otherwise the run merely ended. */
        log_info("%s in %.2f s (%d steps: %d changed, %d ok, %d skipped)",
                 ctx.st.steps[STEP_READY].result == STEP_RESULT_OK ? "ready" : "finished",
                 (double)(clock_mono_ms() - t0) / 1000.0, STEP__MAX, n_changed, n_ok, n_skipped);
        life_finish(&ctx);
        rc = AGENT_OK;
    }
    if (save_state(&ctx) != AGENT_OK && rc == AGENT_OK)
        rc = AGENT_ERR_IO;
out:
    if (lock_fd != -1)
        close(lock_fd);
    run_aws_cleanup(&ctx);
    discovery_cleanup(&ctx.disc);
    config_free(ctx.cfg);
    return rc;
}
