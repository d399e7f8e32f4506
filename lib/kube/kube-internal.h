/*
 * kube-internal.h - shared by the files of lib/kube, not for other modules:
 * the raw API call with retries, exec plugins, JSON helpers, discovery.
 */
#ifndef LS_KUBE_INTERNAL_H
#define LS_KUBE_INTERNAL_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube/kube.h"
#include "kube/kubeconfig.h"

struct ls_kube_call {
	const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;         /* "/apis/...", query included */
	const char *body;         /* NULL: none */
	const char *content_type; /* with body: NULL means application/json */
	const char *accept;       /* NULL: application/json */
	bool retry;               /* retry 429, 5xx and transport failures */
	bool retry_conflict;      /* ... and 409 */
	int64_t timeout_ms;       /* the whole call, retries included; 0: the client's */
};

/*
 * Sends one request (retrying as c says, refreshing the credentials once
 * on a 401). On a 2xx: 0 and *ret_json (NULL for an empty body; ret_json
 * may be NULL when the body is not wanted). Otherwise the errno of
 * kube.h and ls_kube_errmsg() set; *ret_json untouched.
 */
int ls_kube_call(struct ls_kube *k, const struct ls_kube_call *c, cJSON **ret_json);

/* --- transfers on handles of one's own (watches, the multi interface) --- */

/*
 * Sets up h, an easy handle the caller owns, to send c as k would: the
 * server's URL with c->path, TLS (the kubeconfig's CA, client certificate
 * or the exec plugin's), proxy, connect-to, basic auth, the headers
 * (Accept, Content-Type, Authorization with k's current credential,
 * impersonation), method, body, and a total timeout (0 ms: none, for a
 * watch). The credential is refreshed first when due, as ls_kube_call
 * does. The caller sets its own write and header callbacks, keeps
 * *ret_headers until the transfer has ended, then frees them with
 * ls_kube_free_headers (they hold the token). c->body is not copied: it
 * must outlive the transfer. 0, or the credential's errno / -ENOMEM
 * (errmsg set; *ret_headers NULL).
 */
int ls_kube_easy_setup(struct ls_kube *k, CURL *h, const struct ls_kube_call *c,
                       int64_t timeout_ms, struct curl_slist **ret_headers);
/* Wipes (they may hold a token) and frees headers; NULL is a no-op. */
void ls_kube_free_headers(struct curl_slist *h);
/* After a 401: fetches the credential again (token file, exec plugin).
 * 0 when another attempt is worth it; -EACCES when the credential cannot
 * be refreshed (a static token), or the refresh's errno. */
int ls_kube_refresh_creds(struct ls_kube *k);
bool ls_kube_creds_refreshable(const struct ls_kube *k);
/* The errno of kube.h for a curl result. */
int ls_kube_curl_errno(CURLcode rc);
/* Sets errmsg from a failed response (the API's Status in body, or the
 * status line) and returns the errno of kube.h for it. */
int ls_kube_status_error(struct ls_kube *k, const struct ls_kube_call *c, long status,
                         const char *body, size_t len);

/* Sets the message ls_kube_errmsg() returns. */
void ls_kube_set_errmsg(struct ls_kube *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const struct ls_kube_config *ls_kube_get_config(const struct ls_kube *k);

/* The discovery cache a client owns (scale.c fills it, the client frees it). */
struct ls_kube_discovery;
struct ls_kube_discovery **ls_kube_discovery_slot(struct ls_kube *k);
void ls_kube_discovery_free(struct ls_kube_discovery *d);

/* --- paths (scale.c) ----------------------------------------------------- */

/*
 * The API path of target t (ls_kube_object_path), its kind's resource
 * looked up by discovery (cached per client), then suffix (may be NULL,
 * e.g. "/scale"). 0 and a heap string; -ENOENT (no such kind), -EINVAL
 * (no scale subresource, or a namespaced kind without a namespace), or
 * the errors of a discovery request; errmsg set.
 */
int ls_kube_target_path(struct ls_kube *k, const struct ls_kube_target *t, const char *suffix,
                        char **ret);
/*
 * The path of the collection of (apiVersion, kind) in namespace_
 * ("/apis/apps/v1/namespaces/shop/deployments"; no namespace part for a
 * cluster-scoped kind, or when namespace_ is NULL or ""). Same returns as
 * ls_kube_target_path.
 */
int ls_kube_collection_path(struct ls_kube *k, const char *api_version, const char *kind,
                            const char *namespace_, char **ret);
/*
 * The same; need_scale false also accepts a kind without a scale
 * subresource (a custom resource such as lagscale.io's LagScaler, which a
 * watch of whole objects reads).
 */
int ls_kube_collection_path_any(struct ls_kube *k, const char *api_version, const char *kind,
                                const char *namespace_, bool need_scale, char **ret);
/*
 * The pause annotations of an object's metadata.annotations (ann may be
 * NULL): paused and paused-replicas (-1 when not set) as
 * ls_kube_parse_pause says; annotations that do not parse count as paused
 * (a person meant to pause it) and err says which and why, else "".
 */
void ls_kube_pause_from_annotations(const cJSON *ann, bool *ret_paused, int32_t *ret_replicas,
                                    char *err, size_t errlen);
/* spec.replicas (0 when omitted) and status.replicas (-1 when absent) of
 * an autoscaling/v1 Scale. 0, or -EPROTO when scale is not an object or a
 * replica count is not an integer in [0, INT32_MAX] (outputs untouched). */
int ls_kube_scale_parse(const cJSON *scale, int32_t *ret_replicas, int32_t *ret_status_replicas);
/*
 * Reads list, the APIResourceList of one group-version, as discovery does,
 * and looks kind up in it: 0, *ret_resource (its resource name, a heap
 * string), *ret_namespaced and *ret_scale (a "<resource>/scale" entry is
 * listed); -ENOENT when kind is not listed, -EPROTO when list has no
 * resources array, -ENOMEM. Outputs untouched on failure. For the fuzz
 * targets of test/fuzz (the cache itself is filled by ls_kube_target_path).
 */
int ls_kube_discovery_parse(const cJSON *list, const char *kind, char **ret_resource,
                            bool *ret_namespaced, bool *ret_scale);

/* --- leases (leader.c) --------------------------------------------------- */

struct ls_kube_lease_record;
/*
 * Reads a coordination.k8s.io/v1 Lease object j into *ret and its
 * resourceVersion into rv (rvlen bytes, truncated). 0; -EPROTO when j is
 * not a Lease with a resourceVersion or leaseDurationSeconds /
 * leaseTransitions is not an integer in [0, INT32_MAX] (outputs
 * untouched). Times that do not parse are left 0.
 */
int ls_kube_lease_parse(const cJSON *j, struct ls_kube_lease_record *ret, char *rv, size_t rvlen);

/* --- exec credential plugins (exec.c) ----------------------------------- */

struct ls_kube_exec_cred {
	char *token;       /* a secret; NULL when the plugin gave a certificate */
	char *cert_pem;    /* NULL unless a client certificate was given */
	char *key_pem;     /* a secret */
	int64_t expiry_ms; /* wall ms of status.expirationTimestamp; 0: none */
};

/*
 * Runs kc->exec's plugin (with KUBERNETES_EXEC_INFO and its env entries on
 * top of lagscale's environment, stdin from /dev/null, its stderr passed
 * through) in a process group of its own, waits at most timeout_ms (then
 * kills the whole group: nothing it started survives), and parses the
 * ExecCredential it
 * prints. 0 and *ret; otherwise a negative errno (-ENOENT: cannot run it,
 * -ETIMEDOUT, -EPROTO: bad output or exit status) and err says why (never
 * with the credential). *ret untouched on failure.
 */
int ls_kube_exec_fetch(const struct ls_kube_config *kc, int64_t timeout_ms,
                       struct ls_kube_exec_cred *ret, char *err, size_t errlen);
/*
 * Parses out[0..len), what e's plugin printed, as an ExecCredential of
 * e->api_version (the part of ls_kube_exec_fetch after the plugin ran).
 * 0 and *ret; -EPROTO (err says why, never with the credential) or
 * -ENOMEM; *ret untouched on failure. The parsed copy of the credential
 * is wiped before it is freed.
 */
int ls_kube_exec_parse(const struct ls_kube_exec_config *e, const char *out, size_t len,
                       struct ls_kube_exec_cred *ret, char *err, size_t errlen);
/* Wipes and frees; leaves *c zeroed. */
void ls_kube_exec_cred_release(struct ls_kube_exec_cred *c);

/* --- JSON helpers --------------------------------------------------------- */

/* obj.k1.k2... (NULL-terminated keys), or NULL. */
const cJSON *ls_kube_json_get(const cJSON *obj, ...) __attribute__((sentinel));
/* The string at obj.key, or NULL when absent or not a string. */
const char *ls_kube_json_str(const cJSON *obj, const char *key);

/*
 * The integer in the JSON value v (ls_kube_json_get's answer), checked
 * with ls_parse_integral: 0 and *ret; -ENOENT when v is NULL; -EPROTO when
 * v is not a number, not integral, or outside [lo, hi]. The API server is
 * not trusted to send an int32 where the schema says so.
 */
int ls_kube_json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *ret);

/* Reads a whole credential file (capped), trailing whitespace removed. */
int ls_kube_read_secret_file(const char *path, char **ret);

/* --- for lib/kube/async.c: Events as plan and completion, options ------- */

/*
 * ls_kube_event_record (event.c) is plan, send, complete; async.c sends
 * the same plan on a transfer of its own. The recorder is read when a plan
 * is made and updated when it completes, never in between, so plans of
 * other keys may be made and completed meanwhile (one thread).
 */
struct ls_kube_event_plan {
	struct ls_kube_call call; /* what to send: method, path, body (point below) */
	bool patch;               /* a series patch; false: the Event is created */
	bool dry_run;
	int32_t count;     /* the series count a patch sends */
	char *path, *body; /* owned */
	char *key;         /* the aggregation key; NULL in dry-run */
	char *name;        /* the Event created, or whose series is patched */
	char *namespace_;  /* the Event's */
	int64_t now_wall_ms, now_mono_ms;
};

/*
 * Forgets the series that idled out at now_mono_ms, then plans ev: a
 * series patch when the recorder holds an Event of the same key, else a
 * create (which also advances rec's name sequence). A dry run is always
 * a create (with ?dryRun=All) and leaves rec's series alone. 0 and *ret
 * (release with ls_kube_event_plan_release); -EINVAL (ev lacks regarding,
 * its name or a reason) or -ENOMEM, *ret untouched.
 */
int ls_kube_event_plan(struct ls_kube_recorder *rec, const struct ls_kube_event *ev,
                       int64_t now_wall_ms, int64_t now_mono_ms, bool dry_run,
                       struct ls_kube_event_plan *ret);
/*
 * Applies the result r (0 or the errno of sending p->call) to rec: a
 * series patch that succeeded counts, a create that succeeded is
 * remembered. A patch that found no Event (-ENOENT: deleted meanwhile)
 * forgets it, turns p into a create of ev and sets *ret_again: send p
 * again and complete it again. Returns r (0 with *ret_again), or -ENOMEM.
 */
int ls_kube_event_complete(struct ls_kube_recorder *rec, struct ls_kube_event_plan *p,
                           const struct ls_kube_event *ev, int r, bool *ret_again);
/* Frees what p owns; leaves it zeroed. */
void ls_kube_event_plan_release(struct ls_kube_event_plan *p);

/* The options k was created with, defaults filled in (timeouts, stop). */
const struct ls_kube_options *ls_kube_get_options(const struct ls_kube *k);

#endif
