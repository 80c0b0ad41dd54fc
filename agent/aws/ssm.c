#include "aws/ssm.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "aws/awsjson.h"
#include "core/log.h"
#include "core/str.h"

enum agent_rc
ssm_parse_get_parameter(const char *json, size_t len, struct buf *value)
{
    const char *end = NULL;
    cJSON *root = NULL, *param, *v;
    enum agent_rc rc = AGENT_ERR_PARSE;

    if (json == NULL || value == NULL)
        return AGENT_ERR_INVAL;
    if (awsjson_has_nul_escape(json, len)) {
        log_errx("ssm: GetParameter reply: a \\u0000 escape");
        return AGENT_ERR_PARSE;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        log_errx("ssm: GetParameter reply: not JSON");
        return AGENT_ERR_PARSE;
    }
    if (!awsjson_only_space_after(json, len, end)) {
        log_errx("ssm: GetParameter reply: text after the JSON document");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        log_errx("ssm: GetParameter reply: not a JSON object");
        goto out;
    }
    param = cJSON_GetObjectItemCaseSensitive(root, "Parameter");
    if (!cJSON_IsObject(param)) {
        log_errx("ssm: GetParameter reply: no Parameter object");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(param, "Value");
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        log_errx("ssm: GetParameter reply: Parameter.Value is not a string");
        goto out;
    }
    rc = buf_append(value, v->valuestring, strlen(v->valuestring));
    if (rc == AGENT_ERR_TOOBIG)
        log_errx("ssm: GetParameter reply: the value is over %zu bytes", value->max);
    else if (rc != AGENT_OK)
        log_errx("ssm: GetParameter reply: %s", agent_rc_str(rc));
out:
    awsjson_delete_wiped(root);
    return rc;
}

enum agent_rc
ssm_get_parameter(struct awsapi *api, const char *name, struct buf *value)
{
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;
    char *body;

    if (api == NULL || value == NULL) {
        log_errx("ssm: GetParameter: no AWS client or no output buffer");
        return AGENT_ERR_INVAL;
    }
    if (!str_is_text(name, SSM_NAME_MAX)) {
        log_errx("ssm: GetParameter: the name is not 1-%d printable characters", SSM_NAME_MAX);
        return AGENT_ERR_INVAL;
    }
    body = awsjson_body("Name", name, "WithDecryption");
    if (body == NULL) {
        log_errx("ssm: GetParameter %s: out of memory", name);
        return AGENT_ERR_NOMEM;
    }
    /* The reply carries the decrypted value: a secret buffer, wiped on release. */
    buf_init_secret(&reply, AWSAPI_MAX_RESPONSE);
    memset(&err, 0, sizeof(err));
    rc = awsapi_json(api, AWS_SVC_SSM, SSM_TARGET_GET_PARAMETER, body, 1, &reply, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = ssm_parse_get_parameter(reply.data != NULL ? reply.data : "", reply.len, value);
    if (rc == AGENT_OK)
        log_debug("ssm: read parameter %s", name);
out:
    buf_cleanup(&reply);
    cJSON_free(body);
    return rc;
}
