/*
 * import_keda.c - `lagscale import-keda [--to config|lagscaler] FILE...`:
 * KEDA ScaledObjects with a kafka trigger (and the TriggerAuthentications
 * they reference) into lagscale configuration or LagScaler manifests
 * (DESIGN.md sections 4, 6 and 11), on stdout.
 *
 * The input is read whole first (every file, multi-document YAML parsed
 * with lib/util/yamltree, `kind: List` items flattened): a file that cannot
 * be read or parsed prints nothing on stdout and exits 2. Then every
 * ScaledObject is mapped field by field; whatever cannot be mapped is a
 * warning on stderr naming FILE:LINE:COL and the object (exit 3), what is
 * mapped differently but means the same is a note (exit code unchanged).
 * Secret values are never read: a secretTargetRef becomes a path under
 * /etc/lagscale/secrets/NAME/KEY (a mounted Secret), used as ${file:PATH}
 * or as the path librdkafka reads itself (certificates, keys).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "util/buf.h"
#include "util/parse.h"
#include "util/yamltree.h"

static int import_keda_run(int argc, char **argv);

enum { F_TO = 't', F_MOUNT_DIR = 'm' };

const struct ls_cmdutil_command ls_cmd_import_keda = {
    .name = "import-keda",
    .summary = "Convert KEDA ScaledObjects with Kafka triggers into lagscale scalers",
    .usage = "lagscale import-keda [--to config|lagscaler] [--mount-dir DIR] FILE...",
    .description =
        "Reads KEDA manifests (multi-document YAML, or the List of `kubectl get "
        "scaledobjects,triggerauthentications -o yaml`; FILE - is standard input) and "
        "prints each ScaledObject with a kafka trigger as a lagscale scaler: the trigger's "
        "metadata, the TriggerAuthentication or ClusterTriggerAuthentication it references, "
        "the replica counts, polling interval, cooldown, fallback and HPA behavior. Where "
        "lagscale's defaults differ from KEDA's (pollingInterval 30s, minReplicaCount 0, "
        "maxReplicaCount 100, lagThreshold 10) KEDA's are written out, so the scaler "
        "decides as the ScaledObject did; partitionAware stays on (lagscale's replica "
        "counts that the partitions can use; false gives KEDA's counts exactly).\n\n"
        "Kafka clusters are shared by the ScaledObjects with the same bootstrap servers and "
        "authentication, and named after the first of them. Secret values are never read: "
        "a Secret key becomes ${file:/etc/lagscale/secrets/SECRET/KEY} (or that path, for "
        "certificates), where the Secret is to be mounted in lagscale's pod (see "
        "--mount-dir); the output's first lines list the Secrets to mount.\n\n"
        "What cannot be mapped (other trigger types, a second trigger, scalingModifiers, "
        "unknown metadata, GSSAPI, values KEDA itself would refuse) is a warning on stderr "
        "naming FILE:LINE:COL; the paused annotations are warnings too, with the kubectl "
        "command that sets lagscale's on the target. Other kinds (Deployments, Secrets) are "
        "skipped with a note.\n\n"
        "--to lagscaler prints one lagscale.io/v1alpha1 LagScaler per ScaledObject, in the "
        "ScaledObject's namespace and with its name; the clusters they use belong in the "
        "controller's configuration and are printed as a comment at the top. Apply them with "
        "kubectl once the LagScaler CRD is installed (the Helm chart and deploy/ install it); "
        "a ScaledObject that reads its consumer group or topic from the environment "
        "(consumerGroupFromEnv, topicFromEnv) is not mapped, as a LagScaler takes no "
        "${env:NAME}.",
    .flags =
        (const struct ls_cmdutil_flag[]){
            {"to", 0, F_TO, "config|lagscaler", "config",
             "config: one lagscale configuration (clusters and scalers) that `check-config` "
             "and `run --config` read. lagscaler: LagScaler manifests for kubectl apply."},
            {"mount-dir", 0, F_MOUNT_DIR, "DIR", "/etc/lagscale",
             "Where lagscale's pod mounts the Secrets (DIR/secrets/NAME/KEY) and ConfigMaps "
             "(DIR/configmaps/NAME/KEY) that TriggerAuthentications name."},
            {0},
        },
    .examples = "# Every ScaledObject of a cluster, into a config to try in dry-run\n"
                "kubectl get scaledobjects,triggerauthentications -A -o yaml \\\n"
                "  | lagscale import-keda - > lagscale.yaml\n"
                "lagscale check-config lagscale.yaml\n"
                "lagscale run --config lagscale.yaml --dry-run --once\n"
                "\n"
                "# A team's manifests, as LagScaler objects\n"
                "lagscale import-keda --to lagscaler k8s/scaledobject.yaml k8s/auth.yaml",
    .exit_codes = "0  every ScaledObject was mapped completely\n"
                  "2  bad usage or bad input (unreadable, not YAML, no KEDA ScaledObject with a "
                  "kafka trigger)\n"
                  "3  mapped, with warnings on stderr for what could not be",
    .run = import_keda_run,
};

#define EXIT_WARNINGS 3

/* One input file: caps as for the configuration's files. */
#define MAX_INPUT_BYTES (64 * 1024 * 1024)
#define MAX_INPUT_NODES 4000000
#define MAX_PROPS       16
#define MAX_PARAMS      32

/* A KEDA object of the input: a document, or an item of a List. */
struct object {
	const char *file;
	const struct ls_node *n;
	const char *kind;
	const char *name;       /* "" when absent */
	const char *namespace_; /* NULL when absent */
};

struct prop {
	const char *key;
	char *value;
};

struct cluster {
	char *name;
	char *bootstrap;
	struct prop props[MAX_PROPS];
	size_t n_props;
	char *todo; /* a comment line under properties: what to set by hand */
};

/* A parameter of a TriggerAuthentication: where its value will be. */
struct param {
	const char *name;   /* sasl, username, ca, ... */
	char *path;         /* the mounted file */
	const char *source; /* "Secret shop/kafka key password", for messages */
	const struct ls_node *at;
};

struct importer {
	bool lagscaler;
	const char *mount_dir;
	struct object *objs;
	size_t n_objs;
	struct cluster *clusters;
	size_t n_clusters;
	struct ls_buf scalers; /* the scalers' text */
	struct ls_buf mounts;  /* "# mount ..." lines, once each */
	size_t warnings;
	size_t mapped;
	bool oom;
};

/* Messages. */

static void msg(struct importer *im, bool warning, const struct object *o, const struct ls_node *at,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void msg(struct importer *im, bool warning, const struct object *o, const struct ls_node *at,
                const char *fmt, ...)
{
	va_list ap;

	if (!at)
		at = o->n;
	fprintf(stderr, "%s:%d:%d: %s: %s %s%s%s: ", o->file, at->line, at->col,
	        warning ? "warning" : "note", o->kind, o->namespace_ ? o->namespace_ : "",
	        o->namespace_ ? "/" : "", o->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (warning)
		im->warnings++;
}

#define WARN(im, o, at, ...) msg(im, true, o, at, __VA_ARGS__)
#define NOTE(im, o, at, ...) msg(im, false, o, at, __VA_ARGS__)

/* Node helpers. */

static const char *scalar(const struct ls_node *m, const char *key)
{
	const struct ls_node *v = ls_node_get(m, key);

	return v && v->type == LS_NODE_SCALAR && !v->is_null ? v->value : NULL;
}

static bool is_map(const struct ls_node *n)
{
	return n && n->type == LS_NODE_MAP;
}

/* Go's strconv.ParseBool, which KEDA uses. 0 or -EINVAL. */
static int parse_go_bool(const char *s, bool *ret)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", NULL};

	for (int i = 0; t[i]; i++) {
		if (strcmp(s, t[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* YAML output: plain when it cannot be read as anything but this string. */
static void put_str(struct ls_buf *b, const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on",
	                                    "off",  "null",  "y",   "n",  NULL};
	bool plain =
	    (isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_') &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-") ==
	        strlen(s);

	for (int i = 0; plain && words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			plain = false;
	if (plain) {
		ls_buf_puts(b, s);
		return;
	}
	/* A JSON string is a YAML double-quoted scalar. */
	ls_buf_json_string(b, s);
}

static void indent(struct ls_buf *b, int n)
{
	ls_buf_printf(b, "%*s", n, "");
}

/* The List items (kubectl get -o yaml) and documents, as objects. */
static int collect(struct importer *im, const char *file, const struct ls_node *n, int depth)
{
	const char *kind = scalar(n, "kind"), *api = scalar(n, "apiVersion");
	const struct ls_node *meta = ls_node_get(n, "metadata"), *items = ls_node_get(n, "items");
	struct object *o;
	size_t len;

	if (!is_map(n) || !kind || !api) {
		fprintf(stderr, "%s:%d:%d: not a Kubernetes object (%s)\n", file, n->line, n->col,
		        !is_map(n) ? "not a map" : "no kind or apiVersion");
		return -EINVAL;
	}
	len = strlen(kind);
	if (depth == 0 && len >= 4 && strcmp(kind + len - 4, "List") == 0 && items &&
	    items->type == LS_NODE_SEQ) {
		for (size_t i = 0; i < items->n; i++) {
			int r = collect(im, file, items->kids[i], 1);

			if (r < 0)
				return r;
		}
		return 0;
	}
	o = realloc(im->objs, (im->n_objs + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	im->objs = o;
	o = &im->objs[im->n_objs++];
	o->file = file;
	o->n = n;
	o->kind = kind;
	o->name = scalar(meta, "name") ? scalar(meta, "name") : "";
	o->namespace_ = scalar(meta, "namespace");
	if (strncmp(api, "keda.sh/", 8) != 0) {
		NOTE(im, o, NULL, "skipped: apiVersion %s is not KEDA's", api);
		o->kind = NULL;
	}
	return 0;
}

static const struct object *find_auth(const struct importer *im, const char *kind, const char *ns,
                                      const char *name)
{
	for (size_t i = 0; i < im->n_objs; i++) {
		const struct object *o = &im->objs[i];

		if (!o->kind || strcmp(o->kind, kind) != 0 || strcmp(o->name, name) != 0)
			continue;
		if (strcmp(kind, "ClusterTriggerAuthentication") == 0 ||
		    strcmp(o->namespace_ ? o->namespace_ : "default", ns) == 0)
			return o;
	}
	return NULL;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dupf(const char *fmt, ...)
{
	struct ls_buf b;
	va_list ap;

	ls_buf_init(&b, 0);
	va_start(ap, fmt);
	ls_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return ls_buf_steal(&b);
}

/* Adds a "# mount ..." line once. */
static void add_mount(struct importer *im, const char *line)
{
	if (!strstr(ls_buf_str(&im->mounts), line))
		ls_buf_puts(&im->mounts, line);
}

/*
 * The parameters of the TriggerAuthentication auth references (by so's
 * trigger). Returns the number of params filled.
 */
static size_t auth_params(struct importer *im, const struct object *so, const struct object *auth,
                          struct param *ps)
{
	const struct ls_node *spec = ls_node_get(auth->n, "spec");
	static const char *const known[] = {"secretTargetRef", "configMapTargetRef", "env",
	                                    "podIdentity", NULL};
	size_t n = 0;
	bool cluster = strcmp(auth->kind, "ClusterTriggerAuthentication") == 0;

	for (size_t i = 0; is_map(spec) && i < spec->n; i++) {
		const struct ls_node *k = spec->kids[2 * i];
		bool ok = false;

		for (int j = 0; known[j]; j++)
			ok = ok || strcmp(k->value, known[j]) == 0;
		if (!ok)
			WARN(im, auth, k,
			     "spec.%s: not mapped: lagscale reads credentials from files and its "
			     "environment only; used by ScaledObject %s/%s",
			     k->value, so->namespace_ ? so->namespace_ : "default", so->name);
	}
	for (int cm = 0; cm < 2; cm++) {
		const struct ls_node *refs =
		    ls_node_get(spec, cm ? "configMapTargetRef" : "secretTargetRef");

		for (size_t i = 0; refs && refs->type == LS_NODE_SEQ && i < refs->n; i++) {
			const struct ls_node *r = refs->kids[i];
			const char *p = scalar(r, "parameter"), *nm = scalar(r, "name"),
			           *key = scalar(r, "key");
			char ns[300], line[1024];

			snprintf(ns, sizeof(ns), "%s%s",
			         cluster ? "in KEDA's namespace" : "namespace ",
			         cluster ? "" : (auth->namespace_ ? auth->namespace_ : "default"));
			if (!p || !nm || !key || n == MAX_PARAMS) {
				WARN(im, auth, r, "spec.%s[%zu]: needs parameter, name and key",
				     cm ? "configMapTargetRef" : "secretTargetRef", i);
				continue;
			}
			ps[n].name = p;
			ps[n].at = r;
			ps[n].path = dupf("%s/%s/%s/%s", im->mount_dir,
			                  cm ? "configmaps" : "secrets", nm, key);
			ps[n].source = key;
			snprintf(line, sizeof(line), "#   %s \"%s\" (%s) at %s/%s/%s\n",
			         cm ? "ConfigMap" : "Secret", nm, ns, im->mount_dir,
			         cm ? "configmaps" : "secrets", nm);
			add_mount(im, line);
			n++;
		}
	}
	{
		const struct ls_node *env = ls_node_get(spec, "env");

		for (size_t i = 0; env && env->type == LS_NODE_SEQ && i < env->n; i++)
			WARN(im, auth, env->kids[i],
			     "spec.env[%zu]: parameter %s comes from the target's container "
			     "environment (%s), which lagscale cannot read: mount it as a file "
			     "and set the cluster property by hand",
			     i,
			     scalar(env->kids[i], "parameter") ? scalar(env->kids[i], "parameter")
			                                       : "?",
			     scalar(env->kids[i], "name") ? scalar(env->kids[i], "name") : "?");
	}
	{
		const char *prov = scalar(ls_node_get(spec, "podIdentity"), "provider");

		if (prov && strcmp(prov, "none") != 0 && strcmp(prov, "aws") != 0)
			WARN(im, auth, ls_node_get(spec, "podIdentity"),
			     "spec.podIdentity: provider %s not mapped", prov);
	}
	return n;
}

static const struct param *param(const struct param *ps, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ps[i].name, name) == 0)
			return &ps[i];
	return NULL;
}

static void prop_add(struct cluster *c, const char *key, char *value)
{
	if (!value || c->n_props == MAX_PROPS) {
		free(value);
		return;
	}
	c->props[c->n_props].key = key;
	c->props[c->n_props].value = value;
	c->n_props++;
}

/* A parameter's file as a ${file:} reference. */
static void prop_file(struct cluster *c, const char *key, const struct param *p)
{
	if (p)
		prop_add(c, key, dupf("${file:%s}", p->path));
}

static void cluster_release(struct cluster *c)
{
	free(c->name);
	free(c->bootstrap);
	free(c->todo);
	for (size_t i = 0; i < c->n_props; i++)
		free(c->props[i].value);
	memset(c, 0, sizeof(*c));
}

static bool cluster_same(const struct cluster *a, const struct cluster *b)
{
	if (strcmp(a->bootstrap, b->bootstrap) != 0 || a->n_props != b->n_props ||
	    !a->todo != !b->todo || (a->todo && strcmp(a->todo, b->todo) != 0))
		return false;
	for (size_t i = 0; i < a->n_props; i++)
		if (strcmp(a->props[i].key, b->props[i].key) != 0 ||
		    strcmp(a->props[i].value, b->props[i].value) != 0)
			return false;
	return true;
}

/* The trigger metadata keys of KEDA's kafka scaler. */
static const char *const meta_keys[] = {"bootstrapServers",
                                        "bootstrapServersFromEnv",
                                        "consumerGroup",
                                        "consumerGroupFromEnv",
                                        "topic",
                                        "topicFromEnv",
                                        "partitionLimitation",
                                        "offsetResetPolicy",
                                        "lagThreshold",
                                        "activationLagThreshold",
                                        "allowIdleConsumers",
                                        "excludePersistentLag",
                                        "scaleToZeroOnInvalidOffset",
                                        "limitToPartitionsWithLag",
                                        "ensureEvenDistributionOfPartitions",
                                        "version",
                                        "sasl",
                                        "saslTokenProvider",
                                        "tls",
                                        "unsafeSsl",
                                        "awsRegion",
                                        NULL};

/*
 * The cluster of a trigger (bootstrap servers, TLS and SASL properties)
 * into *c. Returns false when the trigger names no bootstrap servers.
 */
static bool map_cluster(struct importer *im, const struct object *so, const struct ls_node *trig,
                        struct cluster *c)
{
	const struct ls_node *md = ls_node_get(trig, "metadata"),
	                     *ref = ls_node_get(trig, "authenticationRef");
	struct param ps[MAX_PARAMS];
	size_t np = 0;
	const char *bs = scalar(md, "bootstrapServers"),
	           *bse = scalar(md, "bootstrapServersFromEnv");
	const char *sasl = scalar(md, "sasl"), *tls = scalar(md, "tls");
	const char *tp = scalar(md, "saslTokenProvider");
	const struct param *p_sasl, *p_tls, *p_tp;
	const char *mech = NULL;
	bool use_tls = false, use_sasl = false, oidc = false, msk = false;
	const char *ns = so->namespace_ ? so->namespace_ : "default";

	memset(c, 0, sizeof(*c));
	if (bs) {
		c->bootstrap = strdup(bs);
	} else if (bse) {
		c->bootstrap = dupf("${env:%s}", bse);
		WARN(
		    im, so, ls_node_get(md, "bootstrapServersFromEnv"),
		    "bootstrapServersFromEnv: KEDA read %s from the target's containers: set it in "
		    "lagscale's environment too (the cluster uses ${env:%s})",
		    bse, bse);
	} else {
		WARN(im, so, md ? md : trig,
		     "not mapped: the kafka trigger has no bootstrapServers");
		return false;
	}
	if (is_map(ref)) {
		const char *an = scalar(ref, "name"), *ak = scalar(ref, "kind");
		const struct object *auth;

		if (!ak)
			ak = "TriggerAuthentication";
		auth = an ? find_auth(im, ak, ns, an) : NULL;
		if (!auth)
			WARN(
			    im, so, ref,
			    "authenticationRef: %s %s%s%s is not in the input: its credentials are "
			    "not mapped (pass its manifest too)",
			    ak, strcmp(ak, "TriggerAuthentication") == 0 ? ns : "",
			    strcmp(ak, "TriggerAuthentication") == 0 ? "/" : "", an ? an : "?");
		else
			np = auth_params(im, so, auth, ps);
	}
	p_sasl = param(ps, np, "sasl");
	p_tls = param(ps, np, "tls");
	p_tp = param(ps, np, "saslTokenProvider");

	/* TLS: the ScaledObject's value, or the TriggerAuthentication's. */
	if (tls && p_tls)
		WARN(im, so, ls_node_get(md, "tls"),
		     "tls is set both here and in the TriggerAuthentication, which KEDA refuses");
	if (tls) {
		if (strcmp(tls, "enable") == 0)
			use_tls = true;
		else if (strcmp(tls, "disable") != 0)
			WARN(im, so, ls_node_get(md, "tls"),
			     "tls: \"%s\" is neither enable nor disable (KEDA refuses it); TLS "
			     "left off",
			     tls);
	} else if (p_tls) {
		use_tls = true;
		WARN(im, so, p_tls->at,
		     "tls comes from a Secret (key %s), whose value import does not read: assumed "
		     "enable; if it is disable, change security.protocol SSL to PLAINTEXT "
		     "(SASL_SSL to SASL_PLAINTEXT)",
		     p_tls->source);
	}
	if (sasl && p_sasl)
		WARN(im, so, ls_node_get(md, "sasl"),
		     "sasl is set both here and in the TriggerAuthentication, which KEDA refuses");
	if (!tp && p_tp)
		WARN(im, so, p_tp->at,
		     "saslTokenProvider comes from a Secret (key %s), whose value import does not "
		     "read: assumed bearer",
		     p_tp->source);
	if (sasl && strcmp(sasl, "none") != 0) {
		use_sasl = true;
		if (strcmp(sasl, "plaintext") == 0) {
			mech = "PLAIN";
		} else if (strcmp(sasl, "scram_sha256") == 0) {
			mech = "SCRAM-SHA-256";
		} else if (strcmp(sasl, "scram_sha512") == 0) {
			mech = "SCRAM-SHA-512";
		} else if (strcmp(sasl, "oauthbearer") == 0) {
			if (tp && strcmp(tp, "aws_msk_iam") == 0) {
				mech = "AWS_MSK_IAM";
				msk = true;
			} else {
				mech = "OAUTHBEARER";
				oidc = true;
				if (tp && strcmp(tp, "bearer") != 0)
					WARN(im, so, ls_node_get(md, "saslTokenProvider"),
					     "saslTokenProvider: \"%s\" unknown; mapped as bearer",
					     tp);
			}
		} else if (strcmp(sasl, "gssapi") == 0) {
			use_sasl = false;
			WARN(im, so, ls_node_get(md, "sasl"),
			     "sasl: gssapi (Kerberos) is not supported by lagscale: the cluster is "
			     "written without authentication");
		} else {
			use_sasl = false;
			WARN(im, so, ls_node_get(md, "sasl"),
			     "sasl: \"%s\" is not a KEDA SASL mode (KEDA refuses it); not mapped",
			     sasl);
		}
	} else if (!sasl && p_sasl) {
		use_sasl = true;
		WARN(im, so, p_sasl->at,
		     "sasl comes from a Secret (key %s), whose value import does not read: set the "
		     "cluster's sasl.mechanism by hand (plaintext: PLAIN, scram_sha256: "
		     "SCRAM-SHA-256, scram_sha512: SCRAM-SHA-512)",
		     p_sasl->source);
		c->todo =
		    dupf("sasl.mechanism: set by hand (KEDA read its sasl from %s)", p_sasl->path);
	}
	if (use_sasl || use_tls)
		prop_add(c, "security.protocol",
		         strdup(use_sasl ? (use_tls ? "SASL_SSL" : "SASL_PLAINTEXT") : "SSL"));
	if (mech)
		prop_add(c, "sasl.mechanism", strdup(mech));
	if (use_sasl && !oidc && !msk) {
		prop_file(c, "sasl.username", param(ps, np, "username"));
		prop_file(c, "sasl.password", param(ps, np, "password"));
		if (!param(ps, np, "username") || !param(ps, np, "password"))
			WARN(im, so, ref ? ref : trig,
			     "SASL needs username and password in the TriggerAuthentication "
			     "(KEDA refuses it without)");
	}
	if (oidc) {
		prop_add(c, "sasl.oauthbearer.method", strdup("oidc"));
		prop_file(c, "sasl.oauthbearer.client.id", param(ps, np, "username"));
		prop_file(c, "sasl.oauthbearer.client.secret", param(ps, np, "password"));
		prop_file(c, "sasl.oauthbearer.token.endpoint.url",
		          param(ps, np, "oauthTokenEndpointUri"));
		prop_file(c, "sasl.oauthbearer.scope", param(ps, np, "scopes"));
		prop_file(c, "sasl.oauthbearer.extensions", param(ps, np, "oauthExtensions"));
		if (param(ps, np, "scopes"))
			NOTE(im, so, param(ps, np, "scopes")->at,
			     "scopes: KEDA separates scopes with commas, OAuth with spaces: check "
			     "the "
			     "mounted value when there are several");
	}
	if (msk) {
		const char *region = scalar(md, "awsRegion");

		if (region)
			prop_add(c, "aws.region", strdup(region));
		if (param(ps, np, "awsAccessKeyID") || param(ps, np, "awsSecretAccessKey") ||
		    param(ps, np, "awsRoleArn"))
			WARN(
			    im, so, ref,
			    "AWS credentials of the TriggerAuthentication are not mapped: lagscale "
			    "takes them from its environment (AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY, IRSA or EKS Pod Identity of its service "
			    "account)");
	}
	if (use_tls) {
		const struct param *ca = param(ps, np, "ca"), *cert = param(ps, np, "cert"),
		                   *key = param(ps, np, "key");
		const char *unsafe = scalar(md, "unsafeSsl");
		bool u = false;

		if (ca)
			prop_add(c, "ssl.ca.location", strdup(ca->path));
		if (cert)
			prop_add(c, "ssl.certificate.location", strdup(cert->path));
		if (key)
			prop_add(c, "ssl.key.location", strdup(key->path));
		prop_file(c, "ssl.key.password", param(ps, np, "keyPassword"));
		if (!cert != !key)
			WARN(im, so, ref,
			     "cert and key must be given together (KEDA refuses one alone)");
		if (unsafe && parse_go_bool(unsafe, &u) < 0)
			WARN(im, so, ls_node_get(md, "unsafeSsl"),
			     "unsafeSsl: \"%s\" is not a boolean; not mapped", unsafe);
		if (u) {
			prop_add(c, "enable.ssl.certificate.verification", strdup("false"));
			prop_add(c, "ssl.endpoint.identification.algorithm", strdup("none"));
		}
	} else if (param(ps, np, "ca") || param(ps, np, "cert") || param(ps, np, "key")) {
		NOTE(im, so, ref,
		     "ca, cert and key are ignored without tls: enable, by KEDA and here alike");
	}
	for (size_t i = 0; i < np; i++)
		free(ps[i].path);
	return true;
}

/* The cluster's index in im->clusters: an equal one, or c added (named name). */
static size_t cluster_intern(struct importer *im, struct cluster *c, const char *name)
{
	struct cluster *cs;

	for (size_t i = 0; i < im->n_clusters; i++) {
		if (cluster_same(&im->clusters[i], c)) {
			cluster_release(c);
			return i;
		}
	}
	cs = realloc(im->clusters, (im->n_clusters + 1) * sizeof(*cs));
	if (!cs) {
		im->oom = true;
		cluster_release(c);
		return SIZE_MAX;
	}
	im->clusters = cs;
	c->name = strdup(name);
	/* A name already taken (two clusters for one name) gets a suffix. */
	for (int k = 2; c->name; k++) {
		bool taken = false;

		for (size_t i = 0; i < im->n_clusters; i++)
			taken = taken || strcmp(im->clusters[i].name, c->name) == 0;
		if (!taken)
			break;
		free(c->name);
		c->name = dupf("%s-%d", name, k);
	}
	im->clusters[im->n_clusters] = *c;
	return im->n_clusters++;
}

/* A non-negative int32 of the spec; 1 set, 0 absent, -1 bad (warned). */
static int spec_int(struct importer *im, const struct object *so, const struct ls_node *m,
                    const char *key, const char *path, int32_t min, int32_t *ret)
{
	const struct ls_node *v = ls_node_get(m, key);
	int32_t x;

	if (!v || (v->type == LS_NODE_SCALAR && v->is_null))
		return 0;
	if (v->type != LS_NODE_SCALAR || ls_parse_int32(v->value, &x) < 0 || x < min) {
		WARN(im, so, v, "%s%s: expected an integer >= %d; not mapped", path, key, min);
		return -1;
	}
	*ret = x;
	return 1;
}

/* A trigger metadata boolean: false when absent. */
static bool meta_bool(struct importer *im, const struct object *so, const struct ls_node *md,
                      const char *key)
{
	const struct ls_node *v = ls_node_get(md, key);
	bool b = false;

	if (!v || v->type != LS_NODE_SCALAR || v->is_null)
		return false;
	if (parse_go_bool(v->value, &b) < 0)
		WARN(im, so, v, "%s: \"%s\" is not a boolean (KEDA refuses it); left false", key,
		     v->value);
	return b;
}

static void put_rules(struct importer *im, const struct object *so, struct ls_buf *b,
                      const struct ls_node *r, const char *dir, int ind)
{
	static const char *const known[] = {"stabilizationWindowSeconds", "selectPolicy",
	                                    "policies", NULL};
	const struct ls_node *pol = ls_node_get(r, "policies");
	const char *sel = scalar(r, "selectPolicy");
	int32_t sw;

	if (!is_map(r))
		return;
	for (size_t i = 0; i < r->n; i++) {
		bool ok = false;

		for (int j = 0; known[j]; j++)
			ok = ok || strcmp(r->kids[2 * i]->value, known[j]) == 0;
		if (!ok)
			WARN(im, so, r->kids[2 * i],
			     "advanced.horizontalPodAutoscalerConfig.behavior.%s.%s: not mapped",
			     dir, r->kids[2 * i]->value);
	}
	indent(b, ind);
	ls_buf_printf(b, "%s:\n", dir);
	if (spec_int(im, so, r, "stabilizationWindowSeconds", "behavior.", 0, &sw) == 1) {
		indent(b, ind + 2);
		ls_buf_printf(b, "stabilizationWindow: %ds\n", sw);
	}
	if (sel) {
		indent(b, ind + 2);
		ls_buf_puts(b, "selectPolicy: ");
		put_str(b, sel);
		ls_buf_puts(b, "\n");
	}
	if (pol && pol->type == LS_NODE_SEQ) {
		indent(b, ind + 2);
		ls_buf_printf(b, "policies:%s\n", pol->n ? "" : " []");
		for (size_t i = 0; i < pol->n; i++) {
			const char *t = scalar(pol->kids[i], "type");
			int32_t v = 0, p = 0;

			if (!t ||
			    spec_int(im, so, pol->kids[i], "value", "behavior policy ", 1, &v) !=
			        1 ||
			    spec_int(im, so, pol->kids[i], "periodSeconds", "behavior policy ", 1,
			             &p) != 1) {
				WARN(im, so, pol->kids[i],
				     "behavior.%s.policies[%zu]: needs type, value and "
				     "periodSeconds (the "
				     "HPA refuses it without); not mapped",
				     dir, i);
				continue;
			}
			indent(b, ind + 4);
			ls_buf_puts(b, "- {type: ");
			put_str(b, t ? t : "Pods");
			ls_buf_printf(b, ", value: %d, period: %ds}\n", v, p);
		}
	}
}

/*
 * One ScaledObject: its scaler's fields (without the name) at indentation
 * ind into b, its cluster interned. with_ns: target.namespace is written
 * (config), else left to the LagScaler's namespace.
 */
static bool map_scaler(struct importer *im, const struct object *so, const char *name,
                       struct ls_buf *b, int ind, bool with_ns)
{
	const struct ls_node *spec = ls_node_get(so->n, "spec");
	const struct ls_node *trigs = ls_node_get(spec, "triggers"), *trig = NULL, *md;
	const struct ls_node *ref = ls_node_get(spec, "scaleTargetRef");
	const struct ls_node *adv = ls_node_get(spec, "advanced");
	const struct ls_node *hpa = ls_node_get(adv, "horizontalPodAutoscalerConfig");
	const struct ls_node *beh = ls_node_get(hpa, "behavior");
	const struct ls_node *fb = ls_node_get(spec, "fallback");
	const struct ls_node *ann = ls_node_get(ls_node_get(so->n, "metadata"), "annotations");
	const char *ns = so->namespace_ ? so->namespace_ : "default";
	const char *api, *kind, *tname, *topic, *parts, *reset;
	int32_t poll = 30, cool = 300, minr = 0, maxr = 100, idle = -1;
	int64_t lag = 10, act = 0;
	struct cluster c;
	size_t ci;
	static const char *const spec_keys[] = {"scaleTargetRef",
	                                        "pollingInterval",
	                                        "cooldownPeriod",
	                                        "initialCooldownPeriod",
	                                        "idleReplicaCount",
	                                        "minReplicaCount",
	                                        "maxReplicaCount",
	                                        "fallback",
	                                        "advanced",
	                                        "triggers",
	                                        NULL};

	if (!is_map(spec)) {
		WARN(im, so, NULL, "not mapped: no spec");
		return false;
	}
	/* The kafka trigger: the first; every other is a warning. */
	for (size_t i = 0; trigs && trigs->type == LS_NODE_SEQ && i < trigs->n; i++) {
		const char *type = scalar(trigs->kids[i], "type");

		if (type && strcmp(type, "kafka") == 0 && !trig) {
			trig = trigs->kids[i];
			continue;
		}
		WARN(im, so, trigs->kids[i],
		     "spec.triggers[%zu]: %s trigger not mapped: a lagscale scaler follows one "
		     "Kafka consumer group (KEDA scaled to the largest of its triggers)",
		     i, type ? type : "untyped");
	}
	if (!trig) {
		WARN(im, so, trigs ? trigs : spec, "not mapped: no kafka trigger");
		return false;
	}
	md = ls_node_get(trig, "metadata");
	if (!is_map(md)) {
		WARN(im, so, trig, "not mapped: the kafka trigger has no metadata");
		return false;
	}
	if (!scalar(md, "consumerGroup") && !scalar(md, "consumerGroupFromEnv")) {
		WARN(im, so, md, "not mapped: the kafka trigger has no consumerGroup");
		return false;
	}
	/*
	 * A LagScaler's values are taken as they are: the CRD refuses
	 * ${env:...}, which would read the controller's environment (its
	 * secrets) for whoever may create a LagScaler.
	 */
	if (!with_ns) {
		const char *from_env = !scalar(md, "consumerGroup") ? "consumerGroupFromEnv"
		                       : !scalar(md, "topic") && scalar(md, "topicFromEnv")
		                           ? "topicFromEnv"
		                           : NULL;

		if (from_env) {
			WARN(im, so, ls_node_get(md, from_env),
			     "not mapped: %s: a LagScaler cannot read %s from an environment; "
			     "write its value in the LagScaler, or import with --to config",
			     from_env, scalar(md, from_env));
			return false;
		}
	}
	if (!map_cluster(im, so, trig, &c))
		return false;
	ci = cluster_intern(im, &c, name[0] ? name : "kafka");
	if (ci == SIZE_MAX)
		return false;

	for (size_t i = 0; i < spec->n; i++) {
		bool ok = false;

		for (int j = 0; spec_keys[j]; j++)
			ok = ok || strcmp(spec->kids[2 * i]->value, spec_keys[j]) == 0;
		if (!ok)
			WARN(im, so, spec->kids[2 * i], "spec.%s: unknown to import; not mapped",
			     spec->kids[2 * i]->value);
	}
	for (size_t i = 0; i < md->n; i++) {
		const char *k = md->kids[2 * i]->value;
		bool ok = false;

		for (int j = 0; meta_keys[j]; j++)
			ok = ok || strcmp(k, meta_keys[j]) == 0;
		if (md->kids[2 * i + 1]->type != LS_NODE_SCALAR)
			WARN(im, so, md->kids[2 * i + 1],
			     "spec.triggers.metadata.%s: expected a string, got %s; not mapped", k,
			     ls_node_type_name(md->kids[2 * i + 1]));
		else if (!ok)
			WARN(im, so, md->kids[2 * i],
			     "spec.triggers.metadata.%s: not a kafka trigger parameter; not mapped",
			     k);
		else if (strcmp(k, "version") == 0)
			NOTE(im, so, md->kids[2 * i],
			     "version: not needed, librdkafka negotiates the protocol version");
	}
	for (size_t i = 0; is_map(trig) && i < trig->n; i++) {
		const char *k = trig->kids[2 * i]->value;
		const char *v = scalar(trig, k);

		if (strcmp(k, "metricType") == 0 && v && strcmp(v, "AverageValue") != 0)
			WARN(im, so, trig->kids[2 * i],
			     "metricType: %s not mapped: lagscale divides the lag by lagThreshold "
			     "per "
			     "replica, as AverageValue does",
			     v);
		else if (strcmp(k, "useCachedMetrics") == 0)
			NOTE(im, so, trig->kids[2 * i],
			     "useCachedMetrics: not needed, lagscale reads the lag once per "
			     "pollingInterval");
		else if (strcmp(k, "type") != 0 && strcmp(k, "metadata") != 0 &&
		         strcmp(k, "authenticationRef") != 0 && strcmp(k, "name") != 0 &&
		         strcmp(k, "metricType") != 0)
			WARN(im, so, trig->kids[2 * i], "spec.triggers.%s: not mapped", k);
	}

	/* The target. */
	api = scalar(ref, "apiVersion") ? scalar(ref, "apiVersion") : "apps/v1";
	kind = scalar(ref, "kind") ? scalar(ref, "kind") : "Deployment";
	tname = scalar(ref, "name");
	if (!tname) {
		WARN(im, so, ref ? ref : spec, "not mapped: spec.scaleTargetRef.name is missing");
		return false;
	}
	if (!so->namespace_)
		WARN(im, so, NULL,
		     "metadata.namespace is missing (kubectl would use the current context's): "
		     "target.namespace set to \"default\"");
	indent(b, ind);
	ls_buf_puts(b, "target: {apiVersion: ");
	put_str(b, api);
	ls_buf_puts(b, ", kind: ");
	put_str(b, kind);
	if (with_ns) {
		ls_buf_puts(b, ", namespace: ");
		put_str(b, ns);
	}
	ls_buf_puts(b, ", name: ");
	put_str(b, tname);
	ls_buf_puts(b, "}\n");

	/* kafka. */
	indent(b, ind);
	ls_buf_puts(b, "kafka:\n");
	indent(b, ind + 2);
	ls_buf_puts(b, "cluster: ");
	put_str(b, im->clusters[ci].name);
	ls_buf_puts(b, "\n");
	indent(b, ind + 2);
	ls_buf_puts(b, "group: ");
	if (scalar(md, "consumerGroup")) {
		put_str(b, scalar(md, "consumerGroup"));
	} else {
		char *e = dupf("${env:%s}", scalar(md, "consumerGroupFromEnv"));

		put_str(b, e ? e : "");
		free(e);
		WARN(im, so, ls_node_get(md, "consumerGroupFromEnv"),
		     "consumerGroupFromEnv: KEDA read %s from the target's containers: set it in "
		     "lagscale's environment too",
		     scalar(md, "consumerGroupFromEnv"));
	}
	ls_buf_puts(b, "\n");
	topic = scalar(md, "topic");
	if (!topic && scalar(md, "topicFromEnv")) {
		char *e = dupf("${env:%s}", scalar(md, "topicFromEnv"));

		indent(b, ind + 2);
		ls_buf_puts(b, "topics: [");
		put_str(b, e ? e : "");
		ls_buf_puts(b, "]\n");
		free(e);
		WARN(
		    im, so, ls_node_get(md, "topicFromEnv"),
		    "topicFromEnv: KEDA read %s from the target's containers: set it in lagscale's "
		    "environment too",
		    scalar(md, "topicFromEnv"));
		topic = "";
	} else if (topic) {
		indent(b, ind + 2);
		ls_buf_puts(b, "topics: [");
		put_str(b, topic);
		ls_buf_puts(b, "]\n");
	} else {
		indent(b, ind + 2);
		ls_buf_puts(b, "# no topic: every topic the group has committed offsets for\n");
	}
	parts = scalar(md, "partitionLimitation");
	if (parts && !topic) {
		NOTE(im, so, ls_node_get(md, "partitionLimitation"),
		     "partitionLimitation: KEDA ignores it without a topic; left out");
	} else if (parts) {
		struct ls_int_ranges rs = {0};
		char *trimmed = strdup(parts), *s = trimmed, *d = trimmed;

		/* KEDA allows spaces around the commas: "1, 2, 10-12". */
		for (; s && *s; s++)
			if (*s != ' ')
				*d++ = *s;
		if (d)
			*d = '\0';
		if (!trimmed || ls_parse_ranges(trimmed, &rs) < 0) {
			WARN(im, so, ls_node_get(md, "partitionLimitation"),
			     "partitionLimitation: \"%s\" is not a list of partitions and ranges "
			     "(KEDA refuses it); not mapped",
			     parts);
		} else {
			indent(b, ind + 2);
			ls_buf_puts(b, "partitions: ");
			put_str(b, trimmed);
			ls_buf_puts(b, "\n");
		}
		ls_ranges_release(&rs);
		free(trimmed);
	}
	reset = scalar(md, "offsetResetPolicy");
	if (reset && strcmp(reset, "latest") != 0 && strcmp(reset, "earliest") != 0) {
		WARN(im, so, ls_node_get(md, "offsetResetPolicy"),
		     "offsetResetPolicy: \"%s\" is neither latest nor earliest (KEDA refuses it); "
		     "latest used",
		     reset);
		reset = NULL;
	}
	indent(b, ind + 2);
	ls_buf_printf(b, "offsetResetPolicy: %s\n", reset ? reset : "latest");

	/* policy. */
	{
		const struct ls_node *v = ls_node_get(md, "lagThreshold");
		int64_t x;

		if (v && v->type == LS_NODE_SCALAR && !v->is_null) {
			if (ls_parse_int64(v->value, &x) < 0 || x <= 0)
				WARN(
				    im, so, v,
				    "lagThreshold: \"%s\" is not an integer > 0 (KEDA refuses it); "
				    "KEDA's default 10 used",
				    v->value);
			else
				lag = x;
		}
		v = ls_node_get(md, "activationLagThreshold");
		if (v && v->type == LS_NODE_SCALAR && !v->is_null) {
			if (ls_parse_int64(v->value, &x) < 0 || x < 0)
				WARN(im, so, v,
				     "activationLagThreshold: \"%s\" is not an integer >= 0 (KEDA "
				     "refuses it); 0 used",
				     v->value);
			else
				act = x;
		}
	}
	spec_int(im, so, spec, "pollingInterval", "spec.", 1, &poll);
	spec_int(im, so, spec, "cooldownPeriod", "spec.", 0, &cool);
	spec_int(im, so, spec, "minReplicaCount", "spec.", 0, &minr);
	spec_int(im, so, spec, "maxReplicaCount", "spec.", 1, &maxr);
	if (spec_int(im, so, spec, "idleReplicaCount", "spec.", 0, &idle) == 1 && idle >= minr) {
		WARN(im, so, ls_node_get(spec, "idleReplicaCount"),
		     "idleReplicaCount (%d) must be lower than minReplicaCount (%d), as KEDA "
		     "requires; not mapped",
		     idle, minr);
		idle = -1;
	}
	if (maxr < minr)
		WARN(im, so, ls_node_get(spec, "maxReplicaCount"),
		     "maxReplicaCount (%d) is lower than minReplicaCount (%d), which KEDA refuses",
		     maxr, minr);
	{
		int32_t icp = 0;

		if (spec_int(im, so, spec, "initialCooldownPeriod", "spec.", 0, &icp) == 1 &&
		    icp > 0)
			WARN(
			    im, so, ls_node_get(spec, "initialCooldownPeriod"),
			    "initialCooldownPeriod not mapped: lagscale never scales down before a "
			    "stabilization window has passed after it starts");
	}
	indent(b, ind);
	ls_buf_puts(b, "policy:\n");
	indent(b, ind + 2);
	ls_buf_printf(b, "lagThreshold: %lld\n", (long long)lag);
	indent(b, ind + 2);
	ls_buf_printf(b, "activationLagThreshold: %lld\n", (long long)act);
	indent(b, ind + 2);
	ls_buf_printf(b, "minReplicas: %d\n", minr);
	indent(b, ind + 2);
	ls_buf_printf(b, "maxReplicas: %d\n", maxr);
	if (idle >= 0) {
		indent(b, ind + 2);
		ls_buf_printf(b, "idleReplicas: %d\n", idle);
	}
	indent(b, ind + 2);
	ls_buf_printf(b, "pollingInterval: %ds\n", poll);
	indent(b, ind + 2);
	ls_buf_printf(b, "cooldownPeriod: %ds\n", cool);
	{
		bool idle_c = meta_bool(im, so, md, "allowIdleConsumers");
		bool ltp = meta_bool(im, so, md, "limitToPartitionsWithLag");
		bool even = meta_bool(im, so, md, "ensureEvenDistributionOfPartitions");
		bool epl = meta_bool(im, so, md, "excludePersistentLag");
		bool stz = meta_bool(im, so, md, "scaleToZeroOnInvalidOffset");

		if (idle_c && ltp)
			WARN(im, so, ls_node_get(md, "limitToPartitionsWithLag"),
			     "allowIdleConsumers and limitToPartitionsWithLag together: KEDA "
			     "refuses "
			     "them");
		if ((ltp || even) && !topic)
			WARN(im, so, md,
			     "limitToPartitionsWithLag and ensureEvenDistributionOfPartitions need "
			     "a "
			     "topic in KEDA (it refuses this trigger)");
		indent(b, ind + 2);
		ls_buf_printf(b, "allowIdleConsumers: %s\n", idle_c ? "true" : "false");
		indent(b, ind + 2);
		ls_buf_printf(b, "limitToPartitionsWithLag: %s\n", ltp ? "true" : "false");
		indent(b, ind + 2);
		ls_buf_printf(b, "ensureEvenDistributionOfPartitions: %s\n",
		              even ? "true" : "false");
		indent(b, ind + 2);
		ls_buf_printf(b, "excludePersistentLag: %s\n", epl ? "true" : "false");
		indent(b, ind + 2);
		ls_buf_printf(b, "scaleToZeroOnInvalidOffset: %s\n", stz ? "true" : "false");
		indent(b, ind + 2);
		ls_buf_puts(b, "partitionAware: true   # false: KEDA's replica counts exactly\n");
	}
	/* behavior. */
	for (size_t i = 0; is_map(adv) && i < adv->n; i++) {
		const char *k = adv->kids[2 * i]->value;
		const char *v = scalar(adv, k);
		bool t = false;

		if (strcmp(k, "horizontalPodAutoscalerConfig") == 0)
			continue;
		if (strcmp(k, "restoreToOriginalReplicaCount") == 0 &&
		    (!v || (parse_go_bool(v, &t) == 0 && !t)))
			continue;
		WARN(im, so, adv->kids[2 * i], "spec.advanced.%s: not mapped%s", k,
		     strcmp(k, "scalingModifiers") == 0
		         ? ": lagscale scales on one trigger's lag, without a formula"
		     : strcmp(k, "restoreToOriginalReplicaCount") == 0
		         ? ": lagscale leaves the replicas as they are when a scaler is removed"
		         : "");
	}
	for (size_t i = 0; is_map(hpa) && i < hpa->n; i++) {
		const char *k = hpa->kids[2 * i]->value;

		if (strcmp(k, "behavior") == 0)
			continue;
		if (strcmp(k, "name") == 0)
			NOTE(im, so, hpa->kids[2 * i],
			     "advanced.horizontalPodAutoscalerConfig.name: not needed, lagscale "
			     "creates no HPA");
		else
			WARN(im, so, hpa->kids[2 * i],
			     "advanced.horizontalPodAutoscalerConfig.%s: not mapped", k);
	}
	if (is_map(beh) && (ls_node_get(beh, "scaleUp") || ls_node_get(beh, "scaleDown"))) {
		indent(b, ind + 2);
		ls_buf_puts(b, "behavior:\n");
		put_rules(im, so, b, ls_node_get(beh, "scaleUp"), "scaleUp", ind + 4);
		put_rules(im, so, b, ls_node_get(beh, "scaleDown"), "scaleDown", ind + 4);
	}
	if (is_map(fb)) {
		int32_t ft = 3, fr = 0;
		const char *fbb = scalar(fb, "behavior");
		int rr;

		spec_int(im, so, fb, "failureThreshold", "spec.fallback.", 1, &ft);
		rr = spec_int(im, so, fb, "replicas", "spec.fallback.", 0, &fr);
		indent(b, ind + 2);
		ls_buf_printf(b, "fallback: {failureThreshold: %d", ft);
		if (rr == 1)
			ls_buf_printf(b, ", replicas: %d", fr);
		ls_buf_puts(b, ", behavior: ");
		/* KEDA's default behavior is static (replicas are required there). */
		put_str(b, fbb ? fbb : "static");
		ls_buf_puts(b, "}\n");
	}

	/* The paused annotations live on the target in lagscale. */
	for (size_t i = 0; is_map(ann) && i < ann->n; i++) {
		const char *k = ann->kids[2 * i]->value, *v = scalar(ann, k);
		const char *slash = strchr(api, '/');
		char res[300];
		size_t j;

		bool off = false;

		if (strncmp(k, "autoscaling.keda.sh/", 20) != 0)
			continue;
		/* paused: "false" pauses nothing: nothing to carry over. */
		if (strcmp(k + 20, "paused") == 0 && v && parse_go_bool(v, &off) == 0 && !off)
			continue;
		snprintf(res, sizeof(res), "%s", kind);
		for (j = 0; res[j]; j++)
			res[j] = (char)tolower((unsigned char)res[j]);
		if (slash)
			snprintf(res + j, sizeof(res) - j, ".%.*s", (int)(slash - api), api);
		if (strcmp(k + 20, "paused-replicas") == 0 && v)
			WARN(im, so, ann->kids[2 * i],
			     "%s: lagscale reads its pause from the target; run: kubectl annotate "
			     "-n "
			     "%s %s/%s lagscale.io/paused-replicas=%s",
			     k, ns, res, tname, v);
		else if (strcmp(k + 20, "paused") == 0 && v)
			WARN(im, so, ann->kids[2 * i],
			     "%s: lagscale reads its pause from the target; run: kubectl annotate "
			     "-n "
			     "%s %s/%s lagscale.io/paused=%s",
			     k, ns, res, tname, v);
		else
			WARN(im, so, ann->kids[2 * i], "annotation %s: not mapped", k);
	}
	return true;
}

static void put_clusters(struct importer *im, struct ls_buf *b, const char *prefix)
{
	ls_buf_printf(b, "%skafka:\n%s  clusters:\n", prefix, prefix);
	for (size_t i = 0; i < im->n_clusters; i++) {
		const struct cluster *c = &im->clusters[i];

		ls_buf_printf(b, "%s    - name: ", prefix);
		put_str(b, c->name);
		ls_buf_printf(b, "\n%s      bootstrapServers: ", prefix);
		put_str(b, c->bootstrap);
		ls_buf_puts(b, "\n");
		if (!c->n_props && !c->todo)
			continue;
		ls_buf_printf(b, "%s      properties:\n", prefix);
		if (c->todo)
			ls_buf_printf(b, "%s        # %s\n", prefix, c->todo);
		for (size_t j = 0; j < c->n_props; j++) {
			ls_buf_printf(b, "%s        %s: ", prefix, c->props[j].key);
			put_str(b, c->props[j].value);
			ls_buf_puts(b, "\n");
		}
	}
}

/* Reads and parses every file; 0, or the exit code of bad input. */
struct input {
	char *name;
	struct ls_buf text;
	struct ls_node **docs;
	size_t n_docs;
};

static int read_input(const char *path, struct input *in)
{
	static const struct ls_node_limits lim = {MAX_INPUT_BYTES, MAX_INPUT_NODES};
	struct ls_report rep;
	struct ls_diag diag;
	char *dir = NULL;
	bool std = strcmp(path, "-") == 0;
	int r;

	in->name = strdup(std ? "<stdin>" : path);
	if (!in->name)
		return -ENOMEM;
	ls_report_init(&rep, in->name);
	ls_diag_init(&diag);
	r = ls_node_read_file_limited(std ? "/dev/stdin" : path, MAX_INPUT_BYTES, &in->text, &dir,
	                              &rep);
	free(dir);
	if (r == 0)
		r = ls_node_parse_stream(&rep, ls_buf_str(&in->text), in->text.len, &lim, &in->docs,
		                         &in->n_docs);
	if (r == 0 && ls_report_failed(&rep))
		r = -EINVAL; /* duplicate keys: the manifest is ambiguous */
	ls_report_flush(&rep, &diag);
	ls_cmdutil_print_diag(&diag, in->name, r);
	ls_diag_release(&diag);
	return r;
}

static void put_header(struct importer *im, struct ls_buf *out, char **files, int n)
{
	ls_buf_puts(out, "# Imported from KEDA by `lagscale import-keda`:");
	for (int i = 0; i < n; i++)
		ls_buf_printf(out, " %s", strcmp(files[i], "-") == 0 ? "<stdin>" : files[i]);
	ls_buf_puts(out, "\n");
	if (im->mounts.len) {
		ls_buf_puts(out, "# Secret values are read from files: mount in lagscale's pod\n");
		ls_buf_puts(out, ls_buf_str(&im->mounts));
	}
}

static int import_keda_run(int argc, char **argv)
{
	struct ls_cmdutil_args args;
	struct importer im;
	struct input *ins = NULL;
	struct ls_buf out;
	const char *v;
	int c, n_in = 0, rc = LS_EXIT_OK;
	size_t n_so = 0;

	memset(&im, 0, sizeof(im));
	ls_buf_init(&im.scalers, 0);
	ls_buf_init(&im.mounts, 0);
	ls_buf_init(&out, 0);
	ls_cmdutil_args_init(&args, &ls_cmd_import_keda, argc, argv);
	im.mount_dir = "/etc/lagscale";
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END) {
		if (c == LS_CMDUTIL_HELP)
			return LS_EXIT_OK;
		if (c == LS_CMDUTIL_BAD)
			return LS_EXIT_USAGE;
		if (c == F_MOUNT_DIR) {
			size_t len = strlen(v);

			if (v[0] != '/' || len < 2 || len > 200)
				return ls_cmdutil_usage_error(
				    &ls_cmd_import_keda,
				    "--mount-dir: expected an absolute path, got \"%s\"", v);
			im.mount_dir = v;
			continue;
		}
		if (strcmp(v, "config") == 0)
			im.lagscaler = false;
		else if (strcmp(v, "lagscaler") == 0)
			im.lagscaler = true;
		else
			return ls_cmdutil_usage_error(
			    &ls_cmd_import_keda, "--to: expected config or lagscaler, got \"%s\"",
			    v);
	}
	if (optind == argc)
		return ls_cmdutil_usage_error(&ls_cmd_import_keda,
		                              "FILE is required (- for stdin)");
	n_in = argc - optind;
	ins = calloc((size_t)n_in, sizeof(*ins));
	if (!ins)
		return LS_EXIT_FAILURE;
	/* All input first: a bad file prints nothing on stdout. */
	for (int i = 0; i < n_in; i++) {
		ls_buf_init(&ins[i].text, MAX_INPUT_BYTES);
		if (read_input(argv[optind + i], &ins[i]) < 0)
			rc = LS_EXIT_USAGE;
	}
	for (int i = 0; i < n_in && rc == LS_EXIT_OK; i++)
		for (size_t d = 0; d < ins[i].n_docs && rc == LS_EXIT_OK; d++)
			if (ins[i].docs[d] && collect(&im, ins[i].name, ins[i].docs[d], 0) < 0)
				rc = LS_EXIT_USAGE;
	if (rc != LS_EXIT_OK)
		goto out;

	for (size_t i = 0; i < im.n_objs; i++) {
		struct object *o = &im.objs[i];
		struct ls_buf body;
		char name[300];
		bool dup = false;

		if (!o->kind)
			continue;
		if (strcmp(o->kind, "TriggerAuthentication") == 0 ||
		    strcmp(o->kind, "ClusterTriggerAuthentication") == 0)
			continue;
		if (strcmp(o->kind, "ScaledObject") != 0) {
			WARN(&im, o, NULL,
			     "not mapped: lagscale scales the replicas of a workload "
			     "(ScaledObject), not %ss",
			     o->kind);
			continue;
		}
		n_so++;
		if (!o->name[0]) {
			WARN(&im, o, NULL, "not mapped: metadata.name is missing");
			continue;
		}
		/* The same object twice (a file given twice): the first is kept. */
		{
			const struct object *first = NULL;

			for (size_t j = 0; j < i && !first; j++)
				if (im.objs[j].kind &&
				    strcmp(im.objs[j].kind, "ScaledObject") == 0 &&
				    strcmp(im.objs[j].name, o->name) == 0 &&
				    strcmp(im.objs[j].namespace_ ? im.objs[j].namespace_
				                                 : "default",
				           o->namespace_ ? o->namespace_ : "default") == 0)
					first = &im.objs[j];
			if (first) {
				WARN(&im, o, NULL, "not mapped: already read at %s:%d", first->file,
				     first->n->line);
				continue;
			}
		}
		/* Scalers are named after their ScaledObject; a name used in two
		 * namespaces becomes NAMESPACE.NAME (a namespace has no dots). */
		for (size_t j = 0; j < im.n_objs; j++)
			dup = dup ||
			      (j != i && im.objs[j].kind &&
			       strcmp(im.objs[j].kind, "ScaledObject") == 0 &&
			       strcmp(im.objs[j].name, o->name) == 0 &&
			       strcmp(im.objs[j].namespace_ ? im.objs[j].namespace_ : "default",
			              o->namespace_ ? o->namespace_ : "default") != 0);
		if (dup && !im.lagscaler)
			snprintf(name, sizeof(name), "%s.%s",
			         o->namespace_ ? o->namespace_ : "default", o->name);
		else
			snprintf(name, sizeof(name), "%s", o->name);
		ls_buf_init(&body, 0);
		if (!map_scaler(&im, o, name, &body, im.lagscaler ? 2 : 4, !im.lagscaler)) {
			ls_buf_release(&body);
			continue;
		}
		im.mapped++;
		if (im.lagscaler) {
			ls_buf_printf(
			    &im.scalers,
			    "---\n# From ScaledObject %s/%s (%s:%d)\n"
			    "apiVersion: lagscale.io/v1alpha1\nkind: LagScaler\nmetadata:\n"
			    "  name: ",
			    o->namespace_ ? o->namespace_ : "default", o->name, o->file,
			    o->n->line);
			put_str(&im.scalers, o->name);
			ls_buf_puts(&im.scalers, "\n  namespace: ");
			put_str(&im.scalers, o->namespace_ ? o->namespace_ : "default");
			ls_buf_puts(&im.scalers, "\nspec:\n");
		} else {
			ls_buf_printf(&im.scalers,
			              "  # From ScaledObject %s/%s (%s:%d)\n  - name: ",
			              o->namespace_ ? o->namespace_ : "default", o->name, o->file,
			              o->n->line);
			put_str(&im.scalers, name);
			ls_buf_puts(&im.scalers, "\n");
		}
		ls_buf_puts(&im.scalers, ls_buf_str(&body));
		ls_buf_release(&body);
	}
	if (im.mapped == 0) {
		fprintf(stderr, "lagscale import-keda: %s\n",
		        n_so ? "no ScaledObject could be mapped (see above)"
		             : "no KEDA ScaledObject in the input");
		rc = LS_EXIT_USAGE;
		goto out;
	}
	put_header(&im, &out, argv + optind, n_in);
	if (im.lagscaler) {
		ls_buf_puts(&out,
		            "#\n# The Kafka clusters these LagScalers name: they belong in "
		            "lagscale's configuration\n# (the controller's, kept by the platform "
		            "team), for example:\n#\n");
		put_clusters(&im, &out, "#   ");
	} else {
		put_clusters(&im, &out, "");
		ls_buf_puts(&out, "scalers:\n");
	}
	ls_buf_puts(&out, ls_buf_str(&im.scalers));
	if (im.oom || fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "lagscale import-keda: %s\n",
		        im.oom ? "out of memory" : "cannot write the output");
		rc = LS_EXIT_FAILURE;
		goto out;
	}
	rc = im.warnings ? EXIT_WARNINGS : LS_EXIT_OK;
out:
	for (size_t i = 0; i < im.n_clusters; i++)
		cluster_release(&im.clusters[i]);
	free(im.clusters);
	free(im.objs);
	for (int i = 0; i < n_in; i++) {
		ls_node_stream_free(ins[i].docs, ins[i].n_docs);
		ls_buf_release(&ins[i].text);
		free(ins[i].name);
	}
	free(ins);
	ls_buf_release(&im.scalers);
	ls_buf_release(&im.mounts);
	ls_buf_release(&out);
	return rc;
}
