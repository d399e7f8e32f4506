/* event.c - events.k8s.io/v1 Events, repeats aggregated into a series. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kube/kube-internal.h"
#include "util/buf.h"
#include "util/clock.h"

struct rec_entry {
	char *key;
	char *name;
	char *namespace_;
	int32_t count;
	int64_t last_mono_ms;
};

struct ls_kube_recorder {
	char *controller;
	char *instance;
	struct rec_entry *v;
	size_t n;
	uint32_t seq;
};

int ls_kube_recorder_new(const char *controller, const char *instance,
                         struct ls_kube_recorder **ret)
{
	struct ls_kube_recorder *rec = calloc(1, sizeof(*rec));

	if (!rec)
		return -ENOMEM;
	rec->controller = strdup(controller);
	/* reportingInstance is limited to 128 characters. */
	rec->instance = strndup(instance, 128);
	if (!rec->controller || !rec->instance) {
		ls_kube_recorder_free(rec);
		return -ENOMEM;
	}
	*ret = rec;
	return 0;
}

static void entry_release(struct rec_entry *e)
{
	free(e->key);
	free(e->name);
	free(e->namespace_);
}

static void entry_remove(struct ls_kube_recorder *rec, size_t i)
{
	entry_release(&rec->v[i]);
	memmove(&rec->v[i], &rec->v[i + 1], (rec->n - i - 1) * sizeof(*rec->v));
	rec->n--;
}

void ls_kube_recorder_free(struct ls_kube_recorder *rec)
{
	if (!rec)
		return;
	for (size_t i = 0; i < rec->n; i++)
		entry_release(&rec->v[i]);
	free(rec->v);
	free(rec->controller);
	free(rec->instance);
	free(rec);
}

/* The length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	/* Step back over continuation bytes (10xxxxxx) to a sequence start. */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

int ls_kube_event_key(const struct ls_kube_event *ev, char **ret)
{
	const struct ls_kube_target *t = ev->regarding;
	struct ls_buf b;
	const char *note = ev->note ? ev->note : "";
	int r;

	/* Unit separators keep "a"+"bc" apart from "ab"+"c". */
	ls_buf_init(&b, 0);
	r = ls_buf_printf(&b, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f", t->api_version, t->kind,
	                  t->namespace_ ? t->namespace_ : "", t->name, ev->type ? ev->type : "",
	                  ev->reason ? ev->reason : "");
	if (r == 0)
		r = ls_buf_append(&b, note, utf8_cut(note, LS_KUBE_NOTE_MAX));
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	*ret = ls_buf_steal(&b);
	return 0;
}

static const char *event_namespace(const struct ls_kube_event *ev)
{
	const char *ns = ev->regarding->namespace_;

	return ns && ns[0] ? ns : "default";
}

static int events_path(const char *ns, const char *name, bool dry_run, char **ret)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_buf_printf(&b, "/apis/events.k8s.io/v1/namespaces/%s/events%s%s%s", ns,
	                  name ? "/" : "", name ? name : "", dry_run ? "?dryRun=All" : "");
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	*ret = ls_buf_steal(&b);
	return 0;
}

/* Appends to the body, remembering a failure (only -ENOMEM: no cap). */
static void raw(struct ls_buf *b, bool *bad, const char *s)
{
	if (ls_buf_puts(b, s) < 0)
		*bad = true;
}

static void str(struct ls_buf *b, bool *bad, const char *s)
{
	if (ls_buf_json_string(b, s) < 0)
		*bad = true;
}

/* Makes p a create of ev: a new name, the Event as JSON, the collection's path. */
static int plan_create(struct ls_kube_recorder *rec, const struct ls_kube_event *ev,
                       struct ls_kube_event_plan *p)
{
	const struct ls_kube_target *t = ev->regarding;
	const char *note = ev->note ? ev->note : "";
	struct ls_buf name, body;
	char ts[48], *cut = NULL, *path = NULL;
	bool bad = false;
	int r;

	ls_buf_init(&name, 0);
	ls_buf_init(&body, 0);
	/* Named as client-go names them: the object's name and a time stamp,
	 * here with a sequence number so two events of one millisecond differ. */
	r = ls_buf_printf(&name, "%.200s.%llx", t->name,
	                  (unsigned long long)p->now_wall_ms * 1000000ULL +
	                      (rec->seq++ % 1000000U));
	if (r < 0)
		goto out;
	ls_clock_rfc3339_micro(p->now_wall_ms, ts, sizeof(ts));
	cut = strndup(note, utf8_cut(note, LS_KUBE_NOTE_MAX));
	if (!cut) {
		r = -ENOMEM;
		goto out;
	}
	raw(&body, &bad,
	    "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\","
	    "\"metadata\":{\"name\":");
	str(&body, &bad, ls_buf_str(&name));
	raw(&body, &bad, ",\"namespace\":");
	str(&body, &bad, p->namespace_);
	raw(&body, &bad, "},\"eventTime\":");
	str(&body, &bad, ts);
	raw(&body, &bad, ",\"reportingController\":");
	str(&body, &bad, rec->controller);
	raw(&body, &bad, ",\"reportingInstance\":");
	str(&body, &bad, rec->instance);
	raw(&body, &bad, ",\"action\":");
	str(&body, &bad, ev->action ? ev->action : "Scale");
	raw(&body, &bad, ",\"reason\":");
	str(&body, &bad, ev->reason);
	raw(&body, &bad, ",\"type\":");
	str(&body, &bad, ev->type ? ev->type : "Normal");
	raw(&body, &bad, ",\"note\":");
	str(&body, &bad, cut);
	raw(&body, &bad, ",\"regarding\":{\"apiVersion\":");
	str(&body, &bad, t->api_version);
	raw(&body, &bad, ",\"kind\":");
	str(&body, &bad, t->kind);
	if (t->namespace_ && t->namespace_[0]) {
		raw(&body, &bad, ",\"namespace\":");
		str(&body, &bad, t->namespace_);
	}
	raw(&body, &bad, ",\"name\":");
	str(&body, &bad, t->name);
	if (ev->regarding_uid && ev->regarding_uid[0]) {
		raw(&body, &bad, ",\"uid\":");
		str(&body, &bad, ev->regarding_uid);
	}
	raw(&body, &bad, "}}");
	r = bad ? -ENOMEM : events_path(p->namespace_, NULL, p->dry_run, &path);
	if (r < 0)
		goto out;
	/* p changes only now, whole: it may have been a series patch. */
	free(p->path);
	free(p->body);
	free(p->name);
	p->path = path;
	p->body = ls_buf_steal(&body);
	p->name = ls_buf_steal(&name);
	p->patch = false;
	p->count = 1;
	p->call = (struct ls_kube_call){.method = "POST", .path = p->path, .body = p->body};
out:
	free(cut);
	ls_buf_release(&name);
	ls_buf_release(&body);
	return r;
}

/* Makes p a patch of the series of the Event e, to count. */
static int plan_patch(const struct rec_entry *e, int32_t count, struct ls_kube_event_plan *p)
{
	struct ls_buf body;
	char ts[48];
	int r;

	ls_clock_rfc3339_micro(p->now_wall_ms, ts, sizeof(ts));
	ls_buf_init(&body, 0);
	r = ls_buf_printf(&body, "{\"series\":{\"count\":%d,\"lastObservedTime\":\"%s\"}}",
	                  count, ts);
	if (r < 0) {
		ls_buf_release(&body);
		return r;
	}
	p->body = ls_buf_steal(&body);
	if (!(p->name = strdup(e->name)))
		return -ENOMEM;
	r = events_path(e->namespace_, e->name, false, &p->path);
	if (r < 0)
		return r;
	p->patch = true;
	p->count = count;
	p->call = (struct ls_kube_call){
	    .method = "PATCH",
	    .path = p->path,
	    .body = p->body,
	    .content_type = "application/merge-patch+json",
	};
	return 0;
}

/* The entry of key (of the Event name, when not NULL), or -1. */
static ssize_t find_entry(const struct ls_kube_recorder *rec, const char *key, const char *name)
{
	for (size_t i = 0; i < rec->n; i++)
		if (strcmp(rec->v[i].key, key) == 0 && (!name || strcmp(rec->v[i].name, name) == 0))
			return (ssize_t)i;
	return -1;
}

/* Takes key and name (freed on failure too). */
static int remember(struct ls_kube_recorder *rec, char *key, char *name, const char *ns,
                    int64_t now_mono_ms)
{
	struct rec_entry e = {key, name, strdup(ns), 1, now_mono_ms};
	ssize_t old;

	if (!e.namespace_) {
		free(key);
		free(name);
		return -ENOMEM;
	}
	/* A series of the key started meanwhile (only if the two paths raced
	 * on one key): the newer Event carries it on. */
	if ((old = find_entry(rec, key, NULL)) >= 0)
		entry_remove(rec, (size_t)old);
	if (rec->n >= LS_KUBE_RECORDER_MAX) {
		/* Forget the least recently seen. */
		size_t oldest = 0;

		for (size_t i = 1; i < rec->n; i++)
			if (rec->v[i].last_mono_ms < rec->v[oldest].last_mono_ms)
				oldest = i;
		entry_remove(rec, oldest);
	}
	if (rec->n % 16 == 0) {
		struct rec_entry *v = realloc(rec->v, (rec->n + 16) * sizeof(*v));

		if (!v) {
			entry_release(&e);
			return -ENOMEM;
		}
		rec->v = v;
	}
	rec->v[rec->n++] = e;
	return 0;
}

void ls_kube_event_plan_release(struct ls_kube_event_plan *p)
{
	free(p->path);
	free(p->body);
	free(p->key);
	free(p->name);
	free(p->namespace_);
	memset(p, 0, sizeof(*p));
}

int ls_kube_event_plan(struct ls_kube_recorder *rec, const struct ls_kube_event *ev,
                       int64_t now_wall_ms, int64_t now_mono_ms, bool dry_run,
                       struct ls_kube_event_plan *ret)
{
	struct ls_kube_event_plan p = {
	    .dry_run = dry_run,
	    .now_wall_ms = now_wall_ms,
	    .now_mono_ms = now_mono_ms,
	};
	int r;

	if (!ev->regarding || !ev->reason || !ev->regarding->name)
		return -EINVAL;
	if (!(p.namespace_ = strdup(event_namespace(ev)))) {
		r = -ENOMEM;
		goto fail;
	}
	/* A dry run remembers nothing, so it never patches a series. */
	if (dry_run) {
		if ((r = plan_create(rec, ev, &p)) < 0)
			goto fail;
		*ret = p;
		return 0;
	}
	if ((r = ls_kube_event_key(ev, &p.key)) < 0)
		goto fail;
	/* Series idle too long have ended; forget them. */
	for (size_t i = 0; i < rec->n;) {
		if (now_mono_ms - rec->v[i].last_mono_ms >= LS_KUBE_SERIES_IDLE_MS)
			entry_remove(rec, i);
		else
			i++;
	}
	{
		ssize_t i = find_entry(rec, p.key, NULL);

		r = i >= 0 ? plan_patch(&rec->v[i], rec->v[i].count + 1, &p)
		           : plan_create(rec, ev, &p);
		if (r < 0)
			goto fail;
	}
	*ret = p;
	return 0;
fail:
	ls_kube_event_plan_release(&p);
	return r;
}

int ls_kube_event_complete(struct ls_kube_recorder *rec, struct ls_kube_event_plan *p,
                           const struct ls_kube_event *ev, int r, bool *ret_again)
{
	ssize_t i;

	*ret_again = false;
	if (p->dry_run)
		return r;
	i = find_entry(rec, p->key, p->name);
	if (p->patch && r == 0) {
		/* Gone from the recorder meanwhile (forgotten as the least
		 * recent): the next repeat starts a new Event. */
		if (i >= 0) {
			struct rec_entry *e = &rec->v[i];

			if (e->count < p->count)
				e->count = p->count;
			if (e->last_mono_ms < p->now_mono_ms)
				e->last_mono_ms = p->now_mono_ms;
		}
		return 0;
	}
	if (p->patch && r == -ENOENT) {
		/* Deleted meanwhile (Events expire after an hour): start anew. */
		if (i >= 0)
			entry_remove(rec, (size_t)i);
		r = plan_create(rec, ev, p);
		if (r < 0)
			return r;
		*ret_again = true;
		return 0;
	}
	if (p->patch || r < 0)
		return r;
	r = remember(rec, p->key, p->name, p->namespace_, p->now_mono_ms);
	p->key = NULL;
	p->name = NULL;
	return r;
}

int ls_kube_event_record(struct ls_kube_recorder *rec, struct ls_kube *k,
                         const struct ls_kube_event *ev, int64_t now_wall_ms, int64_t now_mono_ms,
                         bool dry_run)
{
	struct ls_kube_event_plan p;
	bool again;
	int r = ls_kube_event_plan(rec, ev, now_wall_ms, now_mono_ms, dry_run, &p);

	if (r < 0)
		return r;
	do {
		r = ls_kube_call(k, &p.call, NULL);
		r = ls_kube_event_complete(rec, &p, ev, r, &again);
	} while (again);
	ls_kube_event_plan_release(&p);
	return r;
}
