/*
 * deregister: removes this instance from every configured target group and
 * classic ELB (design.md §2), for ExecStop and for operators.
 */
#ifndef AGENT_CMD_DEREGISTER_H
#define AGENT_CMD_DEREGISTER_H

#include "node/env.h"

/*
 * wcs-agent deregister [--wait] [--timeout SECONDS] [--on-stop]: --wait
 * until the targets are `unused` and off the classic ELBs (at most
 * --timeout, default 300 s); --on-stop (the unit's ExecStop) does nothing
 * unless register.deregister_on_stop is true.  Returns the exit status.
 */
int cmd_deregister(const struct run_env *env, int argc, char **argv);

#endif
