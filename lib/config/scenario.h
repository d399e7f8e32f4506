/*
 * scenario.h - simulator scenario files (DESIGN.md section 7), read with
 * the same YAML machinery and the same error reporting as the config:
 * every error as "FILE:LINE:COL: key.path: what is wrong".
 *
 * The `scaler:` block holds a scaler's `policy:` block (and optionally
 * `kafka: {offsetResetPolicy: ...}`), parsed exactly as in a config file,
 * defaults included (the same code: lib/config/walk.c).
 *
 * Required: duration, partitions, perReplicaRate, produce (at least one
 * point, `at` strictly increasing, rates >= 0). Defaults: name = the file
 * name without directory and extension, step 1s, initialReplicas = the
 * policy's minReplicas, startupDelay 0s, maxConsumeRate 0, initialLag 0
 * (a backlog present at t=0, an extension of DESIGN.md section 7), no
 * consumerOutages or kafkaErrors (each a list of {from, to}, from < to).
 *
 * The partition model (DESIGN.md section 7): `assignor` (range, roundrobin
 * or cooperative-sticky; default range), `partitionWeights` (a map from a
 * partition list such as "0" or "1-3,7" to that list's produce share, a
 * number >= 0; partitions not named weigh 1; every partition at most once,
 * every one below `partitions`, and the weights may not all be 0),
 * `rebalancePause` (default 0s) and `commitInterval` (default 0s).
 *
 * Limits, so that a simulation stays within memory and its numbers exact:
 * partitions at most LS_PARTITIONS_MAX, initialReplicas and the policy's
 * maxReplicas at most LS_SCENARIO_MAX_REPLICAS, initialLag at most
 * LS_SCENARIO_MAX_LAG, every rate (produce, perReplicaRate,
 * maxConsumeRate) at most LS_SCENARIO_MAX_RATE msgs/s, durations at most
 * LS_PARSE_DURATION_MAX_MS (366 days) and at most 10,000,000 steps.
 */
#ifndef LS_CONFIG_SCENARIO_H
#define LS_CONFIG_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "policy/partitions.h"

#define LS_SCENARIO_MAX_REPLICAS 100000
#define LS_SCENARIO_MAX_LAG	 1000000000000000LL /* 10^15 messages */
#define LS_SCENARIO_MAX_RATE	 1e9                /* msgs/s */
#include "policy/policy.h"
#include "util/diag.h"

struct ls_scenario_point {
	int64_t at_ms;
	double rate; /* msgs/s */
};

struct ls_scenario_window {
	int64_t from_ms;
	int64_t to_ms;
};

struct ls_scenario {
	char *name;
	int64_t duration_ms;	    /* > 0 */
	int64_t step_ms;	    /* > 0, default 1s */
	int32_t partitions;	    /* > 0 */
	int32_t initial_replicas;   /* >= 0 */
	double per_replica_rate;    /* msgs/s one replica processes, > 0 */
	int64_t startup_delay_ms;   /* default 0 */
	double max_consume_rate;    /* downstream limit, 0 = none */
	int64_t initial_lag;	    /* backlog at t=0, default 0 */
	struct ls_scenario_point *produce; /* sorted by at_ms, at least one */
	size_t n_produce;
	struct ls_scenario_window *consumer_outages;
	size_t n_consumer_outages;
	struct ls_scenario_window *kafka_errors;
	size_t n_kafka_errors;
	enum ls_assignor assignor;  /* default range */
	/* Per partition (`partitions` entries): its produce share relative to
	 * the others; NULL when every partition weighs 1. Not normalized. */
	double *partition_weights;
	int64_t rebalance_pause_ms; /* each membership change stops consumption this long */
	int64_t commit_interval_ms; /* committed offsets trail consumption by this; 0: at once */
	struct ls_policy_params policy; /* the scaler's policy block */
};

/* 0 and *ret (free with ls_scenario_free); -EINVAL with diag filled, or a
 * negative errno when the file cannot be read. */
int ls_scenario_load(const char *path, struct ls_scenario **ret, struct ls_diag *diag);
int ls_scenario_load_string(const char *name, const char *yaml, size_t len,
			    struct ls_scenario **ret, struct ls_diag *diag);
void ls_scenario_free(struct ls_scenario *s);

/* The produce rate at t (piecewise linear between points, constant before
 * the first and past the last point). */
double ls_scenario_produce_rate(const struct ls_scenario *s, int64_t t_ms);

#endif
