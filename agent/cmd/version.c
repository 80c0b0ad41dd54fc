#include "cmd/version.h"

#include <stdio.h>

#include "aws/awsxml.h"
#include "cmd/cmd.h"
#include "net/http.h"
#include "node/state.h"

#ifndef AGENT_INIH_VERSION
#define AGENT_INIH_VERSION "unknown"
#endif

static const char usage[] =
    "usage: wcs-agent version\n"
    "program and library versions (wcs-agent --version: the program's only)\n"
    "\n"
    "options:\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status:\n"
    "  0 ok, 64 usage error\n";

int
cmd_version(const struct run_env *env, int argc, char **argv)
{
    int status = cmd_no_options(argc, argv, usage);

    (void)env;
    if (status != 0)
        return status < 0 ? 0 : status;
    printf("wcs-agent %s\n", AGENT_VERSION);
    printf("%s\n", http_library_version());
    printf("cJSON %s\n", state_json_library_version());
    printf("inih r%s\n", AGENT_INIH_VERSION);
    printf("%s\n", awsxml_library_version());
    return 0;
}
