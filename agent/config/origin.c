#include "config/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "core/str.h"

struct config_origins *
origins_new(void)
{
    return calloc(1, sizeof(struct config_origins));
}

void
origins_free(struct config_origins *o)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; i < o->n; i++) {
        free(o->recs[i].key);
        free(o->recs[i].name);
    }
    free(o->recs);
    for (i = 0; i < o->n_src; i++)
        free(o->src_names[i]);
    free(o->src_names);
    free(o->src);
    free(o);
}

enum agent_rc
origins_add_source(struct config_origins *o, enum config_origin_kind kind, const char *name,
                   int is_dir, int present, size_t bytes)
{
    struct config_source *n;
    char **names;
    char *copy = str_dup(name);

    if (copy == NULL)
        return AGENT_ERR_NOMEM;
    names = realloc(o->src_names, (o->n_src + 1) * sizeof(*names));
    if (names != NULL)
        o->src_names = names;
    n = names != NULL ? realloc(o->src, (o->n_src + 1) * sizeof(*n)) : NULL;
    if (n == NULL) {
        free(copy);
        return AGENT_ERR_NOMEM;
    }
    o->src = n;
    names[o->n_src] = copy;
    n[o->n_src].kind = kind;
    n[o->n_src].name = copy;
    n[o->n_src].is_dir = is_dir;
    n[o->n_src].present = present;
    n[o->n_src].bytes = bytes;
    o->n_src++;
    return AGENT_OK;
}

enum agent_rc
origins_add(struct config_origins *o, const char *key, size_t item, enum config_origin_kind kind,
            const char *name, int line)
{
    struct origin_rec *r;
    char *k, *nm;

    if (o->n == o->cap) {
        size_t cap = o->cap == 0 ? 64 : o->cap * 2;

        r = realloc(o->recs, cap * sizeof(*r));
        if (r == NULL)
            return AGENT_ERR_NOMEM;
        o->recs = r;
        o->cap = cap;
    }
    k = str_dup(key);
    nm = str_dup(name);
    if (k == NULL || nm == NULL) {
        free(k);
        free(nm);
        return AGENT_ERR_NOMEM;
    }
    r = &o->recs[o->n++];
    r->key = k;
    r->item = item;
    r->name = nm;
    r->o.kind = kind;
    r->o.name = nm;
    r->o.line = line;
    return AGENT_OK;
}

enum agent_rc
config_origin(const struct agent_config *cfg, const char *name, size_t item,
              struct config_origin *out)
{
    const struct config_origins *o = cfg != NULL ? cfg->origins : NULL;
    const char *dot = name != NULL ? strchr(name, '.') : NULL;
    char section[CONFIG_NAME_MAX + 1];
    size_t i;

    if (o == NULL || dot == NULL || out == NULL)
        return AGENT_ERR_ABSENT;
    for (i = 0; i < o->n; i++) {
        if (o->recs[i].item == item && strcmp(o->recs[i].key, name) == 0) {
            *out = o->recs[i].o;
            return AGENT_OK;
        }
    }
    /* A key without a record: no layer gave it a value, or a list no layer set. */
    if (item != 0 || str_copyn(section, sizeof(section), name, (size_t)(dot - name)) != AGENT_OK ||
        strcmp(section, "properties") == 0 || schema_find_key(section, dot + 1) < 0)
        return AGENT_ERR_ABSENT;
    out->kind = CONFIG_ORIGIN_DEFAULT;
    out->name = "";
    out->line = 0;
    return AGENT_OK;
}

void
config_origin_format(const struct config_origin *o, char *out, size_t cap)
{
    if (cap == 0)
        return;
    switch (o->kind) {
    case CONFIG_ORIGIN_FILE:
        snprintf(out, cap, "file:%s:%d", o->name, o->line);
        return;
    case CONFIG_ORIGIN_USER_DATA:
        snprintf(out, cap, "%s:%d", o->name, o->line);
        return;
    case CONFIG_ORIGIN_ENV:
        snprintf(out, cap, "env:%s", o->name);
        return;
    case CONFIG_ORIGIN_SET: /* the option: "--set" or "--state-dir" */
        snprintf(out, cap, "%s",
                 o->name != NULL && strncmp(o->name, "--", 2) == 0 ? o->name : "--set");
        return;
    case CONFIG_ORIGIN_DEFAULT:
        break;
    }
    snprintf(out, cap, "default");
}

const struct config_source *
config_source(const struct agent_config *cfg, size_t i)
{
    if (cfg == NULL || cfg->origins == NULL || i >= cfg->origins->n_src)
        return NULL;
    return &cfg->origins->src[i];
}
