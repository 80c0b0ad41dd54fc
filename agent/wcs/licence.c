#include "wcs/licence.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/spawn.h"
#include "wcs/service.h"

enum agent_rc
wcs_licence_activate(const char *const *argv, const void *key, size_t len, int64_t timeout_ms,
                     char *reason, size_t cap)
{
    struct spawn_opts o = {0};
    enum agent_rc rc;

    if (reason != NULL && cap > 0)
        reason[0] = '\0';
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        log_errx("licence: licence.command is empty");
        if (reason != NULL && cap > 0)
            snprintf(reason, cap, "licence.command is empty");
        return AGENT_ERR_INVAL;
    }
    if (key == NULL || len == 0 || len > WCS_LICENCE_KEY_MAX) {
        log_errx("licence: the licence key is empty or longer than %u bytes",
                 (unsigned)WCS_LICENCE_KEY_MAX);
        if (reason != NULL && cap > 0)
            snprintf(reason, cap, "the licence key is empty or too long");
        return AGENT_ERR_INVAL;
    }

    /*
     * The key goes through the stdin pipe only: argv holds the command as
     * configured and the environment is spawn's fixed minimal one, so
     * neither /proc/PID/cmdline nor /proc/PID/environ of the child shows it.
     */
    o.argv = argv;
    o.stdin_data = key;
    o.stdin_len = len;
    o.timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    log_debug("licence: running %s", argv[0]);
    rc = wcs_run_command("licence", &o, 0, NULL, reason, cap);
    if (rc == AGENT_OK)
        log_debug("licence: activated");
    return rc;
}
