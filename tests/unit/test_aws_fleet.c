/*
 * The AWS calls of metrics, the result tag, fleet and doctor: CloudWatch
 * PutMetricData, EC2 CreateTags / DescribeInstances, and the list forms of
 * DescribeTargetHealth, DescribeInstanceHealth, DescribeAutoScalingInstances
 * and DescribeTargetGroups(+Attributes).  Pure parsers over real-shaped
 * replies; requests seen through the http transport seam (nothing is sent).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/autoscaling.h"
#include "aws/awsapi.h"
#include "aws/cloudwatch.h"
#include "aws/creds.h"
#include "aws/ec2.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define EP   "http://127.0.0.1:1"
#define IID  "i-0123456789abcdef0"
#define IID2 "i-0aaaaaaaaaaaaaaa1"
#define TG   "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"

#define NS_EC2 " xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""
#define NS_CW  " xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\""
#define NS_V2  " xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\""
#define NS_ELB " xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\""
#define NS_ASG " xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\""
#define META   "<ResponseMetadata><RequestId>EUa1rDrLldpR5vdI</RequestId></ResponseMetadata>"

static const char put_ok[] = "<PutMetricDataResponse" NS_CW ">" META "</PutMetricDataResponse>";

static const char tags_ok[] = "<CreateTagsResponse" NS_EC2 "><requestId>7a62c49f</requestId>"
                              "<return>true</return></CreateTagsResponse>";

static const char ec2_denied[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
    "<Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this "
    "operation.</Message></Error></Errors><RequestID>ea966190</RequestID></Response>";

static const char ec2_dry_run[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
    "<Code>DryRunOperation</Code><Message>Request would have succeeded, but DryRun flag is "
    "set.</Message></Error></Errors><RequestID>ea966191</RequestID></Response>";

/* Two reservations; the first instance has tags, metadata options and a network interface. */
static const char instances[] =
    "<DescribeInstancesResponse" NS_EC2 "><requestId>fdcdcab1</requestId><reservationSet>"
    "<item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/>"
    "<instancesSet><item><instanceId>" IID "</instanceId><imageId>ami-1</imageId>"
    "<instanceState><code>16</code><name>running</name></instanceState>"
    "<privateIpAddress>10.0.1.5</privateIpAddress>"
    "<placement><availabilityZone>eu-west-1a</availabilityZone><groupName/></placement>"
    "<networkInterfaceSet><item><privateIpAddress>10.0.1.5</privateIpAddress>"
    "<privateIpAddressesSet><item><privateIpAddress>10.0.1.5</privateIpAddress></item>"
    "</privateIpAddressesSet></item></networkInterfaceSet>"
    "<tagSet><item><key>Name</key><value>wcs 1</value></item>"
    "<item><key>wcs-agent:result</key><value>failed at secrets: AccessDenied</value></item>"
    "<item><key>empty</key><value/></item></tagSet>"
    "<metadataOptions><state>applied</state><httpTokens>required</httpTokens>"
    "<httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint>"
    "<instanceMetadataTags>enabled</instanceMetadataTags></metadataOptions>"
    "</item></instancesSet></item>"
    "<item><reservationId>r-2</reservationId><instancesSet><item><instanceId>" IID2
    "</instanceId><privateIpAddress>10.0.2.7</privateIpAddress></item></instancesSet></item>"
    "</reservationSet></DescribeInstancesResponse>";

static const char th_all[] =
    "<DescribeTargetHealthResponse" NS_V2 "><DescribeTargetHealthResult><TargetHealthDescriptions>"
    "<member><Target><Id>" IID "</Id><Port>8080</Port></Target><TargetHealth><State>healthy"
    "</State></TargetHealth></member>"
    "<member><Target><Id>" IID2 "</Id><Port>8080</Port></Target><TargetHealth><State>unhealthy"
    "</State><Reason>Target.FailedHealthChecks</Reason></TargetHealth></member>"
    "</TargetHealthDescriptions></DescribeTargetHealthResult>" META
    "</DescribeTargetHealthResponse>";

static const char tg_desc[] =
    "<DescribeTargetGroupsResponse" NS_V2 "><DescribeTargetGroupsResult><TargetGroups><member>"
    "<TargetGroupArn>" TG "</TargetGroupArn><HealthCheckProtocol>HTTP</HealthCheckProtocol>"
    "<HealthCheckPort>8081</HealthCheckPort><HealthCheckPath>/?action=stat</HealthCheckPath>"
    "<Matcher><HttpCode>200</HttpCode></Matcher></member></TargetGroups>"
    "</DescribeTargetGroupsResult>" META "</DescribeTargetGroupsResponse>";

static const char tg_attrs[] =
    "<DescribeTargetGroupAttributesResponse" NS_V2 "><DescribeTargetGroupAttributesResult>"
    "<Attributes><member><Key>stickiness.enabled</Key><Value>false</Value></member>"
    "<member><Key>deregistration_delay.timeout_seconds</Key><Value>300</Value></member>"
    "</Attributes></DescribeTargetGroupAttributesResult>" META
    "</DescribeTargetGroupAttributesResponse>";

static const char elb_all[] =
    "<DescribeInstanceHealthResponse" NS_ELB "><DescribeInstanceHealthResult><InstanceStates>"
    "<member><InstanceId>" IID "</InstanceId><State>InService</State></member>"
    "<member><InstanceId>" IID2 "</InstanceId><State>OutOfService</State>"
    "<ReasonCode>Instance</ReasonCode></member>"
    "</InstanceStates></DescribeInstanceHealthResult>" META "</DescribeInstanceHealthResponse>";

static const char asg_all[] =
    "<DescribeAutoScalingInstancesResponse" NS_ASG "><DescribeAutoScalingInstancesResult>"
    "<AutoScalingInstances><member><InstanceId>" IID "</InstanceId>"
    "<AutoScalingGroupName>web</AutoScalingGroupName><LifecycleState>InService</LifecycleState>"
    "<HealthStatus>HEALTHY</HealthStatus><AvailabilityZone>eu-west-1a</AvailabilityZone>"
    "</member><member><InstanceId>" IID2 "</InstanceId>"
    "<AutoScalingGroupName>web</AutoScalingGroupName>"
    "<LifecycleState>Terminating:Wait</LifecycleState><HealthStatus>HEALTHY</HealthStatus>"
    "</member></AutoScalingInstances></DescribeAutoScalingInstancesResult>" META
    "</DescribeAutoScalingInstancesResponse>";

/* ---- the fake transport ---- */

struct fake {
    long status[8];
    const char *reply[8];
    size_t nq, next;
    unsigned calls;
    char url[512];
    char body[16384];
    int authorized;
};

static struct fake fk;
static struct creds_provider *cp;
static struct awsapi *api;

static void
answer(long status, const char *body)
{
    assert_true(fk.nq < 8);
    fk.status[fk.nq] = status;
    fk.reply[fk.nq++] = body;
}

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;
    size_t i;

    f->calls++;
    snprintf(f->url, sizeof(f->url), "%s", req->url);
    assert_true(req->body_len < sizeof(f->body));
    memcpy(f->body, req->body, req->body_len);
    f->body[req->body_len] = '\0';
    f->authorized = 0;
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        if (strncmp(req->headers[i], "Authorization: AWS4-HMAC-SHA256 ", 32) == 0)
            f->authorized = 1;
    if (f->next >= f->nq)
        fail_msg("unexpected request %s", req->url);
    resp->status = f->status[f->next];
    resp->connected = 1;
    assert_int_equal(buf_puts(&resp->body, f->reply[f->next++]), AGENT_OK);
    return AGENT_OK;
}

static void
no_sleep(void *ctx, int64_t ms)
{
    (void)ctx;
    (void)ms;
}

static double
no_jitter(void *ctx)
{
    (void)ctx;
    return 0.0;
}

static int
setup(void **state)
{
    struct http_transport t = {fake_perform, &fk};
    struct awsapi_hooks hk = {no_sleep, no_jitter, NULL, 1};
    struct awsapi_opts o;

    (void)state;
    memset(&fk, 0, sizeof(fk));
    http_set_transport(&t);
    awsapi_set_hooks(&hk);
    setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2", 1);
    setenv("AWS_ENDPOINT_URL_CLOUDWATCH", EP, 1);
    setenv("AWS_ENDPOINT_URL_EC2", EP, 1);
    setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", EP, 1);
    setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING", EP, 1);
    setenv("AWS_ENDPOINT_URL_AUTO_SCALING", EP, 1);
    unsetenv("AWS_MAX_ATTEMPTS");
    log_init(-1, LOG_FMT_TEXT);
    assert_int_equal(creds_provider_new(NULL, NULL, &cp), AGENT_OK);
    memset(&o, 0, sizeof(o));
    o.region = "xx-test-1";
    o.creds = cp;
    o.max_attempts = 2;
    o.timeout_ms = 1000;
    assert_int_equal(awsapi_new(&o, &api), AGENT_OK);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    awsapi_free(api);
    api = NULL;
    creds_provider_free(cp);
    cp = NULL;
    http_set_transport(NULL);
    awsapi_set_hooks(NULL);
    return 0;
}

/* The last form body holds every '&'-separated pair of want, and is signed. */
static void
assert_form_has(const char *want)
{
    char w[4096], hay[16400], needle[600];
    char *p, *save = NULL;

    snprintf(w, sizeof(w), "%s", want);
    snprintf(hay, sizeof(hay), "&%s&", fk.body);
    for (p = strtok_r(w, "&", &save); p != NULL; p = strtok_r(NULL, "&", &save)) {
        snprintf(needle, sizeof(needle), "&%s&", p);
        if (strstr(hay, needle) == NULL)
            fail_msg("form body %s\n  lacks %s", fk.body, p);
    }
    assert_true(fk.authorized);
    assert_string_equal(fk.url, EP "/");
}

static size_t
count_pairs(const char *s)
{
    size_t n = 1;

    for (; *s != '\0'; s++)
        n += *s == '&';
    return n;
}

/* ---- CloudWatch ---- */

static void
test_cw_params(void **state)
{
    static char names[CW_MAX_PARAMS][CW_PARAM_TEXT], values[CW_MAX_PARAMS][CW_PARAM_TEXT];
    const struct cw_dimension dims[] = {{"AutoScalingGroupName", "web asg"}, {"InstanceId", IID}};
    const struct cw_datum data[] = {{"Connections", 37, "Count"},
                                    {"CpuLoad", 12.5, "Percent"},
                                    {"StreamsIn", 1234567890123.0, "Count"}};
    struct cw_put p = {"WCS", dims, 2, data, 3, 1};
    size_t n = 0;

    (void)state;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_OK);
    /* Namespace + 3 x (name, value, unit, resolution, 2 x 2 dimension fields). */
    assert_int_equal(n, 1 + 3 * 8);
    assert_string_equal(names[0], "Namespace");
    assert_string_equal(values[0], "WCS");
    assert_string_equal(names[1], "MetricData.member.1.MetricName");
    assert_string_equal(values[1], "Connections");
    assert_string_equal(values[2], "37");
    assert_string_equal(values[3], "Count");
    assert_string_equal(names[4], "MetricData.member.1.StorageResolution");
    assert_string_equal(values[4], "1");
    assert_string_equal(names[5], "MetricData.member.1.Dimensions.member.1.Name");
    assert_string_equal(values[6], "web asg");
    assert_string_equal(names[8], "MetricData.member.1.Dimensions.member.2.Value");
    assert_string_equal(values[8], IID);
    assert_string_equal(values[10], "12.5");
    assert_string_equal(values[11], "Percent");
    assert_string_equal(values[18], "1234567890123");

    /* Standard resolution: no StorageResolution at all. */
    p.high_resolution = 0;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_OK);
    assert_int_equal(n, 1 + 3 * 7);
    assert_string_equal(names[4], "MetricData.member.1.Dimensions.member.1.Name");
    assert_int_equal(cw_build_params(&p, names, values, 10, &n), AGENT_ERR_TOOBIG);
}

static void
test_cw_refused(void **state)
{
    static char names[CW_MAX_PARAMS][CW_PARAM_TEXT], values[CW_MAX_PARAMS][CW_PARAM_TEXT];
    struct cw_datum data[CW_MAX_DATA + 1];
    const struct cw_dimension bad_dim[] = {{"AutoScalingGroupName", ""}};
    struct cw_put p;
    size_t n = 0, i;

    (void)state;
    for (i = 0; i <= CW_MAX_DATA; i++) {
        data[i].name = "Connections";
        data[i].value = 1;
        data[i].unit = "Count";
    }
    memset(&p, 0, sizeof(p));
    p.ns = "WCS";
    p.data = data;
    p.n_data = CW_MAX_DATA + 1;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    p.n_data = 0;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    p.n_data = 1;
    p.ns = "AWS/EC2";
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    p.ns = "WCS\n";
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    p.ns = "WCS";
    data[0].value = NAN;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    data[0].value = 1;
    p.dims = bad_dim;
    p.n_dims = 1;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_ERR_INVAL);
    p.n_dims = 0;
    assert_int_equal(cw_build_params(&p, names, values, CW_MAX_PARAMS, &n), AGENT_OK);
    assert_int_equal(n, 4);
    assert_int_equal(fk.calls, 0);
}

static void
test_cw_put(void **state)
{
    const struct cw_dimension dims[] = {{"AutoScalingGroupName", "web"}};
    const struct cw_datum data[] = {{"Connections", 3, "Count"}, {"Draining", 0, "Count"}};
    struct cw_put p = {"WCS", dims, 1, data, 2, 0};

    (void)state;
    answer(200, put_ok);
    assert_int_equal(cw_put_metric_data(api, &p), AGENT_OK);
    assert_form_has("Action=PutMetricData&Version=2010-08-01&Namespace=WCS"
                    "&MetricData.member.1.MetricName=Connections&MetricData.member.1.Value=3"
                    "&MetricData.member.1.Unit=Count"
                    "&MetricData.member.1.Dimensions.member.1.Name=AutoScalingGroupName"
                    "&MetricData.member.1.Dimensions.member.1.Value=web"
                    "&MetricData.member.2.MetricName=Draining&MetricData.member.2.Value=0");
    assert_int_equal(count_pairs(fk.body), 3 + 2 * 5);

    /* An AWS refusal is not retried and comes back as AGENT_ERR_AWS. */
    answer(403, "<ErrorResponse" NS_CW "><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                "<Message>not authorized to perform: cloudwatch:PutMetricData</Message></Error>"
                "<RequestId>r1</RequestId></ErrorResponse>");
    assert_int_equal(cw_put_metric_data(api, &p), AGENT_ERR_AWS);
    assert_string_equal(awsapi_last_error(api)->code, "AccessDenied");
    /* A 2xx that is not the expected document. */
    answer(200, tags_ok);
    assert_int_equal(cw_put_metric_data(api, &p), AGENT_ERR_PARSE);
    assert_int_equal(fk.calls, 3);
}

/* ---- EC2 ---- */

static void
test_ec2_parse(void **state)
{
    struct ec2_instance *out = calloc(4, sizeof(*out));
    size_t n = 0;

    (void)state;
    assert_non_null(out);
    assert_int_equal(ec2_parse_instances(instances, strlen(instances), out, 4, &n), AGENT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].id, IID);
    assert_string_equal(out[0].private_ip, "10.0.1.5");
    assert_string_equal(out[0].az, "eu-west-1a");
    assert_string_equal(out[0].state, "running");
    assert_int_equal(out[0].hop_limit, 2);
    assert_string_equal(out[0].http_tokens, "required");
    assert_string_equal(out[0].metadata_tags, "enabled");
    assert_int_equal(out[0].n_tags, 3);
    assert_string_equal(ec2_instance_tag(&out[0], "Name"), "wcs 1");
    assert_string_equal(ec2_instance_tag(&out[0], "wcs-agent:result"),
                        "failed at secrets: AccessDenied");
    assert_string_equal(ec2_instance_tag(&out[0], "empty"), "");
    assert_null(ec2_instance_tag(&out[0], "absent"));
    assert_string_equal(out[1].id, IID2);
    assert_string_equal(out[1].private_ip, "10.0.2.7");
    assert_int_equal(out[1].n_tags, 0);
    assert_int_equal(out[1].hop_limit, 0);

    /* Appends after what is there; too small an array is refused whole. */
    n = 1;
    assert_int_equal(ec2_parse_instances(instances, strlen(instances), out, 4, &n), AGENT_OK);
    assert_int_equal(n, 3);
    n = 3;
    assert_int_equal(ec2_parse_instances(instances, strlen(instances), out, 4, &n),
                     AGENT_ERR_TOOBIG);
    assert_int_equal(n, 3);
    free(out);
}

static void
test_ec2_parse_refused(void **state)
{
    static const char *const bad[] = {
        /* an item without instanceId */
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        "<privateIpAddress>10.0.0.1</privateIpAddress></item></instancesSet></item>"
        "</reservationSet></DescribeInstancesResponse>",
        /* a tag value without its key */
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        "<instanceId>" IID "</instanceId><tagSet><item><value>x</value></item></tagSet>"
        "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>",
        /* two values for one key */
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        "<instanceId>" IID "</instanceId><tagSet><item><key>a</key><value>x</value>"
        "<value>y</value></item></tagSet></item></instancesSet></item></reservationSet>"
        "</DescribeInstancesResponse>",
        /* a hop limit that is not a number */
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        "<instanceId>" IID "</instanceId><metadataOptions><httpPutResponseHopLimit>x"
        "</httpPutResponseHopLimit></metadataOptions></item></instancesSet></item>"
        "</reservationSet></DescribeInstancesResponse>",
        /* another root */
        "<DescribeTagsResponse/>",
        /* a control character */
        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
        "<instanceId>" IID "</instanceId><privateIpAddress>10.0.0.1&#1;</privateIpAddress>"
        "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>",
    };
    struct ec2_instance *out = calloc(2, sizeof(*out));
    size_t n, i;

    (void)state;
    assert_non_null(out);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 0;
        if (ec2_parse_instances(bad[i], strlen(bad[i]), out, 2, &n) == AGENT_OK)
            fail_msg("accepted bad reply %zu", i);
        assert_int_equal(n, 0);
    }
    n = 0;
    assert_int_equal(ec2_parse_instances(ec2_denied, strlen(ec2_denied), out, 2, &n),
                     AGENT_ERR_AWS);
    free(out);
}

static void
test_ec2_calls(void **state)
{
    const char *ids[] = {IID, IID2};
    struct ec2_instance *out = calloc(4, sizeof(*out));
    struct aws_error e;
    char long_value[300];
    size_t n = 0;

    (void)state;
    assert_non_null(out);
    answer(200, tags_ok);
    assert_int_equal(ec2_create_tag(api, IID, "wcs-agent:result", "ok 5.2.1 in 3.1 s", 0),
                     AGENT_OK);
    assert_form_has("Action=CreateTags&Version=2016-11-15&ResourceId.1=" IID
                    "&Tag.1.Key=wcs-agent%3Aresult&Tag.1.Value=ok+5.2.1+in+3.1+s");
    assert_int_equal(count_pairs(fk.body), 5);

    answer(403, ec2_denied);
    assert_int_equal(ec2_create_tag(api, IID, "wcs-agent:result", "x", 0), AGENT_ERR_AWS);
    assert_string_equal(awsapi_last_error(api)->code, "UnauthorizedOperation");

    memset(long_value, 'a', sizeof(long_value));
    long_value[257] = '\0';
    assert_int_equal(ec2_create_tag(api, IID, "k", long_value, 0), AGENT_ERR_INVAL);
    long_value[256] = '\0';
    answer(200, tags_ok);
    assert_int_equal(ec2_create_tag(api, IID, "k", long_value, 0), AGENT_OK);
    assert_int_equal(ec2_create_tag(api, "i-xyz", "k", "v", 0), AGENT_ERR_INVAL);
    assert_int_equal(ec2_create_tag(api, IID, "", "v", 0), AGENT_ERR_INVAL);

    /* The DryRun probe: DryRunOperation is a yes, UnauthorizedOperation a no. */
    answer(412, ec2_dry_run);
    assert_int_equal(ec2_probe_create_tags(api, IID, &e), AGENT_OK);
    assert_form_has("Action=CreateTags&DryRun=true&ResourceId.1=" IID);
    answer(403, ec2_denied);
    assert_int_equal(ec2_probe_create_tags(api, IID, &e), AGENT_ERR_AWS);
    assert_string_equal(e.code, "UnauthorizedOperation");

    answer(200, instances);
    assert_int_equal(ec2_describe_instances(api, ids, 2, out, 4, &n), AGENT_OK);
    assert_form_has("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=" IID
                    "&InstanceId.2=" IID2);
    assert_int_equal(n, 2);
    ids[1] = "not-an-id";
    assert_int_equal(ec2_describe_instances(api, ids, 2, out, 4, &n), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 6);
    free(out);
}

/* ---- the list forms of ELBv2, ELB, Auto Scaling ---- */

static void
test_lists(void **state)
{
    struct elbv2_target_health th[4];
    struct elb_instance_health ih[4];
    struct asg_instance_row rows[4];
    struct elbv2_target_group g;
    const char *ids[] = {IID, IID2};
    size_t n = 0;

    (void)state;
    answer(200, th_all);
    assert_int_equal(elbv2_list_target_health(api, TG, th, 4, &n), AGENT_OK);
    assert_form_has("Action=DescribeTargetHealth&Version=2015-12-01");
    assert_null(strstr(fk.body, "Targets.member"));
    assert_int_equal(n, 2);
    assert_string_equal(th[1].id, IID2);
    assert_string_equal(th[1].state, "unhealthy");
    assert_string_equal(th[1].reason, "Target.FailedHealthChecks");
    assert_int_equal(elbv2_parse_target_health_all(th_all, strlen(th_all), th, 1, &n),
                     AGENT_ERR_TOOBIG);

    answer(200, elb_all);
    assert_int_equal(elb_list_instance_health(api, "web-lb", ih, 4, &n), AGENT_OK);
    assert_form_has("Action=DescribeInstanceHealth&LoadBalancerName=web-lb");
    assert_int_equal(n, 2);
    assert_string_equal(ih[1].state, "OutOfService");

    answer(200, asg_all);
    assert_int_equal(asg_describe_instances(api, ids, 2, rows, 4, &n), AGENT_OK);
    assert_form_has("Action=DescribeAutoScalingInstances&InstanceIds.member.1=" IID
                    "&InstanceIds.member.2=" IID2);
    assert_int_equal(n, 2);
    assert_string_equal(rows[1].instance_id, IID2);
    assert_string_equal(rows[1].i.lifecycle_state, "Terminating:Wait");

    answer(200, tg_desc);
    answer(200, tg_attrs);
    assert_int_equal(elbv2_describe_target_group(api, TG, &g), AGENT_OK);
    assert_form_has("Action=DescribeTargetGroupAttributes&TargetGroupArn=arn%3Aaws%3A"
                    "elasticloadbalancing%3Aeu-west-1%3A123456789012%3Atargetgroup%2Fweb%2F"
                    "0123456789abcdef");
    assert_string_equal(g.health_check_port, "8081");
    assert_string_equal(g.health_check_path, "/?action=stat");
    assert_string_equal(g.health_check_protocol, "HTTP");
    assert_int_equal(g.deregistration_delay_s, 300);
    assert_int_equal(fk.calls, 5);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_cw_params),         T(test_cw_refused), T(test_cw_put), T(test_ec2_parse),
        T(test_ec2_parse_refused), T(test_ec2_calls),  T(test_lists),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
