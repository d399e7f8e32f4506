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
#include <malloc.h>
#include <sched.h>
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

/*
 * Puts the process under SCHED_BATCH, unless it was started under another
 * policy than the default (chrt, a container's): a controller that polls
 * every few seconds is never in a hurry by a millisecond, and under
 * SCHED_BATCH a thread that wakes does not preempt a running one. A round
 * passes each group's request and reply between threads (lagscale's,
 * librdkafka's main and broker threads); at 1,000 scalers librdkafka's
 * main thread alone was preempted about 400 times a round. SCHED_BATCH
 * took 14% off the CPU per interval (fleet benchmark, three alternating
 * runs) and 8% off the round. Called before any thread is made (the
 * config watch's, the server's, librdkafka's), so that every one inherits
 * it; needs no privilege.
 */
static void batch_scheduling(void)
{
	struct sched_param sp = {.sched_priority = 0};

	if (sched_getscheduler(0) != SCHED_OTHER)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		ls_log(LS_LOG_DEBUG, NULL, "cannot use SCHED_BATCH: %s", strerror(errno));
}

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
	if (next->lag_scalers && !(*cfg)->lag_scalers)
		ls_log(LS_LOG_WARN, NULL,
		       "reload: kubernetes.lagScalers: true takes effect at the next start");
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

static int run_run(int argc, char **argv);

enum { F_CONFIG = 'c', F_DRY_RUN = 'd', F_ONCE = '1', F_ASSUME = 'a', F_KUBECONFIG = 'k',
       F_CONTEXT = 'x', F_OUTPUT = 'o' };

const struct ls_cmdutil_command ls_cmd_run = {
	.name = "run",
	.summary = "Run the controller: read lag, decide and set replicas, in a loop",
	.usage = "lagscale run --config FILE [flags]",
	.description =
		"Loads the configuration, then every polling interval reads each scaler's "
		"consumer-group lag from Kafka, decides the replicas its target needs, and sets "
		"them through the target's /scale subresource, recording a Kubernetes Event. "
		"Each decision is printed on stdout (one line, or one JSON object with --output "
		"json); logs go to stderr. /metrics, /healthz and /readyz are served on the "
		"configuration's server.address.\n\n"
		"Scalers also come from LagScaler objects (lagscale.io/v1alpha1) in every "
		"namespace, or in kubernetes.watchNamespaces, unless kubernetes.lagScalers is "
		"false: each is named NAMESPACE/NAME, its spec is checked as a scaler of the "
		"file is, and its status (replicas, lag, conditions Ready, Active, Fallback, "
		"Paused) is written back.\n\n"
		"With leader election enabled, only the leader sets replicas. SIGHUP reloads "
		"the configuration (an invalid one is logged and the running one goes on); "
		"SIGINT and SIGTERM stop the loop.\n\n"
		"The Kubernetes cluster is --kubeconfig/--context, else the configuration's "
		"kubernetes section, else the in-cluster service account when "
		"KUBERNETES_SERVICE_HOST is set, else KUBECONFIG, else ~/.kube/config.",
	.flags = (const struct ls_cmdutil_flag[]){
		{"config", 0, F_CONFIG, "FILE", NULL,
		 "The configuration: a YAML file, or a directory whose *.yaml files are read "
		 "in name order. Required."},
		{"dry-run", 0, F_DRY_RUN, NULL, "off",
		 "Decide and print, never change a replica count. Patches are sent with "
		 "?dryRun=All when a cluster is reachable; with none, the current replicas are "
		 "assumed (see --assume-replicas) and follow the decisions."},
		{"once", 0, F_ONCE, NULL, "off",
		 "Run one round and exit; serves no endpoints. The exit code is 1 when a "
		 "decision of the round was an error or a fallback."},
		{"assume-replicas", 0, F_ASSUME, "N", "each scaler's minReplicas",
		 "In dry-run with no Kubernetes cluster, the replicas each target is assumed "
		 "to start with."},
		{"kubeconfig", 0, F_KUBECONFIG, "FILE", "kubernetes.kubeconfig, KUBECONFIG, ~/.kube/config",
		 "The kubeconfig file to use."},
		{"context", 0, F_CONTEXT, "NAME", "kubernetes.context, else the current context",
		 "The kubeconfig context to use."},
		{"output", 'o', F_OUTPUT, "text|json", "text",
		 "How decisions are printed on stdout: text lines for people, or JSON Lines "
		 "(one object per scaler per decision) for collectors."},
		{0},
	},
	.examples = "# Try a configuration against the current kubectl context, changing nothing\n"
		    "lagscale run --config lagscale.yaml --dry-run --once\n"
		    "\n"
		    "# Run the controller, decisions as JSON Lines\n"
		    "lagscale run --config /etc/lagscale/ --output json",
	.exit_codes = "0  stopped by a signal (or --once: every decision succeeded)\n"
		      "1  a runtime failure (or --once: a decision was an error or a fallback)\n"
		      "2  bad usage or an invalid configuration",
	.run = run_run,
};

static int run_run(int argc, char **argv)
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
	struct ls_cmdutil_args args;
	struct sigaction sa;
	const char *v;
	char err[512];
	int rc = LS_EXIT_USAGE, c, r;

	/* glibc raises its mmap threshold each time a block above it is freed
	 * (up to 32 MB), so a round's large replies and the exposition soon
	 * come from the heap instead, where they fragment it: a fixed one keeps
	 * them mapped and returned whole. In the soak (1,000 scalers, a reload
	 * every 3 s, an outage every 2 min) anonymous RSS was 37 MB without
	 * it, 27 MB with it, for 6% more CPU (one run on a loaded machine). */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	ls_diag_init(&diag);
	ls_cmdutil_args_init(&args, &ls_cmd_run, argc, argv);
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END) {
		switch (c) {
		case LS_CMDUTIL_HELP:
			rc = LS_EXIT_OK;
			goto out;
		case LS_CMDUTIL_BAD:
			goto out;
		case F_CONFIG:
			config = v;
			break;
		case F_DRY_RUN:
			opts.dry_run = true;
			break;
		case F_ONCE:
			opts.once = true;
			break;
		case F_ASSUME:
			if (ls_parse_int32(v, &opts.assume_replicas) < 0 ||
			    opts.assume_replicas < 0) {
				ls_cmdutil_usage_error(&ls_cmd_run,
						       "--assume-replicas: \"%s\" is not a replica "
						       "count (0 or more)",
						       v);
				goto out;
			}
			break;
		case F_KUBECONFIG:
			kubeconfig = v;
			break;
		case F_CONTEXT:
			context = v;
			break;
		case F_OUTPUT:
			if (strcmp(v, "text") == 0) {
				opts.output = LS_OUTPUT_TEXT;
			} else if (strcmp(v, "json") == 0) {
				opts.output = LS_OUTPUT_JSON;
			} else {
				ls_cmdutil_usage_error(&ls_cmd_run,
						       "--output: \"%s\" is not text or json", v);
				goto out;
			}
			break;
		}
	}
	if (optind < argc) {
		ls_cmdutil_usage_error(&ls_cmd_run, "unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (!config) {
		ls_cmdutil_usage_error(&ls_cmd_run, "--config is required");
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
	batch_scheduling();
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
