/* scenario.c - see scenario.h. The format is DESIGN.md section 7. */
#include "config/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/yamltree.h"
#include "config/walk.h"
#include "util/buf.h"
#include "util/parse.h"

/* A simulation longer than this many steps is surely a typo (1s steps: 115 days). */
#define MAX_STEPS   10000000LL
#define MAX_POINTS  100000
#define MAX_WINDOWS 10000

void ls_scenario_free(struct ls_scenario *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->produce);
	free(s->consumer_outages);
	free(s->kafka_errors);
	free(s->partition_weights);
	free(s);
}

double ls_scenario_produce_rate(const struct ls_scenario *s, int64_t t_ms)
{
	size_t lo = 0, hi;

	if (!s || s->n_produce == 0)
		return 0;
	if (t_ms <= s->produce[0].at_ms)
		return s->produce[0].rate;
	if (t_ms >= s->produce[s->n_produce - 1].at_ms)
		return s->produce[s->n_produce - 1].rate;
	/* Binary search for the segment [lo, lo + 1] holding t. */
	hi = s->n_produce - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->produce[mid].at_ms <= t_ms)
			lo = mid;
		else
			hi = mid;
	}
	{
		const struct ls_scenario_point *a = &s->produce[lo], *b = &s->produce[hi];
		double f = (double)(t_ms - a->at_ms) / (double)(b->at_ms - a->at_ms);

		return a->rate + f * (b->rate - a->rate);
	}
}

static int walk_produce(struct ls_walk *w, const struct ls_node *root, struct ls_scenario *s)
{
	static const char *const keys[] = {"at", "rate", NULL};
	const struct ls_node *list = ls_node_get(root, "produce");
	size_t mark = ls_walk_push_key(w, "produce");
	int r = 0;

	if (!list || (list->type == LS_NODE_SCALAR && list->is_null)) {
		ls_walk_pop(w, mark);
		ls_walk_missing(w, root, "produce", "at least one point {at, rate} is required");
		return 0;
	}
	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n == 0 || list->n > MAX_POINTS) {
		ls_walk_error(w, list,
		              list->n ? "at most 100000 points are allowed"
		                      : "at least one point {at, rate} is required");
		goto out;
	}
	s->produce = calloc(list->n, sizeof(*s->produce));
	if (!s->produce) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ls_node *n = list->kids[i];
		struct ls_scenario_point pt = {0, 0};
		size_t m = ls_walk_push_index(w, i);
		int ra, rr;

		if (!ls_walk_item(w, n, keys)) {
			ls_walk_pop(w, m);
			continue;
		}
		ra = ls_walk_duration(w, n, "at", 0, false, INT64_MAX, &pt.at_ms);
		if (ra == 0)
			ls_walk_missing(w, n, "at", NULL);
		rr = ls_walk_double(w, n, "rate", 0, false, LS_SCENARIO_MAX_RATE, false, &pt.rate);
		if (rr == 0)
			ls_walk_missing(w, n, "rate", NULL);
		if (ra == 1 && s->n_produce && pt.at_ms <= s->produce[s->n_produce - 1].at_ms) {
			size_t m2 = ls_walk_push_key(w, "at");

			ls_walk_error(w, ls_node_get(n, "at"),
			              "must be later than the previous point's at");
			ls_walk_pop(w, m2);
		} else if (ra == 1 && rr == 1) {
			s->produce[s->n_produce++] = pt;
		}
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

static int walk_windows(struct ls_walk *w, const struct ls_node *root, const char *key,
                        struct ls_scenario_window **ret, size_t *ret_n)
{
	static const char *const keys[] = {"from", "to", NULL};
	const struct ls_node *list = ls_node_get(root, key);
	size_t mark = ls_walk_push_key(w, key);
	int r = 0;

	if (!ls_walk_seq(w, list) || list->n == 0)
		goto out;
	if (list->n > MAX_WINDOWS) {
		ls_walk_error(w, list, "at most %d windows are allowed", MAX_WINDOWS);
		goto out;
	}
	*ret = calloc(list->n, sizeof(**ret));
	if (!*ret) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ls_node *n = list->kids[i];
		struct ls_scenario_window win = {0, 0};
		size_t m = ls_walk_push_index(w, i);
		int rf, rt;

		if (!ls_walk_item(w, n, keys)) {
			ls_walk_pop(w, m);
			continue;
		}
		rf = ls_walk_duration(w, n, "from", 0, false, INT64_MAX, &win.from_ms);
		if (rf == 0)
			ls_walk_missing(w, n, "from", NULL);
		rt = ls_walk_duration(w, n, "to", 0, false, INT64_MAX, &win.to_ms);
		if (rt == 0)
			ls_walk_missing(w, n, "to", NULL);
		if (rf == 1 && rt == 1 && win.to_ms <= win.from_ms) {
			size_t m2 = ls_walk_push_key(w, "to");

			ls_walk_error(w, ls_node_get(n, "to"), "must be later than from");
			ls_walk_pop(w, m2);
		} else if (rf == 1 && rt == 1) {
			(*ret)[(*ret_n)++] = win;
		}
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

/*
 * `partitionWeights: {"0": 6, "1-3": 2}`: each key a partition list (the
 * syntax of kafka.partitions), each value that list's produce share.
 * Needs s->partitions; the weights array is built only when the map has
 * at least one valid entry.
 */
static int walk_weights(struct ls_walk *w, const struct ls_node *root, struct ls_scenario *s)
{
	const struct ls_node *map = ls_node_get(root, "partitionWeights");
	size_t mark = ls_walk_push_key(w, "partitionWeights");
	bool *seen = NULL;
	double sum = 0;
	int r = 0;

	if (!map || (map->type == LS_NODE_SCALAR && map->is_null))
		goto out;
	if (map->type != LS_NODE_MAP) {
		ls_walk_error(w, map, "expected a map from partition lists to weights, got %s",
		              ls_node_type_name(map));
		goto out;
	}
	if (map->n > MAX_POINTS) {
		ls_walk_error(w, map, "at most %d entries are allowed", MAX_POINTS);
		goto out;
	}
	/* Without a valid partition count the lists cannot be checked. */
	if (s->partitions <= 0)
		goto out;
	s->partition_weights = malloc((size_t)s->partitions * sizeof(*s->partition_weights));
	seen = calloc((size_t)s->partitions, sizeof(*seen));
	if (!s->partition_weights || !seen) {
		r = -ENOMEM;
		goto out;
	}
	for (int32_t i = 0; i < s->partitions; i++)
		s->partition_weights[i] = 1;
	for (size_t i = 0; i < map->n; i++) {
		const struct ls_node *k = map->kids[2 * i];
		struct ls_int_ranges rs = {NULL, 0};
		double v = 0;
		size_t m;
		int rv;

		/* Non-scalar keys were reported by the parser. */
		if (k->type != LS_NODE_SCALAR)
			continue;
		rv = ls_walk_double(w, map, k->value, 0, false, INFINITY, true, &v);
		if (rv == 0) {
			m = ls_walk_push_key(w, k->value);
			ls_walk_error(w, map->kids[2 * i + 1], "a weight (a number >= 0) is required");
			ls_walk_pop(w, m);
		}
		m = ls_walk_push_key(w, k->value);
		if (k->value[0] == '\0' || ls_parse_ranges(k->value, &rs) < 0 || rs.n == 0) {
			ls_walk_error(w, k, "expected a partition list such as \"0\" or \"1-3,7\", "
			                    "got \"%.64s\"", k->value);
			ls_walk_pop(w, m);
			ls_ranges_release(&rs);
			continue;
		}
		for (size_t j = 0; j < rs.n; j++) {
			int32_t lo = rs.r[j][0], hi = rs.r[j][1];

			if (hi >= s->partitions) {
				ls_walk_error(w, k, "partition %d is not below partitions (%d)",
				              hi, s->partitions);
				break;
			}
			for (int32_t p = lo; p <= hi; p++) {
				if (seen[p]) {
					ls_walk_error(w, k, "partition %d has a weight already", p);
					break;
				}
				seen[p] = true;
				if (rv == 1)
					s->partition_weights[p] = v;
			}
		}
		ls_walk_pop(w, m);
		ls_ranges_release(&rs);
	}
	for (int32_t i = 0; i < s->partitions; i++)
		sum += s->partition_weights[i];
	if (!(sum > 0))
		ls_walk_error(w, map, "the weights of all partitions are 0: nothing would be produced");
out:
	free(seen);
	ls_walk_pop(w, mark);
	return r;
}

/* `scaler: {policy: {...}, kafka: {offsetResetPolicy: ...}}`, as in a config's scaler. */
static void walk_scaler(struct ls_walk *w, const struct ls_node *root, struct ls_scenario *s)
{
	static const char *const keys[] = {"policy", "kafka", NULL};
	static const char *const kafka_keys[] = {"offsetResetPolicy", NULL};
	const struct ls_node *n = ls_node_get(root, "scaler"), *k;
	size_t mark = ls_walk_push_key(w, "scaler"), m;
	int v;

	if (!ls_walk_map(w, n, keys))
		n = NULL;
	m = ls_walk_push_key(w, "policy");
	/* Also without a scaler block: the defaults are checked against the scenario. */
	ls_walk_policy(w, ls_node_get(n, "policy"), &s->policy);
	ls_walk_pop(w, m);
	k = ls_node_get(n, "kafka");
	m = ls_walk_push_key(w, "kafka");
	if (ls_walk_map(w, k, kafka_keys) &&
	    ls_walk_enum(w, k, "offsetResetPolicy", ls_walk_offset_reset_names, &v) == 1)
		s->policy.offset_reset = (enum ls_offset_reset)v;
	ls_walk_pop(w, m);
	ls_walk_pop(w, mark);
}

/* "dir/perfect-storm.yaml" → "perfect-storm", the name when the file gives none. */
static char *default_name(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	return strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

/* The build step of ls_walk_document: ctx is where the scenario goes. */
static int scenario_build(struct ls_walk *w, const struct ls_node *root, void *ctx)
{
	static const char *const keys[] = {"name",
	                                   "duration",
	                                   "step",
	                                   "partitions",
	                                   "initialReplicas",
	                                   "perReplicaRate",
	                                   "startupDelay",
	                                   "maxConsumeRate",
	                                   "initialLag",
	                                   "produce",
	                                   "consumerOutages",
	                                   "kafkaErrors",
	                                   "assignor",
	                                   "partitionWeights",
	                                   "rebalancePause",
	                                   "commitInterval",
	                                   "scaler",
	                                   NULL};
	static const char *const assignors[] = {"range", "roundrobin", "cooperative-sticky", NULL};
	struct ls_scenario *s = calloc(1, sizeof(*s));
	int rd, rs, r, a;

	*(struct ls_scenario **)ctx = s;
	if (!s)
		return -ENOMEM;
	s->step_ms = 1000;
	s->initial_replicas = -1;
	ls_policy_params_init(&s->policy);
	ls_walk_map(w, root, keys);
	ls_walk_string(w, root, "name", LS_WALK_NONEMPTY, &s->name);
	rd = ls_walk_duration(w, root, "duration", 0, true, INT64_MAX, &s->duration_ms);
	if (rd == 0)
		ls_walk_missing(w, root, "duration", NULL);
	rs = ls_walk_duration(w, root, "step", 0, true, INT64_MAX, &s->step_ms);
	if (ls_walk_int32(w, root, "partitions", 1, LS_PARTITIONS_MAX, &s->partitions) == 0)
		ls_walk_missing(w, root, "partitions", NULL);
	ls_walk_int32(w, root, "initialReplicas", 0, LS_SCENARIO_MAX_REPLICAS,
	              &s->initial_replicas);
	if (ls_walk_double(w, root, "perReplicaRate", 0, true, LS_SCENARIO_MAX_RATE, false,
	                   &s->per_replica_rate) == 0)
		ls_walk_missing(w, root, "perReplicaRate", NULL);
	ls_walk_duration(w, root, "startupDelay", 0, false, INT64_MAX, &s->startup_delay_ms);
	ls_walk_double(w, root, "maxConsumeRate", 0, false, LS_SCENARIO_MAX_RATE, false,
	               &s->max_consume_rate);
	ls_walk_int64(w, root, "initialLag", 0, LS_SCENARIO_MAX_LAG, &s->initial_lag);
	/* The names above are the protocol names partitions.h reads. */
	if (ls_walk_enum(w, root, "assignor", assignors, &a) == 1 &&
	    ls_partitions_assignor_parse(assignors[a], &s->assignor) < 0)
		return -EINVAL;
	ls_walk_duration(w, root, "rebalancePause", 0, false, INT64_MAX, &s->rebalance_pause_ms);
	ls_walk_duration(w, root, "commitInterval", 0, false, INT64_MAX, &s->commit_interval_ms);
	r = walk_weights(w, root, s);
	if (r == 0)
		r = walk_produce(w, root, s);
	if (r == 0)
		r = walk_windows(w, root, "consumerOutages", &s->consumer_outages,
		                 &s->n_consumer_outages);
	if (r == 0)
		r = walk_windows(w, root, "kafkaErrors", &s->kafka_errors, &s->n_kafka_errors);
	if (r < 0)
		return r;
	walk_scaler(w, root, s);
	if (s->policy.max_replicas > LS_SCENARIO_MAX_REPLICAS) {
		const struct ls_node *pol = ls_node_get(ls_node_get(root, "scaler"), "policy");
		const struct ls_node *mx = ls_node_get(pol, "maxReplicas");
		size_t m = ls_walk_push_key(w, "scaler");

		ls_walk_push_key(w, "policy");
		ls_walk_push_key(w, "maxReplicas");
		ls_walk_error(w, mx ? mx : root, "must be <= %d in a scenario, got %d",
		              LS_SCENARIO_MAX_REPLICAS, s->policy.max_replicas);
		ls_walk_pop(w, m);
	}
	if (rd == 1 && rs >= 0 && s->duration_ms / s->step_ms > MAX_STEPS) {
		size_t m = ls_walk_push_key(w, "duration");

		ls_walk_error(w, ls_node_get(root, "duration"),
		              "more than %lld steps of the given step", MAX_STEPS);
		ls_walk_pop(w, m);
	}
	/* Unset, the workload starts where the policy would keep it. */
	if (s->initial_replicas < 0)
		s->initial_replicas = s->policy.min_replicas;
	if (!s->name) {
		s->name = default_name(w->rep->name);
		if (!s->name)
			return -ENOMEM;
	}
	return 0;
}

/* Hands the built scenario over, or frees it when the load failed. */
static int scenario_result(int r, struct ls_scenario *s, struct ls_scenario **ret)
{
	if (r < 0) {
		ls_scenario_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int ls_scenario_load_string(const char *name, const char *yaml, size_t len,
                            struct ls_scenario **ret, struct ls_diag *diag)
{
	struct ls_scenario *s = NULL;
	int r = ls_walk_document(name, yaml, len, NULL, scenario_build, &s, diag);

	return scenario_result(r, s, ret);
}

int ls_scenario_load(const char *path, struct ls_scenario **ret, struct ls_diag *diag)
{
	struct ls_scenario *s = NULL;
	int r = ls_walk_file(path, scenario_build, &s, diag);

	return scenario_result(r, s, ret);
}
