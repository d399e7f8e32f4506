/*
 * buf.h - a growable, always NUL-terminated byte buffer with a cap.
 *
 * Every buffer fed from outside (HTTP bodies, files) has a cap: appends
 * that would grow the buffer past it fail with -E2BIG and leave the buffer
 * as it was. Embed a struct ls_buf and use _init/_release.
 */
#ifndef LS_UTIL_BUF_H
#define LS_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ls_buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t alloc;
	size_t cap; /* largest len allowed */
};

/* cap 0 means "no cap" (for buffers lagscale fills itself). */
void ls_buf_init(struct ls_buf *b, size_t cap);
void ls_buf_release(struct ls_buf *b);
void ls_buf_reset(struct ls_buf *b);

/* 0, -E2BIG past the cap or -ENOMEM. */
int ls_buf_append(struct ls_buf *b, const void *data, size_t len);
int ls_buf_puts(struct ls_buf *b, const char *s);
int ls_buf_printf(struct ls_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ls_buf_vprintf(struct ls_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Appends s as a JSON string literal, quotes included. */
int ls_buf_json_string(struct ls_buf *b, const char *s);

/* The contents ("" when empty); valid until the next append. */
const char *ls_buf_str(const struct ls_buf *b);

/* Hands the heap string to the caller (who frees it) and resets b. */
char *ls_buf_steal(struct ls_buf *b);

/*
 * Reads a whole regular file into b, failing with -E2BIG when it is larger
 * than the buffer's cap. Only regular files (or symbolic links to them) are
 * read: a FIFO, a terminal, /dev/stdin or /dev/zero is refused with
 * -ENOTSUP without reading a byte (it could block forever or never end),
 * a directory with -EISDIR. The file is opened with O_NONBLOCK so that
 * opening a FIFO with no writer does not block either. Returns 0 or a
 * negative errno from open/fstat/read; b is as before on failure.
 */
int ls_buf_read_file(struct ls_buf *b, const char *path);

/* The message for an error of ls_buf_read_file ("not a regular file" for
 * -ENOTSUP, strerror otherwise). */
const char *ls_buf_read_strerror(int err);

#endif
