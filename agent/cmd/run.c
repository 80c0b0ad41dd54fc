#include "cmd/run.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/rc.h"
#include "run/steps.h"

static const char run_usage[] =
    "usage: wcs-agent run [--only S1,S2] [--skip S1,S2] [--force] [--dry-run [--detailed-exitcode]]\n"
    "bring this instance into service (steps: discover, secrets, update, configure,\n"
    "licence, tls, service, ready, register, signal); one progress line per step on stderr\n"
    "\n"
    "options:\n"
    "  --only S1,S2          run only these steps (discover always runs)\n"
    "  --skip S1,S2          skip these steps (not discover)\n"
    "  --force               redo steps that would skip\n"
    "  --dry-run             the plan: change nothing (as `plan`)\n"
    "  --detailed-exitcode   with --dry-run: 0 nothing to change, 2 changes pending, 1 error\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 ready, 1 a step failed (failure signalled), 64 usage error, 75 temporary failure,\n"
    "  another run holds the lock, or stopped by SIGTERM/SIGINT, 78 configuration error\n";

static const char plan_usage[] =
    "usage: wcs-agent plan [--detailed-exitcode]\n"
    "the same as run --dry-run: the diffs of the files it would change on stdout\n"
    "(wcs-agent plan | patch -p1 -d /), the rest on stderr\n"
    "\n"
    "options:\n"
    "  --detailed-exitcode   0 nothing to change, 2 changes pending, 1 error\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 planned, 1 a step would fail, 64 usage error, 75 temporary failure,\n"
    "  78 configuration error\n";

static int
parse_and_run(const struct run_env *env, int argc, char **argv, int plan)
{
    static const struct option opts[] = {{"only", required_argument, NULL, 'o'},
                                         {"skip", required_argument, NULL, 's'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"detailed-exitcode", no_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    /* plan takes only --detailed-exitcode. */
    static const struct option plan_opts[] = {{"detailed-exitcode", no_argument, NULL, 'd'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    struct run_opts ro;
    enum agent_rc rc;
    int c, detailed = 0, pending = 0;

    memset(&ro, 0, sizeof(ro));
    ro.dry_run = plan;
    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", plan ? plan_opts : opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            detailed = 1;
            break;
        case 'o':
            if (steps_parse_list(optarg, "--only", &ro.only) != AGENT_OK)
                return 64;
            break;
        case 's':
            if (steps_parse_list(optarg, "--skip", &ro.skip) != AGENT_OK)
                return 64;
            if (ro.skip & (1u << STEP_DISCOVER))
                return cmd_usage_error("%s", "--skip: discover cannot be skipped");
            break;
        case 'f':
            ro.force = 1;
            break;
        case 'n':
            ro.dry_run = 1;
            break;
        case 'h':
            fputs(plan ? plan_usage : run_usage, stdout);
            return 0;
        default:
            return cmd_usage_error("%s: unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cmd_usage_error("%s: unexpected argument", argv[optind]);
    if (detailed && !ro.dry_run)
        return cmd_usage_error("%s", "--detailed-exitcode goes with plan or run --dry-run");
    if (!ro.dry_run)
        return agent_rc_exit_status(steps_run(env, &ro));
    rc = steps_plan(env, &ro, &pending);
    /* --detailed-exitcode (as terraform): 0 nothing to change, 2 changes pending, 1 error. */
    if (detailed)
        return rc != AGENT_OK ? 1 : pending ? 2 : 0;
    return agent_rc_exit_status(rc);
}

int
cmd_run(const struct run_env *env, int argc, char **argv)
{
    return parse_and_run(env, argc, argv, 0);
}

int
cmd_plan(const struct run_env *env, int argc, char **argv)
{
    return parse_and_run(env, argc, argv, 1);
}
