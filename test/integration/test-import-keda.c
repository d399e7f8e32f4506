/*
 * test-import-keda.c - `lagscale import-keda` run as a binary on the KEDA
 * manifests of test/data/keda: its output passes `check-config`, every
 * mapped field is where it belongs (read back with lib/config), warnings
 * and exit codes are right, secrets are never printed, and an imported
 * ScaledObject makes the same dry-run decisions on the mock cluster as
 * the hand-written equivalent.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "config/config.h"
#include "kafka/mock.h"
#include "util/diag.h"
#include "util/yamltree.h"

static char mount_dir[] = "/tmp/lagscale-keda-XXXXXX";

/* A data file of test/data/keda. */
static char *data(const char *name)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", getenv("LS_KEDA_DATA"), name);
	return p;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, name), (int)sizeof(path));
	mkdir(dir, 0700);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* The Secrets of the test data, as a mounted Secret would lay them out. */
static void make_mounts(void)
{
	char d[512];

	ck_assert_ptr_nonnull(mkdtemp(mount_dir));
	snprintf(d, sizeof(d), "%s/secrets", mount_dir);
	mkdir(d, 0700);
	snprintf(d, sizeof(d), "%s/secrets/kafka-credentials", mount_dir);
	write_file(d, "username", "user-from-file\n");
	write_file(d, "password", "password-from-file\n");
	snprintf(d, sizeof(d), "%s/secrets/kafka-platform-user", mount_dir);
	write_file(d, "username", "platform\n");
	write_file(d, "password", "platform-password\n");
}

static void remove_mounts(void)
{
	const char *files[] = {"secrets/kafka-credentials/username",
	                       "secrets/kafka-credentials/password",
	                       "secrets/kafka-platform-user/username",
	                       "secrets/kafka-platform-user/password",
	                       "secrets/kafka-credentials",
	                       "secrets/kafka-platform-user",
	                       "secrets",
	                       ""};
	char path[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", mount_dir, files[i]);
		remove(path);
	}
}

/* Runs import-keda with --mount-dir; the output in a temp file (*ret_path). */
static void import(const char *const *files, const char *to, int want_status, struct ls_test_run *r,
                   char **ret_path)
{
	const char *args[16] = {"import-keda", "--mount-dir", mount_dir, "--to", to};
	size_t n = 5;

	for (size_t i = 0; files[i]; i++)
		args[n++] = files[i];
	args[n] = NULL;
	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, r), 0);
	ck_assert_msg(r->status == want_status, "exit %d, stderr: %s", r->status, r->err);
	if (ret_path) {
		*ret_path = ls_test_write_temp(r->out);
		ck_assert_ptr_nonnull(*ret_path);
	}
}

/* check-config on path, which must pass with this summary. */
static void check_config_ok(const char *path, const char *summary)
{
	const char *args[] = {"check-config", path, NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_msg(r.status == 0, "check-config exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, summary), "check-config said: %s", r.out);
	ls_test_run_release(&r);
}

static struct ls_config *load(const char *path)
{
	struct ls_config *cfg = NULL;
	struct ls_diag diag;
	int r;

	ls_diag_init(&diag);
	r = ls_config_load(path, &cfg, &diag);
	ck_assert_msg(r == 0, "load: %s", diag.n ? diag.msgs[0] : "?");
	ls_diag_release(&diag);
	return cfg;
}

static const char *prop(const struct ls_config_cluster *c, const char *key)
{
	for (size_t i = 0; i < c->n_props; i++)
		if (strcmp(c->props[i].key, key) == 0)
			return c->props[i].value;
	return NULL;
}

START_TEST(test_import_keda_basic)
{
	const char *files[] = {data("basic.yaml"), NULL};
	struct ls_test_run r;
	struct ls_config *cfg;
	const struct ls_config_scaler *s;
	char *out;

	import(files, "config", 0, &r, &out);
	ck_assert_str_eq(r.err, "");
	check_config_ok(out, "ok (1 cluster, 1 scaler)");
	cfg = load(out);
	ck_assert_str_eq(cfg->clusters[0].name, "invoice-scaler");
	ck_assert_str_eq(cfg->clusters[0].bootstrap_servers,
	                 "kafka-0.kafka:9092,kafka-1.kafka:9092");
	ck_assert_uint_eq(cfg->clusters[0].n_props, 0);
	s = ls_config_find_scaler(cfg, "invoice-scaler");
	ck_assert_ptr_nonnull(s);
	/* scaleTargetRef's defaults, as KEDA's: apps/v1 Deployment. */
	ck_assert_str_eq(s->target.api_version, "apps/v1");
	ck_assert_str_eq(s->target.kind, "Deployment");
	ck_assert_str_eq(s->target.namespace_, "billing");
	ck_assert_str_eq(s->target.name, "invoice-worker");
	ck_assert_str_eq(s->kafka.group, "invoice-writers");
	ck_assert_uint_eq(s->kafka.n_topics, 1);
	ck_assert_str_eq(s->kafka.topics[0], "invoices");
	ck_assert_uint_eq(s->kafka.partitions.n, 0);
	ck_assert_int_eq(s->kafka.offset_reset, LS_RESET_LATEST);
	/* KEDA's defaults where lagscale's differ. */
	ck_assert_int_eq(s->policy.lag_threshold, 50);
	ck_assert_int_eq(s->policy.activation_lag_threshold, 0);
	ck_assert_int_eq(s->policy.min_replicas, 0);
	ck_assert_int_eq(s->policy.max_replicas, 100);
	ck_assert_int_eq(s->policy.idle_replicas, -1);
	ck_assert_int_eq(s->policy.polling_interval_ms, 30000);
	ck_assert_int_eq(s->policy.cooldown_period_ms, 300000);
	ck_assert(!s->policy.allow_idle_consumers);
	ck_assert(s->policy.partition_aware);
	ls_config_free(cfg);
	unlink(out);
	free(out);
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_import_keda_fallback_behavior_idle)
{
	const char *files[] = {data("fallback-behavior-idle.yaml"), NULL};
	struct ls_test_run r;
	struct ls_config *cfg;
	const struct ls_config_scaler *s;
	const struct ls_policy_params *p;
	char *out;

	import(files, "config", 0, &r, &out);
	check_config_ok(out, "ok (1 cluster, 1 scaler)");
	cfg = load(out);
	s = ls_config_find_scaler(cfg, "clicks");
	ck_assert_ptr_nonnull(s);
	p = &s->policy;
	ck_assert_str_eq(s->target.kind, "StatefulSet");
	ck_assert_str_eq(s->target.namespace_, "analytics");
	ck_assert_str_eq(s->target.name, "click-aggregator");
	/* partitionLimitation "0,1,3-5". */
	ck_assert(ls_ranges_contain(&s->kafka.partitions, 0));
	ck_assert(ls_ranges_contain(&s->kafka.partitions, 1));
	ck_assert(!ls_ranges_contain(&s->kafka.partitions, 2));
	ck_assert(ls_ranges_contain(&s->kafka.partitions, 3));
	ck_assert(ls_ranges_contain(&s->kafka.partitions, 5));
	ck_assert(!ls_ranges_contain(&s->kafka.partitions, 6));
	ck_assert_int_eq(s->kafka.offset_reset, LS_RESET_EARLIEST);
	ck_assert_int_eq(p->lag_threshold, 200);
	ck_assert_int_eq(p->activation_lag_threshold, 20);
	ck_assert_int_eq(p->min_replicas, 2);
	ck_assert_int_eq(p->max_replicas, 8);
	ck_assert_int_eq(p->idle_replicas, 0);
	ck_assert_int_eq(p->polling_interval_ms, 10000);
	ck_assert_int_eq(p->cooldown_period_ms, 120000);
	ck_assert(!p->allow_idle_consumers);
	ck_assert(p->scale_to_zero_on_invalid_offset);
	ck_assert(p->exclude_persistent_lag);
	ck_assert(p->limit_to_partitions_with_lag);
	ck_assert(!p->even_distribution);
	ck_assert_int_eq(p->scale_up.stabilization_window_ms, 30000);
	ck_assert_int_eq(p->scale_up.select, LS_SELECT_MIN);
	ck_assert_uint_eq(p->scale_up.n_policies, 1);
	ck_assert_int_eq(p->scale_up.policies[0].type, LS_RATE_PODS);
	ck_assert_int_eq(p->scale_up.policies[0].value, 2);
	ck_assert_int_eq(p->scale_up.policies[0].period_ms, 60000);
	ck_assert_int_eq(p->scale_down.stabilization_window_ms, 600000);
	ck_assert_int_eq(p->scale_down.select, LS_SELECT_MAX);
	ck_assert_uint_eq(p->scale_down.n_policies, 1);
	ck_assert_int_eq(p->scale_down.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p->scale_down.policies[0].value, 50);
	ck_assert_int_eq(p->scale_down.policies[0].period_ms, 120000);
	/* KEDA: replicas without a behavior is the static fallback. */
	ck_assert_int_eq(p->fallback_failure_threshold, 4);
	ck_assert_int_eq(p->fallback_replicas, 3);
	ck_assert_int_eq(p->fallback_behavior, LS_FALLBACK_STATIC);
	ls_config_free(cfg);
	unlink(out);
	free(out);
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_import_keda_sasl_tls_secrets)
{
	const char *files[] = {data("sasl-tls.yaml"), NULL};
	struct ls_test_run r;
	struct ls_config *cfg;
	const struct ls_config_cluster *c;
	char *out, path[512];

	import(files, "config", 0, &r, &out);
	/* The Secret and the Deployment are skipped with a note each. */
	ck_assert_ptr_nonnull(
	    strstr(r.err, "sasl-tls.yaml:4:1: note: Secret shop/kafka-credentials"));
	ck_assert_ptr_nonnull(strstr(r.err, "sasl-tls.yaml:37:1: note: Deployment"));
	ck_assert_ptr_null(strstr(r.err, "warning"));
	/* A Secret's value is never printed; where to mount it is. */
	ck_assert_ptr_null(strstr(r.out, "not-a-real-password"));
	ck_assert_ptr_null(strstr(r.err, "not-a-real-password"));
	ck_assert_ptr_nonnull(strstr(r.out, "Secret \"kafka-tls\" (namespace shop)"));
	check_config_ok(out, "ok (1 cluster, 1 scaler)");
	cfg = load(out);
	c = &cfg->clusters[0];
	ck_assert_str_eq(c->name, "orders");
	ck_assert_str_eq(c->bootstrap_servers, "kafka.shop.svc:9093");
	ck_assert_str_eq(prop(c, "security.protocol"), "SASL_SSL");
	ck_assert_str_eq(prop(c, "sasl.mechanism"), "SCRAM-SHA-512");
	/* ${file:} read from the mounted Secret. */
	ck_assert_str_eq(prop(c, "sasl.username"), "user-from-file");
	ck_assert_str_eq(prop(c, "sasl.password"), "password-from-file");
	snprintf(path, sizeof(path), "%s/secrets/kafka-tls/ca.crt", mount_dir);
	ck_assert_str_eq(prop(c, "ssl.ca.location"), path);
	snprintf(path, sizeof(path), "%s/secrets/kafka-tls/tls.crt", mount_dir);
	ck_assert_str_eq(prop(c, "ssl.certificate.location"), path);
	snprintf(path, sizeof(path), "%s/secrets/kafka-tls/tls.key", mount_dir);
	ck_assert_str_eq(prop(c, "ssl.key.location"), path);
	ck_assert_int_eq(cfg->scalers[0].policy.lag_threshold, 100);
	ck_assert_int_eq(cfg->scalers[0].policy.activation_lag_threshold, 5);
	ck_assert_int_eq(cfg->scalers[0].policy.min_replicas, 1);
	ck_assert_int_eq(cfg->scalers[0].policy.max_replicas, 12);
	ls_config_free(cfg);
	unlink(out);
	free(out);
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_import_keda_shared_cluster)
{
	const char *files[] = {data("shared-cluster.yaml"), NULL};
	struct ls_test_run r;
	struct ls_config *cfg;
	const struct ls_config_scaler *pay, *audit;
	char *out;

	import(files, "config", 0, &r, &out);
	check_config_ok(out, "ok (1 cluster, 2 scalers)");
	cfg = load(out);
	ck_assert_uint_eq(cfg->n_clusters, 1);
	/* Named after the first ScaledObject that uses it. */
	ck_assert_str_eq(cfg->clusters[0].name, "payments");
	ck_assert_str_eq(prop(&cfg->clusters[0], "security.protocol"), "SASL_PLAINTEXT");
	ck_assert_str_eq(prop(&cfg->clusters[0], "sasl.mechanism"), "PLAIN");
	ck_assert_str_eq(prop(&cfg->clusters[0], "sasl.username"), "platform");
	pay = ls_config_find_scaler(cfg, "payments");
	audit = ls_config_find_scaler(cfg, "audit");
	ck_assert_ptr_nonnull(pay);
	ck_assert_ptr_nonnull(audit);
	ck_assert_str_eq(pay->kafka.cluster, "payments");
	ck_assert_str_eq(audit->kafka.cluster, "payments");
	ck_assert_int_eq(pay->policy.max_replicas, 6);
	/* No topic: every topic the group committed to. */
	ck_assert_uint_eq(audit->kafka.n_topics, 0);
	ck_assert_ptr_null(audit->kafka.topic_pattern);
	ck_assert_int_eq(audit->policy.min_replicas, 1);
	ck_assert_str_eq(audit->target.namespace_, "compliance");
	ls_config_free(cfg);
	unlink(out);
	free(out);
	ls_test_run_release(&r);

	/* Two inputs with the same cluster and another: two clusters. */
	{
		const char *two[] = {data("shared-cluster.yaml"), data("basic.yaml"), NULL};

		import(two, "config", 0, &r, &out);
		check_config_ok(out, "ok (2 clusters, 3 scalers)");
		unlink(out);
		free(out);
		ls_test_run_release(&r);
	}
}
END_TEST

START_TEST(test_import_keda_warnings_exit_3)
{
	const char *files[] = {data("cron-mixed.yaml"), NULL};
	struct ls_test_run r;
	char *out;

	import(files, "config", 3, &r, &out);
	/* The kafka trigger is mapped; the cron trigger is named at its line. */
	ck_assert_msg(strstr(r.err, "cron-mixed.yaml:15:7: warning: ScaledObject finance/reports: "
	                            "spec.triggers[0]: cron trigger not mapped"),
	              "%s", r.err);
	/* The pause moves to the target: the exact command. */
	ck_assert_msg(strstr(r.err, "cron-mixed.yaml:10:5: warning: ") &&
	                  strstr(r.err,
	                         "kubectl annotate -n finance deployment.apps/report-builder "
	                         "lagscale.io/paused-replicas=2"),
	              "%s", r.err);
	check_config_ok(out, "ok (1 cluster, 1 scaler)");
	unlink(out);
	free(out);
	ls_test_run_release(&r);
}
END_TEST

/* Problems of a single ScaledObject written inline: exit 3 and the reason. */
static void expect_warning(const char *yaml, const char *want)
{
	char *in = ls_test_write_temp(yaml);
	const char *files[] = {in, NULL};
	struct ls_test_run r;

	import(files, "config", 3, &r, NULL);
	ck_assert_msg(strstr(r.err, want), "want \"%s\" in: %s", want, r.err);
	ck_assert_ptr_null(strstr(r.out, "s3cret"));
	ck_assert_ptr_null(strstr(r.err, "s3cret"));
	ls_test_run_release(&r);
	unlink(in);
	free(in);
}

#define SO_HEAD                                                                                    \
	"apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a, namespace: n}\n"    \
	"spec:\n  scaleTargetRef: {name: t}\n"

START_TEST(test_import_keda_unmappable)
{
	expect_warning(
	    SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	            "k:9092, consumerGroup: g, topic: t, sasl: gssapi}\n",
	    ":8:76: warning: ScaledObject n/a: sasl: gssapi (Kerberos) is not supported");
	expect_warning(
	    SO_HEAD "  advanced:\n    scalingModifiers: {formula: x}\n"
	            "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	            "k:9092, consumerGroup: g}\n",
	    ":7:5: warning: ScaledObject n/a: spec.advanced.scalingModifiers: not mapped");
	expect_warning(SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	                       "k:9092, consumerGroup: g, lagTreshold: '5'}\n",
	               "metadata.lagTreshold: not a kafka trigger parameter");
	expect_warning(
	    SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	            "k:9092, consumerGroup: g, topic: a}\n  - type: kafka\n"
	            "    metadata: {bootstrapServers: k:9092, consumerGroup: g, topic: b}\n",
	    ":9:5: warning: ScaledObject n/a: spec.triggers[1]: kafka trigger not mapped");
	/* No namespace: "default", said so. */
	expect_warning("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\n"
	               "spec:\n  scaleTargetRef: {name: t}\n  triggers:\n  - type: kafka\n"
	               "    metadata: {bootstrapServers: k:9092, consumerGroup: g}\n",
	               "metadata.namespace is missing");
	/* sasl from a Secret: its value is unknown, so the mechanism is left to the user. */
	expect_warning("apiVersion: v1\nkind: Secret\nmetadata: {name: mode, namespace: n}\n"
	               "stringData: {sasl: s3cret}\n---\n"
	               "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n"
	               "metadata: {name: au, namespace: n}\nspec:\n  secretTargetRef:\n"
	               "  - {parameter: sasl, name: mode, key: sasl}\n---\n" SO_HEAD
	               "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: k:9092, "
	               "consumerGroup: g}\n    authenticationRef: {name: au}\n",
	               "sasl comes from a Secret");
	/* A reference to a TriggerAuthentication that is not in the input. */
	expect_warning(SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	                       "k:9092, consumerGroup: g}\n    authenticationRef: {name: nope}\n",
	               "TriggerAuthentication n/nope is not in the input");
}
END_TEST

/* Runs import-keda (default mount dir) on inline YAML; stdout and stderr. */
static void import_text(const char *yaml, int want_status, struct ls_test_run *r)
{
	char *in = ls_test_write_temp(yaml);
	const char *args[] = {"import-keda", in, NULL};

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, r), 0);
	ck_assert_msg(r->status == want_status, "exit %d: %s", r->status, r->err);
	unlink(in);
	free(in);
}

START_TEST(test_import_keda_oauth_msk_unsafe)
{
	struct ls_test_run r;

	/* OAUTHBEARER: KEDA's client credentials become librdkafka's OIDC. */
	import_text("apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n"
	            "metadata: {name: oa, namespace: n}\nspec:\n  secretTargetRef:\n"
	            "  - {parameter: username, name: idp, key: id}\n"
	            "  - {parameter: password, name: idp, key: secret}\n"
	            "  - {parameter: oauthTokenEndpointUri, name: idp, key: url}\n"
	            "  - {parameter: ca, name: ca, key: ca.crt}\n---\n" SO_HEAD
	            "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: k:9093, "
	            "consumerGroup: g, sasl: oauthbearer, tls: enable, unsafeSsl: 'true'}\n"
	            "    authenticationRef: {name: oa}\n",
	            0, &r);
	ck_assert_msg(
	    strstr(r.out,
	           "        security.protocol: SASL_SSL\n"
	           "        sasl.mechanism: OAUTHBEARER\n"
	           "        sasl.oauthbearer.method: oidc\n"
	           "        sasl.oauthbearer.client.id: \"${file:/etc/lagscale/secrets/idp/id}\"\n"
	           "        sasl.oauthbearer.client.secret: "
	           "\"${file:/etc/lagscale/secrets/idp/secret}\"\n"
	           "        sasl.oauthbearer.token.endpoint.url: "
	           "\"${file:/etc/lagscale/secrets/idp/url}\"\n"
	           "        ssl.ca.location: /etc/lagscale/secrets/ca/ca.crt\n"
	           "        enable.ssl.certificate.verification: \"false\"\n"),
	    "%s", r.out);
	ls_test_run_release(&r);

	/* AWS MSK IAM: the region; credentials are lagscale's own. */
	import_text(SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: "
	                    "b-1.x:9098, consumerGroup: g, topic: t, sasl: oauthbearer, "
	                    "saslTokenProvider: aws_msk_iam, awsRegion: eu-west-1, tls: enable}\n",
	            0, &r);
	ck_assert_msg(strstr(r.out, "        security.protocol: SASL_SSL\n"
	                            "        sasl.mechanism: AWS_MSK_IAM\n"
	                            "        aws.region: eu-west-1\n"),
	              "%s", r.out);
	ls_test_run_release(&r);

	/* scram_sha256 without TLS. */
	import_text("apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n"
	            "metadata: {name: sc, namespace: n}\nspec:\n  secretTargetRef:\n"
	            "  - {parameter: username, name: u, key: user}\n"
	            "  - {parameter: password, name: u, key: pass}\n---\n" SO_HEAD
	            "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: k:9092, "
	            "consumerGroup: g, sasl: scram_sha256}\n    authenticationRef: {name: sc}\n",
	            0, &r);
	ck_assert_msg(strstr(r.out, "        security.protocol: SASL_PLAINTEXT\n"
	                            "        sasl.mechanism: SCRAM-SHA-256\n"),
	              "%s", r.out);
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_import_keda_names)
{
	struct ls_test_run r;
	static const char so_m[] =
	    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a, namespace: m}\n"
	    "spec:\n  scaleTargetRef: {name: t}\n  triggers:\n  - type: kafka\n"
	    "    metadata: {bootstrapServers: k:9092, consumerGroup: g}\n";
	static const char so_n[] =
	    SO_HEAD "  triggers:\n  - type: kafka\n    metadata: {bootstrapServers: k:9092, "
	            "consumerGroup: g}\n";
	char text[2048];

	/* One name in two namespaces: NAMESPACE.NAME, one cluster. */
	snprintf(text, sizeof(text), "%s---\n%s", so_m, so_n);
	import_text(text, 0, &r);
	ck_assert_ptr_nonnull(strstr(r.out, "  - name: m.a\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "  - name: n.a\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "    - name: m.a\n"));
	ck_assert_ptr_null(strstr(r.out, "    - name: n.a\n"));
	ls_test_run_release(&r);
	/* The same object twice: the second is a warning. */
	snprintf(text, sizeof(text), "%s---\n%s", so_n, so_n);
	import_text(text, 3, &r);
	ck_assert_ptr_nonnull(strstr(r.err, ":10:1: warning: ScaledObject n/a: not mapped: already "
	                                    "read at "));
	ck_assert_ptr_nonnull(strstr(r.out, "  - name: a\n"));
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_import_keda_bad_input_exit_2)
{
	char *notyaml = ls_test_write_temp("a: [1, 2\n");
	char *deploy =
	    ls_test_write_temp("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
	char *scalar = ls_test_write_temp("just text\n");
	const char *cases[][2] = {
	    {notyaml, ":2:1: did not find expected ',' or ']'"},
	    {"/nonexistent/so.yaml", "/nonexistent/so.yaml: cannot read"},
	    {deploy, "no KEDA ScaledObject in the input"},
	    {scalar, ":1:1: not a Kubernetes object"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *files[] = {cases[i][0], NULL};
		struct ls_test_run r;

		import(files, "config", 2, &r, NULL);
		ck_assert_msg(strstr(r.err, cases[i][1]), "want \"%s\" in: %s", cases[i][1], r.err);
		ck_assert_str_eq(r.out, "");
		ls_test_run_release(&r);
	}
	{
		const char *args[] = {"import-keda", "--to", "hpa", deploy, NULL};
		struct ls_test_run r;

		ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
		ck_assert_int_eq(r.status, 2);
		ck_assert_ptr_nonnull(strstr(r.err, "--to: expected config or lagscaler"));
		ls_test_run_release(&r);
	}
	unlink(notyaml);
	unlink(deploy);
	unlink(scalar);
	free(notyaml);
	free(deploy);
	free(scalar);
}
END_TEST

START_TEST(test_import_keda_lagscaler_manifests)
{
	const char *files[] = {data("shared-cluster.yaml"), NULL};
	struct ls_test_run r;
	struct ls_report rep;
	struct ls_node **docs = NULL;
	size_t n = 0, k = 0;
	const char *want_ns[] = {"pay", "compliance"}, *want_name[] = {"payments", "audit"};

	import(files, "lagscaler", 0, &r, NULL);
	/* The clusters for the controller's config, as a comment. */
	ck_assert_ptr_nonnull(
	    strstr(r.out, "#   kafka:\n#     clusters:\n#       - name: payments\n"));
	ls_report_init(&rep, "out");
	ck_assert_int_eq(ls_node_parse_stream(&rep, r.out, strlen(r.out), NULL, &docs, &n), 0);
	ck_assert(!ls_report_failed(&rep));
	for (size_t i = 0; i < n; i++) {
		const struct ls_node *d = docs[i], *md, *spec, *t;

		if (!d)
			continue;
		ck_assert_uint_lt(k, 2);
		ck_assert_str_eq(ls_node_get(d, "apiVersion")->value, "lagscale.io/v1alpha1");
		ck_assert_str_eq(ls_node_get(d, "kind")->value, "LagScaler");
		md = ls_node_get(d, "metadata");
		ck_assert_str_eq(ls_node_get(md, "name")->value, want_name[k]);
		ck_assert_str_eq(ls_node_get(md, "namespace")->value, want_ns[k]);
		spec = ls_node_get(d, "spec");
		t = ls_node_get(spec, "target");
		/* The target is in the object's namespace: none written. */
		ck_assert_ptr_null(ls_node_get(t, "namespace"));
		ck_assert_ptr_null(ls_node_get(spec, "name"));
		ck_assert_str_eq(ls_node_get(ls_node_get(spec, "kafka"), "cluster")->value,
		                 "payments");
		ck_assert_ptr_nonnull(ls_node_get(spec, "policy"));
		k++;
	}
	ck_assert_uint_eq(k, 2);
	ls_node_stream_free(docs, n);
	ls_report_release(&rep);
	ls_test_run_release(&r);
}
END_TEST

/*
 * A LagScaler takes no ${env:NAME} (the CRD refuses it: it would read the
 * controller's environment), so a ScaledObject whose group or topic comes
 * from the environment is not mapped to one; the others still are. With
 * --to config the same input maps to ${env:NAME}.
 */
START_TEST(test_import_keda_lagscaler_from_env)
{
	char *in = ls_test_write_temp(
	    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
	    "metadata: {name: by-env, namespace: n}\n"
	    "spec:\n  scaleTargetRef: {name: t}\n  triggers:\n  - type: kafka\n"
	    "    metadata: {bootstrapServers: 'k:9092', consumerGroupFromEnv: GROUP, topic: x}\n"
	    "---\n"
	    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
	    "metadata: {name: topic-env, namespace: n}\n"
	    "spec:\n  scaleTargetRef: {name: u}\n  triggers:\n  - type: kafka\n"
	    "    metadata: {bootstrapServers: 'k:9092', consumerGroup: g, topicFromEnv: TOPIC}\n"
	    "---\n"
	    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
	    "metadata: {name: plain, namespace: n}\n"
	    "spec:\n  scaleTargetRef: {name: v}\n  triggers:\n  - type: kafka\n"
	    "    metadata: {bootstrapServers: 'k:9092', consumerGroup: g2, topic: y}\n");
	const char *files[] = {in, NULL};
	struct ls_test_run r;

	import(files, "lagscaler", 3, &r, NULL);
	ck_assert_ptr_nonnull(strstr(r.err, "ScaledObject n/by-env: not mapped: "
	                                    "consumerGroupFromEnv: a LagScaler cannot read GROUP"));
	ck_assert_ptr_nonnull(strstr(r.err, "ScaledObject n/topic-env: not mapped: "
	                                    "topicFromEnv: a LagScaler cannot read TOPIC"));
	ck_assert_ptr_null(strstr(r.out, "${env:"));
	ck_assert_ptr_null(strstr(r.out, "name: by-env"));
	ck_assert_ptr_null(strstr(r.out, "name: topic-env"));
	ck_assert_ptr_nonnull(strstr(r.out, "  name: plain\n"));
	ls_test_run_release(&r);

	import(files, "config", 3, &r, NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "group: \"${env:GROUP}\""));
	ck_assert_ptr_nonnull(strstr(r.out, "topics: [\"${env:TOPIC}\"]"));
	ls_test_run_release(&r);
	unlink(in);
	free(in);
}
END_TEST

START_TEST(test_import_keda_stdin_and_list)
{
	/* `kubectl get scaledobjects -o yaml` gives a List, here on stdin. */
	char *in = ls_test_write_temp(
	    "apiVersion: v1\nkind: List\nitems:\n"
	    "- apiVersion: keda.sh/v1alpha1\n  kind: ScaledObject\n"
	    "  metadata: {name: from-list, namespace: n}\n"
	    "  spec:\n    scaleTargetRef: {name: t}\n    triggers:\n    - type: kafka\n"
	    "      metadata: {bootstrapServers: 'k:9092', consumerGroup: g, topic: x}\n");
	const char *args[] = {"import-keda", "-", NULL};
	struct ls_test_run r;
	int saved = dup(0), fd = open(in, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	dup2(fd, 0);
	close(fd);
	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	dup2(saved, 0);
	close(saved);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "  - name: from-list\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "(<stdin>:4)"));
	ls_test_run_release(&r);
	unlink(in);
	free(in);
}
END_TEST

/* The dry-run comparison: the mock cluster of test-lag.c, smaller. */
static struct ls_kafka_mock *mock;

static void setup_mock(void)
{
	struct ls_kafka_mock_offset partial[3];

	ck_assert_int_eq(ls_kafka_mock_new(3, &mock), 0);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "orders", 6), 0);
	for (int p = 0; p < 6; p++)
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "orders", p, 100 + 10 * p, 0), 0);
	ck_assert_int_eq(ls_kafka_mock_flush(mock, 10000), 0);
	for (int p = 0; p < 3; p++)
		partial[p] = (struct ls_kafka_mock_offset){"orders", p, 40 + p};
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "g-partial", partial, 3), 0);
}

/* Runs `run --dry-run --once --output json` on cfg: one decision per scaler. */
static cJSON *decisions(const char *cfg)
{
	const char *args[] = {"run",    "--config", cfg,    "--dry-run",
	                      "--once", "--output", "json", NULL};
	struct ls_test_run r;
	cJSON *all = cJSON_CreateArray();
	char *line, *nl;

	ck_assert_int_eq(ls_test_run_lagscale(args, 60000, &r), 0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	for (line = r.out; *line; line = nl + 1) {
		cJSON *j;

		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		j = cJSON_Parse(line);
		ck_assert_msg(j != NULL, "not JSON: %s", line);
		cJSON_AddItemToArray(all, j);
	}
	ls_test_run_release(&r);
	return all;
}

static const cJSON *by_scaler(const cJSON *all, const char *name)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, all)
	{
		if (strcmp(cJSON_GetObjectItem(d, "scaler")->valuestring, name) == 0)
			return d;
	}
	ck_abort_msg("no decision for %s", name);
	return NULL;
}

START_TEST(test_import_keda_same_dry_run_decisions)
{
	/* Two ScaledObjects: one with its own settings, one with KEDA's
	 * defaults only (lagThreshold 10, minReplicaCount 0, maxReplicaCount
	 * 100), on group g-partial: committed p0..p2, and 1 on each
	 * uncommitted partition under latest. */
	char so[2048], hand[2048];
	char *so_path, *hand_path, *imported;
	const char *files[2] = {NULL, NULL};
	struct ls_test_run r;
	cJSON *a, *b;
	const char *names[] = {"orders", "orders-defaults"};
	FILE *f;

	snprintf(so, sizeof(so),
	         "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
	         "metadata: {name: orders, namespace: shop}\n"
	         "spec:\n  scaleTargetRef: {name: c}\n  minReplicaCount: 1\n  maxReplicaCount: 24\n"
	         "  triggers:\n  - type: kafka\n    metadata:\n"
	         "      bootstrapServers: \"%s\"\n      consumerGroup: g-partial\n"
	         "      topic: orders\n      lagThreshold: \"50\"\n"
	         "---\n"
	         "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
	         "metadata: {name: orders-defaults, namespace: shop}\n"
	         "spec:\n  scaleTargetRef: {name: d}\n"
	         "  triggers:\n  - type: kafka\n    metadata:\n"
	         "      bootstrapServers: \"%s\"\n      consumerGroup: g-partial\n"
	         "      topic: orders\n",
	         ls_kafka_mock_bootstraps(mock), ls_kafka_mock_bootstraps(mock));
	snprintf(hand, sizeof(hand),
	         "kafka:\n  clusters:\n    - {name: mock, bootstrapServers: \"%s\"}\n"
	         "server: {address: \"127.0.0.1:0\"}\n"
	         "scalers:\n"
	         "  - name: orders\n"
	         "    target: {namespace: shop, name: c}\n"
	         "    kafka: {cluster: mock, group: g-partial, topics: [orders]}\n"
	         "    policy: {lagThreshold: 50, minReplicas: 1, maxReplicas: 24,\n"
	         "             pollingInterval: 30s}\n"
	         "  - name: orders-defaults\n"
	         "    target: {namespace: shop, name: d}\n"
	         "    kafka: {cluster: mock, group: g-partial, topics: [orders]}\n"
	         "    policy: {lagThreshold: 10, minReplicas: 0, maxReplicas: 100,\n"
	         "             pollingInterval: 30s}\n",
	         ls_kafka_mock_bootstraps(mock));
	so_path = ls_test_write_temp(so);
	hand_path = ls_test_write_temp(hand);
	files[0] = so_path;
	import(files, "config", 0, &r, NULL);
	/* The imported config, with a metrics address that cannot collide. */
	imported = ls_test_write_temp(r.out);
	f = fopen(imported, "a");
	fputs("server: {address: \"127.0.0.1:0\"}\n", f);
	fclose(f);
	ls_test_run_release(&r);

	a = decisions(imported);
	b = decisions(hand_path);
	ck_assert_int_eq(cJSON_GetArraySize(a), 2);
	ck_assert_int_eq(cJSON_GetArraySize(b), 2);
	for (int i = 0; i < 2; i++) {
		const cJSON *x = by_scaler(a, names[i]), *y = by_scaler(b, names[i]);
		const char *fields[] = {"target",          "currentReplicas", "recommendedReplicas",
		                        "desiredReplicas", "totalLag",        "partitionCount",
		                        "action",          "reason"};

		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			char *p = cJSON_PrintUnformatted(cJSON_GetObjectItem(x, fields[k]));
			char *q = cJSON_PrintUnformatted(cJSON_GetObjectItem(y, fields[k]));

			ck_assert_msg(p && q && strcmp(p, q) == 0, "%s %s: imported %s, hand %s",
			              names[i], fields[k], p, q);
			free(p);
			free(q);
		}
	}
	/* And the numbers are the ones worked out: 60 + 69 + 78 + 3 = 210
	 * messages; at 10 each 21 replicas, capped at the 6 partitions. */
	ck_assert_int_eq(cJSON_GetObjectItem(by_scaler(a, "orders"), "totalLag")->valueint, 210);
	ck_assert_int_eq(
	    cJSON_GetObjectItem(by_scaler(a, "orders-defaults"), "recommendedReplicas")->valueint,
	    6);
	cJSON_Delete(a);
	cJSON_Delete(b);
	unlink(so_path);
	unlink(hand_path);
	unlink(imported);
	free(so_path);
	free(hand_path);
	free(imported);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integration-import-keda");
	TCase *tc = tcase_create("import");
	TCase *tm = tcase_create("mock");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, make_mounts, remove_mounts);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_import_keda_basic);
	tcase_add_test(tc, test_import_keda_fallback_behavior_idle);
	tcase_add_test(tc, test_import_keda_sasl_tls_secrets);
	tcase_add_test(tc, test_import_keda_shared_cluster);
	tcase_add_test(tc, test_import_keda_warnings_exit_3);
	tcase_add_test(tc, test_import_keda_unmappable);
	tcase_add_test(tc, test_import_keda_names);
	tcase_add_test(tc, test_import_keda_oauth_msk_unsafe);
	tcase_add_test(tc, test_import_keda_bad_input_exit_2);
	tcase_add_test(tc, test_import_keda_lagscaler_manifests);
	tcase_add_test(tc, test_import_keda_lagscaler_from_env);
	tcase_add_test(tc, test_import_keda_stdin_and_list);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tm, setup_mock, NULL);
	tcase_set_timeout(tm, 180);
	tcase_add_test(tm, test_import_keda_same_dry_run_decisions);
	suite_add_tcase(s, tm);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	ls_kafka_mock_free(mock);
	return failed ? 1 : 0;
}
