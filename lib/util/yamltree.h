/*
 * yamltree.h - a YAML document as a small tree of nodes that remember where
 * they came from (1-based line and column), so a loader can name the exact
 * place of every problem. Used by lib/config (configuration and scenario
 * files) and lib/kube (kubeconfig files).
 *
 * Only what a configuration file needs is kept: scalars (text, and whether
 * the scalar is a YAML null), maps (keys in file order, duplicates
 * rejected) and sequences. Aliases are expanded into copies of their
 * anchor, with a cap on the total number of nodes so an alias bomb cannot
 * exhaust memory; nesting is capped for the same reason.
 *
 * Not thread-safe; a tree belongs to one loader.
 */
#ifndef LS_UTIL_YAMLTREE_H
#define LS_UTIL_YAMLTREE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"

/*
 * The default caps of one document (kubeconfigs, scenario files): larger
 * documents are refused before parsing, and a document may hold at most
 * LS_NODE_MAX_NODES nodes, aliases expanded, so an alias bomb cannot
 * exhaust memory. A loader that needs more (the lagscale config) passes its
 * own struct ls_node_limits. The strings of a document, aliases expanded,
 * add up to at most its max_bytes (so a long string aliased many times is
 * refused too). Nesting and the length of one string (LS_NODE_MAX_SCALAR)
 * are capped for every document.
 */
#define LS_NODE_MAX_DOCUMENT (1024 * 1024)
#define LS_NODE_MAX_NODES    200000
#define LS_NODE_MAX_DEPTH    64
#define LS_NODE_MAX_SCALAR   (1024 * 1024)

struct ls_node_limits {
	size_t max_bytes; /* the largest document, in bytes */
	size_t max_nodes; /* the most nodes, aliases expanded */
};

enum ls_node_type { LS_NODE_SCALAR = 0, LS_NODE_MAP, LS_NODE_SEQ };

struct ls_node {
	enum ls_node_type type;
	int line; /* 1-based */
	int col;  /* 1-based */
	/* Set on copies merged in from `defaults:` (see ls_node_merge). */
	bool from_defaults;
	/* Scalars: a plain `null`, `~`, empty value or a !!null tag. */
	bool is_null;
	/* Scalars: the text, NUL-terminated, stored in the node's own allocation. */
	char *value;
	/* Sequences: n items. Maps: n pairs, kids[2i] the key, kids[2i+1] the value. */
	struct ls_node **kids;
	size_t n;
};

/*
 * A report collects the problems of one load, each with its place, so they
 * can be handed out in file order (and without repeats) at the end, however
 * the walk visited them. Embed it: _init/_release.
 */
struct ls_report_msg {
	int line; /* 0: the message is about the whole file */
	int col;
	size_t seq;
	char *text; /* "NAME:LINE:COL: path: message", complete */
};

/* A report keeps at most this many messages; the rest are counted and
 * summed up as one line ("... and N more problems"), so a file of 99,000
 * bad keys costs neither quadratic time nor a flood of output. */
#define LS_REPORT_MAX_MSGS 100

/* A value that came from ${env:} or ${file:} and the text it was written
 * as; see ls_report_substituted. */
struct ls_report_subst {
	char *value;   /* a secret, maybe: wiped when freed */
	char *written; /* "${env:NAME}", "a-${file:p}", ... */
};

struct ls_report {
	const char *name; /* the file name used in messages; borrowed */
	struct ls_report_msg *msgs;
	size_t n;
	size_t more; /* messages past LS_REPORT_MAX_MSGS, not kept */
	bool oom;    /* a message could not be stored */
	struct ls_report_subst *subst;
	size_t n_subst;
	/* Messages without the name and the line and column: "PATH:
	 * MESSAGE", for a document that is not a file (a LagScaler's spec,
	 * whose places are key paths alone). Set after _init. */
	bool no_place;
};

void ls_report_init(struct ls_report *r, const char *name);
void ls_report_release(struct ls_report *r);

/*
 * Adds "NAME:LINE:COL: PATH: MESSAGE" (no "PATH: " when path is NULL or
 * empty, no "LINE:COL: " when line is 0). An identical message already
 * present is not added again, so a value shared by several scalers is
 * reported once. Past LS_REPORT_MAX_MSGS kept messages, new ones are only
 * counted.
 */
void ls_report_add(struct ls_report *r, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void ls_report_vadd(struct ls_report *r, int line, int col, const char *path, const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));

/*
 * Records that value was substituted from written (the scalar as it is in
 * the file, with its ${env:} or ${file:}). From then on, every message of
 * r shows written wherever value (or its first 64 bytes, as "%.64s"
 * prints it) appears as a whole word: a message that quotes a setting
 * never shows what a substitution put there, which may be a secret. The
 * one place that makes it so for every key. Empty values and values equal
 * to written are ignored. Out of memory sets r->oom.
 */
void ls_report_substituted(struct ls_report *r, const char *value, const char *written);

/* True when at least one problem was reported (or could not be stored). */
bool ls_report_failed(const struct ls_report *r);

/* Appends every message to diag sorted by place (file order), then
 * "NAME: ... and N more problems (only the first 100 are shown)" when
 * some were not kept, and empties r. */
void ls_report_flush(struct ls_report *r, struct ls_diag *diag);

/*
 * Parses one YAML document of len bytes with the default limits. Returns 0
 * and sets *ret_root (free with ls_node_free) when a tree could be built:
 * duplicate keys, non-scalar keys and NUL characters are reported to rep
 * but do not stop the parse (the first of duplicate keys is the one
 * ls_node_get finds). Returns -EINVAL (reported) when the document is not
 * valid YAML, holds no document or more than one, or exceeds
 * LS_NODE_MAX_NODES or LS_NODE_MAX_DEPTH; -E2BIG (reported, "the document
 * is larger than the limit of 1 MiB") when len exceeds LS_NODE_MAX_DOCUMENT;
 * -ENOMEM. The root may be of any type, including a null scalar for an
 * empty document: the caller checks it.
 */
int ls_node_parse(struct ls_report *rep, const char *yaml, size_t len, struct ls_node **ret_root);
/* The same with the limits lim (NULL: the defaults above). */
int ls_node_parse_limited(struct ls_report *rep, const char *yaml, size_t len,
			  const struct ls_node_limits *lim, struct ls_node **ret_root);

/*
 * Parses a stream of YAML documents ("---"-separated, as kubectl reads
 * manifests) with the limits lim (NULL: the defaults; the byte cap is on
 * the whole stream, the node cap on all documents together). Returns 0,
 * *ret_docs an array of *ret_n roots in stream order, an empty document's
 * entry NULL (free all with ls_node_stream_free); duplicate keys are
 * reported as by ls_node_parse. -EINVAL (reported) when the text is not
 * valid YAML or exceeds a cap, -E2BIG, -ENOMEM; nothing is returned then.
 * Anchors are valid within their own document only.
 */
int ls_node_parse_stream(struct ls_report *rep, const char *yaml, size_t len,
			 const struct ls_node_limits *lim, struct ls_node ***ret_docs,
			 size_t *ret_n);
/* Frees the n documents of ls_node_parse_stream and the array; NULL is a no-op. */
void ls_node_stream_free(struct ls_node **docs, size_t n);

/*
 * Reads a YAML file of at most LS_NODE_MAX_DOCUMENT bytes into *ret (a
 * buffer the caller releases) and sets *ret_dir (freed by the caller) to
 * the directory relative ${file:} paths in it are resolved against.
 * Returns 0, -E2BIG or a negative errno from reading, each described in
 * diag as "PATH: what" ("PATH: the file is larger than the limit of 1 MiB",
 * "PATH: cannot read: No such file or directory").
 */
struct ls_buf;
int ls_node_read_file(const char *path, struct ls_buf *ret, char **ret_dir, struct ls_diag *diag);
/*
 * The same with a cap of max_bytes, reporting to rep (whose name should be
 * path) rather than to a diag. A regular file larger than the cap is
 * refused before it is read.
 */
int ls_node_read_file_limited(const char *path, size_t max_bytes, struct ls_buf *ret,
			      char **ret_dir, struct ls_report *rep);

/*
 * Formats a size for messages: "64 MiB", "64 KiB" when it is a whole
 * number of those, else "N bytes". Returns buf.
 */
const char *ls_node_format_size(size_t n, char *buf, size_t size);

/* Frees a tree; NULL is a no-op. */
void ls_node_free(struct ls_node *n);

/* Number of pairs of a map or items of a sequence; 0 for scalars. */
size_t ls_node_size(const struct ls_node *n);
/* The value of key in map m (the first, keys are unique), or NULL. */
const struct ls_node *ls_node_get(const struct ls_node *m, const char *key);
/* The key node of key in map m, or NULL. */
const struct ls_node *ls_node_get_key(const struct ls_node *m, const char *key);

/* "a map", "a sequence", "a scalar" or "null", for messages. */
const char *ls_node_type_name(const struct ls_node *n);

/*
 * Deep-merges base (the `defaults:` block) under over (a scaler): values of
 * over win, maps are merged key by key, sequences and scalars of over
 * replace those of base; a null in over keeps a map of base. Every node
 * copied from base has from_defaults set. Either side may be NULL.
 * Returns 0 and *ret (NULL when both are NULL), or -ENOMEM.
 */
int ls_node_merge(const struct ls_node *over, const struct ls_node *base, struct ls_node **ret);

#endif
