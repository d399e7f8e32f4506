/*
 * test-async.c - lib/kube/async.h against a scripted HTTP/1.1 server on
 * 127.0.0.1 that answers many connections at once (a thread each) and
 * counts the requests it is answering at the same time: the in-flight
 * bound, results per tag, Retry-After delaying one request only, a 429
 * lowering the send rate, 5xx retries, a hung request, cancellation by
 * free() and by the stop flag, per-target ordering and superseded
 * patches, callbacks that queue more, 401 refresh, the body cap,
 * discovery failures, and Events (create, series patch, 404 then create
 * again).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/async.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "util/clock.h"
#include "util/diag.h"

/* --- a concurrent scripted server ----------------------------------------------- */

#define SRV_MAX_CONNS 64
#define SRV_MAX_LOG   256

struct reply {
	int status; /* 0: never answer; the connection is held until the client closes it */
	char headers[256];
	char body[4096];
	size_t big; /* > 0: a body of this many spaces instead */
	int delay_ms;
};

struct srv;
/* nth: how many requests of the same method and path came before this one. */
typedef void (*srv_handler)(struct srv *s, const char *method, const char *path,
                            const char *req, unsigned nth, struct reply *out);

struct logged {
	char method[8];
	char path[256];
	char req[2048]; /* the whole request, headers and body */
};

struct srv {
	int fd, port;
	pthread_t acceptor;
	pthread_mutex_t mu;
	srv_handler handler;
	int conns[SRV_MAX_CONNS];
	pthread_t threads[SRV_MAX_CONNS];
	size_t nconns;
	int active, max_active; /* requests being answered at once */
	struct logged log[SRV_MAX_LOG];
	size_t nlog;
	struct {
		char key[280];
		unsigned n;
	} counts[SRV_MAX_LOG];
	size_t ncounts;
};

struct conn_arg {
	struct srv *s;
	int c;
};

/* Reads one request (headers and Content-Length body); false when the peer closed. */
static bool read_request(int c, char *buf, size_t size)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(c, buf + got, size - 1 - got);
		const char *hend;

		if (n <= 0)
			return false;
		got += (size_t)n;
		buf[got] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		if (hend) {
			const char *cl = strcasestr(buf, "content-length:");
			long clen = cl ? strtol(cl + 15, NULL, 10) : 0;

			if ((long)(got - (size_t)(hend + 4 - buf)) >= clen)
				return true;
		}
		if (got + 1 >= size)
			return true;
	}
}

static void *conn_thread(void *arg)
{
	struct conn_arg *ca = arg;
	struct srv *s = ca->s;
	int c = ca->c;
	char buf[65536], method[8] = "", path[256] = "";

	free(ca);
	for (;;) {
		struct reply rep = {0};
		char out[8192], key[280];
		unsigned nth = 0;
		bool found = false;

		if (!read_request(c, buf, sizeof(buf)))
			break;
		if (sscanf(buf, "%7s %255s", method, path) != 2)
			break;
		snprintf(key, sizeof(key), "%s %s", method, path);
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->ncounts; i++)
			if (strcmp(s->counts[i].key, key) == 0) {
				nth = s->counts[i].n++;
				found = true;
			}
		if (!found && s->ncounts < SRV_MAX_LOG) {
			snprintf(s->counts[s->ncounts].key, sizeof(s->counts[0].key), "%s", key);
			s->counts[s->ncounts++].n = 1;
		}
		if (s->nlog < SRV_MAX_LOG) {
			struct logged *l = &s->log[s->nlog++];

			snprintf(l->method, sizeof(l->method), "%s", method);
			snprintf(l->path, sizeof(l->path), "%s", path);
			size_t n = strlen(buf);

			if (n >= sizeof(l->req))
				n = sizeof(l->req) - 1;
			memcpy(l->req, buf, n);
			l->req[n] = '\0';
		}
		s->active++;
		if (s->active > s->max_active)
			s->max_active = s->active;
		pthread_mutex_unlock(&s->mu);
		s->handler(s, method, path, buf, nth, &rep);
		if (rep.delay_ms)
			usleep((useconds_t)rep.delay_ms * 1000);
		if (rep.status == 0) {
			/* Hung: hold the connection until the client gives up. */
			while (read(c, buf, sizeof(buf)) > 0)
				;
			pthread_mutex_lock(&s->mu);
			s->active--;
			pthread_mutex_unlock(&s->mu);
			break;
		}
		snprintf(out, sizeof(out),
		         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\n%s\r\n%s",
		         rep.status, rep.big ? rep.big : strlen(rep.body), rep.headers,
		         rep.big ? "" : rep.body);
		pthread_mutex_lock(&s->mu);
		s->active--;
		pthread_mutex_unlock(&s->mu);
		if (send(c, out, strlen(out), MSG_NOSIGNAL) < 0)
			break;
		if (rep.big) {
			static char spaces[65536];
			bool failed = false;

			memset(spaces, ' ', sizeof(spaces));
			for (size_t sent = 0; sent < rep.big && !failed; sent += sizeof(spaces))
				failed = send(c, spaces, sizeof(spaces), MSG_NOSIGNAL) < 0;
			if (failed)
				break;
		}
	}
	return NULL;
}

static void *accept_thread(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		struct conn_arg *ca;

		if (c < 0)
			break;
		pthread_mutex_lock(&s->mu);
		if (s->nconns >= SRV_MAX_CONNS || !(ca = malloc(sizeof(*ca)))) {
			pthread_mutex_unlock(&s->mu);
			close(c);
			continue;
		}
		ca->s = s;
		ca->c = c;
		s->conns[s->nconns] = c;
		if (pthread_create(&s->threads[s->nconns], NULL, conn_thread, ca) != 0) {
			free(ca);
			close(c);
		} else {
			s->nconns++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static void srv_start(struct srv *s, srv_handler h)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int one = 1;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->handler = h;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->fd, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 128), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->acceptor, NULL, accept_thread, s), 0);
}

static void srv_stop(struct srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->acceptor, NULL);
	for (size_t i = 0; i < s->nconns; i++)
		shutdown(s->conns[i], SHUT_RDWR);
	for (size_t i = 0; i < s->nconns; i++) {
		pthread_join(s->threads[i], NULL);
		close(s->conns[i]);
	}
	pthread_mutex_destroy(&s->mu);
}

static size_t srv_count(struct srv *s, const char *method, const char *path_part)
{
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nlog; i++)
		if (strcmp(s->log[i].method, method) == 0 && strstr(s->log[i].path, path_part))
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void reply(struct reply *out, int status, const char *headers, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply(struct reply *out, int status, const char *headers, const char *fmt, ...)
{
	va_list ap;

	out->status = status;
	snprintf(out->headers, sizeof(out->headers), "%s", headers ? headers : "");
	va_start(ap, fmt);
	vsnprintf(out->body, sizeof(out->body), fmt, ap);
	va_end(ap);
}

static const char discovery_apps[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
    "{\"name\":\"deployments/scale\",\"kind\":\"Scale\",\"namespaced\":true},"
    "{\"name\":\"deployments\",\"kind\":\"Deployment\",\"namespaced\":true},"
    "{\"name\":\"controllerrevisions\",\"kind\":\"ControllerRevision\",\"namespaced\":true}]}";

/* Discovery, or false. */
static bool discovery(const char *path, struct reply *out)
{
	if (strcmp(path, "/apis/apps/v1") != 0)
		return false;
	reply(out, 200, NULL, "%s", discovery_apps);
	return true;
}

/* The N of ".../deployments/web-N/scale", or -1. */
static int web_index(const char *path)
{
	const char *p = strstr(path, "/deployments/web-");

	return p ? atoi(p + strlen("/deployments/web-")) : -1;
}

/* A Scale of n replicas, resourceVersion "rv-n". */
static void scale_reply(struct reply *out, int n)
{
	reply(out, 200, NULL,
	      "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":"
	      "\"web-%d\",\"resourceVersion\":\"rv-%d\"},\"spec\":{\"replicas\":%d},"
	      "\"status\":{\"replicas\":%d}}",
	      n, n, n, n);
}

/* --- the client side ------------------------------------------------------------------ */

struct got {
	int calls;
	int order; /* position among all callbacks, from 0 */
	struct ls_kube_async_result res;
};

struct collector {
	int next;
};

static void on_result(void *tag, const struct ls_kube_async_result *res, void *ud)
{
	struct got *g = tag;
	struct collector *c = ud;

	g->calls++;
	g->order = c->next++;
	g->res = *res;
}

struct fixture {
	struct srv s;
	struct ls_kube_config *kc;
	struct ls_kube *k;
	struct ls_kube_async *a;
	struct collector col;
};

static void fx_start(struct fixture *fx, srv_handler h, const char *user,
                     const struct ls_kube_options *o, int max_in_flight)
{
	char yaml[1024];
	struct ls_diag d;

	memset(fx, 0, sizeof(*fx));
	srv_start(&fx->s, h);
	snprintf(yaml, sizeof(yaml),
	         "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
	         "users: [{name: u, user: %s}]\n"
	         "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	         fx->s.port, user ? user : "{token: tok}");
	ls_diag_init(&d);
	ck_assert_int_eq(
	    ls_kube_config_load_string("kc.yaml", "/tmp", yaml, strlen(yaml), NULL, &fx->kc, &d),
	    0);
	ls_diag_release(&d);
	ck_assert_int_eq(ls_kube_new(fx->kc, o, &fx->k), 0);
	ck_assert_int_eq(ls_kube_async_new(fx->k, max_in_flight, on_result, &fx->col, &fx->a),
	                 0);
}

static void fx_stop(struct fixture *fx)
{
	ls_kube_async_free(fx->a);
	ls_kube_free(fx->k);
	srv_stop(&fx->s);
	ls_kube_config_free(fx->kc);
}

/* Polls until nothing is pending, at most ms. */
static void drain(struct ls_kube_async *a, int64_t ms)
{
	int64_t end = ls_clock_mono_ms() + ms;

	while (ls_kube_async_pending(a) > 0 && ls_clock_mono_ms() < end)
		ls_kube_async_poll(a, 200);
}

static struct ls_kube_target web(char *buf, size_t size, int i)
{
	snprintf(buf, size, "web-%d", i);
	return (struct ls_kube_target){"apps/v1", "Deployment", "shop", buf};
}

/* --- tests ------------------------------------------------------------------------------ */

static void h_slow_scales(struct srv *s, const char *method, const char *path, const char *req,
                          unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	scale_reply(out, web_index(path));
	out->delay_ms = 30;
}

START_TEST(test_async_concurrency_is_bounded)
{
	struct fixture fx;
	struct got g[40] = {0};
	struct ls_kube_async_stats st;
	char name[32];

	fx_start(&fx, h_slow_scales, NULL, NULL, 4);
	for (int i = 0; i < 40; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	/* Copied at submit: the caller's strings may change. */
	strcpy(name, "changed");
	ck_assert_uint_eq(ls_kube_async_pending(fx.a), 40);
	drain(fx.a, 20000);
	ck_assert_uint_eq(ls_kube_async_pending(fx.a), 0);
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].res.err, 0);
		ck_assert_int_eq(g[i].res.op, LS_KUBE_ASYNC_SCALE_GET);
		ck_assert_int_eq(g[i].res.replicas, i);
		ck_assert_int_eq(g[i].res.status_replicas, i);
		ck_assert_int_eq(g[i].res.attempts, 1);
		ck_assert_str_eq(g[i].res.errmsg, "");
		snprintf(name, sizeof(name), "rv-%d", i);
		ck_assert_str_eq(g[i].res.resource_version, name);
	}
	ls_kube_async_stats(fx.a, &st);
	ck_assert_uint_eq(st.requests, 40);
	ck_assert_uint_eq(st.retries, 0);
	ck_assert_uint_eq(st.max_in_flight_seen, 4);
	/* HTTP/1.1: a connection per request in flight, kept alive. */
	ck_assert_uint_le(st.connections, 4);
	fx_stop(&fx);
	/* The server never answered more than 4 at once, but did answer several. */
	ck_assert_int_le(fx.s.max_active, 4);
	ck_assert_int_ge(fx.s.max_active, 2);
	/* One discovery request (blocking, cached), then the 40 reads. */
	ck_assert_uint_eq(fx.s.nlog, 41);
	ck_assert_str_eq(fx.s.log[0].path, "/apis/apps/v1");
	ck_assert_uint_eq(srv_count(&fx.s, "GET", "/scale"), 40);
}
END_TEST

static void h_429_first(struct srv *s, const char *method, const char *path, const char *req,
                        unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (web_index(path) == 0 && nth == 0) {
		reply(out, 429, "Retry-After: 1\r\n",
		      "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"too many "
		      "requests, please try again later\"}");
		return;
	}
	scale_reply(out, web_index(path));
	out->delay_ms = 20;
}

START_TEST(test_async_retry_after_delays_only_that_request)
{
	struct fixture fx;
	struct got g[12] = {0};
	struct ls_kube_async_stats st;
	char name[32];

	fx_start(&fx, h_429_first, NULL, NULL, 4);
	for (int i = 0; i < 12; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, i, false, &g[i]), 0);
	}
	drain(fx.a, 20000);
	for (int i = 0; i < 12; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_msg(g[i].res.err == 0, "%d: %s", i, g[i].res.errmsg);
		ck_assert_int_eq(g[i].res.replicas, i);
	}
	/* The throttled one was sent first and finished last; the others
	 * went on meanwhile. */
	ck_assert_int_eq(g[0].order, 11);
	ck_assert_int_eq(g[0].res.attempts, 2);
	ls_kube_async_stats(fx.a, &st);
	ck_assert_uint_eq(st.throttled, 1);
	ck_assert_uint_eq(st.retries, 1);
	ck_assert_uint_eq(st.requests, 13);
	fx_stop(&fx);
	{
		const struct logged *l = NULL;

		for (size_t i = 0; i < fx.s.nlog && !l; i++)
			if (strstr(fx.s.log[i].path, "/web-0/"))
				l = &fx.s.log[i];
		ck_assert_ptr_nonnull(l);
		ck_assert_ptr_nonnull(strstr(l->req, "PATCH /apis/apps/v1/namespaces/shop/"
		                                     "deployments/web-0/scale HTTP/1.1"));
		ck_assert_ptr_nonnull(strstr(l->req, "{\"spec\":{\"replicas\":0}}"));
		ck_assert_ptr_nonnull(strstr(l->req, "application/merge-patch+json"));
		ck_assert_ptr_nonnull(strstr(l->req, "Authorization: Bearer tok"));
	}
	/* The retry was the last request the server saw. */
	ck_assert_uint_eq(fx.s.nlog, 14);
	ck_assert_ptr_nonnull(strstr(fx.s.log[13].path, "/deployments/web-0/scale"));
}
END_TEST

/* web-0's first patch: 429 with Retry-After 2, which its budget (1 s)
 * cannot wait for; everything else at once. */
static void h_429_past_budget(struct srv *s, const char *method, const char *path,
                              const char *req, unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (web_index(path) == 0 && nth == 0) {
		reply(out, 429, "Retry-After: 2\r\n", "{\"kind\":\"Status\",\"message\":\"slow\"}");
		return;
	}
	scale_reply(out, web_index(path));
}

START_TEST(test_async_retry_after_holds_the_targets_next_request)
{
	struct ls_kube_options o = {.timeout_ms = 1000};
	struct fixture fx;
	struct got g0 = {0}, g1 = {0}, g2 = {0};
	struct ls_kube_target t0, t1;
	char n0[32], n1[32];
	int64_t t_fail, t_sent;

	fx_start(&fx, h_429_past_budget, NULL, &o, 4);
	t0 = web(n0, sizeof(n0), 0);
	t1 = web(n1, sizeof(n1), 1);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t0, 3, false, &g0), 0);
	drain(fx.a, 5000);
	/* No time left to wait for the Retry-After: the 429 is the result. */
	ck_assert_int_eq(g0.calls, 1);
	ck_assert_int_eq(g0.res.err, -EBUSY);
	ck_assert_int_eq(g0.res.attempts, 1);
	t_fail = ls_clock_mono_ms();
	/* The next request of the same target waits for the Retry-After
	 * (with a budget of its own from when it is sent); another target's
	 * goes at once. */
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t0, 4, false, &g1), 0);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t1, 1, false, &g2), 0);
	while (g2.calls == 0 && ls_clock_mono_ms() - t_fail < 5000)
		ls_kube_async_poll(fx.a, 100);
	ck_assert_int_eq(g2.calls, 1);
	ck_assert_int_eq(g1.calls, 0);
	ck_assert_msg(ls_clock_mono_ms() - t_fail < 1500, "another target was held too");
	drain(fx.a, 5000);
	t_sent = ls_clock_mono_ms();
	ck_assert_int_eq(g1.calls, 1);
	ck_assert_msg(g1.res.err == 0, "%s", g1.res.errmsg);
	ck_assert_int_eq(g1.res.replicas, 0);
	ck_assert_int_eq(g1.res.attempts, 1);
	ck_assert_msg(t_sent - t_fail >= 1900, "sent %lld ms after the 429, before its Retry-After",
	              (long long)(t_sent - t_fail));
	fx_stop(&fx);
}
END_TEST

static void h_429_wave(struct srv *s, const char *method, const char *path, const char *req,
                       unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (web_index(path) < 4 && nth == 0) {
		reply(out, 429, "Retry-After: 2\r\n", "{\"kind\":\"Status\",\"message\":\"slow\"}");
		return;
	}
	scale_reply(out, web_index(path));
	out->delay_ms = 50;
}

START_TEST(test_async_429_lowers_the_send_rate)
{
	struct fixture fx;
	struct got g[12] = {0};
	struct ls_kube_async_stats st;
	char name[32];
	int64_t t0 = ls_clock_mono_ms();

	fx_start(&fx, h_429_wave, NULL, NULL, 4);
	for (int i = 0; i < 4; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	do {
		ls_kube_async_poll(fx.a, 50);
		ls_kube_async_stats(fx.a, &st);
	} while (st.throttled < 4 && ls_clock_mono_ms() - t0 < 5000);
	ck_assert_uint_eq(st.throttled, 4);
	/* Halved (once for the burst, or more under a slow machine). */
	ck_assert_uint_le(st.limit, 2);
	pthread_mutex_lock(&fx.s.mu);
	fx.s.max_active = fx.s.active;
	pthread_mutex_unlock(&fx.s.mu);
	for (int i = 4; i < 12; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	while (fx.col.next < 8 && ls_clock_mono_ms() - t0 < 10000)
		ls_kube_async_poll(fx.a, 200);
	/* The new requests went on while the throttled ones waited, but
	 * never more than the lowered limit at once. */
	for (int i = 4; i < 12; i++)
		ck_assert_int_eq(g[i].res.err, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(g[i].calls, 0);
	ck_assert_int_le(fx.s.max_active, 2);
	drain(fx.a, 10000);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(g[i].res.err, 0);
		ck_assert_int_eq(g[i].res.attempts, 2);
	}
	ls_kube_async_stats(fx.a, &st);
	/* Successes after the Retry-After give the slots back, one each. */
	ck_assert_uint_gt(st.limit, 2);
	fx_stop(&fx);
}
END_TEST

static void h_5xx(struct srv *s, const char *method, const char *path, const char *req,
                  unsigned nth, struct reply *out)
{
	int i = web_index(path);

	if (discovery(path, out))
		return;
	if (i == 0 && nth < 2)
		reply(out, nth == 0 ? 503 : 500, NULL, "{\"kind\":\"Status\",\"message\":\"boom\"}");
	else if (i == 1)
		reply(out, 503, NULL, "{\"kind\":\"Status\",\"message\":\"unavailable\"}");
	else if (i == 2)
		reply(out, 409, NULL,
		      "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"conflict\"}");
	else if (i == 3 && nth == 0)
		reply(out, 409, NULL,
		      "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"conflict\"}");
	else
		scale_reply(out, i);
}

START_TEST(test_async_5xx_retried_then_bounded)
{
	struct fixture fx;
	struct got g[4] = {0};
	struct ls_kube_async_stats st;
	char name[32];
	struct ls_kube_target t;

	fx_start(&fx, h_5xx, NULL, NULL, 0);
	t = web(name, sizeof(name), 0);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 5, false, &g[0]), 0);
	t = web(name, sizeof(name), 1);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[1]), 0);
	t = web(name, sizeof(name), 2);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[2]), 0);
	t = web(name, sizeof(name), 3);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 3, false, &g[3]), 0);
	drain(fx.a, 20000);
	/* 503, 500, then the Scale. */
	ck_assert_int_eq(g[0].res.err, 0);
	ck_assert_int_eq(g[0].res.attempts, 3);
	ck_assert_int_eq(g[0].res.replicas, 0);
	/* Always 503: LS_KUBE_MAX_ATTEMPTS attempts, then the last error. */
	ck_assert_int_eq(g[1].res.err, -EIO);
	ck_assert_int_eq(g[1].res.attempts, LS_KUBE_MAX_ATTEMPTS);
	ck_assert_str_eq(g[1].res.errmsg, "unavailable");
	ck_assert_int_eq(g[1].res.replicas, -1);
	/* A read is not retried on 409; a patch is. */
	ck_assert_int_eq(g[2].res.err, -ESTALE);
	ck_assert_int_eq(g[2].res.attempts, 1);
	ck_assert_int_eq(g[3].res.err, 0);
	ck_assert_int_eq(g[3].res.attempts, 2);
	ls_kube_async_stats(fx.a, &st);
	ck_assert_uint_eq(st.retries, 2 + (LS_KUBE_MAX_ATTEMPTS - 1) + 1);
	ck_assert_uint_eq(st.throttled, 0);
	/* The blocking client's message is its own. */
	ck_assert_str_eq(ls_kube_errmsg(fx.k), "");
	fx_stop(&fx);
}
END_TEST

static void h_hung(struct srv *s, const char *method, const char *path, const char *req,
                   unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (web_index(path) == 99) {
		out->status = 0;
		return;
	}
	scale_reply(out, web_index(path));
	out->delay_ms = 10;
}

START_TEST(test_async_hung_request_delays_no_other)
{
	struct ls_kube_options o = {.timeout_ms = 1500};
	struct fixture fx;
	struct got hung = {0}, g[10] = {0};
	char name[32];
	struct ls_kube_target t;
	int64_t t0 = ls_clock_mono_ms();

	fx_start(&fx, h_hung, NULL, &o, 4);
	t = web(name, sizeof(name), 99);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &hung), 0);
	for (int i = 0; i < 10; i++) {
		t = web(name, sizeof(name), i);
		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	/* The others are all done while the hung one still waits. */
	while (fx.col.next < 10 && ls_clock_mono_ms() - t0 < 10000)
		ls_kube_async_poll(fx.a, 200);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].res.err, 0);
	}
	ck_assert_int_eq(hung.calls, 0);
	ck_assert_uint_eq(ls_kube_async_pending(fx.a), 1);
	/* Then its budget runs out. */
	drain(fx.a, 10000);
	ck_assert_int_eq(hung.calls, 1);
	ck_assert_int_eq(hung.order, 10);
	ck_assert_int_eq(hung.res.err, -ETIMEDOUT);
	ck_assert_msg(strstr(hung.res.errmsg, "GET http://127.0.0.1:"), "%s", hung.res.errmsg);
	fx_stop(&fx);
}
END_TEST

static void h_all_hang(struct srv *s, const char *method, const char *path, const char *req,
                       unsigned nth, struct reply *out)
{
	if (!discovery(path, out))
		out->status = 0;
}

START_TEST(test_async_free_cancels_outstanding)
{
	struct fixture fx;
	struct got g[6] = {0};
	char name[32];
	int64_t t0 = ls_clock_mono_ms();

	fx_start(&fx, h_all_hang, NULL, NULL, 4);
	for (int i = 0; i < 6; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 1, false, &g[i]), 0);
	}
	/* Four on the wire, two waiting for a slot. */
	while (srv_count(&fx.s, "PATCH", "/scale") < 4 && ls_clock_mono_ms() - t0 < 5000)
		ls_kube_async_poll(fx.a, 50);
	ck_assert_int_eq(ls_kube_async_poll(fx.a, 100), 6);
	ck_assert_int_eq(fx.col.next, 0);
	ls_kube_async_free(fx.a);
	fx.a = NULL;
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].res.err, -ECANCELED);
		ck_assert(!g[i].res.superseded);
		/* In the order queued. */
		ck_assert_int_eq(g[i].order, i);
	}
	fx_stop(&fx);
	ck_assert_uint_eq(srv_count(&fx.s, "PATCH", "/scale"), 4);
}
END_TEST

static volatile sig_atomic_t stop_flag;

START_TEST(test_async_stop_flag_cancels)
{
	struct ls_kube_options o = {.stop = &stop_flag};
	struct fixture fx;
	struct got g[3] = {0}, late = {0};
	char name[32];
	struct ls_kube_target t;
	int64_t t0;

	stop_flag = 0;
	fx_start(&fx, h_all_hang, NULL, &o, 0);
	for (int i = 0; i < 3; i++) {
		t = web(name, sizeof(name), i);
		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	ck_assert_int_eq(ls_kube_async_poll(fx.a, 300), 3);
	stop_flag = 1;
	t0 = ls_clock_mono_ms();
	ck_assert_int_eq(ls_kube_async_poll(fx.a, 5000), 0);
	ck_assert_int_lt(ls_clock_mono_ms() - t0, 1000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].res.err, -ECANCELED);
		ck_assert_msg(strstr(g[i].res.errmsg, "stopped"), "%s", g[i].res.errmsg);
	}
	t = web(name, sizeof(name), 7);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &late), -ECANCELED);
	ck_assert_uint_eq(ls_kube_async_pending(fx.a), 0);
	fx_stop(&fx);
	ck_assert_int_eq(late.calls, 0);
	stop_flag = 0;
}
END_TEST

static void h_slow_one(struct srv *s, const char *method, const char *path, const char *req,
                       unsigned nth, struct reply *out)
{
	const char *body = strstr(req, "\r\n\r\n");
	int n = 0;

	if (discovery(path, out))
		return;
	if (strcmp(method, "PATCH") == 0 && body)
		sscanf(body + 4, "{\"spec\":{\"replicas\":%d", &n);
	else
		n = 42;
	scale_reply(out, n);
	out->delay_ms = 40;
}

START_TEST(test_async_one_target_in_order)
{
	struct fixture fx;
	struct got p1 = {0}, get = {0}, p2 = {0}, p3 = {0}, dry = {0};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web-1"};
	struct ls_kube_async_stats st;

	fx_start(&fx, h_slow_one, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 1, false, &p1), 0);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &get), 0);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 2, false, &p2), 0);
	/* p2 is last in line and not sent: p3 replaces it. */
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 3, false, &p3), 0);
	/* A dry run does not replace a real patch. */
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t, 9, true, &dry), 0);
	drain(fx.a, 10000);
	ck_assert_int_eq(p2.res.err, -ECANCELED);
	ck_assert(p2.res.superseded);
	ck_assert_msg(strstr(p2.res.errmsg, "superseded"), "%s", p2.res.errmsg);
	ck_assert_int_eq(p2.order, 0);
	ck_assert_int_eq(p1.res.err, 0);
	ck_assert_int_eq(p1.res.replicas, 1);
	ck_assert_int_eq(get.res.err, 0);
	ck_assert_int_eq(p3.res.err, 0);
	ck_assert_int_eq(p3.res.replicas, 3);
	ck_assert_int_eq(dry.res.err, 0);
	ck_assert_int_lt(p1.order, get.order);
	ck_assert_int_lt(get.order, p3.order);
	ck_assert_int_lt(p3.order, dry.order);
	ls_kube_async_stats(fx.a, &st);
	ck_assert_uint_eq(st.superseded, 1);
	fx_stop(&fx);
	/* One at a time, in the order queued. */
	ck_assert_int_eq(fx.s.max_active, 1);
	ck_assert_uint_eq(fx.s.nlog, 5);
	ck_assert_ptr_nonnull(strstr(fx.s.log[1].req, "{\"spec\":{\"replicas\":1}}"));
	ck_assert_str_eq(fx.s.log[2].method, "GET");
	ck_assert_ptr_nonnull(strstr(fx.s.log[3].req, "{\"spec\":{\"replicas\":3}}"));
	ck_assert_ptr_nonnull(strstr(fx.s.log[4].req, "/scale?dryRun=All"));
}
END_TEST


/* Status patches: the first fails with 503 (retried), each answers after 40 ms. */
static void h_status(struct srv *s, const char *method, const char *path, const char *req,
                     unsigned nth, struct reply *out)
{
	static int status_calls;

	if (discovery(path, out))
		return;
	if (strstr(path, "/status")) {
		if (nth == 0)
			status_calls = 0;
		if (status_calls++ == 0)
			reply(out, 503, NULL, "{\"kind\":\"Status\",\"message\":\"busy\"}");
		else
			reply(out, 200, NULL, "{\"kind\":\"LagScaler\"}");
		out->delay_ms = 40;
		return;
	}
	scale_reply(out, 2);
	out->delay_ms = 40;
}

START_TEST(test_async_merge_patch)
{
	struct fixture fx;
	struct got p1 = {0}, p2 = {0}, p3 = {0}, sc = {0};
	struct ls_kube_target ls = {"lagscale.io/v1alpha1", "LagScaler", "shop", "orders"};
	struct ls_kube_target dep = {"apps/v1", "Deployment", "shop", "orders"};
	const char *path = "/apis/lagscale.io/v1alpha1/namespaces/shop/lagscalers/orders/status";

	fx_start(&fx, h_status, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_async_patch(fx.a, &ls, path, "{\"status\":{\"a\":1}}", &p1), 0);
	/* Nothing is sent before a poll: p2 replaces p1, p3 replaces p2. */
	ck_assert_int_eq(ls_kube_async_patch(fx.a, &ls, path, "{\"status\":{\"a\":2}}", &p2), 0);
	ck_assert_int_eq(ls_kube_async_patch(fx.a, &ls, path, "{\"status\":{\"a\":3}}", &p3), 0);
	/* Another object's scale patch neither waits for nor replaces them. */
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &dep, 2, false, &sc), 0);
	ck_assert_int_eq(ls_kube_async_patch(fx.a, &ls, NULL, "{}", &p1), -EINVAL);
	ck_assert_int_eq(ls_kube_async_patch(fx.a, &ls, path, NULL, &p1), -EINVAL);
	drain(fx.a, 10000);
	ck_assert_int_eq(p1.calls, 1);
	ck_assert_int_eq(p1.res.op, LS_KUBE_ASYNC_PATCH);
	ck_assert_int_eq(p1.res.err, -ECANCELED);
	ck_assert(p1.res.superseded);
	ck_assert_int_eq(p2.res.err, -ECANCELED);
	ck_assert(p2.res.superseded);
	ck_assert_msg(strstr(p2.res.errmsg, "superseded by a newer patch"), "%s", p2.res.errmsg);
	ck_assert_int_eq(p3.res.err, 0); /* after the 503, retried */
	ck_assert_int_eq(p3.res.attempts, 2);
	ck_assert_int_eq(sc.res.err, 0);
	fx_stop(&fx);
	ck_assert_uint_eq(srv_count(&fx.s, "PATCH", "/status"), 2);
	for (size_t i = 0; i < fx.s.nlog; i++) {
		if (!strstr(fx.s.log[i].req, "/status"))
			continue;
		ck_assert_str_eq(fx.s.log[i].method, "PATCH");
		ck_assert_ptr_nonnull(strstr(fx.s.log[i].req, path));
		ck_assert_ptr_nonnull(
		    strstr(fx.s.log[i].req, "Content-Type: application/merge-patch+json"));
		ck_assert_ptr_nonnull(strstr(fx.s.log[i].req, "{\"status\":{\"a\":3}}"));
	}
}
END_TEST

struct chain {
	struct ls_kube_async *a;
	struct ls_kube_target t;
	int reads, patches, patched_to, poll_in_cb;
};

/* Reads, then patches to one more than it read: from the callback. */
static void on_chain(void *tag, const struct ls_kube_async_result *res, void *ud)
{
	struct chain *c = ud;

	ck_assert_int_eq(res->err, 0);
	if (res->op == LS_KUBE_ASYNC_SCALE_GET) {
		c->reads++;
		ck_assert_int_eq(ls_kube_async_scale_set(c->a, &c->t, res->replicas + 1, false, c),
		                 0);
		/* Polling from a callback does nothing. */
		c->poll_in_cb = ls_kube_async_poll(c->a, 1000);
	} else {
		c->patches++;
		c->patched_to = res->replicas;
	}
}

START_TEST(test_async_callback_queues_more)
{
	struct fixture fx;
	struct chain c = {.t = {"apps/v1", "Deployment", "shop", "web-1"}};

	fx_start(&fx, h_slow_one, NULL, NULL, 0);
	/* A second async client on the same blocking client. */
	ck_assert_int_eq(ls_kube_async_new(fx.k, 2, on_chain, &c, &c.a), 0);
	ck_assert_int_eq(ls_kube_async_scale_get(c.a, &c.t, NULL), 0);
	ck_assert_int_eq(ls_kube_async_poll(c.a, 5000), 1);
	ck_assert_int_eq(c.reads, 1);
	ck_assert_int_eq(c.poll_in_cb, 1);
	drain(c.a, 5000);
	ck_assert_int_eq(c.patches, 1);
	ck_assert_int_eq(c.patched_to, 43);
	ls_kube_async_free(c.a);
	ck_assert_int_eq(ls_kube_async_new(fx.k, -1, on_chain, &c, &c.a), -EINVAL);
	ck_assert_int_eq(ls_kube_async_new(fx.k, 1, NULL, &c, &c.a), -EINVAL);
	fx_stop(&fx);
}
END_TEST

static void h_401(struct srv *s, const char *method, const char *path, const char *req,
                  unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (strstr(req, "Bearer old-token")) {
		reply(out, 401, NULL, "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}");
		return;
	}
	scale_reply(out, web_index(path));
	out->delay_ms = 50;
}

START_TEST(test_async_401_refreshes_once)
{
	char dir[] = "/tmp/test-async-XXXXXX", tok[512], user[600];
	struct fixture fx;
	struct got g[3] = {0};
	char name[32];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(tok, sizeof(tok), "%s/token", dir);
	f = fopen(tok, "w");
	ck_assert_ptr_nonnull(f);
	fputs("old-token\n", f);
	fclose(f);
	snprintf(user, sizeof(user), "{tokenFile: %s}", tok);
	fx_start(&fx, h_401, user, NULL, 0);
	for (int i = 0; i < 3; i++) {
		struct ls_kube_target t = web(name, sizeof(name), i);

		ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t, &g[i]), 0);
	}
	/* The token rotates after discovery: the three requests, sent
	 * with the old one, get a 401 each and are sent again with the new. */
	f = fopen(tok, "w");
	fputs("new-token\n", f);
	fclose(f);
	drain(fx.a, 10000);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(g[i].res.err == 0, "%s", g[i].res.errmsg);
		ck_assert_int_eq(g[i].res.replicas, i);
		ck_assert_int_eq(g[i].res.attempts, 2);
	}
	fx_stop(&fx);
	ck_assert_uint_eq(fx.s.nlog, 7);
	unlink(tok);
	rmdir(dir);
}
END_TEST

static void h_errors(struct srv *s, const char *method, const char *path, const char *req,
                     unsigned nth, struct reply *out)
{
	if (discovery(path, out))
		return;
	if (strstr(path, "/apis/example.com/v1")) {
		reply(out, 503, NULL, "{\"kind\":\"Status\",\"message\":\"discovery down\"}");
		return;
	}
	if (web_index(path) == 1) {
		out->status = 200;
		out->big = LS_KUBE_MAX_BODY + 65536;
		return;
	}
	reply(out, 404, NULL,
	      "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"deployments.apps "
	      "\\\"web-0\\\"\\nnot found\"}");
}

START_TEST(test_async_failures)
{
	struct ls_kube_options o = {.timeout_ms = 1000};
	struct fixture fx;
	struct got nf = {0}, big = {0}, kind = {0}, noscale = {0}, gv1 = {0}, gv2 = {0};
	struct ls_kube_target t0 = {"apps/v1", "Deployment", "shop", "web-0"};
	struct ls_kube_target t1 = {"apps/v1", "Deployment", "shop", "web-1"};
	struct ls_kube_target bad_kind = {"apps/v1", "Nope", "shop", "x"};
	struct ls_kube_target no_scale = {"apps/v1", "ControllerRevision", "shop", "x"};
	struct ls_kube_target no_name = {"apps/v1", "Deployment", "shop", NULL};
	struct ls_kube_target crd = {"example.com/v1", "Thing", "shop", "x"};
	size_t before;

	fx_start(&fx, h_errors, NULL, &o, 0);
	ls_kube_set_errmsg(fx.k, "the caller's");
	/* Arguments: refused at once, no callback. */
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &t0, -1, false, &nf), -EINVAL);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &no_name, &nf), -EINVAL);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, NULL, &nf), -EINVAL);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t0, &nf), 0);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &t1, &big), 0);
	/* Discovery failures come through the callback. */
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &bad_kind, &kind), 0);
	ck_assert_int_eq(ls_kube_async_scale_set(fx.a, &no_scale, 1, false, &noscale), 0);
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &crd, &gv1), 0);
	before = fx.s.nlog;
	/* The same failure again at once, without a request. */
	ck_assert_int_eq(ls_kube_async_scale_get(fx.a, &crd, &gv2), 0);
	ck_assert_uint_eq(fx.s.nlog, before);
	ck_assert_int_eq(kind.calls, 0);
	drain(fx.a, 10000);
	ck_assert_int_eq(nf.res.err, -ENOENT);
	/* One line. */
	ck_assert_str_eq(nf.res.errmsg, "deployments.apps \"web-0\" not found");
	ck_assert_int_eq(big.res.err, -E2BIG);
	ck_assert_msg(strstr(big.res.errmsg, "is larger than 4194304 bytes"), "%s",
	              big.res.errmsg);
	ck_assert_int_eq(kind.res.err, -ENOENT);
	ck_assert_str_eq(kind.res.errmsg, "kind \"Nope\" is not served in apiVersion \"apps/v1\"");
	ck_assert_int_eq(noscale.res.err, -EINVAL);
	ck_assert_str_eq(noscale.res.errmsg,
	                 "kind \"ControllerRevision\" (apps/v1) has no scale subresource");
	ck_assert_int_eq(gv1.res.err, -EIO);
	ck_assert_str_eq(gv1.res.errmsg, "discovery down");
	ck_assert_int_eq(gv2.res.err, -EIO);
	ck_assert_str_eq(gv2.res.errmsg, "discovery down");
	ck_assert_str_eq(ls_kube_errmsg(fx.k), "the caller's");
	fx_stop(&fx);
}
END_TEST

static void h_events_slow(struct srv *s, const char *method, const char *path,
                          const char *req, unsigned nth, struct reply *out)
{
	reply(out, strcmp(method, "POST") == 0 ? 201 : 200, NULL, "{}");
	out->delay_ms = 300;
}

START_TEST(test_async_events_waiting_are_bounded)
{
	struct fixture fx;
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_target t2 = {"apps/v1", "Deployment", "shop", "other"};
	struct ls_kube_recorder *rec = NULL;
	struct got g[21] = {0}, o = {0};
	struct ls_kube_async_stats st;
	char note[32];
	int dropped = 0, ok = 0;

	fx_start(&fx, h_events_slow, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_recorder_new("lagscale.io/lagscale", "host-1", &rec), 0);
	/* A slow server; one Event per "tick", each a different note. */
	for (int i = 0; i < 21; i++) {
		struct ls_kube_event ev = {&t, NULL, "Warning", "LagReadFailed", "ReadLag", note};

		snprintf(note, sizeof(note), "down %d", i);
		ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev, 1000 + i, i, false, &g[i]), 0);
	}
	{
		struct ls_kube_event ev = {&t2, NULL, "Normal", "ScaledUp", "Scale", "up"};

		ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev, 1000, 0, false, &o), 0);
	}
	/* One on its way and 8 waiting: at most 9 of web's are kept (the
	 * dropped ones are called back at the first poll). */
	ls_kube_async_poll(fx.a, 0);
	ck_assert_uint_le(ls_kube_async_pending(fx.a), 1 + LS_KUBE_ASYNC_EVENTS_WAITING_MAX + 1);
	drain(fx.a, 20000);
	for (int i = 0; i < 21; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		if (g[i].res.err == -ENOBUFS) {
			dropped++;
			ck_assert_msg(strstr(g[i].res.errmsg, "dropped: 8 events of the target were waiting"),
			              "%s", g[i].res.errmsg);
		} else {
			ck_assert_msg(g[i].res.err == 0, "%d: %s", i, g[i].res.errmsg);
			ok++;
		}
	}
	/* The first (on its way) and the newest 8 were sent; the oldest
	 * waiting ones went. */
	ck_assert_int_eq(ok, 1 + LS_KUBE_ASYNC_EVENTS_WAITING_MAX);
	ck_assert_int_eq(dropped, 21 - ok);
	ck_assert_int_eq(g[0].res.err, 0);
	for (int i = 21 - LS_KUBE_ASYNC_EVENTS_WAITING_MAX; i < 21; i++)
		ck_assert_int_eq(g[i].res.err, 0);
	/* Another target's Event is not affected. */
	ck_assert_int_eq(o.res.err, 0);
	ls_kube_async_stats(fx.a, &st);
	ck_assert_uint_eq(st.events_dropped, (uint64_t)dropped);
	ck_assert_uint_eq(st.requests, (uint64_t)ok + 1);
	fx_stop(&fx);
	ls_kube_recorder_free(rec);
}
END_TEST

static void h_events(struct srv *s, const char *method, const char *path, const char *req,
                     unsigned nth, struct reply *out)
{
	if (strcmp(method, "POST") == 0) {
		reply(out, 201, NULL, "{}");
	} else if (strcmp(method, "PATCH") == 0 && strstr(req, "\"count\":3")) {
		reply(out, 404, NULL,
		      "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"gone\"}");
	} else {
		reply(out, 200, NULL, "{}");
	}
	out->delay_ms = 20;
}

/* The name the Event of a logged POST was created with. */
static void posted_name(const struct logged *l, char *out, size_t size)
{
	const char *p = strstr(l->req, "\"metadata\":{\"name\":\"");
	size_t n;

	ck_assert_ptr_nonnull(p);
	p += strlen("\"metadata\":{\"name\":\"");
	n = strcspn(p, "\"");
	ck_assert_uint_lt(n, size);
	memcpy(out, p, n);
	out[n] = '\0';
}

START_TEST(test_async_event_create_series_recreate)
{
	struct fixture fx;
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_event ev = {&t, "uid-1", "Warning", "LagReadFailed", "ReadLag", "down"};
	struct ls_kube_recorder *rec = NULL;
	struct got e1 = {0}, e2 = {0}, e3 = {0}, other = {0}, dry = {0};
	struct ls_kube_target t2 = {"apps/v1", "Deployment", "shop", "other"};
	struct ls_kube_event ev2 = {&t2, NULL, "Normal", "ScaledUp", "Scale", "up"};
	char first[300], second[300], want[400];

	fx_start(&fx, h_events, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_recorder_new("lagscale.io/lagscale", "host-1", &rec), 0);
	ck_assert_int_eq(ls_kube_async_event(fx.a, NULL, &ev, 1000, 0, false, &e1), -EINVAL);
	ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev, 1000, 0, false, &e1), 0);
	/* Two repeats queued behind the create: each is planned when sent,
	 * so both patch the series of the Event just created. */
	ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev, 2000, 1000, false, &e2), 0);
	ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev, 3000, 2000, false, &e3), 0);
	ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev2, 3000, 2000, false, &other), 0);
	ck_assert_int_eq(ls_kube_async_event(fx.a, rec, &ev2, 3000, 2000, true, &dry), 0);
	drain(fx.a, 10000);
	ck_assert_int_eq(e1.res.err, 0);
	ck_assert_int_eq(e1.res.op, LS_KUBE_ASYNC_EVENT);
	ck_assert_int_eq(e1.res.replicas, -1);
	ck_assert_int_eq(e2.res.err, 0);
	/* The series was gone (404 on count 3): created again, same callback. */
	ck_assert_msg(e3.res.err == 0, "%s", e3.res.errmsg);
	ck_assert_int_eq(e3.res.attempts, 2);
	ck_assert_int_eq(other.res.err, 0);
	ck_assert_int_eq(dry.res.err, 0);
	ck_assert_int_lt(e1.order, e2.order);
	ck_assert_int_lt(e2.order, e3.order);
	/* The recorder learned of the new Event: the blocking path patches it. */
	ck_assert_int_eq(ls_kube_event_record(rec, fx.k, &ev, 4000, 3000, false), 0);
	fx_stop(&fx);
	{
		const struct logged *posts[8], *patches[8];
		size_t np = 0, nq = 0;

		for (size_t i = 0; i < fx.s.nlog; i++) {
			const struct logged *l = &fx.s.log[i];

			if (!strstr(l->path, "/namespaces/shop/events"))
				continue;
			if (strcmp(l->method, "POST") == 0 && !strstr(l->path, "other") &&
			    strstr(l->req, "\"name\":\"web\"") && np < 8)
				posts[np++] = l;
			if (strcmp(l->method, "PATCH") == 0 && nq < 8)
				patches[nq++] = l;
		}
		ck_assert_uint_eq(np, 2);
		ck_assert_uint_eq(nq, 3);
		posted_name(posts[0], first, sizeof(first));
		posted_name(posts[1], second, sizeof(second));
		ck_assert_str_ne(first, second);
		snprintf(want, sizeof(want), "PATCH /apis/events.k8s.io/v1/namespaces/shop/events/%s ",
		         first);
		ck_assert_ptr_nonnull(strstr(patches[0]->req, want));
		ck_assert_ptr_nonnull(strstr(
		    patches[0]->req, "{\"series\":{\"count\":2,\"lastObservedTime\":\"1970-01-01T00:"
		                     "00:02.000000Z\"}}"));
		ck_assert_ptr_nonnull(strstr(patches[1]->req, want));
		ck_assert_ptr_nonnull(strstr(patches[1]->req, "\"count\":3"));
		snprintf(want, sizeof(want), "PATCH /apis/events.k8s.io/v1/namespaces/shop/events/%s ",
		         second);
		ck_assert_ptr_nonnull(strstr(patches[2]->req, want));
		ck_assert_ptr_nonnull(strstr(patches[2]->req, "\"count\":2"));
		ck_assert_ptr_nonnull(strstr(posts[0]->req, "\"uid\":\"uid-1\""));
		ck_assert_ptr_nonnull(strstr(posts[0]->req, "\"reportingInstance\":\"host-1\""));
	}
	ck_assert_uint_eq(srv_count(&fx.s, "POST", "/events?dryRun=All"), 1);
	ls_kube_recorder_free(rec);
}
END_TEST

static Suite *async_suite(void)
{
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_async_concurrency_is_bounded);
	tcase_add_test(tc, test_async_retry_after_delays_only_that_request);
	tcase_add_test(tc, test_async_retry_after_holds_the_targets_next_request);
	tcase_add_test(tc, test_async_429_lowers_the_send_rate);
	tcase_add_test(tc, test_async_5xx_retried_then_bounded);
	tcase_add_test(tc, test_async_hung_request_delays_no_other);
	tcase_add_test(tc, test_async_free_cancels_outstanding);
	tcase_add_test(tc, test_async_stop_flag_cancels);
	tcase_add_test(tc, test_async_one_target_in_order);
	tcase_add_test(tc, test_async_merge_patch);
	tcase_add_test(tc, test_async_callback_queues_more);
	tcase_add_test(tc, test_async_401_refreshes_once);
	tcase_add_test(tc, test_async_failures);
	tcase_add_test(tc, test_async_event_create_series_recreate);
	tcase_add_test(tc, test_async_events_waiting_are_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(async_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
