/*
 * config.h - the lagscale configuration (DESIGN.md section 4): YAML read
 * with libyaml into validated structs.
 *
 * Every default is applied, `defaults:` is merged into each scaler (the
 * scaler's own values win, maps merge key by key, lists are replaced),
 * `${env:NAME}` and `${file:PATH}` are substituted in string values, and
 * every problem found is reported, not just the first: unknown keys (with
 * lagscale's name for KEDA's: minReplicaCount gets "minReplicas"), wrong
 * types, values out of range, duplicate scaler names, unknown clusters,
 * targets that cannot be scaled, and two scalers with one target.
 * Each message has the form "FILE:LINE:COL: key.path: what is wrong", in
 * file order, LINE and COL 1-based:
 *
 *   lagscale.yaml:12:20: scalers[0].policy.maxReplicas: must be >= 1, got 0
 *
 * key.path names list items by index (scalers[0], never the scaler's name,
 * which may itself be missing or wrong). A value that came from `defaults:`
 * is reported once, at its line in `defaults:`, as "defaults.policy...".
 * Problems of the document itself have no key path ("FILE:3:5: did not
 * find expected key (while parsing a block mapping at 1:1)", "FILE:1:1:
 * the document is empty"), and problems reading the file no place either
 * ("FILE: cannot read: No such file or directory").
 *
 * YAML null (`key:`, `~`, `null`) means "the default", for every key; a
 * required key that is null is missing. `${file:PATH}` with a relative
 * PATH is read relative to the directory of the file that contains it (the
 * working directory for ls_config_load_string); files over 64 KiB are
 * refused and one trailing newline is stripped. Messages name the variable
 * or file that failed, never a substituted value.
 *
 * Size: one file may have at most LS_CONFIG_MAX_FILE_BYTES (64 MiB) and
 * LS_CONFIG_MAX_FILE_NODES YAML nodes (aliases expanded), room for 10,000
 * scalers of 400 nodes each ("FILE: the file is larger than the limit of
 * 64 MiB"). All files together may define at most 64 clusters and 10,000
 * scalers.
 *
 * A directory (ls_config_load given one) is one configuration made of
 * every `*.yaml` and `*.yml` file in it, so that each team can own a file:
 * not recursive (subdirectories are skipped), hidden files (".name") are
 * skipped, symbolic links are followed (a mounted ConfigMap is a directory
 * of links), and the files are read in byte-wise order of their names,
 * whatever the locale. `.yml` is read as well because kubectl -f DIR reads
 * it too: a team's file must not be left out silently. The merge rules:
 *
 *   - `scalers` lists are concatenated in file order. A scaler name used
 *     twice is an error at the second, naming the first: "b.yaml:4:11:
 *     scalers[0].name: duplicate scaler name "orders" (first at
 *     DIR/a.yaml:7:11)" ("first at line 7" within one file).
 *   - `kafka.clusters` lists are concatenated in file order; a cluster
 *     defined in any file may be used by a scaler in any file. A cluster
 *     name defined twice is an error naming both places, as above.
 *   - `kubernetes`, `leaderElection`, `server` and `log` may be set (not
 *     null) in one file only, as a resource may be defined once in
 *     `kubectl apply -f DIR`: a second is an error at its key naming the
 *     first ("b.yaml:1:1: log: already set at DIR/a.yaml:3:1; only one
 *     file may set it"), not merged key by key.
 *   - `defaults:` applies to the scalers of its own file only: a file
 *     means the same alone as in the directory, and one team's defaults
 *     never change another team's scalers. Each file may have its own.
 *   - A file need not define clusters or scalers (a file of clusters
 *     alone is the usual layout), but all files together need at least one
 *     of each ("DIR: kafka.clusters: at least one cluster is required, and
 *     no file defines one"). kafka.cluster may be left out only when all
 *     files together define one cluster.
 *   - A directory with no such file is an error ("DIR: no *.yaml or *.yml
 *     files"), as is a file that is not a regular file. Every message
 *     names the file inside the directory ("DIR/team-a.yaml:3:5: ...").
 *     Every file is read even when an earlier one has errors, so that all
 *     are reported; checks across files (unknown clusters, none at all)
 *     are then left out when a file could not be read or parsed.
 *
 * Memory: the YAML text and node tree of a file are freed before the next
 * file is read; the loaded config keeps neither. The scalers' strings are
 * stored once each in a pool the config owns (ls_config.pool): they are
 * shared, never to be freed or changed by the caller.
 *
 * A loaded config is immutable; a reload (ls_config_load again, which
 * lists the directory again: files added or removed are picked up) builds
 * a new one.
 */
#ifndef LS_CONFIG_CONFIG_H
#define LS_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "util/diag.h"
#include "util/log.h"
#include "util/offsets.h"
#include "util/parse.h"

/* The caps of one file of the configuration, and of a directory. */
#define LS_CONFIG_MAX_FILE_BYTES (64 * 1024 * 1024)
#define LS_CONFIG_MAX_FILE_NODES 4000000
#define LS_CONFIG_MAX_FILES	 10000

struct ls_config_property {
	char *key;
	char *value; /* after ${env:} / ${file:} substitution: may be a secret */
	/* Where the key is, for messages about it (librdkafka refusing it):
	 * "FILE:LINE:COL: kafka.clusters[1].properties.KEY". */
	char *where;
};

struct ls_config_cluster {
	char *name;
	char *bootstrap_servers;
	struct ls_config_property *props; /* passed to librdkafka as they are */
	size_t n_props;
};

/*
 * A scaler's target, as KEDA's scaleTargetRef: apiVersion and kind default
 * to apps/v1 Deployment; namespace and name are required (the namespace has
 * no default: a forgotten one must not scale another team's workload in
 * "default"). Only kinds with a /scale subresource are accepted: of
 * Kubernetes' own groups Deployment, StatefulSet and ReplicaSet (apps/v1)
 * and ReplicationController (v1), each refused kind (Job, CronJob,
 * DaemonSet, Pod, "deployment", "Deploymnet") with a hint; custom
 * resources (a group with a dot, such as example.com) when the kind is
 * UpperCamelCase. No two scalers of all the files may share a target
 * (API group, kind, namespace and name; the version does not matter): the
 * second is refused at its target, naming the first's FILE:LINE:COL, as
 * KEDA's admission webhook refuses a second owner.
 */
struct ls_config_target {
	char *api_version; /* "apps/v1" */
	char *kind;	   /* "Deployment" */
	char *namespace_;
	char *name;
};

struct ls_config_scaler_kafka {
	char *cluster; /* the name of an entry of kafka.clusters */
	char *group;
	/* Empty when topic_pattern is set; neither set: every topic the group
	 * has committed offsets for (as in KEDA). */
	char **topics;
	size_t n_topics;
	char *topic_pattern;		 /* POSIX ERE, checked with regcomp; NULL if unset */
	struct ls_int_ranges partitions; /* n == 0: all partitions */
	enum ls_offset_reset offset_reset;
	enum ls_isolation isolation;
};

/* The strings of a scaler are the config's (shared in its pool). */
struct ls_config_scaler {
	char *name;
	struct ls_config_target target;
	struct ls_config_scaler_kafka kafka;
	struct ls_policy_params policy;
	size_t cluster_index; /* index into ls_config.clusters */
};

struct ls_config_leader {
	bool enabled;
	char *namespace_;
	char *lease_name;
	int64_t lease_duration_ms;
	int64_t renew_deadline_ms;
	int64_t retry_period_ms;
};

struct ls_config_pool;

struct ls_config {
	char *path; /* the file or directory given */
	size_t n_files; /* files read: 1, or the *.yaml and *.yml files of the directory */
	struct ls_config_cluster *clusters;
	size_t n_clusters;
	char *kubeconfig; /* "" → KUBECONFIG, else ~/.kube/config */
	char *context;	  /* "" → current-context */
	struct ls_config_leader leader;
	char *server_address; /* "0.0.0.0:8080" */
	/* metrics.partitionSeries: lagscale_partition_lag_messages, one series
	 * per partition, capped (lib/metrics/app.h); off by default. */
	bool metrics_partition_series;
	enum ls_log_format log_format;
	enum ls_log_level log_level;
	/* kubernetes.lagScalers: scalers also come from LagScaler objects
	 * (default true; then the files may define no scaler at all). */
	bool lag_scalers;
	/* kubernetes.watchNamespaces: the namespaces whose LagScalers are
	 * watched, one watch each; none: every namespace. */
	char **watch_namespaces;
	size_t n_watch_namespaces;
	struct ls_config_scaler *scalers; /* in file order */
	size_t n_scalers;
	struct ls_config_pool *pool; /* private: owns the scalers' strings */
	/* private: a composition (ls_config_compose) borrows all but the
	 * scalers from base; scalers[n_base..] are its own. */
	const struct ls_config *base;
	size_t n_base;
};

/*
 * Loads and validates path, a file or a directory of files (above).
 * Returns 0 and sets *ret_cfg (free with ls_config_free); -EINVAL when a
 * file has errors or the directory has no files (each appended to diag),
 * -E2BIG when a file is larger than LS_CONFIG_MAX_FILE_BYTES (or the
 * directory has more than LS_CONFIG_MAX_FILES files), -ENOMEM, or a
 * negative errno when a file cannot be read (each also described in diag;
 * of several failures, the first in file order that is not -EINVAL is
 * returned). *ret_cfg is untouched on failure. diag may be NULL. Reads the
 * environment: not to be called while another thread changes it.
 */
int ls_config_load(const char *path, struct ls_config **ret_cfg, struct ls_diag *diag);

/* The same from a string (one file); name stands for the file in messages. */
int ls_config_load_string(const char *name, const char *yaml, size_t len,
			  struct ls_config **ret_cfg, struct ls_diag *diag);

void ls_config_free(struct ls_config *cfg);

/*
 * True when every setting of the two is the same (names, target, Kafka
 * query, policy; or a cluster's name, bootstrap servers and properties):
 * a reload keeps what it built for them only then.
 */
bool ls_config_scaler_equal(const struct ls_config_scaler *a, const struct ls_config_scaler *b);
bool ls_config_cluster_equal(const struct ls_config_cluster *a,
			     const struct ls_config_cluster *b);

/*
 * A LagScaler object's spec (DESIGN.md section 11) as a scaler of cfg:
 * spec_json (len bytes, a JSON object) is walked by the same code as a
 * scaler of the configuration file, with the same checks and messages,
 * except that:
 *   - each message names the key path from the spec, without a file or
 *     line ("spec.policy.maxReplicas: must be >= 1, got 0");
 *   - `name` and `target.namespace` are refused in spec: the scaler's name
 *     is "NAMESPACE/NAME" (namespace_ and name, the object's metadata;
 *     file scalers' names have no '/', so the two never collide) and its
 *     target is in namespace_;
 *   - kafka.cluster names a cluster of cfg ("spec.kafka.cluster: no
 *     cluster named "x" in kafka.clusters"); it may be left out when cfg
 *     has one cluster;
 *   - cfg's `defaults:` do not apply, and ${env:} / ${file:} are not
 *     substituted: the spec is written by whoever may edit the object,
 *     who must not read lagscale's environment or files through it.
 * Does not check the target against other scalers (ls_config_compose
 * does). 0 and *ret (a scaler whose strings are its own: free it with
 * ls_config_scaler_free); -EINVAL with every problem appended to diag
 * (may be NULL); -ENOMEM. *ret untouched on failure.
 */
int ls_config_scaler_from_json(const struct ls_config *cfg, const char *namespace_,
			       const char *name, const char *spec_json, size_t len,
			       struct ls_config_scaler **ret, struct ls_diag *diag);
/* Frees a scaler of ls_config_scaler_from_json; NULL is a no-op. */
void ls_config_scaler_free(struct ls_config_scaler *s);

/*
 * A configuration that is base (its settings, clusters and scalers) plus
 * copies of extra[0..n) after base's scalers, in that order: the set of
 * scalers the controller runs when LagScaler objects add to the file's.
 * It borrows everything but the added scalers from base, which must
 * outlive it; free it with ls_config_free as any other. The one-owner
 * rule holds across the set: an extra scaler whose target (API group,
 * kind, namespace, name) is already a scaler's of base or of an earlier
 * extra is left out, and ret_msgs[i] (an array of n the caller provides;
 * may be NULL) gets why, a heap string ("shop/Deployment/orders is
 * already the target of scaler "shop/a"; one scaler per workload (two
 * would undo each other's replicas)"), else NULL. 0 and *ret; -ENOMEM
 * (nothing returned, ret_msgs all NULL).
 */
int ls_config_compose(const struct ls_config *base, const struct ls_config_scaler *const *extra,
		      size_t n, struct ls_config **ret, char **ret_msgs);

/* The scaler named name, or NULL. */
const struct ls_config_scaler *ls_config_find_scaler(const struct ls_config *cfg,
						     const char *name);

#endif
