#include "aws/ec2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#define DI_ROOT   "DescribeInstancesResponse"
#define DI_MEMBER DI_ROOT "/reservationSet/item/instancesSet/item"

#define F_ID     0x01u
#define F_IP     0x02u
#define F_AZ     0x04u
#define F_STATE  0x08u
#define F_HOP    0x10u
#define F_TOKENS 0x20u
#define F_MDTAGS 0x40u

const char *
ec2_instance_tag(const struct ec2_instance *inst, const char *key)
{
    size_t i;

    for (i = 0; inst != NULL && key != NULL && i < inst->n_tags; i++)
        if (strcmp(inst->tags[i].key, key) == 0)
            return inst->tags[i].value;
    return NULL;
}

/* ---- DescribeInstances ---- */

struct di_user {
    struct ec2_instance *out;
    size_t cap;
    size_t *n;
    int tag_open; /* the last tag has its key and may still get its value */
    int tag_has_value;
};

static int
di_finish(struct awsxml_list *l)
{
    struct di_user *u = l->user;

    if (!(l->have & F_ID))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "item without", "instanceId");
    if (*u->n >= u->cap)
        return awsxml_list_fail(l, AGENT_ERR_TOOBIG, "more instances than room for, at",
                                "instancesSet/item");
    u->out[(*u->n)++] = *(const struct ec2_instance *)l->cur;
    u->tag_open = 0;
    return 0;
}

static int
di_tag(struct awsxml_list *l, struct ec2_instance *cur, int is_key, const char *text)
{
    struct di_user *u = l->user;
    struct ec2_tag *t;
    enum agent_rc rc;

    /* A new instance member starts with no tag open. */
    if (cur->n_tags == 0)
        u->tag_open = 0;
    if (is_key) {
        if (cur->n_tags == EC2_MAX_TAGS)
            return awsxml_list_fail(l, AGENT_ERR_TOOBIG, "too many tags in", "tagSet");
        t = &cur->tags[cur->n_tags];
        rc = awsxml_take_text(t->key, sizeof(t->key), text);
        if (rc == AGENT_OK && t->key[0] == '\0')
            rc = AGENT_ERR_PARSE;
        if (rc != AGENT_OK)
            return awsxml_list_fail(l, rc, "bad text in", "tagSet/item/key");
        t->value[0] = '\0';
        cur->n_tags++;
        u->tag_open = 1;
        u->tag_has_value = 0;
        return 0;
    }
    if (!u->tag_open || u->tag_has_value)
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "value without its key in", "tagSet/item");
    t = &cur->tags[cur->n_tags - 1];
    rc = awsxml_take_text(t->value, sizeof(t->value), text);
    if (rc != AGENT_OK)
        return awsxml_list_fail(l, rc, "bad text in", "tagSet/item/value");
    u->tag_has_value = 1;
    return 0;
}

static int
di_field(struct awsxml_list *l, const char *sub, const char *text)
{
    struct ec2_instance *cur = l->cur;
    char hop[16];

    if (strcmp(sub, "instanceId") == 0)
        return awsxml_list_text(l, F_ID, cur->id, sizeof(cur->id), text, sub, 1);
    if (strcmp(sub, "privateIpAddress") == 0)
        return awsxml_list_text(l, F_IP, cur->private_ip, sizeof(cur->private_ip), text, sub, 0);
    if (strcmp(sub, "placement/availabilityZone") == 0)
        return awsxml_list_text(l, F_AZ, cur->az, sizeof(cur->az), text, sub, 0);
    if (strcmp(sub, "instanceState/name") == 0)
        return awsxml_list_text(l, F_STATE, cur->state, sizeof(cur->state), text, sub, 0);
    if (strcmp(sub, "metadataOptions/httpPutResponseHopLimit") == 0) {
        if (awsxml_list_text(l, F_HOP, hop, sizeof(hop), text, sub, 1) != 0)
            return 1;
        if (str_to_int(hop, 1, 64, &cur->hop_limit) != AGENT_OK)
            return awsxml_list_fail(l, AGENT_ERR_PARSE, "not a hop limit in", sub);
        return 0;
    }
    if (strcmp(sub, "metadataOptions/httpTokens") == 0)
        return awsxml_list_text(l, F_TOKENS, cur->http_tokens, sizeof(cur->http_tokens), text, sub,
                                0);
    if (strcmp(sub, "metadataOptions/instanceMetadataTags") == 0)
        return awsxml_list_text(l, F_MDTAGS, cur->metadata_tags, sizeof(cur->metadata_tags), text,
                                sub, 0);
    if (strcmp(sub, "tagSet/item/key") == 0)
        return di_tag(l, cur, 1, text);
    if (strcmp(sub, "tagSet/item/value") == 0)
        return di_tag(l, cur, 0, text);
    return 0;
}

enum agent_rc
ec2_parse_instances(const char *xml, size_t len, struct ec2_instance *out, size_t cap, size_t *n)
{
    struct ec2_instance *cur;
    struct awsxml_list l;
    struct di_user u;
    size_t n0;
    enum agent_rc rc;

    if (out == NULL || n == NULL || *n > cap)
        return AGENT_ERR_INVAL;
    /* The staging copy is large (tags): on the heap, not the stack. */
    cur = calloc(1, sizeof(*cur));
    if (cur == NULL)
        return AGENT_ERR_NOMEM;
    n0 = *n;
    memset(&u, 0, sizeof(u));
    u.out = out;
    u.cap = cap;
    u.n = n;
    memset(&l, 0, sizeof(l));
    l.prefix = "ec2";
    l.action = "DescribeInstances";
    l.root = DI_ROOT;
    l.member = DI_MEMBER;
    l.cur = cur;
    l.cur_size = sizeof(*cur);
    l.field = di_field;
    l.finish = di_finish;
    l.user = &u;
    rc = awsxml_list_run(&l, xml, len);
    if (rc != AGENT_OK)
        *n = n0;
    free(cur);
    return rc;
}

/* ---- the calls ---- */

static enum agent_rc
query(struct awsapi *api, const char *action, const struct aws_param *p, size_t n, int idempotent,
      struct buf *reply, struct aws_error *err)
{
    struct aws_query q;

    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_EC2;
    q.action = action;
    q.version = EC2_VERSION;
    q.params = p;
    q.n_params = n;
    q.idempotent = idempotent;
    return awsapi_query(api, &q, reply, err);
}

static int
tag_text_ok(const char *s, size_t max, int allow_empty)
{
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if ((!allow_empty && n == 0) || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* Every failure is the caller's to report (ec2_create_tag with quiet). */
static int
any_error(const struct aws_error *e)
{
    (void)e;
    return 1;
}

enum agent_rc
ec2_create_tag(struct awsapi *api, const char *instance_id, const char *key, const char *value,
               int quiet)
{
    struct aws_param p[3];
    struct aws_error err;
    struct buf reply;
    enum agent_rc rc;

    if (api == NULL || instance_id == NULL || !str_is_instance_id(instance_id)) {
        log_errx("ec2: CreateTags: not an instance id");
        return AGENT_ERR_INVAL;
    }
    if (!tag_text_ok(key, EC2_TAG_KEY_MAX - 1, 0) ||
        !tag_text_ok(value, EC2_TAG_VALUE_MAX - 1, 1)) {
        log_errx("ec2: CreateTags: a key of 1-128 and a value of 0-256 characters, without "
                 "control characters");
        return AGENT_ERR_INVAL;
    }
    p[0].name = "ResourceId.1";
    p[0].value = instance_id;
    p[1].name = "Tag.1.Key";
    p[1].value = key;
    p[2].name = "Tag.1.Value";
    p[2].value = value;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    if (quiet) {
        struct aws_query q;

        memset(&q, 0, sizeof(q));
        q.svc = AWS_SVC_EC2;
        q.action = "CreateTags";
        q.version = EC2_VERSION;
        q.params = p;
        q.n_params = 3;
        q.idempotent = 1;
        q.expected = any_error;
        rc = awsapi_query(api, &q, &reply, &err);
    } else {
        rc = query(api, "CreateTags", p, 3, 1, &reply, &err);
    }
    if (rc == AGENT_OK)
        rc = awsxml_parse_empty_reply("ec2", reply.data != NULL ? reply.data : "", reply.len,
                                      "CreateTags");
    if (rc == AGENT_OK)
        log_debug("ec2: tagged %s %s", instance_id, key);
    buf_cleanup(&reply);
    return rc;
}

static int
dry_run_ok(const struct aws_error *e)
{
    return strcmp(e->code, "DryRunOperation") == 0;
}

enum agent_rc
ec2_probe_create_tags(struct awsapi *api, const char *instance_id, struct aws_error *err)
{
    struct aws_param p[4];
    struct aws_error e;
    struct aws_query q;
    struct buf reply;
    enum agent_rc rc;

    if (api == NULL || instance_id == NULL || !str_is_instance_id(instance_id))
        return AGENT_ERR_INVAL;
    p[0].name = "DryRun";
    p[0].value = "true";
    p[1].name = "ResourceId.1";
    p[1].value = instance_id;
    p[2].name = "Tag.1.Key";
    p[2].value = "wcs-agent:result";
    p[3].name = "Tag.1.Value";
    p[3].value = "";
    memset(&q, 0, sizeof(q));
    q.svc = AWS_SVC_EC2;
    q.action = "CreateTags";
    q.version = EC2_VERSION;
    q.params = p;
    q.n_params = 4;
    q.idempotent = 1;
    q.expected = dry_run_ok;
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    rc = awsapi_query(api, &q, &reply, &e);
    buf_cleanup(&reply);
    if (err != NULL)
        *err = e;
    if (rc == AGENT_ERR_AWS && dry_run_ok(&e))
        return AGENT_OK;
    if (rc == AGENT_OK) {
        /* A DryRun never succeeds: a 2xx means the endpoint ignored DryRun. */
        log_errx("ec2: CreateTags DryRun answered 2xx, expected DryRunOperation");
        return AGENT_ERR_PARSE;
    }
    return rc;
}

enum agent_rc
ec2_describe_instances(struct awsapi *api, const char *const *ids, size_t n_ids,
                       struct ec2_instance *out, size_t cap, size_t *n_out)
{
    struct aws_param p[EC2_IDS_PER_CALL];
    char names[EC2_IDS_PER_CALL][24];
    struct aws_error err;
    struct buf reply;
    size_t done = 0, i, n = 0;
    enum agent_rc rc = AGENT_OK;

    if (api == NULL || ids == NULL || n_ids == 0 || out == NULL || n_out == NULL) {
        log_errx("ec2: DescribeInstances: no instance ids");
        return AGENT_ERR_INVAL;
    }
    for (i = 0; i < n_ids; i++) {
        if (ids[i] == NULL || !str_is_instance_id(ids[i])) {
            log_errx("ec2: DescribeInstances: not an instance id");
            return AGENT_ERR_INVAL;
        }
    }
    buf_init(&reply, AWSAPI_MAX_RESPONSE);
    while (done < n_ids) {
        size_t k = n_ids - done > EC2_IDS_PER_CALL ? EC2_IDS_PER_CALL : n_ids - done;

        for (i = 0; i < k; i++) {
            snprintf(names[i], sizeof(names[i]), "InstanceId.%zu", i + 1);
            p[i].name = names[i];
            p[i].value = ids[done + i];
        }
        buf_reset(&reply);
        rc = query(api, "DescribeInstances", p, k, 1, &reply, &err);
        if (rc == AGENT_OK)
            rc = ec2_parse_instances(reply.data != NULL ? reply.data : "", reply.len, out, cap, &n);
        if (rc != AGENT_OK)
            break;
        done += k;
    }
    buf_cleanup(&reply);
    if (rc == AGENT_OK)
        *n_out = n;
    return rc;
}
