/* objects.c - see objects.h. */
#include "controller/objects.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/watch.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/log.h"

#define POLL_MS 100

struct ls_objects {
	struct ls_kube_informer *inf;
	const struct ls_config *cfg; /* of the last refresh (compared, never read after) */
	uint64_t seen;               /* the informer's change counter at the last refresh */
	bool refreshed;
	struct ls_object *v;
	size_t n;
	size_t *by_key; /* indexes into v, in order of key */
	/* The namespace watches ("" for every namespace), copied, and the
	 * last failure logged of each (NULL: none). */
	char **ns;
	char **list_err;
	size_t n_ns;
};

/* The namespaces watched: cfg's, or "" for every namespace. */
static size_t watch_count(const struct ls_config *cfg)
{
	return cfg->n_watch_namespaces ? cfg->n_watch_namespaces : 1;
}

static const char *watch_ns(const struct ls_config *cfg, size_t i)
{
	return cfg->n_watch_namespaces ? cfg->watch_namespaces[i] : "";
}

static void ns_release(struct ls_objects *o)
{
	for (size_t i = 0; i < o->n_ns; i++) {
		free(o->list_err[i]);
		free(o->ns[i]);
	}
	/* One allocation: the errors, then the names. */
	free(o->list_err);
	o->list_err = o->ns = NULL;
	o->n_ns = 0;
}

/* Adds cfg's watches and ends the others. 0 or a negative errno. */
static int watch_set(struct ls_objects *o, const struct ls_config *cfg)
{
	size_t n = watch_count(cfg);
	struct ls_kube_watch_key *keys = calloc(n, sizeof(*keys));
	char **errs;
	int r = 0;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		keys[i] = (struct ls_kube_watch_key){LS_OBJECTS_API_VERSION, LS_OBJECTS_KIND,
		                                     watch_ns(cfg, i)};
		r = ls_kube_informer_add_flags(o->inf, LS_OBJECTS_API_VERSION, LS_OBJECTS_KIND,
		                               watch_ns(cfg, i),
		                               LS_KUBE_WATCH_OBJECTS | LS_KUBE_WATCH_ANY_KIND);
	}
	if (r == 0)
		ls_kube_informer_retain(o->inf, keys, n);
	free(keys);
	if (r < 0)
		return r;
	errs = calloc(2 * n, sizeof(*errs));
	if (!errs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(errs[n + i] = strdup(watch_ns(cfg, i)))) {
			for (size_t j = 0; j < i; j++)
				free(errs[n + j]);
			free(errs);
			return -ENOMEM;
		}
	ns_release(o);
	o->list_err = errs;
	o->ns = errs + n;
	o->n_ns = n;
	return 0;
}

int ls_objects_new(const struct ls_kube_config *kc, const struct ls_config *cfg,
                   volatile sig_atomic_t *stop, struct ls_objects **ret)
{
	struct ls_kube_informer_options io = {.stop = stop};
	struct ls_objects *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return -ENOMEM;
	r = ls_kube_informer_new(kc, &io, &o->inf);
	if (r == 0)
		r = watch_set(o, cfg);
	if (r < 0) {
		ls_objects_free(o);
		return r;
	}
	*ret = o;
	return 0;
}

static void object_release(struct ls_object *x)
{
	free(x->key);
	free(x->namespace_);
	free(x->name);
	free(x->created);
	ls_config_scaler_free(x->scaler);
	free(x->error);
	free(x->conflict);
	free(x->status_json);
	memset(x, 0, sizeof(*x));
}

static void objects_release(struct ls_object *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		object_release(&v[i]);
	free(v);
}

void ls_objects_free(struct ls_objects *o)
{
	if (!o)
		return;
	ls_kube_informer_free(o->inf);
	objects_release(o->v, o->n);
	free(o->by_key);
	ns_release(o);
	free(o);
}

/* A watch that failed before it listed (not merely one still listing). */
static bool list_failed(int r, const char *errmsg)
{
	return r == -EAGAIN && errmsg[0] && !strstr(errmsg, "has not listed its objects yet");
}

int ls_objects_start(struct ls_objects *o)
{
	return ls_kube_informer_start(o->inf);
}

int ls_objects_wait_synced(struct ls_objects *o, int64_t timeout_ms)
{
	int64_t end = ls_clock_mono_ms() + timeout_ms;

	for (;;) {
		bool done = true;

		for (size_t i = 0; i < o->n_ns && done; i++) {
			struct ls_kube_object *v = NULL;
			size_t n = 0;
			char err[512];
			int r =
			    ls_kube_informer_list(o->inf, LS_OBJECTS_API_VERSION, LS_OBJECTS_KIND,
			                          o->ns[i], &v, &n, NULL, err, sizeof(err));

			ls_kube_objects_free(v, n);
			done = r == 0 || list_failed(r, err);
		}
		if (done)
			return 0;
		if (ls_clock_mono_ms() >= end)
			return -ETIMEDOUT;
		ls_kube_informer_wait(o->inf, ls_kube_informer_changes(o->inf), POLL_MS);
	}
}

bool ls_objects_changed(struct ls_objects *o)
{
	return !o->refreshed || ls_kube_informer_changes(o->inf) != o->seen;
}

/* The string at obj.key as a heap copy ("" when absent); NULL without memory. */
static char *str_dup(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return strdup(cJSON_IsString(v) && v->valuestring ? v->valuestring : "");
}

/* Joins diag's messages with "; " into a heap string (NULL without memory). */
static char *join(const struct ls_diag *d)
{
	struct ls_buf b;

	ls_buf_init(&b, 0);
	for (size_t i = 0; i < d->n; i++)
		if (ls_buf_printf(&b, "%s%s", i ? "; " : "", d->msgs[i]) < 0) {
			ls_buf_release(&b);
			return NULL;
		}
	if (d->n == 0 && ls_buf_puts(&b, "the spec cannot be used") < 0) {
		ls_buf_release(&b);
		return NULL;
	}
	return ls_buf_steal(&b);
}

struct key_search {
	const struct ls_objects *o;
	const char *key;
};

static int cmp_key_search(const void *a, const void *b)
{
	const struct key_search *k = a;

	return strcmp(k->key, k->o->v[*(const size_t *)b].key);
}

/* The previous refresh's object of key at generation and uid, or NULL. */
static struct ls_object *previous(struct ls_objects *o, const char *key, int64_t generation,
                                  const char *uid)
{
	struct key_search k = {o, key};
	size_t *i =
	    o->by_key ? bsearch(&k, o->by_key, o->n, sizeof(*o->by_key), cmp_key_search) : NULL;
	struct ls_object *p = i ? &o->v[*i] : NULL;

	return p && p->generation == generation && strcmp(p->uid, uid) == 0 ? p : NULL;
}

static int cmp_by_key(const void *a, const void *b, void *ud)
{
	const struct ls_objects *o = ud;

	return strcmp(o->v[*(const size_t *)a].key, o->v[*(const size_t *)b].key);
}

/* The index by key of o->v (NULL without memory: nothing is reused then). */
static void index_keys(struct ls_objects *o)
{
	free(o->by_key);
	o->by_key = malloc((o->n + 1) * sizeof(*o->by_key));
	if (!o->by_key)
		return;
	for (size_t i = 0; i < o->n; i++)
		o->by_key[i] = i;
	qsort_r(o->by_key, o->n, sizeof(*o->by_key), cmp_by_key, o);
}

/*
 * An object listed as it was at the last refresh (same key, uid and
 * generation; a status write changes neither): x takes over what was
 * made of it without reading its JSON. 1 when taken, 0 when not, -ENOMEM.
 */
static int object_reuse(struct ls_objects *o, const char *ns, const struct ls_kube_object *ko,
                        struct ls_object *x)
{
	struct ls_buf b;
	struct ls_object *p;
	char *key;

	ls_buf_init(&b, 0);
	if ((ns[0] ? ls_buf_printf(&b, "%s/%s", ns, ko->key) : ls_buf_puts(&b, ko->key)) < 0) {
		ls_buf_release(&b);
		return -ENOMEM;
	}
	key = ls_buf_steal(&b);
	if (!key)
		return -ENOMEM;
	p = previous(o, key, ko->meta.generation, ko->meta.uid);
	if (!p || (!p->scaler && !p->error)) {
		free(key);
		return 0;
	}
	x->key = key;
	x->namespace_ = strdup(p->namespace_);
	x->name = strdup(p->name);
	x->created = strdup(p->created);
	if (!x->namespace_ || !x->name || !x->created)
		return -ENOMEM;
	snprintf(x->uid, sizeof(x->uid), "%s", p->uid);
	x->generation = p->generation;
	x->scaler = p->scaler;
	x->error = p->error;
	x->conflict = p->conflict;
	p->scaler = NULL;
	p->error = NULL;
	p->conflict = NULL;
	return 1;
}

/*
 * One listed object (of the watch of namespace ns, "" for all) into x:
 * taken over from the previous refresh when unchanged (reuse), else its
 * metadata and status read and its spec parsed. 0, 1 when x is new or
 * changed, -ENOMEM; -EPROTO when the object is not one (skipped).
 */
static int object_load(struct ls_objects *o, const struct ls_config *cfg, const char *ns,
                       const struct ls_kube_object *ko, bool reuse, struct ls_object *x)
{
	cJSON *j = ko->json ? cJSON_Parse(ko->json) : NULL;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
	struct ls_diag d;
	char *text = NULL;
	int r = -ENOMEM;

	ls_diag_init(&d);
	if (reuse && (r = object_reuse(o, ns, ko, x)) != 0) {
		r = r < 0 ? r : 0;
		goto out;
	}
	r = -ENOMEM;
	if (!cJSON_IsObject(md)) {
		r = -EPROTO;
		goto out;
	}
	x->namespace_ = str_dup(md, "namespace");
	x->name = str_dup(md, "name");
	x->created = str_dup(md, "creationTimestamp");
	if (!x->namespace_ || !x->name || !x->created)
		goto out;
	if (!x->namespace_[0] || !x->name[0]) {
		r = -EPROTO;
		goto out;
	}
	{
		size_t klen = strlen(x->namespace_) + strlen(x->name) + 2;

		x->key = malloc(klen);
		if (!x->key)
			goto out;
		snprintf(x->key, klen, "%s/%s", x->namespace_, x->name);
	}
	snprintf(x->uid, sizeof(x->uid), "%s", ko->meta.uid);
	x->generation = ko->meta.generation;
	if (cJSON_IsObject(status) && !(x->status_json = cJSON_PrintUnformatted(status)))
		goto out;
	if (!cJSON_IsObject(spec)) {
		x->error = strdup("spec: required");
		r = x->error ? 1 : -ENOMEM;
		goto out;
	}
	text = cJSON_PrintUnformatted(spec);
	if (!text)
		goto out;
	r = ls_config_scaler_from_json(cfg, x->namespace_, x->name, text, strlen(text), &x->scaler,
	                               &d);
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		x->error = join(&d);
		if (!x->error)
			goto out;
		ls_log(LS_LOG_ERROR, x->key, "LagScaler cannot be used: %s", x->error);
	}
	r = 1;
out:
	free(text);
	cJSON_Delete(j);
	ls_diag_release(&d);
	return r;
}

static int cmp_object(const void *a, const void *b)
{
	const struct ls_object *x = a, *y = b;
	int c = strcmp(x->created, y->created);

	return c ? c : strcmp(x->key, y->key);
}

/* Logs, once per distinct message, a watch that cannot list. */
static void list_report(struct ls_objects *o, size_t i, const char *ns, int r, const char *errmsg)
{
	char msg[600];

	if (r == 0 || !list_failed(r, errmsg)) {
		if (r == 0 && o->list_err[i]) {
			ls_log(LS_LOG_INFO, NULL, "LagScaler objects%s%s%s are read again",
			       ns[0] ? " in \"" : "", ns, ns[0] ? "\"" : "");
			free(o->list_err[i]);
			o->list_err[i] = NULL;
		}
		return;
	}
	snprintf(msg, sizeof(msg), "%s", errmsg);
	if (o->list_err[i] && strcmp(o->list_err[i], msg) == 0)
		return;
	free(o->list_err[i]);
	o->list_err[i] = strdup(msg);
	ls_log(LS_LOG_WARN, NULL,
	       "LagScaler objects%s%s%s cannot be read: %s; the configuration's scalers run "
	       "(install the LagScaler CRD and grant get/list/watch on lagscalers.lagscale.io, "
	       "or set kubernetes.lagScalers: false)",
	       ns[0] ? " in \"" : "", ns, ns[0] ? "\"" : "", msg);
}

int ls_objects_refresh(struct ls_objects *o, const struct ls_config *cfg)
{
	bool reuse = o->cfg == cfg, changed = o->cfg != cfg;
	uint64_t seen = ls_kube_informer_changes(o->inf);
	struct ls_object *v = NULL;
	size_t n = 0, alloc = 0, kept = 0;
	int r;

	if (o->cfg != cfg && (r = watch_set(o, cfg)) < 0)
		return r;
	for (size_t w = 0; w < watch_count(cfg); w++) {
		struct ls_kube_object *ko = NULL;
		size_t nk = 0;
		char err[512];

		r = ls_kube_informer_list(o->inf, LS_OBJECTS_API_VERSION, LS_OBJECTS_KIND,
		                          watch_ns(cfg, w), &ko, &nk, NULL, err, sizeof(err));
		list_report(o, w, watch_ns(cfg, w), r, err);
		if (r == -ENOMEM)
			goto fail;
		if (r < 0)
			continue; /* not listed: no objects from it */
		if (n + nk > alloc) {
			struct ls_object *g = realloc(v, (n + nk) * sizeof(*v));

			if (!g) {
				ls_kube_objects_free(ko, nk);
				r = -ENOMEM;
				goto fail;
			}
			v = g;
			alloc = n + nk;
		}
		for (size_t i = 0; i < nk; i++) {
			memset(&v[n], 0, sizeof(v[n]));
			r = object_load(o, cfg, watch_ns(cfg, w), &ko[i], reuse, &v[n]);
			if (r == -EPROTO) {
				object_release(&v[n]);
				continue;
			}
			if (r < 0) {
				object_release(&v[n]);
				ls_kube_objects_free(ko, nk);
				goto fail;
			}
			changed = changed || r == 1;
			kept += r == 0;
			n++;
		}
		ls_kube_objects_free(ko, nk);
	}
	/* Gone since the last refresh: each left something not reused. */
	if (kept != o->n)
		changed = true;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_object);
	objects_release(o->v, o->n);
	o->v = v;
	o->n = n;
	index_keys(o);
	o->cfg = cfg;
	o->seen = seen;
	o->refreshed = true;
	return changed ? 1 : 0;
fail:
	/* What was reused goes back: nothing of the previous refresh is lost. */
	for (size_t i = 0; i < n; i++) {
		struct ls_object *p =
		    reuse && v[i].key ? previous(o, v[i].key, v[i].generation, v[i].uid) : NULL;

		if (p && !p->scaler && !p->error) {
			p->scaler = v[i].scaler;
			p->error = v[i].error;
			p->conflict = v[i].conflict;
			v[i].scaler = NULL;
			v[i].error = NULL;
			v[i].conflict = NULL;
		}
	}
	objects_release(v, n);
	return -ENOMEM;
}

int ls_objects_compose(struct ls_objects *o, const struct ls_config *cfg, struct ls_config **ret)
{
	const struct ls_config_scaler **extra = calloc(o->n + 1, sizeof(*extra));
	char **msgs = calloc(o->n + 1, sizeof(*msgs));
	size_t k = 0;
	int r = -ENOMEM;

	if (!extra || !msgs)
		goto out;
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].scaler)
			extra[k++] = o->v[i].scaler;
	r = ls_config_compose(cfg, extra, k, ret, msgs);
	if (r < 0)
		goto out;
	for (size_t i = 0, j = 0; i < o->n; i++) {
		struct ls_object *x = &o->v[i];
		char *m = x->scaler ? msgs[j++] : NULL;

		if (m && (!x->conflict || strcmp(x->conflict, m) != 0))
			ls_log(LS_LOG_ERROR, x->key, "LagScaler not run: %s", m);
		free(x->conflict);
		x->conflict = m;
	}
	k = 0; /* the messages are the objects' now */
out:
	for (size_t i = 0; msgs && i < k; i++)
		free(msgs[i]);
	free(msgs);
	free(extra);
	return r;
}

size_t ls_objects_count(const struct ls_objects *o)
{
	return o ? o->n : 0;
}

const struct ls_object *ls_objects_at(const struct ls_objects *o, size_t i)
{
	return &o->v[i];
}
