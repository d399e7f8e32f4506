/*
 * cmd.h - the subcommands of the lagscale binary (DESIGN.md section 6).
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand)
 * and returns the process exit code: 0 success, 1 a runtime failure,
 * 2 bad usage or bad configuration. Errors go to stderr naming the flag or
 * the file:line:col at fault.
 */
#ifndef LS_CMD_H
#define LS_CMD_H

#define LS_EXIT_OK	0
#define LS_EXIT_FAILURE 1
#define LS_EXIT_USAGE	2

int ls_cmd_run(int argc, char **argv);
int ls_cmd_lag(int argc, char **argv);
int ls_cmd_simulate(int argc, char **argv);
int ls_cmd_demo(int argc, char **argv);
int ls_cmd_check_config(int argc, char **argv);
int ls_cmd_version(int argc, char **argv);

#endif
