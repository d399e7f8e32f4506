/*
 * workload.h - a live Kafka workload that follows a scenario file (DESIGN.md
 * section 7): a producer thread that writes the scenario's produce curve
 * (with its partitionWeights) into a topic, and a fleet of real librdkafka
 * consumers whose number follows the replica counts the caller sets, each
 * processing at the scenario's perReplicaRate and committing as it goes.
 * `lagscale demo` runs it on librdkafka's embedded mock cluster; it needs
 * nothing from the mock, so it runs against a real broker too.
 *
 * Time and messages are scaled (ls_workload_plan()): one real millisecond
 * is time_scale virtual ones, and one real message stands for msg_scale
 * virtual ones, so a 90-minute story with 10,000 msgs/s is told in a
 * minute with a few thousand real messages a second. Everything the
 * workload reports is in the scenario's units and virtual time; lag read
 * from the broker is converted with ls_workload_to_virtual().
 *
 * Consumers. A pool of consumer handles is created (and connected) once.
 * Under the `range` and `roundrobin` assignors, a consumer in service is a
 * member of the consumer group: it subscribes to the topic with the
 * scenario's assignor as partition.assignment.strategy, and librdkafka
 * assigns its partitions; taking it out of service commits and
 * unsubscribes (LeaveGroup), so the group has exactly the consumers in
 * service, and every change is a real (eager) rebalance. The group
 * settings (session.timeout.ms 1050, heartbeat.interval.ms 10) make a
 * rebalance on the mock cluster take about 50 ms real: its coordinator
 * waits session.timeout.ms - 1000 ms for members to rejoin. On a real
 * broker a rebalance takes what the broker makes it take.
 * Under `cooperative-sticky` the mock cluster never settles (librdkafka
 * rejoins at most once a second, the coordinator waits 50 ms, and every
 * late member starts another round), so there the workload deals the
 * partitions by hand with rd_kafka_assign(), exactly as
 * ls_partitions_assign() models the assignor, handing positions over with
 * a commit; ls_workload_real_membership() tells which way is in use.
 *
 * A replica set with ls_workload_set_replicas() comes into service after
 * the scenario's startupDelay (virtual); removing replicas removes the
 * newest first, as a ReplicaSet removes pods not yet ready first. During a
 * consumerOutages window, consumers process nothing.
 *
 * Thread-safety: one thread drives a struct ls_workload (new, start,
 * set_replicas, free); the queries (now, produced, ready, stats,
 * describe_group, to_virtual) may be called from any thread. The workload
 * runs threads of its own (one producer, one per pool consumer) between
 * ls_workload_start() and ls_workload_free().
 *
 * lib/ logs at debug level only; errors come back as codes and messages.
 */
#ifndef LS_WORKLOAD_H
#define LS_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/scenario.h"
#include "util/offsets.h"

/* Limits of a replay (ls_workload_plan() refuses a scenario beyond them). */
#define LS_WORKLOAD_MAX_PARTITIONS 64
#define LS_WORKLOAD_MAX_CONSUMERS  32	  /* consumer handles in the pool */
#define LS_WORKLOAD_REAL_RATE	   6000.0 /* real msgs/s at the produce peak */
#define LS_WORKLOAD_MAX_REPLICA_RATE 5000.0 /* real msgs/s of one consumer */
#define LS_WORKLOAD_MIN_REPLICA_RATE 10.0   /* coarser than this tells nothing */
#define LS_WORKLOAD_MIN_POLL_MS	   60	  /* a polling interval in real ms */
#define LS_WORKLOAD_MAX_BACKLOG	   300000 /* real messages of initialLag */

/* How a scenario is scaled onto real time and real messages. */
struct ls_workload_plan {
	double time_scale;   /* virtual ms per real ms (includes the speed) */
	double msg_scale;    /* virtual messages per real message */
	double replica_rate; /* real msgs/s one consumer processes */
	int32_t consumers;   /* consumer handles in the pool */
	double real_seconds; /* the scenario's duration in real seconds */
};

/*
 * Scales scenario sc for a replay at `speed` (1 = the scenario's duration
 * told in about a minute; durations under a minute in real time). The time
 * scale is max(1, duration / 60 s) x speed; the message scale keeps the
 * produce peak at LS_WORKLOAD_REAL_RATE real msgs/s and one consumer at
 * most LS_WORKLOAD_MAX_REPLICA_RATE (at least 1 virtual message per real
 * one). The pool holds maxReplicas consumers (at most the partition count
 * unless allowIdleConsumers), and at least initialReplicas.
 *
 * 0 and *ret_plan; -E2BIG when the scenario is beyond a limit above (more
 * partitions or consumers, a consumer slower than the minimum after
 * scaling, a polling interval shorter than LS_WORKLOAD_MIN_POLL_MS real, or
 * an initialLag of more real messages than LS_WORKLOAD_MAX_BACKLOG), with
 * the reason, naming the limit, in why; -EINVAL for NULL sc or ret_plan or
 * a speed that is not finite and > 0. *ret_plan is untouched on failure;
 * why may be NULL.
 */
int ls_workload_plan(const struct ls_scenario *sc, double speed,
		     struct ls_workload_plan *ret_plan, char *why, size_t whylen);

struct ls_workload;

/*
 * Creates the workload of sc on topic `topic` (it must exist with
 * sc->partitions partitions) of the cluster at `bootstrap`, its consumers
 * in group `group`, scaled by plan (from ls_workload_plan()). It creates
 * the consumer pool and the producer; no thread runs yet. sc, bootstrap,
 * topic and group are borrowed and must outlive the workload. 0 and *ret
 * (free with ls_workload_free()); -EINVAL for NULL arguments or a plan
 * that does not fit sc; -ENOMEM; -EIO when librdkafka refuses a handle
 * (the message in err). *ret is untouched on failure.
 */
int ls_workload_new(const struct ls_scenario *sc, const struct ls_workload_plan *plan,
		    const char *bootstrap, const char *topic, const char *group,
		    struct ls_workload **ret, char *err, size_t errlen);

/*
 * Warms up and starts the story: the producer runs at the curve's first
 * rate, every consumer of the pool comes into service once (so all are
 * connected and have fetched), then the fleet shrinks to initialReplicas,
 * the initialLag backlog is produced, and the virtual clock starts at 0.
 * Waits at most timeout_ms real for each phase to settle. 0; -ETIMEDOUT
 * when the consumers never held every partition or never caught up (the
 * workload is still usable, but its start is not clean); -EAGAIN when a
 * thread could not be started; -EALREADY when already started.
 */
int ls_workload_start(struct ls_workload *w, int timeout_ms);

/* Virtual ms since the story started (negative before). */
int64_t ls_workload_now(const struct ls_workload *w);

/*
 * Sets the replica count at virtual time now_ms, as lagscale set it: new
 * replicas come into service at now_ms + startupDelay. 0, -EINVAL when n is
 * negative, or -ENOMEM (nothing changed). Replicas beyond the pool never
 * come into service.
 */
int ls_workload_set_replicas(struct ls_workload *w, int32_t n, int64_t now_ms);

/* Replicas set (the last ls_workload_set_replicas()), and those in service. */
int32_t ls_workload_replicas(const struct ls_workload *w);
int32_t ls_workload_ready(const struct ls_workload *w);

/* Virtual messages produced since the story started (the initialLag
 * backlog included, as produced at time 0). */
double ls_workload_produced(const struct ls_workload *w);

/* What the fleet does right now. */
struct ls_workload_stats {
	int32_t in_service;	 /* consumers meant to be in service */
	int32_t members;	 /* consumers subscribed (group members) or dealt to */
	int32_t owning;		 /* consumers that hold partitions */
	int32_t partitions_held; /* partitions held, summed over consumers */
	int32_t max_held;	 /* the most partitions one consumer holds */
	int64_t rebalances;	 /* assignments received, over all consumers */
};
void ls_workload_stats(const struct ls_workload *w, struct ls_workload_stats *ret);

/* True when consumers are group members assigned by librdkafka; false
 * when partitions are dealt by hand (cooperative-sticky, see above). */
bool ls_workload_real_membership(const struct ls_workload *w);

/*
 * Converts a lag read of the workload's topic (committed, end and log start
 * offsets, in real messages) into the scenario's units, and stamps it with
 * virtual time now_ms. Failed reads (s->err) are only stamped.
 */
void ls_workload_to_virtual(const struct ls_workload *w, struct ls_lag_snapshot *s,
			    int64_t now_ms);

/*
 * Fills ret (released first with ls_group_info_release()) with the group
 * as the workload runs it: state "Stable", the scenario's assignor, one
 * member per consumer in the group (client id "lagscale-workload-N"). For
 * clusters that cannot describe groups, such as the mock cluster. 0 or
 * -ENOMEM (then ret is empty and known is false).
 */
int ls_workload_describe_group(const struct ls_workload *w, struct ls_group_info *ret);

/* Stops every thread, commits, closes the consumers and frees the
 * workload. NULL is a no-op. */
void ls_workload_free(struct ls_workload *w);

#endif
