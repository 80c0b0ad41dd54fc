/*
 * reconcile: watch's periodic `run` in a child process (see reconcile.h for
 * why a child and not an in-process call).
 */
#include "node/reconcile.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"

extern char **environ;

/* The program itself: the binary watch runs, even after a package upgrade replaced the file. */
#define SELF_EXE "/proc/self/exe"
/* How long the record waits for a run that holds the lock (a short write). */
#define SAVE_WAIT_MS 3000
/* A child past its limit: SIGTERM, then SIGKILL this much later. */
#define LIMIT_GRACE_MS (10 * 1000)

/* Not passed to the child: the service manager's (for watch's unit only) and watch's test knobs. */
static int
env_kept(const char *entry)
{
    static const char *const drop[] = {
        "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "WCS_AGENT_TEST_"};
    size_t i;

    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strncmp(entry, drop[i], strlen(drop[i])) == 0)
            return 0;
    return 1;
}

void
reconcile_init(struct reconcile *r, int64_t interval_ms, int64_t limit_ms)
{
    memset(r, 0, sizeof(*r));
    r->interval_ms = interval_ms > 0 ? interval_ms : 0;
    r->limit_ms = limit_ms;
    r->pid = -1;
    r->next_ms = clock_mono_ms() + r->interval_ms;
}

int
reconcile_due(const struct reconcile *r)
{
    return r->interval_ms > 0 && r->pid == -1 && clock_mono_ms() >= r->next_ms;
}

int
reconcile_running(const struct reconcile *r)
{
    return r->pid != -1;
}

int
reconcile_allowed(const struct run_ctx *ctx, char *why, size_t cap)
{
    struct state st;
    enum drain_state d;

    why[0] = '\0';
    if (state_load_quiet(ctx->state_dir, &st) != AGENT_OK) {
        snprintf(why, cap, "no readable state.json in %s (the boot run has not recorded)",
                 ctx->state_dir);
        return 0;
    }
    /* A state file of 0.1 has no phase: a node whose run finished has been in service. */
    if (st.phase != STATE_PHASE_IN_SERVICE &&
        !(st.phase == STATE_PHASE_NONE && st.ready.at[0] != '\0')) {
        snprintf(why, cap, "the node has not entered service (phase %s)",
                 st.phase == STATE_PHASE_NONE ? "none" : state_phase_str(st.phase));
        return 0;
    }
    d = st.drain.state;
    if (d == DRAIN_STATE_DRAINING || d == DRAIN_STATE_DRAINED || d == DRAIN_STATE_TIMED_OUT) {
        snprintf(why, cap, "the node is %s (reason: %s)", state_drain_str(d),
                 st.drain.reason[0] != '\0' ? st.drain.reason : "-");
        return 0;
    }
    /* `wcs-agent deregister` by hand: the run's register step would undo it. */
    if (st.deregistered[0] != '\0') {
        snprintf(why, cap,
                 "the node was deregistered at %s (wcs-agent deregister; `wcs-agent run` "
                 "registers it again)",
                 st.deregistered);
        return 0;
    }
    if (state_lock_held(ctx->state_dir)) {
        snprintf(why, cap, "%s", "another run holds the run lock");
        return 0;
    }
    return 1;
}

void
reconcile_wait(struct reconcile *r, const char *why)
{
    if (strcmp(r->waiting, why) == 0)
        return;
    snprintf(r->waiting, sizeof(r->waiting), "%s", why);
    log_info("watch: reconcile waits: %s", why);
}

/* ---- the record ---- */

static void
record(const struct run_ctx *ctx, const struct state_reconcile *rec)
{
    struct state st;
    enum agent_rc rc;
    int fd = -1;

    rc = state_lock_wait(ctx->state_dir, SAVE_WAIT_MS, &fd);
    if (rc != AGENT_OK) {
        log_warnx("watch: reconcile: not recorded in state.json (%s)",
                  rc == AGENT_ERR_BUSY ? "a run holds the lock" : agent_rc_str(rc));
        return;
    }
    rc = state_load(ctx->state_dir, &st);
    if (rc == AGENT_OK) {
        st.reconcile = *rec;
        rc = state_save(ctx->state_dir, &st);
    }
    if (rc != AGENT_OK)
        log_warnx("watch: reconcile: not recorded in state.json (%s)", agent_rc_str(rc));
    close(fd);
}

/* What an exit status of `run` means when the run recorded nothing (design.md §2). */
static const char *
exit_meaning(int code)
{
    switch (code) {
    case 64:
        return "usage error";
    case 75:
        return "temporary failure or another run holds the lock";
    case 78:
        return "configuration error";
    default:
        return "failed";
    }
}

static void set_detail(struct state_reconcile *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* rec->detail, cut with "..." to fit (a summary; the whole text is in the log). */
static void
set_detail(struct state_reconcile *rec, const char *fmt, ...)
{
    char text[1024];
    size_t cap = sizeof(rec->detail);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (strlen(text) < cap) {
        memcpy(rec->detail, text, strlen(text) + 1);
        return;
    }
    memcpy(rec->detail, text, cap - 4);
    memcpy(rec->detail + cap - 4, "...", 4);
}

/* The record of a child that ended with res; st: the state after it (have: it could be read). */
static void
describe(const struct reconcile *r, const struct spawn_result *res, const struct state *st,
         int have, struct state_reconcile *rec)
{
    int recorded = have && st->run.id[0] != '\0' && strcmp(st->run.id, r->before_run_id) != 0 &&
                   st->run.result != RUN_RESULT_RUNNING;
    unsigned changed = 0;
    char names[128];
    int i;

    memset(rec, 0, sizeof(*rec));
    clock_rfc3339(clock_now(), rec->at);
    if (recorded)
        snprintf(rec->run_id, sizeof(rec->run_id), "%s", st->run.id);
    if (res->exited && res->exit_code == 0) {
        for (i = STEP_SECRETS; recorded && i < STEP__MAX; i++)
            if (st->steps[i].result == STEP_RESULT_CHANGED)
                changed |= 1u << i;
        if (changed == 0) {
            rec->result = RECONCILE_OK;
            set_detail(rec, "%s", "nothing changed");
            return;
        }
        rec->result = RECONCILE_CHANGED;
        state_steps_str(changed, names, sizeof(names));
        /* The service step says what became of the restart (done, drained for it, deferred). */
        set_detail(rec, "changed: %s; service: %s", names,
                   st->steps[STEP_SERVICE].detail[0] != '\0'
                       ? st->steps[STEP_SERVICE].detail
                       : state_step_result_str(st->steps[STEP_SERVICE].result));
        return;
    }
    rec->result = RECONCILE_FAILED;
    /* The innermost cause: the failed step's error as the run recorded it. */
    for (i = 0; recorded && st->run.result == RUN_RESULT_FAILED && i < STEP__MAX; i++) {
        if (st->steps[i].result == STEP_RESULT_FAILED) {
            set_detail(rec, "%s: %s", state_step_name((enum step_id)i),
                       st->steps[i].error[0] != '\0' ? st->steps[i].error : "failed");
            return;
        }
    }
    if (r->stopped[0] != '\0')
        set_detail(rec, "%s", r->stopped);
    else if (res->exited)
        set_detail(rec, "run exited %d (%s; its lines are above)", res->exit_code,
                   exit_meaning(res->exit_code));
    else if (res->signal != 0)
        set_detail(rec, "run killed by signal %d", res->signal);
    else
        set_detail(rec, "%s", "run lost (waitpid failed)");
}

static void
finish(struct reconcile *r, const struct run_ctx *ctx, const struct spawn_result *res)
{
    struct state_reconcile rec;
    struct state st;
    int have = state_load_quiet(ctx->state_dir, &st) == AGENT_OK;
    int64_t took = clock_mono_ms() - r->started_ms;

    describe(r, res, &st, have, &rec);
    switch (rec.result) {
    case RECONCILE_OK:
        log_info("watch: reconcile: nothing changed (%.1f s)", (double)took / 1000.0);
        break;
    case RECONCILE_CHANGED:
        log_info("watch: reconcile: %s (%.1f s)", rec.detail, (double)took / 1000.0);
        break;
    default:
        log_warnx("watch: reconcile failed: %s; trying again in %lld s", rec.detail,
                  (long long)(r->interval_ms / 1000));
        break;
    }
    record(ctx, &rec);
    r->pid = -1;
    r->kill_ms = 0;
    r->stopped[0] = '\0';
    r->next_ms = clock_mono_ms() + r->interval_ms;
}

/* ---- the child ---- */

/* argv: the program name, watch's global options, `run --skip update`; pointers into env/ctx. */
static const char **
child_argv(const struct run_ctx *ctx)
{
    const struct run_env *env = ctx->env;
    size_t n = 0, cap = 16 + 2 * env->in.n_sets;
    const char **argv = calloc(cap, sizeof(*argv));
    int v = log_get_verbosity();
    size_t i;

    if (argv == NULL)
        return NULL;
    argv[n++] = "wcs-agent";
    if (env->in.path != NULL) {
        argv[n++] = "--config";
        argv[n++] = env->in.path;
    }
    for (i = 0; i < env->in.n_sets; i++) {
        argv[n++] = "--set";
        argv[n++] = env->in.sets[i];
    }
    /* The folder watch reads, whatever the run would choose itself. */
    argv[n++] = "--state-dir";
    argv[n++] = ctx->state_dir;
    if (log_get_format() == LOG_FMT_JSON) {
        argv[n++] = "--log-format";
        argv[n++] = "json";
    }
    if (v < 0)
        argv[n++] = "-q";
    for (v = v > 3 ? 3 : v; v > 0; v--) /* -v -v is trace, the most there is */
        argv[n++] = "-v";
    argv[n++] = "run";
    argv[n++] = "--skip";
    argv[n++] = "update";
    argv[n] = NULL;
    return argv;
}

static const char **
child_env(void)
{
    size_t n = 0, i;
    const char **envp;

    for (i = 0; environ != NULL && environ[i] != NULL; i++)
        n++;
    envp = calloc(n + 1, sizeof(*envp));
    if (envp == NULL)
        return NULL;
    n = 0;
    for (i = 0; environ != NULL && environ[i] != NULL; i++)
        if (env_kept(environ[i]))
            envp[n++] = environ[i];
    envp[n] = NULL;
    return envp;
}

enum agent_rc
reconcile_start(struct reconcile *r, const struct run_ctx *ctx)
{
    struct spawn_opts so;
    struct spawn_result res;
    struct state st;
    const char **argv = child_argv(ctx), **envp = child_env();
    enum agent_rc rc = AGENT_ERR_NOMEM;

    r->before_run_id[0] = '\0';
    if (state_load_quiet(ctx->state_dir, &st) == AGENT_OK)
        snprintf(r->before_run_id, sizeof(r->before_run_id), "%s", st.run.id);
    r->waiting[0] = '\0';
    r->stopped[0] = '\0';
    r->kill_ms = 0;
    r->started_ms = clock_mono_ms();
    if (argv != NULL && envp != NULL) {
        memset(&so, 0, sizeof(so));
        so.argv = argv;
        so.path = SELF_EXE;
        so.env = envp;
        log_info("watch: reconcile: `wcs-agent run --skip update` (every %lld s)",
                 (long long)(r->interval_ms / 1000));
        rc = spawn_start(&so, &r->pid);
    }
    free(argv);
    free(envp);
    if (rc != AGENT_OK) {
        r->pid = -1;
        memset(&res, 0, sizeof(res));
        snprintf(r->stopped, sizeof(r->stopped), "the run could not be started (%s)",
                 agent_rc_str(rc));
        finish(r, ctx, &res);
        return rc;
    }
    return AGENT_OK;
}

void
reconcile_stop(struct reconcile *r, const char *why, int64_t grace_ms)
{
    if (r->pid == -1 || r->stopped[0] != '\0')
        return;
    snprintf(r->stopped, sizeof(r->stopped), "stopped: %s", why);
    log_info("watch: reconcile: stopping the run (%s)", why);
    spawn_signal(r->pid, SIGTERM);
    r->kill_ms = clock_mono_ms() + (grace_ms > 0 ? grace_ms : 1);
}

int
reconcile_poll(struct reconcile *r, const struct run_ctx *ctx)
{
    struct spawn_result res;
    int64_t now = clock_mono_ms();
    int got;

    if (r->pid == -1)
        return 1;
    if (r->kill_ms != 0 && now >= r->kill_ms) {
        log_warnx("watch: reconcile: the run did not end after SIGTERM: killing it");
        spawn_signal(r->pid, SIGKILL);
        r->kill_ms = 0;
    }
    if (r->stopped[0] == '\0' && r->limit_ms > 0 && now - r->started_ms >= r->limit_ms)
        reconcile_stop(r, "it ran past agent.deadline", LIMIT_GRACE_MS);
    got = spawn_reap(r->pid, &res);
    if (got == 0)
        return 0;
    finish(r, ctx, &res);
    spawn_result_cleanup(&res);
    return 1;
}
