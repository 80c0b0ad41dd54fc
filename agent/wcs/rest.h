/*
 * rest: the WCS REST calls the agent makes (wcs.md §6, §7): POST
 * {rest}/cdn/enforce_node_state, which forces this node's CDN processing
 * state ({"state":"GROUP_CONNECTIONS_ALLOWED"} takes it out of route
 * selection for new streams) or, with an empty body, clears the forced state.
 */
#ifndef AGENT_WCS_REST_H
#define AGENT_WCS_REST_H

#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"

/* The state that routes new streams away from a draining node. */
#define WCS_CDN_ROUTE_AWAY "GROUP_CONNECTIONS_ALLOWED"

/*
 * POST rest_url/cdn/enforce_node_state with {"state":"<state>"} (state of
 * [A-Z_]), or with an empty body (Content-Length: 0) when state is NULL.
 * Up to `attempts` tries (>= 1) a second apart, each at most timeout_ms.
 * AGENT_OK on a 2xx reply; otherwise why[cap] names the cause ("HTTP 503",
 * "connection refused") and the code is AGENT_ERR_HTTP, AGENT_ERR_INVAL
 * (a URL refused by the HTTP policy, a bad state) or the http_perform()
 * code.  Never logs.
 */
enum agent_rc wcs_enforce_node_state(const char *rest_url, const char *state, int attempts,
                                     int64_t timeout_ms, char *why, size_t cap);

#endif
