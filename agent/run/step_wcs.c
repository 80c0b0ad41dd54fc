/*
 * The steps that manage WCS: configure, licence, tls, service, ready (and
 * update, in run/step_update.c).  wcs/ does the work; these functions decide
 * what to pass down (secrets as bytes), what the record says, and what a dry
 * run prints.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"
#include "node/ctx.h"
#include "run/life.h"
#include "wcs/configure.h"
#include "wcs/heap.h"
#include "wcs/keystore.h"
#include "wcs/licence.h"
#include "wcs/service.h"
#include "wcs/stats.h"

#define LICENCE_TIMEOUT_MS (2 * 60 * 1000)
#define SERVICE_TIMEOUT_MS (5 * 60 * 1000)

void
run_plan(const char *step, const char *fmt, ...)
{
    const char *was = log_get_step();
    struct buf b;
    va_list ap;

    buf_init(&b, 4 * 1024 * 1024);
    va_start(ap, fmt);
    if (buf_vprintf(&b, fmt, ap) == AGENT_OK) {
        /* Progress: stderr, through the logger (redacted, text or JSON). */
        log_set_step(step);
        log_info("%s", buf_cstr(&b));
        log_set_step(was);
    }
    va_end(ap);
    buf_cleanup(&b);
}

static enum agent_rc
wcs_path(const struct run_ctx *ctx, const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", ctx->cfg->wcs.home, rel);

    if (n < 0 || (size_t)n >= cap) {
        log_errx("%s/%s: path too long", ctx->cfg->wcs.home, rel);
        return AGENT_ERR_TOOBIG;
    }
    return AGENT_OK;
}

/* fileio_remove_stale_temps() for path and path.bak. */
static void
sweep_with_bak(const char *path)
{
    char bak[4096 + 8];
    int n = snprintf(bak, sizeof(bak), "%s.bak", path);

    fileio_remove_stale_temps(path);
    if (n > 0 && (size_t)n < sizeof(bak))
        fileio_remove_stale_temps(bak);
}

/* A dry run's diff: plain on stdout, so it can be piped to patch(1) (secrets masked). */
static void
plan_diff(const struct buf *diff)
{
    char *red = log_redact(buf_cstr(diff));

    if (red != NULL) {
        fputs(red, stdout);
        free(red);
    }
}

/*
 * configure: flashphoner.properties (addresses, CDN role, free keys) and the
 * heap in wcs-core.properties, written only when the bytes differ.
 */
enum agent_rc
step_configure(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    struct wcs_render_input in;
    struct wcs_edits edits;
    struct buf diff, dump;
    char props[4096], core[4096], why[256] = "", detail[256];
    int changed = 0, heap_changed = 0;
    enum agent_rc rc;
    long mem_kb = 0;

    wcs_edits_init(&edits);
    buf_init(&diff, 4 * 1024 * 1024);
    buf_init(&dump, 1024 * 1024);
    rc = wcs_path(ctx, "conf/flashphoner.properties", props, sizeof(props));
    if (rc == AGENT_OK)
        rc = wcs_path(ctx, "conf/wcs-core.properties", core, sizeof(core));
    if (rc != AGENT_OK)
        goto out;
    wcs_render_input_from_config(cfg, ctx->disc.facts.local_ipv4, ctx->disc.facts.public_ipv4, &in);
    /* A point of entry given as a secret reference was resolved by the secrets step. */
    if (ctx->secrets.present[SECRET_CDN_POINT_OF_ENTRY])
        in.point_of_entry = buf_cstr(&ctx->secrets.value[SECRET_CDN_POINT_OF_ENTRY]);
    rc = wcs_render_edits(&in, &edits, why, sizeof(why));
    if (rc != AGENT_OK) {
        state_step_set_error(rec, why[0] != '\0' ? why : "cannot render the properties");
        goto out;
    }
    if (!ctx->opts->dry_run) {
        sweep_with_bak(props);
        sweep_with_bak(core);
    }
    rc = wcs_configure_props(props, &edits, ctx->opts->dry_run, ctx->opts->dry_run ? &diff : NULL,
                             &changed);
    if (rc != AGENT_OK) {
        /* The innermost cause (the missing folder, the refused write), not only our words. */
        snprintf(why, sizeof(why), "cannot update flashphoner.properties%s%.200s",
                 log_last_error()[0] != '\0' ? ": " : "", log_last_error());
        state_step_set_error(rec, why);
        goto out;
    }
    if (strcmp(cfg->wcs.heap, "keep") != 0) {
        rc = wcs_meminfo_total_kb(NULL, &mem_kb);
        if (rc == AGENT_OK)
            rc = wcs_configure_heap(core, cfg->wcs.heap, mem_kb, ctx->opts->dry_run,
                                    ctx->opts->dry_run ? &diff : NULL, &heap_changed);
        if (rc != AGENT_OK) {
            state_step_set_error(rec, "cannot set the heap in wcs-core.properties");
            goto out;
        }
    }
    if (config_dump(cfg, &dump) == AGENT_OK)
        str_sha256_hex(dump.data, dump.len, ctx->st.applied.config_sha256);
    if (ctx->opts->dry_run) {
        if (changed || heap_changed)
            plan_diff(&diff);
        else
            run_plan("configure", "no change to %s%s", props,
                     strcmp(cfg->wcs.heap, "keep") != 0 ? " or wcs-core.properties" : "");
    }
    snprintf(detail, sizeof(detail), "%s%s%s", changed ? "flashphoner.properties updated" : "",
             changed && heap_changed ? ", " : "",
             heap_changed ? "heap set in wcs-core.properties" : "");
    if (!changed && !heap_changed)
        snprintf(detail, sizeof(detail), "%s", "properties already as configured");
    if (ctx->opts->dry_run && (changed || heap_changed))
        snprintf(detail, sizeof(detail), "%s", "would update the properties");
    state_step_set_detail(rec, detail);
    rec->result = changed || heap_changed ? STEP_RESULT_CHANGED : STEP_RESULT_OK;
out:
    buf_cleanup(&dump);
    buf_cleanup(&diff);
    wcs_edits_cleanup(&edits);
    return rc;
}

/* licence: activation with the key on stdin, once per key (by hash). */
enum agent_rc
step_licence(struct run_ctx *ctx, struct state_step *rec)
{
    const struct buf *key = &ctx->secrets.value[SECRET_LICENCE];
    char sha[65], why[256] = "", detail[128];
    char **argv = NULL;
    enum agent_rc rc;

    if (!ctx->secrets.present[SECRET_LICENCE]) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, ctx->cfg->licence.key == NULL ? "no licence configured"
                                                                 : "licence not resolved");
        return AGENT_OK;
    }
    str_sha256_hex(key->data, key->len, sha);
    if (strcmp(sha, ctx->st.applied.licence_sha256) == 0 && !ctx->opts->force) {
        rec->result = STEP_RESULT_OK;
        state_step_set_detail(rec, "this licence is already active");
        if (ctx->opts->dry_run)
            run_plan("licence", "already active: nothing to do");
        return AGENT_OK;
    }
    rc = wcs_command_argv(ctx->cfg->licence.command, ctx->cfg->wcs.service, ctx->cfg->wcs.home,
                          &argv);
    if (rc != AGENT_OK || argv == NULL) {
        state_step_set_error(rec, "licence.command is empty or malformed");
        return rc != AGENT_OK ? rc : AGENT_ERR_CONFIG;
    }
    if (ctx->opts->dry_run) {
        run_plan("licence", "would run %s with the licence key on its stdin", argv[0]);
        rec->result = STEP_RESULT_CHANGED;
        state_step_set_detail(rec, "would activate the licence");
        str_argv_free(argv);
        return AGENT_OK;
    }
    rc = wcs_licence_activate((const char *const *)argv, key->data, key->len, LICENCE_TIMEOUT_MS,
                              why, sizeof(why));
    str_argv_free(argv);
    if (rc != AGENT_OK) {
        state_step_set_error(rec, why[0] != '\0' ? why : "activation failed");
        return rc;
    }
    memcpy(ctx->st.applied.licence_sha256, sha, sizeof(sha));
    snprintf(detail, sizeof(detail), "licence activated (sha256 %.12s)", sha);
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_CHANGED;
    return AGENT_OK;
}

/* tls: the PKCS#12 keystore from the PEM certificate, chain and key. */
enum agent_rc
step_tls(struct run_ctx *ctx, struct state_step *rec)
{
    const struct secret_store *s = &ctx->secrets;
    struct keystore_input in;
    struct keystore_info info;
    struct buf existing, p12;
    struct stat sb;
    char path[4096], err[256] = "", detail[512];
    int same = 0;
    enum agent_rc rc;

    if (!s->present[SECRET_TLS_CERTIFICATE]) {
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "no certificate configured");
        return AGENT_OK;
    }
    if (!s->present[SECRET_TLS_PRIVATE_KEY]) {
        state_step_set_error(rec, "tls.certificate is set but tls.private_key is not");
        return AGENT_ERR_CONFIG;
    }
    rc = str_copy(path, sizeof(path), ctx->cfg->tls.keystore);
    if (rc != AGENT_OK)
        return rc;
    memset(&in, 0, sizeof(in));
    in.cert_pem = s->value[SECRET_TLS_CERTIFICATE].data;
    in.cert_len = s->value[SECRET_TLS_CERTIFICATE].len;
    if (s->present[SECRET_TLS_CHAIN]) {
        in.chain_pem = s->value[SECRET_TLS_CHAIN].data;
        in.chain_len = s->value[SECRET_TLS_CHAIN].len;
    }
    in.key_pem = s->value[SECRET_TLS_PRIVATE_KEY].data;
    in.key_len = s->value[SECRET_TLS_PRIVATE_KEY].len;
    in.alias = ctx->cfg->tls.alias;
    in.password = s->present[SECRET_TLS_KEYSTORE_PASSWORD]
                      ? buf_cstr(&s->value[SECRET_TLS_KEYSTORE_PASSWORD])
                      : "password";
    in.now = clock_now();
    rc = keystore_check(&in, &info, err, sizeof(err));
    if (rc != AGENT_OK) {
        log_errx("tls: %s", err);
        state_step_set_error(rec, err);
        return rc;
    }
    if (!ctx->opts->dry_run)
        fileio_remove_stale_temps(path);
    buf_init_secret(&existing, KEYSTORE_P12_MAX);
    buf_init_secret(&p12, KEYSTORE_P12_MAX);
    rc = fileio_read(path, &existing);
    if (rc == AGENT_OK)
        rc = keystore_matches(existing.data, existing.len, in.password, in.alias, &info, &same);
    else if (rc == AGENT_ERR_ABSENT || rc == AGENT_ERR_TOOBIG)
        rc = AGENT_OK; /* no usable keystore yet: build one */
    if (rc != AGENT_OK)
        goto out;
    memcpy(ctx->st.applied.certificate_sha256, info.cert_sha256, sizeof(info.cert_sha256));
    /* Metrics and doctor read the expiry from the state, with no secret to resolve. */
    snprintf(ctx->st.applied.certificate_not_after, sizeof(ctx->st.applied.certificate_not_after),
             "%s", info.not_after);
    if (same && !ctx->opts->force) {
        snprintf(detail, sizeof(detail), "keystore holds %s (%d day%s left)", info.subject,
                 info.days_left, info.days_left == 1 ? "" : "s");
        state_step_set_detail(rec, detail);
        rec->result = STEP_RESULT_OK;
        if (ctx->opts->dry_run)
            run_plan("tls", "%s already holds %s: nothing to do", path, info.subject);
        goto out;
    }
    if (ctx->opts->dry_run) {
        run_plan("tls", "would write %s: %s, chain of %zu, alias %s, mode 0640", path, info.subject,
                 info.chain_len, in.alias);
        state_step_set_detail(rec, "would write the keystore");
        rec->result = STEP_RESULT_CHANGED;
        goto out;
    }
    rc = keystore_build(&in, &p12);
    if (rc != AGENT_OK) {
        state_step_set_error(rec, "cannot build the keystore");
        goto out;
    }
    /* The keystore belongs to the WCS install's group, so WCS can read it at 0640. */
    rc = keystore_write(path, &p12, stat(ctx->cfg->wcs.home, &sb) == 0 ? sb.st_gid : (gid_t)-1);
    if (rc != AGENT_OK) {
        state_step_set_error(rec, "cannot write the keystore");
        goto out;
    }
    snprintf(detail, sizeof(detail), "keystore written: %s, expires %s (%d day%s)", info.subject,
             info.not_after, info.days_left, info.days_left == 1 ? "" : "s");
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_CHANGED;
out:
    buf_cleanup(&p12);
    buf_cleanup(&existing);
    return rc;
}

/*
 * service: restart WCS only when something above changed, an earlier run left
 * a restart pending (pending.restart), or it is not running; a running WCS
 * carrying calls is restarted as restart.mode says (run/life.c).
 */
enum agent_rc
step_service(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    char **status = NULL, **enable = NULL, **restart = NULL;
    char why[256] = "", detail[384], changed_steps[128] = "", mode[200] = "";
    unsigned owed = (ctx->changed & RUN_RESTART_STEPS) | ctx->st.pending.restart;
    unsigned earlier = ctx->st.pending.restart & ~ctx->changed;
    int active = 0, need, go = 1;
    enum agent_rc rc;

    state_steps_str(owed, changed_steps, sizeof(changed_steps));
    rc = wcs_command_argv(cfg->wcs.status_command, cfg->wcs.service, cfg->wcs.home, &status);
    if (rc == AGENT_OK)
        rc = wcs_command_argv(cfg->wcs.enable_command, cfg->wcs.service, cfg->wcs.home, &enable);
    if (rc == AGENT_OK)
        rc = wcs_command_argv(cfg->wcs.restart_command, cfg->wcs.service, cfg->wcs.home, &restart);
    if (rc != AGENT_OK || restart == NULL) {
        state_step_set_error(rec, "wcs.restart_command is empty or malformed");
        rc = rc != AGENT_OK ? rc : AGENT_ERR_CONFIG;
        goto out;
    }
    /*
     * The status answers two questions: whether to start a WCS when nothing
     * changed, and whether a running one may need a drain before its
     * restart.  A restart owed on a node that carries no calls yet (a first
     * boot) asks neither, so the command is not run (one process less).
     */
    if (status != NULL && (changed_steps[0] == '\0' || life_may_carry_calls(ctx))) {
        rc = wcs_service_is_active((const char *const *)status, SERVICE_TIMEOUT_MS, &active);
        if (rc != AGENT_OK) {
            state_step_set_error(rec, "cannot run wcs.status_command");
            goto out;
        }
    }
    need = changed_steps[0] != '\0' || !active || ctx->opts->force;
    if (!need) {
        rec->result = STEP_RESULT_OK;
        state_step_set_detail(rec, "running; nothing changed");
        if (ctx->opts->dry_run)
            run_plan("service", "WCS would not restart (running, nothing changed)");
        goto out;
    }
    if (changed_steps[0] != '\0')
        snprintf(detail, sizeof(detail), "restarted (%s changed%s)", changed_steps,
                 earlier != 0 ? ", pending from an earlier run" : "");
    else if (!active)
        snprintf(detail, sizeof(detail), "%s", "started (was not running)");
    else
        snprintf(detail, sizeof(detail), "%s", "restarted (--force)");
    if (ctx->opts->dry_run) {
        run_plan("service", "WCS would %s%s%s%s%s", changed_steps[0] != '\0' ? "restart" : "start",
                 changed_steps[0] != '\0' ? " (" : " (not running)", changed_steps,
                 changed_steps[0] != '\0' ? " changed" : "",
                 changed_steps[0] == '\0' ? ""
                 : earlier != 0           ? ", pending from an earlier run)"
                                          : ")");
        state_step_set_detail(rec, "would restart WCS");
        rec->result = STEP_RESULT_CHANGED;
        goto out;
    }
    if (active) {
        rc = life_before_restart(ctx, owed, &go, mode, sizeof(mode));
        if (rc != AGENT_OK) {
            state_step_set_error(rec, mode[0] != '\0' ? mode : "cannot drain before the restart");
            goto out;
        }
        if (!go) {
            state_step_set_detail(rec, mode);
            rec->result = STEP_RESULT_OK;
            goto out;
        }
    }
    if (enable != NULL) {
        rc = wcs_service_enable((const char *const *)enable, SERVICE_TIMEOUT_MS, why, sizeof(why));
        if (rc != AGENT_OK) {
            state_step_set_error(rec, why[0] != '\0' ? why : "enable failed");
            goto out;
        }
    }
    rc = wcs_service_restart((const char *const *)restart, SERVICE_TIMEOUT_MS, why, sizeof(why));
    if (rc != AGENT_OK) {
        state_step_set_error(rec, why[0] != '\0' ? why : "restart failed");
        goto out;
    }
    ctx->st.pending.restart = 0;
    if (mode[0] != '\0') {
        size_t n = strlen(detail);
        snprintf(detail + n, sizeof(detail) - n, "; %s", mode);
    }
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_CHANGED;
out:
    str_argv_free(status);
    str_argv_free(enable);
    str_argv_free(restart);
    return rc;
}

/* ready: the stats page answers with name=value lines and every condition holds. */
enum agent_rc
step_ready(struct run_ctx *ctx, struct state_step *rec)
{
    const struct agent_config *cfg = ctx->cfg;
    struct stats_cond *conds = NULL;
    char why[256] = "", detail[300];
    size_t i, n = cfg->ready.require.n;
    int64_t t0 = clock_mono_ms();
    enum agent_rc rc = AGENT_OK;

    if (ctx->opts->dry_run) {
        run_plan("ready", "would wait up to %lld s for %s", (long long)cfg->ready.timeout_s,
                 cfg->ready.url);
        rec->result = STEP_RESULT_SKIPPED;
        state_step_set_detail(rec, "dry run");
        return AGENT_OK;
    }
    conds = calloc(n + 1, sizeof(*conds));
    if (conds == NULL)
        return AGENT_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        if (stats_require_parse(cfg->ready.require.items[i], &conds[i]) != AGENT_OK) {
            snprintf(why, sizeof(why), "ready.require: bad condition %s",
                     cfg->ready.require.items[i]);
            state_step_set_error(rec, why);
            rc = AGENT_ERR_CONFIG;
            goto out;
        }
    }
    rc = wcs_wait_ready(cfg->ready.url, conds, n, cfg->ready.interval_ms,
                        cfg->ready.timeout_s * 1000, &ctx->deadline, run_heartbeat, ctx, why,
                        sizeof(why));
    if (rc == AGENT_ERR_TIMEOUT) {
        /* WCS that never answers is a failed node, not a temporary condition. */
        snprintf(detail, sizeof(detail), "not ready after %lld s: %s",
                 (long long)cfg->ready.timeout_s, why[0] != '\0' ? why : "no answer");
        state_step_set_error(rec, detail);
        rc = deadline_expired(&ctx->deadline) ? AGENT_ERR_TIMEOUT : AGENT_ERR_UNREADY;
        goto out;
    }
    if (rc != AGENT_OK) {
        state_step_set_error(rec, why[0] != '\0' ? why : agent_rc_str(rc));
        goto out;
    }
    snprintf(detail, sizeof(detail), "stats page answered after %lld ms",
             (long long)(clock_mono_ms() - t0));
    state_step_set_detail(rec, detail);
    rec->result = STEP_RESULT_OK;
out:
    free(conds);
    return rc;
}
