/*
 * fuzz-kubeconfig.c - the kubeconfig loader (ls_kube_config_load_string):
 * contexts, clusters, users, base64 data, exec plugins, impersonation.
 * A loaded kubeconfig is described (as `lagscale run` logs it) and given
 * to a client, which checks the server URL without any I/O.
 */
#include "fuzz.h"
#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_kube_config *kc = NULL;
	struct ls_kube *k = NULL;
	struct ls_diag diag;
	char desc[512];

	ls_diag_init(&diag);
	/* Relative paths resolve in a directory that does not exist: nothing is read. */
	if (ls_kube_config_load_string("fuzz-kubeconfig", "/nonexistent/lagscale-fuzz",
	                               (const char *)data, size, NULL, &kc, &diag) == 0) {
		LS_FUZZ_CHECK(ls_kube_auth_name(kc) != NULL);
		ls_kube_config_describe(kc, desc, sizeof(desc));
		if (ls_kube_new(kc, NULL, &k) == 0)
			ls_kube_free(k);
	} else {
		LS_FUZZ_CHECK(!kc);
	}
	ls_kube_config_free(kc);
	ls_diag_release(&diag);
	return 0;
}
