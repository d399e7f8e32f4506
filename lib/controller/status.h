/*
 * status.h - the status of LagScaler objects (part of lib/controller;
 * DESIGN.md section 11): what each object scaler decided, written to the
 * object's status subresource, and Events on the object for what its
 * owner must fix.
 *
 * What is written, as a JSON merge patch of .../lagscalers/NAME/status:
 *   observedGeneration   the metadata.generation the status describes
 *   currentReplicas, recommendedReplicas, desiredReplicas, totalLag,
 *   partitionCount, lagSeconds (null when unknown), reason
 *                        the last decision's (lib/policy)
 *   lastScaleTime        when lagscale last set the target's replicas
 *   conditions           Ready, Active, Fallback, Paused: status "True",
 *                        "False" or "Unknown", a CamelCase reason, a
 *                        message, lastTransitionTime (moved only when the
 *                        status flips) and observedGeneration
 * Condition reasons:
 *   Ready     True: Decided. False: InvalidSpec (the spec cannot be used:
 *             the parser's message, an unknown cluster), TargetConflict
 *             (another scaler has the target), TargetNotFound,
 *             TargetReadFailed, LagReadFailed, GroupNotFound,
 *             KafkaConfigInvalid (the cluster's settings), ScaleFailed,
 *             DecisionFailed. Unknown: Pending (no decision yet).
 *   Active    True: LagAboveActivation; False: LagBelowActivation.
 *   Fallback  True: FallbackActive; False: NoFallback.
 *   Paused    True: PausedByAnnotation; False: NotPaused.
 *   (Active, Fallback and Paused are Unknown, reason Pending, until the
 *   first decision, and keep their last value while Ready is False.)
 *
 * When. Nothing is written for an object before its scaler's first
 * decision (unless it cannot run: its spec, or the one-owner rule); that
 * decision is written at once. Then a status is written only when it
 * differs from the last one written for the object, at most once per
 * polling interval of its scaler (15 s for an object without one), only
 * by the instance that may write (the leader), never in dry-run (the
 * caller does not make a status then). Writes go out on the async client of act.h, so they never
 * delay a decision; a failed write is tried again at the next flush. A
 * status the object already had when first listed seeds the condition
 * transition times and lastScaleTime, so a restart does not reset them.
 *
 * Events. Ready turning False, or changing its message while False,
 * records one Warning Event on the LagScaler (reason: Ready's reason,
 * note: the message); the same message is not recorded again until Ready
 * was True in between.
 *
 * Thread-safety: one thread (the loop's).
 */
#ifndef LS_CONTROLLER_STATUS_H
#define LS_CONTROLLER_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/objects.h"
#include "policy/policy.h"

struct ls_kube_target;
struct ls_status;

/* Where the writes go: the controller's act.h (ls_act_patch,
 * ls_act_event_on), or a test's fake. */
struct ls_status_sink {
	/* Starts a merge patch of body at path for the object t; its result
	 * comes back through ls_status_patch_done with tag. 0, or a negative
	 * errno (nothing started). */
	int (*patch)(void *ud, const struct ls_kube_target *t, const char *path, const char *body,
	             void *tag);
	/* Records a Warning Event on the object t (uid may be NULL). */
	void (*event)(void *ud, const struct ls_kube_target *t, const char *uid, const char *reason,
	              const char *note, const char *log_name);
	void *ud;
};

/* A status writer on sink (copied; its ud must outlive the writer). 0 or
 * -ENOMEM. */
int ls_status_new(const struct ls_status_sink *sink, struct ls_status **ret);
/* Frees everything, also entries whose patch is on its way: cancel the
 * sink's requests first (their ls_status_patch_done must not come). */
void ls_status_free(struct ls_status *st);

/* A patch the sink started ended: err 0, or a negative errno and errmsg
 * (-ECANCELED: drained or superseded). A failed write is tried again at
 * a later flush. */
void ls_status_patch_done(struct ls_status *st, void *tag, int err, const char *errmsg);

/*
 * Follows the objects v[0..n) (ls_objects_at of the last refresh): an
 * entry for each new object (seeded from its status), gone ones
 * forgotten, generation and uid updated. An object without a scaler gets
 * Ready False InvalidSpec with its error; one whose scaler was left out
 * for the one-owner rule (its conflict), Ready False TargetConflict. 0 or
 * -ENOMEM.
 */
int ls_status_sync(struct ls_status *st, const struct ls_object *v, size_t n);

/* How a decision ended, besides the decision itself. */
struct ls_status_outcome {
	const char *fail_reason; /* a Ready reason above when the round failed, else NULL */
	const char *fail_msg;    /* its message; NULL: the decision's reason */
	bool paused;             /* the target's pause annotations are set */
	double lag_seconds;      /* < 0: unknown */
	int64_t polling_ms;      /* the scaler's polling interval */
};

/* Object scaler key ("NAMESPACE/NAME") decided d at now_wall_ms. An
 * unknown key (not an object's) is ignored. */
void ls_status_decided(struct ls_status *st, const char *key, const struct ls_decision *d,
                       const struct ls_status_outcome *o, int64_t now_wall_ms);

/* lagscale set the replicas of key's target at now_wall_ms (lastScaleTime). */
void ls_status_scaled(struct ls_status *st, const char *key, int64_t now_wall_ms);

/*
 * Sends the statuses that changed and are due, and the Events due; with
 * may_write false (a follower) only remembers them for later. Cheap when
 * nothing changed (a flag per object, a time per writer).
 */
void ls_status_flush(struct ls_status *st, bool may_write, int64_t now_mono_ms);

/* Counters for tests and logs. */
struct ls_status_stats {
	uint64_t writes;   /* status patches sent */
	uint64_t failures; /* of them, failed */
	uint64_t events;   /* Events recorded on LagScalers */
};
void ls_status_stats(const struct ls_status *st, struct ls_status_stats *ret);

#endif
