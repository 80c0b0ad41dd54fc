/*
 * stats: the WCS stats page and the ready step (design.md §1, §3.2;
 * wcs.md §6).
 *
 * The page (http://127.0.0.1:8081/?action=stat) is text whose lines are
 * "name=value"; how the real page wraps them (HTML, section headers) is not
 * known for sure, so the parser takes every line that looks like
 * name=value and ignores everything else:
 *   - HTML tags ("<br>", "<p>", ...) separate lines and are dropped;
 *   - each line is trimmed; a line without '=' (a section header such as
 *     "-----Connection Stats-----"), an empty name, or a name with other
 *     characters than [A-Za-z0-9_.-] is ignored;
 *   - the value is the trimmed rest of the line (may be empty); the last
 *     occurrence of a name wins.
 * Every byte of the page is untrusted: names and values are capped, the
 * number of fields is capped, and nothing is ever executed or logged raw.
 *
 * Conditions (ready.require): NAME (present), NAME>N, NAME>=N, NAME=N,
 * NAME of [A-Za-z0-9_.], N a decimal integer (may be negative).
 */
#ifndef AGENT_WCS_STATS_H
#define AGENT_WCS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/rc.h"

/* The most fields kept from one page. */
#define STATS_MAX_ENTRIES 4096
/* The longest name and value kept (longer lines are ignored). */
#define STATS_NAME_MAX  128
#define STATS_VALUE_MAX 1024
/* The largest page read by wcs_wait_ready(). */
#define STATS_BODY_MAX (1024u * 1024u)
/* The longest a single poll may take. */
#define STATS_POLL_TIMEOUT_MAX_MS 2000

struct stats_entry {
    char *name;  /* owned */
    char *value; /* owned */
};

struct stats {
    struct stats_entry *items; /* in page order; a name may repeat (the last wins) */
    size_t n;
};

/*
 * Parses len bytes of body (need not be NUL-terminated; any bytes) into
 * out, which it initialises (release with stats_cleanup() in every case).
 * Returns AGENT_OK (out->n may be 0: no name=value line); AGENT_ERR_TOOBIG
 * when the page has more than STATS_MAX_ENTRIES fields; AGENT_ERR_NOMEM.
 * Never logs.
 */
enum agent_rc stats_parse(const char *body, size_t len, struct stats *out);

/* Releases s; accepts NULL. */
void stats_cleanup(struct stats *s);

/* The value of the last field called name, or NULL (borrowed from s). */
const char *stats_get(const struct stats *s, const char *name);

enum stats_op {
    STATS_OP_PRESENT, /* NAME */
    STATS_OP_GT,      /* NAME>N */
    STATS_OP_GE,      /* NAME>=N */
    STATS_OP_EQ       /* NAME=N */
};

struct stats_cond {
    char name[STATS_NAME_MAX + 1];
    enum stats_op op;
    long long value; /* N; 0 for STATS_OP_PRESENT */
};

/*
 * Parses one condition into *out.  Returns AGENT_OK; AGENT_ERR_PARSE for
 * anything else (an empty or over-long name, another operator, N not a
 * whole decimal integer in range, blanks); *out untouched on failure.
 * Never logs.
 */
enum agent_rc stats_require_parse(const char *cond, struct stats_cond *out);

/*
 * Writes a condition back as text ("ports_media_free>0") into out[cap].
 */
void stats_cond_str(const struct stats_cond *c, char *out, size_t cap);

/*
 * Checks every condition against s.  Returns 1 when all hold; 0 otherwise,
 * with reason[cap] (may be NULL when cap is 0) naming the first that does
 * not: "ports_media_free=0, wanted >0", "field core_version missing",
 * "ports_media_free=abc, wanted >0 (not a number)" (the value is shown
 * with non-printable bytes as '?' and cut at 64 bytes).  A value compares
 * as an integer, or as a decimal number when it has a fraction ("12.5").
 */
int stats_check(const struct stats *s, const struct stats_cond *conds, size_t n, char *reason,
                size_t cap);

/*
 * Called once per poll of wcs_wait_ready() (before the poll), so the caller
 * can send lifecycle heartbeats while waiting.  Return AGENT_OK to go on;
 * any other code stops the wait, which returns that code.
 */
typedef enum agent_rc (*stats_heartbeat_fn)(void *ctx);

/*
 * Polls url (http to a loopback host is allowed; no proxy) until it
 * answers HTTP 200 with at least one name=value line and every condition
 * of conds[0..n) holds.  A poll starts every interval_ms (> 0; measured
 * from the start of the previous poll, so readiness is seen within about
 * one interval of the page turning ready) and may take
 * min(STATS_POLL_TIMEOUT_MAX_MS, 4 * interval_ms), cut to the time left.
 * The wait ends after timeout_ms (> 0) or at *dl (may be NULL), whichever
 * comes first.  hb (may be NULL) is called with hb_ctx before every poll.
 *
 * reason[cap] (may be NULL when cap is 0) gets the last reason for not
 * being ready: "connection refused", "timed out after connecting",
 * "HTTP 503", "no name=value lines", "more than 4096 fields", or a
 * stats_check() reason; "" on success.  Changes of the reason are logged at
 * info level, each poll at debug level.
 *
 * Returns AGENT_OK when ready; AGENT_ERR_TIMEOUT (logged with the last
 * reason) when the time ran out; AGENT_ERR_INVAL (logged) when url is
 * refused by the HTTP policy (plain http to a host that is not loopback) or
 * an argument is bad; AGENT_ERR_INTR when SIGTERM or SIGINT arrived
 * (core/interrupt.h); the heartbeat's code when it stopped the wait.
 */
enum agent_rc wcs_wait_ready(const char *url, const struct stats_cond *conds, size_t n,
                             int64_t interval_ms, int64_t timeout_ms, const struct deadline *dl,
                             stats_heartbeat_fn hb, void *hb_ctx, char *reason, size_t cap);

/*
 * One read of the stats page: GET url (at most timeout_ms) and parse it into
 * out (initialised here; release with stats_cleanup() in every case).
 * AGENT_OK with out->n > 0; otherwise why[cap] says what was wrong ("connection
 * refused", "HTTP 503", "no name=value lines", ...) and the code is
 * AGENT_ERR_INVAL (refused by the HTTP policy), AGENT_ERR_HTTP (a status
 * other than 200), AGENT_ERR_PARSE (no fields) or the http_perform() code.
 * Never logs (callers log a change of why once).
 */
enum agent_rc wcs_stats_fetch(const char *url, int64_t timeout_ms, struct stats *out, char *why,
                              size_t cap);

#endif
