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
        log_info("elbv2: %s %s port %d in %s", done, instance_id, port, tg_arn);
    else
        log_info("elbv2: %s %s in %s", done, instance_id, tg_arn);
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
