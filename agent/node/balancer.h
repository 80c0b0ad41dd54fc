/*
 * balancer: this instance in and out of its load balancers (the target groups
 * of register.target_group, with register.port, and the classic ELBs of
 * register.classic_elb).  Shared by `deregister`, the drain engine and
 * `undrain`; both are idempotent: a repeated registration is accepted, and a
 * deregistration first asks whether the balancer still has the instance
 * ("not registered" is logged and is a success).
 */
#ifndef AGENT_NODE_BALANCER_H
#define AGENT_NODE_BALANCER_H

#include <stddef.h>

#include "aws/elb.h"
#include "core/rc.h"
#include "node/ctx.h"

/*
 * 1 when a classic ELB's DescribeInstanceHealth reply says the instance is
 * not registered (state Unknown, or "not currently registered").
 */
int balancer_elb_not_registered(const struct elb_instance_health *h);

/* 1 when register.target_group or register.classic_elb names anything. */
int balancer_configured(const struct agent_config *cfg);

/*
 * Deregisters ctx's instance from every configured balancer (each logged).
 * Stops at the first failure: why[cap] names the call and the cause.
 */
enum agent_rc balancer_deregister(struct run_ctx *ctx, char *why, size_t cap);

/* Registers ctx's instance with every configured balancer; as balancer_deregister(). */
enum agent_rc balancer_register(struct run_ctx *ctx, char *why, size_t cap);

#endif
