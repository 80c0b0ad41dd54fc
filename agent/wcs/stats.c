#include "wcs/stats.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"

/* Room for one line: a name, '=', a value and the blanks around them (longer: ignored). */
#define LINE_MAX_BYTES (STATS_NAME_MAX + STATS_VALUE_MAX + 256)
/* The longest tag name looked at (longer ones are treated as block tags). */
#define TAG_NAME_MAX 16
/* How much of a value a reason quotes. */
#define REASON_VALUE_MAX 64

struct line_acc {
    char data[LINE_MAX_BYTES + 1];
    size_t len;
    int overlong; /* the line went past LINE_MAX_BYTES: ignored */
};

void
stats_cleanup(struct stats *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].value);
    }
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

static int
name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static int
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* Adds the line in acc when it is a name=value line; resets acc. */
static enum agent_rc
take_line(struct line_acc *acc, struct stats *out, size_t *cap)
{
    char *s = acc->data, *e, *eq, *ne, *v;
    struct stats_entry *grown;
    size_t nlen, vlen, i;
    enum agent_rc rc = AGENT_OK;

    if (acc->overlong || acc->len == 0)
        goto out;
    acc->data[acc->len] = '\0';
    e = s + acc->len;
    while (s < e && is_blank((unsigned char)*s))
        s++;
    while (e > s && is_blank((unsigned char)e[-1]))
        e--;
    eq = memchr(s, '=', (size_t)(e - s));
    if (eq == NULL)
        goto out;
    ne = eq;
    while (ne > s && is_blank((unsigned char)ne[-1]))
        ne--;
    nlen = (size_t)(ne - s);
    if (nlen == 0 || nlen > STATS_NAME_MAX)
        goto out;
    for (i = 0; i < nlen; i++) {
        if (!name_char((unsigned char)s[i]))
            goto out;
    }
    v = eq + 1;
    while (v < e && is_blank((unsigned char)*v))
        v++;
    vlen = (size_t)(e - v);
    if (vlen > STATS_VALUE_MAX)
        goto out;

    if (out->n == STATS_MAX_ENTRIES) {
        rc = AGENT_ERR_TOOBIG;
        goto out;
    }
    if (out->n == *cap) {
        size_t ncap = *cap == 0 ? 64 : *cap * 2;

        grown = realloc(out->items, ncap * sizeof(*grown));
        if (grown == NULL) {
            rc = AGENT_ERR_NOMEM;
            goto out;
        }
        out->items = grown;
        *cap = ncap;
    }
    out->items[out->n].name = str_ndup(s, nlen);
    out->items[out->n].value = str_ndup(v, vlen);
    if (out->items[out->n].name == NULL || out->items[out->n].value == NULL) {
        free(out->items[out->n].name);
        free(out->items[out->n].value);
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    out->n++;
out:
    acc->len = 0;
    acc->overlong = 0;
    return rc;
}

static void
acc_put(struct line_acc *acc, char c)
{
    if (acc->len >= LINE_MAX_BYTES) {
        acc->overlong = 1;
        return;
    }
    acc->data[acc->len++] = c;
}

/*
 * Inline tags are dropped where they stand ("a=<b>1</b>" reads "a=1");
 * every other tag (br, p, div, tr, li, ...) ends the line.
 */
static int
tag_is_inline(const char *p, const char *end)
{
    static const char *const inl[] = {"b",    "i",  "u",     "em", "strong", "span",
                                      "font", "a",  "code",  "tt", "small",  "big",
                                      "td",   "th", "label", "s",  "sub",    "sup"};
    char name[TAG_NAME_MAX + 1];
    size_t n = 0, i;

    p++; /* '<' */
    if (p < end && *p == '/')
        p++;
    while (p < end && n < TAG_NAME_MAX && isalnum((unsigned char)*p))
        name[n++] = (char)tolower((unsigned char)*p++);
    name[n] = '\0';
    if (n == 0 || (p < end && isalnum((unsigned char)*p)))
        return 0;
    for (i = 0; i < sizeof(inl) / sizeof(inl[0]); i++) {
        if (strcmp(name, inl[i]) == 0)
            return 1;
    }
    return 0;
}

enum agent_rc
stats_parse(const char *body, size_t len, struct stats *out)
{
    struct line_acc *acc;
    const char *p = body, *end = body + len, *gt;
    size_t cap = 0;
    enum agent_rc rc = AGENT_OK;

    out->items = NULL;
    out->n = 0;
    if (body == NULL && len > 0)
        return AGENT_ERR_INVAL;
    acc = calloc(1, sizeof(*acc));
    if (acc == NULL)
        return AGENT_ERR_NOMEM;
    while (p < end && rc == AGENT_OK) {
        char c = *p;

        if (c == '\n' || c == '\r' || c == '\0') {
            rc = take_line(acc, out, &cap);
            p++;
        } else if (c == '<') {
            /* A tag runs to the next '>' (possibly over lines); unclosed: to the end. */
            gt = memchr(p, '>', (size_t)(end - p));
            if (!tag_is_inline(p, gt != NULL ? gt : end))
                rc = take_line(acc, out, &cap);
            p = gt != NULL ? gt + 1 : end;
        } else {
            acc_put(acc, c);
            p++;
        }
    }
    if (rc == AGENT_OK)
        rc = take_line(acc, out, &cap);
    free(acc);
    return rc;
}

const char *
stats_get(const struct stats *s, const char *name)
{
    size_t i;

    if (s == NULL || name == NULL)
        return NULL;
    for (i = s->n; i > 0; i--) {
        if (strcmp(s->items[i - 1].name, name) == 0)
            return s->items[i - 1].value;
    }
    return NULL;
}

enum agent_rc
stats_require_parse(const char *cond, struct stats_cond *out)
{
    const char *p = cond, *num;
    enum stats_op op;
    long long v = 0;
    size_t n;

    if (cond == NULL || out == NULL)
        return AGENT_ERR_PARSE;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
        p++;
    n = (size_t)(p - cond);
    if (n == 0 || n > STATS_NAME_MAX)
        return AGENT_ERR_PARSE;
    if (*p == '\0') {
        op = STATS_OP_PRESENT;
        num = NULL;
    } else if (p[0] == '>' && p[1] == '=') {
        op = STATS_OP_GE;
        num = p + 2;
    } else if (p[0] == '>') {
        op = STATS_OP_GT;
        num = p + 1;
    } else if (p[0] == '=') {
        op = STATS_OP_EQ;
        num = p + 1;
    } else {
        return AGENT_ERR_PARSE;
    }
    if (num != NULL) {
        /* str_to_ll also takes a '+'; the config grammar does not. */
        if (*num != '-' && !isdigit((unsigned char)*num))
            return AGENT_ERR_PARSE;
        if (*num == '-' && !isdigit((unsigned char)num[1]))
            return AGENT_ERR_PARSE;
        if (str_to_ll(num, -9223372036854775807LL - 1, 9223372036854775807LL, &v) != AGENT_OK)
            return AGENT_ERR_PARSE;
    }
    memcpy(out->name, cond, n);
    out->name[n] = '\0';
    out->op = op;
    out->value = v;
    return AGENT_OK;
}

static const char *
op_str(enum stats_op op)
{
    switch (op) {
    case STATS_OP_GT:
        return ">";
    case STATS_OP_GE:
        return ">=";
    case STATS_OP_EQ:
        return "=";
    default:
        return "";
    }
}

void
stats_cond_str(const struct stats_cond *c, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (c->op == STATS_OP_PRESENT)
        snprintf(out, cap, "%s", c->name);
    else
        snprintf(out, cap, "%s%s%lld", c->name, op_str(c->op), c->value);
}

/* A printable copy of an untrusted value for a reason. */
static void
show_value(const char *v, char *out, size_t cap)
{
    size_t i, n = strlen(v);

    if (n > REASON_VALUE_MAX)
        n = REASON_VALUE_MAX;
    if (n >= cap)
        n = cap - 1;
    for (i = 0; i < n; i++)
        out[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
    out[n] = '\0';
    if (strlen(v) > n && cap > n + 3) {
        memcpy(out + n, "...", 4);
    }
}

/* -1, 0, 1 for value <, ==, > c->value; 2 when value is not a number. */
static int
compare(const char *value, long long want)
{
    long long iv;
    double dv;
    char *end;

    if (str_to_ll(value, -9223372036854775807LL - 1, 9223372036854775807LL, &iv) == AGENT_OK)
        return iv < want ? -1 : iv > want;
    if (value[0] == '\0' || isspace((unsigned char)value[0]))
        return 2;
    errno = 0;
    dv = strtod(value, &end);
    if (end == value || *end != '\0' || errno == ERANGE || !isfinite(dv))
        return 2;
    /* Only plain decimals: strtod also reads "inf", "nan" and hex floats. */
    if (strpbrk(value, "xXnNiI") != NULL)
        return 2;
    return dv < (double)want ? -1 : dv > (double)want;
}

int
stats_check(const struct stats *s, const struct stats_cond *conds, size_t n, char *reason,
            size_t cap)
{
    char shown[REASON_VALUE_MAX + 8];
    const char *v;
    size_t i;
    int c, ok;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    for (i = 0; i < n; i++) {
        const struct stats_cond *k = &conds[i];

        v = stats_get(s, k->name);
        if (v == NULL) {
            if (reason != NULL && cap > 0)
                snprintf(reason, cap, "field %s missing", k->name);
            return 0;
        }
        if (k->op == STATS_OP_PRESENT)
            continue;
        c = compare(v, k->value);
        show_value(v, shown, sizeof(shown));
        if (c == 2) {
            if (reason != NULL && cap > 0)
                snprintf(reason, cap, "%s=%s, wanted %s%lld (not a number)", k->name, shown,
                         op_str(k->op), k->value);
            return 0;
        }
        if (k->op == STATS_OP_GT)
            ok = c > 0;
        else if (k->op == STATS_OP_GE)
            ok = c >= 0;
        else
            ok = c == 0;
        if (!ok) {
            if (reason != NULL && cap > 0)
                snprintf(reason, cap, "%s=%s, wanted %s%lld", k->name, shown, op_str(k->op),
                         k->value);
            return 0;
        }
    }
    return 1;
}

/* One poll: 1 when ready; otherwise 0 with why[cap]; -1 when the URL is refused by policy. */
static int
poll_once(const char *url, int64_t timeout_ms, const struct stats_cond *conds, size_t n,
          struct http_response *resp, char *why, size_t cap)
{
    struct http_request req;
    struct stats st;
    enum agent_rc rc;
    int ready = 0;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = timeout_ms;
    req.max_response = STATS_BODY_MAX;
    req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY;
    http_response_reset(resp);
    rc = http_perform(&req, resp);
    if (rc != AGENT_OK) {
        if (resp->fail == HTTP_FAIL_POLICY || rc == AGENT_ERR_INVAL) {
            snprintf(why, cap, "%s", resp->error[0] != '\0' ? resp->error : "refused by policy");
            return -1;
        }
        snprintf(why, cap, "%s",
                 resp->fail != HTTP_FAIL_NONE ? http_fail_str(resp->fail) : agent_rc_str(rc));
        return 0;
    }
    if (resp->status != 200) {
        snprintf(why, cap, "HTTP %ld", resp->status);
        return 0;
    }
    rc = stats_parse(resp->body.data, resp->body.len, &st);
    if (rc == AGENT_ERR_TOOBIG)
        snprintf(why, cap, "more than %d fields", STATS_MAX_ENTRIES);
    else if (rc != AGENT_OK)
        snprintf(why, cap, "%s", agent_rc_str(rc));
    else if (st.n == 0)
        snprintf(why, cap, "no name=value lines");
    else
        ready = stats_check(&st, conds, n, why, cap);
    stats_cleanup(&st);
    return ready;
}

/* Time left before the wait's own end and the caller's deadline. */
static int64_t
time_left(const struct deadline *mine, const struct deadline *dl)
{
    int64_t a = deadline_left_ms(mine), b = deadline_left_ms(dl);

    return a < b ? a : b;
}

enum agent_rc
wcs_wait_ready(const char *url, const struct stats_cond *conds, size_t n, int64_t interval_ms,
               int64_t timeout_ms, const struct deadline *dl, stats_heartbeat_fn hb, void *hb_ctx,
               char *reason, size_t cap)
{
    struct http_response resp;
    struct deadline mine;
    char why[256], last[256];
    int64_t per_poll, left, start, began, now, polls = 0;
    enum agent_rc rc;
    int r;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    if (url == NULL || interval_ms <= 0 || timeout_ms <= 0 || (n > 0 && conds == NULL)) {
        log_errx("ready: invalid arguments");
        return AGENT_ERR_INVAL;
    }
    per_poll =
        interval_ms * 4 < STATS_POLL_TIMEOUT_MAX_MS ? interval_ms * 4 : STATS_POLL_TIMEOUT_MAX_MS;
    deadline_in(&mine, timeout_ms);
    http_response_init(&resp, STATS_BODY_MAX);
    snprintf(last, sizeof(last), "not polled yet");
    began = clock_mono_ms();
    log_debug("ready: waiting for %s (every %lld ms, at most %lld ms)", url, (long long)interval_ms,
              (long long)timeout_ms);

    for (;;) {
        start = clock_mono_ms();
        if (hb != NULL) {
            rc = hb(hb_ctx);
            if (rc != AGENT_OK) {
                log_errx("ready: stopped while waiting: %s", agent_rc_str(rc));
                goto out;
            }
        }
        if (interrupt_pending() != 0) {
            log_errx("ready: stopped while waiting: %s", interrupt_name(interrupt_pending()));
            rc = AGENT_ERR_INTR;
            goto out;
        }
        left = time_left(&mine, dl);
        if (left <= 0)
            break;
        r = poll_once(url, per_poll < left ? per_poll : left, conds, n, &resp, why, sizeof(why));
        polls++;
        if (r > 0) {
            log_debug("ready: %s answered after %lld ms (%lld poll%s)", url,
                      (long long)(clock_mono_ms() - began), (long long)polls,
                      polls == 1 ? "" : "s");
            rc = AGENT_OK;
            goto out;
        }
        if (r < 0) {
            log_errx("ready: %s: %s", url, why);
            if (reason != NULL && cap > 0)
                snprintf(reason, cap, "%s", why);
            rc = AGENT_ERR_INVAL;
            goto out;
        }
        log_debug("ready: not ready: %s", why);
        if (strcmp(why, last) != 0) {
            log_debug("ready: not ready yet: %s", why);
            snprintf(last, sizeof(last), "%s", why);
        }
        /* The next poll starts one interval after this one started. */
        now = clock_mono_ms();
        left = time_left(&mine, dl);
        if (left <= 0)
            break;
        if (start + interval_ms > now)
            clock_sleep_ms(start + interval_ms - now < left ? start + interval_ms - now : left);
    }
    log_errx("ready: %s not ready after %lld ms: %s", url, (long long)(clock_mono_ms() - began),
             last);
    if (reason != NULL && cap > 0)
        snprintf(reason, cap, "%s", last);
    rc = AGENT_ERR_TIMEOUT;
out:
    http_response_cleanup(&resp);
    return rc;
}

enum agent_rc
wcs_stats_fetch(const char *url, int64_t timeout_ms, struct stats *out, char *why, size_t cap)
{
    struct http_response resp;
    struct http_request req;
    enum agent_rc rc;

    memset(out, 0, sizeof(*out));
    if (why != NULL && cap > 0)
        why[0] = '\0';
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = timeout_ms > 0 ? timeout_ms : STATS_POLL_TIMEOUT_MAX_MS;
    req.max_response = STATS_BODY_MAX;
    req.flags = HTTP_ALLOW_HTTP | HTTP_NO_PROXY;
    http_response_init(&resp, STATS_BODY_MAX);
    rc = http_perform(&req, &resp);
    if (rc != AGENT_OK) {
        if (resp.fail == HTTP_FAIL_POLICY)
            rc = AGENT_ERR_INVAL;
        if (rc == AGENT_ERR_INVAL && resp.error[0] != '\0')
            snprintf(why, cap, "%s", resp.error);
        else if (resp.fail != HTTP_FAIL_NONE)
            snprintf(why, cap, "%s", http_fail_str(resp.fail));
        else
            snprintf(why, cap, "%s", agent_rc_str(rc));
    } else if (resp.status != 200) {
        snprintf(why, cap, "HTTP %ld", resp.status);
        rc = AGENT_ERR_HTTP;
    } else {
        rc = stats_parse(resp.body.data, resp.body.len, out);
        if (rc == AGENT_ERR_TOOBIG)
            snprintf(why, cap, "more than %d fields", STATS_MAX_ENTRIES);
        else if (rc != AGENT_OK)
            snprintf(why, cap, "%s", agent_rc_str(rc));
        else if (out->n == 0) {
            snprintf(why, cap, "no name=value lines");
            rc = AGENT_ERR_PARSE;
        }
    }
    http_response_cleanup(&resp);
    return rc;
}
