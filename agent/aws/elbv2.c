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

/* The root element of an AWS error document (Query protocol or S3). */
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

/* Logs why an error document came back where a result was expected. */
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
    log_errx("elbv2: %s reply: AWS error document: %s", action, code);
}

/* ---- the empty-result reply ---- */

struct ack_ctx {
    const char *want; /* "<Action>Response" */
    int root_seen;
    enum agent_rc rc;
    char root[64];
};

static int
ack_start(void *vctx, const char *path)
{
    struct ack_ctx *c = vctx;

    if (c->root_seen)
        return 0;
    c->root_seen = 1;
    if (strcmp(path, c->want) == 0)
        return 0;
    c->rc = is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE;
    safe_name(c->root, sizeof(c->root), path);
    return 1;
}

enum agent_rc
elbv2_parse_empty_reply(const char *xml, size_t len, const char *action)
{
    struct awsxml_handler h;
    struct ack_ctx c;
    char want[128];
    enum agent_rc rc;

    memset(&c, 0, sizeof(c));
    if (snprintf(want, sizeof(want), "%sResponse", action) >= (int)sizeof(want))
        return AGENT_ERR_INVAL;
    c.want = want;
    c.rc = AGENT_OK;
    h.start = ack_start;
    h.leaf = NULL;
    h.ctx = &c;
    rc = awsxml_walk(xml, len, &h);
    if (c.rc == AGENT_ERR_AWS) {
        log_error_doc(action, xml, len);
        return AGENT_ERR_AWS;
    }
    if (c.rc != AGENT_OK) {
        log_errx("elbv2: %s reply: root element %s, expected %s", action, c.root, want);
        return c.rc;
    }
    if (rc != AGENT_OK || !c.root_seen) {
        log_errx("elbv2: %s reply: malformed XML (%s)", action, agent_rc_str(rc));
        return rc != AGENT_OK ? rc : AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

/* ---- DescribeTargetHealth ---- */

struct th_ctx {
    const char *want_id;
    int want_port;
    int root_seen;
    int in_member;
    unsigned have; /* F_* of cur */
    struct elbv2_target_health cur;
    struct elbv2_target_health *found; /* the caller's staging copy */
    int n_found;
    enum agent_rc rc;
    const char *why; /* static text for the log line */
    char elem[64];   /* the element concerned, for the log line */
};

static int
th_fail(struct th_ctx *c, enum agent_rc rc, const char *why, const char *elem)
{
    c->rc = rc;
    c->why = why;
    safe_name(c->elem, sizeof(c->elem), elem);
    return 1;
}

/* Checks the member just read and keeps it when it is the one wanted. */
static int
th_finish_member(struct th_ctx *c)
{
    if (!(c->have & F_ID))
        return th_fail(c, AGENT_ERR_PARSE, "member without", "Target/Id");
    if (!(c->have & F_STATE))
        return th_fail(c, AGENT_ERR_PARSE, "member without", "TargetHealth/State");
    if (c->n_found == 0 && strcmp(c->cur.id, c->want_id) == 0 &&
        (c->want_port <= 0 || c->cur.port == c->want_port)) {
        *c->found = c->cur;
        c->n_found++;
    }
    c->in_member = 0;
    return 0;
}

static int
th_start(void *vctx, const char *path)
{
    struct th_ctx *c = vctx;

    if (!c->root_seen) {
        c->root_seen = 1;
        if (strcmp(path, TH_ROOT) != 0)
            return th_fail(c, is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE,
                           "unexpected root element", path);
        return 0;
    }
    if (strcmp(path, TH_MEMBER) != 0)
        return 0;
    if (c->in_member && th_finish_member(c) != 0)
        return 1;
    memset(&c->cur, 0, sizeof(c->cur));
    c->have = 0;
    c->in_member = 1;
    return 0;
}

/* Stores one field of the current member; refuses repeats and bad texts. */
static int
th_field(struct th_ctx *c, unsigned bit, char *dst, size_t cap, const char *text, const char *name)
{
    enum agent_rc rc;

    if (c->have & bit)
        return th_fail(c, AGENT_ERR_PARSE, "repeated element", name);
    c->have |= bit;
    rc = take_text(dst, cap, text);
    if (rc == AGENT_ERR_TOOBIG)
        return th_fail(c, rc, "text over its cap in", name);
    if (rc != AGENT_OK)
        return th_fail(c, rc, "control characters in", name);
    return 0;
}

static int
th_leaf(void *vctx, const char *path, const char *text)
{
    struct th_ctx *c = vctx;
    const char *sub;
    char port[16];

    if (!c->in_member || !str_has_prefix(path, TH_MEMBER "/"))
        return 0;
    sub = path + strlen(TH_MEMBER "/");
    if (strcmp(sub, "Target/Id") == 0) {
        if (th_field(c, F_ID, c->cur.id, sizeof(c->cur.id), text, sub) != 0)
            return 1;
        if (!is_token(c->cur.id))
            return th_fail(c, AGENT_ERR_PARSE, "empty or spaced text in", sub);
    } else if (strcmp(sub, "Target/Port") == 0) {
        if (th_field(c, F_PORT, port, sizeof(port), text, sub) != 0)
            return 1;
        if (str_to_int(port, 1, 65535, &c->cur.port) != AGENT_OK)
            return th_fail(c, AGENT_ERR_PARSE, "not a port number in", sub);
    } else if (strcmp(sub, "TargetHealth/State") == 0) {
        if (th_field(c, F_STATE, c->cur.state, sizeof(c->cur.state), text, sub) != 0)
            return 1;
        if (!is_token(c->cur.state))
            return th_fail(c, AGENT_ERR_PARSE, "empty or spaced text in", sub);
    } else if (strcmp(sub, "TargetHealth/Reason") == 0) {
        return th_field(c, F_REASON, c->cur.reason, sizeof(c->cur.reason), text, sub);
    } else if (strcmp(sub, "TargetHealth/Description") == 0) {
        return th_field(c, F_DESC, c->cur.description, sizeof(c->cur.description), text, sub);
    }
    return 0;
}

enum agent_rc
elbv2_parse_target_health(const char *xml, size_t len, const char *instance_id, int port,
                          struct elbv2_target_health *out)
{
    struct elbv2_target_health found;
    struct awsxml_handler h;
    struct th_ctx c;
    enum agent_rc rc;

    memset(&c, 0, sizeof(c));
    c.want_id = instance_id;
    c.want_port = port;
    c.found = &found;
    c.rc = AGENT_OK;
    h.start = th_start;
    h.leaf = th_leaf;
    h.ctx = &c;
    rc = awsxml_walk(xml, len, &h);
    if (rc == AGENT_OK && c.rc == AGENT_OK && c.in_member)
        th_finish_member(&c);
    if (c.rc == AGENT_ERR_AWS) {
        log_error_doc("DescribeTargetHealth", xml, len);
        return AGENT_ERR_AWS;
    }
    if (c.rc != AGENT_OK) {
        log_errx("elbv2: DescribeTargetHealth reply: %s %s", c.why, c.elem);
        return c.rc;
    }
    if (rc != AGENT_OK || !c.root_seen) {
        log_errx("elbv2: DescribeTargetHealth reply: malformed XML (%s)", agent_rc_str(rc));
        return rc != AGENT_OK ? rc : AGENT_ERR_PARSE;
    }
    if (c.n_found == 0) {
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
