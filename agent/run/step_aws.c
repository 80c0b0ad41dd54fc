/*
 * The steps that talk to AWS: secrets, register, signal; and the run's AWS
 * client.  Secrets are resolved into memory only, registered with the log
 * redactor at once, and wiped when the run ends.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/autoscaling.h"
#include "aws/cloudformation.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "aws/s3.h"
#include "aws/secretsmanager.h"
#include "aws/ssm.h"
#include "config/secretref.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "node/asg.h"
#include "node/ctx.h"
#include "node/notify.h"
#include "run/life.h"

/* The most bytes one secret value may have. */
#define SECRET_MAX (64 * 1024)
/* WCS's documented default keystore password: public knowledge, not redacted. */
#define WCS_DEFAULT_KEYSTORE_PASSWORD "password"
/* How often register polls target health when register.wait_healthy is set. */
#define HEALTH_POLL_MS 2000

enum agent_rc
run_aws(struct run_ctx *ctx, struct awsapi **out)
{
    struct awsapi_opts o;
    const char *region;
    enum agent_rc rc;

    if (ctx->api != NULL) {
        *out = ctx->api;
        return AGENT_OK;
    }
    region = ctx->cfg->aws.region != NULL ? ctx->cfg->aws.region : ctx->disc.facts.region;
    if (region == NULL) {
        log_errx("aws: no region: set aws.region or AWS_REGION");
        return AGENT_ERR_CONFIG;
    }
    if (ctx->creds == NULL) {
        rc = creds_provider_new(ctx->disc.imds, ctx->disc.have_facts ? ctx->disc.facts.role : NULL,
                                &ctx->creds);
        if (rc != AGENT_OK)
            return rc;
    }
    memset(&o, 0, sizeof(o));
    o.region = region;
    o.partition_domain = ctx->disc.have_facts ? ctx->disc.facts.partition_domain : NULL;
    o.creds = ctx->creds;
    o.deadline = &ctx->deadline;
    rc = awsapi_new(&o, &ctx->api);
    if (rc != AGENT_OK)
        return rc;
    *out = ctx->api;
    return AGENT_OK;
}

void
run_aws_cleanup(struct run_ctx *ctx)
{
    int i;

    for (i = 0; i < SECRET__MAX; i++)
        buf_cleanup(&ctx->secrets.value[i]);
    memset(&ctx->secrets, 0, sizeof(ctx->secrets));
    awsapi_free(ctx->api);
    ctx->api = NULL;
    creds_provider_free(ctx->creds);
    ctx->creds = NULL;
}

/* The group of wcs.home (the WCS group: root:flashphoner), or (gid_t)-1. */
static gid_t
wcs_gid(const struct run_ctx *ctx)
{
    struct stat st;

    if (ctx->cfg->wcs.home == NULL || stat(ctx->cfg->wcs.home, &st) != 0)
        return (gid_t)-1;
    return st.st_gid;
}

enum agent_rc
run_resolve_value(struct run_ctx *ctx, const char *key, const char *value, struct buf *out,
                  char *err, size_t errcap)
{
    struct secretref ref;
    struct awsapi *api = NULL;
    const char *env;
    enum agent_rc rc;
    char why[256] = "";

    memset(&ref, 0, sizeof(ref));
    /* A literal stays a literal, even when a placeholder made it look like a reference. */
    if (!config_is_reference(ctx->cfg, key))
        return buf_puts(out, value);
    rc = secretref_parse(value, &ref, why, sizeof(why));
    if (rc != AGENT_OK) {
        snprintf(err, errcap, "%s: %s", key, why);
        return rc == AGENT_ERR_NOMEM ? rc : AGENT_ERR_CONFIG;
    }
    switch (ref.kind) {
    case SECRETREF_LITERAL:
        rc = buf_puts(out, value);
        break;
    case SECRETREF_ENV:
        env = getenv(ref.name);
        if (env == NULL) {
            snprintf(err, errcap, "%s: environment variable %s is not set", key, ref.name);
            rc = AGENT_ERR_ABSENT;
        } else {
            rc = buf_puts(out, env);
        }
        break;
    case SECRETREF_FILE:
        /* Besides root's, the WCS group (of wcs.home, as the keystore) may read a secret file. */
        rc = fileio_read_private(ref.name, wcs_gid(ctx), out);
        if (rc == AGENT_ERR_ABSENT)
            snprintf(err, errcap, "%s: %s does not exist", key, ref.name);
        else if (rc != AGENT_OK)
            snprintf(err, errcap, "%s: cannot use %s", key, ref.name);
        break;
    case SECRETREF_SSM:
    case SECRETREF_SECRETSMANAGER:
    case SECRETREF_S3:
        rc = run_aws(ctx, &api);
        if (rc != AGENT_OK) {
            snprintf(err, errcap, "%s: no AWS client (%s)", key, agent_rc_str(rc));
            break;
        }
        if (ref.kind == SECRETREF_SSM)
            rc = ssm_get_parameter(api, ref.name, out);
        else if (ref.kind == SECRETREF_SECRETSMANAGER)
            rc = sm_get_secret_value(api, ref.name, ref.field, out);
        else
            rc = s3_get_object(api, ref.bucket, ref.key, out->max, out);
        if (rc == AGENT_ERR_AWS && awsapi_last_error(api) != NULL)
            /* The innermost cause: the AWS code and message, not "aws error" (§8.6). */
            snprintf(err, errcap, "%s: %s: %s: %.200s", key, value, awsapi_last_error(api)->code,
                     awsapi_last_error(api)->message);
        else if (rc != AGENT_OK)
            snprintf(err, errcap, "%s: %s: %s", key, value, agent_rc_str(rc));
        break;
    default:
        snprintf(err, errcap, "%s: unsupported reference", key);
        rc = AGENT_ERR_INVAL;
        break;
    }
    if (rc == AGENT_ERR_TOOBIG)
        snprintf(err, errcap, "%s: the value is larger than %zu bytes", key, out->max);
    secretref_cleanup(&ref);
    return rc;
}

struct secret_key {
    enum secret_id id;
    const char *name;
    int is_secret; /* redacted from every log line and state record */
};

static const struct secret_key secret_keys[SECRET__MAX] = {
    {SECRET_LICENCE, "licence.key", 1},
    {SECRET_TLS_CERTIFICATE, "tls.certificate", 0},
    {SECRET_TLS_CHAIN, "tls.chain", 0},
    {SECRET_TLS_PRIVATE_KEY, "tls.private_key", 1},
    {SECRET_TLS_KEYSTORE_PASSWORD, "tls.keystore_password", 1},
    {SECRET_CDN_POINT_OF_ENTRY, "cdn.point_of_entry", 0},
};

static const char *
secret_config_value(const struct agent_config *cfg, enum secret_id id)
{
    switch (id) {
    case SECRET_LICENCE:
        return cfg->licence.key;
    case SECRET_TLS_CERTIFICATE:
        return cfg->tls.certificate;
    case SECRET_TLS_CHAIN:
        return cfg->tls.chain;
    case SECRET_TLS_PRIVATE_KEY:
        return cfg->tls.private_key;
    case SECRET_TLS_KEYSTORE_PASSWORD:
        return cfg->tls.keystore_password;
    case SECRET_CDN_POINT_OF_ENTRY:
        return cfg->cdn.point_of_entry;
    default:
        return NULL;
    }
}

/*
 * secrets: every configured value that may be a reference is resolved into
 * memory; secret ones are registered with the redactor before anything else
 * can print them.
 */
enum agent_rc
step_secrets(struct run_ctx *ctx, struct state_step *rec)
{
    struct secret_store *s = &ctx->secrets;
    char err[512] = "", detail[256];
    int i, n_refs = 0, n_values = 0;
    enum agent_rc rc = AGENT_OK;

    for (i = 0; i < SECRET__MAX; i++) {
        const char *value = secret_config_value(ctx->cfg, (enum secret_id)i);

        buf_cleanup(&s->value[i]);
        buf_init_secret(&s->value[i], SECRET_MAX);
        s->present[i] = 0;
        if (value == NULL || value[0] == '\0')
            continue;
        if (config_is_reference(ctx->cfg, secret_keys[i].name))
            n_refs++;
        rc = run_resolve_value(ctx, secret_keys[i].name, value, &s->value[i], err, sizeof(err));
        if (rc != AGENT_OK) {
            log_errx("%s", err);
            state_step_set_error(rec, err);
            return rc;
        }
        if (secret_keys[i].is_secret &&
            strcmp(buf_cstr(&s->value[i]), WCS_DEFAULT_KEYSTORE_PASSWORD) != 0) {
            rc = log_redact_add(s->value[i].data, s->value[i].len);
            if (rc != AGENT_OK)
                return rc;
        }
        s->present[i] = 1;
        n_values++;
    }
    ctx->secrets_resolved = 1;
    if (n_refs == 0) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "no secret references");
        return AGENT_OK;
    }
    snprintf(detail, sizeof(detail), "%d reference%s resolved (%d value%s in memory)", n_refs,
             n_refs == 1 ? "" : "s", n_values, n_values == 1 ? "" : "s");
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_OK;
    return AGENT_OK;
}

/* "RegisterTargets <target>: AccessDenied: <message> (request id R)" for a step's error. */
static void
aws_failure(const struct awsapi *api, enum agent_rc rc, const char *action, const char *target,
            char *out, size_t cap)
{
    const struct aws_error *e = awsapi_last_error(api);

    if (rc == AGENT_ERR_AWS && e != NULL)
        snprintf(out, cap, "%s %s: %s: %.120s%s%s%s", action, target, e->code, e->message,
                 e->request_id[0] != '\0' ? " (request id " : "", e->request_id,
                 e->request_id[0] != '\0' ? ")" : "");
    else
        snprintf(out, cap, "%s %s: %s", action, target, agent_rc_str(rc));
}

/* Polls target health until every registration is healthy / InService. */
static enum agent_rc
wait_healthy(struct run_ctx *ctx, struct awsapi *api, const char *id, char *why, size_t cap)
{
    const struct agent_config *cfg = ctx->cfg;
    struct deadline dl;
    size_t i;

    deadline_in(&dl, deadline_cap_ms(&ctx->deadline, cfg->ready.timeout_s * 1000));
    for (;;) {
        int all = 1;
        enum agent_rc rc;

        for (i = 0; all && i < cfg->reg.target_group.n; i++) {
            struct elbv2_target_health h;

            rc = elbv2_describe_target_health(api, cfg->reg.target_group.items[i], id,
                                              cfg->reg.port, &h);
            if (rc != AGENT_OK)
                return rc;
            if (strcmp(h.state, "healthy") != 0) {
                snprintf(why, cap, "%s: %s%s%s", cfg->reg.target_group.items[i], h.state,
                         h.reason[0] != '\0' ? " " : "", h.reason);
                all = 0;
            }
        }
        for (i = 0; all && i < cfg->reg.classic_elb.n; i++) {
            struct elb_instance_health h;

            rc = elb_describe_instance_health(api, cfg->reg.classic_elb.items[i], id, &h);
            if (rc != AGENT_OK)
                return rc;
            if (strcmp(h.state, "InService") != 0) {
                snprintf(why, cap, "%s: %s", cfg->reg.classic_elb.items[i], h.state);
                all = 0;
            }
        }
        if (all)
            return AGENT_OK;
        if (deadline_left_ms(&dl) < HEALTH_POLL_MS)
            return AGENT_ERR_TIMEOUT;
        log_debug("not healthy yet: %s", why);
        clock_sleep_ms(HEALTH_POLL_MS);
    }
}

/* register: the instance joins its target groups (with port) and classic ELBs. */
enum agent_rc
step_register(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    const char *id = ctx->disc.facts.instance_id;
    struct awsapi *api;
    char detail[256], why[400] = "";
    size_t i;
    enum agent_rc rc;

    if (cfg->reg.target_group.n == 0 && cfg->reg.classic_elb.n == 0) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "nothing to register");
        return AGENT_OK;
    }
    if (ctx->opts->dry_run) {
        for (i = 0; i < cfg->reg.target_group.n; i++)
            run_plan("register", "would call elasticloadbalancing RegisterTargets %s %s port %d",
                     cfg->reg.target_group.items[i], id, cfg->reg.port);
        for (i = 0; i < cfg->reg.classic_elb.n; i++)
            run_plan("register",
                     "would call elasticloadbalancing RegisterInstancesWithLoadBalancer %s %s",
                     cfg->reg.classic_elb.items[i], id);
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "dry run");
        return AGENT_OK;
    }
    rc = run_aws(ctx, &api);
    if (rc != AGENT_OK)
        return rc;
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        rc = elbv2_register_targets(api, cfg->reg.target_group.items[i], id, cfg->reg.port);
        if (rc != AGENT_OK) {
            aws_failure(api, rc, "RegisterTargets", cfg->reg.target_group.items[i], why,
                        sizeof(why));
            state_step_set_error(rec, why);
            return rc;
        }
    }
    for (i = 0; i < cfg->reg.classic_elb.n; i++) {
        rc = elb_register_instance(api, cfg->reg.classic_elb.items[i], id);
        if (rc != AGENT_OK) {
            aws_failure(api, rc, "RegisterInstancesWithLoadBalancer", cfg->reg.classic_elb.items[i],
                        why, sizeof(why));
            state_step_set_error(rec, why);
            return rc;
        }
    }
    if (cfg->reg.wait_healthy) {
        rc = wait_healthy(ctx, api, id, why, sizeof(why));
        if (rc != AGENT_OK) {
            char e[420];
            snprintf(e, sizeof(e), "not healthy: %s", why[0] != '\0' ? why : agent_rc_str(rc));
            state_step_set_error(rec, e);
            return rc;
        }
    }
    ctx->st.deregistered[0] = '\0'; /* registered again */
    snprintf(detail, sizeof(detail), "%zu target group%s (port %d), %zu classic ELB%s%s",
             cfg->reg.target_group.n, cfg->reg.target_group.n == 1 ? "" : "s", cfg->reg.port,
             cfg->reg.classic_elb.n, cfg->reg.classic_elb.n == 1 ? "" : "s",
             cfg->reg.wait_healthy ? ", healthy" : "");
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_OK;
    return AGENT_OK;
}

/* The Auto Scaling group (node_find_asg()); in no group is a configuration error here. */
static enum agent_rc
find_asg(struct run_ctx *ctx, struct awsapi *api, char *out, size_t cap)
{
    enum agent_rc rc = node_find_asg(ctx, api, out, cap);

    if (rc == AGENT_ERR_ABSENT) {
        log_errx("signal: %s is in no Auto Scaling group, but signal.lifecycle_hook is set",
                 ctx->disc.facts.instance_id);
        return AGENT_ERR_CONFIG;
    }
    return rc;
}

/* Appends "; text" (or "text") to a detail line. */
static void
add_detail(char *detail, size_t cap, const char *text)
{
    size_t n = strlen(detail);

    if (n + 3 < cap)
        snprintf(detail + n, cap - n, "%s%s", n > 0 ? "; " : "", text);
}

/*
 * signal: the launch hook (CONTINUE, or per signal.on_failure in failure
 * mode), CloudFormation (SUCCESS / FAILURE), systemd READY=1.  Each launch
 * action (the warm-pool one, the in-service one) and CloudFormation are
 * signalled once (state ready.signalled); in a warm pool CloudFormation waits
 * for the instance to enter service.
 */
enum agent_rc
step_signal(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    int failure = ctx->failed, sent = 0, already;
    int warm = run_target(ctx) == RUN_TARGET_WARM;
    unsigned *done = &ctx->st.ready.signalled, hook_bit = run_lifecycle_bit(ctx);
    char detail[512] = "", text[300], asg[256];
    struct awsapi *api = NULL;
    enum agent_rc rc, first_rc = AGENT_OK;

    if (!ctx->disc.have_facts) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "cannot signal without instance metadata");
        return AGENT_OK;
    }
    if (ctx->opts->dry_run) {
        if (cfg->signal.lifecycle_hook != NULL && ((*done & hook_bit) == 0 || ctx->opts->force))
            run_plan("signal", "would call autoscaling CompleteLifecycleAction %s CONTINUE %s%s",
                     cfg->signal.lifecycle_hook, ctx->disc.facts.instance_id,
                     warm ? " (warm pool)" : "");
        if (cfg->signal.cfn_stack != NULL && cfg->signal.cfn_resource != NULL && !warm &&
            ((*done & STATE_SIGNALLED_CLOUDFORMATION) == 0 || ctx->opts->force))
            run_plan("signal", "would call cloudformation SignalResource %s %s SUCCESS",
                     cfg->signal.cfn_stack, cfg->signal.cfn_resource);
        run_plan("signal", "would send systemd READY=1 when run under systemd");
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "dry run");
        return AGENT_OK;
    }
    if (cfg->signal.lifecycle_hook != NULL && ((*done & hook_bit) == 0 || ctx->opts->force)) {
        int cont = !failure || cfg->signal.on_failure == CONFIG_ON_FAILURE_CONTINUE;

        rc = run_aws(ctx, &api);
        if (rc == AGENT_OK)
            rc = find_asg(ctx, api, asg, sizeof(asg));
        if (rc == AGENT_OK)
            rc = asg_complete_lifecycle_action(api, cfg->signal.lifecycle_hook, asg,
                                               ctx->disc.facts.instance_id, cont, &already);
        if (rc == AGENT_OK) {
            *done |= hook_bit;
            snprintf(text, sizeof(text), "hook %s %s%s%s", cfg->signal.lifecycle_hook,
                     cont ? "CONTINUE" : "ABANDON", warm ? " (warm pool)" : "",
                     already ? " (already completed)" : "");
            sent += !already;
        } else {
            aws_failure(api, rc, "CompleteLifecycleAction", cfg->signal.lifecycle_hook, text,
                        sizeof(text));
            first_rc = rc;
            /* A hook that could not be completed leaves the node out of service: no SUCCESS. */
            if (!failure) {
                failure = 1;
                snprintf(ctx->failure, sizeof(ctx->failure), "signal: %s", text);
            }
        }
        add_detail(detail, sizeof(detail), text);
    }
    if (cfg->signal.cfn_stack != NULL && cfg->signal.cfn_resource != NULL && !warm &&
        ((*done & STATE_SIGNALLED_CLOUDFORMATION) == 0 || ctx->opts->force)) {
        rc = run_aws(ctx, &api);
        if (rc == AGENT_OK)
            rc = cfn_signal_resource(api, cfg->signal.cfn_stack, cfg->signal.cfn_resource,
                                     ctx->disc.facts.instance_id, !failure,
                                     failure ? ctx->failure : NULL, &already);
        if (rc == AGENT_OK) {
            *done |= STATE_SIGNALLED_CLOUDFORMATION;
            snprintf(text, sizeof(text), "CloudFormation %s%s", failure ? "FAILURE" : "SUCCESS",
                     already ? " (no longer waiting)" : "");
            sent += !already;
        } else {
            aws_failure(api, rc, "SignalResource", cfg->signal.cfn_resource, text, sizeof(text));
            if (first_rc == AGENT_OK)
                first_rc = rc;
        }
        add_detail(detail, sizeof(detail), text);
    }
    if (!failure) {
        rc = notify_send("READY=1");
        if (rc == AGENT_OK) {
            *done |= STATE_SIGNALLED_SYSTEMD;
            add_detail(detail, sizeof(detail), "systemd READY=1");
        }
        clock_rfc3339(clock_now(), ctx->st.ready.at);
    }
    if (first_rc != AGENT_OK) {
        state_step_set_error(rec, detail);
        return first_rc;
    }
    if (detail[0] == '\0') {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, (*done & (hook_bit | STATE_SIGNALLED_CLOUDFORMATION)) != 0
                                       ? "already signalled on an earlier run"
                                       : "nothing configured");
        return AGENT_OK;
    }
    if (failure)
        add_detail(detail, sizeof(detail), "failure mode");
    state_step_set_detail(rec, detail);
    rec->result = sent > 0 ? STEP_RESULT_CHANGED : STEP_RESULT_OK;
    return AGENT_OK;
}

/* Heartbeat period when the hook's HeartbeatTimeout cannot be read (safe for the 30 s minimum). */
#define HEARTBEAT_DEFAULT_PERIOD_MS (20 * 1000)
/* The first heartbeat: a third of the smallest HeartbeatTimeout AWS allows (30 s). */
#define HEARTBEAT_FIRST_MS (10 * 1000)

/*
 * Lifecycle heartbeats while a launch hook waits for this instance.  The
 * first is due 10 s after the first call (a third of the 30 s minimum
 * HeartbeatTimeout), so a run that is done sooner makes no heartbeat call at
 * all; when it is due, DescribeLifecycleHooks gives the period (a third of
 * the hook's HeartbeatTimeout, or 20 s when that call is denied).  A reply
 * saying no action is active, or any error, stops them for the rest of the
 * run.
 */
enum agent_rc
run_heartbeat(void *arg)
{
    struct run_ctx *ctx = arg;
    const char *hook = ctx->cfg->signal.lifecycle_hook;
    struct asg_lifecycle_hook h;
    struct awsapi *api;
    int64_t now = clock_mono_ms();
    enum agent_rc rc;

    if (ctx->hb_state == 2 || hook == NULL || ctx->opts->dry_run ||
        (ctx->st.ready.signalled & run_lifecycle_bit(ctx)) != 0 || !ctx->disc.have_facts)
        return AGENT_OK;
    if (ctx->hb_state == 0) {
        /* Armed: nothing is asked of AWS until a heartbeat is due. */
        ctx->hb_state = 3;
        ctx->hb_period_ms = HEARTBEAT_FIRST_MS;
        ctx->hb_last_ms = now;
        return AGENT_OK;
    }
    if (now - ctx->hb_last_ms < ctx->hb_period_ms)
        return AGENT_OK;
    ctx->hb_last_ms = now;
    if (run_aws(ctx, &api) != AGENT_OK)
        return AGENT_OK;
    if (ctx->hb_state == 3) {
        ctx->hb_state = 2;
        if (find_asg(ctx, api, ctx->asg, sizeof(ctx->asg)) != AGENT_OK)
            return AGENT_OK;
        ctx->hb_period_ms = HEARTBEAT_DEFAULT_PERIOD_MS;
        if (asg_describe_lifecycle_hooks(api, ctx->asg, hook, &h) == AGENT_OK &&
            h.heartbeat_timeout_s >= 30)
            ctx->hb_period_ms = (int64_t)h.heartbeat_timeout_s * 1000 / 3;
        else
            log_debug("heartbeat: HeartbeatTimeout of %s unknown: every %d s", hook,
                      HEARTBEAT_DEFAULT_PERIOD_MS / 1000);
        ctx->hb_state = 1;
    }
    rc = asg_record_heartbeat(api, hook, ctx->asg, ctx->disc.facts.instance_id);
    if (rc == AGENT_OK) {
        log_debug("heartbeat: %s of %s", hook, ctx->asg);
    } else {
        ctx->hb_state = 2;
        log_debug("heartbeat: stopped (%s)",
                  rc == AGENT_ERR_ABSENT ? "no action waiting" : agent_rc_str(rc));
    }
    return AGENT_OK;
}
