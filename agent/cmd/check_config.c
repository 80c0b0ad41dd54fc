#include "cmd/check_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "config/userdata.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "node/discover.h"

static const char usage[] =
    "usage: wcs-agent check-config [--show-origin]\n"
    "list every configuration error; name every source read, then print the\n"
    "effective config (secrets masked)\n"
    "\n"
    "options:\n"
    "  --show-origin         one line per effective value, after the place it came\n"
    "                        from: file:PATH:LINE, user-data:LINE, env:NAME, --set,\n"
    "                        default\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 valid, 1 failed, 64 usage error, 78 configuration error\n";

/* What became of the user data, for the list of sources. */
enum ud_state {
    UD_NOT_CHECKED, /* IMDS could not be read */
    UD_READ         /* d says what it held */
};

/* The user-data line(s) of the list: the overlays read, or why there is none. */
static enum agent_rc
list_user_data(const struct agent_config *cfg, const struct discovery *d, enum ud_state st,
               struct buf *out)
{
    const struct config_source *s;
    enum agent_rc rc = AGENT_OK;
    size_t i;
    int n = 0;

    if (cfg->agent.user_data == CONFIG_USER_DATA_IGNORE && st == UD_NOT_CHECKED)
        return buf_puts(out, "# user data: ignored (agent.user_data = ignore)\n");
    if (st == UD_NOT_CHECKED)
        return buf_puts(out, "# user data: not checked (instance metadata could not be read)\n");
    for (i = 0; (s = config_source(cfg, i)) != NULL && rc == AGENT_OK; i++) {
        if (s->kind != CONFIG_ORIGIN_USER_DATA)
            continue;
        n++;
        if (d->ud.kind == USERDATA_OVERLAY)
            rc = buf_printf(out, "# read %s (#wcs-agent overlay, %zu bytes)\n", s->name, s->bytes);
        else
            rc = buf_printf(out, "# read %s (text/x-wcs-agent, %zu bytes)\n", s->name, s->bytes);
    }
    if (n > 0 || rc != AGENT_OK)
        return rc;
    if (!d->facts.has_user_data && d->user_data_error[0] == '\0')
        return buf_puts(out, "# user data: none\n");
    if (cfg->agent.user_data == CONFIG_USER_DATA_IGNORE)
        return buf_puts(out, "# user data: ignored (agent.user_data = ignore)\n");
    return buf_puts(out, "# user data: not for the agent\n");
}

/*
 * The sources, in layer order, as INI comments (the output stays an INI
 * text): the files read and those looked for and absent, the user data, the
 * environment variables taken.
 */
static enum agent_rc
list_sources(const struct agent_config *cfg, const struct discovery *d, enum ud_state st,
             struct buf *out)
{
    const struct config_source *s;
    enum agent_rc rc = AGENT_OK;
    int ud_done = 0;
    size_t i;

    for (i = 0; rc == AGENT_OK; i++) {
        s = config_source(cfg, i);
        if (!ud_done && (s == NULL || s->kind != CONFIG_ORIGIN_FILE)) {
            rc = list_user_data(cfg, d, st, out);
            ud_done = 1;
        }
        if (s == NULL || rc != AGENT_OK)
            break;
        if (s->kind == CONFIG_ORIGIN_ENV)
            rc = buf_printf(out, "# read env %s\n", s->name);
        else if (s->kind != CONFIG_ORIGIN_FILE)
            continue;
        else if (s->is_dir && s->present)
            rc = buf_printf(out, "# read %s/: no *.ini file\n", s->name);
        else if (s->is_dir)
            rc = buf_printf(out, "# not present: %s/ (optional)\n", s->name);
        else if (!s->present)
            rc = buf_printf(out, "# not present: %s (built-in defaults apply)\n", s->name);
        else
            rc = buf_printf(out, "# read %s\n", s->name);
    }
    return rc;
}

static enum agent_rc
check_config(const struct run_env *env, int show_origin)
{
    struct agent_config *base = NULL, *full = NULL;
    const struct agent_config *cfg;
    struct run_env checked = *env;
    struct discovery d;
    struct deadline dl;
    struct buf out;
    enum ud_state st = UD_READ;
    enum agent_rc rc;

    memset(&d, 0, sizeof(d));
    buf_init(&out, 1024 * 1024);
    /* A file: reference (tls.certificate = /etc/ssl/wcs/cert.pem) must name a readable file. */
    checked.in.check_files = 1;
    env = &checked;
    rc = discover_load_config(env, NULL, &base);
    if (rc != AGENT_OK)
        goto done;
    deadline_in(&dl, base->agent.deadline_s * 1000);
    rc = discover_facts(base, &dl, &d);
    if (rc == AGENT_ERR_CONFIG)
        goto done;
    if (rc != AGENT_OK) {
        log_warnx("check-config: instance metadata could not be read (%s): the files were "
                  "checked alone; the user-data layer and the placeholders were not checked",
                  agent_rc_str(rc));
        st = UD_NOT_CHECKED;
        cfg = base;
    } else {
        rc = discover_load_config(env, &d, &full);
        if (rc != AGENT_OK)
            goto done;
        cfg = full;
    }
    rc = list_sources(cfg, &d, st, &out);
    if (rc == AGENT_OK)
        rc = show_origin ? config_dump_origins(cfg, &out) : config_dump(cfg, &out);
    if (rc == AGENT_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
        log_info("check-config: configuration is valid");
    }
done:
    buf_cleanup(&out);
    discovery_cleanup(&d);
    config_free(full);
    config_free(base);
    return rc;
}

int
cmd_check_config(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"show-origin", no_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, show_origin = 0;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'o') {
            show_origin = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            return cmd_usage_error("check-config: %s: unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cmd_usage_error("%s: unexpected argument", argv[optind]);
    return agent_rc_exit_status(check_config(env, show_origin));
}
