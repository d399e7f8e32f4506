/* series.c - see series.h. */
#include "sim/series.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/buf.h"

void ls_series_init(struct ls_series *s)
{
	memset(s, 0, sizeof(*s));
}

void ls_series_release(struct ls_series *s)
{
	free(s->pts);
	ls_series_init(s);
}

int ls_series_append(struct ls_series *s, const struct ls_series_point *p)
{
	if (s->n == s->alloc) {
		size_t n = s->alloc ? s->alloc * 2 : 1024;
		struct ls_series_point *q = realloc(s->pts, n * sizeof(*q));

		if (!q)
			return -ENOMEM;
		s->pts = q;
		s->alloc = n;
	}
	s->pts[s->n++] = *p;
	return 0;
}

int ls_series_csv(const struct ls_series *s, struct ls_buf *out)
{
	int r = ls_buf_puts(out, "time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,"
				 "desiredReplicas,action\n");

	for (size_t i = 0; r == 0 && i < s->n; i++) {
		const struct ls_series_point *p = &s->pts[i];

		r = ls_buf_printf(out, "%g,%.3f,%.3f,%lld,%.3f,%d,%d,%s\n", p->t_s, p->produce_rate,
				  p->consume_rate, (long long)p->lag, p->lag_seconds,
				  p->current_replicas, p->desired_replicas,
				  p->action == LS_SERIES_NO_ACTION
					  ? ""
					  : ls_policy_action_name((enum ls_action)p->action));
	}
	return r;
}

int ls_sim_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = NULL;
	int r = 0;

	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return -EIO;
		return 0;
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int ls_series_write_csv(const struct ls_series *s, const char *path)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_series_csv(s, &b);
	if (r == 0)
		r = ls_sim_write_file(path, ls_buf_str(&b), b.len);
	ls_buf_release(&b);
	return r;
}

static int parse_action(const char *name, int *ret)
{
	if (!*name) {
		*ret = LS_SERIES_NO_ACTION;
		return 0;
	}
	for (int a = LS_ACTION_NONE; a <= LS_ACTION_ERROR; a++) {
		if (strcmp(name, ls_policy_action_name((enum ls_action)a)) == 0) {
			*ret = a;
			return 0;
		}
	}
	return -EINVAL;
}

int ls_series_read_csv(const char *path, struct ls_series *s, char *errbuf, size_t errlen)
{
	struct ls_buf b;
	char *line, *next;
	int r, lineno = 0;

	ls_buf_init(&b, 64 << 20);
	r = ls_buf_read_file(&b, path);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, ls_buf_read_strerror(r));
		goto out;
	}
	for (line = b.data; line && *line; line = next) {
		struct ls_series_point p;
		long long lag;
		char action[32] = "";
		int n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (++lineno == 1 || !*line)
			continue; /* the header */
		n = sscanf(line, "%lf,%lf,%lf,%lld,%lf,%d,%d,%31s", &p.t_s, &p.produce_rate,
			   &p.consume_rate, &lag, &p.lag_seconds, &p.current_replicas,
			   &p.desired_replicas, action);
		if (n < 7 || parse_action(action, &p.action) < 0) {
			snprintf(errbuf, errlen, "%s:%d: not a series line", path, lineno);
			r = -EINVAL;
			goto out;
		}
		p.lag = lag;
		r = ls_series_append(s, &p);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	ls_buf_release(&b);
	return r;
}
