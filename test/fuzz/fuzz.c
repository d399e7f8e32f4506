/* fuzz.c - see fuzz.h. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ls_fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
	abort();
}

char *ls_fuzz_cstr(const void *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static bool plain_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool ls_fuzz_file_refs_safe(const void *data, size_t size)
{
	static const char tag[] = "${file:";
	const size_t tlen = sizeof(tag) - 1;
	const unsigned char *p = data;

	for (size_t i = 0; i + tlen <= size; i++) {
		size_t j = i + tlen;

		if (memcmp(p + i, tag, tlen) != 0)
			continue;
		while (j < size && plain_name_char(p[j]))
			j++;
		/* Empty, or a character that could start a path or a device. */
		if (j == i + tlen || j >= size || p[j] != '}')
			return false;
	}
	return true;
}

uint64_t ls_fuzz_u64(struct ls_fuzz_in *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && i < 8 && in->n; i++) {
		v |= (uint64_t)in->p[0] << (8 * i);
		in->p++;
		in->n--;
	}
	return v;
}

char *ls_fuzz_line(struct ls_fuzz_in *in, size_t max)
{
	const uint8_t *nl = in->n ? memchr(in->p, '\n', in->n) : NULL;
	size_t len = nl ? (size_t)(nl - in->p) : in->n;
	char *s = ls_fuzz_cstr(in->p, len < max ? len : max);

	in->p += len + (nl ? 1 : 0);
	in->n -= len + (nl ? 1 : 0);
	return s;
}
