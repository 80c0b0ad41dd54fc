/*
 * http_multi: many GETs at once (libcurl multi), each with its own timeout,
 * so one dead host costs its timeout once, not once per host.  For `fleet`,
 * which reads every node's stats page (design.md §8.7).
 *
 * Policy: GET only, no body sent, no redirects, no proxy, TLS verified
 * against the process's one trust store (http_shared_trust_store()); plain http only to loopback
 * and private IPv4 literals (10/8, 172.16/12, 192.168/16, 100.64/10: the addresses of nodes inside
 * a VPC), https anywhere.  Nothing secret is sent.
 */
#ifndef AGENT_NET_HTTP_MULTI_H
#define AGENT_NET_HTTP_MULTI_H

#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "net/http.h"

struct http_multi_item {
    const char *url;           /* absolute http(s) URL */
    int64_t timeout_ms;        /* whole request, > 0 */
    struct http_response resp; /* initialised by the caller (http_response_init) */
    enum agent_rc rc;          /* as http_perform: AGENT_OK when a status arrived */
};

/*
 * Performs every item's GET in parallel and returns when all have ended
 * (each within its timeout).  AGENT_OK (per-item results in rc and resp);
 * AGENT_ERR_NOMEM or AGENT_ERR_INVAL for the call as a whole.
 */
enum agent_rc http_multi_get(struct http_multi_item *items, size_t n);

/* 1 when plain http may be used for url here: loopback or a private IPv4 literal. */
int http_multi_plain_ok(const char *url);

#endif
