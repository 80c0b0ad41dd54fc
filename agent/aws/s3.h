/*
 * s3: GetObject of one object (aws.md §5.3), the "s3://BUCKET/KEY" secret
 * reference of design.md §3.4: a thin wrapper over awsapi_s3_get() that
 * checks its arguments and enforces the caller's size cap.
 */
#ifndef AGENT_AWS_S3_H
#define AGENT_AWS_S3_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/buf.h"
#include "core/rc.h"

#define S3_KEY_MAX 1024

/*
 * Fetches bucket/key (borrowed; bucket 3-63 of [a-z0-9.-] starting and
 * ending with a letter or digit, key 1-1024 bytes without control
 * characters) and appends at most max_bytes (> 0) of it to out.  When out is
 * a secret buffer the staging copy is one too.  out is changed only on
 * success.  AGENT_OK; AGENT_ERR_INVAL for a bad argument (logged);
 * AGENT_ERR_TOOBIG when the object is over max_bytes or does not fit in out
 * (never cut); the awsapi_s3_get() codes (AGENT_ERR_AWS for NoSuchKey,
 * AccessDenied, ...).
 */
enum agent_rc s3_get_object(struct awsapi *api, const char *bucket, const char *key,
                            size_t max_bytes, struct buf *out);

#endif
