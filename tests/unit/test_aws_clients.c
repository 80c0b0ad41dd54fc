/*
 * The typed AWS service clients (elbv2, elb, autoscaling, cloudformation,
 * ssm, secretsmanager, s3): their pure reply parsers over canned,
 * real-shaped replies (moto captures and the shapes of aws.md), and the
 * requests they build, seen through the http transport seam (nothing is
 * sent; the endpoint is the closed port http://127.0.0.1:1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "aws/autoscaling.h"
#include "aws/awsapi.h"
#include "aws/cloudformation.h"
#include "aws/creds.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "aws/s3.h"
#include "aws/secretsmanager.h"
#include "aws/ssm.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

#define EP  "http://127.0.0.1:1"
#define IID "i-0123456789abcdef0"
#define TG_ARN \
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"
#define TG_ARN_E \
    "arn%3Aaws%3Aelasticloadbalancing%3Aeu-west-1%3A123456789012%3Atargetgroup%2Fweb%2F0123456789abcdef"
#define SECRET "s3cr3t-P@ss"

/* ---- canned replies: moto captures and aws.md shapes ---- */

#define NS_ELBV2 " xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\""
#define NS_ELB   " xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\""
#define NS_ASG   " xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\""
#define NS_CFN   " xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\""
#define META     "<ResponseMetadata><RequestId>EUa1rDrLldpR5vdI</RequestId></ResponseMetadata>"

static const char register_targets_ok[] =
    "<RegisterTargetsResponse" NS_ELBV2 "><RegisterTargetsResult/>" META
    "</RegisterTargetsResponse>";

static const char deregister_targets_ok[] =
    "<DeregisterTargetsResponse" NS_ELBV2 "><DeregisterTargetsResult/>" META
    "</DeregisterTargetsResponse>";

static const char th_healthy[] =
    "<DescribeTargetHealthResponse" NS_ELBV2 "><DescribeTargetHealthResult>"
    "<TargetHealthDescriptions><member><Target><Id>" IID "</Id><Port>8080</Port></Target>"
    "<HealthCheckPort>traffic-port</HealthCheckPort><TargetHealth><State>healthy</State>"
    "</TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>" META
    "</DescribeTargetHealthResponse>";

/* Pretty-printed, two ports of the same instance and another target. */
static const char th_multi[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeTargetHealthResponse" NS_ELBV2 ">\n"
    "  <DescribeTargetHealthResult>\n"
    "    <TargetHealthDescriptions>\n"
    "      <member>\n"
    "        <Target><Id>i-0aaaaaaaaaaaaaaa1</Id><Port>8080</Port>"
    "<AvailabilityZone>eu-west-1a</AvailabilityZone></Target>\n"
    "        <TargetHealth><State>healthy</State></TargetHealth>\n"
    "      </member>\n"
    "      <member>\n"
    "        <Target><Id>" IID "</Id><Port>8080</Port></Target>\n"
    "        <HealthCheckPort>8080</HealthCheckPort>\n"
    "        <TargetHealth>\n"
    "          <State>unhealthy</State>\n"
    "          <Reason>Target.ResponseCodeMismatch</Reason>\n"
    "          <Description>Health checks failed with these codes: [502]</Description>\n"
    "        </TargetHealth>\n"
    "        <AnomalyDetection><Result>normal</Result></AnomalyDetection>\n"
    "      </member>\n"
    "      <member>\n"
    "        <Target><Id>" IID "</Id><Port>8443</Port></Target>\n"
    "        <TargetHealth><State>draining</State>"
    "<Reason>Target.DeregistrationInProgress</Reason>"
    "<Description>Target deregistration is in progress</Description></TargetHealth>\n"
    "      </member>\n"
    "    </TargetHealthDescriptions>\n"
    "  </DescribeTargetHealthResult>\n"
    "  " META "\n"
    "</DescribeTargetHealthResponse>\n";

static const char elbv2_error[] =
    "<ErrorResponse" NS_ELBV2 "><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
    "<Message>One or more target groups not found</Message></Error>"
    "<RequestId>YQgsOnLDgGjiYSyK</RequestId></ErrorResponse>";

static const char elb_register_ok[] =
    "<RegisterInstancesWithLoadBalancerResponse" NS_ELB
    "><RegisterInstancesWithLoadBalancerResult><Instances>"
    "<member><InstanceId>i-0aaaaaaaaaaaaaaa1</InstanceId></member>"
    "<member><InstanceId>" IID "</InstanceId></member>"
    "</Instances></RegisterInstancesWithLoadBalancerResult>" META
    "</RegisterInstancesWithLoadBalancerResponse>";

/* moto answers with an empty list. */
static const char elb_register_moto[] = "<RegisterInstancesWithLoadBalancerResponse" NS_ELB
                                        "><RegisterInstancesWithLoadBalancerResult><Instances/>"
                                        "</RegisterInstancesWithLoadBalancerResult>" META
                                        "</RegisterInstancesWithLoadBalancerResponse>";

static const char elb_deregister_ok[] =
    "<DeregisterInstancesFromLoadBalancerResponse" NS_ELB
    "><DeregisterInstancesFromLoadBalancerResult><Instances>"
    "<member><InstanceId>i-0aaaaaaaaaaaaaaa1</InstanceId></member>"
    "</Instances></DeregisterInstancesFromLoadBalancerResult>" META
    "</DeregisterInstancesFromLoadBalancerResponse>";

static const char elb_health_in[] =
    "<DescribeInstanceHealthResponse" NS_ELB "><DescribeInstanceHealthResult><InstanceStates>"
    "<member><InstanceId>" IID "</InstanceId><State>InService</State>"
    "<ReasonCode>N/A</ReasonCode><Description>N/A</Description></member>"
    "</InstanceStates></DescribeInstanceHealthResult>" META "</DescribeInstanceHealthResponse>";

static const char elb_health_out[] =
    "<DescribeInstanceHealthResponse" NS_ELB "><DescribeInstanceHealthResult><InstanceStates>"
    "<member><Description>Instance has failed at least the UnhealthyThreshold number of health "
    "checks consecutively.</Description><InstanceId>" IID "</InstanceId>"
    "<ReasonCode>Instance</ReasonCode><State>OutOfService</State></member>"
    "</InstanceStates></DescribeInstanceHealthResult>" META "</DescribeInstanceHealthResponse>";

static const char elb_error[] =
    "<ErrorResponse" NS_ELB "><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code>"
    "<Message>There is no ACTIVE Load Balancer named 'nolb'</Message></Error>"
    "<RequestId>3reZ04VesBugHGqW</RequestId></ErrorResponse>";

static const char hooks_moto[] =
    "<DescribeLifecycleHooksResponse" NS_ASG "><DescribeLifecycleHooksResult><LifecycleHooks>"
    "<member><LifecycleHookName>launch</LifecycleHookName>"
    "<AutoScalingGroupName>web-asg</AutoScalingGroupName>"
    "<LifecycleTransition>autoscaling:EC2_INSTANCE_LAUNCHING</LifecycleTransition>"
    "<NotificationTargetARN>arn:aws:sqs:us-east-1:123456789012:my-queue</NotificationTargetARN>"
    "<RoleARN>arn:aws:iam::1234567890:role/my-auto-scaling-role</RoleARN>"
    "<HeartbeatTimeout>600</HeartbeatTimeout><GlobalTimeout>172800</GlobalTimeout>"
    "<DefaultResult>CONTINUE</DefaultResult></member>"
    "</LifecycleHooks></DescribeLifecycleHooksResult>" META "</DescribeLifecycleHooksResponse>";

static const char hooks_defaults[] =
    "<DescribeLifecycleHooksResponse" NS_ASG "><DescribeLifecycleHooksResult><LifecycleHooks>"
    "<member><LifecycleHookName>other</LifecycleHookName>"
    "<HeartbeatTimeout>30</HeartbeatTimeout><DefaultResult>CONTINUE</DefaultResult></member>"
    "<member><LifecycleHookName>drain</LifecycleHookName>"
    "<LifecycleTransition>autoscaling:EC2_INSTANCE_TERMINATING</LifecycleTransition></member>"
    "</LifecycleHooks></DescribeLifecycleHooksResult>" META "</DescribeLifecycleHooksResponse>";

static const char asg_instances_in[] =
    "<DescribeAutoScalingInstancesResponse" NS_ASG "><DescribeAutoScalingInstancesResult>"
    "<AutoScalingInstances><member><InstanceId>" IID "</InstanceId>"
    "<InstanceType>t2.micro</InstanceType><AutoScalingGroupName>web asg</AutoScalingGroupName>"
    "<AvailabilityZone>eu-west-1a</AvailabilityZone><LifecycleState>Pending:Wait</LifecycleState>"
    "<HealthStatus>Healthy</HealthStatus><LaunchConfigurationName>lc</LaunchConfigurationName>"
    "<ProtectedFromScaleIn>false</ProtectedFromScaleIn></member></AutoScalingInstances>"
    "</DescribeAutoScalingInstancesResult>" META "</DescribeAutoScalingInstancesResponse>";

static const char asg_instances_none[] =
    "<DescribeAutoScalingInstancesResponse" NS_ASG "><DescribeAutoScalingInstancesResult>"
    "<AutoScalingInstances/></DescribeAutoScalingInstancesResult>" META
    "</DescribeAutoScalingInstancesResponse>";

static const char asg_ok_complete[] =
    "<CompleteLifecycleActionResponse" NS_ASG "><CompleteLifecycleActionResult/>" META
    "</CompleteLifecycleActionResponse>";

static const char asg_ok_heartbeat[] =
    "<RecordLifecycleActionHeartbeatResponse" NS_ASG "><RecordLifecycleActionHeartbeatResult/>" META
    "</RecordLifecycleActionHeartbeatResponse>";

static const char asg_no_action[] =
    "<ErrorResponse" NS_ASG "><Error><Type>Sender</Type><Code>ValidationError</Code>"
    "<Message>No active Lifecycle Action found with instance ID " IID "</Message></Error>"
    "<RequestId>cq6f9V3Z5mEZFaw0</RequestId></ErrorResponse>";

static const char asg_other_validation[] =
    "<ErrorResponse" NS_ASG "><Error><Type>Sender</Type><Code>ValidationError</Code>"
    "<Message>Group web-asg not found</Message></Error>"
    "<RequestId>cq6f9V3Z5mEZFaw1</RequestId></ErrorResponse>";

static const char cfn_ok[] = "<SignalResourceResponse" NS_CFN ">" META "</SignalResourceResponse>";

static const char cfn_not_waiting[] =
    "<ErrorResponse" NS_CFN "><Error><Type>Sender</Type><Code>ValidationError</Code>"
    "<Message>Stack arn:aws:cloudformation:eu-west-1:123456789012:stack/wcs/1 is in "
    "UPDATE_COMPLETE state and cannot be signaled</Message></Error>"
    "<RequestId>r1</RequestId></ErrorResponse>";

static const char cfn_no_stack[] =
    "<ErrorResponse" NS_CFN "><Error><Type>Sender</Type><Code>ValidationError</Code>"
    "<Message>Stack with id nostack does not exist</Message></Error>"
    "<RequestId>r2</RequestId></ErrorResponse>";

static const char ssm_reply[] =
    "{\"Parameter\": {\"Name\": \"/app/db/password\", \"Type\": \"SecureString\", "
    "\"Value\": \"s3cr3t\\\"\\\\x\\u00e9\", \"Version\": 1, \"LastModifiedDate\": 1795739698.635, "
    "\"ARN\": \"arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password\", "
    "\"DataType\": \"text\"}}";

static const char ssm_not_found[] =
    "{\"__type\": \"ParameterNotFound\", \"message\": \"Parameter /nope not found.\"}";

static const char sm_json[] =
    "{\"ARN\": \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/api-key-CpQXZu\", "
    "\"Name\": \"app/api-key\", \"VersionId\": \"25f2808e-c1d1-471f-abc0-5719bc3ce18b\", "
    "\"VersionStages\": [\"AWSCURRENT\"], \"CreatedDate\": 1795739698, \"SecretString\": "
    "\"{\\\"user\\\": \\\"u\\\", \\\"password\\\": \\\"" SECRET "\\\", \\\"port\\\": 5432, "
    "\\\"on\\\": true, \\\"off\\\": false, \\\"ratio\\\": 0.25, \\\"nothing\\\": null, "
    "\\\"obj\\\": {\\\"a\\\": 1}}\"}";

static const char sm_plain[] = "{\"Name\": \"app/licence\", \"SecretString\": \"" SECRET
                               "\", \"VersionStages\": [\"AWSCURRENT\"]}";

static const char sm_binary[] =
    "{\"ARN\": \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/bin-ivBusL\", "
    "\"Name\": \"app/bin\", \"SecretBinary\": \"AAFiaW5hcnn/\", \"SecretString\": null}";

static const char sm_not_found[] =
    "{\"__type\": \"ResourceNotFoundException\", \"message\": \"Secrets Manager can't find the "
    "specified secret.\"}";

/* ---- the fake transport ---- */

struct canned {
    long status;
    const char *body;
    const char *headers;
    enum agent_rc rc;
    enum http_fail fail;
    int connected; /* for a failure: 1 when the request may have reached AWS */
};

#define MAX_CANNED 8

struct fake {
    struct canned q[MAX_CANNED];
    size_t nq, next;
    unsigned calls;
    char method[8];
    char url[1024];
    char body[8192];
    char content_type[128];
    char target[128];
    int authorized;   /* an Authorization header was present */
    int secret_reply; /* the response body buffer was a secret one */
};

static struct fake fk;
static struct creds_provider *cp;
static struct awsapi *api;

static void
answer(long status, const char *body)
{
    struct canned *c = &fk.q[fk.nq++];

    assert_true(fk.nq <= MAX_CANNED);
    memset(c, 0, sizeof(*c));
    c->status = status;
    c->body = body;
    c->headers = "x-amzn-RequestId: 0f3e1d2c\r\nx-amz-request-id: 0f3e1d2c\r\n";
}

/* A request that was sent (connected) but whose reply never came. */
static void
lost_reply(void)
{
    struct canned *c = &fk.q[fk.nq++];

    assert_true(fk.nq <= MAX_CANNED);
    memset(c, 0, sizeof(*c));
    c->rc = AGENT_ERR_TIMEOUT;
    c->fail = HTTP_FAIL_TIMEOUT;
    c->connected = 1;
}

static void
copy_header(char *dst, size_t cap, const char *line, const char *name)
{
    size_t n = strlen(name);

    if (str_ncasecmp(line, name, n) == 0 && line[n] == ':') {
        line += n + 1;
        while (*line == ' ')
            line++;
        snprintf(dst, cap, "%s", line);
    }
}

static enum agent_rc
fake_perform(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct fake *f = ctx;
    const struct canned *c;
    size_t i;

    f->calls++;
    snprintf(f->method, sizeof(f->method), "%s", req->method);
    snprintf(f->url, sizeof(f->url), "%s", req->url);
    assert_true(req->body_len < sizeof(f->body));
    memcpy(f->body, req->body != NULL ? req->body : "", req->body_len);
    f->body[req->body_len] = '\0';
    f->content_type[0] = f->target[0] = '\0';
    f->authorized = 0;
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        copy_header(f->content_type, sizeof(f->content_type), req->headers[i], "Content-Type");
        copy_header(f->target, sizeof(f->target), req->headers[i], "X-Amz-Target");
        if (str_ncasecmp(req->headers[i], "Authorization: AWS4-HMAC-SHA256 ", 32) == 0)
            f->authorized = 1;
    }
    f->secret_reply = resp->body.secret;
    if (f->next >= f->nq)
        fail_msg("unexpected request %s %s", req->method, req->url);
    c = &f->q[f->next++];
    if (c->rc != AGENT_OK) {
        resp->fail = c->fail;
        resp->connected = c->connected;
        return c->rc;
    }
    resp->status = c->status;
    resp->connected = 1;
    if (c->body != NULL)
        assert_int_equal(buf_puts(&resp->body, c->body), AGENT_OK);
    if (c->headers != NULL)
        assert_int_equal(buf_puts(&resp->headers, c->headers), AGENT_OK);
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

/* ---- log capture ---- */

static FILE *cap_file;
static char cap_text[32768];

/* Everything logged since the test's setup. */
static const char *
logged(void)
{
    ssize_t n = pread(fileno(cap_file), cap_text, sizeof(cap_text) - 1, 0);

    cap_text[n > 0 ? n : 0] = '\0';
    return cap_text;
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
    setenv("AWS_ENDPOINT_URL", EP, 1);
    unsetenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING");
    unsetenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2");
    unsetenv("AWS_ENDPOINT_URL_AUTO_SCALING");
    unsetenv("AWS_ENDPOINT_URL_SSM");
    unsetenv("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL_CLOUDFORMATION");
    unsetenv("AWS_MAX_ATTEMPTS");
    log_init(1, LOG_FMT_TEXT); /* the clients' call lines are detail (-v) */
    cap_file = tmpfile();
    assert_non_null(cap_file);
    log_set_fd(fileno(cap_file));
    assert_int_equal(creds_provider_new(NULL, NULL, &cp), AGENT_OK);
    memset(&o, 0, sizeof(o));
    o.region = "xx-test-1";
    o.creds = cp;
    o.max_attempts = 3;
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
    log_set_fd(-1);
    fclose(cap_file);
    cap_file = NULL;
    return 0;
}

/* ---- request checks ---- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits a form body at '&' in place into at most cap pointers; returns the count. */
static size_t
split_form(char *s, char **parts, size_t cap)
{
    size_t n = 0;
    char *amp;

    while (n < cap) {
        parts[n++] = s;
        amp = strchr(s, '&');
        if (amp == NULL)
            break;
        *amp = '\0';
        s = amp + 1;
    }
    return n;
}

/* The form body of the last request equals expected as a set of name=value pairs. */
static void
assert_form(const char *expected)
{
    char a[8192], e[8192];
    char *pa[32], *pe[32];
    size_t na, ne, i;

    snprintf(a, sizeof(a), "%s", fk.body);
    snprintf(e, sizeof(e), "%s", expected);
    na = split_form(a, pa, 32);
    ne = split_form(e, pe, 32);
    qsort(pa, na, sizeof(pa[0]), cmp_str);
    qsort(pe, ne, sizeof(pe[0]), cmp_str);
    if (na != ne)
        fail_msg("form body %s\n  expected %s", fk.body, expected);
    for (i = 0; i < na; i++) {
        if (strcmp(pa[i], pe[i]) != 0)
            fail_msg("form body %s\n  expected %s\n  (%s vs %s)", fk.body, expected, pa[i], pe[i]);
    }
    assert_string_equal(fk.method, "POST");
    assert_string_equal(fk.url, EP "/");
    assert_string_equal(fk.content_type, "application/x-www-form-urlencoded; charset=utf-8");
    assert_string_equal(fk.target, "");
    assert_true(fk.authorized);
}

/* The JSON body of the last request: its members, and the JSON 1.1 headers. */
static cJSON *
json_body(const char *target)
{
    cJSON *j = cJSON_Parse(fk.body);

    assert_non_null(j);
    assert_true(cJSON_IsObject(j));
    assert_string_equal(fk.method, "POST");
    assert_string_equal(fk.url, EP "/");
    assert_string_equal(fk.content_type, "application/x-amz-json-1.1");
    assert_string_equal(fk.target, target);
    assert_true(fk.authorized);
    return j;
}

static void
assert_json_string(const cJSON *j, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
}

/* ---- ELBv2 ---- */

static void
test_elbv2_parse_target_health(void **state)
{
    struct elbv2_target_health th;

    (void)state;
    memset(&th, 0, sizeof(th));
    assert_int_equal(elbv2_parse_target_health(th_healthy, strlen(th_healthy), IID, 8080, &th),
                     AGENT_OK);
    assert_string_equal(th.id, IID);
    assert_int_equal(th.port, 8080);
    assert_string_equal(th.state, "healthy");
    assert_string_equal(th.reason, "");
    assert_string_equal(th.description, "");

    /* The member for the port asked, with its reason and description. */
    assert_int_equal(elbv2_parse_target_health(th_multi, strlen(th_multi), IID, 8080, &th),
                     AGENT_OK);
    assert_string_equal(th.state, "unhealthy");
    assert_string_equal(th.reason, "Target.ResponseCodeMismatch");
    assert_string_equal(th.description, "Health checks failed with these codes: [502]");
    assert_int_equal(elbv2_parse_target_health(th_multi, strlen(th_multi), IID, 8443, &th),
                     AGENT_OK);
    assert_string_equal(th.state, "draining");
    assert_string_equal(th.reason, "Target.DeregistrationInProgress");
    assert_int_equal(th.port, 8443);
    /* Port 0: the first member of the instance. */
    assert_int_equal(elbv2_parse_target_health(th_multi, strlen(th_multi), IID, 0, &th), AGENT_OK);
    assert_int_equal(th.port, 8080);
    assert_string_equal(th.state, "unhealthy");
}

static void
test_elbv2_parse_target_health_refused(void **state)
{
    static const struct {
        const char *xml;
        enum agent_rc rc;
    } cases[] = {
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><Target><Id>" IID "</Id><Port>8080</Port></Target>"
         "</member></TargetHealthDescriptions></DescribeTargetHealthResult>"
         "</DescribeTargetHealthResponse>",
         AGENT_ERR_PARSE}, /* no State */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><TargetHealth><State>healthy</State></TargetHealth>"
         "</member></TargetHealthDescriptions></DescribeTargetHealthResult>"
         "</DescribeTargetHealthResponse>",
         AGENT_ERR_PARSE}, /* no Id */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><Target><Id>" IID "</Id><Port>80a</Port></Target><TargetHealth><State>healthy"
         "</State></TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>"
         "</DescribeTargetHealthResponse>",
         AGENT_ERR_PARSE}, /* bad port */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><Target><Id>" IID "</Id></Target><TargetHealth><State>healthy</State>"
         "<State>unhealthy</State></TargetHealth></member></TargetHealthDescriptions>"
         "</DescribeTargetHealthResult></DescribeTargetHealthResponse>",
         AGENT_ERR_PARSE}, /* repeated State */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><Target><Id>" IID "</Id></Target><TargetHealth><State>hea&#9;lthy</State>"
         "</TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>"
         "</DescribeTargetHealthResponse>",
         AGENT_ERR_PARSE}, /* control character */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
         "<member><Target><Id>" IID "</Id></Target><TargetHealth><State>healthy</State>"
         "</TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>",
         AGENT_ERR_PARSE}, /* truncated */
        {"<RegisterTargetsResponse><RegisterTargetsResult/></RegisterTargetsResponse>",
         AGENT_ERR_PARSE}, /* another reply */
        {elbv2_error, AGENT_ERR_AWS},
        {"<!DOCTYPE x [<!ENTITY a \"b\">]><DescribeTargetHealthResponse/>", AGENT_ERR_PARSE},
        {"", AGENT_ERR_PARSE},
        {"{\"not\": \"xml\"}", AGENT_ERR_PARSE},
        /* Well formed, but the instance is not described. */
        {"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions/>"
         "</DescribeTargetHealthResult></DescribeTargetHealthResponse>",
         AGENT_ERR_ABSENT},
    };
    struct elbv2_target_health th, before;
    size_t i;

    (void)state;
    memset(&th, 0x5a, sizeof(th));
    before = th;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum agent_rc rc =
            elbv2_parse_target_health(cases[i].xml, strlen(cases[i].xml), IID, 8080, &th);

        if (rc != cases[i].rc)
            fail_msg("case %zu: %s, expected %s", i, agent_rc_str(rc), agent_rc_str(cases[i].rc));
        assert_memory_equal(&th, &before, sizeof(th));
    }
    /* Another port of a described instance is absent too. */
    assert_int_equal(elbv2_parse_target_health(th_multi, strlen(th_multi), IID, 9090, &th),
                     AGENT_ERR_ABSENT);
    assert_int_equal(
        elbv2_parse_target_health(th_multi, strlen(th_multi), "i-0bbbbbbbbbbbbbbb2", 0, &th),
        AGENT_ERR_ABSENT);
}

static void
test_elbv2_parse_caps(void **state)
{
    char xml[4096], desc[1100];
    struct elbv2_target_health th;

    (void)state;
    /* A description one byte over the cap is refused, not cut. */
    memset(desc, 'd', ELBV2_DESCRIPTION_MAX);
    desc[ELBV2_DESCRIPTION_MAX] = '\0';
    snprintf(xml, sizeof(xml),
             "<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
             "<member><Target><Id>" IID "</Id></Target><TargetHealth><State>healthy</State>"
             "<Description>%s</Description></TargetHealth></member></TargetHealthDescriptions>"
             "</DescribeTargetHealthResult></DescribeTargetHealthResponse>",
             desc);
    assert_int_equal(elbv2_parse_target_health(xml, strlen(xml), IID, 0, &th), AGENT_ERR_TOOBIG);
    desc[ELBV2_DESCRIPTION_MAX - 1] = '\0';
    snprintf(xml, sizeof(xml),
             "<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>"
             "<member><Target><Id>" IID "</Id></Target><TargetHealth><State>healthy</State>"
             "<Description>%s</Description></TargetHealth></member></TargetHealthDescriptions>"
             "</DescribeTargetHealthResult></DescribeTargetHealthResponse>",
             desc);
    assert_int_equal(elbv2_parse_target_health(xml, strlen(xml), IID, 0, &th), AGENT_OK);
    assert_int_equal(strlen(th.description), ELBV2_DESCRIPTION_MAX - 1);
    assert_int_equal(th.port, 0);
    /* The length counts, not a NUL: the text must not be read past len. */
    assert_int_equal(elbv2_parse_target_health(xml, strlen(xml) - 5, IID, 0, &th), AGENT_ERR_PARSE);
}

static void
test_elbv2_parse_empty_reply(void **state)
{
    (void)state;
    assert_int_equal(elbv2_parse_empty_reply(register_targets_ok, strlen(register_targets_ok),
                                             "RegisterTargets"),
                     AGENT_OK);
    assert_int_equal(elbv2_parse_empty_reply(register_targets_ok, strlen(register_targets_ok),
                                             "DeregisterTargets"),
                     AGENT_ERR_PARSE);
    assert_int_equal(elbv2_parse_empty_reply(elbv2_error, strlen(elbv2_error), "RegisterTargets"),
                     AGENT_ERR_AWS);
    assert_non_null(strstr(logged(), "TargetGroupNotFound"));
    assert_int_equal(
        elbv2_parse_empty_reply("<html><body>proxy</body></html>", 32, "RegisterTargets"),
        AGENT_ERR_PARSE);
    assert_int_equal(elbv2_parse_empty_reply("<RegisterTargetsResponse>", 25, "RegisterTargets"),
                     AGENT_ERR_PARSE);
}

static void
test_elbv2_register_request(void **state)
{
    (void)state;
    answer(200, register_targets_ok);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, 8080), AGENT_OK);
    assert_form("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=" TG_ARN_E
                "&Targets.member.1.Id=" IID "&Targets.member.1.Port=8080");
    assert_int_equal(fk.calls, 1);
    assert_non_null(strstr(logged(), "elbv2: registered " IID " port 8080"));

    /* Port 0: the target group's own port, so no Port parameter. */
    answer(200, deregister_targets_ok);
    assert_int_equal(elbv2_deregister_targets(api, TG_ARN, IID, 0), AGENT_OK);
    assert_form("Action=DeregisterTargets&Version=2015-12-01&TargetGroupArn=" TG_ARN_E
                "&Targets.member.1.Id=" IID);
    assert_int_equal(fk.calls, 2);
}

static void
test_elbv2_register_errors(void **state)
{
    (void)state;
    /* A definite AWS refusal is not retried. */
    answer(400, elbv2_error);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, 8080), AGENT_ERR_AWS);
    assert_int_equal(fk.calls, 1);
    /* Idempotent: a 503 is retried, and the retry succeeds. */
    answer(503, "<ErrorResponse><Error><Code>ServiceUnavailable</Code><Message>x</Message>"
                "</Error></ErrorResponse>");
    answer(200, register_targets_ok);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, 8080), AGENT_OK);
    assert_int_equal(fk.calls, 3);
    /* A 2xx that is not the expected reply (a captive proxy page). */
    answer(200, "<html><body>hello</body></html>");
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, 8080), AGENT_ERR_PARSE);
    assert_int_equal(fk.calls, 4);
    /* Bad arguments never reach the wire. */
    assert_int_equal(elbv2_register_targets(api, "web", IID, 8080), AGENT_ERR_INVAL);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, "i-xyz", 8080), AGENT_ERR_INVAL);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, 65536), AGENT_ERR_INVAL);
    assert_int_equal(elbv2_register_targets(api, TG_ARN, IID, -1), AGENT_ERR_INVAL);
    assert_int_equal(elbv2_deregister_targets(NULL, TG_ARN, IID, 80), AGENT_ERR_INVAL);
    assert_int_equal(elbv2_register_targets(api, NULL, IID, 80), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 4);
}

static void
test_elbv2_describe_request(void **state)
{
    struct elbv2_target_health th;

    (void)state;
    answer(200, th_multi);
    memset(&th, 0, sizeof(th));
    assert_int_equal(elbv2_describe_target_health(api, TG_ARN, IID, 8443, &th), AGENT_OK);
    assert_form("Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=" TG_ARN_E
                "&Targets.member.1.Id=" IID "&Targets.member.1.Port=8443");
    assert_string_equal(th.state, "draining");

    answer(500, "<ErrorResponse><Error><Code>HealthUnavailable</Code><Message>x</Message>"
                "</Error></ErrorResponse>");
    answer(500, "<ErrorResponse><Error><Code>HealthUnavailable</Code><Message>x</Message>"
                "</Error></ErrorResponse>");
    answer(500, "<ErrorResponse><Error><Code>HealthUnavailable</Code><Message>x</Message>"
                "</Error></ErrorResponse>");
    memset(&th, 0x11, sizeof(th));
    assert_int_equal(elbv2_describe_target_health(api, TG_ARN, IID, 8443, &th), AGENT_ERR_UNAVAIL);
    assert_int_equal(th.port, 0x11111111);
    assert_int_equal(fk.calls, 4);

    answer(200, th_healthy);
    assert_int_equal(elbv2_describe_target_health(api, TG_ARN, IID, 9000, &th), AGENT_ERR_ABSENT);
}

/* ---- Classic ELB ---- */

static void
test_elb_parsers(void **state)
{
    struct elb_instances_reply r;
    struct elb_instance_health ih;

    (void)state;
    assert_int_equal(elb_parse_instances_reply(elb_register_ok, strlen(elb_register_ok),
                                               "RegisterInstancesWithLoadBalancer", IID, &r),
                     AGENT_OK);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.listed, 1);
    assert_int_equal(elb_parse_instances_reply(elb_register_moto, strlen(elb_register_moto),
                                               "RegisterInstancesWithLoadBalancer", IID, &r),
                     AGENT_OK);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.listed, 0);
    assert_int_equal(elb_parse_instances_reply(elb_deregister_ok, strlen(elb_deregister_ok),
                                               "DeregisterInstancesFromLoadBalancer", IID, &r),
                     AGENT_OK);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.listed, 0);
    /* The wrong action's reply, an error document, a member without an id. */
    assert_int_equal(elb_parse_instances_reply(elb_register_ok, strlen(elb_register_ok),
                                               "DeregisterInstancesFromLoadBalancer", IID, &r),
                     AGENT_ERR_PARSE);
    assert_int_equal(elb_parse_instances_reply(elb_error, strlen(elb_error),
                                               "RegisterInstancesWithLoadBalancer", IID, &r),
                     AGENT_ERR_AWS);
    {
        static const char bad[] =
            "<RegisterInstancesWithLoadBalancerResponse><RegisterInstancesWithLoadBalancerResult>"
            "<Instances><member><Other>x</Other></member></Instances>"
            "</RegisterInstancesWithLoadBalancerResult></RegisterInstancesWithLoadBalancerResponse>";

        assert_int_equal(elb_parse_instances_reply(bad, strlen(bad),
                                                   "RegisterInstancesWithLoadBalancer", IID, &r),
                         AGENT_ERR_PARSE);
    }

    assert_int_equal(elb_parse_instance_health(elb_health_in, strlen(elb_health_in), IID, &ih),
                     AGENT_OK);
    assert_string_equal(ih.instance_id, IID);
    assert_string_equal(ih.state, "InService");
    assert_string_equal(ih.reason_code, "N/A");
    assert_string_equal(ih.description, "N/A");
    assert_int_equal(elb_parse_instance_health(elb_health_out, strlen(elb_health_out), IID, &ih),
                     AGENT_OK);
    assert_string_equal(ih.state, "OutOfService");
    assert_string_equal(ih.reason_code, "Instance");
    assert_true(str_has_prefix(ih.description, "Instance has failed"));
    assert_int_equal(
        elb_parse_instance_health(elb_health_in, strlen(elb_health_in), "i-0bbbbbbbbbbbbbbb2", &ih),
        AGENT_ERR_ABSENT);
    assert_int_equal(elb_parse_instance_health(elb_error, strlen(elb_error), IID, &ih),
                     AGENT_ERR_AWS);
    assert_int_equal(elb_parse_instance_health(elb_health_in, strlen(elb_health_in) - 10, IID, &ih),
                     AGENT_ERR_PARSE);
    {
        static const char no_state[] =
            "<DescribeInstanceHealthResponse><DescribeInstanceHealthResult><InstanceStates>"
            "<member><InstanceId>" IID "</InstanceId></member></InstanceStates>"
            "</DescribeInstanceHealthResult></DescribeInstanceHealthResponse>";

        assert_int_equal(elb_parse_instance_health(no_state, strlen(no_state), IID, &ih),
                         AGENT_ERR_PARSE);
    }
}

static void
test_elb_requests(void **state)
{
    struct elb_instance_health ih;

    (void)state;
    answer(200, elb_register_ok);
    assert_int_equal(elb_register_instance(api, "classic-lb", IID), AGENT_OK);
    assert_form("Action=RegisterInstancesWithLoadBalancer&Version=2012-06-01"
                "&LoadBalancerName=classic-lb&Instances.member.1.InstanceId=" IID);
    assert_null(strstr(logged(), "is not among"));

    /* moto's empty list: registered, with a warning. */
    answer(200, elb_register_moto);
    assert_int_equal(elb_register_instance(api, "classic-lb", IID), AGENT_OK);
    assert_non_null(strstr(logged(), "is not among the 0 instances"));

    answer(200, elb_deregister_ok);
    assert_int_equal(elb_deregister_instance(api, "classic-lb", IID), AGENT_OK);
    assert_form("Action=DeregisterInstancesFromLoadBalancer&Version=2012-06-01"
                "&LoadBalancerName=classic-lb&Instances.member.1.InstanceId=" IID);

    answer(200, elb_health_out);
    assert_int_equal(elb_describe_instance_health(api, "classic-lb", IID, &ih), AGENT_OK);
    assert_form("Action=DescribeInstanceHealth&Version=2012-06-01"
                "&LoadBalancerName=classic-lb&Instances.member.1.InstanceId=" IID);
    assert_string_equal(ih.state, "OutOfService");

    answer(400, elb_error);
    assert_int_equal(elb_register_instance(api, "classic-lb", IID), AGENT_ERR_AWS);
    assert_int_equal(fk.calls, 5);

    assert_int_equal(elb_register_instance(api, "classic_lb", IID), AGENT_ERR_INVAL);
    assert_int_equal(elb_register_instance(api, "a-name-that-is-far-too-long-for-elb", IID),
                     AGENT_ERR_INVAL);
    assert_int_equal(elb_register_instance(api, "", IID), AGENT_ERR_INVAL);
    assert_int_equal(elb_describe_instance_health(api, "lb", "i-1", &ih), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 5);
}

/* ---- Auto Scaling ---- */

static void
test_asg_parse_hooks(void **state)
{
    struct asg_lifecycle_hook h, before;

    (void)state;
    assert_int_equal(asg_parse_lifecycle_hooks(hooks_moto, strlen(hooks_moto), "launch", &h),
                     AGENT_OK);
    assert_string_equal(h.name, "launch");
    assert_string_equal(h.transition, "autoscaling:EC2_INSTANCE_LAUNCHING");
    assert_string_equal(h.default_result, "CONTINUE");
    assert_int_equal(h.heartbeat_timeout_s, 600);
    assert_int_equal(h.global_timeout_s, 172800);
    /* The API defaults fill what the reply leaves out. */
    assert_int_equal(asg_parse_lifecycle_hooks(hooks_defaults, strlen(hooks_defaults), "drain", &h),
                     AGENT_OK);
    assert_string_equal(h.transition, "autoscaling:EC2_INSTANCE_TERMINATING");
    assert_string_equal(h.default_result, "ABANDON");
    assert_int_equal(h.heartbeat_timeout_s, 3600);
    assert_int_equal(h.global_timeout_s, 0);
    assert_int_equal(asg_parse_lifecycle_hooks(hooks_defaults, strlen(hooks_defaults), "other", &h),
                     AGENT_OK);
    assert_int_equal(h.heartbeat_timeout_s, 30);

    /* By transition: the terminate hook the drain looks for. */
    assert_int_equal(
        asg_parse_lifecycle_hook_of(hooks_defaults, strlen(hooks_defaults), ASG_TERMINATING, &h),
        AGENT_OK);
    assert_string_equal(h.name, "drain");
    memset(&h, 0x33, sizeof(h));
    before = h;
    assert_int_equal(
        asg_parse_lifecycle_hook_of(hooks_moto, strlen(hooks_moto), ASG_TERMINATING, &h),
        AGENT_ERR_ABSENT);
    assert_memory_equal(&h, &before, sizeof(h));
    assert_int_equal(asg_parse_lifecycle_hooks(hooks_moto, strlen(hooks_moto), "Launch", &h),
                     AGENT_ERR_ABSENT);
    assert_int_equal(asg_parse_lifecycle_hooks(asg_no_action, strlen(asg_no_action), "launch", &h),
                     AGENT_ERR_AWS);
    {
        static const char *const bad[] = {
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks>"
            "<member><LifecycleHookName>launch</LifecycleHookName><HeartbeatTimeout>None"
            "</HeartbeatTimeout></member></LifecycleHooks></DescribeLifecycleHooksResult>"
            "</DescribeLifecycleHooksResponse>",
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks>"
            "<member><LifecycleHookName>launch</LifecycleHookName><HeartbeatTimeout>0"
            "</HeartbeatTimeout></member></LifecycleHooks></DescribeLifecycleHooksResult>"
            "</DescribeLifecycleHooksResponse>",
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks>"
            "<member><LifecycleHookName>launch</LifecycleHookName><DefaultResult>MAYBE"
            "</DefaultResult></member></LifecycleHooks></DescribeLifecycleHooksResult>"
            "</DescribeLifecycleHooksResponse>",
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks>"
            "<member><HeartbeatTimeout>60</HeartbeatTimeout></member></LifecycleHooks>"
            "</DescribeLifecycleHooksResult></DescribeLifecycleHooksResponse>",
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks>"
            "<member><LifecycleHookName>launch</LifecycleHookName>"
            "<LifecycleHookName>launch</LifecycleHookName></member></LifecycleHooks>"
            "</DescribeLifecycleHooksResult></DescribeLifecycleHooksResponse>",
            "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult>",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (asg_parse_lifecycle_hooks(bad[i], strlen(bad[i]), "launch", &h) != AGENT_ERR_PARSE)
                fail_msg("bad hooks reply %zu accepted", i);
        }
    }
    assert_memory_equal(&h, &before, sizeof(h));
}

static void
test_asg_parse_instances(void **state)
{
    struct asg_instance ai;

    (void)state;
    assert_int_equal(asg_parse_instances(asg_instances_in, strlen(asg_instances_in), IID, &ai),
                     AGENT_OK);
    assert_string_equal(ai.asg_name, "web asg");
    assert_string_equal(ai.lifecycle_state, "Pending:Wait");
    assert_string_equal(ai.health_status, "Healthy");
    memset(&ai, 0x44, sizeof(ai));
    assert_int_equal(asg_parse_instances(asg_instances_none, strlen(asg_instances_none), IID, &ai),
                     AGENT_OK);
    assert_string_equal(ai.asg_name, "");
    assert_string_equal(ai.lifecycle_state, "");
    assert_int_equal(
        asg_parse_instances(asg_instances_in, strlen(asg_instances_in), "i-0bbbbbbbbbbbbbbb2", &ai),
        AGENT_OK);
    assert_string_equal(ai.asg_name, "");
    {
        static const char no_state[] =
            "<DescribeAutoScalingInstancesResponse><DescribeAutoScalingInstancesResult>"
            "<AutoScalingInstances><member><InstanceId>" IID "</InstanceId>"
            "<AutoScalingGroupName>g</AutoScalingGroupName></member></AutoScalingInstances>"
            "</DescribeAutoScalingInstancesResult></DescribeAutoScalingInstancesResponse>";

        assert_int_equal(asg_parse_instances(no_state, strlen(no_state), IID, &ai),
                         AGENT_ERR_PARSE);
    }
    assert_int_equal(asg_parse_instances(asg_no_action, strlen(asg_no_action), IID, &ai),
                     AGENT_ERR_AWS);
    assert_int_equal(asg_parse_instances("<a>", 3, IID, &ai), AGENT_ERR_PARSE);
}

static void
test_asg_error_classes(void **state)
{
    struct aws_error e;

    (void)state;
    memset(&e, 0, sizeof(e));
    assert_false(asg_error_is_no_active_action(NULL));
    str_copy(e.code, sizeof(e.code), "ValidationError");
    str_copy(e.message, sizeof(e.message), "No active Lifecycle Action found with token abc");
    assert_true(asg_error_is_no_active_action(&e));
    str_copy(e.message, sizeof(e.message), "Group web-asg not found");
    assert_false(asg_error_is_no_active_action(&e));
    str_copy(e.code, sizeof(e.code), "ResourceContention");
    str_copy(e.message, sizeof(e.message), "No active Lifecycle Action found with instance ID i");
    assert_false(asg_error_is_no_active_action(&e));

    memset(&e, 0, sizeof(e));
    assert_false(cfn_error_is_already_done(NULL));
    str_copy(e.code, sizeof(e.code), "ValidationError");
    str_copy(e.message, sizeof(e.message),
             "Stack arn:aws:cloudformation:x is in UPDATE_COMPLETE state and cannot be signaled");
    assert_true(cfn_error_is_already_done(&e));
    str_copy(e.message, sizeof(e.message),
             "Resource WebServerGroup is not in a state to receive signals");
    assert_true(cfn_error_is_already_done(&e));
    str_copy(e.message, sizeof(e.message), "Stack with id nostack does not exist");
    assert_false(cfn_error_is_already_done(&e));
    str_copy(e.code, sizeof(e.code), "AccessDenied");
    str_copy(e.message, sizeof(e.message), "x cannot be signaled");
    assert_false(cfn_error_is_already_done(&e));
}

static void
test_asg_complete(void **state)
{
    int done = -1;

    (void)state;
    answer(200, asg_ok_complete);
    assert_int_equal(asg_complete_lifecycle_action(api, "drain", "web-asg", IID, 1, &done),
                     AGENT_OK);
    assert_int_equal(done, 0);
    assert_form("Action=CompleteLifecycleAction&Version=2011-01-01&LifecycleHookName=drain"
                "&AutoScalingGroupName=web-asg&LifecycleActionResult=CONTINUE&InstanceId=" IID);

    answer(200, asg_ok_complete);
    assert_int_equal(
        asg_complete_lifecycle_action(api, "wcs/launch-hook_1", "My ASG", IID, 0, NULL), AGENT_OK);
    assert_form("Action=CompleteLifecycleAction&Version=2011-01-01"
                "&LifecycleHookName=wcs%2Flaunch-hook_1&AutoScalingGroupName=My+ASG"
                "&LifecycleActionResult=ABANDON&InstanceId=" IID);
    assert_int_equal(fk.calls, 2);
}

static void
test_asg_complete_no_active_action(void **state)
{
    int done = -1;

    (void)state;
    answer(400, asg_no_action);
    assert_int_equal(asg_complete_lifecycle_action(api, "launch", "web-asg", IID, 1, &done),
                     AGENT_OK);
    assert_int_equal(done, 1);
    assert_int_equal(fk.calls, 1);
    assert_non_null(strstr(logged(), "nothing to complete"));

    /* Any other ValidationError is an error, and is not retried. */
    done = -1;
    answer(400, asg_other_validation);
    assert_int_equal(asg_complete_lifecycle_action(api, "launch", "web-asg", IID, 1, &done),
                     AGENT_ERR_AWS);
    assert_int_equal(done, -1);
    assert_int_equal(fk.calls, 2);

    /* Not idempotent: a reply lost after sending is not resent. */
    lost_reply();
    assert_int_not_equal(asg_complete_lifecycle_action(api, "launch", "web-asg", IID, 1, &done),
                         AGENT_OK);
    assert_int_equal(fk.calls, 3);

    assert_int_equal(asg_complete_lifecycle_action(api, "launch", "web-asg", "bad", 1, &done),
                     AGENT_ERR_INVAL);
    assert_int_equal(asg_complete_lifecycle_action(api, NULL, "web-asg", IID, 1, &done),
                     AGENT_ERR_INVAL);
    assert_int_equal(asg_complete_lifecycle_action(api, "launch", "bad\nname", IID, 1, &done),
                     AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 3);
}

static void
test_asg_heartbeat(void **state)
{
    (void)state;
    answer(200, asg_ok_heartbeat);
    assert_int_equal(asg_record_heartbeat(api, "launch", "web-asg", IID), AGENT_OK);
    assert_form("Action=RecordLifecycleActionHeartbeat&Version=2011-01-01"
                "&LifecycleHookName=launch&AutoScalingGroupName=web-asg&InstanceId=" IID);
    answer(400, asg_no_action);
    assert_int_equal(asg_record_heartbeat(api, "launch", "web-asg", IID), AGENT_ERR_ABSENT);
    /* A heartbeat may be repeated: a 503 is retried. */
    answer(503, "<ErrorResponse><Error><Code>ServiceUnavailable</Code><Message>x</Message>"
                "</Error></ErrorResponse>");
    answer(200, asg_ok_heartbeat);
    assert_int_equal(asg_record_heartbeat(api, "launch", "web-asg", IID), AGENT_OK);
    assert_int_equal(fk.calls, 4);
}

static void
test_asg_describe(void **state)
{
    struct asg_lifecycle_hook h;
    struct asg_instance ai;

    (void)state;
    answer(200, hooks_moto);
    assert_int_equal(asg_describe_lifecycle_hooks(api, "web-asg", "launch", &h), AGENT_OK);
    assert_form("Action=DescribeLifecycleHooks&Version=2011-01-01&AutoScalingGroupName=web-asg"
                "&LifecycleHookNames.member.1=launch");
    assert_int_equal(h.heartbeat_timeout_s, 600);

    answer(200, asg_instances_in);
    assert_int_equal(asg_describe_instance(api, IID, &ai), AGENT_OK);
    assert_form("Action=DescribeAutoScalingInstances&Version=2011-01-01"
                "&InstanceIds.member.1=" IID);
    assert_string_equal(ai.asg_name, "web asg");

    answer(200, asg_instances_none);
    assert_int_equal(asg_describe_instance(api, IID, &ai), AGENT_OK);
    assert_string_equal(ai.asg_name, "");

    answer(200, hooks_moto);
    assert_int_equal(asg_describe_lifecycle_hooks(api, "web-asg", "drain", &h), AGENT_ERR_ABSENT);
    assert_int_equal(asg_describe_instance(api, "i-12", &ai), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 4);
}

/* ---- CloudFormation ---- */

static void
test_cfn_signal(void **state)
{
    int done = -1;

    (void)state;
    answer(200, cfn_ok);
    assert_int_equal(cfn_signal_resource(api, "mystack", "WebServerGroup", IID, 1, NULL, &done),
                     AGENT_OK);
    assert_int_equal(done, 0);
    assert_form("Action=SignalResource&Version=2010-05-15&StackName=mystack"
                "&LogicalResourceId=WebServerGroup&UniqueId=" IID "&Status=SUCCESS");

    answer(200, cfn_ok);
    assert_int_equal(cfn_signal_resource(api, "arn:aws:cloudformation:eu-west-1:1:stack/s/1",
                                         "WebServerGroup", IID, 0, "step tls failed\nbad", &done),
                     AGENT_OK);
    assert_form("Action=SignalResource&Version=2010-05-15"
                "&StackName=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A1%3Astack%2Fs%2F1"
                "&LogicalResourceId=WebServerGroup&UniqueId=" IID "&Status=FAILURE");
    /* The reason exists only in the local log, on one line. */
    assert_non_null(strstr(logged(), "FAILURE"));
    assert_non_null(strstr(logged(), "step tls failed bad"));
    assert_null(strstr(fk.body, "tls"));

    answer(400, cfn_not_waiting);
    assert_int_equal(cfn_signal_resource(api, "wcs", "G", IID, 1, NULL, &done), AGENT_OK);
    assert_int_equal(done, 1);

    done = -1;
    answer(400, cfn_no_stack);
    assert_int_equal(cfn_signal_resource(api, "nostack", "G", IID, 1, NULL, &done), AGENT_ERR_AWS);
    assert_int_equal(done, -1);
    assert_int_equal(fk.calls, 4);

    /* Not idempotent: a reply lost after sending is not resent. */
    lost_reply();
    assert_int_not_equal(cfn_signal_resource(api, "wcs", "G", IID, 1, NULL, &done), AGENT_OK);
    assert_int_equal(fk.calls, 5);

    assert_int_equal(cfn_signal_resource(api, "wcs", "Web-Group", IID, 1, NULL, &done),
                     AGENT_ERR_INVAL);
    assert_int_equal(cfn_signal_resource(api, "", "G", IID, 1, NULL, &done), AGENT_ERR_INVAL);
    assert_int_equal(cfn_signal_resource(api, "wcs", "G", "", 1, NULL, &done), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 5);

    assert_int_equal(cfn_parse_empty_reply(cfn_ok, strlen(cfn_ok), "SignalResource"), AGENT_OK);
    assert_int_equal(cfn_parse_empty_reply(cfn_no_stack, strlen(cfn_no_stack), "SignalResource"),
                     AGENT_ERR_AWS);
    assert_int_equal(cfn_parse_empty_reply(cfn_ok, strlen(cfn_ok) - 1, "SignalResource"),
                     AGENT_ERR_PARSE);
    assert_int_equal(
        asg_parse_empty_reply(asg_ok_complete, strlen(asg_ok_complete), "CompleteLifecycleAction"),
        AGENT_OK);
    assert_int_equal(asg_parse_empty_reply(cfn_ok, strlen(cfn_ok), "CompleteLifecycleAction"),
                     AGENT_ERR_PARSE);
}

/* ---- SSM ---- */

static void
test_ssm_parse(void **state)
{
    static const struct {
        const char *json;
        enum agent_rc rc;
    } bad[] = {
        {"{\"Parameter\": {\"Name\": \"x\", \"Value\": 42}}", AGENT_ERR_PARSE},
        {"{\"Parameter\": {\"Name\": \"x\"}}", AGENT_ERR_PARSE},
        {"{\"Parameter\": \"x\"}", AGENT_ERR_PARSE},
        {"{\"parameter\": {\"Value\": \"x\"}}", AGENT_ERR_PARSE},
        {"[{\"Parameter\": {\"Value\": \"x\"}}]", AGENT_ERR_PARSE},
        {"{\"Parameter\": {\"Value\": \"x\"}} trailing", AGENT_ERR_PARSE},
        {"{\"Parameter\": {\"Value\": \"x", AGENT_ERR_PARSE},
        {"{\"Parameter\": {\"Value\": \"ab\\u0000cd\"}}", AGENT_ERR_PARSE},
        {"<xml/>", AGENT_ERR_PARSE},
        {"", AGENT_ERR_PARSE},
        {ssm_not_found, AGENT_ERR_PARSE},
    };
    struct buf v;
    size_t i;

    (void)state;
    buf_init_secret(&v, 1024);
    assert_int_equal(ssm_parse_get_parameter(ssm_reply, strlen(ssm_reply), &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), "s3cr3t\"\\x\xc3\xa9");
    /* Appended after what the buffer held; an escaped backslash before u0000 is fine. */
    assert_int_equal(
        ssm_parse_get_parameter("{\"Parameter\":{\"Value\":\"\\\\u0000\"}}  \n", 35, &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), "s3cr3t\"\\x\xc3\xa9\\u0000");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t before = v.len;

        if (ssm_parse_get_parameter(bad[i].json, strlen(bad[i].json), &v) != bad[i].rc)
            fail_msg("ssm case %zu not refused", i);
        assert_int_equal(v.len, before);
    }
    buf_cleanup(&v);

    /* Over the caller's cap: refused whole, nothing appended. */
    buf_init_secret(&v, 8);
    assert_int_equal(buf_puts(&v, "ab"), AGENT_OK);
    assert_int_equal(ssm_parse_get_parameter(ssm_reply, strlen(ssm_reply), &v), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&v), "ab");
    buf_cleanup(&v);
    assert_null(strstr(logged(), "s3cr3t"));
}

static void
test_ssm_request(void **state)
{
    struct buf v;
    cJSON *j;

    (void)state;
    buf_init_secret(&v, 4096);
    answer(200, ssm_reply);
    assert_int_equal(ssm_get_parameter(api, "/app/db/password", &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), "s3cr3t\"\\x\xc3\xa9");
    assert_true(fk.secret_reply);
    j = json_body("AmazonSSM.GetParameter");
    assert_json_string(j, "Name", "/app/db/password");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "WithDecryption")));
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);

    /* A name needing JSON escapes is sent escaped. */
    answer(200, ssm_reply);
    buf_reset(&v);
    assert_int_equal(ssm_get_parameter(api, "arn:aws:ssm:eu-west-1:1:parameter/a\"b:3", &v),
                     AGENT_OK);
    j = json_body("AmazonSSM.GetParameter");
    assert_json_string(j, "Name", "arn:aws:ssm:eu-west-1:1:parameter/a\"b:3");
    cJSON_Delete(j);

    buf_reset(&v);
    answer(400, ssm_not_found);
    assert_int_equal(ssm_get_parameter(api, "/nope", &v), AGENT_ERR_AWS);
    assert_int_equal(v.len, 0);
    assert_non_null(strstr(logged(), "ParameterNotFound"));
    assert_int_equal(fk.calls, 3);

    assert_int_equal(ssm_get_parameter(api, "", &v), AGENT_ERR_INVAL);
    assert_int_equal(ssm_get_parameter(api, "a\tb", &v), AGENT_ERR_INVAL);
    assert_int_equal(ssm_get_parameter(api, NULL, &v), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 3);
    assert_null(strstr(logged(), "s3cr3t"));
    buf_cleanup(&v);
}

/* ---- Secrets Manager ---- */

static void
test_sm_parse(void **state)
{
    struct buf v;

    (void)state;
    buf_init_secret(&v, 4096);
    assert_int_equal(sm_parse_get_secret_value(sm_plain, strlen(sm_plain), "app/licence", NULL, &v),
                     AGENT_OK);
    assert_string_equal(buf_cstr(&v), SECRET);
    buf_reset(&v);
    /* Without a field, a JSON secret is taken as its whole text. */
    assert_int_equal(sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", NULL, &v),
                     AGENT_OK);
    assert_true(str_has_prefix(buf_cstr(&v), "{\"user\": \"u\", \"password\": \"" SECRET));
    buf_reset(&v);
    assert_int_equal(
        sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "password", &v),
        AGENT_OK);
    assert_string_equal(buf_cstr(&v), SECRET);
    buf_reset(&v);
    assert_int_equal(sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "port", &v),
                     AGENT_OK);
    assert_string_equal(buf_cstr(&v), "5432");
    buf_reset(&v);
    assert_int_equal(sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "on", &v),
                     AGENT_OK);
    assert_string_equal(buf_cstr(&v), "true");
    buf_reset(&v);
    assert_int_equal(sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "off", &v),
                     AGENT_OK);
    assert_string_equal(buf_cstr(&v), "false");
    buf_reset(&v);
    assert_int_equal(
        sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "ratio", &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), "0.25");
    buf_reset(&v);

    /* A missing field: ABSENT, logged with the id and the field, never the value. */
    assert_int_equal(
        sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "Password", &v),
        AGENT_ERR_ABSENT);
    assert_non_null(strstr(logged(), "app/api-key"));
    assert_non_null(strstr(logged(), "Password"));
    assert_int_equal(v.len, 0);
    /* null, objects and arrays are no value. */
    assert_int_equal(
        sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "nothing", &v),
        AGENT_ERR_PARSE);
    assert_int_equal(sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "obj", &v),
                     AGENT_ERR_PARSE);
    /* A field of a secret that is not JSON. */
    assert_int_equal(
        sm_parse_get_secret_value(sm_plain, strlen(sm_plain), "app/licence", "key", &v),
        AGENT_ERR_PARSE);
    assert_non_null(strstr(logged(), "app/licence is not a JSON object"));
    {
        static const char arr[] = "{\"SecretString\": \"[1, 2]\"}";
        static const char nul[] = "{\"SecretString\": \"{\\\"k\\\": \\\"a\\\\u0000b\\\"}\"}";

        assert_int_equal(sm_parse_get_secret_value(arr, strlen(arr), "s", "k", &v),
                         AGENT_ERR_PARSE);
        assert_int_equal(sm_parse_get_secret_value(nul, strlen(nul), "s", "k", &v),
                         AGENT_ERR_PARSE);
        /* The same without a field is just text. */
        assert_int_equal(sm_parse_get_secret_value(nul, strlen(nul), "s", NULL, &v), AGENT_OK);
        assert_string_equal(buf_cstr(&v), "{\"k\": \"a\\u0000b\"}");
        buf_reset(&v);
    }

    /* SecretBinary, decoded (with a NUL and a 0xff byte). */
    assert_int_equal(sm_parse_get_secret_value(sm_binary, strlen(sm_binary), "app/bin", NULL, &v),
                     AGENT_OK);
    assert_int_equal(v.len, 9);
    assert_memory_equal(v.data,
                        "\x00\x01"
                        "binary\xff",
                        9);
    buf_reset(&v);
    assert_int_equal(sm_parse_get_secret_value(sm_binary, strlen(sm_binary), "app/bin", "f", &v),
                     AGENT_ERR_PARSE);
    {
        static const char *const bad[] = {
            "{\"SecretString\": \"a\", \"SecretBinary\": \"YQ==\"}",
            "{\"Name\": \"x\"}",
            "{\"SecretString\": null, \"SecretBinary\": null}",
            "{\"SecretString\": 12}",
            "{\"SecretBinary\": \"!!!!\"}",
            "{\"SecretString\": \"a\"} x",
            "{\"SecretString\": \"a\"",
            "[\"SecretString\"]",
            "",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (sm_parse_get_secret_value(bad[i], strlen(bad[i]), "s", NULL, &v) != AGENT_ERR_PARSE)
                fail_msg("secretsmanager case %zu not refused", i);
            assert_int_equal(v.len, 0);
        }
    }
    buf_cleanup(&v);

    /* Over the cap: refused whole. */
    buf_init_secret(&v, 4);
    assert_int_equal(
        sm_parse_get_secret_value(sm_json, strlen(sm_json), "app/api-key", "password", &v),
        AGENT_ERR_TOOBIG);
    assert_int_equal(v.len, 0);
    assert_int_equal(sm_parse_get_secret_value(sm_binary, strlen(sm_binary), "app/bin", NULL, &v),
                     AGENT_ERR_TOOBIG);
    assert_int_equal(v.len, 0);
    buf_cleanup(&v);
    assert_null(strstr(logged(), SECRET));
}

static void
test_sm_request(void **state)
{
    struct buf v;
    cJSON *j;

    (void)state;
    buf_init_secret(&v, 4096);
    answer(200, sm_json);
    assert_int_equal(sm_get_secret_value(api, "app/api-key", "password", &v), AGENT_OK);
    assert_string_equal(buf_cstr(&v), SECRET);
    assert_true(fk.secret_reply);
    j = json_body("secretsmanager.GetSecretValue");
    assert_json_string(j, "SecretId", "app/api-key");
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);

    buf_reset(&v);
    answer(200, sm_json);
    assert_int_equal(sm_get_secret_value(api, "app/api-key", "user_name", &v), AGENT_ERR_ABSENT);
    assert_non_null(strstr(logged(), "secret app/api-key has no field user_name"));

    answer(404, sm_not_found);
    assert_int_equal(sm_get_secret_value(api, "app/none", NULL, &v), AGENT_ERR_AWS);
    assert_non_null(strstr(logged(), "ResourceNotFoundException"));
    assert_int_equal(v.len, 0);
    assert_int_equal(fk.calls, 3);

    assert_int_equal(sm_get_secret_value(api, "", NULL, &v), AGENT_ERR_INVAL);
    assert_int_equal(sm_get_secret_value(api, "app/x", "", &v), AGENT_ERR_INVAL);
    assert_int_equal(sm_get_secret_value(api, "app/x", NULL, NULL), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 3);
    assert_null(strstr(logged(), SECRET));
    buf_cleanup(&v);
}

/* ---- S3 ---- */

static void
test_s3_get(void **state)
{
    struct buf out;

    (void)state;
    buf_init_secret(&out, 1024);
    answer(200, "-----BEGIN PRIVATE KEY-----\n");
    assert_int_equal(s3_get_object(api, "my-bucket", "agent/conf ig+1.json", 1024, &out), AGENT_OK);
    assert_string_equal(buf_cstr(&out), "-----BEGIN PRIVATE KEY-----\n");
    assert_string_equal(fk.method, "GET");
    /* A custom endpoint: path-style, the key encoded once with '/' kept. */
    assert_string_equal(fk.url, EP "/my-bucket/agent/conf%20ig%2B1.json");
    assert_true(fk.authorized);
    assert_true(fk.secret_reply);

    /* Over max_bytes: refused, out unchanged. */
    answer(200, "0123456789abcdef");
    assert_int_equal(s3_get_object(api, "my-bucket", "k", 8, &out), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&out), "-----BEGIN PRIVATE KEY-----\n");

    answer(404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                "</Message><Key>k</Key><RequestId>R</RequestId><HostId>H</HostId></Error>");
    assert_int_equal(s3_get_object(api, "my-bucket", "k", 64, &out), AGENT_ERR_AWS);
    assert_non_null(strstr(logged(), "NoSuchKey"));
    assert_int_equal(fk.calls, 3);

    assert_int_equal(s3_get_object(api, "My_Bucket", "k", 64, &out), AGENT_ERR_INVAL);
    assert_int_equal(s3_get_object(api, "-bucket", "k", 64, &out), AGENT_ERR_INVAL);
    assert_int_equal(s3_get_object(api, "bucket", "", 64, &out), AGENT_ERR_INVAL);
    assert_int_equal(s3_get_object(api, "bucket", "a\nb", 64, &out), AGENT_ERR_INVAL);
    assert_int_equal(s3_get_object(api, "bucket", "k", 0, &out), AGENT_ERR_INVAL);
    assert_int_equal(fk.calls, 3);
    buf_cleanup(&out);

    /* A plain buffer is allowed too (a non-secret object). */
    buf_init(&out, 64);
    answer(200, "hello");
    assert_int_equal(s3_get_object(api, "my.dotted.bucket", "a/b", 64, &out), AGENT_OK);
    assert_string_equal(buf_cstr(&out), "hello");
    assert_false(fk.secret_reply);
    assert_string_equal(fk.url, EP "/my.dotted.bucket/a/b");
    buf_cleanup(&out);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_elbv2_parse_target_health),
        T(test_elbv2_parse_target_health_refused),
        T(test_elbv2_parse_caps),
        T(test_elbv2_parse_empty_reply),
        T(test_elbv2_register_request),
        T(test_elbv2_register_errors),
        T(test_elbv2_describe_request),
        T(test_elb_parsers),
        T(test_elb_requests),
        T(test_asg_parse_hooks),
        T(test_asg_parse_instances),
        T(test_asg_error_classes),
        T(test_asg_complete),
        T(test_asg_complete_no_active_action),
        T(test_asg_heartbeat),
        T(test_asg_describe),
        T(test_cfn_signal),
        T(test_ssm_parse),
        T(test_ssm_request),
        T(test_sm_parse),
        T(test_sm_request),
        T(test_s3_get),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
