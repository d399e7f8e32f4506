/* server.c - see server.h. */
#include "metrics/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/parse.h"

#define DEFAULT_STALE_MS 45000
#define DEFAULT_RENDER_MS 5000
/* A scrape is one short request: these keep a slow or hostile client from
 * holding the server. */
#define CONNECTION_LIMIT   32
#define CONNECTION_TIMEOUT 10 /* seconds */
/* How long a scrape of text older than the render interval waits for the
 * loop to publish a fresh one. */
#define RENDER_WAIT_MS 1000

/* A published exposition, shared by the server and the responses that
 * send it: freed when the last of them lets go (a slow scrape keeps the
 * text it started with). */
struct shared_text {
	atomic_int refs;
	struct ls_buf buf;
};

struct ls_metrics_server {
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t lock;
	/* Under lock: */
	struct shared_text *text; /* NULL until the first publish */
	int64_t last_tick_ms;
	int64_t stale_ms;
	bool ready;
	/* Render on demand: GETs of /metrics so far, and at the last publish. */
	uint64_t scrapes;
	uint64_t scrapes_at_publish;
	bool published;
	int64_t published_ms;
	int64_t render_ms;
	uint64_t publishes;
	pthread_cond_t published_cond; /* signalled by every publish (CLOCK_MONOTONIC) */
};

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

bool ls_metrics_server_healthy(int64_t last_tick_ms, int64_t now_ms, int64_t stale_ms)
{
	return now_ms - last_tick_ms <= stale_ms;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void text_unref(void *cls)
{
	struct shared_text *t = cls;

	if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
		ls_buf_release(&t->buf);
		free(t);
	}
}

/* Answers with the published text t (NULL: none yet, an empty page),
 * without copying it: the response holds a reference. */
static enum MHD_Result reply_shared(struct MHD_Connection *conn, struct shared_text *t)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!t)
		return reply(conn, MHD_HTTP_OK, content_type, "", 0);
	atomic_fetch_add(&t->refs, 1);
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		t->buf.len, (void *)ls_buf_str(&t->buf), text_unref, t);
	if (!resp) {
		text_unref(t);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *body)
{
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/*
 * The text is older than the render interval: gives the loop, which looks
 * at ls_metrics_server_render_wanted every 100 ms or so, up to
 * RENDER_WAIT_MS to publish a fresh one. Called and returns with the lock
 * held.
 */
static void await_publish(struct ls_metrics_server *s)
{
	uint64_t seen = s->publishes;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += RENDER_WAIT_MS / 1000;
	until.tv_nsec += (RENDER_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (s->publishes == seen)
		if (pthread_cond_timedwait(&s->published_cond, &s->lock, &until) == ETIMEDOUT)
			break;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
	static int first_call_marker;
	struct ls_metrics_server *s = cls;
	enum MHD_Result ret;
	char msg[160];

	(void)version;
	(void)upload_data;
	/* The first call only announces the request: answer on the second,
	 * once any body has been read (and ignored). */
	if (*req_cls == NULL) {
		*req_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/metrics") == 0) {
		pthread_mutex_lock(&s->lock);
		/* A HEAD reads no text: it asks for none. */
		if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
			s->scrapes++;
			if (s->published && ls_clock_mono_ms() - s->published_ms >= s->render_ms)
				await_publish(s);
			if (s->published && !s->text) {
				/* The stale text was dropped and the loop did not
				 * render in time. */
				pthread_mutex_unlock(&s->lock);
				return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
						  "metrics not rendered in time: the loop is busy\n");
			}
		}
		ret = reply_shared(conn, s->text);
		pthread_mutex_unlock(&s->lock);
		return ret;
	}
	if (strcmp(url, "/healthz") == 0) {
		int64_t now = ls_clock_mono_ms(), last, stale;

		pthread_mutex_lock(&s->lock);
		last = s->last_tick_ms;
		stale = s->stale_ms;
		pthread_mutex_unlock(&s->lock);
		if (ls_metrics_server_healthy(last, now, stale))
			return reply_text(conn, MHD_HTTP_OK, "ok\n");
		snprintf(msg, sizeof(msg),
		         "stale: the loop finished no tick in %" PRId64 " ms (limit %" PRId64
		         " ms)\n",
		         now - last, stale);
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	}
	if (strcmp(url, "/readyz") == 0) {
		bool ready;

		pthread_mutex_lock(&s->lock);
		ready = s->ready;
		pthread_mutex_unlock(&s->lock);
		return ready ? reply_text(conn, MHD_HTTP_OK, "ok\n")
		             : reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
	}
	if (strcmp(url, "/") == 0)
		return reply_text(conn, MHD_HTTP_OK, "lagscale: /metrics /healthz /readyz\n");
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Splits "host:port", "[v6]:port" or ":port" into host (NULL: any) and port. */
static int split_address(const char *address, char *host, size_t hostlen, uint16_t *ret_port)
{
	const char *colon, *hs = address, *he;
	int32_t port;

	if (!address)
		return -EINVAL;
	if (address[0] == '[') {
		he = strchr(address, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = address + 1;
		colon = he + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon || memchr(address, ':', (size_t)(colon - address)))
			return -EINVAL;
		he = colon;
	}
	if ((size_t)(he - hs) >= hostlen)
		return -EINVAL;
	if (ls_parse_int32(colon + 1, &port) < 0 || port < 0 || port > 65535)
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}

int ls_metrics_server_new(const char *address, struct ls_metrics_server **ret, char *errbuf,
                          size_t errlen)
{
	struct ls_metrics_server *s = NULL;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage sa;
	const union MHD_DaemonInfo *info;
	char host[256], port_text[8];
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
	uint16_t port;
	int r, e;

	if (split_address(address, host, sizeof(host), &port) < 0) {
		snprintf(errbuf, errlen, "\"%s\" is not host:port", address ? address : "");
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
	/* An empty host means every address; IPv4 is what pods are probed on. */
	e = getaddrinfo(host[0] ? host : "0.0.0.0", port_text, &hints, &ai);
	if (e != 0 || !ai || ai->ai_addrlen > sizeof(sa)) {
		snprintf(errbuf, errlen, "\"%s\": %s", address, e ? gai_strerror(e) : "no address");
		r = -EINVAL;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	r = -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		s = NULL;
		goto out;
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (pthread_cond_init(&s->published_cond, &ca) != 0) {
			pthread_condattr_destroy(&ca);
			pthread_mutex_destroy(&s->lock);
			free(s);
			s = NULL;
			goto out;
		}
		pthread_condattr_destroy(&ca);
	}
	s->stale_ms = DEFAULT_STALE_MS;
	s->render_ms = DEFAULT_RENDER_MS;
	s->last_tick_ms = ls_clock_mono_ms();
	errno = 0;
	s->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
	                             (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
	                             (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	                             (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (!s->daemon) {
		r = errno ? -errno : -EADDRNOTAVAIL;
		snprintf(errbuf, errlen, "cannot listen on \"%s\": %s", address, strerror(-r));
		goto out;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info && info->port ? info->port : port;
	*ret = s;
	s = NULL;
	r = 0;
out:
	if (ai)
		freeaddrinfo(ai);
	if (s) {
		pthread_cond_destroy(&s->published_cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return r;
}

void ls_metrics_server_free(struct ls_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	pthread_cond_destroy(&s->published_cond);
	pthread_mutex_destroy(&s->lock);
	text_unref(s->text);
	free(s);
}

int ls_metrics_server_port(const struct ls_metrics_server *s)
{
	return s ? s->port : 0;
}

void ls_metrics_server_publish(struct ls_metrics_server *s, struct ls_buf *text)
{
	struct shared_text *t = malloc(sizeof(*t)), *old;
	int64_t now = ls_clock_mono_ms();

	if (!t) {
		/* Keep the last text; the next publish tries again. */
		ls_buf_release(text);
		return;
	}
	atomic_init(&t->refs, 1);
	t->buf = *text;
	ls_buf_init(text, text->cap);
	pthread_mutex_lock(&s->lock);
	old = s->text;
	s->text = t;
	s->published = true;
	s->published_ms = now;
	s->scrapes_at_publish = s->scrapes;
	s->publishes++;
	pthread_cond_broadcast(&s->published_cond);
	pthread_mutex_unlock(&s->lock);
	text_unref(old);
}

bool ls_metrics_server_render_wanted(struct ls_metrics_server *s, int64_t now_ms)
{
	bool want;

	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	want = !s->published || (s->scrapes != s->scrapes_at_publish &&
	                         now_ms - s->published_ms >= s->render_ms);
	pthread_mutex_unlock(&s->lock);
	return want;
}

void ls_metrics_server_set_render_interval(struct ls_metrics_server *s, int64_t min_ms)
{
	if (!s || min_ms < 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->render_ms = min_ms;
	pthread_mutex_unlock(&s->lock);
}

uint64_t ls_metrics_server_scrapes(struct ls_metrics_server *s)
{
	uint64_t n;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = s->scrapes;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void ls_metrics_server_tick(struct ls_metrics_server *s, int64_t mono_ms)
{
	struct shared_text *stale = NULL;

	pthread_mutex_lock(&s->lock);
	s->last_tick_ms = mono_ms;
	if (s->text && mono_ms - s->published_ms >= s->render_ms) {
		stale = s->text;
		s->text = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	text_unref(stale);
}

void ls_metrics_server_set_stale_after(struct ls_metrics_server *s, int64_t stale_ms)
{
	if (stale_ms <= 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->stale_ms = stale_ms;
	pthread_mutex_unlock(&s->lock);
}

void ls_metrics_server_set_ready(struct ls_metrics_server *s, bool ready)
{
	pthread_mutex_lock(&s->lock);
	s->ready = ready;
	pthread_mutex_unlock(&s->lock);
}
