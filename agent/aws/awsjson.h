/*
 * awsjson: what the JSON 1.1 clients (SSM, Secrets Manager) share: the
 * checks of a reply, which close the gaps that would let a secret be cut
 * silently or left behind in freed memory, and the request's check and body.
 *
 * No cJSON type appears here: a parsed tree is passed as void * (a cJSON *).
 */
#ifndef AGENT_AWS_AWSJSON_H
#define AGENT_AWS_AWSJSON_H

#include <stddef.h>

/*
 * 1 when json[len] holds a \u0000 escape, which cJSON would turn into an
 * early end of the string (a silently cut value).  An escaped backslash is
 * skipped whole, so "\\u0000" is not one.  NULL json is 0.
 */
int awsjson_has_nul_escape(const char *json, size_t len);

/*
 * 1 when only JSON whitespace (space, tab, CR, LF) follows end in json[len],
 * where end is the parse end cJSON reported; 0 when end is NULL or outside
 * json[0..len], or when anything else (a NUL byte too) follows.
 */
int awsjson_only_space_after(const char *json, size_t len, const char *end);

/*
 * Wipes every string and number of the parsed tree (a cJSON *, which may
 * hold a secret) and deletes it.  NULL is fine.
 */
void awsjson_delete_wiped(void *tree);

/*
 * The request body {"<key>":"<value>"}, followed by "<flag>":true when flag
 * is not NULL (all borrowed, escaped by cJSON).  Returns a string to free
 * with cJSON_free(), or NULL on out of memory.
 */
char *awsjson_body(const char *key, const char *value, const char *flag);

#endif
