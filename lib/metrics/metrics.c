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

/* A sample line whose name and labels fit here is assembled on the stack
 * and appended at once; longer ones take two appends. */
#define LINE_STACK 512
/* The longest number format_number writes ("-2.2250738585072014e-308"
 * and the like), with room to spare. */
#define NUMBER_MAX 32

/*
 * Leading labels: one allocation holding the names (NUL-separated, in
 * order) and then the text, `a="x",b="y"` escaped. Shared by the caller's
 * handle and every series made with it (refs counts them), so that the
 * text common to a scaler's series is held once.
 */
struct ls_metrics_labels {
	size_t refs;
	size_t n;
	size_t text_len;
	const char *text; /* in data, after the names */
	char data[];
};

/*
 * A series is what its sample lines need and no more (tens of thousands
 * of them: a scaler has a dozen). Its labels are rendered and escaped
 * once, at creation: the lead's text (shared, NULL when it was made
 * without one) then its own, in the allocation after the counts: the
 * rest of `a="x",b="y"` (with the comma that joins it to the lead's).
 */
struct ls_metrics_series {
	struct ls_metrics_family *fam;
	struct ls_metrics_series *prev, *next; /* creation order, for rendering */
	struct ls_metrics_series *hnext;       /* hash chain */
	struct ls_metrics_labels *lead;
	uint32_t hash;	  /* of the whole label text (its low bits: the table's) */
	uint32_t own_len; /* the length of its own label text */
	double value; /* gauges and counters; histograms: the sum */
	/* Histograms: n_bounds + 1 counts (the last is +Inf), not cumulative
	 * (their sum is the count); the own label text follows them in the
	 * same allocation. */
	uint64_t counts[];
};

struct ls_metrics_family {
	struct ls_metrics *reg;
	struct ls_metrics_family *next;
	char *name;
	size_t name_len;
	/* "# HELP name help\n# TYPE name type\n", help escaped, at declaration. */
	char *header;
	size_t header_len;
	enum ls_metrics_type type;
	bool hidden; /* left out of renders (ls_metrics_family_set_hidden) */
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

static void labels_unref(struct ls_metrics_labels *l)
{
	if (l && --l->refs == 0)
		free(l);
}

static void series_free(struct ls_metrics_series *s)
{
	labels_unref(s->lead);
	free(s);
}

static size_t series_counts(const struct ls_metrics_family *f)
{
	return f->type == LS_METRICS_HISTOGRAM ? f->n_bounds + 1 : 0;
}

static const char *series_own(const struct ls_metrics_series *s)
{
	return (const char *)&s->counts[series_counts(s->fam)];
}

static size_t lead_len(const struct ls_metrics_series *s)
{
	return s->lead ? s->lead->text_len : 0;
}

/* A histogram's count: the sum of its buckets. */
static uint64_t series_count(const struct ls_metrics_series *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < series_counts(s->fam); i++)
		n += s->counts[i];
	return n;
}

static void family_free(struct ls_metrics_family *f)
{
	struct ls_metrics_series *s, *next;

	for (s = f->head; s; s = next) {
		next = s->next;
		series_free(s);
	}
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->label_names[i]);
	free(f->table);
	free(f->name);
	free(f->header);
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

/* "00".."99": two digits per division. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal (at most 20 digits, no NUL); returns the length. */
static size_t format_u64(uint64_t v, char *out)
{
	char tmp[20];
	size_t n = sizeof(tmp);

	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;

		v /= 100;
		tmp[--n] = digit_pairs[i + 1];
		tmp[--n] = digit_pairs[i];
	}
	if (v >= 10) {
		tmp[--n] = digit_pairs[v * 2 + 1];
		tmp[--n] = digit_pairs[v * 2];
	} else {
		tmp[--n] = (char)('0' + v);
	}
	memcpy(out, tmp + n, sizeof(tmp) - n);
	return sizeof(tmp) - n;
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

/*
 * The shortest decimal that reads back as v, for a finite, non-integral v
 * with |v| < 2^53 (so it has a fraction and its integer part fits in 64
 * bits). v is m / 2^s exactly; the digits of its fraction are generated
 * one at a time with exact integer arithmetic, and generation stops at the
 * first digit where the digits so far (rounded down or up) lie strictly
 * inside the interval of reals that round to v: half the gap to each
 * neighbouring double. That is the free-format algorithm of Steele and
 * White ("How to print floating-point numbers accurately", 1990), here on
 * 128-bit integers, which hold every quantity when s <= 120 (|v| >= about
 * 1e-20). The integer part is never changed by rounding up: the next
 * integer is itself a double, so it lies outside v's interval.
 *
 * Written as printf's %g would (fixed notation unless the exponent is
 * below -4, then "1.5e-07"). Returns the length, or 0 when v is out of
 * this function's range (subnormal, or too small).
 */
static size_t format_fraction(double v, char *out)
{
	char digits[48], ipdigits[20];
	uint64_t bits, mant, ip;
	u128 frac, den_mask, r, mplus, mminus;
	unsigned shift, den_bits;
	size_t nd = 0, n = 0, zeros = 0, nip = 0;
	int be, s;
	bool lower_closer;

	memcpy(&bits, &v, sizeof(bits));
	be = (int)((bits >> 52) & 0x7ff);
	if (be == 0)
		return 0;
	mant = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
	s = 1075 - be; /* v = mant / 2^s, s >= 1 as v is not an integer */
	if (s < 1 || s > 120)
		return 0;
	/* At a power of two the double below is half as far as the one above. */
	lower_closer = mant == (UINT64_C(1) << 52) && be > 1;
	shift = lower_closer ? 2 : 1;
	den_bits = (unsigned)s + shift;
	den_mask = ((u128)1 << den_bits) - 1;
	ip = s >= 64 ? 0 : mant >> s;
	frac = (u128)mant & (((u128)1 << s) - 1);
	/* Over the denominator 2^den_bits: the fraction, and the half gaps
	 * to the doubles above and below. */
	r = frac << shift;
	mplus = lower_closer ? 2 : 1;
	mminus = 1;
	for (;;) {
		unsigned d;
		bool low, high;

		r *= 10;
		mplus *= 10;
		mminus *= 10;
		d = (unsigned)(r >> den_bits);
		r &= den_mask;
		low = r < mminus;
		high = r + mplus > den_mask + 1;
		/* Both fit: the nearer; on a tie the even one, as printf. */
		if (low && high)
			d += 2 * r > den_mask + 1 || (2 * r == den_mask + 1 && (d & 1));
		else if (high)
			d++;
		if (d > 9 || nd == sizeof(digits))
			return 0; /* cannot happen (see above); printf's way then */
		digits[nd++] = (char)('0' + d);
		if (low || high)
			break;
	}
	if (ip == 0) {
		while (zeros < nd && digits[zeros] == '0')
			zeros++;
	} else {
		nip = format_u64(ip, ipdigits);
	}
	/* 17 significant digits tell every double apart: more would be a
	 * mistake here, and longer than NUMBER_MAX allows. */
	if (nip + nd - zeros > 17)
		return 0;
	if (bits >> 63)
		out[n++] = '-';
	if (ip == 0 && zeros >= 4) {
		/* 0.0000ddd = d.dd e-(zeros + 1) */
		size_t exp = zeros + 1;

		out[n++] = digits[zeros];
		if (nd - zeros > 1) {
			out[n++] = '.';
			memcpy(out + n, digits + zeros + 1, nd - zeros - 1);
			n += nd - zeros - 1;
		}
		out[n++] = 'e';
		out[n++] = '-';
		if (exp < 10)
			out[n++] = '0';
		n += format_u64(exp, out + n);
		return n;
	}
	if (nip) {
		memcpy(out + n, ipdigits, nip);
		n += nip;
	} else {
		out[n++] = '0';
	}
	out[n++] = '.';
	memcpy(out + n, digits, nd);
	return n + nd;
}
#else
static size_t format_fraction(double v, char *out)
{
	(void)v;
	(void)out;
	return 0;
}
#endif

/* Writes v as a sample value (no NUL) into out, which has NUMBER_MAX
 * bytes; returns the length. */
static size_t format_number(double v, char *out)
{
	size_t n;

	if (isnan(v)) {
		memcpy(out, "NaN", 3);
		return 3;
	}
	if (isinf(v)) {
		memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
		return 4;
	}
	/* Integers first: counts, lags, replicas. The bounds are 2^63
	 * (exactly representable), so the conversion is defined; -0 is 0. */
	if (v > -9223372036854775808.0 && v < 9223372036854775808.0) {
		int64_t i = (int64_t)v;

		if ((double)i == v) {
			if (i >= 0)
				return format_u64((uint64_t)i, out);
			out[0] = '-';
			return 1 + format_u64(-(uint64_t)i, out + 1);
		}
		if (v > -9007199254740992.0 && v < 9007199254740992.0) {
			n = format_fraction(v, out);
			if (n)
				return n;
		}
	}
	/* The rare rest (huge, tiny or subnormal): the shortest of
	 * %.15g..%.17g that reads back as the same double. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, NUMBER_MAX, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return strlen(out);
}

char *ls_metrics_format_value(double v, char *out, size_t size)
{
	char tmp[NUMBER_MAX];
	size_t n;

	if (!out || size == 0)
		return out;
	n = format_number(v, tmp);
	if (n >= size)
		n = size - 1;
	memcpy(out, tmp, n);
	out[n] = '\0';
	return out;
}

static const char *const type_names[] = {"gauge", "counter", "histogram"};

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
	if (!f->name)
		goto out;
	f->name_len = strlen(name);
	if (ls_buf_printf(&hb, "# HELP %s ", name) < 0 || escape_help(&hb, help ? help : "") < 0 ||
	    ls_buf_printf(&hb, "\n# TYPE %s %s\n", name, type_names[type]) < 0)
		goto out;
	f->header_len = hb.len;
	f->header = ls_buf_steal(&hb);
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

/*
 * The hash of a series' label text (hundreds of bytes for a partition's
 * series): eight bytes per step, each word mixed in with a multiply by an
 * odd constant and a fold of the high half, then a final avalanche, so
 * that the low bits the table uses depend on every byte. Not for anything
 * an attacker chooses: label values come from lagscale's own config.
 */
static uint64_t hash_bytes(const char *s, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL; /* 2^64 / golden ratio, odd */
	uint64_t h = k ^ (uint64_t)n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * k;
		h ^= h >> 32;
	}
	if (n) {
		w = 0;
		memcpy(&w, s, n);
		h = (h ^ w) * k;
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
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

/* Appends `name="value"` (value escaped), after a comma unless first. */
static int append_label(struct ls_buf *b, bool first, const char *name, const char *value)
{
	int r = first ? 0 : ls_buf_append(b, ",", 1);

	if (r == 0)
		r = ls_buf_puts(b, name);
	if (r == 0)
		r = ls_buf_append(b, "=\"", 2);
	if (r == 0)
		r = escape_label(b, value);
	if (r == 0)
		r = ls_buf_append(b, "\"", 1);
	return r;
}

void ls_metrics_labels_free(struct ls_metrics_labels *l)
{
	labels_unref(l);
}

int ls_metrics_labels_new(const char *const *names, const char *const *values,
                          struct ls_metrics_labels **ret)
{
	struct ls_metrics_labels *l;
	struct ls_buf text;
	size_t n = 0, names_len = 0;
	char *p;
	int r = 0;

	if (!names || !values || !ret)
		return -EINVAL;
	for (; names[n]; n++) {
		if (n == LS_METRICS_MAX_LABELS || !values[n])
			return -EINVAL;
		names_len += strlen(names[n]) + 1;
	}
	ls_buf_init(&text, 0);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = append_label(&text, i == 0, names[i], values[i]);
	l = r == 0 ? malloc(sizeof(*l) + names_len + text.len + 1) : NULL;
	if (!l) {
		ls_buf_release(&text);
		return r < 0 ? r : -ENOMEM;
	}
	l->refs = 1;
	l->n = n;
	p = l->data;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;

		memcpy(p, names[i], len);
		p += len;
	}
	l->text = p;
	l->text_len = text.len;
	if (text.len)
		memcpy(p, ls_buf_str(&text), text.len);
	p[text.len] = '\0';
	ls_buf_release(&text);
	*ret = l;
	return 0;
}

int ls_metrics_series_get(struct ls_metrics_family *f, const char *const *values,
                          struct ls_metrics_series **ret)
{
	return ls_metrics_series_get_with(f, NULL, values, ret);
}

int ls_metrics_series_get_with(struct ls_metrics_family *f, struct ls_metrics_labels *lead,
                               const char *const *values, struct ls_metrics_series **ret)
{
	struct ls_metrics_series *s;
	size_t b, own_len, first = lead ? lead->n : 0;
	const char *key, *name;
	uint32_t h;
	int r = 0;

	if (!f || !ret || (f->n_labels > first && !values) || first > f->n_labels)
		return -EINVAL;
	/* The leading labels must be the family's first ones, in order. */
	name = lead ? lead->data : NULL;
	for (size_t i = 0; i < first; i++, name += strlen(name) + 1)
		if (strcmp(name, f->label_names[i]) != 0)
			return -EINVAL;
	for (size_t i = first; i < f->n_labels; i++)
		if (!values[i - first])
			return -EINVAL;
	if (!first)
		lead = NULL;
	ls_buf_reset(&f->key);
	if (first)
		r = ls_buf_append(&f->key, lead->text, lead->text_len);
	for (size_t i = first; i < f->n_labels && r == 0; i++)
		r = append_label(&f->key, i == 0, f->label_names[i], values[i - first]);
	if (r < 0)
		return r;
	key = ls_buf_str(&f->key);
	if (f->key.len > UINT32_MAX)
		return -EINVAL;
	h = (uint32_t)hash_bytes(key, f->key.len);
	b = (size_t)(h & (f->table_size - 1));
	for (s = f->table[b]; s; s = s->hnext) {
		size_t ll = lead_len(s);

		if (s->hash == h && ll + s->own_len == f->key.len &&
		    (!ll || memcmp(s->lead->text, key, ll) == 0) &&
		    memcmp(series_own(s), key + ll, s->own_len) == 0) {
			*ret = s;
			return 0;
		}
	}
	own_len = f->key.len - (lead ? lead->text_len : 0);
	s = calloc(1, sizeof(*s) + series_counts(f) * sizeof(uint64_t) + own_len);
	if (!s)
		return -ENOMEM;
	s->fam = f;
	s->hash = h;
	s->own_len = (uint32_t)own_len;
	if (own_len)
		memcpy((char *)&s->counts[series_counts(f)], key + f->key.len - own_len, own_len);
	if (lead) {
		s->lead = lead;
		lead->refs++;
	}
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
	series_free(s);
}

void ls_metrics_family_set_hidden(struct ls_metrics_family *f, bool hidden)
{
	if (f)
		f->hidden = hidden;
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
	s->value += v;
}

double ls_metrics_value(const struct ls_metrics_series *s)
{
	if (!s)
		return 0;
	return s->fam->type == LS_METRICS_HISTOGRAM ? (double)series_count(s) : s->value;
}

/* The pieces of a sample line before its value, in order. */
#define LINE_PIECES 9

/*
 * Appends one sample line: NAME[SUFFIX][{LEAD OWN[,le="B"]}] VALUE\n, the
 * labels those of s (le: a histogram's bucket, NULL otherwise). One
 * append when it fits on the stack, one per piece otherwise.
 */
static int render_line(struct ls_buf *out, const struct ls_metrics_family *f,
                       const struct ls_metrics_series *s, const char *suffix, const char *le,
                       double v)
{
	size_t labels_len = lead_len(s) + s->own_len;
	const char *piece[LINE_PIECES];
	size_t len[LINE_PIECES], n = 0, total = 0;
	char line[LINE_STACK], num[NUMBER_MAX + 2];
	size_t num_len;
	int r = 0;

#define PIECE(p, l) (piece[n] = (p), len[n] = (l), total += len[n++])
	PIECE(f->name, f->name_len);
	if (suffix)
		PIECE(suffix, strlen(suffix));
	if (labels_len || le) {
		PIECE("{", 1);
		if (s->lead)
			PIECE(s->lead->text, s->lead->text_len);
		PIECE(series_own(s), s->own_len);
		if (le) {
			PIECE(labels_len ? ",le=\"" : "le=\"", labels_len ? 5 : 4);
			PIECE(le, strlen(le));
			PIECE("\"", 1);
		}
		PIECE("}", 1);
	}
#undef PIECE
	num[0] = ' ';
	num_len = 1 + format_number(v, num + 1);
	num[num_len++] = '\n';
	if (total + num_len <= sizeof(line)) {
		char *p = line;

		for (size_t i = 0; i < n; i++) {
			memcpy(p, piece[i], len[i]);
			p += len[i];
		}
		memcpy(p, num, num_len);
		return ls_buf_append(out, line, total + num_len);
	}
	for (size_t i = 0; i < n && r == 0; i++)
		r = ls_buf_append(out, piece[i], len[i]);
	if (r == 0)
		r = ls_buf_append(out, num, num_len);
	return r;
}

static int render_histogram(struct ls_buf *out, const struct ls_metrics_family *f)
{
	int r = 0;

	for (const struct ls_metrics_series *s = f->head; s && r == 0; s = s->next) {
		uint64_t cum = 0;

		for (size_t i = 0; i < f->n_bounds && r == 0; i++) {
			cum += s->counts[i];
			r = render_line(out, f, s, "_bucket", f->bound_text[i], (double)cum);
		}
		cum += s->counts[f->n_bounds];
		if (r == 0)
			r = render_line(out, f, s, "_bucket", "+Inf", (double)cum);
		if (r == 0)
			r = render_line(out, f, s, "_sum", NULL, s->value);
		if (r == 0)
			r = render_line(out, f, s, "_count", NULL, (double)cum);
	}
	return r;
}

static int render_family(struct ls_buf *out, const struct ls_metrics_family *f)
{
	int r;

	if (!f->head || f->hidden)
		return 0;
	r = ls_buf_append(out, f->header, f->header_len);
	if (r == 0 && f->type == LS_METRICS_HISTOGRAM)
		return render_histogram(out, f);
	for (const struct ls_metrics_series *s = f->head; s && r == 0; s = s->next)
		r = render_line(out, f, s, NULL, NULL, s->value);
	return r;
}

int ls_metrics_render(const struct ls_metrics *m, struct ls_buf *out)
{
	int r = 0;

	for (const struct ls_metrics_family *f = m ? m->head : NULL; f && r == 0; f = f->next)
		r = render_family(out, f);
	return r;
}
