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

struct ls_controller_options {
	bool dry_run;		 /* print decisions, change nothing */
	bool once;		 /* one round for every scaler, then return */
	int32_t assume_replicas; /* dry-run with no cluster: starting replicas, -1 = minReplicas */
	enum ls_output output;
	FILE *out;			   /* where decisions go; NULL: stdout */
	volatile sig_atomic_t *stop;	   /* non-zero: return as soon as possible */
	int64_t collect_timeout_ms;	   /* per round; 0: min(10 s, pollingInterval) */
};

struct ls_controller;

/*
 * Builds the runtime for cfg (which must outlive the controller): a Kafka
 * client per cluster, a policy state per scaler. No I/O. 0, -EINVAL with
 * errbuf naming the cluster whose properties librdkafka refused, -ENOMEM.
 */
int ls_controller_new(const struct ls_config *cfg, const struct ls_controller_options *opts,
		      struct ls_controller **ret, char *errbuf, size_t errlen);

/*
 * Runs until *opts->stop, or one round with opts->once. Returns 0; with
 * once, 1 when any scaler's round ended in error (so `run --once` can exit
 * non-zero), or a negative errno when the loop itself cannot go on.
 */
int ls_controller_run(struct ls_controller *c);

/* Frees everything; a client still stuck in a collector thread is left to
 * the process exit rather than waited for. _free(NULL) is a no-op. */
void ls_controller_free(struct ls_controller *c);

/*
 * Writes one decision as DESIGN.md section 6 specifies: a JSON object on
 * one line, or a text line. Shared with `lagscale demo`.
 */
void ls_controller_print_decision(FILE *out, enum ls_output fmt, int64_t wall_ms,
				  const struct ls_config_scaler *s, const struct ls_decision *d,
				  bool applied);

#endif
