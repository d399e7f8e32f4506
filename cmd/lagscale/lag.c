/*
 * lag.c - `lagscale lag`: one collection round, printed as a table or as
 * JSON Lines (DESIGN.md section 6), from flags or from a config file.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmdutil.h"
#include "config/config.h"
#include "controller/sources.h"
#include "kafka/kafka.h"
#include "util/buf.h"
#include "util/parse.h"

#define MAX_LIST 1024 /* --topic and -X are capped like any outside input */

enum output { OUT_TABLE, OUT_JSON };

/* The member owning a partition, or NULL. */
static const struct ls_group_member *owner_of(const struct ls_lag_snapshot *s,
					      const struct ls_partition_offsets *p)
{
	if (!s->group.known || p->owner <= 0 || (size_t)p->owner > s->group.n_members)
		return NULL;
	return &s->group.members[p->owner - 1];
}

/* "state", "assignor" and "members" of the group: null when unknown. */
static void json_group(struct ls_buf *b, const struct ls_group_info *g)
{
	if (!g->known) {
		ls_buf_puts(b, ",\"state\":null,\"assignor\":null,\"members\":null");
		return;
	}
	ls_buf_puts(b, ",\"state\":");
	ls_buf_json_string(b, g->state);
	ls_buf_puts(b, ",\"assignor\":");
	if (g->assignor[0])
		ls_buf_json_string(b, g->assignor);
	else
		ls_buf_puts(b, "null");
	ls_buf_printf(b, ",\"members\":%zu", g->n_members);
}

static void json_owner(struct ls_buf *b, const struct ls_group_member *m)
{
	if (!m) {
		ls_buf_puts(b, ",\"consumerId\":null,\"host\":null,\"clientId\":null");
		return;
	}
	ls_buf_puts(b, ",\"consumerId\":");
	ls_buf_json_string(b, m->member_id);
	ls_buf_puts(b, ",\"host\":");
	ls_buf_json_string(b, m->host);
	ls_buf_puts(b, ",\"clientId\":");
	ls_buf_json_string(b, m->client_id);
}

static void print_json(const char *group, const struct ls_lag_snapshot *s)
{
	struct ls_buf b;

	ls_buf_init(&b, 0);
	ls_buf_puts(&b, "{\"group\":");
	ls_buf_json_string(&b, group);
	json_group(&b, &s->group);
	ls_buf_printf(&b, ",\"totalLag\":%lld,\"partitionCount\":%d,\"topics\":[",
		      (long long)s->total_lag, s->partition_count);
	for (size_t t = 0; t < s->n_topics; t++) {
		const struct ls_topic_offsets *to = &s->topics[t];
		int64_t lag = 0;

		for (size_t i = 0; i < to->n_parts; i++)
			lag += to->parts[i].lag;
		ls_buf_puts(&b, t ? ",{\"topic\":" : "{\"topic\":");
		ls_buf_json_string(&b, to->topic);
		ls_buf_printf(&b, ",\"lag\":%lld,\"partitions\":[", (long long)lag);
		for (size_t i = 0; i < to->n_parts; i++) {
			const struct ls_partition_offsets *p = &to->parts[i];

			ls_buf_printf(&b, "%s{\"partition\":%d,\"committed\":", i ? "," : "",
				      p->partition);
			if (p->committed >= 0)
				ls_buf_printf(&b, "%lld", (long long)p->committed);
			else
				ls_buf_puts(&b, "null");
			ls_buf_printf(&b, ",\"end\":%lld,\"lag\":%lld", (long long)p->end,
				      (long long)p->lag);
			json_owner(&b, owner_of(s, p));
			ls_buf_puts(&b, "}");
		}
		ls_buf_puts(&b, "]}");
	}
	ls_buf_puts(&b, "]}\n");
	fputs(ls_buf_str(&b), stdout);
	ls_buf_release(&b);
}

/*
 * One row per partition with its owning member, as kafka-consumer-groups
 * --describe shows it ("-" where no member owns it), a total row, and a
 * line with the group's state and assignor.
 */
static void print_table(const char *group, const struct ls_lag_snapshot *s, bool header)
{
	if (header)
		printf("%-24s %-24s %9s %12s %12s %10s  %s\n", "GROUP", "TOPIC", "PARTITION",
		       "COMMITTED", "END", "LAG", "CONSUMER-ID HOST CLIENT-ID");
	for (size_t t = 0; t < s->n_topics; t++) {
		const struct ls_topic_offsets *to = &s->topics[t];

		for (size_t i = 0; i < to->n_parts; i++) {
			const struct ls_partition_offsets *p = &to->parts[i];
			char committed[24];

			if (p->committed >= 0)
				snprintf(committed, sizeof(committed), "%lld",
					 (long long)p->committed);
			else
				snprintf(committed, sizeof(committed), "-");
			const struct ls_group_member *m = owner_of(s, p);

			printf("%-24s %-24s %9d %12s %12lld %10lld  %s %s %s\n", group, to->topic,
			       p->partition, committed, (long long)p->end, (long long)p->lag,
			       m ? m->member_id : "-", m ? m->host : "-", m ? m->client_id : "-");
		}
	}
	printf("%-24s %-24s %9d %12s %12s %10lld\n", group, "(total)", s->partition_count, "",
	       "", (long long)s->total_lag);
	if (s->group.known)
		printf("group \"%s\": state %s, assignor %s, %zu member%s\n", group,
		       s->group.state, s->group.assignor[0] ? s->group.assignor : "none",
		       s->group.n_members, s->group.n_members == 1 ? "" : "s");
}

static const struct option long_opts[] = {
	{"bootstrap-servers", required_argument, NULL, 'b'},
	{"group", required_argument, NULL, 'g'},
	{"topic", required_argument, NULL, 't'},
	{"config", required_argument, NULL, 'c'},
	{"scaler", required_argument, NULL, 's'},
	{"output", required_argument, NULL, 'o'},
	{"offset-reset", required_argument, NULL, 'r'},
	{"isolation-level", required_argument, NULL, 'i'},
	{"timeout", required_argument, NULL, 'T'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const char usage_text[] =
	"usage: lagscale lag (--bootstrap-servers B --group G [--topic T]... [-X key=value]...\n"
	"                     | --config FILE [--scaler NAME]) [--output table|json]\n"
	"                    [--offset-reset latest|earliest]\n"
	"                    [--isolation-level read_uncommitted|read_committed]\n"
	"                    [--timeout DURATION]\n";

int ls_cmd_lag(int argc, char **argv)
{
	const char *bootstrap = NULL, *group = NULL, *config = NULL, *scaler = NULL;
	const char *topics[MAX_LIST];
	struct ls_kafka_prop props[MAX_LIST];
	char *prop_storage[MAX_LIST];
	size_t n_topics = 0, n_props = 0;
	enum output out = OUT_TABLE;
	enum ls_offset_reset reset = LS_RESET_LATEST;
	enum ls_isolation iso = LS_ISOLATION_READ_UNCOMMITTED;
	int64_t timeout_ms = 10000;
	struct ls_config *cfg = NULL;
	const struct ls_config_scaler **sel = NULL;
	struct ls_kafka_query *qs = NULL;
	struct ls_lag_snapshot *snaps = NULL;
	struct ls_diag diag;
	int rc = LS_EXIT_USAGE, c;

	ls_diag_init(&diag);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":X:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bootstrap = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 't':
			if (n_topics == MAX_LIST) {
				fprintf(stderr, "lagscale lag: --topic: more than %d topics\n",
					MAX_LIST);
				goto out;
			}
			topics[n_topics++] = optarg;
			break;
		case 'X': {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg) {
				fprintf(stderr, "lagscale lag: -X: expected key=value, got \"%s\"\n",
					ls_log_key_is_secret(optarg) ? "[redacted]" : optarg);
				goto out;
			}
			if (n_props == MAX_LIST) {
				fprintf(stderr, "lagscale lag: -X: more than %d properties\n",
					MAX_LIST);
				goto out;
			}
			prop_storage[n_props] = strndup(optarg, (size_t)(eq - optarg));
			if (!prop_storage[n_props]) {
				rc = LS_EXIT_FAILURE;
				goto out;
			}
			props[n_props].key = prop_storage[n_props];
			props[n_props].value = eq + 1;
			n_props++;
			break;
		}
		case 'c':
			config = optarg;
			break;
		case 's':
			scaler = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "table") == 0) {
				out = OUT_TABLE;
			} else if (strcmp(optarg, "json") == 0) {
				out = OUT_JSON;
			} else {
				fprintf(stderr,
					"lagscale lag: --output: \"%s\" is not table or json\n",
					optarg);
				goto out;
			}
			break;
		case 'r':
			if (ls_cmdutil_parse_reset(optarg, &reset) < 0) {
				fprintf(stderr,
					"lagscale lag: --offset-reset: \"%s\" is not latest or "
					"earliest\n",
					optarg);
				goto out;
			}
			break;
		case 'i':
			if (ls_cmdutil_parse_isolation(optarg, &iso) < 0) {
				fprintf(stderr,
					"lagscale lag: --isolation-level: \"%s\" is not "
					"read_uncommitted or read_committed\n",
					optarg);
				goto out;
			}
			break;
		case 'T':
			if (ls_parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms <= 0) {
				fprintf(stderr, "lagscale lag: --timeout: \"%s\" is not a duration\n",
					optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = LS_EXIT_OK;
			goto out;
		default:
			ls_cmdutil_bad_option("lag", argv, c);
			fputs(usage_text, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lagscale lag: unexpected argument \"%s\"\n", argv[optind]);
		goto out;
	}
	if (config && (bootstrap || group || n_topics || n_props)) {
		fprintf(stderr, "lagscale lag: --config cannot be combined with --bootstrap-servers, "
				"--group, --topic or -X\n");
		goto out;
	}
	if (!config) {
		if (scaler) {
			fprintf(stderr, "lagscale lag: --scaler needs --config\n");
			goto out;
		}
		if (!bootstrap || !group) {
			fprintf(stderr, "lagscale lag: %s is required (or use --config)\n",
				!bootstrap ? "--bootstrap-servers" : "--group");
			fputs(usage_text, stderr);
			goto out;
		}
	}

	if (config) {
		int r = ls_config_load(config, &cfg, &diag);

		if (r < 0) {
			ls_cmdutil_print_diag(&diag, config, r);
			goto out;
		}
		if (scaler && !ls_config_find_scaler(cfg, scaler)) {
			fprintf(stderr, "lagscale lag: --scaler: no scaler named \"%s\" in %s\n",
				scaler, config);
			goto out;
		}
		sel = calloc(cfg->n_scalers + 1, sizeof(*sel));
		qs = calloc(cfg->n_scalers + 1, sizeof(*qs));
		snaps = calloc(cfg->n_scalers + 1, sizeof(*snaps));
		if (!sel || !qs || !snaps) {
			rc = LS_EXIT_FAILURE;
			goto out;
		}
		rc = LS_EXIT_OK;
		for (size_t ci = 0; ci < cfg->n_clusters; ci++) {
			struct ls_kafka *k = NULL;
			char err[512];
			size_t n = 0;

			for (size_t i = 0; i < cfg->n_scalers; i++) {
				const struct ls_config_scaler *s = &cfg->scalers[i];

				if (s->cluster_index != ci || (scaler && strcmp(s->name, scaler)))
					continue;
				sel[n] = s;
				ls_controller_query_for(s, &qs[n]);
				n++;
			}
			if (n == 0)
				continue;
			if (ls_controller_kafka_new(&cfg->clusters[ci], &k, err, sizeof(err)) < 0) {
				fprintf(stderr, "lagscale lag: cluster \"%s\": %s\n",
					cfg->clusters[ci].name, err);
				rc = LS_EXIT_USAGE;
				continue;
			}
			ls_kafka_collect(k, qs, n, timeout_ms, snaps);
			for (size_t i = 0; i < n; i++) {
				if (snaps[i].err) {
					fprintf(stderr, "lagscale lag: scaler \"%s\": %s\n",
						sel[i]->name, snaps[i].errmsg);
					rc = LS_EXIT_FAILURE;
				} else if (out == OUT_JSON) {
					print_json(sel[i]->kafka.group, &snaps[i]);
				} else {
					print_table(sel[i]->kafka.group, &snaps[i], true);
				}
				ls_lag_snapshot_release(&snaps[i]);
			}
			ls_kafka_free(k);
		}
	} else {
		struct ls_kafka_query q = {
			.group = group,
			.topics = topics,
			.n_topics = n_topics,
			.reset = reset,
			.isolation = iso,
		};
		struct ls_lag_snapshot snap;
		struct ls_kafka *k = NULL;
		char err[512];

		if (ls_kafka_new("command line", bootstrap, props, n_props, &k, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "lagscale lag: -X %s\n", err);
			goto out;
		}
		ls_kafka_collect(k, &q, 1, timeout_ms, &snap);
		if (snap.err) {
			fprintf(stderr, "lagscale lag: group \"%s\": %s\n", group, snap.errmsg);
			rc = LS_EXIT_FAILURE;
		} else {
			if (out == OUT_JSON)
				print_json(group, &snap);
			else
				print_table(group, &snap, true);
			rc = LS_EXIT_OK;
		}
		ls_lag_snapshot_release(&snap);
		ls_kafka_free(k);
	}
out:
	for (size_t i = 0; i < n_props; i++)
		free(prop_storage[i]);
	free(sel);
	free(qs);
	free(snaps);
	ls_config_free(cfg);
	ls_diag_release(&diag);
	return rc;
}
