/* status.c - see status.h. */
#include "controller/status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

/* The interval of an object that has no scaler (its spec cannot be used). */
#define DEFAULT_INTERVAL_MS 15000

enum { C_READY, C_ACTIVE, C_FALLBACK, C_PAUSED, N_COND };
static const char *const cond_types[N_COND] = {"Ready", "Active", "Fallback", "Paused"};

enum { S_UNKNOWN, S_TRUE, S_FALSE };
static const char *const cond_status[] = {"Unknown", "True", "False"};

struct cond {
	int status;
	char reason[48];
	char *message;
	int64_t since_ms; /* lastTransitionTime, wall ms */
};

struct entry {
	char *key; /* "NAMESPACE/NAME" */
	char *namespace_;
	char *name;
	char uid[64];
	int64_t generation;
	/* The last decision. */
	bool decided;
	int32_t current, recommended, desired, partitions;
	int64_t total_lag;
	double lag_seconds;
	char *reason;
	int64_t last_scale_ms; /* 0: never */
	struct cond c[N_COND];
	int64_t interval_ms;
	/* Writing. */
	bool dirty;    /* may differ from written */
	char *written; /* the body last written (or on its way) */
	bool in_flight;
	bool gone;            /* forgotten while a write was on its way: freed by its callback */
	int64_t last_send_ms; /* mono */
	char last_err[256];   /* the last failure logged */
	/* Events. */
	char *evented; /* Ready's message the last Event said, while Ready is False */
	bool event_due;
};

struct ls_status {
	struct ls_status_sink sink;
	struct entry **v; /* by key */
	size_t n;
	struct ls_status_stats st;
};

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->namespace_);
	free(e->name);
	free(e->reason);
	for (int i = 0; i < N_COND; i++)
		free(e->c[i].message);
	free(e->written);
	free(e->evented);
	free(e);
}

/* An entry on its way to be forgotten: freed now, or by its write's callback. */
static void entry_drop(struct entry *e)
{
	if (e->in_flight)
		e->gone = true;
	else
		entry_free(e);
}

void ls_status_patch_done(struct ls_status *st, void *tag, int err, const char *errmsg)
{
	struct entry *e = tag;

	e->in_flight = false;
	if (e->gone) {
		entry_free(e);
		return;
	}
	if (err == 0) {
		if (e->last_err[0])
			ls_log(LS_LOG_INFO, e->key, "writing the LagScaler's status works again");
		e->last_err[0] = '\0';
		return;
	}
	/* Not written: the next flush tries again. */
	free(e->written);
	e->written = NULL;
	e->dirty = true;
	if (err == -ECANCELED)
		return;
	st->st.failures++;
	if (strncmp(e->last_err, errmsg, sizeof(e->last_err) - 1) != 0) {
		snprintf(e->last_err, sizeof(e->last_err), "%.255s", errmsg);
		ls_log(LS_LOG_WARN, e->key, "writing the LagScaler's status failed: %s", errmsg);
	}
}

int ls_status_new(const struct ls_status_sink *sink, struct ls_status **ret)
{
	struct ls_status *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->sink = *sink;
	*ret = st;
	return 0;
}

void ls_status_free(struct ls_status *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		entry_free(st->v[i]);
	free(st->v);
	free(st);
}

void ls_status_stats(const struct ls_status *st, struct ls_status_stats *ret)
{
	*ret = st->st;
}

static int cmp_key(const void *a, const void *b)
{
	const char *k = a;
	const struct entry *const *e = b;

	return strcmp(k, (*e)->key);
}

static struct entry *find(const struct ls_status *st, const char *key)
{
	struct entry **e = st->n ? bsearch(key, st->v, st->n, sizeof(*st->v), cmp_key) : NULL;

	return e ? *e : NULL;
}

/* A condition's message at most this long (metav1.Condition allows 32 KiB;
 * a spec's every problem joined could come near). */
#define MESSAGE_MAX 4096

/* msg, cut at MESSAGE_MAX bytes (at a UTF-8 boundary, with "..."). */
static char *message_dup(const char *msg)
{
	size_t n = strlen(msg);
	char *m;

	if (n <= MESSAGE_MAX)
		return strdup(msg);
	n = MESSAGE_MAX - 3;
	while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
		n--;
	m = malloc(n + 4);
	if (!m)
		return NULL;
	memcpy(m, msg, n);
	memcpy(m + n, "...", 4);
	return m;
}

/* Sets condition i; marks the entry dirty when anything changed. */
static void set_cond(struct entry *e, int i, int status, const char *reason, const char *msg,
                     int64_t now_wall_ms)
{
	struct cond *c = &e->c[i];
	char *m;

	if (!msg)
		msg = "";
	m = message_dup(msg);
	if (!m)
		return; /* the old message stays: written again when memory allows */
	if (c->status == status && strcmp(c->reason, reason) == 0 && c->message &&
	    strcmp(c->message, m) == 0) {
		free(m);
		return;
	}
	if (c->status != status || !c->since_ms)
		c->since_ms = now_wall_ms;
	c->status = status;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	free(c->message);
	c->message = m;
	e->dirty = true;
	if (i != C_READY)
		return;
	/* An Event per distinct reason to be not Ready. */
	if (status == S_FALSE && (!e->evented || strcmp(e->evented, m) != 0)) {
		e->event_due = true;
	} else if (status != S_FALSE) {
		free(e->evented);
		e->evented = NULL;
		e->event_due = false;
	}
}

/* The conditions and lastScaleTime of a status the object already had. */
static void seed(struct entry *e, const char *status_json)
{
	cJSON *j = status_json ? cJSON_Parse(status_json) : NULL;
	const cJSON *conds = cJSON_GetObjectItemCaseSensitive(j, "conditions"), *it;
	const cJSON *none = NULL;
	const cJSON *lst = cJSON_GetObjectItemCaseSensitive(j, "lastScaleTime");
	int64_t ms;

	if (cJSON_IsString(lst) && ls_clock_parse_rfc3339(lst->valuestring, &ms) == 0)
		e->last_scale_ms = ms;
	cJSON_ArrayForEach(it, (cJSON_IsArray(conds) ? conds : none))
	{
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(it, "status");
		const cJSON *since = cJSON_GetObjectItemCaseSensitive(it, "lastTransitionTime");

		for (int i = 0; i < N_COND; i++) {
			if (!cJSON_IsString(type) ||
			    strcmp(type->valuestring, cond_types[i]) != 0 ||
			    !cJSON_IsString(status) || !cJSON_IsString(since) ||
			    ls_clock_parse_rfc3339(since->valuestring, &ms) < 0)
				continue;
			for (int s = 0; s < 3; s++)
				if (strcmp(status->valuestring, cond_status[s]) == 0) {
					/* The status and its time only: the reason and
					 * message are this run's. */
					e->c[i].status = s;
					e->c[i].since_ms = ms;
				}
		}
	}
	cJSON_Delete(j);
}

static struct entry *entry_new(const struct ls_object *x, int64_t now_wall_ms)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->key = strdup(x->key);
	e->namespace_ = strdup(x->namespace_);
	e->name = strdup(x->name);
	if (!e->key || !e->namespace_ || !e->name) {
		entry_free(e);
		return NULL;
	}
	e->interval_ms = DEFAULT_INTERVAL_MS;
	e->lag_seconds = -1;
	seed(e, x->status_json);
	/* A condition the object had keeps its status and time until the
	 * first decision says otherwise; the others are Unknown. */
	for (int i = 0; i < N_COND; i++)
		if (!e->c[i].since_ms)
			set_cond(e, i, S_UNKNOWN, "Pending", "no decision yet", now_wall_ms);
	return e;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

int ls_status_sync(struct ls_status *st, const struct ls_object *objs, size_t n)
{
	struct entry **v = calloc(n + 1, sizeof(*v));
	int64_t now = ls_clock_wall_ms();

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ls_object *x = &objs[i];
		struct entry *e = find(st, x->key);

		if (e && strcmp(e->uid, x->uid) != 0) {
			/* Deleted and created again: another object. */
			e = NULL;
		}
		if (!e && !(e = entry_new(x, now))) {
			for (size_t j = 0; j < i; j++)
				if (!find(st, v[j]->key))
					entry_free(v[j]);
			free(v);
			return -ENOMEM;
		}
		snprintf(e->uid, sizeof(e->uid), "%s", x->uid);
		if (e->generation != x->generation)
			e->dirty = true;
		e->generation = x->generation;
		if (x->scaler)
			e->interval_ms = x->scaler->policy.polling_interval_ms;
		v[i] = e;
		if (!x->scaler)
			set_cond(e, C_READY, S_FALSE, "InvalidSpec", x->error, now);
		else if (x->conflict)
			set_cond(e, C_READY, S_FALSE, "TargetConflict", x->conflict, now);
		else if (e->c[C_READY].status == S_FALSE &&
		         (strcmp(e->c[C_READY].reason, "InvalidSpec") == 0 ||
		          strcmp(e->c[C_READY].reason, "TargetConflict") == 0))
			/* Fixed: Pending until the scaler decides. */
			set_cond(e, C_READY, S_UNKNOWN, "Pending", "no decision yet", now);
	}
	/* Forget the entries of objects that are gone. */
	qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < st->n; i++) {
		struct entry *e = st->v[i];

		struct entry **kept = bsearch(e->key, v, n, sizeof(*v), cmp_key);

		if (!kept || *kept != e)
			entry_drop(e);
	}
	free(st->v);
	st->v = v;
	st->n = n;
	return 0;
}

void ls_status_decided(struct ls_status *st, const char *key, const struct ls_decision *d,
                       const struct ls_status_outcome *o, int64_t now_wall_ms)
{
	struct entry *e = find(st, key);
	char *reason;

	if (!e)
		return;
	if (o->polling_ms > 0)
		e->interval_ms = o->polling_ms;
	if (o->fail_reason) {
		set_cond(e, C_READY, S_FALSE, o->fail_reason, o->fail_msg ? o->fail_msg : d->reason,
		         now_wall_ms);
	} else {
		set_cond(e, C_READY, S_TRUE, "Decided", d->reason, now_wall_ms);
	}
	/* What a decision does not know (the lag when its read failed; the
	 * target, fallback and pause when the target could not be read) is
	 * left as it was. */
	if (d->total_lag >= 0)
		set_cond(e, C_ACTIVE, d->active ? S_TRUE : S_FALSE,
		         d->active ? "LagAboveActivation" : "LagBelowActivation",
		         d->active ? "the lag is above activationLagThreshold"
		                   : "the lag is at or below activationLagThreshold",
		         now_wall_ms);
	if (d->action == LS_ACTION_ERROR)
		goto reason;
	set_cond(e, C_FALLBACK, d->fallback ? S_TRUE : S_FALSE,
	         d->fallback ? "FallbackActive" : "NoFallback",
	         d->fallback ? d->reason : "the fallback is not active", now_wall_ms);
	set_cond(e, C_PAUSED, o->paused ? S_TRUE : S_FALSE,
	         o->paused ? "PausedByAnnotation" : "NotPaused",
	         o->paused ? "the target has the annotation " LS_KUBE_PAUSED_ANNOTATION
	                     " or " LS_KUBE_PAUSED_REPLICAS_ANNOTATION
	                   : "the target is not paused",
	         now_wall_ms);
reason:
	if (!e->decided || e->current != d->current_replicas ||
	    e->recommended != d->recommended_replicas || e->desired != d->desired_replicas ||
	    e->total_lag != d->total_lag || e->partitions != d->partition_count ||
	    !(e->lag_seconds == o->lag_seconds || fabs(e->lag_seconds - o->lag_seconds) < 0.05))
		e->dirty = true;
	e->decided = true;
	e->current = d->current_replicas;
	e->recommended = d->recommended_replicas;
	e->desired = d->desired_replicas;
	e->total_lag = d->total_lag;
	e->partitions = d->partition_count;
	e->lag_seconds = o->lag_seconds;
	if (!e->reason || strcmp(e->reason, d->reason) != 0) {
		reason = strdup(d->reason);
		if (reason) {
			free(e->reason);
			e->reason = reason;
			e->dirty = true;
		}
	}
}

void ls_status_scaled(struct ls_status *st, const char *key, int64_t now_wall_ms)
{
	struct entry *e = find(st, key);

	if (!e)
		return;
	e->last_scale_ms = now_wall_ms;
	e->dirty = true;
}

/* Appends "KEY":VALUE, VALUE an integer, or null when unknown (< 0). */
static void int_field(struct ls_buf *b, const char *key, int64_t v)
{
	if (v >= 0)
		ls_buf_printf(b, ",\"%s\":%lld", key, (long long)v);
	else
		ls_buf_printf(b, ",\"%s\":null", key);
}

/* The merge patch of e's status; NULL without memory. */
static char *body_of(const struct entry *e)
{
	struct ls_buf b;
	char ts[40];

	ls_buf_init(&b, 0);
	ls_buf_printf(&b, "{\"status\":{\"observedGeneration\":%lld", (long long)e->generation);
	if (e->decided) {
		int_field(&b, "currentReplicas", e->current);
		int_field(&b, "recommendedReplicas", e->recommended);
		int_field(&b, "desiredReplicas", e->desired);
		int_field(&b, "totalLag", e->total_lag);
		int_field(&b, "partitionCount", e->partitions);
		/* One decimal: a lag age that moves by milliseconds is not a change. */
		if (e->lag_seconds >= 0 && e->total_lag >= 0)
			ls_buf_printf(&b, ",\"lagSeconds\":%.1f", e->lag_seconds);
		else
			ls_buf_puts(&b, ",\"lagSeconds\":null");
		ls_buf_puts(&b, ",\"reason\":");
		ls_buf_json_string(&b, e->reason ? e->reason : "");
	}
	if (e->last_scale_ms)
		ls_buf_printf(&b, ",\"lastScaleTime\":\"%s\"",
		              ls_clock_rfc3339(e->last_scale_ms, ts, sizeof(ts)));
	ls_buf_puts(&b, ",\"conditions\":[");
	for (int i = 0; i < N_COND; i++) {
		const struct cond *c = &e->c[i];

		/* A condition seeded from the object and not decided yet. */
		ls_buf_printf(&b,
		              "%s{\"type\":\"%s\",\"status\":\"%s\",\"reason\":\"%s\",\"message\":",
		              i ? "," : "", cond_types[i], cond_status[c->status],
		              c->reason[0] ? c->reason : "Pending");
		ls_buf_json_string(&b, c->message ? c->message : "no decision yet");
		ls_buf_printf(&b, ",\"lastTransitionTime\":\"%s\",\"observedGeneration\":%lld}",
		              ls_clock_rfc3339(c->since_ms, ts, sizeof(ts)),
		              (long long)e->generation);
	}
	if (ls_buf_puts(&b, "]}}") < 0) {
		ls_buf_release(&b);
		return NULL;
	}
	return ls_buf_steal(&b);
}

static struct ls_kube_target lagscaler(const struct entry *e)
{
	struct ls_kube_target t = {LS_OBJECTS_API_VERSION, LS_OBJECTS_KIND, e->namespace_, e->name};

	return t;
}

/* Records the Event due for e: Ready is False with a message not said yet. */
static void send_event(struct ls_status *st, struct entry *e)
{
	const struct cond *c = &e->c[C_READY];
	struct ls_kube_target t = lagscaler(e);
	char *said = strdup(c->message ? c->message : "");

	if (!said)
		return;
	st->sink.event(st->sink.ud, &t, e->uid, c->reason, c->message ? c->message : "", e->key);
	st->st.events++;
	free(e->evented);
	e->evented = said;
	e->event_due = false;
}

void ls_status_flush(struct ls_status *st, bool may_write, int64_t now_mono_ms)
{
	if (!may_write)
		return;
	for (size_t i = 0; i < st->n; i++) {
		struct entry *e = st->v[i];
		struct ls_kube_target t;
		char *body, *path = NULL;
		int r;

		if (e->event_due)
			send_event(st, e);
		if (!e->dirty || e->in_flight)
			continue;
		/* Nothing to say before the first decision, unless the object
		 * cannot run: the first write is the decision's, at once. */
		if (!e->decided && e->c[C_READY].status != S_FALSE)
			continue;
		/* At most once per interval (the first write at once). */
		if (e->last_send_ms && now_mono_ms - e->last_send_ms < e->interval_ms)
			continue;
		body = body_of(e);
		if (!body)
			continue;
		e->dirty = false;
		if (e->written && strcmp(e->written, body) == 0) {
			free(body);
			continue;
		}
		t = lagscaler(e);
		r = ls_kube_object_path(LS_OBJECTS_API_VERSION, LS_OBJECTS_RESOURCE, e->namespace_,
		                        e->name, "/status", &path);
		if (r == 0)
			r = st->sink.patch(st->sink.ud, &t, path, body, e);
		free(path);
		if (r < 0) {
			free(body);
			e->dirty = true;
			continue;
		}
		free(e->written);
		e->written = body;
		e->in_flight = true;
		e->last_send_ms = now_mono_ms;
		st->st.writes++;
	}
}
