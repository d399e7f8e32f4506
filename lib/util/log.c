/* log.c - see log.h. */
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"

static enum ls_log_level g_level = LS_LOG_INFO;
static enum ls_log_format g_format = LS_LOG_TEXT;
static FILE *g_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ls_log_setup(enum ls_log_level level, enum ls_log_format format, FILE *stream)
{
	g_level = level;
	g_format = format;
	g_stream = stream;
}

int ls_log_level_parse(const char *s, enum ls_log_level *ret_level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret_level = (enum ls_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int ls_log_format_parse(const char *s, enum ls_log_format *ret_format)
{
	if (strcmp(s, "text") == 0)
		*ret_format = LS_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*ret_format = LS_LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

bool ls_log_enabled(enum ls_log_level level)
{
	return level >= g_level;
}

/* Appends s as a double-quoted value for the text format. */
static void text_quote(struct ls_buf *b, const char *s)
{
	ls_buf_puts(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			ls_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			ls_buf_puts(b, "\\n");
		else
			ls_buf_append(b, p, 1);
	}
	ls_buf_puts(b, "\"");
}

static void log_line(enum ls_log_level level, const char *scaler, const struct ls_log_field *fields,
		     size_t n_fields, const char *fmt, va_list ap)
{
	struct ls_buf line, msg;
	char ts[40];
	FILE *out = g_stream ? g_stream : stderr;

	if (!ls_log_enabled(level))
		return;
	ls_buf_init(&line, 0);
	ls_buf_init(&msg, 0);
	ls_clock_rfc3339(ls_clock_wall_ms(), ts, sizeof(ts));
	if (ls_buf_vprintf(&msg, fmt, ap) < 0)
		goto out;
	if (g_format == LS_LOG_JSON) {
		ls_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
		if (scaler) {
			ls_buf_puts(&line, ",\"scaler\":");
			ls_buf_json_string(&line, scaler);
		}
		ls_buf_puts(&line, ",\"message\":");
		ls_buf_json_string(&line, ls_buf_str(&msg));
		if (n_fields) {
			ls_buf_puts(&line, ",\"fields\":{");
			for (size_t i = 0; i < n_fields; i++) {
				const char *v = fields[i].value;

				if (i)
					ls_buf_puts(&line, ",");
				ls_buf_json_string(&line, fields[i].key);
				ls_buf_puts(&line, ":");
				if (v)
					ls_buf_json_string(&line,
							   ls_log_redact_value(fields[i].key, v));
				else
					ls_buf_puts(&line, "null");
			}
			ls_buf_puts(&line, "}");
		}
		ls_buf_puts(&line, "}\n");
	} else {
		ls_buf_printf(&line, "%s %-5s ", ts, level_names[level]);
		if (scaler)
			ls_buf_printf(&line, "scaler=\"%s\" ", scaler);
		ls_buf_puts(&line, ls_buf_str(&msg));
		for (size_t i = 0; i < n_fields; i++) {
			const char *v = fields[i].value;

			ls_buf_printf(&line, " %s=", fields[i].key);
			if (v)
				text_quote(&line, ls_log_redact_value(fields[i].key, v));
			else
				ls_buf_puts(&line, "-");
		}
		ls_buf_puts(&line, "\n");
	}
	/* One write per line, so concurrent lines never interleave. */
	if (write(fileno(out), ls_buf_str(&line), line.len) < 0) {
		/* Nowhere left to report a failed log write. */
	}
out:
	ls_buf_release(&line);
	ls_buf_release(&msg);
}

void ls_logv(enum ls_log_level level, const char *scaler, const char *fmt, va_list ap)
{
	log_line(level, scaler, NULL, 0, fmt, ap);
}

void ls_log_fields(enum ls_log_level level, const char *scaler, const struct ls_log_field *fields,
		   size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, scaler, fields, n, fmt, ap);
	va_end(ap);
}

void ls_log(enum ls_log_level level, const char *scaler, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ls_logv(level, scaler, fmt, ap);
	va_end(ap);
}

static bool contains_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

bool ls_log_key_is_secret(const char *key)
{
	/* File locations (ssl.key.location, ...) are paths, not secrets. */
	if (contains_ci(key, "location") || contains_ci(key, "path") || contains_ci(key, "file"))
		return false;
	return contains_ci(key, "password") || contains_ci(key, "secret") ||
	       contains_ci(key, "token") || contains_ci(key, "key") ||
	       contains_ci(key, "credential") || contains_ci(key, "sasl.oauthbearer.config") ||
	       contains_ci(key, "pem");
}

const char *ls_log_redact_value(const char *key, const char *value)
{
	return ls_log_key_is_secret(key) ? "[redacted]" : value;
}

/* A character that may continue a property name (so "x.password" is not "x.password.y"). */
static bool key_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

bool ls_log_redact_message(char *msg, size_t size, const char *key)
{
	static const char note[] = " (the value is not shown: it is a secret)";
	size_t klen, end, room;
	const char *p;

	if (!msg || !size || !key || !*key || !ls_log_key_is_secret(key))
		return false;
	klen = strlen(key);
	for (p = strstr(msg, key); p; p = strstr(p + 1, key)) {
		if ((p == msg || !key_char(p[-1])) && !key_char(p[klen]))
			break;
	}
	if (!p)
		return false;
	end = (size_t)(p - msg) + klen;
	if (msg[end] == '"' || msg[end] == '\'')
		end++;
	/* The note fits within size, even if the key's mention has to be cut short. */
	room = size - 1;
	if (end + sizeof(note) - 1 > room)
		end = room >= sizeof(note) - 1 ? room - (sizeof(note) - 1) : 0;
	snprintf(msg + end, size - end, "%s", note);
	return true;
}

void ls_log_scrub(char *text, size_t size, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t slen, mlen = sizeof(mark) - 1;
	char *p;

	if (!text || !size || !secret || !*secret)
		return;
	slen = strlen(secret);
	p = text;
	while ((p = strstr(p, secret)) != NULL) {
		size_t off = (size_t)(p - text), tail = strlen(p + slen);

		/* Move the rest of the text to after the mark, within size. */
		if (off + mlen >= size) {
			memcpy(p, mark, size - 1 - off);
			text[size - 1] = '\0';
			return;
		}
		if (off + mlen + tail >= size)
			tail = size - 1 - off - mlen;
		memmove(p + mlen, p + slen, tail);
		memcpy(p, mark, mlen);
		p[mlen + tail] = '\0';
		p += mlen;
	}
}
