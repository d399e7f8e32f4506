/*
 * kube.h - a small Kubernetes API client over libcurl: the `/scale`
 * subresource of any workload, the paused annotations, and Events. The
 * leader-election Lease is in leader.h; where the server is and the
 * credentials are, in kubeconfig.h.
 *
 * Transport. One CURL easy handle per client, so one kept-alive
 * connection is reused for every request. TLS is always verified (against
 * the kubeconfig's CA, or the system's roots), unless the kubeconfig sets
 * insecure-skip-tls-verify; tls-server-name is the name verified (and sent
 * as SNI). Every request has a connect and a total timeout; response
 * bodies are capped at LS_KUBE_MAX_BODY (-E2BIG beyond). Requests are sent
 * one at a time; async.h sends many at once beside a client (scale reads
 * and patches, Events), so that one slow target holds up no other.
 *
 * Credentials are attached per request and never logged: a token; a token
 * file, re-read every minute and after a 401 (so rotation works, also for
 * the in-cluster service-account token); a client certificate (files are
 * re-read by curl at each new connection); basic auth; or an exec plugin
 * (client.authentication.k8s.io/v1 or v1beta1, with KUBERNETES_EXEC_INFO
 * set as client-go sets it), whose token or client certificate is cached
 * until its status.expirationTimestamp and fetched again after a 401.
 *
 * Errors: every function returns 0 or a negative errno, HTTP and curl
 * errors translated here (see ls_kube_status_errno):
 *   -EACCES     401 (after one credential refresh) or 403
 *   -ENOENT     404: the object (or its kind) does not exist
 *   -EEXIST     409 AlreadyExists;  -ESTALE  409 Conflict
 *   -EINVAL     400 or 422: the server refused the request as invalid
 *   -EBUSY      429 Too Many Requests, after the retries
 *   -EIO        5xx, after the retries, or another unexpected status
 *   -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ECONNRESET: the server is not
 *               reachable, or hung up
 *   -EPROTO     a TLS failure, or a response that is not what the API sends
 *   -E2BIG      a response over LS_KUBE_MAX_BODY;  -ECANCELED  stop was set
 *   -ENOKEY     no credential to send: the exec plugin could not be run,
 *               timed out or failed, or the token file cannot be read (the
 *               request was not sent; errmsg names the plugin or file)
 * and ls_kube_errmsg() says what happened in one line: the API's Status
 * message as the server wrote it (for 403: `deployments.apps "x" is
 * forbidden: User "lagscale" cannot patch resource "deployments/scale" in
 * API group "apps" in the namespace "shop"`), or the transport error.
 *
 * Retries: reads and the scale patch are retried on 409, 429 (honouring
 * Retry-After), 5xx and transport failures, with exponential backoff and
 * full jitter, at most LS_KUBE_MAX_ATTEMPTS times within the request's
 * time budget. Creating an Event is not retried (it is not idempotent).
 *
 * Thread-safety: a client is used by one thread at a time (it owns a CURL
 * handle); use one client per thread. The config is shared read-only.
 */
#ifndef LS_KUBE_KUBE_H
#define LS_KUBE_KUBE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kubeconfig.h"

#define LS_KUBE_MAX_BODY           (4 * 1024 * 1024)
#define LS_KUBE_MAX_ATTEMPTS       4
#define LS_KUBE_CONNECT_TIMEOUT_MS 5000
#define LS_KUBE_TIMEOUT_MS         15000
/* Exec plugins that run longer than this are killed. */
#define LS_KUBE_EXEC_TIMEOUT_MS 60000
/* Event notes are limited to 1 KiB by the API (events.k8s.io/v1). */
#define LS_KUBE_NOTE_MAX 1024

#define LS_KUBE_PAUSED_ANNOTATION          "lagscale.io/paused"
#define LS_KUBE_PAUSED_REPLICAS_ANNOTATION "lagscale.io/paused-replicas"

struct ls_kube;

struct ls_kube_options {
	int64_t connect_timeout_ms; /* 0: LS_KUBE_CONNECT_TIMEOUT_MS */
	int64_t timeout_ms;         /* per request, retries included; 0: LS_KUBE_TIMEOUT_MS */
	/* Non-zero: abandon retries and transfers in progress (-ECANCELED). */
	volatile sig_atomic_t *stop;
};

/*
 * A client for kc (which must outlive it). No I/O: the first request
 * connects. opts may be NULL for the defaults. 0, -EINVAL (kc's server is
 * not a URL curl accepts) or -ENOMEM; *ret untouched on failure.
 */
int ls_kube_new(const struct ls_kube_config *kc, const struct ls_kube_options *opts,
                struct ls_kube **ret);
/* _free(NULL) is a no-op; wipes the cached credentials. */
void ls_kube_free(struct ls_kube *k);

/* The last failure of k in one line (never a secret); "" after a success. */
const char *ls_kube_errmsg(const struct ls_kube *k);

/* How many HTTP requests k sent (attempts, retries included): for tests. */
uint64_t ls_kube_requests(const struct ls_kube *k);

/* --- workloads: /scale and the pause annotations ------------------------- */

/* A workload: any kind with a scale subresource (strings are borrowed). */
struct ls_kube_target {
	const char *api_version; /* "apps/v1", "v1", "example.com/v1alpha1" */
	const char *kind;        /* "Deployment" */
	const char *namespace_;  /* ignored for cluster-scoped kinds */
	const char *name;
};

struct ls_kube_scale {
	int32_t replicas;        /* spec.replicas of the scale subresource */
	int32_t status_replicas; /* status.replicas, -1 when absent */
	bool paused;             /* lagscale.io/paused is "true" */
	int32_t paused_replicas; /* lagscale.io/paused-replicas, -1 when absent */
	/* A pause annotation that does not parse: the target counts as paused
	 * (lagscale must not fight a person), and this says why. */
	char pause_error[160];
	char uid[64]; /* metadata.uid of the target, for Events */
};

/*
 * Reads the target's scale subresource and its annotations (two GETs; the
 * kind's resource comes from discovery, /apis/GROUP/VERSION or /api/v1,
 * cached per client). 0 and *ret; -ENOENT when the target or its kind does
 * not exist, -EINVAL when the kind has no scale subresource, or the
 * errors above. *ret untouched on failure.
 */
int ls_kube_scale_get(struct ls_kube *k, const struct ls_kube_target *t, struct ls_kube_scale *ret);

/*
 * Sets spec.replicas with a JSON merge patch on the scale subresource
 * ({"spec":{"replicas":N}}). dry_run sends ?dryRun=All: the server
 * validates the patch and checks RBAC but persists nothing. Returns 0 or
 * the errors above (-EACCES with the RBAC message in ls_kube_errmsg()).
 */
int ls_kube_scale_set(struct ls_kube *k, const struct ls_kube_target *t, int32_t replicas,
                      bool dry_run);

/*
 * The resource of (api_version, kind) as the API names it in its messages:
 * "deployments.apps", "statefulsets.apps", "pods" (core group), from
 * discovery (cached per client). 0; or -ENOENT, -EINVAL and the errors of
 * ls_kube_scale_get's discovery.
 */
int ls_kube_resource_name(struct ls_kube *k, const char *api_version, const char *kind,
                          char *ret, size_t len);

/*
 * Parses the two pause annotations' values (NULL when absent): 0 and
 * *ret_paused (paused is "true", or paused-replicas is set), *ret_replicas
 * (-1 when not set); -EINVAL when paused is not "true"/"false" or
 * paused-replicas is not a count >= 0. Outputs untouched on failure.
 */
int ls_kube_parse_pause(const char *paused, const char *paused_replicas, bool *ret_paused,
                        int32_t *ret_replicas);

/*
 * The API path of an object: "/apis/GROUP/VERSION/namespaces/NS/RESOURCE/
 * NAME" ("/api/v1/..." for the core group, no namespaces/NS when
 * namespace_ is NULL), then suffix (may be NULL, e.g. "/scale"). Names
 * are percent-encoded. Returns 0 and a heap string, -EINVAL when
 * api_version is empty, -ENOMEM.
 */
int ls_kube_object_path(const char *api_version, const char *resource, const char *namespace_,
                        const char *name, const char *suffix, char **ret);

/* --- HTTP helpers shared by the module (pure) ----------------------------- */

/* The errno for an HTTP status (reason: the Status `reason`, may be NULL). */
int ls_kube_status_errno(long status, const char *reason);

/* The longest wait a Retry-After can ask for: 10 minutes. A server (or a
 * proxy) that asks for more gets this; a deadline always ends sooner. */
#define LS_KUBE_RETRY_AFTER_MAX_MS (10 * 60 * 1000)

/*
 * Parses a Retry-After value: delta-seconds ("120") or an IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT", compared with now_wall_ms; a date in
 * the past is 0), clamped to LS_KUBE_RETRY_AFTER_MAX_MS. 0 and *ret_ms;
 * -EINVAL (untouched) otherwise.
 */
int ls_kube_parse_retry_after(const char *value, int64_t now_wall_ms, int64_t *ret_ms);

/* --- Events (events.k8s.io/v1) -------------------------------------------- */

struct ls_kube_event {
	const struct ls_kube_target *regarding;
	const char *regarding_uid; /* may be NULL */
	const char *type;          /* "Normal" or "Warning" */
	const char *reason;        /* "ScaledUp", "ScaleFailed", ... */
	const char *action;        /* what lagscale did or tried: "Scale", "ReadLag" */
	const char *note;          /* truncated to LS_KUBE_NOTE_MAX bytes (at a UTF-8 boundary) */
};

/*
 * The aggregation key of an event: regarding (apiVersion, kind, namespace,
 * name), type, reason and the (truncated) note. Two events with the same
 * key are one Event with a series. Returns 0 and a heap string, -ENOMEM.
 */
int ls_kube_event_key(const struct ls_kube_event *ev, char **ret);

/*
 * A recorder remembers the Events it created so a repeat becomes a PATCH
 * of the existing Event's series ({count, lastObservedTime}) instead of a
 * new object. A series ends after LS_KUBE_SERIES_IDLE_MS without a repeat
 * (the next one starts a new Event), and at most LS_KUBE_RECORDER_MAX
 * events are remembered (the least recent is forgotten). One thread.
 */
#define LS_KUBE_SERIES_IDLE_MS (6 * 60 * 1000)
#define LS_KUBE_RECORDER_MAX   256

struct ls_kube_recorder;

/* controller: reportingController ("lagscale.io/lagscale"); instance:
 * reportingInstance (the pod's name or the host name). 0 or -ENOMEM. */
int ls_kube_recorder_new(const char *controller, const char *instance,
                         struct ls_kube_recorder **ret);
void ls_kube_recorder_free(struct ls_kube_recorder *rec);

/*
 * Records ev at now (wall ms for the Event's times, mono ms for the
 * series bookkeeping): creates the Event (in the target's namespace), or
 * patches the series of the one created for the same key; an Event that
 * was deleted meanwhile is created again. dry_run sends ?dryRun=All and
 * remembers nothing. Returns 0 or the errors above.
 */
int ls_kube_event_record(struct ls_kube_recorder *rec, struct ls_kube *k,
                         const struct ls_kube_event *ev, int64_t now_wall_ms, int64_t now_mono_ms,
                         bool dry_run);

#endif
