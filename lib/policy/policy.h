/*
 * policy.h - the decision engine: lag snapshot + current replicas + the
 * scaler's history + the time → how many replicas, and why.
 *
 * Pure: no I/O, no clock, no globals. Time comes in as now_ms (monotonic in
 * the controller, virtual in the simulator), so the same engine runs in the
 * controller, the simulator and the tests. Semantics: DESIGN.md section 5.
 *
 * Partitions (partitionAware, the default; lib/policy/partitions.h): only
 * replica counts the partitions can use are chosen, under the assignor the
 * snapshot's group reports (range when unknown). Lag mode rounds up to the
 * next useful count; rate mode takes the smallest useful count whose
 * busiest consumer carries its partitions' produce rate and drains their
 * backlog in targetDrainTime, from per-partition rates (offset deltas) and
 * lags. A maxReplicas that is not useful acts as the useful count below it;
 * a behavior limit between useful counts lands on the useful count below
 * (up) or above (down); when no useful count lies between the current
 * count and an upward limit, the limit itself is set, a step toward the
 * next useful count that never exceeds the behavior. Replicas that cannot lighten the busiest consumer
 * are not added (hot partitions: decision.hot). Scale-down stops at the
 * replicas the peak produce rate of the scale-down window needs at a
 * proven per-replica rate (configured, or learned while saturated).
 *
 * Thread-safety: a struct ls_policy_state belongs to one scaler and is used
 * by one thread at a time; params are read-only.
 */
#ifndef LS_POLICY_POLICY_H
#define LS_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/offsets.h"

#define LS_POLICY_MAX_RATE_POLICIES 8

enum ls_policy_mode { LS_MODE_LAG = 0, LS_MODE_RATE };
enum ls_select_policy { LS_SELECT_MAX = 0, LS_SELECT_MIN, LS_SELECT_DISABLED };
enum ls_rate_policy_type { LS_RATE_PODS = 0, LS_RATE_PERCENT };
enum ls_fallback_behavior {
	LS_FALLBACK_STATIC = 0,
	LS_FALLBACK_CURRENT,
	LS_FALLBACK_CURRENT_IF_HIGHER,
	LS_FALLBACK_CURRENT_IF_LOWER,
};

struct ls_rate_policy {
	enum ls_rate_policy_type type;
	int32_t value;	   /* pods, or percent of the current replicas */
	int64_t period_ms; /* the window the change is limited over */
};

/* One direction of `behavior` (HPA autoscaling/v2 HPAScalingRules). */
struct ls_scaling_rules {
	int64_t stabilization_window_ms;
	enum ls_select_policy select;
	struct ls_rate_policy policies[LS_POLICY_MAX_RATE_POLICIES];
	size_t n_policies;
};

/* A scaler's `policy:` block; every field as in DESIGN.md section 4. */
struct ls_policy_params {
	enum ls_policy_mode mode;
	int64_t lag_threshold;		  /* > 0 */
	int64_t activation_lag_threshold; /* >= 0 */
	int32_t min_replicas;
	int32_t max_replicas;
	int32_t idle_replicas; /* -1: null (then minReplicas) */
	int64_t polling_interval_ms;
	int64_t cooldown_period_ms;
	double tolerance;
	bool allow_idle_consumers;
	bool limit_to_partitions_with_lag;
	bool partition_aware;	 /* only useful replica counts (DESIGN.md section 5) */
	bool even_distribution; /* KEDA's ensureEvenDistributionOfPartitions: divisors of P */
	bool exclude_persistent_lag;
	bool scale_to_zero_on_invalid_offset;
	int64_t target_drain_time_ms;
	double per_replica_rate; /* msgs/s; 0 means auto (learned) */
	double max_consume_rate; /* msgs/s for all replicas together; 0 = none */
	struct ls_scaling_rules scale_up;
	struct ls_scaling_rules scale_down;
	int32_t fallback_failure_threshold;
	int32_t fallback_replicas;
	enum ls_fallback_behavior fallback_behavior;
	/* Copied from the scaler's kafka.offsetResetPolicy by lib/config. */
	enum ls_offset_reset offset_reset;
};

enum ls_action {
	LS_ACTION_NONE = 0,
	LS_ACTION_SCALE_UP,
	LS_ACTION_SCALE_DOWN,
	LS_ACTION_ACTIVATE,
	LS_ACTION_DEACTIVATE,
	LS_ACTION_FALLBACK,
	LS_ACTION_PAUSED,
	LS_ACTION_ERROR,
};

struct ls_policy_input {
	int64_t now_ms;
	/* This round's read; snap->err != 0 means the read failed ("unknown"). */
	const struct ls_lag_snapshot *snap;
	int32_t current_replicas;
	bool paused;		 /* lagscale.io/paused: "true" */
	int32_t paused_replicas; /* lagscale.io/paused-replicas, or -1 */
};

struct ls_decision {
	enum ls_action action;
	int32_t current_replicas;
	int32_t recommended_replicas; /* the policy's answer before damping */
	int32_t desired_replicas;     /* what to set now (after damping) */
	int64_t total_lag;	      /* -1 when the read failed */
	int64_t scaling_lag;	      /* lag that drove the recommendation */
	int32_t partition_count;      /* -1 when the read failed */
	double produce_rate;	      /* msgs/s, -1 unknown */
	double consume_rate;	      /* msgs/s, -1 unknown */
	double per_replica_rate;      /* rate mode: the rate used (learned or set) */
	bool active;		      /* lag above activationLagThreshold */
	bool fallback;		      /* the fallback behavior decided */
	int32_t consecutive_failures;
	int32_t hot_partitions; /* partitions more replicas cannot help (rate > one replica's) */
	bool hot;		/* the backlog sits where more replicas do not help */
	int32_t members;   /* the group's members as Kafka reports them; -1 unknown */
	char assignor[64]; /* the group's partition assignor; "" unknown or none */
	char reason[512]; /* one line; a longer one ends at a whole word with "..." */
};

/*
 * Zeroes d, then marks every figure a read gives as unknown (lag,
 * partitions, members, rates: -1) and sets the current, recommended and
 * desired replicas to current: the start of every decision, and all of one
 * that knows nothing (an error decision sets action and reason).
 */
void ls_decision_init(struct ls_decision *d, int32_t current);

/* Fills p with every default of DESIGN.md section 4. */
void ls_policy_params_init(struct ls_policy_params *p);

/*
 * 0 when p is consistent, else -EINVAL: lagThreshold > 0, 0 <= minReplicas
 * <= maxReplicas, maxReplicas >= 1, -1 <= idleReplicas <= maxReplicas,
 * pollingInterval > 0, tolerance >= 0, targetDrainTime > 0 in rate mode,
 * rates >= 0, every behavior policy with value > 0 and period > 0, at most
 * LS_POLICY_MAX_RATE_POLICIES of them, and every enum in range.
 * ls_policy_decide() checks the same.
 */
int ls_policy_params_validate(const struct ls_policy_params *p);

/* True when every field of a and b is the same (a reload keeps a scaler's
 * history only then). */
bool ls_policy_params_equal(const struct ls_policy_params *a, const struct ls_policy_params *b);

/* The HPA's default behavior (also what ls_policy_params_init sets). */
void ls_policy_rules_default_up(struct ls_scaling_rules *r);
void ls_policy_rules_default_down(struct ls_scaling_rules *r);

/* A scaler's history. _free(NULL) is a no-op. NULL on -ENOMEM. */
struct ls_policy_state *ls_policy_state_new(void);
void ls_policy_state_free(struct ls_policy_state *st);

/*
 * Decides for one round. Returns 0 and fills *ret; -EINVAL when st, p, in,
 * in->snap or ret is NULL, params fail ls_policy_params_validate(),
 * current_replicas < 0 or paused_replicas < -1; -ENOMEM when the history
 * cannot grow. On failure *ret is untouched. Records the recommendation in
 * the history. The first call seeds the history with in->current_replicas
 * so a restart never scales down before a stabilization window has passed.
 *
 * Order of the rules (DESIGN.md section 5):
 * - paused / paused-replicas: action `paused`, nothing else happens;
 * - a failed read (snap->err != 0): `error` holding the current replicas
 *   until fallback_failure_threshold consecutive failures, then `fallback`
 *   (never to 0 from a running workload); the cooldown does not run;
 * - inactive (total lag <= activationLagThreshold, and fewer messages
 *   produced per pollingInterval than that: a consumer that keeps up shows
 *   no lag but is not idle): after cooldownPeriod
 *   without activity, `deactivate` straight to idleReplicas (or
 *   minReplicas); within it, the scaling rules below with a floor of 1;
 * - scaling: the mode's recommendation (lag: ceil(lag / lagThreshold);
 *   rate: ceil((produce + backlog / targetDrainTime) / perReplicaRate);
 *   in lag mode, once perReplicaRate is set or learned (or a consume rate
 *   per replica was seen with fewer replicas than now), never fewer than
 *   ceil(produce / that rate), so that a consumer keeping up is not scaled
 *   down into lag again: the flapping of lag-only scaling),
 *   unchanged within `tolerance` of the current replicas, capped at the
 *   partitions (or those with lag), at maxConsumeRate / perReplicaRate,
 *   clamped to [max(minReplicas, 1), maxReplicas], then stabilized and
 *   rate-limited as the HPA does. From 0 an active scaler gets >= 1.
 *
 * perReplicaRate auto (0): learned from the consume rate per replica of
 * intervals in which the replica count did not change. Each is a lower
 * bound on a replica's capacity; it is the capacity when the replicas were
 * saturated (lag at both ends, growing or worth at least 5 s of
 * consumption) and settled (two such intervals in a row within 10% of each
 * other, so no replica was still starting). The estimate is the highest
 * capacity sample of the last 5 minutes, kept when no new one comes, and
 * raised by any higher lower bound. Before the first: the highest lower
 * bound ever seen (never a scale-down on a guess), and with
 * no sample at all the prior lagThreshold per pollingInterval (the
 * assumption lag mode makes). With maxConsumeRate set and the
 * rate not measured yet, scale-ups after the first wait (up to 4 reads)
 * for a measurement; the maxConsumeRate cap is a hard bound like
 * maxReplicas, not held back by the down-window.
 */
int ls_policy_decide(struct ls_policy_state *st, const struct ls_policy_params *p,
		     const struct ls_policy_input *in, struct ls_decision *ret);

/*
 * Tells the engine that the replicas were changed from `from` to `to` at
 * now_ms (the scale events the behavior policies limit over a period).
 * Call it only when the change was applied (or, in dry-run, assumed).
 */
void ls_policy_applied(struct ls_policy_state *st, int64_t now_ms, int32_t from, int32_t to);

/*
 * Sets snap's produce and consume rates (msgs/s) from the read the state
 * remembers, the last one a decision was made on (paused or not), as
 * ls_lag_snapshot_rates() does from a previous snapshot: so that a caller
 * need not keep one. Both -1 when st is NULL, snap failed, or there is no
 * earlier read.
 */
void ls_policy_snapshot_rates(const struct ls_policy_state *st, struct ls_lag_snapshot *snap);

/* Writes v with thousands separators ("45,000") into out; returns out. */
char *ls_policy_format_count(int64_t v, char *out, size_t size);

/* "none", "scale_up", ... as in DESIGN.md section 6. */
const char *ls_policy_action_name(enum ls_action a);

#endif
