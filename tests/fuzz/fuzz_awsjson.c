/*
 * Fuzz target: the JSON 1.1 error parser (awsapi_parse_json_error) and the
 * retry decision on what it yields.  An accepted error has an identifier
 * code without '#' or ':' and a printable message; a refused one writes
 * nothing.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsapi.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    struct aws_error e;
    const char *p;
    int cls;

    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }
    memset(&e, 0, sizeof(e));
    if (awsapi_parse_json_error((const char *)data, size, &e) == AGENT_OK) {
        if (e.code[0] == '\0' || strlen(e.code) >= sizeof(e.code))
            abort();
        for (p = e.code; *p != '\0'; p++) {
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                abort();
        }
        for (p = e.message; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        }
        cls = awsapi_retry_class(400, e.code, 0);
        if (cls < 0 || cls > 2)
            abort();
    } else if (e.code[0] != '\0' || e.message[0] != '\0') {
        abort();
    }
    return 0;
}
