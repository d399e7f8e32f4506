/*
 * async.h - many Kubernetes requests at once: /scale reads, scale patches
 * and Events sent concurrently over libcurl's multi interface, so that one
 * slow or hung target does not hold up the others.
 *
 * There is no thread of its own: requests are queued (ls_kube_async_scale_get,
 * _scale_set, _event) and ls_kube_async_poll() drives the transfers and
 * invokes the callback of each finished request, on the caller's thread;
 * the controller calls it in its idle waits. A request is queued, then in
 * flight, and possibly waiting for its retry; ls_kube_async_pending()
 * counts them all, until their callback has run.
 *
 * Transport. At most max_in_flight requests (32 by default) are on the
 * wire at once, each on an easy handle of a pool that lives as long as
 * the async client. The handles share one connection cache: over TLS curl
 * negotiates HTTP/2 (kube-apiserver speaks it) and multiplexes every
 * request on one connection (a transfer waits for the first connection to
 * say whether it multiplexes rather than opening its own); over HTTP/1.1
 * each request in flight needs a connection of its own, so up to
 * max_in_flight are opened and kept alive. Handles are set up as the
 * blocking client's (ls_kube_easy_setup: TLS, credentials, proxy,
 * impersonation). Response bodies are capped at LS_KUBE_MAX_BODY (-E2BIG).
 *
 * Retries are those of the blocking client (kube.h), without blocking:
 * reads and scale patches are sent again after 409 (patches only), 429,
 * 5xx and transport failures, with exponential backoff and jitter (as
 * lib/util/backoff.h), at most LS_KUBE_MAX_ATTEMPTS times within the
 * request's budget (the client's ls_kube_options.timeout_ms, by default
 * LS_KUBE_TIMEOUT_MS, counted from the first time it is sent: time spent
 * queued behind other requests does not count). A request
 * waiting for its retry gives up its slot and waits in a timer queue while
 * others are sent. Creating an Event is never retried (not idempotent). A
 * 401 fetches the credential again (ls_kube_refresh_creds: token file,
 * exec plugin) once per request and sends it again at once; when several
 * requests sent with the same credential get a 401, the credential is
 * fetched once.
 *
 * Throttling. A 429 (or 503) with Retry-After delays that request's retry
 * by Retry-After (and only that request's), and so the next request of the
 * same target (scale requests and Events apart): one queued behind it, or
 * one submitted after it gave up, is not sent before the Retry-After has
 * passed either (its budget starts when it is sent). API Priority and Fairness throttles per flow, and all of
 * lagscale's requests are one flow (one user, the service-account
 * FlowSchema's distinguisher), so a 429 also halves the number of requests
 * sent at once (at most once per 200 ms, never below 1) until its
 * Retry-After has passed; then each success adds one back, up to
 * max_in_flight (additive increase, multiplicative decrease). Requests
 * already on the wire are not interrupted.
 *
 * Ordering. Requests of one target are sent one after the other, in the
 * order they were queued: a request is sent only when the one queued
 * before it for the same target has finished (its callback is due), so a
 * patch is never overtaken by an older one and a read queued after a
 * patch sees it. Scale requests (reads and patches) and Events form two
 * separate queues per target. When a scale patch is queued and the last
 * request queued for the same target is a scale patch (of the same
 * dry_run) that has not been sent yet, that older patch is superseded: it
 * is not sent and its callback gets -ECANCELED with res->superseded set.
 * So a target that answers slowly accumulates one pending patch, the
 * newest, not one per tick. Events are bounded too: when an Event is
 * queued while LS_KUBE_ASYNC_EVENTS_WAITING_MAX of the same target are
 * already waiting (not sent yet) behind the one on its way, the oldest
 * waiting one is dropped (its callback gets -ENOBUFS, counted in
 * events_dropped). So while the server is slow or hangs, a target keeps
 * at most 1 + LS_KUBE_ASYNC_EVENTS_WAITING_MAX Events in memory, and sends
 * no more than those once it answers again.
 *
 * Callbacks run only inside ls_kube_async_poll() and ls_kube_async_free(),
 * exactly once per request that was queued (the submit functions returned
 * 0), never inside a submit function. A callback may queue new requests
 * (they are sent before the poll returns, or at a later poll); it must not
 * call ls_kube_async_free(), and ls_kube_async_poll() called from it
 * does nothing. res is valid during the callback only.
 *
 * Stop: when the client's ls_kube_options.stop is set, the next poll
 * abandons every request (transfers are cut, callbacks get -ECANCELED)
 * and submit functions return -ECANCELED; a poll looks at the stop flag
 * at least every 100 ms while it waits.
 *
 * Errors in results are those of kube.h (0 or a negative errno, HTTP and
 * curl errors translated the same way), with res->errmsg the one-line
 * message ls_kube_errmsg() would give (never a secret). The blocking
 * client's own ls_kube_errmsg() is left as it was.
 *
 * Thread-safety: none. An async client, its blocking client k and every
 * recorder passed to ls_kube_async_event belong to one thread. k may still
 * be used for blocking calls on that thread between polls.
 */
#ifndef LS_KUBE_ASYNC_H
#define LS_KUBE_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube.h"

#define LS_KUBE_ASYNC_MAX_IN_FLIGHT 32
/* Events of one target waiting behind the one on its way (async.h, Ordering). */
#define LS_KUBE_ASYNC_EVENTS_WAITING_MAX 8

struct ls_kube_async;

enum ls_kube_async_op {
	LS_KUBE_ASYNC_SCALE_GET,
	LS_KUBE_ASYNC_SCALE_SET,
	LS_KUBE_ASYNC_EVENT,
	LS_KUBE_ASYNC_PATCH,
};

struct ls_kube_async_result {
	enum ls_kube_async_op op;
	int err;          /* 0 or the errno of kube.h; -ECANCELED: freed, stopped, superseded;
	                     -ENOBUFS: an Event dropped (too many waiting) */
	char errmsg[512]; /* "" on success; one line, never a secret (as ls_kube_errmsg) */
	/* Reads and patches that succeeded: the Scale the server returned
	 * (spec.replicas; status.replicas, -1 when absent). -1 for Events,
	 * failures, and a patch answered without a Scale. */
	int32_t replicas, status_replicas;
	/* metadata.resourceVersion of the returned Scale (which is the
	 * workload's), "" when unknown. */
	char resource_version[32];
	int attempts;    /* HTTP requests sent for this one, 401 resends included */
	bool superseded; /* err is -ECANCELED because a newer patch replaced it */
};

/* Called once per request, on the polling thread; tag as given at submit. */
typedef void (*ls_kube_async_cb)(void *tag, const struct ls_kube_async_result *res, void *ud);

/*
 * An async client beside the blocking client k, which it borrows (k must
 * outlive it and be used on the same thread): k's configuration,
 * credentials (refreshed through k), options (timeouts, stop) and
 * discovery cache. max_in_flight: requests on the wire at once (0:
 * LS_KUBE_ASYNC_MAX_IN_FLIGHT). cb (not NULL) receives every result with
 * ud. No I/O. 0 and *ret; -EINVAL (cb NULL, max_in_flight < 0) or -ENOMEM,
 * *ret untouched.
 */
int ls_kube_async_new(struct ls_kube *k, int max_in_flight, ls_kube_async_cb cb, void *ud,
                      struct ls_kube_async **ret);

/*
 * The submit functions queue one request and return at once: 0 and the
 * callback will run exactly once for tag; or a negative errno and it never
 * will: -EINVAL (an argument is missing or out of range), -ENOMEM,
 * -ECANCELED (stop is set, or the client is being freed). The target's
 * strings (and the event's) are copied. Nothing is sent before the next
 * poll.
 *
 * A scale request's path needs its kind's resource: discovery, cached in
 * k (ls_kube_target_path); Events need none. The first request for an apiVersion may therefore
 * block on one discovery call of k (with k's retries). When discovery
 * fails (-ENOENT: the apiVersion or kind is not served; transport errors,
 * 5xx, 403), requests of the same apiVersion and kind fail at once with
 * the same error for the next 10 seconds instead of each asking again;
 * -EINVAL (no scale subresource, or no namespace for a namespaced kind)
 * costs no request and is not held. Such failures are reported through
 * the callback at the next poll, as any other failure, without waiting
 * for the requests queued before for the same target.
 */

/* GET .../scale: spec.replicas, status.replicas and the resourceVersion.
 * Unlike ls_kube_scale_get it does not read the pause annotations or the
 * uid (one request, not two). */
int ls_kube_async_scale_get(struct ls_kube_async *a, const struct ls_kube_target *t, void *tag);

/* Sets spec.replicas (>= 0) with the merge patch of ls_kube_scale_set
 * (dry_run: ?dryRun=All); the result carries the Scale the server
 * returned. May supersede an older patch of t that is still queued. */
int ls_kube_async_scale_set(struct ls_kube_async *a, const struct ls_kube_target *t,
                            int32_t replicas, bool dry_run, void *tag);

/*
 * A JSON merge patch (application/merge-patch+json) of body at path, an
 * object's path or a subresource's (ls_kube_object_path: no discovery),
 * such as a LagScaler's /status. t names the object (for the order of its
 * requests and for messages). Retried as a scale patch (not on 409: a
 * merge patch sends no resourceVersion). Patches of one object queue
 * apart from its scale requests and Events, and a newer patch supersedes
 * an older one of the same object that has not been sent (-ECANCELED,
 * res->superseded), as scale patches do. path and body are copied.
 */
int ls_kube_async_patch(struct ls_kube_async *a, const struct ls_kube_target *t, const char *path,
                        const char *body, void *tag);

/*
 * ls_kube_event_record, asynchronously: creates the Event, or patches the
 * series of the one rec created for the same key (a 404 there: the Event
 * was deleted, so it is created again, as a second request of the same
 * callback). rec is read when the request is sent (so a repeat queued
 * behind a create patches the Event created) and updated when it
 * finishes; it must outlive the request's callback. now_wall_ms and
 * now_mono_ms are the event's time, as at submit. -EINVAL as
 * ls_kube_event_record (no regarding, name or reason), or rec NULL.
 */
int ls_kube_async_event(struct ls_kube_async *a, struct ls_kube_recorder *rec,
                        const struct ls_kube_event *ev, int64_t now_wall_ms, int64_t now_mono_ms,
                        bool dry_run, void *tag);

/*
 * Sends what is queued (up to the in-flight limit, retries whose time has
 * come first), drives the transfers, and invokes the callback of each
 * request that finished. Returns as soon as at least one callback ran, or
 * nothing is pending, or after timeout_ms (0: one pass that does not
 * wait); the wait sleeps in curl_multi_poll, waking for network activity,
 * the next retry time and (with a stop flag) every 100 ms. Returns the
 * number of requests still pending (ls_kube_async_pending()).
 */
int ls_kube_async_poll(struct ls_kube_async *a, int64_t timeout_ms);

/* Requests queued and not yet called back: waiting for their target or a
 * slot, in flight, waiting for a retry, or finished and not yet reported. */
size_t ls_kube_async_pending(const struct ls_kube_async *a);

struct ls_kube_async_stats {
	uint64_t requests;  /* HTTP requests sent (retries and 401 resends included) */
	uint64_t retries;   /* of them, sent again after a retryable failure */
	uint64_t throttled; /* 429 responses */
	uint64_t superseded;
	uint64_t events_dropped; /* Events dropped beyond LS_KUBE_ASYNC_EVENTS_WAITING_MAX */
	uint64_t connections; /* connections opened (HTTP/2 multiplexes on few) */
	size_t max_in_flight_seen;
	size_t in_flight;    /* now */
	size_t limit;        /* the in-flight limit now (lower while throttled) */
};

void ls_kube_async_stats(const struct ls_kube_async *a, struct ls_kube_async_stats *ret);

/*
 * Cuts the transfers in flight and invokes the callback of every pending
 * request: first those that had finished (with their result), then the
 * others with -ECANCELED, in the order they were queued; then frees a.
 * Submitting from these callbacks fails with -ECANCELED. _free(NULL) is
 * a no-op.
 */
void ls_kube_async_free(struct ls_kube_async *a);

#endif
