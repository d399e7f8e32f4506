/*
 * check_config.c - `lagscale check-config FILE`: every error, or exit 0.
 * FILE may be a directory of *.yaml files (lib/config/config.h). Beyond
 * the file itself, each Kafka cluster's librdkafka configuration is built
 * (without connecting), so that a property `run` would refuse is found
 * here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config/config.h"
#include "controller/sources.h"

static int check_config_run(int argc, char **argv);

const struct ls_cmdutil_command ls_cmd_check_config = {
    .name = "check-config",
    .summary = "Validate a configuration file or directory without running it",
    .usage = "lagscale check-config FILE\nlagscale check-config DIRECTORY",
    .description = "Loads the configuration exactly as `run` does and prints every error, each "
                   "naming its file:line:col and the key path, or one line saying how many "
                   "clusters and scalers it defines. Nothing is contacted: neither Kafka nor the "
                   "Kubernetes API server.\n\n"
                   "A DIRECTORY is read as `run --config DIRECTORY` reads it: every *.yaml file "
                   "in it, in name order, clusters defined once and usable from any file.",
    .flags = (const struct ls_cmdutil_flag[]){{0}},
    .examples = "# Check a file, as in a CI step before it is deployed\n"
                "lagscale check-config lagscale.yaml\n"
                "\n"
                "# Check every *.yaml of a directory (a mounted ConfigMap)\n"
                "lagscale check-config /etc/lagscale/",
    .exit_codes = "0  the configuration is valid\n"
                  "2  it is not (every error is printed), or bad usage",
    .run = check_config_run,
};

static int check_config_run(int argc, char **argv)
{
	struct ls_cmdutil_args args;
	struct ls_config *cfg = NULL;
	struct ls_diag diag;
	const char *v, *path;
	int r, c;

	ls_cmdutil_args_init(&args, &ls_cmd_check_config, argc, argv);
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END)
		return c == LS_CMDUTIL_HELP ? LS_EXIT_OK : LS_EXIT_USAGE;
	if (optind != argc - 1)
		return ls_cmdutil_usage_error(
		    &ls_cmd_check_config, optind == argc ? "FILE is required" : "takes one FILE");
	path = argv[optind];
	ls_diag_init(&diag);
	r = ls_config_load(path, &cfg, &diag);
	ls_cmdutil_print_diag(&diag, path, r);
	ls_diag_release(&diag);
	if (r < 0)
		return LS_EXIT_USAGE;
	/* Every cluster is checked, so that all refusals show at once. */
	r = 0;
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		const struct ls_config_cluster *cl = &cfg->clusters[i];
		size_t at = SIZE_MAX;
		char err[512];
		int cr = ls_controller_kafka_check(cl, &at, err, sizeof(err));

		if (cr == 0)
			continue;
		r = cr;
		if (cr == -ENOMEM)
			fprintf(stderr, "lagscale check-config: out of memory\n");
		else if (at < cl->n_props)
			/* At the property: "FILE:LINE:COL: kafka.clusters[1].properties.KEY: ..." */
			fprintf(stderr, "%s: cluster \"%s\": %s\n", cl->props[at].where, cl->name,
				err);
		else
			fprintf(stderr, "%s: kafka.clusters: cluster \"%s\": %s\n", argv[1], cl->name,
				err);
	}
	if (r < 0) {
		ls_config_free(cfg);
		return r == -ENOMEM ? LS_EXIT_FAILURE : LS_EXIT_USAGE;
	}
	/* A directory's files are counted: a file that was not read shows. */
	if (cfg->n_files > 1)
		printf("%s: ok (%zu files, %zu cluster%s, %zu scaler%s)\n", path, cfg->n_files,
		       cfg->n_clusters, cfg->n_clusters == 1 ? "" : "s", cfg->n_scalers,
		       cfg->n_scalers == 1 ? "" : "s");
	else
		printf("%s: ok (%zu cluster%s, %zu scaler%s)\n", path, cfg->n_clusters,
		       cfg->n_clusters == 1 ? "" : "s", cfg->n_scalers,
		       cfg->n_scalers == 1 ? "" : "s");
	ls_config_free(cfg);
	return LS_EXIT_OK;
}
