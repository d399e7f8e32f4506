/* version.c - `lagscale version`. */
#include <stdio.h>

#include "cmd.h"
#include "kafka/kafka.h"

static int version_run(int argc, char **argv);

const struct ls_cmdutil_command ls_cmd_version = {
    .name = "version",
    .summary = "Show the versions of lagscale and of the librdkafka it runs",
    .usage = "lagscale version",
    .description = "Prints lagscale's version, the version of the librdkafka library the process "
                   "really loaded (with the file it came from and the version it was built "
                   "against: they differ when the system's library is older), the lagscale patches "
                   "of librdkafka that the rdkafka.h it was built against carries (\"lagscale "
                   "#4605\": the fix of librdkafka issue #4605, which lets it keep a Kafka "
                   "client whose group request outlived its round; \"none\": such a client is "
                   "recreated), and librdkafka's builtin features (SASL mechanisms, TLS, "
                   "compression codecs).",
    .flags = (const struct ls_cmdutil_flag[]){{0}},
    .examples = "lagscale version",
    .exit_codes = "0  success\n2  bad usage (an argument was given)",
    .run = version_run,
};

static int version_run(int argc, char **argv)
{
	struct ls_cmdutil_args args;
	struct ls_kafka_library lib;
	const char *v;
	int c;

	ls_cmdutil_args_init(&args, &ls_cmd_version, argc, argv);
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END)
		return c == LS_CMDUTIL_HELP ? LS_EXIT_OK : LS_EXIT_USAGE;
	if (optind < argc)
		return ls_cmdutil_usage_error(&ls_cmd_version, "takes no arguments");
	ls_kafka_library_info(&lib);
	printf("lagscale %s\n", LS_VERSION);
	printf("librdkafka %s (built against %s, loaded from %s)\n", lib.version, lib.built_against,
	       lib.path[0] ? lib.path : "an unknown file");
	printf("librdkafka patches (built against): %s\n", lib.patches[0] ? lib.patches : "none");
	printf("librdkafka features: %s\n", lib.features[0] ? lib.features : "unknown");
	return LS_EXIT_OK;
}
