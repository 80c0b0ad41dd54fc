/*
 * Fuzz target: the tar listing checks of wcs/update.  Any input must give a
 * defined code; an accepted listing must name an install.sh and a
 * WCS.version inside its top folder, neither absolute nor with a ".."
 * component.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wcs/tarball.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
has_dotdot(const char *s)
{
    const char *p = s;

    for (;;) {
        p = strstr(p, "..");
        if (p == NULL)
            break;
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
        p += 2;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tarball_layout lay;
    char reason[128];
    enum agent_rc rc;

    memset(&lay, 0, sizeof(lay));
    rc = tarball_check_listing((const char *)data, size, &lay, reason, sizeof(reason));
    if (memchr(reason, '\0', sizeof(reason)) == NULL)
        abort();
    if (rc == AGENT_OK) {
        if (lay.top == NULL || lay.install_member == NULL || lay.version_member == NULL ||
            lay.entries == 0)
            abort();
        if (lay.version_member[0] == '/' || lay.install_member[0] == '/' ||
            has_dotdot(lay.version_member) || has_dotdot(lay.install_member) ||
            strstr(lay.version_member, "WCS.version") == NULL ||
            strstr(lay.install_member, "install.sh") == NULL ||
            strstr(lay.version_member, lay.top) == NULL)
            abort();
    } else if (rc != AGENT_ERR_INVAL && rc != AGENT_ERR_PARSE && rc != AGENT_ERR_NOMEM) {
        abort();
    }
    tarball_layout_free(&lay);
    return 0;
}
