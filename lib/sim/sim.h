/*
 * sim.h - the workload simulator behind `lagscale simulate` and `lagscale
 * demo`: a virtual clock, a topic, consumers and a downstream, driven by a
 * scenario file (DESIGN.md section 7), with the real policy engine (or the
 * KEDA baseline of keda.h) deciding every pollingInterval.
 *
 * The model, step by step (the scenario's `step`):
 * - producers add the produce curve's messages (trapezoid over the step)
 *   to one topic of `partitions` partitions, each partition its share
 *   (partitionWeights: weight / sum of weights; uniform by default); the
 *   initial backlog is split the same way. Every partition has its own
 *   log end, consumer position, committed offset and lag;
 * - a replica is a member of the group from startupDelay after it was
 *   added; a removed replica leaves at once (the newest go first, as a
 *   ReplicaSet removes not-ready pods first). Members are numbered oldest
 *   first, and the scenario's assignor gives them partitions with
 *   ls_partitions_assign() (lib/policy/partitions.h). Under
 *   cooperative-sticky the counts per member are that function's, but a
 *   partition stays with its member while the member is under its count,
 *   so a change moves as few partitions as the real assignor does;
 * - every membership change (the count of members changes) is a rebalance:
 *   for rebalancePause no partition is consumed under an eager assignor
 *   (range, roundrobin), and under cooperative-sticky the partitions whose
 *   owner changed are not consumed;
 * - each member processes up to perReplicaRate msgs/s, split over the
 *   partitions it owns that have backlog (and are not paused) by water
 *   filling: each gets the smaller of its backlog and a fair share of what
 *   is left, and what a partition does not need goes to the others.
 *   Members with no partition are idle; nothing is processed during a
 *   consumer outage (the members stay in the group);
 * - maxConsumeRate is the downstream's capacity (a database): when the
 *   members ask for more, it degrades instead of serving more: it then
 *   delivers maxConsumeRate x (maxConsumeRate / asked), the way response
 *   times that grow tenfold cut throughput (the thundering herd); every
 *   partition gets the same fraction of what was asked for it;
 * - committed offsets: every commitInterval (from t = 0) each partition's
 *   committed offset becomes its consumer position; with 0 at every step;
 * - lag is what Kafka reports, log end - committed offset, per partition
 *   and summed; the engine sees a struct ls_lag_snapshot with those
 *   offsets, the rates since the previous good read and the group as
 *   DescribeConsumerGroups would show it (state "Stable", the assignor,
 *   one member per replica past its startup delay, each partition's
 *   owner), or a failed read (err != 0) inside a kafkaErrors window;
 * - the message age is exact: partition j's log is share_j times the
 *   whole produce history, so the oldest unconsumed message over all
 *   partitions is the one at cumulative position min_j(position_j /
 *   share_j) of that history (over partitions with a whole message
 *   waiting), and its age is the time since it was produced (the initial
 *   backlog counts as produced at t = 0).
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
	LS_SIM_ORACLE,	     /* the yardstick (oracle.h) */
};

/* The policies `simulate --compare` runs, in its order. */
#define LS_SIM_COMPARE_N 4
extern const enum ls_sim_policy ls_sim_compare_policies[LS_SIM_COMPARE_N];

/* "lag", "rate", "keda", "oracle" → 0; anything else -EINVAL (ret untouched). */
int ls_sim_policy_parse(const char *s, enum ls_sim_policy *ret);
/* The name of a resolved policy ("lag", "rate", "keda", "oracle"). */
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
	/* The integral of the total lag over time (trapezoids over the
	 * steps): what all messages waited together, in message-seconds. */
	double lag_message_seconds;
	/* From the lag first reaching one lagThreshold until it is first back
	 * under it; 0 when it never reaches it; -1 when it never comes back
	 * (drained false). */
	double drain_seconds;
	bool drained;
	double replica_seconds;
	/* replica_seconds / the oracle's, set by ls_sim_compare() only (then
	 * has_oracle_cost_ratio is true; the oracle's replica-seconds are 0
	 * only when it ran no replica, and the ratio is then 0). */
	double oracle_cost_ratio;
	bool has_oracle_cost_ratio;
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

/*
 * `simulate --compare`: runs each of ls_sim_compare_policies on sc, fills
 * ret[i] for policy i with its oracle_cost_ratio set, and records into
 * series[i] when series is not NULL (an array of LS_SIM_COMPARE_N
 * initialized series, appended to even on failure; the caller releases
 * them). 0; -EINVAL when sc, ret or sc's policy is invalid (ret untouched);
 * -ENOMEM.
 */
int ls_sim_compare(const struct ls_scenario *sc, struct ls_series *series,
		   struct ls_sim_result ret[LS_SIM_COMPARE_N]);

/* The table of a comparison for people: one header, one row per result. */
int ls_sim_compare_text(const struct ls_sim_result *r, size_t n, const struct ls_scenario *sc,
			struct ls_buf *out);

/* The summary object of DESIGN.md section 6, one line, newline included;
 * "oracleCostRatio" only when r->has_oracle_cost_ratio. */
int ls_sim_result_json(const struct ls_sim_result *r, const char *scenario, struct ls_buf *out);
/* A few lines for people. */
int ls_sim_result_text(const struct ls_sim_result *r, const struct ls_scenario *sc,
		       struct ls_buf *out);

#endif
