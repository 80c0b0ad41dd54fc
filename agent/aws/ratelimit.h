/*
 * ratelimit: the client-side rate limiter of the AWS SDKs' "adaptive" retry
 * mode (botocore retries/adaptive.py, bucket.py, throttling.py), one per
 * service.  Off until the first throttling error; from then on every request
 * takes a token from a bucket whose fill rate follows CUBIC: cut to 0.7 of
 * the measured send rate at each throttling error, grown back along a cubic
 * curve on successes (never above twice the measured send rate, never under
 * 0.5 requests a second).
 *
 * Pure: the caller passes the monotonic time in seconds and does the sleeping.
 */
#ifndef AGENT_AWS_RATELIMIT_H
#define AGENT_AWS_RATELIMIT_H

struct ratelimit {
    int enabled;          /* a throttling error was seen */
    double fill_rate;     /* tokens a second */
    double max_capacity;  /* max(fill_rate, 1) */
    double capacity;      /* tokens now */
    double last_refill;   /* time of the last refill, < 0 before the first */
    double measured_rate; /* smoothed send rate */
    double bucket_start;  /* start of the current 0.5 s measuring bucket */
    double count;         /* responses in the current bucket */
    double last_max_rate; /* CUBIC: the rate at the last throttling */
    double last_throttle; /* CUBIC: when it happened */
    double k;             /* CUBIC: time to grow back to last_max_rate */
};

void ratelimit_init(struct ratelimit *r, double now);

/*
 * Takes a token for a request at time now and returns the seconds to wait
 * before sending it: 0 when a token was there (or the limiter is off),
 * otherwise the time until the bucket has refilled it (the caller sleeps
 * that long once, then sends).
 */
double ratelimit_acquire(struct ratelimit *r, double now);

/* Records a response received at now; throttled: it was a throttling error. */
void ratelimit_update(struct ratelimit *r, double now, int throttled);

#endif
