#include "aws/elbv2.h"

#include <stdio.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#define TH_ROOT   "DescribeTargetHealthResponse"
#define TH_MEMBER TH_ROOT "/DescribeTargetHealthResult/TargetHealthDescriptions/member"

/* Bits of the fields seen in the current member (a field twice is malformed). */
#define F_ID     0x01u
#define F_PORT   0x02u
#define F_STATE  0x04u
#define F_REASON 0x08u
#define F_DESC   0x10u

/* ---- DescribeTargetHealth ---- */

struct th_user {
    const char *want_id;
    int want_port;
    struct elbv2_target_health *found; /* the caller's staging copy */
    int n_found;
    /* want_id NULL: every member, into all[0..cap) */
    struct elbv2_target_health *all;
    size_t cap, n_all;
};

/* Checks the member just read and keeps it when it is the one wanted. */
static int
th_finish(struct awsxml_list *l)
{
    const struct elbv2_target_health *cur = l->cur;
    struct th_user *u = l->user;

    if (!(l->have & F_ID))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "Target/Id");
    if (!(l->have & F_STATE))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "TargetHealth/State");
    if (u->want_id == NULL) {
        if (u->n_all == u->cap)
            return awsxml_list_fail(l, AGENT_ERR_TOOBIG, "more targets than room for, at",
                                    "member");
        u->all[u->n_all++] = *cur;
        return 0;
    }
    if (u->n_found == 0 && strcmp(cur->id, u->want_id) == 0 &&
        (u->want_port <= 0 || cur->port == u->want_port)) {
        *u->found = *cur;
        u->n_found++;
    }
    return 0;
}

static int
th_field(struct awsxml_list *l, const char *sub, const char *text)
{
    struct elbv2_target_health *cur = l->cur;
    char port[16];

    if (strcmp(sub, "Target/Id") == 0)
        return awsxml_list_text(l, F_ID, cur->id, sizeof(cur->id), text, sub, 1);
    if (strcmp(sub, "Target/Port") == 0) {
        if (awsxml_list_text(l, F_PORT, port, sizeof(port), text, sub, 0) != 0)
            return 1;
        if (str_to_int(port, 1, 65535, &cur->port) != AGENT_OK)
            return awsxml_list_fail(l, AGENT_ERR_PARSE, "not a port number in", sub);
        return 0;
    }
    if (strcmp(sub, "TargetHealth/State") == 0)
        return awsxml_list_text(l, F_STATE, cur->state, sizeof(cur->state), text, sub, 1);
    if (strcmp(sub, "TargetHealth/Reason") == 0)
        return awsxml_list_text(l, F_REASON, cur->reason, sizeof(cur->reason), text, sub, 0);
    if (strcmp(sub, "TargetHealth/Description") == 0)
        return awsxml_list_text(l, F_DESC, cur->description, sizeof(cur->description), text, sub,
                                0);
    return 0;
}

enum agent_rc
elbv2_parse_target_health(const char *xml, size_t len, const char *instance_id, int port,
                          struct elbv2_target_health *out)
{
    struct elbv2_target_health cur, found;
    struct awsxml_list l;
    struct th_user u;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.want_id = instance_id;
    u.want_port = port;
    u.found = &found;
    memset(&l, 0, sizeof(l));
    l.prefix = "elbv2";
    l.action = "DescribeTargetHealth";
    l.root = TH_ROOT;
    l.member = TH_MEMBER;
    l.cur = &cur;
    l.cur_size = sizeof(cur);
    l.field = th_field;
    l.finish = th_finish;
    l.user = &u;
    rc = awsxml_list_run(&l, xml, len);
    if (rc != AGENT_OK)
        return rc;
    if (u.n_found == 0) {
        if (port > 0)
            log_errx("elbv2: DescribeTargetHealth reply does not describe %s port %d", instance_id,
                     port);
        else
            log_errx("elbv2: DescribeTargetHealth reply does not describe %s", instance_id);
        return AGENT_ERR_ABSENT;
    }
    *out = found;
    return AGENT_OK;
}

enum agent_rc
elbv2_parse_empty_reply(const char *xml, size_t len, const char *action)
{
    return awsxml_parse_empty_reply("elbv2", xml, len, action);
}

/* ---- the calls ---- */

static enum agent_rc
check_target(struct awsapi *api, const char *action, const char *tg_arn, const char *instance_id,
             int port)
{
    if (api == NULL) {
        log_errx("elbv2: %s: no AWS client", action);
        return AGENT_ERR_INVAL;
    }
    if (tg_arn == NULL || !str_is_arn(tg_arn)) {
        log_errx("elbv2: %s: the target group is not an ARN", action);
        return AGENT_ERR_INVAL;
    }
    if (instance_id == NULL || !str_is_instance_id(instance_id)) {
        log_errx("elbv2: %s: not an instance id", action);
        return AGENT_ERR_INVAL;
    }
    if (port < 0 || port > 65535) {
        log_errx("elbv2: %s: port %d out of range 1-65535", action, port);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

/*
 * Sends action for one target (TargetGroupArn, Targets.member.1.Id and
 * .Port when given) and leaves the 2xx reply in reply.
 */
static enum agent_rc
target_call(struct awsapi *api, const char *action, const char *tg_arn, const char *instance_id,
            int port, struct buf *reply)
{
    struct aws_param p[3];
    struct aws_query q;
    struct aws_error err;
    char port_s[16];
    size_t n = 0;

    p[n].name = "TargetGroupArn";
    p[n++].value = tg_arn;
    p[n].name = "Targets.member.1.Id";
    p[n++].value = instance_id;
    if (port > 0) {
        snprintf(port_s, sizeof(port_s), "%d", port);
        p[n].name = "Targets.member.1.Port";
        p[n++].value = port_s;
    }
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_ELBV2;
    q.action = action;
    q.version = ELBV2_VERSION;
    q.params = p;
    q.n_params = n;
    /* Registering or deregistering twice ends in the same state. */
    q.idempotent = 1;
    memset(&err, 0, sizeof(err));
    return awsapi_query(api, &q, reply, &err);
}

static enum agent_rc
change_targets(struct awsapi *api, const char *action, const char *done, const char *tg_arn,
               const char *instance_id, int port)
{
    struct buf reply;
    enum agent_rc rc;

    rc = check_target(api, action, tg_arn, instance_id, port);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = target_call(api, action, tg_arn, instance_id, port, &reply);
    if (rc != AGENT_OK)
        goto out;
    rc = elbv2_parse_empty_reply(reply.data != NULL ? reply.data : "", reply.len, action);
    if (rc != AGENT_OK)
        goto out;
    if (port > 0)
        log_debug("elbv2: %s %s port %d in %s", done, instance_id, port, tg_arn);
    else
        log_debug("elbv2: %s %s in %s", done, instance_id, tg_arn);
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
elbv2_register_targets(struct awsapi *api, const char *tg_arn, const char *instance_id, int port)
{
    return change_targets(api, "RegisterTargets", "registered", tg_arn, instance_id, port);
}

enum agent_rc
elbv2_deregister_targets(struct awsapi *api, const char *tg_arn, const char *instance_id, int port)
{
    return change_targets(api, "DeregisterTargets", "deregistered", tg_arn, instance_id, port);
}

enum agent_rc
elbv2_describe_target_health(struct awsapi *api, const char *tg_arn, const char *instance_id,
                             int port, struct elbv2_target_health *out)
{
    struct elbv2_target_health th;
    struct buf reply;
    enum agent_rc rc;

    rc = check_target(api, "DescribeTargetHealth", tg_arn, instance_id, port);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = target_call(api, "DescribeTargetHealth", tg_arn, instance_id, port, &reply);
    if (rc != AGENT_OK)
        goto out;
    rc = elbv2_parse_target_health(reply.data != NULL ? reply.data : "", reply.len, instance_id,
                                   port, &th);
    if (rc != AGENT_OK)
        goto out;
    log_debug("elbv2: %s port %d in %s: %s%s%s", instance_id, th.port, tg_arn, th.state,
              th.reason[0] != '\0' ? " " : "", th.reason);
    *out = th;
out:
    buf_cleanup(&reply);
    return rc;
}

/* ---- every target of a group (fleet) ---- */

enum agent_rc
elbv2_parse_target_health_all(const char *xml, size_t len, struct elbv2_target_health *out,
                              size_t cap, size_t *n)
{
    struct elbv2_target_health cur;
    struct awsxml_list l;
    struct th_user u;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.all = out;
    u.cap = cap;
    memset(&l, 0, sizeof(l));
    l.prefix = "elbv2";
    l.action = "DescribeTargetHealth";
    l.root = TH_ROOT;
    l.member = TH_MEMBER;
    l.cur = &cur;
    l.cur_size = sizeof(cur);
    l.field = th_field;
    l.finish = th_finish;
    l.user = &u;
    rc = awsxml_list_run(&l, xml, len);
    if (rc == AGENT_OK)
        *n = u.n_all;
    return rc;
}

static enum agent_rc
group_call(struct awsapi *api, const char *action, const char *list_param, const char *tg_arn,
           struct buf *reply)
{
    struct aws_param p[1];
    struct aws_query q;
    struct aws_error err;

    if (api == NULL || tg_arn == NULL || !str_is_arn(tg_arn)) {
        log_errx("elbv2: %s: the target group is not an ARN", action);
        return AGENT_ERR_INVAL;
    }
    p[0].name = list_param;
    p[0].value = tg_arn;
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_ELBV2;
    q.action = action;
    q.version = ELBV2_VERSION;
    q.params = p;
    q.n_params = 1;
    q.idempotent = 1;
    return awsapi_query(api, &q, reply, &err);
}

enum agent_rc
elbv2_list_target_health(struct awsapi *api, const char *tg_arn, struct elbv2_target_health *out,
                         size_t cap, size_t *n)
{
    struct buf reply;
    enum agent_rc rc;

    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = group_call(api, "DescribeTargetHealth", "TargetGroupArn", tg_arn, &reply);
    if (rc == AGENT_OK)
        rc = elbv2_parse_target_health_all(reply.data != NULL ? reply.data : "", reply.len, out,
                                           cap, n);
    buf_cleanup(&reply);
    return rc;
}

/* ---- a group's settings (doctor) ---- */

#define TG_ROOT   "DescribeTargetGroupsResponse"
#define TG_MEMBER TG_ROOT "/DescribeTargetGroupsResult/TargetGroups/member"
#define TA_ROOT   "DescribeTargetGroupAttributesResponse"
#define TA_MEMBER TA_ROOT "/DescribeTargetGroupAttributesResult/Attributes/member"

#define G_ARN   0x01u
#define G_PORT  0x02u
#define G_PATH  0x04u
#define G_PROTO 0x08u
#define G_KEY   0x01u
#define G_VALUE 0x02u

struct tg_user {
    struct elbv2_target_group *out;
    int n;
    /* attributes: the member being read */
    char key[128];
    char value[256];
};

static int
tg_field(struct awsxml_list *l, const char *sub, const char *text)
{
    struct elbv2_target_group *cur = l->cur;

    if (strcmp(sub, "TargetGroupArn") == 0)
        return awsxml_list_text(l, G_ARN, cur->arn, sizeof(cur->arn), text, sub, 1);
    if (strcmp(sub, "HealthCheckPort") == 0)
        return awsxml_list_text(l, G_PORT, cur->health_check_port, sizeof(cur->health_check_port),
                                text, sub, 1);
    if (strcmp(sub, "HealthCheckPath") == 0)
        return awsxml_list_text(l, G_PATH, cur->health_check_path, sizeof(cur->health_check_path),
                                text, sub, 0);
    if (strcmp(sub, "HealthCheckProtocol") == 0)
        return awsxml_list_text(l, G_PROTO, cur->health_check_protocol,
                                sizeof(cur->health_check_protocol), text, sub, 1);
    return 0;
}

static int
tg_finish(struct awsxml_list *l)
{
    struct tg_user *u = l->user;

    if (!(l->have & G_ARN))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "TargetGroupArn");
    if (u->n++ == 0) {
        const struct elbv2_target_group *cur = l->cur;

        snprintf(u->out->arn, sizeof(u->out->arn), "%s", cur->arn);
        snprintf(u->out->health_check_port, sizeof(u->out->health_check_port), "%s",
                 cur->health_check_port);
        snprintf(u->out->health_check_path, sizeof(u->out->health_check_path), "%s",
                 cur->health_check_path);
        snprintf(u->out->health_check_protocol, sizeof(u->out->health_check_protocol), "%s",
                 cur->health_check_protocol);
    }
    return 0;
}

struct attr_member {
    char key[128];
    char value[256];
};

static int
ta_field(struct awsxml_list *l, const char *sub, const char *text)
{
    struct attr_member *cur = l->cur;

    if (strcmp(sub, "Key") == 0)
        return awsxml_list_text(l, G_KEY, cur->key, sizeof(cur->key), text, sub, 1);
    if (strcmp(sub, "Value") == 0)
        return awsxml_list_text(l, G_VALUE, cur->value, sizeof(cur->value), text, sub, 0);
    return 0;
}

static int
ta_finish(struct awsxml_list *l)
{
    const struct attr_member *cur = l->cur;
    struct tg_user *u = l->user;

    if (!(l->have & G_KEY))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "Key");
    if (strcmp(cur->key, "deregistration_delay.timeout_seconds") == 0 &&
        str_to_int(cur->value, 0, 3600, &u->out->deregistration_delay_s) != AGENT_OK)
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "not a number of seconds in", "Value");
    return 0;
}

enum agent_rc
elbv2_parse_target_group(const char *xml, size_t len, int attributes,
                         struct elbv2_target_group *out)
{
    struct elbv2_target_group cur;
    struct attr_member acur;
    struct awsxml_list l;
    struct tg_user u;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.out = out;
    memset(&l, 0, sizeof(l));
    l.prefix = "elbv2";
    l.user = &u;
    if (attributes) {
        l.action = "DescribeTargetGroupAttributes";
        l.root = TA_ROOT;
        l.member = TA_MEMBER;
        l.cur = &acur;
        l.cur_size = sizeof(acur);
        l.field = ta_field;
        l.finish = ta_finish;
    } else {
        l.action = "DescribeTargetGroups";
        l.root = TG_ROOT;
        l.member = TG_MEMBER;
        l.cur = &cur;
        l.cur_size = sizeof(cur);
        l.field = tg_field;
        l.finish = tg_finish;
    }
    rc = awsxml_list_run(&l, xml, len);
    if (rc == AGENT_OK && !attributes && u.n == 0) {
        log_errx("elbv2: DescribeTargetGroups reply describes no target group");
        return AGENT_ERR_ABSENT;
    }
    return rc;
}

enum agent_rc
elbv2_describe_target_group(struct awsapi *api, const char *tg_arn, struct elbv2_target_group *out)
{
    struct elbv2_target_group g;
    struct buf reply;
    enum agent_rc rc;

    memset(&g, 0, sizeof(g));
    g.deregistration_delay_s = -1;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = group_call(api, "DescribeTargetGroups", "TargetGroupArns.member.1", tg_arn, &reply);
    if (rc == AGENT_OK)
        rc = elbv2_parse_target_group(reply.data != NULL ? reply.data : "", reply.len, 0, &g);
    if (rc == AGENT_OK) {
        buf_reset(&reply);
        rc = group_call(api, "DescribeTargetGroupAttributes", "TargetGroupArn", tg_arn, &reply);
        if (rc == AGENT_OK)
            rc = elbv2_parse_target_group(reply.data != NULL ? reply.data : "", reply.len, 1, &g);
    }
    buf_cleanup(&reply);
    if (rc == AGENT_OK)
        *out = g;
    return rc;
}
