#include "cmd/inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "node/discover.h"

struct fact_row {
    const char *name;
    const char *value;
};

static const char *
user_data_kind(const struct discovery *d)
{
    if (!d->facts.has_user_data)
        return "none";
    if (d->have_user_data)
        return userdata_kind_str(d->ud.kind);
    return "other";
}

static size_t
fact_rows(const struct discovery *d, struct fact_row *rows)
{
    const struct imds_facts *f = &d->facts;
    size_t n = 0;

    rows[n++] = (struct fact_row){"instance_id", f->instance_id};
    rows[n++] = (struct fact_row){"region", f->region};
    rows[n++] = (struct fact_row){"availability_zone", f->availability_zone};
    rows[n++] = (struct fact_row){"instance_type", f->instance_type};
    rows[n++] = (struct fact_row){"local_ipv4", f->local_ipv4};
    rows[n++] = (struct fact_row){"public_ipv4", f->public_ipv4};
    rows[n++] = (struct fact_row){"mac", f->mac};
    rows[n++] = (struct fact_row){"account_id", f->account_id};
    rows[n++] = (struct fact_row){"image_id", f->image_id};
    rows[n++] = (struct fact_row){"partition_domain", f->partition_domain};
    rows[n++] = (struct fact_row){"lifecycle_state", f->lifecycle_state};
    rows[n++] = (struct fact_row){"role", f->role};
    return n;
}

static enum agent_rc
print_json(const struct discovery *d)
{
    struct fact_row rows[16];
    size_t i, n = fact_rows(d, rows);
    cJSON *root = cJSON_CreateObject(), *tags;
    char *text = NULL;
    int ok = root != NULL;

    for (i = 0; ok && i < n; i++) {
        if (rows[i].value != NULL)
            ok = cJSON_AddStringToObject(root, rows[i].name, rows[i].value) != NULL;
        else
            ok = cJSON_AddNullToObject(root, rows[i].name) != NULL;
    }
    if (ok && d->facts.tags_enabled) {
        tags = cJSON_AddObjectToObject(root, "tags");
        ok = tags != NULL;
        for (i = 0; ok && i < d->facts.n_tags; i++)
            ok =
                cJSON_AddStringToObject(tags, d->facts.tags[i].key, d->facts.tags[i].value) != NULL;
    } else if (ok) {
        ok = cJSON_AddNullToObject(root, "tags") != NULL;
    }
    if (ok)
        ok = cJSON_AddStringToObject(root, "user_data", user_data_kind(d)) != NULL;
    if (ok)
        text = cJSON_Print(root);
    if (text != NULL)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
    return text != NULL ? AGENT_OK : AGENT_ERR_NOMEM;
}

static void
print_text(const struct discovery *d)
{
    struct fact_row rows[16];
    size_t i, n = fact_rows(d, rows);

    for (i = 0; i < n; i++)
        printf("%s:%*s %s\n", rows[i].name, (int)(18 - strlen(rows[i].name)), "",
               rows[i].value != NULL ? rows[i].value : "-");
    if (!d->facts.tags_enabled) {
        printf("tags:%14s %s\n", "", "- (instance metadata tags are off)");
    } else {
        printf("tags:%14s %zu\n", "", d->facts.n_tags);
        for (i = 0; i < d->facts.n_tags; i++)
            printf("  %s:%*s %s\n", d->facts.tags[i].key,
                   (int)(strlen(d->facts.tags[i].key) < 16 ? 16 - strlen(d->facts.tags[i].key) : 0),
                   "", d->facts.tags[i].value);
    }
    printf("user_data:%9s %s\n", "", user_data_kind(d));
}

enum agent_rc
inspect_metadata(const struct run_env *env, int json, const char *path)
{
    struct agent_config *cfg = NULL;
    struct discovery d;
    struct deadline dl;
    enum agent_rc rc;

    memset(&d, 0, sizeof(d));
    rc = discover_load_config(env, NULL, &cfg);
    if (rc != AGENT_OK)
        return rc;
    deadline_in(&dl, cfg->agent.deadline_s * 1000);
    if (path != NULL) {
        struct imds_opts o = {.endpoint = cfg->imds.endpoint,
                              .timeout_ms = cfg->imds.timeout_ms,
                              .attempts = cfg->imds.attempts,
                              .deadline = &dl};
        struct buf value;

        buf_init(&value, IMDS_MAX_USER_DATA);
        rc = imds_new(&o, &d.imds);
        if (rc == AGENT_OK)
            rc = imds_get(d.imds, path, &value);
        if (rc == AGENT_OK)
            fwrite(value.data, 1, value.len, stdout);
        else if (rc == AGENT_ERR_ABSENT)
            log_errx("metadata: %s: not found in instance metadata (404)", path);
        buf_cleanup(&value);
        goto out;
    }
    /* The facts as IMDS reports them; user data is classified, never printed. */
    rc = discover_facts_all(cfg, &dl, &d);
    if (rc != AGENT_OK)
        goto out;
    if (json)
        rc = print_json(&d);
    else
        print_text(&d);
out:
    fflush(stdout);
    discovery_cleanup(&d);
    config_free(cfg);
    return rc;
}

enum agent_rc
inspect_check_config(const struct run_env *env)
{
    struct agent_config *base = NULL, *full = NULL;
    struct discovery d;
    struct deadline dl;
    struct buf out;
    enum agent_rc rc;

    memset(&d, 0, sizeof(d));
    buf_init(&out, 1024 * 1024);
    rc = discover_load_config(env, NULL, &base);
    if (rc != AGENT_OK)
        goto done;
    deadline_in(&dl, base->agent.deadline_s * 1000);
    rc = discover_facts(base, &dl, &d);
    if (rc == AGENT_ERR_CONFIG)
        goto done;
    if (rc != AGENT_OK) {
        log_warnx("check-config: instance metadata could not be read (%s): the files were "
                  "checked alone; the user-data layer and the placeholders were not checked",
                  agent_rc_str(rc));
        rc = config_dump(base, &out);
    } else {
        rc = discover_load_config(env, &d, &full);
        if (rc == AGENT_OK)
            rc = config_dump(full, &out);
    }
    if (rc == AGENT_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
        log_info("check-config: configuration is valid");
    }
done:
    buf_cleanup(&out);
    discovery_cleanup(&d);
    config_free(full);
    config_free(base);
    return rc;
}
