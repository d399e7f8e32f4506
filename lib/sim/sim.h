/*
 * sim.h - the workload simulator behind `lagscale simulate` and `lagscale
 * demo`: a virtual clock, a topic, consumers and a downstream, driven by a
 * scenario file (DESIGN.md section 7), with the real policy engine (or the
 * KEDA baseline of keda.h) deciding every pollingInterval.
 *
 * The model, step by step (the scenario's `step`):
 * - producers add the produce curve's messages (trapezoid over the step);
 *   they spread evenly over `partitions` partitions of one topic;
 * - each replica processes perReplicaRate msgs/s, from startupDelay after
 *   it was added; a removed replica stops at once (the newest go first,
 *   as a ReplicaSet removes not-ready pods first); replicas beyond the
 *   partition count are idle; nothing is processed during a consumer
 *   outage;
 * - maxConsumeRate is the downstream's capacity (a database): when the
 *   replicas ask for more, it degrades instead of serving more: it then
 *   delivers maxConsumeRate x (maxConsumeRate / asked), the way response
 *   times that grow tenfold cut throughput (the thundering herd);
 * - the engine sees a struct ls_lag_snapshot with committed and end
 *   offsets per partition and the rates since the previous good read, or
 *   a failed one (err != 0) inside a kafkaErrors window;
 * - the message age is exact: the oldest unconsumed message is the one at
 *   cumulative position `consumed` of the produce history, its age the
 *   time since it was produced (the initial backlog counts as produced at
 *   t = 0).
 *
 * Pure computation on virtual time: no I/O, no clock. Thread-safe as long
 * as the scenario and outputs are not shared.
 */
#ifndef LS_SIM_SIM_H
#define LS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "config/scenario.h"
#include "policy/policy.h"
#include "sim/series.h"
#include "util/buf.h"

enum ls_sim_policy {
	LS_SIM_SCENARIO = 0, /* the scenario's own policy block: its mode decides */
	LS_SIM_LAG,	     /* the engine with mode forced to lag */
	LS_SIM_RATE,	     /* the engine with mode forced to rate */
	LS_SIM_KEDA,	     /* the KEDA + HPA baseline (keda.h) */
};

/* "lag", "rate", "keda" → 0; anything else -EINVAL (ret untouched). */
int ls_sim_policy_parse(const char *s, enum ls_sim_policy *ret);
/* The name of a resolved policy ("lag", "rate", "keda"). */
const char *ls_sim_policy_name(enum ls_sim_policy p);

struct ls_sim_options {
	enum ls_sim_policy policy;
	struct ls_series *series; /* NULL: not recorded; else one point per step is appended */
	/* Called after every decision (NULL: none), e.g. to print reasons. */
	void (*on_decision)(void *ctx, int64_t t_ms, const struct ls_decision *d);
	void *ctx;
};

struct ls_sim_result {
	enum ls_sim_policy policy; /* resolved: never LS_SIM_SCENARIO */
	int64_t peak_lag;
	double peak_lag_seconds; /* the longest any message waited */
	/* From the peak lag until it first fell below one lagThreshold; 0 when
	 * the peak is below it; -1 when it never fell (drained false). */
	double drain_seconds;
	bool drained;
	double replica_seconds;
	int32_t scale_events;
	int32_t max_replicas;
	double peak_consume_rate; /* delivered, msgs/s */
	double peak_demand_rate;  /* asked of downstream by the replicas, msgs/s */
	double overload_seconds;  /* time the replicas asked more than maxConsumeRate */
	int32_t direction_reversals; /* scale events against the previous one within 5 minutes */
	int64_t final_lag;
	int32_t decisions;
	int32_t fallbacks; /* decisions with action fallback */
};

/*
 * Runs sc to the end. 0 and *ret filled; -EINVAL when sc or its policy is
 * invalid (ret untouched), -ENOMEM. The series, when given, is appended to
 * even on failure (the caller releases it).
 */
int ls_sim_run(const struct ls_scenario *sc, const struct ls_sim_options *o,
	       struct ls_sim_result *ret);

/* The summary object of DESIGN.md section 6, one line, newline included. */
int ls_sim_result_json(const struct ls_sim_result *r, const char *scenario, struct ls_buf *out);
/* A few lines for people. */
int ls_sim_result_text(const struct ls_sim_result *r, const struct ls_scenario *sc,
		       struct ls_buf *out);

#endif
