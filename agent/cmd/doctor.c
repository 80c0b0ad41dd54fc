#include "cmd/doctor.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws/autoscaling.h"
#include "aws/ec2.h"
#include "aws/elb.h"
#include "aws/elbv2.h"
#include "cmd/cmd.h"
#include "config/secretref.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/http.h"
#include "node/asg.h"
#include "node/session.h"
#include "node/state.h"
#include "wcs/service.h"

#define MIN_FREE_BYTES (1024ull * 1024 * 1024)
#define MAX_SKEW_S     60
#define HEALTH_PATH    "/?action=stat"
#define HEALTH_PORT    "8081"

enum check_status {
    CHECK_OK,
    CHECK_FAIL,
    CHECK_SKIP
};

struct check_out {
    enum check_status status;
    char detail[320];
    char fix[320];
};

struct doctor {
    struct run_ctx ctx;
    struct awsapi *api;        /* NULL when there is no AWS client */
    struct ec2_instance *self; /* DescribeInstances of this instance, NULL when unknown */
    char self_error[160];
};

typedef void (*check_fn)(struct doctor *d, struct check_out *o);

static void say(struct check_out *o, enum check_status s, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
say(struct check_out *o, enum check_status s, const char *fix, const char *fmt, ...)
{
    va_list ap;

    o->status = s;
    va_start(ap, fmt);
    vsnprintf(o->detail, sizeof(o->detail), fmt, ap);
    va_end(ap);
    snprintf(o->fix, sizeof(o->fix), "%s", fix != NULL ? fix : "");
}

/* "Code: message" of the last AWS failure, or the code's words. */
static void
aws_why(const struct doctor *d, enum agent_rc rc, char *out, size_t cap)
{
    const struct aws_error *e = awsapi_last_error(d->api);

    if (rc == AGENT_ERR_AWS && e != NULL)
        snprintf(out, cap, "%s: %.120s", e->code, e->message);
    else
        snprintf(out, cap, "%s", agent_rc_str(rc));
}

/* ---- the instance ---- */

static void
check_imds(struct doctor *d, struct check_out *o)
{
    if (!d->ctx.disc.have_facts)
        say(o, CHECK_FAIL,
            "enable IMDSv2 on the instance (metadata options HttpEndpoint=enabled) and check "
            "imds.endpoint",
            "instance metadata not reachable at %s", d->ctx.cfg->imds.endpoint);
    else
        say(o, CHECK_OK, NULL, "%s in %s", d->ctx.disc.facts.instance_id,
            d->ctx.disc.facts.availability_zone);
}

static void
check_hop_limit(struct doctor *d, struct check_out *o)
{
    if (d->self == NULL) {
        say(o, CHECK_SKIP, NULL, "metadata options unknown (%s)", d->self_error);
        return;
    }
    if (d->self->hop_limit < 2)
        say(o, CHECK_FAIL,
            "aws ec2 modify-instance-metadata-options --instance-id <id> "
            "--http-put-response-hop-limit 2 (and MetadataOptions in the launch template)",
            "token hop limit %d: a container on this node gets no IMDSv2 token",
            d->self->hop_limit);
    else
        say(o, CHECK_OK, NULL, "token hop limit %d, tokens %s", d->self->hop_limit,
            d->self->http_tokens[0] != '\0' ? d->self->http_tokens : "?");
}

static void
check_tags(struct doctor *d, struct check_out *o)
{
    if (!d->ctx.disc.have_facts)
        say(o, CHECK_SKIP, NULL, "no instance metadata");
    else if (!d->ctx.disc.facts.tags_enabled)
        say(o, CHECK_FAIL,
            "set InstanceMetadataTags=enabled in the launch template's metadata options",
            "instance tags are not in the metadata (the group name and tag placeholders need "
            "them)");
    else
        say(o, CHECK_OK, NULL, "%zu tags in the metadata", d->ctx.disc.facts.n_tags);
}

static void
check_credentials(struct doctor *d, struct check_out *o)
{
    const struct aws_creds *c;

    if (d->api == NULL || d->ctx.creds == NULL || creds_get(d->ctx.creds, &c) != AGENT_OK)
        say(o, CHECK_FAIL, "attach an instance profile with the wcs-agent role to the instance",
            "no AWS credentials");
    else
        say(o, CHECK_OK, NULL, "role %s",
            d->ctx.disc.have_facts && d->ctx.disc.facts.role != NULL ? d->ctx.disc.facts.role
                                                                     : "(environment)");
}

/* "Mon, 07 Dec 2026 18:36:44 GMT" (RFC 7231 IMF-fixdate) into *tm; 0 on success. */
static int
parse_http_date(const char *s, struct tm *tm)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    const char *m;
    int n = 0;

    memset(tm, 0, sizeof(*tm));
    if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &tm->tm_mday, mon, &tm->tm_year,
               &tm->tm_hour, &tm->tm_min, &tm->tm_sec, &n) != 6 ||
        n == 0 || strlen(mon) != 3)
        return -1;
    m = strstr(months, mon);
    if (m == NULL || (m - months) % 3 != 0)
        return -1;
    tm->tm_mon = (int)(m - months) / 3;
    tm->tm_year -= 1900;
    return 0;
}

static void
check_clock(struct doctor *d, struct check_out *o)
{
    struct http_request req;
    struct http_response resp;
    char url[512], date[64];
    struct tm tm;
    time_t t;
    long skew;

    if (d->api == NULL || awsapi_endpoint(d->api, AWS_SVC_EC2, url, sizeof(url)) != AGENT_OK) {
        say(o, CHECK_SKIP, NULL, "no AWS endpoint to compare with");
        return;
    }
    strncat(url, "/", sizeof(url) - strlen(url) - 1);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = 5000;
    req.max_response = 64 * 1024;
    req.flags = HTTP_ALLOW_HTTP;
    http_response_init(&resp, req.max_response);
    memset(&tm, 0, sizeof(tm));
    if (http_perform(&req, &resp) != AGENT_OK ||
        http_response_header(&resp, "Date", date, sizeof(date)) != AGENT_OK ||
        parse_http_date(date, &tm) != 0) {
        say(o, CHECK_SKIP, NULL, "no Date from %s", url);
        http_response_cleanup(&resp);
        return;
    }
    http_response_cleanup(&resp);
    t = timegm(&tm);
    skew = (long)(clock_now() - t);
    if (labs(skew) > MAX_SKEW_S)
        say(o, CHECK_FAIL,
            "enable time sync (chrony with the Amazon Time Sync Service, 169.254.169.123)",
            "clock %+ld s off AWS (signatures fail beyond 300 s)", skew);
    else
        say(o, CHECK_OK, NULL, "within %ld s of AWS", labs(skew));
}

/* ---- permissions: read-only probes of each configured call ---- */

static void
check_permissions(struct doctor *d, struct check_out *o)
{
    const struct agent_config *cfg = d->ctx.cfg;
    const char *id = d->ctx.disc.have_facts ? d->ctx.disc.facts.instance_id : NULL;
    char why[200], denied[320] = "", probed[320] = "";
    struct aws_error e;
    enum agent_rc rc;
    size_t i;

    if (d->api == NULL || id == NULL) {
        say(o, CHECK_SKIP, NULL, "no AWS client or instance id");
        return;
    }
#define PROBE(call, name)                                                          \
    do {                                                                           \
        rc = (call);                                                               \
        if (rc == AGENT_ERR_AWS || rc == AGENT_ERR_HTTP) {                         \
            aws_why(d, rc, why, sizeof(why));                                      \
            if (denied[0] == '\0')                                                 \
                snprintf(denied, sizeof(denied), "%s: %s", name, why);             \
        }                                                                          \
        snprintf(probed + strlen(probed), sizeof(probed) - strlen(probed), "%s%s", \
                 probed[0] != '\0' ? ", " : "", name);                             \
    } while (0)
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        struct elbv2_target_health th;

        rc = elbv2_describe_target_health(d->api, cfg->reg.target_group.items[i], id, 0, &th);
        if (rc == AGENT_ERR_ABSENT)
            rc = AGENT_OK;
        PROBE(rc, "elasticloadbalancing:DescribeTargetHealth");
    }
    for (i = 0; i < cfg->reg.classic_elb.n; i++) {
        struct elb_instance_health ih;

        rc = elb_describe_instance_health(d->api, cfg->reg.classic_elb.items[i], id, &ih);
        if (rc == AGENT_ERR_ABSENT)
            rc = AGENT_OK;
        PROBE(rc, "elasticloadbalancing:DescribeInstanceHealth");
    }
    if (cfg->signal.lifecycle_hook != NULL || cfg->metrics.enabled) {
        struct asg_instance ai;

        PROBE(asg_describe_instance(d->api, id, &ai), "autoscaling:DescribeAutoScalingInstances");
    }
    if (cfg->signal.tag_instance) {
        memset(&e, 0, sizeof(e));
        PROBE(ec2_probe_create_tags(d->api, id, &e), "ec2:CreateTags (DryRun)");
    }
#undef PROBE
    if (denied[0] != '\0')
        say(o, CHECK_FAIL,
            "add the action to the instance role (templates/cloudformation: the WcsAgent policy)",
            "%s", denied);
    else
        say(o, CHECK_OK, NULL, "%s", probed[0] != '\0' ? probed : "nothing to probe");
}

static void
check_secrets(struct doctor *d, struct check_out *o)
{
    const struct agent_config *cfg = d->ctx.cfg;

    const struct {
        const char *key, *value;
    } refs[] = {{"licence.key", cfg->licence.key},
                {"tls.certificate", cfg->tls.certificate},
                {"tls.chain", cfg->tls.chain},
                {"tls.private_key", cfg->tls.private_key},
                {"tls.keystore_password", cfg->tls.keystore_password},
                {"cdn.point_of_entry", cfg->cdn.point_of_entry}};

    char err[400] = "";
    size_t i;
    int n = 0;

    for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        struct buf v;
        enum agent_rc rc;

        if (refs[i].value == NULL || !secretref_is_reference(refs[i].value))
            continue;
        buf_init_secret(&v, 64 * 1024);
        rc = run_resolve_value(&d->ctx, refs[i].key, refs[i].value, &v, err, sizeof(err));
        buf_cleanup(&v);
        if (rc != AGENT_OK) {
            say(o, CHECK_FAIL,
                "create the secret, or allow the role to read it (ssm:GetParameter, "
                "secretsmanager:GetSecretValue, s3:GetObject, kms:Decrypt)",
                "%s", err);
            return;
        }
        n++;
    }
    if (n == 0)
        say(o, CHECK_SKIP, NULL, "no secret references configured");
    else
        say(o, CHECK_OK, NULL, "%d reference%s readable", n, n == 1 ? "" : "s");
}

/* ---- WCS on this node ---- */

static int
is_dir(const char *p)
{
    struct stat sb;

    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void
check_wcs_home(struct doctor *d, struct check_out *o)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/conf", d->ctx.cfg->wcs.home);
    if (!is_dir(d->ctx.cfg->wcs.home) || !is_dir(p))
        say(o, CHECK_FAIL, "install WCS, or set wcs.home to its folder",
            "%s is not a WCS home (no conf/)", d->ctx.cfg->wcs.home);
    else
        say(o, CHECK_OK, NULL, "%s", d->ctx.cfg->wcs.home);
}

static void
check_java(struct doctor *d, struct check_out *o)
{
    const char *path = getenv("PATH"), *jh = getenv("JAVA_HOME");
    char cand[4200];

    snprintf(cand, sizeof(cand), "%s/jdk/bin/java", d->ctx.cfg->wcs.home);
    if (access(cand, X_OK) == 0) {
        say(o, CHECK_OK, NULL, "%s", cand);
        return;
    }
    if (jh != NULL && jh[0] != '\0') {
        snprintf(cand, sizeof(cand), "%s/bin/java", jh);
        if (access(cand, X_OK) == 0) {
            say(o, CHECK_OK, NULL, "%s", cand);
            return;
        }
    }
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");

        snprintf(cand, sizeof(cand), "%.*s/java", (int)n, path);
        if (n > 0 && access(cand, X_OK) == 0) {
            say(o, CHECK_OK, NULL, "%s", cand);
            return;
        }
        path += n + (path[n] == ':');
    }
    say(o, CHECK_FAIL,
        "install a Java runtime (WCS 5.2 needs Java 8 to 17), e.g. apt-get install openjdk-17-jre-headless",
        "no java in %s/jdk, JAVA_HOME or PATH", d->ctx.cfg->wcs.home);
}

static void
check_service(struct doctor *d, struct check_out *o)
{
    char **argv = NULL;
    int active = 0;

    if (wcs_command_argv(d->ctx.cfg->wcs.status_command, d->ctx.cfg->wcs.service,
                         d->ctx.cfg->wcs.home, &argv) != AGENT_OK ||
        argv == NULL) {
        say(o, CHECK_SKIP, NULL, "no wcs.status_command");
        return;
    }
    if (wcs_service_is_active((const char *const *)argv, 0, &active) != AGENT_OK)
        say(o, CHECK_FAIL, "check wcs.status_command", "cannot run %s", argv[0]);
    else if (!active)
        say(o, CHECK_FAIL, "systemctl start webcallserver (or run `wcs-agent run`)",
            "%s is not running", d->ctx.cfg->wcs.service);
    else
        say(o, CHECK_OK, NULL, "%s is running", d->ctx.cfg->wcs.service);
    str_argv_free(argv);
}

/* 1 when something listens on TCP port (IPv4 or IPv6). */
static int
listening(unsigned port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char line[512];
    size_t i;

    for (i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "re");

        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            char local[128], rem[128], st[8];
            const char *colon;

            if (sscanf(line, " %*d: %127s %127s %7s", local, rem, st) != 3 || strcmp(st, "0A") != 0)
                continue;
            colon = strrchr(local, ':');
            if (colon != NULL && strtoul(colon + 1, NULL, 16) == port) {
                fclose(f);
                return 1;
            }
        }
        fclose(f);
    }
    return 0;
}

static void
check_ports(struct doctor *d, struct check_out *o)
{
    static const unsigned ports[] = {8080, 8443, 8081};
    char missing[64] = "";
    size_t i;

    (void)d;
    for (i = 0; i < 3; i++)
        if (!listening(ports[i]))
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%u",
                     missing[0] != '\0' ? ", " : "", ports[i]);
    if (missing[0] != '\0')
        say(o, CHECK_FAIL, "start WCS and check the ports in flashphoner.properties",
            "not listening: %s", missing);
    else
        say(o, CHECK_OK, NULL, "8080, 8443, 8081 listening");
}

static void
check_certificate(struct doctor *d, struct check_out *o)
{
    struct state st;
    time_t t;
    long long days;

    if (state_load(d->ctx.state_dir, &st) != AGENT_OK ||
        st.applied.certificate_not_after[0] == '\0' ||
        clock_parse_rfc3339(st.applied.certificate_not_after, &t) != AGENT_OK) {
        say(o, CHECK_SKIP, NULL, "no certificate recorded (tls step not run)");
        return;
    }
    days = ((long long)t - (long long)clock_now()) / 86400;
    if (t <= clock_now())
        say(o, CHECK_FAIL,
            "renew the certificate behind tls.certificate, then `wcs-agent run --only tls,service`",
            "keystore certificate expired on %s", st.applied.certificate_not_after);
    else if (days < 14)
        say(o, CHECK_FAIL, "renew the certificate behind tls.certificate soon",
            "keystore certificate expires in %lld days (%s)", days,
            st.applied.certificate_not_after);
    else
        say(o, CHECK_OK, NULL, "%lld days left (until %s)", days, st.applied.certificate_not_after);
}

static void
check_licence(struct doctor *d, struct check_out *o)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/conf/flashphoner.license", d->ctx.cfg->wcs.home);
    if (access(p, R_OK) == 0)
        say(o, CHECK_OK, NULL, "%s", p);
    else if (d->ctx.cfg->licence.key == NULL)
        say(o, CHECK_FAIL, "set licence.key (a reference such as ssm:/wcs/licence)",
            "no %s and no licence.key", p);
    else
        say(o, CHECK_FAIL, "run `wcs-agent run` to activate licence.key", "no %s yet", p);
}

static void
check_disk(struct doctor *d, struct check_out *o)
{
    const char *p = is_dir(d->ctx.cfg->wcs.home) ? d->ctx.cfg->wcs.home : "/";
    struct statvfs sv;
    unsigned long long free_b;

    if (statvfs(p, &sv) != 0) {
        say(o, CHECK_SKIP, NULL, "cannot stat %s", p);
        return;
    }
    free_b = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (free_b < MIN_FREE_BYTES)
        say(o, CHECK_FAIL, "free space (logs, records) or grow the volume", "%.1f GiB free on %s",
            (double)free_b / (1 << 30), p);
    else
        say(o, CHECK_OK, NULL, "%.1f GiB free on %s", (double)free_b / (1 << 30), p);
}

static void
check_units(struct doctor *d, struct check_out *o)
{
    static const char *const units[] = {"wcs-agent.service", "wcs-agent-watch.service"};
    char p[256], missing[128] = "";
    size_t i;

    (void)d;
    if (!is_dir("/run/systemd/system")) {
        say(o, CHECK_SKIP, NULL, "not running under systemd");
        return;
    }
    for (i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "/etc/systemd/system/multi-user.target.wants/%s", units[i]);
        if (access(p, F_OK) != 0)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                     missing[0] != '\0' ? ", " : "", units[i]);
    }
    if (missing[0] != '\0')
        say(o, CHECK_FAIL, "systemctl enable wcs-agent.service wcs-agent-watch.service",
            "not enabled: %s", missing);
    else
        say(o, CHECK_OK, NULL, "wcs-agent and wcs-agent-watch enabled");
}

/* ---- the load balancer and the group ---- */

static void
check_health_check(struct doctor *d, struct check_out *o)
{
    const struct agent_config *cfg = d->ctx.cfg;
    struct elbv2_target_group g;
    char why[200];
    size_t i;

    if (d->api == NULL || cfg->reg.target_group.n == 0) {
        say(o, CHECK_SKIP, NULL, "no target group configured");
        return;
    }
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        enum agent_rc rc = elbv2_describe_target_group(d->api, cfg->reg.target_group.items[i], &g);

        if (rc != AGENT_OK) {
            aws_why(d, rc, why, sizeof(why));
            say(o, CHECK_FAIL, "allow elasticloadbalancing:DescribeTargetGroups to the role",
                "%s: %s", cfg->reg.target_group.items[i], why);
            return;
        }
        if (strcmp(g.health_check_port, HEALTH_PORT) != 0 ||
            strcmp(g.health_check_path, HEALTH_PATH) != 0) {
            say(o, CHECK_FAIL,
                "aws elbv2 modify-target-group --target-group-arn <arn> --health-check-port 8081 "
                "--health-check-path '/?action=stat'",
                "health check %s port %s path %s, expected port " HEALTH_PORT " path " HEALTH_PATH,
                g.health_check_protocol, g.health_check_port,
                g.health_check_path[0] != '\0' ? g.health_check_path : "(none)");
            return;
        }
    }
    say(o, CHECK_OK, NULL, "port " HEALTH_PORT " path " HEALTH_PATH " on %zu group%s",
        cfg->reg.target_group.n, cfg->reg.target_group.n == 1 ? "" : "s");
}

static void
check_deregistration_delay(struct doctor *d, struct check_out *o)
{
    const struct agent_config *cfg = d->ctx.cfg;
    struct elbv2_target_group g;
    size_t i;

    if (d->api == NULL || cfg->reg.target_group.n == 0) {
        say(o, CHECK_SKIP, NULL, "no target group configured");
        return;
    }
    for (i = 0; i < cfg->reg.target_group.n; i++) {
        if (elbv2_describe_target_group(d->api, cfg->reg.target_group.items[i], &g) != AGENT_OK ||
            g.deregistration_delay_s < 0) {
            say(o, CHECK_SKIP, NULL, "deregistration delay unknown");
            return;
        }
        if (g.deregistration_delay_s < cfg->drain.timeout_s && g.deregistration_delay_s < 3600) {
            say(o, CHECK_FAIL,
                "raise deregistration_delay.timeout_seconds (at most 3600) or lower drain.timeout",
                "deregistration delay %d s is shorter than drain.timeout %lld s: calls still up "
                "when it ends are cut",
                g.deregistration_delay_s, (long long)cfg->drain.timeout_s);
            return;
        }
    }
    say(o, CHECK_OK, NULL, "deregistration delay covers drain.timeout %lld s",
        (long long)cfg->drain.timeout_s);
}

static void
check_terminate_hook(struct doctor *d, struct check_out *o)
{
    const struct agent_config *cfg = d->ctx.cfg;
    const char *named = cfg->signal.terminate_hook;
    struct asg_lifecycle_hook h;
    char asg[256], why[200];
    enum agent_rc rc;

    if (d->api == NULL || !d->ctx.disc.have_facts) {
        say(o, CHECK_SKIP, NULL, "no AWS client: the group's hooks were not read");
        return;
    }
    rc = node_find_asg(&d->ctx, d->api, asg, sizeof(asg));
    if (rc == AGENT_ERR_ABSENT) {
        say(o, CHECK_SKIP, NULL, "not in an Auto Scaling group");
        return;
    }
    if (rc == AGENT_OK)
        rc = node_find_terminate_hook(&d->ctx, d->api, asg, &h);
    if (rc == AGENT_ERR_ABSENT && named == NULL) {
        say(o, CHECK_FAIL,
            "add an autoscaling:EC2_INSTANCE_TERMINATING lifecycle hook to the group, so a "
            "scale-in waits for the drain",
            "%s has no terminate hook: a scale-in cuts the calls", asg);
    } else if (rc != AGENT_OK) {
        aws_why(d, rc, why, sizeof(why));
        say(o, CHECK_FAIL,
            "create an autoscaling:EC2_INSTANCE_TERMINATING hook named as signal.terminate_hook",
            "%s of %s: %s", named != NULL ? named : "the terminate hook", asg, why);
    } else if (h.global_timeout_s > 0 && h.global_timeout_s < cfg->drain.timeout_s) {
        say(o, CHECK_FAIL, "raise the hook's HeartbeatTimeout (its global timeout is 100 times it)",
            "the hook ends after %d s, before drain.timeout %lld s", h.global_timeout_s,
            (long long)cfg->drain.timeout_s);
    } else {
        say(o, CHECK_OK, NULL, "%s of %s, heartbeat timeout %d s", h.name, asg,
            h.heartbeat_timeout_s);
    }
}

static const struct {
    const char *name;
    check_fn fn;
} checks[] = {
    {"imds", check_imds},
    {"imds hop limit", check_hop_limit},
    {"instance tags", check_tags},
    {"credentials", check_credentials},
    {"clock", check_clock},
    {"permissions", check_permissions},
    {"secrets", check_secrets},
    {"wcs home", check_wcs_home},
    {"java", check_java},
    {"service", check_service},
    {"ports", check_ports},
    {"certificate", check_certificate},
    {"licence", check_licence},
    {"disk", check_disk},
    {"units", check_units},
    {"health check", check_health_check},
    {"deregistration delay", check_deregistration_delay},
    {"terminate hook", check_terminate_hook},
};

#define N_CHECKS (sizeof(checks) / sizeof(checks[0]))

static const char *const status_names[] = {"ok", "fail", "skip"};
static const char *const status_marks[] = {"\xe2\x9c\x94", "\xe2\x9c\x98", "\xe2\x80\x93"};

static int
print_json(const struct check_out *outs, int failed)
{
    cJSON *root = cJSON_CreateObject(), *arr;
    char *text;
    size_t i;

    if (root == NULL)
        return 1;
    arr = cJSON_AddArrayToObject(root, "checks");
    for (i = 0; arr != NULL && i < N_CHECKS; i++) {
        cJSON *c = cJSON_CreateObject();

        if (c == NULL)
            break;
        cJSON_AddStringToObject(c, "name", checks[i].name);
        cJSON_AddStringToObject(c, "status", status_names[outs[i].status]);
        cJSON_AddStringToObject(c, "detail", outs[i].detail);
        if (outs[i].status == CHECK_FAIL)
            cJSON_AddStringToObject(c, "fix", outs[i].fix);
        else
            cJSON_AddNullToObject(c, "fix");
        cJSON_AddItemToArray(arr, c);
    }
    cJSON_AddNumberToObject(root, "failed", failed);
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

static const char usage[] = "usage: wcs-agent doctor [--json]\n"
                            "  read-only diagnosis of this node's set-up\n"
                            "\n"
                            "options:\n"
                            "  --json                the checks as one JSON document\n"
                            "  -h, --help            this help\n"
                            "\n"
                            "exit status:\n"
                            "  0 no check fails, 1 a check fails, 64 usage error\n";

int
cmd_doctor(const struct run_env *env, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct check_out outs[N_CHECKS];
    struct doctor d;
    struct run_opts ro;
    enum agent_rc rc;
    int c, json = 0, failed = 0;
    size_t i, n = 0;

    cmd_reset_getopt();
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "wcs-agent: doctor: %s: unknown option\n%s", argv[optind - 1], usage);
            return 64;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wcs-agent: doctor: %s: unexpected argument\n", argv[optind]);
        return 64;
    }
    memset(&d, 0, sizeof(d));
    rc = session_open(env, &ro, &d.ctx, SESSION_FACTS_OPTIONAL | SESSION_DEADLINE);
    if (rc != AGENT_OK) {
        session_close(&d.ctx);
        return agent_rc_exit_status(rc);
    }
    /* A doctor's run is a dry run: no step of the pipeline may act. */
    ro.dry_run = 1;
    if (run_aws(&d.ctx, &d.api) != AGENT_OK)
        d.api = NULL;
    if (d.api != NULL && d.ctx.disc.have_facts) {
        const char *id = d.ctx.disc.facts.instance_id;

        d.self = calloc(1, sizeof(*d.self));
        if (d.self != NULL) {
            rc = ec2_describe_instances(d.api, &id, 1, d.self, 1, &n);
            if (rc != AGENT_OK || n != 1) {
                aws_why(&d, rc != AGENT_OK ? rc : AGENT_ERR_ABSENT, d.self_error,
                        sizeof(d.self_error));
                free(d.self);
                d.self = NULL;
            }
        }
    } else {
        snprintf(d.self_error, sizeof(d.self_error), "no AWS client");
    }
    for (i = 0; i < N_CHECKS; i++) {
        memset(&outs[i], 0, sizeof(outs[i]));
        log_set_step(checks[i].name);
        checks[i].fn(&d, &outs[i]);
        log_set_step(NULL);
        failed += outs[i].status == CHECK_FAIL;
    }
    if (json) {
        print_json(outs, failed);
    } else {
        for (i = 0; i < N_CHECKS; i++) {
            printf("%s %-21s %s\n", status_marks[outs[i].status], checks[i].name, outs[i].detail);
            if (outs[i].status == CHECK_FAIL)
                printf("  %-21s fix: %s\n", "", outs[i].fix);
        }
        printf("\n%d check%s failed\n", failed, failed == 1 ? "" : "s");
    }
    fflush(stdout);
    free(d.self);
    session_close(&d.ctx);
    return failed > 0 ? 1 : 0;
}
