#include "wcs/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

/* The longest command after expansion. */
#define CMD_MAX 4096
/* The longest output line quoted in a reason. */
#define REASON_LINE_MAX 200

enum agent_rc
wcs_command_argv(const char *cmd, const char *service, const char *wcs_home, char ***out)
{
    struct buf b;
    const char *p;
    enum agent_rc rc = AGENT_OK;

    if (cmd == NULL || out == NULL)
        return AGENT_ERR_INVAL;
    buf_init(&b, CMD_MAX);
    for (p = cmd; *p != '\0' && rc == AGENT_OK;) {
        if (service != NULL && str_has_prefix(p, "{service}")) {
            rc = buf_puts(&b, service);
            p += strlen("{service}");
        } else if (wcs_home != NULL && str_has_prefix(p, "{wcs_home}")) {
            rc = buf_puts(&b, wcs_home);
            p += strlen("{wcs_home}");
        } else {
            rc = buf_putc(&b, *p);
            p++;
        }
    }
    if (rc == AGENT_OK) {
        rc = str_split_argv(buf_cstr(&b), out);
        /* Only blanks: no command (an empty enable command means "do not enable"). */
        if (rc == AGENT_ERR_INVAL) {
            *out = NULL;
            rc = AGENT_OK;
        }
    }
    buf_cleanup(&b);
    return rc;
}

/* The last non-empty line of the output (without CR), redacted, cut to REASON_LINE_MAX. */
static void
last_line(const struct buf *output, char *line, size_t cap)
{
    const char *s = buf_cstr(output), *end = s + output->len, *b, *e;
    char *red;

    line[0] = '\0';
    e = end;
    while (e > s) {
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s)
            return;
        b = e;
        while (b > s && b[-1] != '\n')
            b--;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        if (b < e) {
            char tmp[REASON_LINE_MAX + 4];
            size_t n = (size_t)(e - b);

            if (n > REASON_LINE_MAX) {
                memcpy(tmp, b, REASON_LINE_MAX);
                memcpy(tmp + REASON_LINE_MAX, "...", 4);
            } else {
                memcpy(tmp, b, n);
                tmp[n] = '\0';
            }
            red = log_redact(tmp);
            snprintf(line, cap, "%s", red != NULL ? red : "(output not shown)");
            free(red);
            str_wipe(tmp, sizeof(tmp));
            return;
        }
        e = b;
    }
}

/* Logs each non-empty output line (the logger redacts registered secrets and escapes bytes). */
static void
log_output(const char *what, const struct buf *output, enum log_level lvl)
{
    const char *p = buf_cstr(output), *end = p + output->len, *nl, *b;
    size_t n;

    if (!log_enabled(lvl))
        return;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        b = p;
        while (n > 0 && (*b == ' ' || *b == '\t')) {
            b++;
            n--;
        }
        while (n > 0 && (b[n - 1] == '\r' || b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        if (n > 0) {
            char *line = str_ndup(b, n);

            if (line != NULL) {
                /* A NUL inside the line ends it early: what follows is dropped, not mangled. */
                log_msg(lvl, "%s: %s", what, line);
                str_wipe(line, n);
                free(line);
            }
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

enum agent_rc
wcs_run_command(const char *what, const struct spawn_opts *o, unsigned flags, int *exit_code,
                char *reason, size_t cap)
{
    struct spawn_opts so;
    struct spawn_result r;
    char line[REASON_LINE_MAX + 8], why[REASON_LINE_MAX + 64];
    int quiet = (flags & WCS_RUN_QUIET) != 0;
    enum agent_rc rc;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    if (exit_code != NULL)
        *exit_code = -1;
    if (o == NULL || o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0') {
        log_errx("%s: no command given", what);
        if (reason != NULL && cap > 0)
            snprintf(reason, cap, "no command given");
        return AGENT_ERR_INVAL;
    }
    so = *o;
    so.output_max = WCS_SERVICE_OUTPUT_MAX;
    so.env = NULL;
    rc = spawn_run(&so, &r);
    why[0] = '\0';
    if (rc == AGENT_ERR_TIMEOUT) {
        log_output(what, &r.output, LOG_LVL_WARN);
        snprintf(why, sizeof(why), "%s timed out after %lld ms", o->argv[0],
                 (long long)o->timeout_ms);
    } else if (rc != AGENT_OK) {
        /* spawn logged why it could not start the program. */
        snprintf(why, sizeof(why), "%s could not be started", o->argv[0]);
    } else if (r.exited && r.exit_code == 0) {
        log_output(what, &r.output, quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO);
        if (exit_code != NULL)
            *exit_code = 0;
    } else {
        log_output(what, &r.output, quiet ? LOG_LVL_DEBUG : LOG_LVL_WARN);
        last_line(&r.output, line, sizeof(line));
        if (r.exited) {
            if (exit_code != NULL)
                *exit_code = r.exit_code;
            if (line[0] != '\0')
                snprintf(why, sizeof(why), "exit status %d: %s", r.exit_code, line);
            else
                snprintf(why, sizeof(why), "exit status %d", r.exit_code);
        } else {
            snprintf(why, sizeof(why), "killed by signal %d", r.signal);
        }
        rc = AGENT_ERR_CHILD;
    }
    if (rc != AGENT_OK) {
        /* spawn has logged a start failure or a timeout itself. */
        if (rc == AGENT_ERR_CHILD && !(quiet && r.exited))
            log_errx("%s: %s", what, why);
        if (reason != NULL && cap > 0)
            snprintf(reason, cap, "%s", why);
    }
    spawn_result_cleanup(&r);
    return rc;
}

enum agent_rc
wcs_service_is_active(const char *const *argv, int64_t timeout_ms, int *active)
{
    struct spawn_opts o = {0};
    enum agent_rc rc;
    int code;

    o.argv = argv;
    o.timeout_ms = timeout_ms > 0 ? timeout_ms : WCS_SERVICE_QUICK_TIMEOUT_MS;
    rc = wcs_run_command("service: status", &o, WCS_RUN_QUIET, &code, NULL, 0);
    if (rc == AGENT_OK || (rc == AGENT_ERR_CHILD && code > 0)) {
        *active = rc == AGENT_OK;
        log_debug("service: %s reports WCS %s", argv[0], *active ? "running" : "not running");
        return AGENT_OK;
    }
    return rc;
}

enum agent_rc
wcs_service_enable(const char *const *argv, int64_t timeout_ms, char *reason, size_t cap)
{
    struct spawn_opts o = {0};

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    if (argv == NULL || argv[0] == NULL) {
        log_debug("service: no enable command; not enabling");
        return AGENT_OK;
    }
    o.argv = argv;
    o.timeout_ms = timeout_ms > 0 ? timeout_ms : WCS_SERVICE_QUICK_TIMEOUT_MS;
    return wcs_run_command("service: enable", &o, 0, NULL, reason, cap);
}

enum agent_rc
wcs_service_restart(const char *const *argv, int64_t timeout_ms, char *reason, size_t cap)
{
    struct spawn_opts o = {0};
    enum agent_rc rc;

    o.argv = argv;
    o.timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    rc = wcs_run_command("service: restart", &o, 0, NULL, reason, cap);
    if (rc == AGENT_OK)
        log_debug("service: %s: WCS restarted", argv[0]);
    return rc;
}
