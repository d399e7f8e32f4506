/*
 * test-act.c - lib/controller's actor (act.h): the bound on queued
 * Kubernetes Events. No API server: nothing is sent before a poll, and the
 * one given (127.0.0.1:1) refuses connections.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller/act.h"
#include "kube/kubeconfig.h"

static struct ls_act_target *no_target(void *ud, size_t idx)
{
	(void)ud;
	(void)idx;
	return NULL;
}

static void no_read(void *ud, size_t idx)
{
	(void)ud;
	(void)idx;
}

static void no_write(void *ud, size_t idx, int err, const char *errmsg)
{
	(void)ud;
	(void)idx;
	(void)err;
	(void)errmsg;
}

START_TEST(test_act_events_bounded)
{
	struct ls_kube_config kc = {.server = "http://127.0.0.1:1", .namespace_ = "default",
				    .context = "", .cluster = "", .user = "", .source = "test"};
	struct ls_act_callbacks cb = {no_target, no_read, no_write, NULL};
	char name[32] = "web";
	struct ls_config_scaler sc = {.name = "s",
				      .target = {"apps/v1", "Deployment", "shop", name}};
	struct ls_act_target t = {0};
	struct ls_act *a = NULL;
	char err[256];

	ck_assert_int_eq(ls_act_new(&kc, false, NULL, &cb, &a, err, sizeof(err)), 0);
	/* 10,000 scalers failing in one round: the queue stops at the bound.
	 * Each Event is on a target of its own (one target keeps at most
	 * LS_KUBE_ASYNC_EVENTS_WAITING_MAX waiting: test-async.c). */
	for (int i = 0; i < LS_ACT_EVENTS_QUEUED_MAX + 100; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		ls_act_event(a, &sc, &t, "Warning", "LagReadFailed", "ReadLag", "down");
	}
	ck_assert_uint_eq(ls_act_pending(a), LS_ACT_EVENTS_QUEUED_MAX);
	ck_assert_uint_eq(ls_act_events_dropped(a), 100);
	/* Once the queued ones ended (here: cancelled), Events queue again. */
	ls_act_drain(a, 0);
	ck_assert_uint_eq(ls_act_pending(a), 0);
	ls_act_event(a, &sc, &t, "Warning", "LagReadFailed", "ReadLag", "down");
	ck_assert_uint_eq(ls_act_pending(a), 1);
	ck_assert_uint_eq(ls_act_events_dropped(a), 100);
	ls_act_free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("act");
	TCase *tc = tcase_create("events");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_act_events_bounded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
