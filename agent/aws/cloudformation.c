#include "aws/cloudformation.h"

#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#define STACK_MAX   1024 /* a stack ARN is well under this */
#define LOGICAL_MAX 255

/* A caller's text for a log line: control characters become spaces, cut at cap. */
static void
safe_text(char *dst, size_t cap, const char *s)
{
    size_t i;

    for (i = 0; i + 1 < cap && s[i] != '\0'; i++)
        dst[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f ? ' ' : s[i];
    dst[i] = '\0';
}

enum agent_rc
cfn_parse_empty_reply(const char *xml, size_t len, const char *action)
{
    return awsxml_parse_empty_reply("cloudformation", xml, len, action);
}

int
cfn_error_is_already_done(const struct aws_error *err)
{
    if (err == NULL || strcmp(err->code, "ValidationError") != 0)
        return 0;
    return strstr(err->message, "cannot be signaled") != NULL ||
           strstr(err->message, "cannot be signalled") != NULL ||
           strstr(err->message, "not in a state to receive signals") != NULL;
}

/* 1 when s has n_min..n_max bytes, none of them a control character or a space. */
static int
valid_visible(const char *s, size_t n_min, size_t n_max)
{
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < n_min || n > n_max)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* Logical ids: letters and digits (the template grammar). */
static int
valid_logical_id(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    return n >= 1 && n <= LOGICAL_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

enum agent_rc
cfn_signal_resource(struct awsapi *api, const char *stack, const char *logical_id,
                    const char *unique_id, int success, const char *reason, int *already_done)
{
    const char *status = success ? "SUCCESS" : "FAILURE";
    struct aws_param p[4];
    struct aws_query q;
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;
    char why[256];
    int done = 0;

    /* The reason is only for the log: one line, shortened if need be. */
    safe_text(why, sizeof(why), reason != NULL ? reason : "");
    if (api == NULL) {
        log_errx("cloudformation: SignalResource: no AWS client");
        return AGENT_ERR_INVAL;
    }
    if (!valid_visible(stack, 1, STACK_MAX)) {
        log_errx("cloudformation: SignalResource: the stack is not a stack name or ARN");
        return AGENT_ERR_INVAL;
    }
    if (!valid_logical_id(logical_id)) {
        log_errx("cloudformation: SignalResource: the logical resource id is not 1-255 letters "
                 "or digits");
        return AGENT_ERR_INVAL;
    }
    if (!valid_visible(unique_id, 1, CFN_UNIQUE_ID_MAX)) {
        log_errx("cloudformation: SignalResource: the unique id is not 1-64 visible characters");
        return AGENT_ERR_INVAL;
    }
    p[0].name = "StackName";
    p[0].value = stack;
    p[1].name = "LogicalResourceId";
    p[1].value = logical_id;
    p[2].name = "UniqueId";
    p[2].value = unique_id;
    p[3].name = "Status";
    p[3].value = status;
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_CLOUDFORMATION;
    q.action = "SignalResource";
    q.version = CFN_VERSION;
    q.params = p;
    q.n_params = 4;
    /* A second signal with the same UniqueId is refused or double-counted: never resend blindly. */
    q.idempotent = 0;
    q.expected = cfn_error_is_already_done;
    memset(&err, 0, sizeof(err));
    /* SignalResource carries no reason, so it is kept in the local log only (shown by default). */
    log_msg(success ? LOG_LVL_DEBUG : LOG_LVL_INFO,
            "cloudformation: signalling %s to %s of stack %s (unique id %s)%s%s", status,
            logical_id, stack, unique_id, reason != NULL ? ": " : "", why);
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = awsapi_query(api, &q, &reply, &err);
    if (rc == AGENT_ERR_AWS && cfn_error_is_already_done(&err)) {
        log_debug("cloudformation: %s of stack %s takes no signal now (already signalled or no "
                  "longer waiting)",
                  logical_id, stack);
        done = 1;
        rc = AGENT_OK;
        goto out;
    }
    if (rc != AGENT_OK)
        goto out;
    rc = cfn_parse_empty_reply(reply.data != NULL ? reply.data : "", reply.len, "SignalResource");
    if (rc != AGENT_OK)
        goto out;
    log_debug("cloudformation: signalled %s to %s of stack %s", status, logical_id, stack);
out:
    buf_cleanup(&reply);
    if (rc == AGENT_OK && already_done != NULL)
        *already_done = done;
    return rc;
}
