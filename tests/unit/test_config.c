/*
 * Unit tests of config: defaults, validation, layers, line numbers,
 * placeholders and the masked dump (design.md §3).
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/buf.h"

static char tmpdir[PATH_MAX];

static void
clear_env(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("WCS_AGENT_CONFIG");
}

static void
print_diag(const struct config_diag *d)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        print_message("  diag: %s\n", d->lines[i]);
}

/* 1 when some diag line contains s. */
static int
diag_has(const struct config_diag *d, const char *s)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        if (strstr(d->lines[i], s) != NULL)
            return 1;
    }
    return 0;
}

static enum agent_rc
load_text(const char *text, const struct config_input *in0, struct agent_config **cfg,
          struct config_diag *d)
{
    struct config_input in;

    memset(&in, 0, sizeof(in));
    if (in0 != NULL)
        in = *in0;
    *cfg = NULL;
    return config_load_string("cfg", text, strlen(text), &in, cfg, d);
}

/* Loads text that must be valid; fails the test with the diagnostics otherwise. */
static struct agent_config *
load_ok(const char *text, const struct config_input *in)
{
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    enum agent_rc rc = load_text(text, in, &cfg, &d);

    if (rc != AGENT_OK) {
        print_message("unexpected failure for:\n%s\n", text);
        print_diag(&d);
    }
    assert_int_equal(rc, AGENT_OK);
    assert_int_equal(d.n, 0);
    assert_non_null(cfg);
    config_diag_cleanup(&d);
    return cfg;
}

/* Loads text that must fail with exactly one error equal to want. */
static void
load_err1(const char *text, const struct config_input *in, const char *want)
{
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    enum agent_rc rc = load_text(text, in, &cfg, &d);

    if (d.n != 1 || strstr(d.lines[0], want) == NULL) {
        print_message("for:\n%s\nwanted one error containing: %s\n", text, want);
        print_diag(&d);
    }
    assert_int_equal(rc, AGENT_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], want));
    config_diag_cleanup(&d);
}

static const char *
prop(const struct agent_config *cfg, const char *key)
{
    size_t i;

    for (i = 0; i < cfg->properties.n; i++) {
        if (strcmp(cfg->properties.items[i].key, key) == 0)
            return cfg->properties.items[i].value;
    }
    return NULL;
}

static const char *const tag_keys[] = {"Origin", "Name"};
static const char *const tag_values[] = {"10.1.2.3", "edge-1"};

static struct config_facts
facts_full(void)
{
    struct config_facts f;

    memset(&f, 0, sizeof(f));
    f.instance_id = "i-0abc1234def567890";
    f.region = "eu-west-1";
    f.az = "eu-west-1b";
    f.instance_type = "c5.large";
    f.local_ipv4 = "10.0.1.23";
    f.public_ipv4 = "203.0.113.10";
    f.tags_enabled = 1;
    f.tag_keys = tag_keys;
    f.tag_values = tag_values;
    f.n_tags = 2;
    return f;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_defaults(void **state)
{
    struct agent_config *cfg;
    struct config_facts f = facts_full();
    struct config_input in;

    (void)state;
    cfg = load_ok("", NULL);
    assert_string_equal(cfg->agent.state_dir, "/var/lib/wcs-agent");
    assert_int_equal(cfg->agent.user_data, CONFIG_USER_DATA_APPLY);
    assert_int_equal(cfg->agent.deadline_s, 1800);
    assert_string_equal(cfg->imds.endpoint, "http://169.254.169.254");
    assert_int_equal(cfg->imds.timeout_ms, 1000);
    assert_int_equal(cfg->imds.attempts, 5);
    assert_null(cfg->aws.region);
    assert_string_equal(cfg->wcs.home, "/usr/local/FlashphonerWebCallServer");
    assert_string_equal(cfg->wcs.service, "webcallserver");
    /* Without facts the placeholders stay as written. */
    assert_string_equal(cfg->wcs.restart_command, "systemctl restart {service}");
    assert_string_equal(cfg->wcs.status_command, "systemctl is-active --quiet {service}");
    assert_string_equal(cfg->wcs.enable_command, "systemctl enable --quiet {service}");
    assert_string_equal(cfg->wcs.heap, "keep");
    assert_int_equal(cfg->update.enabled, 0);
    assert_string_equal(cfg->update.url, "https://flashphoner.com/download-wcs5.2-server.tar.gz");
    assert_null(cfg->update.sha256);
    assert_null(cfg->licence.key);
    assert_string_equal(cfg->licence.command, "{wcs_home}/bin/activation.sh");
    assert_null(cfg->tls.certificate);
    assert_null(cfg->tls.chain);
    assert_null(cfg->tls.private_key);
    assert_string_equal(cfg->tls.keystore, "{wcs_home}/conf/wss.jks");
    assert_string_equal(cfg->tls.keystore_password, "password");
    assert_string_equal(cfg->tls.alias, "wcs");
    assert_int_equal(cfg->cdn.role, CONFIG_CDN_UNSET);
    assert_null(cfg->cdn.point_of_entry);
    assert_string_equal(cfg->cdn.ip, "{local_ipv4}");
    assert_null(cfg->cdn.groups);
    assert_int_equal(cfg->properties.n, 2);
    assert_string_equal(cfg->properties.items[0].key, "ip");
    assert_string_equal(cfg->properties.items[0].value, "{public_or_local_ipv4}");
    assert_string_equal(cfg->properties.items[1].key, "ip_local");
    assert_string_equal(cfg->properties.items[1].value, "{local_ipv4}");
    assert_string_equal(cfg->ready.url, "http://127.0.0.1:8081/?action=stat");
    assert_int_equal(cfg->ready.timeout_s, 600);
    assert_int_equal(cfg->ready.interval_ms, 250);
    assert_int_equal(cfg->ready.require.n, 0);
    assert_int_equal(cfg->reg.target_group.n, 0);
    assert_int_equal(cfg->reg.port, 8080);
    assert_int_equal(cfg->reg.classic_elb.n, 0);
    assert_int_equal(cfg->reg.wait_healthy, 0);
    assert_int_equal(cfg->reg.deregister_on_stop, 1);
    assert_null(cfg->signal.lifecycle_hook);
    assert_null(cfg->signal.asg);
    assert_null(cfg->signal.cfn_stack);
    assert_null(cfg->signal.cfn_resource);
    assert_int_equal(cfg->signal.on_failure, CONFIG_ON_FAILURE_ABANDON);
    assert_int_equal(cfg->literal_secrets_from_user_data.n, 0);
    /* design.md §8.8 */
    assert_string_equal(cfg->agent.console, "/dev/console");
    assert_int_equal(cfg->update.max_bytes, 2147483648LL);
    assert_int_equal(cfg->licence.release, 0);
    assert_string_equal(cfg->licence.release_command, "{wcs_home}/bin/deactivation.sh");
    assert_int_equal(cfg->licence.activate_in_warm_pool, 0);
    assert_null(cfg->signal.terminate_hook);
    assert_int_equal(cfg->signal.tag_instance, 1);
    assert_int_equal(cfg->watch.interval_s, 5);
    assert_int_equal(cfg->watch.reconcile_interval_s, 900);
    assert_int_equal(cfg->drain.until.n, 1);
    assert_string_equal(cfg->drain.until.items[0], "connections=0");
    assert_int_equal(cfg->drain.timeout_s, 3600);
    assert_int_equal(cfg->drain.spot_margin_s, 20);
    assert_int_equal(cfg->drain.stop_timeout_s, 300);
    assert_int_equal(cfg->drain.on_standby, 1);
    assert_int_equal(cfg->drain.on_rebalance, 0);
    assert_int_equal(cfg->drain.cdn_route_away, 1);
    assert_string_equal(cfg->drain.rest_url, "http://127.0.0.1:8081/rest-api");
    assert_int_equal(cfg->restart.mode, CONFIG_RESTART_DRAIN);
    assert_int_equal(cfg->metrics.enabled, 1);
    assert_int_equal(cfg->metrics.period_s, 60);
    assert_string_equal(cfg->metrics.namespace, "WCS");
    assert_int_equal(cfg->metrics.per_instance, 0);
    assert_string_equal(cfg->fleet.stats_url, "http://{private_ip}:8081/?action=stat");
    config_free(cfg);

    /* With facts every default placeholder is expanded. */
    memset(&in, 0, sizeof(in));
    in.facts = &f;
    cfg = load_ok("", &in);
    assert_string_equal(cfg->wcs.restart_command, "systemctl restart webcallserver");
    assert_string_equal(cfg->licence.command,
                        "/usr/local/FlashphonerWebCallServer/bin/activation.sh");
    assert_string_equal(cfg->tls.keystore, "/usr/local/FlashphonerWebCallServer/conf/wss.jks");
    assert_string_equal(cfg->cdn.ip, "10.0.1.23");
    assert_string_equal(prop(cfg, "ip"), "203.0.113.10");
    assert_string_equal(prop(cfg, "ip_local"), "10.0.1.23");
    assert_string_equal(cfg->licence.release_command,
                        "/usr/local/FlashphonerWebCallServer/bin/deactivation.sh");
    assert_string_equal(cfg->fleet.stats_url, "http://{private_ip}:8081/?action=stat");
    config_free(cfg);
    cfg = load_ok(
        "[restart]\nmode = defer\n[fleet]\nstats_url = http://127.0.0.1:9/{instance_id}\n", &in);
    assert_int_equal(cfg->restart.mode, CONFIG_RESTART_DEFER);
    assert_string_equal(config_restart_mode_str(cfg->restart.mode), "defer");
    assert_string_equal(cfg->fleet.stats_url, "http://127.0.0.1:9/{instance_id}");
    config_free(cfg);
}

static void
test_known_keys(void **state)
{
    (void)state;
    assert_true(config_key_known("agent", "deadline"));
    assert_true(config_key_known("register", "target_group"));
    assert_true(config_key_known("properties", "rtc_ice_add_local_component"));
    assert_true(config_key_known("properties", "a.b-c_d"));
    assert_false(config_key_known("properties", "bad key"));
    assert_false(config_key_known("agent", "nope"));
    assert_false(config_key_known("nope", "deadline"));
}

struct bad_case {
    const char *text;
    const char *want;
};

/* Each text must give exactly one error containing want (line 2 unless said). */
static void
test_validation_errors(void **state)
{
    static const struct bad_case cases[] = {
        {"[agent]\nstate_dir = var/lib\n", "cfg:2: agent.state_dir: must be an absolute path"},
        {"[restart]\nmode = later\n", "cfg:2: restart.mode: must be drain, now or defer"},
        {"[metrics]\nperiod = 45\n", "cfg:2: metrics.period: must be 10 or 30"},
        {"[metrics]\nperiod = 5\n", "metrics.period: must be an integer in 10..86400"},
        {"[metrics]\nnamespace = :WCS\n", "metrics.namespace: \":WCS\" is not a CloudWatch"},
        {"[fleet]\nstats_url = http://{local_ipv4}:8081/\n",
         "cfg:2: fleet.stats_url: only {private_ip} and {instance_id} may be used here"},
        {"[fleet]\nstats_url = ftp://{private_ip}/\n", "fleet.stats_url: must be an http://"},
        {"[drain]\nuntil = connections<1\n", "cfg:2: drain.until:"},
        {"[drain]\ntimeout = 0\n", "drain.timeout: must be an integer in 1..172800"},
        {"[agent]\nuser_data = maybe\n", "cfg:2: agent.user_data: must be apply or ignore"},
        {"[agent]\ndeadline = 0\n", "cfg:2: agent.deadline: must be an integer in 1..86400"},
        {"[agent]\ndeadline = 86401\n", "agent.deadline: must be an integer in 1..86400"},
        {"[agent]\ndeadline = 10s\n", "agent.deadline: must be an integer in 1..86400"},
        {"[imds]\nendpoint = ftp://x\n", "cfg:2: imds.endpoint: must be an http:// or https://"},
        {"[imds]\nendpoint = http://\n", "imds.endpoint: no host in URL"},
        {"[imds]\ntimeout_ms = 60001\n", "imds.timeout_ms: must be an integer in 1..60000"},
        {"[imds]\nattempts = 21\n", "imds.attempts: must be an integer in 1..20"},
        {"[aws]\nregion = Europe\n", "cfg:2: aws.region: \"Europe\" is not an AWS region"},
        {"[wcs]\nhome = opt/wcs\n", "wcs.home: must be an absolute path"},
        {"[wcs]\nservice = web call\n", "wcs.service: \"web call\" is not a systemd unit name"},
        {"[wcs]\nrestart_command =\n", "wcs.restart_command: must be a command"},
        {"[wcs]\nstatus_command =   \n", "wcs.status_command: must be a command"},
        {"[wcs]\nheap = 0%\n", "wcs.heap: must be keep, a size like 4g"},
        {"[wcs]\nheap = 101%\n", "wcs.heap: must be keep"},
        {"[wcs]\nheap = 4x\n", "wcs.heap: must be keep"},
        {"[wcs]\nheap = g\n", "wcs.heap: must be keep"},
        {"[update]\nenabled = perhaps\n", "update.enabled: must be true or false"},
        {"[update]\nurl = http://example.com/wcs.tgz\n", "update.url: must be an https:// URL"},
        {"[update]\nurl = http://127.0.0.1.example.com/w.tgz\n", "update.url: must be an https://"},
        {"[update]\nsha256 = abc\n", "update.sha256: must be 64 hexadecimal digits"},
        {"[licence]\nkey = ssm:\n", "licence.key: bad secret reference: ssm: empty parameter name"},
        {"[licence]\ncommand =\n", "licence.command: must be a command"},
        {"[tls]\ncertificate = s3://Bad_Bucket/x.pem\n",
         "tls.certificate: bad secret reference: s3:"},
        {"[tls]\nchain = file:relative.pem\n", "tls.chain: bad secret reference: file:"},
        {"[tls]\nprivate_key = env:1BAD\n", "tls.private_key: bad secret reference: env:"},
        {"[tls]\nkeystore = conf/wss.jks\n", "tls.keystore: must be an absolute path"},
        {"[tls]\nkeystore_password =\n", "tls.keystore_password: must not be empty"},
        {"[tls]\nalias = a b\n", "tls.alias: must be 1..64 of"},
        {"[cdn]\nrole = hub\n", "cdn.role: must be empty, off, origin, edge or transcoder"},
        {"[cdn]\nrole = edge\n", "cfg:2: cdn.point_of_entry is required when cdn.role = edge"},
        {"[cdn]\nrole = transcoder\n", "cdn.point_of_entry is required when cdn.role = transcoder"},
        {"[cdn]\npoint_of_entry = secretsmanager:x#\n", "cdn.point_of_entry: bad secret reference"},
        {"[cdn]\npoint_of_entry = a b\n", "cdn.point_of_entry: \"a b\" is not a host name"},
        {"[cdn]\nip = \n", "cdn.ip: \"\" is not a host name"},
        {"[ready]\nurl = 127.0.0.1:8081\n", "ready.url: must be an http:// or https:// URL"},
        {"[ready]\ntimeout = -1\n", "ready.timeout: must be an integer"},
        {"[ready]\ninterval_ms = 5\n", "ready.interval_ms: must be an integer in 10..60000"},
        {"[ready]\nrequire = a<1\n", "ready.require: \"a<1\": expected NAME, NAME>N"},
        {"[ready]\nrequire = a>=x\n", "ready.require: \"a>=x\""},
        {"[ready]\nrequire = >1\n", "ready.require: \">1\""},
        {"[register]\ntarget_group = arn:aws:ec2:eu-west-1:123456789012:targetgroup/a/1\n",
         "register.target_group: \"arn:aws:ec2:"},
        {"[register]\ntarget_group = arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
         "loadbalancer/app/x/1\n",
         "is not a target group ARN"},
        {"[register]\ntarget_group = my-tg\n", "is not a target group ARN"},
        {"[register]\nport = 0\n", "register.port: must be an integer in 1..65535"},
        {"[register]\nport = 65536\n", "register.port: must be an integer in 1..65535"},
        {"[register]\nclassic_elb = bad_name\n", "register.classic_elb: \"bad_name\" is not a"},
        {"[register]\nclassic_elb = -lead\n", "is not a classic load balancer name"},
        {"[register]\nclassic_elb = abcdefghijabcdefghijabcdefghijabc\n",
         "is not a classic load balancer name"},
        {"[register]\nwait_healthy = 2\n", "register.wait_healthy: must be true or false"},
        {"[register]\nderegister_on_stop = nah\n", "register.deregister_on_stop: must be true"},
        {"[signal]\nlifecycle_hook = a hook\n", "signal.lifecycle_hook: \"a hook\" is not"},
        {"[signal]\non_failure = retry\n", "signal.on_failure: must be abandon or continue"},
        {"[signal]\ncfn_stack = 1stack\ncfn_resource = R\n", "signal.cfn_stack: \"1stack\""},
        {"[signal]\ncfn_stack = s\ncfn_resource = a-b\n", "cfg:3: signal.cfn_resource:"},
        {"[signal]\ncfn_stack = s\n", "cfg:2: signal.cfn_stack and signal.cfn_resource must be"},
        {"[properties]\nbad$key = 1\n", "cfg:2: properties: bad key \"bad$key\""},
        {"[nope]\nx = 1\n", "cfg:1: unknown section [nope]"},
        {"[agent]\nnope = 1\n", "cfg:2: unknown key agent.nope"},
        {"deadline = 5\n", "cfg:1: deadline: key outside any [section]"},
        {"[agent\ndeadline = 5\n", "cfg:1: parse error: section header without ']'"},
        {"[agent]\njust words\n", "cfg:2: parse error: expected KEY = VALUE"},
        {"[agent]\n= 5\n", "cfg:2: parse error: no key before '='"},
        {"[agent]\nstate_dir = /x/{nope}\n", "cfg:2: agent.state_dir: {nope}: unknown placeholder"},
        {"[agent]\nstate_dir = /x/{instance_id\n", "{instance_id: unterminated placeholder"},
        {"[wcs]\nhome = /opt/{wcs_home}\n", "wcs.home: {wcs_home}: not allowed in this value"},
        {"[wcs]\nservice = {service}\n", "wcs.service: {service}: not allowed"},
        {"[properties]\nx = {tag:}\n", "properties.x: {tag:}: empty tag key"},
    };
    size_t i;

    (void)state;
    clear_env();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_err1(cases[i].text, NULL, cases[i].want);
}

/* Values at the edges of each range and every accepted form load. */
static void
test_validation_ok(void **state)
{
    static const char *const texts[] = {
        "[agent]\ndeadline = 1\n",
        "[agent]\ndeadline = 86400\nuser_data = ignore\n",
        "[imds]\nendpoint = https://[fd00:ec2::254]\ntimeout_ms = 60000\nattempts = 1\n",
        "[aws]\nregion = us-gov-west-1\n",
        "[aws]\nregion =\n",
        "[wcs]\nheap = 4g\n",
        "[wcs]\nheap = 512M\n",
        "[wcs]\nheap = 100%\n",
        "[wcs]\nheap = 1%\nenable_command =\nservice = wcs@1.service\n",
        "[update]\nenabled = yes\nurl = http://127.0.0.1:8000/wcs.tgz\n",
        "[update]\nurl = http://localhost/wcs.tgz\n",
        "[update]\nurl = http://[::1]:9/wcs.tgz\n",
        "[update]\nsha256 = "
        "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef\n",
        "[licence]\nkey = ssm:/wcs/licence\n",
        "[licence]\nkey = XXXX-{not-a-placeholder}-YYYY\n",
        "[tls]\ncertificate = s3://my.bucket-1/certs/node.pem\nchain = file:/etc/ssl/chain.pem\n"
        "private_key = secretsmanager:wcs/tls#key\nkeystore_password = env:KS_PASS\n",
        "[cdn]\nrole = edge\npoint_of_entry = 10.0.0.5\n",
        "[cdn]\nrole = transcoder\npoint_of_entry = ssm:/cdn/origin\n",
        "[cdn]\nrole = origin\n",
        "[cdn]\nrole = off\n",
        "[cdn]\nrole =\n",
        "[ready]\nrequire = ports_media_free>0\nrequire = a.b>=-3\nrequire = x=7\nrequire = up\n",
        "[register]\ntarget_group = "
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs/6d0ecf831eec9f09\n"
        "port = 65535\nclassic_elb = my-elb-1\nwait_healthy = on\nderegister_on_stop = 0\n",
        "[signal]\nlifecycle_hook = wcs/launch-hook_1\nasg = My ASG\ncfn_stack = wcs-stack\n"
        "cfn_resource = WebCallServerGroup\non_failure = continue\n",
        "[properties]\nrtc_ice_add_local_component = true\nwss.port = 8443\nempty =\n",
        "; comment\n# comment\n\n[agent]\ndeadline: 60 ; inline comment\n",
    };
    size_t i;

    (void)state;
    clear_env();
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        config_free(load_ok(texts[i], NULL));
}

static void
test_values_parsed(void **state)
{
    struct agent_config *cfg;

    (void)state;
    cfg = load_ok("[agent]\ndeadline = 60\nuser_data = ignore\n"
                  "[update]\nenabled = on\nsha256 = "
                  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n"
                  "[cdn]\nrole = origin\ngroups = g1,g2\n"
                  "[register]\nport = 9443\nwait_healthy = yes\n"
                  "[signal]\non_failure = continue\n"
                  "[properties]\nfoo = bar baz\nip =\n",
                  NULL);
    assert_int_equal(cfg->agent.deadline_s, 60);
    assert_int_equal(cfg->agent.user_data, CONFIG_USER_DATA_IGNORE);
    assert_int_equal(cfg->update.enabled, 1);
    /* sha256 is stored in lower case */
    assert_string_equal(cfg->update.sha256,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(cfg->cdn.role, CONFIG_CDN_ORIGIN);
    assert_string_equal(cfg->cdn.groups, "g1,g2");
    assert_int_equal(cfg->reg.port, 9443);
    assert_int_equal(cfg->reg.wait_healthy, 1);
    assert_int_equal(cfg->signal.on_failure, CONFIG_ON_FAILURE_CONTINUE);
    /* Key order of first appearance; "" means remove. */
    assert_int_equal(cfg->properties.n, 3);
    assert_string_equal(cfg->properties.items[0].key, "ip");
    assert_string_equal(cfg->properties.items[0].value, "");
    assert_string_equal(cfg->properties.items[2].key, "foo");
    assert_string_equal(cfg->properties.items[2].value, "bar baz");
    config_free(cfg);
}

/* An indented key is a key, not a continuation of the one before (inih multi-line). */
static void
test_indented_key(void **state)
{
    struct agent_config *cfg;

    (void)state;
    cfg = load_ok("[agent]\ndeadline = 60\n    state_dir = /srv/state\n\t[imds]\n  attempts = 3\n",
                  NULL);
    assert_int_equal(cfg->agent.deadline_s, 60);
    assert_string_equal(cfg->agent.state_dir, "/srv/state");
    assert_int_equal(cfg->imds.attempts, 3);
    config_free(cfg);
    /* CRLF line ends and a UTF-8 BOM are fine. */
    cfg = load_ok("\xEF\xBB\xBF[agent]\r\ndeadline = 61\r\n", NULL);
    assert_int_equal(cfg->agent.deadline_s, 61);
    config_free(cfg);
}

static void
test_three_errors(void **state)
{
    const char *text = "[agent]\n"              /* 1 */
                       "deadline = 60\n"        /* 2 */
                       "state_dir = relative\n" /* 3 */
                       "\n"                     /* 4 */
                       "[imds]\n"               /* 5 */
                       "attempts = 99\n"        /* 6 */
                       "; comment\n"            /* 7 */
                       "[wcs]\n"                /* 8 */
                       "colour = blue\n";       /* 9 */
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    assert_int_equal(load_text(text, NULL, &cfg, &d), AGENT_ERR_CONFIG);
    assert_null(cfg);
    print_diag(&d);
    assert_int_equal(d.n, 3);
    assert_true(strncmp(d.lines[0], "cfg:3: agent.state_dir: ", 24) == 0);
    assert_true(strncmp(d.lines[1], "cfg:6: imds.attempts: ", 22) == 0);
    assert_string_equal(d.lines[2], "cfg:9: unknown key wcs.colour");
    config_diag_cleanup(&d);
}

static void
test_long_line(void **state)
{
    char text[1024], value[301];
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    memset(value, 'a', 300);
    value[300] = '\0';
    /* Line 3 is 300 bytes; the lines after it keep their numbers. */
    snprintf(text, sizeof(text), "[agent]\ndeadline = 60\n%.*s\n[imds]\nattempts = 0\n", 300,
             value);
    assert_int_equal(load_text(text, NULL, &cfg, &d), AGENT_ERR_CONFIG);
    print_diag(&d);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.lines[0], "cfg:3: line too long (300 bytes, the limit is 199)");
    assert_true(strncmp(d.lines[1], "cfg:5: imds.attempts:", 21) == 0);
    config_diag_cleanup(&d);

    /* A 199-byte line is fine; 200 is not. */
    snprintf(text, sizeof(text), "[properties]\nk = %.*s\n", 199 - 4, value);
    config_free(load_ok(text, NULL));
    snprintf(text, sizeof(text), "[properties]\nk = %.*s\n", 200 - 4, value);
    load_err1(text, NULL, "cfg:2: line too long (200 bytes, the limit is 199)");

    /* A key over inih's name buffer is refused instead of being cut. */
    snprintf(text, sizeof(text), "[properties]\n%.*s = 1\n", 50, value);
    load_err1(text, NULL, "cfg:2: key name too long (50 bytes, the limit is 49)");
}

static void
test_nul_and_cr(void **state)
{
    static const char text[] = "[agent]\ndeadline = 6\0000\n[imds]\nattempts = 0\n";
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    struct config_input in;
    const char *sets[1];

    (void)state;
    assert_int_equal(
        config_load_string("cfg", text, sizeof(text) - 1, &(struct config_input){0}, &cfg, &d),
        AGENT_ERR_CONFIG);
    print_diag(&d);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.lines[0], "cfg:2: NUL byte in the line");
    assert_true(strncmp(d.lines[1], "cfg:4: imds.attempts", 20) == 0);
    config_diag_cleanup(&d);

    /* A CR inside a property value is refused (it would split the properties line). */
    load_err1("[properties]\nx = a\rb\n", NULL, "cfg:2: properties.x: the value contains a CR");
    memset(&in, 0, sizeof(in));
    sets[0] = "properties.x=a\rb";
    in.sets = sets;
    in.n_sets = 1;
    load_err1("", &in, "--set: properties.x: the value contains a CR, LF or NUL");
    sets[0] = "properties.x=a\nb=c";
    load_err1("", &in, "--set: properties.x: the value contains a CR, LF or NUL");
}

static void
test_missing_file(void **state)
{
    struct config_input in;
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    char path[PATH_MAX + 64];

    (void)state;
    clear_env();
    snprintf(path, sizeof(path), "%s/none/agent.ini", tmpdir);
    memset(&in, 0, sizeof(in));
    in.path = path;
    in.path_required = 1;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_ERR_CONFIG);
    assert_int_equal(d.n, 1);
    assert_true(strstr(d.lines[0], "/none/agent.ini: cannot read: No such file") != NULL);
    config_diag_cleanup(&d);

    /* A missing file that was not asked for: defaults only. */
    in.path_required = 0;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 1800);
    config_free(cfg);

    /* WCS_AGENT_CONFIG acts as -c: a missing file is an error. */
    in.path = NULL;
    setenv("WCS_AGENT_CONFIG", path, 1);
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_ERR_CONFIG);
    assert_true(diag_has(&d, "cannot read: No such file"));
    config_diag_cleanup(&d);
    clear_env();
}

static void
test_file_checks(void **state)
{
    struct config_input in;
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    char path[PATH_MAX + 64];

    (void)state;
    clear_env();
    snprintf(path, sizeof(path), "%s/writable.ini", tmpdir);
    write_file(path, "[agent]\ndeadline = 5\n", 0666);
    memset(&in, 0, sizeof(in));
    in.path = path;
    in.path_required = 1;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_ERR_CONFIG);
    assert_true(diag_has(&d, "writable.ini: refused: the file is group- or world-writable"));
    config_diag_cleanup(&d);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 5);
    config_free(cfg);
    unlink(path);
}

/* A layer fixture: agent.ini + conf.d in a fresh folder. */
static void
make_layers(char *ini, size_t cap, const char *name)
{
    char dir[PATH_MAX + 64], sub[PATH_MAX + 80], f[PATH_MAX + 128];

    snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/conf.d", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_true((size_t)snprintf(ini, cap, "%s/agent.ini", dir) < cap);
    write_file(ini,
               "[agent]\ndeadline = 100\nstate_dir = /file\n[aws]\nregion = us-east-1\n"
               "[ready]\nrequire = a\nrequire = b\n"
               "[register]\nclassic_elb = file-1\nclassic_elb = file-2\n",
               0644);
    /* Byte order: "10-b" < "9-a" < "Z" ... "a" sorts after "Z" (no locale). */
    snprintf(f, sizeof(f), "%s/9-a.ini", sub);
    write_file(f, "[agent]\ndeadline = 300\n", 0644);
    snprintf(f, sizeof(f), "%s/10-b.ini", sub);
    write_file(f, "[agent]\ndeadline = 200\nstate_dir = /confd\n[ready]\nrequire = c\n", 0644);
    snprintf(f, sizeof(f), "%s/README", sub);
    write_file(f, "not ini at all\n", 0644);
    snprintf(f, sizeof(f), "%s/.hidden.ini", sub);
    write_file(f, "broken\n", 0644);
}

static void
test_precedence(void **state)
{
    char ini[PATH_MAX + 64];
    struct config_input in;
    struct config_overlay ov[2];
    const char *sets[3];
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    clear_env();
    make_layers(ini, sizeof(ini), "prec");
    memset(&in, 0, sizeof(in));
    in.path = ini;
    in.path_required = 1;

    /* file < conf.d (byte order: 10-b then 9-a) */
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 300);
    assert_string_equal(cfg->agent.state_dir, "/confd");
    assert_string_equal(cfg->aws.region, "us-east-1");
    config_free(cfg);

    /* conf.d < overlays (in order) */
    ov[0].name = "user-data part 1";
    ov[0].text = "[agent]\ndeadline = 400\n[aws]\nregion = eu-west-2\n";
    ov[0].len = strlen(ov[0].text);
    ov[1].name = "user-data part 2";
    ov[1].text = "[agent]\nstate_dir = /overlay\n";
    ov[1].len = strlen(ov[1].text);
    in.overlays = ov;
    in.n_overlays = 2;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 400);
    assert_string_equal(cfg->agent.state_dir, "/overlay");
    assert_string_equal(cfg->aws.region, "eu-west-2");
    config_free(cfg);

    /* overlay < environment: AWS_REGION over AWS_DEFAULT_REGION */
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_string_equal(cfg->aws.region, "ap-south-1");
    config_free(cfg);
    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338", 1);
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_string_equal(cfg->aws.region, "eu-central-1");
    assert_string_equal(cfg->imds.endpoint, "http://127.0.0.1:1338");
    config_free(cfg);

    /* environment < --set */
    sets[0] = "aws.region=us-west-2";
    sets[1] = "agent.deadline=500";
    sets[2] = "imds.endpoint=http://127.0.0.1:2";
    in.sets = sets;
    in.n_sets = 3;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_string_equal(cfg->aws.region, "us-west-2");
    assert_int_equal(cfg->agent.deadline_s, 500);
    assert_string_equal(cfg->imds.endpoint, "http://127.0.0.1:2");
    assert_string_equal(cfg->agent.state_dir, "/overlay");
    config_free(cfg);

    /* A bad environment value is named by its variable. */
    in.n_sets = 0;
    setenv("AWS_REGION", "moon-1", 1);
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_ERR_CONFIG);
    assert_int_equal(d.n, 1);
    assert_true(strncmp(d.lines[0], "env AWS_REGION: aws.region: ", 28) == 0);
    config_diag_cleanup(&d);
    clear_env();

    /* agent.user_data = ignore drops the overlays (and --set can say so). */
    sets[0] = "agent.user_data=ignore";
    in.n_sets = 1;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->agent.deadline_s, 300);
    assert_string_equal(cfg->agent.state_dir, "/confd");
    config_free(cfg);
}

static void
test_list_layers(void **state)
{
    char ini[PATH_MAX + 64];
    struct config_input in;
    struct config_overlay ov;
    const char *sets[3];
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    clear_env();
    make_layers(ini, sizeof(ini), "lists");
    memset(&in, 0, sizeof(in));
    in.path = ini;
    in.path_required = 1;

    /* ready.require: file [a, b] replaced as a whole by conf.d [c]; classic_elb kept from file. */
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->ready.require.n, 1);
    assert_string_equal(cfg->ready.require.items[0], "c");
    assert_int_equal(cfg->reg.classic_elb.n, 2);
    assert_string_equal(cfg->reg.classic_elb.items[0], "file-1");
    assert_string_equal(cfg->reg.classic_elb.items[1], "file-2");
    config_free(cfg);

    /* An overlay sets classic_elb twice: appended within the layer, replacing the file's. */
    ov.name = "user-data";
    ov.text = "#wcs-agent\n[register]\nclassic_elb = ud-1\nclassic_elb = ud-2\n";
    ov.len = strlen(ov.text);
    in.overlays = &ov;
    in.n_overlays = 1;
    sets[0] = "ready.require=d";
    sets[1] = "ready.require=e>1";
    in.sets = sets;
    in.n_sets = 2;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->reg.classic_elb.n, 2);
    assert_string_equal(cfg->reg.classic_elb.items[0], "ud-1");
    assert_string_equal(cfg->reg.classic_elb.items[1], "ud-2");
    assert_int_equal(cfg->ready.require.n, 2);
    assert_string_equal(cfg->ready.require.items[0], "d");
    assert_string_equal(cfg->ready.require.items[1], "e>1");
    config_free(cfg);

    /* An empty item empties the list in its layer. */
    sets[0] = "ready.require=";
    sets[1] = "register.classic_elb=";
    sets[2] = "register.classic_elb=set-1";
    in.n_sets = 3;
    assert_int_equal(config_load(&in, &cfg, &d), AGENT_OK);
    assert_int_equal(cfg->ready.require.n, 0);
    assert_int_equal(cfg->reg.classic_elb.n, 1);
    assert_string_equal(cfg->reg.classic_elb.items[0], "set-1");
    config_free(cfg);
}

static void
test_set_errors(void **state)
{
    struct config_input in;
    const char *sets[6];
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    sets[0] = "agent.deadline";
    sets[1] = "deadline=5";
    sets[2] = "agent.nope=1";
    sets[3] = "agent.deadline.x=1";
    sets[4] = "agent.deadline=0";
    sets[5] = "properties.wss.port=8443";
    in.sets = sets;
    in.n_sets = 6;
    assert_int_equal(load_text("", &in, &cfg, &d), AGENT_ERR_CONFIG);
    print_diag(&d);
    assert_int_equal(d.n, 5);
    assert_string_equal(d.lines[0], "--set: \"agent.deadline\": expected SECTION.KEY=VALUE");
    assert_string_equal(d.lines[1], "--set: \"deadline\": expected SECTION.KEY=VALUE");
    assert_string_equal(d.lines[2], "--set: unknown key agent.nope");
    assert_string_equal(d.lines[3], "--set: unknown key agent.deadline.x");
    assert_true(strncmp(d.lines[4], "--set: agent.deadline: must be an integer", 41) == 0);
    config_diag_cleanup(&d);

    in.n_sets = 1;
    sets[0] = "properties.wss.port=8443";
    cfg = load_ok("", &in);
    assert_string_equal(prop(cfg, "wss.port"), "8443");
    config_free(cfg);
}

/*
 * Issue 9 item 1: a value a placeholder produced is never a secret
 * reference, whichever of the five forms a tag holds; only text the
 * operator wrote can be one.
 */
static void
test_tag_value_is_never_a_reference(void **state)
{
    static const char *const forms[] = {"ssm:/wcs/licence", "secretsmanager:wcs/licence#key",
                                        "s3://wcs-bucket/licence.txt", "file:/etc/shadow",
                                        "env:WCS_LICENCE"};
    static const char *keys[] = {"wcs-origin"};
    const char *values[1];
    struct config_facts f = facts_full();
    struct config_input in;
    struct agent_config *cfg;
    char want[256];
    size_t i;

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    in.facts = &f;
    f.tag_keys = keys;
    f.tag_values = values;
    f.n_tags = 1;
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        values[0] = forms[i];
        /* The documented use: the origin's address from a tag.  A reference there is no host. */
        snprintf(want, sizeof(want), "cfg:3: cdn.point_of_entry: ");
        cfg = NULL;
        {
            struct config_diag d = {0};

            assert_int_equal(config_load_string("cfg",
                                                "[cdn]\nrole = edge\npoint_of_entry = "
                                                "{tag:wcs-origin}\n",
                                                strlen("[cdn]\nrole = edge\npoint_of_entry = "
                                                       "{tag:wcs-origin}\n"),
                                                &in, &cfg, &d),
                             AGENT_ERR_CONFIG);
            assert_null(cfg);
            assert_int_equal(d.n, 1);
            assert_non_null(strstr(d.lines[0], want));
            assert_null(strstr(d.lines[0], "secret reference"));
            config_diag_cleanup(&d);
        }
        /* Keys without a format check keep the literal, and it is not a reference. */
        cfg = load_ok("[tls]\ncertificate = {tag:wcs-origin}\nchain = x{tag:wcs-origin}\n", &in);
        assert_string_equal(cfg->tls.certificate, forms[i]);
        assert_int_equal(config_is_reference(cfg, "tls.certificate"), 0);
        assert_int_equal(config_is_reference(cfg, "tls.chain"), 0);
        config_free(cfg);
    }
    /* What the operator wrote is a reference, placeholders in its name or not. */
    values[0] = "prod";
    cfg = load_ok("[licence]\nkey = ssm:/wcs/{tag:wcs-origin}/licence\n"
                  "[tls]\ncertificate = file:/etc/wcs/{region}.pem\nchain = s3://b-1/c.pem\n"
                  "private_key = env:WCS_KEY\n"
                  "[cdn]\nrole = edge\npoint_of_entry = secretsmanager:wcs/origin\n",
                  &in);
    assert_string_equal(cfg->licence.key, "ssm:/wcs/prod/licence");
    assert_int_equal(config_is_reference(cfg, "licence.key"), 1);
    assert_string_equal(cfg->tls.certificate, "file:/etc/wcs/eu-west-1.pem");
    assert_int_equal(config_is_reference(cfg, "tls.certificate"), 1);
    assert_int_equal(config_is_reference(cfg, "tls.chain"), 1);
    assert_int_equal(config_is_reference(cfg, "tls.private_key"), 1);
    assert_int_equal(config_is_reference(cfg, "cdn.point_of_entry"), 1);
    assert_int_equal(config_is_reference(cfg, "tls.keystore_password"), 0);
    assert_int_equal(config_is_reference(cfg, "no.such"), 0);
    config_free(cfg);
}

/* Issue 9 item 14: an absolute path where PEM is expected is a file: reference. */
static void
test_pem_path_is_a_file_reference(void **state)
{
    struct config_input in;
    struct agent_config *cfg;
    char dir[] = "/tmp/test_config_pem.XXXXXX", path[64], text[256];

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    cfg = load_ok("[tls]\ncertificate = /etc/ssl/wcs/cert.pem\nprivate_key = /etc/ssl/wcs/key.pem\n"
                  "chain = file:/etc/ssl/wcs/chain.pem\n",
                  &in);
    assert_string_equal(cfg->tls.certificate, "file:/etc/ssl/wcs/cert.pem");
    assert_string_equal(cfg->tls.private_key, "file:/etc/ssl/wcs/key.pem");
    assert_int_equal(config_is_reference(cfg, "tls.certificate"), 1);
    assert_int_equal(config_is_reference(cfg, "tls.private_key"), 1);
    config_free(cfg);
    /* Other keys keep a path as it is. */
    cfg = load_ok("[tls]\nkeystore = /etc/ssl/wcs/wss.jks\n", &in);
    assert_string_equal(cfg->tls.keystore, "/etc/ssl/wcs/wss.jks");
    config_free(cfg);

    /* check-config: one that cannot be read is reported at its line; a readable one passes. */
    in.check_files = 1;
    load_err1("[tls]\ncertificate = /nonexistent/wcs/cert.pem\n", &in,
              "cfg:2: tls.certificate: /nonexistent/wcs/cert.pem cannot be read: No such file or "
              "directory");
    assert_non_null(mkdtemp(dir));
    load_err1("[tls]\nprivate_key = file:/tmp\n", &in,
              "cfg:2: tls.private_key: /tmp cannot be read: not a regular file");
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    write_file(path, "-----BEGIN CERTIFICATE-----\n", 0600);
    snprintf(text, sizeof(text), "[tls]\ncertificate = %s\n", path);
    cfg = load_ok(text, &in);
    config_free(cfg);
    unlink(path);
    rmdir(dir);
}

static void
test_placeholders(void **state)
{
    struct config_facts f = facts_full();
    struct config_input in;
    struct agent_config *cfg;
    const char *sets[1];

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    in.facts = &f;
    cfg = load_ok("[wcs]\nhome = /opt/wcs-{instance_type}\nservice = wcs-{az}\n"
                  "[cdn]\nrole = edge\npoint_of_entry = {tag:Origin}\n"
                  "[properties]\nnode = {tag:Name}/{instance_id}/{region}\n"
                  "home = {wcs_home}\n",
                  &in);
    assert_string_equal(cfg->wcs.home, "/opt/wcs-c5.large");
    assert_string_equal(cfg->wcs.service, "wcs-eu-west-1b");
    assert_string_equal(cfg->wcs.restart_command, "systemctl restart wcs-eu-west-1b");
    assert_string_equal(cfg->licence.command, "/opt/wcs-c5.large/bin/activation.sh");
    assert_string_equal(cfg->cdn.point_of_entry, "10.1.2.3");
    assert_string_equal(prop(cfg, "node"), "edge-1/i-0abc1234def567890/eu-west-1");
    assert_string_equal(prop(cfg, "home"), "/opt/wcs-c5.large");
    config_free(cfg);

    /* {region} is the effective region: aws.region wins over the instance's. */
    sets[0] = "aws.region=us-east-2";
    in.sets = sets;
    in.n_sets = 1;
    cfg = load_ok("[properties]\nr = {region}\n", &in);
    assert_string_equal(prop(cfg, "r"), "us-east-2");
    config_free(cfg);
    in.n_sets = 0;

    /* The default ip falls back to the local address without a public one. */
    f.public_ipv4 = NULL;
    cfg = load_ok("", &in);
    assert_string_equal(prop(cfg, "ip"), "10.0.1.23");
    config_free(cfg);
    load_err1("[properties]\nx = {public_ipv4}\n", &in,
              "cfg:2: properties.x: {public_ipv4}: this instance has no public IPv4 address");
    load_err1("[cdn]\nrole = edge\npoint_of_entry = {tag:Origin2}\n", &in,
              "cfg:3: cdn.point_of_entry: {tag:Origin2}: tag not found");
    {
        /* Issue 9 item 11: a tag discovery skipped fails only where the config uses it. */
        static const char *const bad[] = {"Note"};

        f.bad_tag_keys = bad;
        f.n_bad_tags = 1;
        cfg = load_ok("[cdn]\nrole = edge\npoint_of_entry = {tag:Origin}\n", &in);
        config_free(cfg);
        load_err1("[cdn]\nrole = edge\npoint_of_entry = {tag:Note}\n", &in,
                  "cfg:3: cdn.point_of_entry: {tag:Note}: the tag's value holds a control "
                  "character (a line break?); fix the tag");
        f.bad_tag_keys = NULL;
        f.n_bad_tags = 0;
    }
    f.tags_enabled = 0;
    load_err1("[cdn]\nrole = edge\npoint_of_entry = {tag:Origin}\n", &in,
              "cfg:3: cdn.point_of_entry: {tag:Origin}: instance metadata tags are not enabled");
    load_err1("[agent]\nstate_dir = /x/{hostname}\n", &in,
              "cfg:2: agent.state_dir: {hostname}: unknown placeholder");

    /* Without any IPv4 (IPv6-only): the ip defaults are dropped, cdn.ip matters for a role. */
    f.local_ipv4 = NULL;
    cfg = load_ok("", &in);
    assert_null(prop(cfg, "ip"));
    assert_null(prop(cfg, "ip_local"));
    assert_string_equal(cfg->cdn.ip, "");
    config_free(cfg);
    load_err1("[cdn]\nrole = origin\n", &in,
              "default: cdn.ip: {local_ipv4}: this instance has no local IPv4 address");
    load_err1("[properties]\nx = {local_ipv4}\n", &in,
              "cfg:2: properties.x: {local_ipv4}: this instance has no local IPv4 address");
    f.local_ipv4 = "10.0.1.23";

    /* Without facts: syntax only, values kept, checks on a sample expansion. */
    cfg = load_ok("[cdn]\nrole = edge\npoint_of_entry = {tag:Origin}\n"
                  "[register]\ntarget_group = {tag:TargetGroup}\n"
                  "[update]\nurl = https://{region}.example.com/wcs.tgz\n"
                  "[properties]\nx = {public_ipv4}\n",
                  NULL);
    assert_string_equal(cfg->cdn.point_of_entry, "{tag:Origin}");
    assert_string_equal(cfg->reg.target_group.items[0], "{tag:TargetGroup}");
    assert_string_equal(prop(cfg, "x"), "{public_ipv4}");
    config_free(cfg);
    load_err1("[agent]\nstate_dir = /x/{hostname}\n", NULL,
              "cfg:2: agent.state_dir: {hostname}: unknown placeholder");
    load_err1("[ready]\nrequire = a>{az}\n", NULL, "cfg:2: ready.require: \"a>us-east-1a\"");
}

static void
test_dump_masks_secrets(void **state)
{
    struct config_input in;
    struct config_overlay ov;
    struct agent_config *cfg;
    struct buf out;

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    ov.name = "user-data";
    ov.text = "#wcs-agent\n[tls]\nprivate_key = PRIVATE-LITERAL-123\n";
    ov.len = strlen(ov.text);
    in.overlays = &ov;
    in.n_overlays = 1;
    cfg = load_ok("[licence]\nkey = LICENCE-LITERAL-456\n"
                  "[tls]\ncertificate = s3://bucket-a/cert.pem\n"
                  "keystore_password = env:KS_PASS\n"
                  "[ready]\nrequire = a\nrequire = b>1\n",
                  &in);
    assert_string_equal(cfg->licence.key, "LICENCE-LITERAL-456");
    assert_int_equal(cfg->literal_secrets_from_user_data.n, 1);
    assert_string_equal(cfg->literal_secrets_from_user_data.items[0], "tls.private_key");
    buf_init(&out, 65536);
    assert_int_equal(config_dump(cfg, &out), AGENT_OK);
    assert_null(strstr(buf_cstr(&out), "LITERAL"));
    assert_non_null(strstr(buf_cstr(&out), "[licence]\nkey = ***\n"));
    assert_non_null(strstr(buf_cstr(&out), "private_key = ***\n"));
    assert_non_null(strstr(buf_cstr(&out), "keystore_password = env:KS_PASS\n"));
    assert_non_null(strstr(buf_cstr(&out), "certificate = s3://bucket-a/cert.pem\n"));
    assert_non_null(strstr(buf_cstr(&out), "require = a\nrequire = b>1\n"));
    assert_non_null(strstr(buf_cstr(&out), "[properties]\nip = {public_or_local_ipv4}\n"));
    assert_non_null(strstr(buf_cstr(&out), "[signal]\n"));
    assert_non_null(strstr(buf_cstr(&out), "classic_elb =\n"));
    config_free(cfg);

    /* The dump loads again to the same dump (secrets aside). */
    cfg = load_ok("[cdn]\nrole = origin\n[register]\nport = 81\n", NULL);
    buf_reset(&out);
    assert_int_equal(config_dump(cfg, &out), AGENT_OK);
    {
        struct agent_config *again = load_ok(buf_cstr(&out), NULL);
        struct buf out2;

        buf_init(&out2, 65536);
        /* The default keystore_password dumps as ***, which is a valid literal too. */
        assert_int_equal(config_dump(again, &out2), AGENT_OK);
        assert_string_equal(buf_cstr(&out), buf_cstr(&out2));
        buf_cleanup(&out2);
        config_free(again);
    }
    config_free(cfg);
    buf_cleanup(&out);
}

static void
test_user_data_rules(void **state)
{
    struct config_input in;
    struct config_overlay ov;
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};

    (void)state;
    clear_env();
    memset(&in, 0, sizeof(in));
    ov.name = "user-data";
    ov.text = "#wcs-agent\n[agent]\nuser_data = ignore\n[licence]\nkey = bad{\n";
    ov.len = strlen(ov.text);
    in.overlays = &ov;
    in.n_overlays = 1;
    assert_int_equal(load_text("", &in, &cfg, &d), AGENT_ERR_CONFIG);
    print_diag(&d);
    /* The literal key is taken verbatim (never expanded, never quoted). */
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines[0], "user-data:3: agent.user_data cannot be set in user data");
    config_diag_cleanup(&d);

    /* Line numbers count the whole user data, "#wcs-agent" line included. */
    ov.text = "#wcs-agent\n\n[imds]\nattempts = 50\n";
    ov.len = strlen(ov.text);
    load_err1("", &in, "user-data:4: imds.attempts: must be an integer in 1..20");
}

static int
setup_all(void **state)
{
    const char *base = getenv("TMPDIR");

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    clear_env();
    return 0;
}

/* Removes the fixture folders; their layout is known. */
static int
teardown_all(void **state)
{
    static const char *const names[] = {"prec", "lists"};
    static const char *const files[] = {"conf.d/9-a.ini", "conf.d/10-b.ini", "conf.d/README",
                                        "conf.d/.hidden.ini", "agent.ini"};
    char p[PATH_MAX + 128];
    size_t i, j;

    (void)state;
    for (i = 0; i < 2; i++) {
        for (j = 0; j < 5; j++) {
            snprintf(p, sizeof(p), "%s/%s/%s", tmpdir, names[i], files[j]);
            unlink(p);
        }
        snprintf(p, sizeof(p), "%s/%s/conf.d", tmpdir, names[i]);
        rmdir(p);
        snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
        rmdir(p);
    }
    rmdir(tmpdir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_known_keys),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_validation_ok),
        cmocka_unit_test(test_values_parsed),
        cmocka_unit_test(test_indented_key),
        cmocka_unit_test(test_three_errors),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_nul_and_cr),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_file_checks),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_list_layers),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_tag_value_is_never_a_reference),
        cmocka_unit_test(test_pem_path_is_a_file_reference),
        cmocka_unit_test(test_placeholders),
        cmocka_unit_test(test_dump_masks_secrets),
        cmocka_unit_test(test_user_data_rules),
    };

    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
