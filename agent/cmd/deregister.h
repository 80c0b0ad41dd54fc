/*
 * deregister: removes this instance from every configured target group and
 * classic ELB (design.md §2), for ExecStop and for operators.
 */
#ifndef AGENT_CMD_DEREGISTER_H
#define AGENT_CMD_DEREGISTER_H

#include <stdint.h>

#include "core/rc.h"
#include "node/env.h"

struct deregister_opts {
    int wait;          /* until the targets are `unused` and off the classic ELBs */
    int64_t timeout_s; /* with wait: at most this long (default 300) */
    int on_stop;       /* invoked by the unit's ExecStop: do nothing unless
                          register.deregister_on_stop is true */
};

enum agent_rc deregister_command(const struct run_env *env, const struct deregister_opts *o);

#endif
