/*
 * ctx: what one run of the node carries: config, facts, AWS clients, secrets,
 * state (the pipeline in run/ and the commands in cmd/ share it).
 */
#ifndef AGENT_NODE_CTX_H
#define AGENT_NODE_CTX_H

#include <stdint.h>

#include "aws/awsapi.h"
#include "aws/creds.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/rc.h"
#include "node/discover.h"
#include "node/env.h"
#include "node/state.h"

/* The secret values a run may need, resolved by the secrets step. */
enum secret_id {
    SECRET_LICENCE,
    SECRET_TLS_CERTIFICATE,
    SECRET_TLS_CHAIN,
    SECRET_TLS_PRIVATE_KEY,
    SECRET_TLS_KEYSTORE_PASSWORD,
    SECRET_CDN_POINT_OF_ENTRY,
    SECRET__MAX
};

struct secret_store {
    struct buf value[SECRET__MAX]; /* secret buffers, wiped on release */
    int present[SECRET__MAX];
};

struct run_ctx {
    const struct run_env *env;
    const struct run_opts *opts;
    struct agent_config *cfg; /* phase 1 until discover, then the full config */
    struct discovery disc;
    struct state st;
    char state_dir[4096]; /* fixed before user data is read */
    struct deadline deadline;
    unsigned changed; /* bitmask of steps that changed something */
    /* discover's first half runs before the state is written; its outcome is kept here. */
    enum agent_rc disc_rc;
    char disc_error[256];
    char disc_started[32];
    int64_t disc_t0;
    int64_t disc_ms;
    /* AWS, created on first use. */
    struct creds_provider *creds;
    struct awsapi *api;
    struct secret_store secrets;
    int secrets_resolved;
    /* The failure that put signal in failure mode, or "" */
    char failure[512];
    int failed;
    /* Lifecycle heartbeats while a launch hook is pending (run/step_aws.c). */
    int hb_state; /* 0 not yet called, 3 armed (first due after 10 s), 1 sending, 2 stopped */
    int64_t hb_period_ms;
    int64_t hb_last_ms;
    char asg[256]; /* the Auto Scaling group, once found */
    /* Drain-safe restarts (run/life.c, design.md §8.3). */
    int restart_deferred;    /* 1 restart.mode = defer, 2 another drain: WCS keeps the old files */
    long long restart_calls; /* connections when the restart was decided; -1 unknown */
    int restart_drained;     /* service drained the node for its restart */
};

/* The AWS client of the run, created on first use (region and credentials logged on failure). */
enum agent_rc run_aws(struct run_ctx *ctx, struct awsapi **out);

/* Releases the AWS client, credentials and secrets. */
void run_aws_cleanup(struct run_ctx *ctx);

/* The step functions of run/step_aws.c. */
enum agent_rc step_secrets(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_register(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_signal(struct run_ctx *ctx, struct state_step *rec);

/* The step functions of run/step_wcs.c. */
enum agent_rc step_update(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_configure(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_licence(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_tls(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_service(struct run_ctx *ctx, struct state_step *rec);

enum agent_rc step_ready(struct run_ctx *ctx, struct state_step *rec);

/*
 * Sends a lifecycle heartbeat when one is due: a launch hook is configured
 * and not yet completed, at a period derived from its HeartbeatTimeout.
 * Never fails the caller: problems are logged and heartbeats stop.
 */
enum agent_rc run_heartbeat(void *ctx);

/* Prints a plan line (dry run) to stdout, redacted. */
void run_plan(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Resolves the configured value of key (a reference or a literal) into out (a
 * secret buffer); only a value config_is_reference() calls a reference is
 * resolved, anything else is taken as the literal it is.
 */
enum agent_rc run_resolve_value(struct run_ctx *ctx, const char *key, const char *value,
                                struct buf *out, char *err, size_t errcap);

#endif
