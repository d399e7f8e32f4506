/*
 * keda.c - KEDA's Kafka scaler + an HPA with default behavior (see keda.h).
 *
 * Sources of each rule:
 * - [kafka] KEDA Kafka scaler docs (keda.sh/docs/scalers/apache-kafka) and
 *   pkg/scalers/kafka_scaler.go: per-partition lag, the total capped at
 *   partitions x lagThreshold unless allowIdleConsumers, activation when
 *   the lag is above activationLagThreshold.
 * - [keda] KEDA ScaledObject docs (keda.sh/docs/concepts/scaling-
 *   deployments) and pkg/scaling/executor/scale_scaledobjects.go: the loop
 *   every pollingInterval scales from 0 to max(1, minReplicaCount) when
 *   active, to 0 (or idleReplicaCount) after cooldownPeriod inactive, and
 *   to fallback.replicas when a scaler errors; the HPA it creates has
 *   minReplicas max(1, minReplicaCount).
 * - [fallback] KEDA fallback docs and pkg/fallback/fallback.go: after more
 *   than failureThreshold consecutive failures the metric becomes
 *   fallback.replicas x target; without a fallback the metric request
 *   fails.
 * - [hpa] Kubernetes HPA docs ("Algorithm details", "Configurable scaling
 *   behavior") and pkg/controller/podautoscaler: the AverageValue external
 *   metric gives desired = ceil(metric / target) unless |metric / (target
 *   x current) - 1| <= 0.1; the default behavior (scaleUp: window 0,
 *   max(100%, 4 pods) per 15 s; scaleDown: window 300 s, 100% per 15 s);
 *   the HPA does nothing at 0 replicas and holds when the metric fails.
 */
#include "sim/keda.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

#define HPA_TOLERANCE 0.1

struct rec {
	int64_t t_ms;
	int32_t replicas;
};

struct ls_keda {
	bool started;
	int64_t next_poll_ms; /* KEDA's loop */
	int64_t next_hpa_ms;  /* the HPA sync */
	int64_t last_active_ms;
	int32_t failures;
	struct rec *recs;
	size_t n_recs, alloc_recs;
	struct rec *events; /* replicas = the change */
	size_t n_events, alloc_events;
};

struct ls_keda *ls_keda_new(void)
{
	return calloc(1, sizeof(struct ls_keda));
}

void ls_keda_free(struct ls_keda *k)
{
	if (!k)
		return;
	free(k->recs);
	free(k->events);
	free(k);
}

bool ls_keda_due(const struct ls_keda *k, const struct ls_policy_params *p, int64_t now_ms)
{
	if (!k || !p)
		return false;
	return !k->started || now_ms >= k->next_poll_ms || now_ms >= k->next_hpa_ms;
}

/* Whether a loop of this period is due, and when it runs next. */
static bool take(int64_t *next, int64_t now, int64_t period)
{
	if (now < *next)
		return false;
	while (*next <= now)
		*next += period;
	return true;
}

static int push(struct rec **arr, size_t *n, size_t *alloc, int64_t t, int32_t v)
{
	if (*n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 16;
		struct rec *q = realloc(*arr, na * sizeof(*q));

		if (!q)
			return -ENOMEM;
		*arr = q;
		*alloc = na;
	}
	(*arr)[(*n)++] = (struct rec){t, v};
	return 0;
}

/* Drops entries at or before cutoff (they never count again). */
static void prune(struct rec *arr, size_t *n, int64_t cutoff)
{
	size_t k = 0;

	while (k < *n && arr[k].t_ms <= cutoff)
		k++;
	if (!k)
		return;
	memmove(arr, arr + k, (*n - k) * sizeof(*arr));
	*n -= k;
}

__attribute__((format(printf, 3, 4))) static void say(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* [hpa] getReplicasChangePerPeriod: up (> 0) or down changes in the period. */
static int64_t change_in_period(const struct ls_keda *k, int64_t now, int64_t period, bool up)
{
	int64_t sum = 0;

	for (size_t i = 0; i < k->n_events; i++)
		if (k->events[i].t_ms > now - period &&
		    (up ? k->events[i].replicas > 0 : k->events[i].replicas < 0))
			sum += up ? k->events[i].replicas : -k->events[i].replicas;
	return sum;
}

/* [hpa] calculateScaleUpLimitWithScalingRules / calculateScaleDownLimit-
 * WithBehaviors, from the replicas at the start of each period. */
static int64_t rate_limit(const struct ls_keda *k, const struct ls_scaling_rules *r, int64_t now,
			  int32_t cur, bool up)
{
	bool min_sel = r->select == LS_SELECT_MIN;
	int64_t result;

	if (r->select == LS_SELECT_DISABLED || r->n_policies == 0)
		return cur;
	result = (up == min_sel) ? INT64_MAX : INT64_MIN;
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct ls_rate_policy *pol = &r->policies[i];
		int64_t start = cur - change_in_period(k, now, pol->period_ms, true) +
				change_in_period(k, now, pol->period_ms, false);
		int64_t prop;

		if (up)
			prop = pol->type == LS_RATE_PODS
				       ? start + pol->value
				       : (int64_t)ceil((double)start * (1 + pol->value / 100.0));
		else
			prop = pol->type == LS_RATE_PODS
				       ? start - pol->value
				       : (int64_t)((double)start * (1 - pol->value / 100.0));
		/* Max selects the biggest change: the highest limit up, the
		 * lowest down; Min the opposite. */
		if (up == min_sel ? prop < result : prop > result)
			result = prop;
	}
	return result;
}

/* The HPA's desired replicas with the KEDA-capped metric; cur > 0. */
static int hpa_sync(struct ls_keda *k, const struct ls_policy_params *p, int64_t now, int32_t cur,
		    int64_t metric, struct ls_decision *d, int32_t *ret_desired)
{
	int32_t lo = p->min_replicas > 1 ? p->min_replicas : 1, hi = p->max_replicas;
	int32_t rec, up_rec, down_rec, stab, desired;
	double ratio = (double)metric / ((double)p->lag_threshold * cur);
	int64_t limit, longest = 0;
	char m[32], t[32];
	int r;

	/* [hpa] A target outside [min, max] is brought back at once. */
	if (cur > hi || cur < lo) {
		*ret_desired = cur > hi ? hi : lo;
		say(d->reason, sizeof(d->reason), "; HPA: outside [%d, %d]", lo, hi);
		d->recommended_replicas = *ret_desired;
		return 0;
	}
	/* [hpa] AverageValue: usageRatio = metric / (target x replicas). */
	if (fabs(1.0 - ratio) <= HPA_TOLERANCE)
		rec = cur;
	else {
		double c = ceil((double)metric / (double)p->lag_threshold);

		rec = c > INT32_MAX ? INT32_MAX : (int32_t)c;
	}
	say(d->reason, sizeof(d->reason), "; HPA: metric %s / target %s over %d = %.4f%s -> %d",
	    ls_policy_format_count(metric, m, sizeof(m)),
	    ls_policy_format_count(p->lag_threshold, t, sizeof(t)), cur, ratio,
	    fabs(1.0 - ratio) <= HPA_TOLERANCE ? " (within tolerance)" : "", rec);
	d->recommended_replicas = rec;

	/* [hpa] maybeInitScaleDownStabilizationWindow, then
	 * stabilizeRecommendationWithBehaviors: the recommendation recorded
	 * is the one before the bounds. */
	if (k->n_recs == 0 && p->scale_down.stabilization_window_ms > 0) {
		r = push(&k->recs, &k->n_recs, &k->alloc_recs, now, cur);
		if (r < 0)
			return r;
	}
	r = push(&k->recs, &k->n_recs, &k->alloc_recs, now, rec);
	if (r < 0)
		return r;
	up_rec = rec;
	down_rec = rec;
	for (size_t i = 0; i < k->n_recs; i++) {
		if (k->recs[i].t_ms > now - p->scale_up.stabilization_window_ms &&
		    k->recs[i].replicas < up_rec)
			up_rec = k->recs[i].replicas;
		if (k->recs[i].t_ms > now - p->scale_down.stabilization_window_ms &&
		    k->recs[i].replicas > down_rec)
			down_rec = k->recs[i].replicas;
	}
	stab = cur;
	if (stab < up_rec)
		stab = up_rec;
	if (stab > down_rec)
		stab = down_rec;

	/* [hpa] convertDesiredReplicasWithBehaviorRate. */
	desired = stab;
	if (desired > cur) {
		limit = rate_limit(k, &p->scale_up, now, cur, true);
		if (limit < cur)
			limit = cur;
		if (limit > hi)
			limit = hi;
		if (desired > limit)
			desired = (int32_t)limit;
	} else if (desired < cur) {
		limit = rate_limit(k, &p->scale_down, now, cur, false);
		if (limit > cur)
			limit = cur;
		if (limit < lo)
			limit = lo;
		if (desired < limit)
			desired = (int32_t)limit;
	}
	if (desired != stab)
		say(d->reason, sizeof(d->reason), "; rate-limited to %d", desired);
	else if (stab != rec)
		say(d->reason, sizeof(d->reason), "; stabilized at %d", stab);

	for (size_t i = 0; i < p->scale_up.n_policies; i++)
		if (p->scale_up.policies[i].period_ms > longest)
			longest = p->scale_up.policies[i].period_ms;
	for (size_t i = 0; i < p->scale_down.n_policies; i++)
		if (p->scale_down.policies[i].period_ms > longest)
			longest = p->scale_down.policies[i].period_ms;
	if (desired != cur) {
		r = push(&k->events, &k->n_events, &k->alloc_events, now, desired - cur);
		if (r < 0)
			return r;
	}
	prune(k->events, &k->n_events, now - longest);
	{
		int64_t win = p->scale_up.stabilization_window_ms;

		if (p->scale_down.stabilization_window_ms > win)
			win = p->scale_down.stabilization_window_ms;
		prune(k->recs, &k->n_recs, now - win);
	}
	*ret_desired = desired;
	return 0;
}

int ls_keda_decide(struct ls_keda *k, const struct ls_policy_params *p,
		   const struct ls_policy_input *in, struct ls_decision *ret)
{
	const struct ls_lag_snapshot *s;
	struct ls_decision d;
	int64_t now, total = 0, metric = 0;
	int32_t cur, partitions = 0, with_lag = 0;
	bool active = false, error, fallback;
	char a[32];
	int r;

	if (!k || !p || !in || !ret || !in->snap || ls_policy_params_validate(p) < 0 ||
	    in->current_replicas < 0)
		return -EINVAL;
	s = in->snap;
	now = in->now_ms;
	cur = in->current_replicas;
	ls_decision_init(&d, cur);
	d.produce_rate = s->err ? -1 : s->produce_rate;
	d.consume_rate = s->err ? -1 : s->consume_rate;
	if (!k->started) {
		/* [keda] LastActiveTime starts at the first look. */
		k->started = true;
		k->last_active_ms = now;
		k->next_poll_ms = now;
		k->next_hpa_ms = now;
	}
	if (in->paused || in->paused_replicas >= 0) {
		d.action = LS_ACTION_PAUSED;
		d.desired_replicas = in->paused_replicas >= 0 ? in->paused_replicas : cur;
		d.recommended_replicas = d.desired_replicas;
		snprintf(d.reason, sizeof(d.reason), "KEDA: paused");
		goto out;
	}

	error = s->err != 0;
	if (error) {
		if (k->failures < INT32_MAX)
			k->failures++;
	} else {
		k->failures = 0;
		/* [kafka] getTotalLag: the lag per partition, summed. */
		for (size_t t = 0; t < s->n_topics; t++)
			for (size_t i = 0; i < s->topics[t].n_parts; i++) {
				int64_t lag = ls_offsets_partition_lag(
					&s->topics[t].parts[i], p->offset_reset,
					p->scale_to_zero_on_invalid_offset);

				total += lag;
				partitions++;
				with_lag += lag > 0;
			}
		metric = total;
		/* [kafka] The cap is applied to the metric: with 64 partitions
		 * and lagThreshold 3,000 the metric never exceeds 192,000, so at
		 * 63 replicas the ratio is 1.016, inside the HPA's tolerance,
		 * and the target stays at 63 (KEDA issue 2908). */
		if (!p->allow_idle_consumers || p->limit_to_partitions_with_lag) {
			int64_t upper = p->limit_to_partitions_with_lag ? with_lag : partitions;

			if (total / p->lag_threshold > upper)
				metric = upper * p->lag_threshold;
		}
		active = total > p->activation_lag_threshold;
		d.total_lag = total;
		d.scaling_lag = metric;
		d.partition_count = partitions;
	}
	/* [fallback] Only with a fallback block (replicas set), and only past
	 * the threshold. */
	fallback = error && p->fallback_replicas > 0 &&
		   k->failures > p->fallback_failure_threshold;
	d.active = active;
	d.fallback = fallback;
	d.consecutive_failures = k->failures;
	if (error)
		snprintf(d.reason, sizeof(d.reason), "KEDA: scaler error (%d in a row)%s",
			 k->failures, fallback ? ", fallback" : "");
	else
		snprintf(d.reason, sizeof(d.reason), "KEDA: lag %s%s",
			 ls_policy_format_count(total, a, sizeof(a)), active ? "" : " (inactive)");

	/* [keda] The ScaledObject loop, every pollingInterval. */
	if (take(&k->next_poll_ms, now, p->polling_interval_ms)) {
		int32_t idle = p->idle_replicas >= 0 ? p->idle_replicas : 0;

		if (active) {
			k->last_active_ms = now;
			if (cur == 0) {
				cur = p->min_replicas > 1 ? p->min_replicas : 1;
				say(d.reason, sizeof(d.reason), "; activated to %d", cur);
			}
		} else if (fallback) {
			cur = p->fallback_replicas;
			say(d.reason, sizeof(d.reason), "; fallback to %d", cur);
		} else if (cur > idle && p->min_replicas == 0 &&
			   now - k->last_active_ms >= p->cooldown_period_ms) {
			/* An error without fallback counts as inactive here:
			 * the broker outage that scales consumers to zero. */
			cur = idle;
			say(d.reason, sizeof(d.reason), "; cooldown over, scaled to %d", cur);
		} else if (cur < p->min_replicas) {
			cur = p->min_replicas;
		}
	}
	/* [hpa] Every sync period, unless the target is at 0. */
	if (take(&k->next_hpa_ms, now, LS_KEDA_HPA_SYNC_MS) && cur > 0) {
		if (error && !fallback) {
			say(d.reason, sizeof(d.reason), "; HPA: metric unavailable, no change");
		} else {
			int32_t desired;

			r = hpa_sync(k, p, now, cur,
				     fallback ? (int64_t)p->fallback_replicas * p->lag_threshold
					      : metric,
				     &d, &desired);
			if (r < 0)
				return r;
			cur = desired;
		}
	}
	if (d.recommended_replicas == 0)
		d.recommended_replicas = cur;
	d.desired_replicas = cur;
	if (cur > in->current_replicas)
		d.action = in->current_replicas == 0 ? LS_ACTION_ACTIVATE : LS_ACTION_SCALE_UP;
	else if (cur < in->current_replicas)
		d.action = cur == 0 ? LS_ACTION_DEACTIVATE : LS_ACTION_SCALE_DOWN;
	else
		d.action = error ? (fallback ? LS_ACTION_FALLBACK : LS_ACTION_ERROR) : LS_ACTION_NONE;
out:
	*ret = d;
	return 0;
}
