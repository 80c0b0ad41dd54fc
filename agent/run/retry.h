/*
 * retry: one step of the pipeline with its retries (design.md §1).  A step
 * that fails temporarily (a 75-class code: network, timeout, throttling) is
 * run again with backoff inside agent.deadline, sending lifecycle
 * heartbeats while it waits; a definite failure, SIGTERM/SIGINT, or a
 * deadline too near for another attempt ends it.
 */
#ifndef AGENT_RUN_RETRY_H
#define AGENT_RUN_RETRY_H

#include <stdint.h>

#include "core/rc.h"
#include "node/ctx.h"
#include "node/state.h"

typedef enum agent_rc (*step_fn)(struct run_ctx *ctx, struct state_step *rec);

/*
 * Runs fn for step id until it succeeds or fails for good; rec holds the
 * last attempt (rec->attempts counts them, rec->started is the first).
 * discover and signal, and every step of a dry run, get one attempt.
 */
enum agent_rc run_step_retrying(struct run_ctx *ctx, enum step_id id, step_fn fn,
                                struct state_step *rec);

/*
 * The wait before attempt n + 1 (n >= 1): 1 s doubling to 30 s, with up to
 * a quarter taken off at random from *jitter.
 */
int64_t run_retry_delay_ms(int n, uint64_t *jitter);

/*
 * The time a run keeps back for signalling failure: 30 s, but at most a
 * quarter of agent.deadline.
 */
int64_t run_retry_reserve_ms(int64_t deadline_ms);

/* Records the signal that stopped the run as rec's failure: "interrupted by SIGTERM". */
void run_record_interrupt(struct state_step *rec);

#endif
