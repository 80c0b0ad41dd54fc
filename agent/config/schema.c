#include "config/schema.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/str.h"

const struct key_def schema_keys[K__MAX] = {
#define CONFIG_KEY(id, s, k, field, kind, def, check, min, max, flags, desc) \
    [id] = {s, k, offsetof(struct agent_config, field), kind, def, check, min, max, flags},
#include "config/config.def"
#undef CONFIG_KEY
};

static const char *const sections[] = {
    "agent",    "imds",   "aws",   "wcs",   "update",  "licence", "tls",   "cdn",       "ready",
    "register", "signal", "watch", "drain", "restart", "metrics", "fleet", "properties"};

/* ---- the key table ---- */

int
schema_find_key(const char *section, const char *key)
{
    int i;

    for (i = 0; i < K__MAX; i++) {
        if (strcmp(schema_keys[i].section, section) == 0 && strcmp(schema_keys[i].key, key) == 0)
            return i;
    }
    return -1;
}

int
schema_section_known(const char *section)
{
    size_t i;

    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcmp(sections[i], section) == 0)
            return 1;
    }
    return 0;
}

int
schema_prop_key_ok(const char *k)
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
        return schema_prop_key_ok(key);
    return schema_find_key(section, key) >= 0;
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

    const char *colon = strchr(v, ':'), *p;

    if (n == 0 || n > 253 || !all_chars(v, ".-:[]_"))
        return fail(err, errcap, "\"%.60s\" is not a host name or IP address", v);
    /*
     * A ':' belongs to an IPv6 address (bare or in brackets) or comes before
     * a port; "env:NAME" (a reference taken as the literal it is) is none.
     */
    if (colon != NULL && v[0] != '[' && strspn(v, "0123456789abcdefABCDEF:.") != n) {
        for (p = colon + 1; *p >= '0' && *p <= '9'; p++)
            ;
        if (p == colon + 1 || *p != '\0' || strchr(colon + 1, ':') != NULL)
            return fail(err, errcap, "\"%.60s\" is not a host name or IP address", v);
    }
    return 0;
}

int
schema_check_value(const struct key_def *k, const char *v, char *err, size_t errcap)
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

/* ---- enum names ---- */

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
