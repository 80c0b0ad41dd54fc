#include "cmd/metadata.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "node/discover.h"

static const char usage[] =
    "usage: wcs-agent metadata [--json] [PATH]\n"
    "the instance facts from IMDSv2, or the raw value under PATH\n"
    "\n"
    "options:\n"
    "  --json                the facts as one JSON object\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 ok, 1 failed, 64 usage error, 75 temporary failure, 78 configuration error\n";

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

static enum agent_rc
metadata(const struct run_env *env, int json, const char *path)
{
    struct agent_config *cfg = NULL;
    struct discovery d;
    struct deadline dl;
    enum agent_rc rc;
    int apply;

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
    /*
     * The facts as IMDS reports them; user data is classified, never
     * printed.  User data the agent cannot use does not hide the facts: they
     * are printed, then the reason, and the status is a config error.
     */
    apply = cfg->agent.user_data == CONFIG_USER_DATA_APPLY;
    cfg->agent.user_data = CONFIG_USER_DATA_IGNORE;
    rc = discover_facts_all(cfg, &dl, &d);
    if (rc != AGENT_OK)
        goto out;
    if (json)
        rc = print_json(&d);
    else
        print_text(&d);
    if (rc == AGENT_OK && apply && d.user_data_error[0] != '\0') {
        fflush(stdout);
        log_errx("%s", d.user_data_error);
        rc = AGENT_ERR_CONFIG;
    }
out:
    fflush(stdout);
    discovery_cleanup(&d);
    config_free(cfg);
    return rc;
}

int
cmd_metadata(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int c, json = 0;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c != 'j')
            return cmd_usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        json = 1;
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return cmd_usage_error("%s: unexpected argument", argv[optind]);
    if (path != NULL && json)
        return cmd_usage_error("%s", "--json prints the facts; it takes no PATH");
    return agent_rc_exit_status(metadata(env, json, path));
}
