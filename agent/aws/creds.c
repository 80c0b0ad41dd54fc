#include "aws/creds.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

/* Limits that match what the signer accepts (sigv4.h). */
#define AKID_MIN   16
#define AKID_MAX   128
#define SECRET_MAX 256
#define TOKEN_MAX  16384
#define ROLE_MAX   128

struct creds_provider {
    struct imds_client *imds; /* borrowed, may be NULL */
    char *role;               /* the configured role, or NULL */
    char *found_role;         /* the role read from IMDS, cached */
    struct aws_creds cur;
    enum creds_source src;
    int have;
    int stale; /* creds_invalidate() was called */
};

/* The last 4 characters of an access key id: enough to tell keys apart in a log. */
static const char *
key_tail(const char *akid)
{
    size_t n = akid != NULL ? strlen(akid) : 0;

    return n > 4 ? akid + n - 4 : "";
}

static void
creds_clear(struct aws_creds *c)
{
    str_free_secret(c->access_key_id);
    str_free_secret(c->secret_access_key);
    str_free_secret(c->session_token);
    memset(c, 0, sizeof(*c));
}

static int
valid_akid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9')))
            return 0;
    }
    return n >= AKID_MIN && n <= AKID_MAX;
}

/* Visible ASCII only: the value goes into a header or the signing key. */
static int
valid_visible(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n <= max && str_is_graphic(s, n);
}

static int
valid_role(const char *s)
{
    size_t n = 0;

    /* IAM role names: letters, digits and +=,.@_- (up to 64; 128 left for paths). */
    for (; s[n] != '\0'; n++) {
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
              (s[n] >= '0' && s[n] <= '9') || strchr("+=,.@_-", s[n]) != NULL))
            return 0;
    }
    return n > 0 && n <= ROLE_MAX;
}

/* An environment variable, NULL when unset or empty. */
static const char *
env_value(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

enum agent_rc
creds_provider_new(struct imds_client *imds, const char *role, struct creds_provider **out)
{
    struct creds_provider *p;

    if (out == NULL)
        return AGENT_ERR_INVAL;
    if (role != NULL && role[0] != '\0' && !valid_role(role)) {
        log_errx("credentials: the role name is malformed");
        return AGENT_ERR_INVAL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return AGENT_ERR_NOMEM;
    p->imds = imds;
    if (role != NULL && role[0] != '\0') {
        p->role = str_dup(role);
        if (p->role == NULL) {
            free(p);
            return AGENT_ERR_NOMEM;
        }
    }
    p->src = CREDS_SOURCE_NONE;
    *out = p;
    return AGENT_OK;
}

void
creds_provider_free(struct creds_provider *p)
{
    if (p == NULL)
        return;
    creds_clear(&p->cur);
    free(p->role);
    free(p->found_role);
    free(p);
}

/*
 * The environment's keys into *c.  AGENT_ERR_ABSENT when neither key is
 * set; AGENT_ERR_CONFIG (logged) when only one is, or a value is malformed.
 */
static enum agent_rc
from_env(struct aws_creds *c)
{
    const char *akid = env_value("AWS_ACCESS_KEY_ID");
    const char *secret = env_value("AWS_SECRET_ACCESS_KEY");
    const char *token = env_value("AWS_SESSION_TOKEN");
    const char *token_name = "AWS_SESSION_TOKEN";
    struct aws_creds t;

    if (akid == NULL && secret == NULL)
        return AGENT_ERR_ABSENT;
    if (secret == NULL) {
        log_errx("environment: AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY");
        return AGENT_ERR_CONFIG;
    }
    if (akid == NULL) {
        log_errx("environment: AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID");
        return AGENT_ERR_CONFIG;
    }
    /* The legacy name of the token, still honoured by botocore. */
    if (token == NULL) {
        token = env_value("AWS_SECURITY_TOKEN");
        token_name = "AWS_SECURITY_TOKEN";
    }
    if (!valid_akid(akid)) {
        log_errx("environment: AWS_ACCESS_KEY_ID is malformed (16 to 128 capital letters and "
                 "digits expected)");
        return AGENT_ERR_CONFIG;
    }
    if (!valid_visible(secret, SECRET_MAX)) {
        log_errx("environment: AWS_SECRET_ACCESS_KEY is malformed (1 to %d visible ASCII "
                 "characters expected)",
                 SECRET_MAX);
        return AGENT_ERR_CONFIG;
    }
    if (token != NULL && !valid_visible(token, TOKEN_MAX)) {
        log_errx("environment: %s is malformed (1 to %d visible ASCII characters expected)",
                 token_name, TOKEN_MAX);
        return AGENT_ERR_CONFIG;
    }
    memset(&t, 0, sizeof(t));
    t.access_key_id = str_dup(akid);
    t.secret_access_key = str_dup(secret);
    if (token != NULL)
        t.session_token = str_dup(token);
    if (t.access_key_id == NULL || t.secret_access_key == NULL ||
        (token != NULL && t.session_token == NULL)) {
        creds_clear(&t);
        return AGENT_ERR_NOMEM;
    }
    *c = t;
    return AGENT_OK;
}

/* The instance profile's role: the first line of iam/security-credentials/. */
static enum agent_rc
discover_role(struct creds_provider *p, const char **out)
{
    const char *path = "iam/security-credentials/";
    struct buf b;
    enum agent_rc rc;
    size_t n;

    if (p->role != NULL) {
        *out = p->role;
        return AGENT_OK;
    }
    if (p->found_role != NULL) {
        *out = p->found_role;
        return AGENT_OK;
    }
    buf_init(&b, IMDS_MAX_RESPONSE);
    rc = imds_get(p->imds, path, &b);
    if (rc == AGENT_ERR_ABSENT) {
        log_errx("credentials: none: no AWS_ACCESS_KEY_ID in the environment and no instance "
                 "profile attached (IMDS %s is absent)",
                 path);
        goto out;
    }
    if (rc != AGENT_OK) {
        log_errx("credentials: cannot list the instance profile roles (IMDS %s): %s", path,
                 agent_rc_str(rc));
        goto out;
    }
    n = strcspn(buf_cstr(&b), "\r\n");
    if (b.data != NULL)
        b.data[n] = '\0';
    if (n == 0) {
        log_errx("credentials: none: IMDS %s lists no role", path);
        rc = AGENT_ERR_ABSENT;
        goto out;
    }
    if (!valid_role(buf_cstr(&b))) {
        log_errx("credentials: IMDS %s: malformed role name", path);
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    p->found_role = str_ndup(b.data, n);
    if (p->found_role == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    *out = p->found_role;
out:
    buf_cleanup(&b);
    return rc;
}

/* Fresh role credentials from IMDS into *c (AGENT_OK only when usable now). */
static enum agent_rc
from_imds(struct creds_provider *p, struct aws_creds *c)
{
    struct imds_role_creds rcr;
    struct aws_creds t;
    const char *role = NULL;
    enum agent_rc rc;
    time_t now;

    memset(&rcr, 0, sizeof(rcr));
    memset(&t, 0, sizeof(t));
    rc = discover_role(p, &role);
    if (rc != AGENT_OK)
        return rc;
    rc = imds_role_credentials(p->imds, role, &rcr);
    if (rc != AGENT_OK) {
        /* A role that went away (profile replaced): list the roles again next time. */
        if (rc == AGENT_ERR_ABSENT && p->found_role != NULL) {
            free(p->found_role);
            p->found_role = NULL;
        }
        goto out;
    }
    now = clock_now();
    if (now >= rcr.expiration) {
        char exp[32];

        clock_rfc3339(rcr.expiration, exp);
        log_errx("credentials: IMDS handed out role credentials that expired at %s "
                 "(check the clock)",
                 exp);
        rc = AGENT_ERR_AWS;
        goto out;
    }
    if (!valid_akid(rcr.access_key_id) || !valid_visible(rcr.secret_access_key, SECRET_MAX) ||
        !valid_visible(rcr.token, TOKEN_MAX)) {
        log_errx("credentials: IMDS role credentials are malformed");
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    /* The strings move over: struct imds_role_creds and struct aws_creds own them alike. */
    t.access_key_id = rcr.access_key_id;
    t.secret_access_key = rcr.secret_access_key;
    t.session_token = rcr.token;
    t.expiration = rcr.expiration;
    memset(&rcr, 0, sizeof(rcr));
    *c = t;
    rc = AGENT_OK;
out:
    imds_role_creds_cleanup(&rcr);
    return rc;
}

/* 1 when the held credentials may still be used without a refresh. */
static int
fresh(const struct creds_provider *p, time_t now)
{
    if (!p->have || p->stale)
        return 0;
    if (p->cur.expiration == 0)
        return 1;
    return now < p->cur.expiration - CREDS_REFRESH_BEFORE_S;
}

enum agent_rc
creds_get(struct creds_provider *p, const struct aws_creds **out)
{
    struct aws_creds t;
    enum creds_source src;
    enum agent_rc rc;
    time_t now;

    if (p == NULL || out == NULL)
        return AGENT_ERR_INVAL;
    now = clock_now();
    if (fresh(p, now)) {
        *out = &p->cur;
        return AGENT_OK;
    }
    memset(&t, 0, sizeof(t));
    rc = from_env(&t);
    src = CREDS_SOURCE_ENV;
    if (rc == AGENT_ERR_ABSENT) {
        if (p->imds == NULL) {
            log_errx("credentials: none: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not "
                     "set and IMDS is not available");
            return AGENT_ERR_ABSENT;
        }
        rc = from_imds(p, &t);
        src = CREDS_SOURCE_IMDS;
    }
    if (rc != AGENT_OK) {
        /*
         * A failed refresh keeps the old IMDS credentials while they are
         * valid: AWS rotates them well before Expiration, so they still work
         * during a short IMDS outage.  Never past Expiration, and never after
         * creds_invalidate() (AWS said they are no good).
         */
        if (p->have && !p->stale && p->src == CREDS_SOURCE_IMDS && now < p->cur.expiration &&
            rc != AGENT_ERR_CONFIG) {
            log_warnx("credentials: refresh failed; using the current role credentials "
                      "until they expire (%lld s left)",
                      (long long)(p->cur.expiration - now));
            *out = &p->cur;
            return AGENT_OK;
        }
        return rc;
    }
    /* Secrets are redacted from every log line from now on. */
    rc = log_redact_add(t.secret_access_key, strlen(t.secret_access_key));
    if (rc == AGENT_OK && t.session_token != NULL)
        rc = log_redact_add(t.session_token, strlen(t.session_token));
    if (rc != AGENT_OK) {
        creds_clear(&t);
        return rc;
    }
    if (src == CREDS_SOURCE_IMDS) {
        char exp[32];

        clock_rfc3339(t.expiration, exp);
        log_debug("credentials: role credentials from IMDS (key ...%s, expire %s)",
                  key_tail(t.access_key_id), exp);
    } else if (p->src != CREDS_SOURCE_ENV || !p->have) {
        log_debug("credentials: from the environment (key ...%s)", key_tail(t.access_key_id));
    }
    creds_clear(&p->cur);
    p->cur = t;
    p->src = src;
    p->have = 1;
    p->stale = 0;
    *out = &p->cur;
    return AGENT_OK;
}

void
creds_invalidate(struct creds_provider *p)
{
    if (p != NULL)
        p->stale = 1;
}

enum creds_source
creds_source(const struct creds_provider *p)
{
    if (p == NULL || !p->have)
        return CREDS_SOURCE_NONE;
    return p->src;
}
