#include "cmd/fleet.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/autoscaling.h"
#include "aws/ec2.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "cmd/cmd.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http_multi.h"
#include "node/metrics.h"
#include "node/session.h"
#include "wcs/stats.h"

#define FLEET_MAX         1000 /* targets over every group */
#define STATS_TIMEOUT_MS  2000
#define WATCH_INTERVAL_MS 5000
#define TAG_RESULT        "wcs-agent:result"

struct row {
    char id[ELBV2_ID_MAX];
    const char *group; /* borrowed from the config */
    char health[ELBV2_STATE_MAX];
    char reason[ELBV2_DESCRIPTION_MAX];
    char private_ip[48];
    char az[64];
    char lifecycle[ASG_STATE_MAX];
    char result[EC2_TAG_VALUE_MAX];
    int have_stats;
    char error[128];
    double connections, websocket, streams_in, viewers, cpu;
    int have_cpu;
    char version[64];
    char cdn_role[32];
    char url[1024];
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* {private_ip} and {instance_id} of the template, into out[cap]. */
static enum agent_rc
expand_url(const char *tmpl, const struct row *r, char *out, size_t cap)
{
    struct buf b;
    const char *p = tmpl;
    enum agent_rc rc = AGENT_OK;

    buf_init(&b, cap);
    while (rc == AGENT_OK && *p != '\0') {
        if (strncmp(p, "{private_ip}", 12) == 0) {
            rc = buf_puts(&b, r->private_ip);
            p += 12;
        } else if (strncmp(p, "{instance_id}", 13) == 0) {
            rc = buf_puts(&b, r->id);
            p += 13;
        } else {
            rc = buf_putc(&b, *p++);
        }
    }
    if (rc == AGENT_OK)
        rc = str_copy(out, cap, buf_cstr(&b));
    buf_cleanup(&b);
    return rc;
}

/* Health rows of every group and classic ELB. */
static enum agent_rc
list_targets(struct awsapi *api, const struct agent_config *cfg, struct row *rows, size_t *n)
{
    struct elbv2_target_health *th = calloc(FLEET_MAX, sizeof(*th));
    struct elb_instance_health *ih = calloc(FLEET_MAX, sizeof(*ih));
    enum agent_rc rc = AGENT_OK;
    size_t i, k, got;

    if (th == NULL || ih == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    for (i = 0; rc == AGENT_OK && i < cfg->reg.target_group.n; i++) {
        rc = elbv2_list_target_health(api, cfg->reg.target_group.items[i], th, FLEET_MAX, &got);
        for (k = 0; rc == AGENT_OK && k < got && *n < FLEET_MAX; k++) {
            struct row *r = &rows[(*n)++];

            snprintf(r->id, sizeof(r->id), "%s", th[k].id);
            r->group = cfg->reg.target_group.items[i];
            snprintf(r->health, sizeof(r->health), "%s", th[k].state);
            snprintf(r->reason, sizeof(r->reason), "%s", th[k].reason);
        }
    }
    for (i = 0; rc == AGENT_OK && i < cfg->reg.classic_elb.n; i++) {
        rc = elb_list_instance_health(api, cfg->reg.classic_elb.items[i], ih, FLEET_MAX, &got);
        for (k = 0; rc == AGENT_OK && k < got && *n < FLEET_MAX; k++) {
            struct row *r = &rows[(*n)++];

            snprintf(r->id, sizeof(r->id), "%s", ih[k].instance_id);
            r->group = cfg->reg.classic_elb.items[i];
            snprintf(r->health, sizeof(r->health), "%s", ih[k].state);
            snprintf(r->reason, sizeof(r->reason), "%s",
                     strcmp(ih[k].reason_code, "N/A") != 0 ? ih[k].reason_code : "");
        }
    }
out:
    free(th);
    free(ih);
    return rc;
}

/* Private addresses, AZ, result tag (EC2) and lifecycle states (Auto Scaling). */
static void
describe(struct awsapi *api, struct row *rows, size_t n)
{
    const char **ids = calloc(n, sizeof(*ids));
    struct ec2_instance *inst = calloc(n, sizeof(*inst));
    struct asg_instance_row *ai = calloc(n, sizeof(*ai));
    size_t n_ids = 0, n_inst = 0, n_ai = 0, i, k;

    if (ids == NULL || inst == NULL || ai == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        if (!str_is_instance_id(rows[i].id))
            continue;
        for (k = 0; k < n_ids && strcmp(ids[k], rows[i].id) != 0; k++)
            ;
        if (k == n_ids)
            ids[n_ids++] = rows[i].id;
    }
    if (n_ids == 0)
        goto out;
    if (ec2_describe_instances(api, ids, n_ids, inst, n_ids, &n_inst) != AGENT_OK)
        log_warnx("fleet: DescribeInstances failed: no private addresses or result tags");
    if (asg_describe_instances(api, ids, n_ids, ai, n_ids, &n_ai) != AGENT_OK)
        log_warnx("fleet: DescribeAutoScalingInstances failed: no lifecycle states");
    for (i = 0; i < n; i++) {
        for (k = 0; k < n_inst; k++) {
            const char *tag;

            if (strcmp(inst[k].id, rows[i].id) != 0)
                continue;
            snprintf(rows[i].private_ip, sizeof(rows[i].private_ip), "%s", inst[k].private_ip);
            snprintf(rows[i].az, sizeof(rows[i].az), "%s", inst[k].az);
            tag = ec2_instance_tag(&inst[k], TAG_RESULT);
            if (tag != NULL)
                snprintf(rows[i].result, sizeof(rows[i].result), "%s", tag);
        }
        for (k = 0; k < n_ai; k++)
            if (strcmp(ai[k].instance_id, rows[i].id) == 0)
                snprintf(rows[i].lifecycle, sizeof(rows[i].lifecycle), "%s",
                         ai[k].i.lifecycle_state);
    }
out:
    free(ids);
    free(inst);
    free(ai);
}

static void
read_stats(struct row *r, const struct http_multi_item *it)
{
    struct metrics_sample m;
    struct stats s;
    const char *v;

    if (it->rc != AGENT_OK) {
        snprintf(r->error, sizeof(r->error), "stats: %s", http_fail_str(it->resp.fail));
        return;
    }
    if (it->resp.status != 200) {
        snprintf(r->error, sizeof(r->error), "stats: HTTP %ld", it->resp.status);
        return;
    }
    if (stats_parse(it->resp.body.data != NULL ? it->resp.body.data : "", it->resp.body.len, &s) !=
            AGENT_OK ||
        s.n == 0) {
        snprintf(r->error, sizeof(r->error), "stats: no name=value lines");
        stats_cleanup(&s);
        return;
    }
    metrics_from_stats(&s, &m);
    r->have_stats = 1;
    r->connections = m.value[METRIC_CONNECTIONS];
    r->websocket = m.value[METRIC_CONNECTIONS_WEBSOCKET];
    r->streams_in = m.value[METRIC_STREAMS_IN];
    r->viewers = m.value[METRIC_STREAMS_VIEWERS];
    v = stats_get(&s, "cpu_load");
    if (v != NULL && str_is_text(v, 16)) {
        r->cpu = strtod(v, NULL);
        r->have_cpu = 1;
    }
    v = stats_get(&s, "core_version");
    if (v != NULL && str_is_text(v, sizeof(r->version) - 1))
        snprintf(r->version, sizeof(r->version), "%s", v);
    v = stats_get(&s, "cdn_role");
    if (v != NULL && str_is_text(v, sizeof(r->cdn_role) - 1))
        snprintf(r->cdn_role, sizeof(r->cdn_role), "%s", v);
    stats_cleanup(&s);
}

/* The version a success tag names ("ok 5.2.1 in 41.2 s") when the page does not say. */
static void
version_from_tag(struct row *r)
{
    const char *p = r->result + 3, *sp;

    if (r->version[0] != '\0' || strncmp(r->result, "ok ", 3) != 0 || strncmp(p, "in ", 3) == 0)
        return;
    sp = strchr(p, ' ');
    if (sp != NULL && (size_t)(sp - p) < sizeof(r->version))
        snprintf(r->version, sizeof(r->version), "%.*s", (int)(sp - p), p);
}

static void
fetch_all(const char *tmpl, struct row *rows, size_t n)
{
    struct http_multi_item *it = calloc(n, sizeof(*it));
    size_t i;

    if (it == NULL)
        return;
    for (i = 0; i < n; i++) {
        http_response_init(&it[i].resp, STATS_BODY_MAX);
        if (rows[i].private_ip[0] == '\0' && strstr(tmpl, "{private_ip}") != NULL) {
            snprintf(rows[i].error, sizeof(rows[i].error), "no private address");
            continue;
        }
        if (expand_url(tmpl, &rows[i], rows[i].url, sizeof(rows[i].url)) != AGENT_OK)
            continue;
        it[i].url = rows[i].url;
        it[i].timeout_ms = STATS_TIMEOUT_MS;
    }
    http_multi_get(it, n);
    for (i = 0; i < n; i++) {
        if (it[i].url != NULL)
            read_stats(&rows[i], &it[i]);
        version_from_tag(&rows[i]);
        http_response_cleanup(&it[i].resp);
    }
    free(it);
}

/* 1 for a row that wants attention: not healthy, not InService, failed, no stats. */
static int
attention(const struct row *r)
{
    return (strcmp(r->health, "healthy") != 0 && strcmp(r->health, "InService") != 0) ||
           (r->lifecycle[0] != '\0' && strcmp(r->lifecycle, "InService") != 0) ||
           strncmp(r->result, "failed", 6) == 0 || !r->have_stats;
}

static int
row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int ax = attention(x), ay = attention(y);

    if (ax != ay)
        return ay - ax;
    return strcmp(x->id, y->id);
}

struct totals {
    size_t targets, healthy;
    double connections, max, min;
    const char *max_id, *min_id;
    size_t with_stats;
};

static void
sum_up(const struct row *rows, size_t n, struct totals *t)
{
    size_t i;

    memset(t, 0, sizeof(*t));
    t->targets = n;
    for (i = 0; i < n; i++) {
        const struct row *r = &rows[i];

        t->healthy += strcmp(r->health, "healthy") == 0 || strcmp(r->health, "InService") == 0;
        if (!r->have_stats)
            continue;
        t->connections += r->connections;
        if (t->with_stats == 0 || r->connections > t->max) {
            t->max = r->connections;
            t->max_id = r->id;
        }
        if (t->with_stats == 0 || r->connections < t->min) {
            t->min = r->connections;
            t->min_id = r->id;
        }
        t->with_stats++;
    }
}

/* A counter of the stats page as a whole number for the table (rounded, kept in range). */
static long long
count_ll(double v)
{
    if (!(v > -1e15))
        return v != v ? 0 : -1000000000000000LL;
    if (v > 1e15)
        return 1000000000000000LL;
    return (long long)(v < 0 ? v - 0.5 : v + 0.5);
}

static void
print_table(FILE *f, const struct row *rows, size_t n, const struct totals *t)
{
    size_t i;

    fprintf(f, "%-19s %-11s %-18s %-16s %6s %6s %7s %5s %-12s %s\n", "INSTANCE", "AZ", "HEALTH",
            "LIFECYCLE", "CONN", "WS", "STREAMS", "CPU", "VERSION", "RESULT / ERROR");
    for (i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char conn[24] = "-", ws[24] = "-", streams[24] = "-", cpu[16] = "-", health[96];

        if (r->have_stats) {
            snprintf(conn, sizeof(conn), "%lld", count_ll(r->connections));
            snprintf(ws, sizeof(ws), "%lld", count_ll(r->websocket));
            snprintf(streams, sizeof(streams), "%lld", count_ll(r->streams_in));
        }
        if (r->have_cpu)
            snprintf(cpu, sizeof(cpu), "%lld%%", count_ll(r->cpu));
        /* The reason is a short code from the balancer (Target.FailedHealthChecks). */
        snprintf(health, sizeof(health), "%.31s%s%.63s", r->health, r->reason[0] != '\0' ? " " : "",
                 r->reason);
        fprintf(f, "%-19s %-11s %-18s %-16s %6s %6s %7s %5s %-12s %s%s%s\n", r->id,
                r->az[0] ? r->az : "-", health, r->lifecycle[0] ? r->lifecycle : "-", conn, ws,
                streams, cpu, r->version[0] ? r->version : "-", r->result,
                r->result[0] != '\0' && r->error[0] != '\0' ? "; " : "", r->error);
    }
    fprintf(f, "\n%zu target%s, %zu healthy, %.0f connections", t->targets,
            t->targets == 1 ? "" : "s", t->healthy, t->connections);
    if (t->with_stats > 0)
        fprintf(f, "; spread %.0f (max %.0f on %s, min %.0f on %s)", t->max - t->min, t->max,
                t->max_id, t->min, t->min_id);
    if (t->with_stats < t->targets)
        fprintf(f, "; %zu without stats", t->targets - t->with_stats);
    fprintf(f, "\n");
}

static cJSON *
str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static int
print_json(const struct row *rows, size_t n, const struct totals *t)
{
    cJSON *root = cJSON_CreateObject(), *arr, *tot;
    char *text;
    size_t i;

    if (root == NULL)
        return 1;
    arr = cJSON_AddArrayToObject(root, "targets");
    for (i = 0; arr != NULL && i < n; i++) {
        const struct row *r = &rows[i];
        cJSON *o = cJSON_CreateObject(), *st;

        if (o == NULL)
            break;
        cJSON_AddItemToObject(o, "instance_id", cJSON_CreateString(r->id));
        cJSON_AddItemToObject(o, "private_ip", str_or_null(r->private_ip));
        cJSON_AddItemToObject(o, "az", str_or_null(r->az));
        cJSON_AddItemToObject(o, "health", str_or_null(r->health));
        cJSON_AddItemToObject(o, "health_reason", str_or_null(r->reason));
        cJSON_AddItemToObject(o, "lifecycle_state", str_or_null(r->lifecycle));
        cJSON_AddItemToObject(o, "result_tag", str_or_null(r->result));
        if (r->have_stats) {
            st = cJSON_AddObjectToObject(o, "stats");
            if (st != NULL) {
                cJSON_AddNumberToObject(st, "connections", r->connections);
                cJSON_AddNumberToObject(st, "connections_websocket", r->websocket);
                cJSON_AddNumberToObject(st, "streams_in", r->streams_in);
                cJSON_AddNumberToObject(st, "streams_viewers", r->viewers);
                cJSON_AddItemToObject(
                    st, "cpu", r->have_cpu ? cJSON_CreateNumber(r->cpu) : cJSON_CreateNull());
                cJSON_AddItemToObject(st, "version", str_or_null(r->version));
                cJSON_AddItemToObject(st, "cdn_role", str_or_null(r->cdn_role));
            }
        } else {
            cJSON_AddNullToObject(o, "stats");
        }
        cJSON_AddItemToObject(o, "error", str_or_null(r->error));
        cJSON_AddItemToArray(arr, o);
    }
    tot = cJSON_AddObjectToObject(root, "totals");
    if (tot != NULL) {
        cJSON_AddNumberToObject(tot, "targets", (double)t->targets);
        cJSON_AddNumberToObject(tot, "healthy", (double)t->healthy);
        cJSON_AddNumberToObject(tot, "connections", t->connections);
        cJSON_AddItemToObject(tot, "max_connections",
                              t->with_stats ? cJSON_CreateNumber(t->max) : cJSON_CreateNull());
        cJSON_AddItemToObject(tot, "min_connections",
                              t->with_stats ? cJSON_CreateNumber(t->min) : cJSON_CreateNull());
    }
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* One look at the fleet: 0, or the exit status of what stopped it. */
static int
one_pass(struct run_ctx *ctx, struct awsapi *api, int json, int watch)
{
    struct row *rows = calloc(FLEET_MAX, sizeof(*rows));
    struct totals t;
    enum agent_rc rc;
    size_t n = 0;
    int status = 0;

    if (rows == NULL)
        return 1;
    rc = list_targets(api, ctx->cfg, rows, &n);
    if (rc != AGENT_OK) {
        free(rows);
        return agent_rc_exit_status(rc);
    }
    describe(api, rows, n);
    fetch_all(ctx->cfg->fleet.stats_url, rows, n);
    qsort(rows, n, sizeof(rows[0]), row_cmp);
    sum_up(rows, n, &t);
    if (json) {
        status = print_json(rows, n, &t);
    } else {
        char now[32];

        if (watch)
            fputs("\033[H\033[2J", stdout);
        print_table(stdout, rows, n, &t);
        if (watch) {
            clock_rfc3339(clock_now(), now);
            printf("%s, every %d s; Ctrl-C to stop\n", now, WATCH_INTERVAL_MS / 1000);
        }
    }
    fflush(stdout);
    free(rows);
    return status;
}

static const char usage[] =
    "usage: wcs-agent fleet [--json] [--watch]\n"
    "  every target of register.target_group / register.classic_elb:\n"
    "  health, lifecycle state, wcs-agent:result tag and stats page\n"
    "  (fleet.stats_url, 2 s each, in parallel); totals and spread\n"
    "\n"
    "options:\n"
    "  --json                one document (design.md 8.7)\n"
    "  --watch               refresh in place every 5 s until interrupted\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 shown, 1 failed, 64 usage error, 75 temporary failure, 78 configuration error\n";

int
cmd_fleet(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"watch", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct run_ctx ctx;
    struct run_opts ro;
    struct awsapi *api;
    struct sigaction sa;
    enum agent_rc rc;
    int c, json = 0, watch = 0, status;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'w') {
            watch = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "wcs-agent: fleet: %s: unknown option\n%s", argv[optind - 1], usage);
            return 64;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wcs-agent: fleet: %s: unexpected argument\n", argv[optind]);
        return 64;
    }
    rc = session_open(env, &ro, &ctx, SESSION_FACTS_OPTIONAL | SESSION_DEADLINE);
    if (rc == AGENT_OK && ctx.cfg->reg.target_group.n == 0 && ctx.cfg->reg.classic_elb.n == 0) {
        log_errx("fleet: no register.target_group or register.classic_elb configured");
        rc = AGENT_ERR_CONFIG;
    }
    if (rc == AGENT_OK)
        rc = run_aws(&ctx, &api);
    if (rc != AGENT_OK) {
        session_close(&ctx);
        return agent_rc_exit_status(rc);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        int64_t next = clock_mono_ms() + WATCH_INTERVAL_MS;

        status = one_pass(&ctx, api, json, watch);
        if (!watch || stop_requested)
            break;
        while (!stop_requested && clock_mono_ms() < next)
            clock_sleep_ms(100);
        if (stop_requested)
            break;
    }
    session_close(&ctx);
    return status;
}
