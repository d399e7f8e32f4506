/*
 * oracle.h - `lagscale simulate --policy oracle`: a yardstick, not a
 * product policy. It is what a scaler could do if it knew everything the
 * scenario knows, so the replica-seconds of a real policy can be put next
 * to the floor that any policy pays for the same latency.
 *
 * What it knows that a real policy does not: the whole future produce
 * curve, each partition's produce share (the scenario's partitionWeights),
 * the true perReplicaRate, and every partition's true backlog (produced
 * minus consumed, not the committed lag that trails it).
 *
 * What it computes, at every step t of the simulation (not every
 * pollingInterval: it has no reason to wait):
 *
 *   1. The look-ahead window W = [t, t + startupDelay + step]. A replica
 *      added at t consumes from t + startupDelay, so the replicas running
 *      at t must already cover every moment up to then: the oracle starts
 *      replicas startupDelay ahead of the load that needs them, and keeps
 *      them until the load has passed.
 *   2. peak = the highest produce rate in W (the curve is piecewise linear,
 *      so this is the largest of its value at both ends and at every point
 *      of the curve inside W). Partition j then receives rate_j = share_j x
 *      peak, share_j = weight_j / sum of all weights.
 *   3. excess_j = max(0, backlog_j - share_j x lagThreshold): the part of
 *      partition j's backlog above its share of one lagThreshold. Backlog
 *      comes only from what the oracle could not prevent: the scenario's
 *      initialLag, consumer outages, rebalance pauses and a partition that
 *      no consumer can keep up with.
 *   4. cap = the largest useful count (lib/policy/partitions, under the
 *      scenario's assignor) that is <= maxReplicas and, with a
 *      maxConsumeRate, <= maxConsumeRate / perReplicaRate (more replicas
 *      would overrun the downstream and deliver less); at least 1.
 *   5. need = ls_partitions_fit(cap, rate, excess, H, perReplicaRate) with
 *      H = max(startupDelay, step): the smallest useful count whose
 *      bottleneck consumer carries its partitions' share of the peak rate
 *      and works its excess off within H. When none up to cap does (the
 *      lag is above one lagThreshold, or a partition is hot), the smallest
 *      useful count with the least bottleneck work: the lag is already
 *      over the target, and the count that drains fastest is the one that
 *      shortens that time most.
 *   5b. Going down, the oracle does not rely on the lagThreshold
 *      allowance: with after_j = backlog_j + rate_j x rebalancePause (the
 *      whole backlog plus what the rebalance of the change itself piles
 *      up), down = ls_partitions_fit(cap, rate, after, H, perReplicaRate),
 *      and when need < current the oracle goes to max(need, min(down,
 *      current)). Without this, a count at the edge of carrying would be
 *      left and taken again every few seconds, each time paying a
 *      rebalance.
 *   6. need is 0 when peak is 0 and no partition has a backlog; finally
 *      need = max(need, minReplicas). The oracle sets the replicas to need
 *      at once (no stabilization, no rate limits; it pays every rebalance
 *      pause its changes cause, as any policy would).
 *
 * When the lag stays under one lagThreshold, its replica-seconds are
 * therefore those of the fewest useful replicas that carry the produce
 * rate, started startupDelay ahead: the least that a policy which keeps
 * up with the produce rate pays for that latency. It is not a proof of
 * optimality: it never plans to let a backlog build up within one
 * lagThreshold during a short burst (a policy that does so may pay less
 * with the lag still under the threshold, as keda does on flapping), and
 * it reacts to a backlog it did not foresee (an outage, the initial lag)
 * only once the backlog is there. Under cooperative-sticky the simulator keeps partitions
 * where they were (lib/sim/sim.h), while partitions.h models the
 * assignor's grouping as roundrobin's; with skewed weights the oracle's
 * bottleneck can then differ from the simulated one.
 *
 * Pure computation; no I/O, no clock. One handle per run; not thread-safe.
 */
#ifndef LS_SIM_ORACLE_H
#define LS_SIM_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "config/scenario.h"
#include "policy/policy.h"

struct ls_oracle;

/*
 * A handle for scenario sc with the policy params p (lagThreshold,
 * minReplicas, maxReplicas). sc is borrowed and must outlive the handle.
 * 0 and *ret; -EINVAL when sc, p or ret is NULL or sc has no partitions or
 * no positive perReplicaRate (*ret untouched); -ENOMEM.
 */
int ls_oracle_new(const struct ls_scenario *sc, const struct ls_policy_params *p,
		  struct ls_oracle **ret);
void ls_oracle_free(struct ls_oracle *o);

/*
 * The decision at now_ms (steps 1 to 6 above). backlog[j] is partition j's
 * true backlog in messages (n == sc->partitions entries, none negative);
 * current is the replicas running now. Fills *ret as the policy engine
 * would (action, recommended = desired = need, a reason). 0, or -EINVAL on
 * a NULL argument, a wrong n or a negative current (*ret untouched).
 */
int ls_oracle_decide(struct ls_oracle *o, int64_t now_ms, const double *backlog, size_t n,
		     int32_t current, struct ls_decision *ret);

#endif
