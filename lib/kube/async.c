/* async.c - concurrent /scale and Event requests over curl's multi interface (async.h). */
#include "kube/async.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kube/kube-internal.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

/* The blocking client's backoff (client.c), so both retry alike. */
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS  4000
/* How often a poll looks at the stop flag while it waits. */
#define STOP_POLL_MS 100
/* A failed discovery is not tried again for this long (async.h). */
#define DISCOVERY_HOLD_MS 10000
#define DISCOVERY_NEG_MAX 16
/* A burst of 429s halves the in-flight limit once, not once per response. */
#define THROTTLE_CUT_MS 200
/* A 429 without a usable Retry-After throttles for this long. */
#define THROTTLE_DEFAULT_MS 1000
/* A pooled response buffer larger than this is freed after its transfer. */
#define KEEP_BODY_ALLOC 65536

enum req_state {
	ST_QUEUED,  /* behind an earlier request of its target */
	ST_READY,   /* first of its target, waiting for a slot */
	ST_FLIGHT,  /* on the wire */
	ST_BACKOFF, /* waiting for its retry time, in the timer heap */
	ST_DONE,    /* finished, its callback not yet run */
};

/* One transfer slot: an easy handle of the pool and what it receives. */
struct xfer {
	CURL *h;
	struct curl_slist *headers; /* hold the token: wiped when the transfer ends */
	struct ls_buf body;
	bool too_big;
	char retry_after[64];
	char err[CURL_ERROR_SIZE];
};

struct tq;

struct req {
	enum ls_kube_async_op op;
	enum req_state state;
	void *tag;
	uint64_t seq;
	/* a->all, in submission order */
	struct req *aprev, *anext;
	/* a->ready, a->resend or a->done (one at a time: lst) */
	struct list *lst;
	struct req *lprev, *lnext;
	/* its target's queue (NULL once it left it) */
	struct tq *q;
	struct req *qprev, *qnext;

	/* The target, copied. */
	struct ls_kube_target t;
	char *api_version, *kind, *namespace_, *name;
	bool dry_run;
	char *path;    /* scale requests, patches */
	char body[64]; /* the scale patch */
	char *pbody;   /* a merge patch's body */

	/* Events: a copy of the event, and the plan made when first sent. */
	struct ls_kube_recorder *rec;
	struct ls_kube_event ev;
	char *ev_uid, *ev_type, *ev_reason, *ev_action, *ev_note;
	int64_t ev_wall_ms, ev_mono_ms;
	struct ls_kube_event_plan plan;
	bool planned;

	struct ls_kube_call call;
	bool started;       /* the budget runs from the first send */
	int64_t deadline_ms;
	int64_t due_ms;     /* ST_BACKOFF: when to send again */
	int tries;          /* attempts that count against LS_KUBE_MAX_ATTEMPTS */
	bool retry_pending; /* the next send is a retry (for the stats) */
	bool refreshed;     /* the credential was fetched again after a 401 */
	uint64_t cred_epoch;
	struct ls_backoff bo;
	struct xfer *x;

	struct ls_kube_async_result res;
};

/* The requests of one target (and kind of request), in order. */
struct tq {
	char *key;
	struct req *first, *last;
	/* A Retry-After (429, 503) holds the target's next request until then,
	 * also once the request that got it has given up; an empty queue is
	 * kept until this has passed. */
	int64_t hold_until_ms;
	struct tq *hnext;
};

struct list {
	struct req *head, *tail;
	size_t n;
};

/* A discovery failure, held so other requests fail at once. */
struct neg {
	char *key; /* apiVersion \x1f kind */
	int64_t until_ms;
	int err;
	char msg[512];
};

struct ls_kube_async {
	struct ls_kube *k;
	ls_kube_async_cb cb;
	void *ud;
	CURLM *multi;
	size_t max;   /* max_in_flight */
	size_t limit; /* the in-flight limit now: lower while throttled */
	struct xfer *xf;
	struct xfer **idle;
	size_t nidle;
	size_t in_flight;

	struct list all;    /* every pending request (links aprev/anext) */
	struct list resend; /* ready again: retries due, 401 resends, follow-ups; first */
	struct list ready;  /* first of their target, never sent */
	struct list done;   /* callbacks due */

	struct tq **buckets;
	size_t nbuckets, ntq;

	struct req **heap; /* ST_BACKOFF, by due_ms then seq */
	size_t nheap, aheap;

	struct neg neg[DISCOVERY_NEG_MAX];
	size_t neg_next;

	uint64_t seq, rng, cred_epoch;
	int64_t throttle_until_ms, last_cut_ms;
	bool closing;
	bool delivering; /* in a callback: poll must not recurse */
	bool tls; /* the server's URL is https */
	/* k's errmsg, kept across the calls that use it as scratch */
	char saved_errmsg[1024];
	struct ls_kube_async_stats st;
};

/* --- small helpers ----------------------------------------------------------- */

static void list_append(struct list *l, struct req *r)
{
	r->lst = l;
	r->lnext = NULL;
	r->lprev = l->tail;
	if (l->tail)
		l->tail->lnext = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

static void list_remove(struct list *l, struct req *r)
{
	r->lst = NULL;
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		l->head = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	else
		l->tail = r->lprev;
	r->lprev = r->lnext = NULL;
	l->n--;
}

/* One line: control characters (a Status message may have newlines) become spaces. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void set_msg(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(struct req *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->res.errmsg, sizeof(r->res.errmsg), fmt, ap);
	va_end(ap);
	one_line(r->res.errmsg);
}

/* k's errmsg is scratch for the helpers of kube-internal.h: keep the
 * caller's, and take what a helper wrote for the request. */
static void k_save(struct ls_kube_async *a)
{
	snprintf(a->saved_errmsg, sizeof(a->saved_errmsg), "%s", ls_kube_errmsg(a->k));
}

static void k_take(struct ls_kube_async *a, struct req *r)
{
	set_msg(r, "%s", ls_kube_errmsg(a->k));
	ls_kube_set_errmsg(a->k, "%s", a->saved_errmsg);
}

static void k_restore(struct ls_kube_async *a)
{
	ls_kube_set_errmsg(a->k, "%s", a->saved_errmsg);
}

static bool stopped(const struct ls_kube_async *a)
{
	const struct ls_kube_options *o = ls_kube_get_options(a->k);

	return o->stop && *o->stop;
}

static const char *op_name(enum ls_kube_async_op op)
{
	return op == LS_KUBE_ASYNC_SCALE_GET   ? "scale read"
	       : op == LS_KUBE_ASYNC_SCALE_SET ? "scale patch"
	       : op == LS_KUBE_ASYNC_PATCH     ? "patch"
	                                       : "event";
}

/* --- target queues: a hash table of struct tq ------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int tq_grow(struct ls_kube_async *a)
{
	size_t n = a->nbuckets ? a->nbuckets * 2 : 64;
	struct tq **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct tq *q = a->buckets[i], *next;

		for (; q; q = next) {
			size_t j = hash_str(q->key) & (n - 1);

			next = q->hnext;
			q->hnext = b[j];
			b[j] = q;
		}
	}
	free(a->buckets);
	a->buckets = b;
	a->nbuckets = n;
	return 0;
}

/* The queue of key, created when absent (takes key; frees it when not needed). */
static int tq_get(struct ls_kube_async *a, char *key, struct tq **ret)
{
	struct tq *q;
	size_t i;

	if (a->nbuckets) {
		for (q = a->buckets[hash_str(key) & (a->nbuckets - 1)]; q; q = q->hnext)
			if (strcmp(q->key, key) == 0) {
				free(key);
				*ret = q;
				return 0;
			}
	}
	if ((a->ntq + 1) * 2 > a->nbuckets && tq_grow(a) < 0) {
		free(key);
		return -ENOMEM;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		free(key);
		return -ENOMEM;
	}
	q->key = key;
	i = hash_str(key) & (a->nbuckets - 1);
	q->hnext = a->buckets[i];
	a->buckets[i] = q;
	a->ntq++;
	*ret = q;
	return 0;
}

static void tq_free(struct ls_kube_async *a, struct tq *q)
{
	struct tq **p = &a->buckets[hash_str(q->key) & (a->nbuckets - 1)];

	while (*p != q)
		p = &(*p)->hnext;
	*p = q->hnext;
	a->ntq--;
	free(q->key);
	free(q);
}

/* Takes r out of its target's queue; the next request of the target may go. */
static void tq_leave(struct ls_kube_async *a, struct req *r)
{
	struct tq *q = r->q;

	if (!q)
		return;
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->first = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->last = r->qprev;
	r->q = NULL;
	r->qprev = r->qnext = NULL;
	if (!q->first) {
		if (q->hold_until_ms <= ls_clock_mono_ms())
			tq_free(a, q);
	} else if (q->first->state == ST_QUEUED) {
		q->first->state = ST_READY;
		list_append(&a->ready, q->first);
	}
}

/* --- the timer heap (ST_BACKOFF) ------------------------------------------------ */

static bool heap_less(const struct req *x, const struct req *y)
{
	return x->due_ms < y->due_ms || (x->due_ms == y->due_ms && x->seq < y->seq);
}

static int heap_push(struct ls_kube_async *a, struct req *r)
{
	size_t i;

	if (a->nheap == a->aheap) {
		size_t n = a->aheap ? a->aheap * 2 : 64;
		struct req **h = realloc(a->heap, n * sizeof(*h));

		if (!h)
			return -ENOMEM;
		a->heap = h;
		a->aheap = n;
	}
	i = a->nheap++;
	while (i > 0 && heap_less(r, a->heap[(i - 1) / 2])) {
		a->heap[i] = a->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	a->heap[i] = r;
	return 0;
}

static struct req *heap_pop(struct ls_kube_async *a)
{
	struct req *top = a->heap[0], *last = a->heap[--a->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= a->nheap)
			break;
		if (c + 1 < a->nheap && heap_less(a->heap[c + 1], a->heap[c]))
			c++;
		if (!heap_less(a->heap[c], last))
			break;
		a->heap[i] = a->heap[c];
		i = c;
	}
	if (a->nheap > 0)
		a->heap[i] = last;
	return top;
}

/* --- requests ------------------------------------------------------------------- */

static void req_free(struct req *r)
{
	free(r->api_version);
	free(r->kind);
	free(r->namespace_);
	free(r->name);
	free(r->path);
	free(r->ev_uid);
	free(r->ev_type);
	free(r->pbody);
	free(r->ev_reason);
	free(r->ev_action);
	free(r->ev_note);
	ls_kube_event_plan_release(&r->plan);
	free(r);
}

static char *dup_or_null(const char *s, bool *bad)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*bad = true;
	return d;
}

/* A request for t, its strings copied. -EINVAL when t lacks a field. */
static int req_new(struct ls_kube_async *a, enum ls_kube_async_op op,
                   const struct ls_kube_target *t, void *tag, struct req **ret)
{
	struct req *r;
	bool bad = false;

	if (!t || !t->api_version || !t->kind || !t->name)
		return -EINVAL;
	if (a->closing || stopped(a))
		return -ECANCELED;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->op = op;
	r->tag = tag;
	r->res.op = op;
	r->res.replicas = -1;
	r->res.status_replicas = -1;
	r->api_version = dup_or_null(t->api_version, &bad);
	r->kind = dup_or_null(t->kind, &bad);
	r->namespace_ = dup_or_null(t->namespace_, &bad);
	r->name = dup_or_null(t->name, &bad);
	if (bad) {
		req_free(r);
		return -ENOMEM;
	}
	r->t = (struct ls_kube_target){r->api_version, r->kind, r->namespace_, r->name};
	a->rng = a->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	ls_backoff_init(&r->bo, BACKOFF_BASE_MS, BACKOFF_MAX_MS, a->rng);
	*ret = r;
	return 0;
}

/* The key of r's target queue: scale requests and Events queue apart. */
static char *queue_key(const struct req *r)
{
	struct ls_buf b;

	ls_buf_init(&b, 0);
	if (ls_buf_printf(&b, "%c\x1f%s\x1f%s\x1f%s\x1f%s",
	                  r->op == LS_KUBE_ASYNC_EVENT   ? 'E'
	                  : r->op == LS_KUBE_ASYNC_PATCH ? 'P'
	                                                 : 'S',
	                  r->api_version, r->kind,
	                  r->namespace_ ? r->namespace_ : "", r->name) < 0) {
		ls_buf_release(&b);
		return NULL;
	}
	return ls_buf_steal(&b);
}

/* r is pending from now on: its callback will run. */
static void req_add(struct ls_kube_async *a, struct req *r)
{
	r->seq = a->seq++;
	r->aprev = a->all.tail;
	r->anext = NULL;
	if (a->all.tail)
		a->all.tail->anext = r;
	else
		a->all.head = r;
	a->all.tail = r;
	a->all.n++;
}

static void req_unlink_all(struct ls_kube_async *a, struct req *r)
{
	if (r->aprev)
		r->aprev->anext = r->anext;
	else
		a->all.head = r->anext;
	if (r->anext)
		r->anext->aprev = r->aprev;
	else
		a->all.tail = r->aprev;
	a->all.n--;
}

/* Ends r (not on the wire, in no list but a->all): its callback is due. */
static void finish(struct ls_kube_async *a, struct req *r, int err)
{
	r->res.err = err;
	if (err == 0)
		r->res.errmsg[0] = '\0';
	tq_leave(a, r);
	r->state = ST_DONE;
	list_append(&a->done, r);
}

/* Queues r (pending already) behind its target's earlier requests. */
static int enqueue(struct ls_kube_async *a, struct req *r)
{
	struct tq *q;
	struct req *prev;
	char *key = queue_key(r);
	int e;

	if (!key)
		return -ENOMEM;
	if ((e = tq_get(a, key, &q)) < 0)
		return e;
	prev = q->last;
	r->q = q;
	r->qprev = prev;
	r->qnext = NULL;
	if (prev)
		prev->qnext = r;
	else
		q->first = r;
	q->last = r;
	if (!prev) {
		r->state = ST_READY;
		list_append(&a->ready, r);
		return 0;
	}
	r->state = ST_QUEUED;
	/* Events wait for an answer one at a time per target: a server that
	 * answers slowly (or not: the request budget) must not let them pile
	 * up. Beyond the bound the oldest waiting one goes. */
	if (r->op == LS_KUBE_ASYNC_EVENT) {
		size_t waiting = 0;
		struct req *oldest = NULL;

		for (struct req *o = q->first; o; o = o->qnext)
			if (o->state == ST_QUEUED && o != r) {
				waiting++;
				if (!oldest)
					oldest = o;
			}
		if (waiting >= LS_KUBE_ASYNC_EVENTS_WAITING_MAX && oldest) {
			set_msg(oldest,
			        "event %s of %s/%s/%s dropped: %d events of the target were waiting",
			        oldest->ev_reason, oldest->namespace_ ? oldest->namespace_ : "",
			        oldest->kind, oldest->name, LS_KUBE_ASYNC_EVENTS_WAITING_MAX);
			a->st.events_dropped++;
			finish(a, oldest, -ENOBUFS);
		}
	}
	/* A newer count for a target makes an unsent older one moot. */
	if ((r->op == LS_KUBE_ASYNC_SCALE_SET || r->op == LS_KUBE_ASYNC_PATCH) && prev->op == r->op &&
	    prev->dry_run == r->dry_run && (prev->state == ST_QUEUED || prev->state == ST_READY)) {
		if (prev->state == ST_READY)
			list_remove(&a->ready, prev);
		prev->res.superseded = true;
		set_msg(prev, "superseded by a newer %s of %s/%s/%s", op_name(prev->op),
		        prev->namespace_ ? prev->namespace_ : "", prev->kind, prev->name);
		a->st.superseded++;
		finish(a, prev, -ECANCELED);
	}
	return 0;
}

/* --- discovery failures held ---------------------------------------------------- */

static struct neg *neg_find(struct ls_kube_async *a, const struct req *r, int64_t now)
{
	for (size_t i = 0; i < DISCOVERY_NEG_MAX; i++) {
		struct neg *n = &a->neg[i];
		size_t lv = strlen(r->api_version);

		if (n->key && now < n->until_ms && strncmp(n->key, r->api_version, lv) == 0 &&
		    n->key[lv] == '\x1f' && strcmp(n->key + lv + 1, r->kind) == 0)
			return n;
	}
	return NULL;
}

static void neg_add(struct ls_kube_async *a, const struct req *r, int err, int64_t now)
{
	struct neg *n = &a->neg[a->neg_next++ % DISCOVERY_NEG_MAX];
	struct ls_buf b;

	ls_buf_init(&b, 0);
	if (ls_buf_printf(&b, "%s\x1f%s", r->api_version, r->kind) < 0) {
		ls_buf_release(&b);
		return;
	}
	free(n->key);
	n->key = ls_buf_steal(&b);
	n->until_ms = now + DISCOVERY_HOLD_MS;
	n->err = err;
	snprintf(n->msg, sizeof(n->msg), "%s", r->res.errmsg);
}

/*
 * The path of r's scale request, from k's discovery. 0 (r->path set, or r
 * failed: r->res.err set and r finished by the caller), or -ENOMEM.
 */
static int scale_path(struct ls_kube_async *a, struct req *r, const char *suffix)
{
	int64_t now = ls_clock_mono_ms();
	struct neg *n = neg_find(a, r, now);
	int e;

	if (n) {
		r->res.err = n->err;
		set_msg(r, "%s", n->msg);
		return 0;
	}
	k_save(a);
	e = ls_kube_target_path(a->k, &r->t, suffix, &r->path);
	if (e == -ENOMEM) {
		k_restore(a);
		return e;
	}
	if (e < 0) {
		k_take(a, r);
		r->res.err = e;
		/* -EINVAL (no /scale, no namespace) is known without a
		 * request; the rest may cost one each time. */
		if (e != -EINVAL)
			neg_add(a, r, e, now);
		return 0;
	}
	k_restore(a);
	return 0;
}

/* Makes r pending: queued, or straight to done when it already failed. */
static int submit(struct ls_kube_async *a, struct req *r)
{
	int e;

	req_add(a, r);
	if (r->res.err < 0) {
		r->state = ST_DONE;
		list_append(&a->done, r);
		return 0;
	}
	if ((e = enqueue(a, r)) < 0) {
		req_unlink_all(a, r);
		return e;
	}
	return 0;
}

int ls_kube_async_scale_get(struct ls_kube_async *a, const struct ls_kube_target *t, void *tag)
{
	struct req *r = NULL;
	int e = req_new(a, LS_KUBE_ASYNC_SCALE_GET, t, tag, &r);

	if (e < 0)
		return e;
	if ((e = scale_path(a, r, "/scale")) < 0)
		goto fail;
	r->call = (struct ls_kube_call){.method = "GET", .path = r->path};
	if ((e = submit(a, r)) < 0)
		goto fail;
	return 0;
fail:
	req_free(r);
	return e;
}

/* Sends r as a merge patch of body (r's own) at r->path; frees r when
 * that fails. */
static int submit_merge_patch(struct ls_kube_async *a, struct req *r, const char *body)
{
	int e;

	r->call = (struct ls_kube_call){
	    .method = "PATCH",
	    .path = r->path,
	    .body = body,
	    .content_type = "application/merge-patch+json",
	};
	if ((e = submit(a, r)) < 0)
		req_free(r);
	return e;
}

int ls_kube_async_scale_set(struct ls_kube_async *a, const struct ls_kube_target *t,
                            int32_t replicas, bool dry_run, void *tag)
{
	struct req *r = NULL;
	int e;

	if (replicas < 0)
		return -EINVAL;
	if ((e = req_new(a, LS_KUBE_ASYNC_SCALE_SET, t, tag, &r)) < 0)
		return e;
	r->dry_run = dry_run;
	snprintf(r->body, sizeof(r->body), "{\"spec\":{\"replicas\":%d}}", replicas);
	if ((e = scale_path(a, r, dry_run ? "/scale?dryRun=All" : "/scale")) < 0) {
		req_free(r);
		return e;
	}
	return submit_merge_patch(a, r, r->body);
}

int ls_kube_async_patch(struct ls_kube_async *a, const struct ls_kube_target *t, const char *path,
                        const char *body, void *tag)
{
	struct req *r = NULL;
	int e;

	if (!path || !body)
		return -EINVAL;
	if ((e = req_new(a, LS_KUBE_ASYNC_PATCH, t, tag, &r)) < 0)
		return e;
	r->path = strdup(path);
	r->pbody = strdup(body);
	if (!r->path || !r->pbody) {
		req_free(r);
		return -ENOMEM;
	}
	return submit_merge_patch(a, r, r->pbody);
}

int ls_kube_async_event(struct ls_kube_async *a, struct ls_kube_recorder *rec,
                        const struct ls_kube_event *ev, int64_t now_wall_ms, int64_t now_mono_ms,
                        bool dry_run, void *tag)
{
	struct req *r = NULL;
	bool bad = false;
	int e;

	if (!rec || !ev || !ev->regarding || !ev->reason)
		return -EINVAL;
	if ((e = req_new(a, LS_KUBE_ASYNC_EVENT, ev->regarding, tag, &r)) < 0)
		return e;
	r->rec = rec;
	r->dry_run = dry_run;
	r->ev_wall_ms = now_wall_ms;
	r->ev_mono_ms = now_mono_ms;
	r->ev_uid = dup_or_null(ev->regarding_uid, &bad);
	r->ev_type = dup_or_null(ev->type, &bad);
	r->ev_reason = dup_or_null(ev->reason, &bad);
	r->ev_action = dup_or_null(ev->action, &bad);
	/* The plan cuts the note at LS_KUBE_NOTE_MAX bytes (at a UTF-8
	 * boundary, which the byte after the cut decides). */
	if (ev->note && !(r->ev_note = strndup(ev->note, LS_KUBE_NOTE_MAX + 1)))
		bad = true;
	if (bad) {
		e = -ENOMEM;
		goto fail;
	}
	r->ev = (struct ls_kube_event){&r->t,         r->ev_uid,    r->ev_type,
	                               r->ev_reason, r->ev_action, r->ev_note};
	if ((e = submit(a, r)) < 0)
		goto fail;
	return 0;
fail:
	req_free(r);
	return e;
}

/* --- transfers ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	int e = ls_buf_append(&x->body, p, size * n);

	if (e < 0) {
		x->too_big = e == -E2BIG;
		return 0;
	}
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		size_t vlen = len - (sizeof(name) - 1);

		if (vlen >= sizeof(x->retry_after))
			vlen = sizeof(x->retry_after) - 1;
		memcpy(x->retry_after, p + sizeof(name) - 1, vlen);
		x->retry_after[vlen] = '\0';
	}
	return len;
}

/* Gives x back to the pool; its headers (the token) are wiped. */
static void xfer_put(struct ls_kube_async *a, struct xfer *x)
{
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	ls_kube_free_headers(x->headers);
	x->headers = NULL;
	if (x->body.alloc > KEEP_BODY_ALLOC)
		ls_buf_release(&x->body);
	ls_buf_reset(&x->body);
	a->idle[a->nidle++] = x;
}

/* Takes r off the wire (the transfer is cut if it had not ended). */
static void unwire(struct ls_kube_async *a, struct req *r)
{
	struct xfer *x = r->x;

	curl_multi_remove_handle(a->multi, x->h);
	xfer_put(a, x);
	r->x = NULL;
	a->in_flight--;
}

/* Sends r now on a pooled handle (a slot is free). Fails r when it cannot. */
static void start(struct ls_kube_async *a, struct req *r)
{
	int64_t now = ls_clock_mono_ms(), left;
	struct xfer *x;
	int e;

	if (!r->started) {
		r->started = true;
		r->deadline_ms = now + ls_kube_get_options(a->k)->timeout_ms;
	}
	if (r->op == LS_KUBE_ASYNC_EVENT && !r->planned) {
		/* Planned now, not at submit: a repeat queued behind the
		 * create of its Event patches that Event's series. */
		e = ls_kube_event_plan(r->rec, &r->ev, r->ev_wall_ms, r->ev_mono_ms, r->dry_run,
		                       &r->plan);
		if (e < 0) {
			set_msg(r, "event %s of %s: %s", r->ev_reason, r->name, strerror(-e));
			finish(a, r, e);
			return;
		}
		r->planned = true;
		r->call = r->plan.call;
	}
	left = r->deadline_ms - now;
	if (left <= 0) {
		if (r->res.err == 0) {
			set_msg(r, "%s %s: timed out", r->call.method, r->call.path);
			r->res.err = -ETIMEDOUT;
		}
		finish(a, r, r->res.err);
		return;
	}
	x = a->idle[--a->nidle];
	if (!x->h && !(x->h = curl_easy_init())) {
		a->idle[a->nidle++] = x;
		set_msg(r, "%s %s: out of memory", r->call.method, r->call.path);
		finish(a, r, -ENOMEM);
		return;
	}
	curl_easy_reset(x->h);
	k_save(a);
	e = ls_kube_easy_setup(a->k, x->h, &r->call, left, &x->headers);
	if (e < 0) {
		k_take(a, r);
		xfer_put(a, x);
		finish(a, r, e);
		return;
	}
	k_restore(a);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, r);
	/* HTTP/2 over TLS when the server offers it (ALPN), and then wait
	 * for the connection being made rather than open one per request.
	 * Not over plain HTTP: there a connection whose first response never
	 * comes would never say that it cannot multiplex, and hold up the
	 * requests waiting for it. */
	curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(x->h, CURLOPT_PIPEWAIT, a->tls ? 1L : 0L);
	ls_buf_reset(&x->body);
	x->too_big = false;
	x->retry_after[0] = '\0';
	x->err[0] = '\0';
	if (curl_multi_add_handle(a->multi, x->h) != CURLM_OK) {
		set_msg(r, "%s %s: cannot start the transfer", r->call.method, r->call.path);
		xfer_put(a, x);
		finish(a, r, -ENOMEM);
		return;
	}
	r->x = x;
	r->state = ST_FLIGHT;
	r->cred_epoch = a->cred_epoch;
	r->res.attempts++;
	a->st.requests++;
	if (r->retry_pending) {
		r->retry_pending = false;
		a->st.retries++;
	}
	a->in_flight++;
	if (a->in_flight > a->st.max_in_flight_seen)
		a->st.max_in_flight_seen = a->in_flight;
}

/* Sends what may go: retries and resends first, then new requests (a new
 * request of a target held by a Retry-After waits for it in the timer heap). */
static void start_ready(struct ls_kube_async *a)
{
	while (a->in_flight < a->limit) {
		struct req *r = a->resend.head;

		if (r) {
			list_remove(&a->resend, r);
		} else if ((r = a->ready.head) != NULL) {
			list_remove(&a->ready, r);
			if (r->q && r->q->hold_until_ms > ls_clock_mono_ms()) {
				r->due_ms = r->q->hold_until_ms;
				r->state = ST_BACKOFF;
				if (heap_push(a, r) == 0)
					continue;
			}
		} else {
			break;
		}
		start(a, r);
	}
}

/* Moves the retries whose time has come to the resend queue. */
static void fire_timers(struct ls_kube_async *a, int64_t now)
{
	while (a->nheap > 0 && a->heap[0]->due_ms <= now) {
		struct req *r = heap_pop(a);

		r->state = ST_READY;
		list_append(&a->resend, r);
	}
}

static bool transport_retryable(int e)
{
	return e == -ECONNREFUSED || e == -ETIMEDOUT || e == -ECONNRESET || e == -EHOSTUNREACH ||
	       e == -EIO;
}

/* A 429: fewer requests at once until its Retry-After has passed (async.h). */
static void throttle(struct ls_kube_async *a, int64_t now, int64_t delay_ms)
{
	a->st.throttled++;
	if (now - a->last_cut_ms >= THROTTLE_CUT_MS || a->last_cut_ms == 0) {
		a->limit = a->limit > 1 ? a->limit / 2 : 1;
		a->last_cut_ms = now;
	}
	if (now + delay_ms > a->throttle_until_ms)
		a->throttle_until_ms = now + delay_ms;
}

/* Sends r again at once (first in line): a 401 resend or an Event follow-up. */
static void resend(struct ls_kube_async *a, struct req *r)
{
	r->state = ST_READY;
	list_append(&a->resend, r);
}

/* The Scale of a 2xx body into r's result; false when it is not one. */
static bool parse_scale(struct req *r, const struct xfer *x)
{
	cJSON *j = x->body.len ? cJSON_ParseWithLength(x->body.data, x->body.len) : NULL;
	int32_t rep, st;
	const char *rv;
	bool ok = false;

	if (j && ls_kube_scale_parse(j, &rep, &st) == 0) {
		r->res.replicas = rep;
		r->res.status_replicas = st;
		rv = ls_kube_json_str(ls_kube_json_get(j, "metadata", NULL), "resourceVersion");
		snprintf(r->res.resource_version, sizeof(r->res.resource_version), "%s",
		         rv ? rv : "");
		ok = true;
	}
	cJSON_Delete(j);
	return ok;
}

/* An Event's request ended with e: the recorder learns of it; a 404 on a
 * series patch becomes a create, sent next. */
static void event_done(struct ls_kube_async *a, struct req *r, int e)
{
	bool again = false;

	e = ls_kube_event_complete(r->rec, &r->plan, &r->ev, e, &again);
	if (again) {
		r->call = r->plan.call;
		/* A new request, with a budget of its own. */
		r->started = false;
		r->res.err = 0;
		resend(a, r);
		return;
	}
	if (e == -ENOMEM && r->res.errmsg[0] == '\0')
		set_msg(r, "event %s of %s: out of memory", r->ev_reason, r->name);
	finish(a, r, e);
}

/* What a transfer's end means for its request. */
enum outcome {
	OUT_DONE,   /* a result: success, or a failure not retried */
	OUT_RESEND, /* send again at once (a 401 with a fresh credential) */
	OUT_RETRY,  /* send again after the backoff (or Retry-After) */
};

/*
 * Reads what the transfer of r on x received (rc: curl's result): sets
 * r->res and *ret_delay_ms for a retry; throttles on a 429 and fetches the
 * credential again on a 401.
 */
static enum outcome classify(struct ls_kube_async *a, struct req *r, struct xfer *x, CURLcode rc,
                             int64_t now, int64_t *ret_delay_ms)
{
	long status = 0;
	bool retry, has_ra = false;
	int64_t ra;
	int e;

	if (rc == CURLE_WRITE_ERROR && x->too_big) {
		set_msg(r, "the response to %s %s is larger than %d bytes", r->call.method,
		        r->call.path, LS_KUBE_MAX_BODY);
		r->res.err = -E2BIG;
		return OUT_DONE;
	}
	if (rc != CURLE_OK) {
		char *url = NULL;

		e = ls_kube_curl_errno(rc);
		curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &url);
		set_msg(r, "%s %s: %s%s", r->call.method, url ? url : r->call.path,
		        e == -EPROTO ? "TLS: " : "", x->err[0] ? x->err : curl_easy_strerror(rc));
		ls_log(LS_LOG_DEBUG, NULL, "kube: %s (async, attempt %d)", r->res.errmsg,
		       r->res.attempts);
		retry = transport_retryable(e);
		goto failed;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	ls_log(LS_LOG_DEBUG, NULL, "kube: %s %s: HTTP %ld (async, attempt %d)", r->call.method,
	       r->call.path, status, r->res.attempts);
	if (status >= 200 && status < 300) {
		r->res.err = 0;
		r->res.errmsg[0] = '\0';
		if (r->op != LS_KUBE_ASYNC_EVENT && r->op != LS_KUBE_ASYNC_PATCH &&
		    !parse_scale(r, x) && r->op == LS_KUBE_ASYNC_SCALE_GET) {
			set_msg(r, "the response to %s %s is not a Scale (HTTP %ld)", r->call.method,
			        r->call.path, status);
			r->res.err = -EPROTO;
		}
		if (a->limit < a->max && now >= a->throttle_until_ms)
			a->limit++;
		return OUT_DONE;
	}
	if (status == 401 && !r->refreshed && ls_kube_creds_refreshable(a->k)) {
		/* The token may have rotated, or the plugin's credential been
		 * revoked: fetch it again, once per request, and once for all
		 * the requests that were sent with the same credential. */
		r->refreshed = true;
		if (r->cred_epoch != a->cred_epoch)
			return OUT_RESEND;
		k_save(a);
		e = ls_kube_refresh_creds(a->k);
		if (e < 0) {
			k_take(a, r);
			r->res.err = e;
			return OUT_DONE;
		}
		k_restore(a);
		a->cred_epoch++;
		return OUT_RESEND;
	}
	k_save(a);
	e = ls_kube_status_error(a->k, &r->call, status, x->body.data, x->body.len);
	k_take(a, r);
	retry = status == 429 || status >= 500 ||
	        (status == 409 && r->op == LS_KUBE_ASYNC_SCALE_SET);
failed:
	r->res.err = e;
	r->tries++;
	*ret_delay_ms = ls_backoff_next(&r->bo);
	if ((status == 429 || status == 503) && x->retry_after[0] &&
	    ls_kube_parse_retry_after(x->retry_after, ls_clock_wall_ms(), &ra) == 0) {
		*ret_delay_ms = ra;
		has_ra = true;
		if (r->q && now + ra > r->q->hold_until_ms)
			r->q->hold_until_ms = now + ra;
	}
	if (status == 429)
		throttle(a, now, has_ra ? ra : THROTTLE_DEFAULT_MS);
	/* Creating an Event is not idempotent; and no time for another
	 * attempt means this one is the result. */
	if (!retry || r->op == LS_KUBE_ASYNC_EVENT || r->tries >= LS_KUBE_MAX_ATTEMPTS ||
	    now + *ret_delay_ms >= r->deadline_ms)
		return OUT_DONE;
	return OUT_RETRY;
}

/* A transfer of r ended with rc: a result, a resend, or a retry later. */
static void transfer_done(struct ls_kube_async *a, struct req *r, CURLcode rc)
{
	struct xfer *x = r->x;
	int64_t now = ls_clock_mono_ms(), delay = 0;
	long connects = 0;
	enum outcome o;

	curl_multi_remove_handle(a->multi, x->h);
	if (curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
		a->st.connections += (uint64_t)connects;
	o = classify(a, r, x, rc, now, &delay);
	r->x = NULL;
	a->in_flight--;
	xfer_put(a, x);
	switch (o) {
	case OUT_RESEND:
		resend(a, r);
		return;
	case OUT_RETRY:
		r->due_ms = now + delay;
		r->retry_pending = true;
		r->state = ST_BACKOFF;
		if (heap_push(a, r) == 0)
			return;
		break;
	case OUT_DONE:
		break;
	}
	if (r->op == LS_KUBE_ASYNC_EVENT)
		event_done(a, r, r->res.err);
	else
		finish(a, r, r->res.err);
}

static void collect(struct ls_kube_async *a)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			transfer_done(a, (struct req *)priv, m->data.result);
	}
}

/* Timers, new transfers, progress, completions. */
static void pump(struct ls_kube_async *a)
{
	int running;

	fire_timers(a, ls_clock_mono_ms());
	start_ready(a);
	curl_multi_perform(a->multi, &running);
	collect(a);
	start_ready(a);
}

/* Ends every request that has not finished with -ECANCELED: transfers cut. */
static void cancel_all(struct ls_kube_async *a, const char *why)
{
	for (struct req *r = a->all.head; r; r = r->anext) {
		switch (r->state) {
		case ST_DONE:
			continue;
		case ST_FLIGHT:
			unwire(a, r);
			break;
		case ST_READY:
			list_remove(r->lst, r);
			break;
		case ST_QUEUED:
		case ST_BACKOFF:
			break;
		}
		r->res.superseded = false;
		set_msg(r, "%s %s: %s", op_name(r->op), r->name, why);
		r->q = NULL; /* the queues go below, all at once */
		r->res.err = -ECANCELED;
		r->state = ST_DONE;
		list_append(&a->done, r);
	}
	a->nheap = 0;
	for (size_t i = 0; i < a->nbuckets; i++)
		while (a->buckets[i])
			tq_free(a, a->buckets[i]);
}

/* Runs the callbacks due when it was called (not those of requests the
 * callbacks queue and that fail at once: the next poll has them). */
static int deliver(struct ls_kube_async *a)
{
	size_t n = a->done.n;

	for (size_t i = 0; i < n; i++) {
		struct req *r = a->done.head;

		list_remove(&a->done, r);
		req_unlink_all(a, r);
		a->delivering = true;
		a->cb(r->tag, &r->res, a->ud);
		a->delivering = false;
		req_free(r);
	}
	return (int)n;
}

int ls_kube_async_poll(struct ls_kube_async *a, int64_t timeout_ms)
{
	int64_t end = ls_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	if (a->delivering)
		return (int)a->all.n;
	for (;;) {
		int64_t now, wait;

		if (stopped(a))
			cancel_all(a, "stopped");
		else
			pump(a);
		if (deliver(a) > 0) {
			/* Send what the callbacks queued before returning. */
			if (!stopped(a))
				pump(a);
			break;
		}
		if (a->all.n == 0)
			break;
		now = ls_clock_mono_ms();
		if (now >= end)
			break;
		wait = end - now;
		if (a->nheap > 0 && a->heap[0]->due_ms - now < wait)
			wait = a->heap[0]->due_ms > now ? a->heap[0]->due_ms - now : 0;
		if (ls_kube_get_options(a->k)->stop && wait > STOP_POLL_MS)
			wait = STOP_POLL_MS;
		if (wait > 0)
			curl_multi_poll(a->multi, NULL, 0, (int)wait, NULL);
	}
	return (int)a->all.n;
}

size_t ls_kube_async_pending(const struct ls_kube_async *a)
{
	return a->all.n;
}

void ls_kube_async_stats(const struct ls_kube_async *a, struct ls_kube_async_stats *ret)
{
	*ret = a->st;
	ret->in_flight = a->in_flight;
	ret->limit = a->limit;
}

int ls_kube_async_new(struct ls_kube *k, int max_in_flight, ls_kube_async_cb cb, void *ud,
                      struct ls_kube_async **ret)
{
	struct ls_kube_async *a;
	size_t max;

	if (!k || !cb || max_in_flight < 0)
		return -EINVAL;
	max = max_in_flight ? (size_t)max_in_flight : LS_KUBE_ASYNC_MAX_IN_FLIGHT;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->k = k;
	a->cb = cb;
	a->ud = ud;
	a->max = a->limit = max;
	a->tls = strncasecmp(ls_kube_get_config(k)->server, "https:", 6) == 0;
	a->rng = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)a;
	a->xf = calloc(max, sizeof(*a->xf));
	a->idle = calloc(max, sizeof(*a->idle));
	a->multi = curl_multi_init();
	if (!a->xf || !a->idle || !a->multi) {
		ls_kube_async_free(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < max; i++) {
		ls_buf_init(&a->xf[i].body, LS_KUBE_MAX_BODY);
		a->idle[a->nidle++] = &a->xf[max - 1 - i];
	}
	/* One HTTP/2 connection carries every request when the server speaks
	 * it; over HTTP/1.1 each request in flight needs its own, kept alive. */
	curl_multi_setopt(a->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max);
	curl_multi_setopt(a->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max);
	curl_multi_setopt(a->multi, CURLMOPT_MAXCONNECTS, (long)max);
	*ret = a;
	return 0;
}

void ls_kube_async_free(struct ls_kube_async *a)
{
	if (!a)
		return;
	a->closing = true;
	if (a->multi && a->xf) {
		cancel_all(a, "the async client was freed");
		while (a->done.n > 0)
			deliver(a);
	}
	for (size_t i = 0; a->xf && i < a->max; i++) {
		if (a->xf[i].h)
			curl_easy_cleanup(a->xf[i].h);
		ls_buf_release(&a->xf[i].body);
	}
	if (a->multi)
		curl_multi_cleanup(a->multi);
	for (size_t i = 0; i < DISCOVERY_NEG_MAX; i++)
		free(a->neg[i].key);
	free(a->buckets);
	free(a->heap);
	free(a->xf);
	free(a->idle);
	free(a);
}
