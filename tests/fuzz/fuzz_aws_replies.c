/*
 * Fuzz target: every pure reply parser of the AWS service clients.  The
 * first byte picks the parser ('A' + n, modulo the number of parsers), the
 * rest is the reply.  Whatever is accepted must hold only well-formed,
 * terminated texts within their caps; whatever is refused must leave the
 * outputs untouched.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/autoscaling.h"
#include "aws/cloudformation.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "aws/secretsmanager.h"
#include "aws/ssm.h"
#include "core/buf.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IID "i-0123456789abcdef0"

enum target {
    T_ELBV2_HEALTH,
    T_ELBV2_EMPTY,
    T_ELB_INSTANCES,
    T_ELB_HEALTH,
    T_ASG_HOOKS,
    T_ASG_INSTANCES,
    T_ASG_EMPTY,
    T_CFN_EMPTY,
    T_SSM,
    T_SM,
    T_SM_FIELD,
    T_ASG_HOOK_OF,
    T__MAX
};

/* A text field: terminated inside its array, no control characters. */
static void
check_text(const char *s, size_t cap, int need_token)
{
    size_t n = strnlen(s, cap), i;

    if (n == cap || (need_token && n == 0))
        abort();
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            abort();
        if (need_token && s[i] == ' ')
            abort();
    }
}

static void
untouched(const void *a, const void *b, size_t n)
{
    if (memcmp(a, b, n) != 0)
        abort();
}

static void
elbv2_health(const char *x, size_t n, int port)
{
    struct elbv2_target_health th, before;

    memset(&th, 0xa5, sizeof(th));
    before = th;
    if (elbv2_parse_target_health(x, n, IID, port, &th) != AGENT_OK) {
        untouched(&th, &before, sizeof(th));
        return;
    }
    check_text(th.id, sizeof(th.id), 1);
    check_text(th.state, sizeof(th.state), 1);
    check_text(th.reason, sizeof(th.reason), 0);
    check_text(th.description, sizeof(th.description), 0);
    if (strcmp(th.id, IID) != 0 || th.port < 0 || th.port > 65535 || (port > 0 && th.port != port))
        abort();
}

static void
elb_instances(const char *x, size_t n)
{
    struct elb_instances_reply r, before;

    memset(&r, 0xa5, sizeof(r));
    before = r;
    if (elb_parse_instances_reply(x, n, "RegisterInstancesWithLoadBalancer", IID, &r) != AGENT_OK) {
        untouched(&r, &before, sizeof(r));
        return;
    }
    if ((r.listed != 0 && r.listed != 1) || (r.listed && r.count == 0))
        abort();
}

static void
elb_health(const char *x, size_t n)
{
    struct elb_instance_health ih, before;

    memset(&ih, 0xa5, sizeof(ih));
    before = ih;
    if (elb_parse_instance_health(x, n, IID, &ih) != AGENT_OK) {
        untouched(&ih, &before, sizeof(ih));
        return;
    }
    check_text(ih.instance_id, sizeof(ih.instance_id), 1);
    check_text(ih.state, sizeof(ih.state), 1);
    check_text(ih.reason_code, sizeof(ih.reason_code), 0);
    check_text(ih.description, sizeof(ih.description), 0);
    if (strcmp(ih.instance_id, IID) != 0)
        abort();
}

static void
asg_hooks(const char *x, size_t n)
{
    struct asg_lifecycle_hook h, before;

    memset(&h, 0xa5, sizeof(h));
    before = h;
    if (asg_parse_lifecycle_hooks(x, n, "launch", &h) != AGENT_OK) {
        untouched(&h, &before, sizeof(h));
        return;
    }
    check_text(h.name, sizeof(h.name), 1);
    check_text(h.transition, sizeof(h.transition), 0);
    check_text(h.default_result, sizeof(h.default_result), 1);
    if (strcmp(h.name, "launch") != 0 || h.heartbeat_timeout_s < 1 ||
        h.heartbeat_timeout_s > 172800 || h.global_timeout_s < 0 || h.global_timeout_s > 172800 ||
        (strcmp(h.default_result, "CONTINUE") != 0 && strcmp(h.default_result, "ABANDON") != 0))
        abort();
}

/* The terminate hook by its transition (the drain's lookup). */
static void
asg_hook_of(const char *x, size_t n)
{
    struct asg_lifecycle_hook h, before;

    memset(&h, 0xa5, sizeof(h));
    before = h;
    if (asg_parse_lifecycle_hook_of(x, n, ASG_TERMINATING, &h) != AGENT_OK) {
        untouched(&h, &before, sizeof(h));
        return;
    }
    check_text(h.name, sizeof(h.name), 0);
    check_text(h.transition, sizeof(h.transition), 1);
    if (strcmp(h.transition, ASG_TERMINATING) != 0 || h.heartbeat_timeout_s < 1 ||
        h.heartbeat_timeout_s > 172800)
        abort();
}

static void
asg_instances(const char *x, size_t n)
{
    struct asg_instance ai, before;

    memset(&ai, 0xa5, sizeof(ai));
    before = ai;
    if (asg_parse_instances(x, n, IID, &ai) != AGENT_OK) {
        untouched(&ai, &before, sizeof(ai));
        return;
    }
    check_text(ai.asg_name, sizeof(ai.asg_name), 0);
    check_text(ai.lifecycle_state, sizeof(ai.lifecycle_state), 0);
    check_text(ai.health_status, sizeof(ai.health_status), 0);
    /* In a group means a state too; in none means no state. */
    if ((ai.asg_name[0] == '\0') != (ai.lifecycle_state[0] == '\0'))
        abort();
}

/* A secret parser: refused leaves the buffer as it was, accepted only appends. */
static void
secret(const char *x, size_t n, int which)
{
    struct buf v;
    enum agent_rc rc;

    buf_init_secret(&v, 4096);
    if (buf_puts(&v, "pre") != AGENT_OK)
        abort();
    if (which == T_SSM)
        rc = ssm_parse_get_parameter(x, n, &v);
    else
        rc = sm_parse_get_secret_value(x, n, "fuzz/secret", which == T_SM_FIELD ? "password" : NULL,
                                       &v);
    if (v.len < 3 || memcmp(v.data, "pre", 3) != 0 || v.len > v.max)
        abort();
    if (rc != AGENT_OK && v.len != 3)
        abort();
    buf_cleanup(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    const char *x;
    size_t n;

    /* The parsers log why they refuse; keep the fuzzer's output clean. */
    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }
    if (size < 1)
        return 0;
    x = (const char *)data + 1;
    n = size - 1;
    switch ((enum target)((unsigned char)(data[0] - 'A') % T__MAX)) {
    case T_ELBV2_HEALTH:
        elbv2_health(x, n, 8080);
        elbv2_health(x, n, 0);
        break;
    case T_ELBV2_EMPTY:
        (void)elbv2_parse_empty_reply(x, n, "RegisterTargets");
        break;
    case T_ELB_INSTANCES:
        elb_instances(x, n);
        break;
    case T_ELB_HEALTH:
        elb_health(x, n);
        break;
    case T_ASG_HOOKS:
        asg_hooks(x, n);
        break;
    case T_ASG_INSTANCES:
        asg_instances(x, n);
        break;
    case T_ASG_HOOK_OF:
        asg_hook_of(x, n);
        break;
    case T_ASG_EMPTY:
        (void)asg_parse_empty_reply(x, n, "CompleteLifecycleAction");
        break;
    case T_CFN_EMPTY:
        (void)cfn_parse_empty_reply(x, n, "SignalResource");
        break;
    case T_SSM:
    case T_SM:
    case T_SM_FIELD:
        secret(x, n, (int)((unsigned char)(data[0] - 'A') % T__MAX));
        break;
    case T__MAX:
        break;
    }
    return 0;
}
