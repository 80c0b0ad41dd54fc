/*
 * reconcile: watch's periodic rerun of the boot pipeline (design.md §8.1:
 * each watch.reconcile_interval, re-resolve the secret references and apply
 * a changed certificate or licence by the drain-safe restart of §8.3).
 *
 * A reconcile is a child process, `/proc/self/exe [global options] run
 * --skip update`, not an in-process call of the pipeline:
 *
 *  - exact: it is the very `run` an operator types, with its run lock, its
 *    state record, restart.mode and the drain-safe restart (run/life.c).
 *    There is no second copy of the pipeline and no sideways call from
 *    cmd/ into run/.
 *  - isolated: the secrets it resolves live and die in the child, never in
 *    the long-running watch; what the pipeline allocates, the signal
 *    handlers it installs (core/interrupt), its log state and a crash stay
 *    in the child, so watch's memory stays flat over days.
 *  - watch stays responsive: it waits for the child in short ticks
 *    (watchdog pings, metrics, SIGTERM, the IMDS every period).
 *
 * The cost is one exec per interval (15 min by default) and the global
 * options passed on in argv (-c, --set, --state-dir, --log-format, -v/-q:
 * watch's own argv, nothing more; no secret is added to argv or the
 * environment).  The child gets watch's environment without the service
 * manager's NOTIFY_SOCKET and WATCHDOG_* (the child must not speak for
 * watch's unit) and without watch's test-only WCS_AGENT_TEST_* variables.
 * Its lines go to watch's stderr (the journal) as they are written.
 *
 * `update` is skipped: a reconcile applies what the secrets changed
 * (configure, licence, tls) and never installs a new WCS build; an upgrade
 * stays a deliberate `wcs-agent run`.
 *
 * The caller decides when: only while the node is in service and no drain
 * holds it (reconcile_allowed), and never while it drains itself.  While
 * the child runs the caller starts no drain and takes no lock; on SIGTERM
 * or a lifecycle change it stops the child (reconcile_stop) and waits for
 * it to end (reconcile_poll) before it acts.  The result goes into
 * state.json's `reconcile` object (status shows it); a failure is logged
 * with its innermost cause and tried again one interval later.
 */
#ifndef AGENT_NODE_RECONCILE_H
#define AGENT_NODE_RECONCILE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "node/ctx.h"

struct reconcile {
    int64_t interval_ms; /* 0: off */
    int64_t limit_ms;    /* a child running longer than this is stopped */
    int64_t next_ms;     /* monotonic time when the next one is due */
    pid_t pid;           /* the child; -1 when none runs */
    int64_t started_ms;
    int64_t kill_ms;        /* after a stop: SIGKILL at this time; 0: not (or already) sent */
    char stopped[96];       /* "stopped: WHY", or why it did not start; "" otherwise */
    char before_run_id[40]; /* state.json's run id before the child */
    char waiting[160];      /* why a due reconcile waits (logged once per change) */
};

/*
 * interval_ms 0: off.  The first one is due one interval from now (the boot
 * run has just run).  limit_ms bounds a child (agent.deadline and a margin).
 */
void reconcile_init(struct reconcile *r, int64_t interval_ms, int64_t limit_ms);

/* 1 when one is due now and none runs. */
int reconcile_due(const struct reconcile *r);

/* 1 while a child runs. */
int reconcile_running(const struct reconcile *r);

/*
 * 1 when state.json allows a reconcile now: the node has entered service,
 * no drain holds it (draining, drained, timed out; a cancelled drain does
 * not), `wcs-agent deregister` has not taken it out by hand, and no run
 * holds the run lock.  Otherwise 0 with why[cap] set.
 */
int reconcile_allowed(const struct run_ctx *ctx, char *why, size_t cap);

/* A due reconcile waits for why: logged when the reason changes. */
void reconcile_wait(struct reconcile *r, const char *why);

/*
 * Starts the child.  A failure to start it is logged and recorded, and the
 * next one is due one interval later (AGENT_ERR_IO).
 */
enum agent_rc reconcile_start(struct reconcile *r, const struct run_ctx *ctx);

/*
 * Called every tick while the child runs: sends the SIGKILL a stop left due,
 * stops a child past limit_ms, reaps it.  Returns 1 once it has ended: the
 * result is logged and recorded, the next one is due one interval later.
 */
int reconcile_poll(struct reconcile *r, const struct run_ctx *ctx);

/*
 * Asks the child to end (SIGTERM: `run` stops the step in progress and
 * records it), and kills it when it has not ended grace_ms later.  why is
 * recorded when the child recorded no failure of its own.
 */
void reconcile_stop(struct reconcile *r, const char *why, int64_t grace_ms);

#endif
