/*
 * cmd: what every command file of cmd/ shares: the usage-error line, the
 * reset of getopt for a command's own options, and the check of a command
 * that takes none.
 *
 * A command is one file cmd/NAME.c with NAME.h exposing
 *   int cmd_NAME(const struct run_env *env, int argc, char **argv);
 * argv[0] is the command's name; it parses its own options (getopt_long
 * with "+" after cmd_reset_getopt()), answers --help on stdout with status
 * 0, and returns the exit status (agent_rc_exit_status() of its result, or
 * 64 for a usage error).  main.c dispatches through one table line per
 * command.
 */
#ifndef AGENT_CMD_CMD_H
#define AGENT_CMD_CMD_H

/*
 * Prints "wcs-agent: <message>" and "Try 'wcs-agent --help'." on stderr
 * (logging may not be set up yet) and returns 64 (usage).
 */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Resets getopt for a command's own options (argv[0] is the command name). */
void cmd_reset_getopt(void);

/*
 * For a command without options: 0 to go on; with "--help" prints usage
 * (stdout) and returns -1 (the caller returns 0); any other argument is a
 * usage error (64).
 */
int cmd_no_options(int argc, char **argv, const char *usage);

#endif
