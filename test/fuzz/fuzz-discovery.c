/*
 * fuzz-discovery.c - an APIResourceList as discovery reads it
 * (ls_kube_discovery_parse): looked up for Deployment and for the kind of
 * each listed entry (so that the found path is reached), and the object
 * path of what was found.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fuzz.h"
#include "kube/kube-internal.h"

static void lookup(const cJSON *list, const char *kind)
{
	char *res = NULL, *path = NULL;
	bool namespaced = false, scale = false;

	if (ls_kube_discovery_parse(list, kind, &res, &namespaced, &scale) != 0) {
		LS_FUZZ_CHECK(!res);
		return;
	}
	LS_FUZZ_CHECK(res);
	if (ls_kube_object_path("apps/v1", res, namespaced ? "shop" : NULL, "name", "/scale",
	                        &path) == 0)
		free(path);
	free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *it, *arr = ls_kube_json_get(j, "resources", NULL);
	int n = 0;

	lookup(j, "Deployment");
	if (cJSON_IsArray(arr))
		cJSON_ArrayForEach(it, arr)
		{
			const char *kind = ls_kube_json_str(it, "kind");

			if (kind && n++ < 8)
				lookup(j, kind);
		}
	cJSON_Delete(j);
	return 0;
}
