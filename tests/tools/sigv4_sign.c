/*
 * sigv4_sign: signs requests read as JSON lines on stdin with aws/sigv4 and
 * prints one JSON line per request, for the differential test against
 * botocore (tests/integ/test_sigv4_botocore.py).
 *
 * Input, one object per line:
 *   {"id": 1, "method": "GET", "path": "/a%20b", "query": "k=v" | null,
 *    "headers": [["Host", "h"], ...], "body_b64": "", "region": "us-east-1",
 *    "service": "ec2", "now": 1440938160, "key": "AKID", "secret": "...",
 *    "token": "..." | null, "s3": false, "payload_hash": "UNSIGNED-PAYLOAD"}
 * s3 selects S3 rules (no path normalisation, signed x-amz-content-sha256);
 * payload_hash (optional) overrides the body hash and is signed as
 * x-amz-content-sha256 too, as botocore does.
 *
 * Output, one object per line, in input order:
 *   {"id": 1, "canonical_request": "...", "string_to_sign": "...",
 *    "signature": "<64 hex>", "headers": [["X-Amz-Date", "..."], ...]}
 * or {"id": 1, "error": "<reason>"}.  Exit status 0 unless stdin or stdout
 * fails.  A test tool: it prints what it signs, secrets included.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/rc.h"
#include "core/str.h"

#define MAX_LINE    (16 * 1024 * 1024)
#define MAX_HEADERS SIGV4_MAX_HEADERS

/* A string member, NULL when absent or null; *bad set when of another type. */
static const char *
get_str(const cJSON *o, const char *key, int *bad)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (it == NULL || cJSON_IsNull(it))
        return NULL;
    if (!cJSON_IsString(it)) {
        *bad = 1;
        return NULL;
    }
    return it->valuestring;
}

static int
get_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Signs one request object into out (a JSON object to fill); the reason on failure. */
static const char *
sign_one(const cJSON *in, cJSON *out)
{
    struct sigv4_header headers[MAX_HEADERS];
    struct sigv4_request req;
    struct sigv4_params p;
    struct sigv4_signed s;
    struct buf body, creq, sts;
    char sig[SIGV4_SIGNATURE_HEX_LEN + 1];
    const cJSON *hs, *h, *now;
    const char *b64, *err = NULL;
    cJSON *list;
    size_t i, n = 0;
    int bad = 0;
    enum agent_rc rc;

    memset(&req, 0, sizeof(req));
    memset(&p, 0, sizeof(p));
    memset(&s, 0, sizeof(s));
    buf_init(&body, MAX_LINE);
    buf_init_secret(&creq, SIGV4_MAX_CANONICAL);
    buf_init(&sts, SIGV4_MAX_CANONICAL);

    req.method = get_str(in, "method", &bad);
    req.path = get_str(in, "path", &bad);
    req.query = get_str(in, "query", &bad);
    req.payload_hash = get_str(in, "payload_hash", &bad);
    p.region = get_str(in, "region", &bad);
    p.service = get_str(in, "service", &bad);
    p.access_key_id = get_str(in, "key", &bad);
    p.secret_access_key = get_str(in, "secret", &bad);
    p.session_token = get_str(in, "token", &bad);
    b64 = get_str(in, "body_b64", &bad);
    now = cJSON_GetObjectItemCaseSensitive(in, "now");
    hs = cJSON_GetObjectItemCaseSensitive(in, "headers");
    if (bad || !cJSON_IsNumber(now) || !cJSON_IsArray(hs)) {
        err = "bad input object";
        goto out;
    }
    p.now = (time_t)now->valuedouble;
    p.normalize_path = !get_bool(in, "s3");
    p.sign_body_header = get_bool(in, "s3") || req.payload_hash != NULL;
    p.expires_s = 3600;
    cJSON_ArrayForEach(h, hs) {
        const cJSON *name = cJSON_GetArrayItem(h, 0), *value = cJSON_GetArrayItem(h, 1);

        if (n >= MAX_HEADERS || cJSON_GetArraySize(h) != 2 || !cJSON_IsString(name) ||
            !cJSON_IsString(value)) {
            err = "bad header pair";
            goto out;
        }
        headers[n].name = name->valuestring;
        headers[n].value = value->valuestring;
        n++;
    }
    req.headers = headers;
    req.n_headers = n;
    if (b64 != NULL && str_base64_decode(b64, strlen(b64), &body) != AGENT_OK) {
        err = "bad body_b64";
        goto out;
    }
    req.body = body.data;
    req.body_len = body.len;

    rc = sigv4_canonical_request(&req, &p, SIGV4_MODE_HEADER, &creq);
    if (rc == AGENT_OK)
        rc = sigv4_string_to_sign(&p, creq.data, creq.len, &sts);
    if (rc == AGENT_OK)
        rc = sigv4_signature(&p, sts.data, sts.len, sig);
    if (rc == AGENT_OK)
        rc = sigv4_sign_headers(&req, &p, &s);
    if (rc != AGENT_OK) {
        err = agent_rc_str(rc);
        goto out;
    }
    /* The step-by-step and the one-call signers must agree. */
    if (strcmp(sig, s.signature) != 0) {
        err = "sigv4_signature and sigv4_sign_headers disagree";
        goto out;
    }
    list = cJSON_CreateArray();
    if (list == NULL || cJSON_AddStringToObject(out, "canonical_request", creq.data) == NULL ||
        cJSON_AddStringToObject(out, "string_to_sign", sts.data) == NULL ||
        cJSON_AddStringToObject(out, "signature", sig) == NULL) {
        cJSON_Delete(list);
        err = "out of memory";
        goto out;
    }
    cJSON_AddItemToObject(out, "headers", list);
    for (i = 0; i < s.n_headers; i++) {
        const char *pair[2] = {s.headers[i].name, s.headers[i].value};
        cJSON *item = cJSON_CreateStringArray(pair, 2);

        if (item == NULL) {
            err = "out of memory";
            goto out;
        }
        cJSON_AddItemToArray(list, item);
    }
out:
    sigv4_signed_cleanup(&s);
    buf_cleanup(&body);
    buf_cleanup(&creq);
    buf_cleanup(&sts);
    return err;
}

int
main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long count = 0;

    for (;;) {
        const cJSON *id;
        cJSON *in, *out;
        const char *err = NULL;
        char *text;

        len = getline(&line, &cap, stdin);
        if (len == -1)
            break;
        if (len > MAX_LINE) {
            fprintf(stderr, "sigv4_sign: stdin line %ld: over %d bytes\n", count + 1, MAX_LINE);
            free(line);
            return 1;
        }
        count++;
        out = cJSON_CreateObject();
        if (out == NULL) {
            free(line);
            return 1;
        }
        in = cJSON_ParseWithLength(line, (size_t)len);
        id = in == NULL ? NULL : cJSON_GetObjectItemCaseSensitive(in, "id");
        if (cJSON_IsNumber(id))
            cJSON_AddNumberToObject(out, "id", id->valuedouble);
        if (!cJSON_IsObject(in))
            err = "not a JSON object";
        else
            err = sign_one(in, out);
        if (err != NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, "canonical_request");
            cJSON_DeleteItemFromObjectCaseSensitive(out, "string_to_sign");
            cJSON_DeleteItemFromObjectCaseSensitive(out, "signature");
            cJSON_DeleteItemFromObjectCaseSensitive(out, "headers");
            cJSON_AddStringToObject(out, "error", err);
        }
        text = cJSON_PrintUnformatted(out);
        cJSON_Delete(in);
        cJSON_Delete(out);
        if (text == NULL || printf("%s\n", text) < 0) {
            cJSON_free(text);
            free(line);
            return 1;
        }
        cJSON_free(text);
    }
    free(line);
    if (ferror(stdin) || fflush(stdout) != 0) {
        fprintf(stderr, "sigv4_sign: i/o error\n");
        return 1;
    }
    return 0;
}
