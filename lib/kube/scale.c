/* scale.c - discovery, the /scale subresource and the pause annotations. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube-internal.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/parse.h"

/* A kind missing from a cached group-version is looked up again after this
 * (a CRD may have been installed since). */
#define DISCOVERY_RETRY_MS 30000
#define DISCOVERY_MAX_GV   64

struct resource {
	char *kind;
	char *name; /* "deployments" */
	bool namespaced;
	bool scale; /* "<name>/scale" is served */
};

struct group_version {
	char *gv;
	int64_t fetched_ms;
	struct resource *res;
	size_t n;
};

struct ls_kube_discovery {
	struct group_version *gvs;
	size_t n;
};

static void gv_release(struct group_version *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->res[i].kind);
		free(g->res[i].name);
	}
	free(g->res);
	free(g->gv);
	memset(g, 0, sizeof(*g));
}

void ls_kube_discovery_free(struct ls_kube_discovery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		gv_release(&d->gvs[i]);
	free(d->gvs);
	free(d);
}

/* Fills g from an APIResourceList. */
static int parse_resources(const cJSON *list, struct group_version *g)
{
	const cJSON *arr = ls_kube_json_get(list, "resources", NULL), *it;
	size_t n = 0;

	if (!cJSON_IsArray(arr))
		return -EPROTO;
	g->res = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*g->res));
	if (!g->res)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr)
	{
		const char *name = ls_kube_json_str(it, "name");
		const char *kind = ls_kube_json_str(it, "kind");

		if (!name || !kind || strchr(name, '/'))
			continue;
		g->res[n].name = strdup(name);
		g->res[n].kind = strdup(kind);
		g->res[n].namespaced =
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "namespaced"));
		if (!g->res[n].name || !g->res[n].kind) {
			g->n = n + 1;
			return -ENOMEM;
		}
		n++;
	}
	g->n = n;
	/* Then the subresources ("deployments/scale"), whichever order they came in. */
	cJSON_ArrayForEach(it, arr)
	{
		const char *name = ls_kube_json_str(it, "name");
		const char *slash = name ? strchr(name, '/') : NULL;

		if (!slash || strcmp(slash, "/scale") != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strlen(g->res[i].name) == (size_t)(slash - name) &&
			    strncmp(g->res[i].name, name, (size_t)(slash - name)) == 0)
				g->res[i].scale = true;
	}
	return 0;
}

/* The discovery path of a group-version: /api/v1 for the core group. */
static int gv_path(const char *gv, struct ls_buf *b)
{
	if (!strchr(gv, '/'))
		return ls_buf_printf(b, "/api/%s", gv);
	return ls_buf_printf(b, "/apis/%s", gv);
}

static int fetch_gv(struct ls_kube *k, const char *gv, struct group_version *ret)
{
	struct group_version g = {0};
	struct ls_buf path;
	cJSON *j = NULL;
	struct ls_kube_call c = {.method = "GET", .retry = true};
	int r;

	ls_buf_init(&path, 0);
	if ((r = gv_path(gv, &path)) < 0)
		goto out;
	c.path = ls_buf_str(&path);
	r = ls_kube_call(k, &c, &j);
	if (r == -ENOENT) {
		ls_kube_set_errmsg(k, "apiVersion \"%s\" is not served by the API server", gv);
		goto out;
	}
	if (r < 0)
		goto out;
	r = parse_resources(j, &g);
	if (r == -EPROTO)
		ls_kube_set_errmsg(k, "the discovery document %s has no resources",
		                   ls_buf_str(&path));
	if (r < 0)
		goto out;
	if (!(g.gv = strdup(gv))) {
		r = -ENOMEM;
		goto out;
	}
	g.fetched_ms = ls_clock_mono_ms();
	*ret = g;
	memset(&g, 0, sizeof(g));
out:
	gv_release(&g);
	cJSON_Delete(j);
	ls_buf_release(&path);
	return r;
}

static const struct resource *find_kind(const struct group_version *g, const char *kind)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->res[i].kind, kind) == 0)
			return &g->res[i];
	return NULL;
}

/* The resource of (apiVersion, kind), from the cache or discovery. */
static int resolve(struct ls_kube *k, const char *gv, const char *kind, bool need_scale,
                   const struct resource **ret)
{
	struct ls_kube_discovery **slot = ls_kube_discovery_slot(k), *d = *slot;
	struct group_version *g = NULL, fresh;
	const struct resource *res;
	int r;

	if (!gv || !gv[0] || !kind || !kind[0]) {
		ls_kube_set_errmsg(k, "the target needs an apiVersion and a kind");
		return -EINVAL;
	}
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return -ENOMEM;
		*slot = d;
	}
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->gvs[i].gv, gv) == 0)
			g = &d->gvs[i];
	if (g && (res = find_kind(g, kind)) != NULL)
		goto found;
	if (!g || ls_clock_mono_ms() - g->fetched_ms >= DISCOVERY_RETRY_MS) {
		r = fetch_gv(k, gv, &fresh);
		if (r < 0)
			return r;
		if (g) {
			gv_release(g);
			*g = fresh;
		} else {
			struct group_version *v;

			if (d->n >= DISCOVERY_MAX_GV) {
				/* A bounded cache: forget the oldest entry. */
				gv_release(&d->gvs[0]);
				memmove(&d->gvs[0], &d->gvs[1], (d->n - 1) * sizeof(*d->gvs));
				d->n--;
			}
			v = realloc(d->gvs, (d->n + 1) * sizeof(*v));
			if (!v) {
				gv_release(&fresh);
				return -ENOMEM;
			}
			d->gvs = v;
			d->gvs[d->n] = fresh;
			g = &d->gvs[d->n++];
		}
	}
	res = find_kind(g, kind);
	if (!res) {
		ls_kube_set_errmsg(k, "kind \"%s\" is not served in apiVersion \"%s\"", kind, gv);
		return -ENOENT;
	}
found:
	if (need_scale && !res->scale) {
		ls_kube_set_errmsg(k, "kind \"%s\" (%s) has no scale subresource", kind, gv);
		return -EINVAL;
	}
	*ret = res;
	return 0;
}

int ls_kube_object_path(const char *api_version, const char *resource, const char *namespace_,
                        const char *name, const char *suffix, char **ret)
{
	struct ls_buf b;
	char *ns = NULL, *nm = NULL;
	int r = -ENOMEM;

	if (!api_version || !api_version[0] || !resource || !name)
		return -EINVAL;
	ls_buf_init(&b, 0);
	if (namespace_ && !(ns = curl_easy_escape(NULL, namespace_, 0)))
		goto out;
	if (!(nm = curl_easy_escape(NULL, name, 0)))
		goto out;
	if ((r = gv_path(api_version, &b)) < 0)
		goto out;
	if (ns && (r = ls_buf_printf(&b, "/namespaces/%s", ns)) < 0)
		goto out;
	if ((r = ls_buf_printf(&b, "/%s/%s%s", resource, nm, suffix ? suffix : "")) < 0)
		goto out;
	*ret = ls_buf_steal(&b);
	r = *ret ? 0 : -ENOMEM;
out:
	curl_free(ns);
	curl_free(nm);
	ls_buf_release(&b);
	return r;
}

int ls_kube_collection_path(struct ls_kube *k, const char *api_version, const char *kind,
                            const char *namespace_, char **ret)
{
	return ls_kube_collection_path_any(k, api_version, kind, namespace_, true, ret);
}

int ls_kube_collection_path_any(struct ls_kube *k, const char *api_version, const char *kind,
                                const char *namespace_, bool need_scale, char **ret)
{
	const struct resource *res;
	struct ls_buf b;
	char *ns = NULL;
	int r = resolve(k, api_version, kind, need_scale, &res);

	if (r < 0)
		return r;
	ls_buf_init(&b, 0);
	if (res->namespaced && namespace_ && namespace_[0] &&
	    !(ns = curl_easy_escape(NULL, namespace_, 0))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = gv_path(api_version, &b)) < 0)
		goto out;
	if (ns && (r = ls_buf_printf(&b, "/namespaces/%s", ns)) < 0)
		goto out;
	if ((r = ls_buf_printf(&b, "/%s", res->name)) < 0)
		goto out;
	*ret = ls_buf_steal(&b);
	r = *ret ? 0 : -ENOMEM;
out:
	curl_free(ns);
	ls_buf_release(&b);
	return r;
}

int ls_kube_resource_name(struct ls_kube *k, const char *api_version, const char *kind,
                          char *ret, size_t len)
{
	const struct resource *res;
	const char *slash = api_version ? strchr(api_version, '/') : NULL;
	int r = resolve(k, api_version, kind, true, &res);

	if (r < 0)
		return r;
	if (slash)
		snprintf(ret, len, "%s.%.*s", res->name, (int)(slash - api_version), api_version);
	else
		snprintf(ret, len, "%s", res->name);
	return 0;
}

int ls_kube_scale_parse(const cJSON *scale, int32_t *ret_replicas, int32_t *ret_status_replicas)
{
	const cJSON *v;
	int64_t spec = 0, status = -1;
	int r;

	if (!cJSON_IsObject(scale))
		return -EPROTO;
	/* autoscaling/v1 Scale omits spec.replicas when it is 0. A replica
	 * count that is not an int32 of at least 0 is a protocol error. */
	v = ls_kube_json_get(scale, "spec", "replicas", NULL);
	r = ls_kube_json_int(v, 0, INT32_MAX, &spec);
	if (r == -EPROTO)
		return r;
	v = ls_kube_json_get(scale, "status", "replicas", NULL);
	r = ls_kube_json_int(v, 0, INT32_MAX, &status);
	if (r == -EPROTO)
		return r;
	if (r == -ENOENT)
		status = cJSON_IsObject(ls_kube_json_get(scale, "status", NULL)) ? 0 : -1;
	*ret_replicas = (int32_t)spec;
	*ret_status_replicas = (int32_t)status;
	return 0;
}

int ls_kube_target_path(struct ls_kube *k, const struct ls_kube_target *t, const char *suffix,
                        char **ret)
{
	const struct resource *res;
	int r = resolve(k, t->api_version, t->kind, true, &res);

	if (r < 0)
		return r;
	if (res->namespaced && (!t->namespace_ || !t->namespace_[0])) {
		ls_kube_set_errmsg(k, "kind \"%s\" is namespaced: the target needs a namespace",
		                   t->kind);
		return -EINVAL;
	}
	return ls_kube_object_path(t->api_version, res->name,
	                           res->namespaced ? t->namespace_ : NULL, t->name, suffix, ret);
}

int ls_kube_parse_pause(const char *paused, const char *paused_replicas, bool *ret_paused,
                        int32_t *ret_replicas)
{
	bool p = false;
	int32_t n = -1;

	if (paused) {
		/* KEDA accepts "true"/"false" only (case as strconv.ParseBool). */
		if (strcmp(paused, "true") == 0 || strcmp(paused, "True") == 0 ||
		    strcmp(paused, "TRUE") == 0)
			p = true;
		else if (strcmp(paused, "false") != 0 && strcmp(paused, "False") != 0 &&
		         strcmp(paused, "FALSE") != 0)
			return -EINVAL;
	}
	if (paused_replicas) {
		if (ls_parse_int32(paused_replicas, &n) < 0 || n < 0)
			return -EINVAL;
		p = true;
	}
	*ret_paused = p;
	*ret_replicas = n;
	return 0;
}

void ls_kube_pause_from_annotations(const cJSON *ann, bool *ret_paused, int32_t *ret_replicas,
                                    char *err, size_t errlen)
{
	const char *paused = ls_kube_json_str(ann, LS_KUBE_PAUSED_ANNOTATION);
	const char *paused_replicas = ls_kube_json_str(ann, LS_KUBE_PAUSED_REPLICAS_ANNOTATION);

	*ret_paused = false;
	*ret_replicas = -1;
	err[0] = '\0';
	if (ls_kube_parse_pause(paused, paused_replicas, ret_paused, ret_replicas) < 0) {
		/* A person meant to pause it: leave it alone until fixed. */
		*ret_paused = true;
		*ret_replicas = -1;
		snprintf(err, errlen, "bad annotation %s: \"%s\" (want %s)",
		         paused_replicas ? LS_KUBE_PAUSED_REPLICAS_ANNOTATION
		                         : LS_KUBE_PAUSED_ANNOTATION,
		         paused_replicas ? paused_replicas : paused,
		         paused_replicas ? "a replica count" : "\"true\" or \"false\"");
	}
}

int ls_kube_scale_get(struct ls_kube *k, const struct ls_kube_target *t, struct ls_kube_scale *ret)
{
	struct ls_kube_scale s = {.status_replicas = -1, .paused_replicas = -1};
	char *obj_path = NULL, *scale_path = NULL;
	cJSON *meta = NULL, *scale = NULL;
	const cJSON *ann;
	const char *uid;
	struct ls_kube_call c = {.method = "GET", .retry = true};
	int r;

	if ((r = ls_kube_target_path(k, t, NULL, &obj_path)) < 0 ||
	    (r = ls_kube_target_path(k, t, "/scale", &scale_path)) < 0)
		goto out;
	/* Only the metadata: the object itself may be large. */
	c.path = obj_path;
	c.accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
	if ((r = ls_kube_call(k, &c, &meta)) < 0)
		goto out;
	c.path = scale_path;
	c.accept = NULL;
	if ((r = ls_kube_call(k, &c, &scale)) < 0)
		goto out;
	if (!cJSON_IsObject(scale) || !cJSON_IsObject(meta)) {
		ls_kube_set_errmsg(k, "%s: the response is not an object", scale_path);
		r = -EPROTO;
		goto out;
	}
	if (ls_kube_scale_parse(scale, &s.replicas, &s.status_replicas) < 0) {
		ls_kube_set_errmsg(k, "%s: spec.replicas or status.replicas is not an integer "
		                      "from 0 to 2147483647", scale_path);
		r = -EPROTO;
		goto out;
	}
	ann = ls_kube_json_get(meta, "metadata", "annotations", NULL);
	ls_kube_pause_from_annotations(ann, &s.paused, &s.paused_replicas, s.pause_error,
	                               sizeof(s.pause_error));
	uid = ls_kube_json_str(ls_kube_json_get(meta, "metadata", NULL), "uid");
	if (uid)
		snprintf(s.uid, sizeof(s.uid), "%s", uid);
	*ret = s;
	r = 0;
out:
	cJSON_Delete(meta);
	cJSON_Delete(scale);
	free(obj_path);
	free(scale_path);
	return r;
}

int ls_kube_scale_set(struct ls_kube *k, const struct ls_kube_target *t, int32_t replicas,
                      bool dry_run)
{
	char *path = NULL, body[64];
	struct ls_kube_call c = {
	    .method = "PATCH",
	    .content_type = "application/merge-patch+json",
	    .body = body,
	    /* Setting a count is idempotent: retrying is safe. */
	    .retry = true,
	    .retry_conflict = true,
	};
	int r;

	if (replicas < 0)
		return -EINVAL;
	snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%d}}", replicas);
	r = ls_kube_target_path(k, t, dry_run ? "/scale?dryRun=All" : "/scale", &path);
	if (r < 0)
		return r;
	c.path = path;
	r = ls_kube_call(k, &c, NULL);
	free(path);
	return r;
}

int ls_kube_discovery_parse(const cJSON *list, const char *kind, char **ret_resource,
                            bool *ret_namespaced, bool *ret_scale)
{
	struct group_version g = {0};
	const struct resource *res;
	char *name;
	int r = parse_resources(list, &g);

	if (r < 0)
		goto out;
	res = find_kind(&g, kind);
	if (!res) {
		r = -ENOENT;
		goto out;
	}
	if (!(name = strdup(res->name))) {
		r = -ENOMEM;
		goto out;
	}
	*ret_resource = name;
	*ret_namespaced = res->namespaced;
	*ret_scale = res->scale;
out:
	gv_release(&g);
	return r;
}
