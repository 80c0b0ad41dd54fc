#include "aws/cloudwatch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

/* 1-255 bytes of printable ASCII (CloudWatch names and dimension values). */
static int
name_ok(const char *s)
{
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n == 0 || n > CW_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static enum agent_rc
check_put(const struct cw_put *p)
{
    size_t i;

    if (p == NULL || !name_ok(p->ns) || p->ns[0] == ':' || strncmp(p->ns, "AWS/", 4) == 0) {
        log_errx("cloudwatch: PutMetricData: the namespace must be 1-255 printable characters, "
                 "not starting with ':' or 'AWS/'");
        return AGENT_ERR_INVAL;
    }
    if (p->n_data == 0 || p->n_data > CW_MAX_DATA || p->data == NULL) {
        log_errx("cloudwatch: PutMetricData: 1 to %d data per call, not %zu", CW_MAX_DATA,
                 p->n_data);
        return AGENT_ERR_INVAL;
    }
    if (p->n_dims > CW_MAX_DIMENSIONS || (p->n_dims > 0 && p->dims == NULL)) {
        log_errx("cloudwatch: PutMetricData: at most %d dimensions", CW_MAX_DIMENSIONS);
        return AGENT_ERR_INVAL;
    }
    for (i = 0; i < p->n_dims; i++) {
        if (!name_ok(p->dims[i].name) || !name_ok(p->dims[i].value)) {
            log_errx("cloudwatch: PutMetricData: dimension %zu: name and value must be 1-255 "
                     "printable characters",
                     i + 1);
            return AGENT_ERR_INVAL;
        }
    }
    for (i = 0; i < p->n_data; i++) {
        if (!name_ok(p->data[i].name) || !name_ok(p->data[i].unit)) {
            log_errx("cloudwatch: PutMetricData: datum %zu: bad metric name or unit", i + 1);
            return AGENT_ERR_INVAL;
        }
        if (!isfinite(p->data[i].value)) {
            log_errx("cloudwatch: PutMetricData: %s: the value is not a finite number",
                     p->data[i].name);
            return AGENT_ERR_INVAL;
        }
    }
    return AGENT_OK;
}

enum agent_rc
cw_build_params(const struct cw_put *p, char (*names)[CW_PARAM_TEXT], char (*values)[CW_PARAM_TEXT],
                size_t cap, size_t *n_out)
{
    size_t n = 0, i, d;
    enum agent_rc rc;

#define ADD(val, ...)                                              \
    do {                                                           \
        if (n == cap)                                              \
            return AGENT_ERR_TOOBIG;                               \
        snprintf(names[n], CW_PARAM_TEXT, __VA_ARGS__);            \
        if (str_copy(values[n], CW_PARAM_TEXT, (val)) != AGENT_OK) \
            return AGENT_ERR_TOOBIG;                               \
        n++;                                                       \
    } while (0)

    rc = check_put(p);
    if (rc != AGENT_OK)
        return rc;
    ADD(p->ns, "Namespace");
    for (i = 0; i < p->n_data; i++) {
        const struct cw_datum *m = &p->data[i];
        char v[64];

        /* %.15g keeps every integer below 10^15 exact and never uses more digits than needed. */
        snprintf(v, sizeof(v), "%.15g", m->value);
        ADD(m->name, "MetricData.member.%zu.MetricName", i + 1);
        ADD(v, "MetricData.member.%zu.Value", i + 1);
        ADD(m->unit, "MetricData.member.%zu.Unit", i + 1);
        if (p->high_resolution)
            ADD("1", "MetricData.member.%zu.StorageResolution", i + 1);
        for (d = 0; d < p->n_dims; d++) {
            ADD(p->dims[d].name, "MetricData.member.%zu.Dimensions.member.%zu.Name", i + 1, d + 1);
            ADD(p->dims[d].value, "MetricData.member.%zu.Dimensions.member.%zu.Value", i + 1,
                d + 1);
        }
    }
#undef ADD
    *n_out = n;
    return AGENT_OK;
}

enum agent_rc
cw_put_metric_data(struct awsapi *api, const struct cw_put *p)
{
    char(*names)[CW_PARAM_TEXT] = NULL, (*values)[CW_PARAM_TEXT] = NULL;
    struct aws_param *params = NULL;
    struct aws_query q;
    struct aws_error err;
    struct buf reply;
    size_t n = 0, i;
    enum agent_rc rc;

    if (api == NULL) {
        log_errx("cloudwatch: PutMetricData: no AWS client");
        return AGENT_ERR_INVAL;
    }
    names = calloc(CW_MAX_PARAMS, sizeof(*names));
    values = calloc(CW_MAX_PARAMS, sizeof(*values));
    params = calloc(CW_MAX_PARAMS, sizeof(*params));
    if (names == NULL || values == NULL || params == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out_free;
    }
    rc = cw_build_params(p, names, values, CW_MAX_PARAMS, &n);
    if (rc != AGENT_OK) {
        if (rc == AGENT_ERR_TOOBIG)
            log_errx("cloudwatch: PutMetricData: a name or value is over %d bytes",
                     CW_PARAM_TEXT - 1);
        goto out_free;
    }
    for (i = 0; i < n; i++) {
        params[i].name = names[i];
        params[i].value = values[i];
    }
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_CLOUDWATCH;
    q.action = "PutMetricData";
    q.version = CW_VERSION;
    q.params = params;
    q.n_params = n;
    q.idempotent = 0; /* a repeat is a second data point */
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = awsapi_query(api, &q, &reply, &err);
    if (rc == AGENT_OK)
        rc = awsxml_parse_empty_reply("cloudwatch", reply.data != NULL ? reply.data : "", reply.len,
                                      "PutMetricData");
    if (rc == AGENT_OK)
        log_debug("cloudwatch: put %zu metric%s to %s", p->n_data, p->n_data == 1 ? "" : "s",
                  p->ns);
    buf_cleanup(&reply);
out_free:
    free(names);
    free(values);
    free(params);
    return rc;
}
