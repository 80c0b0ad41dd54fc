#include "aws/ratelimit.h"

#include <math.h>

#define MIN_RATE     0.5
#define SMOOTHING    0.8
#define BUCKET_S     0.5
#define CUBIC_SCALE  0.4
#define CUBIC_BETA   0.7
#define ADJUST_SCALE 2.0

static void
set_rate(struct ratelimit *r, double rate)
{
    r->fill_rate = rate > MIN_RATE ? rate : MIN_RATE;
    r->max_capacity = rate >= 1.0 ? rate : 1.0;
    if (r->capacity > r->max_capacity)
        r->capacity = r->max_capacity;
}

void
ratelimit_init(struct ratelimit *r, double now)
{
    r->enabled = 0;
    r->capacity = 0.0;
    r->last_refill = -1.0;
    set_rate(r, MIN_RATE);
    r->measured_rate = 0.0;
    r->bucket_start = floor(now / BUCKET_S) * BUCKET_S;
    r->count = 0.0;
    r->last_max_rate = MIN_RATE;
    r->last_throttle = now;
    r->k = 0.0;
}

static void
refill(struct ratelimit *r, double now)
{
    if (r->last_refill >= 0.0 && now > r->last_refill) {
        r->capacity += (now - r->last_refill) * r->fill_rate;
        if (r->capacity > r->max_capacity)
            r->capacity = r->max_capacity;
    }
    if (r->last_refill < 0.0 || now > r->last_refill)
        r->last_refill = now;
}

double
ratelimit_acquire(struct ratelimit *r, double now)
{
    if (!r->enabled)
        return 0.0;
    refill(r, now);
    /* The token is reserved now; a bucket in debt says how long until it is paid. */
    r->capacity -= 1.0;
    return r->capacity >= 0.0 ? 0.0 : -r->capacity / r->fill_rate;
}

/* The smoothed send rate, measured over 0.5 s buckets. */
static double
measure(struct ratelimit *r, double now)
{
    double b = floor(now / BUCKET_S) * BUCKET_S;

    r->count += 1.0;
    if (b > r->bucket_start) {
        double cur = r->count / (b - r->bucket_start);

        r->measured_rate = cur * SMOOTHING + r->measured_rate * (1.0 - SMOOTHING);
        r->count = 0.0;
        r->bucket_start = b;
    }
    return r->measured_rate;
}

void
ratelimit_update(struct ratelimit *r, double now, int throttled)
{
    double measured = measure(r, now), rate, t;

    if (throttled) {
        rate = r->enabled && r->fill_rate < measured ? r->fill_rate : measured;
        r->last_max_rate = rate;
        r->k = cbrt(rate * (1.0 - CUBIC_BETA) / CUBIC_SCALE);
        r->last_throttle = now;
        rate *= CUBIC_BETA;
        r->enabled = 1;
    } else {
        r->k = cbrt(r->last_max_rate * (1.0 - CUBIC_BETA) / CUBIC_SCALE);
        t = now - r->last_throttle - r->k;
        rate = CUBIC_SCALE * t * t * t + r->last_max_rate;
    }
    if (rate > ADJUST_SCALE * measured)
        rate = ADJUST_SCALE * measured;
    if (r->enabled) {
        refill(r, now);
        set_rate(r, rate);
    }
}
