/* client.c - the HTTP client of lib/kube: one CURL handle, credentials, retries. */
#include "kube/kube.h"

#include <ctype.h>
#include <pthread.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube-internal.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/parse.h"

/* client-go re-reads a token file at most once a minute (cachingTokenSource). */
#define TOKEN_FILE_REFRESH_MS 60000
#define BACKOFF_BASE_MS       250
#define BACKOFF_MAX_MS        4000
#define STOP_POLL_MS          100

struct ls_kube {
	const struct ls_kube_config *kc;
	struct ls_kube_options opts;
	CURL *curl;
	char *base; /* scheme://host:port[/prefix] of every URL */
	struct curl_slist *connect_to;
	char curl_err[CURL_ERROR_SIZE];
	struct ls_buf body;
	bool body_too_big;
	char retry_after[64];
	char errmsg[1024];
	uint64_t requests;
	uint64_t rng;

	/* Credentials: the bearer token in use (a copy of kc->token, the
	 * token file's contents, or the exec plugin's), and the exec result. */
	char *token;
	int64_t token_read_ms; /* monotonic, for token files */
	struct ls_kube_exec_cred exec;
	bool exec_valid;
	uint64_t exec_gen; /* the shared credential's generation k holds (0: none) */
	bool fresh_connect; /* the client certificate changed: no reuse */

	struct ls_kube_discovery *disc;
};

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void ls_kube_set_errmsg(struct ls_kube *k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->errmsg, sizeof(k->errmsg), fmt, ap);
	va_end(ap);
}

const char *ls_kube_errmsg(const struct ls_kube *k)
{
	return k->errmsg;
}

uint64_t ls_kube_requests(const struct ls_kube *k)
{
	return k->requests;
}

const struct ls_kube_config *ls_kube_get_config(const struct ls_kube *k)
{
	return k->kc;
}

const struct ls_kube_options *ls_kube_get_options(const struct ls_kube *k)
{
	return &k->opts;
}

struct ls_kube_discovery **ls_kube_discovery_slot(struct ls_kube *k)
{
	return &k->disc;
}

const cJSON *ls_kube_json_get(const cJSON *obj, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, obj);
	while (obj && (key = va_arg(ap, const char *)) != NULL)
		obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	va_end(ap);
	return obj;
}

const char *ls_kube_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ls_kube_json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *ret)
{
	if (!v)
		return -ENOENT;
	if (!cJSON_IsNumber(v) || ls_parse_integral(v->valuedouble, lo, hi, ret) < 0)
		return -EPROTO;
	return 0;
}

/* --- pure helpers ------------------------------------------------------- */

int ls_kube_status_errno(long status, const char *reason)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
	case 405:
	case 415:
	case 422:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -ESTALE;
	case 410:
		return -ESTALE;
	case 413:
		return -E2BIG;
	case 429:
		return -EBUSY;
	}
	return -EIO;
}

static int month_index(const char *m)
{
	static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	for (int i = 0; i < 12; i++)
		if (strncmp(m, names[i], 3) == 0)
			return i;
	return -1;
}

static bool two_digits(const char *s, int *ret)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	*ret = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

int ls_kube_parse_retry_after(const char *value, int64_t now_wall_ms, int64_t *ret_ms)
{
	char buf[64];
	size_t n;
	const char *s;
	int64_t secs;

	if (!value)
		return -EINVAL;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
	                 value[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, n);
	buf[n] = '\0';
	if (isdigit((unsigned char)buf[0])) {
		for (size_t i = 0; i < n; i++)
			if (!isdigit((unsigned char)buf[i]))
				return -EINVAL;
		if (ls_parse_int64(buf, &secs) < 0 || secs > INT64_MAX / 1000)
			return -EINVAL;
		*ret_ms = secs > LS_KUBE_RETRY_AFTER_MAX_MS / 1000 ? LS_KUBE_RETRY_AFTER_MAX_MS
		                                                   : secs * 1000;
		return 0;
	}
	/* IMF-fixdate, the only form a server may send (RFC 9110 5.6.7):
	 * "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters. */
	s = buf;
	if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return -EINVAL;
	{
		struct tm tm;
		int day, mon, y1, y2, hh, mm, ss;
		time_t t;

		mon = month_index(s + 8);
		if (!two_digits(s + 5, &day) || mon < 0 || !two_digits(s + 12, &y1) ||
		    !two_digits(s + 14, &y2) || !two_digits(s + 17, &hh) ||
		    !two_digits(s + 20, &mm) || !two_digits(s + 23, &ss))
			return -EINVAL;
		if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
			return -EINVAL;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y1 * 100 + y2 - 1900;
		tm.tm_mon = mon;
		tm.tm_mday = day;
		tm.tm_hour = hh;
		tm.tm_min = mm;
		tm.tm_sec = ss;
		t = timegm(&tm);
		if (t == (time_t)-1)
			return -EINVAL;
		*ret_ms = (int64_t)t * 1000 > now_wall_ms ? (int64_t)t * 1000 - now_wall_ms : 0;
		if (*ret_ms > LS_KUBE_RETRY_AFTER_MAX_MS)
			*ret_ms = LS_KUBE_RETRY_AFTER_MAX_MS;
	}
	return 0;
}

/* --- the client ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct ls_kube *k = ud;

	if (ls_buf_append(&k->body, p, size * n) < 0) {
		k->body_too_big = true;
		return 0;
	}
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct ls_kube *k = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		size_t vlen = len - (sizeof(name) - 1);

		if (vlen >= sizeof(k->retry_after))
			vlen = sizeof(k->retry_after) - 1;
		memcpy(k->retry_after, p + sizeof(name) - 1, vlen);
		k->retry_after[vlen] = '\0';
	}
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct ls_kube *k = ud;

	return k->opts.stop && *k->opts.stop ? 1 : 0;
}

/*
 * The URL prefix. With tls-server-name, URLs name that host (so curl
 * sends it as SNI and verifies the certificate against it) and
 * CURLOPT_CONNECT_TO sends the connection to the real server.
 */
static int setup_url(struct ls_kube *k)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	struct ls_buf b;
	int r = -EINVAL;

	ls_buf_init(&b, 0);
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, k->kc->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		ls_kube_set_errmsg(k, "server \"%s\" is not a URL", k->kc->server);
		goto out;
	}
	{
		size_t plen = strlen(path);

		while (plen > 0 && path[plen - 1] == '/')
			plen--;
		path[plen] = '\0';
	}
	if (k->kc->tls_server_name) {
		char *entry;

		if (ls_buf_printf(&b, "%s:%s:%s:%s", k->kc->tls_server_name, port, host, port) < 0)
			goto oom;
		entry = ls_buf_steal(&b);
		k->connect_to = curl_slist_append(NULL, entry);
		free(entry);
		if (!k->connect_to)
			goto oom;
		if (ls_buf_printf(&b, "%s://%s:%s%s", scheme, k->kc->tls_server_name, port, path) <
		    0)
			goto oom;
	} else if (ls_buf_printf(&b, "%s://%s:%s%s", scheme, host, port, path) < 0) {
		goto oom;
	}
	k->base = ls_buf_steal(&b);
	r = k->base ? 0 : -ENOMEM;
	goto out;
oom:
	r = -ENOMEM;
out:
	ls_buf_release(&b);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
}

static void set_client_cert_blobs(CURL *c, const char *cert, const char *key)
{
	struct curl_blob cb = {(void *)cert, strlen(cert), CURL_BLOB_COPY};
	struct curl_blob kb = {(void *)key, strlen(key), CURL_BLOB_COPY};

	curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
	curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
}

static int setup_tls(struct ls_kube *k, CURL *c)
{
	const struct ls_kube_config *kc = k->kc;

	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, kc->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, kc->insecure ? 0L : 2L);
	if (kc->ca_data) {
		struct curl_blob blob = {kc->ca_data, kc->ca_data_len, CURL_BLOB_COPY};

		/* Only this CA, as client-go: not the system's roots as well. */
		curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		if (curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK) {
			ls_kube_set_errmsg(k, "this libcurl cannot use certificate-authority-data");
			return -EINVAL;
		}
	} else if (kc->ca_file) {
		curl_easy_setopt(c, CURLOPT_CAINFO, kc->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	if (kc->cert_data && kc->key_data) {
		set_client_cert_blobs(c, kc->cert_data, kc->key_data);
	} else if (kc->cert_file && kc->key_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLCERT, kc->cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, kc->key_file);
	}
	/* An exec plugin's client certificate, once it gave one. */
	if (k->exec_valid && k->exec.cert_pem && k->exec.key_pem)
		set_client_cert_blobs(c, k->exec.cert_pem, k->exec.key_pem);
	return 0;
}

/* What every handle of the client has: TLS, timeouts, routing, basic auth. */
static int setup_handle(struct ls_kube *k, CURL *c)
{
	const struct ls_kube_config *kc = k->kc;
	int r = setup_tls(k, c);

	if (r < 0)
		return r;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)k->opts.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "lagscale/" LS_VERSION);
	if (k->connect_to)
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, k->connect_to);
	if (kc->proxy_url)
		curl_easy_setopt(c, CURLOPT_PROXY, kc->proxy_url);
	if (kc->auth == LS_KUBE_AUTH_BASIC) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, kc->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, kc->password);
	}
	return 0;
}

static void shared_exec_ref(void);
static void shared_exec_unref(void);

int ls_kube_new(const struct ls_kube_config *kc, const struct ls_kube_options *opts,
                struct ls_kube **ret)
{
	struct ls_kube *k;
	int r = -ENOMEM;

	if (!kc || !kc->server)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	k->kc = kc;
	if (kc->auth == LS_KUBE_AUTH_EXEC)
		shared_exec_ref();
	if (opts)
		k->opts = *opts;
	if (k->opts.connect_timeout_ms <= 0)
		k->opts.connect_timeout_ms = LS_KUBE_CONNECT_TIMEOUT_MS;
	if (k->opts.timeout_ms <= 0)
		k->opts.timeout_ms = LS_KUBE_TIMEOUT_MS;
	k->rng = (uint64_t)ls_clock_wall_ms() ^ ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)k;
	ls_buf_init(&k->body, LS_KUBE_MAX_BODY);
	k->curl = curl_easy_init();
	if (!k->curl)
		goto fail;
	if ((r = setup_url(k)) < 0 || (r = setup_handle(k, k->curl)) < 0)
		goto fail;
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, k->curl_err);
	curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(k->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(k->curl, CURLOPT_XFERINFODATA, k);
	curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 0L);
	if (kc->auth == LS_KUBE_AUTH_TOKEN && !(k->token = strdup(kc->token)))
		goto fail;
	*ret = k;
	return 0;
fail:
	ls_kube_free(k);
	return r;
}

void ls_kube_free(struct ls_kube *k)
{
	if (!k)
		return;
	if (k->curl)
		curl_easy_cleanup(k->curl);
	curl_slist_free_all(k->connect_to);
	ls_buf_release(&k->body);
	free(k->base);
	wipe_str(&k->token);
	ls_kube_exec_cred_release(&k->exec);
	if (k->kc->auth == LS_KUBE_AUTH_EXEC)
		shared_exec_unref();
	ls_kube_discovery_free(k->disc);
	free(k);
	curl_global_cleanup();
}

/* --- credentials ---------------------------------------------------------- */

/*
 * The exec plugin's credential is shared by the clients of one kubeconfig
 * (the controller's watches, its writes and the leader elector each have
 * a client), as client-go shares it: a client that needs one takes the
 * latest the others fetched, if it is still valid and not the one it
 * already had (after a 401, that one was refused); only then does it run
 * the plugin. The mutex is held while the plugin runs, so clients that
 * are refused at once run it once between them.
 */
#define SHARED_EXEC_MAX 8

static pthread_mutex_t shared_exec_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const struct ls_kube_config *kc;
	struct ls_kube_exec_cred cred;
	uint64_t gen;
} shared_exec[SHARED_EXEC_MAX];

static int cred_copy(const struct ls_kube_exec_cred *from, struct ls_kube_exec_cred *to)
{
	memset(to, 0, sizeof(*to));
	to->expiry_ms = from->expiry_ms;
	if ((from->token && !(to->token = strdup(from->token))) ||
	    (from->cert_pem && !(to->cert_pem = strdup(from->cert_pem))) ||
	    (from->key_pem && !(to->key_pem = strdup(from->key_pem)))) {
		ls_kube_exec_cred_release(to);
		return -ENOMEM;
	}
	return 0;
}

static int shared_exec_fetch(struct ls_kube *k, bool force, struct ls_kube_exec_cred *ret,
                             char *err, size_t errlen)
{
	const struct ls_kube_config *kc = k->kc;
	size_t slot = SHARED_EXEC_MAX;
	int r;

	pthread_mutex_lock(&shared_exec_mu);
	for (size_t i = 0; i < SHARED_EXEC_MAX && slot == SHARED_EXEC_MAX; i++)
		if (shared_exec[i].kc == kc)
			slot = i;
	if (slot < SHARED_EXEC_MAX && shared_exec[slot].gen != k->exec_gen &&
	    (shared_exec[slot].cred.expiry_ms == 0 ||
	     ls_clock_wall_ms() < shared_exec[slot].cred.expiry_ms)) {
		r = cred_copy(&shared_exec[slot].cred, ret);
		if (r == 0)
			k->exec_gen = shared_exec[slot].gen;
		else
			snprintf(err, errlen, "out of memory");
		pthread_mutex_unlock(&shared_exec_mu);
		return r;
	}
	r = ls_kube_exec_fetch(kc, LS_KUBE_EXEC_TIMEOUT_MS, ret, err, errlen);
	ls_log(LS_LOG_DEBUG, NULL, "kube: ran the exec plugin \"%s\"%s: %s", kc->exec->command,
	       force ? " after a 401" : "", r < 0 ? err : "ok");
	if (r == 0) {
		for (size_t i = 0; i < SHARED_EXEC_MAX && slot == SHARED_EXEC_MAX; i++)
			if (!shared_exec[i].kc)
				slot = i;
		if (slot == SHARED_EXEC_MAX)
			slot = 0; /* more kubeconfigs than slots: the first is shared no more */
		ls_kube_exec_cred_release(&shared_exec[slot].cred);
		if (cred_copy(ret, &shared_exec[slot].cred) == 0) {
			shared_exec[slot].kc = kc;
			shared_exec[slot].gen++;
			k->exec_gen = shared_exec[slot].gen;
		} else {
			shared_exec[slot].kc = NULL;
		}
	}
	pthread_mutex_unlock(&shared_exec_mu);
	return r;
}

/* Clients of exec kubeconfigs alive; the shared credentials are wiped
 * when the last one goes. */
static size_t shared_exec_clients;

static void shared_exec_ref(void)
{
	pthread_mutex_lock(&shared_exec_mu);
	shared_exec_clients++;
	pthread_mutex_unlock(&shared_exec_mu);
}

static void shared_exec_unref(void)
{
	pthread_mutex_lock(&shared_exec_mu);
	if (--shared_exec_clients == 0)
		for (size_t i = 0; i < SHARED_EXEC_MAX; i++) {
			ls_kube_exec_cred_release(&shared_exec[i].cred);
			shared_exec[i].kc = NULL;
		}
	pthread_mutex_unlock(&shared_exec_mu);
}

/*
 * Makes sure a credential is at hand: re-reads a token file once a minute,
 * runs the exec plugin when it has no credential or it expired; force does
 * either now (after a 401). A failed re-read keeps the token it has, as
 * client-go does.
 */
static int ensure_creds(struct ls_kube *k, bool force)
{
	const struct ls_kube_config *kc = k->kc;
	int r;

	if (kc->auth == LS_KUBE_AUTH_TOKEN_FILE) {
		int64_t now = ls_clock_mono_ms();
		char *t = NULL;

		if (!force && k->token && now - k->token_read_ms < TOKEN_FILE_REFRESH_MS)
			return 0;
		r = ls_kube_read_secret_file(kc->token_file, &t);
		ls_log(LS_LOG_DEBUG, NULL, "kube: read the token file \"%s\"%s: %s", kc->token_file,
		       force ? " after a 401" : "", r < 0 ? strerror(-r) : "ok");
		if (r < 0 || !t[0]) {
			wipe_str(&t);
			if (k->token) {
				k->token_read_ms = now;
				return 0;
			}
			ls_kube_set_errmsg(k, "credentials: cannot read the token file \"%s\": %s",
			                   kc->token_file,
			                   r < 0 ? ls_buf_read_strerror(r) : "it is empty");
			/* Not the errno of the read: -ENOENT would read as a 404. */
			return r == -ENOMEM ? r : -ENOKEY;
		}
		wipe_str(&k->token);
		k->token = t;
		k->token_read_ms = now;
		return 0;
	}
	if (kc->auth == LS_KUBE_AUTH_EXEC) {
		struct ls_kube_exec_cred cred = {0};
		char err[512];
		bool cert_changed;

		if (!force && k->exec_valid &&
		    (k->exec.expiry_ms == 0 || ls_clock_wall_ms() < k->exec.expiry_ms))
			return 0;
		r = shared_exec_fetch(k, force, &cred, err, sizeof(err));
		if (r < 0) {
			/* A credential failure is its own error: the plugin's
			 * -ENOENT (not installed) is no 404 from the server. */
			ls_kube_set_errmsg(k, "credentials: %s", err);
			return r == -ENOMEM ? r : -ENOKEY;
		}
		cert_changed = cred.cert_pem &&
		               (!k->exec.cert_pem || strcmp(cred.cert_pem, k->exec.cert_pem) != 0 ||
		                strcmp(cred.key_pem, k->exec.key_pem) != 0);
		ls_kube_exec_cred_release(&k->exec);
		k->exec = cred;
		k->exec_valid = true;
		wipe_str(&k->token);
		if (cred.token && !(k->token = strdup(cred.token)))
			return -ENOMEM;
		if (cert_changed) {
			set_client_cert_blobs(k->curl, cred.cert_pem, cred.key_pem);
			/* A kept-alive connection would go on with the old certificate. */
			k->fresh_connect = true;
		}
	}
	return 0;
}

static bool refreshable(const struct ls_kube *k)
{
	return k->kc->auth == LS_KUBE_AUTH_TOKEN_FILE || k->kc->auth == LS_KUBE_AUTH_EXEC;
}

/* --- one request ---------------------------------------------------------- */

int ls_kube_curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Frees a header list, wiping it first: it may hold the bearer token. */
static void free_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

static int add_header(struct curl_slist **h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **h, const char *fmt, ...)
{
	struct ls_buf b;
	struct curl_slist *n;
	va_list ap;
	int r;

	ls_buf_init(&b, 0);
	va_start(ap, fmt);
	r = ls_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	n = curl_slist_append(*h, ls_buf_str(&b));
	explicit_bzero(b.data, b.len);
	ls_buf_release(&b);
	if (!n)
		return -ENOMEM;
	*h = n;
	return 0;
}

/* The request headers of c, with k's credential. 0 or -ENOMEM. */
static int request_headers(struct ls_kube *k, const struct ls_kube_call *c,
                           struct curl_slist **ret)
{
	const struct ls_kube_config *kc = k->kc;
	struct curl_slist *h = NULL;
	int r;

	if ((r = add_header(&h, "Accept: %s", c->accept ? c->accept : "application/json")) < 0)
		goto out;
	if (c->body && (r = add_header(&h, "Content-Type: %s",
	                               c->content_type ? c->content_type : "application/json")) < 0)
		goto out;
	/* No "Expect: 100-continue" round trip for small bodies. */
	if ((r = add_header(&h, "Expect:")) < 0)
		goto out;
	if (k->token && k->token[0] &&
	    (r = add_header(&h, "Authorization: Bearer %s", k->token)) < 0)
		goto out;
	if (kc->impersonate_user &&
	    (r = add_header(&h, "Impersonate-User: %s", kc->impersonate_user)) < 0)
		goto out;
	for (size_t i = 0; i < kc->n_impersonate_groups; i++)
		if ((r = add_header(&h, "Impersonate-Group: %s", kc->impersonate_groups[i])) < 0)
			goto out;
	if (kc->impersonate_uid &&
	    (r = add_header(&h, "Impersonate-Uid: %s", kc->impersonate_uid)) < 0)
		goto out;
	*ret = h;
	return 0;
out:
	free_headers(h);
	return r;
}

/* URL, headers, method, body and timeout of c on h (0 ms: no timeout). */
static int setup_request(struct ls_kube *k, CURL *h, const struct ls_kube_call *c,
                         int64_t timeout_ms, struct curl_slist **ret_headers)
{
	struct ls_buf url;
	int r;

	ls_buf_init(&url, 0);
	if ((r = ls_buf_printf(&url, "%s%s", k->base, c->path)) < 0 ||
	    (r = request_headers(k, c, ret_headers)) < 0) {
		ls_buf_release(&url);
		return r;
	}
	curl_easy_setopt(h, CURLOPT_URL, ls_buf_str(&url)); /* curl copies it */
	ls_buf_release(&url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *ret_headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
	if (strcmp(c->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(c->body ? strlen(c->body) : 0));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, k->fresh_connect ? 1L : 0L);
	return 0;
}

int ls_kube_easy_setup(struct ls_kube *k, CURL *h, const struct ls_kube_call *c,
                       int64_t timeout_ms, struct curl_slist **ret_headers)
{
	int r = ensure_creds(k, false);

	if (r < 0)
		return r;
	*ret_headers = NULL;
	if ((r = setup_handle(k, h)) < 0)
		return r;
	r = setup_request(k, h, c, timeout_ms, ret_headers);
	if (r == -ENOMEM)
		ls_kube_set_errmsg(k, "%s %s: out of memory", c->method, c->path);
	return r;
}

void ls_kube_free_headers(struct curl_slist *h)
{
	free_headers(h);
}

int ls_kube_refresh_creds(struct ls_kube *k)
{
	return refreshable(k) ? ensure_creds(k, true) : -EACCES;
}

bool ls_kube_creds_refreshable(const struct ls_kube *k)
{
	return refreshable(k);
}

/* Sends one attempt; 0 and *ret_status, or a transport errno (errmsg set). */
static int perform(struct ls_kube *k, const struct ls_kube_call *c, int64_t timeout_ms,
                   long *ret_status)
{
	struct curl_slist *h = NULL;
	CURLcode rc;
	long status = 0;
	int64_t t0;
	int r;

	if ((r = setup_request(k, k->curl, c, timeout_ms > 0 ? timeout_ms : 1, &h)) < 0)
		goto out;
	ls_buf_reset(&k->body);
	k->body_too_big = false;
	k->retry_after[0] = '\0';
	k->curl_err[0] = '\0';
	k->requests++;
	t0 = ls_clock_mono_ms();
	rc = curl_easy_perform(k->curl);
	/* Do not keep a pointer to the header list, which is freed below. */
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
	if (rc == CURLE_WRITE_ERROR && k->body_too_big) {
		ls_kube_set_errmsg(k, "the response to %s %s is larger than %d bytes", c->method,
		                   c->path, LS_KUBE_MAX_BODY);
		r = -E2BIG;
		goto out;
	}
	if (rc != CURLE_OK) {
		r = ls_kube_curl_errno(rc);
		ls_kube_set_errmsg(k, "%s %s%s: %s%s", c->method, k->base, c->path,
		                   r == -EPROTO ? "TLS: " : "",
		                   k->curl_err[0] ? k->curl_err : curl_easy_strerror(rc));
		goto out;
	}
	k->fresh_connect = false;
	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
	if (ls_log_enabled(LS_LOG_DEBUG)) {
		long connects = 0;

		curl_easy_getinfo(k->curl, CURLINFO_NUM_CONNECTS, &connects);
		ls_log(LS_LOG_DEBUG, NULL, "kube: %s %s: HTTP %ld in %lld ms%s", c->method, c->path,
		       status, (long long)(ls_clock_mono_ms() - t0),
		       connects ? " (new connection)" : "");
	}
	*ret_status = status;
	r = 0;
out:
	free_headers(h);
	return r;
}

/* Sets errmsg from a failed response (the API's Status) and returns its errno. */
static int status_error(struct ls_kube *k, const struct ls_kube_call *c, long status)
{
	return ls_kube_status_error(k, c, status, k->body.data, k->body.len);
}

int ls_kube_status_error(struct ls_kube *k, const struct ls_kube_call *c, long status,
                         const char *body, size_t len)
{
	cJSON *j = len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *msg = ls_kube_json_str(j, "message");
	const char *reason = ls_kube_json_str(j, "reason");
	int r = ls_kube_status_errno(status, reason);

	if (status == 401)
		ls_kube_set_errmsg(k,
		                   "unauthorized (HTTP 401): the API server did not accept the "
		                   "credentials (%s)%s%s",
		                   ls_kube_auth_name(k->kc), msg ? ": " : "", msg ? msg : "");
	else if (msg && msg[0])
		ls_kube_set_errmsg(k, "%s", msg);
	else
		ls_kube_set_errmsg(k, "HTTP %ld from %s %s", status, c->method, c->path);
	cJSON_Delete(j);
	return r;
}

static bool transport_retryable(int r)
{
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ECONNRESET || r == -EHOSTUNREACH ||
	       r == -EIO;
}

/* Sleeps ms, in slices so a stop request ends it; -ECANCELED then. */
static int pause_ms(struct ls_kube *k, int64_t ms)
{
	int64_t end = ls_clock_mono_ms() + ms;

	for (;;) {
		int64_t left = end - ls_clock_mono_ms();

		if (k->opts.stop && *k->opts.stop)
			return -ECANCELED;
		if (left <= 0)
			return 0;
		ls_clock_sleep_ms(left < STOP_POLL_MS ? left : STOP_POLL_MS);
	}
}

int ls_kube_call(struct ls_kube *k, const struct ls_kube_call *c, cJSON **ret_json)
{
	int64_t budget = c->timeout_ms > 0 ? c->timeout_ms : k->opts.timeout_ms;
	int64_t deadline = ls_clock_mono_ms() + budget;
	struct ls_backoff bo;
	bool refreshed = false;
	int attempts = 0, r;

	ls_backoff_init(&bo, BACKOFF_BASE_MS, BACKOFF_MAX_MS, k->rng);
	k->rng = k->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	for (;;) {
		int64_t left, delay;
		long status = 0;
		bool retry;

		r = ensure_creds(k, false);
		if (r < 0)
			return r;
		left = deadline - ls_clock_mono_ms();
		if (left <= 0) {
			if (attempts == 0)
				ls_kube_set_errmsg(k, "%s %s: timed out", c->method, c->path);
			return attempts == 0 ? -ETIMEDOUT : r;
		}
		r = perform(k, c, left, &status);
		attempts++;
		if (r == 0 && status >= 200 && status < 300) {
			cJSON *j = NULL;

			if (ret_json && k->body.len) {
				j = cJSON_ParseWithLength(k->body.data, k->body.len);
				if (!j) {
					ls_kube_set_errmsg(
					    k,
					    "the response to %s %s is not JSON (HTTP "
					    "%ld)",
					    c->method, c->path, status);
					return -EPROTO;
				}
			}
			if (ret_json)
				*ret_json = j;
			k->errmsg[0] = '\0';
			return 0;
		}
		if (r == 0 && status == 401 && !refreshed && refreshable(k)) {
			/* The token may have rotated, or the plugin's
			 * credential been revoked: fetch it again, once. */
			refreshed = true;
			attempts--;
			r = ensure_creds(k, true);
			if (r < 0)
				return r;
			continue;
		}
		if (r == 0) {
			r = status_error(k, c, status);
			retry = c->retry && (status == 429 || status >= 500 ||
			                     (status == 409 && c->retry_conflict));
		} else {
			retry = c->retry && transport_retryable(r);
		}
		if (!retry || attempts >= LS_KUBE_MAX_ATTEMPTS)
			return r;
		delay = ls_backoff_next(&bo);
		if ((status == 429 || status == 503) && k->retry_after[0]) {
			int64_t ra;

			if (ls_kube_parse_retry_after(k->retry_after, ls_clock_wall_ms(), &ra) == 0)
				delay = ra;
		}
		if (ls_clock_mono_ms() + delay >= deadline)
			return r; /* no time for another attempt: report this one */
		if (pause_ms(k, delay) < 0) {
			ls_kube_set_errmsg(k, "%s %s: stopped", c->method, c->path);
			return -ECANCELED;
		}
	}
}
