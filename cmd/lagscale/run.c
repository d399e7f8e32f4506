/*
 * run.c - `lagscale run`: load the config, build the controller, loop until
 * SIGINT or SIGTERM (or one round with --once).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmdutil.h"
#include "config/config.h"
#include "controller/controller.h"
#include "util/log.h"
#include "util/parse.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"dry-run", no_argument, NULL, 'd'},
	{"once", no_argument, NULL, '1'},
	{"assume-replicas", required_argument, NULL, 'a'},
	{"kubeconfig", required_argument, NULL, 'k'},
	{"context", required_argument, NULL, 'x'},
	{"output", required_argument, NULL, 'o'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const char usage_text[] =
	"usage: lagscale run --config FILE [--dry-run] [--once] [--assume-replicas N]\n"
	"                    [--kubeconfig F] [--context C] [--output text|json]\n";

int ls_cmd_run(int argc, char **argv)
{
	struct ls_controller_options opts = {
		.assume_replicas = -1,
		.output = LS_OUTPUT_TEXT,
		.stop = &stop_requested,
	};
	const char *config = NULL;
	struct ls_config *cfg = NULL;
	struct ls_controller *ctl = NULL;
	struct ls_diag diag;
	struct sigaction sa;
	char err[512];
	int rc = LS_EXIT_USAGE, c, r;

	ls_diag_init(&diag);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			opts.dry_run = true;
			break;
		case '1':
			opts.once = true;
			break;
		case 'a':
			if (ls_parse_int32(optarg, &opts.assume_replicas) < 0 ||
			    opts.assume_replicas < 0) {
				fprintf(stderr,
					"lagscale run: --assume-replicas: \"%s\" is not a "
					"replica count (0 or more)\n",
					optarg);
				goto out;
			}
			break;
		case 'k':
		case 'x':
			/* Read by the Kubernetes client; accepted here so the
			 * command line is stable. */
			break;
		case 'o':
			if (strcmp(optarg, "text") == 0) {
				opts.output = LS_OUTPUT_TEXT;
			} else if (strcmp(optarg, "json") == 0) {
				opts.output = LS_OUTPUT_JSON;
			} else {
				fprintf(stderr, "lagscale run: --output: \"%s\" is not text or json\n",
					optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = LS_EXIT_OK;
			goto out;
		default:
			ls_cmdutil_bad_option("run", argv, c);
			fputs(usage_text, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lagscale run: unexpected argument \"%s\"\n", argv[optind]);
		goto out;
	}
	if (!config) {
		fprintf(stderr, "lagscale run: --config is required\n");
		fputs(usage_text, stderr);
		goto out;
	}
	r = ls_config_load(config, &cfg, &diag);
	if (r < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		if (diag.n == 0)
			fprintf(stderr, "%s: %s\n", config, strerror(-r));
		goto out;
	}
	ls_log_setup(cfg->log_level, cfg->log_format, NULL);
	if (!opts.dry_run) {
		fprintf(stderr, "lagscale run: applying decisions to a cluster is not available in "
				"this build yet; use --dry-run\n");
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a sleep in progress ends at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	r = ls_controller_new(cfg, &opts, &ctl, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "lagscale run: %s\n", err);
		rc = r == -EINVAL ? LS_EXIT_USAGE : LS_EXIT_FAILURE;
		goto out;
	}
	ls_log(LS_LOG_INFO, NULL, "started: %zu scaler%s on %zu Kafka cluster%s%s", cfg->n_scalers,
	       cfg->n_scalers == 1 ? "" : "s", cfg->n_clusters, cfg->n_clusters == 1 ? "" : "s",
	       opts.dry_run ? ", dry-run" : "");
	r = ls_controller_run(ctl);
	if (r < 0) {
		ls_log(LS_LOG_ERROR, NULL, "the loop stopped: %s", strerror(-r));
		rc = LS_EXIT_FAILURE;
	} else {
		rc = r > 0 ? LS_EXIT_FAILURE : LS_EXIT_OK;
	}
	if (stop_requested)
		ls_log(LS_LOG_INFO, NULL, "stopped on signal");
out:
	ls_controller_free(ctl);
	ls_config_free(cfg);
	ls_diag_release(&diag);
	return rc;
}
