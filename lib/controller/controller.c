/* controller.c - see controller.h. */
#include "controller/controller.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/act.h"
#include "controller/objects.h"
#include "controller/sources.h"
#include "controller/status.h"
#include "kafka/kafka.h"
#include "kube/kube.h"
#include "kube/leader.h"
#include "metrics/app.h"
#include "metrics/server.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_COLLECT_TIMEOUT_MS 10000
#define STOP_POLL_MS	       100
/* A scaler due within this fraction of its polling interval joins the
 * round that is starting, so that scalers stay batched. */
#define PULL_IN_DIVISOR 10
/* Rounds are jittered by up to this fraction of the interval, the same for
 * every scaler of a round (so that instances do not align, and a round's
 * scalers stay together). */
#define JITTER_DIVISOR 20

struct scaler_rt {
	const struct ls_config_scaler *cfg;
	struct ls_policy_state *policy;
	int64_t next_due_ms;
	int32_t current;
	bool failing; /* the last read failed: log the recovery once */
	struct ls_metrics_scaler *metrics; /* NULL when it could not be allocated */
	bool fallback_seen; /* FallbackActivated was recorded for this spell */
	bool hot_seen;	    /* HotPartition was recorded for this episode */
	bool skip_seen;	    /* skipped for its cluster's configuration: reported */
	bool target_failing; /* TargetNotFound or TargetReadFailed was recorded for this episode */
	bool have_current;  /* current holds replicas read from the cluster */
	bool decided;	    /* its first decision is complete (for /readyz) */
	/* Kubernetes: what lib/controller/act knows of the target; a read
	 * whose target is being read waits here (on the heap only while one
	 * waits); a decision whose patch is on its way is printed when the
	 * patch ends. */
	struct ls_act_target tgt;
	struct ls_lag_snapshot *waiting;
	struct pending_write *pending;
	/* For a LagScaler's status: why the decision being made failed (a
	 * Ready reason of status.h, NULL: it did not) and the message, until
	 * it is printed (on the heap only while there is one; NULL without
	 * memory: the status gives the decision's reason); whether the target
	 * is paused. */
	const char *fail_reason;
	char *fail_msg;
	bool paused;
};

/* A decision waiting for its patch. */
struct pending_write {
	struct ls_decision d;
	int64_t now_ms; /* the decision's input time */
	int32_t from;
};

/* One round of one cluster, run on a collector thread. */
struct cluster_rt {
	struct ls_kafka *kafka; /* NULL when librdkafka refused the cluster's settings */
	char conf_err[384];	/* ... and why ("" otherwise) */
	pthread_t thread;
	bool running;
	bool abandoned; /* its thread outlived a stop: leave the client alone */
	size_t *due;	/* indexes into scalers */
	struct ls_kafka_query *queries;
	struct ls_lag_snapshot *snaps;
	size_t n_due;
	int64_t timeout_ms;
	int64_t started_ms;		    /* monotonic start and end of the round */
	int64_t finished_ms;
	struct ls_metrics_cluster *metrics; /* NULL when it could not be allocated */
};

struct ls_controller {
	const struct ls_config *cfg; /* the scalers run: file_cfg's, or composed */
	/* LagScaler objects (NULL without a cluster, or with
	 * kubernetes.lagScalers false): their scalers join file_cfg's in
	 * composed (NULL while there is none), and their status is written
	 * (status: NULL in dry-run). */
	const struct ls_config *file_cfg;
	struct ls_config *composed;
	struct ls_objects *objects;
	bool objects_synced;
	struct ls_status *status;
	struct ls_controller_options opts;
	struct scaler_rt *scalers;
	struct cluster_rt *clusters;
	uint64_t rng;
	/* Metrics belong to the loop's thread; the text rendered from them is
	 * handed to the HTTP server (if any) once per round. */
	struct ls_metrics_app *metrics;
	struct ls_buf exposition;
	bool ready;
	bool round_seen;    /* a round finished (with no scalers, that is ready) */
	bool batching;	    /* the round's decisions are being made (flush_decisions) */
	size_t n_undecided; /* scalers that have not decided yet; ready at 0 */
	/* Kubernetes (NULL without a cluster): reads, writes, Events
	 * (act.h), and the leader elector (NULL without leader election). */
	struct ls_act *act;
	bool synced; /* the watches were waited for before the first round */
	uint64_t act_changes; /* ls_act_changes when wake_recovered looked last */
	bool any_error; /* with once: a scaler's round ended in error */
	struct ls_kube_leader *leader;
	bool leader_started;
	bool leading;		 /* as last logged */
	char holder[256];	 /* the leader seen last, as logged */
	char leader_err[512];	 /* the elector's error, as logged */
};

static volatile sig_atomic_t never_stop;

/* The arrays the rounds of cfg's cluster ci use, sized for its scalers
 * (a round takes at most all of them), not for every scaler of cfg. */
static int cluster_arrays(struct cluster_rt *cl, const struct ls_config *cfg, size_t ci)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_scalers; i++)
		if (cfg->scalers[i].cluster_index == ci)
			n++;
	cl->due = calloc(n + 1, sizeof(*cl->due));
	cl->queries = calloc(n + 1, sizeof(*cl->queries));
	cl->snaps = calloc(n + 1, sizeof(*cl->snaps));
	return cl->due && cl->queries && cl->snaps ? 0 : -ENOMEM;
}

static void cluster_free_arrays(struct cluster_rt *cl)
{
	free(cl->due);
	free(cl->queries);
	free(cl->snaps);
	cl->due = NULL;
	cl->queries = NULL;
	cl->snaps = NULL;
}

static void cluster_release(struct cluster_rt *cl)
{
	ls_metrics_cluster_free(cl->metrics); /* never touched by the collector thread */
	cl->metrics = NULL;
	if (cl->abandoned)
		return; /* its thread still uses these; the process exit frees them */
	ls_kafka_free(cl->kafka);
	cluster_free_arrays(cl);
	memset(cl, 0, sizeof(*cl));
}

/*
 * The client of a cluster. Settings librdkafka refuses do not fail the
 * controller: the cluster keeps no client and conf_err says why, so that
 * only its own scalers are skipped (cluster_report, skip). Such an error
 * does not go away by trying again (the settings and the environment they
 * were read from are fixed until the configuration is loaded again), so it
 * is tried again only on a reload: SIGHUP, or a change of the mounted
 * file. 0, or -ENOMEM.
 */
static int cluster_client(const struct ls_config_cluster *cfg, struct cluster_rt *cl)
{
	int r = ls_controller_kafka_new(cfg, &cl->kafka, cl->conf_err, sizeof(cl->conf_err));

	if (r == -ENOMEM)
		return r;
	/* lib/kafka names a refused secret by its key alone (kafka.h). */
	if (r < 0) {
		cl->kafka = NULL;
		return 0;
	}
	cl->conf_err[0] = '\0';
	return 0;
}

/* Logs, once per configuration loaded, a cluster without a client. */
static void cluster_report(struct ls_controller *c, size_t ci)
{
	const struct cluster_rt *cl = &c->clusters[ci];
	size_t n = 0;

	if (cl->kafka)
		return;
	for (size_t i = 0; i < c->cfg->n_scalers; i++)
		n += c->cfg->scalers[i].cluster_index == ci;
	ls_log(LS_LOG_ERROR, NULL,
	       "Kafka cluster \"%s\": %s; its %zu scaler%s skipped until the configuration is "
	       "reloaded, the others run",
	       c->cfg->clusters[ci].name, cl->conf_err, n, n == 1 ? " is" : "s are");
}

/* A scaler with no history: a fresh policy state, the assumed replicas. */
static int scaler_init(struct ls_controller *c, struct scaler_rt *s,
		       const struct ls_config_scaler *sc)
{
	const struct ls_policy_params *p = &sc->policy;

	s->cfg = sc;
	s->policy = ls_policy_state_new();
	if (!s->policy)
		return -ENOMEM;
	s->current = c->opts.assume_replicas >= 0 ? c->opts.assume_replicas : p->min_replicas;
	/* Due at once: the first round takes every scaler of a cluster. */
	s->next_due_ms = 0;
	return 0;
}

static void scaler_release(struct scaler_rt *s)
{
	ls_policy_state_free(s->policy);
	if (s->waiting)
		ls_lag_snapshot_release(s->waiting);
	free(s->waiting);
	ls_act_target_release(&s->tgt);
	free(s->fail_msg);
	free(s->pending);
	ls_metrics_scaler_free(s->metrics);
	memset(s, 0, sizeof(*s));
}

/* The metric series of a scaler and of a cluster. Without them lagscale
 * still scales: a failure only leaves the series out. */
static void scaler_metrics(struct ls_controller *c, struct scaler_rt *s)
{
	char target[512];

	snprintf(target, sizeof(target), "%s/%s", s->cfg->target.kind, s->cfg->target.name);
	if (ls_metrics_scaler_new(c->metrics, s->cfg->name, s->cfg->target.namespace_, target,
				  c->cfg->clusters[s->cfg->cluster_index].name, s->cfg->kafka.group,
				  &s->metrics) < 0)
		ls_log(LS_LOG_DEBUG, s->cfg->name, "no memory for the scaler's metrics");
}

static void cluster_metrics(struct ls_controller *c, struct cluster_rt *cl, const char *name)
{
	if (ls_metrics_cluster_new(c->metrics, name, &cl->metrics) < 0)
		ls_log(LS_LOG_DEBUG, NULL, "no memory for the metrics of cluster \"%s\"", name);
}

/* /healthz fails after three of the shortest polling intervals without a
 * finished round (DESIGN.md section 8). */
static void health_limit(struct ls_controller *c)
{
	int64_t shortest = INT64_MAX;

	if (!c->opts.server)
		return;
	for (size_t i = 0; i < c->cfg->n_scalers; i++)
		if (c->cfg->scalers[i].policy.polling_interval_ms < shortest)
			shortest = c->cfg->scalers[i].policy.polling_interval_ms;
	if (shortest == INT64_MAX)
		return;
	ls_metrics_server_set_stale_after(c->opts.server, 3 * shortest);
	/* The exposition is rendered for a scrape, at most once an interval. */
	ls_metrics_server_set_render_interval(c->opts.server, shortest);
}

/*
 * A round of a cluster reuses the metadata read within half the shortest
 * polling interval of its scalers: once per interval in steady state, and
 * added partitions are still seen within one interval.
 */
static void metadata_age(struct ls_controller *c)
{
	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		int64_t shortest = INT64_MAX;

		for (size_t i = 0; i < c->cfg->n_scalers; i++)
			if (c->cfg->scalers[i].cluster_index == ci &&
			    c->cfg->scalers[i].policy.polling_interval_ms < shortest)
				shortest = c->cfg->scalers[i].policy.polling_interval_ms;
		if (c->clusters[ci].kafka)
			ls_kafka_set_metadata_max_age(c->clusters[ci].kafka,
						      shortest == INT64_MAX ? 0 : shortest / 2);
	}
}

/* Renders the metrics once and hands the text to the HTTP server. */
static void publish(struct ls_controller *c)
{
	if (!c->opts.server)
		return;
	ls_buf_reset(&c->exposition);
	ls_metrics_app_set_events_dropped(c->metrics, ls_act_events_dropped(c->act));
	if (ls_metrics_app_render(c->metrics, &c->exposition) < 0) {
		ls_log(LS_LOG_DEBUG, NULL, "no memory to render the metrics");
		return;
	}
	/* The server takes the text: nothing is kept here for the next
	 * render (at 10,000 scalers it is 16 MB, against a few page faults
	 * to render into a new buffer). */
	ls_metrics_server_publish(c->opts.server, &c->exposition);
}

/*
 * Renders the metrics when a scrape waits for them (server.h), whether or
 * not a round changed them since: the process_* series change by
 * themselves, and a scrape that found nothing new would wait its second
 * out (longer than a 1 s scrape timeout) for a render that never came.
 */
static void publish_if_wanted(struct ls_controller *c)
{
	if (ls_metrics_server_render_wanted(c->opts.server, ls_clock_mono_ms()))
		publish(c);
}

static struct ls_act_target *act_target(void *ud, size_t idx);
static void act_read_done(void *ud, size_t idx);
static void act_write_done(void *ud, size_t idx, int err, const char *errmsg);

/* The actor (reads, writes, Events) and the leader elector. No I/O. */
static int kube_setup(struct ls_controller *c, char *errbuf, size_t errlen)
{
	const struct ls_config_leader *l = &c->cfg->leader;
	struct ls_act_callbacks cb = {act_target, act_read_done, act_write_done, c};
	struct ls_kube_leader_options lo = {
		.namespace_ = l->namespace_,
		.name = l->lease_name,
		.params = {l->lease_duration_ms, l->renew_deadline_ms, l->retry_period_ms},
	};
	int r;

	if (!c->opts.kube)
		return 0;
	r = ls_act_new(c->opts.kube, c->opts.dry_run, c->opts.stop, &cb, &c->act, errbuf, errlen);
	if (r < 0)
		return r;
	/* Dry-run writes nothing, so it needs no Lease. */
	if (!l->enabled || c->opts.dry_run)
		return 0;
	r = ls_kube_leader_new(c->opts.kube, &lo, &c->leader);
	if (r < 0) {
		snprintf(errbuf, errlen, "leaderElection: %s",
			 r == -EINVAL ? "needs a namespace, a leaseName and leaseDuration > "
					"renewDeadline > retryPeriod"
				      : "out of memory");
		return r;
	}
	ls_metrics_app_set_leader(c->metrics, false);
	return 0;
}

/* The status writer's hands: act.h's async client. */
static int status_patch(void *ud, const struct ls_kube_target *t, const char *path,
			const char *body, void *tag)
{
	return ls_act_patch(ud, t, path, body, tag);
}

static void status_event(void *ud, const struct ls_kube_target *t, const char *uid,
			 const char *reason, const char *note, const char *log_name)
{
	ls_act_event_on(ud, t, uid, "Warning", reason, "Reconcile", note, log_name);
}

static void status_patch_done(void *ud, void *tag, int err, const char *errmsg)
{
	ls_status_patch_done(ud, tag, err, errmsg);
}

/* LagScaler objects (objects.h) and their status (status.h). No I/O. */
static int objects_setup(struct ls_controller *c, char *errbuf, size_t errlen)
{
	int r;

	if (!c->act || !c->cfg->lag_scalers)
		return 0;
	r = ls_objects_new(c->opts.kube, c->cfg, c->opts.stop, &c->objects);
	if (r == 0 && !c->opts.dry_run) {
		struct ls_status_sink sink = {status_patch, status_event, c->act};

		r = ls_status_new(&sink, &c->status);
		if (r == 0)
			ls_act_set_patch_cb(c->act, status_patch_done, c->status);
	}
	if (r < 0)
		snprintf(errbuf, errlen, "LagScaler objects: %s", strerror(-r));
	return r;
}

/* A scaler whose target is being read or written sits rounds out. */
static bool busy(const struct scaler_rt *s)
{
	return s->tgt.writing || s->waiting;
}

/*
 * Follows the elector, logging (once each) becoming the leader, losing
 * it, a new leader, an error. True when this instance has just become the
 * leader: then every scaler is due at once, so that what the decisions
 * ask for is written now (a takeover, or the API server back after an
 * outage), not up to a polling interval later.
 */
static bool leader_poll(struct ls_controller *c)
{
	struct ls_kube_leader_status st;
	const struct ls_config_leader *l = &c->cfg->leader;
	bool took_over = false;

	if (!c->leader || !c->leader_started)
		return false;
	ls_kube_leader_status(c->leader, &st);
	if (st.leading != c->leading) {
		c->leading = st.leading;
		if (st.leading) {
			int64_t now = ls_clock_mono_ms();

			ls_log(LS_LOG_INFO, NULL, "leading: holding lease \"%s/%s\" as \"%s\"",
			       l->namespace_, l->lease_name, ls_kube_leader_identity(c->leader));
			for (size_t i = 0; c->scalers && i < c->cfg->n_scalers; i++)
				if (!busy(&c->scalers[i]) && c->scalers[i].next_due_ms > now)
					c->scalers[i].next_due_ms = now, took_over = true;
		} else
			ls_log(LS_LOG_WARN, NULL,
			       "not leading any more: lease \"%s/%s\" was not renewed in time or "
			       "was taken; deciding without writing",
			       l->namespace_, l->lease_name);
		ls_controller_set_leader(c, st.leading);
		publish(c);
	}
	if (!st.leading && strcmp(st.holder, c->holder) != 0) {
		snprintf(c->holder, sizeof(c->holder), "%s", st.holder);
		if (st.holder[0] && strcmp(st.holder, ls_kube_leader_identity(c->leader)) != 0)
			ls_log(LS_LOG_INFO, NULL,
			       "following: lease \"%s/%s\" is held by \"%s\"; deciding without "
			       "writing",
			       l->namespace_, l->lease_name, st.holder);
	}
	if (strcmp(st.errmsg, c->leader_err) != 0) {
		/* Without the Lease nothing is written: say how to get one. */
		if (st.errmsg[0] && (st.error == -ENOENT || st.error == -EACCES))
			ls_log(LS_LOG_ERROR, NULL,
			       "leader election: %s; nothing is written until this works (create "
			       "namespace \"%s\" or set leaderElection.namespace, grant "
			       "get/create/update on leases there, or set leaderElection.enabled: "
			       "false)",
			       st.errmsg, l->namespace_);
		else if (st.errmsg[0])
			ls_log(LS_LOG_WARN, NULL, "leader election: %s", st.errmsg);
		else if (c->leader_err[0])
			ls_log(LS_LOG_INFO, NULL, "leader election works again");
		snprintf(c->leader_err, sizeof(c->leader_err), "%s", st.errmsg);
	}
	return took_over;
}

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
	ls_buf_init(&c->exposition, 0);
	c->rng = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
	c->scalers = calloc(cfg->n_scalers + 1, sizeof(*c->scalers));
	c->clusters = calloc(cfg->n_clusters + 1, sizeof(*c->clusters));
	if (!c->scalers || !c->clusters)
		goto fail;
	r = ls_metrics_app_new(LS_VERSION, rd_kafka_version_str(), &c->metrics);
	if (r < 0)
		goto fail;
	/* Until leader election says otherwise, this instance acts. */
	ls_metrics_app_set_leader(c->metrics, true);
	ls_metrics_app_set_partition_series(c->metrics, cfg->metrics_partition_series,
					    LS_METRICS_PARTITION_SERIES_CAP);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		struct cluster_rt *cl = &c->clusters[i];

		r = cluster_arrays(cl, cfg, i);
		if (r < 0)
			goto fail;
		r = cluster_client(&cfg->clusters[i], cl);
		if (r < 0)
			goto fail;
		cluster_metrics(c, cl, cfg->clusters[i].name);
	}
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		r = scaler_init(c, &c->scalers[i], &cfg->scalers[i]);
		if (r < 0)
			goto fail;
		scaler_metrics(c, &c->scalers[i]);
	}
	c->n_undecided = cfg->n_scalers;
	r = kube_setup(c, errbuf, errlen);
	if (r < 0)
		goto fail;
	c->file_cfg = cfg;
	r = objects_setup(c, errbuf, errlen);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_clusters; i++)
		cluster_report(c, i);
	metadata_age(c);
	health_limit(c);
	publish(c);
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
	bool abandoned = false;

	if (!c)
		return;
	/* Stops the election (releasing a Lease still held) first. */
	ls_kube_leader_free(c->leader);
	ls_objects_free(c->objects);
	ls_act_free(c->act);
	/* After the actor, which cancels the status writes. */
	ls_status_free(c->status);
	for (size_t i = 0; c->clusters && i < c->cfg->n_clusters; i++) {
		abandoned = abandoned || c->clusters[i].abandoned;
		cluster_release(&c->clusters[i]);
	}
	for (size_t i = 0; c->scalers && i < c->cfg->n_scalers; i++)
		scaler_release(&c->scalers[i]);
	ls_metrics_app_free(c->metrics);
	ls_buf_release(&c->exposition);
	/* A collector thread that outlived a stop still reads and writes its
	 * cluster_rt: the array is left to the process exit. */
	if (!abandoned)
		free(c->clusters);
	free(c->scalers);
	ls_config_free(c->composed);
	free(c);
}

void ls_controller_count_reload(struct ls_controller *c, bool ok)
{
	ls_metrics_app_count_reload(c->metrics, ok);
	publish(c);
}

void ls_controller_set_leader(struct ls_controller *c, bool leader)
{
	ls_metrics_app_set_leader(c->metrics, leader);
}

bool ls_controller_is_leader(const struct ls_controller *c)
{
	return !c->leader || ls_kube_leader_is_leader(c->leader);
}

static void *collect_thread(void *arg)
{
	struct cluster_rt *cl = arg;

	ls_kafka_collect(cl->kafka, cl->queries, cl->n_due, cl->timeout_ms, cl->snaps);
	cl->finished_ms = ls_clock_mono_ms();
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
		/* The group as Kafka sees it: null when it could not be read. */
		if (d->members >= 0) {
			ls_buf_printf(&b, "\"members\":%d,\"assignor\":", d->members);
			if (d->assignor[0])
				ls_buf_json_string(&b, d->assignor);
			else
				ls_buf_puts(&b, "null");
			ls_buf_puts(&b, ",");
		} else {
			ls_buf_puts(&b, "\"members\":null,\"assignor\":null,");
		}
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
	ls_buf_release(&b);
}

/* --- Kubernetes: the target, its replicas, Events (through act.h) -------- */

/* Records an Event on the scaler's target; only the leader does (dry-run
 * sends it with ?dryRun=All). Events are for people: scaling goes on
 * without them. */
static void record_event(struct ls_controller *c, struct scaler_rt *s, const char *type,
			 const char *reason, const char *action, const char *note)
{
	if (!c->act || (!c->opts.dry_run && !ls_controller_is_leader(c)))
		return;
	ls_act_event(c->act, s->cfg, &s->tgt, type, reason, action, note);
}

/* The decision printed when the target could not be read: nothing is known
 * of its replicas, so nothing is decided. */
static void target_error_decision(const struct scaler_rt *s, const struct ls_lag_snapshot *snap,
				  const char *why, struct ls_decision *d)
{
	ls_decision_init(d, s->current);
	d->action = LS_ACTION_ERROR;
	d->total_lag = snap->err ? -1 : snap->total_lag;
	d->partition_count = snap->err ? -1 : snap->partition_count;
	snprintf(d->reason, sizeof(d->reason), "cannot read the target: %s", why);
}

static const char *event_reason(const struct ls_decision *d, int32_t from)
{
	switch (d->action) {
	case LS_ACTION_ACTIVATE:
		return "Activated";
	case LS_ACTION_DEACTIVATE:
		return "Deactivated";
	case LS_ACTION_FALLBACK:
		return "FallbackActivated";
	default:
		return d->desired_replicas > from ? "ScaledUp" : "ScaledDown";
	}
}

/* A follower under leader election decides (its history stays warm for
 * the day it leads) but keeps quiet: one voice, the leader's, prints
 * decisions, as only its metrics show scalers (lib/metrics/app.h). */
static bool follower(const struct ls_controller *c)
{
	return c->leader && !ls_controller_is_leader(c);
}

static FILE *decisions_out(const struct ls_controller *c)
{
	return c->opts.out ? c->opts.out : stdout;
}

/* The decisions a round makes at once (c->batching) go out together at its
 * end, and before /readyz turns 200 (which says every scaler's first
 * decision is out); a flush per decision was a write(2) each, 1,000 a round
 * at 1,000 scalers. Any other decision (one that waited for its target or
 * its patch) goes out as it is printed. */
static void flush_decisions(struct ls_controller *c)
{
	fflush(decisions_out(c));
}

/*
 * /readyz passes once the first round is complete: every scaler has
 * decided once (its lag read, good or failed, its target's replicas read,
 * or found unreadable, and a patch it started answered), not merely once
 * the first round's reads came back, as a decision may wait for its
 * target and its patch. A scaler that cannot read its lag or target
 * decides all the same (an error or a fallback), so one broken scaler
 * does not keep the instance unready. Followers
 * decide too, so they are ready after their first round as well. Once
 * ready, an instance stays ready (a reload's new scalers do not undo it).
 */
static void update_ready(struct ls_controller *c)
{
	if (c->ready || !c->round_seen || c->n_undecided > 0)
		return;
	flush_decisions(c);
	c->ready = true;
	if (c->opts.server)
		ls_metrics_server_set_ready(c->opts.server, true);
	ls_log(LS_LOG_DEBUG, NULL, "ready: every scaler has decided once");
}

/* A decision of s is complete: printed (or, on a follower, kept quiet),
 * and its patch, if any, answered. */
static void decision_done(struct ls_controller *c, struct scaler_rt *s)
{
	if (s->decided)
		return;
	s->decided = true;
	c->n_undecided--;
	update_ready(c);
}

/*
 * A LagScaler's decision for its status (status.h): how it ended
 * (s->fail_reason, s->fail_msg, taken here) and, when applied, the
 * replicas set as the current ones.
 */
static void status_note(struct ls_controller *c, struct scaler_rt *s, const struct ls_decision *d,
			bool applied)
{
	struct ls_status_outcome o = {
		.fail_reason = s->fail_reason,
		.fail_msg = s->fail_reason && s->fail_msg && s->fail_msg[0] ? s->fail_msg : NULL,
		.paused = s->paused,
		.lag_seconds = d->total_lag >= 0 ? ls_metrics_scaler_lag_seconds(s->metrics) : -1,
		.polling_ms = s->cfg->policy.polling_interval_ms,
	};
	struct ls_decision now = *d;

	if (c->status && strchr(s->cfg->name, '/')) {
		if (applied)
			now.current_replicas = d->desired_replicas;
		ls_status_decided(c->status, s->cfg->name, &now, &o, ls_clock_wall_ms());
	}
	/* Taken: the next decision says its own. */
	s->fail_reason = NULL;
	free(s->fail_msg);
	s->fail_msg = NULL;
}

/* Notes why the decision being made failed, for a LagScaler's status. */
static void fail_note(struct scaler_rt *s, const char *reason, const char *msg)
{
	s->fail_reason = reason;
	free(s->fail_msg);
	s->fail_msg = strndup(msg ? msg : "", 511);
}

/* Prints a decision (flushed at once, or with its round: flush_decisions);
 * a follower logs it at debug level instead (one voice: follower()). */
static void print_decision(struct ls_controller *c, struct scaler_rt *s,
			   const struct ls_decision *d, bool applied)
{
	status_note(c, s, d, applied);
	if (follower(c)) {
		ls_log(LS_LOG_DEBUG, s->cfg->name, "following: %s %d -> %d (not applied): %s",
		       ls_policy_action_name(d->action), d->current_replicas, d->desired_replicas,
		       d->reason);
		return;
	}
	ls_controller_print_decision(decisions_out(c), c->opts.output, ls_clock_wall_ms(), s->cfg,
				     d, applied);
	if (!c->batching)
		flush_decisions(c);
}

/*
 * Starts setting the decided replicas on the cluster; the decision is
 * printed when the patch ends (act_write_done). Only the leader writes;
 * dry-run sends the patch with ?dryRun=All. False when nothing was
 * started (a follower, or the patch could not be queued: then logged).
 */
static bool apply(struct ls_controller *c, size_t idx, const struct ls_policy_input *in,
		  const struct ls_decision *d)
{
	struct scaler_rt *s = &c->scalers[idx];
	struct pending_write *pw;

	if (!c->opts.dry_run && !ls_controller_is_leader(c))
		return false;
	pw = malloc(sizeof(*pw));
	if (!pw) {
		ls_log(LS_LOG_ERROR, s->cfg->name, "no memory to set the replicas");
		return false;
	}
	pw->d = *d;
	pw->now_ms = in->now_ms;
	pw->from = s->current;
	if (ls_act_scale(c->act, s->cfg, idx, &s->tgt, d->desired_replicas) < 0) {
		free(pw);
		ls_log(LS_LOG_ERROR, s->cfg->name, "cannot start setting the replicas");
		return false;
	}
	free(s->pending);
	s->pending = pw;
	return true;
}

/* A patch ended: count, log, record and print it. */
static void act_write_done(void *ud, size_t idx, int err, const char *errmsg)
{
	struct ls_controller *c = ud;
	struct scaler_rt *s = &c->scalers[idx];
	struct pending_write *pw = s->pending;
	int32_t to;
	char what[512], note[LS_KUBE_NOTE_MAX + 1];
	bool dry = c->opts.dry_run;

	s->pending = NULL;
	if (!pw)
		return;
	to = pw->d.desired_replicas;
	ls_act_target_name(s->cfg, what, sizeof(what));
	if (err < 0) {
		if (ls_act_note(&s->tgt.write_err, errmsg))
			ls_log(LS_LOG_ERROR, s->cfg->name,
			       "cannot set the replicas of \"%s\" from %d to %d%s: %s", what, pw->from,
			       to, dry ? " (dry-run)" : "", errmsg);
		ls_metrics_scaler_count_error(s->metrics, "scale");
		snprintf(note, sizeof(note), "setting replicas from %d to %d failed: %s", pw->from,
			 to, errmsg);
		record_event(c, s, "Warning", "ScaleFailed", "Scale", note);
		c->any_error = true;
		fail_note(s, "ScaleFailed", note);
		print_decision(c, s, &pw->d, false);
		free(pw);
		decision_done(c, s);
		return;
	}
	if (ls_act_unnote(&s->tgt.write_err))
		ls_log(LS_LOG_INFO, s->cfg->name, "setting the replicas of \"%s\" works again",
		       what);
	ls_metrics_scaler_count_scale(s->metrics, pw->from, to);
	snprintf(note, sizeof(note), "replicas %d -> %d: %s", pw->from, to, pw->d.reason);
	record_event(c, s, pw->d.action == LS_ACTION_FALLBACK ? "Warning" : "Normal",
		     event_reason(&pw->d, pw->from), "Scale", note);
	if (!dry) {
		/* Paused: the change is the person's, not a step of the policy. */
		if (pw->d.action != LS_ACTION_PAUSED)
			ls_policy_applied(s->policy, pw->now_ms, pw->from, to);
		s->current = to;
		if (c->status)
			ls_status_scaled(c->status, s->cfg->name, ls_clock_wall_ms());
	}
	print_decision(c, s, &pw->d, !dry);
	free(pw);
	decision_done(c, s);
}

/*
 * The target's replicas and pause annotations into in (and s->current),
 * from act.h: 0; 1 when they are being read (the decision waits); < 0
 * when the target cannot be read (why says why).
 */
static int read_target(struct ls_controller *c, size_t idx, struct ls_policy_input *in,
		       char *why, size_t whylen)
{
	struct scaler_rt *s = &c->scalers[idx];
	struct ls_act_view v;
	int r = ls_act_target(c->act, s->cfg, idx, &s->tgt, 3 * s->cfg->policy.polling_interval_ms,
			      &v, why, whylen);

	if (r != 0) {
		if (r < 0)
			ls_metrics_scaler_count_error(s->metrics, "scale");
		return r;
	}
	/* A follower learns the leader's changes as they show, so that its
	 * rate limits are warm when it takes over. */
	if (c->leader && s->have_current && v.replicas != s->current &&
	    !ls_controller_is_leader(c))
		ls_policy_applied(s->policy, in->now_ms, s->current, v.replicas);
	s->have_current = true;
	s->current = v.replicas;
	in->current_replicas = v.replicas;
	in->paused = v.paused;
	in->paused_replicas = v.paused_replicas;
	s->paused = v.paused || v.paused_replicas >= 0;
	return 0;
}

/* What a read says before any decision: rates, the lag series, and the
 * start and end of a failing spell in the log. */
static void observe(struct ls_controller *c, struct scaler_rt *s, struct ls_lag_snapshot *snap)
{
	/* Rates against the read the policy remembers (no copy kept here). */
	if (!snap->err)
		ls_policy_snapshot_rates(s->policy, snap);
	/* Counts a failed read as a "collect" error; a good one updates the
	 * lag series and the lag-seconds history. A group that does not
	 * exist (kafka.h) is counted apart: it is a mistake in the scaler (a
	 * misspelled kafka.group, a consumer not deployed yet), not a cluster
	 * that fails. */
	if (snap->err == -ESRCH)
		ls_metrics_scaler_count_error(s->metrics, "group_not_found");
	else if (ls_metrics_scaler_observe_lag(s->metrics, snap) == -ENOMEM)
		ls_log(LS_LOG_DEBUG, s->cfg->name, "no memory for some lag series");
	if (snap->err) {
		if (!s->failing)
			ls_log(LS_LOG_WARN, s->cfg->name, "reading lag failed: %s",
			       ls_lag_snapshot_errmsg(snap));
		s->failing = true;
	} else if (s->failing) {
		ls_log(LS_LOG_INFO, s->cfg->name, "reading lag works again");
		s->failing = false;
	}
}

/*
 * Decides and acts for scaler idx, whose read (observed) is snap. When its
 * target is being read, snap waits in the scaler (act_read_done decides
 * then). Sets c->any_error when the decision is an error or a fallback.
 */
static void decide(struct ls_controller *c, size_t idx, struct ls_lag_snapshot *snap)
{
	struct scaler_rt *s = &c->scalers[idx];
	const struct ls_policy_params *p = &s->cfg->policy;
	struct ls_policy_input in = {
		.now_ms = snap->time_ms,
		.snap = snap,
		.current_replicas = s->current,
		.paused = false,
		.paused_replicas = -1,
	};
	struct ls_decision d;
	char why[400];
	bool applied = false, started = false;
	int r;

	/* With a cluster, the real replicas and pause annotations; without a
	 * target nothing can be decided for this scaler (the others go on). */
	if (c->act) {
		r = read_target(c, idx, &in, why, sizeof(why));
		if (r == 1) {
			if (snap == s->waiting)
				return;
			if (s->waiting)
				ls_lag_snapshot_release(s->waiting);
			else
				s->waiting = malloc(sizeof(*s->waiting));
			if (!s->waiting) {
				/* The read is lost; the next round reads again. */
				ls_log(LS_LOG_ERROR, s->cfg->name,
				       "no memory to keep the read while the target is read");
				ls_lag_snapshot_release(snap);
				return;
			}
			*s->waiting = *snap;
			memset(snap, 0, sizeof(*snap));
			return;
		}
		/* One Warning per spell of failures: not found (no object in
		 * the watch, or a 404 on /scale), or unreadable (a kind the
		 * API server does not scale, a watch that fails). */
		if (r < 0 && !s->target_failing)
			record_event(c, s, "Warning",
				     r == -ENOENT ? "TargetNotFound" : "TargetReadFailed", "ReadTarget",
				     why);
		s->target_failing = r < 0;
		if (r < 0) {
			target_error_decision(s, snap, why, &d);
			c->any_error = true;
			fail_note(s, r == -ENOENT ? "TargetNotFound" : "TargetReadFailed", d.reason);
			print_decision(c, s, &d, false);
			goto keep;
		}
	}
	r = ls_policy_decide(s->policy, p, &in, &d);
	if (r < 0) {
		ls_log(LS_LOG_ERROR, s->cfg->name, "the policy refused the input: %s",
		       strerror(-r));
		s->fail_reason = NULL;
		ls_metrics_scaler_count_error(s->metrics, "decide");
		c->any_error = true;
		goto keep;
	}
	ls_metrics_scaler_observe_decision(s->metrics, d.current_replicas, d.recommended_replicas,
					   d.desired_replicas, d.active, d.fallback,
					   in.paused || in.paused_replicas >= 0,
					   d.hot ? d.hot_partitions : 0);
	if (d.desired_replicas != s->current && c->act) {
		started = apply(c, idx, &in, &d);
	} else if (d.desired_replicas != s->current) {
		ls_metrics_scaler_count_scale(s->metrics, s->current, d.desired_replicas);
		/* Dry-run assumes the change was made, so the next decisions
		 * follow from it as they would in the cluster. */
		ls_policy_applied(s->policy, in.now_ms, s->current, d.desired_replicas);
		s->current = d.desired_replicas;
		applied = !c->opts.dry_run;
	}
	if (c->act && snap->err)
		record_event(c, s, "Warning", snap->err == -ESRCH ? "GroupNotFound" : "LagReadFailed",
			     "ReadLag", ls_lag_snapshot_errmsg(snap));
	if (snap->err)
		fail_note(s, snap->err == -ESRCH ? "GroupNotFound" : "LagReadFailed",
			  ls_lag_snapshot_errmsg(snap));
	/* Fallback without a change of replicas is worth an Event once. */
	if (c->act && d.fallback && !s->fallback_seen &&
	    !(started && d.action == LS_ACTION_FALLBACK))
		record_event(c, s, "Warning", "FallbackActivated", "Scale", d.reason);
	s->fallback_seen = d.fallback;
	/* A hot partition is worth one Warning per episode: the reason says
	 * why lagscale does not scale further. */
	if (c->act && d.hot && !s->hot_seen)
		record_event(c, s, "Warning", "HotPartition", "Scale", d.reason);
	s->hot_seen = d.hot;
	if (d.action == LS_ACTION_ERROR || d.action == LS_ACTION_FALLBACK)
		c->any_error = true;
	/* A patch on its way prints the decision when it ends. */
	if (!started)
		print_decision(c, s, &d, applied);
keep:
	/* A patch on its way completes the decision when it ends. */
	if (!started)
		decision_done(c, s);
	ls_lag_snapshot_release(snap);
	if (snap == s->waiting) {
		free(s->waiting);
		s->waiting = NULL;
	}
}

static struct ls_act_target *act_target(void *ud, size_t idx)
{
	struct ls_controller *c = ud;

	return &c->scalers[idx].tgt;
}

/* The target's replicas came (or did not): decide for the read waiting. */
static void act_read_done(void *ud, size_t idx)
{
	struct ls_controller *c = ud;
	struct scaler_rt *s = &c->scalers[idx];

	if (s->waiting)
		decide(c, idx, s->waiting);
}

/* Waits up to ms, driving the cluster's requests meanwhile. */
static void idle(struct ls_controller *c, int64_t ms)
{
	int64_t end = ls_clock_mono_ms() + ms;

	for (;;) {
		int64_t left = end - ls_clock_mono_ms();

		if (left <= 0)
			return;
		if (!c->act || ls_act_pending(c->act) == 0) {
			ls_clock_sleep_ms(left);
			return;
		}
		ls_act_poll(c->act, left);
	}
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

/* Due in this round: due now, or soon enough to join it (PULL_IN_DIVISOR). */
static bool due(const struct scaler_rt *s, int64_t now)
{
	return s->next_due_ms <= now + s->cfg->policy.polling_interval_ms / PULL_IN_DIVISOR;
}

/*
 * A due scaler whose cluster has no client: nothing is read or decided.
 * Each round counts an error of stage "config" (so an alert on the
 * counter's increase holds while the problem lasts) and prints an error
 * decision; the log line and the Warning Event come once.
 */
static void skip(struct ls_controller *c, struct scaler_rt *s, const struct cluster_rt *cl)
{
	const char *cluster = c->cfg->clusters[s->cfg->cluster_index].name;
	struct ls_decision d;

	ls_decision_init(&d, s->current);
	d.action = LS_ACTION_ERROR;
	snprintf(d.reason, sizeof(d.reason), "Kafka cluster \"%s\" is not usable: %s", cluster,
		 cl->conf_err);
	ls_metrics_scaler_count_error(s->metrics, "config");
	c->any_error = true;
	if (!s->skip_seen) {
		ls_log(LS_LOG_ERROR, s->cfg->name, "skipped: %s", d.reason);
		if (c->act) {
			ls_act_target_uid(c->act, s->cfg, &s->tgt);
			record_event(c, s, "Warning", "KafkaConfigInvalid", "ReadLag", d.reason);
		}
		s->skip_seen = true;
	}
	fail_note(s, "KafkaConfigInvalid", d.reason);
	print_decision(c, s, &d, false);
	decision_done(c, s); /* an error decision: complete (update_ready) */
}

/*
 * One round: start a collector per cluster with due scalers, wait, decide.
 * Every scaler of a round is next due one polling interval after the
 * round's start, moved by the round's jitter, so scalers with the same
 * interval stay in one round per interval however long the process runs.
 */
static int round_once(struct ls_controller *c, int64_t now)
{
	/* The round's jitter, in thousandths of an interval. */
	int64_t jitter = c->opts.once ? 0
				      : (int64_t)ls_rand_below(&c->rng, 2 * 1000 / JITTER_DIVISOR + 1) -
					    1000 / JITTER_DIVISOR;
	bool started = false;

	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		struct cluster_rt *cl = &c->clusters[ci];

		cl->n_due = 0;
		for (size_t i = 0; i < c->cfg->n_scalers; i++) {
			struct scaler_rt *s = &c->scalers[i];

			if (s->cfg->cluster_index != ci || !due(s, now) || busy(s))
				continue;
			if (!cl->kafka) {
				int64_t iv = s->cfg->policy.polling_interval_ms;

				s->next_due_ms = now + iv;
				skip(c, s, cl);
				continue;
			}
			s->skip_seen = false;
			cl->due[cl->n_due] = i;
			ls_controller_query_for(s->cfg, &cl->queries[cl->n_due]);
			cl->n_due++;
		}
		if (cl->n_due == 0)
			continue;
		cl->timeout_ms = collect_timeout(c, cl);
		cl->started_ms = ls_clock_mono_ms();
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
			/* Writes of earlier rounds go on while Kafka answers. */
			if (c->act && ls_act_pending(c->act) > 0) {
				ls_act_poll(c->act, STOP_POLL_MS / 2);
				if (pthread_tryjoin_np(cl->thread, NULL) == 0) {
					cl->running = false;
					break;
				}
			} else if (pthread_timedjoin_np(cl->thread, NULL, &ts) == 0) {
				cl->running = false;
				break;
			}
			publish_if_wanted(c);
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
	c->batching = true;
	for (size_t ci = 0; ci < c->cfg->n_clusters; ci++) {
		struct cluster_rt *cl = &c->clusters[ci];

		if (cl->n_due)
			ls_metrics_cluster_observe_collect(
			    cl->metrics, (double)(cl->finished_ms - cl->started_ms) / 1000.0);
		for (size_t i = 0; i < cl->n_due; i++) {
			struct scaler_rt *s = &c->scalers[cl->due[i]];
			int64_t iv = s->cfg->policy.polling_interval_ms;

			s->next_due_ms = now + iv + iv * jitter / 1000;
			observe(c, s, &cl->snaps[i]);
			decide(c, cl->due[i], &cl->snaps[i]);
		}
		cl->n_due = 0;
	}
	c->batching = false;
	flush_decisions(c);
	return 0;
}

static bool reload_requested(const struct ls_controller *c)
{
	return c->opts.reload && *c->opts.reload;
}

/* A round finished: the metrics (when a scrape wants them) and /healthz
 * say so; /readyz too, once it is complete (update_ready). */
static void round_done(struct ls_controller *c)
{
	publish_if_wanted(c);
	/* Give back what the round's replies left free. The collector and
	 * librdkafka's threads allocate in arenas of their own, whose freed
	 * pages glibc otherwise keeps: 42 -> 34 MB RSS between rounds at
	 * 1,000 scalers, for well under a millisecond. */
	malloc_trim(0);
	c->round_seen = true;
	update_ready(c);
	if (c->opts.server)
		ls_metrics_server_tick(c->opts.server, ls_clock_mono_ms());
}

/*
 * Before the first round: the watches of the targets, listed once (as
 * client-go's WaitForCacheSync), so the first round knows its targets.
 * A watch that cannot list by then leaves its scalers' decisions in error
 * until it can. -EINTR when stop was set.
 */
static int watch_targets(struct ls_controller *c)
{
	int64_t end = ls_clock_mono_ms() + MAX_COLLECT_TIMEOUT_MS;
	int r;

	if (!c->act || c->synced)
		return 0;
	r = ls_act_watch(c->act, c->cfg);
	if (r < 0) {
		ls_log(LS_LOG_ERROR, NULL, "cannot watch the targets: %s", strerror(-r));
		return r;
	}
	while (ls_act_wait_synced(c->act, STOP_POLL_MS) < 0) {
		if (*c->opts.stop)
			return -EINTR;
		if (ls_clock_mono_ms() >= end) {
			ls_log(LS_LOG_WARN, NULL,
			       "the watches of the targets have not listed in %d s; going on",
			       MAX_COLLECT_TIMEOUT_MS / 1000);
			break;
		}
	}
	c->synced = true;
	return 0;
}

static int objects_apply(struct ls_controller *c, bool force, char *errbuf, size_t errlen);

/* Writes the LagScalers' statuses that are due (status.h); only the leader. */
static void status_flush(struct ls_controller *c)
{
	if (c->status)
		ls_status_flush(c->status, ls_controller_is_leader(c), ls_clock_mono_ms());
}

/* The LagScalers, when they changed: the set of scalers follows (at most
 * every wait of the loop, so a change takes effect within one interval). */
static void objects_poll(struct ls_controller *c)
{
	char err[512];

	if (!c->objects)
		return;
	if (!c->objects_synced) {
		/* The first round knows the LagScalers there are (or the
		 * watch failed: the CRD is not installed, and is logged). */
		if (ls_objects_start(c->objects) < 0) {
			ls_log(LS_LOG_ERROR, NULL, "cannot start watching LagScalers");
			ls_objects_free(c->objects);
			c->objects = NULL;
			return;
		}
		if (ls_objects_wait_synced(c->objects, MAX_COLLECT_TIMEOUT_MS) < 0)
			ls_log(LS_LOG_WARN, NULL,
			       "the LagScalers have not been listed in %d s; going on",
			       MAX_COLLECT_TIMEOUT_MS / 1000);
		c->objects_synced = true;
	}
	if (objects_apply(c, false, err, sizeof(err)) < 0)
		ls_log(LS_LOG_ERROR, NULL, "applying the LagScalers: %s; the running scalers stay",
		       err);
}

/* When the next round is due: the earliest scaler's time (INT64_MAX
 * with none), and shortly when one is overdue (a busy scaler joins the
 * first round after its target answers). */
static int64_t next_due(const struct ls_controller *c)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < c->cfg->n_scalers; i++)
		if (c->scalers[i].next_due_ms < next)
			next = c->scalers[i].next_due_ms;
	if (next <= ls_clock_mono_ms())
		next = ls_clock_mono_ms() + STOP_POLL_MS;
	return next;
}

/*
 * A scaler whose decision failed because its target's watch was stale (the
 * API server was away) is due again as soon as the watch is current, so
 * that it recovers within a polling interval of the server's return, not
 * after the watch's backoff and then a whole interval more. True when one
 * was made due. Looks only when the watches changed (cheap otherwise).
 */
static bool wake_recovered(struct ls_controller *c)
{
	uint64_t changes;
	int64_t now;
	bool any = false;

	if (!c->act)
		return false;
	changes = ls_act_changes(c->act);
	if (changes == c->act_changes)
		return false;
	c->act_changes = changes;
	now = ls_clock_mono_ms();
	for (size_t i = 0; i < c->cfg->n_scalers; i++) {
		struct scaler_rt *s = &c->scalers[i];

		if (!s->tgt.watch_failed || busy(s) || !ls_act_watch_current(c->act, s->cfg))
			continue;
		s->tgt.watch_failed = false;
		if (s->next_due_ms > now) {
			s->next_due_ms = now;
			any = true;
		}
	}
	return any;
}

static int run_loop(struct ls_controller *c)
{
	int r = watch_targets(c);

	if (r == -EINTR)
		return 0;
	if (r < 0)
		return r;
	while (!*c->opts.stop) {
		int64_t now, next;

		if (reload_requested(c))
			return LS_CONTROLLER_RELOAD;
		objects_poll(c);
		now = ls_clock_mono_ms();
		r = round_once(c, now);
		if (r == -EINTR)
			break;
		if (r < 0)
			return r;
		if (c->opts.once) {
			/* Every decision printed, every patch answered. */
			status_flush(c);
			if (c->act)
				ls_act_drain(c->act, 2 * LS_KUBE_TIMEOUT_MS);
			round_done(c);
			return c->any_error ? 1 : 0;
		}
		round_done(c);
		status_flush(c);
		next = next_due(c);
		while (!*c->opts.stop && !reload_requested(c) && ls_clock_mono_ms() < next) {
			int64_t wait = next - ls_clock_mono_ms();

			/* Something made scalers due sooner: look again. */
			bool sooner = leader_poll(c);

			publish_if_wanted(c);
			status_flush(c);
			/* LagScalers changed: their scalers are due at once (new
			 * ones) or keep their time (unchanged ones). */
			if (c->objects && ls_objects_changed(c->objects)) {
				objects_poll(c);
				sooner = true;
			}
			if (wake_recovered(c) || sooner) {
				next = next_due(c);
				continue;
			}
			idle(c, wait < STOP_POLL_MS ? wait : STOP_POLL_MS);
		}
	}
	return 0;
}

int ls_controller_run(struct ls_controller *c)
{
	const struct ls_config_leader *l = &c->cfg->leader;
	int r;

	if (c->leader && !c->leader_started) {
		r = ls_kube_leader_start(c->leader);
		if (r < 0)
			return r;
		c->leader_started = true;
		ls_log(LS_LOG_INFO, NULL, "leader election: lease \"%s/%s\", identity \"%s\"",
		       l->namespace_, l->lease_name, ls_kube_leader_identity(c->leader));
		/* A lone instance leads from its first round. */
		ls_kube_leader_wait_first(c->leader, l->renew_deadline_ms);
		leader_poll(c);
	}
	r = run_loop(c);
	if (r != LS_CONTROLLER_RELOAD && c->leader && c->leader_started) {
		/* Release the Lease now, so another instance takes over at
		 * once instead of after leaseDuration. */
		ls_kube_leader_stop(c->leader);
		if (c->leading)
			ls_log(LS_LOG_INFO, NULL, "released lease \"%s/%s\"", l->namespace_,
			       l->lease_name);
		c->leading = false;
		ls_controller_set_leader(c, false);
	}
	return r;
}

static int cmp_scaler_name(const void *a, const void *b)
{
	const struct ls_config_scaler *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/*
 * Reload. A scaler keeps its history (policy state, last snapshot, replica
 * count, schedule, metric series) only when nothing of it changed; any
 * change may alter what its history means, so it starts fresh. A Kafka
 * client is kept when its cluster's name, bootstrap servers and properties
 * are all the same, so unchanged clusters keep their connections.
 */
static int switch_config(struct ls_controller *c, const struct ls_config *cfg, char *errbuf,
			 size_t errlen)
{
	const struct ls_config *old = c->cfg;
	struct scaler_rt *scalers = calloc(cfg->n_scalers + 1, sizeof(*scalers));
	struct cluster_rt *clusters = calloc(cfg->n_clusters + 1, sizeof(*clusters));
	/* Index of the old scaler/cluster each new one takes over, or SIZE_MAX. */
	size_t *from_s = calloc(cfg->n_scalers + 1, sizeof(*from_s));
	size_t *from_c = calloc(cfg->n_clusters + 1, sizeof(*from_c));
	bool *kept_s = calloc(old->n_scalers + 1, sizeof(*kept_s));
	bool *kept_c = calloc(old->n_clusters + 1, sizeof(*kept_c));
	const struct ls_config_scaler **by_name = NULL;
	int64_t *next_round = calloc(cfg->n_clusters + 1, sizeof(*next_round));
	size_t n_kept = 0;
	int r = -ENOMEM;

	if (!scalers || !clusters || !from_s || !from_c || !kept_s || !kept_c || !next_round)
		goto fail;
	/* Phase 1: everything that can fail, the running state untouched. */
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		from_c[i] = SIZE_MAX;
		for (size_t j = 0; j < old->n_clusters && from_c[i] == SIZE_MAX; j++)
			/* A cluster without a client is tried again. */
			if (!kept_c[j] && !c->clusters[j].abandoned && c->clusters[j].kafka &&
			    ls_config_cluster_equal(&old->clusters[j], &cfg->clusters[i])) {
				from_c[i] = j;
				kept_c[j] = true;
			}
		r = cluster_arrays(&clusters[i], cfg, i);
		if (r < 0)
			goto fail;
		if (from_c[i] != SIZE_MAX)
			continue;
		r = cluster_client(&cfg->clusters[i], &clusters[i]);
		if (r < 0)
			goto fail;
	}
	/* Scaler names are unique: look each up among the old ones by name. */
	by_name = calloc(old->n_scalers + 1, sizeof(*by_name));
	if (!by_name)
		goto fail;
	for (size_t j = 0; j < old->n_scalers; j++)
		by_name[j] = &old->scalers[j];
	qsort(by_name, old->n_scalers, sizeof(*by_name), cmp_scaler_name);
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		const struct ls_config_scaler *key = &cfg->scalers[i];
		const struct ls_config_scaler **o =
		    bsearch(&key, by_name, old->n_scalers, sizeof(*by_name), cmp_scaler_name);
		size_t j = o ? (size_t)(*o - old->scalers) : SIZE_MAX;

		from_s[i] = SIZE_MAX;
		if (o && !kept_s[j] && ls_config_scaler_equal(*o, key)) {
			from_s[i] = j;
			kept_s[j] = true;
			n_kept++;
			continue;
		}
		r = scaler_init(c, &scalers[i], &cfg->scalers[i]);
		if (r < 0)
			goto fail;
	}

	/* Phase 2: cannot fail. What is on its way to the cluster ends first
	 * (the requests name scalers by their index in the old array). Then
	 * retire what is not carried over, so the series of a changed scaler
	 * are gone before its new ones exist (the same labels would otherwise
	 * name the same series). */
	if (c->act)
		ls_act_drain(c->act, LS_KUBE_TIMEOUT_MS);
	for (size_t j = 0; j < old->n_scalers; j++)
		if (!kept_s[j])
			scaler_release(&c->scalers[j]);
	for (size_t j = 0; j < old->n_clusters; j++)
		if (!kept_c[j])
			cluster_release(&c->clusters[j]);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		struct cluster_rt *cl = &clusters[i];

		if (from_c[i] != SIZE_MAX) {
			struct cluster_rt *o = &c->clusters[from_c[i]];

			cl->kafka = o->kafka;
			cl->metrics = o->metrics;
			cluster_free_arrays(o);
		} else {
			cluster_metrics(c, cl, cfg->clusters[i].name);
		}
	}
	for (size_t i = 0; i < cfg->n_clusters; i++)
		next_round[i] = INT64_MAX;
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		struct scaler_rt *s = &scalers[i];
		size_t ci = cfg->scalers[i].cluster_index;

		if (from_s[i] != SIZE_MAX) {
			*s = c->scalers[from_s[i]];
			s->cfg = &cfg->scalers[i];
			if (s->next_due_ms < next_round[ci])
				next_round[ci] = s->next_due_ms;
		} else {
			scaler_metrics(c, s);
		}
	}
	/* New and changed scalers join their cluster's next round instead of
	 * making rounds of their own. */
	for (size_t i = 0; i < cfg->n_scalers; i++)
		if (from_s[i] == SIZE_MAX && next_round[cfg->scalers[i].cluster_index] != INT64_MAX)
			scalers[i].next_due_ms = next_round[cfg->scalers[i].cluster_index];
	free(c->scalers);
	free(c->clusters);
	c->scalers = scalers;
	c->clusters = clusters;
	c->cfg = cfg;
	c->synced = false; /* the next run watches the new targets */
	c->n_undecided = 0;
	for (size_t i = 0; i < cfg->n_scalers; i++)
		c->n_undecided += !scalers[i].decided;
	ls_metrics_app_set_partition_series(c->metrics, cfg->metrics_partition_series,
					    LS_METRICS_PARTITION_SERIES_CAP);
	metadata_age(c);
	health_limit(c);
	publish(c);
	for (size_t i = 0; i < cfg->n_clusters; i++)
		cluster_report(c, i);
	ls_log(LS_LOG_DEBUG, NULL, "reload: %zu scaler%s kept, %zu new or changed", n_kept,
	       n_kept == 1 ? "" : "s", cfg->n_scalers - n_kept);
	r = 0;
	goto out;
fail:
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	for (size_t i = 0; clusters && i < cfg->n_clusters; i++)
		cluster_release(&clusters[i]); /* only what phase 1 made: kafka is NULL when kept */
	for (size_t i = 0; scalers && i < cfg->n_scalers; i++)
		scaler_release(&scalers[i]);
	free(scalers);
	free(clusters);
out:
	free(from_s);
	free(from_c);
	free(kept_s);
	free(kept_c);
	free(by_name);
	free(next_round);
	return r;
}

/*
 * The scalers of the file and of the LagScaler objects as one set: when
 * the objects changed (or force: the file did), the set is composed anew
 * (ls_config_compose: the one-owner rule across both) and switched to as a
 * reload does, so that unchanged scalers keep their history and removed
 * ones stop, leaving their targets' replicas as they are. The objects'
 * statuses follow. 0, or a negative errno with errbuf saying why (the
 * running set then stays).
 */
static int objects_apply(struct ls_controller *c, bool force, char *errbuf, size_t errlen)
{
	struct ls_config *next = NULL, *old = c->composed;
	size_t n;
	int r;

	if (!c->objects || !c->file_cfg->lag_scalers) {
		if (!force)
			return 0;
		r = switch_config(c, c->file_cfg, errbuf, errlen);
		if (r == 0) {
			c->composed = NULL;
			ls_config_free(old);
		}
		return r;
	}
	if (!force && !ls_objects_changed(c->objects))
		return 0;
	/* On failure the objects are the last refresh's, parsed against the
	 * previous configuration: nothing changes. */
	r = ls_objects_refresh(c->objects, c->file_cfg);
	if (r < 0)
		snprintf(errbuf, errlen, "out of memory");
	if (r < 0 || (r == 0 && !force))
		return r;
	r = ls_objects_compose(c->objects, c->file_cfg, &next);
	if (r == 0)
		r = switch_config(c, next, errbuf, errlen);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(errbuf, errlen, "out of memory");
		ls_config_free(next);
		return r;
	}
	c->composed = next;
	ls_config_free(old);
	n = ls_objects_count(c->objects);
	if (c->status && ls_status_sync(c->status, n ? ls_objects_at(c->objects, 0) : NULL, n) < 0)
		ls_log(LS_LOG_DEBUG, NULL, "no memory to follow the LagScalers' status");
	/* The new scalers' targets are watched before they decide; a watch
	 * that fails (a namespace lagscale may not read) is not waited for:
	 * its scalers' decisions say why. */
	if (ls_act_watch(c->act, c->cfg) < 0)
		ls_log(LS_LOG_ERROR, NULL, "cannot watch the targets");
	else
		ls_act_wait_settled(c->act, MAX_COLLECT_TIMEOUT_MS);
	c->synced = true;
	return 0;
}

int ls_controller_reload(struct ls_controller *c, const struct ls_config *cfg, char *errbuf,
			 size_t errlen)
{
	const struct ls_config *old = c->file_cfg;
	int r;

	c->file_cfg = cfg;
	r = objects_apply(c, true, errbuf, errlen);
	if (r < 0)
		c->file_cfg = old;
	return r;
}
