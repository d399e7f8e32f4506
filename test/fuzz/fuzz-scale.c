/*
 * fuzz-scale.c - a Scale (the /scale subresource) and a target object's
 * metadata: spec.replicas and status.replicas (ls_kube_scale_parse), the
 * pause annotations (ls_kube_pause_from_annotations) and the metadata the
 * informer keeps (ls_kube_object_meta_parse).
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "fuzz.h"
#include "kube/kube-internal.h"
#include "kube/watch-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	int32_t replicas = -7, status = -7, paused_replicas = -7;
	bool paused = false;
	char err[160];
	struct ls_kube_object_meta m;

	if (ls_kube_scale_parse(j, &replicas, &status) != 0)
		LS_FUZZ_CHECK(replicas == -7 && status == -7);
	ls_kube_pause_from_annotations(ls_kube_json_get(j, "metadata", "annotations", NULL),
	                               &paused, &paused_replicas, err, sizeof(err));
	LS_FUZZ_CHECK(paused_replicas >= -1);
	LS_FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
	if (err[0])
		LS_FUZZ_CHECK(paused);
	memset(&m, 0, sizeof(m));
	if (ls_kube_object_meta_parse(j, &m) == 0)
		LS_FUZZ_CHECK(memchr(m.resource_version, '\0', sizeof(m.resource_version)));
	cJSON_Delete(j);
	return 0;
}
