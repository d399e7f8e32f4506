/*
 * watch.h - an informer: the metadata of the workloads lagscale scales,
 * kept current by the API's LIST-then-WATCH protocol, so that a round of
 * the controller reads its targets from memory instead of with two GETs
 * per scaler (20,000 requests a round at 10,000 scalers; none here once
 * the watches run).
 *
 * What is watched. A watch is one collection: (apiVersion, kind,
 * namespace), "/apis/apps/v1/namespaces/shop/deployments". The namespace
 * "" (or NULL) watches the kind in every namespace (and is the only form
 * for a cluster-scoped kind). The kind's resource comes from discovery
 * (ls_kube_collection_path of kube-internal.h, cached per client), which
 * accepts only kinds with a scale subresource: a kind without one is
 * refused as ls_kube_scale_get refuses it, unless the watch is added with
 * LS_KUBE_WATCH_ANY_KIND (ls_kube_informer_add_flags).
 *
 * Whole objects. A watch added with LS_KUBE_WATCH_OBJECTS (for lagscale's
 * own LagScaler objects) asks for plain JSON instead of
 * PartialObjectMetadata and keeps, beside each object's metadata below,
 * what a consumer reads of the object as compact JSON: metadata's name,
 * namespace, uid, generation, resourceVersion, creationTimestamp and
 * deletionTimestamp; apiVersion, kind, spec and status (managed fields,
 * labels and annotations are left out). ls_kube_informer_list copies a
 * watch's objects out; ls_kube_informer_changes says when to look again.
 *
 * What is kept. Metadata only (struct ls_kube_object_meta): generation,
 * uid, resourceVersion and the two pause annotations, parsed as
 * ls_kube_scale_get parses them. Not spec.replicas: a PartialObjectMetadata
 * has no spec. A caller that needs the replicas reads /scale and keeps the
 * answer with the resource_version it was read at: every write to the
 * object (spec, /scale, status, metadata) changes its resourceVersion, and
 * a Scale carries its object's resourceVersion, so a /scale answer stays
 * good for as long as resource_version has not changed. generation changes
 * only with the spec (and /scale). A steady-state round therefore costs no
 * request at all.
 *
 * The protocol, per watch:
 *  1. LIST, metadata only (Accept: application/json;as=PartialObjectMetadataList;
 *     g=meta.k8s.io;v=v1,application/json), in pages of LS_KUBE_LIST_PAGE
 *     objects with `continue` tokens; a page over LS_KUBE_MAX_BODY is asked
 *     for again with half the limit. The pages are gathered into a new
 *     store that replaces the old one at once, when the last page has come:
 *     a lookup never sees half a list. An expired `continue` token (410)
 *     starts the list again.
 *  2. WATCH from the list's resourceVersion (watch=1&allowWatchBookmarks=
 *     true&resourceVersion=RV&timeoutSeconds=T, T random in [300, 600) s as
 *     client-go's reflector, Accept as=PartialObjectMetadata). The stream of
 *     newline-delimited WatchEvents is parsed as it comes (an event may
 *     span any number of reads; one event is capped at
 *     LS_KUBE_WATCH_MAX_EVENT). ADDED and MODIFIED put the object, DELETED
 *     removes it, BOOKMARK only moves the resourceVersion the next watch
 *     starts from, ERROR ends the watch.
 *  3. A watch the server ends normally (timeoutSeconds) is started again at
 *     once from the last resourceVersion seen (bookmarks keep it recent).
 *     410 Gone, as the answer to a WATCH or in an ERROR event, means that
 *     resourceVersion was compacted away: LIST again (a relist), at once.
 *     An event over the cap, or a store that ran out of memory, also
 *     relists (after the backoff). Other failures - a dropped connection, a
 *     transport error, 5xx, 429, 403, an ERROR event with another code, a
 *     line that is not a WatchEvent - start again after exponential
 *     backoff with full jitter (500 ms doubling up to
 *     resync_backoff_max_ms), or after Retry-After when a 429 says so. A
 *     401 fetches the credential again (token file, exec plugin) and
 *     retries once at once. A watch that ends normally within a second
 *     without an event counts as a failure (no busy loop against a server
 *     that ends every watch at once).
 *
 * One background thread drives every watch with libcurl's multi interface:
 * one streaming transfer per watch, LIST pages as transfers of the same
 * kind (at most LS_KUBE_INFORMER_MAX_LISTS watches list at a time), so a
 * LIST never stalls the other streams. Over HTTP/2 the transfers share one
 * connection. The thread owns an ls_kube client (kube.h) for what stays
 * blocking: discovery (the first time a group-version is used, and a kind
 * that is not served, at most every 30 s) and fetching a credential (an
 * exec plugin may run up to LS_KUBE_EXEC_TIMEOUT_MS); meanwhile the
 * streams are not read (the kernel buffers them). Credentials are never
 * logged; error messages hold the API's Status message or the transport
 * error, never a header.
 *
 * Logging (util/log.h): a watch's failure is logged once at warning level
 * (`watch of Deployment (apps/v1) in "shop" failed: MESSAGE; retrying`), and
 * its recovery once at info level (`... works again`), when its watch is
 * established again; routine reconnects, relists and repeated failures
 * only at debug level.
 *
 * Thread-safety: every function may be called from any thread, except
 * that _free must not race with the other calls. Lookups take the
 * informer's mutex for a hash lookup and a copy.
 */
#ifndef LS_KUBE_WATCH_H
#define LS_KUBE_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kubeconfig.h"

/* A single WatchEvent line larger than this ends the watch (then a relist). */
#define LS_KUBE_WATCH_MAX_EVENT (4 * 1024 * 1024)
/* Objects asked for per LIST page (the `limit` parameter). */
#define LS_KUBE_LIST_PAGE 500
/* Watches that may be listing at once (the initial lists of many namespaces). */
#define LS_KUBE_INFORMER_MAX_LISTS 8
/* resourceVersion strings are etcd revisions (20 digits at most); longer is refused. */
#define LS_KUBE_RV_MAX 64

struct ls_kube_informer;

struct ls_kube_informer_options {
	/* Non-zero: the thread ends at its next turn, within about 100 ms
	 * (a discovery request in progress is finished first); the stores
	 * stay readable, every watch stale; _free is still needed. May be
	 * NULL. */
	volatile sig_atomic_t *stop;
	int64_t resync_backoff_max_ms; /* the longest backoff before a retry; 0: 30 s; >= 500 */
	/* timeoutSeconds of each WATCH; 0: random in [300, 600) s. For tests. */
	int32_t watch_timeout_s;
};

/* What the informer knows of one object (no spec: see above). */
struct ls_kube_object_meta {
	int64_t generation;                    /* metadata.generation, 0 when absent */
	char uid[64];                          /* metadata.uid */
	char resource_version[LS_KUBE_RV_MAX]; /* metadata.resourceVersion */
	/* As struct ls_kube_scale's fields, from the annotations
	 * LS_KUBE_PAUSED_ANNOTATION and LS_KUBE_PAUSED_REPLICAS_ANNOTATION
	 * (ls_kube_parse_pause): an annotation that does not parse counts as
	 * paused, paused_replicas -1, and pause_error says why, in
	 * ls_kube_scale_get's words. */
	bool paused;
	int32_t paused_replicas; /* -1 when not set */
	char pause_error[160];   /* "" when the annotations parse */
};

/*
 * An informer for kc (which must outlive it), with no watch and no
 * thread: no I/O. o may be NULL for the defaults. 0, -EINVAL (kc's server
 * is not a URL), -ENOMEM; *ret untouched on failure.
 */
int ls_kube_informer_new(const struct ls_kube_config *kc, const struct ls_kube_informer_options *o,
                         struct ls_kube_informer **ret);

/*
 * Declares a watch of (api_version, kind, namespace_); namespace_ NULL or
 * "" is every namespace. Idempotent: adding a watch that exists changes
 * nothing. May be called before or after _start (a reload adds targets):
 * the thread starts its LIST at its next turn. Strings are copied. 0,
 * -EINVAL (api_version or kind empty), -ENOMEM.
 */
int ls_kube_informer_add(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                         const char *namespace_);

/* The flags of ls_kube_informer_add_flags. */
enum {
	LS_KUBE_WATCH_OBJECTS = 1u << 0,  /* keep each object's JSON (see above) */
	LS_KUBE_WATCH_ANY_KIND = 1u << 1, /* a kind without a scale subresource is fine */
};

/*
 * ls_kube_informer_add with flags (0: as _add). A watch is known by its
 * (api_version, kind, namespace_) alone: adding one that exists changes
 * nothing, its flags included. Same returns as _add.
 */
int ls_kube_informer_add_flags(struct ls_kube_informer *inf, const char *api_version,
                               const char *kind, const char *namespace_, unsigned flags);

/*
 * Changes resync_backoff_max_ms (0: 30 s; below 500 ms: 500 ms) for every
 * watch, from its next failure on: the caller ties it to how soon it needs
 * a watch back after the server returns (the controller: its shortest
 * pollingInterval), since the longest backoff is how long a recovered
 * server can go unnoticed. Thread-safe with the informer's thread.
 */
void ls_kube_informer_set_backoff_max(struct ls_kube_informer *inf, int64_t ms);

/*
 * Ends a watch and forgets its objects: lookups answer -ESRCH at once, the
 * thread closes its transfer at its next turn. 0, or -ENOENT when no such
 * watch exists.
 */
int ls_kube_informer_remove(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                            const char *namespace_);

/* One watch, as _add names it (borrowed strings). */
struct ls_kube_watch_key {
	const char *api_version;
	const char *kind;
	const char *namespace_; /* NULL or "": every namespace */
};

/*
 * For reloads: removes every watch that is not among keys[0..n) (as
 * _remove does) and returns how many were removed. Adds nothing: call
 * _add for each key (before or after; both are idempotent).
 */
size_t ls_kube_informer_retain(struct ls_kube_informer *inf, const struct ls_kube_watch_key *keys,
                               size_t n);

/* Starts the thread. 0 (also when started already) or a negative errno
 * from pthread_create. */
int ls_kube_informer_start(struct ls_kube_informer *inf);

/*
 * Looks up one object. The watch is the one added for (api_version, kind,
 * namespace_), else the all-namespaces watch of (api_version, kind) when
 * there is one, where the object is NAMESPACE/NAME. namespace_ NULL or ""
 * names the all-namespaces watch directly: name is then "NAMESPACE/NAME"
 * for a namespaced kind, the name for a cluster-scoped one.
 *   0        the object exists: *ret is its metadata;
 *   -ENOENT  the watch has completed a LIST and the object is not there
 *            (*ret untouched);
 *   -EAGAIN  the watch has not completed its first LIST yet, or failed it
 *            (then errmsg says why: a 403 with the API's message, a kind
 *            that is not served, a transport error);
 *   -ESRCH   no such watch was added (errmsg says so);
 *   -EINVAL  api_version, kind or name is NULL.
 * A watch that has listed once goes on answering from its last store
 * while it reconnects, relists or fails: the store is replaced only by a
 * complete new LIST. For 0 and -ENOENT, *ret_stale_since_ms (may be NULL)
 * is 0 while the watch is known to be current (its stream is
 * established), else the monotonic ms (ls_clock_mono_ms) since when it
 * has not been: the stream ended or failed and has not been established
 * again (or, just after a LIST, not yet). A normal reconnect is stale for
 * milliseconds: treat a watch as stale only after a grace of the caller's
 * choosing (a polling interval, say). errmsg (may be NULL; errlen bytes)
 * gets the watch's last error in one line, never a secret, "" when its
 * last attempt worked. Other outputs untouched when not set above.
 */
int ls_kube_informer_get(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                         const char *namespace_, const char *name, struct ls_kube_object_meta *ret,
                         int64_t *ret_stale_since_ms, char *errmsg, size_t errlen);

/* One object of ls_kube_informer_list (owned by the array). */
struct ls_kube_object {
	char *key;                       /* the name, or "NAMESPACE/NAME" in an all-namespaces watch */
	struct ls_kube_object_meta meta; /* as ls_kube_informer_get gives it */
	char *json;                      /* LS_KUBE_WATCH_OBJECTS: the object (above); else NULL */
};

/*
 * A copy of every object of the watch added for exactly (api_version,
 * kind, namespace_), taken under the informer's lock (a consistent
 * snapshot: one LIST or event at a time), in no particular order. 0,
 * *ret (free with ls_kube_objects_free) and *ret_n (may be 0; *ret is
 * then still an array to free); -EAGAIN, -ESRCH and errmsg as
 * ls_kube_informer_get says, *ret_stale_since_ms (may be NULL) too;
 * -EINVAL (api_version or kind NULL); -ENOMEM. Outputs untouched on
 * failure. Costs a copy of every object: call it when
 * ls_kube_informer_changes moved, not every round.
 */
int ls_kube_informer_list(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                          const char *namespace_, struct ls_kube_object **ret, size_t *ret_n,
                          int64_t *ret_stale_since_ms, char *errmsg, size_t errlen);
/* Frees an array of ls_kube_informer_list; NULL is a no-op. */
void ls_kube_objects_free(struct ls_kube_object *v, size_t n);

/* Counters since _new, for tests, metrics and benchmarks. */
struct ls_kube_informer_stats {
	uint64_t lists;        /* LIST requests sent (each page, each attempt) */
	uint64_t watches;      /* WATCH requests sent */
	uint64_t events;       /* WatchEvents received (bookmarks included) */
	uint64_t relists;      /* relists because of 410 Gone */
	uint64_t bookmarks;    /* BOOKMARK events among events */
	uint64_t failures;     /* failed attempts (each retried after a backoff) */
	size_t objects;        /* objects held now, over all watches */
	size_t watches_synced; /* watches that have completed a LIST */
	size_t watches_total;  /* watches added and not removed */
};
void ls_kube_informer_stats(struct ls_kube_informer *inf, struct ls_kube_informer_stats *ret);

/*
 * A counter that grows whenever a stored object changes (added, modified
 * in any of its ls_kube_object_meta fields, resource_version included, or
 * in the JSON a watch of whole objects keeps; deleted), a watch completes a LIST (its store is replaced), a watch
 * starts failing or works again, or a watch is removed: a caller compares
 * it with the value it saw last to know whether to look again. Routine
 * reconnects do not move it.
 */
uint64_t ls_kube_informer_changes(struct ls_kube_informer *inf);

/*
 * Waits until the counter above differs from seen, at most timeout_ms.
 * Returns the counter (equal to seen on timeout). Any thread.
 */
uint64_t ls_kube_informer_wait(struct ls_kube_informer *inf, uint64_t seen, int64_t timeout_ms);

/*
 * Waits (at most timeout_ms) until every watch has completed its first
 * LIST, as client-go's WaitForCacheSync: 0, or -ETIMEDOUT.
 */
int ls_kube_informer_wait_synced(struct ls_kube_informer *inf, int64_t timeout_ms);

/*
 * The same, but a watch whose last attempt failed (a 403, a kind that is
 * not served) counts as done too: for a caller that adds watches while
 * running and must not wait the whole timeout for one that fails.
 */
int ls_kube_informer_wait_settled(struct ls_kube_informer *inf, int64_t timeout_ms);

/* Stops the thread at once (curl_multi_wakeup; a discovery request in
 * flight is aborted; an exec plugin that is running is waited for),
 * closes the transfers and frees everything. Measured: 1 ms with idle
 * streams. _free(NULL) is a no-op. */
void ls_kube_informer_free(struct ls_kube_informer *inf);

#endif
