/*
 * kafka.h - one librdkafka client per Kafka cluster, and the batched
 * collection round that turns it into lag snapshots.
 *
 * A round, for all the due queries of one cluster (DESIGN.md section 1):
 *   1. one metadata request for every topic (topic patterns and "every
 *      topic the group committed to" are resolved against it);
 *   2. the committed offsets of every due group, with ListConsumerGroupOffsets
 *      requests issued concurrently on one queue, each with its explicit
 *      partition list (a query for every topic its group committed to asks
 *      with no list, and gets the end offsets of those topics once the
 *      reply is in); while they travel,
 *   3. end offsets of every partition in use with rd_kafka_offsets_for_times
 *      (RD_KAFKA_OFFSET_END), in chunks of ls_kafka_chunk_size() partitions
 *      of one leader (from the metadata), several chunks at once on short-lived
 *      threads of the round (offsets_for_times waits for its answer); log
 *      start offsets the same way where `earliest` needs them.
 *
 * librdkafka traps honoured here (DESIGN.md section 10), each measured
 * again on 2.8.0 against the mock cluster and still there: a handle with no
 * consumer group crashes librdkafka when ListConsumerGroupOffsets meets
 * NOT_COORDINATOR (rd_kafka_cgrp_op on a NULL group), so the handle is a
 * consumer with a group.id of its own that never subscribes; the mock
 * cluster returns no partition for NULL partitions ("all"), so it gets
 * explicit lists (a real broker returns every committed partition, and a
 * query for every topic its group committed to asks so); one group per
 * ListConsumerGroupOffsets call; isolation.level
 * defaults to read_committed, so it is set explicitly; offsets_for_times
 * fails the whole call on one partition's error and costs more than
 * linearly with its list, so it is chunked, its return value checked, and a
 * leader error refreshes metadata and retries once. Every request has a
 * deadline (the round's); a request that outlives it fails its queries
 * for the round (the others are delivered) and is counted in late_requests,
 * and the client is kept, warm, for the next round. A client is recreated
 * only when it failed: a fatal librdkafka error, or three rounds in a row
 * without an answer to its metadata request. Keeping it needs the fix of
 * librdkafka issue #4605 that scripts/librdkafka applies (an admin request
 * that times out while its group coordinator is looked up aborts 2.8.0):
 * built against a librdkafka without it (no RD_KAFKA_LAGSCALE_FIX_4605 in
 * rdkafka.h), a client whose group request went unanswered is recreated
 * at the start of the next round, as before.
 *
 * Errors that a retry cannot cure end a round at once, not at its
 * deadline: a refused login, an unsupported SASL mechanism, a failed TLS
 * handshake (a certificate that does not verify, a listener without TLS), a
 * TLS listener spoken to in plaintext, and an OAUTHBEARER token that could
 * not be had. OAUTHBEARER tokens (OIDC) are refreshed on librdkafka's
 * background thread.
 *
 * Thread-safety: a struct ls_kafka is used by one thread at a time.
 */
#ifndef LS_KAFKA_KAFKA_H
#define LS_KAFKA_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "util/offsets.h"
#include "util/parse.h"

/*
 * Partitions per offsets_for_times call, all of one leader (so a call is
 * one request): 1,000 with a librdkafka that matches answers to the list
 * in n log n (RD_KAFKA_LAGSCALE_OFFSETS_NLOGN, patch 0005), 100 with one
 * that searches linearly, where a call costs the square of its length (at
 * 1,000 groups x 20 partitions on the mock cluster, chunks of 500 spent a
 * third of lagscale's CPU in that search). See scripts/bench.
 */
size_t ls_kafka_chunk_size(void);

struct ls_kafka;

struct ls_kafka_prop {
	const char *key;
	const char *value; /* may be a secret: never logged */
};

/* Counters of the requests a client sent, for the benchmark and metrics. */
struct ls_kafka_stats {
	uint64_t rounds;
	uint64_t metadata_requests;
	uint64_t offsets_requests; /* offsets_for_times calls (one per chunk and level) */
	uint64_t group_requests;   /* ListConsumerGroupOffsets requests */
	uint64_t describe_requests; /* groups described (librdkafka sends one request each) */
	uint64_t recreated;	   /* handles recreated after they failed (see below) */
	uint64_t late_requests;	   /* requests unanswered at their round's deadline */
};

/*
 * Creates the client of cluster `name` (used in messages). props go to
 * librdkafka as they are, after lagscale's own settings, so a user can
 * override them. No network I/O happens here. Returns 0, or -EINVAL when
 * librdkafka refuses a property (errbuf says which key, and librdkafka's
 * reason, which quotes a refused value unless the key names a secret
 * (ls_log_key_is_secret): never a secret's value).
 */
int ls_kafka_new(const char *name, const char *bootstrap_servers,
		 const struct ls_kafka_prop *props, size_t n_props, struct ls_kafka **ret,
		 char *errbuf, size_t errlen);
void ls_kafka_free(struct ls_kafka *k);

/*
 * Builds the librdkafka configuration ls_kafka_new would (lagscale's own
 * settings, then props, then the checks of the OIDC and AWS MSK IAM
 * settings), and discards it: no client, no thread, no I/O, and the AWS
 * credentials are not looked for (the environment that checks a file is
 * seldom the one that runs it). For `lagscale check-config`, so that it
 * refuses what `run` would. Returns 0; -EINVAL when a property is refused,
 * errbuf naming the key (never the value) and *ret_index (when not NULL)
 * the refused property's index in props, SIZE_MAX when the problem is
 * not one property's (a setting that is missing); -ENOMEM. *ret_index is
 * untouched unless -EINVAL is returned.
 */
int ls_kafka_check_conf(const char *name, const char *bootstrap_servers,
			const struct ls_kafka_prop *props, size_t n_props, size_t *ret_index,
			char *errbuf, size_t errlen);

/* What one scaler (or one `lagscale lag` invocation) wants to know. */
struct ls_kafka_query {
	const char *group;
	const char *const *topics; /* explicit topics; n_topics 0 and no pattern: */
	size_t n_topics;	   /* every topic the group has committed offsets for */
	const char *topic_pattern;	      /* POSIX ERE or NULL */
	const struct ls_int_ranges *partitions; /* NULL or n == 0: all */
	enum ls_offset_reset reset;		/* earliest: log start offsets are read */
	enum ls_isolation isolation;
};

/*
 * Lets rounds within ms of a metadata read reuse its topics and partitions
 * instead of each asking for the metadata again (0, the default: every
 * round asks). The metadata is read anyway when it is older, after a
 * round failed or an offsets request was refused (a leader may have moved,
 * a partition been added), and when a query names a topic it does not
 * have. The reconcile loop sets half the shortest polling interval of the
 * cluster's scalers, so added partitions are still seen within one
 * interval. Same thread as ls_kafka_collect.
 */
void ls_kafka_set_metadata_max_age(struct ls_kafka *k, int64_t ms);

/*
 * Runs one collection round for n queries within timeout_ms. Fills
 * ret_snaps[i] for each query (the caller releases them with
 * ls_lag_snapshot_release): offsets, per-partition lag by the query's reset
 * policy, totals, time_ms = monotonic time of the read; rates are left at -1
 * (see ls_lag_snapshot_rates). A query that failed has err < 0 and errmsg
 * set (e.g. a missing topic, a group the broker refused); a group that does
 * not exist has err -ESRCH and errmsg `consumer group "G" does not exist`.
 * Existence is decided as kafka-consumer-groups decides it, and only for a
 * group with no committed offset at all (a group with one exists): the
 * group's description says Dead or GROUP_ID_NOT_FOUND. The round describes
 * its groups anyway (state, assignor, members); when it skipped that (the
 * descriptions were late in recent rounds), only the groups without a
 * commit are described. A group that could not be described is taken to
 * exist. Returns 0 when the
 * round ran, even if some queries failed; a negative errno when the whole
 * cluster failed (unreachable, auth refused, timed out), in which case every
 * snapshot carries that error too: -EACCES when the broker refused the
 * client (login, SASL mechanism, TLS); -ETIMEDOUT when no broker answered
 * within timeout_ms (a broker down, or one that accepts connections and
 * never answers: after three such rounds in a row the client is
 * recreated, on new connections); -EIO otherwise. The message names the
 * cluster, its bootstrap servers and the cause, on one line.
 */
int ls_kafka_collect(struct ls_kafka *k, const struct ls_kafka_query *queries, size_t n,
		     int64_t timeout_ms, struct ls_lag_snapshot *ret_snaps);

/*
 * The consumer groups of the cluster, as `kafka-consumer-groups --list`
 * shows them (ListGroups, asked of every broker), sorted by name, within
 * timeout_ms. *ret_groups is a NULL-terminated array of strings the caller
 * frees with ls_kafka_groups_free; *ret_n their number. Returns 0;
 * -EOPNOTSUPP when the cluster cannot list groups (librdkafka's mock
 * cluster); -ETIMEDOUT, -EACCES (the broker refused the client) or -EIO
 * with errbuf saying why; -ENOMEM. ret_* untouched on failure.
 */
int ls_kafka_list_groups(struct ls_kafka *k, int64_t timeout_ms, char ***ret_groups,
			 size_t *ret_n, char *errbuf, size_t errlen);
void ls_kafka_groups_free(char **groups);

/* The request counters of a client; zeros for NULL. */
void ls_kafka_get_stats(const struct ls_kafka *k, struct ls_kafka_stats *ret);

/*
 * What librdkafka the process really runs (Debian 12's 2.0.2 has the same
 * soname as the 2.8 lagscale is built against, so the build-time version
 * proves nothing). ret->version is rd_kafka_version_str() of the loaded
 * library; ret->path is the file it was loaded from ("" if unknown);
 * ret->features its builtin.features ("" if unreadable);
 * ret->patches the lagscale patches of scripts/librdkafka.d that the
 * rdkafka.h this binary was compiled with declares, as "lagscale #4605"
 * ("" for none). That is a fact of the build, not of the loaded file: the
 * patches change no symbol, so the library cannot be asked; the rpath to
 * the patched build (meson.build) is what makes the two agree. Strings
 * are truncated to their buffers. Thread-safe.
 */
struct ls_kafka_library {
	char version[32];
	char built_against[32]; /* the rdkafka.h this binary was compiled with */
	char patches[64];       /* lagscale's patches in that rdkafka.h; "" for none */
	char path[512];
	char features[512];
};
void ls_kafka_library_info(struct ls_kafka_library *ret);

#endif
