#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/secmem.h"
#include "core/str.h"

/* A formatted message longer than this is cut (after redaction) and marked. */
#define LOG_MSG_MAX (16 * 1024)
/* Room for the prefix, the escapes and the JSON wrapping of one line. */
#define LOG_LINE_MAX (8 * LOG_MSG_MAX + 512)

static int log_verbosity;
static enum log_format log_fmt = LOG_FMT_TEXT;
static int log_fd = 2;
static int log_journal;
static const char *log_step;

/* The registered secret values, longest first; each copy lives in secmem pages. */
struct secret {
    char *v;
    size_t n;
    size_t cap; /* bytes of v's secmem block */
};

static struct secret *secrets;
static size_t nsecrets;

static const char *const level_names[LOG_LVL__MAX] = {
    [LOG_LVL_ERR] = "error",   [LOG_LVL_WARN] = "warn",   [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug", [LOG_LVL_TRACE] = "trace",
};

static const int level_prio[LOG_LVL__MAX] = {
    [LOG_LVL_ERR] = 3,   [LOG_LVL_WARN] = 4,  [LOG_LVL_INFO] = 6,
    [LOG_LVL_DEBUG] = 7, [LOG_LVL_TRACE] = 7,
};

void
log_init(int verbosity, enum log_format fmt)
{
    const char *js;

    log_verbosity = verbosity;
    log_fmt = fmt;
    js = getenv("JOURNAL_STREAM");
    log_journal = js != NULL && js[0] != '\0';
}

int
log_get_verbosity(void)
{
    return log_verbosity;
}

enum log_format
log_get_format(void)
{
    return log_fmt;
}

void
log_set_fd(int fd)
{
    log_fd = fd == -1 ? 2 : fd;
}

void
log_set_step(const char *step)
{
    log_step = step;
}

const char *
log_get_step(void)
{
    return log_step;
}

int
log_enabled(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_ERR:
        return 1;
    case LOG_LVL_WARN:
    case LOG_LVL_INFO:
        return log_verbosity >= 0;
    case LOG_LVL_DEBUG:
        return log_verbosity >= 1;
    case LOG_LVL_TRACE:
        return log_verbosity >= 2;
    default:
        return 0;
    }
}

static enum agent_rc
redact_add_one(const char *value, size_t len)
{
    struct secret *ns;
    size_t i, pos, cap;
    char *copy;

    if (len < 1)
        return AGENT_OK;
    for (i = 0; i < nsecrets; i++) {
        if (secrets[i].n == len && memcmp(secrets[i].v, value, len) == 0)
            return AGENT_OK;
    }
    copy = secmem_alloc(len + 1, &cap);
    if (copy == NULL)
        return AGENT_ERR_NOMEM;
    memcpy(copy, value, len);
    copy[len] = '\0';
    ns = realloc(secrets, (nsecrets + 1) * sizeof(*secrets));
    if (ns == NULL) {
        secmem_free(copy, cap);
        return AGENT_ERR_NOMEM;
    }
    secrets = ns;
    /* Keep the longest first. */
    for (pos = 0; pos < nsecrets && secrets[pos].n >= len; pos++)
        ;
    memmove(secrets + pos + 1, secrets + pos, (nsecrets - pos) * sizeof(*secrets));
    secrets[pos].v = copy;
    secrets[pos].n = len;
    secrets[pos].cap = cap;
    nsecrets++;
    return AGENT_OK;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Narrows [*p, *p + *n) to its part without leading and trailing blanks. */
static void
trim(const char **p, size_t *n)
{
    while (*n > 0 && is_blank(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*p)[*n - 1]))
        (*n)--;
}

/*
 * The value as given, its trimmed form (a file's trailing newline), and each
 * trimmed line of LOG_REDACT_LINE_MIN bytes or more, since a child's output
 * is logged line by line.
 */
enum agent_rc
log_redact_add(const void *value, size_t len)
{
    const char *v = value, *t = value, *line, *nl;
    size_t tn = len, left, n;
    enum agent_rc rc;

    if (value == NULL)
        return AGENT_OK;
    rc = redact_add_one(v, len);
    if (rc == AGENT_OK) {
        trim(&t, &tn);
        if (tn != len)
            rc = redact_add_one(t, tn);
    }
    if (rc != AGENT_OK || memchr(t, '\n', tn) == NULL)
        return rc;
    for (line = t, left = tn; rc == AGENT_OK && left > 0;) {
        const char *lp = line;

        nl = memchr(line, '\n', left);
        n = nl != NULL ? (size_t)(nl - line) : left;
        line = nl != NULL ? nl + 1 : line + n;
        left -= nl != NULL ? n + 1 : n;
        trim(&lp, &n);
        if (n >= LOG_REDACT_LINE_MIN)
            rc = redact_add_one(lp, n);
    }
    return rc;
}

void
log_redact_clear(void)
{
    size_t i;

    for (i = 0; i < nsecrets; i++)
        secmem_free(secrets[i].v, secrets[i].cap);
    free(secrets);
    secrets = NULL;
    nsecrets = 0;
}

/*
 * Every byte covered by any occurrence of any secret is marked first, and
 * each run of marked bytes becomes one "***".  Replacing matches one after
 * the other instead would let the tail of a secret that overlaps an
 * earlier replaced one through.
 */
static char *
redact_n(const char *s, size_t n)
{
    unsigned char *mark = NULL;
    struct buf out;
    size_t i, j, k;
    int any = 0;
    char *res;

    buf_init(&out, (size_t)-2);
    if (nsecrets > 0 && n > 0) {
        mark = calloc(n, 1);
        if (mark == NULL)
            return NULL;
        for (k = 0; k < nsecrets; k++) {
            if (secrets[k].n > n)
                continue;
            for (i = 0; i + secrets[k].n <= n; i++) {
                if (s[i] == secrets[k].v[0] && memcmp(s + i, secrets[k].v, secrets[k].n) == 0) {
                    memset(mark + i, 1, secrets[k].n);
                    any = 1;
                }
            }
        }
    }
    if (!any) {
        free(mark);
        return str_ndup(s, n);
    }
    for (i = 0; i < n;) {
        if (mark[i]) {
            for (j = i; j < n && mark[j]; j++)
                ;
            if (buf_append(&out, "***", 3) != AGENT_OK)
                goto fail;
            i = j;
        } else {
            for (j = i; j < n && !mark[j]; j++)
                ;
            if (buf_append(&out, s + i, j - i) != AGENT_OK)
                goto fail;
            i = j;
        }
    }
    free(mark);
    res = buf_detach(&out);
    return res;
fail:
    free(mark);
    buf_cleanup(&out);
    return NULL;
}

char *
log_redact(const char *s)
{
    if (s == NULL)
        return NULL;
    return redact_n(s, strlen(s));
}

/*
 * Text lines: CR and LF become "\r" and "\n", other control bytes "\xNN",
 * so that one call is one line and a value cannot forge a log line.
 */
static void
put_text_escaped(struct buf *b, const char *s)
{
    const unsigned char *p;
    char tmp[8];

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\n') {
            buf_append(b, "\\n", 2);
        } else if (*p == '\r') {
            buf_append(b, "\\r", 2);
        } else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
            buf_puts(b, tmp);
        } else {
            buf_putc(b, (char)*p);
        }
    }
}

/* The length of the valid UTF-8 sequence at p, or 0 when it is not valid. */
static size_t
utf8_len(const unsigned char *p)
{
    size_t n, i;
    unsigned int cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string literal; bytes that are not UTF-8 become U+FFFD. */
static void
put_json_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char tmp[8];
    size_t n;

    buf_putc(b, '"');
    while (*p != '\0') {
        switch (*p) {
        case '"':
            buf_append(b, "\\\"", 2);
            p++;
            continue;
        case '\\':
            buf_append(b, "\\\\", 2);
            p++;
            continue;
        case '\n':
            buf_append(b, "\\n", 2);
            p++;
            continue;
        case '\r':
            buf_append(b, "\\r", 2);
            p++;
            continue;
        case '\t':
            buf_append(b, "\\t", 2);
            p++;
            continue;
        default:
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
            buf_puts(b, tmp);
            p++;
            continue;
        }
        n = utf8_len(p);
        if (n == 0) {
            buf_puts(b, "\\ufffd");
            p++;
            continue;
        }
        buf_append(b, p, n);
        p += n;
    }
    buf_putc(b, '"');
}

/* One write(2) for the line; the loop only covers a short write or EINTR. */
static void
write_line(const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(log_fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* The fields of a step's progress line (log_step_progress), or NULL. */
struct progress {
    const char *result;
    long long duration_ms;
    const char *detail; /* already redacted */
};

static void
emit_line(enum log_level lvl, const char *msg, const struct progress *pg)
{
    struct buf line;
    char ts[32];
    char *red;
    size_t n;

    red = redact_n(msg, strlen(msg));
    if (red == NULL) {
        /* Without memory the message cannot be checked for secrets: drop it. */
        static const char oom[] = "wcs-agent: out of memory while logging\n";

        write_line(oom, sizeof(oom) - 1);
        return;
    }
    /* Cut after redaction so no part of a secret survives at the cut. */
    n = strlen(red);
    if (n > LOG_MSG_MAX)
        memcpy(red + LOG_MSG_MAX - 15, "...[truncated]", 15);

    buf_init(&line, LOG_LINE_MAX);
    if (log_fmt == LOG_FMT_JSON) {
        clock_rfc3339_ms(clock_now_ms(), ts);
        buf_puts(&line, "{\"ts\":");
        put_json_string(&line, ts);
        buf_puts(&line, ",\"level\":");
        put_json_string(&line, level_names[lvl]);
        buf_puts(&line, ",\"step\":");
        if (log_step != NULL)
            put_json_string(&line, log_step);
        else
            buf_puts(&line, "null");
        buf_puts(&line, ",\"msg\":");
        put_json_string(&line, red);
        if (pg != NULL) {
            buf_puts(&line, ",\"result\":");
            put_json_string(&line, pg->result);
            buf_printf(&line, ",\"duration_ms\":%lld,\"detail\":", pg->duration_ms);
            put_json_string(&line, pg->detail);
        }
        buf_puts(&line, "}\n");
    } else {
        if (log_journal)
            buf_printf(&line, "<%d>", level_prio[lvl]);
        buf_puts(&line, "wcs-agent: ");
        /* A module message that already starts with the step's name is not prefixed twice. */
        if (log_step != NULL && !(strncmp(red, log_step, strlen(log_step)) == 0 &&
                                  strncmp(red + strlen(log_step), ": ", 2) == 0)) {
            put_text_escaped(&line, log_step);
            buf_puts(&line, ": ");
        }
        put_text_escaped(&line, red);
        buf_putc(&line, '\n');
    }
    str_free_secret(red);
    if (line.len > 0)
        write_line(line.data, line.len);
    buf_cleanup(&line);
}

/* The last error-level message, redacted (the innermost cause of a failure, §8.6). */
static char last_error[512];

static void
remember_error(const char *msg)
{
    char *red = log_redact(msg);

    if (red == NULL)
        return;
    snprintf(last_error, sizeof(last_error), "%s", red);
    str_wipe(red, strlen(red));
    free(red);
}

const char *
log_last_error(void)
{
    return last_error;
}

void
log_last_error_clear(void)
{
    last_error[0] = '\0';
}

static void
emit(enum log_level lvl, const char *msg)
{
    emit_line(lvl, msg, NULL);
}

void
log_step_progress(const char *result, long long duration_ms, const char *detail)
{
    struct progress pg;
    char *red, *msg;
    size_t n;

    if (!log_enabled(LOG_LVL_INFO))
        return;
    red = redact_n(detail, strlen(detail));
    if (red == NULL)
        return;
    n = strlen(result) + strlen(red) + 48;
    msg = malloc(n);
    if (msg != NULL) {
        /* Text: the whole line; JSON: msg is the short form, the rest are fields. */
        if (log_fmt == LOG_FMT_JSON)
            snprintf(msg, n, "%s", result);
        else
            snprintf(msg, n, "%s (%lld ms)%s%s", result, duration_ms, red[0] != '\0' ? ": " : "",
                     red);
        pg.result = result;
        pg.duration_ms = duration_ms;
        pg.detail = red;
        emit_line(LOG_LVL_INFO, msg, &pg);
        str_free_secret(msg);
    }
    str_free_secret(red);
}

static void vlog(enum log_level lvl, int with_errno, int saved_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
vlog(enum log_level lvl, int with_errno, int saved_errno, const char *fmt, va_list ap)
{
    char stack[1024];
    char *msg = stack, *heap = NULL;
    va_list ap2;
    int n;

    if ((unsigned)lvl >= LOG_LVL__MAX || !log_enabled(lvl))
        return;
    va_copy(ap2, ap);
    n = vsnprintf(stack, sizeof(stack), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(stack)) {
        heap = malloc((size_t)n + 1);
        if (heap == NULL) {
            emit(lvl, "(message dropped: out of memory)");
            return;
        }
        va_copy(ap2, ap);
        vsnprintf(heap, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        msg = heap;
    }
    if (with_errno) {
        const char *es = strerror(saved_errno);
        size_t ml = strlen(msg), el = strlen(es);
        char *full = malloc(ml + el + 3);

        if (full != NULL) {
            memcpy(full, msg, ml);
            memcpy(full + ml, ": ", 2);
            memcpy(full + ml + 2, es, el + 1);
            if (lvl == LOG_LVL_ERR)
                remember_error(full);
            emit(lvl, full);
            str_wipe(full, ml + el + 2);
            free(full);
        } else {
            if (lvl == LOG_LVL_ERR)
                remember_error(msg);
            emit(lvl, msg);
        }
    } else {
        if (lvl == LOG_LVL_ERR)
            remember_error(msg);
        emit(lvl, msg);
    }
    /* The message may have held a secret before redaction. */
    str_wipe(msg, strlen(msg));
    free(heap);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_err(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_ERR, 1, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_errx(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_ERR, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_WARN, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_info(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_INFO, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_debug(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_DEBUG, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_trace(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_LVL_TRACE, 0, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}
