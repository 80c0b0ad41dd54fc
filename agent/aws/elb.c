#include "aws/elb.h"

#include <stdio.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#define LB_NAME_MAX 32
#define PATH_MAX_   256

#define IH_ROOT   "DescribeInstanceHealthResponse"
#define IH_MEMBER IH_ROOT "/DescribeInstanceHealthResult/InstanceStates/member"

#define F_ID     0x01u
#define F_STATE  0x02u
#define F_REASON 0x04u
#define F_DESC   0x08u

/* The state of both parsers beyond the list walk. */
struct elb_user {
    const char *want_id;
    int health; /* DescribeInstanceHealth rather than register/deregister */
    /* register/deregister: the ids seen */
    size_t count;
    int listed;
    /* DescribeInstanceHealth */
    struct elb_instance_health *found;
    int n_found;
    /* want_id NULL with health: every member into all[0..cap) */
    struct elb_instance_health *all;
    size_t cap, n_all;
};

static int
elb_finish(struct awsxml_list *l)
{
    const struct elb_instance_health *cur = l->cur;
    struct elb_user *u = l->user;

    if (!(l->have & F_ID))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "InstanceId");
    if (!u->health) {
        u->count++;
        if (strcmp(cur->instance_id, u->want_id) == 0)
            u->listed = 1;
        return 0;
    }
    if (!(l->have & F_STATE))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", "State");
    if (u->want_id == NULL) {
        if (u->n_all == u->cap)
            return awsxml_list_fail(l, AGENT_ERR_TOOBIG, "more instances than room for, at",
                                    "member");
        u->all[u->n_all++] = *cur;
        return 0;
    }
    if (u->n_found == 0 && strcmp(cur->instance_id, u->want_id) == 0) {
        *u->found = *cur;
        u->n_found++;
    }
    return 0;
}

static int
elb_field(struct awsxml_list *l, const char *sub, const char *text)
{
    struct elb_instance_health *cur = l->cur;
    const struct elb_user *u = l->user;

    if (strcmp(sub, "InstanceId") == 0)
        return awsxml_list_text(l, F_ID, cur->instance_id, sizeof(cur->instance_id), text, sub, 1);
    if (!u->health)
        return 0;
    if (strcmp(sub, "State") == 0)
        return awsxml_list_text(l, F_STATE, cur->state, sizeof(cur->state), text, sub, 1);
    if (strcmp(sub, "ReasonCode") == 0)
        return awsxml_list_text(l, F_REASON, cur->reason_code, sizeof(cur->reason_code), text, sub,
                                0);
    if (strcmp(sub, "Description") == 0)
        return awsxml_list_text(l, F_DESC, cur->description, sizeof(cur->description), text, sub,
                                0);
    return 0;
}

/* Runs the walk over one reply; AGENT_OK when the document was read whole (failures logged). */
static enum agent_rc
elb_run(struct elb_user *u, const char *action, const char *root, const char *member,
        const char *xml, size_t len)
{
    struct elb_instance_health cur;
    struct awsxml_list l;

    memset(&l, 0, sizeof(l));
    l.prefix = "elb";
    l.action = action;
    l.root = root;
    l.member = member;
    l.cur = &cur;
    l.cur_size = sizeof(cur);
    l.field = elb_field;
    l.finish = elb_finish;
    l.user = u;
    return awsxml_list_run(&l, xml, len);
}

enum agent_rc
elb_parse_instances_reply(const char *xml, size_t len, const char *action, const char *instance_id,
                          struct elb_instances_reply *out)
{
    char root[PATH_MAX_], member[PATH_MAX_];
    struct elb_user u;
    enum agent_rc rc;
    int n;

    n = snprintf(root, sizeof(root), "%sResponse", action);
    if (n < 0 || (size_t)n >= sizeof(root))
        return AGENT_ERR_INVAL;
    n = snprintf(member, sizeof(member), "%s/%sResult/Instances/member", root, action);
    if (n < 0 || (size_t)n >= sizeof(member))
        return AGENT_ERR_INVAL;
    memset(&u, 0, sizeof(u));
    u.want_id = instance_id;
    rc = elb_run(&u, action, root, member, xml, len);
    if (rc != AGENT_OK)
        return rc;
    out->count = u.count;
    out->listed = u.listed;
    return AGENT_OK;
}

enum agent_rc
elb_parse_instance_health(const char *xml, size_t len, const char *instance_id,
                          struct elb_instance_health *out)
{
    struct elb_instance_health found;
    struct elb_user u;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.want_id = instance_id;
    u.health = 1;
    u.found = &found;
    rc = elb_run(&u, "DescribeInstanceHealth", IH_ROOT, IH_MEMBER, xml, len);
    if (rc != AGENT_OK)
        return rc;
    if (u.n_found == 0) {
        log_errx("elb: DescribeInstanceHealth reply does not describe %s", instance_id);
        return AGENT_ERR_ABSENT;
    }
    *out = found;
    return AGENT_OK;
}

/* ---- the calls ---- */

/* Classic load balancer names: 1-32 letters, digits and hyphens. */
static int
valid_lb_name(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= LB_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static enum agent_rc
check_args(struct awsapi *api, const char *action, const char *lb_name, const char *instance_id)
{
    if (api == NULL) {
        log_errx("elb: %s: no AWS client", action);
        return AGENT_ERR_INVAL;
    }
    if (lb_name == NULL || !valid_lb_name(lb_name)) {
        log_errx("elb: %s: the load balancer name is not 1-32 letters, digits or hyphens", action);
        return AGENT_ERR_INVAL;
    }
    if (instance_id == NULL || !str_is_instance_id(instance_id)) {
        log_errx("elb: %s: not an instance id", action);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

static enum agent_rc
instance_call(struct awsapi *api, const char *action, const char *lb_name, const char *instance_id,
              struct buf *reply)
{
    struct aws_param p[2];
    struct aws_query q;
    struct aws_error err;

    p[0].name = "LoadBalancerName";
    p[0].value = lb_name;
    p[1].name = "Instances.member.1.InstanceId";
    p[1].value = instance_id;
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_ELB;
    q.action = action;
    q.version = ELB_VERSION;
    q.params = p;
    q.n_params = 2;
    /* A repeat of either call leaves the same set of instances. */
    q.idempotent = 1;
    memset(&err, 0, sizeof(err));
    return awsapi_query(api, &q, reply, &err);
}

static enum agent_rc
change_instance(struct awsapi *api, const char *action, int registering, const char *lb_name,
                const char *instance_id)
{
    struct elb_instances_reply r;
    struct buf reply;
    enum agent_rc rc;

    rc = check_args(api, action, lb_name, instance_id);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = instance_call(api, action, lb_name, instance_id, &reply);
    if (rc != AGENT_OK)
        goto out;
    rc = elb_parse_instances_reply(reply.data != NULL ? reply.data : "", reply.len, action,
                                   instance_id, &r);
    if (rc != AGENT_OK)
        goto out;
    /*
     * The reply lists the instances registered after the call.  Some
     * emulators return an empty list, so a mismatch is only worth a warning;
     * DescribeInstanceHealth is the check that counts.
     */
    if (registering && !r.listed)
        log_warnx("elb: %s: %s is not among the %zu instances the reply lists", action, instance_id,
                  r.count);
    else if (!registering && r.listed)
        log_warnx("elb: %s: %s is still among the instances the reply lists", action, instance_id);
    log_debug("elb: %s %s %s", registering ? "registered" : "deregistered", instance_id, lb_name);
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
elb_register_instance(struct awsapi *api, const char *lb_name, const char *instance_id)
{
    return change_instance(api, "RegisterInstancesWithLoadBalancer", 1, lb_name, instance_id);
}

enum agent_rc
elb_deregister_instance(struct awsapi *api, const char *lb_name, const char *instance_id)
{
    return change_instance(api, "DeregisterInstancesFromLoadBalancer", 0, lb_name, instance_id);
}

enum agent_rc
elb_describe_instance_health(struct awsapi *api, const char *lb_name, const char *instance_id,
                             struct elb_instance_health *out)
{
    struct elb_instance_health ih;
    struct buf reply;
    enum agent_rc rc;

    rc = check_args(api, "DescribeInstanceHealth", lb_name, instance_id);
    if (rc != AGENT_OK)
        return rc;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = instance_call(api, "DescribeInstanceHealth", lb_name, instance_id, &reply);
    if (rc != AGENT_OK)
        goto out;
    rc = elb_parse_instance_health(reply.data != NULL ? reply.data : "", reply.len, instance_id,
                                   &ih);
    if (rc != AGENT_OK)
        goto out;
    log_debug("elb: %s in %s: %s %s", instance_id, lb_name, ih.state, ih.reason_code);
    *out = ih;
out:
    buf_cleanup(&reply);
    return rc;
}

/* ---- every instance of a load balancer (fleet) ---- */

enum agent_rc
elb_parse_instance_health_all(const char *xml, size_t len, struct elb_instance_health *out,
                              size_t cap, size_t *n)
{
    struct elb_user u;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.health = 1;
    u.all = out;
    u.cap = cap;
    rc = elb_run(&u, "DescribeInstanceHealth", IH_ROOT, IH_MEMBER, xml, len);
    if (rc == AGENT_OK)
        *n = u.n_all;
    return rc;
}

enum agent_rc
elb_list_instance_health(struct awsapi *api, const char *lb_name, struct elb_instance_health *out,
                         size_t cap, size_t *n)
{
    struct aws_param p[1];
    struct aws_query q;
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;

    if (api == NULL || lb_name == NULL || lb_name[0] == '\0' || strlen(lb_name) > LB_NAME_MAX) {
        log_errx("elb: DescribeInstanceHealth: not a load balancer name");
        return AGENT_ERR_INVAL;
    }
    p[0].name = "LoadBalancerName";
    p[0].value = lb_name;
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_ELB;
    q.action = "DescribeInstanceHealth";
    q.version = ELB_VERSION;
    q.params = p;
    q.n_params = 1;
    q.idempotent = 1;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = awsapi_query(api, &q, &reply, &err);
    if (rc == AGENT_OK)
        rc = elb_parse_instance_health_all(reply.data != NULL ? reply.data : "", reply.len, out,
                                           cap, n);
    buf_cleanup(&reply);
    return rc;
}
