/* config.c - see config.h. The schema is DESIGN.md section 4. */
#include "config/config.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/yamltree.h"
#include "config/walk.h"
#include "util/buf.h"

/* Caps on lists read from the file (DESIGN.md section 3). */
#define MAX_CLUSTERS   64
#define MAX_PROPERTIES 1024
#define MAX_SCALERS    10000
#define MAX_TOPICS     10000
#define MAX_NAME       253

static const char *const isolation_names[] = {"read_uncommitted", "read_committed", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

static void cluster_release(struct ls_config_cluster *c)
{
	free(c->name);
	free(c->bootstrap_servers);
	for (size_t i = 0; i < c->n_props; i++) {
		free(c->props[i].key);
		free(c->props[i].value);
	}
	free(c->props);
}

static void scaler_release(struct ls_config_scaler *s)
{
	free(s->name);
	free(s->target.api_version);
	free(s->target.kind);
	free(s->target.namespace_);
	free(s->target.name);
	free(s->kafka.cluster);
	free(s->kafka.group);
	for (size_t i = 0; i < s->kafka.n_topics; i++)
		free(s->kafka.topics[i]);
	free(s->kafka.topics);
	free(s->kafka.topic_pattern);
	ls_ranges_release(&s->kafka.partitions);
}

void ls_config_free(struct ls_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->n_clusters; i++)
		cluster_release(&cfg->clusters[i]);
	free(cfg->clusters);
	free(cfg->kubeconfig);
	free(cfg->context);
	free(cfg->leader.namespace_);
	free(cfg->leader.lease_name);
	free(cfg->server_address);
	for (size_t i = 0; i < cfg->n_scalers; i++)
		scaler_release(&cfg->scalers[i]);
	free(cfg->scalers);
	free(cfg);
}

const struct ls_config_scaler *ls_config_find_scaler(const struct ls_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_scalers; i++) {
		if (strcmp(cfg->scalers[i].name, name) == 0)
			return &cfg->scalers[i];
	}
	return NULL;
}

/* Every default of section 4 that is not zero; -ENOMEM. */
static int scaler_init(struct ls_config_scaler *s)
{
	memset(s, 0, sizeof(*s));
	ls_policy_params_init(&s->policy);
	s->kafka.offset_reset = LS_RESET_LATEST;
	s->kafka.isolation = LS_ISOLATION_READ_UNCOMMITTED;
	s->target.namespace_ = strdup("default");
	return s->target.namespace_ ? 0 : -ENOMEM;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= MAX_NAME &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Kafka's rule: 1 to 249 of [a-zA-Z0-9._-]. */
static bool valid_topic(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 249 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* "host:port", "[v6]:port" or ":port" (all addresses); port 0-65535. */
static bool valid_address(const char *s)
{
	const char *colon = strrchr(s, ':');
	int32_t port;

	if (!colon || ls_parse_int32(colon + 1, &port) < 0 || port < 0 || port > 65535 ||
	    colon[1] == '+' || colon[1] == '-')
		return false;
	if (s[0] == '[')
		return colon > s + 2 && colon[-1] == ']' &&
		       !memchr(s + 1, ']', (size_t)(colon - s - 2));
	return !memchr(s, ':', (size_t)(colon - s)) && !memchr(s, ' ', (size_t)(colon - s));
}

static int walk_properties(struct ls_walk *w, const struct ls_node *props,
                           struct ls_config_cluster *c)
{
	size_t mark = ls_walk_push_key(w, "properties");
	int r = 0;

	if (!props || (props->type == LS_NODE_SCALAR && props->is_null))
		goto out;
	if (props->type != LS_NODE_MAP) {
		ls_walk_error(w, props, "expected a map, got %s", ls_node_type_name(props));
		goto out;
	}
	if (props->n > MAX_PROPERTIES) {
		ls_walk_error(w, props, "at most %d properties are allowed", MAX_PROPERTIES);
		goto out;
	}
	if (props->n) {
		c->props = calloc(props->n, sizeof(*c->props));
		if (!c->props) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < props->n; i++) {
		const struct ls_node *k = props->kids[2 * i], *v = props->kids[2 * i + 1];
		char *value = NULL;
		size_t m;

		/* Non-scalar keys were reported by the parser. */
		if (k->type != LS_NODE_SCALAR)
			continue;
		m = ls_walk_push_key(w, k->value);
		if (v->type != LS_NODE_SCALAR || v->is_null) {
			ls_walk_error(w, v, "expected a string, got %s", ls_node_type_name(v));
		} else if (ls_walk_substitute(w, v, &value) == 0) {
			/* Numbers and booleans are kept as written: librdkafka reads text. */
			c->props[c->n_props].key = strdup(k->value);
			c->props[c->n_props].value = value;
			c->n_props++;
			if (!c->props[c->n_props - 1].key)
				r = -ENOMEM;
		}
		ls_walk_pop(w, m);
		if (r < 0)
			break;
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

static int walk_clusters(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const kafka_keys[] = {"clusters", NULL};
	static const char *const cluster_keys[] = {"name", "bootstrapServers", "properties", NULL};
	const struct ls_node *kafka = ls_node_get(root, "kafka"), *list = NULL;
	size_t mark = ls_walk_push_key(w, "kafka"), m2;
	int r = 0;

	if (ls_walk_map(w, kafka, kafka_keys))
		list = ls_node_get(kafka, "clusters");
	m2 = ls_walk_push_key(w, "clusters");
	if (!list || (list->type == LS_NODE_SCALAR && list->is_null)) {
		const struct ls_node *at = kafka && kafka->type == LS_NODE_MAP ? kafka : root;

		if (!kafka || kafka->type == LS_NODE_MAP || kafka->is_null)
			ls_walk_error(w, at, "at least one cluster is required");
		goto out;
	}
	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n == 0) {
		ls_walk_error(w, list, "at least one cluster is required");
		goto out;
	}
	if (list->n > MAX_CLUSTERS) {
		ls_walk_error(w, list, "at most %d clusters are allowed", MAX_CLUSTERS);
		goto out;
	}
	cfg->clusters = calloc(list->n, sizeof(*cfg->clusters));
	if (!cfg->clusters) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < list->n && r == 0; i++) {
		struct ls_config_cluster *c = &cfg->clusters[cfg->n_clusters++];
		const struct ls_node *n = list->kids[i];
		size_t m3 = ls_walk_push_index(w, i);

		if (!ls_walk_item(w, n, cluster_keys)) {
			ls_walk_pop(w, m3);
			continue;
		}
		if (ls_walk_string(w, n, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &c->name) ==
		    1) {
			const struct ls_node *here = ls_node_get(n, "name");
			size_t m4 = ls_walk_push_key(w, "name");

			for (size_t j = 0; j < i; j++) {
				if (cfg->clusters[j].name &&
				    strcmp(cfg->clusters[j].name, c->name) == 0) {
					ls_walk_error(w, here,
					              "duplicate cluster name (first at line %d)",
					              ls_node_get(list->kids[j], "name")->line);
					break;
				}
			}
			ls_walk_pop(w, m4);
		}
		ls_walk_string(w, n, "bootstrapServers", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
		               &c->bootstrap_servers);
		r = walk_properties(w, ls_node_get(n, "properties"), c);
		ls_walk_pop(w, m3);
	}
out:
	ls_walk_pop(w, m2);
	ls_walk_pop(w, mark);
	return r;
}

static void walk_kubernetes(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const keys[] = {"kubeconfig", "context", NULL};
	const struct ls_node *n = ls_node_get(root, "kubernetes");
	size_t mark = ls_walk_push_key(w, "kubernetes");

	if (ls_walk_map(w, n, keys)) {
		ls_walk_string(w, n, "kubeconfig", 0, &cfg->kubeconfig);
		ls_walk_string(w, n, "context", 0, &cfg->context);
	}
	ls_walk_pop(w, mark);
}

/* Reports "a (x) must be greater than b (y)" at a's node, or b's when a was not written. */
static void leader_order(struct ls_walk *w, const struct ls_node *n, const char *a, int64_t x,
                         const char *b, int64_t y)
{
	const struct ls_node *at = ls_node_get(n, a);
	const char *key = a;
	char xs[32], ys[32];
	size_t mark;

	if (x > y)
		return;
	if (!at || at->is_null) {
		at = ls_node_get(n, b);
		key = b;
	}
	mark = ls_walk_push_key(w, key);
	ls_walk_error(w, at ? at : n, "%s (%s) must be greater than %s (%s)", a,
	              ls_format_duration(x, xs, sizeof(xs)), b,
	              ls_format_duration(y, ys, sizeof(ys)));
	ls_walk_pop(w, mark);
}

static void walk_leader(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const keys[] = {
	    "enabled",       "namespace",   "leaseName", "leaseDuration",
	    "renewDeadline", "retryPeriod", NULL};
	const struct ls_node *n = ls_node_get(root, "leaderElection");
	struct ls_config_leader *l = &cfg->leader;
	size_t mark = ls_walk_push_key(w, "leaderElection");
	int a, b, c;

	if (!ls_walk_map(w, n, keys))
		goto out;
	ls_walk_bool(w, n, "enabled", &l->enabled);
	ls_walk_string(w, n, "namespace", LS_WALK_NONEMPTY, &l->namespace_);
	ls_walk_string(w, n, "leaseName", LS_WALK_NONEMPTY, &l->lease_name);
	a = ls_walk_duration(w, n, "leaseDuration", 0, true, INT64_MAX, &l->lease_duration_ms);
	b = ls_walk_duration(w, n, "renewDeadline", 0, true, INT64_MAX, &l->renew_deadline_ms);
	c = ls_walk_duration(w, n, "retryPeriod", 0, true, INT64_MAX, &l->retry_period_ms);
	/* client-go refuses these orders; say so here rather than at the first election. */
	if (l->enabled && a >= 0 && b >= 0 && c >= 0) {
		leader_order(w, n, "leaseDuration", l->lease_duration_ms, "renewDeadline",
		             l->renew_deadline_ms);
		leader_order(w, n, "renewDeadline", l->renew_deadline_ms, "retryPeriod",
		             l->retry_period_ms);
	}
out:
	ls_walk_pop(w, mark);
}

static void walk_server_log(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const server_keys[] = {"address", NULL};
	static const char *const log_keys[] = {"format", "level", NULL};
	const struct ls_node *n = ls_node_get(root, "server");
	size_t mark = ls_walk_push_key(w, "server");
	int v;

	if (ls_walk_map(w, n, server_keys) &&
	    ls_walk_string(w, n, "address", LS_WALK_NONEMPTY, &cfg->server_address) == 1 &&
	    !valid_address(cfg->server_address)) {
		size_t m = ls_walk_push_key(w, "address");

		ls_walk_error(w, ls_node_get(n, "address"),
		              "expected host:port (e.g. 0.0.0.0:8080 or [::]:8080), got \"%.64s\"",
		              cfg->server_address);
		ls_walk_pop(w, m);
	}
	ls_walk_pop(w, mark);

	n = ls_node_get(root, "log");
	mark = ls_walk_push_key(w, "log");
	if (ls_walk_map(w, n, log_keys)) {
		if (ls_walk_enum(w, n, "format", log_format_names, &v) == 1)
			cfg->log_format = (enum ls_log_format)v;
		if (ls_walk_enum(w, n, "level", log_level_names, &v) == 1)
			cfg->log_level = (enum ls_log_level)v;
	}
	ls_walk_pop(w, mark);
}

static int walk_topics(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s)
{
	const struct ls_node *list = ls_node_get(k, "topics");
	size_t mark = ls_walk_push_key(w, "topics");
	int r = 0;

	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n > MAX_TOPICS) {
		ls_walk_error(w, list, "at most %d topics are allowed", MAX_TOPICS);
		goto out;
	}
	if (list->n) {
		s->kafka.topics = calloc(list->n, sizeof(*s->kafka.topics));
		if (!s->kafka.topics) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ls_node *t = list->kids[i];
		size_t m = ls_walk_push_index(w, i);
		char *name = NULL;

		if (t->type != LS_NODE_SCALAR || t->is_null)
			ls_walk_error(w, t, "expected a topic name, got %s", ls_node_type_name(t));
		else if (ls_walk_substitute(w, t, &name) < 0)
			;
		else if (!valid_topic(name))
			ls_walk_error(
			    w, t,
			    "not a valid topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')");
		else
			s->kafka.topics[s->kafka.n_topics++] = name, name = NULL;
		free(name);
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

static void resolve_cluster(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s,
                            const struct ls_config *cfg)
{
	size_t mark;

	/* With no cluster at all, kafka.clusters said so once. */
	if (cfg->n_clusters == 0)
		return;
	if (!s->kafka.cluster) {
		if (cfg->n_clusters == 1) {
			s->kafka.cluster =
			    cfg->clusters[0].name ? strdup(cfg->clusters[0].name) : NULL;
			s->cluster_index = 0;
			if (cfg->clusters[0].name && !s->kafka.cluster)
				w->rep->oom = true;
		} else {
			ls_walk_missing(w, k, "cluster",
			                "required when more than one cluster is configured");
		}
		return;
	}
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		if (cfg->clusters[i].name && strcmp(cfg->clusters[i].name, s->kafka.cluster) == 0) {
			s->cluster_index = i;
			return;
		}
	}
	mark = ls_walk_push_key(w, "cluster");
	ls_walk_error_shared(w, ls_node_get(k, "cluster"),
	                     "no cluster named \"%.64s\" in kafka.clusters", s->kafka.cluster);
	ls_walk_pop(w, mark);
}

static int walk_scaler_kafka(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s,
                             const struct ls_config *cfg)
{
	static const char *const keys[] = {"cluster",        "group",      "topics",
	                                   "topicPattern",   "partitions", "offsetResetPolicy",
	                                   "isolationLevel", NULL};
	int v, rt, rp, r = 0;
	char *parts = NULL;
	size_t mark;

	if (!ls_walk_map(w, k, keys))
		return 0;
	ls_walk_string(w, k, "cluster", LS_WALK_NONEMPTY, &s->kafka.cluster);
	ls_walk_string(w, k, "group", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &s->kafka.group);
	r = walk_topics(w, k, s);
	if (r < 0)
		return r;
	rt = s->kafka.n_topics > 0 ? 1 : 0;
	rp = ls_walk_string(w, k, "topicPattern", LS_WALK_NONEMPTY, &s->kafka.topic_pattern);
	if (rp == 1) {
		regex_t re;
		int e = regcomp(&re, s->kafka.topic_pattern, REG_EXTENDED | REG_NOSUB);

		if (e == 0) {
			regfree(&re);
		} else {
			char msg[128];

			regerror(e, &re, msg, sizeof(msg));
			mark = ls_walk_push_key(w, "topicPattern");
			ls_walk_error(w, ls_node_get(k, "topicPattern"),
			              "invalid regular expression: %s", msg);
			ls_walk_pop(w, mark);
			rp = -1;
		}
	}
	if (ls_walk_string(w, k, "partitions", 0, &parts) == 1) {
		if (ls_parse_ranges(parts, &s->kafka.partitions) < 0) {
			mark = ls_walk_push_key(w, "partitions");
			ls_walk_error(
			    w, ls_node_get(k, "partitions"),
			    "invalid partition list \"%.64s\" (expected e.g. \"0-11,14\")", parts);
			ls_walk_pop(w, mark);
		}
	}
	free(parts);
	if (ls_walk_enum(w, k, "offsetResetPolicy", ls_walk_offset_reset_names, &v) == 1)
		s->kafka.offset_reset = (enum ls_offset_reset)v;
	if (ls_walk_enum(w, k, "isolationLevel", isolation_names, &v) == 1)
		s->kafka.isolation = (enum ls_isolation)v;
	if (w->partial)
		return 0;
	if (rt && s->kafka.topic_pattern) {
		mark = ls_walk_push_key(w, "topicPattern");
		ls_walk_error_shared(w, ls_node_get(k, "topicPattern"),
		                     "set either topics or topicPattern, not both");
		ls_walk_pop(w, mark);
	} else if (!rt && !s->kafka.topic_pattern && rp == 0) {
		const struct ls_node *t = ls_node_get(k, "topics");

		/* A topics list with bad entries was reported; an empty one is not enough. */
		if (!t || t->is_null)
			ls_walk_missing(w, k, "topics", "required (or topicPattern)");
		else if (t->type == LS_NODE_SEQ && t->n == 0) {
			mark = ls_walk_push_key(w, "topics");
			ls_walk_error_shared(w, t,
			                     "at least one topic is required (or topicPattern)");
			ls_walk_pop(w, mark);
		}
	}
	resolve_cluster(w, k, s, cfg);
	return 0;
}

static const char *const scaler_keys[] = {"name", "target", "kafka", "policy", NULL};

/*
 * One scaler (or, when w->partial, the `defaults:` block). idx and
 * name_lines serve the check for duplicate names across scalers.
 */
static int walk_scaler(struct ls_walk *w, const struct ls_node *n, struct ls_config_scaler *s,
                       const struct ls_config *cfg, size_t idx, int *name_lines)
{
	static const char *const target_keys[] = {"apiVersion", "kind", "namespace", "name", NULL};
	const struct ls_node *t, *k;
	size_t mark;
	int r = 0;

	if (!ls_walk_map(w, n, scaler_keys))
		return 0;
	if (ls_walk_string(w, n, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &s->name) == 1) {
		const struct ls_node *nn = ls_node_get(n, "name");

		mark = ls_walk_push_key(w, "name");
		if (!valid_name(s->name)) {
			ls_walk_error(w, nn, "must be 1 to %d of a-z, A-Z, 0-9, '.', '_', '-'",
			              MAX_NAME);
		} else if (!w->partial) {
			name_lines[idx] = nn->line;
			for (size_t j = 0; j < idx; j++) {
				if (cfg->scalers[j].name &&
				    strcmp(cfg->scalers[j].name, s->name) == 0) {
					ls_walk_error_shared(
					    w, nn,
					    "duplicate scaler name \"%s\" (first at line %d)",
					    s->name, name_lines[j]);
					break;
				}
			}
		}
		ls_walk_pop(w, mark);
	}

	t = ls_node_get(n, "target");
	if (!t || (t->type == LS_NODE_SCALAR && t->is_null)) {
		ls_walk_missing(w, n, "target", NULL);
	} else {
		mark = ls_walk_push_key(w, "target");
		if (ls_walk_map(w, t, target_keys)) {
			ls_walk_string(w, t, "apiVersion", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
			               &s->target.api_version);
			ls_walk_string(w, t, "kind", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
			               &s->target.kind);
			ls_walk_string(w, t, "namespace", LS_WALK_NONEMPTY, &s->target.namespace_);
			ls_walk_string(w, t, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
			               &s->target.name);
		}
		ls_walk_pop(w, mark);
	}

	k = ls_node_get(n, "kafka");
	if (!k || (k->type == LS_NODE_SCALAR && k->is_null)) {
		ls_walk_missing(w, n, "kafka", NULL);
	} else {
		mark = ls_walk_push_key(w, "kafka");
		r = walk_scaler_kafka(w, k, s, cfg);
		ls_walk_pop(w, mark);
	}

	mark = ls_walk_push_key(w, "policy");
	ls_walk_policy(w, ls_node_get(n, "policy"), &s->policy);
	ls_walk_pop(w, mark);
	/* The engine needs it for partitions with no committed offset. */
	s->policy.offset_reset = s->kafka.offset_reset;
	return r;
}

static int walk_scalers(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	const struct ls_node *defaults = ls_node_get(root, "defaults");
	const struct ls_node *list = ls_node_get(root, "scalers");
	struct ls_config_scaler scratch;
	struct ls_node *merged = NULL;
	int *name_lines = NULL;
	bool has_defaults;
	size_t mark;
	int r;

	/* `defaults:` alone first, so its problems are reported once, under its own path. */
	r = scaler_init(&scratch);
	if (r < 0)
		return r;
	mark = ls_walk_push_key(w, "defaults");
	w->partial = true;
	r = walk_scaler(w, defaults, &scratch, cfg, 0, NULL);
	w->partial = false;
	ls_walk_pop(w, mark);
	scaler_release(&scratch);
	if (r < 0)
		return r;
	has_defaults = defaults && defaults->type == LS_NODE_MAP;

	if (!list || (list->type == LS_NODE_SCALAR && list->is_null)) {
		ls_walk_missing(w, root, "scalers", "at least one scaler is required");
		return 0;
	}
	mark = ls_walk_push_key(w, "scalers");
	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n == 0 || list->n > MAX_SCALERS) {
		ls_walk_error(w, list,
		              list->n ? "at most 10000 scalers are allowed"
		                      : "at least one scaler is required");
		goto out;
	}
	cfg->scalers = calloc(list->n, sizeof(*cfg->scalers));
	name_lines = calloc(list->n, sizeof(*name_lines));
	if (!cfg->scalers || !name_lines) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < list->n && r == 0; i++) {
		const struct ls_node *item = list->kids[i];
		size_t m = ls_walk_push_index(w, i);

		r = scaler_init(&cfg->scalers[i]);
		if (r < 0)
			break;
		cfg->n_scalers++;
		if (!ls_walk_item(w, item, scaler_keys)) {
			ls_walk_pop(w, m);
			continue;
		}
		if (has_defaults) {
			r = ls_node_merge(item, defaults, &merged);
			if (r < 0)
				break;
		}
		w->merged = has_defaults;
		w->prefix_len = w->path.len;
		w->owner = item;
		r = walk_scaler(w, merged ? merged : item, &cfg->scalers[i], cfg, i, name_lines);
		w->merged = false;
		w->owner = NULL;
		ls_node_free(merged);
		merged = NULL;
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	free(name_lines);
	return r;
}

static const char *const top_keys[] = {"kafka", "kubernetes", "leaderElection", "server",
                                       "log",   "defaults",   "scalers",        NULL};

static int config_new(const char *name, struct ls_config **ret)
{
	struct ls_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->path = strdup(name);
	cfg->kubeconfig = strdup("");
	cfg->context = strdup("");
	cfg->leader.enabled = true;
	cfg->leader.namespace_ = strdup("lagscale");
	cfg->leader.lease_name = strdup("lagscale");
	cfg->leader.lease_duration_ms = 15000;
	cfg->leader.renew_deadline_ms = 10000;
	cfg->leader.retry_period_ms = 2000;
	cfg->server_address = strdup("0.0.0.0:8080");
	cfg->log_format = LS_LOG_TEXT;
	cfg->log_level = LS_LOG_INFO;
	if (!cfg->path || !cfg->kubeconfig || !cfg->context || !cfg->leader.namespace_ ||
	    !cfg->leader.lease_name || !cfg->server_address) {
		ls_config_free(cfg);
		return -ENOMEM;
	}
	*ret = cfg;
	return 0;
}

/* The build step of ls_walk_document: ctx is where the config goes. */
static int config_build(struct ls_walk *w, const struct ls_node *root, void *ctx)
{
	struct ls_config **cfg = ctx;
	int r;

	r = config_new(w->rep->name, cfg);
	if (r < 0)
		return r;
	ls_walk_map(w, root, top_keys);
	r = walk_clusters(w, root, *cfg);
	if (r < 0)
		return r;
	walk_kubernetes(w, root, *cfg);
	walk_leader(w, root, *cfg);
	walk_server_log(w, root, *cfg);
	return walk_scalers(w, root, *cfg);
}

/* Hands the built config over, or frees it when the load failed. */
static int config_result(int r, struct ls_config *cfg, struct ls_config **ret_cfg)
{
	if (r < 0) {
		ls_config_free(cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

int ls_config_load_string(const char *name, const char *yaml, size_t len,
                          struct ls_config **ret_cfg, struct ls_diag *diag)
{
	struct ls_config *cfg = NULL;
	int r = ls_walk_document(name, yaml, len, NULL, config_build, &cfg, diag);

	return config_result(r, cfg, ret_cfg);
}

int ls_config_load(const char *path, struct ls_config **ret_cfg, struct ls_diag *diag)
{
	struct ls_config *cfg = NULL;
	int r = ls_walk_file(path, config_build, &cfg, diag);

	return config_result(r, cfg, ret_cfg);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool ls_config_scaler_equal(const struct ls_config_scaler *a, const struct ls_config_scaler *b)
{
	const struct ls_config_scaler_kafka *ka = &a->kafka, *kb = &b->kafka;

	if (!str_eq(a->name, b->name) || !str_eq(a->target.api_version, b->target.api_version) ||
	    !str_eq(a->target.kind, b->target.kind) ||
	    !str_eq(a->target.namespace_, b->target.namespace_) ||
	    !str_eq(a->target.name, b->target.name) || !str_eq(ka->cluster, kb->cluster) ||
	    !str_eq(ka->group, kb->group) || !str_eq(ka->topic_pattern, kb->topic_pattern) ||
	    ka->n_topics != kb->n_topics || ka->partitions.n != kb->partitions.n ||
	    ka->offset_reset != kb->offset_reset || ka->isolation != kb->isolation)
		return false;
	for (size_t i = 0; i < ka->n_topics; i++)
		if (!str_eq(ka->topics[i], kb->topics[i]))
			return false;
	for (size_t i = 0; i < ka->partitions.n; i++)
		if (ka->partitions.r[i][0] != kb->partitions.r[i][0] ||
		    ka->partitions.r[i][1] != kb->partitions.r[i][1])
			return false;
	return ls_policy_params_equal(&a->policy, &b->policy);
}

bool ls_config_cluster_equal(const struct ls_config_cluster *a, const struct ls_config_cluster *b)
{
	if (!str_eq(a->name, b->name) || !str_eq(a->bootstrap_servers, b->bootstrap_servers) ||
	    a->n_props != b->n_props)
		return false;
	for (size_t i = 0; i < a->n_props; i++)
		if (!str_eq(a->props[i].key, b->props[i].key) ||
		    !str_eq(a->props[i].value, b->props[i].value))
			return false;
	return true;
}
