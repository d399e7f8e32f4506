/*
 * objects.h - LagScaler objects as a source of scalers (part of
 * lib/controller; DESIGN.md section 11): the lagscale.io/v1alpha1
 * LagScalers of every namespace, or of kubernetes.watchNamespaces (one
 * watch each), kept by the informer of lib/kube/watch.h (whole objects),
 * each spec turned into a scaler by lib/config (ls_config_scaler_from_json:
 * the file's walker and messages) and named "NAMESPACE/NAME".
 *
 * The controller asks ls_objects_changed between rounds (a counter
 * compare, no copy) and, when it moved, ls_objects_refresh, which copies
 * the watches' objects and parses only the specs that are new or whose
 * metadata.generation changed (all of them when the configuration
 * changed: a spec names its cluster by the configuration's names). A spec
 * that cannot be used keeps no scaler, and its error says why, in
 * lagscale's words ("spec.kafka.cluster: no cluster named "x" in
 * kafka.clusters"); it is logged once per distinct message.
 *
 * A watch that has not listed (the CRD is not installed, RBAC refuses
 * the list) contributes no object: the file's scalers go on, and the
 * reason is logged once, with what to do. A watch that fails after it
 * listed goes on answering from what it last listed.
 *
 * Thread-safety: one thread (the loop's); the watches run on a thread of
 * their own.
 */
#ifndef LS_CONTROLLER_OBJECTS_H
#define LS_CONTROLLER_OBJECTS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define LS_OBJECTS_API_VERSION "lagscale.io/v1alpha1"
#define LS_OBJECTS_KIND        "LagScaler"
#define LS_OBJECTS_RESOURCE    "lagscalers"

struct ls_kube_config;
struct ls_objects;

/* One LagScaler as last listed. */
struct ls_object {
	char *key; /* "NAMESPACE/NAME": the scaler's name */
	char *namespace_;
	char *name;
	char uid[64];
	int64_t generation; /* metadata.generation the scaler (or error) is of */
	char *created;      /* metadata.creationTimestamp ("" when absent) */
	/* The scaler (its strings its own), or NULL when the spec cannot be
	 * used and error says why (the parser's messages joined by "; "). */
	struct ls_config_scaler *scaler;
	char *error;
	/* Why its scaler is not run although it could be: another scaler has
	 * its target (ls_objects_compose), else NULL. */
	char *conflict;
	char *status_json; /* the object's status as listed (JSON), or NULL */
};

/*
 * Declares the watches of the LagScalers of cfg->watch_namespaces (or
 * every namespace) on the cluster kc (borrowed; must outlive it). No I/O
 * until ls_objects_start. 0, or -ENOMEM / -EINVAL.
 */
int ls_objects_new(const struct ls_kube_config *kc, const struct ls_config *cfg,
                   volatile sig_atomic_t *stop, struct ls_objects **ret);
/* Starts the watch thread: 0, or a negative errno from pthread_create. */
int ls_objects_start(struct ls_objects *o);
/* Stops the watches and frees everything; NULL is a no-op. */
void ls_objects_free(struct ls_objects *o);

/* Waits until every watch has listed once, or has failed (the CRD is not
 * installed), at most timeout_ms. 0 or -ETIMEDOUT. */
int ls_objects_wait_synced(struct ls_objects *o, int64_t timeout_ms);

/* True when the watches saw a change since the last ls_objects_refresh. */
bool ls_objects_changed(struct ls_objects *o);

/*
 * Lists the objects again (the watches of cfg->watch_namespaces: watches
 * added and ended as it changed) and parses the specs that are new or
 * changed, or every spec when cfg is not the one of the last refresh.
 * The objects are then in order of creation (then key), so that of two
 * LagScalers with one target the older keeps it. 1 when the scalers or
 * errors changed (an object added, removed, or of another generation;
 * cfg changed), 0 when not; -ENOMEM (the previous objects stay).
 */
int ls_objects_refresh(struct ls_objects *o, const struct ls_config *cfg);

/*
 * The configuration to run: cfg's scalers, then the objects' scalers in
 * the order of the last refresh (ls_config_compose, which keeps one
 * scaler per workload). Each object's conflict says whether its scaler
 * was left out and why; a new reason is logged once. 0 and *ret (free it
 * with ls_config_free; it borrows cfg), or -ENOMEM.
 */
int ls_objects_compose(struct ls_objects *o, const struct ls_config *cfg, struct ls_config **ret);

/* The objects of the last refresh (valid until the next): a contiguous
 * array, ls_objects_at(o, 0) .. ls_objects_at(o, count - 1). */
size_t ls_objects_count(const struct ls_objects *o);
const struct ls_object *ls_objects_at(const struct ls_objects *o, size_t i);

#endif
