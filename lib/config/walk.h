/*
 * walk.h - internal to lib/config: the typed walk over a node tree shared by
 * the config and scenario loaders, and the `policy:` block parser they
 * both use (so a scenario's policy means exactly what a config's does).
 *
 * A walker keeps the key path of the node it is at ("scalers[0].policy")
 * and reports problems as "FILE:LINE:COL: key.path: message" to an
 * ls_report. Every reader below follows one contract: the key missing or
 * null leaves *ret (the default) alone and returns 0; a valid value is
 * stored and 1 returned; a wrong type or a bad value is reported, *ret is
 * left alone and -1 returned. Readers take the map holding the key (which
 * may be NULL or not a map: the map's own walker has reported that).
 *
 * Walking a scaler merged with `defaults:` (merged = true), problems in
 * values that came from `defaults:` are not reported: the walk of the
 * `defaults:` block itself reports them once, as "defaults.key.path".
 */
#ifndef LS_CONFIG_WALK_H
#define LS_CONFIG_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/yamltree.h"
#include "policy/policy.h"
#include "util/buf.h"

/* ${file:PATH} contents larger than this are refused. */
#define LS_WALK_MAX_FILE (64 * 1024)
/* All ${env:} and ${file:} substitutions of one walk (one file, with its
 * `defaults:` merged into every scaler) together may add at most this
 * many bytes: a small file cannot expand into gigabytes. */
#define LS_WALK_MAX_SUBSTITUTED (64 * 1024 * 1024)

struct ls_walk {
	struct ls_report *rep;
	struct ls_buf path;
	/* Length of the scaler's prefix ("scalers[3]") in path, when merged. */
	size_t prefix_len;
	bool merged;
	/* Walking `defaults:`: no required keys and no checks across keys. */
	bool partial;
	/* Where relative ${file:} paths are resolved; NULL: the working directory. */
	const char *base_dir;
	/* The place to name for a missing key whose map came from `defaults:`. */
	const struct ls_node *owner;
	/* Bytes substituted so far (LS_WALK_MAX_SUBSTITUTED); once over,
	 * every further substitution fails. */
	size_t substituted;
	/* Strings are taken as written: no ${env:} or ${file:} (a LagScaler's
	 * spec, written by whoever may edit it, must not read lagscale's
	 * environment or files). */
	bool no_subst;
};

/*
 * Fills a loader's object from a document's top-level map; w->rep->name is
 * the document's name. Returns 0, or a negative errno that stops the walk
 * (errors it reported are counted afterwards, not returned).
 */
typedef int (*ls_walk_build_fn)(struct ls_walk *w, const struct ls_node *root, void *ctx);

/*
 * The frame of a loader of one document (the scenario loader; the config
 * loader has a frame of its own for directories of files): parses the
 * YAML with the default limits of yamltree.h (name used in messages,
 * base_dir for relative ${file:} paths, NULL for the working directory),
 * checks the top level is a map, runs build, and turns what was reported
 * into the result: 0, -EINVAL (every problem in diag), -E2BIG or -ENOMEM.
 * The caller frees what build allocated when the result is negative.
 */
int ls_walk_document(const char *name, const char *yaml, size_t len, const char *base_dir,
		     ls_walk_build_fn build, void *ctx, struct ls_diag *diag);
/* The same for a file (size-capped), its directory as base_dir. */
int ls_walk_file(const char *path, ls_walk_build_fn build, void *ctx, struct ls_diag *diag);

void ls_walk_init(struct ls_walk *w, struct ls_report *rep);
void ls_walk_release(struct ls_walk *w);

/* Appends ".key" (just "key" at the top) or "[i]" to the path; returns the
 * old length for ls_walk_pop. */
size_t ls_walk_push_key(struct ls_walk *w, const char *key);
size_t ls_walk_push_index(struct ls_walk *w, size_t i);
void ls_walk_pop(struct ls_walk *w, size_t len);

/* Reports at node with the current path (skipped for defaults' nodes when merged). */
void ls_walk_error(struct ls_walk *w, const struct ls_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * The same for a problem across keys: when at came from `defaults:` it is
 * reported (once) under "defaults..." rather than skipped, since the
 * `defaults:` walk does not check across keys.
 */
void ls_walk_error_shared(struct ls_walk *w, const struct ls_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "KEY: required" (or "KEY: why"), at the map (or the owner when the map
 * is absent or the defaults'). Does nothing when partial. */
void ls_walk_missing(struct ls_walk *w, const struct ls_node *map, const char *key,
                     const char *why);

/*
 * Where a problem would be reported, for a check that can only be made
 * later (a scaler naming a cluster that a later file of a directory may
 * define): line and column (0 when unknown) and the key path, a heap
 * string the caller frees.
 */
struct ls_walk_place {
	int line;
	int col;
	char *path;
};
/* Where ls_walk_error_shared(w, at, ...) would report; 0 or -ENOMEM (also noted in w->rep). */
int ls_walk_place_shared(struct ls_walk *w, const struct ls_node *at, struct ls_walk_place *ret);
/* Where ls_walk_missing(w, map, key, ...) would report; 0 or -ENOMEM. */
int ls_walk_place_missing(struct ls_walk *w, const struct ls_node *map, const char *key,
                          struct ls_walk_place *ret);

/*
 * Checks that n is a map whose keys are all in keys (NULL-terminated),
 * reporting the others ("unknown key", with a suggestion: lagscale's name
 * for KEDA's (minReplicaCount: "minReplicas"), where lagscale's key
 * belongs when it is in the wrong map, or a known key at a small edit
 * distance). Returns true
 * when n is a map; false for NULL and null (silently) and for other types
 * (reported).
 */
bool ls_walk_map(struct ls_walk *w, const struct ls_node *n, const char *const *keys);
/* ls_walk_map for an item of a list, where null is reported too. */
bool ls_walk_item(struct ls_walk *w, const struct ls_node *n, const char *const *keys);
/*
 * Levenshtein distance of a and b, ignoring ASCII case; SIZE_MAX when either
 * is 63 bytes or longer (suggestions only need small distances).
 */
size_t ls_walk_distance(const char *a, const char *b);

/* True for a sequence; false for NULL and null (silently) and other types (reported). */
bool ls_walk_seq(struct ls_walk *w, const struct ls_node *n);

/* The key's value node when it is a non-null scalar (1), absent or null (0), else -1 (reported). */
int ls_walk_scalar(struct ls_walk *w, const struct ls_node *map, const char *key,
                   const struct ls_node **ret);

enum {
	LS_WALK_REQUIRED = 1 << 0, /* absent or null is an error (unless partial) */
	LS_WALK_NONEMPTY = 1 << 1, /* "" is an error */
};

/*
 * A string, after ${env:NAME} and ${file:PATH} substitution. On 1 the old
 * *ret is freed and replaced by a heap string. -ENOMEM is reported and
 * returned as -1 too.
 */
int ls_walk_string(struct ls_walk *w, const struct ls_node *map, const char *key, unsigned flags,
                   char **ret);
/* Substitutes ${env:} / ${file:} in the scalar node s (reported at s). 0 or -1. */
int ls_walk_substitute(struct ls_walk *w, const struct ls_node *s, char **ret);

int ls_walk_bool(struct ls_walk *w, const struct ls_node *map, const char *key, bool *ret);
int ls_walk_int64(struct ls_walk *w, const struct ls_node *map, const char *key, int64_t min,
                  int64_t max, int64_t *ret);
int ls_walk_int32(struct ls_walk *w, const struct ls_node *map, const char *key, int32_t min,
                  int32_t max, int32_t *ret);
/* A number in [min, max]; min_open / max_open make that end exclusive. */
int ls_walk_double(struct ls_walk *w, const struct ls_node *map, const char *key, double min,
                   bool min_open, double max, bool max_open, double *ret);
/* A duration (ls_parse_duration_ms) in [min_ms, max_ms]; min_open: > min_ms. */
int ls_walk_duration(struct ls_walk *w, const struct ls_node *map, const char *key, int64_t min_ms,
                     bool min_open, int64_t max_ms, int64_t *ret_ms);
/* One of names (NULL-terminated); *ret is its index. */
int ls_walk_enum(struct ls_walk *w, const struct ls_node *map, const char *key,
                 const char *const *names, int *ret);

/*
 * A scaler's `policy:` block (DESIGN.md section 4) at node n into *p, which
 * the caller filled with ls_policy_params_init(). The path must already
 * name n. As in KEDA, fallback.replicas without fallback.behavior is the
 * static fallback (neither: currentReplicas, the default). Checks across
 * keys (maxReplicas >= minReplicas, idleReplicas < minReplicas) are made
 * unless partial.
 */
void ls_walk_policy(struct ls_walk *w, const struct ls_node *n, struct ls_policy_params *p);

/* "latest" / "earliest", for kafka.offsetResetPolicy in both loaders. */
extern const char *const ls_walk_offset_reset_names[];

#endif
