/*
 * drain: takes a node out of service without cutting its calls (design.md
 * §8.2), and puts it back (undrain).
 *
 *   drain_start()   1. record `draining` (reason, start time, counters)
 *                   2. CDN route-away (cdn.role origin/edge/transcoder and
 *                      drain.cdn_route_away): enforce_node_state
 *                      GROUP_CONNECTIONS_ALLOWED through drain.rest_url
 *                   3. deregister from every target group / classic ELB
 *   drain_wait()    4. wait until every drain.until condition holds on the
 *                      stats page, or the deadline; lifecycle heartbeats on
 *                      the pending terminate action (when the drain starts,
 *                      then every third of the hook's HeartbeatTimeout); a
 *                      progress line every 30 s
 *   drain_finish()  5. licence.release: run licence.release_command
 *                   6. CompleteLifecycleAction CONTINUE on the terminate hook
 *                   7. record `drained` or `timed_out`; the summary line
 *
 * drain_prepare() is steps 1-4 in one call (a drain-safe restart calls it,
 * restarts WCS, waits ready, then undrain_node()); drain_node() is 1-7.
 *
 * One drain at a time: drain_start() holds <state_dir>/drain.lock until
 * drain_cleanup(); a second one gets AGENT_ERR_BUSY.  The run lock is taken
 * only for the moment a record is written (unless the caller saves the
 * record itself, see drain_save_fn).  undrain_node() in another process
 * cancels a running drain: it records `cancelled`, which the drain sees at
 * its next poll; the drain then stops waiting, leaves the record as it is
 * and does not complete the terminate action.
 */
#ifndef AGENT_NODE_DRAIN_H
#define AGENT_NODE_DRAIN_H

#include <stdint.h>
#include <time.h>

#include "core/rc.h"
#include "node/ctx.h"
#include "node/state.h"
#include "wcs/stats.h"

enum drain_reason {
    DRAIN_REASON_SCALE_IN,
    DRAIN_REASON_SPOT,
    DRAIN_REASON_STANDBY,
    DRAIN_REASON_REBALANCE,
    DRAIN_REASON_STOP,
    DRAIN_REASON_MANUAL,
    DRAIN_REASON__MAX
};

/* "scale-in", "spot", "standby", "rebalance", "stop", "manual". */
const char *drain_reason_str(enum drain_reason r);

/*
 * Writes the drain record.  The default (drain_opts.save NULL) loads
 * state.json under the run lock, replaces its drain object and saves it; a
 * caller that holds the run lock itself (run) passes its own.  Returns
 * AGENT_OK; AGENT_ERR_ABSENT when the record on disk says this drain was
 * cancelled (nothing written); anything else is logged by the saver and
 * the drain goes on.
 */
typedef enum agent_rc (*drain_save_fn)(void *arg, const struct state_drain *rec);

struct drain;

/* Called about every 200 ms while a drain waits (watchdog pings, IMDS polls, signals). */
typedef void (*drain_tick_fn)(void *arg, struct drain *d);

struct drain_opts {
    enum drain_reason reason;
    const char *note;   /* free text (--reason), logged; NULL: none */
    int64_t timeout_s;  /* the wait's limit; 0: drain.timeout */
    time_t not_after;   /* wall-clock end of the wait (Spot: notice time - margin); 0: none */
    int64_t poll_ms;    /* stats page period; 0: watch.interval, at most 5 s */
    drain_tick_fn tick; /* may be NULL */
    void *tick_arg;
    drain_save_fn save; /* NULL: the default (state.json under the run lock) */
    void *save_arg;
};

struct drain {
    struct run_ctx *ctx; /* borrowed */
    struct drain_opts o;
    struct state_drain rec;
    struct stats_cond *conds; /* drain.until */
    size_t n_conds;
    int lock_fd;
    int64_t t0_ms;      /* monotonic start */
    int64_t end_ms;     /* monotonic end of the wait */
    int cancelled;      /* by drain_cancel() or an undrain */
    int failed;         /* a step failed (the drain still ends) */
    char failure[400];  /* the first failure */
    char page_why[256]; /* the stats page's last problem, "" when it answered */
    int64_t last_progress_ms;
    /* The terminate hook. */
    int hook_state; /* 0 not looked up, 1 known, 2 none */
    char asg[256];
    char hook[256];
    int64_t hb_period_ms, hb_last_ms;
    int hb_sent, action_seen, hb_problem_logged;
    int completed; /* CompleteLifecycleAction was accepted */
};

/*
 * Steps 1-3.  AGENT_ERR_BUSY when another drain holds drain.lock (logged);
 * AGENT_ERR_INVAL for a bad drain.until (logged).  Failures of steps 2 and
 * 3 are recorded in d (d->failed) and do not stop the drain: it goes on.
 * d must be released with drain_cleanup() after AGENT_OK.
 */
enum agent_rc drain_start(struct run_ctx *ctx, const struct drain_opts *o, struct drain *d);

/* Step 4.  Ends with d->rec.state DRAINED, TIMED_OUT or CANCELLED; AGENT_OK. */
enum agent_rc drain_wait(struct drain *d);

/*
 * Steps 5-7 (only 7's summary when the drain was cancelled).  AGENT_OK, or
 * AGENT_ERR_CHILD / the AWS code when a step of the whole drain failed.
 */
enum agent_rc drain_finish(struct drain *d);

/* Releases drain.lock and the conditions. */
void drain_cleanup(struct drain *d);

/* Steps 1-4 (drain_start, drain_wait); release d with drain_cleanup(). */
enum agent_rc drain_prepare(struct run_ctx *ctx, const struct drain_opts *o, struct drain *d);

/* Steps 1-7; *result (may be NULL) gets the final state. */
enum agent_rc drain_node(struct run_ctx *ctx, const struct drain_opts *o, enum drain_state *result);

/* From a tick: stop waiting (the record is left to whoever cancelled). */
void drain_cancel(struct drain *d);

/* From a tick: the wait ends within left_ms from now (never later than it would). */
void drain_cut(struct drain *d, int64_t left_ms);

/* The wait ends at wall-clock t at the latest (a Spot notice), less 1 s for steps 5-7. */
void drain_cut_at(struct drain *d, time_t t);

/*
 * undrain (§8.2): records `cancelled` (a running drain stops at its next
 * poll; its drain.lock is awaited up to 30 s), clears the forced CDN state
 * (an empty enforce_node_state), registers again.  save NULL: the default
 * saver.  AGENT_OK; the failing step's code otherwise (logged).
 */
enum agent_rc undrain_node(struct run_ctx *ctx, drain_save_fn save, void *save_arg);

/*
 * The default saver: arg is the run_ctx (its state_dir and instance id).
 * Takes the run lock for the write (waiting up to 3 s for a run holding it).
 */
enum agent_rc drain_save_state(void *arg, const struct state_drain *rec);

#endif
