#include "config/layers.h"

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

#include "config/origin.h"
#include "config/schema.h"
#include "core/str.h"

/* inih r55 copies names into 50-byte buffers without a word (MAX_SECTION, MAX_NAME). */
#define INI_NAME_MAX CONFIG_NAME_MAX
#define LINE_MAX_LEN (INI_MAX_LINE - 1)
#if INI_MAX_LINE - 1 != CONFIG_LINE_MAX
#error "CONFIG_LINE_MAX does not match the installed inih"
#endif

/* ---- diagnostics ---- */

static void diag_addv(struct loader *L, int layer, const char *origin, int line, const char *fmt,
                      va_list ap) __attribute__((format(printf, 5, 0)));

static void
diag_addv(struct loader *L, int layer, const char *origin, int line, const char *fmt, va_list ap)
{
    char msg[512], full[1024];
    struct diag_entry *e;

    L->n_errors++;
    if (L->n_entries >= DIAG_KEEP)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (line > 0)
        snprintf(full, sizeof(full), "%s:%d: %s", origin, line, msg);
    else
        snprintf(full, sizeof(full), "%s: %s", origin, msg);
    if (L->n_entries == L->cap_entries) {
        size_t cap = L->cap_entries == 0 ? 16 : L->cap_entries * 2;
        e = realloc(L->entries, cap * sizeof(*e));
        if (e == NULL) {
            L->fatal = AGENT_ERR_NOMEM;
            return;
        }
        L->entries = e;
        L->cap_entries = cap;
    }
    e = &L->entries[L->n_entries];
    e->layer = layer;
    e->line = line;
    e->seq = L->n_entries;
    e->text = str_dup(full);
    if (e->text == NULL) {
        L->fatal = AGENT_ERR_NOMEM;
        return;
    }
    L->n_entries++;
}

/* An error of the source being read. */
static void diag_add(struct loader *L, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
diag_add(struct loader *L, const char *origin, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(L, L->layer, origin, line, fmt, ap);
    va_end(ap);
}

void
layers_diag_at(struct loader *L, int layer, const char *origin, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(L, layer, origin, line, fmt, ap);
    va_end(ap);
}

static int
entry_cmp(const void *x, const void *y)
{
    const struct diag_entry *a = x, *b = y;

    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/*
 * Hands the errors to diag in the order of the layers and their lines
 * (validation finds some after the whole text was read).
 */
void
layers_emit_diag(struct loader *L)
{
    char **lines;
    char more[96];
    size_t i, n = L->n_entries > DIAG_MAX ? DIAG_MAX : L->n_entries;

    if (L->n_entries == 0)
        return;
    qsort(L->entries, L->n_entries, sizeof(*L->entries), entry_cmp);
    lines = realloc(L->diag->lines, (L->diag->n + n + 1) * sizeof(*lines));
    if (lines == NULL) {
        L->fatal = AGENT_ERR_NOMEM;
        return;
    }
    L->diag->lines = lines;
    for (i = 0; i < n; i++) {
        lines[L->diag->n++] = L->entries[i].text;
        L->entries[i].text = NULL;
    }
    if (L->n_errors > (int)n) {
        snprintf(more, sizeof(more), "... %d more errors not shown", L->n_errors - (int)n);
        lines[L->diag->n] = str_dup(more);
        if (lines[L->diag->n] != NULL)
            L->diag->n++;
    }
}

/* ---- collecting assignments ---- */

static void
add_source(struct loader *L, enum config_origin_kind kind, const char *name, int is_dir,
           int present, size_t bytes)
{
    if (L->fatal == AGENT_OK && L->prov != NULL &&
        origins_add_source(L->prov, kind, name, is_dir, present, bytes) != AGENT_OK)
        L->fatal = AGENT_ERR_NOMEM;
}

enum config_origin_kind
layers_origin_kind(int layer)
{
    if (layer == LAYER_DEFAULT)
        return CONFIG_ORIGIN_DEFAULT;
    if (layer < LAYER_OVERLAY)
        return CONFIG_ORIGIN_FILE;
    if (layer < LAYER_ENV)
        return CONFIG_ORIGIN_USER_DATA;
    if (layer < LAYER_SET)
        return CONFIG_ORIGIN_ENV;
    return CONFIG_ORIGIN_SET;
}

static const char *
intern_origin(struct loader *L, const char *name)
{
    char **n;
    char *s;

    n = realloc(L->origins, (L->n_origins + 1) * sizeof(*n));
    if (n == NULL)
        goto nomem;
    L->origins = n;
    s = str_dup(name);
    if (s == NULL)
        goto nomem;
    L->origins[L->n_origins++] = s;
    return s;
nomem:
    L->fatal = AGENT_ERR_NOMEM;
    return NULL;
}

static void
push(struct loader *L, int key, const char *prop, const char *value, const char *origin, int line,
     int layer, int from_user_data)
{
    struct assign *a;

    if (L->fatal != AGENT_OK)
        return;
    if (L->n == L->cap) {
        size_t cap = L->cap == 0 ? 64 : L->cap * 2;
        struct assign *na = realloc(L->a, cap * sizeof(*na));
        if (na == NULL) {
            L->fatal = AGENT_ERR_NOMEM;
            return;
        }
        L->a = na;
        L->cap = cap;
    }
    a = &L->a[L->n];
    memset(a, 0, sizeof(*a));
    a->key = key;
    a->value = str_dup(value);
    a->prop = prop != NULL ? str_dup(prop) : NULL;
    if (a->value == NULL || (prop != NULL && a->prop == NULL)) {
        str_free_secret(a->value);
        free(a->prop);
        L->fatal = AGENT_ERR_NOMEM;
        return;
    }
    a->origin = origin;
    a->line = line;
    a->layer = layer;
    a->seq = L->seq++;
    a->from_user_data = from_user_data;
    L->n++;
}

/* 1 when v holds a CR, LF or (within len) a NUL byte. */
static int
has_crlf(const char *v, size_t len)
{
    return memchr(v, '\r', len) != NULL || memchr(v, '\n', len) != NULL || strlen(v) != len;
}

/*
 * One SECTION.KEY = VALUE from any layer.  Unknown keys and values that no
 * layer may hold (control characters, too long) are reported here.
 */
static void
add_setting(struct loader *L, const char *section, const char *key, const char *value, size_t vlen,
            int line)
{
    int k;

    if (strcmp(section, "properties") == 0) {
        if (!schema_prop_key_ok(key)) {
            diag_add(L, L->origin, line,
                     "properties: bad key \"%.60s\" (allowed: letters, digits and _.-)", key);
            return;
        }
        k = KEY_PROP;
    } else {
        k = schema_find_key(section, key);
        if (k < 0) {
            if (schema_section_known(section))
                diag_add(L, L->origin, line, "unknown key %.60s.%.60s", section, key);
            else
                diag_add(L, L->origin, line, "unknown section [%.60s]", section);
            return;
        }
        if (k == K_AGENT_USER_DATA && L->from_user_data) {
            diag_add(L, L->origin, line, "agent.user_data cannot be set in user data");
            return;
        }
    }
    if (has_crlf(value, vlen)) {
        diag_add(L, L->origin, line, "%s%s%s: the value contains a CR, LF or NUL character",
                 section, ".", key);
        return;
    }
    if (vlen > CONFIG_VALUE_MAX) {
        diag_add(L, L->origin, line, "%s.%s: the value is longer than %d bytes", section, key,
                 CONFIG_VALUE_MAX);
        return;
    }
    push(L, k, k == KEY_PROP ? key : NULL, value, L->origin, line, L->layer, L->from_user_data);
}

/* ---- the INI reader and handler ---- */

/* inih's find_chars_or_comment(): the first of chars, or an inline ';' after whitespace. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;

    while (*s != '\0' && strchr(chars, *s) == NULL && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/*
 * Classifies a served (left-trimmed, NUL-terminated) line the way inih
 * will, to report syntax errors with their line and to follow sections.
 * Returns 0 when the line may go to inih, -1 when it was reported.
 */
static int
classify_line(struct loader *L, const char *s)
{
    const char *end;
    size_t n;

    if (*s == '\0' || *s == ';' || *s == '#')
        return 0;
    if (*s == '[') {
        char name[INI_NAME_MAX + 1];

        end = find_chars_or_comment(s + 1, "]");
        if (*end != ']') {
            diag_add(L, L->origin, L->lineno, "parse error: section header without ']'");
            L->sec = SEC_BROKEN;
            return -1;
        }
        n = (size_t)(end - (s + 1));
        if (n > INI_NAME_MAX) {
            diag_add(L, L->origin, L->lineno, "section name too long (%zu bytes, the limit is %d)",
                     n, INI_NAME_MAX);
            L->sec = SEC_BROKEN;
            return -1;
        }
        memcpy(name, s + 1, n);
        name[n] = '\0';
        if (schema_section_known(name)) {
            L->sec = SEC_OK;
        } else {
            diag_add(L, L->origin, L->lineno, "unknown section [%s]", name);
            L->sec = SEC_UNKNOWN;
        }
        return 0;
    }
    end = find_chars_or_comment(s, "=:");
    if (*end != '=' && *end != ':') {
        diag_add(L, L->origin, L->lineno, "parse error: expected KEY = VALUE or [SECTION]");
        return -1;
    }
    n = (size_t)(end - s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0) {
        diag_add(L, L->origin, L->lineno, "parse error: no key before '%c'", *end);
        return -1;
    }
    if (n > INI_NAME_MAX) {
        diag_add(L, L->origin, L->lineno, "key name too long (%zu bytes, the limit is %d)", n,
                 INI_NAME_MAX);
        return -1;
    }
    return 0;
}

/*
 * inih's reader: serves the next physical line (without LF / CRLF, without
 * leading blanks).  A line that was reported is served empty, so inih has
 * nothing left to complain about, and its keys are not taken.
 */
static char *
ini_reader_cb(char *str, int num, void *stream)
{
    struct loader *L = stream;
    const char *line;
    const char *nl;
    size_t n, start;

    if (L->pos >= L->len || num < 2 || L->fatal != AGENT_OK)
        return NULL;
    start = L->pos;
    nl = memchr(L->text + start, '\n', L->len - start);
    n = nl != NULL ? (size_t)(nl - (L->text + start)) : L->len - start;
    L->pos = nl != NULL ? start + n + 1 : L->len;
    if (n > 0 && L->text[start + n - 1] == '\r')
        n--;
    L->lineno++;
    L->line_bad = 0;
    str[0] = '\0';
    line = L->text + start;
    if (L->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        n -= 3;
    }
    if (n > LINE_MAX_LEN || n > (size_t)num - 1) {
        diag_add(L, L->origin, L->lineno, "line too long (%zu bytes, the limit is %d)", n,
                 LINE_MAX_LEN);
        L->line_bad = 1;
        return str;
    }
    if (memchr(line, '\0', n) != NULL) {
        diag_add(L, L->origin, L->lineno, "NUL byte in the line");
        L->line_bad = 1;
        return str;
    }
    while (n > 0 && isspace((unsigned char)*line)) {
        line++;
        n--;
    }
    memcpy(str, line, n);
    str[n] = '\0';
    if (classify_line(L, str) != 0) {
        L->line_bad = 1;
        str[0] = '\0';
    }
    return str;
}

static int
ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    struct loader *L = user;

    if (L->fatal != AGENT_OK)
        return 1;
    if (L->line_bad || L->sec == SEC_UNKNOWN || L->sec == SEC_BROKEN)
        return 1;
    if (section[0] == '\0') {
        diag_add(L, L->origin, L->lineno, "%.60s: key outside any [section]", name);
        return 1;
    }
    add_setting(L, section, name, value, strlen(value), L->lineno);
    /* Always go on: errors are collected here, not counted by inih. */
    return 1;
}

/* Parses one INI text as a layer. */
void
layers_load_text(struct loader *L, const char *origin, const char *text, size_t len, int layer,
                 int from_user_data)
{
    int r;

    L->origin = intern_origin(L, origin);
    if (L->origin == NULL)
        return;
    add_source(L, from_user_data ? CONFIG_ORIGIN_USER_DATA : CONFIG_ORIGIN_FILE, origin, 0, 1, len);
    L->layer = layer;
    L->from_user_data = from_user_data;
    L->text = text;
    L->len = len;
    L->pos = 0;
    L->lineno = 0;
    L->sec = SEC_NONE;
    L->line_bad = 0;
    r = ini_parse_stream(ini_reader_cb, L, ini_handler_cb, L);
    if (L->fatal != AGENT_OK)
        return;
    /* Every line inih could object to was served empty, so any return is a surprise. */
    if (r > 0)
        diag_add(L, L->origin, r, "parse error");
    else if (r < 0)
        diag_add(L, L->origin, 0, "parse error (inih %d)", r);
}

/* ---- files ---- */

/*
 * Reads a config file into out (a secret buffer: it may hold a literal
 * licence key).  Refuses a file that others can write: its commands run as
 * root.  Returns 1 when read, 0 when absent, -1 on a reported error.
 */
static int
read_config_file(struct loader *L, const char *path, int required, struct buf *out)
{
    struct stat st;
    char chunk[4096];
    ssize_t got;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        if (errno == ENOENT && !required)
            return 0;
        diag_add(L, path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        diag_add(L, path, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        diag_add(L, path, 0, "cannot read: not a regular file");
        goto out;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        diag_add(L, path, 0, "refused: the file is group- or world-writable (mode %03o)",
                 (unsigned)(st.st_mode & 0777));
        goto out;
    }
    for (;;) {
        got = read(fd, chunk, sizeof(chunk));
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1) {
            diag_add(L, path, 0, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        if (buf_append(out, chunk, (size_t)got) != AGENT_OK) {
            diag_add(L, path, 0, "the file is larger than %d bytes", CONFIG_FILE_MAX);
            goto out;
        }
    }
    rc = 1;
out:
    str_wipe(chunk, sizeof(chunk));
    close(fd);
    return rc;
}

void
layers_load_file(struct loader *L, const char *path, int required, int layer)
{
    struct buf text;

    L->layer = layer;
    buf_init_secret(&text, CONFIG_FILE_MAX);
    switch (read_config_file(L, path, required, &text)) {
    case 1:
        layers_load_text(L, path, buf_cstr(&text), text.len, layer, 0);
        break;
    case 0:
        add_source(L, CONFIG_ORIGIN_FILE, path, 0, 0, 0);
        break;
    default:
        break;
    }
    buf_cleanup(&text);
}

static int
confd_filter(const struct dirent *d)
{
    return d->d_name[0] != '.' && str_has_suffix(d->d_name, ".ini") && strlen(d->d_name) > 4;
}

/* Byte order of names, whatever the locale says. */
static int
confd_compare(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The conf.d/ files named *.ini beside path, each a layer of its own. */
void
layers_load_confd(struct loader *L, const char *path)
{
    struct dirent **names = NULL;
    char dir[4096], file[4096];
    const char *slash = strrchr(path, '/');
    int i, count, n;

    if (slash == NULL)
        n = snprintf(dir, sizeof(dir), "conf.d");
    else
        n = snprintf(dir, sizeof(dir), "%.*s/conf.d", (int)(slash - path), path);
    if (n < 0 || (size_t)n >= sizeof(dir)) {
        diag_add(L, path, 0, "path too long");
        return;
    }
    L->layer = LAYER_CONFD;
    count = scandir(dir, &names, confd_filter, confd_compare);
    if (count < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            diag_add(L, dir, 0, "cannot list: %s", strerror(errno));
        else
            add_source(L, CONFIG_ORIGIN_FILE, dir, 1, 0, 0);
        return;
    }
    if (count == 0)
        add_source(L, CONFIG_ORIGIN_FILE, dir, 1, 1, 0);
    for (i = 0; i < count; i++) {
        n = snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
        if (n > 0 && (size_t)n < sizeof(file) && L->fatal == AGENT_OK)
            layers_load_file(L, file, 1, LAYER_CONFD + i);
        free(names[i]);
    }
    free(names);
}

/* ---- environment and --set ---- */

void
layers_load_env(struct loader *L)
{
    static const struct {
        const char *var;
        int key;
    } vars[] = {
        {"AWS_REGION", K_AWS_REGION},
        {"AWS_DEFAULT_REGION", K_AWS_REGION},
        {"AWS_EC2_METADATA_SERVICE_ENDPOINT", K_IMDS_ENDPOINT},
    };

    char origin[64];
    size_t i;
    int have_region = 0;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i].var);

        if (v == NULL || v[0] == '\0')
            continue;
        /* AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS SDKs. */
        if (vars[i].key == K_AWS_REGION) {
            if (have_region)
                continue;
            have_region = 1;
        }
        snprintf(origin, sizeof(origin), "env %s", vars[i].var);
        L->origin = intern_origin(L, origin);
        if (L->origin == NULL)
            return;
        add_source(L, CONFIG_ORIGIN_ENV, vars[i].var, 0, 1, 0);
        L->layer = LAYER_ENV;
        L->from_user_data = 0;
        add_setting(L, schema_keys[vars[i].key].section, schema_keys[vars[i].key].key, v, strlen(v),
                    0);
    }
}

/*
 * Splits "SECTION.KEY=VALUE" at the first '.' and the first '='.  Returns -1
 * (reported) when malformed.  sec[] and key[] receive the names.
 */
static int
split_set(struct loader *L, const char *s, char *sec, size_t seccap, char *key, size_t keycap,
          const char **value)
{
    const char *eq = strchr(s, '='), *dot;

    if (eq == NULL) {
        diag_add(L, "--set", 0, "\"%.60s\": expected SECTION.KEY=VALUE", s);
        return -1;
    }
    dot = memchr(s, '.', (size_t)(eq - s));
    if (dot == NULL || dot == s || dot + 1 == eq) {
        diag_add(L, "--set", 0, "\"%.*s\": expected SECTION.KEY=VALUE",
                 (int)((eq - s) > 60 ? 60 : (eq - s)), s);
        return -1;
    }
    if (str_copyn(sec, seccap, s, (size_t)(dot - s)) != AGENT_OK ||
        str_copyn(key, keycap, dot + 1, (size_t)(eq - dot - 1)) != AGENT_OK) {
        diag_add(L, "--set", 0, "\"%.60s\": key name too long", s);
        return -1;
    }
    *value = eq + 1;
    return 0;
}

void
layers_load_sets(struct loader *L)
{
    char sec[64], key[256];
    const char *value;
    size_t i;

    L->origin = intern_origin(L, "--set");
    if (L->origin == NULL)
        return;
    L->layer = LAYER_SET;
    L->from_user_data = 0;
    for (i = 0; i < L->in->n_sets && L->fatal == AGENT_OK; i++) {
        if (L->in->sets[i] == NULL)
            continue;
        if (split_set(L, L->in->sets[i], sec, sizeof(sec), key, sizeof(key), &value) != 0)
            continue;
        if (strchr(key, '.') != NULL && strcmp(sec, "properties") != 0) {
            diag_add(L, "--set", 0, "unknown key %s.%s", sec, key);
            continue;
        }
        add_setting(L, sec, key, value, strlen(value), 0);
    }
    /* --state-dir is the last word on agent.state_dir, and says so in the origins. */
    if (L->in->state_dir != NULL && L->fatal == AGENT_OK) {
        L->origin = intern_origin(L, "--state-dir");
        if (L->origin == NULL)
            return;
        add_setting(L, "agent", "state_dir", L->in->state_dir, strlen(L->in->state_dir), 0);
    }
}

/* agent.user_data from the layers that may set it (files and --set), before overlays. */
int
layers_user_data_ignored(const struct loader *L)
{
    static const char name[] = "agent.user_data=";
    const char *v = schema_keys[K_AGENT_USER_DATA].def;
    size_t i;

    for (i = 0; i < L->n; i++) {
        if (L->a[i].key == K_AGENT_USER_DATA)
            v = L->a[i].value;
    }
    for (i = 0; i < L->in->n_sets; i++) {
        if (L->in->sets[i] != NULL && str_has_prefix(L->in->sets[i], name))
            v = L->in->sets[i] + strlen(name);
    }
    return strcmp(v, "ignore") == 0;
}

void
layers_load_defaults(struct loader *L)
{
    int i;

    L->origin = intern_origin(L, "default");
    if (L->origin == NULL)
        return;
    for (i = 0; i < K__MAX; i++) {
        if (schema_keys[i].def != NULL)
            push(L, i, NULL, schema_keys[i].def, L->origin, 0, LAYER_DEFAULT, 0);
    }
    push(L, KEY_PROP, "ip", "{public_or_local_ipv4}", L->origin, 0, LAYER_DEFAULT, 0);
    push(L, KEY_PROP, "ip_local", "{local_ipv4}", L->origin, 0, LAYER_DEFAULT, 0);
}

void
layers_cleanup(struct loader *L)
{
    size_t i;

    for (i = 0; i < L->n; i++) {
        str_free_secret(L->a[i].value);
        free(L->a[i].prop);
    }
    free(L->a);
    for (i = 0; i < L->n_origins; i++)
        free(L->origins[i]);
    free(L->origins);
    for (i = 0; i < L->n_entries; i++)
        free(L->entries[i].text);
    free(L->entries);
    origins_free(L->prov);
    L->prov = NULL;
}
