/*
 * elbv2: Elastic Load Balancing v2 target groups (aws.md §3.1), Query API
 * Version 2015-12-01: RegisterTargets, DeregisterTargets and
 * DescribeTargetHealth for one instance target.
 *
 * Register and deregister are idempotent (AWS accepts a repeat) and may be
 * retried by awsapi.  Every failure is logged once (awsapi logs AWS errors);
 * callers only pass the code up.  The reply parsers are pure functions over
 * the XML text, exposed for tests and fuzzing.
 */
#ifndef AGENT_AWS_ELBV2_H
#define AGENT_AWS_ELBV2_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define ELBV2_VERSION         "2015-12-01"
#define ELBV2_ID_MAX          128  /* Target.Id: an instance id, an IP address, an ARN */
#define ELBV2_STATE_MAX       32   /* "unhealthy.draining" is the longest known */
#define ELBV2_REASON_MAX      64   /* "Target.DeregistrationInProgress" */
#define ELBV2_DESCRIPTION_MAX 1024 /* free text from AWS */

/* One TargetHealthDescriptions member. */
struct elbv2_target_health {
    char id[ELBV2_ID_MAX];                   /* Target.Id */
    int port;                                /* Target.Port; 0 when the reply has none */
    char state[ELBV2_STATE_MAX];             /* initial, healthy, unhealthy, unused, draining,
                                                unavailable, unhealthy.draining */
    char reason[ELBV2_REASON_MAX];           /* TargetHealth.Reason; "" when absent */
    char description[ELBV2_DESCRIPTION_MAX]; /* TargetHealth.Description; "" when absent */
};

/*
 * Registers instance_id (an EC2 instance id) with the target group tg_arn
 * (an ARN) on port (1-65535; 0: the target group's port).  All borrowed.
 * AGENT_OK; AGENT_ERR_INVAL for a bad argument (logged); otherwise the
 * awsapi_query() codes (AGENT_ERR_AWS: TargetGroupNotFound, InvalidTarget,
 * ...), or AGENT_ERR_PARSE when a 2xx reply is not a RegisterTargetsResponse.
 */
enum agent_rc elbv2_register_targets(struct awsapi *api, const char *tg_arn,
                                     const char *instance_id, int port);

/* DeregisterTargets, with the same arguments and codes as elbv2_register_targets(). */
enum agent_rc elbv2_deregister_targets(struct awsapi *api, const char *tg_arn,
                                       const char *instance_id, int port);

/*
 * DescribeTargetHealth of instance_id on port (0: any port, the first member
 * for the instance) in tg_arn, into *out (written only on success).
 * AGENT_OK; AGENT_ERR_INVAL for a bad argument; AGENT_ERR_ABSENT when the
 * reply does not describe that target (logged); AGENT_ERR_PARSE or
 * AGENT_ERR_TOOBIG for a malformed reply (logged); the awsapi_query() codes
 * (AGENT_ERR_AWS also for HealthUnavailable).
 */
enum agent_rc elbv2_describe_target_health(struct awsapi *api, const char *tg_arn,
                                           const char *instance_id, int port,
                                           struct elbv2_target_health *out);

/*
 * Pure parser of a DescribeTargetHealth reply (len bytes, no NUL needed).
 * Every member must have a Target.Id and a TargetHealth.State made of
 * visible ASCII; texts are stripped of surrounding whitespace and refused
 * (never truncated) when over their cap or holding control characters.
 * Copies the member whose Id is instance_id and, when port > 0, whose Port
 * is port.  AGENT_OK; AGENT_ERR_ABSENT when no member matches;
 * AGENT_ERR_AWS when the document is an AWS error document;
 * AGENT_ERR_PARSE for anything malformed or an unexpected root element;
 * AGENT_ERR_TOOBIG for a text over its cap.  Logs one line on failure
 * (element names only, never the texts).  *out is written only on success.
 */
enum agent_rc elbv2_parse_target_health(const char *xml, size_t len, const char *instance_id,
                                        int port, struct elbv2_target_health *out);

/*
 * Pure check of a reply with an empty result: well-formed XML whose root
 * element is "<action>Response" (e.g. "RegisterTargetsResponse").
 * AGENT_OK; AGENT_ERR_AWS for an AWS error document; AGENT_ERR_PARSE
 * otherwise (logged).
 */
enum agent_rc elbv2_parse_empty_reply(const char *xml, size_t len, const char *action);

/* ---- every target of a group, and a group's settings (fleet, doctor) ---- */

/*
 * DescribeTargetHealth of every target of tg_arn, into out[0..cap), *n of
 * them.  The same checks and codes as elbv2_describe_target_health();
 * AGENT_ERR_TOOBIG when the group has more than cap targets.
 */
enum agent_rc elbv2_list_target_health(struct awsapi *api, const char *tg_arn,
                                       struct elbv2_target_health *out, size_t cap, size_t *n);

/* Pure parser behind it: every member, in reply order. */
enum agent_rc elbv2_parse_target_health_all(const char *xml, size_t len,
                                            struct elbv2_target_health *out, size_t cap, size_t *n);

struct elbv2_target_group {
    char arn[ELBV2_ID_MAX * 2];
    char health_check_port[16];     /* "traffic-port" or a number */
    char health_check_path[1024];   /* "" for TCP checks */
    char health_check_protocol[16]; /* HTTP, HTTPS, TCP, ... */
    int deregistration_delay_s;     /* -1 when the attributes do not say */
};

/*
 * DescribeTargetGroups and DescribeTargetGroupAttributes of tg_arn: the
 * health check and the deregistration delay.  Read-only.  The awsapi codes;
 * AGENT_ERR_ABSENT when the reply describes no group; the parser's codes.
 */
enum agent_rc elbv2_describe_target_group(struct awsapi *api, const char *tg_arn,
                                          struct elbv2_target_group *out);

/*
 * Pure parser of a DescribeTargetGroups reply (attributes 0: the first
 * group's health check fields) or a DescribeTargetGroupAttributes reply
 * (attributes 1: deregistration_delay.timeout_seconds, 0-3600), into *out
 * (only those fields written).
 */
enum agent_rc elbv2_parse_target_group(const char *xml, size_t len, int attributes,
                                       struct elbv2_target_group *out);

#endif
