#include "cmd/watch.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "aws/imds.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "node/drain.h"
#include "node/metrics.h"
#include "node/notify.h"
#include "node/reconcile.h"
#include "node/session.h"
#include "wcs/stats.h"

/*
 * Test-only (packaging/doc/configuration.md, "Test-only environment"): the
 * period in milliseconds instead of watch.interval, a number of periods
 * after which watch exits 0 (the soak test), and the reconcile interval in
 * milliseconds instead of watch.reconcile_interval (which still turns the
 * reconcile off at 0); read here only, and not passed to the reconcile's run.
 */
#define TEST_INTERVAL_ENV   "WCS_AGENT_TEST_INTERVAL_MS"
#define TEST_ITERATIONS_ENV "WCS_AGENT_TEST_ITERATIONS"
#define TEST_RECONCILE_ENV  "WCS_AGENT_TEST_RECONCILE_MS"

#define WATCHDOG_DEFAULT_MS (10 * 1000)
#define TICK_MS             200
/* A reconcile's run asked to stop (SIGTERM, a lifecycle change) is killed after this. */
#define RECONCILE_STOP_GRACE_MS (30 * 1000)
/* A reconcile's run may take agent.deadline and this margin before it is stopped. */
#define RECONCILE_LIMIT_MARGIN_MS (60 * 1000)

static const char usage_text[] =
    "usage: wcs-agent watch\n"
    "  the long-running half (under wcs-agent-watch.service): every watch.interval\n"
    "  reads the target lifecycle state, Spot and rebalance notices from IMDS and\n"
    "  the stats page; drains on scale-in, Spot, Standby (drain.on_standby) and\n"
    "  rebalance (drain.on_rebalance); undrains on a return to InService after\n"
    "  Standby; SIGTERM drains within drain.stop_timeout, then exits 0; every\n"
    "  watch.reconcile_interval (0: off) reruns `wcs-agent run --skip update` while\n"
    "  the node is in service, so a changed certificate or licence is applied by\n"
    "  the drain-safe restart (restart.mode)\n"
    "\n"
    "options:\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 stopped by SIGTERM (after draining), 1 failed, 64 usage error,\n"
    "  78 configuration error\n";

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

/* What one period read. */
struct observation {
    int ok;           /* IMDS answered every question */
    char target[64];  /* target lifecycle state; "" when not in an ASG (404) */
    int spot;         /* a Spot interruption notice is present */
    time_t spot_time; /* its time (0 when unreadable) */
    char spot_action[16];
    int rebalance; /* a rebalance recommendation is present */
};

struct watch {
    struct run_ctx ctx;
    struct run_opts ro;
    int64_t interval_ms;
    long long iterations, max_iterations;
    struct observation last;
    int have_last;
    char imds_problem[256];
    char page_problem[256];
    int64_t watchdog_ms, last_ping_ms;
    /* While a drain runs. */
    int draining;
    enum drain_reason drain_reason;
    int term_seen;
    int64_t next_poll_ms;
    int back_in_service; /* Standby -> InService seen during a standby drain */
    /* Metrics (design.md §8.4): one put per metrics.period, also while draining. */
    struct metrics_publisher metrics;
    int metrics_ready;
    int64_t next_metrics_ms;
    /* The reconcile (design.md §8.1, node/reconcile.h). */
    struct reconcile reconcile;
    int64_t stop_spent_ms; /* of drain.stop_timeout, spent ending a reconcile's run on SIGTERM */
};

/* ---- reading ---- */

static void
problem(char *slot, size_t cap, const char *what, const char *text)
{
    if (strcmp(slot, text) != 0) {
        if (text[0] != '\0')
            log_warnx("watch: %s: %s (watching on)", what, text);
        else if (slot[0] != '\0')
            log_info("watch: %s answers again", what);
        snprintf(slot, cap, "%s", text);
    }
}

/* IMDS path into out[cap] (trimmed); AGENT_ERR_ABSENT on 404. */
static enum agent_rc
imds_text(struct watch *w, const char *path, char *out, size_t cap)
{
    struct buf b;
    enum agent_rc rc;

    out[0] = '\0';
    buf_init(&b, 4096);
    rc = imds_get(w->ctx.disc.imds, path, &b);
    if (rc == AGENT_OK) {
        size_t n = b.len;

        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == ' ' || b.data[n - 1] == '\r'))
            n--;
        snprintf(out, cap, "%.*s", (int)n, b.data != NULL ? b.data : "");
    }
    buf_cleanup(&b);
    return rc;
}

/* The Spot notice's time: {"action": ..., "time": RFC3339}. */
static void
parse_spot(const char *json, struct observation *o)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *t, *a;

    o->spot_time = 0;
    o->spot_action[0] = '\0';
    if (root == NULL)
        return;
    t = cJSON_GetObjectItemCaseSensitive(root, "time");
    a = cJSON_GetObjectItemCaseSensitive(root, "action");
    if (cJSON_IsString(t) && clock_parse_rfc3339(t->valuestring, &o->spot_time) != AGENT_OK)
        o->spot_time = 0;
    if (cJSON_IsString(a) && str_is_text(a->valuestring, sizeof(o->spot_action) - 1))
        snprintf(o->spot_action, sizeof(o->spot_action), "%s", a->valuestring);
    cJSON_Delete(root);
}

static void
observe(struct watch *w, struct observation *o)
{
    char text[1024];
    enum agent_rc rc;

    memset(o, 0, sizeof(*o));
    rc = imds_text(w, "autoscaling/target-lifecycle-state", o->target, sizeof(o->target));
    if (rc == AGENT_OK || rc == AGENT_ERR_ABSENT)
        rc = imds_text(w, "spot/instance-action", text, sizeof(text));
    if (rc == AGENT_OK) {
        o->spot = 1;
        parse_spot(text, o);
    }
    if (rc == AGENT_OK || rc == AGENT_ERR_ABSENT)
        rc = imds_text(w, "events/recommendations/rebalance", text, sizeof(text));
    if (rc == AGENT_OK)
        o->rebalance = 1;
    o->ok = rc == AGENT_OK || rc == AGENT_ERR_ABSENT;
    problem(w->imds_problem, sizeof(w->imds_problem), "instance metadata",
            o->ok ? "" : agent_rc_str(rc));
}

/* The stats page into *s (n = 0 when it did not answer; logged once per change). */
static void
read_page(struct watch *w, struct stats *s)
{
    char why[256];

    if (wcs_stats_fetch(w->ctx.cfg->ready.url, 2000, s, why, sizeof(why)) == AGENT_OK) {
        why[0] = '\0';
    } else {
        stats_cleanup(s);
        memset(s, 0, sizeof(*s));
    }
    problem(w->page_problem, sizeof(w->page_problem), "the stats page", why);
}

/* ---- service manager ---- */

static void
ping(struct watch *w)
{
    int64_t now = clock_mono_ms();

    if (now - w->last_ping_ms < w->watchdog_ms / 2)
        return;
    w->last_ping_ms = now;
    (void)notify_send("WATCHDOG=1");
}

static void
publish_metrics(struct watch *w)
{
    struct awsapi *api;
    int64_t now = clock_mono_ms();

    if (!w->ctx.cfg->metrics.enabled || now < w->next_metrics_ms)
        return;
    w->next_metrics_ms = now + w->ctx.cfg->metrics.period_s * 1000;
    if (!w->metrics_ready) {
        if (run_aws(&w->ctx, &api) != AGENT_OK ||
            metrics_init(&w->metrics, &w->ctx, api) != AGENT_OK) {
            log_warnx("watch: metrics: no AWS client yet; trying again next period");
            return;
        }
        w->metrics_ready = 1;
    }
    /* A failed put is logged inside and tried again next period; watch goes on. */
    (void)metrics_publish(&w->metrics, w->draining);
}

/*
 * A change that decide() acts on (a drain or an undrain) while a reconcile's
 * run is going: the run is stopped first, and decide() sees the change at
 * the next period (w->last is left as it was).  why[cap] names it.
 */
static int
lifecycle_moved(const struct watch *w, const struct observation *o, char *why, size_t cap)
{
    if (!o->ok)
        return 0;
    if (strcmp(o->target, w->last.target) != 0)
        snprintf(why, cap, "target lifecycle state %s -> %s", w->last.target, o->target);
    else if (o->spot && !w->last.spot)
        snprintf(why, cap, "%s", "a Spot interruption notice");
    else if (o->rebalance && !w->last.rebalance && w->ctx.cfg->drain.on_rebalance)
        snprintf(why, cap, "%s", "a rebalance recommendation");
    else
        return 0;
    return 1;
}

/*
 * The reconcile (design.md §8.1): when due, and only while the node is in
 * service (target lifecycle state InService, or none outside an Auto
 * Scaling group) and no drain holds it, `wcs-agent run --skip update` in a
 * child (node/reconcile.h says why a child).  Watch waits for it in ticks:
 * the watchdog, metrics, SIGTERM (the run is stopped, then watch drains
 * within what is left of drain.stop_timeout) and the IMDS every period (a
 * lifecycle change stops the run; decide() acts on it next period).  Watch
 * starts no drain and takes no lock while the run goes: the run holds the
 * run lock, and drains for its own restart when restart.mode says so.
 */
static void
reconcile_period(struct watch *w, const struct observation *o)
{
    struct observation now;
    char why[160];
    int64_t term_ms = 0;

    if (got_term || !reconcile_due(&w->reconcile))
        return;
    if (!o->ok) {
        reconcile_wait(&w->reconcile, "the instance metadata does not answer");
        return;
    }
    if (o->target[0] != '\0' && strcmp(o->target, "InService") != 0) {
        snprintf(why, sizeof(why), "target lifecycle state %s", o->target);
        reconcile_wait(&w->reconcile, why);
        return;
    }
    if (!reconcile_allowed(&w->ctx, why, sizeof(why))) {
        reconcile_wait(&w->reconcile, why);
        return;
    }
    if (reconcile_start(&w->reconcile, &w->ctx) != AGENT_OK)
        return;
    w->next_poll_ms = clock_mono_ms() + w->interval_ms;
    while (!reconcile_poll(&w->reconcile, &w->ctx)) {
        clock_sleep_ms(TICK_MS);
        ping(w);
        publish_metrics(w);
        if (got_term && term_ms == 0) {
            int64_t grace = w->ctx.cfg->drain.stop_timeout_s * 1000;

            /* The run's end and watch's stop drain share drain.stop_timeout. */
            term_ms = clock_mono_ms();
            reconcile_stop(&w->reconcile, "SIGTERM",
                           grace < RECONCILE_STOP_GRACE_MS ? grace : RECONCILE_STOP_GRACE_MS);
        }
        if (clock_mono_ms() < w->next_poll_ms)
            continue;
        w->next_poll_ms = clock_mono_ms() + w->interval_ms;
        observe(w, &now);
        if (lifecycle_moved(w, &now, why, sizeof(why)))
            reconcile_stop(&w->reconcile, why, RECONCILE_STOP_GRACE_MS);
    }
    if (term_ms != 0)
        w->stop_spent_ms = clock_mono_ms() - term_ms;
}

/*
 * Called once per period, after the IMDS and the stats page were read (page:
 * its fields, n = 0 when it did not answer) and after any drain this period
 * started has ended: metrics publishing (design.md §8.4, every
 * metrics.period) and the reconcile of §8.1 (every
 * watch.reconcile_interval).  Nothing here may exit: a failure is logged and
 * tried again later.  Only the reconcile blocks, in ticks, while its run goes.
 */
static void
each_period(struct watch *w, const struct observation *o, const struct stats *page)
{
    (void)page; /* metrics_publish reads the page itself (one more GET a period) */
    publish_metrics(w);
    reconcile_period(w, o);
}

/* ---- decisions ---- */

static int
is_warmed(const char *s)
{
    return strncmp(s, "Warmed:", 7) == 0;
}

static int
drain_recorded_done(struct watch *w)
{
    struct state st;

    if (state_load_quiet(w->ctx.state_dir, &st) != AGENT_OK)
        return 0;
    /* A record still `draining` is a drain whose process died: drain again. */
    return st.drain.state == DRAIN_STATE_DRAINED || st.drain.state == DRAIN_STATE_TIMED_OUT;
}

static void tick(void *arg, struct drain *d);

static void
run_drain(struct watch *w, enum drain_reason reason, time_t not_after, int64_t timeout_s)
{
    struct drain_opts o;
    enum drain_state result = DRAIN_STATE_NONE;
    enum agent_rc rc;

    memset(&o, 0, sizeof(o));
    o.reason = reason;
    o.not_after = not_after;
    o.timeout_s = timeout_s;
    o.poll_ms = w->interval_ms;
    o.tick = tick;
    o.tick_arg = w;
    w->draining = 1;
    w->drain_reason = reason;
    w->back_in_service = 0;
    w->next_poll_ms = clock_mono_ms() + w->interval_ms;
    rc = drain_node(&w->ctx, &o, &result);
    w->draining = 0;
    if (rc == AGENT_ERR_BUSY)
        log_info("watch: a drain is already running (wcs-agent drain): not starting another");
    if (result == DRAIN_STATE_CANCELLED && w->back_in_service)
        (void)undrain_node(&w->ctx, NULL, NULL);
}

/* While a drain waits: watchdog, SIGTERM, and the IMDS every period. */
static void
tick(void *arg, struct drain *d)
{
    struct watch *w = arg;
    struct observation o;

    ping(w);
    publish_metrics(w);
    if (got_term && !w->term_seen) {
        w->term_seen = 1;
        log_info("watch: SIGTERM: the drain ends within drain.stop_timeout (%lld s)",
                 (long long)w->ctx.cfg->drain.stop_timeout_s);
        drain_cut(d, w->ctx.cfg->drain.stop_timeout_s * 1000);
    }
    if (clock_mono_ms() < w->next_poll_ms)
        return;
    w->next_poll_ms = clock_mono_ms() + w->interval_ms;
    observe(w, &o);
    if (!o.ok)
        return;
    if (o.spot && o.spot_time > 0 && (!w->last.spot || w->last.spot_time != o.spot_time)) {
        log_info("watch: Spot interruption notice (%s at the notice time): the drain ends %lld s "
                 "before it",
                 o.spot_action, (long long)w->ctx.cfg->drain.spot_margin_s);
        drain_cut_at(d, o.spot_time - (time_t)w->ctx.cfg->drain.spot_margin_s);
    }
    if (w->drain_reason == DRAIN_REASON_STANDBY && strcmp(o.target, "InService") == 0 &&
        strcmp(w->last.target, "InService") != 0) {
        log_info("watch: back to InService: the standby drain is cancelled");
        w->back_in_service = 1;
        drain_cancel(d);
    }
    w->last = o;
}

/* Acts on what changed since the last period (design.md §8.1). */
static void
decide(struct watch *w, const struct observation *o)
{
    const struct agent_config *cfg = w->ctx.cfg;
    struct observation prev = w->last;
    const struct observation *p = &prev;
    int first = !w->have_last;
    int target_changed = first || strcmp(o->target, p->target) != 0;

    if (target_changed && o->target[0] != '\0')
        log_info("watch: target lifecycle state %s%s%s", first ? "" : p->target,
                 first ? "" : " -> ", o->target);
    w->last = *o;
    w->have_last = 1;

    if (o->spot && (first || !p->spot)) {
        time_t end = o->spot_time > 0 ? o->spot_time - (time_t)cfg->drain.spot_margin_s : 0;

        log_info("watch: Spot interruption notice (%s): draining until %lld s before its time",
                 o->spot_action[0] ? o->spot_action : "?", (long long)cfg->drain.spot_margin_s);
        if (!(first && drain_recorded_done(w)))
            run_drain(w, DRAIN_REASON_SPOT,
                      end > 0 ? end : clock_now() + 120 - (time_t)cfg->drain.spot_margin_s, 0);
        return;
    }
    if (target_changed && (strcmp(o->target, "Terminated") == 0 ||
                           (is_warmed(o->target) && !(first || is_warmed(p->target))))) {
        if (!(first && drain_recorded_done(w)))
            run_drain(w, DRAIN_REASON_SCALE_IN, 0, 0);
        return;
    }
    if (target_changed && cfg->drain.on_standby &&
        (strcmp(o->target, "Standby") == 0 || strcmp(o->target, "Detached") == 0)) {
        if (!(first && drain_recorded_done(w)))
            run_drain(w, DRAIN_REASON_STANDBY, 0, 0);
        return;
    }
    if (target_changed && !first && strcmp(o->target, "InService") == 0 &&
        (strcmp(p->target, "Standby") == 0 || strcmp(p->target, "Detached") == 0)) {
        struct state st;

        if (state_load_quiet(w->ctx.state_dir, &st) == AGENT_OK &&
            st.drain.state != DRAIN_STATE_NONE && st.drain.state != DRAIN_STATE_CANCELLED &&
            strcmp(st.drain.reason, "standby") == 0) {
            log_info("watch: back to InService after Standby: undrain");
            (void)undrain_node(&w->ctx, NULL, NULL);
        }
        return;
    }
    if (o->rebalance && (first || !p->rebalance)) {
        if (cfg->drain.on_rebalance)
            run_drain(w, DRAIN_REASON_REBALANCE, 0, 0);
        else
            log_info("watch: rebalance recommendation (drain.on_rebalance is false: no drain)");
    }
}

/* ---- the soak test's figures ---- */

static void
soak_sample(long long iteration)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    DIR *d;
    int fds = 0;

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    d = opendir("/proc/self/fd");
    if (d != NULL) {
        while (readdir(d) != NULL)
            fds++;
        closedir(d);
        fds -= 3; /* ".", ".." and the directory itself */
    }
    log_info("watch: soak: iteration %lld: rss %ld kB, %d open fds", iteration, rss * 4, fds);
}

static long long
env_ll(const char *name, long long min, long long max)
{
    const char *v = getenv(name);
    long long n;

    if (v == NULL || str_to_ll(v, min, max, &n) != AGENT_OK)
        return 0;
    return n;
}

int
cmd_watch(const struct run_env *env, int argc, char **argv)
{
    struct watch *w;
    struct sigaction sa;
    struct observation o;
    struct stats page;
    enum agent_rc rc;
    const char *wd;
    int64_t every;
    int status;

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "wcs-agent: %s: unexpected argument\n%s", argv[1], usage_text);
        return 64;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return 1;
    rc = session_open(env, &w->ro, &w->ctx, SESSION_MKDIR);
    if (rc != AGENT_OK) {
        session_close(&w->ctx);
        free(w);
        return agent_rc_exit_status(rc);
    }
    w->interval_ms = env_ll(TEST_INTERVAL_ENV, 1, 3600000);
    if (w->interval_ms == 0)
        w->interval_ms = w->ctx.cfg->watch.interval_s * 1000;
    w->max_iterations = env_ll(TEST_ITERATIONS_ENV, 1, 100000000);
    /* watch.reconcile_interval = 0 turns it off, whatever the test override says. */
    every = w->ctx.cfg->watch.reconcile_interval_s * 1000;
    if (every > 0 && env_ll(TEST_RECONCILE_ENV, 1, 604800000LL) > 0)
        every = env_ll(TEST_RECONCILE_ENV, 1, 604800000LL);
    reconcile_init(&w->reconcile, every,
                   w->ctx.cfg->agent.deadline_s * 1000 + RECONCILE_LIMIT_MARGIN_MS);
    wd = getenv("WATCHDOG_USEC");
    w->watchdog_ms = WATCHDOG_DEFAULT_MS;
    if (wd != NULL && atoll(wd) >= 2000)
        w->watchdog_ms = atoll(wd) / 1000;
    log_info("watch: every %lld ms: target lifecycle state, Spot and rebalance notices, %s",
             (long long)w->interval_ms, w->ctx.cfg->ready.url);
    if (every > 0)
        log_info("watch: reconcile every %lld ms (watch.reconcile_interval), the first in one",
                 (long long)every);
    else
        log_info("watch: no reconcile (watch.reconcile_interval = 0)");
    (void)notify_send("READY=1");

    status = 0;
    while (!got_term) {
        int64_t start = clock_mono_ms(), now;

        observe(w, &o);
        read_page(w, &page);
        if (o.ok)
            decide(w, &o);
        each_period(w, &o, &page);
        stats_cleanup(&page);
        ping(w);
        w->iterations++;
        if (w->max_iterations > 0) {
            if (w->iterations == w->max_iterations / 5 || w->iterations == w->max_iterations)
                soak_sample(w->iterations);
            if (w->iterations >= w->max_iterations)
                break;
        }
        if (got_term)
            break;
        /* Sleep to the next period in short ticks (SIGTERM, watchdog). */
        for (now = clock_mono_ms(); !got_term && now < start + w->interval_ms;
             now = clock_mono_ms()) {
            int64_t left = start + w->interval_ms - now;

            clock_sleep_ms(left < TICK_MS ? left : TICK_MS);
            ping(w);
        }
    }
    if (got_term) {
        struct state st;
        int done =
            state_load_quiet(w->ctx.state_dir, &st) == AGENT_OK &&
            (st.drain.state == DRAIN_STATE_DRAINED || st.drain.state == DRAIN_STATE_TIMED_OUT);

        (void)notify_send("STOPPING=1");
        if (done) {
            log_info("watch: SIGTERM: the node is already drained: exiting");
        } else {
            int64_t left_s = w->ctx.cfg->drain.stop_timeout_s - (w->stop_spent_ms + 999) / 1000;

            log_info("watch: SIGTERM: draining within drain.stop_timeout (%lld s)",
                     (long long)(left_s > 0 ? left_s : 1));
            w->term_seen = 1;
            run_drain(w, DRAIN_REASON_STOP, 0, left_s > 0 ? left_s : 1);
        }
    }
    log_info("watch: stopped after %lld periods", w->iterations);
    session_close(&w->ctx);
    free(w);
    return status;
}
