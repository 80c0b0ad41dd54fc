#include "node/state.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/str.h"

static const char *const step_names[STEP__MAX] = {
    [STEP_DISCOVER] = "discover",   [STEP_SECRETS] = "secrets", [STEP_UPDATE] = "update",
    [STEP_CONFIGURE] = "configure", [STEP_LICENCE] = "licence", [STEP_TLS] = "tls",
    [STEP_SERVICE] = "service",     [STEP_READY] = "ready",     [STEP_REGISTER] = "register",
    [STEP_SIGNAL] = "signal",
};

static const char *const step_results[STEP_RESULT__MAX] = {
    [STEP_RESULT_PENDING] = "pending", [STEP_RESULT_OK] = "ok",
    [STEP_RESULT_CHANGED] = "changed", [STEP_RESULT_SKIPPED] = "skipped",
    [STEP_RESULT_FAILED] = "failed",
};

static const char *const run_results[RUN_RESULT__MAX] = {
    [RUN_RESULT_NONE] = "none",
    [RUN_RESULT_RUNNING] = "running",
    [RUN_RESULT_OK] = "ok",
    [RUN_RESULT_FAILED] = "failed",
};

/* ready.signalled, in the order written. */
static const struct {
    unsigned bit;
    const char *name;
} signalled_names[] = {
    {STATE_SIGNALLED_LIFECYCLE_WARM, "lifecycle:warm"},
    {STATE_SIGNALLED_LIFECYCLE, "lifecycle:in-service"},
    {STATE_SIGNALLED_CLOUDFORMATION, "cloudformation"},
    {STATE_SIGNALLED_SYSTEMD, "systemd"},
    {STATE_SIGNALLED_LIFECYCLE, "lifecycle"}, /* read only: the 0.1 spelling */
};

#define SIGNALLED_WRITTEN 4

static const char *const phase_names[] = {
    [STATE_PHASE_NONE] = "",
    [STATE_PHASE_WARM] = "warm",
    [STATE_PHASE_IN_SERVICE] = "in-service",
};

/* The steps whose change a restart applies: the only pending.restart reasons. */
#define RESTART_REASONS \
    ((1u << STEP_UPDATE) | (1u << STEP_CONFIGURE) | (1u << STEP_LICENCE) | (1u << STEP_TLS))

static const char *const drain_states[DRAIN_STATE__MAX] = {
    [DRAIN_STATE_NONE] = "",
    [DRAIN_STATE_DRAINING] = "draining",
    [DRAIN_STATE_DRAINED] = "drained",
    [DRAIN_STATE_TIMED_OUT] = "timed_out",
    [DRAIN_STATE_CANCELLED] = "cancelled",
};

static const char *const reconcile_results[RECONCILE__MAX] = {
    [RECONCILE_NONE] = "",
    [RECONCILE_OK] = "ok",
    [RECONCILE_CHANGED] = "changed",
    [RECONCILE_FAILED] = "failed",
};

const char *
state_reconcile_str(enum reconcile_result r)
{
    if ((unsigned)r >= RECONCILE__MAX)
        return "";
    return reconcile_results[r];
}

const char *
state_drain_str(enum drain_state d)
{
    if ((unsigned)d >= DRAIN_STATE__MAX)
        return "";
    return drain_states[d];
}

long long
state_counts_get(const struct state_counts *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n && i < STATE_COUNTS_MAX; i++)
        if (strcmp(c->item[i].name, name) == 0)
            return c->item[i].value;
    return -1;
}

const char *
state_step_name(enum step_id id)
{
    if ((unsigned)id >= STEP__MAX)
        return NULL;
    return step_names[id];
}

enum step_id
state_step_by_name(const char *name)
{
    int i;

    for (i = 0; i < STEP__MAX; i++)
        if (strcmp(step_names[i], name) == 0)
            return (enum step_id)i;
    return STEP__MAX;
}

const char *
state_step_result_str(enum step_result r)
{
    if ((unsigned)r >= STEP_RESULT__MAX)
        return "unknown";
    return step_results[r];
}

const char *
state_run_result_str(enum run_result r)
{
    if ((unsigned)r >= RUN_RESULT__MAX)
        return "unknown";
    return run_results[r];
}

const char *
state_phase_str(enum state_phase p)
{
    if ((unsigned)p > STATE_PHASE_IN_SERVICE)
        return "";
    return phase_names[p];
}

void
state_steps_str(unsigned mask, char *out, size_t cap)
{
    size_t n = 0;
    int i;

    if (cap == 0)
        return;
    out[0] = '\0';
    for (i = 0; i < STEP__MAX; i++) {
        int w;

        if ((mask & (1u << i)) == 0)
            continue;
        w = snprintf(out + n, cap - n, "%s%s", n > 0 ? ", " : "", step_names[i]);
        if (w < 0 || (size_t)w >= cap - n) {
            out[n] = '\0'; /* whole names only */
            return;
        }
        n += (size_t)w;
    }
}

void
state_init(struct state *st)
{
    memset(st, 0, sizeof(*st));
}

/*
 * Short display texts are cut to fit their field, with "..." marking the
 * cut; they are summaries, and the full text is in the log.
 */
static void
set_text(char *dst, size_t cap, const char *text)
{
    size_t n;

    if (text == NULL) {
        dst[0] = '\0';
        return;
    }
    n = strlen(text);
    if (n < cap) {
        memcpy(dst, text, n + 1);
        return;
    }
    memcpy(dst, text, cap - 4);
    memcpy(dst + cap - 4, "...", 4);
}

void
state_step_set_detail(struct state_step *s, const char *text)
{
    set_text(s->detail, sizeof(s->detail), text);
}

void
state_step_set_error(struct state_step *s, const char *text)
{
    set_text(s->error, sizeof(s->error), text);
}

/* Adds a string after redaction; "" and NULL add nothing unless keep_empty. */
static int
add_text(cJSON *obj, const char *name, const char *value, int keep_empty)
{
    char *red;
    cJSON *item;

    if (value == NULL || (value[0] == '\0' && !keep_empty))
        return 1;
    red = log_redact(value);
    if (red == NULL)
        return 0;
    item = cJSON_AddStringToObject(obj, name, red);
    free(red);
    return item != NULL;
}

static int
add_counts(cJSON *obj, const char *name, const struct state_counts *c)
{
    cJSON *o = cJSON_AddObjectToObject(obj, name);
    size_t i;
    int ok = o != NULL;

    for (i = 0; o != NULL && i < c->n && i < STATE_COUNTS_MAX; i++)
        ok &= cJSON_AddNumberToObject(o, c->item[i].name, (double)c->item[i].value) != NULL;
    return ok;
}

/* The drain object (design.md §4); finished is null while draining. */
static int
add_drain(cJSON *root, const struct state_drain *d)
{
    cJSON *o = cJSON_AddObjectToObject(root, "drain");
    int ok = o != NULL;

    if (o == NULL)
        return 0;
    ok &= cJSON_AddStringToObject(o, "state", state_drain_str(d->state)) != NULL;
    ok &= add_text(o, "reason", d->reason, 1);
    ok &= add_text(o, "started", d->started, 1);
    if (d->finished[0] != '\0')
        ok &= add_text(o, "finished", d->finished, 0);
    else
        ok &= cJSON_AddNullToObject(o, "finished") != NULL;
    ok &= add_counts(o, "start_counts", &d->start_counts);
    ok &= add_counts(o, "last_counts", &d->last_counts);
    return ok;
}

/* The reconcile object (design.md §8.1): the last reconcile of watch. */
static int
add_reconcile(cJSON *root, const struct state_reconcile *r)
{
    cJSON *o = cJSON_AddObjectToObject(root, "reconcile");
    int ok = o != NULL;

    if (o == NULL)
        return 0;
    ok &= cJSON_AddStringToObject(o, "result", state_reconcile_str(r->result)) != NULL;
    ok &= add_text(o, "at", r->at, 1);
    ok &= add_text(o, "run_id", r->run_id, 0);
    ok &= add_text(o, "detail", r->detail, 1);
    return ok;
}

enum agent_rc
state_to_json(const struct state *st, struct buf *out)
{
    enum agent_rc rc = AGENT_ERR_NOMEM;
    cJSON *root, *run, *steps, *applied, *ready, *sig, *pending, *list;
    char *text = NULL;
    int i, ok = 1;

    root = cJSON_CreateObject();
    if (root == NULL)
        return AGENT_ERR_NOMEM;
    ok &= cJSON_AddNumberToObject(root, "version", STATE_VERSION) != NULL;
    ok &= add_text(root, "instance_id", st->instance_id, 1);

    run = cJSON_AddObjectToObject(root, "run");
    ok &= run != NULL;
    if (run != NULL) {
        ok &= add_text(run, "id", st->run.id, 1);
        ok &= add_text(run, "started", st->run.started, 1);
        ok &= add_text(run, "finished", st->run.finished, 1);
        ok &= cJSON_AddStringToObject(run, "result", state_run_result_str(st->run.result)) != NULL;
        ok &= cJSON_AddNumberToObject(run, "exit_code", st->run.exit_code) != NULL;
    }

    steps = cJSON_AddArrayToObject(root, "steps");
    ok &= steps != NULL;
    for (i = 0; steps != NULL && i < STEP__MAX; i++) {
        const struct state_step *s = &st->steps[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(steps, o)) {
            cJSON_Delete(o);
            ok = 0;
            break;
        }
        ok &= cJSON_AddStringToObject(o, "name", step_names[i]) != NULL;
        ok &= cJSON_AddStringToObject(o, "result", state_step_result_str(s->result)) != NULL;
        ok &= add_text(o, "started", s->started, 0);
        ok &= cJSON_AddNumberToObject(o, "duration_ms", (double)s->duration_ms) != NULL;
        ok &= cJSON_AddNumberToObject(o, "attempts", s->attempts) != NULL;
        ok &= add_text(o, "detail", s->detail, 1);
        ok &= add_text(o, "error", s->error, 0);
    }

    applied = cJSON_AddObjectToObject(root, "applied");
    ok &= applied != NULL;
    if (applied != NULL) {
        ok &= add_text(applied, "config_sha256", st->applied.config_sha256, 0);
        ok &= add_text(applied, "wcs_version", st->applied.wcs_version, 0);
        ok &= add_text(applied, "licence_sha256", st->applied.licence_sha256, 0);
        ok &= add_text(applied, "certificate_sha256", st->applied.certificate_sha256, 0);
        ok &= add_text(applied, "certificate_not_after", st->applied.certificate_not_after, 0);
        ok &= add_text(applied, "download_etag", st->applied.download_etag, 0);
        ok &= add_text(applied, "download_last_modified", st->applied.download_last_modified, 0);
    }

    ready = cJSON_AddObjectToObject(root, "ready");
    ok &= ready != NULL;
    if (ready != NULL) {
        if (st->ready.at[0] != '\0')
            ok &= add_text(ready, "at", st->ready.at, 0);
        else
            ok &= cJSON_AddNullToObject(ready, "at") != NULL;
        sig = cJSON_AddArrayToObject(ready, "signalled");
        ok &= sig != NULL;
        for (i = 0; sig != NULL && i < SIGNALLED_WRITTEN; i++) {
            if (st->ready.signalled & signalled_names[i].bit) {
                cJSON *s = cJSON_CreateString(signalled_names[i].name);
                if (s == NULL || !cJSON_AddItemToArray(sig, s)) {
                    cJSON_Delete(s);
                    ok = 0;
                }
            }
        }
    }
    if (st->drain.state != DRAIN_STATE_NONE)
        ok &= add_drain(root, &st->drain);
    if (st->reconcile.result != RECONCILE_NONE)
        ok &= add_reconcile(root, &st->reconcile);
    /* The wcs-agent:result tag last written (§8.6); absent until the first. */
    ok &= add_text(root, "result_tag", st->result_tag, 0);
    if (st->phase != STATE_PHASE_NONE)
        ok &= cJSON_AddStringToObject(root, "phase", state_phase_str(st->phase)) != NULL;
    if (st->pending.restart != 0) {
        pending = cJSON_AddObjectToObject(root, "pending");
        list = pending != NULL ? cJSON_AddArrayToObject(pending, "restart") : NULL;
        ok &= list != NULL;
        for (i = 0; list != NULL && i < STEP__MAX; i++) {
            if (st->pending.restart & RESTART_REASONS & (1u << i)) {
                cJSON *s = cJSON_CreateString(step_names[i]);
                if (s == NULL || !cJSON_AddItemToArray(list, s)) {
                    cJSON_Delete(s);
                    ok = 0;
                }
            }
        }
    }
    if (st->deregistered[0] != '\0')
        ok &= add_text(root, "deregistered", st->deregistered, 0);
    if (!ok)
        goto out;
    text = cJSON_Print(root);
    if (text == NULL)
        goto out;
    rc = buf_puts(out, text);
    if (rc == AGENT_OK)
        rc = buf_putc(out, '\n');
out:
    if (text != NULL)
        cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

/* Copies a string member into dst; a missing or null member leaves "". */
static int
get_text(const cJSON *obj, const char *name, char *dst, size_t cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    dst[0] = '\0';
    if (item == NULL || cJSON_IsNull(item))
        return 1;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return 0;
    return str_copy(dst, cap, item->valuestring) == AGENT_OK;
}

static int
get_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL) {
        *out = 0;
        return 1;
    }
    if (!cJSON_IsNumber(item) || item->valuedouble < (double)min || item->valuedouble > (double)max)
        return 0;
    *out = (int64_t)item->valuedouble;
    return 1;
}

static int
get_counts(const cJSON *obj, const char *name, struct state_counts *c)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, name), *it;

    c->n = 0;
    if (o == NULL || cJSON_IsNull(o))
        return 1;
    if (!cJSON_IsObject(o))
        return 0;
    cJSON_ArrayForEach(it, o) {
        if (c->n >= STATE_COUNTS_MAX || !cJSON_IsNumber(it) || it->string == NULL ||
            it->valuedouble < -1e15 || it->valuedouble > 1e15 ||
            str_copy(c->item[c->n].name, sizeof(c->item[c->n].name), it->string) != AGENT_OK)
            return 0;
        c->item[c->n].value = (long long)it->valuedouble;
        c->n++;
    }
    return 1;
}

static int
get_drain(const cJSON *o, struct state_drain *d)
{
    char word[32];
    int ok = 1, i;

    ok &= get_text(o, "state", word, sizeof(word));
    d->state = DRAIN_STATE__MAX;
    for (i = DRAIN_STATE_DRAINING; i < DRAIN_STATE__MAX; i++)
        if (strcmp(word, drain_states[i]) == 0)
            d->state = (enum drain_state)i;
    ok &= d->state != DRAIN_STATE__MAX;
    ok &= get_text(o, "reason", d->reason, sizeof(d->reason));
    ok &= get_text(o, "started", d->started, sizeof(d->started));
    ok &= get_text(o, "finished", d->finished, sizeof(d->finished));
    ok &= get_counts(o, "start_counts", &d->start_counts);
    ok &= get_counts(o, "last_counts", &d->last_counts);
    return ok;
}

static int
get_reconcile(const cJSON *o, struct state_reconcile *r)
{
    char word[32];
    int ok = 1, i;

    ok &= get_text(o, "result", word, sizeof(word));
    r->result = RECONCILE__MAX;
    for (i = RECONCILE_OK; i < RECONCILE__MAX; i++)
        if (strcmp(word, reconcile_results[i]) == 0)
            r->result = (enum reconcile_result)i;
    ok &= r->result != RECONCILE__MAX;
    ok &= get_text(o, "at", r->at, sizeof(r->at));
    ok &= get_text(o, "run_id", r->run_id, sizeof(r->run_id));
    ok &= get_text(o, "detail", r->detail, sizeof(r->detail));
    return ok;
}

enum agent_rc
state_from_json(const char *json, size_t len, struct state *st)
{
    const char *end = NULL;
    cJSON *root;
    const cJSON *run, *steps, *step, *applied, *ready, *sig, *it, *drain, *pending, *rec;
    struct state tmp;
    int64_t v = 0;
    char word[32];
    int ok = 1, i;

    state_init(&tmp);
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return AGENT_ERR_PARSE;
    }
    ok &= get_int(root, "version", 1, 1, &v) && v == STATE_VERSION;
    ok &= get_text(root, "instance_id", tmp.instance_id, sizeof(tmp.instance_id));
    ok &= get_text(root, "deregistered", tmp.deregistered, sizeof(tmp.deregistered));

    run = cJSON_GetObjectItemCaseSensitive(root, "run");
    if (cJSON_IsObject(run)) {
        ok &= get_text(run, "id", tmp.run.id, sizeof(tmp.run.id));
        ok &= get_text(run, "started", tmp.run.started, sizeof(tmp.run.started));
        ok &= get_text(run, "finished", tmp.run.finished, sizeof(tmp.run.finished));
        ok &= get_text(run, "result", word, sizeof(word));
        tmp.run.result = RUN_RESULT__MAX;
        for (i = 0; i < RUN_RESULT__MAX; i++)
            if (strcmp(word, run_results[i]) == 0)
                tmp.run.result = (enum run_result)i;
        ok &= tmp.run.result != RUN_RESULT__MAX;
        ok &= get_int(run, "exit_code", 0, 255, &v);
        tmp.run.exit_code = (int)v;
    } else {
        ok &= run == NULL;
    }

    steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    if (steps != NULL && !cJSON_IsArray(steps))
        ok = 0;
    cJSON_ArrayForEach(step, steps) {
        enum step_id id;
        struct state_step *s;

        if (!cJSON_IsObject(step) || !get_text(step, "name", word, sizeof(word))) {
            ok = 0;
            break;
        }
        id = state_step_by_name(word);
        if (id == STEP__MAX) {
            ok = 0;
            break;
        }
        s = &tmp.steps[id];
        ok &= get_text(step, "result", word, sizeof(word));
        s->result = STEP_RESULT__MAX;
        for (i = 0; i < STEP_RESULT__MAX; i++)
            if (strcmp(word, step_results[i]) == 0)
                s->result = (enum step_result)i;
        ok &= s->result != STEP_RESULT__MAX;
        ok &= get_text(step, "started", s->started, sizeof(s->started));
        ok &= get_int(step, "duration_ms", 0, INT64_C(1) << 50, &s->duration_ms);
        ok &= get_int(step, "attempts", 0, 1000000, &v);
        s->attempts = (int)v;
        ok &= get_text(step, "detail", s->detail, sizeof(s->detail));
        ok &= get_text(step, "error", s->error, sizeof(s->error));
        if (!ok)
            break;
    }

    applied = cJSON_GetObjectItemCaseSensitive(root, "applied");
    if (cJSON_IsObject(applied)) {
        ok &= get_text(applied, "config_sha256", tmp.applied.config_sha256,
                       sizeof(tmp.applied.config_sha256));
        ok &= get_text(applied, "wcs_version", tmp.applied.wcs_version,
                       sizeof(tmp.applied.wcs_version));
        ok &= get_text(applied, "licence_sha256", tmp.applied.licence_sha256,
                       sizeof(tmp.applied.licence_sha256));
        ok &= get_text(applied, "certificate_sha256", tmp.applied.certificate_sha256,
                       sizeof(tmp.applied.certificate_sha256));
        ok &= get_text(applied, "certificate_not_after", tmp.applied.certificate_not_after,
                       sizeof(tmp.applied.certificate_not_after));
        ok &= get_text(applied, "download_etag", tmp.applied.download_etag,
                       sizeof(tmp.applied.download_etag));
        ok &= get_text(applied, "download_last_modified", tmp.applied.download_last_modified,
                       sizeof(tmp.applied.download_last_modified));
    }

    ready = cJSON_GetObjectItemCaseSensitive(root, "ready");
    if (cJSON_IsObject(ready)) {
        ok &= get_text(ready, "at", tmp.ready.at, sizeof(tmp.ready.at));
        sig = cJSON_GetObjectItemCaseSensitive(ready, "signalled");
        cJSON_ArrayForEach(it, sig) {
            if (!cJSON_IsString(it) || it->valuestring == NULL) {
                ok = 0;
                break;
            }
            for (i = 0; i < (int)(sizeof(signalled_names) / sizeof(signalled_names[0])); i++)
                if (strcmp(it->valuestring, signalled_names[i].name) == 0)
                    tmp.ready.signalled |= signalled_names[i].bit;
        }
    }

    /* phase: absent in 0.1 files; anything else than its two words is not a state document. */
    it = cJSON_GetObjectItemCaseSensitive(root, "phase");
    if (it != NULL) {
        ok &= get_text(root, "phase", word, sizeof(word));
        if (strcmp(word, "warm") == 0)
            tmp.phase = STATE_PHASE_WARM;
        else if (strcmp(word, "in-service") == 0)
            tmp.phase = STATE_PHASE_IN_SERVICE;
        else if (word[0] != '\0')
            ok = 0;
    }

    /* pending.restart: names of the steps whose change a restart applies. */
    pending = cJSON_GetObjectItemCaseSensitive(root, "pending");
    if (pending != NULL && !cJSON_IsNull(pending)) {
        if (!cJSON_IsObject(pending))
            ok = 0;
        sig = cJSON_GetObjectItemCaseSensitive(pending, "restart");
        if (sig != NULL && !cJSON_IsNull(sig) && !cJSON_IsArray(sig))
            ok = 0;
        cJSON_ArrayForEach(it, sig) {
            enum step_id id;

            if (!cJSON_IsString(it) || it->valuestring == NULL ||
                (id = state_step_by_name(it->valuestring)) == STEP__MAX ||
                ((1u << id) & RESTART_REASONS) == 0) {
                ok = 0;
                break;
            }
            tmp.pending.restart |= 1u << id;
        }
    }
    drain = cJSON_GetObjectItemCaseSensitive(root, "drain");
    if (cJSON_IsObject(drain))
        ok &= get_drain(drain, &tmp.drain);
    else
        ok &= drain == NULL || cJSON_IsNull(drain);
    rec = cJSON_GetObjectItemCaseSensitive(root, "reconcile");
    if (cJSON_IsObject(rec))
        ok &= get_reconcile(rec, &tmp.reconcile);
    else
        ok &= rec == NULL || cJSON_IsNull(rec);
    ok &= get_text(root, "result_tag", tmp.result_tag, sizeof(tmp.result_tag));
    cJSON_Delete(root);
    if (!ok)
        return AGENT_ERR_PARSE;
    *st = tmp;
    return AGENT_OK;
}

static enum agent_rc
state_path(const char *dir, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= cap) {
        log_errx("state: path too long: %s/%s", dir, name);
        return AGENT_ERR_TOOBIG;
    }
    return AGENT_OK;
}

static enum agent_rc load(const char *dir, struct state *st, int quiet);

enum agent_rc
state_load(const char *dir, struct state *st)
{
    return load(dir, st, 0);
}

enum agent_rc
state_load_quiet(const char *dir, struct state *st)
{
    return load(dir, st, 1);
}

static enum agent_rc
load(const char *dir, struct state *st, int quiet)
{
    char path[4096];
    struct buf b;
    enum agent_rc rc;

    rc = state_path(dir, STATE_FILE, path, sizeof(path));
    if (rc != AGENT_OK)
        return rc;
    buf_init(&b, STATE_MAX);
    rc = fileio_read(path, &b);
    if (rc == AGENT_OK) {
        rc = state_from_json(b.data, b.len, st);
        if (rc != AGENT_OK && !quiet)
            log_errx("state: %s: not a wcs-agent state document (version %d)", path, STATE_VERSION);
    }
    buf_cleanup(&b);
    return rc;
}

enum agent_rc
state_save(const char *dir, const struct state *st)
{
    char path[4096];
    struct buf b;
    enum agent_rc rc;

    rc = state_path(dir, STATE_FILE, path, sizeof(path));
    if (rc != AGENT_OK)
        return rc;
    buf_init(&b, STATE_MAX);
    rc = state_to_json(st, &b);
    if (rc == AGENT_OK)
        rc = fileio_write_atomic(path, b.data, b.len, 0600, 0);
    buf_cleanup(&b);
    return rc;
}

enum agent_rc
state_set_aside(const char *dir)
{
    char from[4096], to[4096];
    enum agent_rc rc;

    rc = state_path(dir, STATE_FILE, from, sizeof(from));
    if (rc == AGENT_OK)
        rc = state_path(dir, STATE_FILE ".previous", to, sizeof(to));
    if (rc != AGENT_OK)
        return rc;
    if (rename(from, to) != 0 && errno != ENOENT) {
        log_err("state: rename %s to %s", from, to);
        return AGENT_ERR_IO;
    }
    return AGENT_OK;
}

static int
open_lock(const char *dir)
{
    char path[4096];
    int fd;

    if (state_path(dir, STATE_LOCK, path, sizeof(path)) != AGENT_OK)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1)
        log_err("state: open %s", path);
    return fd;
}

static enum agent_rc lock(const char *dir, int *fd, int quiet);

enum agent_rc
state_lock(const char *dir, int *fd)
{
    return lock(dir, fd, 0);
}

enum agent_rc
state_lock_quiet(const char *dir, int *fd)
{
    return lock(dir, fd, 1);
}

static enum agent_rc
lock(const char *dir, int *fd, int quiet)
{
    int lfd = open_lock(dir);

    if (lfd == -1)
        return AGENT_ERR_IO;
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(lfd);
        if (saved == EWOULDBLOCK) {
            if (quiet)
                return AGENT_ERR_BUSY;
            log_errx("another wcs-agent run holds the lock %s/%s; try again when it ends "
                     "(wcs-agent status --wait)",
                     dir, STATE_LOCK);
            return AGENT_ERR_BUSY;
        }
        errno = saved;
        log_err("state: flock %s/%s", dir, STATE_LOCK);
        return AGENT_ERR_IO;
    }
    *fd = lfd;
    return AGENT_OK;
}

enum agent_rc
state_lock_wait(const char *dir, int64_t ms, int *fd)
{
    int64_t until = clock_mono_ms() + ms;
    enum agent_rc rc;

    for (;;) {
        rc = state_lock_quiet(dir, fd);
        if (rc != AGENT_ERR_BUSY || clock_mono_ms() >= until)
            return rc;
        clock_sleep_ms(100);
    }
}

int
state_lock_held(const char *dir)
{
    char path[4096];
    int fd, held = 0;

    if (state_path(dir, STATE_LOCK, path, sizeof(path)) != AGENT_OK)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        held = errno == EWOULDBLOCK;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return held;
}

const char *
state_json_library_version(void)
{
    return cJSON_Version();
}
