#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/schema.h"
#include "config/secretref.h"

static const char *
field_text(const struct agent_config *cfg, const struct key_def *k, char *tmp, size_t cap)
{
    const char *base = (const char *)cfg;

    switch (k->kind) {
    case KIND_STR: {
        const char *s = *(char *const *)(const void *)(base + k->off);
        if (s == NULL)
            return "";
        if ((k->flags & KF_SECRET) != 0 && !secretref_is_reference(s))
            return "***";
        return s;
    }
    case KIND_I64:
        snprintf(tmp, cap, "%lld", (long long)*(const int64_t *)(const void *)(base + k->off));
        return tmp;
    case KIND_INT:
        snprintf(tmp, cap, "%d", *(const int *)(const void *)(base + k->off));
        return tmp;
    case KIND_BOOL:
        return *(const int *)(const void *)(base + k->off) ? "true" : "false";
    case KIND_USER_DATA:
        return cfg->agent.user_data == CONFIG_USER_DATA_IGNORE ? "ignore" : "apply";
    case KIND_ON_FAILURE:
        return cfg->signal.on_failure == CONFIG_ON_FAILURE_CONTINUE ? "continue" : "abandon";
    case KIND_RESTART_MODE:
        return config_restart_mode_str(cfg->restart.mode);
    case KIND_CDN_ROLE:
        return config_cdn_role_str(cfg->cdn.role);
    case KIND_LIST:
        break;
    }
    return "";
}

/* The output of a dump: INI text, or one line per value with its origin. */
struct dump {
    const struct agent_config *cfg;
    struct buf *out;
    int origins;
    const char *section;
};

static enum agent_rc
dump_line(struct dump *d, const char *key, size_t item, const char *value)
{
    struct config_origin o;
    char name[128], where[4200];

    if (!d->origins) {
        if (value[0] == '\0')
            return buf_printf(d->out, "%s =\n", key);
        return buf_printf(d->out, "%s = %s\n", key, value);
    }
    snprintf(name, sizeof(name), "%s.%s", d->section, key);
    if (config_origin(d->cfg, name, item, &o) != AGENT_OK) {
        o.kind = CONFIG_ORIGIN_DEFAULT;
        o.name = "";
        o.line = 0;
    }
    config_origin_format(&o, where, sizeof(where));
    if (value[0] == '\0')
        return buf_printf(d->out, "%s\t%s =\n", where, name);
    return buf_printf(d->out, "%s\t%s = %s\n", where, name, value);
}

static enum agent_rc
dump_section(struct dump *d, const char *section, int first)
{
    d->section = section;
    if (d->origins)
        return AGENT_OK;
    return buf_printf(d->out, "%s[%s]\n", first ? "" : "\n", section);
}

static enum agent_rc
dump(const struct agent_config *cfg, struct buf *out, int origins)
{
    struct dump d = {cfg, out, origins, NULL};
    char tmp[32];
    enum agent_rc rc = AGENT_OK;
    size_t i;
    int k;

    if (cfg == NULL)
        return AGENT_ERR_INVAL;
    for (k = 0; k < K__MAX && rc == AGENT_OK; k++) {
        const struct key_def *kd = &schema_keys[k];

        if (d.section == NULL || strcmp(d.section, kd->section) != 0) {
            /* [properties] sits after [cdn], where design.md lists it. */
            if (d.section != NULL && strcmp(d.section, "cdn") == 0) {
                rc = dump_section(&d, "properties", 0);
                for (i = 0; i < cfg->properties.n && rc == AGENT_OK; i++)
                    rc = dump_line(&d, cfg->properties.items[i].key, 0,
                                   cfg->properties.items[i].value);
                if (rc != AGENT_OK)
                    break;
            }
            rc = dump_section(&d, kd->section, k == 0);
            if (rc != AGENT_OK)
                break;
        }
        if (kd->kind == KIND_LIST) {
            const struct config_list *l =
                (const struct config_list *)(const void *)((const char *)cfg + kd->off);
            if (l->n == 0)
                rc = dump_line(&d, kd->key, 0, "");
            for (i = 0; i < l->n && rc == AGENT_OK; i++)
                rc = dump_line(&d, kd->key, i, l->items[i]);
            continue;
        }
        rc = dump_line(&d, kd->key, 0, field_text(cfg, kd, tmp, sizeof(tmp)));
    }
    return rc;
}

enum agent_rc
config_dump(const struct agent_config *cfg, struct buf *out)
{
    return dump(cfg, out, 0);
}

enum agent_rc
config_dump_origins(const struct agent_config *cfg, struct buf *out)
{
    return dump(cfg, out, 1);
}
