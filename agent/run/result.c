#include "run/result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aws/ec2.h"
#include "core/log.h"
#include "core/str.h"

enum agent_rc
result_write_console(const char *path, const char *line)
{
    char buf[600];
    size_t n;
    ssize_t w;
    int fd;

    if (path == NULL || path[0] == '\0')
        return AGENT_ERR_ABSENT;
    fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        int e = errno;

        log_debug("console %s: %s; the failure line is not written there", path, strerror(e));
        return e == ENOENT ? AGENT_ERR_ABSENT : AGENT_ERR_IO;
    }
    n = (size_t)snprintf(buf, sizeof(buf), "%s\n", line);
    if (n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
        buf[n - 1] = '\n';
    }
    do
        w = write(fd, buf, n);
    while (w == -1 && errno == EINTR);
    if (w != (ssize_t)n)
        log_debug("console %s: %s", path, w == -1 ? strerror(errno) : "short write");
    close(fd);
    return w == (ssize_t)n ? AGENT_OK : AGENT_ERR_IO;
}

void
result_cut(char *out, size_t cap, size_t max, const char *text)
{
    size_t n = 0, i;

    if (max >= cap)
        max = cap - 1;
    while (text[n] != '\0' && n < max)
        n++;
    /* Not inside a UTF-8 sequence: back off continuation bytes, then the lead byte. */
    if (text[n] != '\0') {
        size_t k = n;

        while (k > 0 && ((unsigned char)text[k] & 0xc0) == 0x80)
            k--;
        n = k;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = '\0';
}

/* 1 when value says something the last tag written did not. */
static int
tag_changes_meaning(const char *last, const char *value, int ok)
{
    if (ok)
        return strncmp(last, "ok ", 3) != 0;
    return strcmp(last, value) != 0;
}

void
result_publish(struct run_ctx *ctx, enum step_id failed_at, double seconds)
{
    int ok = failed_at == STEP__MAX;
    char value[STATE_RESULT_TAG_MAX], line[600];
    struct awsapi *api;
    enum agent_rc rc;

    if (ctx->opts->dry_run)
        return;
    if (!ok) {
        snprintf(line, sizeof(line), "wcs-agent: failed at %s: %s", state_step_name(failed_at),
                 ctx->st.steps[failed_at].error);
        if (result_write_console(ctx->cfg->agent.console, line) == AGENT_OK)
            log_debug("failure line written to %s", ctx->cfg->agent.console);
        result_cut(value, sizeof(value), STATE_RESULT_TAG_MAX - 1, line + strlen("wcs-agent: "));
    } else if (ctx->st.applied.wcs_version[0] != '\0') {
        snprintf(line, sizeof(line), "ok %s in %.1f s", ctx->st.applied.wcs_version, seconds);
        result_cut(value, sizeof(value), STATE_RESULT_TAG_MAX - 1, line);
    } else {
        snprintf(value, sizeof(value), "ok in %.1f s", seconds);
    }
    if (!ctx->cfg->signal.tag_instance || !ctx->disc.have_facts)
        return;
    if (!tag_changes_meaning(ctx->st.result_tag, value, ok)) {
        log_debug("tag %s unchanged in meaning: not written", RESULT_TAG_KEY);
        return;
    }
    /*
     * The run's own client: its connection is kept, its retries and the run deadline bound
     * the call.  A failure is reported here once, as a warning after a failed run and as
     * information after a good one (the tag is a convenience, the run did succeed).
     */
    if (run_aws(ctx, &api) != AGENT_OK) {
        log_msg(ok ? LOG_LVL_INFO : LOG_LVL_WARN, "cannot tag %s %s: no AWS client",
                ctx->disc.facts.instance_id, RESULT_TAG_KEY);
        return;
    }
    rc = ec2_create_tag(api, ctx->disc.facts.instance_id, RESULT_TAG_KEY, value, 1);
    if (rc == AGENT_OK) {
        snprintf(ctx->st.result_tag, sizeof(ctx->st.result_tag), "%s", value);
        log_debug("tagged %s %s", ctx->disc.facts.instance_id, RESULT_TAG_KEY);
    } else {
        const struct aws_error *e = awsapi_last_error(api);
        char why[200];

        if (rc == AGENT_ERR_AWS && e != NULL)
            snprintf(why, sizeof(why), "%s: %.120s", e->code, e->message);
        else
            snprintf(why, sizeof(why), "%s", agent_rc_str(rc));
        log_msg(ok ? LOG_LVL_INFO : LOG_LVL_WARN, "cannot tag %s %s (%s); going on",
                ctx->disc.facts.instance_id, RESULT_TAG_KEY, why);
    }
}
