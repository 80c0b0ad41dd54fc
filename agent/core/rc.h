/*
 * rc: the return codes of every fallible function in the agent.
 *
 * A function returns AGENT_OK (0) or one of the codes below, and writes its
 * outputs only on success.  The error is logged once, where the most is
 * known; callers only pass the code up.
 */
#ifndef AGENT_CORE_RC_H
#define AGENT_CORE_RC_H

enum agent_rc {
    AGENT_OK = 0,
    AGENT_ERR_NOMEM,    /* out of memory */
    AGENT_ERR_INVAL,    /* invalid argument or value */
    AGENT_ERR_PARSE,    /* input could not be parsed */
    AGENT_ERR_TOOBIG,   /* input over a size cap */
    AGENT_ERR_IO,       /* local file or system call failure */
    AGENT_ERR_NET,      /* network failure: refused, reset, unreachable (temporary) */
    AGENT_ERR_HTTP,     /* unexpected HTTP status (definite) */
    AGENT_ERR_AWS,      /* AWS API error (definite refusal) */
    AGENT_ERR_CONFIG,   /* configuration error */
    AGENT_ERR_TIMEOUT,  /* timed out (temporary) */
    AGENT_ERR_ABSENT,   /* the item does not exist (IMDS 404, missing file) */
    AGENT_ERR_BUSY,     /* another run holds the lock (temporary) */
    AGENT_ERR_DISABLED, /* the service is turned off (IMDS 403, AWS_EC2_METADATA_DISABLED) */
    AGENT_ERR_THROTTLE, /* throttled after all retries (temporary) */
    AGENT_ERR_CHILD,    /* a child process failed */
    AGENT_ERR_USAGE,    /* command-line usage error */
    AGENT_ERR_UNREADY,  /* WCS did not become ready in time (a definite failure) */
    AGENT_ERR_INTR,     /* stopped by SIGTERM or SIGINT (exit 75, never retried) */
    AGENT_ERR_UNAVAIL,  /* a service answered 5xx after all retries (temporary) */
    AGENT_RC__MAX
};

/* A short constant English name of the code ("timeout"); never NULL. */
const char *agent_rc_str(enum agent_rc rc);

/* 1 when a later retry may succeed (network, timeout, throttling, lock held). */
int agent_rc_retryable(enum agent_rc rc);

/*
 * The process exit status for a command that ended with rc (design.md §2):
 * 0 ok, 64 usage, 75 temporary or interrupted, 78 configuration, 1 any
 * other failure.
 */
int agent_rc_exit_status(enum agent_rc rc);

#endif
