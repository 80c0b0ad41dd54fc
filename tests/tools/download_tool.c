/*
 * download_tool: the update step's download (net/download, with the options
 * wcs/update gives it) on its own, for tests/bench/download.py.
 *
 *   download_tool [-v] [--max-bytes N] [--sha256 HEX] URL DIR NAME
 *
 * Brings DIR/NAME up to date with the file at URL exactly as the update
 * step brings <state>/download/wcs.tar.gz (https, or plain http to a
 * loopback host; redirects followed; SHA-256 computed while streaming and
 * checked when --sha256 is given; no validators: a plain GET unless a
 * partial is there), then prints "sha256=HEX" and "downloaded=0|1" on
 * stdout, and the CPU seconds (user + system) of the calling thread, which
 * receives, and of the others, i.e. the download's writer thread:
 * "cpu_receiving=S" and "cpu_writer=S".  AWS_CA_BUNDLE names the trust store, as for the agent.
 * Exit 0 on success, 1 on failure (the reason on stderr), 2 on a usage error.
 */
/* RUSAGE_THREAD */
#define _GNU_SOURCE 1

#include <sys/resource.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rc.h"
#include "core/str.h"
#include "net/download.h"
#include "net/http.h"

static double
cpu_seconds(int who)
{
    struct rusage ru;

    if (getrusage(who, &ru) == -1)
        return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
usage(void)
{
    fprintf(stderr, "usage: download_tool [-v] [--max-bytes N] [--sha256 HEX] URL DIR NAME\n");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {{"max-bytes", required_argument, NULL, 'm'},
                                             {"sha256", required_argument, NULL, 's'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    struct download_opts o;
    struct download_result r;
    long long max = 0;
    const char *sha = NULL;
    int c, verbose = 0;
    enum agent_rc rc;

    while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (str_to_ll(optarg, 1, 1LL << 40, &max) != AGENT_OK) {
                usage();
                return 2;
            }
            break;
        case 's':
            sha = optarg;
            break;
        case 'v':
            verbose = 1;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (argc - optind != 3) {
        usage();
        return 2;
    }
    log_init(verbose ? 1 : 0, LOG_FMT_TEXT);
    if (http_global_init() != AGENT_OK)
        return 1;
    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    o.url = argv[optind];
    o.dir = argv[optind + 1];
    o.name = argv[optind + 2];
    o.want_sha256 = sha;
    /* The flags, limits and attempts of wcs/update.c's fetch(). */
    o.flags = HTTP_FOLLOW_REDIRECTS;
    if (str_ncasecmp(o.url, "http://", 7) == 0 && http_url_is_loopback(o.url))
        o.flags |= HTTP_ALLOW_HTTP;
    o.timeout_ms = 30LL * 60 * 1000;
    o.low_speed_ms = 60000;
    o.attempts = 3;
    o.max_bytes = max;
    o.max_bytes_key = "--max-bytes";
    o.what = "download";
    rc = download_file(&o, &r);
    if (rc == AGENT_OK) {
        double self = cpu_seconds(RUSAGE_THREAD);

        printf("sha256=%s\ndownloaded=%d\n", r.sha256, r.downloaded);
        printf("cpu_receiving=%.3f\ncpu_writer=%.3f\n", self, cpu_seconds(RUSAGE_SELF) - self);
    }
    http_global_cleanup();
    return rc == AGENT_OK ? 0 : 1;
}
