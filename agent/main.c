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

#include "aws/awsxml.h"
#include "cmd/deregister.h"
#include "cmd/doctor.h"
#include "cmd/fleet.h"
#include "cmd/inspect.h"
#include "cmd/metrics.h"
#include "cmd/seal.h"
#include "cmd/status.h"
#include "config/config.h"
#include "core/log.h"
#include "core/rc.h"
#include "core/str.h"
#include "net/http.h"
#include "node/state.h"
#include "run/steps.h"

#ifndef AGENT_INIH_VERSION
#define AGENT_INIH_VERSION "unknown"
#endif

#define MAX_SETS 256

static const char usage_text[] =
    "usage: wcs-agent [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [--only S1,S2] [--skip S1,S2] [--force] [--dry-run]\n"
    "                        bring this instance into service (steps: discover, secrets,\n"
    "                        update, configure, licence, tls, service, ready, register, signal)\n"
    "  plan                  the same as run --dry-run\n"
    "  status [--json] [--wait] [--timeout SECONDS]\n"
    "                        the last or current run, step by step\n"
    "  metadata [--json] [PATH]\n"
    "                        the instance facts from IMDSv2, or the raw value under PATH\n"
    "  check-config          list every configuration error; print the effective config\n"
    "  deregister [--wait] [--timeout SECONDS] [--on-stop]\n"
    "                        remove this instance from its load balancers (--on-stop: only\n"
    "                        when register.deregister_on_stop is true, for ExecStop)\n"
    "  seal                  prepare the instance for Create Image\n"
    "  metrics [--once]      publish the node's metrics to CloudWatch\n"
    "  fleet [--json] [--watch]\n"
    "                        every target with health, lifecycle, result tag and stats\n"
    "  doctor [--json]       read-only diagnosis of this node's set-up\n"
    "  version               program and library versions\n"
    "\n"
    "global options:\n"
    "  -c, --config FILE     config file (default " CONFIG_DEFAULT_PATH ", or $WCS_AGENT_CONFIG)\n"
    "      --set S.KEY=VALUE set a config key (repeatable; highest precedence)\n"
    "      --state-dir DIR   state folder (default: agent.state_dir)\n"
    "      --log-format F    text or json\n"
    "  -v                    more output (repeatable)\n"
    "  -q                    errors only\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status: 0 ok, 1 a step failed, 3 no run recorded (status), 4 run in progress\n"
    "(status), 64 usage, 75 temporary failure, 78 configuration error\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Usage errors go to stderr directly: they come before logging is set up. */
static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "wcs-agent: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'wcs-agent --help'.\n");
    return 64;
}

/* Resets getopt for a command's own options; argv[0] is the command name. */
static void
reset_getopt(void)
{
    optind = 1;
    opterr = 0;
}

static int
cmd_run(const struct run_env *env, int argc, char **argv, int plan)
{
    static const struct option opts[] = {{"only", required_argument, NULL, 'o'},
                                         {"skip", required_argument, NULL, 's'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    struct run_opts ro;
    int c;

    memset(&ro, 0, sizeof(ro));
    ro.dry_run = plan;
    reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (steps_parse_list(optarg, "--only", &ro.only) != AGENT_OK)
                return 64;
            break;
        case 's':
            if (steps_parse_list(optarg, "--skip", &ro.skip) != AGENT_OK)
                return 64;
            if (ro.skip & (1u << STEP_DISCOVER))
                return usage_error("%s", "--skip: discover cannot be skipped");
            break;
        case 'f':
            ro.force = 1;
            break;
        case 'n':
            ro.dry_run = 1;
            break;
        default:
            return usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("%s: unexpected argument", argv[optind]);
    return agent_rc_exit_status(steps_run(env, &ro));
}

static int
cmd_status(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    struct status_opts so = {0, 0, 600};
    enum agent_rc rc;
    long long t;
    int c, status = 1;

    reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            so.json = 1;
            break;
        case 'w':
            so.wait = 1;
            break;
        case 't':
            if (str_to_ll(optarg, 1, 86400, &t) != AGENT_OK)
                return usage_error("--timeout: not a number of seconds in 1..86400: %s", optarg);
            so.timeout_s = t;
            break;
        default:
            return usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("%s: unexpected argument", argv[optind]);
    rc = status_command(env, &so, &status);
    if (rc != AGENT_OK)
        return agent_rc_exit_status(rc);
    return status;
}

static int
cmd_metadata(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int c, json = 0;

    reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c != 'j')
            return usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        json = 1;
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return usage_error("%s: unexpected argument", argv[optind]);
    if (path != NULL && json)
        return usage_error("%s", "--json prints the facts; it takes no PATH");
    return agent_rc_exit_status(inspect_metadata(env, json, path));
}

static int
cmd_deregister(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"on-stop", no_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    struct deregister_opts o = {0, 300, 0};
    long long t;
    int c;

    reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.wait = 1;
            break;
        case 't':
            if (str_to_ll(optarg, 1, 86400, &t) != AGENT_OK)
                return usage_error("--timeout: not a number of seconds in 1..86400: %s", optarg);
            o.timeout_s = t;
            break;
        case 's':
            o.on_stop = 1;
            break;
        default:
            return usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("%s: unexpected argument", argv[optind]);
    return agent_rc_exit_status(deregister_command(env, &o));
}

static int
cmd_no_options(int argc, char **argv)
{
    if (argc > 1)
        return usage_error("%s: unexpected argument", argv[1]);
    return 0;
}

static int
cmd_version(void)
{
    printf("wcs-agent %s\n", AGENT_VERSION);
    printf("%s\n", http_library_version());
    printf("cJSON %s\n", state_json_library_version());
    printf("inih r%s\n", AGENT_INIH_VERSION);
    printf("%s\n", awsxml_library_version());
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 'S'},
                                         {"state-dir", required_argument, NULL, 'D'},
                                         {"log-format", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *sets[MAX_SETS];
    struct run_env env;
    enum log_format fmt = LOG_FMT_TEXT;
    const char *cmd, *env_config;
    int c, verbosity = 0, status;

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
                return usage_error("--set: more than %d options", MAX_SETS);
            sets[env.in.n_sets++] = optarg;
            break;
        case 'D':
            if (optarg[0] != '/')
                return usage_error("--state-dir: must be an absolute path: %s", optarg);
            env.state_dir = optarg;
            break;
        case 'L':
            if (strcmp(optarg, "text") == 0)
                fmt = LOG_FMT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                fmt = LOG_FMT_JSON;
            else
                return usage_error("--log-format: text or json, not '%s'", optarg);
            break;
        case 'v':
            verbosity = verbosity < 0 ? 1 : verbosity + 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            return usage_error("%s: unknown option or missing value", argv[optind - 1]);
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
        return usage_error("%s", "no command given");
    log_init(verbosity, fmt);
    cmd = argv[optind];
    argc -= optind;
    argv += optind;

    if (strcmp(cmd, "version") == 0) {
        status = cmd_no_options(argc, argv);
        if (status == 0)
            status = cmd_version();
        return status;
    }
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (http_global_init() != AGENT_OK) {
        log_errx("cannot initialise libcurl");
        return 1;
    }
    if (strcmp(cmd, "run") == 0) {
        status = cmd_run(&env, argc, argv, 0);
    } else if (strcmp(cmd, "plan") == 0) {
        status = cmd_no_options(argc, argv);
        if (status == 0)
            status = cmd_run(&env, argc, argv, 1);
    } else if (strcmp(cmd, "status") == 0) {
        status = cmd_status(&env, argc, argv);
    } else if (strcmp(cmd, "metadata") == 0) {
        status = cmd_metadata(&env, argc, argv);
    } else if (strcmp(cmd, "check-config") == 0) {
        status = cmd_no_options(argc, argv);
        if (status == 0)
            status = agent_rc_exit_status(inspect_check_config(&env));
    } else if (strcmp(cmd, "seal") == 0) {
        status = cmd_no_options(argc, argv);
        if (status == 0)
            status = agent_rc_exit_status(seal_command(&env));
    } else if (strcmp(cmd, "deregister") == 0) {
        status = cmd_deregister(&env, argc, argv);
    } else if (strcmp(cmd, "metrics") == 0) {
        status = cmd_metrics(&env, argc, argv);
    } else if (strcmp(cmd, "fleet") == 0) {
        status = cmd_fleet(&env, argc, argv);
    } else if (strcmp(cmd, "doctor") == 0) {
        status = cmd_doctor(&env, argc, argv);
    } else {
        status = usage_error("unknown command '%s'", cmd);
    }
    log_redact_clear();
    http_global_cleanup();
    return status;
}
