/*
 * metrics.h - a small Prometheus registry: families of gauges, counters and
 * histograms, each with labelled series, rendered in the text exposition
 * format (version 0.0.4) that Prometheus scrapes.
 *
 * A family is declared once with its name, help text, type and label names;
 * a series is one combination of label values, created on first use and
 * kept until it is removed. The caller keeps the series handles it updates
 * every tick, so the hot path is a store into a double: no lookup, no
 * allocation. Lookups (ls_metrics_series_get) hash the label values and are
 * only needed when a series is created or looked up again.
 *
 * Output follows the format exactly: one "# HELP" and one "# TYPE" line per
 * family that has series (and is not hidden), then its series in creation order; families in
 * declaration order. Label values are escaped (backslash, double quote,
 * newline), help text too (backslash, newline). Numbers: integers as
 * integers ("3"; every digit below 2^63: "9007199254740992"), others in
 * the shortest form that reads back as the same double ("0.25", "1e-09",
 * in printf's %g notation), and "NaN", "+Inf", "-Inf". Histograms render
 * cumulative `_bucket{le=...}` series (with "+Inf"), `_sum` and `_count`.
 *
 * Rendering is built for registries of tens of thousands of series: the
 * "# HELP"/"# TYPE" lines and each series' labels are rendered and
 * escaped once, when the family or series is created; a sample line is
 * then a few copies of that text (the family's name, the labels a series
 * shares with others (ls_metrics_labels), its own) and a number formatted
 * without printf (integers by hand, fractions by an exact shortest-digits
 * algorithm; only values below about 1e-20 or above 2^63 take snprintf).
 * A series holds only its own label text, not its name, nor the leading
 * labels it shares: a scaler's dozen series hold its five labels once.
 *
 * Thread-safety: none. A registry belongs to one thread (the reconcile
 * loop), which renders it and hands the text to the HTTP server
 * (server.h); the server never reads the registry.
 */
#ifndef LS_METRICS_METRICS_H
#define LS_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct ls_buf;

enum ls_metrics_type { LS_METRICS_GAUGE = 0, LS_METRICS_COUNTER, LS_METRICS_HISTOGRAM };

/* Caps that keep a family's declaration small enough to check once. */
#define LS_METRICS_MAX_LABELS  8
#define LS_METRICS_MAX_BUCKETS 32

struct ls_metrics;
struct ls_metrics_family;
struct ls_metrics_series;

/* A new, empty registry. 0 or -ENOMEM; *ret untouched on failure. */
int ls_metrics_new(struct ls_metrics **ret);

/* Frees the registry with every family and series (handles become
 * invalid). _free(NULL) is a no-op. */
void ls_metrics_free(struct ls_metrics *m);

/*
 * Declares a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*; label_names: a
 * NULL-terminated list (NULL for none) of [a-zA-Z_][a-zA-Z0-9_]* names,
 * "le" refused for histograms; bounds: histograms only, n_bounds finite
 * values in strictly increasing order ("+Inf" is implicit). The strings are
 * copied. Returns 0 and *ret (owned by the registry); -EINVAL for a bad
 * name, label, type or bounds, more than LS_METRICS_MAX_LABELS labels or
 * LS_METRICS_MAX_BUCKETS bounds, a name already declared; -ENOMEM.
 */
int ls_metrics_family_new(struct ls_metrics *m, const char *name, const char *help,
                          enum ls_metrics_type type, const char *const *label_names,
                          const double *bounds, size_t n_bounds, struct ls_metrics_family **ret);

/*
 * The series of family f with these label values (one per label name, in
 * the same order; NULL when the family has none), created at 0 when it
 * does not exist. Returns 0 and *ret (owned by the registry, valid until
 * removed); -EINVAL when values is NULL but labels are declared or a value
 * is NULL (or the label text would reach 4 GiB); -ENOMEM.
 */
int ls_metrics_series_get(struct ls_metrics_family *f, const char *const *values,
                          struct ls_metrics_series **ret);

/*
 * Leading labels, rendered once: for a caller that creates many series
 * whose first labels are the same (lib/metrics/app.h: every series of a
 * scaler starts with its five labels), so that their values are escaped
 * once instead of at every series, and held once: the series made with
 * them share their text. names and values: NULL-terminated lists of the
 * same length (at most LS_METRICS_MAX_LABELS); copied. 0, -EINVAL (a NULL
 * list or value, too many), -ENOMEM; *ret untouched on failure.
 * _free drops the caller's handle, at any time: the text stays as long as
 * a series made with it does. _free(NULL) is a no-op. Same thread as the
 * registry.
 */
struct ls_metrics_labels;
int ls_metrics_labels_new(const char *const *names, const char *const *values,
                          struct ls_metrics_labels **ret);
void ls_metrics_labels_free(struct ls_metrics_labels *l);

/*
 * As ls_metrics_series_get, the family's first labels taken from lead
 * (NULL: none) and values holding the values of the labels after them.
 * The same series as ls_metrics_series_get with all the values. -EINVAL
 * also when lead's names are not the family's first label names.
 */
int ls_metrics_series_get_with(struct ls_metrics_family *f, struct ls_metrics_labels *lead,
                               const char *const *values, struct ls_metrics_series **ret);

/* Removes one series from its family and frees it. NULL is a no-op. */
void ls_metrics_series_remove(struct ls_metrics_series *s);

/*
 * Hides the family from ls_metrics_render (hidden true) or shows it again.
 * A hidden family keeps its series and their values, which go on being
 * updated: showing it again renders them as they are (a follower's warm
 * history, app.h). Declared families start shown. NULL is a no-op.
 */
void ls_metrics_family_set_hidden(struct ls_metrics_family *f, bool hidden);

/* Number of series of the family (for tests and sanity checks). */
size_t ls_metrics_family_size(const struct ls_metrics_family *f);

/* Gauges: set or add (any value). Counters: add (negative amounts are
 * ignored: a counter only goes up). Histograms: ignored; use observe. */
void ls_metrics_set(struct ls_metrics_series *s, double v);
void ls_metrics_add(struct ls_metrics_series *s, double v);

/* Histograms: counts v in the first bucket whose bound is >= v, adds it to
 * the sum. NaN is ignored. Other types: ignored. */
void ls_metrics_observe(struct ls_metrics_series *s, double v);

/* A gauge's or counter's value; a histogram's count. */
double ls_metrics_value(const struct ls_metrics_series *s);

/*
 * Appends the exposition text of the whole registry to out (which the
 * caller resets first if it wants only that). Returns 0, or the error of
 * ls_buf_append (-ENOMEM, -E2BIG past out's cap), out then holding a
 * partial text.
 */
int ls_metrics_render(const struct ls_metrics *m, struct ls_buf *out);

/*
 * Writes v as the exposition format writes sample values and bucket
 * bounds (see above), NUL-terminated, cut to size - 1 characters; returns
 * out. size >= 32 always suffices.
 */
char *ls_metrics_format_value(double v, char *out, size_t size);

#endif
