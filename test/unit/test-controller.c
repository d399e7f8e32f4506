/*
 * test-controller.c - the parts of lib/controller that can run without a
 * cluster or a broker: the LagScalers' status writer (status.h) with a fake
 * sink in place of the API server: what is written, that nothing is
 * rewritten when nothing changed, at most once an interval, only when
 * allowed, condition transition times, one Event per distinct error,
 * statuses seeded from the object, failed writes tried again.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "controller/objects.h"
#include "controller/status.h"
#include "kube/kube.h"
#include "util/clock.h"

#define MAX_SEEN 32

struct fake {
	char *bodies[MAX_SEEN];
	char *paths[MAX_SEEN];
	void *tags[MAX_SEEN];
	size_t patches;
	char *events[MAX_SEEN]; /* "REASON: NOTE" */
	char *event_uid[MAX_SEEN];
	size_t nevents;
	int fail; /* non-zero: patch returns this */
};

static int fake_patch(void *ud, const struct ls_kube_target *t, const char *path, const char *body,
                      void *tag)
{
	struct fake *f = ud;

	if (f->fail)
		return f->fail;
	ck_assert_uint_lt(f->patches, MAX_SEEN);
	ck_assert_str_eq(t->kind, "LagScaler");
	f->bodies[f->patches] = strdup(body);
	f->paths[f->patches] = strdup(path);
	f->tags[f->patches] = tag;
	f->patches++;
	return 0;
}

static void fake_event(void *ud, const struct ls_kube_target *t, const char *uid,
                       const char *reason, const char *note, const char *log_name)
{
	struct fake *f = ud;
	char buf[1024];

	ck_assert_uint_lt(f->nevents, MAX_SEEN);
	ck_assert_str_eq(t->api_version, "lagscale.io/v1alpha1");
	snprintf(buf, sizeof(buf), "%s: %s", reason, note);
	f->events[f->nevents] = strdup(buf);
	f->event_uid[f->nevents] = strdup(uid ? uid : "");
	f->nevents++;
}

static void fake_release(struct fake *f)
{
	for (size_t i = 0; i < f->patches; i++) {
		free(f->bodies[i]);
		free(f->paths[i]);
	}
	for (size_t i = 0; i < f->nevents; i++) {
		free(f->events[i]);
		free(f->event_uid[i]);
	}
	memset(f, 0, sizeof(*f));
}

static struct ls_status *writer(struct fake *f)
{
	struct ls_status_sink sink = {fake_patch, fake_event, f};
	struct ls_status *st = NULL;

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(ls_status_new(&sink, &st), 0);
	return st;
}

/* An object "shop/orders" with a scaler polled every interval_ms (or, with
 * error, none). Strings are the test's; not freed by the code. */
static struct ls_object object(const char *name, int64_t gen, struct ls_config_scaler *sc,
                               const char *error, const char *status_json)
{
	static char keys[4][64];
	static int k;
	struct ls_object o;

	memset(&o, 0, sizeof(o));
	k = (k + 1) % 4;
	snprintf(keys[k], sizeof(keys[k]), "shop/%s", name);
	o.key = keys[k];
	o.namespace_ = (char *)"shop";
	o.name = (char *)name;
	snprintf(o.uid, sizeof(o.uid), "uid-%s", name);
	o.generation = gen;
	o.created = (char *)"";
	o.scaler = sc;
	o.error = (char *)error;
	o.status_json = (char *)status_json;
	return o;
}

static struct ls_decision decision(int32_t cur, int32_t rec, int32_t des, int64_t lag,
                                   const char *reason)
{
	struct ls_decision d;

	ls_decision_init(&d, cur);
	d.recommended_replicas = rec;
	d.desired_replicas = des;
	d.total_lag = lag;
	d.partition_count = 12;
	d.active = lag > 0;
	d.action = des > cur ? LS_ACTION_SCALE_UP : LS_ACTION_NONE;
	snprintf(d.reason, sizeof(d.reason), "%s", reason);
	return d;
}

static const struct ls_status_outcome ok_outcome = {.lag_seconds = 12.34, .polling_ms = 2000};

START_TEST(test_controller_status_written_when_changed)
{
	struct fake f;
	struct ls_status *st = writer(&f);
	struct ls_config_scaler sc = {.policy = {.polling_interval_ms = 2000}};
	struct ls_object o = object("orders", 3, &sc, NULL, NULL);
	struct ls_decision d = decision(1, 3, 3, 60, "lag 60 over threshold 20");
	struct ls_status_stats s;

	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	/* A decision, then the first write at once. */
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529200000LL);
	ls_status_decided(st, "shop/none", &d, &ok_outcome, 1764529200000LL); /* ignored */
	ls_status_flush(st, false, 1000); /* not the leader: nothing */
	ck_assert_uint_eq(f.patches, 0);
	ls_status_flush(st, true, 1000);
	ck_assert_uint_eq(f.patches, 1);
	ck_assert_str_eq(f.paths[0],
	                 "/apis/lagscale.io/v1alpha1/namespaces/shop/lagscalers/orders/status");
	ck_assert_str_eq(
	    f.bodies[0],
	    "{\"status\":{\"observedGeneration\":3,\"currentReplicas\":1,\"recommendedReplicas\":3,"
	    "\"desiredReplicas\":3,\"totalLag\":60,\"partitionCount\":12,\"lagSeconds\":12.3,"
	    "\"reason\":\"lag 60 over threshold 20\",\"conditions\":["
	    "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Decided\",\"message\":\"lag 60 "
	    "over threshold 20\",\"lastTransitionTime\":\"2025-11-30T19:00:00Z\","
	    "\"observedGeneration\":3},"
	    "{\"type\":\"Active\",\"status\":\"True\",\"reason\":\"LagAboveActivation\","
	    "\"message\":"
	    "\"the lag is above activationLagThreshold\",\"lastTransitionTime\":"
	    "\"2025-11-30T19:00:00Z\",\"observedGeneration\":3},"
	    "{\"type\":\"Fallback\",\"status\":\"False\",\"reason\":\"NoFallback\",\"message\":"
	    "\"the fallback is not active\",\"lastTransitionTime\":\"2025-11-30T19:00:00Z\","
	    "\"observedGeneration\":3},"
	    "{\"type\":\"Paused\",\"status\":\"False\",\"reason\":\"NotPaused\",\"message\":\"the "
	    "target is not paused\",\"lastTransitionTime\":\"2025-11-30T19:00:00Z\","
	    "\"observedGeneration\":3}]}}");
	ls_status_patch_done(st, f.tags[0], 0, "");
	/* The same decision, later: nothing to write, however often. */
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529260000LL);
	ls_status_flush(st, true, 5000);
	ls_status_flush(st, true, 9000);
	ck_assert_uint_eq(f.patches, 1);
	/* A change within the interval waits for it. */
	d = decision(3, 4, 4, 80, "lag 80 over threshold 20");
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529262000LL);
	ls_status_flush(st, true, 9500);
	ck_assert_uint_eq(f.patches, 2); /* 4.5 s since the last write: due */
	ls_status_patch_done(st, f.tags[1], 0, "");
	d = decision(4, 5, 5, 90, "lag 90 over threshold 20");
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529263000LL);
	ls_status_flush(st, true, 10000);
	ck_assert_uint_eq(f.patches, 2);
	ls_status_flush(st, true, 11499);
	ck_assert_uint_eq(f.patches, 2);
	ls_status_flush(st, true, 11500);
	ck_assert_uint_eq(f.patches, 3);
	ck_assert_ptr_nonnull(strstr(f.bodies[2], "\"desiredReplicas\":5"));
	/* Ready stayed True: its transition time did not move. */
	ck_assert_ptr_nonnull(strstr(f.bodies[2], "\"reason\":\"Decided\",\"message\":\"lag 90 "
	                                          "over threshold 20\",\"lastTransitionTime\":"
	                                          "\"2025-11-30T19:00:00Z\""));
	/* A failed write is tried again at the next flush after the interval. */
	ls_status_patch_done(st, f.tags[2], -EIO, "HTTP 500");
	ls_status_flush(st, true, 13500);
	ck_assert_uint_eq(f.patches, 4);
	ck_assert_str_eq(f.bodies[3], f.bodies[2]);
	ls_status_patch_done(st, f.tags[3], 0, "");
	ls_status_stats(st, &s);
	ck_assert_uint_eq(s.writes, 4);
	ck_assert_uint_eq(s.failures, 1);
	ck_assert_uint_eq(s.events, 0);
	/* A new generation is a change. */
	o.generation = 4;
	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	ls_status_flush(st, true, 20000);
	ck_assert_uint_eq(f.patches, 5);
	ck_assert_ptr_nonnull(strstr(f.bodies[4], "{\"status\":{\"observedGeneration\":4,"));
	ck_assert_ptr_null(strstr(f.bodies[4], "lastScaleTime"));
	ls_status_scaled(st, "shop/orders", 1764529300000LL);
	ls_status_patch_done(st, f.tags[4], 0, "");
	ls_status_flush(st, true, 30000);
	ck_assert_uint_eq(f.patches, 6);
	ck_assert_ptr_nonnull(strstr(f.bodies[5], "\"lastScaleTime\":\"2025-11-30T19:01:40Z\""));
	ls_status_free(st);
	fake_release(&f);
}
END_TEST

START_TEST(test_controller_status_errors_and_events)
{
	struct fake f;
	struct ls_status *st = writer(&f);
	struct ls_config_scaler sc = {.policy = {.polling_interval_ms = 1000}};
	struct ls_object v[2];
	struct ls_decision d = decision(2, 2, 2, 5, "fine");
	struct ls_status_outcome bad = {.fail_reason = "TargetNotFound",
	                                .fail_msg = "deployments.apps \"x\" not found",
	                                .lag_seconds = -1,
	                                .polling_ms = 1000};
	char *conflict = (char *)"shop/Deployment/x is already the target of scaler \"shop/a\"";
	int64_t t = 1764529200000LL, m = 0;

	v[0] = object("a", 1, &sc, NULL, NULL);
	v[1] = object("spec", 1, NULL, "spec.kafka.cluster: no cluster named \"nope\"", NULL);
	ck_assert_int_eq(ls_status_sync(st, v, 2), 0);
	ls_status_flush(st, true, m += 10000);
	/* The invalid one at once: Ready False, its message, one Event; the
	 * other says nothing before its first decision. */
	ck_assert_uint_eq(f.nevents, 1);
	ck_assert_str_eq(f.events[0], "InvalidSpec: spec.kafka.cluster: no cluster named \"nope\"");
	ck_assert_str_eq(f.event_uid[0], "uid-spec");
	ck_assert_uint_eq(f.patches, 1);
	ck_assert_ptr_nonnull(strstr(f.paths[0], "/spec/status"));
	ck_assert_ptr_nonnull(strstr(f.bodies[0], "\"type\":\"Ready\",\"status\":"
	                                          "\"False\",\"reason\":\"InvalidSpec\""));
	ls_status_patch_done(st, f.tags[0], 0, "");
	/* The same error again (another sync): no Event, no write. */
	ck_assert_int_eq(ls_status_sync(st, v, 2), 0);
	ls_status_flush(st, true, m += 10000);
	ck_assert_uint_eq(f.nevents, 1);
	ck_assert_uint_eq(f.patches, 1);

	/* The scaler's target is missing: Ready False, one Event, not one a round. */
	for (int i = 0; i < 3; i++) {
		ls_decision_init(&d, 2);
		d.action = LS_ACTION_ERROR;
		snprintf(d.reason, sizeof(d.reason), "cannot read the target: not found");
		ls_status_decided(st, "shop/a", &d, &bad, t += 1000);
		ls_status_flush(st, true, m += 1000);
	}
	ck_assert_uint_eq(f.nevents, 2);
	ck_assert_str_eq(f.events[1], "TargetNotFound: deployments.apps \"x\" not found");
	ck_assert_uint_eq(f.patches, 2);
	ck_assert_ptr_nonnull(strstr(f.bodies[1], "\"status\":\"False\",\"reason\":"
	                                          "\"TargetNotFound\",\"message\":"
	                                          "\"deployments.apps \\\"x\\\" not found\""));
	/* A decision that knew nothing leaves the figures unknown. */
	ck_assert_ptr_nonnull(strstr(f.bodies[1], "\"totalLag\":null"));
	ck_assert_ptr_nonnull(strstr(f.bodies[1], "\"lagSeconds\":null"));
	ls_status_patch_done(st, f.tags[1], 0, "");
	/* Fixed, then broken the same way again: a new Event. */
	d = decision(2, 2, 2, 5, "fine");
	ls_status_decided(st, "shop/a", &d, &ok_outcome, t += 1000);
	ls_decision_init(&d, 2);
	d.action = LS_ACTION_ERROR;
	ls_status_decided(st, "shop/a", &d, &bad, t += 1000);
	ls_status_flush(st, true, m += 1000);
	ck_assert_uint_eq(f.nevents, 3);
	ls_status_patch_done(st, f.tags[2], 0, "");

	/* A conflict: TargetConflict and its Event; removed objects are forgotten. */
	v[1].conflict = conflict;
	ck_assert_int_eq(ls_status_sync(st, v, 2), 0);
	ls_status_flush(st, true, m += 10000);
	ck_assert_uint_eq(f.nevents, 3); /* v[1] has no scaler: still InvalidSpec */
	v[1].conflict = NULL;
	v[0].conflict = conflict;
	ck_assert_int_eq(ls_status_sync(st, v, 2), 0);
	ls_status_flush(st, true, m += 10000);
	ck_assert_uint_eq(f.nevents, 4);
	ck_assert_str_eq(f.events[3], "TargetConflict: shop/Deployment/x is already the target of "
	                              "scaler \"shop/a\"");
	/* Its write is on its way when the object goes: freed when it ends. */
	ck_assert_int_eq(ls_status_sync(st, &v[1], 1), 0);
	ls_status_patch_done(st, f.tags[f.patches - 1], 0, "");
	ls_status_decided(st, "shop/a", &d, &bad, t += 1000); /* forgotten: ignored */
	ls_status_free(st);
	fake_release(&f);
}
END_TEST

START_TEST(test_controller_status_seeded_from_the_object)
{
	struct fake f;
	struct ls_status *st = writer(&f);
	struct ls_config_scaler sc = {.policy = {.polling_interval_ms = 1000}};
	struct ls_object o = object(
	    "orders", 2, &sc, NULL,
	    "{\"lastScaleTime\":\"2026-01-02T03:04:05Z\",\"conditions\":[{\"type\":\"Ready\","
	    "\"status\":\"True\",\"reason\":\"Decided\",\"lastTransitionTime\":"
	    "\"2026-01-01T00:00:00Z\"},{\"type\":\"Active\",\"status\":\"True\","
	    "\"lastTransitionTime\":\"2026-01-01T00:00:01Z\"}]}");
	struct ls_decision d = decision(1, 1, 1, 0, "no lag");

	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	/* Nothing decided yet: nothing said. */
	ls_status_flush(st, true, 10000);
	ck_assert_uint_eq(f.patches, 0);
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529200000LL);
	ls_status_flush(st, true, 20000);
	ck_assert_uint_eq(f.patches, 1);
	/* Ready was True and stays True: its time is the object's. Active flips. */
	ck_assert_ptr_nonnull(strstr(f.bodies[0],
	                             "\"reason\":\"Decided\",\"message\":\"no lag\","
	                             "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[0], "\"reason\":\"LagBelowActivation\",\"message\":"
	                                          "\"the lag is at or below "
	                                          "activationLagThreshold\",\"lastTransitionTime\":"
	                                          "\"2025-11-30T19:00:00Z\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[0], "\"lastScaleTime\":\"2026-01-02T03:04:05Z\""));
	/* A refused patch (nothing started) leaves it to write. */
	f.fail = -ENOMEM;
	ls_status_scaled(st, "shop/orders", 1764529300000LL);
	ls_status_patch_done(st, f.tags[0], 0, "");
	ls_status_flush(st, true, 30000);
	ck_assert_uint_eq(f.patches, 1);
	f.fail = 0;
	ls_status_flush(st, true, 30001);
	ck_assert_uint_eq(f.patches, 2);
	ls_status_free(st); /* with a write on its way: freed all the same */
	ls_status_free(NULL);
	fake_release(&f);
}
END_TEST

/* A failed lag read: Ready False; Active keeps what the last read said. */
START_TEST(test_controller_status_unknown_lag_keeps_active)
{
	struct fake f;
	struct ls_status *st = writer(&f);
	struct ls_config_scaler sc = {.policy = {.polling_interval_ms = 1000}};
	struct ls_object o = object("orders", 1, &sc, NULL, NULL);
	struct ls_decision d = decision(2, 2, 2, 50, "lag 50");
	struct ls_status_outcome fail = {.fail_reason = "LagReadFailed",
	                                 .fail_msg = "no topic matches topicPattern \"x\"",
	                                 .lag_seconds = -1,
	                                 .polling_ms = 1000};

	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	ls_status_decided(st, "shop/orders", &d, &ok_outcome, 1764529200000LL);
	ls_status_flush(st, true, 1000);
	ls_status_patch_done(st, f.tags[0], 0, "");
	ls_decision_init(&d, 2);
	snprintf(d.reason, sizeof(d.reason), "lag unknown (1 failure)");
	ls_status_decided(st, "shop/orders", &d, &fail, 1764529260000LL);
	ls_status_flush(st, true, 5000);
	ck_assert_uint_eq(f.patches, 2);
	ck_assert_ptr_nonnull(strstr(f.bodies[1],
	                             "\"type\":\"Ready\",\"status\":\"False\","
	                             "\"reason\":\"LagReadFailed\",\"message\":"
	                             "\"no topic matches topicPattern \\\"x\\\"\","
	                             "\"lastTransitionTime\":\"2025-11-30T19:01:00Z\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[1], "\"type\":\"Active\",\"status\":\"True\","
	                                          "\"reason\":\"LagAboveActivation\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[1], "\"totalLag\":null"));
	ck_assert_uint_eq(f.nevents, 1);
	ck_assert_str_eq(f.events[0], "LagReadFailed: no topic matches topicPattern \"x\"");
	ls_status_free(st);
	fake_release(&f);
}
END_TEST

/* A spec with very many problems: the message is cut (metav1.Condition caps it). */
START_TEST(test_controller_status_long_message_cut)
{
	struct fake f;
	struct ls_status *st = writer(&f);
	char *err = malloc(20001);
	struct ls_object o;

	memset(err, 'e', 20000);
	err[20000] = '\0';
	o = object("long", 1, NULL, err, NULL);
	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	ls_status_flush(st, true, 1000);
	ck_assert_uint_eq(f.patches, 1);
	ck_assert_uint_lt(strlen(f.bodies[0]), 5000);
	ck_assert_ptr_nonnull(strstr(f.bodies[0], "eee...\""));
	ls_status_patch_done(st, f.tags[0], 0, "");
	/* The same long error again: the same cut message, nothing new. */
	ck_assert_int_eq(ls_status_sync(st, &o, 1), 0);
	ls_status_flush(st, true, 100000);
	ck_assert_uint_eq(f.patches, 1);
	ck_assert_uint_eq(f.nevents, 1);
	ls_status_free(st);
	fake_release(&f);
	free(err);
}
END_TEST

static Suite *controller_suite(void)
{
	Suite *s = suite_create("controller");
	TCase *tc = tcase_create("status");

	tcase_add_test(tc, test_controller_status_written_when_changed);
	tcase_add_test(tc, test_controller_status_errors_and_events);
	tcase_add_test(tc, test_controller_status_seeded_from_the_object);
	tcase_add_test(tc, test_controller_status_long_message_cut);
	tcase_add_test(tc, test_controller_status_unknown_lag_keeps_active);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(controller_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
