/*
 * awsapi: signed calls to AWS services (aws.md §2-§6).
 *
 * Endpoints: AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then
 * https://<prefix>.<region>.<partition domain>/ (the domain from IMDS
 * services/domain, default amazonaws.com).  The SigV4 scope keeps the real
 * region and signing name whatever the endpoint.
 * Protocols: Query (form-encoded POST, XML replies), JSON 1.1
 * (X-Amz-Target), and S3 GetObject (REST).
 * Errors: struct aws_error (Code, Message, RequestId; JSON __type).
 * Retries: the standard mode (aws.md §6.5): max_attempts tries (default 3),
 * full-jitter exponential backoff capped at 20 s (base 50 ms for transient
 * errors, 1 s for throttling), a retry quota of 500 (5 per retry, 10 after a
 * timeout), throttling and transient code lists; non-idempotent calls retry
 * only on throttling, 5xx or a connection failure before any reply.  Under a
 * run deadline, throttling and 5xx are retried past max_attempts (and past an
 * empty quota) while the deadline leaves a call's timeout + 5 s after the
 * backoff; 5xx after the last retry is AGENT_ERR_UNAVAIL (temporary, exit
 * 75).  The "adaptive" mode's client-side rate limiter (ratelimit.h), one
 * per service, slows requests down once a service has throttled.  A Date
 * reply header more than 5 minutes off the local clock, with a signature or
 * RequestExpired error, is reported as clock skew.
 * No redirects on signed requests.  Replies are capped at 1 MiB (S3 objects
 * at the caller's cap).
 */
#ifndef AGENT_AWS_AWSAPI_H
#define AGENT_AWS_AWSAPI_H

#include <stddef.h>
#include <stdint.h>

#include "aws/awsxml.h"
#include "aws/creds.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/rc.h"

#define AWSAPI_MAX_RESPONSE (1024 * 1024)

enum aws_service {
    AWS_SVC_ELBV2,
    AWS_SVC_ELB,
    AWS_SVC_AUTOSCALING,
    AWS_SVC_SSM,
    AWS_SVC_SECRETSMANAGER,
    AWS_SVC_S3,
    AWS_SVC_CLOUDFORMATION,
    AWS_SVC_CLOUDWATCH,
    AWS_SVC_EC2,
    AWS_SVC__MAX
};

struct awsapi_opts {
    const char *region;              /* required */
    const char *partition_domain;    /* NULL: amazonaws.com */
    struct creds_provider *creds;    /* borrowed, required */
    const struct deadline *deadline; /* the run deadline, or NULL */
    int max_attempts;                /* 0: AWS_MAX_ATTEMPTS or 3 */
    int64_t timeout_ms;              /* per attempt; 0: 10000 */
};

struct awsapi;

/*
 * A client for o (copied; creds and deadline borrowed, they must outlive
 * it).  AGENT_ERR_INVAL for a missing region or creds, a malformed region
 * or partition domain; AGENT_ERR_CONFIG for a bad AWS_MAX_ATTEMPTS (1-20).
 */
enum agent_rc awsapi_new(const struct awsapi_opts *o, struct awsapi **out);

void awsapi_free(struct awsapi *api);

/*
 * The base URL of svc (no trailing '/'), into out[cap].  AGENT_ERR_CONFIG
 * (logged, naming the variable) for an override that is not an http(s) URL
 * with a host and nothing but a path after it, plain http to anything but
 * loopback, or a bad AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
 * AGENT_ERR_TOOBIG when it does not fit.
 */
enum agent_rc awsapi_endpoint(const struct awsapi *api, enum aws_service svc, char *out,
                              size_t cap);

/* "elasticloadbalancing", "autoscaling", ...: the SigV4 signing name. */
const char *awsapi_signing_name(enum aws_service svc);

struct aws_param {
    const char *name; /* e.g. "Targets.member.1.Id" */
    const char *value;
};

struct aws_query {
    enum aws_service svc;
    const char *action;  /* "RegisterTargets" */
    const char *version; /* "2015-12-01" */
    const struct aws_param *params;
    size_t n_params;
    int idempotent; /* 0: retry only when the request cannot have been applied */
    /*
     * Optional: returns 1 for an error the caller treats as an answer (e.g.
     * "No active Lifecycle Action found"); it is then logged at debug level
     * instead of as a failure.  It is also asked about a transport failure
     * (err with an empty code, the failure in message).  The return code is
     * unchanged.
     */
    int (*expected)(const struct aws_error *err);
};

/*
 * Query protocol call.  On HTTP 2xx: AGENT_OK with the XML reply in *reply.
 * On an AWS error: AGENT_ERR_AWS with *err filled (after the retries that
 * apply); AGENT_ERR_THROTTLE when throttling outlasted the retries,
 * AGENT_ERR_UNAVAIL when 5xx did;
 * AGENT_ERR_NET / AGENT_ERR_TIMEOUT for network failures; AGENT_ERR_AUTH is
 * not separate: AccessDenied is AGENT_ERR_AWS with err->code.  Logs one line
 * per final failure: "<service>: <Action>: <Code>: <Message> (request id R)".
 * More precisely:
 *   - the reply is appended to reply (at most reply->max bytes: beyond,
 *     AGENT_ERR_TOOBIG), only on success;
 *   - err (may be NULL) is zeroed first; on a failure with a status it holds
 *     http_status, and code/message/request_id from the error document;
 *     a non-2xx reply without a readable error document gives the status
 *     digits as code ("503") and AGENT_ERR_HTTP; a transport failure gives
 *     http_status 0, an empty code and the failure in message;
 *   - AGENT_ERR_CONFIG for a bad endpoint override, AGENT_ERR_INVAL for bad
 *     arguments, the codes of creds_get when there are no credentials.
 */
enum agent_rc awsapi_query(struct awsapi *api, const struct aws_query *q, struct buf *reply,
                           struct aws_error *err);

/*
 * JSON 1.1 call: POST body_json with X-Amz-Target target (e.g.
 * "AmazonSSM.GetParameter").  Same results as awsapi_query, the reply
 * being JSON.  When reply is a secret buffer (buf_init_secret) the raw
 * reply is handled as a secret too (wiped); reply bodies are never logged.
 * Errors are decided on the body's __type, never on the status alone.
 */
enum agent_rc awsapi_json(struct awsapi *api, enum aws_service svc, const char *target,
                          const char *body_json, int idempotent, struct buf *reply,
                          struct aws_error *err);

/*
 * S3 GetObject of bucket/key into out (at most out->max bytes:
 * AGENT_ERR_TOOBIG beyond).  Virtual-hosted addressing by default,
 * path-style for dotted bucket names and custom endpoints.  The bucket
 * must be a valid S3 bucket name (3-63 of a-z 0-9 . -); the key (1 to 1024
 * bytes, no control bytes, no "." or ".." segment, which libcurl would
 * remove from the path) is sent URI-encoded once, '/' kept.  The object is
 * appended to out only on success (a secret out makes the transfer secret
 * too).  Same error results as awsapi_query; an error reply with an empty
 * body gives the status digits as code and AGENT_ERR_AWS.
 */
enum agent_rc awsapi_s3_get(struct awsapi *api, const char *bucket, const char *key,
                            struct buf *out, struct aws_error *err);

/*
 * The AWS error of the last call that failed with an HTTP status (Code,
 * Message, RequestId), for step summaries; NULL when there was none.
 * Borrowed: valid until the next call on api.
 */
const struct aws_error *awsapi_last_error(const struct awsapi *api);

/*
 * Decides whether an error is worth another try (exposed for tests):
 * returns 0 no, 1 transient, 2 throttling.
 */
int awsapi_retry_class(long http_status, const char *code, int transport_failed);

/*
 * Reads a JSON 1.1 error body ({"__type": "...", "message": "..."}) into
 * err: the code is __type without anything up to the last '#' and after
 * the first ':' ("com.amazon.coral.service#ExpiredTokenException" is
 * "ExpiredTokenException"), the message is "message" or "Message" (trimmed,
 * control bytes made spaces, cut with "..." when too long).  Writes only
 * code and message, only on success.  AGENT_ERR_PARSE when the body is not
 * a JSON object with a string __type that leaves a valid code.
 */
enum agent_rc awsapi_parse_json_error(const char *json, size_t len, struct aws_error *err);

/*
 * Test seams for the retry loop, shared by every struct awsapi: the sleep
 * between attempts (default clock_sleep_ms) and the jitter source (a value
 * in [0, 1); default a xorshift generator seeded from the clock and pid).
 * awsapi_set_hooks(NULL) restores both.  Not for production code.
 */
struct awsapi_hooks {
    void (*sleep_ms)(void *ctx, int64_t ms);
    double (*jitter)(void *ctx);
    void *ctx;
    int adaptive_off; /* 1: no client-side rate limiting (exact sleep sequences) */
};

void awsapi_set_hooks(const struct awsapi_hooks *h);

/* Tokens left in api's retry quota (0 .. 500), for tests and debug logs. */
int awsapi_retry_quota(const struct awsapi *api);

#endif
