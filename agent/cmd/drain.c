#include "cmd/drain.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/log.h"
#include "core/str.h"
#include "node/drain.h"
#include "node/session.h"

static const char drain_usage[] =
    "usage: wcs-agent drain [--timeout SECONDS] [--reason TEXT]\n"
    "  take this node out of service without cutting its calls: CDN route-away,\n"
    "  deregister, wait until drain.until holds (at most --timeout, default\n"
    "  drain.timeout), licence release when configured, complete a pending\n"
    "  terminate lifecycle action.  SIGTERM or SIGINT ends the wait early.\n"
    "\n"
    "options:\n"
    "  --timeout SECONDS     the longest wait (default drain.timeout)\n"
    "  --reason TEXT         recorded as the drain's reason\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 drained or timed out, 1 a step failed, 64 usage error,\n"
    "  75 another drain is running, 78 configuration error\n";

static const char undrain_usage[] =
    "usage: wcs-agent undrain\n"
    "  cancel a running drain or return a drained node to service: clear the\n"
    "  forced CDN state, register again, record the drain as cancelled\n"
    "\n"
    "options:\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 back in service, 1 a step failed, 64 usage error, 75 temporary failure,\n"
    "  78 configuration error\n";

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
    stop_signal = sig;
}

static void
catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* A signal ends the wait now: the drain finishes (hook completed), recorded as timed out. */
static void
tick(void *arg, struct drain *d)
{
    int *told = arg;

    if (stop_signal != 0 && !*told) {
        *told = 1;
        log_info("drain: %s: ending the wait now", strsignal(stop_signal));
        drain_cut(d, 0);
    }
}

static int
usage(const char *text, const char *what, const char *arg)
{
    fprintf(stderr, "wcs-agent: %s: %s\n%s", arg, what, text);
    return 64;
}

int
cmd_drain(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct drain_opts o;
    struct run_opts ro;
    struct run_ctx ctx;
    enum agent_rc rc;
    long long t;
    int c, told = 0;

    memset(&o, 0, sizeof(o));
    o.reason = DRAIN_REASON_MANUAL;
    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (str_to_ll(optarg, 1, 172800, &t) != AGENT_OK)
                return usage(drain_usage, "not a number of seconds in 1..172800 (--timeout)",
                             optarg);
            o.timeout_s = t;
            break;
        case 'r':
            if (!str_is_text(optarg, 200))
                return usage(drain_usage, "printable text of at most 200 bytes, please",
                             "--reason");
            o.note = optarg;
            break;
        case 'h':
            fputs(drain_usage, stdout);
            return 0;
        default:
            return usage(drain_usage, "unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage(drain_usage, "unexpected argument", argv[optind]);
    catch_signals();
    o.tick = tick;
    o.tick_arg = &told;
    rc = session_open(env, &ro, &ctx, SESSION_MKDIR);
    if (rc == AGENT_OK)
        rc = drain_node(&ctx, &o, NULL);
    session_close(&ctx);
    return agent_rc_exit_status(rc);
}

int
cmd_undrain(const struct run_env *env, int argc, char **argv)
{
    struct run_opts ro;
    struct run_ctx ctx;
    enum agent_rc rc;

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(undrain_usage, stdout);
        return 0;
    }
    if (argc > 1)
        return usage(undrain_usage, "unexpected argument", argv[1]);
    rc = session_open(env, &ro, &ctx, SESSION_MKDIR);
    if (rc == AGENT_OK)
        rc = undrain_node(&ctx, NULL, NULL);
    session_close(&ctx);
    return agent_rc_exit_status(rc);
}
