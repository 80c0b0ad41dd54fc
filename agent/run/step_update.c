/*
 * update: installs the wanted WCS build (wcs/update does the work); the
 * download validators and the installed version are kept in the state.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "node/ctx.h"
#include "wcs/update.h"

/* Heartbeats while the download runs (run_heartbeat decides whether one is due). */
static void
update_tick(void *ctx)
{
    (void)run_heartbeat(ctx);
}

enum agent_rc
step_update(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    struct wcs_update_opts o;
    struct wcs_update_result res;
    char cache[4096];
    enum agent_rc rc;
    int n;

    if (!cfg->update.enabled) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "update.enabled = false");
        return AGENT_OK;
    }
    n = snprintf(cache, sizeof(cache), "%s/download", ctx->state_dir);
    if (n < 0 || (size_t)n >= sizeof(cache))
        return AGENT_ERR_TOOBIG;
    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    o.url = cfg->update.url;
    o.sha256 = cfg->update.sha256;
    o.wcs_home = cfg->wcs.home;
    o.cache_dir = cache;
    o.etag_in = ctx->st.applied.download_etag;
    o.last_modified_in = ctx->st.applied.download_last_modified;
    o.max_bytes = cfg->update.max_bytes;
    o.max_unpacked_bytes = cfg->update.max_unpacked_bytes;
    o.deadline = &ctx->deadline;
    o.force = ctx->opts->force;
    o.dry_run = ctx->opts->dry_run;
    o.tick = update_tick;
    o.tick_ctx = ctx;
    /* The download and the installer may take long: keep the launch hook alive. */
    run_heartbeat(ctx);
    rc = wcs_update(&o, &res);
    run_heartbeat(ctx);
    if (!ctx->opts->dry_run) {
        /* The validators describe the cached tarball even when the install then failed. */
        if (res.etag[0] != '\0' || res.last_modified[0] != '\0') {
            snprintf(ctx->st.applied.download_etag, sizeof(ctx->st.applied.download_etag), "%s",
                     res.etag);
            snprintf(ctx->st.applied.download_last_modified,
                     sizeof(ctx->st.applied.download_last_modified), "%s", res.last_modified);
        }
        if (res.installed_version[0] != '\0')
            snprintf(ctx->st.applied.wcs_version, sizeof(ctx->st.applied.wcs_version), "%s",
                     res.installed_version);
    }
    if (rc != AGENT_OK) {
        state_step_set_error(rec, res.detail[0] != '\0' ? res.detail : agent_rc_str(rc));
        return rc;
    }
    if (ctx->opts->dry_run)
        run_plan("update", "%s",
                 res.detail[0] != '\0' ? res.detail : "would check for a new build");
    state_step_set_detail(rec, res.detail);
    rec->result = res.changed ? STEP_RESULT_CHANGED : STEP_RESULT_OK;
    return AGENT_OK;
}
