/*
 * config.h - the lagscale configuration (DESIGN.md section 4): YAML read
 * with libyaml into validated structs.
 *
 * Every default is applied, `defaults:` is merged into each scaler (the
 * scaler's own values win, maps merge key by key, lists are replaced),
 * `${env:NAME}` and `${file:PATH}` are substituted in string values, and
 * every problem found is reported, not just the first: unknown keys, wrong
 * types, values out of range, duplicate scaler names, unknown clusters.
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
 * PATH is read relative to the config file's directory (the working
 * directory for ls_config_load_string); files over 64 KiB are refused and
 * one trailing newline is stripped. Messages name the variable or file
 * that failed, never a substituted value.
 *
 * A loaded config is immutable; a reload builds a new one.
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

struct ls_config_property {
	char *key;
	char *value; /* after ${env:} / ${file:} substitution: may be a secret */
};

struct ls_config_cluster {
	char *name;
	char *bootstrap_servers;
	struct ls_config_property *props; /* passed to librdkafka as they are */
	size_t n_props;
};

struct ls_config_target {
	char *api_version; /* "apps/v1" */
	char *kind;	   /* "Deployment" */
	char *namespace_;
	char *name;
};

struct ls_config_scaler_kafka {
	char *cluster; /* the name of an entry of kafka.clusters */
	char *group;
	char **topics; /* empty when topic_pattern is set */
	size_t n_topics;
	char *topic_pattern;		 /* POSIX ERE, checked with regcomp; NULL if unset */
	struct ls_int_ranges partitions; /* n == 0: all partitions */
	enum ls_offset_reset offset_reset;
	enum ls_isolation isolation;
};

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

struct ls_config {
	char *path;
	struct ls_config_cluster *clusters;
	size_t n_clusters;
	char *kubeconfig; /* "" → KUBECONFIG, else ~/.kube/config */
	char *context;	  /* "" → current-context */
	struct ls_config_leader leader;
	char *server_address; /* "0.0.0.0:8080" */
	enum ls_log_format log_format;
	enum ls_log_level log_level;
	struct ls_config_scaler *scalers;
	size_t n_scalers;
};

/*
 * Loads and validates FILE. Returns 0 and sets *ret_cfg (free with
 * ls_config_free); -EINVAL when the file has errors (each appended to diag),
 * -E2BIG when it is larger than 1 MiB, -ENOMEM, or a negative errno when it
 * cannot be read (each also described in diag). *ret_cfg is untouched on
 * failure. diag may be NULL. Reads the environment: not to be called while
 * another thread changes it.
 */
int ls_config_load(const char *path, struct ls_config **ret_cfg, struct ls_diag *diag);

/* The same from a string; name stands for the file in messages. */
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

/* The scaler named name, or NULL. */
const struct ls_config_scaler *ls_config_find_scaler(const struct ls_config *cfg,
						     const char *name);

#endif
