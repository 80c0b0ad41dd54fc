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

#include "config/placeholders.h"
#include "config/secretref.h"
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

enum kind {
    KIND_STR,
    KIND_I64,
    KIND_INT,
    KIND_BOOL,
    KIND_LIST,
    KIND_USER_DATA,
    KIND_CDN_ROLE,
    KIND_ON_FAILURE,
    KIND_RESTART_MODE
};

enum check {
    CHECK_NONE,
    CHECK_ABSPATH,
    CHECK_URL,
    CHECK_REGION,
    CHECK_UNIT,
    CHECK_COMMAND,
    CHECK_COMMAND_OR_EMPTY,
    CHECK_HEAP,
    CHECK_UPDATE_URL,
    CHECK_SHA256,
    CHECK_ALIAS,
    CHECK_HOST,
    CHECK_REQUIRE,
    CHECK_TARGET_GROUP,
    CHECK_ELB_NAME,
    CHECK_HOOK,
    CHECK_ASG,
    CHECK_CFN_STACK,
    CHECK_CFN_RESOURCE,
    CHECK_METRICS_PERIOD,
    CHECK_METRICS_NAMESPACE
};

#define KF_SECRET   0x1u
#define KF_REF      0x2u
#define KF_TEMPLATE 0x4u

enum key_id {
#define CONFIG_KEY(id, s, k, field, kind, def, check, min, max, flags) id,
#include "config/config.def"
#undef CONFIG_KEY
    K__MAX
};

struct key_def {
    const char *section;
    const char *key;
    size_t off;
    enum kind kind;
    const char *def;
    enum check check;
    long long min, max;
    unsigned flags;
};

static const struct key_def keys[K__MAX] = {
#define CONFIG_KEY(id, s, k, field, kind, def, check, min, max, flags) \
    [id] = {s, k, offsetof(struct agent_config, field), kind, def, check, min, max, flags},
#include "config/config.def"
#undef CONFIG_KEY
};

static const char *const sections[] = {
    "agent",    "imds",   "aws",   "wcs",   "update",  "licence", "tls",   "cdn",       "ready",
    "register", "signal", "watch", "drain", "restart", "metrics", "fleet", "properties"};

/* A [properties] assignment. */
#define KEY_PROP (-1)

/* Layers, lowest to highest; each file and each overlay is a layer of its own. */
#define LAYER_DEFAULT 0
#define LAYER_FILE    1
#define LAYER_CONFD   2
#define LAYER_OVERLAY 100000
#define LAYER_ENV     200000
#define LAYER_SET     300000

#define CONFIG_FILE_MAX  (1024 * 1024)
#define CONFIG_VALUE_MAX 4096
#define EXPANDED_MAX     8192
#define DIAG_MAX         100   /* errors handed to the caller */
#define DIAG_KEEP        10000 /* errors kept for sorting */
/* inih r55 copies names into 50-byte buffers without a word (MAX_SECTION, MAX_NAME). */
#define INI_NAME_MAX CONFIG_NAME_MAX
#define LINE_MAX_LEN (INI_MAX_LINE - 1)
#if INI_MAX_LINE - 1 != CONFIG_LINE_MAX
#error "CONFIG_LINE_MAX does not match the installed inih"
#endif

struct assign {
    int key;     /* enum key_id or KEY_PROP */
    char *prop;  /* the properties key */
    char *value; /* raw, then expanded */
    const char *origin;
    int line; /* 0: the origin has no lines */
    int layer;
    size_t seq;
    int from_user_data;
    int bad;     /* reported by validation */
    int no_fact; /* a default whose fact is missing: dropped, reported only where needed */
};

struct diag_entry {
    int layer;
    int line;
    size_t seq;
    char *text;
};

enum section_state {
    SEC_NONE, /* before the first [section] */
    SEC_OK,
    SEC_UNKNOWN, /* reported at the header: its keys are ignored */
    SEC_BROKEN   /* a bad header line: its keys are ignored */
};

struct loader {
    const struct config_input *in;
    struct config_diag *diag;
    enum agent_rc fatal; /* NOMEM: stop */
    int n_errors;        /* every error, kept or not */
    struct diag_entry *entries;
    size_t n_entries, cap_entries;

    struct assign *a;
    size_t n, cap, seq;
    char **origins;
    size_t n_origins;

    /* The source being read. */
    const char *origin;
    int layer;
    int from_user_data;
    const char *text;
    size_t len, pos;
    int lineno;
    int line_bad;
    int first_syntax_error;
    enum section_state sec;

    /* Expansion context. */
    struct config_facts facts; /* in->facts with region = the effective region */
    int have_facts;
    int home_bad;    /* wcs.home is wrong: values using {wcs_home} are not checked */
    int service_bad; /* the same for wcs.service and {service} */
};

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

/* An error of an assignment of any layer. */
static void diag_at(struct loader *L, int layer, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
diag_at(struct loader *L, int layer, const char *origin, int line, const char *fmt, ...)
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
static void
emit_diag(struct loader *L)
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

/* ---- the key table ---- */

static int
find_key(const char *section, const char *key)
{
    int i;

    for (i = 0; i < K__MAX; i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
            return i;
    }
    return -1;
}

static int
section_known(const char *section)
{
    size_t i;

    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcmp(sections[i], section) == 0)
            return 1;
    }
    return 0;
}

static int
prop_key_ok(const char *k)
{
    const char *p;

    if (*k == '\0')
        return 0;
    for (p = k; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return 0;
    }
    return 1;
}

int
config_key_known(const char *section, const char *key)
{
    if (section == NULL || key == NULL)
        return 0;
    if (strcmp(section, "properties") == 0)
        return prop_key_ok(key);
    return find_key(section, key) >= 0;
}

/* ---- collecting assignments ---- */

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
        if (!prop_key_ok(key)) {
            diag_add(L, L->origin, line,
                     "properties: bad key \"%.60s\" (allowed: letters, digits and _.-)", key);
            return;
        }
        k = KEY_PROP;
    } else {
        k = find_key(section, key);
        if (k < 0) {
            if (section_known(section))
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
        if (section_known(name)) {
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
static void
load_text(struct loader *L, const char *origin, const char *text, size_t len, int layer,
          int from_user_data)
{
    int r;

    L->origin = intern_origin(L, origin);
    if (L->origin == NULL)
        return;
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

static void
load_file(struct loader *L, const char *path, int required, int layer)
{
    struct buf text;

    L->layer = layer;
    buf_init_secret(&text, CONFIG_FILE_MAX);
    if (read_config_file(L, path, required, &text) == 1)
        load_text(L, path, buf_cstr(&text), text.len, layer, 0);
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
static void
load_confd(struct loader *L, const char *path)
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
        return;
    }
    for (i = 0; i < count; i++) {
        n = snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
        if (n > 0 && (size_t)n < sizeof(file) && L->fatal == AGENT_OK)
            load_file(L, file, 1, LAYER_CONFD + i);
        free(names[i]);
    }
    free(names);
}

/* ---- environment and --set ---- */

static void
load_env(struct loader *L)
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
        L->layer = LAYER_ENV;
        L->from_user_data = 0;
        add_setting(L, keys[vars[i].key].section, keys[vars[i].key].key, v, strlen(v), 0);
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

static void
load_sets(struct loader *L)
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
}

/* agent.user_data from the layers that may set it (files and --set), before overlays. */
static int
user_data_ignored(const struct loader *L)
{
    static const char name[] = "agent.user_data=";
    const char *v = keys[K_AGENT_USER_DATA].def;
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

static void
load_defaults(struct loader *L)
{
    int i;

    L->origin = intern_origin(L, "default");
    if (L->origin == NULL)
        return;
    for (i = 0; i < K__MAX; i++) {
        if (keys[i].def != NULL)
            push(L, i, NULL, keys[i].def, L->origin, 0, LAYER_DEFAULT, 0);
    }
    push(L, KEY_PROP, "ip", "{public_or_local_ipv4}", L->origin, 0, LAYER_DEFAULT, 0);
    push(L, KEY_PROP, "ip_local", "{local_ipv4}", L->origin, 0, LAYER_DEFAULT, 0);
}

/* ---- validators (on the expanded value; err gets the reason) ---- */

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    return -1;
}

static int
all_chars(const char *v, const char *extra)
{
    const char *p;

    for (p = v; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr(extra, *p) == NULL)
            return 0;
    }
    return 1;
}

/* 1 when host (len bytes) names this machine: localhost, 127.0.0.0/8 or [::1]. */
static int
host_is_loopback(const char *host, size_t len)
{
    char h[64];

    if (len == 0 || len >= sizeof(h))
        return 0;
    memcpy(h, host, len);
    h[len] = '\0';
    if (str_casecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
        return 1;
    return str_is_ipv4(h) && str_has_prefix(h, "127.");
}

/* http(s)://HOST[:PORT][/...]; with loopback_rule, http:// only for a loopback host. */
static int
is_url(const char *v, int loopback_rule, char *err, size_t errcap)
{
    const char *host, *end, *at, *p;
    int https;
    size_t hlen;

    https = str_has_prefix(v, "https://");
    if (!https && !str_has_prefix(v, "http://"))
        return fail(err, errcap, "must be an http:// or https:// URL (got \"%.80s\")", v);
    for (p = v; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(err, errcap, "a URL may not contain spaces or control characters");
    }
    host = v + (https ? 8 : 7);
    end = host + strcspn(host, "/?#");
    at = memchr(host, '@', (size_t)(end - host));
    if (at != NULL)
        host = at + 1;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (rb == NULL)
            return fail(err, errcap, "bad IPv6 host in URL \"%.80s\"", v);
        hlen = (size_t)(rb + 1 - host);
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        hlen = (size_t)((colon != NULL ? colon : end) - host);
    }
    if (hlen == 0)
        return fail(err, errcap, "no host in URL \"%.80s\"", v);
    if (loopback_rule && !https && !host_is_loopback(host, hlen))
        return fail(err, errcap,
                    "must be an https:// URL (http:// only for a loopback host; got \"%.80s\")", v);
    return 0;
}

static int
check_heap(const char *v, char *err, size_t errcap)
{
    char num[32];
    size_t n = strlen(v);
    long long x;

    if (strcmp(v, "keep") == 0)
        return 0;
    if (n > 0 && n < sizeof(num) && v[n - 1] == '%') {
        memcpy(num, v, n - 1);
        num[n - 1] = '\0';
        if (str_to_ll(num, 1, 100, &x) == AGENT_OK && isdigit((unsigned char)num[0]))
            return 0;
    } else if (n > 0 && n < sizeof(num)) {
        memcpy(num, v, n + 1);
        if (strchr("kKmMgG", num[n - 1]) != NULL)
            num[n - 1] = '\0';
        if (isdigit((unsigned char)num[0]) && str_to_ll(num, 1, 1LL << 40, &x) == AGENT_OK)
            return 0;
    }
    return fail(
        err, errcap,
        "must be keep, a size like 4g (N[kmg]) or a share like 50%% (1..100%%); got \"%.60s\"", v);
}

static int
check_require(const char *v, char *err, size_t errcap)
{
    const char *p = v, *num;
    long long x;

    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
        p++;
    if (p == v)
        goto bad;
    if (*p == '\0')
        return 0;
    if (p[0] == '>' && p[1] == '=')
        num = p + 2;
    else if (p[0] == '>' || p[0] == '=')
        num = p + 1;
    else
        goto bad;
    if (*num != '-' && !isdigit((unsigned char)*num))
        goto bad;
    if (str_to_ll(num, -9223372036854775807LL, 9223372036854775807LL, &x) == AGENT_OK)
        return 0;
bad:
    return fail(err, errcap,
                "\"%.60s\": expected NAME, NAME>N, NAME>=N or NAME=N (NAME of [A-Za-z0-9_.], N an "
                "integer)",
                v);
}

/* An ELBv2 target group ARN: arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/... */
static int
check_target_group(const char *v, char *err, size_t errcap)
{
    const char *f[6];
    const char *p = v;
    int i;

    if (!str_is_arn(v))
        goto bad;
    for (i = 0; i < 6; i++) {
        f[i] = p;
        if (i < 5) {
            p = strchr(p, ':');
            if (p == NULL)
                goto bad;
            p++;
        }
    }
    if (strncmp(f[2], "elasticloadbalancing:", 21) != 0 || f[3][0] == ':' || f[4][0] == ':' ||
        !str_has_prefix(f[5], "targetgroup/"))
        goto bad;
    return 0;
bad:
    return fail(err, errcap,
                "\"%.100s\" is not a target group ARN "
                "(arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)",
                v);
}

static int
check_host(const char *v, char *err, size_t errcap)
{
    size_t n = strlen(v);

    if (n == 0 || n > 253 || !all_chars(v, ".-:[]_"))
        return fail(err, errcap, "\"%.60s\" is not a host name or IP address", v);
    return 0;
}

/* The checks of one key's value (already expanded); "" for optional keys never gets here. */
static int
check_value(const struct key_def *k, const char *v, char *err, size_t errcap)
{
    long long x;
    int b;
    char **argv = NULL;
    size_t n = strlen(v);

    switch (k->kind) {
    case KIND_I64:
    case KIND_INT:
        if (str_to_ll(v, k->min, k->max, &x) != AGENT_OK)
            return fail(err, errcap, "must be an integer in %lld..%lld (got \"%.40s\")", k->min,
                        k->max, v);
        break;
    case KIND_BOOL:
        if (str_to_bool(v, &b) != AGENT_OK)
            return fail(err, errcap,
                        "must be true or false (also yes/no, on/off, 1/0; got \"%.40s\")", v);
        return 0;
    case KIND_USER_DATA:
        if (strcmp(v, "apply") != 0 && strcmp(v, "ignore") != 0)
            return fail(err, errcap, "must be apply or ignore (got \"%.40s\")", v);
        return 0;
    case KIND_CDN_ROLE:
        if (n != 0 && strcmp(v, "off") != 0 && strcmp(v, "origin") != 0 && strcmp(v, "edge") != 0 &&
            strcmp(v, "transcoder") != 0)
            return fail(err, errcap,
                        "must be empty, off, origin, edge or transcoder (got \"%.40s\")", v);
        return 0;
    case KIND_ON_FAILURE:
        if (strcmp(v, "abandon") != 0 && strcmp(v, "continue") != 0)
            return fail(err, errcap, "must be abandon or continue (got \"%.40s\")", v);
        return 0;
    case KIND_RESTART_MODE:
        if (strcmp(v, "drain") != 0 && strcmp(v, "now") != 0 && strcmp(v, "defer") != 0)
            return fail(err, errcap, "must be drain, now or defer (got \"%.40s\")", v);
        return 0;
    case KIND_STR:
    case KIND_LIST:
        break;
    }
    switch (k->check) {
    case CHECK_NONE:
        return 0;
    case CHECK_ABSPATH:
        if (v[0] != '/')
            return fail(err, errcap, "must be an absolute path (got \"%.80s\")", v);
        return 0;
    case CHECK_URL:
        return is_url(v, 0, err, errcap);
    case CHECK_UPDATE_URL:
        return is_url(v, 1, err, errcap);
    case CHECK_REGION:
        if (!str_is_region(v))
            return fail(err, errcap, "\"%.40s\" is not an AWS region (e.g. eu-west-1)", v);
        return 0;
    case CHECK_UNIT:
        if (n == 0 || n > 255 || !all_chars(v, ":_.@-\\"))
            return fail(err, errcap, "\"%.60s\" is not a systemd unit name", v);
        return 0;
    case CHECK_COMMAND_OR_EMPTY:
        if (n == 0)
            return 0;
        /* FALLTHROUGH */
    case CHECK_COMMAND:
        if (str_split_argv(v, &argv) != AGENT_OK)
            return fail(err, errcap, "must be a command (program and arguments)");
        str_argv_free(argv);
        return 0;
    case CHECK_HEAP:
        return check_heap(v, err, errcap);
    case CHECK_SHA256:
        if (n != 64 || !all_chars(v, "") || strspn(v, "0123456789abcdefABCDEF") != 64)
            return fail(err, errcap, "must be 64 hexadecimal digits");
        return 0;
    case CHECK_ALIAS:
        if (n == 0 || n > 64 || !all_chars(v, "_.-"))
            return fail(err, errcap, "must be 1..64 of [A-Za-z0-9_.-] (got \"%.60s\")", v);
        return 0;
    case CHECK_HOST:
        return check_host(v, err, errcap);
    case CHECK_REQUIRE:
        return check_require(v, err, errcap);
    case CHECK_TARGET_GROUP:
        return check_target_group(v, err, errcap);
    case CHECK_ELB_NAME:
        if (n == 0 || n > 32 || !all_chars(v, "-") || v[0] == '-' || v[n - 1] == '-')
            return fail(err, errcap,
                        "\"%.60s\" is not a classic load balancer name (1..32 of [A-Za-z0-9-], "
                        "no '-' at either end)",
                        v);
        return 0;
    case CHECK_HOOK:
        if (n == 0 || n > 255 || !all_chars(v, "-_/"))
            return fail(err, errcap,
                        "\"%.60s\" is not a lifecycle hook name (1..255 of [A-Za-z0-9-_/])", v);
        return 0;
    case CHECK_ASG:
        if (n == 0 || n > 255)
            return fail(err, errcap, "must be 1..255 characters");
        return 0;
    case CHECK_CFN_STACK:
        if (str_has_prefix(v, "arn:")) {
            if (!str_is_arn(v) || strstr(v, ":cloudformation:") == NULL)
                return fail(err, errcap, "\"%.100s\" is not a CloudFormation stack ARN", v);
            return 0;
        }
        if (n == 0 || n > 128 || !isalpha((unsigned char)v[0]) || !all_chars(v, "-"))
            return fail(err, errcap,
                        "\"%.60s\" is not a stack name (a letter, then up to 127 of "
                        "[A-Za-z0-9-]) or stack ARN",
                        v);
        return 0;
    case CHECK_CFN_RESOURCE:
        if (n == 0 || n > 255 || !all_chars(v, ""))
            return fail(err, errcap, "\"%.60s\" is not a logical resource id ([A-Za-z0-9]+)", v);
        return 0;
    case CHECK_METRICS_PERIOD:
        if (str_to_ll(v, 10, 86400, &x) != AGENT_OK || !(x == 10 || x == 30 || x % 60 == 0))
            return fail(err, errcap,
                        "must be 10 or 30 (high resolution) or a multiple of 60 (got \"%.40s\")",
                        v);
        return 0;
    case CHECK_METRICS_NAMESPACE:
        if (n == 0 || n > 255 || v[0] == ':' || !all_chars(v, ".-_/#:"))
            return fail(err, errcap,
                        "\"%.60s\" is not a CloudWatch namespace (1-255 of [A-Za-z0-9.-_/#:], "
                        "not starting with ':')",
                        v);
        return 0;
    }
    return 0;
}

/* ---- expansion and validation ---- */

static void
key_name(int key, const struct assign *a, char *out, size_t cap)
{
    if (key == KEY_PROP)
        snprintf(out, cap, "properties.%s", a->prop);
    else
        snprintf(out, cap, "%s.%s", keys[key].section, keys[key].key);
}

/* Sample facts: without IMDS, values are validated as if expanded with these. */
static const struct config_facts sample_facts = {
    "i-0123456789abcdef0", "us-east-1", "us-east-1a", "c5.large", "10.0.0.10",
    "203.0.113.10",        0,           NULL,         NULL,       0};

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
                diag_at(L, a->layer, a->origin, a->line,
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
            diag_at(L, a->layer, a->origin, a->line, "%s: longer than %d bytes", name,
                    EXPANDED_MAX);
            a->bad = 1;
            return;
        }
        memcpy(sample + n, piece, w);
        n += w;
    }
    sample[n] = '\0';
    if (check_value(k, sample, err, sizeof(err)) != 0) {
        diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
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
    const struct key_def *k = a->key == KEY_PROP ? NULL : &keys[a->key];
    char name[128], err[256], rerr[256];
    struct buf out;
    struct secretref ref;
    enum agent_rc rc;
    int secret = k != NULL && (k->flags & KF_SECRET) != 0;
    int optional = k != NULL && k->def == NULL;
    const char *v;
    char *expanded;

    key_name(a->key, a, name, sizeof(name));
    /* One wrong wcs.home must not make every value that uses it an error too. */
    if ((L->home_bad && strstr(a->value, "{wcs_home}") != NULL) ||
        (L->service_bad && strstr(a->value, "{service}") != NULL))
        return;
    if (secret && !secretref_is_reference(a->value)) {
        if (a->value[0] == '\0' && !optional) {
            diag_at(L, a->layer, a->origin, a->line, "%s: must not be empty", name);
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
        diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
        a->bad = 1;
        goto done;
    }
    v = buf_cstr(&out);
    if (strlen(v) != out.len || strchr(v, '\r') != NULL || strchr(v, '\n') != NULL) {
        diag_at(L, a->layer, a->origin, a->line, "%s: the expanded value contains a CR, LF or NUL",
                name);
        a->bad = 1;
        goto done;
    }
    if (k != NULL && (k->flags & KF_REF) != 0 && secretref_is_reference(v)) {
        if (secretref_parse(v, &ref, rerr, sizeof(rerr)) != AGENT_OK) {
            diag_at(L, a->layer, a->origin, a->line, "%s: bad secret reference: %s", name, rerr);
            a->bad = 1;
            goto done;
        }
        secretref_cleanup(&ref);
    } else if (k != NULL && !(optional && v[0] == '\0') &&
               check_value(k, v, err, sizeof(err)) != 0) {
        diag_at(L, a->layer, a->origin, a->line, "%s: %s", name, err);
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
        const struct key_def *kd = &keys[k];

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
            continue;
        }
        {
            long w = winner(L, k);
            if (w < 0)
                continue;
            rc = set_field(cfg, kd, L->a[w].no_fact ? "" : L->a[w].value);
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

        if (!a->from_user_data || a->key == KEY_PROP || !(keys[a->key].flags & KF_SECRET) ||
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
        diag_at(L, L->a[w].layer, L->a[w].origin, 0,
                "cdn.ip: %s: this instance has no local IPv4 address; set cdn.ip for a CDN role",
                L->a[w].value);

    if ((cfg->cdn.role == CONFIG_CDN_EDGE || cfg->cdn.role == CONFIG_CDN_TRANSCODER) &&
        cfg->cdn.point_of_entry == NULL) {
        w = winner(L, K_CDN_ROLE);
        diag_at(L, w >= 0 ? L->a[w].layer : LAYER_SET + 1, w >= 0 ? L->a[w].origin : "config",
                w >= 0 ? L->a[w].line : 0, "cdn.point_of_entry is required when cdn.role = %s",
                config_cdn_role_str(cfg->cdn.role));
    }
    if ((cfg->signal.cfn_stack == NULL) != (cfg->signal.cfn_resource == NULL)) {
        int given = cfg->signal.cfn_stack != NULL ? K_SIGNAL_CFN_STACK : K_SIGNAL_CFN_RESOURCE;
        w = winner(L, given);
        diag_at(L, w >= 0 ? L->a[w].layer : LAYER_SET + 1, w >= 0 ? L->a[w].origin : "config",
                w >= 0 ? L->a[w].line : 0,
                "signal.cfn_stack and signal.cfn_resource must be given together");
    }
}

static void
loader_cleanup(struct loader *L)
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
    load_defaults(&L);
    if (text != NULL) {
        load_text(&L, text_name != NULL ? text_name : "config", text, text_len, LAYER_FILE, 0);
    } else {
        path = in->path;
        required = in->path_required;
        if (path == NULL) {
            path = getenv("WCS_AGENT_CONFIG");
            required = path != NULL && path[0] != '\0';
            if (!required)
                path = CONFIG_DEFAULT_PATH;
        }
        load_file(&L, path, required, LAYER_FILE);
        if (L.fatal == AGENT_OK)
            load_confd(&L, path);
    }
    if (L.fatal == AGENT_OK && in->overlays != NULL && in->n_overlays > 0 &&
        !user_data_ignored(&L)) {
        for (i = 0; i < in->n_overlays && L.fatal == AGENT_OK; i++) {
            const struct config_overlay *o = &in->overlays[i];
            load_text(&L, o->name != NULL ? o->name : "user-data", o->text != NULL ? o->text : "",
                      o->text != NULL ? o->len : 0, LAYER_OVERLAY + (int)i, 1);
        }
    }
    if (L.fatal == AGENT_OK)
        load_env(&L);
    if (L.fatal == AGENT_OK)
        load_sets(&L);
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
        *out = cfg;
        cfg = NULL;
    }
out:
    if (L.fatal == AGENT_OK)
        emit_diag(&L);
    if (L.fatal != AGENT_OK)
        rc = L.fatal;
    config_free(cfg);
    loader_cleanup(&L);
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
        int secret = (keys[k].flags & KF_SECRET) != 0;

        if (keys[k].kind == KIND_STR) {
            char *s = *(char **)(void *)(base + keys[k].off);
            if (secret)
                str_free_secret(s);
            else
                free(s);
        } else if (keys[k].kind == KIND_LIST) {
            list_free((struct config_list *)(void *)(base + keys[k].off), secret);
        }
    }
    for (i = 0; i < cfg->properties.n; i++) {
        free(cfg->properties.items[i].key);
        free(cfg->properties.items[i].value);
    }
    free(cfg->properties.items);
    list_free(&cfg->literal_secrets_from_user_data, 0);
    str_wipe(cfg, sizeof(*cfg));
    free(cfg);
}

/* ---- dump ---- */

static const char *
field_text(const struct agent_config *cfg, const struct key_def *k, char *tmp, size_t cap)
{
    const char *base = (const char *)cfg;

    switch (k->kind) {
    case KIND_STR: {
        const char *s = *(char *const *)(const void *)(base + k->off);
        if (s == NULL)
            return "";
        if ((k->flags & KF_SECRET) != 0 && !secretref_is_reference(s))
            return "***";
        return s;
    }
    case KIND_I64:
        snprintf(tmp, cap, "%lld", (long long)*(const int64_t *)(const void *)(base + k->off));
        return tmp;
    case KIND_INT:
        snprintf(tmp, cap, "%d", *(const int *)(const void *)(base + k->off));
        return tmp;
    case KIND_BOOL:
        return *(const int *)(const void *)(base + k->off) ? "true" : "false";
    case KIND_USER_DATA:
        return cfg->agent.user_data == CONFIG_USER_DATA_IGNORE ? "ignore" : "apply";
    case KIND_ON_FAILURE:
        return cfg->signal.on_failure == CONFIG_ON_FAILURE_CONTINUE ? "continue" : "abandon";
    case KIND_RESTART_MODE:
        return config_restart_mode_str(cfg->restart.mode);
    case KIND_CDN_ROLE:
        return config_cdn_role_str(cfg->cdn.role);
    case KIND_LIST:
        break;
    }
    return "";
}

static enum agent_rc
dump_line(struct buf *out, const char *key, const char *value)
{
    if (value[0] == '\0')
        return buf_printf(out, "%s =\n", key);
    return buf_printf(out, "%s = %s\n", key, value);
}

enum agent_rc
config_dump(const struct agent_config *cfg, struct buf *out)
{
    const char *section = NULL;
    char tmp[32];
    enum agent_rc rc = AGENT_OK;
    size_t i;
    int k;

    if (cfg == NULL)
        return AGENT_ERR_INVAL;
    for (k = 0; k < K__MAX && rc == AGENT_OK; k++) {
        const struct key_def *kd = &keys[k];

        if (section == NULL || strcmp(section, kd->section) != 0) {
            /* [properties] sits after [cdn], where design.md lists it. */
            if (section != NULL && strcmp(section, "cdn") == 0) {
                rc = buf_puts(out, "\n[properties]\n");
                for (i = 0; i < cfg->properties.n && rc == AGENT_OK; i++)
                    rc = dump_line(out, cfg->properties.items[i].key,
                                   cfg->properties.items[i].value);
                if (rc != AGENT_OK)
                    break;
            }
            section = kd->section;
            rc = buf_printf(out, "%s[%s]\n", k == 0 ? "" : "\n", section);
            if (rc != AGENT_OK)
                break;
        }
        if (kd->kind == KIND_LIST) {
            const struct config_list *l =
                (const struct config_list *)(const void *)((const char *)cfg + kd->off);
            if (l->n == 0)
                rc = dump_line(out, kd->key, "");
            for (i = 0; i < l->n && rc == AGENT_OK; i++)
                rc = dump_line(out, kd->key, l->items[i]);
            continue;
        }
        rc = dump_line(out, kd->key, field_text(cfg, kd, tmp, sizeof(tmp)));
    }
    return rc;
}

const char *
config_restart_mode_str(enum config_restart_mode mode)
{
    switch (mode) {
    case CONFIG_RESTART_NOW:
        return "now";
    case CONFIG_RESTART_DEFER:
        return "defer";
    case CONFIG_RESTART_DRAIN:
        break;
    }
    return "drain";
}

const char *
config_cdn_role_str(enum config_cdn_role role)
{
    switch (role) {
    case CONFIG_CDN_OFF:
        return "off";
    case CONFIG_CDN_ORIGIN:
        return "origin";
    case CONFIG_CDN_EDGE:
        return "edge";
    case CONFIG_CDN_TRANSCODER:
        return "transcoder";
    case CONFIG_CDN_UNSET:
        break;
    }
    return "";
}
