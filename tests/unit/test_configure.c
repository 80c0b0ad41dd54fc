/*
 * Unit tests of wcs/configure: the CDN/[properties] rendering table and the
 * configure write path (.bak, owner and mode kept, nothing written when
 * unchanged, dry run, symbolic link).
 */
/* nftw() */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"
#include "fixture.h"
#include "wcs/configure.h"

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_configure", 1);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

/* Rendering ------------------------------------------------------------- */

struct render_case {
    const char *name;
    enum config_cdn_role role;
    const char *ip, *poe, *groups, *local, *public;
    const char *props[6]; /* key, value pairs */
    enum agent_rc rc;
    const char *want; /* "k=v;k=;!k" list: '!' = remove; or the reason substring */
};

static const struct render_case render_cases[] = {
    {"unset, nothing",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_OK,
     ""},
    {"unset with cdn poe ignored",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     "10.0.0.5",
     "EU",
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_OK,
     ""},
    {"off",
     CONFIG_CDN_OFF,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_OK,
     "cdn_enabled=false"},
    {"origin alone",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     "203.0.113.9",
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=origin;cdn_ip=10.0.0.5;!cdn_point_of_entry;!cdn_groups"},
    {"origin joining another",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "10.0.0.6",
     "EU,GPU",
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=origin;cdn_ip=10.0.0.5;cdn_point_of_entry=10.0.0.6;cdn_groups=EU,"
     "GPU"},
    {"origin at its cdn ip",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "10.0.0.5",
     NULL,
     "10.0.0.9",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "own address (cdn.ip)"},
    {"origin at its cdn name, other case",
     CONFIG_CDN_ORIGIN,
     "Origin.Example.com",
     " origin.example.COM ",
     NULL,
     "10.0.0.9",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "own address (cdn.ip)"},
    {"origin at its private ip",
     CONFIG_CDN_ORIGIN,
     "origin.example.com",
     "10.0.0.9",
     NULL,
     "10.0.0.9",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "own address (its private address)"},
    {"origin at its public ip",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "203.0.113.9",
     NULL,
     "10.0.0.5",
     "203.0.113.9",
     {NULL},
     AGENT_ERR_CONFIG,
     "own address (its public address)"},
    {"origin at loopback",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "127.0.0.1",
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "loopback"},
    {"origin at localhost",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "localhost",
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "loopback"},
    {"origin at 0.0.0.0",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "0.0.0.0",
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "loopback"},
    {"origin blank poe = not given",
     CONFIG_CDN_ORIGIN,
     "10.0.0.5",
     "  ",
     NULL,
     "10.0.0.5",
     NULL,
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=origin;cdn_ip=10.0.0.5;!cdn_point_of_entry;!cdn_groups"},
    {"edge",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "origin.internal",
     "EU",
     "10.0.1.23",
     "203.0.113.10",
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=edge;cdn_ip=10.0.1.23;cdn_point_of_entry=origin.internal;cdn_"
     "groups=EU"},
    {"edge without point of entry",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     NULL,
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "cdn.point_of_entry is required when cdn.role = edge"},
    {"transcoder without point of entry",
     CONFIG_CDN_TRANSCODER,
     "10.0.1.23",
     "",
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "cdn.point_of_entry is required when cdn.role = transcoder"},
    {"transcoder",
     CONFIG_CDN_TRANSCODER,
     "10.0.1.24",
     "10.0.0.5",
     NULL,
     "10.0.1.24",
     NULL,
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=transcoder;cdn_ip=10.0.1.24;cdn_point_of_entry=10.0.0.5;!cdn_"
     "groups"},
    {"edge pointing at itself",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "10.0.1.23",
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "own address"},
    {"edge may use a loopback origin (tests)",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "127.0.0.2",
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=edge;cdn_ip=10.0.1.23;cdn_point_of_entry=127.0.0.2;!cdn_groups"},
    {"edge without cdn ip",
     CONFIG_CDN_EDGE,
     "",
     "10.0.0.5",
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "cdn.ip is empty"},
    {"properties set and removed",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {"ip", "203.0.113.9", "ip_local", "10.0.0.5", "hold_ip_settings", ""},
     AGENT_OK,
     "ip=203.0.113.9;ip_local=10.0.0.5;!hold_ip_settings"},
    {"properties after cdn",
     CONFIG_CDN_OFF,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {"ip", "10.0.0.5", NULL},
     AGENT_OK,
     "cdn_enabled=false;ip=10.0.0.5"},
    {"properties cdn key with cdn.role unset",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {"cdn_enabled", "true", "cdn_role", "edge", NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=edge"},
    {"properties conflicting with cdn.role",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "10.0.0.5",
     NULL,
     "10.0.1.23",
     NULL,
     {"cdn_role", "origin", NULL},
     AGENT_ERR_CONFIG,
     "properties.cdn_role conflicts with cdn.role = edge"},
    {"properties conflicting with cdn.role off",
     CONFIG_CDN_OFF,
     "10.0.1.23",
     NULL,
     NULL,
     "10.0.1.23",
     NULL,
     {"cdn_enabled", "true", NULL},
     AGENT_ERR_CONFIG,
     "properties.cdn_enabled conflicts"},
    {"properties key wins over a cdn removal",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "10.0.0.5",
     NULL,
     "10.0.1.23",
     NULL,
     {"cdn_groups", "EU", NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=edge;cdn_ip=10.0.1.23;cdn_point_of_entry=10.0.0.5;cdn_groups=EU"},
    {"other cdn_ key alongside",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "10.0.0.5",
     NULL,
     "10.0.1.23",
     NULL,
     {"cdn_nodes_resolve_ip", "true", NULL},
     AGENT_OK,
     "cdn_enabled=true;cdn_role=edge;cdn_ip=10.0.1.23;cdn_point_of_entry=10.0.0.5;!cdn_groups;cdn_"
     "nodes_resolve_ip=true"},
    {"bad property key",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {"bad key", "1", NULL},
     AGENT_ERR_CONFIG,
     "properties.bad key: \"bad key\" is not a usable"},
    {"property value with newline",
     CONFIG_CDN_UNSET,
     "10.0.0.5",
     NULL,
     NULL,
     "10.0.0.5",
     NULL,
     {"ip", "1.2.3.4\nevil=1", NULL},
     AGENT_ERR_CONFIG,
     "properties.ip: the value holds a line"},
    {"point of entry with newline",
     CONFIG_CDN_EDGE,
     "10.0.1.23",
     "o\ncdn_role=origin",
     NULL,
     "10.0.1.23",
     NULL,
     {NULL},
     AGENT_ERR_CONFIG,
     "cdn.point_of_entry: the value holds a line"},
};

/* The edits as "k=v;!k" text. */
static void
edits_text(const struct wcs_edits *e, char *out, size_t cap)
{
    size_t i, off = 0;

    out[0] = '\0';
    for (i = 0; i < e->n; i++) {
        if (e->items[i].value == NULL)
            off += (size_t)snprintf(out + off, cap - off, "%s!%s", i ? ";" : "", e->items[i].key);
        else
            off += (size_t)snprintf(out + off, cap - off, "%s%s=%s", i ? ";" : "", e->items[i].key,
                                    e->items[i].value);
        assert_true(off < cap);
    }
}

static void
test_render_table(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
        const struct render_case *c = &render_cases[i];
        struct config_prop props[3];
        struct wcs_render_input in = {0};
        struct wcs_edits e;
        char reason[512], got[2048];
        enum agent_rc rc;

        for (j = 0; j < 3 && c->props[2 * j] != NULL; j++) {
            props[j].key = (char *)(uintptr_t)c->props[2 * j];
            props[j].value = (char *)(uintptr_t)c->props[2 * j + 1];
        }
        in.role = c->role;
        in.cdn_ip = c->ip;
        in.point_of_entry = c->poe;
        in.groups = c->groups;
        in.local_ipv4 = c->local;
        in.public_ipv4 = c->public;
        in.props = props;
        in.n_props = j;
        wcs_edits_init(&e);
        snprintf(reason, sizeof(reason), "junk");
        rc = wcs_render_edits(&in, &e, reason, sizeof(reason));
        if (rc != c->rc)
            fail_msg("%s: rc %d, wanted %d (%s)", c->name, rc, c->rc, reason);
        if (rc == AGENT_OK) {
            edits_text(&e, got, sizeof(got));
            if (strcmp(got, c->want) != 0)
                fail_msg("%s:\n got  %s\n want %s", c->name, got, c->want);
            assert_string_equal(reason, "");
        } else {
            if (strstr(reason, c->want) == NULL)
                fail_msg("%s: reason \"%s\" lacks \"%s\"", c->name, reason, c->want);
            /* The refusal is logged once, with the same text. */
            if (strstr(fx_logged(), c->want) == NULL)
                fail_msg("%s: refusal not logged", c->name);
        }
        wcs_edits_cleanup(&e);
    }
    fx_logged();
}

static void
test_render_from_config(void **state)
{
    struct config_prop props[1] = {{(char *)(uintptr_t) "ip", (char *)(uintptr_t) "203.0.113.1"}};
    struct agent_config cfg;
    struct wcs_render_input in;
    struct wcs_edits e;
    char got[512];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.cdn.role = CONFIG_CDN_EDGE;
    cfg.cdn.ip = (char *)(uintptr_t) "10.0.0.7";
    cfg.cdn.point_of_entry = (char *)(uintptr_t) "10.0.0.1";
    cfg.cdn.groups = (char *)(uintptr_t) "EU";
    cfg.properties.items = props;
    cfg.properties.n = 1;
    wcs_render_input_from_config(&cfg, "10.0.0.7", "203.0.113.1", &in);
    assert_ptr_equal(in.cdn_ip, cfg.cdn.ip);
    assert_string_equal(in.public_ipv4, "203.0.113.1");
    wcs_edits_init(&e);
    assert_int_equal(wcs_render_edits(&in, &e, NULL, 0), AGENT_OK);
    edits_text(&e, got, sizeof(got));
    assert_string_equal(got, "cdn_enabled=true;cdn_role=edge;cdn_ip=10.0.0.7;cdn_point_of_entry="
                             "10.0.0.1;cdn_groups=EU;ip=203.0.113.1");
    wcs_edits_cleanup(&e);
    assert_int_equal(wcs_render_edits(NULL, &e, NULL, 0), AGENT_ERR_INVAL);
}

static void
test_edits_set(void **state)
{
    struct wcs_edits e;
    char big[WCS_EDIT_KEY_MAX + 2];

    (void)state;
    wcs_edits_init(&e);
    assert_int_equal(wcs_edits_set(&e, "a", "1"), AGENT_OK);
    assert_int_equal(wcs_edits_set(&e, "b", NULL), AGENT_OK);
    assert_int_equal(wcs_edits_set(&e, "a", NULL), AGENT_OK);
    assert_int_equal(wcs_edits_set(&e, "b", "2"), AGENT_OK);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.items[0].key, "a");
    assert_null(e.items[0].value);
    assert_string_equal(e.items[1].value, "2");
    assert_non_null(wcs_edits_find(&e, "b"));
    assert_null(wcs_edits_find(&e, "c"));
    assert_int_equal(wcs_edits_set(&e, "", "1"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "k=v", "1"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "k:v", "1"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "#k", "1"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "k\tv", "1"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "k", "a\rb"), AGENT_ERR_INVAL);
    assert_int_equal(wcs_edits_set(&e, "k", "a\nb"), AGENT_ERR_INVAL);
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(wcs_edits_set(&e, big, "1"), AGENT_ERR_INVAL);
    big[WCS_EDIT_KEY_MAX] = '\0';
    assert_int_equal(wcs_edits_set(&e, big, "1"), AGENT_OK);
    assert_int_equal(e.n, 3);
    assert_int_equal(wcs_edits_set(NULL, "a", "1"), AGENT_ERR_INVAL);
    wcs_edits_cleanup(&e);
    assert_int_equal(e.n, 0);
    wcs_edits_cleanup(NULL);
}

/* Configure ------------------------------------------------------------- */

static const char props_in[] = "# Config flashphoner.properties\n"
                               "#server ip\n"
                               "ip =198.51.100.7\n"
                               "ip_local=0.0.0.0\n"
                               "media_port_from=31001\n"
                               "#cdn_enabled=true\n"
                               "#cdn_point_of_entry=origin.host\n"
                               "cdn_enabled=false\n"
                               "hold_ip_settings=true\n"
                               "ws.port=8080\n";

static const char props_want[] = "# Config flashphoner.properties\n"
                                 "#server ip\n"
                                 "ip =203.0.113.10\n"
                                 "ip_local=10.0.1.23\n"
                                 "media_port_from=31001\n"
                                 "#cdn_enabled=true\n"
                                 "#cdn_point_of_entry=origin.host\n"
                                 "cdn_enabled=true\n"
                                 "ws.port=8080\n"
                                 "# --- set by wcs-agent ---\n"
                                 "cdn_role=edge\n"
                                 "cdn_ip=10.0.1.23\n"
                                 "cdn_point_of_entry=10.0.0.5\n";

static const char props_diff[] = "--- a/PATH\n"
                                 "+++ b/PATH\n"
                                 "@@ -1,10 +1,13 @@\n"
                                 " # Config flashphoner.properties\n"
                                 " #server ip\n"
                                 "-ip =198.51.100.7\n"
                                 "-ip_local=0.0.0.0\n"
                                 "+ip =203.0.113.10\n"
                                 "+ip_local=10.0.1.23\n"
                                 " media_port_from=31001\n"
                                 " #cdn_enabled=true\n"
                                 " #cdn_point_of_entry=origin.host\n"
                                 "-cdn_enabled=false\n"
                                 "-hold_ip_settings=true\n"
                                 "+cdn_enabled=true\n"
                                 " ws.port=8080\n"
                                 "+# --- set by wcs-agent ---\n"
                                 "+cdn_role=edge\n"
                                 "+cdn_ip=10.0.1.23\n"
                                 "+cdn_point_of_entry=10.0.0.5\n";

static void
edge_edits(struct wcs_edits *e)
{
    struct config_prop props[3] = {
        {(char *)(uintptr_t) "ip", (char *)(uintptr_t) "203.0.113.10"},
        {(char *)(uintptr_t) "ip_local", (char *)(uintptr_t) "10.0.1.23"},
        {(char *)(uintptr_t) "hold_ip_settings", (char *)(uintptr_t) ""},
    };
    struct wcs_render_input in = {0};

    in.role = CONFIG_CDN_EDGE;
    in.cdn_ip = "10.0.1.23";
    in.point_of_entry = "10.0.0.5";
    in.local_ipv4 = "10.0.1.23";
    in.public_ipv4 = "203.0.113.10";
    in.props = props;
    in.n_props = 3;
    wcs_edits_init(e);
    assert_int_equal(wcs_render_edits(&in, e, NULL, 0), AGENT_OK);
}

static void
test_configure_props(void **state)
{
    const char *path = fx_path("flashphoner.properties"),
               *bak = fx_path("flashphoner.properties.bak");
    struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    struct wcs_edits e;
    struct stat st, st2;
    struct buf diff;
    int changed = -1;

    (void)state;
    fx_write_file(path, props_in, 0640);
    edge_edits(&e);

    /* Dry run: the diff, nothing written. */
    buf_init(&diff, 1u << 20);
    assert_int_equal(wcs_configure_props(path, &e, 1, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_assert_diff(&diff, props_diff, path);
    fx_assert_text(fx_read_text(path), props_in);
    assert_null(fx_read_text(bak));

    /*
     * The real run: .bak with the old bytes and mode, the file with owner and mode kept
     * (a file owned by another user than root is refused: test_configure_refuses_unsafe_paths).
     */
    if (geteuid() == 0)
        assert_int_equal(chown(path, 0, 4321), 0);
    assert_int_equal(stat(path, &st), 0);
    changed = -1;
    assert_int_equal(wcs_configure_props(path, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_assert_text(fx_read_text(path), props_want);
    fx_assert_text(fx_read_text(bak), props_in);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_mode & 07777, 0640);
    assert_int_equal(st2.st_uid, st.st_uid);
    assert_int_equal(st2.st_gid, st.st_gid);
    assert_int_not_equal(st2.st_ino, st.st_ino); /* replaced by rename, not rewritten */
    assert_int_equal(stat(bak, &st2), 0);
    assert_int_equal(st2.st_mode & 07777, 0640);
    assert_int_equal(st2.st_uid, st.st_uid);
    assert_int_equal(st2.st_gid, st.st_gid);
    assert_non_null(strstr(fx_logged(), "previous version in"));

    /* Converged: nothing written, the mtime of the file and of the .bak stay. */
    assert_int_equal(utimensat(AT_FDCWD, path, old_times, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, bak, old_times, 0), 0);
    assert_int_equal(stat(path, &st), 0);
    buf_reset(&diff);
    changed = -1;
    assert_int_equal(wcs_configure_props(path, &e, 0, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(diff.len, 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_mtim.tv_sec, 1000000000);
    assert_int_equal(st2.st_ino, st.st_ino);
    assert_int_equal(stat(bak, &st2), 0);
    assert_int_equal(st2.st_mtim.tv_sec, 1000000000);
    fx_assert_text(fx_read_text(bak), props_in);

    /* Dry run on a converged file: unchanged, no diff. */
    assert_int_equal(wcs_configure_props(path, &e, 1, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(diff.len, 0);

    buf_cleanup(&diff);
    wcs_edits_cleanup(&e);
}

static void
test_configure_remove_and_symlink(void **state)
{
    const char *real = fx_path("real.properties"), *link = fx_path("link.properties");
    struct wcs_edits e;
    struct stat st;
    int changed = -1;

    (void)state;
    fx_write_file(real, "a=1\nb = 2\n#b=3\nb=4\nc=5", 0600);
    assert_int_equal(symlink("real.properties", link), 0);
    wcs_edits_init(&e);
    assert_int_equal(wcs_edits_set(&e, "b", NULL), AGENT_OK);
    assert_int_equal(wcs_edits_set(&e, "missing", NULL), AGENT_OK);
    assert_int_equal(wcs_configure_props(link, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_assert_text(fx_read_text(real), "a=1\n#b=3\nc=5");
    fx_assert_text(fx_read_text(fx_path("real.properties.bak")), "a=1\nb = 2\n#b=3\nb=4\nc=5");
    /* The link is still a link. */
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(real, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* Removing what is gone changes nothing. */
    assert_int_equal(wcs_configure_props(link, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    wcs_edits_cleanup(&e);
}

/*
 * Issue 9 item 2: a member of the group that may write conf/ plants a link
 * (or a hard link) to a root file in place of flashphoner.properties; the
 * agent refuses it and neither edits the root file nor writes a .bak of it.
 */
static void
test_configure_refuses_unsafe_paths(void **state)
{
    char conf[300], props[400], target[300], target_bak[320];
    struct wcs_edits e;
    int changed = -1;
    const char *s;

    (void)state;
    if (geteuid() != 0)
        skip();
    snprintf(conf, sizeof(conf), "%s/conf", fx_dir);
    snprintf(props, sizeof(props), "%s/flashphoner.properties", conf);
    snprintf(target, sizeof(target), "%s/root-only", fx_dir);
    snprintf(target_bak, sizeof(target_bak), "%s.bak", target);
    assert_int_equal(mkdir(conf, 0775), 0);
    assert_int_equal(chown(conf, 0, 4242), 0);
    assert_int_equal(chmod(conf, 02775), 0);
    fx_write_file(target, "root:x:0:0\n", 0600);
    edge_edits(&e);

    /* A root-owned regular file in the group-writable folder is the normal case. */
    fx_write_file(props, "ip=1.2.3.4\n", 0664);
    assert_int_equal(wcs_configure_props(props, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    fx_logged();

    /* A symbolic link there, even a root-owned one, could be swapped by the group. */
    assert_int_equal(unlink(props), 0);
    assert_int_equal(symlink(target, props), 0);
    changed = -1;
    assert_int_equal(wcs_configure_props(props, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    assert_int_equal(changed, -1);
    s = fx_logged();
    assert_non_null(strstr(s, "flashphoner.properties is a symbolic link in"));
    assert_non_null(strstr(s, "which group 4242 may write"));
    fx_assert_text(fx_read_text(target), "root:x:0:0\n");
    assert_null(fx_read_text(target_bak));

    /* A hard link to the root file. */
    assert_int_equal(unlink(props), 0);
    assert_int_equal(link(target, props), 0);
    assert_int_equal(wcs_configure_props(props, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    assert_non_null(strstr(fx_logged(), "hard links"));
    fx_assert_text(fx_read_text(target), "root:x:0:0\n");

    /* A file owned by another user. */
    assert_int_equal(unlink(props), 0);
    fx_write_file(props, "ip=1.2.3.4\n", 0664);
    assert_int_equal(chown(props, 65534, 4242), 0);
    assert_int_equal(wcs_configure_props(props, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    assert_non_null(strstr(fx_logged(), "owned by user 65534"));
    fx_assert_text(fx_read_text(props), "ip=1.2.3.4\n");
    wcs_edits_cleanup(&e);
}

static void
test_configure_errors(void **state)
{
    struct wcs_edits e;
    int changed = 7;
    const char *path = fx_path("big.properties");
    char *big;
    int fd;

    (void)state;
    wcs_edits_init(&e);
    assert_int_equal(wcs_edits_set(&e, "a", "1"), AGENT_OK);
    assert_int_equal(wcs_configure_props(fx_path("absent.properties"), &e, 0, NULL, &changed),
                     AGENT_ERR_ABSENT);
    assert_int_equal(changed, 7);
    assert_non_null(strstr(fx_logged(), "absent.properties: not found"));
    assert_int_equal(wcs_configure_props(fx_dir, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    assert_non_null(strstr(fx_logged(), "not a regular file"));

    /* Over the cap: refused, not truncated. */
    big = malloc(WCS_CONF_MAX + 2);
    assert_non_null(big);
    memset(big, '#', WCS_CONF_MAX + 1);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, WCS_CONF_MAX + 1), (ssize_t)WCS_CONF_MAX + 1);
    close(fd);
    free(big);
    assert_int_equal(wcs_configure_props(path, &e, 0, NULL, &changed), AGENT_ERR_TOOBIG);
    assert_null(fx_read_text(fx_path("big.properties.bak")));
    fx_logged();
    assert_int_equal(wcs_configure_props(NULL, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    wcs_edits_cleanup(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_table),
        cmocka_unit_test(test_render_from_config),
        cmocka_unit_test(test_edits_set),
        cmocka_unit_test(test_configure_props),
        cmocka_unit_test(test_configure_remove_and_symlink),
        cmocka_unit_test(test_configure_refuses_unsafe_paths),
        cmocka_unit_test(test_configure_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
