#include "cmd/cmd.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
cmd_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "wcs-agent: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'wcs-agent --help'.\n");
    return 64;
}

void
cmd_reset_getopt(void)
{
    optind = 1;
    opterr = 0;
}

int
cmd_no_options(int argc, char **argv, const char *usage)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return -1;
    }
    if (argc > 1)
        return cmd_usage_error("%s: unexpected argument", argv[1]);
    return 0;
}
