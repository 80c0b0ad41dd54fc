/*
 * clock: monotonic time, deadlines, wall time (with a seam for tests) and
 * RFC 3339 formatting.
 */
#ifndef AGENT_CORE_CLOCK_H
#define AGENT_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "core/rc.h"

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t clock_mono_ms(void);

/* Wall-clock seconds since the epoch (the fake time when one is set). */
time_t clock_now(void);

/* Wall-clock milliseconds since the epoch (the fake time * 1000 when one is set). */
int64_t clock_now_ms(void);

/* Sets a fake wall time for tests; 0 restores the real clock. */
void clock_set_fake(time_t t);

/*
 * Sleeps ms milliseconds; returns early when SIGTERM or SIGINT arrived
 * (interrupt_pending(): the caller checks it).
 */
void clock_sleep_ms(int64_t ms);

/* "2026-11-27T00:18:31Z" into out[32]. */
void clock_rfc3339(time_t t, char out[32]);

/* "2026-11-27T00:18:31.042Z" (ms since the epoch, as clock_now_ms()) into out[32]. */
void clock_rfc3339_ms(int64_t ms, char out[32]);

/*
 * Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC), also with fractional seconds
 * ("...:31.123Z", dropped); AGENT_ERR_PARSE otherwise.
 */
enum agent_rc clock_parse_rfc3339(const char *s, time_t *out);

/*
 * Backoff jitter (never for secrets): a xorshift64 state seeded from the
 * monotonic clock, the pid and salt (e.g. the owner's address), never 0.
 */
uint64_t clock_jitter_seed(const void *salt);

/* The next value of the jitter generator *state. */
uint64_t clock_jitter_next(uint64_t *state);

/* A point on the monotonic clock; end_ms == 0 means no deadline. */
struct deadline {
    int64_t end_ms;
};

/* A deadline ms milliseconds from now (ms <= 0: already expired). */
void deadline_in(struct deadline *d, int64_t ms);

/* No deadline. */
void deadline_none(struct deadline *d);

/* Milliseconds left, 0 when expired, INT64_MAX without a deadline.  d may be NULL. */
int64_t deadline_left_ms(const struct deadline *d);

/* 1 when the deadline has passed. */
int deadline_expired(const struct deadline *d);

/* The smaller of ms and the time left (at least 1 ms when any time is left). */
int64_t deadline_cap_ms(const struct deadline *d, int64_t ms);

#endif
