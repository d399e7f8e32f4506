/* awsiam.c - see awsiam.h. */
#include "kafka/awsiam.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
#define EMPTY_SHA256	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MSK_SERVICE	"kafka-cluster"
#define MSK_ACTION	"kafka-cluster:Connect"
#define MSK_PRINCIPAL	"aws-msk-iam"
#define MSK_USER_AGENT	"lagscale/" LS_VERSION
#define STS_VERSION	"2011-06-15"
#define MAX_REGION	40
#define MAX_EXPIRES_S	604800
/* 10000-01-01: X-Amz-Date has four digits for the year. */
#define MAX_UNIX_S	253402300800LL
/* ECS's credential endpoint, which AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is relative to. */
#define ECS_ENDPOINT	"http://169.254.170.2"

/* --- small helpers ---------------------------------------------------------- */

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* Releases a buffer that held a secret, wiping all of its allocation. */
static void wipe_buf(struct ls_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->alloc);
	ls_buf_release(b);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	hex(md, sizeof(md), out);
}

static int hmac(const unsigned char *key, size_t keylen, const char *data, unsigned char out[32])
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), out,
		  &len) ||
	    len != 32)
		return -EIO;
	return 0;
}

static bool valid_region(const char *r)
{
	size_t n = r ? strlen(r) : 0;

	if (n == 0 || n > MAX_REGION || r[0] == '-' || r[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
			return false;
	return true;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* --- SigV4 ------------------------------------------------------------------ */

void ls_awsiam_signature_release(struct ls_awsiam_signature *s)
{
	if (!s)
		return;
	/* The canonical request and a presigned query carry the session token. */
	wipe_str(&s->canonical_request);
	wipe_str(&s->query);
	free(s->string_to_sign);
	free(s->signed_headers);
	free(s->authorization);
	memset(s, 0, sizeof(*s));
}

void ls_awsiam_amz_date(int64_t unix_s, char *ret)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	ret[0] = '\0';
	if (unix_s < 0 || unix_s >= MAX_UNIX_S || !gmtime_r(&t, &tm) ||
	    strftime(ret, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		ret[0] = '\0';
}

static int buf_uri_encode(struct ls_buf *b, const char *s, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	int r = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && r == 0; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/')) {
			r = ls_buf_append(b, p, 1);
		} else {
			char esc[3] = {'%', digits[*p >> 4], digits[*p & 0xf]};

			r = ls_buf_append(b, esc, 3);
		}
	}
	return r;
}

int ls_awsiam_uri_encode(const char *s, bool keep_slash, char **ret)
{
	struct ls_buf b;
	char *out;

	ls_buf_init(&b, 0);
	if (!s || buf_uri_encode(&b, s, keep_slash) < 0 || ls_buf_puts(&b, "") < 0) {
		ls_buf_release(&b);
		return s ? -ENOMEM : -EINVAL;
	}
	out = ls_buf_steal(&b);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* One query parameter, encoded, for sorting. */
struct qparam {
	char *name;
	char *value;
};

static int cmp_qparam(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* One header, name lowercased and value canonical; idx keeps the sort stable. */
struct hparam {
	char *name;
	char *value;
	size_t idx;
};

static int cmp_hparam(const void *a, const void *b)
{
	const struct hparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Trims the value and collapses inner runs of spaces, as SigV4 wants. */
static char *canonical_header_value(const char *v)
{
	size_t n = strlen(v), o = 0;
	char *out = malloc(n + 1);
	bool space = false;

	if (!out)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		out[o++] = *v;
	}
	out[o] = '\0';
	return out;
}

/*
 * The canonical request of req with extra query parameters (the X-Amz-*
 * ones of a presigned request); sets *ret_signed_headers and, when
 * ret_query is not NULL, *ret_query (the canonical query string).
 */
static int canonical(const struct ls_awsiam_request *req, const struct ls_awsiam_param *extra,
		     size_t n_extra, char **ret_creq, char **ret_signed_headers, char **ret_query)
{
	size_t nq = req->n_query + n_extra, nh = req->n_headers;
	struct qparam *q = NULL;
	struct hparam *h = NULL;
	struct ls_buf b, sh, qs;
	int r = -ENOMEM;

	ls_buf_init(&b, 0);
	ls_buf_init(&sh, 0);
	ls_buf_init(&qs, 0);
	if (!req->method || !req->path || (req->n_query && !req->query) ||
	    (req->n_headers && !req->headers))
		return -EINVAL;
	if ((nq && !(q = calloc(nq, sizeof(*q)))) || (nh && !(h = calloc(nh, sizeof(*h)))))
		goto out;
	for (size_t i = 0; i < nq; i++) {
		const struct ls_awsiam_param *p = i < req->n_query ? &req->query[i]
								   : &extra[i - req->n_query];

		if (!p->name) {
			r = -EINVAL;
			goto out;
		}
		if (ls_awsiam_uri_encode(p->name, false, &q[i].name) < 0 ||
		    ls_awsiam_uri_encode(p->value ? p->value : "", false, &q[i].value) < 0)
			goto out;
	}
	if (nq)
		qsort(q, nq, sizeof(*q), cmp_qparam);
	for (size_t i = 0; i < nh; i++) {
		if (!req->headers[i].name || !req->headers[i].value) {
			r = -EINVAL;
			goto out;
		}
		h[i].idx = i;
		h[i].name = strdup(req->headers[i].name);
		h[i].value = canonical_header_value(req->headers[i].value);
		if (!h[i].name || !h[i].value)
			goto out;
		for (char *c = h[i].name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	if (nh)
		qsort(h, nh, sizeof(*h), cmp_hparam);

	if (ls_buf_printf(&b, "%s\n", req->method) < 0)
		goto out;
	if (req->path[0] == '\0' ? ls_buf_puts(&b, "/") < 0
				 : buf_uri_encode(&b, req->path, true) < 0)
		goto out;
	for (size_t i = 0; i < nq; i++)
		if (ls_buf_printf(&qs, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value) < 0)
			goto out;
	if (ls_buf_printf(&b, "\n%s\n", ls_buf_str(&qs)) < 0)
		goto out;
	for (size_t i = 0; i < nh; i++) {
		bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
		bool last = i + 1 == nh || strcmp(h[i].name, h[i + 1].name) != 0;

		/* Repeated names make one line, values joined with ',' in order. */
		if (first && (ls_buf_printf(&b, "%s:", h[i].name) < 0 ||
			      ls_buf_printf(&sh, "%s%s", i ? ";" : "", h[i].name) < 0))
			goto out;
		if (ls_buf_printf(&b, "%s%s%s", first ? "" : ",", h[i].value, last ? "\n" : "") <
		    0)
			goto out;
	}
	if (ls_buf_printf(&b, "\n%s\n%s", ls_buf_str(&sh),
			  req->payload_hash ? req->payload_hash : EMPTY_SHA256) < 0)
		goto out;
	/* Force allocation of empty strings so that steal never returns NULL. */
	if (ls_buf_puts(&sh, "") < 0 || ls_buf_puts(&qs, "") < 0)
		goto out;
	*ret_creq = ls_buf_steal(&b);
	*ret_signed_headers = ls_buf_steal(&sh);
	if (ret_query)
		*ret_query = ls_buf_steal(&qs);
	r = 0;
out:
	for (size_t i = 0; q && i < nq; i++) {
		/* An encoded X-Amz-Security-Token is a secret too. */
		wipe_str(&q[i].value);
		free(q[i].name);
	}
	for (size_t i = 0; h && i < nh; i++) {
		free(h[i].name);
		wipe_str(&h[i].value);
	}
	free(q);
	free(h);
	wipe_buf(&b);
	ls_buf_release(&sh);
	wipe_buf(&qs);
	return r;
}

int ls_awsiam_canonical_request(const struct ls_awsiam_request *req, char **ret)
{
	char *creq = NULL, *sh = NULL;
	int r;

	if (!req)
		return -EINVAL;
	r = canonical(req, NULL, 0, &creq, &sh, NULL);
	if (r < 0)
		return r;
	free(sh);
	*ret = creq;
	return 0;
}

int ls_awsiam_signing_key(const char *secret_access_key, const char *date, const char *region,
			  const char *service, unsigned char ret_key[32])
{
	unsigned char k[32], k2[32];
	struct ls_buf seed;
	int r = -ENOMEM;

	if (!secret_access_key || !date || !region || !service)
		return -EINVAL;
	ls_buf_init(&seed, 0);
	if (ls_buf_printf(&seed, "AWS4%s", secret_access_key) < 0)
		goto out;
	if ((r = hmac((const unsigned char *)seed.data, seed.len, date, k)) < 0 ||
	    (r = hmac(k, sizeof(k), region, k2)) < 0 || (r = hmac(k2, sizeof(k2), service, k)) < 0 ||
	    (r = hmac(k, sizeof(k), "aws4_request", k2)) < 0)
		goto out;
	memcpy(ret_key, k2, sizeof(k2));
out:
	explicit_bzero(k, sizeof(k));
	explicit_bzero(k2, sizeof(k2));
	wipe_buf(&seed);
	return r;
}

/* The parts every signature shares: date, scope, and a check of the arguments. */
struct scope {
	char amz_date[17];
	char date[9];
	char *scope; /* date/region/service/aws4_request */
};

static int scope_init(struct scope *s, const struct ls_awsiam_creds *c, const char *region,
		      const char *service, int64_t time_unix_s, const struct ls_awsiam_request *req)
{
	struct ls_buf b;

	if (!c || !c->access_key_id || !*c->access_key_id || !c->secret_access_key ||
	    !*c->secret_access_key || !region || !*region || !service || !*service || !req ||
	    time_unix_s < 0 || time_unix_s >= MAX_UNIX_S)
		return -EINVAL;
	ls_awsiam_amz_date(time_unix_s, s->amz_date);
	memcpy(s->date, s->amz_date, 8);
	s->date[8] = '\0';
	ls_buf_init(&b, 0);
	if (ls_buf_printf(&b, "%s/%s/%s/aws4_request", s->date, region, service) < 0) {
		ls_buf_release(&b);
		return -ENOMEM;
	}
	s->scope = ls_buf_steal(&b);
	return 0;
}

/* String to sign and signature of a canonical request. */
static int finish(const struct ls_awsiam_creds *c, const char *region, const char *service,
		  const struct scope *s, const char *creq, char **ret_sts, char ret_sig[65])
{
	unsigned char key[32], sig[32];
	char creq_hash[65];
	struct ls_buf b;
	int r;

	sha256_hex(creq, creq_hash);
	ls_buf_init(&b, 0);
	if (ls_buf_printf(&b, ALGORITHM "\n%s\n%s\n%s", s->amz_date, s->scope, creq_hash) < 0) {
		ls_buf_release(&b);
		return -ENOMEM;
	}
	r = ls_awsiam_signing_key(c->secret_access_key, s->date, region, service, key);
	if (r == 0)
		r = hmac(key, sizeof(key), b.data, sig);
	explicit_bzero(key, sizeof(key));
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	hex(sig, sizeof(sig), ret_sig);
	*ret_sts = ls_buf_steal(&b);
	return 0;
}

int ls_awsiam_sign(const struct ls_awsiam_creds *c, const char *region, const char *service,
		   int64_t time_unix_s, const struct ls_awsiam_request *req,
		   struct ls_awsiam_signature *ret)
{
	struct ls_awsiam_signature s = {0};
	struct scope sc = {0};
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	if ((r = scope_init(&sc, c, region, service, time_unix_s, req)) < 0)
		return r;
	if ((r = canonical(req, NULL, 0, &s.canonical_request, &s.signed_headers, NULL)) <
		    0 ||
	    (r = finish(c, region, service, &sc, s.canonical_request, &s.string_to_sign,
			s.signature)) < 0)
		goto out;
	if (ls_buf_printf(&b, ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			  c->access_key_id, sc.scope, s.signed_headers, s.signature) < 0) {
		r = -ENOMEM;
		goto out;
	}
	s.authorization = ls_buf_steal(&b);
	*ret = s;
	memset(&s, 0, sizeof(s));
out:
	ls_awsiam_signature_release(&s);
	ls_buf_release(&b);
	free(sc.scope);
	return r;
}

/* The signed header names of req, sorted and joined with ';'. */
static int signed_header_names(const struct ls_awsiam_request *req, char **ret)
{
	struct ls_awsiam_request names = *req;
	char *creq = NULL;
	int r;

	/* The canonical request computes them; only its side output is kept. */
	names.n_query = 0;
	names.query = NULL;
	r = canonical(&names, NULL, 0, &creq, ret, NULL);
	free(creq);
	return r;
}

int ls_awsiam_presign(const struct ls_awsiam_creds *c, const char *region, const char *service,
		      int64_t time_unix_s, int64_t expires_s, const struct ls_awsiam_request *req,
		      struct ls_awsiam_signature *ret)
{
	struct ls_awsiam_signature s = {0};
	struct scope sc = {0};
	struct ls_buf cred, q;
	char expires[24], *names = NULL, *cquery = NULL;
	struct ls_awsiam_param extra[6];
	size_t n_extra = 0;
	int r;

	ls_buf_init(&cred, 0);
	ls_buf_init(&q, 0);
	if (expires_s < 1 || expires_s > MAX_EXPIRES_S)
		return -EINVAL;
	if ((r = scope_init(&sc, c, region, service, time_unix_s, req)) < 0)
		return r;
	if ((r = signed_header_names(req, &names)) < 0)
		goto out;
	if (ls_buf_printf(&cred, "%s/%s", c->access_key_id, sc.scope) < 0) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(expires, sizeof(expires), "%lld", (long long)expires_s);
	extra[n_extra++] = (struct ls_awsiam_param){"X-Amz-Algorithm", ALGORITHM};
	extra[n_extra++] = (struct ls_awsiam_param){"X-Amz-Credential", cred.data};
	extra[n_extra++] = (struct ls_awsiam_param){"X-Amz-Date", sc.amz_date};
	extra[n_extra++] = (struct ls_awsiam_param){"X-Amz-Expires", expires};
	if (c->session_token && *c->session_token)
		extra[n_extra++] =
			(struct ls_awsiam_param){"X-Amz-Security-Token", c->session_token};
	extra[n_extra++] = (struct ls_awsiam_param){"X-Amz-SignedHeaders", names};
	if ((r = canonical(req, extra, n_extra, &s.canonical_request, &s.signed_headers, &cquery)) < 0 ||
	    (r = finish(c, region, service, &sc, s.canonical_request, &s.string_to_sign,
			s.signature)) < 0)
		goto out;
	if (ls_buf_printf(&q, "%s&X-Amz-Signature=%s", cquery, s.signature) < 0) {
		r = -ENOMEM;
		goto out;
	}
	s.query = ls_buf_steal(&q);
	*ret = s;
	memset(&s, 0, sizeof(s));
out:
	ls_awsiam_signature_release(&s);
	wipe_buf(&q);
	ls_buf_release(&cred);
	wipe_str(&cquery);
	free(names);
	free(sc.scope);
	return r;
}

/* --- the MSK token ------------------------------------------------------------ */

static int base64url(const char *in, size_t n, char **ret)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = (const unsigned char *)in;
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	size_t i;

	if (!out)
		return -ENOMEM;
	for (i = 0; i + 2 < n; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = tab[p[i + 2] & 63];
	}
	/* No padding: the AWS signers strip it (RawURLEncoding). */
	if (n - i == 1) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	*ret = out;
	return 0;
}

int ls_awsiam_msk_token(const struct ls_awsiam_creds *c, const char *region, int64_t now_unix_ms,
			char **ret_token, int64_t *ret_expiry_unix_ms)
{
	const struct ls_awsiam_param query[] = {{"Action", MSK_ACTION}};
	struct ls_awsiam_param headers[1];
	struct ls_awsiam_request req = {0};
	struct ls_awsiam_signature s = {0};
	struct ls_buf host, url;
	char *token = NULL;
	int64_t t = now_unix_ms / 1000;
	int r = -ENOMEM;

	if (!valid_region(region) || now_unix_ms < 0)
		return -EINVAL;
	ls_buf_init(&host, 0);
	ls_buf_init(&url, 0);
	if (ls_buf_printf(&host, "kafka.%s.amazonaws.com", region) < 0)
		goto out;
	headers[0] = (struct ls_awsiam_param){"host", host.data};
	req.method = "GET";
	req.path = "/";
	req.query = query;
	req.n_query = 1;
	req.headers = headers;
	req.n_headers = 1;
	req.payload_hash = NULL; /* the hash of the empty body, as the AWS signers do */
	r = ls_awsiam_presign(c, region, MSK_SERVICE, t, LS_AWSIAM_TOKEN_LIFETIME_S, &req, &s);
	if (r < 0)
		goto out;
	/* The User-Agent goes after the signature, unsigned, as the AWS signers do. */
	if (ls_buf_printf(&url, "https://%s/?%s&User-Agent=", host.data, s.query) < 0 ||
	    buf_uri_encode(&url, MSK_USER_AGENT, false) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = base64url(url.data, url.len, &token)) < 0)
		goto out;
	*ret_token = token;
	*ret_expiry_unix_ms = (t + LS_AWSIAM_TOKEN_LIFETIME_S) * 1000;
out:
	ls_awsiam_signature_release(&s);
	ls_buf_release(&host);
	wipe_buf(&url);
	return r;
}

/*
 * The region of one host (a port allowed), or NULL: the label before
 * ".amazonaws.com" (or ".amazonaws.com.cn") when the label before it is
 * "kafka" or "kafka-serverless". host is lowercased in place.
 */
static const char *host_region(char *host)
{
	static const char *const suffixes[] = {".amazonaws.com.cn", ".amazonaws.com"};
	char *colon = strrchr(host, ':'), *region, *label;
	size_t n;

	if (colon)
		*colon = '\0';
	n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		host[--n] = '\0';
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);

		if (n > sl && strcmp(host + n - sl, suffixes[i]) == 0) {
			host[n - sl] = '\0';
			break;
		}
	}
	if (strlen(host) == n)
		return NULL;
	region = strrchr(host, '.');
	if (!region)
		return NULL;
	*region++ = '\0';
	label = strrchr(host, '.');
	label = label ? label + 1 : host;
	if (strcmp(label, "kafka") != 0 && strcmp(label, "kafka-serverless") != 0)
		return NULL;
	return valid_region(region) ? region : NULL;
}

int ls_awsiam_region_from_host(const char *bootstrap, char **ret_region)
{
	const char *p = bootstrap;

	if (!bootstrap)
		return -EINVAL;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n, *region;
		char host[256];

		/* One host of the list, without the spaces around it. */
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && (size_t)(e - s) < sizeof(host)) {
			memcpy(host, s, (size_t)(e - s));
			host[e - s] = '\0';
			region = host_region(host);
			if (region) {
				char *r = strdup(region);

				if (!r)
					return -ENOMEM;
				*ret_region = r;
				return 0;
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return -ENOENT;
}

/* --- the handle ------------------------------------------------------------- */

enum source {
	SOURCE_STATIC,
	SOURCE_WEB_IDENTITY,
	SOURCE_CONTAINER,
};

/* Credentials as the cache holds them. */
struct creds {
	char *access_key_id;
	char *secret_access_key; /* a secret */
	char *session_token;	 /* a secret; NULL for long-term keys */
	int64_t expiry_ms;	 /* wall ms; 0: never */
};

struct ls_awsiam {
	char *region;
	enum source source;

	/* Web identity. */
	char *token_file;
	char *role_arn;
	char *session_name; /* NULL: "lagscale-<unix seconds>" */
	char *sts_url;

	/* Container credentials. */
	char *container_url;
	char *auth_token_file; /* read at each fetch: the agent rotates it */
	char *auth_token;      /* a secret, from AWS_CONTAINER_AUTHORIZATION_TOKEN */

	pthread_mutex_t mu; /* guards creds and have_creds */
	struct creds creds;
	bool have_creds;
};

static void creds_release(struct creds *c)
{
	free(c->access_key_id);
	wipe_str(&c->secret_access_key);
	wipe_str(&c->session_token);
	memset(c, 0, sizeof(*c));
}

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static int dup_env(const char *name, char **ret)
{
	const char *v = env(name);

	*ret = NULL;
	if (!v)
		return 0;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

/*
 * A container credentials URL is trusted over plain http only on the
 * loopback or the link-local addresses of the ECS and EKS agents, as the
 * AWS SDKs decide: elsewhere the authorization token would travel in the
 * clear.
 */
static int check_container_url(const char *url, char *errbuf, size_t errlen)
{
	static const char *const trusted[] = {"localhost", "[::1]", "::1",
					      "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
					      "fd00:ec2::23"};
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		seterr(errbuf, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0) {
		r = 0;
		goto out;
	}
	if (strcasecmp(scheme, "http") == 0) {
		bool ok = strncmp(host, "127.", 4) == 0;

		for (size_t i = 0; !ok && i < sizeof(trusted) / sizeof(trusted[0]); i++)
			ok = strcasecmp(host, trusted[i]) == 0;
		if (ok) {
			r = 0;
			goto out;
		}
	}
	seterr(errbuf, errlen,
	       "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http on the loopback or the "
	       "EKS/ECS agent address, not \"%s://%s\"",
	       scheme, host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

static int setup_source(struct ls_awsiam *a, char *errbuf, size_t errlen)
{
	const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	struct ls_buf b;
	int r;

	if (akid || secret) {
		if (!akid || !secret) {
			seterr(errbuf, errlen, "%s is set but %s is not",
			       akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			       akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			return -EINVAL;
		}
		a->source = SOURCE_STATIC;
		a->creds.access_key_id = strdup(akid);
		a->creds.secret_access_key = strdup(secret);
		if (dup_env("AWS_SESSION_TOKEN", &a->creds.session_token) < 0 ||
		    !a->creds.access_key_id || !a->creds.secret_access_key)
			return -ENOMEM;
		a->have_creds = true;
		return 0;
	}
	if (token_file || role) {
		if (!token_file || !role) {
			seterr(errbuf, errlen, "%s is set but %s is not",
			       role ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
			       role ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN");
			return -EINVAL;
		}
		a->source = SOURCE_WEB_IDENTITY;
		a->token_file = strdup(token_file);
		a->role_arn = strdup(role);
		if (!a->token_file || !a->role_arn ||
		    dup_env("AWS_ROLE_SESSION_NAME", &a->session_name) < 0 ||
		    dup_env("AWS_ENDPOINT_URL_STS", &a->sts_url) < 0)
			return -ENOMEM;
		if (!a->sts_url) {
			ls_buf_init(&b, 0);
			if (ls_buf_printf(&b, "https://sts.%s.amazonaws.com/", a->region) < 0) {
				ls_buf_release(&b);
				return -ENOMEM;
			}
			a->sts_url = ls_buf_steal(&b);
		}
		return 0;
	}
	if (full || rel) {
		a->source = SOURCE_CONTAINER;
		if (full) {
			a->container_url = strdup(full);
		} else {
			ls_buf_init(&b, 0);
			if (ls_buf_printf(&b, ECS_ENDPOINT "%s%s", rel[0] == '/' ? "" : "/",
					  rel) < 0) {
				ls_buf_release(&b);
				return -ENOMEM;
			}
			a->container_url = ls_buf_steal(&b);
		}
		if (!a->container_url || dup_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
						 &a->auth_token_file) < 0 ||
		    dup_env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &a->auth_token) < 0)
			return -ENOMEM;
		if (full && (r = check_container_url(a->container_url, errbuf, errlen)) < 0)
			return r;
		return 0;
	}
	seterr(errbuf, errlen,
	       "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
	       "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (IRSA), or "
	       "AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity)");
	return -ENOENT;
}

int ls_awsiam_new(const char *region, struct ls_awsiam **ret, char *errbuf, size_t errlen)
{
	struct ls_awsiam *a;
	int r = -ENOMEM;

	if (!region || !*region)
		region = env("AWS_REGION");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region) {
		seterr(errbuf, errlen,
		       "no AWS region: none given, and neither AWS_REGION nor AWS_DEFAULT_REGION "
		       "is set");
		return -EINVAL;
	}
	if (!valid_region(region)) {
		seterr(errbuf, errlen, "\"%s\" is not an AWS region", region);
		return -EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		seterr(errbuf, errlen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		curl_global_cleanup();
		seterr(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->region = strdup(region);
	if (!a->region)
		goto fail;
	r = setup_source(a, errbuf, errlen);
	if (r < 0)
		goto fail;
	ls_log(LS_LOG_DEBUG, NULL, "awsiam: region %s, credentials from %s", a->region,
	       a->source == SOURCE_STATIC	  ? "the environment"
	       : a->source == SOURCE_WEB_IDENTITY ? "web identity (STS)"
						  : "the container credentials endpoint");
	*ret = a;
	return 0;
fail:
	if (r == -ENOMEM)
		seterr(errbuf, errlen, "out of memory");
	ls_awsiam_free(a);
	return r;
}

void ls_awsiam_free(struct ls_awsiam *a)
{
	if (!a)
		return;
	creds_release(&a->creds);
	free(a->region);
	free(a->token_file);
	free(a->role_arn);
	free(a->session_name);
	free(a->sts_url);
	free(a->container_url);
	free(a->auth_token_file);
	wipe_str(&a->auth_token);
	pthread_mutex_destroy(&a->mu);
	free(a);
	curl_global_cleanup();
}

/* --- HTTP ------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct ls_buf *b = ud;

	return ls_buf_append(b, p, size * n) < 0 ? 0 : size * n;
}

/*
 * One request: a POST of the form body post, or a GET when post is NULL,
 * with authorization (a secret) as the Authorization header when not
 * NULL. 0 with *ret_status and the body in b (capped at
 * LS_AWSIAM_MAX_RESPONSE) whatever the status; a negative errno when no
 * answer came, errbuf naming what (who is a description such as "STS").
 */
static int http_request(const char *who, const char *url, const char *post,
			const char *authorization, long *ret_status, struct ls_buf *b,
			char *errbuf, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct ls_buf auth;
	CURL *c = curl_easy_init();
	CURLcode rc;
	long status = 0;
	int r = 0;

	ls_buf_init(&auth, 0);
	if (!c) {
		seterr(errbuf, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	if (authorization) {
		if (ls_buf_printf(&auth, "Authorization: %s", authorization) < 0 ||
		    !(hdrs = curl_slist_append(NULL, auth.data))) {
			r = -ENOMEM;
			seterr(errbuf, errlen, "%s: out of memory", who);
			goto out;
		}
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)LS_AWSIAM_HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, MSK_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	rc = curl_easy_perform(c);
	if (rc == CURLE_WRITE_ERROR) {
		seterr(errbuf, errlen, "%s at %s: the response is larger than %d bytes", who, url,
		       LS_AWSIAM_MAX_RESPONSE);
		r = -E2BIG;
		goto out;
	}
	if (rc != CURLE_OK) {
		/* curl's message names the host and the failure, never the body. */
		seterr(errbuf, errlen, "%s at %s: %s", who, url,
		       curl_err[0] ? curl_err : curl_easy_strerror(rc));
		r = rc == CURLE_OPERATION_TIMEDOUT  ? -ETIMEDOUT
		    : rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
						  : -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
out:
	if (hdrs) {
		/* The slist holds its own copy of the authorization token. */
		for (struct curl_slist *l = hdrs; l; l = l->next)
			explicit_bzero(l->data, strlen(l->data));
		curl_slist_free_all(hdrs);
	}
	wipe_buf(&auth);
	curl_easy_cleanup(c);
	return r;
}

/* Reads a token file (capped, trailing whitespace removed) into b. */
static int read_token_file(const char *what, const char *path, struct ls_buf *b, char *errbuf,
			   size_t errlen)
{
	int r = ls_buf_read_file(b, path);

	if (r == -E2BIG) {
		seterr(errbuf, errlen, "%s \"%s\" is larger than %d bytes", what, path,
		       LS_AWSIAM_MAX_TOKEN_FILE);
		return r;
	}
	if (r < 0) {
		seterr(errbuf, errlen, "cannot read %s \"%s\": %s", what, path, strerror(-r));
		return r;
	}
	while (b->len > 0 && isspace((unsigned char)b->data[b->len - 1]))
		b->data[--b->len] = '\0';
	if (b->len == 0) {
		seterr(errbuf, errlen, "%s \"%s\" is empty", what, path);
		return -EACCES;
	}
	return 0;
}

/* --- STS AssumeRoleWithWebIdentity ----------------------------------------- */

/*
 * The raw text between <tag> and </tag> in [xml, xml + len): the first
 * element of that name, attributes allowed, nested elements kept as they
 * are. false when absent.
 */
static bool xml_element(const char *xml, size_t len, const char *tag, const char **ret_start,
			size_t *ret_len)
{
	size_t tl = strlen(tag);
	const char *end = xml + len, *p = xml;

	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		const char *q = p + 1, *gt, *c;

		if ((size_t)(end - q) > tl && memcmp(q, tag, tl) == 0 &&
		    (q[tl] == '>' || q[tl] == ' ' || q[tl] == '\t' || q[tl] == '\n' ||
		     q[tl] == '\r')) {
			gt = memchr(q + tl, '>', (size_t)(end - q - tl));
			if (!gt || gt[-1] == '/')
				return false;
			/* The matching close tag: STS never nests an element in one of its name. */
			for (c = gt + 1; c + tl + 3 <= end; c++) {
				if (c[0] == '<' && c[1] == '/' && memcmp(c + 2, tag, tl) == 0 &&
				    c[2 + tl] == '>') {
					*ret_start = gt + 1;
					*ret_len = (size_t)(c - gt - 1);
					return true;
				}
			}
			return false;
		}
		p = q;
	}
	return false;
}

/*
 * The text of element tag, entities decoded (the five XML ones and ASCII
 * character references); 0 and *ret, -ENOENT when absent, -EPROTO for
 * markup or an entity this parser does not take, -ENOMEM.
 */
static int xml_text(const char *xml, size_t len, const char *tag, char **ret)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	const char *s;
	size_t n, o = 0;
	char *out;

	if (!xml_element(xml, len, tag, &s, &n))
		return -ENOENT;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<')
			goto bad;
		if (s[i] != '&') {
			out[o++] = s[i];
			continue;
		}
		{
			size_t k, rest = n - i - 1;
			bool found = false;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].name);

				if (rest >= el && memcmp(s + i + 1, ents[k].name, el) == 0) {
					out[o++] = ents[k].c;
					i += el;
					found = true;
					break;
				}
			}
			if (!found && rest >= 3 && s[i + 1] == '#') {
				/* &#NN; or &#xNN;, printable ASCII only. */
				bool hx = s[i + 2] == 'x';
				size_t j = i + (hx ? 3 : 2);
				unsigned v = 0;

				while (j < n && j < i + 8 && isxdigit((unsigned char)s[j])) {
					int d = isdigit((unsigned char)s[j])
							? s[j] - '0'
							: tolower((unsigned char)s[j]) - 'a' + 10;

					if (!hx && d > 9)
						goto bad;
					v = v * (hx ? 16 : 10) + (unsigned)d;
					j++;
				}
				if (j < n && s[j] == ';' && j > i + (hx ? 3 : 2) && v >= 0x20 &&
				    v < 0x7f) {
					out[o++] = (char)v;
					i = j;
					found = true;
				}
			}
			if (!found)
				goto bad;
		}
	}
	out[o] = '\0';
	*ret = out;
	return 0;
bad:
	explicit_bzero(out, n + 1);
	free(out);
	return -EPROTO;
}

/* The credentials of a successful AssumeRoleWithWebIdentity response. */
static int parse_sts_credentials(const char *xml, size_t len, struct creds *ret, char *errbuf,
				 size_t errlen)
{
	static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
					    "Expiration"};
	char *v[4] = {NULL, NULL, NULL, NULL};
	const char *cs;
	size_t cl;
	int64_t exp;
	int r = -EPROTO;

	if (!xml_element(xml, len, "AssumeRoleWithWebIdentityResult", &cs, &cl) ||
	    !xml_element(cs, cl, "Credentials", &cs, &cl)) {
		seterr(errbuf, errlen, "no Credentials element in the response");
		return -EPROTO;
	}
	for (size_t i = 0; i < 4; i++) {
		r = xml_text(cs, cl, names[i], &v[i]);
		if (r == -ENOMEM)
			goto out;
		if (r < 0 || !v[i][0]) {
			seterr(errbuf, errlen, "%s is %s in the response", names[i],
			       r == -ENOENT ? "missing" : r < 0 ? "malformed" : "empty");
			r = -EPROTO;
			goto out;
		}
	}
	if (ls_clock_parse_rfc3339(v[3], &exp) < 0 || exp <= 0) {
		seterr(errbuf, errlen, "Expiration \"%.40s\" is not an RFC 3339 time", v[3]);
		r = -EPROTO;
		goto out;
	}
	ret->access_key_id = v[0];
	ret->secret_access_key = v[1];
	ret->session_token = v[2];
	ret->expiry_ms = exp;
	v[0] = v[1] = v[2] = NULL;
	r = 0;
out:
	free(v[0]);
	wipe_str(&v[1]);
	wipe_str(&v[2]);
	free(v[3]);
	return r;
}

/* Maps an HTTP error status to an errno. */
static int status_errno(long status)
{
	if (status == 400 || status == 401 || status == 403)
		return -EACCES;
	if (status == 404)
		return -ENOENT;
	return -EIO;
}

static int fetch_web_identity(struct ls_awsiam *a, int64_t now_ms, struct creds *ret,
			      char *errbuf, size_t errlen)
{
	struct ls_buf tok, form, resp;
	char sess[64], why[512] = "";
	const char *session = a->session_name;
	long status = 0;
	int r;

	ls_buf_init(&tok, LS_AWSIAM_MAX_TOKEN_FILE);
	ls_buf_init(&form, 0);
	ls_buf_init(&resp, LS_AWSIAM_MAX_RESPONSE);
	r = read_token_file("the web identity token file", a->token_file, &tok, errbuf, errlen);
	if (r < 0)
		goto out;
	if (!session) {
		/* STS wants a name; the AWS SDKs make one up from the time as well. */
		snprintf(sess, sizeof(sess), "lagscale-%lld", (long long)(now_ms / 1000));
		session = sess;
	}
	r = -ENOMEM;
	if (ls_buf_puts(&form, "Action=AssumeRoleWithWebIdentity&Version=" STS_VERSION
			       "&RoleArn=") < 0 ||
	    buf_uri_encode(&form, a->role_arn, false) < 0 ||
	    ls_buf_puts(&form, "&RoleSessionName=") < 0 ||
	    buf_uri_encode(&form, session, false) < 0 ||
	    ls_buf_puts(&form, "&WebIdentityToken=") < 0 ||
	    buf_uri_encode(&form, tok.data, false) < 0) {
		seterr(errbuf, errlen, "out of memory");
		goto out;
	}
	r = http_request("STS AssumeRoleWithWebIdentity", a->sts_url, form.data, NULL, &status,
			 &resp, errbuf, errlen);
	if (r < 0)
		goto out;
	if (status == 200) {
		r = parse_sts_credentials(resp.data ? resp.data : "", resp.len, ret, why,
					  sizeof(why));
		if (r < 0)
			seterr(errbuf, errlen,
			       "STS AssumeRoleWithWebIdentity for role \"%s\" at %s: %s",
			       a->role_arn, a->sts_url, why);
		goto out;
	}
	{
		char *code = NULL, *msg = NULL;
		const char *body = resp.data ? resp.data : "";

		/* <ErrorResponse><Error><Code>AccessDenied</Code><Message>...</Message>. */
		if (xml_text(body, resp.len, "Code", &code) < 0)
			code = NULL;
		if (xml_text(body, resp.len, "Message", &msg) < 0)
			msg = NULL;
		seterr(errbuf, errlen,
		       "STS AssumeRoleWithWebIdentity for role \"%s\" at %s: HTTP %ld%s%s%s%.300s",
		       a->role_arn, a->sts_url, status, code ? " " : "", code ? code : "",
		       msg ? ": " : "", msg ? msg : "");
		free(code);
		free(msg);
		/* STS does not quote the token back, but a proxy in between might. */
		ls_log_scrub(errbuf, errlen, tok.data);
		r = status_errno(status);
	}
out:
	wipe_buf(&tok);
	wipe_buf(&form);
	wipe_buf(&resp);
	return r;
}

/* --- container credentials (EKS Pod Identity, ECS) ------------------------- */

static int parse_container_credentials(const char *json, size_t len, struct creds *ret,
				       char *errbuf, size_t errlen)
{
	static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "Token",
					    "Expiration"};
	const char *v[4];
	cJSON *root = cJSON_ParseWithLength(json, len);
	struct creds c = {0};
	int r = -EPROTO;

	if (!cJSON_IsObject(root)) {
		seterr(errbuf, errlen, "the response is not a JSON object");
		goto out;
	}
	for (size_t i = 0; i < 4; i++) {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, names[i]);

		v[i] = cJSON_IsString(item) ? item->valuestring : NULL;
		/* Token and Expiration may be absent for long-term keys. */
		if (i < 2 && (!v[i] || !v[i][0])) {
			seterr(errbuf, errlen, "%s is missing in the response", names[i]);
			goto out;
		}
	}
	if (v[3] && (ls_clock_parse_rfc3339(v[3], &c.expiry_ms) < 0 || c.expiry_ms <= 0)) {
		seterr(errbuf, errlen, "Expiration \"%.40s\" is not an RFC 3339 time", v[3]);
		goto out;
	}
	r = -ENOMEM;
	c.access_key_id = strdup(v[0]);
	c.secret_access_key = strdup(v[1]);
	c.session_token = v[2] && v[2][0] ? strdup(v[2]) : NULL;
	if (!c.access_key_id || !c.secret_access_key || (v[2] && v[2][0] && !c.session_token)) {
		seterr(errbuf, errlen, "out of memory");
		creds_release(&c);
		goto out;
	}
	*ret = c;
	r = 0;
out:
	if (root) {
		/* Wipe the secrets cJSON copied before freeing. */
		for (size_t i = 1; i < 3; i++) {
			cJSON *item = cJSON_GetObjectItemCaseSensitive(root, names[i]);

			if (cJSON_IsString(item) && item->valuestring)
				explicit_bzero(item->valuestring, strlen(item->valuestring));
		}
		cJSON_Delete(root);
	}
	return r;
}

static int fetch_container(struct ls_awsiam *a, struct creds *ret, char *errbuf, size_t errlen)
{
	struct ls_buf tok, resp;
	const char *auth = a->auth_token;
	char why[256];
	long status = 0;
	int r = 0;

	ls_buf_init(&tok, LS_AWSIAM_MAX_TOKEN_FILE);
	ls_buf_init(&resp, LS_AWSIAM_MAX_RESPONSE);
	if (a->auth_token_file) {
		r = read_token_file("the container authorization token file", a->auth_token_file,
				    &tok, errbuf, errlen);
		if (r < 0)
			goto out;
		auth = tok.data;
	}
	r = http_request("the container credentials endpoint", a->container_url, NULL, auth,
			 &status, &resp, errbuf, errlen);
	if (r < 0)
		goto out;
	if (status != 200) {
		cJSON *root = cJSON_ParseWithLength(resp.data ? resp.data : "", resp.len);
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");

		seterr(errbuf, errlen, "the container credentials endpoint %s: HTTP %ld%s%.300s",
		       a->container_url, status, cJSON_IsString(m) ? ": " : "",
		       cJSON_IsString(m) ? m->valuestring : "");
		cJSON_Delete(root);
		if (auth)
			ls_log_scrub(errbuf, errlen, auth);
		r = status_errno(status);
		goto out;
	}
	r = parse_container_credentials(resp.data ? resp.data : "", resp.len, ret, why,
					sizeof(why));
	if (r < 0)
		seterr(errbuf, errlen, "the container credentials endpoint %s: %s",
		       a->container_url, why);
out:
	wipe_buf(&tok);
	wipe_buf(&resp);
	return r;
}

/* --- tokens ------------------------------------------------------------------- */

/* Makes sure a->creds are usable at now_ms; call with a->mu held. */
static int ensure_creds(struct ls_awsiam *a, int64_t now_ms, char *errbuf, size_t errlen)
{
	struct creds fresh = {0};
	char rfc[40];
	int r;

	if (a->source == SOURCE_STATIC)
		return 0;
	if (a->have_creds && a->creds.expiry_ms == 0)
		return 0;
	if (a->have_creds && now_ms < a->creds.expiry_ms - LS_AWSIAM_REFRESH_MARGIN_MS)
		return 0;
	r = a->source == SOURCE_WEB_IDENTITY ? fetch_web_identity(a, now_ms, &fresh, errbuf, errlen)
					     : fetch_container(a, &fresh, errbuf, errlen);
	if (r < 0) {
		if (a->have_creds && now_ms < a->creds.expiry_ms) {
			/* The old credentials have some life left: use it, try again next time. */
			ls_log(LS_LOG_DEBUG, NULL,
			       "awsiam: cannot renew credentials, keeping the current ones: %s",
			       errbuf);
			return 0;
		}
		return r;
	}
	if (fresh.expiry_ms != 0 && fresh.expiry_ms <= now_ms) {
		seterr(errbuf, errlen, "the credentials %s returned expired at %s",
		       a->source == SOURCE_WEB_IDENTITY ? "STS" : "the container endpoint",
		       ls_clock_rfc3339(fresh.expiry_ms, rfc, sizeof(rfc)));
		creds_release(&fresh);
		return -EPROTO;
	}
	ls_log(LS_LOG_DEBUG, NULL, "awsiam: new credentials from %s, valid until %s",
	       a->source == SOURCE_WEB_IDENTITY ? "STS" : "the container endpoint",
	       fresh.expiry_ms ? ls_clock_rfc3339(fresh.expiry_ms, rfc, sizeof(rfc)) : "revoked");
	creds_release(&a->creds);
	a->creds = fresh;
	a->have_creds = true;
	return 0;
}

int ls_awsiam_token(struct ls_awsiam *a, int64_t now_unix_ms, char **ret_token,
		    int64_t *ret_expiry_unix_ms, char **ret_principal, char *errbuf, size_t errlen)
{
	struct ls_awsiam_creds c;
	char *token = NULL, *principal = NULL, why[768] = "";
	int64_t expiry = 0;
	int r;

	if (!a || !ret_token || !ret_expiry_unix_ms || !ret_principal) {
		seterr(errbuf, errlen, "invalid argument");
		return -EINVAL;
	}
	pthread_mutex_lock(&a->mu);
	/* A buffer of its own: errbuf may be NULL, and the debug log quotes it. */
	r = ensure_creds(a, now_unix_ms, why, sizeof(why));
	if (r < 0) {
		seterr(errbuf, errlen, "%s", why);
		goto out;
	}
	c.access_key_id = a->creds.access_key_id;
	c.secret_access_key = a->creds.secret_access_key;
	c.session_token = a->creds.session_token;
	r = ls_awsiam_msk_token(&c, a->region, now_unix_ms, &token, &expiry);
	if (r < 0) {
		seterr(errbuf, errlen, "cannot sign the MSK token: %s", strerror(-r));
		goto out;
	}
	/* A token cannot outlive the credentials that signed it. */
	if (a->creds.expiry_ms && a->creds.expiry_ms < expiry)
		expiry = a->creds.expiry_ms;
	principal = strdup(MSK_PRINCIPAL);
	if (!principal) {
		seterr(errbuf, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	*ret_token = token;
	*ret_expiry_unix_ms = expiry;
	*ret_principal = principal;
	token = NULL;
out:
	pthread_mutex_unlock(&a->mu);
	wipe_str(&token);
	return r;
}

void ls_awsiam_refresh(struct ls_awsiam *a, rd_kafka_t *rk)
{
	char err[768], rderr[256];
	char *token = NULL, *principal = NULL;
	int64_t expiry = 0;
	int r;

	r = ls_awsiam_token(a, ls_clock_wall_ms(), &token, &expiry, &principal, err, sizeof(err));
	if (r < 0) {
		ls_log(LS_LOG_DEBUG, NULL, "awsiam: no MSK IAM token: %s", err);
		rd_kafka_oauthbearer_set_token_failure(rk, err);
		return;
	}
	if (rd_kafka_oauthbearer_set_token(rk, token, expiry, principal, NULL, 0, rderr,
					   sizeof(rderr)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, sizeof(err), "librdkafka refused the MSK IAM token: %s", rderr);
		ls_log(LS_LOG_DEBUG, NULL, "awsiam: %s", err);
		rd_kafka_oauthbearer_set_token_failure(rk, err);
	}
	wipe_str(&token);
	free(principal);
}

void ls_awsiam_refresh_cb(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque)
{
	(void)oauthbearer_config;
	ls_awsiam_refresh(opaque, rk);
}

int ls_awsiam_configure(struct ls_awsiam *a, rd_kafka_conf_t *conf,
			void (*refresh_cb)(rd_kafka_t *rk, const char *oauthbearer_config,
					   void *opaque),
			char *errbuf, size_t errlen)
{
	static const struct ls_awsiam_param props[] = {
		{"security.protocol", "SASL_SSL"},
		{"sasl.mechanism", "OAUTHBEARER"},
	};
	char rderr[256];

	if (!a || !conf) {
		seterr(errbuf, errlen, "invalid argument");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		if (rd_kafka_conf_set(conf, props[i].name, props[i].value, rderr, sizeof(rderr)) !=
		    RD_KAFKA_CONF_OK) {
			seterr(errbuf, errlen, "property \"%s\": %s", props[i].name, rderr);
			return -EINVAL;
		}
	}
	if (!refresh_cb) {
		refresh_cb = ls_awsiam_refresh_cb;
		rd_kafka_conf_set_opaque(conf, a);
	}
	rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, refresh_cb);
	return 0;
}
