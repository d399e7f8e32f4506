/*
 * leader.h - leader election on a coordination.k8s.io/v1 Lease, with
 * client-go's semantics (k8s.io/client-go/tools/leaderelection), so that
 * of several lagscale replicas exactly one writes scale and Events.
 *
 * The rules (the pure part, struct ls_kube_election, no I/O, no clock):
 *  - holderIdentity is this process's identity (hostname "_" random);
 *  - a Lease that does not exist is created; one held by nobody (released)
 *    or expired is taken over with an update that carries the
 *    resourceVersion read, so of two candidates only one succeeds (the
 *    other gets 409 Conflict);
 *  - a follower judges expiry by its own monotonic clock since it last saw
 *    the record change, never by the renewTime written by another host
 *    (clocks differ): expired when leaseDurationSeconds have passed since;
 *  - the leader renews every retryPeriod; one that could not renew for
 *    renewDeadline stops being the leader at once (is_leader false),
 *    before any follower may take over (renewDeadline < leaseDuration);
 *  - acquireTime and leaseTransitions are kept across renewals; taking
 *    over counts a transition;
 *  - releasing (on stop) writes holderIdentity "" and
 *    leaseDurationSeconds 1, as client-go's ReleaseOnCancel, so a
 *    follower takes over at its next attempt instead of waiting.
 *
 * The elector (struct ls_kube_leader) runs these rules in a thread of its
 * own with a client of its own, so a slow Kafka round or a slow scale
 * request never delays a renewal.
 */
#ifndef LS_KUBE_LEADER_H
#define LS_KUBE_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kubeconfig.h"

#define LS_KUBE_HOLDER_MAX 256

struct ls_kube_lease_record {
	char holder[LS_KUBE_HOLDER_MAX]; /* "" when nobody holds it */
	int32_t lease_duration_s;
	int64_t acquire_ms; /* wall ms; 0 when unset */
	int64_t renew_ms;   /* wall ms; 0 when unset */
	int32_t transitions;
};

struct ls_kube_election_params {
	int64_t lease_duration_ms; /* 15 s by default */
	int64_t renew_deadline_ms; /* 10 s */
	int64_t retry_period_ms;   /* 2 s */
};

/* The election state of one candidate; fields are read-only to callers. */
struct ls_kube_election {
	char identity[LS_KUBE_HOLDER_MAX];
	struct ls_kube_election_params p;
	bool observed;                   /* an answer was seen: a record, or "no Lease" */
	bool exists;                     /* the Lease exists */
	struct ls_kube_lease_record rec; /* the last record seen or written */
	char rv[64];                     /* its resourceVersion */
	int64_t observed_ms;             /* mono ms when rec last changed */
	bool leading;                    /* holder is us and we wrote it */
	int64_t renewed_ms;              /* mono ms of the last successful write */
};

enum ls_kube_election_step {
	LS_KUBE_ELECT_WAIT = 0, /* held by another and not expired, or nothing seen yet */
	LS_KUBE_ELECT_CREATE,   /* no Lease: create it */
	LS_KUBE_ELECT_UPDATE,   /* renew ours, or take over a free or expired one */
};

/* Starts as a follower that has seen nothing. identity is copied (truncated). */
void ls_kube_election_init(struct ls_kube_election *e, const char *identity,
                           const struct ls_kube_election_params *p);

/*
 * Feeds what a GET returned at now_ms: rec and its resourceVersion, or
 * rec NULL when the Lease does not exist. A record naming another holder
 * ends our leadership at once.
 */
void ls_kube_election_observe(struct ls_kube_election *e, const struct ls_kube_lease_record *rec,
                              const char *rv, int64_t now_ms);

/*
 * What to do now (mono now_ms; now_wall_ms goes into the record). For
 * CREATE and UPDATE, *ret is the record to write (with e->rv for an
 * update); for WAIT *ret is untouched.
 */
enum ls_kube_election_step ls_kube_election_next(const struct ls_kube_election *e, int64_t now_ms,
                                                 int64_t now_wall_ms,
                                                 struct ls_kube_lease_record *ret);

/* A create or update of rec succeeded at now_ms; rv is the new resourceVersion. */
void ls_kube_election_written(struct ls_kube_election *e, const struct ls_kube_lease_record *rec,
                              const char *rv, int64_t now_ms);

/* True while we are the leader: leading, and renewed less than renewDeadline ago. */
bool ls_kube_election_is_leader(const struct ls_kube_election *e, int64_t now_ms);

/*
 * True when we hold the Lease and should release it; *ret is then the
 * record to write (holder "", leaseDurationSeconds 1, transitions kept).
 */
bool ls_kube_election_release(const struct ls_kube_election *e, int64_t now_wall_ms,
                              struct ls_kube_lease_record *ret);

/* How long to wait before the next attempt (before jitter): retryPeriod,
 * or less when another holder's lease expires sooner. */
int64_t ls_kube_election_wait_ms(const struct ls_kube_election *e, int64_t now_ms);

/* --- the elector ----------------------------------------------------------- */

struct ls_kube_leader;

struct ls_kube_leader_options {
	const char *namespace_; /* the Lease's namespace */
	const char *name;       /* the Lease's name */
	const char *identity;   /* NULL: hostname "_" 16 random hex digits */
	struct ls_kube_election_params params;
};

struct ls_kube_leader_status {
	bool leading;                    /* as ls_kube_leader_is_leader() */
	char holder[LS_KUBE_HOLDER_MAX]; /* the holder seen last; "" none or unknown */
	int error;                       /* the last attempt's errno (0: it worked) */
	char errmsg[512];                /* ... and its message */
};

/*
 * An elector for kc (which must outlive it); no I/O until _start. 0,
 * -EINVAL (missing namespace or name, renewDeadline >= leaseDuration,
 * retryPeriod >= renewDeadline) or -ENOMEM. *ret untouched on failure.
 */
int ls_kube_leader_new(const struct ls_kube_config *kc, const struct ls_kube_leader_options *o,
                       struct ls_kube_leader **ret);

/* Starts the election thread. 0 or a negative errno from pthread_create. */
int ls_kube_leader_start(struct ls_kube_leader *le);

/* Waits (at most timeout_ms) until the first attempt has finished, so a
 * lone instance is the leader before its first round. */
void ls_kube_leader_wait_first(struct ls_kube_leader *le, int64_t timeout_ms);

/* Thread-safe. False before the first successful acquire. */
bool ls_kube_leader_is_leader(struct ls_kube_leader *le);
void ls_kube_leader_status(struct ls_kube_leader *le, struct ls_kube_leader_status *ret);
const char *ls_kube_leader_identity(const struct ls_kube_leader *le);

/*
 * Stops the thread and, when we lead, releases the Lease (one update,
 * bounded by a few seconds) so another instance takes over at once.
 * Idempotent. _free stops first; _free(NULL) is a no-op.
 */
void ls_kube_leader_stop(struct ls_kube_leader *le);
void ls_kube_leader_free(struct ls_kube_leader *le);

/* The Lease as JSON (for create and update; rv NULL or "" for create). */
int ls_kube_lease_json(const char *namespace_, const char *name, const char *rv,
                       const struct ls_kube_lease_record *rec, char **ret);

#endif
