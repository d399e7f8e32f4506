/* policy.c - the decision of one round (see policy.h, DESIGN.md section 5). */
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/partitions.h"
#include "policy/policy-internal.h"
#include "util/parse.h"

/* What one snapshot says, before any decision. */
struct lag_stats {
	int64_t total;	    /* every partition: decides activation */
	int64_t scaling;    /* without persistent lag: drives the replicas */
	int64_t persistent; /* the lag left out */
	int32_t partitions;
	int32_t with_lag;	/* partitions with scaling lag > 0 */
	int32_t n_persistent; /* partitions left out */
	double produce;		/* msgs/s, -1 unknown */
	double consume;		/* msgs/s, -1 unknown */
	/* Per partition, in the snapshot's order; NULL when there are no
	 * partitions or no memory. One block, scratch, holds the three for
	 * the decision's length (freed at the end of ls_policy_decide): a
	 * fleet keeps none between rounds. */
	double *part_rate;   /* msgs/s produced, 0 when unknown */
	int64_t *part_lag;   /* scaling lag (persistent lag left out) */
	int32_t *topic_parts; /* partitions of each topic */
	size_t n_topics;
	void *scratch;
};

/* A reason is built clause by clause; a full buffer silently truncates,
 * which is all a one-line summary can do. */
struct reason {
	char *buf;
	size_t size;
	size_t len;
};

/*
 * Appends to the reason. A reason that does not fit ends at the last whole
 * word with "..." (a person reads "...in state AUTH" as the end of
 * librdkafka's text, not as a cut), and later additions are dropped.
 */
__attribute__((format(printf, 2, 3))) static void say(struct reason *r, const char *fmt, ...)
{
	static const char more[] = "...";
	va_list ap;
	size_t cut;
	int n;

	if (r->len + 1 >= r->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, r->size - r->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (r->len + (size_t)n < r->size) {
		r->len += (size_t)n;
		return;
	}
	cut = r->size - sizeof(more);
	while (cut > 0 && r->buf[cut] != ' ')
		cut--;
	while (cut > 0 && (r->buf[cut - 1] == ' ' || r->buf[cut - 1] == ',' ||
			   r->buf[cut - 1] == ';' || r->buf[cut - 1] == ':'))
		cut--;
	memcpy(r->buf + cut, more, sizeof(more));
	/* Full: nothing more is appended. */
	r->len = r->size - 1;
}

char *ls_policy_format_count(int64_t v, char *out, size_t size)
{
	char digits[32];
	char tmp[48];
	size_t n, k = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	snprintf(digits, sizeof(digits), "%" PRIu64, u);
	n = strlen(digits);
	if (v < 0)
		tmp[k++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			tmp[k++] = ',';
		tmp[k++] = digits[i];
	}
	tmp[k] = '\0';
	snprintf(out, size, "%s", tmp);
	return out;
}

/* Rates people read: "12,000", or "66.7" below 100. */
static char *fmt_rate(double v, char *out, size_t size)
{
	if (v >= 100.0 || v <= -100.0 || v == floor(v))
		return ls_policy_format_count((int64_t)llround(v), out, size);
	snprintf(out, size, "%.1f", v);
	return out;
}

static char *fmt_dur(int64_t ms, char *out, size_t size)
{
	return ls_format_duration(ms, out, size);
}

void ls_policy_rules_default_up(struct ls_scaling_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->stabilization_window_ms = 0;
	r->select = LS_SELECT_MAX;
	r->policies[0] = (struct ls_rate_policy){LS_RATE_PERCENT, 100, 15000};
	r->policies[1] = (struct ls_rate_policy){LS_RATE_PODS, 4, 15000};
	r->n_policies = 2;
}

void ls_policy_rules_default_down(struct ls_scaling_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->stabilization_window_ms = 300000;
	r->select = LS_SELECT_MAX;
	r->policies[0] = (struct ls_rate_policy){LS_RATE_PERCENT, 100, 15000};
	r->n_policies = 1;
}

void ls_policy_params_init(struct ls_policy_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = LS_MODE_LAG;
	p->lag_threshold = 1000;
	p->activation_lag_threshold = 0;
	p->min_replicas = 1;
	p->max_replicas = 24;
	p->idle_replicas = -1;
	p->polling_interval_ms = 15000;
	p->cooldown_period_ms = 300000;
	p->tolerance = 0.1;
	p->partition_aware = true;
	p->target_drain_time_ms = 120000;
	p->per_replica_rate = 0;
	p->max_consume_rate = 0;
	ls_policy_rules_default_up(&p->scale_up);
	ls_policy_rules_default_down(&p->scale_down);
	p->fallback_failure_threshold = 3;
	p->fallback_replicas = 0;
	p->fallback_behavior = LS_FALLBACK_CURRENT;
	p->offset_reset = LS_RESET_LATEST;
}

static int validate_rules(const struct ls_scaling_rules *r)
{
	if (r->stabilization_window_ms < 0 || r->n_policies > LS_POLICY_MAX_RATE_POLICIES)
		return -EINVAL;
	if (r->select != LS_SELECT_MAX && r->select != LS_SELECT_MIN &&
	    r->select != LS_SELECT_DISABLED)
		return -EINVAL;
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct ls_rate_policy *pol = &r->policies[i];

		if ((pol->type != LS_RATE_PODS && pol->type != LS_RATE_PERCENT) ||
		    pol->value <= 0 || pol->period_ms <= 0)
			return -EINVAL;
	}
	return 0;
}

int ls_policy_params_validate(const struct ls_policy_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->mode != LS_MODE_LAG && p->mode != LS_MODE_RATE)
		return -EINVAL;
	if (p->lag_threshold <= 0 || p->activation_lag_threshold < 0)
		return -EINVAL;
	if (p->min_replicas < 0 || p->max_replicas < 1 || p->max_replicas < p->min_replicas)
		return -EINVAL;
	if (p->idle_replicas < -1 || p->idle_replicas > p->max_replicas)
		return -EINVAL;
	if (p->polling_interval_ms <= 0 || p->cooldown_period_ms < 0)
		return -EINVAL;
	if (!isfinite(p->tolerance) || p->tolerance < 0)
		return -EINVAL;
	if (p->mode == LS_MODE_RATE && p->target_drain_time_ms <= 0)
		return -EINVAL;
	if (p->target_drain_time_ms < 0)
		return -EINVAL;
	if (!isfinite(p->per_replica_rate) || p->per_replica_rate < 0 ||
	    !isfinite(p->max_consume_rate) || p->max_consume_rate < 0)
		return -EINVAL;
	if (validate_rules(&p->scale_up) < 0 || validate_rules(&p->scale_down) < 0)
		return -EINVAL;
	if (p->fallback_failure_threshold < 0 || p->fallback_replicas < 0)
		return -EINVAL;
	if (p->fallback_behavior < LS_FALLBACK_STATIC ||
	    p->fallback_behavior > LS_FALLBACK_CURRENT_IF_LOWER)
		return -EINVAL;
	if (p->offset_reset != LS_RESET_LATEST && p->offset_reset != LS_RESET_EARLIEST)
		return -EINVAL;
	return 0;
}

const char *ls_policy_action_name(enum ls_action a)
{
	switch (a) {
	case LS_ACTION_NONE:
		return "none";
	case LS_ACTION_SCALE_UP:
		return "scale_up";
	case LS_ACTION_SCALE_DOWN:
		return "scale_down";
	case LS_ACTION_ACTIVATE:
		return "activate";
	case LS_ACTION_DEACTIVATE:
		return "deactivate";
	case LS_ACTION_FALLBACK:
		return "fallback";
	case LS_ACTION_PAUSED:
		return "paused";
	case LS_ACTION_ERROR:
		return "error";
	}
	return "none";
}

static const char *fallback_name(enum ls_fallback_behavior b)
{
	switch (b) {
	case LS_FALLBACK_STATIC:
		return "static";
	case LS_FALLBACK_CURRENT:
		return "currentReplicas";
	case LS_FALLBACK_CURRENT_IF_HIGHER:
		return "currentReplicasIfHigher";
	case LS_FALLBACK_CURRENT_IF_LOWER:
		return "currentReplicasIfLower";
	}
	return "currentReplicas";
}

static void compute_stats(struct ls_policy_state *st, const struct ls_policy_params *p,
			  const struct ls_lag_snapshot *s, struct lag_stats *ret)
{
	struct lag_stats x = {0};
	int64_t produced = 0, consumed = 0;
	bool own_rates = st->have_mem && st->mem_time_ms < s->time_ms;
	double dt = own_rates ? (double)(s->time_ms - st->mem_time_ms) / 1000.0 : 0;
	size_t n_parts = 0, j = 0;
	bool per_part;

	for (size_t t = 0; t < s->n_topics; t++)
		n_parts += s->topics[t].n_parts;
	if (n_parts > 0)
		x.scratch = malloc(n_parts * (sizeof(*x.part_rate) + sizeof(*x.part_lag)) +
				   s->n_topics * sizeof(*x.topic_parts));
	per_part = x.scratch != NULL;
	if (per_part) {
		x.part_rate = x.scratch;
		x.part_lag = (int64_t *)(x.part_rate + n_parts);
		x.topic_parts = (int32_t *)(x.part_lag + n_parts);
	}
	for (size_t t = 0; t < s->n_topics; t++) {
		const struct ls_topic_offsets *to = &s->topics[t];

		if (per_part)
			x.topic_parts[t] = (int32_t)to->n_parts;
		for (size_t i = 0; i < to->n_parts; i++, j++) {
			const struct ls_partition_offsets *part = &to->parts[i];
			const struct ls_mem_part *prev = ls_policy_mem_find(st, to->topic,
									    part->partition);
			int64_t lag = ls_offsets_partition_lag(part, p->offset_reset,
							       p->scale_to_zero_on_invalid_offset);

			if (per_part) {
				x.part_rate[j] = 0;
				x.part_lag[j] = 0;
				if (prev && dt > 0)
					x.part_rate[j] =
					    (double)ls_offsets_advance(prev->end, part->end) / dt;
			}
			x.partitions++;
			x.total += lag;
			/* As in KEDA's excludePersistentLag: a partition whose
			 * consumer did not move since the last read is stuck
			 * (a poison message, a crashed consumer); more replicas
			 * would not help it, so its lag does not scale. */
			if (prev) {
				produced += ls_offsets_advance(prev->end, part->end);
				consumed += ls_offsets_advance(prev->committed, part->committed);
			}
			if (p->exclude_persistent_lag && lag > 0 && part->committed >= 0 && prev &&
			    prev->committed == part->committed) {
				x.persistent += lag;
				x.n_persistent++;
				continue;
			}
			x.scaling += lag;
			if (per_part)
				x.part_lag[j] = lag;
			if (lag > 0)
				x.with_lag++;
		}
	}
	if (per_part) {
		double sum = 0;

		/* Without offsets to compare (the first read), the snapshot's
		 * own produce rate is spread evenly over the partitions. */
		for (size_t i = 0; i < n_parts; i++)
			sum += x.part_rate[i];
		if (sum <= 0 && s->produce_rate > 0)
			for (size_t i = 0; i < n_parts; i++)
				x.part_rate[i] = s->produce_rate / (double)n_parts;
		x.n_topics = s->n_topics;
	}
	x.produce = s->produce_rate;
	x.consume = s->consume_rate;
	/* The collector normally fills the rates; without them the engine
	 * computes its own from the offsets it remembers. */
	if (own_rates) {
		if (x.produce < 0)
			x.produce = (double)produced / dt;
		if (x.consume < 0)
			x.consume = (double)consumed / dt;
	}
	*ret = x;
}

/*
 * perReplicaRate auto. Each interval between two reads in which the replica
 * count did not change gives a sample consume / replicas: never more than
 * what a replica can do, so always a lower bound on its capacity. It is
 * the capacity itself when the replicas were saturated — lag at both ends
 * of the interval that grew or held at least LS_SATURATED_BACKLOG_S seconds
 * of work, so they never waited for messages — and settled: the previous
 * interval, with the same replicas, was saturated too and consumed within
 * LS_SETTLED_FRACTION of it (a replica still starting makes the first
 * interval after a change read low).
 */
static void learn(struct ls_policy_state *st, const struct ls_policy_params *p,
		  const struct ls_policy_input *in, const struct lag_stats *x)
{
	int64_t prev_lag = st->mem_scaling_lag, lag = x->scaling, lo_lag;
	int32_t cur = in->current_replicas;
	double per;
	bool saturated, settled;

	if (st->last_current != cur) {
		st->seen_change = true;
		st->stable_rounds = 0;
		st->prev_valid = false;
		return;
	}
	if (st->stable_rounds < INT32_MAX)
		st->stable_rounds++;
	if (!st->have_mem || st->mem_time_ms >= in->snap->time_ms || x->consume < 0 || cur <= 0) {
		st->prev_valid = false;
		return;
	}
	/* The replicas that really consume are the group's members when
	 * Kafka reports them: a pod still starting has not joined yet. */
	if (in->snap->group.known && in->snap->group.n_members > 0 &&
	    in->snap->group.n_members < (size_t)cur)
		per = x->consume / (double)in->snap->group.n_members;
	else
		per = x->consume / cur;
	lo_lag = prev_lag < lag ? prev_lag : lag;
	saturated = lo_lag > 0 && ((lag > prev_lag && lo_lag >= x->partitions) ||
				   (double)lo_lag >= x->consume * LS_SATURATED_BACKLOG_S);
	settled = saturated && st->prev_valid && st->prev_saturated && per > 0 &&
		  fabs(per - st->prev_per) <= LS_SETTLED_FRACTION * fmax(per, st->prev_per);
	if (per > 0)
		ls_policy_sample_add(st, in->now_ms, per, settled);
	if (per > st->lb_best) {
		st->lb_best = per;
		st->lb_replicas = cur;
	}
	st->prev_valid = true;
	st->prev_saturated = saturated;
	st->prev_per = per;
}

enum rate_source { RATE_SET, RATE_LEARNED, RATE_LOWER_BOUND, RATE_PRIOR };

/*
 * The msgs/s one replica handles. Learned: the highest saturated sample of
 * the last LS_RATE_WINDOW_MS (a replica still starting, or a slowed
 * downstream, gives a lower sample, and the maximum ignores those), kept
 * after the window empties, raised by any higher lower bound. Before the
 * first saturated sample: the highest lower bound seen (conservative: more
 * replicas, never a scale-down on a guess), and with no sample at all the
 * prior lagThreshold per pollingInterval, the assumption under which lag
 * mode itself keeps up (a replica clears the lag it is given within one
 * interval).
 */
static double rate_estimate(struct ls_policy_state *st, const struct ls_policy_params *p,
			    int64_t now_ms, enum rate_source *ret_src)
{
	double sat = 0, lb = 0, est;
	enum rate_source src;

	if (p->per_replica_rate > 0) {
		*ret_src = RATE_SET;
		return p->per_replica_rate;
	}
	for (size_t i = 0; i < st->n_samples; i++) {
		const struct ls_rate_sample *s =
			&st->samples[(st->first_sample + i) % st->alloc_samples];

		if (s->saturated && s->per_replica > sat)
			sat = s->per_replica;
		if (!s->saturated && s->per_replica > lb)
			lb = s->per_replica;
	}
	/* A capacity once measured fades only slowly: a saturated-looking
	 * interval can read low (a rebalance pauses every replica), and an
	 * estimate too low keeps a target over-provisioned for good, while
	 * one too high is corrected by the backlog term as soon as lag
	 * appears. */
	if (st->rate_estimate > 0)
		st->rate_estimate *= pow(0.5, (double)(now_ms - st->rate_estimate_ms) /
						      (double)LS_RATE_HALF_LIFE_MS);
	st->rate_estimate_ms = now_ms;
	if (sat > st->rate_estimate)
		st->rate_estimate = sat;
	if (st->rate_estimate > 0) {
		est = st->rate_estimate;
		src = RATE_LEARNED;
		if (lb > est) {
			est = lb;
			src = RATE_LOWER_BOUND;
		}
	} else if (st->lb_best > 0) {
		/* What the replicas were seen to do beats a guess: a prior
		 * higher than that would scale down on nothing but hope. */
		est = st->lb_best;
		src = RATE_LOWER_BOUND;
	} else {
		est = (double)p->lag_threshold * 1000.0 / (double)p->polling_interval_ms;
		src = RATE_PRIOR;
	}
	*ret_src = src;
	return est;
}

/*
 * The per-replica rate that was proven: configured, or measured while the
 * replicas were saturated (when a lower bound now reads above the learned
 * estimate, the estimate is still the proven one). 0 when none was.
 */
static double proven_rate(const struct ls_policy_state *st, enum rate_source src, double rate)
{
	if (src == RATE_SET || src == RATE_LEARNED)
		return rate;
	if (src == RATE_LOWER_BOUND && st->rate_estimate > 0)
		return st->rate_estimate;
	return 0;
}

static const char *rate_source_name(enum rate_source s)
{
	switch (s) {
	case RATE_SET:
		return "set";
	case RATE_LEARNED:
		return "learned";
	case RATE_LOWER_BOUND:
		return "observed";
	case RATE_PRIOR:
		return "prior";
	}
	return "set";
}

static int32_t ceil_div64(int64_t a, int64_t b)
{
	int64_t q = a / b + (a % b != 0);

	return q > INT32_MAX ? INT32_MAX : (int32_t)q;
}

static int32_t ceil_rate(double v)
{
	/* A hair below an integer is that integer: 1000 / (1000 / 9.0) is 9
	 * replicas, not 10. */
	v = ceil(v - 1e-9);
	if (v < 0)
		return 0;
	return v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

/*
 * The recommendation of one mode before caps and bounds, with the HPA's
 * tolerance: no change while the load is within tolerance of what the
 * current replicas carry.
 */
static int32_t recommend(const struct ls_policy_params *p, const struct ls_policy_input *in,
			 const struct lag_stats *x, double rate, enum rate_source src,
			 struct reason *r, bool *ret_within)
{
	int32_t cur = in->current_replicas, rec;
	char a[32], b[32], c[32], d[32];
	double ratio;

	if (p->mode == LS_MODE_LAG) {
		rec = ceil_div64(x->scaling, p->lag_threshold);
		ratio = cur > 0 ? (double)x->scaling / ((double)p->lag_threshold * cur) : 0;
		say(r, "lag %s over %d partition%s",
		    ls_policy_format_count(x->scaling, a, sizeof(a)), x->partitions,
		    x->partitions == 1 ? "" : "s");
		if (x->n_persistent)
			say(r, " (%s persistent on %d left out)",
			    ls_policy_format_count(x->persistent, b, sizeof(b)), x->n_persistent);
		ls_policy_format_count(p->lag_threshold, c, sizeof(c));
		if (cur > 0 && fabs(ratio - 1.0) <= p->tolerance && rec != cur) {
			say(r, " is within %g%% of %d replica%s at %s each; no change",
			    p->tolerance * 100, cur, cur == 1 ? "" : "s", c);
			*ret_within = true;
			return cur;
		}
		say(r, " needs %d replica%s at %s each", rec, rec == 1 ? "" : "s", c);
		return rec;
	}

	/* rate: the replicas that carry the produce rate and drain the backlog
	 * within targetDrainTime. */
	{
		double produce = x->produce >= 0 ? x->produce : 0;
		double drain_s = (double)p->target_drain_time_ms / 1000.0;
		double need = (produce + (double)x->scaling / drain_s) / rate;

		rec = ceil_rate(need);
		ratio = cur > 0 ? need / cur : 0;
		say(r, "produce %s/s%s + backlog %s in %s needs %d replica%s at %s/s each (%s)",
		    fmt_rate(produce, a, sizeof(a)), x->produce >= 0 ? "" : " (unknown yet)",
		    ls_policy_format_count(x->scaling, b, sizeof(b)),
		    fmt_dur(p->target_drain_time_ms, c, sizeof(c)), rec, rec == 1 ? "" : "s",
		    fmt_rate(rate, d, sizeof(d)), rate_source_name(src));
		if (x->n_persistent)
			say(r, " (%s persistent lag left out)",
			    ls_policy_format_count(x->persistent, a, sizeof(a)));
		if (cur > 0 && fabs(ratio - 1.0) <= p->tolerance && rec != cur) {
			say(r, "; within %g%% of %d; no change", p->tolerance * 100, cur);
			*ret_within = true;
			return cur;
		}
		return rec;
	}
}

static void describe_policy(struct reason *r, const struct ls_scaling_rules *rules, int which,
			    bool up)
{
	const struct ls_rate_policy *pol;
	char per[32];

	if (which < 0) {
		say(r, "; scale-%s disabled by behavior", up ? "up" : "down");
		return;
	}
	pol = &rules->policies[which];
	say(r, "; scale-%s limited to %s%d%s per %s", up ? "up" : "down", up ? "+" : "-", pol->value,
	    pol->type == LS_RATE_PERCENT ? "%" : "", fmt_dur(pol->period_ms, per, sizeof(per)));
}

/*
 * The group's partitions as the policy sees them: NULL when partitionAware
 * is off, allowIdleConsumers asks for more consumers than partitions, or
 * the per-partition view could not be had (the decision then goes on
 * without it). The assignor is the group's own, range when unknown.
 */
static struct ls_partitions *partition_model(const struct ls_policy_params *p,
					     const struct ls_policy_input *in,
					     const struct lag_stats *x)
{
	struct ls_partitions *m = NULL;
	const char *assignor = in->snap->group.known ? in->snap->group.assignor : NULL;

	if (!p->partition_aware || p->allow_idle_consumers || !x->topic_parts ||
	    x->partitions <= 0)
		return NULL;
	if (ls_partitions_new(x->topic_parts, x->n_topics,
			      ls_partitions_assignor_of_group(assignor), &m) < 0)
		return NULL;
	return m;
}

static int32_t next_useful(const struct ls_partitions *m, int32_t r)
{
	int32_t u = r;

	ls_partitions_next_useful(m, r, &u);
	return u;
}

static int32_t prev_useful(const struct ls_partitions *m, int32_t r)
{
	int32_t u = r;

	if (r >= 1)
		ls_partitions_prev_useful(m, r, &u);
	return u;
}

/* "; 22 would leave 2 consumers with 2 partitions (no more throughput than
 * 12): 24", when r is not useful and u is the useful count taken. */
static void say_not_useful(struct reason *r, const struct ls_partitions *m, int32_t want,
			   int32_t u)
{
	struct ls_partitions_spread sp;

	if (want < 1 || u == want || next_useful(m, want) < want ||
	    ls_partitions_spread(m, want, &sp) < 0)
		return;
	say(r, "; %d would leave %d consumer%s with %d partition%s (no more throughput than %d): %d",
	    want, sp.at_max, sp.at_max == 1 ? "" : "s", sp.max_load, sp.max_load == 1 ? "" : "s",
	    prev_useful(m, want), u);
}

/*
 * Partition-aware recommendation. Rate mode: the smallest useful count
 * whose busiest consumer carries its partitions' produce rate and drains
 * their backlog in targetDrainTime. Lag mode: the next useful count. In
 * both, replicas that cannot help a backlog (hot partitions) are not
 * added: rate mode takes the count with the least work on the busiest
 * consumer, lag mode holds while no useful count up to maxReplicas would
 * lighten it. rec is what the mode's own rule asked for.
 */
static int32_t partition_aware(const struct ls_policy_params *p, const struct ls_policy_input *in,
			       const struct lag_stats *x, const struct ls_partitions *m,
			       double rate, bool within, int32_t rec, struct ls_decision *d,
			       struct reason *r)
{
	int32_t cur = in->current_replicas, top = prev_useful(m, p->max_replicas);
	size_t n = (size_t)x->partitions;
	double drain_s = (double)p->target_drain_time_ms / 1000.0;
	struct ls_partitions_hot hot;
	char a[32], b[32];

	if (top < 1)
		top = 1;
	if (rate > 0 && ls_partitions_hot(m, cur > 0 ? cur : 1, x->part_rate, x->part_lag, n,
					  drain_s, rate, &hot) == 0)
		d->hot_partitions = hot.hot;
	if (p->mode == LS_MODE_RATE && rate > 0) {
		struct ls_partitions_fit fit;

		/* Within tolerance at a useful count: no change, as without
		 * partitions. */
		if (within && ls_partitions_is_useful(m, cur))
			return cur;
		if (ls_partitions_fit(m, top, x->part_rate, x->part_lag, n, drain_s, rate, &fit) < 0)
			return next_useful(m, rec);
		if (fit.carried) {
			if (fit.replicas != rec)
				say(r, "; the busiest consumer (%d partition%s, %s/s + backlog %s) "
				       "needs %d",
				    fit.bottleneck.partitions, fit.bottleneck.partitions == 1 ? "" : "s",
				    fmt_rate(fit.bottleneck.rate, a, sizeof(a)),
				    ls_policy_format_count(fit.bottleneck.lag, b, sizeof(b)),
				    fit.replicas);
			say_not_useful(r, m, rec, fit.replicas);
			return fit.replicas;
		}
		/* Not carried below maxReplicas: when more replicas would
		 * carry it, maxReplicas is the limit (and says so below);
		 * when none would, the busiest consumer is hot. */
		{
			struct ls_partitions_fit all;
			int32_t ptop = next_useful(m, INT32_MAX);

			if (ptop > top &&
			    ls_partitions_fit(m, ptop, x->part_rate, x->part_lag, n, drain_s, rate,
					      &all) == 0 &&
			    all.carried)
				return all.replicas;
		}
		/* Even spread over the top useful count would not carry it
		 * either: more replicas than partitions is what it needs, the
		 * partition cap, not a hot partition. */
		{
			double total = (x->produce > 0 ? x->produce : 0) +
				       (double)x->scaling / drain_s;
			int32_t ptop = next_useful(m, INT32_MAX);

			if (total / (double)ptop > rate * (1 + 1e-9) && d->hot_partitions == 0) {
				if (rec != ptop)
					say(r, "; %d: the most the partitions can use", ptop);
				return ptop;
			}
		}
		d->hot = true;
		if (d->hot_partitions < 1)
			d->hot_partitions = 1;
		say(r, "; hot partitions: more than %d replica%s would not help the "
		       "busiest consumer (%s/s + backlog %s on %d partition%s)",
		    fit.replicas, fit.replicas == 1 ? "" : "s",
		    fmt_rate(fit.bottleneck.rate, a, sizeof(a)),
		    ls_policy_format_count(fit.bottleneck.lag, b, sizeof(b)),
		    fit.bottleneck.partitions, fit.bottleneck.partitions == 1 ? "" : "s");
		return fit.replicas;
	}
	{
		int32_t u = next_useful(m, rec);
		struct ls_partitions_fit best;

		/* Above the top useful count the partition cap speaks. */
		if (u < rec)
			return rec;
		/* Lag mode adds no replica that cannot lighten the busiest
		 * consumer: the fewest replicas that give it the least work
		 * (at any per-replica rate too small to carry it) are no more
		 * than now. */
		if (u > cur && cur >= 1 && ls_partitions_is_useful(m, cur) &&
		    ls_partitions_fit(m, top, x->part_rate, x->part_lag, n, drain_s, 1e-9,
				      &best) == 0 &&
		    !best.carried && best.replicas <= cur && best.bottleneck.lag > 0) {
			d->hot = true;
			if (d->hot_partitions < 1)
				d->hot_partitions = 1;
			say(r, "; the busiest consumer's backlog (%s on %d partition%s) is not "
			       "lightened by more replicas: holding %d",
			    ls_policy_format_count(best.bottleneck.lag, a, sizeof(a)),
			    best.bottleneck.partitions, best.bottleneck.partitions == 1 ? "" : "s",
			    cur);
			return cur;
		}
		say_not_useful(r, m, rec, u);
		return u;
	}
}

/* The HPA path: recommendation, caps, bounds, stabilization, rate limits. */
static int decide_scaling(struct ls_policy_state *st, const struct ls_policy_params *p,
			  const struct ls_policy_input *in, const struct lag_stats *x,
			  struct ls_decision *d, struct reason *r)
{
	int32_t cur = in->current_replicas, lo, rec, up_rec, down_rec, stab, desired, maxr;
	int32_t consume_cap = INT32_MAX;
	int64_t now = in->now_ms;
	int64_t down_window = p->scale_down.stabilization_window_ms > p->polling_interval_ms
				      ? p->scale_down.stabilization_window_ms
				      : p->polling_interval_ms;
	enum rate_source src = RATE_SET;
	struct ls_partitions *m = partition_model(p, in, x);
	bool within = false, limited = false;
	double rate = -1;
	char a[32], b[32];
	int ret = 0, which;

	lo = p->min_replicas > 1 ? p->min_replicas : 1;
	rate = rate_estimate(st, p, in->now_ms, &src);
	d->per_replica_rate = rate;

	if (!d->active) {
		char s1[32], s2[32];

		say(r, "inactive for %s of cooldown %s; ",
		    fmt_dur(now - st->last_active_ms, s1, sizeof(s1)),
		    fmt_dur(p->cooldown_period_ms, s2, sizeof(s2)));
	}
	if (x->produce >= 0) {
		ret = ls_policy_produced_add(st, now, x->produce, down_window);
		if (ret < 0)
			goto out;
	}
	rec = recommend(p, in, x, rate, src, r, &within);
	/* Lag mode alone cannot tell "just enough" from "too many": both
	 * show no lag, so it scales down, the lag comes back and it scales up
	 * again (the flapping lag-based scalers are known for). Once the rate
	 * of a replica is known, never recommend fewer replicas than carry
	 * what is being produced. */
	if (p->mode == LS_MODE_LAG && x->produce > 0) {
		double fr = -1;

		/* A lower bound counts only when seen with fewer replicas than
		 * now: seen with these very replicas it would only say "keep
		 * them", and an over-provisioned target would never shrink. */
		if (proven_rate(st, src, rate) > 0)
			fr = proven_rate(st, src, rate);
		else if (st->lb_best > 0 && st->lb_replicas < cur)
			fr = st->lb_best;
		if (fr > 0 && rec < ceil_rate(x->produce / fr)) {
			rec = ceil_rate(x->produce / fr);
			say(r, "; kept at %d to carry produce %s/s at %s/s each (%s)", rec,
			    fmt_rate(x->produce, a, sizeof(a)), fmt_rate(fr, b, sizeof(b)),
			    fr == rate ? rate_source_name(src) : fr == st->lb_best ? "observed" : "learned");
		}
	}

	if (p->even_distribution && x->partitions > 0) {
		/* KEDA's form: the next divisor of the partition count. */
		int32_t dv = rec;

		ls_partitions_next_divisor(x->partitions, rec, &dv);
		if (dv != rec)
			say(r, "; %d, the next divisor of %d partitions", dv, x->partitions);
		rec = dv;
	} else if (m) {
		rec = partition_aware(p, in, x, m, rate, within, rec, d, r);
	}
	/* The partition cap applies to the replicas, not to the metric as in
	 * KEDA, so the tolerance cannot hold a scaler one short of the
	 * partition count (KEDA issue 2908). */
	if (!p->allow_idle_consumers || p->limit_to_partitions_with_lag) {
		int32_t cap = p->limit_to_partitions_with_lag ? x->with_lag : x->partitions;

		if (rec > cap) {
			rec = cap;
			say(r, "; capped at %d partition%s%s", cap, cap == 1 ? "" : "s",
			    p->limit_to_partitions_with_lag ? " with lag" : "");
		}
	}
	/* All replicas together must not consume faster than downstream
	 * bears: the backlog then drains at maxConsumeRate instead of
	 * overrunning a database (the thundering herd). */
	if (p->max_consume_rate > 0 && rate > 0) {
		double c = floor(p->max_consume_rate / rate + 1e-9);

		consume_cap = c < 1 ? 1 : (c > INT32_MAX ? INT32_MAX : (int32_t)c);
		if (rec > consume_cap) {
			rec = consume_cap;
			say(r, "; capped at %d by maxConsumeRate %s/s", consume_cap,
			    fmt_rate(p->max_consume_rate, a, sizeof(a)));
		}
	}
	/* A maxReplicas that is not useful gives no more than the useful
	 * count below it: 20 on 24 partitions carries what 12 do. */
	maxr = m ? prev_useful(m, p->max_replicas) : p->max_replicas;
	if (rec > maxr) {
		rec = maxr;
		if (maxr != p->max_replicas)
			say(r, "; held at %d: maxReplicas %d carries no more than %d on %d partitions",
			    rec, p->max_replicas, maxr, x->partitions);
		else
			say(r, "; held at maxReplicas %d", rec);
	}
	if (rec < lo) {
		rec = lo;
		say(r, "; raised to %s %d", p->min_replicas > 1 ? "minReplicas" : "at least", lo);
	}
	d->recommended_replicas = rec;
	ret = ls_policy_rec_add(st, now, rec);
	if (ret < 0)
		goto out;

	/* Stabilization (the HPA's stabilizeRecommendationWithBehaviors): up
	 * to the lowest recommendation of the up-window, down to the highest
	 * of the down-window. The current round's recommendation is in the
	 * history already. */
	up_rec = rec;
	down_rec = rec;
	for (size_t i = 0; i < st->n_recs; i++) {
		const struct ls_rec *h = &st->recs[i];

		if (h->t_ms > now - p->scale_up.stabilization_window_ms && h->replicas < up_rec)
			up_rec = h->replicas;
		if (h->t_ms > now - p->scale_down.stabilization_window_ms &&
		    h->replicas > down_rec)
			down_rec = h->replicas;
	}
	stab = cur;
	if (stab < up_rec)
		stab = up_rec;
	if (stab > down_rec)
		stab = down_rec;
	if (rec < cur && stab > rec)
		say(r, "; scale-down held at %d by the %s stabilization window", stab,
		    fmt_dur(p->scale_down.stabilization_window_ms, a, sizeof(a)));
	else if (rec > cur && stab < rec)
		say(r, "; scale-up held at %d by the %s stabilization window", stab,
		    fmt_dur(p->scale_up.stabilization_window_ms, a, sizeof(a)));

	/* Rate limits (convertDesiredReplicasWithBehaviorRate) against the
	 * replicas at the start of each policy's period. */
	desired = stab;
	if (desired > cur) {
		int32_t limit = ls_policy_scale_up_limit(st, &p->scale_up, now, cur, &which);

		if (limit < cur)
			limit = cur;
		if (desired > limit) {
			desired = limit;
			limited = true;
			describe_policy(r, &p->scale_up, which, true);
		}
	} else if (desired < cur) {
		int32_t limit = ls_policy_scale_down_limit(st, &p->scale_down, now, cur, &which);

		if (limit > cur)
			limit = cur;
		if (desired < limit) {
			desired = limit;
			limited = true;
			describe_policy(r, &p->scale_down, which, false);
		}
	}
	/* A rate limit that lands between useful counts: up to the useful
	 * count below it (when that is still a step up), down to the one
	 * above it. */
	if (m && limited) {
		int32_t u = desired > cur ? prev_useful(m, desired) : next_useful(m, desired);

		if (desired > cur && u > cur && u != desired) {
			say(r, " (%d, the useful count below)", u);
			desired = u;
		} else if (desired < cur && u != desired && u <= cur) {
			say(r, " (%d, the useful count above)", u);
			desired = u;
		}
	}
	/* Scale down only to what is proven: never below the replicas that the
	 * peak produce rate of the scale-down window needs at a per-replica
	 * rate that was measured while saturated, or configured. */
	if (desired < cur && proven_rate(st, src, rate) > 0) {
		double proven = proven_rate(st, src, rate);
		double peak = ls_policy_produced_peak(st, now - down_window);
		int32_t floor_r = peak > 0 ? ceil_rate(peak / proven) : 0;
		char c[32];

		if (m && floor_r > 0)
			floor_r = next_useful(m, floor_r);
		if (floor_r > cur)
			floor_r = cur;
		if (desired < floor_r) {
			desired = floor_r;
			say(r, "; scale-down stops at %d: the peak produce %s/s of the last %s "
			       "needs them at %s/s each (%s)",
			    floor_r, fmt_rate(peak, a, sizeof(a)), fmt_dur(down_window, b, sizeof(b)),
			    fmt_rate(proven, c, sizeof(c)), proven == rate ? rate_source_name(src) : "learned");
		}
	}
	/* With a downstream limit and a per-replica rate not measured yet,
	 * one step up is taken, then the rate is measured before the next: a
	 * guessed rate must not let the replicas overrun downstream. */
	if (desired > cur && consume_cap != INT32_MAX && (src == RATE_PRIOR ||
	    src == RATE_LOWER_BOUND) && st->seen_change &&
	    st->stable_rounds < LS_LEARN_HOLD_ROUNDS) {
		desired = cur;
		say(r, "; scale-up waits until perReplicaRate is measured (maxConsumeRate)");
	}
	/* Bounds win over damping, as in the HPA (which rescales a target
	 * outside [min, max] at once), and so does the downstream's limit;
	 * from 0 an active scaler gets at least one replica at once. */
	if (desired > maxr && desired > cur)
		desired = maxr > cur ? maxr : cur;
	if (desired > p->max_replicas)
		desired = p->max_replicas;
	if (desired > consume_cap) {
		desired = consume_cap;
		if (stab > consume_cap && rec == consume_cap && cur > consume_cap)
			say(r, "; down to the maxConsumeRate cap at once");
	}
	if (desired < lo) {
		if (cur == 0)
			say(r, "; activating");
		desired = lo;
	}
	d->desired_replicas = desired;
	if (desired > cur)
		d->action = cur == 0 ? LS_ACTION_ACTIVATE : LS_ACTION_SCALE_UP;
	else if (desired < cur)
		d->action = LS_ACTION_SCALE_DOWN;
	else
		d->action = LS_ACTION_NONE;
out:
	ls_partitions_free(m);
	return ret;
}

static int decide_failed(struct ls_policy_state *st, const struct ls_policy_params *p,
			 const struct ls_policy_input *in, struct ls_decision *d, struct reason *r)
{
	int32_t cur = in->current_replicas, fb = cur;
	const char *msg = ls_lag_snapshot_errmsg(in->snap);
	int ret;

	if (st->consecutive_failures < INT32_MAX)
		st->consecutive_failures++;
	/* Unknown is not inactive: the cooldown starts again after the reads
	 * come back, so an outage never idles a workload. */
	st->last_active_ms = in->now_ms;
	d->active = true;
	d->consecutive_failures = st->consecutive_failures;

	if (st->consecutive_failures < p->fallback_failure_threshold) {
		d->action = LS_ACTION_ERROR;
		d->recommended_replicas = cur;
		d->desired_replicas = cur;
		say(r, "lag read failed (%d of %d before fallback): %s; holding %d replica%s",
		    st->consecutive_failures, p->fallback_failure_threshold, msg, cur,
		    cur == 1 ? "" : "s");
		return 0;
	}

	switch (p->fallback_behavior) {
	case LS_FALLBACK_STATIC:
		fb = p->fallback_replicas;
		break;
	case LS_FALLBACK_CURRENT:
		fb = cur;
		break;
	case LS_FALLBACK_CURRENT_IF_HIGHER:
		fb = cur > p->fallback_replicas ? cur : p->fallback_replicas;
		break;
	case LS_FALLBACK_CURRENT_IF_LOWER:
		fb = cur < p->fallback_replicas ? cur : p->fallback_replicas;
		break;
	}
	say(r, "%d consecutive failed lag reads (%s); fallback %s gives %d", st->consecutive_failures,
	    msg, fallback_name(p->fallback_behavior), fb);
	if (fb > p->max_replicas) {
		fb = p->max_replicas;
		say(r, "; held at maxReplicas %d", fb);
	}
	if (fb < p->min_replicas) {
		fb = p->min_replicas;
		say(r, "; raised to minReplicas %d", fb);
	}
	/* A read that failed says nothing about the lag: never scale a
	 * running workload to zero on it. */
	if (fb == 0 && cur > 0) {
		fb = cur;
		say(r, "; an error never scales to zero: keeping %d", cur);
	}
	d->action = LS_ACTION_FALLBACK;
	d->fallback = true;
	d->recommended_replicas = fb;
	d->desired_replicas = fb;
	/* Recorded like any recommendation, so that when the reads come back
	 * the down-window still remembers what the fallback asked for. */
	ret = ls_policy_rec_add(st, in->now_ms, fb);
	return ret < 0 ? ret : 0;
}

static void decide_inactive(struct ls_policy_state *st, const struct ls_policy_params *p,
			    const struct ls_policy_input *in, const struct lag_stats *x,
			    int32_t idle, struct ls_decision *d, struct reason *r)
{
	int32_t cur = in->current_replicas;
	char a[32], b[32], c[32];

	d->recommended_replicas = idle;
	d->desired_replicas = idle;
	say(r, "lag %s at or below activation threshold %s and nothing produced",
	    ls_policy_format_count(x->total, a, sizeof(a)),
	    ls_policy_format_count(p->activation_lag_threshold, b, sizeof(b)));
	if (cur <= idle) {
		d->action = idle > cur ? LS_ACTION_SCALE_UP : LS_ACTION_NONE;
		say(r, "; inactive at %d replica%s", idle, idle == 1 ? "" : "s");
		return;
	}
	d->action = LS_ACTION_DEACTIVATE;
	say(r, "; inactive for %s (cooldownPeriod %s): scaling to %s %d",
	    fmt_dur(in->now_ms - st->last_active_ms, a, sizeof(a)),
	    fmt_dur(p->cooldown_period_ms, c, sizeof(c)),
	    p->idle_replicas >= 0 ? "idleReplicas" : "minReplicas", idle);
}

void ls_decision_init(struct ls_decision *d, int32_t current)
{
	memset(d, 0, sizeof(*d));
	d->current_replicas = current;
	d->recommended_replicas = current;
	d->desired_replicas = current;
	d->total_lag = -1;
	d->scaling_lag = -1;
	d->partition_count = -1;
	d->members = -1;
	d->produce_rate = -1;
	d->consume_rate = -1;
	d->per_replica_rate = -1;
}

int ls_policy_decide(struct ls_policy_state *st, const struct ls_policy_params *p,
		     const struct ls_policy_input *in, struct ls_decision *ret)
{
	struct ls_decision d;
	struct lag_stats x = {0};
	struct reason r;
	int32_t idle;
	int err = 0;

	if (!st || !p || !in || !ret || !in->snap)
		return -EINVAL;
	if (ls_policy_params_validate(p) < 0 || in->current_replicas < 0 ||
	    in->paused_replicas < -1)
		return -EINVAL;

	ls_decision_init(&d, in->current_replicas);
	r = (struct reason){d.reason, sizeof(d.reason), 0};
	if (!in->snap->err) {
		if (in->snap->group.known) {
			d.members = (int32_t)in->snap->group.n_members;
			snprintf(d.assignor, sizeof(d.assignor), "%s", in->snap->group.assignor);
		}
		compute_stats(st, p, in->snap, &x);
		d.total_lag = x.total;
		d.scaling_lag = x.scaling;
		d.partition_count = x.partitions;
		d.produce_rate = x.produce;
		d.consume_rate = x.consume;
		/* Active on lag, as in KEDA, and also while messages arrive:
		 * consumers that keep up perfectly show no lag but are not
		 * idle, and idling them would only bring the lag back. */
		d.active = x.total > p->activation_lag_threshold ||
			   (x.produce > 0 && x.produce * (double)p->polling_interval_ms / 1000.0 >
						    (double)p->activation_lag_threshold);
	}

	/* Paused: lagscale changes nothing, its history included; only the
	 * offsets are remembered, as the read the next rates start from. */
	if (in->paused || in->paused_replicas >= 0) {
		if (!in->snap->err)
			(void)ls_policy_mem_store(st, in->snap, x.scaling);
		d.action = LS_ACTION_PAUSED;
		d.desired_replicas =
			in->paused_replicas >= 0 ? in->paused_replicas : in->current_replicas;
		d.recommended_replicas = d.desired_replicas;
		if (in->paused_replicas >= 0)
			say(&r, "paused at %d replica%s (lagscale.io/paused-replicas)",
			    d.desired_replicas, d.desired_replicas == 1 ? "" : "s");
		else
			say(&r, "paused (lagscale.io/paused); replicas left at %d",
			    in->current_replicas);
		goto out;
	}

	/* A fresh state starts from the current replicas: the down-window
	 * then holds them, so a restart never scales down early. */
	if (!st->seeded) {
		err = ls_policy_rec_add(st, in->now_ms, in->current_replicas);
		if (err < 0)
			goto done;
		st->seeded = true;
		st->last_active_ms = in->now_ms;
		st->last_current = in->current_replicas;
	}
	ls_policy_prune(st, p, in->now_ms);

	if (in->snap->err) {
		err = decide_failed(st, p, in, &d, &r);
		if (err < 0)
			goto done;
		goto out;
	}

	st->consecutive_failures = 0;
	learn(st, p, in, &x);
	/* Losing the offset memory only costs one round of persistent-lag
	 * detection and of own rates; the decision goes on. */
	(void)ls_policy_mem_store(st, in->snap, x.scaling);
	st->last_current = in->current_replicas;
	if (d.active)
		st->last_active_ms = in->now_ms;

	idle = p->idle_replicas >= 0 ? p->idle_replicas : p->min_replicas;
	if (!d.active && (in->current_replicas <= idle ||
			  in->now_ms - st->last_active_ms >= p->cooldown_period_ms)) {
		decide_inactive(st, p, in, &x, idle, &d, &r);
		goto out;
	}
	err = decide_scaling(st, p, in, &x, &d, &r);
	if (err < 0)
		goto done;
out:
	*ret = d;
	err = 0;
done:
	free(x.scratch);
	return err;
}

static bool rules_eq(const struct ls_scaling_rules *a, const struct ls_scaling_rules *b)
{
	if (a->stabilization_window_ms != b->stabilization_window_ms || a->select != b->select ||
	    a->n_policies != b->n_policies)
		return false;
	for (size_t i = 0; i < a->n_policies; i++)
		if (a->policies[i].type != b->policies[i].type ||
		    a->policies[i].value != b->policies[i].value ||
		    a->policies[i].period_ms != b->policies[i].period_ms)
			return false;
	return true;
}

bool ls_policy_params_equal(const struct ls_policy_params *a, const struct ls_policy_params *b)
{
	return a->mode == b->mode && a->lag_threshold == b->lag_threshold &&
	       a->activation_lag_threshold == b->activation_lag_threshold &&
	       a->min_replicas == b->min_replicas && a->max_replicas == b->max_replicas &&
	       a->idle_replicas == b->idle_replicas &&
	       a->polling_interval_ms == b->polling_interval_ms &&
	       a->cooldown_period_ms == b->cooldown_period_ms && a->tolerance == b->tolerance &&
	       a->allow_idle_consumers == b->allow_idle_consumers &&
	       a->partition_aware == b->partition_aware &&
	       a->even_distribution == b->even_distribution &&
	       a->limit_to_partitions_with_lag == b->limit_to_partitions_with_lag &&
	       a->exclude_persistent_lag == b->exclude_persistent_lag &&
	       a->scale_to_zero_on_invalid_offset == b->scale_to_zero_on_invalid_offset &&
	       a->target_drain_time_ms == b->target_drain_time_ms &&
	       a->per_replica_rate == b->per_replica_rate &&
	       a->max_consume_rate == b->max_consume_rate && rules_eq(&a->scale_up, &b->scale_up) &&
	       rules_eq(&a->scale_down, &b->scale_down) &&
	       a->fallback_failure_threshold == b->fallback_failure_threshold &&
	       a->fallback_replicas == b->fallback_replicas &&
	       a->fallback_behavior == b->fallback_behavior && a->offset_reset == b->offset_reset;
}
