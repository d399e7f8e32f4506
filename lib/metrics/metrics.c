/* metrics.c - see metrics.h. */
#include "metrics/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define INITIAL_TABLE 16

struct ls_metrics_series {
	struct ls_metrics_family *fam;
	struct ls_metrics_series *prev, *next; /* creation order, for rendering */
	struct ls_metrics_series *hnext;       /* hash chain */
	uint64_t hash;
	const char *labels; /* rendered `a="x",b="y"`, no braces; "" for none */
	size_t labels_len;
	double value; /* gauges and counters; histograms: the count */
	double sum;   /* histograms */
	/* Histograms: n_bounds + 1 counts (the last is +Inf), not cumulative;
	 * the label text follows them in the same allocation. */
	uint64_t counts[];
};

struct ls_metrics_family {
	struct ls_metrics *reg;
	struct ls_metrics_family *next;
	char *name;
	char *help; /* escaped once, at declaration */
	enum ls_metrics_type type;
	char *label_names[LS_METRICS_MAX_LABELS];
	size_t n_labels;
	double bounds[LS_METRICS_MAX_BUCKETS];
	char bound_text[LS_METRICS_MAX_BUCKETS][32];
	size_t n_bounds;
	struct ls_metrics_series *head, *tail;
	struct ls_metrics_series **table;
	size_t table_size; /* a power of two */
	size_t n_series;
	/* Scratch space for building a lookup key without allocating each time. */
	struct ls_buf key;
};

struct ls_metrics {
	struct ls_metrics_family *head, *tail;
};

int ls_metrics_new(struct ls_metrics **ret)
{
	struct ls_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	*ret = m;
	return 0;
}

static void family_free(struct ls_metrics_family *f)
{
	struct ls_metrics_series *s, *next;

	for (s = f->head; s; s = next) {
		next = s->next;
		free(s);
	}
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->label_names[i]);
	free(f->table);
	free(f->name);
	free(f->help);
	ls_buf_release(&f->key);
	free(f);
}

void ls_metrics_free(struct ls_metrics *m)
{
	struct ls_metrics_family *f, *next;

	if (!m)
		return;
	for (f = m->head; f; f = next) {
		next = f->next;
		family_free(f);
	}
	free(m);
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		             (colon && c == ':');

		if (!alpha && !(p != s && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* Help text: backslash and newline escaped (the format's rule for HELP). */
static int escape_help(struct ls_buf *b, const char *s)
{
	int r = 0;

	for (const char *p = s; *p && r == 0; p++) {
		if (*p == '\\')
			r = ls_buf_puts(b, "\\\\");
		else if (*p == '\n')
			r = ls_buf_puts(b, "\\n");
		else
			r = ls_buf_append(b, p, 1);
	}
	return r;
}

/* Label values: backslash, double quote and newline escaped. */
static int escape_label(struct ls_buf *b, const char *s)
{
	const char *run = s;
	int r = 0;

	for (const char *p = s;; p++) {
		const char *esc = NULL;

		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '"')
			esc = "\\\"";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p)
			continue;
		/* Copy the plain run in one append, then the escape. */
		r = ls_buf_append(b, run, (size_t)(p - run));
		if (r == 0 && esc)
			r = ls_buf_puts(b, esc);
		if (r < 0 || !*p)
			return r;
		run = p + 1;
	}
}

char *ls_metrics_format_value(double v, char *out, size_t size)
{
	if (isnan(v)) {
		snprintf(out, size, "NaN");
	} else if (isinf(v)) {
		snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
	} else if (v == trunc(v) && fabs(v) < 1e15) {
		/* Adding 0.0 turns -0 into 0. */
		snprintf(out, size, "%.0f", v + 0.0);
	} else {
		/* The shortest of %.15g..%.17g that reads back as the same double. */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, size, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
	return out;
}

int ls_metrics_family_new(struct ls_metrics *m, const char *name, const char *help,
                          enum ls_metrics_type type, const char *const *label_names,
                          const double *bounds, size_t n_bounds, struct ls_metrics_family **ret)
{
	struct ls_metrics_family *f = NULL;
	struct ls_buf hb;
	size_t n_labels = 0;
	int r = -EINVAL;

	ls_buf_init(&hb, 0);
	if (!m || !valid_name(name, true) || !ret)
		goto out;
	if (type != LS_METRICS_GAUGE && type != LS_METRICS_COUNTER && type != LS_METRICS_HISTOGRAM)
		goto out;
	for (struct ls_metrics_family *o = m->head; o; o = o->next)
		if (strcmp(o->name, name) == 0)
			goto out;
	for (; label_names && label_names[n_labels]; n_labels++) {
		const char *l = label_names[n_labels];

		if (n_labels == LS_METRICS_MAX_LABELS || !valid_name(l, false) ||
		    strncmp(l, "__", 2) == 0 || (type == LS_METRICS_HISTOGRAM && !strcmp(l, "le")))
			goto out;
	}
	if (type == LS_METRICS_HISTOGRAM) {
		if (n_bounds > LS_METRICS_MAX_BUCKETS || (n_bounds && !bounds))
			goto out;
		for (size_t i = 0; i < n_bounds; i++)
			if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
				goto out;
	} else if (n_bounds) {
		goto out;
	}
	r = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto out;
	ls_buf_init(&f->key, 0);
	f->reg = m;
	f->type = type;
	f->name = strdup(name);
	if (!f->name || escape_help(&hb, help ? help : "") < 0)
		goto out;
	f->help = ls_buf_steal(&hb);
	if (!f->help)
		f->help = strdup("");
	if (!f->help)
		goto out;
	for (size_t i = 0; i < n_labels; i++) {
		f->label_names[i] = strdup(label_names[i]);
		if (!f->label_names[i])
			goto out;
		f->n_labels++;
	}
	for (size_t i = 0; type == LS_METRICS_HISTOGRAM && i < n_bounds; i++) {
		f->bounds[i] = bounds[i];
		ls_metrics_format_value(bounds[i], f->bound_text[i], sizeof(f->bound_text[i]));
	}
	f->n_bounds = type == LS_METRICS_HISTOGRAM ? n_bounds : 0;
	f->table = calloc(INITIAL_TABLE, sizeof(*f->table));
	if (!f->table)
		goto out;
	f->table_size = INITIAL_TABLE;
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	*ret = f;
	f = NULL;
	r = 0;
out:
	if (f)
		family_free(f);
	ls_buf_release(&hb);
	return r;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Doubles the hash table when it holds more series than buckets. */
static void maybe_grow(struct ls_metrics_family *f)
{
	size_t n = f->table_size * 2;
	struct ls_metrics_series **t;

	if (f->n_series < f->table_size || n < f->table_size)
		return;
	t = calloc(n, sizeof(*t));
	if (!t)
		return; /* Longer chains are slower, not wrong. */
	for (struct ls_metrics_series *s = f->head; s; s = s->next) {
		size_t b = (size_t)(s->hash & (n - 1));

		s->hnext = t[b];
		t[b] = s;
	}
	free(f->table);
	f->table = t;
	f->table_size = n;
}

int ls_metrics_series_get(struct ls_metrics_family *f, const char *const *values,
                          struct ls_metrics_series **ret)
{
	struct ls_metrics_series *s;
	size_t counts = 0, b;
	uint64_t h;
	int r = 0;

	if (!f || !ret || (f->n_labels && !values))
		return -EINVAL;
	for (size_t i = 0; i < f->n_labels; i++)
		if (!values[i])
			return -EINVAL;
	ls_buf_reset(&f->key);
	for (size_t i = 0; i < f->n_labels && r == 0; i++) {
		r = ls_buf_printf(&f->key, "%s%s=\"", i ? "," : "", f->label_names[i]);
		if (r == 0)
			r = escape_label(&f->key, values[i]);
		if (r == 0)
			r = ls_buf_puts(&f->key, "\"");
	}
	if (r < 0)
		return r;
	h = hash_bytes(ls_buf_str(&f->key), f->key.len);
	b = (size_t)(h & (f->table_size - 1));
	for (s = f->table[b]; s; s = s->hnext) {
		if (s->hash == h && s->labels_len == f->key.len &&
		    memcmp(s->labels, ls_buf_str(&f->key), f->key.len) == 0) {
			*ret = s;
			return 0;
		}
	}
	if (f->type == LS_METRICS_HISTOGRAM)
		counts = f->n_bounds + 1;
	s = calloc(1, sizeof(*s) + counts * sizeof(uint64_t) + f->key.len + 1);
	if (!s)
		return -ENOMEM;
	s->fam = f;
	s->hash = h;
	s->labels_len = f->key.len;
	memcpy((char *)&s->counts[counts], ls_buf_str(&f->key), f->key.len + 1);
	s->labels = (const char *)&s->counts[counts];
	s->hnext = f->table[b];
	f->table[b] = s;
	s->prev = f->tail;
	if (f->tail)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	f->n_series++;
	maybe_grow(f);
	*ret = s;
	return 0;
}

void ls_metrics_series_remove(struct ls_metrics_series *s)
{
	struct ls_metrics_family *f;
	struct ls_metrics_series **pp;

	if (!s)
		return;
	f = s->fam;
	for (pp = &f->table[s->hash & (f->table_size - 1)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		f->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		f->tail = s->prev;
	f->n_series--;
	free(s);
}

size_t ls_metrics_family_size(const struct ls_metrics_family *f)
{
	return f ? f->n_series : 0;
}

void ls_metrics_set(struct ls_metrics_series *s, double v)
{
	if (s && s->fam->type == LS_METRICS_GAUGE)
		s->value = v;
}

void ls_metrics_add(struct ls_metrics_series *s, double v)
{
	if (!s || s->fam->type == LS_METRICS_HISTOGRAM)
		return;
	if (s->fam->type == LS_METRICS_COUNTER && !(v >= 0))
		return;
	s->value += v;
}

void ls_metrics_observe(struct ls_metrics_series *s, double v)
{
	const struct ls_metrics_family *f;
	size_t i;

	if (!s || s->fam->type != LS_METRICS_HISTOGRAM || isnan(v))
		return;
	f = s->fam;
	for (i = 0; i < f->n_bounds && v > f->bounds[i]; i++)
		;
	s->counts[i]++;
	s->value += 1;
	s->sum += v;
}

double ls_metrics_value(const struct ls_metrics_series *s)
{
	return s ? s->value : 0;
}

/* NAME[SUFFIX][{LABELS[,le="B"]}] VALUE\n */
static int render_line(struct ls_buf *out, const struct ls_metrics_family *f, const char *suffix,
                       const struct ls_metrics_series *s, const char *le, double v)
{
	char num[40];
	int r;

	r = ls_buf_puts(out, f->name);
	if (r == 0 && suffix)
		r = ls_buf_puts(out, suffix);
	if (r == 0 && (s->labels_len || le)) {
		r = ls_buf_puts(out, "{");
		if (r == 0)
			r = ls_buf_append(out, s->labels, s->labels_len);
		if (r == 0 && le)
			r = ls_buf_printf(out, "%sle=\"%s\"", s->labels_len ? "," : "", le);
		if (r == 0)
			r = ls_buf_puts(out, "}");
	}
	if (r == 0)
		r = ls_buf_printf(out, " %s\n", ls_metrics_format_value(v, num, sizeof(num)));
	return r;
}

static int render_family(struct ls_buf *out, const struct ls_metrics_family *f)
{
	static const char *const type_names[] = {"gauge", "counter", "histogram"};
	int r;

	if (!f->head)
		return 0;
	r = ls_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
	                  type_names[f->type]);
	for (const struct ls_metrics_series *s = f->head; s && r == 0; s = s->next) {
		uint64_t cum = 0;

		if (f->type != LS_METRICS_HISTOGRAM) {
			r = render_line(out, f, NULL, s, NULL, s->value);
			continue;
		}
		for (size_t i = 0; i < f->n_bounds && r == 0; i++) {
			cum += s->counts[i];
			r = render_line(out, f, "_bucket", s, f->bound_text[i], (double)cum);
		}
		if (r == 0)
			r = render_line(out, f, "_bucket", s, "+Inf", s->value);
		if (r == 0)
			r = render_line(out, f, "_sum", s, NULL, s->sum);
		if (r == 0)
			r = render_line(out, f, "_count", s, NULL, s->value);
	}
	return r;
}

int ls_metrics_render(const struct ls_metrics *m, struct ls_buf *out)
{
	int r = 0;

	for (const struct ls_metrics_family *f = m ? m->head : NULL; f && r == 0; f = f->next)
		r = render_family(out, f);
	return r;
}
