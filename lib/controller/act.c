/* act.c - see act.h. */
#include "controller/act.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/async.h"
#include "kube/kube.h"
#include "kube/watch.h"
#include "util/clock.h"
#include "util/log.h"

/* What a request's tag says besides the scaler: its kind, in the low bits. */
enum { TAG_READ = 0, TAG_WRITE = 1, TAG_EVENT = 2, TAG_PATCH = 3, TAG_BITS = 2 };

struct ls_act {
	bool dry_run;
	struct ls_act_callbacks cb;
	struct ls_kube *kube; /* discovery and credentials for the async client */
	struct ls_kube_async *async;
	struct ls_kube_informer *informer;
	struct ls_kube_recorder *events;
	char event_err[256]; /* the last failure to record an Event, as logged */
	ls_act_patch_cb patch_cb; /* ls_act_patch's results */
	void *patch_ud;
	size_t events_queued;  /* Events submitted and not yet called back */
	uint64_t events_dropped; /* over LS_ACT_EVENTS_QUEUED_MAX */
};

static void *tag_of(size_t idx, int kind)
{
	return (void *)(uintptr_t)((idx << TAG_BITS) | (size_t)kind);
}

const char *ls_act_target_name(const struct ls_config_scaler *sc, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/%s", sc->target.namespace_, sc->target.kind, sc->target.name);
	return out;
}

static struct ls_kube_target kube_target(const struct ls_config_scaler *sc)
{
	struct ls_kube_target t = {sc->target.api_version, sc->target.kind, sc->target.namespace_,
				   sc->target.name};

	return t;
}

#define NOTE_MAX 255

bool ls_act_note(char **slot, const char *msg)
{
	size_t n = strnlen(msg, NOTE_MAX);
	char *copy;

	if (*slot && strncmp(*slot, msg, n) == 0 && (*slot)[n] == '\0')
		return false;
	copy = malloc(n + 1);
	if (!copy)
		return true;
	memcpy(copy, msg, n);
	copy[n] = '\0';
	free(*slot);
	*slot = copy;
	return true;
}

bool ls_act_unnote(char **slot)
{
	bool had = *slot != NULL;

	free(*slot);
	*slot = NULL;
	return had;
}

void ls_act_target_release(struct ls_act_target *t)
{
	free(t->read_fail);
	free(t->read_err);
	free(t->write_err);
	memset(t, 0, sizeof(*t));
}

/* Keeps msg as the target's read error, logging it when it is new. */
static void read_failed(struct ls_act_target *t, const char *scaler, const char *what,
			const char *msg)
{
	if (ls_act_note(&t->read_err, msg))
		ls_log(LS_LOG_ERROR, scaler, "cannot read \"%s\": %s", what,
		       t->read_err ? t->read_err : msg);
}

/* A failed patch that may have been applied all the same: not one the
 * server refused (403, 404, 400/422, 409 Conflict), nor one never sent. */
static bool write_maybe_applied(const struct ls_kube_async_result *res)
{
	switch (res->err) {
	case -EACCES:
	case -ENOENT:
	case -EINVAL:
	case -ESTALE:
	case -ECANCELED:
	case -ENOKEY:
		return false;
	default:
		return res->attempts > 0;
	}
}

static void on_result(void *tag, const struct ls_kube_async_result *res, void *ud)
{
	struct ls_act *a = ud;
	size_t idx = (size_t)(uintptr_t)tag >> TAG_BITS;
	int kind = (int)((uintptr_t)tag & ((1u << TAG_BITS) - 1));
	struct ls_act_target *t;

	if (kind == TAG_PATCH) {
		/* The tag is the caller's pointer, whose low bits are free. */
		void *ptag = (void *)((uintptr_t)tag & ~(uintptr_t)((1u << TAG_BITS) - 1));

		if (a->patch_cb)
			a->patch_cb(a->patch_ud, ptag, res->err, res->errmsg);
		return;
	}
	if (kind == TAG_EVENT) {
		a->events_queued--;
		if (res->err == 0) {
			a->event_err[0] = '\0';
		} else if (strncmp(a->event_err, res->errmsg, sizeof(a->event_err) - 1) != 0) {
			snprintf(a->event_err, sizeof(a->event_err), "%.255s", res->errmsg);
			ls_log(LS_LOG_WARN, NULL, "recording an event failed: %s", a->event_err);
		}
		return;
	}
	if (!a->cb.target)
		return; /* being freed */
	t = a->cb.target(a->cb.ud, idx);
	if (kind == TAG_READ) {
		t->reading = false;
		if (res->err == 0) {
			t->replicas = res->replicas;
			t->have_replicas = true;
			t->generation = t->read_generation;
		} else {
			/* For ls_act_target to report, once. */
			ls_act_note(&t->read_fail, res->errmsg);
			t->read_fail_err = res->err;
			t->read_failed = true;
			t->have_replicas = false;
		}
		a->cb.read_done(a->cb.ud, idx);
		return;
	}
	t->writing = false;
	if (res->err == 0 && !a->dry_run) {
		t->replicas = res->replicas;
		snprintf(t->own_rv, sizeof(t->own_rv), "%s", res->resource_version);
	} else if (!a->dry_run && write_maybe_applied(res)) {
		/* The server may have applied the patch and lost the answer
		 * (a connection cut, a timeout, a 5xx): the count kept is not
		 * known to be right any more, so the next decision reads it
		 * instead of sending the same patch again. */
		t->have_replicas = false;
	}
	a->cb.write_done(a->cb.ud, idx, res->err, res->errmsg);
}

int ls_act_new(const struct ls_kube_config *kc, bool dry_run, volatile sig_atomic_t *stop,
	       const struct ls_act_callbacks *cb, struct ls_act **ret, char *errbuf,
	       size_t errlen)
{
	struct ls_act *a = calloc(1, sizeof(*a));
	struct ls_kube_options ko = {.stop = stop};
	struct ls_kube_informer_options io = {.stop = stop};
	const char *pod = getenv("POD_NAME");
	char instance[256] = "lagscale";
	int r = -ENOMEM;

	if (!a)
		goto oom;
	a->dry_run = dry_run;
	a->cb = *cb;
	r = ls_kube_new(kc, &ko, &a->kube);
	if (r == -EINVAL) {
		snprintf(errbuf, errlen, "Kubernetes: the server is not a URL");
		goto fail;
	}
	if (r < 0 || ls_kube_async_new(a->kube, 0, on_result, a, &a->async) < 0 ||
	    ls_kube_informer_new(kc, &io, &a->informer) < 0)
		goto oom;
	/* reportingInstance: the pod (downward API), else the host. */
	if (pod && pod[0])
		snprintf(instance, sizeof(instance), "%s", pod);
	else if (gethostname(instance, sizeof(instance)) < 0 || !instance[0])
		snprintf(instance, sizeof(instance), "lagscale");
	instance[sizeof(instance) - 1] = '\0';
	if (ls_kube_recorder_new("lagscale.io/lagscale", instance, &a->events) < 0)
		goto oom;
	*ret = a;
	return 0;
oom:
	r = -ENOMEM;
	snprintf(errbuf, errlen, "out of memory");
fail:
	ls_act_free(a);
	return r;
}

void ls_act_free(struct ls_act *a)
{
	if (!a)
		return;
	ls_kube_informer_free(a->informer);
	/* Cancelled requests call back: the records they name are gone. */
	a->cb.target = NULL;
	ls_kube_async_free(a->async);
	ls_kube_recorder_free(a->events);
	ls_kube_free(a->kube);
	free(a);
}

int ls_act_watch(struct ls_act *a, const struct ls_config *cfg)
{
	struct ls_kube_watch_key *keys = calloc(cfg->n_scalers + 1, sizeof(*keys));
	int64_t poll_ms = 0;
	size_t n = 0;
	int r = 0;

	if (!keys)
		return -ENOMEM;
	/* A watch that failed tries again at least once per shortest polling
	 * interval, so a server that comes back is noticed within one. */
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		int64_t p = cfg->scalers[i].policy.polling_interval_ms;

		if (p > 0 && (poll_ms == 0 || p < poll_ms))
			poll_ms = p;
	}
	ls_kube_informer_set_backoff_max(a->informer, poll_ms);
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		const struct ls_config_target *tg = &cfg->scalers[i].target;

		r = ls_kube_informer_add(a->informer, tg->api_version, tg->kind, tg->namespace_);
		if (r < 0)
			goto out;
		keys[n++] = (struct ls_kube_watch_key){tg->api_version, tg->kind, tg->namespace_};
	}
	ls_kube_informer_retain(a->informer, keys, n);
	r = ls_kube_informer_start(a->informer);
out:
	free(keys);
	return r;
}

int ls_act_wait_synced(struct ls_act *a, int64_t timeout_ms)
{
	return ls_kube_informer_wait_synced(a->informer, timeout_ms);
}

int ls_act_wait_settled(struct ls_act *a, int64_t timeout_ms)
{
	return ls_kube_informer_wait_settled(a->informer, timeout_ms);
}

int ls_act_target(struct ls_act *a, const struct ls_config_scaler *sc, size_t idx,
		  struct ls_act_target *t, int64_t stale_after_ms, struct ls_act_view *ret,
		  char *errmsg, size_t errlen)
{
	const struct ls_config_target *tg = &sc->target;
	struct ls_kube_target kt = kube_target(sc);
	struct ls_kube_object_meta m;
	int64_t stale_since = 0;
	char what[512], werr[384] = "";
	int r;

	ls_act_target_name(sc, what, sizeof(what));
	r = ls_kube_informer_get(a->informer, tg->api_version, tg->kind, tg->namespace_, tg->name,
				 &m, &stale_since, werr, sizeof(werr));
	if (r == -ENOENT) {
		char res[128];

		/* As the API would say it: deployments.apps "x" not found. */
		if (ls_kube_resource_name(a->kube, tg->api_version, tg->kind, res, sizeof(res)) < 0)
			snprintf(res, sizeof(res), "%s", tg->kind);
		snprintf(errmsg, errlen, "%s \"%s\" not found", res, tg->name);
		goto fail;
	}
	t->watch_failed = false;
	if (r < 0) {
		t->watch_failed = true;
		snprintf(errmsg, errlen, "the watch of %s (%s) in \"%s\" has not listed yet%s%s",
			 tg->kind, tg->api_version, tg->namespace_, werr[0] ? ": " : "", werr);
		goto fail;
	}
	if (stale_since && ls_clock_mono_ms() - stale_since > stale_after_ms) {
		t->watch_failed = true;
		snprintf(errmsg, errlen,
			 "the watch of %s (%s) in \"%s\" is stale for %lld s%s%s", tg->kind,
			 tg->api_version, tg->namespace_,
			 (long long)((ls_clock_mono_ms() - stale_since) / 1000), werr[0] ? ": " : "",
			 werr);
		goto fail;
	}
	snprintf(t->uid, sizeof(t->uid), "%s", m.uid);
	if (m.pause_error[0] && !t->pause_warned)
		ls_log(LS_LOG_WARN, sc->name, "\"%s\": %s; left alone as if paused", what,
		       m.pause_error);
	t->pause_warned = m.pause_error[0] != '\0';
	if (t->have_replicas && m.generation != t->generation && t->own_rv[0] &&
	    strcmp(m.resource_version, t->own_rv) == 0) {
		/* The change is lagscale's own patch: its answer said the count. */
		t->generation = m.generation;
		t->own_rv[0] = '\0';
	}
	if (!t->have_replicas || m.generation != t->generation) {
		if (t->reading)
			return 1;
		if (t->read_failed) {
			/* The read failed: this decision says so; the next
			 * one reads again. */
			t->read_failed = false;
			snprintf(errmsg, errlen, "%s",
				 t->read_fail ? t->read_fail : "reading /scale failed");
			ls_act_unnote(&t->read_fail);
			r = t->read_fail_err == -ENOENT ? -ENOENT : -EIO;
			goto fail;
		}
		t->read_generation = m.generation;
		r = ls_kube_async_scale_get(a->async, &kt, tag_of(idx, TAG_READ));
		if (r < 0) {
			snprintf(errmsg, errlen, "cannot start reading /scale: %s", strerror(-r));
			goto fail;
		}
		t->reading = true;
		return 1;
	}
	if (ls_act_unnote(&t->read_err))
		ls_log(LS_LOG_INFO, sc->name, "reading \"%s\" works again", what);
	ret->replicas = t->replicas;
	ret->paused = m.paused;
	ret->paused_replicas = m.paused_replicas;
	return 0;
fail:
	read_failed(t, sc->name, what, errmsg);
	return r < 0 ? r : -EIO;
}

uint64_t ls_act_changes(struct ls_act *a)
{
	return ls_kube_informer_changes(a->informer);
}

bool ls_act_watch_current(struct ls_act *a, const struct ls_config_scaler *sc)
{
	const struct ls_config_target *tg = &sc->target;
	struct ls_kube_object_meta m;
	int64_t stale_since = 0;
	int r = ls_kube_informer_get(a->informer, tg->api_version, tg->kind, tg->namespace_,
				     tg->name, &m, &stale_since, NULL, 0);

	return (r == 0 || r == -ENOENT) && stale_since == 0;
}

int ls_act_target_uid(struct ls_act *a, const struct ls_config_scaler *sc,
		      struct ls_act_target *t)
{
	const struct ls_config_target *tg = &sc->target;
	struct ls_kube_object_meta m;
	int64_t stale_since = 0;
	char werr[8];
	int r = ls_kube_informer_get(a->informer, tg->api_version, tg->kind, tg->namespace_,
				     tg->name, &m, &stale_since, werr, sizeof(werr));

	if (r < 0) {
		t->uid[0] = '\0';
		return -ENOENT;
	}
	snprintf(t->uid, sizeof(t->uid), "%s", m.uid);
	return 0;
}

int ls_act_scale(struct ls_act *a, const struct ls_config_scaler *sc, size_t idx,
		 struct ls_act_target *t, int32_t replicas)
{
	struct ls_kube_target kt = kube_target(sc);
	int r = ls_kube_async_scale_set(a->async, &kt, replicas, a->dry_run, tag_of(idx, TAG_WRITE));

	if (r == 0)
		t->writing = true;
	return r;
}

/* Sends an Event unless LS_ACT_EVENTS_QUEUED_MAX are on their way. */
static void submit_event(struct ls_act *a, const struct ls_kube_event *ev, const char *log_name)
{
	int r;

	if (a->events_queued >= LS_ACT_EVENTS_QUEUED_MAX) {
		/* Logged when the first is dropped, then every 1,000th. */
		if (a->events_dropped++ % 1000 == 0)
			ls_log(LS_LOG_WARN, log_name,
			       "%d Events on their way to the API server: event %s dropped "
			       "(%llu so far)",
			       LS_ACT_EVENTS_QUEUED_MAX, ev->reason,
			       (unsigned long long)a->events_dropped);
		return;
	}
	r = ls_kube_async_event(a->async, a->events, ev, ls_clock_wall_ms(), ls_clock_mono_ms(),
				a->dry_run, tag_of(0, TAG_EVENT));
	if (r == 0)
		a->events_queued++;
	if (r < 0 && r != -ECANCELED)
		ls_log(LS_LOG_WARN, log_name, "recording event %s failed: %s", ev->reason,
		       strerror(-r));
}

void ls_act_event(struct ls_act *a, const struct ls_config_scaler *sc, const struct ls_act_target *t,
		  const char *type, const char *reason, const char *action, const char *note)
{
	struct ls_kube_target kt = kube_target(sc);
	struct ls_kube_event ev = {&kt, t->uid[0] ? t->uid : NULL, type, reason, action, note};

	submit_event(a, &ev, sc->name);
}

void ls_act_event_on(struct ls_act *a, const struct ls_kube_target *regarding, const char *uid,
		     const char *type, const char *reason, const char *action, const char *note,
		     const char *log_name)
{
	struct ls_kube_event ev = {regarding, uid && uid[0] ? uid : NULL, type, reason, action, note};

	submit_event(a, &ev, log_name);
}

void ls_act_set_patch_cb(struct ls_act *a, ls_act_patch_cb cb, void *ud)
{
	a->patch_cb = cb;
	a->patch_ud = ud;
}

int ls_act_patch(struct ls_act *a, const struct ls_kube_target *t, const char *path,
		 const char *body, void *tag)
{
	if ((uintptr_t)tag & ((1u << TAG_BITS) - 1))
		return -EINVAL;
	return ls_kube_async_patch(a->async, t, path, body,
				   (void *)((uintptr_t)tag | (uintptr_t)TAG_PATCH));
}

uint64_t ls_act_events_dropped(const struct ls_act *a)
{
	struct ls_kube_async_stats st;

	if (!a)
		return 0;
	ls_kube_async_stats(a->async, &st);
	return a->events_dropped + st.events_dropped;
}

size_t ls_act_pending(const struct ls_act *a)
{
	return ls_kube_async_pending(a->async);
}

size_t ls_act_poll(struct ls_act *a, int64_t timeout_ms)
{
	return (size_t)ls_kube_async_poll(a->async, timeout_ms);
}

void ls_act_drain(struct ls_act *a, int64_t timeout_ms)
{
	int64_t end = ls_clock_mono_ms() + timeout_ms;

	while (ls_kube_async_pending(a->async) > 0 && ls_clock_mono_ms() < end)
		ls_kube_async_poll(a->async, end - ls_clock_mono_ms());
	if (ls_kube_async_pending(a->async) > 0) {
		/* Freeing cancels the rest, each with its callback. */
		struct ls_kube_async *fresh;

		if (ls_kube_async_new(a->kube, 0, on_result, a, &fresh) == 0) {
			ls_kube_async_free(a->async);
			a->async = fresh;
		}
	}
}
