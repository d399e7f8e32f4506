/*
 * log.h - one line per event, for people (text) or collectors (json).
 *
 * lib/ code logs at debug level only and returns errors; the caller that
 * decides what to do logs once (DESIGN.md section 3). The logger is process
 * wide: configure it once at start (and again on reload) from the main
 * thread; ls_log() itself may be called from any thread, each line is
 * written with a single write so lines never interleave.
 *
 * Secrets: never pass one in. Values that may hold one (librdkafka
 * properties, URLs with credentials) go through ls_log_redact_value() first,
 * and a library's message about a property through ls_log_redact_message():
 * both decide by the key, never by searching the text for the value.
 */
#ifndef LS_UTIL_LOG_H
#define LS_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum ls_log_level { LS_LOG_DEBUG = 0, LS_LOG_INFO, LS_LOG_WARN, LS_LOG_ERROR };
enum ls_log_format { LS_LOG_TEXT = 0, LS_LOG_JSON };

/* Sets the threshold, the format and the stream (NULL: stderr). */
void ls_log_setup(enum ls_log_level level, enum ls_log_format format, FILE *stream);

/* Returns 0 and sets *ret_level for "debug", "info", "warn", "error";
 * -EINVAL otherwise. */
int ls_log_level_parse(const char *s, enum ls_log_level *ret_level);
int ls_log_format_parse(const char *s, enum ls_log_format *ret_format);
bool ls_log_enabled(enum ls_log_level level);

/*
 * Writes one line: RFC 3339 time, level, the scaler (NULL for none) and the
 * message. In json format: {"time":..,"level":..,"scaler":..,"message":..}
 * ("scaler" only when there is one).
 */
void ls_log(enum ls_log_level level, const char *scaler, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ls_logv(enum ls_log_level level, const char *scaler, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* A key and a value to log beside the message. */
struct ls_log_field {
	const char *key;
	const char *value; /* NULL logs as null (json) or - (text) */
};

/*
 * ls_log with n fields: in json a "fields" object after "message"
 * ({"time":..,"level":..,"scaler":..,"message":..,"fields":{"k":"v"}}), in
 * text ` k="v"` pairs after the message (quotes, backslashes and newlines
 * escaped). The value of every key ls_log_key_is_secret() names is written
 * as "[redacted]", so configuration and librdkafka properties can be
 * logged as they are.
 */
void ls_log_fields(enum ls_log_level level, const char *scaler, const struct ls_log_field *fields,
		   size_t n, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define LS_DEBUG(...) ls_log(LS_LOG_DEBUG, NULL, __VA_ARGS__)
#define LS_INFO(...)  ls_log(LS_LOG_INFO, NULL, __VA_ARGS__)
#define LS_WARN(...)  ls_log(LS_LOG_WARN, NULL, __VA_ARGS__)
#define LS_ERROR(...) ls_log(LS_LOG_ERROR, NULL, __VA_ARGS__)

/*
 * True when a key names a secret: it contains "password", "secret",
 * "token", "key", "credential", "pem" or "sasl.oauthbearer.config",
 * case-insensitively (sasl.password, ssl.key.password, ssl.key.pem,
 * sasl.oauthbearer.client.secret, token), unless it names a file
 * ("location", "path", "file": ssl.key.location is shown).
 */
bool ls_log_key_is_secret(const char *key);

/* Returns value, or "[redacted]" when key names a secret. */
const char *ls_log_redact_value(const char *key, const char *value);

/*
 * A library's message about the property key (librdkafka's "Invalid value
 * for configuration property \"K\": VALUE", "Unrecognized K beginning at:
 * VALUE"): when key names a secret (ls_log_key_is_secret), the message is
 * cut, in place, right after the first mention of the key (and its closing
 * quote), where such messages quote the value, and " (the value is not
 * shown: it is a secret)" is appended, within size. A message that does not
 * mention the key is left alone, as is every message about a key that is
 * not secret. For messages that quote a value after the key they name
 * (librdkafka's, from a callback or a failed rd_kafka_new); one that may
 * quote it before is to be replaced whole when the key is secret.
 * Redaction is by key, never by looking for the secret's value
 * in the text: a short password ("p") must not turn "property" into
 * "[redacted]ro[redacted]erty". Returns true when msg was cut.
 */
bool ls_log_redact_message(char *msg, size_t size, const char *key);

/*
 * Replaces, in place, every occurrence of secret in the NUL-terminated text
 * (of buffer size size) with "[redacted]", truncating at size if need be.
 * Only for credentials that lagscale obtained at run time (tokens of
 * hundreds of bytes) and that a remote server's free text may quote back,
 * where no key says where the secret is. Never for configured values,
 * which may be as short as one letter: those are redacted by key
 * (ls_log_redact_value, ls_log_redact_message). An empty or NULL secret
 * changes nothing.
 */
void ls_log_scrub(char *text, size_t size, const char *secret);

#endif
