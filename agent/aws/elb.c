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

/* An element path from the reply, made safe for a log line. */
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
    log_errx("elb: %s reply: AWS error document: %s", action, code);
}

/*
 * The state shared by both parsers: members of one list, each finished when
 * the next opens or the document ends (leaf events carry no close of the
 * member itself).
 */
struct walk {
    const char *root;   /* expected root element */
    const char *member; /* path of a list member */
    const char *want_id;
    int root_seen;
    int in_member;
    unsigned have;
    /* register/deregister: the ids seen */
    char id[ELB_ID_MAX];
    size_t count;
    int listed;
    /* DescribeInstanceHealth */
    int health;
    struct elb_instance_health cur;
    struct elb_instance_health *found;
    int n_found;
    enum agent_rc rc;
    const char *why;
    char elem[64];
};

static int
w_fail(struct walk *w, enum agent_rc rc, const char *why, const char *elem)
{
    w->rc = rc;
    w->why = why;
    safe_name(w->elem, sizeof(w->elem), elem);
    return 1;
}

static int
w_finish_member(struct walk *w)
{
    const char *id = w->health ? w->cur.instance_id : w->id;

    if (!(w->have & F_ID))
        return w_fail(w, AGENT_ERR_PARSE, "member without", "InstanceId");
    w->in_member = 0;
    if (!w->health) {
        w->count++;
        if (strcmp(id, w->want_id) == 0)
            w->listed = 1;
        return 0;
    }
    if (!(w->have & F_STATE))
        return w_fail(w, AGENT_ERR_PARSE, "member without", "State");
    if (w->n_found == 0 && strcmp(id, w->want_id) == 0) {
        *w->found = w->cur;
        w->n_found++;
    }
    return 0;
}

static int
w_start(void *ctx, const char *path)
{
    struct walk *w = ctx;

    if (!w->root_seen) {
        w->root_seen = 1;
        if (strcmp(path, w->root) != 0)
            return w_fail(w, is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE,
                          "unexpected root element", path);
        return 0;
    }
    if (strcmp(path, w->member) != 0)
        return 0;
    if (w->in_member && w_finish_member(w) != 0)
        return 1;
    memset(&w->cur, 0, sizeof(w->cur));
    w->id[0] = '\0';
    w->have = 0;
    w->in_member = 1;
    return 0;
}

static int
w_field(struct walk *w, unsigned bit, char *dst, size_t cap, const char *text, const char *name)
{
    enum agent_rc rc;

    if (w->have & bit)
        return w_fail(w, AGENT_ERR_PARSE, "repeated element", name);
    w->have |= bit;
    rc = take_text(dst, cap, text);
    if (rc == AGENT_ERR_TOOBIG)
        return w_fail(w, rc, "text over its cap in", name);
    if (rc != AGENT_OK)
        return w_fail(w, rc, "control characters in", name);
    return 0;
}

static int
w_leaf(void *ctx, const char *path, const char *text)
{
    struct walk *w = ctx;
    size_t ml = strlen(w->member);
    const char *sub;
    char *id;

    if (!w->in_member || strncmp(path, w->member, ml) != 0 || path[ml] != '/')
        return 0;
    sub = path + ml + 1;
    if (strcmp(sub, "InstanceId") == 0) {
        id = w->health ? w->cur.instance_id : w->id;
        if (w_field(w, F_ID, id, ELB_ID_MAX, text, sub) != 0)
            return 1;
        if (!is_token(id))
            return w_fail(w, AGENT_ERR_PARSE, "empty or spaced text in", sub);
        return 0;
    }
    if (!w->health)
        return 0;
    if (strcmp(sub, "State") == 0) {
        if (w_field(w, F_STATE, w->cur.state, sizeof(w->cur.state), text, sub) != 0)
            return 1;
        if (!is_token(w->cur.state))
            return w_fail(w, AGENT_ERR_PARSE, "empty or spaced text in", sub);
    } else if (strcmp(sub, "ReasonCode") == 0) {
        return w_field(w, F_REASON, w->cur.reason_code, sizeof(w->cur.reason_code), text, sub);
    } else if (strcmp(sub, "Description") == 0) {
        return w_field(w, F_DESC, w->cur.description, sizeof(w->cur.description), text, sub);
    }
    return 0;
}

/* Runs the walk and logs its failure; AGENT_OK when the document was read whole. */
static enum agent_rc
w_run(struct walk *w, const char *action, const char *xml, size_t len)
{
    struct awsxml_handler h;
    enum agent_rc rc;

    w->rc = AGENT_OK;
    h.start = w_start;
    h.leaf = w_leaf;
    h.ctx = w;
    rc = awsxml_walk(xml, len, &h);
    if (rc == AGENT_OK && w->rc == AGENT_OK && w->in_member)
        w_finish_member(w);
    if (w->rc == AGENT_ERR_AWS) {
        log_error_doc(action, xml, len);
        return AGENT_ERR_AWS;
    }
    if (w->rc != AGENT_OK) {
        log_errx("elb: %s reply: %s %s", action, w->why, w->elem);
        return w->rc;
    }
    if (rc != AGENT_OK || !w->root_seen) {
        log_errx("elb: %s reply: malformed XML (%s)", action, agent_rc_str(rc));
        return rc != AGENT_OK ? rc : AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

enum agent_rc
elb_parse_instances_reply(const char *xml, size_t len, const char *action, const char *instance_id,
                          struct elb_instances_reply *out)
{
    char root[PATH_MAX_], member[PATH_MAX_];
    struct walk w;
    enum agent_rc rc;
    int n;

    n = snprintf(root, sizeof(root), "%sResponse", action);
    if (n < 0 || (size_t)n >= sizeof(root))
        return AGENT_ERR_INVAL;
    n = snprintf(member, sizeof(member), "%s/%sResult/Instances/member", root, action);
    if (n < 0 || (size_t)n >= sizeof(member))
        return AGENT_ERR_INVAL;
    memset(&w, 0, sizeof(w));
    w.root = root;
    w.member = member;
    w.want_id = instance_id;
    rc = w_run(&w, action, xml, len);
    if (rc != AGENT_OK)
        return rc;
    out->count = w.count;
    out->listed = w.listed;
    return AGENT_OK;
}

enum agent_rc
elb_parse_instance_health(const char *xml, size_t len, const char *instance_id,
                          struct elb_instance_health *out)
{
    struct elb_instance_health found;
    struct walk w;
    enum agent_rc rc;

    memset(&w, 0, sizeof(w));
    w.root = IH_ROOT;
    w.member = IH_MEMBER;
    w.want_id = instance_id;
    w.health = 1;
    w.found = &found;
    rc = w_run(&w, "DescribeInstanceHealth", xml, len);
    if (rc != AGENT_OK)
        return rc;
    if (w.n_found == 0) {
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
    log_info("elb: %s %s %s", registering ? "registered" : "deregistered", instance_id, lb_name);
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
