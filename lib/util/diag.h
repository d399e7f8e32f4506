/*
 * diag.h - a list of diagnostics ("file:line:col: key.path: message"), so a
 * loader can report every error it finds instead of stopping at the first.
 */
#ifndef LS_UTIL_DIAG_H
#define LS_UTIL_DIAG_H

#include <stddef.h>

struct ls_diag {
	char **msgs;
	size_t n;
};

void ls_diag_init(struct ls_diag *d);
void ls_diag_release(struct ls_diag *d);
/* Appends one message; on -ENOMEM the message is dropped (n unchanged). */
int ls_diag_add(struct ls_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
