/* buf.c - see buf.h. */
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ls_buf_init(struct ls_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void ls_buf_release(struct ls_buf *b)
{
	free(b->data);
	ls_buf_init(b, b->cap);
}

void ls_buf_reset(struct ls_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int grow(struct ls_buf *b, size_t extra)
{
	size_t need, n;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -E2BIG;
	need = b->len + extra;
	if (b->cap && need > b->cap)
		return -E2BIG;
	if (need + 1 <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 64;
	while (n < need + 1)
		n = n > SIZE_MAX / 2 ? need + 1 : n * 2;
	p = realloc(b->data, n);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->alloc = n;
	return 0;
}

int ls_buf_append(struct ls_buf *b, const void *data, size_t len)
{
	int r = grow(b, len);

	if (r < 0)
		return r;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int ls_buf_puts(struct ls_buf *b, const char *s)
{
	return ls_buf_append(b, s, strlen(s));
}

int ls_buf_vprintf(struct ls_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, r;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -EINVAL;
	r = grow(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int ls_buf_printf(struct ls_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ls_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int ls_buf_json_string(struct ls_buf *b, const char *s)
{
	size_t old = b->len;
	int r = ls_buf_append(b, "\"", 1);

	for (const unsigned char *p = (const unsigned char *)s; r == 0 && *p; p++) {
		switch (*p) {
		case '"':
			r = ls_buf_append(b, "\\\"", 2);
			break;
		case '\\':
			r = ls_buf_append(b, "\\\\", 2);
			break;
		case '\n':
			r = ls_buf_append(b, "\\n", 2);
			break;
		case '\r':
			r = ls_buf_append(b, "\\r", 2);
			break;
		case '\t':
			r = ls_buf_append(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20)
				r = ls_buf_printf(b, "\\u%04x", *p);
			else
				r = ls_buf_append(b, p, 1);
		}
	}
	if (r == 0)
		r = ls_buf_append(b, "\"", 1);
	if (r < 0) {
		b->len = old;
		if (b->data)
			b->data[old] = '\0';
	}
	return r;
}

const char *ls_buf_str(const struct ls_buf *b)
{
	return b->data ? b->data : "";
}

char *ls_buf_steal(struct ls_buf *b)
{
	char *s = b->data;

	if (!s)
		s = strdup("");
	ls_buf_init(b, b->cap);
	return s;
}

int ls_buf_read_file(struct ls_buf *b, const char *path)
{
	char tmp[8192];
	size_t old = b->len;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENOTSUP;
	}
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = ls_buf_append(b, tmp, (size_t)n);
		if (r < 0)
			break;
	}
	close(fd);
	if (r < 0) {
		b->len = old;
		if (b->data)
			b->data[old] = '\0';
	}
	return r;
}

const char *ls_buf_read_strerror(int err)
{
	if (err == -ENOTSUP)
		return "not a regular file (FIFOs, devices and sockets are not read)";
	return strerror(-err);
}
