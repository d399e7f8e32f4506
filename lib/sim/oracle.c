/* oracle.c - the yardstick policy (see oracle.h for what it computes). */
#include "sim/oracle.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/partitions.h"

struct ls_oracle {
	const struct ls_scenario *sc;
	struct ls_policy_params p;
	struct ls_partitions *model;
	size_t n;
	double *share; /* per partition, summing to 1 */
	double *rate;  /* scratch: msgs/s per partition */
	int64_t *excess; /* scratch: backlog above the partition's share of lagThreshold */
	int64_t *after;	 /* scratch: backlog after the rebalance a scale-down causes */
	int32_t cap;
};

void ls_oracle_free(struct ls_oracle *o)
{
	if (!o)
		return;
	ls_partitions_free(o->model);
	free(o->share);
	free(o->rate);
	free(o->excess);
	free(o->after);
	free(o);
}

/* The largest useful count within maxReplicas and the downstream's limit. */
static int32_t cap_of(const struct ls_oracle *o)
{
	int32_t cap = o->p.max_replicas, r = 1;

	if (o->sc->max_consume_rate > 0) {
		double c = floor(o->sc->max_consume_rate / o->sc->per_replica_rate + 1e-9);

		if (c < cap)
			cap = c < 1 ? 1 : (int32_t)c;
	}
	if (cap < 1)
		cap = 1;
	if (ls_partitions_prev_useful(o->model, cap, &r) < 0)
		r = 1;
	return r;
}

int ls_oracle_new(const struct ls_scenario *sc, const struct ls_policy_params *p,
		  struct ls_oracle **ret)
{
	struct ls_oracle *o = NULL;
	int32_t count;
	double sum = 0;
	int r;

	if (!sc || !p || !ret || sc->partitions <= 0 || !(sc->per_replica_rate > 0))
		return -EINVAL;
	r = -ENOMEM;
	o = calloc(1, sizeof(*o));
	if (!o)
		goto fail;
	o->sc = sc;
	o->p = *p;
	o->n = (size_t)sc->partitions;
	count = sc->partitions;
	r = ls_partitions_new(&count, 1, sc->assignor, &o->model);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	o->share = calloc(o->n, sizeof(*o->share));
	o->rate = calloc(o->n, sizeof(*o->rate));
	o->excess = calloc(o->n, sizeof(*o->excess));
	o->after = calloc(o->n, sizeof(*o->after));
	if (!o->share || !o->rate || !o->excess || !o->after)
		goto fail;
	for (size_t j = 0; j < o->n; j++)
		sum += sc->partition_weights ? sc->partition_weights[j] : 1;
	if (!(sum > 0)) {
		r = -EINVAL;
		goto fail;
	}
	for (size_t j = 0; j < o->n; j++)
		o->share[j] = (sc->partition_weights ? sc->partition_weights[j] : 1) / sum;
	o->cap = cap_of(o);
	*ret = o;
	return 0;
fail:
	ls_oracle_free(o);
	return r;
}

/* The highest produce rate in [from, to]: at an end or at a point inside. */
static double peak_rate(const struct ls_scenario *sc, int64_t from, int64_t to)
{
	double peak = ls_scenario_produce_rate(sc, from), v = ls_scenario_produce_rate(sc, to);

	if (v > peak)
		peak = v;
	for (size_t i = 0; i < sc->n_produce; i++)
		if (sc->produce[i].at_ms > from && sc->produce[i].at_ms < to &&
		    sc->produce[i].rate > peak)
			peak = sc->produce[i].rate;
	return peak;
}

int ls_oracle_decide(struct ls_oracle *o, int64_t now_ms, const double *backlog, size_t n,
		     int32_t current, struct ls_decision *ret)
{
	const struct ls_scenario *sc;
	struct ls_partitions_fit fit;
	struct ls_decision d;
	int64_t horizon_ms, total = 0;
	double peak, thr;
	bool any_backlog = false;
	int32_t need;
	int r;

	if (!o || !backlog || !ret || n != o->n || current < 0)
		return -EINVAL;
	sc = o->sc;
	thr = (double)o->p.lag_threshold;
	horizon_ms = sc->startup_delay_ms > sc->step_ms ? sc->startup_delay_ms : sc->step_ms;
	peak = peak_rate(sc, now_ms, now_ms + sc->startup_delay_ms + sc->step_ms);
	for (size_t j = 0; j < n; j++) {
		double b = backlog[j] > 0 ? backlog[j] : 0, x = b - o->share[j] * thr;

		o->rate[j] = o->share[j] * peak;
		o->excess[j] = x > 0 ? (int64_t)ceil(x) : 0;
		o->after[j] = (int64_t)ceil(b + o->rate[j] * (double)sc->rebalance_pause_ms / 1000.0);
		any_backlog |= b >= 1;
		total += (int64_t)floor(b);
	}
	memset(&d, 0, sizeof(d));
	d.current_replicas = current;
	d.total_lag = total;
	d.scaling_lag = total;
	d.partition_count = (int32_t)n;
	d.produce_rate = ls_scenario_produce_rate(sc, now_ms);
	d.consume_rate = -1;
	d.per_replica_rate = sc->per_replica_rate;
	d.active = true;
	d.members = -1;
	if (!(peak > 0) && !any_backlog) {
		need = 0;
		snprintf(d.reason, sizeof(d.reason), "oracle: nothing to produce or consume");
	} else {
		r = ls_partitions_fit(o->model, o->cap, o->rate, o->excess, n,
				      (double)horizon_ms / 1000.0, sc->per_replica_rate, &fit);
		if (r < 0)
			return r;
		need = fit.replicas;
		snprintf(d.reason, sizeof(d.reason),
			 "oracle: peak %.0f msgs/s ahead; %d useful replicas %s (bottleneck %d "
			 "partitions, %.0f msgs/s of work)",
			 peak, need, fit.carried ? "carry it" : "drain fastest",
			 fit.bottleneck.partitions, fit.bottleneck.work);
		if (need < current) {
			struct ls_partitions_fit down;

			/* Step 5b: down only as far as the whole backlog, and
			 * what the rebalance of the change adds, still goes. */
			r = ls_partitions_fit(o->model, o->cap, o->rate, o->after, n,
					      (double)horizon_ms / 1000.0, sc->per_replica_rate,
					      &down);
			if (r < 0)
				return r;
			if (down.replicas > need) {
				need = down.replicas < current ? down.replicas : current;
				snprintf(d.reason, sizeof(d.reason),
					 "oracle: peak %.0f msgs/s ahead; down to %d only: fewer "
					 "would not work off the backlog and the rebalance",
					 peak, need);
			}
		}
	}
	if (need < o->p.min_replicas)
		need = o->p.min_replicas;
	d.recommended_replicas = need;
	d.desired_replicas = need;
	if (need > current)
		d.action = current == 0 ? LS_ACTION_ACTIVATE : LS_ACTION_SCALE_UP;
	else if (need < current)
		d.action = need == 0 ? LS_ACTION_DEACTIVATE : LS_ACTION_SCALE_DOWN;
	else
		d.action = LS_ACTION_NONE;
	*ret = d;
	return 0;
}
