/*
 * Fuzz target: the expat walk and the AWS XML error documents.  Every path
 * handed to the reader must be well formed (no empty or prefixed segment,
 * at most AWSXML_MAX_DEPTH of them), leaf text within the cap, and an
 * accepted error must hold a valid code and a printable message.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsxml.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *path)
{
    const char *p = path;
    int segments = 1;

    if (*p == '\0' || *p == '/')
        abort();
    for (; *p != '\0'; p++) {
        if (*p == ':')
            abort();
        if (*p == '/') {
            segments++;
            if (p[1] == '/' || p[1] == '\0')
                abort();
        }
    }
    if (segments > AWSXML_MAX_DEPTH)
        abort();
}

static int
on_start(void *ctx, const char *path)
{
    (void)ctx;
    check_path(path);
    return 0;
}

static int
on_leaf(void *ctx, const char *path, const char *text)
{
    (*(size_t *)ctx)++;
    check_path(path);
    if (strlen(text) > AWSXML_MAX_TEXT)
        abort();
    return 0;
}

static int
printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    size_t leaves = 0;
    struct awsxml_handler h = {on_start, on_leaf, &leaves};
    struct aws_error e;
    const char *xml = (const char *)data;

    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }
    (void)awsxml_walk(xml, size, &h);

    memset(&e, 0, sizeof(e));
    e.http_status = 400;
    if (awsxml_parse_error(xml, size, &e) == AGENT_OK) {
        if (e.code[0] == '\0' || strlen(e.code) >= sizeof(e.code) || !printable(e.code) ||
            strchr(e.code, ' ') != NULL)
            abort();
        if (!printable(e.message) || !printable(e.request_id) || e.http_status != 400)
            abort();
    } else if (e.code[0] != '\0' || e.message[0] != '\0' || e.request_id[0] != '\0') {
        abort();
    }
    return 0;
}
