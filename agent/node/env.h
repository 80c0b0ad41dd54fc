/*
 * env: what main hands to every command (the config layers below user data,
 * the state folder) and the options of one pipeline run.
 */
#ifndef AGENT_NODE_ENV_H
#define AGENT_NODE_ENV_H

#include "config/config.h"

struct run_opts {
    unsigned only; /* bitmask of (1u << enum step_id); 0: every step */
    unsigned skip; /* bitmask of steps not to run */
    int force;     /* redo steps that would skip */
    int dry_run;   /* change nothing, call no mutating API */
};

/* What main hands to a command: the config layers below user data. */
struct run_env {
    struct config_input in; /* path, --set (overlays and facts are added by discover) */
    const char *state_dir;  /* --state-dir, or NULL: agent.state_dir */
};

#endif
