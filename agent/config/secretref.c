#include "config/secretref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define SSM_NAME_MAX  2048
#define SM_ID_MAX     2048
#define S3_KEY_MAX    1024
#define FILE_PATH_MAX 4096
#define ENV_NAME_MAX  255
#define SM_FIELD_MAX  255

static const char *const kind_names[SECRETREF__MAX] = {
    [SECRETREF_LITERAL] = "literal",
    [SECRETREF_SSM] = "ssm",
    [SECRETREF_SECRETSMANAGER] = "secretsmanager",
    [SECRETREF_S3] = "s3",
    [SECRETREF_FILE] = "file",
    [SECRETREF_ENV] = "env",
};

const char *
secretref_kind_str(enum secretref_kind kind)
{
    if ((int)kind < 0 || kind >= SECRETREF__MAX)
        return "?";
    return kind_names[kind];
}

static int
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 1 when every byte of s is alphanumeric or one of extra. */
static int
all_in(const char *s, size_t n, const char *extra)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
            return 0;
    }
    return 1;
}

static enum agent_rc
fail(char *err, size_t errcap, const char *msg)
{
    snprintf(err, errcap, "%s", msg);
    return AGENT_ERR_INVAL;
}

/* A key or path of n bytes: refused over max bytes (too_long) or with a control byte (control). */
static enum agent_rc
check_bytes(const char *s, size_t n, size_t max, const char *too_long, const char *control,
            char *err, size_t errcap)
{
    size_t i;

    if (n > max)
        return fail(err, errcap, too_long);
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(err, errcap, control);
    }
    return AGENT_OK;
}

/* SSM: a parameter name ([A-Za-z0-9_.-/]) or a parameter ARN. */
static enum agent_rc
check_ssm(const char *name, char *err, size_t errcap)
{
    size_t n = strlen(name);

    if (n == 0)
        return fail(err, errcap, "ssm: empty parameter name");
    if (n > SSM_NAME_MAX)
        return fail(err, errcap, "ssm: parameter name longer than 2048 bytes");
    if (str_has_prefix(name, "arn:")) {
        if (!str_is_arn(name) || strstr(name, ":ssm:") == NULL ||
            strstr(name, ":parameter/") == NULL)
            return fail(err, errcap, "ssm: not an SSM parameter ARN");
        return AGENT_OK;
    }
    if (!all_in(name, n, "_.-/"))
        return fail(err, errcap, "ssm: parameter name may hold only letters, digits and _.-/");
    return AGENT_OK;
}

/* Secrets Manager: a secret name ([A-Za-z0-9/_+=.@-]) or ARN, then an optional #FIELD. */
static enum agent_rc
check_sm(const char *id, size_t idlen, const char *field, char *err, size_t errcap)
{
    char arn[SM_ID_MAX + 1];

    if (idlen == 0)
        return fail(err, errcap, "secretsmanager: empty secret id");
    if (idlen > SM_ID_MAX)
        return fail(err, errcap, "secretsmanager: secret id longer than 2048 bytes");
    if (str_ncasecmp(id, "arn:", 4) == 0) {
        if (str_copyn(arn, sizeof(arn), id, idlen) != AGENT_OK || !str_is_arn(arn) ||
            strstr(arn, ":secretsmanager:") == NULL || strstr(arn, ":secret:") == NULL)
            return fail(err, errcap, "secretsmanager: not a Secrets Manager secret ARN");
    } else if (!all_in(id, idlen, "/_+=.@-")) {
        return fail(err, errcap,
                    "secretsmanager: secret id may hold only letters, digits and /_+=.@-");
    }
    if (field != NULL) {
        size_t n = strlen(field);

        if (n == 0)
            return fail(err, errcap, "secretsmanager: empty field after '#'");
        if (n > SM_FIELD_MAX || !str_is_graphic(field, n))
            return fail(err, errcap,
                        "secretsmanager: field must be 1..255 printable characters without spaces");
    }
    return AGENT_OK;
}

/* S3 bucket naming rules: 3..63 of [a-z0-9.-], starting and ending with a letter or digit. */
static enum agent_rc
check_s3(const char *bucket, size_t blen, const char *key, char *err, size_t errcap)
{
    size_t i, klen = strlen(key);

    if (blen < 3 || blen > 63)
        return fail(err, errcap, "s3: bucket name must be 3..63 characters");
    for (i = 0; i < blen; i++) {
        char c = bucket[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return fail(err, errcap, "s3: bucket name may hold only a-z, 0-9, '.' and '-'");
    }
    if (!is_alnum(bucket[0]) || !is_alnum(bucket[blen - 1]))
        return fail(err, errcap, "s3: bucket name must start and end with a letter or digit");
    if (klen == 0)
        return fail(err, errcap, "s3: empty object key (expected s3://BUCKET/KEY)");
    return check_bytes(key, klen, S3_KEY_MAX, "s3: object key longer than 1024 bytes",
                       "s3: control character in object key", err, errcap);
}

static enum agent_rc
check_file(const char *path, char *err, size_t errcap)
{
    size_t n = strlen(path);

    if (n == 0 || path[0] != '/')
        return fail(err, errcap, "file: the path must be absolute");
    return check_bytes(path, n, FILE_PATH_MAX, "file: path longer than 4096 bytes",
                       "file: control character in path", err, errcap);
}

static enum agent_rc
check_env(const char *name, char *err, size_t errcap)
{
    size_t n = strlen(name);

    if (n == 0 || n > ENV_NAME_MAX || (name[0] >= '0' && name[0] <= '9') || !all_in(name, n, "_"))
        return fail(err, errcap, "env: the variable name must match [A-Za-z_][A-Za-z0-9_]*");
    return AGENT_OK;
}

int
secretref_is_reference(const char *value)
{
    if (value == NULL)
        return 0;
    return str_has_prefix(value, "ssm:") || str_has_prefix(value, "secretsmanager:") ||
           str_has_prefix(value, "s3://") || str_has_prefix(value, "file:") ||
           str_has_prefix(value, "env:");
}

/* A reference whose whole rest p is the name: checked with check, then copied into r. */
static enum agent_rc
take_name(struct secretref *r, enum secretref_kind kind, const char *p,
          enum agent_rc (*check)(const char *, char *, size_t), char *err, size_t errcap)
{
    enum agent_rc rc;

    r->kind = kind;
    rc = check(p, err, errcap);
    if (rc != AGENT_OK)
        return rc;
    r->name = str_dup(p);
    return r->name != NULL ? AGENT_OK : AGENT_ERR_NOMEM;
}

enum agent_rc
secretref_parse(const char *value, struct secretref *out, char *err, size_t errcap)
{
    struct secretref r;
    enum agent_rc rc = AGENT_ERR_NOMEM;
    const char *p;

    memset(&r, 0, sizeof(r));
    if (errcap > 0)
        err[0] = '\0';
    if (value == NULL)
        return fail(err, errcap, "no value");
    if (str_has_prefix(value, "ssm:")) {
        rc = take_name(&r, SECRETREF_SSM, value + 4, check_ssm, err, errcap);
        if (rc != AGENT_OK)
            goto out;
    } else if (str_has_prefix(value, "secretsmanager:")) {
        const char *hash;
        size_t idlen;

        r.kind = SECRETREF_SECRETSMANAGER;
        p = value + strlen("secretsmanager:");
        hash = strchr(p, '#');
        idlen = hash != NULL ? (size_t)(hash - p) : strlen(p);
        rc = check_sm(p, idlen, hash != NULL ? hash + 1 : NULL, err, errcap);
        if (rc != AGENT_OK)
            goto out;
        rc = AGENT_ERR_NOMEM;
        r.name = str_ndup(p, idlen);
        if (r.name == NULL)
            goto out;
        if (hash != NULL) {
            r.field = str_dup(hash + 1);
            if (r.field == NULL)
                goto out;
        }
    } else if (str_has_prefix(value, "s3://")) {
        const char *slash;

        r.kind = SECRETREF_S3;
        p = value + 5;
        slash = strchr(p, '/');
        if (slash == NULL) {
            rc = fail(err, errcap, "s3: expected s3://BUCKET/KEY");
            goto out;
        }
        rc = check_s3(p, (size_t)(slash - p), slash + 1, err, errcap);
        if (rc != AGENT_OK)
            goto out;
        rc = AGENT_ERR_NOMEM;
        r.bucket = str_ndup(p, (size_t)(slash - p));
        r.key = str_dup(slash + 1);
        if (r.bucket == NULL || r.key == NULL)
            goto out;
    } else if (str_has_prefix(value, "file:")) {
        rc = take_name(&r, SECRETREF_FILE, value + 5, check_file, err, errcap);
        if (rc != AGENT_OK)
            goto out;
    } else if (str_has_prefix(value, "env:")) {
        rc = take_name(&r, SECRETREF_ENV, value + 4, check_env, err, errcap);
        if (rc != AGENT_OK)
            goto out;
    } else {
        r.kind = SECRETREF_LITERAL;
        r.name = str_dup(value);
        if (r.name == NULL)
            goto out;
    }
    *out = r;
    return AGENT_OK;
out:
    if (rc == AGENT_ERR_NOMEM)
        snprintf(err, errcap, "out of memory");
    secretref_cleanup(&r);
    return rc;
}

void
secretref_cleanup(struct secretref *ref)
{
    if (ref == NULL)
        return;
    if (ref->kind == SECRETREF_LITERAL)
        str_free_secret(ref->name);
    else
        free(ref->name);
    free(ref->field);
    free(ref->bucket);
    free(ref->key);
    memset(ref, 0, sizeof(*ref));
}
