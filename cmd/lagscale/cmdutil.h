/*
 * cmdutil.h - what the subcommands share: each command described once, as
 * a table (struct ls_cmdutil_command) from which both its flag parsing and
 * its --help are made, so a flag can never be parsed without being
 * documented; enum flags; and the messages for bad options, so every
 * command words them the same way.
 */
#ifndef LS_CMDUTIL_H
#define LS_CMDUTIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/diag.h"
#include "util/offsets.h"

/* The most flags one command may have (--help is added to them). */
#define LS_CMDUTIL_MAX_FLAGS 24

/*
 * One flag: `--name VALUE` (or `--name` when arg is NULL), and `-c` too
 * when short_name is set. name may be NULL for a short-only flag (-X).
 */
struct ls_cmdutil_flag {
	const char *name;
	char short_name;  /* 0: none */
	int id;           /* what ls_cmdutil_next returns for it; > 0 */
	const char *arg;  /* the value's placeholder in --help ("FILE"); NULL: a switch */
	const char *def;  /* the default, as --help shows it; NULL: none shown */
	const char *help; /* what it does, in sentences; --help wraps it */
};

/*
 * One subcommand. Everything but flags is text for --help: usage is one
 * synopsis per line ("lagscale lag --config FILE [flags]"), description
 * paragraphs are separated by a blank line and wrapped, examples and
 * exit_codes are printed as they are (indented by two spaces). flags ends
 * with an entry whose id is 0.
 */
struct ls_cmdutil_command {
	const char *name;
	const char *summary; /* one line, for `lagscale --help` */
	const char *usage;
	const char *description;
	const struct ls_cmdutil_flag *flags;
	const char *examples;
	const char *exit_codes;
	int (*run)(int argc, char **argv); /* argv[0] is the command's name */
};

/* ls_cmdutil_next's returns besides a flag's id. */
#define LS_CMDUTIL_END  0    /* no more flags: operands start at optind */
#define LS_CMDUTIL_HELP (-1) /* --help or -h: the help is printed on stdout */
#define LS_CMDUTIL_BAD  (-2) /* printed on stderr: the flag and a hint */

/* The state of one parse; embed it and call _init. */
struct ls_cmdutil_args {
	const struct ls_cmdutil_command *cmd;
	int argc;
	char **argv;
	struct option longopts[LS_CMDUTIL_MAX_FLAGS + 2];
	char optstring[3 * LS_CMDUTIL_MAX_FLAGS + 4];
};

/* Prepares argv (argv[0] the command's name) for parsing with cmd's flags.
 * Resets getopt's state. */
void ls_cmdutil_args_init(struct ls_cmdutil_args *a, const struct ls_cmdutil_command *cmd, int argc,
                          char **argv);

/*
 * The next flag: its id, with *ret_value its value (NULL for a switch);
 * LS_CMDUTIL_END after the last; LS_CMDUTIL_HELP after printing the help on
 * stdout (the command then exits 0); LS_CMDUTIL_BAD after printing the bad
 * word (unknown flag, missing value) and how to get help (exit 2).
 */
int ls_cmdutil_next(struct ls_cmdutil_args *a, const char **ret_value);

/* The whole help of a command: what it does, usage, flags with their
 * defaults, examples, exit codes. */
void ls_cmdutil_help(const struct ls_cmdutil_command *cmd, FILE *out);

/*
 * Prints "lagscale CMD: <message>" and a line saying how to get help, on
 * stderr, and returns 2 (the exit code of bad usage), for
 * `return ls_cmdutil_usage_error(...)`.
 */
int ls_cmdutil_usage_error(const struct ls_cmdutil_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints text wrapped to 79 columns, every line indented by indent spaces
 * (the first by first_indent); paragraphs are separated by "\n\n". */
void ls_cmdutil_wrap(FILE *out, const char *text, int first_indent, int indent);

/* 0, or -EINVAL when s is not one of the names. */
int ls_cmdutil_parse_reset(const char *s, enum ls_offset_reset *ret);
int ls_cmdutil_parse_isolation(const char *s, enum ls_isolation *ret);

/* Prints every diagnostic of a failed load (r < 0) to stderr, one per line;
 * when there is none, the error of r against path. */
void ls_cmdutil_print_diag(const struct ls_diag *diag, const char *path, int r);

#endif
