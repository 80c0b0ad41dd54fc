/*
 * Unit tests of the origin API of config (issue 9 item 19): where each
 * effective value came from (config_origin(), config_origin_format()),
 * the sources a load looked at (config_source()), and the dump with
 * origins (config_dump_origins()), secrets masked.
 */
/* nftw() in fixture.h, setenv() */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/buf.h"
#include "fixture.h"

static void
clear_env(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("WCS_AGENT_CONFIG");
}

static int
setup(void **state)
{
    (void)state;
    clear_env();
    return fx_setup("test_config_origin", 1);
}

static int
teardown(void **state)
{
    (void)state;
    clear_env();
    fx_teardown();
    return 0;
}

/* The formatted origin of item of name in cfg ("" when it has none). */
static const char *
origin_of(const struct agent_config *cfg, const char *name, size_t item)
{
    static char out[512];
    struct config_origin o;

    if (config_origin(cfg, name, item, &o) != AGENT_OK)
        return "";
    config_origin_format(&o, out, sizeof(out));
    return out;
}

static struct agent_config *
load(const struct config_input *in)
{
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    enum agent_rc rc = config_load(in, &cfg, &d);
    size_t i;

    for (i = 0; i < d.n; i++)
        print_message("  diag: %s\n", d.lines[i]);
    assert_int_equal(rc, AGENT_OK);
    config_diag_cleanup(&d);
    return cfg;
}

/* A file, two conf.d files, two overlays, the environment and --set: each value's origin. */
static void
test_each_layer(void **state)
{
    char ini[512], a[512], b[512], want[600];
    const char *sets[] = {"register.port=9001", "ready.require="};
    struct config_overlay ov[2];
    struct config_input in;
    struct config_origin o;
    struct agent_config *cfg;

    (void)state;
    snprintf(ini, sizeof(ini), "%s", fx_path("agent.ini"));
    assert_int_equal(mkdir(fx_path("conf.d"), 0755), 0);
    snprintf(a, sizeof(a), "%s", fx_path("conf.d/10-a.ini"));
    snprintf(b, sizeof(b), "%s", fx_path("conf.d/20-b.ini"));
    fx_write_file(ini,
                  "; comment\n[agent]\ndeadline = 100\n[register]\nport = 8100\n"
                  "[ready]\nrequire = a\n[licence]\nkey = LIC-UNIT-SECRET-1\n",
                  0600);
    fx_write_file(a, "[wcs]\nheap = 2g\n[register]\nclassic_elb = elb-1\nclassic_elb = elb-2\n",
                  0600);
    fx_write_file(b, "\n[wcs]\nheap = 3g\n", 0600);
    ov[0].name = "user-data part 1";
    ov[0].text = "[cdn]\ngroups = g1\n[properties]\nrtc_x = 1\n";
    ov[0].len = strlen(ov[0].text);
    ov[1].name = "user-data part 3";
    ov[1].text = "#x\n\n[cdn]\ngroups = g3\n";
    ov[1].len = strlen(ov[1].text);
    setenv("AWS_REGION", "eu-west-3", 1);
    memset(&in, 0, sizeof(in));
    in.path = ini;
    in.path_required = 1;
    in.overlays = ov;
    in.n_overlays = 2;
    in.sets = sets;
    in.n_sets = 2;
    cfg = load(&in);

    snprintf(want, sizeof(want), "file:%s:3", ini);
    assert_string_equal(origin_of(cfg, "agent.deadline", 0), want);
    snprintf(want, sizeof(want), "file:%s:9", ini);
    assert_string_equal(origin_of(cfg, "licence.key", 0), want);
    snprintf(want, sizeof(want), "file:%s:3", b);
    assert_string_equal(origin_of(cfg, "wcs.heap", 0), want);
    snprintf(want, sizeof(want), "file:%s:4", a);
    assert_string_equal(origin_of(cfg, "register.classic_elb", 0), want);
    snprintf(want, sizeof(want), "file:%s:5", a);
    assert_string_equal(origin_of(cfg, "register.classic_elb", 1), want);
    assert_string_equal(origin_of(cfg, "register.classic_elb", 2), "");
    assert_string_equal(origin_of(cfg, "cdn.groups", 0), "user-data part 3:4");
    assert_string_equal(origin_of(cfg, "properties.rtc_x", 0), "user-data part 1:4");
    assert_string_equal(origin_of(cfg, "aws.region", 0), "env:AWS_REGION");
    assert_string_equal(origin_of(cfg, "register.port", 0), "--set");
    /* A list emptied by --set has the origin of the emptying. */
    assert_int_equal(cfg->ready.require.n, 0);
    assert_string_equal(origin_of(cfg, "ready.require", 0), "--set");
    /* Defaults: a key with a default, one without, a list no layer set, a built-in property. */
    assert_string_equal(origin_of(cfg, "imds.attempts", 0), "default");
    assert_string_equal(origin_of(cfg, "signal.lifecycle_hook", 0), "default");
    assert_string_equal(origin_of(cfg, "register.target_group", 0), "default");
    assert_string_equal(origin_of(cfg, "properties.ip_local", 0), "default");
    /* The raw record. */
    assert_int_equal(config_origin(cfg, "wcs.heap", 0, &o), AGENT_OK);
    assert_int_equal(o.kind, CONFIG_ORIGIN_FILE);
    assert_string_equal(o.name, b);
    assert_int_equal(o.line, 3);
    assert_int_equal(config_origin(cfg, "aws.region", 0, &o), AGENT_OK);
    assert_int_equal(o.kind, CONFIG_ORIGIN_ENV);
    assert_string_equal(o.name, "AWS_REGION");
    assert_int_equal(o.line, 0);
    /* Not values of this config. */
    assert_int_equal(config_origin(cfg, "agent.no_such_key", 0, &o), AGENT_ERR_ABSENT);
    assert_int_equal(config_origin(cfg, "properties.not_set", 0, &o), AGENT_ERR_ABSENT);
    assert_int_equal(config_origin(cfg, "agent", 0, &o), AGENT_ERR_ABSENT);
    assert_int_equal(config_origin(cfg, "agent.deadline", 1, &o), AGENT_ERR_ABSENT);
    assert_int_equal(config_origin(NULL, "agent.deadline", 0, &o), AGENT_ERR_ABSENT);
    config_free(cfg);
}

/* The sources in layer order, with what was absent. */
static void
test_sources(void **state)
{
    char ini[512], dir[512];
    struct config_overlay ov = {"user-data", "#wcs-agent\n[cdn]\ngroups = x\n", 0};
    struct config_input in;
    const struct config_source *s;
    struct agent_config *cfg;

    (void)state;
    snprintf(ini, sizeof(ini), "%s", fx_path("agent.ini"));
    snprintf(dir, sizeof(dir), "%s", fx_path("conf.d"));
    fx_write_file(ini, "[agent]\ndeadline = 100\n", 0600);
    ov.len = strlen(ov.text);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9", 1);
    memset(&in, 0, sizeof(in));
    in.path = ini;
    in.overlays = &ov;
    in.n_overlays = 1;
    cfg = load(&in);
    s = config_source(cfg, 0);
    assert_non_null(s);
    assert_int_equal(s->kind, CONFIG_ORIGIN_FILE);
    assert_string_equal(s->name, ini);
    assert_int_equal(s->present, 1);
    assert_int_equal(s->is_dir, 0);
    assert_int_equal(s->bytes, strlen("[agent]\ndeadline = 100\n"));
    s = config_source(cfg, 1);
    assert_non_null(s);
    assert_string_equal(s->name, dir);
    assert_int_equal(s->is_dir, 1);
    assert_int_equal(s->present, 0);
    s = config_source(cfg, 2);
    assert_non_null(s);
    assert_int_equal(s->kind, CONFIG_ORIGIN_USER_DATA);
    assert_string_equal(s->name, "user-data");
    assert_int_equal(s->bytes, ov.len);
    s = config_source(cfg, 3);
    assert_non_null(s);
    assert_int_equal(s->kind, CONFIG_ORIGIN_ENV);
    assert_string_equal(s->name, "AWS_DEFAULT_REGION");
    s = config_source(cfg, 4);
    assert_non_null(s);
    assert_string_equal(s->name, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    assert_null(config_source(cfg, 5));
    config_free(cfg);

    /* An empty conf.d, and a config file that is absent (not required). */
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(unlink(ini), 0);
    clear_env();
    in.n_overlays = 0;
    cfg = load(&in);
    s = config_source(cfg, 0);
    assert_non_null(s);
    assert_string_equal(s->name, ini);
    assert_int_equal(s->present, 0);
    s = config_source(cfg, 1);
    assert_non_null(s);
    assert_string_equal(s->name, dir);
    assert_int_equal(s->is_dir, 1);
    assert_int_equal(s->present, 1);
    assert_null(config_source(cfg, 2));
    assert_string_equal(origin_of(cfg, "agent.deadline", 0), "default");
    config_free(cfg);
    assert_null(config_source(NULL, 0));
}

/* config_dump_origins(): every value of config_dump(), after its origin, secrets masked. */
static void
test_dump_origins(void **state)
{
    const char *text = "[licence]\nkey = LIC-DUMP-SECRET-2\n[tls]\nprivate_key = ssm:/wcs/key\n"
                       "[register]\nclassic_elb = elb-a\nclassic_elb = elb-b\n";
    struct config_input in;
    struct agent_config *cfg = NULL;
    struct config_diag d = {0};
    struct buf plain, with;
    size_t n_plain = 0, n_with = 0, i;

    (void)state;
    memset(&in, 0, sizeof(in));
    assert_int_equal(config_load_string("cfg", text, strlen(text), &in, &cfg, &d), AGENT_OK);
    buf_init(&plain, 1 << 20);
    buf_init(&with, 1 << 20);
    assert_int_equal(config_dump(cfg, &plain), AGENT_OK);
    assert_int_equal(config_dump_origins(cfg, &with), AGENT_OK);
    assert_non_null(strstr(buf_cstr(&with), "file:cfg:2\tlicence.key = ***\n"));
    assert_non_null(strstr(buf_cstr(&with), "file:cfg:4\ttls.private_key = ssm:/wcs/key\n"));
    assert_non_null(strstr(buf_cstr(&with), "file:cfg:6\tregister.classic_elb = elb-a\n"
                                            "file:cfg:7\tregister.classic_elb = elb-b\n"));
    assert_non_null(strstr(buf_cstr(&with), "default\ttls.keystore_password = ***\n"));
    assert_non_null(strstr(buf_cstr(&with), "default\tsignal.lifecycle_hook =\n"));
    assert_non_null(strstr(buf_cstr(&with), "default\tproperties.ip = {public_or_local_ipv4}\n"));
    assert_null(strstr(buf_cstr(&with), "LIC-DUMP-SECRET-2"));
    assert_null(strstr(buf_cstr(&with), "["));
    /* One line per "key = value" line of the plain dump. */
    for (i = 0; i < plain.len; i++)
        n_plain += plain.data[i] == '=' && plain.data[i - 1] == ' ';
    for (i = 0; i < with.len; i++)
        n_with += with.data[i] == '\n';
    assert_int_equal(n_with, n_plain);
    buf_cleanup(&plain);
    buf_cleanup(&with);
    config_free(cfg);
}

static void
test_format(void **state)
{
    struct config_origin o = {CONFIG_ORIGIN_FILE, "/etc/wcs-agent/agent.ini", 12};
    char out[64];

    (void)state;
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "file:/etc/wcs-agent/agent.ini:12");
    config_origin_format(&o, out, 10);
    assert_string_equal(out, "file:/etc");
    o.kind = CONFIG_ORIGIN_USER_DATA;
    o.name = "user-data";
    o.line = 4;
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "user-data:4");
    o.kind = CONFIG_ORIGIN_ENV;
    o.name = "AWS_REGION";
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "env:AWS_REGION");
    o.kind = CONFIG_ORIGIN_SET;
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "--set");
    o.name = "--state-dir";
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "--state-dir");
    o.kind = CONFIG_ORIGIN_DEFAULT;
    config_origin_format(&o, out, sizeof(out));
    assert_string_equal(out, "default");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_origins, setup, teardown),
        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
