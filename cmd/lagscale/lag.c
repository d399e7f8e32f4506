/*
 * lag.c - `lagscale lag`: one collection round, printed as a table or as
 * JSON Lines (DESIGN.md section 6), for groups named by flags, for every
 * group of a cluster, or for the scalers of a config file.
 */
#include <errno.h>
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

#define MAX_LIST 1024 /* --group, --topic and -X are capped like any outside input */

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

/* One group's read, to print. */
struct result {
	const char *group; /* borrowed from argv, the config or the group list */
	struct ls_lag_snapshot snap;
};

struct results {
	struct result *v;
	size_t n, alloc;
};

/* Takes snap (zeroed on success); -ENOMEM leaves it to the caller. */
static int results_add(struct results *rs, const char *group, struct ls_lag_snapshot *snap)
{
	if (rs->n == rs->alloc) {
		size_t na = rs->alloc ? 2 * rs->alloc : 16;
		struct result *nv = realloc(rs->v, na * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		rs->v = nv;
		rs->alloc = na;
	}
	rs->v[rs->n].group = group;
	rs->v[rs->n].snap = *snap;
	rs->n++;
	memset(snap, 0, sizeof(*snap));
	return 0;
}

static void results_release(struct results *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		ls_lag_snapshot_release(&rs->v[i].snap);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* The table's columns; text ones are left-aligned, numbers right-aligned. */
enum { C_GROUP, C_TOPIC, C_PART, C_COMMITTED, C_END, C_LAG, C_CONSUMER, C_HOST, C_CLIENT, N_COLS };

static const char *const col_names[N_COLS] = {
	"GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID",
};
static const bool col_right[N_COLS] = {false, false, true, true, true, true, false, false, false};

/* The cells of one row; numbers are formatted into nums. */
struct row {
	const char *cell[N_COLS];
	char nums[4][24];
};

static void partition_row(const struct result *r, const struct ls_topic_offsets *to,
			  const struct ls_partition_offsets *p, struct row *row)
{
	const struct ls_group_member *m = owner_of(&r->snap, p);

	snprintf(row->nums[0], sizeof(row->nums[0]), "%d", p->partition);
	if (p->committed >= 0)
		snprintf(row->nums[1], sizeof(row->nums[1]), "%lld", (long long)p->committed);
	else
		snprintf(row->nums[1], sizeof(row->nums[1]), "-");
	snprintf(row->nums[2], sizeof(row->nums[2]), "%lld", (long long)p->end);
	snprintf(row->nums[3], sizeof(row->nums[3]), "%lld", (long long)p->lag);
	row->cell[C_GROUP] = r->group;
	row->cell[C_TOPIC] = to->topic;
	row->cell[C_PART] = row->nums[0];
	row->cell[C_COMMITTED] = row->nums[1];
	row->cell[C_END] = row->nums[2];
	row->cell[C_LAG] = row->nums[3];
	row->cell[C_CONSUMER] = m ? m->member_id : "-";
	row->cell[C_HOST] = m ? m->host : "-";
	row->cell[C_CLIENT] = m ? m->client_id : "-";
}

/* The group's total: its partition count under PARTITION. */
static void total_row(const struct result *r, struct row *row)
{
	snprintf(row->nums[0], sizeof(row->nums[0]), "%d", r->snap.partition_count);
	snprintf(row->nums[3], sizeof(row->nums[3]), "%lld", (long long)r->snap.total_lag);
	for (int c = 0; c < N_COLS; c++)
		row->cell[c] = "";
	row->cell[C_GROUP] = r->group;
	row->cell[C_TOPIC] = "(total)";
	row->cell[C_PART] = row->nums[0];
	row->cell[C_LAG] = row->nums[3];
}

/* Widens w to the row (print false), or prints it (the last column unpadded). */
static void row_out(const struct row *row, size_t w[N_COLS], bool print)
{
	int last = N_COLS - 1;

	while (last > 0 && !row->cell[last][0])
		last--;
	for (int c = 0; c < N_COLS; c++) {
		size_t len = strlen(row->cell[c]);

		if (!print) {
			if (len > w[c])
				w[c] = len;
			continue;
		}
		if (c > last)
			break;
		if (c)
			fputs(c == C_CONSUMER ? "  " : " ", stdout);
		if (col_right[c])
			printf("%*s", (int)w[c], row->cell[c]);
		else if (c == last)
			fputs(row->cell[c], stdout);
		else
			printf("%-*s", (int)w[c], row->cell[c]);
	}
	if (print)
		putchar('\n');
}

/* Every row of the table: the partitions of each group, then its total. */
static void table_rows(const struct results *rs, size_t w[N_COLS], bool print)
{
	struct row row;

	for (size_t i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		for (size_t t = 0; t < r->snap.n_topics; t++) {
			const struct ls_topic_offsets *to = &r->snap.topics[t];

			for (size_t j = 0; j < to->n_parts; j++) {
				partition_row(r, to, &to->parts[j], &row);
				row_out(&row, w, print);
			}
		}
		total_row(r, &row);
		row_out(&row, w, print);
	}
}

/*
 * One table for every group read, each column as wide as its widest cell,
 * as kafka-consumer-groups --describe shows it ("-" where no member owns a
 * partition or nothing is committed), with a total row per group; then a
 * line per group with its state and assignor.
 */
static void print_table(const struct results *rs)
{
	struct row head;
	size_t w[N_COLS] = {0};

	if (rs->n == 0)
		return;
	for (int c = 0; c < N_COLS; c++)
		head.cell[c] = col_names[c];
	row_out(&head, w, false);
	table_rows(rs, w, false);
	row_out(&head, w, true);
	table_rows(rs, w, true);
	for (size_t i = 0; i < rs->n; i++) {
		const struct ls_group_info *g = &rs->v[i].snap.group;

		if (g->known)
			printf("group \"%s\": state %s, assignor %s, %zu member%s\n", rs->v[i].group,
			       g->state, g->assignor[0] ? g->assignor : "none", g->n_members,
			       g->n_members == 1 ? "" : "s");
	}
}

static int lag_run(int argc, char **argv);

enum { F_BOOTSTRAP = 'b', F_GROUP = 'g', F_ALL_GROUPS = 'A', F_TOPIC = 't', F_PROP = 'X',
       F_CONFIG = 'c', F_SCALER = 's', F_OUTPUT = 'o', F_RESET = 'r', F_ISOLATION = 'i',
       F_TIMEOUT = 'T' };

const struct ls_cmdutil_command ls_cmd_lag = {
	.name = "lag",
	.summary = "Show the lag of consumer groups, partition by partition",
	.usage = "lagscale lag --bootstrap-servers B (--group G... | --all-groups) [flags]\n"
		 "lagscale lag --config FILE [--scaler NAME] [flags]",
	.description =
		"Reads each consumer group's committed offsets and the end offsets of its "
		"partitions in one round, as `run` does, and prints per partition the committed "
		"offset, the end offset, the lag and the member that owns it, a total per group, "
		"and the group's state and assignor. The lag of a partition without a committed "
		"offset follows --offset-reset, as in a scaler.\n\n"
		"The groups are named with --group (repeatable), or --all-groups for every "
		"consumer group of the cluster; or they are those of the scalers of a "
		"configuration file, read with its clusters and credentials. Without --topic, "
		"the lag is over every topic the group has committed offsets for. A group that "
		"does not exist is an error, as in kafka-consumer-groups.",
	.flags = (const struct ls_cmdutil_flag[]){
		{"bootstrap-servers", 'b', F_BOOTSTRAP, "HOST:PORT,...", NULL,
		 "The Kafka cluster to read (instead of --config)."},
		{"group", 'g', F_GROUP, "GROUP", NULL,
		 "A consumer group to read. Repeat it for several groups, read in one round."},
		{"all-groups", 0, F_ALL_GROUPS, NULL, "off",
		 "Read every consumer group of the cluster (as kafka-consumer-groups --list "
		 "shows them); with --topic, those that committed offsets for one of the "
		 "topics."},
		{"topic", 't', F_TOPIC, "TOPIC", "every topic the group has committed offsets for",
		 "Only this topic; repeatable."},
		{NULL, 'X', F_PROP, "KEY=VALUE", NULL,
		 "A librdkafka property for the client (security.protocol, sasl.mechanism, "
		 "sasl.username, ssl.ca.location, ...); repeatable. Values are never printed."},
		{"config", 0, F_CONFIG, "FILE", NULL,
		 "Read the groups of the scalers in this configuration (a file or a directory), "
		 "with its clusters' settings, instead of --bootstrap-servers and --group."},
		{"scaler", 0, F_SCALER, "NAME", "every scaler", "With --config: only this scaler."},
		{"output", 'o', F_OUTPUT, "table|json", "table",
		 "A table for people, or JSON Lines: one object per group."},
		{"offset-reset", 0, F_RESET, "latest|earliest", "latest",
		 "The lag of a partition without a committed offset: 1 (latest), or the whole "
		 "log (earliest)."},
		{"isolation-level", 0, F_ISOLATION, "read_uncommitted|read_committed",
		 "read_uncommitted",
		 "read_committed measures the lag to the last stable offset (transactions)."},
		{"timeout", 0, F_TIMEOUT, "DURATION", "10s",
		 "How long the round may take (\"500ms\", \"30s\", \"1m\")."},
		{0},
	},
	.examples = "# One group, every topic it consumes\n"
		    "lagscale lag --bootstrap-servers localhost:9092 --group order-processor\n"
		    "\n"
		    "# Two groups on one topic, as JSON Lines\n"
		    "lagscale lag -b localhost:9092 -g billing -g audit --topic orders -o json\n"
		    "\n"
		    "# Every group of a cluster that needs SASL\n"
		    "lagscale lag -b kafka:9093 --all-groups -X security.protocol=SASL_SSL \\\n"
		    "    -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=ops -X sasl.password=...\n"
		    "\n"
		    "# What the controller would read for one scaler\n"
		    "lagscale lag --config lagscale.yaml --scaler orders",
	.exit_codes = "0  every group was read\n"
		      "1  a runtime failure: a group that does not exist, a missing topic, a\n"
		      "   cluster that cannot be reached or refused the client\n"
		      "2  bad usage, an invalid configuration or librdkafka property",
	.run = lag_run,
};

/* Prints what was read; with the rest of the round already reported. */
static void print_results(const struct results *rs, enum output out)
{
	if (out == OUT_TABLE) {
		print_table(rs);
		return;
	}
	for (size_t i = 0; i < rs->n; i++)
		print_json(rs->v[i].group, &rs->v[i].snap);
}

/* The scalers of a config file, one round per cluster. */
static int lag_config(const char *config, const char *scaler, int64_t timeout_ms,
		      struct ls_config **ret_cfg, struct results *rs)
{
	const struct ls_config_scaler **sel = NULL;
	struct ls_kafka_query *qs = NULL;
	struct ls_lag_snapshot *snaps = NULL;
	struct ls_config *cfg = NULL;
	struct ls_diag diag;
	int rc = LS_EXIT_USAGE, r;

	ls_diag_init(&diag);
	r = ls_config_load(config, &cfg, &diag);
	if (r < 0) {
		ls_cmdutil_print_diag(&diag, config, r);
		goto out;
	}
	*ret_cfg = cfg;
	if (scaler && !ls_config_find_scaler(cfg, scaler)) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "--scaler: no scaler named \"%s\" in %s", scaler,
				       config);
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
			fprintf(stderr, "lagscale lag: cluster \"%s\": %s\n", cfg->clusters[ci].name,
				err);
			rc = LS_EXIT_USAGE;
			continue;
		}
		ls_kafka_collect(k, qs, n, timeout_ms, snaps);
		for (size_t i = 0; i < n; i++) {
			if (snaps[i].err) {
				fprintf(stderr, "lagscale lag: scaler \"%s\": %s\n", sel[i]->name,
					ls_lag_snapshot_errmsg(&snaps[i]));
				if (rc == LS_EXIT_OK)
					rc = LS_EXIT_FAILURE;
			} else if (results_add(rs, sel[i]->kafka.group, &snaps[i]) < 0) {
				rc = LS_EXIT_FAILURE;
			}
			ls_lag_snapshot_release(&snaps[i]);
		}
		ls_kafka_free(k);
	}
out:
	free(sel);
	free(qs);
	free(snaps);
	ls_diag_release(&diag);
	return rc;
}

/* A partition of the snapshot has a committed offset. */
static bool any_commit(const struct ls_lag_snapshot *s)
{
	for (size_t t = 0; t < s->n_topics; t++)
		for (size_t i = 0; i < s->topics[t].n_parts; i++)
			if (s->topics[t].parts[i].committed >= 0)
				return true;
	return false;
}

/*
 * The groups named by flags (or every group of the cluster), in one round.
 * Of every group, those with topics given are shown only if they consume
 * one of them: a group of another team is not a lag of 1 per partition.
 */
static int lag_flags(struct ls_kafka *k, const char *const *groups, size_t n_groups,
		     bool all_groups, const struct ls_kafka_query *tmpl, int64_t timeout_ms,
		     struct results *rs)
{
	struct ls_kafka_query *qs = NULL;
	struct ls_lag_snapshot *snaps = NULL;
	int rc = LS_EXIT_FAILURE;

	qs = calloc(n_groups + 1, sizeof(*qs));
	snaps = calloc(n_groups + 1, sizeof(*snaps));
	if (!qs || !snaps)
		goto out;
	for (size_t i = 0; i < n_groups; i++) {
		qs[i] = *tmpl;
		qs[i].group = groups[i];
	}
	rc = LS_EXIT_OK;
	if (n_groups)
		ls_kafka_collect(k, qs, n_groups, timeout_ms, snaps);
	for (size_t i = 0; i < n_groups; i++) {
		if (snaps[i].err == -ESRCH) {
			/* A listed group deleted since is gone: not an error. */
			if (!all_groups) {
				fprintf(stderr, "lagscale lag: %s\n", ls_lag_snapshot_errmsg(&snaps[i]));
				rc = LS_EXIT_FAILURE;
			}
		} else if (snaps[i].err) {
			fprintf(stderr, "lagscale lag: group \"%s\": %s\n", groups[i],
				ls_lag_snapshot_errmsg(&snaps[i]));
			rc = LS_EXIT_FAILURE;
		} else if (all_groups && tmpl->n_topics && !any_commit(&snaps[i])) {
			/* Not a consumer of these topics. */
		} else if (results_add(rs, groups[i], &snaps[i]) < 0) {
			rc = LS_EXIT_FAILURE;
		}
		ls_lag_snapshot_release(&snaps[i]);
	}
out:
	free(qs);
	free(snaps);
	return rc;
}

static bool listed(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int lag_run(int argc, char **argv)
{
	const char *bootstrap = NULL, *config = NULL, *scaler = NULL, *v;
	const char *groups[MAX_LIST];
	const char *topics[MAX_LIST];
	struct ls_kafka_prop props[MAX_LIST];
	char *prop_storage[MAX_LIST];
	char **all = NULL;
	size_t n_groups = 0, n_topics = 0, n_props = 0, n_all = 0;
	bool all_groups = false;
	enum output out = OUT_TABLE;
	enum ls_offset_reset reset = LS_RESET_LATEST;
	enum ls_isolation iso = LS_ISOLATION_READ_UNCOMMITTED;
	int64_t timeout_ms = 10000;
	struct ls_config *cfg = NULL;
	struct ls_kafka *k = NULL;
	struct ls_cmdutil_args args;
	struct results rs = {0};
	int rc = LS_EXIT_USAGE, c;

	ls_cmdutil_args_init(&args, &ls_cmd_lag, argc, argv);
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END) {
		switch (c) {
		case LS_CMDUTIL_HELP:
			rc = LS_EXIT_OK;
			goto out;
		case LS_CMDUTIL_BAD:
			goto out;
		case F_BOOTSTRAP:
			bootstrap = v;
			break;
		case F_GROUP:
			if (n_groups == MAX_LIST) {
				ls_cmdutil_usage_error(&ls_cmd_lag, "--group: more than %d groups",
						       MAX_LIST);
				goto out;
			}
			if (!listed(groups, n_groups, v))
				groups[n_groups++] = v;
			break;
		case F_ALL_GROUPS:
			all_groups = true;
			break;
		case F_TOPIC:
			if (n_topics == MAX_LIST) {
				ls_cmdutil_usage_error(&ls_cmd_lag, "--topic: more than %d topics",
						       MAX_LIST);
				goto out;
			}
			if (!listed(topics, n_topics, v))
				topics[n_topics++] = v;
			break;
		case F_PROP: {
			char *eq = strchr(v, '=');

			if (!eq || eq == v) {
				ls_cmdutil_usage_error(&ls_cmd_lag,
						       "-X: expected key=value, got \"%s\"",
						       ls_log_key_is_secret(v) ? "[redacted]" : v);
				goto out;
			}
			if (n_props == MAX_LIST) {
				ls_cmdutil_usage_error(&ls_cmd_lag, "-X: more than %d properties",
						       MAX_LIST);
				goto out;
			}
			prop_storage[n_props] = strndup(v, (size_t)(eq - v));
			if (!prop_storage[n_props]) {
				rc = LS_EXIT_FAILURE;
				goto out;
			}
			props[n_props].key = prop_storage[n_props];
			props[n_props].value = eq + 1;
			n_props++;
			break;
		}
		case F_CONFIG:
			config = v;
			break;
		case F_SCALER:
			scaler = v;
			break;
		case F_OUTPUT:
			if (strcmp(v, "table") == 0) {
				out = OUT_TABLE;
			} else if (strcmp(v, "json") == 0) {
				out = OUT_JSON;
			} else {
				ls_cmdutil_usage_error(&ls_cmd_lag,
						       "--output: \"%s\" is not table or json", v);
				goto out;
			}
			break;
		case F_RESET:
			if (ls_cmdutil_parse_reset(v, &reset) < 0) {
				ls_cmdutil_usage_error(&ls_cmd_lag,
						       "--offset-reset: \"%s\" is not latest or "
						       "earliest",
						       v);
				goto out;
			}
			break;
		case F_ISOLATION:
			if (ls_cmdutil_parse_isolation(v, &iso) < 0) {
				ls_cmdutil_usage_error(&ls_cmd_lag,
						       "--isolation-level: \"%s\" is not "
						       "read_uncommitted or read_committed",
						       v);
				goto out;
			}
			break;
		case F_TIMEOUT:
			if (ls_parse_duration_ms(v, &timeout_ms) < 0 || timeout_ms <= 0) {
				ls_cmdutil_usage_error(&ls_cmd_lag,
						       "--timeout: \"%s\" is not a duration", v);
				goto out;
			}
			break;
		}
	}
	if (optind < argc) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (config && (bootstrap || n_groups || all_groups || n_topics || n_props)) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "--config cannot be combined with "
						    "--bootstrap-servers, --group, --all-groups, "
						    "--topic or -X");
		goto out;
	}
	if (config) {
		rc = lag_config(config, scaler, timeout_ms, &cfg, &rs);
		print_results(&rs, out);
		goto out;
	}
	if (scaler) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "--scaler needs --config");
		goto out;
	}
	if (all_groups && n_groups) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "--all-groups and --group cannot be combined");
		goto out;
	}
	if (!bootstrap || (!n_groups && !all_groups)) {
		ls_cmdutil_usage_error(&ls_cmd_lag, "%s (or use --config)",
				       !bootstrap ? "--bootstrap-servers is required"
						  : "--group or --all-groups is required");
		goto out;
	}
	{
		struct ls_kafka_query tmpl = {
			.topics = topics,
			.n_topics = n_topics,
			.reset = reset,
			.isolation = iso,
		};
		char err[512];
		int r;

		if (ls_kafka_new("command line", bootstrap, props, n_props, &k, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "lagscale lag: -X %s\n", err);
			goto out;
		}
		if (all_groups) {
			r = ls_kafka_list_groups(k, timeout_ms, &all, &n_all, err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "lagscale lag: --all-groups: Kafka cluster at %s: %s\n",
					bootstrap, err);
				rc = LS_EXIT_FAILURE;
				goto out;
			}
		}
		rc = lag_flags(k, all_groups ? (const char *const *)all : groups,
			       all_groups ? n_all : n_groups, all_groups, &tmpl, timeout_ms, &rs);
		print_results(&rs, out);
	}
out:
	for (size_t i = 0; i < n_props; i++)
		free(prop_storage[i]);
	results_release(&rs);
	ls_kafka_groups_free(all);
	ls_kafka_free(k);
	ls_config_free(cfg);
	return rc;
}
