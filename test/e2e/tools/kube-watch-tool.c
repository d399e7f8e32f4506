/*
 * kube-watch-tool.c - the informer of lib/kube (watch.h) for the
 * end-to-end tests: watches one kind in some namespaces and answers
 * commands read from stdin, one JSON line each on stdout.
 *
 *   kube-watch-tool --kubeconfig FILE [--api-version apps/v1] [--kind Deployment]
 *                   [--namespace NS]... [--backoff-max-ms MS] [--log-level LEVEL]
 *
 * No --namespace (or --namespace "") watches every namespace. Commands:
 *   get NAME [NAMESPACE]  {"cmd":"get","name":..,"namespace":..,"result":"ok"|"ENOENT"|
 *                          "EAGAIN"|"ESRCH","generation":..,"uid":..,"resourceVersion":..,
 *                          "paused":..,"pausedReplicas":..,"pauseError":..,"stale":..,
 *                          "staleMs":..,"error":..}
 *   stats                 {"cmd":"stats","lists":..,"watches":..,"events":..,"relists":..,
 *                          "bookmarks":..,"failures":..,"objects":..,"synced":..,
 *                          "total":..,"changes":..}
 *   wait-synced MS        {"cmd":"wait-synced","ok":true|false}
 *   wait-change SEEN MS   {"cmd":"wait-change","changes":N}
 *   quit                  (also end of input)
 * The informer's own log lines (a watch's failure and recovery) go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "kube/watch.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/log.h"

static void die(const char *what, const char *why)
{
	fprintf(stderr, "kube-watch-tool: %s: %s\n", what, why);
	exit(1);
}

static const char *result_name(int r)
{
	switch (r) {
	case 0:
		return "ok";
	case -ENOENT:
		return "ENOENT";
	case -EAGAIN:
		return "EAGAIN";
	case -ESRCH:
		return "ESRCH";
	default:
		return strerror(-r);
	}
}

static void emit(struct ls_buf *b)
{
	fputs(ls_buf_str(b), stdout);
	fputc('\n', stdout);
	fflush(stdout);
	ls_buf_reset(b);
}

static void cmd_get(struct ls_kube_informer *inf, const char *api_version, const char *kind,
                    const char *name, const char *ns, struct ls_buf *b)
{
	struct ls_kube_object_meta m;
	int64_t stale = 0;
	char err[512];
	int r;

	memset(&m, 0, sizeof(m));
	r = ls_kube_informer_get(inf, api_version, kind, ns, name, &m, &stale, err, sizeof(err));
	ls_buf_puts(b, "{\"cmd\":\"get\",\"name\":");
	ls_buf_json_string(b, name);
	ls_buf_puts(b, ",\"namespace\":");
	ls_buf_json_string(b, ns);
	ls_buf_printf(b, ",\"result\":\"%s\"", result_name(r));
	if (r == 0) {
		ls_buf_printf(b, ",\"generation\":%" PRId64 ",\"uid\":", m.generation);
		ls_buf_json_string(b, m.uid);
		ls_buf_puts(b, ",\"resourceVersion\":");
		ls_buf_json_string(b, m.resource_version);
		ls_buf_printf(b, ",\"paused\":%s,\"pausedReplicas\":%d,\"pauseError\":",
		              m.paused ? "true" : "false", m.paused_replicas);
		ls_buf_json_string(b, m.pause_error);
	}
	if (r == 0 || r == -ENOENT)
		ls_buf_printf(b, ",\"stale\":%s,\"staleMs\":%lld", stale ? "true" : "false",
		              (long long)(stale ? ls_clock_mono_ms() - stale : 0));
	ls_buf_puts(b, ",\"error\":");
	ls_buf_json_string(b, err);
	ls_buf_puts(b, "}");
	emit(b);
}

static void cmd_stats(struct ls_kube_informer *inf, struct ls_buf *b)
{
	struct ls_kube_informer_stats s;

	ls_kube_informer_stats(inf, &s);
	ls_buf_printf(b,
	              "{\"cmd\":\"stats\",\"lists\":%" PRIu64 ",\"watches\":%" PRIu64
	              ",\"events\":%" PRIu64 ",\"relists\":%" PRIu64 ",\"bookmarks\":%" PRIu64
	              ",\"failures\":%" PRIu64 ",\"objects\":%zu,\"synced\":%zu,\"total\":%zu,"
	              "\"changes\":%" PRIu64 "}",
	              s.lists, s.watches, s.events, s.relists, s.bookmarks, s.failures, s.objects,
	              s.watches_synced, s.watches_total, ls_kube_informer_changes(inf));
	emit(b);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"kubeconfig", required_argument, NULL, 'k'},
	                                   {"api-version", required_argument, NULL, 'a'},
	                                   {"kind", required_argument, NULL, 'K'},
	                                   {"namespace", required_argument, NULL, 'n'},
	                                   {"backoff-max-ms", required_argument, NULL, 'b'},
	                                   {"log-level", required_argument, NULL, 'l'},
	                                   {NULL, 0, NULL, 0}};
	const char *kubeconfig = NULL, *api_version = "apps/v1", *kind = "Deployment";
	const char *namespaces[64];
	size_t nns = 0;
	enum ls_log_level level = LS_LOG_INFO;
	struct ls_kube_informer_options o = {0};
	struct ls_kube_load_options lopts = {0};
	struct ls_kube_config *kc = NULL;
	struct ls_kube_informer *inf = NULL;
	struct ls_diag d;
	struct ls_buf out;
	char line[1024];
	int c, r;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			kubeconfig = optarg;
			break;
		case 'a':
			api_version = optarg;
			break;
		case 'K':
			kind = optarg;
			break;
		case 'n':
			if (nns == sizeof(namespaces) / sizeof(namespaces[0]))
				die("usage", "too many namespaces");
			namespaces[nns++] = optarg;
			break;
		case 'b':
			o.resync_backoff_max_ms = strtoll(optarg, NULL, 10);
			break;
		case 'l':
			if (ls_log_level_parse(optarg, &level) < 0)
				die("usage", "--log-level debug|info|warn|error");
			break;
		default:
			die("usage",
			    "kube-watch-tool --kubeconfig FILE [--api-version V] [--kind K] "
			    "[--namespace NS]... [--backoff-max-ms MS] [--log-level L]");
		}
	}
	if (!kubeconfig)
		die("usage", "--kubeconfig FILE is required");
	if (nns == 0)
		namespaces[nns++] = "";
	ls_log_setup(level, LS_LOG_TEXT, stderr);
	ls_diag_init(&d);
	lopts.kubeconfig = kubeconfig;
	r = ls_kube_config_load(&lopts, &kc, &d);
	if (r < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "kube-watch-tool: %s\n", d.msgs[i]);
		die("kubeconfig", strerror(-r));
	}
	ls_diag_release(&d);
	if ((r = ls_kube_informer_new(kc, &o, &inf)) < 0)
		die("informer", strerror(-r));
	for (size_t i = 0; i < nns; i++)
		if ((r = ls_kube_informer_add(inf, api_version, kind, namespaces[i])) < 0)
			die("informer add", strerror(-r));
	if ((r = ls_kube_informer_start(inf)) < 0)
		die("informer start", strerror(-r));
	ls_buf_init(&out, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32] = "", a1[512] = "", a2[512] = "";

		line[strcspn(line, "\r\n")] = '\0';
		if (sscanf(line, "%31s %511s %511s", cmd, a1, a2) < 1)
			continue;
		if (strcmp(cmd, "quit") == 0) {
			break;
		} else if (strcmp(cmd, "get") == 0 && a1[0]) {
			cmd_get(inf, api_version, kind, a1, a2[0] ? a2 : namespaces[0], &out);
		} else if (strcmp(cmd, "stats") == 0) {
			cmd_stats(inf, &out);
		} else if (strcmp(cmd, "wait-synced") == 0) {
			r = ls_kube_informer_wait_synced(inf, strtoll(a1, NULL, 10));
			ls_buf_printf(&out, "{\"cmd\":\"wait-synced\",\"ok\":%s}",
			              r == 0 ? "true" : "false");
			emit(&out);
		} else if (strcmp(cmd, "wait-change") == 0) {
			uint64_t ch = ls_kube_informer_wait(inf, strtoull(a1, NULL, 10),
			                                    strtoll(a2, NULL, 10));

			ls_buf_printf(&out, "{\"cmd\":\"wait-change\",\"changes\":%" PRIu64 "}",
			              ch);
			emit(&out);
		} else {
			ls_buf_puts(&out, "{\"cmd\":\"error\",\"error\":");
			ls_buf_json_string(&out, line);
			ls_buf_puts(&out, "}");
			emit(&out);
		}
	}
	ls_buf_release(&out);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	return 0;
}
