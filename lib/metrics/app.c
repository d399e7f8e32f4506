/* app.c - see app.h. */
#include "metrics/app.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/lagtime.h"
#include "metrics/metrics.h"
#include "metrics/process.h"

enum {
	F_LAG = 0,
	F_PART_LAG,
	F_PART_COMMITTED,
	F_PART_END,
	F_LAG_SECONDS,
	F_PRODUCE,
	F_CONSUME,
	F_CURRENT,
	F_RECOMMENDED,
	F_DESIRED,
	F_EVENTS,
	F_ERRORS,
	F_COLLECT,
	F_ACTIVE,
	F_FALLBACK,
	F_PAUSED,
	F_HOT,
	F_LEADER,
	F_BUILD,
	F_PART_DROPPED,
	F_RELOADS,
	F_RELOAD_OK,
	F_EVENTS_DROPPED,
	F_PROC_CPU,
	F_PROC_RSS,
	F_PROC_VSZ,
	F_PROC_FDS,
	F_PROC_MAX_FDS,
	F_PROC_START,
	N_FAMILIES
};

/* The labels every series of a scaler starts with (scaler_labels). */
#define N_SCALER_LABELS 5

static const char *const scaler_labels[] = {"scaler",  "namespace", "target",
                                            "cluster", "group",     NULL};
static const char *const part_labels[] = {"scaler", "namespace", "target",    "cluster",
                                          "group",  "topic",     "partition", NULL};
static const char *const event_labels[] = {"scaler", "namespace", "target", "cluster",
                                           "group",  "direction", NULL};
static const char *const error_labels[] = {"scaler", "namespace", "target", "cluster",
                                           "group",  "stage",     NULL};
static const char *const cluster_labels[] = {"cluster", NULL};
static const char *const build_labels[] = {"version", "librdkafka", NULL};
static const char *const reload_labels[] = {"result", NULL};

/* Collection rounds take milliseconds on a healthy cluster and up to the
 * round's timeout (10 s at most) on a sick one. */
static const double collect_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10,  30};

/* Families marked S are about scalers: a follower hides them (app.h). */
#define S true
static const struct {
	const char *name;
	const char *help;
	enum ls_metrics_type type;
	const char *const *labels;
	bool scaler;
} families[N_FAMILIES] = {
    [F_LAG] = {"lagscale_lag_messages",
               "Messages of the scaler's topics its consumer group has not consumed yet.",
               LS_METRICS_GAUGE, scaler_labels, S},
    [F_PART_LAG] = {"lagscale_partition_lag_messages",
                    "Messages of one partition the consumer group has not consumed yet.",
                    LS_METRICS_GAUGE, part_labels, S},
    [F_PART_COMMITTED] = {"lagscale_partition_committed_offset",
                          "The consumer group's committed offset of one partition (absent while "
                          "it has none); rate() of it is the group's consume rate.",
                          LS_METRICS_GAUGE, part_labels, S},
    [F_PART_END] = {"lagscale_partition_end_offset",
                    "End offset of one partition (the last stable offset under "
                    "read_committed); rate() of it is the produce rate.",
                    LS_METRICS_GAUGE, part_labels, S},
    [F_LAG_SECONDS] = {"lagscale_lag_seconds",
                       "Estimated seconds the oldest unconsumed message has waited, from "
                       "the history of end offsets.",
                       LS_METRICS_GAUGE, scaler_labels, S},
    [F_PRODUCE] = {"lagscale_produce_rate",
                   "Messages per second produced to the scaler's partitions.", LS_METRICS_GAUGE,
                   scaler_labels, S},
    [F_CONSUME] = {"lagscale_consume_rate", "Messages per second the consumer group committed.",
                   LS_METRICS_GAUGE, scaler_labels, S},
    [F_CURRENT] = {"lagscale_replicas_current",
                   "Replicas of the target when the scaler last decided.", LS_METRICS_GAUGE,
                   scaler_labels, S},
    [F_RECOMMENDED] = {"lagscale_replicas_recommended",
                       "Replicas the policy recommends, before damping.", LS_METRICS_GAUGE,
                       scaler_labels, S},
    [F_DESIRED] = {"lagscale_replicas_desired",
                   "Replicas lagscale sets now (or would set, in dry-run).", LS_METRICS_GAUGE,
                   scaler_labels, S},
    [F_EVENTS] = {"lagscale_scale_events_total",
                  "Replica changes made (or assumed, in dry-run), by direction.",
                  LS_METRICS_COUNTER, event_labels, S},
    [F_ERRORS] = {"lagscale_errors_total",
                  "Errors by stage: collect (reading lag), decide (the policy), scale "
                  "(changing replicas).",
                  LS_METRICS_COUNTER, error_labels, S},
    [F_COLLECT] = {"lagscale_collect_duration_seconds",
                   "Duration of one collection round of a Kafka cluster.", LS_METRICS_HISTOGRAM,
                   cluster_labels},
    [F_ACTIVE] = {"lagscale_scaler_active",
                  "1 when the scaler's lag is above its activation threshold.", LS_METRICS_GAUGE,
                  scaler_labels, S},
    [F_FALLBACK] = {"lagscale_fallback_active",
                    "1 while the fallback behavior decides, after repeated failed reads.",
                    LS_METRICS_GAUGE, scaler_labels, S},
    [F_PAUSED] = {"lagscale_scaler_paused",
                  "1 while the target's lagscale.io/paused or paused-replicas annotation "
                  "stops lagscale from changing it.",
                  LS_METRICS_GAUGE, scaler_labels, S},
    [F_HOT] = {"lagscale_hot_partitions",
               "Partitions whose backlog more replicas cannot help (0 when none).",
               LS_METRICS_GAUGE, scaler_labels, S},
    [F_LEADER] = {"lagscale_is_leader",
                  "1 when this instance is the leader (or runs without leader election).",
                  LS_METRICS_GAUGE, NULL},
    [F_BUILD] = {"lagscale_build_info", "Versions of lagscale and librdkafka; always 1.",
                 LS_METRICS_GAUGE, build_labels},
    [F_RELOADS] = {"lagscale_config_reloads_total",
                   "Reloads of the configuration (SIGHUP or a change of the file), by result: "
                   "success, or failure (the running configuration stayed).",
                   LS_METRICS_COUNTER, reload_labels},
    [F_RELOAD_OK] = {"lagscale_config_last_reload_successful",
                     "0 when the last reload of the configuration was refused (the running "
                     "configuration is older than the file), else 1.",
                     LS_METRICS_GAUGE, NULL},
    [F_EVENTS_DROPPED] = {"lagscale_events_dropped_total",
                          "Kubernetes Events not recorded because too many were already on "
                          "their way to the API server.",
                          LS_METRICS_COUNTER, NULL},
    [F_PART_DROPPED] = {"lagscale_partition_series_dropped_total",
                        "Partitions whose series (lag, committed and end offsets) were not "
                        "created because the cap on their number was reached.",
                        LS_METRICS_COUNTER, NULL, S},
    [F_PROC_CPU] = {"process_cpu_seconds_total",
                    "CPU time the process used, user and system together, in seconds.",
                    LS_METRICS_COUNTER, NULL},
    [F_PROC_RSS] = {"process_resident_memory_bytes",
                    "Memory the process holds in RAM (resident set), in bytes.", LS_METRICS_GAUGE,
                    NULL},
    [F_PROC_VSZ] = {"process_virtual_memory_bytes",
                    "The process's virtual address space, in bytes.", LS_METRICS_GAUGE, NULL},
    [F_PROC_FDS] = {"process_open_fds", "File descriptors the process has open.", LS_METRICS_GAUGE,
                    NULL},
    [F_PROC_MAX_FDS] = {"process_max_fds",
                        "File descriptors the process may open (the soft limit).", LS_METRICS_GAUGE,
                        NULL},
    [F_PROC_START] = {"process_start_time_seconds",
                      "When the process started, in seconds since the Unix epoch.",
                      LS_METRICS_GAUGE, NULL},
};
#undef S

struct ls_metrics_app {
	struct ls_metrics *reg;
	struct ls_metrics_family *f[N_FAMILIES];
	struct ls_metrics_series *leader;
	struct ls_metrics_series *part_dropped;
	struct ls_metrics_series *reloads[2]; /* failure, success */
	struct ls_metrics_series *reload_ok;
	struct ls_metrics_series *events_dropped;
	/* process_*, in the order of F_PROC_CPU..F_PROC_START; NULL when
	 * /proc/self cannot be read (then none exist). */
	struct ls_metrics_series *proc[F_PROC_START - F_PROC_CPU + 1];
#define N_PROC (F_PROC_START - F_PROC_CPU + 1)
	/* Per-partition series: the setting, and how many exist over all
	 * scalers (never more than part_cap). */
	bool part_enabled;
	size_t part_cap;
	size_t n_part_series;
	/* Every scaler, so that a new setting reaches their series at once. */
	struct ls_metrics_scaler *scalers;
};

#define N_FIXED_STAGES 3
#define N_EXTRA_STAGES 4
static const char *const fixed_stages[N_FIXED_STAGES] = {"collect", "decide", "scale"};

struct part_topic {
	char *name;
	size_t n;
	int32_t *ids;
};

/* The series of one partition; all NULL when the cap refused it. The
 * committed offset's exists only while the group has one. */
struct part_series {
	struct ls_metrics_series *lag, *committed, *end;
};

struct ls_metrics_scaler {
	struct ls_metrics_app *app;
	struct ls_metrics_scaler *prev, *next; /* the app's list; linked once complete */
	/* scaler, namespace, target, cluster, group: the labels every series
	 * of the scaler starts with, rendered once */
	struct ls_metrics_labels *lead;
	struct ls_metrics_series *lag, *lag_seconds, *produce, *consume;
	struct ls_metrics_series *current, *recommended, *desired, *active, *fallback, *paused,
	    *hot;
	struct ls_metrics_series *up, *down;
	struct ls_metrics_series *errors[N_FIXED_STAGES + N_EXTRA_STAGES + 1];
	char *extra_stages[N_EXTRA_STAGES];
	/* The partitions of the last good read and their series, flattened in
	 * snapshot order; NULL for a partition whose series the cap refused
	 * (n_refused of them). Empty while partition series are disabled. */
	struct part_topic *ptopics;
	size_t n_ptopics;
	struct part_series *parts;
	size_t n_parts;
	size_t n_refused;
	struct ls_metrics_lagtime_table *lagtime;
	double lag_seconds_value;
};

struct ls_metrics_cluster {
	struct ls_metrics_series *hist;
};

int ls_metrics_app_new(const char *version, const char *librdkafka_version,
                       struct ls_metrics_app **ret)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_series *build;
	struct ls_metrics_process_stats ps;
	const char *bv[] = {version, librdkafka_version};
	int r = -EINVAL;

	if (!version || !librdkafka_version || !ret)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	r = ls_metrics_new(&a->reg);
	for (size_t i = 0; r == 0 && i < N_FAMILIES; i++) {
		bool hist = families[i].type == LS_METRICS_HISTOGRAM;

		r = ls_metrics_family_new(
		    a->reg, families[i].name, families[i].help, families[i].type,
		    families[i].labels, hist ? collect_bounds : NULL,
		    hist ? sizeof(collect_bounds) / sizeof(collect_bounds[0]) : 0, &a->f[i]);
	}
	if (r == 0)
		r = ls_metrics_series_get(a->f[F_LEADER], NULL, &a->leader);
	if (r == 0)
		r = ls_metrics_series_get(a->f[F_BUILD], bv, &build);
	if (r == 0)
		r = ls_metrics_series_get(a->f[F_PART_DROPPED], NULL, &a->part_dropped);
	for (int ok = 0; r == 0 && ok < 2; ok++) {
		const char *rv[] = {ok ? "success" : "failure"};

		r = ls_metrics_series_get(a->f[F_RELOADS], rv, &a->reloads[ok]);
	}
	if (r == 0)
		r = ls_metrics_series_get(a->f[F_RELOAD_OK], NULL, &a->reload_ok);
	if (r == 0)
		r = ls_metrics_series_get(a->f[F_EVENTS_DROPPED], NULL, &a->events_dropped);
	/* process_* only where /proc/self can be read (Linux). */
	if (r == 0 && ls_metrics_process_read(&ps) == 0) {
		for (size_t i = 0; r == 0 && i < N_PROC; i++)
			r = ls_metrics_series_get(a->f[F_PROC_CPU + i], NULL, &a->proc[i]);
		if (r == 0)
			ls_metrics_set(a->proc[F_PROC_START - F_PROC_CPU], ps.start_time_seconds);
	}
	if (r < 0) {
		ls_metrics_app_free(a);
		return r;
	}
	ls_metrics_set(build, 1);
	ls_metrics_set(a->reload_ok, 1);
	a->part_cap = LS_METRICS_PARTITION_SERIES_CAP;
	*ret = a;
	return 0;
}

void ls_metrics_app_free(struct ls_metrics_app *a)
{
	if (!a)
		return;
	ls_metrics_free(a->reg);
	free(a);
}

/* The process_* series from /proc/self, as of now. */
static void process_refresh(struct ls_metrics_app *a)
{
	struct ls_metrics_process_stats ps;
	struct ls_metrics_series *cpu = a->proc[0];

	if (!cpu || ls_metrics_process_read(&ps) < 0)
		return;
	/* A counter only adds: the CPU time since the last render. */
	ls_metrics_add(cpu, ps.cpu_seconds - ls_metrics_value(cpu));
	ls_metrics_set(a->proc[F_PROC_RSS - F_PROC_CPU], ps.resident_bytes);
	ls_metrics_set(a->proc[F_PROC_VSZ - F_PROC_CPU], ps.virtual_bytes);
	ls_metrics_set(a->proc[F_PROC_FDS - F_PROC_CPU], ps.open_fds);
	ls_metrics_set(a->proc[F_PROC_MAX_FDS - F_PROC_CPU], ps.max_fds);
}

int ls_metrics_app_render(struct ls_metrics_app *a, struct ls_buf *out)
{
	process_refresh(a);
	return ls_metrics_render(a->reg, out);
}

struct ls_metrics *ls_metrics_app_registry(struct ls_metrics_app *a)
{
	return a->reg;
}

void ls_metrics_app_set_leader(struct ls_metrics_app *a, bool leader)
{
	ls_metrics_set(a->leader, leader ? 1 : 0);
	for (size_t i = 0; i < N_FAMILIES; i++)
		if (families[i].scaler)
			ls_metrics_family_set_hidden(a->f[i], !leader);
}

void ls_metrics_app_count_reload(struct ls_metrics_app *a, bool ok)
{
	if (!a)
		return;
	ls_metrics_add(a->reloads[ok ? 1 : 0], 1);
	ls_metrics_set(a->reload_ok, ok ? 1 : 0);
}

void ls_metrics_app_set_events_dropped(struct ls_metrics_app *a, uint64_t n)
{
	if (a && (double)n > ls_metrics_value(a->events_dropped))
		ls_metrics_add(a->events_dropped,
			       (double)n - ls_metrics_value(a->events_dropped));
}

static void parts_clear(struct ls_metrics_scaler *s)
{
	for (size_t i = 0; i < s->n_parts; i++) {
		if (!s->parts[i].lag)
			continue;
		ls_metrics_series_remove(s->parts[i].lag);
		ls_metrics_series_remove(s->parts[i].committed);
		ls_metrics_series_remove(s->parts[i].end);
		s->app->n_part_series--;
	}
	for (size_t i = 0; i < s->n_ptopics; i++) {
		free(s->ptopics[i].name);
		free(s->ptopics[i].ids);
	}
	free(s->ptopics);
	free(s->parts);
	s->ptopics = NULL;
	s->parts = NULL;
	s->n_ptopics = 0;
	s->n_parts = 0;
	s->n_refused = 0;
}

void ls_metrics_app_set_partition_series(struct ls_metrics_app *a, bool enabled, size_t cap)
{
	bool clear;

	if (!a)
		return;
	/* Disabling, or a cap below what exists: every scaler starts over,
	 * its next good read laying its series out under the new setting.
	 * Enabling or raising the cap needs nothing now: the next reads
	 * create what is missing. */
	clear = (!enabled && a->part_enabled) || (enabled && cap < a->n_part_series);
	a->part_enabled = enabled;
	a->part_cap = cap;
	for (struct ls_metrics_scaler *s = a->scalers; clear && s; s = s->next)
		parts_clear(s);
}

void ls_metrics_scaler_free(struct ls_metrics_scaler *s)
{
	struct ls_metrics_series *all[] = {
	    s ? s->lag : NULL,     s ? s->lag_seconds : NULL, s ? s->produce : NULL,
	    s ? s->consume : NULL, s ? s->current : NULL,     s ? s->recommended : NULL,
	    s ? s->desired : NULL, s ? s->active : NULL,      s ? s->fallback : NULL,
	    s ? s->paused : NULL,  s ? s->hot : NULL,         s ? s->up : NULL,
	    s ? s->down : NULL};

	if (!s)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else if (s->app->scalers == s)
		s->app->scalers = s->next;
	if (s->next)
		s->next->prev = s->prev;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		ls_metrics_series_remove(all[i]);
	for (size_t i = 0; i < sizeof(s->errors) / sizeof(s->errors[0]); i++)
		ls_metrics_series_remove(s->errors[i]);
	for (size_t i = 0; i < N_EXTRA_STAGES; i++)
		free(s->extra_stages[i]);
	parts_clear(s);
	ls_metrics_lagtime_table_free(s->lagtime);
	ls_metrics_labels_free(s->lead);
	free(s);
}

/* The series of family fi with the scaler's labels, plus up to two more. */
static int scaler_series2(struct ls_metrics_scaler *s, int fi, const char *extra,
                          const char *extra2, struct ls_metrics_series **ret)
{
	const char *v[] = {extra, extra2, NULL};

	return ls_metrics_series_get_with(s->app->f[fi], s->lead, v, ret);
}

static int scaler_series(struct ls_metrics_scaler *s, int fi, const char *extra,
                         struct ls_metrics_series **ret)
{
	return scaler_series2(s, fi, extra, NULL, ret);
}

int ls_metrics_scaler_new(struct ls_metrics_app *a, const char *scaler, const char *namespace_,
                          const char *target, const char *cluster, const char *group,
                          struct ls_metrics_scaler **ret)
{
	const char *labels[N_SCALER_LABELS] = {scaler, namespace_, target, cluster, group};
	struct ls_metrics_scaler *s;
	int r = -ENOMEM;

	if (!a || !ret)
		return -EINVAL;
	for (size_t i = 0; i < N_SCALER_LABELS; i++)
		if (!labels[i])
			return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->app = a;
	r = ls_metrics_labels_new(scaler_labels, labels, &s->lead);
	if (r < 0)
		goto fail;
	r = ls_metrics_lagtime_table_new(&s->lagtime);
	if (r == 0)
		r = scaler_series(s, F_CURRENT, NULL, &s->current);
	if (r == 0)
		r = scaler_series(s, F_RECOMMENDED, NULL, &s->recommended);
	if (r == 0)
		r = scaler_series(s, F_DESIRED, NULL, &s->desired);
	if (r == 0)
		r = scaler_series(s, F_EVENTS, "up", &s->up);
	if (r == 0)
		r = scaler_series(s, F_EVENTS, "down", &s->down);
	for (size_t i = 0; r == 0 && i < N_FIXED_STAGES; i++)
		r = scaler_series(s, F_ERRORS, fixed_stages[i], &s->errors[i]);
	if (r == 0)
		r = scaler_series(s, F_ACTIVE, NULL, &s->active);
	if (r == 0)
		r = scaler_series(s, F_FALLBACK, NULL, &s->fallback);
	if (r == 0)
		r = scaler_series(s, F_PAUSED, NULL, &s->paused);
	if (r == 0)
		r = scaler_series(s, F_HOT, NULL, &s->hot);
	if (r < 0)
		goto fail;
	s->next = a->scalers;
	if (a->scalers)
		a->scalers->prev = s;
	a->scalers = s;
	*ret = s;
	return 0;
fail:
	ls_metrics_scaler_free(s);
	return r;
}

static bool same_parts(const struct ls_metrics_scaler *s, const struct ls_lag_snapshot *snap)
{
	if (s->n_ptopics != snap->n_topics)
		return false;
	for (size_t i = 0; i < snap->n_topics; i++) {
		const struct ls_topic_offsets *t = &snap->topics[i];

		if (s->ptopics[i].n != t->n_parts || strcmp(s->ptopics[i].name, t->topic) != 0)
			return false;
		for (size_t j = 0; j < t->n_parts; j++)
			if (s->ptopics[i].ids[j] != t->parts[j].partition)
				return false;
	}
	return true;
}

/* Replaces the partition series with those of snap's partitions, as many
 * as the cap leaves room for; the others are counted as refused. */
static int parts_relayout(struct ls_metrics_scaler *s, const struct ls_lag_snapshot *snap)
{
	struct ls_metrics_app *a = s->app;
	size_t n = 0, k = 0;
	int r = 0;

	parts_clear(s);
	for (size_t i = 0; i < snap->n_topics; i++)
		n += snap->topics[i].n_parts;
	s->ptopics = calloc(snap->n_topics + 1, sizeof(*s->ptopics));
	s->parts = calloc(n + 1, sizeof(*s->parts));
	if (!s->ptopics || !s->parts) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < snap->n_topics && r == 0; i++) {
		const struct ls_topic_offsets *t = &snap->topics[i];
		struct part_topic *pt = &s->ptopics[i];

		pt->name = strdup(t->topic);
		pt->ids = calloc(t->n_parts + 1, sizeof(*pt->ids));
		s->n_ptopics++;
		if (!pt->name || !pt->ids) {
			r = -ENOMEM;
			break;
		}
		pt->n = t->n_parts;
		for (size_t j = 0; j < t->n_parts && r == 0; j++) {
			struct part_series *ps = &s->parts[k];
			char id[16];

			pt->ids[j] = t->parts[j].partition;
			if (a->n_part_series >= a->part_cap) {
				s->n_refused++;
				s->n_parts = ++k;
				continue;
			}
			snprintf(id, sizeof(id), "%" PRId32, t->parts[j].partition);
			/* The committed offset's series comes with the first one
			 * (ls_metrics_scaler_observe_lag). */
			r = scaler_series2(s, F_PART_LAG, t->topic, id, &ps->lag);
			if (r == 0)
				r = scaler_series2(s, F_PART_END, t->topic, id, &ps->end);
			if (r < 0 && ps->lag) {
				ls_metrics_series_remove(ps->lag);
				ps->lag = NULL;
			}
			if (r == 0) {
				a->n_part_series++;
				s->n_parts = ++k;
			}
		}
	}
out:
	if (r < 0)
		parts_clear(s); /* the next read tries again */
	else
		ls_metrics_add(a->part_dropped, (double)s->n_refused);
	return r;
}

int ls_metrics_scaler_observe_lag(struct ls_metrics_scaler *s, const struct ls_lag_snapshot *snap)
{
	size_t k = 0;
	double secs;
	int r = 0;

	if (!s || !snap)
		return -EINVAL;
	if (snap->err) {
		ls_metrics_add(s->errors[0], 1);
		return 0;
	}
	if (!s->lag)
		r = scaler_series(s, F_LAG, NULL, &s->lag);
	if (r == 0 && !s->lag_seconds)
		r = scaler_series(s, F_LAG_SECONDS, NULL, &s->lag_seconds);
	if (r == 0 && !s->produce && snap->produce_rate >= 0)
		r = scaler_series(s, F_PRODUCE, NULL, &s->produce);
	if (r == 0 && !s->consume && snap->consume_rate >= 0)
		r = scaler_series(s, F_CONSUME, NULL, &s->consume);
	/* A scaler refused series before tries again when room was freed
	 * (another scaler's partitions went, or the cap was raised). */
	if (r == 0 && s->app->part_enabled &&
	    (!same_parts(s, snap) || (s->n_refused && s->app->n_part_series < s->app->part_cap)))
		r = parts_relayout(s, snap);
	ls_metrics_set(s->lag, (double)snap->total_lag);
	if (snap->produce_rate >= 0)
		ls_metrics_set(s->produce, snap->produce_rate);
	if (snap->consume_rate >= 0)
		ls_metrics_set(s->consume, snap->consume_rate);
	for (size_t i = 0; s->n_parts && i < snap->n_topics; i++) {
		const struct ls_topic_offsets *t = &snap->topics[i];

		for (size_t j = 0; j < t->n_parts; j++) {
			const struct ls_partition_offsets *po = &t->parts[j];
			struct part_series *ps = &s->parts[k++];

			if (!ps->lag)
				continue; /* refused by the cap */
			ls_metrics_set(ps->lag, (double)po->lag);
			ls_metrics_set(ps->end, (double)po->end);
			if (po->committed >= 0 && !ps->committed && r == 0) {
				char id[16];

				snprintf(id, sizeof(id), "%" PRId32, po->partition);
				r = scaler_series2(s, F_PART_COMMITTED, t->topic, id,
				                   &ps->committed);
			} else if (po->committed < 0 && ps->committed) {
				ls_metrics_series_remove(ps->committed);
				ps->committed = NULL;
			}
			ls_metrics_set(ps->committed, (double)po->committed);
		}
	}
	if (ls_metrics_lagtime_table_update(s->lagtime, snap, &secs) == 0) {
		s->lag_seconds_value = secs;
		ls_metrics_set(s->lag_seconds, secs);
	} else if (r == 0) {
		r = -ENOMEM;
	}
	return r;
}

void ls_metrics_scaler_observe_decision(struct ls_metrics_scaler *s, int32_t current,
                                        int32_t recommended, int32_t desired, bool active,
                                        bool fallback, bool paused, int32_t hot_partitions)
{
	if (!s)
		return;
	ls_metrics_set(s->paused, paused ? 1 : 0);
	ls_metrics_set(s->hot, hot_partitions);
	ls_metrics_set(s->current, current);
	ls_metrics_set(s->recommended, recommended);
	ls_metrics_set(s->desired, desired);
	ls_metrics_set(s->active, active ? 1 : 0);
	ls_metrics_set(s->fallback, fallback ? 1 : 0);
}

void ls_metrics_scaler_count_scale(struct ls_metrics_scaler *s, int32_t from, int32_t to)
{
	if (!s || from == to)
		return;
	ls_metrics_add(to > from ? s->up : s->down, 1);
}

/* The series that counts errors of `stage`, created on first use; NULL
 * only when even the "other" series cannot be allocated. */
static struct ls_metrics_series *error_series(struct ls_metrics_scaler *s, const char *stage)
{
	const size_t other = N_FIXED_STAGES + N_EXTRA_STAGES;

	for (size_t i = 0; i < N_FIXED_STAGES; i++)
		if (strcmp(stage, fixed_stages[i]) == 0)
			return s->errors[i];
	/* "other" is the overflow series: never an extra of its own, so no
	 * series is held twice. */
	for (size_t j = 0; strcmp(stage, "other") != 0 && j < N_EXTRA_STAGES; j++) {
		struct ls_metrics_series **slot = &s->errors[N_FIXED_STAGES + j];

		if (s->extra_stages[j] && strcmp(s->extra_stages[j], stage) == 0)
			return *slot;
		if (!s->extra_stages[j]) {
			char *name = strdup(stage);

			if (!name || scaler_series(s, F_ERRORS, stage, slot) < 0) {
				free(name);
				break;
			}
			s->extra_stages[j] = name;
			return *slot;
		}
	}
	if (!s->errors[other] && scaler_series(s, F_ERRORS, "other", &s->errors[other]) < 0)
		return NULL;
	return s->errors[other];
}

void ls_metrics_scaler_count_error(struct ls_metrics_scaler *s, const char *stage)
{
	if (s && stage)
		ls_metrics_add(error_series(s, stage), 1);
}

double ls_metrics_scaler_lag_seconds(const struct ls_metrics_scaler *s)
{
	return s ? s->lag_seconds_value : 0;
}

int ls_metrics_cluster_new(struct ls_metrics_app *a, const char *cluster,
                           struct ls_metrics_cluster **ret)
{
	struct ls_metrics_cluster *c;
	const char *v[] = {cluster};
	int r;

	if (!a || !cluster || !ret)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = ls_metrics_series_get(a->f[F_COLLECT], v, &c->hist);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void ls_metrics_cluster_free(struct ls_metrics_cluster *c)
{
	if (!c)
		return;
	ls_metrics_series_remove(c->hist);
	free(c);
}

void ls_metrics_cluster_observe_collect(struct ls_metrics_cluster *c, double seconds)
{
	if (c)
		ls_metrics_observe(c->hist, seconds);
}
