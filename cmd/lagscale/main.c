/* main.c - the lagscale binary: dispatches to one subcommand (cmd.h). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct ls_cmdutil_command *const commands[] = {
    &ls_cmd_run,          &ls_cmd_lag,          &ls_cmd_simulate, &ls_cmd_demo,
    &ls_cmd_import_keda, &ls_cmd_check_config, &ls_cmd_version,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct ls_cmdutil_command *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(name, commands[i]->name) == 0)
			return commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fputs("lagscale scales Kafka consumer workloads on Kubernetes by consumer-group lag.\n"
	      "\nUsage:\n  lagscale COMMAND [flags]\n  lagscale help COMMAND\n\nCommands:\n",
	      out);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-14s%s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "  %-14s%s\n", "help", "Show the help of a command");
	fputs("\nFlags:\n  -h, --help    Show this help and exit.\n"
	      "  --version     Show the versions of lagscale and librdkafka (as `version`).\n"
	      "\nRun 'lagscale COMMAND --help' (or 'lagscale help COMMAND') for a command's\n"
	      "flags, their defaults, examples and exit codes.\n"
	      "\nExit codes:\n  0  success\n  1  a runtime failure\n"
	      "  2  bad usage or bad configuration\n",
	      out);
}

int main(int argc, char **argv)
{
	const struct ls_cmdutil_command *cmd;

	if (argc < 2) {
		usage(stderr);
		return LS_EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc == 2) {
			usage(stdout);
			return LS_EXIT_OK;
		}
		cmd = argc == 3 ? find(argv[2]) : NULL;
		if (!cmd) {
			fprintf(stderr, "lagscale help: %s\n\n",
			        argc == 3 ? "no such command" : "takes one command");
			usage(stderr);
			return LS_EXIT_USAGE;
		}
		ls_cmdutil_help(cmd, stdout);
		return LS_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return ls_cmd_version.run(argc - 1, argv + 1);
	cmd = find(argv[1]);
	if (cmd)
		return cmd->run(argc - 1, argv + 1);
	fprintf(stderr, "lagscale: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return LS_EXIT_USAGE;
}
