/*
 * Tests of wcs/tarball: a table of GNU tar listings for
 * tarball_check_listing() (the unpacking itself is exercised with real
 * tarballs by test_update.c).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rc.h"
#include "wcs/tarball.h"

#define D "drwxr-xr-x 0/0               0 2026-11-27 00:45 "
#define F "-rw-r--r-- 0/0              10 2026-11-27 00:45 "
#define X "-rwxr-xr-x 0/0              18 2026-11-27 00:45 "
#define L "lrwxrwxrwx 0/0               0 2026-11-27 00:45 "
#define H "hrw-r--r-- 0/0               0 2026-11-27 00:45 "
#define P "prw-r--r-- 0/0               0 2026-11-27 00:45 "

#define GOOD D "\"top/\"\n" F "\"top/WCS.version\"\n" X "\"top/install.sh\"\n"

struct listing_case {
    const char *text;
    enum agent_rc rc;
    const char *top;     /* expected on success */
    const char *version; /* stored name of WCS.version on success */
    const char *reason;  /* substring of the reason on failure */
};

static const struct listing_case listing_cases[] = {
    {GOOD, AGENT_OK, "top", "top/WCS.version", NULL},
    /* diagnostics are ignored; CRLF tolerated */
    {"tar: Removing leading `/' from member names\n" GOOD, AGENT_OK, "top", "top/WCS.version",
     NULL},
    {D "\"top/\"\r\n" F "\"top/WCS.version\"\r\n" X "\"top/install.sh\"\r\n", AGENT_OK, "top",
     "top/WCS.version", NULL},
    /* "./" prefix and the "./" root entry */
    {D "\"./\"\n" D "\"./top/\"\n" F "\"./top/WCS.version\"\n" X "\"./top/install.sh\"\n", AGENT_OK,
     "top", "./top/WCS.version", NULL},
    /* files at the root */
    {F "\"WCS.version\"\n" X "\"install.sh\"\n" D "\"server/\"\n", AGENT_OK, "", "WCS.version",
     NULL},
    /* WCS.version under conf/ or server/conf/ */
    {D "\"t\"\n" F "\"t/conf/WCS.version\"\n" X "\"t/install.sh\"\n", AGENT_OK, "t",
     "t/conf/WCS.version", NULL},
    {D "\"t\"\n" F "\"t/server/conf/WCS.version\"\n" X "\"t/install.sh\"\n", AGENT_OK, "t",
     "t/server/conf/WCS.version", NULL},
    /* quoted names with escapes, inner symlinks and hard links */
    {GOOD F "\"top/a \\\"b\\\" \\\\c\\n\\303\\251\"\n" L
            "\"top/lib/so/libx.so\" -> \"libx.so.1\"\n" L "\"top/bin/t\" -> \"../tools/t\"\n" L
            "\"top/self\" -> \".\"\n" H "\"top/hard\" link to \"top/WCS.version\"\n",
     AGENT_OK, "top", "top/WCS.version", NULL},
    /* refused entries */
    {GOOD F "\"/etc/passwd\"\n", AGENT_ERR_INVAL, NULL, NULL, "absolute path"},
    {GOOD F "\"../evil\"\n", AGENT_ERR_INVAL, NULL, NULL, "'..'"},
    {GOOD F "\"top/x/../../evil\"\n", AGENT_ERR_INVAL, NULL, NULL, "'..'"},
    {GOOD F "\"top/..\"\n", AGENT_ERR_INVAL, NULL, NULL, "'..'"},
    {GOOD L "\"top/l\" -> \"/etc\"\n", AGENT_ERR_INVAL, NULL, NULL, "symlink to an absolute"},
    {GOOD L "\"top/l\" -> \"../../etc\"\n", AGENT_ERR_INVAL, NULL, NULL, "symlink out"},
    {GOOD L "\"top/a/b/l\" -> \"../../../../x\"\n", AGENT_ERR_INVAL, NULL, NULL, "symlink out"},
    {GOOD L "\"top/l\" -> \"\"\n", AGENT_ERR_INVAL, NULL, NULL, "symlink to an absolute"},
    /* a chain: b -> .. is inside, a -> b/.. would leave through it */
    {GOOD L "\"top/a/b/l\" -> \"../../../x\"\n", AGENT_OK, "top", "top/WCS.version", NULL},
    {GOOD L "\"top/b\" -> \"..\"\n" L "\"top/a\" -> \"b/..\"\n", AGENT_ERR_INVAL, NULL, NULL,
     "symlink out"},
    {GOOD L "\"top/d\" -> \"sub\"\n" F "\"top/d/evil\"\n", AGENT_ERR_INVAL, NULL, NULL,
     "below a symlink"},
    {GOOD H "\"top/h\" link to \"/etc/shadow\"\n", AGENT_ERR_INVAL, NULL, NULL, "hard link out"},
    {GOOD H "\"top/h\" link to \"../x\"\n", AGENT_ERR_INVAL, NULL, NULL, "hard link out"},
    /* a hard link to a name that is not a file of the archive (how GNU tar lists "/etc/x") */
    {GOOD H "\"top/h\" link to \"etc/shadow\"\n", AGENT_ERR_INVAL, NULL, NULL, "hard link out"},
    {GOOD H "\"top/h\" link to \"top\"\n", AGENT_ERR_INVAL, NULL, NULL, "hard link out"},
    /* a hard link copying a symlink to a place where its target leads out */
    {GOOD L "\"top/a/l\" -> \"../x\"\n" H "\"h\" link to \"top/a/l\"\n", AGENT_ERR_INVAL, NULL,
     NULL, "hard link out"},
    {GOOD P "\"top/fifo\"\n", AGENT_ERR_INVAL, NULL, NULL, "unsupported entry type 'p'"},
    {GOOD "crw-r--r-- 0/0 1,3 2026-11-27 00:45 \"top/null\"\n", AGENT_ERR_INVAL, NULL, NULL,
     "unsupported entry type 'c'"},
    /* layout problems */
    {D "\"top/\"\n" F "\"top/WCS.version\"\n", AGENT_ERR_PARSE, NULL, NULL, "no install.sh"},
    {D "\"a/\"\n" D "\"b/\"\n" X "\"a/install.sh\"\n" F "\"a/WCS.version\"\n", AGENT_ERR_PARSE,
     NULL, NULL, "no install.sh"},
    {D "\"top/\"\n" X "\"top/install.sh\"\n", AGENT_ERR_PARSE, NULL, NULL, "no WCS.version"},
    {D "\"top/\"\n" F "\"top/WCS.version\"\n" F "\"top/install.sh\"\n", AGENT_ERR_PARSE, NULL, NULL,
     "not an executable file"},
    {D "\"top/\"\n" L "\"top/WCS.version\" -> \"x\"\n" X "\"top/install.sh\"\n", AGENT_ERR_PARSE,
     NULL, NULL, "not a regular file"},
    {"", AGENT_ERR_PARSE, NULL, NULL, "empty"},
    {"tar: Error is not recoverable\n", AGENT_ERR_PARSE, NULL, NULL, "empty"},
    /* not a GNU tar listing */
    {GOOD "top/plain-name\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
    {GOOD F "\"top/unterminated\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
    {GOOD F "\"top/x\" trailing\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
    {GOOD L "\"top/l\"\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
    {GOOD F "\"top/bad\\q\"\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
    {GOOD F "\"top/nul\\000\"\n", AGENT_ERR_PARSE, NULL, NULL, "not a GNU tar listing line"},
};

static void
test_listing_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(listing_cases) / sizeof(listing_cases[0]); i++) {
        const struct listing_case *c = &listing_cases[i];
        struct tarball_layout lay;
        char reason[256];
        enum agent_rc rc;

        memset(&lay, 0, sizeof(lay));
        rc = tarball_check_listing(c->text, strlen(c->text), &lay, reason, sizeof(reason));
        if (rc != c->rc)
            fail_msg("case %zu: rc %s, want %s (%s)", i, agent_rc_str(rc), agent_rc_str(c->rc),
                     reason);
        if (rc == AGENT_OK) {
            assert_string_equal(lay.top, c->top);
            assert_string_equal(lay.version_member, c->version);
            assert_non_null(strstr(lay.install_member, "install.sh"));
        } else if (strstr(reason, c->reason) == NULL) {
            fail_msg("case %zu: reason '%s', want '%s'", i, reason, c->reason);
        }
        tarball_layout_free(&lay);
    }
    /* The text need not be NUL-terminated. */
    {
        struct tarball_layout lay;
        char *t = malloc(strlen(GOOD));

        assert_non_null(t);
        memcpy(t, GOOD, strlen(GOOD));
        assert_int_equal(tarball_check_listing(t, strlen(GOOD), &lay, NULL, 0), AGENT_OK);
        tarball_layout_free(&lay);
        free(t);
    }
}

/* The regular files' sizes add up (links, folders and hard links count nothing); a file
 * line without a size is refused; the sum saturates rather than wraps. */
static void
test_listing_bytes(void **state)
{
    static const char big[] =
        GOOD "-rw-r--r-- 0/0 18000000000000000000 2026-11-27 00:45 \"top/a\"\n"
             "-rw-r--r-- 0/0 18000000000000000000 2026-11-27 00:45 \"top/b\"\n";
    static const char sized[] =
        GOOD "-rw-r--r-- 1000/1000 4294967296 2026-11-27 00:45 \"top/big\"\n"
             "Srw-r--r-- 0/0            123 2026-11-27 00:45 \"top/sparse\"\n" L
             "\"top/l\" -> \"big\"\n" H "\"top/h\" link to \"top/big\"\n";
    static const char nosize[] = GOOD "-rw-r--r-- 0/0 2026-11-27 00:45 \"top/x\"\n";
    static const char huge[] =
        GOOD "-rw-r--r-- 0/0 99999999999999999999 2026-11-27 00:45 \"top/x\"\n";
    struct tarball_layout lay;
    char reason[256];

    (void)state;
    memset(&lay, 0, sizeof(lay));
    assert_int_equal(tarball_check_listing(GOOD, strlen(GOOD), &lay, reason, sizeof(reason)),
                     AGENT_OK);
    assert_true(lay.bytes == 28);
    tarball_layout_free(&lay);
    assert_int_equal(tarball_check_listing(sized, strlen(sized), &lay, reason, sizeof(reason)),
                     AGENT_OK);
    assert_true(lay.bytes == 28ULL + 4294967296ULL + 123ULL);
    tarball_layout_free(&lay);
    assert_int_equal(tarball_check_listing(big, strlen(big), &lay, reason, sizeof(reason)),
                     AGENT_OK);
    assert_true(lay.bytes == ULLONG_MAX);
    tarball_layout_free(&lay);
    assert_int_equal(tarball_check_listing(nosize, strlen(nosize), &lay, reason, sizeof(reason)),
                     AGENT_ERR_PARSE);
    assert_non_null(strstr(reason, "not a GNU tar listing line"));
    assert_int_equal(tarball_check_listing(huge, strlen(huge), &lay, reason, sizeof(reason)),
                     AGENT_ERR_PARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing_table),
        cmocka_unit_test(test_listing_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
