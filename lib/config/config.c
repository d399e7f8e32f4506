/* config.c - see config.h. The schema is DESIGN.md section 4. */
#include "config/config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/yamltree.h"
#include "config/walk.h"
#include "util/buf.h"

/*
 * Caps on lists read from the files (DESIGN.md section 3); of clusters and
 * scalers, all files together.
 */
#define MAX_CLUSTERS   64
#define MAX_PROPERTIES 1024
#define MAX_SCALERS    10000
#define MAX_TOPICS     10000
#define MAX_NAME       253
#define MAX_WATCH_NAMESPACES 1000

static const struct ls_node_limits file_limits = {
	.max_bytes = LS_CONFIG_MAX_FILE_BYTES,
	.max_nodes = LS_CONFIG_MAX_FILE_NODES,
};

/*
 * The strings of the scalers: bump-allocated in blocks, each distinct
 * string stored once (10,000 scalers share one "apps/v1", one
 * "Deployment", one copy of each cluster and namespace name). The intern
 * table lives only while the config is loaded: a loaded config is
 * immutable.
 */
#define POOL_BLOCK (64 * 1024)

struct pool_block {
	struct pool_block *next;
	size_t used;
	size_t size;
	alignas(max_align_t) char data[];
};

struct ls_config_pool {
	struct pool_block *blocks; /* the first is the one being filled */
	char **slots;		   /* the intern table: open addressing, NULL = empty */
	size_t cap;		   /* a power of two, or 0 */
	size_t n;
};

static void pool_free(struct ls_config_pool *p)
{
	if (!p)
		return;
	while (p->blocks) {
		struct pool_block *b = p->blocks;

		p->blocks = b->next;
		free(b);
	}
	free(p->slots);
	free(p);
}

/* len bytes aligned to align (a power of two, at most max_align_t's); NULL when out of memory. */
static void *pool_alloc(struct ls_config_pool *p, size_t len, size_t align)
{
	struct pool_block *b = p->blocks;
	size_t at;

	if (b) {
		at = (b->used + align - 1) / align * align;
		if (at <= b->size && len <= b->size - at) {
			b->used = at + len;
			return b->data + at;
		}
	}
	if (len > SIZE_MAX - sizeof(*b) - POOL_BLOCK)
		return NULL;
	/* A large string gets a block of its own, behind the one being filled. */
	if (len > POOL_BLOCK / 4 && b) {
		struct pool_block *own = malloc(sizeof(*own) + len);

		if (!own)
			return NULL;
		own->size = own->used = len;
		own->next = b->next;
		b->next = own;
		return own->data;
	}
	b = malloc(sizeof(*b) + (len > POOL_BLOCK ? len : POOL_BLOCK));
	if (!b)
		return NULL;
	b->size = len > POOL_BLOCK ? len : POOL_BLOCK;
	b->used = len;
	b->next = p->blocks;
	p->blocks = b;
	return b->data;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The pool's copy of s (stored on first sight); NULL when out of memory. */
static char *pool_intern(struct ls_config_pool *p, const char *s)
{
	size_t len = strlen(s), i;
	char *copy;

	if (p->n + 1 > p->cap / 2) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		char **slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return NULL;
		for (size_t j = 0; j < p->cap; j++) {
			if (!p->slots[j])
				continue;
			i = hash_str(p->slots[j]) & (cap - 1);
			while (slots[i])
				i = (i + 1) & (cap - 1);
			slots[i] = p->slots[j];
		}
		free(p->slots);
		p->slots = slots;
		p->cap = cap;
	}
	for (i = hash_str(s) & (p->cap - 1); p->slots[i]; i = (i + 1) & (p->cap - 1)) {
		if (strcmp(p->slots[i], s) == 0)
			return p->slots[i];
	}
	/* Strings need no alignment: packed, they take what they need. */
	copy = pool_alloc(p, len + 1, 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len + 1);
	p->slots[i] = copy;
	p->n++;
	return copy;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Where something was defined: a file of the loader, line and column. */
struct place {
	size_t file;
	int line;
	int col;
};

/* One file (or string) of the configuration. */
struct source {
	char *path; /* its name in messages */
	struct ls_report rep;
};

/*
 * Where a scaler's target is, for the check that no two scalers share one:
 * the file, the scaler's index in that file's list, line and column (of
 * the scaler when its target came from `defaults:`); line 0 when the
 * target is incomplete and not compared.
 */
struct target_place {
	size_t file;
	size_t item;
	int line;
	int col;
};

/* A scaler whose cluster can be resolved only once every file is read. */
struct pending {
	size_t scaler;
	size_t file;
	struct ls_walk_place at;
};

/* The top-level sections that one file at most may set. */
enum { SEC_KUBERNETES, SEC_LEADER, SEC_SERVER, SEC_METRICS, SEC_LOG, N_SECTIONS };
static const char *const section_keys[N_SECTIONS] = {"kubernetes", "leaderElection", "server",
                                                     "metrics",    "log"};

struct loader {
	struct ls_config *cfg;
	bool directory; /* the files of a directory: clusters and scalers optional per file */
	struct source *files;
	size_t n_files;
	size_t cur; /* the file being walked */
	struct ls_report dir_rep; /* problems of the directory as a whole */
	size_t scaler_alloc;
	struct place *scaler_places; /* where each scaler's name is, by scaler index */
	struct target_place *target_places; /* where each scaler's target is, by scaler index */
	size_t *names;		     /* scaler index + 1 by name hash, 0 = empty */
	size_t names_cap;
	struct place cluster_places[MAX_CLUSTERS];
	struct place sections[N_SECTIONS]; /* file == SIZE_MAX: not set yet */
	struct pending *pending;
	size_t n_pending, pending_alloc;
	/* A file could not be read or parsed: checks across files would mislead. */
	bool incomplete;
	int err; /* the first failure other than -EINVAL and -ENOMEM */
};

static struct place place_of(const struct loader *l, const struct ls_node *n)
{
	return (struct place){l->cur, n ? n->line : 0, n ? n->col : 0};
}

/*
 * " (first at line 3)" in the same file, " (first at FILE:3:5)" in another:
 * for the message about a second definition.
 */
static const char *first_at(const struct loader *l, struct place p, char *buf, size_t size)
{
	if (p.file == l->cur)
		snprintf(buf, size, "first at line %d", p.line);
	else
		snprintf(buf, size, "first at %s:%d:%d", l->files[p.file].path, p.line, p.col);
	return buf;
}

static const char *const isolation_names[] = {"read_uncommitted", "read_committed", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

static void cluster_release(struct ls_config_cluster *c)
{
	free(c->name);
	free(c->bootstrap_servers);
	for (size_t i = 0; i < c->n_props; i++) {
		free(c->props[i].key);
		free(c->props[i].value);
		free(c->props[i].where);
	}
	free(c->props);
}

/* A scaler whose strings are its own (the scratch scaler of `defaults:`, or one being walked). */
static void scaler_release_own(struct ls_config_scaler *s)
{
	free(s->name);
	free(s->target.api_version);
	free(s->target.kind);
	free(s->target.namespace_);
	free(s->target.name);
	free(s->kafka.cluster);
	free(s->kafka.group);
	for (size_t i = 0; i < s->kafka.n_topics; i++)
		free(s->kafka.topics[i]);
	free(s->kafka.topics);
	free(s->kafka.topic_pattern);
	ls_ranges_release(&s->kafka.partitions);
}

void ls_config_free(struct ls_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->base) {
		/* A composition (ls_config_compose): only the added scalers are its own. */
		for (size_t i = cfg->n_base; i < cfg->n_scalers; i++)
			ls_ranges_release(&cfg->scalers[i].kafka.partitions);
		free(cfg->scalers);
		pool_free(cfg->pool);
		free(cfg);
		return;
	}
	free(cfg->path);
	for (size_t i = 0; i < cfg->n_watch_namespaces; i++)
		free(cfg->watch_namespaces[i]);
	free(cfg->watch_namespaces);
	for (size_t i = 0; i < cfg->n_clusters; i++)
		cluster_release(&cfg->clusters[i]);
	free(cfg->clusters);
	free(cfg->kubeconfig);
	free(cfg->context);
	free(cfg->leader.namespace_);
	free(cfg->leader.lease_name);
	free(cfg->server_address);
	/* The scalers' strings and topic lists are the pool's. */
	for (size_t i = 0; i < cfg->n_scalers; i++)
		ls_ranges_release(&cfg->scalers[i].kafka.partitions);
	free(cfg->scalers);
	pool_free(cfg->pool);
	free(cfg);
}

/*
 * Moves the strings of a walked scaler into the pool. On -ENOMEM the ones
 * not moved are freed and NULL: every string of a scaler in cfg->scalers
 * is the pool's, whatever happens.
 */
static int scaler_pool(struct ls_config_pool *p, struct ls_config_scaler *s)
{
	char **fields[] = {&s->name,	     &s->target.api_version, &s->target.kind,
	                   &s->target.namespace_, &s->target.name,	     &s->kafka.cluster,
	                   &s->kafka.group,	     &s->kafka.topic_pattern};
	char **topics = NULL;
	int r = 0;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char *q;

		if (!*fields[i])
			continue;
		q = r == 0 ? pool_intern(p, *fields[i]) : NULL;
		free(*fields[i]);
		*fields[i] = q;
		if (!q)
			r = -ENOMEM;
	}
	if (s->kafka.n_topics && r == 0) {
		topics = pool_alloc(p, s->kafka.n_topics * sizeof(*topics), alignof(char *));
		if (!topics)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < s->kafka.n_topics; i++) {
		char *q = r == 0 ? pool_intern(p, s->kafka.topics[i]) : NULL;

		free(s->kafka.topics[i]);
		if (!q)
			r = -ENOMEM;
		else
			topics[i] = q;
	}
	free(s->kafka.topics);
	s->kafka.topics = r == 0 ? topics : NULL;
	if (r < 0)
		s->kafka.n_topics = 0;
	return r;
}

const struct ls_config_scaler *ls_config_find_scaler(const struct ls_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_scalers; i++) {
		if (strcmp(cfg->scalers[i].name, name) == 0)
			return &cfg->scalers[i];
	}
	return NULL;
}

/* Every default of section 4 that is not zero; -ENOMEM. */
static int scaler_init(struct ls_config_scaler *s)
{
	memset(s, 0, sizeof(*s));
	ls_policy_params_init(&s->policy);
	s->kafka.offset_reset = LS_RESET_LATEST;
	s->kafka.isolation = LS_ISOLATION_READ_UNCOMMITTED;
	/* As in KEDA's scaleTargetRef; the namespace has no default. */
	s->target.api_version = strdup("apps/v1");
	s->target.kind = strdup("Deployment");
	if (!s->target.api_version || !s->target.kind) {
		scaler_release_own(s);
		memset(s, 0, sizeof(*s));
		return -ENOMEM;
	}
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= MAX_NAME &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Kafka's rule: 1 to 249 of [a-zA-Z0-9._-]. */
static bool valid_topic(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 249 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* "host:port", "[v6]:port" or ":port" (all addresses); port 0-65535. */
static bool valid_address(const char *s)
{
	const char *colon = strrchr(s, ':');
	int32_t port;

	if (!colon || ls_parse_int32(colon + 1, &port) < 0 || port < 0 || port > 65535 ||
	    colon[1] == '+' || colon[1] == '-')
		return false;
	if (s[0] == '[')
		return colon > s + 2 && colon[-1] == ']' &&
		       !memchr(s + 1, ']', (size_t)(colon - s - 2));
	return !memchr(s, ':', (size_t)(colon - s)) && !memchr(s, ' ', (size_t)(colon - s));
}

static int walk_properties(struct ls_walk *w, const struct ls_node *props,
                           struct ls_config_cluster *c)
{
	size_t mark = ls_walk_push_key(w, "properties");
	int r = 0;

	if (!props || (props->type == LS_NODE_SCALAR && props->is_null))
		goto out;
	if (props->type != LS_NODE_MAP) {
		ls_walk_error(w, props, "expected a map, got %s", ls_node_type_name(props));
		goto out;
	}
	if (props->n > MAX_PROPERTIES) {
		ls_walk_error(w, props, "at most %d properties are allowed", MAX_PROPERTIES);
		goto out;
	}
	if (props->n) {
		c->props = calloc(props->n, sizeof(*c->props));
		if (!c->props) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < props->n; i++) {
		const struct ls_node *k = props->kids[2 * i], *v = props->kids[2 * i + 1];
		char *value = NULL;
		size_t m;

		/* Non-scalar keys were reported by the parser. */
		if (k->type != LS_NODE_SCALAR)
			continue;
		m = ls_walk_push_key(w, k->value);
		if (v->type != LS_NODE_SCALAR || v->is_null) {
			ls_walk_error(w, v, "expected a string, got %s", ls_node_type_name(v));
		} else if (ls_walk_substitute(w, v, &value) == 0) {
			/* Numbers and booleans are kept as written: librdkafka reads text. */
			struct ls_config_property *p = &c->props[c->n_props++];
			int len = snprintf(NULL, 0, "%s:%d:%d: %s", w->rep->name, k->line, k->col,
					   ls_buf_str(&w->path));

			p->key = strdup(k->value);
			p->value = value;
			p->where = len < 0 ? NULL : malloc((size_t)len + 1);
			if (p->where)
				snprintf(p->where, (size_t)len + 1, "%s:%d:%d: %s", w->rep->name,
					 k->line, k->col, ls_buf_str(&w->path));
			if (!p->key || !p->where)
				r = -ENOMEM;
		}
		ls_walk_pop(w, m);
		if (r < 0)
			break;
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

/*
 * kafka.clusters of one file, appended to cfg->clusters. In a directory a
 * file need not define any: the check for at least one is made once every
 * file is read.
 */
static int walk_clusters(struct ls_walk *w, const struct ls_node *root, struct loader *l)
{
	static const char *const kafka_keys[] = {"clusters", NULL};
	static const char *const cluster_keys[] = {"name", "bootstrapServers", "properties", NULL};
	const struct ls_node *kafka = ls_node_get(root, "kafka"), *list = NULL;
	size_t mark = ls_walk_push_key(w, "kafka"), m2;
	struct ls_config *cfg = l->cfg;
	struct ls_config_cluster *grown;
	int r = 0;

	if (ls_walk_map(w, kafka, kafka_keys))
		list = ls_node_get(kafka, "clusters");
	m2 = ls_walk_push_key(w, "clusters");
	if (!list || (list->type == LS_NODE_SCALAR && list->is_null)) {
		const struct ls_node *at = kafka && kafka->type == LS_NODE_MAP ? kafka : root;

		if (!l->directory && (!kafka || kafka->type == LS_NODE_MAP || kafka->is_null))
			ls_walk_error(w, at, "at least one cluster is required");
		goto out;
	}
	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n == 0) {
		if (!l->directory)
			ls_walk_error(w, list, "at least one cluster is required");
		goto out;
	}
	if (list->n > MAX_CLUSTERS - cfg->n_clusters) {
		ls_walk_error(w, list, "at most %d clusters are allowed%s", MAX_CLUSTERS,
		              l->directory ? " in all files together" : "");
		goto out;
	}
	grown = realloc(cfg->clusters, (cfg->n_clusters + list->n) * sizeof(*cfg->clusters));
	if (!grown) {
		r = -ENOMEM;
		goto out;
	}
	cfg->clusters = grown;
	memset(&cfg->clusters[cfg->n_clusters], 0, list->n * sizeof(*cfg->clusters));
	for (size_t i = 0; i < list->n && r == 0; i++) {
		size_t idx = cfg->n_clusters++;
		struct ls_config_cluster *c = &cfg->clusters[idx];
		const struct ls_node *n = list->kids[i];
		size_t m3 = ls_walk_push_index(w, i);

		if (!ls_walk_item(w, n, cluster_keys)) {
			ls_walk_pop(w, m3);
			continue;
		}
		if (ls_walk_string(w, n, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &c->name) ==
		    1) {
			const struct ls_node *here = ls_node_get(n, "name");
			size_t m4 = ls_walk_push_key(w, "name");
			char first[512];

			l->cluster_places[idx] = place_of(l, here);
			for (size_t j = 0; j < idx; j++) {
				if (cfg->clusters[j].name &&
				    strcmp(cfg->clusters[j].name, c->name) == 0) {
					ls_walk_error(w, here, "duplicate cluster name (%s)",
					              first_at(l, l->cluster_places[j], first,
					                       sizeof(first)));
					break;
				}
			}
			ls_walk_pop(w, m4);
		}
		ls_walk_string(w, n, "bootstrapServers", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
		               &c->bootstrap_servers);
		r = walk_properties(w, ls_node_get(n, "properties"), c);
		ls_walk_pop(w, m3);
	}
out:
	ls_walk_pop(w, m2);
	ls_walk_pop(w, mark);
	return r;
}

/*
 * True when this file may walk the top-level section sec: no other file
 * set it before. A second one is reported at its key, naming the first.
 */
static bool claim_section(struct ls_walk *w, const struct ls_node *root, struct loader *l, int sec)
{
	const struct ls_node *k = ls_node_get_key(root, section_keys[sec]);
	const struct ls_node *v = ls_node_get(root, section_keys[sec]);
	struct place *first = &l->sections[sec];
	size_t mark;

	/* Absent or null is "the default": it sets nothing. */
	if (!k || (v->type == LS_NODE_SCALAR && v->is_null))
		return true;
	if (first->file == SIZE_MAX) {
		*first = place_of(l, k);
		return true;
	}
	mark = ls_walk_push_key(w, section_keys[sec]);
	ls_walk_error(w, k, "already set at %s:%d:%d; only one file may set it",
	              l->files[first->file].path, first->line, first->col);
	ls_walk_pop(w, mark);
	return false;
}

static bool dns_name(const char *s, size_t len, bool dots);

/* A namespace name: a DNS label (RFC 1123) of at most 63 characters. */
static bool namespace_name(const char *s)
{
	return strlen(s) <= 63 && dns_name(s, strlen(s), false);
}

/*
 * kubernetes.watchNamespaces: the namespaces whose LagScaler objects are
 * watched (one watch each); absent, null or empty: every namespace.
 */
static int walk_watch_namespaces(struct ls_walk *w, const struct ls_node *n, struct ls_config *cfg)
{
	const struct ls_node *list = ls_node_get(n, "watchNamespaces");
	size_t mark = ls_walk_push_key(w, "watchNamespaces");
	int r = 0;

	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n > MAX_WATCH_NAMESPACES) {
		ls_walk_error(w, list, "at most %d namespaces are allowed", MAX_WATCH_NAMESPACES);
		goto out;
	}
	if (list->n && !(cfg->watch_namespaces = calloc(list->n, sizeof(char *)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ls_node *t = list->kids[i];
		size_t m = ls_walk_push_index(w, i);
		char *ns = NULL;
		bool dup = false;

		if (t->type != LS_NODE_SCALAR || t->is_null) {
			ls_walk_error(w, t, "expected a namespace name, got %s", ls_node_type_name(t));
		} else if (ls_walk_substitute(w, t, &ns) < 0) {
			;
		} else if (!namespace_name(ns)) {
			ls_walk_error(w, t,
			              "\"%.64s\" is not a namespace name (1 to 63 of a-z, 0-9 and '-', "
			              "starting and ending with a letter or digit)",
			              ns);
		} else {
			for (size_t j = 0; j < cfg->n_watch_namespaces && !dup; j++)
				dup = strcmp(cfg->watch_namespaces[j], ns) == 0;
			if (dup)
				ls_walk_error(w, t, "namespace \"%s\" is listed twice", ns);
			else
				cfg->watch_namespaces[cfg->n_watch_namespaces++] = ns, ns = NULL;
		}
		free(ns);
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

static int walk_kubernetes(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const keys[] = {"kubeconfig", "context", "lagScalers", "watchNamespaces",
	                                   NULL};
	const struct ls_node *n = ls_node_get(root, "kubernetes");
	size_t mark = ls_walk_push_key(w, "kubernetes");
	int r = 0;

	if (ls_walk_map(w, n, keys)) {
		ls_walk_string(w, n, "kubeconfig", 0, &cfg->kubeconfig);
		ls_walk_string(w, n, "context", 0, &cfg->context);
		ls_walk_bool(w, n, "lagScalers", &cfg->lag_scalers);
		r = walk_watch_namespaces(w, n, cfg);
	}
	ls_walk_pop(w, mark);
	return r;
}

/* Reports "a (x) must be greater than b (y)" at a's node, or b's when a was not written. */
static void leader_order(struct ls_walk *w, const struct ls_node *n, const char *a, int64_t x,
                         const char *b, int64_t y)
{
	const struct ls_node *at = ls_node_get(n, a);
	const char *key = a;
	char xs[32], ys[32];
	size_t mark;

	if (x > y)
		return;
	if (!at || at->is_null) {
		at = ls_node_get(n, b);
		key = b;
	}
	mark = ls_walk_push_key(w, key);
	ls_walk_error(w, at ? at : n, "%s (%s) must be greater than %s (%s)", a,
	              ls_format_duration(x, xs, sizeof(xs)), b,
	              ls_format_duration(y, ys, sizeof(ys)));
	ls_walk_pop(w, mark);
}

static void walk_leader(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const keys[] = {
	    "enabled",       "namespace",   "leaseName", "leaseDuration",
	    "renewDeadline", "retryPeriod", NULL};
	const struct ls_node *n = ls_node_get(root, "leaderElection");
	struct ls_config_leader *l = &cfg->leader;
	size_t mark = ls_walk_push_key(w, "leaderElection");
	int a, b, c;

	if (!ls_walk_map(w, n, keys))
		goto out;
	ls_walk_bool(w, n, "enabled", &l->enabled);
	ls_walk_string(w, n, "namespace", LS_WALK_NONEMPTY, &l->namespace_);
	ls_walk_string(w, n, "leaseName", LS_WALK_NONEMPTY, &l->lease_name);
	a = ls_walk_duration(w, n, "leaseDuration", 0, true, INT64_MAX, &l->lease_duration_ms);
	b = ls_walk_duration(w, n, "renewDeadline", 0, true, INT64_MAX, &l->renew_deadline_ms);
	c = ls_walk_duration(w, n, "retryPeriod", 0, true, INT64_MAX, &l->retry_period_ms);
	/* client-go refuses these orders; say so here rather than at the first election. */
	if (l->enabled && a >= 0 && b >= 0 && c >= 0) {
		leader_order(w, n, "leaseDuration", l->lease_duration_ms, "renewDeadline",
		             l->renew_deadline_ms);
		leader_order(w, n, "renewDeadline", l->renew_deadline_ms, "retryPeriod",
		             l->retry_period_ms);
	}
out:
	ls_walk_pop(w, mark);
}

static void walk_server(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const server_keys[] = {"address", NULL};
	const struct ls_node *n = ls_node_get(root, "server");
	size_t mark = ls_walk_push_key(w, "server");

	if (ls_walk_map(w, n, server_keys) &&
	    ls_walk_string(w, n, "address", LS_WALK_NONEMPTY, &cfg->server_address) == 1 &&
	    !valid_address(cfg->server_address)) {
		size_t m = ls_walk_push_key(w, "address");

		ls_walk_error(w, ls_node_get(n, "address"),
		              "expected host:port (e.g. 0.0.0.0:8080 or [::]:8080), got \"%.64s\"",
		              cfg->server_address);
		ls_walk_pop(w, m);
	}
	ls_walk_pop(w, mark);
}

static void walk_metrics(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const metrics_keys[] = {"partitionSeries", NULL};
	const struct ls_node *n = ls_node_get(root, "metrics");
	size_t mark = ls_walk_push_key(w, "metrics");

	if (ls_walk_map(w, n, metrics_keys))
		ls_walk_bool(w, n, "partitionSeries", &cfg->metrics_partition_series);
	ls_walk_pop(w, mark);
}

static void walk_log(struct ls_walk *w, const struct ls_node *root, struct ls_config *cfg)
{
	static const char *const log_keys[] = {"format", "level", NULL};
	const struct ls_node *n = ls_node_get(root, "log");
	size_t mark = ls_walk_push_key(w, "log");
	int v;

	if (ls_walk_map(w, n, log_keys)) {
		if (ls_walk_enum(w, n, "format", log_format_names, &v) == 1)
			cfg->log_format = (enum ls_log_format)v;
		if (ls_walk_enum(w, n, "level", log_level_names, &v) == 1)
			cfg->log_level = (enum ls_log_level)v;
	}
	ls_walk_pop(w, mark);
}

static int walk_topics(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s)
{
	const struct ls_node *list = ls_node_get(k, "topics");
	size_t mark = ls_walk_push_key(w, "topics");
	int r = 0;

	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n > MAX_TOPICS) {
		ls_walk_error(w, list, "at most %d topics are allowed", MAX_TOPICS);
		goto out;
	}
	if (list->n) {
		s->kafka.topics = calloc(list->n, sizeof(*s->kafka.topics));
		if (!s->kafka.topics) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ls_node *t = list->kids[i];
		size_t m = ls_walk_push_index(w, i);
		char *name = NULL;

		if (t->type != LS_NODE_SCALAR || t->is_null)
			ls_walk_error(w, t, "expected a topic name, got %s", ls_node_type_name(t));
		else if (ls_walk_substitute(w, t, &name) < 0)
			;
		else if (!valid_topic(name))
			ls_walk_error(
			    w, t,
			    "not a valid topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')");
		else
			s->kafka.topics[s->kafka.n_topics++] = name, name = NULL;
		free(name);
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

/*
 * Resolves kafka.cluster against the clusters read so far, or leaves the
 * scaler for resolve_pending (a cluster in a later file, or none named:
 * whether that is allowed depends on how many clusters all files define).
 */
static int resolve_cluster(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s,
                           struct loader *l, size_t idx)
{
	const struct ls_config *cfg = l->cfg;
	struct pending *p;
	size_t mark;
	int r;

	for (size_t i = 0; s->kafka.cluster && i < cfg->n_clusters; i++) {
		if (cfg->clusters[i].name && strcmp(cfg->clusters[i].name, s->kafka.cluster) == 0) {
			s->cluster_index = i;
			return 0;
		}
	}
	if (l->n_pending == l->pending_alloc) {
		size_t na = l->pending_alloc ? 2 * l->pending_alloc : 64;
		struct pending *np = realloc(l->pending, na * sizeof(*np));

		if (!np)
			return -ENOMEM;
		l->pending = np;
		l->pending_alloc = na;
	}
	p = &l->pending[l->n_pending];
	p->scaler = idx;
	p->file = l->cur;
	if (!s->kafka.cluster) {
		r = ls_walk_place_missing(w, k, "cluster", &p->at);
	} else {
		mark = ls_walk_push_key(w, "cluster");
		r = ls_walk_place_shared(w, ls_node_get(k, "cluster"), &p->at);
		ls_walk_pop(w, mark);
	}
	if (r == 0)
		l->n_pending++;
	return r;
}

/* The scalers left by resolve_cluster, once every file is read. */
static int resolve_pending(struct loader *l)
{
	struct ls_config *cfg = l->cfg;

	for (size_t i = 0; i < l->n_pending; i++) {
		const struct pending *p = &l->pending[i];
		struct ls_config_scaler *s = &cfg->scalers[p->scaler];
		struct ls_report *rep = &l->files[p->file].rep;
		size_t c = 0;

		/* With no cluster at all, kafka.clusters said so once. */
		if (cfg->n_clusters == 0)
			break;
		if (!s->kafka.cluster && cfg->n_clusters == 1) {
			if (cfg->clusters[0].name) {
				s->kafka.cluster = pool_intern(cfg->pool, cfg->clusters[0].name);
				if (!s->kafka.cluster)
					return -ENOMEM;
			}
			s->cluster_index = 0;
			continue;
		}
		while (s->kafka.cluster && c < cfg->n_clusters &&
		       !str_eq(cfg->clusters[c].name, s->kafka.cluster))
			c++;
		if (s->kafka.cluster && c < cfg->n_clusters) {
			s->cluster_index = c;
			continue;
		}
		/* A file that could not be read may define it: say nothing that may be wrong. */
		if (l->incomplete)
			continue;
		if (!s->kafka.cluster)
			ls_report_add(rep, p->at.line, p->at.col, p->at.path, "%s",
			              "required when more than one cluster is configured");
		else
			ls_report_add(rep, p->at.line, p->at.col, p->at.path,
			              "no cluster named \"%.64s\" in kafka.clusters",
			              s->kafka.cluster);
	}
	return 0;
}

static int walk_scaler_kafka(struct ls_walk *w, const struct ls_node *k, struct ls_config_scaler *s,
                             struct loader *l, size_t idx)
{
	static const char *const keys[] = {"cluster",        "group",      "topics",
	                                   "topicPattern",   "partitions", "offsetResetPolicy",
	                                   "isolationLevel", NULL};
	int v, rt, rp, e, r = 0;
	char *parts = NULL;
	size_t mark;

	if (!ls_walk_map(w, k, keys))
		return 0;
	ls_walk_string(w, k, "cluster", LS_WALK_NONEMPTY, &s->kafka.cluster);
	ls_walk_string(w, k, "group", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &s->kafka.group);
	r = walk_topics(w, k, s);
	if (r < 0)
		return r;
	rt = s->kafka.n_topics > 0 ? 1 : 0;
	rp = ls_walk_string(w, k, "topicPattern", LS_WALK_NONEMPTY, &s->kafka.topic_pattern);
	if (rp == 1 && (e = ls_parse_regex_check(s->kafka.topic_pattern)) < 0) {
		mark = ls_walk_push_key(w, "topicPattern");
		if (e == -E2BIG)
			ls_walk_error(w, ls_node_get(k, "topicPattern"),
			              "the pattern is longer than the limit of %d characters",
			              LS_REGEX_MAX_LEN);
		else
			ls_walk_error(w, ls_node_get(k, "topicPattern"),
			              "nested repetitions ask for more than %d copies (the limit)",
			              LS_REGEX_MAX_REPEAT);
		ls_walk_pop(w, mark);
		rp = -1;
	}
	if (rp == 1) {
		regex_t re;

		e = regcomp(&re, s->kafka.topic_pattern, REG_EXTENDED | REG_NOSUB);
		if (e == 0) {
			regfree(&re);
		} else {
			char msg[128];

			regerror(e, &re, msg, sizeof(msg));
			mark = ls_walk_push_key(w, "topicPattern");
			ls_walk_error(w, ls_node_get(k, "topicPattern"),
			              "invalid regular expression: %s", msg);
			ls_walk_pop(w, mark);
			rp = -1;
		}
	}
	if (ls_walk_string(w, k, "partitions", 0, &parts) == 1) {
		if (ls_parse_ranges(parts, &s->kafka.partitions) < 0) {
			mark = ls_walk_push_key(w, "partitions");
			ls_walk_error(
			    w, ls_node_get(k, "partitions"),
			    "invalid partition list \"%.64s\" (expected e.g. \"0-11,14\")", parts);
			ls_walk_pop(w, mark);
		}
	}
	free(parts);
	if (ls_walk_enum(w, k, "offsetResetPolicy", ls_walk_offset_reset_names, &v) == 1)
		s->kafka.offset_reset = (enum ls_offset_reset)v;
	if (ls_walk_enum(w, k, "isolationLevel", isolation_names, &v) == 1)
		s->kafka.isolation = (enum ls_isolation)v;
	if (w->partial)
		return 0;
	if (rt && s->kafka.topic_pattern) {
		mark = ls_walk_push_key(w, "topicPattern");
		ls_walk_error_shared(w, ls_node_get(k, "topicPattern"),
		                     "set either topics or topicPattern, not both");
		ls_walk_pop(w, mark);
	} else if (!rt && !s->kafka.topic_pattern && rp == 0) {
		const struct ls_node *t = ls_node_get(k, "topics");

		/* Neither topics nor topicPattern: every topic the group has
		 * committed offsets for, as in KEDA. A topics list with bad
		 * entries was reported; an empty one is most likely a list
		 * left unfinished, so it is not taken to mean "every topic". */
		if (t && !t->is_null && t->type == LS_NODE_SEQ && t->n == 0) {
			mark = ls_walk_push_key(w, "topics");
			ls_walk_error_shared(w, t,
			                     "at least one topic is required; leave topics out for "
			                     "every topic the group has committed offsets for");
			ls_walk_pop(w, mark);
		}
	}
	return resolve_cluster(w, k, s, l, idx);
}

static const char *const scaler_keys[] = {"name", "target", "kafka", "policy", NULL};

/*
 * Adds scaler idx to the table of names. *ret_first is the scaler that has
 * the name already (idx is then not added), or SIZE_MAX. 0 or -ENOMEM. A
 * hash table: comparing each name with every other took most of the load
 * time of 10,000 scalers.
 */
static int names_add(struct loader *l, size_t idx, size_t *ret_first)
{
	const struct ls_config_scaler *sc = l->cfg->scalers;
	size_t i, mask;

	if (2 * (idx + 1) > l->names_cap) {
		size_t cap = l->names_cap ? 2 * l->names_cap : 256;
		size_t *names = calloc(cap, sizeof(*names));

		if (!names)
			return -ENOMEM;
		for (size_t j = 0; j < l->names_cap; j++) {
			if (!l->names[j])
				continue;
			for (i = hash_str(sc[l->names[j] - 1].name) & (cap - 1); names[i];
			     i = (i + 1) & (cap - 1))
				;
			names[i] = l->names[j];
		}
		free(l->names);
		l->names = names;
		l->names_cap = cap;
	}
	mask = l->names_cap - 1;
	for (i = hash_str(sc[idx].name) & mask; l->names[i]; i = (i + 1) & mask) {
		if (strcmp(sc[l->names[i] - 1].name, sc[idx].name) == 0) {
			*ret_first = l->names[i] - 1;
			return 0;
		}
	}
	l->names[i] = idx + 1;
	*ret_first = SIZE_MAX;
	return 0;
}

/*
 * The kinds of Kubernetes' own API groups that have a /scale subresource;
 * every other kind of those groups has none. version is the one the API
 * server serves today.
 */
struct scale_kind {
	const char *group; /* "" for the core group ("v1") */
	const char *version;
	const char *kind;
};

static const struct scale_kind scale_kinds[] = {
    {"apps", "v1", "Deployment"},
    {"apps", "v1", "StatefulSet"},
    {"apps", "v1", "ReplicaSet"},
    {"", "v1", "ReplicationController"},
};

#define SCALE_KINDS_TEXT                                                                           \
	"Deployment, StatefulSet, ReplicaSet (apps/v1), ReplicationController (v1) or a custom "   \
	"resource with a /scale subresource"

/* Kubernetes' own API groups: "", the unsuffixed ones, and *.k8s.io. */
static bool builtin_group(const char *group, size_t len)
{
	static const char *const groups[] = {"apps", "batch", "autoscaling", "policy",
	                                     "extensions"};
	static const char suffix[] = ".k8s.io";

	if (len == 0)
		return true;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strlen(groups[i]) == len && strncmp(groups[i], group, len) == 0)
			return true;
	return len >= sizeof(suffix) - 1 &&
	       strncmp(group + len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) == 0;
}

/* A DNS subdomain in lowercase (an API group), or a DNS label (a version). */
static bool dns_name(const char *s, size_t len, bool dots)
{
	if (len == 0 || len > 253 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '-' || (dots && c == '.')))
			return false;
	}
	return true;
}

static bool upper_camel_case(const char *s)
{
	if (!isupper((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p))
			return false;
	return true;
}

/* Why a built-in kind without /scale cannot be a target (the common ones). */
static const char *no_scale_why(const char *kind)
{
	if (strcmp(kind, "Job") == 0 || strcmp(kind, "CronJob") == 0)
		return " (KEDA runs Jobs with a ScaledJob, which creates Jobs)";
	if (strcmp(kind, "DaemonSet") == 0)
		return " (a DaemonSet runs one pod per node)";
	if (strcmp(kind, "Pod") == 0)
		return " (target the Deployment, StatefulSet or ReplicaSet that owns the pod)";
	if (strcmp(kind, "HorizontalPodAutoscaler") == 0)
		return " (target the workload the HPA scales, and remove the HPA: two "
		       "autoscalers would fight)";
	return "";
}

/*
 * Reports a target whose apiVersion and kind cannot be scaled: the target
 * must be a kind with a /scale subresource, which for Kubernetes' own
 * groups is the table above; custom resources (groups with a dot, such as
 * example.com) are taken as they are when the kind is UpperCamelCase, as
 * kinds are, and the API server says at run time whether they have /scale.
 * At the kind when it was written, else at apiVersion (kind defaulted to
 * Deployment). 0 when the target is fine, -1 when reported.
 */
static int check_target_kind(struct ls_walk *w, const struct ls_node *t,
                             const struct ls_config_target *tg)
{
	const struct ls_node *kn = ls_node_get(t, "kind"), *an = ls_node_get(t, "apiVersion");
	const char *av = tg->api_version, *kind = tg->kind, *slash = strchr(av, '/');
	const char *group = slash ? av : "", *version = slash ? slash + 1 : av;
	size_t glen = slash ? (size_t)(slash - av) : 0;
	bool kind_written = kn && !kn->is_null;
	const char *best = NULL;
	size_t best_d = 3, mark;

	if (!an || an->is_null)
		an = t;
	if (!kind_written)
		kn = an;
	if ((slash && (!dns_name(group, glen, true) || strchr(version, '/'))) ||
	    !dns_name(version, strlen(version), false)) {
		mark = ls_walk_push_key(w, "apiVersion");
		ls_walk_error_shared(
		    w, an, "expected GROUP/VERSION (e.g. apps/v1) or v1, got \"%.64s\"", av);
		ls_walk_pop(w, mark);
		return -1;
	}
	if (!builtin_group(group, glen)) {
		char gbuf[64];

		snprintf(gbuf, sizeof(gbuf), "%.*s", (int)glen, group);
		if (!memchr(group, '.', glen)) {
			/* A typo of a built-in group, or a group that no API server serves. */
			mark = ls_walk_push_key(w, "apiVersion");
			ls_walk_error_shared(
			    w, an,
			    "no API group \"%.*s\": Kubernetes' own are apps, batch, "
			    "..., and a custom resource's group has a dot (e.g. "
			    "example.com/v1)%s",
			    (int)glen, group,
			    ls_walk_distance("apps", gbuf) <= 2 ? " (did you mean apps/v1?)" : "");
			ls_walk_pop(w, mark);
			return -1;
		}
		if (upper_camel_case(kind))
			return 0;
		mark = ls_walk_push_key(w, "kind");
		ls_walk_error_shared(w, kn,
		                     "\"%.64s\" is not a kind: kinds are UpperCamelCase (e.g. "
		                     "Consumer), not the resource's plural or lowercase name",
		                     kind);
		ls_walk_pop(w, mark);
		return -1;
	}
	for (size_t i = 0; i < sizeof(scale_kinds) / sizeof(scale_kinds[0]); i++) {
		const struct scale_kind *sk = &scale_kinds[i];
		size_t d;

		if (strcmp(sk->kind, kind) == 0) {
			if (strlen(sk->group) == glen && strncmp(sk->group, group, glen) == 0 &&
			    strcmp(sk->version, version) == 0)
				return 0;
			/* The right kind at an apiVersion that does not serve it. */
			mark = ls_walk_push_key(w, "apiVersion");
			ls_walk_error_shared(
			    w, an, "%s%s is served at apiVersion %s%s%s, not %.64s",
			    kind_written ? "" : "kind defaults to Deployment, which",
			    kind_written ? sk->kind : "", sk->group, sk->group[0] ? "/" : "",
			    sk->version, av);
			ls_walk_pop(w, mark);
			return -1;
		}
		d = ls_walk_distance(kind, sk->kind);
		if (d < best_d) {
			best_d = d;
			best = sk->kind;
		}
	}
	mark = ls_walk_push_key(w, "kind");
	if (best)
		ls_walk_error_shared(
		    w, kn,
		    "\"%.64s\" is not a kind with a /scale subresource (did you "
		    "mean \"%s\"?%s)",
		    kind, best, strcasecmp(kind, best) == 0 ? " kinds are case-sensitive" : "");
	else
		ls_walk_error_shared(w, kn,
		                     "\"%.64s\" of apiVersion %.64s has no /scale subresource%s; a "
		                     "target is a " SCALE_KINDS_TEXT,
		                     kind, av, no_scale_why(kind));
	ls_walk_pop(w, mark);
	return -1;
}

/*
 * One scaler, cfg->scalers[idx] (or, when w->partial, the `defaults:`
 * block into a scratch scaler, and l is not used).
 */
static int walk_scaler(struct ls_walk *w, const struct ls_node *n, struct ls_config_scaler *s,
                       struct loader *l, size_t idx)
{
	static const char *const target_keys[] = {"apiVersion", "kind", "namespace", "name", NULL};
	const struct ls_node *t, *k;
	size_t mark;
	int r = 0;

	if (!ls_walk_map(w, n, scaler_keys))
		return 0;
	if (ls_walk_string(w, n, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY, &s->name) == 1) {
		const struct ls_node *nn = ls_node_get(n, "name");

		mark = ls_walk_push_key(w, "name");
		if (!valid_name(s->name)) {
			ls_walk_error(w, nn, "must be 1 to %d of a-z, A-Z, 0-9, '.', '_', '-'",
			              MAX_NAME);
		} else if (!w->partial) {
			size_t j;
			char first[512];

			l->scaler_places[idx] = place_of(l, nn);
			r = names_add(l, idx, &j);
			if (r < 0)
				return r;
			if (j != SIZE_MAX)
				ls_walk_error_shared(
				    w, nn, "duplicate scaler name \"%s\" (%s)", s->name,
				    first_at(l, l->scaler_places[j], first, sizeof(first)));
		}
		ls_walk_pop(w, mark);
	}

	t = ls_node_get(n, "target");
	if (!t || (t->type == LS_NODE_SCALAR && t->is_null)) {
		ls_walk_missing(w, n, "target", NULL);
	} else {
		mark = ls_walk_push_key(w, "target");
		if (ls_walk_map(w, t, target_keys)) {
			int ra = ls_walk_string(w, t, "apiVersion", LS_WALK_NONEMPTY,
			                        &s->target.api_version);
			int rk = ls_walk_string(w, t, "kind", LS_WALK_NONEMPTY, &s->target.kind);
			int rn =
			    ls_walk_string(w, t, "namespace", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
			                   &s->target.namespace_);
			int rt = ls_walk_string(w, t, "name", LS_WALK_REQUIRED | LS_WALK_NONEMPTY,
			                        &s->target.name);

			/* A namespace is a DNS label: "Shop" would only fail at run time. */
			if (rn == 1 && (strlen(s->target.namespace_) > 63 ||
			                !dns_name(s->target.namespace_, strlen(s->target.namespace_),
			                          false))) {
				size_t m = ls_walk_push_key(w, "namespace");

				ls_walk_error(w, ls_node_get(t, "namespace"),
				              "\"%.64s\" is not a namespace name (1 to 63 of a-z, 0-9 "
				              "and '-', starting and ending with a letter or digit)",
				              s->target.namespace_);
				ls_walk_pop(w, m);
				rn = -1;
			}
			if (!w->partial && ra >= 0 && rk >= 0 &&
			    check_target_kind(w, t, &s->target) == 0 && rn == 1 && rt == 1) {
				const struct ls_node *at = t->from_defaults ? n : t;

				/* Compared with the others once every file is read. */
				l->target_places[idx].line = at->line;
				l->target_places[idx].col = at->col;
			}
		}
		ls_walk_pop(w, mark);
	}

	k = ls_node_get(n, "kafka");
	if (!k || (k->type == LS_NODE_SCALAR && k->is_null)) {
		ls_walk_missing(w, n, "kafka", NULL);
	} else {
		mark = ls_walk_push_key(w, "kafka");
		r = walk_scaler_kafka(w, k, s, l, idx);
		ls_walk_pop(w, mark);
	}

	mark = ls_walk_push_key(w, "policy");
	ls_walk_policy(w, ls_node_get(n, "policy"), &s->policy);
	ls_walk_pop(w, mark);
	/* The engine needs it for partitions with no committed offset. */
	s->policy.offset_reset = s->kafka.offset_reset;
	return r;
}

/* Room for n more scalers in cfg->scalers and l->scaler_places; 0 or -ENOMEM. */
static int scalers_grow(struct loader *l, size_t n)
{
	struct ls_config *cfg = l->cfg;
	size_t need = cfg->n_scalers + n, na = l->scaler_alloc;
	struct ls_config_scaler *sc;
	struct target_place *tp;
	struct place *pl;

	if (need <= l->scaler_alloc)
		return 0;
	/* Doubling: a directory of many small files must not copy the array per file. */
	while (na < need)
		na = na ? 2 * na : 16;
	if (na > MAX_SCALERS)
		na = need;
	sc = realloc(cfg->scalers, na * sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	cfg->scalers = sc;
	pl = realloc(l->scaler_places, na * sizeof(*pl));
	if (!pl)
		return -ENOMEM;
	l->scaler_places = pl;
	tp = realloc(l->target_places, na * sizeof(*tp));
	if (!tp)
		return -ENOMEM;
	l->target_places = tp;
	l->scaler_alloc = na;
	return 0;
}

/*
 * `defaults:` and `scalers:` of one file, the scalers appended to
 * cfg->scalers. `defaults:` applies to the scalers of its own file only.
 */
static int walk_scalers(struct ls_walk *w, const struct ls_node *root, struct loader *l)
{
	const struct ls_node *defaults = ls_node_get(root, "defaults");
	const struct ls_node *list = ls_node_get(root, "scalers");
	struct ls_config *cfg = l->cfg;
	struct ls_config_scaler scratch;
	struct ls_node *merged = NULL;
	bool has_defaults;
	size_t mark;
	int r;

	/* `defaults:` alone first, so its problems are reported once, under its own path. */
	r = scaler_init(&scratch);
	if (r < 0)
		return r;
	mark = ls_walk_push_key(w, "defaults");
	w->partial = true;
	r = walk_scaler(w, defaults, &scratch, NULL, 0);
	w->partial = false;
	ls_walk_pop(w, mark);
	scaler_release_own(&scratch);
	if (r < 0)
		return r;
	has_defaults = defaults && defaults->type == LS_NODE_MAP;

	/* With LagScaler objects, the scalers may all be objects. */
	if (!list || (list->type == LS_NODE_SCALAR && list->is_null)) {
		if (!l->directory && !cfg->lag_scalers)
			ls_walk_missing(w, root, "scalers",
			                "at least one scaler is required (or "
			                "kubernetes.lagScalers: true for LagScaler objects)");
		return 0;
	}
	mark = ls_walk_push_key(w, "scalers");
	if (!ls_walk_seq(w, list))
		goto out;
	if (list->n == 0 && !l->directory && !cfg->lag_scalers) {
		ls_walk_error(w, list,
		              "at least one scaler is required (or kubernetes.lagScalers: true for "
		              "LagScaler objects)");
		goto out;
	}
	if (list->n > MAX_SCALERS - cfg->n_scalers) {
		ls_walk_error(w, list, "at most %d scalers are allowed%s", MAX_SCALERS,
		              l->directory ? " in all files together" : "");
		goto out;
	}
	r = scalers_grow(l, list->n);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < list->n && r == 0; i++) {
		const struct ls_node *item = list->kids[i];
		size_t m = ls_walk_push_index(w, i), idx = cfg->n_scalers;
		struct ls_config_scaler *s = &cfg->scalers[idx];
		int rp;

		r = scaler_init(s);
		if (r < 0)
			break;
		cfg->n_scalers++;
		l->scaler_places[idx] = place_of(l, item);
		l->target_places[idx] = (struct target_place){l->cur, i, 0, 0};
		if (ls_walk_item(w, item, scaler_keys)) {
			if (has_defaults)
				r = ls_node_merge(item, defaults, &merged);
			if (r == 0) {
				w->merged = has_defaults;
				w->prefix_len = w->path.len;
				w->owner = item;
				r = walk_scaler(w, merged ? merged : item, s, l, idx);
				w->merged = false;
				w->owner = NULL;
			}
			ls_node_free(merged);
			merged = NULL;
		}
		/* Whatever happened, the scaler's strings go to the pool (or are freed). */
		rp = scaler_pool(cfg->pool, s);
		if (r == 0)
			r = rp;
		ls_walk_pop(w, m);
	}
out:
	ls_walk_pop(w, mark);
	return r;
}

static const char *const top_keys[] = {"kafka",   "kubernetes", "leaderElection", "server",
                                       "metrics", "log",        "defaults",       "scalers",
                                       NULL};

static int config_new(const char *name, struct ls_config **ret)
{
	struct ls_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->path = strdup(name);
	cfg->kubeconfig = strdup("");
	cfg->context = strdup("");
	cfg->leader.enabled = true;
	cfg->lag_scalers = true;
	cfg->leader.namespace_ = strdup("lagscale");
	cfg->leader.lease_name = strdup("lagscale");
	cfg->leader.lease_duration_ms = 15000;
	cfg->leader.renew_deadline_ms = 10000;
	cfg->leader.retry_period_ms = 2000;
	cfg->server_address = strdup("0.0.0.0:8080");
	cfg->log_format = LS_LOG_TEXT;
	cfg->log_level = LS_LOG_INFO;
	cfg->pool = calloc(1, sizeof(*cfg->pool));
	if (!cfg->path || !cfg->kubeconfig || !cfg->context || !cfg->leader.namespace_ ||
	    !cfg->leader.lease_name || !cfg->server_address || !cfg->pool) {
		ls_config_free(cfg);
		return -ENOMEM;
	}
	*ret = cfg;
	return 0;
}

/* One file: kafka.clusters, the sections one file may set, then its scalers. */
static int config_walk(struct ls_walk *w, const struct ls_node *root, struct loader *l)
{
	struct ls_config *cfg = l->cfg;
	int r;

	ls_walk_map(w, root, top_keys);
	r = walk_clusters(w, root, l);
	if (r < 0)
		return r;
	if (claim_section(w, root, l, SEC_KUBERNETES) && (r = walk_kubernetes(w, root, cfg)) < 0)
		return r;
	if (claim_section(w, root, l, SEC_LEADER))
		walk_leader(w, root, cfg);
	if (claim_section(w, root, l, SEC_SERVER))
		walk_server(w, root, cfg);
	if (claim_section(w, root, l, SEC_METRICS))
		walk_metrics(w, root, cfg);
	if (claim_section(w, root, l, SEC_LOG))
		walk_log(w, root, cfg);
	return walk_scalers(w, root, l);
}

static int loader_init(struct loader *l, const char *name, bool directory)
{
	memset(l, 0, sizeof(*l));
	l->directory = directory;
	for (int i = 0; i < N_SECTIONS; i++)
		l->sections[i].file = SIZE_MAX;
	ls_report_init(&l->dir_rep, name);
	return config_new(name, &l->cfg);
}

/* Takes path (a heap string) as the next file; sources were allocated for it. */
static void add_source(struct loader *l, char *path)
{
	struct source *src = &l->files[l->n_files++];

	src->path = path;
	ls_report_init(&src->rep, path);
}

/*
 * Records the outcome r of one file: -ENOMEM stops the load (returned);
 * any other failure is remembered (the first that is not -EINVAL is the
 * load's result) and the next file is read, so that every problem of
 * every file is reported.
 */
static int note(struct loader *l, int r)
{
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -EINVAL && !l->err)
		l->err = r;
	return 0;
}

/*
 * Parses and walks one document (file l->files[file]). text, when not
 * NULL, holds yaml and is released as soon as the tree is built: the tree
 * and the text of a large file are not both kept during the walk.
 */
static int load_document(struct loader *l, size_t file, const char *yaml, size_t len,
                         struct ls_buf *text, const char *base_dir)
{
	struct source *src = &l->files[file];
	struct ls_node *root = NULL;
	struct ls_walk w;
	int r;

	l->cur = file;
	r = ls_node_parse_limited(&src->rep, yaml, len, &file_limits, &root);
	if (text)
		ls_buf_release(text);
	if (r < 0) {
		l->incomplete = true;
		return note(l, r);
	}
	if (root->type != LS_NODE_MAP) {
		ls_report_add(&src->rep, root->line, root->col, NULL,
		              "the top level must be a map, got %s", ls_node_type_name(root));
		l->incomplete = true;
		ls_node_free(root);
		return 0;
	}
	ls_walk_init(&w, &src->rep);
	w.base_dir = base_dir;
	r = config_walk(&w, root, l);
	ls_walk_release(&w);
	ls_node_free(root);
	if (r == 0 && src->rep.oom)
		r = -ENOMEM;
	return note(l, r);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	                          (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/*
 * The files of directory dir, as sources: every *.yaml and *.yml that is
 * not hidden and not a directory (symbolic links followed, as in a mounted
 * ConfigMap), in byte-wise order of their names. 0, or a negative errno
 * (reported to l->dir_rep).
 */
static int list_files(struct loader *l, const char *dir)
{
	const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
	char **paths = NULL, **grown;
	size_t n = 0, alloc = 0;
	struct dirent *e;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d) {
		r = -errno;
		ls_report_add(&l->dir_rep, 0, 0, NULL, "cannot read: %s", strerror(-r));
		return r;
	}
	for (;;) {
		struct ls_buf path;
		struct stat st;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno) {
				r = -errno;
				ls_report_add(&l->dir_rep, 0, 0, NULL, "cannot read: %s",
				              strerror(-r));
			}
			break;
		}
		if (!yaml_name(e->d_name))
			continue;
		if (n == LS_CONFIG_MAX_FILES) {
			ls_report_add(&l->dir_rep, 0, 0, NULL, "more than %d *.yaml files",
			              LS_CONFIG_MAX_FILES);
			r = -E2BIG;
			break;
		}
		ls_buf_init(&path, 0);
		if (ls_buf_printf(&path, "%s%s%s", dir, sep, e->d_name) < 0) {
			ls_buf_release(&path);
			r = -ENOMEM;
			break;
		}
		/* Not recursive. A name that cannot be stat'ed is read, and says why it fails. */
		if (stat(ls_buf_str(&path), &st) == 0 && S_ISDIR(st.st_mode)) {
			ls_buf_release(&path);
			continue;
		}
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 16;
			grown = realloc(paths, alloc * sizeof(*paths));
			if (!grown) {
				ls_buf_release(&path);
				r = -ENOMEM;
				break;
			}
			paths = grown;
		}
		paths[n] = ls_buf_steal(&path);
		if (!paths[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r == 0 && n == 0) {
		ls_report_add(&l->dir_rep, 0, 0, NULL, "no *.yaml or *.yml files");
		r = -EINVAL;
	}
	if (r == 0) {
		l->files = calloc(n, sizeof(*l->files));
		if (!l->files)
			r = -ENOMEM;
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return r;
	}
	/* Byte-wise, whatever the locale: the order must not depend on the environment. */
	qsort(paths, n, sizeof(*paths), cmp_str);
	for (size_t i = 0; i < n; i++)
		add_source(l, paths[i]);
	free(paths);
	return 0;
}

/* Reads and walks file i of the loader. */
static int load_file(struct loader *l, size_t i)
{
	struct source *src = &l->files[i];
	struct ls_buf text;
	char *base_dir = NULL;
	struct stat st;
	int r;

	l->cur = i;
	/* A FIFO in a directory would block the read forever. */
	if (l->directory && stat(src->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		ls_report_add(&src->rep, 0, 0, NULL, "not a regular file");
		l->incomplete = true;
		return 0;
	}
	r = ls_node_read_file_limited(src->path, LS_CONFIG_MAX_FILE_BYTES, &text, &base_dir,
	                              &src->rep);
	if (r < 0) {
		l->incomplete = true;
		return note(l, r);
	}
	r = load_document(l, i, ls_buf_str(&text), text.len, &text, base_dir);
	free(base_dir);
	return r;
}

/* The API group of an apiVersion: "apps" of "apps/v1", "" of "v1". */
static size_t group_len(const char *api_version)
{
	const char *slash = strchr(api_version, '/');

	return slash ? (size_t)(slash - api_version) : 0;
}

static uint64_t target_hash(const struct ls_config_target *t)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a over group, kind, namespace, name */
	const char *parts[] = {t->api_version, t->kind, t->namespace_, t->name};
	size_t lens[] = {group_len(t->api_version), strlen(t->kind), strlen(t->namespace_),
	                 strlen(t->name)};

	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < lens[i]; j++)
			h = (h ^ (unsigned char)parts[i][j]) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

/* The same workload: the version of the group does not matter (apps/v1 and apps/v1beta2). */
static bool same_target(const struct ls_config_target *a, const struct ls_config_target *b)
{
	size_t ga = group_len(a->api_version);

	return ga == group_len(b->api_version) &&
	       strncmp(a->api_version, b->api_version, ga) == 0 && strcmp(a->kind, b->kind) == 0 &&
	       strcmp(a->namespace_, b->namespace_) == 0 && strcmp(a->name, b->name) == 0;
}

/*
 * One scaler per workload, as KEDA's admission webhook enforces: two
 * scalers setting the replicas of one target would undo each other every
 * round. Each second one is reported at its target, naming the first.
 * 0 or -ENOMEM.
 */
static int check_targets(struct loader *l)
{
	const struct ls_config *cfg = l->cfg;
	size_t cap = 16, *slots, mask;

	while (cap < 2 * cfg->n_scalers)
		cap *= 2;
	slots = calloc(cap, sizeof(*slots)); /* scaler index + 1, 0 = empty */
	if (!slots)
		return -ENOMEM;
	mask = cap - 1;
	for (size_t i = 0; i < cfg->n_scalers; i++) {
		const struct ls_config_scaler *s = &cfg->scalers[i];
		const struct target_place *tp = &l->target_places[i];
		size_t h;

		if (tp->line == 0)
			continue;
		for (h = target_hash(&s->target) & mask; slots[h]; h = (h + 1) & mask) {
			const struct ls_config_scaler *first = &cfg->scalers[slots[h] - 1];
			const struct target_place *fp = &l->target_places[slots[h] - 1];
			char path[64];

			if (!same_target(&first->target, &s->target))
				continue;
			snprintf(path, sizeof(path), "scalers[%zu].target", tp->item);
			ls_report_add(
			    &l->files[tp->file].rep, tp->line, tp->col, path,
			    "%s/%s/%s is already the target of scaler \"%s\" at %s:%d:%d; "
			    "one scaler per workload (two would undo each other's "
			    "replicas)",
			    s->target.namespace_, s->target.kind, s->target.name,
			    first->name ? first->name : "", l->files[fp->file].path, fp->line,
			    fp->col);
			break;
		}
		if (!slots[h])
			slots[h] = i + 1;
	}
	free(slots);
	return 0;
}

/* Checks across files, once every file is read; r is the load so far. */
static int loader_finish(struct loader *l, int r)
{
	struct ls_config *cfg = l->cfg;
	bool failed = false;

	if (r == 0)
		r = resolve_pending(l);
	if (r == 0)
		r = check_targets(l);
	if (r == 0 && l->directory && l->n_files && !l->incomplete) {
		if (cfg->n_clusters == 0)
			ls_report_add(&l->dir_rep, 0, 0, "kafka.clusters",
			              "at least one cluster is required, and no file defines one");
		if (cfg->n_scalers == 0 && !cfg->lag_scalers)
			ls_report_add(&l->dir_rep, 0, 0, "scalers",
			              "at least one scaler is required, and no file defines one (or "
			              "kubernetes.lagScalers: true for LagScaler objects)");
	}
	for (size_t i = 0; i < l->n_files; i++)
		failed = failed || ls_report_failed(&l->files[i].rep);
	failed = failed || ls_report_failed(&l->dir_rep);
	if (r == 0 && l->err)
		r = l->err;
	else if (r == 0 && failed)
		r = -EINVAL;
	if (r == -ENOMEM)
		ls_report_add(l->n_files ? &l->files[l->cur].rep : &l->dir_rep, 0, 0, NULL,
		              "out of memory");
	if (r == 0) {
		/* Loaded: the growth slack and the intern table are not needed any more. */
		struct ls_config_scaler *sc = realloc(cfg->scalers, cfg->n_scalers * sizeof(*sc));

		if (sc || cfg->n_scalers == 0)
			cfg->scalers = sc;
		free(cfg->pool->slots);
		cfg->pool->slots = NULL;
		cfg->pool->cap = cfg->pool->n = 0;
		cfg->n_files = l->n_files;
	}
	return r;
}

/* Flushes every report in file order, frees the loader and hands the config over. */
static int loader_end(struct loader *l, int r, struct ls_diag *diag, struct ls_config **ret_cfg)
{
	for (size_t i = 0; i < l->n_files; i++) {
		ls_report_flush(&l->files[i].rep, diag);
		free(l->files[i].path);
	}
	ls_report_flush(&l->dir_rep, diag);
	free(l->files);
	for (size_t i = 0; i < l->n_pending; i++)
		free(l->pending[i].at.path);
	free(l->pending);
	free(l->scaler_places);
	free(l->target_places);
	free(l->names);
	if (r < 0) {
		ls_config_free(l->cfg);
		return r;
	}
	*ret_cfg = l->cfg;
	return 0;
}

int ls_config_load_string(const char *name, const char *yaml, size_t len,
                          struct ls_config **ret_cfg, struct ls_diag *diag)
{
	struct loader l;
	char *path = NULL;
	int r;

	r = loader_init(&l, name, false);
	if (r == 0) {
		l.files = calloc(1, sizeof(*l.files));
		path = strdup(name);
		if (!l.files || !path)
			r = -ENOMEM;
	}
	if (r == 0) {
		add_source(&l, path);
		path = NULL;
		r = load_document(&l, 0, yaml, len, NULL, NULL);
	}
	free(path);
	if (r == -ENOMEM && !l.cfg) {
		ls_report_release(&l.dir_rep);
		if (diag)
			ls_diag_add(diag, "%s: out of memory", name);
		free(l.files);
		return r;
	}
	r = loader_finish(&l, r);
	return loader_end(&l, r, diag, ret_cfg);
}

int ls_config_load(const char *path, struct ls_config **ret_cfg, struct ls_diag *diag)
{
	struct stat st;
	bool directory = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	struct loader l;
	char *copy = NULL;
	int r;

	r = loader_init(&l, path, directory);
	if (r == 0 && directory) {
		r = list_files(&l, path);
		/* Nothing to read: the directory's own problem is the result. */
		if (r < 0 && r != -ENOMEM) {
			ls_report_flush(&l.dir_rep, diag);
			ls_config_free(l.cfg);
			return r;
		}
	} else if (r == 0) {
		l.files = calloc(1, sizeof(*l.files));
		copy = strdup(path);
		if (!l.files || !copy) {
			free(copy);
			r = -ENOMEM;
		} else {
			add_source(&l, copy);
		}
	}
	if (r == -ENOMEM && !l.cfg) {
		ls_report_release(&l.dir_rep);
		if (diag)
			ls_diag_add(diag, "%s: out of memory", path);
		free(l.files);
		return r;
	}
	for (size_t i = 0; r == 0 && i < l.n_files; i++)
		r = load_file(&l, i);
	r = loader_finish(&l, r);
	return loader_end(&l, r, diag, ret_cfg);
}

bool ls_config_scaler_equal(const struct ls_config_scaler *a, const struct ls_config_scaler *b)
{
	const struct ls_config_scaler_kafka *ka = &a->kafka, *kb = &b->kafka;

	if (!str_eq(a->name, b->name) || !str_eq(a->target.api_version, b->target.api_version) ||
	    !str_eq(a->target.kind, b->target.kind) ||
	    !str_eq(a->target.namespace_, b->target.namespace_) ||
	    !str_eq(a->target.name, b->target.name) || !str_eq(ka->cluster, kb->cluster) ||
	    !str_eq(ka->group, kb->group) || !str_eq(ka->topic_pattern, kb->topic_pattern) ||
	    ka->n_topics != kb->n_topics || ka->partitions.n != kb->partitions.n ||
	    ka->offset_reset != kb->offset_reset || ka->isolation != kb->isolation)
		return false;
	for (size_t i = 0; i < ka->n_topics; i++)
		if (!str_eq(ka->topics[i], kb->topics[i]))
			return false;
	for (size_t i = 0; i < ka->partitions.n; i++)
		if (ka->partitions.r[i][0] != kb->partitions.r[i][0] ||
		    ka->partitions.r[i][1] != kb->partitions.r[i][1])
			return false;
	return ls_policy_params_equal(&a->policy, &b->policy);
}

bool ls_config_cluster_equal(const struct ls_config_cluster *a, const struct ls_config_cluster *b)
{
	if (!str_eq(a->name, b->name) || !str_eq(a->bootstrap_servers, b->bootstrap_servers) ||
	    a->n_props != b->n_props)
		return false;
	for (size_t i = 0; i < a->n_props; i++)
		if (!str_eq(a->props[i].key, b->props[i].key) ||
		    !str_eq(a->props[i].value, b->props[i].value))
			return false;
	return true;
}

/* --- LagScaler objects (DESIGN.md section 11) ------------------------------------- */

void ls_config_scaler_free(struct ls_config_scaler *s)
{
	if (!s)
		return;
	scaler_release_own(s);
	free(s);
}

/* The tree of {"name": name, "target": {"namespace": namespace_}}: what a
 * LagScaler's metadata adds to its spec. 0 or -ENOMEM. */
static int object_identity(const char *namespace_, const char *name, struct ls_node **ret)
{
	struct ls_report rep;
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_buf_puts(&b, "{\"name\": ");
	if (r == 0)
		r = ls_buf_json_string(&b, name);
	if (r == 0)
		r = ls_buf_puts(&b, ", \"target\": {\"namespace\": ");
	if (r == 0)
		r = ls_buf_json_string(&b, namespace_);
	if (r == 0)
		r = ls_buf_puts(&b, "}}");
	if (r < 0) {
		ls_buf_release(&b);
		return -ENOMEM;
	}
	ls_report_init(&rep, "metadata");
	r = ls_node_parse(&rep, ls_buf_str(&b), b.len, ret);
	ls_report_release(&rep);
	ls_buf_release(&b);
	return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

/* Refuses key in map (a spec's), reported at path ".key" under the walk's path. */
static void refuse_key(struct ls_walk *w, const struct ls_node *map, const char *key,
                       const char *why)
{
	const struct ls_node *k = ls_node_get_key(map, key);
	size_t mark;

	if (!k)
		return;
	mark = ls_walk_push_key(w, key);
	ls_walk_error(w, k, "not allowed in a LagScaler: %s", why);
	ls_walk_pop(w, mark);
}

int ls_config_scaler_from_json(const struct ls_config *cfg, const char *namespace_,
                               const char *name, const char *spec_json, size_t len,
                               struct ls_config_scaler **ret, struct ls_diag *diag)
{
	struct ls_node *spec = NULL, *ident = NULL, *merged = NULL;
	struct ls_config_scaler *out = NULL, *s;
	struct ls_config *tmp = NULL;
	const struct ls_node *t;
	struct ls_report *rep;
	struct ls_walk w;
	struct loader l;
	char *path = NULL;
	bool walked = false;
	size_t mark;
	int r;

	if (!cfg || !namespace_ || !name || !spec_json)
		return -EINVAL;
	r = loader_init(&l, "LagScaler", false);
	if (r < 0) {
		ls_report_release(&l.dir_rep);
		return r;
	}
	l.files = calloc(1, sizeof(*l.files));
	path = strdup("LagScaler");
	if (!l.files || !path) {
		free(path);
		r = -ENOMEM;
		goto end;
	}
	add_source(&l, path);
	rep = &l.files[0].rep;
	rep->no_place = true;
	/* The clusters are cfg's, borrowed for the walk: the scaler's
	 * cluster_index is an index into them. */
	l.cfg->clusters = cfg->clusters;
	l.cfg->n_clusters = cfg->n_clusters;
	r = scalers_grow(&l, 1);
	if (r == 0)
		r = scaler_init(&l.cfg->scalers[0]);
	if (r < 0)
		goto end;
	s = &l.cfg->scalers[0];
	l.cfg->n_scalers = 1;
	l.scaler_places[0] = (struct place){0, 0, 0};
	l.target_places[0] = (struct target_place){0, 0, 0, 0};
	ls_walk_init(&w, rep);
	w.no_subst = true;
	walked = true;
	mark = ls_walk_push_key(&w, "spec");
	r = ls_node_parse(rep, spec_json, len, &spec);
	if (r < 0) {
		r = r == -ENOMEM ? r : 0; /* reported */
		goto walk_done;
	}
	if (spec->type != LS_NODE_MAP) {
		ls_walk_error(&w, spec, "expected a map, got %s", ls_node_type_name(spec));
		goto walk_done;
	}
	refuse_key(&w, spec, "name", "the scaler's name is the LagScaler's metadata.name");
	t = ls_node_get(spec, "target");
	if (t && t->type == LS_NODE_MAP) {
		size_t m = ls_walk_push_key(&w, "target");

		refuse_key(&w, t, "namespace",
		           "the target is in the LagScaler's own namespace");
		ls_walk_pop(&w, m);
	}
	if ((r = object_identity(namespace_, name, &ident)) < 0 ||
	    (r = ls_node_merge(spec, ident, &merged)) < 0)
		goto walk_done;
	w.owner = spec;
	r = walk_scaler(&w, merged, s, &l, 0);
	if (r == 0 && !s->kafka.cluster && cfg->n_clusters == 1 && cfg->clusters[0].name &&
	    !(s->kafka.cluster = strdup(cfg->clusters[0].name)))
		r = -ENOMEM;
	if (r == 0)
		r = resolve_pending(&l);
walk_done:
	ls_walk_pop(&w, mark);
	if (r == 0 && rep->oom)
		r = -ENOMEM;
	if (r == 0 && ls_report_failed(rep))
		r = -EINVAL;
	if (r == 0) {
		char *full = NULL;
		struct ls_buf b;

		ls_buf_init(&b, 0);
		if (ls_buf_printf(&b, "%s/%s", namespace_, name) == 0)
			full = ls_buf_steal(&b);
		ls_buf_release(&b);
		out = full ? malloc(sizeof(*out)) : NULL;
		if (!out) {
			free(full);
			r = -ENOMEM;
		} else {
			*out = *s;
			memset(s, 0, sizeof(*s));
			free(out->name);
			out->name = full;
		}
	}
	if (r == -ENOMEM)
		ls_report_add(rep, 0, 0, NULL, "out of memory");
end:
	if (walked)
		ls_walk_release(&w);
	ls_node_free(spec);
	ls_node_free(ident);
	ls_node_free(merged);
	if (l.cfg) {
		/* Not the temporary config's to free. */
		if (l.cfg->n_scalers)
			scaler_release_own(&l.cfg->scalers[0]);
		l.cfg->n_scalers = 0;
		l.cfg->clusters = NULL;
		l.cfg->n_clusters = 0;
	}
	r = loader_end(&l, r < 0 ? r : 0, diag, &tmp);
	ls_config_free(tmp);
	if (r == 0 && out)
		*ret = out;
	else
		ls_config_scaler_free(out);
	return r;
}

/* Copies src into dst with dst's strings in p. 0 or -ENOMEM (dst then
 * holds no range array: safe to release). */
static int scaler_copy(struct ls_config_pool *p, const struct ls_config_scaler *src,
                       struct ls_config_scaler *dst)
{
	char **fields[] = {&dst->name,           &dst->target.api_version, &dst->target.kind,
	                   &dst->target.namespace_, &dst->target.name,     &dst->kafka.cluster,
	                   &dst->kafka.group,      &dst->kafka.topic_pattern};

	*dst = *src;
	dst->kafka.partitions = (struct ls_int_ranges){0};
	dst->kafka.topics = NULL;
	dst->kafka.n_topics = 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (*fields[i] && !(*fields[i] = pool_intern(p, *fields[i])))
			return -ENOMEM;
	if (src->kafka.n_topics) {
		dst->kafka.topics =
		    pool_alloc(p, src->kafka.n_topics * sizeof(char *), alignof(char *));
		if (!dst->kafka.topics)
			return -ENOMEM;
		for (size_t i = 0; i < src->kafka.n_topics; i++)
			if (!(dst->kafka.topics[i] = pool_intern(p, src->kafka.topics[i])))
				return -ENOMEM;
		dst->kafka.n_topics = src->kafka.n_topics;
	}
	if (src->kafka.partitions.n) {
		size_t bytes = src->kafka.partitions.n * sizeof(*src->kafka.partitions.r);

		dst->kafka.partitions.r = malloc(bytes);
		if (!dst->kafka.partitions.r)
			return -ENOMEM;
		memcpy(dst->kafka.partitions.r, src->kafka.partitions.r, bytes);
		dst->kafka.partitions.n = src->kafka.partitions.n;
	}
	return 0;
}

int ls_config_compose(const struct ls_config *base, const struct ls_config_scaler *const *extra,
                      size_t n, struct ls_config **ret, char **ret_msgs)
{
	struct ls_config *cfg = calloc(1, sizeof(*cfg));
	size_t total = base->n_scalers + n, cap = 16, *slots = NULL, mask;
	int r = -ENOMEM;

	for (size_t i = 0; ret_msgs && i < n; i++)
		ret_msgs[i] = NULL;
	if (!cfg)
		return -ENOMEM;
	*cfg = *base;
	cfg->base = base;
	cfg->n_base = base->n_scalers;
	cfg->n_scalers = 0;
	cfg->pool = calloc(1, sizeof(*cfg->pool));
	cfg->scalers = calloc(total + 1, sizeof(*cfg->scalers));
	while (cap < 2 * total)
		cap *= 2;
	slots = calloc(cap, sizeof(*slots)); /* scaler index + 1, 0 = empty */
	if (!cfg->pool || !cfg->scalers || !slots)
		goto fail;
	mask = cap - 1;
	for (size_t i = 0; i < total; i++) {
		const struct ls_config_scaler *s = i < base->n_scalers ? &base->scalers[i]
		                                                       : extra[i - base->n_scalers];
		size_t h;
		bool taken = false;

		for (h = target_hash(&s->target) & mask; slots[h]; h = (h + 1) & mask) {
			const struct ls_config_scaler *first = &cfg->scalers[slots[h] - 1];
			struct ls_buf b;

			if (!same_target(&first->target, &s->target))
				continue;
			taken = true;
			/* Base's own scalers were checked when it was loaded. */
			if (i < base->n_scalers || !ret_msgs)
				break;
			ls_buf_init(&b, 0);
			if (ls_buf_printf(&b,
			                  "%s/%s/%s is already the target of scaler \"%s\"; one "
			                  "scaler per workload (two would undo each other's "
			                  "replicas)",
			                  s->target.namespace_, s->target.kind, s->target.name,
			                  first->name ? first->name : "") < 0) {
				ls_buf_release(&b);
				goto fail;
			}
			ret_msgs[i - base->n_scalers] = ls_buf_steal(&b);
			break;
		}
		if (taken && i >= base->n_scalers)
			continue;
		if (i < base->n_scalers) {
			cfg->scalers[cfg->n_scalers] = *s;
		} else {
			r = scaler_copy(cfg->pool, s, &cfg->scalers[cfg->n_scalers]);
			if (r < 0) {
				ls_ranges_release(&cfg->scalers[cfg->n_scalers].kafka.partitions);
				goto fail;
			}
		}
		if (!slots[h])
			slots[h] = cfg->n_scalers + 1;
		cfg->n_scalers++;
	}
	free(slots);
	/* The intern table is not needed any more (as after a load). */
	free(cfg->pool->slots);
	cfg->pool->slots = NULL;
	cfg->pool->cap = cfg->pool->n = 0;
	*ret = cfg;
	return 0;
fail:
	free(slots);
	for (size_t i = 0; ret_msgs && i < n; i++) {
		free(ret_msgs[i]);
		ret_msgs[i] = NULL;
	}
	ls_config_free(cfg);
	return -ENOMEM;
}
