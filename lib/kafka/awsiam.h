/*
 * awsiam.h - AWS MSK IAM authentication: the SASL/OAUTHBEARER token an
 * Amazon MSK broker accepts on its IAM listener (port 9098), the AWS
 * credentials it is signed with, and the glue to librdkafka's token
 * refresh callback.
 *
 * Three layers, from the bottom:
 *
 *   1. SigV4 (AWS Signature Version 4), pure functions over OpenSSL's
 *      HMAC-SHA256 and SHA-256: canonical request, string to sign, signing
 *      key, signature; header signing and query-string presigning. The
 *      time is always an argument, the wall clock is never read.
 *
 *   2. The MSK token, as AWS's aws-msk-iam-sasl-signer libraries (Go,
 *      Python, JavaScript) make it: a presigned
 *        GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect
 *      for service "kafka-cluster", X-Amz-Expires=900, signed headers
 *      "host", the session token (if any) signed as X-Amz-Security-Token,
 *      then a User-Agent query parameter appended after signing, and the
 *      whole URL encoded as base64url without padding. Pure as well.
 *
 *   3. A handle (struct ls_awsiam) that finds credentials the way the AWS
 *      SDKs' default chain does, in this order:
 *        a. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *        b. web identity (EKS IRSA): AWS_WEB_IDENTITY_TOKEN_FILE +
 *           AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), exchanged with STS
 *           AssumeRoleWithWebIdentity at https://sts.<region>.amazonaws.com,
 *           or at AWS_ENDPOINT_URL_STS when set;
 *        c. container credentials (EKS Pod Identity, ECS):
 *           AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI) with
 *           AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or _TOKEN);
 *      caches temporary credentials and fetches new ones
 *      LS_AWSIAM_REFRESH_MARGIN_MS before they expire.
 *
 * Secrets: the secret access key, the session token, the web identity
 * token and the container authorization token never appear in an error
 * message or a log line; the memory that held them is wiped when freed.
 * lib/ logs at debug level only: which source gave credentials and until
 * when.
 */
#ifndef LS_KAFKA_AWSIAM_H
#define LS_KAFKA_AWSIAM_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The lifetime of an MSK token, as the AWS signers set it (X-Amz-Expires). */
#define LS_AWSIAM_TOKEN_LIFETIME_S 900
/* Temporary credentials are renewed this long before they expire. */
#define LS_AWSIAM_REFRESH_MARGIN_MS (5 * 60 * 1000)
/* The largest STS or container-credentials response accepted. */
#define LS_AWSIAM_MAX_RESPONSE (64 * 1024)
/* The largest web identity or authorization token file accepted. */
#define LS_AWSIAM_MAX_TOKEN_FILE (64 * 1024)
/* The whole STS or container-credentials request, connection included. */
#define LS_AWSIAM_HTTP_TIMEOUT_MS 10000

/* --- SigV4 ------------------------------------------------------------------ */

/* A query parameter or a header: name and value as they are, unencoded. */
struct ls_awsiam_param {
	const char *name;
	const char *value;
};

struct ls_awsiam_creds {
	const char *access_key_id;
	const char *secret_access_key; /* a secret */
	const char *session_token;     /* a secret; NULL or "" for long-term keys */
};

/*
 * One HTTP request to sign. path is the absolute path, unencoded ("/" or
 * "/example space/"); it is URI-encoded once, segment by segment, and not
 * normalised. Query names and values are unencoded too. headers are the
 * ones to sign, names in any case: header signing signs all of them, so
 * the caller includes "host" and "x-amz-date" (and "x-amz-security-token"
 * when the service wants it signed); presigning usually passes just
 * "host". payload_hash is the lowercase hex SHA-256 of the body, or a
 * marker such as "UNSIGNED-PAYLOAD"; NULL means the hash of an empty body.
 */
struct ls_awsiam_request {
	const char *method;
	const char *path;
	const struct ls_awsiam_param *query;
	size_t n_query;
	const struct ls_awsiam_param *headers;
	size_t n_headers;
	const char *payload_hash;
};

/* A signature and every intermediate step, for callers and for tests. */
struct ls_awsiam_signature {
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers; /* "host;x-amz-date" */
	char *authorization;  /* ls_awsiam_sign: the Authorization header's value */
	char *query;	      /* ls_awsiam_presign: the canonical query and &X-Amz-Signature=... */
	char signature[65];   /* lowercase hex */
};

/* Frees what s holds and zeroes it; NULL-safe. */
void ls_awsiam_signature_release(struct ls_awsiam_signature *s);

/* "20150830T123600Z" for a Unix time (UTC); ret must hold 17 bytes. A time
 * before 1970 or after 9999 gives "". */
void ls_awsiam_amz_date(int64_t unix_s, char *ret);

/*
 * URI-encodes s the SigV4 way: every byte but A-Z a-z 0-9 - _ . ~ becomes
 * %XY (uppercase hex); '/' too unless keep_slash. 0 and *ret (the caller
 * frees it); -EINVAL for NULL, -ENOMEM.
 */
int ls_awsiam_uri_encode(const char *s, bool keep_slash, char **ret);

/*
 * The canonical request of req: method, encoded path, sorted encoded
 * query, canonical headers (lowercased names, trimmed values with inner
 * runs of spaces collapsed, repeated names joined with ','), signed
 * headers, payload hash. 0 and *ret (the caller frees it); -EINVAL for a
 * request without method or path, -ENOMEM.
 */
int ls_awsiam_canonical_request(const struct ls_awsiam_request *req, char **ret);

/*
 * The signing key: HMAC chain over "AWS4" + secret, date ("20150830"),
 * region, service and "aws4_request". 0 and ret_key filled; -EINVAL when
 * an argument is missing, -EIO when libcrypto fails.
 */
int ls_awsiam_signing_key(const char *secret_access_key, const char *date, const char *region,
			  const char *service, unsigned char ret_key[32]);

/*
 * Header signing at time_unix_s: fills ret (canonical request, string to
 * sign, signed headers, signature, Authorization value). The request is
 * signed as given; x-amz-date and the session token are not added (see
 * struct ls_awsiam_request). 0, or -EINVAL (missing credentials, region,
 * service, method or path), -ENOMEM, -EIO; *ret untouched on failure. The
 * caller releases ret with ls_awsiam_signature_release().
 */
int ls_awsiam_sign(const struct ls_awsiam_creds *c, const char *region, const char *service,
		   int64_t time_unix_s, const struct ls_awsiam_request *req,
		   struct ls_awsiam_signature *ret);

/*
 * Query-string presigning at time_unix_s: adds X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires (expires_s, 1 to 604800),
 * X-Amz-SignedHeaders and, when c has a session token,
 * X-Amz-Security-Token to req's query, signs, and fills ret, ret->query
 * being the whole query string to put after '?' (X-Amz-Signature last).
 * Same errors as ls_awsiam_sign, and -EINVAL for an expires_s out of range.
 */
int ls_awsiam_presign(const struct ls_awsiam_creds *c, const char *region, const char *service,
		      int64_t time_unix_s, int64_t expires_s, const struct ls_awsiam_request *req,
		      struct ls_awsiam_signature *ret);

/* --- the MSK token ------------------------------------------------------------ */

/*
 * The MSK IAM token for region, signed with c at now_unix_ms (truncated to
 * the second, as X-Amz-Date is). 0, *ret_token (base64url without
 * padding; the caller frees it) and *ret_expiry_unix_ms = signing time +
 * LS_AWSIAM_TOKEN_LIFETIME_S; -EINVAL (bad region or credentials),
 * -ENOMEM, -EIO; nothing set on failure. Thread-safe (pure).
 */
int ls_awsiam_msk_token(const struct ls_awsiam_creds *c, const char *region, int64_t now_unix_ms,
			char **ret_token, int64_t *ret_expiry_unix_ms);

/*
 * The region of an MSK broker: the first host of bootstrap (a
 * comma-separated host:port list) shaped like
 *   b-1.cluster.abc123.c2.kafka.<region>.amazonaws.com[:port]
 *   boot-abc.c1.kafka-serverless.<region>.amazonaws.com[:port]
 * (".amazonaws.com.cn" as well). 0 and *ret_region (the caller frees it);
 * -ENOENT when no host names a region, -EINVAL for NULL, -ENOMEM.
 */
int ls_awsiam_region_from_host(const char *bootstrap, char **ret_region);

/* --- the handle ------------------------------------------------------------- */

struct ls_awsiam;

/*
 * Makes a handle for region (NULL or "": AWS_REGION, then
 * AWS_DEFAULT_REGION). Reads the environment now and picks the credential
 * source (see the top of this file); no network I/O happens here, and a
 * file named by the environment is read when credentials are first
 * needed. Returns 0 and *ret; -EINVAL when the region is missing or
 * malformed or a source is half-configured (e.g. AWS_ROLE_ARN without
 * AWS_WEB_IDENTITY_TOKEN_FILE), -ENOENT when no source is configured,
 * -ENOMEM. errbuf says which variable is missing, never a value.
 */
int ls_awsiam_new(const char *region, struct ls_awsiam **ret, char *errbuf, size_t errlen);

/* Wipes and frees; NULL-safe. */
void ls_awsiam_free(struct ls_awsiam *a);

/*
 * An MSK token signed at now_unix_ms, with credentials fetched or
 * renewed first when there are none or they expire within
 * LS_AWSIAM_REFRESH_MARGIN_MS. A failed renewal falls back on the cached
 * credentials while they are still valid. The token expires at signing
 * time + LS_AWSIAM_TOKEN_LIFETIME_S, or when its credentials expire if
 * that is sooner (a token outliving its credentials is refused).
 *
 * Returns 0 and *ret_token, *ret_expiry_unix_ms, *ret_principal (the
 * caller frees the strings; the principal is the constant "aws-msk-iam":
 * MSK takes the identity from the signature). On failure nothing is set
 * and errbuf names the cause (file, variable, HTTP status, STS error code
 * and message), never a secret: -ENOENT (a token file is missing),
 * -E2BIG (a file or response over its cap), -EACCES (STS or the
 * container endpoint refused), -EPROTO (a response without credentials),
 * -ETIMEDOUT, -ECONNREFUSED, -EIO, -ENOMEM.
 *
 * Thread-safe: a mutex guards the credential cache, so librdkafka's
 * thread and the caller's may call it at the same time (one of them
 * waits while the other talks to STS).
 */
int ls_awsiam_token(struct ls_awsiam *a, int64_t now_unix_ms, char **ret_token,
		    int64_t *ret_expiry_unix_ms, char **ret_principal, char *errbuf, size_t errlen);

/*
 * What librdkafka's token refresh callback does: ls_awsiam_token() at the
 * wall-clock time, then rd_kafka_oauthbearer_set_token() (no extensions),
 * or rd_kafka_oauthbearer_set_token_failure() with a message naming the
 * cause. Call it from a callback of your own when rk's opaque is yours.
 * Thread-safe.
 */
void ls_awsiam_refresh(struct ls_awsiam *a, rd_kafka_t *rk);

/* A refresh callback for a handle whose opaque is the struct ls_awsiam. */
void ls_awsiam_refresh_cb(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque);

/*
 * Sets conf up for MSK IAM: security.protocol=SASL_SSL,
 * sasl.mechanism=OAUTHBEARER, and a token refresh callback: refresh_cb,
 * or, when it is NULL, ls_awsiam_refresh_cb with a as conf's opaque.
 * Properties set after this call win, so call it before applying user
 * overrides. librdkafka runs the callback from rd_kafka_poll() and
 * friends; a client that does not poll its main queue must call
 * rd_kafka_sasl_background_callbacks_enable() on the new rd_kafka_t.
 * Returns 0, or -EINVAL when librdkafka refuses a property (errbuf says
 * which).
 */
int ls_awsiam_configure(struct ls_awsiam *a, rd_kafka_conf_t *conf,
			void (*refresh_cb)(rd_kafka_t *rk, const char *oauthbearer_config,
					   void *opaque),
			char *errbuf, size_t errlen);

#endif
