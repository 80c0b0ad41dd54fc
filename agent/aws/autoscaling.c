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

/*
 * Copies an XML text into dst[cap] without its surrounding whitespace.
 * Control characters are refused (the texts end up in log lines), and a
 * text over the cap is refused rather than cut.
 */
static enum agent_rc
take_text(char *dst, size_t cap, const char *text)
{
    size_t i, n;

    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    n = strlen(text);
    while (n > 0 && strchr(" \t\r\n", text[n - 1]) != NULL)
        n--;
    for (i = 0; i < n; i++) {
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
            return AGENT_ERR_PARSE;
    }
    return str_copyn(dst, cap, text, n);
}

/* 1 when s is non-empty printable ASCII without spaces. */
static int
is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    }
    return 1;
}

static int
is_error_root(const char *path)
{
    return strcmp(path, "ErrorResponse") == 0 || strcmp(path, "Error") == 0;
}

/* An element path or code from the reply, made safe for a log line. */
static void
safe_name(char *dst, size_t cap, const char *path)
{
    size_t i;

    for (i = 0; i + 1 < cap && path[i] != '\0'; i++)
        dst[i] = (unsigned char)path[i] < 0x21 || (unsigned char)path[i] > 0x7e ? '?' : path[i];
    dst[i] = '\0';
}

static void
log_error_doc(const char *action, const char *xml, size_t len)
{
    struct aws_error e;
    char code[sizeof(e.code)];

    memset(&e, 0, sizeof(e));
    if (awsxml_parse_error(xml, len, &e) == AGENT_OK && e.code[0] != '\0')
        safe_name(code, sizeof(code), e.code);
    else
        str_copy(code, sizeof(code), "(no code)");
    log_errx("autoscaling: %s reply: AWS error document: %s", action, code);
}

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

struct mwalk {
    const char *action;
    const char *root;
    const char *member;
    const struct field *fields;
    size_t n_fields;
    unsigned required; /* bits of fields every member must have */
    void *cur;         /* the member being read */
    size_t cur_size;
    /* Called for each complete member; returns non-zero after mw_fail. */
    int (*finish)(struct mwalk *w);
    void *user;
    int root_seen;
    int in_member;
    unsigned have;
    enum agent_rc rc;
    const char *why;
    char elem[64];
};

static int
mw_fail(struct mwalk *w, enum agent_rc rc, const char *why, const char *elem)
{
    w->rc = rc;
    w->why = why;
    safe_name(w->elem, sizeof(w->elem), elem);
    return 1;
}

static int
mw_finish_member(struct mwalk *w)
{
    size_t i;

    w->in_member = 0;
    for (i = 0; i < w->n_fields; i++) {
        if ((w->required & (1u << i)) && !(w->have & (1u << i)))
            return mw_fail(w, AGENT_ERR_PARSE, "member without", w->fields[i].sub);
    }
    return w->finish(w);
}

static int
mw_start(void *ctx, const char *path)
{
    struct mwalk *w = ctx;

    if (!w->root_seen) {
        w->root_seen = 1;
        if (strcmp(path, w->root) != 0)
            return mw_fail(w, is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE,
                           "unexpected root element", path);
        return 0;
    }
    if (strcmp(path, w->member) != 0)
        return 0;
    if (w->in_member && mw_finish_member(w) != 0)
        return 1;
    memset(w->cur, 0, w->cur_size);
    w->have = 0;
    w->in_member = 1;
    return 0;
}

static int
mw_leaf(void *ctx, const char *path, const char *text)
{
    struct mwalk *w = ctx;
    size_t ml = strlen(w->member), i;
    const struct field *f;
    char num[16], *dst;
    enum agent_rc rc;

    if (!w->in_member || strncmp(path, w->member, ml) != 0 || path[ml] != '/')
        return 0;
    for (i = 0; i < w->n_fields; i++) {
        if (strcmp(path + ml + 1, w->fields[i].sub) == 0)
            break;
    }
    if (i == w->n_fields)
        return 0;
    f = &w->fields[i];
    if (w->have & (1u << i))
        return mw_fail(w, AGENT_ERR_PARSE, "repeated element", f->sub);
    w->have |= 1u << i;
    if (f->kind == FK_SECS) {
        rc = take_text(num, sizeof(num), text);
        if (rc != AGENT_OK ||
            str_to_int(num, 1, MAX_TIMEOUT_S, (int *)(void *)((char *)w->cur + f->off)) != AGENT_OK)
            return mw_fail(w, AGENT_ERR_PARSE, "not a number of seconds in", f->sub);
        return 0;
    }
    dst = (char *)w->cur + f->off;
    rc = take_text(dst, f->cap, text);
    if (rc == AGENT_ERR_TOOBIG)
        return mw_fail(w, rc, "text over its cap in", f->sub);
    if (rc != AGENT_OK)
        return mw_fail(w, rc, "control characters in", f->sub);
    if (f->kind == FK_TOKEN && !is_token(dst))
        return mw_fail(w, AGENT_ERR_PARSE, "empty or spaced text in", f->sub);
    return 0;
}

static enum agent_rc
mw_run(struct mwalk *w, const char *xml, size_t len)
{
    struct awsxml_handler h;
    enum agent_rc rc;

    w->rc = AGENT_OK;
    h.start = w->member != NULL ? mw_start : NULL;
    h.leaf = w->member != NULL ? mw_leaf : NULL;
    h.ctx = w;
    rc = awsxml_walk(xml, len, &h);
    if (rc == AGENT_OK && w->rc == AGENT_OK && w->in_member)
        mw_finish_member(w);
    if (w->rc == AGENT_ERR_AWS) {
        log_error_doc(w->action, xml, len);
        return AGENT_ERR_AWS;
    }
    if (w->rc != AGENT_OK) {
        log_errx("autoscaling: %s reply: %s %s", w->action, w->why, w->elem);
        return w->rc;
    }
    if (rc != AGENT_OK || !w->root_seen) {
        log_errx("autoscaling: %s reply: malformed XML (%s)", w->action, agent_rc_str(rc));
        return rc != AGENT_OK ? rc : AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

/* ---- the empty-result reply ---- */

static int
ack_start(void *ctx, const char *path)
{
    struct mwalk *w = ctx;

    if (w->root_seen)
        return 0;
    w->root_seen = 1;
    if (strcmp(path, w->root) == 0)
        return 0;
    return mw_fail(w, is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE,
                   "unexpected root element", path);
}

enum agent_rc
asg_parse_empty_reply(const char *xml, size_t len, const char *action)
{
    struct awsxml_handler h;
    struct mwalk w;
    char root[128];
    enum agent_rc rc;
    int n;

    n = snprintf(root, sizeof(root), "%sResponse", action);
    if (n < 0 || (size_t)n >= sizeof(root))
        return AGENT_ERR_INVAL;
    memset(&w, 0, sizeof(w));
    w.action = action;
    w.root = root;
    w.rc = AGENT_OK;
    h.start = ack_start;
    h.leaf = NULL;
    h.ctx = &w;
    rc = awsxml_walk(xml, len, &h);
    if (w.rc == AGENT_ERR_AWS) {
        log_error_doc(action, xml, len);
        return AGENT_ERR_AWS;
    }
    if (w.rc != AGENT_OK) {
        log_errx("autoscaling: %s reply: %s %s", action, w.why, w.elem);
        return w.rc;
    }
    if (rc != AGENT_OK || !w.root_seen) {
        log_errx("autoscaling: %s reply: malformed XML (%s)", action, agent_rc_str(rc));
        return rc != AGENT_OK ? rc : AGENT_ERR_PARSE;
    }
    return AGENT_OK;
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
    const char *want;
    struct asg_lifecycle_hook *found;
    int n_found;
};

static int
lh_finish(struct mwalk *w)
{
    struct asg_lifecycle_hook *h = w->cur;
    struct lh_user *u = w->user;

    /* The API defaults (aws.md §4.2) when the reply leaves them out. */
    if (!(w->have & LH_HAVE_RESULT))
        str_copy(h->default_result, sizeof(h->default_result), "ABANDON");
    else if (strcmp(h->default_result, "CONTINUE") != 0 &&
             strcmp(h->default_result, "ABANDON") != 0)
        return mw_fail(w, AGENT_ERR_PARSE, "neither CONTINUE nor ABANDON in", "DefaultResult");
    if (!(w->have & LH_HAVE_HEARTBEAT))
        h->heartbeat_timeout_s = DEFAULT_HEARTBEAT_S;
    if (u->n_found == 0 && strcmp(h->name, u->want) == 0) {
        *u->found = *h;
        u->n_found++;
    }
    return 0;
}

enum agent_rc
asg_parse_lifecycle_hooks(const char *xml, size_t len, const char *hook,
                          struct asg_lifecycle_hook *out)
{
    struct asg_lifecycle_hook cur, found;
    struct lh_user u;
    struct mwalk w;
    enum agent_rc rc;

    memset(&w, 0, sizeof(w));
    u.want = hook;
    u.found = &found;
    u.n_found = 0;
    w.action = "DescribeLifecycleHooks";
    w.root = LH_ROOT;
    w.member = LH_MEMBER;
    w.fields = lh_fields;
    w.n_fields = sizeof(lh_fields) / sizeof(lh_fields[0]);
    w.required = 1u << 0;
    w.cur = &cur;
    w.cur_size = sizeof(cur);
    w.finish = lh_finish;
    w.user = &u;
    rc = mw_run(&w, xml, len);
    if (rc != AGENT_OK)
        return rc;
    if (u.n_found == 0) {
        log_errx("autoscaling: DescribeLifecycleHooks reply has no hook %s", hook);
        return AGENT_ERR_ABSENT;
    }
    *out = found;
    return AGENT_OK;
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
    const char *want;
    struct asg_instance *found;
    int n_found;
};

static int
ai_finish(struct mwalk *w)
{
    struct ai_member *m = w->cur;
    struct ai_user *u = w->user;

    if (m->i.asg_name[0] == '\0')
        return mw_fail(w, AGENT_ERR_PARSE, "empty", "AutoScalingGroupName");
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
    struct mwalk w;
    enum agent_rc rc;

    memset(&w, 0, sizeof(w));
    memset(&found, 0, sizeof(found));
    u.want = instance_id;
    u.found = &found;
    u.n_found = 0;
    w.action = "DescribeAutoScalingInstances";
    w.root = AI_ROOT;
    w.member = AI_MEMBER;
    w.fields = ai_fields;
    w.n_fields = sizeof(ai_fields) / sizeof(ai_fields[0]);
    w.required = (1u << 0) | (1u << 1) | (1u << 2);
    w.cur = &cur;
    w.cur_size = sizeof(cur);
    w.finish = ai_finish;
    w.user = &u;
    rc = mw_run(&w, xml, len);
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
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < 1 || n >= ASG_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
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
        log_info("autoscaling: no active lifecycle action for %s on hook %s of %s: nothing to "
                 "complete (already completed, timed out, or not waiting)",
                 instance_id, hook, asg);
    else
        log_info("autoscaling: completed lifecycle action %s for %s on hook %s of %s", result,
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
        log_info("autoscaling: no active lifecycle action for %s on hook %s of %s: no heartbeat "
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
