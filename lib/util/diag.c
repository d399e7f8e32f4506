/* diag.c - see diag.h. */
#include "util/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "util/buf.h"

void ls_diag_init(struct ls_diag *d)
{
	d->msgs = NULL;
	d->n = 0;
}

void ls_diag_release(struct ls_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	ls_diag_init(d);
}

int ls_diag_add(struct ls_diag *d, const char *fmt, ...)
{
	struct ls_buf b;
	char **msgs;
	va_list ap;
	int r;

	ls_buf_init(&b, 0);
	va_start(ap, fmt);
	r = ls_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r < 0)
		goto fail;
	msgs = realloc(d->msgs, (d->n + 1) * sizeof(*msgs));
	if (!msgs) {
		r = -ENOMEM;
		goto fail;
	}
	d->msgs = msgs;
	d->msgs[d->n++] = ls_buf_steal(&b);
	return 0;
fail:
	ls_buf_release(&b);
	return r;
}
