#include "aws/s3.h"

#include <string.h>

#include "core/log.h"
#include "core/str.h"

/* Bucket names: 3-63 of a-z 0-9 . - with a letter or digit at both ends. */
static int
valid_bucket(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < 3 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
        return 0;
    return strchr(".-", s[0]) == NULL && strchr(".-", s[n - 1]) == NULL;
}

static int
valid_key(const char *s)
{
    return str_is_text(s, S3_KEY_MAX);
}

enum agent_rc
s3_get_object(struct awsapi *api, const char *bucket, const char *key, size_t max_bytes,
              struct buf *out)
{
    struct aws_error err;
    struct buf tmp;
    enum agent_rc rc;

    if (api == NULL || out == NULL || max_bytes == 0) {
        log_errx("s3: GetObject: no AWS client, no output buffer or a zero size cap");
        return AGENT_ERR_INVAL;
    }
    if (!valid_bucket(bucket)) {
        log_errx("s3: GetObject: the bucket name is not 3-63 of a-z, 0-9, '.' and '-'");
        return AGENT_ERR_INVAL;
    }
    if (!valid_key(key)) {
        log_errx("s3: GetObject: the key is not 1-%d bytes without control characters", S3_KEY_MAX);
        return AGENT_ERR_INVAL;
    }
    /* The object lands in a staging buffer capped at max_bytes, then moves to out whole. */
    if (out->secret)
        buf_init_secret(&tmp, max_bytes);
    else
        buf_init(&tmp, max_bytes);
    memset(&err, 0, sizeof(err));
    rc = awsapi_s3_get(api, bucket, key, &tmp, &err);
    if (rc != AGENT_OK)
        goto out;
    rc = buf_append(out, tmp.data != NULL ? tmp.data : "", tmp.len);
    if (rc == AGENT_ERR_TOOBIG)
        log_errx("s3: GetObject s3://%s/%s: %zu bytes do not fit (cap %zu)", bucket, key, tmp.len,
                 out->max);
    else if (rc != AGENT_OK)
        log_errx("s3: GetObject s3://%s/%s: %s", bucket, key, agent_rc_str(rc));
    else
        log_debug("s3: read s3://%s/%s (%zu bytes)", bucket, key, tmp.len);
out:
    buf_cleanup(&tmp);
    return rc;
}
