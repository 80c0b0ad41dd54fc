/*
 * secretref: the secret reference forms of design.md §3.4.
 *
 *   ssm:NAME                     SSM Parameter Store (NAME or a parameter ARN)
 *   secretsmanager:ID[#FIELD]    Secrets Manager (ID or a secret ARN; FIELD of a JSON secret)
 *   s3://BUCKET/KEY              S3 GetObject
 *   file:PATH                    a local file (absolute PATH)
 *   env:NAME                     an environment variable
 *   anything else                a literal
 *
 * A value that starts with one of the prefixes is a reference and must be
 * well formed; it is never taken as a literal.  Error texts name the form
 * and the part that is wrong but never quote a literal (a literal may be a
 * secret).
 */
#ifndef AGENT_CONFIG_SECRETREF_H
#define AGENT_CONFIG_SECRETREF_H

#include <stddef.h>

#include "core/rc.h"

enum secretref_kind {
    SECRETREF_LITERAL,
    SECRETREF_SSM,
    SECRETREF_SECRETSMANAGER,
    SECRETREF_S3,
    SECRETREF_FILE,
    SECRETREF_ENV,
    SECRETREF__MAX
};

/*
 * A parsed reference; every string is malloc'd and owned by the struct.
 * LITERAL: name holds the literal (a secret copy, wiped on cleanup).
 * SSM: name is the parameter name.  SECRETSMANAGER: name is the secret id,
 * field the #FIELD or NULL.  S3: bucket and key.  FILE: name is the path.
 * ENV: name is the variable.  Members that do not apply are NULL.
 */
struct secretref {
    enum secretref_kind kind;
    char *name;
    char *field;
    char *bucket;
    char *key;
};

/*
 * Parses value (borrowed) into *out (released with secretref_cleanup()).
 * AGENT_OK; AGENT_ERR_INVAL for a malformed reference with a one-line reason
 * in err[errcap] ("ssm: empty parameter name"); AGENT_ERR_NOMEM.  *out is
 * written only on success.
 */
enum agent_rc secretref_parse(const char *value, struct secretref *out, char *err, size_t errcap);

/* 1 when value starts with a reference prefix (ssm:, secretsmanager:, s3://, file:, env:). */
int secretref_is_reference(const char *value);

/* The short name of a kind: "literal", "ssm", "secretsmanager", "s3", "file", "env". */
const char *secretref_kind_str(enum secretref_kind kind);

/* Frees (wiping the literal) every member and zeroes *ref; accepts NULL. */
void secretref_cleanup(struct secretref *ref);

#endif
