#include "core/rc.h"

static const char *const names[AGENT_RC__MAX] = {
    [AGENT_OK] = "ok",
    [AGENT_ERR_NOMEM] = "out of memory",
    [AGENT_ERR_INVAL] = "invalid value",
    [AGENT_ERR_PARSE] = "parse error",
    [AGENT_ERR_TOOBIG] = "too big",
    [AGENT_ERR_IO] = "i/o error",
    [AGENT_ERR_NET] = "network error",
    [AGENT_ERR_HTTP] = "http error",
    [AGENT_ERR_AWS] = "aws error",
    [AGENT_ERR_CONFIG] = "configuration error",
    [AGENT_ERR_TIMEOUT] = "timeout",
    [AGENT_ERR_ABSENT] = "absent",
    [AGENT_ERR_BUSY] = "busy",
    [AGENT_ERR_DISABLED] = "disabled",
    [AGENT_ERR_THROTTLE] = "throttled",
    [AGENT_ERR_CHILD] = "child process failed",
    [AGENT_ERR_USAGE] = "usage error",
    [AGENT_ERR_UNREADY] = "not ready",
    [AGENT_ERR_INTR] = "interrupted",
    [AGENT_ERR_UNAVAIL] = "service unavailable",
};

const char *
agent_rc_str(enum agent_rc rc)
{
    if ((unsigned)rc >= AGENT_RC__MAX)
        return "unknown error";
    return names[rc];
}

int
agent_rc_retryable(enum agent_rc rc)
{
    switch (rc) {
    case AGENT_ERR_NET:
    case AGENT_ERR_TIMEOUT:
    case AGENT_ERR_BUSY:
    case AGENT_ERR_THROTTLE:
    case AGENT_ERR_UNAVAIL:
        return 1;
    default:
        return 0;
    }
}

int
agent_rc_exit_status(enum agent_rc rc)
{
    if (rc == AGENT_OK)
        return 0;
    if (rc == AGENT_ERR_USAGE)
        return 64;
    if (rc == AGENT_ERR_CONFIG)
        return 78;
    if (agent_rc_retryable(rc) || rc == AGENT_ERR_INTR)
        return 75;
    return 1;
}
