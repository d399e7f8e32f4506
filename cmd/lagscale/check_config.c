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
#include "cmdutil.h"
#include "config/config.h"
#include "controller/sources.h"

int ls_cmd_check_config(int argc, char **argv)
{
	struct ls_config *cfg = NULL;
	struct ls_diag diag;
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: lagscale check-config FILE\n");
		return LS_EXIT_USAGE;
	}
	ls_diag_init(&diag);
	r = ls_config_load(argv[1], &cfg, &diag);
	ls_cmdutil_print_diag(&diag, argv[1], r);
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
		printf("%s: ok (%zu files, %zu cluster%s, %zu scaler%s)\n", argv[1], cfg->n_files,
		       cfg->n_clusters, cfg->n_clusters == 1 ? "" : "s", cfg->n_scalers,
		       cfg->n_scalers == 1 ? "" : "s");
	else
		printf("%s: ok (%zu cluster%s, %zu scaler%s)\n", argv[1], cfg->n_clusters,
		       cfg->n_clusters == 1 ? "" : "s", cfg->n_scalers,
		       cfg->n_scalers == 1 ? "" : "s");
	ls_config_free(cfg);
	return LS_EXIT_OK;
}
