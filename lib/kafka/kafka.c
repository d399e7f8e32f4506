/* kafka.c - see kafka.h. */
#include "kafka/kafka.h"

#include "kafka/awsiam.h"

#include <dlfcn.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define N_LEVELS 2

/* How long a round waits for the group descriptions after its offsets are
 * in, and how many rounds skip them after they did not come. */
#define LS_KAFKA_DESCRIBE_GRACE_MS 500
#define LS_KAFKA_DESCRIBE_SKIP_ROUNDS 20
/* offsets_for_times calls at once per read, each on a thread (offsets_start). */
#define LS_KAFKA_OFFSETS_IN_FLIGHT 8
/* ls_kafka_chunk_size() */
#ifdef RD_KAFKA_LAGSCALE_OFFSETS_NLOGN
#define LS_KAFKA_CHUNK 1000
#else
#define LS_KAFKA_CHUNK 100
#endif
/* ListConsumerGroupOffsets requests unanswered at once (issue_committed). */
#define LS_KAFKA_GROUPS_IN_FLIGHT 100
/* Rounds in a row in which a handle's metadata request went unanswered
 * before the handle is recreated (see ensure_handle). */
#define LS_KAFKA_RECREATE_AFTER 3
/* librdkafka with lagscale's fix of issue #4605 (scripts/librdkafka.d):
 * a handle may keep coordinator requests that outlived their round.
 * Without it (a distribution's librdkafka 2.8.0) such a request can abort
 * the process when it times out, so its handle is recreated at once. */
#ifdef RD_KAFKA_LAGSCALE_FIX_4605
#define LS_KAFKA_KEEP_LATE_CLIENT 1
#else
#define LS_KAFKA_KEEP_LATE_CLIENT 0
#endif

struct ls_kafka {
	char *name;
	char *bootstrap;
	struct ls_kafka_prop *props; /* owned copies */
	size_t n_props;
	struct ls_awsiam *awsiam; /* sasl.mechanism AWS_MSK_IAM; NULL otherwise */
	rd_kafka_t *rk[N_LEVELS]; /* one handle per isolation level, made on demand */
	bool broken[N_LEVELS];	  /* the handle failed: recreate it (ensure_handle) */
	int silent[N_LEVELS];	  /* rounds in a row without a metadata answer */
	bool proven[N_LEVELS];	  /* a metadata request has succeeded on the handle */
	pthread_mutex_t mu;	  /* guards the fields below (librdkafka threads write them) */
	char last_error[256];
	/* The broker refused the client (authentication or TLS): set by
	 * error_cb, cleared at the start of a round. Retrying does not help,
	 * so the round ends at once instead of at its deadline. */
	char refused[384];
	rd_kafka_t *rk_describe;   /* describes groups; made on first use */
	bool describe_unsupported; /* the cluster has no DescribeGroups */
	int describe_skip;	   /* rounds left without describing (not answered) */
	/* librdkafka's mock cluster (it names itself in its cluster id): it
	 * has no DescribeGroups or ListGroups, and returns nothing for
	 * ListConsumerGroupOffsets without a partition list. Known once a
	 * metadata request succeeded (mock_checked). */
	bool is_mock;
	bool mock_checked;
	/* The topics and partitions of the last metadata read (struct wtopic,
	 * their per-round fields unused between rounds), reused by the rounds
	 * within metadata_max_age_ms of it; stale after an error. */
	struct wtopic *topics;
	size_t n_topics;
	int64_t topics_at; /* monotonic ms of the read */
	bool topics_stale;
	int64_t metadata_max_age_ms;
	struct ls_kafka_stats stats;
};

/* One topic of the metadata, as a round uses it. */
struct wtopic {
	char *name;
	int32_t *ids;	  /* sorted partition ids */
	int32_t *leaders; /* the leader broker of each, as the metadata said (-1: none) */
	int n;
	int err; /* topic-level metadata error (rd_kafka_resp_err_t) */
	bool need_end[N_LEVELS];
	bool need_start;
	int64_t *end[N_LEVELS]; /* by partition index; LS_OFFSET_UNKNOWN until read */
	int64_t *start;
};

/* A committed offset of a reply, its topic the round's wtopic. */
struct wcommit {
	uint32_t topic; /* index into the round's wtopic array */
	int32_t partition;
	int64_t offset; /* >= 0 */
};

/* One query's working state. */
struct wquery {
	size_t *topics; /* indexes into the round's wtopic array */
	size_t n_topics;
	/* The reply's committed offsets, of the topics in the metadata,
	 * sorted by topic and partition (keep_commits). */
	struct wcommit *commits;
	size_t n_commits;
	bool committed_any; /* the reply has a committed offset, of any topic */
	/* ... of a wanted partition of a topic the metadata does not have */
	bool unknown_topic;
	/* Every topic the group committed to, asked for with no partition
	 * list: its topics are known from the reply (expand_all_topics). */
	bool all_topics;
	bool replied;
	bool resent; /* sent again after its coordinator moved (wait_committed) */
	int err;
	/* Why it failed (query_fail), on the heap only when it did; NULL
	 * without memory (strerror then). */
	char *errmsg;
};

/*
 * The cause of a refusal, for the one-line message; NULL for errors that a
 * retry may cure (a broker down, a timeout). librdkafka reports a failed
 * TLS handshake either as an SSL error (a certificate that does not
 * verify) or as a transport error whose text says so (a listener that
 * speaks no TLS: "SSL handshake failed: Disconnected: connecting to a
 * PLAINTEXT broker listener?"), and a plaintext client on a TLS listener as
 * a transport error that asks "connecting to a SSL listener?". Those texts
 * are librdkafka's own and stable since 1.x.
 */
static const char *refusal_cause(int err, const char *reason)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		/* A token refresh callback that failed (OIDC token endpoint,
		 * AWS credentials) reports through the same code. */
		if (strstr(reason, "OAUTHBEARER token"))
			return "no OAUTHBEARER token could be had";
		return "the broker refused the login";
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
		return "the broker refused the login";
	case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
	case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
		return "the broker does not accept this SASL mechanism";
	case RD_KAFKA_RESP_ERR__SSL:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
		/* A TLS alert from the broker is fatal to the session: with
		 * mTLS it is how a missing or unknown client certificate is
		 * refused ("sslv3 alert bad certificate: SSL alert number 42";
		 * TLS 1.3 says "certificate required"). */
		if (strstr(reason, "alert bad certificate") ||
		    strstr(reason, "alert certificate required") ||
		    strstr(reason, "alert unknown ca"))
			return "the broker refused the client certificate";
		if (strstr(reason, "SSL alert number"))
			return "the broker ended the TLS session with an alert";
		if (err == RD_KAFKA_RESP_ERR__SSL || strstr(reason, "SSL handshake failed"))
			return "the TLS handshake failed";
		if (strstr(reason, "connecting to a SSL listener?"))
			return "the listener expects TLS (check security.protocol)";
		return NULL;
	default:
		return NULL;
	}
}

/* Copies a librdkafka message as one line: control characters become spaces. */
static void one_line(char *out, size_t size, const char *msg)
{
	size_t i;

	for (i = 0; msg[i] && i + 1 < size; i++)
		out[i] = (unsigned char)msg[i] < 0x20 ? ' ' : msg[i];
	out[i] = '\0';
}

/*
 * A message of librdkafka that may quote a property's value (a refused
 * value, a handle that would not start): for each property whose key
 * names a secret, whatever follows the key's mention is dropped
 * (ls_log_redact_message). By key: never by searching for the value.
 */
static void redact_props(const struct ls_kafka *k, char *msg, size_t size)
{
	for (size_t i = 0; i < k->n_props; i++)
		ls_log_redact_message(msg, size, k->props[i].key);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct ls_kafka *k = opaque;
	const char *cause = refusal_cause(err, reason);
	char line[1024];

	(void)rk;
	/* "Unrecognized sasl.oauthbearer.config beginning at: VALUE" comes here. */
	one_line(line, sizeof(line), reason);
	redact_props(k, line, sizeof(line));
	pthread_mutex_lock(&k->mu);
	snprintf(k->last_error, sizeof(k->last_error), "%.255s", line);
	if (cause && !k->refused[0])
		snprintf(k->refused, sizeof(k->refused), "%s: %.300s", cause, line);
	pthread_mutex_unlock(&k->mu);
	ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": %s: %s", k->name,
	       rd_kafka_err2name((rd_kafka_resp_err_t)err), line);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct ls_kafka *k = rd_kafka_opaque(rk);
	char line[1024];

	/* debug=conf lists the configuration ("[thrd:app]:   key = value"), where
	 * librdkafka 2.8 leaves sasl.oauthbearer.client.secret unredacted. */
	one_line(line, sizeof(line), buf);
	if (k)
		redact_props(k, line, sizeof(line));
	if (k && level <= 4) {
		pthread_mutex_lock(&k->mu);
		snprintf(k->last_error, sizeof(k->last_error), "%.255s", line);
		pthread_mutex_unlock(&k->mu);
	}
	ls_log(LS_LOG_DEBUG, NULL, "librdkafka %s: %s", fac, line);
}

static void last_error(struct ls_kafka *k, char *out, size_t size)
{
	pthread_mutex_lock(&k->mu);
	snprintf(out, size, "%s", k->last_error[0] ? k->last_error : "no answer from any broker");
	pthread_mutex_unlock(&k->mu);
}

/*
 * Properties that lagscale reads and librdkafka never sees: the AWS_MSK_IAM
 * mechanism (carried over OAUTHBEARER) and the "aws." keys.
 */
static bool is_msk_iam(const struct ls_kafka_prop *p)
{
	return strcmp(p->key, "sasl.mechanism") == 0 && strcasecmp(p->value, "AWS_MSK_IAM") == 0;
}

static bool is_own_property(const struct ls_kafka_prop *p)
{
	return is_msk_iam(p) || strncmp(p->key, "aws.", 4) == 0;
}

/* librdkafka's token refresh callback (its background thread) for MSK IAM. */
static void msk_refresh_cb(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque)
{
	struct ls_kafka *k = opaque;

	(void)oauthbearer_config;
	ls_awsiam_refresh(k->awsiam, rk);
}

/*
 * Sets up AWS MSK IAM when a property asks for it. The region: aws.region,
 * else the one an MSK broker's host name carries, else AWS_REGION and
 * AWS_DEFAULT_REGION (ls_awsiam_new). aws.region is the only "aws." key.
 */
static int setup_msk_iam(struct ls_kafka *k, bool check_only, size_t *ret_bad, char *errbuf,
			 size_t errlen)
{
	size_t region_at = SIZE_MAX;
	const char *region = NULL;
	char *from_host = NULL, err[256] = "";
	bool msk = false;
	int r;

	for (size_t i = 0; i < k->n_props; i++) {
		if (is_msk_iam(&k->props[i])) {
			msk = true;
		} else if (strcmp(k->props[i].key, "aws.region") == 0) {
			region = k->props[i].value;
			region_at = i;
		} else if (strncmp(k->props[i].key, "aws.", 4) == 0) {
			snprintf(errbuf, errlen,
				 "property \"%s\": unknown (lagscale knows aws.region)",
				 k->props[i].key);
			if (ret_bad)
				*ret_bad = i;
			return -EINVAL;
		}
	}
	if (!msk) {
		if (!region)
			return 0;
		snprintf(errbuf, errlen, "property \"aws.region\": only with sasl.mechanism AWS_MSK_IAM");
		if (ret_bad)
			*ret_bad = region_at;
		return -EINVAL;
	}
	if (check_only)
		return 0;
	if (!region && ls_awsiam_region_from_host(k->bootstrap, &from_host) == 0)
		region = from_host;
	r = ls_awsiam_new(region, &k->awsiam, err, sizeof(err));
	free(from_host);
	if (r < 0) {
		snprintf(errbuf, errlen, "sasl.mechanism AWS_MSK_IAM: %s", err);
		return r == -ENOMEM ? r : -EINVAL;
	}
	return 0;
}

/*
 * Builds a conf for one isolation level, or for the describe handle
 * (consumer false: no consumer-only setting, which a producer would warn
 * about); NULL with errbuf set on failure, and *ret_bad (when not NULL)
 * the index of the refused property in k->props.
 */
static rd_kafka_conf_t *make_conf_at(struct ls_kafka *k, enum ls_isolation iso, bool consumer,
				     size_t *ret_bad, char *errbuf, size_t errlen)
{
	const struct ls_kafka_prop own[] = {
		{"bootstrap.servers", k->bootstrap},
		{"client.id", "lagscale"},
		/* A group.id of its own that never subscribes: 2.0.2 needs a
		 * consumer group on the handle for ListConsumerGroupOffsets. */
		{"group.id", "lagscale-collector"},
		{"enable.auto.commit", "false"},
		{"enable.auto.offset.store", "false"},
		{"enable.partition.eof", "false"},
		{"isolation.level", iso == LS_ISOLATION_READ_COMMITTED ? "read_committed"
								      : "read_uncommitted"},
		{"log.connection.close", "false"},
		{"topic.metadata.refresh.interval.ms", "60000"},
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_res_t res;
	char rderr[256];

	for (size_t i = 0; i < (consumer ? sizeof(own) / sizeof(own[0]) : 2); i++) {
		if (rd_kafka_conf_set(conf, own[i].key, own[i].value, rderr, sizeof(rderr)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(errbuf, errlen, "property \"%s\": %s", own[i].key, rderr);
			goto fail;
		}
	}
	/* MSK IAM first: it sets security.protocol, which a property may
	 * still override. */
	if (k->awsiam && ls_awsiam_configure(k->awsiam, conf, msk_refresh_cb, errbuf, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < k->n_props; i++) {
		if (is_own_property(&k->props[i]))
			continue;
		res = rd_kafka_conf_set(conf, k->props[i].key, k->props[i].value, rderr,
					sizeof(rderr));
		if (res != RD_KAFKA_CONF_OK) {
			/* An unknown key is named alone ("No such configuration
			 * property"); a refused value may be quoted, before or
			 * after the key ("Invalid value \"V\" for configuration
			 * property \"K\""): a secret's is not shown at all. */
			if (res == RD_KAFKA_CONF_INVALID && ls_log_key_is_secret(k->props[i].key))
				snprintf(rderr, sizeof(rderr),
					 "librdkafka refused the value (not shown: it is a secret)");
			snprintf(errbuf, errlen, "property \"%s\": %s", k->props[i].key, rderr);
			if (ret_bad)
				*ret_bad = i;
			goto fail;
		}
	}
	/* Settings lagscale relies on come last so a property cannot undo them. */
	if (consumer) {
		rd_kafka_conf_set(conf, "isolation.level",
				  iso == LS_ISOLATION_READ_COMMITTED ? "read_committed"
								     : "read_uncommitted",
				  rderr, sizeof(rderr));
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", rderr, sizeof(rderr));
	}
	rd_kafka_conf_set_opaque(conf, k);
	/* OAUTHBEARER tokens (OIDC, AWS MSK IAM) are refreshed on librdkafka's
	 * background thread: the handle's main queue is only served when a
	 * round goes wrong, which is too late for a token about to expire. */
	rd_kafka_conf_enable_sasl_queue(conf, 1);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static rd_kafka_conf_t *make_conf(struct ls_kafka *k, enum ls_isolation iso, bool consumer,
				  char *errbuf, size_t errlen)
{
	return make_conf_at(k, iso, consumer, NULL, errbuf, errlen);
}

/*
 * librdkafka checks the OIDC settings only when a handle starts, and then
 * its token refresh fails on every round at run time. Each setting that
 * the client-credentials grant needs is checked here instead, so that a
 * missing one is a configuration error naming the property.
 */
static int check_oidc(const rd_kafka_conf_t *conf, char *errbuf, size_t errlen)
{
	static const char *const needed[] = {"sasl.oauthbearer.client.id",
					     "sasl.oauthbearer.client.secret",
					     "sasl.oauthbearer.token.endpoint.url"};
	char val[512];
	size_t size = sizeof(val);

	if (rd_kafka_conf_get(conf, "sasl.oauthbearer.method", val, &size) != RD_KAFKA_CONF_OK ||
	    strcasecmp(val, "oidc") != 0)
		return 0;
	size = sizeof(val);
	if (rd_kafka_conf_get(conf, "sasl.mechanism", val, &size) != RD_KAFKA_CONF_OK ||
	    strcmp(val, "OAUTHBEARER") != 0) {
		snprintf(errbuf, errlen,
			 "property \"sasl.oauthbearer.method\": oidc needs sasl.mechanism OAUTHBEARER");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		size = sizeof(val);
		val[0] = '\0';
		/* A value longer than the buffer reports its size: it is set. */
		if (rd_kafka_conf_get(conf, needed[i], val, &size) == RD_KAFKA_CONF_OK &&
		    size > 1)
			continue;
		snprintf(errbuf, errlen, "property \"%s\" is needed with sasl.oauthbearer.method oidc",
			 needed[i]);
		return -EINVAL;
	}
	return 0;
}

/*
 * The client, or with check_only its settings alone: the AWS credentials
 * (which the environment of the process that runs may have, and that of
 * `check-config` not) are then left out. *ret_bad as make_conf_at.
 */
static int kafka_build(const char *name, const char *bootstrap_servers,
		       const struct ls_kafka_prop *props, size_t n_props, bool check_only,
		       size_t *ret_bad, struct ls_kafka **ret, char *errbuf, size_t errlen)
{
	struct ls_kafka *k;
	rd_kafka_conf_t *conf;
	int r = -ENOMEM;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->mu, NULL);
	k->name = strdup(name);
	k->bootstrap = strdup(bootstrap_servers);
	if (n_props)
		k->props = calloc(n_props, sizeof(*k->props));
	if (!k->name || !k->bootstrap || (n_props && !k->props))
		goto fail;
	for (size_t i = 0; i < n_props; i++) {
		k->props[i].key = strdup(props[i].key);
		k->props[i].value = strdup(props[i].value);
		k->n_props++;
		if (!k->props[i].key || !k->props[i].value)
			goto fail;
	}
	r = setup_msk_iam(k, check_only, ret_bad, errbuf, errlen);
	if (r < 0)
		goto fail;
	/* Check the properties now, so a typo fails at start, not mid-run. */
	conf = make_conf_at(k, LS_ISOLATION_READ_UNCOMMITTED, true, ret_bad, errbuf, errlen);
	if (!conf) {
		r = -EINVAL;
		goto fail;
	}
	r = check_oidc(conf, errbuf, errlen);
	rd_kafka_conf_destroy(conf);
	if (r < 0)
		goto fail;
	*ret = k;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	ls_kafka_free(k);
	return r;
}

int ls_kafka_new(const char *name, const char *bootstrap_servers,
		 const struct ls_kafka_prop *props, size_t n_props, struct ls_kafka **ret,
		 char *errbuf, size_t errlen)
{
	return kafka_build(name, bootstrap_servers, props, n_props, false, NULL, ret, errbuf,
			   errlen);
}

int ls_kafka_check_conf(const char *name, const char *bootstrap_servers,
			const struct ls_kafka_prop *props, size_t n_props, size_t *ret_index,
			char *errbuf, size_t errlen)
{
	struct ls_kafka *k = NULL;
	size_t bad = SIZE_MAX;
	int r = kafka_build(name, bootstrap_servers, props, n_props, true, &bad, &k, errbuf,
			    errlen);

	ls_kafka_free(k);
	if (r == -EINVAL && ret_index)
		*ret_index = bad;
	return r;
}

static void forget_topics(struct ls_kafka *k);

static void destroy_handle(struct ls_kafka *k, int level)
{
	if (!k->rk[level])
		return;
	/* The handle never joined its group: there is nothing to close, and
	 * a consumer close could wait on a stuck coordinator. */
	rd_kafka_destroy_flags(k->rk[level], RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	k->rk[level] = NULL;
	k->broken[level] = false;
	k->silent[level] = 0;
	k->proven[level] = false;
}

void ls_kafka_free(struct ls_kafka *k)
{
	if (!k)
		return;
	for (int l = 0; l < N_LEVELS; l++)
		destroy_handle(k, l);
	forget_topics(k);
	if (k->rk_describe)
		rd_kafka_destroy(k->rk_describe);
	ls_awsiam_free(k->awsiam);
	for (size_t i = 0; i < k->n_props; i++) {
		free((char *)k->props[i].key);
		free((char *)k->props[i].value);
	}
	free(k->props);
	free(k->name);
	free(k->bootstrap);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

void ls_kafka_get_stats(const struct ls_kafka *k, struct ls_kafka_stats *ret)
{
	if (k)
		*ret = k->stats;
	else
		memset(ret, 0, sizeof(*ret));
}

void ls_kafka_library_info(struct ls_kafka_library *ret)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	size_t size = sizeof(ret->features);
	int v = RD_KAFKA_VERSION;
	int (*fn)(void) = rd_kafka_version;
	void *addr;
	Dl_info dl;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->version, sizeof(ret->version), "%s", rd_kafka_version_str());
	/* RD_KAFKA_VERSION is 0xMMmmrrxx; the last byte is the pre-release. */
	snprintf(ret->built_against, sizeof(ret->built_against), "%d.%d.%d", (v >> 24) & 0xff,
		 (v >> 16) & 0xff, (v >> 8) & 0xff);
#ifdef RD_KAFKA_LAGSCALE_FIX_4605
	snprintf(ret->patches, sizeof(ret->patches), "lagscale #4605");
#endif
#ifdef RD_KAFKA_LAGSCALE_COORD_CACHE
	snprintf(ret->patches + strlen(ret->patches), sizeof(ret->patches) - strlen(ret->patches),
		 "%scoordinator cache", ret->patches[0] ? ", " : "lagscale ");
#endif
	/* ISO C has no cast from a function to an object pointer; dladdr
	 * takes the address either way. */
	memcpy(&addr, &fn, sizeof(addr));
	if (dladdr(addr, &dl) && dl.dli_fname)
		snprintf(ret->path, sizeof(ret->path), "%s", dl.dli_fname);
	if (conf && rd_kafka_conf_get(conf, "builtin.features", ret->features, &size) !=
			    RD_KAFKA_CONF_OK)
		ret->features[0] = '\0';
	if (conf)
		rd_kafka_conf_destroy(conf);
}

/*
 * Makes the handle of a level, or recreates it when it failed: a fatal
 * librdkafka error, or LS_KAFKA_RECREATE_AFTER rounds in a row without an
 * answer to the metadata request (a handle stuck for good). A round that
 * is merely slow, or a request that outlives its deadline, keeps the
 * handle: librdkafka ends every request at its own timeout, and a new
 * handle would start the next round cold (connections, coordinators,
 * leaders), which at 10,000 scalers made every round late again. This
 * relies on the fix of librdkafka issue #4605 (scripts/librdkafka.d): a
 * coordinator request that times out while the coordinator is looked up
 * aborts an unpatched 2.8.0, so built against one, a handle with a late
 * group request is recreated (LS_KAFKA_KEEP_LATE_CLIENT).
 */
static int ensure_handle(struct ls_kafka *k, int level, char *errbuf, size_t errlen)
{
	rd_kafka_error_t *sasl_err;
	rd_kafka_conf_t *conf;

	if (k->rk[level] && rd_kafka_fatal_error(k->rk[level], NULL, 0)) {
		ls_log(LS_LOG_WARN, NULL, "kafka cluster \"%s\": client failed fatally; recreating it",
		       k->name);
		k->broken[level] = true;
	}
	if (k->broken[level]) {
		destroy_handle(k, level);
		k->stats.recreated++;
	}
	if (k->rk[level])
		return 0;
	conf = make_conf(k, (enum ls_isolation)level, true, errbuf, errlen);
	if (!conf)
		return -EINVAL;
	k->rk[level] = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
	if (!k->rk[level]) {
		redact_props(k, errbuf, errlen);
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	sasl_err = rd_kafka_sasl_background_callbacks_enable(k->rk[level]);
	if (sasl_err) {
		ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": SASL background callbacks: %s",
		       k->name, rd_kafka_error_string(sasl_err));
		rd_kafka_error_destroy(sasl_err);
	}
	return 0;
}

static int64_t remaining(int64_t deadline)
{
	int64_t r = deadline - ls_clock_mono_ms();

	return r > 0 ? r : 0;
}

/*
 * The round's metadata request. On a handle that has not yet had an
 * answer (new, or after a failed round), a refused login or TLS handshake
 * would otherwise show only when the whole deadline has passed: there the
 * request is made in growing slices (200 ms, 400 ms, ...), and between them
 * the handle's error callbacks are served, so that a refusal ends the round
 * at once. A broker that is merely slow still answers within a later,
 * longer slice. On success the handle is proven and later rounds make one
 * plain request. Returns librdkafka's error; *ret_refused is set (and
 * errbuf holds the refusal) when the broker refused the client.
 */
static rd_kafka_resp_err_t fetch_metadata(struct ls_kafka *k, int level, int64_t deadline,
					  const struct rd_kafka_metadata **ret_md,
					  bool *ret_refused, char *errbuf, size_t errlen)
{
	rd_kafka_t *rk = k->rk[level];
	int64_t slice = 200;
	rd_kafka_resp_err_t err;

	*ret_refused = false;
	if (k->proven[level]) {
		err = rd_kafka_metadata(rk, 1, NULL, ret_md, (int)remaining(deadline));
		if (err)
			k->proven[level] = false;
		else
			k->silent[level] = 0;
		return err;
	}
	for (;;) {
		int64_t left = remaining(deadline);

		err = rd_kafka_metadata(rk, 1, NULL, ret_md, (int)(slice < left ? slice : left));
		if (!err) {
			k->proven[level] = true;
			k->silent[level] = 0;
			return err;
		}
		rd_kafka_poll(rk, 0);
		pthread_mutex_lock(&k->mu);
		if (k->refused[0]) {
			snprintf(errbuf, errlen, "%s", k->refused);
			*ret_refused = true;
		}
		pthread_mutex_unlock(&k->mu);
		if (*ret_refused || remaining(deadline) == 0)
			return err;
		if (slice < 3200)
			slice *= 2;
	}
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static int cmp_wtopic_name(const void *a, const void *b)
{
	return strcmp(((const struct wtopic *)a)->name, ((const struct wtopic *)b)->name);
}

static int cmp_name_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct wtopic *)elem)->name);
}

static int part_index(const struct wtopic *t, int32_t id)
{
	const int32_t *p = bsearch(&id, t->ids, (size_t)t->n, sizeof(*t->ids), cmp_i32);

	return p ? (int)(p - t->ids) : -1;
}

static bool is_internal(const char *topic)
{
	return strncmp(topic, "__", 2) == 0;
}

/* Frees what one round added to the topics, keeping the topics. */
static void wtopics_reset(struct wtopic *ts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int l = 0; l < N_LEVELS; l++) {
			free(ts[i].end[l]);
			ts[i].end[l] = NULL;
			ts[i].need_end[l] = false;
		}
		free(ts[i].start);
		ts[i].start = NULL;
		ts[i].need_start = false;
	}
}

static void wtopics_free(struct wtopic *ts, size_t n)
{
	wtopics_reset(ts, n);
	for (size_t i = 0; ts && i < n; i++) {
		free(ts[i].name);
		free(ts[i].ids);
		free(ts[i].leaders);
	}
	free(ts);
}

static void forget_topics(struct ls_kafka *k)
{
	wtopics_free(k->topics, k->n_topics);
	k->topics = NULL;
	k->n_topics = 0;
}

/* The topics of the metadata, sorted by name, with sorted partition ids. */
static int wtopics_from_metadata(const struct rd_kafka_metadata *md, struct wtopic **ret)
{
	struct wtopic *ts = calloc(md->topic_cnt ? (size_t)md->topic_cnt : 1, sizeof(*ts));
	struct {
		int32_t id; /* first: sorted with cmp_i32 */
		int32_t leader;
	} *pl = NULL;

	if (!ts)
		return -ENOMEM;
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *mt = &md->topics[i];

		ts[i].name = strdup(mt->topic);
		ts[i].err = mt->err;
		ts[i].n = mt->partition_cnt;
		ts[i].ids = malloc((size_t)(mt->partition_cnt ? mt->partition_cnt : 1) *
				   sizeof(int32_t));
		ts[i].leaders = malloc((size_t)(mt->partition_cnt ? mt->partition_cnt : 1) *
				       sizeof(int32_t));
		pl = realloc(pl, (size_t)(mt->partition_cnt ? mt->partition_cnt : 1) * sizeof(*pl));
		if (!ts[i].ids || !ts[i].leaders || !ts[i].name || !pl) {
			free(pl);
			wtopics_free(ts, (size_t)md->topic_cnt);
			return -ENOMEM;
		}
		for (int p = 0; p < mt->partition_cnt; p++) {
			pl[p].id = mt->partitions[p].id;
			pl[p].leader = mt->partitions[p].leader;
		}
		qsort(pl, (size_t)ts[i].n, sizeof(*pl), cmp_i32); /* by id, the first field */
		for (int p = 0; p < mt->partition_cnt; p++) {
			ts[i].ids[p] = pl[p].id;
			ts[i].leaders[p] = pl[p].leader;
		}
	}
	free(pl);
	qsort(ts, (size_t)md->topic_cnt, sizeof(*ts), cmp_wtopic_name);
	*ret = ts;
	return 0;
}

static void query_fail(struct wquery *w, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void query_fail(struct wquery *w, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (w->err)
		return; /* the first error explains the query best */
	w->err = err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->errmsg = strdup(msg);
}

static int add_topic(struct wquery *w, size_t idx)
{
	size_t *nt = realloc(w->topics, (w->n_topics + 1) * sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	w->topics = nt;
	w->topics[w->n_topics++] = idx;
	return 0;
}

/*
 * Resolves a query's topics against the metadata. A query for every topic
 * the group committed to is asked without a partition list when the
 * cluster answers that (all_ok), and gets its topics from the reply;
 * otherwise it lists every partition of the cluster and is narrowed to the
 * topics with commits when the snapshot is built.
 */
static int resolve_topics(const struct ls_kafka_query *q, struct wquery *w, struct wtopic *ts,
			  size_t n_ts, bool all_ok)
{
	if (q->n_topics) {
		for (size_t i = 0; i < q->n_topics; i++) {
			struct wtopic *t = bsearch(q->topics[i], ts, n_ts, sizeof(*ts),
						   cmp_name_key);

			if (!t || t->err || t->n == 0) {
				query_fail(w, -ENOENT, "topic \"%s\" %s", q->topics[i],
					   t && t->err ? rd_kafka_err2str(t->err) : "not found");
				continue;
			}
			if (add_topic(w, (size_t)(t - ts)) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	if (q->topic_pattern) {
		regex_t re;
		char msg[128];
		int rc = regcomp(&re, q->topic_pattern, REG_EXTENDED | REG_NOSUB);

		if (rc) {
			regerror(rc, &re, msg, sizeof(msg));
			query_fail(w, -EINVAL, "topicPattern \"%s\": %s", q->topic_pattern, msg);
			return 0;
		}
		for (size_t i = 0; i < n_ts; i++) {
			if (is_internal(ts[i].name) || ts[i].err || ts[i].n == 0)
				continue;
			if (regexec(&re, ts[i].name, 0, NULL, 0) == 0 && add_topic(w, i) < 0) {
				regfree(&re);
				return -ENOMEM;
			}
		}
		regfree(&re);
		if (w->n_topics == 0)
			query_fail(w, -ENOENT, "no topic matches topicPattern \"%s\"",
				   q->topic_pattern);
		return 0;
	}
	if (all_ok) {
		w->all_topics = true;
		return 0;
	}
	/* Every topic: narrowed to the ones with commits once they are known. */
	for (size_t i = 0; i < n_ts; i++) {
		if (!is_internal(ts[i].name) && !ts[i].err && ts[i].n > 0 && add_topic(w, i) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool wants(const struct ls_kafka_query *q, int32_t id)
{
	return !q->partitions || ls_ranges_contain(q->partitions, id);
}

/*
 * Fills list with up to LS_KAFKA_CHUNK flagged partitions led by `leader`,
 * resuming at topic *t, partition *p. Returns how many.
 */
static int fill_chunk(struct wtopic *ts, size_t n_ts, int level, bool log_start, int32_t leader,
		      size_t *t, int *p, rd_kafka_topic_partition_list_t *list)
{
	int cnt = 0;

	for (; *t < n_ts && cnt < LS_KAFKA_CHUNK; (*t)++, *p = 0) {
		struct wtopic *wt = &ts[*t];

		if (!(log_start ? wt->need_start : wt->need_end[level]))
			continue;
		for (; *p < wt->n && cnt < LS_KAFKA_CHUNK; (*p)++) {
			if (wt->leaders[*p] != leader)
				continue;
			rd_kafka_topic_partition_list_add(list, wt->name, wt->ids[*p])->offset =
			    log_start ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
			cnt++;
		}
		if (*p < wt->n)
			break; /* the chunk is full mid-topic */
	}
	return cnt;
}

/* The distinct leaders of the flagged partitions (at most 256 kept: the
 * partitions of others are read in the chunks of the last). */
static size_t chunk_leaders(const struct wtopic *ts, size_t n_ts, int level, bool log_start,
			    int32_t *out, size_t max)
{
	size_t n = 0;

	for (size_t t = 0; t < n_ts; t++) {
		if (!(log_start ? ts[t].need_start : ts[t].need_end[level]))
			continue;
		for (int p = 0; p < ts[t].n; p++) {
			size_t i = 0;

			while (i < n && out[i] != ts[t].leaders[p])
				i++;
			if (i == n && n < max)
				out[n++] = ts[t].leaders[p];
		}
	}
	return n;
}

/*
 * One read of offsets (one level's end offsets, or the log start offsets):
 * its chunks are made one at a time from a shared cursor (leader li, topic
 * t, partition p), under mu, by whichever thread is free; the results go
 * to distinct partitions, so the threads write them without a lock. The
 * counters and the staleness are gathered here, under mu, and added to the
 * client when the job is joined (the round's thread counts its group
 * requests meanwhile).
 */
struct offsets_job {
	struct ls_kafka *k;
	rd_kafka_t *rk;
	struct wtopic *ts;
	size_t n_ts;
	int level;
	bool log_start;
	int64_t deadline;
	int32_t leaders[256];
	size_t n_leaders, li, t;
	int p;
	pthread_mutex_t mu;
	uint64_t requests, metadata, late;
	bool stale;
};

/* The offsets reads of a round under way: up to three jobs (end offsets of
 * each level, log start offsets), each on its own threads. */
struct offsets_run {
	struct offsets_job jobs[N_LEVELS + 1];
	size_t n_jobs;
	pthread_t threads[(N_LEVELS + 1) * LS_KAFKA_OFFSETS_IN_FLIGHT];
	size_t n_threads;
};

/* The next chunk of the job, or NULL when every leader's partitions are
 * read. */
static rd_kafka_topic_partition_list_t *next_chunk(struct offsets_job *j)
{
	rd_kafka_topic_partition_list_t *list = NULL;

	pthread_mutex_lock(&j->mu);
	while (j->li < j->n_leaders) {
		list = rd_kafka_topic_partition_list_new(LS_KAFKA_CHUNK);
		if (fill_chunk(j->ts, j->n_ts, j->level, j->log_start, j->leaders[j->li], &j->t,
			       &j->p, list) > 0)
			break;
		/* This leader's partitions are read: the next one's. */
		rd_kafka_topic_partition_list_destroy(list);
		list = NULL;
		j->li++;
		j->t = 0;
		j->p = 0;
	}
	pthread_mutex_unlock(&j->mu);
	return list;
}

/* Reads chunks until none is left or the deadline passed. */
static void *offsets_worker(void *arg)
{
	struct offsets_job *j = arg;
	struct ls_kafka *k = j->k;
	rd_kafka_topic_partition_list_t *list;

	while (remaining(j->deadline) > 0 && (list = next_chunk(j))) {
		uint64_t requests = 1, metadata = 0;
		bool stale = false;
		rd_kafka_resp_err_t err =
			rd_kafka_offsets_for_times(j->rk, list, (int)remaining(j->deadline));

		if (err && remaining(j->deadline) > 0) {
			/* A leader moved or a partition is new: refresh the
			 * metadata the client routes by, then try once more. */
			const struct rd_kafka_metadata *md;

			ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": offsets: %s; retrying",
			       k->name, rd_kafka_err2str(err));
			metadata++;
			if (rd_kafka_metadata(j->rk, 1, NULL, &md, (int)remaining(j->deadline)) ==
			    0)
				rd_kafka_metadata_destroy(md);
			for (int i = 0; i < list->cnt; i++) {
				list->elems[i].offset = j->log_start ? RD_KAFKA_OFFSET_BEGINNING
								     : RD_KAFKA_OFFSET_END;
				list->elems[i].err = 0;
			}
			requests++;
			err = rd_kafka_offsets_for_times(j->rk, list, (int)remaining(j->deadline));
		}
		for (int i = 0; i < list->cnt; i++) {
			const rd_kafka_topic_partition_t *e = &list->elems[i];
			struct wtopic *wt =
				bsearch(e->topic, j->ts, j->n_ts, sizeof(*j->ts), cmp_name_key);
			int idx = wt ? part_index(wt, e->partition) : -1;

			if (e->err)
				stale = true; /* a leader moved, a partition went */
			if (idx < 0 || err || e->err || e->offset < 0)
				continue;
			if (j->log_start)
				wt->start[idx] = e->offset;
			else
				wt->end[j->level][idx] = e->offset;
		}
		rd_kafka_topic_partition_list_destroy(list);
		if (err) {
			ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": offsets: %s", k->name,
			       rd_kafka_err2str(err));
			stale = true; /* partitions may have moved or grown */
		}
		pthread_mutex_lock(&j->mu);
		j->requests += requests;
		j->metadata += metadata;
		if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
			j->late++;
		if (stale)
			j->stale = true;
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

/*
 * Starts reading offsets (end, or log start) for every flagged topic with
 * offsets_for_times, LS_KAFKA_CHUNK partitions of one leader at a time, so
 * that each call is one request (see ls_kafka_chunk_size()).
 * offsets_for_times waits for its answer, so up to LS_KAFKA_OFFSETS_IN_FLIGHT
 * calls run at once, each on a thread of its own, while the round's thread
 * gathers the committed offsets: at 10,000 scalers x 20 partitions a round
 * has 2,000 chunks, and one after the other their round trips alone
 * outlasted a 5 s polling interval, with the groups' requests waiting
 * behind them. offsets_join() waits for the reads. Partitions whose offset
 * could not be read stay LS_OFFSET_UNKNOWN.
 */
static void offsets_start(struct offsets_run *run, struct ls_kafka *k, rd_kafka_t *rk,
			  struct wtopic *ts, size_t n_ts, int level, bool log_start,
			  int64_t deadline)
{
	struct offsets_job *j = &run->jobs[run->n_jobs];
	size_t flagged = 0, chunks, started = 0;

	*j = (struct offsets_job){.k = k, .rk = rk, .ts = ts, .n_ts = n_ts, .level = level,
				  .log_start = log_start, .deadline = deadline};
	j->n_leaders = chunk_leaders(ts, n_ts, level, log_start, j->leaders, 256);
	if (j->n_leaders == 0)
		return;
	pthread_mutex_init(&j->mu, NULL);
	run->n_jobs++;
	for (size_t t = 0; t < n_ts; t++)
		if (log_start ? ts[t].need_start : ts[t].need_end[level])
			flagged += (size_t)ts[t].n;
	/* At most one more chunk per leader than full ones (its last). */
	chunks = flagged / LS_KAFKA_CHUNK + j->n_leaders;
	while (started < LS_KAFKA_OFFSETS_IN_FLIGHT && started < chunks &&
	       pthread_create(&run->threads[run->n_threads], NULL, offsets_worker, j) == 0) {
		run->n_threads++;
		started++;
	}
}

/* Waits for the reads offsets_start() began (the calling thread reads
 * what is left, should no thread have started), and adds their counters
 * to the client's. */
static void offsets_join(struct offsets_run *run)
{
	for (size_t i = 0; i < run->n_jobs; i++)
		offsets_worker(&run->jobs[i]);
	for (size_t i = 0; i < run->n_threads; i++)
		pthread_join(run->threads[i], NULL);
	for (size_t i = 0; i < run->n_jobs; i++) {
		struct offsets_job *j = &run->jobs[i];
		struct ls_kafka *k = j->k;

		k->stats.offsets_requests += j->requests;
		k->stats.metadata_requests += j->metadata;
		k->stats.late_requests += j->late;
		if (j->stale)
			k->topics_stale = true;
		pthread_mutex_destroy(&j->mu);
	}
	run->n_jobs = 0;
	run->n_threads = 0;
}

static int alloc_offsets(int64_t **arr, int n)
{
	if (*arr)
		return 0;
	*arr = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
	if (!*arr)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		(*arr)[i] = LS_OFFSET_UNKNOWN;
	return 0;
}

static int cmp_commit(const void *a, const void *b)
{
	const struct wcommit *x = a, *y = b;

	if (x->topic != y->topic)
		return x->topic < y->topic ? -1 : 1;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The committed offset of a partition in the query's reply; NULL if none. */
static const struct wcommit *find_commit(const struct wquery *w, size_t topic, int32_t partition)
{
	struct wcommit key = {.topic = (uint32_t)topic, .partition = partition};

	return w->n_commits ? bsearch(&key, w->commits, w->n_commits, sizeof(key), cmp_commit)
			    : NULL;
}

/*
 * Keeps a reply's committed offsets in w->commits, sorted (the order of the
 * reply is not promised): a few bytes a partition, where librdkafka's list
 * (kept until the snapshots were built, and copied to sort it) took over a
 * hundred, a name copy in each element; -ENOMEM.
 */
static int keep_commits(const struct ls_kafka_query *q, struct wquery *w,
			const rd_kafka_topic_partition_list_t *got, const struct wtopic *ts,
			size_t n_ts)
{
	const struct wtopic *t = NULL;

	free(w->commits);
	w->commits = NULL;
	w->n_commits = 0;
	if (!got || got->cnt == 0)
		return 0;
	w->commits = malloc((size_t)got->cnt * sizeof(*w->commits));
	if (!w->commits)
		return -ENOMEM;
	for (int i = 0; i < got->cnt; i++) {
		const rd_kafka_topic_partition_t *e = &got->elems[i];

		if (e->err || e->offset < 0)
			continue;
		w->committed_any = true;
		/* A topic's partitions come together: one lookup each. */
		if (!t || strcmp(t->name, e->topic) != 0)
			t = bsearch(e->topic, ts, n_ts, sizeof(*ts), cmp_name_key);
		if (!t) {
			if (wants(q, e->partition))
				w->unknown_topic = true;
			continue;
		}
		w->commits[w->n_commits++] =
			(struct wcommit){(uint32_t)(t - ts), e->partition, e->offset};
	}
	qsort(w->commits, w->n_commits, sizeof(*w->commits), cmp_commit);
	return 0;
}

/* The query's wanted partitions of its topics; NULL when there is none. */
static rd_kafka_topic_partition_list_t *wanted_list(const struct ls_kafka_query *q,
						    const struct wquery *w, const struct wtopic *ts)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);

	for (size_t j = 0; j < w->n_topics; j++) {
		const struct wtopic *t = &ts[w->topics[j]];

		for (int p = 0; p < t->n; p++)
			if (wants(q, t->ids[p]))
				rd_kafka_topic_partition_list_add(l, t->name, t->ids[p]);
	}
	if (l->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(l);
		return NULL;
	}
	return l;
}

/* Sends the group's ListConsumerGroupOffsets for parts (NULL: every topic
 * it committed to), which it frees, on the queue, with w as the reply's
 * opaque. */
static void send_committed(struct ls_kafka *k, rd_kafka_t *rk, rd_kafka_queue_t *queue,
			   const struct ls_kafka_query *q, struct wquery *w,
			   rd_kafka_topic_partition_list_t *parts, int64_t deadline)
{
	rd_kafka_ListConsumerGroupOffsets_t *req;
	rd_kafka_AdminOptions_t *opts;
	char errstr[256];

	req = rd_kafka_ListConsumerGroupOffsets_new(q->group, parts);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts); /* req has a copy */
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_AdminOptions_set_request_timeout(opts, (int)remaining(deadline), errstr,
						  sizeof(errstr));
	rd_kafka_AdminOptions_set_opaque(opts, w);
	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opts, queue);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(opts);
	k->stats.group_requests++;
}

/*
 * Issues the groups' ListConsumerGroupOffsets on one queue, from group
 * *next on, until LS_KAFKA_GROUPS_IN_FLIGHT are unanswered (*pending), and
 * returns at once: wait_committed() gathers the replies and issues the
 * rest as they come, so the first requests travel while the end offsets
 * are read, and the requests and replies librdkafka holds at once stay
 * bounded (all 1,000 groups at once held 9 MB at the peak of a round).
 */
static void issue_committed(struct ls_kafka *k, rd_kafka_t *rk, rd_kafka_queue_t *queue,
			    const struct ls_kafka_query *qs, struct wquery *ws, size_t n,
			    struct wtopic *ts, int64_t deadline, size_t *next, size_t *pending)
{
	for (; *next < n && *pending < LS_KAFKA_GROUPS_IN_FLIGHT; (*next)++) {
		size_t i = *next;
		rd_kafka_topic_partition_list_t *parts = NULL;

		if (ws[i].err)
			continue;
		/* all_topics: no list, every partition the group committed to. */
		if (!ws[i].all_topics && !(parts = wanted_list(&qs[i], &ws[i], ts))) {
			query_fail(&ws[i], -ENOENT, "no partition selected");
			continue;
		}
		send_committed(k, rk, queue, &qs[i], &ws[i], parts, deadline);
		(*pending)++;
	}
}

/* Whether a group's error says that the broker asked is not (or no longer)
 * its coordinator: a coordinator moved (a broker restarted, partitions of
 * __consumer_offsets were reassigned). librdkafka then looks the
 * coordinator up again for the next request (with lagscale's patch 0003;
 * without it, it does for nearly every request anyway). */
static bool coordinator_moved(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
	       err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
}

/*
 * The round's group descriptions: one DescribeConsumerGroups call for every
 * distinct group of the round (librdkafka 2.8 still sends one request per
 * group to its coordinator), on the describe handle and its own queue, its
 * reply kept until the snapshots are built, with the descriptions sorted by
 * group id for lookup.
 */
struct wdescribe {
	rd_kafka_queue_t *queue; /* NULL: not issued */
	rd_kafka_event_t *ev;	 /* the reply; owns the descriptions */
	const rd_kafka_ConsumerGroupDescription_t **by_id; /* sorted copy of the pointers */
	size_t n;
};

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_desc(const void *a, const void *b)
{
	return strcmp(rd_kafka_ConsumerGroupDescription_group_id(
			      *(const rd_kafka_ConsumerGroupDescription_t *const *)a),
		      rd_kafka_ConsumerGroupDescription_group_id(
			      *(const rd_kafka_ConsumerGroupDescription_t *const *)b));
}

static int cmp_desc_key(const void *key, const void *elem)
{
	return strcmp(key, rd_kafka_ConsumerGroupDescription_group_id(
				   *(const rd_kafka_ConsumerGroupDescription_t *const *)elem));
}

/*
 * The handle that describes groups, made on first use: a producer, since it
 * needs no consumer group of its own, and not the offsets handle, so that a
 * slow describe never holds up a group's committed offsets (librdkafka runs
 * one coordinator request per group at a time on a handle).
 */
static rd_kafka_t *describe_handle(struct ls_kafka *k)
{
	rd_kafka_error_t *sasl_err;
	rd_kafka_conf_t *conf;
	char errbuf[256];

	if (k->rk_describe)
		return k->rk_describe;
	conf = make_conf(k, LS_ISOLATION_READ_UNCOMMITTED, false, errbuf, sizeof(errbuf));
	if (!conf)
		return NULL;
	k->rk_describe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, sizeof(errbuf));
	if (!k->rk_describe) {
		redact_props(k, errbuf, sizeof(errbuf));
		rd_kafka_conf_destroy(conf);
		ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": describe handle: %s", k->name,
		       errbuf);
		return NULL;
	}
	sasl_err = rd_kafka_sasl_background_callbacks_enable(k->rk_describe);
	if (sasl_err)
		rd_kafka_error_destroy(sasl_err);
	return k->rk_describe;
}

/* Issues the describe for the round's distinct groups (those of only[i],
 * when only is not NULL), if any. */
static void issue_describe(struct ls_kafka *k, const struct ls_kafka_query *qs,
			   const struct wquery *ws, const bool *only, size_t n, struct wdescribe *d,
			   int64_t deadline)
{
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	rd_kafka_AdminOptions_t *opts;
	size_t m = 0, u = 0;
	char errstr[256];
	rd_kafka_t *rk;

	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		if (!ws[i].err && (!only || only[i]))
			ids[m++] = qs[i].group;
	/* librdkafka's mock cluster has no DescribeGroups, and on 2.8 a
	 * describe it cannot serve leaves the group's coordinator requests
	 * blocked on the handle for good (rd_kafka_destroy then hangs too).
	 * Every Kafka broker since 0.9 has it; the mock alone names itself. */
	if (m && k->is_mock) {
		k->describe_unsupported = true;
		m = 0;
	}
	/* librdkafka refuses duplicates: scalers may share a group. */
	qsort(ids, m, sizeof(*ids), cmp_str_ptr);
	for (size_t i = 0; i < m; i++)
		if (u == 0 || strcmp(ids[u - 1], ids[i]) != 0)
			ids[u++] = ids[i];
	rk = u ? describe_handle(k) : NULL;
	if (!rk) {
		free(ids);
		return;
	}
	d->queue = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	rd_kafka_AdminOptions_set_request_timeout(opts, (int)remaining(deadline), errstr,
						  sizeof(errstr));
	rd_kafka_DescribeConsumerGroups(rk, ids, u, opts, d->queue);
	rd_kafka_AdminOptions_destroy(opts);
	free(ids);
	k->stats.describe_requests += u;
}

/*
 * Waits for the describe reply, at most LS_KAFKA_DESCRIBE_GRACE_MS beyond
 * the offsets (a group's description is worth having, never worth a late
 * round), keeps it and indexes its descriptions. A broker without
 * DescribeGroups is not asked again; one that did not answer in time is
 * asked again after LS_KAFKA_DESCRIBE_SKIP_ROUNDS rounds.
 */
static void wait_describe(struct ls_kafka *k, struct wdescribe *d, int64_t deadline)
{
	int64_t grace = ls_clock_mono_ms() + LS_KAFKA_DESCRIBE_GRACE_MS;
	const rd_kafka_DescribeConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupDescription_t **all;
	rd_kafka_event_t *ev;
	size_t n = 0;

	if (!d->queue)
		return;
	ev = rd_kafka_queue_poll(d->queue, (int)remaining(grace < deadline ? grace : deadline));
	if (!ev) {
		k->describe_skip = LS_KAFKA_DESCRIBE_SKIP_ROUNDS;
		ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": groups not described in time",
		       k->name);
		return;
	}
	res = rd_kafka_event_DescribeConsumerGroups_result(ev);
	if (rd_kafka_event_error(ev) || !res) {
		ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": describe groups: %s", k->name,
		       rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return;
	}
	all = rd_kafka_DescribeConsumerGroups_result_groups(res, &n);
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(all[i]);

		if (e && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
			k->describe_unsupported = true;
			ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": describe groups: %s",
			       k->name, rd_kafka_error_string(e));
			break;
		}
	}
	d->by_id = n ? malloc(n * sizeof(*d->by_id)) : NULL;
	if (n && !d->by_id) {
		rd_kafka_event_destroy(ev);
		return;
	}
	if (n)
		memcpy(d->by_id, all, n * sizeof(*d->by_id));
	qsort(d->by_id, n, sizeof(*d->by_id), cmp_desc);
	d->n = n;
	d->ev = ev;
}

static void describe_release(struct wdescribe *d)
{
	free(d->by_id);
	if (d->ev)
		rd_kafka_event_destroy(d->ev);
	/* A reply still under way is dropped with the queue. */
	if (d->queue)
		rd_kafka_queue_destroy(d->queue);
	memset(d, 0, sizeof(*d));
}

/* Gathers the replies of issue_committed() until the deadline. */
static void wait_committed(struct ls_kafka *k, rd_kafka_t *rk, rd_kafka_queue_t *queue,
			   const struct ls_kafka_query *qs, struct wquery *ws, size_t n,
			   struct wtopic *ts, size_t n_ts, int64_t deadline, size_t next,
			   size_t pending)
{
	while (pending > 0) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, (int)remaining(deadline));
		const rd_kafka_ListConsumerGroupOffsets_result_t *res;
		const rd_kafka_group_result_t **groups = NULL;
		rd_kafka_resp_err_t err;
		struct wquery *w;
		size_t n_groups = 0;

		if (!ev)
			break; /* the deadline passed */
		res = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
		w = rd_kafka_event_opaque(ev);
		if (!res || !w) {
			rd_kafka_event_destroy(ev);
			continue;
		}
		pending--;
		w->replied = true;
		err = rd_kafka_event_error(ev);
		if (!err) {
			groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n_groups);
			if (n_groups == 1 && rd_kafka_group_result_error(groups[0]))
				err = rd_kafka_error_code(rd_kafka_group_result_error(groups[0]));
		}
		if (coordinator_moved(err) && !w->resent && remaining(deadline) > 0) {
			/* Its coordinator moved: once more, within the round,
			 * to the coordinator librdkafka looks up now. */
			ls_log(LS_LOG_DEBUG, NULL,
			       "kafka cluster \"%s\": group \"%s\": coordinator moved; asking again",
			       k->name, qs[w - ws].group);
			w->resent = true;
			w->replied = false;
			send_committed(k, rk, queue, &qs[w - ws], w,
				       w->all_topics ? NULL : wanted_list(&qs[w - ws], w, ts),
				       deadline);
			pending++;
			rd_kafka_event_destroy(ev);
			continue;
		}
		/* One answered: the next group's request in its place. */
		issue_committed(k, rk, queue, qs, ws, n, ts, deadline, &next, &pending);
		if (rd_kafka_event_error(ev)) {
			query_fail(w, -EIO, "committed offsets: %s", rd_kafka_event_error_string(ev));
			rd_kafka_event_destroy(ev);
			continue;
		}
		if (n_groups != 1) {
			query_fail(w, -EIO, "committed offsets: %zu groups in the reply", n_groups);
		} else if (rd_kafka_group_result_error(groups[0])) {
			query_fail(w, -EIO, "committed offsets: %s",
				   rd_kafka_error_string(rd_kafka_group_result_error(groups[0])));
		} else if (keep_commits(&qs[w - ws], w, rd_kafka_group_result_partitions(groups[0]),
					ts, n_ts) < 0) {
			query_fail(w, -ENOMEM, "committed offsets: out of memory");
		}
		rd_kafka_event_destroy(ev);
	}
	for (size_t i = 0; i < n; i++) {
		if (!ws[i].err && !ws[i].replied) {
			query_fail(&ws[i], -ETIMEDOUT,
				   "committed offsets of group \"%s\": no answer in time",
				   qs[i].group);
			/* The handle stays: librdkafka ends the request at its
			 * timeout (the deadline), and its reply is dropped
			 * with the round's queue. */
			k->stats.late_requests++;
			if (!LS_KAFKA_KEEP_LATE_CLIENT)
				k->broken[qs[i].isolation] = true;
		}
	}
}

static int cmp_topic_offsets(const void *a, const void *b)
{
	return strcmp(((const struct ls_topic_offsets *)a)->topic,
		      ((const struct ls_topic_offsets *)b)->topic);
}

/*
 * Fills the snapshot's group from its description: state, assignor,
 * members, and each partition's owner. A group that could not be described
 * stays unknown; the snapshot stands without it.
 */
static int fill_group(struct ls_lag_snapshot *s, const char *group, const struct wdescribe *d)
{
	const rd_kafka_ConsumerGroupDescription_t *const *pd;
	const rd_kafka_ConsumerGroupDescription_t *desc;
	struct ls_group_info *g = &s->group;
	size_t n;

	pd = d->n ? bsearch(group, d->by_id, d->n, sizeof(*d->by_id), cmp_desc_key) : NULL;
	if (!pd || rd_kafka_ConsumerGroupDescription_error(*pd))
		return 0;
	desc = *pd;
	n = rd_kafka_ConsumerGroupDescription_member_count(desc);
	if (n) {
		g->members = calloc(n, sizeof(*g->members));
		if (!g->members)
			return -ENOMEM;
	}
	snprintf(g->state, sizeof(g->state), "%s",
		 rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(desc)));
	snprintf(g->assignor, sizeof(g->assignor), "%s",
		 rd_kafka_ConsumerGroupDescription_partition_assignor(desc)
			 ? rd_kafka_ConsumerGroupDescription_partition_assignor(desc)
			 : "");
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_MemberDescription_t *m =
			rd_kafka_ConsumerGroupDescription_member(desc, i);
		const rd_kafka_topic_partition_list_t *as = rd_kafka_MemberAssignment_partitions(
			rd_kafka_MemberDescription_assignment(m));
		struct ls_group_member *gm = &g->members[g->n_members++];
		const char *cid = rd_kafka_MemberDescription_consumer_id(m);
		const char *client = rd_kafka_MemberDescription_client_id(m);
		const char *host = rd_kafka_MemberDescription_host(m);

		gm->member_id = strdup(cid ? cid : "");
		gm->client_id = strdup(client ? client : "");
		gm->host = strdup(host ? host : "");
		if (!gm->member_id || !gm->client_id || !gm->host)
			return -ENOMEM;
		for (int j = 0; as && j < as->cnt; j++) {
			struct ls_partition_offsets *po = (struct ls_partition_offsets *)
				ls_lag_snapshot_find(s, as->elems[j].topic, as->elems[j].partition);

			if (po)
				po->owner = (int32_t)(i + 1);
		}
	}
	g->known = true;
	return 0;
}

/* The group has a committed offset in the reply, on any partition. */
static bool any_committed(const struct wquery *w)
{
	return w->replied && w->committed_any;
}

/*
 * The round's description says the group does not exist, as
 * kafka-consumer-groups decides it: state Dead (Kafka 3.x describes an
 * unknown group so) or GROUP_ID_NOT_FOUND (Kafka 4.x). False when the group
 * was not described: then nothing is known.
 */
static bool group_missing(const char *group, const struct wdescribe *d)
{
	const rd_kafka_ConsumerGroupDescription_t *const *pd;
	const rd_kafka_error_t *e;

	pd = d->n ? bsearch(group, d->by_id, d->n, sizeof(*d->by_id), cmp_desc_key) : NULL;
	if (!pd)
		return false;
	e = rd_kafka_ConsumerGroupDescription_error(*pd);
	if (e)
		return rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND;
	return rd_kafka_ConsumerGroupDescription_state(*pd) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
}

/*
 * The topics of the queries asked for every topic their group committed
 * to (all_topics), from their replies; and the end offsets (and log start
 * offsets) of those of them the first reads did not cover. A topic that
 * the metadata does not have yet is left out this round and the metadata
 * read again next round.
 */
static int expand_all_topics(struct ls_kafka *k, const struct ls_kafka_query *qs,
			     struct wquery *ws, size_t n, struct wtopic *ts, size_t n_ts,
			     int64_t deadline)
{
	bool levels[N_LEVELS] = {false, false}, start = false;
	struct offsets_run run;

	run.n_jobs = 0;
	run.n_threads = 0;
	/* The first reads are done: only what they missed is flagged now. */
	for (size_t t = 0; t < n_ts; t++) {
		for (int l = 0; l < N_LEVELS; l++)
			ts[t].need_end[l] = false;
		ts[t].need_start = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct wquery *w = &ws[i];
		int l = qs[i].isolation;

		if (!w->all_topics || w->err || !w->replied)
			continue;
		/* A topic the metadata does not have yet: read it again. */
		if (w->unknown_topic)
			k->topics_stale = true;
		for (size_t j = 0; j < w->n_commits; j++) {
			const struct wcommit *e = &w->commits[j];
			size_t idx = e->topic;
			struct wtopic *t = &ts[idx];

			if (!wants(&qs[i], e->partition) || t->err || t->n == 0 ||
			    is_internal(t->name))
				continue;
			/* The commits are sorted by topic: a topic's partitions are together. */
			if (w->n_topics && w->topics[w->n_topics - 1] == idx)
				continue;
			if (add_topic(w, idx) < 0)
				return -ENOMEM;
			if (!t->end[l]) {
				if (alloc_offsets(&t->end[l], t->n) < 0)
					return -ENOMEM;
				t->need_end[l] = levels[l] = true;
			}
			if (qs[i].reset == LS_RESET_EARLIEST && !t->start) {
				if (alloc_offsets(&t->start, t->n) < 0)
					return -ENOMEM;
				t->need_start = start = true;
			}
		}
	}
	for (int l = 0; l < N_LEVELS; l++)
		if (levels[l])
			offsets_start(&run, k, k->rk[l], ts, n_ts, l, false, deadline);
	for (int l = 0; start && l < N_LEVELS; l++) {
		if (k->rk[l]) {
			offsets_start(&run, k, k->rk[l], ts, n_ts, l, true, deadline);
			break;
		}
	}
	offsets_join(&run);
	return 0;
}

/* Builds the snapshot of one query from the round's results. */
static int build_snapshot(const struct ls_kafka_query *q, struct wquery *w, struct wtopic *ts,
			  const struct wdescribe *desc, int64_t now, struct ls_lag_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->time_ms = now;
	s->produce_rate = -1;
	s->consume_rate = -1;
	if (w->err)
		goto fail;
	s->topics = calloc(w->n_topics ? w->n_topics : 1, sizeof(*s->topics));
	if (!s->topics)
		return -ENOMEM;
	for (size_t j = 0; j < w->n_topics; j++) {
		const struct wtopic *t = &ts[w->topics[j]];
		struct ls_topic_offsets *to = &s->topics[s->n_topics];
		bool any_commit = false;

		to->parts = calloc((size_t)(t->n ? t->n : 1), sizeof(*to->parts));
		to->topic = strdup(t->name);
		if (!to->parts || !to->topic) {
			free(to->parts);
			free(to->topic);
			return -ENOMEM;
		}
		for (int p = 0; p < t->n; p++) {
			struct ls_partition_offsets *po;
			const struct wcommit *c;

			if (!wants(q, t->ids[p]))
				continue;
			c = w->replied ? find_commit(w, w->topics[j], t->ids[p]) : NULL;
			po = &to->parts[to->n_parts++];
			po->partition = t->ids[p];
			po->end = t->end[q->isolation][p];
			po->log_start = t->start ? t->start[p] : LS_OFFSET_UNKNOWN;
			po->committed = c ? c->offset : LS_OFFSET_NONE;
			if (po->committed >= 0)
				any_commit = true;
			if (po->end < 0) {
				query_fail(w, -EIO, "end offset of %s [%d] could not be read",
					   t->name, t->ids[p]);
			} else if (q->reset == LS_RESET_EARLIEST && po->committed < 0 &&
				   po->log_start < 0) {
				query_fail(w, -EIO, "log start offset of %s [%d] could not be read",
					   t->name, t->ids[p]);
			}
		}
		s->n_topics++;
		/* In "every topic" mode only topics the group committed to count. */
		if (!q->n_topics && !q->topic_pattern && !any_commit) {
			free(to->parts);
			free(to->topic);
			memset(to, 0, sizeof(*to));
			s->n_topics--;
		}
	}
	if (!w->err && !any_committed(w) && group_missing(q->group, desc))
		query_fail(w, -ESRCH, "consumer group \"%s\" does not exist", q->group);
	if (w->err)
		goto fail;
	qsort(s->topics, s->n_topics, sizeof(*s->topics), cmp_topic_offsets);
	ls_lag_snapshot_compute(s, q->reset);
	if (fill_group(s, q->group, desc) < 0) {
		ls_lag_snapshot_release(s);
		return -ENOMEM;
	}
	return 0;
fail:
	ls_lag_snapshot_release(s);
	s->time_ms = now;
	s->produce_rate = -1;
	s->consume_rate = -1;
	s->total_lag = -1;
	s->partition_count = -1;
	ls_lag_snapshot_fail(s, w->err, "%s", w->errmsg ? w->errmsg : strerror(-w->err));
	return 0;
}

void ls_kafka_set_metadata_max_age(struct ls_kafka *k, int64_t ms)
{
	k->metadata_max_age_ms = ms > 0 ? ms : 0;
}

size_t ls_kafka_chunk_size(void)
{
	return LS_KAFKA_CHUNK;
}

/* The topics of the last metadata can serve this round. */
static bool topics_usable(const struct ls_kafka *k, int level)
{
	return k->topics && k->proven[level] && !k->topics_stale &&
	       ls_clock_mono_ms() - k->topics_at < k->metadata_max_age_ms;
}

/*
 * Reads the metadata and makes its topics the cached ones. 0; -EACCES
 * (the broker refused the client), -ETIMEDOUT or -EIO with errbuf saying
 * why; -ENOMEM.
 */
static int refresh_topics(struct ls_kafka *k, int level, int64_t deadline, char *errbuf,
			  size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	struct wtopic *ts;
	bool refused = false;
	rd_kafka_resp_err_t err;
	int r;

	k->stats.metadata_requests++;
	err = fetch_metadata(k, level, deadline, &md, &refused, errbuf, errlen);
	if (err && refused)
		return -EACCES;
	if (err) {
		char why[256];

		/* Error callbacks are served by polling the handle. */
		rd_kafka_poll(k->rk[level], 100);
		last_error(k, why, sizeof(why));
		snprintf(errbuf, errlen, "%s: %s", rd_kafka_err2str(err), why);
		/* No broker answered within the deadline is a timeout whatever
		 * librdkafka calls it (a broker that accepts connections and
		 * never answers leaves the handle waiting on that connection
		 * for api.version.request.timeout.ms): it counts towards the
		 * handle's recreation (LS_KAFKA_RECREATE_AFTER). */
		return err == RD_KAFKA_RESP_ERR__TIMED_OUT || remaining(deadline) == 0 ? -ETIMEDOUT
										: -EIO;
	}
	r = wtopics_from_metadata(md, &ts);
	if (r == 0) {
		forget_topics(k);
		k->topics = ts;
		k->n_topics = (size_t)md->topic_cnt;
		k->topics_at = ls_clock_mono_ms();
		k->topics_stale = false;
	}
	rd_kafka_metadata_destroy(md);
	return r;
}

/* Sets is_mock from the cluster id of the metadata read on the handle of
 * level (no request); fresh: a metadata request has just succeeded. */
static void check_mock(struct ls_kafka *k, int level, bool fresh)
{
	char *cluster_id;

	if (k->mock_checked)
		return;
	cluster_id = rd_kafka_clusterid(k->rk[level], 0);
	/* A broker too old to name its cluster is no mock. */
	k->is_mock = cluster_id && strncmp(cluster_id, "mockCluster", 11) == 0;
	k->mock_checked = cluster_id || fresh;
	if (cluster_id)
		rd_kafka_mem_free(k->rk[level], cluster_id);
}

int ls_kafka_collect(struct ls_kafka *k, const struct ls_kafka_query *queries, size_t n,
		     int64_t timeout_ms, struct ls_lag_snapshot *ret_snaps)
{
	int64_t deadline = ls_clock_mono_ms() + timeout_ms;
	rd_kafka_queue_t *queue = NULL;
	size_t next = 0, pending = 0; /* groups asked for their offsets, and not answered */
	struct wquery *ws = NULL;
	struct wtopic *ts = NULL;
	size_t n_ts = 0;
	bool levels[N_LEVELS] = {false, false};
	int meta_level = -1;
	bool fresh = false;
	struct wdescribe desc = {0};
	struct offsets_run run;
	char errbuf[512] = "";
	int r = 0;

	run.n_jobs = 0;
	run.n_threads = 0;
	k->stats.rounds++;
	ws = calloc(n ? n : 1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		levels[queries[i].isolation] = true;
	for (int l = 0; l < N_LEVELS; l++) {
		if (!levels[l])
			continue;
		r = ensure_handle(k, l, errbuf, sizeof(errbuf));
		if (r < 0)
			goto cluster_fail;
		if (meta_level < 0)
			meta_level = l;
	}
	if (meta_level < 0)
		goto out;

	pthread_mutex_lock(&k->mu);
	k->refused[0] = '\0';
	pthread_mutex_unlock(&k->mu);
	if (!topics_usable(k, meta_level)) {
refresh:
		r = refresh_topics(k, meta_level, deadline, errbuf, sizeof(errbuf));
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			goto cluster_fail;
		fresh = true;
	}
	ts = k->topics;
	n_ts = k->n_topics;
	check_mock(k, meta_level, fresh);

	for (size_t i = 0; i < n; i++) {
		r = resolve_topics(&queries[i], &ws[i], ts, n_ts, k->mock_checked && !k->is_mock);
		if (r < 0)
			goto out;
		if (ws[i].err == -ENOENT && !fresh) {
			/* A topic made since the metadata was read: read it now. */
			for (size_t j = 0; j <= i; j++) {
				free(ws[j].topics);
				free(ws[j].errmsg);
				memset(&ws[j], 0, sizeof(ws[j]));
			}
			wtopics_reset(ts, n_ts);
			goto refresh;
		}
		for (size_t j = 0; j < ws[i].n_topics && !ws[i].err; j++) {
			struct wtopic *t = &ts[ws[i].topics[j]];
			int l = queries[i].isolation;

			t->need_end[l] = true;
			r = alloc_offsets(&t->end[l], t->n);
			if (r == 0 && queries[i].reset == LS_RESET_EARLIEST) {
				t->need_start = true;
				r = alloc_offsets(&t->start, t->n);
			}
			if (r < 0)
				goto out;
		}
	}
	queue = rd_kafka_queue_new(k->rk[meta_level]);
	issue_committed(k, k->rk[meta_level], queue, queries, ws, n, ts, deadline, &next, &pending);
	if (k->describe_skip > 0) {
		k->describe_skip--;
	} else if (!k->describe_unsupported && k->mock_checked) {
		issue_describe(k, queries, ws, NULL, n, &desc, deadline);
	}
	for (int l = 0; l < N_LEVELS; l++)
		if (levels[l])
			offsets_start(&run, k, k->rk[l], ts, n_ts, l, false, deadline);
	offsets_start(&run, k, k->rk[meta_level], ts, n_ts, meta_level, true, deadline);
	/* The committed offsets come in while the offsets are read. */
	wait_committed(k, k->rk[meta_level], queue, queries, ws, n, ts, n_ts, deadline, next,
		       pending);
	offsets_join(&run);
	wait_describe(k, &desc, deadline);
	r = expand_all_topics(k, queries, ws, n, ts, n_ts, deadline);
	if (r < 0)
		goto out;
	if (!desc.queue && !k->describe_unsupported && k->mock_checked && !k->is_mock) {
		/* The round did not describe its groups (they were slow to
		 * answer lately): a group without a single commit is described
		 * now, to tell a group that does not exist from one that never
		 * committed. Groups with commits cost no request. */
		bool *only = calloc(n ? n : 1, sizeof(*only));
		size_t m = 0;

		for (size_t i = 0; only && i < n; i++)
			if (!ws[i].err && ws[i].replied && !any_committed(&ws[i]))
				only[i] = true, m++;
		if (m)
			issue_describe(k, queries, ws, only, n, &desc, deadline);
		free(only);
		wait_describe(k, &desc, deadline);
	}

	{
		int64_t now = ls_clock_mono_ms();

		for (size_t i = 0; i < n; i++) {
			r = build_snapshot(&queries[i], &ws[i], ts, &desc, now, &ret_snaps[i]);
			if (r < 0) {
				for (size_t j = 0; j <= i; j++)
					ls_lag_snapshot_release(&ret_snaps[j]);
				goto out;
			}
		}
	}
	r = 0;
	goto out;

cluster_fail:
	for (size_t i = 0; i < n; i++) {
		struct ls_lag_snapshot *s = &ret_snaps[i];

		memset(s, 0, sizeof(*s));
		s->time_ms = ls_clock_mono_ms();
		s->total_lag = -1;
		s->partition_count = -1;
		s->produce_rate = -1;
		s->consume_rate = -1;
		ls_lag_snapshot_fail(s, r, "Kafka cluster \"%s\" at %s: %s", k->name,
				     k->bootstrap, errbuf);
	}
	ls_log(LS_LOG_DEBUG, NULL, "kafka cluster \"%s\": %s", k->name, errbuf);
	/* A cluster that does not answer metadata round after round gets a
	 * fresh client (ensure_handle). */
	for (int l = 0; l < N_LEVELS; l++)
		if (levels[l] && k->rk[l] && r == -ETIMEDOUT &&
		    ++k->silent[l] >= LS_KAFKA_RECREATE_AFTER)
			k->broken[l] = true;
	forget_topics(k);
	ts = NULL;
	n_ts = 0;
out:
	/* Replies still under way are dropped with the queue. */
	describe_release(&desc);
	if (queue)
		rd_kafka_queue_destroy(queue);
	for (size_t i = 0; ws && i < n; i++) {
		free(ws[i].topics);
		free(ws[i].commits);
		free(ws[i].errmsg);
	}
	free(ws);
	wtopics_reset(ts, n_ts);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ls_kafka_groups_free(char **groups)
{
	for (size_t i = 0; groups && groups[i]; i++)
		free(groups[i]);
	free(groups);
}

int ls_kafka_list_groups(struct ls_kafka *k, int64_t timeout_ms, char ***ret_groups,
			 size_t *ret_n, char *errbuf, size_t errlen)
{
	int64_t deadline = ls_clock_mono_ms() + timeout_ms;
	const rd_kafka_ListConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupListing_t **valid;
	const rd_kafka_error_t **errs;
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *queue = NULL;
	rd_kafka_event_t *ev = NULL;
	size_t n_valid = 0, n_errs = 0;
	char **groups = NULL;
	char why[256];
	int r;

	errbuf[0] = '\0';
	r = ensure_handle(k, LS_ISOLATION_READ_UNCOMMITTED, errbuf, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&k->mu);
	k->refused[0] = '\0';
	pthread_mutex_unlock(&k->mu);
	/* The metadata first: it proves the cluster answers (and how it
	 * refuses a client), and names a mock cluster. */
	r = refresh_topics(k, LS_ISOLATION_READ_UNCOMMITTED, deadline, errbuf, errlen);
	if (r < 0)
		return r;
	check_mock(k, LS_ISOLATION_READ_UNCOMMITTED, true);
	if (k->is_mock) {
		snprintf(errbuf, errlen, "the cluster cannot list its consumer groups");
		return -EOPNOTSUPP;
	}
	queue = rd_kafka_queue_new(k->rk[LS_ISOLATION_READ_UNCOMMITTED]);
	opts = rd_kafka_AdminOptions_new(k->rk[LS_ISOLATION_READ_UNCOMMITTED],
					 RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_AdminOptions_set_request_timeout(opts, (int)remaining(deadline), why,
						  sizeof(why));
	rd_kafka_ListConsumerGroups(k->rk[LS_ISOLATION_READ_UNCOMMITTED], opts, queue);
	ev = rd_kafka_queue_poll(queue, (int)remaining(deadline) + 1000);
	if (!ev) {
		snprintf(errbuf, errlen, "listing the consumer groups: no answer in time");
		k->broken[LS_ISOLATION_READ_UNCOMMITTED] = true;
		r = -ETIMEDOUT;
		goto out;
	}
	res = rd_kafka_event_ListConsumerGroups_result(ev);
	if (rd_kafka_event_error(ev) || !res) {
		snprintf(errbuf, errlen, "listing the consumer groups: %s",
			 rd_kafka_event_error_string(ev));
		r = rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : -EIO;
		goto out;
	}
	/* A broker that did not answer leaves its groups out: an error, as
	 * kafka-consumer-groups fails then too. */
	errs = rd_kafka_ListConsumerGroups_result_errors(res, &n_errs);
	if (n_errs) {
		snprintf(errbuf, errlen, "listing the consumer groups: %s",
			 rd_kafka_error_string(errs[0]));
		r = -EIO;
		goto out;
	}
	valid = rd_kafka_ListConsumerGroups_result_valid(res, &n_valid);
	groups = calloc(n_valid + 1, sizeof(*groups));
	if (!groups) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_valid; i++) {
		groups[i] = strdup(rd_kafka_ConsumerGroupListing_group_id(valid[i]));
		if (!groups[i]) {
			ls_kafka_groups_free(groups);
			groups = NULL;
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(groups, n_valid, sizeof(*groups), cmp_str);
	*ret_groups = groups;
	*ret_n = n_valid;
	r = 0;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (queue)
		rd_kafka_queue_destroy(queue);
	return r;
}
