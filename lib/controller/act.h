/*
 * act.h - the reconcile loop's hands on the cluster (part of
 * lib/controller): what each scaler's target is, setting its replicas, and
 * Events.
 *
 * Reading. The targets' metadata (generation, uid, resourceVersion, the
 * pause annotations) comes from watches (lib/kube/watch.h), one per
 * (apiVersion, kind, namespace) of the configured targets. A target's
 * replicas are read from /scale only when it first appears or its
 * metadata.generation changes (every change of spec.replicas bumps it),
 * except after lagscale's own patch, which is recognised by the
 * resourceVersion the patch returned, and again after a patch that failed
 * in a way that may have left it applied (a cut connection, a timeout, a
 * 5xx), so that such a patch is not sent a second time from a count that
 * may be out of date. So after warm-up a round with no
 * change makes no API request at all. A watch that cannot reconnect keeps
 * answering from what it last knew; after stale_after_ms the target counts
 * as unreadable (a failed read, never zero replicas). A failed watch
 * tries again at least once per shortest pollingInterval of the scalers
 * (its backoff's cap), so a server that returns is noticed within one.
 *
 * Writing. Scale patches, the /scale reads above and Events go out
 * concurrently over libcurl's multi interface (lib/kube/async.h, 32 in
 * flight), driven by ls_act_poll from the loop's idle waits, so that a slow
 * target holds up only its own scaler: the loop hears of each end through
 * the callbacks. Only the leader writes (the caller asks before calling);
 * dry-run sends patches and Events with ?dryRun=All.
 *
 * Scalers are named by their index in the loop's array (the tag of every
 * request); callers drain (ls_act_drain) before the array changes.
 *
 * Thread-safety: one thread (the loop's); the watches run on a thread of
 * their own.
 */
#ifndef LS_CONTROLLER_ACT_H
#define LS_CONTROLLER_ACT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct ls_kube_config;
struct ls_act;

/* What the actor knows of one scaler's target; zeroed: nothing yet. It
 * lives in the loop's record of the scaler. */
struct ls_act_target {
	int64_t generation;	  /* the metadata.generation `replicas` was read at */
	int64_t read_generation;  /* ... and the one of the read on its way */
	int32_t replicas;	  /* spec.replicas, with have_replicas */
	bool have_replicas;
	bool reading;		  /* a /scale read is on its way */
	bool read_failed;	  /* ... ended in read_fail, not yet reported */
	int read_fail_err;	  /* ... and its errno (kube.h): -ENOENT for a 404 */
	bool writing;		  /* a patch is on its way */
	bool watch_failed;	  /* the last decision failed: its watch was stale or unlisted */
	bool pause_warned;
	char own_rv[64];	  /* the resourceVersion lagscale's last patch made */
	char uid[64];		  /* metadata.uid, for Events */
	/* Messages, on the heap only while there is one (a fleet of healthy
	 * targets keeps none; see ls_act_note): */
	char *read_fail;	  /* the failed read's, until reported */
	char *read_err;		  /* the last failure to read, as logged */
	char *write_err;	  /* the last failure to write, as logged */
};

/* "NAMESPACE/KIND/NAME" into out: how decisions and logs name a target. */
const char *ls_act_target_name(const struct ls_config_scaler *sc, char *out, size_t size);

/* Frees the messages t holds and zeroes it. */
void ls_act_target_release(struct ls_act_target *t);

/*
 * Keeps a copy of msg (its first 255 bytes) in *slot, replacing the one
 * there: true when it differs from the one kept, so the caller logs it
 * once per spell of the same failure. Without memory the old one stays
 * and the answer is true (logging twice beats never).
 */
bool ls_act_note(char **slot, const char *msg);

/* Forgets the message in *slot: true when there was one (the caller logs
 * the recovery). */
bool ls_act_unnote(char **slot);

/* The target as a decision needs it. */
struct ls_act_view {
	int32_t replicas;
	bool paused;
	int32_t paused_replicas; /* -1 when not set */
};

struct ls_act_callbacks {
	/* The loop's record of scaler idx. */
	struct ls_act_target *(*target)(void *ud, size_t idx);
	/* A /scale read that ls_act_target started has ended: ask again. */
	void (*read_done)(void *ud, size_t idx);
	/* A patch ended: 0, or the errno of kube.h with errmsg. */
	void (*write_done)(void *ud, size_t idx, int err, const char *errmsg);
	void *ud;
};

/*
 * The actor for the cluster kc (borrowed; must outlive it). No I/O: the
 * watches start with ls_act_watch. 0, or -EINVAL/-ENOMEM with errbuf
 * saying why.
 */
int ls_act_new(const struct ls_kube_config *kc, bool dry_run, volatile sig_atomic_t *stop,
	       const struct ls_act_callbacks *cb, struct ls_act **ret, char *errbuf,
	       size_t errlen);
/* Cancels what is on its way (without callbacks), stops the watches. NULL: no-op. */
void ls_act_free(struct ls_act *a);

/*
 * Watches the collections of cfg's targets (new ones added, unused ones
 * ended) and starts the watch thread. 0 or a negative errno.
 */
int ls_act_watch(struct ls_act *a, const struct ls_config *cfg);
/* Waits until every watch has listed once, at most timeout_ms. 0 or -ETIMEDOUT. */
int ls_act_wait_synced(struct ls_act *a, int64_t timeout_ms);
/* ... or has failed (ls_kube_informer_wait_settled). 0 or -ETIMEDOUT. */
int ls_act_wait_settled(struct ls_act *a, int64_t timeout_ms);

/*
 * The watches' change counter (ls_kube_informer_changes): it moves when a
 * watch fails or works again, among others. With ls_act_watch_current, a
 * scaler whose decision failed on a stale watch (t->watch_failed) can be
 * decided again as soon as the API server is back, not a polling interval
 * later.
 */
uint64_t ls_act_changes(struct ls_act *a);
/* Whether the watch of sc's target has listed and its stream is established now. */
bool ls_act_watch_current(struct ls_act *a, const struct ls_config_scaler *sc);

/*
 * What scaler idx's target is now:
 *   0   known: *ret filled, t->uid set;
 *   1   its replicas are being read (a read was started, or is on its way):
 *       read_done(idx) says when to ask again;
 *   <0  it cannot be read now (not found, the watch failed or is stale
 *       longer than stale_after_ms, the read failed): errmsg says why,
 *       logged once per distinct message. -ENOENT when the target does not
 *       exist (not in the watch, or a 404 on its /scale: a kind without
 *       the subresource, or the object deleted meanwhile).
 */
int ls_act_target(struct ls_act *a, const struct ls_config_scaler *sc, size_t idx,
		  struct ls_act_target *t, int64_t stale_after_ms, struct ls_act_view *ret,
		  char *errmsg, size_t errlen);

/*
 * Fills t->uid from the watch alone (no request), for an Event on a target
 * whose replicas are not read (its scaler is skipped). 0, or -ENOENT when
 * the watch does not hold the target (t->uid then "": the Event names it
 * without a uid).
 */
int ls_act_target_uid(struct ls_act *a, const struct ls_config_scaler *sc,
		      struct ls_act_target *t);

/* Starts setting the target's replicas (t->writing until write_done). 0 or
 * a negative errno (nothing started: write_done will not come). */
int ls_act_scale(struct ls_act *a, const struct ls_config_scaler *sc, size_t idx,
		 struct ls_act_target *t, int32_t replicas);

/*
 * Events waiting to be sent or answered at once, at most. The API server
 * takes Events at its client rate (a few tens a second): 10,000 scalers
 * that all fail in one round would otherwise queue 10,000 Events a round,
 * each holding its strings and a place in the queue in front of the
 * scale requests, and the queue would only grow. An Event over the bound
 * is dropped (an Event is a hint for a human; the decision, the log line
 * and the metrics say the same) and counted (ls_act_events_dropped,
 * lagscale_events_dropped_total).
 */
#define LS_ACT_EVENTS_QUEUED_MAX 500

/* Records an Event on the target (type "Normal"/"Warning"); a failure is
 * logged once and otherwise ignored. Dropped when LS_ACT_EVENTS_QUEUED_MAX
 * are already on their way. */
void ls_act_event(struct ls_act *a, const struct ls_config_scaler *sc, const struct ls_act_target *t,
		  const char *type, const char *reason, const char *action, const char *note);

/*
 * Records an Event on any object (regarding; uid may be NULL), as
 * ls_act_event does on a target: a LagScaler whose spec cannot be used.
 * log_name names the subject of the log line if it fails.
 */
struct ls_kube_target;
void ls_act_event_on(struct ls_act *a, const struct ls_kube_target *regarding, const char *uid,
		     const char *type, const char *reason, const char *action, const char *note,
		     const char *log_name);

/* The result of an ls_act_patch: tag as given, err 0 or the errno of
 * kube.h with errmsg. Also -ECANCELED when drained or superseded. */
typedef void (*ls_act_patch_cb)(void *ud, void *tag, int err, const char *errmsg);
/* Where ls_act_patch's results go (one receiver). */
void ls_act_set_patch_cb(struct ls_act *a, ls_act_patch_cb cb, void *ud);
/*
 * Starts a JSON merge patch of body at path (ls_kube_async_patch; t names
 * the object): a LagScaler's status. tag is the caller's pointer, aligned
 * to at least 4 bytes (its low bits carry the request's kind); its
 * result goes to the patch callback. 0, or -EINVAL (tag not aligned) and
 * ls_kube_async_patch's errors (no callback then). Not sent with
 * ?dryRun: the caller does not patch in dry-run.
 */
int ls_act_patch(struct ls_act *a, const struct ls_kube_target *t, const char *path,
		 const char *body, void *tag);

/* Drives the requests for at most timeout_ms (returning early when one
 * ends, at once when none is on its way), running callbacks. Returns how
 * many are still on their way. */
size_t ls_act_poll(struct ls_act *a, int64_t timeout_ms);
/* How many requests are on their way. */
size_t ls_act_pending(const struct ls_act *a);
/* Events dropped so far because LS_ACT_EVENTS_QUEUED_MAX were queued. */
uint64_t ls_act_events_dropped(const struct ls_act *a);
/* Polls until nothing is on its way, at most timeout_ms; then cancels the
 * rest (their callbacks run with an error). */
void ls_act_drain(struct ls_act *a, int64_t timeout_ms);

#endif
