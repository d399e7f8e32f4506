/*
 * partitions.h - how a consumer group's partitions map onto its consumers,
 * and which replica counts that mapping can use (DESIGN.md section 5,
 * "Partitions"; issue 10).
 *
 * Kafka gives each consumer of a group whole partitions, so the group's
 * throughput is set by its most loaded consumer. A replica count R is
 * *useful* when no smaller count gives the same load (partitions owned) on
 * the most loaded consumer. 22 consumers on 24 partitions leave 2 of them
 * with 2 partitions each: no more throughput than 12 consumers give.
 *
 * The model. A group reads topics t = 0..T-1, topic t having P_t partitions;
 * P = sum P_t. Partitions have one global order: topic order as given, then
 * partition index (topic t's partition p is global index first_t + p, first_t
 * = P_0 + ... + P_{t-1}). Consumers are numbered 0..R-1 in the order the
 * assignor sorts members (by member id). Give the topics sorted by name, as
 * a struct ls_lag_snapshot holds them: Kafka's assignors sort topics by
 * name, so the global order then is theirs.
 *   - range: each topic on its own. With fl = P_t / R and ex = P_t % R,
 *     consumer i gets topic t's partitions [i*fl + min(i, ex), +fl + (i < ex)):
 *     the first ex consumers get one more. Consumer 0 therefore collects the
 *     extra partition of every topic; its load, sum_t ceil(P_t / R), is the
 *     maximum. (Kafka's RangeAssignor and librdkafka's "range".)
 *   - roundrobin: the global list dealt round robin, global index j to
 *     consumer j % R. Loads are floor(P / R) or ceil(P / R).
 *   - cooperative-sticky: Kafka balances the counts as roundrobin does, but
 *     which partitions land together depends on the group's history, which
 *     this model does not know. It is modelled as roundrobin: the same
 *     loads, and roundrobin's assignment for the bottleneck. With skewed
 *     per-partition rates the real bottleneck may differ; use the group's
 *     real assignment (DescribeConsumerGroups) where it matters.
 * Counts above the top useful count (max P_t under range, P otherwise) only
 * add idle consumers.
 *
 * For one topic (or roundrobin over P) the useful counts are ceil(P / k),
 * k = 1..P (24: 1 2 3 4 5 6 8 12 24). Under range they are the union of
 * every topic's such counts: the load sum_t ceil(P_t / R) falls at R exactly
 * when one of its terms does.
 *
 * Cost: ls_partitions_new() is O(P + T log T) and allocates; the count
 * queries are O(log P) (max_load and spread O(T) under range); the queries
 * that take per-partition rates are O(P) per replica count looked at, and
 * never allocate.
 *
 * Pure: no I/O, no clock, no globals, no logging. Thread-safety: a model is
 * immutable once built; any number of threads may query one at a time as
 * long as none frees it.
 */
#ifndef LS_POLICY_PARTITIONS_H
#define LS_POLICY_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most partitions (all topics together) and topics a model takes. */
#define LS_PARTITIONS_MAX 1000000

enum ls_assignor {
	LS_ASSIGNOR_RANGE = 0,
	LS_ASSIGNOR_ROUNDROBIN,
	LS_ASSIGNOR_COOPERATIVE_STICKY,
};

/*
 * Reads an assignor's name: "range", "roundrobin", "cooperative-sticky"
 * (librdkafka's and Kafka's protocol names), "sticky" and "uniform" (KIP-848's
 * server-side assignor) as cooperative-sticky, and the Java classes
 * org.apache.kafka.clients.consumer.RangeAssignor, RoundRobinAssignor,
 * CooperativeStickyAssignor and StickyAssignor. Names are exact (case
 * matters, no spaces). 0, or -EINVAL when s is NULL, empty or unknown (then
 * *ret_assignor is untouched). For configuration, where an unknown name is
 * an error.
 */
int ls_partitions_assignor_parse(const char *s, enum ls_assignor *ret_assignor);

/*
 * The assignor a group reports (DescribeConsumerGroups' protocol name):
 * as ls_partitions_assignor_parse(), but NULL, empty (an empty group) or
 * unknown names give LS_ASSIGNOR_RANGE, Kafka's default.
 */
enum ls_assignor ls_partitions_assignor_of_group(const char *s);

/* "range", "roundrobin", "cooperative-sticky"; "unknown" out of range. */
const char *ls_partitions_assignor_name(enum ls_assignor a);

/* A group's partitions under one assignor. Opaque. */
struct ls_partitions;

/*
 * Builds the model of topics with counts[0..n_topics-1] partitions (in the
 * global order above). A topic with 0 partitions is allowed and owns
 * nothing. Returns 0 and sets *ret (free it with ls_partitions_free());
 * -EINVAL when counts or ret is NULL, n_topics is 0 or above
 * LS_PARTITIONS_MAX, a count is negative, the total is 0 or above
 * LS_PARTITIONS_MAX, or the assignor is out of range; -ENOMEM. On failure
 * *ret is untouched. counts is copied.
 */
int ls_partitions_new(const int32_t *counts, size_t n_topics, enum ls_assignor a,
		      struct ls_partitions **ret);

/* Frees the model; NULL is a no-op. */
void ls_partitions_free(struct ls_partitions *m);

/* P, the partitions of all topics; 0 for NULL. */
int32_t ls_partitions_total(const struct ls_partitions *m);

/* The assignor the model was built with; range for NULL. */
enum ls_assignor ls_partitions_assignor(const struct ls_partitions *m);

/*
 * Every useful count, ascending, starting at 1 and ending at the top useful
 * count (the one where the maximum load reaches its minimum). *ret_n gets
 * their number. The array belongs to the model and lives as long as it.
 * NULL (and *ret_n = 0) for a NULL model; ret_n may be NULL.
 */
const int32_t *ls_partitions_useful(const struct ls_partitions *m, size_t *ret_n);

/*
 * The most partitions any one of r consumers owns. 0, or -EINVAL when m or
 * ret_load is NULL or r < 1 (*ret_load untouched).
 */
int ls_partitions_max_load(const struct ls_partitions *m, int32_t r, int32_t *ret_load);

/* How r consumers share the partitions. */
struct ls_partitions_spread {
	int32_t max_load; /* the most partitions one consumer owns */
	int32_t at_max;	  /* consumers that own max_load partitions */
	int32_t idle;	  /* consumers that own none */
};

/*
 * The spread for r consumers (for reasons such as "22 would leave 2
 * consumers with 2 partitions"). 0, or -EINVAL when m or ret is NULL or
 * r < 1 (*ret untouched).
 */
int ls_partitions_spread(const struct ls_partitions *m, int32_t r,
			 struct ls_partitions_spread *ret);

/*
 * The smallest useful count >= r; the top useful count when r is above it
 * (more consumers would only be idle). r = 0 gives 1, as KEDA's lag 0 gives
 * factor 1. 0, or -EINVAL when m or ret_replicas is NULL or r < 0
 * (*ret_replicas untouched).
 */
int ls_partitions_next_useful(const struct ls_partitions *m, int32_t r, int32_t *ret_replicas);

/*
 * The largest useful count <= r: what r consumers really give (maxReplicas
 * 20 on 24 partitions acts as 12). 0, or -EINVAL when m or ret_replicas is
 * NULL or r < 1 (*ret_replicas untouched).
 */
int ls_partitions_prev_useful(const struct ls_partitions *m, int32_t r, int32_t *ret_replicas);

/* True when r >= 1 is a useful count of m (false for NULL or r < 1). */
bool ls_partitions_is_useful(const struct ls_partitions *m, int32_t r);

/*
 * The consumer of every partition for r consumers: ret_owner[j] for global
 * index j, n == ls_partitions_total(m) entries. 0, or -EINVAL when m or
 * ret_owner is NULL, r < 1 or n is not the total (ret_owner untouched).
 */
int ls_partitions_assign(const struct ls_partitions *m, int32_t r, int32_t *ret_owner, size_t n);

/*
 * KEDA's ensureEvenDistributionOfPartitions. KEDA lists the factors of the
 * partition count of all topics together, in ascending order, and takes the
 * first one at or above the replicas the lag asks for (ceil(lag /
 * lagThreshold)); when none is, it takes the partition count (and then caps
 * at it anyway). This is that: the smallest divisor of p that is >= r, or p
 * when r > p; r = 0 gives 1. 0, or -EINVAL when ret is NULL, p < 1, p above
 * LS_PARTITIONS_MAX or r < 0 (*ret untouched). O(sqrt p).
 */
int ls_partitions_next_divisor(int32_t p, int32_t r, int32_t *ret);

/*
 * The largest divisor of p that is <= r (a maxReplicas that does not divide
 * p, in the divisor form). KEDA has no such rule: it clamps to
 * maxReplicaCount. 0, or -EINVAL when ret is NULL, p < 1, p above
 * LS_PARTITIONS_MAX or r < 1 (*ret untouched).
 */
int ls_partitions_prev_divisor(int32_t p, int32_t r, int32_t *ret);

/*
 * The work of one consumer. Work is what it must process per second to
 * keep up with its partitions and drain their backlog in the drain time:
 * rate + lag / drain_time_s.
 */
struct ls_partitions_load {
	int32_t consumer;   /* its index, 0..r-1 */
	int32_t partitions; /* partitions it owns */
	double rate;	    /* msgs/s produced into them */
	int64_t lag;	    /* messages behind on them (saturates at INT64_MAX) */
	double work;	    /* msgs/s: rate + lag / drain_time_s */
};

/*
 * The bottleneck of r consumers: the consumer with the most work; on a tie
 * the lowest index (consumer 0 owns the most partitions under every model,
 * so with no rates and no lags that is the one with the most partitions).
 * rate[j] (msgs/s) and lag[j] (messages) are per global index, n ==
 * ls_partitions_total(m) of each; either may be NULL for all zero.
 *
 * Which partitions land together matters: under range with one hot
 * partition, the consumer that owns it with its neighbours is the
 * bottleneck, and that work is not monotone in r (6 partitions with rates
 * 0 0 5 5 0 0: range gives 5 at r=2 but 10 at r=3).
 *
 * 0, or -EINVAL when m or ret is NULL, r < 1, n is not the total, a rate is
 * negative or not finite, a lag is negative, or drain_time_s is not finite
 * and > 0 (*ret untouched).
 */
int ls_partitions_bottleneck(const struct ls_partitions *m, int32_t r, const double *rate,
			     const int64_t *lag, size_t n, double drain_time_s,
			     struct ls_partitions_load *ret);

/* Rate mode's answer. */
struct ls_partitions_fit {
	int32_t replicas; /* the useful count chosen */
	bool carried;	  /* its bottleneck keeps up: work <= per_replica_rate */
	struct ls_partitions_load bottleneck; /* at replicas */
};

/*
 * Rate mode's question: the smallest useful count <= max_r whose bottleneck
 * consumer, processing per_replica_rate msgs/s, carries its partitions'
 * produce rate and drains their backlog within drain_time_s (work <=
 * per_replica_rate, within a relative 1e-9 for rounding). Then carried is
 * true. When no useful count <= max_r does (a hot partition, or max_r too
 * low), carried is false and replicas is the smallest useful count <= max_r
 * with the least bottleneck work: more would not help. Every useful count up
 * to max_r is looked at, since the bottleneck's work is not monotone in r
 * under range. Arguments as in ls_partitions_bottleneck(); 0, or -EINVAL
 * also when max_r < 1 or per_replica_rate is not finite and > 0 (*ret
 * untouched).
 */
int ls_partitions_fit(const struct ls_partitions *m, int32_t max_r, const double *rate,
		      const int64_t *lag, size_t n, double drain_time_s, double per_replica_rate,
		      struct ls_partitions_fit *ret);

/* Whether more replicas than r can help with the backlog. */
struct ls_partitions_hot {
	/* Partitions whose own produce rate exceeds per_replica_rate: one
	 * consumer cannot keep up with them whatever r is. */
	int32_t hot;
	int32_t lagging; /* partitions with lag > 0 */
	/* At r, every lagging partition is the only partition its consumer
	 * owns (true when none lags). */
	bool lagging_alone;
	/* The next useful count above r gives the bottleneck less work. False
	 * when r is at or above the top useful count. */
	bool more_helps;
	int32_t next; /* that next useful count; r when there is none */
	struct ls_partitions_load at_r;	   /* the bottleneck at r */
	struct ls_partitions_load at_next; /* the bottleneck at next */
};

/*
 * The hot-partition question at r. "More replicas cannot help" is defined
 * simply: the next useful count above r does not lower the bottleneck
 * consumer's work (!more_helps). It looks one useful count ahead only;
 * under range, with skewed rates, a count further up may still help where
 * the next does not (see ls_partitions_bottleneck()); ls_partitions_fit()
 * looks at all of them. Arguments as in ls_partitions_fit(); 0, or -EINVAL
 * also when r < 1 (*ret untouched).
 */
int ls_partitions_hot(const struct ls_partitions *m, int32_t r, const double *rate,
		      const int64_t *lag, size_t n, double drain_time_s, double per_replica_rate,
		      struct ls_partitions_hot *ret);

#endif
