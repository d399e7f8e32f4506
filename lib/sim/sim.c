/* sim.c - the workload simulator (see sim.h for the model). */
#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/age.h"
#include "sim/keda.h"
#include "util/parse.h"

/* Two scale events in opposite directions closer than this are a flap. */
#define REVERSAL_WINDOW_MS (5 * 60 * 1000)

struct sim {
	const struct ls_scenario *sc;
	struct ls_policy_params params;
	enum ls_sim_policy policy;
	struct ls_policy_state *st;
	struct ls_keda *keda;

	double produced; /* cumulative messages, the initial backlog included */
	double consumed;

	/* The produce history, for the exact age of the oldest message. */
	struct ls_age_tracker age;

	int64_t *starts; /* per replica: when it consumes from; oldest first */
	int32_t n_rep;
	size_t alloc_rep;

	struct ls_lag_snapshot snap[2];
	int cur_snap;
	bool have_prev; /* snap[1 - cur_snap] holds the last good read */

	int32_t desired;
	int last_dir;
	int64_t last_event_ms;
};

int ls_sim_policy_parse(const char *s, enum ls_sim_policy *ret)
{
	if (!s || !ret)
		return -EINVAL;
	if (strcmp(s, "lag") == 0)
		*ret = LS_SIM_LAG;
	else if (strcmp(s, "rate") == 0)
		*ret = LS_SIM_RATE;
	else if (strcmp(s, "keda") == 0)
		*ret = LS_SIM_KEDA;
	else
		return -EINVAL;
	return 0;
}

const char *ls_sim_policy_name(enum ls_sim_policy p)
{
	switch (p) {
	case LS_SIM_LAG:
		return "lag";
	case LS_SIM_RATE:
		return "rate";
	case LS_SIM_KEDA:
		return "keda";
	case LS_SIM_SCENARIO:
		break;
	}
	return "scenario";
}

static bool in_windows(const struct ls_scenario_window *w, size_t n, int64_t t)
{
	for (size_t i = 0; i < n; i++)
		if (t >= w[i].from_ms && t < w[i].to_ms)
			return true;
	return false;
}

static int validate(const struct ls_scenario *sc)
{
	if (!sc || sc->duration_ms <= 0 || sc->step_ms <= 0 || sc->partitions <= 0 ||
	    sc->initial_replicas < 0 || !(sc->per_replica_rate > 0) ||
	    !isfinite(sc->per_replica_rate) || sc->startup_delay_ms < 0 ||
	    !(sc->max_consume_rate >= 0) || sc->initial_lag < 0 || !sc->produce ||
	    sc->n_produce == 0)
		return -EINVAL;
	for (size_t i = 0; i < sc->n_produce; i++)
		if (!(sc->produce[i].rate >= 0) || !isfinite(sc->produce[i].rate))
			return -EINVAL;
	return 0;
}

/* Offsets N spread evenly over n partitions: the first N % n get one more. */
static int64_t spread(int64_t total, int32_t n, int32_t i)
{
	return total / n + (i < total % n ? 1 : 0);
}

static int snap_alloc(struct ls_lag_snapshot *s, int32_t partitions)
{
	memset(s, 0, sizeof(*s));
	s->topics = calloc(1, sizeof(*s->topics));
	if (!s->topics)
		return -ENOMEM;
	s->n_topics = 1;
	s->topics[0].topic = strdup("events");
	s->topics[0].parts = calloc((size_t)partitions, sizeof(*s->topics[0].parts));
	if (!s->topics[0].topic || !s->topics[0].parts)
		return -ENOMEM;
	s->topics[0].n_parts = (size_t)partitions;
	return 0;
}

static int64_t lag_now(const struct sim *m)
{
	return (int64_t)floor(m->produced) - (int64_t)floor(m->consumed);
}

/* The snapshot a read at t gives (failed inside a kafkaErrors window). */
static struct ls_lag_snapshot *read_offsets(struct sim *m, int64_t t)
{
	struct ls_lag_snapshot *s = &m->snap[m->cur_snap];
	const struct ls_lag_snapshot *prev = m->have_prev ? &m->snap[1 - m->cur_snap] : NULL;
	int64_t n = (int64_t)floor(m->produced), c = (int64_t)floor(m->consumed);
	int32_t parts = m->sc->partitions;

	s->time_ms = t;
	s->errmsg[0] = '\0';
	if (in_windows(m->sc->kafka_errors, m->sc->n_kafka_errors, t)) {
		s->err = -EIO;
		snprintf(s->errmsg, sizeof(s->errmsg), "simulated Kafka error");
		s->total_lag = 0;
		s->partition_count = 0;
		s->produce_rate = -1;
		s->consume_rate = -1;
		return s;
	}
	s->err = 0;
	for (int32_t i = 0; i < parts; i++) {
		struct ls_partition_offsets *p = &s->topics[0].parts[i];

		p->partition = i;
		p->end = spread(n, parts, i);
		p->committed = spread(c, parts, i);
		p->log_start = LS_OFFSET_UNKNOWN;
	}
	ls_lag_snapshot_compute(s, m->params.offset_reset);
	ls_lag_snapshot_rates(prev, s);
	return s;
}

static int set_replicas(struct sim *m, int64_t t, int32_t to)
{
	if (to > m->n_rep) {
		if ((size_t)to > m->alloc_rep) {
			size_t n = m->alloc_rep ? m->alloc_rep : 16;
			int64_t *q;

			while (n < (size_t)to)
				n *= 2;
			q = realloc(m->starts, n * sizeof(*q));
			if (!q)
				return -ENOMEM;
			m->starts = q;
			m->alloc_rep = n;
		}
		for (int32_t i = m->n_rep; i < to; i++)
			m->starts[i] = t + m->sc->startup_delay_ms;
	}
	/* Removing keeps the oldest: the newest are dropped first. */
	m->n_rep = to;
	return 0;
}

static int decide(struct sim *m, const struct ls_sim_options *o, int64_t t,
		  struct ls_sim_result *res, int *ret_action)
{
	struct ls_lag_snapshot *s = read_offsets(m, t);
	struct ls_policy_input in = {.now_ms = t, .snap = s, .current_replicas = m->n_rep,
				     .paused_replicas = -1};
	struct ls_decision d;
	int32_t from = m->n_rep;
	int r;

	if (m->policy == LS_SIM_KEDA)
		r = ls_keda_decide(m->keda, &m->params, &in, &d);
	else
		r = ls_policy_decide(m->st, &m->params, &in, &d);
	if (r < 0)
		return r;
	if (!s->err) {
		m->have_prev = true;
		m->cur_snap = 1 - m->cur_snap;
	}
	res->decisions++;
	if (d.action == LS_ACTION_FALLBACK)
		res->fallbacks++;
	m->desired = d.desired_replicas;
	*ret_action = (int)d.action;
	if (o->on_decision)
		o->on_decision(o->ctx, t, &d);
	if (d.desired_replicas != from) {
		int dir = d.desired_replicas > from ? 1 : -1;

		r = set_replicas(m, t, d.desired_replicas);
		if (r < 0)
			return r;
		if (m->policy != LS_SIM_KEDA)
			ls_policy_applied(m->st, t, from, d.desired_replicas);
		res->scale_events++;
		if (m->last_dir && dir != m->last_dir && t - m->last_event_ms < REVERSAL_WINDOW_MS)
			res->direction_reversals++;
		m->last_dir = dir;
		m->last_event_ms = t;
	}
	return 0;
}

static bool decision_due(const struct sim *m, int64_t t, int64_t next)
{
	if (m->policy == LS_SIM_KEDA)
		return ls_keda_due(m->keda, &m->params, t);
	return t >= next;
}

int ls_sim_run(const struct ls_scenario *sc, const struct ls_sim_options *o,
	       struct ls_sim_result *ret)
{
	struct ls_sim_result res;
	struct sim m;
	struct ls_series_point pt;
	int64_t t = 0, next_decision = 0, peak_t = 0, drain_t = -1;
	double thr, dt;
	int action = LS_SERIES_NO_ACTION, r;

	if (!o || !ret || validate(sc) < 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	memset(&res, 0, sizeof(res));
	m.sc = sc;
	m.params = sc->policy;
	m.policy = o->policy;
	if (m.policy == LS_SIM_SCENARIO)
		m.policy = sc->policy.mode == LS_MODE_RATE ? LS_SIM_RATE : LS_SIM_LAG;
	if (m.policy == LS_SIM_LAG)
		m.params.mode = LS_MODE_LAG;
	else if (m.policy == LS_SIM_RATE)
		m.params.mode = LS_MODE_RATE;
	if (ls_policy_params_validate(&m.params) < 0)
		return -EINVAL;
	res.policy = m.policy;
	thr = (double)m.params.lag_threshold;
	dt = (double)sc->step_ms / 1000.0;

	r = -ENOMEM;
	if (m.policy == LS_SIM_KEDA)
		m.keda = ls_keda_new();
	else
		m.st = ls_policy_state_new();
	if (!m.keda && !m.st)
		goto out;
	if (snap_alloc(&m.snap[0], sc->partitions) < 0 || snap_alloc(&m.snap[1], sc->partitions) < 0)
		goto out;
	m.produced = (double)sc->initial_lag;
	ls_age_tracker_init(&m.age);
	r = ls_age_tracker_add(&m.age, 0, m.produced);
	if (r < 0)
		goto out;
	/* The initial replicas are running and consuming already. */
	r = set_replicas(&m, -sc->startup_delay_ms, sc->initial_replicas);
	if (r < 0)
		goto out;
	m.desired = m.n_rep;

	r = decide(&m, o, 0, &res, &action);
	if (r < 0)
		goto out;
	next_decision = m.params.polling_interval_ms;
	res.peak_lag = lag_now(&m);
	res.max_replicas = m.n_rep;
	pt = (struct ls_series_point){0, ls_scenario_produce_rate(sc, 0), 0, lag_now(&m), 0,
				      m.n_rep, m.desired, action};
	if (o->series && (r = ls_series_append(o->series, &pt)) < 0)
		goto out;

	while (t < sc->duration_ms) {
		int64_t t1 = t + sc->step_ms;
		double prod = (ls_scenario_produce_rate(sc, t) + ls_scenario_produce_rate(sc, t1)) /
			      2.0 * dt;
		int32_t active = 0;
		double cap, avail, asked, delivered;
		int64_t lag;
		double age;

		/* Physics of [t, t1): replicas started by t consume. */
		if (!in_windows(sc->consumer_outages, sc->n_consumer_outages, t))
			for (int32_t i = 0; i < m.n_rep; i++)
				active += m.starts[i] <= t;
		if (active > sc->partitions)
			active = sc->partitions;
		cap = active * sc->per_replica_rate;
		avail = (m.produced + prod - m.consumed) / dt;
		asked = cap < avail ? cap : avail;
		if (asked < 0)
			asked = 0;
		delivered = asked;
		if (sc->max_consume_rate > 0 && asked > sc->max_consume_rate + 1e-9) {
			delivered = sc->max_consume_rate * (sc->max_consume_rate / asked);
			res.overload_seconds += dt;
		}
		if (asked > res.peak_demand_rate)
			res.peak_demand_rate = asked;
		if (delivered > res.peak_consume_rate)
			res.peak_consume_rate = delivered;
		res.replica_seconds += (double)m.n_rep * dt;
		m.produced += prod;
		m.consumed += delivered * dt;
		if (m.consumed > m.produced)
			m.consumed = m.produced;
		r = ls_age_tracker_add(&m.age, t1, m.produced);
		if (r < 0)
			goto out;
		t = t1;

		action = LS_SERIES_NO_ACTION;
		if (t < sc->duration_ms && decision_due(&m, t, next_decision)) {
			r = decide(&m, o, t, &res, &action);
			if (r < 0)
				goto out;
			while (next_decision <= t)
				next_decision += m.params.polling_interval_ms;
		}
		lag = lag_now(&m);
		age = ls_age_tracker_age(&m.age, t, m.consumed);
		if (lag > res.peak_lag) {
			res.peak_lag = lag;
			peak_t = t;
			drain_t = -1;
		}
		if (drain_t < 0 && t > peak_t && (double)lag < thr)
			drain_t = t;
		if (age > res.peak_lag_seconds)
			res.peak_lag_seconds = age;
		if (m.n_rep > res.max_replicas)
			res.max_replicas = m.n_rep;
		pt = (struct ls_series_point){(double)t / 1000.0, prod / dt, delivered, lag, age,
					      m.n_rep, m.desired, action};
		if (o->series && (r = ls_series_append(o->series, &pt)) < 0)
			goto out;
	}
	res.final_lag = lag_now(&m);
	if ((double)res.peak_lag < thr) {
		res.drained = true;
		res.drain_seconds = 0;
	} else {
		res.drained = drain_t >= 0;
		res.drain_seconds = res.drained ? (double)(drain_t - peak_t) / 1000.0 : -1;
	}
	*ret = res;
	r = 0;
out:
	ls_policy_state_free(m.st);
	ls_keda_free(m.keda);
	ls_lag_snapshot_release(&m.snap[0]);
	ls_lag_snapshot_release(&m.snap[1]);
	ls_age_tracker_release(&m.age);
	free(m.starts);
	return r;
}

int ls_sim_result_json(const struct ls_sim_result *r, const char *scenario, struct ls_buf *out)
{
	int e = ls_buf_puts(out, "{\"scenario\":");

	if (!e)
		e = ls_buf_json_string(out, scenario ? scenario : "");
	if (!e)
		e = ls_buf_printf(out,
				  ",\"policy\":\"%s\",\"peakLag\":%lld,\"peakLagSeconds\":%.1f,"
				  "\"drainSeconds\":%.1f,\"replicaSeconds\":%.1f,\"scaleEvents\":%d,"
				  "\"maxReplicas\":%d}\n",
				  ls_sim_policy_name(r->policy), (long long)r->peak_lag,
				  r->peak_lag_seconds, r->drain_seconds, r->replica_seconds,
				  r->scale_events, r->max_replicas);
	return e;
}

int ls_sim_result_text(const struct ls_sim_result *r, const struct ls_scenario *sc,
		       struct ls_buf *out)
{
	char a[32], b[32], c[32], d[32];
	double dur = (double)sc->duration_ms / 1000.0;
	int e;

	e = ls_buf_printf(out, "%s: policy %s, %s, %d partitions, lagThreshold %s\n",
			  sc->name ? sc->name : "scenario", ls_sim_policy_name(r->policy),
			  ls_format_duration(sc->duration_ms, a, sizeof(a)), sc->partitions,
			  ls_policy_format_count(sc->policy.lag_threshold, b, sizeof(b)));
	if (!e)
		e = ls_buf_printf(out, "  peak lag          %s messages (final %s)\n",
				  ls_policy_format_count(r->peak_lag, a, sizeof(a)),
				  ls_policy_format_count(r->final_lag, b, sizeof(b)));
	if (!e)
		e = ls_buf_printf(out, "  peak message age  %.1f s\n", r->peak_lag_seconds);
	if (!e)
		e = r->drained ? ls_buf_printf(out, "  drain time        %.1f s\n", r->drain_seconds)
			       : ls_buf_puts(out, "  drain time        never (still above one "
						  "lagThreshold at the end)\n");
	if (!e)
		e = ls_buf_printf(out, "  replica-seconds   %s (%.1f replicas on average)\n",
				  ls_policy_format_count((int64_t)llround(r->replica_seconds), a,
							 sizeof(a)),
				  dur > 0 ? r->replica_seconds / dur : 0);
	if (!e)
		e = ls_buf_printf(out, "  scale events      %d (%d reversals within 5m)\n",
				  r->scale_events, r->direction_reversals);
	if (!e)
		e = ls_buf_printf(out, "  max replicas      %d\n", r->max_replicas);
	if (!e)
		e = ls_buf_printf(
			out, "  consume rate      peak %s msgs/s delivered, %s asked%s%s%s\n",
			ls_policy_format_count((int64_t)llround(r->peak_consume_rate), a, sizeof(a)),
			ls_policy_format_count((int64_t)llround(r->peak_demand_rate), b, sizeof(b)),
			sc->max_consume_rate > 0 ? "; downstream limit " : "",
			sc->max_consume_rate > 0
				? ls_policy_format_count((int64_t)llround(sc->max_consume_rate), c,
							 sizeof(c))
				: "",
			sc->max_consume_rate > 0 ? "" : "");
	if (!e && sc->max_consume_rate > 0)
		e = ls_buf_printf(out, "  downstream over its limit for %s s\n",
				  ls_policy_format_count((int64_t)llround(r->overload_seconds), d,
							 sizeof(d)));
	if (!e && r->fallbacks)
		e = ls_buf_printf(out, "  fallback decisions %d\n", r->fallbacks);
	return e;
}
