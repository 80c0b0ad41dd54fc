/*
 * ec2: the EC2 calls of design.md §8.6-§8.7, Query API Version 2016-11-15:
 * CreateTags on the agent's own instance (the wcs-agent:result tag; also
 * as a DryRun permission probe) and DescribeInstances by instance ids
 * (private addresses, AZ, state, tags, metadata options).
 *
 * EC2 replies use "item" lists and lower-case names; errors are
 * <Response><Errors><Error> documents (awsxml_parse_error reads them).
 * The reply parser is a pure function, exposed for tests and fuzzing.
 */
#ifndef AGENT_AWS_EC2_H
#define AGENT_AWS_EC2_H

#include <stddef.h>

#include "aws/awsapi.h"
#include "core/rc.h"

#define EC2_VERSION       "2016-11-15"
#define EC2_ID_MAX        32
#define EC2_TAG_KEY_MAX   129 /* 128 characters */
#define EC2_TAG_VALUE_MAX 257 /* 256 characters */
#define EC2_MAX_TAGS      50  /* per resource */
#define EC2_IDS_PER_CALL  100 /* DescribeInstances ids sent in one call */

struct ec2_tag {
    char key[EC2_TAG_KEY_MAX];
    char value[EC2_TAG_VALUE_MAX];
};

/* One instancesSet item. */
struct ec2_instance {
    char id[EC2_ID_MAX];    /* instanceId */
    char private_ip[48];    /* privateIpAddress; "" when absent */
    char az[64];            /* placement/availabilityZone */
    char state[32];         /* instanceState/name: pending, running, ... */
    int hop_limit;          /* metadataOptions/httpPutResponseHopLimit; 0 when absent */
    char http_tokens[16];   /* metadataOptions/httpTokens: optional | required */
    char metadata_tags[16]; /* metadataOptions/instanceMetadataTags: enabled | disabled */
    struct ec2_tag tags[EC2_MAX_TAGS];
    size_t n_tags;
};

/* The value of tag key of inst, or NULL (borrowed). */
const char *ec2_instance_tag(const struct ec2_instance *inst, const char *key);

/*
 * Tags instance_id with key = value (key 1-128 characters, value 0-256,
 * printable UTF-8 without control bytes; the caller cuts a longer value).
 * AGENT_OK; AGENT_ERR_INVAL (logged) for a bad argument; the awsapi_query()
 * codes (AGENT_ERR_AWS: UnauthorizedOperation, InvalidInstanceID.NotFound,
 * ...); AGENT_ERR_PARSE for a 2xx reply that is not a CreateTagsResponse.
 * Setting a tag to the value it has is harmless, so the call is idempotent.
 * quiet: an AWS or transport failure is logged at debug level only (the
 * caller reports it in its own words); bad arguments are always logged.
 */
enum agent_rc ec2_create_tag(struct awsapi *api, const char *instance_id, const char *key,
                             const char *value, int quiet);

/*
 * The DryRun form of the same call, for `doctor`: changes nothing.
 * AGENT_OK when AWS answers DryRunOperation (the call would have been
 * allowed); AGENT_ERR_AWS for UnauthorizedOperation and other refusals
 * (err filled, may be NULL); the awsapi_query() codes otherwise.
 */
enum agent_rc ec2_probe_create_tags(struct awsapi *api, const char *instance_id,
                                    struct aws_error *err);

/*
 * DescribeInstances of ids[0..n_ids) (n_ids >= 1; sent EC2_IDS_PER_CALL at
 * a time), into out[0..cap) (the caller's array), *n_out instances found
 * (an id AWS no longer knows is answered with InvalidInstanceID.NotFound:
 * AGENT_ERR_AWS).  AGENT_ERR_INVAL for a bad id; AGENT_ERR_TOOBIG when
 * more instances come back than cap; the parser's and awsapi's codes.
 */
enum agent_rc ec2_describe_instances(struct awsapi *api, const char *const *ids, size_t n_ids,
                                     struct ec2_instance *out, size_t cap, size_t *n_out);

/*
 * Pure parser of a DescribeInstancesResponse: appends every instancesSet
 * item to out[*n .. cap), advancing *n.  Every item needs an instanceId;
 * texts are trimmed, refused when over their cap or holding control
 * characters; a tagSet item needs a key, its value may be empty.
 * AGENT_OK; AGENT_ERR_AWS for an error document; AGENT_ERR_PARSE for
 * anything malformed; AGENT_ERR_TOOBIG over a cap, over cap items or over
 * EC2_MAX_TAGS tags.  Logs one line on failure.
 */
enum agent_rc ec2_parse_instances(const char *xml, size_t len, struct ec2_instance *out, size_t cap,
                                  size_t *n);

#endif
