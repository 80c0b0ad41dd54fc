#include "aws/ssm.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "core/str.h"

/* Wipes every string and number of a parsed tree that may hold the secret. */
static void
wipe_tree(cJSON *item)
{
    cJSON *c;

    for (c = item; c != NULL; c = c->next) {
        if (c->valuestring != NULL)
            str_wipe(c->valuestring, strlen(c->valuestring));
        c->valuedouble = 0;
        c->valueint = 0;
        if (c->child != NULL)
            wipe_tree(c->child);
    }
}

/* 1 when only JSON whitespace follows end in json[len]. */
static int
only_space_after(const char *json, size_t len, const char *end)
{
    size_t i;

    if (end == NULL || end < json || end > json + len)
        return 0;
    for (i = (size_t)(end - json); i < len; i++) {
        if (strchr(" \t\r\n", json[i]) == NULL || json[i] == '\0')
            return 0;
    }
    return 1;
}

/*
 * 1 when the raw text holds a \u0000 escape, which cJSON would turn into an
 * early end of the string (a silently cut value).  An escaped backslash is
 * skipped whole, so "\\u0000" is not one.
 */
static int
has_nul_escape(const char *json, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (json[i] != '\\')
            continue;
        if (i + 5 < len && json[i + 1] == 'u' && memcmp(json + i + 2, "0000", 4) == 0)
            return 1;
        i++;
    }
    return 0;
}

enum agent_rc
ssm_parse_get_parameter(const char *json, size_t len, struct buf *value)
{
    const char *end = NULL;
    cJSON *root = NULL, *param, *v;
    enum agent_rc rc = AGENT_ERR_PARSE;

    if (json == NULL || value == NULL)
        return AGENT_ERR_INVAL;
    if (has_nul_escape(json, len)) {
        log_errx("ssm: GetParameter reply: a \\u0000 escape");
        return AGENT_ERR_PARSE;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        log_errx("ssm: GetParameter reply: not JSON");
        return AGENT_ERR_PARSE;
    }
    if (!only_space_after(json, len, end)) {
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
    wipe_tree(root);
    cJSON_Delete(root);
    return rc;
}

/* Names: 1-2048 bytes without control characters (AWS checks the rest). */
static int
valid_name(const char *s)
{
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < 1 || n > SSM_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* {"Name":name,"WithDecryption":true}, malloc'd by cJSON (free with cJSON_free). */
static char *
build_body(const char *name)
{
    cJSON *o;
    char *s = NULL;

    o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, "Name", name) != NULL &&
        cJSON_AddTrueToObject(o, "WithDecryption") != NULL)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
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
    if (!valid_name(name)) {
        log_errx("ssm: GetParameter: the name is not 1-%d printable characters", SSM_NAME_MAX);
        return AGENT_ERR_INVAL;
    }
    body = build_body(name);
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
