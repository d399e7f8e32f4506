/*
 * controller.h - the reconcile loop: for every scaler that is due, collect
 * lag (one round per cluster, clusters in parallel), decide with the policy
 * engine, act, and report the decision.
 *
 * Each scaler is polled at its pollingInterval, with a little jitter so
 * scalers configured alike do not align. A stop request (the flag the
 * signal handler sets) ends the loop within about 100 ms, even while a
 * collection round is still waiting on a broker.
 *
 * Metrics (lib/metrics/app.h) are updated as the loop goes; with a server
 * in the options, the exposition text is rendered once per round and
 * published to it, each finished round is reported to /healthz (which fails
 * after three of the shortest polling intervals without one), and /readyz
 * passes once the first round is complete: every scaler has decided once
 * (a failed read or an unreadable target decides too: an error or a
 * fallback), not merely once the first lag reads came back.
 *
 * Sources of scalers. The scalers of the configuration, and, with a
 * cluster and kubernetes.lagScalers (the default), those of LagScaler
 * objects (objects.h: named "NAMESPACE/NAME"), composed into one set
 * (ls_config_compose: one scaler per workload across both; an object that
 * would be a second owner is left out and says why in its status). When
 * the objects change (checked in every wait of the loop, so an edit takes
 * effect within a polling interval) the set is switched to as by
 * ls_controller_reload: unchanged scalers keep their history, a deleted
 * LagScaler's scaler stops and leaves its target's replicas as they are.
 * The objects' status is written through their status subresource
 * (status.h), by the leader only, never in dry-run.
 *
 * Thread-safety: one thread drives a controller; it starts one short-lived
 * collector thread per cluster per round internally.
 */
#ifndef LS_CONTROLLER_CONTROLLER_H
#define LS_CONTROLLER_CONTROLLER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "policy/policy.h"

enum ls_output { LS_OUTPUT_TEXT = 0, LS_OUTPUT_JSON };

/* ls_controller_run's answer to a reload request. */
#define LS_CONTROLLER_RELOAD 2

struct ls_metrics_server;
struct ls_kube_config;

struct ls_controller_options {
	bool dry_run;		 /* print decisions, change nothing */
	bool once;		 /* one round for every scaler, then return */
	int32_t assume_replicas; /* dry-run with no cluster: starting replicas, -1 = minReplicas */
	enum ls_output output;
	FILE *out;			   /* where decisions go; NULL: stdout */
	volatile sig_atomic_t *stop;	   /* non-zero: return as soon as possible */
	volatile sig_atomic_t *reload;	   /* non-zero: return LS_CONTROLLER_RELOAD between rounds */
	struct ls_metrics_server *server;  /* /metrics /healthz /readyz, or NULL; borrowed */
	int64_t collect_timeout_ms;	   /* per round; 0: min(10 s, pollingInterval) */
	/*
	 * The cluster (lib/kube), borrowed; NULL: none, only with dry_run
	 * (current replicas assumed, as above). With it, every round reads
	 * each target's /scale and pause annotations, and sets replicas with
	 * a merge patch when the decision differs (dry_run: ?dryRun=All, so
	 * the server validates and checks RBAC but persists nothing), and
	 * records Events. With cfg->leader.enabled (and not dry_run) a Lease
	 * elects the one instance that writes; the others (followers) decide
	 * all the same, so their history is warm when they take over, but
	 * print no decisions and export no series about scalers (only
	 * process-level ones and lagscale_is_leader 0): one voice.
	 */
	const struct ls_kube_config *kube;
};

struct ls_controller;

/*
 * Builds the runtime for cfg (which must outlive the controller): a Kafka
 * client per cluster, a policy state per scaler. No I/O. 0, -EINVAL with
 * errbuf saying why (leaderElection settings), -ENOMEM.
 *
 * A bad scaler is isolated. A cluster whose properties librdkafka refuses
 * gets no client: it is logged once (naming the cluster and the property)
 * and each of its scalers, when due, is skipped: an "error" decision is
 * printed, lagscale_errors_total{stage="config"} counts, and the first
 * time a log line and a Warning Event KafkaConfigInvalid on the target.
 * Such a cluster is tried again only by ls_controller_reload (the settings
 * cannot change otherwise). A scaler whose target does not exist (not in
 * the watch, or a 404 on its /scale) gets an "error" decision each round
 * and one Warning Event TargetNotFound per spell (TargetReadFailed when
 * the target cannot be read otherwise: a kind without a scale
 * subresource, a failing watch); the watch shows the target when it is
 * created, and the scaler then scales. A read that fails (a topicPattern matching nothing) is the
 * scaler's own error. The other scalers run on in every case.
 */
int ls_controller_new(const struct ls_config *cfg, const struct ls_controller_options *opts,
		      struct ls_controller **ret, char *errbuf, size_t errlen);

/*
 * Runs until *opts->stop, or one round with opts->once. Returns 0; with
 * once, 1 when any scaler's round ended in error (so `run --once` can exit
 * non-zero); LS_CONTROLLER_RELOAD when *opts->reload was set (checked
 * between rounds: the caller loads the new config, clears the flag, calls
 * ls_controller_reload and runs again, the schedule going on where it
 * was); or a negative errno when the loop itself cannot go on.
 */
int ls_controller_run(struct ls_controller *c);

/*
 * Switches to cfg (which must outlive the controller, like the first one),
 * with the LagScalers' scalers composed in again (their specs are read
 * again: they name cfg's clusters):
 * scalers whose name and every setting are unchanged keep their history
 * (policy state, previous snapshot, replicas, schedule, metric series);
 * changed and new scalers start fresh; removed scalers' metric series
 * disappear. Kafka clients of clusters with the same name, bootstrap
 * servers and properties are kept, others are made anew. Call it between
 * runs, from the thread that runs the loop. Returns 0, after which the
 * controller no longer refers to the previous config (the caller may free
 * it); -ENOMEM (errbuf says so): the controller then goes on with the
 * previous config, unchanged. A cluster whose properties librdkafka
 * refuses (tried again here even when unchanged) is isolated as
 * ls_controller_new says.
 */
int ls_controller_reload(struct ls_controller *c, const struct ls_config *cfg, char *errbuf,
			 size_t errlen);

/*
 * Counts a reload of the configuration (lagscale_config_reloads_total,
 * lagscale_config_last_reload_successful): ok after ls_controller_reload
 * took a new config, !ok when the new one was refused (it did not load, or
 * the reload failed). From the thread that runs the loop, between runs.
 */
void ls_controller_count_reload(struct ls_controller *c, bool ok);

/* Sets lagscale_is_leader (1 from the start: without leader election, the
 * only instance acts) and, with it, whether the series about scalers are
 * exported (lib/metrics/app.h). For the leader elector. */
void ls_controller_set_leader(struct ls_controller *c, bool leader);

/*
 * True when this instance may write (scale, Events): it holds the Lease,
 * or leader election is not used (disabled, dry-run, no cluster). Any
 * thread (it asks the elector, which is thread-safe).
 */
bool ls_controller_is_leader(const struct ls_controller *c);

/* Frees everything; a client still stuck in a collector thread is left to
 * the process exit rather than waited for. _free(NULL) is a no-op. */
void ls_controller_free(struct ls_controller *c);

/*
 * Writes one decision as DESIGN.md section 6 specifies: a JSON object on
 * one line, or a text line, without flushing out (the caller flushes: the
 * controller once for all the decisions a round makes at once). Shared with
 * `lagscale demo`.
 */
void ls_controller_print_decision(FILE *out, enum ls_output fmt, int64_t wall_ms,
				  const struct ls_config_scaler *s, const struct ls_decision *d,
				  bool applied);

#endif
