/* walk.c - see walk.h. */
#include "config/walk.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/parse.h"

const char *const ls_walk_offset_reset_names[] = {"latest", "earliest", NULL};

void ls_walk_init(struct ls_walk *w, struct ls_report *rep)
{
	memset(w, 0, sizeof(*w));
	w->rep = rep;
	ls_buf_init(&w->path, 0);
}

void ls_walk_release(struct ls_walk *w)
{
	ls_buf_release(&w->path);
}

/* Pushed for every key walked: appends rather than printf, which showed in profiles. */
size_t ls_walk_push_key(struct ls_walk *w, const char *key)
{
	size_t len = w->path.len;

	if ((len && ls_buf_append(&w->path, ".", 1) < 0) || ls_buf_puts(&w->path, key) < 0)
		w->rep->oom = true;
	return len;
}

size_t ls_walk_push_index(struct ls_walk *w, size_t i)
{
	size_t len = w->path.len;
	char num[24];
	int k = snprintf(num, sizeof(num), "[%zu]", i);

	if (ls_buf_append(&w->path, num, (size_t)k) < 0)
		w->rep->oom = true;
	return len;
}

void ls_walk_pop(struct ls_walk *w, size_t len)
{
	w->path.len = len;
	if (w->path.data)
		w->path.data[len] = '\0';
}

static bool skipped(const struct ls_walk *w, const struct ls_node *at)
{
	return w->merged && at && at->from_defaults;
}

void ls_walk_error(struct ls_walk *w, const struct ls_node *at, const char *fmt, ...)
{
	va_list ap;

	if (skipped(w, at))
		return;
	va_start(ap, fmt);
	ls_report_vadd(w->rep, at ? at->line : 0, at ? at->col : 0, ls_buf_str(&w->path), fmt, ap);
	va_end(ap);
}

/* The key path ls_walk_error_shared reports at, into path. */
static void shared_path(struct ls_walk *w, const struct ls_node *at, struct ls_buf *path)
{
	if (skipped(w, at)) {
		if (ls_buf_printf(path, "defaults%s", ls_buf_str(&w->path) + w->prefix_len) < 0)
			w->rep->oom = true;
	} else if (ls_buf_puts(path, ls_buf_str(&w->path)) < 0) {
		w->rep->oom = true;
	}
}

void ls_walk_error_shared(struct ls_walk *w, const struct ls_node *at, const char *fmt, ...)
{
	struct ls_buf path;
	va_list ap;

	ls_buf_init(&path, 0);
	shared_path(w, at, &path);
	va_start(ap, fmt);
	ls_report_vadd(w->rep, at ? at->line : 0, at ? at->col : 0, ls_buf_str(&path), fmt, ap);
	va_end(ap);
	ls_buf_release(&path);
}

/* The node ls_walk_missing reports at. */
static const struct ls_node *missing_at(struct ls_walk *w, const struct ls_node *map)
{
	if (!map || map->type != LS_NODE_MAP || skipped(w, map))
		return w->owner;
	return map;
}

void ls_walk_missing(struct ls_walk *w, const struct ls_node *map, const char *key, const char *why)
{
	const struct ls_node *at;
	size_t mark;

	if (w->partial)
		return;
	at = missing_at(w, map);
	mark = ls_walk_push_key(w, key);
	ls_report_add(w->rep, at ? at->line : 0, at ? at->col : 0, ls_buf_str(&w->path), "%s",
	              why ? why : "required");
	ls_walk_pop(w, mark);
}

/* Fills *ret from path (stolen) and at. */
static int place_done(struct ls_walk *w, const struct ls_node *at, struct ls_buf *path,
                      struct ls_walk_place *ret)
{
	char *p = ls_buf_steal(path);

	if (!p) {
		w->rep->oom = true;
		return -ENOMEM;
	}
	ret->line = at ? at->line : 0;
	ret->col = at ? at->col : 0;
	ret->path = p;
	return 0;
}

int ls_walk_place_shared(struct ls_walk *w, const struct ls_node *at, struct ls_walk_place *ret)
{
	struct ls_buf path;

	ls_buf_init(&path, 0);
	shared_path(w, at, &path);
	return place_done(w, at, &path, ret);
}

int ls_walk_place_missing(struct ls_walk *w, const struct ls_node *map, const char *key,
                          struct ls_walk_place *ret)
{
	struct ls_buf path;

	ls_buf_init(&path, 0);
	if (ls_buf_puts(&path, ls_buf_str(&w->path)) < 0 ||
	    (path.len && ls_buf_append(&path, ".", 1) < 0) || ls_buf_puts(&path, key) < 0) {
		ls_buf_release(&path);
		w->rep->oom = true;
		return -ENOMEM;
	}
	return place_done(w, missing_at(w, map), &path, ret);
}

size_t ls_walk_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
			        ? 0
			        : 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Keys a user of KEDA (ScaledObject, its Kafka trigger, the HPA's
 * behavior) or of lagscale's own layout writes in the wrong place. name is
 * lagscale's key; when the map being walked does not have it, where says
 * where it is, from the scaler. Matched exactly: KEDA's names are
 * camelCase as written in its documentation.
 */
struct foreign_key {
	const char *key;
	const char *name;
	const char *where;
	bool keda; /* KEDA's name, not lagscale's in another place */
};

static const struct foreign_key foreign_keys[] = {
    {"minReplicaCount", "minReplicas", "policy.minReplicas", true},
    {"maxReplicaCount", "maxReplicas", "policy.maxReplicas", true},
    {"idleReplicaCount", "idleReplicas", "policy.idleReplicas", true},
    {"pollingInterval", "pollingInterval", "policy.pollingInterval", false},
    {"cooldownPeriod", "cooldownPeriod", "policy.cooldownPeriod", false},
    {"lagThreshold", "lagThreshold", "policy.lagThreshold", false},
    {"activationLagThreshold", "activationLagThreshold", "policy.activationLagThreshold", false},
    {"allowIdleConsumers", "allowIdleConsumers", "policy.allowIdleConsumers", false},
    {"limitToPartitionsWithLag", "limitToPartitionsWithLag", "policy.limitToPartitionsWithLag",
     false},
    {"ensureEvenDistributionOfPartitions", "ensureEvenDistributionOfPartitions",
     "policy.ensureEvenDistributionOfPartitions", false},
    {"excludePersistentLag", "excludePersistentLag", "policy.excludePersistentLag", false},
    {"scaleToZeroOnInvalidOffset", "scaleToZeroOnInvalidOffset",
     "policy.scaleToZeroOnInvalidOffset", false},
    {"minReplicas", "minReplicas", "policy.minReplicas", false},
    {"maxReplicas", "maxReplicas", "policy.maxReplicas", false},
    {"idleReplicas", "idleReplicas", "policy.idleReplicas", false},
    {"fallback", "fallback", "policy.fallback", false},
    {"behavior", "behavior", "policy.behavior", false},
    {"advanced", "behavior", "policy.behavior", true},
    {"horizontalPodAutoscalerConfig", "behavior", "policy.behavior", true},
    {"stabilizationWindowSeconds", "stabilizationWindow",
     "policy.behavior.scaleUp (or scaleDown).stabilizationWindow", true},
    {"periodSeconds", "period", "policy.behavior.scaleUp (or scaleDown).policies[].period", true},
    {"scaleTargetRef", "target", "target", true},
    {"consumerGroup", "group", "kafka.group", true},
    {"group", "group", "kafka.group", false},
    {"topic", "topics", "kafka.topics (a list)", true},
    {"topics", "topics", "kafka.topics", false},
    {"topicPattern", "topicPattern", "kafka.topicPattern", false},
    {"partitionLimitation", "partitions", "kafka.partitions", true},
    {"offsetResetPolicy", "offsetResetPolicy", "kafka.offsetResetPolicy", false},
    {"isolationLevel", "isolationLevel", "kafka.isolationLevel", false},
    /* Not "did you mean cluster": a cluster's name is not its address. */
    {"bootstrapServers", NULL,
     "kafka.cluster, the name of an entry of kafka.clusters (which has bootstrapServers)", true},
    {"triggers", "kafka", "kafka and policy", true},
    {"sasl", NULL, "sasl.mechanism in the cluster's properties", true},
    {"tls", NULL, "security.protocol in the cluster's properties", true},
    {"username", NULL, "sasl.username in the cluster's properties", true},
    {"password", NULL, "sasl.password in the cluster's properties", true},
    {"envSourceContainerName", NULL, "${env:NAME} in a string value", true},
    {"metadata", NULL, "kafka (group, topics) and policy (lagThreshold, ...)", true},
    {"unsafeSsl", NULL, "enable.ssl.certificate.verification in the cluster's properties", true},
    {"ca", NULL, "ssl.ca.location in the cluster's properties", true},
    {"cert", NULL, "ssl.certificate.location in the cluster's properties", true},
    {"key", NULL, "ssl.key.location in the cluster's properties", true},
    {"keyPassword", NULL, "ssl.key.password in the cluster's properties", true},
    {"oauthTokenEndpointUri", NULL,
     "sasl.oauthbearer.token.endpoint.url in the cluster's properties", true},
    {"scopes", NULL, "sasl.oauthbearer.scope in the cluster's properties", true},
    {"authenticationRef", NULL, "the cluster's properties", true},
};

static bool has_key(const char *const *keys, const char *key)
{
	for (size_t j = 0; key && keys[j]; j++)
		if (strcmp(keys[j], key) == 0)
			return true;
	return false;
}

/*
 * Reports an unknown key k that is KEDA's name for one of lagscale's, or
 * lagscale's own key in another place; false when it is neither.
 */
static bool foreign_key_hint(struct ls_walk *w, const struct ls_node *k, const char *const *keys)
{
	for (size_t i = 0; i < sizeof(foreign_keys) / sizeof(foreign_keys[0]); i++) {
		const struct foreign_key *f = &foreign_keys[i];
		bool here = has_key(keys, f->name);

		if (strcmp(k->value, f->key) != 0)
			continue;
		/* lagscale's key in another map: only where it is not this map's. */
		if (!f->keda && here)
			return false;
		if (f->keda && here)
			ls_walk_error(w, k, "unknown key (did you mean \"%s\"? %s is KEDA's name)",
			              f->name, f->key);
		else if (f->keda)
			ls_walk_error(w, k, "unknown key (%s is KEDA's name; in lagscale: %s)",
			              f->key, f->where);
		else
			ls_walk_error(w, k, "unknown key here (it belongs in the scaler's %s)",
			              f->where);
		return true;
	}
	return false;
}

bool ls_walk_map(struct ls_walk *w, const struct ls_node *n, const char *const *keys)
{
	if (!n || (n->type == LS_NODE_SCALAR && n->is_null))
		return false;
	if (n->type != LS_NODE_MAP) {
		ls_walk_error(w, n, "expected a map, got %s", ls_node_type_name(n));
		return false;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct ls_node *k = n->kids[2 * i];
		const char *best = NULL;
		size_t best_d = 3, mark;
		bool known = false;

		/* Non-scalar keys were reported by the parser. */
		if (k->type != LS_NODE_SCALAR)
			continue;
		for (size_t j = 0; keys[j] && !known; j++)
			known = strcmp(k->value, keys[j]) == 0;
		if (known)
			continue;
		mark = ls_walk_push_key(w, k->value);
		if (foreign_key_hint(w, k, keys)) {
			ls_walk_pop(w, mark);
			continue;
		}
		ls_walk_pop(w, mark);
		/* Suggestions only for unknown keys: the distance is the costly part. */
		for (size_t j = 0; keys[j]; j++) {
			size_t d = ls_walk_distance(k->value, keys[j]);

			if (d < best_d) {
				best_d = d;
				best = keys[j];
			}
		}
		mark = ls_walk_push_key(w, k->value);
		if (best)
			ls_walk_error(w, k, "unknown key (did you mean \"%s\"?)", best);
		else
			ls_walk_error(w, k, "unknown key");
		ls_walk_pop(w, mark);
	}
	return true;
}

bool ls_walk_item(struct ls_walk *w, const struct ls_node *n, const char *const *keys)
{
	if (n->type == LS_NODE_SCALAR && n->is_null) {
		ls_walk_error(w, n, "expected a map, got null");
		return false;
	}
	return ls_walk_map(w, n, keys);
}

bool ls_walk_seq(struct ls_walk *w, const struct ls_node *n)
{
	if (!n || (n->type == LS_NODE_SCALAR && n->is_null))
		return false;
	if (n->type != LS_NODE_SEQ) {
		ls_walk_error(w, n, "expected a sequence, got %s", ls_node_type_name(n));
		return false;
	}
	return true;
}

int ls_walk_scalar(struct ls_walk *w, const struct ls_node *map, const char *key,
                   const struct ls_node **ret)
{
	const struct ls_node *v = ls_node_get(map, key);
	size_t mark;

	if (!v || (v->type == LS_NODE_SCALAR && v->is_null))
		return 0;
	if (v->type != LS_NODE_SCALAR) {
		mark = ls_walk_push_key(w, key);
		ls_walk_error(w, v, "expected a scalar, got %s", ls_node_type_name(v));
		ls_walk_pop(w, mark);
		return -1;
	}
	*ret = v;
	return 1;
}

/* Appends the contents of ${file:path} to out; 0 or -1 (reported at s). */
static int substitute_file(struct ls_walk *w, const struct ls_node *s, const char *path,
                           struct ls_buf *out, bool *oom)
{
	struct ls_buf full, data;
	int r;

	ls_buf_init(&full, 0);
	ls_buf_init(&data, LS_WALK_MAX_FILE);
	if (path[0] != '/' && w->base_dir)
		r = ls_buf_printf(&full, "%s/%s", w->base_dir, path);
	else
		r = ls_buf_puts(&full, path);
	if (r == 0)
		r = ls_buf_read_file(&data, ls_buf_str(&full));
	if (r == -ENOMEM) {
		*oom = true;
		goto out;
	}
	if (r == -E2BIG) {
		ls_walk_error(w, s, "${file:%s}: the file is larger than %d bytes", path,
		              LS_WALK_MAX_FILE);
		goto out;
	}
	if (r < 0) {
		ls_walk_error(w, s, "${file:%s}: cannot read %s: %s", path, ls_buf_str(&full),
		              ls_buf_read_strerror(r));
		goto out;
	}
	if (memchr(ls_buf_str(&data), '\0', data.len)) {
		ls_walk_error(w, s, "${file:%s}: the file contains a NUL byte", path);
		r = -EINVAL;
		goto out;
	}
	/* Secret files usually end with a newline that is not part of the secret. */
	if (data.len && data.data[data.len - 1] == '\n')
		data.len--;
	r = ls_buf_append(out, ls_buf_str(&data), data.len);
	if (r < 0)
		*oom = true;
out:
	ls_buf_release(&full);
	ls_buf_release(&data);
	return r < 0 ? -1 : 0;
}

/* Records one substitution's text (piece, NUL-terminated by the buffer)
 * as "${...}" from start to end (the closing brace), for the report. */
static void note_piece(struct ls_walk *w, const char *piece, const char *start, const char *end)
{
	char *written = strndup(start, (size_t)(end + 1 - start));

	if (!written) {
		w->rep->oom = true;
		return;
	}
	ls_report_substituted(w->rep, piece, written);
	free(written);
}

int ls_walk_substitute(struct ls_walk *w, const struct ls_node *s, char **ret)
{
	struct ls_buf out;
	const char *p = s->value;
	char *name = NULL, *v = NULL;
	size_t before;
	bool oom = false;
	int r = 0;

	/* Most values hold no variable: a plain copy, the size it needs. */
	if (w->no_subst || !strstr(p, "${")) {
		v = strdup(p);
		if (!v) {
			w->rep->oom = true;
			return -1;
		}
		*ret = v;
		return 0;
	}
	ls_buf_init(&out, 0);
	while (*p) {
		const char *start = strstr(p, "${"), *end;
		bool env;

		if (!start) {
			oom = ls_buf_puts(&out, p) < 0;
			break;
		}
		if (strncmp(start + 2, "env:", 4) == 0) {
			env = true;
		} else if (strncmp(start + 2, "file:", 5) == 0) {
			env = false;
		} else {
			/* Not ours: "${" stays as written. */
			if ((oom = ls_buf_append(&out, p, (size_t)(start + 2 - p)) < 0))
				break;
			p = start + 2;
			continue;
		}
		if ((oom = ls_buf_append(&out, p, (size_t)(start - p)) < 0))
			break;
		p = start + (env ? 6 : 7);
		end = strchr(p, '}');
		if (!end || end == p) {
			ls_walk_error(w, s, "%s: expected ${%s:%s}",
			              end ? "empty name" : "unterminated ${", env ? "env" : "file",
			              env ? "NAME" : "PATH");
			r = -1;
			break;
		}
		name = strndup(p, (size_t)(end - p));
		if ((oom = !name))
			break;
		before = out.len;
		if (env) {
			const char *val;

			if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                 "0123456789_") != strlen(name)) {
				ls_walk_error(w, s, "${env:%s}: not a valid variable name", name);
				r = -1;
			} else if (!(val = getenv(name))) {
				/* Name the variable, never a value. */
				ls_walk_error(
				    w, s, "${env:%s}: the environment variable is not set", name);
				r = -1;
			} else {
				oom = ls_buf_puts(&out, val) < 0;
				if (!oom)
					note_piece(w, out.data + before, start, end);
			}
		} else {
			r = substitute_file(w, s, name, &out, &oom);
			if (r == 0 && !oom)
				note_piece(w, out.data + before, start, end);
		}
		if (r == 0 && !oom) {
			size_t added = out.len - before;

			if (added > LS_WALK_MAX_SUBSTITUTED - w->substituted) {
				ls_walk_error(w, s,
				              "${%s:%s}: the substitutions of this file add more "
				              "than the limit of %d MiB",
				              env ? "env" : "file", name,
				              LS_WALK_MAX_SUBSTITUTED / (1024 * 1024));
				w->substituted = LS_WALK_MAX_SUBSTITUTED;
				r = -1;
			} else {
				w->substituted += added;
			}
		}
		free(name);
		name = NULL;
		if (r < 0 || oom)
			break;
		p = end + 1;
	}
	if (r == 0 && !oom) {
		/* A copy of the size it needs: the config keeps it for its lifetime. */
		v = strdup(ls_buf_str(&out));
		oom = !v;
		/* Messages quote values as written, never as substituted. */
		if (v)
			ls_report_substituted(w->rep, v, s->value);
	}
	if (oom) {
		w->rep->oom = true;
		r = -1;
	}
	ls_buf_release(&out);
	if (r == 0)
		*ret = v;
	return r;
}

int ls_walk_string(struct ls_walk *w, const struct ls_node *map, const char *key, unsigned flags,
                   char **ret)
{
	const struct ls_node *v = NULL;
	char *s = NULL;
	size_t mark;
	int r = ls_walk_scalar(w, map, key, &v);

	if (r == 0 && (flags & LS_WALK_REQUIRED))
		ls_walk_missing(w, map, key, NULL);
	if (r <= 0)
		return r == 0 && (flags & LS_WALK_REQUIRED) && !w->partial ? -1 : r;
	mark = ls_walk_push_key(w, key);
	r = ls_walk_substitute(w, v, &s);
	if (r == 0 && (flags & LS_WALK_NONEMPTY) && !*s) {
		ls_walk_error(w, v, "must not be empty");
		r = -1;
	}
	ls_walk_pop(w, mark);
	if (r < 0) {
		free(s);
		return -1;
	}
	free(*ret);
	*ret = s;
	return 1;
}

int ls_walk_bool(struct ls_walk *w, const struct ls_node *map, const char *key, bool *ret)
{
	const struct ls_node *v = NULL;
	int r = ls_walk_scalar(w, map, key, &v);
	size_t mark;
	bool b;

	if (r <= 0)
		return r;
	if (ls_parse_bool(v->value, &b) == 0) {
		*ret = b;
		return 1;
	}
	mark = ls_walk_push_key(w, key);
	ls_walk_error(w, v, "expected true or false, got \"%.64s\"", v->value);
	ls_walk_pop(w, mark);
	return -1;
}

static void range_error(struct ls_walk *w, const struct ls_node *v, long long min, long long max,
                        long long got)
{
	if (got < min)
		ls_walk_error(w, v, "must be >= %lld, got %lld", min, got);
	else
		ls_walk_error(w, v, "must be <= %lld, got %lld", max, got);
}

int ls_walk_int64(struct ls_walk *w, const struct ls_node *map, const char *key, int64_t min,
                  int64_t max, int64_t *ret)
{
	const struct ls_node *v = NULL;
	int r = ls_walk_scalar(w, map, key, &v);
	size_t mark;
	int64_t x;

	if (r <= 0)
		return r;
	mark = ls_walk_push_key(w, key);
	r = ls_parse_int64(v->value, &x);
	if (r == -ERANGE)
		ls_walk_error(w, v, "the number is out of range (%lld to %lld)", (long long)min,
		              (long long)max);
	else if (r < 0)
		ls_walk_error(w, v, "expected an integer, got \"%.64s\"", v->value);
	else if (x < min || x > max)
		range_error(w, v, (long long)min, (long long)max, (long long)x);
	ls_walk_pop(w, mark);
	if (r < 0 || x < min || x > max)
		return -1;
	*ret = x;
	return 1;
}

int ls_walk_int32(struct ls_walk *w, const struct ls_node *map, const char *key, int32_t min,
                  int32_t max, int32_t *ret)
{
	int64_t x = 0;
	int r = ls_walk_int64(w, map, key, min, max, &x);

	if (r == 1)
		*ret = (int32_t)x;
	return r;
}

int ls_walk_double(struct ls_walk *w, const struct ls_node *map, const char *key, double min,
                   bool min_open, double max, bool max_open, double *ret)
{
	const struct ls_node *v = NULL;
	int r = ls_walk_scalar(w, map, key, &v);
	bool bad = false;
	size_t mark;
	double x = 0;

	if (r <= 0)
		return r;
	mark = ls_walk_push_key(w, key);
	if (ls_parse_double(v->value, &x) < 0) {
		ls_walk_error(w, v, "expected a number, got \"%.64s\"", v->value);
		bad = true;
	} else if (x < min || (min_open && x == min) || x > max || (max_open && x == max)) {
		if (max == INFINITY)
			ls_walk_error(w, v, "must be %s %g, got %g", min_open ? ">" : ">=", min, x);
		else
			ls_walk_error(w, v, "must be in %c%g, %g%c, got %g", min_open ? '(' : '[',
			              min, max, max_open ? ')' : ']', x);
		bad = true;
	}
	ls_walk_pop(w, mark);
	if (bad)
		return -1;
	*ret = x;
	return 1;
}

int ls_walk_duration(struct ls_walk *w, const struct ls_node *map, const char *key, int64_t min_ms,
                     bool min_open, int64_t max_ms, int64_t *ret_ms)
{
	const struct ls_node *v = NULL;
	int r = ls_walk_scalar(w, map, key, &v);
	char a[32], b[32];
	size_t mark;
	int64_t ms = 0;

	if (r <= 0)
		return r;
	mark = ls_walk_push_key(w, key);
	r = ls_parse_duration_ms(v->value, &ms);
	if (r == -ERANGE) {
		ls_walk_error(w, v, "the duration is longer than the limit of %s",
		              ls_format_duration(LS_PARSE_DURATION_MAX_MS, a, sizeof(a)));
	} else if (r < 0) {
		ls_walk_error(w, v,
		              "invalid duration \"%.64s\" (expected e.g. 500ms, 15s, 5m, 1h30m)",
		              v->value);
	} else if (ms < min_ms || (min_open && ms == min_ms)) {
		ls_walk_error(w, v, "must be %s %s, got %s", min_open ? "more than" : "at least",
		              ls_format_duration(min_ms, a, sizeof(a)),
		              ls_format_duration(ms, b, sizeof(b)));
		r = -1;
	} else if (ms > max_ms) {
		ls_walk_error(w, v, "must be at most %s, got %s",
		              ls_format_duration(max_ms, a, sizeof(a)),
		              ls_format_duration(ms, b, sizeof(b)));
		r = -1;
	}
	ls_walk_pop(w, mark);
	if (r < 0)
		return -1;
	*ret_ms = ms;
	return 1;
}

int ls_walk_enum(struct ls_walk *w, const struct ls_node *map, const char *key,
                 const char *const *names, int *ret)
{
	const struct ls_node *v = NULL;
	int r = ls_walk_scalar(w, map, key, &v);
	struct ls_buf list;
	size_t mark;

	if (r <= 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (strcmp(v->value, names[i]) == 0) {
			*ret = i;
			return 1;
		}
	}
	ls_buf_init(&list, 0);
	for (int i = 0; names[i]; i++)
		ls_buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
	mark = ls_walk_push_key(w, key);
	ls_walk_error(w, v, "must be one of %s; got \"%.64s\"", ls_buf_str(&list), v->value);
	ls_walk_pop(w, mark);
	ls_buf_release(&list);
	return -1;
}

/* The `policy:` block. */

static const char *const mode_names[] = {"lag", "rate", NULL};
static const char *const select_names[] = {"Max", "Min", "Disabled", NULL};
static const char *const rate_type_names[] = {"Pods", "Percent", NULL};
static const char *const fallback_names[] = {"static", "currentReplicas", "currentReplicasIfHigher",
                                             "currentReplicasIfLower", NULL};

/* The HPA's limits: stabilization at most an hour, a policy period at most 30 minutes. */
#define MAX_STABILIZATION_MS (3600 * 1000LL)
#define MAX_PERIOD_MS        (1800 * 1000LL)

/*
 * A list item is complete where it is written, also in `defaults:` (lists
 * are not merged), so its keys are required there too, and reported by
 * that walk only.
 */
static void rate_policy_missing(struct ls_walk *w, const struct ls_node *n, const char *key)
{
	bool partial = w->partial;

	if (skipped(w, n))
		return;
	w->partial = false;
	ls_walk_missing(w, n, key, NULL);
	w->partial = partial;
}

static void walk_rate_policy(struct ls_walk *w, const struct ls_node *n, struct ls_rate_policy *rp)
{
	static const char *const keys[] = {"type", "value", "period", NULL};
	int type = (int)rp->type;

	if (!ls_walk_item(w, n, keys))
		return;
	if (ls_walk_enum(w, n, "type", rate_type_names, &type) == 1)
		rp->type = (enum ls_rate_policy_type)type;
	else if (!ls_node_get(n, "type") || ls_node_get(n, "type")->is_null)
		rate_policy_missing(w, n, "type");
	if (ls_walk_int32(w, n, "value", 1, INT32_MAX, &rp->value) == 0)
		rate_policy_missing(w, n, "value");
	if (ls_walk_duration(w, n, "period", 0, true, MAX_PERIOD_MS, &rp->period_ms) == 0)
		rate_policy_missing(w, n, "period");
}

static void walk_rules(struct ls_walk *w, const struct ls_node *n, struct ls_scaling_rules *rules)
{
	static const char *const keys[] = {"stabilizationWindow", "selectPolicy", "policies", NULL};
	const struct ls_node *pol;
	int sel = (int)rules->select;

	if (!ls_walk_map(w, n, keys))
		return;
	ls_walk_duration(w, n, "stabilizationWindow", 0, false, MAX_STABILIZATION_MS,
	                 &rules->stabilization_window_ms);
	if (ls_walk_enum(w, n, "selectPolicy", select_names, &sel) == 1)
		rules->select = (enum ls_select_policy)sel;
	pol = ls_node_get(n, "policies");
	if (pol) {
		size_t mark = ls_walk_push_key(w, "policies");

		if (ls_walk_seq(w, pol)) {
			if (pol->n > LS_POLICY_MAX_RATE_POLICIES) {
				ls_walk_error(w, pol, "at most %d policies are allowed, got %zu",
				              LS_POLICY_MAX_RATE_POLICIES, pol->n);
			} else {
				struct ls_rate_policy rp[LS_POLICY_MAX_RATE_POLICIES];

				memset(rp, 0, sizeof(rp));
				for (size_t i = 0; i < pol->n; i++) {
					size_t m2 = ls_walk_push_index(w, i);

					walk_rate_policy(w, pol->kids[i], &rp[i]);
					ls_walk_pop(w, m2);
				}
				/* The list replaces the default one, as in the HPA. */
				memcpy(rules->policies, rp, sizeof(rp));
				rules->n_policies = pol->n;
			}
		}
		ls_walk_pop(w, mark);
	}
	/* Checked only when written: an empty list with selectPolicy Max or Min would never scale.
	 */
	if (!w->partial && pol && pol->type == LS_NODE_SEQ && pol->n == 0 &&
	    rules->select != LS_SELECT_DISABLED) {
		size_t mark = ls_walk_push_key(w, "policies");

		ls_walk_error_shared(
		    w, pol, "at least one policy is required unless selectPolicy is Disabled");
		ls_walk_pop(w, mark);
	}
}

static void walk_behavior(struct ls_walk *w, const struct ls_node *n, struct ls_policy_params *p)
{
	static const char *const keys[] = {"scaleUp", "scaleDown", NULL};
	size_t mark;

	if (!ls_walk_map(w, n, keys))
		return;
	mark = ls_walk_push_key(w, "scaleUp");
	walk_rules(w, ls_node_get(n, "scaleUp"), &p->scale_up);
	ls_walk_pop(w, mark);
	mark = ls_walk_push_key(w, "scaleDown");
	walk_rules(w, ls_node_get(n, "scaleDown"), &p->scale_down);
	ls_walk_pop(w, mark);
}

static void walk_fallback(struct ls_walk *w, const struct ls_node *n, struct ls_policy_params *p)
{
	static const char *const keys[] = {"failureThreshold", "replicas", "behavior", NULL};
	int b = (int)p->fallback_behavior, rr, rb;

	if (!ls_walk_map(w, n, keys))
		return;
	ls_walk_int32(w, n, "failureThreshold", 1, INT32_MAX, &p->fallback_failure_threshold);
	rr = ls_walk_int32(w, n, "replicas", 0, INT32_MAX, &p->fallback_replicas);
	rb = ls_walk_enum(w, n, "behavior", fallback_names, &b);
	if (rb == 1)
		p->fallback_behavior = (enum ls_fallback_behavior)b;
	else if (rb == 0 && rr == 1)
		/* As in KEDA: replicas without a behavior is the static fallback. */
		p->fallback_behavior = LS_FALLBACK_STATIC;
}

void ls_walk_policy(struct ls_walk *w, const struct ls_node *n, struct ls_policy_params *p)
{
	static const char *const keys[] = {"mode",
	                                   "lagThreshold",
	                                   "activationLagThreshold",
	                                   "minReplicas",
	                                   "maxReplicas",
	                                   "idleReplicas",
	                                   "pollingInterval",
	                                   "cooldownPeriod",
	                                   "tolerance",
	                                   "allowIdleConsumers",
	                                   "limitToPartitionsWithLag",
	                                   "partitionAware",
	                                   "ensureEvenDistributionOfPartitions",
	                                   "excludePersistentLag",
	                                   "scaleToZeroOnInvalidOffset",
	                                   "targetDrainTime",
	                                   "perReplicaRate",
	                                   "maxConsumeRate",
	                                   "behavior",
	                                   "fallback",
	                                   NULL};
	const struct ls_node *v = NULL;
	int mode = (int)p->mode, rmin, rmax, ridle;
	size_t mark;

	if (!ls_walk_map(w, n, keys)) {
		/* Still check the defaults against each other. */
		n = NULL;
	}
	if (ls_walk_enum(w, n, "mode", mode_names, &mode) == 1)
		p->mode = (enum ls_policy_mode)mode;
	ls_walk_int64(w, n, "lagThreshold", 1, INT64_MAX, &p->lag_threshold);
	ls_walk_int64(w, n, "activationLagThreshold", 0, INT64_MAX, &p->activation_lag_threshold);
	rmin = ls_walk_int32(w, n, "minReplicas", 0, INT32_MAX, &p->min_replicas);
	rmax = ls_walk_int32(w, n, "maxReplicas", 1, INT32_MAX, &p->max_replicas);
	/* null is a value here: "no idle state", the default. */
	ridle = ls_walk_int32(w, n, "idleReplicas", 0, INT32_MAX, &p->idle_replicas);
	ls_walk_duration(w, n, "pollingInterval", 1000, false, INT64_MAX, &p->polling_interval_ms);
	ls_walk_duration(w, n, "cooldownPeriod", 0, false, INT64_MAX, &p->cooldown_period_ms);
	ls_walk_double(w, n, "tolerance", 0, false, 1, true, &p->tolerance);
	ls_walk_bool(w, n, "allowIdleConsumers", &p->allow_idle_consumers);
	ls_walk_bool(w, n, "limitToPartitionsWithLag", &p->limit_to_partitions_with_lag);
	ls_walk_bool(w, n, "partitionAware", &p->partition_aware);
	ls_walk_bool(w, n, "ensureEvenDistributionOfPartitions", &p->even_distribution);
	ls_walk_bool(w, n, "excludePersistentLag", &p->exclude_persistent_lag);
	ls_walk_bool(w, n, "scaleToZeroOnInvalidOffset", &p->scale_to_zero_on_invalid_offset);
	ls_walk_duration(w, n, "targetDrainTime", 0, true, INT64_MAX, &p->target_drain_time_ms);
	if (ls_walk_scalar(w, n, "perReplicaRate", &v) == 1) {
		if (strcmp(v->value, "auto") == 0) {
			p->per_replica_rate = 0;
		} else {
			double x = 0;

			mark = ls_walk_push_key(w, "perReplicaRate");
			if (ls_parse_double(v->value, &x) < 0 || !(x > 0))
				ls_walk_error(w, v, "must be auto or a number > 0, got \"%.64s\"",
				              v->value);
			else
				p->per_replica_rate = x;
			ls_walk_pop(w, mark);
		}
	}
	ls_walk_double(w, n, "maxConsumeRate", 0, false, INFINITY, false, &p->max_consume_rate);
	mark = ls_walk_push_key(w, "behavior");
	walk_behavior(w, ls_node_get(n, "behavior"), p);
	ls_walk_pop(w, mark);
	mark = ls_walk_push_key(w, "fallback");
	walk_fallback(w, ls_node_get(n, "fallback"), p);
	ls_walk_pop(w, mark);

	if (w->partial || rmin < 0 || rmax < 0 || ridle < 0)
		return;
	if (p->max_replicas < p->min_replicas) {
		/* Name the value the user wrote here rather than the one from defaults. */
		const struct ls_node *amax = ls_node_get(n, "maxReplicas");
		const struct ls_node *amin = ls_node_get(n, "minReplicas");
		bool use_min = !amax || (amax->from_defaults && amin && !amin->from_defaults);

		mark = ls_walk_push_key(w, use_min ? "minReplicas" : "maxReplicas");
		ls_walk_error_shared(w, use_min ? (amin ? amin : n) : amax,
		                     "maxReplicas (%d) must be >= minReplicas (%d)",
		                     (int)p->max_replicas, (int)p->min_replicas);
		ls_walk_pop(w, mark);
	}
	if (ridle == 1 && p->idle_replicas >= p->min_replicas) {
		const struct ls_node *aidle = ls_node_get(n, "idleReplicas");
		const struct ls_node *amin = ls_node_get(n, "minReplicas");
		bool use_min = aidle->from_defaults && amin && !amin->from_defaults;

		mark = ls_walk_push_key(w, use_min ? "minReplicas" : "idleReplicas");
		ls_walk_error_shared(w, use_min ? amin : aidle,
		                     "idleReplicas (%d) must be lower than minReplicas (%d)",
		                     (int)p->idle_replicas, (int)p->min_replicas);
		ls_walk_pop(w, mark);
	}
}

int ls_walk_document(const char *name, const char *yaml, size_t len, const char *base_dir,
		     ls_walk_build_fn build, void *ctx, struct ls_diag *diag)
{
	struct ls_node *root = NULL;
	struct ls_report rep;
	struct ls_walk w;
	int r;

	ls_report_init(&rep, name);
	ls_walk_init(&w, &rep);
	w.base_dir = base_dir;
	r = ls_node_parse(&rep, yaml, len, &root);
	if (r < 0)
		goto out;
	if (root->type != LS_NODE_MAP) {
		ls_report_add(&rep, root->line, root->col, NULL,
			      "the top level must be a map, got %s", ls_node_type_name(root));
		r = -EINVAL;
		goto out;
	}
	r = build(&w, root, ctx);
	if (r == 0 && rep.oom)
		r = -ENOMEM;
	else if (r == 0 && ls_report_failed(&rep))
		r = -EINVAL;
out:
	if (r == -ENOMEM)
		ls_report_add(&rep, 0, 0, NULL, "out of memory");
	ls_report_flush(&rep, diag);
	ls_walk_release(&w);
	ls_node_free(root);
	return r;
}

int ls_walk_file(const char *path, ls_walk_build_fn build, void *ctx, struct ls_diag *diag)
{
	struct ls_buf data;
	char *dir = NULL;
	int r;

	r = ls_node_read_file(path, &data, &dir, diag);
	if (r < 0)
		return r;
	r = ls_walk_document(path, ls_buf_str(&data), data.len, dir, build, ctx, diag);
	ls_buf_release(&data);
	free(dir);
	return r;
}
