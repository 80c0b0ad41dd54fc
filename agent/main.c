/*
 * wcs-agent: turns a freshly booted EC2 instance into an in-service
 * Flashphoner WCS node.  This file parses the command line, dispatches, and
 * maps the result to the exit status; it is the only caller of exit().
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/check_config.h"
#include "cmd/cmd.h"
#include "cmd/deregister.h"
#include "cmd/doctor.h"
#include "cmd/drain.h"
#include "cmd/fleet.h"
#include "cmd/metadata.h"
#include "cmd/metrics.h"
#include "cmd/run.h"
#include "cmd/seal.h"
#include "cmd/status.h"
#include "cmd/version.h"
#include "cmd/watch.h"
#include "config/config.h"
#include "core/log.h"
#include "core/rc.h"
#include "core/secmem.h"
#include "net/http.h"
#include "node/env.h"

#define MAX_SETS 256

/* One line per command: its name, its function (cmd/NAME.h) and its lines of the usage text. */
struct command {
    const char *name;
    int (*fn)(const struct run_env *env, int argc, char **argv);
    int net; /* 1: needs libcurl (http_global_init) */
    const char *help;
};

static const struct command commands[] = {
    {"run", cmd_run, 1,
     "  run [--only S1,S2] [--skip S1,S2] [--force] [--dry-run [--detailed-exitcode]]\n"
     "                        bring this instance into service (steps: discover, secrets,\n"
     "                        update, configure, licence, tls, service, ready, register, signal)\n"},
    {"plan", cmd_plan, 1,
     "  plan [--detailed-exitcode]\n"
     "                        the same as run --dry-run: file diffs on stdout (for patch -p1\n"
     "                        -d /), the rest on stderr; --detailed-exitcode: exit 0 nothing\n"
     "                        to change, 2 changes pending, 1 error\n"},
    {"status", cmd_status, 1,
     "  status [--json] [--wait] [--timeout SECONDS]\n"
     "                        the last or current run, step by step\n"},
    {"metadata", cmd_metadata, 1,
     "  metadata [--json] [PATH]\n"
     "                        the instance facts from IMDSv2, or the raw value under PATH\n"},
    {"check-config", cmd_check_config, 1,
     "  check-config [--show-origin]\n"
     "                        list every configuration error, or the sources read and the\n"
     "                        effective config (--show-origin: each value after its origin)\n"},
    {"deregister", cmd_deregister, 1,
     "  deregister [--wait] [--timeout SECONDS] [--on-stop]\n"
     "                        remove this instance from its load balancers (--on-stop: only\n"
     "                        when register.deregister_on_stop is true, for ExecStop)\n"},
    {"seal", cmd_seal, 1, "  seal                  prepare the instance for Create Image\n"},
    {"watch", cmd_watch, 1,
     "  watch                 the long-running half: lifecycle, Spot and rebalance notices,\n"
     "                        drains (under wcs-agent-watch.service)\n"},
    {"drain", cmd_drain, 1,
     "  drain [--timeout S] [--reason TEXT]\n"
     "                        take this node out of service without cutting its calls\n"},
    {"undrain", cmd_undrain, 1,
     "  undrain               cancel a drain or return a drained node to service\n"},
    {"metrics", cmd_metrics, 1,
     "  metrics [--once]      publish the node's metrics to CloudWatch\n"},
    {"fleet", cmd_fleet, 1,
     "  fleet [--json] [--watch]\n"
     "                        every target with health, lifecycle, result tag and stats\n"},
    {"doctor", cmd_doctor, 1,
     "  doctor [--json]       read-only diagnosis of this node's set-up\n"},
    {"version", cmd_version, 0, "  version               program and library versions\n"},
};

static const char usage_head[] = "usage: wcs-agent [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]\n"
                                 "\n"
                                 "commands:\n";

static const char usage_tail[] =
    "\n"
    "global options:\n"
    "  -c, --config FILE     config file (default " CONFIG_DEFAULT_PATH ", or $WCS_AGENT_CONFIG)\n"
    "      --set S.KEY=VALUE set a config key (repeatable; highest precedence)\n"
    "      --state-dir DIR   state folder (default: agent.state_dir)\n"
    "      --log-format F    text or json\n"
    "  -v                    more output (repeatable)\n"
    "  -q                    errors only\n"
    "  -h, --help            this help (COMMAND --help: the command's options and exit codes)\n"
    "      --version         the program version\n"
    "\n"
    "exit status: 0 ok, 1 a step failed, 3 no run recorded (status), 4 run in progress\n"
    "(status), 64 usage, 75 temporary failure, 78 configuration error\n";

static void
usage(void)
{
    size_t i;

    fputs(usage_head, stdout);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fputs(commands[i].help, stdout);
    fputs(usage_tail, stdout);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 'S'},
                                         {"state-dir", required_argument, NULL, 'D'},
                                         {"log-format", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    static const char *sets[MAX_SETS];
    struct run_env env;
    enum log_format fmt = LOG_FMT_TEXT;
    const struct command *command = NULL;
    const char *cmd, *env_config;
    size_t i;
    int c, verbosity = 0, status;

    /* Before anything can load a secret: no core dump may hold one. */
    if (secmem_harden_process() != AGENT_OK)
        perror("wcs-agent: cannot keep secrets out of core dumps");
    memset(&env, 0, sizeof(env));
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            env.in.path = optarg;
            env.in.path_required = 1;
            break;
        case 'S':
            if (env.in.n_sets == MAX_SETS)
                return cmd_usage_error("--set: more than %d options", MAX_SETS);
            sets[env.in.n_sets++] = optarg;
            break;
        case 'D':
            if (optarg[0] != '/')
                return cmd_usage_error("--state-dir: must be an absolute path: %s", optarg);
            env.state_dir = optarg;
            env.in.state_dir = optarg;
            break;
        case 'L':
            if (strcmp(optarg, "text") == 0)
                fmt = LOG_FMT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                fmt = LOG_FMT_JSON;
            else
                return cmd_usage_error("--log-format: text or json, not '%s'", optarg);
            break;
        case 'v':
            verbosity = verbosity < 0 ? 1 : verbosity + 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            usage();
            return 0;
        case 'V':
            printf("wcs-agent %s\n", AGENT_VERSION);
            return 0;
        default:
            return cmd_usage_error("%s: unknown option or missing value", argv[optind - 1]);
        }
    }
    env.in.sets = sets;
    if (env.in.path == NULL) {
        env_config = getenv("WCS_AGENT_CONFIG");
        if (env_config != NULL && env_config[0] != '\0') {
            env.in.path = env_config;
            env.in.path_required = 1;
        }
    }
    if (optind >= argc)
        return cmd_usage_error("%s", "no command given");
    log_init(verbosity, fmt);
    cmd = argv[optind];
    argc -= optind;
    argv += optind;

    if (strcmp(cmd, "help") == 0) {
        usage();
        return 0;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            command = &commands[i];
    }
    if (command == NULL)
        return cmd_usage_error("unknown command '%s'", cmd);
    if (!command->net)
        return command->fn(&env, argc, argv);
    if (http_global_init() != AGENT_OK) {
        log_errx("cannot initialise libcurl");
        return 1;
    }
    status = command->fn(&env, argc, argv);
    log_redact_clear();
    http_global_cleanup();
    return status;
}
