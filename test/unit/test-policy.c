/* test-policy.c - the decision engine, rule by rule (DESIGN.md section 5). */
#include <check.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy-internal.h"
#include "policy/policy.h"

#define S(x) ((int64_t)(x) * 1000)

/* A snapshot of one topic "orders": committed[i] / end[i] per partition. */
static void snap_parts(struct ls_lag_snapshot *s, int64_t t_ms, int n, const int64_t *committed,
		       const int64_t *end)
{
	memset(s, 0, sizeof(*s));
	s->time_ms = t_ms;
	s->produce_rate = -1;
	s->consume_rate = -1;
	s->topics = calloc(1, sizeof(*s->topics));
	ck_assert_ptr_nonnull(s->topics);
	s->n_topics = 1;
	s->topics[0].topic = strdup("orders");
	s->topics[0].parts = calloc((size_t)n, sizeof(*s->topics[0].parts));
	ck_assert_ptr_nonnull(s->topics[0].parts);
	s->topics[0].n_parts = (size_t)n;
	for (int i = 0; i < n; i++) {
		struct ls_partition_offsets *p = &s->topics[0].parts[i];

		p->partition = i;
		p->committed = committed[i];
		p->end = end[i];
		p->log_start = LS_OFFSET_UNKNOWN;
	}
	ls_lag_snapshot_compute(s, LS_RESET_LATEST);
}

/* total lag spread evenly over n partitions; `base` moves the offsets. */
static void snap_lag(struct ls_lag_snapshot *s, int64_t t_ms, int n, int64_t total, int64_t base)
{
	int64_t c[256], e[256];

	ck_assert_int_le(n, 256);
	for (int i = 0; i < n; i++) {
		int64_t lag = total / n + (i < total % n);

		e[i] = base + 1000000;
		c[i] = e[i] - lag;
	}
	snap_parts(s, t_ms, n, c, e);
}

static void snap_failed(struct ls_lag_snapshot *s, int64_t t_ms)
{
	memset(s, 0, sizeof(*s));
	s->time_ms = t_ms;
	ls_lag_snapshot_fail(s, -ETIMEDOUT, "Local: Broker transport failure");
	s->produce_rate = -1;
	s->consume_rate = -1;
}

/* One round with lag spread over n partitions; applies the decision. */
static struct ls_decision round_lag(struct ls_policy_state *st, const struct ls_policy_params *p,
				    int64_t now, int n, int64_t lag, int32_t *replicas)
{
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = now, .snap = &s, .current_replicas = *replicas,
				     .paused_replicas = -1};
	struct ls_decision d;

	snap_lag(&s, now, n, lag, 0);
	ck_assert_int_eq(ls_policy_decide(st, p, &in, &d), 0);
	ls_lag_snapshot_release(&s);
	if (d.desired_replicas != *replicas) {
		ls_policy_applied(st, now, *replicas, d.desired_replicas);
		*replicas = d.desired_replicas;
	}
	return d;
}

/* Damping off: every rule below shows alone. Partition awareness off too:
 * these tables check the arithmetic shared with KEDA and the HPA
 * (partitionAware: false gives KEDA's numbers); the partition-aware rules
 * have tables of their own. */
static void params_undamped(struct ls_policy_params *p)
{
	ls_policy_params_init(p);
	p->partition_aware = false;
	p->scale_down.stabilization_window_ms = 0;
	p->scale_up.policies[1].value = 1000;
	p->max_replicas = 1000;
}

START_TEST(test_policy_params_defaults)
{
	struct ls_policy_params p;

	ls_policy_params_init(&p);
	ck_assert_int_eq(p.mode, LS_MODE_LAG);
	ck_assert_int_eq(p.lag_threshold, 1000);
	ck_assert_int_eq(p.activation_lag_threshold, 0);
	ck_assert_int_eq(p.min_replicas, 1);
	ck_assert_int_eq(p.max_replicas, 24);
	ck_assert_int_eq(p.idle_replicas, -1);
	ck_assert_int_eq(p.polling_interval_ms, 15000);
	ck_assert_int_eq(p.cooldown_period_ms, 300000);
	ck_assert_double_eq_tol(p.tolerance, 0.1, 1e-12);
	ck_assert(!p.allow_idle_consumers && !p.limit_to_partitions_with_lag &&
		  !p.exclude_persistent_lag && !p.scale_to_zero_on_invalid_offset);
	ck_assert_int_eq(p.target_drain_time_ms, 120000);
	ck_assert_double_eq(p.per_replica_rate, 0);
	ck_assert_double_eq(p.max_consume_rate, 0);
	ck_assert_int_eq(p.scale_up.stabilization_window_ms, 0);
	ck_assert_int_eq(p.scale_up.select, LS_SELECT_MAX);
	ck_assert_int_eq(p.scale_up.n_policies, 2);
	ck_assert_int_eq(p.scale_up.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p.scale_up.policies[0].value, 100);
	ck_assert_int_eq(p.scale_up.policies[0].period_ms, 15000);
	ck_assert_int_eq(p.scale_up.policies[1].type, LS_RATE_PODS);
	ck_assert_int_eq(p.scale_up.policies[1].value, 4);
	ck_assert_int_eq(p.scale_down.stabilization_window_ms, 300000);
	ck_assert_int_eq(p.scale_down.n_policies, 1);
	ck_assert_int_eq(p.scale_down.policies[0].type, LS_RATE_PERCENT);
	ck_assert_int_eq(p.scale_down.policies[0].value, 100);
	ck_assert_int_eq(p.fallback_failure_threshold, 3);
	ck_assert_int_eq(p.fallback_replicas, 0);
	ck_assert_int_eq(p.fallback_behavior, LS_FALLBACK_CURRENT);
	ck_assert_int_eq(p.offset_reset, LS_RESET_LATEST);
	ck_assert_int_eq(ls_policy_params_validate(&p), 0);
}
END_TEST

static void bad_threshold(struct ls_policy_params *p)
{
	p->lag_threshold = 0;
}
static void bad_activation(struct ls_policy_params *p)
{
	p->activation_lag_threshold = -1;
}
static void bad_min(struct ls_policy_params *p)
{
	p->min_replicas = -1;
}
static void bad_max(struct ls_policy_params *p)
{
	p->max_replicas = 0;
	p->min_replicas = 0;
}
static void bad_min_over_max(struct ls_policy_params *p)
{
	p->min_replicas = 30;
}
static void bad_idle(struct ls_policy_params *p)
{
	p->idle_replicas = -2;
}
static void bad_polling(struct ls_policy_params *p)
{
	p->polling_interval_ms = 0;
}
static void bad_tolerance(struct ls_policy_params *p)
{
	p->tolerance = -0.1;
}
static void bad_drain(struct ls_policy_params *p)
{
	p->mode = LS_MODE_RATE;
	p->target_drain_time_ms = 0;
}
static void bad_rate(struct ls_policy_params *p)
{
	p->per_replica_rate = -5;
}
static void bad_consume(struct ls_policy_params *p)
{
	p->max_consume_rate = -1;
}
static void bad_policy_value(struct ls_policy_params *p)
{
	p->scale_up.policies[0].value = 0;
}
static void bad_policy_period(struct ls_policy_params *p)
{
	p->scale_down.policies[0].period_ms = 0;
}
static void bad_n_policies(struct ls_policy_params *p)
{
	p->scale_down.n_policies = LS_POLICY_MAX_RATE_POLICIES + 1;
}
static void bad_window(struct ls_policy_params *p)
{
	p->scale_down.stabilization_window_ms = -1;
}
static void bad_select(struct ls_policy_params *p)
{
	p->scale_up.select = (enum ls_select_policy)7;
}
static void bad_mode(struct ls_policy_params *p)
{
	p->mode = (enum ls_policy_mode)9;
}
static void bad_fallback(struct ls_policy_params *p)
{
	p->fallback_behavior = (enum ls_fallback_behavior)9;
}
static void bad_fallback_threshold(struct ls_policy_params *p)
{
	p->fallback_failure_threshold = -1;
}

static void (*const bad_params[])(struct ls_policy_params *) = {
	bad_threshold, bad_activation, bad_min,	      bad_max,		 bad_min_over_max,
	bad_idle,      bad_polling,    bad_tolerance, bad_drain,	 bad_rate,
	bad_consume,   bad_policy_value, bad_policy_period, bad_n_policies, bad_window,
	bad_select,    bad_mode,       bad_fallback,  bad_fallback_threshold,
};

START_TEST(test_policy_invalid_params)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 1,
				     .paused_replicas = -1};
	struct ls_decision d, keep;

	ck_assert_ptr_nonnull(st);
	snap_lag(&s, 0, 4, 4000, 0);
	ls_policy_params_init(&p);
	bad_params[_i](&p);
	ck_assert_int_eq(ls_policy_params_validate(&p), -EINVAL);
	memset(&d, 0xab, sizeof(d));
	keep = d;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), -EINVAL);
	ck_assert_mem_eq(&d, &keep, sizeof(d));
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_invalid_input)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 1,
				     .paused_replicas = -1};
	struct ls_decision d, keep;

	snap_lag(&s, 0, 4, 4000, 0);
	ls_policy_params_init(&p);
	memset(&d, 0x5a, sizeof(d));
	keep = d;
	ck_assert_int_eq(ls_policy_decide(NULL, &p, &in, &d), -EINVAL);
	ck_assert_int_eq(ls_policy_decide(st, NULL, &in, &d), -EINVAL);
	ck_assert_int_eq(ls_policy_decide(st, &p, NULL, &d), -EINVAL);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, NULL), -EINVAL);
	in.snap = NULL;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), -EINVAL);
	in.snap = &s;
	in.current_replicas = -1;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), -EINVAL);
	in.current_replicas = 1;
	in.paused_replicas = -2;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), -EINVAL);
	ck_assert_int_eq(ls_policy_params_validate(NULL), -EINVAL);
	ck_assert_mem_eq(&d, &keep, sizeof(d));
	/* A rejected call leaves the state unseeded. */
	in.paused_replicas = -1;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.recommended_replicas, 4);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
	ls_policy_state_free(NULL);
	ls_policy_applied(NULL, 0, 1, 2);
}
END_TEST

/* lag mode, one fresh round, no damping. */
static const struct {
	int64_t lag;
	int partitions;
	int32_t current;
	int64_t threshold;
	int32_t recommended, desired;
} lag_rows[] = {
	{4500, 12, 2, 1000, 5, 5},	/* ceil(4,500 / 1,000) */
	{45000, 12, 2, 1000, 12, 12},	/* capped at the partitions */
	{1000, 12, 3, 1000, 1, 1},	/* down: no window here */
	{0, 12, 3, 1000, 1, 1},		/* never below 1 while active... lag 0 is inactive */
	{10500, 12, 10, 1000, 10, 10},	/* ratio 1.05: within tolerance */
	{9100, 12, 10, 1000, 10, 10},	/* ratio 0.91: within tolerance */
	{11500, 12, 10, 1000, 12, 12},	/* ratio 1.15 */
	{8500, 12, 10, 1000, 9, 9},	/* ratio 0.85 */
	{200, 4, 1, 100, 2, 2},		/* the HPA docs: 200m / 100m doubles */
	{100, 4, 2, 100, 1, 1},		/* the HPA docs: 50m per pod / 100m halves */
	{1000000, 64, 63, 3000, 64, 64}, /* KEDA 2908: not stuck at 63 */
	{192000, 64, 63, 3000, 63, 63},	/* 64 x 3,000 over 63: ratio 1.016, honest tolerance */
};

START_TEST(test_policy_lag_recommendation)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int32_t cur = lag_rows[_i].current;

	params_undamped(&p);
	p.lag_threshold = lag_rows[_i].threshold;
	p.cooldown_period_ms = S(3600);
	d = round_lag(st, &p, S(100), lag_rows[_i].partitions, lag_rows[_i].lag, &cur);
	ck_assert_int_eq(d.recommended_replicas, lag_rows[_i].recommended);
	ck_assert_int_eq(d.desired_replicas, lag_rows[_i].desired);
	ck_assert_int_eq(d.total_lag, lag_rows[_i].lag);
	ck_assert_int_eq(d.partition_count, lag_rows[_i].partitions);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_reason_reads_at_a_glance)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int32_t cur = 2;
	char buf[32];

	ls_policy_params_init(&p);
	d = round_lag(st, &p, S(0), 12, 45000, &cur);
	ck_assert_str_eq(d.reason, "lag 45,000 over 12 partitions needs 45 replicas at 1,000 each; "
				   "capped at 12 partitions; scale-up limited to +4 per 15s");
	ck_assert_int_eq(d.action, LS_ACTION_SCALE_UP);
	ck_assert_int_eq(d.recommended_replicas, 12);
	ck_assert_int_eq(d.desired_replicas, 6);
	ck_assert_str_eq(ls_policy_format_count(0, buf, sizeof(buf)), "0");
	ck_assert_str_eq(ls_policy_format_count(999, buf, sizeof(buf)), "999");
	ck_assert_str_eq(ls_policy_format_count(1000, buf, sizeof(buf)), "1,000");
	ck_assert_str_eq(ls_policy_format_count(-1234567, buf, sizeof(buf)), "-1,234,567");
	ck_assert_str_eq(ls_policy_format_count(INT64_MAX, buf, sizeof(buf)),
			 "9,223,372,036,854,775,807");
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_action_names)
{
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_NONE), "none");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_SCALE_UP), "scale_up");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_SCALE_DOWN), "scale_down");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_ACTIVATE), "activate");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_DEACTIVATE), "deactivate");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_FALLBACK), "fallback");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_PAUSED), "paused");
	ck_assert_str_eq(ls_policy_action_name(LS_ACTION_ERROR), "error");
}
END_TEST

/* Per-partition lag with invalid offsets (no committed offset). */
static const struct {
	enum ls_offset_reset reset;
	bool zero;
	int64_t expect;
} invalid_rows[] = {
	{LS_RESET_LATEST, false, 1 + 500},
	{LS_RESET_EARLIEST, false, (800 - 200) + 500},
	{LS_RESET_LATEST, true, 0 + 500},
	{LS_RESET_EARLIEST, true, 0 + 500},
};

START_TEST(test_policy_invalid_offsets)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int64_t c[2] = {LS_OFFSET_NONE, 1000}, e[2] = {800, 1500};
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 1,
				     .paused_replicas = -1};
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.offset_reset = invalid_rows[_i].reset;
	p.scale_to_zero_on_invalid_offset = invalid_rows[_i].zero;
	snap_parts(&s, 0, 2, c, e);
	s.topics[0].parts[0].log_start = 200;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.total_lag, invalid_rows[_i].expect);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_exclude_persistent_lag)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	/* Partition 0 is stuck at 100 with 9,000 behind it; 1 and 2 move. */
	int64_t c1[3] = {100, 1000, 2000}, e1[3] = {9100, 1500, 2500};
	int64_t c2[3] = {100, 1400, 2400}, e2[3] = {9100, 2000, 3000};
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = S(0), .snap = &s, .current_replicas = 2,
				     .paused_replicas = -1};
	struct ls_decision d;

	params_undamped(&p);
	p.exclude_persistent_lag = true;
	snap_parts(&s, S(0), 3, c1, e1);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	/* First sight: no previous offset, the lag counts. */
	ck_assert_int_eq(d.scaling_lag, 10000);
	ck_assert_int_eq(d.recommended_replicas, 3);
	ls_lag_snapshot_release(&s);

	snap_parts(&s, S(15), 3, c2, e2);
	in.now_ms = S(15);
	in.current_replicas = 3;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.total_lag, 9000 + 600 + 600);
	ck_assert_int_eq(d.scaling_lag, 1200);
	ck_assert(d.active);
	ck_assert_int_eq(d.recommended_replicas, 2);
	ck_assert_ptr_nonnull(strstr(d.reason, "9,000 persistent on 1 left out"));
	/* The engine's own rates from the offsets it remembers. */
	ck_assert_double_eq_tol(d.produce_rate, 1000.0 / 15, 1e-9);
	ck_assert_double_eq_tol(d.consume_rate, 800.0 / 15, 1e-9);
	ls_lag_snapshot_release(&s);

	/* Only persistent lag left: still active, scaled to the floor. */
	{
		int64_t c3[3] = {100, 2000, 3000}, e3[3] = {9100, 2000, 3000};

		snap_parts(&s, S(30), 3, c3, e3);
		in.now_ms = S(30);
		in.current_replicas = 2;
		ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
		ck_assert(d.active);
		ck_assert_int_eq(d.scaling_lag, 0);
		ck_assert_int_eq(d.desired_replicas, 1);
		ck_assert_int_eq(d.action, LS_ACTION_SCALE_DOWN);
		ls_lag_snapshot_release(&s);
	}
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_limit_to_partitions_with_lag)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int64_t c[12], e[12];
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 1,
				     .paused_replicas = -1};
	struct ls_decision d;

	for (int i = 0; i < 12; i++) {
		e[i] = 10000;
		c[i] = i < 3 ? 0 : 10000;
	}
	params_undamped(&p);
	p.limit_to_partitions_with_lag = true;
	snap_parts(&s, 0, 12, c, e);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.recommended_replicas, 3);
	ck_assert_ptr_nonnull(strstr(d.reason, "capped at 3 partitions with lag"));

	/* allowIdleConsumers alone lifts the partition cap. */
	p.limit_to_partitions_with_lag = false;
	p.allow_idle_consumers = true;
	ls_policy_state_free(st);
	st = ls_policy_state_new();
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.recommended_replicas, 30);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_dead_zone_reaches_all_partitions)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 60;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.lag_threshold = 3000;
	p.max_replicas = 100;
	/* Lag far above what 64 partitions x 3,000 carry: KEDA's capped
	 * metric would hold at 63; the cap on replicas reaches 64. */
	for (int i = 0; i < 10; i++)
		d = round_lag(st, &p, S(15 * i), 64, 5000000, &cur);
	ck_assert_int_eq(cur, 64);
	ck_assert_int_eq(d.recommended_replicas, 64);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_activation_and_cooldown)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 3;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.min_replicas = 0;
	p.idle_replicas = 0;
	p.activation_lag_threshold = 50;
	/* Lag at the activation threshold is inactive; the seeded history
	 * holds 3 and the cooldown runs from the first round. */
	for (int64_t t = 0; t < 300; t += 15) {
		d = round_lag(st, &p, S(t), 6, 50, &cur);
		ck_assert(!d.active);
		ck_assert_int_eq(cur, 3);
	}
	d = round_lag(st, &p, S(300), 6, 50, &cur);
	ck_assert_int_eq(d.action, LS_ACTION_DEACTIVATE);
	ck_assert_int_eq(cur, 0);
	ck_assert_ptr_nonnull(strstr(d.reason, "idleReplicas 0"));
	d = round_lag(st, &p, S(315), 6, 0, &cur);
	ck_assert_int_eq(d.action, LS_ACTION_NONE);
	ck_assert_int_eq(cur, 0);

	/* From 0, active: at least 1 at once (here 3: the Pods policy allows
	 * 4, and 4 consumers on 6 partitions carry no more than 3). */
	d = round_lag(st, &p, S(330), 6, 5500, &cur);
	ck_assert_int_eq(d.action, LS_ACTION_ACTIVATE);
	ck_assert_int_eq(d.recommended_replicas, 6);
	ck_assert_int_eq(cur, 3);
	d = round_lag(st, &p, S(345), 6, 5500, &cur);
	ck_assert_int_eq(cur, 6);

	/* With scale-up disabled, activation still gives 1. */
	p.scale_up.select = LS_SELECT_DISABLED;
	ls_policy_state_free(st);
	st = ls_policy_state_new();
	cur = 0;
	d = round_lag(st, &p, S(0), 6, 5500, &cur);
	ck_assert_int_eq(d.action, LS_ACTION_ACTIVATE);
	ck_assert_int_eq(cur, 1);
	d = round_lag(st, &p, S(15), 6, 5500, &cur);
	ck_assert_int_eq(cur, 1);
	ck_assert_ptr_nonnull(strstr(d.reason, "scale-up disabled"));
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_inactive_goes_to_min_replicas)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 5;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.min_replicas = 2;
	p.cooldown_period_ms = S(60);
	p.scale_down.stabilization_window_ms = S(600);
	d = round_lag(st, &p, S(0), 6, 0, &cur);
	ck_assert_int_eq(cur, 5);
	d = round_lag(st, &p, S(60), 6, 0, &cur);
	/* The cooldown, not the longer down-window, decides going idle. */
	ck_assert_int_eq(d.action, LS_ACTION_DEACTIVATE);
	ck_assert_int_eq(cur, 2);
	ck_assert_ptr_nonnull(strstr(d.reason, "minReplicas 2"));
	ls_policy_state_free(st);
}
END_TEST

/* The HPA behavior limits (HPA docs, "Scaling Policies"). */
static const struct {
	enum ls_select_policy select;
	int32_t current, target, expect;
	bool down;
} behavior_rows[] = {
	/* scaleUp defaults: max(100%, +4). */
	{LS_SELECT_MAX, 10, 100, 20, false},
	{LS_SELECT_MAX, 2, 100, 6, false},
	{LS_SELECT_MIN, 10, 100, 14, false},
	{LS_SELECT_DISABLED, 10, 100, 10, false},
	/* The docs' scale-down example: Pods 4/60s and Percent 10/60s. With
	 * 80 replicas, Max removes 8 (10%), Min removes 4. */
	{LS_SELECT_MAX, 80, 10, 72, true},
	{LS_SELECT_MIN, 80, 10, 76, true},
	{LS_SELECT_DISABLED, 80, 10, 80, true},
	/* Below 40 replicas the Pods policy removes more under Max. */
	{LS_SELECT_MAX, 30, 10, 26, true},
};

START_TEST(test_policy_behavior_policies)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = behavior_rows[_i].current;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.max_replicas = 1000;
	p.allow_idle_consumers = true;
	p.scale_down.stabilization_window_ms = 0;
	if (behavior_rows[_i].down) {
		p.scale_down.policies[0] = (struct ls_rate_policy){LS_RATE_PODS, 4, S(60)};
		p.scale_down.policies[1] = (struct ls_rate_policy){LS_RATE_PERCENT, 10, S(60)};
		p.scale_down.n_policies = 2;
		p.scale_down.select = behavior_rows[_i].select;
	} else {
		p.scale_up.select = behavior_rows[_i].select;
	}
	d = round_lag(st, &p, S(0), 10, (int64_t)behavior_rows[_i].target * 1000, &cur);
	ck_assert_int_eq(d.recommended_replicas, behavior_rows[_i].target);
	ck_assert_int_eq(d.desired_replicas, behavior_rows[_i].expect);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_behavior_counts_the_period)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 80;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.max_replicas = 1000;
	p.allow_idle_consumers = true;
	p.scale_down.stabilization_window_ms = 0;
	p.scale_down.policies[0] = (struct ls_rate_policy){LS_RATE_PERCENT, 10, S(60)};
	/* 80 → 72 at t=0; within the same minute nothing more may go, since
	 * the period started at 80 and 10% of it is gone already. */
	d = round_lag(st, &p, S(0), 10, 10000, &cur);
	ck_assert_int_eq(cur, 72);
	d = round_lag(st, &p, S(15), 10, 10000, &cur);
	ck_assert_int_eq(cur, 72);
	ck_assert_ptr_nonnull(strstr(d.reason, "scale-down limited to -10% per 1m"));
	/* A new period: 10% of 72 is 7.2, the HPA removes 8 (64.8 → 64). */
	d = round_lag(st, &p, S(60), 10, 10000, &cur);
	ck_assert_int_eq(cur, 64);

	/* Scale-up: 10 → 20 at t=0, held within the 15 s period. */
	ls_policy_params_init(&p);
	p.max_replicas = 1000;
	p.allow_idle_consumers = true;
	ls_policy_state_free(st);
	st = ls_policy_state_new();
	cur = 10;
	d = round_lag(st, &p, S(0), 10, 100000, &cur);
	ck_assert_int_eq(cur, 20);
	d = round_lag(st, &p, S(10), 10, 100000, &cur);
	ck_assert_int_eq(cur, 20);
	d = round_lag(st, &p, S(15), 10, 100000, &cur);
	ck_assert_int_eq(cur, 40);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_stabilization_windows)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 10;
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.cooldown_period_ms = S(3600);
	/* Scale-down: the highest recommendation of the last 5 minutes. A
	 * fresh state is seeded with 10, so a restart does not drop at once. */
	for (int64_t t = 0; t < 300; t += 15) {
		d = round_lag(st, &p, S(t), 12, t == 120 ? 6000 : 2000, &cur);
		ck_assert_int_eq(cur, 10);
	}
	ck_assert_ptr_nonnull(strstr(d.reason, "scale-down held at 10 by the 5m stabilization"));
	/* At 300 s the seed leaves the window; 6 (t=120) is the highest. */
	d = round_lag(st, &p, S(300), 12, 2000, &cur);
	ck_assert_int_eq(cur, 6);
	ck_assert_int_eq(d.action, LS_ACTION_SCALE_DOWN);
	d = round_lag(st, &p, S(420), 12, 2000, &cur);
	ck_assert_int_eq(cur, 2);

	/* Scale-up window: the lowest recommendation of the last minute. */
	ls_policy_params_init(&p);
	p.scale_up.stabilization_window_ms = S(60);
	ls_policy_state_free(st);
	st = ls_policy_state_new();
	cur = 2;
	for (int64_t t = 0; t < 60; t += 15) {
		d = round_lag(st, &p, S(t), 12, 8000, &cur);
		ck_assert_int_eq(cur, 2);
	}
	ck_assert_ptr_nonnull(strstr(d.reason, "scale-up held at 2 by the 1m stabilization"));
	d = round_lag(st, &p, S(60), 12, 8000, &cur);
	ck_assert_int_eq(cur, 6); /* +4 per 15 s */
	ls_policy_state_free(st);
}
END_TEST

/* The four fallback behaviors (KEDA's fallback), applied at the threshold. */
static const struct {
	enum ls_fallback_behavior b;
	int32_t current, fb_replicas, expect;
} fallback_rows[] = {
	{LS_FALLBACK_STATIC, 5, 8, 8},
	{LS_FALLBACK_STATIC, 5, 2, 2},
	{LS_FALLBACK_STATIC, 5, 0, 5}, /* never to zero on an error */
	{LS_FALLBACK_CURRENT, 5, 8, 5},
	{LS_FALLBACK_CURRENT_IF_HIGHER, 5, 8, 8},
	{LS_FALLBACK_CURRENT_IF_HIGHER, 9, 8, 9},
	{LS_FALLBACK_CURRENT_IF_LOWER, 5, 8, 5},
	{LS_FALLBACK_CURRENT_IF_LOWER, 9, 8, 8},
	{LS_FALLBACK_CURRENT_IF_LOWER, 9, 0, 9}, /* never to zero */
	{LS_FALLBACK_STATIC, 5, 500, 24},	 /* maxReplicas */
};

START_TEST(test_policy_fallback_behaviors)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.snap = &s, .current_replicas = fallback_rows[_i].current,
				     .paused_replicas = -1};
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.min_replicas = 0;
	p.fallback_behavior = fallback_rows[_i].b;
	p.fallback_replicas = fallback_rows[_i].fb_replicas;
	snap_failed(&s, 0);
	for (int i = 1; i <= 2; i++) {
		in.now_ms = S(15 * i);
		ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
		ck_assert_int_eq(d.action, LS_ACTION_ERROR);
		ck_assert_int_eq(d.desired_replicas, fallback_rows[_i].current);
		ck_assert_int_eq(d.total_lag, -1);
		ck_assert_int_eq(d.partition_count, -1);
		ck_assert_int_eq(d.consecutive_failures, i);
		ck_assert(!d.fallback);
	}
	ck_assert_ptr_nonnull(strstr(d.reason, "2 of 3 before fallback"));
	ck_assert_ptr_nonnull(strstr(d.reason, "Broker transport failure"));
	in.now_ms = S(45);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.action, LS_ACTION_FALLBACK);
	ck_assert(d.fallback);
	ck_assert_int_eq(d.desired_replicas, fallback_rows[_i].expect);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

/* A long Kafka error (librdkafka's SASL messages run to hundreds of bytes)
 * never leaves a reason cut mid-word: it ends at a whole word with "...". */
START_TEST(test_policy_long_reason_ends_at_a_word)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.snap = &s, .current_replicas = 3, .paused_replicas = -1};
	struct ls_decision d;
	char msg[LS_LAG_ERRMSG_MAX];
	size_t len, n = 0;

	ls_policy_params_init(&p);
	snap_failed(&s, 0);
	while (n + 12 < sizeof(msg))
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "broker%04zu ", n);
	ls_lag_snapshot_fail(&s, -ETIMEDOUT, "%s", msg);
	in.now_ms = S(15);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	len = strlen(d.reason);
	ck_assert_uint_lt(len, sizeof(d.reason));
	ck_assert_uint_gt(len, sizeof(d.reason) / 2);
	ck_assert_str_eq(d.reason + len - 3, "...");
	/* The word before "..." is whole: "broker" and four digits. */
	ck_assert(d.reason[len - 4] >= '0' && d.reason[len - 4] <= '9');
	ck_assert_int_eq(memcmp(d.reason + len - 13, "broker", 6), 0);
	ck_assert_int_eq(d.reason[len - 14], ' ');
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_broker_outage_never_scales_to_zero)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.snap = &s, .current_replicas = 5, .paused_replicas = -1};
	struct ls_decision d;
	int32_t cur = 5;

	ls_policy_params_init(&p);
	p.min_replicas = 0;
	p.idle_replicas = 0;
	p.cooldown_period_ms = S(60);
	p.fallback_behavior = LS_FALLBACK_STATIC;
	p.fallback_replicas = 0;
	/* KEDA issues: a broker outage read as zero lag scaled consumers to
	 * zero. Here an hour of failed reads keeps all 5. */
	snap_failed(&s, 0);
	for (int64_t t = 0; t < 3600; t += 15) {
		in.now_ms = S(t);
		ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
		ck_assert_int_eq(d.desired_replicas, 5);
	}
	ls_lag_snapshot_release(&s);
	/* Back with no lag: the cooldown starts again from the outage. */
	d = round_lag(st, &p, S(3600), 6, 0, &cur);
	ck_assert_int_eq(d.consecutive_failures, 0);
	ck_assert_int_eq(cur, 5);
	d = round_lag(st, &p, S(3660), 6, 0, &cur);
	ck_assert_int_eq(d.action, LS_ACTION_DEACTIVATE);
	ck_assert_int_eq(cur, 0);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_paused)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 2, .paused = true,
				     .paused_replicas = -1};
	struct ls_decision d;

	ls_policy_params_init(&p);
	snap_lag(&s, 0, 12, 50000, 0);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.action, LS_ACTION_PAUSED);
	ck_assert_int_eq(d.desired_replicas, 2);
	ck_assert_int_eq(d.total_lag, 50000);
	in.paused = false;
	in.paused_replicas = 7;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.action, LS_ACTION_PAUSED);
	ck_assert_int_eq(d.desired_replicas, 7);
	ck_assert_ptr_nonnull(strstr(d.reason, "paused-replicas"));
	/* Paused on a failed read too. */
	ls_lag_snapshot_release(&s);
	snap_failed(&s, 0);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.action, LS_ACTION_PAUSED);
	ck_assert_int_eq(d.consecutive_failures, 0);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

/* rate mode with a set perReplicaRate. */
static const struct {
	double produce, per, max_consume;
	int64_t backlog;
	int32_t current, recommended;
} rate_rows[] = {
	{1000, 100, 0, 12000, 5, 11},	 /* (1,000 + 12,000/120) / 100 */
	{1000, 120, 0, 0, 5, 9},	 /* base load of the perfect storm */
	{10000, 120, 0, 240000, 9, 48},	 /* needs 101: the 48 partitions cap */
	{0, 1000, 5000, 500000, 1, 5},	 /* maxConsumeRate: 5 x 1,000 */
	{980, 100, 0, 0, 10, 10},	 /* within tolerance */
	{0, 100, 0, 0, 3, 1},		 /* nothing to do: the floor */
};

START_TEST(test_policy_rate_mode)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = 0, .snap = &s,
				     .current_replicas = rate_rows[_i].current,
				     .paused_replicas = -1};
	struct ls_decision d;

	params_undamped(&p);
	p.mode = LS_MODE_RATE;
	p.per_replica_rate = rate_rows[_i].per;
	p.max_consume_rate = rate_rows[_i].max_consume;
	p.cooldown_period_ms = S(3600);
	snap_lag(&s, 0, 48, rate_rows[_i].backlog, 0);
	s.produce_rate = rate_rows[_i].produce;
	s.consume_rate = 0;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.recommended_replicas, rate_rows[_i].recommended);
	ck_assert_double_eq(d.per_replica_rate, rate_rows[_i].per);
	ls_lag_snapshot_release(&s);
	ls_policy_state_free(st);
}
END_TEST

/* Offsets of one partition moving at `produce` and `consume` msgs/s. */
static void rate_round(struct ls_policy_state *st, const struct ls_policy_params *p, int64_t t,
		       int64_t end, int64_t committed, int32_t cur, double prod, double cons,
		       struct ls_decision *d)
{
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = S(t), .snap = &s, .current_replicas = cur,
				     .paused_replicas = -1};
	int64_t c[1] = {committed}, e[1] = {end};

	snap_parts(&s, S(t), 1, c, e);
	s.produce_rate = prod;
	s.consume_rate = cons;
	ck_assert_int_eq(ls_policy_decide(st, p, &in, d), 0);
	ls_lag_snapshot_release(&s);
}

/* As rate_round, with the group described: `members` of them consume. */
static void rate_round_members(struct ls_policy_state *st, const struct ls_policy_params *p,
			       int64_t t, int64_t end, int64_t committed, int32_t cur,
			       size_t members, double prod, double cons, struct ls_decision *d)
{
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = S(t), .snap = &s, .current_replicas = cur,
				     .paused_replicas = -1};
	int64_t c[1] = {committed}, e[1] = {end};

	snap_parts(&s, S(t), 1, c, e);
	s.produce_rate = prod;
	s.consume_rate = cons;
	s.group.known = true;
	s.group.members = calloc(members, sizeof(*s.group.members));
	ck_assert_ptr_nonnull(s.group.members);
	s.group.n_members = members;
	ck_assert_int_eq(ls_policy_decide(st, p, &in, d), 0);
	ck_assert_int_eq(d->members, (int32_t)members);
	ls_lag_snapshot_release(&s);
}

/* The replicas that consume are the group's members: with 4 replicas of
 * which 3 have joined, 480 msgs/s saturated is 160 each, not 120. */
START_TEST(test_policy_rate_learns_from_members)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.mode = LS_MODE_RATE;
	p.allow_idle_consumers = true;
	p.max_replicas = 100;
	rate_round_members(st, &p, 0, 7000, 7000, 4, 3, 400, 400, &d);
	for (int i = 1; i <= 3; i++)
		rate_round_members(st, &p, 15 * i, 7000 + 15 * i * 1000, 7000 + 15 * i * 480, 4, 3,
				   1000, 480, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 160, 1e-9);
	ck_assert_ptr_nonnull(strstr(d.reason, "(learned)"));
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_rate_learns_per_replica_rate)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;

	ls_policy_params_init(&p);
	p.mode = LS_MODE_RATE;
	p.allow_idle_consumers = true;
	p.max_replicas = 100;
	/* Prior: lagThreshold per pollingInterval, 1,000 / 15 s. */
	rate_round(st, &p, 0, 1000, 1000, 4, 200, -1, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 1000.0 / 15, 1e-9);
	ck_assert_ptr_nonnull(strstr(d.reason, "(prior)"));
	/* Unsaturated (no lag): 4 replicas consumed 400/s, at least 100 each. */
	rate_round(st, &p, 15, 7000, 7000, 4, 400, 400, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 100, 1e-9);
	ck_assert_ptr_nonnull(strstr(d.reason, "(observed)"));
	/* Saturated: lag grows while 4 replicas consume 480/s: 120 each. */
	rate_round(st, &p, 30, 7000 + 15 * 1000, 7000 + 15 * 480, 4, 1000, 480, &d);
	rate_round(st, &p, 45, 7000 + 30 * 1000, 7000 + 30 * 480, 4, 1000, 480, &d);
	/* One saturated interval is only a lower bound (a replica may still
	 * have been starting); two alike in a row are the capacity. */
	ck_assert_ptr_nonnull(strstr(d.reason, "(observed)"));
	rate_round(st, &p, 60, 7000 + 45 * 1000, 7000 + 45 * 480, 4, 1000, 480, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 120, 1e-9);
	ck_assert_ptr_nonnull(strstr(d.reason, "(learned)"));
	/* A changed replica count gives no sample; the estimate holds. */
	rate_round(st, &p, 75, 7000 + 60 * 1000, 7000 + 60 * 480, 8, 1000, 100, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 120, 1e-9);
	/* Slower samples later do not lower it within the window. */
	rate_round(st, &p, 90, 7000 + 75 * 1000, 7000 + 60 * 480 + 15 * 400, 8, 1000, 400, &d);
	rate_round(st, &p, 105, 7000 + 90 * 1000, 7000 + 60 * 480 + 30 * 400, 8, 1000, 400, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 120, 1e-9);
	/* Long after the window the learned rate is kept, fading with a
	 * half-life of 6 h from its last confirmation (t = 105 s). */
	rate_round(st, &p, 3600, 50000010, 50000000, 8, 0, 0, &d);
	ck_assert_double_eq_tol(d.per_replica_rate, 120 * pow(0.5, (3600 - 105) / 21600.0), 1e-6);
	ck_assert_ptr_nonnull(strstr(d.reason, "(learned)"));
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_max_consume_rate_in_lag_mode)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 1;
	struct ls_decision d;

	params_undamped(&p);
	p.per_replica_rate = 1000;
	p.max_consume_rate = 5000;
	d = round_lag(st, &p, 0, 48, 500000, &cur);
	ck_assert_int_eq(d.recommended_replicas, 5);
	ck_assert_ptr_nonnull(strstr(d.reason, "capped at 5 by maxConsumeRate 5,000/s"));
	/* Never below one, even when one replica is more than downstream bears. */
	p.max_consume_rate = 300;
	d = round_lag(st, &p, S(15), 48, 500000, &cur);
	ck_assert_int_eq(d.recommended_replicas, 1);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_flapping_lag_within_tolerance)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 4, last_dir = 0;
	int64_t last_change = -1000000;
	struct ls_decision d;

	ls_policy_params_init(&p);
	/* Lag zig-zags around what 4 replicas carry, with an occasional
	 * spike and dip: no direction reversal within 5 minutes. */
	for (int64_t t = 0; t < 3600; t += 15) {
		int64_t lag = 4000 + ((t / 15) % 2 ? 350 : -350);
		int32_t before = cur;

		if (t % 600 == 0)
			lag = 6500;
		if (t % 600 == 300)
			lag = 1500;
		d = round_lag(st, &p, S(t), 12, lag, &cur);
		if (cur != before) {
			int32_t dir = cur > before ? 1 : -1;

			ck_assert_msg(dir == last_dir || S(t) - last_change >= S(300),
				      "reversal at %lld: %s", (long long)t, d.reason);
			last_dir = dir;
			last_change = S(t);
		}
	}
	ls_policy_state_free(st);
}
END_TEST


/* --- partitionAware (the default): only useful replica counts ---------- */

/* One fresh round on one topic of n partitions with per-partition lags and
 * produce rates (the snapshot's produce rate spread by weight). */
static struct ls_decision round_parts(struct ls_policy_state *st, const struct ls_policy_params *p,
				      int64_t now, int n, const int64_t *lag, const double *weight,
				      double produce, int32_t current)
{
	struct ls_lag_snapshot s;
	struct ls_policy_input in = {.now_ms = now, .snap = &s, .current_replicas = current,
				     .paused_replicas = -1};
	struct ls_decision d;
	int64_t c[256], e[256];

	ck_assert_int_le(n, 256);
	for (int i = 0; i < n; i++) {
		e[i] = 1000000;
		c[i] = e[i] - (lag ? lag[i] : 0);
	}
	snap_parts(&s, now, n, c, e);
	s.produce_rate = produce;
	s.consume_rate = 0;
	(void)weight;
	ck_assert_int_eq(ls_policy_decide(st, p, &in, &d), 0);
	ls_lag_snapshot_release(&s);
	return d;
}

/* lag mode rounds up to the next useful count; 12 partitions: 1 2 3 4 6 12. */
static const struct {
	int64_t lag;
	int32_t current, recommended;
} useful_lag_rows[] = {
	{4500, 2, 6},	/* 5 -> 6 */
	{3000, 2, 3},	/* 3 is useful */
	{7000, 2, 12},	/* 7 -> 12 */
	{45000, 2, 12}, /* above the partitions: the cap */
	{10500, 10, 12}, /* within tolerance of 10, but 10 is not useful */
	{1000, 6, 1},	/* down to 1 */
};

START_TEST(test_policy_lag_rounds_up_to_useful_counts)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int64_t lag[12];

	params_undamped(&p);
	p.partition_aware = true;
	for (int i = 0; i < 12; i++)
		lag[i] = useful_lag_rows[_i].lag / 12 + (i < useful_lag_rows[_i].lag % 12);
	d = round_parts(st, &p, 0, 12, lag, NULL, -1, useful_lag_rows[_i].current);
	ck_assert_int_eq(d.recommended_replicas, useful_lag_rows[_i].recommended);
	if (useful_lag_rows[_i].lag == 4500)
		ck_assert_msg(strstr(d.reason, "5 would leave 2 consumers with 3 partitions "
					       "(no more throughput than 4): 6"),
			      "%s", d.reason);
	ls_policy_state_free(st);
}
END_TEST

/*
 * The demo's case: 24 partitions, 500 msgs/s a replica, 10,000 msgs/s.
 * 20 replicas carry it on average, but 4 of them own 2 partitions (833
 * msgs/s each): only 24 carry it. maxReplicas 20 acts as 12.
 */
START_TEST(test_policy_rate_takes_the_useful_count_that_carries)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;

	params_undamped(&p);
	p.partition_aware = true;
	p.mode = LS_MODE_RATE;
	p.per_replica_rate = 500;
	p.max_replicas = 48;
	d = round_parts(st, &p, 0, 24, NULL, NULL, 10000, 12);
	ck_assert_int_eq(d.recommended_replicas, 24);
	ck_assert_int_eq(d.desired_replicas, 24);
	ck_assert_msg(strstr(d.reason, "needs 20 replicas"), "%s", d.reason);
	ck_assert_msg(strstr(d.reason, "20 would leave 4 consumers with 2 partitions "
				       "(no more throughput than 12): 24"),
		      "%s", d.reason);
	ls_policy_state_free(st);

	/* Off: KEDA's arithmetic, 20. */
	st = ls_policy_state_new();
	p.partition_aware = false;
	d = round_parts(st, &p, 0, 24, NULL, NULL, 10000, 12);
	ck_assert_int_eq(d.recommended_replicas, 20);
	ls_policy_state_free(st);

	/* maxReplicas 20 behaves as 12, and says so. */
	st = ls_policy_state_new();
	p.partition_aware = true;
	p.max_replicas = 20;
	d = round_parts(st, &p, 0, 24, NULL, NULL, 10000, 8);
	ck_assert_int_eq(d.recommended_replicas, 12);
	ck_assert_int_eq(d.desired_replicas, 12);
	ck_assert_msg(strstr(d.reason, "maxReplicas 20 carries no more than 12"), "%s", d.reason);
	ls_policy_state_free(st);
}
END_TEST

/* KEDA's ensureEvenDistributionOfPartitions: divisors of the partitions. */
START_TEST(test_policy_even_distribution_takes_divisors)
{
	static const struct {
		int64_t lag;
		int32_t want;
	} rows[] = {{5000, 6}, {7000, 8}, {9000, 12}, {13000, 24}, {1000, 1}};
	struct ls_policy_params p;

	params_undamped(&p);
	p.even_distribution = true;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ls_policy_state *st = ls_policy_state_new();
		int64_t lag[24];
		struct ls_decision d;

		for (int k = 0; k < 24; k++)
			lag[k] = rows[i].lag / 24 + (k < rows[i].lag % 24);
		d = round_parts(st, &p, 0, 24, lag, NULL, -1, 1);
		ck_assert_int_eq(d.recommended_replicas, rows[i].want);
		ls_policy_state_free(st);
	}
}
END_TEST

/*
 * Hot partitions. Rate mode: partition 0 of 12 receives 600 msgs/s, more
 * than one replica's 500: no count carries it, and the count chosen is the
 * smallest that gives its consumer nothing else (12 under range: the
 * busiest consumer then has partition 0 alone), not maxReplicas.
 */
START_TEST(test_policy_hot_partition_is_not_scaled_for)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot s1, s2;
	struct ls_policy_input in = {.snap = &s1, .current_replicas = 4, .paused_replicas = -1};
	struct ls_decision d;
	int64_t c[12], e1[12], e2[12];

	params_undamped(&p);
	p.partition_aware = true;
	p.mode = LS_MODE_RATE;
	p.per_replica_rate = 500;
	p.max_replicas = 100;
	/* Two reads 10 s apart: partition 0 grows by 6,000, the others by 100. */
	for (int i = 0; i < 12; i++) {
		e1[i] = 100000;
		e2[i] = e1[i] + (i == 0 ? 6000 : 100);
		c[i] = e1[i];
	}
	snap_parts(&s1, S(0), 12, c, e1);
	in.now_ms = S(0);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	snap_parts(&s2, S(10), 12, c, e2);
	in.snap = &s2;
	in.now_ms = S(10);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert(d.hot);
	ck_assert_int_eq(d.hot_partitions, 1);
	ck_assert_int_le(d.recommended_replicas, 12);
	ck_assert_msg(strstr(d.reason, "hot partitions"), "%s", d.reason);
	ls_lag_snapshot_release(&s1);
	ls_lag_snapshot_release(&s2);
	ls_policy_state_free(st);

	/* Lag mode: all the lag on partition 0; at 6 replicas (range: 2
	 * partitions each, partition 1 without lag) more replicas leave the
	 * busiest consumer the same backlog: hold at 6. */
	{
		int64_t lag[12] = {8000};

		st = ls_policy_state_new();
		params_undamped(&p);
		p.partition_aware = true;
		d = round_parts(st, &p, 0, 12, lag, NULL, -1, 6);
		ck_assert(d.hot);
		ck_assert_int_eq(d.recommended_replicas, 6);
		ck_assert_int_eq(d.desired_replicas, 6);
		ck_assert_msg(strstr(d.reason, "not lightened by more replicas"), "%s", d.reason);
		ls_policy_state_free(st);

		/* From 1 replica, more do help (the consumer of partition 0
		 * sheds the others' lag): no hold. */
		for (int i = 1; i < 12; i++)
			lag[i] = 500;
		st = ls_policy_state_new();
		d = round_parts(st, &p, 0, 12, lag, NULL, -1, 1);
		ck_assert(!d.hot);
		ck_assert_int_eq(d.recommended_replicas, 12);
		ls_policy_state_free(st);
	}
}
END_TEST

/* A backlog even over the partitions that 12 replicas cannot drain in time
 * is the partition cap, not a hot partition: 12, no HotPartition. */
START_TEST(test_policy_even_backlog_at_the_cap_is_not_hot)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int64_t lag[12];

	params_undamped(&p);
	p.partition_aware = true;
	p.mode = LS_MODE_RATE;
	p.per_replica_rate = 500;
	p.max_replicas = 100;
	for (int i = 0; i < 12; i++)
		lag[i] = 20000;
	/* Each partition: 417/s + 20,000 / 120 s = 583/s of work > 500. */
	d = round_parts(st, &p, 0, 12, lag, NULL, 5000, 4);
	ck_assert(!d.hot);
	ck_assert_int_eq(d.hot_partitions, 0);
	ck_assert_int_eq(d.recommended_replicas, 12);
	ck_assert_msg(strstr(d.reason, "12: the most the partitions can use"), "%s", d.reason);
	ls_policy_state_free(st);
}
END_TEST

/* A behavior's limit between useful counts: up to the useful count below
 * it (24 partitions, 5 + 4 = 9 -> 8). */
START_TEST(test_policy_rate_limit_lands_on_a_useful_count)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int64_t lag[24];

	ls_policy_params_init(&p);
	p.scale_up.policies[0].value = 10; /* Percent: 10% of 5 rounds to 1 */
	for (int i = 0; i < 24; i++)
		lag[i] = 1000;
	d = round_parts(st, &p, 0, 24, lag, NULL, -1, 5);
	ck_assert_int_eq(d.recommended_replicas, 24);
	ck_assert_int_eq(d.desired_replicas, 8);
	ck_assert_msg(strstr(d.reason, "(8, the useful count below)"), "%s", d.reason);
	ls_policy_state_free(st);
}
END_TEST

/*
 * Scale down only to what is proven: at a set perReplicaRate of 100, the
 * peak of 1,000 msgs/s in the 300 s scale-down window needs 10 replicas;
 * the produce rate falling to 100 does not take them below that within the
 * window. An unproven (prior) rate gives no floor.
 */
START_TEST(test_policy_scale_down_floor)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_decision d;
	int32_t cur = 10;

	ls_policy_params_init(&p);
	p.partition_aware = false;
	p.mode = LS_MODE_RATE;
	p.per_replica_rate = 100;
	p.scale_down.stabilization_window_ms = 0;
	d = round_parts(st, &p, S(0), 12, NULL, NULL, 1000, cur);
	ck_assert_int_eq(d.desired_replicas, 10);
	/* The window is max(stabilization, pollingInterval) = 15 s here. */
	d = round_parts(st, &p, S(10), 12, NULL, NULL, 100, cur);
	ck_assert_int_eq(d.recommended_replicas, 1);
	ck_assert_int_eq(d.desired_replicas, 10);
	ck_assert_msg(strstr(d.reason, "scale-down stops at 10"), "%s", d.reason);
	/* Past the window the peak is forgotten. */
	d = round_parts(st, &p, S(40), 12, NULL, NULL, 100, cur);
	ck_assert_int_eq(d.desired_replicas, 1);
	ls_policy_state_free(st);

	/* Lag mode with no known rate: no floor is assumed. */
	st = ls_policy_state_new();
	ls_policy_params_init(&p);
	p.partition_aware = false;
	p.scale_down.stabilization_window_ms = 0;
	d = round_parts(st, &p, S(0), 12, NULL, NULL, 1000, 10);
	ck_assert_int_eq(d.desired_replicas, 1);
	ls_policy_state_free(st);
}
END_TEST

/* The rate sample ring is allocated by the first sample, grows as samples
 * come up to LS_RATE_MAX_SAMPLES, then forgets the oldest; it stays in
 * order, oldest first, across growth, wrapping and pruning. */
START_TEST(test_policy_sample_ring_grows_on_use)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();

	ls_policy_params_init(&p);
	ck_assert_ptr_null(st->samples);
	ck_assert_uint_eq(st->alloc_samples, 0);
	for (int64_t i = 0; i < 100; i++) {
		size_t want = i + 1 < LS_RATE_MAX_SAMPLES ? (size_t)i + 1 : LS_RATE_MAX_SAMPLES;

		ls_policy_sample_add(st, i * 1000, (double)i, i % 2 == 0);
		ck_assert_uint_eq(st->n_samples, want);
		ck_assert_uint_ge(st->alloc_samples, want);
		ck_assert_uint_le(st->alloc_samples, LS_RATE_MAX_SAMPLES);
		for (size_t k = 0; k < st->n_samples; k++) {
			const struct ls_rate_sample *r =
			    &st->samples[(st->first_sample + k) % st->alloc_samples];

			ck_assert_int_eq(r->t_ms, (i + 1 - (int64_t)want + (int64_t)k) * 1000);
			ck_assert(r->per_replica == (double)(r->t_ms / 1000));
		}
	}
	/* Samples at or before now - LS_RATE_WINDOW_MS go: 0..79 s here. */
	ls_policy_prune(st, &p, LS_RATE_WINDOW_MS + 79000);
	ck_assert_uint_eq(st->n_samples, 20);
	ck_assert_int_eq(st->samples[st->first_sample].t_ms, 80000);
	ls_policy_state_free(st);
}
END_TEST

START_TEST(test_policy_history_is_bounded)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 1;

	ls_policy_params_init(&p);
	p.max_replicas = 100;
	for (int64_t t = 0; t < 24 * 3600; t += 5)
		round_lag(st, &p, S(t), 64, (t / 5) % 7 * 10000, &cur);
	/* 300 s window at a 5 s interval: 60 recommendations at most. */
	ck_assert_int_le(st->n_recs, 61);
	ck_assert_int_le(st->n_events, 4);
	ck_assert_int_le(st->alloc_recs, 128);
	ck_assert_int_le(st->n_samples, LS_RATE_MAX_SAMPLES);
	ls_policy_state_free(st);
}
END_TEST

/* A steady scaler keeps one recommendation and one produce sample, not a
 * window's worth of each; a burst's memory is given back once it has left
 * the window. */
START_TEST(test_policy_history_compacts_steady)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	int32_t cur = 1;

	ls_policy_params_init(&p);
	p.max_replicas = 100;
	/* A burst: a recommendation that changes every round for 600 s. */
	for (int64_t t = 0; t < 600; t += 5)
		round_lag(st, &p, S(t), 64, (t / 5) % 7 * 10000, &cur);
	ck_assert_uint_gt(st->alloc_recs, 8);
	/* Then an hour of the same lag and no produce. */
	for (int64_t t = 600; t < 4200; t += 5)
		round_lag(st, &p, S(t), 64, 5000, &cur);
	ck_assert_int_eq(cur, 5);
	ck_assert_uint_eq(st->n_recs, 1);
	ck_assert_uint_le(st->alloc_recs, 8);
	ck_assert_uint_le(st->n_produced, 1);
	ck_assert_uint_le(st->alloc_produced, 8);
	ck_assert_uint_le(st->alloc_mem_parts, 64);
	ls_policy_state_free(st);
}
END_TEST

/* What the compacted recommendations and produce samples answer is what
 * the whole history would: the lowest and highest recommendation, and the
 * peak produce rate, of any window ending now. */
START_TEST(test_policy_history_compaction_is_exact)
{
	enum { N = 2000 };
	static int32_t all_r[N];
	static double all_p[N];
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	const int64_t windows[] = {5000, 30000, 60000, 300000};
	unsigned seed = 7;

	ls_policy_params_init(&p);
	p.scale_down.stabilization_window_ms = 300000;
	p.scale_up.stabilization_window_ms = 60000;
	for (int i = 0; i < N; i++) {
		int64_t now = (int64_t)i * 5000;

		seed = seed * 1103515245u + 12345u;
		/* Runs of equal values, some long, as a real scaler gives. */
		all_r[i] = i > 0 && (seed >> 16) % 4 != 0 ? all_r[i - 1] : (int32_t)((seed >> 8) % 6);
		all_p[i] = (double)((seed >> 4) % 50);
		ck_assert_int_eq(ls_policy_rec_add(st, now, all_r[i]), 0);
		ck_assert_int_eq(ls_policy_produced_add(st, now, all_p[i], 300000), 0);
		ls_policy_prune(st, &p, now);
		for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
			int32_t lo = INT32_MAX, hi = INT32_MIN, glo = INT32_MAX, ghi = INT32_MIN;
			double peak = -1;

			for (int j = i; j >= 0 && (int64_t)j * 5000 > now - windows[w]; j--) {
				lo = all_r[j] < lo ? all_r[j] : lo;
				hi = all_r[j] > hi ? all_r[j] : hi;
				peak = all_p[j] > peak ? all_p[j] : peak;
			}
			for (size_t k = 0; k < st->n_recs; k++) {
				if (st->recs[k].t_ms <= now - windows[w])
					continue;
				glo = st->recs[k].replicas < glo ? st->recs[k].replicas : glo;
				ghi = st->recs[k].replicas > ghi ? st->recs[k].replicas : ghi;
			}
			ck_assert_int_eq(glo, lo);
			ck_assert_int_eq(ghi, hi);
			ck_assert(ls_policy_produced_peak(st, now - windows[w]) == peak);
		}
	}
	ck_assert_uint_lt(st->n_recs, 60);
	ck_assert_uint_lt(st->n_produced, 60);
	ls_policy_state_free(st);
}
END_TEST

/* The rates of a read against the one the state remembers are those of
 * ls_lag_snapshot_rates against that read; a paused decision remembers its
 * read too. */
START_TEST(test_policy_snapshot_rates)
{
	struct ls_policy_params p;
	struct ls_policy_state *st = ls_policy_state_new();
	struct ls_lag_snapshot a, b, c, b2;
	struct ls_decision d;
	const int64_t c1[] = {100, 200, LS_OFFSET_NONE}, e1[] = {150, 260, 10};
	const int64_t c2[] = {130, 200, 5}, e2[] = {250, 300, 12};
	const int64_t c3[] = {230, 290, 12}, e3[] = {450, 300, 12};
	struct ls_policy_input in = {.now_ms = S(10), .snap = &a, .current_replicas = 2,
				     .paused_replicas = -1};

	ls_policy_params_init(&p);
	snap_parts(&a, S(10), 3, c1, e1);
	ls_policy_snapshot_rates(st, &a);
	ck_assert(a.produce_rate == -1 && a.consume_rate == -1);
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);

	snap_parts(&b, S(15), 3, c2, e2);
	snap_parts(&b2, S(15), 3, c2, e2);
	ls_lag_snapshot_rates(&a, &b2);
	ls_policy_snapshot_rates(st, &b);
	ck_assert_double_eq_tol(b.produce_rate, b2.produce_rate, 1e-9);
	ck_assert_double_eq_tol(b.consume_rate, b2.consume_rate, 1e-9);
	ck_assert_double_eq_tol(b.produce_rate, (100 + 40 + 2) / 5.0, 1e-9);
	ck_assert_double_eq_tol(b.consume_rate, 30 / 5.0, 1e-9);
	in.now_ms = S(15);
	in.snap = &b;
	in.paused = true;
	ck_assert_int_eq(ls_policy_decide(st, &p, &in, &d), 0);
	ck_assert_int_eq(d.action, LS_ACTION_PAUSED);

	snap_parts(&c, S(25), 3, c3, e3);
	ls_policy_snapshot_rates(st, &c);
	ck_assert_double_eq_tol(c.produce_rate, 200 / 10.0, 1e-9);
	ck_assert_double_eq_tol(c.consume_rate, (100 + 90 + 7) / 10.0, 1e-9);
	/* Not later than the remembered read: unknown. */
	c.time_ms = S(15);
	ls_policy_snapshot_rates(st, &c);
	ck_assert(c.produce_rate == -1 && c.consume_rate == -1);
	ls_lag_snapshot_release(&a);
	ls_lag_snapshot_release(&b);
	ls_lag_snapshot_release(&b2);
	ls_lag_snapshot_release(&c);
	ls_policy_state_free(st);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_policy_params_defaults);
	tcase_add_loop_test(tc, test_policy_invalid_params, 0,
			    (int)(sizeof(bad_params) / sizeof(bad_params[0])));
	tcase_add_test(tc, test_policy_invalid_input);
	tcase_add_loop_test(tc, test_policy_lag_recommendation, 0,
			    (int)(sizeof(lag_rows) / sizeof(lag_rows[0])));
	tcase_add_test(tc, test_policy_reason_reads_at_a_glance);
	tcase_add_test(tc, test_policy_action_names);
	tcase_add_loop_test(tc, test_policy_invalid_offsets, 0,
			    (int)(sizeof(invalid_rows) / sizeof(invalid_rows[0])));
	tcase_add_test(tc, test_policy_exclude_persistent_lag);
	tcase_add_test(tc, test_policy_limit_to_partitions_with_lag);
	tcase_add_test(tc, test_policy_dead_zone_reaches_all_partitions);
	tcase_add_test(tc, test_policy_activation_and_cooldown);
	tcase_add_test(tc, test_policy_inactive_goes_to_min_replicas);
	tcase_add_loop_test(tc, test_policy_behavior_policies, 0,
			    (int)(sizeof(behavior_rows) / sizeof(behavior_rows[0])));
	tcase_add_test(tc, test_policy_behavior_counts_the_period);
	tcase_add_test(tc, test_policy_stabilization_windows);
	tcase_add_test(tc, test_policy_long_reason_ends_at_a_word);
	tcase_add_loop_test(tc, test_policy_fallback_behaviors, 0,
			    (int)(sizeof(fallback_rows) / sizeof(fallback_rows[0])));
	tcase_add_test(tc, test_policy_broker_outage_never_scales_to_zero);
	tcase_add_test(tc, test_policy_paused);
	tcase_add_loop_test(tc, test_policy_rate_mode, 0,
			    (int)(sizeof(rate_rows) / sizeof(rate_rows[0])));
	tcase_add_test(tc, test_policy_rate_learns_per_replica_rate);
	tcase_add_test(tc, test_policy_max_consume_rate_in_lag_mode);
	tcase_add_test(tc, test_policy_flapping_lag_within_tolerance);
	tcase_add_test(tc, test_policy_sample_ring_grows_on_use);
	tcase_add_test(tc, test_policy_history_is_bounded);
	tcase_add_loop_test(tc, test_policy_lag_rounds_up_to_useful_counts, 0,
			    sizeof(useful_lag_rows) / sizeof(useful_lag_rows[0]));
	tcase_add_test(tc, test_policy_rate_takes_the_useful_count_that_carries);
	tcase_add_test(tc, test_policy_even_distribution_takes_divisors);
	tcase_add_test(tc, test_policy_hot_partition_is_not_scaled_for);
	tcase_add_test(tc, test_policy_rate_limit_lands_on_a_useful_count);
	tcase_add_test(tc, test_policy_even_backlog_at_the_cap_is_not_hot);
	tcase_add_test(tc, test_policy_scale_down_floor);
	tcase_add_test(tc, test_policy_rate_learns_from_members);
	tcase_add_test(tc, test_policy_history_compacts_steady);
	tcase_add_test(tc, test_policy_history_compaction_is_exact);
	tcase_add_test(tc, test_policy_snapshot_rates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
