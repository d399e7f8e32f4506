/*
 * test-kube.c - lib/kube without a cluster: kubeconfig parsing, merging,
 * relative paths, context selection and their messages; in-cluster
 * detection; exec plugins; Retry-After; status codes; the event key; the
 * leader-election rules; and the client's retries against a scripted
 * HTTP server on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube-internal.h"
#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "kube/leader.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/parse.h"

/* --- helpers --------------------------------------------------------------- */

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test-kube-XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_ptr_nonnull(d);
	return strdup(d);
}

static char *write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = NULL;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static bool diag_has(const struct ls_diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], needle))
			return true;
	return false;
}

static void diag_dump(const struct ls_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "diag: %s\n", d->msgs[i]);
}

static const char basic_kubeconfig[] = "apiVersion: v1\n"
                                       "kind: Config\n"
                                       "clusters:\n"
                                       "- name: c1\n"
                                       "  cluster:\n"
                                       "    server: https://127.0.0.1:6443/\n"
                                       "    certificate-authority-data: aGVsbG8=\n" /* "hello" */
                                       "    tls-server-name: kube.example\n"
                                       "- name: c2\n"
                                       "  cluster:\n"
                                       "    server: kube2.example:443\n"
                                       "    insecure-skip-tls-verify: true\n"
                                       "users:\n"
                                       "- name: u1\n"
                                       "  user:\n"
                                       "    token: s3cret-token\n"
                                       "- name: u2\n"
                                       "  user:\n"
                                       "    username: bob\n"
                                       "    password: hunter2\n"
                                       "contexts:\n"
                                       "- name: one\n"
                                       "  context: {cluster: c1, user: u1, namespace: shop}\n"
                                       "- name: two\n"
                                       "  context: {cluster: c2, user: u2}\n"
                                       "current-context: one\n";

/* --- kubeconfig -------------------------------------------------------------- */

START_TEST(test_kube_kubeconfig_current_context)
{
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;
	char desc[512];

	ls_diag_init(&d);
	ck_assert_int_eq(ls_kube_config_load_string("kc.yaml", NULL, basic_kubeconfig,
	                                            strlen(basic_kubeconfig), NULL, &kc, &d),
	                 0);
	ck_assert_str_eq(kc->context, "one");
	ck_assert_str_eq(kc->cluster, "c1");
	ck_assert_str_eq(kc->user, "u1");
	ck_assert_str_eq(kc->namespace_, "shop");
	/* The trailing slash goes: paths are appended. */
	ck_assert_str_eq(kc->server, "https://127.0.0.1:6443");
	ck_assert_str_eq(kc->tls_server_name, "kube.example");
	ck_assert_str_eq(kc->ca_data, "hello");
	ck_assert_uint_eq(kc->ca_data_len, 5);
	ck_assert(!kc->insecure);
	ck_assert_int_eq(kc->auth, LS_KUBE_AUTH_TOKEN);
	ck_assert_str_eq(kc->token, "s3cret-token");
	ck_assert_str_eq(ls_kube_auth_name(kc), "token");
	/* The start-up line never shows the secret. */
	ls_kube_config_describe(kc, desc, sizeof(desc));
	ck_assert_ptr_null(strstr(desc, "s3cret"));
	ck_assert_ptr_nonnull(strstr(desc, "context \"one\""));
	ck_assert_ptr_nonnull(strstr(desc, "https://127.0.0.1:6443"));
	ls_kube_config_free(kc);
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_kube_kubeconfig_context_flag_wins)
{
	struct ls_kube_config *kc = NULL;
	char desc[512];

	ck_assert_int_eq(ls_kube_config_load_string("kc.yaml", NULL, basic_kubeconfig,
	                                            strlen(basic_kubeconfig), "two", &kc, NULL),
	                 0);
	ck_assert_str_eq(kc->context, "two");
	ck_assert_str_eq(kc->namespace_, "default");
	/* A server without a scheme is https, as in client-go. */
	ck_assert_str_eq(kc->server, "https://kube2.example:443");
	ck_assert(kc->insecure);
	ck_assert_int_eq(kc->auth, LS_KUBE_AUTH_BASIC);
	ck_assert_str_eq(kc->username, "bob");
	ck_assert_str_eq(kc->password, "hunter2");
	ls_kube_config_describe(kc, desc, sizeof(desc));
	ck_assert_ptr_null(strstr(desc, "hunter2"));
	ck_assert_ptr_nonnull(strstr(desc, "insecure-skip-tls-verify"));
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_kubeconfig_unknown_context)
{
	struct ls_kube_config *kc = (struct ls_kube_config *)0x1;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(ls_kube_config_load_string("kc.yaml", NULL, basic_kubeconfig,
	                                            strlen(basic_kubeconfig), "three", &kc, &d),
	                 -EINVAL);
	/* ret_ is left alone on failure. */
	ck_assert_ptr_eq(kc, (struct ls_kube_config *)0x1);
	ck_assert_msg(diag_has(&d, "context \"three\" not found in \"kc.yaml\""), "%s",
	              d.n ? d.msgs[0] : "");
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_kube_kubeconfig_no_current_context)
{
	static const char y[] = "clusters: []\nusers: []\ncontexts: []\n";
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;

	ls_diag_init(&d);
	ck_assert_int_eq(ls_kube_config_load_string("kc.yaml", NULL, y, strlen(y), NULL, &kc, &d),
	                 -EINVAL);
	ck_assert(diag_has(&d, "no current-context is set"));
	ls_diag_release(&d);
}
END_TEST

START_TEST(test_kube_kubeconfig_errors_have_places)
{
	static const struct {
		const char *yaml;
		const char *want;
	} cases[] = {
	    {"contexts: [{name: a, context: {cluster: nope, user: u}}]\ncurrent-context: a\n",
	     "kc.yaml:1:41: contexts[0].context: cluster: \"nope\" not found in \"kc.yaml\""},
	    {"clusters: [{name: c, cluster: {server: https://x}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: ghost}}]\ncurrent-context: a\n",
	     "kc.yaml:2:50: contexts[0].context: user: \"ghost\" not found"},
	    {"clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n"
	     "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
	     "kc.yaml:1:31: clusters[0].cluster: server: required (cluster \"c\" has no "
	     "server)"},
	    {"clusters: [{name: c, cluster: {server: 'https://x', certificate-authority-data: "
	     "'!!notbase64'}}]\ncontexts: [{name: a, context: {cluster: c}}]\n"
	     "current-context: a\n",
	     "clusters[0].cluster: certificate-authority-data: not valid base64"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "kc.yaml:2:41: users[0].user: auth-provider \"gcp\": not supported"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {token: t, username: a, password: b}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "users[0].user: username/password and a token are both set for user \"u\""},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
	     "command: x}}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "users[0].user.exec: interactiveMode: required"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, "
	     "command: x}}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "kc.yaml:2:45: users[0].user.exec: apiVersion: "
	     "\"client.authentication.k8s.io/v1alpha1\" is not supported"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
	     "command: x, interactiveMode: Always}}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "interactiveMode: \"Always\" cannot work"},
	    {"clusters: [{name: c, cluster: {server: 'https://x', insecure-skip-tls-verify: "
	     "true, certificate-authority-data: aGVsbG8=}}]\n"
	     "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
	     "insecure-skip-tls-verify: cannot be combined with a certificate-authority"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {client-certificate-data: aGVsbG8=}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "client-key: required with client-certificate"},
	    {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	     "users: [{name: u, user: {tokenFile: /nonexistent/token}}]\n"
	     "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	     "users[0].user: tokenFile: cannot read \"/nonexistent/token\": No such file"},
	    {"clusters: {a: b}\n", "kc.yaml:1:11: clusters: must be a list, not a map"},
	    {"- a\n- b\n", "not a kubeconfig: the document is a sequence"},
	    {"clusters: [\n", "kc.yaml:"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ls_kube_config *kc = NULL;
		struct ls_diag d;
		int r;

		ls_diag_init(&d);
		r = ls_kube_config_load_string("kc.yaml", "/tmp", cases[i].yaml,
		                               strlen(cases[i].yaml), NULL, &kc, &d);
		if (r != -EINVAL || !diag_has(&d, cases[i].want))
			diag_dump(&d);
		ck_assert_msg(r == -EINVAL, "case %zu: r = %d", i, r);
		ck_assert_ptr_null(kc);
		ck_assert_msg(diag_has(&d, cases[i].want), "case %zu: want \"%s\"", i,
		              cases[i].want);
		ls_diag_release(&d);
	}
}
END_TEST

START_TEST(test_kube_kubeconfig_relative_paths)
{
	char *dir = tmpdir(), *sub, *kcpath, yaml[2048];
	struct ls_kube_config *kc = NULL;
	struct ls_kube_load_options o = {0};
	struct ls_diag d;
	char *want;

	ck_assert_int_ge(asprintf(&sub, "%s/pki", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(write_file(sub, "ca.crt", "CA", 0600));
	free(write_file(sub, "me.crt", "CERT", 0600));
	free(write_file(sub, "me.key", "KEY", 0600));
	free(write_file(dir, "token", "tok\n", 0600));
	snprintf(yaml, sizeof(yaml),
	         "clusters: [{name: c, cluster: {server: 'https://x', certificate-authority: "
	         "pki/ca.crt}}]\n"
	         "users: [{name: u, user: {client-certificate: pki/me.crt, client-key: "
	         "pki/me.key, tokenFile: token, exec: {apiVersion: "
	         "client.authentication.k8s.io/v1beta1, command: ./bin/plugin}}},\n"
	         "        {name: e, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
	         "command: kubelogin, interactiveMode: Never}}}]\n"
	         "contexts: [{name: a, context: {cluster: c, user: u}},"
	         " {name: b, context: {cluster: c, user: e}}]\n"
	         "current-context: a\n");
	kcpath = write_file(dir, "config", yaml, 0600);
	ls_diag_init(&d);
	o.kubeconfig = kcpath;
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_int_ge(asprintf(&want, "%s/pki/ca.crt", dir), 0);
	ck_assert_str_eq(kc->ca_file, want);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/pki/me.crt", dir), 0);
	ck_assert_str_eq(kc->cert_file, want);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/pki/me.key", dir), 0);
	ck_assert_str_eq(kc->key_file, want);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/token", dir), 0);
	ck_assert_str_eq(kc->token_file, want);
	free(want);
	/* tokenFile wins over the exec plugin; the command is still resolved. */
	ck_assert_int_eq(kc->auth, LS_KUBE_AUTH_TOKEN_FILE);
	ck_assert_int_ge(asprintf(&want, "%s/./bin/plugin", dir), 0);
	ck_assert_str_eq(kc->exec->command, want);
	free(want);
	ls_kube_config_free(kc);
	kc = NULL;
	/* A bare command name is looked up in PATH, not resolved. */
	o.context = "b";
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_int_eq(kc->auth, LS_KUBE_AUTH_EXEC);
	ck_assert_str_eq(kc->exec->command, "kubelogin");
	ls_kube_config_free(kc);
	ls_diag_release(&d);
	free(kcpath);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_kube_kubeconfig_merge_first_wins)
{
	char *dir = tmpdir(), *a, *b, *env;
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;

	/* a: sets current-context and cluster c; b: redefines c and user u,
	 * and its own current-context which must lose. */
	a = write_file(dir, "a",
	               "clusters: [{name: c, cluster: {server: 'https://from-a:1'}}]\n"
	               "contexts: [{name: ctx, context: {cluster: c, user: u, namespace: a-ns}}]\n"
	               "current-context: ctx\n",
	               0600);
	b = write_file(dir, "b",
	               "clusters: [{name: c, cluster: {server: 'https://from-b:2'}}]\n"
	               "users: [{name: u, user: {token: from-b}}]\n"
	               "contexts: [{name: ctx, context: {cluster: c, namespace: b-ns}},"
	               " {name: other, context: {cluster: c}}]\n"
	               "current-context: other\n",
	               0600);
	/* Missing files and empty entries are skipped, as client-go does. */
	ck_assert_int_ge(asprintf(&env, "%s/missing::%s:%s", dir, a, b), 0);
	setenv("KUBECONFIG", env, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	ls_diag_init(&d);
	ck_assert_int_eq(ls_kube_config_load(NULL, &kc, &d), 0);
	ck_assert_str_eq(kc->context, "ctx");
	ck_assert_str_eq(kc->server, "https://from-a:1");
	ck_assert_str_eq(kc->namespace_, "a-ns");
	ck_assert_str_eq(kc->token, "from-b");
	ck_assert_str_eq(kc->source, a);
	ls_kube_config_free(kc);
	kc = NULL;
	/* --context picks a context only b defines. */
	{
		struct ls_kube_load_options o = {.context = "other"};

		ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
		ck_assert_str_eq(kc->source, b);
		ck_assert_str_eq(kc->server, "https://from-a:1");
		ls_kube_config_free(kc);
	}
	ls_diag_release(&d);
	free(env);
	free(a);
	free(b);
	free(dir);
}
END_TEST

START_TEST(test_kube_kubeconfig_search_order)
{
	char *dir = tmpdir(), *home, *kube, *explicit_path, *envfile, *sa;
	struct ls_kube_config *kc = NULL;
	struct ls_kube_load_options o = {0};
	struct ls_diag d;

	ck_assert_int_ge(asprintf(&home, "%s/home", dir), 0);
	ck_assert_int_ge(asprintf(&kube, "%s/home/.kube", dir), 0);
	ck_assert_int_ge(asprintf(&sa, "%s/sa", dir), 0);
	ck_assert_int_eq(mkdir(home, 0700), 0);
	ck_assert_int_eq(mkdir(kube, 0700), 0);
	ck_assert_int_eq(mkdir(sa, 0700), 0);
	free(write_file(kube, "config",
	                "clusters: [{name: c, cluster: {server: 'https://home:1'}}]\n"
	                "contexts: [{name: h, context: {cluster: c}}]\ncurrent-context: h\n",
	                0600));
	envfile = write_file(dir, "envconfig",
	                     "clusters: [{name: c, cluster: {server: 'https://env:1'}}]\n"
	                     "contexts: [{name: e, context: {cluster: c}}]\ncurrent-context: e\n",
	                     0600);
	explicit_path =
	    write_file(dir, "explicit",
	               "clusters: [{name: c, cluster: {server: 'https://explicit:1'}}]\n"
	               "contexts: [{name: x, context: {cluster: c}}]\n"
	               "current-context: x\n",
	               0600);
	free(write_file(sa, "token", "satoken", 0600));
	setenv("HOME", home, 1);
	setenv("KUBECONFIG", envfile, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv(LS_KUBE_SA_DIR_ENV, sa, 1);
	ls_diag_init(&d);

	/* 1. explicit wins over everything. */
	o.kubeconfig = explicit_path;
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_str_eq(kc->server, "https://explicit:1");
	ls_kube_config_free(kc);
	/* 2. then KUBECONFIG, even in a pod. */
	o.kubeconfig = "";
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_str_eq(kc->server, "https://env:1");
	ls_kube_config_free(kc);
	/* 3. then in-cluster. */
	unsetenv("KUBECONFIG");
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert(kc->in_cluster);
	ck_assert_str_eq(kc->server, "https://10.0.0.1:443");
	ls_kube_config_free(kc);
	/* 4. then ~/.kube/config. */
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_str_eq(kc->server, "https://home:1");
	ls_kube_config_free(kc);
	/* 5. nothing at all: -ENOENT, which dry-run turns into assumed replicas. */
	setenv("HOME", sa, 1);
	kc = (struct ls_kube_config *)0x1;
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), -ENOENT);
	ck_assert_ptr_eq(kc, (struct ls_kube_config *)0x1);
	ck_assert(diag_has(&d, "no Kubernetes configuration"));
	/* An explicit file that does not exist is -ENOENT too, and named. */
	o.kubeconfig = "/nonexistent/kubeconfig";
	ck_assert_int_eq(ls_kube_config_load(&o, &kc, &d), -ENOENT);
	ck_assert(diag_has(&d, "/nonexistent/kubeconfig: cannot read"));
	ls_diag_release(&d);
	free(explicit_path);
	free(envfile);
	free(home);
	free(kube);
	free(sa);
	free(dir);
}
END_TEST

/* Issue 15: KUBECONFIG naming one file 1,000 times loaded it 1,000 times
 * (each load reporting the file's problems again). */
START_TEST(test_kube_kubeconfig_env_deduplicated)
{
	char *dir = tmpdir(), *file;
	struct ls_kube_config *kc = (struct ls_kube_config *)0x1;
	struct ls_kube_load_options o = {0};
	struct ls_buf env;
	struct ls_diag d;
	size_t hits = 0;

	file = write_file(dir, "config",
	                  "clusters: [{cluster: {server: 'https://a:1'}}]\n"
	                  "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
	                  0600);
	ls_buf_init(&env, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(ls_buf_printf(&env, "%s%s", i ? ":" : "", file), 0);
	setenv("KUBECONFIG", ls_buf_str(&env), 1);
	ls_diag_init(&d);
	ck_assert_int_lt(ls_kube_config_load(&o, &kc, &d), 0);
	ck_assert_ptr_eq(kc, (struct ls_kube_config *)0x1);
	for (size_t i = 0; i < d.n; i++)
		hits += strstr(d.msgs[i], "name: required") != NULL;
	ck_assert_uint_eq(hits, 1);
	ls_diag_release(&d);
	unsetenv("KUBECONFIG");
	ls_buf_release(&env);
	free(file);
	free(dir);
}
END_TEST

/* Issue 15: a kubeconfig of 60,000 clusters took 12 s (a linear lookup per
 * entry); names are looked up in a hash table now. Many entries, the first
 * of each name wins. */
START_TEST(test_kube_kubeconfig_many_entries)
{
	struct ls_kube_config *kc = NULL;
	struct ls_buf y;
	struct ls_diag d;
	int r;

	ls_buf_init(&y, 0);
	ck_assert_int_eq(ls_buf_puts(&y, "clusters:\n"), 0);
	for (int i = 0; i < 15000; i++)
		ck_assert_int_eq(ls_buf_printf(&y, "- {name: c%d, cluster: {server: 'https://h%d:1'}}\n",
		                               i % 10000, i),
		                 0);
	ck_assert_int_eq(ls_buf_puts(&y, "contexts: [{name: x, context: {cluster: c9999}}]\n"
	                                 "current-context: x\n"),
	                 0);
	ls_diag_init(&d);
	r = ls_kube_config_load_string("kc.yaml", "/tmp", ls_buf_str(&y), y.len, NULL, &kc, &d);
	if (r < 0)
		diag_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(kc->server, "https://h9999:1");
	ls_kube_config_free(kc);
	ls_diag_release(&d);
	ls_buf_release(&y);
}
END_TEST

START_TEST(test_kube_in_cluster)
{
	char *dir = tmpdir(), *want;
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;
	char desc[512];

	unsetenv("KUBECONFIG");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	setenv(LS_KUBE_SA_DIR_ENV, dir, 1);
	ls_diag_init(&d);
	/* No token: in-cluster cannot work, and says why. */
	ck_assert_int_eq(ls_kube_config_load(NULL, &kc, &d), -ENOENT);
	ck_assert(diag_has(&d, "cannot read the service account token"));
	free(write_file(dir, "token", "sa-token\n", 0600));
	free(write_file(dir, "ca.crt", "CA", 0600));
	free(write_file(dir, "namespace", "lagscale\n", 0600));
	ck_assert_int_eq(ls_kube_config_load(NULL, &kc, &d), 0);
	ck_assert(kc->in_cluster);
	/* IPv6 goes in brackets. */
	ck_assert_str_eq(kc->server, "https://[fd00::1]:6443");
	ck_assert_int_eq(kc->auth, LS_KUBE_AUTH_TOKEN_FILE);
	ck_assert_int_ge(asprintf(&want, "%s/token", dir), 0);
	ck_assert_str_eq(kc->token_file, want);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/ca.crt", dir), 0);
	ck_assert_str_eq(kc->ca_file, want);
	free(want);
	ck_assert_str_eq(kc->namespace_, "lagscale");
	ls_kube_config_describe(kc, desc, sizeof(desc));
	ck_assert_ptr_nonnull(strstr(desc, "in-cluster"));
	ck_assert_ptr_null(strstr(desc, "sa-token"));
	ls_kube_config_free(kc);
	/* Host without port is not in-cluster (client-go needs both). */
	unsetenv("KUBERNETES_SERVICE_PORT");
	setenv("HOME", dir, 1);
	ck_assert_int_eq(ls_kube_config_load(NULL, &kc, &d), -ENOENT);
	ls_diag_release(&d);
	free(dir);
}
END_TEST

START_TEST(test_kube_base64)
{
	char *out = NULL;
	size_t n = 0;

	ck_assert_int_eq(ls_kube_base64_decode("aGVsbG8gd29ybGQ=", &out, &n), 0);
	ck_assert_str_eq(out, "hello world");
	ck_assert_uint_eq(n, 11);
	free(out);
	ck_assert_int_eq(ls_kube_base64_decode("YQ==\n", &out, &n), 0);
	ck_assert_str_eq(out, "a");
	free(out);
	out = (char *)0x1;
	ck_assert_int_eq(ls_kube_base64_decode("YQ=", &out, &n), -EINVAL);
	ck_assert_int_eq(ls_kube_base64_decode("Y*Q=", &out, &n), -EINVAL);
	ck_assert_int_eq(ls_kube_base64_decode("YQ==YQ==", &out, &n), -EINVAL);
	ck_assert_ptr_eq(out, (char *)0x1);
	ck_assert_int_eq(ls_kube_base64_encode("hello", 5, &out), 0);
	ck_assert_str_eq(out, "aGVsbG8=");
	free(out);
}
END_TEST

/* --- exec plugins -------------------------------------------------------------- */

static struct ls_kube_config *exec_config(const char *dir, const char *script,
                                          const char *api_version)
{
	char yaml[2048];
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;
	int r;

	free(write_file(dir, "plugin", script, 0700));
	snprintf(yaml, sizeof(yaml),
	         "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', "
	         "certificate-authority-data: aGVsbG8=}}]\n"
	         "users: [{name: u, user: {exec: {apiVersion: %s, command: ./plugin, "
	         "args: [one, two], env: [{name: PLUGIN_SECRET, value: xyz}], "
	         "provideClusterInfo: true, interactiveMode: IfAvailable, "
	         "installHint: 'install the plugin'}}}]\n"
	         "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	         api_version);
	ls_diag_init(&d);
	r = ls_kube_config_load_string("kc.yaml", dir, yaml, strlen(yaml), NULL, &kc, &d);
	if (r < 0)
		diag_dump(&d);
	ck_assert_int_eq(r, 0);
	ls_diag_release(&d);
	return kc;
}

START_TEST(test_kube_exec_plugin)
{
	char *dir = tmpdir(), script[1024], err[512], *seen, *info = NULL;
	struct ls_kube_config *kc;
	struct ls_kube_exec_cred cred = {0};
	int64_t exp;

	ck_assert_int_ge(asprintf(&seen, "%s/seen", dir), 0);
	snprintf(script, sizeof(script),
	         "#!/bin/sh\n"
	         "printf '%%s\\n' \"$1 $2 $PLUGIN_SECRET\" > %s\n"
	         "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > %s.info\n"
	         "cat <<EOF\n"
	         "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
	         "\"status\":{\"token\":\"plugin-token\","
	         "\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}\n"
	         "EOF\n",
	         seen, seen);
	kc = exec_config(dir, script, "client.authentication.k8s.io/v1");
	ck_assert_int_eq(ls_kube_exec_fetch(kc, 10000, &cred, err, sizeof(err)), 0);
	ck_assert_str_eq(cred.token, "plugin-token");
	ck_assert_int_eq(ls_clock_parse_rfc3339("2030-01-02T03:04:05Z", &exp), 0);
	ck_assert_int_eq(cred.expiry_ms, exp);
	ls_kube_exec_cred_release(&cred);
	{
		struct ls_buf b;
		char *ipath;

		ls_buf_init(&b, 0);
		ck_assert_int_eq(ls_buf_read_file(&b, seen), 0);
		ck_assert_str_eq(ls_buf_str(&b), "one two xyz\n");
		ls_buf_release(&b);
		ck_assert_int_ge(asprintf(&ipath, "%s.info", seen), 0);
		ls_buf_init(&b, 0);
		ck_assert_int_eq(ls_buf_read_file(&b, ipath), 0);
		info = strdup(ls_buf_str(&b));
		ls_buf_release(&b);
		free(ipath);
	}
	/* KUBERNETES_EXEC_INFO as client-go sets it, with the cluster. */
	ck_assert_ptr_nonnull(strstr(info, "\"kind\":\"ExecCredential\""));
	ck_assert_ptr_nonnull(strstr(info, "\"apiVersion\":\"client.authentication.k8s.io/v1\""));
	ck_assert_ptr_nonnull(strstr(info, "\"interactive\":false"));
	ck_assert_ptr_nonnull(strstr(info, "\"server\":\"https://127.0.0.1:1\""));
	ck_assert_ptr_nonnull(strstr(info, "\"certificate-authority-data\":\"aGVsbG8=\""));
	free(info);
	ls_kube_config_free(kc);
	free(seen);
	free(dir);
}
END_TEST

START_TEST(test_kube_exec_plugin_failures)
{
	static const struct {
		const char *script;
		int err;
		const char *want;
	} cases[] = {
	    {"#!/bin/sh\nexit 3\n", -EPROTO, "exited with status 3. install the plugin"},
	    {"#!/bin/sh\necho not json\n", -EPROTO, "not an ExecCredential"},
	    {"#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	     "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
	     -EPROTO,
	     "returned apiVersion \"client.authentication.k8s.io/v1\", the kubeconfig "
	     "asks for \"client.authentication.k8s.io/v1beta1\""},
	    {"#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
	     "\"kind\":\"ExecCredential\"}'\n",
	     -EPROTO, "has no status"},
	    {"#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
	     "\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"x\"}}'\n",
	     -EPROTO, "must come together"},
	    {"#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
	     "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
	     "\"expirationTimestamp\":\"soon\"}}'\n",
	     -EPROTO, "expirationTimestamp \"soon\" is not RFC 3339"},
	    {"#!/bin/sh\nsleep 5\n", -ETIMEDOUT, "no answer within 300 ms"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = tmpdir(), err[512] = "";
		struct ls_kube_config *kc =
		    exec_config(dir, cases[i].script, "client.authentication.k8s.io/v1beta1");
		struct ls_kube_exec_cred cred = {.token = (char *)0x1};

		ck_assert_int_eq(ls_kube_exec_fetch(kc, 300, &cred, err, sizeof(err)),
		                 cases[i].err);
		ck_assert_msg(strstr(err, cases[i].want), "case %zu: %s", i, err);
		ck_assert_ptr_eq(cred.token, (char *)0x1);
		ls_kube_config_free(kc);
		free(dir);
	}
	{
		/* A command that does not exist: -ENOENT, with the install hint. */
		char *dir = tmpdir(), err[512] = "";
		struct ls_kube_config *kc = exec_config(dir, "", "client.authentication.k8s.io/v1");
		struct ls_kube_exec_cred cred = {0};

		free(kc->exec->command);
		kc->exec->command = strdup("/nonexistent/plugin");
		ck_assert_int_eq(ls_kube_exec_fetch(kc, 1000, &cred, err, sizeof(err)), -ENOENT);
		ck_assert_ptr_nonnull(strstr(err, "cannot run it"));
		ck_assert_ptr_nonnull(strstr(err, "install the plugin"));
		ls_kube_config_free(kc);
		free(dir);
	}
}
END_TEST

/* True while pid exists and is not a zombie. */
static bool alive(pid_t pid)
{
	char path[64], stat[256] = "";
	FILE *f;
	char *rp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	rp = strrchr(stat, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* Issue 15: a timed-out plugin was killed, but what it started lived on. */
START_TEST(test_kube_exec_plugin_timeout_kills_its_children)
{
	char *dir = tmpdir(), script[1024], err[512] = "", *pidfile;
	struct ls_kube_config *kc;
	struct ls_kube_exec_cred cred = {0};
	struct ls_buf b;
	int64_t pid = 0, t0;

	ck_assert_int_ge(asprintf(&pidfile, "%s/child.pid", dir), 0);
	snprintf(script, sizeof(script),
	         "#!/bin/sh\n"
	         "sleep 60 &\n"
	         "echo $! > %s.tmp && mv %s.tmp %s\n"
	         "wait\n",
	         pidfile, pidfile, pidfile);
	kc = exec_config(dir, script, "client.authentication.k8s.io/v1");
	ck_assert_int_eq(ls_kube_exec_fetch(kc, 1000, &cred, err, sizeof(err)), -ETIMEDOUT);
	ls_buf_init(&b, 64);
	ck_assert_int_eq(ls_buf_read_file(&b, pidfile), 0);
	b.data[strcspn(b.data, "\n")] = '\0';
	ck_assert_int_eq(ls_parse_int64(ls_buf_str(&b), &pid), 0);
	ls_buf_release(&b);
	/* The child is killed with the group; its reaper may take a moment. */
	t0 = ls_clock_mono_ms();
	while (alive((pid_t)pid) && ls_clock_mono_ms() - t0 < 10000)
		ls_clock_sleep_ms(20);
	ck_assert_msg(!alive((pid_t)pid), "the plugin's child %lld survived", (long long)pid);
	ls_kube_config_free(kc);
	free(pidfile);
	free(dir);
}
END_TEST

/* --- pure helpers ------------------------------------------------------------------ */

START_TEST(test_kube_retry_after)
{
	int64_t ms = 42, now;

	ck_assert_int_eq(ls_kube_parse_retry_after("120", 0, &ms), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(ls_kube_parse_retry_after(" 1 \r\n", 0, &ms), 0);
	ck_assert_int_eq(ms, 1000);
	ck_assert_int_eq(ls_kube_parse_retry_after("0", 0, &ms), 0);
	ck_assert_int_eq(ms, 0);
	/* Issue 15: a huge delta overflowed the deadline arithmetic and
	 * `run --once` never returned. It is clamped to 10 minutes. */
	ck_assert_int_eq(ls_kube_parse_retry_after("9223372036854775", 0, &ms), 0);
	ck_assert_int_eq(ms, LS_KUBE_RETRY_AFTER_MAX_MS);
	ck_assert_int_eq(ls_kube_parse_retry_after("600", 0, &ms), 0);
	ck_assert_int_eq(ms, 600000);
	ck_assert_int_eq(ls_kube_parse_retry_after("601", 0, &ms), 0);
	ck_assert_int_eq(ms, LS_KUBE_RETRY_AFTER_MAX_MS);
	ck_assert_int_eq(ls_kube_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0, &ms), 0);
	ck_assert_int_eq(ms, LS_KUBE_RETRY_AFTER_MAX_MS);
	ck_assert_int_eq(ls_clock_parse_rfc3339("1994-11-06T08:49:30Z", &now), 0);
	ck_assert_int_eq(ls_kube_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, &ms), 0);
	ck_assert_int_eq(ms, 7000);
	/* A date in the past means "now". */
	ck_assert_int_eq(
	    ls_kube_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 60000, &ms), 0);
	ck_assert_int_eq(ms, 0);
	ms = 42;
	ck_assert_int_eq(ls_kube_parse_retry_after("-1", 0, &ms), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("1.5", 0, &ms), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("", 0, &ms), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after(NULL, 0, &ms), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("soon", 0, &ms), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0, &ms),
	                 -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", 0, &ms),
	                 -EINVAL);
	ck_assert_int_eq(ls_kube_parse_retry_after("99999999999999999999", 0, &ms), -EINVAL);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_kube_status_errno)
{
	ck_assert_int_eq(ls_kube_status_errno(200, NULL), 0);
	ck_assert_int_eq(ls_kube_status_errno(201, NULL), 0);
	ck_assert_int_eq(ls_kube_status_errno(400, NULL), -EINVAL);
	ck_assert_int_eq(ls_kube_status_errno(401, NULL), -EACCES);
	ck_assert_int_eq(ls_kube_status_errno(403, "Forbidden"), -EACCES);
	ck_assert_int_eq(ls_kube_status_errno(404, "NotFound"), -ENOENT);
	ck_assert_int_eq(ls_kube_status_errno(409, "AlreadyExists"), -EEXIST);
	ck_assert_int_eq(ls_kube_status_errno(409, "Conflict"), -ESTALE);
	ck_assert_int_eq(ls_kube_status_errno(422, "Invalid"), -EINVAL);
	ck_assert_int_eq(ls_kube_status_errno(429, NULL), -EBUSY);
	ck_assert_int_eq(ls_kube_status_errno(500, NULL), -EIO);
	ck_assert_int_eq(ls_kube_status_errno(503, NULL), -EIO);
}
END_TEST

START_TEST(test_kube_parse_pause)
{
	bool paused = false;
	int32_t n = 7;

	ck_assert_int_eq(ls_kube_parse_pause(NULL, NULL, &paused, &n), 0);
	ck_assert(!paused);
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(ls_kube_parse_pause("true", NULL, &paused, &n), 0);
	ck_assert(paused);
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(ls_kube_parse_pause("false", NULL, &paused, &n), 0);
	ck_assert(!paused);
	/* paused-replicas alone pauses at that count, as KEDA's annotation. */
	ck_assert_int_eq(ls_kube_parse_pause(NULL, "3", &paused, &n), 0);
	ck_assert(paused);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(ls_kube_parse_pause("false", "0", &paused, &n), 0);
	ck_assert(paused);
	ck_assert_int_eq(n, 0);
	paused = false;
	n = 9;
	ck_assert_int_eq(ls_kube_parse_pause("yes", NULL, &paused, &n), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_pause(NULL, "-1", &paused, &n), -EINVAL);
	ck_assert_int_eq(ls_kube_parse_pause(NULL, "three", &paused, &n), -EINVAL);
	ck_assert(!paused);
	ck_assert_int_eq(n, 9);
}
END_TEST

START_TEST(test_kube_object_path)
{
	char *p = NULL;

	ck_assert_int_eq(ls_kube_object_path("apps/v1", "deployments", "shop", "web", "/scale", &p),
	                 0);
	ck_assert_str_eq(p, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
	free(p);
	ck_assert_int_eq(ls_kube_object_path("v1", "replicationcontrollers", "a", "b", NULL, &p),
	                 0);
	ck_assert_str_eq(p, "/api/v1/namespaces/a/replicationcontrollers/b");
	free(p);
	ck_assert_int_eq(ls_kube_object_path("example.com/v1", "things", NULL, "x y", NULL, &p), 0);
	ck_assert_str_eq(p, "/apis/example.com/v1/things/x%20y");
	free(p);
	p = (char *)0x1;
	ck_assert_int_eq(ls_kube_object_path("", "things", NULL, "x", NULL, &p), -EINVAL);
	ck_assert_ptr_eq(p, (char *)0x1);
}
END_TEST

START_TEST(test_kube_event_key)
{
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_target t2 = {"apps/v1", "Deployment", "shop", "web2"};
	struct ls_kube_event a = {&t, NULL, "Warning", "LagReadFailed", "ReadLag", "broker down"};
	struct ls_kube_event b = a;
	char *ka, *kb, long1[2100], long2[2100];

	ck_assert_int_eq(ls_kube_event_key(&a, &ka), 0);
	/* The uid and the action do not matter: same target, reason, note. */
	b.regarding_uid = "1234";
	b.action = "Other";
	ck_assert_int_eq(ls_kube_event_key(&b, &kb), 0);
	ck_assert_str_eq(ka, kb);
	free(kb);
	b = a;
	b.note = "broker up";
	ck_assert_int_eq(ls_kube_event_key(&b, &kb), 0);
	ck_assert_str_ne(ka, kb);
	free(kb);
	b = a;
	b.reason = "ScaleFailed";
	ck_assert_int_eq(ls_kube_event_key(&b, &kb), 0);
	ck_assert_str_ne(ka, kb);
	free(kb);
	b = a;
	b.regarding = &t2;
	ck_assert_int_eq(ls_kube_event_key(&b, &kb), 0);
	ck_assert_str_ne(ka, kb);
	free(kb);
	free(ka);
	/* Notes are cut at 1 KiB: differences past it are the same event. */
	memset(long1, 'x', sizeof(long1) - 1);
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[1500] = 'y';
	a.note = long1;
	b = a;
	b.note = long2;
	ck_assert_int_eq(ls_kube_event_key(&a, &ka), 0);
	ck_assert_int_eq(ls_kube_event_key(&b, &kb), 0);
	ck_assert_str_eq(ka, kb);
	free(ka);
	free(kb);
	/* ... at a UTF-8 boundary: "é" (2 bytes) straddling byte 1024 goes whole. */
	memset(long1, 'x', sizeof(long1));
	memcpy(long1 + 1023, "\xc3\xa9", 2);
	long1[1030] = '\0';
	a.note = long1;
	ck_assert_int_eq(ls_kube_event_key(&a, &ka), 0);
	ck_assert_uint_eq(strlen(ka) - strlen("apps/v1\x1f"
	                                      "Deployment\x1fshop\x1fweb\x1fWarning\x1f"
	                                      "LagReadFailed\x1f"),
	                  1023);
	free(ka);
}
END_TEST

/* --- leader election rules ------------------------------------------------------- */

static const struct ls_kube_election_params lp = {15000, 10000, 2000};

static struct ls_kube_lease_record held_by(const char *who, int64_t renew_ms)
{
	struct ls_kube_lease_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.holder, sizeof(r.holder), "%s", who);
	r.lease_duration_s = 15;
	r.acquire_ms = 1000;
	r.renew_ms = renew_ms;
	r.transitions = 4;
	return r;
}

START_TEST(test_kube_election_create_when_absent)
{
	struct ls_kube_election e;
	struct ls_kube_lease_record w;

	ls_kube_election_init(&e, "me", &lp);
	/* Nothing seen yet: wait for a read. */
	ck_assert_int_eq(ls_kube_election_next(&e, 100, 5000, &w), LS_KUBE_ELECT_WAIT);
	ck_assert(!ls_kube_election_is_leader(&e, 100));
	ls_kube_election_observe(&e, NULL, NULL, 100);
	ck_assert_int_eq(ls_kube_election_next(&e, 100, 5000, &w), LS_KUBE_ELECT_CREATE);
	ck_assert_str_eq(w.holder, "me");
	ck_assert_int_eq(w.lease_duration_s, 15);
	ck_assert_int_eq(w.acquire_ms, 5000);
	ck_assert_int_eq(w.renew_ms, 5000);
	ck_assert_int_eq(w.transitions, 0);
	ck_assert(!ls_kube_election_is_leader(&e, 100));
	ls_kube_election_written(&e, &w, "1", 150);
	ck_assert(ls_kube_election_is_leader(&e, 150));
}
END_TEST

START_TEST(test_kube_election_follower_waits_for_expiry_by_own_clock)
{
	struct ls_kube_election e;
	struct ls_kube_lease_record w, other;

	ls_kube_election_init(&e, "me", &lp);
	/* The other's renewTime is far in the past by our wall clock: that
	 * must not matter, only our own observation does. */
	other = held_by("other", 1);
	ls_kube_election_observe(&e, &other, "10", 1000);
	ck_assert_int_eq(ls_kube_election_next(&e, 1000, 999999999, &w), LS_KUBE_ELECT_WAIT);
	ck_assert_int_eq(ls_kube_election_next(&e, 15999, 999999999, &w), LS_KUBE_ELECT_WAIT);
	/* Seeing the same record again does not restart the clock... */
	ls_kube_election_observe(&e, &other, "10", 9000);
	ck_assert_int_eq(ls_kube_election_next(&e, 15999, 0, &w), LS_KUBE_ELECT_WAIT);
	/* ... a renewal (new resourceVersion) does. */
	other.renew_ms = 2;
	ls_kube_election_observe(&e, &other, "11", 12000);
	ck_assert_int_eq(ls_kube_election_next(&e, 16000, 0, &w), LS_KUBE_ELECT_WAIT);
	ck_assert_int_eq(ls_kube_election_next(&e, 26999, 0, &w), LS_KUBE_ELECT_WAIT);
	ck_assert_int_eq(ls_kube_election_next(&e, 27000, 777, &w), LS_KUBE_ELECT_UPDATE);
	/* Taking over: our identity, a new acquire time, one more transition. */
	ck_assert_str_eq(w.holder, "me");
	ck_assert_int_eq(w.acquire_ms, 777);
	ck_assert_int_eq(w.transitions, 5);
	ck_assert(!ls_kube_election_is_leader(&e, 27000));
	/* The wait is cut short to wake at the expiry. */
	ck_assert_int_eq(ls_kube_election_wait_ms(&e, 26000), 1001);
	ck_assert_int_eq(ls_kube_election_wait_ms(&e, 20000), 2000);
}
END_TEST

START_TEST(test_kube_election_transitions_saturate)
{
	/* A Lease whose leaseTransitions is INT32_MAX (found by fuzz-lease):
	 * taking it over must not overflow. */
	struct ls_kube_election e;
	struct ls_kube_lease_record w, other;

	ls_kube_election_init(&e, "me", &lp);
	other = held_by("other", 1);
	other.transitions = INT32_MAX;
	ls_kube_election_observe(&e, &other, "10", 1000);
	ck_assert_int_eq(ls_kube_election_next(&e, 100000, 777, &w), LS_KUBE_ELECT_UPDATE);
	ck_assert_str_eq(w.holder, "me");
	ck_assert_int_eq(w.transitions, INT32_MAX);
}
END_TEST

START_TEST(test_kube_election_renew_keeps_acquire_time)
{
	struct ls_kube_election e;
	struct ls_kube_lease_record w, mine;

	ls_kube_election_init(&e, "me", &lp);
	mine = held_by("me", 3000);
	/* Our own record, read back after a restart of the thread: renewing
	 * keeps acquireTime and leaseTransitions. */
	ls_kube_election_observe(&e, &mine, "5", 100);
	ck_assert_int_eq(ls_kube_election_next(&e, 100, 4000, &w), LS_KUBE_ELECT_UPDATE);
	ck_assert_int_eq(w.acquire_ms, 1000);
	ck_assert_int_eq(w.renew_ms, 4000);
	ck_assert_int_eq(w.transitions, 4);
	ls_kube_election_written(&e, &w, "6", 120);
	ck_assert(ls_kube_election_is_leader(&e, 120));
	ck_assert_int_eq(ls_kube_election_wait_ms(&e, 120), 2000);
	/* Not renewed within renewDeadline: not the leader any more, at once. */
	ck_assert(ls_kube_election_is_leader(&e, 120 + 9999));
	ck_assert(!ls_kube_election_is_leader(&e, 120 + 10000));
}
END_TEST

START_TEST(test_kube_election_other_holder_ends_leadership)
{
	struct ls_kube_election e;
	struct ls_kube_lease_record w, other;

	ls_kube_election_init(&e, "me", &lp);
	ls_kube_election_observe(&e, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_election_next(&e, 0, 0, &w), LS_KUBE_ELECT_CREATE);
	ls_kube_election_written(&e, &w, "1", 0);
	ck_assert(ls_kube_election_is_leader(&e, 10));
	other = held_by("other", 0);
	ls_kube_election_observe(&e, &other, "2", 20);
	ck_assert(!ls_kube_election_is_leader(&e, 20));
	ck_assert_int_eq(ls_kube_election_next(&e, 30, 0, &w), LS_KUBE_ELECT_WAIT);
	/* Nothing to release: we do not hold it. */
	ck_assert(!ls_kube_election_release(&e, 0, &w));
}
END_TEST

START_TEST(test_kube_election_release_hands_over)
{
	struct ls_kube_election a, b;
	struct ls_kube_lease_record w, rel;

	ls_kube_election_init(&a, "a", &lp);
	ls_kube_election_init(&b, "b", &lp);
	ls_kube_election_observe(&a, NULL, NULL, 0);
	ck_assert_int_eq(ls_kube_election_next(&a, 0, 100, &w), LS_KUBE_ELECT_CREATE);
	ls_kube_election_written(&a, &w, "1", 0);
	ls_kube_election_observe(&b, &w, "1", 0);
	ck_assert_int_eq(ls_kube_election_next(&b, 1000, 0, &w), LS_KUBE_ELECT_WAIT);
	ck_assert(ls_kube_election_release(&a, 2000, &rel));
	ck_assert_str_eq(rel.holder, "");
	ck_assert_int_eq(rel.lease_duration_s, 1);
	ck_assert_int_eq(rel.renew_ms, 2000);
	ck_assert_int_eq(rel.transitions, 0);
	/* b sees the released record and takes it at its next attempt. */
	ls_kube_election_observe(&b, &rel, "2", 2100);
	ck_assert_int_eq(ls_kube_election_next(&b, 2100, 2100, &w), LS_KUBE_ELECT_UPDATE);
	ck_assert_str_eq(w.holder, "b");
	ck_assert_int_eq(w.transitions, 1);
}
END_TEST

/* Issue 15: numbers from the API server outside int32 were cast (UB). */
START_TEST(test_kube_numbers_from_the_api_are_checked)
{
	static const char *bad_scales[] = {
	    "{\"spec\":{\"replicas\":1e10},\"status\":{\"replicas\":1}}",
	    "{\"spec\":{\"replicas\":1},\"status\":{\"replicas\":-1e300}}",
	    "{\"spec\":{\"replicas\":1.5}}",
	    "{\"spec\":{\"replicas\":\"3\"}}",
	};
	static const char *bad_leases[] = {
	    "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"leaseDurationSeconds\":1e10}}",
	    "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"leaseTransitions\":1e40}}",
	    "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"leaseTransitions\":-3}}",
	};
	struct ls_kube_lease_record rec;
	int32_t rep = 7, st = 7;
	char rv[64];
	cJSON *j;

	for (size_t i = 0; i < sizeof(bad_scales) / sizeof(bad_scales[0]); i++) {
		j = cJSON_Parse(bad_scales[i]);
		ck_assert_ptr_nonnull(j);
		ck_assert_int_eq(ls_kube_scale_parse(j, &rep, &st), -EPROTO);
		ck_assert_int_eq(rep, 7);
		ck_assert_int_eq(st, 7);
		cJSON_Delete(j);
	}
	j = cJSON_Parse("{\"spec\":{\"replicas\":2147483647},\"status\":{\"replicas\":3}}");
	ck_assert_int_eq(ls_kube_scale_parse(j, &rep, &st), 0);
	ck_assert_int_eq(rep, INT32_MAX);
	ck_assert_int_eq(st, 3);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"spec\":{}}");
	ck_assert_int_eq(ls_kube_scale_parse(j, &rep, &st), 0);
	ck_assert_int_eq(rep, 0);
	ck_assert_int_eq(st, -1);
	cJSON_Delete(j);
	for (size_t i = 0; i < sizeof(bad_leases) / sizeof(bad_leases[0]); i++) {
		j = cJSON_Parse(bad_leases[i]);
		ck_assert_ptr_nonnull(j);
		memset(&rec, 0x5a, sizeof(rec));
		ck_assert_int_eq(ls_kube_lease_parse(j, &rec, rv, sizeof(rv)), -EPROTO);
		ck_assert_int_eq(rec.lease_duration_s, 0x5a5a5a5a);
		cJSON_Delete(j);
	}
	j = cJSON_Parse("{\"metadata\":{\"resourceVersion\":\"9\"},\"spec\":{\"holderIdentity\":"
	                "\"a\",\"leaseDurationSeconds\":15,\"leaseTransitions\":2,"
	                "\"renewTime\":\"2026-01-01T00:00:00.000000+1:2\"}}");
	ck_assert_int_eq(ls_kube_lease_parse(j, &rec, rv, sizeof(rv)), 0);
	ck_assert_int_eq(rec.lease_duration_s, 15);
	ck_assert_int_eq(rec.transitions, 2);
	ck_assert_int_eq(rec.renew_ms, 0); /* not RFC 3339: ignored */
	ck_assert_str_eq(rv, "9");
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_kube_lease_json)
{
	struct ls_kube_lease_record r = held_by("host_1", 1000);
	char *s = NULL;

	ck_assert_int_eq(ls_kube_lease_json("ns", "lagscale", "42", &r, &s), 0);
	ck_assert_ptr_nonnull(strstr(s, "\"resourceVersion\":\"42\""));
	ck_assert_ptr_nonnull(strstr(s, "\"holderIdentity\":\"host_1\""));
	ck_assert_ptr_nonnull(strstr(s, "\"leaseDurationSeconds\":15"));
	ck_assert_ptr_nonnull(strstr(s, "\"renewTime\":\"1970-01-01T00:00:01.000000Z\""));
	ck_assert_ptr_nonnull(strstr(s, "\"leaseTransitions\":4"));
	free(s);
	ck_assert_int_eq(ls_kube_lease_json("ns", "lagscale", NULL, &r, &s), 0);
	ck_assert_ptr_null(strstr(s, "resourceVersion"));
	free(s);
}
END_TEST

/* --- the client against a scripted HTTP server --------------------------------- */

struct fake_resp {
	int status;
	const char *headers; /* extra header lines, each ending in \r\n */
	const char *body;
	size_t big; /* > 0: a body of this many spaces instead */
};

struct fake {
	int fd;
	int port;
	pthread_t th;
	const struct fake_resp *resp;
	size_t n;
	bool keepalive; /* answer without "Connection: close" */
	char reqs[8][4096];
	size_t served;
	size_t accepts; /* connections the client opened */
};

/* Reads one request into buf; false when the peer closed first. */
static bool fake_read_request(int c, char *buf, size_t size)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(c, buf + got, size - 1 - got);
		const char *hend;

		if (n <= 0)
			return got > 0;
		got += (size_t)n;
		buf[got] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		if (hend) {
			const char *cl = strcasestr(buf, "content-length:");
			long clen = cl ? strtol(cl + 15, NULL, 10) : 0;

			if ((long)(got - (size_t)(hend + 4 - buf)) >= clen)
				return true;
		}
	}
}

/*
 * Serves f->n scripted responses, one per request, in order. Status 0
 * means "never answer": the request is read and the connection held until
 * the client gives up and closes it.
 */
static void *fake_thread(void *arg)
{
	struct fake *f = arg;
	int c = -1;

	for (size_t i = 0; i < f->n; i++) {
		const struct fake_resp *r = &f->resp[i];
		char out[8192];

		if (c < 0) {
			c = accept(f->fd, NULL, NULL);
			if (c < 0)
				break;
			f->accepts++;
		}
		if (!fake_read_request(c, f->reqs[i], sizeof(f->reqs[i]))) {
			/* The client closed this one: take the next connection. */
			close(c);
			c = -1;
			i--;
			continue;
		}
		if (r->status == 0) {
			char junk[256];

			while (read(c, junk, sizeof(junk)) > 0)
				;
			close(c);
			c = -1;
			f->served = i + 1;
			continue;
		}
		snprintf(out, sizeof(out),
		         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\n%s%s\r\n%s",
		         r->status, r->big ? r->big : strlen(r->body),
		         f->keepalive ? "" : "Connection: close\r\n", r->headers ? r->headers : "",
		         r->big ? "" : r->body);
		if (send(c, out, strlen(out), MSG_NOSIGNAL) < 0)
			break;
		if (r->big) {
			static char spaces[65536];

			memset(spaces, ' ', sizeof(spaces));
			/* The client hangs up at its cap: stop at the first error. */
			for (size_t sent = 0; sent < r->big; sent += sizeof(spaces))
				if (send(c, spaces, sizeof(spaces), MSG_NOSIGNAL) < 0)
					break;
		}
		if (!f->keepalive) {
			close(c);
			c = -1;
		}
		f->served = i + 1;
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void fake_start_opts(struct fake *f, const struct fake_resp *resp, size_t n, bool keepalive)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->resp = resp;
	f->n = n;
	f->keepalive = keepalive;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->fd, 0);
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->fd, 8), 0);
	ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_thread, f), 0);
}

static void fake_start(struct fake *f, const struct fake_resp *resp, size_t n)
{
	fake_start_opts(f, resp, n, false);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->th, NULL);
}

/* A client of http://127.0.0.1:PORT with the given user block. */
static struct ls_kube_config *fake_config(const struct fake *f, const char *dir, const char *user)
{
	char yaml[1024];
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;

	snprintf(yaml, sizeof(yaml),
	         "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
	         "users: [{name: u, user: %s}]\n"
	         "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	         f->port, user);
	ls_diag_init(&d);
	ck_assert_int_eq(
	    ls_kube_config_load_string("kc.yaml", dir, yaml, strlen(yaml), NULL, &kc, &d), 0);
	ls_diag_release(&d);
	return kc;
}

static const char discovery_apps[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
    "{\"name\":\"deployments/scale\",\"kind\":\"Scale\",\"namespaced\":true},"
    "{\"name\":\"deployments\",\"kind\":\"Deployment\",\"namespaced\":true},"
    "{\"name\":\"controllerrevisions\",\"kind\":\"ControllerRevision\",\"namespaced\":true}]}";

START_TEST(test_kube_client_retries_429_with_retry_after)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0},
	    {429, "Retry-After: 1\r\n", "{\"kind\":\"Status\",\"message\":\"slow down\"}", 0},
	    {500, NULL, "{\"kind\":\"Status\",\"message\":\"boom\"}", 0},
	    {200, NULL, "{\"kind\":\"Scale\",\"spec\":{\"replicas\":3}}", 0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;
	int64_t t0;

	fake_start(&f, resp, 4);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	t0 = ls_clock_mono_ms();
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 3, true), 0);
	/* Retry-After: 1 was honoured. */
	ck_assert_int_ge(ls_clock_mono_ms() - t0, 1000);
	ck_assert_int_eq(ls_kube_requests(k), 4);
	fake_stop(&f);
	ck_assert_uint_eq(f.served, 4);
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "GET /apis/apps/v1 HTTP/1.1"));
	ck_assert_ptr_nonnull(strstr(
	    f.reqs[3], "PATCH /apis/apps/v1/namespaces/shop/deployments/web/scale?dryRun=All"));
	ck_assert_ptr_nonnull(strstr(f.reqs[3], "Content-Type: application/merge-patch+json"));
	ck_assert_ptr_nonnull(strstr(f.reqs[3], "Authorization: Bearer tok"));
	ck_assert_ptr_nonnull(strstr(f.reqs[3], "{\"spec\":{\"replicas\":3}}"));
	ls_kube_free(k);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_client_retries_are_bounded)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0},
	    {503, NULL, "{\"kind\":\"Status\",\"message\":\"unavailable 1\"}", 0},
	    {503, NULL, "{\"kind\":\"Status\",\"message\":\"unavailable 2\"}", 0},
	    {409, NULL, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"c\"}", 0},
	    {503, NULL, "{\"kind\":\"Status\",\"message\":\"unavailable 4\"}", 0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;

	fake_start(&f, resp, 5);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 3, false), -EIO);
	ck_assert_str_eq(ls_kube_errmsg(k), "unavailable 4");
	/* Discovery plus LS_KUBE_MAX_ATTEMPTS attempts, then it gives up. */
	ck_assert_int_eq(ls_kube_requests(k), 1 + LS_KUBE_MAX_ATTEMPTS);
	fake_stop(&f);
	ls_kube_free(k);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_client_forbidden_and_not_found)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0},
	    {403, NULL,
	     "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":\"deployments.apps "
	     "\\\"web\\\" is forbidden: User \\\"lagscale\\\" cannot patch resource "
	     "\\\"deployments/scale\\\" in API group \\\"apps\\\" in the namespace "
	     "\\\"shop\\\"\"}",
	     0},
	    {404, NULL,
	     "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"deployments.apps "
	     "\\\"gone\\\" not found\"}",
	     0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_target gone = {"apps/v1", "Deployment", "shop", "gone"};
	struct ls_kube_target bad = {"apps/v1", "ControllerRevision", "shop", "x"};
	struct ls_kube_scale s = {.replicas = 77};
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;

	fake_start(&f, resp, 3);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	/* 403 is not retried and says which verb and resource RBAC lacks. */
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 3, false), -EACCES);
	ck_assert_str_eq(ls_kube_errmsg(k),
	                 "deployments.apps \"web\" is forbidden: User \"lagscale\" cannot patch "
	                 "resource \"deployments/scale\" in API group \"apps\" in the namespace "
	                 "\"shop\"");
	ck_assert_int_eq(ls_kube_scale_get(k, &gone, &s), -ENOENT);
	ck_assert_str_eq(ls_kube_errmsg(k), "deployments.apps \"gone\" not found");
	ck_assert_int_eq(s.replicas, 77);
	/* Discovery is cached: a kind without /scale is known without a request. */
	ck_assert_int_eq(ls_kube_scale_get(k, &bad, &s), -EINVAL);
	ck_assert_str_eq(ls_kube_errmsg(k),
	                 "kind \"ControllerRevision\" (apps/v1) has no scale subresource");
	ck_assert_int_eq(ls_kube_requests(k), 3);
	fake_stop(&f);
	ls_kube_free(k);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_client_token_file_reread_after_401)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0},
	    {200, NULL,
	     "{\"metadata\":{\"uid\":\"u-1\",\"annotations\":{\"lagscale.io/paused\":"
	     "\"true\"}}}",
	     0},
	    {200, NULL, "{\"kind\":\"Scale\",\"spec\":{},\"status\":{\"replicas\":2}}", 0},
	    {401, NULL, "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}", 0},
	    {200, NULL, "{}", 0},
	    {401, NULL, "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}", 0},
	    {401, NULL, "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}", 0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	char *dir = tmpdir(), *tok, user[512];
	struct ls_kube_scale s;
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;

	tok = write_file(dir, "token", "old-token\n", 0600);
	fake_start(&f, resp, 7);
	snprintf(user, sizeof(user), "{tokenFile: %s}", tok);
	kc = fake_config(&f, dir, user);
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), 0);
	/* spec.replicas omitted means 0 (autoscaling/v1 omitempty). */
	ck_assert_int_eq(s.replicas, 0);
	ck_assert_int_eq(s.status_replicas, 2);
	ck_assert(s.paused);
	ck_assert_int_eq(s.paused_replicas, -1);
	ck_assert_str_eq(s.uid, "u-1");
	/* The token rotates; the old one is refused: read again, at once
	 * (not a minute later), and the request succeeds. */
	free(write_file(dir, "token", "new-token\n", 0600));
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 1, false), 0);
	/* A 401 that a fresh read does not cure is -EACCES, said plainly. */
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 1, false), -EACCES);
	ck_assert_ptr_nonnull(strstr(ls_kube_errmsg(k), "unauthorized (HTTP 401)"));
	ck_assert_ptr_nonnull(strstr(ls_kube_errmsg(k), "token file"));
	fake_stop(&f);
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "Authorization: Bearer old-token"));
	ck_assert_ptr_nonnull(strstr(f.reqs[1], "as=PartialObjectMetadata"));
	ck_assert_ptr_nonnull(strstr(f.reqs[3], "Authorization: Bearer old-token"));
	ck_assert_ptr_nonnull(strstr(f.reqs[4], "Authorization: Bearer new-token"));
	ls_kube_free(k);
	ls_kube_config_free(kc);
	free(tok);
	free(dir);
}
END_TEST

/* Issue 15: a missing exec plugin read as an HTTP 404, and the scaler said
 * `apiVersion "apps/v1" is not served by the API server`. */
START_TEST(test_kube_client_credential_failure_is_its_own_error)
{
	static const struct fake_resp none[] = {{200, NULL, "", 0}};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_options o = {.timeout_ms = 3000};
	char *dir = tmpdir(), *plugin, *tok, user[512];
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;
	struct ls_kube_scale s;
	struct fake f;

	/* Both exist when the kubeconfig is loaded, and are gone when used. */
	plugin = write_file(dir, "plugin", "#!/bin/sh\nexit 1\n", 0700);
	tok = write_file(dir, "token", "t\n", 0600);
	fake_start(&f, none, 0);
	snprintf(user, sizeof(user),
	         "{exec: {apiVersion: client.authentication.k8s.io/v1, command: %s, "
	         "interactiveMode: Never, installHint: 'install it'}}",
	         plugin);
	kc = fake_config(&f, dir, user);
	unlink(plugin);
	ck_assert_int_eq(ls_kube_new(kc, &o, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), -ENOKEY);
	ck_assert_msg(strstr(ls_kube_errmsg(k), "credentials: exec plugin"), "%s",
	              ls_kube_errmsg(k));
	ck_assert_msg(strstr(ls_kube_errmsg(k), "cannot run it"), "%s", ls_kube_errmsg(k));
	ck_assert_ptr_null(strstr(ls_kube_errmsg(k), "not served"));
	ls_kube_free(k);
	ls_kube_config_free(kc);
	/* A token file that is gone: the same error, naming the file. */
	snprintf(user, sizeof(user), "{tokenFile: %s}", tok);
	kc = fake_config(&f, dir, user);
	unlink(tok);
	ck_assert_int_eq(ls_kube_new(kc, &o, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), -ENOKEY);
	ck_assert_msg(strstr(ls_kube_errmsg(k), "credentials: cannot read the token file"), "%s",
	              ls_kube_errmsg(k));
	ls_kube_free(k);
	ls_kube_config_free(kc);
	fake_stop(&f);
	free(plugin);
	free(tok);
	rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_kube_client_body_cap_and_refused)
{
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;
	struct ls_kube_scale s;
	struct fake f;
	static const struct fake_resp none[] = {{200, NULL, "", 0}};
	struct ls_kube_options o = {.timeout_ms = 3000};

	static const struct fake_resp huge[] = {{200, NULL, NULL, LS_KUBE_MAX_BODY + 65536}};

	/* A response over the cap is refused, not buffered. */
	fake_start(&f, huge, 1);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, &o, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), -E2BIG);
	ck_assert_ptr_nonnull(strstr(ls_kube_errmsg(k), "is larger than 4194304 bytes"));
	fake_stop(&f);
	ls_kube_free(k);
	ls_kube_config_free(kc);
	/* Nothing listens on the port once the fake server is gone. */
	fake_start(&f, none, 0);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	fake_stop(&f);
	ck_assert_int_eq(ls_kube_new(kc, &o, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(ls_kube_errmsg(k), "GET http://127.0.0.1:"));
	ls_kube_free(k);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_client_reuses_one_connection)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0},
	    {200, NULL, "{\"metadata\":{}}", 0},
	    {200, NULL, "{\"spec\":{\"replicas\":2}}", 0},
	    {200, NULL, "{}", 0},
	    {200, NULL, "{\"metadata\":{}}", 0},
	    {200, NULL, "{\"spec\":{\"replicas\":5}}", 0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_scale s;
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;

	fake_start_opts(&f, resp, 6, true);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), 0);
	ck_assert_int_eq(s.replicas, 2);
	ck_assert_int_eq(ls_kube_scale_set(k, &t, 5, false), 0);
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), 0);
	ck_assert_int_eq(s.replicas, 5);
	ls_kube_free(k);
	fake_stop(&f);
	/* Six requests, GETs and a PATCH, over one kept-alive connection. */
	ck_assert_uint_eq(f.served, 6);
	ck_assert_uint_eq(f.accepts, 1);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_client_request_timeout)
{
	static const struct fake_resp resp[] = {
	    {200, NULL, discovery_apps, 0}, {0, NULL, "", 0}, /* never answers */
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_options o = {.timeout_ms = 700};
	struct ls_kube_scale s = {.replicas = 9};
	struct fake f;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;
	int64_t t0, took;

	fake_start(&f, resp, 2);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, &o, &k), 0);
	t0 = ls_clock_mono_ms();
	ck_assert_int_eq(ls_kube_scale_get(k, &t, &s), -ETIMEDOUT);
	took = ls_clock_mono_ms() - t0;
	/* The whole call, retries included, within its budget. */
	ck_assert_int_ge(took, 600);
	ck_assert_int_lt(took, 2000);
	ck_assert_int_eq(s.replicas, 9);
	ck_assert_msg(strstr(ls_kube_errmsg(k), "timed out"), "%s", ls_kube_errmsg(k));
	ls_kube_free(k);
	fake_stop(&f);
	ls_kube_config_free(kc);
}
END_TEST

START_TEST(test_kube_event_series)
{
	static const struct fake_resp resp[] = {
	    {201, NULL, "{}", 0},
	    {200, NULL, "{}", 0},
	    {404, NULL, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"gone\"}", 0},
	    {201, NULL, "{}", 0},
	    {201, NULL, "{}", 0},
	};
	struct ls_kube_target t = {"apps/v1", "Deployment", "shop", "web"};
	struct ls_kube_event ev = {&t, "uid-1", "Warning", "LagReadFailed", "ReadLag", "down"};
	struct ls_kube_recorder *rec = NULL;
	struct ls_kube_config *kc;
	struct ls_kube *k = NULL;
	struct fake f;

	fake_start(&f, resp, 5);
	kc = fake_config(&f, "/tmp", "{token: tok}");
	ck_assert_int_eq(ls_kube_new(kc, NULL, &k), 0);
	ck_assert_int_eq(ls_kube_recorder_new("lagscale.io/lagscale", "host-1", &rec), 0);
	ck_assert_int_eq(ls_kube_event_record(rec, k, &ev, 1000, 0, false), 0);
	/* The same again: a series on the first Event. */
	ck_assert_int_eq(ls_kube_event_record(rec, k, &ev, 2000, 1000, false), 0);
	/* The Event was deleted: patched 404, so created again. */
	ck_assert_int_eq(ls_kube_event_record(rec, k, &ev, 3000, 2000, false), 0);
	/* After LS_KUBE_SERIES_IDLE_MS without a repeat, a new Event. */
	ck_assert_int_eq(
	    ls_kube_event_record(rec, k, &ev, 4000, 2000 + LS_KUBE_SERIES_IDLE_MS, false), 0);
	fake_stop(&f);
	ck_assert_ptr_nonnull(
	    strstr(f.reqs[0], "POST /apis/events.k8s.io/v1/namespaces/shop/events "));
	ck_assert_ptr_nonnull(
	    strstr(f.reqs[0], "\"reportingController\":\"lagscale.io/lagscale\""));
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "\"reportingInstance\":\"host-1\""));
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "\"reason\":\"LagReadFailed\""));
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "\"uid\":\"uid-1\""));
	ck_assert_ptr_nonnull(strstr(f.reqs[0], "\"eventTime\":\"1970-01-01T00:00:01.000000Z\""));
	ck_assert_ptr_nonnull(
	    strstr(f.reqs[1], "PATCH /apis/events.k8s.io/v1/namespaces/shop/events/web."));
	ck_assert_ptr_nonnull(strstr(
	    f.reqs[1],
	    "{\"series\":{\"count\":2,\"lastObservedTime\":\"1970-01-01T00:00:02.000000Z\"}}"));
	ck_assert_ptr_nonnull(strstr(f.reqs[2], "PATCH "));
	ck_assert_ptr_nonnull(strstr(f.reqs[3], "POST "));
	ck_assert_ptr_nonnull(strstr(f.reqs[4], "POST "));
	ls_kube_recorder_free(rec);
	ls_kube_free(k);
	ls_kube_config_free(kc);
}
END_TEST

static Suite *kube_suite(void)
{
	Suite *s = suite_create("kube");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kube_kubeconfig_current_context);
	tcase_add_test(tc, test_kube_kubeconfig_context_flag_wins);
	tcase_add_test(tc, test_kube_kubeconfig_unknown_context);
	tcase_add_test(tc, test_kube_kubeconfig_no_current_context);
	tcase_add_test(tc, test_kube_kubeconfig_errors_have_places);
	tcase_add_test(tc, test_kube_kubeconfig_relative_paths);
	tcase_add_test(tc, test_kube_kubeconfig_merge_first_wins);
	tcase_add_test(tc, test_kube_kubeconfig_search_order);
	tcase_add_test(tc, test_kube_in_cluster);
	tcase_add_test(tc, test_kube_base64);
	tcase_add_test(tc, test_kube_exec_plugin);
	tcase_add_test(tc, test_kube_exec_plugin_failures);
	tcase_add_test(tc, test_kube_retry_after);
	tcase_add_test(tc, test_kube_status_errno);
	tcase_add_test(tc, test_kube_parse_pause);
	tcase_add_test(tc, test_kube_object_path);
	tcase_add_test(tc, test_kube_event_key);
	tcase_add_test(tc, test_kube_election_create_when_absent);
	tcase_add_test(tc, test_kube_election_follower_waits_for_expiry_by_own_clock);
	tcase_add_test(tc, test_kube_election_transitions_saturate);
	tcase_add_test(tc, test_kube_election_renew_keeps_acquire_time);
	tcase_add_test(tc, test_kube_election_other_holder_ends_leadership);
	tcase_add_test(tc, test_kube_election_release_hands_over);
	tcase_add_test(tc, test_kube_lease_json);
	tcase_add_test(tc, test_kube_client_credential_failure_is_its_own_error);
	tcase_add_test(tc, test_kube_kubeconfig_env_deduplicated);
	tcase_add_test(tc, test_kube_kubeconfig_many_entries);
	tcase_add_test(tc, test_kube_exec_plugin_timeout_kills_its_children);
	tcase_add_test(tc, test_kube_numbers_from_the_api_are_checked);
	tcase_add_test(tc, test_kube_client_retries_429_with_retry_after);
	tcase_add_test(tc, test_kube_client_retries_are_bounded);
	tcase_add_test(tc, test_kube_client_forbidden_and_not_found);
	tcase_add_test(tc, test_kube_client_token_file_reread_after_401);
	tcase_add_test(tc, test_kube_client_body_cap_and_refused);
	tcase_add_test(tc, test_kube_client_reuses_one_connection);
	tcase_add_test(tc, test_kube_client_request_timeout);
	tcase_add_test(tc, test_kube_event_series);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kube_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
