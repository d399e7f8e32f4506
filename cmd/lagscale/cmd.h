/*
 * cmd.h - the subcommands of the lagscale binary (DESIGN.md section 6).
 *
 * Each is described once by a struct ls_cmdutil_command (cmdutil.h): its
 * flags, from which both parsing and --help are made, and its help text.
 * Its run function takes the arguments after `lagscale` (argv[0] is the
 * subcommand's name) and returns the process exit code: 0 success, 1 a
 * runtime failure, 2 bad usage or bad configuration. Errors go to stderr
 * naming the flag or the file:line:col at fault.
 */
#ifndef LS_CMD_H
#define LS_CMD_H

#include "cmdutil.h"

#define LS_EXIT_OK	0
#define LS_EXIT_FAILURE 1
#define LS_EXIT_USAGE	2

extern const struct ls_cmdutil_command ls_cmd_run;
extern const struct ls_cmdutil_command ls_cmd_lag;
extern const struct ls_cmdutil_command ls_cmd_simulate;
extern const struct ls_cmdutil_command ls_cmd_demo;
extern const struct ls_cmdutil_command ls_cmd_import_keda;
extern const struct ls_cmdutil_command ls_cmd_check_config;
extern const struct ls_cmdutil_command ls_cmd_version;

#endif
