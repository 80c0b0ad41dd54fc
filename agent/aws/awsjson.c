#include "aws/awsjson.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "core/str.h"

int
awsjson_has_nul_escape(const char *json, size_t len)
{
    size_t i;

    if (json == NULL)
        return 0;
    for (i = 0; i < len; i++) {
        if (json[i] != '\\')
            continue;
        if (i + 5 < len && json[i + 1] == 'u' && memcmp(json + i + 2, "0000", 4) == 0)
            return 1;
        i++;
    }
    return 0;
}

int
awsjson_only_space_after(const char *json, size_t len, const char *end)
{
    size_t i;

    if (json == NULL || end == NULL || end < json || end > json + len)
        return 0;
    for (i = (size_t)(end - json); i < len; i++) {
        if (strchr(" \t\r\n", json[i]) == NULL || json[i] == '\0')
            return 0;
    }
    return 1;
}

/* Wipes the strings and numbers of item, its siblings after it and all their children. */
static void
wipe_tree(cJSON *item)
{
    cJSON *c;

    for (c = item; c != NULL; c = c->next) {
        if (c->valuestring != NULL)
            str_wipe(c->valuestring, strlen(c->valuestring));
        c->valuedouble = 0;
        c->valueint = 0;
        if (c->child != NULL)
            wipe_tree(c->child);
    }
}

void
awsjson_delete_wiped(void *tree)
{
    wipe_tree(tree);
    cJSON_Delete(tree);
}

char *
awsjson_body(const char *key, const char *value, const char *flag)
{
    cJSON *o;
    char *s = NULL;

    o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, key, value) != NULL &&
        (flag == NULL || cJSON_AddTrueToObject(o, flag) != NULL))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
