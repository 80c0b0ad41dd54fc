/*
 * ssm: SSM Parameter Store GetParameter (aws.md §5.1), JSON 1.1 protocol,
 * X-Amz-Target AmazonSSM.GetParameter, always WithDecryption=true (the
 * "ssm:NAME" secret reference of design.md §3.4).
 *
 * The value is a secret: it goes only into the caller's secret buffer,
 * every copy made on the way (the reply, the cJSON strings) is wiped, and
 * it is never logged.  Errors such as ParameterNotFound, ParameterVersionNotFound
 * or AccessDeniedException come from awsapi (AGENT_ERR_AWS, logged there).
 */
#ifndef AGENT_AWS_SSM_H
#define AGENT_AWS_SSM_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/buf.h"
#include "core/rc.h"

#define SSM_TARGET_GET_PARAMETER "AmazonSSM.GetParameter"
#define SSM_NAME_MAX             2048 /* a name, an ARN, with :version or :label */

/*
 * Fetches the parameter name (borrowed; a name or ARN, optionally with a
 * ":version" or ":label" selector) decrypted, and appends its value to
 * value (should be a secret buffer: buf_init_secret()).  value is changed
 * only on success.  AGENT_OK; AGENT_ERR_INVAL for a bad name (logged);
 * AGENT_ERR_TOOBIG when the value does not fit in value->max (logged, never
 * cut); AGENT_ERR_PARSE for a malformed reply (logged); AGENT_ERR_NOMEM; the
 * awsapi_json() codes.
 */
enum agent_rc ssm_get_parameter(struct awsapi *api, const char *name, struct buf *value);

/*
 * Pure parser of a GetParameter reply (len bytes of JSON, no NUL needed):
 * appends Parameter.Value (a string) to value.  The document must be one
 * JSON object with nothing but whitespace after it; a \u0000 escape is
 * refused (it would cut the value).  AGENT_OK; AGENT_ERR_PARSE;
 * AGENT_ERR_TOOBIG; AGENT_ERR_NOMEM.  Logs one line on failure, never the
 * value; value is changed only on success.
 */
enum agent_rc ssm_parse_get_parameter(const char *json, size_t len, struct buf *value);

#endif
