/*
 * cloudwatch: CloudWatch PutMetricData (design.md §8.4), Query API
 * Version 2010-08-01, signing name "monitoring".
 *
 * One call sends every datum of one period (up to CW_MAX_DATA) with the
 * same dimensions; StorageResolution=1 marks them high-resolution.  A put
 * is not idempotent (a repeat is a second data point): awsapi retries it
 * only when it cannot have been applied.  Every failure is logged once.
 */
#ifndef AGENT_AWS_CLOUDWATCH_H
#define AGENT_AWS_CLOUDWATCH_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define CW_VERSION        "2010-08-01"
#define CW_MAX_DATA       20  /* data per request (the classic limit, safe everywhere) */
#define CW_MAX_DIMENSIONS 10  /* per datum (AWS allows 30) */
#define CW_NAME_MAX       255 /* namespace, metric and dimension names and values */

struct cw_dimension {
    const char *name;  /* "AutoScalingGroupName" */
    const char *value; /* 1-255 characters */
};

struct cw_datum {
    const char *name; /* "Connections" */
    double value;     /* finite */
    const char *unit; /* "Count", "Percent", ... */
};

struct cw_put {
    const char *ns; /* "WCS" */
    const struct cw_dimension *dims;
    size_t n_dims; /* 0 .. CW_MAX_DIMENSIONS */
    const struct cw_datum *data;
    size_t n_data;       /* 1 .. CW_MAX_DATA */
    int high_resolution; /* StorageResolution=1 */
};

/*
 * Sends p as one PutMetricData.  AGENT_OK; AGENT_ERR_INVAL (logged) for a
 * bad argument (a name or value empty, over 255 bytes, or holding control
 * characters, a namespace starting with "AWS/" or ':', a value that is not
 * finite, too many data or dimensions); the awsapi_query() codes;
 * AGENT_ERR_PARSE when a 2xx reply is not a PutMetricDataResponse.
 */
enum agent_rc cw_put_metric_data(struct awsapi *api, const struct cw_put *p);

/*
 * The form parameters of p (pure, for tests): names and values are written
 * into the caller's arrays, at most cap parameters (each name and value
 * fits in 128 bytes).  AGENT_OK with *n set; AGENT_ERR_INVAL as above;
 * AGENT_ERR_TOOBIG when cap is too small.
 */
#define CW_PARAM_TEXT 128
enum agent_rc cw_build_params(const struct cw_put *p, char (*names)[CW_PARAM_TEXT],
                              char (*values)[CW_PARAM_TEXT], size_t cap, size_t *n);

/* Parameters one put needs at most. */
#define CW_MAX_PARAMS (1 + CW_MAX_DATA * (4 + 2 * CW_MAX_DIMENSIONS))

#endif
