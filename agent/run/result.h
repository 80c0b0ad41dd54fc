/*
 * result: a failure that outlives the node (design.md §8.6).  Before `run`
 * signals ABANDON/FAILURE it writes its summary line to the serial console
 * (agent.console, opened for appending, never created) and tags its own
 * instance wcs-agent:result (signal.tag_instance); on success the tag says
 * "ok <version> in <seconds> s".  The tag is written only when its meaning
 * changes (state.json result_tag remembers the last value written).
 * Neither ever stops the run or the signal: failures are logged.
 */
#ifndef AGENT_RUN_RESULT_H
#define AGENT_RUN_RESULT_H

#include <stddef.h>

#include "core/rc.h"
#include "node/ctx.h"

#define RESULT_TAG_KEY "wcs-agent:result"

/*
 * Appends line and a newline to the console at path with one write: opened
 * write-only, append, no controlling terminal, non-blocking, never created.
 * AGENT_OK; AGENT_ERR_ABSENT when there is no such file; AGENT_ERR_IO when
 * it cannot be opened or written (why logged at debug level).
 */
enum agent_rc result_write_console(const char *path, const char *line);

/*
 * Copies text into out[cap] (cap >= 4), cut at the last whole UTF-8
 * character that fits in max bytes (max < cap), control bytes made spaces.
 */
void result_cut(char *out, size_t cap, size_t max, const char *text);

/*
 * Publishes the outcome of the run: on failure (failed_at a step) the
 * console line and the tag "failed at <step>: <cause>"; on success
 * (failed_at STEP__MAX) the tag "ok <version> in <seconds> s".  The tag
 * only when signal.tag_instance is set, the instance is known and the
 * value means something other than the last one written; records it in
 * ctx->st.result_tag when written.  Never fails.
 */
void result_publish(struct run_ctx *ctx, enum step_id failed_at, double seconds);

#endif
