/*
 * secretsmanager: Secrets Manager GetSecretValue (aws.md §5.2), JSON 1.1
 * protocol, X-Amz-Target secretsmanager.GetSecretValue (the
 * "secretsmanager:ID[#FIELD]" secret reference of design.md §3.4).  The
 * symbols use the short prefix sm_.
 *
 * The value is a secret: it goes only into the caller's secret buffer,
 * every copy made on the way (the reply, the cJSON strings, the parsed
 * SecretString) is wiped, and it is never logged.  Errors such as
 * ResourceNotFoundException or DecryptionFailure come from awsapi
 * (AGENT_ERR_AWS, logged there).
 */
#ifndef AGENT_AWS_SECRETSMANAGER_H
#define AGENT_AWS_SECRETSMANAGER_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/buf.h"
#include "core/rc.h"

#define SM_TARGET_GET_SECRET_VALUE "secretsmanager.GetSecretValue"
#define SM_ID_MAX                  2048 /* a name or ARN */
#define SM_FIELD_MAX               256

/*
 * Fetches the current version (AWSCURRENT) of the secret id (a name or ARN)
 * and appends to value (should be a secret buffer: buf_init_secret()):
 *   - field NULL: SecretString as is, or SecretBinary base64-decoded;
 *   - field set: SecretString parsed as a JSON object, and the member field
 *     (case-sensitive): a string as its text, a number or boolean as its
 *     JSON text as cJSON prints it ("5432", "true"; 1.0 prints as "1").
 * All borrowed; value is changed only on success.  AGENT_OK;
 * AGENT_ERR_INVAL for a bad id or field (logged); AGENT_ERR_ABSENT when the
 * JSON secret has no such field (logged with the id and the field, never
 * the value); AGENT_ERR_PARSE for a malformed reply, a field asked of a
 * secret that is not a JSON object or of a binary secret, or a field that is
 * null, an object or an array (logged); AGENT_ERR_TOOBIG when the value does
 * not fit in value->max; AGENT_ERR_NOMEM; the awsapi_json() codes.
 */
enum agent_rc sm_get_secret_value(struct awsapi *api, const char *id, const char *field,
                                  struct buf *value);

/*
 * Pure parser of a GetSecretValue reply (len bytes of JSON, no NUL needed)
 * doing the selection described above.  id (may be NULL) only names the
 * secret in log lines.  The reply must be one JSON object with only
 * whitespace after it, hold exactly one of SecretString (a string) and
 * SecretBinary (a base64 string; null counts as absent), and no \u0000
 * escape (in the reply or in a JSON SecretString).  Same codes as
 * sm_get_secret_value() without the AWS ones; value changed only on success.
 */
enum agent_rc sm_parse_get_secret_value(const char *json, size_t len, const char *id,
                                        const char *field, struct buf *value);

#endif
