#include "node/drain.h"

#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/autoscaling.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"
#include "node/asg.h"
#include "node/balancer.h"
#include "wcs/rest.h"

#define DRAIN_LOCK           "drain.lock"
#define TICK_MS              200
#define POLL_MAX_MS          5000
#define PROGRESS_MS          (30 * 1000)
#define HB_DEFAULT_PERIOD_MS (20 * 1000)
#define SAVE_WAIT_MS         3000
#define UNDRAIN_WAIT_MS      (30 * 1000)
#define RELEASE_TIMEOUT_MS   (120 * 1000)
#define REST_TIMEOUT_MS      5000
#define REST_ATTEMPTS        3

static const char *const reasons[DRAIN_REASON__MAX] = {
    [DRAIN_REASON_SCALE_IN] = "scale-in", [DRAIN_REASON_SPOT] = "spot",
    [DRAIN_REASON_STANDBY] = "standby",   [DRAIN_REASON_REBALANCE] = "rebalance",
    [DRAIN_REASON_STOP] = "stop",         [DRAIN_REASON_MANUAL] = "manual",
};

const char *
drain_reason_str(enum drain_reason r)
{
    if ((unsigned)r >= DRAIN_REASON__MAX)
        return "manual";
    return reasons[r];
}

/* ---- the record ---- */

static const char *
state_dir_of(const struct run_ctx *ctx)
{
    return ctx->state_dir;
}

enum agent_rc
drain_save_state(void *arg, const struct state_drain *rec)
{
    struct run_ctx *ctx = arg;
    const char *dir = state_dir_of(ctx);
    struct state st;
    int64_t until = clock_mono_ms() + SAVE_WAIT_MS;
    enum agent_rc rc;
    int fd = -1;

    for (;;) {
        rc = state_lock_quiet(dir, &fd);
        if (rc != AGENT_ERR_BUSY || clock_mono_ms() >= until)
            break;
        clock_sleep_ms(100);
    }
    if (rc != AGENT_OK) {
        log_warnx("drain: state not recorded now (%s); the next record will carry it",
                  rc == AGENT_ERR_BUSY ? "a run holds the lock" : agent_rc_str(rc));
        return rc;
    }
    rc = state_load(dir, &st);
    if (rc == AGENT_ERR_ABSENT) {
        state_init(&st);
        rc = AGENT_OK;
    }
    if (rc == AGENT_OK && st.drain.state == DRAIN_STATE_CANCELLED &&
        rec->state != DRAIN_STATE_CANCELLED && strcmp(st.drain.started, rec->started) == 0)
        rc = AGENT_ERR_ABSENT; /* undrain cancelled this drain: leave its record */
    if (rc == AGENT_OK) {
        if (st.instance_id[0] == '\0' && ctx->disc.have_facts &&
            ctx->disc.facts.instance_id != NULL)
            str_copy(st.instance_id, sizeof(st.instance_id), ctx->disc.facts.instance_id);
        st.drain = *rec;
        rc = state_save(dir, &st);
    }
    close(fd);
    return rc;
}

/* Writes d->rec; notices a cancel by undrain. */
static void
record(struct drain *d)
{
    enum agent_rc rc;

    rc = d->o.save != NULL ? d->o.save(d->o.save_arg, &d->rec) : drain_save_state(d->ctx, &d->rec);
    if (rc == AGENT_ERR_ABSENT && !d->cancelled) {
        log_info("drain: cancelled by undrain");
        d->cancelled = 1;
    }
}

/* 1 when state.json says this drain was cancelled (read without the lock; writes are atomic). */
static int
cancelled_on_disk(struct drain *d)
{
    struct state st;

    if (state_load_quiet(state_dir_of(d->ctx), &st) != AGENT_OK)
        return 0;
    return st.drain.state == DRAIN_STATE_CANCELLED && strcmp(st.drain.started, d->rec.started) == 0;
}

static void fail(struct drain *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(struct drain *d, const char *fmt, ...)
{
    char text[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_errx("drain: %s", text);
    if (!d->failed)
        snprintf(d->failure, sizeof(d->failure), "%s", text);
    d->failed = 1;
}

/* ---- the counters ---- */

static void
counts_add(struct state_counts *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (strcmp(c->item[i].name, name) == 0)
            return;
    if (c->n < STATE_COUNTS_MAX && strlen(name) < STATE_COUNT_NAME) {
        str_copy(c->item[c->n].name, STATE_COUNT_NAME, name);
        c->item[c->n].value = -1;
        c->n++;
    }
}

/* The names: connections, connections_websocket, then drain.until's. */
static void
counts_names(const struct drain *d, struct state_counts *c)
{
    size_t i;

    memset(c, 0, sizeof(*c));
    counts_add(c, "connections");
    counts_add(c, "connections_websocket");
    for (i = 0; i < d->n_conds; i++)
        counts_add(c, d->conds[i].name);
}

/* Fills the values of c from s; a field that is missing or not a number is left out. */
static void
counts_fill(struct state_counts *c, const struct stats *s)
{
    struct state_counts out;
    long long v;
    size_t i;

    memset(&out, 0, sizeof(out));
    for (i = 0; i < c->n; i++) {
        const char *text = stats_get(s, c->item[i].name);

        if (text == NULL || str_to_ll(text, -1000000000000LL, 1000000000000LL, &v) != AGENT_OK)
            continue;
        out.item[out.n] = c->item[i];
        out.item[out.n].value = v;
        out.n++;
    }
    *c = out;
}

/* "connections 37 -> 0": the first counter of both records, or "" */
static void
counts_change(const struct state_drain *r, char *out, size_t cap)
{
    long long a = state_counts_get(&r->start_counts, "connections");
    long long b = state_counts_get(&r->last_counts, "connections");

    if (a < 0 && b < 0)
        snprintf(out, cap, "connections unknown");
    else if (a < 0)
        snprintf(out, cap, "connections ? -> %lld", b);
    else if (b < 0)
        snprintf(out, cap, "connections %lld -> ?", a);
    else
        snprintf(out, cap, "connections %lld -> %lld", a, b);
}

/*
 * One read of the stats page into d->rec.last_counts.  1 when every
 * drain.until condition holds; 0 otherwise (page down: logged once per change).
 */
static int
poll_page(struct drain *d)
{
    const struct agent_config *cfg = d->ctx->cfg;
    struct state_counts c;
    struct stats s;
    char why[256];
    int done = 0;

    if (wcs_stats_fetch(cfg->ready.url, 2000, &s, why, sizeof(why)) != AGENT_OK) {
        if (strcmp(why, d->page_why) != 0)
            log_warnx("drain: the stats page %s does not answer: %s (waiting on)", cfg->ready.url,
                      why);
        snprintf(d->page_why, sizeof(d->page_why), "%s", why);
        stats_cleanup(&s);
        return 0;
    }
    if (d->page_why[0] != '\0')
        log_info("drain: the stats page answers again");
    d->page_why[0] = '\0';
    counts_names(d, &c);
    counts_fill(&c, &s);
    d->rec.last_counts = c;
    done = stats_check(&s, d->conds, d->n_conds, why, sizeof(why));
    stats_cleanup(&s);
    return done;
}

/* ---- the terminate hook ---- */

/* The group and terminate hook (signal.terminate_hook or discovered) and its period. */
static void
find_hook(struct drain *d)
{
    struct run_ctx *ctx = d->ctx;
    const char *name = ctx->cfg->signal.terminate_hook;
    struct asg_lifecycle_hook h;
    struct awsapi *api = NULL;
    enum agent_rc rc;

    d->hook_state = 2;
    if (!ctx->disc.have_facts || run_aws(ctx, &api) != AGENT_OK)
        return;
    rc = node_find_asg(ctx, api, d->asg, sizeof(d->asg));
    if (rc == AGENT_ERR_ABSENT) {
        log_info("drain: not in an Auto Scaling group: no terminate hook to heartbeat");
        return;
    }
    if (rc != AGENT_OK) {
        log_warnx("drain: the Auto Scaling group is unknown (%s): no lifecycle heartbeats",
                  agent_rc_str(rc));
        return;
    }
    d->hb_period_ms = HB_DEFAULT_PERIOD_MS;
    rc = node_find_terminate_hook(ctx, api, d->asg, &h);
    if (name != NULL && name[0] != '\0') {
        /* A named hook is heartbeaten even when it cannot be described. */
        str_copy(d->hook, sizeof(d->hook), name);
        if (rc != AGENT_OK || h.heartbeat_timeout_s < 30)
            log_info("drain: HeartbeatTimeout of %s unknown: heartbeats every %d s", name,
                     HB_DEFAULT_PERIOD_MS / 1000);
    } else if (rc == AGENT_ERR_ABSENT) {
        log_info("drain: %s has no terminate hook: nothing to heartbeat or complete", d->asg);
        return;
    } else if (rc != AGENT_OK) {
        log_warnx("drain: cannot find the terminate hook of %s (%s); set "
                  "signal.terminate_hook",
                  d->asg, agent_rc_str(rc));
        return;
    } else {
        str_copy(d->hook, sizeof(d->hook), h.name);
    }
    if (rc == AGENT_OK && h.heartbeat_timeout_s >= 30)
        d->hb_period_ms = (int64_t)h.heartbeat_timeout_s * 1000 / 3;
    d->hook_state = 1;
    log_info("drain: terminate hook %s of %s: heartbeats every %lld s while an action waits",
             d->hook, d->asg, (long long)(d->hb_period_ms / 1000));
}

/* A heartbeat when one is due: at the start, then every period. */
static void
heartbeat(struct drain *d, int force)
{
    struct awsapi *api = NULL;
    int64_t now = clock_mono_ms();
    enum agent_rc rc;

    if (d->hook_state != 1 || (!force && now - d->hb_last_ms < d->hb_period_ms))
        return;
    d->hb_last_ms = now;
    if (run_aws(d->ctx, &api) != AGENT_OK)
        return;
    rc = asg_record_heartbeat(api, d->hook, d->asg, d->ctx->disc.facts.instance_id);
    if (rc == AGENT_OK) {
        d->hb_sent++;
        if (!d->action_seen)
            log_info("drain: the terminate action of %s waits for this drain: heartbeats every "
                     "%lld s",
                     d->hook, (long long)(d->hb_period_ms / 1000));
        else
            log_debug("drain: heartbeat on %s", d->hook);
        d->action_seen = 1;
        d->hb_problem_logged = 0;
    } else if (rc == AGENT_ERR_ABSENT) {
        /* No action waits (yet): a scale-in may still be in its deregistration delay. */
        log_debug("drain: no terminate action waits on %s", d->hook);
    } else if (!d->hb_problem_logged) {
        log_warnx("drain: heartbeat on %s failed (%s); trying again every %lld s", d->hook,
                  agent_rc_str(rc), (long long)(d->hb_period_ms / 1000));
        d->hb_problem_logged = 1;
    }
}

/* ---- the drain lock ---- */

static enum agent_rc
take_drain_lock(const char *dir, int *out)
{
    char path[4096];
    int fd, n;

    n = snprintf(path, sizeof(path), "%s/%s", dir, DRAIN_LOCK);
    if (n < 0 || (size_t)n >= sizeof(path))
        return AGENT_ERR_TOOBIG;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1) {
        log_err("drain: open %s", path);
        return AGENT_ERR_IO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;

        close(fd);
        if (busy)
            return AGENT_ERR_BUSY;
        log_err("drain: flock %s", path);
        return AGENT_ERR_IO;
    }
    *out = fd;
    return AGENT_OK;
}

/* Waits up to ms for drain.lock (a cancelled drain letting go); 1 when taken. */
static int
await_drain_lock(const char *dir, int64_t ms, int *fd)
{
    int64_t until = clock_mono_ms() + ms;

    for (;;) {
        enum agent_rc rc = take_drain_lock(dir, fd);

        if (rc == AGENT_OK)
            return 1;
        if (rc != AGENT_ERR_BUSY || clock_mono_ms() >= until)
            return 0;
        clock_sleep_ms(100);
    }
}

/* ---- steps ---- */

static int
cdn_applies(const struct agent_config *cfg)
{
    return cfg->drain.cdn_route_away &&
           (cfg->cdn.role == CONFIG_CDN_ORIGIN || cfg->cdn.role == CONFIG_CDN_EDGE ||
            cfg->cdn.role == CONFIG_CDN_TRANSCODER);
}

static enum agent_rc
parse_until(struct drain *d)
{
    const struct config_list *u = &d->ctx->cfg->drain.until;
    size_t i;

    d->n_conds = 0;
    if (u->n == 0)
        return AGENT_OK;
    d->conds = calloc(u->n, sizeof(*d->conds));
    if (d->conds == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; i < u->n; i++) {
        if (stats_require_parse(u->items[i], &d->conds[i]) != AGENT_OK) {
            log_errx("drain.until: not a condition: %s (NAME, NAME>N, NAME>=N or NAME=N)",
                     u->items[i]);
            return AGENT_ERR_INVAL;
        }
    }
    d->n_conds = u->n;
    return AGENT_OK;
}

static void
set_end(struct drain *d)
{
    const struct agent_config *cfg = d->ctx->cfg;
    int64_t timeout_s = d->o.timeout_s > 0 ? d->o.timeout_s : cfg->drain.timeout_s;

    d->end_ms = d->t0_ms + timeout_s * 1000;
    if (d->o.not_after > 0)
        drain_cut_at(d, d->o.not_after);
}

/*
 * The start time names a drain (undrain cancels the drain whose start it
 * finds on disk).  A drain started within the second in which the recorded
 * one began and was cancelled (a drain-safe restart stopped by SIGTERM, then
 * watch's stop drain) waits for the next second, so that it is not taken for
 * the cancelled one and given up at once.
 */
static void
start_time(const struct run_ctx *ctx, char out[32])
{
    struct state st;
    int i;

    clock_rfc3339(clock_now(), out);
    if (state_load_quiet(state_dir_of(ctx), &st) != AGENT_OK ||
        st.drain.state != DRAIN_STATE_CANCELLED)
        return;
    for (i = 0; i < 12 && strcmp(st.drain.started, out) == 0; i++) {
        clock_sleep_ms(100);
        clock_rfc3339(clock_now(), out);
    }
}

enum agent_rc
drain_start(struct run_ctx *ctx, const struct drain_opts *o, struct drain *d)
{
    const struct agent_config *cfg = ctx->cfg;
    char why[400], change[64];
    enum agent_rc rc;
    int64_t poll;

    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->o = *o;
    d->lock_fd = -1;
    poll = o->poll_ms > 0 ? o->poll_ms : cfg->watch.interval_s * 1000;
    if (o->poll_ms <= 0 && poll > POLL_MAX_MS)
        poll = POLL_MAX_MS;
    d->o.poll_ms = poll;
    rc = parse_until(d);
    if (rc != AGENT_OK) {
        drain_cleanup(d);
        return rc;
    }
    rc = take_drain_lock(state_dir_of(ctx), &d->lock_fd);
    if (rc != AGENT_OK) {
        if (rc == AGENT_ERR_BUSY)
            log_errx("drain: a drain is already running on this node (%s/%s is held); see "
                     "wcs-agent status",
                     state_dir_of(ctx), DRAIN_LOCK);
        drain_cleanup(d);
        return rc;
    }
    d->t0_ms = clock_mono_ms();
    set_end(d);

    /* 1. Record draining, with the counters at the start. */
    d->rec.state = DRAIN_STATE_DRAINING;
    str_copy(d->rec.reason, sizeof(d->rec.reason), drain_reason_str(o->reason));
    start_time(ctx, d->rec.started);
    (void)poll_page(d);
    d->rec.start_counts = d->rec.last_counts;
    if (state_counts_get(&d->rec.start_counts, "connections") >= 0)
        snprintf(change, sizeof(change), "connections %lld",
                 state_counts_get(&d->rec.start_counts, "connections"));
    else
        snprintf(change, sizeof(change), "connections unknown");
    log_info("drain: started (reason: %s%s%s; %s; waiting at most %lld s for %s)", d->rec.reason,
             o->note != NULL ? ": " : "", o->note != NULL ? o->note : "", change,
             (long long)((d->end_ms - d->t0_ms) / 1000),
             cfg->drain.until.n > 0 ? cfg->drain.until.items[0] : "nothing");
    record(d);

    /* 2. CDN route-away. */
    if (!d->cancelled && cdn_applies(cfg)) {
        rc = wcs_enforce_node_state(cfg->drain.rest_url, WCS_CDN_ROUTE_AWAY, REST_ATTEMPTS,
                                    REST_TIMEOUT_MS, why, sizeof(why));
        if (rc == AGENT_OK)
            log_info("drain: CDN %s: new streams are routed to other nodes", WCS_CDN_ROUTE_AWAY);
        else
            fail(d, "CDN route-away (%s/cdn/enforce_node_state): %s", cfg->drain.rest_url, why);
    }

    /* 3. Deregister. */
    if (!d->cancelled && balancer_configured(cfg)) {
        rc = balancer_deregister(ctx, why, sizeof(why));
        if (rc != AGENT_OK)
            fail(d, "deregister: %s", why);
    }
    return AGENT_OK;
}

enum agent_rc
drain_wait(struct drain *d)
{
    int64_t next_poll, now;
    char change[64];

    find_hook(d);
    heartbeat(d, 1);
    d->last_progress_ms = clock_mono_ms();
    next_poll = d->last_progress_ms;
    for (;;) {
        if (d->o.tick != NULL)
            d->o.tick(d->o.tick_arg, d);
        now = clock_mono_ms();
        if (!d->cancelled && now >= next_poll) {
            next_poll = now + d->o.poll_ms;
            if (cancelled_on_disk(d)) {
                log_info("drain: cancelled by undrain");
                d->cancelled = 1;
            } else if (poll_page(d)) {
                d->rec.state = DRAIN_STATE_DRAINED;
                break;
            }
        }
        if (d->cancelled) {
            d->rec.state = DRAIN_STATE_CANCELLED;
            return AGENT_OK;
        }
        heartbeat(d, 0);
        now = clock_mono_ms();
        if (now - d->last_progress_ms >= PROGRESS_MS) {
            d->last_progress_ms = now;
            counts_change(&d->rec, change, sizeof(change));
            log_info("drain: %lld s, %s (websocket %lld), %lld s left%s%s",
                     (long long)((now - d->t0_ms) / 1000), change,
                     state_counts_get(&d->rec.last_counts, "connections_websocket"),
                     (long long)((d->end_ms - now) / 1000), d->page_why[0] ? "; stats page: " : "",
                     d->page_why);
            record(d);
        }
        if (now >= d->end_ms) {
            d->rec.state = DRAIN_STATE_TIMED_OUT;
            break;
        }
        clock_sleep_ms(d->end_ms - now < TICK_MS ? d->end_ms - now : TICK_MS);
    }
    return AGENT_OK;
}

/* Step 5: licence.release_command, argv only. */
static void
release_licence(struct drain *d)
{
    const char *cmd = d->ctx->cfg->licence.release_command;
    struct spawn_result r;
    struct spawn_opts so;
    char **argv = NULL;
    enum agent_rc rc;

    if (cmd == NULL || str_split_argv(cmd, &argv) != AGENT_OK || argv[0] == NULL) {
        fail(d, "licence release: licence.release_command is empty");
        str_argv_free(argv);
        return;
    }
    memset(&so, 0, sizeof(so));
    so.argv = (const char *const *)argv;
    so.timeout_ms = RELEASE_TIMEOUT_MS;
    so.output_max = 16 * 1024;
    memset(&r, 0, sizeof(r));
    rc = spawn_run(&so, &r);
    if (rc == AGENT_OK && r.exited && r.exit_code == 0)
        log_info("drain: licence released (%s)", argv[0]);
    else if (rc == AGENT_ERR_TIMEOUT)
        fail(d, "licence release: %s did not finish in %d s", argv[0], RELEASE_TIMEOUT_MS / 1000);
    else if (rc != AGENT_OK)
        fail(d, "licence release: %s could not be started", argv[0]);
    else
        fail(d, "licence release: %s exited with %d", argv[0], r.exited ? r.exit_code : -r.signal);
    spawn_result_cleanup(&r);
    str_argv_free(argv);
}

/* Step 6: CONTINUE on the terminate hook, when an action waits (or may). */
static void
complete_hook(struct drain *d)
{
    struct awsapi *api = NULL;
    enum agent_rc rc;
    int already = 0;

    if (d->hook_state != 1)
        return;
    if (!d->action_seen && d->o.reason != DRAIN_REASON_SCALE_IN &&
        d->o.reason != DRAIN_REASON_SPOT && d->o.reason != DRAIN_REASON_STOP)
        return;
    rc = run_aws(d->ctx, &api);
    if (rc == AGENT_OK)
        rc = asg_complete_lifecycle_action(api, d->hook, d->asg, d->ctx->disc.facts.instance_id, 1,
                                           &already);
    if (rc != AGENT_OK) {
        fail(d, "CompleteLifecycleAction %s: %s", d->hook, agent_rc_str(rc));
        return;
    }
    if (already) {
        log_info("drain: no terminate action waits on %s: nothing to complete", d->hook);
        return;
    }
    d->completed = 1;
    log_info("drain: terminate hook %s completed CONTINUE", d->hook);
}

enum agent_rc
drain_finish(struct drain *d)
{
    const struct agent_config *cfg = d->ctx->cfg;
    int64_t secs = (clock_mono_ms() - d->t0_ms + 500) / 1000;
    char change[64];

    counts_change(&d->rec, change, sizeof(change));
    if (d->rec.state == DRAIN_STATE_CANCELLED) {
        log_info("drain cancelled after %lld s (reason: %s; %s)", (long long)secs, d->rec.reason,
                 change);
        return AGENT_OK;
    }
    if (cfg->licence.release)
        release_licence(d);
    complete_hook(d);
    clock_rfc3339(clock_now(), d->rec.finished);
    record(d);
    if (d->rec.state == DRAIN_STATE_DRAINED)
        log_info("drained in %lld s (reason: %s; %s)", (long long)secs, d->rec.reason, change);
    else
        log_info("drain timed out after %lld s (reason: %s; %s)", (long long)secs, d->rec.reason,
                 change);
    if (d->failed) {
        log_errx("drain: a step failed: %s", d->failure);
        return AGENT_ERR_CHILD;
    }
    return AGENT_OK;
}

void
drain_cleanup(struct drain *d)
{
    free(d->conds);
    d->conds = NULL;
    d->n_conds = 0;
    if (d->lock_fd != -1)
        close(d->lock_fd);
    d->lock_fd = -1;
}

enum agent_rc
drain_prepare(struct run_ctx *ctx, const struct drain_opts *o, struct drain *d)
{
    enum agent_rc rc = drain_start(ctx, o, d);

    if (rc == AGENT_OK)
        rc = drain_wait(d);
    return rc;
}

enum agent_rc
drain_node(struct run_ctx *ctx, const struct drain_opts *o, enum drain_state *result)
{
    struct drain d;
    enum agent_rc rc;

    rc = drain_prepare(ctx, o, &d);
    if (rc == AGENT_OK) {
        rc = drain_finish(&d);
        if (result != NULL)
            *result = d.rec.state;
        drain_cleanup(&d);
    }
    return rc;
}

void
drain_cancel(struct drain *d)
{
    d->cancelled = 1;
}

void
drain_cut(struct drain *d, int64_t left_ms)
{
    int64_t end = clock_mono_ms() + (left_ms > 0 ? left_ms : 0);

    if (end < d->end_ms)
        d->end_ms = end;
}

/* Steps 5-7 take a moment: a wall-clock end leaves them this much. */
#define FINISH_RESERVE_MS 1000

void
drain_cut_at(struct drain *d, time_t t)
{
    int64_t left = (int64_t)t * 1000 - clock_now_ms() - FINISH_RESERVE_MS;

    drain_cut(d, left > 0 ? left : 0);
}

enum agent_rc
undrain_node(struct run_ctx *ctx, drain_save_fn save, void *save_arg)
{
    const struct agent_config *cfg = ctx->cfg;
    struct state_drain rec;
    struct state st;
    enum agent_rc rc, first = AGENT_OK;
    char why[400];
    int fd = -1;

    /* 1. Record cancelled (keeping the drain's start and counters). */
    memset(&rec, 0, sizeof(rec));
    if (state_load_quiet(state_dir_of(ctx), &st) == AGENT_OK)
        rec = st.drain;
    if (rec.state == DRAIN_STATE_NONE) {
        clock_rfc3339(clock_now(), rec.started);
        str_copy(rec.reason, sizeof(rec.reason), "manual");
    }
    rec.state = DRAIN_STATE_CANCELLED;
    clock_rfc3339(clock_now(), rec.finished);
    rc = save != NULL ? save(save_arg, &rec) : drain_save_state(ctx, &rec);
    if (rc != AGENT_OK && rc != AGENT_ERR_ABSENT)
        log_warnx("undrain: the drain record was not updated (%s)", agent_rc_str(rc));
    /* A running drain sees it at its next poll and lets go of drain.lock. */
    if (!await_drain_lock(state_dir_of(ctx), UNDRAIN_WAIT_MS, &fd))
        log_warnx("undrain: a drain still holds %s/%s after %d s; undraining anyway",
                  state_dir_of(ctx), DRAIN_LOCK, UNDRAIN_WAIT_MS / 1000);

    /* 2. Clear the forced CDN state. */
    if (cdn_applies(cfg)) {
        rc = wcs_enforce_node_state(cfg->drain.rest_url, NULL, REST_ATTEMPTS, REST_TIMEOUT_MS, why,
                                    sizeof(why));
        if (rc == AGENT_OK) {
            log_info("undrain: CDN forced state cleared");
        } else {
            log_errx("undrain: clearing the CDN state (%s/cdn/enforce_node_state): %s",
                     cfg->drain.rest_url, why);
            first = rc;
        }
    }
    /* 3. Register again. */
    if (balancer_configured(cfg)) {
        rc = balancer_register(ctx, why, sizeof(why));
        if (rc != AGENT_OK) {
            log_errx("undrain: %s", why);
            if (first == AGENT_OK)
                first = rc;
        }
    }
    if (fd != -1)
        close(fd);
    if (first == AGENT_OK)
        log_info("undrained: back in service");
    return first;
}
