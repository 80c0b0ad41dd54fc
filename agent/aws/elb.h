/*
 * elb: Classic Elastic Load Balancing (aws.md §3.2), Query API Version
 * 2012-06-01: RegisterInstancesWithLoadBalancer,
 * DeregisterInstancesFromLoadBalancer and DescribeInstanceHealth for one
 * instance.
 *
 * Register and deregister are idempotent and may be retried by awsapi.
 * Every failure is logged once (awsapi logs AWS errors such as
 * LoadBalancerNotFound and InvalidInstance).  The reply parsers are pure
 * functions over the XML text, exposed for tests and fuzzing.
 */
#ifndef AGENT_AWS_ELB_H
#define AGENT_AWS_ELB_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define ELB_VERSION         "2012-06-01"
#define ELB_ID_MAX          32
#define ELB_STATE_MAX       32
#define ELB_REASON_MAX      32
#define ELB_DESCRIPTION_MAX 1024

/* One InstanceStates member. */
struct elb_instance_health {
    char instance_id[ELB_ID_MAX];
    char state[ELB_STATE_MAX];             /* InService, OutOfService, Unknown */
    char reason_code[ELB_REASON_MAX];      /* ELB, Instance, N/A; "" when absent */
    char description[ELB_DESCRIPTION_MAX]; /* free text; "" when absent */
};

/* What a register/deregister reply says: the instances now registered. */
struct elb_instances_reply {
    size_t count; /* Instances members */
    int listed;   /* 1 when the instance asked about is among them */
};

/*
 * Registers instance_id with the classic load balancer lb_name (1-32
 * letters, digits and hyphens).  All borrowed.  AGENT_OK (a warning is
 * logged when the reply's instance list does not show the instance);
 * AGENT_ERR_INVAL for a bad argument (logged); the awsapi_query() codes;
 * AGENT_ERR_PARSE / AGENT_ERR_TOOBIG for a malformed 2xx reply.
 */
enum agent_rc elb_register_instance(struct awsapi *api, const char *lb_name,
                                    const char *instance_id);

/* DeregisterInstancesFromLoadBalancer; the same arguments and codes. */
enum agent_rc elb_deregister_instance(struct awsapi *api, const char *lb_name,
                                      const char *instance_id);

/*
 * DescribeInstanceHealth of instance_id on lb_name into *out (written only on
 * success).  AGENT_OK; AGENT_ERR_INVAL; AGENT_ERR_ABSENT when the reply does
 * not describe the instance; AGENT_ERR_PARSE / AGENT_ERR_TOOBIG for a
 * malformed reply; the awsapi_query() codes.
 */
enum agent_rc elb_describe_instance_health(struct awsapi *api, const char *lb_name,
                                           const char *instance_id,
                                           struct elb_instance_health *out);

/*
 * Pure parser of a RegisterInstancesWithLoadBalancer or
 * DeregisterInstancesFromLoadBalancer reply (action names which; the root
 * must be "<action>Response"): counts the Instances members and says whether
 * instance_id is among them.  AGENT_OK; AGENT_ERR_AWS for an AWS error
 * document; AGENT_ERR_PARSE for malformed XML, an unexpected root or a member
 * without an InstanceId; AGENT_ERR_TOOBIG for an over-long id.  Logs one line
 * on failure.  *out is written only on success.
 */
enum agent_rc elb_parse_instances_reply(const char *xml, size_t len, const char *action,
                                        const char *instance_id, struct elb_instances_reply *out);

/*
 * Pure parser of a DescribeInstanceHealth reply: copies the InstanceStates
 * member for instance_id.  Every member needs an InstanceId and a State
 * (visible ASCII); texts lose their surrounding whitespace and are refused
 * (never cut) over their cap or with control characters.  AGENT_OK;
 * AGENT_ERR_ABSENT when no member matches; AGENT_ERR_AWS for an AWS error
 * document; AGENT_ERR_PARSE; AGENT_ERR_TOOBIG.  Logs one line on failure.
 */
enum agent_rc elb_parse_instance_health(const char *xml, size_t len, const char *instance_id,
                                        struct elb_instance_health *out);

/*
 * DescribeInstanceHealth of every instance of lb_name (fleet), into
 * out[0..cap), *n of them; AGENT_ERR_TOOBIG over cap; the awsapi codes.
 */
enum agent_rc elb_list_instance_health(struct awsapi *api, const char *lb_name,
                                       struct elb_instance_health *out, size_t cap, size_t *n);

/* Pure parser behind it: every InstanceStates member, in reply order. */
enum agent_rc elb_parse_instance_health_all(const char *xml, size_t len,
                                            struct elb_instance_health *out, size_t cap, size_t *n);

#endif
