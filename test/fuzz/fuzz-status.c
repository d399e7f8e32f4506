/*
 * fuzz-status.c - a failed response: the status code (the input's first
 * two bytes), a Retry-After value (up to the first newline) and the body
 * (the rest, a Status object or anything a proxy sends), read as the
 * client reads them: ls_kube_status_errno, ls_kube_status_error (the
 * message lagscale shows) and ls_kube_parse_retry_after.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kube/kube-internal.h"
#include "kube/kubeconfig.h"

static const char kubeconfig[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
    "users: [{name: u, user: {token: fuzz-token}}]\n"
    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    "current-context: x\n";

/* One client for the process: it only holds the message here, no I/O. */
static struct ls_kube *client(void)
{
	static struct ls_kube_config *kc;
	static struct ls_kube *k;

	if (!k && (ls_kube_config_load_string("fuzz", NULL, kubeconfig, strlen(kubeconfig), NULL,
	                                      &kc, NULL) < 0 ||
	           ls_kube_new(kc, NULL, &k) < 0))
		abort();
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_fuzz_in in = {data, size};
	struct ls_kube_call c = {.method = "GET",
	                         .path = "/apis/apps/v1/namespaces/a/deployments/b"};
	long status = 300 + (long)(ls_fuzz_u64(&in, 2) % 300); /* 300..599 */
	char *retry_after = ls_fuzz_line(&in, 256);
	char *body = ls_fuzz_cstr(in.p, in.n);
	struct ls_kube *k = client();
	int64_t ms = -7;
	int r;

	r = ls_kube_status_error(k, &c, status, (const char *)in.p, in.n);
	LS_FUZZ_CHECK(r < 0);
	LS_FUZZ_CHECK(ls_kube_errmsg(k) && ls_kube_errmsg(k)[0]);
	/* The token never shows, unless the server itself echoed it. */
	if (!memmem(in.p, in.n, "fuzz-token", strlen("fuzz-token")))
		LS_FUZZ_CHECK(!strstr(ls_kube_errmsg(k), "fuzz-token"));
	LS_FUZZ_CHECK(ls_kube_status_errno(status, body) < 0);
	if (ls_kube_parse_retry_after(retry_after, 1700000000000LL, &ms) == 0)
		LS_FUZZ_CHECK(ms >= 0);
	else
		LS_FUZZ_CHECK(ms == -7);
	free(body);
	free(retry_after);
	return 0;
}
