#include "node/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/cloudwatch.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"
#include "node/asg.h"
#include "node/state.h"

#define STATS_TIMEOUT_MS    2000
#define FIRST_CPU_SAMPLE_MS 250

static const struct {
    const char *name;
    const char *unit;
    const char *field; /* the stats field, NULL when not from the page */
} metric_info[METRIC__MAX] = {
    [METRIC_CONNECTIONS] = {"Connections", "Count", "connections"},
    [METRIC_CONNECTIONS_WEBSOCKET] = {"ConnectionsWebsocket", "Count", "connections_websocket"},
    [METRIC_STREAMS_IN] = {"StreamsIn", "Count", NULL},
    [METRIC_STREAMS_VIEWERS] = {"StreamsViewers", "Count", "streams_viewers"},
    [METRIC_PORTS_MEDIA_FREE] = {"PortsMediaFree", "Count", "ports_media_free"},
    [METRIC_CPU_LOAD] = {"CpuLoad", "Percent", NULL},
    [METRIC_DRAINING] = {"Draining", "Count", NULL},
    [METRIC_CERTIFICATE_DAYS_LEFT] = {"CertificateDaysLeft", "Count", NULL},
};

const char *
metrics_name(enum metric_id id)
{
    return (unsigned)id < METRIC__MAX ? metric_info[id].name : NULL;
}

const char *
metrics_unit(enum metric_id id)
{
    return (unsigned)id < METRIC__MAX ? metric_info[id].unit : NULL;
}

static void
set(struct metrics_sample *s, enum metric_id id, double v)
{
    s->value[id] = v;
    s->have |= 1u << id;
}

/* A non-negative decimal number (integer or with a fraction), as the page writes counters. */
static int
number(const char *text, double *out)
{
    char *end;
    double v;

    size_t i, dots = 0;

    if (text == NULL || text[0] < '0' || text[0] > '9')
        return 0;
    /* Digits with at most one '.': no exponent, sign, hex or blanks. */
    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] == '.')
            dots++;
        else if (text[i] < '0' || text[i] > '9')
            return 0;
    }
    if (dots > 1)
        return 0;
    v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v) || v < 0)
        return 0;
    *out = v;
    return 1;
}

void
metrics_from_stats(const struct stats *s, struct metrics_sample *out)
{
    double v, sum = 0;
    int any_in = 0;
    size_t i;
    int m;

    memset(out, 0, sizeof(*out));
    for (m = 0; m < METRIC__MAX; m++)
        if (metric_info[m].field != NULL && number(stats_get(s, metric_info[m].field), &v))
            set(out, (enum metric_id)m, v);
    /* StreamsIn: every streams_<kind>_in field (the last of a repeated name counts). */
    for (i = 0; i < s->n; i++) {
        const char *name = s->items[i].name;
        size_t n = strlen(name);

        if (n > strlen("streams__in") && strncmp(name, "streams_", 8) == 0 &&
            strcmp(name + n - 3, "_in") == 0 && stats_get(s, name) == s->items[i].value &&
            number(s->items[i].value, &v)) {
            sum += v;
            any_in = 1;
        }
    }
    if (any_in)
        set(out, METRIC_STREAMS_IN, sum);
}

enum agent_rc
metrics_cpu_read(const char *path, struct metrics_cpu *out)
{
    unsigned long long f[10] = {0};
    char line[512];
    FILE *fp;
    int n;

    memset(out, 0, sizeof(*out));
    fp = fopen(path != NULL ? path : "/proc/stat", "re");
    if (fp == NULL)
        return AGENT_ERR_IO;
    if (fgets(line, sizeof(line), fp) == NULL) {
        fclose(fp);
        return AGENT_ERR_IO;
    }
    fclose(fp);
    n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2],
               &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9]);
    if (n < 4)
        return AGENT_ERR_IO;
    /* user nice system idle iowait irq softirq steal (guest time is inside user). */
    out->total = f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
    out->busy = out->total - f[3] - f[4];
    out->valid = 1;
    return AGENT_OK;
}

double
metrics_cpu_percent(const struct metrics_cpu *a, const struct metrics_cpu *b)
{
    if (!a->valid || !b->valid || b->total <= a->total || b->busy < a->busy)
        return -1;
    return 100.0 * (double)(b->busy - a->busy) / (double)(b->total - a->total);
}

enum agent_rc
metrics_init(struct metrics_publisher *p, const struct run_ctx *ctx, struct awsapi *api)
{
    const char *instance_id = ctx->disc.facts.instance_id;

    memset(p, 0, sizeof(*p));
    p->cfg = ctx->cfg;
    p->api = api;
    if (instance_id == NULL ||
        str_copy(p->instance_id, sizeof(p->instance_id), instance_id) != AGENT_OK)
        return AGENT_ERR_INVAL;
    str_copy(p->state_dir, sizeof(p->state_dir), ctx->state_dir);
    if (node_find_asg(ctx, api, p->asg, sizeof(p->asg)) != AGENT_OK)
        p->asg[0] = '\0';
    if (p->asg[0] == '\0')
        log_info("metrics: %s is in no Auto Scaling group: publishing with InstanceId only",
                 instance_id);
    metrics_cpu_read(NULL, &p->cpu);
    return AGENT_OK;
}

/* The stats page into s; why[cap] on failure. */
static enum agent_rc
fetch_stats(const char *url, struct stats *s, char *why, size_t cap)
{
    struct http_request req;
    struct http_response resp;
    enum agent_rc rc;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = STATS_TIMEOUT_MS;
    req.max_response = STATS_BODY_MAX;
    req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY;
    http_response_init(&resp, STATS_BODY_MAX);
    rc = http_perform(&req, &resp);
    if (rc != AGENT_OK) {
        snprintf(why, cap, "%s",
                 resp.fail != HTTP_FAIL_NONE ? http_fail_str(resp.fail) : agent_rc_str(rc));
    } else if (resp.status != 200) {
        snprintf(why, cap, "HTTP %ld", resp.status);
        rc = AGENT_ERR_HTTP;
    } else {
        rc = stats_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len, s);
        if (rc != AGENT_OK)
            snprintf(why, cap, "%s", agent_rc_str(rc));
    }
    http_response_cleanup(&resp);
    return rc;
}

/* Whole days from now to the certificate's expiry in the state; 0 when unknown. */
static int
cert_days(const char *state_dir, double *out)
{
    struct state st;
    time_t t;

    if (state_dir == NULL || state_dir[0] == '\0' || state_load(state_dir, &st) != AGENT_OK ||
        st.applied.certificate_not_after[0] == '\0' ||
        clock_parse_rfc3339(st.applied.certificate_not_after, &t) != AGENT_OK)
        return 0;
    {
        long long d = (long long)t - (long long)clock_now();

        /* Whole days, rounded down (an expired certificate gives -1 on its first day). */
        *out = (double)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
    }
    return 1;
}

enum agent_rc
metrics_collect(struct metrics_publisher *p, int draining, struct metrics_sample *out)
{
    struct metrics_cpu now;
    struct stats s;
    char why[128] = "";
    double v;
    enum agent_rc rc;

    memset(&s, 0, sizeof(s));
    rc = fetch_stats(p->cfg->ready.url, &s, why, sizeof(why));
    if (rc != AGENT_OK) {
        log_warnx("metrics: stats page %s: %s", p->cfg->ready.url, why);
        stats_cleanup(&s);
        return rc;
    }
    metrics_from_stats(&s, out);
    stats_cleanup(&s);
    if (!p->cpu.valid) {
        metrics_cpu_read(NULL, &p->cpu);
        clock_sleep_ms(FIRST_CPU_SAMPLE_MS);
    }
    if (metrics_cpu_read(NULL, &now) == AGENT_OK) {
        v = metrics_cpu_percent(&p->cpu, &now);
        if (v < 0 && p->cpu.valid) {
            /* The first call of `metrics --once`: a short sample of its own. */
            clock_sleep_ms(FIRST_CPU_SAMPLE_MS);
            p->cpu = now;
            if (metrics_cpu_read(NULL, &now) == AGENT_OK)
                v = metrics_cpu_percent(&p->cpu, &now);
        }
        if (v >= 0)
            set(out, METRIC_CPU_LOAD, v);
        p->cpu = now;
    }
    set(out, METRIC_DRAINING, draining ? 1 : 0);
    if (cert_days(p->state_dir, &v))
        set(out, METRIC_CERTIFICATE_DAYS_LEFT, v);
    return AGENT_OK;
}

static enum agent_rc
put(struct metrics_publisher *p, const struct metrics_sample *s, const struct cw_dimension *dims,
    size_t n_dims)
{
    struct cw_datum data[METRIC__MAX];
    struct cw_put cp;
    size_t n = 0;
    int m;

    for (m = 0; m < METRIC__MAX; m++) {
        if (!(s->have & (1u << m)))
            continue;
        data[n].name = metric_info[m].name;
        data[n].unit = metric_info[m].unit;
        data[n++].value = s->value[m];
    }
    memset(&cp, 0, sizeof(cp));
    cp.ns = p->cfg->metrics.namespace;
    cp.dims = dims;
    cp.n_dims = n_dims;
    cp.data = data;
    cp.n_data = n;
    cp.high_resolution = p->cfg->metrics.period_s < 60;
    return cw_put_metric_data(p->api, &cp);
}

enum agent_rc
metrics_publish(struct metrics_publisher *p, int draining)
{
    struct cw_dimension group[1] = {{"AutoScalingGroupName", p->asg}};
    struct cw_dimension inst[2] = {{"AutoScalingGroupName", p->asg},
                                   {"InstanceId", p->instance_id}};
    struct metrics_sample s;
    enum agent_rc rc;

    rc = metrics_collect(p, draining, &s);
    if (rc == AGENT_OK && p->asg[0] != '\0')
        rc = put(p, &s, group, 1);
    if (rc == AGENT_OK && (p->cfg->metrics.per_instance || p->asg[0] == '\0'))
        rc = p->asg[0] != '\0' ? put(p, &s, inst, 2) : put(p, &s, inst + 1, 1);
    if (rc != AGENT_OK) {
        const struct aws_error *e = rc == AGENT_ERR_AWS ? awsapi_last_error(p->api) : NULL;
        const char *retry = p->once ? "" : "; trying again next period";

        p->n_failed++;
        if (e != NULL && (strcmp(e->code, "AccessDenied") == 0 ||
                          strcmp(e->code, "AccessDeniedException") == 0 ||
                          strcmp(e->code, "UnauthorizedOperation") == 0))
            log_warnx("metrics: not published: the instance role may not call "
                      "cloudwatch:PutMetricData for namespace %s: allow it in the role's policy "
                      "(condition cloudwatch:namespace = %s)%s",
                      p->cfg->metrics.namespace, p->cfg->metrics.namespace, retry);
        else
            log_warnx("metrics: not published this period (%s)%s", agent_rc_str(rc), retry);
        return rc;
    }
    p->n_put++;
    log_debug("metrics: %s connections %.0f", p->asg[0] != '\0' ? p->asg : p->instance_id,
              s.value[METRIC_CONNECTIONS]);
    return AGENT_OK;
}
