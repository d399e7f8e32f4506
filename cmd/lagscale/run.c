/*
 * run.c - `lagscale run`: load the config, build the controller, serve
 * /metrics /healthz /readyz on server.address, loop until SIGINT or SIGTERM
 * (or one round with --once, which serves nothing). SIGHUP reloads the
 * config, and so does a change of the file or directory (lib/util/
 * filewatch.h: a mounted ConfigMap's symlink swap included): a valid one
 * replaces the running one (ls_controller_reload), an invalid one is
 * logged with its errors and counted, and the running one goes on.
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
#include "kube/kubeconfig.h"
#include "metrics/server.h"
#include "util/filewatch.h"
#include "util/log.h"
#include "util/parse.h"

/* How often the config's path is checked for a change (filewatch.h says
 * why polling): a few stat() calls each time. */
#define CONFIG_WATCH_INTERVAL_MS 2000

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	reload_requested = 1;
}

/*
 * SIGHUP: loads path again; the controller switches to it if it is valid.
 * A directory is listed again: files added or removed since are picked up.
 */
static void reload(const char *path, struct ls_config **cfg, struct ls_controller *ctl)
{
	struct ls_config *next = NULL;
	struct ls_diag diag;
	char err[512];
	int r;

	ls_diag_init(&diag);
	r = ls_config_load(path, &next, &diag);
	if (r < 0) {
		ls_log(LS_LOG_ERROR, NULL,
		       "reload: \"%s\" is not valid; the running configuration stays", path);
		for (size_t i = 0; i < diag.n; i++)
			ls_log(LS_LOG_ERROR, NULL, "reload: %s", diag.msgs[i]);
		if (diag.n == 0)
			ls_log(LS_LOG_ERROR, NULL, "reload: %s: %s", path, strerror(-r));
		ls_controller_count_reload(ctl, false);
		goto out;
	}
	r = ls_controller_reload(ctl, next, err, sizeof(err));
	if (r < 0) {
		ls_log(LS_LOG_ERROR, NULL, "reload: %s; the running configuration stays", err);
		ls_controller_count_reload(ctl, false);
		goto out;
	}
	ls_controller_count_reload(ctl, true);
	if (strcmp(next->kubeconfig, (*cfg)->kubeconfig) != 0 ||
	    strcmp(next->context, (*cfg)->context) != 0 ||
	    next->leader.enabled != (*cfg)->leader.enabled ||
	    strcmp(next->leader.namespace_, (*cfg)->leader.namespace_) != 0 ||
	    strcmp(next->leader.lease_name, (*cfg)->leader.lease_name) != 0 ||
	    next->leader.lease_duration_ms != (*cfg)->leader.lease_duration_ms ||
	    next->leader.renew_deadline_ms != (*cfg)->leader.renew_deadline_ms ||
	    next->leader.retry_period_ms != (*cfg)->leader.retry_period_ms)
		ls_log(LS_LOG_WARN, NULL,
		       "reload: kubernetes and leaderElection take effect at the next start");
	if (strcmp(next->server_address, (*cfg)->server_address) != 0)
		ls_log(LS_LOG_WARN, NULL,
		       "reload: server.address \"%s\" takes effect at the next start; still "
		       "serving on \"%s\"",
		       next->server_address, (*cfg)->server_address);
	ls_log_setup(next->log_level, next->log_format, NULL);
	ls_config_free(*cfg);
	*cfg = next;
	next = NULL;
	ls_log(LS_LOG_INFO, NULL,
	       "reloaded \"%s\": %zu scaler%s on %zu Kafka cluster%s from %zu file%s", path,
	       (*cfg)->n_scalers, (*cfg)->n_scalers == 1 ? "" : "s", (*cfg)->n_clusters,
	       (*cfg)->n_clusters == 1 ? "" : "s", (*cfg)->n_files,
	       (*cfg)->n_files == 1 ? "" : "s");
out:
	ls_config_free(next);
	ls_diag_release(&diag);
}

/*
 * The cluster to act on (lib/kube/kubeconfig.h says where it is looked
 * for; --kubeconfig and --context win over the config file's). None at all
 * is fine for --dry-run (assumed replicas), an error otherwise. Logs the
 * choice once. 0 (with *ret NULL when there is no cluster) or -1 after
 * printing why.
 */
static int load_kube(const struct ls_controller_options *opts, const struct ls_config *cfg,
		     const char *kubeconfig, const char *context, struct ls_kube_config **ret)
{
	struct ls_kube_load_options lo = {
		.kubeconfig = kubeconfig ? kubeconfig : cfg->kubeconfig,
		.context = context && context[0] ? context : cfg->context,
	};
	bool explicit_path = lo.kubeconfig && lo.kubeconfig[0];
	struct ls_diag diag;
	char desc[1024];
	int r;

	ls_diag_init(&diag);
	r = ls_kube_config_load(&lo, ret, &diag);
	if (r == -ENOENT && !explicit_path && opts->dry_run) {
		ls_log(LS_LOG_INFO, NULL,
		       "no Kubernetes cluster configured: dry-run with assumed replicas");
		*ret = NULL;
		r = 0;
	} else if (r < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "lagscale run: %s\n", diag.msgs[i]);
		if (r == -ENOENT && !explicit_path)
			fprintf(stderr, "lagscale run: a Kubernetes cluster is needed to apply "
					"decisions: give --kubeconfig or kubernetes.kubeconfig, set "
					"KUBECONFIG, or run in a cluster; or use --dry-run\n");
		r = -1;
	} else {
		ls_log(LS_LOG_INFO, NULL, "Kubernetes: %s",
		       ls_kube_config_describe(*ret, desc, sizeof(desc)));
	}
	ls_diag_release(&diag);
	return r;
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
		.reload = &reload_requested,
	};
	const char *config = NULL, *kubeconfig = NULL, *context = NULL;
	struct ls_kube_config *kube = NULL;
	struct ls_config *cfg = NULL;
	struct ls_controller *ctl = NULL;
	struct ls_metrics_server *server = NULL;
	struct ls_filewatch *watch = NULL;
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
			kubeconfig = optarg;
			break;
		case 'x':
			context = optarg;
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
	/* The watch's first state is taken before the load, so that a change
	 * made while loading is seen (at worst a reload finds no change). */
	if (!opts.once && ls_filewatch_new(config, &watch) < 0) {
		fprintf(stderr, "lagscale run: out of memory\n");
		rc = LS_EXIT_FAILURE;
		goto out;
	}
	r = ls_config_load(config, &cfg, &diag);
	if (r < 0) {
		ls_cmdutil_print_diag(&diag, config, r);
		goto out;
	}
	ls_log_setup(cfg->log_level, cfg->log_format, NULL);
	r = load_kube(&opts, cfg, kubeconfig, context, &kube);
	if (r < 0)
		goto out;
	opts.kube = kube;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a sleep in progress ends at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!opts.once) {
		sa.sa_handler = on_reload;
		sigaction(SIGHUP, &sa, NULL);
		/* A single round is over before anyone scrapes it. Without the
		 * endpoints lagscale still scales (a second instance on a laptop,
		 * tests in parallel); in a pod the failing probes say it too. */
		r = ls_metrics_server_new(cfg->server_address, &server, err, sizeof(err));
		if (r < 0)
			ls_log(LS_LOG_ERROR, NULL,
			       "server.address: %s; running without /metrics /healthz /readyz", err);
		opts.server = server;
	}

	r = ls_controller_new(cfg, &opts, &ctl, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "lagscale run: %s\n", err);
		rc = r == -EINVAL ? LS_EXIT_USAGE : LS_EXIT_FAILURE;
		goto out;
	}
	ls_log(LS_LOG_INFO, NULL, "started: %zu scaler%s on %zu Kafka cluster%s%s", cfg->n_scalers,
	       cfg->n_scalers == 1 ? "" : "s", cfg->n_clusters, cfg->n_clusters == 1 ? "" : "s",
	       opts.dry_run ? ", dry-run" : "");
	if (server)
		ls_log(LS_LOG_INFO, NULL, "serving /metrics /healthz /readyz on \"%s\" (port %d)",
		       cfg->server_address, ls_metrics_server_port(server));
	if (watch) {
		r = ls_filewatch_start(watch, CONFIG_WATCH_INTERVAL_MS, &reload_requested);
		if (r < 0)
			ls_log(LS_LOG_ERROR, NULL,
			       "cannot watch \"%s\" for changes (%s); SIGHUP still reloads it",
			       config, strerror(-r));
		else
			ls_log(LS_LOG_DEBUG, NULL, "watching \"%s\" for changes every %d s", config,
			       CONFIG_WATCH_INTERVAL_MS / 1000);
	}
	while ((r = ls_controller_run(ctl)) == LS_CONTROLLER_RELOAD) {
		reload_requested = 0;
		reload(config, &cfg, ctl);
	}
	if (r < 0) {
		ls_log(LS_LOG_ERROR, NULL, "the loop stopped: %s", strerror(-r));
		rc = LS_EXIT_FAILURE;
	} else {
		rc = r > 0 ? LS_EXIT_FAILURE : LS_EXIT_OK;
	}
	if (stop_requested)
		ls_log(LS_LOG_INFO, NULL, "stopped on signal");
out:
	ls_filewatch_free(watch);
	ls_controller_free(ctl);
	/* After the controller, which publishes to it. */
	ls_metrics_server_free(server);
	/* After the controller, which borrows it. */
	ls_kube_config_free(kube);
	ls_config_free(cfg);
	ls_diag_release(&diag);
	return rc;
}
