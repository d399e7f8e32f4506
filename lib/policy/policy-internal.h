/*
 * policy-internal.h - what the files of lib/policy share and nobody else
 * sees: the scaler's history (struct ls_policy_state) and the damping and
 * learning helpers that work on it.
 *
 * Every list in the state is bounded: recommendations and scale events are
 * pruned past the longest stabilization window or policy period, rate
 * samples past LS_RATE_WINDOW_MS (and LS_RATE_MAX_SAMPLES), and the offset
 * memory holds one entry per partition of the last snapshot. The engine
 * allocates only when a list grows past what it held before, so a scaler
 * that never learns a rate holds no sample ring at all.
 */
#ifndef LS_POLICY_INTERNAL_H
#define LS_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* How long a learned per-replica rate sample counts (rate mode, auto). */
#define LS_RATE_WINDOW_MS (5 * 60 * 1000)
/* Rate samples kept at most (a 5 minute window at a 1 s polling interval
 * would need 300; more samples than this only refine a maximum). */
#define LS_RATE_MAX_SAMPLES 64
/* Lag worth this many seconds of consumption means the replicas never ran
 * out of work during the interval: they were saturated. */
#define LS_SATURATED_BACKLOG_S 5.0
/* A learned per-replica rate loses half its weight in this time unless a
 * new saturated sample confirms it. */
#define LS_RATE_HALF_LIFE_MS (6 * 3600 * 1000LL)
/* Two saturated intervals in a row within this fraction of each other:
 * the replicas had all started, the sample is the capacity. */
#define LS_SETTLED_FRACTION 0.1
/* With a downstream limit and no known rate, scale-ups wait this many
 * stable reads for the rate to be measured, then go on regardless. */
#define LS_LEARN_HOLD_ROUNDS 4

struct ls_rec {
	int64_t t_ms;
	int32_t replicas;
};

struct ls_scale_event {
	int64_t t_ms;
	int32_t change; /* > 0 added, < 0 removed */
};

struct ls_rate_sample {
	int64_t t_ms;
	double per_replica; /* msgs/s per replica over one interval */
	bool saturated;	    /* true: ~capacity; false: a lower bound on it */
};

/* One topic of the remembered snapshot: its partitions are mem_parts[first, first+n). */
struct ls_mem_topic {
	char *name;
	size_t first;
	size_t n;
};

struct ls_mem_part {
	int32_t partition;
	int64_t committed;
	int64_t end;
};

struct ls_produce_sample {
	int64_t t_ms;
	double rate; /* msgs/s produced over the interval ending at t_ms */
};

struct ls_policy_state {
	bool seeded;
	int64_t last_active_ms;
	int32_t consecutive_failures;
	int32_t last_current; /* current replicas of the last decision */
	int32_t stable_rounds; /* consecutive reads with the replica count unchanged */
	bool seen_change;      /* the replica count changed since the state was new */
	bool prev_valid;       /* prev_per is the previous interval's sample */
	bool prev_saturated;
	double prev_per;

	/* Recommendations, sorted by time; a run of equal ones is kept as its
	 * newest (ls_policy_rec_add). */
	struct ls_rec *recs;
	size_t n_recs, alloc_recs;
	struct ls_scale_event *events; /* sorted by time */
	size_t n_events, alloc_events;

	/* A ring of alloc_samples (grown by doubling up to
	 * LS_RATE_MAX_SAMPLES, NULL until the first sample): n_samples from
	 * first_sample on, oldest first. */
	struct ls_rate_sample *samples;
	size_t n_samples, first_sample, alloc_samples;
	double rate_estimate; /* last saturated estimate, fading; 0 none */
	int64_t rate_estimate_ms; /* when rate_estimate was last brought up to date */
	double lb_best;	      /* the highest lower bound ever seen; 0 none */
	int32_t lb_replicas;  /* the replica count it was seen with */

	/* The previous successful read, for excludePersistentLag, rates and
	 * saturation. */
	bool have_mem;
	int64_t mem_time_ms;
	int64_t mem_scaling_lag;
	struct ls_mem_topic *mem_topics;
	size_t n_mem_topics, alloc_mem_topics;
	struct ls_mem_part *mem_parts;
	size_t n_mem_parts, alloc_mem_parts;

	/* Produce rates of the scale-down window (the scale-down floor): only
	 * those higher than every later one (ls_policy_produced_add). */
	struct ls_produce_sample *produced;
	size_t n_produced, alloc_produced;
};

/* history.c */
int ls_policy_rec_add(struct ls_policy_state *st, int64_t t_ms, int32_t replicas);
void ls_policy_prune(struct ls_policy_state *st, const struct ls_policy_params *p, int64_t now_ms);
/* Added (up) or removed (down, as a positive number) within (now - period, now]. */
int32_t ls_policy_change_in_period(const struct ls_policy_state *st, int64_t now_ms,
				   int64_t period_ms, bool up);
/* The previous committed/end offsets of a partition; NULL when unknown. */
const struct ls_mem_part *ls_policy_mem_find(const struct ls_policy_state *st, const char *topic,
					     int32_t partition);
int ls_policy_mem_store(struct ls_policy_state *st, const struct ls_lag_snapshot *s,
			int64_t scaling_lag);
/* Records the produce rate at t_ms and forgets those older than window_ms. */
int ls_policy_produced_add(struct ls_policy_state *st, int64_t t_ms, double rate,
			   int64_t window_ms);
/* The highest produce rate recorded after since_ms; -1 when none. */
double ls_policy_produced_peak(const struct ls_policy_state *st, int64_t since_ms);
/* Records a rate sample, forgetting the oldest when LS_RATE_MAX_SAMPLES
 * are kept, or when the ring cannot grow (no memory: fewer samples only
 * refine the maximum less). */
void ls_policy_sample_add(struct ls_policy_state *st, int64_t t_ms, double per_replica,
			  bool saturated);

/*
 * The HPA's scale-up and scale-down limits (calculateScaleUpLimitWith-
 * ScalingRules / calculateScaleDownLimitWithBehaviors) against the replica
 * count at the start of each policy's period. *ret_policy is the index of
 * the policy that set the limit, -1 when selectPolicy is Disabled.
 */
int32_t ls_policy_scale_up_limit(const struct ls_policy_state *st, const struct ls_scaling_rules *r,
				 int64_t now_ms, int32_t current, int *ret_policy);
int32_t ls_policy_scale_down_limit(const struct ls_policy_state *st,
				   const struct ls_scaling_rules *r, int64_t now_ms, int32_t current,
				   int *ret_policy);

#endif
