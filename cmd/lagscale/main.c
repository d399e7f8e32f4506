/* main.c - the lagscale binary: dispatches to one subcommand (cmd.h). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{"run", ls_cmd_run,
	 "run --config FILE [--dry-run] [--once] [--assume-replicas N] [--kubeconfig F] "
	 "[--context C] [--output text|json]"},
	{"lag", ls_cmd_lag,
	 "lag (--bootstrap-servers B --group G [--topic T]... [-X key=value]... | --config FILE "
	 "[--scaler NAME]) [--output table|json]"},
	{"simulate", ls_cmd_simulate,
	 "simulate --scenario FILE [--policy lag|rate|keda] [--csv F] [--svg F] "
	 "[--output text|json]"},
	{"demo", ls_cmd_demo, "demo [--speed N] [--svg F]"},
	{"check-config", ls_cmd_check_config, "check-config FILE"},
	{"version", ls_cmd_version, "version"},
};

static void usage(FILE *out)
{
	fprintf(out, "lagscale scales Kafka consumers on consumer-group lag.\n\nUsage:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  lagscale %s\n", commands[i].usage);
	fprintf(out, "\nExit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return LS_EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return LS_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return ls_cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "lagscale: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return LS_EXIT_USAGE;
}
