/*
 * test-config.c - lib/config: the config loader (config.h) and the scenario
 * loader (scenario.h). YAML is written inline, one line per string literal,
 * so the expected LINE:COL of every message can be counted by eye.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/scenario.h"
#include "util/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Loads yaml as "t.yaml"; *cfg gets the config or stays as it was. */
static int load(const char *yaml, struct ls_config **cfg, struct ls_diag *d)
{
	return ls_config_load_string("t.yaml", yaml, strlen(yaml), cfg, d);
}

static void dump(const struct ls_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "  diag[%zu] %s\n", i, d->msgs[i]);
}

/* Asserts that yaml fails with -EINVAL and exactly the messages expected, in order. */
static void expect_errors(const char *yaml, const char *const *expected, size_t n)
{
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;
	int r;

	ls_diag_init(&d);
	r = load(yaml, &cfg, &d);
	if (d.n != n)
		dump(&d);
	for (size_t i = 0; i < n && i < d.n; i++)
		if (strcmp(d.msgs[i], expected[i]) != 0)
			fprintf(stderr, "got  %s\nwant %s\n", d.msgs[i], expected[i]);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(d.msgs[i], expected[i]);
	ls_diag_release(&d);
}

static void expect_error(const char *yaml, const char *expected)
{
	expect_errors(yaml, &expected, 1);
}

/*
 * Asserts that yaml fails with -EINVAL and that expected is one of its
 * messages (for a key that is also reported as missing elsewhere).
 */
static void expect_error_among(const char *yaml, const char *expected)
{
	struct ls_config sentinel, *cfg = &sentinel;
	bool found = false;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load(yaml, &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	for (size_t i = 0; i < d.n; i++)
		found = found || strcmp(d.msgs[i], expected) == 0;
	if (!found)
		dump(&d);
	ck_assert_msg(found, "missing: %s", expected);
	ls_diag_release(&d);
}

/* Loads yaml that must be valid. */
static struct ls_config *load_ok(const char *yaml)
{
	struct ls_config *cfg = NULL;
	struct ls_diag d;
	int r;

	ls_diag_init(&d);
	r = load(yaml, &cfg, &d);
	if (r != 0)
		dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_nonnull(cfg);
	ls_diag_release(&d);
	return cfg;
}

/* A valid config whose first scaler's policy block starts on line 9 (keys at column 7). */
#define BASE                                                                                       \
	"kafka:\n"                                                                                 \
	"  clusters:\n"                                                                            \
	"    - {name: main, bootstrapServers: \"k:9092\"}\n"                                       \
	"scalers:\n"                                                                               \
	"  - name: s\n"                                                                            \
	"    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: d}\n"                           \
	"    kafka: {group: g, topics: [t]}\n"                                                     \
	"    policy:\n"

static const char full_yaml[] =
    "kafka:\n"
    "  clusters:\n"
    "    - name: main\n"
    "      bootstrapServers: \"kafka-0:9092,kafka-1:9092\"\n"
    "      properties:\n"
    "        security.protocol: SASL_SSL\n"
    "        sasl.mechanism: SCRAM-SHA-512\n"
    "        sasl.username: lagscale\n"
    "        retries: 5\n"
    "        enable.idempotence: true\n"
    "    - name: backup\n"
    "      bootstrapServers: b:9092\n"
    "kubernetes:\n"
    "  kubeconfig: /etc/kube.conf\n"
    "  context: prod\n"
    "leaderElection: {enabled: false, namespace: ops, leaseName: ls,\n"
    "                 leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 5s}\n"
    "server: {address: \"[::]:9090\"}\n"
    "log: {format: json, level: debug}\n"
    "defaults: {}\n"
    "scalers:\n"
    "  - name: orders\n"
    "    target: {apiVersion: apps/v1, kind: StatefulSet, namespace: shop, name: order-consumer}\n"
    "    kafka:\n"
    "      cluster: backup\n"
    "      group: order-processor\n"
    "      topicPattern: \"^orders-\"\n"
    "      partitions: \"0-11,14\"\n"
    "      offsetResetPolicy: earliest\n"
    "      isolationLevel: read_committed\n"
    "    policy:\n"
    "      mode: rate\n"
    "      lagThreshold: 500\n"
    "      activationLagThreshold: 10\n"
    "      minReplicas: 2\n"
    "      maxReplicas: 30\n"
    "      idleReplicas: 0\n"
    "      pollingInterval: 5s\n"
    "      cooldownPeriod: 10m\n"
    "      tolerance: 0.2\n"
    "      allowIdleConsumers: true\n"
    "      limitToPartitionsWithLag: true\n"
    "      partitionAware: false\n"
    "      ensureEvenDistributionOfPartitions: true\n"
    "      excludePersistentLag: true\n"
    "      scaleToZeroOnInvalidOffset: true\n"
    "      targetDrainTime: 1m30s\n"
    "      perReplicaRate: 120.5\n"
    "      maxConsumeRate: 2000\n"
    "      behavior:\n"
    "        scaleUp:   {stabilizationWindow: 30s, selectPolicy: Min,\n"
    "                    policies: [{type: Pods, value: 2, period: 1m}]}\n"
    "        scaleDown: {stabilizationWindow: 1h, selectPolicy: Disabled,\n"
    "                    policies: [{type: Percent, value: 50, period: 30s},\n"
    "                               {type: Pods, value: 1, period: 500ms}]}\n"
    "      fallback: {failureThreshold: 5, replicas: 3, behavior: currentReplicasIfHigher}\n"
    "  - name: audit\n"
    "    target: {namespace: ns, name: audit}\n"
    "    kafka: {cluster: main, group: audit, topics: [audit, audit.v2]}\n";

START_TEST(test_config_full)
{
	struct ls_config *cfg = load_ok(full_yaml);
	const struct ls_config_scaler *s;
	const struct ls_policy_params *p;

	ck_assert_str_eq(cfg->path, "t.yaml");
	ck_assert_uint_eq(cfg->n_clusters, 2);
	ck_assert_str_eq(cfg->clusters[0].name, "main");
	ck_assert_str_eq(cfg->clusters[0].bootstrap_servers, "kafka-0:9092,kafka-1:9092");
	ck_assert_uint_eq(cfg->clusters[0].n_props, 5);
	ck_assert_str_eq(cfg->clusters[0].props[0].key, "security.protocol");
	ck_assert_str_eq(cfg->clusters[0].props[0].value, "SASL_SSL");
	ck_assert_str_eq(cfg->clusters[0].props[2].key, "sasl.username");
	ck_assert_str_eq(cfg->clusters[0].props[3].key, "retries");
	ck_assert_str_eq(cfg->clusters[0].props[3].value, "5");
	ck_assert_str_eq(cfg->clusters[0].props[4].value, "true");
	ck_assert_str_eq(cfg->clusters[1].name, "backup");
	ck_assert_uint_eq(cfg->clusters[1].n_props, 0);
	ck_assert_str_eq(cfg->kubeconfig, "/etc/kube.conf");
	ck_assert_str_eq(cfg->context, "prod");
	ck_assert(!cfg->leader.enabled);
	ck_assert_str_eq(cfg->leader.namespace_, "ops");
	ck_assert_str_eq(cfg->leader.lease_name, "ls");
	ck_assert_int_eq(cfg->leader.lease_duration_ms, 30000);
	ck_assert_int_eq(cfg->leader.renew_deadline_ms, 20000);
	ck_assert_int_eq(cfg->leader.retry_period_ms, 5000);
	ck_assert_str_eq(cfg->server_address, "[::]:9090");
	ck_assert_int_eq(cfg->log_format, LS_LOG_JSON);
	ck_assert_int_eq(cfg->log_level, LS_LOG_DEBUG);
	ck_assert_uint_eq(cfg->n_scalers, 2);

	s = &cfg->scalers[0];
	ck_assert_str_eq(s->name, "orders");
	ck_assert_str_eq(s->target.api_version, "apps/v1");
	ck_assert_str_eq(s->target.kind, "StatefulSet");
	ck_assert_str_eq(s->target.namespace_, "shop");
	ck_assert_str_eq(s->target.name, "order-consumer");
	ck_assert_str_eq(s->kafka.cluster, "backup");
	ck_assert_uint_eq(s->cluster_index, 1);
	ck_assert_str_eq(s->kafka.group, "order-processor");
	ck_assert_uint_eq(s->kafka.n_topics, 0);
	ck_assert_str_eq(s->kafka.topic_pattern, "^orders-");
	ck_assert_uint_eq(s->kafka.partitions.n, 2);
	ck_assert_int_eq(s->kafka.partitions.r[0][0], 0);
	ck_assert_int_eq(s->kafka.partitions.r[0][1], 11);
	ck_assert_int_eq(s->kafka.partitions.r[1][0], 14);
	ck_assert_int_eq(s->kafka.offset_reset, LS_RESET_EARLIEST);
	ck_assert_int_eq(s->kafka.isolation, LS_ISOLATION_READ_COMMITTED);

	p = &s->policy;
	ck_assert_int_eq(p->mode, LS_MODE_RATE);
	ck_assert_int_eq(p->lag_threshold, 500);
	ck_assert_int_eq(p->activation_lag_threshold, 10);
	ck_assert_int_eq(p->min_replicas, 2);
	ck_assert_int_eq(p->max_replicas, 30);
	ck_assert_int_eq(p->idle_replicas, 0);
	ck_assert_int_eq(p->polling_interval_ms, 5000);
	ck_assert_int_eq(p->cooldown_period_ms, 600000);
	ck_assert_double_eq_tol(p->tolerance, 0.2, 1e-12);
	ck_assert(p->allow_idle_consumers);
	ck_assert(p->limit_to_partitions_with_lag);
	ck_assert(!p->partition_aware);
	ck_assert(p->even_distribution);
	ck_assert(p->exclude_persistent_lag);
	ck_assert(p->scale_to_zero_on_invalid_offset);
	ck_assert_int_eq(p->target_drain_time_ms, 90000);
	ck_assert_double_eq_tol(p->per_replica_rate, 120.5, 1e-12);
	ck_assert_double_eq_tol(p->max_consume_rate, 2000, 1e-12);
	ck_assert_int_eq(p->scale_up.stabilization_window_ms, 30000);
	ck_assert_int_eq(p->scale_up.select, LS_SELECT_MIN);
	ck_assert_uint_eq(p->scale_up.n_policies, 1);
	ck_assert_int_eq(p->scale_up.policies[0].type, LS_RATE_PODS);
	ck_assert_int_eq(p->scale_up.policies[0].value, 2);
	ck_assert_int_eq(p->scale_up.policies[0].period_ms, 60000);
	ck_assert_int_eq(p->scale_down.stabilization_window_ms, 3600000);
	ck_assert_int_eq(p->scale_down.select, LS_SELECT_DISABLED);
	ck_assert_uint_eq(p->scale_down.n_policies, 2);
	ck_assert_int_eq(p->scale_down.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p->scale_down.policies[0].value, 50);
	ck_assert_int_eq(p->scale_down.policies[0].period_ms, 30000);
	ck_assert_int_eq(p->scale_down.policies[1].type, LS_RATE_PODS);
	ck_assert_int_eq(p->scale_down.policies[1].period_ms, 500);
	ck_assert_int_eq(p->fallback_failure_threshold, 5);
	ck_assert_int_eq(p->fallback_replicas, 3);
	ck_assert_int_eq(p->fallback_behavior, LS_FALLBACK_CURRENT_IF_HIGHER);
	ck_assert_int_eq(p->offset_reset, LS_RESET_EARLIEST);

	s = &cfg->scalers[1];
	ck_assert_str_eq(s->kafka.cluster, "main");
	ck_assert_uint_eq(s->cluster_index, 0);
	ck_assert_uint_eq(s->kafka.n_topics, 2);
	ck_assert_str_eq(s->kafka.topics[0], "audit");
	ck_assert_str_eq(s->kafka.topics[1], "audit.v2");
	ck_assert_ptr_null(s->kafka.topic_pattern);
	ck_assert_uint_eq(s->kafka.partitions.n, 0);
	/* As in KEDA, the target is an apps/v1 Deployment unless said otherwise. */
	ck_assert_str_eq(s->target.api_version, "apps/v1");
	ck_assert_str_eq(s->target.kind, "Deployment");
	ck_assert_str_eq(s->target.namespace_, "ns");

	ck_assert_ptr_eq(ls_config_find_scaler(cfg, "audit"), &cfg->scalers[1]);
	ck_assert_ptr_null(ls_config_find_scaler(cfg, "nope"));
	ls_config_free(cfg);
	ls_config_free(NULL);
}
END_TEST

START_TEST(test_config_defaults)
{
	struct ls_config *cfg = load_ok(BASE "      {}\n");
	const struct ls_config_scaler *s = &cfg->scalers[0];

	ck_assert_str_eq(cfg->kubeconfig, "");
	ck_assert_str_eq(cfg->context, "");
	ck_assert(cfg->leader.enabled);
	ck_assert_str_eq(cfg->leader.namespace_, "lagscale");
	ck_assert_str_eq(cfg->leader.lease_name, "lagscale");
	ck_assert_int_eq(cfg->leader.lease_duration_ms, 15000);
	ck_assert_int_eq(cfg->leader.renew_deadline_ms, 10000);
	ck_assert_int_eq(cfg->leader.retry_period_ms, 2000);
	ck_assert_str_eq(cfg->server_address, "0.0.0.0:8080");
	ck_assert(!cfg->metrics_partition_series);
	ck_assert_int_eq(cfg->log_format, LS_LOG_TEXT);
	ck_assert_int_eq(cfg->log_level, LS_LOG_INFO);
	ck_assert_uint_eq(cfg->clusters[0].n_props, 0);
	/* With exactly one cluster, kafka.cluster may be left out. */
	ck_assert_str_eq(s->kafka.cluster, "main");
	ck_assert_uint_eq(s->cluster_index, 0);
	ck_assert_str_eq(s->target.namespace_, "ns");
	ck_assert_int_eq(s->kafka.offset_reset, LS_RESET_LATEST);
	ck_assert_int_eq(s->kafka.isolation, LS_ISOLATION_READ_UNCOMMITTED);
	ck_assert_uint_eq(s->kafka.partitions.n, 0);
	ck_assert_int_eq(s->policy.offset_reset, LS_RESET_LATEST);
	ls_config_free(cfg);
}
END_TEST

/* The policy defaults come from ls_policy_params_init (lib/policy): DESIGN.md section 4. */
static void assert_policy_defaults(const struct ls_policy_params *p)
{
	ck_assert_int_eq(p->mode, LS_MODE_LAG);
	ck_assert_int_eq(p->lag_threshold, 1000);
	ck_assert_int_eq(p->activation_lag_threshold, 0);
	ck_assert_int_eq(p->min_replicas, 1);
	ck_assert_int_eq(p->max_replicas, 24);
	ck_assert_int_eq(p->idle_replicas, -1);
	ck_assert_int_eq(p->polling_interval_ms, 15000);
	ck_assert_int_eq(p->cooldown_period_ms, 300000);
	ck_assert_double_eq_tol(p->tolerance, 0.1, 1e-12);
	ck_assert(!p->allow_idle_consumers);
	ck_assert(!p->limit_to_partitions_with_lag);
	ck_assert(p->partition_aware);
	ck_assert(!p->even_distribution);
	ck_assert(!p->exclude_persistent_lag);
	ck_assert(!p->scale_to_zero_on_invalid_offset);
	ck_assert_int_eq(p->target_drain_time_ms, 120000);
	ck_assert_double_eq(p->per_replica_rate, 0);
	ck_assert_double_eq(p->max_consume_rate, 0);
	ck_assert_int_eq(p->scale_up.stabilization_window_ms, 0);
	ck_assert_int_eq(p->scale_up.select, LS_SELECT_MAX);
	ck_assert_uint_eq(p->scale_up.n_policies, 2);
	ck_assert_int_eq(p->scale_up.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p->scale_up.policies[0].value, 100);
	ck_assert_int_eq(p->scale_up.policies[0].period_ms, 15000);
	ck_assert_int_eq(p->scale_up.policies[1].type, LS_RATE_PODS);
	ck_assert_int_eq(p->scale_up.policies[1].value, 4);
	ck_assert_int_eq(p->scale_up.policies[1].period_ms, 15000);
	ck_assert_int_eq(p->scale_down.stabilization_window_ms, 300000);
	ck_assert_int_eq(p->scale_down.select, LS_SELECT_MAX);
	ck_assert_uint_eq(p->scale_down.n_policies, 1);
	ck_assert_int_eq(p->scale_down.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p->scale_down.policies[0].value, 100);
	ck_assert_int_eq(p->scale_down.policies[0].period_ms, 15000);
	ck_assert_int_eq(p->fallback_failure_threshold, 3);
	ck_assert_int_eq(p->fallback_replicas, 0);
	ck_assert_int_eq(p->fallback_behavior, LS_FALLBACK_CURRENT);
}

START_TEST(test_config_metrics)
{
	struct ls_config *cfg = load_ok("metrics: {partitionSeries: true}\n" BASE "      {}\n");

	ck_assert(cfg->metrics_partition_series);
	ls_config_free(cfg);
}
END_TEST

/* Neither topics nor topicPattern: every topic the group has committed
 * offsets for (KEDA's convention), for a null topics too. */
START_TEST(test_config_topics_optional)
{
	static const char *const yamls[] = {
	    "kafka:\n  clusters:\n    - {name: main, bootstrapServers: \"k:9092\"}\n"
	    "scalers:\n  - name: s\n"
	    "    target: {apiVersion: apps/v1, kind: Deployment, namespace: n, name: d}\n"
	    "    kafka: {group: g}\n",
	    "kafka:\n  clusters:\n    - {name: main, bootstrapServers: \"k:9092\"}\n"
	    "scalers:\n  - name: s\n"
	    "    target: {apiVersion: apps/v1, kind: Deployment, namespace: n, name: d}\n"
	    "    kafka: {group: g, topics: null}\n",
	};

	for (size_t i = 0; i < sizeof(yamls) / sizeof(yamls[0]); i++) {
		struct ls_config *cfg = load_ok(yamls[i]);

		ck_assert_str_eq(cfg->scalers[0].kafka.group, "g");
		ck_assert_uint_eq(cfg->scalers[0].kafka.n_topics, 0);
		ck_assert_ptr_null(cfg->scalers[0].kafka.topic_pattern);
		ls_config_free(cfg);
	}
}
END_TEST

START_TEST(test_config_policy_defaults)
{
	struct ls_config *cfg = load_ok(BASE "      {}\n");

	assert_policy_defaults(&cfg->scalers[0].policy);
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_null_means_default)
{
	struct ls_config *cfg = load_ok(BASE "      idleReplicas: null\n"
	                                     "      mode: ~\n"
	                                     "      lagThreshold:\n");
	struct ls_policy_params def;

	ls_policy_params_init(&def);
	ck_assert_int_eq(cfg->scalers[0].policy.idle_replicas, def.idle_replicas);
	ck_assert_int_eq(cfg->scalers[0].policy.mode, def.mode);
	ck_assert_int_eq(cfg->scalers[0].policy.lag_threshold, def.lag_threshold);
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_defaults_merge)
{
	struct ls_config *cfg =
	    load_ok("kafka:\n"
	            "  clusters:\n"
	            "    - {name: main, bootstrapServers: \"k:9092\"}\n"
	            "    - {name: other, bootstrapServers: \"o:9092\"}\n"
	            "defaults:\n"
	            "  target: {apiVersion: apps/v1, kind: Deployment, namespace: shop}\n"
	            "  kafka: {cluster: main, group: shared, topics: [a, b]}\n"
	            "  policy:\n"
	            "    maxReplicas: 10\n"
	            "    minReplicas: 2\n"
	            "    behavior: {scaleDown: {stabilizationWindow: 60s,\n"
	            "                           policies: [{type: Pods, value: 1, period: 1m}]}}\n"
	            "scalers:\n"
	            "  - name: one\n"
	            "    target: {name: one}\n"
	            "    kafka: {topics: [c]}\n"
	            "    policy:\n"
	            "      maxReplicas: 5\n"
	            "      behavior: {scaleDown: {selectPolicy: Min}}\n"
	            "  - name: two\n"
	            "    target: {name: two, namespace: other-ns}\n"
	            "    kafka: {cluster: other, group: own}\n");
	const struct ls_config_scaler *a = &cfg->scalers[0], *b = &cfg->scalers[1];

	/* Scaler values win; maps merge key by key. */
	ck_assert_str_eq(a->target.api_version, "apps/v1");
	ck_assert_str_eq(a->target.kind, "Deployment");
	ck_assert_str_eq(a->target.namespace_, "shop");
	ck_assert_str_eq(a->target.name, "one");
	ck_assert_str_eq(a->kafka.cluster, "main");
	ck_assert_str_eq(a->kafka.group, "shared");
	/* Lists replace. */
	ck_assert_uint_eq(a->kafka.n_topics, 1);
	ck_assert_str_eq(a->kafka.topics[0], "c");
	ck_assert_int_eq(a->policy.max_replicas, 5);
	ck_assert_int_eq(a->policy.min_replicas, 2);
	ck_assert_int_eq(a->policy.scale_down.stabilization_window_ms, 60000);
	ck_assert_int_eq(a->policy.scale_down.select, LS_SELECT_MIN);
	ck_assert_uint_eq(a->policy.scale_down.n_policies, 1);
	ck_assert_int_eq(a->policy.scale_down.policies[0].period_ms, 60000);

	ck_assert_str_eq(b->target.namespace_, "other-ns");
	ck_assert_str_eq(b->kafka.cluster, "other");
	ck_assert_uint_eq(b->cluster_index, 1);
	ck_assert_str_eq(b->kafka.group, "own");
	ck_assert_uint_eq(b->kafka.n_topics, 2);
	ck_assert_str_eq(b->kafka.topics[1], "b");
	ck_assert_int_eq(b->policy.max_replicas, 10);
	ck_assert_int_eq(b->policy.min_replicas, 2);
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_defaults_error_line)
{
	/* A bad value in defaults: is named once, at its own line, under "defaults". */
	static const char *const want[] = {
	    "t.yaml:5:25: defaults.policy.maxReplicas: must be >= 1, got 0",
	    "t.yaml:5:28: defaults.policy.bogus: unknown key",
	};

	expect_errors("kafka:\n"
	              "  clusters:\n"
	              "    - {name: main, bootstrapServers: \"k:9092\"}\n"
	              "defaults:\n"
	              "  policy: {maxReplicas: 0, bogus: 1}\n"
	              "scalers:\n"
	              "  - name: a\n"
	              "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: a}\n"
	              "    kafka: {group: g, topics: [t]}\n"
	              "  - name: b\n"
	              "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: b}\n"
	              "    kafka: {group: g, topics: [t]}\n",
	              want, N(want));
}
END_TEST

START_TEST(test_config_defaults_cross_check)
{
	/* maxReplicas from defaults, minReplicas from the scaler: the scaler's value is named. */
	expect_error("kafka:\n"
	             "  clusters:\n"
	             "    - {name: main, bootstrapServers: \"k:9092\"}\n"
	             "defaults: {policy: {maxReplicas: 3}, kafka: {cluster: nope}}\n"
	             "scalers:\n"
	             "  - name: a\n"
	             "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: a}\n"
	             "    kafka: {cluster: main, group: g, topics: [t]}\n"
	             "    policy: {minReplicas: 4}\n",
	             "t.yaml:9:27: scalers[0].policy.minReplicas: maxReplicas (3) must be >= "
	             "minReplicas (4)");
	/* An unknown cluster in defaults is named at the defaults' line. */
	expect_error(
	    "kafka:\n"
	    "  clusters:\n"
	    "    - {name: main, bootstrapServers: \"k:9092\"}\n"
	    "defaults: {kafka: {cluster: nope}}\n"
	    "scalers:\n"
	    "  - name: a\n"
	    "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: a}\n"
	    "    kafka: {group: g, topics: [t]}\n"
	    "  - name: b\n"
	    "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: b}\n"
	    "    kafka: {group: g, topics: [t]}\n",
	    "t.yaml:4:29: defaults.kafka.cluster: no cluster named \"nope\" in kafka.clusters");
}
END_TEST

/* Writes data to a new temporary file; returns its path (freed by the caller). */
static char *temp_file(const char *data, size_t len)
{
	char *path = strdup("/tmp/ls-test-config-XXXXXX");
	int fd;

	ck_assert_ptr_nonnull(path);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

START_TEST(test_config_substitution)
{
	char *secret = temp_file("file-secret\n", 12);
	char yaml[1024];
	struct ls_config *cfg;
	const struct ls_config_cluster *c;

	setenv("LS_TEST_PASSWORD", "env-secret", 1);
	setenv("LS_TEST_NS", "shop", 1);
	snprintf(yaml, sizeof(yaml),
	         "kafka:\n"
	         "  clusters:\n"
	         "    - name: main\n"
	         "      bootstrapServers: ${env:LS_TEST_NS}-kafka:9092\n"
	         "      properties:\n"
	         "        sasl.password: ${env:LS_TEST_PASSWORD}\n"
	         "        ssl.key.password: \"${file:%s}\"\n"
	         "        mixed: a-${env:LS_TEST_NS}-${env:LS_TEST_NS}-${other}\n"
	         "scalers:\n"
	         "  - name: s\n"
	         "    target: {apiVersion: apps/v1, kind: Deployment, name: d,\n"
	         "             namespace: \"${env:LS_TEST_NS}\"}\n"
	         "    kafka: {group: g, topics: [t]}\n",
	         secret);
	cfg = load_ok(yaml);
	c = &cfg->clusters[0];
	ck_assert_str_eq(c->bootstrap_servers, "shop-kafka:9092");
	ck_assert_str_eq(c->props[0].value, "env-secret");
	/* One trailing newline is stripped from files. */
	ck_assert_str_eq(c->props[1].value, "file-secret");
	ck_assert_str_eq(c->props[2].value, "a-shop-shop-${other}");
	ck_assert_str_eq(cfg->scalers[0].target.namespace_, "shop");
	ls_config_free(cfg);
	unlink(secret);
	free(secret);
	unsetenv("LS_TEST_PASSWORD");
	unsetenv("LS_TEST_NS");
}
END_TEST

START_TEST(test_config_substitution_errors)
{
	char big[70 * 1024];
	char *bigfile, yaml[1024];
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;

	memset(big, 'x', sizeof(big));
	bigfile = temp_file(big, sizeof(big));
	setenv("LS_TEST_SECRET", "hunter2 is not a topic", 1);
	unsetenv("LS_TEST_UNSET");
	snprintf(yaml, sizeof(yaml),
	         "kafka:\n"
	         "  clusters:\n"
	         "    - name: main\n"
	         "      bootstrapServers: k:9092\n"
	         "      properties:\n"
	         "        sasl.password: ${env:LS_TEST_UNSET}\n"
	         "        a: ${file:/nonexistent/ls-secret}\n"
	         "        b: ${file:%s}\n"
	         "        c: ${env:LS_TEST_SECRET\n"
	         "scalers:\n"
	         "  - name: s\n"
	         "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: d}\n"
	         "    kafka: {group: g, topics: [\"${env:LS_TEST_SECRET}\"]}\n",
	         bigfile);
	ls_diag_init(&d);
	ck_assert_int_eq(load(yaml, &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	if (d.n != 5)
		dump(&d);
	ck_assert_uint_eq(d.n, 5);
	ck_assert_str_eq(d.msgs[0], "t.yaml:6:24: kafka.clusters[0].properties.sasl.password: "
	                            "${env:LS_TEST_UNSET}: the environment variable is not set");
	ck_assert_str_eq(d.msgs[1], "t.yaml:7:12: kafka.clusters[0].properties.a: "
	                            "${file:/nonexistent/ls-secret}: cannot read "
	                            "/nonexistent/ls-secret: No such file or directory");
	ck_assert_ptr_nonnull(
	    strstr(d.msgs[2], "t.yaml:8:12: kafka.clusters[0].properties.b: ${file:"));
	ck_assert_ptr_nonnull(strstr(d.msgs[2], "}: the file is larger than 65536 bytes"));
	ck_assert_str_eq(d.msgs[3], "t.yaml:9:12: kafka.clusters[0].properties.c: unterminated ${: "
	                            "expected ${env:NAME}");
	ck_assert_str_eq(d.msgs[4], "t.yaml:13:32: scalers[0].kafka.topics[0]: not a valid topic "
	                            "name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')");
	/* No message shows a substituted value. */
	for (size_t i = 0; i < d.n; i++)
		ck_assert_ptr_null(strstr(d.msgs[i], "hunter2"));
	ls_diag_release(&d);
	unlink(bigfile);
	free(bigfile);
	unsetenv("LS_TEST_SECRET");
}
END_TEST

/* Issue 15: a FIFO (config path or ${file:}) or /dev/stdin blocked
 * forever; they are refused without being read. */
START_TEST(test_config_reads_regular_files_only)
{
	char dir[] = "/tmp/test-config-fifo-XXXXXX", fifo[128], yaml[512];
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ls_diag_init(&d);
	ck_assert_int_lt(ls_config_load(fifo, &cfg, &d), 0);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_ge(d.n, 1);
	ck_assert_msg(strstr(d.msgs[0], "not a regular file"), "%s", d.msgs[0]);
	ls_diag_release(&d);
	for (int i = 0; i < 3; i++) {
		const char *target = i == 0 ? fifo : i == 1 ? "/dev/stdin" : "/dev/zero";

		snprintf(yaml, sizeof(yaml),
		         "kafka:\n"
		         "  clusters:\n"
		         "    - name: main\n"
		         "      bootstrapServers: k:9092\n"
		         "      properties: {sasl.password: \"${file:%s}\"}\n"
		         "scalers: []\n",
		         target);
		ls_diag_init(&d);
		ck_assert_int_eq(load(yaml, &cfg, &d), -EINVAL);
		ck_assert_ptr_eq(cfg, &sentinel);
		ck_assert_uint_ge(d.n, 1);
		ck_assert_msg(strstr(d.msgs[0], "not a regular file"), "%s", d.msgs[0]);
		ls_diag_release(&d);
	}
	unlink(fifo);
	rmdir(dir);
}
END_TEST

/* Issue 15: a small file expanded ${file:} into a gigabyte and was "ok". */
START_TEST(test_config_substitution_total_cap)
{
	char big[60 * 1024], *bigfile;
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_buf_like {
		char *s;
		size_t n, cap;
	} y = {NULL, 0, 0};
	FILE *f;
	struct ls_diag d;
	bool found = false;

	memset(big, 'x', sizeof(big));
	bigfile = temp_file(big, sizeof(big));
	f = open_memstream(&y.s, &y.n);
	fprintf(f, "kafka:\n  clusters:\n");
	/* 2 x 600 x 60 KiB = 70 MiB, over the 64 MiB limit. */
	for (int c = 0; c < 2; c++) {
		fprintf(f, "    - name: c%d\n      bootstrapServers: k:9092\n      properties:\n", c);
		for (int i = 0; i < 600; i++)
			fprintf(f, "        p%d: ${file:%s}\n", i, bigfile);
	}
	fprintf(f, "scalers: []\n");
	fclose(f);
	ls_diag_init(&d);
	ck_assert_int_eq(load(y.s, &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	for (size_t i = 0; i < d.n; i++)
		found = found || strstr(d.msgs[i], "the substitutions of this file add more than "
		                                   "the limit of 64 MiB");
	if (!found)
		dump(&d);
	ck_assert(found);
	ls_diag_release(&d);
	free(y.s);
	unlink(bigfile);
	free(bigfile);
}
END_TEST

struct error_case {
	const char *yaml;
	const char *msg;
};

/* One problem in a scaler's policy block (BASE + lines from line 9). */
static const struct error_case policy_cases[] = {
    {"      lagThreshold: 0\n", "t.yaml:9:21: scalers[0].policy.lagThreshold: must be >= 1, got 0"},
    {"      activationLagThreshold: -1\n",
     "t.yaml:9:31: scalers[0].policy.activationLagThreshold: must be >= 0, got -1"},
    {"      minReplicas: -1\n", "t.yaml:9:20: scalers[0].policy.minReplicas: must be >= 0, got -1"},
    {"      maxReplicas: 0\n", "t.yaml:9:20: scalers[0].policy.maxReplicas: must be >= 1, got 0"},
    {"      maxReplicas: 2\n      minReplicas: 3\n",
     "t.yaml:9:20: scalers[0].policy.maxReplicas: maxReplicas (2) must be >= minReplicas (3)"},
    {"      idleReplicas: 1\n      minReplicas: 1\n",
     "t.yaml:9:21: scalers[0].policy.idleReplicas: idleReplicas (1) must be lower than "
     "minReplicas (1)"},
    {"      idleReplicas: -1\n",
     "t.yaml:9:21: scalers[0].policy.idleReplicas: must be >= 0, got -1"},
    {"      maxReplicas: abc\n",
     "t.yaml:9:20: scalers[0].policy.maxReplicas: expected an integer, got \"abc\""},
    {"      maxReplicas: 99999999999\n",
     "t.yaml:9:20: scalers[0].policy.maxReplicas: must be <= 2147483647, got 99999999999"},
    {"      maxReplicas: [1]\n",
     "t.yaml:9:20: scalers[0].policy.maxReplicas: expected a scalar, got a sequence"},
    {"      tolerance: 1\n", "t.yaml:9:18: scalers[0].policy.tolerance: must be in [0, 1), got 1"},
    {"      tolerance: -0.5\n",
     "t.yaml:9:18: scalers[0].policy.tolerance: must be in [0, 1), got -0.5"},
    {"      pollingInterval: 500ms\n",
     "t.yaml:9:24: scalers[0].policy.pollingInterval: must be at least 1s, got 500ms"},
    {"      pollingInterval: 5x\n",
     "t.yaml:9:24: scalers[0].policy.pollingInterval: invalid duration \"5x\" (expected e.g. "
     "500ms, 15s, 5m, 1h30m)"},
    {"      cooldownPeriod: -1s\n",
     "t.yaml:9:23: scalers[0].policy.cooldownPeriod: invalid duration \"-1s\" (expected e.g. "
     "500ms, 15s, 5m, 1h30m)"},
    {"      targetDrainTime: 0s\n",
     "t.yaml:9:24: scalers[0].policy.targetDrainTime: must be more than 0s, got 0s"},
    {"      perReplicaRate: 0\n",
     "t.yaml:9:23: scalers[0].policy.perReplicaRate: must be auto or a number > 0, got \"0\""},
    {"      perReplicaRate: fast\n",
     "t.yaml:9:23: scalers[0].policy.perReplicaRate: must be auto or a number > 0, got \"fast\""},
    {"      maxConsumeRate: -1\n",
     "t.yaml:9:23: scalers[0].policy.maxConsumeRate: must be >= 0, got -1"},
    {"      mode: lags\n",
     "t.yaml:9:13: scalers[0].policy.mode: must be one of lag, rate; got \"lags\""},
    {"      allowIdleConsumers: yes\n",
     "t.yaml:9:27: scalers[0].policy.allowIdleConsumers: expected true or false, got \"yes\""},
    {"      bogus: 1\n", "t.yaml:9:7: scalers[0].policy.bogus: unknown key"},
    {"      maxReplica: 1\n",
     "t.yaml:9:7: scalers[0].policy.maxReplica: unknown key (did you mean \"maxReplicas\"?)"},
    {"      maxReplicas: 2\n      maxReplicas: 3\n",
     "t.yaml:10:7: scalers[0].policy.maxReplicas: duplicate key (first at 9:7)"},
    {"      behavior: {scaleUp: {selectPolicy: Maximum}}\n",
     "t.yaml:9:42: scalers[0].policy.behavior.scaleUp.selectPolicy: must be one of Max, Min, "
     "Disabled; got \"Maximum\""},
    {"      behavior: {scaleDown: {stabilizationWindow: 2h}}\n",
     "t.yaml:9:51: scalers[0].policy.behavior.scaleDown.stabilizationWindow: must be at most "
     "1h, got 2h"},
    {"      behavior: {scaleUp: {policies: []}}\n",
     "t.yaml:9:38: scalers[0].policy.behavior.scaleUp.policies: at least one policy is "
     "required unless selectPolicy is Disabled"},
    {"      behavior: {scaleUp: {policies: [{type: Pods, value: 1}]}}\n",
     "t.yaml:9:39: scalers[0].policy.behavior.scaleUp.policies[0].period: required"},
    {"      behavior: {scaleUp: {policies: [{type: Pod, value: 1, period: 1s}]}}\n",
     "t.yaml:9:46: scalers[0].policy.behavior.scaleUp.policies[0].type: must be one of Pods, "
     "Percent; got \"Pod\""},
    {"      behavior: {scaleUp: {policies: [{type: Pods, value: 0, period: 1s}]}}\n",
     "t.yaml:9:59: scalers[0].policy.behavior.scaleUp.policies[0].value: must be >= 1, got 0"},
    {"      behavior: {scaleUp: {policies: [{type: Pods, value: 1, period: 0s}]}}\n",
     "t.yaml:9:70: scalers[0].policy.behavior.scaleUp.policies[0].period: must be more than "
     "0s, got 0s"},
    {"      behavior: {scaleUp: {policies: [1]}}\n",
     "t.yaml:9:39: scalers[0].policy.behavior.scaleUp.policies[0]: expected a map, got a "
     "scalar"},
    {"      behavior: {scaleUp: {policies: [{type: Pods, value: 1, period: 1s},\n"
     "          {type: Pods, value: 1, period: 1s}, {type: Pods, value: 1, period: 1s},\n"
     "          {type: Pods, value: 1, period: 1s}, {type: Pods, value: 1, period: 1s},\n"
     "          {type: Pods, value: 1, period: 1s}, {type: Pods, value: 1, period: 1s},\n"
     "          {type: Pods, value: 1, period: 1s}, {type: Pods, value: 1, period: 1s}]}}\n",
     "t.yaml:9:38: scalers[0].policy.behavior.scaleUp.policies: at most 8 policies are "
     "allowed, got 9"},
    {"      behavior: {scaleSideways: {}}\n",
     "t.yaml:9:18: scalers[0].policy.behavior.scaleSideways: unknown key"},
    {"      fallback: {failureThreshold: 0}\n",
     "t.yaml:9:36: scalers[0].policy.fallback.failureThreshold: must be >= 1, got 0"},
    {"      fallback: {replicas: -1}\n",
     "t.yaml:9:28: scalers[0].policy.fallback.replicas: must be >= 0, got -1"},
    {"      fallback: {behavior: sometimes}\n",
     "t.yaml:9:28: scalers[0].policy.fallback.behavior: must be one of static, "
     "currentReplicas, currentReplicasIfHigher, currentReplicasIfLower; got \"sometimes\""},
    {"      fallback: 3\n",
     "t.yaml:9:17: scalers[0].policy.fallback: expected a map, got a scalar"},
    {"      - 1\n", "t.yaml:9:7: scalers[0].policy: expected a map, got a sequence"},
};

START_TEST(test_config_policy_errors)
{
	char yaml[2048];

	for (size_t i = 0; i < N(policy_cases); i++) {
		snprintf(yaml, sizeof(yaml), "%s%s", BASE, policy_cases[i].yaml);
		expect_error(yaml, policy_cases[i].msg);
	}
}
END_TEST

#define CLUSTER "kafka:\n  clusters:\n    - {name: main, bootstrapServers: \"k:9092\"}\n"
#define TARGET  "    target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: d}\n"

/* Everything else: each YAML has one problem. */
static const struct error_case other_cases[] = {
    {"", "t.yaml:1:1: the document is empty"},
    {"# nothing here\n", "t.yaml:1:1: the document is empty"},
    {"- a\n- b\n", "t.yaml:1:1: the top level must be a map, got a sequence"},
    {"just text\n", "t.yaml:1:1: the top level must be a map, got a scalar"},
    {"a: [1, 2\nb: 3\n",
     "t.yaml:2:2: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)"},
    {"a: b\n  c: d\n", "t.yaml:2:4: mapping values are not allowed in this context"},
    {"a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed"},
    {"a: *nowhere\n", "t.yaml:1:4: unknown or unfinished anchor \"nowhere\""},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\nbogus: 1\n",
     "t.yaml:8:1: bogus: unknown key"},
    /* Without LagScaler objects, the file must define a scaler. */
    {CLUSTER "kubernetes: {lagScalers: false}\n",
     "t.yaml:1:1: scalers: at least one scaler is required (or kubernetes.lagScalers: true for "
     "LagScaler objects)"},
    {"metrics: {partitionSeries: maybe}\n" BASE "      {}\n",
     "t.yaml:1:28: metrics.partitionSeries: expected true or false, got \"maybe\""},
    {"metrics: {series: true}\n" BASE "      {}\n", "t.yaml:1:11: metrics.series: unknown key"},
    {CLUSTER "kubernetes: {lagScalers: false}\nscalers: []\n",
     "t.yaml:5:10: scalers: at least one scaler is required (or kubernetes.lagScalers: true "
     "for LagScaler objects)"},
    {"kubernetes: {lagScalers: maybe}\n" BASE "      {}\n",
     "t.yaml:1:26: kubernetes.lagScalers: expected true or false, got \"maybe\""},
    {"kubernetes: {watchNamespaces: shop}\n" BASE "      {}\n",
     "t.yaml:1:31: kubernetes.watchNamespaces: expected a sequence, got a scalar"},
    {"kubernetes: {watchNamespaces: [shop, Shop]}\n" BASE "      {}\n",
     "t.yaml:1:38: kubernetes.watchNamespaces[1]: \"Shop\" is not a namespace name (1 to 63 "
     "of a-z, 0-9 and '-', starting and ending with a letter or digit)"},
    {"kubernetes: {watchNamespaces: [shop, shop]}\n" BASE "      {}\n",
     "t.yaml:1:38: kubernetes.watchNamespaces[1]: namespace \"shop\" is listed twice"},
    {"kubernetes: {watchNamespaces: [{a: 1}]}\n" BASE "      {}\n",
     "t.yaml:1:32: kubernetes.watchNamespaces[0]: expected a namespace name, got a map"},
    {"kubernetes: {lagScaler: true}\n" BASE "      {}\n",
     "t.yaml:1:14: kubernetes.lagScaler: unknown key (did you mean \"lagScalers\"?)"},
    {CLUSTER "scalers: {a: 1}\n", "t.yaml:4:10: scalers: expected a sequence, got a map"},
    {CLUSTER "scalers:\n  -\n", "t.yaml:5:4: scalers[0]: expected a map, got null"},
    {"scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:1:1: kafka.clusters: at least one cluster is required"},
    {"kafka: {clusters: []}\nscalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:1:19: kafka.clusters: at least one cluster is required"},
    {"kafka:\n  clusters:\n    - {name: main}\nscalers:\n  - name: s\n" TARGET
     "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:3:7: kafka.clusters[0].bootstrapServers: required"},
    {"kafka:\n  clusters:\n    - {name: m, bootstrapServers: a:1}\n"
     "    - {name: m, bootstrapServers: b:1}\nscalers:\n  - name: s\n" TARGET
     "    kafka: {cluster: m, group: g, topics: [t]}\n",
     "t.yaml:4:14: kafka.clusters[1].name: duplicate cluster name (first at line 3)"},
    {"kafka:\n  clusters:\n    - {name: m, bootstrapServers: a:1, properties: {x: [1]}}\n"
     "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:3:56: kafka.clusters[0].properties.x: expected a string, got a sequence"},
    {"kafka:\n  clusters:\n    - {name: a, bootstrapServers: a:1}\n"
     "    - {name: b, bootstrapServers: b:1}\nscalers:\n  - name: s\n" TARGET
     "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:8:12: scalers[0].kafka.cluster: required when more than one cluster is "
     "configured"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {cluster: mian, group: g, topics: [t]}\n",
     "t.yaml:7:22: scalers[0].kafka.cluster: no cluster named \"mian\" in kafka.clusters"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: []}\n",
     "t.yaml:7:31: scalers[0].kafka.topics: at least one topic is required; leave topics out "
     "for every topic the group has committed offsets for"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t], topicPattern: x}\n",
     "t.yaml:7:50: scalers[0].kafka.topicPattern: set either topics or topicPattern, not both"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topicPattern: \"a(\"}\n",
     "t.yaml:7:37: scalers[0].kafka.topicPattern: invalid regular expression: Unmatched ( or "
     "\\("},
    {CLUSTER "scalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topicPattern: \"((((a{1,100}){1,100}){1,100}){1,100})\"}\n",
     "t.yaml:7:37: scalers[0].kafka.topicPattern: nested repetitions ask for more than 1000 "
     "copies (the limit)"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t], partitions: a}\n",
     "t.yaml:7:48: scalers[0].kafka.partitions: invalid partition list \"a\" (expected e.g. "
     "\"0-11,14\")"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t, \"a b\"]}\n",
     "t.yaml:7:35: scalers[0].kafka.topics[1]: not a valid topic name (1 to 249 of a-z, A-Z, "
     "0-9, '.', '_', '-')"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {topics: [t]}\n",
     "t.yaml:7:12: scalers[0].kafka.group: required"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: \"\", topics: [t]}\n",
     "t.yaml:7:20: scalers[0].kafka.group: must not be empty"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t], offsetResetPolicy: newest}\n",
     "t.yaml:7:55: scalers[0].kafka.offsetResetPolicy: must be one of latest, earliest; got "
     "\"newest\""},
    {CLUSTER "scalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t], isolationLevel: serializable}\n",
     "t.yaml:7:52: scalers[0].kafka.isolationLevel: must be one of read_uncommitted, "
     "read_committed; got \"serializable\""},
    {CLUSTER "scalers:\n  - name: s\n" TARGET, "t.yaml:5:5: scalers[0].kafka: required"},
    {CLUSTER "scalers:\n  - name: s\n    kafka: {group: g, topics: [t]}\n",
     "t.yaml:5:5: scalers[0].target: required"},
    {CLUSTER "scalers:\n  - name: s\n    target: {apiVersion: apps/v1, namespace: ns}\n"
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:6:13: scalers[0].target.name: required"},
    {CLUSTER "scalers:\n  - target: {apiVersion: apps/v1, kind: Deployment, namespace: ns, name: d}\n"
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:5:5: scalers[0].name: required"},
    {CLUSTER "scalers:\n  - name: a b\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:5:11: scalers[0].name: must be 1 to 253 of a-z, A-Z, 0-9, '.', '_', '-'"},
    {CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n"
             "  - name: s\n    target: {namespace: ns, name: e}\n    kafka: {group: g, topics: [t]}\n",
     "t.yaml:8:11: scalers[1].name: duplicate scaler name \"s\" (first at line 5)"},
    {CLUSTER "server: {address: localhost}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:19: server.address: expected host:port (e.g. 0.0.0.0:8080 or [::]:8080), got "
     "\"localhost\""},
    {CLUSTER "server: {address: \"::1:80\"}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:19: server.address: expected host:port (e.g. 0.0.0.0:8080 or [::]:8080), got "
     "\"::1:80\""},
    {CLUSTER "server: {address: \"h:70000\"}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:19: server.address: expected host:port (e.g. 0.0.0.0:8080 or [::]:8080), got "
     "\"h:70000\""},
    {CLUSTER "log: {format: xml}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:15: log.format: must be one of text, json; got \"xml\""},
    {CLUSTER "log: {level: trace}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:14: log.level: must be one of debug, info, warn, error; got \"trace\""},
    {CLUSTER "log: text\nscalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:6: log: expected a map, got a scalar"},
    {CLUSTER "leaderElection: {leaseDuration: 5s}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:33: leaderElection.leaseDuration: leaseDuration (5s) must be greater than "
     "renewDeadline (10s)"},
    {CLUSTER "leaderElection: {retryPeriod: 10s}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:31: leaderElection.retryPeriod: renewDeadline (10s) must be greater than "
     "retryPeriod (10s)"},
    {CLUSTER "leaderElection: {renewDeadline: 0s}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:33: leaderElection.renewDeadline: must be more than 0s, got 0s"},
    {CLUSTER "leaderElection: {enabled: 1}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:27: leaderElection.enabled: expected true or false, got \"1\""},
    {CLUSTER "kubernetes: {kubeconfig: [a]}\nscalers:\n  - name: s\n" TARGET
             "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:26: kubernetes.kubeconfig: expected a scalar, got a sequence"},
    {CLUSTER "defaults: []\nscalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n",
     "t.yaml:4:11: defaults: expected a map, got a sequence"},
};

START_TEST(test_config_errors)
{
	for (size_t i = 0; i < N(other_cases); i++)
		expect_error(other_cases[i].yaml, other_cases[i].msg);
}
END_TEST

START_TEST(test_config_several_errors)
{
	/* Every problem in one pass, in file order. */
	static const char *const want[] = {
	    "t.yaml:3:38: kafka.clusters[0].bootstrapServers: must not be empty",
	    "t.yaml:4:7: log.colour: unknown key",
	    "t.yaml:8:12: scalers[0].kafka.group: required",
	    "t.yaml:10:20: scalers[0].policy.maxReplicas: must be >= 1, got 0",
	    "t.yaml:11:18: scalers[0].policy.tolerance: must be in [0, 1), got 2",
	    "t.yaml:12:11: scalers[1].name: duplicate scaler name \"s\" (first at line 6)",
	    "t.yaml:13:13: scalers[1].target.namespace: required",
	};

	expect_errors("kafka:\n"
	              "  clusters:\n"
	              "    - {name: main, bootstrapServers: \"\"}\n"
	              "log: {colour: red}\n"
	              "scalers:\n"
	              "  - name: s\n" /* line 7 is the target */
	              TARGET "    kafka: {topics: [t]}\n"
	              "    policy:\n"
	              "      maxReplicas: 0\n"
	              "      tolerance: 2\n"
	              "  - name: s\n"
	              "    target: {apiVersion: apps/v1, name: d}\n"
	              "    kafka: {group: g, topics: [t]}\n",
	              want, N(want));
}
END_TEST

START_TEST(test_config_aliases)
{
	struct ls_config *cfg =
	    load_ok(CLUSTER "scalers:\n"
	                    "  - name: a\n"
	                    "    target: {apiVersion: apps/v1, kind: Deployment, namespace: &ns ns, name: d}\n"
	                    "    kafka: &k {group: g, topics: [t]}\n"
	                    "  - name: b\n"
	                    "    target: {namespace: *ns, name: e}\n"
	                    "    kafka: *k\n");

	ck_assert_str_eq(cfg->scalers[1].target.namespace_, "ns");
	ck_assert_str_eq(cfg->scalers[1].kafka.topics[0], "t");
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_too_large)
{
	size_t len = LS_CONFIG_MAX_FILE_BYTES + 1;
	/* Refused on its length alone: the contents are never read (nor touched here). */
	char *big = malloc(len);
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;

	ck_assert_ptr_nonnull(big);
	ls_diag_init(&d);
	ck_assert_int_eq(ls_config_load_string("t.yaml", big, len, &cfg, &d), -E2BIG);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msgs[0], "t.yaml: the document is larger than the limit of 64 MiB");
	ls_diag_release(&d);
	free(big);
}
END_TEST

/* Issue 15, point 2: one string may not exceed 1 MiB, even in a config
 * (whose file limit is 64 MiB). */
START_TEST(test_config_long_string)
{
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_buf y;
	struct ls_diag d;

	ls_buf_init(&y, 0);
	ck_assert_int_eq(ls_buf_puts(&y, CLUSTER "name: \""), 0);
	{
		char *x = malloc(1024 * 1024 + 1);

		memset(x, 'x', 1024 * 1024 + 1);
		ck_assert_int_eq(ls_buf_append(&y, x, 1024 * 1024 + 1), 0);
		free(x);
	}
	ck_assert_int_eq(ls_buf_puts(&y, "\"\n"), 0);
	ls_diag_init(&d);
	ck_assert_int_eq(load(ls_buf_str(&y), &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msgs[0], "t.yaml:4:7: a string is longer than the limit of 1 MiB");
	ls_diag_release(&d);
	ls_buf_release(&y);
}
END_TEST

START_TEST(test_config_load_file)
{
	static const char yaml[] =
	    CLUSTER "scalers:\n  - name: s\n" TARGET "    kafka: {group: g, topics: [t]}\n";
	char *path = temp_file(yaml, strlen(yaml));
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(ls_config_load(path, &cfg, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_str_eq(cfg->scalers[0].name, "s");
	ls_config_free(cfg);

	cfg = &sentinel;
	ck_assert_int_eq(ls_config_load("/nonexistent/lagscale.yaml", &cfg, &d), -ENOENT);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msgs[0],
	                 "/nonexistent/lagscale.yaml: cannot read: No such file or directory");
	ls_diag_release(&d);
	unlink(path);
	free(path);
}
END_TEST

/* Directories of files (config.h: the merge rules). */

/* A new empty temporary directory; its path is freed by the caller (after rm_dir). */
static char *temp_dir(void)
{
	char *dir = strdup("/tmp/ls-test-config-XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

/* Writes dir/name (creating nothing else); data is a format. */
static void put_file(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_file(const char *dir, const char *name, const char *fmt, ...)
{
	char path[512];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_dir(const char *dir)
{
	ck_assert_int_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* "DIR/name...": the expected message text, formatted. */
static const char *msg(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *msg(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

/* Loads path, which must be valid. */
static struct ls_config *load_path_ok(const char *path)
{
	struct ls_config *cfg = NULL;
	struct ls_diag d;
	int r;

	ls_diag_init(&d);
	r = ls_config_load(path, &cfg, &d);
	if (r != 0)
		dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_nonnull(cfg);
	ls_diag_release(&d);
	return cfg;
}

/* Loads path, which must fail with r and exactly the n messages expected, in order. */
static void expect_path_errors(const char *path, int r, const char *const *expected, size_t n)
{
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;
	int got;

	ls_diag_init(&d);
	got = ls_config_load(path, &cfg, &d);
	if (d.n != n)
		dump(&d);
	for (size_t i = 0; i < n && i < d.n; i++)
		if (strcmp(d.msgs[i], expected[i]) != 0)
			fprintf(stderr, "got  %s\nwant %s\n", d.msgs[i], expected[i]);
	ck_assert_int_eq(got, r);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(d.msgs[i], expected[i]);
	ls_diag_release(&d);
}

/* The Deployment of a scaler's own name, so that no two scalers share a target. */
#define TARGET_OF(name) "    target: {namespace: ns, name: " name "}\n"
#define SCALER(name)    "  - name: " name "\n" TARGET_OF(name) "    kafka: {group: g, topics: [t]}\n"

START_TEST(test_config_dir_merge)
{
	char *dir = temp_dir(), sub[512];
	struct ls_config *cfg;

	/* Written out of order: the name decides, byte-wise ("B" < "a"). */
	put_file(dir, "c.yaml", "scalers:\n" SCALER("c1") SCALER("c2"));
	put_file(dir, "a.yaml",
	         "kafka:\n  clusters:\n    - {name: main, bootstrapServers: \"k:9092\"}\n"
	         "log: {level: debug}\n"
	         "scalers:\n" SCALER("a1"));
	put_file(dir, "B.yml", "server: {address: \":9090\"}\nscalers:\n" SCALER("b1"));
	/* Left out: hidden, another suffix, a directory. */
	put_file(dir, ".hidden.yaml", "not: [valid\n");
	put_file(dir, "README.md", "not yaml: [\n");
	put_file(dir, "a.yaml.orig", "not yaml: [\n");
	snprintf(sub, sizeof(sub), "%s/sub.yaml", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_file(sub, "d.yaml", "not: [valid\n");

	cfg = load_path_ok(dir);
	ck_assert_str_eq(cfg->path, dir);
	ck_assert_uint_eq(cfg->n_files, 3);
	ck_assert_uint_eq(cfg->n_clusters, 1);
	ck_assert_uint_eq(cfg->n_scalers, 4);
	ck_assert_str_eq(cfg->scalers[0].name, "b1");
	ck_assert_str_eq(cfg->scalers[1].name, "a1");
	ck_assert_str_eq(cfg->scalers[2].name, "c1");
	ck_assert_str_eq(cfg->scalers[3].name, "c2");
	/* Each section from the one file that set it. */
	ck_assert_int_eq(cfg->log_level, LS_LOG_DEBUG);
	ck_assert_str_eq(cfg->server_address, ":9090");
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		ck_assert_str_eq(cfg->scalers[i].kafka.cluster, "main");
		ck_assert_uint_eq(cfg->scalers[i].cluster_index, 0);
	}
	/* Identical strings are stored once (config.h: the pool). */
	ck_assert_ptr_eq(cfg->scalers[0].target.kind, cfg->scalers[3].target.kind);
	ck_assert_ptr_eq(ls_config_find_scaler(cfg, "c2"), &cfg->scalers[3]);
	ls_config_free(cfg);
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_clusters)
{
	char *dir = temp_dir(), m[1024];
	struct ls_config *cfg;

	/* Used before the file that defines it, and by a file with no cluster at all. */
	put_file(dir, "10-team-a.yaml",
	         "scalers:\n"
	         "  - name: a\n" TARGET_OF("a") "    kafka: {cluster: backup, group: g, topics: [t]}\n");
	put_file(dir, "20-team-b.yaml",
	         "defaults: {kafka: {cluster: main}}\n"
	         "scalers:\n" SCALER("b"));
	put_file(dir, "90-clusters.yaml",
	         "kafka:\n"
	         "  clusters:\n"
	         "    - {name: main, bootstrapServers: \"m:9092\"}\n"
	         "    - {name: backup, bootstrapServers: \"b:9092\"}\n");
	cfg = load_path_ok(dir);
	ck_assert_uint_eq(cfg->n_clusters, 2);
	ck_assert_str_eq(cfg->scalers[0].kafka.cluster, "backup");
	ck_assert_uint_eq(cfg->scalers[0].cluster_index, 1);
	ck_assert_str_eq(cfg->scalers[1].kafka.cluster, "main");
	ck_assert_uint_eq(cfg->scalers[1].cluster_index, 0);
	ls_config_free(cfg);

	/* A cluster named nowhere, and none named with two to choose from. */
	put_file(dir, "30-team-c.yaml",
	         "scalers:\n"
	         "  - name: c\n" TARGET_OF("c") "    kafka: {cluster: nope, group: g, topics: [t]}\n"
	         "  - name: d\n" TARGET_OF("d") "    kafka: {group: g, topics: [t]}\n");
	{
		char m1[512], m2[512];
		const char *want[] = {
		    msg(m1, sizeof(m1),
		        "%s/30-team-c.yaml:4:22: scalers[0].kafka.cluster: no cluster named "
		        "\"nope\" in kafka.clusters",
		        dir),
		    msg(m2, sizeof(m2),
		        "%s/30-team-c.yaml:7:12: scalers[1].kafka.cluster: required when more "
		        "than one cluster is configured",
		        dir),
		};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}

	/* One cluster in all files: kafka.cluster may be left out in any file. */
	unlink(msg(m, sizeof(m), "%s/30-team-c.yaml", dir));
	put_file(dir, "90-clusters.yaml",
	         "kafka:\n  clusters:\n    - {name: backup, bootstrapServers: \"b:9092\"}\n");
	put_file(dir, "20-team-b.yaml", "scalers:\n" SCALER("b"));
	cfg = load_path_ok(dir);
	ck_assert_str_eq(cfg->scalers[1].kafka.cluster, "backup");
	ls_config_free(cfg);

	/* A cluster name defined twice names both places. */
	put_file(dir, "20-team-b.yaml",
	         "scalers:\n"
	         "  - name: b\n" TARGET_OF("b") "    kafka: {cluster: backup, group: g, topics: [t]}\n");
	put_file(dir, "95-more.yaml",
	         "kafka:\n  clusters:\n    - {name: backup, bootstrapServers: \"x:9092\"}\n");
	{
		const char *want[] = {msg(m, sizeof(m),
		                          "%s/95-more.yaml:3:14: kafka.clusters[0].name: duplicate "
		                          "cluster name (first at %s/90-clusters.yaml:3:14)",
		                          dir, dir)};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_errors_name_file)
{
	char *dir = temp_dir(), m1[512], m2[512], m3[512];

	put_file(dir, "a.yaml", CLUSTER "scalers:\n" SCALER("s"));
	put_file(dir, "b.yaml",
	         "scalers:\n"
	         "  - name: t\n" TARGET_OF("t") "    kafka: {group: g, topics: [t]}\n"
	         "    policy: {maxReplicas: 0}\n"
	         "  - name: s\n" TARGET_OF("s-b") "    kafka: {group: g, topics: [t]}\n");
	put_file(dir, "c.yaml", "scalers:\n  - name: [\n");
	{
		const char *want[] = {
		    msg(m1, sizeof(m1),
		        "%s/b.yaml:5:27: scalers[0].policy.maxReplicas: must be >= 1, got 0", dir),
		    msg(m2, sizeof(m2),
		        "%s/b.yaml:6:11: scalers[1].name: duplicate scaler name \"s\" (first at "
		        "%s/a.yaml:5:11)",
		        dir, dir),
		    msg(m3, sizeof(m3),
		        "%s/c.yaml:3:1: did not find expected node content (while parsing a flow "
		        "node at 3:1)",
		        dir),
		};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_sections)
{
	char *dir = temp_dir(), m1[512], m2[512];

	put_file(dir, "a.yaml",
	         CLUSTER "kubernetes: {context: prod}\n"
	                 "log: {level: debug}\n"
	                 "scalers:\n" SCALER("a"));
	/* null sets nothing; a second value is refused, naming the first. */
	put_file(dir, "b.yaml",
	         "kubernetes:\n"
	         "scalers:\n" SCALER("b") "log:\n"
	         "  level: info\n");
	put_file(dir, "c.yaml", "leaderElection: {enabled: false}\nkubernetes: {context: dev}\n");
	{
		const char *want[] = {
		    msg(m1, sizeof(m1),
		        "%s/b.yaml:6:1: log: already set at %s/a.yaml:5:1; only one file may set "
		        "it",
		        dir, dir),
		    msg(m2, sizeof(m2),
		        "%s/c.yaml:2:1: kubernetes: already set at %s/a.yaml:4:1; only one file "
		        "may set it",
		        dir, dir),
		};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_defaults_per_file)
{
	char *dir = temp_dir();
	struct ls_config *cfg;

	put_file(dir, "a.yaml",
	         CLUSTER "defaults: {policy: {maxReplicas: 7}}\n"
	                 "scalers:\n" SCALER("a"));
	put_file(dir, "b.yaml", "scalers:\n" SCALER("b"));
	put_file(dir, "c.yaml",
	         "defaults: {policy: {maxReplicas: 9}}\n"
	         "scalers:\n" SCALER("c"));
	cfg = load_path_ok(dir);
	ck_assert_int_eq(cfg->scalers[0].policy.max_replicas, 7);
	ck_assert_int_eq(cfg->scalers[1].policy.max_replicas, 24);
	ck_assert_int_eq(cfg->scalers[2].policy.max_replicas, 9);
	ls_config_free(cfg);
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_empty)
{
	char *dir = temp_dir(), m[512];
	const char *want[] = {m};

	msg(m, sizeof(m), "%s: no *.yaml or *.yml files", dir);
	expect_path_errors(dir, -EINVAL, want, 1);
	put_file(dir, ".hidden.yaml", CLUSTER "scalers:\n" SCALER("s"));
	put_file(dir, "lagscale.json", "{}\n");
	expect_path_errors(dir, -EINVAL, want, 1);

	/* Files, but neither clusters nor scalers in any (and no LagScalers). */
	put_file(dir, "a.yaml", "log: {level: info}\nkubernetes: {lagScalers: false}\n");
	{
		char m1[512], m2[512];
		const char *want2[] = {
		    msg(m1, sizeof(m1),
		        "%s: kafka.clusters: at least one cluster is required, and no file "
		        "defines one",
		        dir),
		    msg(m2, sizeof(m2),
		        "%s: scalers: at least one scaler is required, and no file defines one "
		        "(or kubernetes.lagScalers: true for LagScaler objects)",
		        dir),
		};

		expect_path_errors(dir, -EINVAL, want2, N(want2));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_file_too_large)
{
	char *dir = temp_dir(), path[512], m1[512], m2[512];
	int fd;

	put_file(dir, "a.yaml", CLUSTER "scalers:\n" SCALER("s"));
	/* Sparse: refused on its size, never read. */
	snprintf(path, sizeof(path), "%s/b.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)LS_CONFIG_MAX_FILE_BYTES + 1), 0);
	close(fd);
	/* The rest is still checked and reported. */
	put_file(dir, "c.yaml", "scalers:\n  - name: \"no good\"\n" TARGET
	                        "    kafka: {group: g, topics: [t]}\n");
	{
		const char *want[] = {
		    msg(m1, sizeof(m1), "%s/b.yaml: the file is larger than the limit of 64 MiB",
		        dir),
		    msg(m2, sizeof(m2),
		        "%s/c.yaml:2:11: scalers[0].name: must be 1 to 253 of a-z, A-Z, 0-9, '.', "
		        "'_', '-'",
		        dir),
		};

		expect_path_errors(dir, -E2BIG, want, N(want));
		/* The same file given alone. */
		expect_path_errors(path, -E2BIG, want, 1);
	}
	/* Exactly at the limit is not refused for its size (it is not YAML either). */
	ck_assert_int_eq(truncate(path, LS_CONFIG_MAX_FILE_BYTES), 0);
	{
		struct ls_config sentinel, *cfg = &sentinel;
		struct ls_diag d;

		ls_diag_init(&d);
		ck_assert_int_eq(ls_config_load(path, &cfg, &d), -EINVAL);
		ck_assert_ptr_eq(cfg, &sentinel);
		ck_assert_uint_ge(d.n, 1);
		ck_assert_ptr_null(strstr(d.msgs[0], "limit"));
		ls_diag_release(&d);
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_dir_file_substitution)
{
	char *dir = temp_dir(), sub[512], cwd[4096];
	struct ls_config *cfg;

	snprintf(sub, sizeof(sub), "%s/secrets", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_file(sub, "password", "from-the-dir\n");
	put_file(dir, "a.yaml",
	         "kafka:\n"
	         "  clusters:\n"
	         "    - name: main\n"
	         "      bootstrapServers: k:9092\n"
	         "      properties: {sasl.password: \"${file:secrets/password}\"}\n"
	         "scalers:\n" SCALER("s"));
	/* Relative to the file, not to the working directory. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir("/"), 0);
	cfg = load_path_ok(dir);
	ck_assert_str_eq(cfg->clusters[0].props[0].value, "from-the-dir");
	ls_config_free(cfg);
	ck_assert_int_eq(chdir(cwd), 0);
	rm_dir(dir);
	free(dir);
}
END_TEST

/* A reload (ls_config_load again) sees the files of the directory as they are now. */
START_TEST(test_config_dir_reload)
{
	char *dir = temp_dir(), path[512];
	struct ls_config *cfg;

	put_file(dir, "clusters.yaml", CLUSTER);
	put_file(dir, "team-a.yaml", "scalers:\n" SCALER("a"));
	cfg = load_path_ok(dir);
	ck_assert_uint_eq(cfg->n_scalers, 1);
	ls_config_free(cfg);

	put_file(dir, "team-b.yaml", "scalers:\n" SCALER("b1") SCALER("b2"));
	cfg = load_path_ok(dir);
	ck_assert_uint_eq(cfg->n_files, 3);
	ck_assert_uint_eq(cfg->n_scalers, 3);
	ls_config_free(cfg);

	snprintf(path, sizeof(path), "%s/team-a.yaml", dir);
	ck_assert_int_eq(unlink(path), 0);
	cfg = load_path_ok(dir);
	ck_assert_uint_eq(cfg->n_scalers, 2);
	ck_assert_str_eq(cfg->scalers[0].name, "b1");
	ls_config_free(cfg);
	rm_dir(dir);
	free(dir);
}
END_TEST

/*
 * The fleet: 10,000 scalers, as DESIGN.md section 4 writes one, load in
 * one file (within the limits of one file) and across files; one more is
 * refused.
 */
static void fleet_yaml(FILE *f, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		fprintf(f,
		        "  - name: orders-%05zu\n"
		        "    target: {apiVersion: apps/v1, kind: Deployment,\n"
		        "             namespace: team-%03zu, name: consumer-%05zu}\n"
		        "    kafka:\n"
		        "      cluster: main\n"
		        "      group: order-processor-%05zu\n"
		        "      topics: [orders-%05zu]\n"
		        "      offsetResetPolicy: latest\n"
		        "    policy:\n"
		        "      lagThreshold: 1000\n"
		        "      minReplicas: 1\n"
		        "      maxReplicas: 24\n"
		        "      pollingInterval: 15s\n"
		        "      cooldownPeriod: 300s\n"
		        "      behavior:\n"
		        "        scaleDown: {stabilizationWindow: 300s, selectPolicy: Max,\n"
		        "                    policies: [{type: Percent, value: 100, period: 15s}]}\n"
		        "      fallback: {failureThreshold: 3, replicas: 0,\n"
		        "                 behavior: currentReplicas}\n",
		        i, i % 100, i, i, i);
}

START_TEST(test_config_fleet)
{
	char *dir = temp_dir(), path[512], m[512];
	struct ls_config *cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/fleet.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(CLUSTER "scalers:\n", f);
	fleet_yaml(f, 0, 10000);
	ck_assert_int_eq(fclose(f), 0);
	cfg = load_path_ok(path);
	ck_assert_uint_eq(cfg->n_scalers, 10000);
	ck_assert_str_eq(cfg->scalers[9999].name, "orders-09999");
	ck_assert_str_eq(cfg->scalers[9999].kafka.topics[0], "orders-09999");
	ck_assert_str_eq(cfg->scalers[9999].target.namespace_, "team-099");
	ck_assert_int_eq(cfg->scalers[9999].policy.scale_down.stabilization_window_ms, 300000);
	ls_config_free(cfg);

	/* One more, in another file, is past the cap of all files together. */
	put_file(dir, "more.yaml", "scalers:\n" SCALER("one-more"));
	{
		const char *want[] = {msg(m, sizeof(m),
		                          "%s/more.yaml:2:3: scalers: at most 10000 scalers are "
		                          "allowed in all files together",
		                          dir)};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

/* Scenarios (scenario.h). */

static const char scenario_yaml[] =
    "name: perfect-storm\n"
    "duration: 90m\n"
    "step: 500ms\n"
    "partitions: 48\n"
    "initialReplicas: 10\n"
    "perReplicaRate: 120\n"
    "startupDelay: 30s\n"
    "maxConsumeRate: 5000\n"
    "initialLag: 100000\n"
    "produce:\n"
    "  - {at: 0s, rate: 1000}\n"
    "  - {at: 15m, rate: 10000}\n"
    "  - {at: 45m, rate: 10000}\n"
    "  - {at: 46m, rate: 1000}\n"
    "consumerOutages: [{from: 60m, to: 62m}]\n"
    "kafkaErrors: [{from: 70m, to: 72m}, {from: 80m, to: 81m}]\n"
    "scaler:\n"
    "  policy: {mode: rate, maxReplicas: 48, perReplicaRate: auto}\n"
    "  kafka: {offsetResetPolicy: earliest}\n";

static int load_scenario(const char *yaml, struct ls_scenario **s, struct ls_diag *d)
{
	return ls_scenario_load_string("storm.yaml", yaml, strlen(yaml), s, d);
}

/* A config of one scaler with the given target (a flow map's contents), on line 5. */
#define ONE_TARGET(t)                                                                              \
	CLUSTER "scalers:\n"                                                                       \
	        "  - name: s\n"                                                                    \
	        "    target: {" t "}\n"                                                            \
	        "    kafka: {group: g, topics: [t]}\n"

START_TEST(test_config_target_kinds)
{
	/* Kinds with a /scale subresource, and custom resources, are targets. */
	static const char *const ok[] = {
	    "namespace: ns, name: d",
	    "apiVersion: apps/v1, kind: StatefulSet, namespace: ns, name: d",
	    "apiVersion: apps/v1, kind: ReplicaSet, namespace: ns, name: d",
	    "apiVersion: v1, kind: ReplicationController, namespace: ns, name: d",
	    "apiVersion: lagscale-e2e.example.com/v1alpha1, kind: Consumer, namespace: ns, name: d",
	    "apiVersion: argoproj.io/v1alpha1, kind: Rollout, namespace: ns, name: d",
	};
	static const struct {
		const char *target;
		const char *msg;
	} bad[] = {
	    {"apiVersion: batch/v1, kind: Job, namespace: ns, name: d",
	     "t.yaml:6:42: scalers[0].target.kind: \"Job\" of apiVersion batch/v1 has no /scale "
	     "subresource (KEDA runs Jobs with a ScaledJob, which creates Jobs); a target is a "
	     "Deployment, StatefulSet, ReplicaSet (apps/v1), ReplicationController (v1) or a "
	     "custom resource with a /scale subresource"},
	    {"apiVersion: batch/v1, kind: CronJob, namespace: ns, name: d",
	     "t.yaml:6:42: scalers[0].target.kind: \"CronJob\" of apiVersion batch/v1 has no /scale "
	     "subresource (KEDA runs Jobs with a ScaledJob, which creates Jobs); a target is a "
	     "Deployment, StatefulSet, ReplicaSet (apps/v1), ReplicationController (v1) or a "
	     "custom resource with a /scale subresource"},
	    {"apiVersion: apps/v1, kind: DaemonSet, namespace: ns, name: d",
	     "t.yaml:6:41: scalers[0].target.kind: \"DaemonSet\" of apiVersion apps/v1 has no "
	     "/scale subresource (a DaemonSet runs one pod per node); a target is a Deployment, "
	     "StatefulSet, ReplicaSet (apps/v1), ReplicationController (v1) or a custom resource "
	     "with a /scale subresource"},
	    {"apiVersion: v1, kind: Pod, namespace: ns, name: d",
	     "t.yaml:6:36: scalers[0].target.kind: \"Pod\" of apiVersion v1 has no /scale "
	     "subresource (target the Deployment, StatefulSet or ReplicaSet that owns the pod); a "
	     "target is a Deployment, StatefulSet, ReplicaSet (apps/v1), ReplicationController "
	     "(v1) or a custom resource with a /scale subresource"},
	    {"kind: deployment, namespace: ns, name: d",
	     "t.yaml:6:20: scalers[0].target.kind: \"deployment\" is not a kind with a /scale "
	     "subresource (did you mean \"Deployment\"? kinds are case-sensitive)"},
	    {"apiVersion: apps/v1, kind: Deploymnet, namespace: ns, name: d",
	     "t.yaml:6:41: scalers[0].target.kind: \"Deploymnet\" is not a kind with a /scale "
	     "subresource (did you mean \"Deployment\"?)"},
	    {"apiVersion: apps/v1, kind: statefulset, namespace: ns, name: d",
	     "t.yaml:6:41: scalers[0].target.kind: \"statefulset\" is not a kind with a /scale "
	     "subresource (did you mean \"StatefulSet\"? kinds are case-sensitive)"},
	    /* kind defaults to Deployment, which the core group does not serve. */
	    {"apiVersion: v1, namespace: ns, name: d",
	     "t.yaml:6:26: scalers[0].target.apiVersion: kind defaults to Deployment, which is "
	     "served at apiVersion apps/v1, not v1"},
	    {"apiVersion: extensions/v1beta1, kind: Deployment, namespace: ns, name: d",
	     "t.yaml:6:26: scalers[0].target.apiVersion: Deployment is served at apiVersion "
	     "apps/v1, not extensions/v1beta1"},
	    {"apiVersion: app/v1, namespace: ns, name: d",
	     "t.yaml:6:26: scalers[0].target.apiVersion: no API group \"app\": Kubernetes' own are "
	     "apps, batch, ..., and a custom resource's group has a dot (e.g. example.com/v1) "
	     "(did you mean apps/v1?)"},
	    {"apiVersion: apps/v1/x, namespace: ns, name: d",
	     "t.yaml:6:26: scalers[0].target.apiVersion: expected GROUP/VERSION (e.g. apps/v1) or "
	     "v1, got \"apps/v1/x\""},
	    {"apiVersion: example.com/v1, kind: consumers, namespace: ns, name: d",
	     "t.yaml:6:48: scalers[0].target.kind: \"consumers\" is not a kind: kinds are "
	     "UpperCamelCase (e.g. Consumer), not the resource's plural or lowercase name"},
	    {"namespace: Shop, name: d",
	     "t.yaml:6:25: scalers[0].target.namespace: \"Shop\" is not a namespace name (1 to 63 "
	     "of a-z, 0-9 and '-', starting and ending with a letter or digit)"},
	    /* KEDA defaults the namespace to the ScaledObject's; lagscale has none to take. */
	    {"kind: Deployment, name: d",
	     "t.yaml:6:13: scalers[0].target.namespace: required"},
	};
	char yaml[1024];

	for (size_t i = 0; i < N(ok); i++) {
		struct ls_config *cfg;

		snprintf(yaml, sizeof(yaml), ONE_TARGET("%s"), ok[i]);
		cfg = load_ok(yaml);
		ck_assert_str_eq(cfg->scalers[0].target.namespace_, "ns");
		ls_config_free(cfg);
	}
	for (size_t i = 0; i < N(bad); i++) {
		snprintf(yaml, sizeof(yaml), ONE_TARGET("%s"), bad[i].target);
		expect_error(yaml, bad[i].msg);
	}
}
END_TEST

START_TEST(test_config_target_kind_from_defaults)
{
	/* A kind that came from defaults: is reported once, under defaults. */
	expect_error(CLUSTER "defaults:\n"
	                     "  target: {apiVersion: batch/v1, kind: Job}\n"
	                     "scalers:\n"
	                     "  - name: s\n"
	                     "    target: {namespace: ns, name: d}\n"
	                     "    kafka: {group: g, topics: [t]}\n",
	             "t.yaml:5:40: defaults.target.kind: \"Job\" of apiVersion batch/v1 has no "
	             "/scale subresource (KEDA runs Jobs with a ScaledJob, which creates Jobs); a "
	             "target is a Deployment, StatefulSet, ReplicaSet (apps/v1), "
	             "ReplicationController (v1) or a custom resource with a /scale subresource");
}
END_TEST

START_TEST(test_config_duplicate_targets)
{
	struct ls_config *cfg;

	/* The second owner is refused at its target, naming the first's place. */
	expect_error(CLUSTER "scalers:\n"
	                     "  - name: a\n"
	                     "    target: {namespace: shop, name: consumer}\n"
	                     "    kafka: {group: g, topics: [t]}\n"
	                     "  - name: b\n"
	                     "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop,\n"
	                     "             name: consumer}\n"
	                     "    kafka: {group: other, topics: [u]}\n",
	             "t.yaml:9:13: scalers[1].target: shop/Deployment/consumer is already the "
	             "target of scaler \"a\" at t.yaml:6:13; one scaler per workload (two would "
	             "undo each other's replicas)");
	/* Every further owner is reported, each naming the first. */
	expect_errors(CLUSTER "scalers:\n" SCALER("a") "  - name: b\n" TARGET_OF("a")
	                      "    kafka: {group: g, topics: [t]}\n"
	                      "  - name: c\n" TARGET_OF("a") "    kafka: {group: g, topics: [t]}\n",
	              (const char *const[]){
	                  "t.yaml:9:13: scalers[1].target: ns/Deployment/a is already the target "
	                  "of scaler \"a\" at t.yaml:6:13; one scaler per workload (two would undo "
	                  "each other's replicas)",
	                  "t.yaml:12:13: scalers[2].target: ns/Deployment/a is already the target "
	                  "of scaler \"a\" at t.yaml:6:13; one scaler per workload (two would undo "
	                  "each other's replicas)"},
	              2);
	/* A target taken from defaults: is named at the scaler. */
	expect_error(CLUSTER "defaults:\n"
	                     "  target: {namespace: shop, name: shared}\n"
	                     "scalers:\n"
	                     "  - name: a\n"
	                     "    kafka: {group: g, topics: [t]}\n"
	                     "  - name: b\n"
	                     "    kafka: {group: g, topics: [t]}\n",
	             "t.yaml:9:5: scalers[1].target: shop/Deployment/shared is already the target "
	             "of scaler \"a\" at t.yaml:7:5; one scaler per workload (two would undo each "
	             "other's replicas)");
	/* Another namespace, kind or group is another workload. */
	cfg = load_ok(CLUSTER "scalers:\n"
	                      "  - name: a\n"
	                      "    target: {namespace: shop, name: c}\n"
	                      "    kafka: {group: g, topics: [t]}\n"
	                      "  - name: b\n"
	                      "    target: {namespace: bank, name: c}\n"
	                      "    kafka: {group: g, topics: [t]}\n"
	                      "  - name: c\n"
	                      "    target: {kind: StatefulSet, namespace: shop, name: c}\n"
	                      "    kafka: {group: g, topics: [t]}\n"
	                      "  - name: d\n"
	                      "    target: {apiVersion: example.com/v1, kind: Deployment,\n"
	                      "             namespace: shop, name: c}\n"
	                      "    kafka: {group: g, topics: [t]}\n");
	ck_assert_uint_eq(cfg->n_scalers, 4);
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_dir_duplicate_targets)
{
	char *dir = temp_dir(), m1[1024];

	/* Two teams' files, one workload: refused, naming both files. */
	put_file(dir, "team-a.yaml", CLUSTER "scalers:\n" SCALER("a"));
	put_file(dir, "team-b.yaml", "scalers:\n  - name: b\n" TARGET_OF("a")
	                             "    kafka: {group: g, topics: [t]}\n");
	{
		const char *want[] = {
		    msg(m1, sizeof(m1),
		        "%s/team-b.yaml:3:13: scalers[0].target: ns/Deployment/a is already the "
		        "target of scaler \"a\" at %s/team-a.yaml:6:13; one scaler per workload "
		        "(two would undo each other's replicas)",
		        dir, dir),
		};

		expect_path_errors(dir, -EINVAL, want, N(want));
	}
	rm_dir(dir);
	free(dir);
}
END_TEST

START_TEST(test_config_keda_key_names)
{
	static const struct {
		const char *yaml;
		const char *msg;
	} cases[] = {
	    {BASE "      minReplicaCount: 2\n",
	     "t.yaml:9:7: scalers[0].policy.minReplicaCount: unknown key (did you mean "
	     "\"minReplicas\"? minReplicaCount is KEDA's name)"},
	    {BASE "      maxReplicaCount: 2\n",
	     "t.yaml:9:7: scalers[0].policy.maxReplicaCount: unknown key (did you mean "
	     "\"maxReplicas\"? maxReplicaCount is KEDA's name)"},
	    {BASE "      idleReplicaCount: 0\n",
	     "t.yaml:9:7: scalers[0].policy.idleReplicaCount: unknown key (did you mean "
	     "\"idleReplicas\"? idleReplicaCount is KEDA's name)"},
	    {BASE "      behavior: {scaleDown: {stabilizationWindowSeconds: 300}}\n",
	     "t.yaml:9:30: scalers[0].policy.behavior.scaleDown.stabilizationWindowSeconds: "
	     "unknown key (did you mean \"stabilizationWindow\"? stabilizationWindowSeconds is "
	     "KEDA's name)"},
	    /* KEDA's trigger keys written under lagscale's kafka: block. */
	    {BASE "      lagThreshold: 5\n"
	          "  - name: t\n"
	          "    target: {namespace: ns, name: e}\n"
	          "    kafka: {consumerGroup: g, topics: [t]}\n",
	     "t.yaml:12:13: scalers[1].kafka.consumerGroup: unknown key (did you mean \"group\"? "
	     "consumerGroup is KEDA's name)"},
	    {BASE "      lagThreshold: 5\n"
	          "  - name: t\n"
	          "    target: {namespace: ns, name: e}\n"
	          "    kafka: {group: g, topics: [t], partitionLimitation: \"1-3\"}\n",
	     "t.yaml:12:36: scalers[1].kafka.partitionLimitation: unknown key (did you mean "
	     "\"partitions\"? partitionLimitation is KEDA's name)"},
	    {BASE "      lagThreshold: 5\n"
	          "  - name: t\n"
	          "    target: {namespace: ns, name: e}\n"
	          "    kafka: {group: g, topic: t}\n",
	     "t.yaml:12:23: scalers[1].kafka.topic: unknown key (did you mean \"topics\"? topic is "
	     "KEDA's name)"},
	    /* In the wrong place: where lagscale has it. */
	    {BASE "      lagThreshold: 5\n"
	          "  - name: t\n"
	          "    scaleTargetRef: {name: e}\n",
	     "t.yaml:11:5: scalers[1].scaleTargetRef: unknown key (did you mean \"target\"? "
	     "scaleTargetRef is KEDA's name)"},
	    {BASE "      lagThreshold: 5\n"
	          "    minReplicaCount: 1\n",
	     "t.yaml:10:5: scalers[0].minReplicaCount: unknown key (minReplicaCount is KEDA's "
	     "name; in lagscale: policy.minReplicas)"},
	    {BASE "      lagThreshold: 5\n"
	          "    pollingInterval: 30s\n",
	     "t.yaml:10:5: scalers[0].pollingInterval: unknown key here (it belongs in the "
	     "scaler's policy.pollingInterval)"},
	    {BASE "      lagThreshold: 5\n"
	          "    cooldownPeriod: 30s\n",
	     "t.yaml:10:5: scalers[0].cooldownPeriod: unknown key here (it belongs in the "
	     "scaler's policy.cooldownPeriod)"},
	    {BASE "      lagThreshold: 5\n"
	          "    fallback: {replicas: 2}\n",
	     "t.yaml:10:5: scalers[0].fallback: unknown key here (it belongs in the scaler's "
	     "policy.fallback)"},
	    {BASE "      lagThreshold: 5\n"
	          "    metadata: {topic: t}\n",
	     "t.yaml:10:5: scalers[0].metadata: unknown key (metadata is KEDA's name; in "
	     "lagscale: kafka (group, topics) and policy (lagThreshold, ...))"},
	    {BASE "      lagThreshold: 5\n"
	          "    advanced: {}\n",
	     "t.yaml:10:5: scalers[0].advanced: unknown key (advanced is KEDA's name; in "
	     "lagscale: policy.behavior)"},
	    {BASE "      lagThreshold: 5\n"
	          "  - name: t\n"
	          "    target: {namespace: ns, name: e}\n"
	          "    kafka: {group: g, topics: [t], bootstrapServers: \"k:9092\"}\n",
	     "t.yaml:12:36: scalers[1].kafka.bootstrapServers: unknown key (bootstrapServers is "
	     "KEDA's name; in lagscale: kafka.cluster, the name of an entry of kafka.clusters "
	     "(which has bootstrapServers))"},
	    {"kafka:\n"
	     "  clusters:\n"
	     "    - {name: main, bootstrapServers: \"k:9092\", sasl: plaintext}\n"
	     "scalers:\n"
	     "  - name: s\n"
	     "    target: {namespace: ns, name: d}\n"
	     "    kafka: {group: g, topics: [t]}\n",
	     "t.yaml:3:48: kafka.clusters[0].sasl: unknown key (sasl is KEDA's name; in lagscale: "
	     "sasl.mechanism in the cluster's properties)"},
	    /* A typo still gets the nearest key. */
	    {BASE "      lagTreshold: 5\n",
	     "t.yaml:9:7: scalers[0].policy.lagTreshold: unknown key (did you mean "
	     "\"lagThreshold\"?)"},
	};

	for (size_t i = 0; i < N(cases); i++)
		expect_error_among(cases[i].yaml, cases[i].msg);
	/* HPA-style seconds in a policy: KEDA's name, and lagscale's key is missing. */
	expect_errors(BASE "      behavior: {scaleUp: {policies: [{type: Pods, value: 1,\n"
	                   "                                       periodSeconds: 15}]}}\n",
	              (const char *const[]){
	                  "t.yaml:9:39: scalers[0].policy.behavior.scaleUp.policies[0].period: "
	                  "required",
	                  "t.yaml:10:40: scalers[0].policy.behavior.scaleUp.policies[0]."
	                  "periodSeconds: unknown key (did you mean \"period\"? periodSeconds is "
	                  "KEDA's name)"},
	              2);
}
END_TEST

/* A failed lag read at now_ms, decided with p at cur replicas. */
static void decide_failed_read(struct ls_policy_state *st, const struct ls_policy_params *p,
                               int64_t now_ms, int32_t cur, struct ls_decision *d)
{
	struct ls_lag_snapshot snap;
	struct ls_policy_input in;

	memset(&snap, 0, sizeof(snap));
	snap.time_ms = now_ms;
	ls_lag_snapshot_fail(&snap, -ETIMEDOUT, "no answer from any broker");
	memset(&in, 0, sizeof(in));
	in.now_ms = now_ms;
	in.snap = &snap;
	in.current_replicas = cur;
	in.paused_replicas = -1;
	ck_assert_int_eq(ls_policy_decide(st, p, &in, d), 0);
	ls_lag_snapshot_release(&snap);
}

START_TEST(test_config_fallback_keda_default)
{
	struct ls_config *cfg = load_ok(BASE "      fallback: {failureThreshold: 3, replicas: 6}\n"
	                                     "  - name: t\n"
	                                     "    target: {namespace: ns, name: e}\n"
	                                     "    kafka: {group: g, topics: [t]}\n"
	                                     "    policy: {fallback: {failureThreshold: 2}}\n"
	                                     "  - name: u\n"
	                                     "    target: {namespace: ns, name: f}\n"
	                                     "    kafka: {group: g, topics: [t]}\n"
	                                     "    policy:\n"
	                                     "      fallback: {replicas: 6, behavior: "
	                                     "currentReplicasIfHigher}\n");
	const struct ls_policy_params *p = &cfg->scalers[0].policy;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;

	/* replicas without a behavior: static, as in KEDA. */
	ck_assert_int_eq(p->fallback_behavior, LS_FALLBACK_STATIC);
	ck_assert_int_eq(p->fallback_replicas, 6);
	/* Neither: currentReplicas, as before; a behavior written is kept. */
	ck_assert_int_eq(cfg->scalers[1].policy.fallback_behavior, LS_FALLBACK_CURRENT);
	ck_assert_int_eq(cfg->scalers[2].policy.fallback_behavior, LS_FALLBACK_CURRENT_IF_HIGHER);

	/* KEDA's example: one replica, the reads fail; the third failure scales to 6. */
	ck_assert_ptr_nonnull(st);
	decide_failed_read(st, p, 0, 1, &d);
	ck_assert_int_eq(d.action, LS_ACTION_ERROR);
	ck_assert_int_eq(d.desired_replicas, 1);
	decide_failed_read(st, p, 15000, 1, &d);
	ck_assert_int_eq(d.action, LS_ACTION_ERROR);
	ck_assert_int_eq(d.desired_replicas, 1);
	decide_failed_read(st, p, 30000, 1, &d);
	ck_assert_int_eq(d.action, LS_ACTION_FALLBACK);
	ck_assert(d.fallback);
	ck_assert_int_eq(d.desired_replicas, 6);
	ck_assert_msg(strstr(d.reason, "fallback static gives 6") != NULL, "%s", d.reason);
	ls_policy_state_free(st);
	ls_config_free(cfg);
}
END_TEST

START_TEST(test_config_scenario_full)
{
	struct ls_scenario *s = NULL;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load_scenario(scenario_yaml, &s, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_str_eq(s->name, "perfect-storm");
	ck_assert_int_eq(s->duration_ms, 90 * 60000);
	ck_assert_int_eq(s->step_ms, 500);
	ck_assert_int_eq(s->partitions, 48);
	ck_assert_int_eq(s->initial_replicas, 10);
	ck_assert_double_eq(s->per_replica_rate, 120);
	ck_assert_int_eq(s->startup_delay_ms, 30000);
	ck_assert_double_eq(s->max_consume_rate, 5000);
	ck_assert_int_eq(s->initial_lag, 100000);
	ck_assert_uint_eq(s->n_produce, 4);
	ck_assert_int_eq(s->produce[3].at_ms, 46 * 60000);
	ck_assert_double_eq(s->produce[3].rate, 1000);
	ck_assert_uint_eq(s->n_consumer_outages, 1);
	ck_assert_int_eq(s->consumer_outages[0].from_ms, 3600000);
	ck_assert_int_eq(s->consumer_outages[0].to_ms, 62 * 60000);
	ck_assert_uint_eq(s->n_kafka_errors, 2);
	ck_assert_int_eq(s->kafka_errors[1].from_ms, 80 * 60000);
	ck_assert_int_eq(s->policy.mode, LS_MODE_RATE);
	ck_assert_int_eq(s->policy.max_replicas, 48);
	ck_assert_double_eq(s->policy.per_replica_rate, 0);
	ck_assert_int_eq(s->policy.offset_reset, LS_RESET_EARLIEST);
	ls_scenario_free(s);
	ls_scenario_free(NULL);
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_config_scenario_defaults)
{
	static const char yaml[] = "duration: 10m\n"
	                           "partitions: 12\n"
	                           "perReplicaRate: 100\n"
	                           "produce: [{at: 0s, rate: 50}]\n";
	struct ls_scenario *s = NULL;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(ls_scenario_load_string("dir/spike.yaml", yaml, strlen(yaml), &s, &d), 0);
	ck_assert_str_eq(s->name, "spike");
	ck_assert_int_eq(s->step_ms, 1000);
	ck_assert_int_eq(s->startup_delay_ms, 0);
	ck_assert_double_eq(s->max_consume_rate, 0);
	ck_assert_int_eq(s->initial_lag, 0);
	ck_assert_uint_eq(s->n_consumer_outages, 0);
	ck_assert_uint_eq(s->n_kafka_errors, 0);
	/* The policy block defaults exactly as in a config file. */
	{
		struct ls_policy_params def;

		ls_policy_params_init(&def);
		def.offset_reset = LS_RESET_LATEST;
		ck_assert_int_eq(s->initial_replicas, def.min_replicas);
		ck_assert_mem_eq(&s->policy, &def, sizeof(def));
	}
	ls_scenario_free(s);
	ls_diag_release(&d);
}
END_TEST

/* Issue 15: numbers and durations that overflow are errors naming the
 * limit, not wraparounds (pollingInterval 9223372036854774s passed
 * check-config and overflowed in run). */
START_TEST(test_config_overflowing_numbers_are_errors)
{
	expect_error(BASE "      pollingInterval: 9223372036854774s\n",
	             "t.yaml:9:24: scalers[0].policy.pollingInterval: the duration is longer "
	             "than the limit of 8784h");
	expect_error(BASE "      cooldownPeriod: 9223372036854775\n",
	             "t.yaml:9:23: scalers[0].policy.cooldownPeriod: the duration is longer than "
	             "the limit of 8784h");
	expect_error(BASE "      cooldownPeriod: 99999999999999h\n",
	             "t.yaml:9:23: scalers[0].policy.cooldownPeriod: the duration is longer than "
	             "the limit of 8784h");
	expect_error(BASE "      maxReplicas: 1e40\n",
	             "t.yaml:9:20: scalers[0].policy.maxReplicas: expected an integer, got \"1e40\"");
	expect_error(BASE "      lagThreshold: 99999999999999999999\n",
	             "t.yaml:9:21: scalers[0].policy.lagThreshold: the number is out of range (1 to "
	             "9223372036854775807)");
}
END_TEST

/* Issue 15: huge scenario numbers overflowed the simulator or made it
 * allocate 16 GB (initialReplicas: 2147483647). */
START_TEST(test_config_scenario_limits)
{
	static const char *const want[] = {
	    "storm.yaml:1:11: duration: the duration is longer than the limit of 8784h",
	    "storm.yaml:2:13: partitions: must be <= 1000000, got 2147483647",
	    "storm.yaml:3:18: initialReplicas: must be <= 100000, got 2147483647",
	    "storm.yaml:4:17: perReplicaRate: must be in (0, 1e+09], got 1e+300",
	    "storm.yaml:5:15: startupDelay: the duration is longer than the limit of 8784h",
	    "storm.yaml:6:13: initialLag: must be <= 1000000000000000, got 9223372036854775807",
	    "storm.yaml:7:26: produce[0].rate: must be in [0, 1e+09], got 1e+300",
	    "storm.yaml:8:32: scaler.policy.maxReplicas: must be <= 100000 in a scenario, got "
	    "2147483647",
	};
	struct ls_scenario sentinel, *s = &sentinel;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load_scenario("duration: 9223372036854775\n"
	                               "partitions: 2147483647\n"
	                               "initialReplicas: 2147483647\n"
	                               "perReplicaRate: 1e300\n"
	                               "startupDelay: 99999999999h\n"
	                               "initialLag: 9223372036854775807\n"
	                               "produce: [{at: 0s, rate: 1e300}]\n"
	                               "scaler: {policy: {maxReplicas: 2147483647}}\n",
	                               &s, &d),
	                 -EINVAL);
	ck_assert_ptr_eq(s, &sentinel);
	if (d.n != N(want))
		dump(&d);
	for (size_t i = 0; i < N(want) && i < d.n; i++)
		ck_assert_str_eq(d.msgs[i], want[i]);
	ck_assert_uint_eq(d.n, N(want));
	ls_diag_release(&d);
}
END_TEST

/* Issue 15: server.address and kafka.partitions errors printed the value
 * after substitution ("got \"hunter2-secret-value\""). Every message shows
 * the value as written. */
START_TEST(test_config_errors_never_show_substituted_values)
{
	char long_secret[100], *file, yaml[1024];
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_diag d;

	memset(long_secret, 's', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	file = temp_file(long_secret, strlen(long_secret));
	setenv("LS_TEST_SECRET", "hunter2-secret-value", 1);
	snprintf(yaml, sizeof(yaml),
	         CLUSTER "server: {address: \"${env:LS_TEST_SECRET}\"}\n"
	                 "scalers:\n"
	                 "  - name: s\n" TARGET
	                 "    kafka: {group: g, topics: [t], partitions: \"x${env:LS_TEST_SECRET}\"}\n"
	                 "  - name: s2\n"
	                 "    target: {kind: \"${file:%s}\", namespace: ns, name: d2}\n"
	                 "    kafka: {group: g, topics: [t]}\n",
	         file);
	ls_diag_init(&d);
	ck_assert_int_eq(load(yaml, &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	if (d.n != 3)
		dump(&d);
	ck_assert_uint_eq(d.n, 3);
	ck_assert_str_eq(d.msgs[0], "t.yaml:4:19: server.address: expected host:port (e.g. "
	                            "0.0.0.0:8080 or [::]:8080), got \"${env:LS_TEST_SECRET}\"");
	ck_assert_str_eq(d.msgs[1], "t.yaml:8:48: scalers[0].kafka.partitions: invalid partition "
	                            "list \"x${env:LS_TEST_SECRET}\" (expected e.g. \"0-11,14\")");
	for (size_t i = 0; i < d.n; i++) {
		ck_assert_ptr_null(strstr(d.msgs[i], "hunter2"));
		ck_assert_ptr_null(strstr(d.msgs[i], "ssss"));
	}
	ck_assert_ptr_nonnull(strstr(d.msgs[2], "${file:"));
	ls_diag_release(&d);
	unsetenv("LS_TEST_SECRET");
	unlink(file);
	free(file);
}
END_TEST

/* Issue 15: 99,000 unknown keys took 165 s to report (each message was
 * compared with all before it). A report keeps 100 and counts the rest. */
START_TEST(test_config_errors_are_capped)
{
	struct ls_config sentinel, *cfg = &sentinel;
	struct ls_buf y;
	struct ls_diag d;

	ls_buf_init(&y, 0);
	ck_assert_int_eq(ls_buf_puts(&y, CLUSTER), 0);
	for (int i = 0; i < 150; i++)
		ck_assert_int_eq(ls_buf_printf(&y, "unknown%d: 1\n", i), 0);
	ls_diag_init(&d);
	ck_assert_int_eq(load(ls_buf_str(&y), &cfg, &d), -EINVAL);
	ck_assert_ptr_eq(cfg, &sentinel);
	ck_assert_uint_eq(d.n, 101);
	ck_assert_str_eq(d.msgs[0], "t.yaml:4:1: unknown0: unknown key");
	/* 150 unknown keys (no scaler is required: LagScalers may bring them). */
	ck_assert_str_eq(d.msgs[100],
	                 "t.yaml: ... and 50 more problems (only the first 100 are shown)");
	ls_diag_release(&d);
	ls_buf_release(&y);
}
END_TEST

START_TEST(test_config_scenario_errors)
{
	static const char *const want[] = {
	    "storm.yaml:1:1: perReplicaRate: required",
	    "storm.yaml:1:11: duration: must be more than 0s, got 0s",
	    "storm.yaml:2:13: partitions: must be >= 1, got 0",
	    "storm.yaml:5:10: produce[1].at: must be later than the previous point's at",
	    "storm.yaml:6:20: produce[2].rate: must be in [0, 1e+09], got -5",
	    "storm.yaml:7:34: consumerOutages[0].to: must be later than from",
	    "storm.yaml:8:15: kafkaErrors[0]: expected a map, got a scalar",
	    "storm.yaml:9:32: scaler.policy.maxReplicas: must be >= 1, got 0",
	    "storm.yaml:10:37: scaler.kafka.offsetResetPolicy: must be one of latest, earliest; "
	    "got "
	    "\"none\"",
	    "storm.yaml:11:1: bogus: unknown key",
	};
	struct ls_scenario sentinel, *s = &sentinel;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load_scenario("duration: 0s\n"
	                               "partitions: 0\n"
	                               "produce:\n"
	                               "  - {at: 1m, rate: 1}\n"
	                               "  - {at: 1m, rate: 2}\n"
	                               "  - {at: 2m, rate: -5}\n"
	                               "consumerOutages: [{from: 5m, to: 5m}]\n"
	                               "kafkaErrors: [1]\n"
	                               "scaler: {policy: {maxReplicas: 0},\n"
	                               "         kafka: {offsetResetPolicy: none}}\n"
	                               "bogus: 1\n",
	                               &s, &d),
	                 -EINVAL);
	ck_assert_ptr_eq(s, &sentinel);
	if (d.n != N(want))
		dump(&d);
	ck_assert_uint_eq(d.n, N(want));
	for (size_t i = 0; i < N(want); i++)
		ck_assert_str_eq(d.msgs[i], want[i]);
	ls_diag_release(&d);

	ls_diag_init(&d);
	ck_assert_int_eq(load_scenario("duration: 1m\npartitions: 1\nperReplicaRate: 1\n", &s, &d),
	                 -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msgs[0],
	                 "storm.yaml:1:1: produce: at least one point {at, rate} is required");
	ls_diag_release(&d);

	ls_diag_init(&d);
	ck_assert_int_eq(ls_scenario_load("/nonexistent/s.yaml", &s, &d), -ENOENT);
	ck_assert_ptr_eq(s, &sentinel);
	ck_assert_uint_eq(d.n, 1);
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_config_scenario_produce_rate)
{
	struct ls_scenario *s = NULL;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load_scenario(scenario_yaml, &s, &d), 0);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 0), 1000, 1e-9);
	/* Halfway up the ramp from 1000 to 10000 over 15 minutes. */
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 450000), 5500, 1e-9);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 15 * 60000), 10000, 1e-9);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 30 * 60000), 10000, 1e-9);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 45 * 60000 + 30000), 5500, 1e-9);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 46 * 60000), 1000, 1e-9);
	/* Constant past the last point (and before the first). */
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, 89 * 60000), 1000, 1e-9);
	ck_assert_double_eq_tol(ls_scenario_produce_rate(s, -1000), 1000, 1e-9);
	ls_scenario_free(s);
	ls_diag_release(&d);
}
END_TEST


/* --- LagScaler objects: kubernetes.lagScalers, watchNamespaces, specs ------------ */

START_TEST(test_config_lagscalers_keys)
{
	struct ls_config *cfg = NULL;
	struct ls_diag d;

	ls_diag_init(&d);
	/* A cluster and no scaler: the scalers may all be LagScalers. */
	ck_assert_int_eq(load(CLUSTER, &cfg, &d), 0);
	ck_assert(cfg->lag_scalers);
	ck_assert_uint_eq(cfg->n_scalers, 0);
	ck_assert_uint_eq(cfg->n_watch_namespaces, 0);
	ls_config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load(CLUSTER "kubernetes:\n  lagScalers: true\n  watchNamespaces: [shop, "
	                              "team-b]\n",
	                      &cfg, &d),
	                 0);
	ck_assert_uint_eq(cfg->n_watch_namespaces, 2);
	ck_assert_str_eq(cfg->watch_namespaces[0], "shop");
	ck_assert_str_eq(cfg->watch_namespaces[1], "team-b");
	ls_config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load(BASE "      {}\nkubernetes: {lagScalers: false, watchNamespaces: []}\n",
	                      &cfg, &d),
	                 0);
	ck_assert(!cfg->lag_scalers);
	ck_assert_uint_eq(cfg->n_watch_namespaces, 0);
	ck_assert_uint_eq(cfg->n_scalers, 1);
	ls_config_free(cfg);
	ck_assert_uint_eq(d.n, 0);
	ls_diag_release(&d);
}
END_TEST

#define TWO_CLUSTERS                                                                               \
	"kafka:\n  clusters:\n    - {name: main, bootstrapServers: \"k:9092\"}\n"                  \
	"    - {name: other, bootstrapServers: \"o:9092\"}\n"                                       \
	"defaults: {policy: {maxReplicas: 99}}\n"                                                  \
	"scalers:\n  - name: file\n"                                                               \
	"    target: {namespace: shop, name: taken}\n    kafka: {cluster: main, group: g}\n"

static const char good_spec[] =
    "{\"target\":{\"name\":\"order-consumer\"},\"kafka\":{\"cluster\":\"other\",\"group\":"
    "\"orders\",\"topics\":[\"orders\"],\"partitions\":\"0-3\"},\"policy\":{\"lagThreshold\":"
    "500,\"maxReplicas\":6,\"pollingInterval\":\"5s\",\"idleReplicas\":null,\"behavior\":{"
    "\"scaleDown\":{\"stabilizationWindow\":0}}}}";

/* Loads the spec as a LagScaler shop/orders of cfg, expecting the n messages (n 0: success). */
static struct ls_config_scaler *from_json(const struct ls_config *cfg, const char *spec,
                                          const char *const *want, size_t n)
{
	struct ls_config_scaler *s = NULL;
	struct ls_diag d;
	int r;

	ls_diag_init(&d);
	r = ls_config_scaler_from_json(cfg, "shop", "orders", spec, strlen(spec), &s, &d);
	if (d.n != n)
		dump(&d);
	ck_assert_uint_eq(d.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(d.msgs[i], want[i]);
	ck_assert_int_eq(r, n ? -EINVAL : 0);
	if (n)
		ck_assert_ptr_null(s);
	ls_diag_release(&d);
	return s;
}

START_TEST(test_config_lagscaler_spec)
{
	struct ls_config *cfg = NULL;
	struct ls_config_scaler *s;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load(TWO_CLUSTERS, &cfg, &d), 0);
	s = from_json(cfg, good_spec, NULL, 0);
	ck_assert_str_eq(s->name, "shop/orders");
	ck_assert_str_eq(s->target.namespace_, "shop");
	ck_assert_str_eq(s->target.name, "order-consumer");
	ck_assert_str_eq(s->target.api_version, "apps/v1");
	ck_assert_str_eq(s->target.kind, "Deployment");
	ck_assert_str_eq(s->kafka.cluster, "other");
	ck_assert_uint_eq(s->cluster_index, 1);
	ck_assert_uint_eq(s->kafka.n_topics, 1);
	ck_assert_uint_eq(s->kafka.partitions.n, 1);
	ck_assert_int_eq(s->policy.lag_threshold, 500);
	ck_assert_int_eq(s->policy.max_replicas, 6); /* the file's defaults do not apply */
	ck_assert_int_eq(s->policy.polling_interval_ms, 5000);
	ck_assert_int_eq(s->policy.scale_down.stabilization_window_ms, 0);
	ls_config_scaler_free(s);
	ls_config_scaler_free(NULL);

	/* The file's messages, with spec key paths instead of places. */
	{
		const char *want[] = {
		    "spec.kafka.cluster: no cluster named \"nope\" in kafka.clusters",
		};
		from_json(cfg, "{\"target\":{\"name\":\"d\"},\"kafka\":{\"cluster\":\"nope\","
		               "\"group\":\"g\"}}",
		          want, N(want));
	}
	{
		const char *want[] = {
		    "spec.kafka.cluster: required when more than one cluster is configured",
		};
		from_json(cfg, "{\"target\":{\"name\":\"d\"},\"kafka\":{\"group\":\"g\"}}", want,
		          N(want));
	}
	{
		const char *want[] = {
		    "spec.name: not allowed in a LagScaler: the scaler's name is the LagScaler's "
		    "metadata.name",
		    "spec.target.namespace: not allowed in a LagScaler: the target is in the "
		    "LagScaler's own namespace",
		    "spec.policy.maxReplicas: must be >= 1, got 0",
		    "spec.policy.minReplicaCount: unknown key (did you mean \"minReplicas\"? "
		    "minReplicaCount is KEDA's name)",
		};
		from_json(cfg, "{\"name\":\"x\",\"target\":{\"name\":\"d\",\"namespace\":\"other\"},"
		               "\"kafka\":{\"cluster\":\"main\",\"group\":\"g\"},\"policy\":{"
		               "\"maxReplicas\":0,\"minReplicaCount\":1}}",
		          want, N(want));
	}
	{
		const char *want[] = {
		    "spec.target.kind: \"Job\" of apiVersion batch/v1 has no /scale subresource "
		    "(KEDA runs Jobs with a ScaledJob, which creates Jobs); a target is a "
		    "Deployment, StatefulSet, ReplicaSet (apps/v1), ReplicationController (v1) or a "
		    "custom resource with a /scale subresource",
		    "spec.kafka.group: required",
		};
		from_json(cfg, "{\"target\":{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"name\":"
		               "\"d\"},\"kafka\":{\"cluster\":\"main\"}}",
		          want, N(want));
	}
	{
		const char *want[] = {"spec: expected a map, got a sequence"};

		from_json(cfg, "[1]", want, N(want));
	}
	/* ${env:} and ${file:} are not read from a LagScaler: the text is kept. */
	setenv("LS_TEST_SECRET", "s3cret", 1);
	s = from_json(cfg, "{\"target\":{\"name\":\"d\"},\"kafka\":{\"cluster\":\"main\","
	                   "\"group\":\"${env:LS_TEST_SECRET}\"}}",
	              NULL, 0);
	ck_assert_str_eq(s->kafka.group, "${env:LS_TEST_SECRET}");
	ls_config_scaler_free(s);
	ls_config_free(cfg);
	cfg = NULL;

	/* One cluster: kafka.cluster may be left out. */
	ck_assert_int_eq(load(CLUSTER, &cfg, &d), 0);
	s = from_json(cfg, "{\"target\":{\"name\":\"d\"},\"kafka\":{\"group\":\"g\"}}", NULL, 0);
	ck_assert_str_eq(s->kafka.cluster, "main");
	ck_assert_uint_eq(s->cluster_index, 0);
	ls_config_scaler_free(s);
	ls_config_free(cfg);
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_config_compose_one_owner)
{
	struct ls_config *cfg = NULL, *all = NULL;
	struct ls_config_scaler *a, *b, *c;
	const struct ls_config_scaler *extra[3];
	char *msgs[3];
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(load(TWO_CLUSTERS, &cfg, &d), 0);
	a = from_json(cfg, good_spec, NULL, 0);
	/* Same target as the file's scaler. */
	b = from_json(cfg, "{\"target\":{\"name\":\"taken\"},\"kafka\":{\"cluster\":\"main\","
	                   "\"group\":\"g\"}}",
	              NULL, 0);
	/* Same target as a (another version of the group: the same workload). */
	c = from_json(cfg, "{\"target\":{\"apiVersion\":\"apps/v1\",\"name\":\"order-consumer\"},"
	                   "\"kafka\":{\"cluster\":\"main\",\"group\":\"g2\"}}",
	              NULL, 0);
	extra[0] = a;
	extra[1] = b;
	extra[2] = c;
	ck_assert_int_eq(ls_config_compose(cfg, extra, 3, &all, msgs), 0);
	ck_assert_uint_eq(all->n_scalers, 2);
	ck_assert_str_eq(all->scalers[0].name, "file");
	ck_assert_str_eq(all->scalers[1].name, "shop/orders");
	ck_assert_ptr_ne(all->scalers[1].name, a->name); /* a copy */
	ck_assert(ls_config_scaler_equal(&all->scalers[1], a));
	ck_assert_uint_eq(all->scalers[1].kafka.partitions.n, 1);
	ck_assert_ptr_eq(all->clusters, cfg->clusters);
	ck_assert_ptr_null(msgs[0]);
	ck_assert_str_eq(msgs[1], "shop/Deployment/taken is already the target of scaler "
	                          "\"file\"; one scaler per workload (two would undo each other's "
	                          "replicas)");
	ck_assert_str_eq(msgs[2], "shop/Deployment/order-consumer is already the target of scaler "
	                          "\"shop/orders\"; one scaler per workload (two would undo each "
	                          "other's replicas)");
	free(msgs[1]);
	free(msgs[2]);
	/* The extras may go: the composition holds copies. */
	ls_config_scaler_free(a);
	ls_config_scaler_free(b);
	ls_config_scaler_free(c);
	ck_assert_str_eq(all->scalers[1].kafka.topics[0], "orders");
	ls_config_free(all);
	/* None: the file's scalers alone. */
	ck_assert_int_eq(ls_config_compose(cfg, NULL, 0, &all, NULL), 0);
	ck_assert_uint_eq(all->n_scalers, 1);
	ls_config_free(all);
	ls_config_free(cfg);
	ls_diag_release(&d);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config"), *fleet;

	tcase_add_test(tc, test_config_full);
	tcase_add_test(tc, test_config_lagscalers_keys);
	tcase_add_test(tc, test_config_lagscaler_spec);
	tcase_add_test(tc, test_config_compose_one_owner);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_metrics);
	tcase_add_test(tc, test_config_topics_optional);
	tcase_add_test(tc, test_config_policy_defaults);
	tcase_add_test(tc, test_config_null_means_default);
	tcase_add_test(tc, test_config_defaults_merge);
	tcase_add_test(tc, test_config_defaults_error_line);
	tcase_add_test(tc, test_config_defaults_cross_check);
	tcase_add_test(tc, test_config_substitution);
	tcase_add_test(tc, test_config_errors_never_show_substituted_values);
	tcase_add_test(tc, test_config_substitution_errors);
	tcase_add_test(tc, test_config_reads_regular_files_only);
	tcase_add_test(tc, test_config_policy_errors);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_several_errors);
	tcase_add_test(tc, test_config_aliases);
	tcase_add_test(tc, test_config_too_large);
	tcase_add_test(tc, test_config_load_file);
	tcase_add_test(tc, test_config_dir_merge);
	tcase_add_test(tc, test_config_dir_clusters);
	tcase_add_test(tc, test_config_dir_errors_name_file);
	tcase_add_test(tc, test_config_dir_sections);
	tcase_add_test(tc, test_config_target_kinds);
	tcase_add_test(tc, test_config_target_kind_from_defaults);
	tcase_add_test(tc, test_config_duplicate_targets);
	tcase_add_test(tc, test_config_dir_duplicate_targets);
	tcase_add_test(tc, test_config_keda_key_names);
	tcase_add_test(tc, test_config_fallback_keda_default);
	tcase_add_test(tc, test_config_dir_defaults_per_file);
	tcase_add_test(tc, test_config_dir_empty);
	tcase_add_test(tc, test_config_dir_file_too_large);
	tcase_add_test(tc, test_config_dir_file_substitution);
	tcase_add_test(tc, test_config_dir_reload);
	tcase_add_test(tc, test_config_scenario_full);
	tcase_add_test(tc, test_config_scenario_defaults);
	tcase_add_test(tc, test_config_scenario_limits);
	tcase_add_test(tc, test_config_overflowing_numbers_are_errors);
	tcase_add_test(tc, test_config_errors_are_capped);
	tcase_add_test(tc, test_config_scenario_errors);
	tcase_add_test(tc, test_config_scenario_produce_rate);
	suite_add_tcase(s, tc);
	/* 10,000 scalers take seconds under the sanitizers: a generous timeout. */
	fleet = tcase_create("fleet");
	tcase_set_timeout(fleet, 60);
	tcase_add_test(fleet, test_config_fleet);
	tcase_add_test(fleet, test_config_substitution_total_cap);
	tcase_add_test(fleet, test_config_long_string);
	suite_add_tcase(s, fleet);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
