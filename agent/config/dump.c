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

static enum agent_rc
dump_line(struct buf *out, const char *key, const char *value)
{
    if (value[0] == '\0')
        return buf_printf(out, "%s =\n", key);
    return buf_printf(out, "%s = %s\n", key, value);
}

enum agent_rc
config_dump(const struct agent_config *cfg, struct buf *out)
{
    const char *section = NULL;
    char tmp[32];
    enum agent_rc rc = AGENT_OK;
    size_t i;
    int k;

    if (cfg == NULL)
        return AGENT_ERR_INVAL;
    for (k = 0; k < K__MAX && rc == AGENT_OK; k++) {
        const struct key_def *kd = &schema_keys[k];

        if (section == NULL || strcmp(section, kd->section) != 0) {
            /* [properties] sits after [cdn], where design.md lists it. */
            if (section != NULL && strcmp(section, "cdn") == 0) {
                rc = buf_puts(out, "\n[properties]\n");
                for (i = 0; i < cfg->properties.n && rc == AGENT_OK; i++)
                    rc = dump_line(out, cfg->properties.items[i].key,
                                   cfg->properties.items[i].value);
                if (rc != AGENT_OK)
                    break;
            }
            section = kd->section;
            rc = buf_printf(out, "%s[%s]\n", k == 0 ? "" : "\n", section);
            if (rc != AGENT_OK)
                break;
        }
        if (kd->kind == KIND_LIST) {
            const struct config_list *l =
                (const struct config_list *)(const void *)((const char *)cfg + kd->off);
            if (l->n == 0)
                rc = dump_line(out, kd->key, "");
            for (i = 0; i < l->n && rc == AGENT_OK; i++)
                rc = dump_line(out, kd->key, l->items[i]);
            continue;
        }
        rc = dump_line(out, kd->key, field_text(cfg, kd, tmp, sizeof(tmp)));
    }
    return rc;
}
