/* watch.c - the informer: LIST, WATCH, relist, one thread on curl's multi interface. */
#include "kube/watch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kube/kube-internal.h"
#include "kube/kube.h"
#include "kube/watch-internal.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define ACCEPT_LIST                                                                                \
	"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define ACCEPT_WATCH "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS  30000
/* client-go's reflector: timeoutSeconds random in [minWatchTimeout, 2 * minWatchTimeout). */
#define WATCH_MIN_TIMEOUT_S 300
/* The client gives up on a watch this long after its timeoutSeconds: the
 * server should have ended it by then (a connection that died silently). */
#define WATCH_SLACK_MS  30000
#define LIST_TIMEOUT_MS 60000
/* A watch that ends sooner than this without an event is a failure. */
#define SHORT_WATCH_MS 1000
/* Two relists closer than this: the second waits for the backoff. */
#define RELIST_GAP_MS 1000
/* A Retry-After longer than this is not believed. */
#define RETRY_AFTER_MAX_MS (10 * 60 * 1000)
/* The body of a failed response (a Status) is kept up to this for its message. */
#define ERR_BODY_MAX (64 * 1024)
/* The thread looks at the stop flag it was given at least this often. */
#define STOP_POLL_MS 100
#define IDLE_POLL_MS 1000

/* --- the stream ----------------------------------------------------------- */

void ls_kube_watch_stream_init(struct ls_kube_watch_stream *s, size_t max_event)
{
	ls_buf_init(&s->line, max_event);
	s->max = max_event;
	s->err = 0;
}

void ls_kube_watch_stream_release(struct ls_kube_watch_stream *s)
{
	ls_buf_release(&s->line);
	s->err = 0;
}

void ls_kube_watch_stream_reset(struct ls_kube_watch_stream *s)
{
	/* Do not keep a large buffer that one big event needed. */
	if (s->line.alloc > 64 * 1024)
		ls_buf_release(&s->line);
	ls_buf_reset(&s->line);
	s->err = 0;
}

static int deliver(const char *p, size_t n, ls_kube_watch_line_fn fn, void *ud)
{
	size_t i;

	while (n > 0 && p[n - 1] == '\r')
		n--;
	for (i = 0; i < n && isspace((unsigned char)p[i]); i++)
		;
	if (i == n)
		return 0;
	return fn(ud, p, n);
}

int ls_kube_watch_stream_feed(struct ls_kube_watch_stream *s, const char *p, size_t n,
                              ls_kube_watch_line_fn fn, void *ud)
{
	int r = 0;

	if (s->err)
		return s->err;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t part = nl ? (size_t)(nl - p) : n;

		if (s->line.len == 0 && nl) {
			/* A whole line in this read: no copy. */
			if (part > s->max) {
				r = -E2BIG;
				goto fail;
			}
			r = deliver(p, part, fn, ud);
		} else {
			r = ls_buf_append(&s->line, p, part);
			if (r < 0)
				goto fail;
			if (nl) {
				r = deliver(s->line.data, s->line.len, fn, ud);
				ls_buf_reset(&s->line);
			}
		}
		if (r < 0)
			goto fail;
		if (!nl)
			break;
		p = nl + 1;
		n -= part + 1;
	}
	return 0;
fail:
	s->err = r;
	ls_buf_reset(&s->line);
	return r;
}

/* --- objects and events ----------------------------------------------------- */

/* The pause annotations, as ls_kube_scale_get reads them. */
static void meta_pause(const cJSON *ann, struct ls_kube_object_meta *m)
{
	ls_kube_pause_from_annotations(ann, &m->paused, &m->paused_replicas, m->pause_error,
	                               sizeof(m->pause_error));
}

int ls_kube_object_meta_parse(const cJSON *obj, struct ls_kube_object_meta *ret)
{
	const cJSON *md = ls_kube_json_get(obj, "metadata", NULL), *gen;
	const char *rv = ls_kube_json_str(md, "resourceVersion");
	const char *uid = ls_kube_json_str(md, "uid");
	struct ls_kube_object_meta m;

	if (!cJSON_IsObject(md) || !rv || strlen(rv) >= sizeof(m.resource_version))
		return -EPROTO;
	memset(&m, 0, sizeof(m));
	gen = cJSON_GetObjectItemCaseSensitive(md, "generation");
	if (gen && ls_kube_json_int(gen, 0, INT64_MAX, &m.generation) < 0)
		return -EPROTO;
	if (uid)
		snprintf(m.uid, sizeof(m.uid), "%s", uid);
	snprintf(m.resource_version, sizeof(m.resource_version), "%s", rv);
	meta_pause(cJSON_GetObjectItemCaseSensitive(md, "annotations"), &m);
	*ret = m;
	return 0;
}

int ls_kube_watch_key(const char *namespace_, const char *name, bool all_namespaces, char **ret)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	if (all_namespaces && namespace_ && namespace_[0])
		r = ls_buf_printf(&b, "%s/%s", namespace_, name);
	else
		r = ls_buf_puts(&b, name);
	if (r < 0) {
		ls_buf_release(&b);
		return -ENOMEM;
	}
	*ret = ls_buf_steal(&b);
	return *ret ? 0 : -ENOMEM;
}

static const struct {
	const char *name;
	enum ls_kube_watch_type type;
} event_types[] = {
    {"ADDED", LS_KUBE_WATCH_ADDED},     {"MODIFIED", LS_KUBE_WATCH_MODIFIED},
    {"DELETED", LS_KUBE_WATCH_DELETED}, {"BOOKMARK", LS_KUBE_WATCH_BOOKMARK},
    {"ERROR", LS_KUBE_WATCH_ERROR},
};

/*
 * What a watch of whole objects keeps of obj: metadata (name, namespace,
 * uid, generation, resourceVersion, creationTimestamp), spec and status,
 * as compact JSON. Managed fields, annotations and the rest are left out:
 * they are most of an object's size and nothing reads them. 0 and a heap
 * string, -ENOMEM.
 */
static int object_keep(const cJSON *obj, char **ret)
{
	static const char *const md_keys[] = {"name",
	                                      "namespace",
	                                      "uid",
	                                      "generation",
	                                      "resourceVersion",
	                                      "creationTimestamp",
	                                      "deletionTimestamp"};
	static const char *const top_keys[] = {"apiVersion", "kind", "spec", "status"};
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *out = cJSON_CreateObject(), *omd = cJSON_CreateObject();
	char *text = NULL;
	bool bad = false;

	if (!out || !omd || !cJSON_AddItemToObject(out, "metadata", omd)) {
		cJSON_Delete(omd);
		cJSON_Delete(out);
		return -ENOMEM;
	}
	for (size_t i = 0; !bad && i < sizeof(md_keys) / sizeof(md_keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, md_keys[i]);
		cJSON *c;

		if (!v)
			continue;
		c = cJSON_Duplicate(v, true);
		if (!c || !cJSON_AddItemToObject(omd, md_keys[i], c)) {
			cJSON_Delete(c);
			bad = true;
		}
	}
	for (size_t i = 0; !bad && i < sizeof(top_keys) / sizeof(top_keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, top_keys[i]);
		cJSON *c;

		if (!v)
			continue;
		c = cJSON_Duplicate(v, true);
		if (!c || !cJSON_AddItemToObject(out, top_keys[i], c)) {
			cJSON_Delete(c);
			bad = true;
		}
	}
	if (!bad)
		text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}

int ls_kube_watch_event_parse(const char *line, size_t len, bool all_namespaces,
                              struct ls_kube_watch_event *ret, char *err, size_t errlen)
{
	return ls_kube_watch_event_parse_full(line, len, all_namespaces, false, ret, err, errlen);
}

int ls_kube_watch_event_parse_full(const char *line, size_t len, bool all_namespaces,
                                   bool keep_object, struct ls_kube_watch_event *ret, char *err,
                                   size_t errlen)
{
	struct ls_kube_watch_event ev;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const cJSON *obj, *md, *code;
	const char *type, *s;
	int64_t n;
	int r = -EPROTO;

	memset(&ev, 0, sizeof(ev));
	if (!j) {
		snprintf(err, errlen, "not JSON");
		return -EPROTO;
	}
	type = ls_kube_json_str(j, "type");
	obj = cJSON_GetObjectItemCaseSensitive(j, "object");
	if (!type || !cJSON_IsObject(obj)) {
		snprintf(err, errlen, "no type and object");
		goto out;
	}
	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
		if (strcmp(type, event_types[i].name) == 0)
			ev.type = event_types[i].type;
	switch (ev.type) {
	case LS_KUBE_WATCH_ERROR:
		code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		if (ls_kube_json_int(code, 0, 999, &n) == 0)
			ev.code = (int32_t)n;
		s = ls_kube_json_str(obj, "message");
		snprintf(ev.message, sizeof(ev.message), "%s", s ? s : "");
		break;
	case LS_KUBE_WATCH_BOOKMARK:
		md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		s = ls_kube_json_str(md, "resourceVersion");
		if (!s || !s[0] || strlen(s) >= sizeof(ev.resource_version)) {
			snprintf(err, errlen, "a BOOKMARK without a resourceVersion");
			goto out;
		}
		snprintf(ev.resource_version, sizeof(ev.resource_version), "%s", s);
		break;
	case LS_KUBE_WATCH_ADDED:
	case LS_KUBE_WATCH_MODIFIED:
	case LS_KUBE_WATCH_DELETED:
		md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		s = ls_kube_json_str(md, "name");
		if (!s || !s[0] || ls_kube_object_meta_parse(obj, &ev.meta) < 0) {
			snprintf(err, errlen, "a %s event without metadata.name or resourceVersion",
			         type);
			goto out;
		}
		snprintf(ev.resource_version, sizeof(ev.resource_version), "%s",
		         ev.meta.resource_version);
		r = ls_kube_watch_key(ls_kube_json_str(md, "namespace"), s, all_namespaces,
		                      &ev.key);
		if (r == 0 && keep_object && ev.type != LS_KUBE_WATCH_DELETED)
			r = object_keep(obj, &ev.object);
		if (r < 0) {
			free(ev.key);
			ev.key = NULL;
			goto out;
		}
		break;
	default:
		snprintf(err, errlen, "unknown event type \"%.40s\"", type);
		goto out;
	}
	*ret = ev;
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

void ls_kube_watch_event_release(struct ls_kube_watch_event *ev)
{
	free(ev->key);
	ev->key = NULL;
	cJSON_free(ev->object);
	ev->object = NULL;
}

/* --- the store ----------------------------------------------------------------- */

enum {
	SO_PAUSED = 0x01,
	SO_UID_TEXT = 0x02,  /* the uid is a string after the key */
	SO_RV_TEXT = 0x04,   /* the resourceVersion is a string after that */
	SO_PAUSE_ERR = 0x08, /* a pause error follows */
	SO_JSON = 0x10,      /* the object's JSON follows (a watch of whole objects) */
};

/* One object: fixed fields, then key\0 [uid\0] [rv\0] [pause_error\0] [json\0]. */
struct sobj {
	int64_t generation;
	uint64_t rv;
	uint8_t uid[16];
	int32_t paused_replicas;
	uint32_t hash;
	uint8_t flags;
	char str[];
};

struct ls_kube_store {
	struct sobj **slot;
	size_t cap; /* a power of two, or 0 */
	size_t n;
	size_t bytes; /* of the entries */
};

static uint32_t hash_key(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A canonical lowercase UUID (8-4-4-4-12) into 16 bytes. */
static bool uuid_parse(const char *s, uint8_t out[16])
{
	size_t o = 0;

	if (strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return o == 16;
}

static void uuid_format(const uint8_t u[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	/* By hand: this runs on every lookup. */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

/* A decimal resourceVersion without leading zeros, as a number. */
static bool rv_parse(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

static struct sobj *sobj_new(const char *key, uint32_t hash, const struct ls_kube_object_meta *m,
                             const char *json, size_t *ret_size)
{
	struct sobj *o;
	uint8_t uid[16];
	uint64_t rv = 0;
	bool uid_bin = uuid_parse(m->uid, uid), rv_num = rv_parse(m->resource_version, &rv);
	size_t klen = strlen(key), ulen = uid_bin ? 0 : strlen(m->uid) + 1,
	       rlen = rv_num ? 0 : strlen(m->resource_version) + 1,
	       plen = m->pause_error[0] ? strlen(m->pause_error) + 1 : 0,
	       jlen = json ? strlen(json) + 1 : 0;
	size_t size = offsetof(struct sobj, str) + klen + 1 + ulen + rlen + plen + jlen;
	char *p;

	o = malloc(size);
	if (!o)
		return NULL;
	memset(o, 0, offsetof(struct sobj, str));
	o->generation = m->generation;
	o->rv = rv;
	if (uid_bin)
		memcpy(o->uid, uid, sizeof(uid));
	o->paused_replicas = m->paused_replicas;
	o->hash = hash;
	o->flags = (uint8_t)((m->paused ? SO_PAUSED : 0) | (uid_bin ? 0 : SO_UID_TEXT) |
	                     (rv_num ? 0 : SO_RV_TEXT) | (plen ? SO_PAUSE_ERR : 0) |
	                     (jlen ? SO_JSON : 0));
	p = o->str;
	memcpy(p, key, klen + 1);
	p += klen + 1;
	if (ulen) {
		memcpy(p, m->uid, ulen);
		p += ulen;
	}
	if (rlen) {
		memcpy(p, m->resource_version, rlen);
		p += rlen;
	}
	if (plen) {
		memcpy(p, m->pause_error, plen);
		p += plen;
	}
	if (jlen)
		memcpy(p, json, jlen);
	*ret_size = size;
	return o;
}

static size_t sobj_size(const struct sobj *o)
{
	const char *p = o->str;
	size_t n = strlen(p) + 1;

	for (int f = SO_UID_TEXT; f <= SO_JSON; f <<= 1)
		if (o->flags & f)
			n += strlen(p + n) + 1;
	return offsetof(struct sobj, str) + n;
}

static void sobj_meta(const struct sobj *o, struct ls_kube_object_meta *m)
{
	const char *p = o->str + strlen(o->str) + 1;

	memset(m, 0, sizeof(*m));
	m->generation = o->generation;
	m->paused = (o->flags & SO_PAUSED) != 0;
	m->paused_replicas = o->paused_replicas;
	if (o->flags & SO_UID_TEXT) {
		snprintf(m->uid, sizeof(m->uid), "%s", p);
		p += strlen(p) + 1;
	} else {
		uuid_format(o->uid, m->uid);
	}
	if (o->flags & SO_RV_TEXT) {
		snprintf(m->resource_version, sizeof(m->resource_version), "%s", p);
		p += strlen(p) + 1;
	} else {
		char digits[24];
		size_t n = 0;
		uint64_t v = o->rv;

		do {
			digits[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		for (size_t i = 0; i < n; i++)
			m->resource_version[i] = digits[n - 1 - i];
		m->resource_version[n] = '\0';
	}
	if (o->flags & SO_PAUSE_ERR)
		snprintf(m->pause_error, sizeof(m->pause_error), "%s", p);
}

/* The object's JSON kept with o, or NULL. */
static const char *sobj_json(const struct sobj *o)
{
	const char *p = o->str;

	if (!(o->flags & SO_JSON))
		return NULL;
	p += strlen(p) + 1;
	for (int f = SO_UID_TEXT; f <= SO_PAUSE_ERR; f <<= 1)
		if (o->flags & f)
			p += strlen(p) + 1;
	return p;
}

static bool meta_equal(const struct ls_kube_object_meta *a, const struct ls_kube_object_meta *b)
{
	return a->generation == b->generation && a->paused == b->paused &&
	       a->paused_replicas == b->paused_replicas && strcmp(a->uid, b->uid) == 0 &&
	       strcmp(a->resource_version, b->resource_version) == 0 &&
	       strcmp(a->pause_error, b->pause_error) == 0;
}

int ls_kube_store_new(struct ls_kube_store **ret)
{
	struct ls_kube_store *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	*ret = st;
	return 0;
}

void ls_kube_store_free(struct ls_kube_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->cap; i++)
		free(st->slot[i]);
	free(st->slot);
	free(st);
}

/* The slot of key, or SIZE_MAX. */
static size_t store_find(const struct ls_kube_store *st, const char *key, uint32_t h)
{
	size_t mask = st->cap - 1;

	if (!st->cap)
		return SIZE_MAX;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct sobj *o = st->slot[i];

		if (!o)
			return SIZE_MAX;
		if (o->hash == h && strcmp(o->str, key) == 0)
			return i;
	}
}

static int store_grow(struct ls_kube_store *st)
{
	size_t cap = st->cap ? st->cap * 2 : 16, mask = cap - 1;
	struct sobj **slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++) {
		struct sobj *o = st->slot[i];
		size_t j;

		if (!o)
			continue;
		for (j = o->hash & mask; slot[j]; j = (j + 1) & mask)
			;
		slot[j] = o;
	}
	free(st->slot);
	st->slot = slot;
	st->cap = cap;
	return 0;
}

int ls_kube_store_put(struct ls_kube_store *st, const char *key,
                      const struct ls_kube_object_meta *m)
{
	return ls_kube_store_put_object(st, key, m, NULL);
}

int ls_kube_store_put_object(struct ls_kube_store *st, const char *key,
                             const struct ls_kube_object_meta *m, const char *json)
{
	uint32_t h = hash_key(key);
	size_t i = store_find(st, key, h), size;
	struct sobj *o;

	if (i != SIZE_MAX) {
		struct ls_kube_object_meta old;

		const char *oj = sobj_json(st->slot[i]);

		sobj_meta(st->slot[i], &old);
		if (meta_equal(&old, m) && ((!oj && !json) || (oj && json && strcmp(oj, json) == 0)))
			return 0;
	} else if ((st->n + 1) * 4 > st->cap * 3 && store_grow(st) < 0) {
		return -ENOMEM;
	}
	o = sobj_new(key, h, m, json, &size);
	if (!o)
		return -ENOMEM;
	if (i != SIZE_MAX) {
		st->bytes -= sobj_size(st->slot[i]);
		free(st->slot[i]);
		st->slot[i] = o;
	} else {
		size_t mask = st->cap - 1;

		for (i = h & mask; st->slot[i]; i = (i + 1) & mask)
			;
		st->slot[i] = o;
		st->n++;
	}
	st->bytes += size;
	return 1;
}

int ls_kube_store_delete(struct ls_kube_store *st, const char *key)
{
	size_t i = store_find(st, key, hash_key(key)), j, mask = st->cap - 1;

	if (i == SIZE_MAX)
		return 0;
	st->bytes -= sobj_size(st->slot[i]);
	free(st->slot[i]);
	st->slot[i] = NULL;
	st->n--;
	/* Backward-shift deletion: move up every entry of the run that
	 * follows whose home slot is not between the hole and itself, so
	 * lookups never meet a hole before their key (no tombstones). */
	for (j = i;;) {
		struct sobj *o;
		size_t home;

		j = (j + 1) & mask;
		o = st->slot[j];
		if (!o)
			break;
		home = o->hash & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		st->slot[i] = o;
		st->slot[j] = NULL;
		i = j;
	}
	return 1;
}

int ls_kube_store_get(const struct ls_kube_store *st, const char *key,
                      struct ls_kube_object_meta *ret)
{
	size_t i = store_find(st, key, hash_key(key));

	if (i == SIZE_MAX)
		return -ENOENT;
	sobj_meta(st->slot[i], ret);
	return 0;
}

int ls_kube_store_get_object(const struct ls_kube_store *st, const char *key,
                             struct ls_kube_object_meta *ret, char **ret_json)
{
	size_t i = store_find(st, key, hash_key(key));
	const char *j;
	char *copy = NULL;

	if (i == SIZE_MAX)
		return -ENOENT;
	j = sobj_json(st->slot[i]);
	if (j && !(copy = strdup(j)))
		return -ENOMEM;
	sobj_meta(st->slot[i], ret);
	*ret_json = copy;
	return 0;
}

int ls_kube_store_each(const struct ls_kube_store *st, ls_kube_store_each_fn fn, void *ud)
{
	for (size_t i = 0; st && i < st->cap; i++) {
		const struct sobj *o = st->slot[i];
		struct ls_kube_object_meta m;
		int r;

		if (!o)
			continue;
		sobj_meta(o, &m);
		r = fn(ud, o->str, &m, sobj_json(o));
		if (r < 0)
			return r;
	}
	return 0;
}

size_t ls_kube_store_count(const struct ls_kube_store *st)
{
	return st ? st->n : 0;
}

size_t ls_kube_store_bytes(const struct ls_kube_store *st)
{
	return sizeof(*st) + st->cap * sizeof(*st->slot) + st->bytes;
}

/* --- LIST pages ----------------------------------------------------------------- */

int ls_kube_watch_list_page(const char *body, size_t len, bool all_namespaces,
                            struct ls_kube_store *st, char *ret_rv, size_t rvlen,
                            char **ret_continue, char *err, size_t errlen)
{
	return ls_kube_watch_list_page_full(body, len, all_namespaces, false, st, ret_rv, rvlen,
	                                    ret_continue, err, errlen);
}

int ls_kube_watch_list_page_full(const char *body, size_t len, bool all_namespaces,
                                 bool keep_objects, struct ls_kube_store *st, char *ret_rv,
                                 size_t rvlen, char **ret_continue, char *err, size_t errlen)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *items, *md, *it;
	const char *rv, *cont;
	char *cont_copy = NULL;
	int r = -EPROTO;

	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen, "the answer to a LIST is not a JSON object");
		goto out;
	}
	md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	rv = ls_kube_json_str(md, "resourceVersion");
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	/* An empty list may come as "items": null. */
	if (!rv || !rv[0] || strlen(rv) >= rvlen ||
	    (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
		snprintf(err, errlen, "the answer to a LIST is not a List with a resourceVersion");
		goto out;
	}
	if (!cJSON_IsArray(items))
		items = NULL;
	cJSON_ArrayForEach(it, items)
	{
		const cJSON *imd = cJSON_GetObjectItemCaseSensitive(it, "metadata");
		const char *name = ls_kube_json_str(imd, "name");
		struct ls_kube_object_meta m;
		char *key = NULL, *json = NULL;

		if (!name || !name[0] || ls_kube_object_meta_parse(it, &m) < 0) {
			snprintf(err, errlen,
			         "an item of a LIST has no metadata.name or resourceVersion");
			r = -EPROTO;
			goto out;
		}
		r = ls_kube_watch_key(ls_kube_json_str(imd, "namespace"), name, all_namespaces,
		                      &key);
		if (r == 0 && keep_objects)
			r = object_keep(it, &json);
		if (r == 0)
			r = ls_kube_store_put_object(st, key, &m, json);
		free(key);
		cJSON_free(json);
		if (r < 0)
			goto out;
	}
	cont = ls_kube_json_str(md, "continue");
	if (cont && cont[0] && !(cont_copy = strdup(cont))) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(ret_rv, rvlen, "%s", rv);
	*ret_continue = cont_copy;
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

/* --- the informer ----------------------------------------------------------------- */

enum phase {
	PH_IDLE,     /* waiting for next_ms to LIST (need_list) or WATCH */
	PH_LISTING,  /* a LIST page is in flight */
	PH_WATCHING, /* a WATCH is in flight */
};

struct watch {
	struct ls_kube_informer *inf;
	char *api_version;
	char *kind;
	char *namespace_; /* "" for every namespace */
	char *desc;       /* for messages: Deployment (apps/v1) in "shop" */
	bool all_ns;
	unsigned flags; /* LS_KUBE_WATCH_OBJECTS, LS_KUBE_WATCH_ANY_KIND */
	uint32_t key_hash; /* of the three above, for lookups among many watches */

	/* Shared: under inf->mu. */
	bool removed;
	struct ls_kube_store *store; /* NULL until the first LIST completed */
	int64_t stale_since_ms;
	char errmsg[512];

	/* The thread's alone. */
	enum phase phase;
	char *path; /* the collection, from discovery */
	bool need_list;
	char rv[LS_KUBE_RV_MAX]; /* where the next WATCH starts */
	int64_t next_ms;
	bool blocked; /* due, but LS_KUBE_INFORMER_MAX_LISTS are listing */
	int64_t last_relist_ms;
	struct ls_backoff bo;
	bool failing;   /* a failure was logged and no recovery yet */
	bool refreshed; /* the credential was fetched again after a 401 */
	/* A LIST in progress, page by page. */
	struct ls_kube_store *pending;
	char *cont;
	int limit;
	size_t pages;
	/* The transfer in flight. */
	CURL *easy;
	struct curl_slist *headers;
	char *req_path; /* for messages: the path, query included */
	char curl_err[CURL_ERROR_SIZE];
	long status;
	bool established;
	char retry_after[64];
	struct ls_buf body; /* a LIST page, or a failed response's Status */
	bool body_too_big;
	struct ls_kube_watch_stream stream;
	int stream_err;
	char stream_msg[320];
	int64_t started_ms;
	uint64_t stream_events;
};

struct ls_kube_informer {
	const struct ls_kube_config *kc;
	struct ls_kube_informer_options opts;
	struct ls_kube *k; /* the thread's: discovery, credentials */
	CURLM *multi;
	volatile sig_atomic_t abort_io; /* aborts k's request in flight on _free */
	uint64_t rng;
	pthread_t thread;
	bool started;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* changes moved */
	bool stop;
	struct watch **w; /* the watches; removed ones until the thread frees them */
	size_t n, alloc;
	uint64_t changes;
	struct ls_kube_informer_stats st;
};

static bool ext_stopped(const struct ls_kube_informer *inf)
{
	return inf->opts.stop && *inf->opts.stop;
}

/* Under mu. */
static void bump_changes(struct ls_kube_informer *inf)
{
	inf->changes++;
	pthread_cond_broadcast(&inf->cv);
}

static void watch_free(struct watch *w)
{
	if (!w)
		return;
	free(w->api_version);
	free(w->kind);
	free(w->namespace_);
	free(w->desc);
	free(w->path);
	free(w->cont);
	free(w->req_path);
	ls_kube_store_free(w->store);
	ls_kube_store_free(w->pending);
	ls_buf_release(&w->body);
	ls_kube_watch_stream_release(&w->stream);
	free(w);
}

static const char *ns_or_empty(const char *ns)
{
	return ns ? ns : "";
}

static uint32_t watch_hash(const char *api_version, const char *kind, const char *namespace_)
{
	const char *parts[] = {api_version, kind, namespace_};
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		h = (h ^ 0xff) * 16777619u; /* a separator no name holds */
	}
	return h;
}

static struct watch *watch_new(struct ls_kube_informer *inf, const char *api_version,
                               const char *kind, const char *namespace_)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct ls_buf desc;
	int r;

	if (!w)
		return NULL;
	w->inf = inf;
	ls_buf_init(&w->body, LS_KUBE_MAX_BODY);
	ls_kube_watch_stream_init(&w->stream, LS_KUBE_WATCH_MAX_EVENT);
	w->api_version = strdup(api_version);
	w->kind = strdup(kind);
	w->namespace_ = strdup(namespace_);
	if (!w->api_version || !w->kind || !w->namespace_)
		goto fail;
	w->all_ns = !namespace_[0];
	w->key_hash = watch_hash(api_version, kind, namespace_);
	ls_buf_init(&desc, 0);
	if (w->all_ns)
		r = ls_buf_printf(&desc, "%s (%s) in all namespaces", kind, api_version);
	else
		r = ls_buf_printf(&desc, "%s (%s) in \"%s\"", kind, api_version, namespace_);
	w->desc = r < 0 ? NULL : ls_buf_steal(&desc);
	ls_buf_release(&desc);
	if (!w->desc)
		goto fail;
	w->need_list = true;
	w->limit = LS_KUBE_LIST_PAGE;
	ls_backoff_init(&w->bo, BACKOFF_BASE_MS, inf->opts.resync_backoff_max_ms,
	                inf->rng ^ (uint64_t)(uintptr_t)w);
	inf->rng = inf->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return w;
fail:
	watch_free(w);
	return NULL;
}

int ls_kube_informer_new(const struct ls_kube_config *kc, const struct ls_kube_informer_options *o,
                         struct ls_kube_informer **ret)
{
	struct ls_kube_informer *inf;
	struct ls_kube_options ko = {0};
	pthread_condattr_t ca;
	int r = -ENOMEM;

	if (!kc)
		return -EINVAL;
	inf = calloc(1, sizeof(*inf));
	if (!inf)
		return -ENOMEM;
	inf->kc = kc;
	if (o)
		inf->opts = *o;
	if (inf->opts.resync_backoff_max_ms <= 0)
		inf->opts.resync_backoff_max_ms = BACKOFF_MAX_MS;
	if (inf->opts.resync_backoff_max_ms < BACKOFF_BASE_MS)
		inf->opts.resync_backoff_max_ms = BACKOFF_BASE_MS;
	inf->rng = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)(uintptr_t)inf << 7) ^
	           (uint64_t)ls_clock_mono_ms();
	pthread_mutex_init(&inf->mu, NULL);
	/* The waits use the monotonic clock: a wall-clock step must not
	 * shorten or stretch them. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->cv, &ca);
	pthread_condattr_destroy(&ca);
	ko.stop = &inf->abort_io;
	if ((r = ls_kube_new(kc, &ko, &inf->k)) < 0)
		goto fail;
	r = -ENOMEM;
	inf->multi = curl_multi_init();
	if (!inf->multi)
		goto fail;
	/* Over HTTP/2 the watches are streams of one connection. */
	curl_multi_setopt(inf->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*ret = inf;
	return 0;
fail:
	ls_kube_informer_free(inf);
	return r;
}

/* Under mu: the watch of exactly this key that is not removed. */
static struct watch *find_watch(struct ls_kube_informer *inf, const char *api_version,
                                const char *kind, const char *namespace_)
{
	uint32_t h;

	namespace_ = ns_or_empty(namespace_);
	h = watch_hash(api_version, kind, namespace_);
	for (size_t i = 0; i < inf->n; i++) {
		struct watch *w = inf->w[i];

		if (w->key_hash == h && !w->removed && strcmp(w->namespace_, namespace_) == 0 &&
		    strcmp(w->kind, kind) == 0 && strcmp(w->api_version, api_version) == 0)
			return w;
	}
	return NULL;
}

int ls_kube_informer_add(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                         const char *namespace_)
{
	return ls_kube_informer_add_flags(inf, api_version, kind, namespace_, 0);
}

int ls_kube_informer_add_flags(struct ls_kube_informer *inf, const char *api_version,
                               const char *kind, const char *namespace_, unsigned flags)
{
	struct watch *w;
	int r = 0;

	if (!api_version || !api_version[0] || !kind || !kind[0])
		return -EINVAL;
	pthread_mutex_lock(&inf->mu);
	if (find_watch(inf, api_version, kind, namespace_))
		goto out;
	if (inf->n == inf->alloc) {
		size_t na = inf->alloc ? inf->alloc * 2 : 8;
		struct watch **v = realloc(inf->w, na * sizeof(*v));

		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		inf->w = v;
		inf->alloc = na;
	}
	w = watch_new(inf, api_version, kind, ns_or_empty(namespace_));
	if (!w) {
		r = -ENOMEM;
		goto out;
	}
	w->flags = flags;
	inf->w[inf->n++] = w;
out:
	pthread_mutex_unlock(&inf->mu);
	/* The thread starts the new watch's LIST at once. */
	if (r == 0)
		curl_multi_wakeup(inf->multi);
	return r;
}

int ls_kube_informer_remove(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                            const char *namespace_)
{
	struct watch *w;

	if (!api_version || !kind)
		return -ENOENT;
	pthread_mutex_lock(&inf->mu);
	w = find_watch(inf, api_version, kind, namespace_);
	if (w) {
		w->removed = true;
		bump_changes(inf);
	}
	pthread_mutex_unlock(&inf->mu);
	if (!w)
		return -ENOENT;
	curl_multi_wakeup(inf->multi);
	return 0;
}

size_t ls_kube_informer_retain(struct ls_kube_informer *inf, const struct ls_kube_watch_key *keys,
                               size_t n)
{
	size_t removed = 0;

	pthread_mutex_lock(&inf->mu);
	for (size_t i = 0; i < inf->n; i++) {
		struct watch *w = inf->w[i];
		bool keep = false;

		if (w->removed)
			continue;
		for (size_t j = 0; j < n && !keep; j++)
			keep = keys[j].api_version && keys[j].kind &&
			       strcmp(w->api_version, keys[j].api_version) == 0 &&
			       strcmp(w->kind, keys[j].kind) == 0 &&
			       strcmp(w->namespace_, ns_or_empty(keys[j].namespace_)) == 0;
		if (!keep) {
			w->removed = true;
			removed++;
		}
	}
	if (removed)
		bump_changes(inf);
	pthread_mutex_unlock(&inf->mu);
	if (removed)
		curl_multi_wakeup(inf->multi);
	return removed;
}

/* --- the thread: transfers -------------------------------------------------------- */

static void watch_established(struct watch *w);

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct watch *w = ud;
	size_t len = size * n;
	static const char ra[] = "retry-after:";

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A status line: "HTTP/1.1 200 OK", "HTTP/2 200". */
		const char *sp = memchr(p, ' ', len);
		long code = 0;

		for (sp = sp ? sp + 1 : p + len; sp < p + len && isdigit((unsigned char)*sp); sp++)
			code = code * 10 + (*sp - '0');
		w->status = code;
		w->retry_after[0] = '\0';
	} else if (len > sizeof(ra) - 1 && strncasecmp(p, ra, sizeof(ra) - 1) == 0) {
		size_t vlen = len - (sizeof(ra) - 1);

		if (vlen >= sizeof(w->retry_after))
			vlen = sizeof(w->retry_after) - 1;
		memcpy(w->retry_after, p + sizeof(ra) - 1, vlen);
		w->retry_after[vlen] = '\0';
	} else if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
		/* The end of a response's headers: an idle watch may send no
		 * byte of body for minutes, so this is when it is established. */
		if (w->phase == PH_WATCHING && w->status == 200 && !w->established)
			watch_established(w);
	}
	return len;
}

static int on_line(void *ud, const char *line, size_t len)
{
	struct watch *w = ud;
	struct ls_kube_informer *inf = w->inf;
	struct ls_kube_watch_event ev;
	char err[200];
	int r;

	r = ls_kube_watch_event_parse_full(line, len, w->all_ns, (w->flags & LS_KUBE_WATCH_OBJECTS) != 0,
	                                   &ev, err, sizeof(err));
	if (r < 0) {
		snprintf(w->stream_msg, sizeof(w->stream_msg),
		         "the watch stream sent what is not a WatchEvent: %s", err);
		return r;
	}
	w->stream_events++;
	pthread_mutex_lock(&inf->mu);
	inf->st.events++;
	switch (ev.type) {
	case LS_KUBE_WATCH_ADDED:
	case LS_KUBE_WATCH_MODIFIED:
		r = ls_kube_store_put_object(w->store, ev.key, &ev.meta, ev.object);
		if (r > 0)
			bump_changes(inf);
		break;
	case LS_KUBE_WATCH_DELETED:
		if (ls_kube_store_delete(w->store, ev.key) > 0)
			bump_changes(inf);
		break;
	case LS_KUBE_WATCH_BOOKMARK:
		inf->st.bookmarks++;
		break;
	case LS_KUBE_WATCH_ERROR:
		break;
	}
	pthread_mutex_unlock(&inf->mu);
	if (r == -ENOMEM) {
		snprintf(w->stream_msg, sizeof(w->stream_msg), "out of memory for the objects");
	} else if (ev.type == LS_KUBE_WATCH_ERROR) {
		snprintf(w->stream_msg, sizeof(w->stream_msg), "%s (code %d)",
		         ev.message[0] ? ev.message : "the watch ended with an error", ev.code);
		r = ev.code == 410 ? -ESTALE : -EIO;
	} else {
		r = 0;
		snprintf(w->rv, sizeof(w->rv), "%s", ev.resource_version);
	}
	ls_kube_watch_event_release(&ev);
	return r;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct watch *w = ud;
	size_t len = size * n;
	int r;

	if (w->phase == PH_LISTING || w->status != 200) {
		if (w->status == 200) {
			if (ls_buf_append(&w->body, p, len) < 0) {
				w->body_too_big = true;
				return 0;
			}
		} else if (w->body.len + len <= ERR_BODY_MAX) {
			/* A Status: its message is what matters; a longer
			 * error body is cut, not refused. */
			ls_buf_append(&w->body, p, len);
		}
		return len;
	}
	r = ls_kube_watch_stream_feed(&w->stream, p, len, on_line, w);
	if (r < 0) {
		if (!w->stream_err)
			w->stream_err = r;
		return 0; /* ends the transfer */
	}
	return len;
}

/* Starts a GET of path on a handle of the watch's own. */
static int begin_transfer(struct ls_kube_informer *inf, struct watch *w, char *path, bool watch_req,
                          int64_t timeout_ms)
{
	struct ls_kube_call c = {
	    .method = "GET", .path = path, .accept = watch_req ? ACCEPT_WATCH : ACCEPT_LIST};

	/* Whole objects: the API's own JSON, not PartialObjectMetadata. */
	if (w->flags & LS_KUBE_WATCH_OBJECTS)
		c.accept = "application/json";
	CURL *h = curl_easy_init();
	int r;

	if (!h) {
		free(path);
		ls_kube_set_errmsg(inf->k, "out of memory");
		return -ENOMEM;
	}
	r = ls_kube_easy_setup(inf->k, h, &c, timeout_ms, &w->headers);
	if (r < 0) {
		curl_easy_cleanup(h);
		free(path);
		return r;
	}
	curl_easy_setopt(h, CURLOPT_PRIVATE, w);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->curl_err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	/* Wait for a connection being set up rather than open another, so
	 * that the watches share one HTTP/2 connection. */
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	if (watch_req) {
		/* A connection that died silently is noticed in about a minute. */
		curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	}
	w->curl_err[0] = '\0';
	w->status = 0;
	w->established = false;
	w->retry_after[0] = '\0';
	ls_buf_reset(&w->body);
	w->body_too_big = false;
	ls_kube_watch_stream_reset(&w->stream);
	w->stream_err = 0;
	w->stream_msg[0] = '\0';
	w->stream_events = 0;
	w->started_ms = ls_clock_mono_ms();
	w->phase = watch_req ? PH_WATCHING : PH_LISTING;
	if (curl_multi_add_handle(inf->multi, h) != CURLM_OK) {
		w->phase = PH_IDLE;
		curl_easy_cleanup(h);
		ls_kube_free_headers(w->headers);
		w->headers = NULL;
		free(path);
		ls_kube_set_errmsg(inf->k, "out of memory");
		return -ENOMEM;
	}
	w->easy = h;
	free(w->req_path);
	w->req_path = path;
	pthread_mutex_lock(&inf->mu);
	if (watch_req)
		inf->st.watches++;
	else
		inf->st.lists++;
	pthread_mutex_unlock(&inf->mu);
	return 0;
}

static int start_list(struct ls_kube_informer *inf, struct watch *w)
{
	struct ls_buf b;
	char *esc = NULL;
	int r;

	if (!w->pending) {
		if ((r = ls_kube_store_new(&w->pending)) < 0)
			return r;
		free(w->cont);
		w->cont = NULL;
		w->pages = 0;
	}
	ls_buf_init(&b, 0);
	r = ls_buf_printf(&b, "%s?limit=%d", w->path, w->limit);
	if (r == 0 && w->cont) {
		esc = curl_easy_escape(NULL, w->cont, 0);
		r = esc ? ls_buf_printf(&b, "&continue=%s", esc) : -ENOMEM;
	}
	curl_free(esc);
	if (r < 0) {
		ls_buf_release(&b);
		ls_kube_set_errmsg(inf->k, "out of memory");
		return r;
	}
	return begin_transfer(inf, w, ls_buf_steal(&b), false, LIST_TIMEOUT_MS);
}

static int start_watch(struct ls_kube_informer *inf, struct watch *w)
{
	struct ls_buf b;
	char *esc;
	int32_t t = inf->opts.watch_timeout_s;
	int r;

	if (t <= 0)
		t = WATCH_MIN_TIMEOUT_S +
		    (int32_t)ls_rand_below(&w->bo.rng, (uint64_t)WATCH_MIN_TIMEOUT_S);
	esc = curl_easy_escape(NULL, w->rv, 0);
	ls_buf_init(&b, 0);
	r = esc ? ls_buf_printf(&b,
	                        "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
	                        "&timeoutSeconds=%d",
	                        w->path, esc, (int)t)
	        : -ENOMEM;
	curl_free(esc);
	if (r < 0) {
		ls_buf_release(&b);
		ls_kube_set_errmsg(inf->k, "out of memory");
		return r;
	}
	return begin_transfer(inf, w, ls_buf_steal(&b), true, (int64_t)t * 1000 + WATCH_SLACK_MS);
}

/* The path of the request in flight without its query, for messages. */
static int path_len(const struct watch *w)
{
	const char *q = w->req_path ? strchr(w->req_path, '?') : NULL;

	if (!w->req_path)
		return 0;
	return q ? (int)(q - w->req_path) : (int)strlen(w->req_path);
}

static void fail(struct ls_kube_informer *inf, struct watch *w, int64_t delay_ms, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/*
 * The watch failed: records why, marks its store stale, logs the first
 * failure of a streak, and schedules the next attempt after the backoff
 * (or delay_ms, when >= 0: a Retry-After).
 */
static void fail(struct ls_kube_informer *inf, struct watch *w, int64_t delay_ms, const char *fmt,
                 ...)
{
	int64_t now = ls_clock_mono_ms(), d;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&inf->mu);
	snprintf(w->errmsg, sizeof(w->errmsg), "%s", msg);
	if (w->store && !w->stale_since_ms)
		w->stale_since_ms = now;
	inf->st.failures++;
	if (!w->failing)
		bump_changes(inf);
	/* The cap may have changed since (ls_kube_informer_set_backoff_max). */
	w->bo.max_ms = inf->opts.resync_backoff_max_ms;
	pthread_mutex_unlock(&inf->mu);
	d = ls_backoff_next(&w->bo);
	if (delay_ms >= 0)
		d = delay_ms < RETRY_AFTER_MAX_MS ? delay_ms : RETRY_AFTER_MAX_MS;
	if (!w->failing) {
		ls_log(LS_LOG_WARN, NULL, "watch of %s failed: %s; retrying", w->desc, msg);
		w->failing = true;
	} else {
		ls_log(LS_LOG_DEBUG, NULL, "watch of %s failed again: %s; retrying in %lld ms",
		       w->desc, msg, (long long)d);
	}
	w->phase = PH_IDLE;
	w->next_ms = now + d;
	/* The next attempt may fetch the credential again after a 401. */
	w->refreshed = false;
}

static void watch_established(struct watch *w)
{
	struct ls_kube_informer *inf = w->inf;

	w->established = true;
	pthread_mutex_lock(&inf->mu);
	w->stale_since_ms = 0;
	w->errmsg[0] = '\0';
	if (w->failing)
		bump_changes(inf);
	pthread_mutex_unlock(&inf->mu);
	ls_backoff_reset(&w->bo);
	w->refreshed = false;
	if (w->failing) {
		ls_log(LS_LOG_INFO, NULL, "watch of %s works again", w->desc);
		w->failing = false;
	} else {
		ls_log(LS_LOG_DEBUG, NULL, "kube: watching %s from resourceVersion %s", w->desc,
		       w->rv);
	}
}

static void mark_stale(struct ls_kube_informer *inf, struct watch *w, int64_t now)
{
	pthread_mutex_lock(&inf->mu);
	if (w->store && !w->stale_since_ms)
		w->stale_since_ms = now;
	pthread_mutex_unlock(&inf->mu);
}

/* The resourceVersion is gone (410): LIST again, at once unless it was
 * just done. */
static void relist(struct ls_kube_informer *inf, struct watch *w, const char *why)
{
	int64_t now = ls_clock_mono_ms();

	pthread_mutex_lock(&inf->mu);
	inf->st.relists++;
	pthread_mutex_unlock(&inf->mu);
	ls_log(LS_LOG_DEBUG, NULL,
	       "kube: watch of %s: resourceVersion %s is gone (%s); listing again", w->desc, w->rv,
	       why);
	w->need_list = true;
	w->phase = PH_IDLE;
	w->next_ms = now - w->last_relist_ms < RELIST_GAP_MS ? now + ls_backoff_next(&w->bo) : now;
	w->last_relist_ms = now;
}

/* A transfer that did not end with a 200 and a good body. */
static void http_failure(struct ls_kube_informer *inf, struct watch *w, CURLcode rc, long status)
{
	const char *verb = w->phase == PH_WATCHING ? "WATCH" : "LIST";
	struct ls_kube_call c = {.method = "GET", .path = w->req_path};
	int64_t delay = -1;
	int r;

	if (rc != CURLE_OK) {
		r = ls_kube_curl_errno(rc);
		fail(inf, w, -1, "%s %.*s: %s%s", verb, path_len(w), w->req_path,
		     r == -EPROTO ? "TLS: " : "",
		     w->curl_err[0] ? w->curl_err : curl_easy_strerror(rc));
		return;
	}
	if (status == 401 && !w->refreshed && ls_kube_creds_refreshable(inf->k)) {
		/* The token may have rotated: fetch it again and retry once. */
		w->refreshed = true;
		r = ls_kube_refresh_creds(inf->k);
		if (r == 0) {
			ls_log(LS_LOG_DEBUG, NULL,
			       "kube: watch of %s: 401, credential fetched again", w->desc);
			w->phase = PH_IDLE;
			w->next_ms = ls_clock_mono_ms();
			return;
		}
		fail(inf, w, -1, "%s", ls_kube_errmsg(inf->k));
		return;
	}
	/* The API's Status message (or the status line) into errmsg. */
	(void)ls_kube_status_error(inf->k, &c, status, w->body.data, w->body.len);
	if ((status == 429 || status == 503) && w->retry_after[0] &&
	    ls_kube_parse_retry_after(w->retry_after, ls_clock_wall_ms(), &delay) < 0)
		delay = -1;
	fail(inf, w, delay, "%s", ls_kube_errmsg(inf->k));
}

static void drop_pending(struct watch *w)
{
	ls_kube_store_free(w->pending);
	w->pending = NULL;
	free(w->cont);
	w->cont = NULL;
}

static void list_done(struct ls_kube_informer *inf, struct watch *w, CURLcode rc, long status)
{
	struct ls_kube_store *old;
	char rv[LS_KUBE_RV_MAX], err[200], *cont = NULL;
	int64_t now = ls_clock_mono_ms();
	int r;

	if (rc == CURLE_WRITE_ERROR && w->body_too_big) {
		if (w->limit > 1) {
			/* Large objects (annotations): ask for fewer. */
			w->limit /= 2;
			ls_log(LS_LOG_DEBUG, NULL,
			       "kube: a LIST page of %s is over %d bytes; asking for %d objects",
			       w->desc, LS_KUBE_MAX_BODY, w->limit);
			w->phase = PH_IDLE;
			w->next_ms = now;
			return;
		}
		drop_pending(w);
		fail(inf, w, -1, "LIST %.*s: an object is larger than %d bytes", path_len(w),
		     w->req_path, LS_KUBE_MAX_BODY);
		return;
	}
	if (rc != CURLE_OK || status != 200) {
		if (rc == CURLE_OK && status == 410 && w->cont) {
			/* The continue token expired (the list took too long):
			 * start the list again. */
			ls_log(LS_LOG_DEBUG, NULL, "kube: LIST of %s: continue token expired",
			       w->desc);
			drop_pending(w);
			w->phase = PH_IDLE;
			w->next_ms = now;
			return;
		}
		drop_pending(w);
		http_failure(inf, w, rc, status);
		return;
	}
	r = ls_kube_watch_list_page_full(w->body.data ? w->body.data : "", w->body.len, w->all_ns,
	                                 (w->flags & LS_KUBE_WATCH_OBJECTS) != 0, w->pending, rv,
	                                 sizeof(rv), &cont, err, sizeof(err));
	if (r < 0) {
		drop_pending(w);
		fail(inf, w, -1, "LIST %.*s: %s", path_len(w), w->req_path,
		     r == -ENOMEM ? "out of memory" : err);
		return;
	}
	w->pages++;
	w->refreshed = false;
	free(w->cont);
	w->cont = cont;
	w->phase = PH_IDLE;
	w->next_ms = now;
	if (cont)
		return; /* the next page, at once */
	/* The whole list: it replaces the store at once. */
	pthread_mutex_lock(&inf->mu);
	old = w->store;
	w->store = w->pending;
	w->errmsg[0] = '\0';
	if (!w->stale_since_ms)
		w->stale_since_ms = now; /* current once the watch is established */
	bump_changes(inf);
	pthread_mutex_unlock(&inf->mu);
	ls_log(LS_LOG_DEBUG, NULL,
	       "kube: listed %s: %zu objects in %zu page(s), resourceVersion %s", w->desc,
	       ls_kube_store_count(w->pending), w->pages, rv);
	w->pending = NULL;
	ls_kube_store_free(old);
	snprintf(w->rv, sizeof(w->rv), "%s", rv);
	w->need_list = false;
	w->limit = LS_KUBE_LIST_PAGE;
	/* A page may need up to LS_KUBE_MAX_BODY: do not keep it. */
	ls_buf_release(&w->body);
}

static void watch_done(struct ls_kube_informer *inf, struct watch *w, CURLcode rc, long status)
{
	int64_t now = ls_clock_mono_ms();

	mark_stale(inf, w, now);
	if (w->stream_err == -ESTALE) {
		relist(inf, w, w->stream_msg);
		return;
	}
	if (w->stream_err) {
		if (w->stream_err == -E2BIG || w->stream_err == -ENOMEM)
			w->need_list = true; /* an event was lost: the list has it */
		if (w->stream_err == -E2BIG)
			fail(inf, w, -1, "WATCH %.*s: an event is larger than %d bytes",
			     path_len(w), w->req_path, LS_KUBE_WATCH_MAX_EVENT);
		else
			fail(inf, w, -1, "WATCH %.*s: %s", path_len(w), w->req_path, w->stream_msg);
		return;
	}
	if (rc == CURLE_OK && status == 200) {
		if (w->stream_events == 0 && now - w->started_ms < SHORT_WATCH_MS) {
			fail(inf, w, -1, "WATCH %.*s: the API server ended the watch at once",
			     path_len(w), w->req_path);
			return;
		}
		ls_log(LS_LOG_DEBUG, NULL,
		       "kube: watch of %s ended after %lld s and %" PRIu64
		       " events; watching again from resourceVersion %s",
		       w->desc, (long long)((now - w->started_ms) / 1000), w->stream_events, w->rv);
		w->phase = PH_IDLE;
		w->next_ms = now;
		return;
	}
	if (rc == CURLE_OK && status == 410) {
		relist(inf, w, "410 Gone");
		return;
	}
	http_failure(inf, w, rc, status);
}

/* Ends w's transfer (finished or not) and frees its handle. */
static long end_transfer(struct ls_kube_informer *inf, struct watch *w)
{
	long status = w->status;

	if (!w->easy)
		return 0;
	if (!status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(inf->multi, w->easy);
	curl_easy_cleanup(w->easy);
	w->easy = NULL;
	ls_kube_free_headers(w->headers);
	w->headers = NULL;
	return status;
}

static void transfer_done(struct ls_kube_informer *inf, struct watch *w, CURLcode rc)
{
	long status = end_transfer(inf, w);

	if (w->phase == PH_LISTING)
		list_done(inf, w, rc, status);
	else if (w->phase == PH_WATCHING)
		watch_done(inf, w, rc, status);
	/* Every path above has set next_ms. */
	w->phase = PH_IDLE;
}

/* Starts w's next request: discovery first if need be, then LIST or WATCH. */
static void start(struct ls_kube_informer *inf, struct watch *w)
{
	int r;

	if (!w->path) {
		r = ls_kube_collection_path_any(inf->k, w->api_version, w->kind, w->namespace_,
		                                !(w->flags & LS_KUBE_WATCH_ANY_KIND), &w->path);
		if (r == -ECANCELED)
			return;
		if (r < 0) {
			w->path = NULL;
			fail(inf, w, -1, "%s", ls_kube_errmsg(inf->k));
			return;
		}
	}
	r = w->need_list ? start_list(inf, w) : start_watch(inf, w);
	if (r < 0 && r != -ECANCELED)
		fail(inf, w, -1, "%s", ls_kube_errmsg(inf->k));
}

static bool stopping(struct ls_kube_informer *inf)
{
	bool s;

	if (ext_stopped(inf))
		inf->abort_io = 1;
	pthread_mutex_lock(&inf->mu);
	s = inf->stop;
	pthread_mutex_unlock(&inf->mu);
	return s || ext_stopped(inf);
}

static void *informer_thread(void *arg)
{
	struct ls_kube_informer *inf = arg;
	struct watch **local = NULL;
	size_t nlocal = 0, alloc = 0;

	while (!stopping(inf)) {
		struct watch **dead = NULL;
		size_t ndead = 0, lists = 0;
		int64_t now, wait;
		struct CURLMsg *m;
		int running, left;

		/* Take the removed watches out of the array (lookups skip them
		 * already) and see the new ones. */
		pthread_mutex_lock(&inf->mu);
		if (alloc < inf->n) {
			struct watch **v = realloc(local, inf->n * sizeof(*v));

			if (v) {
				local = v;
				alloc = inf->n;
			}
		}
		for (size_t i = 0; i < inf->n; i++)
			ndead += inf->w[i]->removed;
		if (ndead)
			dead = calloc(ndead, sizeof(*dead));
		ndead = 0;
		nlocal = 0;
		for (size_t i = 0, j = 0; i < inf->n; i++) {
			struct watch *w = inf->w[i];

			if (w->removed && dead) {
				dead[ndead++] = w;
				continue;
			}
			inf->w[j++] = w;
			if (nlocal < alloc)
				local[nlocal++] = w;
		}
		inf->n -= ndead;
		pthread_mutex_unlock(&inf->mu);
		for (size_t i = 0; i < ndead; i++) {
			end_transfer(inf, dead[i]);
			watch_free(dead[i]);
		}
		free(dead);

		for (size_t i = 0; i < nlocal; i++)
			if (local[i]->phase == PH_LISTING || local[i]->pending)
				lists++;
		now = ls_clock_mono_ms();
		for (size_t i = 0; i < nlocal && !stopping(inf); i++) {
			struct watch *w = local[i];
			bool new_list = w->need_list && !w->pending;

			w->blocked = false;
			if (w->phase != PH_IDLE || now < w->next_ms)
				continue;
			if (new_list && lists >= LS_KUBE_INFORMER_MAX_LISTS) {
				/* Started when a LIST in flight ends (which
				 * wakes the poll below). */
				w->blocked = true;
				continue;
			}
			if (new_list)
				lists++;
			start(inf, w);
		}
		curl_multi_perform(inf->multi, &running);
		while ((m = curl_multi_info_read(inf->multi, &left)) != NULL) {
			char *priv = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			if (priv)
				transfer_done(inf, (struct watch *)priv, m->data.result);
		}
		wait = inf->opts.stop ? STOP_POLL_MS : IDLE_POLL_MS;
		now = ls_clock_mono_ms();
		for (size_t i = 0; i < nlocal; i++) {
			struct watch *w = local[i];

			if (w->phase == PH_IDLE && !w->blocked && w->next_ms - now < wait)
				wait = w->next_ms - now;
		}
		if (wait < 0)
			wait = 0;
		/* Returns when a transfer has data, curl's own timers are due,
		 * a retry is due, or curl_multi_wakeup (add, remove, free). */
		curl_multi_poll(inf->multi, NULL, 0, (int)wait, NULL);
	}
	free(local);
	/* Stopped: every transfer ends, every store is stale from now on. */
	pthread_mutex_lock(&inf->mu);
	for (size_t i = 0; i < inf->n; i++) {
		struct watch *w = inf->w[i];

		end_transfer(inf, w);
		if (w->store && !w->stale_since_ms)
			w->stale_since_ms = ls_clock_mono_ms();
	}
	pthread_mutex_unlock(&inf->mu);
	return NULL;
}

void ls_kube_informer_set_backoff_max(struct ls_kube_informer *inf, int64_t ms)
{
	if (ms <= 0)
		ms = BACKOFF_MAX_MS;
	if (ms < BACKOFF_BASE_MS)
		ms = BACKOFF_BASE_MS;
	pthread_mutex_lock(&inf->mu);
	inf->opts.resync_backoff_max_ms = ms;
	pthread_mutex_unlock(&inf->mu);
}

int ls_kube_informer_start(struct ls_kube_informer *inf)
{
	int r;

	if (inf->started)
		return 0;
	r = pthread_create(&inf->thread, NULL, informer_thread, inf);
	if (r != 0)
		return -r;
	inf->started = true;
	return 0;
}

/* --- lookups ------------------------------------------------------------------------ */

/*
 * The watch a lookup reads, under inf->mu: the one of (api_version, kind,
 * namespace_), else (with via_all) the kind's all-namespaces watch, where
 * *ret_via_all is set. errmsg gets the watch's last error. 0 and *ret;
 * -ESRCH (no such watch) or -EAGAIN (not listed yet), errmsg saying so.
 */
static int lookup_watch(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                        const char *namespace_, bool via_all, struct watch **ret,
                        bool *ret_via_all, char *errmsg, size_t errlen)
{
	struct watch *w = find_watch(inf, api_version, kind, namespace_);

	if (!w && via_all && namespace_ && namespace_[0]) {
		w = find_watch(inf, api_version, kind, "");
		*ret_via_all = w != NULL;
	}
	if (!w) {
		if (errmsg && errlen)
			snprintf(errmsg, errlen, "no watch of %s (%s) in \"%s\"", kind, api_version,
			         ns_or_empty(namespace_));
		return -ESRCH;
	}
	if (errmsg && errlen)
		snprintf(errmsg, errlen, "%s", w->errmsg);
	if (!w->store) {
		if (errmsg && errlen && !errmsg[0])
			snprintf(errmsg, errlen, "the watch of %s has not listed its objects yet",
			         w->desc);
		return -EAGAIN;
	}
	*ret = w;
	return 0;
}

int ls_kube_informer_get(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                         const char *namespace_, const char *name, struct ls_kube_object_meta *ret,
                         int64_t *ret_stale_since_ms, char *errmsg, size_t errlen)
{
	struct watch *w;
	bool via_all = false;
	char key[512];
	int r;

	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (!api_version || !kind || !name)
		return -EINVAL;
	pthread_mutex_lock(&inf->mu);
	r = lookup_watch(inf, api_version, kind, namespace_, true, &w, &via_all, errmsg, errlen);
	if (r < 0)
		goto out;
	if (via_all)
		r = snprintf(key, sizeof(key), "%s/%s", namespace_, name);
	else
		r = snprintf(key, sizeof(key), "%s", name);
	if (r < 0 || (size_t)r >= sizeof(key))
		r = -ENOENT; /* longer than any name the API allows */
	else
		r = ls_kube_store_get(w->store, key, ret);
	if (ret_stale_since_ms)
		*ret_stale_since_ms = w->stale_since_ms;
out:
	pthread_mutex_unlock(&inf->mu);
	return r;
}

struct list_ctx {
	struct ls_kube_object *v;
	size_t n;
};

static int list_one(void *ud, const char *key, const struct ls_kube_object_meta *m,
                    const char *json)
{
	struct list_ctx *c = ud;
	struct ls_kube_object *o = &c->v[c->n];

	o->key = strdup(key);
	o->json = json ? strdup(json) : NULL;
	o->meta = *m;
	c->n++;
	return o->key && (!json || o->json) ? 0 : -ENOMEM;
}

void ls_kube_objects_free(struct ls_kube_object *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].json);
	}
	free(v);
}

int ls_kube_informer_list(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                          const char *namespace_, struct ls_kube_object **ret, size_t *ret_n,
                          int64_t *ret_stale_since_ms, char *errmsg, size_t errlen)
{
	struct list_ctx c = {0};
	struct watch *w;
	bool unused = false;
	int r;

	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (!api_version || !kind)
		return -EINVAL;
	pthread_mutex_lock(&inf->mu);
	r = lookup_watch(inf, api_version, kind, namespace_, false, &w, &unused, errmsg, errlen);
	if (r < 0)
		goto out;
	/* One allocation for the array (and one more, so an empty store is
	 * not a NULL that looks like a failure). */
	c.v = calloc(ls_kube_store_count(w->store) + 1, sizeof(*c.v));
	if (!c.v) {
		r = -ENOMEM;
		goto out;
	}
	r = ls_kube_store_each(w->store, list_one, &c);
	if (r < 0) {
		/* The entry that failed is counted: free it too. */
		ls_kube_objects_free(c.v, c.n);
		goto out;
	}
	*ret = c.v;
	*ret_n = c.n;
	if (ret_stale_since_ms)
		*ret_stale_since_ms = w->stale_since_ms;
out:
	pthread_mutex_unlock(&inf->mu);
	return r;
}

void ls_kube_informer_stats(struct ls_kube_informer *inf, struct ls_kube_informer_stats *ret)
{
	pthread_mutex_lock(&inf->mu);
	*ret = inf->st;
	ret->objects = 0;
	ret->watches_synced = 0;
	ret->watches_total = 0;
	for (size_t i = 0; i < inf->n; i++) {
		const struct watch *w = inf->w[i];

		if (w->removed)
			continue;
		ret->watches_total++;
		if (w->store) {
			ret->watches_synced++;
			ret->objects += ls_kube_store_count(w->store);
		}
	}
	pthread_mutex_unlock(&inf->mu);
}

uint64_t ls_kube_informer_changes(struct ls_kube_informer *inf)
{
	uint64_t c;

	pthread_mutex_lock(&inf->mu);
	c = inf->changes;
	pthread_mutex_unlock(&inf->mu);
	return c;
}

static void deadline_ts(int64_t timeout_ms, struct timespec *ts)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(timeout_ms / 1000);
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

uint64_t ls_kube_informer_wait(struct ls_kube_informer *inf, uint64_t seen, int64_t timeout_ms)
{
	struct timespec ts;
	uint64_t c;

	deadline_ts(timeout_ms, &ts);
	pthread_mutex_lock(&inf->mu);
	while (inf->changes == seen)
		if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) != 0)
			break;
	c = inf->changes;
	pthread_mutex_unlock(&inf->mu);
	return c;
}

/* Under mu. */
static bool all_synced(const struct ls_kube_informer *inf)
{
	for (size_t i = 0; i < inf->n; i++)
		if (!inf->w[i]->removed && !inf->w[i]->store)
			return false;
	return true;
}

/* Under mu: every watch has listed, or its last attempt failed. */
static bool all_settled(const struct ls_kube_informer *inf)
{
	for (size_t i = 0; i < inf->n; i++)
		if (!inf->w[i]->removed && !inf->w[i]->store && !inf->w[i]->errmsg[0])
			return false;
	return true;
}

static int wait_until(struct ls_kube_informer *inf, int64_t timeout_ms,
                      bool (*done)(const struct ls_kube_informer *))
{
	struct timespec ts;
	bool ok;

	deadline_ts(timeout_ms, &ts);
	pthread_mutex_lock(&inf->mu);
	while (!(ok = done(inf)))
		if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) != 0)
			break;
	ok = done(inf);
	pthread_mutex_unlock(&inf->mu);
	return ok ? 0 : -ETIMEDOUT;
}

int ls_kube_informer_wait_synced(struct ls_kube_informer *inf, int64_t timeout_ms)
{
	return wait_until(inf, timeout_ms, all_synced);
}

int ls_kube_informer_wait_settled(struct ls_kube_informer *inf, int64_t timeout_ms)
{
	return wait_until(inf, timeout_ms, all_settled);
}

void ls_kube_informer_free(struct ls_kube_informer *inf)
{
	if (!inf)
		return;
	if (inf->started) {
		pthread_mutex_lock(&inf->mu);
		inf->stop = true;
		inf->abort_io = 1;
		pthread_mutex_unlock(&inf->mu);
		curl_multi_wakeup(inf->multi);
		pthread_join(inf->thread, NULL);
	}
	for (size_t i = 0; i < inf->n; i++) {
		end_transfer(inf, inf->w[i]);
		watch_free(inf->w[i]);
	}
	free(inf->w);
	if (inf->multi)
		curl_multi_cleanup(inf->multi);
	ls_kube_free(inf->k);
	pthread_cond_destroy(&inf->cv);
	pthread_mutex_destroy(&inf->mu);
	free(inf);
}
