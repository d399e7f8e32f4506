/* controller.c - see controller.h. */
#include "controller/controller.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/sources.h"
#include "kafka/kafka.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_COLLECT_TIMEOUT_MS 10000
#define STOP_POLL_MS	       100

struct scaler_rt {
	const struct ls_config_scaler *cfg;
	struct ls_policy_state *policy;
	struct ls_lag_snapshot prev; /* the last good read, for rates */
	int64_t next_due_ms;
	int32_t current;
	bool failing; /* the last read failed: log the recovery once */
};

/* One round of one cluster, run on a collector thread. */
struct cluster_rt {
	struct ls_kafka *kafka;
	pthread_t thread;
	bool running;
	bool abandoned; /* its thread outlived a stop: leave the client alone */
	size_t *due;	/* indexes into scalers */
	struct ls_kafka_query *queries;
	struct ls_lag_snapshot *snaps;
	size_t n_due;
	int64_t timeout_ms;
};

struct ls_controller {
	const struct ls_config *cfg;
	struct ls_controller_options opts;
	struct scaler_rt *scalers;
	struct cluster_rt *clusters;
	uint64_t rng;
};

static volatile sig_atomic_t never_stop;

int ls_controller_new(const struct ls_config *cfg, const struct ls_controller_options *opts,
		      struct ls_controller **ret, char *errbuf, size_t errlen)
{
	struct ls_controller *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;

	if (!c)
		return -ENOMEM;
	c->cfg = cfg;
	c->opts = *opts;
	if (!c->opts.stop)
		c->opts.stop = &never_stop;
	c->rng = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
	c->scalers = calloc(cfg->n_scalers + 1, sizeof(*c->scalers));
	c->clusters = calloc(cfg->n_clusters + 1, sizeof(*c->clusters));
	if (!c->scalers || !c->clusters)
		goto fail;
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		struct cluster_rt *cl = &c->clusters[i];
		char err[384];

		cl->due = calloc(cfg->n_scalers + 1, sizeof(*cl->due));
		cl->queries = calloc(cfg->n_scalers + 1, sizeof(*cl->queries));
		cl->snaps = calloc(cfg->n_scalers + 1, sizeof(*cl->snaps));
		if (!cl->due || !cl->queries || !cl->snaps)
			goto fail;
		r = ls_controller_kafka_new(&cfg->clusters[i], &cl->kafka, err, sizeof(err));
		if (r < 0) {
			snprintf(errbuf, errlen, "Kafka cluster \"%s\": %s", cfg->clusters[i].name,
				 err);
			goto fail;
		}
	}
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		struct scaler_rt *s = &c->scalers[i];
		const struct ls_policy_params *p = &cfg->scalers[i].policy;

		s->cfg = &cfg->scalers[i];
		s->policy = ls_policy_state_new();
		if (!s->policy) {
			r = -ENOMEM;
			goto fail;
		}
		s->current = opts->assume_replicas >= 0 ? opts->assume_replicas : p->min_replicas;
		/* Spread the first rounds a little so scalers don't align. */
		s->next_due_ms = 0;
		if (!opts->once) {
			int64_t spread = p->polling_interval_ms / 10;

			if (spread > 1000)
				spread = 1000;
			s->next_due_ms = ls_clock_mono_ms() +
					 (int64_t)ls_rand_below(&c->rng, (uint64_t)spread + 1);
		}
	}
	*ret = c;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	ls_controller_free(c);
	return r;
}

void ls_controller_free(struct ls_controller *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->clusters && i < c->cfg->n_clusters; i++) {
		struct cluster_rt *cl = &c->clusters[i];

		if (cl->abandoned)
			continue; /* its thread still uses these; the process exit frees them */
		ls_kafka_free(cl->kafka);
		free(cl->due);
		free(cl->queries);
		free(cl->snaps);
	}
	for (size_t i = 0; c->scalers && i < c->cfg->n_scalers; i++) {
		ls_policy_state_free(c->scalers[i].policy);
		ls_lag_snapshot_release(&c->scalers[i].prev);
	}
	free(c->clusters);
	free(c->scalers);
	free(c);
}

static void *collect_thread(void *arg)
{
	struct cluster_rt *cl = arg;

	ls_kafka_collect(cl->kafka, cl->queries, cl->n_due, cl->timeout_ms, cl->snaps);
	return NULL;
}

void ls_controller_print_decision(FILE *out, enum ls_output fmt, int64_t wall_ms,
				  const struct ls_config_scaler *s, const struct ls_decision *d,
				  bool applied)
{
	struct ls_buf b;
	char ts[40], target[512];

	ls_buf_init(&b, 0);
	ls_clock_rfc3339(wall_ms, ts, sizeof(ts));
	snprintf(target, sizeof(target), "%s/%s/%s", s->target.namespace_, s->target.kind,
		 s->target.name);
	if (fmt == LS_OUTPUT_JSON) {
		ls_buf_printf(&b, "{\"time\":\"%s\",\"scaler\":", ts);
		ls_buf_json_string(&b, s->name);
		ls_buf_puts(&b, ",\"target\":");
		ls_buf_json_string(&b, target);
		ls_buf_printf(&b,
			      ",\"currentReplicas\":%d,\"recommendedReplicas\":%d,"
			      "\"desiredReplicas\":%d,",
			      d->current_replicas, d->recommended_replicas, d->desired_replicas);
		if (d->total_lag >= 0)
			ls_buf_printf(&b, "\"totalLag\":%lld,", (long long)d->total_lag);
		else
			ls_buf_puts(&b, "\"totalLag\":null,");
		if (d->partition_count >= 0)
			ls_buf_printf(&b, "\"partitionCount\":%d,", d->partition_count);
		else
			ls_buf_puts(&b, "\"partitionCount\":null,");
		ls_buf_printf(&b, "\"action\":\"%s\",\"reason\":", ls_policy_action_name(d->action));
		ls_buf_json_string(&b, d->reason);
		ls_buf_printf(&b, ",\"applied\":%s}\n", applied ? "true" : "false");
	} else {
		ls_buf_printf(&b, "%s %s %s %s %d -> %d (recommended %d", ts, s->name, target,
			      ls_policy_action_name(d->action), d->current_replicas,
			      d->desired_replicas, d->recommended_replicas);
		if (d->total_lag >= 0)
			ls_buf_printf(&b, ", lag %lld over %d partitions", (long long)d->total_lag,
				      d->partition_count);
		ls_buf_printf(&b, ")%s: %s\n", applied ? "" : " [not applied]", d->reason);
	}
	fputs(ls_buf_str(&b), out);
	fflush(out);
	ls_buf_release(&b);
}

/* Decides and acts for one scaler whose read has come back. */
static int reconcile(struct ls_controller *c, struct scaler_rt *s, struct ls_lag_snapshot *snap)
{
	const struct ls_policy_params *p = &s->cfg->policy;
	struct ls_policy_input in = {
		.now_ms = snap->time_ms,
		.snap = snap,
		.current_replicas = s->current,
		.paused = false,
		.paused_replicas = -1,
	};
	struct ls_decision d;
	bool applied = false;
	int r;

	if (!snap->err)
		ls_lag_snapshot_rates(s->prev.time_ms ? &s->prev : NULL, snap);
	if (snap->err) {
		if (!s->failing)
			ls_log(LS_LOG_WARN, s->cfg->name, "reading lag failed: %s", snap->errmsg);
		s->failing = true;
	} else if (s->failing) {
		ls_log(LS_LOG_INFO, s->cfg->name, "reading lag works again");
		s->failing = false;
	}
	r = ls_policy_decide(s->policy, p, &in, &d);
	if (r < 0) {
		ls_log(LS_LOG_ERROR, s->cfg->name, "the policy refused the input: %s",
		       strerror(-r));
		return r;
	}
	if (d.desired_replicas != s->current) {
		/* Dry-run assumes the change was made, so the next decisions
		 * follow from it as they would in the cluster. */
		ls_policy_applied(s->policy, in.now_ms, s->current, d.desired_replicas);
		s->current = d.desired_replicas;
		applied = !c->opts.dry_run;
	}
	ls_controller_print_decision(c->opts.out ? c->opts.out : stdout, c->opts.output,
				     ls_clock_wall_ms(), s->cfg, &d, applied);
	if (!snap->err) {
		ls_lag_snapshot_release(&s->prev);
		s->prev = *snap;
		memset(snap, 0, sizeof(*snap));
	}
	return d.action == LS_ACTION_ERROR || d.action == LS_ACTION_FALLBACK ? 1 : 0;
}

static int64_t collect_timeout(const struct ls_controller *c, const struct cluster_rt *cl)
{
	int64_t t = MAX_COLLECT_TIMEOUT_MS;

	if (c->opts.collect_timeout_ms > 0)
		return c->opts.collect_timeout_ms;
	for (size_t i = 0; i < cl->n_due; i++) {
		int64_t iv = c->scalers[cl->due[i]].cfg->policy.polling_interval_ms;

		if (iv < t)
			t = iv;
	}
	return t;
}

/* One round: start a collector per cluster with due scalers, wait, decide. */
static int round_once(struct ls_controller *c, int64_t now, bool *any_error)
{
	bool started = false;

	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		struct cluster_rt *cl = &c->clusters[ci];

		cl->n_due = 0;
		for (size_t i = 0; i < c->cfg->n_scalers; i++) {
			struct scaler_rt *s = &c->scalers[i];

			if (s->cfg->cluster_index != ci || s->next_due_ms > now)
				continue;
			cl->due[cl->n_due] = i;
			ls_controller_query_for(s->cfg, &cl->queries[cl->n_due]);
			cl->n_due++;
		}
		if (cl->n_due == 0)
			continue;
		cl->timeout_ms = collect_timeout(c, cl);
		if (pthread_create(&cl->thread, NULL, collect_thread, cl) != 0) {
			/* No thread to spare: collect on this one instead. */
			collect_thread(cl);
			cl->running = false;
		} else {
			cl->running = true;
		}
		started = true;
	}
	if (!started)
		return 0;
	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		struct cluster_rt *cl = &c->clusters[ci];

		while (cl->running) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += STOP_POLL_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(cl->thread, NULL, &ts) == 0) {
				cl->running = false;
				break;
			}
			if (*c->opts.stop) {
				/* Leave a collector stuck on a broker to the exit. */
				for (size_t j = ci; j < c->cfg->n_clusters; j++) {
					if (c->clusters[j].running) {
						pthread_detach(c->clusters[j].thread);
						c->clusters[j].abandoned = true;
						c->clusters[j].running = false;
					}
				}
				return -EINTR;
			}
		}
	}
	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		struct cluster_rt *cl = &c->clusters[ci];

		for (size_t i = 0; i < cl->n_due; i++) {
			struct scaler_rt *s = &c->scalers[cl->due[i]];
			int64_t iv = s->cfg->policy.polling_interval_ms;
			int64_t jitter = iv / 20;

			if (reconcile(c, s, &cl->snaps[i]) != 0)
				*any_error = true;
			ls_lag_snapshot_release(&cl->snaps[i]);
			/* Next round in interval ± 5%. */
			s->next_due_ms = now + iv - jitter +
					 (int64_t)ls_rand_below(&c->rng, (uint64_t)(2 * jitter + 1));
		}
		cl->n_due = 0;
	}
	return 0;
}

int ls_controller_run(struct ls_controller *c)
{
	bool any_error = false;

	while (!*c->opts.stop) {
		int64_t now = ls_clock_mono_ms(), next = INT64_MAX;
		int r = round_once(c, now, &any_error);

		if (r == -EINTR)
			break;
		if (r < 0)
			return r;
		if (c->opts.once)
			return any_error ? 1 : 0;
		for (size_t i = 0; i < c->cfg->n_scalers; i++)
			if (c->scalers[i].next_due_ms < next)
				next = c->scalers[i].next_due_ms;
		while (!*c->opts.stop && ls_clock_mono_ms() < next) {
			int64_t wait = next - ls_clock_mono_ms();

			ls_clock_sleep_ms(wait < STOP_POLL_MS ? wait : STOP_POLL_MS);
		}
	}
	return 0;
}
