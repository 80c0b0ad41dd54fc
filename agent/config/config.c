#include "config/config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config/layers.h"
#include "config/origin.h"
#include "config/placeholders.h"
#include "config/schema.h"
#include "config/secretref.h"
#include "core/fileio.h"
#include "core/str.h"

/*
 * How a load works.  Every layer is first collected, unvalidated, into one
 * list of assignments (key, raw value, origin, line, layer).  inih reads the
 * INI texts through our own line reader: Debian's r55 handler gets no line
 * number, and its reader is called once per line just before the handler
 * calls of that line, so the reader's count is the handler's line.  The
 * reader also refuses what inih would silently mangle (lines over
 * INI_MAX_LINE, NUL bytes, names over inih's 50-byte buffers) and gives inih
 * left-trimmed lines, so that an indented "key = value" is never taken as a
 * multi-line continuation of the previous key.
 *
 * Then every assignment is expanded (placeholders) and validated, each with
 * its own FILE:LINE, so that a bad value is reported even when a higher
 * layer overrides it.  The winners are copied into struct agent_config, and
 * the checks that involve two keys are made last.
 */

void
config_diag_cleanup(struct config_diag *diag)
{
    size_t i;

    if (diag == NULL)
        return;
    for (i = 0; i < diag->n; i++)
        free(diag->lines[i]);
    free(diag->lines);
    diag->lines = NULL;
    diag->n = 0;
}

/* ---- expansion and validation ---- */

static void
key_name(int key, const struct assign *a, char *out, size_t cap)
{
    if (key == KEY_PROP)
        snprintf(out, cap, "properties.%s", a->prop);
    else
        snprintf(out, cap, "%s.%s", schema_keys[key].section, schema_keys[key].key);
}

/* Sample facts: without IMDS, values are validated as if expanded with these. */
static const struct config_facts sample_facts = {
    .instance_id = "i-0123456789abcdef0",
    .region = "us-east-1",
    .az = "us-east-1a",
    .instance_type = "c5.large",
    .local_ipv4 = "10.0.0.10",
    .public_ipv4 = "203.0.113.10",
};

/*
 * A per-target template (fleet.stats_url): only {private_ip} and
 * {instance_id}, kept as written; the check runs on a sample target.
 */
static void
validate_template(struct loader *L, struct assign *a, const struct key_def *k, const char *name)
{
    static const char *const names[] = {"{private_ip}", "{instance_id}"};
    static const char *const samples[] = {"10.0.0.10", "i-0123456789abcdef0"};
    char sample[EXPANDED_MAX + 1], err[256];
    const char *p = a->value;
    size_t n = 0, i, w;

    while (*p != '\0') {
        const char *piece = p;

        w = 1;
        if (*p == '{') {
            for (i = 0; i < 2; i++)
                if (strncmp(p, names[i], strlen(names[i])) == 0)
                    break;
            if (i == 2) {
                layers_diag_at(L, a->layer, a->origin, a->line,
                               "%s: only {private_ip} and {instance_id} may be used here", name);
                a->bad = 1;
                return;
            }
            piece = samples[i];
            w = strlen(piece);
            p += strlen(names[i]);
        } else {
            p++;
        }
        if (n + w > EXPANDED_MAX) {
            layers_diag_at(L, a->layer, a->origin, a->line, "%s: longer than %d bytes", name,
                           EXPANDED_MAX);
            a->bad = 1;
            return;
        }
        memcpy(sample + n, piece, w);
        n += w;
    }
    sample[n] = '\0';
    if (schema_check_value(k, sample, err, sizeof(err)) != 0) {
        layers_diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
        a->bad = 1;
    }
}

/*
 * check-config: a file: reference names a file the agent can read and will
 * accept at run time: its mode, owner and group (fileio_check_private(); the
 * WCS group is wcs.home's).  Checked with stat and access, never opened:
 * check-config reads no secret.
 */
static void
check_file_ref(struct loader *L, struct assign *a, const char *name, const char *path,
               const char *home)
{
    struct stat st, hs;
    const char *why = NULL;
    char rule[400];

    if (stat(path, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (access(path, R_OK) != 0)
        why = strerror(errno);
    if (why != NULL) {
        layers_diag_at(L, a->layer, a->origin, a->line, "%s: %s cannot be read: %s", name, path,
                       why);
        a->bad = 1;
        return;
    }
    /* The rules the run applies when it reads the secret (the WCS group: of wcs.home). */
    if (fileio_check_private(path, home != NULL && stat(home, &hs) == 0 ? hs.st_gid : (gid_t)-1,
                             rule, sizeof(rule)) == AGENT_ERR_INVAL) {
        layers_diag_at(L, a->layer, a->origin, a->line, "%s: %s: %s", name, path, rule);
        a->bad = 1;
    }
}

/*
 * Expands (with facts) and validates one assignment.  Secret literals are
 * neither expanded nor quoted.  Without facts the stored value stays as
 * written and the check runs on a sample expansion, unless a {tag:KEY} makes
 * the value unknowable.
 */
static void
validate(struct loader *L, struct assign *a, const char *home, const char *service)
{
    const struct key_def *k = a->key == KEY_PROP ? NULL : &schema_keys[a->key];
    char name[128], err[256], rerr[256];
    struct buf out;
    struct secretref ref;
    enum agent_rc rc;
    int secret = k != NULL && (k->flags & KF_SECRET) != 0;
    int optional = k != NULL && k->def == NULL;
    const char *v;
    char *expanded;

    key_name(a->key, a, name, sizeof(name));
    /* An absolute path where PEM is expected names the file that holds it (issue 9 item 14). */
    if (k != NULL && (k->flags & KF_PEM) != 0 && a->value[0] == '/') {
        char *fileref = malloc(strlen(a->value) + 6);

        if (fileref == NULL) {
            L->fatal = AGENT_ERR_NOMEM;
            return;
        }
        memcpy(fileref, "file:", 5);
        memcpy(fileref + 5, a->value, strlen(a->value) + 1);
        str_free_secret(a->value);
        a->value = fileref;
    }
    /*
     * Only text the operator wrote can be a reference: the prefix must be in
     * the value as written.  What a placeholder produces ({tag:KEY} set by
     * anyone allowed ec2:CreateTags) is always a literal (issue 9 item 1).
     */
    a->is_ref = k != NULL && (k->flags & KF_REF) != 0 && secretref_is_reference(a->value);
    /* One wrong wcs.home must not make every value that uses it an error too. */
    if ((L->home_bad && strstr(a->value, "{wcs_home}") != NULL) ||
        (L->service_bad && strstr(a->value, "{service}") != NULL))
        return;
    if (secret && !secretref_is_reference(a->value)) {
        if (a->value[0] == '\0' && !optional) {
            layers_diag_at(L, a->layer, a->origin, a->line, "%s: must not be empty", name);
            a->bad = 1;
        }
        return;
    }
    if (optional && a->value[0] == '\0' && k->kind != KIND_LIST)
        return;
    if (k != NULL && (k->flags & KF_TEMPLATE) != 0) {
        validate_template(L, a, k, name);
        return;
    }
    buf_init(&out, EXPANDED_MAX);
    rc = placeholders_expand(a->value, L->have_facts ? &L->facts : NULL, home, service, &out, err,
                             sizeof(err));
    if (rc == AGENT_OK && !L->have_facts && !placeholders_has_tag(a->value)) {
        buf_reset(&out);
        rc = placeholders_expand(a->value, &sample_facts, home != NULL ? home : "/opt/wcs",
                                 service != NULL ? service : "webcallserver", &out, err,
                                 sizeof(err));
    } else if (rc == AGENT_OK && !L->have_facts) {
        goto done; /* syntax was fine; the value depends on a tag */
    }
    if (rc == AGENT_ERR_TOOBIG)
        snprintf(err, sizeof(err), "longer than %d bytes after expansion", EXPANDED_MAX);
    if (rc == AGENT_ERR_NOMEM) {
        L->fatal = rc;
        goto done;
    }
    /*
     * A built-in default that needs a fact the instance lacks (no IPv4 on an
     * IPv6-only instance) is not the operator's error: properties.ip and
     * ip_local are then left alone, and cdn.ip is an error only for a CDN
     * role (cross_checks).
     */
    if (rc == AGENT_ERR_ABSENT && a->layer == LAYER_DEFAULT) {
        a->no_fact = 1;
        goto done;
    }
    if (rc != AGENT_OK) {
        layers_diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
        a->bad = 1;
        goto done;
    }
    v = buf_cstr(&out);
    if (strlen(v) != out.len || strchr(v, '\r') != NULL || strchr(v, '\n') != NULL) {
        layers_diag_at(L, a->layer, a->origin, a->line,
                       "%s: the expanded value contains a CR, LF or NUL", name);
        a->bad = 1;
        goto done;
    }
    if (a->is_ref) {
        if (secretref_parse(v, &ref, rerr, sizeof(rerr)) != AGENT_OK) {
            layers_diag_at(L, a->layer, a->origin, a->line, "%s: bad secret reference: %s", name,
                           rerr);
            a->bad = 1;
            goto done;
        }
        /* Once: without facts when the path has no placeholder, else with them. */
        if (ref.kind == SECRETREF_FILE && L->in->check_files &&
            L->have_facts == (strchr(a->value, '{') != NULL))
            check_file_ref(L, a, name, ref.name, home);
        secretref_cleanup(&ref);
    } else if (k != NULL && !(optional && v[0] == '\0') &&
               schema_check_value(k, v, err, sizeof(err)) != 0) {
        layers_diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
        a->bad = 1;
        goto done;
    }
    if (L->have_facts) {
        expanded = buf_detach(&out);
        if (expanded == NULL) {
            L->fatal = AGENT_ERR_NOMEM;
            goto done;
        }
        str_free_secret(a->value);
        a->value = expanded;
    }
done:
    buf_cleanup(&out);
}

static int
assign_cmp(const void *x, const void *y)
{
    const struct assign *a = x, *b = y;

    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/* The index of the winning assignment of a scalar key, or -1. */
static long
winner(const struct loader *L, int key)
{
    long i;

    for (i = (long)L->n - 1; i >= 0; i--) {
        if (L->a[i].key == key)
            return i;
    }
    return -1;
}

/* The layer whose items a list key takes, or -1 when no layer sets it. */
static int
list_layer(const struct loader *L, int key)
{
    long w = winner(L, key);

    return w < 0 ? -1 : L->a[w].layer;
}

/* 1 when assignment i is used by the result (or is a non-default one, which is always checked). */
static int
must_validate(const struct loader *L, size_t i)
{
    const struct assign *a = &L->a[i];
    size_t j;

    if (a->layer != LAYER_DEFAULT)
        return 1;
    if (a->key != KEY_PROP)
        return winner(L, a->key) == (long)i;
    for (j = i + 1; j < L->n; j++) {
        if (L->a[j].key == KEY_PROP && strcmp(L->a[j].prop, a->prop) == 0)
            return 0;
    }
    return 1;
}

static void
validate_key(struct loader *L, int key, const char *home, const char *service)
{
    size_t i;

    for (i = 0; i < L->n && L->fatal == AGENT_OK; i++) {
        if (L->a[i].key == key && must_validate(L, i))
            validate(L, &L->a[i], home, service);
    }
}

/* The value of a scalar key's winner, or NULL. */
static const char *
win_value(const struct loader *L, int key)
{
    long w = winner(L, key);

    return w < 0 ? NULL : L->a[w].value;
}

static void
validate_all(struct loader *L)
{
    const char *region, *home, *service;
    int k;

    if (L->in->facts != NULL) {
        L->facts = *L->in->facts;
        L->have_facts = 1;
    }
    /* aws.region sees the instance's region; every other value sees the effective one. */
    validate_key(L, K_AWS_REGION, NULL, NULL);
    region = win_value(L, K_AWS_REGION);
    if (L->have_facts && region != NULL && region[0] != '\0')
        L->facts.region = region;
    validate_key(L, K_WCS_HOME, NULL, NULL);
    home = win_value(L, K_WCS_HOME);
    L->home_bad = winner(L, K_WCS_HOME) >= 0 && L->a[winner(L, K_WCS_HOME)].bad;
    validate_key(L, K_WCS_SERVICE, home, NULL);
    service = win_value(L, K_WCS_SERVICE);
    L->service_bad = winner(L, K_WCS_SERVICE) >= 0 && L->a[winner(L, K_WCS_SERVICE)].bad;
    for (k = 0; k < K__MAX; k++) {
        if (k != K_AWS_REGION && k != K_WCS_HOME && k != K_WCS_SERVICE)
            validate_key(L, k, home, service);
    }
    validate_key(L, KEY_PROP, home, service);
}

/* ---- building the result ---- */

static enum agent_rc
list_add(struct config_list *l, const char *v)
{
    char **n = realloc(l->items, (l->n + 1) * sizeof(*n));

    if (n == NULL)
        return AGENT_ERR_NOMEM;
    l->items = n;
    l->items[l->n] = str_dup(v);
    if (l->items[l->n] == NULL)
        return AGENT_ERR_NOMEM;
    l->n++;
    return AGENT_OK;
}

static void
list_free(struct config_list *l, int secret)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (secret)
            str_free_secret(l->items[i]);
        else
            free(l->items[i]);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static enum agent_rc
set_field(struct agent_config *cfg, const struct key_def *k, const char *v)
{
    char *base = (char *)cfg;
    long long x = 0;
    int b = 0;
    char **sp;

    switch (k->kind) {
    case KIND_STR:
        sp = (char **)(void *)(base + k->off);
        if (k->def == NULL && v[0] == '\0')
            return AGENT_OK; /* "" unsets an optional key */
        *sp = str_dup(v);
        if (*sp == NULL)
            return AGENT_ERR_NOMEM;
        if (k->check == CHECK_SHA256) {
            char *p;
            for (p = *sp; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        return AGENT_OK;
    case KIND_I64:
        str_to_ll(v, k->min, k->max, &x);
        *(int64_t *)(void *)(base + k->off) = (int64_t)x;
        return AGENT_OK;
    case KIND_INT:
        str_to_ll(v, k->min, k->max, &x);
        *(int *)(void *)(base + k->off) = (int)x;
        return AGENT_OK;
    case KIND_BOOL:
        str_to_bool(v, &b);
        *(int *)(void *)(base + k->off) = b;
        return AGENT_OK;
    case KIND_USER_DATA:
        cfg->agent.user_data =
            strcmp(v, "ignore") == 0 ? CONFIG_USER_DATA_IGNORE : CONFIG_USER_DATA_APPLY;
        return AGENT_OK;
    case KIND_ON_FAILURE:
        cfg->signal.on_failure =
            strcmp(v, "continue") == 0 ? CONFIG_ON_FAILURE_CONTINUE : CONFIG_ON_FAILURE_ABANDON;
        return AGENT_OK;
    case KIND_RESTART_MODE:
        cfg->restart.mode = strcmp(v, "now") == 0     ? CONFIG_RESTART_NOW
                            : strcmp(v, "defer") == 0 ? CONFIG_RESTART_DEFER
                                                      : CONFIG_RESTART_DRAIN;
        return AGENT_OK;
    case KIND_CDN_ROLE:
        if (strcmp(v, "off") == 0)
            cfg->cdn.role = CONFIG_CDN_OFF;
        else if (strcmp(v, "origin") == 0)
            cfg->cdn.role = CONFIG_CDN_ORIGIN;
        else if (strcmp(v, "edge") == 0)
            cfg->cdn.role = CONFIG_CDN_EDGE;
        else if (strcmp(v, "transcoder") == 0)
            cfg->cdn.role = CONFIG_CDN_TRANSCODER;
        else
            cfg->cdn.role = CONFIG_CDN_UNSET;
        return AGENT_OK;
    case KIND_LIST:
        break;
    }
    return AGENT_OK;
}

/* Records that value item of name came from assignment a. */
static enum agent_rc
record_origin(const struct loader *L, const char *name, size_t item, const struct assign *a)
{
    enum config_origin_kind kind = layers_origin_kind(a->layer);
    const char *src = "";

    if (kind == CONFIG_ORIGIN_FILE || kind == CONFIG_ORIGIN_USER_DATA)
        src = a->origin;
    else if (kind == CONFIG_ORIGIN_ENV && str_has_prefix(a->origin, "env "))
        src = a->origin + 4;
    else if (kind == CONFIG_ORIGIN_SET)
        src = a->origin; /* "--set" or "--state-dir" */
    return origins_add(L->prov, name, item, kind, src, a->line);
}

/*
 * The origins of list key's items: those after the last empty item of the
 * winning layer; an empty list takes the origin of what emptied it.
 */
static enum agent_rc
record_list_origins(const struct loader *L, int key, int layer)
{
    char name[128];
    size_t i, item = 0, start = 0;
    long clear = -1;
    enum agent_rc rc = AGENT_OK;

    for (i = 0; i < L->n; i++) {
        if (L->a[i].key == key && L->a[i].layer == layer && L->a[i].value[0] == '\0') {
            clear = (long)i;
            start = i + 1;
        }
    }
    key_name(key, NULL, name, sizeof(name));
    for (i = start; i < L->n && rc == AGENT_OK; i++) {
        if (L->a[i].key == key && L->a[i].layer == layer)
            rc = record_origin(L, name, item++, &L->a[i]);
    }
    if (rc == AGENT_OK && item == 0 && clear >= 0)
        rc = record_origin(L, name, 0, &L->a[clear]);
    return rc;
}

static enum agent_rc
build_properties(const struct loader *L, struct agent_config *cfg)
{
    size_t i, j;
    long w;

    for (i = 0; i < L->n; i++) {
        struct config_prop *np;

        if (L->a[i].key != KEY_PROP)
            continue;
        for (j = 0; j < cfg->properties.n; j++) {
            if (strcmp(cfg->properties.items[j].key, L->a[i].prop) == 0)
                break;
        }
        if (j < cfg->properties.n)
            continue; /* seen: its winner was taken at first appearance */
        w = (long)i;
        for (j = i + 1; j < L->n; j++) {
            if (L->a[j].key == KEY_PROP && strcmp(L->a[j].prop, L->a[i].prop) == 0)
                w = (long)j;
        }
        if (L->a[w].no_fact)
            continue;
        np = realloc(cfg->properties.items, (cfg->properties.n + 1) * sizeof(*np));
        if (np == NULL)
            return AGENT_ERR_NOMEM;
        cfg->properties.items = np;
        np[cfg->properties.n].key = str_dup(L->a[i].prop);
        np[cfg->properties.n].value = str_dup(L->a[w].value);
        cfg->properties.n++;
        if (np[cfg->properties.n - 1].key == NULL || np[cfg->properties.n - 1].value == NULL)
            return AGENT_ERR_NOMEM;
        {
            char name[128];

            key_name(KEY_PROP, &L->a[w], name, sizeof(name));
            if (record_origin(L, name, 0, &L->a[w]) != AGENT_OK)
                return AGENT_ERR_NOMEM;
        }
    }
    return AGENT_OK;
}

static enum agent_rc
build(struct loader *L, struct agent_config *cfg)
{
    enum agent_rc rc;
    size_t i;
    int k, layer;

    for (k = 0; k < K__MAX; k++) {
        const struct key_def *kd = &schema_keys[k];

        if (kd->kind == KIND_LIST) {
            struct config_list *l = (struct config_list *)(void *)((char *)cfg + kd->off);

            layer = list_layer(L, k);
            for (i = 0; i < L->n && layer >= 0; i++) {
                /* An empty item clears the list in its layer (--set ready.require=). */
                if (L->a[i].key != k || L->a[i].layer != layer)
                    continue;
                if (L->a[i].value[0] == '\0') {
                    list_free(l, 0);
                    continue;
                }
                rc = list_add(l, L->a[i].value);
                if (rc != AGENT_OK)
                    return rc;
            }
            rc = layer >= 0 ? record_list_origins(L, k, layer) : AGENT_OK;
            if (rc != AGENT_OK)
                return rc;
            continue;
        }
        {
            long w = winner(L, k);
            char name[128];

            if (w < 0)
                continue;
            key_name(k, &L->a[w], name, sizeof(name));
            rc = record_origin(L, name, 0, &L->a[w]);
            if (rc != AGENT_OK)
                return rc;
            rc = set_field(cfg, kd, L->a[w].no_fact ? "" : L->a[w].value);
            if (rc == AGENT_OK && L->a[w].is_ref && !L->a[w].no_fact)
                rc = list_add(&cfg->references, name);
            if (rc != AGENT_OK)
                return rc;
        }
    }
    rc = build_properties(L, cfg);
    if (rc != AGENT_OK)
        return rc;
    /* Literal secrets given in user data: accepted, but the caller warns (§3.3). */
    for (i = 0; i < L->n; i++) {
        const struct assign *a = &L->a[i];
        char name[128];
        size_t j;

        if (!a->from_user_data || a->key == KEY_PROP || !(schema_keys[a->key].flags & KF_SECRET) ||
            a->value[0] == '\0' || secretref_is_reference(a->value))
            continue;
        key_name(a->key, a, name, sizeof(name));
        for (j = 0; j < cfg->literal_secrets_from_user_data.n; j++) {
            if (strcmp(cfg->literal_secrets_from_user_data.items[j], name) == 0)
                break;
        }
        if (j == cfg->literal_secrets_from_user_data.n) {
            rc = list_add(&cfg->literal_secrets_from_user_data, name);
            if (rc != AGENT_OK)
                return rc;
        }
    }
    return AGENT_OK;
}

/* The checks that involve two keys, reported at the winner of the first. */
static void
cross_checks(struct loader *L, const struct agent_config *cfg)
{
    long w;

    w = winner(L, K_CDN_IP);
    if (w >= 0 && L->a[w].no_fact &&
        (cfg->cdn.role == CONFIG_CDN_ORIGIN || cfg->cdn.role == CONFIG_CDN_EDGE ||
         cfg->cdn.role == CONFIG_CDN_TRANSCODER))
        layers_diag_at(
            L, L->a[w].layer, L->a[w].origin, 0,
            "cdn.ip: %s: this instance has no local IPv4 address; set cdn.ip for a CDN role",
            L->a[w].value);

    if ((cfg->cdn.role == CONFIG_CDN_EDGE || cfg->cdn.role == CONFIG_CDN_TRANSCODER) &&
        cfg->cdn.point_of_entry == NULL) {
        w = winner(L, K_CDN_ROLE);
        layers_diag_at(L, w >= 0 ? L->a[w].layer : LAYER_SET + 1,
                       w >= 0 ? L->a[w].origin : "config", w >= 0 ? L->a[w].line : 0,
                       "cdn.point_of_entry is required when cdn.role = %s",
                       config_cdn_role_str(cfg->cdn.role));
    }
    if ((cfg->signal.cfn_stack == NULL) != (cfg->signal.cfn_resource == NULL)) {
        int given = cfg->signal.cfn_stack != NULL ? K_SIGNAL_CFN_STACK : K_SIGNAL_CFN_RESOURCE;
        w = winner(L, given);
        layers_diag_at(L, w >= 0 ? L->a[w].layer : LAYER_SET + 1,
                       w >= 0 ? L->a[w].origin : "config", w >= 0 ? L->a[w].line : 0,
                       "signal.cfn_stack and signal.cfn_resource must be given together");
    }
}

/*
 * The shared body of config_load() and config_load_string(): text != NULL
 * replaces the config file (no conf.d).
 */
static enum agent_rc
load(const struct config_input *in, const char *text_name, const char *text, size_t text_len,
     struct agent_config **out, struct config_diag *diag)
{
    struct loader L;
    struct agent_config *cfg = NULL;
    enum agent_rc rc = AGENT_ERR_NOMEM;
    const char *path = NULL;
    int required = 0;
    size_t i;

    memset(&L, 0, sizeof(L));
    L.in = in;
    L.diag = diag;
    L.prov = origins_new();
    if (L.prov == NULL)
        L.fatal = AGENT_ERR_NOMEM;
    layers_load_defaults(&L);
    if (text != NULL) {
        layers_load_text(&L, text_name != NULL ? text_name : "config", text, text_len, LAYER_FILE,
                         0);
    } else {
        path = in->path;
        required = in->path_required;
        if (path == NULL) {
            path = getenv("WCS_AGENT_CONFIG");
            required = path != NULL && path[0] != '\0';
            if (!required)
                path = CONFIG_DEFAULT_PATH;
        }
        layers_load_file(&L, path, required, LAYER_FILE);
        if (L.fatal == AGENT_OK)
            layers_load_confd(&L, path);
    }
    if (L.fatal == AGENT_OK && in->overlays != NULL && in->n_overlays > 0 &&
        !layers_user_data_ignored(&L)) {
        for (i = 0; i < in->n_overlays && L.fatal == AGENT_OK; i++) {
            const struct config_overlay *o = &in->overlays[i];
            layers_load_text(&L, o->name != NULL ? o->name : "user-data",
                             o->text != NULL ? o->text : "", o->text != NULL ? o->len : 0,
                             LAYER_OVERLAY + (int)i, 1);
        }
    }
    if (L.fatal == AGENT_OK)
        layers_load_env(&L);
    if (L.fatal == AGENT_OK)
        layers_load_sets(&L);
    if (L.fatal != AGENT_OK)
        goto out;
    qsort(L.a, L.n, sizeof(*L.a), assign_cmp);
    validate_all(&L);
    if (L.fatal != AGENT_OK)
        goto out;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        goto out;
    rc = build(&L, cfg);
    if (rc != AGENT_OK)
        goto out;
    cross_checks(&L, cfg);
    if (L.fatal != AGENT_OK) {
        rc = L.fatal;
        goto out;
    }
    rc = L.n_errors > 0 ? AGENT_ERR_CONFIG : AGENT_OK;
    if (rc == AGENT_OK) {
        cfg->origins = L.prov;
        L.prov = NULL;
        *out = cfg;
        cfg = NULL;
    }
out:
    if (L.fatal == AGENT_OK)
        layers_emit_diag(&L);
    if (L.fatal != AGENT_OK)
        rc = L.fatal;
    config_free(cfg);
    layers_cleanup(&L);
    return rc;
}

enum agent_rc
config_load(const struct config_input *in, struct agent_config **out, struct config_diag *diag)
{
    return load(in, NULL, NULL, 0, out, diag);
}

enum agent_rc
config_load_string(const char *name, const char *text, size_t len, const struct config_input *in,
                   struct agent_config **out, struct config_diag *diag)
{
    return load(in, name, text != NULL ? text : "", text != NULL ? len : 0, out, diag);
}

void
config_free(struct agent_config *cfg)
{
    size_t i;
    int k;

    if (cfg == NULL)
        return;
    for (k = 0; k < K__MAX; k++) {
        char *base = (char *)cfg;
        int secret = (schema_keys[k].flags & KF_SECRET) != 0;

        if (schema_keys[k].kind == KIND_STR) {
            char *s = *(char **)(void *)(base + schema_keys[k].off);
            if (secret)
                str_free_secret(s);
            else
                free(s);
        } else if (schema_keys[k].kind == KIND_LIST) {
            list_free((struct config_list *)(void *)(base + schema_keys[k].off), secret);
        }
    }
    for (i = 0; i < cfg->properties.n; i++) {
        free(cfg->properties.items[i].key);
        free(cfg->properties.items[i].value);
    }
    free(cfg->properties.items);
    list_free(&cfg->literal_secrets_from_user_data, 0);
    list_free(&cfg->references, 0);
    origins_free(cfg->origins);
    str_wipe(cfg, sizeof(*cfg));
    free(cfg);
}

int
config_is_reference(const struct agent_config *cfg, const char *name)
{
    size_t i;

    for (i = 0; cfg != NULL && name != NULL && i < cfg->references.n; i++) {
        if (strcmp(cfg->references.items[i], name) == 0)
            return 1;
    }
    return 0;
}
