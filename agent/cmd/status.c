#include "cmd/status.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "node/discover.h"
#include "node/state.h"

struct status_opts {
    int json;          /* print the state document */
    int wait;          /* block until the run in progress ends */
    int64_t timeout_s; /* with wait: at most this long */
};

static const char usage[] =
    "usage: wcs-agent status [--json] [--wait] [--timeout SECONDS]\n"
    "the last or current run, step by step\n"
    "\n"
    "options:\n"
    "  --json                the state document\n"
    "  --wait                wait for a run in progress to end\n"
    "  --timeout SECONDS     the longest wait (default 600)\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 the last run succeeded, 1 it failed, 3 no run recorded, 4 a run in progress,\n"
    "  64 usage error, 78 configuration error\n";

static void
print_counts(const char *label, const struct state_counts *c)
{
    size_t i;

    printf("  %-13s", label);
    if (c->n == 0)
        printf(" unknown");
    for (i = 0; i < c->n && i < STATE_COUNTS_MAX; i++)
        printf(" %s=%lld", c->item[i].name, c->item[i].value);
    printf("\n");
}

/* The drain object (design.md §8.2), when there was a drain. */
static void
print_drain(const struct state_drain *d)
{
    if (d->state == DRAIN_STATE_NONE)
        return;
    printf("drain: %s (reason: %s), started %s", state_drain_str(d->state),
           d->reason[0] ? d->reason : "-", d->started[0] ? d->started : "-");
    if (d->finished[0] != '\0')
        printf(", finished %s", d->finished);
    printf("\n");
    print_counts("start counts:", &d->start_counts);
    print_counts("last counts:", &d->last_counts);
}

/* The last reconcile of watch (design.md §8.1), when there was one. */
static void
print_reconcile(const struct state_reconcile *r)
{
    if (r->result == RECONCILE_NONE)
        return;
    printf("reconcile: %s at %s: %s\n", state_reconcile_str(r->result), r->at[0] ? r->at : "-",
           r->detail[0] ? r->detail : "-");
}

static void
print_table(const struct state *st, int running, int interrupted)
{
    int i;

    printf("%-10s %-8s %10s  %s\n", "STEP", "RESULT", "DURATION", "DETAIL");
    for (i = 0; i < STEP__MAX; i++) {
        const struct state_step *s = &st->steps[i];
        const char *text =
            s->result == STEP_RESULT_FAILED && s->error[0] != '\0' ? s->error : s->detail;
        char dur[32] = "-";

        if (s->started[0] != '\0')
            snprintf(dur, sizeof(dur), "%lld ms", (long long)s->duration_ms);
        printf("%-10s %-8s %10s  %s\n", state_step_name((enum step_id)i),
               state_step_result_str(s->result), dur, text);
    }
    printf("\ninstance %s, run %s, started %s", st->instance_id[0] ? st->instance_id : "-",
           st->run.id[0] ? st->run.id : "-", st->run.started[0] ? st->run.started : "-");
    if (st->run.finished[0] != '\0')
        printf(", finished %s", st->run.finished);
    printf("\nresult: %s", running       ? "running (a run holds the lock)"
                           : interrupted ? "interrupted (the run ended without finishing)"
                                         : state_run_result_str(st->run.result));
    if (!running && (st->run.result == RUN_RESULT_OK || st->run.result == RUN_RESULT_FAILED))
        printf(" (exit %d)", st->run.exit_code);
    if (st->ready.at[0] != '\0')
        printf(", ready since %s", st->ready.at);
    printf("\n");
    if (st->phase != STATE_PHASE_NONE)
        printf("phase: %s\n", state_phase_str(st->phase));
    if (st->pending.restart != 0) {
        char why[128];

        state_steps_str(st->pending.restart, why, sizeof(why));
        printf("restart pending: %s changed (the next `wcs-agent run` restarts WCS)\n", why);
    }
    print_drain(&st->drain);
    print_reconcile(&st->reconcile);
    if (st->deregistered[0] != '\0')
        printf("deregistered: since %s (wcs-agent deregister); `wcs-agent run` registers the node "
               "again\n",
               st->deregistered);
}

static enum agent_rc
status_command(const struct run_env *env, const struct status_opts *o, int *exit_status)
{
    struct agent_config *cfg = NULL;
    const char *dir;
    struct state st;
    struct deadline dl;
    enum agent_rc rc;
    int interrupted = 0, running;

    rc = discover_load_config(env, NULL, &cfg);
    if (rc != AGENT_OK)
        return rc;
    dir = env->state_dir != NULL ? env->state_dir : cfg->agent.state_dir;
    deadline_in(&dl, (o->timeout_s > 0 ? o->timeout_s : 600) * 1000);
    for (;;) {
        rc = state_load(dir, &st);
        if (rc == AGENT_ERR_ABSENT) {
            running = state_lock_held(dir);
            if (!running || !o->wait || deadline_expired(&dl)) {
                /* With --json, stdout carries documents only: the message goes to stderr. */
                if (running) {
                    fprintf(o->json ? stderr : stdout,
                            "a run is starting (no state recorded yet)\n");
                    *exit_status = 4;
                } else {
                    fprintf(o->json ? stderr : stdout, "no run recorded on this instance (%s/%s)\n",
                            dir, STATE_FILE);
                    *exit_status = 3;
                }
                rc = AGENT_OK;
                goto out;
            }
        } else if (rc != AGENT_OK) {
            goto out;
        } else {
            /* A held lock means a run is in progress, even one that has not written yet. */
            running = state_lock_held(dir);
            interrupted = st.run.result == RUN_RESULT_RUNNING && !running;
            if (!running || !o->wait || deadline_expired(&dl))
                break;
        }
        clock_sleep_ms(200);
    }

    if (o->json) {
        struct buf b;

        buf_init(&b, STATE_MAX);
        rc = state_to_json(&st, &b);
        if (rc == AGENT_OK)
            fwrite(b.data, 1, b.len, stdout);
        buf_cleanup(&b);
        if (rc != AGENT_OK)
            goto out;
    } else {
        print_table(&st, running, interrupted);
    }
    if (running)
        *exit_status = 4;
    else if (st.run.result == RUN_RESULT_OK)
        *exit_status = 0;
    else if (st.run.result == RUN_RESULT_NONE)
        *exit_status = 3;
    else
        *exit_status = 1;
    rc = AGENT_OK;
out:
    fflush(stdout);
    config_free(cfg);
    return rc;
}

int
cmd_status(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct status_opts so = {0, 0, 600};
    enum agent_rc rc;
    long long t;
    int c, status = 1;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            so.json = 1;
            break;
        case 'w':
            so.wait = 1;
            break;
        case 't':
            if (str_to_ll(optarg, 1, 86400, &t) != AGENT_OK)
                return cmd_usage_error("--timeout: not a number of seconds in 1..86400: %s",
                                       optarg);
            so.timeout_s = t;
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
    rc = status_command(env, &so, &status);
    if (rc != AGENT_OK)
        return agent_rc_exit_status(rc);
    return status;
}
