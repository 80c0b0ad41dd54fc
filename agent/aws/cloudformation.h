/*
 * cloudformation: SignalResource (aws.md §5.4), Query API Version
 * 2010-05-15, the call cfn-signal makes in resource-signal mode.
 *
 * SignalResource is not idempotent (awsapi retries it only when it cannot
 * have been applied).  The API has no reason field: the reason is logged
 * locally.  A ValidationError saying the stack or resource "cannot be
 * signaled" / is "not in a state to receive signals" means the signal is no
 * longer wanted (already signalled, the stack moved on): it is reported as
 * already done, not as an error.
 */
#ifndef AGENT_AWS_CLOUDFORMATION_H
#define AGENT_AWS_CLOUDFORMATION_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define CFN_VERSION       "2010-05-15"
#define CFN_UNIQUE_ID_MAX 64

/*
 * Sends SignalResource for the resource logical_id of stack (a stack name
 * or stack ARN) with UniqueId unique_id (1-64 characters; the instance id
 * for EC2 instances and groups) and Status SUCCESS when success is non-zero,
 * else FAILURE.  reason (may be NULL; must hold no secret) is only logged.
 * All borrowed.  *already_done (may be NULL) is set to 1 when AWS refused
 * the signal as described above (logged at info; AGENT_OK), to 0 otherwise
 * on AGENT_OK.  AGENT_ERR_INVAL for a bad argument (logged); the
 * awsapi_query() codes; AGENT_ERR_PARSE for a 2xx reply that is not a
 * SignalResourceResponse.
 */
enum agent_rc cfn_signal_resource(struct awsapi *api, const char *stack, const char *logical_id,
                                  const char *unique_id, int success, const char *reason,
                                  int *already_done);

/*
 * 1 when err is a ValidationError whose message says the resource or stack
 * cannot be signalled now ("... is in UPDATE_COMPLETE state and cannot be
 * signaled", "... not in a state to receive signals"); err may be NULL.
 */
int cfn_error_is_already_done(const struct aws_error *err);

/*
 * Pure check of a reply with an empty result: well-formed XML whose root is
 * "<action>Response" ("SignalResourceResponse").  AGENT_OK; AGENT_ERR_AWS
 * for an AWS error document; AGENT_ERR_PARSE otherwise (logged).
 */
enum agent_rc cfn_parse_empty_reply(const char *xml, size_t len, const char *action);

#endif
