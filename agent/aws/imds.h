/*
 * imds: the EC2 Instance Metadata Service, IMDSv2 only (aws.md §1).
 *
 * A token is fetched with PUT /latest/api/token (TTL 21600 s), reused, and
 * fetched again 60 s before it expires and once after a 401.  There is no
 * IMDSv1 fallback.  Connection errors, 5xx and 429 are retried with jittered
 * exponential backoff, at most `attempts` tries per request and never past
 * the deadline.  Each failure class gets one precise log line:
 *   - token PUT timed out after TCP connected: hop limit too low (container);
 *   - 403: IMDS disabled for this instance (HttpEndpoint=disabled);
 *   - connection refused / connect timeout: no IMDS at the endpoint;
 *   - 404: the item is absent (AGENT_ERR_ABSENT, not logged as an error).
 */
#ifndef AGENT_AWS_IMDS_H
#define AGENT_AWS_IMDS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/rc.h"

#define IMDS_DEFAULT_ENDPOINT    "http://169.254.169.254"
#define IMDS_TOKEN_TTL_S         21600
#define IMDS_MAX_RESPONSE        (64 * 1024)
#define IMDS_MAX_USER_DATA       (256 * 1024)  /* the agent's limit on user data (issue 9.12) */
#define IMDS_USER_DATA_FETCH_MAX (1024 * 1024) /* fetched to tell how far over the limit */

struct imds_opts {
    const char *endpoint; /* base URL; NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT or the default */
    int64_t timeout_ms;   /* per attempt (imds.timeout_ms) */
    int attempts;         /* per request (imds.attempts) */
    const struct deadline *deadline; /* the run deadline or NULL (borrowed) */
};

struct imds_client;

/*
 * A client for o (copied).  AGENT_ERR_DISABLED when AWS_EC2_METADATA_DISABLED
 * is true (logged), AGENT_ERR_CONFIG for an endpoint that is not an http URL.
 */
enum agent_rc imds_new(const struct imds_opts *o, struct imds_client **out);

void imds_free(struct imds_client *c);

/*
 * The raw value under path: a path starting with '/' is taken from the root
 * ("/latest/user-data"), any other from /latest/meta-data/.  Appends the
 * value to out (at most out->max bytes).  AGENT_ERR_ABSENT on 404 (not
 * logged), AGENT_ERR_DISABLED on 403, AGENT_ERR_TIMEOUT / AGENT_ERR_NET after
 * the retries, AGENT_ERR_HTTP for other statuses.
 */
enum agent_rc imds_get(struct imds_client *c, const char *path, struct buf *out);

/* Number of token PUTs and GETs made so far (for tests and debug logs). */
void imds_counters(const struct imds_client *c, unsigned *token_puts, unsigned *gets);

struct imds_tag {
    char *key;
    char *value;
};

/* Role credentials (iam/security-credentials/<role>); the strings are secrets. */
struct imds_role_creds {
    char *access_key_id;
    char *secret_access_key;
    char *token;
    time_t expiration;
};

enum imds_user_data_kind {
    IMDS_USER_DATA_NONE,
    IMDS_USER_DATA_PRESENT
};

/* The discovered facts; a string is NULL when the fact is absent. */
struct imds_facts {
    char *instance_id;
    char *region; /* placement/region, else the identity document's */
    char *availability_zone;
    char *instance_type;
    char *local_ipv4;
    char *public_ipv4; /* NULL: no public address */
    char *mac;
    char *account_id;       /* identity document */
    char *image_id;         /* identity document */
    char *partition_domain; /* services/domain */
    char *lifecycle_state;  /* autoscaling/target-lifecycle-state */
    char *role;             /* instance profile role name */
    int tags_enabled;       /* 0: instance metadata tags are off */
    struct imds_tag *tags;
    size_t n_tags;
    char **bad_tags; /* keys of tags skipped as unusable (control bytes; '?' for them) */
    size_t n_bad_tags;
    struct buf user_data; /* raw bytes as served; len 0 when none */
    int has_user_data;
    size_t user_data_over; /* user data over IMDS_MAX_USER_DATA: its size (then has_user_data
                              is 1 and user_data empty); IMDS_USER_DATA_FETCH_MAX + 1 when
                              larger than what is fetched; 0 otherwise */
};

/*
 * Fetches every fact.  instance id, region (or AZ), instance type and the
 * identity document are required; the rest may be absent.  Writes *f only on
 * success; release with imds_facts_cleanup().
 */
enum agent_rc imds_discover(struct imds_client *c, struct imds_facts *f);

/*
 * lean 0: as imds_discover().  lean 1: what a run needs, in as few requests
 * as the IMDS allows: the identity document (instance id and type, region,
 * AZ, private address, account, image), public-ipv4,
 * autoscaling/target-lifecycle-state, the role name and the user data; the
 * partition domain from the region; no MAC and no tags (imds_get_tags()).
 */
enum agent_rc imds_discover_lean(struct imds_client *c, int lean, struct imds_facts *f);

/*
 * Fetches the instance tags named in keys[n] (tags/instance/<key> each,
 * without listing them) into f, replacing its tags; a key that is not there
 * is left out.  When none is there, tags/instance tells whether tags in
 * metadata are enabled (f->tags_enabled).
 */
enum agent_rc imds_get_tags(struct imds_client *c, const char *const *keys, size_t n,
                            struct imds_facts *f);

void imds_facts_cleanup(struct imds_facts *f);

/* The value of tag key in f, or NULL. */
const char *imds_facts_tag(const struct imds_facts *f, const char *key);

/*
 * Role credentials for role.  Checks Code == "Success" and that all four
 * fields are present (AGENT_ERR_PARSE otherwise, logged without values).
 * Release with imds_role_creds_cleanup() (wipes).
 */
enum agent_rc imds_role_credentials(struct imds_client *c, const char *role,
                                    struct imds_role_creds *out);

void imds_role_creds_cleanup(struct imds_role_creds *rc);

/*
 * Parsers, exposed for unit tests and fuzzing (no I/O).
 * The identity document: accountId, imageId, region, instanceId,
 * instanceType, availabilityZone, privateIp into the matching fields of f
 * that are still NULL.
 */
enum agent_rc imds_parse_identity(const char *json, size_t len, struct imds_facts *f);

enum agent_rc imds_parse_role_creds(const char *json, size_t len, struct imds_role_creds *out);

#endif
