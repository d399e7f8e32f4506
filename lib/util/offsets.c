/* offsets.c - see offsets.h. */
#include "util/offsets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ls_offsets_partition_lag(const struct ls_partition_offsets *p, enum ls_offset_reset reset,
				 bool zero_on_invalid)
{
	int64_t lag;

	if (p->end < 0)
		return 0;
	if (p->committed < 0) {
		if (zero_on_invalid)
			return 0;
		if (reset == LS_RESET_LATEST)
			return 1;
		lag = p->end - (p->log_start >= 0 ? p->log_start : 0);
		return lag > 0 ? lag : 0;
	}
	/* A committed offset past the end (LSO under read_committed, or a
	 * truncated log) is no lag, not negative lag. */
	lag = p->end - p->committed;
	return lag > 0 ? lag : 0;
}

void ls_lag_snapshot_compute(struct ls_lag_snapshot *s, enum ls_offset_reset reset)
{
	int64_t total = 0;
	int32_t count = 0;

	for (size_t t = 0; t < s->n_topics; t++) {
		struct ls_topic_offsets *to = &s->topics[t];

		for (size_t i = 0; i < to->n_parts; i++) {
			to->parts[i].lag = ls_offsets_partition_lag(&to->parts[i], reset, false);
			total += to->parts[i].lag;
			count++;
		}
	}
	s->total_lag = total;
	s->partition_count = count;
}

void ls_lag_snapshot_rates_from(struct ls_lag_snapshot *cur, int64_t prev_time_ms,
				ls_lag_prev_lookup lookup, const void *ctx)
{
	int64_t produced = 0, consumed = 0;
	double dt;

	cur->produce_rate = -1;
	cur->consume_rate = -1;
	if (cur->err || prev_time_ms >= cur->time_ms)
		return;
	dt = (double)(cur->time_ms - prev_time_ms) / 1000.0;
	for (size_t t = 0; t < cur->n_topics; t++) {
		const struct ls_topic_offsets *to = &cur->topics[t];

		for (size_t i = 0; i < to->n_parts; i++) {
			const struct ls_partition_offsets *c = &to->parts[i];
			int64_t end, committed;

			if (!lookup(ctx, to->topic, c->partition, &end, &committed))
				continue;
			produced += ls_offsets_advance(end, c->end);
			consumed += ls_offsets_advance(committed, c->committed);
		}
	}
	cur->produce_rate = (double)produced / dt;
	cur->consume_rate = (double)consumed / dt;
}

static bool snapshot_lookup(const void *ctx, const char *topic, int32_t partition, int64_t *end,
			    int64_t *committed)
{
	const struct ls_partition_offsets *p = ls_lag_snapshot_find(ctx, topic, partition);

	if (!p)
		return false;
	*end = p->end;
	*committed = p->committed;
	return true;
}

void ls_lag_snapshot_rates(const struct ls_lag_snapshot *prev, struct ls_lag_snapshot *cur)
{
	if (!prev || prev->err) {
		cur->produce_rate = -1;
		cur->consume_rate = -1;
		return;
	}
	ls_lag_snapshot_rates_from(cur, prev->time_ms, snapshot_lookup, prev);
}

static int cmp_topic(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ls_topic_offsets *)elem)->topic);
}

static int cmp_part(const void *key, const void *elem)
{
	int32_t k = *(const int32_t *)key, p = ((const struct ls_partition_offsets *)elem)->partition;

	return (k > p) - (k < p);
}

const struct ls_partition_offsets *ls_lag_snapshot_find(const struct ls_lag_snapshot *s,
							const char *topic, int32_t partition)
{
	const struct ls_topic_offsets *t;

	if (!s->n_topics)
		return NULL;
	t = bsearch(topic, s->topics, s->n_topics, sizeof(*s->topics), cmp_topic);
	if (!t || !t->n_parts)
		return NULL;
	return bsearch(&partition, t->parts, t->n_parts, sizeof(*t->parts), cmp_part);
}

static char *strdup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

void ls_lag_snapshot_fail(struct ls_lag_snapshot *s, int err, const char *fmt, ...)
{
	char msg[LS_LAG_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(s->errmsg);
	s->errmsg = strdup(msg);
	s->err = err;
}

const char *ls_lag_snapshot_errmsg(const struct ls_lag_snapshot *s)
{
	if (!s->err)
		return "";
	return s->errmsg ? s->errmsg : strerror(-s->err);
}

int ls_lag_snapshot_copy(const struct ls_lag_snapshot *src, struct ls_lag_snapshot *ret)
{
	struct ls_lag_snapshot c = *src;

	c.topics = NULL;
	c.n_topics = 0;
	c.group.members = NULL;
	c.group.n_members = 0;
	c.errmsg = NULL;
	if (src->errmsg) {
		c.errmsg = strdup(src->errmsg);
		if (!c.errmsg)
			return -ENOMEM;
	}
	if (src->group.n_members) {
		c.group.members = calloc(src->group.n_members, sizeof(*c.group.members));
		if (!c.group.members) {
			ls_lag_snapshot_release(&c);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < src->group.n_members; i++) {
		const struct ls_group_member *m = &src->group.members[i];
		struct ls_group_member *d = &c.group.members[i];

		c.group.n_members++;
		d->member_id = strdup_or_empty(m->member_id);
		d->client_id = strdup_or_empty(m->client_id);
		d->host = strdup_or_empty(m->host);
		if (!d->member_id || !d->client_id || !d->host) {
			ls_lag_snapshot_release(&c);
			return -ENOMEM;
		}
	}
	if (src->n_topics) {
		c.topics = calloc(src->n_topics, sizeof(*c.topics));
		if (!c.topics) {
			ls_lag_snapshot_release(&c);
			return -ENOMEM;
		}
	}
	for (size_t t = 0; t < src->n_topics; t++) {
		struct ls_topic_offsets *d = &c.topics[t];

		c.n_topics++;
		d->topic = strdup(src->topics[t].topic);
		if (src->topics[t].n_parts)
			d->parts = malloc(src->topics[t].n_parts * sizeof(*d->parts));
		if (!d->topic || (src->topics[t].n_parts && !d->parts)) {
			ls_lag_snapshot_release(&c);
			return -ENOMEM;
		}
		if (src->topics[t].n_parts)
			memcpy(d->parts, src->topics[t].parts,
			       src->topics[t].n_parts * sizeof(*d->parts));
		d->n_parts = src->topics[t].n_parts;
	}
	*ret = c;
	return 0;
}

void ls_group_info_release(struct ls_group_info *g)
{
	for (size_t i = 0; i < g->n_members; i++) {
		free(g->members[i].member_id);
		free(g->members[i].client_id);
		free(g->members[i].host);
	}
	free(g->members);
	memset(g, 0, sizeof(*g));
}

void ls_lag_snapshot_release(struct ls_lag_snapshot *s)
{
	for (size_t t = 0; t < s->n_topics; t++) {
		free(s->topics[t].topic);
		free(s->topics[t].parts);
	}
	free(s->topics);
	ls_group_info_release(&s->group);
	free(s->errmsg);
	memset(s, 0, sizeof(*s));
}
