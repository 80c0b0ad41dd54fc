#include "run/retry.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/interrupt.h"
#include "core/log.h"

#define RETRY_FIRST_MS   1000
#define RETRY_MAX_MS     (30 * 1000)
#define RETRY_RESERVE_MS (30 * 1000)
/* Heartbeats are looked at this often while a retry waits. */
#define RETRY_NAP_MS 1000

int64_t
run_retry_delay_ms(int n, uint64_t *jitter)
{
    int64_t d = RETRY_FIRST_MS;

    while (--n > 0 && d < RETRY_MAX_MS)
        d *= 2;
    if (d > RETRY_MAX_MS)
        d = RETRY_MAX_MS;
    return d - (int64_t)(clock_jitter_next(jitter) % (uint64_t)(d / 4 + 1));
}

int64_t
run_retry_reserve_ms(int64_t deadline_ms)
{
    return deadline_ms / 4 < RETRY_RESERVE_MS ? deadline_ms / 4 : RETRY_RESERVE_MS;
}

void
run_record_interrupt(struct state_step *rec)
{
    char text[64];

    snprintf(text, sizeof(text), "interrupted by %s", interrupt_name(interrupt_pending()));
    rec->result = STEP_RESULT_FAILED;
    state_step_set_error(rec, text);
}

/* Waits ms, sending lifecycle heartbeats; 0, or -1 when a signal cut the wait short. */
static int
wait_with_heartbeats(struct run_ctx *ctx, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms, left;

    while ((left = end - clock_mono_ms()) > 0) {
        run_heartbeat(ctx);
        if (interrupt_pending() != 0)
            return -1;
        clock_sleep_ms(left < RETRY_NAP_MS ? left : RETRY_NAP_MS);
    }
    return interrupt_pending() != 0 ? -1 : 0;
}

enum agent_rc
run_step_retrying(struct run_ctx *ctx, enum step_id id, step_fn fn, struct state_step *rec)
{
    char started[sizeof(rec->started)], why[sizeof(rec->error)];
    int64_t reserve = run_retry_reserve_ms(ctx->cfg->agent.deadline_s * 1000), delay;
    uint64_t jitter = clock_jitter_seed(ctx);
    enum agent_rc rc;
    int attempt;

    memcpy(started, rec->started, sizeof(started));
    for (attempt = 1;; attempt++) {
        memset(rec, 0, sizeof(*rec));
        memcpy(rec->started, started, sizeof(started));
        rec->attempts = attempt;
        rc = fn(ctx, rec);
        if (rc == AGENT_OK || !agent_rc_retryable(rc) || interrupt_pending() != 0 ||
            id == STEP_DISCOVER || id == STEP_SIGNAL || ctx->opts->dry_run)
            return rc;
        snprintf(why, sizeof(why), "%s", rec->error[0] != '\0' ? rec->error : agent_rc_str(rc));
        delay = run_retry_delay_ms(attempt, &jitter);
        if (deadline_left_ms(&ctx->deadline) - delay < reserve) {
            log_warnx("attempt %d failed (%s); not retrying: the run deadline (agent.deadline) "
                      "is near",
                      attempt, why);
            return rc;
        }
        log_warnx("attempt %d failed (%s); retrying in %.1f s", attempt, why,
                  (double)delay / 1000.0);
        if (wait_with_heartbeats(ctx, delay) != 0)
            return AGENT_ERR_INTR;
    }
}
