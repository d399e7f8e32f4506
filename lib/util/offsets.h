/*
 * offsets.h - the lag snapshot: what one collection round read for one
 * scaler, shared by its producer (lib/kafka, lib/sim) and its consumers
 * (lib/policy, the controller, `lagscale lag`).
 *
 * Per-partition lag follows DESIGN.md section 5 and is computed here only,
 * so the `lag` command, the policy engine and the metrics always agree.
 */
#ifndef LS_UTIL_OFFSETS_H
#define LS_UTIL_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_OFFSET_NONE	  (-1) /* the group has no committed offset */
#define LS_OFFSET_UNKNOWN (-2) /* not read (log start when not needed) */

enum ls_offset_reset { LS_RESET_LATEST = 0, LS_RESET_EARLIEST };
enum ls_isolation { LS_ISOLATION_READ_UNCOMMITTED = 0, LS_ISOLATION_READ_COMMITTED };

/* Held per partition by every snapshot kept: the two 32-bit fields come
 * first, so that it packs into 40 bytes. */
struct ls_partition_offsets {
	int32_t partition;
	/* The owning member: 1 + its index in the snapshot's group.members;
	 * 0 when no member owns it or the group is unknown (so zeroed
	 * partitions have no owner). */
	int32_t owner;
	int64_t committed; /* LS_OFFSET_NONE when the group has none */
	int64_t end;	   /* high watermark, or the LSO under read_committed */
	int64_t log_start; /* LS_OFFSET_UNKNOWN unless fetched */
	int64_t lag;	   /* ls_offsets_partition_lag(), invalid offsets not zeroed */
};

/* One member of a consumer group, as DescribeConsumerGroups reports it. */
struct ls_group_member {
	char *member_id;
	char *client_id;
	char *host;
};

/*
 * The consumer group as Kafka sees it. known is false when it could not be
 * read (a broker without DescribeGroups, such as librdkafka's mock cluster,
 * or a failed request): that never fails the snapshot, its offsets and lag
 * stand on their own.
 */
struct ls_group_info {
	bool known;
	char state[32];	   /* "Stable", "Empty", "PreparingRebalance", "Dead", ... */
	char assignor[64]; /* the group's partition assignor; "" when none (empty group) */
	struct ls_group_member *members;
	size_t n_members;
};

struct ls_topic_offsets {
	char *topic;
	struct ls_partition_offsets *parts; /* sorted by partition */
	size_t n_parts;
};

struct ls_lag_snapshot {
	int64_t time_ms; /* monotonic ms of the read; virtual ms in the simulator */
	int err;	 /* 0, or a negative errno: the read failed, nothing below is known */
	/* Why it failed, on the heap only while there is a failure (a fleet
	 * of healthy reads keeps none): NULL when err is 0, and when there was
	 * no memory for it. Set by ls_lag_snapshot_fail, read through
	 * ls_lag_snapshot_errmsg, freed by ls_lag_snapshot_release. */
	char *errmsg;
	struct ls_topic_offsets *topics; /* sorted by name */
	size_t n_topics;
	int64_t total_lag;
	int32_t partition_count;
	double produce_rate; /* msgs/s since the previous snapshot; < 0 when unknown */
	double consume_rate; /* msgs/s of committed progress; < 0 when unknown */
	struct ls_group_info group;
};

/*
 * Lag of one partition: end - committed (never negative). With no committed
 * offset: 1 under `latest`, end - logStart under `earliest` (end when the
 * log start was not read); 0 in both cases when zero_on_invalid
 * (scaleToZeroOnInvalidOffset).
 */
int64_t ls_offsets_partition_lag(const struct ls_partition_offsets *p, enum ls_offset_reset reset,
				 bool zero_on_invalid);

/* Fills every partition's lag, total_lag and partition_count. */
void ls_lag_snapshot_compute(struct ls_lag_snapshot *s, enum ls_offset_reset reset);

/* How far an offset moved from prev to cur: cur - prev when both are known
 * (>= 0) and cur did not go back (a deleted and recreated topic), else 0. */
static inline int64_t ls_offsets_advance(int64_t prev, int64_t cur)
{
	return prev >= 0 && cur >= 0 && cur >= prev ? cur - prev : 0;
}

/*
 * Sets cur's produce and consume rates from the offsets of prev (same
 * scaler, earlier read). Partitions present in only one of them, or with no
 * committed offset in either, are left out of the consume rate. Rates stay
 * at -1 when prev is NULL, failed, or not earlier than cur.
 */
void ls_lag_snapshot_rates(const struct ls_lag_snapshot *prev, struct ls_lag_snapshot *cur);

/*
 * Where an earlier read is kept in some other form: finds a partition's
 * offsets in it (end and committed, -1 when unknown); false when it has
 * none.
 */
typedef bool (*ls_lag_prev_lookup)(const void *ctx, const char *topic, int32_t partition,
				   int64_t *end, int64_t *committed);

/*
 * As ls_lag_snapshot_rates, from an earlier read made at prev_time_ms
 * whose offsets lookup(ctx, ...) finds. Rates stay at -1 when cur failed
 * or prev_time_ms is not earlier than cur's time.
 */
void ls_lag_snapshot_rates_from(struct ls_lag_snapshot *cur, int64_t prev_time_ms,
				ls_lag_prev_lookup lookup, const void *ctx);

/* Looks a partition up (binary search); NULL when absent. */
const struct ls_partition_offsets *ls_lag_snapshot_find(const struct ls_lag_snapshot *s,
							const char *topic, int32_t partition);

/* A failure message is cut to this many bytes, the terminator included. */
#define LS_LAG_ERRMSG_MAX 512

/*
 * Marks s failed: err (a negative errno) and the message fmt makes (cut to
 * LS_LAG_ERRMSG_MAX - 1 bytes), replacing any message s held. Without
 * memory for the message errmsg is NULL and ls_lag_snapshot_errmsg falls
 * back to strerror(-err). Nothing else in s changes.
 */
void ls_lag_snapshot_fail(struct ls_lag_snapshot *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Why s failed: its message, strerror(-err) when it has none; "" when it
 * did not fail. Valid while s is unchanged. */
const char *ls_lag_snapshot_errmsg(const struct ls_lag_snapshot *s);

/* Deep copy into *ret (released by ls_lag_snapshot_release). 0 or -ENOMEM. */
int ls_lag_snapshot_copy(const struct ls_lag_snapshot *src, struct ls_lag_snapshot *ret);

/* Frees the group's members and marks the group unknown. */
void ls_group_info_release(struct ls_group_info *g);

/* Frees topics, partitions, the group and the message, and zeroes the
 * struct; safe on a zeroed one. */
void ls_lag_snapshot_release(struct ls_lag_snapshot *s);

#endif
