/*
 * Unit tests of wcs/cdn: the CDN/[properties] rendering table, the
 * configure write path (.bak, owner and mode kept, nothing written when
 * unchanged, dry run, symbolic link), the heap in wcs-core.properties
 * (sizes, shares of MemTotal, keep, token and section handling), MemTotal
 * parsing, and the unified diff (fixed cases and random ones applied back
 * and checked for a minimal edit count).
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
#include "wcs/cdn.h"

static int
setup(void **state)
{
    (void)state;
    return fx_setup("test_cdn", 1);
}

static int
teardown(void **state)
{
    (void)state;
    fx_teardown();
    return 0;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* The file's bytes (a static buffer), or NULL when it does not exist. */
static const char *
read_text(const char *path)
{
    static struct buf b;

    buf_cleanup(&b);
    buf_init(&b, 8u * 1024u * 1024u);
    if (fileio_read(path, &b) == AGENT_ERR_ABSENT)
        return NULL;
    return buf_cstr(&b);
}

static void
assert_text(const char *got, const char *want)
{
    if (got == NULL)
        fail_msg("no file, wanted:\n%s", want);
    if (strcmp(got, want) != 0)
        fail_msg("--- got ---\n%s\n--- want ---\n%s\n", got, want);
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

/* The diff with "PATH" standing for the file's path without its leading '/'. */
static void
assert_diff(const struct buf *diff, const char *tmpl, const char *path)
{
    struct buf want;
    const char *p;

    buf_init(&want, 1u << 20);
    while (*path == '/')
        path++;
    for (p = tmpl; *p != '\0';) {
        if (strncmp(p, "PATH", 4) == 0) {
            buf_puts(&want, path);
            p += 4;
        } else {
            buf_putc(&want, *p++);
        }
    }
    assert_text(buf_cstr(diff), buf_cstr(&want));
    buf_cleanup(&want);
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
    write_file(path, props_in, 0640);
    edge_edits(&e);

    /* Dry run: the diff, nothing written. */
    buf_init(&diff, 1u << 20);
    assert_int_equal(wcs_configure_props(path, &e, 1, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_diff(&diff, props_diff, path);
    assert_text(read_text(path), props_in);
    assert_null(read_text(bak));

    /* The real run: .bak with the old bytes and mode, the file with owner and mode kept. */
    if (geteuid() == 0)
        assert_int_equal(chown(path, 1234, 4321), 0);
    assert_int_equal(stat(path, &st), 0);
    changed = -1;
    assert_int_equal(wcs_configure_props(path, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_text(read_text(path), props_want);
    assert_text(read_text(bak), props_in);
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
    assert_text(read_text(bak), props_in);

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
    write_file(real, "a=1\nb = 2\n#b=3\nb=4\nc=5", 0600);
    assert_int_equal(symlink("real.properties", link), 0);
    wcs_edits_init(&e);
    assert_int_equal(wcs_edits_set(&e, "b", NULL), AGENT_OK);
    assert_int_equal(wcs_edits_set(&e, "missing", NULL), AGENT_OK);
    assert_int_equal(wcs_configure_props(link, &e, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_text(read_text(real), "a=1\n#b=3\nc=5");
    assert_text(read_text(fx_path("real.properties.bak")), "a=1\nb = 2\n#b=3\nb=4\nc=5");
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
    assert_null(read_text(fx_path("big.properties.bak")));
    fx_logged();
    assert_int_equal(wcs_configure_props(NULL, &e, 0, NULL, &changed), AGENT_ERR_INVAL);
    wcs_edits_cleanup(&e);
}

/* Heap ------------------------------------------------------------------ */

static void
test_heap_value(void **state)
{
    static const struct {
        const char *heap;
        long mem_kb;
        enum agent_rc rc;
        const char *want;
    } t[] = {
        {"keep", 0, AGENT_ERR_ABSENT, NULL},
        {"4g", 0, AGENT_OK, "4g"},
        {"4G", 0, AGENT_OK, "4g"},
        {"512M", 0, AGENT_OK, "512m"},
        {"1048576k", 0, AGENT_OK, "1048576k"},
        {"2147483648", 0, AGENT_OK, "2147483648"},
        {"50%", 16318412, AGENT_OK, "7967m"},   /* 16318412 kB * 50% = 7967.98 MiB */
        {"100%", 16318412, AGENT_OK, "15935m"}, /* 15935.95 MiB, rounded down */
        {"1%", 16318412, AGENT_OK, "159m"},
        {"25%", 1048576, AGENT_OK, "256m"},
        {"6%", 1048576, AGENT_ERR_CONFIG, NULL}, /* 61 MiB < WCS_HEAP_MIN_MB */
        {"7%", 1048576, AGENT_OK, "71m"},
        {"50%", 0, AGENT_ERR_CONFIG, NULL},
        {"0%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"101%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"%", 16318412, AGENT_ERR_CONFIG, NULL},
        {"-4g", 0, AGENT_ERR_CONFIG, NULL},
        {"+4g", 0, AGENT_ERR_CONFIG, NULL},
        {"4t", 0, AGENT_ERR_CONFIG, NULL},
        {"4 g", 0, AGENT_ERR_CONFIG, NULL},
        {"g", 0, AGENT_ERR_CONFIG, NULL},
        {"0g", 0, AGENT_ERR_CONFIG, NULL},
        {"", 0, AGENT_ERR_CONFIG, NULL},
        {"Keep", 0, AGENT_ERR_CONFIG, NULL},
        {"12345678901234567890123456789012g", 0, AGENT_ERR_CONFIG, NULL},
    };

    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum agent_rc rc = wcs_heap_value(t[i].heap, t[i].mem_kb, out, sizeof(out));

        if (rc != t[i].rc)
            fail_msg("\"%s\": rc %d, wanted %d", t[i].heap, rc, t[i].rc);
        if (rc == AGENT_OK)
            assert_string_equal(out, t[i].want);
    }
    assert_int_equal(wcs_heap_value("4g", 0, out, 2), AGENT_ERR_TOOBIG);
}

/* The S5 sample (wcs.md §2), shortened. */
static const char core_in[] = "### SERVER OPTIONS ###\n"
                              "# Set this property to false to disable session debug\n"
                              "-DsessionDebugEnabled=false\n"
                              "\n"
                              "### JVM OPTIONS ###\n"
                              "-Xmx1024M\n"
                              "#-Xcheck:jni\n"
                              "#-Xmx8g\n"
                              "-XX:+UseConcMarkSweepGC\n"
                              "-Djava.net.preferIPv4Stack=true\n";

static const char core_want[] = "### SERVER OPTIONS ###\n"
                                "# Set this property to false to disable session debug\n"
                                "-DsessionDebugEnabled=false\n"
                                "\n"
                                "### JVM OPTIONS ###\n"
                                "-Xms7967m\n"
                                "-Xmx7967m\n"
                                "#-Xcheck:jni\n"
                                "#-Xmx8g\n"
                                "-XX:+UseConcMarkSweepGC\n"
                                "-Djava.net.preferIPv4Stack=true\n";

static void
test_configure_heap(void **state)
{
    const char *path = fx_path("wcs-core.properties"), *bak = fx_path("wcs-core.properties.bak");
    struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    struct buf diff;
    struct stat st;
    int changed = -1;

    (void)state;
    write_file(path, core_in, 0664);
    buf_init(&diff, 1u << 20);
    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 1, &diff, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_diff(
        &diff,
        "--- a/PATH\n+++ b/PATH\n@@ -3,7 +3,8 @@\n -DsessionDebugEnabled=false\n \n "
        "### JVM OPTIONS ###\n--Xmx1024M\n+-Xms7967m\n+-Xmx7967m\n #-Xcheck:jni\n #-Xmx8g\n "
        "-XX:+UseConcMarkSweepGC\n",
        path);
    assert_text(read_text(path), core_in);

    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_text(read_text(path), core_want);
    assert_text(read_text(bak), core_in);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0664);

    /* Again: converged, untouched. */
    assert_int_equal(utimensat(AT_FDCWD, path, old_times, 0), 0);
    assert_int_equal(wcs_configure_heap(path, "50%", 16318412, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1000000000);

    /* keep: nothing read or written, even for a missing file. */
    changed = -1;
    assert_int_equal(wcs_configure_heap(fx_path("nope"), "keep", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);
    changed = -1;
    assert_int_equal(wcs_configure_heap(path, "keep", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 0);

    /* A new size replaces the pair in place. */
    assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
    assert_int_equal(changed, 1);
    assert_non_null(strstr(read_text(path), "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n#-Xcheck:jni\n"));

    /* Bad values are configuration errors naming wcs.heap; a missing file is ABSENT. */
    fx_logged();
    assert_int_equal(wcs_configure_heap(path, "200%", 16318412, 0, NULL, &changed),
                     AGENT_ERR_CONFIG);
    assert_non_null(strstr(fx_logged(), "wcs.heap = 200%"));
    assert_int_equal(wcs_configure_heap(fx_path("nope"), "4g", 0, 0, NULL, &changed),
                     AGENT_ERR_ABSENT);
    fx_logged();
    buf_cleanup(&diff);
}

static void
test_heap_layouts(void **state)
{
    static const struct {
        const char *name, *in, *want;
    } t[] = {
        {"several tokens on one line",
         "### JVM OPTIONS ###\n-server -Xms512m -Xmx1g -XX:+UseG1GC\n-Xmx2g\n",
         "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-server -XX:+UseG1GC\n"},
        {"indented and lone tokens", "### JVM OPTIONS ###\n  -Xms1g\n\t-Xmx1g  \n-Dx=1\n",
         "### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-Dx=1\n"},
        {"no heap yet: after the JVM header",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Db=2\n",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n-Db=2\n"},
        {"JVM header last, unterminated", "-Db=2\n### JVM OPTIONS ###",
         "-Db=2\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"no headers: at the end", "-Db=2\n# comment", "-Db=2\n# comment\n-Xms4g\n-Xmx4g\n"},
        {"only a server part: a JVM header first", "### SERVER OPTIONS ###\n-Da=1\n",
         "### SERVER OPTIONS ###\n-Da=1\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"server part options stay",
         "### SERVER OPTIONS ###\n-Xmx9g\n### JVM OPTIONS ###\n-Xmx1g\n",
         "### SERVER OPTIONS ###\n-Xmx9g\n### JVM OPTIONS ###\n-Xms4g\n-Xmx4g\n"},
        {"JVM options before any header count", "-Xmx1g\n### SERVER OPTIONS ###\n-Da=1\n",
         "-Xms4g\n-Xmx4g\n### SERVER OPTIONS ###\n-Da=1\n"},
        {"comments stay", "#-Xmx1g\n # -Xms1g\n", "#-Xmx1g\n # -Xms1g\n-Xms4g\n-Xmx4g\n"},
        {"CRLF file", "### JVM OPTIONS ###\r\n-Xmx1g\r\n-Da=1\r\n",
         "### JVM OPTIONS ###\r\n-Xms4g\r\n-Xmx4g\r\n-Da=1\r\n"},
        {"empty file", "", "-Xms4g\n-Xmx4g\n"},
        {"-XX:MaxHeapSize is not -Xmx", "-XX:MaxHeapSize=1g\n",
         "-XX:MaxHeapSize=1g\n-Xms4g\n-Xmx4g\n"},
    };

    const char *path = fx_path("layout.properties");
    size_t i;
    int changed;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        write_file(path, t[i].in, 0644);
        changed = -1;
        assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
        assert_int_equal(changed, 1);
        if (strcmp(read_text(path), t[i].want) != 0)
            fail_msg("%s:\n--- got ---\n%s\n--- want ---\n%s", t[i].name, read_text(path),
                     t[i].want);
        /* Idempotent. */
        assert_int_equal(wcs_configure_heap(path, "4g", 0, 0, NULL, &changed), AGENT_OK);
        if (changed != 0)
            fail_msg("%s: not idempotent:\n%s", t[i].name, read_text(path));
    }
}

static void
test_meminfo(void **state)
{
    const char *path = fx_path("meminfo");
    long kb = 0;

    (void)state;
    write_file(path, "MemFree:  100 kB\nMemTotal:       16318412 kB\nBuffers: 5 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_OK);
    assert_int_equal(kb, 16318412);
    write_file(path, "MemTotal: 2048 kB", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_OK);
    assert_int_equal(kb, 2048);
    kb = 5;
    write_file(path, "MemFree: 100 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_ABSENT);
    write_file(path, "MemTotal: lots kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    write_file(path, "MemTotal: 100 MB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    write_file(path, "MemTotal: -100 kB\n", 0644);
    assert_int_equal(wcs_meminfo_total_kb(path, &kb), AGENT_ERR_PARSE);
    assert_int_equal(kb, 5);
    assert_int_equal(wcs_meminfo_total_kb(fx_path("nomeminfo"), &kb), AGENT_ERR_ABSENT);
    assert_non_null(strstr(fx_logged(), "cannot size wcs.heap"));
    /* The real one, when there is one. */
    if (access("/proc/meminfo", R_OK) == 0) {
        assert_int_equal(wcs_meminfo_total_kb(NULL, &kb), AGENT_OK);
        assert_true(kb > 0);
    }
}

/* Diff ------------------------------------------------------------------ */

static void
test_diff_cases(void **state)
{
    static const struct {
        const char *a, *b, *want;
    } t[] = {
        {"a\n", "a\n", ""},
        {"", "x\n", "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+x\n"},
        {"x\n", "", "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-x\n"},
        {"a\nb\nc\n", "a\nB\nc\n", "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
        {"a\nb", "a\nb\n",
         "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
        {"a\r\nb\r\n", "a\r\nc\r\n", "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"},
        /* Two hunks: more than 2 x 3 equal lines between the changes. */
        {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n",
         "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n"
         "-10\n+Y\n"},
        /* One hunk: exactly 6 equal lines between them. */
        {"1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n",
         "--- a/f\n+++ b/f\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"},
        {"a\nb\nc\nd\n", "a\nc\nd\ne\n", "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n a\n-b\n c\n d\n+e\n"},
    };
    struct buf out;
    size_t i;

    (void)state;
    buf_init(&out, 1u << 16);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_reset(&out);
        assert_int_equal(
            wcs_diff_unified("/f", t[i].a, strlen(t[i].a), t[i].b, strlen(t[i].b), &out), AGENT_OK);
        if (strcmp(buf_cstr(&out), t[i].want) != 0)
            fail_msg("case %zu:\n--- got ---\n%s\n--- want ---\n%s", i, buf_cstr(&out), t[i].want);
    }
    /* Over the cap: TOOBIG, out unchanged. */
    buf_cleanup(&out);
    buf_init(&out, 10);
    assert_int_equal(buf_puts(&out, "keep"), AGENT_OK);
    assert_int_equal(wcs_diff_unified("f", "a\n", 2, "b\n", 2, &out), AGENT_ERR_TOOBIG);
    assert_string_equal(buf_cstr(&out), "keep");
    buf_cleanup(&out);
}

/* Applies a unified diff of this module to a; the result in out.  0 on success. */
static int
apply_diff(const char *a, const char *diff, struct buf *out)
{
    const char *p = diff, *ap = a, *nl;
    unsigned long os, oc, ns, nc;
    size_t copied = 0;

    if (*diff == '\0') {
        buf_puts(out, a);
        return 0;
    }
    p = strchr(p, '\n') + 1;
    p = strchr(p, '\n') + 1;
    while (*p != '\0') {
        if (sscanf(p, "@@ -%lu,%lu +%lu,%lu @@", &os, &oc, &ns, &nc) != 4) {
            oc = 1;
            if (sscanf(p, "@@ -%lu +%lu,%lu @@", &os, &ns, &nc) != 3 &&
                sscanf(p, "@@ -%lu,%lu +%lu @@", &os, &oc, &ns) != 3 &&
                sscanf(p, "@@ -%lu +%lu @@", &os, &ns) != 2)
                return -1;
        }
        if (oc != 0)
            os--;
        /* Copy the old lines before the hunk. */
        while (copied < os) {
            nl = strchr(ap, '\n');
            nl = nl != NULL ? nl + 1 : ap + strlen(ap);
            buf_append(out, ap, (size_t)(nl - ap));
            ap = nl;
            copied++;
        }
        p = strchr(p, '\n') + 1;
        while (*p == ' ' || *p == '-' || *p == '+') {
            char tag = *p++;
            size_t n;
            int nonl;

            nl = strchr(p, '\n');
            n = (size_t)(nl - p) + 1;
            nonl = strncmp(nl + 1, "\\ No newline", 12) == 0;
            if (nonl)
                n--;
            if (tag != '+') {
                if (strncmp(ap, p, n) != 0)
                    return -2;
                ap += n;
                copied++;
            }
            if (tag != '-')
                buf_append(out, p, n);
            p = nl + 1;
            if (nonl)
                p = strchr(p, '\n') + 1;
        }
    }
    buf_puts(out, ap);
    return 0;
}

/* The number of lines that differ in a minimal edit: n + m - 2 LCS. */
static size_t
min_changes(char **la, size_t n, char **lb, size_t m)
{
    size_t *row = calloc((n + 1) * (m + 1), sizeof(size_t)), i, j, r;

    assert_non_null(row);
    for (i = 1; i <= n; i++) {
        for (j = 1; j <= m; j++) {
            if (strcmp(la[i - 1], lb[j - 1]) == 0)
                row[i * (m + 1) + j] = row[(i - 1) * (m + 1) + j - 1] + 1;
            else
                row[i * (m + 1) + j] = row[(i - 1) * (m + 1) + j] > row[i * (m + 1) + j - 1]
                                           ? row[(i - 1) * (m + 1) + j]
                                           : row[i * (m + 1) + j - 1];
        }
    }
    r = n + m - 2 * row[n * (m + 1) + m];
    free(row);
    return r;
}

static void
test_diff_random(void **state)
{
    static const char *const words[] = {"a\n", "b\n", "c\n", "d\n", "e\n"};
    char *la[40], *lb[40];
    struct buf a, b, d, back;
    size_t n, m, i, changes;
    const char *p;
    int round;

    (void)state;
    srand(12345);
    buf_init(&a, 1u << 16);
    buf_init(&b, 1u << 16);
    buf_init(&d, 1u << 20);
    buf_init(&back, 1u << 16);
    for (round = 0; round < 2000; round++) {
        buf_reset(&a);
        buf_reset(&b);
        buf_reset(&d);
        buf_reset(&back);
        n = (size_t)(rand() % 30);
        m = (size_t)(rand() % 30);
        for (i = 0; i < n; i++) {
            la[i] = (char *)(uintptr_t)words[rand() % 5];
            buf_puts(&a, la[i]);
        }
        /* b: often a mutation of a, sometimes unrelated. */
        for (i = 0; i < m; i++) {
            lb[i] = (char *)(uintptr_t)((i < n && rand() % 4 != 0) ? la[i] : words[rand() % 5]);
            buf_puts(&b, lb[i]);
        }
        if (round % 7 == 0 && b.len > 0)
            b.data[--b.len] = '\0'; /* no newline at the end */
        assert_int_equal(wcs_diff_unified("f", buf_cstr(&a), a.len, buf_cstr(&b), b.len, &d),
                         AGENT_OK);
        if (apply_diff(buf_cstr(&a), buf_cstr(&d), &back) != 0 ||
            strcmp(buf_cstr(&back), buf_cstr(&b)) != 0)
            fail_msg("round %d: the diff does not apply:\n%s\n--- a ---\n%s--- b ---\n%s", round,
                     buf_cstr(&d), buf_cstr(&a), buf_cstr(&b));
        /* Minimal: as many -/+ lines as n + m - 2 LCS (the lines compared with newlines). */
        if (round % 7 != 0) {
            changes = 0;
            for (p = buf_cstr(&d); *p != '\0'; p = strchr(p, '\n') + 1) {
                if ((*p == '-' && strncmp(p, "---", 3) != 0) ||
                    (*p == '+' && strncmp(p, "+++", 3) != 0))
                    changes++;
            }
            assert_int_equal(changes, min_changes(la, n, lb, m));
        }
    }
    buf_cleanup(&a);
    buf_cleanup(&b);
    buf_cleanup(&d);
    buf_cleanup(&back);
}

static void
test_diff_large(void **state)
{
    struct buf a, b, d, back;
    int i;

    (void)state;
    /* 3000 lines all different: past the search limit, one hunk replaces the middle. */
    buf_init(&a, 1u << 20);
    buf_init(&b, 1u << 20);
    buf_init(&d, 1u << 22);
    buf_init(&back, 1u << 20);
    buf_puts(&a, "head\n");
    buf_puts(&b, "head\n");
    for (i = 0; i < 3000; i++) {
        buf_printf(&a, "old %d\n", i);
        buf_printf(&b, "new %d\n", i);
    }
    buf_puts(&a, "tail\n");
    buf_puts(&b, "tail\n");
    assert_int_equal(wcs_diff_unified("f", a.data, a.len, b.data, b.len, &d), AGENT_OK);
    assert_non_null(strstr(d.data, "@@ -1,3002 +1,3002 @@\n head\n-old 0\n"));
    assert_int_equal(apply_diff(a.data, d.data, &back), 0);
    assert_string_equal(back.data, b.data);
    buf_cleanup(&a);
    buf_cleanup(&b);
    buf_cleanup(&d);
    buf_cleanup(&back);
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
        cmocka_unit_test(test_configure_errors),
        cmocka_unit_test(test_heap_value),
        cmocka_unit_test(test_configure_heap),
        cmocka_unit_test(test_heap_layouts),
        cmocka_unit_test(test_meminfo),
        cmocka_unit_test(test_diff_cases),
        cmocka_unit_test(test_diff_random),
        cmocka_unit_test(test_diff_large),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
