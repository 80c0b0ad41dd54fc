/*
 * Fuzz target: the reply parsers of metrics, the result tag, fleet and
 * doctor (EC2 DescribeInstances, and the list forms of DescribeTargetHealth,
 * DescribeInstanceHealth, DescribeAutoScalingInstances, DescribeTargetGroups
 * and DescribeTargetGroupAttributes).  The first byte picks the parser ('A'
 * + n, modulo their number), the rest is the reply.  Whatever is accepted
 * must hold only terminated texts within their caps and counts within the
 * room given; a refused reply must leave the count as it was.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/autoscaling.h"
#include "aws/ec2.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum target {
    T_EC2,
    T_TH_ALL,
    T_ELB_ALL,
    T_ASG_ALL,
    T_TG,
    T_TG_ATTRS,
    T__MAX
};

#define ROOM 4

static void
check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap), i;

    if (n == cap)
        abort();
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            abort();
}

static void
ec2(const char *x, size_t n)
{
    static struct ec2_instance out[ROOM];
    size_t k = 1, i, t;

    memset(out, 0xa5, sizeof(out));
    if (ec2_parse_instances(x, n, out, ROOM, &k) != AGENT_OK) {
        if (k != 1)
            abort();
        return;
    }
    if (k < 1 || k > ROOM)
        abort();
    for (i = 1; i < k; i++) {
        check_text(out[i].id, sizeof(out[i].id));
        check_text(out[i].private_ip, sizeof(out[i].private_ip));
        check_text(out[i].az, sizeof(out[i].az));
        check_text(out[i].state, sizeof(out[i].state));
        if (out[i].id[0] == '\0' || out[i].n_tags > EC2_MAX_TAGS || out[i].hop_limit < 0 ||
            out[i].hop_limit > 64)
            abort();
        for (t = 0; t < out[i].n_tags; t++) {
            check_text(out[i].tags[t].key, sizeof(out[i].tags[t].key));
            check_text(out[i].tags[t].value, sizeof(out[i].tags[t].value));
        }
    }
}

static void
lists(const char *x, size_t n, enum target which)
{
    struct elbv2_target_health th[ROOM];
    struct elb_instance_health ih[ROOM];
    struct asg_instance_row ai[ROOM];
    size_t k = 99, i;

    switch (which) {
    case T_TH_ALL:
        if (elbv2_parse_target_health_all(x, n, th, ROOM, &k) != AGENT_OK)
            break;
        if (k > ROOM)
            abort();
        for (i = 0; i < k; i++) {
            check_text(th[i].id, sizeof(th[i].id));
            check_text(th[i].state, sizeof(th[i].state));
            check_text(th[i].reason, sizeof(th[i].reason));
        }
        return;
    case T_ELB_ALL:
        if (elb_parse_instance_health_all(x, n, ih, ROOM, &k) != AGENT_OK)
            break;
        if (k > ROOM)
            abort();
        for (i = 0; i < k; i++) {
            check_text(ih[i].instance_id, sizeof(ih[i].instance_id));
            check_text(ih[i].state, sizeof(ih[i].state));
        }
        return;
    default:
        if (asg_parse_instances_all(x, n, ai, ROOM, &k) != AGENT_OK)
            break;
        if (k > ROOM)
            abort();
        for (i = 0; i < k; i++) {
            check_text(ai[i].instance_id, sizeof(ai[i].instance_id));
            check_text(ai[i].i.lifecycle_state, sizeof(ai[i].i.lifecycle_state));
        }
        return;
    }
    if (k != 99)
        abort();
}

static void
target_group(const char *x, size_t n, int attributes)
{
    struct elbv2_target_group g;

    memset(&g, 0, sizeof(g));
    g.deregistration_delay_s = -1;
    if (elbv2_parse_target_group(x, n, attributes, &g) != AGENT_OK)
        return;
    check_text(g.arn, sizeof(g.arn));
    check_text(g.health_check_port, sizeof(g.health_check_port));
    check_text(g.health_check_path, sizeof(g.health_check_path));
    if (g.deregistration_delay_s < -1 || g.deregistration_delay_s > 3600)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    const char *x;
    size_t n;
    enum target t;

    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }
    if (size < 1)
        return 0;
    x = (const char *)data + 1;
    n = size - 1;
    t = (enum target)((unsigned char)(data[0] - 'A') % T__MAX);
    if (t == T_EC2)
        ec2(x, n);
    else if (t == T_TG || t == T_TG_ATTRS)
        target_group(x, n, t == T_TG_ATTRS);
    else
        lists(x, n, t);
    return 0;
}
