/*
 * balancer: this instance in and out of its load balancers (the target groups
 * of register.target_group, with register.port, and the classic ELBs of
 * register.classic_elb).  Shared by `deregister`, the drain engine and
 * `undrain`; both calls are idempotent (AWS accepts a repeated registration
 * and a deregistration of a target it no longer has).
 */
#ifndef AGENT_NODE_BALANCER_H
#define AGENT_NODE_BALANCER_H

#include <stddef.h>

#include "core/rc.h"
#include "node/ctx.h"

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
