#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/interrupt.h"

/* The longest nap of clock_sleep_ms() between looks at the interrupt flag. */
#define SLEEP_SLICE_MS 100

/* The fake wall time of the tests; 0 when the real clock is used. */
static time_t fake_now;

int64_t
clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

time_t
clock_now(void)
{
    if (fake_now != 0)
        return fake_now;
    return time(NULL);
}

int64_t
clock_now_ms(void)
{
    struct timespec ts;

    if (fake_now != 0)
        return (int64_t)fake_now * 1000;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_set_fake(time_t t)
{
    fake_now = t;
}

void
clock_sleep_ms(int64_t ms)
{
    struct timespec req;
    int64_t end = clock_mono_ms() + ms, left;

    /* In slices, so a signal taken by another thread (libcurl's resolver) is seen too. */
    while (!interrupt_pending()) {
        left = end - clock_mono_ms();
        if (left <= 0)
            return;
        if (left > SLEEP_SLICE_MS)
            left = SLEEP_SLICE_MS;
        req.tv_sec = (time_t)(left / 1000);
        req.tv_nsec = (long)(left % 1000) * 1000000L;
        nanosleep(&req, NULL); /* EINTR: the loop looks at the clock and the flag again */
    }
}

void
clock_rfc3339(time_t t, char out[32])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

void
clock_rfc3339_ms(int64_t ms, char out[32])
{
    struct tm tm;
    time_t t;
    int frac;
    char sec[24];

    t = (time_t)(ms / 1000);
    frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        t--;
    }
    if (gmtime_r(&t, &tm) == NULL || strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 32, "%s.%03dZ", sec, frac);
}

/* Reads exactly n digits; -1 when one is missing. */
static int
digits(const char **p, int n)
{
    int v = 0;

    while (n-- > 0) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    if (m == 2 && leap)
        return 29;
    return days[m - 1];
}

/*
 * Field by field rather than strptime(), which accepts missing digits and
 * spaces; timegm() then turns the UTC fields into seconds.
 */
enum agent_rc
clock_parse_rfc3339(const char *s, time_t *out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec;
    struct tm tm;
    time_t t;

    if (s == NULL)
        return AGENT_ERR_PARSE;
    y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return AGENT_ERR_PARSE;
    mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return AGENT_ERR_PARSE;
    d = digits(&p, 2);
    if (d < 1 || d > days_in_month(y, mo) || (*p != 'T' && *p != 't'))
        return AGENT_ERR_PARSE;
    p++;
    h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':')
        return AGENT_ERR_PARSE;
    mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return AGENT_ERR_PARSE;
    sec = digits(&p, 2);
    if (sec < 0 || sec > 60)
        return AGENT_ERR_PARSE;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return AGENT_ERR_PARSE;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
        return AGENT_ERR_PARSE;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    errno = 0;
    t = timegm(&tm);
    if (t == (time_t)-1 && errno != 0)
        return AGENT_ERR_PARSE;
    *out = t;
    return AGENT_OK;
}

void
deadline_in(struct deadline *d, int64_t ms)
{
    int64_t now = clock_mono_ms();

    /* end_ms 0 means "none", so an expired deadline is kept at 1 or more. */
    if (ms <= 0)
        d->end_ms = now > 0 ? now : 1;
    else if (ms > INT64_MAX - now)
        d->end_ms = INT64_MAX;
    else
        d->end_ms = now + ms;
}

void
deadline_none(struct deadline *d)
{
    d->end_ms = 0;
}

int64_t
deadline_left_ms(const struct deadline *d)
{
    int64_t now;

    if (d == NULL || d->end_ms == 0)
        return INT64_MAX;
    now = clock_mono_ms();
    if (now >= d->end_ms)
        return 0;
    return d->end_ms - now;
}

int
deadline_expired(const struct deadline *d)
{
    return deadline_left_ms(d) == 0;
}

int64_t
deadline_cap_ms(const struct deadline *d, int64_t ms)
{
    int64_t left = deadline_left_ms(d);

    if (left == 0)
        return 0;
    if (ms < left)
        return ms < 1 ? 1 : ms;
    return left;
}

uint64_t
clock_jitter_seed(const void *salt)
{
    uint64_t x = (uint64_t)clock_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() ^
                 (uint64_t)(uintptr_t)salt;

    return x != 0 ? x : 0x2545f4914f6cdd1dULL;
}

uint64_t
clock_jitter_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}
