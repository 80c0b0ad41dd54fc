#include "cmd/metrics.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/clock.h"
#include "core/log.h"
#include "node/metrics.h"
#include "node/session.h"

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char usage[] =
    "usage: wcs-agent metrics [--once]\n"
    "  publish Connections, ConnectionsWebsocket, StreamsIn, StreamsViewers, PortsMediaFree,\n"
    "  CpuLoad, Draining and CertificateDaysLeft to CloudWatch (metrics.namespace) with the\n"
    "  AutoScalingGroupName dimension, every metrics.period seconds until stopped\n"
    "\n"
    "options:\n"
    "  --once                one period, then exit\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 published (or stopped), 1 refused, 64 usage error, 75 temporary failure,\n"
    "  78 configuration error\n";

int
cmd_metrics(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct metrics_publisher pub;
    struct sigaction sa;
    struct run_ctx ctx;
    struct run_opts ro;
    struct awsapi *api;
    enum agent_rc rc;
    int c, once = 0;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'o') {
            once = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "wcs-agent: metrics: %s: unknown option\n%s", argv[optind - 1], usage);
            return 64;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wcs-agent: metrics: %s: unexpected argument\n", argv[optind]);
        return 64;
    }
    rc = session_open(env, &ro, &ctx, SESSION_DEADLINE);
    if (rc == AGENT_OK && !ctx.cfg->metrics.enabled && !once) {
        log_info("metrics: metrics.enabled is false: nothing to publish");
        session_close(&ctx);
        return 0;
    }
    if (rc == AGENT_OK)
        rc = run_aws(&ctx, &api);
    if (rc == AGENT_OK)
        rc = metrics_init(&pub, &ctx, api);
    if (rc != AGENT_OK) {
        session_close(&ctx);
        return agent_rc_exit_status(rc);
    }
    if (once) {
        pub.once = 1;
        rc = metrics_publish(&pub, 0);
        if (rc == AGENT_OK)
            log_info("metrics: published to %s (%s)", ctx.cfg->metrics.namespace,
                     pub.asg[0] != '\0' ? pub.asg : pub.instance_id);
        session_close(&ctx);
        return agent_rc_exit_status(rc);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    log_info("metrics: every %lld s to %s", (long long)ctx.cfg->metrics.period_s,
             ctx.cfg->metrics.namespace);
    while (!stop_requested) {
        int64_t next = clock_mono_ms() + ctx.cfg->metrics.period_s * 1000;

        /* A failed put is logged inside and tried again next period. */
        metrics_publish(&pub, 0);
        while (!stop_requested && clock_mono_ms() < next)
            clock_sleep_ms(200);
    }
    log_info("metrics: stopped after %u period%s (%u failed)", pub.n_put + pub.n_failed,
             pub.n_put + pub.n_failed == 1 ? "" : "s", pub.n_failed);
    session_close(&ctx);
    return 0;
}
