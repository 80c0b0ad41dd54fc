#include "aws/secretsmanager.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "aws/awsjson.h"
#include "core/log.h"
#include "core/str.h"

/* Room for any number cJSON prints ("%1.17g", at most 26 bytes) or a boolean. */
#define NUMBER_TEXT_MAX 64

/*
 * Takes field out of the JSON object held in the secret string s, into tmp.
 * The parsed tree holds every field of the secret, so all of it is wiped.
 */
static enum agent_rc
take_field(const char *s, const char *sid, const char *field, struct buf *tmp)
{
    char num[NUMBER_TEXT_MAX];
    const char *end = NULL;
    cJSON *root = NULL, *item;
    enum agent_rc rc = AGENT_ERR_PARSE;
    size_t len = strlen(s);

    if (awsjson_has_nul_escape(s, len)) {
        log_errx("secretsmanager: secret %s: SecretString holds a \\u0000 escape", sid);
        return AGENT_ERR_PARSE;
    }
    root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root == NULL || !awsjson_only_space_after(s, len, end) || !cJSON_IsObject(root)) {
        log_errx("secretsmanager: secret %s is not a JSON object, so it has no field %s", sid,
                 field);
        goto out;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, field);
    if (item == NULL) {
        log_errx("secretsmanager: secret %s has no field %s", sid, field);
        rc = AGENT_ERR_ABSENT;
        goto out;
    }
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        rc = buf_append(tmp, item->valuestring, strlen(item->valuestring));
    } else if (cJSON_IsBool(item)) {
        rc = buf_puts(tmp, cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNumber(item)) {
        /* Printed into our own buffer: no allocation left behind unwiped. */
        if (!cJSON_PrintPreallocated(item, num, (int)sizeof(num), 0)) {
            log_errx("secretsmanager: secret %s: field %s: number not printable", sid, field);
            goto out;
        }
        rc = buf_puts(tmp, num);
        str_wipe(num, sizeof(num));
    } else {
        log_errx("secretsmanager: secret %s: field %s is not a string, number or boolean", sid,
                 field);
        goto out;
    }
out:
    awsjson_delete_wiped(root);
    return rc;
}

enum agent_rc
sm_parse_get_secret_value(const char *json, size_t len, const char *id, const char *field,
                          struct buf *value)
{
    const char *sid = id != NULL ? id : "(unnamed)";
    const char *end = NULL;
    cJSON *root = NULL, *str, *bin;
    enum agent_rc rc = AGENT_ERR_PARSE;
    struct buf tmp;

    if (json == NULL || value == NULL)
        return AGENT_ERR_INVAL;
    /* Built apart and appended at the end, so value changes only on success. */
    buf_init_secret(&tmp, value->max);
    if (awsjson_has_nul_escape(json, len)) {
        log_errx("secretsmanager: GetSecretValue reply for %s: a \\u0000 escape", sid);
        goto out;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL || !awsjson_only_space_after(json, len, end) || !cJSON_IsObject(root)) {
        log_errx("secretsmanager: GetSecretValue reply for %s: not a JSON object", sid);
        goto out;
    }
    str = cJSON_GetObjectItemCaseSensitive(root, "SecretString");
    bin = cJSON_GetObjectItemCaseSensitive(root, "SecretBinary");
    if (cJSON_IsNull(str))
        str = NULL;
    if (cJSON_IsNull(bin))
        bin = NULL;
    if ((str != NULL && !cJSON_IsString(str)) || (bin != NULL && !cJSON_IsString(bin))) {
        log_errx("secretsmanager: GetSecretValue reply for %s: SecretString or SecretBinary is "
                 "not a string",
                 sid);
        goto out;
    }
    if ((str == NULL) == (bin == NULL)) {
        log_errx("secretsmanager: GetSecretValue reply for %s: %s", sid,
                 str == NULL ? "neither SecretString nor SecretBinary"
                             : "both SecretString and SecretBinary");
        goto out;
    }
    if (bin != NULL) {
        if (field != NULL) {
            log_errx("secretsmanager: secret %s is binary, so it has no field %s", sid, field);
            goto out;
        }
        rc = str_base64_decode(bin->valuestring, strlen(bin->valuestring), &tmp);
        if (rc == AGENT_ERR_PARSE)
            log_errx("secretsmanager: secret %s: SecretBinary is not base64", sid);
    } else if (field != NULL) {
        rc = take_field(str->valuestring, sid, field, &tmp);
    } else {
        rc = buf_append(&tmp, str->valuestring, strlen(str->valuestring));
    }
    if (rc == AGENT_OK)
        rc = buf_append(value, tmp.data != NULL ? tmp.data : "", tmp.len);
    if (rc == AGENT_ERR_TOOBIG)
        log_errx("secretsmanager: secret %s: the value is over %zu bytes", sid, value->max);
    else if (rc == AGENT_ERR_NOMEM)
        log_errx("secretsmanager: secret %s: out of memory", sid);
out:
    awsjson_delete_wiped(root);
    buf_cleanup(&tmp);
    return rc;
}

enum agent_rc
sm_get_secret_value(struct awsapi *api, const char *id, const char *field, struct buf *value)
{
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;
    char *body;

    if (api == NULL || value == NULL) {
        log_errx("secretsmanager: GetSecretValue: no AWS client or no output buffer");
        return AGENT_ERR_INVAL;
    }
    if (!str_is_text(id, SM_ID_MAX)) {
        log_errx("secretsmanager: GetSecretValue: the secret id is not 1-%d printable characters",
                 SM_ID_MAX);
        return AGENT_ERR_INVAL;
    }
    if (field != NULL && !str_is_text(field, SM_FIELD_MAX)) {
        log_errx("secretsmanager: GetSecretValue %s: the field is not 1-%d printable characters",
                 id, SM_FIELD_MAX);
        return AGENT_ERR_INVAL;
    }
    body = awsjson_body("SecretId", id, NULL);
    if (body == NULL) {
        log_errx("secretsmanager: GetSecretValue %s: out of memory", id);
        return AGENT_ERR_NOMEM;
    }
    /* The reply carries the secret: a secret buffer, wiped on release. */
    buf_init_secret(&reply, AWSAPI_MAX_RESPONSE);
    memset(&err, 0, sizeof(err));
    rc =
        awsapi_json(api, AWS_SVC_SECRETSMANAGER, SM_TARGET_GET_SECRET_VALUE, body, 1, &reply, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = sm_parse_get_secret_value(reply.data != NULL ? reply.data : "", reply.len, id, field,
                                   value);
    if (rc == AGENT_OK)
        log_debug("secretsmanager: read secret %s%s%s", id, field != NULL ? "#" : "",
                  field != NULL ? field : "");
out:
    buf_cleanup(&reply);
    cJSON_free(body);
    return rc;
}
