/*
 * app.h - lagscale's own metrics (DESIGN.md section 8), on top of the
 * generic registry of metrics.h. The names, types and labels are a
 * contract with dashboards and alerts (deploy/monitoring/):
 *
 *   lagscale_lag_messages{S}                                        gauge
 *   lagscale_partition_lag_messages{S,topic,partition}              gauge
 *   lagscale_partition_committed_offset{S,topic,partition}          gauge
 *       absent while the group has no committed offset there
 *   lagscale_partition_end_offset{S,topic,partition}                gauge
 *       these three only when enabled, and capped (in partitions, three
 *       series each): ls_metrics_app_set_partition_series. Offsets are
 *       gauges that only grow while the topic lives, so PromQL's rate()
 *       of them gives per-partition produce and consume rates.
 *   lagscale_partition_series_dropped_total                         counter
 *       partitions whose series the cap refused (see the same function)
 *   lagscale_lag_seconds{S}                                         gauge
 *       the estimated wait of the oldest unconsumed message (lagtime.h),
 *       the largest over the scaler's partitions
 *   lagscale_produce_rate{...}, lagscale_consume_rate{...}          gauge, msgs/s
 *       (absent until the second read of a scaler gives a rate)
 *   lagscale_replicas_current, _recommended, _desired{...}          gauge
 *   lagscale_scale_events_total{S,direction}                        counter
 *       direction "up" or "down"
 *   lagscale_errors_total{S,stage}                                  counter
 *       stage "collect" (reading lag), "decide" (the policy), "scale"
 *       (changing replicas), or another the caller names
 *   lagscale_scaler_active{S}, lagscale_fallback_active{S}          gauge 0/1
 *   lagscale_scaler_paused{S}                                       gauge 0/1
 *   lagscale_hot_partitions{S}                                      gauge
 *   lagscale_collect_duration_seconds{cluster}                      histogram
 *   lagscale_is_leader                                              gauge 0/1
 *   lagscale_build_info{version,librdkafka}                         gauge 1
 *   lagscale_config_reloads_total{result}                           counter
 *       result "success" or "failure" (the running configuration stayed)
 *   lagscale_config_last_reload_successful                          gauge 0/1
 *       1 from the start
 *   lagscale_events_dropped_total                                   counter
 *       Events not recorded: too many on their way (LS_ACT_EVENTS_QUEUED_MAX)
 *   process_cpu_seconds_total, process_resident_memory_bytes,
 *   process_virtual_memory_bytes, process_open_fds, process_max_fds,
 *   process_start_time_seconds            the standard process series
 *       (process.h), read when the text is rendered; absent without /proc
 *
 * S is the labels of a scaler: scaler, namespace, target, cluster, group.
 * `target` is "KIND/NAME" of the scaled workload, `namespace` its
 * namespace, `cluster` the name of the scaler's Kafka cluster in the
 * config, `group` its consumer group. No per-scaler series has a `topic`
 * label (a scaler may read several topics): the per-partition ones do.
 * A scaler's series exist from ls_metrics_scaler_new() to
 * ls_metrics_scaler_free(), so a scaler removed by a reload disappears
 * from the next scrape.
 *
 * One voice under leader election: a follower (ls_metrics_app_set_leader
 * false) keeps every series up to date but renders only the process-level
 * ones (lagscale_is_leader 0, build info, collect durations, process_*),
 * none about scalers. So summing over the replicas of a deployment counts
 * each scaler once, and a follower that becomes the leader shows its
 * series at once, with their history (lag seconds, counters) warm.
 *
 * Thread-safety: as metrics.h; everything here belongs to the reconcile
 * loop's thread.
 */
#ifndef LS_METRICS_APP_H
#define LS_METRICS_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/offsets.h"

struct ls_buf;
struct ls_metrics;

/* The default cap on per-partition series (ls_metrics_app_set_partition_series):
 * 500 scalers of 20 partitions, about 1.5 MB of exposition text. */
#define LS_METRICS_PARTITION_SERIES_CAP 10000

struct ls_metrics_app;
struct ls_metrics_scaler;
struct ls_metrics_cluster;

/*
 * A registry with every family declared, lagscale_build_info set from the
 * two version strings, lagscale_is_leader at 0, and per-partition series
 * disabled (with the cap LS_METRICS_PARTITION_SERIES_CAP once enabled).
 * 0, -EINVAL (a NULL version), -ENOMEM; *ret untouched on failure.
 * _free(NULL) is a no-op; free every scaler and cluster handle first.
 */
int ls_metrics_app_new(const char *version, const char *librdkafka_version,
                       struct ls_metrics_app **ret);
void ls_metrics_app_free(struct ls_metrics_app *a);

/* Reads the process_* series from /proc/self, then appends the
 * exposition text (ls_metrics_render). */
int ls_metrics_app_render(struct ls_metrics_app *a, struct ls_buf *out);

/* The registry underneath (tests look families up in it). */
struct ls_metrics *ls_metrics_app_registry(struct ls_metrics_app *a);

/* lagscale_is_leader; false also hides the series about scalers (above),
 * true shows them again. */
void ls_metrics_app_set_leader(struct ls_metrics_app *a, bool leader);

/* A reload of the configuration was done (ok) or refused: counts it and
 * sets lagscale_config_last_reload_successful. NULL a: no-op. */
void ls_metrics_app_count_reload(struct ls_metrics_app *a, bool ok);

/* lagscale_events_dropped_total to n, the count so far (it never goes
 * down). NULL a: no-op. */
void ls_metrics_app_set_events_dropped(struct ls_metrics_app *a, uint64_t n);

/*
 * Per-partition series (lagscale_partition_lag_messages, _committed_offset,
 * _end_offset): three per partition a scaler reads, so 60,000 at 1,000
 * scalers of 20 partitions, which would be most of the exposition text
 * and of a Prometheus' series. Hence opt-in, and capped:
 *
 *   enabled false (the default): no partition series at all; disabling
 *     removes those that exist at once.
 *   enabled true: the series of at most `cap` partitions over all
 *     scalers, first come first served, in the order the scalers' reads
 *     are observed. A partition the cap refuses has no series and counts one
 *     in lagscale_partition_series_dropped_total; the scaler tries again
 *     when its partitions change or when the total falls below the cap
 *     (a scaler or partitions went, the cap was raised), and what is
 *     refused again counts again. So the counter counts refusals, not
 *     missing series: a rise says the cap bites. cap 0 creates none but
 *     counts them. A cap below the series that exist removes them all;
 *     each scaler's next good read lays its series out again.
 *
 * Enabled or not, the partitions of a scaler are followed as before: the
 * series of partitions no longer read are removed. Calling it again with
 * the setting in force (as a config reload does) changes nothing.
 *
 * The config key metrics.partitionSeries (a bool, default false) maps to
 * ls_metrics_app_set_partition_series(a, value, LS_METRICS_PARTITION_SERIES_CAP).
 * A NULL a is a no-op.
 */
void ls_metrics_app_set_partition_series(struct ls_metrics_app *a, bool enabled, size_t cap);

/*
 * The series of one scaler, created at 0 (replicas, events in both
 * directions, errors of the three named stages, active, fallback and
 * paused), labelled with its name, the target's namespace and KIND/NAME,
 * the Kafka cluster's name and the consumer group. Strings are copied.
 * 0, -EINVAL (a NULL argument), -ENOMEM (nothing left behind); *ret
 * untouched on failure. _free removes every series of the scaler; NULL is
 * a no-op.
 */
int ls_metrics_scaler_new(struct ls_metrics_app *a, const char *scaler, const char *namespace_,
                          const char *target, const char *cluster, const char *group,
                          struct ls_metrics_scaler **ret);
void ls_metrics_scaler_free(struct ls_metrics_scaler *s);

/*
 * One read of the scaler's lag. A failed read (snap->err) counts an error
 * of stage "collect" and leaves the lag series at their last values (a
 * failed read is unknown, not zero). A good one sets the total, the
 * per-partition lag and offsets when enabled (series of partitions no longer read are
 * removed; see ls_metrics_app_set_partition_series), the rates when
 * known, and adds a sample to the lag-seconds estimator. Series are
 * allocated only when the set of partitions changes (or a capped scaler
 * finds room). Returns 0 or -ENOMEM (some series then keep old values).
 */
int ls_metrics_scaler_observe_lag(struct ls_metrics_scaler *s, const struct ls_lag_snapshot *snap);

/* What the policy decided this round; paused: the target's annotations
 * stop lagscale; hot_partitions 0 when none. */
void ls_metrics_scaler_observe_decision(struct ls_metrics_scaler *s, int32_t current,
                                        int32_t recommended, int32_t desired, bool active,
                                        bool fallback, bool paused, int32_t hot_partitions);

/* A change of replicas from `from` to `to` was made (or assumed in dry-run):
 * counts a scale event in its direction; nothing when equal. */
void ls_metrics_scaler_count_scale(struct ls_metrics_scaler *s, int32_t from, int32_t to);

/* Counts an error of `stage` ("collect", "decide", "scale", or up to four
 * other names, each a series of its own; further names count as "other"). */
void ls_metrics_scaler_count_error(struct ls_metrics_scaler *s, const char *stage);

/* The latest lag-seconds estimate (for tests and logs). */
double ls_metrics_scaler_lag_seconds(const struct ls_metrics_scaler *s);

/* The collect-duration histogram of one Kafka cluster. Same returns as
 * ls_metrics_scaler_new; _free removes the series. */
int ls_metrics_cluster_new(struct ls_metrics_app *a, const char *cluster,
                           struct ls_metrics_cluster **ret);
void ls_metrics_cluster_free(struct ls_metrics_cluster *c);
void ls_metrics_cluster_observe_collect(struct ls_metrics_cluster *c, double seconds);

#endif
