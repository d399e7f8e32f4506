/* yamltree.c - see yamltree.h. */
#include "util/yamltree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "util/buf.h"
#include "util/strset.h"

void ls_report_init(struct ls_report *r, const char *name)
{
	r->name = name;
	r->msgs = NULL;
	r->n = 0;
	r->more = 0;
	r->oom = false;
	r->subst = NULL;
	r->n_subst = 0;
	r->no_place = false;
}

/* Word characters: a value is replaced only where it is not part of a
 * longer word ("1" in "t.yaml:12" stays). */
static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Replaces in b, from offset from on, every whole-word value (of len
 * bytes) with written. 0 or -ENOMEM. */
static int replace_words(struct ls_buf *b, size_t from, const char *value, size_t len,
                         const char *written)
{
	struct ls_buf out;
	const char *s = ls_buf_str(b), *p = s + from, *hit;
	int k = 0;

	if (!strstr(p, value))
		return 0;
	ls_buf_init(&out, 0);
	k = ls_buf_append(&out, s, from);
	while (k == 0 && (hit = strstr(p, value)) != NULL) {
		bool start = hit == s || !word_char(hit[-1]) || !word_char(value[0]);
		bool end = !word_char(hit[len]) || !word_char(value[len - 1]);

		k = ls_buf_append(&out, p, (size_t)(hit - p));
		if (k == 0 && start && end)
			k = ls_buf_puts(&out, written);
		else if (k == 0)
			k = ls_buf_append(&out, hit, len);
		p = hit + len;
	}
	if (k == 0)
		k = ls_buf_puts(&out, p);
	if (k < 0) {
		ls_buf_release(&out);
		return -ENOMEM;
	}
	/* The old text may hold the secret. */
	explicit_bzero(b->data, b->len);
	ls_buf_release(b);
	*b = out;
	return 0;
}

void ls_report_substituted(struct ls_report *r, const char *value, const char *written)
{
	struct ls_report_subst *v;

	if (!value[0] || strcmp(value, written) == 0)
		return;
	for (size_t i = 0; i < r->n_subst; i++)
		if (strcmp(r->subst[i].value, value) == 0)
			return;
	v = realloc(r->subst, (r->n_subst + 1) * sizeof(*v));
	if (!v) {
		r->oom = true;
		return;
	}
	r->subst = v;
	v[r->n_subst].value = strdup(value);
	v[r->n_subst].written = strdup(written);
	if (!v[r->n_subst].value || !v[r->n_subst].written) {
		free(v[r->n_subst].value);
		free(v[r->n_subst].written);
		r->oom = true;
		return;
	}
	r->n_subst++;
}

void ls_report_release(struct ls_report *r)
{
	for (size_t i = 0; i < r->n_subst; i++) {
		explicit_bzero(r->subst[i].value, strlen(r->subst[i].value));
		free(r->subst[i].value);
		free(r->subst[i].written);
	}
	free(r->subst);
	r->subst = NULL;
	r->n_subst = 0;
	for (size_t i = 0; i < r->n; i++)
		free(r->msgs[i].text);
	free(r->msgs);
	r->msgs = NULL;
	r->n = 0;
	r->more = 0;
}

void ls_report_vadd(struct ls_report *r, int line, int col, const char *path, const char *fmt,
                    va_list ap)
{
	struct ls_report_msg *msgs;
	struct ls_buf b;
	size_t body;
	int k;

	/* Past the cap, a message is only counted: no formatting, no search. */
	if (r->n >= LS_REPORT_MAX_MSGS) {
		r->more++;
		return;
	}
	ls_buf_init(&b, 0);
	k = r->no_place ? 0 : ls_buf_puts(&b, r->name);
	if (k == 0 && line > 0 && !r->no_place)
		k = ls_buf_printf(&b, ":%d:%d", line, col);
	if (k == 0 && !r->no_place)
		k = ls_buf_puts(&b, ": ");
	if (k == 0 && path && *path)
		k = ls_buf_printf(&b, "%s: ", path);
	body = b.len;
	if (k == 0)
		k = ls_buf_vprintf(&b, fmt, ap);
	/* Each value, then the 64-byte prefix "%.64s" may have printed of it.
	 * Whatever the order, no value is left: a replacement is text as
	 * written in the file. */
	for (size_t i = 0; k == 0 && i < r->n_subst; i++) {
		const struct ls_report_subst *s = &r->subst[i];
		size_t len = strlen(s->value);

		k = replace_words(&b, body, s->value, len, s->written);
		if (k == 0 && len > 64) {
			char prefix[65];

			memcpy(prefix, s->value, 64);
			prefix[64] = '\0';
			k = replace_words(&b, body, prefix, 64, s->written);
			explicit_bzero(prefix, sizeof(prefix));
		}
	}
	if (k < 0)
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->msgs[i].text, ls_buf_str(&b)) == 0) {
			ls_buf_release(&b);
			return;
		}
	}
	msgs = realloc(r->msgs, (r->n + 1) * sizeof(*msgs));
	if (!msgs)
		goto fail;
	r->msgs = msgs;
	r->msgs[r->n].line = line;
	r->msgs[r->n].col = col;
	r->msgs[r->n].seq = r->n;
	r->msgs[r->n].text = ls_buf_steal(&b);
	if (!r->msgs[r->n].text)
		goto fail;
	r->n++;
	return;
fail:
	ls_buf_release(&b);
	r->oom = true;
}

void ls_report_add(struct ls_report *r, int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ls_report_vadd(r, line, col, path, fmt, ap);
	va_end(ap);
}

bool ls_report_failed(const struct ls_report *r)
{
	return r->n > 0 || r->more > 0 || r->oom;
}

static int cmp_msg(const void *a, const void *b)
{
	const struct ls_report_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

void ls_report_flush(struct ls_report *r, struct ls_diag *diag)
{
	if (r->n)
		qsort(r->msgs, r->n, sizeof(*r->msgs), cmp_msg);
	for (size_t i = 0; diag && i < r->n; i++)
		ls_diag_add(diag, "%s", r->msgs[i].text);
	if (r->more && diag)
		ls_diag_add(diag, "%s: ... and %zu more problems (only the first %d are shown)",
		            r->name, r->more, LS_REPORT_MAX_MSGS);
	if (r->oom && diag)
		ls_diag_add(diag, "%s: out of memory while reporting errors", r->name);
	ls_report_release(r);
}

void ls_node_free(struct ls_node *n)
{
	size_t kids;

	if (!n)
		return;
	kids = n->type == LS_NODE_MAP ? 2 * n->n : n->n;
	for (size_t i = 0; i < kids; i++)
		ls_node_free(n->kids[i]);
	free(n->kids);
	/* A scalar's value lives in the node's own allocation. */
	free(n);
}

/*
 * A zeroed node; scalars get their value (len bytes, NUL added) in the same
 * allocation: one allocation per scalar instead of two keeps the tree of a
 * large config small. NULL when out of memory.
 */
static struct ls_node *node_alloc(enum ls_node_type t, const char *value, size_t len)
{
	struct ls_node *n;

	if (t != LS_NODE_SCALAR) {
		n = calloc(1, sizeof(*n));
	} else {
		if (len > SIZE_MAX - sizeof(*n) - 1)
			return NULL;
		n = calloc(1, sizeof(*n) + len + 1);
		if (n) {
			n->value = (char *)(n + 1);
			memcpy(n->value, value, len);
		}
	}
	if (n)
		n->type = t;
	return n;
}

size_t ls_node_size(const struct ls_node *n)
{
	return n && n->type != LS_NODE_SCALAR ? n->n : 0;
}

const struct ls_node *ls_node_get_key(const struct ls_node *m, const char *key)
{
	if (!m || m->type != LS_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct ls_node *k = m->kids[2 * i];

		if (k->type == LS_NODE_SCALAR && strcmp(k->value, key) == 0)
			return k;
	}
	return NULL;
}

const struct ls_node *ls_node_get(const struct ls_node *m, const char *key)
{
	if (!m || m->type != LS_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct ls_node *k = m->kids[2 * i];

		if (k->type == LS_NODE_SCALAR && strcmp(k->value, key) == 0)
			return m->kids[2 * i + 1];
	}
	return NULL;
}

const char *ls_node_type_name(const struct ls_node *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case LS_NODE_MAP:
		return "a map";
	case LS_NODE_SEQ:
		return "a sequence";
	case LS_NODE_SCALAR:
		break;
	}
	return n->is_null ? "null" : "a scalar";
}

/*
 * Appends kid as the used-th entry of parent->kids (for maps, keys and
 * values alternate); 0 or -ENOMEM (kid then still the caller's). Updates n:
 * a map's pair counts once its value is in.
 */
static int node_append(struct ls_node *parent, struct ls_node *kid, size_t *alloc, size_t *used)
{
	if (*used + 1 > *alloc) {
		size_t na = *alloc ? *alloc * 2 : 8;
		struct ls_node **k = realloc(parent->kids, na * sizeof(*k));

		if (!k)
			return -ENOMEM;
		parent->kids = k;
		*alloc = na;
	}
	parent->kids[(*used)++] = kid;
	parent->n = parent->type == LS_NODE_MAP ? *used / 2 : *used;
	return 0;
}

/* Frees a map whose last key may still wait for its value. */
static void free_partial(struct ls_node *n, size_t used)
{
	if (n && n->type == LS_NODE_MAP && used % 2 == 1)
		ls_node_free(n->kids[used - 1]);
	ls_node_free(n);
}

/* What copies made for aliases may still use: nodes and scalar bytes. */
struct budget {
	size_t nodes;
	size_t bytes;
};

static int node_copy(const struct ls_node *src, bool from_defaults, struct budget *budget,
                     struct ls_node **ret)
{
	struct ls_node *n = NULL;
	size_t kids = src->type == LS_NODE_MAP ? 2 * src->n : src->n;
	size_t len = src->value ? strlen(src->value) : 0;
	int r = 0;

	if (budget) {
		if (budget->nodes == 0 || len > budget->bytes)
			return -E2BIG;
		budget->nodes--;
		budget->bytes -= len;
	}
	n = node_alloc(src->type, src->value, len);
	if (!n)
		return -ENOMEM;
	n->line = src->line;
	n->col = src->col;
	n->is_null = src->is_null;
	n->from_defaults = src->from_defaults || from_defaults;
	if (kids) {
		n->kids = calloc(kids, sizeof(*n->kids));
		if (!n->kids) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < kids && r == 0; i++)
			r = node_copy(src->kids[i], from_defaults, budget, &n->kids[i]);
		if (r < 0) {
			/* The array was zeroed: free exactly the copies made so far. */
			for (size_t i = 0; i < kids; i++)
				ls_node_free(n->kids[i]);
			free(n->kids);
			n->kids = NULL;
			goto out;
		}
	}
	n->n = src->n;
out:
	if (r < 0) {
		ls_node_free(n);
		return r;
	}
	*ret = n;
	return 0;
}

int ls_node_merge(const struct ls_node *over, const struct ls_node *base, struct ls_node **ret)
{
	struct ls_node *m = NULL, *kid = NULL;
	size_t alloc = 0, used = 0;
	int r = 0;

	if (!over && !base) {
		*ret = NULL;
		return 0;
	}
	if (!over || (over->is_null && base && base->type == LS_NODE_MAP))
		return node_copy(base, true, NULL, ret);
	if (!base || over->type != LS_NODE_MAP || base->type != LS_NODE_MAP)
		return node_copy(over, false, NULL, ret);

	/* Both are maps: the scaler's keys in its order, then the defaults' others. */
	m = node_alloc(LS_NODE_MAP, NULL, 0);
	if (!m)
		return -ENOMEM;
	m->line = over->line;
	m->col = over->col;
	m->from_defaults = over->from_defaults;
	for (size_t i = 0; i < over->n + base->n; i++) {
		bool own = i < over->n;
		size_t j = own ? i : i - over->n;
		const struct ls_node *k = own ? over->kids[2 * j] : base->kids[2 * j];
		const struct ls_node *v = own ? over->kids[2 * j + 1] : base->kids[2 * j + 1];

		if (!own && k->type == LS_NODE_SCALAR && ls_node_get_key(over, k->value))
			continue;
		r = node_copy(k, !own, NULL, &kid);
		if (r < 0)
			goto out;
		r = node_append(m, kid, &alloc, &used);
		if (r < 0)
			goto out;
		kid = NULL;
		if (own && k->type == LS_NODE_SCALAR)
			r = ls_node_merge(v, ls_node_get(base, k->value), &kid);
		else
			r = node_copy(v, !own, NULL, &kid);
		if (r < 0)
			goto out;
		r = node_append(m, kid, &alloc, &used);
		if (r < 0)
			goto out;
		kid = NULL;
	}
out:
	if (r < 0) {
		ls_node_free(kid);
		free_partial(m, used);
		return r;
	}
	*ret = m;
	return 0;
}

/* The YAML parse: libyaml events into a tree, with an explicit stack. */

struct anchor {
	char *name;
	const struct ls_node *node;
};

struct frame {
	struct ls_node *node;
	size_t alloc;
	size_t used;
	char *anchor;
};

struct builder {
	struct ls_report *rep;
	const char *yaml;
	size_t len;
	struct frame stack[LS_NODE_MAX_DEPTH + 1];
	size_t depth;
	struct anchor *anchors;
	size_t n_anchors;
	struct ls_strset anchor_index; /* name -> the latest anchor of that name */
	struct budget budget; /* nodes and scalar bytes still allowed */
	size_t max_nodes;
	size_t max_bytes;
	struct ls_node *root;
	int docs;
	/* ls_node_parse_stream: every document's root is kept in roots. */
	bool stream;
	struct ls_node **roots;
	size_t n_roots;
};

static void offset_to_pos(const struct builder *b, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < b->len; i++) {
		if (b->yaml[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	const char *problem = p->problem ? p->problem : "invalid YAML";

	if (p->error == YAML_READER_ERROR) {
		offset_to_pos(b, p->problem_offset, &line, &col);
		ls_report_add(b->rep, line, col, NULL, "%s", problem);
	} else if (p->context) {
		ls_report_add(b->rep, line, col, NULL, "%s (%s at %d:%d)", problem, p->context,
		              (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	} else {
		ls_report_add(b->rep, line, col, NULL, "%s", problem);
	}
}

static int remember_anchor(struct builder *b, char *name, const struct ls_node *n)
{
	struct anchor *a = realloc(b->anchors, (b->n_anchors + 1) * sizeof(*a));

	if (!a) {
		free(name);
		return -ENOMEM;
	}
	b->anchors = a;
	b->anchors[b->n_anchors].name = name;
	b->anchors[b->n_anchors].node = n;
	if (ls_strset_put(&b->anchor_index, name, b->n_anchors) < 0) {
		free(name);
		return -ENOMEM;
	}
	b->n_anchors++;
	return 0;
}

static char *dup_anchor(const yaml_char_t *a)
{
	return a ? strdup((const char *)a) : NULL;
}

/* Takes ownership of n: links it into the parent (or makes it the root). */
static int attach(struct builder *b, struct ls_node *n)
{
	struct frame *f;
	int r;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	r = node_append(f->node, n, &f->alloc, &f->used);
	if (r < 0)
		ls_node_free(n);
	return r;
}

/* A node of type t (a scalar with value, len bytes); *oom tells the two NULLs apart. */
static struct ls_node *new_node(struct builder *b, enum ls_node_type t, const yaml_mark_t *m,
                                const char *value, size_t len, bool *oom)
{
	struct ls_node *n;

	*oom = false;
	if (b->budget.nodes == 0 || len > b->budget.bytes)
		return NULL;
	b->budget.nodes--;
	b->budget.bytes -= len;
	n = node_alloc(t, value, len);
	if (!n) {
		*oom = true;
		return NULL;
	}
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static bool scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag)
		return strcmp(tag, YAML_NULL_TAG) == 0;
	if (!ev->data.scalar.plain_implicit)
		return false;
	return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	       strcmp(v, "NULL") == 0;
}

/* A budget is spent: reported at the event that needed more. */
static int limit(struct builder *b, const yaml_event_t *ev)
{
	char size[32];

	if (b->budget.nodes == 0)
		ls_report_add(b->rep, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		              NULL, "the document has more than %zu nodes (aliases included)",
		              b->max_nodes);
	else
		ls_report_add(b->rep, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		              NULL,
		              "the document's strings add up to more than %s (aliases included)",
		              ls_node_format_size(b->max_bytes, size, sizeof(size)));
	return -EINVAL;
}

static void forget_anchors(struct builder *b)
{
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	b->anchors = NULL;
	b->n_anchors = 0;
	/* The index borrows the names just freed. */
	ls_strset_release(&b->anchor_index);
	ls_strset_init(&b->anchor_index);
}

/*
 * A stream's document is complete: its root (NULL for an empty document)
 * joins the list, and its anchors are forgotten, since an alias may only
 * refer to an anchor of its own document.
 */
static int end_document(struct builder *b)
{
	struct ls_node **roots = realloc(b->roots, (b->n_roots + 1) * sizeof(*roots));

	if (!roots)
		return -ENOMEM;
	b->roots = roots;
	if (b->root && b->root->type == LS_NODE_SCALAR && b->root->is_null) {
		ls_node_free(b->root);
		b->root = NULL;
	}
	b->roots[b->n_roots++] = b->root;
	b->root = NULL;
	forget_anchors(b);
	return 0;
}

static int on_event(struct builder *b, yaml_event_t *ev)
{
	struct ls_node *n = NULL;
	bool oom;
	int r = 0;

	switch (ev->type) {
	case YAML_DOCUMENT_END_EVENT:
		return b->stream ? end_document(b) : 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1 && !b->stream) {
			ls_report_add(b->rep, (int)ev->start_mark.line + 1,
			              (int)ev->start_mark.column + 1, NULL,
			              "only one YAML document is allowed");
			return -EINVAL;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > LS_NODE_MAX_SCALAR) {
			char size[32];

			ls_report_add(b->rep, (int)ev->start_mark.line + 1,
			              (int)ev->start_mark.column + 1, NULL,
			              "a string is longer than the limit of %s",
			              ls_node_format_size(LS_NODE_MAX_SCALAR, size, sizeof(size)));
			return -EINVAL;
		}
		n = new_node(b, LS_NODE_SCALAR, &ev->start_mark,
		             (const char *)ev->data.scalar.value, ev->data.scalar.length, &oom);
		if (!n)
			return oom ? -ENOMEM : limit(b, ev);
		if (memchr(n->value, '\0', ev->data.scalar.length))
			ls_report_add(b->rep, n->line, n->col, NULL,
			              "a scalar must not contain a NUL character");
		n->is_null = scalar_is_null(ev);
		if (ev->data.scalar.anchor) {
			char *a = dup_anchor(ev->data.scalar.anchor);

			if (!a || (r = remember_anchor(b, a, n)) < 0) {
				ls_node_free(n);
				return -ENOMEM;
			}
		}
		return attach(b, n);
	case YAML_ALIAS_EVENT: {
		const struct ls_node *target = NULL;
		const char *name = (const char *)ev->data.alias.anchor;
		size_t i;

		/* A hash lookup: many aliases of many anchors stay linear. */
		if (ls_strset_find(&b->anchor_index, name, &i))
			target = b->anchors[i].node;
		if (!target) {
			/* libyaml checks aliases only in its document loader, not here. */
			ls_report_add(b->rep, (int)ev->start_mark.line + 1,
			              (int)ev->start_mark.column + 1, NULL,
			              "unknown or unfinished anchor \"%s\"", name);
			return -EINVAL;
		}
		r = node_copy(target, false, &b->budget, &n);
		if (r == -E2BIG)
			return limit(b, ev);
		if (r < 0)
			return r;
		return attach(b, n);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *anchor =
		    seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

		if (b->depth >= LS_NODE_MAX_DEPTH) {
			ls_report_add(b->rep, (int)ev->start_mark.line + 1,
			              (int)ev->start_mark.column + 1, NULL,
			              "nesting deeper than %d levels", LS_NODE_MAX_DEPTH);
			return -EINVAL;
		}
		n = new_node(b, seq ? LS_NODE_SEQ : LS_NODE_MAP, &ev->start_mark, NULL, 0, &oom);
		if (!n)
			return oom ? -ENOMEM : limit(b, ev);
		b->stack[b->depth].node = n;
		b->stack[b->depth].alloc = 0;
		b->stack[b->depth].used = 0;
		b->stack[b->depth].anchor = NULL;
		if (anchor) {
			b->stack[b->depth].anchor = dup_anchor(anchor);
			if (!b->stack[b->depth].anchor) {
				ls_node_free(n);
				return -ENOMEM;
			}
		}
		b->depth++;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct frame f = b->stack[--b->depth];

		r = attach(b, f.node);
		if (r < 0) {
			free(f.anchor);
			return r;
		}
		/* An anchored collection can be aliased only once it is complete. */
		if (f.anchor)
			return remember_anchor(b, f.anchor, f.node);
		return 0;
	}
	default:
		return 0;
	}
}

/*
 * One step of the key path of the node check_keys is at. The path is
 * rendered only for a message: building it for every node of a large
 * document would cost more than the check.
 */
struct key_step {
	const struct key_step *up;
	const char *key; /* NULL: the index-th item of a sequence */
	size_t index;
};

static void render_path(const struct key_step *s, struct ls_buf *out)
{
	if (!s)
		return;
	render_path(s->up, out);
	if (s->key)
		ls_buf_printf(out, "%s%s", out->len ? "." : "", s->key);
	else
		ls_buf_printf(out, "[%zu]", s->index);
}

static void report_key(struct ls_report *rep, const struct ls_node *at,
                       const struct key_step *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report_key(struct ls_report *rep, const struct ls_node *at,
                       const struct key_step *path, const char *fmt, ...)
{
	struct ls_buf p;
	va_list ap;

	ls_buf_init(&p, 0);
	render_path(path, &p);
	va_start(ap, fmt);
	ls_report_vadd(rep, at->line, at->col, ls_buf_str(&p), fmt, ap);
	va_end(ap);
	ls_buf_release(&p);
}

struct key_ref {
	const char *key;
	size_t i;
};

static int cmp_key_ref(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return (x->i > y->i) - (x->i < y->i);
}

/* Maps with more pairs than this are checked for duplicates by sorting. */
#define SMALL_MAP 16

/*
 * For a large map m, first[i] is the index of the first key equal to key i
 * (SIZE_MAX for a first occurrence). NULL when m is small or out of memory
 * (then rep->oom is set and the check is skipped).
 */
static size_t *first_keys(struct ls_report *rep, const struct ls_node *m)
{
	struct key_ref *refs;
	size_t *first, n = 0;

	if (m->type != LS_NODE_MAP || m->n <= SMALL_MAP)
		return NULL;
	refs = calloc(m->n, sizeof(*refs));
	first = malloc(m->n * sizeof(*first));
	if (!refs || !first) {
		free(refs);
		free(first);
		rep->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct ls_node *k = m->kids[2 * i];

		first[i] = SIZE_MAX;
		if (k->type == LS_NODE_SCALAR)
			refs[n++] = (struct key_ref){k->value, i};
	}
	qsort(refs, n, sizeof(*refs), cmp_key_ref);
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && strcmp(refs[a].key, refs[b].key) == 0; b++)
			first[refs[b].i] = refs[a].i;
	}
	free(refs);
	return first;
}

/* Duplicate and non-scalar keys, with the generic path of each map. */
static void check_keys(struct ls_report *rep, const struct ls_node *n, const struct key_step *up)
{
	size_t *first;

	if (n->type == LS_NODE_SCALAR)
		return;
	first = first_keys(rep, n);
	for (size_t i = 0; i < n->n; i++) {
		const struct ls_node *k = n->type == LS_NODE_MAP ? n->kids[2 * i] : NULL;
		const struct ls_node *v = n->type == LS_NODE_MAP ? n->kids[2 * i + 1] : n->kids[i];
		struct key_step step = {up, k ? k->value : NULL, i};
		const struct ls_node *o = NULL;

		if (k && k->type != LS_NODE_SCALAR) {
			report_key(rep, k, up, "a key must be a scalar, not %s",
			           ls_node_type_name(k));
			continue;
		}
		if (k && first && first[i] != SIZE_MAX) {
			o = n->kids[2 * first[i]];
		} else if (k && !first && n->n <= SMALL_MAP) {
			for (size_t j = 0; j < i && !o; j++) {
				const struct ls_node *x = n->kids[2 * j];

				if (x->type == LS_NODE_SCALAR && strcmp(x->value, k->value) == 0)
					o = x;
			}
		}
		if (o)
			report_key(rep, k, &step, "duplicate key (first at %d:%d)", o->line,
			           o->col);
		check_keys(rep, v, &step);
	}
	free(first);
}

static const struct ls_node_limits default_limits = {
	.max_bytes = LS_NODE_MAX_DOCUMENT,
	.max_nodes = LS_NODE_MAX_NODES,
};

const char *ls_node_format_size(size_t n, char *buf, size_t size)
{
	if (n && n % (1024 * 1024) == 0)
		snprintf(buf, size, "%zu MiB", n / (1024 * 1024));
	else if (n && n % 1024 == 0)
		snprintf(buf, size, "%zu KiB", n / 1024);
	else
		snprintf(buf, size, "%zu bytes", n);
	return buf;
}

static int parse(struct builder *b, const char *yaml, size_t len, const struct ls_node_limits *lim);

int ls_node_parse_limited(struct ls_report *rep, const char *yaml, size_t len,
                          const struct ls_node_limits *lim, struct ls_node **ret_root)
{
	struct builder b;
	int r;

	memset(&b, 0, sizeof(b));
	b.rep = rep;
	r = parse(&b, yaml, len, lim);
	if (r < 0)
		return r;
	if (!b.root || (b.root->type == LS_NODE_SCALAR && b.root->is_null)) {
		ls_report_add(rep, 1, 1, NULL, "the document is empty");
		ls_node_free(b.root);
		return -EINVAL;
	}
	check_keys(rep, b.root, NULL);
	*ret_root = b.root;
	return 0;
}

void ls_node_stream_free(struct ls_node **docs, size_t n)
{
	for (size_t i = 0; docs && i < n; i++)
		ls_node_free(docs[i]);
	free(docs);
}

int ls_node_parse_stream(struct ls_report *rep, const char *yaml, size_t len,
                         const struct ls_node_limits *lim, struct ls_node ***ret_docs,
                         size_t *ret_n)
{
	struct builder b;
	int r;

	memset(&b, 0, sizeof(b));
	b.rep = rep;
	b.stream = true;
	r = parse(&b, yaml, len, lim);
	if (r < 0) {
		ls_node_stream_free(b.roots, b.n_roots);
		return r;
	}
	for (size_t i = 0; i < b.n_roots; i++)
		if (b.roots[i])
			check_keys(rep, b.roots[i], NULL);
	*ret_docs = b.roots;
	*ret_n = b.n_roots;
	return 0;
}

/* The parse shared by both: b->rep and b->stream set by the caller. */
static int parse(struct builder *bp, const char *yaml, size_t len, const struct ls_node_limits *lim)
{
	struct builder b = *bp;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	char size[32];
	int r = 0;

	if (!lim)
		lim = &default_limits;
	b.yaml = yaml;
	b.len = len;
	b.budget.nodes = lim->max_nodes;
	b.budget.bytes = lim->max_bytes;
	b.max_nodes = lim->max_nodes;
	b.max_bytes = lim->max_bytes;
	if (len > lim->max_bytes) {
		ls_report_add(b.rep, 0, 0, NULL, "the document is larger than the limit of %s",
		              ls_node_format_size(lim->max_bytes, size, sizeof(size)));
		return -E2BIG;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				r = -ENOMEM;
			} else {
				report_parser_error(&b, &parser);
				r = -EINVAL;
			}
			goto out;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = on_event(&b, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			goto out;
	}
out:
	yaml_parser_delete(&parser);
	while (b.depth > 0) {
		b.depth--;
		free(b.stack[b.depth].anchor);
		free_partial(b.stack[b.depth].node, b.stack[b.depth].used);
	}
	forget_anchors(&b);
	if (r < 0) {
		ls_node_free(b.root);
		b.root = NULL;
	}
	*bp = b;
	return r;
}

int ls_node_parse(struct ls_report *rep, const char *yaml, size_t len, struct ls_node **ret_root)
{
	return ls_node_parse_limited(rep, yaml, len, NULL, ret_root);
}

int ls_node_read_file_limited(const char *path, size_t max_bytes, struct ls_buf *ret,
                              char **ret_dir, struct ls_report *rep)
{
	struct ls_buf data;
	const char *slash = strrchr(path, '/');
	char *dir = NULL, size[32];
	struct stat st;
	int r;

	ls_buf_init(&data, max_bytes);
	/* Refused before reading: a huge file costs nothing to turn down. */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max_bytes)
		r = -E2BIG;
	else
		r = ls_buf_read_file(&data, path);
	if (r == -E2BIG) {
		ls_report_add(rep, 0, 0, NULL, "the file is larger than the limit of %s",
		              ls_node_format_size(max_bytes, size, sizeof(size)));
		goto out;
	}
	if (r < 0) {
		ls_report_add(rep, 0, 0, NULL, "cannot read: %s", ls_buf_read_strerror(r));
		goto out;
	}
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir) {
		r = -ENOMEM;
		ls_report_add(rep, 0, 0, NULL, "out of memory");
		goto out;
	}
out:
	if (r < 0) {
		ls_buf_release(&data);
		return r;
	}
	*ret = data;
	*ret_dir = dir;
	return 0;
}

/* Shared with the scenario loader and lib/kube. */
int ls_node_read_file(const char *path, struct ls_buf *ret, char **ret_dir, struct ls_diag *diag)
{
	struct ls_report rep;
	int r;

	ls_report_init(&rep, path);
	r = ls_node_read_file_limited(path, LS_NODE_MAX_DOCUMENT, ret, ret_dir, &rep);
	ls_report_flush(&rep, diag);
	return r;
}
