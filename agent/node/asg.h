/*
 * asg: this instance's Auto Scaling group and terminate hook, found the same
 * way by the launch signal, the drain's heartbeats and doctor.
 */
#ifndef AGENT_NODE_ASG_H
#define AGENT_NODE_ASG_H

#include <stddef.h>

#include "aws/autoscaling.h"
#include "core/rc.h"
#include "node/ctx.h"

/*
 * The group's name into out: ctx->asg when known, signal.asg, the
 * aws:autoscaling:groupName instance tag, else DescribeAutoScalingInstances
 * (api may be NULL when the first three suffice).  AGENT_ERR_ABSENT (not
 * logged) when the instance is in no group; otherwise the API's codes.
 */
enum agent_rc node_find_asg(const struct run_ctx *ctx, struct awsapi *api, char *out, size_t cap);

/*
 * The terminate hook of group asg into *out: signal.terminate_hook by name
 * when set, else the group's autoscaling:EC2_INSTANCE_TERMINATING hook.
 * AGENT_ERR_ABSENT when there is none; otherwise the API's codes.
 */
enum agent_rc node_find_terminate_hook(const struct run_ctx *ctx, struct awsapi *api,
                                       const char *asg, struct asg_lifecycle_hook *out);

#endif
