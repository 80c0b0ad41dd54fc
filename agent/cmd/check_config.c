#include "cmd/check_config.h"

#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "node/discover.h"

static const char usage[] = "usage: wcs-agent check-config\n"
                            "list every configuration error; print the effective config\n"
                            "\n"
                            "options:\n"
                            "  -h, --help            this help\n"
                            "\n"
                            "exit status:\n"
                            "  0 valid, 1 failed, 64 usage error, 78 configuration error\n";

static enum agent_rc
check_config(const struct run_env *env)
{
    struct agent_config *base = NULL, *full = NULL;
    struct run_env checked = *env;
    struct discovery d;
    struct deadline dl;
    struct buf out;
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
        rc = config_dump(base, &out);
    } else {
        rc = discover_load_config(env, &d, &full);
        if (rc == AGENT_OK)
            rc = config_dump(full, &out);
    }
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
    int status = cmd_no_options(argc, argv, usage);

    if (status != 0)
        return status < 0 ? 0 : status;
    return agent_rc_exit_status(check_config(env));
}
