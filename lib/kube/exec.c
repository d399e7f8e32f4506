/* exec.c - client-go exec credential plugins (ExecCredential v1 and v1beta1). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube/kube-internal.h"
#include "util/buf.h"
#include "util/clock.h"

extern char **environ;

/* An ExecCredential is a few KiB; anything much larger is not one. */
#define EXEC_MAX_OUTPUT (1024 * 1024)

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void ls_kube_exec_cred_release(struct ls_kube_exec_cred *c)
{
	wipe_str(&c->token);
	wipe_str(&c->cert_pem);
	wipe_str(&c->key_pem);
	c->expiry_ms = 0;
}

/* KUBERNETES_EXEC_INFO, as client-go builds it (spec.interactive false). */
static char *exec_info(const struct ls_kube_config *kc)
{
	const struct ls_kube_exec_config *e = kc->exec;
	cJSON *o = cJSON_CreateObject(), *spec, *cl;
	char *out = NULL, *ca = NULL;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "kind", "ExecCredential");
	cJSON_AddStringToObject(o, "apiVersion", e->api_version);
	spec = cJSON_AddObjectToObject(o, "spec");
	if (!spec)
		goto out;
	if (e->provide_cluster_info) {
		cl = cJSON_AddObjectToObject(spec, "cluster");
		if (!cl)
			goto out;
		cJSON_AddStringToObject(cl, "server", kc->server);
		if (kc->tls_server_name)
			cJSON_AddStringToObject(cl, "tls-server-name", kc->tls_server_name);
		if (kc->insecure)
			cJSON_AddTrueToObject(cl, "insecure-skip-tls-verify");
		if (kc->proxy_url)
			cJSON_AddStringToObject(cl, "proxy-url", kc->proxy_url);
		if (kc->ca_data) {
			if (ls_kube_base64_encode(kc->ca_data, kc->ca_data_len, &ca) < 0)
				goto out;
		} else if (kc->ca_file) {
			struct ls_buf b;

			ls_buf_init(&b, LS_KUBE_MAX_CRED_FILE);
			if (ls_buf_read_file(&b, kc->ca_file) == 0 &&
			    ls_kube_base64_encode(b.data ? b.data : "", b.len, &ca) < 0) {
				ls_buf_release(&b);
				goto out;
			}
			ls_buf_release(&b);
		}
		if (ca)
			cJSON_AddStringToObject(cl, "certificate-authority-data", ca);
	}
	cJSON_AddFalseToObject(spec, "interactive");
	out = cJSON_PrintUnformatted(o);
out:
	free(ca);
	cJSON_Delete(o);
	return out;
}

static bool env_overridden(const struct ls_kube_exec_config *e, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t n = eq ? (size_t)(eq - entry) : strlen(entry);

	if (n == strlen("KUBERNETES_EXEC_INFO") && strncmp(entry, "KUBERNETES_EXEC_INFO", n) == 0)
		return true;
	for (size_t i = 0; i < e->n_env; i++)
		if (strlen(e->env_names[i]) == n && strncmp(entry, e->env_names[i], n) == 0)
			return true;
	return false;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		wipe_str(&v[i]);
	free(v);
}

/* lagscale's environment, minus the names the plugin sets, plus its entries. */
static char **build_env(const struct ls_kube_exec_config *e, const char *info)
{
	size_t n = 0, o = 0;
	char **v;

	while (environ && environ[n])
		n++;
	v = calloc(n + e->n_env + 2, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (env_overridden(e, environ[i]))
			continue;
		if (!(v[o++] = strdup(environ[i])))
			goto fail;
	}
	for (size_t i = 0; i < e->n_env; i++) {
		struct ls_buf b;

		ls_buf_init(&b, 0);
		if (ls_buf_printf(&b, "%s=%s", e->env_names[i], e->env_values[i]) < 0) {
			ls_buf_release(&b);
			goto fail;
		}
		v[o++] = ls_buf_steal(&b);
	}
	{
		struct ls_buf b;

		ls_buf_init(&b, 0);
		if (ls_buf_printf(&b, "KUBERNETES_EXEC_INFO=%s", info) < 0) {
			ls_buf_release(&b);
			goto fail;
		}
		v[o++] = ls_buf_steal(&b);
	}
	return v;
fail:
	free_strv(v);
	return NULL;
}

int ls_kube_exec_parse(const struct ls_kube_exec_config *e, const char *out, size_t len,
                       struct ls_kube_exec_cred *ret, char *err, size_t errlen)
{
	cJSON *j = cJSON_ParseWithLength(out, len);
	const cJSON *status;
	const char *v, *token, *cert, *key, *exp;
	struct ls_kube_exec_cred c = {0};
	int r = -EPROTO;

	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": its output is not an ExecCredential "
		         "(not a JSON object)",
		         e->command);
		goto out;
	}
	v = ls_kube_json_str(j, "apiVersion");
	if (!v || strcmp(v, e->api_version) != 0) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": it returned apiVersion \"%s\", the kubeconfig "
		         "asks for \"%s\"",
		         e->command, v ? v : "", e->api_version);
		goto out;
	}
	v = ls_kube_json_str(j, "kind");
	if (!v || strcmp(v, "ExecCredential") != 0) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": it returned kind \"%s\", not ExecCredential",
		         e->command, v ? v : "");
		goto out;
	}
	status = ls_kube_json_get(j, "status", NULL);
	if (!cJSON_IsObject(status)) {
		snprintf(err, errlen, "exec plugin \"%s\": its ExecCredential has no status",
		         e->command);
		goto out;
	}
	token = ls_kube_json_str(status, "token");
	cert = ls_kube_json_str(status, "clientCertificateData");
	key = ls_kube_json_str(status, "clientKeyData");
	if ((cert && cert[0]) != (key && key[0])) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": clientCertificateData and clientKeyData must come "
		         "together",
		         e->command);
		goto out;
	}
	if (!(token && token[0]) && !(cert && cert[0])) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": its status has neither a token nor a client "
		         "certificate",
		         e->command);
		goto out;
	}
	exp = ls_kube_json_str(status, "expirationTimestamp");
	if (exp && exp[0] && ls_clock_parse_rfc3339(exp, &c.expiry_ms) < 0) {
		snprintf(err, errlen,
		         "exec plugin \"%s\": expirationTimestamp \"%s\" is not RFC 3339",
		         e->command, exp);
		goto out;
	}
	r = -ENOMEM;
	if (token && token[0] && !(c.token = strdup(token)))
		goto out;
	if (cert && cert[0] && (!(c.cert_pem = strdup(cert)) || !(c.key_pem = strdup(key))))
		goto out;
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	if (r == -ENOMEM)
		snprintf(err, errlen, "exec plugin \"%s\": out of memory", e->command);
	ls_kube_exec_cred_release(&c);
	if (j) {
		/* The parsed document holds the credential: wipe its strings. */
		cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");

		for (cJSON *it = st ? st->child : NULL; it; it = it->next)
			if (cJSON_IsString(it) && it->valuestring)
				explicit_bzero(it->valuestring, strlen(it->valuestring));
		cJSON_Delete(j);
	}
	return r;
}

/* Kills the plugin and every process of its group (the group is the
 * plugin's pid, POSIX_SPAWN_SETPGROUP). */
static void kill_group(pid_t pid)
{
	if (kill(-pid, SIGKILL) < 0)
		kill(pid, SIGKILL);
}

int ls_kube_exec_fetch(const struct ls_kube_config *kc, int64_t timeout_ms,
                       struct ls_kube_exec_cred *ret, char *err, size_t errlen)
{
	const struct ls_kube_exec_config *e = kc->exec;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_ok = false, attr_ok = false;
	char **argv = NULL, **envp = NULL, *info = NULL;
	int pipefd[2] = {-1, -1}, r, status = 0;
	pid_t pid = -1;
	struct ls_buf out;
	int64_t deadline = ls_clock_mono_ms() + timeout_ms;
	bool timed_out = false;

	ls_buf_init(&out, EXEC_MAX_OUTPUT);
	if (!e) {
		snprintf(err, errlen, "no exec plugin is configured");
		return -EINVAL;
	}
	r = -ENOMEM;
	info = exec_info(kc);
	envp = info ? build_env(e, info) : NULL;
	argv = calloc(e->n_args + 2, sizeof(*argv));
	if (!info || !envp || !argv)
		goto oom;
	argv[0] = e->command;
	for (size_t i = 0; i < e->n_args; i++)
		argv[i + 1] = e->args[i];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "exec plugin \"%s\": pipe: %s", e->command, strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0)
		goto oom;
	fa_ok = true;
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1) != 0)
		goto oom;
	/* The plugin leads a process group of its own, so that a plugin that
	 * times out is killed together with whatever it started (a shell
	 * script's children would otherwise outlive it). */
	if (posix_spawnattr_init(&attr) != 0)
		goto oom;
	attr_ok = true;
	if (posix_spawnattr_setpgroup(&attr, 0) != 0 ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) != 0)
		goto oom;
	r = posix_spawnp(&pid, e->command, &fa, &attr, argv, envp);
	if (r != 0) {
		snprintf(err, errlen, "exec plugin \"%s\": cannot run it: %s%s%s", e->command,
		         strerror(r), e->install_hint ? ". " : "",
		         e->install_hint ? e->install_hint : "");
		r = r == ENOENT || r == EACCES ? -ENOENT : -r;
		pid = -1;
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	for (;;) {
		struct pollfd p = {pipefd[0], POLLIN, 0};
		int64_t left = deadline - ls_clock_mono_ms();
		char chunk[4096];
		ssize_t n;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!p.revents)
			continue;
		n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (ls_buf_append(&out, chunk, (size_t)n) < 0) {
			explicit_bzero(chunk, sizeof(chunk));
			snprintf(err, errlen,
			         "exec plugin \"%s\": its output is larger than %d bytes",
			         e->command, EXEC_MAX_OUTPUT);
			kill_group(pid);
			r = -EPROTO;
			goto reap;
		}
		explicit_bzero(chunk, sizeof(chunk));
	}
	if (timed_out) {
		kill_group(pid);
		snprintf(err, errlen, "exec plugin \"%s\": no answer within %lld ms, killed",
		         e->command, (long long)timeout_ms);
		r = -ETIMEDOUT;
		goto reap;
	}
	r = 0;
reap:
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (r < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			snprintf(err, errlen, "exec plugin \"%s\": exited with status %d%s%s",
			         e->command, WEXITSTATUS(status), e->install_hint ? ". " : "",
			         e->install_hint ? e->install_hint : "");
		else
			snprintf(err, errlen, "exec plugin \"%s\": killed by signal %d", e->command,
			         WTERMSIG(status));
		r = -EPROTO;
		goto out;
	}
	r = ls_kube_exec_parse(e, out.data ? out.data : "", out.len, ret, err, errlen);
	goto out;
oom:
	r = -ENOMEM;
	snprintf(err, errlen, "exec plugin \"%s\": out of memory", e->command);
out:
	if (pid > 0) {
		kill_group(pid);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (out.data)
		explicit_bzero(out.data, out.len);
	ls_buf_release(&out);
	free(argv);
	free_strv(envp);
	free(info);
	return r;
}
