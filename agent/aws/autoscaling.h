/*
 * autoscaling: EC2 Auto Scaling lifecycle hooks (aws.md §4), Query API
 * Version 2011-01-01: CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
 * DescribeLifecycleHooks and DescribeAutoScalingInstances.  The symbols use
 * the short prefix asg_.
 *
 * CompleteLifecycleAction is not idempotent (awsapi retries it only when it
 * cannot have been applied).  A ValidationError whose message holds "No
 * active Lifecycle Action found" means there is nothing to complete (no hook,
 * already completed, timed out): it is not an error here.  The reply parsers
 * are pure functions over the XML text, exposed for tests and fuzzing.
 */
#ifndef AGENT_AWS_AUTOSCALING_H
#define AGENT_AWS_AUTOSCALING_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define ASG_VERSION        "2011-01-01"
#define ASG_NAME_MAX       256 /* group and hook names: 1-255 characters */
#define ASG_STATE_MAX      64
#define ASG_TRANSITION_MAX 64
#define ASG_RESULT_MAX     16
#define ASG_HEALTH_MAX     32

/* The text of the ValidationError that means "nothing to complete". */
#define ASG_NO_ACTIVE_ACTION "No active Lifecycle Action found"

/* One LifecycleHooks member. */
struct asg_lifecycle_hook {
    char name[ASG_NAME_MAX];             /* LifecycleHookName */
    char transition[ASG_TRANSITION_MAX]; /* autoscaling:EC2_INSTANCE_LAUNCHING | _TERMINATING */
    char default_result[ASG_RESULT_MAX]; /* CONTINUE | ABANDON (ABANDON when absent) */
    int heartbeat_timeout_s;             /* HeartbeatTimeout (3600 when absent) */
    int global_timeout_s;                /* GlobalTimeout; 0 when absent */
};

/* What DescribeAutoScalingInstances says about one instance. */
struct asg_instance {
    char asg_name[ASG_NAME_MAX];         /* "" when the instance is in no group */
    char lifecycle_state[ASG_STATE_MAX]; /* Pending:Wait, InService, ...; "" when in no group */
    char health_status[ASG_HEALTH_MAX];  /* Healthy, Unhealthy; "" when absent */
};

/*
 * CompleteLifecycleAction for instance_id (by instance id, no token) on the
 * hook of group asg, with CONTINUE when continue_ is non-zero, else
 * ABANDON.  All borrowed.  *already_done (may be NULL) is set to 1 when AWS
 * answered ValidationError "No active Lifecycle Action found" (logged at
 * info; AGENT_OK), to 0 otherwise on AGENT_OK.  AGENT_ERR_INVAL for a bad
 * argument (logged); the awsapi_query() codes; AGENT_ERR_PARSE for a 2xx
 * reply that is not a CompleteLifecycleActionResponse.
 */
enum agent_rc asg_complete_lifecycle_action(struct awsapi *api, const char *hook, const char *asg,
                                            const char *instance_id, int continue_,
                                            int *already_done);

/*
 * RecordLifecycleActionHeartbeat (restarts the hook's timeout).  AGENT_OK;
 * AGENT_ERR_ABSENT (logged at info) when there is no active lifecycle action
 * to extend, so the caller can stop sending heartbeats; otherwise as
 * asg_complete_lifecycle_action().
 */
enum agent_rc asg_record_heartbeat(struct awsapi *api, const char *hook, const char *asg,
                                   const char *instance_id);

/*
 * DescribeLifecycleHooks of the hook called hook in group asg, into *out
 * (written only on success).  AGENT_OK; AGENT_ERR_ABSENT when the group has
 * no such hook (logged); AGENT_ERR_INVAL; AGENT_ERR_PARSE / AGENT_ERR_TOOBIG
 * for a malformed reply; the awsapi_query() codes.
 */
enum agent_rc asg_describe_lifecycle_hooks(struct awsapi *api, const char *asg, const char *hook,
                                           struct asg_lifecycle_hook *out);

/* The transition of a terminate hook. */
#define ASG_TERMINATING "autoscaling:EC2_INSTANCE_TERMINATING"

/*
 * DescribeLifecycleHooks of group asg (all hooks), into *out the first
 * whose LifecycleTransition is transition.  AGENT_ERR_ABSENT (not logged)
 * when there is none; otherwise as asg_describe_lifecycle_hooks().
 */
enum agent_rc asg_describe_hook_of(struct awsapi *api, const char *asg, const char *transition,
                                   struct asg_lifecycle_hook *out);

/* Pure parser for asg_describe_hook_of(): as asg_parse_lifecycle_hooks(), by transition; silent on
 * ABSENT. */
enum agent_rc asg_parse_lifecycle_hook_of(const char *xml, size_t len, const char *transition,
                                          struct asg_lifecycle_hook *out);

/*
 * DescribeAutoScalingInstances of instance_id into *out (written only on
 * success; asg_name "" when the instance is in no group).  AGENT_OK;
 * AGENT_ERR_INVAL; AGENT_ERR_PARSE / AGENT_ERR_TOOBIG for a malformed reply;
 * the awsapi_query() codes.
 */
enum agent_rc asg_describe_instance(struct awsapi *api, const char *instance_id,
                                    struct asg_instance *out);

/*
 * 1 when err is the ValidationError "No active Lifecycle Action found ...";
 * err may be NULL.
 */
int asg_error_is_no_active_action(const struct aws_error *err);

/*
 * Pure check of a reply with an empty result: well-formed XML whose root is
 * "<action>Response".  AGENT_OK; AGENT_ERR_AWS for an AWS error document;
 * AGENT_ERR_PARSE otherwise (logged).
 */
enum agent_rc asg_parse_empty_reply(const char *xml, size_t len, const char *action);

/*
 * Pure parser of a DescribeLifecycleHooks reply: copies the member whose
 * LifecycleHookName is hook.  Every member needs a LifecycleHookName;
 * HeartbeatTimeout and GlobalTimeout must be whole numbers (1-172800),
 * DefaultResult CONTINUE or ABANDON, texts without control characters and
 * within their caps (refused, never cut).  AGENT_OK; AGENT_ERR_ABSENT when
 * no member matches; AGENT_ERR_AWS for an AWS error document;
 * AGENT_ERR_PARSE; AGENT_ERR_TOOBIG.  Logs one line on failure.
 */
enum agent_rc asg_parse_lifecycle_hooks(const char *xml, size_t len, const char *hook,
                                        struct asg_lifecycle_hook *out);

/*
 * Pure parser of a DescribeAutoScalingInstances reply: copies the member
 * whose InstanceId is instance_id (each member needs InstanceId,
 * AutoScalingGroupName and LifecycleState); an empty list, or a list without
 * the instance, gives AGENT_OK with asg_name "".  AGENT_ERR_AWS for an AWS
 * error document; AGENT_ERR_PARSE; AGENT_ERR_TOOBIG.  Logs one line on
 * failure.
 */
enum agent_rc asg_parse_instances(const char *xml, size_t len, const char *instance_id,
                                  struct asg_instance *out);

/* ---- many instances at once (fleet) ---- */

#define ASG_IDS_PER_CALL 50 /* InstanceIds per DescribeAutoScalingInstances */

struct asg_instance_row {
    char instance_id[32];
    struct asg_instance i;
};

/*
 * DescribeAutoScalingInstances of ids[0..n_ids) (ASG_IDS_PER_CALL a call),
 * into out[0..cap), *n_out rows (an instance in no group has no row).
 * AGENT_ERR_INVAL for a bad id; the awsapi and parser codes.
 */
enum agent_rc asg_describe_instances(struct awsapi *api, const char *const *ids, size_t n_ids,
                                     struct asg_instance_row *out, size_t cap, size_t *n_out);

/* Pure parser behind it: every member, in reply order (AGENT_ERR_TOOBIG over cap). */
enum agent_rc asg_parse_instances_all(const char *xml, size_t len, struct asg_instance_row *out,
                                      size_t cap, size_t *n);

#endif
