/*
 * metrics: the CloudWatch metrics of design.md §8.4, collected from the
 * stats page and published with one PutMetricData per period.
 *
 * Connections, ConnectionsWebsocket, StreamsIn (the sum of the streams_*_in
 * fields), StreamsViewers, PortsMediaFree (Count), CpuLoad (Percent, this
 * host's CPU over the period from /proc/stat), Draining (0/1) and
 * CertificateDaysLeft (from state.json applied.certificate_not_after), with
 * the dimension AutoScalingGroupName and, with metrics.per_instance, also
 * InstanceId (a second set of data, so the group's aggregate stays whole).
 * A metric whose field the page lacks is left out, never sent as 0.
 *
 * `watch` calls metrics_publish() once per metrics.period; a failed put is
 * logged and the next period tries again: it never stops the caller.
 */
#ifndef AGENT_NODE_METRICS_H
#define AGENT_NODE_METRICS_H

#include <stdint.h>

#include "aws/awsapi.h"
#include "config/config.h"
#include "core/rc.h"
#include "node/ctx.h"
#include "wcs/stats.h"

enum metric_id {
    METRIC_CONNECTIONS,
    METRIC_CONNECTIONS_WEBSOCKET,
    METRIC_STREAMS_IN,
    METRIC_STREAMS_VIEWERS,
    METRIC_PORTS_MEDIA_FREE,
    METRIC_CPU_LOAD,
    METRIC_DRAINING,
    METRIC_CERTIFICATE_DAYS_LEFT,
    METRIC__MAX
};

struct metrics_sample {
    double value[METRIC__MAX];
    unsigned have; /* bit (1u << enum metric_id) per value present */
};

/* "Connections", ... and "Count" / "Percent". */
const char *metrics_name(enum metric_id id);
const char *metrics_unit(enum metric_id id);

/*
 * Pure: the stats-page metrics of s into out (the page's fields; CPU,
 * draining and certificate are the caller's).  A field that is missing or
 * not a non-negative number leaves its metric out; StreamsIn needs at least
 * one streams_*_in field.
 */
void metrics_from_stats(const struct stats *s, struct metrics_sample *out);

/* The CPU counters of /proc/stat (busy and total jiffies). */
struct metrics_cpu {
    uint64_t busy, total;
    int valid;
};

/* Reads /proc/stat (path NULL) or path into *out. AGENT_OK or AGENT_ERR_IO. */
enum agent_rc metrics_cpu_read(const char *path, struct metrics_cpu *out);

/* Busy share between two readings, 0-100; -1 when they cannot be compared. */
double metrics_cpu_percent(const struct metrics_cpu *before, const struct metrics_cpu *after);

struct metrics_publisher {
    const struct agent_config *cfg; /* borrowed */
    struct awsapi *api;             /* borrowed */
    char asg[256];                  /* AutoScalingGroupName, "" when none is known */
    char instance_id[32];
    char state_dir[4096];
    struct metrics_cpu cpu; /* the reading of the last period */
    unsigned n_put, n_failed;
    int once; /* set by the caller: one period only (no "next period" to try again in) */
};

/*
 * Prepares p for the node of ctx (its config, instance and state folder):
 * the group as node_find_asg() finds it (signal.asg, the instance tag
 * aws:autoscaling:groupName, else DescribeAutoScalingInstances).  An
 * instance in no group publishes with the InstanceId dimension only (logged
 * once).  Reads the CPU counters.
 */
enum agent_rc metrics_init(struct metrics_publisher *p, const struct run_ctx *ctx,
                           struct awsapi *api);

/*
 * One period: reads the stats page (ready.url, 2 s), the CPU since the last
 * call (or over 250 ms on the first), the certificate's days from the state,
 * and puts everything in one PutMetricData (two when per_instance).
 * draining is 1 while a drain runs.  AGENT_OK; the stats or awsapi code
 * when nothing could be put (logged, counted in n_failed).
 */
enum agent_rc metrics_publish(struct metrics_publisher *p, int draining);

/*
 * Builds the sample for one period without sending it (used by
 * metrics_publish and by tests): the page at url, cpu, draining, days.
 */
enum agent_rc metrics_collect(struct metrics_publisher *p, int draining,
                              struct metrics_sample *out);

#endif
