/*
 * fuzz-exec_credential.c - what an exec credential plugin prints, parsed
 * as an ExecCredential (ls_kube_exec_parse): JSON, apiVersion and kind,
 * token or client certificate, expirationTimestamp (RFC 3339).
 */
#include <string.h>

#include "fuzz.h"
#include "kube/kube-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_kube_exec_config e = {
	    .api_version = "client.authentication.k8s.io/v1",
	    .command = "fuzz-plugin",
	};
	struct ls_kube_exec_cred c;
	char err[512];

	memset(&c, 0, sizeof(c));
	if (ls_kube_exec_parse(&e, (const char *)data, size, &c, err, sizeof(err)) == 0) {
		LS_FUZZ_CHECK(c.token || (c.cert_pem && c.key_pem));
		ls_kube_exec_cred_release(&c);
	} else {
		LS_FUZZ_CHECK(!c.token && !c.cert_pem && !c.key_pem);
		LS_FUZZ_CHECK(err[0]);
	}
	return 0;
}
