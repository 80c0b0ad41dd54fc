/*
 * creds: the AWS credential chain (design.md §3.5, aws.md §6.1): the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
 * then the instance profile's role credentials from IMDS.  IMDS credentials
 * are fetched again at least 5 minutes before their Expiration (and after
 * creds_invalidate()), and never used past it.  Every secret string is
 * registered with the log redactor and wiped before it is freed.
 */
#ifndef AGENT_AWS_CREDS_H
#define AGENT_AWS_CREDS_H

#include <time.h>

#include "aws/imds.h"
#include "core/rc.h"

/* Refresh IMDS credentials this long before Expiration. */
#define CREDS_REFRESH_BEFORE_S (5 * 60)

struct aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire */
};

enum creds_source {
    CREDS_SOURCE_NONE,
    CREDS_SOURCE_ENV,
    CREDS_SOURCE_IMDS
};

struct creds_provider;

/*
 * A provider.  imds (borrowed, may be NULL: environment only) and role
 * (borrowed, may be NULL: read from iam/security-credentials/) are used when
 * the environment holds no keys.
 */
enum agent_rc creds_provider_new(struct imds_client *imds, const char *role,
                                 struct creds_provider **out);

void creds_provider_free(struct creds_provider *p);

/*
 * Current credentials (borrowed; valid until the next creds_get or
 * creds_provider_free).  AGENT_ERR_ABSENT (logged) when no source has any:
 * no environment keys and no instance profile.  AGENT_ERR_CONFIG (logged,
 * naming the variable) when only one of AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY is set (empty counts as unset) or a value is
 * malformed: no fallback to IMDS then.  The IMDS codes (AGENT_ERR_NET,
 * AGENT_ERR_TIMEOUT, AGENT_ERR_DISABLED, AGENT_ERR_PARSE, ...) otherwise;
 * AGENT_ERR_AWS when IMDS hands out credentials already past Expiration.
 * A failed refresh keeps IMDS credentials that are not yet expired (logged
 * as a warning), unless creds_invalidate() was called.  The legacy
 * AWS_SECURITY_TOKEN is read when AWS_SESSION_TOKEN is unset.
 */
enum agent_rc creds_get(struct creds_provider *p, const struct aws_creds **out);

/* Forces a fetch on the next creds_get (after ExpiredToken and the like). */
void creds_invalidate(struct creds_provider *p);

/* Where the current credentials came from. */
enum creds_source creds_source(const struct creds_provider *p);

#endif
