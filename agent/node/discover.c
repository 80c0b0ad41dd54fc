#include "node/discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

static void
print_diag(const struct config_diag *diag)
{
    size_t i;

    for (i = 0; i < diag->n; i++)
        log_errx("%s", diag->lines[i]);
    log_errx("configuration: %zu error%s; nothing was changed", diag->n, diag->n == 1 ? "" : "s");
}

enum agent_rc
discover_load_config(const struct run_env *env, const struct discovery *d,
                     struct agent_config **out)
{
    return discover_load_config_why(env, d, out, NULL, 0);
}

enum agent_rc
discover_load_config_why(const struct run_env *env, const struct discovery *d,
                         struct agent_config **out, char *why, size_t cap)
{
    struct config_input in = env->in;
    struct config_diag diag = {0};
    enum agent_rc rc;

    if (d != NULL) {
        in.overlays = d->apply_user_data ? d->ud.overlays : NULL;
        in.n_overlays = d->apply_user_data ? d->ud.n : 0;
        in.facts = d->have_facts ? &d->cf : NULL;
    }
    rc = config_load(&in, out, &diag);
    if (rc == AGENT_OK && d != NULL) {
        size_t i;
        const struct config_list *lit = &(*out)->literal_secrets_from_user_data;

        /* User data is readable by every process and in the EC2 console (design.md §3.3). */
        for (i = 0; i < lit->n; i++)
            log_warnx("%s is a literal secret in user data, which every process on the "
                      "instance and the EC2 console can read; use a secret reference "
                      "(ssm:, secretsmanager:, s3://, file:, env:)",
                      lit->items[i]);
    }
    if (rc == AGENT_ERR_CONFIG) {
        print_diag(&diag);
        if (why != NULL && cap > 0 && diag.n > 0)
            snprintf(why, cap, "%s", diag.lines[0]);
    } else if (rc != AGENT_OK)
        log_errx("configuration: %s", agent_rc_str(rc));
    config_diag_cleanup(&diag);
    return rc;
}

void
discovery_cleanup(struct discovery *d)
{
    if (d->have_user_data)
        userdata_cleanup(&d->ud);
    if (d->have_facts)
        imds_facts_cleanup(&d->facts);
    imds_free(d->imds);
    free(d->tag_keys);
    free(d->tag_values);
    memset(d, 0, sizeof(*d));
}

/* Builds the placeholder view of the facts. */
static enum agent_rc
make_view(struct discovery *d)
{
    const struct imds_facts *f = &d->facts;
    size_t i, n = f->n_tags;

    d->tag_keys = calloc(n + 1, sizeof(*d->tag_keys));
    d->tag_values = calloc(n + 1, sizeof(*d->tag_values));
    if (d->tag_keys == NULL || d->tag_values == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        d->tag_keys[i] = f->tags[i].key;
        d->tag_values[i] = f->tags[i].value;
    }
    d->cf.instance_id = f->instance_id;
    d->cf.region = f->region;
    d->cf.az = f->availability_zone;
    d->cf.instance_type = f->instance_type;
    d->cf.local_ipv4 = f->local_ipv4;
    d->cf.public_ipv4 = f->public_ipv4;
    d->cf.tags_enabled = f->tags_enabled;
    d->cf.tag_keys = d->tag_keys;
    d->cf.tag_values = d->tag_values;
    d->cf.n_tags = n;
    d->cf.bad_tag_keys = (const char *const *)f->bad_tags;
    d->cf.n_bad_tags = f->n_bad_tags;
    return AGENT_OK;
}

#define MAX_WANTED_TAGS 50

/* Adds each distinct KEY of "{tag:KEY}" in text[0..len) to keys (n of them). */
static void
scan_tags(const char *text, size_t len, char **keys, size_t *n)
{
    const char *p = text, *end = text + len, *k, *close;
    size_t i, kl;

    while (p + 5 <= end) {
        k = memchr(p, '{', (size_t)(end - p));
        if (k == NULL || k + 5 > end)
            return;
        if (memcmp(k, "{tag:", 5) != 0) {
            p = k + 1;
            continue;
        }
        k += 5;
        close = memchr(k, '}', (size_t)(end - k));
        if (close == NULL)
            return;
        kl = (size_t)(close - k);
        p = close + 1;
        if (kl == 0 || memchr(k, '{', kl) != NULL || memchr(k, '\n', kl) != NULL)
            continue;
        for (i = 0; i < *n; i++) {
            if (strlen(keys[i]) == kl && memcmp(keys[i], k, kl) == 0)
                break;
        }
        if (i < *n || *n == MAX_WANTED_TAGS)
            continue;
        keys[*n] = str_ndup(k, kl);
        if (keys[*n] != NULL)
            (*n)++;
    }
}

/*
 * The tags a run uses: every {tag:KEY} in the configuration (every layer but
 * the user data, as loaded) and in the user data, and the Auto Scaling group
 * tag that signal and drain fall back on.  Only those are fetched.
 */
static enum agent_rc
fetch_used_tags(const struct agent_config *cfg, struct discovery *d)
{
    char *keys[MAX_WANTED_TAGS];
    struct buf dump;
    size_t n = 0, i;
    enum agent_rc rc;

    keys[n] = str_dup("aws:autoscaling:groupName");
    if (keys[n] == NULL)
        return AGENT_ERR_NOMEM;
    n++;
    buf_init(&dump, 1024 * 1024);
    rc = config_dump(cfg, &dump);
    if (rc == AGENT_OK)
        scan_tags(dump.data != NULL ? dump.data : "", dump.len, keys, &n);
    buf_cleanup(&dump);
    if (d->facts.has_user_data)
        scan_tags(d->facts.user_data.data != NULL ? d->facts.user_data.data : "",
                  d->facts.user_data.len, keys, &n);
    if (rc == AGENT_OK)
        rc = imds_get_tags(d->imds, (const char *const *)keys, n, &d->facts);
    for (i = 0; i < n; i++)
        free(keys[i]);
    return rc;
}

static enum agent_rc discover(const struct agent_config *cfg, const struct deadline *dl,
                              struct discovery *d, int lean);

enum agent_rc
discover_facts(const struct agent_config *cfg, const struct deadline *dl, struct discovery *d)
{
    return discover(cfg, dl, d, 1);
}

enum agent_rc
discover_facts_all(const struct agent_config *cfg, const struct deadline *dl, struct discovery *d)
{
    return discover(cfg, dl, d, 0);
}

static enum agent_rc
discover(const struct agent_config *cfg, const struct deadline *dl, struct discovery *d, int lean)
{
    struct imds_opts o;
    enum agent_rc rc;
    char err[256] = "";

    memset(d, 0, sizeof(*d));
    memset(&o, 0, sizeof(o));
    o.endpoint = cfg->imds.endpoint;
    o.timeout_ms = cfg->imds.timeout_ms;
    o.attempts = cfg->imds.attempts;
    o.deadline = dl;
    rc = imds_new(&o, &d->imds);
    if (rc != AGENT_OK)
        goto fail;
    rc = imds_discover_lean(d->imds, lean, &d->facts);
    if (rc != AGENT_OK)
        goto fail;
    d->have_facts = 1;
    if (lean) {
        rc = fetch_used_tags(cfg, d);
        if (rc != AGENT_OK)
            goto fail;
    }
    rc = make_view(d);
    if (rc != AGENT_OK)
        goto fail;
    if (d->facts.user_data_over > IMDS_USER_DATA_FETCH_MAX) {
        snprintf(d->user_data_error, sizeof(d->user_data_error),
                 "user data is more than %d bytes, over the %d KiB limit", IMDS_USER_DATA_FETCH_MAX,
                 IMDS_MAX_USER_DATA / 1024);
    } else if (d->facts.user_data_over > 0) {
        snprintf(d->user_data_error, sizeof(d->user_data_error),
                 "user data is %zu bytes, over the %d KiB limit", d->facts.user_data_over,
                 IMDS_MAX_USER_DATA / 1024);
    } else if (d->facts.has_user_data) {
        rc = userdata_parse(d->facts.user_data.data, d->facts.user_data.len, &d->ud, err,
                            sizeof(err));
        if (rc == AGENT_OK)
            d->have_user_data = 1;
        else
            snprintf(d->user_data_error, sizeof(d->user_data_error), "user-data: %.200s",
                     err[0] != '\0' ? err : agent_rc_str(rc));
    }
    if (d->user_data_error[0] != '\0') {
        /* Ignored user data that cannot be used is simply not for the agent. */
        d->ud.kind = USERDATA_OTHER;
        if (cfg->agent.user_data == CONFIG_USER_DATA_APPLY) {
            log_errx("%s", d->user_data_error);
            rc = AGENT_ERR_CONFIG;
            goto fail;
        }
    } else if (d->have_user_data) {
        d->apply_user_data = cfg->agent.user_data == CONFIG_USER_DATA_APPLY;
    }
    return AGENT_OK;
fail:
    discovery_cleanup(d);
    return rc;
}

void
discover_summary(const struct discovery *d, char *out, size_t cap)
{
    const struct imds_facts *f = &d->facts;
    const char *kind = "none";

    if (d->have_user_data && !d->apply_user_data)
        kind = "ignored";
    else if (d->have_user_data)
        kind = userdata_kind_str(d->ud.kind);
    else if (f->has_user_data)
        kind = "other";
    snprintf(out, cap, "%s %s %s %s/%s, user data: %s", f->instance_id,
             f->availability_zone != NULL ? f->availability_zone : "-",
             f->instance_type != NULL ? f->instance_type : "-",
             f->local_ipv4 != NULL ? f->local_ipv4 : "-",
             f->public_ipv4 != NULL ? f->public_ipv4 : "no public IPv4", kind);
}
