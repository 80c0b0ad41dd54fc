#include "wcs/rest.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "net/http.h"

#define REST_REPLY_MAX (64 * 1024)

static int
state_ok(const char *s)
{
    size_t i;

    if (s[0] == '\0' || strlen(s) > 64)
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
            return 0;
    return 1;
}

enum agent_rc
wcs_enforce_node_state(const char *rest_url, const char *state, int attempts, int64_t timeout_ms,
                       char *why, size_t cap)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    struct http_response resp;
    struct http_request req;
    char url[2048], body[128];
    enum agent_rc rc = AGENT_ERR_INVAL;
    size_t ulen;
    int i, n;

    snprintf(why, cap, "bad arguments");
    if (rest_url == NULL || (state != NULL && !state_ok(state)) || attempts < 1)
        return AGENT_ERR_INVAL;
    ulen = strlen(rest_url);
    while (ulen > 0 && rest_url[ulen - 1] == '/')
        ulen--;
    n = snprintf(url, sizeof(url), "%.*s/cdn/enforce_node_state", (int)ulen, rest_url);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        snprintf(why, cap, "drain.rest_url too long");
        return AGENT_ERR_INVAL;
    }
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    req.max_response = REST_REPLY_MAX;
    req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY;
    if (state != NULL) {
        n = snprintf(body, sizeof(body), "{\"state\":\"%s\"}", state);
        req.body = body;
        req.body_len = (size_t)n;
        req.headers = json_headers;
    } else {
        /* An empty body clears the forced state; libcurl sends Content-Length: 0. */
        req.body = "";
        req.body_len = 0;
    }
    http_response_init(&resp, REST_REPLY_MAX);
    for (i = 0; i < attempts; i++) {
        if (i > 0)
            clock_sleep_ms(1000);
        http_response_reset(&resp);
        rc = http_perform(&req, &resp);
        if (rc != AGENT_OK) {
            if (resp.fail == HTTP_FAIL_POLICY) {
                snprintf(why, cap, "%s", resp.error);
                rc = AGENT_ERR_INVAL;
                break;
            }
            snprintf(why, cap, "%s",
                     resp.fail != HTTP_FAIL_NONE ? http_fail_str(resp.fail) : agent_rc_str(rc));
            continue;
        }
        if (resp.status >= 200 && resp.status < 300) {
            why[0] = '\0';
            break;
        }
        snprintf(why, cap, "HTTP %ld", resp.status);
        rc = AGENT_ERR_HTTP;
        if (resp.status >= 400 && resp.status < 500)
            break; /* a refusal: trying again changes nothing */
    }
    http_response_cleanup(&resp);
    return rc;
}
