/*
 * kube-internal.h - shared by the files of lib/kube, not for other modules:
 * the raw API call with retries, exec plugins, JSON helpers, discovery.
 */
#ifndef LS_KUBE_INTERNAL_H
#define LS_KUBE_INTERNAL_H

#include <cjson/cJSON.h>
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

/* Sets the message ls_kube_errmsg() returns. */
void ls_kube_set_errmsg(struct ls_kube *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const struct ls_kube_config *ls_kube_get_config(const struct ls_kube *k);

/* The discovery cache a client owns (scale.c fills it, the client frees it). */
struct ls_kube_discovery;
struct ls_kube_discovery **ls_kube_discovery_slot(struct ls_kube *k);
void ls_kube_discovery_free(struct ls_kube_discovery *d);

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
 * through), waits at most timeout_ms, and parses the ExecCredential it
 * prints. 0 and *ret; otherwise a negative errno (-ENOENT: cannot run it,
 * -ETIMEDOUT, -EPROTO: bad output or exit status) and err says why (never
 * with the credential). *ret untouched on failure.
 */
int ls_kube_exec_fetch(const struct ls_kube_config *kc, int64_t timeout_ms,
                       struct ls_kube_exec_cred *ret, char *err, size_t errlen);
/* Wipes and frees; leaves *c zeroed. */
void ls_kube_exec_cred_release(struct ls_kube_exec_cred *c);

/* --- JSON helpers --------------------------------------------------------- */

/* obj.k1.k2... (NULL-terminated keys), or NULL. */
const cJSON *ls_kube_json_get(const cJSON *obj, ...) __attribute__((sentinel));
/* The string at obj.key, or NULL when absent or not a string. */
const char *ls_kube_json_str(const cJSON *obj, const char *key);

/* Reads a whole credential file (capped), trailing whitespace removed. */
int ls_kube_read_secret_file(const char *path, char **ret);

#endif
