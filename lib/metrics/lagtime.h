/*
 * lagtime.h - lag in seconds: how long the oldest unconsumed message of a
 * partition has been waiting, estimated from the history of its end offset
 * (the method of kafka-lag-exporter).
 *
 * Kafka does not say when a message was produced without reading it, but
 * the end offsets lagscale reads every poll are a clock of production: if
 * the end offset was E1 at t1 and E2 at t2, offset c (E1 <= c < E2) was
 * produced at about t1 + (c - E1) / (E2 - E1) * (t2 - t1). The oldest
 * unconsumed message of a partition is at the committed offset, so its
 * wait is now minus the time the end offset passed the committed offset.
 *
 * struct ls_metrics_lagtime keeps, per partition, a small bounded ring of (time,
 * end offset) samples, one per poll. Runs of equal end offsets are kept as
 * their first and last sample only, so an idle partition does not push the
 * history of its last burst out of the ring. A committed offset older than
 * every sample is extrapolated with the rate over the whole ring, and never
 * estimated younger than the oldest sample. No lag is 0 seconds.
 *
 * The ring holds only what an estimate can still use: samples older than
 * the newest one at or below the committed offset are forgotten
 * (ls_metrics_lagtime_forget), since the committed offset only grows. A
 * consumer that keeps up needs one or two samples, one that falls behind
 * as many as its lag spans, up to LS_METRICS_LAGTIME_SAMPLES; the ring's
 * memory grows and shrinks with that (at 1,000 scalers x 20 partitions a
 * fixed ring of 32 cost 11 MB). Up to LS_METRICS_LAGTIME_INLINE samples
 * live in the ring itself, so a consumer that keeps up costs no block of
 * its own (at 10,000 scalers x 20 partitions, 48 bytes of block and
 * malloc overhead each, about 10 MB).
 *
 * Pure: time is an argument (any clock, as long as it is one clock), no
 * I/O. struct ls_metrics_lagtime_table keeps the rings of one scaler's
 * partitions, following the partitions of its snapshots. Not thread-safe:
 * one owner.
 */
#ifndef LS_METRICS_LAGTIME_H
#define LS_METRICS_LAGTIME_H

#include <stddef.h>
#include <stdint.h>

#include "util/offsets.h"

/* Samples per partition: with a 15 s poll, about 8 minutes of production
 * (runs of equal offsets take two slots however long they last). */
#define LS_METRICS_LAGTIME_SAMPLES 32

struct ls_metrics_lagtime_sample {
	int64_t time_ms;
	int64_t end;
};

/* Samples kept in the ring itself, with no memory of their own. */
#define LS_METRICS_LAGTIME_INLINE 2

struct ls_metrics_lagtime {
	/* cap slots: in `in` while cap <= LS_METRICS_LAGTIME_INLINE, else in
	 * the block `heap` (ls_metrics_lagtime_slots) */
	union {
		struct ls_metrics_lagtime_sample in[LS_METRICS_LAGTIME_INLINE];
		struct ls_metrics_lagtime_sample *heap;
	} u;
	uint8_t cap;
	uint8_t head; /* index of the oldest sample */
	uint8_t n;
};

/* The ring's cap slots, wherever they are. */
static inline const struct ls_metrics_lagtime_sample *
ls_metrics_lagtime_slots(const struct ls_metrics_lagtime *lt)
{
	return lt->cap <= LS_METRICS_LAGTIME_INLINE ? lt->u.in : lt->u.heap;
}

/* An empty ring (no memory of its own; it may be moved by copying the
 * struct, as long as only one copy is used afterwards). */
void ls_metrics_lagtime_init(struct ls_metrics_lagtime *lt);
/* Frees the ring's block, if any; it is then empty, as after _init. */
void ls_metrics_lagtime_release(struct ls_metrics_lagtime *lt);

/*
 * Records that the end offset was `end` at time_ms. A sample not later
 * than the newest is ignored; an end offset lower than the newest (the
 * topic was recreated, or the log truncated) empties the ring first, since
 * the old samples no longer describe this log. Negative ends are ignored.
 * A full ring of LS_METRICS_LAGTIME_SAMPLES drops its oldest sample. 0, or
 * -ENOMEM when the ring could not grow (the sample is then lost).
 */
int ls_metrics_lagtime_add(struct ls_metrics_lagtime *lt, int64_t time_ms, int64_t end);

/*
 * Forgets the samples no estimate for an offset >= committed can use: all
 * older than the newest sample at or below committed. The ring's memory
 * shrinks when it is mostly empty.
 */
void ls_metrics_lagtime_forget(struct ls_metrics_lagtime *lt, int64_t committed);

/*
 * Seconds the message at offset `committed` has waited at now_ms: 0 when
 * committed is at or past the newest end offset, or the ring is empty;
 * otherwise now minus the interpolated time at which the end offset was
 * `committed` (see above), never negative.
 */
double ls_metrics_lagtime_estimate(const struct ls_metrics_lagtime *lt, int64_t now_ms,
                                   int64_t committed);

/* The rings of every partition of one scaler. */
struct ls_metrics_lagtime_table;

/* 0 or -ENOMEM; *ret untouched on failure. _free(NULL) is a no-op. */
int ls_metrics_lagtime_table_new(struct ls_metrics_lagtime_table **ret);
void ls_metrics_lagtime_table_free(struct ls_metrics_lagtime_table *t);

/*
 * Adds one sample per partition of snap (its end offset at snap->time_ms),
 * starts empty rings for new partitions and drops the rings of partitions
 * no longer in snap, then sets *ret_max_seconds to the largest estimate
 * over snap's partitions at snap->time_ms. A partition with no committed
 * offset is estimated from its log start when that was read, else left
 * out; then forgets the samples the estimates no longer need
 * (ls_metrics_lagtime_forget; also before the sample is added, so that a
 * consumer less than a poll behind never needs more than two). Work is
 * linear in the partitions. Returns
 * 0; -EINVAL when snap failed (err) or
 * is NULL; -ENOMEM, the table then keeping the previous partitions. On
 * failure *ret_max_seconds is untouched.
 */
int ls_metrics_lagtime_table_update(struct ls_metrics_lagtime_table *t,
                                    const struct ls_lag_snapshot *snap, double *ret_max_seconds);

/* Partitions tracked (for tests). */
size_t ls_metrics_lagtime_table_size(const struct ls_metrics_lagtime_table *t);

#endif
