/*
 * kube-async-tool.c - lib/kube/async.h against the real kube-apiserver:
 * scales many workloads at once, reads them back, records Events for them,
 * and prints what happened and the client's statistics as one JSON line.
 *
 *   kube-async-tool --kubeconfig F --namespace NS --prefix P --count N
 *                   --replicas R [--kind Deployment] [--max-in-flight M]
 *                   [--dry-run] [--read] [--events]
 *
 * Targets are P-0 .. P-(N-1). --read reads each /scale after the patches
 * and counts those at R. --events records two Events per target (the
 * second is queued behind the first, so it patches its series). Exit 0
 * when every request succeeded (and every read saw R), 1 otherwise, 2 on
 * bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/async.h"
#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/parse.h"

struct tally {
	int ok, failed, read_at_target;
	int32_t want;
	char first_error[600];
};

static void on_result(void *tag, const struct ls_kube_async_result *res, void *ud)
{
	struct tally *t = ud;

	if (res->err == 0) {
		t->ok++;
		if (res->op == LS_KUBE_ASYNC_SCALE_GET && res->replicas == t->want)
			t->read_at_target++;
		return;
	}
	t->failed++;
	if (!t->first_error[0])
		snprintf(t->first_error, sizeof(t->first_error), "%s: %s", (const char *)tag,
		         res->errmsg);
}

/* Polls until nothing is pending (at most 5 minutes). */
static void drain(struct ls_kube_async *a)
{
	int64_t end = ls_clock_mono_ms() + 300000;

	while (ls_kube_async_pending(a) > 0 && ls_clock_mono_ms() < end)
		ls_kube_async_poll(a, 1000);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'c'},
	    {"replicas", required_argument, NULL, 'r'},
	    {"kind", required_argument, NULL, 'K'},
	    {"max-in-flight", required_argument, NULL, 'm'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"read", no_argument, NULL, 'R'},
	    {"events", no_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	const char *kubeconfig = NULL, *ns = NULL, *prefix = NULL, *kind = "Deployment";
	int32_t count = 0, replicas = -1, max_in_flight = 0;
	bool dry_run = false, read = false, events = false;
	struct ls_kube_load_options lo = {0};
	struct ls_kube_config *kc = NULL;
	struct ls_kube *k = NULL;
	struct ls_kube_async *a = NULL;
	struct ls_kube_recorder *rec = NULL;
	struct ls_kube_async_stats st;
	struct tally tally = {0};
	struct ls_diag d;
	char **names = NULL;
	int64_t t0;
	int opt, r, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			kubeconfig = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'c':
			if (ls_parse_int32(optarg, &count) < 0)
				count = -1;
			break;
		case 'r':
			if (ls_parse_int32(optarg, &replicas) < 0)
				replicas = -1;
			break;
		case 'K':
			kind = optarg;
			break;
		case 'm':
			if (ls_parse_int32(optarg, &max_in_flight) < 0)
				max_in_flight = -1;
			break;
		case 'd':
			dry_run = true;
			break;
		case 'R':
			read = true;
			break;
		case 'e':
			events = true;
			break;
		default:
			return 2;
		}
	}
	if (!kubeconfig || !ns || !prefix || count <= 0 || replicas < 0 || max_in_flight < 0) {
		fprintf(stderr, "usage: kube-async-tool --kubeconfig F --namespace NS --prefix P "
		                "--count N --replicas R [--kind K] [--max-in-flight M] "
		                "[--dry-run] [--read] [--events]\n");
		return 2;
	}
	tally.want = replicas;
	lo.kubeconfig = kubeconfig;
	ls_diag_init(&d);
	r = ls_kube_config_load(&lo, &kc, &d);
	ls_diag_release(&d);
	if (r < 0) {
		fprintf(stderr, "kube-async-tool: cannot load \"%s\"\n", kubeconfig);
		goto out;
	}
	if (ls_kube_new(kc, NULL, &k) < 0 ||
	    ls_kube_async_new(k, max_in_flight, on_result, &tally, &a) < 0 ||
	    ls_kube_recorder_new("lagscale.io/lagscale", "kube-async-tool", &rec) < 0 ||
	    !(names = calloc((size_t)count, sizeof(*names)))) {
		fprintf(stderr, "kube-async-tool: out of memory\n");
		goto out;
	}
	for (int32_t i = 0; i < count; i++)
		if (asprintf(&names[i], "%s-%d", prefix, i) < 0) {
			names[i] = NULL;
			goto out;
		}
	t0 = ls_clock_mono_ms();
	for (int32_t i = 0; i < count; i++) {
		struct ls_kube_target t = {"apps/v1", kind, ns, names[i]};

		if ((r = ls_kube_async_scale_set(a, &t, replicas, dry_run, names[i])) < 0) {
			fprintf(stderr, "kube-async-tool: queue %s: %d\n", names[i], r);
			goto out;
		}
	}
	drain(a);
	if (read) {
		for (int32_t i = 0; i < count; i++) {
			struct ls_kube_target t = {"apps/v1", kind, ns, names[i]};

			if ((r = ls_kube_async_scale_get(a, &t, names[i])) < 0)
				goto out;
		}
		drain(a);
	}
	if (events) {
		for (int round = 0; round < 2; round++)
			for (int32_t i = 0; i < count; i++) {
				struct ls_kube_target t = {"apps/v1", kind, ns, names[i]};
				struct ls_kube_event ev = {&t,      NULL,    "Normal",
				                           "AsyncE2E", "Scale", "scaled by kube-async-tool"};

				if ((r = ls_kube_async_event(a, rec, &ev, ls_clock_wall_ms(),
				                             ls_clock_mono_ms(), dry_run, names[i])) < 0)
					goto out;
			}
		drain(a);
	}
	ls_kube_async_stats(a, &st);
	printf("{\"ok\":%d,\"failed\":%d,\"readAtTarget\":%d,\"pending\":%zu,\"requests\":%llu,"
	       "\"retries\":%llu,\"throttled\":%llu,\"superseded\":%llu,\"connections\":%llu,"
	       "\"maxInFlightSeen\":%zu,\"seconds\":%.3f,\"firstError\":",
	       tally.ok, tally.failed, tally.read_at_target, ls_kube_async_pending(a),
	       (unsigned long long)st.requests, (unsigned long long)st.retries,
	       (unsigned long long)st.throttled, (unsigned long long)st.superseded,
	       (unsigned long long)st.connections, st.max_in_flight_seen,
	       (double)(ls_clock_mono_ms() - t0) / 1000.0);
	json_str(tally.first_error);
	printf("}\n");
	rc = tally.failed == 0 && ls_kube_async_pending(a) == 0 &&
	             (!read || tally.read_at_target == count)
	         ? 0
	         : 1;
out:
	ls_kube_async_free(a);
	ls_kube_recorder_free(rec);
	ls_kube_free(k);
	ls_kube_config_free(kc);
	for (int32_t i = 0; names && i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}
