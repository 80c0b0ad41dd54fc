#include "aws/autoscaling.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#define LH_ROOT   "DescribeLifecycleHooksResponse"
#define LH_MEMBER LH_ROOT "/DescribeLifecycleHooksResult/LifecycleHooks/member"
#define AI_ROOT   "DescribeAutoScalingInstancesResponse"
#define AI_MEMBER AI_ROOT "/DescribeAutoScalingInstancesResult/AutoScalingInstances/member"

#define DEFAULT_HEARTBEAT_S 3600
#define MAX_TIMEOUT_S       172800 /* 48 h, the global limit of a wait state */
#define ID_MAX              32

/* ---- a walker over the members of one list, driven by a field table ---- */

enum field_kind {
    FK_TEXT,  /* any text without control characters */
    FK_TOKEN, /* non-empty visible ASCII */
    FK_SECS   /* a whole number of seconds, 1-MAX_TIMEOUT_S, into an int */
};

struct field {
    const char *sub; /* path below the member */
    enum field_kind kind;
    size_t off; /* into the member staging struct */
    size_t cap; /* of a text field */
};

/* One parser's table (the awsxml_list's user); bit i of have and required is fields[i]. */
struct table {
    const struct field *fields;
    size_t n_fields;
    unsigned required; /* bits of fields every member must have */
    /* Called for each complete member; returns non-zero after awsxml_list_fail. */
    int (*finish)(struct awsxml_list *l);
    void *user;
};

static int
mw_finish_member(struct awsxml_list *l)
{
    const struct table *t = l->user;
    size_t i;

    for (i = 0; i < t->n_fields; i++) {
        if ((t->required & (1u << i)) && !(l->have & (1u << i)))
            return awsxml_list_fail(l, AGENT_ERR_PARSE, "member without", t->fields[i].sub);
    }
    return t->finish(l);
}

static int
mw_field(struct awsxml_list *l, const char *sub, const char *text)
{
    const struct table *t = l->user;
    const struct field *f;
    char num[16];
    size_t i;

    for (i = 0; i < t->n_fields; i++) {
        if (strcmp(sub, t->fields[i].sub) == 0)
            break;
    }
    if (i == t->n_fields)
        return 0;
    f = &t->fields[i];
    if (f->kind != FK_SECS)
        return awsxml_list_text(l, 1u << i, (char *)l->cur + f->off, f->cap, text, f->sub,
                                f->kind == FK_TOKEN);
    if (l->have & (1u << i))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "repeated element", f->sub);
    l->have |= 1u << i;
    if (awsxml_take_text(num, sizeof(num), text) != AGENT_OK ||
        str_to_int(num, 1, MAX_TIMEOUT_S, (int *)(void *)((char *)l->cur + f->off)) != AGENT_OK)
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "not a number of seconds in", f->sub);
    return 0;
}

/* Reads the list member of root in xml[len] with t into cur; failures are logged. */
static enum agent_rc
mw_run(const char *action, const char *root, const char *member, struct table *t, void *cur,
       size_t cur_size, const char *xml, size_t len)
{
    struct awsxml_list l;

    memset(&l, 0, sizeof(l));
    l.prefix = "autoscaling";
    l.action = action;
    l.root = root;
    l.member = member;
    l.cur = cur;
    l.cur_size = cur_size;
    l.field = mw_field;
    l.finish = mw_finish_member;
    l.user = t;
    return awsxml_list_run(&l, xml, len);
}

/* ---- the empty-result reply ---- */

enum agent_rc
asg_parse_empty_reply(const char *xml, size_t len, const char *action)
{
    char root[128];
    int n;

    n = snprintf(root, sizeof(root), "%sResponse", action);
    if (n < 0 || (size_t)n >= sizeof(root))
        return AGENT_ERR_INVAL;
    /* No member: only the root is checked ("unexpected root element" when it differs). */
    return mw_run(action, root, NULL, NULL, NULL, 0, xml, len);
}

/* ---- DescribeLifecycleHooks ---- */

static const struct field lh_fields[] = {
    {"LifecycleHookName", FK_TEXT, offsetof(struct asg_lifecycle_hook, name), ASG_NAME_MAX},
    {"LifecycleTransition", FK_TOKEN, offsetof(struct asg_lifecycle_hook, transition),
     ASG_TRANSITION_MAX},
    {"DefaultResult", FK_TOKEN, offsetof(struct asg_lifecycle_hook, default_result),
     ASG_RESULT_MAX},
    {"HeartbeatTimeout", FK_SECS, offsetof(struct asg_lifecycle_hook, heartbeat_timeout_s), 0},
    {"GlobalTimeout", FK_SECS, offsetof(struct asg_lifecycle_hook, global_timeout_s), 0},
};

#define LH_HAVE_RESULT    (1u << 2)
#define LH_HAVE_HEARTBEAT (1u << 3)

struct lh_user {
    const char *want;            /* a hook name, or NULL */
    const char *want_transition; /* with want NULL: the first hook of this transition */
    struct asg_lifecycle_hook *found;
    int n_found;
};

static int
lh_finish(struct awsxml_list *l)
{
    struct asg_lifecycle_hook *h = l->cur;
    struct lh_user *u = ((const struct table *)l->user)->user;

    /* The API defaults (aws.md §4.2) when the reply leaves them out. */
    if (!(l->have & LH_HAVE_RESULT))
        str_copy(h->default_result, sizeof(h->default_result), "ABANDON");
    else if (strcmp(h->default_result, "CONTINUE") != 0 &&
             strcmp(h->default_result, "ABANDON") != 0)
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "neither CONTINUE nor ABANDON in",
                                "DefaultResult");
    if (!(l->have & LH_HAVE_HEARTBEAT))
        h->heartbeat_timeout_s = DEFAULT_HEARTBEAT_S;
    if (u->n_found == 0 && (u->want != NULL ? strcmp(h->name, u->want) == 0
                                            : strcmp(h->transition, u->want_transition) == 0)) {
        *u->found = *h;
        u->n_found++;
    }
    return 0;
}

/* The first hook of the reply named want, or with the transition want_transition. */
static enum agent_rc
find_lifecycle_hook(const char *xml, size_t len, const char *want, const char *want_transition,
                    struct asg_lifecycle_hook *out)
{
    struct asg_lifecycle_hook cur, found;
    struct lh_user u;
    struct table t;
    enum agent_rc rc;

    u.want = want;
    u.want_transition = want_transition;
    u.found = &found;
    u.n_found = 0;
    t.fields = lh_fields;
    t.n_fields = sizeof(lh_fields) / sizeof(lh_fields[0]);
    t.required = 1u << 0;
    t.finish = lh_finish;
    t.user = &u;
    rc = mw_run("DescribeLifecycleHooks", LH_ROOT, LH_MEMBER, &t, &cur, sizeof(cur), xml, len);
    if (rc != AGENT_OK)
        return rc;
    if (u.n_found == 0)
        return AGENT_ERR_ABSENT;
    *out = found;
    return AGENT_OK;
}

enum agent_rc
asg_parse_lifecycle_hooks(const char *xml, size_t len, const char *hook,
                          struct asg_lifecycle_hook *out)
{
    enum agent_rc rc = find_lifecycle_hook(xml, len, hook, NULL, out);

    if (rc == AGENT_ERR_ABSENT)
        log_errx("autoscaling: DescribeLifecycleHooks reply has no hook %s", hook);
    return rc;
}

enum agent_rc
asg_parse_lifecycle_hook_of(const char *xml, size_t len, const char *transition,
                            struct asg_lifecycle_hook *out)
{
    return find_lifecycle_hook(xml, len, NULL, transition, out);
}

/* ---- DescribeAutoScalingInstances ---- */

struct ai_member {
    struct asg_instance i;
    char id[ID_MAX];
};

static const struct field ai_fields[] = {
    {"InstanceId", FK_TOKEN, offsetof(struct ai_member, id), ID_MAX},
    {"AutoScalingGroupName", FK_TEXT, offsetof(struct ai_member, i.asg_name), ASG_NAME_MAX},
    {"LifecycleState", FK_TOKEN, offsetof(struct ai_member, i.lifecycle_state), ASG_STATE_MAX},
    {"HealthStatus", FK_TOKEN, offsetof(struct ai_member, i.health_status), ASG_HEALTH_MAX},
};

struct ai_user {
    const char *want; /* NULL: every member into rows */
    struct asg_instance *found;
    int n_found;
    struct asg_instance_row *rows;
    size_t cap, n_rows;
};

static int
ai_finish(struct awsxml_list *l)
{
    struct ai_member *m = l->cur;
    struct ai_user *u = ((const struct table *)l->user)->user;

    if (m->i.asg_name[0] == '\0')
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "empty", "AutoScalingGroupName");
    if (u->want == NULL) {
        if (u->n_rows == u->cap)
            return awsxml_list_fail(l, AGENT_ERR_TOOBIG, "more instances than asked for, at",
                                    "member");
        snprintf(u->rows[u->n_rows].instance_id, sizeof(u->rows[u->n_rows].instance_id), "%s",
                 m->id);
        u->rows[u->n_rows++].i = m->i;
        return 0;
    }
    if (u->n_found == 0 && strcmp(m->id, u->want) == 0) {
        *u->found = m->i;
        u->n_found++;
    }
    return 0;
}

enum agent_rc
asg_parse_instances(const char *xml, size_t len, const char *instance_id, struct asg_instance *out)
{
    struct asg_instance found;
    struct ai_member cur;
    struct ai_user u;
    struct table t;
    enum agent_rc rc;

    memset(&found, 0, sizeof(found));
    memset(&u, 0, sizeof(u));
    u.want = instance_id;
    u.found = &found;
    u.n_found = 0;
    t.fields = ai_fields;
    t.n_fields = sizeof(ai_fields) / sizeof(ai_fields[0]);
    t.required = (1u << 0) | (1u << 1) | (1u << 2);
    t.finish = ai_finish;
    t.user = &u;
    rc =
        mw_run("DescribeAutoScalingInstances", AI_ROOT, AI_MEMBER, &t, &cur, sizeof(cur), xml, len);
    if (rc != AGENT_OK)
        return rc;
    *out = found;
    return AGENT_OK;
}

/* ---- the calls ---- */

int
asg_error_is_no_active_action(const struct aws_error *err)
{
    return err != NULL && strcmp(err->code, "ValidationError") == 0 &&
           strstr(err->message, ASG_NO_ACTIVE_ACTION) != NULL;
}

/* Group and hook names: 1-255 characters, none of them a control character. */
static int
valid_name(const char *s)
{
    return str_is_text(s, ASG_NAME_MAX - 1);
}

static enum agent_rc
check_args(struct awsapi *api, const char *action, const char *hook, const char *asg,
           const char *instance_id)
{
    if (api == NULL) {
        log_errx("autoscaling: %s: no AWS client", action);
        return AGENT_ERR_INVAL;
    }
    if (hook != NULL && !valid_name(hook)) {
        log_errx("autoscaling: %s: the hook name is not 1-255 printable characters", action);
        return AGENT_ERR_INVAL;
    }
    if (asg != NULL && !valid_name(asg)) {
        log_errx("autoscaling: %s: the group name is not 1-255 printable characters", action);
        return AGENT_ERR_INVAL;
    }
    if (instance_id != NULL && !str_is_instance_id(instance_id)) {
        log_errx("autoscaling: %s: not an instance id", action);
        return AGENT_ERR_INVAL;
    }
    return AGENT_OK;
}

static enum agent_rc
call(struct awsapi *api, const char *action, const struct aws_param *p, size_t n, int idempotent,
     struct buf *reply, struct aws_error *err)
{
    struct aws_query q;

    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_AUTOSCALING;
    q.action = action;
    q.version = ASG_VERSION;
    q.params = p;
    q.n_params = n;
    q.idempotent = idempotent;
    q.expected = asg_error_is_no_active_action;
    memset(err, 0, sizeof(*err));
    return awsapi_query(api, &q, reply, err);
}

/*
 * The two lifecycle-action calls.  result is "CONTINUE"/"ABANDON" for
 * CompleteLifecycleAction, NULL for the heartbeat; *no_action tells that AWS
 * had no active action (then AGENT_OK is returned).
 */
static enum agent_rc
lifecycle_call(struct awsapi *api, const char *action, const char *hook, const char *asg,
               const char *instance_id, const char *result, int *no_action)
{
    struct aws_param p[4];
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;
    size_t n = 0;

    *no_action = 0;
    if (hook == NULL || asg == NULL || instance_id == NULL) {
        log_errx("autoscaling: %s: hook, group and instance id are all required", action);
        return AGENT_ERR_INVAL;
    }
    rc = check_args(api, action, hook, asg, instance_id);
    if (rc != AGENT_OK)
        return rc;
    p[n].name = "LifecycleHookName";
    p[n++].value = hook;
    p[n].name = "AutoScalingGroupName";
    p[n++].value = asg;
    if (result != NULL) {
        p[n].name = "LifecycleActionResult";
        p[n++].value = result;
    }
    p[n].name = "InstanceId";
    p[n++].value = instance_id;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    /*
     * Completing twice is refused by AWS, so the completion is not
     * idempotent; a heartbeat only restarts the timeout and may be repeated.
     */
    rc = call(api, action, p, n, result == NULL, &reply, &err);
    if (rc == AGENT_ERR_AWS && asg_error_is_no_active_action(&err)) {
        *no_action = 1;
        rc = AGENT_OK;
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    rc = asg_parse_empty_reply(reply.data != NULL ? reply.data : "", reply.len, action);
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
asg_complete_lifecycle_action(struct awsapi *api, const char *hook, const char *asg,
                              const char *instance_id, int continue_, int *already_done)
{
    const char *result = continue_ ? "CONTINUE" : "ABANDON";
    enum agent_rc rc;
    int no_action;

    rc = lifecycle_call(api, "CompleteLifecycleAction", hook, asg, instance_id, result, &no_action);
    if (rc != AGENT_OK)
        return rc;
    if (no_action)
        log_debug("autoscaling: no active lifecycle action for %s on hook %s of %s: nothing to "
                  "complete (already completed, timed out, or not waiting)",
                  instance_id, hook, asg);
    else
        log_debug("autoscaling: completed lifecycle action %s for %s on hook %s of %s", result,
                  instance_id, hook, asg);
    if (already_done != NULL)
        *already_done = no_action;
    return AGENT_OK;
}

enum agent_rc
asg_record_heartbeat(struct awsapi *api, const char *hook, const char *asg, const char *instance_id)
{
    enum agent_rc rc;
    int no_action;

    rc = lifecycle_call(api, "RecordLifecycleActionHeartbeat", hook, asg, instance_id, NULL,
                        &no_action);
    if (rc != AGENT_OK)
        return rc;
    if (no_action) {
        log_debug("autoscaling: no active lifecycle action for %s on hook %s of %s: no heartbeat "
                  "needed",
                  instance_id, hook, asg);
        return AGENT_ERR_ABSENT;
    }
    log_debug("autoscaling: heartbeat for %s on hook %s of %s", instance_id, hook, asg);
    return AGENT_OK;
}

enum agent_rc
asg_describe_lifecycle_hooks(struct awsapi *api, const char *asg, const char *hook,
                             struct asg_lifecycle_hook *out)
{
    struct asg_lifecycle_hook lh;
    struct aws_param p[2];
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;

    if (hook == NULL || asg == NULL) {
        log_errx("autoscaling: DescribeLifecycleHooks: group and hook are both required");
        return AGENT_ERR_INVAL;
    }
    rc = check_args(api, "DescribeLifecycleHooks", hook, asg, NULL);
    if (rc != AGENT_OK)
        return rc;
    p[0].name = "AutoScalingGroupName";
    p[0].value = asg;
    p[1].name = "LifecycleHookNames.member.1";
    p[1].value = hook;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = call(api, "DescribeLifecycleHooks", p, 2, 1, &reply, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = asg_parse_lifecycle_hooks(reply.data != NULL ? reply.data : "", reply.len, hook, &lh);
    if (rc != AGENT_OK)
        goto out;
    log_debug("autoscaling: hook %s of %s: %s, heartbeat %d s, default %s", hook, asg,
              lh.transition, lh.heartbeat_timeout_s, lh.default_result);
    *out = lh;
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
asg_describe_hook_of(struct awsapi *api, const char *asg, const char *transition,
                     struct asg_lifecycle_hook *out)
{
    struct asg_lifecycle_hook lh;
    struct aws_param p[1];
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;

    if (asg == NULL || transition == NULL) {
        log_errx("autoscaling: DescribeLifecycleHooks: group and transition are both required");
        return AGENT_ERR_INVAL;
    }
    rc = check_args(api, "DescribeLifecycleHooks", NULL, asg, NULL);
    if (rc != AGENT_OK)
        return rc;
    p[0].name = "AutoScalingGroupName";
    p[0].value = asg;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = call(api, "DescribeLifecycleHooks", p, 1, 1, &reply, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = asg_parse_lifecycle_hook_of(reply.data != NULL ? reply.data : "", reply.len, transition,
                                     &lh);
    if (rc == AGENT_ERR_ABSENT)
        log_debug("autoscaling: %s has no %s hook", asg, transition);
    if (rc != AGENT_OK)
        goto out;
    log_debug("autoscaling: %s hook of %s: %s, heartbeat %d s", transition, asg, lh.name,
              lh.heartbeat_timeout_s);
    *out = lh;
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
asg_describe_instance(struct awsapi *api, const char *instance_id, struct asg_instance *out)
{
    struct asg_instance ai;
    struct aws_param p[1];
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;

    if (instance_id == NULL) {
        log_errx("autoscaling: DescribeAutoScalingInstances: no instance id");
        return AGENT_ERR_INVAL;
    }
    rc = check_args(api, "DescribeAutoScalingInstances", NULL, NULL, instance_id);
    if (rc != AGENT_OK)
        return rc;
    p[0].name = "InstanceIds.member.1";
    p[0].value = instance_id;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = call(api, "DescribeAutoScalingInstances", p, 1, 1, &reply, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = asg_parse_instances(reply.data != NULL ? reply.data : "", reply.len, instance_id, &ai);
    if (rc != AGENT_OK)
        goto out;
    if (ai.asg_name[0] == '\0')
        log_debug("autoscaling: %s is in no Auto Scaling group", instance_id);
    else
        log_debug("autoscaling: %s is in %s (%s)", instance_id, ai.asg_name, ai.lifecycle_state);
    *out = ai;
out:
    buf_cleanup(&reply);
    return rc;
}

enum agent_rc
asg_parse_instances_all(const char *xml, size_t len, struct asg_instance_row *out, size_t cap,
                        size_t *n)
{
    struct ai_member cur;
    struct ai_user u;
    struct table t;
    enum agent_rc rc;

    memset(&u, 0, sizeof(u));
    u.rows = out;
    u.cap = cap;
    t.fields = ai_fields;
    t.n_fields = sizeof(ai_fields) / sizeof(ai_fields[0]);
    t.required = (1u << 0) | (1u << 1) | (1u << 2);
    t.finish = ai_finish;
    t.user = &u;
    rc =
        mw_run("DescribeAutoScalingInstances", AI_ROOT, AI_MEMBER, &t, &cur, sizeof(cur), xml, len);
    if (rc == AGENT_OK)
        *n = u.n_rows;
    return rc;
}

enum agent_rc
asg_describe_instances(struct awsapi *api, const char *const *ids, size_t n_ids,
                       struct asg_instance_row *out, size_t cap, size_t *n_out)
{
    struct aws_param p[ASG_IDS_PER_CALL];
    char names[ASG_IDS_PER_CALL][32];
    struct aws_error err;
    struct buf reply;
    size_t done = 0, i, n = 0, got;
    enum agent_rc rc = AGENT_OK;

    if (api == NULL || ids == NULL || out == NULL || n_out == NULL)
        return AGENT_ERR_INVAL;
    for (i = 0; i < n_ids; i++) {
        if (ids[i] == NULL || !str_is_instance_id(ids[i])) {
            log_errx("autoscaling: DescribeAutoScalingInstances: not an instance id");
            return AGENT_ERR_INVAL;
        }
    }
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    while (done < n_ids) {
        size_t k = n_ids - done > ASG_IDS_PER_CALL ? ASG_IDS_PER_CALL : n_ids - done;

        for (i = 0; i < k; i++) {
            snprintf(names[i], sizeof(names[i]), "InstanceIds.member.%zu", i + 1);
            p[i].name = names[i];
            p[i].value = ids[done + i];
        }
        buf_reset(&reply);
        rc = call(api, "DescribeAutoScalingInstances", p, k, 1, &reply, &err);
        if (rc == AGENT_OK)
            rc = asg_parse_instances_all(reply.data != NULL ? reply.data : "", reply.len, out + n,
                                         cap - n, &got);
        if (rc != AGENT_OK)
            break;
        n += got;
        done += k;
    }
    buf_cleanup(&reply);
    if (rc == AGENT_OK)
        *n_out = n;
    return rc;
}
