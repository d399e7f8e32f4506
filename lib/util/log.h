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
 * properties, URLs with credentials) go through ls_log_redact_value() first.
 */
#ifndef LS_UTIL_LOG_H
#define LS_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
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
 * message. In json format: {"time":..,"level":..,"scaler":..,"msg":..}.
 */
void ls_log(enum ls_log_level level, const char *scaler, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ls_logv(enum ls_log_level level, const char *scaler, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define LS_DEBUG(...) ls_log(LS_LOG_DEBUG, NULL, __VA_ARGS__)
#define LS_INFO(...)  ls_log(LS_LOG_INFO, NULL, __VA_ARGS__)
#define LS_WARN(...)  ls_log(LS_LOG_WARN, NULL, __VA_ARGS__)
#define LS_ERROR(...) ls_log(LS_LOG_ERROR, NULL, __VA_ARGS__)

/*
 * True when a key names a secret: it contains "password", "secret",
 * "token", "key" (but not "key.location"-style paths are still treated as
 * secrets' locations and shown) or "credential", case-insensitively.
 */
bool ls_log_key_is_secret(const char *key);

/* Returns value, or "[redacted]" when key names a secret. */
const char *ls_log_redact_value(const char *key, const char *value);

#endif
