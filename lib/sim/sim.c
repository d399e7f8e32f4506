/* sim.c - the workload simulator (see sim.h for the model). */
#include "sim/sim.h"

#include "sim/summary.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/age.h"
#include "sim/keda.h"
#include "sim/oracle.h"
#include "policy/partitions.h"
#include "util/parse.h"

/* Two scale events in opposite directions closer than this are a flap. */
#define REVERSAL_WINDOW_MS (5 * 60 * 1000)

const enum ls_sim_policy ls_sim_compare_policies[LS_SIM_COMPARE_N] = {LS_SIM_LAG, LS_SIM_RATE,
								       LS_SIM_KEDA, LS_SIM_ORACLE};

/* A partition with backlog, for one member's water filling. */
struct want {
	double backlog;
	int32_t j;
};

struct sim {
	const struct ls_scenario *sc;
	struct ls_policy_params params;
	enum ls_sim_policy policy;
	struct ls_policy_state *st;
	struct ls_keda *keda;
	struct ls_oracle *oracle;
	struct ls_partitions *model;

	/* Per partition, n_parts of each. */
	int32_t n_parts;
	double *share;	       /* produce share, summing to 1 */
	double *produced;      /* cumulative messages, the initial backlog included */
	double *consumed;      /* the consumer position */
	double *committed;     /* the position at the last commit */
	double *take;	       /* scratch: consumed in this step */
	double *backlog;       /* scratch: produced - consumed, for the oracle */
	int64_t *paused_until; /* no consumption before this (a rebalance) */
	int32_t *owner;	       /* member index, -1 none */
	int32_t *next_owner;   /* scratch */
	int32_t *by_member;    /* partitions ordered by owner ... */
	int32_t *member_first; /* ... member m's are by_member[member_first[m] ..
				* member_first[m + 1]); members + 1 entries */
	int32_t *member_pos;   /* scratch of the same size */
	struct want *wants;    /* scratch */
	int32_t members;       /* members the assignment is for */
	size_t alloc_members;
	int64_t next_commit_ms;

	double produced_total; /* the whole produce history, for the age */
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
	else if (strcmp(s, "oracle") == 0)
		*ret = LS_SIM_ORACLE;
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
	case LS_SIM_ORACLE:
		return "oracle";
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
	double sum = 0;

	if (!sc || sc->duration_ms <= 0 || sc->step_ms <= 0 || sc->partitions <= 0 ||
	    sc->partitions > LS_PARTITIONS_MAX || sc->initial_replicas < 0 ||
	    sc->initial_replicas > LS_SCENARIO_MAX_REPLICAS ||
	    sc->policy.max_replicas > LS_SCENARIO_MAX_REPLICAS || !(sc->per_replica_rate > 0) ||
	    !(sc->per_replica_rate <= LS_SCENARIO_MAX_RATE) || sc->startup_delay_ms < 0 ||
	    sc->startup_delay_ms > LS_PARSE_DURATION_MAX_MS ||
	    sc->duration_ms > LS_PARSE_DURATION_MAX_MS ||
	    !(sc->max_consume_rate >= 0) || !(sc->max_consume_rate <= LS_SCENARIO_MAX_RATE) ||
	    sc->initial_lag < 0 || sc->initial_lag > LS_SCENARIO_MAX_LAG ||
	    !sc->produce || sc->n_produce == 0 || sc->rebalance_pause_ms < 0 ||
	    sc->commit_interval_ms < 0 ||
	    (sc->assignor != LS_ASSIGNOR_RANGE && sc->assignor != LS_ASSIGNOR_ROUNDROBIN &&
	     sc->assignor != LS_ASSIGNOR_COOPERATIVE_STICKY))
		return -EINVAL;
	for (size_t i = 0; i < sc->n_produce; i++)
		if (!(sc->produce[i].rate >= 0) || !(sc->produce[i].rate <= LS_SCENARIO_MAX_RATE))
			return -EINVAL;
	if (sc->partition_weights) {
		for (int32_t j = 0; j < sc->partitions; j++) {
			if (!(sc->partition_weights[j] >= 0) || !isfinite(sc->partition_weights[j]))
				return -EINVAL;
			sum += sc->partition_weights[j];
		}
		if (!(sum > 0))
			return -EINVAL;
	}
	return 0;
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

/* The lag as Kafka reports it: whole messages between log end and commit. */
static int64_t lag_now(const struct sim *m)
{
	int64_t lag = 0;

	for (int32_t j = 0; j < m->n_parts; j++)
		lag += (int64_t)floor(m->produced[j]) - (int64_t)floor(m->committed[j]);
	return lag;
}

/* Seconds the oldest unconsumed message (over all partitions) has waited. */
static double age_now(struct sim *m, int64_t t)
{
	double x = -1;

	for (int32_t j = 0; j < m->n_parts; j++) {
		double pos;

		if (!(m->share[j] > 0) || floor(m->produced[j]) <= floor(m->consumed[j]))
			continue;
		pos = m->consumed[j] / m->share[j];
		if (x < 0 || pos < x)
			x = pos;
	}
	return x < 0 ? 0 : ls_age_tracker_age(&m->age, t, x);
}

/* The group as DescribeConsumerGroups shows it, into s->group. */
static int describe_group(const struct sim *m, struct ls_lag_snapshot *s)
{
	struct ls_group_info *g = &s->group;

	ls_group_info_release(g);
	g->known = true;
	if (m->members == 0) {
		snprintf(g->state, sizeof(g->state), "Empty");
		return 0;
	}
	snprintf(g->state, sizeof(g->state), "Stable");
	snprintf(g->assignor, sizeof(g->assignor), "%s",
		 ls_partitions_assignor_name(m->sc->assignor));
	g->members = calloc((size_t)m->members, sizeof(*g->members));
	if (!g->members)
		return -ENOMEM;
	g->n_members = (size_t)m->members;
	for (int32_t i = 0; i < m->members; i++) {
		char id[32];

		snprintf(id, sizeof(id), "replica-%d", i);
		g->members[i].member_id = strdup(id);
		g->members[i].client_id = strdup("lagscale-sim");
		g->members[i].host = strdup("/sim");
		if (!g->members[i].member_id || !g->members[i].client_id || !g->members[i].host)
			return -ENOMEM;
	}
	return 0;
}

/* The snapshot a read at t gives (failed inside a kafkaErrors window). */
static int read_offsets(struct sim *m, int64_t t, struct ls_lag_snapshot **ret)
{
	struct ls_lag_snapshot *s = &m->snap[m->cur_snap];
	const struct ls_lag_snapshot *prev = m->have_prev ? &m->snap[1 - m->cur_snap] : NULL;
	int r;

	s->time_ms = t;
	free(s->errmsg);
	s->errmsg = NULL;
	*ret = s;
	if (in_windows(m->sc->kafka_errors, m->sc->n_kafka_errors, t)) {
		ls_group_info_release(&s->group);
		ls_lag_snapshot_fail(s, -EIO, "simulated Kafka error");
		s->total_lag = 0;
		s->partition_count = 0;
		s->produce_rate = -1;
		s->consume_rate = -1;
		return 0;
	}
	s->err = 0;
	for (int32_t j = 0; j < m->n_parts; j++) {
		struct ls_partition_offsets *p = &s->topics[0].parts[j];

		p->partition = j;
		p->end = (int64_t)floor(m->produced[j]);
		p->committed = (int64_t)floor(m->committed[j]);
		p->log_start = LS_OFFSET_UNKNOWN;
		p->owner = m->owner[j] >= 0 ? m->owner[j] + 1 : 0;
	}
	r = describe_group(m, s);
	if (r < 0)
		return r;
	ls_lag_snapshot_compute(s, m->params.offset_reset);
	ls_lag_snapshot_rates(prev, s);
	return 0;
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

/*
 * Cooperative-sticky: the counts per member of ls_partitions_assign()'s
 * answer (in want[], by member), but a partition stays with its owner
 * while the owner is a member below its count; the others go to members
 * below theirs, lowest index first.
 */
static int sticky(struct sim *m, int32_t members, const int32_t *target, int32_t *ret_owner)
{
	int32_t *quota = calloc((size_t)members, sizeof(*quota));
	int32_t *kept = calloc((size_t)members, sizeof(*kept));
	int32_t k = 0;
	int r = -ENOMEM;

	if (!quota || !kept)
		goto out;
	for (int32_t j = 0; j < m->n_parts; j++)
		quota[target[j]]++;
	for (int32_t j = 0; j < m->n_parts; j++) {
		int32_t o = m->owner[j];

		ret_owner[j] = -1;
		if (o >= 0 && o < members && kept[o] < quota[o]) {
			ret_owner[j] = o;
			kept[o]++;
		}
	}
	for (int32_t j = 0; j < m->n_parts; j++) {
		if (ret_owner[j] >= 0)
			continue;
		while (kept[k] >= quota[k])
			k++;
		ret_owner[j] = k;
		kept[k]++;
	}
	r = 0;
out:
	free(quota);
	free(kept);
	return r;
}

/*
 * A membership change at t: the assignment for `members` members, and the
 * rebalance pause (pause false: the group was there before the run).
 */
static int reassign(struct sim *m, int32_t members, int64_t t, bool pause)
{
	bool eager = m->sc->assignor != LS_ASSIGNOR_COOPERATIVE_STICKY;
	int32_t *tmp;
	int r;

	if (members > 0) {
		r = ls_partitions_assign(m->model, members, m->next_owner, (size_t)m->n_parts);
		if (r < 0)
			return r;
		if (!eager && m->members > 0) {
			tmp = malloc((size_t)m->n_parts * sizeof(*tmp));
			if (!tmp)
				return -ENOMEM;
			r = sticky(m, members, m->next_owner, tmp);
			if (r == 0)
				memcpy(m->next_owner, tmp, (size_t)m->n_parts * sizeof(*tmp));
			free(tmp);
			if (r < 0)
				return r;
		}
	} else {
		for (int32_t j = 0; j < m->n_parts; j++)
			m->next_owner[j] = -1;
	}
	for (int32_t j = 0; j < m->n_parts; j++) {
		if (pause && m->sc->rebalance_pause_ms > 0 &&
		    (eager || m->next_owner[j] != m->owner[j]))
			m->paused_until[j] = t + m->sc->rebalance_pause_ms;
		m->owner[j] = m->next_owner[j];
	}
	if ((size_t)members + 1 > m->alloc_members) {
		size_t n = (size_t)members + 1;
		int32_t *q = realloc(m->member_first, n * sizeof(*q));

		if (!q)
			return -ENOMEM;
		m->member_first = q;
		q = realloc(m->member_pos, n * sizeof(*q));
		if (!q)
			return -ENOMEM;
		m->member_pos = q;
		m->alloc_members = n;
	}
	/* Counting sort of the partitions by owner. */
	for (int32_t i = 0; i <= members; i++)
		m->member_first[i] = 0;
	for (int32_t j = 0; j < m->n_parts; j++)
		if (m->owner[j] >= 0)
			m->member_first[m->owner[j] + 1]++;
	for (int32_t i = 0; i < members; i++)
		m->member_first[i + 1] += m->member_first[i];
	{
		int32_t *pos = m->member_pos;

		for (int32_t i = 0; i < members; i++)
			pos[i] = m->member_first[i];
		for (int32_t j = 0; j < m->n_parts; j++)
			if (m->owner[j] >= 0)
				m->by_member[pos[m->owner[j]]++] = j;
	}
	m->members = members;
	return 0;
}

static int cmp_want(const void *a, const void *b)
{
	const struct want *x = a, *y = b;

	if (x->backlog < y->backlog)
		return -1;
	if (x->backlog > y->backlog)
		return 1;
	return x->j < y->j ? -1 : x->j > y->j;
}

/*
 * Member i's work in a step of cap messages: water filling over its
 * partitions with backlog that are not paused at t. Adds to m->take and
 * returns what it took.
 */
static double consume_member(struct sim *m, int32_t i, int64_t t, double cap)
{
	size_t k = 0;
	double took = 0;

	for (int32_t p = m->member_first[i]; p < m->member_first[i + 1]; p++) {
		int32_t j = m->by_member[p];
		double b = m->produced[j] - m->consumed[j];

		if (b > 0 && m->paused_until[j] <= t)
			m->wants[k++] = (struct want){b, j};
	}
	if (k > 1)
		qsort(m->wants, k, sizeof(*m->wants), cmp_want);
	for (size_t q = 0; q < k && cap > 0; q++) {
		double fair = cap / (double)(k - q), give;

		give = m->wants[q].backlog < fair ? m->wants[q].backlog : fair;
		m->take[m->wants[q].j] = give;
		cap -= give;
		took += give;
	}
	return took;
}

static int decide(struct sim *m, const struct ls_sim_options *o, int64_t t,
		  struct ls_sim_result *res, int *ret_action)
{
	struct ls_lag_snapshot *s = NULL;
	struct ls_policy_input in = {.now_ms = t, .current_replicas = m->n_rep,
				     .paused_replicas = -1};
	struct ls_decision d;
	int32_t from = m->n_rep;
	int r;

	r = read_offsets(m, t, &s);
	if (r < 0)
		return r;
	in.snap = s;
	if (m->policy == LS_SIM_KEDA) {
		r = ls_keda_decide(m->keda, &m->params, &in, &d);
	} else if (m->policy == LS_SIM_ORACLE) {
		for (int32_t j = 0; j < m->n_parts; j++)
			m->backlog[j] = m->produced[j] - m->consumed[j];
		r = ls_oracle_decide(m->oracle, t, m->backlog, (size_t)m->n_parts, m->n_rep, &d);
	} else {
		r = ls_policy_decide(m->st, &m->params, &in, &d);
	}
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
		if (m->st)
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
	if (m->policy == LS_SIM_ORACLE)
		return true;
	return t >= next;
}

/* Members at t: replicas past their startup delay. */
static int32_t members_at(const struct sim *m, int64_t t)
{
	int32_t a = 0;

	for (int32_t i = 0; i < m->n_rep; i++)
		a += m->starts[i] <= t;
	return a;
}

static int sim_alloc(struct sim *m)
{
	size_t n = (size_t)m->n_parts;
	int32_t count = m->n_parts;
	double sum = 0;
	int r;

	r = ls_partitions_new(&count, 1, m->sc->assignor, &m->model);
	if (r < 0)
		return r;
	m->share = calloc(n, sizeof(double));
	m->produced = calloc(n, sizeof(double));
	m->consumed = calloc(n, sizeof(double));
	m->committed = calloc(n, sizeof(double));
	m->take = calloc(n, sizeof(double));
	m->backlog = calloc(n, sizeof(double));
	m->paused_until = calloc(n, sizeof(int64_t));
	m->owner = malloc(n * sizeof(int32_t));
	m->next_owner = malloc(n * sizeof(int32_t));
	m->by_member = calloc(n, sizeof(int32_t));
	m->wants = calloc(n, sizeof(struct want));
	if (!m->share || !m->produced || !m->consumed || !m->committed || !m->take ||
	    !m->backlog || !m->paused_until || !m->owner || !m->next_owner || !m->by_member ||
	    !m->wants)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		m->owner[j] = -1;
		sum += m->sc->partition_weights ? m->sc->partition_weights[j] : 1;
	}
	for (size_t j = 0; j < n; j++)
		m->share[j] = (m->sc->partition_weights ? m->sc->partition_weights[j] : 1) / sum;
	return 0;
}

static void sim_release(struct sim *m)
{
	ls_policy_state_free(m->st);
	ls_keda_free(m->keda);
	ls_oracle_free(m->oracle);
	ls_partitions_free(m->model);
	ls_lag_snapshot_release(&m->snap[0]);
	ls_lag_snapshot_release(&m->snap[1]);
	ls_age_tracker_release(&m->age);
	free(m->share);
	free(m->produced);
	free(m->consumed);
	free(m->committed);
	free(m->take);
	free(m->backlog);
	free(m->paused_until);
	free(m->owner);
	free(m->next_owner);
	free(m->by_member);
	free(m->member_first);
	free(m->member_pos);
	free(m->wants);
	free(m->starts);
}

int ls_sim_run(const struct ls_scenario *sc, const struct ls_sim_options *o,
	       struct ls_sim_result *ret)
{
	struct ls_sim_result res;
	struct sim m;
	struct ls_series_point pt;
	struct ls_drain dr;
	int64_t t = 0, next_decision = 0, prev_lag;
	double thr, dt;
	int action = LS_SERIES_NO_ACTION, r;

	if (!o || !ret || validate(sc) < 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	memset(&res, 0, sizeof(res));
	m.sc = sc;
	m.params = sc->policy;
	m.policy = o->policy;
	m.n_parts = sc->partitions;
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
	else if (m.policy == LS_SIM_ORACLE)
		r = ls_oracle_new(sc, &m.params, &m.oracle);
	else
		m.st = ls_policy_state_new();
	if (!m.keda && !m.st && !m.oracle)
		goto out;
	r = sim_alloc(&m);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (snap_alloc(&m.snap[0], sc->partitions) < 0 || snap_alloc(&m.snap[1], sc->partitions) < 0)
		goto out;
	/* The initial backlog is split as production is, so that every
	 * partition's log stays share_j times the whole history. */
	m.produced_total = (double)sc->initial_lag;
	for (int32_t j = 0; j < m.n_parts; j++)
		m.produced[j] = m.share[j] * m.produced_total;
	ls_age_tracker_init(&m.age);
	r = ls_age_tracker_add(&m.age, 0, m.produced_total);
	if (r < 0)
		goto out;
	/* The initial replicas are running and consuming already, their
	 * group settled. */
	r = set_replicas(&m, -sc->startup_delay_ms, sc->initial_replicas);
	if (r < 0)
		goto out;
	r = reassign(&m, members_at(&m, 0), 0, false);
	if (r < 0)
		goto out;
	m.desired = m.n_rep;
	m.next_commit_ms = sc->commit_interval_ms;

	r = decide(&m, o, 0, &res, &action);
	if (r < 0)
		goto out;
	next_decision = m.params.polling_interval_ms;
	prev_lag = lag_now(&m);
	res.peak_lag = prev_lag;
	res.max_replicas = m.n_rep;
	ls_drain_init(&dr, thr);
	ls_drain_see(&dr, 0, prev_lag);
	pt = (struct ls_series_point){0, ls_scenario_produce_rate(sc, 0), 0, prev_lag, 0,
				      m.n_rep, m.desired, action};
	if (o->series && (r = ls_series_append(o->series, &pt)) < 0)
		goto out;

	while (t < sc->duration_ms) {
		int64_t t1 = t + sc->step_ms;
		double prod = (ls_scenario_produce_rate(sc, t) + ls_scenario_produce_rate(sc, t1)) /
			      2.0 * dt;
		double asked = 0, delivered, f = 1;
		int32_t members;
		int64_t lag;
		double age;

		/* Membership at t: a replica that finished its startup, or one
		 * removed by the last decision, is a rebalance. */
		members = members_at(&m, t);
		if (members != m.members) {
			r = reassign(&m, members, t, true);
			if (r < 0)
				goto out;
		}
		/* Physics of [t, t1): production, then each member's share. */
		m.produced_total += prod;
		for (int32_t j = 0; j < m.n_parts; j++) {
			m.produced[j] += m.share[j] * prod;
			m.take[j] = 0;
		}
		if (!in_windows(sc->consumer_outages, sc->n_consumer_outages, t))
			for (int32_t i = 0; i < m.members; i++)
				asked += consume_member(&m, i, t, sc->per_replica_rate * dt);
		asked /= dt;
		delivered = asked;
		if (sc->max_consume_rate > 0 && asked > sc->max_consume_rate + 1e-9) {
			delivered = sc->max_consume_rate * (sc->max_consume_rate / asked);
			f = delivered / asked;
			res.overload_seconds += dt;
		}
		if (asked > res.peak_demand_rate)
			res.peak_demand_rate = asked;
		if (delivered > res.peak_consume_rate)
			res.peak_consume_rate = delivered;
		res.replica_seconds += (double)m.n_rep * dt;
		for (int32_t j = 0; j < m.n_parts; j++) {
			m.consumed[j] += m.take[j] * f;
			if (m.consumed[j] > m.produced[j])
				m.consumed[j] = m.produced[j];
		}
		if (sc->commit_interval_ms == 0 || t1 >= m.next_commit_ms) {
			memcpy(m.committed, m.consumed, (size_t)m.n_parts * sizeof(double));
			while (sc->commit_interval_ms > 0 && m.next_commit_ms <= t1)
				m.next_commit_ms += sc->commit_interval_ms;
		}
		r = ls_age_tracker_add(&m.age, t1, m.produced_total);
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
		age = age_now(&m, t);
		res.lag_message_seconds += ((double)prev_lag + (double)lag) / 2.0 * dt;
		prev_lag = lag;
		if (lag > res.peak_lag)
			res.peak_lag = lag;
		ls_drain_see(&dr, (double)t / 1000.0, lag);
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
	res.drain_seconds = ls_drain_seconds(&dr, (double)t / 1000.0, &res.drained);
	if (!res.drained)
		res.drain_seconds = -1;
	*ret = res;
	r = 0;
out:
	sim_release(&m);
	return r;
}

int ls_sim_compare(const struct ls_scenario *sc, struct ls_series *series,
		   struct ls_sim_result ret[LS_SIM_COMPARE_N])
{
	struct ls_sim_result res[LS_SIM_COMPARE_N];
	double floor_rs;
	int r;

	if (!sc || !ret)
		return -EINVAL;
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++) {
		struct ls_sim_options o = {.policy = ls_sim_compare_policies[i],
					   .series = series ? &series[i] : NULL};

		r = ls_sim_run(sc, &o, &res[i]);
		if (r < 0)
			return r;
	}
	floor_rs = res[LS_SIM_COMPARE_N - 1].replica_seconds;
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++) {
		res[i].has_oracle_cost_ratio = true;
		res[i].oracle_cost_ratio = floor_rs > 0 ? res[i].replica_seconds / floor_rs : 0;
	}
	memcpy(ret, res, sizeof(res));
	return 0;
}

int ls_sim_result_json(const struct ls_sim_result *r, const char *scenario, struct ls_buf *out)
{
	int e = ls_buf_puts(out, "{\"scenario\":");

	if (!e)
		e = ls_buf_json_string(out, scenario ? scenario : "");
	if (!e)
		e = ls_buf_printf(out,
				  ",\"policy\":\"%s\",\"peakLag\":%lld,\"peakLagSeconds\":%.1f,"
				  "\"lagMessageSeconds\":%.1f,\"drainSeconds\":%.1f,"
				  "\"replicaSeconds\":%.1f,\"scaleEvents\":%d,\"maxReplicas\":%d",
				  ls_sim_policy_name(r->policy), (long long)r->peak_lag,
				  r->peak_lag_seconds, r->lag_message_seconds, r->drain_seconds,
				  r->replica_seconds, r->scale_events, r->max_replicas);
	if (!e && r->has_oracle_cost_ratio)
		e = ls_buf_printf(out, ",\"oracleCostRatio\":%.3f", r->oracle_cost_ratio);
	if (!e)
		e = ls_buf_puts(out, "}\n");
	return e;
}

int ls_sim_result_text(const struct ls_sim_result *r, const struct ls_scenario *sc,
		       struct ls_buf *out)
{
	char a[32], b[32], c[32], d[32];
	double dur = (double)sc->duration_ms / 1000.0;
	int e;

	e = ls_buf_printf(out, "%s: policy %s, %s, %d partitions (%s), lagThreshold %s\n",
			  sc->name ? sc->name : "scenario", ls_sim_policy_name(r->policy),
			  ls_format_duration(sc->duration_ms, a, sizeof(a)), sc->partitions,
			  ls_partitions_assignor_name(sc->assignor),
			  ls_policy_format_count(sc->policy.lag_threshold, b, sizeof(b)));
	if (!e)
		e = ls_buf_printf(out, "  peak lag          %s messages (final %s)\n",
				  ls_policy_format_count(r->peak_lag, a, sizeof(a)),
				  ls_policy_format_count(r->final_lag, b, sizeof(b)));
	if (!e)
		e = ls_buf_printf(out, "  peak message age  %.1f s\n", r->peak_lag_seconds);
	if (!e)
		e = ls_buf_printf(out, "  messages waited   %s message-seconds\n",
				  ls_policy_format_count((int64_t)llround(r->lag_message_seconds),
							 a, sizeof(a)));
	if (!e)
		e = r->drained ? ls_buf_printf(out,
					       "  drain time        %.1f s (above one lagThreshold)\n",
					       r->drain_seconds)
			       : ls_buf_puts(out, "  drain time        never (still above one "
						  "lagThreshold at the end)\n");
	if (!e)
		e = ls_buf_printf(out, "  replica-seconds   %s (%.1f replicas on average)",
				  ls_policy_format_count((int64_t)llround(r->replica_seconds), a,
							 sizeof(a)),
				  dur > 0 ? r->replica_seconds / dur : 0);
	if (!e)
		e = r->has_oracle_cost_ratio
			    ? ls_buf_printf(out, ", %.2fx the oracle's\n", r->oracle_cost_ratio)
			    : ls_buf_puts(out, "\n");
	if (!e)
		e = ls_buf_printf(out, "  scale events      %d (%d reversals within 5m)\n",
				  r->scale_events, r->direction_reversals);
	if (!e)
		e = ls_buf_printf(out, "  max replicas      %d\n", r->max_replicas);
	if (!e)
		e = ls_buf_printf(
			out, "  consume rate      peak %s msgs/s delivered, %s asked%s%s\n",
			ls_policy_format_count((int64_t)llround(r->peak_consume_rate), a, sizeof(a)),
			ls_policy_format_count((int64_t)llround(r->peak_demand_rate), b, sizeof(b)),
			sc->max_consume_rate > 0 ? "; downstream limit " : "",
			sc->max_consume_rate > 0
				? ls_policy_format_count((int64_t)llround(sc->max_consume_rate), c,
							 sizeof(c))
				: "");
	if (!e && sc->max_consume_rate > 0)
		e = ls_buf_printf(out, "  downstream over its limit for %s s\n",
				  ls_policy_format_count((int64_t)llround(r->overload_seconds), d,
							 sizeof(d)));
	if (!e && r->fallbacks)
		e = ls_buf_printf(out, "  fallback decisions %d\n", r->fallbacks);
	return e;
}

int ls_sim_compare_text(const struct ls_sim_result *r, size_t n, const struct ls_scenario *sc,
			struct ls_buf *out)
{
	char a[32], b[32], c[32], ratio[32], drain[32];
	int e;

	if (!r || !sc || !out)
		return -EINVAL;
	e = ls_buf_printf(out, "%s: %s, %d partitions (%s), lagThreshold %s\n",
			  sc->name ? sc->name : "scenario",
			  ls_format_duration(sc->duration_ms, a, sizeof(a)), sc->partitions,
			  ls_partitions_assignor_name(sc->assignor),
			  ls_policy_format_count(sc->policy.lag_threshold, b, sizeof(b)));
	if (!e)
		e = ls_buf_printf(out, "%-7s %12s %9s %14s %9s %12s %9s %7s %9s\n", "policy",
				  "peak lag", "peak age", "msg-seconds", "drain", "replica-s",
				  "x oracle", "events", "reversals");
	for (size_t i = 0; i < n && !e; i++) {
		if (r[i].drained)
			snprintf(drain, sizeof(drain), "%.0f s", r[i].drain_seconds);
		else
			snprintf(drain, sizeof(drain), "never");
		if (r[i].has_oracle_cost_ratio)
			snprintf(ratio, sizeof(ratio), "%.2f", r[i].oracle_cost_ratio);
		else
			snprintf(ratio, sizeof(ratio), "-");
		e = ls_buf_printf(
			out, "%-7s %12s %7.1f s %14s %9s %12s %9s %7d %9d\n",
			ls_sim_policy_name(r[i].policy),
			ls_policy_format_count(r[i].peak_lag, a, sizeof(a)), r[i].peak_lag_seconds,
			ls_policy_format_count((int64_t)llround(r[i].lag_message_seconds), b,
					       sizeof(b)),
			drain,
			ls_policy_format_count((int64_t)llround(r[i].replica_seconds), c, sizeof(c)),
			ratio, r[i].scale_events, r[i].direction_reversals);
	}
	return e;
}
