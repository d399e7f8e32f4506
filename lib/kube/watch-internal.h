/*
 * watch-internal.h - the pure parts of the informer (watch.h), for its
 * unit tests: the splitter of a watch stream into events, the decoding of
 * one WatchEvent and of a LIST page, and the store of one watch. No I/O,
 * no locks: the informer serializes access.
 */
#ifndef LS_KUBE_WATCH_INTERNAL_H
#define LS_KUBE_WATCH_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/watch.h"
#include "util/buf.h"

/* --- the stream: newline-delimited JSON, cut anywhere ----------------------- */

struct ls_kube_watch_stream {
	struct ls_buf line; /* the incomplete line carried over between reads */
	size_t max;         /* the largest line accepted */
	int err;            /* once a feed failed, every later one returns it */
};

/* Called with each complete line that is not blank (no '\n', no trailing
 * '\r'; not NUL-terminated). A negative return stops the feed. */
typedef int (*ls_kube_watch_line_fn)(void *ud, const char *line, size_t len);

void ls_kube_watch_stream_init(struct ls_kube_watch_stream *s, size_t max_event);
void ls_kube_watch_stream_release(struct ls_kube_watch_stream *s);
/* Forgets the carried-over bytes and the error (for a new transfer). */
void ls_kube_watch_stream_reset(struct ls_kube_watch_stream *s);

/*
 * Feeds n bytes of the stream: calls fn for every line they complete, in
 * order, and keeps what follows the last newline for the next feed. 0; or
 * -E2BIG when a line grows past max (no line of it is delivered), -ENOMEM,
 * or fn's negative return: the stream then stays failed until _reset.
 */
int ls_kube_watch_stream_feed(struct ls_kube_watch_stream *s, const char *p, size_t n,
                              ls_kube_watch_line_fn fn, void *ud);

/* --- one WatchEvent ------------------------------------------------------- */

enum ls_kube_watch_type {
	LS_KUBE_WATCH_ADDED = 1,
	LS_KUBE_WATCH_MODIFIED,
	LS_KUBE_WATCH_DELETED,
	LS_KUBE_WATCH_BOOKMARK,
	LS_KUBE_WATCH_ERROR,
};

struct ls_kube_watch_event {
	enum ls_kube_watch_type type;
	char *key; /* ADDED, MODIFIED, DELETED: the store key (ls_kube_watch_key); heap */
	/* The object's resourceVersion, the one to watch from next ("" for ERROR). */
	char resource_version[LS_KUBE_RV_MAX];
	struct ls_kube_object_meta meta; /* ADDED, MODIFIED, DELETED */
	int32_t code;                    /* ERROR: the Status's code (410: Gone) */
	char message[256];               /* ERROR: the Status's message */
	/* ADDED, MODIFIED with keep_object: what the store keeps of the
	 * object (metadata's name, namespace, uid, generation,
	 * resourceVersion, creation and deletion timestamps; apiVersion,
	 * kind, spec, status) as compact JSON; heap (cJSON_free), else NULL. */
	char *object;
};

/*
 * Decodes one line of a watch stream. all_namespaces: the watch spans
 * namespaces, so keys are "namespace/name". 0 and *ret (release it);
 * -EPROTO when the line is not a WatchEvent (not JSON, no known type, an
 * object without metadata.name or resourceVersion, a resourceVersion of
 * LS_KUBE_RV_MAX bytes or more), err saying why; -ENOMEM. *ret untouched
 * on failure.
 */
int ls_kube_watch_event_parse(const char *line, size_t len, bool all_namespaces,
                              struct ls_kube_watch_event *ret, char *err, size_t errlen);
/* The same; keep_object also fills ret->object (a watch of whole objects). */
int ls_kube_watch_event_parse_full(const char *line, size_t len, bool all_namespaces,
                                   bool keep_object, struct ls_kube_watch_event *ret, char *err,
                                   size_t errlen);
void ls_kube_watch_event_release(struct ls_kube_watch_event *ev);

/*
 * The metadata of an object (a PartialObjectMetadata, or any object: only
 * .metadata is read). 0, or -EPROTO (no metadata.resourceVersion, or one
 * too long). Pause annotations that do not parse are not an error (see
 * struct ls_kube_object_meta).
 */
int ls_kube_object_meta_parse(const cJSON *obj, struct ls_kube_object_meta *ret);

/* The store key of an object: its name, or "namespace/name" when
 * all_namespaces and it has a namespace. 0 and a heap string, -ENOMEM. */
int ls_kube_watch_key(const char *namespace_, const char *name, bool all_namespaces, char **ret);

/* --- the store: the objects of one watch, by key ------------------------- */

/*
 * An open-addressing hash table of compact entries: one allocation per
 * object holding the fixed fields (a uid that is a canonical UUID as 16
 * bytes, a decimal resourceVersion as a number) and the key (and, rarely,
 * a uid or resourceVersion of another form, or a pause error) as strings.
 */
struct ls_kube_store;

int ls_kube_store_new(struct ls_kube_store **ret);
void ls_kube_store_free(struct ls_kube_store *st);
/* Adds or replaces key's entry: 1 when the store changed, 0 when the
 * entry was already the same, -ENOMEM (the store unchanged). */
int ls_kube_store_put(struct ls_kube_store *st, const char *key,
                      const struct ls_kube_object_meta *m);
/* The same with the object's JSON (NULL: none) kept beside the metadata:
 * an entry changes when either does. */
int ls_kube_store_put_object(struct ls_kube_store *st, const char *key,
                             const struct ls_kube_object_meta *m, const char *json);
/* 1 when key was there and is removed, 0 when it was not there. */
int ls_kube_store_delete(struct ls_kube_store *st, const char *key);
/* 0 and *ret, or -ENOENT (*ret untouched). */
int ls_kube_store_get(const struct ls_kube_store *st, const char *key,
                      struct ls_kube_object_meta *ret);
/* The same, and *ret_json a heap copy of the object's JSON (NULL when none
 * was kept). 0, -ENOENT or -ENOMEM (outputs untouched). */
int ls_kube_store_get_object(const struct ls_kube_store *st, const char *key,
                             struct ls_kube_object_meta *ret, char **ret_json);
/* Called once per entry (in no particular order) with its key, metadata
 * and JSON (NULL when none); borrowed for the call. A negative return
 * stops the walk. */
typedef int (*ls_kube_store_each_fn)(void *ud, const char *key, const struct ls_kube_object_meta *m,
                                     const char *json);
/* Walks every entry: 0, or fn's negative return. */
int ls_kube_store_each(const struct ls_kube_store *st, ls_kube_store_each_fn fn, void *ud);
size_t ls_kube_store_count(const struct ls_kube_store *st);
/* Bytes requested from malloc for the entries and the table (no allocator
 * overhead). */
size_t ls_kube_store_bytes(const struct ls_kube_store *st);

/*
 * Decodes one page of a LIST (a PartialObjectMetadataList, or any List)
 * into st: every item is put. *ret_rv gets the list's resourceVersion,
 * *ret_continue its continue token (a heap string, NULL on the last
 * page). 0; -EPROTO (not a List, an item without metadata, no
 * resourceVersion) with err saying why; -ENOMEM. On failure st may hold
 * some items of the page and the outputs are untouched.
 */
int ls_kube_watch_list_page(const char *body, size_t len, bool all_namespaces,
                            struct ls_kube_store *st, char *ret_rv, size_t rvlen,
                            char **ret_continue, char *err, size_t errlen);
/* The same; keep_objects keeps each item's JSON as a watch event's object. */
int ls_kube_watch_list_page_full(const char *body, size_t len, bool all_namespaces,
                                 bool keep_objects, struct ls_kube_store *st, char *ret_rv,
                                 size_t rvlen, char **ret_continue, char *err, size_t errlen);

#endif
