/* kubeconfig.c - see kubeconfig.h. */
#include "kube/kubeconfig.h"
#include "kube/kube-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/yamltree.h"

/* Kubeconfig files are configuration: the YAML tree's 1 MiB cap applies. */

struct kfile {
	char *path;
	char *dir;
	struct ls_buf data;
	struct ls_node *root;
	struct ls_report rep;
};

/* One named entry of clusters, users or contexts: the first definition wins. */
struct entry {
	const char *name;
	const struct ls_node *body; /* the `cluster:` / `user:` / `context:` map (may be NULL) */
	const struct ls_node *item; /* the list item, for positions */
	struct kfile *f;
	size_t index;
};

struct entries {
	struct entry *v;
	size_t n;
	struct ls_strset names; /* name -> index in v: one lookup per entry */
};

struct merged {
	struct kfile **files;
	size_t n_files;
	struct entries clusters, users, contexts;
	const char *current_context;
	struct kfile *cc_file;
};

static const char *const sa_default_dir = LS_KUBE_SA_DIR;

static void wipe_free(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len ? len : strlen(s));
	free(s);
}

static void exec_free(struct ls_kube_exec_config *e)
{
	if (!e)
		return;
	free(e->api_version);
	free(e->command);
	for (size_t i = 0; i < e->n_args; i++)
		free(e->args[i]);
	free(e->args);
	for (size_t i = 0; i < e->n_env; i++) {
		free(e->env_names[i]);
		/* Plugins are often handed secrets through their environment. */
		wipe_free(e->env_values[i], 0);
	}
	free(e->env_names);
	free(e->env_values);
	free(e->install_hint);
	free(e);
}

void ls_kube_config_free(struct ls_kube_config *kc)
{
	if (!kc)
		return;
	free(kc->source);
	free(kc->context);
	free(kc->cluster);
	free(kc->user);
	free(kc->namespace_);
	free(kc->server);
	free(kc->tls_server_name);
	free(kc->proxy_url);
	free(kc->ca_file);
	free(kc->ca_data);
	wipe_free(kc->token, 0);
	free(kc->token_file);
	free(kc->username);
	wipe_free(kc->password, 0);
	exec_free(kc->exec);
	free(kc->cert_file);
	free(kc->key_file);
	free(kc->cert_data);
	wipe_free(kc->key_data, kc->key_data_len);
	free(kc->impersonate_user);
	for (size_t i = 0; i < kc->n_impersonate_groups; i++)
		free(kc->impersonate_groups[i]);
	free(kc->impersonate_groups);
	free(kc->impersonate_uid);
	free(kc);
}

const char *ls_kube_auth_name(const struct ls_kube_config *kc)
{
	switch (kc->auth) {
	case LS_KUBE_AUTH_TOKEN:
		return "token";
	case LS_KUBE_AUTH_TOKEN_FILE:
		return "token file";
	case LS_KUBE_AUTH_BASIC:
		return "basic";
	case LS_KUBE_AUTH_EXEC:
		return "exec plugin";
	case LS_KUBE_AUTH_NONE:
		break;
	}
	if (kc->cert_file || kc->cert_data)
		return "client certificate";
	return "none";
}

char *ls_kube_config_describe(const struct ls_kube_config *kc, char *out, size_t size)
{
	struct ls_buf b;
	bool cert = kc->cert_file || kc->cert_data;

	ls_buf_init(&b, 0);
	if (kc->in_cluster) {
		ls_buf_printf(&b, "in-cluster, server %s, service account token \"%s\"", kc->server,
		              kc->token_file ? kc->token_file : "");
	} else {
		ls_buf_printf(&b, "kubeconfig \"%s\", context \"%s\", server %s, user \"%s\" (",
		              kc->source, kc->context, kc->server, kc->user);
		switch (kc->auth) {
		case LS_KUBE_AUTH_TOKEN:
			ls_buf_puts(&b, "token");
			break;
		case LS_KUBE_AUTH_TOKEN_FILE:
			ls_buf_printf(&b, "token file \"%s\"", kc->token_file);
			break;
		case LS_KUBE_AUTH_BASIC:
			ls_buf_printf(&b, "basic auth as \"%s\"", kc->username);
			break;
		case LS_KUBE_AUTH_EXEC:
			ls_buf_printf(&b, "exec plugin \"%s\"", kc->exec->command);
			break;
		case LS_KUBE_AUTH_NONE:
			if (!cert)
				ls_buf_puts(&b, "no credentials");
			break;
		}
		if (cert)
			ls_buf_printf(&b, "%sclient certificate",
			              kc->auth == LS_KUBE_AUTH_NONE ? "" : " + ");
		ls_buf_puts(&b, ")");
	}
	if (kc->insecure)
		ls_buf_puts(&b, ", TLS verification disabled (insecure-skip-tls-verify)");
	if (kc->impersonate_user)
		ls_buf_printf(&b, ", impersonating \"%s\"", kc->impersonate_user);
	snprintf(out, size, "%s", ls_buf_str(&b));
	ls_buf_release(&b);
	return out;
}

/* --- base64 ------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int ls_kube_base64_decode(const char *in, char **ret, size_t *ret_len)
{
	size_t n = strlen(in), o = 0, pad = 0, quad = 0;
	unsigned acc = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			quad++;
			if (pad > 2)
				goto bad;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad > 0)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		quad++;
		if (quad % 4 == 0) {
			out[o++] = (char)((acc >> 16) & 0xff);
			out[o++] = (char)((acc >> 8) & 0xff);
			out[o++] = (char)(acc & 0xff);
			acc = 0;
		}
	}
	if (quad % 4 != 0)
		goto bad;
	if (pad == 1) {
		/* The last group held 3 symbols: 2 bytes. */
		out[o++] = (char)((acc >> 10) & 0xff);
		out[o++] = (char)((acc >> 2) & 0xff);
	} else if (pad == 2) {
		out[o++] = (char)((acc >> 4) & 0xff);
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
bad:
	explicit_bzero(out, n / 4 * 3 + 4);
	free(out);
	return -EINVAL;
}

int ls_kube_base64_encode(const void *in, size_t len, char **ret)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	char *out = malloc((len + 2) / 3 * 4 + 1);
	size_t o = 0, i = 0;

	if (!out)
		return -ENOMEM;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);

		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

/* --- small helpers ------------------------------------------------------ */

static int set_str(char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* dir/path, or path when absolute (or when dir is NULL). */
static char *resolve_path(const char *dir, const char *path)
{
	struct ls_buf b;

	if (path[0] == '/' || !dir || !dir[0])
		return strdup(path);
	ls_buf_init(&b, 0);
	if (ls_buf_printf(&b, "%s/%s", dir, path) < 0) {
		ls_buf_release(&b);
		return NULL;
	}
	return ls_buf_steal(&b);
}

static const char *scalar(const struct ls_node *n)
{
	if (!n || n->type != LS_NODE_SCALAR || n->is_null)
		return NULL;
	return n->value;
}

/*
 * A string value of map at key: NULL when absent or null; reported (and
 * NULL) when not a scalar. *ok is cleared on a report.
 */
static const char *get_str(struct kfile *f, const struct ls_node *map, const char *key,
                           const char *path, bool *ok)
{
	const struct ls_node *n = map && map->type == LS_NODE_MAP ? ls_node_get(map, key) : NULL;

	if (!n || (n->type == LS_NODE_SCALAR && n->is_null))
		return NULL;
	if (n->type != LS_NODE_SCALAR) {
		ls_report_add(&f->rep, n->line, n->col, path, "%s: must be a string, not %s", key,
		              ls_node_type_name(n));
		*ok = false;
		return NULL;
	}
	return n->value;
}

static bool get_bool(struct kfile *f, const struct ls_node *map, const char *key, const char *path,
                     bool *ok)
{
	const struct ls_node *n = map && map->type == LS_NODE_MAP ? ls_node_get(map, key) : NULL;
	const char *v = scalar(n);

	if (!v)
		return false;
	if (strcasecmp(v, "true") == 0)
		return true;
	if (strcasecmp(v, "false") == 0)
		return false;
	ls_report_add(&f->rep, n->line, n->col, path, "%s: must be true or false, got \"%s\"", key,
	              v);
	*ok = false;
	return false;
}

static void path_of(char *out, size_t size, const char *list, size_t index, const char *body,
                    const char *sub)
{
	if (sub)
		snprintf(out, size, "%s[%zu].%s.%s", list, index, body, sub);
	else
		snprintf(out, size, "%s[%zu].%s", list, index, body);
}

/* --- loading and merging files ------------------------------------------ */

static void kfile_free(struct kfile *f)
{
	if (!f)
		return;
	ls_node_free(f->root);
	/* The document may hold tokens and keys. */
	if (f->data.data)
		explicit_bzero(f->data.data, f->data.len);
	ls_buf_release(&f->data);
	ls_report_release(&f->rep);
	free(f->path);
	free(f->dir);
	free(f);
}

static void merged_release(struct merged *m)
{
	for (size_t i = 0; i < m->n_files; i++)
		kfile_free(m->files[i]);
	free(m->files);
	free(m->clusters.v);
	free(m->users.v);
	free(m->contexts.v);
	ls_strset_release(&m->clusters.names);
	ls_strset_release(&m->users.names);
	ls_strset_release(&m->contexts.names);
	memset(m, 0, sizeof(*m));
}

static const struct entry *find_entry(const struct entries *es, const char *name)
{
	size_t i;

	return ls_strset_find(&es->names, name, &i) ? &es->v[i] : NULL;
}

/* Adds the named entries of one list (clusters, users, contexts) of f. */
static int collect_list(struct kfile *f, const char *list, const char *body_key, struct entries *es,
                        bool *ok)
{
	const struct ls_node *seq = ls_node_get(f->root, list);

	if (!seq || (seq->type == LS_NODE_SCALAR && seq->is_null))
		return 0;
	if (seq->type != LS_NODE_SEQ) {
		ls_report_add(&f->rep, seq->line, seq->col, list, "must be a list, not %s",
		              ls_node_type_name(seq));
		*ok = false;
		return 0;
	}
	for (size_t i = 0; i < seq->n; i++) {
		const struct ls_node *item = seq->kids[i];
		const char *name;
		char path[64];
		struct entry *v;

		snprintf(path, sizeof(path), "%s[%zu]", list, i);
		if (item->type != LS_NODE_MAP) {
			ls_report_add(&f->rep, item->line, item->col, path,
			              "must be a map with name and %s, not %s", body_key,
			              ls_node_type_name(item));
			*ok = false;
			continue;
		}
		name = get_str(f, item, "name", path, ok);
		if (!name || !name[0]) {
			ls_report_add(&f->rep, item->line, item->col, path, "name: required");
			*ok = false;
			continue;
		}
		if (find_entry(es, name))
			continue; /* an earlier file (or entry) set it: it wins */
		v = realloc(es->v, (es->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		es->v = v;
		v[es->n] = (struct entry){name, ls_node_get(item, body_key), item, f, i};
		if (v[es->n].body && v[es->n].body->type != LS_NODE_MAP &&
		    !(v[es->n].body->type == LS_NODE_SCALAR && v[es->n].body->is_null)) {
			ls_report_add(&f->rep, v[es->n].body->line, v[es->n].body->col, path,
			              "%s: must be a map, not %s", body_key,
			              ls_node_type_name(v[es->n].body));
			*ok = false;
			continue;
		}
		if (ls_strset_add(&es->names, name, es->n, NULL) < 0)
			return -ENOMEM;
		es->n++;
	}
	return 0;
}

/*
 * Parses one file's text (taking over data) and merges it into m. Returns
 * 0, -EINVAL (reported) or -ENOMEM.
 */
static int merge_text(struct merged *m, const char *path, const char *dir, struct ls_buf *data)
{
	struct kfile *f = calloc(1, sizeof(*f)), **files;
	bool ok = true;
	int r;

	if (!f) {
		ls_buf_release(data);
		return -ENOMEM;
	}
	f->data = *data;
	memset(data, 0, sizeof(*data));
	f->path = strdup(path);
	f->dir = strdup(dir ? dir : ".");
	files = realloc(m->files, (m->n_files + 1) * sizeof(*files));
	if (!f->path || !f->dir || !files) {
		if (files)
			m->files = files;
		kfile_free(f);
		return -ENOMEM;
	}
	m->files = files;
	m->files[m->n_files++] = f;
	ls_report_init(&f->rep, f->path);
	r = ls_node_parse(&f->rep, ls_buf_str(&f->data), f->data.len, &f->root);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if (ls_report_failed(&f->rep))
		ok = false;
	if (f->root->type == LS_NODE_SCALAR && f->root->is_null)
		return 0; /* an empty file is an empty config, as in client-go */
	if (f->root->type != LS_NODE_MAP) {
		ls_report_add(&f->rep, f->root->line, f->root->col, NULL,
		              "not a kubeconfig: the document is %s, not a map",
		              ls_node_type_name(f->root));
		return -EINVAL;
	}
	if ((r = collect_list(f, "clusters", "cluster", &m->clusters, &ok)) < 0 ||
	    (r = collect_list(f, "users", "user", &m->users, &ok)) < 0 ||
	    (r = collect_list(f, "contexts", "context", &m->contexts, &ok)) < 0)
		return r;
	if (!m->current_context) {
		const char *cc = get_str(f, f->root, "current-context", NULL, &ok);

		if (cc && cc[0]) {
			m->current_context = cc;
			m->cc_file = f;
		}
	}
	return ok ? 0 : -EINVAL;
}

static int merge_file(struct merged *m, const char *path, struct ls_diag *diag)
{
	struct ls_buf data;
	char *dir = NULL;
	int r;

	r = ls_node_read_file(path, &data, &dir, diag);
	if (r < 0)
		return r;
	r = merge_text(m, path, dir, &data);
	free(dir);
	return r;
}

/* --- building the result from the chosen entries ------------------------ */

/* Decodes a `-data` field; reports a bad value. */
static int decode_data(struct kfile *f, const struct ls_node *map, const char *key,
                       const char *path, char **ret, size_t *ret_len, bool *ok)
{
	const char *v = get_str(f, map, key, path, ok);
	int r;

	if (!v || !v[0])
		return 0;
	r = ls_kube_base64_decode(v, ret, ret_len);
	if (r == -EINVAL) {
		const struct ls_node *n = ls_node_get(map, key);

		ls_report_add(&f->rep, n->line, n->col, path, "%s: not valid base64", key);
		*ok = false;
		return 0;
	}
	return r;
}

/* A file path field: resolved against the file's directory and checked readable. */
static int file_field(struct kfile *f, const struct ls_node *map, const char *key, const char *path,
                      char **ret, bool *ok)
{
	const char *v = get_str(f, map, key, path, ok);
	char *p;

	if (!v || !v[0])
		return 0;
	p = resolve_path(f->dir, v);
	if (!p)
		return -ENOMEM;
	if (access(p, R_OK) < 0) {
		const struct ls_node *n = ls_node_get(map, key);

		ls_report_add(&f->rep, n->line, n->col, path, "%s: cannot read \"%s\": %s", key, p,
		              strerror(errno));
		*ok = false;
		free(p);
		return 0;
	}
	free(*ret);
	*ret = p;
	return 0;
}

static int build_cluster(struct ls_kube_config *kc, const struct entry *e, bool *ok)
{
	struct kfile *f = e->f;
	const struct ls_node *c = e->body;
	char path[96];
	const char *server, *v;
	int r;

	path_of(path, sizeof(path), "clusters", e->index, "cluster", NULL);
	server = get_str(f, c, "server", path, ok);
	if (!server || !server[0]) {
		const struct ls_node *at = c ? c : e->item;

		ls_report_add(&f->rep, at->line, at->col, path,
		              "server: required (cluster \"%s\" has no server)", e->name);
		*ok = false;
		return 0;
	}
	{
		struct ls_buf b;
		size_t n = strlen(server);

		/* client-go defaults a server without a scheme to https. */
		ls_buf_init(&b, 0);
		if (!strstr(server, "://"))
			ls_buf_puts(&b, "https://");
		while (n > 0 && server[n - 1] == '/')
			n--;
		if (ls_buf_append(&b, server, n) < 0) {
			ls_buf_release(&b);
			return -ENOMEM;
		}
		free(kc->server);
		kc->server = ls_buf_steal(&b);
		if (strncmp(kc->server, "https://", 8) != 0 &&
		    strncmp(kc->server, "http://", 7) != 0) {
			const struct ls_node *n2 = ls_node_get(c, "server");

			ls_report_add(&f->rep, n2->line, n2->col, path,
			              "server: \"%s\" is not an http or https URL", server);
			*ok = false;
		}
	}
	if ((v = get_str(f, c, "tls-server-name", path, ok)) && v[0] &&
	    (r = set_str(&kc->tls_server_name, v)) < 0)
		return r;
	if ((v = get_str(f, c, "proxy-url", path, ok)) && v[0] &&
	    (r = set_str(&kc->proxy_url, v)) < 0)
		return r;
	kc->insecure = get_bool(f, c, "insecure-skip-tls-verify", path, ok);
	r = decode_data(f, c, "certificate-authority-data", path, &kc->ca_data, &kc->ca_data_len,
	                ok);
	if (r < 0)
		return r;
	if (!kc->ca_data) {
		r = file_field(f, c, "certificate-authority", path, &kc->ca_file, ok);
		if (r < 0)
			return r;
	}
	if (kc->insecure && (kc->ca_data || kc->ca_file)) {
		/* client-go refuses this combination: which one was meant? */
		const struct ls_node *n = ls_node_get(c, "insecure-skip-tls-verify");

		ls_report_add(&f->rep, n->line, n->col, path,
		              "insecure-skip-tls-verify: cannot be combined with a "
		              "certificate-authority");
		*ok = false;
	}
	return 0;
}

static int strv_from_seq(struct kfile *f, const struct ls_node *map, const char *key,
                         const char *path, char ***ret, size_t *ret_n, bool *ok)
{
	const struct ls_node *seq = map ? ls_node_get(map, key) : NULL;
	char **v;

	if (!seq || (seq->type == LS_NODE_SCALAR && seq->is_null))
		return 0;
	if (seq->type != LS_NODE_SEQ) {
		ls_report_add(&f->rep, seq->line, seq->col, path, "%s: must be a list, not %s", key,
		              ls_node_type_name(seq));
		*ok = false;
		return 0;
	}
	v = calloc(seq->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < seq->n; i++) {
		const char *s = scalar(seq->kids[i]);

		if (!s) {
			ls_report_add(&f->rep, seq->kids[i]->line, seq->kids[i]->col, path,
			              "%s[%zu]: must be a string", key, i);
			*ok = false;
			s = "";
		}
		v[i] = strdup(s);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	*ret_n = seq->n;
	return 0;
}

static int build_exec(struct ls_kube_config *kc, struct kfile *f, const struct ls_node *ex,
                      const char *upath, bool *ok)
{
	struct ls_kube_exec_config *e;
	const struct ls_node *env;
	char path[128];
	const char *v, *mode;
	int r = -ENOMEM;

	snprintf(path, sizeof(path), "%s.exec", upath);
	if (ex->type != LS_NODE_MAP) {
		ls_report_add(&f->rep, ex->line, ex->col, path, "must be a map, not %s",
		              ls_node_type_name(ex));
		*ok = false;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	kc->exec = e;
	v = get_str(f, ex, "apiVersion", path, ok);
	if (!v || (strcmp(v, "client.authentication.k8s.io/v1") != 0 &&
	           strcmp(v, "client.authentication.k8s.io/v1beta1") != 0)) {
		const struct ls_node *n = ls_node_get(ex, "apiVersion");

		if (!n)
			n = ex;
		ls_report_add(&f->rep, n->line, n->col, path,
		              "apiVersion: %s%s%s; lagscale supports "
		              "client.authentication.k8s.io/v1 and v1beta1",
		              v ? "\"" : "required", v ? v : "", v ? "\" is not supported" : "");
		*ok = false;
	} else if (!(e->api_version = strdup(v))) {
		return -ENOMEM;
	}
	v = get_str(f, ex, "command", path, ok);
	if (!v || !v[0]) {
		ls_report_add(&f->rep, ex->line, ex->col, path, "command: required");
		*ok = false;
	} else {
		/* client-go resolves a command with a path separator against
		 * the kubeconfig's directory, and looks a bare name up in PATH. */
		e->command = strchr(v, '/') ? resolve_path(f->dir, v) : strdup(v);
		if (!e->command)
			return -ENOMEM;
	}
	if ((r = strv_from_seq(f, ex, "args", path, &e->args, &e->n_args, ok)) < 0)
		return r;
	env = ls_node_get(ex, "env");
	if (env && env->type == LS_NODE_SEQ) {
		e->env_names = calloc(env->n + 1, sizeof(char *));
		e->env_values = calloc(env->n + 1, sizeof(char *));
		if (!e->env_names || !e->env_values)
			return -ENOMEM;
		for (size_t i = 0; i < env->n; i++) {
			const struct ls_node *it = env->kids[i];
			char ipath[160];
			const char *name, *value;

			snprintf(ipath, sizeof(ipath), "%s.env[%zu]", path, i);
			name = get_str(f, it, "name", ipath, ok);
			value = get_str(f, it, "value", ipath, ok);
			if (it->type != LS_NODE_MAP || !name || !name[0] || strchr(name, '=')) {
				ls_report_add(
				    &f->rep, it->line, it->col, ipath,
				    "must be a map with a name (without '=') and a value");
				*ok = false;
				continue;
			}
			e->env_names[e->n_env] = strdup(name);
			e->env_values[e->n_env] = strdup(value ? value : "");
			if (!e->env_names[e->n_env] || !e->env_values[e->n_env]) {
				e->n_env++;
				return -ENOMEM;
			}
			e->n_env++;
		}
	} else if (env && !(env->type == LS_NODE_SCALAR && env->is_null)) {
		ls_report_add(&f->rep, env->line, env->col, path, "env: must be a list, not %s",
		              ls_node_type_name(env));
		*ok = false;
	}
	e->provide_cluster_info = get_bool(f, ex, "provideClusterInfo", path, ok);
	if ((v = get_str(f, ex, "installHint", path, ok)) && !(e->install_hint = strdup(v)))
		return -ENOMEM;
	mode = get_str(f, ex, "interactiveMode", path, ok);
	if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0) {
		const struct ls_node *n = ls_node_get(ex, "interactiveMode");

		ls_report_add(&f->rep, n->line, n->col, path,
		              "interactiveMode: \"%s\" cannot work: lagscale never has a "
		              "terminal (use Never or IfAvailable)",
		              mode);
		*ok = false;
	} else if (!mode && e->api_version &&
	           strcmp(e->api_version, "client.authentication.k8s.io/v1") == 0) {
		/* client-go requires it in v1 too. */
		ls_report_add(&f->rep, ex->line, ex->col, path,
		              "interactiveMode: required with client.authentication.k8s.io/v1 "
		              "(Never or IfAvailable)");
		*ok = false;
	}
	return 0;
}

static int build_user(struct ls_kube_config *kc, const struct entry *e, bool *ok)
{
	struct kfile *f = e->f;
	const struct ls_node *u = e->body, *n;
	const char *v, *pw;
	char path[96];
	int r, methods = 0;

	path_of(path, sizeof(path), "users", e->index, "user", NULL);
	if (!u || u->type != LS_NODE_MAP)
		return 0; /* no credentials: anonymous */
	if ((n = ls_node_get(u, "auth-provider")) && !(n->type == LS_NODE_SCALAR && n->is_null)) {
		const struct ls_node *name = n->type == LS_NODE_MAP ? ls_node_get(n, "name") : NULL;

		ls_report_add(&f->rep, n->line, n->col, path,
		              "auth-provider%s%s%s: not supported (client-go removed auth "
		              "providers); use an exec plugin such as kubelogin or "
		              "gke-gcloud-auth-plugin",
		              scalar(name) ? " \"" : "", scalar(name) ? scalar(name) : "",
		              scalar(name) ? "\"" : "");
		*ok = false;
	}
	/* Client certificate: -data wins over the file. */
	if ((r = decode_data(f, u, "client-certificate-data", path, &kc->cert_data,
	                     &kc->cert_data_len, ok)) < 0 ||
	    (r = decode_data(f, u, "client-key-data", path, &kc->key_data, &kc->key_data_len, ok)) <
	        0)
		return r;
	if (!kc->cert_data &&
	    (r = file_field(f, u, "client-certificate", path, &kc->cert_file, ok)) < 0)
		return r;
	if (!kc->key_data && (r = file_field(f, u, "client-key", path, &kc->key_file, ok)) < 0)
		return r;
	if ((kc->cert_data || kc->cert_file) != (kc->key_data || kc->key_file)) {
		ls_report_add(&f->rep, u->line, u->col, path,
		              "%s: required with %s (a client certificate needs its key)",
		              kc->cert_data || kc->cert_file ? "client-key" : "client-certificate",
		              kc->cert_data || kc->cert_file ? "client-certificate" : "client-key");
		*ok = false;
	}
	/* tokenFile wins over token, as in client-go (the file can rotate). */
	if ((v = get_str(f, u, "tokenFile", path, ok)) && v[0]) {
		if ((r = file_field(f, u, "tokenFile", path, &kc->token_file, ok)) < 0)
			return r;
		kc->auth = LS_KUBE_AUTH_TOKEN_FILE;
		methods++;
	} else if ((v = get_str(f, u, "token", path, ok)) && v[0]) {
		if ((r = set_str(&kc->token, v)) < 0)
			return r;
		kc->auth = LS_KUBE_AUTH_TOKEN;
		methods++;
	}
	v = get_str(f, u, "username", path, ok);
	pw = get_str(f, u, "password", path, ok);
	if ((v && v[0]) || (pw && pw[0])) {
		if ((r = set_str(&kc->username, v ? v : "")) < 0 ||
		    (r = set_str(&kc->password, pw ? pw : "")) < 0)
			return r;
		if (methods) {
			ls_report_add(&f->rep, u->line, u->col, path,
			              "username/password and a token are both set for user "
			              "\"%s\"; only one is allowed",
			              e->name);
			*ok = false;
		}
		kc->auth = LS_KUBE_AUTH_BASIC;
		methods++;
	}
	if ((n = ls_node_get(u, "exec")) && !(n->type == LS_NODE_SCALAR && n->is_null)) {
		if ((r = build_exec(kc, f, n, path, ok)) < 0)
			return r;
		/* A static token or basic auth wins over the plugin, as in client-go. */
		if (!methods)
			kc->auth = LS_KUBE_AUTH_EXEC;
	}
	if ((v = get_str(f, u, "as", path, ok)) && v[0] &&
	    (r = set_str(&kc->impersonate_user, v)) < 0)
		return r;
	if ((v = get_str(f, u, "as-uid", path, ok)) && v[0] &&
	    (r = set_str(&kc->impersonate_uid, v)) < 0)
		return r;
	if ((r = strv_from_seq(f, u, "as-groups", path, &kc->impersonate_groups,
	                       &kc->n_impersonate_groups, ok)) < 0)
		return r;
	if ((kc->n_impersonate_groups || kc->impersonate_uid) && !kc->impersonate_user) {
		ls_report_add(&f->rep, u->line, u->col, path,
		              "as-groups and as-uid need `as` (the user to impersonate)");
		*ok = false;
	}
	return 0;
}

static void files_list(const struct merged *m, struct ls_buf *b)
{
	for (size_t i = 0; i < m->n_files; i++)
		ls_buf_printf(b, "%s\"%s\"", i ? ", " : "", m->files[i]->path);
}

/* Picks the context and fills kc from the merged files. */
static int build(struct merged *m, const char *want, struct ls_kube_config *kc,
                 struct ls_diag *diag)
{
	const struct entry *ctx, *cl, *us = NULL;
	const char *name = want && want[0] ? want : m->current_context;
	const char *cname, *uname, *ns;
	char path[96];
	bool ok = true;
	struct ls_buf files;
	int r = 0;

	ls_buf_init(&files, 0);
	files_list(m, &files);
	if (!name) {
		ls_diag_add(diag,
		            "%s: no current-context is set, and no context was given (use "
		            "--context or kubernetes.context)",
		            ls_buf_str(&files));
		r = -EINVAL;
		goto out;
	}
	ctx = find_entry(&m->contexts, name);
	if (!ctx) {
		ls_diag_add(diag, "context \"%s\" not found in %s", name, ls_buf_str(&files));
		r = -EINVAL;
		goto out;
	}
	path_of(path, sizeof(path), "contexts", ctx->index, "context", NULL);
	cname = get_str(ctx->f, ctx->body, "cluster", path, &ok);
	uname = get_str(ctx->f, ctx->body, "user", path, &ok);
	ns = get_str(ctx->f, ctx->body, "namespace", path, &ok);
	if (!cname || !cname[0]) {
		const struct ls_node *at = ctx->body ? ctx->body : ctx->item;

		ls_report_add(&ctx->f->rep, at->line, at->col, path,
		              "cluster: required (context \"%s\" names no cluster)", name);
		r = -EINVAL;
		goto out;
	}
	cl = find_entry(&m->clusters, cname);
	if (!cl) {
		const struct ls_node *at = ls_node_get(ctx->body, "cluster");

		ls_report_add(&ctx->f->rep, at->line, at->col, path,
		              "cluster: \"%s\" not found in %s", cname, ls_buf_str(&files));
		r = -EINVAL;
		goto out;
	}
	if (uname && uname[0]) {
		us = find_entry(&m->users, uname);
		if (!us) {
			const struct ls_node *at = ls_node_get(ctx->body, "user");

			ls_report_add(&ctx->f->rep, at->line, at->col, path,
			              "user: \"%s\" not found in %s", uname, ls_buf_str(&files));
			r = -EINVAL;
			goto out;
		}
	}
	if ((r = set_str(&kc->source, ctx->f->path)) < 0 || (r = set_str(&kc->context, name)) < 0 ||
	    (r = set_str(&kc->cluster, cname)) < 0 ||
	    (r = set_str(&kc->user, uname ? uname : "")) < 0 ||
	    (r = set_str(&kc->namespace_, ns && ns[0] ? ns : "default")) < 0)
		goto out;
	if ((r = build_cluster(kc, cl, &ok)) < 0)
		goto out;
	if (us && (r = build_user(kc, us, &ok)) < 0)
		goto out;
	if (!ok)
		r = -EINVAL;
out:
	ls_buf_release(&files);
	return r;
}

/* Moves every file's report into diag, in the order the files were read. */
static void flush_reports(struct merged *m, struct ls_diag *diag)
{
	for (size_t i = 0; i < m->n_files; i++)
		ls_report_flush(&m->files[i]->rep, diag);
}

static int finish(struct merged *m, const char *context, struct ls_kube_config **ret,
                  struct ls_diag *diag)
{
	struct ls_kube_config *kc = calloc(1, sizeof(*kc));
	int r;

	if (!kc)
		return -ENOMEM;
	r = build(m, context, kc, diag);
	for (size_t i = 0; i < m->n_files; i++)
		if (ls_report_failed(&m->files[i]->rep) && r == 0)
			r = -EINVAL;
	if (r < 0) {
		ls_kube_config_free(kc);
		return r;
	}
	*ret = kc;
	return 0;
}

int ls_kube_config_load_string(const char *name, const char *dir, const char *yaml, size_t len,
                               const char *context, struct ls_kube_config **ret,
                               struct ls_diag *diag)
{
	struct merged m = {0};
	struct ls_diag scratch;
	struct ls_buf data;
	int r;

	ls_diag_init(&scratch);
	if (!diag)
		diag = &scratch;
	ls_buf_init(&data, LS_NODE_MAX_DOCUMENT);
	r = ls_buf_append(&data, yaml, len);
	if (r < 0) {
		ls_diag_add(diag, "%s: the file is larger than %d bytes", name,
		            LS_NODE_MAX_DOCUMENT);
		ls_buf_release(&data);
		goto out;
	}
	r = merge_text(&m, name, dir, &data);
	if (r == 0)
		r = finish(&m, context, ret, diag);
	flush_reports(&m, diag);
out:
	merged_release(&m);
	ls_diag_release(&scratch);
	return r;
}

/* --- in-cluster ------------------------------------------------------------ */

int ls_kube_read_secret_file(const char *path, char **ret)
{
	struct ls_buf b;
	size_t n;
	int r;

	ls_buf_init(&b, LS_KUBE_MAX_CRED_FILE);
	r = ls_buf_read_file(&b, path);
	if (r < 0) {
		ls_buf_release(&b);
		return r;
	}
	n = b.len;
	while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' ' ||
	                 b.data[n - 1] == '\t'))
		n--;
	if (b.data)
		b.data[n] = '\0';
	b.len = n;
	*ret = ls_buf_steal(&b);
	if (!*ret)
		*ret = strdup("");
	return *ret ? 0 : -ENOMEM;
}

static int load_in_cluster(const char *host, const char *port, struct ls_kube_config **ret,
                           struct ls_diag *diag)
{
	const char *dir = getenv(LS_KUBE_SA_DIR_ENV);
	struct ls_kube_config *kc = calloc(1, sizeof(*kc));
	struct ls_buf b;
	char *p = NULL, *ns = NULL;
	int r = -ENOMEM;

	ls_buf_init(&b, 0);
	if (!kc)
		goto out;
	if (!dir || !dir[0])
		dir = sa_default_dir;
	kc->in_cluster = true;
	/* An IPv6 address goes in brackets, as net.JoinHostPort does. */
	if (ls_buf_printf(&b,
	                  strchr(host, ':') && host[0] != '[' ? "https://[%s]:%s" : "https://%s:%s",
	                  host, port) < 0)
		goto out;
	kc->server = ls_buf_steal(&b);
	if (!kc->server || !(kc->source = strdup(dir)) || !(kc->context = strdup("")) ||
	    !(kc->cluster = strdup("")) || !(kc->user = strdup("")))
		goto out;
	kc->token_file = resolve_path(dir, "token");
	if (!kc->token_file)
		goto out;
	if (access(kc->token_file, R_OK) < 0) {
		r = -errno;
		ls_diag_add(diag,
		            "in-cluster (KUBERNETES_SERVICE_HOST is set): cannot read the service "
		            "account token \"%s\": %s",
		            kc->token_file, strerror(errno));
		goto out;
	}
	kc->auth = LS_KUBE_AUTH_TOKEN_FILE;
	p = resolve_path(dir, "ca.crt");
	if (!p)
		goto out;
	if (access(p, R_OK) == 0) {
		kc->ca_file = p;
		p = NULL;
	}
	/* Without ca.crt client-go falls back to the system's roots: so do we
	 * (the server is still verified). */
	free(p);
	p = resolve_path(dir, "namespace");
	if (!p)
		goto out;
	if (ls_kube_read_secret_file(p, &ns) == 0 && ns[0]) {
		kc->namespace_ = ns;
		ns = NULL;
	} else if (!(kc->namespace_ = strdup("default"))) {
		goto out;
	}
	*ret = kc;
	kc = NULL;
	r = 0;
out:
	if (r == -ENOMEM)
		ls_diag_add(diag, "in-cluster configuration: out of memory");
	ls_buf_release(&b);
	free(p);
	free(ns);
	ls_kube_config_free(kc);
	return r;
}

/* --- the search order ------------------------------------------------------ */

int ls_kube_config_load(const struct ls_kube_load_options *o, struct ls_kube_config **ret,
                        struct ls_diag *diag)
{
	const char *explicit_path = o && o->kubeconfig && o->kubeconfig[0] ? o->kubeconfig : NULL;
	const char *context = o ? o->context : NULL;
	const char *env = getenv("KUBECONFIG");
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *home = getenv("HOME");
	struct merged m = {0};
	struct ls_diag scratch;
	struct ls_strset seen;
	char *list = NULL, *home_path = NULL;
	int r;

	ls_strset_init(&seen);
	ls_diag_init(&scratch);
	if (!diag)
		diag = &scratch;
	if (explicit_path) {
		r = merge_file(&m, explicit_path, diag);
		if (r == 0)
			r = finish(&m, context, ret, diag);
		goto out;
	}
	if (env && env[0]) {
		char *rest, *tok;

		list = strdup(env);
		if (!list) {
			r = -ENOMEM;
			goto out;
		}
		rest = list;
		while ((tok = strsep(&rest, ":")) != NULL) {
			struct stat st;

			if (!tok[0])
				continue; /* empty entries are ignored, as in client-go */
			/* A file named twice is read once (client-go deduplicates too). */
			r = ls_strset_add(&seen, tok, 0, NULL);
			if (r < 0)
				goto out;
			if (r == 0)
				continue;
			/* client-go skips files of KUBECONFIG that do not exist. */
			if (stat(tok, &st) < 0 && errno == ENOENT)
				continue;
			r = merge_file(&m, tok, diag);
			if (r < 0)
				goto out;
		}
		if (m.n_files > 0) {
			r = finish(&m, context, ret, diag);
			goto out;
		}
	}
	if (host && host[0] && port && port[0]) {
		r = load_in_cluster(host, port, ret, diag);
		goto out;
	}
	if (home && home[0]) {
		struct stat st;

		home_path = resolve_path(home, ".kube/config");
		if (!home_path) {
			r = -ENOMEM;
			goto out;
		}
		if (stat(home_path, &st) == 0) {
			r = merge_file(&m, home_path, diag);
			if (r == 0)
				r = finish(&m, context, ret, diag);
			goto out;
		}
	}
	ls_diag_add(diag,
	            "no Kubernetes configuration: no --kubeconfig or kubernetes.kubeconfig, "
	            "%s, not in a cluster (KUBERNETES_SERVICE_HOST unset) and no %s",
	            env && env[0] ? "no file of KUBECONFIG exists" : "KUBECONFIG unset",
	            home_path ? home_path : "~/.kube/config");
	r = -ENOENT;
out:
	flush_reports(&m, diag);
	merged_release(&m);
	ls_strset_release(&seen);
	free(list);
	free(home_path);
	ls_diag_release(&scratch);
	return r;
}
