/*
 * fuzz-watch_list.c - one page of a LIST (a PartialObjectMetadataList) as
 * the informer reads it (ls_kube_watch_list_page): the items go into a
 * store, the list's resourceVersion and continue token come out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kube/watch-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_kube_store *st = NULL;
	char rv[LS_KUBE_RV_MAX] = "untouched", err[256];
	char *cont = NULL;
	int r;

	if (ls_kube_store_new(&st) < 0)
		return 0;
	r = ls_kube_watch_list_page((const char *)data, size, size & 1, st, rv, sizeof(rv), &cont,
	                            err, sizeof(err));
	if (r == 0) {
		LS_FUZZ_CHECK(memchr(rv, '\0', sizeof(rv)));
	} else {
		LS_FUZZ_CHECK(strcmp(rv, "untouched") == 0 && !cont);
		LS_FUZZ_CHECK(r == -ENOMEM || err[0]);
	}
	free(cont);
	ls_kube_store_free(st);
	return 0;
}
