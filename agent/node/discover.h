/*
 * discover: the two-phase configuration load shared by run, metadata and
 * check-config.
 *
 * Phase 1 loads the layers that do not need the instance (defaults, files,
 * environment, --set) to learn how to reach IMDS.  Discovery then reads the
 * instance's facts and user data, and phase 2 loads every layer again with
 * the user-data overlays and expands the placeholders with the facts.
 */
#ifndef AGENT_NODE_DISCOVER_H
#define AGENT_NODE_DISCOVER_H

#include "aws/imds.h"
#include "config/config.h"
#include "config/userdata.h"
#include "core/clock.h"
#include "core/rc.h"
#include "node/env.h"

struct discovery {
    struct imds_client *imds;
    struct imds_facts facts;
    int have_facts;
    struct userdata ud;
    int have_user_data;     /* ud holds the parsed user data */
    int apply_user_data;    /* its overlays are applied (agent.user_data = apply) */
    struct config_facts cf; /* a view of facts for placeholders */
    const char **tag_keys;  /* arrays behind cf */
    const char **tag_values;
    char user_data_error[256]; /* why the user data cannot be used ("" when it can) */
};

/*
 * Loads the configuration.  With d == NULL, phase 1 (no user data, no
 * placeholder expansion); otherwise phase 2 with d's overlays and facts.
 * Every configuration error is logged ("FILE:LINE: message"), then
 * AGENT_ERR_CONFIG.
 */
enum agent_rc discover_load_config(const struct run_env *env, const struct discovery *d,
                                   struct agent_config **out);

/* As discover_load_config(), with the first error line copied to why[cap] (may be NULL). */
enum agent_rc discover_load_config_why(const struct run_env *env, const struct discovery *d,
                                       struct agent_config **out, char *why, size_t cap);

/*
 * Reads the facts and the user data from IMDS per cfg; the user data is
 * parsed unless agent.user_data = ignore.  On failure d holds nothing.
 * AGENT_ERR_CONFIG when the user data is meant for the agent but malformed.
 */
enum agent_rc discover_facts(const struct agent_config *cfg, const struct deadline *dl,
                             struct discovery *d);

/*
 * discover_facts() fetches what a run needs in as few IMDS requests as it
 * can (imds_discover_lean(): the identity document; only the tags the
 * configuration and the user data name, plus aws:autoscaling:groupName);
 * discover_facts_all() fetches every fact and every tag (metadata, inspect).
 */
enum agent_rc discover_facts_all(const struct agent_config *cfg, const struct deadline *dl,
                                 struct discovery *d);

void discovery_cleanup(struct discovery *d);

/* "i-0abc eu-west-1a c5.large 10.0.1.23/203.0.113.10 user data: overlay" into out[cap]. */
void discover_summary(const struct discovery *d, char *out, size_t cap);

#endif
