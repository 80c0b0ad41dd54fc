#include "config/placeholders.h"

#include <stdio.h>
#include <string.h>

/* Longest placeholder quoted in an error message. */
#define QUOTE_MAX 80

enum ph_id {
    PH_INSTANCE_ID,
    PH_REGION,
    PH_AZ,
    PH_INSTANCE_TYPE,
    PH_LOCAL_IPV4,
    PH_PUBLIC_IPV4,
    PH_PUBLIC_OR_LOCAL_IPV4,
    PH_WCS_HOME,
    PH_SERVICE,
    PH__MAX
};

static const struct {
    const char *name;
    const char *missing; /* why the fact can be absent */
} ph_table[PH__MAX] = {
    [PH_INSTANCE_ID] = {"instance_id", "the instance id is not known"},
    [PH_REGION] = {"region", "the region is not known"},
    [PH_AZ] = {"az", "the availability zone is not known"},
    [PH_INSTANCE_TYPE] = {"instance_type", "the instance type is not known"},
    [PH_LOCAL_IPV4] = {"local_ipv4", "this instance has no local IPv4 address"},
    [PH_PUBLIC_IPV4] = {"public_ipv4", "this instance has no public IPv4 address"},
    [PH_PUBLIC_OR_LOCAL_IPV4] = {"public_or_local_ipv4", "this instance has no IPv4 address"},
    [PH_WCS_HOME] = {"wcs_home", "not allowed in this value"},
    [PH_SERVICE] = {"service", "not allowed in this value"},
};

static int
lookup(const char *name, size_t n)
{
    int i;

    for (i = 0; i < PH__MAX; i++) {
        if (strlen(ph_table[i].name) == n && memcmp(ph_table[i].name, name, n) == 0)
            return i;
    }
    return -1;
}

/* NULL and "" are both an absent fact. */
static const char *
present(const char *s)
{
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

static const char *
fact_value(int id, const struct config_facts *f, const char *wcs_home, const char *service)
{
    switch (id) {
    case PH_INSTANCE_ID:
        return present(f->instance_id);
    case PH_REGION:
        return present(f->region);
    case PH_AZ:
        return present(f->az);
    case PH_INSTANCE_TYPE:
        return present(f->instance_type);
    case PH_LOCAL_IPV4:
        return present(f->local_ipv4);
    case PH_PUBLIC_IPV4:
        return present(f->public_ipv4);
    case PH_PUBLIC_OR_LOCAL_IPV4:
        return present(f->public_ipv4) != NULL ? present(f->public_ipv4) : present(f->local_ipv4);
    case PH_WCS_HOME:
        return wcs_home;
    case PH_SERVICE:
        return service;
    default:
        return NULL;
    }
}

/* The value of tag key[0..n), or NULL. */
static const char *
tag_value(const struct config_facts *f, const char *key, size_t n)
{
    size_t i;

    if (f->tag_keys == NULL || f->tag_values == NULL)
        return NULL;
    for (i = 0; i < f->n_tags; i++) {
        const char *k = f->tag_keys[i];
        if (k != NULL && strlen(k) == n && memcmp(k, key, n) == 0)
            return f->tag_values[i];
    }
    return NULL;
}

/* 1 when key[0..n) names a tag that discovery skipped as unusable. */
static int
tag_is_bad(const struct config_facts *f, const char *key, size_t n)
{
    size_t i;

    for (i = 0; f->bad_tag_keys != NULL && i < f->n_bad_tags; i++) {
        const char *k = f->bad_tag_keys[i];
        if (k != NULL && strlen(k) == n && memcmp(k, key, n) == 0)
            return 1;
    }
    return 0;
}

int
placeholders_has_tag(const char *s)
{
    return s != NULL && strstr(s, "{tag:") != NULL;
}

enum agent_rc
placeholders_expand(const char *in, const struct config_facts *facts, const char *wcs_home,
                    const char *service, struct buf *out, char *err, size_t errcap)
{
    const char *p = in, *open, *close, *name, *value;
    size_t n;
    int id, q;
    enum agent_rc rc;

    if (errcap > 0)
        err[0] = '\0';
    for (;;) {
        open = strchr(p, '{');
        if (open == NULL)
            return buf_puts(out, p);
        rc = buf_append(out, p, (size_t)(open - p));
        if (rc != AGENT_OK)
            return rc;
        /* The placeholder runs to the first '}'; a second '{' before it means no close. */
        name = open + 1;
        n = strcspn(name, "{}");
        close = name + n;
        q = n + 2 > QUOTE_MAX ? QUOTE_MAX : (int)n + 1;
        if (*close != '}') {
            snprintf(err, errcap, "%.*s: unterminated placeholder (no '}')", q, open);
            return AGENT_ERR_PARSE;
        }
        q = n + 2 > QUOTE_MAX ? QUOTE_MAX : (int)n + 2;
        if (n >= 4 && memcmp(name, "tag:", 4) == 0) {
            if (n == 4) {
                snprintf(err, errcap, "%.*s: empty tag key", q, open);
                return AGENT_ERR_PARSE;
            }
            if (facts == NULL) {
                rc = buf_append(out, open, n + 2); /* syntax only: kept verbatim */
            } else if (!facts->tags_enabled) {
                snprintf(err, errcap, "%.*s: instance metadata tags are not enabled", q, open);
                return AGENT_ERR_ABSENT;
            } else {
                value = tag_value(facts, name + 4, n - 4);
                if (value == NULL && tag_is_bad(facts, name + 4, n - 4)) {
                    snprintf(err, errcap,
                             "%.*s: the tag's value holds a control character (a line break?); "
                             "fix the tag",
                             q, open);
                    return AGENT_ERR_INVAL;
                }
                if (value == NULL) {
                    snprintf(err, errcap, "%.*s: tag not found", q, open);
                    return AGENT_ERR_ABSENT;
                }
                rc = buf_puts(out, value);
            }
        } else {
            id = lookup(name, n);
            if (id < 0) {
                snprintf(err, errcap, "%.*s: unknown placeholder", q, open);
                return AGENT_ERR_INVAL;
            }
            if ((id == PH_WCS_HOME && wcs_home == NULL) || (id == PH_SERVICE && service == NULL)) {
                snprintf(err, errcap, "%.*s: %s", q, open, ph_table[id].missing);
                return AGENT_ERR_INVAL;
            }
            if (facts == NULL) {
                rc = buf_append(out, open, n + 2);
            } else {
                value = fact_value(id, facts, wcs_home, service);
                if (value == NULL) {
                    snprintf(err, errcap, "%.*s: %s", q, open, ph_table[id].missing);
                    return AGENT_ERR_ABSENT;
                }
                rc = buf_puts(out, value);
            }
        }
        if (rc != AGENT_OK)
            return rc;
        p = close + 1;
    }
}
