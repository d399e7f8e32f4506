/* leader.c - see leader.h. */
#include "kube/leader.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube-internal.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"

/* The release is one request at shutdown: do not hold the exit long. */
#define RELEASE_TIMEOUT_MS 3000

/* --- the pure rules --------------------------------------------------------- */

void ls_kube_election_init(struct ls_kube_election *e, const char *identity,
                           const struct ls_kube_election_params *p)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->identity, sizeof(e->identity), "%s", identity);
	e->p = *p;
}

static bool same_record(const struct ls_kube_lease_record *a, const struct ls_kube_lease_record *b)
{
	return strcmp(a->holder, b->holder) == 0 && a->lease_duration_s == b->lease_duration_s &&
	       a->acquire_ms == b->acquire_ms && a->renew_ms == b->renew_ms &&
	       a->transitions == b->transitions;
}

void ls_kube_election_observe(struct ls_kube_election *e, const struct ls_kube_lease_record *rec,
                              const char *rv, int64_t now_ms)
{
	if (!rec) {
		if (!e->observed || e->exists)
			e->observed_ms = now_ms;
		e->observed = true;
		e->exists = false;
		memset(&e->rec, 0, sizeof(e->rec));
		e->rv[0] = '\0';
		e->leading = false;
		return;
	}
	if (!e->observed || !e->exists || strcmp(e->rv, rv ? rv : "") != 0 ||
	    !same_record(&e->rec, rec)) {
		e->rec = *rec;
		snprintf(e->rv, sizeof(e->rv), "%s", rv ? rv : "");
		e->observed_ms = now_ms;
	}
	e->observed = true;
	e->exists = true;
	if (strcmp(rec->holder, e->identity) != 0)
		e->leading = false;
}

enum ls_kube_election_step ls_kube_election_next(const struct ls_kube_election *e, int64_t now_ms,
                                                 int64_t now_wall_ms,
                                                 struct ls_kube_lease_record *ret)
{
	struct ls_kube_lease_record r;
	bool mine;

	if (!e->observed)
		return LS_KUBE_ELECT_WAIT;
	memset(&r, 0, sizeof(r));
	snprintf(r.holder, sizeof(r.holder), "%s", e->identity);
	r.lease_duration_s = (int32_t)((e->p.lease_duration_ms + 999) / 1000);
	r.renew_ms = now_wall_ms;
	if (!e->exists) {
		r.acquire_ms = now_wall_ms;
		r.transitions = 0;
		*ret = r;
		return LS_KUBE_ELECT_CREATE;
	}
	mine = strcmp(e->rec.holder, e->identity) == 0;
	if (e->rec.holder[0] && !mine &&
	    now_ms < e->observed_ms + (int64_t)e->rec.lease_duration_s * 1000)
		return LS_KUBE_ELECT_WAIT;
	if (mine) {
		r.acquire_ms = e->rec.acquire_ms ? e->rec.acquire_ms : now_wall_ms;
		r.transitions = e->rec.transitions;
	} else {
		r.acquire_ms = now_wall_ms;
		/* A Lease may say anything up to INT32_MAX: saturate. */
		r.transitions = e->rec.transitions < INT32_MAX ? e->rec.transitions + 1 : INT32_MAX;
	}
	*ret = r;
	return LS_KUBE_ELECT_UPDATE;
}

void ls_kube_election_written(struct ls_kube_election *e, const struct ls_kube_lease_record *rec,
                              const char *rv, int64_t now_ms)
{
	e->rec = *rec;
	snprintf(e->rv, sizeof(e->rv), "%s", rv ? rv : "");
	e->observed = true;
	e->exists = true;
	e->observed_ms = now_ms;
	e->leading = strcmp(rec->holder, e->identity) == 0;
	if (e->leading)
		e->renewed_ms = now_ms;
}

bool ls_kube_election_is_leader(const struct ls_kube_election *e, int64_t now_ms)
{
	return e->leading && now_ms - e->renewed_ms < e->p.renew_deadline_ms;
}

bool ls_kube_election_release(const struct ls_kube_election *e, int64_t now_wall_ms,
                              struct ls_kube_lease_record *ret)
{
	if (!e->leading || !e->exists || strcmp(e->rec.holder, e->identity) != 0)
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->lease_duration_s = 1;
	ret->acquire_ms = now_wall_ms;
	ret->renew_ms = now_wall_ms;
	ret->transitions = e->rec.transitions;
	return true;
}

int64_t ls_kube_election_wait_ms(const struct ls_kube_election *e, int64_t now_ms)
{
	int64_t w = e->p.retry_period_ms;

	if (!e->leading && e->observed && e->exists && e->rec.holder[0] &&
	    strcmp(e->rec.holder, e->identity) != 0) {
		/* Wake when the holder's lease runs out rather than up to a
		 * retryPeriod later: the handover then takes leaseDuration
		 * after the last renewal seen, not that plus a retryPeriod. */
		int64_t until = e->observed_ms + (int64_t)e->rec.lease_duration_s * 1000 - now_ms;

		if (until >= 0 && until < w)
			w = until + 1;
	}
	return w;
}

/* --- JSON ------------------------------------------------------------------- */

int ls_kube_lease_json(const char *namespace_, const char *name, const char *rv,
                       const struct ls_kube_lease_record *rec, char **ret)
{
	struct ls_buf b;
	char acq[48], ren[48];
	int r = 0;

	ls_buf_init(&b, 0);
	ls_clock_rfc3339_micro(rec->acquire_ms, acq, sizeof(acq));
	ls_clock_rfc3339_micro(rec->renew_ms, ren, sizeof(ren));
	if (ls_buf_puts(&b, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
	                    "\"metadata\":{\"name\":") < 0 ||
	    ls_buf_json_string(&b, name) < 0 || ls_buf_puts(&b, ",\"namespace\":") < 0 ||
	    ls_buf_json_string(&b, namespace_) < 0)
		r = -ENOMEM;
	if (r == 0 && rv && rv[0] &&
	    (ls_buf_puts(&b, ",\"resourceVersion\":") < 0 || ls_buf_json_string(&b, rv) < 0))
		r = -ENOMEM;
	if (r == 0 && (ls_buf_puts(&b, "},\"spec\":{\"holderIdentity\":") < 0 ||
	               ls_buf_json_string(&b, rec->holder) < 0 ||
	               ls_buf_printf(&b,
	                             ",\"leaseDurationSeconds\":%d,\"acquireTime\":\"%s\","
	                             "\"renewTime\":\"%s\",\"leaseTransitions\":%d}}",
	                             rec->lease_duration_s, acq, ren, rec->transitions) < 0))
		r = -ENOMEM;
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	*ret = ls_buf_steal(&b);
	return 0;
}

int ls_kube_lease_parse(const cJSON *j, struct ls_kube_lease_record *ret, char *rv, size_t rvlen)
{
	const cJSON *spec = ls_kube_json_get(j, "spec", NULL), *v;
	const char *version = ls_kube_json_str(ls_kube_json_get(j, "metadata", NULL),
					       "resourceVersion");
	const char *s;
	struct ls_kube_lease_record r;
	int64_t n;

	if (!cJSON_IsObject(j) || !version)
		return -EPROTO;
	memset(&r, 0, sizeof(r));
	if ((s = ls_kube_json_str(spec, "holderIdentity")))
		snprintf(r.holder, sizeof(r.holder), "%s", s);
	/* Absent numbers stay 0; a number that is not an int32 makes the
	 * Lease unreadable rather than a wrapped-around record. */
	v = ls_kube_json_get(spec, "leaseDurationSeconds", NULL);
	if (v && !cJSON_IsNull(v)) {
		if (ls_kube_json_int(v, 0, INT32_MAX, &n) < 0)
			return -EPROTO;
		r.lease_duration_s = (int32_t)n;
	}
	v = ls_kube_json_get(spec, "leaseTransitions", NULL);
	if (v && !cJSON_IsNull(v)) {
		if (ls_kube_json_int(v, 0, INT32_MAX, &n) < 0)
			return -EPROTO;
		r.transitions = (int32_t)n;
	}
	if ((s = ls_kube_json_str(spec, "acquireTime")))
		ls_clock_parse_rfc3339(s, &r.acquire_ms);
	if ((s = ls_kube_json_str(spec, "renewTime")))
		ls_clock_parse_rfc3339(s, &r.renew_ms);
	snprintf(rv, rvlen, "%s", version);
	*ret = r;
	return 0;
}

/* --- the elector ------------------------------------------------------------- */

struct ls_kube_leader {
	struct ls_kube *k;
	char *namespace_;
	char *name;
	char *path;       /* .../leases/NAME */
	char *collection; /* .../leases */
	pthread_t thread;
	bool started;
	bool joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool first_done;
	volatile sig_atomic_t abort_io; /* aborts the request in flight on stop */
	struct ls_kube_election e;      /* written by the thread under mu */
	int error;
	char errmsg[512];
	uint64_t rng;
};

static void make_identity(char *out, size_t size)
{
	char host[256] = "lagscale";
	unsigned char rnd[8];

	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "lagscale");
	host[sizeof(host) - 1] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^
		             (uint64_t)ls_clock_mono_ms();

		memcpy(rnd, &x, sizeof(rnd));
	}
	snprintf(out, size, "%.200s_%02x%02x%02x%02x%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2],
	         rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

int ls_kube_leader_new(const struct ls_kube_config *kc, const struct ls_kube_leader_options *o,
                       struct ls_kube_leader **ret)
{
	struct ls_kube_leader *le;
	struct ls_kube_options ko = {0};
	char ident[LS_KUBE_HOLDER_MAX];
	const struct ls_kube_election_params *p = &o->params;
	int r = -ENOMEM;

	if (!o->namespace_ || !o->namespace_[0] || !o->name || !o->name[0] ||
	    p->retry_period_ms <= 0 || p->renew_deadline_ms <= p->retry_period_ms ||
	    p->lease_duration_ms <= p->renew_deadline_ms)
		return -EINVAL;
	le = calloc(1, sizeof(*le));
	if (!le)
		return -ENOMEM;
	pthread_mutex_init(&le->mu, NULL);
	pthread_cond_init(&le->cv, NULL);
	le->joined = true;
	/* A request must not outlast the time the leader has to renew. */
	ko.timeout_ms = p->renew_deadline_ms / 2;
	if (ko.timeout_ms < 1000)
		ko.timeout_ms = 1000;
	ko.connect_timeout_ms =
	    ko.timeout_ms < LS_KUBE_CONNECT_TIMEOUT_MS ? ko.timeout_ms : LS_KUBE_CONNECT_TIMEOUT_MS;
	ko.stop = &le->abort_io;
	if ((r = ls_kube_new(kc, &ko, &le->k)) < 0)
		goto fail;
	r = -ENOMEM;
	le->namespace_ = strdup(o->namespace_);
	le->name = strdup(o->name);
	if (!le->namespace_ || !le->name)
		goto fail;
	if ((r = ls_kube_object_path("coordination.k8s.io/v1", "leases", o->namespace_, o->name,
	                             NULL, &le->path)) < 0)
		goto fail;
	{
		char *slash = strrchr(le->path, '/');

		r = -ENOMEM;
		le->collection = strndup(le->path, (size_t)(slash - le->path));
		if (!le->collection)
			goto fail;
	}
	if (o->identity && o->identity[0])
		snprintf(ident, sizeof(ident), "%s", o->identity);
	else
		make_identity(ident, sizeof(ident));
	ls_kube_election_init(&le->e, ident, p);
	le->rng = (uint64_t)ls_clock_wall_ms() ^ (uint64_t)(uintptr_t)le;
	*ret = le;
	return 0;
fail:
	ls_kube_leader_free(le);
	return r;
}

const char *ls_kube_leader_identity(const struct ls_kube_leader *le)
{
	return le->e.identity;
}

static void set_error(struct ls_kube_leader *le, int err, const char *what)
{
	pthread_mutex_lock(&le->mu);
	le->error = err;
	if (err)
		snprintf(le->errmsg, sizeof(le->errmsg), "%s lease \"%s/%s\": %s", what,
		         le->namespace_, le->name, ls_kube_errmsg(le->k));
	else
		le->errmsg[0] = '\0';
	pthread_mutex_unlock(&le->mu);
}

/* Writes rec (create or update); on success the election learns it. */
static int write_lease(struct ls_kube_leader *le, enum ls_kube_election_step step,
                       const struct ls_kube_lease_record *rec, const char *rv, int64_t timeout_ms,
                       bool commit)
{
	struct ls_kube_call c = {0};
	char *body = NULL, newrv[64];
	struct ls_kube_lease_record got;
	cJSON *j = NULL;
	int r;

	r = ls_kube_lease_json(le->namespace_, le->name, step == LS_KUBE_ELECT_UPDATE ? rv : NULL,
	                       rec, &body);
	if (r < 0)
		return r;
	c.method = step == LS_KUBE_ELECT_CREATE ? "POST" : "PUT";
	c.path = step == LS_KUBE_ELECT_CREATE ? le->collection : le->path;
	c.body = body;
	c.timeout_ms = timeout_ms;
	r = ls_kube_call(le->k, &c, &j);
	if (r == 0 && ls_kube_lease_parse(j, &got, newrv, sizeof(newrv)) < 0) {
		ls_kube_set_errmsg(le->k, "the API server's answer is not a Lease");
		r = -EPROTO;
	}
	if (r == 0 && commit) {
		pthread_mutex_lock(&le->mu);
		ls_kube_election_written(&le->e, rec, newrv, ls_clock_mono_ms());
		pthread_mutex_unlock(&le->mu);
	}
	cJSON_Delete(j);
	free(body);
	return r;
}

/* One attempt: read the Lease, then create, renew or take it over if due. */
static void attempt(struct ls_kube_leader *le)
{
	struct ls_kube_call get = {.method = "GET", .path = le->path};
	struct ls_kube_lease_record rec, want;
	enum ls_kube_election_step step;
	char rv[64];
	cJSON *j = NULL;
	int r;

	r = ls_kube_call(le->k, &get, &j);
	if (r == 0 && ls_kube_lease_parse(j, &rec, rv, sizeof(rv)) < 0) {
		ls_kube_set_errmsg(le->k, "the API server's answer is not a Lease");
		r = -EPROTO;
	}
	cJSON_Delete(j);
	if (r < 0 && r != -ENOENT) {
		set_error(le, r, "reading");
		return;
	}
	pthread_mutex_lock(&le->mu);
	ls_kube_election_observe(&le->e, r == 0 ? &rec : NULL, rv, ls_clock_mono_ms());
	step = ls_kube_election_next(&le->e, ls_clock_mono_ms(), ls_clock_wall_ms(), &want);
	snprintf(rv, sizeof(rv), "%s", le->e.rv);
	pthread_mutex_unlock(&le->mu);
	if (step == LS_KUBE_ELECT_WAIT) {
		set_error(le, 0, "");
		return;
	}
	r = write_lease(le, step, &want, rv, 0, true);
	/* 409: another candidate wrote first; the next read shows who. */
	if (r == -ESTALE || r == -EEXIST)
		r = 0;
	set_error(le, r, step == LS_KUBE_ELECT_CREATE ? "creating" : "updating");
}

static void release(struct ls_kube_leader *le)
{
	struct ls_kube_lease_record rec, seen;
	char rv[64];
	bool due;
	int r;

	pthread_mutex_lock(&le->mu);
	due = ls_kube_election_release(&le->e, ls_clock_wall_ms(), &rec);
	snprintf(rv, sizeof(rv), "%s", le->e.rv);
	/* From now on we are not the leader, whatever the release does. */
	le->e.leading = false;
	pthread_mutex_unlock(&le->mu);
	if (!due)
		return;
	r = write_lease(le, LS_KUBE_ELECT_UPDATE, &rec, rv, RELEASE_TIMEOUT_MS, false);
	if (r == -ESTALE) {
		/* The renewal aborted by the stop may have been written after
		 * all: if the Lease is still ours, release that version. */
		struct ls_kube_call get = {
		    .method = "GET", .path = le->path, .timeout_ms = RELEASE_TIMEOUT_MS};
		cJSON *j = NULL;

		if (ls_kube_call(le->k, &get, &j) == 0 &&
		    ls_kube_lease_parse(j, &seen, rv, sizeof(rv)) == 0 &&
		    strcmp(seen.holder, le->e.identity) == 0) {
			rec.transitions = seen.transitions;
			r = write_lease(le, LS_KUBE_ELECT_UPDATE, &rec, rv, RELEASE_TIMEOUT_MS,
			                false);
		}
		cJSON_Delete(j);
	}
	if (r < 0)
		set_error(le, r, "releasing");
}

static void *leader_thread(void *arg)
{
	struct ls_kube_leader *le = arg;

	pthread_mutex_lock(&le->mu);
	while (!le->stop) {
		int64_t wait;
		struct timespec ts;

		pthread_mutex_unlock(&le->mu);
		attempt(le);
		pthread_mutex_lock(&le->mu);
		le->first_done = true;
		pthread_cond_broadcast(&le->cv);
		wait = ls_kube_election_wait_ms(&le->e, ls_clock_mono_ms());
		if (!le->e.leading) {
			/* A little jitter so candidates do not march in step. */
			wait += (int64_t)ls_rand_below(&le->rng, (uint64_t)(wait / 10 + 1));
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!le->stop && pthread_cond_timedwait(&le->cv, &le->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&le->mu);
	/* The request in flight was aborted; the release must not be. */
	le->abort_io = 0;
	release(le);
	return NULL;
}

int ls_kube_leader_start(struct ls_kube_leader *le)
{
	pthread_condattr_t ca;
	int r;

	if (le->started)
		return 0;
	/* The waits use the monotonic clock: a wall-clock step must not
	 * shorten or stretch a renewal. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&le->cv);
	pthread_cond_init(&le->cv, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&le->thread, NULL, leader_thread, le);
	if (r != 0)
		return -r;
	le->started = true;
	le->joined = false;
	return 0;
}

void ls_kube_leader_wait_first(struct ls_kube_leader *le, int64_t timeout_ms)
{
	struct timespec ts;

	if (!le->started)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&le->mu);
	while (!le->first_done && !le->stop)
		if (pthread_cond_timedwait(&le->cv, &le->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&le->mu);
}

bool ls_kube_leader_is_leader(struct ls_kube_leader *le)
{
	bool l;

	if (!le)
		return false;
	pthread_mutex_lock(&le->mu);
	l = ls_kube_election_is_leader(&le->e, ls_clock_mono_ms());
	pthread_mutex_unlock(&le->mu);
	return l;
}

void ls_kube_leader_status(struct ls_kube_leader *le, struct ls_kube_leader_status *ret)
{
	pthread_mutex_lock(&le->mu);
	ret->leading = ls_kube_election_is_leader(&le->e, ls_clock_mono_ms());
	snprintf(ret->holder, sizeof(ret->holder), "%s", le->e.exists ? le->e.rec.holder : "");
	ret->error = le->error;
	snprintf(ret->errmsg, sizeof(ret->errmsg), "%s", le->errmsg);
	pthread_mutex_unlock(&le->mu);
}

void ls_kube_leader_stop(struct ls_kube_leader *le)
{
	if (!le || !le->started || le->joined)
		return;
	pthread_mutex_lock(&le->mu);
	le->stop = true;
	le->abort_io = 1;
	pthread_cond_broadcast(&le->cv);
	pthread_mutex_unlock(&le->mu);
	pthread_join(le->thread, NULL);
	le->joined = true;
}

void ls_kube_leader_free(struct ls_kube_leader *le)
{
	if (!le)
		return;
	ls_kube_leader_stop(le);
	ls_kube_free(le->k);
	free(le->namespace_);
	free(le->name);
	free(le->path);
	free(le->collection);
	pthread_cond_destroy(&le->cv);
	pthread_mutex_destroy(&le->mu);
	free(le);
}
