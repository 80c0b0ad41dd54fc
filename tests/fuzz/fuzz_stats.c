/*
 * Fuzz target: the stats page parser and the ready.require grammar.  The
 * input is split at the first NUL-free line "--conds--": before it the page,
 * after it one condition per line.  Every parsed field must be well formed
 * (a name of [A-Za-z0-9_.-], no line break in a value), every parsed
 * condition must survive stats_cond_str -> stats_require_parse unchanged,
 * and stats_check must give a NUL-terminated reason.  The page is parsed
 * once per input and every check is linear in its size; libFuzzer gets
 * -max_len=20480 from fuzz_stats.options: room for more than
 * STATS_MAX_ENTRIES (4096) short lines, so the cap is still reached, while
 * the two allocations per field keep units small (64 KiB inputs ran at a
 * quarter of the speed under ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wcs/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPLIT "\n--conds--\n"
/* The fields looked up by name per input (the first ones and the last). */
#define LOOKUPS 16

static void
check_fields(const struct stats *s)
{
    size_t i, j;

    if (s->n > STATS_MAX_ENTRIES)
        abort();
    for (i = 0; i < s->n; i++) {
        const char *n = s->items[i].name, *v = s->items[i].value;

        if (n[0] == '\0' || strlen(n) > STATS_NAME_MAX || strlen(v) > STATS_VALUE_MAX)
            abort();
        for (j = 0; n[j] != '\0'; j++) {
            char c = n[j];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-'))
                abort();
        }
        if (strchr(v, '\n') != NULL || strchr(v, '\r') != NULL || strchr(v, '<') != NULL)
            abort();
        /* stats_get() is a linear search: look up a bounded sample, so the check stays linear. */
        if ((i < LOOKUPS || i + 1 == s->n) && stats_get(s, n) == NULL)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *split = NULL, *p, *end = text + size, *nl;
    struct stats_cond conds[8], back;
    struct stats s;
    char line[512], str[512], reason[128];
    size_t page_len = size, nconds = 0, i, n;

    for (i = 0; i + strlen(SPLIT) <= size; i++) {
        if (memcmp(text + i, SPLIT, strlen(SPLIT)) == 0) {
            split = text + i;
            break;
        }
    }
    if (split != NULL)
        page_len = (size_t)(split - text);

    for (p = split != NULL ? split + strlen(SPLIT) : end; p < end && nconds < 8; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        n = (size_t)(nl - p);
        if (n < sizeof(line) && memchr(p, '\0', n) == NULL) {
            memcpy(line, p, n);
            line[n] = '\0';
            if (stats_require_parse(line, &conds[nconds]) == AGENT_OK) {
                stats_cond_str(&conds[nconds], str, sizeof(str));
                if (stats_require_parse(str, &back) != AGENT_OK ||
                    strcmp(back.name, conds[nconds].name) != 0 || back.op != conds[nconds].op ||
                    back.value != conds[nconds].value)
                    abort();
                nconds++;
            }
        }
        if (nl == end)
            break;
    }

    if (stats_parse(text, page_len, &s) == AGENT_OK) {
        check_fields(&s);
        reason[0] = 'x';
        if (stats_check(&s, conds, nconds, reason, sizeof(reason)) == 1 && reason[0] != '\0')
            abort();
        if (strlen(reason) >= sizeof(reason))
            abort();
    }
    stats_cleanup(&s);
    return 0;
}
