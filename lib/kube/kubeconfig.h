/*
 * kubeconfig.h - where the Kubernetes API server is and how to prove who
 * lagscale is: a kubeconfig file (or several) or the pod's service
 * account, resolved with client-go's rules into one immutable struct. No
 * network; lib/kube's client (kube.h) then uses it.
 *
 * Which source (the first that applies, as controller-runtime does):
 *  1. an explicit kubeconfig: `--kubeconfig`, else the config's
 *     `kubernetes.kubeconfig` (o->kubeconfig): that one file; missing is
 *     an error;
 *  2. the KUBECONFIG environment variable: paths separated by ':', empty
 *     ones ignored, missing files skipped, the rest merged (below);
 *  3. in-cluster, when KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT
 *     are both set: https://HOST:PORT (an IPv6 HOST is bracketed), the
 *     service account's `token` (re-read every minute and after a 401),
 *     `ca.crt` and `namespace` from /var/run/secrets/kubernetes.io/
 *     serviceaccount, or from the directory named by the environment
 *     variable LAGSCALE_SERVICEACCOUNT_DIR (for tests and unusual mounts);
 *  4. ~/.kube/config ($HOME/.kube/config).
 *
 * Merging several files (client-go's rules): the first file to set a value
 * wins and is never changed, `current-context` included; clusters, users
 * and contexts are keyed by name and the first file to define a name wins
 * the whole entry (entries are never merged field by field). Relative
 * paths (certificate-authority, client-certificate, client-key,
 * tokenFile, and an exec command containing a '/') resolve against the
 * directory of the file that holds them.
 *
 * The context: o->context (`--context`, which the caller lets win over the
 * config's `kubernetes.context`), else `current-context`. From it: the
 * cluster (server, certificate-authority or -data, tls-server-name,
 * insecure-skip-tls-verify, proxy-url), the user (token, tokenFile,
 * client-certificate/-key or -data, username/password, exec, as/as-groups/
 * as-uid for impersonation) and the namespace ("default" when unset).
 * `-data` values win over their file forms. Unknown keys are ignored, as
 * kubectl does; `auth-provider` (removed from client-go) is an error.
 *
 * Errors name the place: "FILE:LINE:COL: users[0].user.exec.apiVersion:
 * ..." for a value, "FILE: ..." for a file, and a plain message for the
 * choice of context. Messages never contain a secret.
 *
 * Thread-safety: loading reads the environment (not to be changed
 * meanwhile); a loaded struct is immutable and may be shared by threads.
 */
#ifndef LS_KUBE_KUBECONFIG_H
#define LS_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"

/* The default service-account directory, and the variable that overrides it. */
#define LS_KUBE_SA_DIR     "/var/run/secrets/kubernetes.io/serviceaccount"
#define LS_KUBE_SA_DIR_ENV "LAGSCALE_SERVICEACCOUNT_DIR"

/* Files lagscale reads for credentials (tokens, PEM) are capped at this. */
#define LS_KUBE_MAX_CRED_FILE (1024 * 1024)

enum ls_kube_auth {
	LS_KUBE_AUTH_NONE = 0,   /* anonymous, or a client certificate alone */
	LS_KUBE_AUTH_TOKEN,      /* user.token */
	LS_KUBE_AUTH_TOKEN_FILE, /* user.tokenFile, or the service account's token */
	LS_KUBE_AUTH_BASIC,      /* user.username + user.password */
	LS_KUBE_AUTH_EXEC,       /* user.exec: a credential plugin */
};

/* A `user.exec` credential plugin. */
struct ls_kube_exec_config {
	char *api_version; /* client.authentication.k8s.io/v1 or /v1beta1 */
	char *command;     /* resolved against the kubeconfig's directory if it has a '/' */
	char **args;
	size_t n_args;
	char **env_names; /* added to lagscale's own environment */
	char **env_values;
	size_t n_env;
	bool provide_cluster_info; /* put the cluster into KUBERNETES_EXEC_INFO */
	char *install_hint;        /* shown when the command cannot be run; may be NULL */
};

struct ls_kube_config {
	bool in_cluster;
	char *source;     /* for messages: the kubeconfig that held the context, or the SA dir */
	char *context;    /* "" in-cluster */
	char *cluster;    /* the cluster's name, "" in-cluster */
	char *user;       /* the user's name, "" in-cluster */
	char *namespace_; /* the context's namespace, the service account's, or "default" */

	char *server;          /* "https://host:port[/prefix]", no trailing '/' */
	char *tls_server_name; /* NULL: the server's host */
	char *proxy_url;       /* NULL: curl's environment (https_proxy, no_proxy) */
	bool insecure;         /* insecure-skip-tls-verify: the only way to skip TLS checks */
	char *ca_file;         /* NULL: ca_data, else the system's roots */
	char *ca_data;         /* decoded PEM, NUL-terminated; NULL when unset */
	size_t ca_data_len;

	enum ls_kube_auth auth;
	char *token;                      /* a secret; LS_KUBE_AUTH_TOKEN */
	char *token_file;                 /* LS_KUBE_AUTH_TOKEN_FILE */
	char *username;                   /* LS_KUBE_AUTH_BASIC */
	char *password;                   /* a secret */
	struct ls_kube_exec_config *exec; /* LS_KUBE_AUTH_EXEC, else NULL */
	/* A client certificate may come with any of the above. */
	char *cert_file;
	char *key_file;
	char *cert_data; /* decoded PEM */
	size_t cert_data_len;
	char *key_data; /* decoded PEM, a secret */
	size_t key_data_len;

	char *impersonate_user; /* `as`; NULL: none */
	char **impersonate_groups;
	size_t n_impersonate_groups;
	char *impersonate_uid;
};

struct ls_kube_load_options {
	const char *kubeconfig; /* an explicit file; NULL or "" for none */
	const char *context;    /* NULL or "" for current-context */
};

/*
 * Resolves the configuration as above. Returns 0 and sets *ret (free with
 * ls_kube_config_free); on failure *ret is untouched and diag (may be NULL)
 * says why:
 *  -ENOENT  no configuration anywhere: no explicit file, no KUBECONFIG
 *           file, not in a cluster, no ~/.kube/config; also an explicit
 *           file that does not exist (the caller knows it gave one);
 *  -EINVAL  a file is not a kubeconfig, the context, cluster or user is
 *           missing or inconsistent, in-cluster files are unreadable;
 *  -E2BIG, -ENOMEM, or another negative errno from reading a file.
 */
int ls_kube_config_load(const struct ls_kube_load_options *o, struct ls_kube_config **ret,
                        struct ls_diag *diag);

/*
 * The same for one kubeconfig held in memory; name stands for the file in
 * messages and dir is where relative paths resolve (NULL: "."). Never
 * in-cluster. For tests and tools.
 */
int ls_kube_config_load_string(const char *name, const char *dir, const char *yaml, size_t len,
                               const char *context, struct ls_kube_config **ret,
                               struct ls_diag *diag);

/* _free(NULL) is a no-op. Wipes the secrets before freeing them. */
void ls_kube_config_free(struct ls_kube_config *kc);

/* "token", "token file", "basic", "exec plugin", "client certificate", "none". */
const char *ls_kube_auth_name(const struct ls_kube_config *kc);

/*
 * One line for the start-up log, never a secret: `kubeconfig "F", context
 * "C", server S, user "U" (token)` or `in-cluster, server S, service
 * account token "F"`. Returns out (truncated to size).
 */
char *ls_kube_config_describe(const struct ls_kube_config *kc, char *out, size_t size);

/*
 * Base64 (the standard alphabet, as kubeconfig `-data` fields use it).
 * Decoding skips whitespace and needs correct padding; returns 0 and a
 * NUL-terminated heap buffer, -EINVAL or -ENOMEM.
 */
int ls_kube_base64_decode(const char *in, char **ret, size_t *ret_len);
int ls_kube_base64_encode(const void *in, size_t len, char **ret);

#endif
